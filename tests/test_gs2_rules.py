"""Every rule of DESIGN.md section 4, accept and reject, in both dialects.

Each row: input, then the outcome per dialect: a reason code, or a dict of the
fields the decoded message must have.
"""

from __future__ import annotations

from typing import Any

import pytest

from oauthbearer import (
    KAFKA_MAX_RECEIVE_SIZE,
    MAX_EXTENSIONS,
    MAX_INITIAL_RESPONSE_SIZE,
    ArgumentTypeError,
    ClientInitialResponse,
    ConfigurationError,
    Dialect,
    MalformedMessage,
    MalformedReason,
)

T = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
OK = b"n,,\x01auth=Bearer " + T + b"\x01\x01"

Outcome = str | dict[str, Any]

# (id, input, strict outcome, kafka outcome)
RULES: list[tuple[str, bytes, Outcome, Outcome]] = [
    ("minimal", OK, {"token": T.decode()}, {"token": T.decode()}),
    # --- GS2 header (RFC 5801 section 4)
    ("flag-y", b"y" + OK[1:], {"gs2_flag": "y"}, "invalid-gs2-header"),
    ("flag-p", b"p=tls-unique" + OK[1:], "channel-binding", "channel-binding"),
    ("flag-F", b"F," + OK, "invalid-gs2-header", "invalid-gs2-header"),
    ("flag-N-uppercase", b"N" + OK[1:], "invalid-gs2-header", "invalid-gs2-header"),
    (
        "no-comma-after-flag",
        b"n\x01auth=Bearer x\x01\x01",
        "invalid-gs2-header",
        "invalid-gs2-header",
    ),
    ("lone-kvsep", b"\x01", "invalid-gs2-header", "invalid-gs2-header"),
    ("empty", b"", "truncated", "truncated"),
    ("header-only", b"n,,", "truncated", "truncated"),
    ("authzid", b"n,a=alice," + OK[3:], {"authzid": "alice"}, {"authzid": "alice"}),
    ("authzid-escapes", b"n,a=a=2Cb=3Dc," + OK[3:], {"authzid": "a,b=c"}, {"authzid": "a=2Cb=3Dc"}),
    ("authzid-lowercase-escape", b"n,a=a=2cb," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-bad-escape", b"n,a=a=41," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-bare-equals", b"n,a=a=b," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-empty", b"n,a=," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-nul", b"n,a=a\x00b," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-utf8", "n,a=jürgen,".encode() + OK[3:], {"authzid": "jürgen"}, "invalid-authzid"),
    ("authzid-bad-utf8", b"n,a=\xff\xfe," + OK[3:], "invalid-authzid", "invalid-authzid"),
    ("authzid-unterminated", b"n,a=alice", "truncated", "truncated"),
    ("authzid-cut-after-a", b"n,a", "truncated", "truncated"),
    ("a-without-equals", b"n,ab," + OK[3:], "invalid-gs2-header", "invalid-gs2-header"),
    (
        "quoted-authzid",
        b'n,"a=alice",' + OK[3:],
        "invalid-gs2-header",
        "invalid-gs2-header",
    ),
    (
        # KafkaJS (src/protocol/sasl/oauthBearer/request.js) writes `"a=` and no closing quote.
        "kafkajs-authzid",
        b'n,"a=alice,' + OK[3:],
        "invalid-gs2-header",
        "invalid-gs2-header",
    ),
    ("no-kvsep-after-header", b"n,,auth=Bearer x\x01\x01", "missing-kvsep", "missing-kvsep"),
    # --- pairs (RFC 7628 section 3.1)
    (
        "unknown-key-kept",
        b"n,,\x01auth=Bearer x\x01fooBar=baz\x01\x01",
        {"extensions": {"fooBar": "baz"}},
        {"extensions": {"fooBar": "baz"}},
    ),
    ("empty-key", b"n,,\x01=x\x01auth=Bearer x\x01\x01", "invalid-key", "invalid-key"),
    ("digit-in-key", b"n,,\x01k1=x\x01auth=Bearer x\x01\x01", "invalid-key", "invalid-key"),
    ("underscore-in-key", b"n,,\x01a_b=x\x01auth=Bearer x\x01\x01", "invalid-key", "invalid-key"),
    ("key-without-equals", b"n,,\x01auth=Bearer x\x01flag\x01\x01", "invalid-key", "invalid-key"),
    (
        "empty-value",
        b"n,,\x01auth=Bearer x\x01k=\x01\x01",
        {"extensions": {"k": ""}},
        "invalid-value",
    ),
    (
        "value-with-space-tab-crlf",
        b"n,,\x01auth=Bearer x\x01k=a b\tc\r\nd\x01\x01",
        {"extensions": {"k": "a b\tc\r\nd"}},
        {"extensions": {"k": "a b\tc\r\nd"}},
    ),
    (
        "value-with-equals",
        b"n,,\x01auth=Bearer x\x01k=a=b\x01\x01",
        {"extensions": {"k": "a=b"}},
        {"extensions": {"k": "a=b"}},
    ),
    (
        "value-control-char",
        b"n,,\x01auth=Bearer x\x01k=a\x02\x01\x01",
        "invalid-value",
        "invalid-value",
    ),
    ("value-del", b"n,,\x01auth=Bearer x\x01k=a\x7f\x01\x01", "invalid-value", "invalid-value"),
    (
        "value-non-ascii",
        "n,,\x01auth=Bearer x\x01k=é\x01\x01".encode(),
        "invalid-value",
        "invalid-value",
    ),
    (
        "duplicate-key",
        b"n,,\x01auth=Bearer x\x01k=1\x01k=2\x01\x01",
        "duplicate-key",
        {"extensions": {"k": "2"}},
    ),
    (
        "second-auth",
        b"n,,\x01auth=Bearer x\x01auth=Bearer y\x01\x01",
        "duplicate-key",
        {"token": "y"},
    ),
    (
        "keys-case-sensitive",
        b"n,,\x01auth=Bearer x\x01AUTH=y\x01\x01",
        {"extensions": {"AUTH": "y"}},
        {"extensions": {"AUTH": "y"}},
    ),
    (
        "auth-not-first",
        b"n,,\x01k=v\x01auth=Bearer x\x01\x01",
        {"token": "x", "extensions": {"k": "v"}},
        {"token": "x", "extensions": {"k": "v"}},
    ),
    ("no-pairs", b"n,,\x01\x01", "missing-auth", "missing-auth"),
    ("missing-auth", b"n,,\x01k=v\x01\x01", "missing-auth", "missing-auth"),
    (
        "missing-final-kvsep",
        b"n,,\x01auth=Bearer x\x01",
        "missing-terminator",
        "missing-terminator",
    ),
    ("unterminated-value", b"n,,\x01auth=Bearer x", "truncated", "truncated"),
    ("trailing-data", OK + b"x", "trailing-data", "trailing-data"),
    ("trailing-kvsep", OK + b"\x01", "trailing-data", "trailing-data"),
    ("trailing-nul", OK + b"\x00", "trailing-data", "trailing-data"),
    # --- the auth value (RFC 6750 section 2.1)
    (
        "scheme-lowercase",
        b"n,,\x01auth=bearer x\x01\x01",
        {"scheme": "bearer"},
        {"scheme": "bearer"},
    ),
    (
        "scheme-mixed-case",
        b"n,,\x01auth=BeArEr x\x01\x01",
        {"scheme": "BeArEr"},
        {"scheme": "BeArEr"},
    ),
    (
        "scheme-basic",
        b"n,,\x01auth=Basic dXNlcjpwYXNz\x01\x01",
        "unsupported-scheme",
        "unsupported-scheme",
    ),
    ("scheme-mac", b"n,,\x01auth=MAC x\x01\x01", "unsupported-scheme", "unsupported-scheme"),
    ("scheme-with-dash", b"n,,\x01auth=Bear-er x\x01\x01", "unsupported-scheme", "invalid-auth"),
    ("several-spaces", b"n,,\x01auth=Bearer   x\x01\x01", {"token": "x"}, {"token": "x"}),
    ("tab-instead-of-space", b"n,,\x01auth=Bearer\tx\x01\x01", "invalid-auth", "invalid-auth"),
    ("no-space", b"n,,\x01auth=Bearer\x01\x01", "invalid-auth", "invalid-auth"),
    ("no-token", b"n,,\x01auth=Bearer \x01\x01", "invalid-token-syntax", "invalid-auth"),
    (
        "empty-auth-is-discovery",
        b"n,,\x01auth=\x01\x01",
        {"token": "", "scheme": ""},
        "invalid-value",
    ),
    ("token-padding", b"n,,\x01auth=Bearer abc==\x01\x01", {"token": "abc=="}, {"token": "abc=="}),
    (
        "token-only-padding",
        b"n,,\x01auth=Bearer ==\x01\x01",
        "invalid-token-syntax",
        "invalid-auth",
    ),
    (
        "token-padding-inside",
        b"n,,\x01auth=Bearer ab=c\x01\x01",
        "invalid-token-syntax",
        "invalid-auth",
    ),
    (
        "token-all-b64token-chars",
        b"n,,\x01auth=Bearer aZ09-._~+/=\x01\x01",
        {"token": "aZ09-._~+/="},
        {"token": "aZ09-._~+/="},
    ),
    ("token-with-space", b"n,,\x01auth=Bearer a b\x01\x01", "invalid-token-syntax", "invalid-auth"),
    (
        "token-trailing-space",
        b"n,,\x01auth=Bearer ab \x01\x01",
        "invalid-token-syntax",
        "invalid-auth",
    ),
    ("token-with-comma", b"n,,\x01auth=Bearer a,b\x01\x01", "invalid-token-syntax", "invalid-auth"),
    ("token-with-tab", b"n,,\x01auth=Bearer a\tb\x01\x01", "invalid-token-syntax", "invalid-auth"),
    ("token-with-del", b"n,,\x01auth=Bearer a\x7fb\x01\x01", "invalid-value", "invalid-value"),
    ("token-with-quote", b'n,,\x01auth=Bearer a"b\x01\x01', "invalid-token-syntax", "invalid-auth"),
    ("token-with-colon", b"n,,\x01auth=Bearer a:b\x01\x01", "invalid-token-syntax", "invalid-auth"),
    (
        "token-with-percent",
        b"n,,\x01auth=Bearer a%2Fb\x01\x01",
        "invalid-token-syntax",
        "invalid-auth",
    ),
    # --- host and port (RFC 7628 section 3.1)
    (
        "host-port",
        b"n,,\x01auth=Bearer x\x01host=kafka.example\x01port=9093\x01\x01",
        {"host": "kafka.example", "port": 9093},
        {"host": "kafka.example", "port": 9093},
    ),
    (
        "port-leading-zero",
        b"n,,\x01auth=Bearer x\x01port=0443\x01\x01",
        "invalid-port",
        {"port": None},
    ),
    ("port-zero", b"n,,\x01auth=Bearer x\x01port=0\x01\x01", "invalid-port", {"port": None}),
    ("port-too-big", b"n,,\x01auth=Bearer x\x01port=65536\x01\x01", "invalid-port", {"port": None}),
    (
        "port-not-a-number",
        b"n,,\x01auth=Bearer x\x01port=https\x01\x01",
        "invalid-port",
        {"port": None},
    ),
]


def _check(data: bytes, dialect: Dialect, outcome: Outcome) -> None:
    if isinstance(outcome, str):
        with pytest.raises(MalformedMessage) as info:
            ClientInitialResponse.decode(data, dialect=dialect)
        err = info.value
        assert err.reason == outcome, str(err)
        assert err.reason in MalformedReason
        assert err.offset is not None
        assert 0 <= err.offset <= len(data)
        assert err.status == "invalid_request"
        assert (err.kafka_message is not None) == (dialect is Dialect.KAFKA)
        return
    msg = ClientInitialResponse.decode(data, dialect=dialect)
    for field, expected in outcome.items():
        actual = getattr(msg, field)
        if field == "extensions":
            actual = dict(actual)
        assert actual == expected, field


@pytest.mark.parametrize(
    ("data", "outcome"), [(r[1], r[2]) for r in RULES], ids=[r[0] for r in RULES]
)
def test_strict_dialect(data: bytes, outcome: Outcome) -> None:
    _check(data, Dialect.RFC7628, outcome)


@pytest.mark.parametrize(
    ("data", "outcome"), [(r[1], r[3]) for r in RULES], ids=[r[0] for r in RULES]
)
def test_kafka_dialect(data: bytes, outcome: Outcome) -> None:
    _check(data, Dialect.KAFKA, outcome)


# --- offsets and messages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"x,,\x01auth=Bearer t\x01\x01", "invalid-gs2-header", 0),
        (b"n,a=a=xx,\x01auth=Bearer t\x01\x01", "invalid-authzid", 5),
        (b"n,,\x01k1=v\x01\x01", "invalid-key", 5),
        (b"n,,\x01auth=Bearer t\x01k=\x02\x01\x01", "invalid-value", 20),
        (b"n,,\x01auth=Bearer t\x01\x01zz", "trailing-data", 19),
        (b"n,,\x01auth=Bearer t\x01k=1\x01k=2\x01\x01", "duplicate-key", 22),
        (b"n,,\x01auth=Bearer a!b\x01\x01", "invalid-token-syntax", 17),
        (b"n,,\x01k=v\x01auth=Basic t\x01\x01", "unsupported-scheme", 13),
        (b"n,,\x01auth=Bearer t\x01", "missing-terminator", 18),
    ],
)
def test_offsets_point_at_the_offending_byte(data: bytes, reason: str, offset: int) -> None:
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(data)
    assert (info.value.reason, info.value.offset) == (reason, offset)
    assert f"at byte {offset}" in str(info.value)


