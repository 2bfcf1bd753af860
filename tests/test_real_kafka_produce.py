"""Real work through the real Kafka broker: produce and consume with our tokens.

Every client below runs at the same time against the real broker's ``PRODUCE``
listener (tests/conftest.py: JWT validation against ``kafka_idp``'s JWKS, a
3 s ``connections.max.reauth.ms``, a 2 s JWKS refresh), each with its own
client-credentials client at the IdP and its own
:class:`~oauthbearer.login.TokenProvider` on Kafka's refresh settings:

* kafka-python, aiokafka, a Faust app (examples/faust_app.py, on aiokafka)
  and confluent-kafka, and our own
  :class:`~oauthbearer.kafka.KafkaClientConnection` as the authentication
  phase of the small client of examples/kafka_small_client.py (on a blocking
  socket and on asyncio), each produce :data:`RECORDS` records (keys
  ``0..N-1``), paced over the run, and consume them back. Our client speaks the
  newest Produce and Fetch both sides speak (on Kafka 4.4: Produce v13 and
  Fetch v18, topics by id) and re-authenticates (KIP-368) at 85 % of each
  session.

While they run (:data:`TIMELINE`), the IdP's tokens live :data:`TOKEN_LIFETIME_S`,
so every provider refreshes once; the IdP rotates its signing key; and the
token endpoint is down (HTTP 503) for a stretch that covers every provider's
refresh but ends before their tokens expire. The providers start one second
apart, so that no two clients' tokens share an expiry second, and each has
the ``sasl.login.refresh.window.factor`` that brings its refresh to the same
moment (jitter 0), inside the outage.

The broker logs every authentication at DEBUG (``SaslServerAuthenticator``):
"Authentication complete; ... credential expiration=<date> (<ms left>)",
then "Set SASL server state to COMPLETE during re-authentication" (or "during
authentication" for a new connection). A JWT's ``exp`` is whole seconds and
each client's tokens are recorded, so each line is attributed to its client
by that expiry, and dated by expiry minus the milliseconds left.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import re
import tempfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

import pytest

from examples import kafka_small_client as small
from oauthbearer.config import ClientCredentialsConfig, client_login
from oauthbearer.login import TokenProvider
from oauthbearer.login.sources import client_credentials_fetch
from oauthbearer.testing.idp import Endpoint, HttpStatus
from tests.conftest import KAFKA_AUDIENCE, KAFKA_PRODUCE_MAX_REAUTH_MS
from tests.test_interop_kafka import client_module

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from oauthbearer.testing import TestIdentityProvider
    from oauthbearer.token import OAuthBearerToken
    from tests.real_kafka import KafkaBroker

#: Records each record-moving client produces and consumes back. 10,000 keeps
#: this module near a minute on a 2-core machine (the run is paced by
#: TIMELINE, not by the record count).
RECORDS: Final = 10_000
#: The IdP's token lifetime. Kafka's refresh rule ignores its buffers for so
#: short a token and refreshes at the window factor's fraction of it.
TOKEN_LIFETIME_S: Final = 40


@dataclasses.dataclass(frozen=True, slots=True)
class Timeline:
    """Seconds from the start of the run; client ``i``'s provider starts at ``i``."""

    start_clients: float = 5.0
    rotate_keys: float = 12.0
    outage_start: float = 30.0
    refresh: float = 32.0  # every provider's refresh: in the outage
    outage_end: float = 35.0  # 5 s, before the first tokens expire (40-44 s)
    # 10 s past the outage: every client's 3 s sessions re-authenticate at
    # least twice with a token of the new key, even on a loaded machine (at
    # 38 s, a refresh delayed by load could leave none).
    stop_producing: float = 45.0
    drain_timeout: float = 60.0


TIMELINE: Final = Timeline()
#: sasl.login.retry.backoff.ms / .max.ms: the refresh at 32 s tries again at
#: 32.1, 32.3, 32.7, 33.5 and 35.1 s (Kafka's doubling), past the outage.
RETRY_PROPERTIES: Final = {
    "sasl.login.retry.backoff.ms": "100",
    "sasl.login.retry.backoff.max.ms": "4000",
    "sasl.login.refresh.window.jitter": "0",
}
#: Re-authenticate at this fraction of the session lifetime (Kafka's Java client
#: picks 85-95 %).
REAUTH_AT: Final = 0.85
CLIENTS: Final = (
    "kafka-python",
    "aiokafka",
    "confluent-kafka",
    "faust",
    "ours-sync",
    "ours-asyncio",
)

