"""A session's caller hands it the wrong kind of value, or the application protocol
reports an outcome the exchange cannot have: the call is refused, and the machine
is FAILED (any error is final)."""

from __future__ import annotations

from typing import Any

import pytest

from oauthbearer import (
    ArgumentTypeError,
    Authenticated,
    ClientSession,
    ClientState,
    ErrorResponse,
    OAuthBearerToken,
    ProtocolError,
    ServerSession,
    ServerState,
    TokenReceived,
)

NOW_MS = 1_700_000_000_000
TOKEN = OAuthBearerToken(value="abc", principal="alice", lifetime_ms=NOW_MS + 60_000)


def received(**kwargs: Any) -> ServerSession:
    server = ServerSession(**kwargs)
    event = server.receive(ClientSession("abc", extensions={"traceId": "t1"}).initial_response())
    assert isinstance(event, TokenReceived)
    return server


@pytest.mark.parametrize("token", ["abc", {"value": "abc"}, None])
def test_accept_takes_a_token(token: object) -> None:
    server = received()
    with pytest.raises(ArgumentTypeError, match=r"^accept\(\) takes an OAuthBearerToken$"):
        server.accept(token)  # type: ignore[arg-type]
    assert server.state is ServerState.FAILED


@pytest.mark.parametrize("error", ["invalid_token", {"status": "invalid_token"}, None])
def test_reject_takes_an_error_response(error: object) -> None:
    server = received()
    with pytest.raises(ArgumentTypeError, match=r"^reject\(\) takes an ErrorResponse$"):
        server.reject(error)  # type: ignore[arg-type]
    assert server.state is ServerState.FAILED


@pytest.mark.parametrize("verdict", [True, None, {"traceId": True}])
def test_an_extension_validator_must_return_a_verdict(verdict: object) -> None:
    seen: list[tuple[OAuthBearerToken, dict[str, str]]] = []

    def extension_validator(token: OAuthBearerToken, extensions: Any) -> Any:
        seen.append((token, dict(extensions)))
        return verdict

    server = received(extension_validator=extension_validator)
    with pytest.raises(
        ArgumentTypeError, match=r"^an extension validator must return ExtensionVerdict$"
    ):
        server.accept(TOKEN)
    assert seen == [(TOKEN, {"traceId": "t1"})]  # it was asked, with the client's extensions
    assert server.state is ServerState.FAILED
    assert server.token is None  # nothing granted


def test_the_right_values_are_taken() -> None:
    granted = received().accept(TOKEN)
    assert isinstance(granted, Authenticated)
    assert granted.token is TOKEN
    assert received().reject(ErrorResponse("invalid_token")).reply == b'{"status":"invalid_token"}'


def test_a_discovery_granted_through_the_application_protocol_is_refused() -> None:
    # As receive(b"") is: a discovery request carries no token, so nothing may be granted.
    client = ClientSession.discovery()
    client.initial_response()
    with pytest.raises(ProtocolError, match=r"^the server accepted a discovery request"):
        client.receive_outcome(success=True)
    assert client.state is ClientState.FAILED
