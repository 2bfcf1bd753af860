#!/usr/bin/env python3
"""Fuzz target: the client and server state machines (``oauthbearer.session``).

The input is a small program (see :func:`test_one_input`): the first byte picks
the scenario, the second the server's configuration, two more the clock, and
the rest are calls with their arguments. Three scenarios:

* *server*: a :class:`ServerSession` (either dialect, any authzid policy, pure
  or with a real validator: Kafka's :class:`UnsecuredJwsValidator`, with or
  without a required scope) fed fuzzed client messages and ``accept``/``reject``
  calls in any order;
* *client*: a :class:`ClientSession` fed fuzzed server messages and outcomes;
* *pair*: a client built from fuzzed token, authzid and extensions talks to a
  server; whatever the server decides, the client must see the same.

The oracle: each call raises only the errors documented for it (a peer's bytes
never cause a ``ConfigurationError`` or an ``InvalidToken`` to escape); any error
leaves the machine ``FAILED``; a ``FAILED`` machine refuses every call with
``SessionStateError`` and stays ``FAILED``; every move is one of the transition
table's; the results (token, extensions) exist exactly while the exchange
stands succeeded; a challenge's reply decodes to the challenge; the authzid
policy holds for every grant; and the two sides of a pair agree.

Run: ``python fuzz/sessions.py fuzz/corpus/sessions -atheris_runs=1000000``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeVar

from fuzzlib import Input, check, main, violated

from oauthbearer.errors import (
    ConfigurationError,
    MalformedMessage,
    OAuthBearerError,
    ProtocolError,
    SessionStateError,
)
from oauthbearer.gs2 import KVSEP, ClientInitialResponse, Dialect, ErrorResponse
from oauthbearer.session import (
    _CLIENT_TRANSITIONS,
    _SERVER_TRANSITIONS,
    NEGOTIATED_LIFETIME,
    NEGOTIATED_TOKEN,
    Authenticated,
    AuthenticationFailed,
    AuthenticationSucceeded,
    AuthzidPolicy,
    ChallengeIssued,
    ChallengeReceived,
    ClientSession,
    ClientState,
    DiscoveryResult,
    ExtensionVerdict,
    ServerSession,
    ServerState,
    TokenReceived,
)
from oauthbearer.token import OAuthBearerToken
from oauthbearer.unsecured import UnsecuredJwsValidator

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from oauthbearer.token import TokenValidator

#: The clock: a base and a step per unit of the fuzzer's u16, so that the range
#: spans both sides of the seed tokens' expiry (4102444800, in 2100).
CLOCK_STEP_S = 65_536.0

OPENID_CONFIGURATION = "https://idp.example/.well-known/openid-configuration"
VALIDATORS: tuple[TokenValidator | None, ...] = (
    None,
    UnsecuredJwsValidator(),
    UnsecuredJwsValidator(required_scope=("admin",), allowable_clock_skew_ms=1000),
    UnsecuredJwsValidator(principal_claim_name="client_id", scope_claim_name="scp"),
)
POLICIES = tuple(AuthzidPolicy)
STATUSES = ("invalid_token", "insufficient_scope", "invalid_request", "x")
ACCEPTED = OAuthBearerToken(value="t", principal="alice", lifetime_ms=4_102_444_800_000)

S = TypeVar("S", bound=enum.Enum)
V = TypeVar("V", bound=enum.Enum)

_SCENARIOS: tuple[Callable[[Input], None], ...]


def _extension_verdict(token: OAuthBearerToken, extensions: Mapping[str, str]) -> ExtensionVerdict:
    """Names starting with "bad" are refused, names starting with "x" ignored."""
    return ExtensionVerdict(
        valid=frozenset(name for name in extensions if not name.startswith(("bad", "x"))),
        invalid={name: "refused by the fuzz policy" for name in extensions if name[:3] == "bad"},
    )


def _server(inp: Input, dialect: Dialect | None = None) -> tuple[ServerSession, float]:
    config = inp.byte()
    now = inp.u16() * CLOCK_STEP_S
    session = ServerSession(
        VALIDATORS[config & 3],
        dialect=dialect or (Dialect.KAFKA if config & 4 else Dialect.RFC7628),
        authzid_policy=POLICIES[(config >> 3) & 3],
        extension_validator=_extension_verdict if config & 0x20 else None,
        openid_configuration=OPENID_CONFIGURATION if config & 0x40 else None,
    )
    return session, now


def _error(inp: Input) -> ErrorResponse:
    config = inp.byte()
    return ErrorResponse(
        STATUSES[config & 3],
        scope="[admin]" if config & 4 else None,
        openid_configuration="https://other.example/" if config & 8 else None,
    )


# --- Invariants both machines share ------------------------------------------------------


def _moved(table: Mapping[tuple[S, V], S], before: S, after: S) -> bool:
    """Whether ``after`` is ``before`` or reachable from it by the table's moves (a
    server with a validator moves twice in one call: a token, then its verdict)."""
    reached = {before}
    frontier = [before]
    while frontier:
        state = frontier.pop()
        for (origin, _), target in table.items():
            if origin is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    return after in reached


def _refused(
    err: Exception, allowed: tuple[type[OAuthBearerError], ...], state: object, what: str
) -> None:
    if not isinstance(err, allowed):
        raise err  # an undocumented error: the fuzzer reports it as found
    check(state in (ServerState.FAILED, ClientState.FAILED), f"{what}: error did not fail it")


# --- The server ------------------------------------------------------------------------


def _server_call(
    server: ServerSession, inp: Input, now: float
) -> TokenReceived | ChallengeIssued | Authenticated | AuthenticationFailed | None:
    """One call chosen by the input, checked; returns the call's event, if any."""
    op = inp.byte() % 3
    before = server.state
    try:
        event: TokenReceived | ChallengeIssued | Authenticated | AuthenticationFailed
        if op == 0:
            data = inp.chunk()
            event = server.receive(data, now=now)
            _check_server_event(server, event, before)
        elif op == 1:
            event = server.accept(ACCEPTED)
        else:
            event = server.reject(_error(inp))
    except OAuthBearerError as err:
        what = f"ServerSession.{('receive', 'accept', 'reject')[op]} in {before.name}"
        allowed: tuple[type[OAuthBearerError], ...] = (
            (MalformedMessage, SessionStateError),
            (SessionStateError,),
            (SessionStateError,),
        )[op]
        _refused(err, allowed, server.state, what)
        check(
            before is not ServerState.FAILED or isinstance(err, SessionStateError),
            f"{what}: a failed session did not refuse the call",
        )
        _check_server_results(server, now)
        return None
    check(before is not ServerState.FAILED, "ServerSession: a failed session took a call")
    moved = _moved(_SERVER_TRANSITIONS, before, server.state)
    check(moved, "ServerSession: a move not in the table")
    if isinstance(event, ChallengeIssued):
        check(ErrorResponse.decode(event.reply) == event.error, "challenge reply != challenge")
    if isinstance(event, AuthenticationFailed):
        check(server.state is ServerState.FAILED, "ServerSession: failed, but not FAILED")
    _check_server_results(server, now)
    return event


