"""Drive a :class:`~oauthbearer.kafka.KafkaClientConnection` over an asyncio
stream: authenticate to a Kafka listener once (asyncio shell).

For tools and tests that need one authentication on a real socket (the
broker emulator's tests and benchmark, the demo), not a Kafka client: the
protocol is all in the pure connection object; this only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Final

from oauthbearer.kafka.client import (
    ApplicationResponse,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    KafkaClientConnection,
)
from oauthbearer.kafka.connection import ConnectionClosed
from oauthbearer.kafka.protocol import NEED_DATA, ApiKey, MetadataRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oauthbearer.session import ClientSession

__all__ = ["DEFAULT_TIMEOUT_S", "authenticate"]

#: The bound on one whole authentication, connection included.
DEFAULT_TIMEOUT_S: Final = 10.0
_READ_SIZE: Final = 65_536


async def authenticate(
    host: str,
    port: int,
    session: ClientSession | str,
    *,
    extensions: Mapping[str, str] | None = None,
    metadata: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ClientAuthenticated | ClientAuthenticationFailed:
    """Connect, authenticate with ``session`` (or a token and ``extensions``),
    optionally ask for Metadata v1 as real clients do next, and close.

    Returns the outcome; raises :class:`OSError` (or :class:`TimeoutError`) when
    the connection fails, and :class:`ConnectionError` when the broker closes
    it before answering (or before answering Metadata).
    """
    connection = KafkaClientConnection(session, extensions=extensions)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await _run(connection, reader, writer, metadata=metadata)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _run(
    connection: KafkaClientConnection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    metadata: bool,
) -> ClientAuthenticated | ClientAuthenticationFailed:
    connection.initiate()
    outcome: ClientAuthenticated | None = None
    while True:
        event = connection.next_event()
        if event is NEED_DATA:
            writer.write(connection.data_to_send())
            await writer.drain()
            connection.receive_data(await reader.read(_READ_SIZE))
        elif isinstance(event, ClientAuthenticated):
            if not metadata:
                return event
            outcome = event
            connection.send_request(ApiKey.METADATA, 1, MetadataRequest(topics=None))
        elif isinstance(event, ApplicationResponse):
            assert outcome is not None  # only Metadata is ever sent, after success
            return outcome
        elif isinstance(event, ClientAuthenticationFailed):
            return event
        else:
            assert isinstance(event, ConnectionClosed), event
            when = "during authentication" if outcome is None else "before answering Metadata"
            raise ConnectionError(f"the broker closed the connection {when}")
