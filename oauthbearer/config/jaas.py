"""The ``sasl.jaas.config`` string, read exactly as Kafka's ``JaasConfig`` reads it (pure).

Theory of operation
-------------------
Kafka hands the string to a ``java.io.StreamTokenizer`` with its own syntax table
(see :data:`JAAS_GRAMMAR`), then reads ``LoginModule controlFlag (key=value)* ;``
entries; ``JaasContext`` requires exactly one for ``sasl.jaas.config``.
:func:`parse_jaas_config` is a clone of that tokenizer and parser, with Kafka's
message for each refusal (:attr:`JaasConfigError.kafka_message`). No message
contains an option value; the ``repr`` of a :class:`JaasConfig` hides the
values of secret-looking keys (:func:`~oauthbearer.config.names.is_secret_key`).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Final

from oauthbearer.config.names import JAAS_CONFIG, SHOWABLE_KEY, is_secret_key, show_key
from oauthbearer.errors import ArgumentTypeError, ConfigurationError

__all__ = ["JAAS_GRAMMAR", "JaasConfig", "JaasConfigError", "parse_jaas_config"]

#: Kafka's syntax table for ``java.io.StreamTokenizer`` (``JaasConfig``'s
#: constructor), applied in this order, later calls overriding earlier ones:
#: ``resetSyntax()``; word characters 32-128 and 160-255; ``;`` and ``=``
#: ordinary; 0-32 whitespace; ``/`` a comment character; ``"`` and ``'``
#: quotes; ``//`` and ``/* */`` comments. Characters above 255 are word
#: characters (StreamTokenizer's rule); 129-159 are left ordinary.
JAAS_GRAMMAR: Final = types.MappingProxyType(
    {
        "whitespace": "U+0000 to U+0020",
        "word": "U+0021 to U+0080 and U+00A0 and above, except / ; = \" '",
        "ordinary": "; = and U+0081 to U+009F, one character per token",
        "quote": "\" or ', up to the same quote, a line end or the end of the text; "
        "escapes \\a \\b \\f \\n \\r \\t \\v, octal \\0 to \\377, else \\c is c",
        "comment": "// to the line end, /* to */, and a lone / to the line end",
    }
)

_CONTROL_FLAGS: Final = ("required", "requisite", "sufficient", "optional")
_QUOTES: Final = "\"'"
_SIMPLE_ESCAPES: Final = types.MappingProxyType(
    {"a": "\x07", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\x0b"}
)
_EOF: Final = ""


def _is_word_char(ch: str) -> bool:
    code = ord(ch)
    if ch in "/;=\"'":
        return False
    return 33 <= code <= 128 or code >= 160


class JaasConfigError(ConfigurationError):
    """A ``sasl.jaas.config`` string Kafka would refuse.

    ``kafka_message`` is Kafka's own text for the same mistake, ``offset`` the
    index of the character where it was found (or ``None`` when it concerns
    the whole string), ``option`` the property the string came from.
    """

    def __init__(
        self, kafka_message: str, detail: str, *, offset: int | None, option: str = JAAS_CONFIG
    ) -> None:
        where = "" if offset is None else f"at character {offset}: "
        super().__init__(f"{option}: {kafka_message} ({where}{detail})")
        self.kafka_message = kafka_message
        self.offset = offset
        self.option = option


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "quoted", "ordinary" or "eof"
    text: str  # the word or quoted text, or the ordinary character
    offset: int

    @property
    def sval(self) -> str | None:
        """StreamTokenizer's ``sval``: set for words and quoted strings only."""
        return self.text if self.kind in ("word", "quoted") else None


