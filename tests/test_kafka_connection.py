"""KafkaServerConnection: a broker's side of OAUTHBEARER authentication, as Kafka runs it.

The client side is hand-built frames (``encode_request``), shaped as the real
clients send them: librdkafka (ApiVersions v3, SaslHandshake v1,
SaslAuthenticate v1), kafka-python with SaslHandshake v0 and bare tokens, and
aiokafka, which answers an error challenge with a Metadata request. The
expected behaviour is read from Kafka's ``SaslServerAuthenticator``,
``KafkaChannel``, ``SocketServer`` and ``KafkaApis``.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import ClientInitialResponse, ErrorResponse, ServerSession, UnsecuredJwsValidator
from oauthbearer.errors import (
    ConfigurationError,
    OAuthBearerError,
    ServerFailureReason,
    SessionStateError,
)
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE
from oauthbearer.kafka import (
    DEFAULT_AUTHENTICATION_TIMEOUT_MS,
    MAX_ELEMENTS_BEFORE_AUTHENTICATION,
    MAX_METADATA_TOPICS,
    MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION,
    MAX_STRING_LENGTH,
    MAX_TAGGED_FIELDS,
    NEED_DATA,
    PAUSED,
    SOCKET_REQUEST_MAX_BYTES,
    ApiKey,
    ApiVersionsRequest,
    ApiVersionsResponse,
    ApplicationRequest,
    ConnectionClosed,
    ErrorCode,
    Frame,
    KafkaFrameDecoder,
    KafkaServerConnection,
    MetadataRequest,
    MetadataResponse,
    RequestHeader,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    ServerAuthenticated,
    ServerAuthenticationFailed,
    ServerPhase,
    TaggedField,
    decode_response,
    encode_request,
    peer_text,
)
from oauthbearer.kafka.server import _PERMISSIONS, _TRANSITIONS, foreign_protocol
from oauthbearer.session import ExtensionVerdict, TokenReceived
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Mapping

NOW = 1_700_000_000.0
LIFETIME_MS = 3_600_000  # kafka_unsecured_login's default lifetime


def login(principal: str = "alice", *, now: float = NOW) -> str:
    options = {"unsecuredLoginStringClaim_sub": principal}
    return kafka_unsecured_login(options, now=now).token.value


def initial(principal: str = "alice", *, now: float = NOW) -> bytes:
    return ClientInitialResponse(login(principal, now=now)).encode()


def request(api_key: int, version: int, correlation: int, message: object) -> bytes:
    header = RequestHeader(
        api_key=api_key, api_version=version, correlation_id=correlation, client_id="test"
    )
    return encode_request(header, message)  # type: ignore[arg-type]


def api_versions(correlation: int = 1, version: int = 3) -> bytes:
    message = ApiVersionsRequest(client_software_name="librdkafka", client_software_version="2.6.0")
    return request(18, version, correlation, message)


def handshake(correlation: int = 2, mechanism: str = "OAUTHBEARER", version: int = 1) -> bytes:
    return request(17, version, correlation, SaslHandshakeRequest(mechanism=mechanism))


def authenticate(auth: bytes, correlation: int = 3, version: int = 1) -> bytes:
    return request(36, version, correlation, SaslAuthenticateRequest(auth_bytes=auth))


def metadata(correlation: int = 4, topics: tuple[str, ...] | None = None) -> bytes:
    return request(3, 1, correlation, MetadataRequest(topics=topics))


def phase_of(conn: KafkaServerConnection) -> ServerPhase:
    """The phase, read through a call so that mypy does not narrow it across calls."""
    return conn.phase


def sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def server(
    *, required_scope: tuple[str, ...] = (), max_reauth_ms: int | None = None
) -> KafkaServerConnection:
    validator = UnsecuredJwsValidator(required_scope=required_scope)
    return KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"), max_reauth_ms=max_reauth_ms
    )


def pump(conn: KafkaServerConnection, data: bytes, *, now: float = NOW) -> list[object]:
    """Feed ``data`` and collect events up to NEED_DATA, PAUSED or the end."""
    conn.receive_data(data, now=now)
    events: list[object] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is PAUSED:
            return events
        events.append(event)
        if isinstance(event, ServerAuthenticationFailed | ConnectionClosed):
            return events


def frames(data: bytes) -> list[bytes]:
    decoder = KafkaFrameDecoder(max_frame_size=SOCKET_REQUEST_MAX_BYTES)
    decoder.receive_data(data)
    out = []
    while isinstance(frame := decoder.next_event(), Frame):
        out.append(frame.data)
    return out


def response(data: bytes, api_key: int, version: int) -> object:
    (frame,) = frames(data)
    _header, message = decode_response(frame, api_key=api_key, api_version=version)
    return message


def authenticated(conn: KafkaServerConnection, principal: str = "alice") -> ServerAuthenticated:
    events = pump(conn, api_versions() + handshake() + authenticate(initial(principal)))
    (event,) = events
    assert isinstance(event, ServerAuthenticated)
    conn.data_to_send()
    return event


# --- Success ----------------------------------------------------------------------------


def test_success_with_an_unsecured_token_and_the_session_lifetime() -> None:
    conn = server()
    (event,) = pump(conn, api_versions() + handshake() + authenticate(initial()))
    assert isinstance(event, ServerAuthenticated)
    assert event.principal == "alice"
    assert event.session_lifetime_ms == LIFETIME_MS
    assert event.session_expiry_ms == int(NOW * 1000) + LIFETIME_MS
    assert not event.reauthentication
    out = frames(conn.data_to_send())
    assert len(out) == 3
    versions = decode_response(out[0], api_key=18, api_version=3)[1]
    assert isinstance(versions, ApiVersionsResponse)
    assert versions.error_code == 0
    assert {k.api_key for k in versions.api_keys} == {3, 17, 18, 36}
    shake = decode_response(out[1], api_key=17, api_version=1)[1]
    assert shake == SaslHandshakeResponse(mechanisms=("OAUTHBEARER",))
    header, done = decode_response(out[2], api_key=36, api_version=1)
    assert header.correlation_id == 3
    assert done == SaslAuthenticateResponse(session_lifetime_ms=LIFETIME_MS)
    assert phase_of(conn) is ServerPhase.AUTHENTICATED
    assert conn.principal == "alice"


def test_max_reauth_ms_caps_the_session_lifetime() -> None:
    conn = server(max_reauth_ms=60_000)
    assert authenticated(conn).session_lifetime_ms == 60_000


def test_saslauthenticate_v0_cannot_carry_the_lifetime() -> None:
    conn = server()
    (event,) = pump(conn, handshake() + authenticate(initial(), version=0))
    assert isinstance(event, ServerAuthenticated)
    assert event.session_lifetime_ms == 0
    _, done = frames(conn.data_to_send())
    assert decode_response(done, api_key=36, api_version=0)[1] == SaslAuthenticateResponse()


def test_saslauthenticate_v2_flexible() -> None:
    conn = server()
    pump(conn, handshake())
    conn.data_to_send()
    (event,) = pump(conn, authenticate(initial(), version=2))
    assert isinstance(event, ServerAuthenticated)
    assert response(conn.data_to_send(), 36, 2) == SaslAuthenticateResponse(
        session_lifetime_ms=LIFETIME_MS
    )


def test_requests_after_authentication_go_to_the_application() -> None:
    conn = server()
    authenticated(conn)
    (event,) = pump(conn, metadata(topics=("t",)))
    assert isinstance(event, ApplicationRequest)
    assert event.message == MetadataRequest(topics=("t",))
    conn.send_response(event.header, MetadataResponse(controller_id=1))
    assert response(conn.data_to_send(), 3, 1) == MetadataResponse(controller_id=1)
    # An API the codec does not speak comes as the whole frame.
    produce = (0).to_bytes(2, "big") + (9).to_bytes(2, "big") + (7).to_bytes(4, "big")
    produce += (-1).to_bytes(2, "big", signed=True) + b"body"
    (event,) = pump(conn, sized(produce))
    assert isinstance(event, ApplicationRequest)
    assert event.header.api_key == 0
    assert event.header.correlation_id == 7
    assert event.message == Frame(produce)
    conn.send_raw(sized(b"\x00\x00\x00\x07"))
    assert conn.data_to_send() == sized(b"\x00\x00\x00\x07")
    # ApiVersions is answered by the connection in every phase.
    assert pump(conn, api_versions(correlation=9)) == []
    assert isinstance(response(conn.data_to_send(), 18, 3), ApiVersionsResponse)


def test_saslauthenticate_or_a_refused_handshake_after_authentication_gets_34() -> None:
    conn = server()
    authenticated(conn)
    assert pump(conn, authenticate(initial(), correlation=8)) == []
    assert response(conn.data_to_send(), 36, 1) == SaslAuthenticateResponse(
        error_code=34,
        error_message="SaslAuthenticate request received after successful authentication",
    )
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


# --- The RFC 7628 error path -------------------------------------------------------------


def test_refusal_goes_through_the_challenge_and_x01_with_error_58() -> None:
    conn = server(required_scope=("admin",))
    assert pump(conn, handshake() + authenticate(initial())) == []
    out = frames(conn.data_to_send())
    _, challenge = decode_response(out[1], api_key=36, api_version=1)
    assert isinstance(challenge, SaslAuthenticateResponse)
    assert challenge.error_code == 0
    assert challenge.session_lifetime_ms == 0
    document = json.loads(challenge.auth_bytes)
    assert document["status"] == "insufficient_scope"
    assert phase_of(conn) is ServerPhase.CHALLENGED
    (event,) = pump(conn, authenticate(b"\x01", correlation=4))
    assert event == ServerAuthenticationFailed(
        message=challenge.auth_bytes.decode(),
        error_code=58,
        reason=ServerFailureReason.AUTHENTICATION_FAILED,
    )
    final = response(conn.data_to_send(), 36, 1)
    assert final == SaslAuthenticateResponse(
        error_code=58, error_message=challenge.auth_bytes.decode()
    )
    assert phase_of(conn) is ServerPhase.FAILED


def test_a_client_skipping_the_x01_is_granted_nothing() -> None:
    # aiokafka takes the challenge for success and sends Metadata.
    conn = server(required_scope=("admin",))
    pump(conn, handshake() + authenticate(initial()))
    conn.data_to_send()
    events = pump(conn, metadata(topics=("secret",)))
    assert events == [
        ServerAuthenticationFailed(
            message="Unexpected Kafka request of type METADATA during SASL authentication. "
            "The client ignored the error challenge; nothing is granted.",
            error_code=34,
            reason=ServerFailureReason.CHALLENGE_IGNORED,
        )
    ]
    reply = response(conn.data_to_send(), 3, 1)
    assert isinstance(reply, MetadataResponse)
    assert reply.brokers == ()
    assert [(t.name, t.error_code) for t in reply.topics] == [("secret", 34)]
    assert phase_of(conn) is ServerPhase.FAILED
    with pytest.raises(SessionStateError):
        conn.next_event()


def test_a_new_initial_response_after_the_challenge_is_judged_afresh_in_kafkas_dialect() -> None:
    # Kafka's broker resets its error and parses the message as a new initial
    # response (tests/test_kafka_differential.py measures it).
    conn = server(required_scope=("admin",))
    pump(conn, handshake() + authenticate(initial()))
    conn.data_to_send()
    assert pump(conn, authenticate(initial(), correlation=4)) == []
    again = response(conn.data_to_send(), 36, 1)
    assert again == SaslAuthenticateResponse(
        auth_bytes=b'{"status":"insufficient_scope","scope":"[admin]"}'
    )
    assert phase_of(conn) is ServerPhase.CHALLENGED
    (event,) = pump(conn, authenticate(b"\x01", correlation=5))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "authentication-failed"


def test_a_new_initial_response_after_the_challenge_grants_a_good_token() -> None:
    conn = KafkaServerConnection(lambda: ServerSession(UnsecuredJwsValidator(), dialect="kafka"))
    pump(conn, handshake() + authenticate(b"n,,\x01auth=Bearer not-a-jwt\x01\x01"))
    conn.data_to_send()
    (event,) = pump(conn, authenticate(initial(), correlation=4))
    assert isinstance(event, ServerAuthenticated)
    assert event.principal == "alice"


def test_anything_but_x01_after_the_challenge_fails_in_the_strict_dialect() -> None:
    validator = UnsecuredJwsValidator(required_scope=("admin",))
    conn = KafkaServerConnection(lambda: ServerSession(validator, dialect="rfc7628"))
    pump(conn, handshake() + authenticate(initial()))
    conn.data_to_send()
    (event,) = pump(conn, authenticate(initial(), correlation=4))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "malformed-response"
    reply = response(conn.data_to_send(), 36, 1)
    assert isinstance(reply, SaslAuthenticateResponse)
    assert reply.error_code == 58


def test_a_scheme_other_than_bearer_closes_unanswered_in_kafkas_dialect() -> None:
    # Kafka's parser throws an unchecked exception; the broker closes the connection.
    conn = server()
    (event,) = pump(conn, handshake() + authenticate(b"n,,\x01auth=Basic YWxpY2U=\x01\x01"))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("malformed-response", 58)
    handshake_reply = conn.data_to_send()
    assert response(handshake_reply, 17, 1) == SaslHandshakeResponse(mechanisms=("OAUTHBEARER",))
    assert len(handshake_reply) == 4 + int.from_bytes(handshake_reply[:4], "big")


# --- Handshake failures -------------------------------------------------------------------


def test_unsupported_mechanism_gets_33_with_the_enabled_list() -> None:
    conn = server()
    (event,) = pump(conn, handshake(mechanism="PLAIN"))
    assert event == ServerAuthenticationFailed(
        message="Unsupported SASL mechanism PLAIN",
        error_code=33,
        reason=ServerFailureReason.UNSUPPORTED_MECHANISM,
    )
    assert response(conn.data_to_send(), 17, 1) == SaslHandshakeResponse(
        error_code=33, mechanisms=("OAUTHBEARER",)
    )


@pytest.mark.parametrize(
    ("frame", "name"),
    [(metadata(), "METADATA"), (authenticate(b"x"), "SASL_AUTHENTICATE")],
)
def test_a_request_before_the_handshake_fails_without_an_answer(frame: bytes, name: str) -> None:
    # SaslServerAuthenticator.handleKafkaRequest: InvalidRequestException, no response.
    conn = server()
    (event,) = pump(conn, frame)
    assert event == ServerAuthenticationFailed(
        message=f"Unexpected Kafka request of type {name} during SASL handshake.",
        error_code=ErrorCode.INVALID_REQUEST,
        reason=ServerFailureReason.UNEXPECTED_REQUEST,
    )
    assert conn.data_to_send() == b""


def test_a_request_other_than_saslauthenticate_after_the_handshake_gets_34() -> None:
    conn = server()
    pump(conn, handshake())
    conn.data_to_send()
    (event,) = pump(conn, handshake(correlation=5))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.error_code, event.reason) == (34, "unexpected-request")
    assert response(conn.data_to_send(), 17, 1) == SaslHandshakeResponse(error_code=34)


def test_a_second_apiversions_before_the_handshake_fails() -> None:
    conn = server()
    (event,) = pump(conn, api_versions() + api_versions(correlation=2))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "unexpected-request"


def test_an_unsupported_apiversions_version_is_answered_at_v0_and_may_be_retried() -> None:
    conn = server()
    raw = (
        (18).to_bytes(2, "big") + (9).to_bytes(2, "big") + (1).to_bytes(4, "big") + b"\xff\xff\x00"
    )
    assert pump(conn, sized(raw)) == []
    reply = response(conn.data_to_send(), 18, 0)
    assert isinstance(reply, ApiVersionsResponse)
    assert reply.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert [k.api_key for k in reply.api_keys] == [ApiKey.API_VERSIONS]
    assert phase_of(conn) is ServerPhase.AWAITING_HANDSHAKE
    assert pump(conn, api_versions(correlation=2)) == []
    assert phase_of(conn) is ServerPhase.VERSIONS_ANSWERED


def test_invalid_client_software_name_is_answered_invalid_request() -> None:
    conn = server()
    bad = request(18, 3, 1, ApiVersionsRequest(client_software_name="-bad"))
    assert pump(conn, bad) == []
    reply = response(conn.data_to_send(), 18, 3)
    assert isinstance(reply, ApiVersionsResponse)
    assert reply.error_code == ErrorCode.INVALID_REQUEST


# --- SaslHandshake v0: bare tokens (kafka-python) ------------------------------------------


def test_handshake_v0_then_bare_tokens() -> None:
    conn = server()
    (event,) = pump(conn, handshake(version=0) + sized(initial()))
    assert isinstance(event, ServerAuthenticated)
    assert event.session_lifetime_ms == 0
    out = conn.data_to_send()
    shake, token = frames(out)
    assert decode_response(shake, api_key=17, api_version=0)[1] == SaslHandshakeResponse(
        mechanisms=("OAUTHBEARER",)
    )
    assert token == b""  # the server's empty token, size-prefixed


def test_handshake_v0_refusal_sends_the_bare_challenge_then_closes_silently() -> None:
    conn = server(required_scope=("admin",))
    assert pump(conn, handshake(version=0) + sized(initial())) == []
    _, challenge = frames(conn.data_to_send())
    assert json.loads(challenge)["status"] == "insufficient_scope"
    (event,) = pump(conn, sized(b"\x01"))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.message == challenge.decode()
    assert conn.data_to_send() == b""


# --- KIP-368 re-authentication --------------------------------------------------------------


def test_reauthentication_keeps_the_principal() -> None:
    conn = server()
    authenticated(conn)
    later = NOW + 600
    events = pump(conn, handshake(correlation=10) + authenticate(initial(now=later), 11), now=later)
    (event,) = events
    assert isinstance(event, ServerAuthenticated)
    assert event.reauthentication
    assert event.session_lifetime_ms == LIFETIME_MS
    _shake, done = frames(conn.data_to_send())
    assert decode_response(done, api_key=36, api_version=1)[1] == SaslAuthenticateResponse(
        session_lifetime_ms=LIFETIME_MS
    )
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


def test_reauthentication_with_another_principal_is_refused() -> None:
    conn = server()
    authenticated(conn)
    (event,) = pump(conn, handshake(correlation=10) + authenticate(initial("bob"), 11), now=NOW + 5)
    message = "Cannot change principals during re-authentication from User.alice: User.bob"
    assert event == ServerAuthenticationFailed(
        message=message, error_code=58, reason=ServerFailureReason.PRINCIPAL_CHANGED
    )
    _, done = frames(conn.data_to_send())
    assert decode_response(done, api_key=36, api_version=1)[1] == SaslAuthenticateResponse(
        error_code=58, error_message=message
    )


def test_a_second_reauthentication_within_a_second_gets_34() -> None:
    conn = server()
    authenticated(conn)
    pump(conn, handshake(correlation=10) + authenticate(initial(), 11), now=NOW + 5)
    conn.data_to_send()
    assert pump(conn, handshake(correlation=12), now=NOW + 5.5) == []
    assert response(conn.data_to_send(), 17, 1) == SaslHandshakeResponse(error_code=34)
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


def test_a_request_after_the_session_expired_closes_the_connection() -> None:
    conn = server(max_reauth_ms=60_000)
    authenticated(conn)
    assert len(pump(conn, metadata(), now=NOW + 60)) == 1  # at the edge: still valid
    (event,) = pump(conn, metadata(correlation=5), now=NOW + 61)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "session-expired"
    assert conn.data_to_send() == b""


# --- The pure mode: the application validates ------------------------------------------------


def test_pure_mode_stops_at_token_received() -> None:
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"))
    (event,) = pump(conn, handshake() + authenticate(initial()))
    assert isinstance(event, TokenReceived)
    assert conn.next_event() is PAUSED
    token = UnsecuredJwsValidator().validate(event.response.token, now=NOW)
    outcome = conn.accept(token)
    assert isinstance(outcome, ServerAuthenticated)
    assert outcome.session_lifetime_ms == LIFETIME_MS
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


def test_pure_mode_reject_sends_the_challenge() -> None:
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"))
    pump(conn, handshake() + authenticate(initial()))
    conn.data_to_send()
    conn.reject(ErrorResponse("invalid_token"))
    reply = response(conn.data_to_send(), 36, 1)
    assert isinstance(reply, SaslAuthenticateResponse)
    assert json.loads(reply.auth_bytes) == {"status": "invalid_token"}
    assert phase_of(conn) is ServerPhase.CHALLENGED


# --- Malformed input -----------------------------------------------------------------------


def test_malformed_initial_response_gets_kafkas_generic_58() -> None:
    conn = server()
    (event,) = pump(conn, handshake() + authenticate(b"n,,\x01auth=Bearer\x01\x01"))
    text = (
        "Authentication failed during authentication due to invalid credentials "
        "with SASL mechanism OAUTHBEARER"
    )
    assert event == ServerAuthenticationFailed(
        message=text, error_code=58, reason=ServerFailureReason.MALFORMED_RESPONSE
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xff\xff\xff", ErrorCode.CORRUPT_MESSAGE),  # negative size
        ((10**7).to_bytes(4, "big"), ErrorCode.CORRUPT_MESSAGE),  # too large
        (sized(b"\x00"), ErrorCode.INVALID_REQUEST),  # not even an API key
        (sized(b"\x00\x11\x00\x01\x00\x00\x00\x02\x00\x00\x00\x05OAU"), ErrorCode.INVALID_REQUEST),
        (sized(b"\x00\x11\x00\x07\x00\x00\x00\x02\xff\xff"), ErrorCode.UNSUPPORTED_VERSION),
    ],
)
def test_malformed_frames_give_a_typed_failure(data: bytes, code: int) -> None:
    conn = server()
    (event,) = pump(conn, data)
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("malformed-frame", code)
    assert phase_of(conn) is ServerPhase.FAILED


def test_end_of_stream() -> None:
    conn = server()
    assert pump(conn, b"") == [ConnectionClosed()]
    assert phase_of(conn) is ServerPhase.CLOSED


def test_every_reason_is_documented() -> None:
    assert set(ServerFailureReason) == {
        "malformed-frame",
        "unexpected-request",
        "unsupported-mechanism",
        "malformed-response",
        "authentication-failed",
        "challenge-ignored",
        "principal-changed",
        "session-expired",
        "too-many-refusals",
        "authentication-timeout",
        "tls-handshake",
        "http-request",
    }


# --- Another protocol on the Kafka port -----------------------------------------------------

#: The first bytes of a TLS 1.2/1.3 ClientHello as Python's ssl module sends it:
#: a handshake record (22) of version 3.1, then the record length.
CLIENT_HELLO_HEAD = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def client_hello() -> bytes:
    """A real ClientHello, from Python's ssl module (a memory BIO, no socket)."""
    import ssl

    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="kafka.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("max_frame_size", [KAFKA_MAX_RECEIVE_SIZE, (1 << 31) - 1])
