"""The local test identity provider: token endpoint, JWKS, discovery, faults, the log."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oauthbearer import ConfigurationError, InvalidToken, JwtValidator, TokenReason
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.login.grants import REDACTED
from oauthbearer.testing import (
    DropConnection,
    EmptyBody,
    Endpoint,
    HttpStatus,
    IdentityProviderStateError,
    MalformedJson,
    OversizedBody,
    Slow,
    TestIdentityProvider,
    serve,
)
from oauthbearer.testing.idp import (
    CLIENT_ASSERTION_TYPE_JWT,
    GRANT_JWT_BEARER,
    MAX_ASSERTION_LIFETIME_S,
)
from oauthbearer.validation.jwks_fetch import JwksFetchError, JwksRefresher, fetch_jwks_url

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message

NOW = 1_700_000_000.0
SECRET = "s3cr:t+/=%&"  # characters that form-urlencoding changes
FORM = "application/x-www-form-urlencoded"

_EC_KEY = ec.generate_private_key(ec.SECP256R1())
_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _provider() -> TestIdentityProvider:
    provider = TestIdentityProvider(clock=lambda: NOW).start()
    provider.add_client("app", SECRET, scopes=["read", "write"], audience="kafka")
    provider.add_client(
        "signer", public_key_pem=_pem(_EC_KEY), scopes="read", audience=["kafka", "other"]
    )
    return provider


@pytest.fixture(scope="module")
def shared_idp() -> Iterator[TestIdentityProvider]:
    # One provider for the module (a key pair takes ~0.1 s to make); each test
    # starts with no faults and an empty log. Tests that change keys use fresh_idp.
    with _provider() as provider:
        yield provider


@pytest.fixture
def idp(shared_idp: TestIdentityProvider) -> TestIdentityProvider:
    shared_idp.clear_faults()
    shared_idp.clear_requests()
    return shared_idp


@pytest.fixture
def fresh_idp() -> Iterator[TestIdentityProvider]:
    with _provider() as provider:
        yield provider


# --- HTTP helpers: every response, error responses included, is closed ---------------------


class Reply:
    def __init__(self, status: int, headers: Message[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    form: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 5.0,
) -> Reply:
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    all_headers = {"Content-Type": FORM} if data is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=all_headers)  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 - the same
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        try:
            return Reply(error.code, error.headers, error.read())
        finally:
            error.close()


def basic(client_id: str, secret: str, *, urlencode: bool = False) -> dict[str, str]:
    if urlencode:  # RFC 6749 section 2.3.1, Kafka's sasl.oauthbearer.header.urlencode
        client_id, secret = urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret)
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def assertion(
    idp: TestIdentityProvider,
    *,
    key: Any = _EC_KEY,
    alg: str = "ES256",
    **overrides: Any,
) -> str:
    claims: dict[str, Any] = {
        "iss": "signer",
        "sub": "signer",
        "aud": idp.token_endpoint,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": f"jti-{time.monotonic_ns()}",
    }
    claims.update(overrides)
    return pyjwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=alg)


def validator(idp: TestIdentityProvider, audience: str = "kafka") -> JwtValidator:
    """Validates with keys fetched from the provider's jwks_uri over HTTP."""
    refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    refresher.refresh()
    return JwtValidator(refresher.cache, issuer=idp.issuer, audience=audience)


# --- discovery ------------------------------------------------------------------------------


def test_discovery_document_at_both_well_known_paths(idp: TestIdentityProvider) -> None:
    assert idp.issuer.startswith("http://127.0.0.1:")
    openid = request(idp.issuer + "/.well-known/openid-configuration")
    oauth = request(idp.issuer + "/.well-known/oauth-authorization-server")
    assert openid.status == oauth.status == 200
    assert openid.headers["Content-Type"] == "application/json"
    document = openid.json()
    assert document == oauth.json() == idp.metadata
    assert document["issuer"] == idp.issuer
    assert document["token_endpoint"] == idp.token_endpoint == idp.issuer + "/token"
    assert document["jwks_uri"] == idp.jwks_uri
    assert document["grant_types_supported"] == ["client_credentials", GRANT_JWT_BEARER]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert document["scopes_supported"] == ["read", "write"]
    assert request(idp.issuer + "/nowhere").status == 404


