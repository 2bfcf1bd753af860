"""Observability: what the shells log and count, against the test identity provider.

Every scenario runs over loopback HTTP against :class:`TestIdentityProvider`
with its injected faults: no transport is replaced. The log lines are read with
``caplog``; the counters with :class:`RecordingHooks`. Each test also checks
that no secret (the client secret, a token, an Authorization header) reached
a log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer.config import ClientCredentialsConfig
from oauthbearer.errors import ArgumentTypeError, InvalidToken, TokenReason
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.kafka import ClientAuthenticated, ClientAuthenticationFailed
from oauthbearer.kafka.aio import authenticate
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.login.client_token import client_token
from oauthbearer.login.grants import TokenEndpointError, client_credentials_request
from oauthbearer.login.http import fetch_token_async
from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider, TokenUnavailable
from oauthbearer.login.sources import client_credentials_fetch
from oauthbearer.observe import (
    Metric,
    ObservedValidator,
    RecordingHooks,
    Timing,
    count,
    install_hooks,
    log_text,
    timing,
    token_id,
)
from oauthbearer.testing.idp import Endpoint, HttpStatus, TestIdentityProvider
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwks_cache import KeySetChange
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from oauthbearer.token import OAuthBearerToken

SECRET = "s3cret-Do-Not-Log"
AUDIENCE = "kafka-cluster"


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", SECRET, scopes=("kafka",), audience=AUDIENCE)
        yield provider


@pytest.fixture(autouse=True)
def fresh(idp: TestIdentityProvider) -> None:
    idp.clear_faults()
    idp.clear_requests()


@pytest.fixture
def hooks() -> Iterator[RecordingHooks]:
    recording = RecordingHooks()
    previous = install_hooks(recording)
    try:
        yield recording
    finally:
        install_hooks(previous)


def token_requests(idp: TestIdentityProvider) -> int:
    return sum(1 for request in idp.requests if request.endpoint == Endpoint.TOKEN)


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def said(caplog: pytest.LogCaptureFixture, text: str, logger: str = "oauthbearer.login") -> bool:
    return any(text in line for line in lines(caplog, logger))


def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (SECRET, "Authorization", "Basic ", *secrets):
        assert secret not in text


def config(idp: TestIdentityProvider, retry: RetryPolicy) -> ClientCredentialsConfig:
    return ClientCredentialsConfig(
        token_endpoint_url=idp.token_endpoint,
        client_id="orders",
        client_secret=SECRET,
        scope="kafka",
        retry=retry,
    )


# --- the token provider ------------------------------------------------------------------


class Gate:
    """A provider's ``wait``: each refresh runs when the test opens the gate."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.closed = False

    def __call__(self, seconds: float) -> None:
        while not self._open.wait(0.05):
            if self.closed:
                return
        self._open.clear()

    def open(self) -> None:
        self._open.set()


