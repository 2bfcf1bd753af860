"""A small Kafka client around ``KafkaClientConnection``: produce and consume with OAUTHBEARER.

oauthbearer's :class:`~oauthbearer.kafka.KafkaClientConnection` is one broker
connection through SASL OAUTHBEARER authentication, without I/O: ApiVersions,
SaslHandshake, SaslAuthenticate, KIP-368 re-authentication, then the
application's requests, which the library's codec encodes and decodes
(Metadata, Produce, Fetch, and the record batches inside them). This file is the
rest of a minimal client, twice: :class:`SmallClient` on a blocking socket and
:class:`AsyncSmallClient` on asyncio streams. What they share, the protocol
decisions, is :class:`ClientCore`, which does no I/O either.

The client speaks to one broker over one connection, one request at a time, to
partition 0 of a topic whose leader that broker is (a single-node cluster, or
the leader's address). It names topics as the broker's versions do (by id from
Produce and Fetch v13), produces batches with ``acks=-1``, fetches from any
offset, and re-authenticates at 85% of each session (Kafka's Java client picks
85-95%) before the next request; call it at least that often. What it is not:
a producer with retries and idempotence, a consumer group member, or a client
that follows leaders; a broken connection raises.

Run it against a broker with an OAUTHBEARER listener, given a Kafka client
properties file (an unsecured login, or ``OAuthBearerLoginCallbackHandler``
with client credentials, a token file or the jwt-bearer grant)::

    python examples/kafka_small_client.py --bootstrap 127.0.0.1:9092 \\
        --properties client.properties --topic demo --records 1000 [--asyncio]

It produces ``--records`` records (keys ``0`` .. ``N-1``) in batches, consumes them
back from the first offset that it produced to, and prints what it did.

With no arguments it uses the broker of ``OAUTHBEARER_BOOTSTRAP``, Kafka's
unsecured login (principal ``alice``) and a topic of its own; without a broker it
says so and exits 2.

Needs: kafka_broker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
import time
import uuid
from typing import TYPE_CHECKING, Final, TypeVar

from oauthbearer.kafka import (
    NEED_DATA,
    ApiKey,
    ApplicationResponse,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    ErrorCode,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    KafkaClientConnection,
    MetadataRequest,
    MetadataResponse,
    ProducePartition,
    ProduceRequest,
    ProduceResponse,
    ProduceTopic,
    Record,
    RecordBatch,
    decode_record_batches,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from oauthbearer.kafka import ClientEvent, DecoderEvent, RequestMessage, ResponseMessage

T = TypeVar("T")

#: Re-authenticate (KIP-368) once this fraction of a session has passed.
REAUTHENTICATE_AT: Final = 0.85
#: The bound on every wait for the broker: a connection, an answer.
TIMEOUT_S: Final = 30.0
#: How long a Fetch may wait on the broker for records (``fetch.max.wait.ms``):
#: short, so that the client keeps to its re-authentication schedule.
FETCH_MAX_WAIT_MS: Final = 100
#: The most one Fetch returns of the partition (``max.partition.fetch.bytes``).
FETCH_MAX_BYTES: Final = 1_048_576
#: Errors after which the same request may be sent again: the broker did not
#: append the records (a topic just created has no leader yet).
RETRIABLE: Final = frozenset(
    {
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.LEADER_NOT_AVAILABLE,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.UNKNOWN_TOPIC_ID,
    }
)
#: How long to wait before such a retry, and how many retries a call makes.
RETRY_BACKOFF_S: Final = 0.1
MAX_RETRIES: Final = 100


class KafkaError(Exception):
    """The broker refused a request (``error_code``), or the connection failed."""

    def __init__(self, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class Retriable(KafkaError):
    """An error in :data:`RETRIABLE`: the same request may be sent again."""


@dataclasses.dataclass(frozen=True, slots=True)
class Topic:
    """A topic as the broker's Metadata named it: partition 0 is the one used."""

    name: str
    topic_id: uuid.UUID


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    """What one Fetch gave: records with their offsets, and where to fetch next."""

    records: tuple[tuple[int, Record], ...]
    next_offset: int
    high_watermark: int


