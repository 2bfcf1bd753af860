"""Client and server sessions: in-memory pairs, policies, and the transition tables."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import (
    ArgumentTypeError,
    Authenticated,
    AuthenticationFailed,
    AuthenticationSucceeded,
    AuthzidPolicy,
    ChallengeIssued,
    ChallengeReceived,
    ClientInitialResponse,
    ClientInput,
    ClientSession,
    ClientState,
    ConfigurationError,
    Dialect,
    DiscoveryResult,
    ErrorResponse,
    ExtensionVerdict,
    InvalidToken,
    MalformedMessage,
    OAuthBearerError,
    OAuthBearerToken,
    ProtocolError,
    ServerInput,
    ServerSession,
    ServerState,
    SessionStateError,
    TokenReceived,
)
from oauthbearer.errors import FailureReason, TokenReason
from oauthbearer.session import _CLIENT_TRANSITIONS, _SERVER_TRANSITIONS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

NOW = 1_700_000_000.0
NOW_MS = int(NOW * 1000)


def failed(event: object) -> AuthenticationFailed:
    """``event``, which must be the failure event."""
    assert isinstance(event, AuthenticationFailed), event
    return event


def granted(event: object) -> Authenticated:
    """``event``, which must be the success event."""
    assert isinstance(event, Authenticated), event
    return event


class FakeValidator:
    """Accepts ``good-<principal>``; refuses ``scope-<x>`` for scope, others as invalid."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        self.seen.append((token, now))
        if token.startswith("good-"):
            return OAuthBearerToken(
                value=token,
                principal=token.removeprefix("good-"),
                scope=frozenset({"read"}),
                lifetime_ms=int(now * 1000) + 3_600_000,
                start_time_ms=int(now * 1000),
            )
        if token.startswith("scope-"):
            raise InvalidToken(
                "insufficient_scope",
                reason=TokenReason.INSUFFICIENT_SCOPE,
                scope="write",
                detail="lacks write",
            )
        raise InvalidToken("invalid_token", reason=TokenReason.INACTIVE, detail="unknown token")


def current_token(server: ServerSession) -> OAuthBearerToken | None:
    """The property, read without the narrowing an earlier assert would give it."""
    return server.token


def token_for(principal: str, lifetime_ms: int = NOW_MS + 3_600_000) -> OAuthBearerToken:
    return OAuthBearerToken(value="t", principal=principal, lifetime_ms=lifetime_ms)


# --- in-memory pairs ---------------------------------------------------------------------


def test_success_pure_mode() -> None:
    client = ClientSession("good-alice", extensions={"traceId": "abc"})
    server = ServerSession()
    received = server.receive(client.initial_response())
    assert isinstance(received, TokenReceived)
    assert received.response.token == "good-alice"
    assert server.state is ServerState.TOKEN_RECEIVED
    done = server.accept(token_for("alice"))
    assert isinstance(done, Authenticated)
    assert dict(done.extensions) == {"traceId": "abc"}
    assert client.receive(b"") == AuthenticationSucceeded()
    assert (client.state, server.state) == (ClientState.SUCCEEDED, ServerState.SUCCEEDED)


def test_success_convenience_mode_passes_now_to_the_validator() -> None:
    validator = FakeValidator()
    server = ServerSession(validator)
    client = ClientSession("good-bob")
    result = server.receive(client.initial_response(), now=NOW)
    assert isinstance(result, Authenticated)
    assert validator.seen == [("good-bob", NOW)]
    assert server.token is not None
    assert server.token.principal == "bob"


def test_convenience_mode_needs_now() -> None:
    server = ServerSession(FakeValidator())
    with pytest.raises(ConfigurationError, match="now="):
        server.receive(ClientSession("good-bob").initial_response())
    assert server.state is ServerState.FAILED


