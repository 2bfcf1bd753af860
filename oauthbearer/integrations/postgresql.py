"""OAUTHBEARER on PostgreSQL's wire: the startup phase of the frontend/backend protocol.

Theory of operation
-------------------
PostgreSQL 18 carries SASL in its startup phase (protocol 3.0, "Message
Flow", "SASL Authentication")::

    F: StartupMessage (user, database, ...)
    B: AuthenticationSASL       ('R', 10, the mechanisms: "OAUTHBEARER")
    F: SASLInitialResponse      ('p', "OAUTHBEARER", length, initial response)
    B: AuthenticationOk         ('R', 0)            success
     | AuthenticationSASLContinue ('R', 11, error JSON)
         F: SASLResponse        ('p', %x01)
         B: ErrorResponse       ('E', SQLSTATE 28000)  failure
     | ErrorResponse            ('E', 08P01 malformed, 0A000 authzid, ...)

The pure-Python drivers know SCRAM but not OAUTHBEARER, and neither offers a
hook for another SASL mechanism. :class:`OAuthLogin` is the smallest seam that
needs none: it stands between a driver and the server for the startup phase
only. The driver sends its own StartupMessage; the server's messages pass
through :meth:`OAuthLogin.receive_data`, which answers the authentication
request itself, with a :class:`~oauthbearer.session.ClientSession`, and hands
the driver an AuthenticationOk once the server has sent one. From then on
every byte passes through unchanged. The driver never sees OAUTHBEARER; it
sees a server that trusts it. (:mod:`oauthbearer.integrations.pg8000` and
:mod:`oauthbearer.integrations.asyncpg` are the shells.)

What the login does with each authentication request:

* ``AuthenticationSASL`` listing ``OAUTHBEARER``: sends the initial response;
* ``AuthenticationSASLContinue``: the error challenge, answered with ``%x01``;
* ``AuthenticationOk``: passed to the driver, and the login is done;
* an ``ErrorResponse`` once OAUTHBEARER has started: raises
  :class:`PostgresLoginFailed` (the session's
  :class:`~oauthbearer.session.AuthenticationFailed`, raised to the driver, with
  the challenge's ``status``, ``scope`` and ``openid_configuration``, if
  there was one, and PostgreSQL's SQLSTATE); a discovery login returns a
  :class:`~oauthbearer.session.DiscoveryResult` instead;
* any other authentication request (a password, SCRAM, GSSAPI): raises
  :class:`PostgresLoginFailed`: the server is not configured for OAuth for
  this user and database, and this login has no password to give.

Messages before the first authentication request (an ErrorResponse such as
"no pg_hba.conf entry", a NoticeResponse) pass to the driver, which reports
them as it always does.

Limits: a backend message's length is checked the moment its header arrives
(:data:`MAX_STARTUP_MESSAGE_SIZE`); a SASL message larger than PostgreSQL's
``PG_MAX_AUTH_TOKEN_LENGTH`` is not sent (:data:`~oauthbearer.gs2.MAX_INITIAL_RESPONSE_SIZE`).

This module is pure: the shells do the I/O.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import OAuthBearerError, ProtocolError, ProtocolReason
from oauthbearer.gs2 import MAX_INITIAL_RESPONSE_SIZE
from oauthbearer.session import (
    AuthenticationFailed,
    ChallengeReceived,
    ClientSession,
    DiscoveryResult,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_STARTUP_MESSAGE_SIZE",
    "OAUTHBEARER",
    "LoginState",
    "OAuthLogin",
    "PostgresError",
    "PostgresLoginFailed",
]

#: The SASL mechanism's name, as AuthenticationSASL lists it.
OAUTHBEARER: Final = "OAUTHBEARER"
#: Protocol 3.0, as every PostgreSQL since 7.4 speaks it.
_PROTOCOL_VERSION: Final = 196_608
#: The SSLRequest code (protocol "SSL Session Encryption").
SSL_REQUEST_CODE: Final = 80_877_103
#: Largest backend message read during the startup phase. PostgreSQL's own
#: are small (an error, a parameter, a challenge below 1 KiB); libpq allows
#: 30,000 bytes for the startup phase, and we allow as much.
MAX_STARTUP_MESSAGE_SIZE: Final = 30_000
#: Bytes of a SASLInitialResponse that are not the initial response: the
#: length word (4), "OAUTHBEARER\\0" (12) and the response's length (4).
#: PostgreSQL's ``PG_MAX_AUTH_TOKEN_LENGTH`` (65,535) bounds the whole message,
#: so :data:`~oauthbearer.gs2.MAX_INITIAL_RESPONSE_SIZE` is 65,535 minus these.
_SASL_MESSAGE_OVERHEAD: Final = 4 + len(OAUTHBEARER) + 1 + 4

# Authentication request codes ('R' messages).
_AUTH_OK: Final = 0
_AUTH_SASL: Final = 10
_AUTH_SASL_CONTINUE: Final = 11
_AUTH_SASL_FINAL: Final = 12
_AUTH_NAMES: Final = {
    2: "Kerberos V5",
    3: "a cleartext password",
    5: "an MD5 password",
    7: "GSSAPI",
    8: "GSSAPI",
    9: "SSPI",
}
_HEADER: Final = struct.Struct("!cI")


# --- Frontend messages ------------------------------------------------------------------


def startup_message(parameters: Mapping[str, str]) -> bytes:
    """A StartupMessage (protocol 3.0) with ``parameters`` (``user`` at least)."""
    if "user" not in parameters:
        raise ValueError("a StartupMessage needs the parameter 'user'")
    body = bytearray(struct.pack("!I", _PROTOCOL_VERSION))
    for key, value in parameters.items():
        for text in (key, value):
            if "\x00" in text:
                raise ValueError(f"startup parameter {key!r} holds a NUL character")
        body += key.encode() + b"\x00" + value.encode() + b"\x00"
    body += b"\x00"
    return struct.pack("!I", len(body) + 4) + bytes(body)


def ssl_request() -> bytes:
    """An SSLRequest: ask the server to switch to TLS before the StartupMessage."""
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def sasl_initial_response(data: bytes, *, mechanism: str = OAUTHBEARER) -> bytes:
    """A SASLInitialResponse ('p') carrying ``data`` for ``mechanism``."""
    body = mechanism.encode("ascii") + b"\x00" + struct.pack("!i", len(data)) + data
    return b"p" + struct.pack("!I", len(body) + 4) + body


def sasl_response(data: bytes) -> bytes:
    """A SASLResponse ('p'): the client's later SASL message (``%x01`` here)."""
    return b"p" + struct.pack("!I", len(data) + 4) + data


