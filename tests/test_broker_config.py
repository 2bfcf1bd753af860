"""A broker emulator from a broker's ``server.properties``: the library
(:func:`oauthbearer.config.broker_listener`, :func:`start_broker_validator`),
``oauthbearer broker --config`` and real Kafka clients over SASL_SSL with a CA
the test makes (tests/tls_ca.py).

The properties are Kafka's own shapes: the sample ``server.properties`` Kafka
ships (storage, KRaft, listeners), the listener-prefixed OAUTHBEARER settings,
the PEM key store on one line as the real broker's TLS listener reads it
(tests/conftest.py), and the very properties the real broker of the test
suite runs with (tests/real_kafka.py), read here without starting it.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import JwtValidator, UnsecuredJwsValidator
from oauthbearer.cli import main
from oauthbearer.config import (
    BrokerListener,
    Endpoint,
    broker_listener,
    start_broker_validator,
)
from oauthbearer.config.listener import CERTIFICATE_REMEDY, parse_endpoints
from oauthbearer.errors import ConfigurationError
from oauthbearer.kafka import ClientAuthenticated, ClientAuthenticationFailed
from oauthbearer.kafka.aio import authenticate
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing import TestIdentityProvider
from oauthbearer.unsecured import kafka_unsecured_login
from oauthbearer.validation.jwks_fetch import JwksFetchError
from tests.conftest import kafka_broker_properties
from tests.peers import missing_peer
from tests.real_kafka import KafkaBroker
from tests.test_kafka_broker import cli_broker, stop
from tests.tls_ca import LoopbackCa, make_ca

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from oauthbearer.kafka.broker import AuthenticationRecord

MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
TOPIC = "orders"
#: Kafka's sample config/server.properties (4.x, KRaft), which has no bearing
#: on a client's authentication: every key of it is left unread.
SAMPLE = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
"""
SAMPLE_KEYS = {line.partition("=")[0] for line in SAMPLE.splitlines()} - {"node.id"}


def server_properties(ca: LoopbackCa, *, extra: str = "") -> str:
    """A broker with two OAUTHBEARER listeners: SECURE (SASL_SSL, a PEM key
    store on one line each, as Kafka reads it) and PLAIN (SASL_PLAINTEXT)."""
    return (
        SAMPLE + "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,SECURE://127.0.0.1:0,"
        "PLAIN://127.0.0.1:0\n"
        "advertised.listeners=PLAINTEXT://localhost:9092,SECURE://127.0.0.1:0,"
        "PLAIN://127.0.0.1:0\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SECURE:SASL_SSL,PLAIN:SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms=OAUTHBEARER\n"
        "connection.failed.authentication.delay.ms=0\n"
        f"listener.name.secure.oauthbearer.sasl.jaas.config={MODULE} required "
        'unsecuredValidatorRequiredScope="kafka" ;\n'
        "listener.name.secure.oauthbearer.connections.max.reauth.ms=60000\n"
        "listener.name.secure.ssl.keystore.type=PEM\n"
        f"listener.name.secure.ssl.keystore.certificate.chain={ca.one_line(ca.server_chain_pem)}\n"
        f"listener.name.secure.ssl.keystore.key={ca.one_line(ca.server_key_pem)}\n"
        f"listener.name.plain.oauthbearer.sasl.jaas.config={MODULE} required ;\n" + extra
    )


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCa:
    return make_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def config(ca: LoopbackCa, tmp_path: Path) -> Path:
    path = tmp_path / "server.properties"
    path.write_text(server_properties(ca), encoding="latin-1")
    return path


def token(*, scope: str = "kafka", principal: str = "alice") -> str:
    options = {
        "unsecuredLoginStringClaim_sub": principal,
        "unsecuredLoginListClaim_scope": f",{scope}",
    }
    return kafka_unsecured_login(options, now=time.time()).token.value


def listener_of(properties: str, **options: Any) -> BrokerListener:
    from oauthbearer.config import parse_properties

    return broker_listener(parse_properties(properties), **options)


