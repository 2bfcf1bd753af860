"""RFC 7662 introspection: the request, the strict reading of answers, the cache policy,
the shell's single flight and concurrency cap, and the JWT-or-introspection chain.

The servers (our test IdP, authlib's endpoint, Dovecot as a client of ours) are in
tests/test_introspection_servers.py; this file needs no network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.parse
from typing import Any

import pytest

from oauthbearer import Authenticated, ServerSession, TokenReceived
from oauthbearer.errors import ConfigurationError, InvalidToken, TokenReason
from oauthbearer.gs2 import ClientInitialResponse, ErrorResponse
from oauthbearer.login.grants import CLIENT_ASSERTION_TYPE_JWT_BEARER
from oauthbearer.testing.idp import TestIdentityProvider
from oauthbearer.validation.introspection import (
    MAX_INTROSPECTION_RESPONSE_SIZE,
    IntrospectionCache,
    IntrospectionError,
    IntrospectionRequest,
    IntrospectionRules,
    JwtOrIntrospection,
    introspection_request,
    parse_introspection_response,
    token_key,
)
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.jwt import JwtValidator

URL = "https://idp.example/introspect"
NOW = 1_700_000_000.0
TOKEN = "opaque-token-1"


def answer(**members: Any) -> bytes:
    document = {"active": True, "sub": "alice", "exp": NOW + 600, "iat": NOW - 10}
    document.update(members)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def parse(body: bytes, status: int = 200, **rules: Any) -> Any:
    return parse_introspection_response(
        status, body, token=TOKEN, now=NOW, rules=IntrospectionRules(**rules)
    )


# --- the request --------------------------------------------------------------------------


def form(request: IntrospectionRequest) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request.body.decode()))


def test_basic_authentication_puts_the_client_in_the_header() -> None:
    request = introspection_request(URL, TOKEN, client_id="rs", client_secret="s3cret")
    assert form(request) == {"token": TOKEN, "token_type_hint": "access_token"}
    headers = dict(request.headers)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"rs:s3cret").decode()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert TOKEN not in repr(request)
    assert "s3cret" not in repr(request)
    assert {TOKEN, "s3cret"} <= request.secrets


def test_post_authentication_puts_the_client_in_the_body() -> None:
    request = introspection_request(
        URL, TOKEN, client_id="rs", client_secret="s3cret", auth_method="client_secret_post"
    )
    assert form(request) == {
        "token": TOKEN,
        "token_type_hint": "access_token",
        "client_id": "rs",
        "client_secret": "s3cret",
    }
    assert "Authorization" not in dict(request.headers)


def test_private_key_jwt_sends_the_assertion() -> None:
    assertion = "aGVhZGVy.cGF5bG9hZA.c2ln"
    request = introspection_request(
        URL, TOKEN, client_id="rs", auth_method="private_key_jwt", assertion=assertion
    )
    fields = form(request)
    assert fields["client_assertion"] == assertion
    assert fields["client_assertion_type"] == CLIENT_ASSERTION_TYPE_JWT_BEARER
    assert assertion in request.secrets


def test_the_request_refuses_bad_options() -> None:
    with pytest.raises(ConfigurationError, match="auth_method"):
        introspection_request(URL, TOKEN, client_id="rs", auth_method="none")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="assertion"):
        introspection_request(URL, TOKEN, client_id="rs", auth_method="private_key_jwt")
    with pytest.raises(ConfigurationError, match="https"):
        introspection_request("http://idp.example/i", TOKEN, client_id="rs", client_secret="s")


# --- the answer ---------------------------------------------------------------------------


def test_an_active_answer_gives_the_token() -> None:
    token = parse(answer(scope="read write", aud=["kafka"], client_id="app"))
    assert token.principal == "alice"
    assert token.scope == frozenset({"read", "write"})
    assert token.lifetime_ms == int((NOW + 600) * 1000)
    assert token.start_time_ms == int((NOW - 10) * 1000)
    assert token.claims["client_id"] == "app"
    assert TOKEN not in repr(token)


def test_an_inactive_answer_is_invalid_token() -> None:
    with pytest.raises(InvalidToken) as refused:
        parse(b'{"active":false}')
    assert refused.value.status == "invalid_token"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"sub":"alice"}', "'active' is missing"),
        (b'{"active":"true"}', "'active' is a JSON str"),
        (b'{"active":1}', "'active' is a JSON int"),
        (b'{"active":true,"active":true}', "appears twice"),
        (b"[true]", "not an object"),
        (b'{"active":true', "not strict JSON"),
        (answer(exp="soon"), "'exp' is not a NumericDate"),
        (answer(iat=True), "'iat' is not a NumericDate"),
        (answer(nbf=-1), "'nbf' is not a NumericDate"),
        (answer(scope=["read"]), "'scope' is a JSON list"),
        (answer(sub=7), "'sub' is a JSON int"),
        (answer(aud=[1]), "'aud' is neither"),
    ],
)
def test_a_malformed_answer_is_the_providers_error(body: bytes, words: str) -> None:
    with pytest.raises(IntrospectionError, match=words) as failed:
        parse(body)
    assert not failed.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (403, False), (429, True), (500, True), (501, False)]
)
def test_an_error_status_is_the_providers_error(status: int, retryable: bool) -> None:
    body = json.dumps({"error": f"nope {TOKEN}"}).encode()
    request = introspection_request(URL, TOKEN, client_id="rs", client_secret="s")
    with pytest.raises(IntrospectionError) as failed:
        parse_introspection_response(status, body, token=TOKEN, now=NOW, request=request)
    assert failed.value.status == status
    assert failed.value.retryable is retryable
    assert TOKEN not in str(failed.value)  # an echoed token is scrubbed


def test_an_oversized_or_empty_body_is_the_providers_error() -> None:
    with pytest.raises(IntrospectionError, match="MAX_INTROSPECTION_RESPONSE_SIZE"):
        parse(b" " * (MAX_INTROSPECTION_RESPONSE_SIZE + 1))
    with pytest.raises(IntrospectionError, match="empty") as failed:
        parse(b"")
    assert failed.value.retryable


def test_expiry_and_not_before_are_checked_with_the_skew() -> None:
    with pytest.raises(InvalidToken) as refused:
        parse(answer(exp=NOW - 31))
    assert refused.value.reason is TokenReason.EXPIRED
    assert parse(answer(exp=NOW - 29)).principal == "alice"
    with pytest.raises(InvalidToken) as refused:
        parse(answer(nbf=NOW + 31))
    assert refused.value.reason is TokenReason.NOT_YET_VALID
    with pytest.raises(InvalidToken) as refused:
        parse(answer(exp=NOW - 1), clock_skew_s=0)
    assert refused.value.reason is TokenReason.EXPIRED


def test_the_principal_claim_and_its_fallback() -> None:
    body = answer(sub=None, username="bob", client_id="app")
    with pytest.raises(InvalidToken) as refused:
        parse(body)
    assert refused.value.reason is TokenReason.MISSING_CLAIM
    assert parse(body, fallback_principal_claim="username").principal == "bob"
    assert parse(body, principal_claim="client_id").principal == "app"
    with pytest.raises(InvalidToken) as refused:
        parse(answer(sub=" alice"))
    assert refused.value.reason is TokenReason.MISSING_CLAIM


def test_issuer_audience_and_token_type_are_checked_when_configured() -> None:
    body = answer(iss="https://idp.example", aud="kafka", token_type="Bearer")
    assert parse(body, issuer="https://idp.example", audience=["x", "kafka"], token_type="bearer")
    with pytest.raises(InvalidToken) as refused:
        parse(body, issuer="https://other.example")
    assert refused.value.reason is TokenReason.WRONG_ISSUER
    with pytest.raises(InvalidToken) as refused:
        parse(body, audience="other")
    assert refused.value.reason is TokenReason.WRONG_AUDIENCE
    with pytest.raises(InvalidToken) as refused:
        parse(body, token_type="DPoP")
    assert refused.value.reason is TokenReason.WRONG_TOKEN_TYPE
    with pytest.raises(InvalidToken) as refused:
        parse(answer(), issuer="https://idp.example")
    assert refused.value.reason is TokenReason.WRONG_ISSUER


def test_without_exp_the_default_lifetime_applies() -> None:
    token = parse(answer(exp=None, iat=None), default_lifetime_s=60)
    assert token.lifetime_ms == int((NOW + 60) * 1000)
    assert token.start_time_ms is None


# --- the cache policy ----------------------------------------------------------------------


def test_the_cache_keeps_a_token_until_its_expiry_or_the_max_ttl() -> None:
    cache = IntrospectionCache(max_ttl_s=300, negative_ttl_s=10)
    key = token_key(TOKEN)
    short = parse(answer(exp=NOW + 100))
    cache.put(key, short, now=NOW)
    assert cache.get(key, now=NOW + 99) is short
    assert cache.get(key, now=NOW + 100) is None
    cache.put(key, parse(answer(exp=NOW + 10_000)), now=NOW)
    assert cache.get(key, now=NOW + 299) is not None
    assert cache.get(key, now=NOW + 300) is None
    refusal = InvalidToken("invalid_token", reason=TokenReason.INACTIVE)
    cache.put(key, refusal, now=NOW)
    assert cache.get(key, now=NOW + 9) is refusal
    assert cache.get(key, now=NOW + 10) is None
    assert (cache.hits, cache.misses) == (3, 3)


def test_the_cache_is_bounded_and_keyed_by_hash() -> None:
    cache = IntrospectionCache(max_entries=2)
    token = parse(answer())
    for name in ("a", "b", "c"):
        cache.put(token_key(name), token, now=NOW)
    assert len(cache) == 2
    assert cache.get(token_key("a"), now=NOW) is None
    assert cache.get(token_key("c"), now=NOW) is token
    assert token_key("a") != b"a"
    with pytest.raises(ConfigurationError):
        IntrospectionCache(max_ttl_s=-1)


# --- the shell ------------------------------------------------------------------------------


class FakeEndpoint:
    """A transport that answers from a table and counts requests."""

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.seen: list[str] = []
        self.delay_s = delay_s
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, request: IntrospectionRequest) -> tuple[int, bytes]:
        token = form(request)["token"]
        with self.lock:
            self.seen.append(token)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            return self.answers.get(token, (200, b'{"active":false}'))
        finally:
            with self.lock:
                self.in_flight -= 1


def validator(endpoint: FakeEndpoint, **options: Any) -> IntrospectionValidator:
    options.setdefault("client_secret", "s3cret")
    return IntrospectionValidator(URL, client_id="rs", transport=endpoint, **options)


def test_the_validator_caches_answers_and_refusals() -> None:
    endpoint = FakeEndpoint()
    endpoint.answers[TOKEN] = (200, answer())
    checker = validator(endpoint)
    for _ in range(3):
        assert checker.validate(TOKEN, now=NOW).principal == "alice"
    for _ in range(3):
        with pytest.raises(InvalidToken):
            checker.validate("dead-token", now=NOW)
    assert endpoint.seen == [TOKEN, "dead-token"]
    assert checker.requests_sent == 2
    assert (checker.cache.hits, checker.cache.misses) == (4, 2)
    assert TOKEN not in repr(checker)
    assert "s3cret" not in repr(checker)


def test_a_provider_failure_is_retried_never_cached_never_granted() -> None:
    endpoint = FakeEndpoint()
    endpoint.answers[TOKEN] = (503, b"{}")
    sleeps: list[float] = []
    checker = validator(endpoint, sleep=sleeps.append, monotonic=lambda: sum(sleeps))
    with pytest.raises(IntrospectionError) as failed:
        checker.validate(TOKEN, now=NOW)
    assert failed.value.retryable
    # 100 ms doubling within the 2 s budget: 0.1, 0.2, 0.4, 0.8, then the 0.5 left.
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.5])
    assert len(endpoint.seen) == 6
    endpoint.answers[TOKEN] = (200, answer())
    assert checker.validate(TOKEN, now=NOW).principal == "alice"  # not cached


def test_one_request_in_flight_per_token() -> None:
    endpoint = FakeEndpoint(delay_s=0.2)
    endpoint.answers[TOKEN] = (200, answer())
    checker = validator(endpoint)
    results: list[str] = []

    def login() -> None:
        results.append(checker.validate(TOKEN, now=NOW).principal)

    threads = [threading.Thread(target=login) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["alice"] * 10
    assert endpoint.seen == [TOKEN]


def test_the_concurrent_requests_are_capped() -> None:
    endpoint = FakeEndpoint(delay_s=0.05)
    tokens = [f"token-{n}" for n in range(20)]
    for token in tokens:
        endpoint.answers[token] = (200, answer())
    checker = validator(endpoint, max_concurrent_requests=3)
    threads = [
        threading.Thread(target=checker.validate, args=(token,), kwargs={"now": NOW})
        for token in tokens
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(endpoint.seen) == 20
    assert endpoint.most_in_flight == 3


def test_a_token_that_cannot_be_sent_is_refused_without_asking() -> None:
    endpoint = FakeEndpoint()
    with pytest.raises(InvalidToken) as refused:
        validator(endpoint).validate("not a token", now=NOW)
    assert refused.value.reason is TokenReason.MALFORMED
    assert endpoint.seen == []


def test_avalidate_shares_one_request_between_coroutines() -> None:
    endpoint = FakeEndpoint(delay_s=0.1)
    endpoint.answers[TOKEN] = (200, answer())
    checker = validator(endpoint)

    async def main() -> list[str]:
        tokens = await asyncio.gather(*(checker.avalidate(TOKEN, now=NOW) for _ in range(20)))
        return [token.principal for token in tokens]

    assert asyncio.run(main()) == ["alice"] * 20
    assert endpoint.seen == [TOKEN]


def test_the_server_session_accepts_by_asynchronous_introspection() -> None:
    endpoint = FakeEndpoint()
    endpoint.answers[TOKEN] = (200, answer(scope="kafka"))
    checker = validator(endpoint)

    async def exchange(token: str) -> bytes | str:
        session = ServerSession()
        event = session.receive(ClientInitialResponse(token, authzid="alice").encode())
        assert isinstance(event, TokenReceived)
        try:
            negotiated = await checker.avalidate(event.response.token, now=NOW)
        except InvalidToken as refused:
            return session.reject(ErrorResponse(refused.status)).reply
        granted = session.accept(negotiated)
        assert isinstance(granted, Authenticated)
        return granted.token.principal

    assert asyncio.run(exchange(TOKEN)) == "alice"
    assert asyncio.run(exchange("revoked")) == b'{"status":"invalid_token"}'


# --- the chain ---------------------------------------------------------------------------------


def test_the_chain_validates_our_jwts_locally_and_introspects_the_rest() -> None:
    endpoint = FakeEndpoint()
    endpoint.answers[TOKEN] = (200, answer())
    with TestIdentityProvider() as idp:
        local = JwtValidator(idp.key_set(), issuer=idp.issuer)
        stranger = TestIdentityProvider().start()
        try:
            foreign = stranger.mint_token("carol")
        finally:
            stranger.stop()
        endpoint.answers[foreign] = (200, answer(sub="carol"))
        chain = JwtOrIntrospection(local, validator(endpoint))
        now = time.time()
        ours = idp.mint_token("bob")
        assert local.can_verify(ours)
        assert chain.validate(ours, now=now).principal == "bob"
        assert chain.validate(TOKEN, now=NOW).principal == "alice"
        assert not local.can_verify(foreign)  # another kid: introspected
        assert chain.validate(foreign, now=NOW).principal == "carol"
        tampered = ours[:-4] + ("AAAA" if not ours.endswith("AAAA") else "BBBB")
        with pytest.raises(InvalidToken) as refused:
            chain.validate(tampered, now=now)  # ours: the local verdict is final
        assert refused.value.reason is TokenReason.BAD_SIGNATURE
        assert endpoint.seen == [TOKEN, foreign]
        assert asyncio.run(chain.avalidate(ours, now=now)).principal == "bob"
        assert asyncio.run(chain.avalidate(TOKEN, now=NOW)).principal == "alice"
