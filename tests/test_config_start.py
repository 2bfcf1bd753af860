"""From client properties to a running login in one call, and the HTTP plumbing under it:
:mod:`oauthbearer.config.start`, :class:`~oauthbearer.http.options.HttpOptions`, the
Kafka trust store settings, TLS end to end against the test IdP over HTTPS (with a CA
made here), and the proxy environment variables."""

from __future__ import annotations

import asyncio
import base64
import select
import socket
import socketserver
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer.cli import main
from oauthbearer.config import (
    ClientCredentialsConfig,
    async_token_provider,
    broker_validator,
    client_login,
    client_token_source,
    confluent_kafka_settings,
    kafka_python_settings,
    token_provider,
)
from oauthbearer.config._settings import pem_certificates
from oauthbearer.errors import ConfigurationError
from oauthbearer.http.options import HttpOptions, load_ca_context
from oauthbearer.http.transport import HttpResponse, http_request
from oauthbearer.login import TokenEndpointError, TokenProvider
from oauthbearer.login.http import discover
from oauthbearer.login.sources import client_credentials_provider
from oauthbearer.testing.idp import TestIdentityProvider
from oauthbearer.unsecured import UnsecuredLogin
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.jwks_fetch import JwksRefresher
from tests.test_interop_kafka import client_module
from tests.tls_ca import LoopbackCa, make_ca

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

PKG = "org.apache.kafka.common.security.oauthbearer."
MODULE = PKG + "OAuthBearerLoginModule required"
LOGIN_HANDLER = PKG + "OAuthBearerLoginCallbackHandler"
SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCa:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_idp(
    ca: LoopbackCa, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestIdentityProvider]:
    """The test IdP speaking HTTPS only, with a certificate of the test CA."""
    context = ca.server_context(tmp_path_factory.mktemp("idp-tls"))
    with TestIdentityProvider(ssl_context=context) as idp:
        idp.add_client("orders", SECRET, scopes=("kafka",))
        yield idp


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", SECRET, scopes=("kafka",))
        yield provider


def cc_properties(
    idp: TestIdentityProvider, *, jaas_extra: str = "", **extra: str
) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.login.callback.handler.class": LOGIN_HANDLER,
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.jaas.config": (
            f'{MODULE} clientId="orders" clientSecret="{SECRET}" scope="kafka" '
            f'extension_traceId="t1" {jaas_extra};'
        ),
        **extra,
    }


# --- HttpOptions -----------------------------------------------------------------------------


def test_http_options_refuse_two_trusts_and_bad_values(ca: LoopbackCa) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        HttpOptions(ssl_context=ssl.create_default_context(), cafile=str(ca.ca_file))
    with pytest.raises(ConfigurationError, match="timeout_s"):
        HttpOptions(timeout_s=0)
    with pytest.raises(ConfigurationError, match="cafile"):
        HttpOptions(cafile=" ")


