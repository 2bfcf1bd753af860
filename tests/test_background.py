"""Background threads and tasks never die silently, and their waits are
clamped (issue 14, finding 10): overflowing times are refused or logged, and
the loop goes on."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest

from oauthbearer.http.retry import MAX_WAIT_S, RetryPolicy
from oauthbearer.login.client_token import ClientTokenError, client_token
from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider
from oauthbearer.token import OAuthBearerToken
from oauthbearer.validation.jwks_cache import JwksRefreshPolicy
from oauthbearer.validation.jwks_fetch import JwksRefresher
from tests.test_jwks_cache import key_set

if TYPE_CHECKING:
    from oauthbearer.validation.jwks import JsonWebKeySet

#: 9999-12-31T23:59:59Z: past threading.TIMEOUT_MAX from now (about 292 years).
YEAR_9999_S = 253_402_300_799


def _raw_jwt(payload: str) -> str:
    part = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.c2ln"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"sub":"a","exp":1e400}', "exp value must be a finite number"),
        ('{"sub":"a","exp":-1e400}', "exp value must be a finite number"),
        ('{"sub":"a","exp":4102444800,"iat":1e400}', "iat value must be a finite number"),
        ('{"sub":"a","exp":4102444800,"iat":-1e400}', "iat value must be a finite number"),
        ('{"sub":"a","exp":1e300}', "too large for a Java long"),
    ],
)
def test_overflowing_times_are_refused(payload: str, message: str) -> None:
    with pytest.raises(ClientTokenError, match=message):
        client_token(_raw_jwt(payload))


def test_a_far_expiry_is_read() -> None:
    token = client_token(_raw_jwt(f'{{"sub":"a","exp":{YEAR_9999_S}}}'))
    assert token.lifetime_ms == YEAR_9999_S * 1000


def _thread_named(name: str) -> threading.Thread:
    found = [thread for thread in threading.enumerate() if thread.name == name]
    assert found, f"no thread {name!r}: it died"
    return found[-1]


def test_the_provider_thread_survives_a_token_that_expires_in_9999() -> None:
    token = OAuthBearerToken(value="t", principal="a", lifetime_ms=YEAR_9999_S * 1000)
    with TokenProvider(lambda: token):
        time.sleep(0.2)  # OverflowError in Event.wait killed it at once
        assert _thread_named("oauthbearer-login").is_alive()


def test_the_provider_thread_logs_a_schedule_it_cannot_compute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = OAuthBearerToken(value="t", principal="a", lifetime_ms=10**400)
    caplog.set_level(logging.ERROR, logger="oauthbearer.login")
    with TokenProvider(lambda: token):
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _thread_named("oauthbearer-login").is_alive()
    assert caplog.records[0].name == "oauthbearer.login"
    assert "could not be scheduled" in caplog.records[0].getMessage()


def test_the_async_provider_task_survives_the_same() -> None:
    async def main() -> None:
        token = OAuthBearerToken(value="t", principal="a", lifetime_ms=10**400)
        provider = AsyncTokenProvider(lambda: token)
        async with provider:
            await asyncio.sleep(0.05)
            assert provider.token() is token

    asyncio.run(main())


def test_the_jwks_thread_survives_a_refresh_interval_of_long_max() -> None:
    # sasl.oauthbearer.jwks.endpoint.refresh.ms=9223372036854775807
    refresher = JwksRefresher(
        lambda: key_set("a"), policy=JwksRefreshPolicy(refresh_interval_s=9223372036854775.807)
    )
    with refresher:
        time.sleep(0.2)
        assert _thread_named("oauthbearer-jwks").is_alive()
    assert refresher.cache.seconds_until_refresh() > MAX_WAIT_S


def test_the_jwks_thread_logs_a_failing_refresh_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def fetch() -> JsonWebKeySet:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in a custom fetch")
        return key_set("a")

    caplog.set_level(logging.WARNING, logger="oauthbearer.jwks")
    refresher = JwksRefresher(
        fetch,
        policy=JwksRefreshPolicy(refresh_interval_s=0.05),
        retry=RetryPolicy(backoff_s=0.0, budget_s=0.0),
    )
    with refresher:
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(calls) >= 3  # the loop went on after the failure
    errors = [r for r in caplog.records if r.name == "oauthbearer.jwks"]
    assert errors
    assert errors[0].levelno == logging.ERROR
    assert "RuntimeError" in errors[0].getMessage()
