"""Client-side token sources and Kafka's login behaviour (refresh schedule, retries).

:mod:`oauthbearer.login.refresh` is pure; :mod:`oauthbearer.login.provider` is
the shell that fetches and refreshes in a thread or an asyncio task.
"""

from __future__ import annotations

from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider, TokenUnavailable
from oauthbearer.login.refresh import (
    RETRY_AFTER_FAILURE_MS,
    RefreshConfig,
    next_refresh_ms,
)

__all__ = [
    "RETRY_AFTER_FAILURE_MS",
    "AsyncTokenProvider",
    "RefreshConfig",
    "TokenProvider",
    "TokenUnavailable",
    "next_refresh_ms",
]