# --- the token endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize("urlencode", [False, True], ids=["plain", "urlencoded"])
def test_client_secret_basic(idp: TestIdentityProvider, urlencode: bool) -> None:
    reply = request(
        idp.token_endpoint,
        {"grant_type": "client_credentials", "scope": "read"},
        headers=basic("app", SECRET, urlencode=urlencode),
    )
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    document = reply.json()
    assert (document["token_type"], document["expires_in"], document["scope"]) == (
        "Bearer",
        3600,
        "read",
    )
    token = validator(idp).validate(document["access_token"], now=NOW)
    assert (token.principal, token.scope) == ("app", frozenset({"read"}))
    assert token.lifetime_ms == (NOW + 3600) * 1000
    claims = token.claims
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (idp.issuer, "kafka", "app")
    assert claims["iat"] == claims["nbf"] == NOW
    assert isinstance(claims["jti"], str)
    header = pyjwt.get_unverified_header(document["access_token"])
    assert (header["alg"], header["typ"], header["kid"]) == ("RS256", "at+jwt", idp.signing_kid)


def test_client_secret_post_without_scope_grants_every_allowed_scope(
    idp: TestIdentityProvider,
) -> None:
    reply = request(
        idp.token_endpoint,
        {"grant_type": "client_credentials", "client_id": "app", "client_secret": SECRET},
    )
    assert reply.status == 200, reply.body
    assert reply.json()["scope"] == "read write"
    token = validator(idp).validate(reply.json()["access_token"], now=NOW)
    assert token.scope == frozenset({"read", "write"})


def test_private_key_jwt(idp: TestIdentityProvider) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
        "client_assertion": assertion(idp),
    }
    reply = request(idp.token_endpoint, form)
    assert reply.status == 200, reply.body
    token = validator(idp).validate(reply.json()["access_token"], now=NOW)
    assert token.principal == "signer"
    assert token.claims["aud"] == ["kafka", "other"]
    # The same assertion again: its jti is remembered until it expires.
    replay = request(idp.token_endpoint, form)
    assert (replay.status, replay.json()["error"]) == (401, "invalid_client")
    assert "already used" in replay.json()["error_description"]


def test_jwt_bearer_grant_takes_the_assertions_subject(idp: TestIdentityProvider) -> None:
    grant = assertion(idp, sub="alice", aud=idp.issuer, jti=None)  # jti optional for a grant
    reply = request(idp.token_endpoint, {"grant_type": GRANT_JWT_BEARER, "assertion": grant})
    assert reply.status == 200, reply.body
    token = validator(idp).validate(reply.json()["access_token"], now=NOW)
    assert (token.principal, token.claims["client_id"]) == ("alice", "signer")
    # With client authentication too, the assertion must come from that client.
    other = assertion(idp, sub="alice")
    refused = request(
        idp.token_endpoint,
        {"grant_type": GRANT_JWT_BEARER, "assertion": other},
        headers=basic("app", SECRET),
    )
    assert (refused.status, refused.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"aud": "https://elsewhere.example/token"}, "aud"),
        ({"exp": NOW - 60}, "expired"),
        ({"exp": NOW + MAX_ASSERTION_LIFETIME_S + 60}, "MAX_ASSERTION_LIFETIME_S"),
        ({"nbf": NOW + 600}, "not valid yet"),
        ({"sub": "someone-else"}, "'sub' must be the client_id"),
        ({"jti": None}, "'jti'"),
        ({"key": ec.generate_private_key(ec.SECP256R1())}, "does not verify"),
        ({"key": _RSA_KEY, "alg": "RS256"}, "no configured key fits"),
    ],
)
def test_private_key_jwt_refusals(
    idp: TestIdentityProvider, overrides: dict[str, Any], words: str
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
        "client_assertion": assertion(idp, **overrides),
    }
    reply = request(idp.token_endpoint, form)
    assert (reply.status, reply.json()["error"]) == (401, "invalid_client")
    assert words in reply.json()["error_description"]


