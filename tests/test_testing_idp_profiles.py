"""The test IdP's profiles: tokens in Okta's, Keycloak's and Entra ID's shapes,
one scope claim only, extra claims, and opaque tokens (issue 16, part 6).

The Keycloak profile is compared with a real Keycloak's tokens in
tests/test_interop_keycloak.py."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from oauthbearer import ConfigurationError, JwtValidator
from oauthbearer.cli.commands import build_parser
from oauthbearer.testing import Profile, TestIdentityProvider
from oauthbearer.testing.idp import ENTRA_TENANT_ID


def fetch(idp: TestIdentityProvider, client_id: str = "app", **form: str) -> dict[str, Any]:
    """A client-credentials token response (client_secret_post)."""
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "pw", **form}
    ).encode()
    with urllib.request.urlopen(idp.token_endpoint, data=body, timeout=5) as response:  # noqa: S310
        reply: dict[str, Any] = json.load(response)
        return reply


def part(token: str, index: int) -> dict[str, Any]:
    text = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return decoded


def issued(profile: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The header and claims of a token a ``profile`` provider issues, and its issuer."""
    with TestIdentityProvider(profile=profile, **options) as idp:
        idp.add_client("app", "pw", scopes=("kafka", "orders.read"), audience="kafka-cluster")
        token = fetch(idp)["access_token"]
        return part(token, 0), part(token, 1), idp.issuer


def test_okta_writes_scp_as_a_list_and_no_scope() -> None:
    header, claims, _ = issued("okta")
    assert "typ" not in header
    assert claims["scp"] == ["kafka", "orders.read"]
    assert "scope" not in claims
    assert claims["cid"] == "app"
    assert claims["sub"] == "app"
    assert claims["ver"] == 1
    assert claims["jti"].startswith("AT.")
    assert "client_id" not in claims
    assert "nbf" not in claims


def test_keycloak_shape() -> None:
    header, claims, _ = issued("keycloak")
    assert header["typ"] == "JWT"
    assert claims["scope"] == "kafka orders.read"
    assert "scp" not in claims
    uuid.UUID(claims["sub"])
    assert claims["azp"] == "app"
    assert claims["client_id"] == "app"
    assert claims["typ"] == "Bearer"
    assert claims["preferred_username"] == "service-account-app"
    assert isinstance(claims["realm_access"]["roles"], list)
    assert claims["aud"] == "kafka-cluster"
    assert "nbf" not in claims


def test_entra_shape() -> None:
    header, claims, _ = issued("entra")
    assert header["typ"] == "JWT"
    # An app-only token: application permissions in roles, no scp.
    assert claims["roles"] == ["kafka", "orders.read"]
    assert "scp" not in claims
    assert "scope" not in claims
    assert claims["tid"] == ENTRA_TENANT_ID
    assert claims["ver"] == "2.0"
    assert claims["azp"] == "app"
    assert claims["oid"] == claims["sub"]
    uuid.UUID(claims["sub"])
    assert "client_id" not in claims


def test_generic_is_unchanged() -> None:
    header, claims, _ = issued("generic")
    assert header["typ"] == "at+jwt"
    assert claims["scope"] == "kafka orders.read"
    assert claims["sub"] == claims["client_id"] == "app"
    assert "nbf" in claims


def test_a_validator_reading_the_wrong_scope_claim_finds_no_scope() -> None:
    """The point of the profiles: a validator configured with the default
    ``scope`` claim finds nothing in Okta's tokens, as with Okta itself."""
    with TestIdentityProvider(profile=Profile.OKTA) as idp:
        idp.add_client("app", "pw", scopes=("kafka",), audience="kafka-cluster")
        token = fetch(idp)["access_token"]
        keys = idp.key_set()
        right = JwtValidator(keys, audience="kafka-cluster", issuer=idp.issuer, scope_claim="scp")
        assert right.validate(token, now=time.time()).scope == {"kafka"}
        wrong = JwtValidator(keys, audience="kafka-cluster", issuer=idp.issuer)
        assert wrong.validate(token, now=time.time()).scope == frozenset()


