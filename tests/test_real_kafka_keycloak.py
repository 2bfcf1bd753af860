"""The deployment story end to end: Keycloak issues, the real Kafka broker validates.

No part of ours stands in for the identity provider. A broker of its own (one
extra start, for this module only, so that the sessions that use Kafka without
Keycloak never start Keycloak) has one listener, ``KEYCLOAK``, configured as a
Kafka operator would for Keycloak (docs/idp-keycloak.md): Kafka's
``OAuthBearerValidatorCallbackHandler`` with Keycloak's JWKS URL, issuer and
the audience its ``kafka`` client scope adds, and a short
``connections.max.reauth.ms`` so that every client also re-authenticates.

kafka-python, aiokafka and confluent-kafka each produce :data:`RECORDS`
records and consume them back, at the same time, each with our
:class:`~oauthbearer.login.TokenProvider` fetching its tokens from Keycloak
with the client-credentials grant. A token without the audience (no ``kafka``
scope asked for) is refused by the broker.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Final

import pytest

from oauthbearer.config import ClientCredentialsConfig
from oauthbearer.kafka import NEED_DATA, ClientAuthenticated, KafkaClientConnection
from oauthbearer.kafka.client import ClientAuthenticationFailed
from oauthbearer.login import TokenProvider
from oauthbearer.login.sources import client_credentials_fetch
from tests.real_kafka import KafkaBroker, jaas_module, selected_version
from tests.real_keycloak import KAFKA_AUDIENCE, KAFKA_SCOPE, SECRET_CLIENT
from tests.test_interop_keycloak import secret_token
from tests.test_real_kafka_produce import broker_authentications

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.real_keycloak import KeycloakServer

#: Records each client produces and consumes back.
RECORDS: Final = 300
#: The listener's connections.max.reauth.ms: each client re-authenticates.
MAX_REAUTH_MS: Final = 3_000
#: How long each client keeps producing (paced), so that it re-authenticates.
PRODUCE_S: Final = 8.0
_VALIDATOR: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


def keycloak_listener(keycloak: KeycloakServer) -> dict[str, str]:
    """The KEYCLOAK listener's part of server.properties."""
    prefix = "listener.name.keycloak."
    return {
        "connection.failed.authentication.delay.ms": "0",
        f"{prefix}sasl.enabled.mechanisms": "OAUTHBEARER",
        f"{prefix}oauthbearer.sasl.jaas.config": jaas_module(),
        f"{prefix}oauthbearer.sasl.server.callback.handler.class": _VALIDATOR,
        f"{prefix}sasl.oauthbearer.jwks.endpoint.url": keycloak.jwks_uri,
        f"{prefix}sasl.oauthbearer.expected.audience": KAFKA_AUDIENCE,
        f"{prefix}sasl.oauthbearer.expected.issuer": keycloak.issuer,
        f"{prefix}oauthbearer.connections.max.reauth.ms": str(MAX_REAUTH_MS),
    }