def _check_server_event(
    server: ServerSession,
    event: TokenReceived | ChallengeIssued | Authenticated | AuthenticationFailed,
    before: object,
) -> None:
    if before is ServerState.IDLE and isinstance(event, TokenReceived | Authenticated):
        response = event.response if isinstance(event, TokenReceived) else server._response
        assert response is not None
        policy = server._authzid_policy
        check(
            not (policy is AuthzidPolicy.FORBID and response.authzid is not None),
            "FORBID let an authzid through",
        )
        check(
            not (policy is AuthzidPolicy.REQUIRE and response.authzid is None),
            "REQUIRE let a message without authzid through",
        )
    if isinstance(event, TokenReceived):
        check(server._validator is None, "a session with a validator stopped at TokenReceived")
    if isinstance(event, Authenticated):
        policy = server._authzid_policy
        if event.authzid is not None and policy in (
            AuthzidPolicy.MATCH_PRINCIPAL,
            AuthzidPolicy.REQUIRE,
        ):
            check(event.authzid == event.token.principal, "granted an authzid != principal")
        response = server._response
        assert response is not None
        check(
            all(response.extensions.get(k) == v for k, v in event.extensions.items()),
            "granted extensions the client did not send",
        )
        if server._extension_validator is not None:
            check(
                not any(name.startswith(("bad", "x")) for name in event.extensions),
                "an extension the validator refused or ignored was granted",
            )


def _check_server_results(server: ServerSession, now: float) -> None:
    succeeded = server.state is ServerState.SUCCEEDED
    token = server.token
    check((token is not None) == succeeded, "ServerSession.token outside SUCCEEDED")
    check(succeeded or not server.extensions, "ServerSession.extensions outside SUCCEEDED")
    lifetime = server.session_lifetime_ms(now_ms=int(now * 1000), max_reauth_ms=60_000)
    if token is None:
        check(lifetime is None, "a session lifetime outside SUCCEEDED")
        check(server.negotiated_property(NEGOTIATED_TOKEN) is None, "a token outside SUCCEEDED")
        return
    check(server.negotiated_property(NEGOTIATED_TOKEN) is token, "the negotiated token")
    check(
        server.negotiated_property(NEGOTIATED_LIFETIME) == token.lifetime_ms,
        "the negotiated lifetime",
    )
    check(lifetime is not None and 0 <= lifetime <= 60_000, "the session lifetime")


def _server_scenario(inp: Input) -> None:
    server, now = _server(inp)
    while inp.remaining:
        _server_call(server, inp, now)


# --- The client ------------------------------------------------------------------------


