"""End to end: Kafka client properties to a refreshing token, from the test identity provider."""

from __future__ import annotations

import json
import os
import random
import time
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oauthbearer.config import ClientCredentialsConfig, JwtBearerConfig, client_login
from oauthbearer.errors import ConfigurationError
from oauthbearer.login.grants import TokenEndpointError, make_assertion
from oauthbearer.login.sources import (
    client_credentials_provider,
    jwt_bearer_fetch,
    jwt_bearer_provider,
)
from oauthbearer.testing import TestIdentityProvider
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SECRET = "s3:cr%t"  # ':' and '%' are the characters Kafka's urlencode option exists for
PASSPHRASE = "pass-phr4se"
PKG = "org.apache.kafka.common.security.oauthbearer."


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


CLIENT_KEY = _new_key()
OTHER_KEY = _new_key()


def _pem(key: rsa.RSAPrivateKey, passphrase: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase.encode())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", SECRET, scopes=("kafka",), audience="kafka-cluster")
        public_pem = CLIENT_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        provider.add_client(
            "jwt-app", public_key_pem=public_pem, scopes=("kafka",), audience="kafka-cluster"
        )
        yield provider


def properties(idp: TestIdentityProvider, **extra: str) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'clientId="orders" clientSecret="{SECRET}" scope="kafka" extension_traceId="t1";'
        ),
        **extra,
    }


@pytest.mark.parametrize("urlencode", ["false", "true"])
def test_kafka_client_properties_to_a_token_the_broker_accepts(
    idp: TestIdentityProvider, urlencode: str
) -> None:
    config = client_login(
        properties(idp, **{"sasl.oauthbearer.header.urlencode": urlencode}),
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, ClientCredentialsConfig)
    assert SECRET not in repr(config)
    idp.clear_requests()
    with client_credentials_provider(config, allow_insecure_loopback=True) as provider:
        token = provider.token()
    assert token.principal == "orders"
    assert token.scope == frozenset({"kafka"})
    assert dict(config.extensions) == {"traceId": "t1"}
    # The identity provider decoded Kafka's Basic credentials (plain or urlencoded;
    # their exact bytes are pinned in test_login_requests.py) and logged no secret.
    request = idp.requests[-1]
    assert request.form.get("grant_type") == "client_credentials"
    assert SECRET not in repr(idp.requests)
    # The broker side validates the same token against the identity provider's JWKS.
    keys = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    keys.refresh()
    validator = JwtValidator(keys.cache, audience="kafka-cluster", issuer=idp.issuer)
    assert validator.validate(token.value, now=time.time()).principal == "orders"


def test_a_wrong_secret_is_the_identity_providers_own_error(idp: TestIdentityProvider) -> None:
    config = client_login(
        properties(idp).copy()
        | {"sasl.jaas.config": properties(idp)["sasl.jaas.config"].replace(SECRET, "wrong")},
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, ClientCredentialsConfig)
    with pytest.raises(TokenEndpointError, match="invalid_client") as info:
        client_credentials_provider(config, allow_insecure_loopback=True).start()
    assert "wrong" not in str(info.value)


# --- The jwt-bearer grant (KIP-1139) ------------------------------------------------------


def jwt_properties(idp: TestIdentityProvider, **assertion: str) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.login.callback.handler.class": PKG + "OAuthBearerLoginCallbackHandler",
        "sasl.oauthbearer.jwt.retriever.class": PKG + "JwtBearerJwtRetriever",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.oauthbearer.scope": "kafka",
        "sasl.jaas.config": PKG + 'OAuthBearerLoginModule required extension_traceId="t2";',
        **{f"sasl.oauthbearer.assertion.{name}": value for name, value in assertion.items()},
    }


def broker_accepts(idp: TestIdentityProvider, token: str) -> str:
    keys = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    keys.refresh()
    validator = JwtValidator(keys.cache, audience="kafka-cluster", issuer=idp.issuer)
    return validator.validate(token, now=time.time()).principal