@pytest.mark.parametrize(
    "headers",
    [basic("app", "wrong"), basic("nobody", SECRET), {"Authorization": "Bearer x"}],
    ids=["bad-secret", "unknown-client", "not-basic"],
)
def test_failed_client_authentication_is_401(
    idp: TestIdentityProvider, headers: dict[str, str]
) -> None:
    reply = request(idp.token_endpoint, {"grant_type": "client_credentials"}, headers=headers)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")
    assert reply.json()["error"] == "invalid_client"
    assert set(reply.json()) == {"error", "error_description"}


@pytest.mark.parametrize(
    ("form", "headers", "error"),
    [
        ({"scope": "read"}, basic("app", SECRET), "invalid_request"),  # no grant_type
        ({"grant_type": "password"}, basic("app", SECRET), "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "admin"},
            basic("app", SECRET),
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "scope": "read  write"},
            basic("app", SECRET),
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials"}, {}, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "app", "client_secret": SECRET},
            basic("app", SECRET),
            "invalid_request",  # two authentication methods
        ),
        (
            {"grant_type": "client_credentials", "client_id": "other"},
            basic("app", SECRET),
            "invalid_request",  # client_id disagrees with the authenticated client
        ),
        ({"grant_type": GRANT_JWT_BEARER}, {}, "invalid_request"),  # no assertion
        ({"grant_type": GRANT_JWT_BEARER, "assertion": "not.a.jwt"}, {}, "invalid_grant"),
    ],
)
def test_token_request_errors(
    idp: TestIdentityProvider, form: dict[str, str], headers: dict[str, str], error: str
) -> None:
    reply = request(idp.token_endpoint, form, headers=headers)
    assert reply.json()["error"] == error
    assert reply.status == (401 if error == "invalid_client" else 400)