def test_a_missing_or_bad_ca_file_is_named_at_once(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError, match=f"CA file {missing}: no such file"):
        HttpOptions(cafile=str(missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match="no PEM certificate") as info:
        HttpOptions(cafile=str(garbage))
    assert "c2VjcmV0" not in str(info.value)


def test_a_ca_bundle_replaces_the_system_trust(ca: LoopbackCa) -> None:
    context = load_ca_context(cafile=str(ca.ca_file))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1


def test_what_is_set_wins_over_a_configurations_defaults(ca: LoopbackCa) -> None:
    own = HttpOptions(timeout_s=3.0, ssl_context=ssl.create_default_context())
    merged = own.with_defaults(timeout_s=9.0, cafile=str(ca.ca_file))
    assert merged is own
    filled = HttpOptions().with_defaults(timeout_s=9.0, cafile=str(ca.ca_file))
    assert filled.timeout_s == 9.0
    assert filled.cafile == str(ca.ca_file)
    assert filled.context is not None


def test_a_transport_of_ones_own_makes_every_attempt(idp: TestIdentityProvider) -> None:
    seen: list[tuple[str, str, float]] = []

    def transport(method: str, url: str, **kwargs: Any) -> HttpResponse:
        seen.append((method, url, kwargs["timeout_s"]))
        return http_request(method, url, **kwargs)

    options = HttpOptions(timeout_s=4.0, transport=transport)
    with token_provider(cc_properties(idp), http=options, allow_insecure_loopback=True) as p:
        assert p.token().principal == "orders"
    assert seen == [("POST", idp.token_endpoint, 4.0)]


# --- One call, whatever the login ------------------------------------------------------------


def test_client_login_needs_no_now(idp: TestIdentityProvider) -> None:
    unsecured = client_login(
        {"sasl.jaas.config": f'{MODULE} unsecuredLoginStringClaim_sub="alice";'}
    )
    assert isinstance(unsecured, UnsecuredLogin)
    assert abs(unsecured.token.lifetime_ms / 1000 - (time.time() + 3600)) < 5


def test_client_credentials_from_a_properties_file(
    idp: TestIdentityProvider, tmp_path: Path
) -> None:
    path = tmp_path / "client.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in cc_properties(idp).items()))
    source = client_token_source(path, allow_insecure_loopback=True)
    assert isinstance(source.login, ClientCredentialsConfig)
    assert dict(source.extensions) == {"traceId": "t1"}
    with token_provider(path, allow_insecure_loopback=True) as provider:
        assert isinstance(provider, TokenProvider)
        assert provider.token().principal == "orders"
        assert "kafka" in provider.token().scope


def test_a_missing_properties_or_jaas_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "client.properties"
    with pytest.raises(ConfigurationError, match=f"properties file {missing}: no such file"):
        token_provider(missing)
    props = {"sasl.mechanism": "OAUTHBEARER"}
    with pytest.raises(ConfigurationError, match=r"JAAS file .*jaas\.conf: no such file"):
        token_provider(props, jaas_file=tmp_path / "jaas.conf")


def test_the_unsecured_login_makes_a_new_token_at_every_fetch(tmp_path: Path) -> None:
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(
        f'KafkaClient {{ {MODULE} unsecuredLoginStringClaim_sub="alice" '
        'unsecuredLoginLifetimeSeconds="600" unsecuredLoginExtension_team="blue"; };\n'
    )
    times = iter([1_000.0, 2_000.0, 3_000.0])
    source = client_token_source(
        {"sasl.mechanism": "OAUTHBEARER"}, jaas_file=jaas, clock=lambda: next(times)
    )
    assert dict(source.extensions) == {"team": "blue"}
    first, second = source.fetch(), source.fetch()
    assert (first.lifetime_ms, second.lifetime_ms) == (2_600_000, 3_600_000)
    assert first.principal == "alice"
    with token_provider({"sasl.mechanism": "OAUTHBEARER"}, jaas_file=jaas) as provider:
        assert provider.token().principal == "alice"


def test_a_token_file_login(idp: TestIdentityProvider, tmp_path: Path) -> None:
    token = idp.mint_token("svc-file", scope="kafka")
    path = tmp_path / "token.jwt"
    path.write_text(token + "\n")
    props = {
        "sasl.login.callback.handler.class": LOGIN_HANDLER,
        "sasl.oauthbearer.token.endpoint.url": path.as_uri(),
        "sasl.jaas.config": f"{MODULE};",
    }
    with token_provider(props) as provider:
        assert provider.token().value == token


def test_the_jwt_bearer_grant(idp: TestIdentityProvider, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    idp.add_client(
        "assertive",
        public_key_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        scopes=("kafka",),
    )
    key_file = tmp_path / "client.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    props = {
        "sasl.login.callback.handler.class": LOGIN_HANDLER,
        "sasl.oauthbearer.jwt.retriever.class": PKG + "JwtBearerJwtRetriever",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.oauthbearer.assertion.private.key.file": str(key_file),
        "sasl.oauthbearer.assertion.algorithm": "ES256",
        "sasl.oauthbearer.assertion.claim.iss": "assertive",
        "sasl.oauthbearer.assertion.claim.sub": "svc-bearer",
        "sasl.oauthbearer.assertion.claim.aud": idp.token_endpoint,
        "sasl.jaas.config": f"{MODULE};",
    }
    with token_provider(props, allow_insecure_loopback=True) as provider:
        assert provider.token().principal == "svc-bearer"


def test_the_asyncio_provider_is_started(idp: TestIdentityProvider) -> None:
    async def main() -> str:
        provider = await async_token_provider(cc_properties(idp), allow_insecure_loopback=True)
        async with provider:
            return provider.token().principal

    assert asyncio.run(main()) == "orders"


def test_a_wrong_secret_fails_the_one_call(idp: TestIdentityProvider) -> None:
    props = cc_properties(idp)
    props["sasl.jaas.config"] = props["sasl.jaas.config"].replace(SECRET, "wrong-one")
    with pytest.raises(TokenEndpointError, match="invalid_client") as info:
        token_provider(props, allow_insecure_loopback=True)
    assert "wrong-one" not in str(info.value)


# --- Kafka's trust store settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("jaas_extra", "problem"),
    [
        ('ssl.truststore.location="/x.jks"', "ssl.truststore.type JKS, Kafka's default"),
        (
            'ssl.truststore.type="PKCS12" ssl.truststore.location="/x.p12"',
            "ssl.truststore.type PKCS12: only PEM",
        ),
        (
            'ssl.truststore.type="PEM" ssl.truststore.location="/x" ssl.truststore.password="p"',
            "refuses a password",
        ),
        (
            (
                'ssl.truststore.type="PEM" ssl.truststore.location="/x" '
                'ssl.truststore.certificates="-----BEGIN CERTIFICATE----- AA== '
                '-----END CERTIFICATE-----"'
            ),
            "both set",
        ),
        ('ssl.truststore.type="PEM" ssl.truststore.certificates="hello"', "no PEM certificate"),
        ('ssl.keystore.location="/client.pem"', "'ssl.keystore.location' is not read here"),
        ('ssl.endpoint.identification.algorithm=""', "only"),
    ],
)
def test_trust_store_settings_that_cannot_be_honoured_are_refused(
    idp: TestIdentityProvider, jaas_extra: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        client_login(cc_properties(idp, jaas_extra=jaas_extra), allow_insecure_loopback=True)


def test_a_trust_store_on_a_login_without_https_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="makes no HTTPS call"):
        client_login(
            {
                "sasl.jaas.config": f'{MODULE} unsecuredLoginStringClaim_sub="a" '
                'ssl.truststore.type="PEM" ssl.truststore.location="/ca.pem";'
            }
        )


