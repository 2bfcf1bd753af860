"""Published vectors (RFC 7628 section 4) and byte captures from real Kafka clients."""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import pytest

from oauthbearer import (
    AuthenticationFailed,
    ChallengeReceived,
    ClientInitialResponse,
    ClientSession,
    Dialect,
    ErrorResponse,
    ServerSession,
    TokenReceived,
)

# RFC 7628 section 4.1 (IMAP) and 4.2 (SMTP): the client's initial response.
RFC_4_1 = base64.b64decode(
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVy"
    "IHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
)
RFC_4_2 = base64.b64decode(
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVy"
    "IHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
)
RFC_TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
# RFC 7628 section 4.3: the server's error challenge.
RFC_4_3_CHALLENGE = base64.b64decode(
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3Vy"
    "YXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="
)
# RFC 7628 section 4.4: an error challenge with an extra member ("schemes").
RFC_4_4_CHALLENGE = base64.b64decode(
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8v"
    "bWFpbC5leGFtcGxlLmNvbS8ifQ=="
)


def failed(event: object) -> AuthenticationFailed:
    """``event``, which must be the failure event."""
    assert isinstance(event, AuthenticationFailed), event
    return event


def test_rfc7628_4_1_decodes_to_the_published_fields() -> None:
    msg = ClientInitialResponse.decode(RFC_4_1)
    assert msg.authzid == "user@example.com"
    assert msg.token == RFC_TOKEN
    assert msg.scheme == "Bearer"
    assert dict(msg.extensions) == {"host": "server.example.com", "port": "143"}
    assert list(msg.extensions) == ["host", "port"]
    assert (msg.host, msg.port) == ("server.example.com", 143)


def test_rfc7628_4_2_smtp_port() -> None:
    assert ClientInitialResponse.decode(RFC_4_2).port == 587


def test_rfc7628_4_1_is_rejected_by_kafka_only_for_nothing() -> None:
    # Kafka accepts the RFC's example too (its authzid is a plain saslname).
    msg = ClientInitialResponse.decode(RFC_4_1, dialect=Dialect.KAFKA)
    assert (msg.authzid, msg.token) == ("user@example.com", RFC_TOKEN)


def test_rfc7628_4_1_reencodes_with_auth_first() -> None:
    # The RFC's example puts host and port before auth; our encoder puts auth
    # first, and what it writes decodes to the same message.
    msg = ClientInitialResponse.decode(RFC_4_1)
    assert msg.encode() == (
        b"n,a=user@example.com,\x01auth=Bearer "
        + RFC_TOKEN.encode()
        + b"\x01host=server.example.com\x01port=143\x01\x01"
    )
    assert ClientInitialResponse.decode(msg.encode()) == msg


def test_rfc7628_4_3_failed_exchange_in_memory() -> None:
    error = ErrorResponse.decode(RFC_4_3_CHALLENGE)
    assert error == ErrorResponse(
        "invalid_token",
        scope="example_scope",
        openid_configuration="https://example.com/.well-known/openid-configuration",
    )
    server = ServerSession()
    assert isinstance(server.receive(RFC_4_1), TokenReceived)
    issued = server.reject(error)
    client = ClientSession(
        RFC_TOKEN,
        authzid="user@example.com",
        extensions={"host": "server.example.com", "port": "143"},
    )
    client.initial_response()
    challenge = client.receive(issued.reply)
    assert isinstance(challenge, ChallengeReceived)
    assert challenge.reply == base64.b64decode("AQ==")
    server_failure = failed(server.receive(challenge.reply))
    client_failure = failed(client.receive_outcome(success=False))
    for failure in (server_failure, client_failure):
        assert failure.status == "invalid_token"
        assert failure.scope == "example_scope"
        assert failure.openid_configuration == error.openid_configuration


def test_rfc7628_4_4_extra_member_is_ignored() -> None:
    error = ErrorResponse.decode(RFC_4_4_CHALLENGE)
    assert error == ErrorResponse("invalid_token", scope="https://mail.example.com/")


# --- captures from real clients (tests/fixtures/captures/README.md) ------------------

CAPTURES = sorted((pathlib.Path(__file__).parent / "fixtures" / "captures").glob("*.json"))


def _load(path: pathlib.Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("dialect", list(Dialect))
def test_real_client_initial_responses_decode(path: pathlib.Path, dialect: Dialect) -> None:
    capture = _load(path)
    raw = bytes.fromhex(capture["initial_response_hex"])
    msg = ClientInitialResponse.decode(raw, dialect=dialect)
    assert msg.authzid is None
    assert msg.gs2_flag == "n"
    assert msg.scheme == "Bearer"
    expected_token = capture["config"].get("sasl_oauth_token_provider", {}).get("token")
    if expected_token is not None:
        assert msg.token == expected_token
    expected_ext = capture["config"].get("sasl_oauth_token_provider", {}).get("extensions")
    if capture["extensions"]:
        assert dict(msg.extensions) == {"traceId": "abc123", "logicalCluster": "lkc-1"}
        if expected_ext is not None:
            assert list(msg.extensions) == list(expected_ext)
    else:
        assert dict(msg.extensions) == {}
    # Our encoder writes real clients' bytes exactly.
    assert msg.encode() == raw


def test_captures_cover_every_client() -> None:
    clients = {_load(path)["client"] for path in CAPTURES}
    assert {"kafka-python", "aiokafka", "confluent-kafka"} <= clients


@pytest.mark.parametrize(
    "path", [p for p in CAPTURES if _load(p)["scenario"] == "challenge"], ids=lambda p: p.stem
)
def test_real_client_challenge_replies(path: pathlib.Path) -> None:
    """Clients that answer the challenge send exactly %x01, which ends the exchange;
    the ones that do not (aiokafka) are granted nothing."""
    capture = _load(path)
    server = ServerSession(dialect=Dialect.KAFKA)
    server.receive(bytes.fromhex(capture["initial_response_hex"]))
    issued = server.reject(ErrorResponse.decode(capture["challenge_text"].encode()))
    after = capture["after_challenge"]
    if "hex" in after:
        assert bytes.fromhex(after["hex"]) == b"\x01"
        failure = failed(server.receive(bytes.fromhex(after["hex"])))
        assert failure.message == issued.reply.decode()
    else:
        assert capture["client"] == "aiokafka"
        assert server.token is None
