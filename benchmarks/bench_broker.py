"""Kafka SASL OAUTHBEARER authentications per second against the broker emulator,
over loopback, and the server's memory per authenticated connection.

The emulator runs in its own process (``oauthbearer broker``), so that it has a
core to itself and its cost is not mixed with the load generator's. The load
generator (this process) keeps 64 connections in flight, each a complete
authentication: connect, ApiVersions, SaslHandshake, SaslAuthenticate, close.
It replays the requests of our ``KafkaClientConnection`` (recorded once, after a
real authentication proves the broker grants the token) in lockstep, and checks
each connection's final answer, so that it costs less than the broker it loads.
It runs with Kafka's unsecured tokens and with RS256 tokens against a JWKS file,
the latter also with the verified-token cache on (``--cache-size``: the replayed
token is verified once, then found in the cache).
The baseline, measured in the same run with the same concurrency, is a bare
connection to an asyncio server that answers one 4-byte frame: a rate with no
Kafka and no SASL in it, which shows what the authentication itself costs.

The anchor: the real Apache Kafka broker (tests/real_kafka.py: its jars from
tests/interop/kafka/lib, a JDK), started in the same run on the same machine,
under the same load generator replaying the same requests, with the same
validator kinds: Kafka's default unsecured validator on one listener, and
``OAuthBearerValidatorCallbackHandler`` against the same JWKS file (a
``file:`` URL) on another. Its rates are printed beside ours, for information:
no target depends on them. Quick mode leaves it out (a JVM takes 10-20 s to
start) unless ``--kafka`` is given; ``--no-kafka`` leaves it out of a full run.

Memory: 2,000 server connections are driven through authentication in
memory (the pure ``KafkaServerConnection``, a client's recorded bytes) and kept;
tracemalloc measures what they hold, per connection.

Targets (docs/broker.md): at least 2,000 authentications per second with
unsecured tokens, and at most 1 KiB of state per authenticated connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from harness import Server, environment_line, server

from oauthbearer import OAuthBearerToken, ServerSession, UnsecuredJwsValidator
from oauthbearer.kafka import (
    NEED_DATA,
    ApiKey,
    ClientAuthenticated,
    Frame,
    KafkaClientConnection,
    KafkaFrameDecoder,
    KafkaServerConnection,
    SaslAuthenticateResponse,
    ServerAuthenticated,
    decode_response,
)
from oauthbearer.kafka.aio import authenticate
from oauthbearer.session import TokenReceived
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Target: complete authentications per second with unsecured tokens.
MIN_AUTHENTICATIONS_PER_S: Final = 2_000.0
#: Target: bytes of server state per authenticated connection.
MAX_BYTES_PER_CONNECTION: Final = 1_024


@dataclass(frozen=True, slots=True)
class Mode:
    seconds: float
    warmup_s: float
    concurrency: int
    connections: int


FULL: Final = Mode(seconds=5.0, warmup_s=1.0, concurrency=64, connections=2_000)
QUICK: Final = Mode(seconds=0.5, warmup_s=0.2, concurrency=16, connections=200)
#: The JVM compiles its hot paths in the first seconds: Kafka's warm-up is longer.
KAFKA_WARMUP_S: Final = 5.0
#: The RS256 token's audience and issuer, which both brokers check (Kafka 4.4
#: refuses to start a JWT validator that checks neither).
AUDIENCE: Final = "bench-cluster"
ISSUER: Final = "https://idp.bench.example"
#: The verified-token cache's size for the cached load (``--cache-size``).
CACHE_SIZE: Final = 10_000


# --- fixtures ---------------------------------------------------------------------------------


def unsecured_token() -> str:
    options = {"unsecuredLoginStringClaim_sub": "bench", "unsecuredLoginLifetimeSeconds": "86400"}
    return kafka_unsecured_login(options, now=time.time()).token.value


def rs256_fixture(folder: Path) -> tuple[str, Path]:
    """A 2048-bit RSA key's JWKS file, and an RS256 token it verifies."""
    import jwt  # only this fixture needs pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench", "alg": "RS256", "use": "sig"})
    path = folder / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    now = int(time.time())
    claims = {"sub": "bench", "iat": now, "exp": now + 86_400, "scope": "kafka", "aud": AUDIENCE}
    claims["iss"] = ISSUER
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    return token, path


