"""Client-side token sources and Kafka's login behaviour (refresh schedule, retries).

:mod:`oauthbearer.login.refresh` and :mod:`oauthbearer.login.grants` are
pure; :mod:`oauthbearer.login.http` makes the requests (with Kafka's retry rule)
and :mod:`oauthbearer.login.provider` refreshes in a thread or an asyncio task.
"""

from __future__ import annotations

from oauthbearer.login.grants import (
    MAX_DISCOVERY_SIZE,
    MAX_TOKEN_RESPONSE_SIZE,
    Discovery,
    DiscoveryError,
    TokenEndpointError,
    TokenRequest,
    TokenResponse,
    client_credentials_request,
    discovery_urls,
    jwt_bearer_request,
    make_assertion,
    parse_discovery,
    parse_token_response,
    private_key_jwt_request,
)
from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider, TokenUnavailable
from oauthbearer.login.refresh import (
    RETRY_AFTER_FAILURE_MS,
    RefreshConfig,
    next_refresh_ms,
)

__all__ = [
    "MAX_DISCOVERY_SIZE",
    "MAX_TOKEN_RESPONSE_SIZE",
    "RETRY_AFTER_FAILURE_MS",
    "AsyncTokenProvider",
    "Discovery",
    "DiscoveryError",
    "RefreshConfig",
    "TokenEndpointError",
    "TokenProvider",
    "TokenRequest",
    "TokenResponse",
    "TokenUnavailable",
    "client_credentials_request",
    "discovery_urls",
    "jwt_bearer_request",
    "make_assertion",
    "next_refresh_ms",
    "parse_discovery",
    "parse_token_response",
    "private_key_jwt_request",
]