# --- The protocol decisions (no I/O) ------------------------------------------------------


class ClientCore:
    """The client's decisions, without I/O: the connection, when to
    re-authenticate, which version of each API to send, and what the answers
    mean. The shells feed it the time and move its bytes.

    ``token`` returns the access token to send, each time it is called (a
    provider's ``lambda: provider.token().value``); ``extensions`` are the SASL
    extensions sent with it.
    """

    def __init__(
        self,
        token: Callable[[], str],
        *,
        client_id: str = "oauthbearer-small-client",
        extensions: Mapping[str, str] | None = None,
    ) -> None:
        self._token = token
        self._extensions = extensions
        self.connection = KafkaClientConnection(token(), extensions=extensions, client_id=client_id)
        self._reauthenticate_at: float | None = None
        #: KIP-368 re-authentications that the broker granted.
        self.reauthentications = 0
        #: The broker's session lifetime, as it last reported it (ms).
        self.session_lifetime_ms = 0

    def start(self) -> None:
        self.connection.initiate()

    def due(self, now: float) -> bool:
        """Whether to re-authenticate before the next request."""
        return self._reauthenticate_at is not None and now >= self._reauthenticate_at

    def reauthenticate(self) -> None:
        self._reauthenticate_at = None
        self.connection.reauthenticate(self._token(), extensions=self._extensions)

    def send(self, api_key: ApiKey, build: Callable[[int], RequestMessage]) -> None:
        """Queue the request that ``build`` makes for the highest version both sides speak."""
        version = self.connection.usable_version(api_key)
        if version is None:
            raise KafkaError(f"the broker does not speak a version of {api_key.name} we speak")
        self.connection.send_request(api_key, version, build(version))

    def settle(
        self, event: ClientEvent | DecoderEvent, now: float
    ) -> ClientAuthenticated | ResponseMessage:
        """What an event from the connection means (not NEED_DATA): an
        authentication, whose session is then scheduled for renewal, or an answer."""
        if isinstance(event, ClientAuthenticated):
            self.session_lifetime_ms = event.session_lifetime_ms
            self.reauthentications += event.reauthentication
            if event.session_lifetime_ms > 0:
                lifetime_s = event.session_lifetime_ms / 1000
                self._reauthenticate_at = now + lifetime_s * REAUTHENTICATE_AT
            return event
        if isinstance(event, ApplicationResponse):
            return event.message
        if isinstance(event, ClientAuthenticationFailed):
            raise KafkaError(f"authentication failed ({event.reason}): {event.message}")
        raise KafkaError("the broker closed the connection")


def metadata_request(name: str) -> Callable[[int], RequestMessage]:
    return lambda version: MetadataRequest(topics=(name,))


def topic_from(answer: ResponseMessage, name: str) -> Topic:
    """The topic's id, once the broker has a leader for its partition 0."""
    assert isinstance(answer, MetadataResponse)
    for topic in answer.topics:
        if topic.name == name:
            _check(topic.error_code, f"Metadata for {name!r}")
            leaders = [p.leader_id for p in topic.partitions if p.partition_index == 0]
            if not leaders or leaders[0] < 0:
                raise Retriable(f"{name!r} has no leader yet", ErrorCode.LEADER_NOT_AVAILABLE)
            return Topic(name, topic.topic_id)
    raise Retriable(f"the broker did not answer about {name!r}")


def produce_request(
    topic: Topic, records: Iterable[tuple[bytes | None, bytes | None]], *, timestamp_ms: int
) -> Callable[[int], RequestMessage]:
    """One batch of ``records`` (key, value) for partition 0, all stamped ``timestamp_ms``."""
    batch = RecordBatch.of(
        [Record(key=key, value=value) for key, value in records], timestamp_ms=timestamp_ms
    ).encode()

    def build(version: int) -> RequestMessage:
        data = (ProducePartition(index=0, records=batch),)
        return ProduceRequest(acks=-1, topic_data=(_produce_topic(topic, version, data),))

    return build