#: The baseline server: answers one size-prefixed frame with a 4-byte frame.
BARE_SERVER: Final = """
import asyncio

async def handle(reader, writer):
    try:
        size = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(size)
        writer.write(b"\\x00\\x00\\x00\\x04ok!!")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


async def bare_connection(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x00\x00\x00\x04ping")
        await writer.drain()
        await reader.readexactly(8)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class _Replay(asyncio.Protocol):
    """One authentication, replaying a recorded client's requests in lockstep:
    each request goes out when the previous one's response has come in, as a real
    client sends them. The broker does all of its work; the load generator only
    counts frames and checks the last answer, so that it stays cheaper than the
    broker it loads."""

    def __init__(self, requests: list[bytes], done: asyncio.Future[None]) -> None:
        self._requests = requests
        self._next = 0
        self._done = done
        self._decoder = KafkaFrameDecoder()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._send_next()

    def _send_next(self) -> None:
        assert self._transport is not None
        self._transport.write(self._requests[self._next])
        self._next += 1

    def data_received(self, data: bytes) -> None:
        self._decoder.receive_data(data)
        while isinstance(frame := self._decoder.next_event(), Frame):
            if self._next < len(self._requests):
                self._send_next()
                continue
            _, answer = decode_response(
                frame, api_key=ApiKey.SASL_AUTHENTICATE, api_version=AUTHENTICATE_VERSION
            )
            assert isinstance(answer, SaslAuthenticateResponse)
            if answer.error_code or answer.auth_bytes:
                self._done.set_exception(SystemExit(f"the broker refused the token: {answer}"))
            else:
                self._done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_exception(ConnectionError("the broker closed the connection"))


#: The SaslAuthenticate version our client settles on with the emulator (v2).
AUTHENTICATE_VERSION: Final = 2


async def kafka_authentication(port: int, requests: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _Replay(requests, done), "127.0.0.1", port)
    try:
        await done
    finally:
        transport.close()


async def checked_requests(port: int, token: str) -> list[bytes]:
    """The requests to replay: a real authentication first proves the broker
    grants the token, then the client's frames are recorded."""
    outcome = await authenticate("127.0.0.1", port, token)
    if not isinstance(outcome, ClientAuthenticated):
        raise SystemExit(f"the broker refused the benchmark's token: {outcome}")
    return request_frames(token)


# --- the load ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """Completed calls per second, and the share of a core the server used meanwhile."""

    per_s: float
    server_cpu: float | None

    @property
    def per_server_core_s(self) -> float | None:
        """Calls per second of the server's CPU: what one core of its own would serve."""
        return None if not self.server_cpu else self.per_s / self.server_cpu


async def rate(once: Callable[[], Awaitable[None]], target: Server, mode: Mode) -> Rate:
    """Completed calls per second with ``mode.concurrency`` in flight, after a warm-up."""
    counted = 0
    counting = False
    stop = False

    async def worker() -> None:
        nonlocal counted
        while not stop:
            await once()
            if counting:
                counted += 1

    workers = [asyncio.create_task(worker()) for _ in range(mode.concurrency)]
    await asyncio.sleep(mode.warmup_s)
    counting = True
    cpu_before = target.cpu_s()
    started = time.perf_counter()
    await asyncio.sleep(mode.seconds)
    counting = False
    elapsed = time.perf_counter() - started
    cpu_after = target.cpu_s()
    stop = True
    await asyncio.gather(*workers)
    share = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / elapsed
    return Rate(counted / elapsed, share)


def measure_rates(mode: Mode, *, kafka: bool) -> tuple[dict[str, Rate], str]:
    """Every load's rate; and the real Kafka broker's version, or why it was not run."""
    rates: dict[str, Rate] = {}
    with server("-c", BARE_SERVER) as bare:
        rates["bare"] = asyncio.run(rate(lambda: bare_connection(bare.port), bare, mode))
    broker = ["-m", "oauthbearer", "broker", "--listen", "127.0.0.1:0", "--log-level", "warning"]
    token = unsecured_token()
    with server(*broker) as emulator:
        frames = asyncio.run(checked_requests(emulator.port, token))
        rates["unsecured"] = asyncio.run(
            rate(lambda: kafka_authentication(emulator.port, frames), emulator, mode)
        )
    with tempfile.TemporaryDirectory() as folder:
        signed, jwks = rs256_fixture(Path(folder))
        for key, extra in (("rs256", ()), ("rs256-cached", ("--cache-size", str(CACHE_SIZE)))):
            with server(
                *broker, "--jwks", str(jwks), "--audience", AUDIENCE, "--issuer", ISSUER, *extra
            ) as emulator:
                frames = asyncio.run(checked_requests(emulator.port, signed))
                rates[key] = asyncio.run(
                    rate(
                        functools.partial(kafka_authentication, emulator.port, frames),
                        emulator,
                        mode,
                    )
                )
        kafka_version = "not run (quick mode; --kafka runs it)" if not kafka else ""
        if kafka:
            kafka_version = kafka_rates(rates, mode, token, signed, jwks)
    return rates, kafka_version


