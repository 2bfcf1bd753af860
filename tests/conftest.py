"""Session-wide fixtures: the real Kafka broker and the identity provider it
trusts, and the real PostgreSQL 18 server.

They start only when a test asks for them (tests/real_kafka.py and
tests/real_postgres.py say how the servers run), and are stopped when the
session ends. A session with a failed test keeps the servers' logs (their
paths are printed).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

import pytest
from hypothesis import settings

from oauthbearer.testing.idp import TestIdentityProvider
from tests.real_kafka import KafkaBroker, jaas_module, selected_version
from tests.real_keycloak import keycloak  # noqa: F401 - a fixture, registered here
from tests.real_postgres import PostgresServer
from tests.tls_ca import LoopbackCa, make_ca

if TYPE_CHECKING:
    from collections.abc import Iterator

#: CI runs the suite under coverage (.ci/run) on a shared machine, where tracing and
#: other jobs make an example's time vary several-fold: with `--hypothesis-profile=ci`
#: hypothesis judges results only, not timings. Everywhere else the default deadline stays.
settings.register_profile("ci", deadline=None)

#: The JWT listener's expectations, as a broker's server.properties states them.
KAFKA_AUDIENCE: Final = "kafka-cluster"
KAFKA_SCOPE_CLAIM: Final = "scp"
KAFKA_SUB_CLAIM: Final = "client_id"
#: The REAUTH listener's connections.max.reauth.ms (KIP-368).
KAFKA_MAX_REAUTH_MS: Final = 5_000
#: The PRODUCE listener's connections.max.reauth.ms: short, so that a client
#: producing for half a minute re-authenticates many times.
KAFKA_PRODUCE_MAX_REAUTH_MS: Final = 3_000
#: The PRODUCE listener's sasl.oauthbearer.jwks.endpoint.refresh.ms: short, so
#: that a rotated signing key is picked up within the produce run.
KAFKA_PRODUCE_JWKS_REFRESH_MS: Final = 2_000
#: The OPTIONS listener's unsecuredValidator* options.
UNSECURED_OPTIONS: Final = {
    "unsecuredValidatorPrincipalClaimName": "user",
    "unsecuredValidatorScopeClaimName": "roles",
    "unsecuredValidatorRequiredScope": "kafka",
    "unsecuredValidatorAllowableClockSkewMs": "5000",
}
_VALIDATOR: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


@pytest.fixture(scope="session")
def kafka_tls_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCa:
    """The self-signed CA of the real broker's SASL_SSL listener (``TLS``)."""
    return make_ca(tmp_path_factory.mktemp("kafka-tls"))


@pytest.fixture(scope="session")
def kafka_idp() -> Iterator[TestIdentityProvider]:
    """The identity provider whose JWKS the real broker's JWT listener trusts."""
    with TestIdentityProvider() as idp:
        yield idp


