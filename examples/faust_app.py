"""A Faust app that logs in to Kafka with OAUTHBEARER tokens from oauthbearer.

Faust (faust-streaming) runs on aiokafka, and takes aiokafka's token provider as
the ``oauth_cb`` of its ``OAuthCredentials``: ``aiokafka_token_provider`` (from
``oauthbearer.integrations.aiokafka``) serves it as it is. Every connection
Faust opens (its producer's, its consumer's, the group coordinator's) logs in
with the provider's current token, which the provider keeps fresh on Kafka's
refresh schedule. aiokafka does not re-authenticate (KIP-368): where the broker
sets ``connections.max.reauth.ms``, it closes each connection when its session
ends, and aiokafka connects and logs in again, with the token of the moment,
retrying what was in flight.

:class:`RecordsApp` is a Faust app with one agent, which collects the keys of
one topic. Run it against a broker with an OAUTHBEARER listener, given a Kafka
client properties file (an unsecured login, or ``OAuthBearerLoginCallbackHandler``
with client credentials)::

    python examples/faust_app.py --bootstrap 127.0.0.1:9092 \\
        --properties client.properties --topic demo --records 1000

It starts the app (its topic is created with one partition), sends
``--records`` records (keys ``0`` .. ``N-1``) to the topic, waits until the
agent has seen each of them, stops, and prints what it did. In a project of
your own, keep ``app`` at module level and run it with ``faust -A module worker``
as usual; the token provider is made the same way.

With no arguments it uses the broker of ``OAUTHBEARER_BOOTSTRAP``, Kafka's
unsecured login (principal ``alice``) and a topic of its own; without a broker it
says so and exits 2.

Needs: kafka_broker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Final

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # faust-streaming's own
    import faust
    from faust.auth import OAuthCredentials

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable, Mapping, Sequence

#: The bound on the wait for the agent to see every record.
TIMEOUT_S: Final = 120.0


class RecordsApp:
    """A Faust app whose agent collects the keys of ``topic`` into :attr:`keys`.

    ``oauth_cb`` is aiokafka's token provider (``aiokafka_token_provider(...)``);
    ``ssl_context`` makes the connections SASL_SSL (without it, SASL_PLAINTEXT).
    The app keeps nothing on disk but ``datadir``, serves no web page, and
    creates ``topic`` with one partition when it starts.
    """

    def __init__(
        self,
        bootstrap: str,
        oauth_cb: Any,
        *,
        app_id: str,
        topic: str,
        datadir: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = faust.App(
            app_id,
            broker=f"kafka://{bootstrap}",
            broker_credentials=OAuthCredentials(oauth_cb=oauth_cb, ssl_context=ssl_context),
            datadir=datadir,
            store="memory://",
            web_enabled=False,
            topic_replication_factor=1,
        )
        # internal=True: Faust creates the topic as it starts, before its
        # consumer subscribes (a topic created later is not assigned).
        self.topic = self.app.topic(
            topic,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=1,
            replicas=1,
            internal=True,
        )
        self.keys: list[bytes] = []

        async def collect(stream: Any) -> None:
            async for event in stream.events():
                self.keys.append(event.key)

        self.app.agent(self.topic, name=f"{app_id}.collect")(collect)

    async def __aenter__(self) -> RecordsApp:
        await self.app.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.stop()

    async def send(self, keys: Iterable[bytes]) -> None:
        """Send a record (value ``x``) per key, and wait until the broker has them."""
        for key in keys:
            await self.topic.send(key=key, value=b"x")
        await self.app.producer.flush()

    async def until_seen(self, count: int, timeout_s: float = TIMEOUT_S) -> int:
        """Wait until the agent has seen ``count`` records (or ``timeout_s``);
        returns how many it has seen."""
        deadline = time.monotonic() + timeout_s
        while len(self.keys) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return len(self.keys)


def oauth_callback(
    properties: Mapping[str, str], *, allow_insecure_loopback: bool
) -> tuple[Any, Any]:
    """The ``oauth_cb`` for a Kafka client's properties, and the provider to close."""
    from oauthbearer.config import ClientCredentialsConfig, client_login
    from oauthbearer.integrations.aiokafka import aiokafka_token_provider
    from oauthbearer.login import AsyncTokenProvider
    from oauthbearer.login.sources import client_credentials_fetch
    from oauthbearer.unsecured import UnsecuredLogin

    login = client_login(
        properties, now=time.time(), allow_insecure_loopback=allow_insecure_loopback
    )
    if isinstance(login, ClientCredentialsConfig):
        fetch = client_credentials_fetch(login, allow_insecure_loopback=allow_insecure_loopback)
        provider = AsyncTokenProvider(fetch, refresh=login.refresh)
        return aiokafka_token_provider(provider, extensions=login.extensions), provider
    if isinstance(login, UnsecuredLogin):  # one token, built now
        token = login.token
        return aiokafka_token_provider(lambda: token, extensions=login.extensions), None
    raise SystemExit("this example logs in with client credentials or an unsecured token")


#: The login without ``--properties``: Kafka's unsecured tokens, for principal alice.
UNSECURED_LOGIN: Final = {
    "sasl.mechanism": "OAUTHBEARER",
    "sasl.jaas.config": (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        'unsecuredLoginStringClaim_sub="alice";'
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    import tempfile

    from oauthbearer.config import load_properties

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("OAUTHBEARER_BOOTSTRAP"),
        help="the broker, host:port (default: $OAUTHBEARER_BOOTSTRAP)",
    )
    parser.add_argument(
        "--properties", help="a Kafka client properties file (default: an unsecured login)"
    )
    parser.add_argument("--topic", default=f"example-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument(
        "--allow-insecure-loopback",
        action="store_true",
        help="allow http:// identity provider URLs on loopback (tests)",
    )
    args = parser.parse_args(argv)
    if not args.bootstrap:
        print("needs a broker: --bootstrap HOST:PORT, or OAUTHBEARER_BOOTSTRAP", file=sys.stderr)
        return 2
    properties = UNSECURED_LOGIN if args.properties is None else load_properties(args.properties)
    oauth_cb, provider = oauth_callback(
        properties, allow_insecure_loopback=args.allow_insecure_loopback
    )
    keys = [str(i).encode() for i in range(args.records)]

    async def run(datadir: str) -> int:
        try:
            async with RecordsApp(
                args.bootstrap,
                oauth_cb,
                app_id=f"{args.topic}-app",
                topic=args.topic,
                datadir=datadir,
            ) as records:
                await records.send(keys)
                await records.until_seen(len(keys))
                return len(set(records.keys) & set(keys))
        finally:
            if provider is not None:
                await provider.aclose()

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faust-app-") as datadir:
        seen = asyncio.run(run(datadir))
    print(
        f"sent {len(keys)} records to {args.topic!r}; the agent saw {seen} of them "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0 if seen == len(keys) else 1


if __name__ == "__main__":
    sys.exit(main())