# --- the anchor: the real Kafka broker --------------------------------------------------------


def kafka_rates(rates: dict[str, Rate], mode: Mode, token: str, signed: str, jwks: Path) -> str:
    """The real Kafka broker's rates, added to ``rates`` as ``kafka-unsecured`` and
    ``kafka-rs256``; its version, or why it could not run."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import shutil

    from tests.real_kafka import LIB_DIR, KafkaBroker, jaas_module, selected_version

    version = selected_version()
    if not (LIB_DIR / version / f"kafka_2.13-{version}.jar").is_file():
        return f"not run: Apache Kafka {version}'s jars are not in {LIB_DIR / version}"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "not run: no JDK (java) found"
    jwks_url = jwks.resolve().as_uri()
    validator = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
    properties = {
        "listener.name.unsecured.oauthbearer.sasl.jaas.config": jaas_module(
            unsecuredLoginStringClaim_sub="broker"
        ),
        "listener.name.jwt.oauthbearer.sasl.jaas.config": jaas_module(),
        "listener.name.jwt.oauthbearer.sasl.server.callback.handler.class": validator,
        "listener.name.jwt.sasl.oauthbearer.jwks.endpoint.url": jwks_url,
        "listener.name.jwt.sasl.oauthbearer.expected.audience": AUDIENCE,
        "listener.name.jwt.sasl.oauthbearer.expected.issuer": ISSUER,
    }
    for listener in ("unsecured", "jwt"):
        properties[f"listener.name.{listener}.sasl.enabled.mechanisms"] = "OAUTHBEARER"
    kafka = KafkaBroker(
        version=version,
        listeners={"UNSECURED": "SASL_PLAINTEXT", "JWT": "SASL_PLAINTEXT"},
        properties=properties,
        jvm_properties={"org.apache.kafka.sasl.oauthbearer.allowed.urls": jwks_url},
    )
    warm = Mode(mode.seconds, max(mode.warmup_s, KAFKA_WARMUP_S), mode.concurrency, 0)
    try:
        kafka.start()
        assert kafka.pid is not None
        for key, listener, credential in (
            ("kafka-unsecured", "UNSECURED", token),
            ("kafka-rs256", "JWT", signed),
        ):
            target = Server(kafka.ports[listener], kafka.pid)
            frames = asyncio.run(checked_requests(target.port, credential))
            rates[key] = asyncio.run(
                rate(functools.partial(kafka_authentication, target.port, frames), target, warm)
            )
    finally:
        kafka.stop()
        kafka.cleanup(keep_log=False)
    return version


# --- memory -----------------------------------------------------------------------------------


def client_bytes(token: str) -> bytes:
    """What our client sends to authenticate with ``token``, recorded against a
    server connection in pure mode that grants whatever token arrives (whether
    the emulator grants it is checked over the network, by ``checked_requests``)."""
    server_side = KafkaServerConnection(lambda: ServerSession(dialect="kafka"))
    client = KafkaClientConnection(token)
    client.initiate()
    sent = bytearray()
    forever_ms = int(time.time() * 1000) + 86_400_000
    while True:
        data = client.data_to_send()
        sent += data
        server_side.receive_data(data, now=time.time())
        while (event := server_side.next_event()) is not NEED_DATA:
            if isinstance(event, TokenReceived):
                granted = OAuthBearerToken(value=token, principal="bench", lifetime_ms=forever_ms)
                server_side.accept(granted)
        client.receive_data(server_side.data_to_send())
        outcome = client.next_event()
        if isinstance(outcome, ClientAuthenticated):
            return bytes(sent)
        if outcome is not NEED_DATA:
            raise SystemExit(f"recording the client's bytes failed: {outcome}")


def request_frames(token: str) -> list[bytes]:
    """``client_bytes`` cut into its size-prefixed requests."""
    decoder = KafkaFrameDecoder()
    decoder.receive_data(client_bytes(token))
    frames = []
    while isinstance(frame := decoder.next_event(), Frame):
        frames.append(len(frame.data).to_bytes(4, "big") + frame.data)
    return frames


def bytes_per_connection(count: int) -> float:
    """tracemalloc's count of what ``count`` authenticated connections hold, each."""
    token = unsecured_token()
    stream = client_bytes(token)
    validator = UnsecuredJwsValidator()

    def session() -> ServerSession:
        return ServerSession(validator, dialect="kafka")

    now = time.time()
    kept: list[KafkaServerConnection] = []
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(count):
        connection = KafkaServerConnection(session)
        connection.receive_data(stream, now=now)
        authenticated = False
        while (event := connection.next_event()) is not NEED_DATA:
            authenticated = authenticated or isinstance(event, ServerAuthenticated)
        if not authenticated:
            raise SystemExit("a connection did not authenticate")
        connection.data_to_send()
        kept.append(connection)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The list's own slots are the benchmark's, not the connections'.
    held -= sys.getsizeof(kept)
    return held / count


