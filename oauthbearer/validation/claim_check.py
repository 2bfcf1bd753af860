r"""Claim checks: a small, safe filter language over a token's claims (Strimzi's subset).

Theory of operation
-------------------
Strimzi's ``oauth.custom.claim.check`` is a JSONPath filter expression (Jayway
JsonPath's ``[?(...)]`` syntax) that a token's claims must satisfy for the
token to be accepted. :class:`ClaimCheck` parses the part of that language a
claim check needs, strictly, into a tree of frozen nodes, and evaluates it
against a claims mapping without ``eval`` and without recursion into anything
the token chose (the depth is the expression's, which is bounded).
:class:`ClaimPath` is the path part alone (``$.realm_access.roles``), as
Strimzi's ``oauth.groups.claim`` names where the groups are.

Grammar (whitespace between tokens is ignored)::

    check      = or
    or         = and *( "||" and )
    and        = unary *( "&&" unary )
    unary      = "!" unary / primary
    primary    = "(" or ")" / operand [ operator operand ]
    operator   = "==" / "!=" / "<" / "<=" / ">" / ">=" / "=~"
               / "in" / "nin" / "anyof" / "noneof" / "subsetof"
    operand    = path / string / number / "true" / "false" / "null" / list / regex
    path       = "@" *( "." name / ["."] "[" ( string / integer ) "]" )
    name       = 1*( ALPHA / DIGIT / "_" / "-" / "$" )
    list       = "[" [ literal *( "," literal ) ] "]"      ; literals only
    string     = "'" *char "'" / DQUOTE *char DQUOTE      ; "\x" stands for x
    regex      = "/" *( "\/" / char ) "/" *( "i" / "m" / "s" / "x" )  ; right of =~ only

A bare path (``@.sub``) holds when the claim exists, whatever its value;
``!`` negates. Comparisons follow Jayway's rules, which Strimzi's own tests
pin (``CustomCheckTest``): a missing claim compares as ``null`` with ``==``,
``!=``, ``in`` and ``nin``; ``<``, ``<=``, ``>``, ``>=`` hold only between two
numbers or two strings (code point order); equality is by JSON type (``true``
is not ``1``, ``1`` is ``1.0``); ``in``/``nin`` want a list on the right (a
list literal or a claim holding an array); ``anyof``, ``noneof`` and
``subsetof`` want an array claim on the left, and are false when it is not
one; ``=~`` matches the whole string (or integer, as its decimal digits) with
Python's ``re`` (the syntax Java and Python share). ``$`` paths, functions,
``size``, ``empty`` and ``contains`` are not part of the subset: they are
refused when parsed, by name.

Every parse failure is a :class:`ClaimCheckError` (a
:class:`~oauthbearer.errors.ConfigurationError`) with a stable ``reason`` and
the character ``offset``. This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from oauthbearer._text import show_value
from oauthbearer.errors import ArgumentTypeError, ConfigurationError

__all__ = [
    "MAX_CHECK_LENGTH",
    "MAX_CHECK_NESTING",
    "MAX_LIST_ITEMS",
    "ClaimCheck",
    "ClaimCheckError",
    "ClaimCheckReason",
    "ClaimPath",
]

#: Longest expression, in characters: real checks are a line or two.
MAX_CHECK_LENGTH: Final = 4096
#: Deepest nesting of parentheses and ``!``: bounds the parser's recursion
#: (and the evaluator's) far below Python's limit.
MAX_CHECK_NESTING: Final = 32
#: Most items in one list literal.
MAX_LIST_ITEMS: Final = 256


class ClaimCheckReason(enum.StrEnum):
    """Why a claim check (or a claim path) does not parse."""

    TYPE = "not-a-string"
    TOO_LONG = "too-long"
    TOO_DEEP = "too-deep"
    CHARACTER = "unexpected-character"
    STRING = "unterminated-string"
    REGEX = "bad-regex"
    NUMBER = "bad-number"
    TOKEN = "unexpected-token"
    END = "unexpected-end"
    UNSUPPORTED = "unsupported"
    PATH = "bad-path"
    LIST = "bad-list"


class ClaimCheckError(ConfigurationError):
    """A claim check or claim path that does not parse: ``reason`` (a
    :class:`ClaimCheckReason`) and ``offset`` (0-based, in characters)."""

    def __init__(self, reason: ClaimCheckReason, offset: int, message: str) -> None:
        super().__init__(f"{message} (at character {offset}) [{reason.value}]")
        self.reason = reason
        self.offset = offset


# --- tokens -------------------------------------------------------------------------------------


class _Kind(enum.Enum):
    PUNCT = "punctuation"
    OPERATOR = "operator"
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    REGEX = "regex"
    AT = "@"
    END = "end"


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str
    offset: int
    value: Any = None


_OPERATORS: Final = ("==", "!=", "<=", ">=", "=~", "<", ">", "&&", "||", "!")
_WORD_OPERATORS: Final = frozenset({"in", "nin", "anyof", "noneof", "subsetof"})
#: Jayway's other filter operators and functions: recognised, to refuse by name.
_UNSUPPORTED_WORDS: Final = frozenset({"size", "empty", "contains", "matches", "length"})
_NAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-$")
_DIGITS: Final = frozenset("0123456789")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_REGEX_FLAGS: Final = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def _fail(reason: ClaimCheckReason, offset: int, message: str) -> ClaimCheckError:
    return ClaimCheckError(reason, offset, message)


def _read_quoted(text: str, start: int, quote: str, reason: ClaimCheckReason) -> tuple[str, int]:
    """The content of a quoted run starting after ``start`` (the opening
    quote), with ``\\x`` read as ``x``; and the offset after the closing quote."""
    out = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            # In a regex only "\/" is ours; any other escape is the regex's own.
            escaped = text[i + 1]
            out.append(escaped if quote != "/" or escaped == "/" else text[i : i + 2])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise _fail(reason, start, f"the {'string' if quote != '/' else 'regex'} is not closed")


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in " \t\r\n":
            i += 1
        elif char in "()[],.":
            found.append(_Token(_Kind.PUNCT, char, i))
            i += 1
        elif char == "@":
            found.append(_Token(_Kind.AT, char, i))
            i += 1
        elif char in "'\"":
            value, end = _read_quoted(text, i, char, ClaimCheckReason.STRING)
            found.append(_Token(_Kind.STRING, text[i:end], i, value))
            i = end
        elif char == "/" and found and found[-1].text == "=~":
            raw, end = _read_quoted(text, i, "/", ClaimCheckReason.REGEX)
            flags_end = end
            while flags_end < len(text) and text[flags_end] in _NAME_CHARS:
                flags_end += 1
            found.append(
                _Token(_Kind.REGEX, text[i:flags_end], i, _regex(raw, text[end:flags_end], i))
            )
            i = flags_end
        elif char == "-" or char in _DIGITS:
            match = _NUMBER.match(text, i)
            end = match.end() if match else i
            if match is None or (end < len(text) and text[end] in _NAME_CHARS | {"."}):
                raise _fail(ClaimCheckReason.NUMBER, i, "this is not a JSON number")
            literal = match.group()
            number: float | int
            number = float(literal) if any(c in literal for c in ".eE") else int(literal)
            if isinstance(number, float) and not math.isfinite(number):
                raise _fail(ClaimCheckReason.NUMBER, i, "the number is out of range")
            found.append(_Token(_Kind.NUMBER, literal, i, number))
            i = end
        elif char in _NAME_CHARS:  # ASCII only: every character read moves on
            end = i
            while end < len(text) and text[end] in _NAME_CHARS:
                end += 1
            found.append(_Token(_Kind.WORD, text[i:end], i))
            i = end
        else:
            for operator in _OPERATORS:
                if text.startswith(operator, i):
                    found.append(_Token(_Kind.OPERATOR, operator, i))
                    i += len(operator)
                    break
            else:
                raise _fail(
                    ClaimCheckReason.CHARACTER, i, f"unexpected character {show_value(char)}"
                )
    found.append(_Token(_Kind.END, "", len(text)))
    return found


def _regex(source: str, flags: str, offset: int) -> re.Pattern[str]:
    value = 0
    for flag in flags:
        if flag not in _REGEX_FLAGS:
            raise _fail(ClaimCheckReason.REGEX, offset, f"regex flag {flag!r} is not supported")
        value |= _REGEX_FLAGS[flag]
    try:
        return re.compile(source, value)
    except re.error as error:
        raise _fail(
            ClaimCheckReason.REGEX, offset, f"the regex does not compile: {error}"
        ) from None


# --- the tree -----------------------------------------------------------------------------------

_MISSING: Final = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Path:
    segments: tuple[str | int, ...]

    def resolve(self, document: object) -> object:
        value = document
        for segment in self.segments:
            if isinstance(segment, int):
                if type(value) is not list or not -len(value) <= segment < len(value):
                    return _MISSING
                value = value[segment]
            else:
                if not isinstance(value, Mapping) or segment not in value:
                    return _MISSING
                value = value[segment]
        return value


@dataclasses.dataclass(frozen=True, slots=True)
class _Literal:
    value: object


@dataclasses.dataclass(frozen=True, slots=True)
class _Exists:
    path: _Path


@dataclasses.dataclass(frozen=True, slots=True)
class _Not:
    inner: _Node


@dataclasses.dataclass(frozen=True, slots=True)
class _Both:
    left: _Node
    right: _Node


@dataclasses.dataclass(frozen=True, slots=True)
class _Either:
    left: _Node
    right: _Node


@dataclasses.dataclass(frozen=True, slots=True)
class _Compare:
    operator: str
    left: _Path | _Literal
    right: _Path | _Literal


_Node = _Exists | _Not | _Both | _Either | _Compare


def _json_equal(a: object, b: object) -> bool:
    """Equality by JSON type: booleans are not numbers, 1 equals 1.0."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return False


