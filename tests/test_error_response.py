"""The server's error challenge (RFC 7628 section 3.2.2): what an ErrorResponse
may hold, how its scope reads in both forms, and every refusal of a peer's JSON
with its stable reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import ClientInitialResponse, ErrorResponse, MalformedMessage
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.gs2 import MAX_ERROR_RESPONSE_SIZE


def refusal(data: bytes, **kwargs: int) -> MalformedMessage:
    with pytest.raises(MalformedMessage) as info:
        ErrorResponse.decode(data, **kwargs)
    assert info.value.status is None  # the server's fault: no RFC 7628 status describes it
    return info.value


# --- the fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"status": 401}, ArgumentTypeError, "ErrorResponse.status must be a string"),
        ({"status": "invalid_token", "scope": ["a"]}, ArgumentTypeError, "scope must be a string"),
        (
            {"status": "invalid_token", "openid_configuration": b"https://idp/"},
            ArgumentTypeError,
            "openid_configuration must be a string",
        ),
        ({"status": ""}, ConfigurationError, "status must be non-empty"),
        ({"status": "bad\x7f"}, ConfigurationError, "free of control characters"),
        ({"status": 'in"valid'}, ConfigurationError, "must be an RFC 6749 error code"),
        ({"status": "x", "scope": "a\nb"}, ConfigurationError, "free of control characters"),
        ({"status": "x", "scope": "\ud800"}, ConfigurationError, "scope is not encodable"),
    ],
)
def test_fields_are_checked(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    status = kwargs.pop("status")
    with pytest.raises(error, match=message) as info:
        ErrorResponse(status, **kwargs)  # type: ignore[arg-type]
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("scope", "scopes"),
    [
        (None, ()),
        ("read write", ("read", "write")),
        ("read  write ", ("read", "write")),
        ("[read, write]", ("read", "write")),  # Kafka's List.toString()
        ("[]", ()),
        ("[read]", ("read",)),
        ("[read", ("[read",)),  # not Kafka's form: space-delimited
    ],
)
def test_scopes_read_both_forms(scope: str | None, scopes: tuple[str, ...]) -> None:
    assert ErrorResponse("insufficient_scope", scope=scope).scopes == scopes


# --- decoding a peer's challenge ------------------------------------------------------------


@pytest.mark.parametrize("data", ['{"status":"invalid_token"}', None, 7])
def test_decode_wants_bytes(data: object) -> None:
    with pytest.raises(ArgumentTypeError, match="data must be bytes, bytearray or memoryview"):
        ErrorResponse.decode(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_decode_reads_any_bytes_like(wrap: type) -> None:
    assert ErrorResponse.decode(wrap(b'{"status":"invalid_token"}')) == ErrorResponse(
        "invalid_token"
    )


def test_a_challenge_over_the_limit_is_refused_before_it_is_parsed() -> None:
    data = b'{"status":"invalid_token","x":"' + b"a" * MAX_ERROR_RESPONSE_SIZE + b'"}'
    error = refusal(data)
    assert error.reason == "too-large"
    assert error.offset == MAX_ERROR_RESPONSE_SIZE
    assert refusal(b'{"status":"invalid_token"}', max_size=10).reason == "too-large"


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b'{"status":"invalid_token","status":"ok"}', "duplicate-field", None),
        (b'{"status":"x","scope":"a","scope":"b"}', "duplicate-field", None),
        (b'{"status":"\xff"}', "invalid-utf8", 11),
        (b'{"status":', "invalid-json", 10),
        (b'["status"]', "not-an-object", 0),
        (b'{"scope":"a"}', "missing-status", None),
        (b'{"status":1}', "invalid-field", None),
        (b'{"status":"x","scope":""}', "invalid-field", None),
    ],
)
def test_a_bad_challenge_has_a_stable_reason(data: bytes, reason: str, offset: int | None) -> None:
    error = refusal(data)
    assert error.reason == reason
    assert error.offset == offset


def test_a_duplicate_is_named() -> None:
    assert "member 'status' appears twice" in str(
        refusal(b'{"status":"invalid_token","status":"ok"}')
    )


#: RFC 6749 error codes (NQSCHAR), and free text without C0 controls or DEL.
STATUS = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), min_size=1
)
TEXT = st.none() | st.text(
    st.characters(min_codepoint=0x20, exclude_characters="\x7f", exclude_categories=["Cs"]),
    min_size=1,
)


@given(STATUS, TEXT, TEXT)
def test_decode_reads_back_what_encode_writes(
    status: str, scope: str | None, openid_configuration: str | None
) -> None:
    response = ErrorResponse(status, scope=scope, openid_configuration=openid_configuration)
    assert ErrorResponse.decode(response.encode()) == response
    assert json.loads(response.encode()) == response.to_json()


# --- the client's authzid -------------------------------------------------------------------


@pytest.mark.parametrize("authzid", [b"alice", 7, ["alice"]])
def test_an_authzid_must_be_a_string(authzid: object) -> None:
    with pytest.raises(ArgumentTypeError, match=r"^authzid must be a string or None$"):
        ClientInitialResponse("abc", authzid=authzid)  # type: ignore[arg-type]
