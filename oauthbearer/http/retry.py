"""Kafka's retry rule for calls to an identity provider (JWKS and token endpoints).

Theory of operation
-------------------
Kafka retries an HTTP call to its identity provider with exponential backoff:
the first wait is ``retry_backoff_ms`` (default 100 ms) and each wait doubles;
``retry_backoff_max_ms`` (default 10 000 ms) is the *total* time budget from
the first attempt, not a cap on one wait (KIP-768; Kafka's ``Retry`` class).
A wait never runs past the budget's end, a failure that is not worth retrying
(a client error) ends the loop at once, and when the budget runs out the
*first* error is the one reported, since it is usually the telling one.
Which HTTP statuses are worth asking again is Kafka's rule too
(:func:`is_retryable_status`).

:class:`RetryPolicy` answers one question, "how long to wait before the next
attempt, if at all?", from the attempt number and two times.
:class:`RetryLoop` is Kafka's ``Retry`` loop without the calling and the
sleeping: it counts the attempts, keeps the first error and raises it when the
loop is over. The shells that call an identity provider (the JWKS refresher,
the token fetch, discovery) supply the clock, the calls and the sleeping.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
from typing import Final, Generic, TypeVar

from oauthbearer.errors import ConfigurationError

__all__ = ["RetryLoop", "RetryPolicy", "is_retryable_status"]

#: Kafka's defaults, ``sasl.login.retry.backoff.ms`` / ``.max.ms`` and their
#: ``sasl.oauthbearer.jwks.endpoint.retry.backoff.*`` twins, in seconds.
DEFAULT_BACKOFF_S: Final = 0.1
DEFAULT_BUDGET_S: Final = 10.0
#: The longest single wait a background loop makes, in seconds: a longer one is
#: made of several. ``threading.Event.wait`` raises ``OverflowError`` past
#: ``threading.TIMEOUT_MAX`` (about 292 years on Linux, which a token expiring
#: in 9999 exceeds), and a daily wake-up costs nothing.
MAX_WAIT_S: Final = 86_400.0
#: Client errors worth asking again: request timeout and rate limit.
RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 429})
#: Server errors that will not go away by asking again: not implemented, HTTP
#: version not supported (RFC 9110 sections 15.6.2, 15.6.6).
FINAL_SERVER_ERRORS: Final = frozenset({501, 505})

_E = TypeVar("_E", bound=BaseException)


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP error status is worth asking again, by Kafka's rule: 408
    and 429 among the client errors, and every server error but 501 and 505."""
    return status in RETRYABLE_CLIENT_ERRORS or (
        500 <= status <= 599 and status not in FINAL_SERVER_ERRORS
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff within a total time budget, as Kafka retries."""

    backoff_s: float = DEFAULT_BACKOFF_S
    budget_s: float = DEFAULT_BUDGET_S

    def __post_init__(self) -> None:
        for name in ("backoff_s", "budget_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be a number >= 0")
        if self.budget_s < self.backoff_s:
            # Kafka's Retry: "retryBackoffMaxMs value (..) is less than retryBackoffMs value (..)".
            raise ConfigurationError(
                f"RetryPolicy.budget_s ({self.budget_s}) is less than backoff_s "
                f"({self.backoff_s}), which Kafka's retry refuses"
            )

    def next_wait(self, *, attempt: int, started: float, now: float) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first),
        or ``None`` when the budget that began at ``started`` is spent."""
        remaining = started + self.budget_s - now
        wait = min(self.backoff_s * 2 ** (attempt - 1), remaining)
        return wait if wait > 0 else None


class RetryLoop(Generic[_E]):
    """Kafka's ``Retry`` loop, without the calling and the sleeping: start it
    when the first attempt starts, hand :meth:`failed` each failed attempt's
    error, and sleep for what it returns; it raises the first error when the
    loop is over."""

    def __init__(self, policy: RetryPolicy | None, *, started: float) -> None:
        self._policy = policy or RetryPolicy()
        self._started = started
        self._attempts = 0
        self._first: _E | None = None

    @property
    def attempts(self) -> int:
        """Failed attempts so far."""
        return self._attempts

    def failed(self, error: _E, *, retryable: bool, now: float) -> float:
        """Seconds to wait before the next attempt; raises the *first* error
        when there is none (``error`` not ``retryable``, or the budget spent)."""
        self._attempts += 1
        if self._first is None:
            self._first = error
        wait = (
            self._policy.next_wait(attempt=self._attempts, started=self._started, now=now)
            if retryable
            else None
        )
        if wait is None:
            raise self._first from None
        return wait
