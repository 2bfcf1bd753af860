"""The broker emulator's listener: SASL_SSL with a certificate from a CA the
test makes (tests/tls_ca.py), a client of another protocol named as such on
either kind of listener, and unsecured tokens kept on loopback unless allowed.
Real Kafka clients over SASL_SSL are in tests/test_broker_config.py."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from typing import TYPE_CHECKING

import pytest

from oauthbearer import JwtValidator, UnsecuredJwsValidator
from oauthbearer.errors import ConfigurationError
from oauthbearer.kafka import ClientAuthenticated, ClientAuthenticationFailed
from oauthbearer.kafka.aio import authenticate
from oauthbearer.kafka.broker import (
    TLS_HANDSHAKE_TIMEOUT_S,
    UNSECURED_ON_NETWORK_REMEDY,
    AuthenticationRecord,
    BrokerEmulator,
)
from oauthbearer.unsecured import kafka_unsecured_login
from oauthbearer.validation.jwks_fetch import JwksRefresher
from tests.tls_ca import LoopbackCa, make_ca

if TYPE_CHECKING:
    from pathlib import Path


def token(principal: str = "alice") -> str:
    options = {"unsecuredLoginStringClaim_sub": principal}
    return kafka_unsecured_login(options, now=time.time()).token.value


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCa:
    return make_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server_context(ca: LoopbackCa, tmp_path: Path) -> ssl.SSLContext:
    return ca.server_context(tmp_path)


def client_context(ca: LoopbackCa) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca.ca_file)


async def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a plain connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def test_sasl_ssl_authenticates_over_tls(ca: LoopbackCa, server_context: ssl.SSLContext) -> None:
    records: list[AuthenticationRecord] = []

    async def run() -> ClientAuthenticated | ClientAuthenticationFailed:
        emulator = BrokerEmulator(
            UnsecuredJwsValidator(), ssl_context=server_context, on_authentication=records.append
        )
        assert emulator.security_protocol == "SASL_SSL"
        async with emulator:
            return await authenticate(
                "127.0.0.1", emulator.port, token(), metadata=True, ssl_context=client_context(ca)
            )

    assert isinstance(asyncio.run(run()), ClientAuthenticated)
    assert [(r.outcome, r.principal) for r in records] == [("authenticated", "alice")]


def test_a_client_that_does_not_trust_the_certificate_is_logged(
    server_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.kafka.broker")

    async def run() -> None:
        async with BrokerEmulator(UnsecuredJwsValidator(), ssl_context=server_context) as emulator:
            with pytest.raises(ssl.SSLCertVerificationError):
                await authenticate(
                    "127.0.0.1", emulator.port, token(), ssl_context=ssl.create_default_context()
                )
            await asyncio.sleep(0.2)

    asyncio.run(run())
    (line,) = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert "does it trust the certificate?" in line


@pytest.mark.parametrize(
    ("data", "said"),
    [
        # ApiVersions v3, as librdkafka opens: a Kafka client without TLS.
        (
            bytes.fromhex("0000001a00120003000000010004746573740000"),
            (
                "WRONG_VERSION_NUMBER: the client does not speak TLS (a client configured for "
                "SASL_PLAINTEXT on this SASL_SSL listener?)"
            ),
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP_REQUEST: the client sent an HTTP request"),
    ],
)
def test_a_client_without_tls_on_a_sasl_ssl_listener_is_named(
    data: bytes, said: str, server_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.kafka.broker")

    async def run() -> bytes:
        async with BrokerEmulator(UnsecuredJwsValidator(), ssl_context=server_context) as emulator:
            answer = await raw(emulator.port, data)
            await asyncio.sleep(0.1)
            return answer

    answer = asyncio.run(run())
    assert not answer.startswith(b"\x00")  # no Kafka answer (at most a TLS alert)
    messages = [r.getMessage() for r in caplog.records]
    assert any(said in m for m in messages), messages


@pytest.mark.parametrize(
    ("opening", "reason", "said"),
    [
        ("tls", "tls-handshake", "the client began a TLS handshake (16 03 01"),
        ("http", "http-request", "the client sent an HTTP request ('GET', 47 45 54 20"),
    ],
)
def test_another_protocol_on_a_plaintext_listener_is_named(
    opening: str, reason: str, said: str, ca: LoopbackCa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.kafka.broker")
    records: list[AuthenticationRecord] = []

    async def run() -> None:
        async with BrokerEmulator(
            UnsecuredJwsValidator(), on_authentication=records.append
        ) as emulator:
            if opening == "tls":
                with pytest.raises(ConnectionError):
                    await authenticate(
                        "127.0.0.1", emulator.port, token(), ssl_context=client_context(ca)
                    )
            else:
                assert await raw(emulator.port, b"GET / HTTP/1.1\r\n\r\n") == b""
            await asyncio.sleep(0.2)

    asyncio.run(run())
    (record,) = records
    assert (record.outcome, record.reason) == ("failed", reason)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("closed the connection from 127.0.0.1:")
    assert said in line
    assert "frame size" in line  # says why Kafka would have spoken of a frame size
    assert "exceeds max_frame_size" not in line


def test_a_silent_tls_client_holds_up_no_other_and_times_out(
    ca: LoopbackCa, server_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.kafka.broker")

    async def run() -> tuple[float, float]:
        emulator = BrokerEmulator(
            UnsecuredJwsValidator(),
            ssl_context=server_context,
            authentication_timeout_s=1.0,  # bounds the handshake too
            max_connections=2,
        )
        async with emulator:
            silent = socket.create_connection(("127.0.0.1", emulator.port))
            try:
                started = time.monotonic()
                outcome = await authenticate(
                    "127.0.0.1", emulator.port, token(), ssl_context=client_context(ca)
                )
                assert isinstance(outcome, ClientAuthenticated)
                served_in = time.monotonic() - started
                silent.settimeout(5)
                # Closed at the handshake's deadline (read off the loop, which serves).
                assert await asyncio.to_thread(silent.recv, 1) == b""
                return served_in, time.monotonic() - started
            finally:
                silent.close()

    served_in, closed_in = asyncio.run(run())
    assert served_in < 0.9
    assert 0.5 < closed_in < 1.0 + TLS_HANDSHAKE_TIMEOUT_S
    assert any("no handshake within 1 s" in r.getMessage() for r in caplog.records)


def test_handshakes_count_against_the_connection_limits(
    ca: LoopbackCa, server_context: ssl.SSLContext
) -> None:
    async def run() -> float:
        emulator = BrokerEmulator(
            UnsecuredJwsValidator(),
            ssl_context=server_context,
            authentication_timeout_s=0.5,
            max_connections=1,
        )
        async with emulator:
            silent = socket.create_connection(("127.0.0.1", emulator.port))
            try:
                await asyncio.sleep(0.1)  # accepted: its handshake holds the one slot
                started = time.monotonic()
                outcome = await authenticate(
                    "127.0.0.1", emulator.port, token(), ssl_context=client_context(ca)
                )
                assert isinstance(outcome, ClientAuthenticated)
                return time.monotonic() - started
            finally:
                silent.close()

    assert asyncio.run(run()) > 0.2  # it waited for the silent handshake's deadline


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.0.2.1", "kafka.example"])  # noqa: S104
def test_unsecured_tokens_stay_on_loopback_unless_allowed(host: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        BrokerEmulator(UnsecuredJwsValidator(), host=host)
    assert refused.value.remedy == UNSECURED_ON_NETWORK_REMEDY
    assert "anyone who can reach it can mint" in str(refused.value)
    assert f"pass {UNSECURED_ON_NETWORK_REMEDY}" in str(refused.value)
    assert refused.value.worded_for({UNSECURED_ON_NETWORK_REMEDY: "--flag"}).endswith(
        "pass --flag to serve them there anyway"
    )
    BrokerEmulator(UnsecuredJwsValidator(), host=host, allow_unsecured_on_network=True)
    keys = JwksRefresher.for_file("jwks.json").cache  # never fetched: not started
    BrokerEmulator(JwtValidator(keys), host=host)  # signed tokens: nothing to allow


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LocalHost"])
def test_loopback_needs_no_permission(host: str) -> None:
    BrokerEmulator(UnsecuredJwsValidator(), host=host)


def test_the_advertised_port_is_what_metadata_names() -> None:
    emulator = BrokerEmulator(
        UnsecuredJwsValidator(), advertised_host="kafka.example", advertised_port=19093
    )
    assert emulator.bootstrap == "kafka.example:19093"
    with pytest.raises(ConfigurationError, match="advertised_port"):
        BrokerEmulator(UnsecuredJwsValidator(), advertised_port=70_000)