# --- Reading a listener ----------------------------------------------------------------------


def test_a_sasl_ssl_listener_reads_as_kafka_reads_it(config: Path) -> None:
    listener = broker_listener(config, listener="secure")
    assert (listener.name, listener.security_protocol) == ("secure", "SASL_SSL")
    assert (listener.host, listener.port) == ("127.0.0.1", 0)
    assert (listener.advertised_host, listener.advertised_port) == ("127.0.0.1", 0)
    assert listener.unsecured
    assert listener.max_reauth_ms == 60_000
    assert listener.failed_authentication_delay_s == 0
    assert listener.node_id == 1
    assert listener.tls is not None
    assert listener.tls.source == (
        "listener.name.secure.ssl.keystore.certificate.chain and "
        "listener.name.secure.ssl.keystore.key"
    )
    assert (listener.tls.minimum_version, listener.tls.maximum_version) == ("TLSv1.2", "TLSv1.3")
    assert "PRIVATE KEY" not in repr(listener)  # the key never shows
    # Kafka's sample settings, and the other listener's, are not this listener's.
    assert set(listener.unread) >= SAMPLE_KEYS
    assert "listener.name.plain.oauthbearer.sasl.jaas.config" in listener.unread
    assert "listener.name.secure.ssl.keystore.key" not in listener.unread


def test_a_sasl_plaintext_listener_has_no_tls(config: Path) -> None:
    listener = broker_listener(config, listener="PLAIN")
    assert (listener.name, listener.security_protocol, listener.tls) == (
        "plain",
        "SASL_PLAINTEXT",
        None,
    )
    assert listener.max_reauth_ms is None  # Kafka's 0: the token's lifetime alone