def test_the_trust_store_location_reaches_the_token_endpoint(
    tls_idp: TestIdentityProvider, ca: LoopbackCa
) -> None:
    jaas = f'ssl.truststore.type="PEM" ssl.truststore.location="{ca.ca_file}"'
    config = client_login(cc_properties(tls_idp, jaas_extra=jaas))
    assert isinstance(config, ClientCredentialsConfig)
    assert config.ca_file == str(ca.ca_file)
    with token_provider(cc_properties(tls_idp, jaas_extra=jaas)) as provider:
        assert provider.token().principal == "orders"


def test_one_line_pem_certificates_as_kafka_reads_them(
    tls_idp: TestIdentityProvider, ca: LoopbackCa
) -> None:
    jaas = (
        f'ssl.truststore.type="PEM" ssl.truststore.certificates="{LoopbackCa.one_line(ca.ca_pem)}"'
    )
    config = client_login(cc_properties(tls_idp, jaas_extra=jaas))
    assert isinstance(config, ClientCredentialsConfig)
    assert config.ca_certificates is not None
    assert "ca_certificates" not in repr(config)
    with token_provider(cc_properties(tls_idp, jaas_extra=jaas)) as provider:
        assert provider.token().principal == "orders"


def test_without_the_ca_the_certificate_does_not_verify(tls_idp: TestIdentityProvider) -> None:
    with pytest.raises(TokenEndpointError, match="certificate does not verify") as info:
        token_provider(cc_properties(tls_idp))
    assert not info.value.retryable