# --- report -----------------------------------------------------------------------------------


def _number(value: float | None, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.0f}{suffix}"


#: Each load's label in the report (report.py prints the same).
LABELS: Final = {
    "bare": "bare TCP connection, one 4-byte frame each way (baseline)",
    "unsecured": "complete authentication, unsecured token",
    "rs256": "complete authentication, RS256 token (JWKS file)",
    "rs256-cached": "complete authentication, RS256 token, verified-token cache on",
    "kafka-unsecured": "Apache Kafka {version}: complete authentication, unsecured token",
    "kafka-rs256": "Apache Kafka {version}: complete authentication, RS256 token (JWKS file)",
}
#: Ours beside the real broker's: (our load, Kafka's load).
ANCHORS: Final = (("unsecured", "kafka-unsecured"), ("rs256", "kafka-rs256"))


def report(
    rates: dict[str, Rate], per_connection: float, mode: Mode, kafka: str
) -> tuple[str, bool]:
    unsecured = rates["unsecured"]
    capacity = unsecured.per_server_core_s
    met_rate = unsecured.per_s >= MIN_AUTHENTICATIONS_PER_S
    met_memory = per_connection <= MAX_BYTES_PER_CONNECTION
    lines = [
        "# oauthbearer broker emulator: authentications over loopback",
        "",
        environment_line(["cryptography"]),
        (
            f"{os.cpu_count()} CPUs; {mode.concurrency} connections in flight; "
            f"{mode.seconds:g} s per measurement after {mode.warmup_s:g} s of warm-up "
            f"({KAFKA_WARMUP_S:g} s for Kafka's JVM). The load"
        ),
        "generator shares the machine: 'server core' is the share of one core the server",
        "used, and 'per server core-second' what a core of its own would serve.",
        (
            f"The anchor, the real broker: Apache Kafka {kafka}, in the same run, under the "
            "same load."
            if "kafka-unsecured" in rates
            else f"The anchor, the real Kafka broker: {kafka}."
        ),
        "",
        "| load | per second | ratio to a bare connection | server core | per server core-second |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        if key not in rates:
            continue
        measured = rates[key]
        lines.append(
            f"| {label.format(version=kafka)} | {measured.per_s:,.0f} "
            f"| {measured.per_s / rates['bare'].per_s:.2f}x "
            f"| {'n/a' if measured.server_cpu is None else f'{measured.server_cpu:.2f}'} "
            f"| {_number(measured.per_server_core_s)} |"
        )
    anchored = [(ours, theirs) for ours, theirs in ANCHORS if theirs in rates]
    if anchored:
        lines += ["", "Ours beside the real broker (the anchor, not a target):", ""]
        lines += [
            f"- {ours}: {rates[ours].per_s / rates[theirs].per_s:.2f}x Kafka's rate"
            for ours, theirs in anchored
        ]
    lines += [
        "",
        "| target | result | status |",
        "|---|---|---|",
        (
            f"| unsecured authentications per second >= {MIN_AUTHENTICATIONS_PER_S:,.0f} "
            f"| {unsecured.per_s:,.0f} ({_number(capacity)} per server core-second) "
            f"| {'met' if met_rate else 'MISSED'} |"
        ),
        (
            f"| server state per authenticated connection <= {MAX_BYTES_PER_CONNECTION} B "
            f"| {per_connection:,.0f} B | {'met' if met_memory else 'MISSED'} |"
        ),
    ]
    return "\n".join(lines), met_rate and met_memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for the smoke test")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    anchor = parser.add_mutually_exclusive_group()
    anchor.add_argument(
        "--kafka", action="store_true", help="measure the real Kafka broker in quick mode too"
    )
    anchor.add_argument(
        "--no-kafka", action="store_true", help="leave the real Kafka broker out of a full run"
    )
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    with_kafka = args.kafka or not (args.quick or args.no_kafka)
    rates, kafka = measure_rates(mode, kafka=with_kafka)
    per_connection = bytes_per_connection(mode.connections)
    text, met = report(rates, per_connection, mode, kafka)
    print(text)
    if args.json is not None:
        document: dict[str, Any] = {
            "mode": "quick" if args.quick else "full",
            "concurrency": mode.concurrency,
            "per_second": {key: measured.per_s for key, measured in rates.items()},
            "server_cpu": {key: measured.server_cpu for key, measured in rates.items()},
            # The real broker's version when its loads ran ("kafka-*"), else why not.
            "kafka": kafka,
            "bytes_per_connection": per_connection,
            "targets_met": met,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
