"""KafkaClientConnection: a client's side of OAUTHBEARER authentication, as Kafka's client runs it.

Most tests pair the client with :class:`KafkaServerConnection` in memory; a
few play an older or stricter broker with hand-built response frames
(``encode_response``). The expected behaviour is read from Kafka's
``SaslClientAuthenticator`` and ``NetworkClient``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import ClientSession, ServerSession, UnsecuredJwsValidator
from oauthbearer.errors import (
    ArgumentTypeError,
    ClientFailureReason,
    ConfigurationError,
    SessionStateError,
)
from oauthbearer.kafka import (
    NEED_DATA,
    PAUSED,
    ApiKey,
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    ApplicationRequest,
    ApplicationResponse,
    ClientAuthenticated,
    ClientAuthenticationFailed,
    ClientPhase,
    ConnectionClosed,
    Frame,
    KafkaClientConnection,
    KafkaFrameDecoder,
    KafkaServerConnection,
    MetadataBroker,
    MetadataRequest,
    MetadataResponse,
    MetadataTopic,
    RequestHeader,
    ResponseHeader,
    ResponseMessage,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    ServerAuthenticated,
    ServerAuthenticationFailed,
    decode_request,
    encode_request,
    encode_response,
)
from oauthbearer.kafka.client import _PERMISSIONS, _TRANSITIONS
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Sequence

NOW = 1_700_000_000.0
LIFETIME_MS = 3_600_000  # kafka_unsecured_login's default lifetime


def login(principal: str = "alice") -> str:
    options = {"unsecuredLoginStringClaim_sub": principal}
    return kafka_unsecured_login(options, now=NOW).token.value


def client(*, correlation_id: int = 0) -> KafkaClientConnection:
    return KafkaClientConnection(login(), client_id="test", correlation_id=correlation_id)


def server(
    *,
    required_scope: tuple[str, ...] = (),
    max_reauth_ms: int | None = None,
    api_versions: Sequence[tuple[int, int, int]] | None = None,
) -> KafkaServerConnection:
    validator = UnsecuredJwsValidator(required_scope=required_scope)
    return KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"),
        max_reauth_ms=max_reauth_ms,
        api_versions=api_versions,
    )


def phase_of(conn: KafkaClientConnection) -> ClientPhase:
    """The phase, read through a call so that mypy does not narrow it across calls."""
    return conn.phase


def frames(data: bytes) -> list[bytes]:
    decoder = KafkaFrameDecoder()
    decoder.receive_data(data)
    out = []
    while isinstance(frame := decoder.next_event(), Frame):
        out.append(frame.data)
    return out


def chunks(data: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [data] if data else []
    return [data[i : i + size] for i in range(0, len(data), size)]


def client_events(
    conn: KafkaClientConnection, data: bytes, chunk: int | None = None
) -> list[object]:
    """Feed ``data`` (in chunks of ``chunk`` bytes) and collect events up to the end."""
    events: list[object] = []
    for piece in chunks(data, chunk):
        conn.receive_data(piece)
        events.extend(drain_client(conn))
        if conn.phase in (ClientPhase.FAILED, ClientPhase.CLOSED):
            break
    return events


def drain_client(conn: KafkaClientConnection) -> list[object]:
    events: list[object] = []
    while conn.phase not in (ClientPhase.FAILED, ClientPhase.CLOSED):
        event = conn.next_event()
        if event is NEED_DATA:
            break
        events.append(event)
    return events


class Pair:
    """A client and a server connected in memory, recording every frame each way."""

    def __init__(self, conn: KafkaClientConnection, broker: KafkaServerConnection) -> None:
        self.client = conn
        self.server = broker
        self.client_events: list[object] = []
        self.server_events: list[object] = []
        self.sent: list[bytes] = []  # client -> server frames
        self.received: list[bytes] = []  # server -> client frames

    def run(self, chunk: int | None = None) -> None:
        """Move bytes both ways until neither side has anything to say."""
        while True:
            up = self.client.data_to_send()
            down = b""
            self.sent += frames(up)
            for piece in chunks(up, chunk):
                self.server.receive_data(piece, now=NOW)
                down += self._drain_server()
            down += self.server.data_to_send()
            self.received += frames(down)
            self.client_events += client_events(self.client, down, chunk)
            if not up and not down:
                return

    def _drain_server(self) -> bytes:
        out = b""
        while self.server.phase.name not in ("FAILED", "CLOSED"):
            event = self.server.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            self.server_events.append(event)
            out += self.server.data_to_send()
        return out + self.server.data_to_send()


def started(conn: KafkaClientConnection, broker: KafkaServerConnection) -> Pair:
    conn.initiate()
    pair = Pair(conn, broker)
    pair.run()
    return pair


def reply(correlation_id: int, message: ResponseMessage, version: int) -> bytes:
    return encode_response(ResponseHeader(correlation_id=correlation_id), message, version)


def requests_of(data: bytes) -> list[tuple[RequestHeader, object]]:
    return [decode_request(frame) for frame in frames(data)]


# --- The success path -----------------------------------------------------------------


def test_success_reports_the_session_lifetime() -> None:
    pair = started(client(), server())
    assert pair.client_events == [ClientAuthenticated(session_lifetime_ms=LIFETIME_MS)]
    (granted,) = pair.server_events
    assert isinstance(granted, ServerAuthenticated)
    assert granted.principal == "alice"
    assert pair.client.phase is ClientPhase.AUTHENTICATED
    # Kafka's order: ApiVersions v3 (with the software name), SaslHandshake v1
    # naming OAUTHBEARER, SaslAuthenticate at the highest shared version (v2).
    (versions, handshake, authenticate) = (decode_request(f) for f in pair.sent)
    assert versions[0].api_key == ApiKey.API_VERSIONS
    assert versions[0].api_version == 3
    assert versions[1] == ApiVersionsRequest(
        client_software_name="oauthbearer", client_software_version="0.1.0.dev0"
    )
    assert handshake[0].api_version == 1
    assert handshake[1] == SaslHandshakeRequest(mechanism="OAUTHBEARER")
    assert authenticate[0].api_version == 2
    assert isinstance(authenticate[1], SaslAuthenticateRequest)
    assert authenticate[1].auth_bytes.startswith(b"n,,\x01auth=Bearer ")
    assert [h.correlation_id for h, _ in (versions, handshake, authenticate)] == [0, 1, 2]
    assert {h.client_id for h, _ in (versions, handshake, authenticate)} == {"test"}


def test_the_lifetime_is_the_brokers_cap() -> None:
    pair = started(client(), server(max_reauth_ms=60_000))
    assert pair.client_events == [ClientAuthenticated(session_lifetime_ms=60_000)]


@pytest.mark.parametrize(("high", "lifetime"), [(1, LIFETIME_MS), (0, 0)])
def test_sasl_authenticate_runs_at_the_highest_shared_version(high: int, lifetime: int) -> None:
    versions = [(18, 0, 4), (17, 0, 1), (36, 0, high), (3, 0, 1)]
    pair = started(client(), server(api_versions=versions))
    assert pair.client_events == [ClientAuthenticated(session_lifetime_ms=lifetime)]
    header, _ = decode_request(pair.sent[-1])
    assert header.api_version == high


def test_a_client_session_and_a_correlation_start_may_be_given() -> None:
    session = ClientSession(login(), extensions={"traceId": "abc"})
    conn = KafkaClientConnection(session, correlation_id=2**31 - 1)
    pair = started(conn, server())
    assert pair.client_events == [ClientAuthenticated(session_lifetime_ms=LIFETIME_MS)]
    (granted,) = pair.server_events
    assert isinstance(granted, ServerAuthenticated)
    assert dict(granted.extensions) == {"traceId": "abc"}
    # INT32 correlation ids wrap to 0, as Kafka's do.
    assert [decode_request(f)[0].correlation_id for f in pair.sent] == [2**31 - 1, 0, 1]


# --- The challenge path ---------------------------------------------------------------


def test_challenge_sends_x01_and_surfaces_58_with_status_and_scope() -> None:
    pair = started(client(), server(required_scope=("admin",)))
    (failed,) = pair.client_events
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.error_code == 58
    assert failed.reason == "authentication-failed"
    assert failed.status == "insufficient_scope"
    assert failed.scope is not None
    assert "admin" in failed.scope
    assert json.loads(failed.message)["status"] == "insufficient_scope"
    assert pair.client.phase is ClientPhase.FAILED
    # The challenge came with error code 0; the client answered %x01 in its own
    # SaslAuthenticate; the broker then failed the exchange with 58.
    header, last = decode_request(pair.sent[-1])
    assert header.api_key == ApiKey.SASL_AUTHENTICATE
    assert last == SaslAuthenticateRequest(auth_bytes=b"\x01")
    (refused,) = pair.server_events
    assert isinstance(refused, ServerAuthenticationFailed)
    assert refused.error_code == 58


def test_success_after_a_challenge_is_refused() -> None:
    conn = client()
    conn.initiate()
    conn.data_to_send()
    challenge = b'{"status":"invalid_token"}'
    events = client_events(
        conn,
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(2, SaslAuthenticateResponse(auth_bytes=challenge), 2)
        + reply(3, SaslAuthenticateResponse(), 2),
    )
    (failed,) = events
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "success-after-challenge"
    assert failed.error_code == 34
    assert phase_of(conn) is ClientPhase.FAILED


def test_a_malformed_challenge_fails_without_raising() -> None:
    conn = client()
    conn.initiate()
    events = client_events(
        conn,
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(2, SaslAuthenticateResponse(auth_bytes=b"not json"), 2),
    )
    (failed,) = events
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "malformed-challenge"


def test_error_58_without_a_challenge_carries_the_brokers_message() -> None:
    conn = client()
    conn.initiate()
    text = "Authentication failed during authentication due to invalid credentials"
    events = client_events(
        conn,
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(2, SaslAuthenticateResponse(error_code=58, error_message=text), 2),
    )
    assert events == [
        ClientAuthenticationFailed(
            message=text, error_code=58, reason=ClientFailureReason.AUTHENTICATION_FAILED
        )
    ]


# --- Handshake and version negotiation ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "text"),
    [
        (33, "unsupported-mechanism", "Client SASL mechanism 'OAUTHBEARER' not enabled"),
        (34, "illegal-sasl-state", "Unexpected handshake request"),
        (42, "handshake-failed", "Unknown error code 42"),
    ],
)
def test_handshake_errors_fail_with_the_enabled_list(code: int, reason: str, text: str) -> None:
    conn = client()
    conn.initiate()
    assert client_events(conn, reply(0, ApiVersionsResponse.supporting(), 3)) == []
    conn.data_to_send()  # ApiVersions and SaslHandshake
    refusal = SaslHandshakeResponse(error_code=code, mechanisms=("PLAIN", "GSSAPI"))
    events = client_events(conn, reply(1, refusal, 1))
    (failed,) = events
    assert isinstance(failed, ClientAuthenticationFailed)
    assert (failed.error_code, failed.reason) == (code, reason)
    assert failed.message.startswith(text)
    assert "['PLAIN', 'GSSAPI']" in failed.message
    assert conn.data_to_send() == b""  # no token goes out


@pytest.mark.parametrize(
    ("listed", "retry_version"),
    [
        ((), 0),
        ((ApiVersion(api_key=18, min_version=0, max_version=0),), 0),
        ((ApiVersion(api_key=18, min_version=0, max_version=2),), 2),
    ],
)
def test_unsupported_api_versions_falls_back_once(
    listed: tuple[ApiVersion, ...], retry_version: int
) -> None:
    conn = client()
    conn.initiate()
    conn.data_to_send()  # an old broker refuses v3 (KIP-511): v0, error 35
    assert (
        client_events(conn, reply(0, ApiVersionsResponse(error_code=35, api_keys=listed), 0)) == []
    )
    ((header, message),) = requests_of(conn.data_to_send())
    assert (header.api_key, header.api_version, header.correlation_id) == (18, retry_version, 1)
    assert message == ApiVersionsRequest()
    # The rest runs against a broker that speaks the retried version.
    broker = server()
    assert isinstance(message, ApiVersionsRequest)
    broker.receive_data(encode_request(header, message), now=NOW)
    pair = Pair(conn, broker)
    pair.server_events += drain_server(broker)
    pair.client_events += client_events(conn, broker.data_to_send())
    pair.run()
    assert pair.client_events == [ClientAuthenticated(session_lifetime_ms=LIFETIME_MS)]


def drain_server(broker: KafkaServerConnection) -> list[object]:
    events: list[object] = []
    while (event := broker.next_event()) is not NEED_DATA and event is not PAUSED:
        events.append(event)
    return events


def test_a_second_unsupported_version_fails() -> None:
    conn = client()
    conn.initiate()
    refusal = ApiVersionsResponse(error_code=35)
    assert client_events(conn, reply(0, refusal, 0)) == []
    (failed,) = client_events(conn, reply(1, refusal, 0))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert (failed.error_code, failed.reason) == (35, "api-versions-failed")


def test_a_broker_without_sasl_authenticate_is_refused() -> None:
    conn = client()
    conn.initiate()
    old = ApiVersionsResponse.supporting([(18, 0, 3), (17, 0, 0)])
    (failed,) = client_events(conn, reply(0, old, 3))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert (failed.error_code, failed.reason) == (35, "unsupported-version")


# --- Byte at a time -------------------------------------------------------------------


@pytest.mark.parametrize("required_scope", [(), ("admin",)])
def test_byte_at_a_time_both_ways_equals_whole_frames(required_scope: tuple[str, ...]) -> None:
    runs = []
    for chunk in (None, 1):
        conn = client()
        conn.initiate()
        pair = Pair(conn, server(required_scope=required_scope))
        pair.run(chunk)
        runs.append((pair.client_events, pair.sent, pair.received, conn.phase))
    assert runs[0] == runs[1]
    assert runs[0][0]  # something happened


# --- After authentication -------------------------------------------------------------


def test_an_application_request_round_trips() -> None:
    pair = started(client(), server())
    request = pair.client.send_request(3, 1, MetadataRequest(topics=None))
    assert request.correlation_id == 3
    pair.run()
    (_granted, asked) = pair.server_events
    assert isinstance(asked, ApplicationRequest)
    assert asked.message == MetadataRequest(topics=None)
    assert asked.header == request
    answer = MetadataResponse(
        brokers=(MetadataBroker(node_id=1, host="localhost", port=9092),),
        controller_id=1,
        topics=(MetadataTopic(name="t"),),
    )
    pair.server.send_response(asked.header, answer)
    pair.run()
    (_, response) = pair.client_events
    assert isinstance(response, ApplicationResponse)
    assert response.request == request
    assert response.header == ResponseHeader(correlation_id=3)
    assert response.message == answer
    assert frames(reply(3, answer, 1)) == [response.frame.data]
    assert pair.client.phase is ClientPhase.AUTHENTICATED


def test_responses_must_come_in_request_order() -> None:
    pair = started(client(), server())
    pair.client.send_request(3, 1, MetadataRequest(topics=None))
    pair.client.data_to_send()
    (failed,) = client_events(pair.client, reply(99, MetadataResponse(), 1))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "unexpected-response"


def test_a_response_with_nothing_in_flight_fails() -> None:
    pair = started(client(), server())
    (failed,) = client_events(pair.client, reply(3, MetadataResponse(), 1))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "unexpected-response"


def test_the_broker_closing_is_an_event() -> None:
    pair = started(client(), server())
    pair.client.receive_data(b"")
    assert pair.client.next_event() == ConnectionClosed()
    assert pair.client.phase is ClientPhase.CLOSED
    with pytest.raises(SessionStateError):
        pair.client.next_event()


# --- Local mistakes -------------------------------------------------------------------


def test_send_request_before_authentication_raises_and_fails() -> None:
    conn = client()
    conn.initiate()
    with pytest.raises(SessionStateError, match="send_request"):
        conn.send_request(3, 1, MetadataRequest(topics=None))
    assert phase_of(conn) is ClientPhase.FAILED


def test_initiate_twice_raises_and_fails() -> None:
    conn = client()
    conn.initiate()
    with pytest.raises(SessionStateError, match="initiate"):
        conn.initiate()
    assert phase_of(conn) is ClientPhase.FAILED


def test_a_mismatched_request_raises_and_fails() -> None:
    pair = started(client(), server())
    with pytest.raises(ConfigurationError):
        pair.client.send_request(18, 3, MetadataRequest(topics=None))
    assert pair.client.phase is ClientPhase.FAILED


def test_a_used_session_is_refused() -> None:
    session = ClientSession(login())
    session.initial_response()
    with pytest.raises(ConfigurationError, match="fresh"):
        KafkaClientConnection(session)


def test_every_reason_is_documented() -> None:
    assert set(ClientFailureReason) >= {
        "authentication-failed",
        "success-after-challenge",
        "unsupported-mechanism",
    }


def test_failed_and_closed_accept_only_data_to_send() -> None:
    for phase in (ClientPhase.FAILED, ClientPhase.CLOSED):
        assert {call for call, phases in _PERMISSIONS.items() if phase in phases} == {
            "data_to_send"
        }
        assert not [row for row in _TRANSITIONS if row[0] is phase]


# --- Any bytes from the broker --------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=64), st.sampled_from([0, 1, 2]))
def test_any_broker_bytes_give_events_never_exceptions(data: bytes, step: int) -> None:
    conn = client()
    conn.initiate()
    prefix = [
        b"",
        reply(0, ApiVersionsResponse.supporting(), 3),
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1),
    ][step]
    for event in client_events(conn, prefix + data):
        assert isinstance(event, ClientAuthenticated | ClientAuthenticationFailed)
    if phase_of(conn) in (ClientPhase.FAILED, ClientPhase.CLOSED):
        return
    conn.receive_data(b"")  # then the broker closes: a clean close or a truncation
    for event in drain_client(conn):
        assert isinstance(event, ClientAuthenticationFailed | ConnectionClosed)


def test_a_discovery_session_ends_with_the_brokers_challenge() -> None:
    # Kafka's broker refuses an empty token outright; a broker that answers
    # discovery (RFC 7628 section 4.3) sends the challenge, then 58.
    conn = KafkaClientConnection(ClientSession.discovery())
    conn.initiate()
    where = "https://idp.example/.well-known/openid-configuration"
    challenge = json.dumps({"status": "invalid_token", "openid-configuration": where})
    (ended,) = client_events(
        conn,
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(2, SaslAuthenticateResponse(auth_bytes=challenge.encode()), 2)
        + reply(3, SaslAuthenticateResponse(error_code=58, error_message=challenge), 2),
    )
    assert isinstance(ended, ClientAuthenticationFailed)
    assert (ended.reason, ended.error_code, ended.status) == ("discovery", 58, "invalid_token")
    assert ended.openid_configuration == where


def test_a_broker_granting_a_discovery_request_is_refused() -> None:
    """A discovery request carries no token: success for it is a broker bug."""
    conn = KafkaClientConnection(ClientSession.discovery())
    conn.initiate()
    (ended,) = client_events(
        conn,
        reply(0, ApiVersionsResponse.supporting(), 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(2, SaslAuthenticateResponse(), 2),
    )
    assert isinstance(ended, ClientAuthenticationFailed)
    assert (ended.reason, ended.error_code) == ("discovery-granted", 34)


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((42,), {}, ArgumentTypeError),
        (("token",), {"correlation_id": -1}, ArgumentTypeError),
        (("token",), {"correlation_id": True}, ArgumentTypeError),
        ((ClientSession("token"),), {"extensions": {"a": "b"}}, ConfigurationError),
        (("token",), {"software_name": 7}, ArgumentTypeError),
    ],
)
def test_bad_arguments_are_refused(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        KafkaClientConnection(*args, **kwargs)  # type: ignore[arg-type]


def test_send_request_takes_only_request_messages() -> None:
    pair = started(client(), server())
    with pytest.raises(ArgumentTypeError):
        pair.client.send_request(18, 0, ApiVersionsResponse())  # type: ignore[arg-type]
    assert pair.client.phase is ClientPhase.FAILED


# --- KIP-368 re-authentication -----------------------------------------------------------


def test_reauthentication_runs_handshake_and_authenticate_again() -> None:
    pair = started(client(), server())
    pair.client.reauthenticate(login(), extensions={"traceId": "again"})
    assert phase_of(pair.client) is ClientPhase.HANDSHAKE_SENT
    pair.run()
    assert pair.client_events[-1] == ClientAuthenticated(
        session_lifetime_ms=LIFETIME_MS, reauthentication=True
    )
    granted = pair.server_events[-1]
    assert isinstance(granted, ServerAuthenticated)
    assert granted.reauthentication
    assert dict(granted.extensions) == {"traceId": "again"}
    # No ApiVersions the second time: SaslHandshake v1, then SaslAuthenticate.
    handshake, authenticate = (decode_request(f) for f in pair.sent[-2:])
    assert handshake[1] == SaslHandshakeRequest(mechanism="OAUTHBEARER")
    assert isinstance(authenticate[1], SaslAuthenticateRequest)
    assert phase_of(pair.client) is ClientPhase.AUTHENTICATED
    # The connection carries application requests again.
    pair.client.send_request(ApiKey.METADATA, 1, MetadataRequest(topics=None))
    pair.run()
    asked = pair.server_events[-1]
    assert isinstance(asked, ApplicationRequest)
    pair.server.send_response(asked.header, MetadataResponse())
    pair.run()
    last: object = pair.client_events[-1]
    assert isinstance(last, ApplicationResponse)


def test_reauthentication_as_another_principal_is_refused_by_the_broker() -> None:
    pair = started(client(), server())
    pair.client.reauthenticate(login("mallory"))
    pair.run()
    failure = pair.client_events[-1]
    assert isinstance(failure, ClientAuthenticationFailed)
    assert failure.reason == "authentication-failed"
    assert failure.error_code == 58
    assert "Cannot change principals" in failure.message
    assert pair.client.phase is ClientPhase.FAILED


def test_a_second_reauthentication_within_a_second_gets_34() -> None:
    pair = started(client(), server())
    pair.client.reauthenticate(login())
    pair.run()
    pair.client.reauthenticate(login())  # the broker's clock has not moved
    pair.run()
    failure = pair.client_events[-1]
    assert isinstance(failure, ClientAuthenticationFailed)
    assert failure.reason == "illegal-sasl-state"


def test_reauthentication_needs_an_idle_authenticated_connection() -> None:
    fresh = client()
    with pytest.raises(SessionStateError):
        fresh.reauthenticate(login())
    pair = started(client(), server())
    pair.client.send_request(ApiKey.METADATA, 1, MetadataRequest(topics=None))
    with pytest.raises(ConfigurationError, match="in flight"):
        pair.client.reauthenticate(login())
    assert pair.client.phase is ClientPhase.FAILED
    used = ClientSession(login())
    used.initial_response()
    again = started(client(), server())
    with pytest.raises(ConfigurationError, match="fresh"):
        again.client.reauthenticate(used)


#: What a hostile broker may put in a SaslAuthenticate response.
HOSTILE_AUTHENTICATE = st.builds(
    SaslAuthenticateResponse,
    error_code=st.integers(-(2**15), 2**15 - 1),
    error_message=st.none()
    | st.text(st.characters(codec="utf-8"), max_size=30)
    | st.just("x" * 32_767),
    auth_bytes=st.binary(max_size=40)
    | st.builds(
        lambda status, scope: json.dumps({"status": status, "scope": scope}).encode(),
        st.text(max_size=12),
        st.text(max_size=12),
    ),
    session_lifetime_ms=st.integers(-(2**63), 2**63 - 1),
)


@settings(max_examples=100, deadline=None)
@given(HOSTILE_AUTHENTICATE, st.integers(0, 2), st.binary(max_size=24), st.booleans())
def test_no_broker_answer_makes_the_client_connection_raise(
    answer: SaslAuthenticateResponse, version: int, tail: bytes, closes: bool
) -> None:
    # KafkaClientConnection fed a well-framed but hostile SaslAuthenticate
    # answer (then anything): events, never an exception.
    conn = client()
    conn.initiate()
    versions = ApiVersionsResponse.supporting([(18, 0, 4), (17, 0, 1), (36, 0, version)])
    stream = (
        reply(0, versions, 3)
        + reply(1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER",)), 1)
        + reply(
            2, answer if version else dataclasses.replace(answer, session_lifetime_ms=0), version
        )
        + tail
    )
    events = client_events(conn, stream)
    if closes and phase_of(conn) not in (ClientPhase.FAILED, ClientPhase.CLOSED):
        conn.receive_data(b"")
        events += drain_client(conn)
    for event in events:
        assert isinstance(
            event, ClientAuthenticated | ClientAuthenticationFailed | ConnectionClosed
        )
