"""Keycloak issues the tokens, our token sources fetch them, our validators judge them.

Everything here talks to a real Keycloak (tests/real_keycloak.py) with the
``kafka`` realm of tests/interop/keycloak/realm-kafka.json: ``kafka-app``
authenticates with a client secret, ``kafka-jwt-app`` with ``private_key_jwt``;
the optional client scope ``kafka`` adds the audience ``kafka-cluster``.
What Keycloak does differently from Okta is recorded here, and in
docs/idp-keycloak.md.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.config import ClientCredentialsConfig, broker_validator
from oauthbearer.errors import InvalidToken
from oauthbearer.login import (
    TokenEndpointError,
    TokenProvider,
    client_credentials_request,
    jwt_bearer_request,
    make_assertion,
    private_key_jwt_request,
)
from oauthbearer.login.http import discover, fetch_token
from oauthbearer.login.sources import client_credentials_fetch
from oauthbearer.testing import TestIdentityProvider
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator
from tests.real_kafka import jaas_module
from tests.real_keycloak import JWT_CLIENT, KAFKA_AUDIENCE, KAFKA_SCOPE, SECRET_CLIENT

if TYPE_CHECKING:
    from tests.real_keycloak import KeycloakServer

_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (to look at what Keycloak wrote)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".", maxsplit=1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def secret_token(keycloak: KeycloakServer, *, scope: str | None = KAFKA_SCOPE) -> str:
    request = client_credentials_request(
        keycloak.token_endpoint, SECRET_CLIENT, keycloak.client_secret, scope=scope
    )
    return fetch_token(request, allow_insecure_loopback=True).access_token


def jwt_client_token(keycloak: KeycloakServer) -> str:
    assertion = make_assertion(
        keycloak.client_key_pem,
        issuer=JWT_CLIENT,
        subject=JWT_CLIENT,
        audience=keycloak.issuer,
        now=time.time(),
        jti=str(uuid.uuid4()),
    )
    request = private_key_jwt_request(
        keycloak.token_endpoint, JWT_CLIENT, assertion, scope=KAFKA_SCOPE
    )
    return fetch_token(request, allow_insecure_loopback=True).access_token


def listener_properties(keycloak: KeycloakServer, **extra: str) -> dict[str, str]:
    """A broker listener ``kc`` validating Keycloak's tokens, as server.properties says it."""
    prefix = "listener.name.kc."
    return {
        f"{prefix}sasl.enabled.mechanisms": "OAUTHBEARER",
        f"{prefix}oauthbearer.sasl.jaas.config": jaas_module(),
        f"{prefix}oauthbearer.sasl.server.callback.handler.class": _VALIDATOR,
        f"{prefix}sasl.oauthbearer.jwks.endpoint.url": keycloak.jwks_uri,
        f"{prefix}sasl.oauthbearer.expected.audience": KAFKA_AUDIENCE,
        f"{prefix}sasl.oauthbearer.expected.issuer": keycloak.issuer,
        **{prefix + key: value for key, value in extra.items()},
    }


# --- token sources ---------------------------------------------------------------------------


def test_client_secret_basic_through_kafka_properties(keycloak: KeycloakServer) -> None:
    config = ClientCredentialsConfig(
        token_endpoint_url=keycloak.token_endpoint,
        client_id=SECRET_CLIENT,
        client_secret=keycloak.client_secret,
        scope=KAFKA_SCOPE,
    )
    token = client_credentials_fetch(config, allow_insecure_loopback=True)()
    # Keycloak's service-account subject is the account's id, not the client id.
    uuid.UUID(token.principal)
    assert token.claims["azp"] == SECRET_CLIENT
    # As Kafka's client reads it (ClientJwtValidator): a string scope is one element.
    (scope,) = token.scope
    assert sorted(scope.split(" ")) == ["kafka", "profile"]
    assert token.lifetime_ms - time.time() * 1000 == pytest.approx(300_000, abs=10_000)