def test_an_extra_scope_claim_beside_the_providers_is_refused() -> None:
    idp = TestIdentityProvider()
    with pytest.raises(ConfigurationError, match=r"cannot set scp.*writes the scope in 'scope'"):
        idp.add_client("app", "pw", extra_claims={"scp": ["a"]})
    okta = TestIdentityProvider(profile="okta")
    with pytest.raises(ConfigurationError, match="cannot set scope"):
        okta.add_client("app", "pw", extra_claims={"scope": "a"})


def test_scope_claim_none_and_a_custom_name() -> None:
    _, claims, _ = issued("generic", scope_claim=None)
    assert "scope" not in claims
    assert "scp" not in claims
    _, claims, _ = issued("keycloak", scope_claim="permissions")
    assert claims["permissions"] == "kafka orders.read"
    assert "scope" not in claims
    # A delegated Entra token: scp, a space-delimited string, and no roles.
    _, claims, _ = issued("entra", scope_claim="scp")
    assert claims["scp"] == "kafka orders.read"
    assert "roles" not in claims
    with TestIdentityProvider(scope_claim=None) as idp:
        idp.add_client("app", "pw", scopes=("kafka",), extra_claims={"scp": "own"})
        assert part(fetch(idp)["access_token"], 1)["scp"] == "own"


def test_extra_claims_replace_a_profiles_own() -> None:
    with TestIdentityProvider(profile="keycloak") as idp:
        roles = {"roles": ["kafka-admin"]}
        idp.add_client("app", "pw", scopes=("kafka",), extra_claims={"realm_access": roles})
        assert part(fetch(idp)["access_token"], 1)["realm_access"] == roles


def test_unknown_profile() -> None:
    with pytest.raises(ConfigurationError, match="profile must be one of generic, okta"):
        TestIdentityProvider(profile="auth0")


def test_opaque_tokens_are_remembered_for_introspection() -> None:
    with TestIdentityProvider(profile="okta", opaque=True) as idp:
        idp.add_client("app", "pw", scopes=("kafka",), audience="kafka-cluster")
        reply = fetch(idp)
        token = reply["access_token"]
        assert "." not in token
        assert len(token) >= 40
        claims = idp.opaque_claims(token)
        assert claims is not None
        assert claims["scp"] == ["kafka"]
        assert claims["cid"] == "app"
        assert claims["iss"] == idp.issuer
        assert claims["exp"] - claims["iat"] == reply["expires_in"]
        assert idp.opaque_claims(token + "x") is None
        minted = idp.mint_token("someone", scope="a")
        assert (idp.opaque_claims(minted) or {})["sub"] == "someone"


def test_cli_options_reach_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(
        [
            "idp",
            "--profile",
            "keycloak",
            "--claim",
            'realm_access={"roles": ["admin"]}',
            "--claim",
            "tenant=7",
            "--scope-claim",
            "none",
            "--opaque",
        ]
    )
    seen: dict[str, Any] = {}

    def fake_serve(*positional: Any, **options: Any) -> None:
        del positional
        seen.update(options)

    monkeypatch.setattr("oauthbearer.testing.idp.serve", fake_serve)
    assert args.func(args) == 0
    assert seen["profile"] == "keycloak"
    assert seen["claims"] == {"realm_access": {"roles": ["admin"]}, "tenant": 7}
    assert seen["scope_claim"] is None
    assert seen["opaque"] is True


@pytest.mark.parametrize("claim", ["novalue", "=1", "x={not json"])
def test_cli_refuses_a_bad_claim(claim: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["idp", "--claim", claim])
    assert args.func(args) == 2
    assert "--claim" in capsys.readouterr().err


def test_serve_prints_the_profile() -> None:
    from oauthbearer.testing import serve

    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        kwargs={"out": out, "stop": stop, "client_secret": "pw", "profile": "entra"},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while "Ctrl-C" not in out.getvalue():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert "profile:         entra (scope claim: roles)" in out.getvalue()
    finally:
        stop.set()
        thread.join(5)