@pytest.mark.parametrize(
    ("token", "status", "scope"),
    [("nope", "invalid_token", None), ("scope-x", "insufficient_scope", "write")],
)
def test_error_challenge_path(token: str, status: str, scope: str | None) -> None:
    client = ClientSession(token)
    server = ServerSession(FakeValidator(), openid_configuration="https://idp/.well-known/x")
    issued = server.receive(client.initial_response(), now=NOW)
    assert isinstance(issued, ChallengeIssued)
    assert server.state is ServerState.CHALLENGED
    challenge = client.receive(issued.reply)
    assert isinstance(challenge, ChallengeReceived)
    assert challenge.reply == b"\x01"
    assert challenge.error.status == status
    assert challenge.error.openid_configuration == "https://idp/.well-known/x"
    server_end = failed(server.receive(challenge.reply))
    assert server_end.reason is FailureReason.TOKEN_REFUSED
    # Kafka relays the challenge JSON as the failure message.
    assert server_end.message == issued.reply.decode()
    client_end = failed(client.receive_outcome(success=False, message=server_end.message))
    assert (client_end.status, client_end.scope) == (status, scope)
    assert client_end.reason is FailureReason.TOKEN_REFUSED
    assert (client.state, server.state) == (ClientState.FAILED, ServerState.FAILED)
    assert server.token is None


@pytest.mark.parametrize("reply", [b"", b"\x01\x01", b"\x00", b"n,,\x01auth=Bearer x\x01\x01"])
def test_server_accepts_only_kvsep_after_a_challenge(reply: bytes) -> None:
    server = ServerSession()
    server.receive(ClientSession("t").initial_response())
    server.reject(ErrorResponse("invalid_token"))
    with pytest.raises(MalformedMessage) as info:
        server.receive(reply)
    assert info.value.reason == "invalid-challenge-reply"
    assert server.state is ServerState.FAILED
    assert server.token is None


def test_kafka_dialect_takes_a_new_initial_response_after_a_challenge() -> None:
    """Kafka's broker resets its error and parses anything but %x01 afresh
    (measured: tests/test_kafka_differential.py)."""
    server = ServerSession(dialect="kafka")
    server.receive(ClientSession("bad").initial_response())
    server.reject(ErrorResponse("invalid_token"))
    again = server.receive(ClientSession("good").initial_response())
    assert isinstance(again, TokenReceived)
    assert again.response.token == "good"
    assert server.state is ServerState.TOKEN_RECEIVED
    assert granted(server.accept(token_for("alice"))).token.principal == "alice"
    assert server.token is not None


@pytest.mark.parametrize("reply", [b"", b"\x01\x01", b"n,,\x01auth=Basic x\x01\x01"])
def test_kafka_dialect_refuses_a_malformed_message_after_a_challenge(reply: bytes) -> None:
    server = ServerSession(dialect="kafka")
    server.receive(ClientSession("bad").initial_response())
    server.reject(ErrorResponse("invalid_token"))
    with pytest.raises(MalformedMessage) as info:
        server.receive(reply)
    assert info.value.reason != "invalid-challenge-reply"
    assert server.state is ServerState.FAILED


def test_kafka_dialect_still_fails_on_kvsep_after_a_challenge() -> None:
    server = ServerSession(dialect="kafka")
    server.receive(ClientSession("bad").initial_response())
    server.reject(ErrorResponse("invalid_token"))
    info = failed(server.receive(b"\x01"))
    assert info.message == '{"status":"invalid_token"}'
    assert server.state is ServerState.FAILED


def test_client_refuses_success_after_a_challenge() -> None:
    """aiokafka, KafkaJS and Sarama treat a challenge as success; we must not."""
    client = ClientSession("t")
    client.initial_response()
    client.receive(ErrorResponse("invalid_token").encode())
    with pytest.raises(ProtocolError, match="after an error challenge"):
        client.receive_outcome(success=True)
    assert client.state is ClientState.FAILED


def test_client_plain_failure_without_challenge() -> None:
    client = ClientSession("t")
    client.initial_response()
    info = failed(
        client.receive_outcome(
            success=False,
            message="Authentication failed: Client requested an authorization id (a) "
            "that is different from the token's principal name (b)",
        )
    )
    assert re.search("different from the token", info.message)
    assert info.reason is FailureReason.SERVER_REFUSED
    assert info.status is None