# --- Backend messages --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BackendMessage:
    """One message from the server: its type byte and its body."""

    type: bytes
    body: bytes

    def encode(self) -> bytes:
        return _HEADER.pack(self.type, len(self.body) + 4) + self.body


class BackendReader:
    """Splits the server's byte stream into :class:`BackendMessage` values.

    ``receive_data(data)`` buffers; ``next_message()`` returns a whole message
    or ``None``. The length is checked as soon as the 5-byte header is in.
    """

    __slots__ = ("_buffer", "_limit")

    def __init__(self, *, max_size: int = MAX_STARTUP_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._limit = max_size

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> BackendMessage | None:
        if len(self._buffer) < _HEADER.size:
            return None
        kind, length = _HEADER.unpack_from(self._buffer)
        if length < 4 or length > self._limit:
            raise ProtocolError(
                f"the server sent a {kind!r} message of length {length}, outside 4..{self._limit}",
                reason=ProtocolReason.INVALID_MESSAGE_LENGTH,
            )
        end = 1 + length
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[_HEADER.size : end])
        del self._buffer[:end]
        return BackendMessage(kind, body)

    def unread(self) -> bytes:
        """Bytes received but not yet returned as a message (then forgotten)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PostgresError:
    """The fields of an ErrorResponse ('E') that a login reports."""

    severity: str
    sqlstate: str
    message: str
    detail: str | None = None

    @classmethod
    def decode(cls, body: bytes) -> PostgresError:
        fields: dict[str, str] = {}
        for field in body.split(b"\x00"):
            if field:
                fields[chr(field[0])] = field[1:].decode("utf-8", "replace")
        return cls(
            severity=fields.get("V", fields.get("S", "")),
            sqlstate=fields.get("C", ""),
            message=fields.get("M", ""),
            detail=fields.get("D"),
        )

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.severity}: {self.message}{detail} [SQLSTATE {self.sqlstate}]"


class PostgresLoginFailed(OAuthBearerError):
    """PostgreSQL refused the OAUTHBEARER login.

    A driver knows failure only as an exception, so this shell raises the
    session's :class:`~oauthbearer.session.AuthenticationFailed` outcome as one.

    ``status``, ``scope`` and ``openid_configuration`` come from the error
    challenge when the server sent one (the token was refused); ``error`` is
    PostgreSQL's ErrorResponse, when it sent one (``sqlstate`` repeats its code).
    """

    def __init__(
        self,
        message: str,
        *,
        error: PostgresError | None = None,
        status: str | None = None,
        scope: str | None = None,
        openid_configuration: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.scope = scope
        self.openid_configuration = openid_configuration
        self.error = error
        self.sqlstate = None if error is None else error.sqlstate


# --- The login ---------------------------------------------------------------------------


class LoginState(enum.Enum):
    """States of :class:`OAuthLogin`."""

    #: Waiting for the server's authentication request.
    STARTUP = "startup"
    #: The initial response is sent.
    SENT = "sent"
    #: The error challenge came, and ``%x01`` is sent.
    CHALLENGED = "challenged"
    #: AuthenticationOk came: every byte now passes through.
    AUTHENTICATED = "authenticated"
    #: The login ended without success (raised, or a discovery result).
    FAILED = "failed"


@dataclasses.dataclass(slots=True)
class _Output:
    to_server: bytearray = dataclasses.field(default_factory=bytearray)
    to_driver: bytearray = dataclasses.field(default_factory=bytearray)


class OAuthLogin:
    """The OAUTHBEARER login of one connection, between a driver and the server.

    ``session`` is a fresh :class:`~oauthbearer.session.ClientSession` (or
    :meth:`~oauthbearer.session.ClientSession.discovery`). Feed the server's
    bytes to :meth:`receive_data`; send :meth:`data_to_server` to the server
    and :meth:`data_to_driver` to the driver after each call. When
    :attr:`state` is ``AUTHENTICATED``, the login is over: relay both ways.
    """

    __slots__ = ("_discovery", "_out", "_reader", "_session", "_state")

    def __init__(self, session: ClientSession) -> None:
        self._session = session
        self._reader = BackendReader()
        self._state = LoginState.STARTUP
        self._out = _Output()
        self._discovery: DiscoveryResult | None = None

    @property
    def state(self) -> LoginState:
        return self._state

    @property
    def discovery(self) -> DiscoveryResult | None:
        """A discovery login's result, once the server has ended it."""
        return self._discovery

    def data_to_server(self) -> bytes:
        """What to send to the server now (taken: the next call starts empty)."""
        data = bytes(self._out.to_server)
        self._out.to_server.clear()
        return data

    def data_to_driver(self) -> bytes:
        """What to hand to the driver now (taken: the next call starts empty)."""
        data = bytes(self._out.to_driver)
        self._out.to_driver.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the server."""
        if self._state is LoginState.AUTHENTICATED:
            self._out.to_driver += data
            return
        if self._state is LoginState.FAILED:
            raise ProtocolError(
                "the OAUTHBEARER login has ended; open a new connection",
                reason=ProtocolReason.LOGIN_ENDED,
            )
        self._reader.receive_data(data)
        try:
            while self._state not in (LoginState.AUTHENTICATED, LoginState.FAILED):
                message = self._reader.next_message()
                if message is None:
                    return
                self._receive(message)
        except BaseException:
            self._state = LoginState.FAILED
            raise

    def receive_eof(self) -> None:
        """The server closed the connection.

        That ends a discovery login: after the ``%x01``, PostgreSQL closes the
        connection without a word (its exchange is *abandoned*, not failed).
        Anywhere else it is a :class:`PostgresLoginFailed`.
        """
        state = self._state
        if state is LoginState.AUTHENTICATED:
            return
        self._state = LoginState.FAILED
        if state is LoginState.CHALLENGED:
            result = self._session.receive_outcome(
                success=False, message="the server closed the connection"
            )
            if isinstance(result, AuthenticationFailed):
                raise PostgresLoginFailed(
                    "PostgreSQL refused the token and closed the connection",
                    status=result.status,
                    scope=result.scope,
                    openid_configuration=result.openid_configuration,
                )
            assert isinstance(result, DiscoveryResult)
            self._discovery = result
            return
        if state is not LoginState.FAILED:
            raise PostgresLoginFailed(
                f"the server closed the connection during the login (state {state.name})"
            )

    def _receive(self, message: BackendMessage) -> None:
        if message.type == b"E":
            self._receive_error(PostgresError.decode(message.body), message)
        elif message.type == b"R":
            self._receive_authentication(message)
        elif self._state is LoginState.STARTUP:
            self._out.to_driver += message.encode()  # a notice, a protocol negotiation
        elif message.type != b"N":
            raise ProtocolError(
                f"the server sent a {message.type!r} message during the OAUTHBEARER exchange",
                reason=ProtocolReason.UNEXPECTED_MESSAGE,
            )

    def _receive_authentication(self, message: BackendMessage) -> None:
        if len(message.body) < 4:
            raise ProtocolError(
                "the server sent a truncated authentication request",
                reason=ProtocolReason.INVALID_MESSAGE_LENGTH,
            )
        (code,) = struct.unpack_from("!I", message.body)
        state = self._state
        if code == _AUTH_OK and state is LoginState.SENT:
            self._session.receive_outcome(success=True)
            self._authenticated(message)
        elif code == _AUTH_OK and state is LoginState.STARTUP:
            # A trusting server (pg_hba "trust"): there is nothing to prove.
            self._authenticated(message)
        elif code == _AUTH_SASL and state is LoginState.STARTUP:
            mechanisms = [m.decode("ascii", "replace") for m in message.body[4:].split(b"\x00")]
            if OAUTHBEARER not in mechanisms:
                offered = ", ".join(m for m in mechanisms if m) or "none"
                raise PostgresLoginFailed(
                    f"the server offers the SASL mechanisms {offered}, not OAUTHBEARER: "
                    "it is not configured for OAuth for this user and database"
                )
            response = self._session.initial_response()
            if len(response) > MAX_INITIAL_RESPONSE_SIZE:
                raise PostgresLoginFailed(
                    f"the initial response of {len(response)} bytes exceeds PostgreSQL's "
                    f"limit of {MAX_INITIAL_RESPONSE_SIZE}: the token is too long"
                )
            self._out.to_server += sasl_initial_response(response)
            self._state = LoginState.SENT
        elif code == _AUTH_SASL_CONTINUE and state is LoginState.SENT:
            event = self._session.receive(message.body[4:])
            assert isinstance(event, ChallengeReceived)  # only success carries no data
            self._out.to_server += sasl_response(event.reply)
            self._state = LoginState.CHALLENGED
        elif state is LoginState.STARTUP and code not in (_AUTH_SASL_CONTINUE, _AUTH_SASL_FINAL):
            method = _AUTH_NAMES.get(code, f"authentication method {code}")
            raise PostgresLoginFailed(
                f"the server asks for {method}, not OAUTHBEARER: "
                "it is not configured for OAuth for this user and database"
            )
        else:
            raise ProtocolError(
                f"the server sent authentication request {code} in state {state.name}",
                reason=ProtocolReason.UNEXPECTED_MESSAGE,
            )

    def _authenticated(self, ok: BackendMessage) -> None:
        self._state = LoginState.AUTHENTICATED
        # AuthenticationOk, and what follows it (parameters, key, ReadyForQuery).
        self._out.to_driver += ok.encode() + self._reader.unread()

    def _receive_error(self, error: PostgresError, message: BackendMessage) -> None:
        state = self._state
        if state is LoginState.STARTUP:
            self._out.to_driver += message.encode()  # the driver reports it
            self._state = LoginState.FAILED
            return
        if state is LoginState.CHALLENGED:
            result = self._session.receive_outcome(success=False, message=error.message)
            if isinstance(result, AuthenticationFailed):
                raise PostgresLoginFailed(
                    f"PostgreSQL refused the token: {error}",
                    error=error,
                    status=result.status,
                    scope=result.scope,
                    openid_configuration=result.openid_configuration,
                )
            assert isinstance(result, DiscoveryResult)
            self._discovery = result
            self._state = LoginState.FAILED
            return
        # SENT: refused outright, without a challenge (a malformed message, an authzid).
        raise PostgresLoginFailed(f"PostgreSQL refused the login: {error}", error=error)