def test_a_tls_client_hello_on_a_plaintext_listener_is_named(max_frame_size: int) -> None:
    hello = client_hello()
    assert hello[:3] == CLIENT_HELLO_HEAD[:3]
    conn = KafkaServerConnection(
        lambda: ServerSession(UnsecuredJwsValidator(), dialect="kafka"),
        max_frame_size=max_frame_size,
    )
    (event,) = pump(conn, hello)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "tls-handshake"
    assert "TLS handshake" in event.message
    assert "16 03 01" in event.message
    assert "SASL_SSL" in event.message
    assert conn.data_to_send() == b""  # nothing is answered
    assert phase_of(conn) is ServerPhase.FAILED


@pytest.mark.parametrize("line", [b"GET / HTTP/1.1\r\n", b"POST /token HTTP/1.1\r\n", b"PRI * "])
def test_an_http_request_on_the_kafka_port_is_named(line: bytes) -> None:
    conn = server()
    (event,) = pump(conn, line + b"Host: kafka.example\r\n\r\n")
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "http-request"
    assert repr(line[:4].decode().strip()) in event.message
    assert conn.data_to_send() == b""


def test_a_kafka_stream_is_not_taken_for_another_protocol() -> None:
    # Every real first frame is tens of bytes: its size prefix starts 00 00.
    for stream in (api_versions(), handshake(), handshake(version=0)):
        assert foreign_protocol(stream) is None
    assert foreign_protocol(CLIENT_HELLO_HEAD) == "tls-handshake"
    assert foreign_protocol(b"\x16\x03\x05\x00") is None  # no such TLS version
    assert foreign_protocol(b"GET") is None  # too short to tell


