"""Strict JSON (RFC 8259): the one reader for every JSON document a peer sends.

Theory of operation
-------------------
Error challenges (:class:`~oauthbearer.gs2.ErrorResponse`), JWT headers and
claims, JWK sets, token endpoint answers and discovery documents are all read
by :func:`loads_strict`. It refuses what ``json.loads`` lets through:

* bytes that are not UTF-8 (``json.loads`` would guess UTF-16 or UTF-32), and
  a byte order mark (RFC 8259 section 8.1);
* a member name that appears twice in one object, at any depth: RFC 7515
  section 5.2 and RFC 7519 section 4 let a parser refuse them, RFC 7628 keeps
  quiet, and two readers of one document must not see different values;
* ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON;
* nesting deeper than :data:`MAX_JSON_DEPTH`, and integers longer than
  Python's digit limit. The depth is ours, not the interpreter's: Python 3.13's
  C scanner nests deeper than 3.11's recursion limit allows, and a document
  must get the same verdict on every Python.

Every refusal is a :class:`StrictJsonError` (a ``ValueError``) whose message
says why and where, never what: no part of the document is quoted but a
member name, shortened. ``kind`` and ``offset`` let a codec map it to its own
reason codes.

Kafka's unsecured tokens are the one exception: Kafka reads them with Jackson,
which keeps the last of duplicate members, and
:mod:`oauthbearer.unsecured` does as Kafka does.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_JSON_DEPTH", "StrictJsonError", "loads_strict"]

#: The deepest nesting of arrays and objects read: no JOSE header, claim set,
#: key set or OAuth answer nests past a handful; below every Python's
#: recursion limit, so the verdict does not depend on the interpreter.
MAX_JSON_DEPTH: Final = 500


class StrictJsonError(ValueError):
    """Why a document is not strict JSON.

    ``kind`` is ``"utf-8"`` (the bytes are not UTF-8), ``"duplicate"`` (a member
    name appears twice; ``duplicate`` is that name) or ``"json"`` (anything
    else). ``offset`` is the byte where the problem was found, when the parser
    knows it. ``reason`` is the message without the offset.
    """

    def __init__(
        self,
        kind: Literal["utf-8", "duplicate", "json"],
        reason: str,
        *,
        offset: int | None = None,
        duplicate: str | None = None,
    ) -> None:
        super().__init__(reason if offset is None else f"{reason} at offset {offset}")
        self.kind = kind
        self.reason = reason
        self.offset = offset
        self.duplicate = duplicate


class _Duplicate(ValueError):
    """Raised inside the parser; becomes a :class:`StrictJsonError`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # The first name that repeats: up to it, the names equal the distinct names
        # in order; there, the distinct list has moved on to a new name or ended.
        names = [name for name, _ in pairs]
        distinct: list[str | None] = [*result, None]
        raise _Duplicate(
            next(name for name, new in zip(names, distinct, strict=False) if name != new)
        )
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constant)
#: The decoder's C scanner: typeshed does not declare it, the json module documents it.
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _shown_name(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_JSON_DEPTH`.

    Two C-speed counts bound the depth from above; only a document with more
    brackets than the limit is scanned, skipping strings."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads_strict(data: bytes) -> Any:
    """Parse UTF-8 JSON strictly (see the module documentation), or raise
    :class:`StrictJsonError` saying why."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StrictJsonError(
            "utf-8", f"not UTF-8 (byte {error.start})", offset=error.start
        ) from None
    if _too_deep(text):
        raise StrictJsonError("json", f"nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    try:
        # The C scanner alone, for a value that fills the text (every real JWT
        # part); anything else (surrounding whitespace, a byte order mark, an
        # error) takes the decoder's full path, which also words the error.
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
    if text.startswith("\ufeff"):
        raise StrictJsonError(
            "json", "starts with a byte order mark (RFC 8259 section 8.1)", offset=0
        )
    try:
        return _DECODER.decode(text)
    except _Duplicate as duplicate:
        raise StrictJsonError(
            "duplicate",
            f"member {_shown_name(duplicate.name)} appears twice",
            duplicate=duplicate.name,
        ) from None
    except RecursionError:
        raise StrictJsonError("json", "nested too deeply") from None
    except json.JSONDecodeError as error:
        # The parser's own words and the byte offset; never the content.
        offset = len(text[: error.pos].encode("utf-8"))
        raise StrictJsonError("json", error.msg, offset=offset) from None
    except ValueError as error:  # a constant, an integer over the digit limit
        raise StrictJsonError("json", str(error)) from None
