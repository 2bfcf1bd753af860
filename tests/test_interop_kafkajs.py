"""KafkaJS 2.2.4 against the broker emulator, over loopback.

``tests/interop/kafkajs/drive.js`` runs a KafkaJS admin client (connect, then
listTopics) with ``sasl.oauthBearerProvider`` returning the token we mint here,
and prints one JSON line with the outcome; KafkaJS's log goes to stderr as JSON
lines. Install it with ``npm ci --prefix tests/interop/kafkajs``.

What KafkaJS 2.2.4 does, read in its ``src/`` and checked here:

* ``protocol/sasl/oauthBearer/request.js`` writes
  ``n,<authzid>,\\x01auth=Bearer <token>[\\x01k=v...]\\x01\\x01`` with the
  provider's ``extensions`` in object order. With
  ``sasl.authorizationIdentity`` set, the authzid is ``"a=NAME`` (a stray
  double quote): not GS2, so the broker refuses the message.
* ``protocol/sasl/oauthBearer/response.js`` decodes nothing, and
  ``broker/saslAuthenticator/oauthBearer.js`` passes no response parser to
  SaslAuthenticate: any answer with error code 0 is success, the RFC 7628
  error challenge included. KafkaJS never sends ``%x01``; it goes on with
  Metadata, which Kafka (and the emulator) answer ILLEGAL_SASL_STATE before
  closing. A Metadata v6 error answer has no top-level error code, so KafkaJS
  sees an empty cluster and reports "No brokers in the broker pool": the
  broker's JSON never reaches the application.
* SASL_AUTHENTICATION_FAILED (58) with a message, sent without a challenge
  (a malformed message), does reach it: ``KafkaJSSASLAuthenticationError``
  "SASL OAUTHBEARER authentication failed: <the broker's message>".
* KIP-368: ``network/connection.js`` keeps SaslAuthenticate v1's
  ``session_lifetime_ms`` and, before any request other than ApiVersions and
  SASL, re-authenticates on the same connection (SaslHandshake +
  SaslAuthenticate) once ``elapsed + reauthenticationThreshold >= lifetime``
  (the threshold defaults to 10 000 ms). With a session shorter than the
  threshold it re-authenticates at every turn, and the broker's
  once-a-second limit on re-authentication refuses the second (34).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from oauthbearer import UnsecuredJwsValidator
from oauthbearer.kafka import ErrorCode
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.unsecured import kafka_unsecured_login
from tests.peers import missing_peer

KAFKAJS_DIR = Path(__file__).parent / "interop" / "kafkajs"
DRIVER = KAFKAJS_DIR / "drive.js"
INSTALL_HINT = "npm ci --prefix tests/interop/kafkajs"

TOPIC = "orders"
EXTENSIONS = {"traceId": "abc123", "logicalCluster": "lkc-1"}
#: KafkaJS's connection and request timeouts: a refusal surfaces in seconds.
CLIENT_TIMEOUT_MS = 3_000
#: The driver's own deadline for a whole run, and ours for the node process.
DRIVER_DEADLINE_MS = 20_000
NODE_TIMEOUT_S = 30.0
#: What the broker's detail says for each refusal (the client never sees it).
EXPIRED_DETAIL = "Expiration Time"
SCOPE_DETAIL = "missing a required scope"


@pytest.fixture
def node() -> str:
    """The node executable, with KafkaJS installed next to the driver."""
    executable = shutil.which("node")
    if executable is None or not (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir():
        missing_peer("KafkaJS", INSTALL_HINT)
    assert executable is not None
    return executable


@pytest.fixture
def records() -> list[AuthenticationRecord]:
    return []


def emulator(
    records: list[AuthenticationRecord], *, max_reauth_ms: int | None = None
) -> BrokerEmulator:
    return BrokerEmulator(
        UnsecuredJwsValidator(required_scope=("kafka",)),
        topics=(TOPIC,),
        max_reauth_ms=max_reauth_ms,
        on_authentication=records.append,
    )


def login(*, scope: str = "kafka", issued_s_ago: int = 0) -> tuple[str, dict[str, str]]:
    """An unsecured token for alice (one hour) and its extensions."""
    minted = kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": "alice",
            "unsecuredLoginListClaim_scope": f",{scope}",
            **{f"unsecuredLoginExtension_{k}": v for k, v in EXTENSIONS.items()},
        },
        now=time.time() - issued_s_ago,
    )
    return minted.token.value, dict(minted.extensions)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """The driver's outcome line and KafkaJS's log entries."""

    outcome: dict[str, Any]
    log: list[dict[str, Any]]

    def messages(self, namespace: str) -> list[str]:
        return [str(e["message"]) for e in self.log if e.get("namespace") == namespace]


def drive(node: str, broker: BrokerEmulator, token: str, **options: object) -> Run:
    """Run drive.js once (``options`` are its input fields) and parse what it printed."""
    request = {
        "bootstrap": broker.bootstrap,
        "token": token,
        "scenario": "list",
        "connection_timeout_ms": CLIENT_TIMEOUT_MS,
        "authentication_timeout_ms": CLIENT_TIMEOUT_MS,
        "request_timeout_ms": CLIENT_TIMEOUT_MS,
        "deadline_ms": DRIVER_DEADLINE_MS,
        **options,
    }
    done = subprocess.run(  # noqa: S603 - our own driver and arguments
        [node, str(DRIVER), json.dumps(request)],
        cwd=KAFKAJS_DIR,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    # The token is a secret: neither KafkaJS's log nor the driver may show it.
    assert token not in done.stdout
    assert token not in done.stderr
    outcome: dict[str, Any] = json.loads(lines[0])
    assert outcome.get("error", {}).get("name") != "DriverTimeout", outcome
    log = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return Run(outcome=outcome, log=log)


def test_kafkajs_accept_with_extensions(node: str, records: list[AuthenticationRecord]) -> None:
    token, extensions = login()
    with emulator(records).running_in_thread() as broker:
        run = drive(node, broker, token, extensions=extensions)
    assert run.outcome == {"ok": True, "topics": [[TOPIC]]}
    (record,) = records  # one connection: the seed broker is node 0 itself
    assert (record.outcome, record.principal) == ("authenticated", "alice")
    assert dict(record.extensions) == EXTENSIONS
    assert record.session_lifetime_ms is not None
    assert record.session_lifetime_ms > 3_500_000


def test_kafkajs_expired_token_fails_without_the_reason(
    node: str, records: list[AuthenticationRecord]
) -> None:
    token, _ = login(issued_s_ago=7200)  # a one-hour token, an hour past expiry
    with emulator(records).running_in_thread() as broker:
        run = drive(node, broker, token)
    # KafkaJS took the error challenge for success, so admin.connect() resolved;
    # listTopics sent Metadata and read the broker's ILLEGAL_SASL_STATE answer
    # (no brokers, no topics) as an empty cluster: what the application sees
    # names neither the refusal nor its status.
    assert run.outcome["ok"] is False
    assert run.outcome["stage"] == "listTopics"
    error = run.outcome["error"]
    assert (error["name"], error["message"]) == (
        "KafkaJSNumberOfRetriesExceeded",
        "No brokers in the broker pool",
    )
    assert error["cause"]["name"] == "KafkaJSBrokerNotFound"
    assert "invalid_token" not in json.dumps(run.outcome)
    (record,) = records
    assert (record.outcome, record.reason) == ("failed", "challenge-ignored")
    assert record.error_code == ErrorCode.ILLEGAL_SASL_STATE
    assert record.detail is not None
    assert EXPIRED_DETAIL in record.detail


def test_kafkajs_takes_the_error_challenge_for_success(
    node: str, records: list[AuthenticationRecord]
) -> None:
    token, extensions = login(scope="other")  # unexpired, but the broker requires "kafka"
    with emulator(records).running_in_thread() as broker:
        run = drive(node, broker, token, extensions=extensions, log_level="DEBUG")
    assert (run.outcome["ok"], run.outcome["stage"]) == (False, "listTopics")
    # The exchange on the wire, in KafkaJS's own words: no %x01 after the
    # challenge; the next request is Metadata.
    assert [m for m in run.messages("Connection") if m.startswith("Request ")] == [
        "Request ApiVersions(key: 18, version: 2)",
        "Request SaslHandshake(key: 17, version: 1)",
        "Request SaslAuthenticate(key: 36, version: 1)",
        "Request Metadata(key: 3, version: 6)",  # its newest; Kafka 4 serves 0-13
    ]
    (challenge,) = [
        e["data"]
        for e in run.log
        if e["message"] == "Response SaslAuthenticate(key: 36, version: 1)"
    ]
    assert challenge["errorCode"] == 0
    # authBytes is the challenge with the 4-byte size prefix KafkaJS adds back.
    assert bytes(challenge["authBytes"]["data"][4:]) == (
        b'{"status":"insufficient_scope","scope":"[kafka]"}'
    )
    assert "SASL OAUTHBEARER authentication successful" in run.messages(
        "SaslAuthenticator-OAUTHBEARER"
    )
    # The broker's side: it saw the challenge ignored, and granted nothing.
    (record,) = records
    assert (record.outcome, record.reason) == ("failed", "challenge-ignored")
    assert record.error_code == ErrorCode.ILLEGAL_SASL_STATE
    assert record.detail is not None
    assert SCOPE_DETAIL in record.detail
    assert not [r for r in records if r.outcome == "authenticated"]


def test_kafkajs_reauthenticates_on_the_same_connection(
    node: str, records: list[AuthenticationRecord]
) -> None:
    # The broker caps the session at 3 s; with a 2 s threshold KafkaJS
    # re-authenticates before the first request sent 1 s or more after
    # authenticating, well before the broker would close the session.
    token, extensions = login()
    with emulator(records, max_reauth_ms=3_000).running_in_thread() as broker:
        run = drive(
            node,
            broker,
            token,
            extensions=extensions,
            scenario="reauth",
            pause_ms=1_500,
            reauthentication_threshold=2_000,
        )
    assert run.outcome == {"ok": True, "topics": [[TOPIC], [TOPIC]]}
    assert [r.outcome for r in records] == ["authenticated", "reauthenticated"]
    assert len({r.peer for r in records}) == 1
    for record in records:
        assert record.principal == "alice"
        assert dict(record.extensions) == EXTENSIONS
        assert record.session_lifetime_ms == 3_000


def test_kafkajs_short_session_reauthenticates_before_every_request(
    node: str, records: list[AuthenticationRecord]
) -> None:
    # A session (3 s) shorter than KafkaJS's default reauthenticationThreshold
    # (10 s) is always due for re-authentication: KafkaJS re-authenticates each
    # time it checks the connection (finding a connected broker, then sending
    # Metadata), and the second re-authentication, within a second of the
    # first, is answered ILLEGAL_SASL_STATE, as on Kafka's broker.
    token, _ = login()
    with emulator(records, max_reauth_ms=3_000).running_in_thread() as broker:
        run = drive(node, broker, token)
    assert (run.outcome["ok"], run.outcome["stage"]) == (False, "listTopics")
    error = run.outcome["error"]
    assert (error["name"], error["type"], error["code"]) == (
        "KafkaJSProtocolError",
        "ILLEGAL_SASL_STATE",
        ErrorCode.ILLEGAL_SASL_STATE,
    )
    assert [r.outcome for r in records] == ["authenticated", "reauthenticated"]


def test_kafkajs_authorization_identity_is_malformed(
    node: str, records: list[AuthenticationRecord]
) -> None:
    # With authorizationIdentity KafkaJS writes 'n,"a=alice,': no GS2 header.
    # The broker refuses it at once with 58 and a message, which, unlike the
    # error challenge, reaches the application.
    token, _ = login()
    with emulator(records).running_in_thread() as broker:
        run = drive(node, broker, token, authorization_identity="alice")
    assert (run.outcome["ok"], run.outcome["stage"]) == (False, "connect")
    (record,) = records
    assert (record.outcome, record.reason) == ("failed", "malformed-response")
    assert record.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert record.message is not None
    error = run.outcome["error"]
    assert error["name"] == "KafkaJSSASLAuthenticationError"
    assert error["message"] == f"SASL OAUTHBEARER authentication failed: {record.message}"
