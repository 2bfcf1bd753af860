"""Java ``.properties`` text, read as ``java.util.Properties.load`` reads it
(and so as ``kafka-server-start`` and Kafka's ``Utils.loadProps`` do)."""

from __future__ import annotations

import re
import types
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ArgumentTypeError, ConfigurationError

if TYPE_CHECKING:
    import os

__all__ = ["PropertiesError", "load_properties", "parse_properties"]


class PropertiesError(ConfigurationError):
    """A ``.properties`` text Java's ``Properties.load`` would refuse."""


_PROPERTY_SPACE: Final = " \t\f"
_PROPERTY_ESCAPES: Final = types.MappingProxyType({"t": "\t", "n": "\n", "r": "\r", "f": "\f"})
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Natural lines joined at an odd number of trailing backslashes; comment
    and blank lines dropped. Each comes with its 1-based first line number."""
    lines = _LINE_BREAK.split(text)
    result: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].lstrip(_PROPERTY_SPACE)
        index += 1
        if not line or line[0] in "#!":
            continue
        parts: list[str] = []
        while True:
            trailing = len(line) - len(line.rstrip("\\"))
            if trailing % 2 == 0:
                parts.append(line)
                break
            parts.append(line[:-1])
            if index >= len(lines):
                break
            line = lines[index].lstrip(_PROPERTY_SPACE)
            index += 1
        result.append((number, "".join(parts)))
    return result


def _unescape(raw: str, line: int) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(raw):
        ch = raw[pos]
        pos += 1
        if ch != "\\" or pos >= len(raw):
            out.append(ch)
            continue
        escaped = raw[pos]
        pos += 1
        if escaped == "u":
            digits = raw[pos : pos + 4]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise PropertiesError(f"line {line}: malformed \\uxxxx encoding")
            out.append(chr(int(digits, 16)))
            pos += 4
        else:
            out.append(_PROPERTY_ESCAPES.get(escaped, escaped))
    text = "".join(out)
    try:
        # Java strings are UTF-16: "\\uD83D\\uDE00" is one character, and a
        # surrogate without its partner is no character at all.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeError:
        raise PropertiesError(
            f"line {line}: a \\uXXXX escape (or the text) holds a surrogate without its partner"
        ) from None


def parse_properties(text: str) -> dict[str, str]:
    """Read Java ``.properties`` text as ``java.util.Properties.load`` does.

    ``key=value``, ``key: value`` and ``key value``; ``#`` and ``!`` comment
    lines; a line ending in an odd number of backslashes continues on the next
    (whose leading blanks are dropped); ``\\t \\n \\r \\f \\uXXXX`` escapes, and
    ``\\c`` for any other ``c``. A repeated key keeps its last value.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError("parse_properties: text must be a str")
    result: dict[str, str] = {}
    for number, line in _logical_lines(text):
        pos = 0
        escaped = False
        while pos < len(line):
            ch = line[pos]
            if not escaped and (ch in "=:" or ch in _PROPERTY_SPACE):
                break
            escaped = ch == "\\" and not escaped
            pos += 1
        key_end = pos
        while pos < len(line) and line[pos] in _PROPERTY_SPACE:
            pos += 1
        if pos < len(line) and line[pos] in "=:":
            pos += 1
            while pos < len(line) and line[pos] in _PROPERTY_SPACE:
                pos += 1
        result[_unescape(line[:key_end], number)] = _unescape(line[pos:], number)
    return result


def load_properties(
    path: str | os.PathLike[str], *, encoding: str = "iso-8859-1"
) -> dict[str, str]:
    """Read a ``.properties`` file. The default encoding is ISO 8859-1, which is
    what ``Properties.load(InputStream)``, and so Kafka's ``Utils.loadProps``,
    uses; non-Latin-1 text belongs in ``\\uXXXX`` escapes (or pass ``encoding``)."""
    with open(path, encoding=encoding, newline="") as file:
        return parse_properties(file.read())