def test_malformed_requests(idp: TestIdentityProvider) -> None:
    auth = basic("app", SECRET)
    repeated = request(
        idp.token_endpoint, data=b"grant_type=client_credentials&scope=a&scope=b", headers=auth
    )
    assert (repeated.status, repeated.json()["error"]) == (400, "invalid_request")
    assert "twice" in repeated.json()["error_description"]
    as_json = request(
        idp.token_endpoint,
        data=b'{"grant_type": "client_credentials"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert (as_json.status, as_json.json()["error"]) == (400, "invalid_request")
    assert request(idp.token_endpoint).status == 405  # a GET
    assert request(idp.jwks_uri, data=b"").status == 405  # a POST


def test_a_weak_or_odd_client_registration_is_refused() -> None:
    idp = TestIdentityProvider()  # never started: registration needs no server
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused, as it should be
    with pytest.raises(ConfigurationError, match="2048"):
        idp.add_client("weak", public_key_pem=_pem(weak))
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        idp.add_client("junk", public_key_pem="-----BEGIN NOTHING-----")
    with pytest.raises(ConfigurationError, match="secret, a public_key_pem"):
        idp.add_client("bare")
    with pytest.raises(ConfigurationError, match="exp"):
        idp.add_client("c", "s", extra_claims={"exp": 1})
    with pytest.raises(ConfigurationError, match="scope token"):
        idp.add_client("c", "s", scopes=['bad"scope'])
    with pytest.raises(ConfigurationError, match="':'"):
        idp.add_client("a:b", "s")
    with pytest.raises(IdentityProviderStateError):
        _ = idp.issuer


def test_extra_claims_and_lifetime(idp: TestIdentityProvider) -> None:
    idp.add_client("custom", "pw", lifetime_s=60, extra_claims={"tenant": "t1"})
    reply = request(
        idp.token_endpoint, {"grant_type": "client_credentials"}, headers=basic("custom", "pw")
    )
    assert reply.json()["expires_in"] == 60
    assert "scope" not in reply.json()
    token = JwtValidator(idp.key_set(), issuer=idp.issuer).validate(
        reply.json()["access_token"], now=NOW
    )
    assert (token.claims["tenant"], token.lifetime_ms) == ("t1", (NOW + 60) * 1000)
    assert "aud" not in token.claims


# --- keys -------------------------------------------------------------------------------------


def test_mint_token_needs_no_http(idp: TestIdentityProvider) -> None:
    value = idp.mint_token(
        "bob", scope="read write", audience="kafka", lifetime_s=120, extra_claims={"x": 1}
    )
    token = JwtValidator(idp.key_set(), issuer=idp.issuer, audience="kafka").validate(
        value, now=NOW
    )
    assert (token.principal, token.scope, token.claims["x"]) == (
        "bob",
        frozenset({"read", "write"}),
        1,
    )
    expired = idp.mint_token("bob", audience="kafka", lifetime_s=10, now=NOW - 3600)
    with pytest.raises(InvalidToken) as refused:
        JwtValidator(idp.key_set(), audience="kafka").validate(expired, now=NOW)
    assert refused.value.reason is TokenReason.EXPIRED


def test_key_rotation_keeps_the_old_key_until_retired(fresh_idp: TestIdentityProvider) -> None:
    idp = fresh_idp
    old_kid = idp.signing_kid
    old_token = idp.mint_token("bob", audience="kafka")
    new_kid = idp.rotate_keys()
    assert new_kid != old_kid
    assert idp.signing_kid == new_kid
    published = fetch_jwks_url(idp.jwks_uri, allow_insecure_loopback=True)
    assert [key.kid for key in published.keys] == [new_kid, old_kid]
    assert all((k.use, k.alg) == ("sig", "RS256") for k in published.keys)
    new_token = idp.mint_token("bob", audience="kafka")
    assert pyjwt.get_unverified_header(new_token)["kid"] == new_kid
    both = validator(idp)
    both.validate(old_token, now=NOW)
    both.validate(new_token, now=NOW)

    assert idp.retire_old_keys() == (old_kid,)
    after = validator(idp)
    after.validate(new_token, now=NOW)
    with pytest.raises(InvalidToken) as refused:
        after.validate(old_token, now=NOW)
    assert refused.value.reason is TokenReason.UNKNOWN_KID


# --- faults -------------------------------------------------------------------------------------


def test_slow_response_times_a_client_out_then_recovers(idp: TestIdentityProvider) -> None:
    idp.inject("jwks", Slow(delay_s=5))
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        request(idp.jwks_uri, timeout=0.2)
    assert time.monotonic() - started < 2
    assert request(idp.jwks_uri).status == 200


def test_slow_response_within_the_timeout_is_normal(idp: TestIdentityProvider) -> None:
    idp.inject(Endpoint.DISCOVERY, Slow(delay_s=0.05))
    reply = request(idp.discovery_url)
    assert (reply.status, reply.json()["issuer"]) == (200, idp.issuer)


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        (HttpStatus(status=500), "server_error", None),
        (HttpStatus(status=503, retry_after_s=7), "temporarily_unavailable", "7"),
        (HttpStatus(status=429, retry_after_s=2), "temporarily_unavailable", "2"),
        (HttpStatus(status=400), "invalid_request", None),
        (HttpStatus(status=400, error="invalid_grant"), "invalid_grant", None),
    ],
)
def test_http_status_faults(
    idp: TestIdentityProvider, fault: HttpStatus, error: str, retry_after: str | None
) -> None:
    idp.inject("token", fault)
    form = {"grant_type": "client_credentials"}
    reply = request(idp.token_endpoint, form, headers=basic("app", SECRET))
    assert (reply.status, reply.json()["error"]) == (fault.status, error)
    assert reply.headers.get("Retry-After") == retry_after
    assert request(idp.token_endpoint, form, headers=basic("app", SECRET)).status == 200


