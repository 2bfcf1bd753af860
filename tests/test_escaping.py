"""Peer values shown to a person: escaped bytes are plain printable ASCII that the
CLI's ``escaped`` input format reads back exactly; shown values are short reprs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer._text import MAX_SHOWN_VALUE, escape_bytes, show_value
from oauthbearer.cli.commands import parse_bytes


@given(st.binary(max_size=300))
def test_escaped_bytes_are_printable_ascii_that_read_back(data: bytes) -> None:
    text = escape_bytes(data)
    assert all(0x20 <= ord(c) < 0x7F for c in text)  # no line can be forged, no terminal driven
    assert parse_bytes(text, "escaped") == data


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"n,,\x01auth=Bearer x\x01\x01", "n,,\\x01auth=Bearer x\\x01\\x01"),
        (b"a\\b", "a\\\\b"),
        (b"\x7f\x80\xff\x1b[2J", "\\x7f\\x80\\xff\\x1b[2J"),
        (b"", ""),
    ],
)
def test_escaped_bytes(data: bytes, text: str) -> None:
    assert escape_bytes(data) == text


@given(st.binary(max_size=100), st.integers(0, 120))
def test_a_limit_cuts_and_states_the_whole_length(data: bytes, limit: int) -> None:
    text = escape_bytes(data, limit)
    if len(data) <= limit:
        assert text == escape_bytes(data)
    else:
        assert text == f"{escape_bytes(data[:limit])}... ({len(data)} bytes)"


@pytest.mark.parametrize("value", ["x" * 200, b"\x00" * 100, list(range(100))])
def test_a_long_value_is_cut_to_the_limit(value: object) -> None:
    shown = show_value(value)
    assert len(shown) == MAX_SHOWN_VALUE
    assert shown == repr(value)[: MAX_SHOWN_VALUE - 3] + "..."


@pytest.mark.parametrize("value", ["alice\r\nX-Forged: 1", b"\x1b[2J", None, 42, "x" * 58])
def test_a_short_value_is_its_repr(value: object) -> None:
    assert show_value(value) == repr(value)
    assert "\n" not in show_value(value)
