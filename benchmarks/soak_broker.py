"""The broker emulator under every hostile client at once, while a good one
authenticates: its latency and the emulator's peak memory (a soak test).

The emulator runs in its own process (``oauthbearer broker``, default limits,
logging at INFO). One attacker process, from one client address (127.0.0.3),
runs every attack that the hardening review found (issue 14) at once, each in a
loop, for the whole soak:

* ``tagged-fields``: ApiVersions v3 frames of about 500 KB holding tens of
  thousands of empty tagged fields;
* ``preauth-metadata``: a SaslHandshake, then a Metadata v1 naming 250,000
  empty topics before authenticating;
* ``large-request``: authenticate, then announce a 4 MB Metadata request;
* ``partial-frames``: announce a 512 KiB - 1 frame, send 500 KB of it, and hold
  the connection;
* ``idle``: connect and say nothing;
* ``extensions``: authenticate with 2,000 extensions (a log flood);
* ``authzid``: a 40,000-character authzid that is not the principal;
* ``log-injection``: a principal holding a newline and a forged log line.

Meanwhile the good client (127.0.0.2) authenticates in a loop with an unsecured
token, one complete authentication at a time (connect, ApiVersions,
SaslHandshake, SaslAuthenticate, close), and records each one's latency. The
baseline is the same client against the same emulator with no attacker, in the
same run, just before.

Targets (issue 14): the good client's p99 latency under attack at most 50 ms,
and the emulator's peak resident memory at most 256 MB. Run from the
repository root::

    python benchmarks/soak_broker.py             # 60 s of attack
    python benchmarks/soak_broker.py --quick     # 3 s, for the smoke test
    python benchmarks/soak_broker.py --json soak.json --check

Every loop is bounded in time (the soak's length) and in connections (the
attacker keeps at most :data:`ATTACK_CONCURRENCY` of each kind in flight), and
every socket goes to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import resource
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from harness import Server, environment_line, server

from oauthbearer import ClientSession
from oauthbearer.kafka import (
    ClientAuthenticated,
    ClientAuthenticationFailed,
    KafkaClientConnection,
)
from oauthbearer.kafka.aio import authenticate
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Target: the good client's 99th-percentile authentication latency under attack.
MAX_P99_S: Final = 0.050
#: Target: the emulator's peak resident memory.
MAX_PEAK_RSS_BYTES: Final = 256 * 1024 * 1024
GOOD_CLIENT: Final = "127.0.0.2"
ATTACKER: Final = "127.0.0.3"
#: Connections of each attack kind in flight at once.
ATTACK_CONCURRENCY: Final = {
    "tagged-fields": 8,
    "preauth-metadata": 4,
    "large-request": 4,
    "partial-frames": 160,
    "idle": 64,
    "extensions": 4,
    "authzid": 4,
    "log-injection": 2,
}
#: The bound on one attack connection, whatever the emulator does.
ATTACK_CONNECTION_S: Final = 15.0


@dataclass(frozen=True, slots=True)
class Mode:
    baseline_s: float
    soak_s: float


FULL: Final = Mode(baseline_s=5.0, soak_s=60.0)
QUICK: Final = Mode(baseline_s=1.0, soak_s=3.0)


# --- Wire bytes the attacks send -------------------------------------------------------


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sized(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def tagged_fields_frame(budget: int = 500_000) -> bytes:
    """ApiVersions v3 whose header holds as many empty tagged fields as fit."""
    fields = bytearray()
    count = 0
    while len(fields) < budget:
        fields += uvarint(count) + b"\x00"
        count += 1
    header = struct.pack(">hhi", 18, 3, 1) + b"\x00\x06attack"
    return sized(header + uvarint(count) + bytes(fields) + b"\x00\x00\x00")


def handshake_frame() -> bytes:
    header = struct.pack(">hhi", 17, 1, 1) + b"\x00\x06attack"
    return sized(header + b"\x00\x0bOAUTHBEARER")


def many_topics_frame(topics: int = 250_000) -> bytes:
    header = struct.pack(">hhi", 3, 1, 2) + b"\x00\x06attack"
    return sized(header + topics.to_bytes(4, "big") + b"\x00\x00" * topics)


def authenticate_frame(auth_bytes: bytes) -> bytes:
    """SaslAuthenticate v1 carrying ``auth_bytes`` as they are (no encoder checks)."""
    header = struct.pack(">hhi", 36, 1, 2) + b"\x00\x06attack"
    return sized(header + len(auth_bytes).to_bytes(4, "big") + auth_bytes)


def unsecured(sub: str = "good") -> str:
    options = {"unsecuredLoginStringClaim_sub": sub, "unsecuredLoginLifetimeSeconds": "86400"}
    return kafka_unsecured_login(options, now=time.time()).token.value


def extension_names(count: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(p) for p in itertools.islice(itertools.product(letters, repeat=3), count)]


# --- The attacker process -----------------------------------------------------------------


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))


async def _drain_until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(65_536):
        pass


async def _send_and_wait(port: int, *frames: bytes) -> None:
    reader, writer = await _open(port)
    try:
        for frame in frames:
            writer.write(frame)
            await writer.drain()
        await _drain_until_closed(reader)
    finally:
        writer.close()


async def _authenticated(
    port: int, session: ClientSession | str, extensions: dict[str, str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
    client = KafkaClientConnection(session, extensions=extensions)
    client.initiate()
    reader, writer = await _open(port)
    while True:
        writer.write(client.data_to_send())
        await writer.drain()
        data = await reader.read(65_536)
        client.receive_data(data)
        event = client.next_event()
        if isinstance(event, ClientAuthenticated):
            return reader, writer, True
        if not data or isinstance(event, ClientAuthenticationFailed):
            return reader, writer, False


def attacks(port: int) -> dict[str, Callable[[], Awaitable[None]]]:
    tagged = tagged_fields_frame()
    handshake = handshake_frame()
    topics = many_topics_frame()
    token = unsecured("attacker")
    partial = (512 * 1024 - 1).to_bytes(4, "big") + b"\x00\x11\x00\x01" + b"x" * 500_000
    names = extension_names(2_000)

    async def large_request() -> None:
        reader, writer, ok = await _authenticated(port, token)
        try:
            if ok:
                writer.write(
                    (4_000_000).to_bytes(4, "big") + b"\x00\x03\x00\x01" + b"\x00" * 65_536
                )
                await writer.drain()
            await _drain_until_closed(reader)
        finally:
            writer.close()

    async def hold(data: bytes) -> None:
        reader, writer = await _open(port)
        try:
            writer.write(data)
            await writer.drain()
            await _drain_until_closed(reader)
        finally:
            writer.close()

    async def extensions() -> None:
        # Kafka's dialect takes any number of extensions (our encoder sends at
        # most 64), so the message is written by hand.
        pairs = b"".join(f"{name}=v{'v' * 199}\x01".encode() for name in names)
        message = f"n,,\x01auth=Bearer {token}\x01".encode() + pairs + b"\x01"
        reader, writer = await _open(port)
        try:
            writer.write(handshake + authenticate_frame(message))
            await writer.drain()
            for _ in range(2):  # the two answers, then let go
                await asyncio.wait_for(reader.read(65_536), 5)
        finally:
            writer.close()

    async def authzid() -> None:
        _, writer, _ = await _authenticated(port, ClientSession(token, authzid="z" * 40_000))
        writer.close()

    async def log_injection() -> None:
        forged = unsecured(
            "mallory\nINFO oauthbearer.kafka.broker: authenticated principal='admin'"
        )
        _, writer, _ = await _authenticated(port, forged)
        writer.close()

    return {
        "tagged-fields": lambda: _send_and_wait(port, tagged),
        "preauth-metadata": lambda: _send_and_wait(port, handshake, topics),
        "large-request": large_request,
        "partial-frames": lambda: hold(partial),
        "idle": lambda: hold(b""),
        "extensions": extensions,
        "authzid": authzid,
        "log-injection": log_injection,
    }


async def attack(port: int, seconds: float) -> dict[str, int]:
    """Run every attack in loops until ``seconds`` have passed; how many of each ran."""
    deadline = time.monotonic() + seconds
    counts = dict.fromkeys(ATTACK_CONCURRENCY, 0)
    kinds = attacks(port)

    async def loop(kind: str) -> None:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                left = max(deadline - time.monotonic(), 0.1)
                async with asyncio.timeout(min(ATTACK_CONNECTION_S, left)):
                    await kinds[kind]()
            counts[kind] += 1

    await asyncio.gather(*(loop(kind) for kind, n in ATTACK_CONCURRENCY.items() for _ in range(n)))
    return counts


# --- The good client ------------------------------------------------------------------------


async def good_client(port: int, seconds: float) -> tuple[list[float], int]:
    """Authenticate in a loop for ``seconds``: each latency, and the failures."""
    token = unsecured()
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(10):
                outcome = await authenticate("127.0.0.1", port, token, local_addr=(GOOD_CLIENT, 0))
        except (OSError, TimeoutError):
            failures += 1
            continue
        if isinstance(outcome, ClientAuthenticated):
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1
    return latencies, failures


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    latencies: list[float]
    failures: int

    def summary(self) -> dict[str, float | int]:
        lat = self.latencies or [float("nan")]
        return {
            "authentications": len(self.latencies),
            "failures": self.failures,
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(quantile(lat, 0.99) * 1000, 2),
            "max_ms": round(max(lat) * 1000, 2),
        }


def run(mode: Mode, mode_name: str) -> dict[str, object]:
    with server("-m", "oauthbearer", "broker", "--listen", "127.0.0.1:0") as emulator:
        baseline = Phase(*asyncio.run(good_client(emulator.port, mode.baseline_s)))
        attacker = subprocess.Popen(  # noqa: S603 - this script, as the attacker
            [sys.executable, __file__, "--attacker", str(emulator.port), str(mode.soak_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        soak = Phase(*asyncio.run(good_client(emulator.port, mode.soak_s)))
        out, _ = attacker.communicate(timeout=mode.soak_s + 60)
        counts = json.loads(out.strip().splitlines()[-1])
        peak = _peak(emulator)
    met = (
        bool(soak.latencies)
        and quantile(soak.latencies, 0.99) <= MAX_P99_S
        and peak is not None
        and peak <= MAX_PEAK_RSS_BYTES
    )
    return {
        "mode": mode_name,
        "environment": environment_line(["cryptography"]),
        "baseline": baseline.summary(),
        "soak": soak.summary(),
        "attacks": counts,
        "peak_rss_bytes": peak,
        "targets": {"p99_ms": MAX_P99_S * 1000, "peak_rss_bytes": MAX_PEAK_RSS_BYTES},
        "targets_met": met,
    }


def _peak(emulator: Server) -> int | None:
    return emulator.peak_rss_bytes()


def report(document: dict[str, object]) -> str:
    baseline = document["baseline"]
    soak = document["soak"]
    assert isinstance(baseline, dict)
    assert isinstance(soak, dict)
    peak = document["peak_rss_bytes"]
    lines = [
        f"# Broker emulator soak ({document['mode']})",
        "",
        str(document["environment"]),
        "",
        "| phase | authentications | failures | p50 ms | p99 ms | max ms |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, phase in (("alone", baseline), ("under every attack", soak)):
        lines.append(
            f"| {name} | {phase['authentications']} | {phase['failures']} | "
            f"{phase['p50_ms']} | {phase['p99_ms']} | {phase['max_ms']} |"
        )
    lines += [
        "",
        f"p99 under attack / alone: {soak['p99_ms'] / max(baseline['p99_ms'], 1e-9):.2f}x",
        f"emulator peak RSS: {peak / 2**20:.1f} MiB" if isinstance(peak, int) else "peak RSS: n/a",
        "attack connections run: "
        + ", ".join(f"{k} {v}" for k, v in dict(document["attacks"]).items()),  # type: ignore[call-overload]
        "",
        f"targets: p99 <= {MAX_P99_S * 1000:.0f} ms, "
        f"peak RSS <= {MAX_PEAK_RSS_BYTES // 2**20} MiB: "
        + ("met" if document["targets_met"] else "MISSED"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s of attack (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--attacker", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attacker:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        counts = asyncio.run(attack(int(args.attacker[0]), float(args.attacker[1])))
        print(json.dumps(counts))
        return 0
    document = run(QUICK if args.quick else FULL, "quick" if args.quick else "full")
    print(report(document))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if args.check and not document["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