def test_kafkajs_authzid_is_named_in_the_message() -> None:
    with pytest.raises(MalformedMessage, match="as KafkaJS sends it") as info:
        ClientInitialResponse.decode(b'n,"a=alice,\x01auth=Bearer t\x01\x01')
    assert (info.value.reason, info.value.offset) == ("invalid-gs2-header", 2)


def test_kafka_messages_are_kafkas_own_texts() -> None:
    def kafka_message(data: bytes) -> str | None:
        with pytest.raises(MalformedMessage) as info:
            ClientInitialResponse.decode(data, dialect="kafka")
        return info.value.kafka_message

    assert kafka_message(b"y,,\x01auth=Bearer t\x01\x01") == (
        "Invalid OAUTHBEARER client first message"
    )
    assert kafka_message(b"n,,\x01k=v\x01\x01") == (
        "Invalid OAUTHBEARER client first message: 'auth' not specified"
    )
    assert kafka_message(b"n,,\x01auth=Bearer a b\x01\x01") == (
        "Invalid OAUTHBEARER client first message: invalid 'auth' format"
    )
    assert kafka_message(b"n,,\x01auth=Basic t\x01\x01") == (
        "Invalid scheme in OAUTHBEARER client first message: Basic"
    )


def test_error_messages_never_contain_the_token() -> None:
    secret = "c2VjcmV0LXRva2VuLXZhbHVl"
    for data in (
        f"n,,\x01auth=Bearer {secret}!\x01\x01".encode(),
        f"n,,\x01auth=Basic {secret}\x01\x01".encode(),
        f"n,,\x01auth=Bearer {secret}\x01k=\x02\x01\x01".encode(),
        f"n,,\x01auth=Bearer {secret}\x01".encode(),
        f"n,,\x01auth=Bearer {secret}\x01\x01{secret}".encode(),
    ):
        for dialect in Dialect:
            with pytest.raises(MalformedMessage) as info:
                ClientInitialResponse.decode(data, dialect=dialect)
            assert secret not in str(info.value)
            assert secret not in repr(info.value)