def test_a_signed_assertion_from_kafka_properties_gets_a_token_the_broker_accepts(
    idp: TestIdentityProvider, tmp_path: Path
) -> None:
    key_file = tmp_path / "client.key"
    key_file.write_bytes(_pem(CLIENT_KEY, PASSPHRASE))
    template = tmp_path / "template.json"
    # Kafka's layering: the template's claims override the claim.* settings.
    template.write_text(
        json.dumps({"header": {"x-tenant": "blue"}, "payload": {"sub": "svc-orders"}})
    )
    config = client_login(
        jwt_properties(
            idp,
            **{
                "private.key.file": str(key_file),
                "private.key.passphrase": PASSPHRASE,
                "algorithm": "rs256",
                "claim.iss": "jwt-app",
                "claim.sub": "overridden",
                "claim.aud": idp.token_endpoint,
                "claim.jti.include": "true",
                "template.file": str(template),
            },
        ),
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, JwtBearerConfig)
    assert PASSPHRASE not in repr(config)
    idp.clear_requests()
    seeded = random.Random(7)  # noqa: S311 - a jti needs uniqueness, not secrecy, in a test
    fetch = jwt_bearer_fetch(config, rng=seeded, allow_insecure_loopback=True)
    first, second = fetch(), fetch()
    # The identity provider refuses a replayed jti: the second login signed a new assertion.
    assert first.principal == second.principal == "svc-orders"
    assert first.scope == frozenset({"kafka"})
    forms = [request.form for request in idp.requests]
    assert [form.get("grant_type") for form in forms] == [
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ] * 2
    assert forms[0].get("scope") == "kafka"
    assert "client_id" not in forms[0]  # Kafka sends no client authentication
    assert broker_accepts(idp, first.value) == "svc-orders"
    with jwt_bearer_provider(config, allow_insecure_loopback=True) as provider:
        assert provider.token().principal == "svc-orders"
    assert dict(config.extensions) == {"traceId": "t2"}


def test_an_assertion_file_is_read_again_on_every_login(
    idp: TestIdentityProvider, tmp_path: Path
) -> None:
    def write_assertion(subject: str) -> None:
        assertion_file.write_text(
            make_assertion(
                CLIENT_KEY,
                issuer="jwt-app",
                subject=subject,
                audience=idp.issuer,
                now=time.time(),
            )
            + "\n"
        )

    assertion_file = tmp_path / "assertion.jwt"
    write_assertion("first")
    config = client_login(
        jwt_properties(idp, file=str(assertion_file)),
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, JwtBearerConfig)
    fetch = jwt_bearer_fetch(config, allow_insecure_loopback=True)
    token = fetch()
    assert broker_accepts(idp, token.value) == "first"
    write_assertion("second")
    assert fetch().principal == "second"


