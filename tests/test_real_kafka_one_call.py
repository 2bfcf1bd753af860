"""From a client properties file to a producing client in one call, against the real Kafka broker.

For each of kafka-python, aiokafka and confluent-kafka, a ``client.properties``
file as a Kafka user has it goes through one call of :mod:`oauthbearer.config`
(:func:`~oauthbearer.config.kafka_python_settings`,
:func:`~oauthbearer.config.aiokafka_settings`,
:func:`~oauthbearer.config.confluent_kafka_settings`) into the client's
constructor, and the client produces a record that the real broker
acknowledges:

* on the ``PRODUCE`` listener (SASL_PLAINTEXT, JWT validation against
  ``kafka_idp``'s JWKS), with Kafka's client-credentials login;
* on the ``TLS`` listener (SASL_SSL, a certificate of the test CA), with Kafka's
  unsecured login, the broker's CA given as the file's PEM ``ssl.truststore.*``:
  the client verifies the broker's certificate with it.

The broker's log dates each authentication's credential expiry: the expiry of
the token the client was handed must be among them, so the record went in on
*our* login.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import jwt as pyjwt
import pytest

from oauthbearer.config import (
    aiokafka_settings,
    async_token_provider,
    confluent_kafka_settings,
    kafka_python_settings,
)
from oauthbearer.kafka import ClientAuthenticated
from oauthbearer.kafka.aio import authenticate
from tests.conftest import KAFKA_AUDIENCE
from tests.test_interop_kafka import client_module
from tests.test_real_kafka_produce import broker_authentications

if TYPE_CHECKING:
    from pathlib import Path

    from oauthbearer.testing import TestIdentityProvider
    from tests.real_kafka import KafkaBroker
    from tests.tls_ca import LoopbackCa

PKG = "org.apache.kafka.common.security.oauthbearer."
CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")


def _write(path: Path, properties: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


def client_credentials_file(
    tmp_path: Path, broker: KafkaBroker, idp: TestIdentityProvider, client_id: str
) -> Path:
    idp.add_client(client_id, "one-call-s3cret", scopes=("kafka",), audience=KAFKA_AUDIENCE)
    return _write(
        tmp_path / "client.properties",
        {
            "bootstrap.servers": broker.bootstrap("PRODUCE"),
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.login.callback.handler.class": PKG + "OAuthBearerLoginCallbackHandler",
            "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
            "sasl.jaas.config": (
                f'{PKG}OAuthBearerLoginModule required clientId="{client_id}" '
                'clientSecret="one-call-s3cret" scope="kafka";'
            ),
        },
    )


def unsecured_tls_file(tmp_path: Path, broker: KafkaBroker, ca: LoopbackCa, principal: str) -> Path:
    return _write(
        tmp_path / "client.properties",
        {
            "bootstrap.servers": broker.bootstrap("TLS"),
            "security.protocol": "SASL_SSL",
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca.ca_file),
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.jaas.config": (
                f'{PKG}OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="{principal}";'
            ),
        },
    )


def _expiry(token: str) -> int:
    """A JWT's ``exp`` in whole seconds (an unsecured token's has a fraction),
    unverified: which login the broker's log line is about."""
    exp = pyjwt.decode(token, options={"verify_signature": False})["exp"]
    assert isinstance(exp, int | float)
    return int(exp)


def produce(client: str, path: Path, topic: str) -> int:
    """One record, produced by ``client`` made in one call from ``path`` and
    acknowledged; returns the expiry (epoch s) of the token the client was given."""
    if client == "kafka-python":
        kafka = client_module("kafka", "pip install kafka-python")
        settings = kafka_python_settings(path, allow_insecure_loopback=True)
        producer = kafka.KafkaProducer(acks="all", **settings)
        try:
            metadata = producer.send(topic, b"one call").get(timeout=60)
            assert metadata.topic == topic
        finally:
            producer.close(10)
        return _expiry(settings["sasl_oauth_token_provider"].token())
    if client == "aiokafka":
        aiokafka = client_module("aiokafka", "pip install aiokafka")
        settings = aiokafka_settings(path, allow_insecure_loopback=True)

        async def main() -> int:
            async with aiokafka.AIOKafkaProducer(acks="all", **settings) as producer:
                metadata = await producer.send_and_wait(topic, b"one call")
                assert metadata.topic == topic
            return _expiry(await settings["sasl_oauth_token_provider"].token())

        return asyncio.run(main())
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    settings = confluent_kafka_settings(path, allow_insecure_loopback=True)
    producer = confluent_kafka.Producer({"acks": "all", **settings})
    delivered: list[Any] = []
    producer.produce(topic, b"one call", on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(60) == 0
    assert delivered == [None]
    return int(settings["oauth_cb"]("")[1])


def authenticated_with(broker: KafkaBroker, mark: int) -> set[int]:
    """The credential expiries of the authentications the broker logged since ``mark``."""
    return {a.expires for a in broker_authentications(broker.log_since(mark))}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_client_credentials_properties_file_produces(
    client: str,
    kafka_broker: KafkaBroker,
    kafka_idp: TestIdentityProvider,
    tmp_path: Path,
) -> None:
    client_id = f"one-call-{client}-{uuid.uuid4().hex[:6]}"
    mark = kafka_broker.mark_log()
    path = client_credentials_file(tmp_path, kafka_broker, kafka_idp, client_id)
    expires = produce(client, path, client_id)
    assert expires in authenticated_with(kafka_broker, mark)


@pytest.mark.parametrize("client", CLIENTS)
def test_an_unsecured_login_produces_over_tls_with_the_files_ca(
    client: str, kafka_broker: KafkaBroker, kafka_tls_ca: LoopbackCa, tmp_path: Path
) -> None:
    principal = f"tls-{client}-{uuid.uuid4().hex[:6]}"
    mark = kafka_broker.mark_log()
    path = unsecured_tls_file(tmp_path, kafka_broker, kafka_tls_ca, principal)
    expires = produce(client, path, principal)
    assert expires in authenticated_with(kafka_broker, mark)


def test_without_the_brokers_ca_the_tls_client_does_not_connect(
    kafka_broker: KafkaBroker, kafka_tls_ca: LoopbackCa, tmp_path: Path
) -> None:
    # The same file without its trust store: the system's CAs do not know the test CA.
    path = unsecured_tls_file(tmp_path, kafka_broker, kafka_tls_ca, "nobody")
    text = path.read_text().replace("ssl.truststore", "#ssl.truststore")
    path.write_text(text)
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    settings = confluent_kafka_settings(path)
    assert "ssl.ca.location" not in settings
    producer = confluent_kafka.Producer({**settings, "message.timeout.ms": 5000})
    delivered: list[Any] = []
    producer.produce("never", b"x", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(15)
    assert len(delivered) == 1
    assert delivered[0] is not None


def test_the_asyncio_provider_authenticates_our_own_client(
    kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider, tmp_path: Path
) -> None:
    client_id = f"one-call-ours-{uuid.uuid4().hex[:6]}"
    path = client_credentials_file(tmp_path, kafka_broker, kafka_idp, client_id)
    host, port = kafka_broker.bootstrap("PRODUCE").rsplit(":", 1)

    async def main() -> object:
        async with await async_token_provider(path, allow_insecure_loopback=True) as provider:
            return await authenticate(host, int(port), provider.token().value)

    outcome = asyncio.run(main())
    assert isinstance(outcome, ClientAuthenticated)
    assert outcome.session_lifetime_ms > 0