def events_of(pieces: list[bytes]) -> list[object]:
    """Feed the pieces until the connection is over; the events it gave."""
    conn = server()
    events: list[object] = []
    for piece in pieces:
        if conn.phase in (ServerPhase.FAILED, ServerPhase.CLOSED):
            break
        events += pump(conn, piece)
    return events


@given(st.binary(min_size=4, max_size=64), st.lists(st.integers(0, 64), max_size=8))
def test_another_protocol_is_named_wherever_the_stream_is_cut(tail: bytes, cuts: list[int]) -> None:
    for head in (CLIENT_HELLO_HEAD[:4], b"GET ", b"HEAD", b"\x00\x00\x00\x10"):
        stream = head + tail
        points = sorted({min(c, len(stream)) for c in cuts})
        bounds = itertools.pairwise([0, *points, len(stream)])
        pieces = [stream[a:b] for a, b in bounds if b > a]  # b"" would end the stream
        whole = events_of([stream])
        assert events_of(pieces) == whole
        reason = foreign_protocol(head)
        if reason is not None:
            (event,) = whole
            assert isinstance(event, ServerAuthenticationFailed)
            assert event.reason == reason


# --- Local misuse --------------------------------------------------------------------------


def test_illegal_calls_raise_and_fail_the_connection() -> None:
    conn = server()
    with pytest.raises(SessionStateError):
        conn.send_response(
            RequestHeader(api_key=3, api_version=1, correlation_id=1), MetadataResponse()
        )
    assert phase_of(conn) is ServerPhase.FAILED
    conn = server()
    with pytest.raises(SessionStateError):
        conn.reject(ErrorResponse("invalid_token"))
    assert phase_of(conn) is ServerPhase.FAILED
    with pytest.raises(SessionStateError):
        conn.receive_data(b"", now=NOW)


