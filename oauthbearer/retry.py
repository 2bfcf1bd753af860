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

:class:`RetryPolicy` answers one question, "how long to wait before the next
attempt, if at all?", from the attempt number and two times. The shells that
call an identity provider supply the clock and the sleeping.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from oauthbearer.errors import ConfigurationError

__all__ = ["RetryPolicy"]

#: Kafka's defaults, ``sasl.login.retry.backoff.ms`` / ``.max.ms`` and their
#: ``sasl.oauthbearer.jwks.endpoint.retry.backoff.*`` twins, in seconds.
DEFAULT_BACKOFF_S: Final = 0.1
DEFAULT_BUDGET_S: Final = 10.0


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