def test_client_secret_post(keycloak: KeycloakServer) -> None:
    request = client_credentials_request(
        keycloak.token_endpoint,
        SECRET_CLIENT,
        keycloak.client_secret,
        scope=KAFKA_SCOPE,
        auth_method="client_secret_post",
    )
    response = fetch_token(request, allow_insecure_loopback=True)
    assert claims_of(response.access_token)["azp"] == SECRET_CLIENT
    # The order of the scopes changes from one Keycloak run to the next.
    assert response.scope is not None
    assert sorted(response.scope.split(" ")) == ["kafka", "profile"]


def test_a_wrong_secret_is_an_unretried_invalid_client(keycloak: KeycloakServer) -> None:
    request = client_credentials_request(keycloak.token_endpoint, SECRET_CLIENT, "wrong")
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(request, allow_insecure_loopback=True)
    assert info.value.status == 401
    assert not info.value.retryable
    # Keycloak says unauthorized_client where RFC 6749 section 5.2 (and Okta) say
    # invalid_client; both are refusals that Kafka's rule does not retry.
    assert "unauthorized_client" in str(info.value)
    assert "wrong" not in str(info.value)


def test_an_unknown_scope_is_refused_not_dropped(keycloak: KeycloakServer) -> None:
    """Keycloak refuses a scope that is not one of the client's scopes (Okta too:
    invalid_scope), where some IdPs silently drop it."""
    request = client_credentials_request(
        keycloak.token_endpoint, SECRET_CLIENT, keycloak.client_secret, scope="kafka.write"
    )
    with pytest.raises(TokenEndpointError, match="invalid_scope") as info:
        fetch_token(request, allow_insecure_loopback=True)
    assert info.value.status == 400


def test_without_the_kafka_scope_there_is_no_audience(keycloak: KeycloakServer) -> None:
    claims = claims_of(secret_token(keycloak, scope=None))
    assert "aud" not in claims
    assert claims["scope"] == "profile"


def test_private_key_jwt(keycloak: KeycloakServer) -> None:
    claims = claims_of(jwt_client_token(keycloak))
    assert claims["azp"] == JWT_CLIENT
    assert claims["client_id"] == JWT_CLIENT
    assert claims["aud"] == KAFKA_AUDIENCE


def test_private_key_jwt_assertions_are_single_use(keycloak: KeycloakServer) -> None:
    """Keycloak remembers each assertion's ``jti``: the same assertion twice is refused."""
    assertion = make_assertion(
        keycloak.client_key_pem,
        issuer=JWT_CLIENT,
        subject=JWT_CLIENT,
        audience=keycloak.token_endpoint,
        now=time.time(),
        jti=str(uuid.uuid4()),
    )
    request = private_key_jwt_request(keycloak.token_endpoint, JWT_CLIENT, assertion)
    fetch_token(request, allow_insecure_loopback=True)
    with pytest.raises(TokenEndpointError, match="invalid_client"):
        fetch_token(request, allow_insecure_loopback=True)


def test_discovery_finds_the_token_endpoint(keycloak: KeycloakServer) -> None:
    found = discover(keycloak.issuer, allow_insecure_loopback=True)
    assert found.issuer == keycloak.issuer
    assert found.token_endpoint == keycloak.token_endpoint
    assert found.jwks_uri == keycloak.jwks_uri
    request = client_credentials_request(
        found.token_endpoint, SECRET_CLIENT, keycloak.client_secret, scope=KAFKA_SCOPE
    )
    assert fetch_token(request, allow_insecure_loopback=True).access_token


def test_jwt_bearer_grant_without_a_trusted_issuer(keycloak: KeycloakServer) -> None:
    """Keycloak 26.7 lists the RFC 7523 grant in its metadata, but grants it only
    to a client that enables it, for assertions from an issuer configured as a
    "JWT Authorization Grant" identity provider. Our realm's clients do not:
    the request is refused with ``invalid_grant``, and not retried."""
    assertion = make_assertion(
        keycloak.client_key_pem,
        issuer="https://issuer.example",
        subject="someone",
        audience=keycloak.issuer,
        now=time.time(),
        jti=str(uuid.uuid4()),
    )
    request = jwt_bearer_request(
        keycloak.token_endpoint,
        assertion,
        client_id=SECRET_CLIENT,
        client_secret=keycloak.client_secret,
    )
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(request, allow_insecure_loopback=True)
    assert info.value.status == 400
    assert not info.value.retryable
    assert str(info.value) == (
        "token endpoint answered HTTP 400: invalid_grant (JWT Authorization Grant is not "
        "supported for the requested client)"
    )


