"""Client and server state machines for one OAUTHBEARER exchange.

Theory of operation
-------------------
RFC 7628 section 3 gives the exchange two shapes::

    success:   C: initial response        S: (success, no data)
    failure:   C: initial response        S: error challenge (JSON)
               C: %x01                    S: (failure)

Each side is a machine (:mod:`oauthbearer.machine`) with a state enum
(:class:`ClientState`, :class:`ServerState`), an input enum naming each outcome
of each call (:class:`ClientInput`, :class:`ServerInput`) and two tables: the
permissions (``_CLIENT_PERMISSIONS``, ``_SERVER_PERMISSIONS``: the states in
which each public method may be called) and the transitions
(``_CLIENT_TRANSITIONS``, ``_SERVER_TRANSITIONS``: where each outcome leads).
Every public method first checks its permission; a call that is not allowed
raises :class:`~oauthbearer.errors.SessionStateError`, which names the state and
the call.

Outcomes and errors are kept apart, as in h11. Both ways an exchange can end
are events: success (:class:`Authenticated`, :class:`AuthenticationSucceeded`)
and failure (:class:`AuthenticationFailed`, with a
:class:`~oauthbearer.errors.FailureReason`), each taken through a row of the
table, so a caller reads one return value, never a ``try`` for the common path.
Exceptions are for what breaks the exchange: a
:class:`~oauthbearer.errors.RemoteError` when the peer's bytes do (a
:class:`~oauthbearer.errors.MalformedMessage`, a success reported after a
challenge), a :class:`~oauthbearer.errors.LocalError` when the caller's call
does. Either leaves the machine ``FAILED`` (the
:func:`~oauthbearer.machine.moves` decorator is the one place that sees to
it); a failed machine accepts no further call, and its results (token,
extensions) read as absent.

The machines carry bytes in and out, one call per SASL message, and never touch
a socket or a clock. How "success" and "failure" travel is the application
protocol's business (Kafka's ``SaslAuthenticate`` error code, IMAP's tagged
``OK``/``NO``): the client learns it through :meth:`ClientSession.receive_outcome`.

The server machine stops at ``TOKEN_RECEIVED`` so that the caller can validate
the token however it likes (asynchronously, against a JWKS it fetches) and then
call :meth:`ServerSession.accept` or :meth:`ServerSession.reject`. Given a
synchronous :class:`~oauthbearer.token.TokenValidator`, :meth:`ServerSession.receive`
does that itself, with the ``now`` the caller passes in.

This module is pure: no I/O, no clock, no randomness; time arrives as ``now``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Callable, Mapping
from typing import Final

from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    FailureReason,
    InvalidToken,
    MalformedMessage,
    ProtocolError,
    ProtocolReason,
)
from oauthbearer.gs2 import KVSEP, ClientInitialResponse, Dialect, ErrorResponse
from oauthbearer.machine import Machine, moves
from oauthbearer.token import OAuthBearerToken, TokenValidator

__all__ = [
    "Authenticated",
    "AuthenticationFailed",
    "AuthenticationSucceeded",
    "AuthzidPolicy",
    "ChallengeIssued",
    "ChallengeReceived",
    "ClientInput",
    "ClientSession",
    "ClientState",
    "DiscoveryResult",
    "ExtensionValidator",
    "ExtensionVerdict",
    "ServerInput",
    "ServerSession",
    "ServerState",
    "TokenReceived",
]

_NO_EXTENSIONS: Final[Mapping[str, str]] = types.MappingProxyType({})

#: Kafka's name for the negotiated token property.
NEGOTIATED_TOKEN: Final = "OAUTHBEARER.token"
#: Kafka's name for the negotiated credential lifetime (epoch ms).
NEGOTIATED_LIFETIME: Final = "CREDENTIAL.LIFETIME.MS"


# --- Events ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AuthenticationSucceeded:
    """Client: the server accepted the token."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed:
    """Either side: the exchange is over, and it failed. The machine is ``FAILED``.

    ``reason`` says how (a :class:`~oauthbearer.errors.FailureReason`).
    ``message`` is, on the server, the text to report to the client as the
    failure reason (Kafka sends it in the ``SaslAuthenticate`` response; after
    an error challenge it is the challenge JSON, as Kafka's broker does); on the
    client, what the server said, or the challenge JSON. After an error
    challenge ``status``, ``scope`` and ``openid_configuration`` are the
    challenge's.
    """

    reason: FailureReason
    message: str
    status: str | None = None
    scope: str | None = None
    openid_configuration: str | None = None

    @classmethod
    def after_challenge(
        cls, challenge: ErrorResponse, *, message: str | None = None
    ) -> AuthenticationFailed:
        """The failure that ends an exchange after ``challenge``."""
        return cls(
            reason=FailureReason.TOKEN_REFUSED,
            message=message or challenge.encode().decode(),
            status=challenge.status,
            scope=challenge.scope,
            openid_configuration=challenge.openid_configuration,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeReceived:
    """Client: the server sent an error challenge. Send ``reply`` (``%x01``); the
    exchange can then only fail, with :class:`AuthenticationFailed`."""

    error: ErrorResponse
    reply: bytes = KVSEP


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryResult:
    """Client: a discovery exchange ended; ``error`` is the server's challenge,
    with its ``openid_configuration`` (``None`` if the server named none)."""

    error: ErrorResponse

    @property
    def openid_configuration(self) -> str | None:
        """The URL of the server's OpenID Connect discovery document."""
        return self.error.openid_configuration


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenReceived:
    """Server: a well-formed initial response arrived. Validate ``response.token``,
    then call :meth:`ServerSession.accept` or :meth:`ServerSession.reject`."""

    response: ClientInitialResponse


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeIssued:
    """Server: send ``reply`` (the error challenge); expect ``%x01`` back."""

    error: ErrorResponse
    reply: bytes


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated:
    """Server: the exchange succeeded. Report success with no additional data
    (with Kafka, an empty ``auth_bytes``)."""

    token: OAuthBearerToken
    authzid: str | None
    extensions: Mapping[str, str]


# --- Policies -----------------------------------------------------------------------


class AuthzidPolicy(enum.StrEnum):
    """What the server makes of the GS2 authzid (``a=``)."""

    #: Optional; when present it must equal the token's principal (Kafka).
    MATCH_PRINCIPAL = "match-principal"
    #: Refused when present (PostgreSQL).
    FORBID = "forbid"
    #: Required, and it must equal the token's principal (Dovecot).
    REQUIRE = "require"
    #: Accepted as sent and not checked.
    IGNORE = "ignore"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionVerdict:
    """An extension validator's answer, as Kafka's extensions callback gives it.

    Names in ``valid`` are exposed after success; names in ``invalid`` (with a
    reason each) fail the exchange; a sent extension named in neither is
    ignored and not exposed. As in Kafka, naming an extension the client did
    not send is the validator's error: :class:`~oauthbearer.errors.ConfigurationError`.
    """

    valid: frozenset[str] = frozenset()
    invalid: Mapping[str, str] = dataclasses.field(default_factory=dict)


#: Decides on a token's extensions: ``(token, extensions) -> ExtensionVerdict``.
ExtensionValidator = Callable[[OAuthBearerToken, Mapping[str, str]], ExtensionVerdict]


def _require_bytes(data: object) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ArgumentTypeError(f"receive() takes bytes, not {type(data).__name__}")


# --- Client ---------------------------------------------------------------------------


class ClientState(enum.Enum):
    """States of :class:`ClientSession`."""

    IDLE = "idle"
    SENT = "sent"
    CHALLENGED = "challenged"
    SUCCEEDED = "succeeded"
    DISCOVERED = "discovered"
    FAILED = "failed"


class ClientInput(enum.Enum):
    """What moves a :class:`ClientSession`: each call, by the outcome it reached.
    A value is ``call`` or ``call:outcome``."""

    #: The initial response was built.
    INITIAL_RESPONSE = "initial_response"
    #: ``receive(b"")``: the server's success, with no data.
    RECEIVE_SUCCESS = "receive:success"
    #: ``receive(json)``: an error challenge.
    RECEIVE_CHALLENGE = "receive:challenge"
    #: The application protocol reported success.
    RECEIVE_OUTCOME_SUCCESS = "receive_outcome:success"
    #: The application protocol reported failure.
    RECEIVE_OUTCOME_FAILURE = "receive_outcome:failure"
    #: A discovery session's end: the failure it asked for.
    RECEIVE_OUTCOME_DISCOVERED = "receive_outcome:discovered"


_CI = ClientInput

# Public method -> the states in which it may be called.
_CLIENT_PERMISSIONS: Final[Mapping[str, frozenset[ClientState]]] = types.MappingProxyType(
    {
        "initial_response": frozenset({ClientState.IDLE}),
        "receive": frozenset({ClientState.SENT}),
        "receive_outcome": frozenset(
            {ClientState.SENT, ClientState.SUCCEEDED, ClientState.CHALLENGED}
        ),
    }
)

# (state, input) -> next state.
_CLIENT_TRANSITIONS: Final[Mapping[tuple[ClientState, ClientInput], ClientState]] = (
    types.MappingProxyType(
        {
            (ClientState.IDLE, _CI.INITIAL_RESPONSE): ClientState.SENT,
            (ClientState.SENT, _CI.RECEIVE_SUCCESS): ClientState.SUCCEEDED,
            (ClientState.SENT, _CI.RECEIVE_CHALLENGE): ClientState.CHALLENGED,
            # Protocols that report success out of band (IMAP's tagged OK) skip the
            # empty server message; Kafka reports both, so success may come twice.
            (ClientState.SENT, _CI.RECEIVE_OUTCOME_SUCCESS): ClientState.SUCCEEDED,
            (ClientState.SUCCEEDED, _CI.RECEIVE_OUTCOME_SUCCESS): ClientState.SUCCEEDED,
            (ClientState.SENT, _CI.RECEIVE_OUTCOME_FAILURE): ClientState.FAILED,
            (ClientState.CHALLENGED, _CI.RECEIVE_OUTCOME_FAILURE): ClientState.FAILED,
            (ClientState.CHALLENGED, _CI.RECEIVE_OUTCOME_DISCOVERED): ClientState.DISCOVERED,
        }
    )
)


class ClientSession(Machine[ClientState, ClientInput]):
    """The client side of one exchange.

    ``token`` is the access token, or a prepared :class:`ClientInitialResponse`
    (for instance :meth:`ClientInitialResponse.discovery`).

    >>> client = ClientSession("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
    >>> client.initial_response()[:12]
    b'n,,\\x01auth=Bear'
    >>> client.receive(b"")
    AuthenticationSucceeded()
    """

    __slots__ = ("_challenge", "_discovery", "_response")
    _PERMISSIONS = _CLIENT_PERMISSIONS
    _TRANSITIONS = _CLIENT_TRANSITIONS
    _FAILED = ClientState.FAILED

    def __init__(
        self,
        token: str | ClientInitialResponse,
        *,
        authzid: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(ClientState.IDLE)
        if isinstance(token, ClientInitialResponse):
            if authzid is not None or extensions is not None:
                raise ConfigurationError(
                    "give authzid and extensions in the ClientInitialResponse, not beside it"
                )
            self._response = token
        else:
            self._response = ClientInitialResponse(
                token, authzid=authzid, extensions=extensions or {}
            )
        self._discovery = self._response.is_discovery
        self._challenge: ErrorResponse | None = None

    @classmethod
    def discovery(cls, *, authzid: str | None = None) -> ClientSession:
        """A session that sends an empty ``auth`` value to learn the server's
        ``openid-configuration``, as libpq does; it ends in :class:`DiscoveryResult`."""
        return cls(ClientInitialResponse.discovery(authzid=authzid))

    def __repr__(self) -> str:
        return f"<ClientSession state={self._state.name}>"

    @moves
    def initial_response(self) -> bytes:
        """The first message to send."""
        self._check("initial_response")
        self._move(_CI.INITIAL_RESPONSE)
        return self._response.encode()

    @moves
    def receive(self, data: bytes) -> AuthenticationSucceeded | ChallengeReceived:
        """Take the server's message: empty for success, else an error challenge."""
        self._check("receive")
        _require_bytes(data)
        if not data:
            if self._discovery:
                raise ProtocolError(
                    "the server accepted a discovery request, which carries no token",
                    reason=ProtocolReason.DISCOVERY_GRANTED,
                )
            self._move(_CI.RECEIVE_SUCCESS)
            return AuthenticationSucceeded()
        error = ErrorResponse.decode(data)
        self._challenge = error
        self._move(_CI.RECEIVE_CHALLENGE)
        return ChallengeReceived(error=error)

    @moves
    def receive_outcome(
        self, *, success: bool, message: str | None = None
    ) -> AuthenticationSucceeded | AuthenticationFailed | DiscoveryResult:
        """Take the server's verdict when the application protocol carries it.

        Success returns :class:`AuthenticationSucceeded` (refused after an error
        challenge, with :class:`~oauthbearer.errors.ProtocolError`: a server
        must not grant anything on that path). Failure returns
        :class:`AuthenticationFailed` with the challenge's fields (reason
        ``token-refused``), or ``message`` when there was no challenge (reason
        ``server-refused``); a discovery session returns
        :class:`DiscoveryResult` instead.
        """
        self._check("receive_outcome")
        challenge = self._challenge
        if success:
            if challenge is not None:
                raise ProtocolError(
                    "the server reported success after an error challenge; "
                    "nothing may be granted on that path",
                    reason=ProtocolReason.SUCCESS_AFTER_CHALLENGE,
                )
            if self._discovery:
                raise ProtocolError(
                    "the server accepted a discovery request, which carries no token",
                    reason=ProtocolReason.DISCOVERY_GRANTED,
                )
            self._move(_CI.RECEIVE_OUTCOME_SUCCESS)
            return AuthenticationSucceeded()
        if challenge is None:
            self._move(_CI.RECEIVE_OUTCOME_FAILURE)
            return AuthenticationFailed(
                reason=FailureReason.SERVER_REFUSED,
                message=message or "the server refused authentication",
            )
        if self._discovery:
            self._move(_CI.RECEIVE_OUTCOME_DISCOVERED)
            return DiscoveryResult(error=challenge)
        self._move(_CI.RECEIVE_OUTCOME_FAILURE)
        return AuthenticationFailed.after_challenge(challenge, message=message)


# --- Server ---------------------------------------------------------------------------


class ServerState(enum.Enum):
    """States of :class:`ServerSession`."""

    IDLE = "idle"
    TOKEN_RECEIVED = "token-received"
    CHALLENGED = "challenged"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ServerInput(enum.Enum):
    """What moves a :class:`ServerSession`: each call, by the outcome it reached.
    A value is ``call`` or ``call:outcome``."""

    #: A well-formed initial response with a token.
    RECEIVE_TOKEN = "receive:token"
    #: A discovery request (an empty ``auth`` value).
    RECEIVE_DISCOVERY = "receive:discovery"
    #: The authzid policy refused the initial response.
    RECEIVE_REFUSED = "receive:refused"
    #: The client's ``%x01`` after the error challenge.
    RECEIVE_KVSEP = "receive:kvsep"
    #: The token was granted.
    ACCEPT_SUCCESS = "accept:success"
    #: The token was granted, but the authzid or an extension was refused.
    ACCEPT_FAILURE = "accept:failure"
    #: The token was refused with an error challenge.
    REJECT = "reject"


_SI = ServerInput

# Public method -> the states in which it may be called.
_SERVER_PERMISSIONS: Final[Mapping[str, frozenset[ServerState]]] = types.MappingProxyType(
    {
        "receive": frozenset({ServerState.IDLE, ServerState.CHALLENGED}),
        "accept": frozenset({ServerState.TOKEN_RECEIVED}),
        "reject": frozenset({ServerState.TOKEN_RECEIVED}),
    }
)

# (state, input) -> next state.
_SERVER_TRANSITIONS: Final[Mapping[tuple[ServerState, ServerInput], ServerState]] = (
    types.MappingProxyType(
        {
            (ServerState.IDLE, _SI.RECEIVE_TOKEN): ServerState.TOKEN_RECEIVED,
            (ServerState.IDLE, _SI.RECEIVE_DISCOVERY): ServerState.CHALLENGED,
            # The authzid policy refuses the initial response itself.
            (ServerState.IDLE, _SI.RECEIVE_REFUSED): ServerState.FAILED,
            (ServerState.TOKEN_RECEIVED, _SI.ACCEPT_SUCCESS): ServerState.SUCCEEDED,
            # The authzid or an extension is refused: a verdict, so an event.
            (ServerState.TOKEN_RECEIVED, _SI.ACCEPT_FAILURE): ServerState.FAILED,
            (ServerState.TOKEN_RECEIVED, _SI.REJECT): ServerState.CHALLENGED,
            (ServerState.CHALLENGED, _SI.RECEIVE_KVSEP): ServerState.FAILED,
            # Kafka's dialect only: anything but %x01 after the challenge is a new
            # initial response (Kafka's broker resets its error and parses it).
            (ServerState.CHALLENGED, _SI.RECEIVE_TOKEN): ServerState.TOKEN_RECEIVED,
            (ServerState.CHALLENGED, _SI.RECEIVE_REFUSED): ServerState.FAILED,
        }
    )
)


class ServerSession(Machine[ServerState, ServerInput]):
    """The server side of one exchange.

    Without a ``validator`` the session is pure: :meth:`receive` returns
    :class:`TokenReceived` and the caller answers with :meth:`accept` or
    :meth:`reject`. With one, :meth:`receive` validates (given ``now``) and
    returns :class:`Authenticated`, :class:`ChallengeIssued` or
    :class:`AuthenticationFailed` itself.

    ``openid_configuration`` goes into every error challenge that does not name
    its own (RFC 7628 section 3.2.2 says servers SHOULD send it); a discovery
    request (empty ``auth``) is answered with a challenge carrying it.
    """

    __slots__ = (
        "_authzid_policy",
        "_challenge",
        "_dialect",
        "_extension_validator",
        "_extensions",
        "_max_size",
        "_openid_configuration",
        "_response",
        "_token",
        "_validator",
    )
    _PERMISSIONS = _SERVER_PERMISSIONS
    _TRANSITIONS = _SERVER_TRANSITIONS
    _FAILED = ServerState.FAILED

    def __init__(
        self,
        validator: TokenValidator | None = None,
        *,
        dialect: Dialect | str = Dialect.RFC7628,
        authzid_policy: AuthzidPolicy | str = AuthzidPolicy.MATCH_PRINCIPAL,
        extension_validator: ExtensionValidator | None = None,
        openid_configuration: str | None = None,
        max_size: int | None = None,
    ) -> None:
        super().__init__(ServerState.IDLE)
        if validator is not None and not isinstance(validator, TokenValidator):
            raise ArgumentTypeError("validator must have a validate(token, *, now) method")
        try:
            self._dialect = Dialect(dialect)
            self._authzid_policy = AuthzidPolicy(authzid_policy)
        except ValueError as exc:
            raise ConfigurationError(f"ServerSession: {exc}") from None
        if openid_configuration is not None:
            # Validated once here, so that every challenge can carry it.
            ErrorResponse("invalid_token", openid_configuration=openid_configuration)
        self._validator = validator
        self._extension_validator = extension_validator
        self._openid_configuration = openid_configuration
        self._max_size = max_size
        self._response: ClientInitialResponse | None = None
        self._challenge: ErrorResponse | None = None
        self._token: OAuthBearerToken | None = None
        self._extensions: Mapping[str, str] = _NO_EXTENSIONS

    def __repr__(self) -> str:
        return f"<ServerSession state={self._state.name} dialect={self._dialect.value}>"

    @property
    def dialect(self) -> Dialect:
        """The dialect the session parses client messages in."""
        return self._dialect

    # -- inputs --

    @moves
    def receive(
        self, data: bytes, *, now: float | None = None
    ) -> TokenReceived | ChallengeIssued | Authenticated | AuthenticationFailed:
        """Take a client message.

        In ``IDLE``: the initial response. Malformed bytes raise
        :class:`~oauthbearer.errors.MalformedMessage` and fail the exchange; an
        authzid the policy refuses ends it with :class:`AuthenticationFailed`.
        In ``CHALLENGED``: ``%x01`` ends the exchange with
        :class:`AuthenticationFailed` (reason ``token-refused``), whose message
        is the challenge JSON (as Kafka relays it). Anything else after the challenge
        is refused in the strict dialect (RFC 7628 section 3.2.3 allows only
        ``%x01``); in Kafka's, it is a new initial response, as Kafka's broker
        takes it (measured against Kafka 4.0 and 4.4: tests/test_kafka_differential.py).
        """
        self._check("receive")
        _require_bytes(data)
        if self._state is ServerState.CHALLENGED and (
            data == KVSEP or self._dialect is not Dialect.KAFKA
        ):
            return self._receive_challenge_reply(data)
        self._challenge = None
        response = ClientInitialResponse.decode(
            data, dialect=self._dialect, max_size=self._max_size
        )
        self._response = response
        # The authzid policy comes before discovery: PostgreSQL refuses a
        # discovery request that names an authzid at once, with no challenge
        # (measured: tests/test_postgres_differential.py).
        policy = self._authzid_policy
        if policy is AuthzidPolicy.FORBID and response.authzid is not None:
            self._move(_SI.RECEIVE_REFUSED)
            return AuthenticationFailed(
                reason=FailureReason.AUTHZID_FORBIDDEN,
                message="Authentication failed: the client named an authorization identity, "
                "which this server does not support",
                status="invalid_request",
            )
        if response.is_discovery:
            self._move(_SI.RECEIVE_DISCOVERY)
            return self._challenge_with(ErrorResponse("invalid_token"))
        if policy is AuthzidPolicy.REQUIRE and response.authzid is None:
            self._move(_SI.RECEIVE_REFUSED)
            return AuthenticationFailed(
                reason=FailureReason.AUTHZID_REQUIRED,
                message="Authentication failed: the client named no authorization identity",
                status="invalid_request",
            )
        self._move(_SI.RECEIVE_TOKEN)
        if self._validator is None:
            return TokenReceived(response=response)
        if now is None:
            raise ConfigurationError(
                "ServerSession.receive() needs now= (epoch seconds) to run its validator"
            )
        try:
            token = self._validator.validate(response.token, now=now)
        except InvalidToken as exc:
            return self.reject(
                ErrorResponse(
                    exc.status, scope=exc.scope, openid_configuration=exc.openid_configuration
                )
            )
        return self.accept(token)

    @moves
    def accept(self, token: OAuthBearerToken) -> Authenticated | AuthenticationFailed:
        """Grant the exchange with the validated ``token``.

        Still fails (returning :class:`AuthenticationFailed`) when the authzid
        policy or the extension validator refuses, with Kafka's message texts.
        """
        self._check("accept")
        if not isinstance(token, OAuthBearerToken):
            raise ArgumentTypeError("accept() takes an OAuthBearerToken")
        response = self._response
        assert response is not None  # TOKEN_RECEIVED always has one
        authzid = response.authzid
        if (
            authzid is not None
            and self._authzid_policy in (AuthzidPolicy.MATCH_PRINCIPAL, AuthzidPolicy.REQUIRE)
            and authzid != token.principal
        ):
            self._move(_SI.ACCEPT_FAILURE)
            return AuthenticationFailed(
                reason=FailureReason.AUTHZID_MISMATCH,
                message=f"Authentication failed: Client requested an authorization id "
                f"({authzid}) that is different from the token's principal name "
                f"({token.principal})",
            )
        extensions = self._validated_extensions(token, response.extensions)
        if isinstance(extensions, AuthenticationFailed):
            self._move(_SI.ACCEPT_FAILURE)
            return extensions
        self._move(_SI.ACCEPT_SUCCESS)
        self._token = token
        self._extensions = extensions
        return Authenticated(token=token, authzid=authzid, extensions=extensions)

    @moves
    def reject(self, error: ErrorResponse) -> ChallengeIssued:
        """Refuse the token with an RFC 7628 error challenge; send its ``reply``."""
        self._check("reject")
        if not isinstance(error, ErrorResponse):
            raise ArgumentTypeError("reject() takes an ErrorResponse")
        self._move(_SI.REJECT)
        return self._challenge_with(error)

    # -- results --

    @property
    def token(self) -> OAuthBearerToken | None:
        """The negotiated token while the exchange stands succeeded, else ``None``."""
        return self._token if self._state is ServerState.SUCCEEDED else None

    @property
    def authzid(self) -> str | None:
        """The authzid the client sent, once a message was received."""
        return None if self._response is None else self._response.authzid

    @property
    def extensions(self) -> Mapping[str, str]:
        """The validated extensions while the exchange stands succeeded, else empty."""
        return self._extensions if self._state is ServerState.SUCCEEDED else _NO_EXTENSIONS

    def negotiated_property(self, name: str) -> object:
        """Kafka's negotiated properties: ``OAUTHBEARER.token``,
        ``CREDENTIAL.LIFETIME.MS``, or a validated extension's value."""
        token = self.token
        if token is None:
            return None
        if name == NEGOTIATED_TOKEN:
            return token
        if name == NEGOTIATED_LIFETIME:
            return token.lifetime_ms
        return self._extensions.get(name)

    def session_lifetime_ms(self, *, now_ms: int, max_reauth_ms: int | None = None) -> int | None:
        """KIP-368: how long the authenticated session may last, in ms.

        The token's remaining lifetime, capped by ``max_reauth_ms`` (Kafka's
        ``connections.max.reauth.ms``) when that is set and positive; never
        negative. ``None`` unless the exchange stands succeeded.
        """
        token = self.token
        if token is None:
            return None
        remaining = token.lifetime_ms - now_ms
        if max_reauth_ms is not None and max_reauth_ms > 0:
            remaining = min(remaining, max_reauth_ms)
        return max(remaining, 0)

    # -- internals --

    def _challenge_with(self, error: ErrorResponse) -> ChallengeIssued:
        if error.openid_configuration is None and self._openid_configuration is not None:
            error = dataclasses.replace(error, openid_configuration=self._openid_configuration)
        self._challenge = error
        return ChallengeIssued(error=error, reply=error.encode())

    def _receive_challenge_reply(self, data: bytes) -> AuthenticationFailed:
        challenge = self._challenge
        assert challenge is not None  # CHALLENGED always has one
        if data != KVSEP:
            raise MalformedMessage(
                "invalid-challenge-reply",
                "after an error challenge the client must send exactly %x01",
                offset=0,
            )
        self._move(_SI.RECEIVE_KVSEP)
        return AuthenticationFailed.after_challenge(challenge)

    def _validated_extensions(
        self, token: OAuthBearerToken, extensions: Mapping[str, str]
    ) -> Mapping[str, str] | AuthenticationFailed:
        if self._extension_validator is None:
            # Kafka's own validator callback handlers mark every extension valid.
            return extensions
        verdict = self._extension_validator(token, extensions)
        if not isinstance(verdict, ExtensionVerdict):
            raise ArgumentTypeError("an extension validator must return ExtensionVerdict")
        unsent = sorted((verdict.valid | verdict.invalid.keys()) - extensions.keys())
        if unsent:
            # Kafka's extensions callback refuses such a verdict (an unchecked
            # IllegalArgumentException): it is the validator's bug, not the peer's.
            raise ConfigurationError(
                "the extension validator's verdict names extensions the client did not "
                f"send: {', '.join(repr(name) for name in unsent)}"
            )
        invalid = [(name, verdict.invalid[name]) for name in extensions if name in verdict.invalid]
        if invalid:
            listed = "; ".join(f"{name}: {why}" for name, why in invalid)
            return AuthenticationFailed(
                reason=FailureReason.INVALID_EXTENSIONS,
                message=f"Authentication failed: {len(invalid)} extensions are invalid! "
                f"They are: {listed}",
            )
        return types.MappingProxyType(
            {name: value for name, value in extensions.items() if name in verdict.valid}
        )
