"""Kafka's unsecured tokens: the validator's checks and messages, and both builders."""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import (
    ClientInitialResponse,
    ConfigurationError,
    Dialect,
    InvalidToken,
    ServerSession,
)
from oauthbearer.session import Authenticated, ChallengeIssued
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
)

NOW = 1_700_000_000.0
NOW_MS = 1_700_000_000_000


def b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jws(claims: Any, header: Any = None, signature: str = "") -> str:
    return f"{b64({'alg': 'none'} if header is None else header)}.{b64(claims)}.{signature}"


GOOD: dict[str, Any] = {"sub": "alice", "exp": NOW + 60, "iat": NOW - 1, "scope": ["read"]}


def refusal(token: str, validator: UnsecuredJwsValidator | None = None) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        (validator or UnsecuredJwsValidator()).validate(token, now=NOW)
    return info.value


# --- the validator: Kafka's checks, in Kafka's order, with Kafka's messages ---------------


def test_accepts_a_good_token() -> None:
    token = UnsecuredJwsValidator().validate(jws(GOOD), now=NOW)
    assert token.principal == "alice"
    assert token.scope == {"read"}
    assert token.lifetime_ms == NOW_MS + 60_000
    assert token.start_time_ms == NOW_MS - 1000
    assert token.claims["sub"] == "alice"


@pytest.mark.parametrize(
    "tail",
    [b"\x00\x00", b" garbage", b"}{", b"\xff\xfe", b"\n"],
    ids=["zeros", "text", "braces", "invalid-utf8", "newline"],
)
def test_bytes_after_the_json_value_are_ignored_as_kafka_ignores_them(tail: bytes) -> None:
    # Jackson's readTree stops after the first value; Kafka 4.0.2 and 4.4.0 grant
    # such tokens (tests/test_kafka_validation_parity.py, shape payload-trailing-bytes).
    raw = json.dumps(GOOD, separators=(",", ":")).encode() + tail
    token = UnsecuredJwsValidator().validate(f"{b64({'alg': 'none'})}.{b64(raw)}.", now=NOW)
    assert token.principal == "alice"
    header = b'{"alg":"none"}' + tail
    assert UnsecuredJwsValidator().validate(f"{b64(header)}.{b64(GOOD)}.", now=NOW)