def kafka_broker_properties(idp: TestIdentityProvider) -> dict[str, str]:
    """The SASL part of the real broker's server.properties, by listener:

    * ``UNSECURED``: Kafka's default unsecured validator;
    * ``OPTIONS``: the unsecured validator with every ``unsecuredValidator*`` option;
    * ``JWT``: ``OAuthBearerValidatorCallbackHandler`` against the IdP's JWKS, with
      expected audience and issuer, ``scp`` as the scope claim and a custom sub claim;
    * ``REAUTH``: the default validator with a short ``connections.max.reauth.ms``;
    * ``PRODUCE``: the ``JWT`` listener's validation, with a short
      ``connections.max.reauth.ms`` and a short JWKS refresh, for clients that
      produce and consume while tokens, keys and the IdP change under them.
    * ``TLS`` (SASL_SSL, the certificate of ``kafka_tls_ca``): the default validator.
    """
    login = {"unsecuredLoginStringClaim_sub": "broker"}
    props = {
        # A refused authentication is answered at once (Kafka's default waits
        # 100 ms); the verdicts do not depend on it.
        "connection.failed.authentication.delay.ms": "0",
        "listener.name.unsecured.oauthbearer.sasl.jaas.config": jaas_module(**login),
        "listener.name.options.oauthbearer.sasl.jaas.config": jaas_module(
            **login, **UNSECURED_OPTIONS
        ),
        "listener.name.reauth.oauthbearer.sasl.jaas.config": jaas_module(**login),
        "listener.name.reauth.oauthbearer.connections.max.reauth.ms": str(KAFKA_MAX_REAUTH_MS),
        "listener.name.jwt.oauthbearer.sasl.jaas.config": jaas_module(),
        "listener.name.jwt.oauthbearer.sasl.server.callback.handler.class": _VALIDATOR,
        "listener.name.jwt.sasl.oauthbearer.jwks.endpoint.url": idp.jwks_uri,
        "listener.name.jwt.sasl.oauthbearer.expected.audience": KAFKA_AUDIENCE,
        "listener.name.jwt.sasl.oauthbearer.expected.issuer": idp.issuer,
        "listener.name.jwt.sasl.oauthbearer.scope.claim.name": KAFKA_SCOPE_CLAIM,
        "listener.name.jwt.sasl.oauthbearer.sub.claim.name": KAFKA_SUB_CLAIM,
        "listener.name.produce.oauthbearer.sasl.jaas.config": jaas_module(),
        "listener.name.produce.oauthbearer.sasl.server.callback.handler.class": _VALIDATOR,
        "listener.name.produce.sasl.oauthbearer.jwks.endpoint.url": idp.jwks_uri,
        "listener.name.produce.sasl.oauthbearer.jwks.endpoint.refresh.ms": str(
            KAFKA_PRODUCE_JWKS_REFRESH_MS
        ),
        "listener.name.produce.sasl.oauthbearer.expected.audience": KAFKA_AUDIENCE,
        "listener.name.produce.sasl.oauthbearer.expected.issuer": idp.issuer,
        "listener.name.produce.sasl.oauthbearer.scope.claim.name": KAFKA_SCOPE_CLAIM,
        "listener.name.produce.sasl.oauthbearer.sub.claim.name": KAFKA_SUB_CLAIM,
        "listener.name.produce.oauthbearer.connections.max.reauth.ms": str(
            KAFKA_PRODUCE_MAX_REAUTH_MS
        ),
    }
    props["listener.name.tls.oauthbearer.sasl.jaas.config"] = jaas_module(**login)
    for listener in ("unsecured", "options", "reauth", "jwt", "produce", "tls"):
        props[f"listener.name.{listener}.sasl.enabled.mechanisms"] = "OAUTHBEARER"
    return props


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, kafka_idp: TestIdentityProvider, kafka_tls_ca: LoopbackCa
) -> Iterator[KafkaBroker]:
    """A real Kafka node of the selected version, its five OAUTHBEARER listeners up."""
    broker = KafkaBroker(
        version=selected_version(),
        listeners={
            **dict.fromkeys(("UNSECURED", "OPTIONS", "REAUTH", "JWT", "PRODUCE"), "SASL_PLAINTEXT"),
            "TLS": "SASL_SSL",
        },
        properties={
            **kafka_broker_properties(kafka_idp),
            **kafka_tls_ca.kafka_listener_properties("TLS"),
        },
        # Kafka 4 fetches no OAuth URL that this system property does not allow.
        jvm_properties={
            "org.apache.kafka.sasl.oauthbearer.allowed.urls": kafka_idp.jwks_uri,
            # The validators' reasons for a refusal are logged at DEBUG (the
            # unsecured one) or WARN: the parity tests quote them.
            "org.slf4j.simpleLogger.log.org.apache.kafka.common.security.oauthbearer": "debug",
            # Every (re-)authentication is logged at DEBUG: the produce tests count them.
            "org.slf4j.simpleLogger.log.org.apache.kafka.common.security.authenticator": "debug",
            # ... and their credential expiry dates are read back in UTC.
            "user.timezone": "UTC",
        },
    )
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        kept = broker.cleanup(keep_log=request.session.testsfailed > 0)
        if kept is not None:
            print(f"\nKafka {broker.version}'s log: {kept}", file=sys.stderr)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A real PostgreSQL 18 server whose ``oauth`` logins trust the tokens
    that :meth:`PostgresServer.grant` lists (none at first)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        kept = server.cleanup(keep_log=request.session.testsfailed > 0)
        if kept is not None:
            print(f"\nPostgreSQL {server.version}'s log: {kept}", file=sys.stderr)
