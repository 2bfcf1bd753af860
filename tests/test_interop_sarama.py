"""Sarama (github.com/IBM/sarama, pinned by tests/interop/sarama/go.sum) against the emulator.

``tests/interop/sarama/main.go`` configures a Sarama client for a Kafka
version (``config.Version``) with SASL OAUTHBEARER and a static
``AccessTokenProvider``, lists the topics and a topic's partitions, and prints
one JSON line. ``.ci/run`` builds it (``go build``); here the test builds it
once per session into a temporary folder (Go's build cache makes that quick).

What Sarama 1.62 does, read in its ``broker.go`` and checked here:

* configured for Kafka 2.4 or later it asks ApiVersions v3 first, then runs
  SaslHandshake v1 and SaslAuthenticate, then Metadata at the version its
  ``config.Version`` allows: it needs the emulator's Metadata v5 and later;
* ``sendAndReceiveSASLOAuth`` answers an error challenge with
  ``[]byte(`\\x01`)``: a Go raw string, so the four characters ``\\x01``, not
  the byte %x01. A Kafka broker reads them as a new initial response, which
  does not parse, and answers SASL_AUTHENTICATION_FAILED with its generic
  text; so does the emulator. The broker's JSON status never reaches the
  application, and nothing is granted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Final

import pytest

from oauthbearer import UnsecuredJwsValidator
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.unsecured import kafka_unsecured_login
from tests.peers import missing_peer

SARAMA_DIR: Final = Path(__file__).parent / "interop" / "sarama"
BUILD_HINT: Final = "install Go 1.26+ and run: go -C tests/interop/sarama build ./..."
TOPIC: Final = "orders"
EXTENSIONS: Final = {"traceId": "abc123"}
#: Sarama's dial, read and write timeouts: a refusal surfaces in seconds.
CLIENT_TIMEOUT_MS: Final = 3_000
RUN_TIMEOUT_S: Final = 60.0
BUILD_TIMEOUT_S: Final = 600.0
#: The Kafka versions Sarama is configured for: the oldest the issue asks
#: about (2.x, where Metadata v5+ is sent) and the 4.x line.
KAFKA_VERSIONS: Final = ("2.8.0", "4.0.0")


@pytest.fixture(scope="session")
def sarama_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driver, built from tests/interop/sarama with the pinned modules."""
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None
    )
    if go is None:
        missing_peer("Go", BUILD_HINT)
    assert go is not None
    binary = tmp_path_factory.mktemp("sarama") / "sarama-drive"
    built = subprocess.run(  # noqa: S603 - the Go toolchain on our own module
        [go, "build", "-o", str(binary), "."],
        cwd=SARAMA_DIR,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        check=False,
    )
    if built.returncode != 0:
        missing_peer(f"Sarama (go build failed: {built.stderr[-2000:]})", BUILD_HINT)
    return binary


def token(*, scope: str = "kafka") -> str:
    options = {
        "unsecuredLoginStringClaim_sub": "alice",
        "unsecuredLoginListClaim_scope": f",{scope}",
    }
    return kafka_unsecured_login(options, now=time.time()).token.value


def drive(
    binary: Path, version: str, access_token: str
) -> tuple[dict[str, Any], list[AuthenticationRecord], str, float]:
    """One Sarama run against a fresh emulator: outcome, records, Sarama's log, wall time."""
    records: list[AuthenticationRecord] = []
    emulator = BrokerEmulator(
        UnsecuredJwsValidator(required_scope=("kafka",)),
        topics=(TOPIC,),
        on_authentication=records.append,
    )
    with emulator.running_in_thread() as broker:
        request = {
            "bootstrap": broker.bootstrap,
            "token": access_token,
            "extensions": EXTENSIONS,
            "version": version,
            "topic": TOPIC,
            "timeout_ms": CLIENT_TIMEOUT_MS,
        }
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - our own driver
            [str(binary)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), records, done.stderr, elapsed


@pytest.mark.parametrize("version", KAFKA_VERSIONS)
def test_sarama_authenticates_and_lists_topics(sarama_drive: Path, version: str) -> None:
    outcome, records, log, _ = drive(sarama_drive, version, token())
    assert outcome == {"ok": True, "topics": [TOPIC], "partitions": 1}, log[-3000:]
    assert records
    assert {(r.outcome, r.principal) for r in records} == {("authenticated", "alice")}
    assert all(dict(r.extensions) == EXTENSIONS for r in records)


@pytest.mark.parametrize("version", KAFKA_VERSIONS)
def test_sarama_answers_the_challenge_with_four_characters_and_is_refused(
    sarama_drive: Path, version: str
) -> None:
    outcome, records, _, _ = drive(sarama_drive, version, token(scope="other"))
    assert not outcome["ok"]
    assert (
        "SASL Authentication failed: Authentication failed during authentication due to "
        "invalid credentials with SASL mechanism OAUTHBEARER"
    ) in outcome["error"]
    assert records
    # Its answer to the challenge, the characters "\x01", is a malformed initial response.
    assert {(r.outcome, r.reason) for r in records} == {("failed", "malformed-response")}
