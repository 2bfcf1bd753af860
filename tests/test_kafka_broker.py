"""The broker emulator over real loopback sockets, driven by our own client
connection (tests/test_interop_kafka.py drives it with real Kafka clients)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauthbearer import OAuthBearerToken, UnsecuredJwsValidator
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.kafka import (
    AUTHORIZED_OPERATIONS_OMITTED,
    ZERO_UUID,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    ErrorCode,
    MetadataBroker,
    MetadataRequest,
    MetadataResponse,
    decode_response,
    encode_response,
)
from oauthbearer.kafka.aio import authenticate
from oauthbearer.kafka.broker import (
    CLUSTER_AUTHORIZED_OPERATIONS,
    DEFAULT_BACKLOG,
    EMULATOR_MAX_REQUEST_SIZE,
    LOG_LINES_PER_WINDOW,
    LOG_WINDOW_S,
    TOPIC_AUTHORIZED_OPERATIONS,
    AuthenticationRecord,
    BrokerEmulator,
    metadata_response,
    topic_id,
)
from oauthbearer.kafka.protocol import Frame, ResponseHeader
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SECRET_MARKER = "s3cr3t-marker"  # a claim value no log line may contain


def unsecured(principal: str = "alice", *, lifetime_s: int = 3600, scope: str = "read") -> str:
    login = kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": principal,
            "unsecuredLoginListClaim_scope": f",{scope}",
            "unsecuredLoginStringClaim_marker": SECRET_MARKER,
            "unsecuredLoginLifetimeSeconds": str(lifetime_s),
        },
        now=time.time(),
    )
    return login.token.value


def expired() -> str:
    login = kafka_unsecured_login(
        {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginLifetimeSeconds": "10"},
        now=time.time() - 3600,
    )
    return login.token.value


class Recorder:
    def __init__(self) -> None:
        self.records: list[AuthenticationRecord] = []

    def __call__(self, record: AuthenticationRecord) -> None:
        self.records.append(record)

    def wait(self, count: int, timeout_s: float = 5.0) -> list[AuthenticationRecord]:
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.records


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def broker(recorder: Recorder) -> Iterator[BrokerEmulator]:
    emulator = BrokerEmulator(
        UnsecuredJwsValidator(required_scope=("read",)),
        topics=("orders",),
        on_authentication=recorder,
    )
    with emulator.running_in_thread():
        yield emulator


def run_auth(
    broker: BrokerEmulator, token: str, **kwargs: object
) -> ClientAuthenticated | ClientAuthenticationFailed:
    return asyncio.run(authenticate(broker.host, broker.port, token, **kwargs))  # type: ignore[arg-type]


# --- Metadata (pure) -----------------------------------------------------------------------

NODE = MetadataBroker(node_id=7, host="127.0.0.1", port=9093)


@pytest.mark.parametrize(
    ("version", "asked", "names"),
    [
        (0, (), ["a", "b"]),  # v0: an empty list is every topic
        (1, None, ["a", "b"]),  # v1: null is every topic
        (1, (), []),  # v1: an empty list is none
        (1, ("b", "zz"), ["b", "zz"]),
    ],
)
def test_metadata_response_follows_the_request_schema(
    version: int, asked: tuple[str, ...] | None, names: list[str]
) -> None:
    response = metadata_response(
        MetadataRequest(topics=asked), version, broker=NODE, topics=("a", "b")
    )
    assert [t.name for t in response.topics] == names
    assert response.brokers == (NODE,)
    assert response.controller_id == 7
    errors = {t.name: t.error_code for t in response.topics}
    assert errors.get("zz", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) == 3
    for topic in response.topics:
        if topic.name != "zz":
            (partition,) = topic.partitions
            assert (partition.leader_id, partition.replica_nodes) == (7, (7,))
    # It encodes and decodes at the version asked.
    header = ResponseHeader(correlation_id=5)
    frame = encode_response(header, response, version)
    _, decoded = decode_response(Frame(frame[4:]), api_key=3, api_version=version)
    assert isinstance(decoded, MetadataResponse)
    assert [t.name for t in decoded.topics] == names


@pytest.mark.parametrize("version", range(14))
def test_metadata_response_encodes_at_every_version(version: int) -> None:
    asked = MetadataRequest(topics=("a", "zz"))
    response = metadata_response(asked, version, broker=NODE, topics=("a",), cluster_id="c")
    frame = encode_response(ResponseHeader(correlation_id=5), response, version)
    _, decoded = decode_response(Frame(frame[4:]), api_key=3, api_version=version)
    assert isinstance(decoded, MetadataResponse)
    assert [(t.name, t.error_code) for t in decoded.topics] == [("a", 0), ("zz", 3)]
    assert decoded.cluster_id == ("c" if version >= 2 else None)
    # Topic ids from v10: derived from the name, so the same in every run.
    expected_id = topic_id("a") if version >= 10 else ZERO_UUID
    assert decoded.topics[0].topic_id == expected_id
    assert decoded.topics[1].topic_id == ZERO_UUID
    assert decoded.topics[0].partitions[0].leader_epoch == (0 if version >= 7 else -1)


def test_topic_ids_are_stable_and_distinct() -> None:
    assert topic_id("orders") == topic_id("orders") != topic_id("orders2")
    assert str(topic_id("orders")) == "ac8f58fe-ec2a-5ab4-b98d-feab47b473e8"


def test_metadata_by_topic_id() -> None:
    unknown = uuid.UUID(int=99)
    asked = MetadataRequest(topics=(), topic_ids=(topic_id("a"), unknown))
    answer = metadata_response(asked, 12, broker=NODE, topics=("a",))
    # Kafka lists the unknown ids first (measured: tests/test_kafka_versions.py).
    assert [(t.name, t.topic_id, t.error_code) for t in answer.topics] == [
        (None, unknown, ErrorCode.UNKNOWN_TOPIC_ID),
        ("a", topic_id("a"), 0),
    ]
    # v10 and v11 carry the field, but Kafka refuses a request that uses it.
    refused = metadata_response(asked, 11, broker=NODE, topics=("a",))
    assert refused.error_code == ErrorCode.INVALID_REQUEST
    assert {t.error_code for t in refused.topics} == {ErrorCode.INVALID_REQUEST}


def test_metadata_reports_authorized_operations_when_asked() -> None:
    asked = MetadataRequest(
        topics=("a",),
        include_cluster_authorized_operations=True,
        include_topic_authorized_operations=True,
    )
    answer = metadata_response(asked, 10, broker=NODE, topics=("a",))
    # What Kafka 4 without an authorizer reports (measured: test_kafka_versions.py).
    assert answer.cluster_authorized_operations == CLUSTER_AUTHORIZED_OPERATIONS == 8096
    assert answer.topics[0].topic_authorized_operations == TOPIC_AUTHORIZED_OPERATIONS == 3576
    plain = metadata_response(MetadataRequest(topics=("a",)), 10, broker=NODE, topics=("a",))
    assert plain.topics[0].topic_authorized_operations == AUTHORIZED_OPERATIONS_OMITTED
    assert plain.cluster_authorized_operations == AUTHORIZED_OPERATIONS_OMITTED


# --- the emulator ---------------------------------------------------------------------------


def test_accepts_and_reports_principal_and_extensions(
    broker: BrokerEmulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oauthbearer.kafka.broker")
    token = unsecured()
    outcome = run_auth(broker, token, extensions={"traceId": "t-1"}, metadata=True)
    assert isinstance(outcome, ClientAuthenticated)
    assert 3_500_000 < outcome.session_lifetime_ms <= 3_600_000
    (record,) = recorder.wait(1)
    assert record.ok
    assert (record.outcome, record.principal) == ("authenticated", "alice")
    assert dict(record.extensions) == {"traceId": "t-1"}
    assert record.session_lifetime_ms == outcome.session_lifetime_ms
    text = caplog.text
    assert "principal='alice'" in text
    assert "t-1" in text
    assert token not in text
    assert SECRET_MARKER not in text


def test_refusal_runs_the_error_challenge_and_logs_the_detail(
    broker: BrokerEmulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oauthbearer.kafka.broker")
    token = expired()
    outcome = run_auth(broker, token)
    assert isinstance(outcome, ClientAuthenticationFailed)
    assert outcome.status == "invalid_token"
    assert outcome.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    (record,) = recorder.wait(1)
    assert not record.ok
    assert record.reason == "authentication-failed"
    assert record.message == '{"status":"invalid_token"}'
    assert record.detail is not None
    assert "Expiration Time" in record.detail
    assert token not in caplog.text


def test_missing_scope_is_insufficient_scope(broker: BrokerEmulator) -> None:
    outcome = run_auth(broker, unsecured(scope="write"))
    assert isinstance(outcome, ClientAuthenticationFailed)
    # Kafka's unsecured validator writes the required scope as a Java list.
    assert (outcome.status, outcome.scope) == ("insufficient_scope", "[read]")


def test_many_concurrent_connections(broker: BrokerEmulator, recorder: Recorder) -> None:
    token = unsecured()

    async def many() -> list[ClientAuthenticated | ClientAuthenticationFailed]:
        return await asyncio.gather(
            *(authenticate(broker.host, broker.port, token, metadata=True) for _ in range(60))
        )

    outcomes = asyncio.run(many())
    assert all(isinstance(o, ClientAuthenticated) for o in outcomes)
    assert len(recorder.wait(60)) == 60


def raw_exchange(broker: BrokerEmulator, data: bytes, timeout_s: float = 5.0) -> bytes:
    """Send ``data``, half-close, and read until the broker closes."""

    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        writer.write(data)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(timeout_s):
                return await reader.read()
        finally:
            writer.close()

    return asyncio.run(run())


def test_an_oversize_frame_closes_the_connection_at_once(
    broker: BrokerEmulator, recorder: Recorder
) -> None:
    # The size prefix alone is refused: nothing of the body is awaited.
    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        writer.write((600_000).to_bytes(4, "big"))
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
        return answer

    assert asyncio.run(run()) == b""
    (record,) = recorder.wait(1)
    assert record.reason == "malformed-frame"


def test_a_request_before_the_handshake_gets_no_answer(
    broker: BrokerEmulator, recorder: Recorder
) -> None:
    # Metadata v1, correlation id 1, no client id: Kafka closes without a word.
    body = b"\x00\x03\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff"
    assert raw_exchange(broker, len(body).to_bytes(4, "big") + body) == b""
    (record,) = recorder.wait(1)
    assert record.reason == "unexpected-request"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=200))
def test_any_bytes_leave_the_emulator_serving(
    broker: BrokerEmulator, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    caplog.set_level(logging.ERROR)
    raw_exchange(broker, data)
    assert isinstance(run_auth(broker, unsecured()), ClientAuthenticated)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_validator_bug_closes_only_that_connection(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky:
        calls = 0

        def validate(self, token: str, *, now: float) -> OAuthBearerToken:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("boom")
            return UnsecuredJwsValidator().validate(token, now=now)

    with BrokerEmulator(Flaky(), on_authentication=recorder).running_in_thread() as emulator:
        with pytest.raises(ConnectionError):
            run_auth(emulator, unsecured())
        assert isinstance(run_auth(emulator, unsecured()), ClientAuthenticated)
    assert "unexpected error" in caplog.text


def test_idle_connections_are_closed() -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator(), idle_timeout_s=0.2)

    async def run() -> float:
        async with emulator:
            reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
            started = time.monotonic()
            async with asyncio.timeout(5):
                assert await reader.read() == b""
            writer.close()
            return time.monotonic() - started

    assert asyncio.run(run()) < 4


def test_aclose_closes_open_connections() -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator())

    async def run() -> bytes:
        await emulator.start()
        reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
        await asyncio.sleep(0.05)  # the emulator has accepted it
        await emulator.aclose()
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
        return answer

    assert asyncio.run(run()) == b""


def test_start_fails_loudly_when_the_port_is_taken(broker: BrokerEmulator) -> None:
    other = BrokerEmulator(UnsecuredJwsValidator(), port=broker.port)
    with pytest.raises(OSError, match="address already in use"), other.running_in_thread():
        pass


def test_arguments_are_checked() -> None:
    with pytest.raises(ArgumentTypeError):
        BrokerEmulator(object())  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        BrokerEmulator(UnsecuredJwsValidator(), topics="orders")
    with pytest.raises(ConfigurationError):
        BrokerEmulator(UnsecuredJwsValidator(), port=70_000)
    with pytest.raises(ConfigurationError):
        BrokerEmulator(UnsecuredJwsValidator(), max_frame_size=-1)
    with pytest.raises(ArgumentTypeError):
        BrokerEmulator(UnsecuredJwsValidator(), max_reauth_ms="1s")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        BrokerEmulator(UnsecuredJwsValidator(), node_id=2**31)
    with pytest.raises(ConfigurationError):
        BrokerEmulator(UnsecuredJwsValidator(), port=True)
    with pytest.raises(ConfigurationError, match="Dialect"):
        BrokerEmulator(UnsecuredJwsValidator(), dialect="nope")
    assert "stopped" in repr(BrokerEmulator(UnsecuredJwsValidator()))


# --- the CLI --------------------------------------------------------------------------------


@contextlib.contextmanager
def cli_broker(*options: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``oauthbearer broker --listen 127.0.0.1:0 OPTIONS``, and the port it printed."""
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own arguments
        [sys.executable, "-m", "oauthbearer", "broker", "--listen", "127.0.0.1:0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        yield proc, int(line.split("listening on 127.0.0.1:")[1].split()[0])
    finally:
        proc.kill()
        proc.wait()


def stop(proc: subprocess.Popen[str], signum: signal.Signals) -> tuple[str, str]:
    proc.send_signal(signum)
    return proc.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_broker_serves_and_stops_on_a_signal(signum: signal.Signals) -> None:
    with cli_broker("-o", "unsecuredValidatorRequiredScope=read") as (proc, port):
        ok = asyncio.run(authenticate("127.0.0.1", port, unsecured(), metadata=True))
        assert isinstance(ok, ClientAuthenticated)
        refused = asyncio.run(authenticate("127.0.0.1", port, unsecured(scope="write")))
        assert isinstance(refused, ClientAuthenticationFailed)
        out, err = stop(proc, signum)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "authenticated peer=" in err
    assert "authentication failed" in err
    assert "insufficient_scope" in err


def test_cli_broker_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from oauthbearer.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["broker", "--listen", "nowhere"])
    assert exit_info.value.code == 2
    assert main(["broker", "-o", "unsecuredValidatorAllowableClockSkewMs=-1"]) == 2
    assert "must not be negative" in capsys.readouterr().err