def test_http_options_give_the_ca_to_every_https_api(
    tls_idp: TestIdentityProvider, ca: LoopbackCa
) -> None:
    http = HttpOptions(cafile=str(ca.ca_file), timeout_s=5.0)
    # A token provider made from a config object...
    config = client_login(cc_properties(tls_idp))
    assert isinstance(config, ClientCredentialsConfig)
    with client_credentials_provider(config, http=http).start() as provider:
        token = provider.token().value
    # ...discovery...
    assert discover(tls_idp.issuer, http=http).token_endpoint == tls_idp.token_endpoint
    # ...the JWKS refresher...
    refresher = JwksRefresher.for_url(tls_idp.jwks_uri, http=http)
    refresher.refresh()
    assert refresher.cache.key_set is not None
    assert len(refresher.cache.key_set) == len(tls_idp.jwks["keys"])
    # ...introspection...
    validator = IntrospectionValidator(
        tls_idp.introspection_endpoint,
        client_id="orders",
        client_secret=SECRET,
        http=HttpOptions(ssl_context=load_ca_context(cadata=ca.ca_pem.decode())),
    )
    assert validator.validate(token, now=time.time()).principal == "orders"
    # ...and without the CA, each of them refuses the certificate.
    with pytest.raises(Exception, match="certificate does not verify"):
        JwksRefresher.for_url(tls_idp.jwks_uri).refresh()


def test_the_broker_validator_reads_the_listeners_trust_store(
    tls_idp: TestIdentityProvider, ca: LoopbackCa
) -> None:
    props = {
        "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": (
            f'{MODULE} ssl.truststore.type="PEM" ssl.truststore.location="{ca.ca_file}";'
        ),
        "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class": (
            PKG + "OAuthBearerValidatorCallbackHandler"
        ),
        "listener.name.sasl_ssl.sasl.oauthbearer.jwks.endpoint.url": tls_idp.jwks_uri,
    }
    built = broker_validator(props)
    assert built.refresher is not None
    built.refresher.refresh()
    token = tls_idp.mint_token("alice", scope="kafka")
    assert built.validator.validate(token, now=time.time()).principal == "alice"
    # The same listener without its trust store: the certificate does not verify.
    del props["listener.name.sasl_ssl.oauthbearer.sasl.jaas.config"]
    props["listener.name.sasl_ssl.oauthbearer.sasl.jaas.config"] = f"{MODULE};"
    bare = broker_validator(props)
    assert bare.refresher is not None
    with pytest.raises(Exception, match="certificate does not verify"):
        bare.refresher.refresh()
    # ...unless given as HttpOptions.
    given = broker_validator(props, http=HttpOptions(cafile=str(ca.ca_file)))
    assert given.refresher is not None
    given.refresher.refresh()


# --- Proxies: the environment variables are honoured ------------------------------------------


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy on loopback that records what it was asked to reach."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ConnectHandler)
        self.targets: list[str] = []


class _ConnectHandler(socketserver.StreamRequestHandler):
    server: _ConnectProxy

    def handle(self) -> None:
        line = self.rfile.readline().decode("latin-1")
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        method, target, _ = line.split(" ", 2)
        self.server.targets.append(f"{method} {target}")
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            sockets = [self.connection, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)