@pytest.mark.parametrize(
    "raw",
    [b'{"sub":"\xff"}', b'{"exp":NaN}', b'{"exp":1'],
    ids=["invalid-utf8-inside", "nan", "unterminated"],
)
def test_the_json_value_itself_must_be_well_formed(raw: bytes) -> None:
    assert refusal(f"{b64({'alg': 'none'})}.{b64(raw)}.").detail == "malformed JSON"


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("a..b", "Malformed compact serialization contains '..'"),
        (f"{b64({'alg': 'none'})}.{b64(GOOD)}", "must have 3 dot-separated"),
        (jws(GOOD, signature="s") + ".x", "must have 3 dot-separated"),
        ("a+b." + b64(GOOD) + ".", "malformed Base64 URL encoded value"),  # standard alphabet
        (b64({"alg": "none"}) + "==." + b64(GOOD) + ".", "malformed Base64 URL encoded value"),
        ("eyJ hbGciOiJub25lIn0." + b64(GOOD) + ".", "malformed Base64 URL encoded value"),
        (b64(b"{not json") + "." + b64(GOOD) + ".", "malformed JSON"),
        (b64(b'{"alg":NaN}') + "." + b64(GOOD) + ".", "malformed JSON"),
        (jws(GOOD, header=["none"]), "JWS header must have an Algorithm value"),
        (jws(GOOD, header={"typ": "JWT"}), "JWS header must have an Algorithm value"),
        (jws(GOOD, header={"alg": "None"}), "must have 'none' for an algorithm"),
        (jws(GOOD, header={"alg": None}), "must have 'none' for an algorithm"),
        (jws(GOOD, header={"alg": "RS256"}), "must have 'none' for an algorithm"),
        (jws(GOOD, signature="c2ln"), "must not contain a digital signature"),
        (jws({**GOOD, "scope": 7}), "The 'scope' claim was not of type List: Integer"),
        (jws({**GOOD, "scope": 1.5}), "The 'scope' claim was not of type List: Double"),
        (jws({"sub": "alice"}), "No expiration time in JWT"),
        (jws({**GOOD, "exp": "soon"}), "The 'exp' claim was not of type Number: String"),
        (jws({**GOOD, "exp": True}), "The 'exp' claim was not of type Number: String"),
        (jws({**GOOD, "exp": [1]}), "The 'exp' claim was not of type Number: ArrayList"),
        (jws({"exp": NOW + 60}), "No principal name in JWT claim: sub"),
        (jws({**GOOD, "sub": "  "}), "No principal name in JWT claim: sub"),
        (jws({**GOOD, "sub": ["alice"]}), "The 'sub' claim was not of type String: ArrayList"),
        (jws({**GOOD, "sub": 7}), "The 'sub' claim was not of type String: Integer"),
        (jws({**GOOD, "sub": 2**40}), "The 'sub' claim was not of type String: Long"),
        (jws({**GOOD, "sub": 2**70}), "The 'sub' claim was not of type String: BigInteger"),
        (jws({**GOOD, "iat": "now"}), "The 'iat' claim was not of type Number: String"),
        (
            jws({**GOOD, "iat": NOW + 1}),
            (
                "The Issued At value (1700000001.000000 seconds) was "
                "after the indicated time (1700000000000 ms) plus allowable clock skew (0 ms)"
            ),
        ),
        (
            jws({**GOOD, "exp": NOW}),
            (
                "The indicated time (1700000000000 ms) minus allowable clock skew (0 ms) "
                "was on or after the Expiration Time value (1700000000.000000 seconds)"
            ),
        ),
        (jws({**GOOD, "iat": NOW - 10, "exp": NOW - 10}), "was on or after the Expiration"),
        (jws({"sub": "a", "iat": NOW - 5, "exp": NOW - 5 + 0.0}), "was on or after"),
        (b64({"alg": "none"}) + "." + b64([1, 2]) + ".", "No expiration time in JWT"),
        (b64({"alg": "none"}) + "..", "Malformed compact serialization contains '..'"),
    ],
)
def test_refusals_are_invalid_token_with_kafkas_detail(token: str, detail: str) -> None:
    error = refusal(token)
    assert error.status == "invalid_token"
    assert error.scope is None
    assert error.detail is not None
    assert detail in error.detail


def test_exp_not_after_iat() -> None:
    error = refusal(
        jws({"sub": "a", "iat": NOW - 5, "exp": NOW - 5}),
        UnsecuredJwsValidator(allowable_clock_skew_ms=10_000),
    )
    assert error.detail == (
        "The Expiration Time time (1699999995.000000 seconds) was not after the Issued At "
        "time (1699999995.000000 seconds)"
    )


def test_base64url_with_or_without_padding_and_url_alphabet() -> None:
    claims = {**GOOD, "sub": "??>>"}  # base64url of this JSON holds '-' or '_'
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()
    assert "-" in body or "_" in body
    for part in (body, body.rstrip("=")):
        token = f"{b64({'alg': 'none'})}.{part}."
        assert UnsecuredJwsValidator().validate(token, now=NOW).principal == "??>>"


def test_jackson_conversions_as_kafka_reads_them() -> None:
    # JSON null reads as the string "null", so it is a (strange) principal.
    assert UnsecuredJwsValidator().validate(jws({**GOOD, "sub": None}), now=NOW).principal == (
        "null"
    )
    # The principal is kept untrimmed; a non-object claims part reads as empty.
    assert UnsecuredJwsValidator().validate(jws({**GOOD, "sub": " bob "}), now=NOW).principal == (
        " bob "
    )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("read write", {"read write"}),  # Kafka does not split a string scope
        ("  read ", {"read"}),
        ("   ", set()),
        ([" read ", "", "  ", "write"], {"read", "write"}),
        ([1, True, None], {"1", "true", "null"}),
        ([], set()),
    ],
)
def test_scope_claim_as_kafka_reads_it(scope: Any, expected: set[str]) -> None:
    token = UnsecuredJwsValidator().validate(jws({**GOOD, "scope": scope}), now=NOW)
    assert token.scope == expected