def test_client_success_out_of_band_and_twice() -> None:
    client = ClientSession("t")
    client.initial_response()
    assert client.receive_outcome(success=True) == AuthenticationSucceeded()
    # Kafka delivers both the empty message and error_code 0.
    assert client.receive_outcome(success=True) == AuthenticationSucceeded()


def test_client_malformed_challenge_fails_the_session() -> None:
    client = ClientSession("t")
    client.initial_response()
    with pytest.raises(MalformedMessage):
        client.receive(b"not json")
    assert client.state is ClientState.FAILED


def test_client_from_prepared_response() -> None:
    response = ClientInitialResponse("t", authzid="alice")
    assert ClientSession(response).initial_response() == response.encode()
    with pytest.raises(ConfigurationError):
        ClientSession(response, authzid="bob")


# --- discovery (libpq's flow) -------------------------------------------------------------


def test_discovery_exchange() -> None:
    oidc = "https://issuer.example/.well-known/openid-configuration"
    client = ClientSession.discovery()
    server = ServerSession(FakeValidator(), openid_configuration=oidc)
    first = client.initial_response()
    assert first == b"n,,\x01auth=\x01\x01"
    issued = server.receive(first, now=NOW)
    assert isinstance(issued, ChallengeIssued)
    challenge = client.receive(issued.reply)
    assert isinstance(challenge, ChallengeReceived)
    failed(server.receive(challenge.reply))
    result = client.receive_outcome(success=False)
    assert isinstance(result, DiscoveryResult)
    assert result.openid_configuration == oidc
    assert client.state is ClientState.DISCOVERED


def test_discovery_granted_is_a_protocol_error() -> None:
    client = ClientSession.discovery()
    client.initial_response()
    with pytest.raises(ProtocolError, match="discovery"):
        client.receive(b"")
    assert client.state is ClientState.FAILED


def test_kafka_dialect_refuses_discovery() -> None:
    server = ServerSession(dialect=Dialect.KAFKA)
    with pytest.raises(MalformedMessage):
        server.receive(b"n,,\x01auth=\x01\x01")


# --- authzid policies ---------------------------------------------------------------------

Outcome = str  # "ok", or the start of the failure message


@pytest.mark.parametrize(
    ("policy", "authzid", "principal", "outcome"),
    [
        ("match-principal", None, "alice", "ok"),
        ("match-principal", "alice", "alice", "ok"),
        (
            "match-principal",
            "bob",
            "alice",
            (
                "Authentication failed: Client requested an authorization id (bob) "
                "that is different from the token's principal name (alice)"
            ),
        ),
        ("forbid", None, "alice", "ok"),
        ("forbid", "alice", "alice", "Authentication failed: the client named an"),
        ("require", None, "alice", "Authentication failed: the client named no"),
        ("require", "alice", "alice", "ok"),
        ("require", "bob", "alice", "Authentication failed: Client requested"),
        ("ignore", "bob", "alice", "ok"),
        ("ignore", None, "alice", "ok"),
    ],
)
def test_authzid_policy(policy: str, authzid: str | None, principal: str, outcome: str) -> None:
    server = ServerSession(authzid_policy=policy)
    data = ClientSession("t", authzid=authzid).initial_response()
    result = server.receive(data)
    if isinstance(result, TokenReceived):
        result = server.accept(token_for(principal))
    if isinstance(result, AuthenticationFailed):
        assert outcome != "ok"
        assert result.message.startswith(outcome)
        assert result.reason in {
            FailureReason.AUTHZID_FORBIDDEN,
            FailureReason.AUTHZID_REQUIRED,
            FailureReason.AUTHZID_MISMATCH,
        }
        assert server.state is ServerState.FAILED
        return
    assert outcome == "ok"
    assert granted(result).authzid == authzid
    assert server.authzid == authzid


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [("forbid", "refused"), ("match-principal", "challenged"), ("ignore", "challenged")],
)
def test_authzid_policy_comes_before_discovery(policy: str, outcome: str) -> None:
    # PostgreSQL (policy forbid) refuses n,a=alice,^Aauth=^A^A at once, with
    # SQLSTATE 0A000 and no discovery challenge (tests/test_postgres_differential.py).
    server = ServerSession(authzid_policy=policy)
    data = ClientSession.discovery(authzid="alice").initial_response()
    assert data == b"n,a=alice,\x01auth=\x01\x01"
    if outcome == "refused":
        _failure = failed(server.receive(data))
        assert _failure.reason is FailureReason.AUTHZID_FORBIDDEN
        assert re.search("authorization identity", _failure.message)
        assert server.state is ServerState.FAILED
    else:
        assert server.receive(data).error.status == "invalid_token"  # type: ignore[union-attr]
        assert server.state is ServerState.CHALLENGED