# --- Properties ----------------------------------------------------------------------------


def run_stream(chunks: list[bytes]) -> tuple[list[object], bytes]:
    conn = server()
    events: list[object] = []
    out = b""
    for chunk in chunks:
        events += pump(conn, chunk)
        out += conn.data_to_send()
    return events, out


STREAM = (
    api_versions()
    + handshake()
    + authenticate(initial())
    + metadata(topics=("a", "b"))
    + handshake(correlation=5)
)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_chunking_does_not_change_the_outcome(cuts: list[int]) -> None:
    points = sorted({0, len(STREAM), *cuts})
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert run_stream(chunks) == run_stream([STREAM])


def test_byte_at_a_time_equals_whole_frames() -> None:
    whole = run_stream([STREAM])
    assert run_stream([STREAM[i : i + 1] for i in range(len(STREAM))]) == whole
    assert len(whole[0]) == 2  # ServerAuthenticated, then the Metadata request


FRAMES = st.sampled_from(
    [
        api_versions(),
        handshake(),
        handshake(version=0),
        handshake(mechanism="PLAIN"),
        authenticate(initial()),
        authenticate(b"\x01"),
        authenticate(initial("bob")),
        sized(initial()),
        sized(b"\x01"),
        metadata(),
        b"",
    ]
)
CALLS = st.one_of(
    st.tuples(st.just("receive"), st.one_of(FRAMES, st.binary(max_size=12))),
    st.tuples(st.just("next"), st.none()),
    st.tuples(st.just("send"), st.none()),
    st.tuples(st.just("accept"), st.none()),
    st.tuples(st.just("reject"), st.none()),
    st.tuples(st.just("respond"), st.none()),
)