def test_required_scope_is_insufficient_scope_with_kafkas_list() -> None:
    validator = UnsecuredJwsValidator(required_scope=("read", "admin"))
    error = refusal(jws(GOOD), validator)
    assert error.status == "insufficient_scope"
    assert error.scope == "[read, admin]"
    assert error.detail == (
        "The provided scope ([read]) was missing a required scope (admin).  "
        "All required scope elements: [read, admin]"
    )


def test_clock_skew_allows_early_iat_and_late_exp() -> None:
    validator = UnsecuredJwsValidator(allowable_clock_skew_ms=2000)
    assert validator.validate(jws({**GOOD, "iat": NOW + 2}), now=NOW).principal == "alice"
    early = {**GOOD, "iat": NOW - 10}
    assert validator.validate(jws({**early, "exp": NOW - 1}), now=NOW).principal == "alice"
    refusal(jws({**early, "exp": NOW - 2}), validator)


def test_expiry_boundary_is_exclusive() -> None:
    validator = UnsecuredJwsValidator()
    assert validator.validate(jws({**GOOD, "exp": NOW + 0.001}), now=NOW).lifetime_ms == (
        NOW_MS + 1
    )
    refusal(jws({**GOOD, "exp": NOW}), validator)


def test_lifetime_rounds_half_up_as_java_math_round() -> None:
    # 1700000000.0005 s is 1700000000000.5 ms: Math.round gives ...001, not the even ...000.
    token = UnsecuredJwsValidator().validate(jws({**GOOD, "exp": NOW + 3600.0005}), now=NOW)
    assert token.lifetime_ms == NOW_MS + 3_600_001
    huge = UnsecuredJwsValidator().validate(jws({**GOOD, "exp": 10**400}), now=NOW)
    assert huge.lifetime_ms == 2**63 - 1