def test_cli_broker_validates_signed_jwts_against_a_jwks_file(tmp_path: Path) -> None:
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    now = int(time.time())

    def signed(audience: str) -> str:
        claims = {"sub": "svc", "iss": "https://idp.test", "aud": audience, "iat": now}
        claims["exp"] = now + 600
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    jwt_options = ("--jwks", str(jwks), "--issuer", "https://idp.test", "--audience", "kafka")
    with cli_broker(*jwt_options) as (proc, port):
        ok = asyncio.run(authenticate("127.0.0.1", port, signed("kafka")))
        assert isinstance(ok, ClientAuthenticated)
        refused = asyncio.run(authenticate("127.0.0.1", port, signed("elsewhere")))
        assert isinstance(refused, ClientAuthenticationFailed)
        assert refused.status == "invalid_token"
        _, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert "principal='svc'" in err
    assert "aud" in err  # the validator's detail names the refused audience


def test_a_client_that_never_reads_is_not_buffered_without_bound(recorder: Recorder) -> None:
    # Authenticate, then pipeline Metadata requests whose answers are large and
    # never read them: the emulator stops answering at the transport's
    # high-water mark (backpressure) instead of queueing every answer.
    from oauthbearer.kafka import KafkaClientConnection, MetadataRequest
    from oauthbearer.kafka.protocol import RequestHeader, encode_request

    topics = tuple(f"topic-{i:04d}" for i in range(150))  # ~5 KB per answer
    emulator = BrokerEmulator(UnsecuredJwsValidator(), topics=topics, on_authentication=recorder)
    client = KafkaClientConnection(unsecured())
    client.initiate()

    async def run(broker: BrokerEmulator) -> int:
        # Small socket buffers both ways, so that the kernel cannot absorb the answers.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((broker.host, broker.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        while True:  # the authentication, in lockstep
            writer.write(client.data_to_send())
            await writer.drain()
            client.receive_data(await reader.read(65536))
            if isinstance(client.next_event(), ClientAuthenticated):
                break
        (protocol,) = broker._protocols
        assert protocol._transport is not None
        server_socket = protocol._transport.get_extra_info("socket")
        server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        header = RequestHeader(api_key=3, api_version=1, correlation_id=7, client_id="x")
        writer.write(encode_request(header, MetadataRequest(topics=None)) * 400)  # ~2 MB due
        await writer.drain()
        await asyncio.sleep(1.5)
        buffered = protocol._transport.get_write_buffer_size()
        writer.transport.abort()
        return buffered

    with emulator.running_in_thread() as broker:
        buffered = asyncio.run(run(broker))
    assert buffered < 1024 * 1024, buffered


