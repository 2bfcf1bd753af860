"""Kafka's own Java client (``kafka-clients``, the selected version) against the emulator.

``tests/interop/kafka/KafkaClientRun.java``, compiled against the selected
Kafka's jars (tests/real_kafka.py), runs a real ``KafkaConsumer`` (listTopics)
and ``KafkaProducer`` (partitionsFor) with ``security.protocol=SASL_PLAINTEXT``
and ``sasl.mechanism=OAUTHBEARER`` against :class:`BrokerEmulator`, then keeps
listing topics on the consumer's connection for a few seconds. It prints one
JSON line with the outcome. What it shows:

* the default unsecured login (``unsecuredLoginStringClaim_sub``) against an
  unsecured validator authenticates and lists topics: the emulator serves the
  versions a Kafka 4.x client negotiates (ApiVersions v4/v5, SaslAuthenticate
  v2, Metadata v13);
* ``OAuthBearerLoginCallbackHandler`` with client credentials against
  :class:`~oauthbearer.testing.idp.TestIdentityProvider`, the emulator
  validating with a :class:`~oauthbearer.JwtValidator` on the IdP's keys; and,
  from Kafka 4.1 (KIP-1139), the same through
  ``sasl.oauthbearer.jwt.retriever.class=...ClientCredentialsJwtRetriever``;
* a token the emulator refuses reaches the Java application as the RFC 7628
  JSON status, in the ``SaslAuthenticationException`` message (the client
  answers the challenge with ``%x01``; the broker's SASL_AUTHENTICATION_FAILED
  carries the JSON);
* KIP-368: with a short ``max_reauth_ms`` the client re-authenticates on its
  open connection and keeps working;
* SASL_SSL: the emulator configured from a ``server.properties`` whose PEM key
  store is written as Kafka reads it (one line per block), the client trusting
  the test's CA through a PEM trust store.

``.ci/run`` runs these against every pinned Kafka version (``kafka_differential``).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final

import pytest

from oauthbearer import JwtValidator, UnsecuredJwsValidator
from oauthbearer.config import broker_listener
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.testing.idp import TestIdentityProvider
from tests.real_kafka import KAFKA_DIR, JavaProgram, jaas_module, java_program, selected_version
from tests.tls_ca import make_ca

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from oauthbearer.token import TokenValidator

# Kafka's own client decides, at every pinned version (.ci/run).
pytestmark = pytest.mark.kafka_differential

SOURCE: Final = KAFKA_DIR / "KafkaClientRun.java"
TOPIC: Final = "orders"
AUDIENCE: Final = "kafka-cluster"
CLIENT_ID: Final = "java-app"
#: Not a secret: the test IdP's client, on loopback, for this test only.
CLIENT_SECRET: Final = "java-app-secret"
LOGIN_HANDLER: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
)
#: KIP-1139 (Kafka 4.1): the client-credentials grant as a pluggable retriever.
CLIENT_CREDENTIALS_RETRIEVER: Final = (
    "org.apache.kafka.common.security.oauthbearer.ClientCredentialsJwtRetriever"
)
#: The JVM's own startup and Kafka's client logging stay out of the way.
QUIET: Final = "system:org.slf4j.simpleLogger.defaultLogLevel=warn"
#: The re-authentication run: sessions of REAUTH_MS, listing for REAUTH_RUN_S.
REAUTH_MS: Final = 2_000
REAUTH_RUN_S: Final = 7


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    return java_program(SOURCE, selected_version(), tmp_path_factory.mktemp("java-client"))


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client(CLIENT_ID, CLIENT_SECRET, scopes=("kafka",), audience=AUDIENCE)
        yield provider


def run(
    client: JavaProgram,
    validator: TokenValidator,
    *options: str,
    seconds: int = 0,
    max_reauth_ms: int | None = None,
) -> tuple[dict[str, Any], list[AuthenticationRecord], float]:
    """One run of the Java program against a fresh emulator: its outcome line,
    the emulator's authentication records, and the run's wall time."""
    records: list[AuthenticationRecord] = []
    emulator = BrokerEmulator(
        validator, topics=(TOPIC,), max_reauth_ms=max_reauth_ms, on_authentication=records.append
    )
    with emulator.running_in_thread() as broker:
        started = time.monotonic()
        done = client.run(broker.bootstrap, TOPIC, str(seconds), QUIET, *options)
        elapsed = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no outcome line:\n{done.stdout}\n{done.stderr[-4000:]}"
    return json.loads(lines[-1]), records, elapsed


def unsecured_login(sub: str = "alice") -> str:
    return "sasl.jaas.config=" + jaas_module(unsecuredLoginStringClaim_sub=sub)


def jwt_validator(idp: TestIdentityProvider) -> JwtValidator:
    return JwtValidator(idp.key_set(), issuer=idp.issuer, audience=AUDIENCE)


def test_default_unsecured_login_lists_topics(client: JavaProgram) -> None:
    outcome, records, _ = run(client, UnsecuredJwsValidator(), unsecured_login())
    assert outcome == {"ok": True, "topics": [TOPIC], "partitions": 1, "listings": 1}
    # One connection for the consumer and one for the producer, each authenticated once.
    assert [(r.outcome, r.principal) for r in records] == [("authenticated", "alice")] * 2


def client_credentials_options(idp: TestIdentityProvider, *, retriever: bool) -> list[str]:
    options = [
        f"sasl.login.callback.handler.class={LOGIN_HANDLER}",
        f"sasl.oauthbearer.token.endpoint.url={idp.token_endpoint}",
        f"system:org.apache.kafka.sasl.oauthbearer.allowed.urls={idp.token_endpoint}",
    ]
    if retriever:
        return [
            *options,
            f"sasl.oauthbearer.jwt.retriever.class={CLIENT_CREDENTIALS_RETRIEVER}",
            f"sasl.oauthbearer.client.credentials.client.id={CLIENT_ID}",
            f"sasl.oauthbearer.client.credentials.client.secret={CLIENT_SECRET}",
            "sasl.oauthbearer.scope=kafka",
            "sasl.jaas.config=" + jaas_module(),
        ]
    jaas = jaas_module(clientId=CLIENT_ID, clientSecret=CLIENT_SECRET, scope="kafka")
    return [*options, f"sasl.jaas.config={jaas}"]


def test_client_credentials_through_the_idp(client: JavaProgram, idp: TestIdentityProvider) -> None:
    options = client_credentials_options(idp, retriever=False)
    outcome, records, _ = run(client, jwt_validator(idp), *options)
    assert outcome["ok"], outcome
    assert outcome["partitions"] == 1
    assert {(r.outcome, r.principal) for r in records} == {("authenticated", CLIENT_ID)}


def test_client_credentials_through_the_jwt_retriever_class(
    client: JavaProgram, idp: TestIdentityProvider
) -> None:
    if tuple(int(part) for part in selected_version().split(".")[:2]) < (4, 1):
        pytest.skip(f"sasl.oauthbearer.jwt.retriever.class is Kafka 4.1+ ({selected_version()})")
    options = client_credentials_options(idp, retriever=True)
    outcome, records, _ = run(client, jwt_validator(idp), *options)
    assert outcome["ok"], outcome
    assert {(r.outcome, r.principal) for r in records} == {("authenticated", CLIENT_ID)}


def test_the_error_challenge_reaches_the_application_as_json(
    client: JavaProgram, idp: TestIdentityProvider
) -> None:
    # An unsecured (alg "none") token against a broker that wants the IdP's
    # signature: refused with invalid_token; the client answers %x01.
    outcome, records, _ = run(client, jwt_validator(idp), unsecured_login())
    assert (outcome["ok"], outcome["stage"]) == (False, "consumer"), outcome
    assert outcome["error"].startswith(
        "org.apache.kafka.common.errors.SaslAuthenticationException: "
    )
    (document,) = [
        json.loads(text) for text in [outcome["error"].split(": ", 1)[1]] if text.startswith("{")
    ]
    assert document == {"status": "invalid_token"}
    assert records
    assert {(r.outcome, r.reason) for r in records} == {("failed", "authentication-failed")}


def test_kip_368_reauthentication_keeps_the_client_working(client: JavaProgram) -> None:
    outcome, records, elapsed = run(
        client,
        UnsecuredJwsValidator(),
        unsecured_login(),
        seconds=REAUTH_RUN_S,
        max_reauth_ms=REAUTH_MS,
    )
    assert outcome["ok"], outcome
    assert outcome["listings"] >= REAUTH_RUN_S  # one every half second, on and on
    reauthenticated = [r for r in records if r.outcome == "reauthenticated"]
    # The consumer's connection lives REAUTH_RUN_S seconds in REAUTH_MS sessions.
    assert len(reauthenticated) >= REAUTH_RUN_S * 1000 // REAUTH_MS - 1, (records, elapsed)
    assert all(r.principal == "alice" and r.session_lifetime_ms == REAUTH_MS for r in records)
    assert not [r for r in records if not r.ok]


def test_sasl_ssl_from_server_properties(client: JavaProgram, tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    listener = broker_listener(
        {
            "listeners": "SECURE://127.0.0.1:0",
            "listener.security.protocol.map": "SECURE:SASL_SSL",
            "listener.name.secure.sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.secure.oauthbearer.sasl.jaas.config": jaas_module(),
            **ca.kafka_listener_properties("SECURE"),
        }
    )
    records: list[AuthenticationRecord] = []
    emulator = BrokerEmulator.from_listener(
        listener, topics=(TOPIC,), on_authentication=records.append
    )
    with listener.validation, emulator.running_in_thread() as broker:
        done = client.run(
            broker.bootstrap,
            TOPIC,
            "0",
            QUIET,
            unsecured_login(),
            "security.protocol=SASL_SSL",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={ca.ca_file}",
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no outcome line:\n{done.stdout}\n{done.stderr[-4000:]}"
    assert json.loads(lines[-1]) == {"ok": True, "topics": [TOPIC], "partitions": 1, "listings": 1}
    assert [(r.outcome, r.principal) for r in records] == [("authenticated", "alice")] * 2
