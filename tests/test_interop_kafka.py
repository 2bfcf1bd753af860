"""Real Kafka clients against the broker emulator, over loopback.

kafka-python, aiokafka and confluent-kafka (librdkafka) authenticate through
oauthbearer's own adapters (``oauthbearer.integrations``), so these tests prove
the adapters and the emulator together. For each client: accept (with the
extensions arriving intact), a refusal whose reason reaches the client, the
RFC 7628 error-challenge path (which clients answer ``%x01``; nothing is ever
granted on it), and KIP-368 re-authentication where the client supports it.
KafkaJS is in tests/test_interop_kafkajs.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer import OAuthBearerToken, UnsecuredJwsValidator
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.unsecured import kafka_unsecured_login
from tests.peers import missing_peer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TOPIC = "orders"
EXTENSIONS = {"traceId": "abc123", "logicalCluster": "lkc-1"}
#: Bounds the clients' own retries, so a refusal surfaces in seconds.
CLIENT_TIMEOUT_MS = 3_000


def client_module(name: str, hint: str) -> Any:
    try:
        with warnings.catch_warnings():
            # kafka-python 3 warns about its own deprecated modules on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name)
    except ImportError:
        missing_peer(name, hint)


def token_source(scope: str = "kafka") -> Callable[[], OAuthBearerToken]:
    """A token function for the adapters: a fresh unsecured token on every call."""

    def fetch() -> OAuthBearerToken:
        login = kafka_unsecured_login(
            {
                "unsecuredLoginStringClaim_sub": "alice",
                "unsecuredLoginListClaim_scope": f",{scope}",
            },
            now=time.time(),
        )
        return login.token

    return fetch


#: Unexpired (clients check that) but refused: the broker requires scope "kafka".
REFUSED = token_source(scope="other")
REFUSAL_JSON = '{"status":"insufficient_scope","scope":"[kafka]"}'


class Records:
    def __init__(self) -> None:
        self.items: list[AuthenticationRecord] = []

    def __call__(self, record: AuthenticationRecord) -> None:
        self.items.append(record)

    def wait_for(
        self, test: Callable[[list[AuthenticationRecord]], bool], timeout_s: float = 10.0
    ) -> list[AuthenticationRecord]:
        deadline = time.monotonic() + timeout_s
        while not test(self.items) and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.items)

    def outcomes(self) -> set[str]:
        return {r.outcome for r in self.items}


@pytest.fixture
def records() -> Records:
    return Records()


def emulator(records: Records, *, max_reauth_ms: int | None = None) -> BrokerEmulator:
    return BrokerEmulator(
        UnsecuredJwsValidator(required_scope=("kafka",)),
        topics=(TOPIC,),
        max_reauth_ms=max_reauth_ms,
        on_authentication=records,
    )


@pytest.fixture
def broker(records: Records) -> Iterator[BrokerEmulator]:
    with emulator(records).running_in_thread() as running:
        yield running


def assert_challenge_path_granted_nothing(records: Records, reason: str) -> None:
    seen = records.wait_for(bool)
    assert seen, "the client never completed an exchange"
    assert all(not r.ok for r in seen), seen
    assert {r.reason for r in seen} == {reason}, seen
    # The broker's detail says why; the client was told only the status.
    assert all(r.detail and "missing a required scope" in r.detail for r in seen)


# --- kafka-python ---------------------------------------------------------------------------


def kafka_python_consumer(
    broker: BrokerEmulator, source: Callable[[], OAuthBearerToken], **config: Any
) -> Any:
    kafka = client_module("kafka", "pip install kafka-python")
    from oauthbearer.integrations.kafka_python import kafka_python_token_provider

    return kafka.KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=kafka_python_token_provider(source, extensions=EXTENSIONS),
        request_timeout_ms=CLIENT_TIMEOUT_MS,
        bootstrap_timeout_ms=CLIENT_TIMEOUT_MS,
        **config,
    )


def test_kafka_python_accept(broker: BrokerEmulator, records: Records) -> None:
    consumer = kafka_python_consumer(broker, token_source())
    try:
        assert TOPIC in consumer.topics()
    finally:
        consumer.close()
    first = records.items[0]
    assert (first.outcome, first.principal) == ("authenticated", "alice")
    assert dict(first.extensions) == EXTENSIONS
    assert first.session_lifetime_ms is not None
    assert first.session_lifetime_ms > 3_500_000


def test_kafka_python_answers_the_challenge_and_sees_the_reason(
    broker: BrokerEmulator, records: Records, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kafka")
    kafka_errors = client_module("kafka.errors", "pip install kafka-python")
    with pytest.raises(kafka_errors.KafkaTimeoutError):
        kafka_python_consumer(broker, REFUSED)
    # kafka-python answers the challenge with %x01 (the broker's reason code says
    # so), and the broker's 58 reaches it with the challenge JSON.
    assert_challenge_path_granted_nothing(records, "authentication-failed")
    assert "SaslAuthenticationFailedError" in caplog.text
    assert REFUSAL_JSON in caplog.text


def test_kafka_python_reauthenticates(records: Records) -> None:
    # KIP-368: the broker caps the session at 2 s; kafka-python re-authenticates
    # on the same connection before it runs out.
    with emulator(records, max_reauth_ms=2_000).running_in_thread() as broker:
        consumer = kafka_python_consumer(broker, token_source(), metadata_max_age_ms=500)
        try:
            consumer.topics()
            seen = records.wait_for(
                lambda items: any(r.outcome == "reauthenticated" for r in items)
            )
        finally:
            consumer.close()
    assert "reauthenticated" in {r.outcome for r in seen}, seen
    assert all(r.ok for r in seen), seen


# --- aiokafka -------------------------------------------------------------------------------


async def aiokafka_topics(broker: BrokerEmulator, source: Callable[[], OAuthBearerToken]) -> Any:
    """Bootstrap aiokafka's client and read the cluster's topics."""
    aiokafka = client_module("aiokafka", "pip install aiokafka")
    from oauthbearer.integrations.aiokafka import aiokafka_token_provider

    client = aiokafka.AIOKafkaClient(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=aiokafka_token_provider(source, extensions=EXTENSIONS),
        request_timeout_ms=CLIENT_TIMEOUT_MS,
    )
    try:
        await client.bootstrap()
        return (await client.fetch_all_metadata()).topics()
    finally:
        await client.close()


def test_aiokafka_accept(broker: BrokerEmulator, records: Records) -> None:
    assert TOPIC in asyncio.run(aiokafka_topics(broker, token_source()))
    first = records.items[0]
    assert (first.outcome, first.principal) == ("authenticated", "alice")
    assert dict(first.extensions) == EXTENSIONS


def test_aiokafka_ignores_the_challenge_and_is_granted_nothing(
    broker: BrokerEmulator, records: Records
) -> None:
    errors = client_module("aiokafka.errors", "pip install aiokafka")
    # aiokafka 0.14 takes the error challenge for success and sends Metadata;
    # the broker answers that ILLEGAL_SASL_STATE (34) and closes, as Kafka does.
    with pytest.raises(errors.KafkaError):
        asyncio.run(aiokafka_topics(broker, REFUSED))
    assert_challenge_path_granted_nothing(records, "challenge-ignored")


# --- confluent-kafka (librdkafka) -----------------------------------------------------------


class ConfluentErrors:
    def __init__(self) -> None:
        self.errors: list[Any] = []

    def __call__(self, error: Any) -> None:
        self.errors.append(error)


def confluent_producer(
    broker: BrokerEmulator,
    source: Callable[[], OAuthBearerToken],
    errors: ConfluentErrors,
    **extra: Any,
) -> Any:
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    from oauthbearer.integrations.confluent_kafka import confluent_kafka_config

    return confluent_kafka.Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            **confluent_kafka_config(source, extensions=EXTENSIONS),
            "error_cb": errors,
            **extra,
        }
    )


def test_confluent_kafka_accept(broker: BrokerEmulator, records: Records) -> None:
    errors = ConfluentErrors()
    producer = confluent_producer(broker, token_source(), errors)
    metadata = producer.list_topics(timeout=CLIENT_TIMEOUT_MS / 1000)
    assert TOPIC in metadata.topics
    producer.flush(1)
    first = records.wait_for(bool)[0]
    assert (first.outcome, first.principal) == ("authenticated", "alice")
    assert dict(first.extensions) == EXTENSIONS
    assert not errors.errors


def test_confluent_kafka_answers_the_challenge_and_sees_the_reason(
    broker: BrokerEmulator, records: Records
) -> None:
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    errors = ConfluentErrors()
    # librdkafka asks its oauth_cb at once; with a token the broker refuses, the
    # constructor still returns, and the refusal arrives through error_cb.
    producer = confluent_producer(broker, REFUSED, errors)
    with pytest.raises(confluent_kafka.KafkaException):
        producer.list_topics(timeout=CLIENT_TIMEOUT_MS / 1000)
    deadline = time.monotonic() + 10
    while not errors.errors and time.monotonic() < deadline:
        producer.poll(0.1)
    assert_challenge_path_granted_nothing(records, "authentication-failed")
    authentication = [
        e for e in errors.errors if e.code() == confluent_kafka.KafkaError._AUTHENTICATION
    ]
    assert authentication, errors.errors
    assert REFUSAL_JSON in authentication[0].str()


def test_confluent_kafka_reauthenticates(records: Records) -> None:
    errors = ConfluentErrors()
    with emulator(records, max_reauth_ms=2_000).running_in_thread() as broker:
        producer = confluent_producer(broker, token_source(), errors)
        producer.list_topics(timeout=CLIENT_TIMEOUT_MS / 1000)
        deadline = time.monotonic() + 10
        while (
            not any(r.outcome == "reauthenticated" for r in records.items)
            and time.monotonic() < deadline
        ):
            producer.poll(0.1)
        producer.flush(1)
    assert "reauthenticated" in records.outcomes(), records.items
    assert all(r.ok for r in records.items), records.items


def test_aiokafka_does_not_reauthenticate_and_reconnects(records: Records) -> None:
    # aiokafka 0.14 has no KIP-368: past the session lifetime the broker closes
    # the connection on its next request, and aiokafka authenticates anew.
    aiokafka = client_module("aiokafka", "pip install aiokafka")
    from oauthbearer.integrations.aiokafka import aiokafka_token_provider

    async def run(broker: BrokerEmulator) -> None:
        client = aiokafka.AIOKafkaClient(
            bootstrap_servers=broker.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=aiokafka_token_provider(token_source()),
            request_timeout_ms=CLIENT_TIMEOUT_MS,
        )
        try:
            await client.bootstrap()
            await client.fetch_all_metadata()
            await asyncio.sleep(1.5)  # past the 1 s session
            for _ in range(20):  # the first request after expiry fails; then it reconnects
                with contextlib.suppress(aiokafka.errors.KafkaError):
                    await client.fetch_all_metadata()
                if sum(r.outcome == "authenticated" for r in records.items) >= 2:
                    return
                await asyncio.sleep(0.1)
        finally:
            await client.close()

    with emulator(records, max_reauth_ms=1_000).running_in_thread() as broker:
        asyncio.run(run(broker))
    outcomes = [(r.outcome, r.reason) for r in records.items]
    assert ("failed", "session-expired") in outcomes, outcomes
    assert ("reauthenticated", None) not in outcomes
    assert outcomes.count(("authenticated", None)) >= 2, outcomes
