"""IntrospectionValidator against real RFC 7662 endpoints over loopback HTTP.

* our test IdP (``oauthbearer.testing.idp``): opaque and JWT tokens, the three
  client authentications, revocation, fault injection, and a load test;
* authlib's ``IntrospectionEndpoint``, an independent implementation, wired into
  a tiny ``http.server`` (see :class:`AuthlibServer`);
* Keycloak's introspection endpoint is the Keycloak fixture's to add (issue 16,
  part 1); nothing here stands in for it.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oauthbearer.errors import InvalidToken
from oauthbearer.testing.idp import (
    DropConnection,
    Endpoint,
    HttpStatus,
    MalformedJson,
    TestIdentityProvider,
)
from oauthbearer.validation.introspection import (
    IntrospectionCache,
    IntrospectionError,
    IntrospectionRules,
)
from oauthbearer.validation.introspection_http import IntrospectionValidator

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "introspection-secret"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def idp(rsa_key: rsa.RSAPrivateKey) -> Iterator[TestIdentityProvider]:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with TestIdentityProvider() as provider:
        provider.add_client("broker", SECRET, public_key_pem=pem)
        provider.add_client("app", "app-secret", scopes=("kafka",), audience="kafka")
        yield provider


def introspector(idp: TestIdentityProvider, **options: Any) -> IntrospectionValidator:
    if "private_key" not in options:
        options.setdefault("client_secret", SECRET)
    return IntrospectionValidator(
        idp.introspection_endpoint, client_id="broker", allow_insecure_loopback=True, **options
    )


def introspections(idp: TestIdentityProvider) -> list[int | None]:
    return [r.status for r in idp.requests if r.endpoint is Endpoint.INTROSPECT]


# --- our test IdP -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_an_opaque_token_is_introspected(
    idp: TestIdentityProvider, rsa_key: rsa.RSAPrivateKey, method: str
) -> None:
    token = idp.mint_opaque_token("alice", scope="kafka read", audience="kafka", client_id="app")
    options: dict[str, Any] = {"auth_method": method}
    if method == "private_key_jwt":
        options["private_key"] = rsa_key
    checker = introspector(
        idp, rules=IntrospectionRules(audience="kafka", issuer=idp.issuer), **options
    )
    negotiated = checker.validate(token, now=time.time())
    assert negotiated.principal == "alice"
    assert negotiated.scope == {"kafka", "read"}
    assert negotiated.claims["client_id"] == "app"
    assert introspections(idp) == [200]
    recorded = idp.requests[-1]
    assert token not in json.dumps(dict(recorded.form)) + repr(recorded.headers)
    if method == "client_secret_basic":
        assert recorded.header("Authorization") == "Basic [redacted]"
    else:
        assert recorded.header("Authorization") is None


def test_a_jwt_is_introspected_too(idp: TestIdentityProvider) -> None:
    token = idp.mint_token("bob", scope="kafka")
    assert introspector(idp).validate(token, now=time.time()).principal == "bob"


def test_revoked_and_unknown_tokens_are_inactive(idp: TestIdentityProvider) -> None:
    token = idp.mint_opaque_token("alice")
    checker = introspector(idp, cache=IntrospectionCache(max_entries=0))
    assert checker.validate(token, now=time.time()).principal == "alice"
    assert idp.revoke(token)
    for unknown in (token, "never-issued", idp.mint_opaque_token("x", lifetime_s=1, now=0)):
        with pytest.raises(InvalidToken) as refused:
            checker.validate(unknown, now=time.time())
        assert refused.value.status == "invalid_token"


def test_a_wrong_client_secret_is_the_providers_error_not_a_refusal(
    idp: TestIdentityProvider,
) -> None:
    token = idp.mint_opaque_token("alice")
    with pytest.raises(IntrospectionError, match="HTTP 401: invalid_client") as failed:
        introspector(idp, client_secret="wrong").validate(token, now=time.time())
    assert not failed.value.retryable
    assert introspections(idp) == [401]


def test_injected_faults_are_retried_and_never_granted(idp: TestIdentityProvider) -> None:
    token = idp.mint_opaque_token("alice")
    idp.inject("introspect", HttpStatus(status=503))
    idp.inject("introspect", DropConnection())
    checker = introspector(idp)
    assert checker.validate(token, now=time.time()).principal == "alice"
    assert introspections(idp) == [503, None, 200]
    idp.inject(Endpoint.INTROSPECT, MalformedJson())
    with pytest.raises(IntrospectionError, match="not strict JSON"):
        introspector(idp).validate(token, now=time.time())
    idp.inject(Endpoint.INTROSPECT, HttpStatus(status=503), times=50)
    with pytest.raises(IntrospectionError) as failed:
        introspector(idp).validate(token, now=time.time())
    assert failed.value.retryable


def test_the_metadata_names_the_endpoint(idp: TestIdentityProvider) -> None:
    assert idp.metadata["introspection_endpoint"] == idp.introspection_endpoint


def test_load_1000_authentications_with_50_tokens(idp: TestIdentityProvider) -> None:
    """1,000 authentications from 32 threads, 50 distinct tokens: the cache and
    the single flight leave exactly one introspection per token."""
    tokens = [idp.mint_opaque_token(f"user-{n}", scope="kafka") for n in range(50)]
    checker = introspector(idp)
    logins = [tokens[n % 50] for n in range(1000)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        principals = list(
            pool.map(lambda t: checker.validate(t, now=time.time()).principal, logins)
        )
    elapsed = time.perf_counter() - started
    assert principals == [f"user-{n % 50}" for n in range(1000)]
    idp_requests = len(introspections(idp))
    assert idp_requests == checker.requests_sent == 50
    cache = checker.cache
    assert cache.hits + checker.requests_joined + idp_requests == 1000
    print(
        f"\nintrospection load: 1000 authentications, 50 tokens, 32 threads: "
        f"{idp_requests} IdP requests; cache hit ratio {cache.hits / 1000:.1%} "
        f"({cache.hits} hits), {checker.requests_joined} joined a request in flight, "
        f"{1 - idp_requests / 1000:.1%} answered without a request of their own; {elapsed:.2f} s"
    )


# --- authlib's IntrospectionEndpoint ------------------------------------------------------------


class AuthlibServer:
    """authlib's RFC 7662 endpoint behind ``http.server``, on loopback.

    Clients authenticate with ``client_secret_basic`` or ``client_secret_post``
    (authlib's own client authentication); tokens live in ``self.tokens``.
    """

    def __init__(self) -> None:
        from authlib.oauth2 import rfc6749, rfc7662

        owner = self
        self.tokens: dict[str, dict[str, Any]] = {}
        self.clients = {"broker": SECRET}
        self.requests = 0

        class Client(rfc6749.ClientMixin):  # type: ignore[misc]
            def __init__(self, client_id: str) -> None:
                self.client_id = client_id

            def get_client_id(self) -> str:
                return self.client_id

            def check_client_secret(self, client_secret: str) -> bool:
                return secrets.compare_digest(owner.clients[self.client_id], client_secret)

            def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
                return method in ("client_secret_basic", "client_secret_post")

        class Token:
            def __init__(self, claims: dict[str, Any]) -> None:
                self.claims = claims

            def is_expired(self) -> bool:
                return bool(self.claims["exp"] <= time.time())

            def is_revoked(self) -> bool:
                return False

        class Introspection(rfc7662.IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

            def query_token(self, token: str, hint: str | None) -> Token | None:
                claims = owner.tokens.get(token)
                return None if claims is None else Token(claims)

            def introspect_token(self, token: Token) -> dict[str, Any]:
                return {"active": True, **token.claims}

            def check_permission(self, token: Token, client: Client, request: Any) -> bool:
                return True

        class Request(rfc6749.OAuth2Request):  # type: ignore[misc]
            def __init__(self, headers: dict[str, str], form: dict[str, str]) -> None:
                super().__init__("POST", "https://127.0.0.1/introspect", headers=headers)
                self._form = form
                self.payload = rfc6749.requests.BasicOAuth2Payload(form)

            @property
            def form(self) -> dict[str, str]:
                return self._form

            @property
            def args(self) -> dict[str, str]:
                return {}

        class Server(rfc6749.AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> Client | None:
                return Client(client_id) if client_id in owner.clients else None

            def save_token(self, token: Any, request: Any) -> None:
                raise NotImplementedError

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

            def create_oauth2_request(self, request: Request) -> Request:
                return request

            def handle_response(
                self, status: int, body: Any, headers: Any
            ) -> tuple[int, bytes, list[tuple[str, str]]]:
                return status, json.dumps(body).encode(), list(headers)

        server = Server()
        server.register_endpoint(Introspection)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.requests += 1
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                request = Request(dict(self.headers.items()), form)
                status, body, headers = server.create_endpoint_response("introspection", request)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def authlib_server() -> Iterator[AuthlibServer]:
    pytest.importorskip("authlib", reason="pip install 'oauthbearer[test]' (authlib)")
    server = AuthlibServer()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlibs_endpoint(authlib_server: AuthlibServer, method: str) -> None:
    now = int(time.time())
    authlib_server.tokens["opaque-1"] = {
        "sub": "alice",
        "scope": "kafka",
        "client_id": "app",
        "token_type": "Bearer",
        "iss": "https://idp.example",
        "exp": now + 600,
        "iat": now,
    }
    authlib_server.tokens["expired"] = {"sub": "bob", "exp": now - 600, "iat": now - 1200}
    checker = IntrospectionValidator(
        authlib_server.url,
        client_id="broker",
        client_secret=SECRET,
        auth_method=method,  # type: ignore[arg-type]
        allow_insecure_loopback=True,
        rules=IntrospectionRules(issuer="https://idp.example", token_type="Bearer"),
    )
    negotiated = checker.validate("opaque-1", now=time.time())
    assert (negotiated.principal, negotiated.scope) == ("alice", frozenset({"kafka"}))
    for dead in ("expired", "unknown"):
        with pytest.raises(InvalidToken):
            checker.validate(dead, now=time.time())
    wrong = IntrospectionValidator(
        authlib_server.url,
        client_id="broker",
        client_secret="wrong",
        auth_method=method,  # type: ignore[arg-type]
        allow_insecure_loopback=True,
    )
    with pytest.raises(IntrospectionError, match="HTTP 401: invalid_client"):
        wrong.validate("opaque-1", now=time.time())
    assert authlib_server.requests == 4


# --- the command line ---------------------------------------------------------------------------


def test_validate_introspect_on_the_command_line(
    idp: TestIdentityProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oauthbearer.cli.commands import CLIENT_SECRET_ENV, main

    token = idp.mint_opaque_token("alice", scope="kafka")
    base = ["validate", "--introspect", idp.introspection_endpoint, "--client-id", "broker"]
    base.append("--insecure-loopback")
    assert main([*base, "--client-secret", SECRET, token]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["ok"], shown["principal"], shown["scope"]) == (True, "alice", ["kafka"])
    monkeypatch.setenv(CLIENT_SECRET_ENV, SECRET)
    assert main([*base, "--client-auth", "post", "never-issued"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "invalid_token"
    assert main([*base, "--client-secret", "wrong", token]) == 2
    assert "HTTP 401: invalid_client" in capsys.readouterr().err
    monkeypatch.delenv(CLIENT_SECRET_ENV)
    with pytest.raises(SystemExit) as usage:
        main([*base, token])
    assert usage.value.code == 2
    assert "--client-secret" in capsys.readouterr().err
    assert introspections(idp) == [200, 200, 401]