def test_unknown_authzid_policy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        ServerSession(authzid_policy="sometimes")


# --- extensions as Kafka validates them ----------------------------------------------------


def verdict(
    valid: set[str], invalid: Mapping[str, str] | None = None
) -> Callable[[OAuthBearerToken, Mapping[str, str]], ExtensionVerdict]:
    def check(token: OAuthBearerToken, extensions: Mapping[str, str]) -> ExtensionVerdict:
        assert token.principal == "alice"
        return ExtensionVerdict(valid=frozenset(valid), invalid=invalid or {})

    return check


@pytest.mark.parametrize(
    ("valid", "invalid"), [({"traceId", "unsent"}, {}), ({"traceId"}, {"unsent": "no"})]
)
def test_a_verdict_naming_an_unsent_extension_is_the_validators_error(
    valid: set[str], invalid: dict[str, str]
) -> None:
    # Kafka's extensions callback throws IllegalArgumentException for it.
    server = ServerSession(extension_validator=verdict(valid, invalid))
    server.receive(ClientSession("t", extensions={"traceId": "1"}).initial_response())
    with pytest.raises(ConfigurationError, match="did not send: 'unsent'"):
        server.accept(token_for("alice"))
    assert server.state is ServerState.FAILED


def test_the_extension_validator_runs_without_extensions_too() -> None:
    server = ServerSession(extension_validator=verdict({"traceId"}))
    server.receive(ClientSession("t").initial_response())
    with pytest.raises(ConfigurationError, match="did not send: 'traceId'"):
        server.accept(token_for("alice"))


def test_only_validated_extensions_are_exposed() -> None:
    server = ServerSession(extension_validator=verdict({"traceId"}))
    server.receive(ClientSession("t", extensions={"traceId": "1", "other": "2"}).initial_response())
    result = granted(server.accept(token_for("alice")))
    assert dict(result.extensions) == {"traceId": "1"}
    assert dict(server.extensions) == {"traceId": "1"}
    assert server.negotiated_property("traceId") == "1"
    assert server.negotiated_property("other") is None


def test_invalid_extensions_fail_with_kafkas_message() -> None:
    server = ServerSession(
        extension_validator=verdict(set(), {"b": "not allowed", "a": "wrong cluster"})
    )
    server.receive(ClientSession("t", extensions={"a": "1", "b": "2", "c": "3"}).initial_response())
    info = failed(server.accept(token_for("alice")))
    assert info.message == (
        "Authentication failed: 2 extensions are invalid! "
        "They are: a: wrong cluster; b: not allowed"
    )
    assert server.state is ServerState.FAILED


def test_without_a_validator_every_extension_is_valid_as_in_kafka() -> None:
    server = ServerSession()
    server.receive(ClientSession("t", extensions={"x": "1"}).initial_response())
    assert dict(granted(server.accept(token_for("alice"))).extensions) == {"x": "1"}


# --- negotiated properties and KIP-368 -------------------------------------------------------


def test_negotiated_properties() -> None:
    server = ServerSession()
    assert server.negotiated_property("OAUTHBEARER.token") is None
    server.receive(ClientSession("t").initial_response())
    token = token_for("alice", lifetime_ms=NOW_MS + 60_000)
    server.accept(token)
    assert server.negotiated_property("OAUTHBEARER.token") is token
    assert server.negotiated_property("CREDENTIAL.LIFETIME.MS") == NOW_MS + 60_000