def base_offset_from(answer: ResponseMessage) -> int:
    """The offset of the batch's first record."""
    assert isinstance(answer, ProduceResponse)
    (partition,) = answer.responses[0].partition_responses
    _check(partition.error_code, f"Produce: {partition.error_message or ''}")
    return partition.base_offset


def fetch_request(topic: Topic, offset: int) -> Callable[[int], RequestMessage]:
    def build(version: int) -> RequestMessage:
        wanted = (
            FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=FETCH_MAX_BYTES),
        )
        return FetchRequest(
            max_wait_ms=FETCH_MAX_WAIT_MS,
            topics=(_fetch_topic(topic, version, wanted),),
        )

    return build


def fetched_from(answer: ResponseMessage, offset: int) -> Fetched:
    """The records at ``offset`` and after (a batch may begin before it), without
    transaction markers, and the next offset to fetch."""
    assert isinstance(answer, FetchResponse)
    _check(answer.error_code, "Fetch")
    (partition,) = answer.responses[0].partitions
    _check(partition.error_code, "Fetch")
    found: list[tuple[int, Record]] = []
    next_offset = offset
    for batch in decode_record_batches(partition.records or b"", allow_partial=True):
        if not batch.is_control:
            found += [(o, record) for o, record in batch.with_offsets() if o >= offset]
        next_offset = max(next_offset, batch.next_offset)
    return Fetched(tuple(found), next_offset, partition.high_watermark)


def _produce_topic(topic: Topic, version: int, data: tuple[ProducePartition, ...]) -> ProduceTopic:
    """The topic by name before Produce v13, by id from it."""
    if version >= 13:
        return ProduceTopic(topic_id=topic.topic_id, partition_data=data)
    return ProduceTopic(name=topic.name, partition_data=data)


def _fetch_topic(topic: Topic, version: int, wanted: tuple[FetchPartition, ...]) -> FetchTopic:
    """The topic by name before Fetch v13, by id from it."""
    if version >= 13:
        return FetchTopic(topic_id=topic.topic_id, partitions=wanted)
    return FetchTopic(topic=topic.name, partitions=wanted)


def _check(error_code: int, what: str) -> None:
    if error_code == ErrorCode.NONE:
        return
    kind = Retriable if error_code in RETRIABLE else KafkaError
    raise kind(f"{what} failed with error code {error_code}", error_code)


# --- On a blocking socket -----------------------------------------------------------------