@settings(max_examples=300)
@given(
    st.booleans(), st.booleans(), st.lists(CALLS, max_size=25), st.floats(0, 10, allow_nan=False)
)
def test_random_call_sequences_raise_only_our_errors(
    pure: bool, refuse: bool, calls: list[tuple[str, bytes | None]], step: float
) -> None:
    validator = UnsecuredJwsValidator(required_scope=("admin",) if refuse else ())
    conn = KafkaServerConnection(
        (lambda: ServerSession(dialect="kafka"))
        if pure
        else (lambda: ServerSession(validator, dialect="kafka"))
    )
    token = UnsecuredJwsValidator().validate(login(), now=NOW)
    now = NOW
    for name, data in calls:
        before = conn.phase
        now += step
        try:
            if name == "receive":
                assert data is not None
                conn.receive_data(data, now=now)
            elif name == "next":
                conn.next_event()
            elif name == "send":
                conn.data_to_send()
            elif name == "accept":
                conn.accept(token)
            elif name == "reject":
                conn.reject(ErrorResponse("invalid_token"))
            else:
                conn.send_response(
                    RequestHeader(api_key=3, api_version=1, correlation_id=1), MetadataResponse()
                )
        except SessionStateError:
            assert phase_of(conn) is ServerPhase.FAILED
            # The call was not allowed in the phase it was made in.
            assert before not in _PERMISSIONS[_call(name)]
            return
        except OAuthBearerError:
            assert phase_of(conn) is ServerPhase.FAILED
            return
        assert before in _PERMISSIONS[_call(name)] or (
            name == "next" and before is ServerPhase.VALIDATING  # PAUSED, unchecked
        )


def _call(name: str) -> str:
    return {
        "receive": "receive_data",
        "next": "next_event",
        "send": "data_to_send",
        "accept": "accept",
        "reject": "reject",
        "respond": "send_response",
    }[name]


def test_the_tables_name_only_known_calls() -> None:
    assert set(_PERMISSIONS) == {
        "receive_data",
        "data_to_send",
        "next_event",
        "accept",
        "reject",
        "send_response",
        "send_raw",
        "check_deadline",
    }
    # Frames are what next_event read; accept and reject are the verdicts.
    assert {event.value.split(":")[0] for _, event in _TRANSITIONS} == {
        "frame",
        "accept",
        "reject",
    }


# --- Frame limits ----------------------------------------------------------------------


def big_request(size: int, correlation: int = 9) -> bytes:
    """A Produce v3 request header and ``size`` bytes in all: a frame the codec
    does not decode, handed over whole."""
    header = (0).to_bytes(2, "big") + (3).to_bytes(2, "big") + correlation.to_bytes(4, "big")
    header += b"\xff\xff"  # null client id
    return sized(header + bytes(size - len(header)))


def test_the_frame_limit_is_sasls_until_authenticated_then_the_request_limit() -> None:
    # Kafka: sasl.server.max.receive.size (512 KiB) while authenticating,
    # socket.request.max.bytes once authenticated.
    over_sasl = KAFKA_MAX_RECEIVE_SIZE + 1
    early = server()
    (failure,) = pump(early, big_request(over_sasl))
    assert isinstance(failure, ServerAuthenticationFailed)
    assert failure.reason == "malformed-frame"
    assert "exceeds max_frame_size 524288" in failure.message

    conn = server()
    authenticated(conn)
    (event,) = pump(conn, big_request(over_sasl))
    assert isinstance(event, ApplicationRequest)
    assert isinstance(event.message, Frame)
    assert len(event.message.data) == over_sasl

    # A re-authentication reads its tokens under the SASL limit again.
    later = NOW + 600
    pump(conn, handshake(correlation=10), now=later)
    (failure,) = pump(conn, big_request(over_sasl, correlation=11), now=later)
    assert isinstance(failure, ServerAuthenticationFailed)
    assert failure.reason == "malformed-frame"