@pytest.mark.parametrize(
    ("expires_in", "max_reauth", "expected"),
    [
        (60_000, None, 60_000),
        (60_000, 0, 60_000),  # 0 means "not set", as connections.max.reauth.ms
        (60_000, 10_000, 10_000),
        (60_000, 120_000, 60_000),
        (-5_000, None, 0),  # already expired: zero, never negative
        (-5_000, 10_000, 0),
    ],
)
def test_session_lifetime_kip368(expires_in: int, max_reauth: int | None, expected: int) -> None:
    server = ServerSession()
    server.receive(ClientSession("t").initial_response())
    server.accept(token_for("alice", lifetime_ms=NOW_MS + expires_in))
    assert server.session_lifetime_ms(now_ms=NOW_MS, max_reauth_ms=max_reauth) == expected


def test_session_lifetime_is_none_before_success() -> None:
    server = ServerSession()
    assert server.session_lifetime_ms(now_ms=NOW_MS) is None
    assert server.state is ServerState.IDLE  # a query, not a move


# --- any error is final (the _moves guard) ---------------------------------------------------


def test_raising_extension_validator_fails_the_session() -> None:
    def explode(token: OAuthBearerToken, extensions: Mapping[str, str]) -> ExtensionVerdict:
        raise LookupError("extension registry down")

    server = ServerSession(extension_validator=explode)
    server.receive(ClientSession("t", extensions={"x": "1"}).initial_response())
    with pytest.raises(LookupError):
        server.accept(token_for("alice"))
    assert server.state is ServerState.FAILED
    assert server.token is None


def test_invalid_token_with_an_unsendable_status_fails_the_session() -> None:
    class BadStatus:
        def validate(self, token: str, *, now: float) -> OAuthBearerToken:
            raise InvalidToken('bad"status', reason=TokenReason.MALFORMED)

    server = ServerSession(BadStatus())
    with pytest.raises(ConfigurationError, match="status"):
        server.receive(b"n,,\x01auth=Bearer t\x01\x01", now=NOW)
    assert server.state is ServerState.FAILED


def test_receive_refuses_str_and_fails() -> None:
    client = ClientSession("t")
    client.initial_response()
    with pytest.raises(ArgumentTypeError):
        client.receive("")  # type: ignore[arg-type]
    assert client.state is ClientState.FAILED
    server = ServerSession()
    with pytest.raises(ArgumentTypeError):
        server.receive("n,,")  # type: ignore[arg-type]
    assert server.state is ServerState.FAILED


def test_a_stray_call_after_success_withdraws_the_result() -> None:
    server = ServerSession()
    server.receive(ClientSession("t", extensions={"k": "v"}).initial_response())
    granted_token = granted(server.accept(token_for("alice"))).token
    assert current_token(server) is granted_token
    with pytest.raises(SessionStateError):
        server.receive(b"\x01")
    assert server.state is ServerState.FAILED
    assert current_token(server) is None
    assert dict(server.extensions) == {}
    assert server.negotiated_property("OAUTHBEARER.token") is None
    assert server.session_lifetime_ms(now_ms=NOW_MS) is None


def test_state_error_names_a_refused_outcome() -> None:
    client = ClientSession("t")
    client.initial_response()
    client.receive(b"")
    with pytest.raises(SessionStateError) as info:
        client.receive_outcome(success=False)
    assert (info.value.call, info.value.outcome, info.value.state) == (
        "receive_outcome",
        "failure",
        "SUCCEEDED",
    )
    assert str(info.value) == (
        "ClientSession.receive_outcome() (failure) is not allowed in state SUCCEEDED"
    )


# --- the tables: every call in every state ---------------------------------------------------

