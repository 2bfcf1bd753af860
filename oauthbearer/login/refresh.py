"""When to refresh a token: Kafka's login refresh formula (KIP-368, KIP-255).

Theory of operation
-------------------
Kafka's client login module (``ExpiringCredentialRefreshingLogin``) fetches a
token, then sleeps until a time computed from the token's lifetime and four
settings, and refreshes. :func:`next_refresh_ms` is that computation, exactly:

1. No token (the last login produced none), or a token already expired: try
   again in :data:`RETRY_AFTER_FAILURE_MS` (10 s). OAUTHBEARER keeps the old
   token until a new one arrives, so it keeps trying rather than giving up.
2. A token that may not be refreshed past some absolute time earlier than its
   expiry: stop refreshing (``None``).
3. ``pct = window_factor + window_jitter * random()``.
4. If the time left cannot hold both buffers (``min_period_s`` before, and
   ``buffer_s`` after), ignore them: refresh at ``now + (expiry - now) * pct``.
5. Otherwise propose ``start + (expiry - start) * pct``, where ``start`` is the
   token's start time (or now), then move it back to ``expiry - buffer_s`` if
   later, or forward to ``now + min_period_s`` if sooner.

After a failed refresh, Kafka sleeps 10 s and tries again, over and over: a
shell schedules :data:`RETRY_AFTER_FAILURE_MS` after each failure.

Milliseconds are integers, and products are truncated toward zero, as Java's
``(long)`` cast does. This module is pure: ``now_ms`` and the random source
are parameters.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RETRY_AFTER_FAILURE_MS", "RefreshConfig", "next_refresh_ms"]

#: Kafka's DELAY_SECONDS_BEFORE_NEXT_RETRY_WHEN_RELOGIN_FAILS, in milliseconds.
RETRY_AFTER_FAILURE_MS: Final = 10_000


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigurationError(f"{name} must be a number from {low} to {high}, not {value!r}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RefreshConfig:
    """Kafka's ``sasl.login.refresh.*`` settings, with Kafka's defaults and ranges."""

    #: ``sasl.login.refresh.window.factor``: refresh at this fraction of the lifetime.
    window_factor: float = 0.8
    #: ``sasl.login.refresh.window.jitter``: plus up to this much more, at random.
    window_jitter: float = 0.05
    #: ``sasl.login.refresh.min.period.seconds``: never refresh sooner than this.
    min_period_s: int = 60
    #: ``sasl.login.refresh.buffer.seconds``: refresh at least this long before expiry.
    buffer_s: int = 300

    def __post_init__(self) -> None:
        _check_range("sasl.login.refresh.window.factor", self.window_factor, 0.5, 1.0)
        _check_range("sasl.login.refresh.window.jitter", self.window_jitter, 0.0, 0.25)
        for name, value, high in (
            ("sasl.login.refresh.min.period.seconds", self.min_period_s, 900),
            ("sasl.login.refresh.buffer.seconds", self.buffer_s, 3600),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"{name} must be a whole number of seconds")
            _check_range(name, value, 0, high)


def _java_long(value: float) -> int:
    """Java's ``(long)`` cast of a double: truncation toward zero."""
    return math.trunc(value)


def next_refresh_ms(
    *,
    now_ms: int,
    expires_ms: int | None,
    start_ms: int | None = None,
    config: RefreshConfig | None = None,
    random: Callable[[], float],
    absolute_last_refresh_ms: int | None = None,
) -> int | None:
    """When to refresh a token that expires at ``expires_ms`` (epoch ms), or
    ``None`` to stop refreshing. ``expires_ms`` is ``None`` when the last login
    produced no token. ``random()`` returns a number in ``[0, 1)``."""
    config = config or RefreshConfig()
    if expires_ms is None or now_ms > expires_ms:
        return now_ms + RETRY_AFTER_FAILURE_MS
    if absolute_last_refresh_ms is not None and absolute_last_refresh_ms < expires_ms:
        return None
    start = now_ms if start_ms is None else start_ms
    pct = config.window_factor + config.window_jitter * random()
    min_period_ms = 1000 * config.min_period_s
    buffer_ms = 1000 * config.buffer_s
    if now_ms + min_period_ms + buffer_ms > expires_ms:
        # The lifetime left cannot hold both buffers: ignore them.
        result = now_ms + _java_long((expires_ms - now_ms) * pct)
    else:
        result = start + _java_long((expires_ms - start) * pct)
        if result > expires_ms - buffer_ms:
            result = expires_ms - buffer_ms
        elif result < now_ms + min_period_ms:
            result = now_ms + min_period_ms
    # Never in the past (Kafka guards against that, KAFKA-7945): every branch
    # above is at or after now_ms, as a property test checks.
    return result