def test_a_refresh_failure_shows_in_the_logs_within_one_retry(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture, hooks: RecordingHooks
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer")
    fetch = client_credentials_fetch(
        config(idp, RetryPolicy(backoff_s=0.5, budget_s=30.0)), allow_insecure_loopback=True
    )
    offset = [0.0]
    gate = Gate()
    provider = TokenProvider(fetch, clock=lambda: time.time() + offset[0], wait=gate)
    provider.start()
    try:
        first = provider.token()
        assert any(
            f"token {token_id(first.value)} fetched for principal 'orders'" in line
            for line in lines(caplog, "oauthbearer.login")
        )
        until(lambda: said(caplog, "token refresh scheduled at"))
        idp.inject(Endpoint.TOKEN, HttpStatus(status=503), times=1000)
        offset[0] = 86_400.0  # the token has expired: only the error in flight explains why
        before = token_requests(idp)
        gate.open()
        until(lambda: token_requests(idp) > before)
        until(lambda: said(caplog, "attempt 1 failed"))
        # Within one retry: the line is there before the second attempt (0.5 s later) is sent.
        assert token_requests(idp) - before == 1
        (line,) = [line for line in lines(caplog, "oauthbearer.login") if "attempt 1" in line]
        assert line.startswith("token request attempt 1 failed, retrying in 0.500 s: ")
        assert "503" in line
        # And token() names that error, typed, while the refresh is still retrying.
        with pytest.raises(TokenUnavailable, match="503") as info:
            provider.token()
        assert isinstance(info.value.error, TokenEndpointError)
        assert info.value.error.retryable
        assert provider.last_error is None  # the refresh itself has not ended yet
        assert hooks.total(Metric.TOKEN_FETCH_ATTEMPTS, outcome="failed") >= 1
        assert hooks.total(Metric.TOKEN_FETCH_ATTEMPTS, outcome="ok") == 1
        no_secret_logged(caplog, first.value)
    finally:
        gate.closed = True
        idp.clear_faults()
        provider.close()


def test_refresh_failed_last_good_served_and_recovered(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture, hooks: RecordingHooks
) -> None:
    caplog.set_level(logging.INFO, logger="oauthbearer")
    fetch = client_credentials_fetch(
        config(idp, RetryPolicy(backoff_s=0.05, budget_s=0.2)), allow_insecure_loopback=True
    )
    gate = Gate()
    provider = TokenProvider(fetch, wait=gate)
    provider.start()
    try:
        good = provider.token()
        idp.inject(Endpoint.TOKEN, HttpStatus(status=500), times=1000)
        gate.open()
        until(lambda: provider.last_error is not None)
        login = lines(caplog, "oauthbearer.login")
        assert any("not retrying" in line for line in login)
        until(lambda: said(caplog, "token refresh failed (1 in a row"))
        # The last good token is served, said once per run of failures, counted each time.
        assert provider.token() is good
        assert provider.token() is good
        served = [x for x in lines(caplog, "oauthbearer.login") if "serving the last good" in x]
        assert len(served) == 1
        assert token_id(good.value) in served[0]
        assert hooks.total(Metric.LAST_GOOD_TOKEN_SERVED) == 2
        assert hooks.total(Metric.TOKEN_REFRESHES, outcome="failed") == 1
        idp.clear_faults()
        gate.open()
        until(lambda: provider.last_error is None)
        until(lambda: said(caplog, "recovered after 1 failed"))
        assert hooks.total(Metric.TOKEN_REFRESHES, outcome="recovered") == 1
        assert hooks.total(Metric.TOKEN_REFRESHES, outcome="ok") == 1  # start()
        fetched = [key for key in hooks.timings if key[0] is Timing.TOKEN_FETCH]
        assert {dict(labels)["outcome"] for _, labels in fetched} == {"ok", "failed"}
        no_secret_logged(caplog, good.value, provider.token().value)
    finally:
        gate.closed = True
        provider.close()


def test_async_start_names_the_error_in_flight(idp: TestIdentityProvider) -> None:
    request = client_credentials_request(idp.token_endpoint, "orders", SECRET, scope="kafka")

    async def fetch() -> OAuthBearerToken:
        response = await fetch_token_async(
            request, retry=RetryPolicy(backoff_s=0.3, budget_s=10.0), allow_insecure_loopback=True
        )
        return client_token(response.access_token)

    async def main() -> None:
        idp.inject(Endpoint.TOKEN, HttpStatus(status=429), times=2)
        provider = AsyncTokenProvider(fetch)
        starting = asyncio.create_task(provider.start())
        while True:
            with pytest.raises(TokenUnavailable) as info:
                provider.token()
            if info.value.error is not None:
                break
            await asyncio.sleep(0.005)
        assert isinstance(info.value.error, TokenEndpointError)
        assert "429" in str(info.value)
        assert not starting.done()  # still retrying: the error is the one in flight
        await starting
        assert provider.token().principal == "orders"
        await provider.aclose()

    asyncio.run(main())


def test_sync_start_names_the_error_in_flight(idp: TestIdentityProvider) -> None:
    fetch = client_credentials_fetch(
        config(idp, RetryPolicy(backoff_s=0.3, budget_s=10.0)), allow_insecure_loopback=True
    )
    idp.inject(Endpoint.TOKEN, HttpStatus(status=503), times=2)
    provider = TokenProvider(fetch, wait=Gate())
    errors: list[BaseException | None] = []
    starting = threading.Thread(target=provider.start)
    starting.start()

    def seen() -> bool:
        try:
            provider.token()
        except TokenUnavailable as error:
            errors.append(error.error)
        return any(errors)

    until(seen)
    assert isinstance(errors[-1], TokenEndpointError)
    starting.join(10)
    assert provider.token().principal == "orders"
    provider.close(0)


# --- the JWKS refresher ------------------------------------------------------------------


def test_jwks_refreshes_rotations_failures_and_unknown_kids(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture, hooks: RecordingHooks
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer")
    refresher = JwksRefresher.for_url(
        idp.jwks_uri,
        allow_insecure_loopback=True,
        retry=RetryPolicy(backoff_s=0.05, budget_s=0.2),
    )
    first_kid = idp.signing_kid
    refresher.refresh()
    jwks = lines(caplog, "oauthbearer.jwks")
    assert jwks[-1] == f"JWKS refreshed: 1 keys, kids added ['{first_kid}'], removed []"
    validator = JwtValidator(refresher.cache, audience=AUDIENCE, issuer=idp.issuer)

    # A token signed with a key the cache has not seen: an unknown kid, an expedited refresh.
    new_kid = idp.rotate_keys()
    token = idp.mint_token("alice", audience=AUDIENCE)
    with pytest.raises(InvalidToken):
        validator.validate(token, now=time.time())
    assert f"unknown kid '{new_kid}': expedited JWKS refresh requested" in lines(
        caplog, "oauthbearer.jwks"
    )
    assert refresher.cache.refresh_due()
    assert hooks.total(Metric.JWKS_LOOKUPS, result="miss") == 1

    idp.retire_old_keys()
    refresher.refresh()
    assert lines(caplog, "oauthbearer.jwks")[-1] == (
        f"JWKS refreshed: 1 keys, kids added ['{new_kid}'], removed ['{first_kid}']"
    )
    assert validator.validate(token, now=time.time()).principal == "alice"
    assert hooks.total(Metric.JWKS_LOOKUPS, result="hit") == 1

    # A failed refresh keeps the keys, and each attempt says why.
    idp.inject(Endpoint.JWKS, HttpStatus(status=503), times=1000)
    refresher.refresh()
    jwks = lines(caplog, "oauthbearer.jwks")
    assert any(x.startswith("JWKS fetch attempt 1 failed, retrying in 0.050 s: ") for x in jwks)
    assert jwks[-1].startswith("JWKS refresh failed, keeping the last 1 keys: ")
    assert validator.validate(token, now=time.time()).principal == "alice"
    assert hooks.total(Metric.JWKS_REFRESHES, outcome="ok") == 2
    assert hooks.total(Metric.JWKS_REFRESHES, outcome="failed") == 1
    no_secret_logged(caplog, token)


def test_a_hostile_kid_is_escaped(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer")
    refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    refresher.refresh()
    validator = JwtValidator(refresher.cache, audience=AUDIENCE)
    kid = "evil\n2026-01-01 INFO forged line\x1b[31m"
    token = idp.sign_raw(
        b'{"alg":"RS256","kid":"'
        + kid.encode().replace(b"\n", b"\\n").replace(b"\x1b", b"\\u001b")
        + b'"}',
        b'{"sub":"alice","exp":9999999999,"iat":1}',
    )
    with pytest.raises(InvalidToken):
        validator.validate(token, now=time.time())
    (line,) = [x for x in lines(caplog, "oauthbearer.jwks") if "unknown kid" in x]
    assert "\n" not in line
    assert "\x1b" not in line
    assert "'evil\\x0a2026-01-01 INFO forged line\\x1b[31m'" in line


# --- validation outcomes -----------------------------------------------------------------


def test_validation_outcomes_reasons_and_cache_hits(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture, hooks: RecordingHooks
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer.validation")
    validator = ObservedValidator(
        JwtValidator(idp.key_set(), audience=AUDIENCE, issuer=idp.issuer, cache_size=16)
    )
    good = idp.mint_token("alice", audience=AUDIENCE)
    wrong = idp.mint_token("mallory", audience="another-cluster")
    now = time.time()
    assert validator.validate(good, now=now).principal == "alice"
    assert validator.validate(good, now=now).principal == "alice"  # from the cache
    with pytest.raises(InvalidToken) as refused:
        validator.validate(wrong, now=now)
    assert hooks.total(Metric.VALIDATIONS, outcome="accepted") == 2
    assert hooks.total(Metric.VALIDATIONS, outcome="refused", status="invalid_token") == 1
    assert hooks.total(Metric.VERIFIED_CACHE_LOOKUPS, result="hit") == 1
    assert hooks.total(Metric.VERIFIED_CACHE_LOOKUPS, result="miss") == 2
    assert refused.value.reason is TokenReason.WRONG_AUDIENCE
    assert hooks.total(Metric.VALIDATIONS, reason="wrong-audience") == 1
    durations = hooks.timings[(Timing.VALIDATION, (("outcome", "accepted"),))]
    assert len(durations) == 2
    assert all(d >= 0 for d in durations)
    logged = lines(caplog, "oauthbearer.validation")
    assert logged[:2] == [f"token {token_id(good)} accepted"] * 2
    assert logged[2].startswith(f"token {token_id(wrong)} refused: invalid_token (")
    assert "audience" in logged[2]
    no_secret_logged(caplog, good, wrong)


def test_the_broker_reports_its_verdicts(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture, hooks: RecordingHooks
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer.validation")
    emulator = BrokerEmulator(JwtValidator(idp.key_set(), audience=AUDIENCE))
    good = idp.mint_token("alice", audience=AUDIENCE)
    bad = idp.mint_token("mallory", audience="elsewhere")
    with emulator.running_in_thread():
        ok = asyncio.run(authenticate(emulator.host, emulator.port, good))
        refused = asyncio.run(authenticate(emulator.host, emulator.port, bad))
    assert isinstance(ok, ClientAuthenticated)
    assert isinstance(refused, ClientAuthenticationFailed)
    assert hooks.total(Metric.VALIDATIONS, outcome="accepted") == 1
    assert hooks.total(Metric.VALIDATIONS, outcome="refused", status="invalid_token") == 1
    assert said(caplog, f"token {token_id(good)} accepted", "oauthbearer.validation")
    assert said(caplog, f"token {token_id(bad)} refused", "oauthbearer.validation")
    no_secret_logged(caplog, good, bad)


# --- hooks never break the caller --------------------------------------------------------


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def count(self, metric: Metric, value: int, labels: Mapping[str, str]) -> None:
        self.calls += 1
        raise RuntimeError("the metrics backend is down")

    def timing(self, metric: Timing, seconds: float, labels: Mapping[str, str]) -> None:
        self.calls += 1
        raise ZeroDivisionError


def test_a_hook_that_raises_is_logged_once_and_swallowed(
    idp: TestIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthbearer.hooks")
    broken = Broken()
    previous = install_hooks(broken)
    try:
        validator = ObservedValidator(JwtValidator(idp.key_set(), audience=AUDIENCE))
        token = idp.mint_token("alice", audience=AUDIENCE)
        for _ in range(3):
            assert validator.validate(token, now=time.time()).principal == "alice"
        with pytest.raises(InvalidToken):
            validator.validate("not.a.jwt", now=time.time())
        refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
        refresher.refresh()  # its counters raise too: the refresh still lands
        assert refresher.cache.key_set is not None
    finally:
        assert install_hooks(previous) is broken
    assert broken.calls >= 8
    records = [r for r in caplog.records if r.name == "oauthbearer.hooks"]
    assert [r.getMessage() for r in records] == [
        "metrics hook Broken.count raised RuntimeError; ignored (reported once)",
        "metrics hook Broken.timing raised ZeroDivisionError; ignored (reported once)",
    ]
    assert all(r.exc_info is not None for r in records)


def test_nothing_is_called_without_hooks() -> None:
    assert install_hooks(None) is None
    count(Metric.VALIDATIONS, outcome="accepted", status="", reason="")
    timing(Timing.VALIDATION, 0.1, outcome="accepted")


def test_recording_hooks_sum_by_label() -> None:
    recording = RecordingHooks()
    recording.count(Metric.VALIDATIONS, 1, {"outcome": "refused", "reason": "expired"})
    recording.count(Metric.VALIDATIONS, 2, {"outcome": "refused", "reason": "audience"})
    recording.count(Metric.VALIDATIONS, 1, {"outcome": "accepted", "reason": ""})
    assert recording.total(Metric.VALIDATIONS) == 4
    assert recording.total(Metric.VALIDATIONS, outcome="refused") == 3
    assert recording.total(Metric.VALIDATIONS, reason="audience") == 2
    assert recording.total(Metric.JWKS_REFRESHES) == 0


def test_token_id_and_log_text() -> None:
    assert token_id("abc") == "ba7816bf8f01"  # SHA-256("abc"), FIPS 180-2's example
    assert len(token_id("x" * 10_000)) == 12
    assert log_text("a\r\nb\u2028") == "'a\\x0d\\x0ab\\u2028'"
    assert log_text(42) == "'42'"


# --- properties --------------------------------------------------------------------------

KIDS = st.sets(st.text(st.characters(codec=None), min_size=1, max_size=8), max_size=6)


@settings(max_examples=100, deadline=None)
@given(old=KIDS, new=KIDS)
def test_key_set_change_names_exactly_the_kids_added_and_removed(
    old: set[str], new: set[str]
) -> None:
    def key_set(kids: set[str]) -> JsonWebKeySet:
        return JsonWebKeySet.from_dict(
            {
                "keys": [
                    {"kty": "oct", "k": "YW5jaG9y"},  # no kid: counted, never named
                    *({"kty": "oct", "kid": kid, "k": "c2VjcmV0"} for kid in sorted(kids)),
                ]
            },
            allow_symmetric=True,
        )

    change = KeySetChange.between(key_set(old), key_set(new))
    assert change.added == tuple(sorted(new - old))
    assert change.removed == tuple(sorted(old - new))
    assert change.keys == len(new) + 1
    assert KeySetChange.between(None, key_set(new)).added == tuple(sorted(new))


@settings(max_examples=200, deadline=None)
@given(value=st.text(st.characters(codec=None), max_size=60))
def test_log_text_forges_no_line(value: str) -> None:
    shown = log_text(value)
    assert shown.startswith("'")
    assert shown.endswith("'")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u2028" not in shown
    assert "\u2029" not in shown
    shown.encode("utf-8")  # no lone surrogate survives


def test_other_exceptions_pass_through_unreported(
    idp: TestIdentityProvider, hooks: RecordingHooks
) -> None:
    validator = ObservedValidator(JwtValidator(idp.key_set(), audience=AUDIENCE))
    with pytest.raises(ArgumentTypeError):
        validator.validate(b"bytes", now=time.time())  # type: ignore[arg-type]
    assert hooks.counts == {}
