"""Drive a :class:`~oauthbearer.kafka.KafkaClientConnection` over an asyncio
stream: authenticate to a Kafka listener once (asyncio shell).

For tools and tests that need one authentication on a real socket (the
broker emulator's tests and benchmark, the demo), not a Kafka client: the
protocol is all in the pure connection object; this only moves bytes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from oauthbearer.kafka.client import (
    ApplicationResponse,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    KafkaClientConnection,
)
from oauthbearer.kafka.framing import ConnectionClosed
from oauthbearer.kafka.protocol import NEED_DATA, ApiKey, MetadataRequest

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

    from oauthbearer.session import ClientSession

__all__ = ["DEFAULT_LOGIN_TIMEOUT_S", "authenticate"]

#: The bound on one whole authentication, connection included.
DEFAULT_LOGIN_TIMEOUT_S: Final = 10.0
#: How long closing the connection may take before it is cut (a TLS close
#: waits for the broker's close_notify).
CLOSE_WAIT_S: Final = 1.0


async def authenticate(
    host: str,
    port: int,
    session: ClientSession | str,
    *,
    extensions: Mapping[str, str] | None = None,
    metadata: bool = False,
    timeout_s: float = DEFAULT_LOGIN_TIMEOUT_S,
    local_addr: tuple[str, int] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientAuthenticated | ClientAuthenticationFailed:
    """Connect (from ``local_addr``, if given; over TLS with ``ssl_context``, a
    SASL_SSL listener, its certificate checked for ``host``), authenticate with
    ``session`` (or a token and ``extensions``), optionally ask for Metadata v1
    as real clients do next, and close.

    Returns the outcome; raises :class:`OSError` (or :class:`TimeoutError`) when
    the connection fails, and :class:`ConnectionError` when the broker closes
    it before answering (or before answering Metadata).
    """
    connection = KafkaClientConnection(session, extensions=extensions)
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[ClientAuthenticated | ClientAuthenticationFailed] = loop.create_future()
    async with asyncio.timeout(timeout_s):
        transport, protocol = await loop.create_connection(
            lambda: _Authenticating(connection, outcome, metadata=metadata),
            host,
            port,
            local_addr=local_addr,
            ssl=ssl_context,
        )
        try:
            return await outcome
        finally:
            transport.close()
            # Over TLS the close is an exchange (close_notify): wait for its end,
            # a moment at most, so that no socket outlives the call.
            try:
                await asyncio.wait_for(asyncio.shield(protocol.closed), CLOSE_WAIT_S)
            except TimeoutError:
                transport.abort()


class _Authenticating(asyncio.Protocol):
    """The client's side of one connection, in asyncio's callbacks: no coroutine
    per read, so that a load generator stays cheaper than the broker it loads."""

    def __init__(
        self,
        connection: KafkaClientConnection,
        outcome: asyncio.Future[ClientAuthenticated | ClientAuthenticationFailed],
        *,
        metadata: bool,
    ) -> None:
        self._connection = connection
        self._outcome = outcome
        self._metadata = metadata
        self._granted: ClientAuthenticated | None = None
        self._transport: asyncio.Transport | None = None
        #: Done when the connection is lost (closed by either side).
        self.closed: asyncio.Future[None] = outcome.get_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connection.initiate()
        self._step()

    def data_received(self, data: bytes) -> None:
        if not self._outcome.done():
            self._connection.receive_data(data)
            self._step()

    def eof_received(self) -> bool:
        if not self._outcome.done():
            self._connection.receive_data(b"")
            self._step()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self._outcome.done():
            when = "during authentication" if self._granted is None else "before answering Metadata"
            self._outcome.set_exception(ConnectionError(f"the broker closed the connection {when}"))

    def _step(self) -> None:
        connection = self._connection
        try:
            while True:
                event = connection.next_event()
                if event is NEED_DATA:
                    assert self._transport is not None
                    self._transport.write(connection.data_to_send())
                    return
                if isinstance(event, ClientAuthenticated):
                    if not self._metadata:
                        self._outcome.set_result(event)
                        return
                    self._granted = event
                    connection.send_request(ApiKey.METADATA, 1, MetadataRequest(topics=None))
                elif isinstance(event, ApplicationResponse):
                    assert self._granted is not None  # only Metadata is sent, after success
                    self._outcome.set_result(self._granted)
                    return
                elif isinstance(event, ClientAuthenticationFailed):
                    self._outcome.set_result(event)
                    return
                else:
                    assert isinstance(event, ConnectionClosed), event
                    self.connection_lost(None)
                    return
        except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
            if not self._outcome.done():
                self._outcome.set_exception(error)