def _client(inp: Input) -> ClientSession | None:
    """A client for the token the input names: the seed token, or a fuzzed one."""
    config = inp.byte()
    try:
        if config & 1:
            return ClientSession.discovery(authzid=inp.chunk().decode("latin-1") or None)
        token = inp.chunk().decode("latin-1")
        authzid = inp.chunk().decode("latin-1") or None
        pairs = inp.chunk().decode("latin-1").split("\x01")
        extensions = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return ClientSession(token, authzid=authzid, extensions=extensions)
    except ConfigurationError:
        return None  # the client's own values are refused: a local error, not a finding


def _client_call(client: ClientSession, inp: Input) -> None:
    op = inp.byte() % 4
    before = client.state
    try:
        if op == 0:
            sent = client.initial_response()
            check(
                ClientInitialResponse.decode(sent) == client._response,
                "ClientSession sent a message that does not decode to its own",
            )
        elif op == 1:
            data = inp.chunk()
            event = client.receive(data)
            if isinstance(event, ChallengeReceived):
                check(event.error == ErrorResponse.decode(data), "challenge misread")
                check(event.reply == KVSEP, "the reply to a challenge is not %x01")
        else:
            message = inp.chunk().decode("latin-1") or None
            outcome = client.receive_outcome(success=op == 2, message=message)
            check(
                not isinstance(outcome, AuthenticationFailed) or client.state is ClientState.FAILED,
                "ClientSession: failed, but not FAILED",
            )
    except OAuthBearerError as err:
        what = f"ClientSession call {op} in {before.name}"
        allowed: tuple[type[OAuthBearerError], ...] = (
            (SessionStateError,),
            (MalformedMessage, ProtocolError, SessionStateError),
            (ProtocolError, SessionStateError),
            (SessionStateError,),
        )[op]
        _refused(err, allowed, client.state, what)
        check(
            before is not ClientState.FAILED or isinstance(err, SessionStateError),
            f"{what}: a failed session did not refuse the call",
        )
        return
    check(before is not ClientState.FAILED, "ClientSession: a failed session took a call")
    moved = _moved(_CLIENT_TRANSITIONS, before, client.state)
    check(moved, "ClientSession: a move not in the table")


def _client_scenario(inp: Input) -> None:
    client = _client(inp)
    while client is not None and inp.remaining:
        _client_call(client, inp)


# --- A pair ------------------------------------------------------------------------------


def _pair_scenario(inp: Input) -> None:
    client = _client(inp)
    if client is None:
        return
    server, now = _server(inp, Dialect.RFC7628)
    discovery = client._discovery
    try:
        event = server.receive(client.initial_response(), now=now)
    except MalformedMessage as err:
        violated(f"the server refused what the client encoded: {err}")
    if isinstance(event, TokenReceived):
        event = server.accept(ACCEPTED) if inp.byte() & 1 else server.reject(_error(inp))
    if isinstance(event, AuthenticationFailed):
        _client_sees_failure(client, event, None)
        return
    if isinstance(event, Authenticated):
        check(not discovery, "the server granted a discovery request")
        check(
            client.receive(b"") == AuthenticationSucceeded(),
            "the client did not see the server's grant",
        )
        check(client.state is ClientState.SUCCEEDED, "client not SUCCEEDED after a grant")
        return
    check(isinstance(event, ChallengeIssued), "the server returned an unknown event")
    assert isinstance(event, ChallengeIssued)
    received = client.receive(event.reply)
    check(received == ChallengeReceived(error=event.error), "the client misread the challenge")
    assert isinstance(received, ChallengeReceived)
    failed = server.receive(received.reply, now=now)
    if not isinstance(failed, AuthenticationFailed):
        violated("the server did not fail after the challenge's %x01")
    check(failed.status == event.error.status, "the server's failure lost the challenge status")
    _client_sees_failure(client, failed, event.error)


def _client_sees_failure(
    client: ClientSession, err: AuthenticationFailed, challenge: ErrorResponse | None
) -> None:
    """The client, told of the server's failure, ends the same way."""
    if challenge is None and client.state is ClientState.IDLE:
        return  # the server refused before the client sent (cannot happen here)
    outcome = client.receive_outcome(success=False, message=err.message)
    if isinstance(outcome, AuthenticationFailed):
        check(challenge is None or outcome.status == challenge.status, "the client lost the status")
        check(client.state is ClientState.FAILED, "the client did not fail")
        return
    check(isinstance(outcome, DiscoveryResult), "the client granted what the server refused")
    assert isinstance(outcome, DiscoveryResult)
    check(outcome.error == challenge, "discovery returned another challenge")


_SCENARIOS = (_server_scenario, _client_scenario, _pair_scenario)


def test_one_input(data: bytes) -> None:
    inp = Input(data)
    _SCENARIOS[inp.byte() % len(_SCENARIOS)](inp)


if __name__ == "__main__":
    main(test_one_input)
