"""KafkaServerConnection at its edges: its options and calls are checked, requests
it cannot read end the connection with a reason, and an application-level refusal
of a granted token (the authzid policy) is an event, not an exception."""

from __future__ import annotations

from typing import Any

import pytest

from oauthbearer import ClientInitialResponse, OAuthBearerToken, ServerSession
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.kafka import (
    ApiKey,
    ApiVersionsResponse,
    ErrorCode,
    KafkaServerConnection,
    MetadataResponse,
    RequestHeader,
    ServerAuthenticationFailed,
    ServerPhase,
    decode_response,
)
from oauthbearer.session import TokenReceived
from tests.test_kafka_connection import (
    NOW,
    api_versions,
    authenticate,
    authenticated,
    frames,
    handshake,
    initial,
    login,
    phase_of,
    pump,
    server,
    sized,
)


def failure(events: list[object]) -> ServerAuthenticationFailed:
    assert len(events) == 1
    (event,) = events
    assert isinstance(event, ServerAuthenticationFailed)
    return event


# --- options and calls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((None,), {}, ArgumentTypeError, "session_factory must be a callable"),
        ((ServerSession,), {"mechanisms": "OAUTHBEARER"}, ArgumentTypeError, "sequence of str"),
        ((ServerSession,), {"mechanisms": ["PLAIN", 1]}, ArgumentTypeError, "sequence of str"),
        ((ServerSession,), {"mechanisms": ["PLAIN"]}, ConfigurationError, "include OAUTHBEARER"),
        ((ServerSession,), {"max_reauth_ms": 1.5}, ArgumentTypeError, "max_reauth_ms must be"),
        ((ServerSession,), {"max_reauth_ms": True}, ArgumentTypeError, "max_reauth_ms must be"),
        ((ServerSession,), {"max_metadata_topics": -1}, ConfigurationError, "max_metadata_topics"),
        (
            (ServerSession,),
            {"max_metadata_topics": 2**31},
            ConfigurationError,
            "in \\[0, 2\\*\\*31-1\\]",
        ),
        (
            (ServerSession,),
            {"max_metadata_topics": False},
            ConfigurationError,
            "max_metadata_topics",
        ),
        ((ServerSession,), {"now": "now"}, ArgumentTypeError, "now must be epoch seconds"),
    ],
)
def test_options_are_checked(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        KafkaServerConnection(*args, **kwargs)


def test_a_new_connection_shows_its_phase_and_holds_nothing() -> None:
    conn = server()
    assert repr(conn) == "<KafkaServerConnection phase=AWAITING_HANDSHAKE>"
    assert conn.buffered == 0
    assert conn.principal is None
    conn.receive_data(api_versions()[:7], now=NOW)
    assert conn.buffered == 7  # a shell counts these against its memory budget


def test_now_must_be_epoch_seconds() -> None:
    with pytest.raises(ArgumentTypeError, match="now must be epoch seconds"):
        server().receive_data(b"", now=True)


def test_the_session_factory_must_make_a_server_session() -> None:
    conn = KafkaServerConnection(lambda: "session")  # type: ignore[arg-type,return-value]
    conn.receive_data(handshake(), now=NOW)
    with pytest.raises(ArgumentTypeError, match="session_factory must return a ServerSession"):
        conn.next_event()
    assert phase_of(conn) is ServerPhase.FAILED


def test_send_response_and_send_raw_take_what_they_say() -> None:
    conn = server()
    authenticated(conn)
    with pytest.raises(ArgumentTypeError, match=r"send_response\(\) takes the request's"):
        conn.send_response(b"header", MetadataResponse())  # type: ignore[arg-type]
    conn = server()
    authenticated(conn)
    with pytest.raises(ArgumentTypeError, match=r"^send_raw\(\) takes bytes$"):
        conn.send_raw("frame")  # type: ignore[arg-type]


# --- requests out of place, or unreadable ---------------------------------------------------


def test_an_unknown_api_during_the_handshake_is_named_by_its_key() -> None:
    header = RequestHeader(api_key=1000, api_version=0, correlation_id=1)
    payload = header.encode(1)
    event = failure(pump(server(), sized(payload)))
    assert event.reason == "unexpected-request"
    assert "Unexpected Kafka request of type API key 1000 during SASL handshake." in event.message


def test_api_versions_during_authentication_is_answered_with_illegal_sasl_state() -> None:
    conn = server()
    event = failure(pump(conn, handshake() + api_versions(correlation=3)))
    assert event.reason == "unexpected-request"
    assert event.error_code == ErrorCode.ILLEGAL_SASL_STATE
    _shake, answer = frames(conn.data_to_send())
    _, message = decode_response(answer, api_key=ApiKey.API_VERSIONS, api_version=3)
    assert message == ApiVersionsResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE)


@pytest.mark.parametrize("payload", [b"\x00\x11", b"\x00\x11\x00\x01\x00"])
def test_an_authenticated_connection_fails_on_a_header_it_cannot_read(payload: bytes) -> None:
    conn = server()
    authenticated(conn)
    event = failure(pump(conn, sized(payload)))
    assert event.reason == "malformed-frame"


@pytest.mark.parametrize("api_key", [ApiKey.SASL_HANDSHAKE, ApiKey.API_VERSIONS])
def test_an_authenticated_connection_fails_on_a_body_it_cannot_read(api_key: ApiKey) -> None:
    conn = server()
    authenticated(conn)
    version = 1 if api_key == ApiKey.SASL_HANDSHAKE else 3
    header = RequestHeader(api_key=api_key, api_version=version, correlation_id=9, client_id="c")
    truncated = header.encode(2 if api_key == ApiKey.API_VERSIONS else 1) + b"\x00"
    event = failure(pump(conn, sized(truncated), now=NOW + 10))
    assert event.reason == "malformed-frame"


# --- a granted token refused by the connection's own rules ----------------------------------


def test_an_authzid_that_is_not_the_principal_fails_the_exchange_as_an_event() -> None:
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"))  # pure: no validator
    token = login("alice")
    auth = ClientInitialResponse(token, authzid="admin").encode()
    (received,) = pump(conn, handshake() + authenticate(auth))
    assert isinstance(received, TokenReceived)
    granted = OAuthBearerToken(value=token, principal="alice", lifetime_ms=int(NOW * 1000) + 60_000)
    event = conn.accept(granted)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "authentication-failed"
    assert "admin" in event.message
    assert phase_of(conn) is not ServerPhase.AUTHENTICATED
    assert conn.principal is None
    assert initial()  # the helpers build frames the real clients send
