"""The one error tree of oauthbearer, and every reason code it carries.

Theory of operation
-------------------
Everything this library raises on purpose derives from :class:`OAuthBearerError`.
Two families hang below it, by who has to act, as in h11:

* :class:`RemoteError`: the peer sent something wrong, bytes or a token. Every
  remote error carries a stable ``reason`` from one of the registries below, so
  that a caller (and a test) acts on the code, never on the prose.
  :class:`ProtocolError` (and below it :class:`MalformedMessage` for bytes that
  break the grammar) carries the RFC 7628 ``status`` where one applies and,
  where the protocol defines one, the ``reply`` bytes to send back;
  :class:`InvalidToken` is a validator's refusal of a token.
* :class:`LocalError`: the local program called something wrong.
  :class:`SessionStateError` (a call made in a state that does not allow it),
  :class:`ConfigurationError` (a bad option or field value; also a
  :class:`ValueError`) and :class:`ArgumentTypeError` (also a :class:`TypeError`).
  A local error never describes the peer, so it is never caught as one: the
  machines raise the remote kind only while reading the peer's input (the one
  boundary where the peer's fault is decided), the local kind everywhere else.

An exchange that ends in failure is not an error: it is a normal outcome of
RFC 7628, and the session reports it as an event,
:class:`~oauthbearer.session.AuthenticationFailed`, whose ``reason`` is a
:class:`FailureReason`.

Reason registries
-----------------
Each registry is a :class:`ReasonCode` enum: a member's value is its stable,
kebab-case code (a ``str``: ``reason == "missing-auth"`` holds) and its
``meaning`` the one line the reason table of the documentation shows. Codes are
stable: new ones may be added, none is renamed or reused. Constructing an error
with a code that is not in its registry is a :class:`ValueError`, so an
undocumented code cannot be raised.

No message built here ever contains a token, a client secret or a key: errors
name the field and the byte offset, never the secret value.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ArgumentTypeError",
    "ClientFailureReason",
    "ConfigurationError",
    "FailureReason",
    "FrameReason",
    "InvalidToken",
    "LocalError",
    "MalformedMessage",
    "MalformedReason",
    "OAuthBearerError",
    "ProtocolError",
    "ProtocolReason",
    "ReasonCode",
    "RemoteError",
    "ServerFailureReason",
    "SessionStateError",
    "TokenReason",
]


class ReasonCode(enum.StrEnum):
    """A stable, kebab-case reason code (the member's value) with its ``meaning``."""

    meaning: str

    # Called once per member, as the class is made; afterwards ``Reason(code)``
    # looks a member up by its code (a ValueError if there is none), as any
    # enum does. The default only lets type checkers see that lookup.
    def __new__(cls, code: str, meaning: str = "") -> Self:
        if not meaning:
            raise TypeError(f"reason code {code!r} has no meaning")
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    @classmethod
    def knows(cls, code: object) -> bool:
        """Whether ``code`` is one of this registry's codes: ``False`` for any
        other value, on every Python (``code in Registry`` raises ``TypeError``
        for a non-member ``str`` before Python 3.12)."""
        return isinstance(code, str) and code in cls._value2member_map_


class MalformedReason(ReasonCode):
    """Every :attr:`MalformedMessage.reason` of an OAUTHBEARER message."""

    # client initial response: structure (RFC 7628 section 3.1, RFC 5801 section 4)
    TOO_LARGE = "too-large", "the input exceeds the size limit; nothing of it was parsed"
    TRUNCATED = "truncated", "the input ends inside the GS2 header or inside a key/value pair"
    INVALID_GS2_HEADER = (
        "invalid-gs2-header",
        "the GS2 header is not 'n' or 'y', ',' [authzid] ','",
    )
    CHANNEL_BINDING = (
        "channel-binding",
        "the client asks for channel binding ('p='), which OAUTHBEARER lacks",
    )
    INVALID_AUTHZID = (
        "invalid-authzid",
        "the authzid is empty, holds NUL, a bad '=' escape or bad UTF-8",
    )
    MISSING_KVSEP = "missing-kvsep", "no %x01 follows the GS2 header"
    INVALID_KEY = "invalid-key", "a key is empty or holds a byte other than ALPHA"
    INVALID_VALUE = (
        "invalid-value",
        (
            "a value holds a byte outside VCHAR / SP / HTAB / CR / LF "
            "(or is empty, in Kafka's dialect)"
        ),
    )
    MISSING_TERMINATOR = (
        "missing-terminator",
        "the input ends after a pair, without the final %x01",
    )
    TRAILING_DATA = "trailing-data", "bytes follow the final %x01"
    # client initial response: meaning
    DUPLICATE_KEY = "duplicate-key", "a key, 'auth' included, appears twice (strict dialect)"
    TOO_MANY_EXTENSIONS = (
        "too-many-extensions",
        "more extension pairs than the limit (strict dialect)",
    )
    INVALID_PORT = "invalid-port", "'port' is not a decimal port number without leading zeros"
    MISSING_AUTH = "missing-auth", "there is no 'auth' pair"
    INVALID_AUTH = "invalid-auth", "'auth' is not a scheme, one or more spaces and a token"
    UNSUPPORTED_SCHEME = (
        "unsupported-scheme",
        "the scheme is not 'Bearer' (compared case-insensitively)",
    )
    INVALID_TOKEN_SYNTAX = "invalid-token-syntax", "the token is not an RFC 6750 b64token"
    # error response (RFC 7628 section 3.2.2)
    INVALID_UTF8 = "invalid-utf8", "the error response is not UTF-8"
    INVALID_JSON = (
        "invalid-json",
        "the error response is not JSON (or nests too deep, or has NaN)",
    )
    NOT_AN_OBJECT = "not-an-object", "the error response is JSON but not an object"
    DUPLICATE_FIELD = "duplicate-field", "a member of the error response appears twice"
    MISSING_STATUS = "missing-status", "the error response has no 'status'"
    INVALID_FIELD = (
        "invalid-field",
        (
            "a member is not a string, is empty or holds control characters; "
            "or 'status' is not an RFC 6749 error code"
        ),
    )
    # the exchange
    INVALID_CHALLENGE_REPLY = (
        "invalid-challenge-reply",
        (
            "after an error challenge the client sent something other than exactly %x01 "
            "(the strict dialect; Kafka's parses it as a new initial response)"
        ),
    )


class FrameReason(ReasonCode):
    """Every :attr:`~oauthbearer.kafka.MalformedFrame.reason` of a Kafka frame.
    ``too-large``, ``truncated``, ``trailing-data`` and ``invalid-utf8`` mean
    what they mean in :class:`MalformedReason`."""

    TOO_LARGE = "too-large", "the size prefix exceeds the decoder's max_frame_size"
    INVALID_SIZE = "invalid-size", "the size prefix is negative"
    TRUNCATED = "truncated", "the frame, or the stream, ends inside a field"
    TRAILING_DATA = "trailing-data", "bytes follow the last field of the message"
    INVALID_VARINT = "invalid-varint", "a varint has more than its maximum of bytes, or overflows"
    INVALID_LENGTH = (
        "invalid-length",
        (
            "a length is negative or null where the field is not nullable, exceeds the "
            "string limit, claims more elements than bytes remain, or more elements (or "
            "tagged fields) than the reader's limit"
        ),
    )
    INVALID_UTF8 = "invalid-utf8", "a string is not UTF-8"
    INVALID_BOOLEAN = "invalid-boolean", "a BOOLEAN byte is neither 0 nor 1"
    INVALID_TAGGED_FIELDS = "invalid-tagged-fields", "tags are not in strictly increasing order"
    UNKNOWN_API_KEY = "unknown-api-key", "the request's API key is not one this codec speaks"
    INVALID_TOPIC = (
        "invalid-topic",
        "a Metadata request asks about a topic by neither name nor id",
    )
    UNSUPPORTED_VERSION = "unsupported-version", "the API version is outside the supported range"
    # record batches (oauthbearer.kafka.records)
    UNSUPPORTED_MAGIC = (
        "unsupported-magic",
        "a record batch is not of format v2 (its magic byte is not 2)",
    )
    CRC_MISMATCH = "crc-mismatch", "a record batch's CRC-32C does not match its bytes"
    UNSUPPORTED_COMPRESSION = (
        "unsupported-compression",
        (
            "a record batch is compressed with a codec other than gzip (snappy, lz4, "
            "zstd, or an unknown one)"
        ),
    )
    INVALID_COMPRESSED_DATA = (
        "invalid-compressed-data",
        "a record batch's gzip stream is corrupt, ends early, or is followed by other bytes",
    )
    INVALID_RECORD = (
        "invalid-record",
        "a record's length prefix disagrees with its fields, or runs past its batch",
    )


class ProtocolReason(ReasonCode):
    """Every :attr:`ProtocolError.reason` that is not a grammar's
    (:class:`MalformedReason`, :class:`FrameReason`): the peer's message is
    well-formed but out of place."""

    SUCCESS_AFTER_CHALLENGE = (
        "success-after-challenge",
        "the server reported success after an error challenge; nothing may be granted on that path",
    )
    DISCOVERY_GRANTED = (
        "discovery-granted",
        "the server granted a discovery request, which carries no token",
    )
    UNEXPECTED_CHALLENGE = (
        "unexpected-challenge",
        (
            "the server sent a challenge where the exchange has none (before the "
            "initial response, or after the %x01 reply)"
        ),
    )
    UNEXPECTED_MESSAGE = (
        "unexpected-message",
        (
            "the server sent a message the login does not expect in its state "
            "(PostgreSQL: a message type or an authentication request)"
        ),
    )
    INVALID_MESSAGE_LENGTH = (
        "invalid-message-length",
        "a PostgreSQL message is shorter than its header or longer than the limit",
    )
    LOGIN_ENDED = "login-ended", "the server sent more bytes after the login failed"


class TokenReason(ReasonCode):
    """Every :attr:`InvalidToken.reason`: why a validator refused a token."""

    MALFORMED = (
        "malformed",
        (
            "the token is not what the validator reads: not a b64token, not a compact "
            "JWS, bad base64url, JSON that is not an object, or empty"
        ),
    )
    TOO_LARGE = "too-large", "the token is longer than the validator's limit"
    UNSUPPORTED_ALGORITHM = (
        "unsupported-algorithm",
        (
            "the JWS 'alg' is missing, not allowed, or does not fit the key ('none' "
            "for an unsecured token)"
        ),
    )
    UNSUPPORTED_HEADER = (
        "unsupported-header",
        (
            "the JWS header asks for something not accepted: 'crit', a nested JWT "
            "('cty'), a bad 'typ' or 'kid'"
        ),
    )
    UNKNOWN_KID = "unknown-kid", "no configured key fits the token's 'kid' and 'alg'"
    BAD_SIGNATURE = (
        "bad-signature",
        "the signature does not verify (or an unsecured token carries one)",
    )
    MISSING_CLAIM = "missing-claim", "a required claim ('exp', 'iat', the principal, ...) is absent"
    INVALID_CLAIM = (
        "invalid-claim",
        (
            "a claim has the wrong type, is out of range, holds duplicates, or the "
            "token's times contradict each other"
        ),
    )
    EXPIRED = "expired", "'exp' has passed (allowing for clock skew)"
    NOT_YET_VALID = "not-yet-valid", "'nbf' or 'iat' lies in the future (allowing for clock skew)"
    WRONG_ISSUER = "wrong-issuer", "'iss' is missing or not a configured issuer"
    WRONG_AUDIENCE = "wrong-audience", "'aud' is missing or holds no configured audience"
    WRONG_TOKEN_TYPE = "wrong-token-type", "the token's type is not the configured one"
    INSUFFICIENT_SCOPE = "insufficient-scope", "the token's scope lacks a required scope"
    INACTIVE = "inactive", "the identity provider says the token is not active (RFC 7662)"
    REPLAYED = "replayed", "the token's 'jti' was already used"
    CLAIM_CHECK_FAILED = (
        "claim-check-failed",
        "the token's claims fail the configured claim check (Strimzi's oauth.custom.claim.check)",
    )
    UNJUDGED = (
        "unjudged",
        (
            "the validator could not reach a verdict (its identity provider or key "
            "source failed): the token is refused, never granted"
        ),
    )


class FailureReason(ReasonCode):
    """Every :attr:`~oauthbearer.session.AuthenticationFailed.reason`: how an
    exchange that reached its end failed."""

    TOKEN_REFUSED = (
        "token-refused",
        (
            "the server refused the token with an error challenge, and the exchange "
            "ended after the client's %x01"
        ),
    )
    SERVER_REFUSED = (
        "server-refused",
        "the server reported failure without an error challenge (client side)",
    )
    AUTHZID_FORBIDDEN = (
        "authzid-forbidden",
        "the client named an authorization identity, which the server does not support",
    )
    AUTHZID_REQUIRED = "authzid-required", "the client named no authorization identity"
    AUTHZID_MISMATCH = (
        "authzid-mismatch",
        "the authorization identity is not the token's principal",
    )
    INVALID_EXTENSIONS = (
        "invalid-extensions",
        "the extension validator marked extensions the client sent invalid",
    )


class ServerFailureReason(ReasonCode):
    """Every :attr:`~oauthbearer.kafka.ServerAuthenticationFailed.reason`."""

    MALFORMED_FRAME = (
        "malformed-frame",
        "a frame or a request does not follow Kafka's wire format",
    )
    UNEXPECTED_REQUEST = "unexpected-request", "a request the current phase does not accept"
    UNSUPPORTED_MECHANISM = (
        "unsupported-mechanism",
        "SaslHandshake named a mechanism other than OAUTHBEARER",
    )
    MALFORMED_RESPONSE = (
        "malformed-response",
        (
            "the client's initial response does not follow the grammar (a scheme other "
            "than Bearer closes the connection unanswered, as Kafka's broker does)"
        ),
    )
    AUTHENTICATION_FAILED = (
        "authentication-failed",
        "the token was refused (after the error challenge), or the authzid or an extension was",
    )
    CHALLENGE_IGNORED = (
        "challenge-ignored",
        "after an error challenge the client sent another request instead of %x01",
    )
    PRINCIPAL_CHANGED = "principal-changed", "a re-authentication named another principal"
    SESSION_EXPIRED = (
        "session-expired",
        "a request arrived after the session's lifetime (KIP-368)",
    )
    TOO_MANY_REFUSALS = (
        "too-many-refusals",
        (
            "the client sent more requests that were answered with an error before "
            "authenticating than the connection allows"
        ),
    )
    AUTHENTICATION_TIMEOUT = (
        "authentication-timeout",
        "the client did not authenticate in the time allowed from the connection's start",
    )
    TLS_HANDSHAKE = (
        "tls-handshake",
        (
            "the client began a TLS handshake on a listener without TLS (a client "
            "configured for SSL or SASL_SSL)"
        ),
    )
    HTTP_REQUEST = "http-request", "the client sent an HTTP request to the Kafka listener"


class ClientFailureReason(ReasonCode):
    """Every :attr:`~oauthbearer.kafka.ClientAuthenticationFailed.reason`."""

    MALFORMED_RESPONSE = (
        "malformed-response",
        "a frame or a response does not follow Kafka's wire format",
    )
    UNEXPECTED_RESPONSE = (
        "unexpected-response",
        "a response came with no request in flight, or with another correlation id",
    )
    UNSUPPORTED_VERSION = (
        "unsupported-version",
        (
            "the broker does not speak ApiVersions, SaslHandshake v1 or SaslAuthenticate "
            "at a version this client speaks"
        ),
    )
    API_VERSIONS_FAILED = "api-versions-failed", "the broker answered ApiVersions with an error"
    UNSUPPORTED_MECHANISM = (
        "unsupported-mechanism",
        "the broker does not enable OAUTHBEARER (33)",
    )
    ILLEGAL_SASL_STATE = (
        "illegal-sasl-state",
        "the broker refused the handshake in its state (34)",
    )
    HANDSHAKE_FAILED = "handshake-failed", "the broker answered SaslHandshake with another error"
    AUTHENTICATION_FAILED = (
        "authentication-failed",
        "the broker refused the token (SaslAuthenticate error)",
    )
    MALFORMED_CHALLENGE = (
        "malformed-challenge",
        "the broker's challenge is not an RFC 7628 error",
    )
    SUCCESS_AFTER_CHALLENGE = (
        "success-after-challenge",
        "the broker reported success after an error challenge",
    )
    DISCOVERY_GRANTED = (
        "discovery-granted",
        "the broker granted a discovery request, which carries no token",
    )
    DISCOVERY = "discovery", "a discovery exchange ended with the broker's challenge"


class OAuthBearerError(Exception):
    """The root of every error this library raises on purpose."""


# --- local: the program called something wrong -------------------------------------------


class LocalError(OAuthBearerError):
    """The local program misused the API: a bad argument, option or call order.

    Never the peer's fault, so never caught as a peer's refusal; a machine that
    raises it is left ``FAILED`` all the same."""


class ConfigurationError(LocalError, ValueError):
    """A local option or field value is not acceptable; the message names it.

    Where an argument of the call would change the verdict, ``remedy`` is that
    argument as the message writes it, a Python call's spelling such as
    ``allow_insecure_loopback=True``. A shell that spells the argument
    otherwise (the command line's ``--insecure-loopback``) says so with
    :meth:`worded_for`, rather than telling its user a Python parameter.
    """

    def __init__(self, message: str = "", *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy

    def worded_for(self, spellings: Mapping[str, str]) -> str:
        """The message, its :attr:`remedy` spelled as ``spellings`` spell it
        (remedy -> the shell's spelling); as ``str()`` when it has none there."""
        text = str(self)
        if self.remedy is None or self.remedy not in spellings:
            return text
        return text.replace(self.remedy, spellings[self.remedy])


class ArgumentTypeError(ConfigurationError, TypeError):
    """A local argument has the wrong type; the message names it."""


class SessionStateError(LocalError):
    """A method was called in a state that does not allow it.

    The machine is left in its ``FAILED`` state. ``state`` and ``call`` name
    where the machine was and what was attempted; ``outcome`` qualifies the
    call where only some of its outcomes are allowed (``receive_outcome`` with
    ``failure`` after success, say).
    """

    def __init__(self, machine: str, state: str, call: str, *, outcome: str | None = None) -> None:
        qualifier = "" if outcome is None else f" ({outcome})"
        super().__init__(f"{machine}.{call}(){qualifier} is not allowed in state {state}")
        self.state = state
        self.call = call
        self.outcome = outcome


# --- remote: the peer sent something wrong -----------------------------------------------


class RemoteError(OAuthBearerError):
    """The peer sent something wrong: bytes, or a token.

    ``reason`` is a stable code from the subclass's registry (a
    :class:`ReasonCode`); act on it, not on the message."""

    #: The registry ``reason`` comes from.
    reasons: type[ReasonCode] = ReasonCode

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason: ReasonCode = self.reasons(reason)


class ProtocolError(RemoteError):
    """The peer broke the rules of the exchange.

    ``reason`` is a code of :class:`ProtocolReason` (of :class:`MalformedReason`
    or :class:`FrameReason` in the subclasses). ``status`` is the RFC 7628 /
    RFC 6750 error code that describes the problem, where one applies (for a
    malformed client message, ``invalid_request``). ``reply`` is the bytes the
    protocol says to send back, or ``None`` when the only correct reaction is
    to fail the exchange.
    """

    reasons: type[ReasonCode] = ProtocolReason

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: str | None = None,
        reply: bytes | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.reply = reply


class MalformedMessage(ProtocolError):
    """Bytes from the peer do not follow the grammar.

    ``reason`` is a code of :class:`MalformedReason`; ``offset`` is the index of
    the first offending byte (or the length of the input when it ended too
    early); ``detail`` says what is wrong there in plain words.
    ``kafka_message`` is, in Kafka's dialect, the exact text Apache Kafka's
    broker reports for the same input.
    """

    reasons: type[ReasonCode] = MalformedReason

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        offset: int | None,
        kafka_message: str | None = None,
        status: str | None = "invalid_request",
    ) -> None:
        where = "" if offset is None else f" at byte {offset}"
        text = f"{reason}: {detail}{where}"
        if kafka_message is not None:
            text = f"{kafka_message} ({text})"
        super().__init__(text, reason=reason, status=status)
        self.detail = detail
        self.offset = offset
        self.kafka_message = kafka_message


class InvalidToken(RemoteError):
    """A token validator refused a token.

    ``reason`` is a code of :class:`TokenReason`: why, for the server's logs,
    metrics and tests. ``status`` is the RFC 7628 error status to send to the
    client (``invalid_token``, ``insufficient_scope`` or ``invalid_request``),
    ``scope`` and ``openid_configuration`` the optional fields of the error
    challenge. ``detail`` explains the refusal for the server's own logs and is
    never sent to the client unless the server is configured to.
    """

    reasons: type[ReasonCode] = TokenReason

    def __init__(
        self,
        status: str,
        *,
        reason: str,
        scope: str | None = None,
        openid_configuration: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(detail or status, reason=reason)
        self.status = status
        self.scope = scope
        self.openid_configuration = openid_configuration
        self.detail = detail