def test_two_listeners_need_a_choice(config: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        broker_listener(config)
    assert "several listeners configure OAUTHBEARER (plain, secure)" in str(refused.value)
    assert refused.value.remedy == "listener=NAME"


def test_the_real_brokers_properties_read_listener_by_listener(ca: LoopbackCa) -> None:
    # The very server.properties the real broker of the suite runs with.
    with TestIdentityProvider() as idp:
        real = KafkaBroker(
            version="4.4.0",
            listeners={
                **dict.fromkeys(("UNSECURED", "OPTIONS", "REAUTH", "JWT"), "SASL_PLAINTEXT"),
                "TLS": "SASL_SSL",
            },
            properties={**kafka_broker_properties(idp), **ca.kafka_listener_properties("TLS")},
        )
        properties = real.properties
        seen = {}
        for name in ("unsecured", "options", "reauth", "jwt", "tls"):
            listener = broker_listener(properties, listener=name, allow_insecure_loopback=True)
            assert listener.port == real.ports[name.upper()]
            assert (listener.advertised_host, listener.advertised_port) == (
                "127.0.0.1",
                real.ports[name.upper()],
            )
            assert listener.failed_authentication_delay_s == 0
            seen[name] = (listener.security_protocol, listener.max_reauth_ms, listener.unsecured)
    assert seen == {
        "unsecured": ("SASL_PLAINTEXT", None, True),
        "options": ("SASL_PLAINTEXT", None, True),
        "reauth": ("SASL_PLAINTEXT", 5_000, True),
        "jwt": ("SASL_PLAINTEXT", None, False),
        "tls": ("SASL_SSL", None, True),
    }


def test_listen_replaces_the_address_and_a_wildcard_is_advertised_by_name(config: Path) -> None:
    listener = broker_listener(config, listener="plain", listen=("127.0.0.2", 19092))
    assert (listener.host, listener.port) == ("127.0.0.2", 19092)
    assert (listener.advertised_host, listener.advertised_port) == ("127.0.0.2", 0)
    listener = broker_listener(config, listener="plain", listen=("0.0.0.0", 0))  # noqa: S104
    assert listener.advertised_host == ""  # the emulator advertises the machine's name
    signed = listener_of(
        "listeners=SASL_PLAINTEXT://:9092\nsasl.enabled.mechanisms=OAUTHBEARER\n"
        f"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config={MODULE} required;\n"
        f"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}\n"
        "sasl.oauthbearer.jwks.endpoint.url=file:///nonexistent/jwks.json\n"
    )
    import socket

    emulator = BrokerEmulator.from_listener(signed)
    assert emulator.host == ""
    assert emulator.bootstrap == f"{socket.getfqdn()}:9092"


# Each setting the emulator cannot honour, or that Kafka refuses, names its key.
REFUSED = [
    (
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "authorizer.class.name cannot be honoured",
    ),
    (
        "listener.name.plain.principal.builder.class=com.example.Builder",
        "listener.name.plain.principal.builder.class cannot be honoured",
    ),
    (
        "max.connections.per.ip.overrides=10.0.0.1:5",
        "max.connections.per.ip.overrides cannot be honoured",
    ),
    (
        "listener.name.plain.max.connection.creation.rate=10",
        "listener.name.plain.max.connection.creation.rate cannot be honoured",
    ),
    ("max.connection.creation.rate=10", "max.connection.creation.rate cannot be honoured"),
    (
        "listener.name.plain.sasl.enabled.mechanisms=OAUTHBEARER,PLAIN",
        "listener.name.plain.sasl.enabled.mechanisms also enables 'PLAIN'",
    ),
    (
        "listener.name.plain.sasl.enabled.mechanisms=PLAIN",
        (
            "listener.name.plain.sasl.enabled.mechanisms enables 'PLAIN' on the listener PLAIN, "
            "not OAUTHBEARER"
        ),
    ),
    (
        "listener.name.plain.ssl.keystore.type=PEM",
        "listener.name.plain.ssl.keystore.type is set, but the listener PLAIN is SASL_PLAINTEXT",
    ),
    ("max.connections=0", "max.connections is 0"),
    ("connections.max.reauth.ms=-1", "connections.max.reauth.ms: the value is not a number >= 0"),
    (
        "listener.name.plain.sasl.server.max.receive.size=lots",
        "listener.name.plain.sasl.server.max.receive.size: the value is not a whole number",
    ),
]


@pytest.mark.parametrize(("line", "said"), REFUSED)
def test_what_cannot_be_honoured_is_refused_by_its_key(
    line: str, said: str, ca: LoopbackCa
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        listener_of(server_properties(ca, extra=line + "\n"), listener="plain")
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


ADDRESS_REFUSED = [
    ("plain", "listeners=PLAINTEXT://:9092\n", "listeners does not name the listener PLAIN"),
    (
        "plain",
        "listeners=PLAIN://127.0.0.1:9092,PLAIN://127.0.0.1:9093\n",
        "the listener 'PLAIN' is named twice",
    ),
    (
        "plain",
        "listeners=PLAIN//127.0.0.1:9092\n",
        "unable to parse 'PLAIN//127.0.0.1:9092' to a broker endpoint",
    ),
    ("plain", "listeners=PLAIN://127.0.0.1:99999\n", "has a port outside 0 to 65535"),
    (
        "plain",
        "listeners=PLAIN://127.0.0.1:9092\n",
        (
            "Kafka's default listener.security.protocol.map gives the listener PLAIN no "
            "security protocol"
        ),
    ),
    ("ssl", "listeners=SSL://127.0.0.1:9092\n", "makes the listener SSL SSL, which runs no SASL"),
    (
        "plain",
        "listeners=PLAIN://0.0.0.0:9092\nlistener.security.protocol.map=PLAIN:SASL_PLAINTEXT\n",
        "nonroutable meta-address 0.0.0.0",
    ),
    (
        "plain",
        "listeners=PLAIN://:9092\nadvertised.listeners=OTHER://h:1\nlistener.security.protocol.map=PLAIN:SASL_PLAINTEXT\n",
        "advertised.listeners does not name the listener PLAIN",
    ),
    (
        "plain",
        "listeners=PLAIN://:9092\nlistener.security.protocol.map=PLAIN:KERBEROS\n",
        "'KERBEROS' is not a security protocol",
    ),
    (
        "sasl_plaintext",
        "listeners=SASL_PLAINTEXT://:9092\n",
        "sasl.enabled.mechanisms (Kafka's default GSSAPI) enables 'GSSAPI'",
    ),
]


@pytest.mark.parametrize(("name", "lines", "said"), ADDRESS_REFUSED)
def test_an_address_or_mechanism_kafka_would_not_serve_is_refused(
    name: str, lines: str, said: str
) -> None:
    text = lines + f"listener.name.{name}.oauthbearer.sasl.jaas.config={MODULE} required;\n"
    if "GSSAPI" not in said:
        text += "sasl.enabled.mechanisms=OAUTHBEARER\n"
    with pytest.raises(ConfigurationError) as refused:
        listener_of(text, listener=name)
    assert said in str(refused.value)


# --- TLS key stores ----------------------------------------------------------------------------


def encrypted_key(ca: LoopbackCa, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(ca.server_key_pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def secure_only(ca: LoopbackCa, keystore: str) -> str:
    return (
        "listeners=SECURE://127.0.0.1:0\nlistener.security.protocol.map=SECURE:SASL_SSL\n"
        "sasl.enabled.mechanisms=OAUTHBEARER\n"
        f"listener.name.secure.oauthbearer.sasl.jaas.config={MODULE} required;\n" + keystore
    )


async def served_over_tls(listener: BrokerListener, ca: LoopbackCa) -> object:
    async with BrokerEmulator.from_listener(listener) as emulator:
        return await authenticate(
            "127.0.0.1",
            emulator.port,
            token(),
            ssl_context=ssl.create_default_context(cafile=ca.ca_file),
        )


def test_every_pem_key_store_form_serves(ca: LoopbackCa, tmp_path: Path) -> None:
    store = tmp_path / "listener.pem"
    store.write_bytes(encrypted_key(ca, b"k3y-pass") + ca.server_chain_pem)
    certfile, keyfile = tmp_path / "chain.pem", tmp_path / "key.pem"
    certfile.write_bytes(ca.server_chain_pem)
    keyfile.write_bytes(ca.server_key_pem)
    inline_encrypted = (
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.certificate.chain={ca.one_line(ca.server_chain_pem)}\n"
        f"ssl.keystore.key={ca.one_line(encrypted_key(ca, b'inline-pass'))}\n"
        "ssl.key.password=inline-pass\n"
    )
    forms = {
        "inline, one line": listener_of(
            secure_only(
                ca, "\n".join(f"{k}={v}" for k, v in ca.kafka_listener_properties("SECURE").items())
            )
        ),
        "inline, encrypted": listener_of(secure_only(ca, inline_encrypted)),
        "location": listener_of(
            secure_only(
                ca,
                f"ssl.keystore.type=pem\nssl.keystore.location={store}\nssl.key.password=k3y-pass\n",
            )
        ),
        "certfile and keyfile": listener_of(
            secure_only(ca, "ssl.keystore.type=JKS\n"), certfile=certfile, keyfile=keyfile
        ),
    }
    for form, listener in forms.items():
        outcome = asyncio.run(served_over_tls(listener, ca))
        assert isinstance(outcome, ClientAuthenticated), form


KEYSTORE_REFUSED = [
    ("", "ssl.keystore.type is unset (Kafka's default is JKS)"),
    (
        "ssl.keystore.type=JKS\nssl.keystore.location=/etc/kafka/broker.jks\nssl.keystore.password=changeit\n",
        "ssl.keystore.type is 'JKS'",
    ),
    ("ssl.keystore.type=PKCS12\n", "ssl.keystore.type is 'PKCS12'"),
    ("ssl.keystore.type=PEM\n", "neither ssl.keystore.location nor ssl.keystore.certificate.chain"),
    (
        "ssl.keystore.type=PEM\nssl.keystore.location=/x.pem\n",
        "ssl.keystore.location is a PEM key store, but ssl.key.password is not set",
    ),
    (
        "ssl.keystore.type=PEM\nssl.keystore.location=/x.pem\nssl.keystore.password=p\n",
        "ssl.keystore.password is set, but a PEM key store has no password",
    ),
    (
        "ssl.keystore.type=PEM\nssl.keystore.key=K\n",
        "ssl.keystore.key is set, but ssl.keystore.certificate.chain is not",
    ),
    (
        "ssl.keystore.type=PEM\nssl.keystore.certificate.chain=C\n",
        "ssl.keystore.certificate.chain is set, but ssl.keystore.key is not",
    ),
    (
        "listener.name.secure.ssl.client.auth=required\n",
        "listener.name.secure.ssl.client.auth cannot be honoured",
    ),
    ("ssl.cipher.suites=TLS_AES_128_GCM_SHA256\n", "ssl.cipher.suites cannot be honoured"),
    (
        "ssl.engine.factory.class=com.example.Engine\n",
        "ssl.engine.factory.class cannot be honoured",
    ),
    (
        "ssl.enabled.protocols=TLSv1.1,TLSv1.2\n",
        (
            "ssl.enabled.protocols cannot be honoured: the emulator serves TLSv1.2 and TLSv1.3 "
            "only, not 'TLSv1.1'"
        ),
    ),
    ("ssl.protocol=SSLv3\n", "ssl.protocol cannot be honoured"),
]


@pytest.mark.parametrize(("lines", "said"), KEYSTORE_REFUSED)
def test_a_key_store_the_emulator_cannot_read_is_refused_by_its_key(
    lines: str, said: str, ca: LoopbackCa
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        listener_of(secure_only(ca, lines))
    assert said in str(refused.value)
    assert "changeit" not in str(refused.value)


def test_a_jks_key_store_names_the_files_that_stand_in(ca: LoopbackCa) -> None:
    with pytest.raises(ConfigurationError) as refused:
        listener_of(secure_only(ca, "ssl.keystore.type=JKS\n"))
    assert refused.value.remedy == CERTIFICATE_REMEDY
    assert refused.value.worded_for({CERTIFICATE_REMEDY: "--certfile and --keyfile"}).endswith(
        "give the certificate and key as PEM files with --certfile and --keyfile"
    )


def test_the_key_and_its_password_never_show(ca: LoopbackCa) -> None:
    wrong = (
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.certificate.chain={ca.one_line(ca.server_chain_pem)}\n"
        f"ssl.keystore.key={ca.one_line(encrypted_key(ca, b'right-pass'))}\n"
        "ssl.key.password=wrong-pass\n"
    )
    listener = listener_of(secure_only(ca, wrong))
    assert "wrong-pass" not in repr(listener)
    with pytest.raises(ConfigurationError) as refused:
        BrokerEmulator.from_listener(listener)
    message = str(refused.value)
    assert message.startswith("ssl.keystore.certificate.chain and ssl.keystore.key:")
    assert "wrong-pass" not in message
    assert "PRIVATE" not in message
    secret_body = ca.one_line(ca.server_key_pem).split()[3]
    unencrypted_with_password = secure_only(
        ca,
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.certificate.chain={ca.one_line(ca.server_chain_pem)}\n"
        f"ssl.keystore.key={ca.one_line(ca.server_key_pem)}\nssl.key.password=p\n",
    )
    with pytest.raises(ConfigurationError, match="not an encrypted PKCS#8 key") as refused:
        listener_of(unencrypted_with_password)
    assert secret_body not in str(refused.value)


def test_tls_versions_follow_the_enabled_protocols(ca: LoopbackCa) -> None:
    base = "\n".join(f"{k}={v}" for k, v in ca.kafka_listener_properties("SECURE").items())
    listener = listener_of(secure_only(ca, base + "\nssl.enabled.protocols=TLSv1.3\n"))
    assert listener.tls is not None
    assert (listener.tls.minimum_version, listener.tls.maximum_version) == ("TLSv1.3", "TLSv1.3")
    listener = listener_of(secure_only(ca, base + "\nssl.protocol=TLSv1.2\n"))
    assert listener.tls is not None
    assert listener.tls.maximum_version == "TLSv1.2"


# --- Properties, generated ----------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True)
HOSTS = st.sampled_from(["", "localhost", "kafka-1.example", "10.0.0.7", "::1", "fe80::1%eth0"])
SPACE = st.sampled_from(["", " ", "\t", " \n "])


@given(
    st.lists(st.tuples(NAMES, HOSTS, st.integers(0, 65_535)), max_size=6, unique_by=lambda e: e[0]),
    SPACE,
)
def test_endpoints_read_back_whatever_the_spacing(
    entries: list[tuple[str, str, int]], space: str
) -> None:
    text = f"{space},{space}".join(
        f"{name}://{f'[{host}]' if ':' in host else host}:{port}" for name, host, port in entries
    )
    assert parse_endpoints("listeners", f"{space}{text}{space}") == tuple(
        Endpoint(name, host, port) for name, host, port in entries
    )


@given(st.text(max_size=60))
def test_any_listeners_text_gives_endpoints_or_a_named_refusal(text: str) -> None:
    try:
        endpoints = parse_endpoints("listeners", text)
    except ConfigurationError as refused:
        assert str(refused).startswith("listeners: ")
    else:
        assert all(0 <= e.port <= 65_535 and e.listener == e.listener.upper() for e in endpoints)


KEYS = st.sampled_from(
    [
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "sasl.enabled.mechanisms",
        "listener.name.x.sasl.enabled.mechanisms",
        "connections.max.reauth.ms",
        "listener.name.x.oauthbearer.connections.max.reauth.ms",
        "connections.max.idle.ms",
        "connection.failed.authentication.delay.ms",
        "max.connections",
        "listener.name.x.max.connections",
        "max.connections.per.ip",
        "socket.request.max.bytes",
        "socket.listen.backlog.size",
        "sasl.server.max.receive.size",
        "node.id",
        "ssl.keystore.type",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.location",
        "ssl.key.password",
        "ssl.enabled.protocols",
        "ssl.protocol",
        "listener.name.x.ssl.client.auth",
        "authorizer.class.name",
        "log.dirs",
    ]
)
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["X://127.0.0.1:0", "X:SASL_SSL", "X:SASL_PLAINTEXT", "OAUTHBEARER", "PEM", "0", "-1"]
    ),
    st.integers(-5, 10**12).map(str),
)


@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_any_properties_give_a_listener_or_a_configuration_error(
    extra: dict[str, str],
) -> None:
    properties = {
        "listeners": "X://127.0.0.1:0",
        "listener.security.protocol.map": "X:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.x.oauthbearer.sasl.jaas.config": f"{MODULE} required;",
        **extra,
    }
    for key in ("ssl.key.password", "ssl.keystore.key"):
        if key in properties:  # a secret: marked, so that a message showing it is caught
            properties[key] = "S3CR3T" + properties[key]
    try:
        listener = broker_listener(properties, listener="x")
    except ConfigurationError as refused:
        assert "S3CR3T" not in str(refused)
    else:
        assert listener.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")
        assert 0 <= listener.port <= 65_535


# --- The one call to a started validator -----------------------------------------------------


def test_start_broker_validator_fetches_and_refreshes_the_keys(tmp_path: Path) -> None:
    with TestIdentityProvider() as idp:
        path = tmp_path / "server.properties"
        path.write_text(
            "listeners=SASL_SSL://:9093\nsasl.enabled.mechanisms=OAUTHBEARER\n"
            f"listener.name.sasl_ssl.oauthbearer.sasl.jaas.config={MODULE} required ;\n"
            f"listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}\n"
            f"listener.name.sasl_ssl.sasl.oauthbearer.jwks.endpoint.url={idp.jwks_uri}\n"
            f"sasl.oauthbearer.expected.issuer={idp.issuer}\n"
            # A gone IdP is given up on within 0.3 s.
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms=50\n"
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=300\n",
            encoding="latin-1",
        )
        value = idp.mint_token("orders", scope="kafka")
        with start_broker_validator(path, allow_insecure_loopback=True) as broker:
            assert isinstance(broker.validator, JwtValidator)
            assert broker.refresher is not None
            assert broker.refresher.cache.key_set is not None  # fetched before returning
            assert broker.validator.validate(value, now=time.time()).principal == "orders"
        with pytest.raises(ConfigurationError, match="allow_insecure_loopback=True"):
            start_broker_validator(path)
    with pytest.raises(JwksFetchError, match=r"JWKS request to http://127\.0\.0\.1:"):
        start_broker_validator(path, allow_insecure_loopback=True)  # the IdP is gone


def test_start_broker_validator_on_an_unsecured_listener_starts_nothing(config: Path) -> None:
    broker = start_broker_validator(config, listener="plain")
    assert broker.refresher is None
    assert isinstance(broker.validator, UnsecuredJwsValidator)
    broker.close()


# --- oauthbearer broker --config ------------------------------------------------------------


@pytest.fixture
def secure_broker(config: Path) -> Iterator[tuple[Any, int]]:
    with cli_broker("--config", str(config), "--listener", "secure", "--topic", TOPIC) as running:
        yield running


def test_the_cli_serves_sasl_ssl_from_server_properties(
    secure_broker: tuple[Any, int], ca: LoopbackCa
) -> None:
    proc, port = secure_broker
    context = ssl.create_default_context(cafile=ca.ca_file)
    ok = asyncio.run(authenticate("127.0.0.1", port, token(), metadata=True, ssl_context=context))
    assert isinstance(ok, ClientAuthenticated)
    assert ok.session_lifetime_ms == 60_000  # connections.max.reauth.ms of the listener
    refused = asyncio.run(authenticate("127.0.0.1", port, token(scope="x"), ssl_context=context))
    assert isinstance(refused, ClientAuthenticationFailed)
    with pytest.raises(ConnectionError):  # a plaintext client on the SASL_SSL listener
        asyncio.run(authenticate("127.0.0.1", port, token()))
    out, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port} (SASL_SSL)" in err
    assert "not read from" in err
    assert "log.dirs" in err
    assert "authenticated peer=" in err
    assert "insufficient_scope" in err
    assert "WRONG_VERSION_NUMBER: the client does not speak TLS" in err
    assert "PRIVATE KEY" not in out + err


def client_module(name: str, hint: str) -> Any:
    import importlib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name)
    except ImportError:
        missing_peer(name, hint)


def test_kafka_python_over_sasl_ssl(secure_broker: tuple[Any, int], ca: LoopbackCa) -> None:
    kafka = client_module("kafka", "pip install kafka-python")
    from oauthbearer.integrations.kafka_python import kafka_python_token_provider

    proc, port = secure_broker
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=f"127.0.0.1:{port}",
        security_protocol="SASL_SSL",
        ssl_cafile=str(ca.ca_file),
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=kafka_python_token_provider(_token_source),
        request_timeout_ms=3_000,
        bootstrap_timeout_ms=3_000,
    )
    try:
        assert TOPIC in consumer.topics()
    finally:
        consumer.close()
    _, err = stop(proc, signal.SIGTERM)
    assert "authenticated peer=127.0.0.1:" in err