def test_the_frame_limit_does_not_depend_on_where_the_stream_is_cut() -> None:
    # Found by fuzz/kafka_wire.py: a request pipelined in one chunk with the
    # authentication was refused under the SASL limit, and a token pipelined with
    # a re-authentication's handshake was read under the request limit.
    over_sasl = KAFKA_MAX_RECEIVE_SIZE + 1
    conn = server()
    stream = api_versions() + handshake() + authenticate(initial()) + big_request(over_sasl)
    authenticated_event, request = pump(conn, stream)
    assert isinstance(authenticated_event, ServerAuthenticated)
    assert isinstance(request, ApplicationRequest)
    (failure,) = pump(conn, handshake(correlation=10) + big_request(over_sasl), now=NOW + 600)
    assert isinstance(failure, ServerAuthenticationFailed)
    assert "exceeds max_frame_size 524288" in failure.message


def test_the_request_limit_is_configurable_and_checked() -> None:
    validator = UnsecuredJwsValidator()
    conn = KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"), max_request_size=1_000
    )
    authenticated(conn)
    (failure,) = pump(conn, big_request(1_001))
    assert isinstance(failure, ServerAuthenticationFailed)
    assert "exceeds max_frame_size 1000" in failure.message
    with pytest.raises(ConfigurationError):
        KafkaServerConnection(lambda: ServerSession(validator), max_request_size=-1)


# --- Work per frame before authentication (issue 14, finding 1) ---------------------------


def empty_tags(count: int) -> tuple[TaggedField, ...]:
    return tuple(TaggedField(tag=tag, data=b"") for tag in range(count))


def tagged_request(api_key: int, version: int, message: object, count: int) -> bytes:
    header = RequestHeader(
        api_key=api_key, api_version=version, correlation_id=1, tagged_fields=empty_tags(count)
    )
    return encode_request(header, message)  # type: ignore[arg-type]


def test_tagged_fields_up_to_the_limit_are_served() -> None:
    conn = server()
    message = ApiVersionsRequest(
        client_software_name="librdkafka",
        client_software_version="2.6.0",
        tagged_fields=empty_tags(MAX_TAGGED_FIELDS),
    )
    assert pump(conn, tagged_request(18, 3, message, MAX_TAGGED_FIELDS)) == []
    assert phase_of(conn) is ServerPhase.VERSIONS_ANSWERED


@pytest.mark.parametrize("where", ["header", "body"])
def test_an_api_versions_frame_full_of_tagged_fields_fails_unread(where: str) -> None:
    # 10,000 empty tagged fields cost a parse each before the fix, and the
    # connection answered and stayed open to take the next such frame.
    count = 10_000
    body_tags = empty_tags(count) if where == "body" else ()
    message = ApiVersionsRequest(
        client_software_name="x", client_software_version="1", tagged_fields=body_tags
    )
    conn = server()
    (event,) = pump(conn, tagged_request(18, 3, message, count if where == "header" else 0))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("malformed-frame", ErrorCode.INVALID_REQUEST)
    assert f"more than the limit of {MAX_TAGGED_FIELDS}" in event.message
    assert conn.data_to_send() == b""
    assert phase_of(conn) is ServerPhase.FAILED


def test_a_sasl_authenticate_header_full_of_tagged_fields_fails_unread() -> None:
    conn = server()
    pump(conn, handshake())
    conn.data_to_send()
    frame = tagged_request(36, 2, SaslAuthenticateRequest(auth_bytes=initial()), 10_000)
    (event,) = pump(conn, frame)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "malformed-frame"
    assert phase_of(conn) is ServerPhase.FAILED


def test_a_pre_authentication_metadata_naming_many_topics_is_closed_unanswered() -> None:
    # Before the fix: 10,000 topics read and each answered ILLEGAL_SASL_STATE.
    conn = server()
    pump(conn, handshake())
    conn.data_to_send()
    many = tuple("" for _ in range(10_000))
    (event,) = pump(conn, metadata(topics=many))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("unexpected-request", 34)
    assert conn.data_to_send() == b""


def test_a_pre_authentication_metadata_up_to_the_limit_is_answered_per_topic() -> None:
    conn = server()
    pump(conn, handshake())
    conn.data_to_send()
    topics = tuple(f"t{n}" for n in range(MAX_ELEMENTS_BEFORE_AUTHENTICATION))
    (event,) = pump(conn, metadata(topics=topics))
    assert isinstance(event, ServerAuthenticationFailed)
    reply = response(conn.data_to_send(), 3, 1)
    assert isinstance(reply, MetadataResponse)
    assert [t.error_code for t in reply.topics] == [34] * len(topics)


def invalid_api_versions(correlation: int) -> bytes:
    message = ApiVersionsRequest(client_software_name="-bad-", client_software_version="1")
    return request(18, 3, correlation, message)


def test_refused_requests_before_authentication_close_the_connection() -> None:
    conn = server()
    limit = MAX_REFUSED_REQUESTS_BEFORE_AUTHENTICATION
    for correlation in range(1, limit):
        assert pump(conn, invalid_api_versions(correlation)) == []
        reply = response(conn.data_to_send(), 18, 3)
        assert isinstance(reply, ApiVersionsResponse)
        assert reply.error_code == ErrorCode.INVALID_REQUEST
        assert phase_of(conn) is ServerPhase.AWAITING_HANDSHAKE
    (event,) = pump(conn, invalid_api_versions(limit))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("too-many-refusals", ErrorCode.INVALID_REQUEST)
    reply = response(conn.data_to_send(), 18, 3)  # the last one is answered too
    assert isinstance(reply, ApiVersionsResponse)
    assert phase_of(conn) is ServerPhase.FAILED


def test_one_unsupported_api_versions_then_a_retry_is_what_clients_do() -> None:
    conn = server()
    frame = api_versions()
    newer = frame[:6] + (9).to_bytes(2, "big") + frame[8:]  # ApiVersions v9: not spoken
    assert pump(conn, newer) == []
    reply = response(conn.data_to_send(), 18, 0)
    assert isinstance(reply, ApiVersionsResponse)
    assert reply.error_code == ErrorCode.UNSUPPORTED_VERSION
    authenticated(conn)


# --- The authentication deadline (issue 14, finding 1) -------------------------------------


def test_the_deadline_runs_from_the_connections_start() -> None:
    timeout_s = DEFAULT_AUTHENTICATION_TIMEOUT_MS / 1000
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"), now=NOW)
    assert conn.authentication_deadline == NOW + timeout_s
    assert pump(conn, handshake(), now=NOW + timeout_s - 1) == []
    conn.data_to_send()
    assert conn.check_deadline(now=NOW + timeout_s - 0.5) is None
    event = conn.check_deadline(now=NOW + timeout_s)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "authentication-timeout"
    assert conn.data_to_send() == b""  # nothing is said to a client that says nothing
    assert phase_of(conn) is ServerPhase.FAILED
    assert conn.check_deadline(now=NOW + 2 * timeout_s) is None  # over: nothing more


