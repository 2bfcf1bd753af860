"""Kafka's unsecured tokens at their edges: Java's rounding and base64url, Jackson's
reading of values, and every option check of the validator and both builders."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from oauthbearer import ConfigurationError, InvalidToken
from oauthbearer.unsecured import (
    MAX_UNSECURED_TOKEN_LENGTH,
    UnsecuredJwsValidator,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
    read_jws_part,
)

NOW = 1_700_000_000.0
NOW_MS = 1_700_000_000_000
HEADER = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()


def part(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def validate(claims_json: str, validator: UnsecuredJwsValidator | None = None) -> Any:
    return (validator or UnsecuredJwsValidator()).validate(
        f"{HEADER}.{part(claims_json)}.", now=NOW
    )


def refusal(token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        UnsecuredJwsValidator().validate(token, now=NOW)
    return info.value


# --- Java's Math.round on times past a long ------------------------------------------------


def test_a_time_past_a_double_saturates_as_java_rounds_it() -> None:
    # 1e400 reads as Infinity (Jackson and Python alike); Math.round saturates at a long.
    token = validate('{"sub":"alice","exp":1e400,"iat":-1e400}')
    assert token.lifetime_ms == 2**63 - 1
    assert token.start_time_ms == -(2**63)


def test_a_time_past_a_long_saturates() -> None:
    token = validate('{"sub":"alice","exp":1e300,"iat":-1e300}')
    assert token.lifetime_ms == 2**63 - 1
    assert token.start_time_ms == -(2**63)


def test_fractional_times_round_half_up() -> None:
    seconds = NOW_MS // 1000
    token = validate(f'{{"sub":"alice","exp":{seconds + 60}.0006,"iat":{seconds - 1}.0024}}')
    assert token.lifetime_ms == NOW_MS + 60_001  # floor(x * 1000 + 0.5)
    assert token.start_time_ms == NOW_MS - 998


def test_a_token_without_iat_has_no_start_time() -> None:
    token = validate(f'{{"sub":"alice","exp":{NOW + 60}}}')
    assert token.start_time_ms is None
    assert token.lifetime_ms == NOW_MS + 60_000


# --- base64url as Java's URL decoder reads it ------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        "e3=",  # padding that does not complete a quantum ("e30=" would)
        "eyJ=zdWIiOiJhIn0",  # padding inside the value
        "eyJzdWIiOiJhIn0=x",  # padding, then more
        part("{}") + "+",  # the standard alphabet, not the URL one
        "e",  # a length no base64 has
        "eyJzdWIiOiJh\u00e9",  # not ASCII
    ],
)
def test_claims_that_are_not_java_base64url_are_malformed(claims: str) -> None:
    assert refusal(f"{HEADER}.{claims}.").detail == "malformed Base64 URL encoded value"


def test_complete_padding_is_accepted() -> None:
    for principal in ("a", "ab", "abc"):
        raw = f'{{"sub":"{principal}","exp":{NOW + 9}}}'.encode()
        claims = base64.urlsafe_b64encode(raw).decode()
        if claims.endswith("="):
            break
    assert claims.endswith("=")
    token = UnsecuredJwsValidator().validate(f"{HEADER}.{claims}.", now=NOW)
    assert token.principal == principal


# --- read_jws_part: Kafka's toMap, for the client's token reader ---------------------------


def test_read_jws_part_converts_as_kafka_does() -> None:
    document = {
        "sub": "alice",
        "n": 3,
        "big": 2**70,
        "f": 1.5,
        "t": True,
        "z": None,
        "o": {"a": 1},
        "l": ["s", 1, 1.5, True, None, {"a": 1}, [1]],
    }
    assert read_jws_part(part(json.dumps(document))) == {
        "sub": "alice",
        "n": 3,
        "big": 2**70,
        "f": 1.5,
        "t": "true",
        "z": "null",
        "o": "",  # Jackson's asText() of an object
        "l": ["s", "1", "1.5", "true", "null", "", ""],
    }


@pytest.mark.parametrize(("raw", "expected"), [(b"", {}), (b"[1]", {}), (b'"s"', {})])
def test_read_jws_part_reads_a_non_object_as_an_empty_map(
    raw: bytes, expected: dict[str, Any]
) -> None:
    assert read_jws_part(part(raw)) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [("e", "malformed Base64 URL encoded value"), (part(b"{"), "malformed JSON")],
)
def test_read_jws_part_says_what_kafka_says(text: str, detail: str) -> None:
    with pytest.raises(ValueError, match=f"^{detail}$"):
        read_jws_part(text)


# --- the validator's options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"principal_claim_name": " \t"}, "principal_claim_name must not be blank"),
        ({"scope_claim_name": ""}, "scope_claim_name must not be blank"),
        ({"scope_claim_name": 7}, "scope_claim_name must not be blank"),
        ({"required_scope": "read"}, "required_scope must be a sequence of strings"),
        ({"required_scope": {"read"}}, "required_scope must be a sequence of strings"),
        ({"required_scope": ["read", 1]}, "required_scope must be a sequence of strings"),
        ({"required_scope": ["re ad"]}, "Invalid scope value: re ad"),
        ({"allowable_clock_skew_ms": -1}, "must not be negative: -1"),
        ({"allowable_clock_skew_ms": True}, "must not be negative: True"),
        ({"allowable_clock_skew_ms": 1.5}, "must not be negative: 1.5"),
    ],
)
def test_the_validators_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        UnsecuredJwsValidator(**options)


def test_claim_names_are_trimmed_as_java_trims_them() -> None:
    validator = UnsecuredJwsValidator(principal_claim_name=" user\t", scope_claim_name="\nscp ")
    assert (validator.principal_claim_name, validator.scope_claim_name) == ("user", "scp")
    token = validate(f'{{"user":"bob","scp":"a b","exp":{NOW + 5}}}', validator)
    # A string scope is one scope item, trimmed, as Kafka reads it (a list gives several).
    assert (token.principal, token.scope) == ("bob", frozenset({"a b"}))


def test_a_token_over_the_limit_is_refused_before_it_is_read() -> None:
    error = refusal("a" * (MAX_UNSECURED_TOKEN_LENGTH + 1))
    assert error.status == "invalid_token"
    assert error.detail == f"token longer than {MAX_UNSECURED_TOKEN_LENGTH} characters"


# --- the builders' options ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1_000", "NaN", "Infinity", "1e400", ""])
def test_a_number_claim_must_be_a_finite_java_double(value: str) -> None:
    option = "unsecuredLoginNumberClaim_n"
    with pytest.raises(ConfigurationError, match=f'^{option}: For input string: "{value}"$'):
        kafka_unsecured_login({"unsecuredLoginStringClaim_sub": "alice", option: value}, now=NOW)


def test_a_number_claim_is_written_as_a_double() -> None:
    login = kafka_unsecured_login(
        {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginNumberClaim_n": " 7 "}, now=NOW
    )
    assert login.token.claims["n"] == 7.0


def test_librdkafka_refuses_an_empty_life() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^Invalid sasl\.oauthbearer\.config: empty 'lifeSeconds='$"
    ):
        librdkafka_unsecured_login("principal=alice lifeSeconds=", now=NOW)


@pytest.mark.parametrize("value", ["a\x01b", "\x7f", "caf\u00e9"])
def test_librdkafka_refuses_an_extension_value_outside_the_grammar(value: str) -> None:
    with pytest.raises(ConfigurationError, match="extension values must only consist of"):
        librdkafka_unsecured_login(f"principal=alice extension_traceId={value}", now=NOW)


def test_librdkafka_accepts_an_empty_extension_value() -> None:
    login = librdkafka_unsecured_login("principal=alice extension_traceId=", now=NOW)
    assert dict(login.extensions) == {"traceId": ""}