_COMPLETE = re.compile(
    r"\[(?P<thread>[^\]]+)\] DEBUG \S+SaslServerAuthenticator - Authentication complete; "
    r"session max lifetime from broker config=\d+ ms, credential expiration=(?P<exp>[^(]+) "
    r"\((?P<left>-?\d+) ms\)"
)
_STATE = re.compile(
    r"\[(?P<thread>[^\]]+)\] DEBUG \S+SaslServerAuthenticator - "
    r"Set SASL server state to COMPLETE during (?P<what>re-authentication|authentication)"
)


@dataclasses.dataclass(slots=True)
class Fetched:
    """One fetch by a client's provider: when it ran, and what it gave."""

    started: float
    ended: float
    token: OAuthBearerToken | None


@dataclasses.dataclass(slots=True)
class ClientRun:
    name: str
    topic: str
    fetches: list[Fetched] = dataclasses.field(default_factory=list)
    produced: int = 0
    consumed: list[bytes] = dataclasses.field(default_factory=list)
    #: Our own connections: the re-authentications they saw succeed.
    own_reauths: int = 0
    error: BaseException | None = None

    def recording_fetch(self, config: ClientCredentialsConfig) -> Callable[[], OAuthBearerToken]:
        fetch = client_credentials_fetch(config, allow_insecure_loopback=True)

        def recorded() -> OAuthBearerToken:
            started = time.time()
            try:
                token = fetch()
            except Exception:
                self.fetches.append(Fetched(started, time.time(), None))
                raise
            self.fetches.append(Fetched(started, time.time(), token))
            return token

        return recorded

    @property
    def expiries(self) -> set[int]:
        return {f.token.lifetime_ms // 1000 for f in self.fetches if f.token is not None}


@dataclasses.dataclass(frozen=True, slots=True)
class Authentication:
    at: float
    expires: int
    reauthentication: bool


def broker_authentications(log: str) -> list[Authentication]:
    """Each completed (re-)authentication in the broker's log, in order."""
    pending: dict[str, tuple[int, float]] = {}
    found = []
    for line in log.splitlines():
        if match := _COMPLETE.search(line):
            expires = int(
                datetime.datetime.strptime(match["exp"].strip(), "%a %b %d %H:%M:%S %Z %Y")
                .replace(tzinfo=datetime.UTC)
                .timestamp()
            )
            pending[match["thread"]] = (expires, expires - int(match["left"]) / 1000)
        elif (match := _STATE.search(line)) and match["thread"] in pending:
            expires, at = pending.pop(match["thread"])
            found.append(Authentication(at, expires, match["what"] == "re-authentication"))
    return found


def client_properties(
    idp: TestIdentityProvider, client_id: str, secret: str, offset: int
) -> dict[str, str]:
    """A Kafka client's OAUTHBEARER properties, as its .properties file would say them."""
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'clientId="{client_id}" clientSecret="{secret}" scope="kafka";'
        ),
        **RETRY_PROPERTIES,
        "sasl.login.refresh.window.factor": str((TIMELINE.refresh - offset) / TOKEN_LIFETIME_S),
    }


def key(i: int) -> bytes:
    return str(i).encode()


