"""The strict JSON reader names the first member that repeats, at any depth, and
otherwise reads exactly what ``json.loads`` reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer._json import StrictJsonError, loads_strict

NAMES = st.sampled_from(["a", "b", "c", "alg", "kid", "\u00e9", ""])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))


def first_repeat(names: list[str]) -> str | None:
    """The reference: the first name whose second occurrence comes earliest."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def object_text(pairs: list[tuple[str, Any]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_an_object_reads_or_names_its_first_repeated_member(pairs: list[tuple[str, Any]]) -> None:
    text = object_text(pairs)
    repeated = first_repeat([name for name, _ in pairs])
    for document in (text, f' {{"outer": [{text}]}} '):  # the C scanner's path and the full one
        if repeated is None:
            assert loads_strict(document.encode()) == json.loads(document)
            continue
        with pytest.raises(StrictJsonError) as info:
            loads_strict(document.encode())
        assert info.value.kind == "duplicate"
        assert info.value.duplicate == repeated
        assert info.value.offset is None


@pytest.mark.parametrize(
    ("names", "repeated"),
    [
        (["a", "b", "a"], "a"),  # the distinct names run out before the repeat
        (["a", "b", "b", "a"], "b"),  # the earliest second occurrence, not the first name
        (["a", "a", "a"], "a"),
        (["x", "y", "z", "y", "x"], "y"),
    ],
)
def test_the_first_repeat_is_named(names: list[str], repeated: str) -> None:
    with pytest.raises(StrictJsonError, match=f"member '{repeated}' appears twice"):
        loads_strict(object_text([(name, 1) for name in names]).encode())


def test_a_long_repeated_name_is_shortened_in_the_message() -> None:
    name = "n" * 100
    with pytest.raises(StrictJsonError) as info:
        loads_strict(object_text([(name, 1), (name, 2)]).encode())
    assert info.value.duplicate == name
    assert str(info.value) == "member '" + "n" * 56 + "... appears twice"


@pytest.mark.parametrize(
    ("data", "kind", "message", "offset"),
    [
        (b'{"a":"\xff"}', "utf-8", "not UTF-8 (byte 6) at offset 6", 6),
        (b'\xef\xbb\xbf{"a":1}', "json", "starts with a byte order mark", 0),
        (b'{"a":NaN}', "json", "NaN is not a JSON number", None),
        (b"-Infinity", "json", "-Infinity is not a JSON number", None),
        (b"[" * 100_000 + b"]" * 100_000, "json", "nested too deeply", None),
        (b"9" * 5000, "json", "Exceeds the limit", None),
        (b'{"\xc3\xa9": tru}', "json", "Expecting value at offset 7", 7),  # bytes, not chars
        (b'{"a":1} x', "json", "Extra data at offset 8", 8),
        (b"", "json", "Expecting value at offset 0", 0),
    ],
)
def test_every_refusal_says_why_and_where(
    data: bytes, kind: str, message: str, offset: int | None
) -> None:
    with pytest.raises(StrictJsonError) as info:
        loads_strict(data)
    assert info.value.kind == kind
    assert message in str(info.value)
    assert info.value.offset == offset


@pytest.mark.parametrize("data", [b' {"a": [1, 2.5, "x"]} ', b"\n1\n", b'"s"'])
def test_surrounding_whitespace_takes_the_full_path_and_reads_the_same(data: bytes) -> None:
    assert loads_strict(data) == json.loads(data)
