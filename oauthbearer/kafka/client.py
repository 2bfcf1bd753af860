"""One Kafka connection through SASL OAUTHBEARER authentication: the client's side.

Theory of operation
-------------------
:class:`KafkaClientConnection` is a client's side of one TCP connection to a
broker, in h11's shape and the mirror image of
:class:`~oauthbearer.kafka.KafkaServerConnection`: ``initiate()`` queues the
first request, ``receive_data(data)`` takes the broker's bytes,
``next_event()`` returns what happened and ``data_to_send()`` gives the bytes
to write. It runs the authentication phase itself around a
:class:`~oauthbearer.session.ClientSession`, then carries the application's
requests (:meth:`~KafkaClientConnection.send_request`) and hands their
responses back as :class:`ApplicationResponse`.

It follows Apache Kafka's Java client (``SaslClientAuthenticator`` and
``NetworkClient``)::

    IDLE --initiate--> VERSIONS_SENT
    VERSIONS_SENT --UNSUPPORTED_VERSION (once)--> VERSIONS_SENT (a lower version)
    VERSIONS_SENT --versions--> HANDSHAKE_SENT --OAUTHBEARER agreed--> AUTHENTICATING
    AUTHENTICATING --empty auth_bytes, error 0--> AUTHENTICATED
                   --challenge, error 0--> CHALLENGED --58--> FAILED
    AUTHENTICATED --reauthenticate--> HANDSHAKE_SENT (KIP-368)

* ApiVersions goes first, at v3 with the client's software name and version.
  A broker too old for it answers UNSUPPORTED_VERSION (35) at v0 (KIP-511),
  listing the ApiVersions range it speaks where it can; the client asks once
  more at the highest version of that range below the one refused, else at v0.
* SaslHandshake v1 names OAUTHBEARER; the broker must list SaslHandshake v1
  and SaslAuthenticate. SaslAuthenticate then runs at the highest version
  both sides speak (v2 is flexible; v1 adds ``session_lifetime_ms``). A
  handshake answered UNSUPPORTED_SASL_MECHANISM (33) or ILLEGAL_SASL_STATE
  (34) fails the connection with Kafka's message and the enabled list.
* Any SaslAuthenticate answer with an error code fails the connection with
  the broker's ``error_message``. Error code 0 with empty ``auth_bytes`` is
  success; with bytes, it is an RFC 7628 error challenge (section 3.2.2): the
  client answers ``%x01`` in its own SaslAuthenticate, and the broker's
  SASL_AUTHENTICATION_FAILED (58) surfaces with the challenge's status and
  scope. Success after a challenge is refused: nothing is granted on that path.
* Success reports ``session_lifetime_ms`` (SaslAuthenticate v1+, else 0), the
  time after which the broker closes the connection unless the client
  re-authenticates (KIP-368): ``reauthenticate(session)`` runs SaslHandshake
  and SaslAuthenticate again on the authenticated connection, with no request
  in flight.
* Responses arrive in request order; each must carry the correlation id of
  the oldest request in flight (``NetworkClient.correlate``). A Produce with
  ``acks=0`` is never in flight: the broker does not answer it.
* The broker's ApiVersions ranges are kept (``api_versions``), so that the
  application sends each request at the highest version both sides speak
  (``usable_version``, Kafka's ``NodeApiVersions.latestUsableVersion``).

Errors from the broker never raise: each becomes a
:class:`ClientAuthenticationFailed` (``reason`` in
:class:`~oauthbearer.errors.ClientFailureReason`), after which the connection is ``FAILED``. A
call the current phase does not allow raises
:class:`~oauthbearer.errors.SessionStateError` and leaves the connection
``FAILED``. The machine is one phase enum (:class:`ClientPhase`), one input
enum (:class:`ClientConnectionInput`: each call that moves it, and each
response ``next_event`` read, by what it was) and two tables: the permissions
(``_PERMISSIONS``: the phases in which each public method may be called;
``receive_data``, ``send_request`` and the rest only there, since they leave
the phase as it was) and the transitions (``_TRANSITIONS``).

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import types
import typing
from typing import TYPE_CHECKING, Final

from oauthbearer import __version__
from oauthbearer.errors import (
    ArgumentTypeError,
    ClientFailureReason,
    ConfigurationError,
    MalformedMessage,
    ProtocolError,
)
from oauthbearer.kafka.framing import ConnectionClosed, FramedConnection
from oauthbearer.kafka.protocol import (
    API_VERSIONS_UNSUPPORTED_RESPONSE_VERSION,
    SOCKET_REQUEST_MAX_BYTES,
    SUPPORTED_VERSIONS,
    ApiKey,
    ApiVersionsRequest,
    ApiVersionsResponse,
    DecoderEvent,
    ErrorCode,
    Frame,
    MalformedFrame,
    ProduceRequest,
    RequestHeader,
    RequestMessage,
    ResponseHeader,
    ResponseMessage,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    decode_response,
    encode_request,
    usable_version,
)
from oauthbearer.kafka.server import MECHANISM
from oauthbearer.machine import moves
from oauthbearer.session import (
    AuthenticationFailed,
    ChallengeReceived,
    ClientSession,
    ClientState,
    DiscoveryResult,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ApplicationResponse",
    "ClientAuthenticated",
    "ClientAuthenticationFailed",
    "ClientConnectionInput",
    "ClientEvent",
    "ClientPhase",
    "KafkaClientConnection",
]

#: The ApiVersions version asked first: v3 carries the client software name and
#: version (KIP-511), which brokers log and expose as metrics.
API_VERSIONS_REQUEST_VERSION: Final = 3

#: SaslHandshake v1: the SASL tokens travel in SaslAuthenticate requests (KIP-152).
#: v0 (bare size-prefixed tokens) is not spoken by this client.
SASL_HANDSHAKE_REQUEST_VERSION: Final = 1

#: The software name sent in ApiVersions v3; with the package version it
#: passes the broker's check (letters, digits, ``-`` and ``.``).
_DEFAULT_SOFTWARE_NAME: Final = "oauthbearer"

#: Correlation ids are INT32 and wrap to 0 past the maximum, as Kafka's do.
_MAX_CORRELATION_ID: Final = (1 << 31) - 1

#: The request classes, for ``isinstance`` (``RequestMessage`` is a Union).
_REQUEST_TYPES: Final[tuple[type, ...]] = typing.get_args(RequestMessage)

# --- Events ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuthenticated:
    """The broker accepted the token.

    ``session_lifetime_ms`` is what the broker reported (0 at SaslAuthenticate
    v0, or when it sets no limit): re-authenticate before it runs out (KIP-368).
    """

    session_lifetime_ms: int
    #: True after :meth:`KafkaClientConnection.reauthenticate` (KIP-368).
    reauthentication: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuthenticationFailed:
    """Authentication failed; the connection is over. Write
    :meth:`KafkaClientConnection.data_to_send` if you like, then close.

    ``error_code`` is the broker's Kafka error code (or the one that describes a
    local refusal: CORRUPT_MESSAGE for a malformed response, UNSUPPORTED_VERSION,
    ILLEGAL_SASL_STATE for success after a challenge); ``status``, ``scope`` and
    ``openid_configuration`` come from the RFC 7628 error challenge, when there
    was one; ``reason`` is a code of :class:`~oauthbearer.errors.ClientFailureReason`.
    """

    message: str
    error_code: int
    status: str | None = None
    scope: str | None = None
    openid_configuration: str | None = None
    reason: ClientFailureReason


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationResponse:
    """The response to a request sent with :meth:`KafkaClientConnection.send_request`.

    ``request`` is that request's header, ``header`` the response header,
    ``frame`` the whole response frame (header included), and ``message`` the
    decoded body.
    """

    request: RequestHeader
    header: ResponseHeader
    frame: Frame
    message: ResponseMessage


ClientEvent = (
    ClientAuthenticated | ClientAuthenticationFailed | ApplicationResponse | ConnectionClosed
)


# --- The machine ----------------------------------------------------------------------


class ClientPhase(enum.Enum):
    """Phases of :class:`KafkaClientConnection`."""

    #: Fresh: call ``initiate``.
    IDLE = "idle"
    #: ApiVersions is in flight.
    VERSIONS_SENT = "versions-sent"
    #: SaslHandshake is in flight.
    HANDSHAKE_SENT = "handshake-sent"
    #: The initial response is in flight.
    AUTHENTICATING = "authenticating"
    #: The ``%x01`` answering an error challenge is in flight; only failure can follow.
    CHALLENGED = "challenged"
    AUTHENTICATED = "authenticated"
    #: The broker closed the connection.
    CLOSED = "closed"
    FAILED = "failed"


class ClientConnectionInput(enum.Enum):
    """What moves a :class:`KafkaClientConnection`: each call that moves it, and
    each response ``next_event`` read, by what it was (``frame:...``). A value
    is ``call`` or ``call:outcome``."""

    #: ApiVersions was queued.
    INITIATE = "initiate"
    #: ApiVersions answered UNSUPPORTED_VERSION: asked again, once (KIP-511).
    FRAME_VERSIONS_RETRY = "frame:versions_retry"
    #: ApiVersions answered: SaslHandshake was queued.
    FRAME_VERSIONS = "frame:versions"
    #: OAUTHBEARER agreed: the initial response was queued.
    FRAME_HANDSHAKE = "frame:handshake"
    #: SaslAuthenticate answered with success.
    FRAME_SUCCESS = "frame:success"
    #: SaslAuthenticate answered with an error challenge: ``%x01`` was queued.
    FRAME_CHALLENGE = "frame:challenge"
    #: The response to an application request.
    FRAME_RESPONSE = "frame:response"
    #: The connection failed (an error, a malformed or unexpected response).
    FRAME_FAILURE = "frame:failure"
    #: The broker closed the connection between frames.
    FRAME_CLOSED = "frame:closed"
    #: A KIP-368 re-authentication was started.
    REAUTHENTICATE = "reauthenticate"


_C = ClientPhase
_I = ClientConnectionInput
_LIVE: Final = (
    _C.IDLE,
    _C.VERSIONS_SENT,
    _C.HANDSHAKE_SENT,
    _C.AUTHENTICATING,
    _C.CHALLENGED,
    _C.AUTHENTICATED,
)

# Public method -> the phases in which it may be called.
_PERMISSIONS: Final[Mapping[str, frozenset[ClientPhase]]] = types.MappingProxyType(
    {
        "initiate": frozenset({_C.IDLE}),
        "receive_data": frozenset(_LIVE),
        "next_event": frozenset(_LIVE),
        "data_to_send": frozenset(ClientPhase),
        "send_request": frozenset({_C.AUTHENTICATED}),
        "reauthenticate": frozenset({_C.AUTHENTICATED}),
    }
)

# (phase, input) -> next phase.
_TRANSITIONS: Final[Mapping[tuple[ClientPhase, ClientConnectionInput], ClientPhase]] = (
    types.MappingProxyType(
        {
            (_C.IDLE, _I.INITIATE): _C.VERSIONS_SENT,
            # KIP-511: asked again, once, at a version the broker speaks.
            (_C.VERSIONS_SENT, _I.FRAME_VERSIONS_RETRY): _C.VERSIONS_SENT,
            (_C.VERSIONS_SENT, _I.FRAME_VERSIONS): _C.HANDSHAKE_SENT,
            (_C.HANDSHAKE_SENT, _I.FRAME_HANDSHAKE): _C.AUTHENTICATING,
            (_C.AUTHENTICATING, _I.FRAME_SUCCESS): _C.AUTHENTICATED,
            (_C.AUTHENTICATING, _I.FRAME_CHALLENGE): _C.CHALLENGED,
            # A response to an application request: an event that keeps the phase.
            (_C.AUTHENTICATED, _I.FRAME_RESPONSE): _C.AUTHENTICATED,
            # KIP-368: a new exchange on the same connection, from SaslHandshake.
            (_C.AUTHENTICATED, _I.REAUTHENTICATE): _C.HANDSHAKE_SENT,
            # From any live phase: the connection fails, or the peer closes it.
            **{(p, _I.FRAME_FAILURE): _C.FAILED for p in _LIVE},
            **{(p, _I.FRAME_CLOSED): _C.CLOSED for p in _LIVE},
        }
    )
)


class KafkaClientConnection(FramedConnection[ClientPhase, ClientConnectionInput, "ClientEvent"]):
    """A client's side of one Kafka connection authenticating with OAUTHBEARER.

    ``session`` is a fresh :class:`~oauthbearer.session.ClientSession`, or the
    access token to make one with (and ``extensions``). ``client_id`` goes into
    every request header; correlation ids start at ``correlation_id``.
    ``software_name`` and ``software_version`` go into ApiVersions v3 and must
    match Kafka's pattern (letters, digits, ``-`` and ``.``).
    ``max_frame_size`` bounds every response frame, checked as its size prefix
    arrives.
    """

    __slots__ = (
        "_auth_version",
        "_broker_versions",
        "_client_id",
        "_correlation",
        "_in_flight",
        "_reauthenticating",
        "_retried",
        "_session",
        "_software",
    )
    _PERMISSIONS = _PERMISSIONS
    _TRANSITIONS = _TRANSITIONS
    _FAILED = ClientPhase.FAILED
    _PEER_CLOSED = ClientConnectionInput.FRAME_CLOSED
    _MALFORMED = "malformed-response"

    def __init__(
        self,
        session: ClientSession | str,
        *,
        extensions: Mapping[str, str] | None = None,
        client_id: str | None = None,
        correlation_id: int = 0,
        software_name: str = _DEFAULT_SOFTWARE_NAME,
        software_version: str = __version__,
        max_frame_size: int = SOCKET_REQUEST_MAX_BYTES,
    ) -> None:
        super().__init__(ClientPhase.IDLE)
        session = _fresh_session(session, extensions)
        if (
            not isinstance(correlation_id, int)
            or isinstance(correlation_id, bool)
            or not 0 <= correlation_id <= _MAX_CORRELATION_ID
        ):
            raise ArgumentTypeError("correlation_id must be an int in 0..2**31-1")
        self._software = ApiVersionsRequest(
            client_software_name=software_name, client_software_version=software_version
        )
        # Built once so that a bad client_id fails here, not in initiate().
        RequestHeader(api_key=0, api_version=0, correlation_id=0, client_id=client_id)
        self._session = session
        self._client_id = client_id
        self._correlation = correlation_id
        self._start_framing(max_frame_size)
        self._in_flight: collections.deque[RequestHeader] = collections.deque()
        self._retried = False
        self._auth_version = 0
        self._reauthenticating = False
        self._broker_versions: Mapping[int, tuple[int, int]] = types.MappingProxyType({})

    def __repr__(self) -> str:
        return f"<KafkaClientConnection phase={self._state.name}>"

    @property
    def phase(self) -> ClientPhase:
        return self._state

    @property
    def api_versions(self) -> Mapping[int, tuple[int, int]]:
        """The broker's API versions, as its ApiVersions response listed them:
        (min, max) per API key; empty until that response has arrived."""
        return self._broker_versions

    def usable_version(self, api_key: int) -> int | None:
        """The highest version of ``api_key`` that this codec and the broker
        both speak, or ``None`` (see :func:`~oauthbearer.kafka.usable_version`):
        the version to pass to :meth:`send_request`."""
        return usable_version(api_key, self._broker_versions)

    # -- the h11-shaped surface --

    @moves
    def initiate(self) -> None:
        """Queue the first request (ApiVersions v3)."""
        self._check("initiate")
        self._move(_I.INITIATE)
        self._request(ApiKey.API_VERSIONS, API_VERSIONS_REQUEST_VERSION, self._software)

    @moves
    def receive_data(self, data: bytes) -> None:
        """Add bytes from the broker (``b""``: it closed the connection)."""
        self._check("receive_data")
        self._decoder.receive_data(data)

    @moves
    def next_event(self) -> ClientEvent | DecoderEvent:
        """The next event, or :data:`~oauthbearer.kafka.NEED_DATA`.

        After :class:`ClientAuthenticationFailed` or
        :class:`~oauthbearer.kafka.ConnectionClosed` the connection is over;
        calling again raises.
        """
        self._check("next_event")
        return self._pump()

    @moves
    def send_request(self, api_key: int, version: int, message: RequestMessage) -> RequestHeader:
        """Queue an application request on the authenticated connection.

        Returns its header (with its correlation id); the answer comes back as
        :class:`ApplicationResponse`. A Produce request with ``acks=0`` has no
        answer (Kafka's broker sends none), so none is awaited.
        """
        self._check("send_request")
        if not isinstance(message, _REQUEST_TYPES):
            raise ArgumentTypeError("send_request() takes a request message")
        answered = not (isinstance(message, ProduceRequest) and message.acks == 0)
        return self._request(api_key, version, message, answered=answered)

    @moves
    def reauthenticate(
        self, session: ClientSession | str, *, extensions: Mapping[str, str] | None = None
    ) -> None:
        """Start a KIP-368 re-authentication on this authenticated connection,
        with a fresh session (or token, and ``extensions``): SaslHandshake, then
        SaslAuthenticate, as the first time.

        Do it before the session lifetime runs out, with no request in flight
        (Kafka's client waits for the connection to be idle), and hold new
        requests until the outcome: :class:`ClientAuthenticated` with
        ``reauthentication=True``, or :class:`ClientAuthenticationFailed`. A
        broker refuses a second re-authentication within a second (34), and a
        token naming another principal.
        """
        self._check("reauthenticate")
        if self._in_flight:
            raise ConfigurationError(
                "reauthenticate() with requests in flight: wait for their responses"
            )
        self._session = _fresh_session(session, extensions)
        self._reauthenticating = True
        self._move(_I.REAUTHENTICATE)
        self._request(
            ApiKey.SASL_HANDSHAKE,
            SASL_HANDSHAKE_REQUEST_VERSION,
            SaslHandshakeRequest(mechanism=MECHANISM),
        )

    # -- dispatch by phase --

    def _dispatch(self, frame: Frame) -> ClientEvent | None:
        if not self._in_flight:
            return self._fail(
                "a response arrived with no request in flight",
                ErrorCode.CORRUPT_MESSAGE,
                "unexpected-response",
            )
        request = self._in_flight.popleft()
        try:
            header, message = _decode(frame, request)
        except MalformedFrame as err:
            return self._fail(str(err), err.error_code, "malformed-response")
        if header.correlation_id != request.correlation_id:
            return self._fail(
                f"correlation id {header.correlation_id} does not match the request's "
                f"{request.correlation_id}",
                ErrorCode.CORRUPT_MESSAGE,
                "unexpected-response",
            )
        phase = self._state
        if phase is ClientPhase.AUTHENTICATED:
            self._move(_I.FRAME_RESPONSE)
            return ApplicationResponse(request=request, header=header, frame=frame, message=message)
        if isinstance(message, ApiVersionsResponse):
            return self._versions(request, message)
        if isinstance(message, SaslHandshakeResponse):
            return self._handshake(message)
        assert isinstance(message, SaslAuthenticateResponse)  # the only one left in flight
        return self._authenticate(message)

    def _versions(self, request: RequestHeader, message: ApiVersionsResponse) -> ClientEvent | None:
        if message.error_code == ErrorCode.UNSUPPORTED_VERSION and not self._retried:
            # KIP-511 (NetworkClient.handleApiVersionsResponse): ask again at the
            # highest version the broker lists below the refused one, else v0.
            self._retried = True
            version = 0
            for key in message.api_keys:
                if key.api_key == ApiKey.API_VERSIONS:
                    version = max(0, min(key.max_version, request.api_version - 1))
            self._move(_I.FRAME_VERSIONS_RETRY)
            self._request(ApiKey.API_VERSIONS, version, self._software)
            return None
        if message.error_code != ErrorCode.NONE:
            return self._fail(
                f"the broker answered ApiVersions v{request.api_version} with error code "
                f"{message.error_code}",
                message.error_code,
                "api-versions-failed",
            )
        ranges = {key.api_key: (key.min_version, key.max_version) for key in message.api_keys}
        self._broker_versions = types.MappingProxyType(ranges)
        handshake = ranges.get(ApiKey.SASL_HANDSHAKE)
        authenticate = ranges.get(ApiKey.SASL_AUTHENTICATE)
        low, high = SUPPORTED_VERSIONS[ApiKey.SASL_AUTHENTICATE]
        if (
            handshake is None
            or not handshake[0] <= SASL_HANDSHAKE_REQUEST_VERSION <= handshake[1]
            or authenticate is None
            or authenticate[1] < low
            or authenticate[0] > high
        ):
            return self._fail(
                f"the broker does not speak SaslHandshake v1 with SaslAuthenticate v{low}-v{high}",
                ErrorCode.UNSUPPORTED_VERSION,
                "unsupported-version",
            )
        self._auth_version = min(authenticate[1], high)
        self._move(_I.FRAME_VERSIONS)
        self._request(
            ApiKey.SASL_HANDSHAKE,
            SASL_HANDSHAKE_REQUEST_VERSION,
            SaslHandshakeRequest(mechanism=MECHANISM),
        )
        return None

    def _handshake(self, message: SaslHandshakeResponse) -> ClientEvent | None:
        enabled = list(message.mechanisms)
        if message.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM:
            return self._fail(
                f"Client SASL mechanism '{MECHANISM}' not enabled in the server, "
                f"enabled mechanisms are {enabled}",
                message.error_code,
                "unsupported-mechanism",
            )
        if message.error_code == ErrorCode.ILLEGAL_SASL_STATE:
            return self._fail(
                f"Unexpected handshake request with client mechanism {MECHANISM}, "
                f"enabled mechanisms are {enabled}",
                message.error_code,
                "illegal-sasl-state",
            )
        if message.error_code != ErrorCode.NONE:
            return self._fail(
                f"Unknown error code {message.error_code}, client mechanism is {MECHANISM}, "
                f"enabled mechanisms are {enabled}",
                message.error_code,
                "handshake-failed",
            )
        self._move(_I.FRAME_HANDSHAKE)
        initial = self._session.initial_response()
        self._request(
            ApiKey.SASL_AUTHENTICATE,
            self._auth_version,
            SaslAuthenticateRequest(auth_bytes=initial),
        )
        return None

    def _authenticate(self, message: SaslAuthenticateResponse) -> ClientEvent | None:
        session = self._session
        try:
            if message.error_code != ErrorCode.NONE:
                outcome = session.receive_outcome(success=False, message=message.error_message)
                if isinstance(outcome, AuthenticationFailed):
                    return self._fail(
                        outcome.message,
                        message.error_code,
                        "authentication-failed",
                        status=outcome.status,
                        scope=outcome.scope,
                        openid_configuration=outcome.openid_configuration,
                    )
                # Otherwise a discovery session's end: it asked for the challenge.
                assert isinstance(outcome, DiscoveryResult)
                error = outcome.error
                return self._fail(
                    message.error_message or error.encode().decode(),
                    message.error_code,
                    "discovery",
                    status=error.status,
                    scope=error.scope,
                    openid_configuration=error.openid_configuration,
                )
            if self._state is ClientPhase.CHALLENGED:
                session.receive_outcome(success=True)
            received = session.receive(message.auth_bytes)
        except MalformedMessage as err:
            return self._fail(
                str(err), ErrorCode.CORRUPT_MESSAGE, ClientFailureReason.MALFORMED_CHALLENGE
            )
        except ProtocolError as err:
            # The session's reason is the connection's: success after a
            # challenge, or a granted discovery request.
            return self._fail(
                str(err), ErrorCode.ILLEGAL_SASL_STATE, ClientFailureReason(err.reason)
            )
        if isinstance(received, ChallengeReceived):
            self._move(_I.FRAME_CHALLENGE)
            self._request(
                ApiKey.SASL_AUTHENTICATE,
                self._auth_version,
                SaslAuthenticateRequest(auth_bytes=received.reply),
            )
            return None
        self._move(_I.FRAME_SUCCESS)
        return ClientAuthenticated(
            session_lifetime_ms=message.session_lifetime_ms,
            reauthentication=self._reauthenticating,
        )

    # -- helpers --

    def _request(
        self, api_key: int, version: int, message: RequestMessage, *, answered: bool = True
    ) -> RequestHeader:
        header = RequestHeader(
            api_key=api_key,
            api_version=version,
            correlation_id=self._correlation,
            client_id=self._client_id,
        )
        self._outbox += encode_request(header, message)
        self._correlation = 0 if self._correlation == _MAX_CORRELATION_ID else self._correlation + 1
        if answered:
            self._in_flight.append(header)
        return header

    def _fail(
        self,
        message: str,
        error_code: int,
        reason: str,
        *,
        status: str | None = None,
        scope: str | None = None,
        openid_configuration: str | None = None,
    ) -> ClientAuthenticationFailed:
        if self._state is not ClientPhase.FAILED:
            self._move(_I.FRAME_FAILURE)
        self._in_flight.clear()
        return ClientAuthenticationFailed(
            message=message,
            error_code=error_code,
            status=status,
            scope=scope,
            openid_configuration=openid_configuration,
            reason=ClientFailureReason(reason),
        )


def _fresh_session(
    session: ClientSession | str, extensions: Mapping[str, str] | None
) -> ClientSession:
    if isinstance(session, str):
        return ClientSession(session, extensions=extensions)
    if not isinstance(session, ClientSession):
        raise ArgumentTypeError("session must be a ClientSession or an access token")
    if extensions is not None:
        raise ConfigurationError("give extensions to the ClientSession, not beside it")
    if session.state is not ClientState.IDLE:
        raise ConfigurationError("the ClientSession must be fresh (IDLE)")
    return session


def _decode(frame: Frame, request: RequestHeader) -> tuple[ResponseHeader, ResponseMessage]:
    """The response to ``request``; send_request takes only messages the codec
    speaks, so every response has a decoder."""
    try:
        return decode_response(frame, api_key=request.api_key, api_version=request.api_version)
    except MalformedFrame:
        if request.api_key != ApiKey.API_VERSIONS or request.api_version == 0:
            raise
        # KIP-511 (ApiVersionsResponse.parse): a broker that does not speak the
        # version asked answers v0 with UNSUPPORTED_VERSION; read it as v0.
        return decode_response(
            frame,
            api_key=ApiKey.API_VERSIONS,
            api_version=API_VERSIONS_UNSUPPORTED_RESPONSE_VERSION,
        )