def test_from_kafka_options() -> None:
    validator = UnsecuredJwsValidator.from_options(
        {
            "unsecuredValidatorPrincipalClaimName": " azp ",
            "unsecuredValidatorScopeClaimName": "roles",
            "unsecuredValidatorRequiredScope": " a  b ",
            "unsecuredValidatorAllowableClockSkewMs": " 500 ",
            "unsecuredLoginStringClaim_sub": "not mine",
        }
    )
    assert validator == UnsecuredJwsValidator(
        principal_claim_name="azp",
        scope_claim_name="roles",
        required_scope=("a", "b"),
        allowable_clock_skew_ms=500,
    )
    assert UnsecuredJwsValidator.from_options({}) == UnsecuredJwsValidator()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"unsecuredValidatorRequiredScope": 'a "b"'}, 'Invalid scope value: "b"'),
        ({"unsecuredValidatorAllowableClockSkewMs": "abc"}, 'For input string: "abc"'),
        ({"unsecuredValidatorAllowableClockSkewMs": "1.5"}, "For input string"),
        ({"unsecuredValidatorAllowableClockSkewMs": "3000000000"}, "For input string"),
        ({"unsecuredValidatorAllowableClockSkewMs": " -5"}, "must not be negative:  -5"),
    ],
)
def test_bad_validator_options_name_the_problem(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        UnsecuredJwsValidator.from_options(options)


@given(
    st.text(max_size=300)
    | st.builds(
        jws,
        st.dictionaries(
            st.sampled_from(["sub", "exp", "iat", "scope", "x"]),
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text()
            | st.lists(st.text() | st.integers(), max_size=3),
        ),
    )
)
def test_any_token_gives_a_token_or_invalid_token(token: str) -> None:
    try:
        UnsecuredJwsValidator(required_scope=("read",)).validate(token, now=NOW)
    except InvalidToken as error:
        assert error.status in {"invalid_token", "insufficient_scope"}


def test_in_a_server_session_as_kafka_answers() -> None:
    server = ServerSession(UnsecuredJwsValidator(required_scope=("admin",)), dialect=Dialect.KAFKA)
    issued = server.receive(ClientInitialResponse(jws(GOOD)).encode(), now=NOW)
    assert isinstance(issued, ChallengeIssued)
    assert issued.error.status == "insufficient_scope"
    assert issued.error.scopes == ("admin",)
    ok = ServerSession(UnsecuredJwsValidator(), dialect=Dialect.KAFKA)
    assert isinstance(ok.receive(ClientInitialResponse(jws(GOOD)).encode(), now=NOW), Authenticated)


# --- librdkafka's builder -----------------------------------------------------------------


def test_librdkafka_unit_test_vector() -> None:
    # librdkafka's own test: now_ms = 1000, "principal=fubar scopeClaimName=whatever".
    login = librdkafka_unsecured_login("principal=fubar scopeClaimName=whatever", now=1.0)
    assert login.token.value == (
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJmdWJhciIsImlhdCI6MS4wMDAsImV4cCI6MzYwMS4wMDB9."
    )
    assert (login.token.lifetime_ms, login.token.principal) == (3_601_000, "fubar")


CAPTURES = pathlib.Path(__file__).parent / "fixtures" / "captures"


@pytest.mark.parametrize(
    "name", ["confluent-kafka-unsecure-jwt-accept", "confluent-kafka-unsecure-jwt-accept-ext"]
)
def test_librdkafka_builder_reproduces_a_captured_token(name: str) -> None:
    capture = json.loads((CAPTURES / f"{name}.json").read_text())
    sent = ClientInitialResponse.decode(bytes.fromhex(capture["initial_response_hex"]))
    claims = json.loads(base64.urlsafe_b64decode(sent.token.split(".")[1] + "=="))
    login = librdkafka_unsecured_login(
        capture["config"]["sasl.oauthbearer.config"], now=claims["iat"]
    )
    assert login.token.value == sent.token
    assert dict(login.extensions) == dict(sent.extensions)


def test_librdkafka_scope_list_is_deduplicated_in_order() -> None:
    login = librdkafka_unsecured_login(
        "principal=a principalClaimName=azp scope=r2,,r1,r2 scopeClaimName=roles lifeSeconds=60",
        now=1.0,
    )
    claims = json.loads(base64.urlsafe_b64decode(login.token.value.split(".")[1] + "=="))
    assert claims == {"azp": "a", "iat": 1.0, "exp": 61.0, "roles": ["r2", "r1"]}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "must not be empty"),
        ("scope=a", "no principal=<value>"),
        ("principal=a principal=b", "multiple 'principal=' entries"),
        ("principal=", "empty 'principal='"),
        ("principal=a lifeSeconds=1x", "non-integral 'lifeSeconds=': 1x"),
        ("principal=a lifeSeconds=0", "out of range of positive int"),
        ("principal=a lifeSeconds=2147483648", "out of range of positive int"),
        ("principal=a colour=blue", "Unrecognized sasl.oauthbearer.config beginning at: colour"),
        ('principal=a"b', "'\"' cannot appear in principal"),
        ("principal=a extension_=x", "empty 'extension_' key"),
        ("principal=a extension_auth=x", "reserved `auth`"),
        ("principal=a extension_a1=x", "A-Z or a-z"),
    ],
)
def test_librdkafka_config_errors(config: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        librdkafka_unsecured_login(config, now=NOW)


# --- Kafka's builder ------------------------------------------------------------------------


def kafka_claims(options: dict[str, str]) -> dict[str, Any]:
    token = kafka_unsecured_login(options, now=NOW).token.value
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==")))


def test_kafka_builder_claims() -> None:
    login = kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": "alice",
            "unsecuredLoginNumberClaim_level": "3",
            "unsecuredLoginListClaim_scope": ",read,write",
            "unsecuredLoginExtension_traceId": "abc",
            "unsecuredLoginLifetimeSeconds": "60",
        },
        now=NOW,
    )
    header, claims, signature = login.token.value.split(".")
    assert header == "eyJhbGciOiJub25lIn0"
    assert signature == ""
    assert json.loads(base64.urlsafe_b64decode(claims + "==")) == {
        "exp": NOW + 60,
        "iat": NOW,
        "sub": "alice",
        "level": 3.0,
        "scope": ["read", "write"],
    }
    assert login.token.principal == "alice"
    assert login.token.scope == {"read", "write"}
    assert login.token.lifetime_ms == NOW_MS + 60_000
    assert dict(login.extensions) == {"traceId": "abc"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        (",", []),
        (",a,b", ["a", "b"]),
        (",a,,b", ["a", "", "b", ""]),
        (",a,", ["a", ""]),
        (",,a", ["", "a", ""]),
        (" a b", ["a", "b"]),
        ("|x|y", ["x", "y"]),
    ],
)
def test_kafka_list_claim_delimiter_rule(value: str, expected: list[str]) -> None:
    options = {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginListClaim_roles": value}
    assert kafka_claims(options)["roles"] == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "cannot be used to establish client connections"),
        (
            {"unsecuredLoginExtension_a": "b"},
            "Extensions provided in login context without a token",
        ),
        ({"unsecuredLoginNumberClaim_iat": "1"}, "Cannot explicitly set the 'iat' claim"),
        ({"unsecuredLoginStringClaim_exp": "1"}, "Cannot explicitly set the 'exp' claim"),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginLifetimeSeconds": " 60"},
            "unsecuredLoginLifetimeSeconds: For input string",
        ),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginNumberClaim_n": "1_000"},
            "For input string",
        ),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginNumberClaim_n": "NaN"},
            "For input string",
        ),
        ({"unsecuredLoginStringClaim_name": "a"}, "No principal name in JWT claim: sub"),
        ({"unsecuredLoginListClaim_sub": ",a"}, "The 'sub' claim was not of type String"),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginListClaim_x": ",,"},
            "Illegal JSON array",
        ),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginExtension_auth": "x"},
            "Extension name auth is invalid",
        ),
        (
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginExtension_x": ""},
            "Extension value for extension x is invalid",
        ),
    ],
)
def test_kafka_builder_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        kafka_unsecured_login(options, now=NOW)


