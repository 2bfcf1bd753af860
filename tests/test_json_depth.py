"""The strict JSON reader's depth limit: the same verdict on every Python.

Python 3.13's C scanner nests deeper than 3.11's recursion limit allows, so the
limit is ours (``MAX_JSON_DEPTH``), counted outside strings.
"""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer._json import MAX_JSON_DEPTH, StrictJsonError, loads_strict


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


def test_the_limit_is_inclusive() -> None:
    assert loads_strict(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(StrictJsonError, match="nested too deeply"):
        loads_strict(nested(MAX_JSON_DEPTH + 1))
    objects = b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(StrictJsonError, match="nested too deeply"):
        loads_strict(objects)


@pytest.mark.parametrize("depth", [5000, 20_000])
def test_deeper_than_any_recursion_limit(depth: int) -> None:
    with pytest.raises(StrictJsonError, match="nested too deeply") as info:
        loads_strict(nested(depth))
    assert info.value.kind == "json"


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 1000 + '\\"{' * 600, {"k": "{" * 1000}])
    assert loads_strict(text.encode())[1]["k"] == "{" * 1000


@given(st.recursive(st.integers() | st.text(), lambda inner: st.lists(inner, max_size=3)))
def test_documents_within_the_limit_read_as_json_does(value: object) -> None:
    data = json.dumps(value).encode()
    assert loads_strict(data) == json.loads(data)


@given(st.integers(min_value=MAX_JSON_DEPTH + 1, max_value=3 * MAX_JSON_DEPTH), st.text())
def test_any_deeper_document_is_refused(depth: int, padding: str) -> None:
    data = ("[" * depth + json.dumps(padding) + "]" * depth).encode()
    with pytest.raises(StrictJsonError, match="nested too deeply"):
        loads_strict(data)


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="from Python 3.12 the C scanner's recursion has its own bound, far past MAX_JSON_DEPTH",
)
def test_a_stack_too_shallow_for_a_document_within_the_limit_is_our_error() -> None:
    # On Python 3.11, within MAX_JSON_DEPTH, the C scanner can still run out of
    # Python's recursion limit when the caller is deep in its own stack: that is
    # our error too, never a RecursionError.
    import inspect

    depth = MAX_JSON_DEPTH - 10
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + depth // 2)
    try:
        with pytest.raises(StrictJsonError, match="nested too deeply") as info:
            loads_strict((" " + "[" * depth + "]" * depth).encode())
    finally:
        sys.setrecursionlimit(limit)
    assert info.value.kind == "json"
