"""Hypothesis strategies for OAUTHBEARER messages, used across the test suite."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from oauthbearer import ClientInitialResponse, ErrorResponse

ALPHA = string.ascii_letters
B64TOKEN_CHARS = ALPHA + string.digits + "-._~+/"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t\r\n"

keys = st.text(ALPHA, min_size=1, max_size=10).filter(lambda k: k != "auth")
values = st.text(VALUE_CHARS, max_size=24)
nonempty_values = st.text(VALUE_CHARS, min_size=1, max_size=24)
tokens = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(B64TOKEN_CHARS, min_size=1, max_size=64),
    st.integers(0, 2),
)
authzids = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=16,
)
# What Kafka keeps as sent: ASCII, no ",", no "=" (Kafka does not undo escapes).
kafka_authzids = st.text(
    st.characters(min_codepoint=1, max_codepoint=0x7F, blacklist_characters=",="),
    min_size=1,
    max_size=16,
)


def _extensions(value_strategy: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(keys.filter(lambda k: k != "port"), value_strategy, max_size=6)


initial_responses: st.SearchStrategy[ClientInitialResponse] = st.builds(
    ClientInitialResponse,
    tokens,
    authzid=st.none() | authzids,
    extensions=_extensions(values),
    scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]),
    gs2_flag=st.sampled_from(["n", "y"]),
)

#: Messages that Kafka's broker reads back exactly as they were built.
kafka_initial_responses: st.SearchStrategy[ClientInitialResponse] = st.builds(
    ClientInitialResponse,
    tokens,
    authzid=st.none() | kafka_authzids,
    extensions=_extensions(nonempty_values),
    scheme=st.sampled_from(["Bearer", "bearer"]),
)

_status = st.text(
    "".join(chr(c) for c in [0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)]),
    min_size=1,
    max_size=20,
)
_printable = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30)
error_responses: st.SearchStrategy[ErrorResponse] = st.builds(
    ErrorResponse,
    _status,
    scope=st.none() | _printable,
    openid_configuration=st.none() | _printable,
)

# Bytes that most often break a parser built on this grammar.
_INTERESTING = b"\x00\x01\x02\t\n\r ,=aAnyp2C3D\x7f\x80\xc3\xff"


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A valid message with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append"]))
        index = draw(st.integers(0, max(len(data) - 1, 0)))
        byte = draw(st.sampled_from(_INTERESTING) | st.integers(0, 255))
        if op == "replace" and data:
            data[index] = byte
        elif op == "insert":
            data.insert(index, byte)
        elif op == "delete" and data:
            del data[index]
        elif op == "truncate":
            del data[index:]
        else:
            data.append(byte)
    return bytes(data)


encoded_initial_responses = initial_responses.map(ClientInitialResponse.encode)
#: Inputs worth feeding a parser: valid, mutated, and arbitrary.
parser_inputs = (
    encoded_initial_responses | mutated(encoded_initial_responses) | st.binary(max_size=200)
)
