"""Token providers: first fetch, background refresh on Kafka's schedule, failures."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from oauthbearer.errors import ConfigurationError
from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider, TokenUnavailable
from oauthbearer.login.refresh import RefreshConfig
from oauthbearer.token import OAuthBearerToken

HOUR_S = 3600.0


class FakeTime:
    """A clock and a wait: the wait moves the clock, and stops the run after N waits."""

    def __init__(self, now: float, *, waits: int) -> None:
        self.now = now
        self.waited: list[float] = []
        self.left = waits
        self.done = threading.Event()

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waited.append(round(seconds, 3))
        self.now += seconds
        self.left -= 1
        if self.left == 0:
            self.done.set()


def token_at(now: float, *, lifetime_s: float = HOUR_S, name: str = "t") -> OAuthBearerToken:
    return OAuthBearerToken(
        value=name,
        principal="alice",
        lifetime_ms=int((now + lifetime_s) * 1000),
        start_time_ms=int(now * 1000),
    )


def test_first_fetch_then_refresh_on_kafkas_schedule() -> None:
    fake = FakeTime(1_000_000.0, waits=3)
    fetched: list[float] = []
    provider: TokenProvider

    def fetch() -> OAuthBearerToken:
        fetched.append(fake.now)
        if len(fetched) == 4:
            provider.close(timeout_s=0)
        return token_at(fake.now, name=f"t{len(fetched)}")

    provider = TokenProvider(
        fetch,
        clock=fake.clock,
        wait=fake.wait,
        rng=random.Random(1),  # noqa: S311 - jitter
        refresh=RefreshConfig(window_jitter=0.0),
    )
    provider.start()
    assert fake.done.wait(5)
    provider.close()
    # 80 % of each one-hour token: 2880 s between fetches.
    assert fake.waited == [2880.0, 2880.0, 2880.0]
    assert [round(t - fetched[0]) for t in fetched] == [0, 2880, 5760, 8640]
    assert provider.token().value == "t4"


def test_the_first_fetch_failing_is_raised() -> None:
    def fetch() -> OAuthBearerToken:
        raise OSError("idp unreachable")

    provider = TokenProvider(fetch)
    with pytest.raises(OSError, match="unreachable"):
        provider.start()
    with pytest.raises(TokenUnavailable, match="start"):
        provider.token()


def test_failures_retry_every_ten_seconds_and_keep_the_last_token() -> None:
    fake = FakeTime(1_000_000.0, waits=3)
    outcomes: list[object] = ["first", OSError("503 from idp"), OSError("503 again"), "second"]
    during_failures: list[str] = []
    provider: TokenProvider

    def fetch() -> OAuthBearerToken:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            if provider.last_error is not None:
                during_failures.append(provider.token().value)  # still the last good one
            raise outcome
        if not outcomes:
            provider.close(timeout_s=0)
        return token_at(fake.now, name=str(outcome))

    provider = TokenProvider(
        fetch, clock=fake.clock, wait=fake.wait, refresh=RefreshConfig(window_jitter=0.0)
    )
    provider.start()
    assert fake.done.wait(5)
    provider.close()
    assert fake.waited == [2880.0, 10.0, 10.0]
    assert during_failures == ["first"]
    assert provider.token().value == "second"
    assert provider.last_error is None


def test_an_expired_token_reports_the_providers_own_error() -> None:
    clock = [1_000_000.0]
    failed = threading.Event()
    release = threading.Event()

    def fetch() -> OAuthBearerToken:
        if failed.is_set() or clock[0] > 1_000_000.0:
            failed.set()
            raise OSError("invalid_client: bad secret")
        return token_at(clock[0], lifetime_s=600)

    def wait(seconds: float) -> None:
        if failed.is_set():
            release.wait(5)  # hold the thread until the test has looked
            return
        clock[0] += seconds

    provider = TokenProvider(fetch, clock=lambda: clock[0], wait=wait)
    provider.start()
    assert failed.wait(5)
    assert provider.token().principal == "alice"  # not expired yet: still served
    clock[0] += 600
    with pytest.raises(TokenUnavailable, match="bad secret") as info:
        provider.token()
    assert isinstance(info.value.error, OSError)
    release.set()
    provider.close()


def test_fetch_must_return_a_token() -> None:
    provider = TokenProvider(lambda: "not a token")  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="OAuthBearerToken"):
        provider.start()


def test_async_provider_refreshes_in_a_task() -> None:
    fetched: list[str] = []
    config = RefreshConfig(window_factor=0.5, window_jitter=0.0, min_period_s=0, buffer_s=0)

    async def fetch() -> OAuthBearerToken:
        fetched.append(f"t{len(fetched) + 1}")
        import time

        return token_at(time.time(), lifetime_s=0.2, name=fetched[-1])

    async def main() -> None:
        async with AsyncTokenProvider(fetch, refresh=config) as provider:
            assert provider.token().value == "t1"
            for _ in range(100):
                if len(fetched) >= 3:
                    break
                await asyncio.sleep(0.02)
            assert provider.token().value == fetched[-1]

    asyncio.run(main())
    assert len(fetched) >= 3


def test_async_provider_runs_a_blocking_fetch_in_a_thread() -> None:
    threads: list[str] = []

    def fetch() -> OAuthBearerToken:
        threads.append(threading.current_thread().name)
        import time

        return token_at(time.time())

    async def main() -> None:
        provider = await AsyncTokenProvider(fetch).start()
        await provider.aclose()

    asyncio.run(main())
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name
