"""Client-side token sources and Kafka's login behaviour (refresh schedule, retries)."""

from __future__ import annotations

from oauthbearer.login.refresh import (
    RETRY_AFTER_FAILURE_MS,
    RefreshConfig,
    next_refresh_ms,
)

__all__ = ["RETRY_AFTER_FAILURE_MS", "RefreshConfig", "next_refresh_ms"]