# --- validation ------------------------------------------------------------------------------


def test_keycloak_token_shape(keycloak: KeycloakServer) -> None:
    """What Keycloak writes in a client-credentials access token (docs/idp-keycloak.md)."""
    token = secret_token(keycloak)
    header, claims = header_of(token), claims_of(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert isinstance(header["kid"], str)
    # One audience is a string, not a list.
    assert claims["aud"] == KAFKA_AUDIENCE
    assert claims["iss"] == keycloak.issuer
    # A space-delimited string, like Okta's "scope" response field but unlike
    # Okta's access tokens ("scp", a list).
    # (in no fixed order).
    assert sorted(claims["scope"].split(" ")) == ["kafka", "profile"]
    assert "scp" not in claims
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == SECRET_CLIENT
    assert claims["client_id"] == SECRET_CLIENT
    assert claims["preferred_username"] == f"service-account-{SECRET_CLIENT}"
    assert claims["realm_access"] == {"roles": ["kafka-producer"]}
    for name in ("exp", "iat"):
        assert isinstance(claims[name], int)
    assert "nbf" not in claims


def test_jwks_has_an_encryption_key_beside_the_signing_key(keycloak: KeycloakServer) -> None:
    """Keycloak publishes an RSA-OAEP ``enc`` key too: a validator must skip it."""
    with urllib.request.urlopen(keycloak.jwks_uri, timeout=10) as response:  # noqa: S310
        keys = json.load(response)["keys"]
    assert {(key["use"], key["alg"]) for key in keys} == {("sig", "RS256"), ("enc", "RSA-OAEP")}
    refresher = JwksRefresher.for_url(keycloak.jwks_uri, allow_insecure_loopback=True)
    refresher.refresh()
    validator = JwtValidator(refresher.cache, audience=KAFKA_AUDIENCE, issuer=keycloak.issuer)
    token = validator.validate(secret_token(keycloak), now=time.time())
    assert token.claims["azp"] == SECRET_CLIENT


def test_strict_jwt_validator(keycloak: KeycloakServer) -> None:
    refresher = JwksRefresher.for_url(keycloak.jwks_uri, allow_insecure_loopback=True)
    refresher.refresh()
    validator = JwtValidator(
        refresher.cache,
        audience=KAFKA_AUDIENCE,
        issuer=keycloak.issuer,
        subject_claim="azp",
    )
    token = validator.validate(secret_token(keycloak), now=time.time())
    assert token.principal == SECRET_CLIENT
    # STRICT_RULES split the space-delimited scope (RFC 9068 section 2.2.3).
    assert token.scope == frozenset({"kafka", "profile"})
    with pytest.raises(InvalidToken):
        validator.validate(secret_token(keycloak, scope=None), now=time.time())
    other = JwtValidator(refresher.cache, audience="other", issuer=keycloak.issuer)
    with pytest.raises(InvalidToken):
        other.validate(secret_token(keycloak), now=time.time())
    wrong_issuer = JwtValidator(
        refresher.cache, audience=KAFKA_AUDIENCE, issuer=keycloak.issuer + "x"
    )
    with pytest.raises(InvalidToken):
        wrong_issuer.validate(secret_token(keycloak), now=time.time())


def test_broker_validator_judges_as_kafka(keycloak: KeycloakServer) -> None:
    """Kafka's broker reads a string scope claim as ONE scope: Keycloak's
    ``"kafka profile"`` is the single scope ``"kafka profile"``."""
    config = broker_validator(listener_properties(keycloak), allow_insecure_loopback=True)
    assert config.refresher is not None
    with config.refresher:
        token = config.validator.validate(jwt_client_token(keycloak), now=time.time())
        uuid.UUID(token.principal)
        (scope,) = token.scope
        assert sorted(scope.split(" ")) == ["kafka", "profile"]
        assert token.claims["azp"] == JWT_CLIENT
        named = broker_validator(
            listener_properties(keycloak, **{"sasl.oauthbearer.sub.claim.name": "azp"}),
            allow_insecure_loopback=True,
        )
        assert named.refresher is not None
        with named.refresher:
            assert named.validator.validate(secret_token(keycloak), now=time.time()).principal == (
                SECRET_CLIENT
            )
        with pytest.raises(InvalidToken):
            config.validator.validate(secret_token(keycloak, scope=None), now=time.time())


def test_key_rotation_through_the_admin_api(keycloak: KeycloakServer) -> None:
    """A new RSA key with a higher priority signs the next tokens; the
    validator, validating all along, takes the new key from the JWKS when it
    first sees its ``kid``; disabling the old key then refuses its tokens."""
    config = broker_validator(listener_properties(keycloak), allow_insecure_loopback=True)
    refresher = config.refresher
    assert refresher is not None
    provider = TokenProvider(
        client_credentials_fetch(
            ClientCredentialsConfig(
                token_endpoint_url=keycloak.token_endpoint,
                client_id=SECRET_CLIENT,
                client_secret=keycloak.client_secret,
                scope=KAFKA_SCOPE,
            ),
            allow_insecure_loopback=True,
        )
    )
    kids: dict[str, int] = {}
    refused: list[str] = []
    stop = threading.Event()

    def validate_all_along() -> None:
        while not stop.is_set():
            token = secret_token(keycloak)
            kid = header_of(token)["kid"]
            try:
                config.validator.validate(token, now=time.time())
            except InvalidToken as error:
                refused.append(f"{kid}: {error.detail}")
            else:
                kids[kid] = kids.get(kid, 0) + 1
            time.sleep(0.05)

    realm_id = keycloak.admin("GET", "")["id"]
    old_token = secret_token(keycloak)
    old_kid = header_of(old_token)["kid"]
    with refresher, provider:
        worker = threading.Thread(target=validate_all_along, daemon=True)
        worker.start()
        time.sleep(1.0)
        keycloak.admin(
            "POST",
            "/components",
            {
                "name": "rotated",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": ["500"], "keySize": ["2048"], "algorithm": ["RS256"]},
            },
        )
        deadline = time.monotonic() + 30
        while len(kids) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        worker.join(30)
        assert old_kid in kids
        new_kids = set(kids) - {old_kid}
        assert len(new_kids) == 1, (kids, refused)
        # Kafka's rule: an unknown kid is refused while the key set refreshes.
        assert len(refused) <= 2, refused
        assert provider.token().value
        # Disable the old key: Keycloak stops publishing it, and its tokens are refused.
        old = [
            c
            for c in keycloak.admin("GET", "/components?type=org.keycloak.keys.KeyProvider")
            if c["providerId"] == "rsa-generated" and c["name"] != "rotated"
        ]
        for component in old:
            component["config"]["enabled"] = ["false"]
            keycloak.admin("PUT", f"/components/{component['id']}", component)
        refresher.refresh()
        with pytest.raises(InvalidToken):
            config.validator.validate(old_token, now=time.time())
        config.validator.validate(secret_token(keycloak), now=time.time())


# --- the test IdP's keycloak profile ---------------------------------------------------------


def json_shape(value: Any) -> Any:
    """A JSON value's shape: object member names (recursively) and JSON type names."""
    if isinstance(value, dict):
        return {name: json_shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return ["array", *sorted({type(item).__name__ for item in value})]
    return type(value).__name__


def test_the_keycloak_profile_has_keycloaks_claim_names_and_types(
    keycloak: KeycloakServer,
) -> None:
    real = secret_token(keycloak)
    with TestIdentityProvider(profile="keycloak") as idp:
        idp.add_client(SECRET_CLIENT, "pw", scopes=("kafka", "profile"), audience=KAFKA_AUDIENCE)
        request = client_credentials_request(idp.token_endpoint, SECRET_CLIENT, "pw")
        ours = fetch_token(request, allow_insecure_loopback=True).access_token
    assert json_shape(claims_of(ours)) == json_shape(claims_of(real))
    assert json_shape(header_of(ours)) == json_shape(header_of(real))
    assert header_of(ours)["typ"] == header_of(real)["typ"]
    for name in ("typ", "preferred_username", "azp", "client_id"):
        assert claims_of(ours)[name] == claims_of(real)[name]
    uuid.UUID(claims_of(ours)["sub"])