def chunks(start: float) -> Iterator[range]:
    """The record numbers to produce, slot by slot, over the producing window."""
    slots = 100
    step = (TIMELINE.stop_producing - TIMELINE.start_clients - 2.0) / slots
    for slot in range(slots):
        delay = start + TIMELINE.start_clients + slot * step - time.time()
        if delay > 0:
            time.sleep(delay)
        yield range(slot * RECORDS // slots, (slot + 1) * RECORDS // slots)


async def achunks(start: float) -> Any:
    slots = 100
    step = (TIMELINE.stop_producing - TIMELINE.start_clients - 2.0) / slots
    for slot in range(slots):
        delay = start + TIMELINE.start_clients + slot * step - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield range(slot * RECORDS // slots, (slot + 1) * RECORDS // slots)


# --- the clients ---------------------------------------------------------------------------


def run_kafka_python(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    kafka = client_module("kafka", "pip install kafka-python")
    from oauthbearer.integrations.kafka_python import (
        kafka_python_token_provider,
    )

    common = {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": kafka_python_token_provider(provider),
    }
    producer = kafka.KafkaProducer(acks="all", **common)
    consumer = None
    try:
        for numbers in chunks(start):
            for i in numbers:
                producer.send(run.topic, key=key(i), value=b"x")
            producer.flush(30)
            run.produced = numbers.stop
            if consumer is None:
                consumer = kafka.KafkaConsumer(auto_offset_reset="earliest", **common)
                consumer.assign([kafka.TopicPartition(run.topic, 0)])
            for batch in consumer.poll(timeout_ms=0).values():
                run.consumed.extend(record.key for record in batch)
        assert consumer is not None
        deadline = time.time() + TIMELINE.drain_timeout
        while len(run.consumed) < RECORDS and time.time() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                run.consumed.extend(record.key for record in batch)
    finally:
        producer.close(10)
        if consumer is not None:
            consumer.close()


def run_aiokafka(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    aiokafka = client_module("aiokafka", "pip install aiokafka")
    from oauthbearer.integrations.aiokafka import (
        aiokafka_token_provider,
    )

    async def main() -> None:
        common = {
            "bootstrap_servers": bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": aiokafka_token_provider(provider),
        }
        producer = aiokafka.AIOKafkaProducer(acks="all", **common)
        await producer.start()
        consumer = None
        try:
            async for numbers in achunks(start):
                for i in numbers:
                    await producer.send(run.topic, key=key(i), value=b"x")
                await producer.flush()
                run.produced = numbers.stop
                if consumer is None:
                    consumer = aiokafka.AIOKafkaConsumer(auto_offset_reset="earliest", **common)
                    await consumer.start()
                    consumer.assign([aiokafka.TopicPartition(run.topic, 0)])
                for batch in (await consumer.getmany(timeout_ms=0)).values():
                    run.consumed.extend(record.key for record in batch)
            assert consumer is not None
            deadline = time.time() + TIMELINE.drain_timeout
            while len(run.consumed) < RECORDS and time.time() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    run.consumed.extend(record.key for record in batch)
        finally:
            await producer.stop()
            if consumer is not None:
                await consumer.stop()

    asyncio.run(main())


def run_confluent(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    from oauthbearer.integrations.confluent_kafka import (
        confluent_kafka_config,
    )

    common = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        **confluent_kafka_config(provider),
    }
    producer = confluent_kafka.Producer({**common, "acks": "all"})
    consumer = None
    try:
        for numbers in chunks(start):
            for i in numbers:
                producer.produce(run.topic, key=key(i), value=b"x")
                producer.poll(0)
            assert producer.flush(30) == 0
            run.produced = numbers.stop
            if consumer is None:
                consumer = confluent_kafka.Consumer(
                    {**common, "group.id": f"g-{run.topic}", "enable.auto.commit": False}
                )
                consumer.assign([confluent_kafka.TopicPartition(run.topic, 0, 0)])
            for message in consumer.consume(1000, timeout=0):
                if message.error() is None:
                    run.consumed.append(message.key())
        assert consumer is not None
        deadline = time.time() + TIMELINE.drain_timeout
        while len(run.consumed) < RECORDS and time.time() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    run.consumed.append(message.key())
    finally:
        producer.flush(10)
        if consumer is not None:
            consumer.close()


def run_faust(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    """examples/faust_app.py's RecordsApp: Faust's producer sends each slot's
    records, and its agent collects them (Faust's consumer, in a group)."""
    client_module("faust", "pip install faust-streaming")
    from examples import faust_app
    from oauthbearer.integrations.aiokafka import aiokafka_token_provider

    async def main(datadir: str) -> None:
        records = faust_app.RecordsApp(
            bootstrap,
            aiokafka_token_provider(provider),
            app_id=run.topic,
            topic=run.topic,
            datadir=datadir,
        )
        try:
            async with records:
                async for numbers in achunks(start):
                    await records.send(key(i) for i in numbers)
                    run.produced = numbers.stop
                await records.until_seen(RECORDS, TIMELINE.drain_timeout)
        finally:
            run.consumed = list(records.keys)

    with tempfile.TemporaryDirectory(prefix="faust-produce-") as datadir:
        asyncio.run(main(datadir))


def _fetching(run: ClientRun, start: float, deadline: float) -> bool:
    """Whether our clients go on fetching: until every record is back, and, so
    that their sessions outlive the refresh in the outage and carry a token
    signed with the new key, until the end of the run."""
    now = time.time()
    return now < deadline and (len(run.consumed) < RECORDS or now < start + TIMELINE.stop_producing)


def _consumed(run: ClientRun, fetched: small.Fetched) -> int:
    run.consumed.extend(r.key for _, r in fetched.records if r.key is not None)
    return fetched.next_offset


def run_ours_sync(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    """examples/kafka_small_client.py's SmallClient: our sans-IO connection on a
    blocking socket, one batch per slot, a Fetch after each."""
    with small.SmallClient(bootstrap, lambda: provider.token().value, client_id=run.name) as client:
        try:
            topic = client.topic(run.topic)
            offset = 0
            for numbers in chunks(start):
                client.produce(topic, [(key(i), b"x") for i in numbers])
                run.produced = numbers.stop
                offset = _consumed(run, client.fetch(topic, offset))
            deadline = time.time() + TIMELINE.drain_timeout
            while _fetching(run, start, deadline):
                offset = _consumed(run, client.fetch(topic, offset))
        finally:
            run.own_reauths = client.core.reauthentications


def run_ours_asyncio(run: ClientRun, provider: TokenProvider, bootstrap: str, start: float) -> None:
    """The same with AsyncSmallClient, on asyncio streams."""

    async def main() -> None:
        async with await small.AsyncSmallClient.connect(
            bootstrap, lambda: provider.token().value, client_id=run.name
        ) as client:
            try:
                topic = await client.topic(run.topic)
                offset = 0
                async for numbers in achunks(start):
                    await client.produce(topic, [(key(i), b"x") for i in numbers])
                    run.produced = numbers.stop
                    offset = _consumed(run, await client.fetch(topic, offset))
                deadline = time.time() + TIMELINE.drain_timeout
                while _fetching(run, start, deadline):
                    offset = _consumed(run, await client.fetch(topic, offset))
            finally:
                run.own_reauths = client.core.reauthentications

    asyncio.run(main())


# --- the run -------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Scenario:
    start: float
    runs: dict[str, ClientRun]
    authentications: list[Authentication]
    rotated_kid: str
    outage_requests: int
    seconds: float

    def of(self, name: str) -> list[Authentication]:
        mine = self.runs[name].expiries
        others = set().union(*(r.expiries for n, r in self.runs.items() if n != name))
        return [a for a in self.authentications if a.expires in mine - others]


def _kid(token: str) -> str:
    import jwt as pyjwt

    kid = pyjwt.get_unverified_header(token)["kid"]
    assert isinstance(kid, str)
    return kid


@pytest.fixture(scope="module")
def scenario(kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider) -> Scenario:
    bootstrap = kafka_broker.bootstrap("PRODUCE")
    mark = kafka_broker.mark_log()
    run_id = uuid.uuid4().hex[:8]
    runs: dict[str, ClientRun] = {}
    providers: dict[str, TokenProvider] = {}
    targets: dict[str, Callable[[ClientRun, TokenProvider, str, float], None]] = {
        "kafka-python": run_kafka_python,
        "aiokafka": run_aiokafka,
        "confluent-kafka": run_confluent,
        "faust": run_faust,
        "ours-sync": run_ours_sync,
        "ours-asyncio": run_ours_asyncio,
    }
    start = float(int(time.time()) + 1)
    try:
        for offset, name in enumerate(CLIENTS):
            client_id = f"produce-{name}-{run_id}"
            kafka_idp.add_client(
                client_id,
                "produce-s3cret",
                scopes=("kafka",),
                audience=KAFKA_AUDIENCE,
                lifetime_s=TOKEN_LIFETIME_S,
            )
            config = client_login(
                client_properties(kafka_idp, client_id, "produce-s3cret", offset),
                now=time.time(),
                allow_insecure_loopback=True,
            )
            assert isinstance(config, ClientCredentialsConfig)
            run = runs[name] = ClientRun(name, f"produce-{name}-{run_id}")
            # One provider a second: no two clients' tokens expire in the same second.
            time.sleep(max(0.0, start + offset + 0.1 - time.time()))
            providers[name] = TokenProvider(
                run.recording_fetch(config), refresh=config.refresh
            ).start()

        def target(name: str) -> None:
            try:
                targets[name](runs[name], providers[name], bootstrap, start)
            except BaseException as error:  # noqa: BLE001 - reported by the tests
                runs[name].error = error

        threads = [threading.Thread(target=target, args=(name,), name=name) for name in CLIENTS]
        for thread in threads:
            thread.start()
        try:
            time.sleep(max(0.0, start + TIMELINE.rotate_keys - time.time()))
            rotated = kafka_idp.rotate_keys()
            time.sleep(max(0.0, start + TIMELINE.outage_start - time.time()))
            kafka_idp.inject(Endpoint.TOKEN, HttpStatus(status=503), times=10_000)
            time.sleep(max(0.0, start + TIMELINE.outage_end - time.time()))
        finally:
            kafka_idp.clear_faults()
            for thread in threads:
                thread.join(TIMELINE.stop_producing + TIMELINE.drain_timeout + 30)
    finally:
        for provider in providers.values():
            provider.close()
    seconds = time.time() - start
    outage = [
        r
        for r in kafka_idp.requests
        if r.endpoint is Endpoint.TOKEN and r.status == 503 and r.time >= start
    ]
    found = Scenario(
        start=start,
        runs=runs,
        authentications=broker_authentications(kafka_broker.log_since(mark)),
        rotated_kid=rotated,
        outage_requests=len(outage),
        seconds=seconds,
    )
    print(f"\nproduce run, Kafka {kafka_broker.version}, {seconds:.1f} s:")
    for name, run in runs.items():
        mine = found.of(name)
        print(
            f"  {name}: produced {run.produced}, consumed {len(run.consumed)} "
            f"({len(set(run.consumed))} distinct), broker authentications "
            f"{sum(not a.reauthentication for a in mine)}, re-authentications "
            f"{sum(a.reauthentication for a in mine)}, tokens {len(run.expiries)}"
        )
    return found


@pytest.mark.parametrize("name", CLIENTS)
def test_the_client_ran_without_error(scenario: Scenario, name: str) -> None:
    error = scenario.runs[name].error
    assert error is None, repr(error)


@pytest.mark.parametrize("name", CLIENTS)
def test_no_record_is_lost_or_duplicated(scenario: Scenario, name: str) -> None:
    run = scenario.runs[name]
    assert run.produced == RECORDS
    counts = collections.Counter(run.consumed)
    assert set(counts) == {key(i) for i in range(RECORDS)}, f"lost {RECORDS - len(counts)}"
    assert max(counts.values()) == 1, f"duplicated: {[k for k, n in counts.items() if n > 1][:5]}"


#: aiokafka 0.14 has no KIP-368 re-authentication, and Faust runs on it: the
#: broker closes their connections when their session ends, and they connect
#: and authenticate anew.
NO_REAUTHENTICATION: Final = frozenset({"aiokafka", "faust"})


@pytest.mark.parametrize("name", CLIENTS)
def test_every_session_renewal_is_in_the_broker_log(scenario: Scenario, name: str) -> None:
    mine = scenario.of(name)
    reauths = [a for a in mine if a.reauthentication]
    logins = [a for a in mine if not a.reauthentication]
    run_s = TIMELINE.stop_producing
    if name in NO_REAUTHENTICATION:
        assert not reauths
        # Sessions last 3 s: over the run, a few connections each log in many times.
        assert len(logins) >= 3 * (run_s // (KAFKA_PRODUCE_MAX_REAUTH_MS / 1000)) // 2
    else:
        assert len(reauths) >= 3
        # KIP-368 clients keep their connections: re-authentications outnumber logins.
        assert len(reauths) > len(logins)
    if name.startswith("ours"):
        # Our client counts its own; the broker's lines for a token whose expiry
        # second another client shares are attributed to neither.
        assert scenario.runs[name].own_reauths >= len(reauths)


@pytest.mark.parametrize("name", CLIENTS)
def test_the_last_good_token_is_served_through_the_outage(scenario: Scenario, name: str) -> None:
    run = scenario.runs[name]
    outage = (scenario.start + TIMELINE.outage_start, scenario.start + TIMELINE.outage_end)
    assert scenario.outage_requests > 0
    # A refresh ran into the outage and ended after it, with a fresh token...
    spanning = [f for f in run.fetches if f.started < outage[1] and f.ended > outage[1]]
    assert spanning, [(f.started - scenario.start, f.ended - scenario.start) for f in run.fetches]
    assert all(f.token is not None for f in spanning)
    # ...while the broker went on accepting the token fetched before the outage.
    before = {
        f.token.lifetime_ms // 1000
        for f in run.fetches
        if f.token is not None and f.ended < outage[0]
    }
    during = [a for a in scenario.of(name) if outage[0] <= a.at <= outage[1]]
    assert during, "no authentication during the outage"
    assert all(a.expires in before for a in during)
    assert all(a.expires - a.at > 0 for a in during)


@pytest.mark.parametrize("name", CLIENTS)
def test_tokens_signed_with_the_rotated_key_are_accepted(scenario: Scenario, name: str) -> None:
    run = scenario.runs[name]
    tokens = [f.token for f in run.fetches if f.token is not None]
    assert _kid(tokens[0].value) != scenario.rotated_kid
    new = [t for t in tokens if _kid(t.value) == scenario.rotated_kid]
    assert new, "no token signed with the new key"
    # Second tokens may share an expiry second with another client's: any
    # client's acceptance of that second shows the new key was accepted.
    accepted = {a.expires for a in scenario.authentications}
    assert {t.lifetime_ms // 1000 for t in new} & accepted