@pytest.fixture
def proxy() -> Iterator[_ConnectProxy]:
    server = _ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _proxied_fetch(
    monkeypatch: pytest.MonkeyPatch,
    proxy: _ConnectProxy,
    tls_idp: TestIdentityProvider,
    ca: LoopbackCa,
    env: Mapping[str, str],
) -> str:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(
            name, value.replace("PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        )
    with token_provider(
        cc_properties(tls_idp), http=HttpOptions(cafile=str(ca.ca_file))
    ) as provider:
        return provider.token().principal


def test_https_proxy_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
    proxy: _ConnectProxy,
    tls_idp: TestIdentityProvider,
    ca: LoopbackCa,
) -> None:
    assert _proxied_fetch(monkeypatch, proxy, tls_idp, ca, {"HTTPS_PROXY": "PROXY"}) == "orders"
    port = tls_idp.issuer.rsplit(":", 1)[1]
    assert proxy.targets == [f"CONNECT 127.0.0.1:{port}"]


def test_no_proxy_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
    proxy: _ConnectProxy,
    tls_idp: TestIdentityProvider,
    ca: LoopbackCa,
) -> None:
    env = {"HTTPS_PROXY": "PROXY", "NO_PROXY": "127.0.0.1"}
    assert _proxied_fetch(monkeypatch, proxy, tls_idp, ca, env) == "orders"
    assert proxy.targets == []


# --- The clients' constructor arguments ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"security.protocol": None}, "security.protocol is unset"),
        ({"security.protocol": "PLAINTEXT"}, "security.protocol is not SASL"),
        ({"sasl.mechanism": None}, "sasl.mechanism is unset"),
        (
            {"ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem"},
            "security.protocol is SASL_PLAINTEXT",
        ),
        ({"security.protocol": "SASL_SSL", "ssl.truststore.location": "/ts.jks"}, "only PEM"),
    ],
)
def test_connection_settings_that_cannot_work_are_refused(
    idp: TestIdentityProvider, change: dict[str, str | None], problem: str
) -> None:
    props: dict[str, str] = cc_properties(idp, **{"bootstrap.servers": "127.0.0.1:9"})
    for key, value in change.items():
        if value is None:
            props.pop(key)
        else:
            props[key] = value
    for make in (kafka_python_settings, confluent_kafka_settings):
        with pytest.raises(ConfigurationError, match=problem):
            make(props, allow_insecure_loopback=True)


def test_sasl_ssl_settings_carry_the_brokers_ca(idp: TestIdentityProvider, ca: LoopbackCa) -> None:
    props = cc_properties(
        idp,
        **{
            "bootstrap.servers": "a:9093, b:9093",
            "security.protocol": "SASL_SSL",
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca.ca_file),
        },
    )
    confluent = confluent_kafka_settings(props, allow_insecure_loopback=True)
    assert confluent["ssl.ca.location"] == str(ca.ca_file)
    assert confluent["bootstrap.servers"] == "a:9093, b:9093"
    assert confluent["sasl.mechanisms"] == "OAUTHBEARER"
    _value, _, principal, extensions = confluent["oauth_cb"]("")
    assert (principal, extensions) == ("orders", {"traceId": "t1"})
    client_module("kafka", "pip install kafka-python")  # imported with its warnings silenced
    kafka = kafka_python_settings(props, allow_insecure_loopback=True)
    assert kafka["bootstrap_servers"] == ["a:9093", "b:9093"]
    assert kafka["security_protocol"] == "SASL_SSL"
    assert len(kafka["ssl_context"].get_ca_certs()) == 1
    assert kafka["sasl_oauth_token_provider"].extensions() == {"traceId": "t1"}


# --- The command line: --cafile ----------------------------------------------------------------