def _contains(items: object, value: object) -> bool:
    return type(items) is list and any(_json_equal(item, value) for item in items)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and type(value) is not bool


def _ordered(operator: str, a: object, b: object) -> bool:
    if not ((_is_number(a) and _is_number(b)) or (type(a) is str and type(b) is str)):
        return False
    x: Any = a
    y: Any = b
    if operator == "<":
        return bool(x < y)
    if operator == "<=":
        return bool(x <= y)
    if operator == ">":
        return bool(x > y)
    return bool(x >= y)


def _compare(node: _Compare, claims: Mapping[str, Any]) -> bool:
    left = node.left.resolve(claims) if isinstance(node.left, _Path) else node.left.value
    right = node.right.resolve(claims) if isinstance(node.right, _Path) else node.right.value
    operator = node.operator
    if operator == "=~":
        assert isinstance(right, re.Pattern)
        if type(left) is int:
            left = str(left)
        return type(left) is str and right.fullmatch(left) is not None
    if operator in ("anyof", "noneof", "subsetof"):
        if type(left) is not list or type(right) is not list:
            return False
        if operator == "anyof":
            return any(_contains(left, item) for item in right)
        if operator == "noneof":
            return not any(_contains(left, item) for item in right)
        return all(_contains(right, item) for item in left)
    # A missing claim is null for the remaining operators (Jayway's rule).
    left = None if left is _MISSING else left
    right = None if right is _MISSING else right
    if operator == "==":
        return _json_equal(left, right)
    if operator == "!=":
        return not _json_equal(left, right)
    if operator == "in":
        return _contains(right, left)
    if operator == "nin":
        return not _contains(right, left)
    return _ordered(operator, left, right)


