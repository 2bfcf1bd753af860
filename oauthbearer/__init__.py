"""oauthbearer: a strict, sans-IO implementation of SASL OAUTHBEARER (RFC 7628).

The codec (:mod:`oauthbearer.gs2`) and the state machines
(:mod:`oauthbearer.session`) are pure: bytes in, typed events out, no I/O, no
clock. They load without pyjwt or cryptography.
"""

from __future__ import annotations

from oauthbearer.errors import (
    ArgumentTypeError,
    ClientFailureReason,
    ConfigurationError,
    FailureReason,
    FrameReason,
    InvalidToken,
    LocalError,
    MalformedMessage,
    MalformedReason,
    OAuthBearerError,
    ProtocolError,
    ProtocolReason,
    ReasonCode,
    RemoteError,
    ServerFailureReason,
    SessionStateError,
    TokenReason,
)
from oauthbearer.gs2 import (
    KAFKA_MAX_RECEIVE_SIZE,
    MAX_ERROR_RESPONSE_SIZE,
    MAX_EXTENSIONS,
    MAX_INITIAL_RESPONSE_SIZE,
    ClientInitialResponse,
    Dialect,
    ErrorResponse,
)
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.session import (
    Authenticated,
    AuthenticationFailed,
    AuthenticationSucceeded,
    AuthzidPolicy,
    ChallengeIssued,
    ChallengeReceived,
    ClientSession,
    ClientState,
    DiscoveryResult,
    ExtensionValidator,
    ExtensionVerdict,
    ServerSession,
    ServerState,
    TokenReceived,
)
from oauthbearer.token import OAuthBearerToken, TokenValidator, parse_scope
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    UnsecuredLogin,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
)
from oauthbearer.validation.jwks import (
    MAX_JWKS_SIZE,
    MAX_KEYS,
    MAX_KID_LENGTH,
    MIN_RSA_KEY_BITS,
    JsonWebKey,
    JsonWebKeySet,
    KeySource,
)
from oauthbearer.validation.jwks_cache import JwksCache, JwksRefreshPolicy
from oauthbearer.validation.jwt import (
    KAFKA_RULES,
    MAX_KEYS_TRIED,
    MAX_TOKEN_LENGTH,
    STRICT_RULES,
    JwtRules,
    JwtValidator,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "KAFKA_MAX_RECEIVE_SIZE",
    "KAFKA_RULES",
    "MAX_ERROR_RESPONSE_SIZE",
    "MAX_EXTENSIONS",
    "MAX_INITIAL_RESPONSE_SIZE",
    "MAX_JWKS_SIZE",
    "MAX_KEYS",
    "MAX_KEYS_TRIED",
    "MAX_KID_LENGTH",
    "MAX_TOKEN_LENGTH",
    "MIN_RSA_KEY_BITS",
    "STRICT_RULES",
    "ArgumentTypeError",
    "Authenticated",
    "AuthenticationFailed",
    "AuthenticationSucceeded",
    "AuthzidPolicy",
    "ChallengeIssued",
    "ChallengeReceived",
    "ClientFailureReason",
    "ClientInitialResponse",
    "ClientSession",
    "ClientState",
    "ConfigurationError",
    "Dialect",
    "DiscoveryResult",
    "ErrorResponse",
    "ExtensionValidator",
    "ExtensionVerdict",
    "FailureReason",
    "FrameReason",
    "InvalidToken",
    "JsonWebKey",
    "JsonWebKeySet",
    "JwksCache",
    "JwksRefreshPolicy",
    "JwtRules",
    "JwtValidator",
    "KeySource",
    "LocalError",
    "MalformedMessage",
    "MalformedReason",
    "OAuthBearerError",
    "OAuthBearerToken",
    "ProtocolError",
    "ProtocolReason",
    "ReasonCode",
    "RemoteError",
    "RetryPolicy",
    "ServerFailureReason",
    "ServerSession",
    "ServerState",
    "SessionStateError",
    "TokenReason",
    "TokenReceived",
    "TokenValidator",
    "UnsecuredJwsValidator",
    "UnsecuredLogin",
    "__version__",
    "kafka_unsecured_login",
    "librdkafka_unsecured_login",
    "parse_scope",
]