# --- Hardening (issue 14) ----------------------------------------------------------------


def test_a_client_that_never_authenticates_is_closed_at_the_deadline(recorder: Recorder) -> None:
    emulator = BrokerEmulator(
        UnsecuredJwsValidator(), authentication_timeout_s=0.2, on_authentication=recorder
    )

    async def silent(broker: BrokerEmulator) -> bytes:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        try:
            async with asyncio.timeout(10):
                return await reader.read()  # b"": the emulator closed it
        finally:
            writer.close()

    with emulator.running_in_thread() as broker:
        assert asyncio.run(silent(broker)) == b""
        (record,) = recorder.wait(1)
    assert (record.outcome, record.reason) == ("failed", "authentication-timeout")


def test_the_listen_backlog_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    create_server = socket.create_server

    def recording(*args: Any, **kwargs: Any) -> socket.socket:
        asked.append(kwargs.get("backlog"))
        return create_server(*args, **kwargs)

    monkeypatch.setattr(socket, "create_server", recording)

    async def run() -> int:
        async with BrokerEmulator(UnsecuredJwsValidator(), backlog=4096 * 1024) as broker:
            return broker.backlog

    backlog = asyncio.run(run())
    assert DEFAULT_BACKLOG == 1024
    assert backlog == min(4096 * 1024, socket.SOMAXCONN)  # capped by the OS's maximum
    assert asked == [backlog]
    assert BrokerEmulator(UnsecuredJwsValidator()).backlog == min(1024, socket.SOMAXCONN)