def _evaluate(node: _Node, claims: Mapping[str, Any]) -> bool:
    if isinstance(node, _Exists):
        return node.path.resolve(claims) is not _MISSING
    if isinstance(node, _Not):
        return not _evaluate(node.inner, claims)
    if isinstance(node, _Both):
        return _evaluate(node.left, claims) and _evaluate(node.right, claims)
    if isinstance(node, _Either):
        return _evaluate(node.left, claims) or _evaluate(node.right, claims)
    return _compare(node, claims)


# --- the parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind is not _Kind.END:
            self.at += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.take()
        if token.text != text or token.kind in (_Kind.STRING, _Kind.END):
            raise self.unexpected(token, f"{text!r}")
        return token

    @staticmethod
    def unexpected(token: _Token, wanted: str) -> ClaimCheckError:
        if token.kind is _Kind.END:
            return _fail(
                ClaimCheckReason.END, token.offset, f"the expression ends; {wanted} expected"
            )
        if token.kind is _Kind.WORD and token.text in _UNSUPPORTED_WORDS:
            return _fail(
                ClaimCheckReason.UNSUPPORTED,
                token.offset,
                f"{token.text!r} is not supported (see the documented subset)",
            )
        return _fail(
            ClaimCheckReason.TOKEN,
            token.offset,
            f"unexpected {show_value(token.text)}; {wanted} expected",
        )

    def nest(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_CHECK_NESTING:
            raise _fail(
                ClaimCheckReason.TOO_DEEP,
                offset,
                f"nested more than MAX_CHECK_NESTING ({MAX_CHECK_NESTING}) deep",
            )

    def check(self) -> _Node:
        node = self.either()
        token = self.peek()
        if token.kind is not _Kind.END:
            raise self.unexpected(token, "'&&', '||' or the end")
        return node

    def either(self) -> _Node:
        node = self.both()
        while self.peek().text == "||" and self.peek().kind is _Kind.OPERATOR:
            self.take()
            node = _Either(node, self.both())
        return node

    def both(self) -> _Node:
        node = self.unary()
        while self.peek().text == "&&" and self.peek().kind is _Kind.OPERATOR:
            self.take()
            node = _Both(node, self.unary())
        return node

    def unary(self) -> _Node:
        token = self.peek()
        if token.kind is _Kind.OPERATOR and token.text == "!":
            self.take()
            self.nest(token.offset)
            inner = self.unary()
            self.depth -= 1
            return _Not(inner)
        if token.kind is _Kind.PUNCT and token.text == "(":
            self.take()
            self.nest(token.offset)
            inner = self.either()
            self.expect(")")
            self.depth -= 1
            return inner
        left = self.operand()
        following = self.peek()
        operator = following.text
        if (following.kind is _Kind.OPERATOR and operator not in ("&&", "||", "!")) or (
            following.kind is _Kind.WORD and operator in _WORD_OPERATORS
        ):
            self.take()
            if operator == "=~":
                regex = self.take()
                if regex.kind is not _Kind.REGEX:
                    raise self.unexpected(regex, "a /regex/")
                return _Compare(operator, left, _Literal(regex.value))
            return _Compare(operator, left, self.operand())
        if following.kind is _Kind.WORD and operator in _UNSUPPORTED_WORDS:
            raise self.unexpected(following, "an operator")
        if isinstance(left, _Path):
            return _Exists(left)
        raise _fail(
            ClaimCheckReason.TOKEN,
            token.offset,
            "a literal alone is not a condition; compare it with a claim",
        )

    def operand(self) -> _Path | _Literal:
        token = self.take()
        if token.kind is _Kind.AT:
            return _Path(self.segments())
        if token.kind in (_Kind.STRING, _Kind.NUMBER):
            return _Literal(token.value)
        if token.kind is _Kind.WORD and token.text in ("true", "false", "null"):
            return _Literal({"true": True, "false": False, "null": None}[token.text])
        if token.kind is _Kind.PUNCT and token.text == "[":
            return _Literal(self.items(token))
        if token.kind is _Kind.WORD and token.text == "$":
            raise _fail(
                ClaimCheckReason.UNSUPPORTED, token.offset, "'$' paths are not supported; use '@'"
            )
        raise self.unexpected(token, "a claim path (@...) or a value")

    def items(self, opening: _Token) -> list[object]:
        values: list[object] = []
        if self.peek().text == "]" and self.peek().kind is _Kind.PUNCT:
            self.take()
            return values
        while True:
            item = self.operand()
            if not isinstance(item, _Literal):
                raise _fail(ClaimCheckReason.LIST, opening.offset, "a list holds literals only")
            values.append(item.value)
            if len(values) > MAX_LIST_ITEMS:
                raise _fail(
                    ClaimCheckReason.LIST,
                    opening.offset,
                    f"a list holds at most MAX_LIST_ITEMS ({MAX_LIST_ITEMS}) items",
                )
            token = self.take()
            if token.kind is _Kind.PUNCT and token.text == "]":
                return values
            if not (token.kind is _Kind.PUNCT and token.text == ","):
                raise self.unexpected(token, "',' or ']'")

    def segments(self) -> tuple[str | int, ...]:
        found: list[str | int] = []
        while True:
            token = self.peek()
            if token.kind is not _Kind.PUNCT or token.text not in ".[":
                return tuple(found)
            self.take()
            if token.text == "." and not (
                self.peek().kind is _Kind.PUNCT and self.peek().text == "["
            ):
                name = self.take()
                if name.kind not in (_Kind.WORD, _Kind.NUMBER) or name.offset != token.offset + 1:
                    raise _fail(ClaimCheckReason.PATH, token.offset, "a name must follow '.'")
                if name.kind is _Kind.NUMBER and not name.text.isdigit():
                    raise _fail(ClaimCheckReason.PATH, name.offset, "a name must follow '.'")
                found.append(name.text)
                continue
            if token.text == ".":
                self.take()  # the '[' after '.'
            key = self.take()
            if key.kind is _Kind.STRING or (key.kind is _Kind.NUMBER and type(key.value) is int):
                found.append(key.value)
            else:
                raise _fail(
                    ClaimCheckReason.PATH, key.offset, "'[' takes a quoted name or an integer"
                )
            self.expect("]")


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{what} must be a str")
    if len(text) > MAX_CHECK_LENGTH:
        raise _fail(
            ClaimCheckReason.TOO_LONG,
            MAX_CHECK_LENGTH,
            f"{what} is longer than MAX_CHECK_LENGTH ({MAX_CHECK_LENGTH})",
        )
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimCheck:
    """A parsed claim check; build it with :meth:`parse`. See the module docs."""

    source: str
    _tree: _Node = dataclasses.field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> ClaimCheck:
        """Parse ``text``; raise :class:`ClaimCheckError` saying why and where not."""
        text = _check_text(text, "a claim check")
        return cls(text, _Parser(text).check())

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """Whether ``claims`` (a token's JSON claims) satisfy the check."""
        return _evaluate(self._tree, claims)


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimPath:
    """Where a claim sits: ``$.groups``, ``$.realm_access.roles``,
    ``$.resource_access['kafka'].roles`` (``$`` is the claims object; a bare
    name such as ``groups`` means ``$.groups``). Build it with :meth:`parse`."""

    source: str
    segments: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> ClaimPath:
        """Parse ``text``; raise :class:`ClaimCheckError` saying why and where not."""
        text = _check_text(text, "a claim path")
        if not text.startswith("$"):
            text = "$." + text if text and text[0] != "[" else "$" + text
        parser = _Parser("@" + text[1:])
        parser.take()
        try:
            segments = parser.segments()
            if parser.peek().kind is not _Kind.END:
                raise parser.unexpected(parser.peek(), "the end of the path")
        except ClaimCheckError as error:
            raise _fail(error.reason, error.offset, f"claim path {show_value(text)}") from None
        if not segments:
            raise _fail(ClaimCheckReason.PATH, 0, "a claim path names at least one claim")
        return cls(text, segments)

    def resolve(self, claims: Mapping[str, Any]) -> object:
        """The value at the path, or ``None`` when there is none."""
        value = _Path(self.segments).resolve(claims)
        return None if value is _MISSING else value

    def strings(
        self, claims: Mapping[str, Any], *, delimiter: str | None = None
    ) -> tuple[str, ...]:
        """The strings at the path: an array's strings, or a string (split on
        ``delimiter`` when one is given, as Strimzi's
        ``oauth.groups.claim.delimiter``); nothing for any other value."""
        value = self.resolve(claims)
        if type(value) is str:
            parts: Sequence[str] = value.split(delimiter) if delimiter else [value]
            return tuple(p for p in parts if p)
        if type(value) is list:
            return tuple(v for v in value if type(v) is str)
        return ()
