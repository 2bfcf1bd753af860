"""The claim-check language (oauthbearer.validation.claim_check).

The vectors are Strimzi's own (``CustomCheckTest`` in strimzi-kafka-oauth's
oauth-common tests, read at commit e101071e): the expression, the claims, and
the verdict Jayway JsonPath gives under Strimzi. Where our documented subset
refuses an expression Strimzi accepts, the test says so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.validation.claim_check import (
    MAX_CHECK_LENGTH,
    MAX_CHECK_NESTING,
    ClaimCheck,
    ClaimCheckError,
    ClaimCheckReason,
    ClaimPath,
)

CLAIMS: dict[str, Any] = json.loads(
    """{ "aud": ["uma_authorization", "kafka"], "iss": "https://auth-server/token",
    "iat": 0, "exp": 600, "sub": "username", "custom": "custom-value",
    "roles": {"client-roles": {"kafka": ["kafka-user"]} }, "custom-level": 9 }"""
)

#: Strimzi's ``queries`` and ``poorWhitespaceQueries``, verbatim, with their verdicts.
STRIMZI_VECTORS = [
    ("@.custom-level != -1", True),
    ("@.exp < 1000", True),
    ("@.exp > 1000", False),
    ("@.exp >= 600", True),
    ("@.exp <= 600", True),
    ("@.exp > 600", False),
    ("@.exp < 600", False),
    ("@.exp < 'cant compare makes it false'", False),
    ("@.custom < 'custom-value2'", True),
    ("@.custom > 'custom-val'", True),
    ("@.custom > 'aaaaaaaaaaaaaaaa'", True),
    ("@.custom > 'AAAAAAAAAAAAAAAA'", True),
    ("@.custom > 'ZZZZZZZZZZZZZZZZ'", True),
    ("@.custom > 'z'", False),
    ("@.custom == 'custom-value'", True),
    ("@.custom == 'custom-value' && @.exp > 1000", False),
    ("@.custom == 'custom-value' || @.exp > 1000", True),
    ("@.custom == 'custom-value' && @.exp <= 1000", True),
    ("@.custom != 'custom-value'", False),
    ("@.iat != null", True),
    ("@.iat == null", False),
    ("@.custom in ['some-custom-value', 42, 'custom-value']", True),
    ("@.custom nin ['some-custom-value', 42, 'custom-value']", False),
    ("@.custom nin []", True),
    ("@.custom in []", False),
    ("@.custom-level in [1,2,3]", False),
    ("@.custom-level in [1,8,9,20]", True),
    ("@.custom-level nin [1,8,9,20]", False),
    ("@.roles.client-roles.kafka != null", True),
    ("'kafka' in @.aud", True),
    ('"kafka-user" in @.roles.client-roles.kafka', True),
    ("@.exp > 1000 || 'kafka' in @.aud", True),
    ("(@.custom == 'custom-value' || @.custom == 'custom-value2')", True),
    ("(@.exp > 1000 && @.custom == 'custom-value') || @.roles.client-roles.kafka != null", True),
    ("@.exp >= 600 && ('kafka' in @.aud || @.custom == 'custom-value')", True),
    ("@.roles.client-roles.kafka anyof ['kafka-admin', 'kafka-user']", True),
    ("@.roles.client-roles.kafka noneof ['kafka-admin', 'kafka-user']", False),
    ("@.sub anyof ['username']", False),
    ("@.missing anyof [null, 'username']", False),
    ("@.missing noneof [null, 'username']", False),
    ("!(@.missing && @.missing anyof [null, 'username'])", True),
    ("!(@.missing && @.missing noneof [null, 'username'])", True),
    ("@.aud noneof [null, 'username']", True),
    ("@.aud noneof ['kafka', 'something']", False),
    ("@.aud anyof ['kafka', 'something']", True),
    ("!(@.aud anyof ['kafka', 'something'])", False),
    ("!(@.aud noneof [null, 'username'])", False),
    ("((@.custom == 'some-custom-value' || 'kafka' in @.aud) && @.exp > 1000)", False),
    ("((('kafka' in @.aud || @.custom == 'custom-value') && @.exp > 1000))", False),
    ("@.exp =~ /^6[0-9][0-9]$/", True),
    ("@.custom =~ /custom-.+/", True),
    ("@.custom =~ /ustom-.+/", False),
    ("@.custom =~ /CUSTOM-.+/i", True),
    ("@.iss =~ /https:\\/\\/auth-server\\/.+/", True),
    ("@.iss =~ /https:\\/\\/auth-server\\//", False),
    ("@.missing == null", True),
    ("@.missing != null", False),
    ("@.missing", False),
    ("!@.missing", True),
    ("@.custom", True),
    ("@.sub && @.custom == 'custom-value'", True),
    ("@.custom == 'custom-value' && @.roles.client-roles.kafka", True),
    ("@.['custom'] == 'custom-value'", True),
    ("@.custom in ['custom-value','custom-value2','custom-value3']", True),
    ("@.custom-level && @.custom-level nin [1,2,3]", True),
    ("@.missing nin [1,2,3]", True),
    ("@.missing && @.missing nin [1,2,3]", False),
    ("\"kafka-user\" in @.['roles'].['client-roles'].['kafka']", True),
    ('@.roles.client-roles.kafka && "kafka-admin" nin @.roles.client-roles.kafka', True),
    ("@.sub == 'username' && ((@.custom &&  @.custom == 'custom-value') || !@.custom)", True),
    ("@.sub == 'username' && ((@.custom &&  @.custom == 'custom-fail') || !@.custom)", False),
    ("@.sub == 'username' && ((@.cus &&  @.cus == 'custom-value') || !@.cus)", True),
    # poorWhitespaceQueries: Jayway takes them; so do we.
    ("@.custom-level!=-1", True),
    ("@.iat==null", False),
    ("@.custom=~/CUSTOM-.+/i", True),
    ("@.custom=='custom-value' && @.exp>1000", False),
    ("@.custom=='custom-value'&&@.exp>1000", False),
    # nonsensicalQueries that stay inside the subset.
    ("@", True),
    ("['exp'] > 1000", False),
    ("@.custom in null", False),
    ("'lala' > 'lala'", False),
    ("'lala' <= null", False),
    ("@.attr > null", False),
    ("1 < @.attr", False),
]


@pytest.mark.parametrize(("text", "verdict"), STRIMZI_VECTORS)
def test_strimzis_vectors_give_strimzis_verdicts(text: str, verdict: bool) -> None:
    assert ClaimCheck.parse(text).matches(CLAIMS) is verdict


@pytest.mark.parametrize(
    ("text", "reason", "offset"),
    [
        # Strimzi's errQueries: both are parse errors there too.
        ("@.attr == and !('admin' in @.roles)", ClaimCheckReason.TOKEN, 10),
        ("@.exp < 'unclosed string", ClaimCheckReason.STRING, 8),
        # Outside the subset, refused by name.
        ("$.sub == 'a'", ClaimCheckReason.UNSUPPORTED, 0),
        ("@.roles size 2", ClaimCheckReason.UNSUPPORTED, 8),
        ("@.roles empty true", ClaimCheckReason.UNSUPPORTED, 8),
        # Our own strictness.
        ("", ClaimCheckReason.END, 0),
        ("'a'", ClaimCheckReason.TOKEN, 0),
        ("@.a == ", ClaimCheckReason.END, 7),
        ("@.a == 1 1", ClaimCheckReason.TOKEN, 9),
        ("(@.a", ClaimCheckReason.END, 4),
        ("@.a =~ 'x'", ClaimCheckReason.TOKEN, 7),
        ("@.a =~ /(/", ClaimCheckReason.REGEX, 7),
        ("@.a =~ /x/q", ClaimCheckReason.REGEX, 7),
        ("@.a =~ /x", ClaimCheckReason.REGEX, 7),
        ("@.a in [@.b]", ClaimCheckReason.LIST, 7),
        ("@.a in [1 2]", ClaimCheckReason.TOKEN, 10),
        ("@.a == 01", ClaimCheckReason.NUMBER, 7),
        ("@.a == 1e999", ClaimCheckReason.NUMBER, 7),
        ("@. a", ClaimCheckReason.PATH, 1),
        ("@.a[x]", ClaimCheckReason.PATH, 4),
        ("@.a # b", ClaimCheckReason.CHARACTER, 4),
        ("@.a & @.b", ClaimCheckReason.CHARACTER, 4),
        ("!" * (MAX_CHECK_NESTING + 1) + "@.a", ClaimCheckReason.TOO_DEEP, MAX_CHECK_NESTING),
    ],
)
def test_what_does_not_parse_says_why_and_where(
    text: str, reason: ClaimCheckReason, offset: int
) -> None:
    with pytest.raises(ClaimCheckError) as error:
        ClaimCheck.parse(text)
    assert (error.value.reason, error.value.offset) == (reason, offset)
    assert f"at character {offset}" in str(error.value)
    assert isinstance(error.value, ConfigurationError)


def test_limits_and_types() -> None:
    with pytest.raises(ClaimCheckError, match="MAX_CHECK_LENGTH"):
        ClaimCheck.parse("@.a || " * MAX_CHECK_LENGTH)
    with pytest.raises(ArgumentTypeError):
        ClaimCheck.parse(b"@.a")  # type: ignore[arg-type]
    deep = "(" * MAX_CHECK_NESTING + "@.a" + ")" * MAX_CHECK_NESTING
    assert ClaimCheck.parse(deep).matches({"a": 1})


def test_equality_is_by_json_type() -> None:
    assert not ClaimCheck.parse("@.flag == 1").matches({"flag": True})
    assert ClaimCheck.parse("@.flag == true").matches({"flag": True})
    assert ClaimCheck.parse("@.n == 1.0").matches({"n": 1})
    assert not ClaimCheck.parse("@.n in [true]").matches({"n": 1})
    assert ClaimCheck.parse("@.o == null").matches({"o": None})
    assert ClaimCheck.parse("@.o").matches({"o": None})  # exists, whatever its value
    assert ClaimCheck.parse("@.a[1] == 'y'").matches({"a": ["x", "y"]})
    assert ClaimCheck.parse("@.a[-1] == 'y'").matches({"a": ["x", "y"]})
    assert not ClaimCheck.parse("@.a[2]").matches({"a": ["x", "y"]})
    assert ClaimCheck.parse("@.g subsetof ['a', 'b']").matches({"g": ["a"]})
    assert not ClaimCheck.parse("@.g subsetof ['a']").matches({"g": ["a", "c"]})
    assert ClaimCheck.parse("@.x == 'it\\'s'").matches({"x": "it's"})


@pytest.mark.parametrize(
    ("path", "claims", "expected"),
    [
        ("$.groups", {"groups": ["admins", 1, "ops"]}, ("admins", "ops")),
        ("groups", {"groups": ["admins"]}, ("admins",)),
        (
            "$.realm_access.roles",
            {"realm_access": {"roles": ["kafka-producer"]}},
            ("kafka-producer",),
        ),
        (
            "$.resource_access['kafka-broker'].roles",
            {"resource_access": {"kafka-broker": {"roles": ["r"]}}},
            ("r",),
        ),
        ("$['cognito:groups']", {"cognito:groups": ["g"]}, ("g",)),
        ("$.roles", {"roles": "a"}, ("a",)),
        ("$.missing", {}, ()),
        ("$.n", {"n": 3}, ()),
    ],
)
def test_claim_paths(path: str, claims: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert ClaimPath.parse(path).strings(claims) == expected


def test_a_claim_path_splits_a_delimited_string() -> None:
    assert ClaimPath.parse("$.groups").strings({"groups": "a,b,,c"}, delimiter=",") == (
        "a",
        "b",
        "c",
    )
    for bad in ("$", "$.", "$.a b", "$[x]", "$.a ="):
        with pytest.raises(ClaimCheckError):
            ClaimPath.parse(bad)


_ALPHABET = st.sampled_from(
    [*list("@.$[]()'\"/\\!=<>~&|,-_ 0123456789aeinotrsu"), "in", "nin", "anyof", "null", "true"]
)


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=80) | st.lists(_ALPHABET, max_size=40).map("".join))
def test_any_string_gives_a_check_or_our_error(text: str) -> None:
    try:
        check = ClaimCheck.parse(text)
    except ClaimCheckError as error:
        assert 0 <= error.offset <= max(len(text), MAX_CHECK_LENGTH)
        return
    assert check.matches(CLAIMS) in (True, False)
    assert check.matches({}) in (True, False)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_string_gives_a_path_or_our_error(text: str) -> None:
    try:
        path = ClaimPath.parse(text)
    except ClaimCheckError:
        return
    assert isinstance(path.strings(CLAIMS), tuple)
