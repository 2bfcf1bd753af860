"""OAuthBearerToken checks its own fields; parse_scope reads RFC 6749 scope as Kafka does.

The token is what every validator hands a server (Kafka's ``OAUTHBEARER.token``),
so a caller-built one must be refused with a precise error when a field is of the
wrong kind, and must never show its secret parts.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import (
    ArgumentTypeError,
    ConfigurationError,
    OAuthBearerToken,
    TokenValidator,
    parse_scope,
)

GOOD: dict[str, Any] = {
    "value": "eyJ.secret.sig",
    "principal": "alice",
    "scope": frozenset({"read"}),
    "lifetime_ms": 1_700_000_060_000,
    "start_time_ms": 1_700_000_000_000,
    "claims": {"sub": "alice", "jti": "secret-claim"},
}


def token(**changes: Any) -> OAuthBearerToken:
    return OAuthBearerToken(**{**GOOD, **changes})


# --- the fields ---------------------------------------------------------------------------


def test_a_good_token_keeps_its_fields() -> None:
    t = token()
    assert (t.value, t.principal, t.scope) == ("eyJ.secret.sig", "alice", frozenset({"read"}))
    assert (t.lifetime_ms, t.start_time_ms) == (1_700_000_060_000, 1_700_000_000_000)
    assert dict(t.claims) == {"sub": "alice", "jti": "secret-claim"}


def test_defaults_are_no_scope_no_start_and_no_claims() -> None:
    t = OAuthBearerToken(value="v", principal="p", lifetime_ms=0)
    assert t.scope == frozenset()
    assert t.start_time_ms is None
    assert dict(t.claims) == {}
    assert isinstance(t.claims, types.MappingProxyType)


def test_an_empty_principal_is_allowed() -> None:
    # Kafka's OAuthBearerToken allows it; the validators refuse blank principals themselves.
    assert token(principal="").principal == ""


@pytest.mark.parametrize("scope", [["read", "write"], ("read", "write"), {"read", "write"}])
def test_scope_of_any_iterable_becomes_a_frozenset(scope: Any) -> None:
    t = token(scope=scope)
    assert type(t.scope) is frozenset
    assert t.scope == {"read", "write"}


def test_claims_are_a_read_only_copy() -> None:
    claims = {"sub": "alice"}
    t = token(claims=claims)
    claims["sub"] = "mallory"  # the caller's dict changes afterwards
    assert t.claims["sub"] == "alice"
    with pytest.raises(TypeError):
        t.claims["sub"] = "mallory"  # type: ignore[index]


def test_read_only_claims_are_kept_as_given() -> None:
    claims = types.MappingProxyType({"sub": "alice"})
    assert token(claims=claims).claims is claims


def test_the_token_is_frozen() -> None:
    t = token()
    with pytest.raises(AttributeError):
        t.principal = "mallory"  # type: ignore[misc]


def test_repr_shows_neither_the_value_nor_the_claims() -> None:
    text = repr(token())
    assert "alice" in text  # the principal is not a secret
    assert "eyJ" not in text
    assert "secret" not in text


def test_equality_ignores_the_claims() -> None:
    assert token(claims={"a": 1}) == token(claims={"b": 2})
    assert token(principal="bob") != token()


@pytest.mark.parametrize(
    ("field", "bad", "error", "message"),
    [
        ("value", b"eyJ.secret.sig", ArgumentTypeError, "value must be a string"),
        ("value", None, ArgumentTypeError, "value must be a string"),
        ("value", "", ConfigurationError, "value must not be empty"),
        ("principal", None, ArgumentTypeError, "principal must be a string"),
        ("principal", b"alice", ArgumentTypeError, "principal must be a string"),
        ("lifetime_ms", 1.5e12, ArgumentTypeError, "lifetime_ms must be an int"),
        ("lifetime_ms", "1700000060000", ArgumentTypeError, "lifetime_ms must be an int"),
        ("lifetime_ms", True, ArgumentTypeError, "lifetime_ms must be an int"),
        ("start_time_ms", 1.7e12, ArgumentTypeError, "start_time_ms must be an int or None"),
        ("start_time_ms", False, ArgumentTypeError, "start_time_ms must be an int or None"),
        ("scope", ["read", 1], ArgumentTypeError, "scope must hold strings"),
        ("scope", frozenset({b"read"}), ArgumentTypeError, "scope must hold strings"),
    ],
)
def test_a_field_of_the_wrong_kind_is_refused(
    field: str, bad: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        token(**{field: bad})
    assert type(info.value) is error
    assert str(info.value) == f"OAuthBearerToken.{message}" + (
        " (epoch ms)" if field == "lifetime_ms" else ""
    )


def test_no_refusal_quotes_the_token_value() -> None:
    with pytest.raises(ArgumentTypeError) as info:
        token(value="eyJ.secret.sig", lifetime_ms="soon")
    assert "secret" not in str(info.value)


# --- the validator protocol ----------------------------------------------------------------


class _Fixed:
    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        return OAuthBearerToken(value=token, principal="alice", lifetime_ms=int(now * 1000))


def test_anything_with_validate_is_a_token_validator() -> None:
    assert isinstance(_Fixed(), TokenValidator)
    assert not isinstance(object(), TokenValidator)
    assert _Fixed().validate("t", now=2.0).lifetime_ms == 2000


# --- parse_scope (RFC 6749 section 3.3, as Kafka's OAuthBearerScopeUtils reads it) ---------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", frozenset()),
        ("read", {"read"}),
        ("read write", {"read", "write"}),
        ("  read   write ", {"read", "write"}),  # empty parts are dropped
        ("read read", {"read"}),
        ("read\twrite", {"read\twrite"}),  # only SP delimits (RFC 6749 3.3)
        (["read", "", "write"], {"read", "write"}),
        ((), frozenset()),
        (iter(["a", "b"]), {"a", "b"}),  # any iterable, read once
    ],
)
def test_parse_scope(value: Any, expected: frozenset[str]) -> None:
    assert parse_scope(value) == expected


@pytest.mark.parametrize("value", [["read", 1], [None], [b"read"]])
def test_parse_scope_refuses_a_list_of_non_strings(value: list[Any]) -> None:
    with pytest.raises(ArgumentTypeError, match="scope must be a string or a list of strings"):
        parse_scope(value)


SCOPE_TOKEN = st.text(st.characters(codec="ascii", exclude_characters=" "), min_size=1)


@given(st.lists(SCOPE_TOKEN), st.lists(st.integers(1, 3)))
def test_parse_scope_reads_back_any_space_delimited_scope(
    tokens: list[str], gaps: list[int]
) -> None:
    # Any number of spaces between, before or after the scope-tokens reads back as the set.
    text = " " * (gaps[0] if gaps else 0)
    for i, item in enumerate(tokens):
        text += item + " " * (gaps[i % len(gaps)] if gaps else 1)
    assert parse_scope(text) == frozenset(tokens)
    assert parse_scope(tokens) == frozenset(tokens)