class _Tokenizer:
    """``java.io.StreamTokenizer`` with Kafka's syntax table, over a string."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _peek(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else _EOF

    def _skip_line(self) -> None:
        while self._pos < len(self._text) and self._text[self._pos] not in "\r\n":
            self._pos += 1

    def next(self) -> _Token:
        text = self._text
        while True:
            ch = self._peek()
            if ch == _EOF:
                return _Token("eof", "", self._pos)
            if ord(ch) <= 32:
                self._pos += 1
                continue
            start = self._pos
            if ch == "/":
                following = text[start + 1 : start + 2]
                if following == "*":
                    end = text.find("*/", start + 2)
                    if end < 0:  # an unclosed /* runs to the end
                        self._pos = len(text)
                        return _Token("eof", "", self._pos)
                    self._pos = end + 2
                    continue
                # "//", or "/" as a comment character: skip to the line end.
                # StreamTokenizer has already read the character after "/", so
                # it is skipped even when it is itself a line end.
                self._pos = min(start + 2, len(text))
                self._skip_line()
                continue
            if _is_word_char(ch):
                while self._pos < len(text) and _is_word_char(text[self._pos]):
                    self._pos += 1
                return _Token("word", text[start : self._pos], start)
            if ch in _QUOTES:
                return self._quoted(ch, start)
            self._pos += 1
            return _Token("ordinary", ch, start)

    def _quoted(self, quote: str, start: int) -> _Token:
        """A quoted string. As in StreamTokenizer, a line end or the end of the
        text also ends it, silently; the closing quote is consumed, a line end is not."""
        text = self._text
        self._pos = start + 1
        out: list[str] = []
        while self._pos < len(text):
            ch = text[self._pos]
            if ch == quote:
                self._pos += 1
                break
            if ch in "\r\n":
                break
            self._pos += 1
            if ch != "\\":
                out.append(ch)
                continue
            escaped = self._peek()
            if escaped == _EOF:
                out.append("\uffff")  # Java's (char) -1
                break
            self._pos += 1
            if "0" <= escaped <= "7":
                value = int(escaped)
                for _ in range(2 if escaped <= "3" else 1):
                    digit = self._peek()
                    if not ("0" <= digit <= "7" and digit != _EOF):
                        break
                    value = value * 8 + int(digit)
                    self._pos += 1
                out.append(chr(value))
            else:
                out.append(_SIMPLE_ESCAPES.get(escaped, escaped))
        return _Token("quoted", "".join(out), start)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JaasConfig:
    """One JAAS login module entry: ``login_module control_flag key=value ... ;``.

    ``control_flag`` is one of ``required``, ``requisite``, ``sufficient`` and
    ``optional`` (read case-insensitively, kept lower-case); ``options`` keeps
    the order of the string, and a repeated key keeps its last value, as
    Kafka's ``HashMap`` does. The ``repr`` hides the values of secret keys.
    """

    login_module: str
    control_flag: str
    options: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.login_module, str) or not self.login_module:
            raise ConfigurationError("JaasConfig.login_module must be a non-empty string")
        flag = self.control_flag
        if not isinstance(flag, str) or flag.upper() not in {f.upper() for f in _CONTROL_FLAGS}:
            raise ConfigurationError(
                "JaasConfig.control_flag must be one of " + ", ".join(_CONTROL_FLAGS)
            )
        object.__setattr__(self, "control_flag", flag.upper().lower())
        if not isinstance(self.options, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.options.items()
        ):
            raise ArgumentTypeError("JaasConfig.options must map strings to strings")
        object.__setattr__(self, "options", types.MappingProxyType(dict(self.options)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key!r}: {'<hidden>' if is_secret_key(key) else repr(value)}"
            for key, value in self.options.items()
        )
        return (
            f"JaasConfig(login_module={self.login_module!r}, "
            f"control_flag={self.control_flag!r}, options={{{shown}}})"
        )

    __str__ = __repr__


def parse_jaas_config(text: str, *, option: str = JAAS_CONFIG) -> JaasConfig:
    """Parse a ``sasl.jaas.config`` value exactly as Kafka does.

    Kafka's ``JaasConfig`` reads ``loginModuleClass controlFlag
    (optionName=optionValue)*;`` entries, and ``JaasContext`` requires exactly
    one. Values that hold anything other than word characters (a URL's ``//``,
    spaces, ``;`` or ``=``) must be quoted. ``option`` names the property in
    error messages (a broker's listener-prefixed key, say).
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{option} must be a string")
    tokens = _Tokenizer(text)
    entries: list[JaasConfig] = []
    token = tokens.next()
    while token.kind != "eof":
        entries.append(_parse_entry(token, tokens, option))
        token = tokens.next()
    if not entries:
        raise JaasConfigError(
            "Login module not specified in JAAS config",
            "the value holds no login module entry",
            offset=None,
            option=option,
        )
    if len(entries) != 1:
        raise JaasConfigError(
            f"JAAS config property contains {len(entries)} login modules, should be 1 module",
            f"{len(entries)} entries, each ending with ';'",
            offset=None,
            option=option,
        )
    return entries[0]


def _parse_entry(first: _Token, tokens: _Tokenizer, option: str) -> JaasConfig:
    """Kafka's ``parseAppConfigurationEntry``, with its checks in its order."""
    module = first.sval
    flag_token = tokens.next()
    if flag_token.kind == "eof":
        raise JaasConfigError(
            "Login module control flag not specified in JAAS config",
            "the text ends after the login module",
            offset=flag_token.offset,
            option=option,
        )
    flag = flag_token.sval
    if flag is None:
        raise JaasConfigError(
            "Login module control flag is not available in the JAAS config",
            "a punctuation character stands where the control flag belongs",
            offset=flag_token.offset,
            option=option,
        )
    if flag.upper() not in {f.upper() for f in _CONTROL_FLAGS}:
        shown = f"'{flag}'" if SHOWABLE_KEY.fullmatch(flag) else "the word"
        raise JaasConfigError(
            "Invalid login module control flag in JAAS config",
            f"{shown} is not one of " + ", ".join(_CONTROL_FLAGS),
            offset=flag_token.offset,
            option=option,
        )
    options: dict[str, str] = {}
    token = tokens.next()
    while not (token.kind == "eof" or (token.kind == "ordinary" and token.text == ";")):
        key = token.sval
        equals = tokens.next()
        value = tokens.next() if equals.kind == "ordinary" and equals.text == "=" else None
        if value is None or value.sval is None:
            at = equals if value is None else value
            raise JaasConfigError(
                f"Value not specified for key {show_key(key)} in JAAS config",
                "expected '=' and a value" if value is None else "expected a value after '='",
                offset=at.offset,
                option=option,
            )
        if key is None:
            # Kafka would store this value under a null key; nothing can read it.
            raise JaasConfigError(
                "Option name not specified in JAAS config",
                "a character that cannot start a name stands where an option name belongs",
                offset=token.offset,
                option=option,
            )
        options.pop(key, None)  # a repeated key: the last value, in its place
        options[key] = value.sval
        token = tokens.next()
    if token.kind == "eof":
        raise JaasConfigError(
            "JAAS config entry not terminated by semi-colon",
            "the text ends before the ';' that closes the entry",
            offset=token.offset,
            option=option,
        )
    if not module:
        raise JaasConfigError(
            "Login module not specified in JAAS config",
            "no login module name stands at the start of the entry",
            offset=first.offset,
            option=option,
        )
    return JaasConfig(login_module=module, control_flag=flag, options=options)
