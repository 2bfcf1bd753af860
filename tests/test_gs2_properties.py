"""Properties of the codec: round trips, totality, and agreement with a Kafka model."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from hypothesis import example, given, settings
from hypothesis import strategies as st

from oauthbearer import (
    ClientInitialResponse,
    Dialect,
    ErrorResponse,
    MalformedMessage,
    MalformedReason,
)
from oauthbearer.gs2 import _decode_fast, _interpret, _scan
from oauthbearer.testing import strategies as obs
from tests import strategies as obst

if TYPE_CHECKING:
    import random


@given(obs.initial_responses())
def test_decode_inverts_encode(msg: ClientInitialResponse) -> None:
    assert ClientInitialResponse.decode(msg.encode()) == msg


@given(obs.initial_responses(), st.randoms())
def test_equal_messages_hash_equal(msg: ClientInitialResponse, rnd: random.Random) -> None:
    items = list(msg.extensions.items())
    rnd.shuffle(items)
    shuffled = ClientInitialResponse(
        msg.token,
        authzid=msg.authzid,
        extensions=dict(items),
        scheme=msg.scheme,
        gs2_flag=msg.gs2_flag,
    )
    assert shuffled == msg
    assert hash(shuffled) == hash(msg)


@given(obs.initial_responses(Dialect.KAFKA))
def test_kafka_dialect_decodes_what_we_encode(msg: ClientInitialResponse) -> None:
    decoded = ClientInitialResponse.decode(msg.encode(), dialect=Dialect.KAFKA)
    assert decoded == msg


@given(obst.parser_inputs, st.sampled_from(list(Dialect)))
@example(b"n,a==", Dialect.RFC7628)
@example(b"n,a=x=2", Dialect.RFC7628)
@example(b"n,,\x01auth=Bearer x\x01\x01", Dialect.KAFKA)
def test_any_bytes_give_a_message_or_our_error(data: bytes, dialect: Dialect) -> None:
    try:
        ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as err:
        assert err.reason in MalformedReason
        assert err.offset is not None
        assert 0 <= err.offset <= len(data)


def _fields(msg: ClientInitialResponse) -> tuple[object, ...]:
    return (msg.gs2_flag, msg.authzid, msg.scheme, msg.token, list(msg.extensions.items()))


@settings(max_examples=300)
@given(
    obst.parser_inputs
    | obst.encoded_initial_responses
    | obs.initial_responses(Dialect.KAFKA).map(ClientInitialResponse.encode),
    st.sampled_from(list(Dialect)),
)
@example(b"n,,\x01auth=Bearer x\x01port=443\x01\x01", Dialect.RFC7628)
@example(b"n,a=a=2Cb,\x01auth=Bearer x\x01\x01", Dialect.RFC7628)
@example(b"n,a=a=2Cb,\x01auth=Bearer x\x01\x01", Dialect.KAFKA)
def test_fast_path_returns_what_the_precise_path_returns(data: bytes, dialect: Dialect) -> None:
    kafka = dialect is Dialect.KAFKA
    fast = _decode_fast(data, kafka)
    if fast is None:
        return
    precise = _interpret(data, *_scan(data, kafka=kafka), kafka)
    assert _fields(fast) == _fields(precise)


def test_fast_path_takes_what_real_clients_send() -> None:
    """The property above is only worth something if the fast path is used."""
    common = b"n,,\x01auth=Bearer abc.def\x01traceId=x\x01logicalCluster=y\x01\x01"
    for dialect in (False, True):
        assert _decode_fast(common, dialect) is not None
        assert _decode_fast(b"n,a=alice,\x01auth=bearer abc\x01\x01", dialect) is not None


@given(obst.parser_inputs)
def test_kafka_accepts_everything_strict_accepts_except_known_differences(data: bytes) -> None:
    """The strict dialect is stricter than Kafka except where the RFC allows more:
    the 'y' flag, UTF-8 or escaped authzids, empty values and discovery."""
    try:
        strict = ClientInitialResponse.decode(data)
    except MalformedMessage:
        return
    relaxed = (
        strict.gs2_flag == "y"
        or (strict.authzid is not None and not re.fullmatch(r"[\x01-\x7f]+", strict.authzid))
        or b"=2C" in data.split(b"\x01", 1)[0]
        or b"=3D" in data.split(b"\x01", 1)[0]
        or "" in strict.extensions.values()
        or strict.is_discovery
    )
    if not relaxed:
        kafka = ClientInitialResponse.decode(data, dialect=Dialect.KAFKA)
        assert kafka == strict


# --- a model of Kafka's broker, transliterated from its Java source ----------------------
# OAuthBearerClientInitialResponse: decode as UTF-8, match the whole string, split
# the pairs on %x01 and "=" into a HashMap, take out "auth", match AUTH_PATTERN,
# compare the scheme with "bearer" ignoring case.

_K_SASLNAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"
_K_PAIRS = r"(?:[A-Za-z]+=[\x21-\x7e \t\r\n]+\x01)*"
_K_MESSAGE = re.compile(rf"n,(?:a=(?P<authzid>{_K_SASLNAME}))?,\x01(?P<kvpairs>{_K_PAIRS})\x01")
_K_AUTH = re.compile(r"(?P<scheme>[A-Za-z0-9_]+)[ ]+(?P<token>[-_~+/.a-zA-Z0-9]+=*)")


def kafka_model(data: bytes) -> tuple[str, ...] | tuple[str, str, str, dict[str, str]]:
    text = data.decode("utf-8", errors="replace")
    match = _K_MESSAGE.fullmatch(text)
    if match is None:
        return ("Invalid OAUTHBEARER client first message",)
    properties: dict[str, str] = {}
    parts = match["kvpairs"].split("\x01")
    while parts and parts[-1] == "":  # Java's String.split drops trailing empties
        parts.pop()
    for part in parts:
        key, value = part.split("=", 1)
        properties[key] = value
    auth = properties.pop("auth", None)
    if auth is None:
        return ("Invalid OAUTHBEARER client first message: 'auth' not specified",)
    auth_match = _K_AUTH.fullmatch(auth)
    if auth_match is None:
        return ("Invalid OAUTHBEARER client first message: invalid 'auth' format",)
    if auth_match["scheme"].lower() != "bearer":
        return (f"Invalid scheme in OAUTHBEARER client first message: {auth_match['scheme']}",)
    return (match["authzid"] or "", auth_match["scheme"], auth_match["token"], properties)


@settings(max_examples=500)
@given(
    obst.parser_inputs
    | obs.mutated(obs.initial_responses(Dialect.KAFKA).map(ClientInitialResponse.encode))
)
@example(b"n,,\x01auth=Bearer x\x01k=1\x01k=2\x01auth=bearer y\x01\x01")
@example(b"n,a=a=2Cb,\x01auth=Bearer x\x01\x01")
@example(b"n,a=\x01,\x01auth=Bearer x\x01\x01")
def test_kafka_dialect_agrees_with_a_model_of_kafkas_broker(data: bytes) -> None:
    expected = kafka_model(data)
    try:
        msg = ClientInitialResponse.decode(data, dialect=Dialect.KAFKA)
    except MalformedMessage as err:
        assert (err.kafka_message,) == expected
        return
    assert (msg.authzid or "", msg.scheme, msg.token, dict(msg.extensions)) == expected


# --- ErrorResponse ---------------------------------------------------------------------


@given(obs.error_responses())
def test_error_response_round_trips(error: ErrorResponse) -> None:
    assert ErrorResponse.decode(error.encode()) == error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["status", "scope", "openid-configuration", "x"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@given(
    json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=100)
    | obs.mutated(obs.error_responses().map(ErrorResponse.encode))
)
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"status":"x","n":' + b"1" * 5000 + b"}")
@example(b'{"status":"x","n":NaN}')
@example(b'{"status":"\\ud800"}')
@example(b'\xef\xbb\xbf{"status":"x"}')
def test_any_bytes_give_an_error_response_or_our_error(data: bytes) -> None:
    try:
        ErrorResponse.decode(data, max_size=20_000)
    except MalformedMessage as err:
        assert err.reason in MalformedReason
