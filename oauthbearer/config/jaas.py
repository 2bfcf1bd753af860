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

from oauthbearer.config.names import JAAS_CONFIG, is_secret_key
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.kafka_claims import java_trim

__all__ = [
    "JAAS_GRAMMAR",
    "JaasConfig",
    "JaasConfigError",
    "jaas_file_entry",
    "parse_jaas_config",
    "parse_jaas_file",
]

#: The syntax of Kafka's ``java.io.StreamTokenizer`` (``JaasConfig``'s
#: constructor): the tokenizer's *default* table, ``parseNumbers`` included, plus
#: ``-``, ``_`` and ``$`` as word characters and ``//`` and ``/* */`` comments.
#: A token that starts with a digit, ``.`` or ``-`` followed by a digit or ``.``
#: is a number, and a number is not a value: ``clientId=0oa1b2c3`` holds the
#: number ``0`` where the value belongs, and Kafka refuses it.
JAAS_GRAMMAR: Final = types.MappingProxyType(
    {
        "whitespace": "U+0000 to U+0020",
        "word": "starts with A-Z a-z _ $ (or - not before a digit or .), U+00A0 to U+00FF "
        "or above U+00FF; goes on through those, the digits, . and -",
        "number": "starts with 0-9 or . (or - then 0-9 or .): digits with at most one ., "
        "as one token, which is not a value",
        "ordinary": "every other character, one per token: ; = + : @ ~ # , and U+0080 to "
        "U+009F among them",
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
_DIGITS: Final = "0123456789"
#: The characters StreamTokenizer's ``parseNumbers`` marks as numeric.
_NUMERIC: Final = _DIGITS + ".-"
#: Word characters below U+0100 in Kafka's table (at and above it, every character is one).
_WORD_START: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_$" + "".join(map(chr, range(160, 256)))
)
#: Login modules Kafka refuses in ``sasl.jaas.config`` unless told otherwise
#: (``JaasContext``; the ``org.apache.kafka.disallowed.login.modules`` default).
_DISALLOWED_LOGIN_MODULES: Final = frozenset(
    {"com.sun.security.auth.module.JndiLoginModule", "com.sun.security.auth.module.LdapLoginModule"}
)


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
    kind: str  # "word", "number", "quoted", "ordinary" or "eof"
    text: str  # the word or quoted text, the number as written, the quote or ordinary character
    offset: int
    quote: str = ""  # the quote character of a quoted string

    @property
    def sval(self) -> str | None:
        """StreamTokenizer's ``sval``: set for words and quoted strings only."""
        return self.text if self.kind in ("word", "quoted") else None

    def is_char(self, char: str) -> bool:
        """Whether this is the ordinary character ``char`` (StreamTokenizer's ``ttype``)."""
        return self.kind == "ordinary" and self.text == char


class _Tokenizer:
    """``java.io.StreamTokenizer`` with its default syntax table, ``-``, ``_``, ``$``
    (and ``extra_word``) as word characters and ``//`` and ``/* */`` comments."""

    def __init__(self, text: str, *, extra_word: str = "") -> None:
        self._text = text
        self._pos = 0
        self._word = _WORD_START | frozenset(extra_word)

    def _peek(self, ahead: int = 0) -> str:
        pos = self._pos + ahead
        return self._text[pos] if pos < len(self._text) else _EOF

    def _is_word(self, ch: str) -> bool:
        return ch != _EOF and (ch in self._word or ord(ch) > 255)

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
            if ch in _NUMERIC:
                # parseNumbers comes first, even for "-", which is also a word character.
                after = self._peek(1)
                if ch == "-" and not (after != _EOF and after in _DIGITS + "."):
                    self._pos += 1
                    return _Token("ordinary", "-", start)
                self._pos += 1 if ch == "-" else 0
                seen_dot = False
                while (now := self._peek()) != _EOF and (
                    now in _DIGITS or (now == "." and not seen_dot)
                ):
                    seen_dot = seen_dot or now == "."
                    self._pos += 1
                return _Token("number", text[start : self._pos], start)
            if self._is_word(ch):
                while self._is_word(now := self._peek()) or (now != _EOF and now in _NUMERIC):
                    self._pos += 1
                return _Token("word", text[start : self._pos], start)
            if ch in _QUOTES:
                return self._quoted(ch, start)
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
        return _Token("quoted", "".join(out), start, quote)


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
    """Parse a ``sasl.jaas.config`` value exactly as a Kafka client does.

    Kafka's ``JaasConfig`` reads ``loginModuleClass controlFlag
    (optionName=optionValue)*;`` entries, and ``JaasContext`` requires exactly
    one and refuses JNDI and LDAP login modules. A value that is not a plain
    word (see :data:`JAAS_GRAMMAR`: one holding ``+``, ``:``, ``/``, ``@``,
    spaces, or one that starts with a digit or ``.``) must be quoted.
    ``option`` names the property in error messages (a broker's
    listener-prefixed key, say).
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
    module = java_trim(entries[0].login_module)
    if module in _DISALLOWED_LOGIN_MODULES:
        raise JaasConfigError(
            f"{module} is not allowed. The system property "
            "'org.apache.kafka.disallowed.login.modules' is deprecated. Use the "
            "org.apache.kafka.allowed.login.modules to allow this module. e.g.,"
            f"-Dorg.apache.kafka.allowed.login.modules={module}",
            "Kafka refuses this login module in sasl.jaas.config",
            offset=None,
            option=option,
        )
    return entries[0]


def _shown(word: str | None, *, hidden: bool = False) -> str:
    """A key or control flag as Kafka's message shows it (``null`` when absent),
    unless it may be part of a secret (it follows a secret option's value) or
    does not print."""
    if word is None:
        return "null"
    if hidden:
        return "(hidden: it follows the value of a secret option)"
    if not word.isprintable():
        return "(a word that does not print)"
    return word


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
            f"a {flag_token.kind} stands where the control flag belongs",
            offset=flag_token.offset,
            option=option,
        )
    if flag.upper() not in {f.upper() for f in _CONTROL_FLAGS}:
        raise JaasConfigError(
            f"Invalid login module control flag '{_shown(flag)}' in JAAS config",
            "the control flag is not one of " + ", ".join(_CONTROL_FLAGS),
            offset=flag_token.offset,
            option=option,
        )
    options: dict[str, str] = {}
    after_secret = False
    token = tokens.next()
    while not (token.kind == "eof" or token.is_char(";")):
        key = token.sval
        equals = tokens.next()
        value = tokens.next() if equals.is_char("=") else None
        if value is None or value.sval is None:
            at = equals if value is None else value
            if value is None:
                detail = "expected '=' and a value"
            elif value.kind == "number":
                detail = "a number stands where the value belongs: quote the value"
            else:
                detail = "expected a value after '=' (quote a value that is not a plain word)"
            raise JaasConfigError(
                f"Value not specified for key '{_shown(key, hidden=after_secret)}' in JAAS config",
                detail,
                offset=at.offset,
                option=option,
            )
        if key is None:
            # Kafka stores this value under a null key, which nothing can read.
            raise JaasConfigError(
                "Option name not specified in JAAS config",
                f"a {token.kind} stands where an option name belongs",
                offset=token.offset,
                option=option,
            )
        options.pop(key, None)  # a repeated key: the last value, in its place
        options[key] = value.sval
        after_secret = is_secret_key(key)
        token = tokens.next()
    if token.kind == "eof":
        raise JaasConfigError(
            "JAAS config entry not terminated by semi-colon",
            "the text ends before the ';' that closes the entry",
            offset=token.offset,
            option=option,
        )
    if not module:
        # Kafka's AppConfigurationEntry refuses it with a message-less IllegalArgumentException.
        raise JaasConfigError(
            "Login module not specified in JAAS config",
            "no login module name stands at the start of the entry",
            offset=first.offset,
            option=option,
        )
    return JaasConfig(login_module=module, control_flag=flag, options=options)


# --- The JAAS file (the JDK's login configuration file) ------------------------------------


def parse_jaas_file(text: str, *, source: str = "JAAS file") -> dict[str, tuple[JaasConfig, ...]]:
    """Parse a JAAS login configuration file as the JDK's ``ConfigFile`` does.

    ``Name { LoginModule flag key="value" ... ; ... };`` sections, as named by
    ``java.security.auth.login.config``: a client reads ``KafkaClient``, a
    broker ``<listener>.KafkaServer`` or ``KafkaServer``. The tokenizer is the
    one of :data:`JAAS_GRAMMAR` with ``*`` as a word character; a value must be
    a word or a double-quoted string (a single-quoted one or a number is
    refused), and ``${...}`` property expansion, which needs the JVM's system
    properties, is refused. A section may be empty; a name may not repeat, and
    must be a word or a quoted string (the JDK would file a number under a
    ``null`` name, which nothing can ask for).
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{source} must be a string")
    tokens = _Tokenizer(text, extra_word="*")
    sections: dict[str, tuple[JaasConfig, ...]] = {}
    look = tokens.next()

    def fail(at: _Token, expected: str) -> JaasConfigError:
        line = text.count("\n", 0, at.offset) + 1
        found = "end of file" if at.kind == "eof" else at.kind
        return JaasConfigError(
            f"Configuration Error: Line {line}: expected [{expected}]",
            f"found {found}",
            offset=at.offset,
            option=source,
        )

    def match(expected: str) -> str:
        nonlocal look
        token = look
        if len(expected) == 1:
            if not token.is_char(expected):
                raise fail(token, expected)
        elif token.kind != "word" and not (token.kind == "quoted" and token.quote == '"'):
            raise fail(token, expected)
        look = tokens.next()
        return token.text

    while look.kind != "eof":
        name_token = look
        if name_token.sval is None:
            raise fail(name_token, "section name")
        look = tokens.next()
        match("{")
        entries: list[JaasConfig] = []
        while not look.is_char("}"):
            module_token = look
            module = match("module class name")
            flag_token = look
            flag = match("controlFlag")
            if flag.upper() not in {f.upper() for f in _CONTROL_FLAGS}:
                raise JaasConfigError(
                    f"Configuration Error: Invalid control flag, {_shown(flag.upper())}",
                    "the control flag is not one of " + ", ".join(_CONTROL_FLAGS),
                    offset=flag_token.offset,
                    option=source,
                )
            options: dict[str, str] = {}
            while not look.is_char(";"):
                key = match("option key")
                match("=")
                value_token = look
                value = match("option value")
                if "${" in value:
                    raise JaasConfigError(
                        "Configuration Error: property expansion is not supported",
                        f"the value of {_shown(key)} holds '${{', which the JVM would expand",
                        offset=value_token.offset,
                        option=source,
                    )
                options.pop(key, None)
                options[key] = value
            look = tokens.next()
            if not module:
                raise fail(module_token, "module class name")
            entries.append(JaasConfig(login_module=module, control_flag=flag, options=options))
        match("}")
        match(";")
        name = name_token.text
        if name in sections:
            raise JaasConfigError(
                f"Configuration Error: Can not specify multiple entries for {_shown(name)}",
                "each section name may appear once",
                offset=name_token.offset,
                option=source,
            )
        sections[name] = tuple(entries)
    return sections


def jaas_file_entry(
    sections: Mapping[str, tuple[JaasConfig, ...]], *names: str, source: str = "JAAS file"
) -> JaasConfig:
    """The one login module entry of the first of ``names`` that is a non-empty
    section, as Kafka's ``JaasContext`` looks them up (a broker asks for
    ``<listener>.KafkaServer``, then ``KafkaServer``; no ``other`` fallback) and
    its OAUTHBEARER handlers require: exactly one entry."""
    for name in names:
        entries = sections.get(name)
        if not entries:  # the JDK treats an empty section as absent
            continue
        if len(entries) != 1:
            raise JaasConfigError(
                f"Must supply exactly 1 non-null JAAS mechanism configuration "
                f"(size was {len(entries)})",
                f"section {_shown(name)} holds {len(entries)} login module entries",
                offset=None,
                option=source,
            )
        return entries[0]
    raise JaasConfigError(
        f"Could not find a '{names[0] if names else ''}' entry in the JAAS configuration",
        "no non-empty section of that name",
        offset=None,
        option=source,
    )