# --- limits ---------------------------------------------------------------------------


def test_size_limit_is_checked_before_parsing() -> None:
    big = b"x" * (MAX_INITIAL_RESPONSE_SIZE + 1)
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(big)
    assert info.value.reason == "too-large"
    assert info.value.offset == MAX_INITIAL_RESPONSE_SIZE


def test_size_limit_is_postgresqls_message_limit_less_its_framing() -> None:
    # PG_MAX_AUTH_TOKEN_LENGTH (65,535) bounds the whole SASLInitialResponse:
    # a 65,515-byte response reaches PostgreSQL's validator, 65,516 does not
    # (measured: tests/test_postgres_differential.py).
    framing = 4 + len(b"OAUTHBEARER\x00") + 4
    assert MAX_INITIAL_RESPONSE_SIZE == 65_535 - framing == 65_515
    head, tail = b"n,,\x01auth=Bearer abc\x01pad=", b"\x01\x01"
    fits = head + b"x" * (MAX_INITIAL_RESPONSE_SIZE - len(head) - len(tail)) + tail
    assert len(fits) == 65_515
    assert ClientInitialResponse.decode(fits).token == "abc"
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(fits[:-2] + b"x" + tail)
    assert info.value.reason == "too-large"


def test_kafka_size_limit_is_kafkas() -> None:
    token = b"a" * (MAX_INITIAL_RESPONSE_SIZE + 10)
    data = b"n,,\x01auth=Bearer " + token + b"\x01\x01"
    with pytest.raises(MalformedMessage):
        ClientInitialResponse.decode(data)
    assert ClientInitialResponse.decode(data, dialect="kafka").token == token.decode()
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(b"n" * (KAFKA_MAX_RECEIVE_SIZE + 1), dialect="kafka")
    assert info.value.reason == "too-large"