def test_body_faults(idp: TestIdentityProvider) -> None:
    idp.inject("token", MalformedJson())
    idp.inject("token", EmptyBody())
    form = {"grant_type": "client_credentials"}
    malformed = request(idp.token_endpoint, form, headers=basic("app", SECRET))
    assert malformed.status == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    empty = request(idp.token_endpoint, form, headers=basic("app", SECRET))
    assert (empty.status, empty.body, empty.headers["Content-Type"]) == (
        200,
        b"",
        "application/json",
    )
    idp.inject("discovery", OversizedBody(size=100_000))
    oversized = request(idp.discovery_url)
    assert len(oversized.body) == 100_000
    assert set(oversized.json()) == {"padding"}  # valid JSON, just too big


def test_oversized_jwks_is_refused_by_the_fetcher(idp: TestIdentityProvider) -> None:
    idp.inject("jwks", OversizedBody())
    with pytest.raises(JwksFetchError, match="MAX_JWKS_SIZE"):
        fetch_jwks_url(idp.jwks_uri, allow_insecure_loopback=True)


def test_connection_drop(idp: TestIdentityProvider) -> None:
    idp.inject("token", DropConnection())
    with pytest.raises(http.client.RemoteDisconnected):
        request(
            idp.token_endpoint, {"grant_type": "client_credentials"}, headers=basic("app", SECRET)
        )
    assert idp.requests[-1].status is None
    assert isinstance(idp.requests[-1].fault, DropConnection)


def test_faults_are_consumed_in_order_then_normal_behaviour_resumes(
    idp: TestIdentityProvider,
) -> None:
    idp.inject("jwks", HttpStatus(status=503), times=2)
    idp.inject("jwks", EmptyBody())
    assert [request(idp.jwks_uri).status for _ in range(2)] == [503, 503]
    assert request(idp.jwks_uri).body == b""
    assert request(idp.jwks_uri).json() == idp.jwks
    idp.inject("jwks", HttpStatus(status=500))
    idp.clear_faults()
    assert request(idp.jwks_uri).status == 200
    with pytest.raises(ConfigurationError, match="endpoint"):
        idp.inject("userinfo", EmptyBody())
    with pytest.raises(ConfigurationError, match="times"):
        idp.inject("jwks", EmptyBody(), times=0)
    with pytest.raises(ConfigurationError, match="400 to 599"):
        HttpStatus(status=302)


def test_the_jwks_refresher_retries_through_a_503(idp: TestIdentityProvider) -> None:
    idp.inject("jwks", HttpStatus(status=503, retry_after_s=0))
    refresher = JwksRefresher.for_url(
        idp.jwks_uri, allow_insecure_loopback=True, retry=RetryPolicy(backoff_s=0.01)
    )
    refresher.refresh()
    assert refresher.cache.keys_for(idp.signing_kid, "RS256")
    assert [r.status for r in idp.requests if r.endpoint is Endpoint.JWKS] == [503, 200]


# --- the request log ------------------------------------------------------------------------------


def test_the_request_log_redacts_secrets(idp: TestIdentityProvider) -> None:
    client_assertion = assertion(idp)
    request(idp.token_endpoint, {"grant_type": "client_credentials"}, headers=basic("app", SECRET))
    request(
        idp.token_endpoint,
        {"grant_type": "client_credentials", "client_id": "app", "client_secret": SECRET},
    )
    request(
        idp.token_endpoint,
        {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
            "client_assertion": client_assertion,
        },
    )
    first, second, third = idp.requests
    assert (first.method, first.path, first.endpoint, first.status) == (
        "POST",
        "/token",
        Endpoint.TOKEN,
        200,
    )
    assert first.time == NOW
    assert first.header("authorization") == f"Basic {REDACTED}"
    assert dict(first.form) == {"grant_type": "client_credentials"}
    assert second.form["client_secret"] == REDACTED
    assert second.form["client_id"] == "app"
    assert third.form["client_assertion"] == REDACTED
    text = repr(idp.requests)
    encoded = basic("app", SECRET)["Authorization"].split()[1]
    for secret in (SECRET, urllib.parse.quote_plus(SECRET), encoded, client_assertion):
        assert secret not in text
    request(idp.jwks_uri + "?client_secret=hunter2&x=1")
    assert idp.requests[-1].path == f"/jwks?client_secret={REDACTED}&x=1"
    idp.clear_requests()
    assert idp.requests == ()