class SmallClient:
    """The client on a blocking socket. ``bootstrap`` is ``host:port``."""

    def __init__(
        self,
        bootstrap: str,
        token: Callable[[], str],
        *,
        client_id: str = "oauthbearer-small-client",
        extensions: Mapping[str, str] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.core = ClientCore(token, client_id=client_id, extensions=extensions)
        self._sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        try:
            self.core.start()
            self._until_authenticated()
        except BaseException:
            self._sock.close()
            raise

    def __enter__(self) -> SmallClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def call(self, api_key: ApiKey, build: Callable[[int], RequestMessage]) -> ResponseMessage:
        """One request and its answer, re-authenticating first when it is due."""
        if self.core.due(time.time()):
            self.core.reauthenticate()
            self._until_authenticated()
        self.core.send(api_key, build)
        answer = self._next()
        assert not isinstance(answer, ClientAuthenticated)
        return answer

    def topic(self, name: str) -> Topic:
        """``name``, created if the broker creates topics on first mention."""
        return self._retrying(
            lambda: topic_from(self.call(ApiKey.METADATA, metadata_request(name)), name)
        )

    def produce(self, topic: Topic, records: Sequence[tuple[bytes | None, bytes | None]]) -> int:
        """Append ``records`` as one batch; returns the offset of the first."""
        build = produce_request(topic, records, timestamp_ms=int(time.time() * 1000))
        return self._retrying(lambda: base_offset_from(self.call(ApiKey.PRODUCE, build)))

    def fetch(self, topic: Topic, offset: int) -> Fetched:
        """The records from ``offset`` on that one Fetch returns (maybe none)."""
        return self._retrying(
            lambda: fetched_from(self.call(ApiKey.FETCH, fetch_request(topic, offset)), offset)
        )

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for _ in range(MAX_RETRIES):
            try:
                return attempt()
            except Retriable:
                time.sleep(RETRY_BACKOFF_S)
        return attempt()

    def _until_authenticated(self) -> None:
        event = self._next()
        assert isinstance(event, ClientAuthenticated), event

    def _next(self) -> ClientAuthenticated | ResponseMessage:
        connection = self.core.connection
        while True:
            event = connection.next_event()
            self._sock.sendall(connection.data_to_send())
            if event is not NEED_DATA:
                return self.core.settle(event, time.time())
            connection.receive_data(self._sock.recv(1 << 20))


# --- On asyncio streams -------------------------------------------------------------------


class AsyncSmallClient:
    """The client on asyncio streams: ``await AsyncSmallClient.connect(...)``."""

    def __init__(
        self,
        core: ClientCore,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout_s: float,
    ) -> None:
        self.core = core
        self._reader = reader
        self._writer = writer
        self._timeout_s = timeout_s

    @classmethod
    async def connect(
        cls,
        bootstrap: str,
        token: Callable[[], str],
        *,
        client_id: str = "oauthbearer-small-client",
        extensions: Mapping[str, str] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> AsyncSmallClient:
        host, port = bootstrap.rsplit(":", 1)
        core = ClientCore(token, client_id=client_id, extensions=extensions)
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, int(port))
        client = cls(core, reader, writer, timeout_s)
        try:
            core.start()
            await client._until_authenticated()
        except BaseException:
            await client.aclose()
            raise
        return client

    async def __aenter__(self) -> AsyncSmallClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):  # the broker closed it first
            await self._writer.wait_closed()

    async def call(
        self, api_key: ApiKey, build: Callable[[int], RequestMessage]
    ) -> ResponseMessage:
        if self.core.due(time.time()):
            self.core.reauthenticate()
            await self._until_authenticated()
        self.core.send(api_key, build)
        answer = await self._next()
        assert not isinstance(answer, ClientAuthenticated)
        return answer

    async def topic(self, name: str) -> Topic:
        build = metadata_request(name)
        return await self._retrying(
            lambda: self.call(ApiKey.METADATA, build), lambda answer: topic_from(answer, name)
        )

    async def produce(
        self, topic: Topic, records: Sequence[tuple[bytes | None, bytes | None]]
    ) -> int:
        build = produce_request(topic, records, timestamp_ms=int(time.time() * 1000))
        return await self._retrying(lambda: self.call(ApiKey.PRODUCE, build), base_offset_from)

    async def fetch(self, topic: Topic, offset: int) -> Fetched:
        build = fetch_request(topic, offset)
        return await self._retrying(
            lambda: self.call(ApiKey.FETCH, build), lambda answer: fetched_from(answer, offset)
        )

    async def _retrying(
        self,
        call: Callable[[], Awaitable[ResponseMessage]],
        read: Callable[[ResponseMessage], T],
    ) -> T:
        for _ in range(MAX_RETRIES):
            try:
                return read(await call())
            except Retriable:
                await asyncio.sleep(RETRY_BACKOFF_S)
        return read(await call())

    async def _until_authenticated(self) -> None:
        event = await self._next()
        assert isinstance(event, ClientAuthenticated), event

    async def _next(self) -> ClientAuthenticated | ResponseMessage:
        connection = self.core.connection
        async with asyncio.timeout(self._timeout_s):
            while True:
                event = connection.next_event()
                self._writer.write(connection.data_to_send())
                await self._writer.drain()
                if event is not NEED_DATA:
                    return self.core.settle(event, time.time())
                connection.receive_data(await self._reader.read(1 << 20))


# --- The command ----------------------------------------------------------------------------


def key(i: int) -> bytes:
    return str(i).encode()


