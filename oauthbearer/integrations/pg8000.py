"""OAUTHBEARER logins to PostgreSQL 18 for pg8000, through its ``sock`` parameter.

Theory of operation
-------------------
pg8000 speaks SCRAM through ``scramp`` and has no hook for another SASL
mechanism. It does take a ready socket (``sock=``), and only ever calls that
object's ``makefile("rwb")`` and ``close()``. :func:`connect` hands it such
an object, :class:`LoginSocket`: the driver's bytes go to the server as they
are, and the server's pass through an :class:`~oauthbearer.integrations.postgresql.OAuthLogin`
until PostgreSQL says AuthenticationOk, so that pg8000 sees a server that
trusts it. No private name of pg8000 is used or patched.

Each call of :func:`connect` asks the token source for its current token, so
a :class:`~oauthbearer.login.TokenProvider` refreshes tokens for new
connections. A refused token raises
:class:`~oauthbearer.integrations.postgresql.PostgresLoginFailed` (the
session's :class:`~oauthbearer.session.AuthenticationFailed`, raised) with the server's
``status``, ``scope`` and ``openid_configuration``. :func:`discover` asks the
server which issuer it trusts, as libpq does before its device flow.

TLS: give ``ssl_context``; the SSLRequest and the handshake happen here (pg8000
is told ``ssl_context=False``, since the socket it gets is already secured).
"""

from __future__ import annotations

import importlib
import socket
from typing import TYPE_CHECKING, Any

from oauthbearer.errors import ArgumentTypeError
from oauthbearer.integrations._adapter import checked_token, token_getter
from oauthbearer.integrations.postgresql import (
    BackendReader,
    LoginState,
    OAuthLogin,
    PostgresError,
    PostgresLoginFailed,
    ssl_request,
    startup_message,
)
from oauthbearer.session import ClientSession, DiscoveryResult

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from oauthbearer.integrations._adapter import TokenSource

__all__ = ["LoginSocket", "connect", "discover"]

_CHUNK = 65_536


def _open_socket(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0
) -> socket.socket:
    """A TCP connection to PostgreSQL, switched to TLS first when ``ssl_context`` is given."""
    sock = socket.create_connection((host, port), timeout)
    if ssl_context is None:
        return sock
    try:
        sock.sendall(ssl_request())
        answer = sock.recv(1)
        if answer == b"S":
            return ssl_context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    sock.close()
    raise PostgresLoginFailed(f"the server at {host}:{port} refuses TLS")


class LoginSocket:
    """The socket pg8000 gets: it performs the OAUTHBEARER login on the way.

    Also its own ``makefile("rwb")``: the file-like ``read``, ``write`` and
    ``flush`` that pg8000 uses.
    """

    def __init__(self, sock: socket.socket, session: ClientSession) -> None:
        self._sock = sock
        self._file = sock.makefile("rwb")
        self._login = OAuthLogin(session)
        self._pending = bytearray()

    @property
    def login(self) -> OAuthLogin:
        return self._login

    def makefile(self, mode: str = "rwb") -> LoginSocket:
        if mode != "rwb":
            raise ArgumentTypeError(f"LoginSocket.makefile() serves mode 'rwb', not {mode!r}")
        return self

    def read(self, size: int) -> bytes:
        while not self._pending and self._login.state is not LoginState.AUTHENTICATED:
            received = self._file.read1(_CHUNK)
            if not received:
                self._login.receive_eof()
                return b""
            self._login.receive_data(received)
            reply = self._login.data_to_server()
            if reply:
                self._file.write(reply)
                self._file.flush()
            self._pending += self._login.data_to_driver()
        if self._pending:
            taken = bytes(self._pending[:size])
            del self._pending[:size]
            return taken
        data: bytes = self._file.read(size)
        return data

    def write(self, data: bytes) -> int:
        written: int = self._file.write(data)
        return written

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def _session(source: TokenSource | str, authzid: str | None) -> ClientSession:
    if isinstance(source, str):
        return ClientSession(source, authzid=authzid)
    token = checked_token(token_getter(source)())
    return ClientSession(token.value, authzid=authzid)


def _first_error(data: bytes) -> str:
    """The first ErrorResponse among the server's messages ``data``, as text."""
    reader = BackendReader()
    reader.receive_data(data)
    while (message := reader.next_message()) is not None:
        if message.type == b"E":
            return str(PostgresError.decode(message.body))
    return "no error message"


def connect(
    source: TokenSource | str,
    *,
    user: str,
    host: str = "localhost",
    port: int = 5432,
    database: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
    authzid: str | None = None,
    factory: Callable[..., Any] | None = None,
    **pg8000_options: Any,
) -> Any:
    """A pg8000 connection logged in with OAUTHBEARER.

    ``source`` is the access token (a str), or a token source (a
    :class:`~oauthbearer.login.TokenProvider`, anything with ``token()``, or a
    function returning an :class:`~oauthbearer.token.OAuthBearerToken`), asked
    for its current token on every call. ``factory`` is the connection class,
    ``pg8000.native.Connection`` by default (``pg8000.dbapi.Connection`` for
    DB-API). ``authzid`` exists to show PostgreSQL's refusal: it supports none.
    Other keywords go to the factory.
    """
    if factory is None:
        # Imported when used: importing this module does not import pg8000.
        factory = importlib.import_module("pg8000.native").Connection
    session = _session(source, authzid)
    sock = LoginSocket(_open_socket(host, port, ssl_context=ssl_context, timeout=timeout), session)
    try:
        return factory(user=user, database=database, sock=sock, ssl_context=False, **pg8000_options)
    except BaseException:
        sock.close()
        raise


def discover(
    *,
    user: str,
    host: str = "localhost",
    port: int = 5432,
    database: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> DiscoveryResult:
    """Ask the server which issuer it trusts: a discovery exchange (empty
    ``auth``), as libpq sends before its device flow. No token is needed."""
    login = OAuthLogin(ClientSession.discovery())
    parameters = {"user": user} | ({} if database is None else {"database": database})
    with _open_socket(host, port, ssl_context=ssl_context, timeout=timeout) as sock:
        sock.sendall(startup_message(parameters))
        while login.discovery is None:
            if login.state in (LoginState.FAILED, LoginState.AUTHENTICATED):
                raise PostgresLoginFailed(
                    "the server answered the discovery request without an OAuth challenge"
                    f" ({_first_error(login.data_to_driver())})"
                )
            data = sock.recv(_CHUNK)
            if data:
                login.receive_data(data)
            else:
                login.receive_eof()
            sock.sendall(login.data_to_server())
    return login.discovery
