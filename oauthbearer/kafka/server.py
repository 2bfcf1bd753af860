"""One Kafka connection through SASL OAUTHBEARER authentication: the broker's side.

Theory of operation
-------------------
:class:`KafkaServerConnection` is a broker's side of one TCP connection, in
h11's shape: ``receive_data(data, now=...)`` takes bytes, ``next_event()``
returns what happened, ``data_to_send()`` gives the bytes to write. It answers
the authentication phase itself (ApiVersions, SaslHandshake, SaslAuthenticate)
around a :class:`~oauthbearer.session.ServerSession`, then hands every request
to the application as an :class:`ApplicationRequest`.

It follows Apache Kafka's broker (``SaslServerAuthenticator``, ``KafkaChannel``
and ``KafkaApis``)::

    AWAITING_HANDSHAKE --ApiVersions--> VERSIONS_ANSWERED
    AWAITING_HANDSHAKE / VERSIONS_ANSWERED --SaslHandshake OAUTHBEARER--> AUTHENTICATING
    AUTHENTICATING --token--> VALIDATING --accept--> AUTHENTICATED
                                         --reject--> CHALLENGED --%x01--> FAILED
    CHALLENGED --another initial response (Kafka's dialect)--> VALIDATING
    AUTHENTICATED --SaslHandshake (KIP-368)--> AUTHENTICATING

* Before the handshake only ApiVersions (once) and SaslHandshake are read; any
  other request fails the connection with no response ("Unexpected Kafka
  request of type ... during SASL handshake"). A mechanism other than
  OAUTHBEARER is answered UNSUPPORTED_SASL_MECHANISM (33) with the enabled list.
* SaslHandshake v1 means the SASL tokens come in SaslAuthenticate requests;
  any other request then is answered ILLEGAL_SASL_STATE (34), where a response
  can be built, and fails the connection. SaslHandshake v0 means the tokens come
  as bare size-prefixed frames, and so do the server's answers.
* The RFC 7628 error path runs as Kafka runs it: the challenge goes out as a
  SaslAuthenticate response with error code 0 and the JSON in ``auth_bytes``;
  the client's ``%x01`` gets SASL_AUTHENTICATION_FAILED (58) with the JSON as
  ``error_message``. A client that ignores the challenge and sends another
  request (aiokafka sends Metadata) gets 34 and a failed connection: nothing is
  granted on the challenge path. Another SaslAuthenticate instead of ``%x01``
  is, in Kafka's dialect, a new initial response, judged afresh as Kafka's
  broker judges it; in the strict dialect it fails the exchange.
* A scheme other than ``Bearer`` makes Kafka's broker close the connection
  without an answer (its parser fails with an unchecked exception); in
  Kafka's dialect this connection does the same.
* Success reports ``session_lifetime_ms`` (SaslAuthenticate v1+): the token's
  remaining lifetime, capped by ``max_reauth_ms`` (``connections.max.reauth.ms``).
  Past that time, a request other than SaslHandshake closes the connection.
* KIP-368: on an authenticated connection, SaslHandshake starts a
  re-authentication, at most once a second; otherwise it is answered 34 and the
  session stands. A re-authentication must keep the mechanism and the principal.
* A client that speaks another protocol is named as such: a stream that opens
  with a TLS record header (a ClientHello: a client configured for SSL or
  SASL_SSL on a listener without TLS) fails with reason ``tls-handshake``, one
  that opens with an HTTP method with ``http-request``
  (:func:`foreign_protocol`), where Kafka's broker reports an absurd frame size
  (``0x16030100``, 369 MB, for a ClientHello). The first four bytes decide, as
  they arrive, whatever the frame limit.

Errors from the peer never raise: each becomes an
:class:`ServerAuthenticationFailed` (with the Kafka response queued where Kafka
sends one), after which the connection is ``FAILED``. A call the current phase
does not allow raises :class:`~oauthbearer.errors.SessionStateError` and leaves
the connection ``FAILED``. The machine, on the shared base
:class:`~oauthbearer.kafka.framing.FramedConnection`, is one phase enum
(:class:`ServerPhase`), one input enum (:class:`ServerConnectionInput`: each
frame ``next_event`` read, by what it was, and each verdict) and two tables:
the permissions (``_PERMISSIONS``: the phases in which each public method may
be called; ``receive_data``, ``data_to_send`` and the rest only there, since
they leave the phase as it was) and the transitions (``_TRANSITIONS``).

This module is pure: no I/O, no clock (``now`` is an argument), no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    MalformedMessage,
    ServerFailureReason,
)
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE, Dialect
from oauthbearer.kafka._wire import Reader
from oauthbearer.kafka.framing import ConnectionClosed, FramedConnection
from oauthbearer.kafka.protocol import (
    SOCKET_REQUEST_MAX_BYTES,
    SUPPORTED_VERSIONS,
    ApiKey,
    ApiVersionsRequest,
    ApiVersionsResponse,
    DecoderEvent,
    ErrorCode,
    Frame,
    MalformedFrame,
    MetadataRequest,
    MetadataResponse,
    MetadataTopic,
    RequestHeader,
    RequestMessage,
    ResponseHeader,
    ResponseMessage,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    api_versions_response_version,
    decode_request,
    encode_response,
    wire_text,
)
from oauthbearer.machine import moves
from oauthbearer.session import (
    Authenticated,
    AuthenticationFailed,
    ChallengeIssued,
    ServerSession,
    TokenReceived,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from oauthbearer.gs2 import ErrorResponse
    from oauthbearer.token import OAuthBearerToken

__all__ = [
    "DEFAULT_AUTHENTICATION_TIMEOUT_MS",
    "MAX_ELEMENTS_BEFORE_AUTHENTICATION",
    "MAX_METADATA_TOPICS",
    "MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION",
    "MIN_REAUTH_INTERVAL_MS",
    "PAUSED",
    "ApplicationRequest",
    "ConnectionEvent",
    "KafkaServerConnection",
    "ServerAuthenticated",
    "ServerAuthenticationFailed",
    "ServerConnectionInput",
    "ServerEvent",
    "ServerPhase",
]

#: The one SASL mechanism this connection runs.
MECHANISM: Final = "OAUTHBEARER"

#: Kafka's ``KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS``, in ms: a
#: connection starts at most one re-authentication a second; a handshake sooner
#: is processed as an ordinary request and answered ILLEGAL_SASL_STATE.
MIN_REAUTH_INTERVAL_MS: Final = 1_000

#: How long a client has, from the connection's start, to authenticate; past
#: it the connection fails (reason ``authentication-timeout``). Kafka's broker
#: leaves an unauthenticated connection to ``connections.max.idle.ms`` (10
#: minutes), which a client that sends a byte now and then never reaches; real
#: clients authenticate within a second, or a few when they fetch a token first.
DEFAULT_AUTHENTICATION_TIMEOUT_MS: Final = 30_000

#: Most elements in any array of a request read before the client is
#: authenticated. The only such array is the topics of a Metadata request,
#: which is refused anyway (aiokafka sends one after an error challenge, naming
#: the few topics it knows); a longer one is refused by its count, without an
#: answer, so that an unauthenticated client cannot make the connection read
#: and answer a quarter of a million topics per frame.
MAX_ELEMENTS_BEFORE_AUTHENTICATION: Final = 64

#: Most topics one Metadata request may name once authenticated (the bound on
#: every array read then). Clients ask for every topic with a null list and
#: otherwise name the topics they use; a longer list is refused by its count
#: (the connection fails, reason ``malformed-frame``), so that one request
#: cannot cost work and an answer in proportion to a 100 MiB frame.
MAX_METADATA_TOPICS: Final = 10_000

#: Requests answered with an error before authentication (an ApiVersions
#: version the broker does not speak, invalid software names) after which the
#: connection fails, reason ``too-many-refusals``. A client retries once, at the
#: version the answer names (KIP-511); Kafka's broker lets a client repeat
#: forever, each time at a parse's cost.
MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION: Final = 3

#: ``ApiVersionsRequest.isValid()`` in Kafka: the client software name and
#: version (v3+) must match this, else the answer is INVALID_REQUEST.
_SOFTWARE_PATTERN: Final = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")

#: The bytes that open a TLS connection: a handshake record (content type 22)
#: of TLS 1.0 to 1.3 or SSL 3.0 (RFC 8446 section 5.1: the ClientHello's
#: ``legacy_record_version`` is 0x0301 or 0x0303).
_TLS_HANDSHAKE_RECORD: Final = re.compile(rb"\x16\x03[\x00-\x04]", re.DOTALL)
#: The first four bytes of an HTTP/1.x request (RFC 9110 section 9: the
#: registered methods) or of HTTP/2's connection preface (``PRI *``).
_HTTP_METHODS: Final = frozenset(
    {b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"CONN", b"OPTI", b"TRAC", b"PATC", b"PRI "}
)

_SIZE_PREFIX: Final = 4


def foreign_protocol(head: bytes) -> ServerFailureReason | None:
    """The reason code for a stream whose first bytes ``head`` (four or more)
    are another protocol's, or ``None``: ``tls-handshake`` for a TLS record
    header, ``http-request`` for an HTTP request line. Neither is a frame any
    Kafka client sends first: its four bytes are a size over 369 MB (TLS) or
    1 GB (HTTP), where a first request takes tens of bytes."""
    if _TLS_HANDSHAKE_RECORD.match(head):
        return ServerFailureReason.TLS_HANDSHAKE
    if bytes(head[:_SIZE_PREFIX]) in _HTTP_METHODS:
        return ServerFailureReason.HTTP_REQUEST
    return None


# --- Events ---------------------------------------------------------------------------


class ConnectionEvent(enum.Enum):
    """What :meth:`KafkaServerConnection.next_event` returns when it has no event."""

    #: A token awaits the application's verdict: call ``accept`` or ``reject``.
    PAUSED = "PAUSED"


PAUSED: Final = ConnectionEvent.PAUSED


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServerAuthenticated:
    """The client authenticated (or re-authenticated, KIP-368).

    ``session_lifetime_ms`` is what was reported to the client (0 at
    SaslAuthenticate v0 and with bare tokens, which cannot carry it);
    ``session_expiry_ms`` the epoch ms after which the connection is closed on
    its next request other than SaslHandshake.
    """

    principal: str
    token: OAuthBearerToken
    extensions: Mapping[str, str]
    authzid: str | None
    session_lifetime_ms: int
    session_expiry_ms: int
    reauthentication: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServerAuthenticationFailed:
    """Authentication failed; the connection is over. Send what
    :meth:`KafkaServerConnection.data_to_send` holds (Kafka's error response,
    where Kafka sends one), then close.

    ``reason`` is a code of :class:`~oauthbearer.errors.ServerFailureReason`; ``error_code``
    the Kafka error code that describes the failure; ``message`` the text sent
    to the client, or the reason for the log when nothing is sent.
    """

    message: str
    error_code: int
    reason: ServerFailureReason


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationRequest:
    """A request on an authenticated connection, for the application to answer
    with :meth:`KafkaServerConnection.send_response` or ``send_raw``.

    ``message`` is the decoded message for the APIs and versions the codec
    speaks; for any other, the whole request :class:`Frame` (header included),
    and ``header`` holds the fields every header version shares (a v2 header's
    tagged fields are left in the frame).
    """

    header: RequestHeader
    message: RequestMessage | Frame


ServerEvent = (
    ServerAuthenticated
    | ServerAuthenticationFailed
    | ApplicationRequest
    | ConnectionClosed
    | TokenReceived
)


# --- The machine ----------------------------------------------------------------------


class ServerPhase(enum.Enum):
    """Phases of :class:`KafkaServerConnection`."""

    #: Fresh: ApiVersions or SaslHandshake.
    AWAITING_HANDSHAKE = "awaiting-handshake"
    #: ApiVersions was answered: SaslHandshake only.
    VERSIONS_ANSWERED = "versions-answered"
    #: The mechanism is agreed: the client's initial response.
    AUTHENTICATING = "authenticating"
    #: A token awaits the application's ``accept`` or ``reject``.
    VALIDATING = "validating"
    #: The error challenge went out: only ``%x01`` is expected.
    CHALLENGED = "challenged"
    AUTHENTICATED = "authenticated"
    #: The client closed the connection.
    CLOSED = "closed"
    FAILED = "failed"


class ServerConnectionInput(enum.Enum):
    """What moves a :class:`KafkaServerConnection`: each frame ``next_event``
    read, by what it was (``frame:...``), and each verdict on a token. A value
    is ``call`` or ``call:outcome``."""

    #: ApiVersions, answered.
    FRAME_API_VERSIONS = "frame:api_versions"
    #: ApiVersions, answered with an error (a version the broker does not
    #: speak, invalid software names, another cluster).
    FRAME_API_VERSIONS_ERROR = "frame:api_versions_error"
    #: SaslHandshake for OAUTHBEARER: an exchange starts.
    FRAME_HANDSHAKE = "frame:handshake"
    #: An initial response, for the session to judge.
    FRAME_TOKEN = "frame:token"
    #: The client's ``%x01`` after the error challenge.
    FRAME_ACK = "frame:ack"
    #: SaslHandshake or SaslAuthenticate after success, answered 34.
    FRAME_REFUSED = "frame:refused"
    #: An application request on the authenticated connection.
    FRAME_REQUEST = "frame:request"
    #: The connection failed (the frame, the client or the deadline).
    FRAME_FAILURE = "frame:failure"
    #: The client closed the connection between frames.
    FRAME_CLOSED = "frame:closed"
    #: The token was granted.
    ACCEPT_SUCCESS = "accept:success"
    #: The token was granted, but the authzid, an extension or a
    #: re-authentication's principal was refused.
    ACCEPT_FAILURE = "accept:failure"
    #: The token was refused with an error challenge.
    REJECT = "reject"


_P = ServerPhase
_I = ServerConnectionInput
_LIVE: Final = (
    _P.AWAITING_HANDSHAKE,
    _P.VERSIONS_ANSWERED,
    _P.AUTHENTICATING,
    _P.VALIDATING,
    _P.CHALLENGED,
    _P.AUTHENTICATED,
)
_READING: Final = tuple(p for p in _LIVE if p is not _P.VALIDATING)

# Public method -> the phases in which it may be called.
_PERMISSIONS: Final[Mapping[str, frozenset[ServerPhase]]] = types.MappingProxyType(
    {
        "receive_data": frozenset(_LIVE),
        "next_event": frozenset(_LIVE),
        "data_to_send": frozenset(ServerPhase),
        "check_deadline": frozenset(ServerPhase),
        "accept": frozenset({_P.VALIDATING}),
        "reject": frozenset({_P.VALIDATING}),
        "send_response": frozenset({_P.AUTHENTICATED}),
        "send_raw": frozenset({_P.AUTHENTICATED}),
    }
)

# (phase, input) -> next phase.
_TRANSITIONS: Final[Mapping[tuple[ServerPhase, ServerConnectionInput], ServerPhase]] = (
    types.MappingProxyType(
        {
            (_P.AWAITING_HANDSHAKE, _I.FRAME_API_VERSIONS): _P.VERSIONS_ANSWERED,
            # An ApiVersions version the broker does not speak, or invalid software
            # names: answered with the error, and the client may try again.
            (_P.AWAITING_HANDSHAKE, _I.FRAME_API_VERSIONS_ERROR): _P.AWAITING_HANDSHAKE,
            (_P.AWAITING_HANDSHAKE, _I.FRAME_HANDSHAKE): _P.AUTHENTICATING,
            (_P.VERSIONS_ANSWERED, _I.FRAME_HANDSHAKE): _P.AUTHENTICATING,
            (_P.AUTHENTICATING, _I.FRAME_TOKEN): _P.VALIDATING,
            (_P.VALIDATING, _I.ACCEPT_SUCCESS): _P.AUTHENTICATED,
            (_P.VALIDATING, _I.ACCEPT_FAILURE): _P.FAILED,
            (_P.VALIDATING, _I.REJECT): _P.CHALLENGED,
            # After the client's %x01 the exchange can only fail; anything else is
            # a new initial response in Kafka's dialect (the session decides).
            (_P.CHALLENGED, _I.FRAME_ACK): _P.FAILED,
            (_P.CHALLENGED, _I.FRAME_TOKEN): _P.VALIDATING,
            # On an authenticated connection each frame is an event that keeps
            # the phase: ApiVersions answered (or refused: KIP-1242's
            # REBOOTSTRAP_REQUIRED), a handshake or SaslAuthenticate answered 34
            # (KafkaApis), a request for the application.
            (_P.AUTHENTICATED, _I.FRAME_API_VERSIONS): _P.AUTHENTICATED,
            (_P.AUTHENTICATED, _I.FRAME_API_VERSIONS_ERROR): _P.AUTHENTICATED,
            (_P.AUTHENTICATED, _I.FRAME_HANDSHAKE): _P.AUTHENTICATING,  # KIP-368
            (_P.AUTHENTICATED, _I.FRAME_REFUSED): _P.AUTHENTICATED,  # KafkaApis: 34
            (_P.AUTHENTICATED, _I.FRAME_REQUEST): _P.AUTHENTICATED,
            # From any live phase: the connection fails, or the peer closes it.
            **{(p, _I.FRAME_FAILURE): _P.FAILED for p in _LIVE},
            **{(p, _I.FRAME_CLOSED): _P.CLOSED for p in _READING},
        }
    )
)


@dataclasses.dataclass(slots=True)
class _Session:
    """What one successful exchange leaves: for KIP-368 and expiry."""

    principal: str
    expiry_ms: int


class KafkaServerConnection(
    FramedConnection[ServerPhase, ServerConnectionInput, "ServerEvent | ConnectionEvent"]
):
    """A broker's side of one Kafka connection authenticating with OAUTHBEARER.

    ``session_factory`` makes the :class:`~oauthbearer.session.ServerSession`
    for each exchange (use ``dialect="kafka"`` to read tokens as Kafka does).
    With a validator, tokens are judged synchronously and the connection goes
    on by itself; without one, ``next_event`` returns
    :class:`~oauthbearer.session.TokenReceived`, then :data:`PAUSED` until the
    application calls :meth:`accept` or :meth:`reject`.

    ``mechanisms`` is the enabled list reported in SaslHandshake responses and
    must contain ``OAUTHBEARER``, the only mechanism run. ``api_versions``
    ((api_key, min, max) triples) is the ApiVersions answer, by default the
    codec's own table. ``max_reauth_ms`` is Kafka's ``connections.max.reauth.ms``
    (``None`` or 0: the token's lifetime alone bounds the session).
    ``cluster_id`` and ``node_id`` are the broker's identity: given, an
    ApiVersions v5 request on an authenticated connection that names another
    cluster or node is answered REBOOTSTRAP_REQUIRED, as Kafka 4.4's broker
    does (KIP-1242); before authentication Kafka does not compare them.
    Every frame is bounded as its size prefix arrives: by ``max_frame_size``
    while authenticating (default: ``sasl.server.max.receive.size``, 512 KiB),
    by ``max_request_size`` once authenticated (default:
    ``socket.request.max.bytes``, 100 MiB), as Kafka's broker does.

    The work one frame can cause is bounded too: a tagged-field section holds at
    most :data:`~oauthbearer.kafka.MAX_TAGGED_FIELDS` fields, an array at most
    :data:`MAX_ELEMENTS_BEFORE_AUTHENTICATION` elements before authentication
    and ``max_metadata_topics`` after; each count is refused as it is read. The
    connection fails after :data:`MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION`
    requests answered with an error before authentication, and when the client
    has not authenticated ``authentication_timeout_ms`` after ``now`` (the
    connection's start; default: the first :meth:`receive_data`). Since a
    silent client calls nothing, the I/O shell arms a timer for
    :attr:`authentication_deadline` and calls :meth:`check_deadline`.
    """

    __slots__ = (
        "_api_versions",
        "_deadline",
        "_exchange",
        "_foreign",
        "_head",
        "_identity",
        "_last_reauth_ms",
        "_max_metadata_topics",
        "_max_reauth_ms",
        "_max_request_size",
        "_max_sasl_size",
        "_mechanisms",
        "_now",
        "_pending",
        "_previous",
        "_raw_tokens",
        "_refused",
        "_session_factory",
        "_timeout_s",
    )
    _PERMISSIONS = _PERMISSIONS
    _TRANSITIONS = _TRANSITIONS
    _FAILED = ServerPhase.FAILED
    _PEER_CLOSED = ServerConnectionInput.FRAME_CLOSED
    _MALFORMED = "malformed-frame"

    def __init__(
        self,
        session_factory: Callable[[], ServerSession],
        *,
        mechanisms: Sequence[str] = (MECHANISM,),
        api_versions: Sequence[tuple[int, int, int]] | None = None,
        max_reauth_ms: int | None = None,
        max_frame_size: int = KAFKA_MAX_RECEIVE_SIZE,
        max_request_size: int = SOCKET_REQUEST_MAX_BYTES,
        max_metadata_topics: int = MAX_METADATA_TOPICS,
        authentication_timeout_ms: int | None = DEFAULT_AUTHENTICATION_TIMEOUT_MS,
        cluster_id: str | None = None,
        node_id: int | None = None,
        now: float | None = None,
    ) -> None:
        super().__init__(ServerPhase.AWAITING_HANDSHAKE)
        if not callable(session_factory):
            raise ArgumentTypeError("session_factory must be a callable returning ServerSession")
        if isinstance(mechanisms, str) or not all(isinstance(m, str) for m in mechanisms):
            raise ArgumentTypeError("mechanisms must be a sequence of strings")
        if MECHANISM not in mechanisms:
            raise ConfigurationError("mechanisms must include OAUTHBEARER")
        if max_reauth_ms is not None and (
            not isinstance(max_reauth_ms, int) or isinstance(max_reauth_ms, bool)
        ):
            raise ArgumentTypeError("max_reauth_ms must be an int (ms) or None")
        self._session_factory = session_factory
        self._mechanisms = tuple(mechanisms)
        self._api_versions = _api_versions_answer(
            None if api_versions is None else tuple(tuple(entry) for entry in api_versions)
        )
        self._max_reauth_ms = max_reauth_ms
        if (cluster_id is None) != (node_id is None):
            raise ConfigurationError("cluster_id and node_id go together: give both or neither")
        if cluster_id is not None:
            # Checked as the ApiVersions v5 request carries them.
            ApiVersionsRequest(cluster_id=cluster_id, node_id=node_id)  # type: ignore[arg-type]
        self._identity = None if cluster_id is None else (cluster_id, node_id)
        self._start_framing(max_frame_size)
        if (
            not isinstance(max_request_size, int)
            or isinstance(max_request_size, bool)
            or not 0 <= max_request_size < 1 << 31
        ):
            raise ConfigurationError("max_request_size must be an int in [0, 2**31-1]")
        if (
            not isinstance(max_metadata_topics, int)
            or isinstance(max_metadata_topics, bool)
            or not 0 <= max_metadata_topics < 1 << 31
        ):
            raise ConfigurationError("max_metadata_topics must be an int in [0, 2**31-1]")
        if authentication_timeout_ms is not None and (
            not isinstance(authentication_timeout_ms, int)
            or isinstance(authentication_timeout_ms, bool)
            or authentication_timeout_ms <= 0
        ):
            raise ConfigurationError("authentication_timeout_ms must be a positive int or None")
        if now is not None:
            _check_now(now)
        self._max_metadata_topics = max_metadata_topics
        self._timeout_s = (
            None if authentication_timeout_ms is None else authentication_timeout_ms / 1000
        )
        self._deadline: float | None = None
        if now is not None and self._timeout_s is not None:
            self._deadline = float(now) + self._timeout_s
        self._refused = 0  # requests answered with an error before authentication
        self._max_sasl_size = max_frame_size
        self._max_request_size = max_request_size
        self._now = 0.0
        self._exchange: ServerSession | None = None
        self._pending: RequestHeader | None = None  # the SaslAuthenticate being answered
        self._raw_tokens = False
        self._previous: _Session | None = None
        self._last_reauth_ms: int | None = None
        self._head: bytes | None = b""  # the stream's first bytes, until there are four
        self._foreign: bytes | None = None  # those four, when another protocol's

    def __repr__(self) -> str:
        return f"<KafkaServerConnection phase={self._state.name}>"

    @property
    def phase(self) -> ServerPhase:
        return self._state

    @property
    def principal(self) -> str | None:
        """The authenticated principal, while the connection is authenticated."""
        previous = self._previous
        if self._state is not ServerPhase.AUTHENTICATED or previous is None:
            return None
        return previous.principal

    @property
    def authentication_deadline(self) -> float | None:
        """The epoch seconds by which the client must authenticate, or ``None``
        (authenticated once, no timeout, or not started: no ``now`` yet)."""
        return self._deadline

    # -- the h11-shaped surface --

    @moves
    def receive_data(self, data: bytes, *, now: float) -> None:
        """Add bytes from the client (``b""``: it closed the connection).
        ``now`` (epoch seconds) dates what these bytes cause."""
        self._check("receive_data")
        _check_now(now)
        self._now = float(now)
        if self._deadline is None and self._timeout_s is not None and self._previous is None:
            self._deadline = self._now + self._timeout_s  # no start was given: it starts now
        self._decoder.receive_data(data)
        head = self._head
        if head is not None and data:
            head += bytes(data[: _SIZE_PREFIX - len(head)])
            self._head = head if len(head) < _SIZE_PREFIX else None
            if self._head is None and foreign_protocol(head) is not None:
                self._foreign = head

    @moves
    def next_event(self) -> ServerEvent | DecoderEvent | ConnectionEvent:
        """The next event, :data:`~oauthbearer.kafka.NEED_DATA`, or :data:`PAUSED`
        while a token awaits :meth:`accept` or :meth:`reject`.

        After :class:`ServerAuthenticationFailed` or :class:`ConnectionClosed`
        the connection is over; calling again raises.
        """
        if self._state is ServerPhase.VALIDATING:
            return PAUSED
        self._check("next_event")
        expired = self._expire(self._now)
        if expired is not None:
            return expired
        if self._foreign is not None:
            return self._speaks_another_protocol(self._foreign)
        return self._pump()

    @moves
    def check_deadline(self, *, now: float) -> ServerAuthenticationFailed | None:
        """Fail the connection if the client has not authenticated by ``now``
        (epoch seconds) and :attr:`authentication_deadline` has passed; the
        event says so (reason ``authentication-timeout``; nothing is sent).
        Otherwise, and once the connection is over, ``None``."""
        self._check("check_deadline")
        _check_now(now)
        if self._state in (ServerPhase.CLOSED, ServerPhase.FAILED):
            return None
        return self._expire(float(now))

    @moves
    def accept(self, token: OAuthBearerToken) -> ServerAuthenticated | ServerAuthenticationFailed:
        """Grant the token of :class:`~oauthbearer.session.TokenReceived`.

        Returns the outcome: :class:`ServerAuthenticated`, or
        :class:`ServerAuthenticationFailed` when the authzid, an extension or a
        re-authentication's principal is refused.
        """
        self._check("accept")
        exchange = self._exchange
        assert exchange is not None  # VALIDATING always has one
        outcome = exchange.accept(token)
        if isinstance(outcome, AuthenticationFailed):
            return self._refuse(outcome.message, "authentication-failed", _I.ACCEPT_FAILURE)
        return self._succeed(outcome)

    @moves
    def reject(self, error: ErrorResponse) -> None:
        """Refuse the token with an RFC 7628 error challenge (sent with error code 0)."""
        self._check("reject")
        exchange = self._exchange
        assert exchange is not None  # VALIDATING always has one
        issued = exchange.reject(error)
        self._move(_I.REJECT)
        self._challenge(issued)

    @moves
    def send_response(self, header: RequestHeader, message: ResponseMessage) -> None:
        """Answer an :class:`ApplicationRequest` at its version."""
        self._check("send_response")
        if not isinstance(header, RequestHeader):
            raise ArgumentTypeError("send_response() takes the request's RequestHeader")
        self._outbox += encode_response(
            ResponseHeader.for_request(header), message, header.api_version
        )

    @moves
    def send_raw(self, data: bytes) -> None:
        """Queue an already encoded response frame, size prefix included."""
        self._check("send_raw")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArgumentTypeError("send_raw() takes bytes")
        self._outbox += data

    # -- dispatch by phase --

    def _dispatch(self, frame: Frame) -> ServerEvent | None:
        phase = self._state
        if phase is ServerPhase.AUTHENTICATED:
            return self._authenticated(frame)
        if self._raw_tokens and phase in (ServerPhase.AUTHENTICATING, _P.CHALLENGED):
            return self._token(frame.data, None)
        try:
            api_key = Reader(frame.data).int16("request_api_key")
        except MalformedFrame as err:
            return self._fail(str(err), err.error_code, "malformed-frame")
        if phase in (ServerPhase.AWAITING_HANDSHAKE, ServerPhase.VERSIONS_ANSWERED):
            return self._handshaking(frame, api_key)
        return self._authenticating(frame, api_key)

    def _handshaking(self, frame: Frame, api_key: int) -> ServerEvent | None:
        if api_key not in (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE):
            # Kafka checks the key before parsing, and answers nothing.
            return self._fail(
                f"Unexpected Kafka request of type {_api_name(api_key)} during SASL handshake.",
                ErrorCode.INVALID_REQUEST,
                "unexpected-request",
            )
        decoded = self._decode(frame)
        if isinstance(decoded, ServerAuthenticationFailed):
            return decoded
        header, message = decoded
        if isinstance(message, ApiVersionsRequest):
            if self._state is not ServerPhase.AWAITING_HANDSHAKE:
                return self._fail(
                    "Unexpected ApiVersions request received during SASL authentication "
                    "state HANDSHAKE_REQUEST",
                    ErrorCode.ILLEGAL_SASL_STATE,
                    "unexpected-request",
                )
            return self._answer_api_versions(header, message)
        assert isinstance(message, SaslHandshakeRequest)
        return self._handshake(header, message)

    def _handshake(
        self, header: RequestHeader, message: SaslHandshakeRequest
    ) -> ServerEvent | None:
        if message.mechanism != MECHANISM:
            self._send(
                header,
                SaslHandshakeResponse(
                    error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=self._mechanisms
                ),
            )
            return self._fail(
                f"Unsupported SASL mechanism {message.mechanism}",
                ErrorCode.UNSUPPORTED_SASL_MECHANISM,
                "unsupported-mechanism",
            )
        self._send(header, SaslHandshakeResponse(mechanisms=self._mechanisms))
        self._decoder.max_frame_size = self._max_sasl_size  # a re-authentication's, too
        self._raw_tokens = header.api_version == 0
        self._exchange = self._session_factory()
        if not isinstance(self._exchange, ServerSession):
            raise ArgumentTypeError("session_factory must return a ServerSession")
        self._move(_I.FRAME_HANDSHAKE)
        return None

    def _authenticating(self, frame: Frame, api_key: int) -> ServerEvent | None:
        if api_key != ApiKey.SASL_AUTHENTICATE:
            return self._unexpected_during_authentication(frame, api_key)
        decoded = self._decode(frame)
        if isinstance(decoded, ServerAuthenticationFailed):
            return decoded
        header, message = decoded
        assert isinstance(message, SaslAuthenticateRequest)
        return self._token(message.auth_bytes, header)

    def _unexpected_during_authentication(self, frame: Frame, api_key: int) -> ServerEvent:
        text = f"Unexpected Kafka request of type {_api_name(api_key)} during SASL authentication."
        # Kafka answers with the request's error response where it can build one.
        try:
            header, message = decode_request(frame, max_elements=self._max_elements())
        except MalformedFrame:
            pass  # unreadable, or too long to answer: closed without a word
        else:
            reply = _error_response(message, ErrorCode.ILLEGAL_SASL_STATE)
            if reply is not None:
                self._send(header, reply)
        challenged = self._state is ServerPhase.CHALLENGED
        if challenged:
            text += " The client ignored the error challenge; nothing is granted."
        reason = "challenge-ignored" if challenged else "unexpected-request"
        return self._fail(text, ErrorCode.ILLEGAL_SASL_STATE, reason)

    def _token(self, data: bytes, header: RequestHeader | None) -> ServerEvent | None:
        exchange = self._exchange
        assert exchange is not None  # AUTHENTICATING and CHALLENGED always have one
        self._pending = header
        acknowledged = self._state is _P.CHALLENGED and data == b"\x01"
        self._move(_I.FRAME_ACK if acknowledged else _I.FRAME_TOKEN)
        try:
            outcome = exchange.receive(data, now=self._now)
        except MalformedMessage as err:
            if err.reason == "unsupported-scheme" and exchange.dialect is Dialect.KAFKA:
                # Kafka's broker fails on a scheme other than Bearer with an
                # unchecked exception and closes the connection unanswered
                # (measured: tests/test_kafka_differential.py).
                self._pending = None
                return self._fail(
                    "the auth scheme is not Bearer; Kafka's broker closes the connection "
                    "without an answer",
                    ErrorCode.SASL_AUTHENTICATION_FAILED,
                    "malformed-response",
                )
            # Kafka hides the parser's words from the client (SaslException).
            text = (
                f"Authentication failed during {self._which()} due to invalid credentials "
                f"with SASL mechanism {MECHANISM}"
            )
            return self._refuse(text, "malformed-response", None)
        if isinstance(outcome, AuthenticationFailed):
            # The session's verdict (after the challenge, or on the authzid or
            # an extension): Kafka reports each as 58 with the session's text.
            return self._refuse(outcome.message, "authentication-failed", None)
        if isinstance(outcome, TokenReceived):
            return outcome
        if isinstance(outcome, ChallengeIssued):
            self._move(_I.REJECT)
            self._challenge(outcome)
            return None
        return self._succeed(outcome)

    def _authenticated(self, frame: Frame) -> ServerEvent | None:
        try:
            header = RequestHeader.read(Reader(frame.data), 1)
        except MalformedFrame as err:
            return self._fail(str(err), err.error_code, "malformed-frame")
        previous = self._previous
        assert previous is not None  # AUTHENTICATED always has one
        now_ms = self._now_ms()
        if header.api_key == ApiKey.SASL_HANDSHAKE and self._may_reauthenticate(now_ms):
            decoded = self._decode(frame)
            if isinstance(decoded, ServerAuthenticationFailed):
                return decoded
            self._last_reauth_ms = now_ms
            header, message = decoded
            assert isinstance(message, SaslHandshakeRequest)
            return self._handshake(header, message)
        if now_ms > previous.expiry_ms:
            # SocketServer: "Disconnecting expired channel"; nothing is answered.
            return self._fail(
                "the session expired (KIP-368); the connection is closed",
                ErrorCode.SASL_AUTHENTICATION_FAILED,
                "session-expired",
            )
        if header.api_key in (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE):
            decoded = self._decode(frame)
            if isinstance(decoded, ServerAuthenticationFailed):
                return decoded
            header, message = decoded
            if isinstance(message, ApiVersionsRequest):
                return self._answer_api_versions(header, message)
            # KafkaApis answers both on an authenticated connection, and keeps it.
            self._move(_I.FRAME_REFUSED)
            if isinstance(message, SaslHandshakeRequest):
                self._send(header, SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE))
            else:
                self._send(
                    header,
                    SaslAuthenticateResponse(
                        error_code=ErrorCode.ILLEGAL_SASL_STATE,
                        error_message="SaslAuthenticate request received after successful "
                        "authentication",
                    ),
                )
            return None
        if _speaks(header):
            # As Kafka's broker (KafkaApis) does, bytes after the request's
            # fields are ignored: librdkafka 2.16's Metadata v13 has three.
            decoded = self._decode(frame, ignore_trailing_data=True)
            if isinstance(decoded, ServerAuthenticationFailed):
                return decoded
            header, message = decoded
            self._move(_I.FRAME_REQUEST)
            return ApplicationRequest(header=header, message=message)
        self._move(_I.FRAME_REQUEST)
        return ApplicationRequest(header=header, message=frame)

    # -- outcomes --

    def _succeed(self, outcome: Authenticated) -> ServerAuthenticated | ServerAuthenticationFailed:
        token = outcome.token
        previous = self._previous
        reauthentication = previous is not None
        if previous is not None and previous.principal != token.principal:
            return self._refuse(
                "Cannot change principals during re-authentication from "
                f"User.{previous.principal}: User.{token.principal}",
                "principal-changed",
                _I.ACCEPT_FAILURE,
            )
        self._move(_I.ACCEPT_SUCCESS)
        now_ms = self._now_ms()
        exchange = self._exchange
        assert exchange is not None
        lifetime = exchange.session_lifetime_ms(now_ms=now_ms, max_reauth_ms=self._max_reauth_ms)
        assert lifetime is not None  # the exchange stands succeeded
        self._previous = _Session(principal=token.principal, expiry_ms=now_ms + lifetime)
        self._deadline = None  # authenticated: the session's expiry bounds it from now on
        self._exchange = None  # done: what an authenticated connection keeps is _previous
        self._decoder.max_frame_size = self._max_request_size
        header = self._pending
        if header is None:
            self._outbox += _sized(b"")  # bare tokens: an empty server token
            reported = 0
        else:
            reported = lifetime if header.api_version >= 1 else 0
            self._send(header, SaslAuthenticateResponse(session_lifetime_ms=reported))
        return ServerAuthenticated(
            principal=token.principal,
            token=token,
            extensions=outcome.extensions,
            authzid=outcome.authzid,
            session_lifetime_ms=reported,
            session_expiry_ms=now_ms + lifetime,
            reauthentication=reauthentication,
        )

    def _challenge(self, issued: ChallengeIssued) -> None:
        header = self._pending
        if header is None:
            self._outbox += _sized(issued.reply)
        else:
            self._send(header, SaslAuthenticateResponse(auth_bytes=issued.reply))

    def _refuse(
        self, message: str, reason: str, move: ServerConnectionInput | None
    ) -> ServerAuthenticationFailed:
        """Fail the exchange as Kafka does: 58 and the message, except with bare
        tokens, where Kafka closes without a word.

        Kafka's messages quote the peer (an authzid, a principal, extension
        names): as Kafka sends it, made to fit ``error_message`` (:func:`wire_text`)."""
        message = wire_text(message)
        header = self._pending
        if header is not None:
            self._send(
                header,
                SaslAuthenticateResponse(
                    error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=message
                ),
            )
        if move is not None:
            self._move(move)
        return self._fail(message, ErrorCode.SASL_AUTHENTICATION_FAILED, reason)

    def _expire(self, now: float) -> ServerAuthenticationFailed | None:
        deadline = self._deadline
        if deadline is None or now < deadline:
            return None
        assert self._timeout_s is not None  # a deadline comes from the timeout
        return self._fail(
            f"the client did not authenticate within {round(self._timeout_s * 1000)} ms "
            "of connecting; the connection is closed",
            ErrorCode.SASL_AUTHENTICATION_FAILED,
            "authentication-timeout",
        )

    def _speaks_another_protocol(self, head: bytes) -> ServerAuthenticationFailed:
        """The client opened with a TLS handshake or an HTTP request: nothing is
        answered (Kafka's broker closes at the frame size), and the event says
        what the client speaks, with the four bytes (in hex) that show it."""
        reason = foreign_protocol(head)
        shown = head.hex(" ")
        if reason is ServerFailureReason.TLS_HANDSHAKE:
            text = (
                f"the client began a TLS handshake ({shown} is a TLS record header, not a "
                "frame size) on a listener without TLS: the client is configured for SSL or "
                "SASL_SSL, or the listener should be SASL_SSL"
            )
        else:
            method = head.decode("ascii").strip()  # one of _HTTP_METHODS: plain ASCII
            text = (
                f"the client sent an HTTP request ({method!r}, {shown}, is an HTTP method, not "
                "a frame size) to a Kafka listener"
            )
        assert reason is not None  # only another protocol's bytes are kept
        return self._fail(text, ErrorCode.CORRUPT_MESSAGE, reason)

    def _fail(self, message: str, error_code: int, reason: str) -> ServerAuthenticationFailed:
        if self._state is not ServerPhase.FAILED:
            self._move(_I.FRAME_FAILURE)
        self._exchange = None
        return ServerAuthenticationFailed(
            message=message, error_code=error_code, reason=ServerFailureReason(reason)
        )

    # -- helpers --

    def _decode(
        self, frame: Frame, *, ignore_trailing_data: bool = False
    ) -> tuple[RequestHeader, RequestMessage] | ServerAuthenticationFailed:
        try:
            return decode_request(
                frame,
                max_elements=self._max_elements(),
                ignore_trailing_data=ignore_trailing_data,
            )
        except MalformedFrame as err:
            return self._fail(str(err), err.error_code, "malformed-frame")

    def _answer_api_versions(
        self, header: RequestHeader, message: ApiVersionsRequest
    ) -> ServerAuthenticationFailed | None:
        version = api_versions_response_version(header.api_version)
        if version != header.api_version:
            # KIP-511: v0, UNSUPPORTED_VERSION, and the ApiVersions range.
            keys = tuple(
                key
                for key in self._api_versions.response.api_keys
                if key.api_key == ApiKey.API_VERSIONS
            )
            reply = ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=keys)
            outcome = _I.FRAME_API_VERSIONS_ERROR
        elif not _valid_api_versions(message, version):
            reply = ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
            outcome = _I.FRAME_API_VERSIONS_ERROR
        elif (
            self._state is ServerPhase.AUTHENTICATED
            and message.cluster_id is not None
            and self._identity is not None
            and (message.cluster_id, message.node_id) != self._identity
        ):
            # KafkaApis.handleApiVersionsRequest (4.4): the client's metadata
            # names another cluster or node. The connection stays.
            reply = ApiVersionsResponse(error_code=ErrorCode.REBOOTSTRAP_REQUIRED)
            outcome = _I.FRAME_API_VERSIONS_ERROR
        else:
            self._outbox += self._api_versions.frame(header, version)
            self._move(_I.FRAME_API_VERSIONS)
            return None
        self._outbox += encode_response(ResponseHeader.for_request(header), reply, version)
        self._move(outcome)
        if self._previous is None:
            self._refused += 1
            if self._refused >= MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION:
                return self._fail(
                    f"{self._refused} requests were answered with an error before "
                    "authentication; the connection is closed",
                    reply.error_code,
                    "too-many-refusals",
                )
        return None

    def _max_elements(self) -> int:
        """The bound on every array of the next request read."""
        if self._state is ServerPhase.AUTHENTICATED:
            return self._max_metadata_topics
        return MAX_ELEMENTS_BEFORE_AUTHENTICATION

    def _may_reauthenticate(self, now_ms: int) -> bool:
        # KafkaChannel.maybeBeginServerReauthentication: the session has an
        # expiry (an OAUTHBEARER token always has a lifetime) and the last
        # re-authentication started a second or more ago.
        last = self._last_reauth_ms
        return last is None or now_ms - last >= MIN_REAUTH_INTERVAL_MS

    def _send(self, header: RequestHeader, message: ResponseMessage) -> None:
        version = header.api_version
        if isinstance(message, ApiVersionsResponse):
            version = api_versions_response_version(version)
        self._outbox += encode_response(ResponseHeader.for_request(header), message, version)

    def _now_ms(self) -> int:
        return int(self._now * 1000)

    def _which(self) -> str:
        return "re-authentication" if self._previous is not None else "authentication"


class _ApiVersionsAnswer:
    """A broker's ApiVersions answer, encoded once per version: every connection
    sends the same bytes but for the correlation id (ApiVersions responses
    always have header v0: the correlation id alone)."""

    __slots__ = ("_bodies", "response")

    def __init__(self, response: ApiVersionsResponse) -> None:
        self.response = response
        self._bodies: dict[int, bytes] = {}

    def frame(self, header: RequestHeader, version: int) -> bytes:
        body = self._bodies.get(version)
        if body is None:
            encoded = encode_response(ResponseHeader(correlation_id=0), self.response, version)
            body = self._bodies[version] = encoded[_SIZE_PREFIX + 4 :]
        return _sized(header.correlation_id.to_bytes(4, "big", signed=True) + body)


@functools.lru_cache(maxsize=16)
def _api_versions_answer(versions: tuple[tuple[int, ...], ...] | None) -> _ApiVersionsAnswer:
    """The shared answer for ``versions`` ((api_key, min, max) triples; None: the codec's)."""
    return _ApiVersionsAnswer(ApiVersionsResponse.supporting(versions))  # type: ignore[arg-type]


def _check_now(now: object) -> None:
    if not isinstance(now, int | float) or isinstance(now, bool):
        raise ArgumentTypeError("now must be epoch seconds (a float)")


def _valid_api_versions(message: ApiVersionsRequest, version: int) -> bool:
    """``ApiVersionsRequest.isValid()`` in Kafka: from v3 the software name and
    version match Kafka's pattern; from v5 the cluster id and node id are both
    given or both absent (null and -1)."""
    if version >= 3 and not (
        _SOFTWARE_PATTERN.fullmatch(message.client_software_name)
        and _SOFTWARE_PATTERN.fullmatch(message.client_software_version)
    ):
        return False
    return version < 5 or (message.cluster_id is None) == (message.node_id == -1)


def _speaks(header: RequestHeader) -> bool:
    """Whether the codec reads this API at this version."""
    if header.api_key not in SUPPORTED_VERSIONS:
        return False
    low, high = SUPPORTED_VERSIONS[ApiKey(header.api_key)]
    return low <= header.api_version <= high


def _api_name(api_key: int) -> str:
    try:
        return ApiKey(api_key).name
    except ValueError:
        return f"API key {api_key}"


def _sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(_SIZE_PREFIX, "big") + payload


def _error_response(message: RequestMessage, error_code: int) -> ResponseMessage | None:
    """The error response Kafka's ``getErrorResponse`` builds for ``message``."""
    if isinstance(message, ApiVersionsRequest):
        return ApiVersionsResponse(error_code=error_code)
    if isinstance(message, SaslHandshakeRequest):
        return SaslHandshakeResponse(error_code=error_code)
    if isinstance(message, MetadataRequest):
        # MetadataRequest.getErrorResponse: each topic asked about carries the
        # error (a topic asked about by id, with the id and an empty name), and
        # so does the top-level error code, which only v13+ can carry.
        topics = tuple(
            MetadataTopic(name=name, error_code=error_code) for name in message.topics or ()
        ) + tuple(
            MetadataTopic(name="", topic_id=topic_id, error_code=error_code)
            for topic_id in message.topic_ids
        )
        return MetadataResponse(topics=topics, error_code=error_code)
    return None
