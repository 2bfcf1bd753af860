"""OAUTHBEARER logins to PostgreSQL 18 for asyncpg, through a private relay.

Theory of operation
-------------------
asyncpg's authentication lives in its compiled protocol (Cython ``cdef``
methods): there is no hook for a SASL mechanism, nothing to subclass and
nothing that could be patched, and ``asyncpg.connect`` takes no ready socket.
So :func:`connect` gives it a private relay instead:

1. it makes a folder that only this user can enter (mode 0700) and listens on
   a Unix socket in it, named as PostgreSQL names its own
   (``.s.PGSQL.<port>``);
2. it calls ``asyncpg.connect(host=<folder>, port=<port>, ...)``;
3. the relay opens the real connection (TLS first, with ``ssl``), passes
   asyncpg's StartupMessage on, and lets an
   :class:`~oauthbearer.integrations.postgresql.OAuthLogin` answer the
   server's OAUTHBEARER request, so that asyncpg sees a server that trusts it;
4. after AuthenticationOk it copies bytes both ways until either side closes,
   then stops listening and removes the folder.

Further connections to the relay (asyncpg's query cancellation opens one) are
copied to the server unchanged: they carry no credential.

The cost is one more copy of each message in the same event loop. The token
never leaves this process, and the relay accepts only this user's processes.
A refused token raises
:class:`~oauthbearer.integrations.postgresql.PostgresLoginFailed` with the
server's ``status``, ``scope`` and ``openid_configuration``; :func:`discover`
asks the server which issuer it trusts.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthbearer.integrations._adapter import checked_token, token_getter
from oauthbearer.integrations.postgresql import (
    LoginState,
    OAuthLogin,
    PostgresLoginFailed,
    ssl_request,
    startup_message,
)
from oauthbearer.session import ClientSession, DiscoveryResult

if TYPE_CHECKING:
    import ssl as ssl_module

    from oauthbearer.integrations._adapter import AsyncTokenSource

__all__ = ["connect", "discover"]

_CHUNK = 65_536


async def _token_value(source: AsyncTokenSource | str) -> str:
    if isinstance(source, str):
        return source
    token = token_getter(source)()
    if inspect.isawaitable(token):
        token = await token
    return checked_token(token).value


async def _open(
    host: str, port: int, ssl: ssl_module.SSLContext | None, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    if ssl is None:
        return reader, writer
    writer.write(ssl_request())
    if await asyncio.wait_for(reader.readexactly(1), timeout) != b"S":
        writer.close()
        raise PostgresLoginFailed(f"the server at {host}:{port} refuses TLS")
    await writer.start_tls(ssl, server_hostname=host)
    return reader, writer


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


async def _read_startup(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(4)
    return header + await reader.readexactly(int.from_bytes(header, "big") - 4)


class _Relay:
    """The relay of one asyncpg connection (see the module's description)."""

    def __init__(
        self,
        session: ClientSession,
        host: str,
        port: int,
        ssl: ssl_module.SSLContext | None,
        timeout: float,
    ) -> None:
        self._session: ClientSession | None = session
        self._upstream = (host, port, ssl, timeout)
        self.error: BaseException | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="oauthbearer-pg-"))  # mode 0700
        self._server: asyncio.AbstractServer | None = None
        self.finished: asyncio.Event | None = None

    async def start(self, port: int) -> None:
        path = self.folder / f".s.PGSQL.{port}"
        self._server = await asyncio.start_unix_server(self._serve, path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        session, self._session = self._session, None
        if session is not None:
            self.finished = asyncio.Event()
        try:
            server_r, server_w = await _open(*self._upstream)
        except (OSError, TimeoutError, PostgresLoginFailed) as exc:
            self.error = exc
            client_w.close()
            return
        try:
            if session is not None:
                await self._login(session, client_r, client_w, server_r, server_w)
            await asyncio.gather(_copy(client_r, server_w), _copy(server_r, client_w))
        except Exception as exc:  # noqa: BLE001 - handed to connect(), which raises it
            self.error = exc
        except asyncio.CancelledError:
            # The loop is shutting down under a connection the application
            # has closed: end quietly (asyncio logs a cancelled handler).
            pass
        finally:
            # Also when the loop cancels this task: no transport outlives it.
            server_w.close()
            client_w.close()
            if self.finished is not None and session is not None:
                await self.close()
                self.finished.set()

    async def _login(
        self,
        session: ClientSession,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_r: asyncio.StreamReader,
        server_w: asyncio.StreamWriter,
    ) -> None:
        server_w.write(await _read_startup(client_r))
        login = OAuthLogin(session)
        while login.state is not LoginState.AUTHENTICATED:
            data = await asyncio.wait_for(server_r.read(_CHUNK), self._upstream[3])
            if data:
                login.receive_data(data)
            else:
                login.receive_eof()
            server_w.write(login.data_to_server())
            client_w.write(login.data_to_driver())
            if login.state is LoginState.FAILED:
                await client_w.drain()
                raise ConnectionAbortedError  # the driver reports the server's error
        await client_w.drain()


async def connect(
    source: AsyncTokenSource | str,
    *,
    user: str,
    host: str = "localhost",
    port: int = 5432,
    database: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    timeout: float = 60.0,
    authzid: str | None = None,
    **asyncpg_options: Any,
) -> Any:
    """An ``asyncpg.Connection`` logged in with OAUTHBEARER.

    ``source`` is the access token (a str), or a token source (an
    :class:`~oauthbearer.login.AsyncTokenProvider`, anything with ``token()``,
    or a function or coroutine function returning an
    :class:`~oauthbearer.token.OAuthBearerToken`), asked for its current token
    on every call: give ``functools.partial(connect, provider, ...)`` to
    ``asyncpg.create_pool(connect=...)`` and every new pooled connection logs
    in with a fresh token. ``ssl`` secures the connection to the server.
    Other keywords go to ``asyncpg.connect``.
    """
    # Imported when used: importing this module does not import asyncpg.
    asyncpg = importlib.import_module("asyncpg")
    session = ClientSession(await _token_value(source), authzid=authzid)
    relay = _Relay(session, host, port, ssl, timeout)
    try:
        await relay.start(port)
        return await asyncpg.connect(
            host=str(relay.folder),
            port=port,
            user=user,
            database=database,
            ssl=False,
            timeout=timeout,
            **asyncpg_options,
        )
    except Exception as exc:
        await relay.close()
        if relay.finished is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(relay.finished.wait(), timeout)
        if isinstance(relay.error, PostgresLoginFailed):
            raise relay.error from exc
        raise


async def discover(
    *,
    user: str,
    host: str = "localhost",
    port: int = 5432,
    database: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    timeout: float = 60.0,
) -> DiscoveryResult:
    """Ask the server which issuer it trusts: a discovery exchange (empty
    ``auth``), as libpq sends before its device flow. No token is needed."""
    login = OAuthLogin(ClientSession.discovery())
    reader, writer = await _open(host, port, ssl, timeout)
    try:
        parameters = {"user": user} | ({} if database is None else {"database": database})
        writer.write(startup_message(parameters))
        while login.discovery is None:
            if login.state in (LoginState.FAILED, LoginState.AUTHENTICATED):
                raise PostgresLoginFailed(
                    "the server answered the discovery request without an OAuth challenge"
                )
            data = await asyncio.wait_for(reader.read(_CHUNK), timeout)
            if data:
                login.receive_data(data)
            else:
                login.receive_eof()
            writer.write(login.data_to_server())
        return login.discovery
    finally:
        writer.close()