def test_a_rotated_private_key_is_loaded_when_the_file_changes(
    idp: TestIdentityProvider, tmp_path: Path
) -> None:
    key_file = tmp_path / "client.key"
    key_file.write_bytes(_pem(OTHER_KEY))
    config = JwtBearerConfig(
        token_endpoint_url=idp.token_endpoint,
        private_key_file=str(key_file),
        issuer="jwt-app",
        subject="jwt-app",
        audience=idp.token_endpoint,
    )
    fetch = jwt_bearer_fetch(config, allow_insecure_loopback=True)
    with pytest.raises(TokenEndpointError, match="invalid_grant"):
        fetch()
    key_file.write_bytes(_pem(CLIENT_KEY))
    stat = key_file.stat()
    os.utime(key_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert fetch().principal == "jwt-app"


def test_a_wrong_key_is_the_identity_providers_own_error(
    idp: TestIdentityProvider, tmp_path: Path
) -> None:
    key_file = tmp_path / "wrong.key"
    key_file.write_bytes(_pem(OTHER_KEY, PASSPHRASE))
    config = client_login(
        jwt_properties(
            idp,
            **{
                "private.key.file": str(key_file),
                "private.key.passphrase": PASSPHRASE,
                "claim.iss": "jwt-app",
                "claim.sub": "jwt-app",
                "claim.aud": idp.token_endpoint,
            },
        ),
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, JwtBearerConfig)
    with pytest.raises(TokenEndpointError, match="invalid_grant") as info:
        jwt_bearer_provider(config, allow_insecure_loopback=True).start()
    assert info.value.status == 400
    assert PASSPHRASE not in str(info.value)


def test_the_assertion_uses_the_injected_clock(idp: TestIdentityProvider, tmp_path: Path) -> None:
    key_file = tmp_path / "client.key"
    key_file.write_bytes(_pem(CLIENT_KEY))
    config = JwtBearerConfig(
        token_endpoint_url=idp.token_endpoint,
        private_key_file=str(key_file),
        issuer="jwt-app",
        subject="jwt-app",
        audience=idp.token_endpoint,
        exp_seconds=60,
    )
    # An assertion dated two hours ago has expired: the clock is the parameter's.
    stale = jwt_bearer_fetch(config, now=lambda: time.time() - 7200, allow_insecure_loopback=True)
    with pytest.raises(TokenEndpointError, match="invalid_grant"):
        stale()
    assert jwt_bearer_fetch(config, allow_insecure_loopback=True)().principal == "jwt-app"


@pytest.mark.parametrize(
    ("files", "passphrase", "match"),
    [
        ({}, None, r"private\.key\.file .*missing\.key: No such file"),
        ({"client.key": b"not a key"}, None, "not a PEM private key, or a wrong or missing"),
        ({"client.key": "encrypted"}, "wrong-phrase", "not a PEM private key, or a wrong or"),
        (
            {"client.key": "plain", "template.json": b'{"payload": {}, "paylaod": {}}'},
            None,
            r"template\.file .*template\.json: template may hold only",
        ),
        (
            {"client.key": "plain", "template.json": b'{"header": {}, "header": {}}'},
            None,
            r"template\.file .*template\.json: not strict JSON: member 'header' appears twice",
        ),
    ],
)
def test_bad_local_files_fail_when_the_source_is_made(
    tmp_path: Path, files: dict[str, bytes | str], passphrase: str | None, match: str
) -> None:
    for name, content in files.items():
        data = (
            content
            if isinstance(content, bytes)
            else _pem(CLIENT_KEY, PASSPHRASE if content == "encrypted" else None)
        )
        (tmp_path / name).write_bytes(data)
    config = JwtBearerConfig(
        token_endpoint_url="https://idp.example/token",
        private_key_file=str(tmp_path / ("client.key" if files else "missing.key")),
        private_key_passphrase=passphrase,
        template_file=str(tmp_path / "template.json") if "template.json" in files else None,
    )
    with pytest.raises(ConfigurationError, match=match) as info:
        jwt_bearer_fetch(config)
    assert "wrong-phrase" not in str(info.value)
    assert PASSPHRASE not in str(info.value)


def test_missing_claims_fail_at_the_first_login(tmp_path: Path) -> None:
    key_file = tmp_path / "client.key"
    key_file.write_bytes(_pem(CLIENT_KEY))
    config = JwtBearerConfig(
        token_endpoint_url="https://idp.example/token",
        private_key_file=str(key_file),
        issuer="jwt-app",
    )
    with pytest.raises(ConfigurationError, match=r"needs sub, aud \(RFC 7523 section 3\)"):
        jwt_bearer_fetch(config)()


def test_an_assertion_file_must_be_readable_when_the_source_is_made(tmp_path: Path) -> None:
    config = JwtBearerConfig(
        token_endpoint_url="https://idp.example/token", assertion_file=str(tmp_path / "gone.jwt")
    )
    with pytest.raises(ConfigurationError, match=r"^sasl\.oauthbearer\.assertion\.file .*gone"):
        jwt_bearer_fetch(config)
    (tmp_path / "big.jwt").write_bytes(b"e" * 70_000)
    big = JwtBearerConfig(
        token_endpoint_url="https://idp.example/token", assertion_file=str(tmp_path / "big.jwt")
    )
    with pytest.raises(ConfigurationError, match="is larger than 65536 bytes"):
        jwt_bearer_fetch(big)
    (tmp_path / "latin1.key").write_bytes(b"\xff-----BEGIN PRIVATE KEY-----")
    latin1 = JwtBearerConfig(
        token_endpoint_url="https://idp.example/token",
        private_key_file=str(tmp_path / "latin1.key"),
    )
    with pytest.raises(ConfigurationError, match=r"latin1\.key is not UTF-8 text"):
        jwt_bearer_fetch(latin1)


def test_the_client_reads_the_configured_scope_and_subject_claims() -> None:
    """sasl.oauthbearer.scope.claim.name / .sub.claim.name apply to the client's
    token check too, as in Kafka's ClientJwtValidator (Okta: scp and cid)."""
    with TestIdentityProvider(profile="okta") as okta:
        okta.add_client("okta-style", "pw", scopes=("kafka", "orders.read"))
        props = properties(okta) | {
            "sasl.jaas.config": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                'clientId="okta-style" clientSecret="pw" scope="kafka orders.read";'
            ),
            "sasl.oauthbearer.scope.claim.name": "scp",
            "sasl.oauthbearer.sub.claim.name": "cid",
        }
        config = client_login(props, now=time.time(), allow_insecure_loopback=True)
        assert isinstance(config, ClientCredentialsConfig)
        assert (config.scope_claim, config.subject_claim) == ("scp", "cid")
        with client_credentials_provider(config, allow_insecure_loopback=True) as provider:
            token = provider.token()
        assert token.scope == frozenset({"kafka", "orders.read"})
        assert token.principal == "okta-style"
        # Without scope.claim.name=scp the client finds no scope in Okta's tokens,
        # as it would with Okta itself (the provider writes no "scope" claim).
        default = client_login(
            {k: v for k, v in props.items() if k != "sasl.oauthbearer.scope.claim.name"},
            now=time.time(),
            allow_insecure_loopback=True,
        )
        assert isinstance(default, ClientCredentialsConfig)
        with client_credentials_provider(default, allow_insecure_loopback=True) as provider:
            assert provider.token().scope == frozenset()