CLIENT_CALLS: dict[str, Callable[[ClientSession], object]] = {
    "initial_response": lambda c: c.initial_response(),
    "receive:success": lambda c: c.receive(b""),
    "receive:challenge": lambda c: c.receive(b'{"status":"invalid_token"}'),
    "receive:junk": lambda c: c.receive(b"{"),
    "receive_outcome:success": lambda c: c.receive_outcome(success=True),
    "receive_outcome:failure": lambda c: c.receive_outcome(success=False),
}


@given(st.booleans(), st.lists(st.sampled_from(sorted(CLIENT_CALLS)), max_size=6))
def test_client_any_call_sequence(discovery: bool, calls: list[str]) -> None:
    client = ClientSession.discovery() if discovery else ClientSession("t")
    for call in calls:
        before = client.state
        try:
            CLIENT_CALLS[call](client)
        except OAuthBearerError as exc:
            assert client.state is ClientState.FAILED
            if isinstance(exc, SessionStateError):
                assert exc.state == before.name
            continue
        table_input = call
        if discovery and call == "receive_outcome:failure" and before is ClientState.CHALLENGED:
            table_input = "receive_outcome:discovered"
        assert _CLIENT_TRANSITIONS[(before, ClientInput(table_input))] is client.state


SERVER_CALLS: dict[str, Callable[[ServerSession], object]] = {
    "receive:token": lambda s: s.receive(b"n,,\x01auth=Bearer t\x01\x01"),
    "receive:discovery": lambda s: s.receive(b"n,,\x01auth=\x01\x01"),
    "receive:kvsep": lambda s: s.receive(b"\x01"),
    "receive:junk": lambda s: s.receive(b"n,,"),
    "accept": lambda s: s.accept(token_for("alice")),
    "reject": lambda s: s.reject(ErrorResponse("invalid_token")),
}


@given(st.lists(st.sampled_from(sorted(SERVER_CALLS)), max_size=6), st.sampled_from(Dialect))
def test_server_any_call_sequence(calls: list[str], dialect: Dialect) -> None:
    server = ServerSession(dialect=dialect)
    for call in calls:
        before = server.state
        try:
            event = SERVER_CALLS[call](server)
        except OAuthBearerError as exc:
            assert server.state is ServerState.FAILED
            if isinstance(exc, SessionStateError):
                assert exc.state == before.name
            continue
        table_input = call
        if call == "accept":
            failure = isinstance(event, AuthenticationFailed)
            table_input = "accept:failure" if failure else "accept:success"
        assert server.state is _SERVER_TRANSITIONS[(before, ServerInput(table_input))]


def test_state_error_names_state_and_call() -> None:
    server = ServerSession()
    with pytest.raises(SessionStateError) as info:
        server.accept(token_for("alice"))
    assert str(info.value) == "ServerSession.accept() is not allowed in state IDLE"
    assert server.state is ServerState.FAILED
    with pytest.raises(SessionStateError, match="state FAILED"):
        server.receive(b"n,,\x01auth=Bearer t\x01\x01")


def test_validator_exception_leaves_the_session_failed() -> None:
    class Broken:
        def validate(self, token: str, *, now: float) -> OAuthBearerToken:
            raise RuntimeError("JWKS endpoint down")

    server = ServerSession(Broken())
    with pytest.raises(RuntimeError):
        server.receive(b"n,,\x01auth=Bearer t\x01\x01", now=NOW)
    assert server.state is ServerState.FAILED


def test_server_rejects_a_non_validator() -> None:
    with pytest.raises(TypeError):
        ServerSession(object())  # type: ignore[arg-type]


def test_reprs_hold_no_token() -> None:
    client = ClientSession("s3cr3t")
    server = ServerSession()
    server.receive(client.initial_response())
    done = granted(server.accept(OAuthBearerToken(value="s3cr3t", principal="a", lifetime_ms=1)))
    for obj in (client, server, done, done.token):
        assert "s3cr3t" not in repr(obj)


@pytest.mark.parametrize("policy", list(AuthzidPolicy))
def test_policy_values_are_the_documented_strings(policy: AuthzidPolicy) -> None:
    assert AuthzidPolicy(policy.value) is policy
