"""Several issuers (oauthbearer.validation.issuers): the issuer picks the keys.

The providers are real HTTP servers: two instances of our test IdP in Okta's
profile (an org server and a custom authorization server, each with its own
keys and JWKS endpoint), and one in Entra ID's profile standing for the
multi-tenant endpoint (one common key set, one issuer per tenant). Keys are
fetched over HTTP by :class:`JwksRefresher`, so "no fetch for an unknown
issuer" is read from the providers' request logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import ServerSession, TokenReceived
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken
from oauthbearer.gs2 import ClientInitialResponse
from oauthbearer.testing.idp import ENTRA_TENANT_ID, Endpoint, TestIdentityProvider
from oauthbearer.validation.introspection import JwtOrIntrospection
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.issuers import (
    MAX_ISSUERS,
    IssuerSelector,
    TrustedIssuer,
    tenant_issuers,
)
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "broker-secret"
OTHER_TENANT = "0b1c2d3e-0000-4000-8000-00000000c0de"
STRANGER_TENANT = "deadbeef-0000-4000-8000-000000000bad"


@pytest.fixture(scope="module")
def okta_org() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(profile="okta") as idp:
        idp.add_client("broker", SECRET)
        yield idp


@pytest.fixture(scope="module")
def okta_custom() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(profile="okta") as idp:
        yield idp


@pytest.fixture(scope="module")
def entra() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(profile="entra") as idp:
        yield idp


def jwks_requests(*idps: TestIdentityProvider) -> int:
    return sum(1 for idp in idps for r in idp.requests if r.endpoint is Endpoint.JWKS)


def okta_selector(
    org: TestIdentityProvider, custom: TestIdentityProvider, **options: Any
) -> tuple[IssuerSelector, list[JwksRefresher]]:
    refreshers = []
    entries = []
    for idp, audience in ((org, "api://org"), (custom, "api://kafka")):
        refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
        refresher.refresh()
        refreshers.append(refresher)
        validator = JwtValidator(
            refresher.cache, issuer=idp.issuer, audience=audience, scope_claim="scp"
        )
        entries.append(TrustedIssuer(issuer=idp.issuer, validator=validator))
    return IssuerSelector(entries, **options), refreshers


def payload_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_each_issuer_is_judged_with_its_own_keys(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)
    now = time.time()
    org = selector.validate(
        okta_org.mint_token("alice", scope="kafka", audience="api://org"), now=now
    )
    custom = selector.validate(
        okta_custom.mint_token("bob", scope="kafka", audience="api://kafka"), now=now
    )
    assert (org.principal, org.claims["iss"]) == ("alice", okta_org.issuer)
    assert (custom.principal, custom.claims["iss"]) == ("bob", okta_custom.issuer)
    assert org.scope == custom.scope == frozenset({"kafka"})
    # Each issuer keeps its audience: the org's token is not for the custom server.
    with pytest.raises(InvalidToken, match="audience"):
        selector.validate(okta_org.mint_token("alice", audience="api://kafka"), now=now)


def test_a_token_claiming_another_issuer_is_not_verified_with_its_signers_keys(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)
    # Signed by the custom server but naming the org: only the org's keys are
    # tried, and the org never signed it.
    forged = okta_custom.mint_token("mallory", audience="api://org", issuer=okta_org.issuer)
    with pytest.raises(InvalidToken, match="no configured key fits"):
        selector.validate(forged, now=time.time())
    assert not selector.can_verify(forged)


def test_an_unknown_issuer_is_refused_without_a_fetch(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)
    before = jwks_requests(okta_org, okta_custom)
    with TestIdentityProvider(profile="okta") as stranger:
        token = stranger.mint_token("eve", audience="api://kafka")
        hostile = [
            okta_org.mint_token("eve", issuer=f"https://evil.example/{i}\n") for i in range(50)
        ]
        with pytest.raises(InvalidToken, match="none of the 2 configured issuers") as refused:
            selector.validate(token, now=time.time())
        assert stranger.issuer in str(refused.value.detail)
        for forged in hostile:
            with pytest.raises(InvalidToken) as refused:
                selector.validate(forged, now=time.time())
            assert "\n" not in str(refused.value)  # the peer's value is escaped
        assert jwks_requests(okta_org, okta_custom, stranger) == before


@pytest.mark.parametrize(
    ("claims", "detail"),
    [({"iss": None}, "no 'iss' string"), ({"iss": ["a", "b"]}, "no 'iss' string")],
)
def test_a_jwt_without_an_issuer_string_is_refused(
    okta_org: TestIdentityProvider,
    okta_custom: TestIdentityProvider,
    claims: dict[str, Any],
    detail: str,
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)
    payload = json.dumps({"sub": "alice", "exp": time.time() + 60, **claims}).encode()
    token = okta_org.sign_raw(
        b'{"alg":"RS256","kid":"' + okta_org.signing_kid.encode() + b'"}', payload
    )
    with pytest.raises(InvalidToken, match=detail):
        selector.validate(token, now=time.time())


def test_an_opaque_token_is_refused_unless_an_opaque_validator_is_set(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)
    opaque = okta_org.mint_opaque_token("carol", scope="kafka")
    with pytest.raises(InvalidToken, match="no validator for opaque tokens"):
        selector.validate(opaque, now=time.time())
    introspection = IntrospectionValidator(
        okta_org.introspection_endpoint,
        client_id="broker",
        client_secret=SECRET,
        allow_insecure_loopback=True,
    )
    with_opaque, _ = okta_selector(okta_org, okta_custom, opaque=introspection)
    assert with_opaque.validate(opaque, now=time.time()).principal == "carol"
    assert asyncio.run(with_opaque.avalidate(opaque, now=time.time())).principal == "carol"


def test_the_selector_composes_with_introspection(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    """Local JWTs of either issuer are verified locally; anything else is introspected."""
    selector, _ = okta_selector(okta_org, okta_custom)
    introspection = IntrospectionValidator(
        okta_org.introspection_endpoint,
        client_id="broker",
        client_secret=SECRET,
        allow_insecure_loopback=True,
    )
    chain = JwtOrIntrospection(selector, introspection)
    before = sum(1 for r in okta_org.requests if r.endpoint is Endpoint.INTROSPECT)
    now = time.time()
    local = okta_custom.mint_token("bob", audience="api://kafka")
    assert selector.can_verify(local)
    assert chain.validate(local, now=now).principal == "bob"
    opaque = okta_org.mint_opaque_token("carol")
    assert asyncio.run(chain.avalidate(opaque, now=now)).principal == "carol"
    after = sum(1 for r in okta_org.requests if r.endpoint is Endpoint.INTROSPECT)
    assert after == before + 1  # only the opaque token went to the provider


def test_the_session_token_received_mode_awaits_the_selector(
    okta_org: TestIdentityProvider, okta_custom: TestIdentityProvider
) -> None:
    selector, _ = okta_selector(okta_org, okta_custom)

    async def exchange(token: str) -> str:
        session = ServerSession(dialect="kafka")
        event = session.receive(ClientInitialResponse(token).encode())
        assert isinstance(event, TokenReceived)
        try:
            verified = await selector.avalidate(event.response.token, now=time.time())
        except InvalidToken as refused:
            return f"refused: {refused.detail}"
        session.accept(verified)
        return verified.principal

    good = okta_custom.mint_token("bob", audience="api://kafka")
    assert asyncio.run(exchange(good)) == "bob"
    with TestIdentityProvider() as stranger:
        verdict = asyncio.run(exchange(stranger.mint_token("eve")))
    assert verdict.startswith("refused: the JWT issuer")


# --- Entra ID: one key set, an issuer per allowed tenant -------------------------------------


def entra_selector(idp: TestIdentityProvider, tenants: list[str]) -> IssuerSelector:
    refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    refresher.refresh()

    def validator_for(issuer: str, tenant: str) -> JwtValidator:
        del tenant
        return JwtValidator(
            refresher.cache, issuer=issuer, audience="api://kafka", scope_claim="roles"
        )

    return IssuerSelector(tenant_issuers(idp.issuer + "/{tenant}/v2.0", tenants, validator_for))


def test_entra_tenants_allowed_by_configuration_share_the_common_keys(
    entra: TestIdentityProvider,
) -> None:
    selector = entra_selector(entra, [ENTRA_TENANT_ID, OTHER_TENANT])
    assert selector.issuers == (
        f"{entra.issuer}/{ENTRA_TENANT_ID}/v2.0",
        f"{entra.issuer}/{OTHER_TENANT}/v2.0",
    )
    now = time.time()
    for tenant in (ENTRA_TENANT_ID, OTHER_TENANT):
        token = entra.mint_token(
            "app",
            scope="Kafka.Write",
            audience="api://kafka",
            issuer=f"{entra.issuer}/{tenant}/v2.0",
            extra_claims={"tid": tenant},
        )
        assert payload_of(token)["ver"] == "2.0"
        verified = selector.validate(token, now=now)
        assert verified.claims["tid"] == tenant
        assert verified.scope == frozenset({"Kafka.Write"})
    # A tenant not in the configuration: refused before any key lookup.
    before = jwks_requests(entra)
    stranger = entra.mint_token(
        "app",
        audience="api://kafka",
        issuer=f"{entra.issuer}/{STRANGER_TENANT}/v2.0",
        extra_claims={"tid": STRANGER_TENANT},
    )
    with pytest.raises(InvalidToken, match="none of the 2 configured issuers"):
        selector.validate(stranger, now=now)
    assert jwks_requests(entra) == before
    # The issuer of one tenant with the tid of another: the pinned claim refuses it.
    mixed = entra.mint_token(
        "app",
        audience="api://kafka",
        issuer=f"{entra.issuer}/{ENTRA_TENANT_ID}/v2.0",
        extra_claims={"tid": OTHER_TENANT},
    )
    with pytest.raises(InvalidToken, match="claim 'tid'"):
        selector.validate(mixed, now=now)


def test_the_verified_issuer_must_be_the_one_that_chose_the_validator(
    okta_org: TestIdentityProvider,
) -> None:
    # A validator configured without an issuer would accept any iss: the
    # selector still requires the verified iss to be the entry's.
    class Renaming:
        def __init__(self, inner: JwtValidator) -> None:
            self.inner = inner

        def validate(self, token: str, *, now: float) -> Any:
            verified = self.inner.validate(token, now=now)
            return dataclasses.replace(
                verified, claims={**verified.claims, "iss": "https://other.example"}
            )

    selector = IssuerSelector(
        [
            TrustedIssuer(
                issuer=okta_org.issuer,
                validator=Renaming(JwtValidator(okta_org.key_set(), scope_claim="scp")),
            )
        ]
    )
    with pytest.raises(InvalidToken, match="do not carry the issuer"):
        selector.validate(okta_org.mint_token("alice"), now=time.time())


# --- configuration ------------------------------------------------------------------------------


def test_configuration_mistakes_are_named(okta_org: TestIdentityProvider) -> None:
    validator = JwtValidator(okta_org.key_set(), issuer=okta_org.issuer)
    entry = TrustedIssuer(issuer=okta_org.issuer, validator=validator)
    with pytest.raises(ConfigurationError, match="configured twice"):
        IssuerSelector([entry, entry])
    with pytest.raises(ConfigurationError, match="at least one"):
        IssuerSelector([])
    with pytest.raises(ArgumentTypeError, match="iterable of TrustedIssuer"):
        IssuerSelector(entry)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="MAX_ISSUERS"):
        IssuerSelector(
            TrustedIssuer(issuer=f"https://i{i}.example", validator=validator)
            for i in range(MAX_ISSUERS + 1)
        )
    with pytest.raises(ConfigurationError, match="non-blank"):
        TrustedIssuer(issuer=" ", validator=validator)
    with pytest.raises(ArgumentTypeError, match="required_claims"):
        TrustedIssuer(issuer="x", validator=validator, required_claims={"tid": 1})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="exactly once"):
        tenant_issuers("https://login.example/v2.0", ["t"], lambda i, t: validator)
    with pytest.raises(ConfigurationError, match="not a tenant id"):
        tenant_issuers("https://login.example/{tenant}/v2.0", ["a/b"], lambda i, t: validator)
    assert "secret" not in repr(IssuerSelector([entry]))


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.binary(max_size=300).map(lambda b: base64.urlsafe_b64encode(b).decode())
)
def test_any_string_is_refused_with_our_error_or_selected(token: str) -> None:
    selector = IssuerSelector(
        [
            TrustedIssuer(
                issuer="https://a.example",
                validator=JwtValidator(None, algorithms=("HS256",), hmac_keys=b"k" * 32),
            )
        ]
    )
    for candidate in (token, f"{token}.{token}.{token}", f"e30.{token}.c2ln"):
        with contextlib.suppress(InvalidToken):
            selector.validate(candidate, now=1_700_000_000.0)
        assert selector.can_verify(candidate) in (True, False)
