"""Properties of the codec: round trips, totality, and agreement with a Kafka model."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from oauthbearer import (
    ClientInitialResponse,
    Dialect,
    ErrorResponse,
    MalformedMessage,
    MalformedReason,
)
from oauthbearer.gs2 import MAX_EXTENSIONS
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


# --- an independent model of the strict dialect, from the ABNF ------------------------
# RFC 5801 section 4 (the GS2 header), RFC 7628 section 3.1 (the pairs, port, the
# count limit of this library), RFC 6750 section 2.1 and RFC 7235 section 2.1 (auth).

_R_SASLNAME = rb"(?:[\x01-\x2b\x2d-\x3c\x3e-\xff]|=2C|=3D)+"
_R_PAIRS = rb"(?:[A-Za-z]+=[\x21-\x7e \t\r\n]*\x01)*"
_R_MESSAGE = re.compile(
    rb"(?P<flag>[ny]),(?:a=(?P<authzid>"
    + _R_SASLNAME
    + rb"))?,\x01(?P<kvpairs>"
    + _R_PAIRS
    + rb")\x01"
)
_R_AUTH = re.compile(r"(?P<scheme>[!#$%&'*+\-.^_`|~0-9A-Za-z]+) +(?P<token>.*)", re.DOTALL)
_R_TOKEN = re.compile(r"[-._~+/A-Za-z0-9]+=*")
_R_PORT = re.compile(r"[1-9][0-9]{0,4}")


def rfc_model(data: bytes) -> tuple[object, ...] | None:
    """The fields the strict dialect reads, or None where it refuses."""
    match = _R_MESSAGE.fullmatch(data)
    if match is None:
        return None
    authzid = None
    if match["authzid"] is not None:
        try:
            authzid = match["authzid"].decode("utf-8").replace("=2C", ",").replace("=3D", "=")
        except UnicodeDecodeError:
            return None
    pairs = [part.decode("ascii").split("=", 1) for part in match["kvpairs"].split(b"\x01")[:-1]]
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys) or keys.count("auth") != 1 or len(keys) > MAX_EXTENSIONS + 1:
        return None
    properties = dict(pairs)
    if "port" in properties and not (
        _R_PORT.fullmatch(properties["port"]) and int(properties["port"]) <= 65535
    ):
        return None
    auth = properties.pop("auth")
    scheme = token = ""
    if auth:
        auth_match = _R_AUTH.fullmatch(auth)
        if (
            auth_match is None
            or auth_match["scheme"].lower() != "bearer"
            or not _R_TOKEN.fullmatch(auth_match["token"])
        ):
            return None
        scheme, token = auth_match["scheme"], auth_match["token"]
    return (match["flag"].decode(), authzid, scheme, token, list(properties.items()))


@settings(max_examples=500)
@given(
    obst.parser_inputs
    | obst.encoded_initial_responses
    | obs.mutated(obs.initial_responses(Dialect.KAFKA).map(ClientInitialResponse.encode))
)
@example(b"n,,\x01auth=Bearer x\x01port=443\x01\x01")
@example(b"n,,\x01auth=Bearer x\x01port=0443\x01\x01")
@example(b"n,a=a=2Cb,\x01auth=Bearer x\x01\x01")
@example(b"n,,\x01k=v\x01auth=bEaRer  x==\x01\x01")
@example(b"n,,\x01auth=Bearer x\x01k=1\x01k=2\x01\x01")
@example(b"n,,\x01auth=Bearer x\x01auth=Bearer y\x01\x01")
@example(b"n,,\x01auth=\x01\x01")
def test_strict_dialect_agrees_with_a_model_of_the_rfcs(data: bytes) -> None:
    expected = rfc_model(data)
    try:
        msg = ClientInitialResponse.decode(data)
    except MalformedMessage:
        assert expected is None
        return
    assert _fields(msg) == expected


def _outcome(data: bytes, dialect: Dialect, shift: int) -> tuple[object, ...]:
    """The decoder's verdict on ``data``: its fields, or the refusal's reason, its
    offset less ``shift`` and Kafka's text."""
    try:
        msg = ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as err:
        assert err.offset is not None
        return (err.reason, err.offset - shift, err.kafka_message)
    extensions = {k: v for k, v in msg.extensions.items() if (k, v) != ("port", "443")}
    return (msg.scheme.lower(), msg.token, extensions)


_PAIRS = (
    obs.initial_responses().map(ClientInitialResponse.encode)
    | obs.initial_responses(Dialect.KAFKA).map(ClientInitialResponse.encode)
).map(lambda data: data.split(b"\x01", 1)[1])


@settings(max_examples=500)
@given(obs.mutated(_PAIRS) | _PAIRS | st.binary(max_size=40), st.sampled_from(list(Dialect)))
@example(b"auth=Bearer x\x01k=1\x01k=2\x01\x01", Dialect.RFC7628)
@example(b"auth=Bearer x\x01k=1\x01k=2\x01\x01", Dialect.KAFKA)
@example(b"auth=Bearer x!\x01k\x00=1\x01\x01", Dialect.RFC7628)
@example(b"auth=Bearer x\x01\x01\x01", Dialect.KAFKA)
def test_the_verdict_holds_on_every_route(pairs: bytes, dialect: Dialect) -> None:
    """The decoder reads the common shape (a plain "n,," header, auth first,
    "Bearer") by whole-buffer checks and leaves the rest to its walks: the same
    pairs behind an authzid, after a valid 'port' pair, or with the scheme in
    another letter case must give the same verdict, reason and offset."""
    assume(b"port" not in pairs and pairs.count(b"\x01") < MAX_EXTENSIONS)
    base = _outcome(b"n,,\x01" + pairs, dialect, 0)
    assert _outcome(b"n,a=u,\x01" + pairs, dialect, 3) == base
    assert _outcome(b"n,,\x01port=443\x01" + pairs, dialect, 9) == base
    if pairs.startswith(b"auth=Bearer "):
        respelled = b"auth=BEARER " + pairs[12:]
        assert _outcome(b"n,,\x01" + respelled, dialect, 0) == base


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
