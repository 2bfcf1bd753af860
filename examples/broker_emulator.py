"""A broker emulator of your own: an asyncio server around ``KafkaServerConnection``.

The connection object speaks Kafka's authentication phase (ApiVersions,
SaslHandshake, SaslAuthenticate) and hands over the token; this script
validates it (Kafka's unsecured tokens here), answers Metadata with itself as
the only broker, and closes the connection on anything else. Then it logs in to
itself twice with ``oauthbearer.kafka.aio.authenticate``: with a good token and
with an expired one, which gets RFC 7628's error challenge.

Run it: ``python examples/broker_emulator.py``. ``oauthbearer broker`` (the
``BrokerEmulator`` class) is the complete version of this loop: logging, idle
timeouts, clean shutdown.
"""

from __future__ import annotations

import asyncio
import time

from oauthbearer import InvalidToken, ServerSession, UnsecuredJwsValidator
from oauthbearer.gs2 import ErrorResponse
from oauthbearer.kafka import (
    NEED_DATA,
    ApplicationRequest,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    ConnectionClosed,
    KafkaServerConnection,
    MetadataBroker,
    MetadataRequest,
    MetadataResponse,
    ServerAuthenticationFailed,
)
from oauthbearer.kafka.aio import authenticate
from oauthbearer.session import TokenReceived
from oauthbearer.unsecured import kafka_unsecured_login

VALIDATOR = UnsecuredJwsValidator()


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    """One client connection, from the first byte to the close."""
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"))
    try:
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                writer.write(conn.data_to_send())
                await writer.drain()
                conn.receive_data(await reader.read(65536), now=time.time())
            elif isinstance(event, TokenReceived):  # we validate, then accept or reject
                try:
                    conn.accept(VALIDATOR.validate(event.response.token, now=time.time()))
                except InvalidToken as refused:
                    print(f"refused: {refused.detail}")  # the client sees only the status
                    conn.reject(ErrorResponse(refused.status, scope=refused.scope))
            elif isinstance(event, ApplicationRequest):
                if not isinstance(event.message, MetadataRequest):
                    return  # a real broker, or a proxy's upstream, takes over here
                me = MetadataBroker(node_id=0, host="127.0.0.1", port=port)
                conn.send_response(event.header, MetadataResponse(brokers=(me,)))
            elif isinstance(event, ServerAuthenticationFailed | ConnectionClosed):
                writer.write(conn.data_to_send())
                await writer.drain()
                return
    finally:
        writer.close()


def unsecured_token(now: float) -> str:
    """A Kafka unsecured token for ``alice``, valid for a minute from ``now``."""
    options = {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginLifetimeSeconds": "60"}
    return kafka_unsecured_login(options, now=now).token.value


async def main() -> None:
    port = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve(reader, writer, port)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        granted = await authenticate("127.0.0.1", port, unsecured_token(time.time()), metadata=True)
        refused = await authenticate("127.0.0.1", port, unsecured_token(time.time() - 3600))
    assert isinstance(granted, ClientAuthenticated), granted
    assert isinstance(refused, ClientAuthenticationFailed), refused
    assert granted.session_lifetime_ms > 0, granted
    assert (refused.status, refused.error_code) == ("invalid_token", 58), refused
    print(f"granted for {granted.session_lifetime_ms} ms; an expired token: {refused.status}")


if __name__ == "__main__":
    asyncio.run(main())