def produce_and_consume(client: SmallClient, topic: str, count: int, *, batch: int = 100) -> int:
    """Produce ``count`` records (keys ``0`` .. ``count-1``) and consume them back;
    returns how many distinct keys came back."""
    found = client.topic(topic)
    first = None
    for start in range(0, count, batch):
        offset = client.produce(
            found, [(key(i), b"x") for i in range(start, min(count, start + batch))]
        )
        first = offset if first is None else first
    seen: set[bytes] = set()
    offset = first or 0
    deadline = time.monotonic() + TIMEOUT_S
    while len(seen) < count and time.monotonic() < deadline:
        fetched = client.fetch(found, offset)
        seen.update(r.key for _, r in fetched.records if r.key is not None)
        offset = fetched.next_offset
    return len(seen)


async def aproduce_and_consume(
    client: AsyncSmallClient, topic: str, count: int, *, batch: int = 100
) -> int:
    found = await client.topic(topic)
    first = None
    for start in range(0, count, batch):
        records = [(key(i), b"x") for i in range(start, min(count, start + batch))]
        offset = await client.produce(found, records)
        first = offset if first is None else first
    seen: set[bytes] = set()
    offset = first or 0
    deadline = time.monotonic() + TIMEOUT_S
    while len(seen) < count and time.monotonic() < deadline:
        fetched = await client.fetch(found, offset)
        seen.update(r.key for _, r in fetched.records if r.key is not None)
        offset = fetched.next_offset
    return len(seen)


def token_source(
    properties: Mapping[str, str], *, allow_insecure_loopback: bool
) -> tuple[Callable[[], str], Mapping[str, str], Callable[[], None]]:
    """The token source a Kafka client's properties describe, its extensions,
    and how to stop it."""
    from oauthbearer.config import (
        ClientCredentialsConfig,
        JwtBearerConfig,
        TokenFileConfig,
        client_login,
    )
    from oauthbearer.login import TokenProvider
    from oauthbearer.login.sources import (
        client_credentials_provider,
        jwt_bearer_provider,
        token_file_fetch,
    )

    login = client_login(
        properties, now=time.time(), allow_insecure_loopback=allow_insecure_loopback
    )
    if isinstance(login, ClientCredentialsConfig):
        provider = client_credentials_provider(
            login, allow_insecure_loopback=allow_insecure_loopback
        )
    elif isinstance(login, JwtBearerConfig):
        provider = jwt_bearer_provider(login, allow_insecure_loopback=allow_insecure_loopback)
    elif isinstance(login, TokenFileConfig):
        provider = TokenProvider(token_file_fetch(login), refresh=login.refresh)
    else:  # an unsecured login: one token, built now
        token = login.token.value
        return (lambda: token), login.extensions, lambda: None
    provider.start()
    return (lambda: provider.token().value), login.extensions, provider.close


#: The login without ``--properties``: Kafka's unsecured tokens, for principal alice.
UNSECURED_LOGIN: Final = {
    "sasl.mechanism": "OAUTHBEARER",
    "sasl.jaas.config": (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        'unsecuredLoginStringClaim_sub="alice";'
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
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
    parser.add_argument("--asyncio", action="store_true", help="use AsyncSmallClient")
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
    token, extensions, stop = token_source(
        properties, allow_insecure_loopback=args.allow_insecure_loopback
    )
    started = time.monotonic()
    try:
        if args.asyncio:

            async def run() -> tuple[int, int]:
                async with await AsyncSmallClient.connect(
                    args.bootstrap, token, extensions=extensions
                ) as client:
                    count = await aproduce_and_consume(client, args.topic, args.records)
                    return count, client.core.reauthentications

            consumed, reauthentications = asyncio.run(run())
        else:
            with SmallClient(args.bootstrap, token, extensions=extensions) as client:
                consumed = produce_and_consume(client, args.topic, args.records)
                reauthentications = client.core.reauthentications
    except (KafkaError, OSError, TimeoutError) as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    finally:
        stop()
    print(
        f"produced {args.records} records to {args.topic!r} and consumed {consumed} back "
        f"in {time.monotonic() - started:.1f} s ({reauthentications} re-authentications)"
    )
    return 0 if consumed == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