@pytest.fixture(scope="module")
def keycloak_broker(
    request: pytest.FixtureRequest, keycloak: KeycloakServer
) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(
        version=selected_version(),
        listeners={"KEYCLOAK": "SASL_PLAINTEXT"},
        properties=keycloak_listener(keycloak),
        jvm_properties={
            # Kafka 4 fetches no OAuth URL that this system property does not allow.
            "org.apache.kafka.sasl.oauthbearer.allowed.urls": keycloak.jwks_uri,
            "org.slf4j.simpleLogger.log.org.apache.kafka.common.security.authenticator": "debug",
            "user.timezone": "UTC",
        },
    )
    try:
        started = time.monotonic()
        broker.start()
        print(
            f"\nKafka {broker.version} started in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
        yield broker
    finally:
        broker.stop()
        kept = broker.cleanup(keep_log=request.session.testsfailed > 0)
        if kept is not None:
            print(f"\nKafka {broker.version}'s log: {kept}", file=sys.stderr)


def provider_for(keycloak: KeycloakServer) -> TokenProvider:
    config = ClientCredentialsConfig(
        token_endpoint_url=keycloak.token_endpoint,
        client_id=SECRET_CLIENT,
        client_secret=keycloak.client_secret,
        scope=KAFKA_SCOPE,
    )
    return TokenProvider(client_credentials_fetch(config, allow_insecure_loopback=True))


def key(i: int) -> bytes:
    return str(i).encode()


def paced(start: float) -> Iterator[range]:
    """The record numbers to produce, in 20 slots over :data:`PRODUCE_S`."""
    slots = 20
    for slot in range(slots):
        delay = start + slot * PRODUCE_S / slots - time.time()
        if delay > 0:
            time.sleep(delay)
        yield range(slot * RECORDS // slots, (slot + 1) * RECORDS // slots)


def kafka_python(provider: TokenProvider, bootstrap: str, topic: str) -> list[bytes]:
    import kafka

    from oauthbearer.integrations.kafka_python import kafka_python_token_provider

    common = {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": kafka_python_token_provider(provider),
    }
    producer = kafka.KafkaProducer(acks="all", **common)
    consumer = kafka.KafkaConsumer(auto_offset_reset="earliest", **common)
    consumed: list[bytes] = []
    try:
        consumer.assign([kafka.TopicPartition(topic, 0)])
        for numbers in paced(time.time()):
            for i in numbers:
                producer.send(topic, key=key(i), value=b"x")
            producer.flush(30)
        deadline = time.time() + 60
        while len(consumed) < RECORDS and time.time() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                consumed.extend(record.key for record in batch)
    finally:
        producer.close(10)
        consumer.close()
    return consumed


def aiokafka(provider: TokenProvider, bootstrap: str, topic: str) -> list[bytes]:
    import asyncio

    import aiokafka

    from oauthbearer.integrations.aiokafka import aiokafka_token_provider

    async def main() -> list[bytes]:
        common = {
            "bootstrap_servers": bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": aiokafka_token_provider(provider),
        }
        producer = aiokafka.AIOKafkaProducer(acks="all", **common)
        await producer.start()
        consumer = aiokafka.AIOKafkaConsumer(auto_offset_reset="earliest", **common)
        await consumer.start()
        consumed: list[bytes] = []
        try:
            consumer.assign([aiokafka.TopicPartition(topic, 0)])
            start, slots = time.time(), 20
            for slot in range(slots):
                await asyncio.sleep(max(0.0, start + slot * PRODUCE_S / slots - time.time()))
                for i in range(slot * RECORDS // slots, (slot + 1) * RECORDS // slots):
                    await producer.send(topic, key=key(i), value=b"x")
                await producer.flush()
            deadline = time.time() + 60
            while len(consumed) < RECORDS and time.time() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    consumed.extend(record.key for record in batch)
        finally:
            await producer.stop()
            await consumer.stop()
        return consumed

    return asyncio.run(main())


def confluent(provider: TokenProvider, bootstrap: str, topic: str) -> list[bytes]:
    import confluent_kafka

    from oauthbearer.integrations.confluent_kafka import confluent_kafka_config

    common = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        **confluent_kafka_config(provider),
    }
    producer = confluent_kafka.Producer({**common, "acks": "all"})
    consumer = confluent_kafka.Consumer(
        {**common, "group.id": f"g-{topic}", "enable.auto.commit": False}
    )
    consumed: list[bytes] = []
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
        for numbers in paced(time.time()):
            for i in numbers:
                producer.produce(topic, key=key(i), value=b"x")
                producer.poll(0)
            assert producer.flush(30) == 0
        deadline = time.time() + 60
        while len(consumed) < RECORDS and time.time() < deadline:
            messages = consumer.consume(1000, timeout=0.5)
            consumed.extend(m.key() or b"" for m in messages if m.error() is None)
    finally:
        producer.flush(10)
        consumer.close()
    return consumed


CLIENTS: Final[dict[str, Callable[[TokenProvider, str, str], list[bytes]]]] = {
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent,
}


def test_each_client_produces_and_consumes_with_keycloak_tokens(
    keycloak: KeycloakServer, keycloak_broker: KafkaBroker
) -> None:
    for module in ("kafka", "aiokafka", "confluent_kafka"):
        pytest.importorskip(module)
    mark = keycloak_broker.mark_log()
    results: dict[str, list[bytes]] = {}
    errors: dict[str, BaseException] = {}
    providers = {name: provider_for(keycloak) for name in CLIENTS}

    def run(name: str) -> None:
        try:
            results[name] = CLIENTS[name](
                providers[name], keycloak_broker.bootstrap("KEYCLOAK"), f"kc-{name}-{uuid.uuid4()}"
            )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors[name] = error

    started = time.monotonic()
    for provider in providers.values():
        provider.start()
    try:
        threads = [threading.Thread(target=run, args=(name,)) for name in CLIENTS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
    finally:
        for provider in providers.values():
            provider.close()
    elapsed = time.monotonic() - started
    assert not errors, errors
    for name, consumed in results.items():
        assert sorted(consumed, key=int) == [key(i) for i in range(RECORDS)], name
    for provider in providers.values():
        assert provider.token().claims["iss"] == keycloak.issuer
    authentications = broker_authentications(keycloak_broker.log_since(mark))
    # Every client's connections authenticated, and re-authenticated (3 s sessions).
    assert sum(a.reauthentication for a in authentications) >= len(CLIENTS), authentications
    print(
        f"\n{len(CLIENTS)} clients x {RECORDS} records in {elapsed:.1f} s; "
        f"{len(authentications)} authentications, "
        f"{sum(a.reauthentication for a in authentications)} of them re-authentications",
        file=sys.stderr,
    )


def authenticate(bootstrap: str, token: str) -> ClientAuthenticated | ClientAuthenticationFailed:
    """One SASL exchange with our own client connection: the broker's verdict."""
    host, port = bootstrap.rsplit(":", 1)
    connection = KafkaClientConnection(token, client_id="keycloak-check")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        connection.initiate()
        while True:
            event = connection.next_event()
            if event is NEED_DATA:
                sock.sendall(connection.data_to_send())
                connection.receive_data(sock.recv(65536))
                continue
            assert isinstance(event, ClientAuthenticated | ClientAuthenticationFailed)
            return event


def test_the_broker_refuses_a_keycloak_token_without_the_audience(
    keycloak: KeycloakServer, keycloak_broker: KafkaBroker
) -> None:
    bootstrap = keycloak_broker.bootstrap("KEYCLOAK")
    assert isinstance(authenticate(bootstrap, secret_token(keycloak)), ClientAuthenticated)
    refused = authenticate(bootstrap, secret_token(keycloak, scope=None))
    assert isinstance(refused, ClientAuthenticationFailed)
    assert refused.status == "invalid_token"