def test_kafka_builder_custom_principal_claim_and_quotes() -> None:
    # Kafka's own builder writes invalid JSON for '"'; ours escapes it.
    login = kafka_unsecured_login(
        {"unsecuredLoginPrincipalClaimName": "azp", "unsecuredLoginStringClaim_azp": 'a"b'},
        now=NOW,
    )
    assert login.token.principal == 'a"b'
    validator = UnsecuredJwsValidator(principal_claim_name="azp")
    assert validator.validate(login.token.value, now=NOW).principal == 'a"b'


@given(
    principal=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"'),
        min_size=1,
        max_size=12,
    ),
    scope=st.lists(st.text("abcxyz", min_size=1, max_size=5), max_size=4),
    life=st.integers(1, 10**6),
)
def test_both_builders_make_tokens_kafka_accepts(
    principal: str, scope: list[str], life: int
) -> None:
    kafka = kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": principal,
            "unsecuredLoginListClaim_scope": "," + ",".join(scope),
            "unsecuredLoginLifetimeSeconds": str(life),
        },
        now=NOW,
    )
    rdkafka = librdkafka_unsecured_login(
        f"principal={principal} scope={','.join(scope) or 'x'} lifeSeconds={life}", now=NOW
    )
    for login in (kafka, rdkafka):
        # Kafka's SASL layer takes the token, and its validator accepts it.
        message = ClientInitialResponse(login.token.value).encode()
        assert ClientInitialResponse.decode(message, dialect="kafka").token == login.token.value
        token = UnsecuredJwsValidator().validate(login.token.value, now=NOW)
        assert token.principal == principal
        assert token.lifetime_ms == login.token.lifetime_ms
