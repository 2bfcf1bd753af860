"""Real Keycloak: two realms as two issuers, and its RFC 7662 introspection endpoint.

The second realm, ``kafka-b``, is created through the admin REST API from the
same realm file (tests/interop/keycloak/realm-kafka.json) with its own name,
its own client secret and a 2-second token lifetime on ``kafka-app``: a realm
is its own issuer with its own signing keys, which is what
:class:`~oauthbearer.validation.issuers.IssuerSelector` is for.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.errors import InvalidToken
from oauthbearer.login import client_credentials_request
from oauthbearer.login.http import fetch_token
from oauthbearer.validation.introspection import IntrospectionRules
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.issuers import IssuerSelector, TrustedIssuer
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator
from tests.real_keycloak import KAFKA_AUDIENCE, KAFKA_SCOPE, REALM_FILE, SECRET_CLIENT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.real_keycloak import KeycloakServer

REALM_B = "kafka-b"
#: Realm B's clients: the broker's own (it introspects), and one with short-lived tokens.
BROKER_CLIENT = "kafka-broker"
SHORT_CLIENT = "kafka-short"
#: kafka-app's token lifetime in realm B: short, so that "expired" is observed.
SHORT_LIFETIME_S = 2


class Realm:
    def __init__(self, keycloak: KeycloakServer, name: str, secret: str) -> None:
        self.issuer = f"{keycloak.base_url}/realms/{name}"
        self.secret = secret
        self.token_endpoint = f"{self.issuer}/protocol/openid-connect/token"
        self.jwks_uri = f"{self.issuer}/protocol/openid-connect/certs"
        self.introspection_endpoint = f"{self.token_endpoint}/introspect"
        self.revocation_endpoint = f"{self.issuer}/protocol/openid-connect/revoke"

    def token(self, client: str = SECRET_CLIENT) -> str:
        request = client_credentials_request(
            self.token_endpoint, client, self.secret, scope=KAFKA_SCOPE
        )
        return fetch_token(request, allow_insecure_loopback=True).access_token

    def validator(self) -> JwtValidator:
        refresher = JwksRefresher.for_url(self.jwks_uri, allow_insecure_loopback=True)
        refresher.refresh()
        return JwtValidator(refresher.cache, issuer=self.issuer, audience=KAFKA_AUDIENCE)

    def introspector(self) -> IntrospectionValidator:
        return IntrospectionValidator(
            self.introspection_endpoint,
            client_id=BROKER_CLIENT,
            client_secret=self.secret,
            allow_insecure_loopback=True,
            rules=IntrospectionRules(issuer=self.issuer, audience=KAFKA_AUDIENCE),
        )


def _audience_mapper(audience: str) -> dict[str, Any]:
    return {
        "name": f"{audience} audience",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {
            "included.client.audience": audience,
            "access.token.claim": "true",
            "introspection.token.claim": "true",
        },
    }


@pytest.fixture(scope="module")
def realms(keycloak: KeycloakServer) -> Iterator[tuple[Realm, Realm]]:
    secret = secrets.token_urlsafe(24)
    text = REALM_FILE.read_text(encoding="utf-8").replace("${OAUTHBEARER_KEYCLOAK_SECRET}", secret)
    document: dict[str, Any] = json.loads(text)
    document["realm"] = REALM_B
    app = next(c for c in document["clients"] if c["clientId"] == SECRET_CLIENT)
    # Keycloak 26 answers active=false to a client that introspects a token
    # not addressed to it ("Client '...' is not in the token audience"): the
    # broker's own client must be in the token's aud.
    app["protocolMappers"] = [_audience_mapper(BROKER_CLIENT)]
    short = json.loads(json.dumps(app))
    short["clientId"] = SHORT_CLIENT
    short["attributes"] = {"access.token.lifespan": str(SHORT_LIFETIME_S)}
    broker = {
        "clientId": BROKER_CLIENT,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "serviceAccountsEnabled": False,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
    }
    document["clients"] = [app, short, broker]
    document["users"] = [
        {"username": f"service-account-{c}", "enabled": True, "serviceAccountClientId": c}
        for c in (SECRET_CLIENT, SHORT_CLIENT)
    ]
    keycloak.admin("POST", "", document, realm="")
    try:
        yield Realm(keycloak, "kafka", keycloak.client_secret), Realm(keycloak, REALM_B, secret)
    finally:
        keycloak.admin("DELETE", "", realm=REALM_B)


def test_two_realms_are_two_issuers_each_with_its_own_keys(realms: tuple[Realm, Realm]) -> None:
    a, b = realms
    selector = IssuerSelector(
        [
            TrustedIssuer(issuer=a.issuer, validator=a.validator()),
            TrustedIssuer(issuer=b.issuer, validator=b.validator()),
        ]
    )
    token_a, token_b = a.token(), b.token()
    now = time.time()
    assert selector.validate(token_a, now=now).claims["iss"] == a.issuer
    assert selector.validate(token_b, now=now).claims["iss"] == b.issuer
    # One realm's validator alone refuses the other realm's token by its keys
    # (the realms sign with different keys) as well as by its issuer.
    with pytest.raises(InvalidToken, match="no configured key fits"):
        a.validator().validate(token_b, now=now)
    only_a = IssuerSelector([TrustedIssuer(issuer=a.issuer, validator=a.validator())])
    with pytest.raises(InvalidToken, match="none of the 1 configured issuers"):
        only_a.validate(token_b, now=now)


def test_keycloak_introspection_good_revoked_and_expired(realms: tuple[Realm, Realm]) -> None:
    """Keycloak's /token/introspect with our IntrospectionValidator (client_secret_basic)."""
    a, b = realms
    good = b.token()
    verified = b.introspector().validate(good, now=time.time())
    assert verified.principal  # Keycloak's sub: the service account's id
    assert verified.claims["client_id"] == SECRET_CLIENT
    assert "kafka" in verified.scope

    # Revoked by its owner through RFC 7009's endpoint: then active=false.
    revoked = b.token()
    credentials = base64.b64encode(f"{SECRET_CLIENT}:{b.secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        b.revocation_endpoint,
        data=urllib.parse.urlencode({"token": revoked, "token_type_hint": "access_token"}).encode(),
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30.0) as response:  # noqa: S310
        assert response.status == 200
    with pytest.raises(InvalidToken, match="not active") as refused:
        b.introspector().validate(revoked, now=time.time())
    assert refused.value.status == "invalid_token"

    # Expired: kafka-short's tokens live SHORT_LIFETIME_S seconds.
    expired = b.token(SHORT_CLIENT)
    assert b.introspector().validate(expired, now=time.time()).principal
    time.sleep(SHORT_LIFETIME_S + 1.5)
    with pytest.raises(InvalidToken, match="not active") as refused:
        # A fresh validator: the first one's cache would answer by itself.
        b.introspector().validate(expired, now=time.time())
    assert refused.value.status == "invalid_token"

    # Keycloak's audience rule: in realm A no audience names the introspecting
    # client, so even a good token is "not active" to it.
    own = IntrospectionValidator(
        a.introspection_endpoint,
        client_id=SECRET_CLIENT,
        client_secret=a.secret,
        allow_insecure_loopback=True,
    )
    with pytest.raises(InvalidToken, match="not active"):
        own.validate(a.token(), now=time.time())