async def authenticated_stream(
    broker: BrokerEmulator, token: str, **extra: object
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection authenticated by our client connection, in lockstep."""
    from oauthbearer.kafka import KafkaClientConnection

    client = KafkaClientConnection(token, **extra)  # type: ignore[arg-type]
    client.initiate()
    reader, writer = await asyncio.open_connection(broker.host, broker.port)
    while True:
        writer.write(client.data_to_send())
        await writer.drain()
        client.receive_data(await reader.read(65536))
        event = client.next_event()
        if isinstance(event, ClientAuthenticated):
            return reader, writer
        assert not isinstance(event, ClientAuthenticationFailed), event


def test_a_large_request_after_authentication_is_refused_by_its_size(
    broker: BrokerEmulator, recorder: Recorder
) -> None:
    # Kafka's 100 MiB would let one Metadata request hold the loop for seconds.
    assert EMULATOR_MAX_REQUEST_SIZE == 1_048_576

    async def run() -> bytes:
        reader, writer = await authenticated_stream(broker, unsecured())
        writer.write((EMULATOR_MAX_REQUEST_SIZE + 1).to_bytes(4, "big"))
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
        return answer

    assert asyncio.run(run()) == b""
    granted, refused = recorder.wait(2)
    assert granted.ok
    assert (refused.outcome, refused.reason) == ("failed", "malformed-frame")
    assert "exceeds max_frame_size 1048576" in (refused.message or "")


def test_no_peer_value_can_forge_a_log_line(
    broker: BrokerEmulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # The principal comes from the token's sub claim; a newline in it used to
    # reach the log as is in the line about an unserved request.
    caplog.set_level(logging.INFO, logger="oauthbearer.kafka.broker")
    forged = "alice\n2024-01-01 INFO authenticated principal='admin'"

    async def run() -> bytes:
        reader, writer = await authenticated_stream(broker, unsecured(forged))
        produce = b"\x00\x00\x00\x03\x00\x00\x00\x09\xff\xff"  # Produce v3, not served
        writer.write(len(produce).to_bytes(4, "big") + produce)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
        return answer

    assert asyncio.run(run()) == b""
    recorder.wait(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "oauthbearer.kafka.broker"]
    unserved = [line for line in lines if "does not serve" in line]
    assert unserved, lines
    for line in lines:
        assert "\n" not in line, line
    assert "alice\\x0a2024-01-01" in unserved[0]


def test_extensions_are_logged_as_a_bounded_summary(
    broker: BrokerEmulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oauthbearer.kafka.broker")
    extensions = {f"ext{chr(97 + n // 26)}{chr(97 + n % 26)}": "v" * 2000 for n in range(60)}
    outcome = run_auth(broker, unsecured(), extensions=extensions)
    assert isinstance(outcome, ClientAuthenticated)
    (record,) = recorder.wait(1)
    assert len(record.extensions) == 60  # the record keeps them all
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("authenticated")]
    assert "extensions=60 {extaa='" in line
    assert len(line) < 1500, len(line)


def test_repeated_log_lines_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="oauthbearer.kafka.broker")
    now = [1_700_000_000.0]
    records = Recorder()
    emulator = BrokerEmulator(
        UnsecuredJwsValidator(),
        clock=lambda: now[0],
        failed_authentication_delay_s=0.0,
        on_authentication=records,
    )
    # Metadata before the handshake: refused at once, one warning each.
    body = b"\x00\x03\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff"
    frame = len(body).to_bytes(4, "big") + body
    extra = 5
    with emulator.running_in_thread() as broker:
        for _ in range(LOG_LINES_PER_WINDOW + extra):
            raw_exchange(broker, frame)
        records.wait(LOG_LINES_PER_WINDOW + extra)
        now[0] += LOG_WINDOW_S
        raw_exchange(broker, frame)
        records.wait(LOG_LINES_PER_WINDOW + extra + 1)
    assert len(records.records) == LOG_LINES_PER_WINDOW + extra + 1  # every record, still
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == LOG_LINES_PER_WINDOW + 1
    assert warnings[-1].endswith(f"({extra} similar lines left out)")


# --- What all clients together may hold (issue 14, finding 4) ------------------------------

API_VERSIONS_V0 = b"\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x07\x00\x04test"


async def answered(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float
) -> bool:
    """Whether an ApiVersions v0 request on this connection gets an answer in time."""
    writer.write(API_VERSIONS_V0)
    await writer.drain()
    try:
        async with asyncio.timeout(timeout_s):
            return len(await reader.read(4)) == 4
    except TimeoutError:
        return False


async def connect_from(
    broker: BrokerEmulator, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(broker.host, broker.port, local_addr=(source, 0))


def test_past_max_connections_new_ones_wait_until_one_closes() -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator(), max_connections=3)

    async def run() -> None:
        async with emulator:
            first = [await connect_from(emulator, f"127.0.0.{i}") for i in (2, 3, 4)]
            for reader, writer in first:
                assert await answered(reader, writer, 5)
            waiting = await connect_from(emulator, "127.0.0.5")  # queued by the kernel
            assert not await answered(*waiting, 0.3)
            first[0][1].close()
            assert await answered(waiting[0], waiting[1], 5)  # the freed slot serves it
            for _, writer in (*first[1:], waiting):
                writer.close()

    asyncio.run(run())


def test_one_address_gets_at_most_its_share(caplog: pytest.LogCaptureFixture) -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator(), max_connections_per_address=2)

    async def run() -> None:
        async with emulator:
            mine = [await connect_from(emulator, "127.0.0.2") for _ in range(2)]
            extra = await connect_from(emulator, "127.0.0.2")
            async with asyncio.timeout(5):
                assert await extra[0].read() == b""  # closed as soon as accepted
            other = await connect_from(emulator, "127.0.0.3")
            assert await answered(*other, 5)
            mine[0][1].close()
            await asyncio.sleep(0.1)
            again = await connect_from(emulator, "127.0.0.2")
            assert await answered(*again, 5)
            for _, writer in (*mine, extra, other, again):
                writer.close()

    with caplog.at_level(logging.WARNING, "oauthbearer.kafka.broker"):
        asyncio.run(run())
    assert "refused a connection from 127.0.0.2: it has 2 open" in caplog.text


def test_partial_frames_share_one_buffer_budget(caplog: pytest.LogCaptureFixture) -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator(), max_buffered_bytes=100_000)
    # A SaslHandshake frame announced at 500,000 bytes (under the 512 KiB limit),
    # of which each client sends 60,000.
    partial = (500_000).to_bytes(4, "big") + b"\x00\x11\x00\x01" + b"x" * 59_996

    async def run() -> None:
        async with emulator:
            first = await connect_from(emulator, "127.0.0.2")
            first[1].write(partial)
            await first[1].drain()
            await asyncio.sleep(0.2)
            second = await connect_from(emulator, "127.0.0.3")
            second[1].write(partial)
            await second[1].drain()
            async with asyncio.timeout(5):
                assert await second[0].read() == b""  # its bytes would pass the budget
            first[1].write(b"x" * 10)  # the first one is still served
            await first[1].drain()
            fresh = await connect_from(emulator, "127.0.0.4")
            assert await answered(*fresh, 5)
            for writer in (first[1], second[1], fresh[1]):
                writer.close()

    with caplog.at_level(logging.WARNING, "oauthbearer.kafka.broker"):
        asyncio.run(run())
    assert "would pass the emulator's buffer budget" in caplog.text


def test_a_silent_unauthenticated_connection_is_closed_early() -> None:
    emulator = BrokerEmulator(UnsecuredJwsValidator(), pre_authentication_idle_s=0.2)

    async def run() -> None:
        async with emulator:
            silent = await connect_from(emulator, "127.0.0.2")
            authenticated = await authenticated_stream(emulator, unsecured())
            async with asyncio.timeout(5):
                assert await silent[0].read() == b""
            await asyncio.sleep(0.4)  # twice the short limit: the authenticated one stays
            assert await answered(*authenticated, 5)
            for writer in (silent[1], authenticated[1]):
                writer.close()

    asyncio.run(run())


def test_running_out_of_descriptors_pauses_accepting_and_says_so_once() -> None:
    # The hogs live in this process, the emulator in a child whose descriptor
    # limit is 64: the child, not the test, runs out.
    child = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", CHILD_EMULATOR],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = ""
        while not line.startswith("PORT"):
            line = child.stdout.readline()
            assert line, "the child emulator did not start"
        port = int(line.split()[-1])
        hogs = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        time.sleep(1.5)
        for hog in hogs:
            hog.close()
        time.sleep(1.0)
        outcome = asyncio.run(asyncio.wait_for(authenticate("127.0.0.1", port, unsecured()), 10))
        assert isinstance(outcome, ClientAuthenticated)
    finally:
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=20)
    assert output.count("out of file descriptors") == 1, output
    assert "accepting connections again" in output
    assert "Traceback" not in output


CHILD_EMULATOR = """
import asyncio, logging, resource, signal, sys
from oauthbearer import UnsecuredJwsValidator
from oauthbearer.kafka.broker import BrokerEmulator

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

async def main():
    broker = BrokerEmulator(UnsecuredJwsValidator(), backlog=256)
    await broker.start()
    print("PORT", broker.port, flush=True)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, broker.stop)
    await broker.serve_forever()

asyncio.run(main())
"""
