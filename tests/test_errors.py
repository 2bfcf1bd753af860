"""The error tree: local and remote errors apart, every remote error with a
registered reason, and every registry a documented StrEnum."""

from __future__ import annotations

import re

import pytest

from oauthbearer import (
    ClientSession,
    ServerSession,
    UnsecuredJwsValidator,
)
from oauthbearer.errors import (
    ArgumentTypeError,
    ClientFailureReason,
    ConfigurationError,
    FrameReason,
    InvalidToken,
    LocalError,
    MalformedMessage,
    MalformedReason,
    ProtocolError,
    ProtocolReason,
    ReasonCode,
    RemoteError,
    ServerFailureReason,
    SessionStateError,
    TokenReason,
)
from oauthbearer.kafka.protocol import MalformedFrame

REGISTRIES = (
    MalformedReason,
    FrameReason,
    ProtocolReason,
    TokenReason,
    ServerFailureReason,
    ClientFailureReason,
)


def test_local_and_remote_errors_are_apart() -> None:
    for local in (SessionStateError, ConfigurationError, ArgumentTypeError):
        assert issubclass(local, LocalError)
        assert not issubclass(local, RemoteError)
    for remote in (ProtocolError, MalformedMessage, MalformedFrame, InvalidToken):
        assert issubclass(remote, RemoteError)
        assert not issubclass(remote, LocalError)


def test_a_call_out_of_state_is_a_local_error_not_the_peers() -> None:
    client = ClientSession("t")
    with pytest.raises(SessionStateError) as caught:
        client.receive(b"")
    assert not isinstance(caught.value, ProtocolError)
    server = ServerSession()
    with pytest.raises(LocalError):
        server.accept(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("registry", REGISTRIES)
def test_every_registry_is_kebab_case_with_a_meaning(registry: type[ReasonCode]) -> None:
    assert len(registry) > 0
    for reason in registry:
        assert isinstance(reason, str)
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", reason.value), reason
        assert reason == reason.value
        assert reason.meaning
        assert registry(reason.value) is reason


def test_an_unregistered_reason_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="not a valid MalformedReason"):
        MalformedMessage("no-such-reason", "x", offset=0)
    with pytest.raises(ValueError, match="not a valid TokenReason"):
        InvalidToken("invalid_token", reason="missing-auth")
    with pytest.raises(ValueError, match="not a valid FrameReason"):
        MalformedFrame("missing-auth", "x", offset=0, error_code=2)
    with pytest.raises(ValueError, match="not a valid ProtocolReason"):
        ProtocolError("x", reason="expired")


def test_a_reason_is_its_registrys_member() -> None:
    with pytest.raises(MalformedMessage) as caught:
        ServerSession().receive(b"n,,\x01\x01")
    assert caught.value.reason is MalformedReason.MISSING_AUTH
    refusal = InvalidToken("invalid_token", reason="expired")
    assert refusal.reason is TokenReason.EXPIRED
    assert isinstance(refusal, RemoteError)


def test_a_reason_code_needs_a_meaning() -> None:
    with pytest.raises(TypeError, match="no meaning"):

        class Bare(ReasonCode):
            CODE = "code"


@pytest.mark.parametrize(
    ("token", "reason", "status"),
    [
        ("", TokenReason.MALFORMED, "invalid_token"),
        ("a" * 70_000, TokenReason.TOO_LARGE, "invalid_token"),
        ("e30.e30", TokenReason.MALFORMED, "invalid_token"),
        # {"alg":"HS256"} . {"sub":"a","exp":1}
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjoxfQ.",
            TokenReason.UNSUPPORTED_ALGORITHM,
            "invalid_token",
        ),
        # {"alg":"none"} . {"sub":"a","exp":1} . "x"
        (
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjoxfQ.eA",
            TokenReason.BAD_SIGNATURE,
            "invalid_token",
        ),
        # {"alg":"none"} . {"sub":"a"}
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", TokenReason.MISSING_CLAIM, "invalid_token"),
        # {"alg":"none"} . {"sub":"a","exp":1}
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjoxfQ.", TokenReason.EXPIRED, "invalid_token"),
        # {"alg":"none"} . {"sub":"a","exp":9999999999,"iat":9999999990}
        (
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5LCJpYXQiOjk5OTk5OTk5OTB9.",
            TokenReason.NOT_YET_VALID,
            "invalid_token",
        ),
        # {"alg":"none"} . {"sub":"a","exp":9999999999}, with a required scope
        (
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.",
            TokenReason.INSUFFICIENT_SCOPE,
            "insufficient_scope",
        ),
    ],
)
def test_unsecured_refusals_carry_their_reason(
    token: str, reason: TokenReason, status: str
) -> None:
    validator = UnsecuredJwsValidator(
        required_scope=("write",) if reason is TokenReason.INSUFFICIENT_SCOPE else ()
    )
    with pytest.raises(InvalidToken) as caught:
        validator.validate(token, now=1_000_000.0)
    assert caught.value.reason is reason
    assert caught.value.status == status