def test_the_request_log_redacts_every_credential_field(idp: TestIdentityProvider) -> None:
    request(
        idp.token_endpoint,
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": "SUBJECT-hunter2",
            "CLIENT_SECRET": "UPPER-hunter2",
            "access_token": "FORM-hunter2",
        },
        headers={"X-API-Key": "APIKEY-hunter2", "Cookie": "session=COOKIE-hunter2"},
    )
    request(idp.jwks_uri + "?access_token=QUERY-hunter2&Api_Key=QK-hunter2&x=1")
    text = repr(idp.requests)
    assert "hunter2" not in text
    first, second = idp.requests
    assert first.form["grant_type"].endswith("token-exchange")
    assert first.header("x-api-key") == REDACTED
    assert second.path == f"/jwks?access_token={REDACTED}&Api_Key={REDACTED}&x=1"


# --- lifecycle and loopback ----------------------------------------------------------------


def test_stop_leaves_no_threads_and_is_idempotent() -> None:
    before = set(threading.enumerate())
    idp = TestIdentityProvider().start()
    idp.inject("jwks", Slow(delay_s=30))
    hung = threading.Thread(target=_swallow, args=(idp.jwks_uri,))
    hung.start()
    time.sleep(0.1)
    with pytest.raises(IdentityProviderStateError):
        idp.start()
    started = time.monotonic()
    idp.stop()  # cuts the slow answer short
    idp.stop()
    hung.join(5)
    assert time.monotonic() - started < 2
    # Nothing new is left (a handler thread of the shared provider may have ended meanwhile).
    assert set(threading.enumerate()) <= before


def _swallow(url: str) -> None:
    with contextlib.suppress(OSError):  # the connection is dropped by stop()
        request(url, timeout=10)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "localhost", "::1", ""])  # noqa: S104
def test_only_loopback_addresses(host: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        TestIdentityProvider(host=host)
    with pytest.raises(ConfigurationError, match="loopback"):
        serve(host=host)


def test_serve_prints_endpoints_and_credentials_then_stops() -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, kwargs={"out": out, "stop": stop, "client_secret": "pw", "scopes": "a b"}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while "Ctrl-C" not in out.getvalue():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        lines = dict(line.split(":", 1) for line in out.getvalue().splitlines()[1:-1])
        fields = {name.strip(): value.strip() for name, value in lines.items()}
        assert fields["client_id"] == "demo-client"
        assert fields["client_secret"] == "pw"
        assert fields["scope"] == "a b"
        assert fields["issuer"].startswith("http://127.0.0.1:")
        reply = request(
            fields["token_endpoint"],
            {"grant_type": "client_credentials"},
            headers=basic("demo-client", "pw"),
        )
        assert reply.json()["scope"] == "a b"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_sign_raw_signs_the_bytes_as_given() -> None:
    with TestIdentityProvider() as idp:
        header = json.dumps({"alg": "PS256", "kid": idp.signing_kid, "crit": []}).encode()
        payload = b'{"sub":"a","sub":"b"} trailing'
        token = idp.sign_raw(header, payload, algorithm="PS256")
        head, body, _ = token.split(".")
        assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) == payload
        key = idp.key_set().keys[0].key
        signature = token.rsplit(".", 1)[1]
        assert pyjwt.get_algorithm_by_name("PS256").verify(
            f"{head}.{body}".encode(),
            key,
            base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        )
        with pytest.raises(ConfigurationError):
            idp.sign_raw(header, payload, algorithm="HS256")