def test_confluent_kafka_over_sasl_ssl(secure_broker: tuple[Any, int], ca: LoopbackCa) -> None:
    confluent_kafka = client_module("confluent_kafka", "pip install confluent-kafka")
    from oauthbearer.integrations.confluent_kafka import confluent_kafka_config

    proc, port = secure_broker
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": f"127.0.0.1:{port}",
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(ca.ca_file),
            **confluent_kafka_config(_token_source),
        }
    )
    metadata = producer.list_topics(timeout=5)
    assert TOPIC in metadata.topics
    producer.flush(1)
    _, err = stop(proc, signal.SIGTERM)
    assert "authenticated peer=127.0.0.1:" in err


def _token_source() -> Any:
    options = {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginListClaim_scope": ",kafka"}
    return kafka_unsecured_login(options, now=time.time()).token


CLI_REFUSED = [
    (["--jwks", "jwks.json"], "with --config, the properties choose the validator"),
    (["--issuer", "https://idp"], "--issuer: with --config, the properties choose the validator"),
    (["--max-reauth-ms", "5"], "--max-reauth-ms: with --config, set connections.max.reauth.ms"),
    (["--max-connections", "5"], "--max-connections: with --config, set max.connections"),
    (["--listener", "plain", "--certfile", "c.pem"], "the listener PLAIN is SASL_PLAINTEXT"),
    (["--listener", "plain", "--listen", "0.0.0.0:0"], "pass --allow-unsecured-on-network"),
    (["--listener", "nope"], "listener.name.nope.oauthbearer.sasl.jaas.config is not set"),
    ([], "choose one with --listener NAME"),
]


@pytest.mark.parametrize(("options", "said"), CLI_REFUSED)
def test_the_cli_refuses_by_flag_and_key(
    options: list[str], said: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["broker", "--config", str(config), *options])
    except SystemExit as exited:
        code = exited.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "allow_" not in err
    assert "listener=" not in err


def test_the_cli_names_a_missing_config_and_a_jks_key_store(
    tmp_path: Path, ca: LoopbackCa, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.properties"
    with pytest.raises(SystemExit):
        main(["broker", "--config", str(missing)])
    assert f"--config {missing}: No such file or directory" in capsys.readouterr().err
    jks = tmp_path / "jks.properties"
    jks.write_text(secure_only(ca, "ssl.keystore.type=JKS\n"), encoding="latin-1")
    assert main(["broker", "--config", str(jks)]) == 2
    assert "with --certfile and --keyfile" in capsys.readouterr().err


def test_the_cli_serves_tls_from_certfile_and_keyfile(tmp_path: Path, ca: LoopbackCa) -> None:
    certfile, keyfile = tmp_path / "chain.pem", tmp_path / "key.pem"
    certfile.write_bytes(ca.server_chain_pem)
    keyfile.write_bytes(ca.server_key_pem)
    with cli_broker("--certfile", str(certfile), "--keyfile", str(keyfile)) as (proc, port):
        context = ssl.create_default_context(cafile=ca.ca_file)
        ok = asyncio.run(authenticate("127.0.0.1", port, token(), ssl_context=context))
        assert isinstance(ok, ClientAuthenticated)
        _, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port} (SASL_SSL)" in err


def test_the_emulator_and_its_records_from_python(config: Path, ca: LoopbackCa) -> None:
    # What examples/broker_from_server_properties.py does, in a test.
    records: list[AuthenticationRecord] = []
    listener = broker_listener(config, listener="secure")

    async def run() -> object:
        with listener.validation:
            emulator = BrokerEmulator.from_listener(
                listener, topics=[TOPIC], on_authentication=records.append
            )
            async with emulator as b:
                return await authenticate(
                    "127.0.0.1",
                    b.port,
                    token(),
                    ssl_context=ssl.create_default_context(cafile=ca.ca_file),
                )

    assert isinstance(asyncio.run(run()), ClientAuthenticated)
    assert [(r.outcome, r.principal) for r in records] == [("authenticated", "alice")]


def test_the_cli_names_a_missing_certificate_and_a_lone_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "chain.pem"
    assert main(["broker", "--listen", "127.0.0.1:0", "--certfile", str(missing)]) == 2
    assert f"--certfile: {missing}: No such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["broker", "--keyfile", str(missing)])
    assert "--keyfile needs --certfile" in capsys.readouterr().err