def deadline_of(conn: KafkaServerConnection) -> float | None:
    """The deadline, read through a call so that mypy does not narrow it across calls."""
    return conn.authentication_deadline


def test_a_frame_after_the_deadline_is_not_read() -> None:
    conn = KafkaServerConnection(
        lambda: ServerSession(dialect="kafka"), authentication_timeout_ms=1000
    )
    assert deadline_of(conn) is None  # it starts with the first bytes
    assert pump(conn, api_versions(), now=NOW) == []
    conn.data_to_send()
    assert deadline_of(conn) == NOW + 1
    (event,) = pump(conn, handshake(), now=NOW + 1)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "authentication-timeout"
    assert conn.data_to_send() == b""


def test_the_deadline_stands_while_the_application_validates() -> None:
    conn = KafkaServerConnection(lambda: ServerSession(dialect="kafka"), now=NOW)
    (received,) = pump(conn, handshake() + authenticate(initial()), now=NOW)
    assert isinstance(received, TokenReceived)
    event = conn.check_deadline(now=NOW + 3600)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "authentication-timeout"


def test_an_authenticated_connection_has_no_deadline() -> None:
    conn = server()
    authenticated(conn)
    assert conn.authentication_deadline is None
    assert conn.check_deadline(now=NOW + 3000) is None
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


def test_no_timeout_means_no_deadline() -> None:
    conn = KafkaServerConnection(
        lambda: ServerSession(dialect="kafka"), authentication_timeout_ms=None, now=NOW
    )
    assert conn.authentication_deadline is None
    assert conn.check_deadline(now=NOW + 10**6) is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_the_timeout_is_checked(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        KafkaServerConnection(ServerSession, authentication_timeout_ms=bad)  # type: ignore[arg-type]


# --- Work per request after authentication (issue 14, finding 2) ---------------------------


def test_metadata_topics_are_bounded_after_authentication() -> None:
    assert MAX_METADATA_TOPICS == 10_000
    validator = UnsecuredJwsValidator()
    conn = KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"), max_metadata_topics=3
    )
    authenticated(conn)
    (event,) = pump(conn, metadata(topics=("a", "b", "c")))
    assert isinstance(event, ApplicationRequest)
    (event,) = pump(conn, metadata(correlation=5, topics=("a", "b", "c", "d")))
    assert isinstance(event, ServerAuthenticationFailed)
    assert (event.reason, event.error_code) == ("malformed-frame", ErrorCode.INVALID_REQUEST)
    assert "more than the limit of 3" in event.message


def test_the_default_topic_bound_refuses_a_larger_request_unread() -> None:
    conn = server()
    authenticated(conn)
    (event,) = pump(conn, metadata(topics=("",) * (MAX_METADATA_TOPICS + 1)))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "malformed-frame"


# --- Peer text in error messages (issue 14, finding 3) -------------------------------------


def hand_made_token(principal: str, *, now: float = NOW) -> str:
    """An unsecured token for any principal: JSON escapes what UTF-8 cannot
    carry (a lone surrogate), which the validator then decodes."""
    claims = json.dumps({"sub": principal, "exp": now + 3600, "iat": now})
    parts = (b'{"alg":"none"}', claims.encode())
    return ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts) + "."


def refusal_of(conn: KafkaServerConnection, data: bytes, *, now: float = NOW) -> str:
    """Feed ``data``; the connection must fail with 58, and the error message it
    sends must be what the event says, within a Kafka STRING's limits."""
    (event,) = pump(conn, data, now=now)
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.error_code == 58
    last = frames(conn.data_to_send())[-1]  # after the handshake's answer, if queued
    _header, reply = decode_response(last, api_key=36, api_version=1)
    assert isinstance(reply, SaslAuthenticateResponse)
    assert reply.error_message == event.message
    assert len(event.message.encode("utf-8")) <= MAX_STRING_LENGTH
    return event.message


def test_a_long_authzid_is_cut_to_fit_the_error_message() -> None:
    authzid = "b" * 40_000
    data = handshake() + authenticate(ClientInitialResponse(login(), authzid=authzid).encode())
    message = refusal_of(server(), data)
    assert message.startswith("Authentication failed: Client requested an authorization id (bbb")
    assert message.endswith("...")


def test_a_principal_with_a_lone_surrogate_is_sent_as_java_encodes_it() -> None:
    # Java's UTF-8 encoder writes a lone surrogate as '?'; other characters, a
    # newline included, travel as Kafka sends them (logs escape them instead).
    token = hand_made_token("\ud800alice\nforged")
    data = handshake() + authenticate(ClientInitialResponse(token, authzid="alice").encode())
    message = refusal_of(server(), data)
    assert "(?alice\nforged)" in message


def test_a_long_principal_on_a_changed_reauthentication_is_cut() -> None:
    conn = server()
    authenticated(conn)
    later = NOW + 2
    pump(conn, handshake(correlation=10), now=later)
    conn.data_to_send()
    message = refusal_of(conn, authenticate(initial("p" * 40_000, now=later)), now=later)
    assert message.startswith("Cannot change principals during re-authentication")
    assert message.endswith("...")


def test_many_refused_extensions_are_cut_to_fit() -> None:
    def refuse_all(token: object, extensions: Mapping[str, str]) -> ExtensionVerdict:
        return ExtensionVerdict(invalid=dict.fromkeys(extensions, "not allowed here"))

    names = ["".join(letters) for letters in itertools.product("abcdefghijklm", repeat=3)]
    validator = UnsecuredJwsValidator()
    conn = KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka", extension_validator=refuse_all)
    )
    # By hand: the encoder sends at most 64 extensions, Kafka's dialect reads any number.
    pairs = b"".join(f"{name}=v\x01".encode() for name in names[:2028])
    data = b"n,,\x01auth=Bearer " + login().encode() + b"\x01" + pairs + b"\x01"
    message = refusal_of(conn, handshake() + authenticate(data))
    assert message.startswith("Authentication failed: 2028 extensions are invalid!")


def test_peer_text_escapes_and_cuts() -> None:
    assert peer_text("plain Zoë") == "plain Zoë"
    assert peer_text("a\r\nb\x1b[2J\x85\u2028\ud800") == "a\\x0d\\x0ab\\x1b[2J\\x85\\u2028\\ud800"
    assert peer_text("abcdef", max_bytes=5) == "ab..."
    cut = peer_text("é" * 20, max_bytes=10)  # never half a character
    assert (cut, len(cut.encode())) == ("ééé...", 9)
    assert len(peer_text("x" * 10**6).encode()) == MAX_STRING_LENGTH