def test_validate_takes_a_cafile(
    tls_idp: TestIdentityProvider, ca: LoopbackCa, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tls_idp.mint_token("alice", scope="kafka")
    argv = ["validate", token, "--jwks", tls_idp.jwks_uri, "--issuer", tls_idp.issuer]
    assert main(argv) != 0
    assert "certificate does not verify" in capsys.readouterr().err
    assert main([*argv, "--cafile", str(ca.ca_file)]) == 0
    assert "alice" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="2"):
        main(["validate", token, "--unsecured", "--cafile", str(ca.ca_file)])
    assert "--cafile applies to --jwks and --introspect only" in capsys.readouterr().err


def test_check_takes_a_cafile(
    tls_idp: TestIdentityProvider,
    ca: LoopbackCa,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = tmp_path / "client.properties"
    client.write_text("".join(f"{k}={v}\n" for k, v in cc_properties(tls_idp).items()))
    broker = tmp_path / "server.properties"
    broker.write_text(
        f"listener.name.sasl_ssl.oauthbearer.sasl.jaas.config={MODULE};\n"
        "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class="
        f"{PKG}OAuthBearerValidatorCallbackHandler\n"
        f"listener.name.sasl_ssl.sasl.oauthbearer.jwks.endpoint.url={tls_idp.jwks_uri}\n"
    )
    argv = ["check", "--client", str(client), "--broker", str(broker)]
    assert main(argv) == 1
    assert "certificate does not verify" in capsys.readouterr().out
    assert main([*argv, "--cafile", str(ca.ca_file)]) == 0
    assert "SUCCESS" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="2"):
        main([*argv, "--cafile", str(tmp_path / "none.pem")])
    assert "no such file" in capsys.readouterr().err


# --- Properties: the PEM trust store text -------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(der=st.binary(min_size=1, max_size=600), wrap=st.sampled_from([64, 76, 10_000]))
def test_pem_certificates_normalise_any_line_layout(der: bytes, wrap: int) -> None:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + wrap] for i in range(0, len(body), wrap)]
    for separator in ("\n", " ", "\r\n"):
        text = separator.join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])
        pem = pem_certificates(text + separator + text, option="x")
        blocks = pem.split("-----END CERTIFICATE-----\n")
        assert blocks[-1] == ""
        for block in blocks[:-1]:
            inner = block.removeprefix("-----BEGIN CERTIFICATE-----\n").split("\n")
            assert all(len(line) <= 64 for line in inner)
            assert base64.b64decode("".join(inner)) == der


@settings(max_examples=300, deadline=None)
@given(before=st.text(max_size=100), after=st.text(max_size=100))
def test_pem_certificates_take_any_text_and_never_show_it(before: str, after: str) -> None:
    # Whatever the text, our error or a result; the message never quotes the text.
    marker = "QmVhcmVyU2VjcmV0"
    try:
        pem_certificates(before + marker + after, option="ssl.truststore.certificates")
    except ConfigurationError as error:
        assert marker not in str(error)


def test_allow_insecure_loopback_is_given_once(idp: TestIdentityProvider) -> None:
    config = client_login(cc_properties(idp), allow_insecure_loopback=True)
    assert isinstance(config, ClientCredentialsConfig)
    assert config.allow_insecure_loopback
    with client_credentials_provider(config) as provider:  # no second flag
        assert provider.token().principal == "orders"
    strict = client_login(
        cc_properties(idp) | {"sasl.oauthbearer.token.endpoint.url": "https://idp.example/t"}
    )
    assert isinstance(strict, ClientCredentialsConfig)
    assert not strict.allow_insecure_loopback


def test_a_transport_of_ones_own_is_behind_the_url_policy() -> None:
    called: list[str] = []

    def transport(method: str, url: str, **kwargs: Any) -> HttpResponse:
        called.append(url)
        return HttpResponse(200, b"{}")

    options = HttpOptions(transport=transport)
    with pytest.raises(ConfigurationError, match="must use https"):
        options.request("GET", "http://idp.example/jwks", max_size=10, what="JWKS request")
    assert called == []
    assert options.request("GET", "https://idp.example/jwks", max_size=10).status == 200
    assert called == ["https://idp.example/jwks"]
