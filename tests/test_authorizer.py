"""Authorization from claims (oauthbearer.validation.authorizer), and the
emulator enforcing it for a real Kafka client.

Tokens come from the test IdP in each provider's profile (Okta ``groups`` and
``scp``, Keycloak ``realm_access``/``resource_access``, Entra ``roles``) and
are verified by :class:`JwtValidator` before the authorizer sees them.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator, metadata_response
from oauthbearer.kafka.protocol import ErrorCode, MetadataBroker, MetadataRequest
from oauthbearer.testing.idp import TestIdentityProvider
from oauthbearer.token import OAuthBearerToken
from oauthbearer.validation.authorizer import (
    ClaimsAuthorizer,
    Grant,
    Operation,
    PatternType,
    Permissions,
    ResourceType,
    Rule,
)
from oauthbearer.validation.claim_check import ClaimCheckError
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.jwt import JwtValidator
from tests.peers import missing_peer

if TYPE_CHECKING:
    from collections.abc import Iterator

TOPICS = ("orders.eu", "orders.us", "payroll", "audit")

READERS = Rule(
    groups={"kafka-readers"},
    grants=(Grant(operations={"read"}, name="orders.", pattern_type="prefixed"),),
)
ADMINS = Rule(
    when="'kafka-admins' in @.groups",
    grants=(Grant(operations=frozenset({Operation.ALL}), name="*"),),
)
WRITERS = Rule(
    scope="kafka.write",
    grants=(Grant(operations={"write"}, name="audit"),),
)


@pytest.fixture(scope="module")
def okta() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(profile="okta") as idp:
        yield idp


def verified(idp: TestIdentityProvider, scope_claim: str = "scp", **mint: Any) -> OAuthBearerToken:
    token = idp.mint_token("alice", **mint)
    return JwtValidator(idp.key_set(), issuer=idp.issuer, scope_claim=scope_claim).validate(
        token, now=time.time()
    )


def test_okta_groups_and_scp_map_to_grants(okta: TestIdentityProvider) -> None:
    authorizer = ClaimsAuthorizer([READERS, ADMINS, WRITERS])
    reader = verified(okta, extra_claims={"groups": ["kafka-readers", "Everyone"]})
    allowed = authorizer.permissions(reader)
    assert allowed.allows("READ", "TOPIC", "orders.eu")
    assert allowed.allows("DESCRIBE", "TOPIC", "orders.us")  # implied by READ
    assert not allowed.allows("WRITE", "TOPIC", "orders.eu")
    assert not allowed.allows("READ", "TOPIC", "payroll")
    assert not allowed.allows("READ", "GROUP", "orders.eu")
    admin = authorizer.permissions(verified(okta, extra_claims={"groups": ["kafka-admins"]}))
    assert all(admin.allows(op, "TOPIC", t) for op in Operation for t in TOPICS)
    writer = authorizer.permissions(verified(okta, scope=["kafka.write"]))
    assert writer.allows("write", "topic", "audit")
    assert writer.allows("describe", "topic", "audit")
    assert not writer.allows("read", "topic", "audit")
    nobody = authorizer.permissions(verified(okta))
    assert nobody == Permissions(())  # deny by default


def test_keycloak_roles_from_realm_access_and_resource_access() -> None:
    with TestIdentityProvider(profile="keycloak") as keycloak:
        token = verified(
            keycloak,
            scope_claim="scope",
            extra_claims={"resource_access": {"kafka-broker": {"roles": ["producer"]}}},
        )
    assert token.claims["realm_access"] == {"roles": ["default-roles", "offline_access"]}
    realm = ClaimsAuthorizer(
        [
            Rule(
                groups={"offline_access"},
                grants=(Grant(operations={"READ"}, name="audit"),),
            )
        ],
        groups_claim="$.realm_access.roles",
    )
    assert realm.groups(token) == {"default-roles", "offline_access"}
    assert realm.allows(token, "READ", "TOPIC", "audit")
    client = ClaimsAuthorizer(
        [
            Rule(
                when="'producer' in @.resource_access.kafka-broker.roles",
                grants=(Grant(operations={"WRITE"}, name="orders.", pattern_type="PREFIXED"),),
            )
        ]
    )
    assert client.allows(token, "WRITE", "TOPIC", "orders.eu")
    assert not client.allows(token, "WRITE", "TOPIC", "payroll")


def test_entra_roles() -> None:
    with TestIdentityProvider(profile="entra") as entra:
        token = verified(entra, scope_claim="roles", scope=["Kafka.Admin"])
    authorizer = ClaimsAuthorizer(
        [
            Rule(
                groups={"Kafka.Admin"},
                grants=(Grant(operations={"ALL"}, name="*"),),
            )
        ],
        groups_claim="roles",
    )
    assert authorizer.allows(token, "ALTER", "TOPIC", "payroll")


def test_the_claim_check_refuses_at_authentication(okta: TestIdentityProvider) -> None:
    authorizer = ClaimsAuthorizer(claim_check="@.cid == 'kafka-app' && 'Everyone' in @.groups")
    good = verified(okta, client_id="kafka-app", extra_claims={"groups": ["Everyone"]})
    authorizer.authenticate(good)
    bad = verified(okta, client_id="other-app", extra_claims={"groups": ["Everyone"]})
    with pytest.raises(InvalidToken, match="fails the claim check") as refused:
        authorizer.authenticate(bad)
    assert refused.value.status == "invalid_token"
    assert bad.value not in str(refused.value)


def test_grants_and_rules_check_themselves() -> None:
    with pytest.raises(ConfigurationError, match="READ, WRITE"):
        Grant(operations={"FLY"}, name="x")
    with pytest.raises(ConfigurationError, match="at least one"):
        Grant(operations=frozenset(), name="x")
    with pytest.raises(ArgumentTypeError):
        Grant(operations="READ", name="x")
    with pytest.raises(ConfigurationError, match="pattern_type"):
        Grant(operations={"READ"}, name="x", pattern_type="MATCH")
    with pytest.raises(ClaimCheckError):
        Rule(when="@.a ==", grants=())
    with pytest.raises(ArgumentTypeError):
        ClaimsAuthorizer(READERS)  # type: ignore[arg-type]
    with pytest.raises(ClaimCheckError):
        ClaimsAuthorizer(groups_claim="$.")
    literal = Grant(operations={"READ"}, name="orders")
    assert literal.covers(ResourceType.TOPIC, "orders")
    assert not literal.covers(ResourceType.TOPIC, "orders.eu")
    prefixed = Grant(operations={"READ"}, name="orders", pattern_type=PatternType.PREFIXED)
    assert prefixed.covers(ResourceType.TOPIC, "orders.eu")
    configs = Grant(operations={"ALTER_CONFIGS"}, name="*", resource_type="CLUSTER")
    assert configs.allows(Operation.DESCRIBE_CONFIGS, ResourceType.CLUSTER, "kafka-cluster")
    assert not configs.allows(Operation.DESCRIBE, ResourceType.CLUSTER, "kafka-cluster")


# --- the Metadata answer ---------------------------------------------------------------------

BROKER = MetadataBroker(node_id=0, host="127.0.0.1", port=9092)


@pytest.mark.parametrize("version", [1, 9, 12])
def test_metadata_lists_only_authorized_topics(version: int) -> None:
    allowed = {"orders.eu", "orders.us"}.__contains__
    every = metadata_response(
        MetadataRequest(topics=None), version, broker=BROKER, topics=TOPICS, authorized=allowed
    )
    assert [t.name for t in every.topics] == ["orders.eu", "orders.us"]
    named = metadata_response(
        MetadataRequest(topics=("payroll", "orders.eu", "nope")),
        version,
        broker=BROKER,
        topics=TOPICS,
        authorized=allowed,
    )
    # Kafka appends the unauthorized ones, and does not say whether "nope" exists.
    assert [(t.name, t.error_code) for t in named.topics] == [
        ("orders.eu", ErrorCode.NONE),
        ("payroll", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        ("nope", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
    ]


# --- the emulator, with kafka-python --------------------------------------------------------


def kafka_module(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name)
    except ImportError:
        missing_peer(name, "pip install kafka-python")


def provider(idp: TestIdentityProvider, **mint: Any) -> Any:
    from oauthbearer.integrations.kafka_python import kafka_python_token_provider

    def fetch() -> OAuthBearerToken:
        value = idp.mint_token("alice", **mint)
        return OAuthBearerToken(
            value=value, principal="alice", lifetime_ms=int((time.time() + 600) * 1000)
        )

    return kafka_python_token_provider(fetch)


def test_the_emulator_enforces_the_authorizer_for_kafka_python(
    okta: TestIdentityProvider,
) -> None:
    kafka = kafka_module("kafka")
    kafka_errors = kafka_module("kafka.errors")
    records: list[AuthenticationRecord] = []
    authorizer = ClaimsAuthorizer([READERS, ADMINS], claim_check="@.cid == 'kafka-app'")
    emulator = BrokerEmulator(
        JwtValidator(okta.key_set(), issuer=okta.issuer, scope_claim="scp"),
        topics=TOPICS,
        authorizer=authorizer,
        on_authentication=records.append,
    )

    def consumer(**mint: Any) -> Any:
        return kafka.KafkaConsumer(
            bootstrap_servers=running.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=provider(okta, **mint),
            request_timeout_ms=5_000,
            bootstrap_timeout_ms=5_000,
        )

    with emulator.running_in_thread() as running:
        reader = consumer(client_id="kafka-app", extra_claims={"groups": ["kafka-readers"]})
        try:
            assert reader.topics() == {"orders.eu", "orders.us"}
        finally:
            reader.close()
        admin = consumer(client_id="kafka-app", extra_claims={"groups": ["kafka-admins"]})
        try:
            assert admin.topics() == set(TOPICS)
        finally:
            admin.close()
        # Authenticated by its signature, refused by the claim check: at authentication.
        with pytest.raises(kafka_errors.KafkaTimeoutError):
            consumer(client_id="stranger", extra_claims={"groups": ["kafka-admins"]})
    failed = [r for r in records if not r.ok]
    assert failed
    assert all(r.detail and "fails the claim check" in r.detail for r in failed)
    granted = [r.principal for r in records if r.ok]
    assert len(granted) >= 2  # kafka-python connects more than once per client
    assert set(granted) == {"alice"}


def test_the_emulator_warns_when_introspection_fails(
    okta: TestIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """An identity provider that does not answer refuses the client, loudly."""
    kafka = kafka_module("kafka")
    kafka_errors = kafka_module("kafka.errors")
    # The handler takes the last level set: the emulator's WARNING comes last.
    caplog.set_level(logging.ERROR, logger="kafka")
    caplog.set_level(logging.WARNING, logger="oauthbearer.kafka.broker")
    unreachable = IntrospectionValidator(
        okta.introspection_endpoint,
        client_id="broker",
        client_secret="wrong-secret",
        allow_insecure_loopback=True,
    )
    records: list[AuthenticationRecord] = []
    emulator = BrokerEmulator(unreachable, topics=TOPICS, on_authentication=records.append)
    with emulator.running_in_thread() as running, pytest.raises(kafka_errors.KafkaTimeoutError):
        kafka.KafkaConsumer(
            bootstrap_servers=running.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=provider(okta),
            request_timeout_ms=5_000,
            bootstrap_timeout_ms=3_000,
        )
    assert "token validation could not complete, the client is refused" in caplog.text
    assert "IntrospectionError" in caplog.text
    assert "wrong-secret" not in caplog.text
    assert records
    assert not any(r.ok for r in records)


def test_metadata_reports_the_authorized_operations_of_each_topic() -> None:
    from oauthbearer.kafka.broker import TOPIC_AUTHORIZED_OPERATIONS
    from oauthbearer.validation.authorizer import ACL_OPERATION_CODES

    reader = Permissions((Grant(operations={"READ"}, name="orders.", pattern_type="PREFIXED"),))
    admin = Permissions((Grant(operations={"ALL"}, name="*"),))
    expected = (1 << ACL_OPERATION_CODES[Operation.READ]) | (
        1 << ACL_OPERATION_CODES[Operation.DESCRIBE]
    )
    assert reader.topic_operations("orders.eu") == expected
    assert reader.topic_operations("payroll") == 0
    # ALL is every topic operation: what a broker without an authorizer reports.
    assert admin.topic_operations("payroll") == TOPIC_AUTHORIZED_OPERATIONS
    answer = metadata_response(
        MetadataRequest(topics=("orders.eu",), include_topic_authorized_operations=True),
        9,
        broker=BROKER,
        topics=TOPICS,
        authorized=lambda name: reader.allows("DESCRIBE", "TOPIC", name),
        topic_operations=reader.topic_operations,
    )
    assert [t.topic_authorized_operations for t in answer.topics] == [expected]