# --- Any peer input: events, never exceptions ------------------------------------------------

#: Peer-chosen text: every code point, lone surrogates and line breaks included.
PEER_TEXT = st.text(st.characters(codec=None), max_size=40) | st.sampled_from(
    ["x" * 40_000, "\ud800alice", "a\nb"]
)


@settings(max_examples=60, deadline=None)
@given(
    principal=PEER_TEXT.filter(lambda p: p.strip() != ""),
    authzid=st.none() | PEER_TEXT,
    extensions=st.dictionaries(
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4).filter(lambda k: k != "auth"),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8),
        max_size=5,
    ),
    reject_extensions=st.booleans(),
    reauthenticate=st.booleans(),
    tail=st.binary(max_size=40),
)
def test_no_peer_input_makes_the_server_connection_raise(
    *,
    principal: str,
    authzid: str | None,
    extensions: dict[str, str],
    reject_extensions: bool,
    reauthenticate: bool,
    tail: bytes,
) -> None:
    def verdict(token: object, names: Mapping[str, str]) -> ExtensionVerdict:
        if reject_extensions:
            return ExtensionVerdict(invalid={name: f"no {name}\n{principal}" for name in names})
        return ExtensionVerdict(valid=frozenset(names))

    validator = UnsecuredJwsValidator()
    conn = KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka", extension_validator=verdict)
    )
    token = hand_made_token(principal)
    try:
        response_bytes = ClientInitialResponse(
            token, authzid=authzid, extensions=extensions
        ).encode()
    except OAuthBearerError:
        response_bytes = sized(b"n,a=" + (authzid or "").encode("utf-8", "surrogatepass"))
    stream = handshake() + authenticate(response_bytes)
    if reauthenticate:
        stream = api_versions() + handshake() + authenticate(initial()) + stream
    for data, now in ((stream, NOW), (tail, NOW + 2), (b"", NOW + 3)):
        if conn.phase in (ServerPhase.FAILED, ServerPhase.CLOSED):
            break
        for event in pump(conn, data, now=now):
            if isinstance(event, ServerAuthenticationFailed):
                assert len(event.message.encode("utf-8")) <= MAX_STRING_LENGTH or (
                    event.reason != "authentication-failed"
                )
        conn.data_to_send()


# --- Every version a Kafka 4.x broker serves (tests/test_kafka_versions.py) -----------


@pytest.mark.parametrize("auth_version", [0, 1, 2])
@pytest.mark.parametrize("metadata_version", range(14))
def test_the_challenge_path_answers_every_version(auth_version: int, metadata_version: int) -> None:
    # Sarama and KafkaJS take the challenge for success and send Metadata at the
    # version they negotiated: the error response is built at that version.
    conn = server(required_scope=("admin",))
    pump(conn, handshake())
    conn.data_to_send()
    pump(conn, authenticate(initial(), version=auth_version))
    challenge = response(conn.data_to_send(), 36, auth_version)
    assert isinstance(challenge, SaslAuthenticateResponse)
    assert json.loads(challenge.auth_bytes)["status"] == "insufficient_scope"
    (event,) = pump(conn, request(3, metadata_version, 4, MetadataRequest(topics=("secret",))))
    assert isinstance(event, ServerAuthenticationFailed)
    assert event.reason == "challenge-ignored"
    reply = response(conn.data_to_send(), 3, metadata_version)
    assert isinstance(reply, MetadataResponse)
    assert [(t.name, t.error_code) for t in reply.topics] == [("secret", 34)]
    # The top-level error code exists from v13 (Kafka 4's MetadataRequest.getErrorResponse).
    assert reply.error_code == (34 if metadata_version >= 13 else 0)


def identified() -> KafkaServerConnection:
    validator = UnsecuredJwsValidator()
    return KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"), cluster_id="c1", node_id=7
    )


@pytest.mark.parametrize(
    ("cluster_id", "node_id", "error_code"),
    [
        (None, -1, 0),  # the client does not know whom it talks to
        ("c1", 7, 0),
        ("c2", 7, ErrorCode.REBOOTSTRAP_REQUIRED),
        ("c1", 8, ErrorCode.REBOOTSTRAP_REQUIRED),
        ("c1", -1, ErrorCode.INVALID_REQUEST),  # isValid(): both or neither
        (None, 7, ErrorCode.INVALID_REQUEST),
    ],
)
def test_api_versions_v5_checks_the_cluster_once_authenticated(
    cluster_id: str | None, node_id: int, error_code: int
) -> None:
    # KIP-1242 (Kafka 4.4): KafkaApis compares the client's idea of the cluster
    # with its own; SaslServerAuthenticator, before authentication, does not.
    conn = identified()
    authenticated(conn)
    asked = ApiVersionsRequest(
        client_software_name="java", client_software_version="4.4.0", cluster_id=cluster_id,
        node_id=node_id,
    )  # fmt: skip
    assert pump(conn, request(18, 5, 9, asked)) == []
    reply = response(conn.data_to_send(), 18, 5)
    assert isinstance(reply, ApiVersionsResponse)
    assert reply.error_code == error_code
    assert phase_of(conn) is ServerPhase.AUTHENTICATED


def test_api_versions_v5_before_authentication_compares_no_cluster() -> None:
    conn = identified()
    asked = ApiVersionsRequest(
        client_software_name="java", client_software_version="4.4.0", cluster_id="other",
        node_id=1,
    )  # fmt: skip
    assert pump(conn, request(18, 5, 1, asked)) == []
    reply = response(conn.data_to_send(), 18, 5)
    assert isinstance(reply, ApiVersionsResponse)
    assert reply.error_code == 0
    with pytest.raises(ConfigurationError, match="give both or neither"):
        KafkaServerConnection(lambda: ServerSession(UnsecuredJwsValidator()), cluster_id="c")


def test_bytes_after_an_authenticated_request_are_ignored_as_kafka_does() -> None:
    # librdkafka 2.16's Metadata v13 (all topics) carries three bytes after its
    # fields; Kafka 4.4 answers it (measured). Before authentication they are
    # refused, as ever.
    frame = bytes.fromhex("0003000d00000005000772646b61666b610000000000010000")
    conn = server()
    authenticated(conn)
    (event,) = pump(conn, sized(frame))
    assert isinstance(event, ApplicationRequest)
    assert event.message == MetadataRequest(topics=None, allow_auto_topic_creation=False)
    fresh = server()
    (failed,) = pump(fresh, sized(frame))
    assert isinstance(failed, ServerAuthenticationFailed)
