"""Kafka's login refresh formula (ExpiringCredentialRefreshingLogin.refreshMs)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer.errors import ConfigurationError
from oauthbearer.login import RETRY_AFTER_FAILURE_MS, RefreshConfig, next_refresh_ms

NOW = 1_767_225_600_000
HOUR = 3_600_000


def low() -> float:
    return 0.0


def high() -> float:
    return 0.999999


def test_defaults_refresh_at_80_to_85_percent_of_the_lifetime() -> None:
    expires = NOW + HOUR
    assert next_refresh_ms(now_ms=NOW, expires_ms=expires, start_ms=NOW, random=low) == (
        NOW + 2_880_000
    )
    # pct = 0.8 + 0.05 * 0.999999 = 0.84999995; (long) truncates the product.
    assert next_refresh_ms(now_ms=NOW, expires_ms=expires, start_ms=NOW, random=high) == (
        NOW + 3_059_999
    )


def test_the_window_counts_from_the_token_start_when_known() -> None:
    # A token that started 10 minutes ago: 80 % of 70 minutes from its start.
    start = NOW - 600_000
    expires = NOW + HOUR
    result = next_refresh_ms(now_ms=NOW, expires_ms=expires, start_ms=start, random=low)
    assert result == start + int(4_200_000 * 0.8)
    # Without a start time, the window counts from now.
    assert next_refresh_ms(now_ms=NOW, expires_ms=expires, random=low) == NOW + 2_880_000


def test_never_sooner_than_the_minimum_period() -> None:
    # Started 50 minutes ago, an hour's lifetime: 80 % is already past.
    start = NOW - 3_000_000
    result = next_refresh_ms(now_ms=NOW, expires_ms=start + HOUR, start_ms=start, random=low)
    assert result == NOW + 60_000


def test_never_inside_the_buffer_before_expiry() -> None:
    config = RefreshConfig(window_factor=1.0, window_jitter=0.0)
    result = next_refresh_ms(now_ms=NOW, expires_ms=NOW + HOUR, config=config, random=low)
    assert result == NOW + HOUR - 300_000


def test_buffers_that_do_not_fit_are_ignored() -> None:
    # 5 minutes left cannot hold 60 s before and 300 s after: refresh at 80 % of them.
    result = next_refresh_ms(now_ms=NOW, expires_ms=NOW + 300_000, random=low)
    assert result == NOW + 240_000


@pytest.mark.parametrize("expires", [None, NOW - 1])
def test_no_token_or_an_expired_one_retries_in_ten_seconds(expires: int | None) -> None:
    assert next_refresh_ms(now_ms=NOW, expires_ms=expires, random=low) == (
        NOW + RETRY_AFTER_FAILURE_MS
    )
    assert RETRY_AFTER_FAILURE_MS == 10_000


def test_an_absolute_last_refresh_time_before_expiry_stops_refreshing() -> None:
    def refresh(last: int) -> int | None:
        return next_refresh_ms(
            now_ms=NOW, expires_ms=NOW + HOUR, random=low, absolute_last_refresh_ms=last
        )

    assert refresh(NOW + HOUR - 1) is None
    assert refresh(NOW + HOUR) is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_factor", 0.49),
        ("window_factor", 1.01),
        ("window_jitter", -0.1),
        ("window_jitter", 0.26),
        ("min_period_s", 901),
        ("min_period_s", 1.5),
        ("buffer_s", 3601),
        ("buffer_s", -1),
    ],
)
def test_settings_outside_kafkas_ranges_are_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=r"sasl\.login\.refresh"):
        RefreshConfig(**{field: value})  # type: ignore[arg-type]


configs = st.builds(
    RefreshConfig,
    window_factor=st.floats(0.5, 1.0),
    window_jitter=st.floats(0.0, 0.25),
    min_period_s=st.integers(0, 900),
    buffer_s=st.integers(0, 3600),
)


@given(
    config=configs,
    lifetime=st.integers(0, 30 * 24 * HOUR),
    age=st.integers(0, 30 * 24 * HOUR),
    seed=st.integers(0, 2**32),
)
def test_bounds(config: RefreshConfig, lifetime: int, age: int, seed: int) -> None:
    """Never in the past; inside the buffers when they fit; else within pct of what is left."""
    expires = NOW + lifetime
    result = next_refresh_ms(
        now_ms=NOW,
        expires_ms=expires,
        start_ms=NOW - age,
        config=config,
        random=random.Random(seed).random,  # noqa: S311 - jitter, as Kafka's java.util.Random
    )
    assert result is not None
    assert result >= NOW
    min_ms, buffer_ms = 1000 * config.min_period_s, 1000 * config.buffer_s
    if NOW + min_ms + buffer_ms <= expires:
        assert NOW + min_ms <= result <= expires - buffer_ms
    else:
        left = expires - NOW
        assert NOW + int(left * config.window_factor) <= result
        assert result <= NOW + left * (config.window_factor + config.window_jitter)