def test_max_size_can_be_lowered() -> None:
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(OK, max_size=len(OK) - 1)
    assert info.value.reason == "too-large"
    assert ClientInitialResponse.decode(OK, max_size=len(OK)).token == T.decode()


def test_extension_count_limit() -> None:
    pairs = b"".join(
        b"k" + bytes([65 + i // 26, 97 + i % 26]) + b"=v\x01" for i in range(MAX_EXTENSIONS + 1)
    )
    data = b"n,,\x01auth=Bearer t\x01" + pairs + b"\x01"
    with pytest.raises(MalformedMessage) as info:
        ClientInitialResponse.decode(data)
    assert info.value.reason == "too-many-extensions"
    # Kafka has no count limit.
    assert len(ClientInitialResponse.decode(data, dialect="kafka").extensions) == (
        MAX_EXTENSIONS + 1
    )


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert ClientInitialResponse.decode(bytearray(OK)).token == T.decode()
    assert ClientInitialResponse.decode(memoryview(OK)).token == T.decode()


def test_decode_refuses_str_and_unknown_dialect() -> None:
    with pytest.raises(ArgumentTypeError):
        ClientInitialResponse.decode(OK.decode())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="dialect"):
        ClientInitialResponse.decode(OK, dialect="postgres")


# --- the encoder validates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"token": "a b"}, "b64token"),
        ({"token": ""}, "discovery"),
        ({"token": "=abc"}, "b64token"),
        ({"token": "t", "extensions": {"auth": "x"}}, "reserved"),
        ({"token": "t", "extensions": {"k1": "x"}}, "1\\*ALPHA"),
        ({"token": "t", "extensions": {"": "x"}}, "invalid"),
        ({"token": "t", "extensions": {"k": "a\x01b"}}, "VCHAR"),
        ({"token": "t", "extensions": {"k": "é"}}, "VCHAR"),
        ({"token": "t", "extensions": {"port": "080"}}, "port"),
        ({"token": "t", "authzid": ""}, "non-empty"),
        ({"token": "t", "authzid": "a\x00b"}, "NUL"),
        ({"token": "t", "authzid": "\ud800"}, "UTF-8"),
        ({"token": "t", "scheme": "Basic"}, "Bearer"),
        ({"token": "t", "gs2_flag": "p=tls-unique"}, "channel binding"),
    ],
)
def test_encoder_refuses_what_the_parser_rejects(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ClientInitialResponse(**kwargs)


def test_encoder_refuses_too_many_extensions() -> None:
    many = {"k" + chr(65 + i // 26) + chr(97 + i % 26): "v" for i in range(MAX_EXTENSIONS + 1)}
    with pytest.raises(ConfigurationError, match="at most"):
        ClientInitialResponse("t", extensions=many)


def test_encoder_refuses_wrong_types() -> None:
    with pytest.raises(ArgumentTypeError):
        ClientInitialResponse(b"t")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        ClientInitialResponse("t", extensions={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(ArgumentTypeError):
        ClientInitialResponse("t", extensions=[("k", "v")])  # type: ignore[arg-type]


def test_message_is_immutable_hashable_and_keeps_the_token_out_of_repr() -> None:
    msg = ClientInitialResponse("s3cr3t-token", extensions={"b": "1", "a": "2"})
    assert "s3cr3t" not in repr(msg)
    assert list(msg.extensions) == ["b", "a"]
    with pytest.raises(AttributeError):
        msg.token = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        msg.extensions["c"] = "3"  # type: ignore[index]
    assert hash(msg) == hash(ClientInitialResponse.decode(msg.encode()))


def test_extensions_are_copied_not_shared() -> None:
    source = {"k": "v"}
    msg = ClientInitialResponse("t", extensions=source)
    source["k"] = "changed"
    assert msg.extensions["k"] == "v"


def test_discovery_request_round_trips() -> None:
    msg = ClientInitialResponse.discovery(authzid="alice")
    assert msg.encode() == b"n,a=alice,\x01auth=\x01\x01"
    assert msg.is_discovery
    assert ClientInitialResponse.decode(msg.encode()) == msg
