"""Kafka configuration in, our objects out: JAAS strings, ``.properties`` files, listeners.

Theory of operation
-------------------
People who run Kafka already have a working configuration: a ``sasl.jaas.config``
string and some ``sasl.oauthbearer.*`` / ``sasl.login.*`` properties. This module
reads them exactly as Kafka does and builds what Kafka would build, so that a
configuration can be moved over without being rewritten:

* :func:`parse_jaas_config` is Kafka's ``JaasConfig`` parser: a
  ``java.io.StreamTokenizer`` with Kafka's syntax table (see :data:`JAAS_GRAMMAR`),
  then ``LoginModule controlFlag (key=value)* ;``, exactly one entry, as Kafka's
  ``JaasContext`` requires for ``sasl.jaas.config``.
* :func:`parse_properties` / :func:`load_properties` read the Java ``.properties``
  format (``java.util.Properties.load``), as ``kafka-server-start`` does.
* :func:`broker_validator` picks the validator a broker listener would use, by
  Kafka's rule: the ``sasl.server.callback.handler.class`` of the listener and
  mechanism decides; unset means Kafka's *unsecured* validator.
* :func:`client_login` does the same for a client: no
  ``sasl.login.callback.handler.class`` means the unsecured login; Kafka's
  ``OAuthBearerLoginCallbackHandler`` means a token endpoint, described here by a
  validated :class:`ClientCredentialsConfig` (or :class:`TokenFileConfig`, or,
  with Kafka's ``JwtBearerJwtRetriever``, a :class:`JwtBearerConfig`) and never
  contacted; no file it names is read.

A broker reads each setting for listener ``L`` from, in order (Kafka's
``AbstractConfig.valuesWithPrefixOverride`` and OAuth ``ConfigurationUtils.get``):
``listener.name.l.oauthbearer.<name>``, then ``listener.name.l.<name>``, then
``<name>``. Two settings are read only in the first form:
``sasl.jaas.config`` (Kafka ignores an unprefixed one on a broker, with a
warning) and ``sasl.server.callback.handler.class``.

Strictness, beyond Kafka: an unknown ``sasl.oauthbearer.*`` or ``sasl.login.*``
name is an error (a typo would otherwise be silently ignored), and so is a
setting that Kafka would ignore *because of another one* (a JWKS URL on a
listener that uses the unsecured validator, say), since that is always a
mistake and sometimes a dangerous one.

No message built here contains an option value: errors name the key (and, in a
JAAS string, the character offset), and the ``repr`` of a parsed JAAS entry
hides the values of secret-looking keys (:func:`is_secret_key`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import types
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.jwks_cache import JwksRefreshPolicy
from oauthbearer.jwks_fetch import JwksRefresher, redact_url
from oauthbearer.jwt import ASYMMETRIC_ALGORITHMS, JwtValidator
from oauthbearer.login.refresh import RefreshConfig
from oauthbearer.retry import RetryPolicy
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    UnsecuredLogin,
    _check_kafka_extension,
    kafka_unsecured_login,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Collection

    from oauthbearer.token import TokenValidator

__all__ = [
    "JAAS_GRAMMAR",
    "KNOWN_PROPERTIES",
    "OAUTHBEARER_LOGIN_MODULE",
    "BrokerValidatorConfig",
    "ClientCredentialsConfig",
    "JaasConfig",
    "JaasConfigError",
    "JwtBearerConfig",
    "PropertiesError",
    "TokenFileConfig",
    "broker_validator",
    "client_login",
    "is_secret_key",
    "load_properties",
    "parse_jaas_config",
    "parse_properties",
]

# --- Names --------------------------------------------------------------------------------

#: The login module every OAUTHBEARER JAAS entry names.
OAUTHBEARER_LOGIN_MODULE: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

_PKG: Final = "org.apache.kafka.common.security.oauthbearer."
#: Kafka's unsecured validator (the broker default) and its secured one; the
#: ``secured.`` names are the deprecated aliases from Kafka 3.1 to 3.x.
_UNSECURED_VALIDATORS: Final = frozenset(
    {_PKG + "internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"}
)
_SECURED_VALIDATORS: Final = frozenset(
    {
        _PKG + "OAuthBearerValidatorCallbackHandler",
        _PKG + "secured.OAuthBearerValidatorCallbackHandler",
    }
)
_UNSECURED_LOGINS: Final = frozenset(
    {_PKG + "internals.unsecured.OAuthBearerUnsecuredLoginCallbackHandler"}
)
_SECURED_LOGINS: Final = frozenset(
    {_PKG + "OAuthBearerLoginCallbackHandler", _PKG + "secured.OAuthBearerLoginCallbackHandler"}
)
_DEFAULT_JWT_RETRIEVER: Final = _PKG + "DefaultJwtRetriever"
_DEFAULT_JWT_VALIDATOR: Final = _PKG + "DefaultJwtValidator"
_JWT_RETRIEVERS: Final = frozenset(
    {_DEFAULT_JWT_RETRIEVER, _PKG + "ClientCredentialsJwtRetriever", _PKG + "FileJwtRetriever"}
)
_JWT_BEARER_RETRIEVER: Final = _PKG + "JwtBearerJwtRetriever"

JAAS_CONFIG: Final = "sasl.jaas.config"
SERVER_CALLBACK_HANDLER: Final = "sasl.server.callback.handler.class"
LOGIN_CALLBACK_HANDLER: Final = "sasl.login.callback.handler.class"

#: Every ``sasl.oauthbearer.*`` and ``sasl.login.*`` name Kafka defines
#: (``SaslConfigs.addClientSaslSupport``, Kafka 4.1 with KIP-1139). Any other
#: name under those prefixes is reported as a typo.
KNOWN_PROPERTIES: Final = frozenset(
    {
        "sasl.login.callback.handler.class",
        "sasl.login.class",
        "sasl.login.connect.timeout.ms",
        "sasl.login.read.timeout.ms",
        "sasl.login.refresh.buffer.seconds",
        "sasl.login.refresh.min.period.seconds",
        "sasl.login.refresh.window.factor",
        "sasl.login.refresh.window.jitter",
        "sasl.login.retry.backoff.max.ms",
        "sasl.login.retry.backoff.ms",
        "sasl.oauthbearer.assertion.algorithm",
        "sasl.oauthbearer.assertion.claim.aud",
        "sasl.oauthbearer.assertion.claim.exp.seconds",
        "sasl.oauthbearer.assertion.claim.iss",
        "sasl.oauthbearer.assertion.claim.jti.include",
        "sasl.oauthbearer.assertion.claim.nbf.seconds",
        "sasl.oauthbearer.assertion.claim.sub",
        "sasl.oauthbearer.assertion.file",
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.template.file",
        "sasl.oauthbearer.client.credentials.client.id",
        "sasl.oauthbearer.client.credentials.client.secret",
        "sasl.oauthbearer.clock.skew.seconds",
        "sasl.oauthbearer.expected.audience",
        "sasl.oauthbearer.expected.issuer",
        "sasl.oauthbearer.header.urlencode",
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "sasl.oauthbearer.jwks.endpoint.url",
        "sasl.oauthbearer.jwt.retriever.class",
        "sasl.oauthbearer.jwt.validator.class",
        "sasl.oauthbearer.scope",
        "sasl.oauthbearer.scope.claim.name",
        "sasl.oauthbearer.sub.claim.name",
        "sasl.oauthbearer.token.endpoint.url",
    }
)
_CHECKED_PREFIXES: Final = ("sasl.oauthbearer.", "sasl.login.")

#: Option names whose values are hidden in a repr (never shown in a message).
_SECRET_KEY: Final = re.compile(r"secret|password|passphrase", re.IGNORECASE)
#: A key shown in a message: plain enough that it cannot be a misplaced value.
_SHOWABLE_KEY: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def is_secret_key(key: str) -> bool:
    """Whether an option's value is a secret: its name holds ``secret``,
    ``password`` or ``passphrase`` (in any case)."""
    return _SECRET_KEY.search(key) is not None


#: A property name shown in a message (property names are never values).
_SHOWABLE_PROPERTY: Final = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


def _show_key(key: str | None, *, pattern: re.Pattern[str] = _SHOWABLE_KEY) -> str:
    if key is not None and pattern.fullmatch(key):
        return f"'{key}'"
    return "(a key that is not a plain name)"


# --- The JAAS string (Kafka's JaasConfig) -------------------------------------------------

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
        shown = f"'{flag}'" if _SHOWABLE_KEY.fullmatch(flag) else "the word"
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
                f"Value not specified for key {_show_key(key)} in JAAS config",
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


# --- .properties files (java.util.Properties.load) -----------------------------------------


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
    return "".join(out)


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


# --- Reading typed values (Kafka's ConfigDef) -----------------------------------------------

_JAVA_INT: Final = re.compile(r"[+-]?[0-9]+")
_JAVA_DOUBLE: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[dDfF]?")
_INT_RANGE: Final = range(-(2**31), 2**31)
_LONG_RANGE: Final = range(-(2**63), 2**63)
_SHORT_RANGE: Final = range(-(2**15), 2**15)
_JAVA_SPACE: Final = "".join(chr(c) for c in range(0x21))


def _trim(value: str) -> str:
    """Java's String.trim(), which ConfigDef applies to every string value."""
    return value.strip(_JAVA_SPACE)


def _bad(key: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{key}: the value is not {expected}")


def _parse_int(key: str, value: str, java_range: range, type_name: str) -> int:
    text = _trim(value)
    if not _JAVA_INT.fullmatch(text) or int(text) not in java_range:
        raise _bad(key, f"a whole number (Java {type_name})")
    return int(text)


def _parse_double(key: str, value: str) -> float:
    text = _trim(value)
    if not _JAVA_DOUBLE.fullmatch(text):
        raise _bad(key, "a decimal number")
    number = float(text.rstrip("dDfF"))
    if not math.isfinite(number):
        raise _bad(key, "a finite decimal number")
    return number


def _parse_bool(key: str, value: str) -> bool:
    text = _trim(value).lower()
    if text not in ("true", "false"):
        raise _bad(key, "true or false")
    return text == "true"


def _parse_list(key: str, value: str) -> tuple[str, ...]:
    """ConfigDef's LIST: split at commas with surrounding whitespace; Kafka's
    validator for the audience refuses duplicates; empty items are refused too."""
    text = _trim(value)
    if not text:
        return ()
    items = tuple(re.split(r"\s*,\s*", text))
    if any(not item for item in items):
        raise _bad(key, "a comma-separated list without empty items")
    if len(set(items)) != len(items):
        raise _bad(key, "a list without duplicates")
    return items


@dataclasses.dataclass(frozen=True, slots=True)
class _Setting:
    key: str  # the property that supplied it, as written
    value: str


class _View:
    """The settings as one broker listener (or a client) sees them."""

    def __init__(self, properties: Mapping[str, str], listener: str | None) -> None:
        self._properties = properties
        self._listener_prefix = None if listener is None else f"listener.name.{listener.lower()}."
        self._mechanism_prefix = (
            None if self._listener_prefix is None else self._listener_prefix + "oauthbearer."
        )

    def mechanism_key(self, name: str) -> str:
        return name if self._mechanism_prefix is None else self._mechanism_prefix + name

    def get(self, name: str, *, mechanism_only: bool = False) -> _Setting | None:
        """The setting ``name`` by Kafka's lookup order; ``mechanism_only`` for
        the two names a broker reads only with the listener and mechanism prefix."""
        keys = [self.mechanism_key(name)]
        if self._listener_prefix is not None and not mechanism_only:
            keys += [self._listener_prefix + name, name]
        for key in dict.fromkeys(keys):
            value = self._properties.get(key)
            if value is not None:
                return _Setting(key, value)
        return None

    def text(self, name: str) -> _Setting | None:
        """A STRING setting, trimmed; blank counts as unset (ConfigurationUtils)."""
        setting = self.get(name)
        if setting is None or not _trim(setting.value):
            return None
        return _Setting(setting.key, _trim(setting.value))


def _check_names(properties: Mapping[str, str]) -> None:
    """Refuse unknown ``sasl.oauthbearer.*`` / ``sasl.login.*`` names, with or
    without a listener (and mechanism) prefix."""
    for key in properties:
        if not isinstance(key, str) or not isinstance(properties[key], str):
            raise ArgumentTypeError("properties must map strings to strings")
        name = key
        if name.startswith("listener.name."):
            rest = name[len("listener.name.") :].partition(".")[2]
            name = rest if rest.startswith("sasl.") else rest.partition(".")[2]
        if name.startswith(_CHECKED_PREFIXES) and name not in KNOWN_PROPERTIES:
            close = _closest(name)
            hint = f"; did you mean {close}?" if close else ""
            raise ConfigurationError(
                f"{_show_key(key, pattern=_SHOWABLE_PROPERTY)} is not a Kafka configuration "
                f"name{hint}"
            )


def _closest(name: str) -> str | None:
    import difflib  # noqa: PLC0415 - only on the error path

    matches = difflib.get_close_matches(name, KNOWN_PROPERTIES, n=1, cutoff=0.8)
    return matches[0] if matches else None


def _jaas(view: _View, *, broker: bool) -> tuple[JaasConfig, str]:
    setting = view.get(JAAS_CONFIG, mechanism_only=broker)
    if setting is None:
        key = view.mechanism_key(JAAS_CONFIG)
        if broker and view.get(JAAS_CONFIG) is not None:
            raise ConfigurationError(
                f"{key} is not set: a broker reads sasl.jaas.config only with the listener "
                "and mechanism prefix, and ignores the one that is set"
            )
        raise ConfigurationError(f"{key} is not set")
    jaas = parse_jaas_config(setting.value, option=setting.key)
    if jaas.login_module != OAUTHBEARER_LOGIN_MODULE:
        raise ConfigurationError(
            f"{setting.key}: the login module is not {OAUTHBEARER_LOGIN_MODULE}"
        )
    return jaas, setting.key


def _check_mechanism(properties: Mapping[str, str]) -> None:
    mechanism = properties.get("sasl.mechanism")
    if mechanism is not None and _trim(mechanism) != "OAUTHBEARER":
        raise ConfigurationError("sasl.mechanism is set, and not to OAUTHBEARER")


def _refuse_if_set(view: _View, names: tuple[str, ...], reason: str) -> None:
    for name in names:
        setting = view.get(name)
        if setting is not None:
            raise ConfigurationError(f"{setting.key} is set, but {reason}")


def _check_url(key: str, url: str, *, allow_file: bool, allow_insecure_loopback: bool) -> str:
    """Kafka's validateUrl (http, https or file), made strict: https, or http to
    a loopback address when allowed, or (where the option accepts one) file."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ConfigurationError(f"{key}: the value is not a URL") from None
    scheme = parts.scheme.lower()
    if scheme == "file" and allow_file:
        return scheme
    if scheme == "https" and parts.hostname:
        return scheme
    if scheme == "http" and allow_insecure_loopback and _is_loopback(parts.hostname):
        return scheme
    allowed = "https or file" if allow_file else "https"
    raise ConfigurationError(
        f"{key}: the URL must use {allowed} (http only to a loopback address, when "
        f"allow_insecure_loopback is set): {redact_url(url)}"
    )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _file_path(key: str, url: str) -> str:
    """The local path of a ``file:`` URL (``file:/p``, ``file:///p``, ``file://localhost/p``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise ConfigurationError(f"{key}: a file URL must name a local path: {redact_url(url)}")
    return urllib.parse.unquote(parts.path)


# --- Broker: the validator ----------------------------------------------------------------

_SECURED_ONLY: Final = (
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerValidatorConfig:
    """What a Kafka broker listener validates tokens with.

    ``validator`` is an :class:`~oauthbearer.unsecured.UnsecuredJwsValidator`
    or a :class:`~oauthbearer.jwt.JwtValidator`; for the latter, ``refresher``
    keeps its keys fresh and has *not* been started: call ``refresher.start()``
    (a thread) or ``await refresher.run()`` before validating. ``jaas`` is the
    listener's JAAS entry.
    """

    listener: str
    validator: TokenValidator
    refresher: JwksRefresher | None
    jaas: JaasConfig

    @property
    def unsecured(self) -> bool:
        """Whether this listener accepts unsigned tokens (Kafka's default)."""
        return isinstance(self.validator, UnsecuredJwsValidator)


def _pick_listener(properties: Mapping[str, str]) -> str:
    suffix = ".oauthbearer." + JAAS_CONFIG
    found = sorted(
        key[len("listener.name.") : -len(suffix)]
        for key in properties
        if key.startswith("listener.name.") and key.endswith(suffix)
    )
    found = [name for name in found if name and "." not in name]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigurationError(
            "no listener.name.<listener>.oauthbearer.sasl.jaas.config is set: "
            "a broker needs one for each listener that enables OAUTHBEARER"
        )
    raise ConfigurationError(
        "several listeners configure OAUTHBEARER (" + ", ".join(found) + "): pass listener="
    )


def broker_validator(
    properties: Mapping[str, str],
    *,
    listener: str | None = None,
    allow_insecure_loopback: bool = False,
) -> BrokerValidatorConfig:
    """The token validator a broker builds for ``listener`` from its properties.

    Without ``listener``, the one listener with an OAUTHBEARER JAAS entry is
    used. Kafka's rule decides the validator:
    ``listener.name.<l>.oauthbearer.sasl.server.callback.handler.class`` unset
    (or Kafka's unsecured handler) means Kafka's unsecured validator, from the
    ``unsecuredValidator*`` JAAS options; Kafka's
    ``OAuthBearerValidatorCallbackHandler`` means signed JWTs checked against
    ``sasl.oauthbearer.jwks.endpoint.url`` (``https:``, or ``file:``), with the
    expected audience and issuer, claim names, clock skew (default 30 s) and
    the JWKS refresh and retry settings. Nothing is fetched or started here.
    """
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("broker_validator: properties must be a mapping")
    _check_names(properties)
    name = _pick_listener(properties) if listener is None else listener
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ConfigurationError("broker_validator: listener must be a listener name")
    view = _View(properties, name)
    jaas, _ = _jaas(view, broker=True)
    handler = view.get(SERVER_CALLBACK_HANDLER, mechanism_only=True)
    handler_class = None if handler is None else _trim(handler.value)
    if handler_class is None or handler_class in _UNSECURED_VALIDATORS:
        _refuse_if_set(
            view,
            _SECURED_ONLY,
            f"{view.mechanism_key(SERVER_CALLBACK_HANDLER)} is not Kafka's "
            "OAuthBearerValidatorCallbackHandler, so Kafka would ignore it and accept "
            "unsigned tokens",
        )
        return BrokerValidatorConfig(
            listener=name.lower(),
            validator=UnsecuredJwsValidator.from_options(jaas.options),
            refresher=None,
            jaas=jaas,
        )
    assert handler is not None
    _require_secured_handler(
        handler.key, handler_class, _SECURED_VALIDATORS, jaas, "unsecuredValidator", "validator"
    )
    validator_class = view.text("sasl.oauthbearer.jwt.validator.class")
    if validator_class is not None and validator_class.value != _DEFAULT_JWT_VALIDATOR:
        raise ConfigurationError(
            f"{validator_class.key}: only Kafka's DefaultJwtValidator can be reproduced here"
        )
    refresher = _jwks_refresher(view, allow_insecure_loopback=allow_insecure_loopback)
    validator = JwtValidator(
        refresher.cache,
        algorithms=tuple(sorted(ASYMMETRIC_ALGORITHMS)),
        audience=_audience(view),
        issuer=_optional_text(view, "sasl.oauthbearer.expected.issuer"),
        clock_skew_s=_number(view, "sasl.oauthbearer.clock.skew.seconds", 30, _INT_RANGE, "int"),
        scope_claim=_claim_name(view, "sasl.oauthbearer.scope.claim.name", "scope"),
        subject_claim=_claim_name(view, "sasl.oauthbearer.sub.claim.name", "sub"),
    )
    return BrokerValidatorConfig(
        listener=name.lower(), validator=validator, refresher=refresher, jaas=jaas
    )


def _optional_text(view: _View, name: str) -> str | None:
    setting = view.text(name)
    return None if setting is None else setting.value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _ClaimNames:
    """The claims a client reads its token's scope and principal from."""

    scope_claim: str
    subject_claim: str


def _require_secured_handler(  # noqa: PLR0917 - the facts of one check, in order
    option: str,
    handler_class: str,
    allowed: Collection[str],
    jaas: JaasConfig,
    unsecured_prefix: str,
    role: str,
) -> None:
    """A secured callback handler must be one of Kafka's own, and the JAAS
    options of the unsecured one (which it ignores) must not be set."""
    if handler_class not in allowed:
        raise ConfigurationError(
            f"{option}: only Kafka's own callback handlers can be reproduced here"
        )
    for key in jaas.options:
        if key.startswith(unsecured_prefix):
            raise ConfigurationError(
                f"JAAS option {_show_key(key)} is set, but {option} is the secured "
                f"{role}, which ignores it"
            )


def _claim_name(view: _View, name: str, default: str) -> str:
    return _optional_text(view, name) or default


def _audience(view: _View) -> tuple[str, ...] | None:
    setting = view.get("sasl.oauthbearer.expected.audience")
    if setting is None:
        return None
    return _parse_list(setting.key, setting.value) or None


def _number(
    view: _View, name: str, default: int, java_range: range, type_name: str, *, low: int = 0
) -> int:
    """A whole-number setting, at least ``low`` (every one of these is a duration)."""
    setting = view.get(name)
    if setting is None:
        return default
    value = _parse_int(setting.key, setting.value, java_range, type_name)
    if value < low:
        raise _bad(setting.key, f"a number >= {low}")
    return value


def _jwks_refresher(view: _View, *, allow_insecure_loopback: bool) -> JwksRefresher:
    setting = view.text("sasl.oauthbearer.jwks.endpoint.url")
    if setting is None:
        raise ConfigurationError(
            f"{view.mechanism_key('sasl.oauthbearer.jwks.endpoint.url')} is not set: "
            "Kafka's secured validator requires it"
        )
    scheme = _check_url(
        setting.key,
        setting.value,
        allow_file=True,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    refresh_ms = _number(
        view, "sasl.oauthbearer.jwks.endpoint.refresh.ms", 3_600_000, _LONG_RANGE, "long", low=1
    )
    backoff_ms = _number(
        view, "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", 100, _LONG_RANGE, "long"
    )
    budget_ms = _number(
        view, "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", 10_000, _LONG_RANGE, "long"
    )
    if scheme == "file":
        return JwksRefresher.for_file(_file_path(setting.key, setting.value))
    return JwksRefresher.for_url(
        setting.value,
        allow_insecure_loopback=allow_insecure_loopback,
        policy=JwksRefreshPolicy(refresh_interval_s=refresh_ms / 1000),
        retry=RetryPolicy(backoff_s=backoff_ms / 1000, budget_s=budget_ms / 1000),
    )


# --- Client: the login ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientCredentialsConfig:
    """A validated OAuth 2.0 client-credentials login (RFC 6749 section 4.4), as
    Kafka's ``ClientCredentialsJwtRetriever`` would make it. Nothing here has
    contacted the token endpoint.

    ``connect_timeout_ms`` and ``read_timeout_ms`` are ``None`` when unset (the
    HTTP client's default); 0 means no timeout, as in Java. ``urlencode``
    says whether the client id and secret are form-urlencoded inside the Basic
    authorization header (RFC 6749 section 2.3.1;
    ``sasl.oauthbearer.header.urlencode``, default false as in Kafka).
    """

    token_endpoint_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scope: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    urlencode: bool = False
    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"

    def __post_init__(self) -> None:
        for name in ("token_endpoint_url", "client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _trim(value):
                raise ConfigurationError(f"ClientCredentialsConfig.{name} must not be blank")
        if self.scope is not None and not isinstance(self.scope, str):
            raise ArgumentTypeError("ClientCredentialsConfig.scope must be a str or None")
        for name in ("connect_timeout_ms", "read_timeout_ms"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(f"ClientCredentialsConfig.{name} must be an int >= 0")
        for key, value in dict(self.extensions).items():
            _check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenFileConfig:
    """A login that reads a ready-made access token from a file (Kafka's
    ``FileJwtRetriever``, chosen by a ``file:`` token endpoint URL)."""

    path: str
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ConfigurationError("TokenFileConfig.path must not be empty")
        for key, value in dict(self.extensions).items():
            _check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


#: KIP-1139's assertion settings (``sasl.oauthbearer.assertion.*``), read only
#: with Kafka's ``JwtBearerJwtRetriever``.
_ASSERTION_OPTIONS: Final = tuple(
    sorted(name for name in KNOWN_PROPERTIES if name.startswith("sasl.oauthbearer.assertion."))
)
_ASSERTION_FILE: Final = "sasl.oauthbearer.assertion.file"
#: Kafka's ranges (``SaslConfigs``): ``exp`` 0 to 86400 s ahead, ``nbf`` 0 to
#: 3600 s back. We start ``exp`` at 1: an assertion that expires the second it
#: is made is refused by every identity provider (RFC 7519 section 4.1.4).
ASSERTION_EXP_RANGE: Final = range(1, 86_400 + 1)
ASSERTION_NBF_RANGE: Final = range(3_600 + 1)
#: ``sasl.oauthbearer.assertion.algorithm``: Kafka's ``CaseInsensitiveValidString``.
_ASSERTION_ALGORITHMS: Final = ("RS256", "ES256")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JwtBearerConfig:
    """A validated JWT bearer grant login (RFC 7523 section 2.1), as Kafka's
    ``JwtBearerJwtRetriever`` (KIP-1139) would make it. Nothing here has
    contacted the token endpoint or read a file.

    The assertion comes from exactly one place: ``assertion_file``, a JWT made
    elsewhere and read again on every login (``sasl.oauthbearer.assertion.file``),
    or ``private_key_file`` (PEM; ``private_key_passphrase`` if encrypted, never
    shown), with which a fresh assertion is signed for every login with
    ``algorithm`` and the claims ``iss``/``sub``/``aud`` = ``issuer``/``subject``/
    ``audience``, ``exp`` = now + ``exp_seconds``, ``nbf`` = now -
    ``nbf_seconds``, a random ``jti`` when ``include_jti``, and the header and
    claims of ``template_file`` layered as Kafka layers them (see
    :func:`~oauthbearer.login.requests.make_assertion`). The other fields are
    those of :class:`ClientCredentialsConfig`; there is no client secret, as
    Kafka sends none with this grant.
    """

    token_endpoint_url: str
    assertion_file: str | None = None
    private_key_file: str | None = None
    private_key_passphrase: str | None = dataclasses.field(default=None, repr=False)
    algorithm: Literal["RS256", "ES256"] = "RS256"
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    exp_seconds: int = 300
    nbf_seconds: int = 60
    include_jti: bool = False
    template_file: str | None = None
    scope: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"

    def __post_init__(self) -> None:
        name = "JwtBearerConfig."
        if not isinstance(self.token_endpoint_url, str) or not _trim(self.token_endpoint_url):
            raise ConfigurationError(f"{name}token_endpoint_url must not be blank")
        for field in (
            "assertion_file",
            "private_key_file",
            "private_key_passphrase",
            "issuer",
            "subject",
            "audience",
            "template_file",
        ):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, str) or not _trim(value)):
                raise ConfigurationError(f"{name}{field} must be None or a non-blank str")
        if (self.assertion_file is None) == (self.private_key_file is None):
            raise ConfigurationError(
                "JwtBearerConfig: give exactly one of assertion_file and private_key_file"
            )
        if self.assertion_file is not None:
            signing_only = [
                field
                for field in (
                    "private_key_passphrase",
                    "issuer",
                    "subject",
                    "audience",
                    "template_file",
                )
                if getattr(self, field) is not None
            ] + (["include_jti"] if self.include_jti else [])
            if signing_only:
                raise ConfigurationError(
                    f"{name}{signing_only[0]} applies to signed assertions only, not to "
                    "assertion_file"
                )
        if self.algorithm not in _ASSERTION_ALGORITHMS:
            raise ConfigurationError(f"{name}algorithm must be RS256 or ES256")
        for field, allowed in (
            ("exp_seconds", ASSERTION_EXP_RANGE),
            ("nbf_seconds", ASSERTION_NBF_RANGE),
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise ConfigurationError(
                    f"{name}{field} must be a whole number from {allowed.start} to "
                    f"{allowed.stop - 1}"
                )
        if not isinstance(self.include_jti, bool):
            raise ArgumentTypeError(f"{name}include_jti must be a bool")
        if self.scope is not None and not isinstance(self.scope, str):
            raise ArgumentTypeError(f"{name}scope must be a str or None")
        for field in ("connect_timeout_ms", "read_timeout_ms"):
            value = getattr(self, field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(f"{name}{field} must be an int >= 0")
        for key, value in dict(self.extensions).items():
            _check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


_TOKEN_ENDPOINT_ONLY: Final = (
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.scope",
)
_EXTENSION_PREFIX: Final = "extension_"


def client_login(
    properties: Mapping[str, str], *, now: float, allow_insecure_loopback: bool = False
) -> UnsecuredLogin | ClientCredentialsConfig | TokenFileConfig | JwtBearerConfig:
    """What a Kafka client logs in with, from its properties.

    No ``sasl.login.callback.handler.class`` (or Kafka's unsecured one): an
    unsecured token built now from the ``unsecuredLogin*`` JAAS options
    (:func:`~oauthbearer.unsecured.kafka_unsecured_login`). Kafka's
    ``OAuthBearerLoginCallbackHandler``: a :class:`ClientCredentialsConfig` for
    an ``https`` token endpoint, or a :class:`TokenFileConfig` for a ``file:``
    one; the client id, secret and scope come from the
    ``sasl.oauthbearer.client.credentials.*`` / ``sasl.oauthbearer.scope``
    properties first and the deprecated ``clientId`` / ``clientSecret`` /
    ``scope`` JAAS options second, as in Kafka; SASL extensions from the
    ``extension_<name>`` JAAS options. With
    ``sasl.oauthbearer.jwt.retriever.class`` set to Kafka's
    ``JwtBearerJwtRetriever`` (KIP-1139): a :class:`JwtBearerConfig`, from the
    ``sasl.oauthbearer.assertion.*`` properties and ``sasl.oauthbearer.scope``.
    No file is read here.
    """
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("client_login: properties must be a mapping")
    _check_names(properties)
    _check_mechanism(properties)
    view = _View(properties, None)
    jaas, jaas_key = _jaas(view, broker=False)
    handler = view.text(LOGIN_CALLBACK_HANDLER)
    if handler is None or handler.value in _UNSECURED_LOGINS:
        _refuse_if_set(
            view,
            (*_TOKEN_ENDPOINT_ONLY, "sasl.oauthbearer.jwt.retriever.class", *_ASSERTION_OPTIONS),
            f"{LOGIN_CALLBACK_HANDLER} is not Kafka's OAuthBearerLoginCallbackHandler, so "
            "Kafka would ignore it and use the unsecured login",
        )
        return kafka_unsecured_login(jaas.options, now=now)
    _require_secured_handler(
        handler.key, handler.value, _SECURED_LOGINS, jaas, "unsecuredLogin", "login"
    )
    retriever = view.text("sasl.oauthbearer.jwt.retriever.class")
    jwt_bearer = retriever is not None and retriever.value == _JWT_BEARER_RETRIEVER
    if retriever is not None and not jwt_bearer and retriever.value not in _JWT_RETRIEVERS:
        raise ConfigurationError(
            f"{retriever.key}: only Kafka's own retrievers can be reproduced here"
        )
    if not jwt_bearer:
        _refuse_if_set(
            view,
            _ASSERTION_OPTIONS,
            "sasl.oauthbearer.jwt.retriever.class is not JwtBearerJwtRetriever, so Kafka "
            "would ignore it",
        )
    extensions = {
        key[len(_EXTENSION_PREFIX) :]: value
        for key, value in jaas.options.items()
        if key.startswith(_EXTENSION_PREFIX)
    }
    for extension, value in extensions.items():
        try:
            _check_kafka_extension(extension, value)
        except ConfigurationError as error:
            raise ConfigurationError(f"{jaas_key}: {error}") from None
    refresh = _refresh_config(view)
    claims = _ClaimNames(
        scope_claim=_claim_name(view, "sasl.oauthbearer.scope.claim.name", "scope"),
        subject_claim=_claim_name(view, "sasl.oauthbearer.sub.claim.name", "sub"),
    )
    url = view.text("sasl.oauthbearer.token.endpoint.url")
    if url is None:
        raise ConfigurationError(
            "sasl.oauthbearer.token.endpoint.url is not set: Kafka's "
            "OAuthBearerLoginCallbackHandler requires it"
        )
    scheme = _check_url(
        url.key,
        url.value,
        allow_file=not jwt_bearer,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    if jwt_bearer:
        return _jwt_bearer_config(
            view, jaas, url.value, extensions=extensions, refresh=refresh, claims=claims
        )
    if scheme == "file":
        return TokenFileConfig(
            path=_file_path(url.key, url.value),
            extensions=extensions,
            refresh=refresh,
            scope_claim=claims.scope_claim,
            subject_claim=claims.subject_claim,
        )
    client_id = _config_or_jaas(
        view, jaas, "sasl.oauthbearer.client.credentials.client.id", "clientId"
    )
    client_secret = _config_or_jaas(
        view, jaas, "sasl.oauthbearer.client.credentials.client.secret", "clientSecret"
    )
    assert client_id is not None
    assert client_secret is not None
    urlencode = view.get("sasl.oauthbearer.header.urlencode")
    return ClientCredentialsConfig(
        token_endpoint_url=url.value,
        client_id=client_id,
        client_secret=client_secret,
        scope=_config_or_jaas(view, jaas, "sasl.oauthbearer.scope", "scope", required=False),
        extensions=extensions,
        urlencode=False if urlencode is None else _parse_bool(urlencode.key, urlencode.value),
        connect_timeout_ms=_optional_int(view, "sasl.login.connect.timeout.ms"),
        read_timeout_ms=_optional_int(view, "sasl.login.read.timeout.ms"),
        retry=_login_retry(view),
        refresh=refresh,
        scope_claim=claims.scope_claim,
        subject_claim=claims.subject_claim,
    )


def _login_retry(view: _View) -> RetryPolicy:
    """Kafka's login retry: ``sasl.login.retry.backoff.ms`` and ``.max.ms``."""
    return RetryPolicy(
        backoff_s=_number(view, "sasl.login.retry.backoff.ms", 100, _LONG_RANGE, "long") / 1000,
        budget_s=_number(view, "sasl.login.retry.backoff.max.ms", 10_000, _LONG_RANGE, "long")
        / 1000,
    )


#: What Kafka's ``JwtBearerJwtRetriever`` never reads: it sends no client
#: credentials, and takes the scope from ``sasl.oauthbearer.scope`` only.
_CLIENT_CREDENTIALS_ONLY: Final = (
    "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.header.urlencode",
)
_CLIENT_CREDENTIALS_JAAS: Final = ("clientId", "clientSecret", "scope")


def _jwt_bearer_config(
    view: _View,
    jaas: JaasConfig,
    url: str,
    *,
    extensions: Mapping[str, str],
    refresh: RefreshConfig,
    claims: _ClaimNames,
) -> JwtBearerConfig:
    """Kafka's ``JwtBearerJwtRetriever.configure``, without touching a file:
    ``sasl.oauthbearer.assertion.file`` if set, else the private key and the
    claim settings (``AssertionUtils.layeredAssertionJwtTemplate``)."""
    ignored = "JwtBearerJwtRetriever sends no client credentials, so Kafka would ignore it"
    _refuse_if_set(view, _CLIENT_CREDENTIALS_ONLY, ignored)
    for key in _CLIENT_CREDENTIALS_JAAS:
        if key in jaas.options:
            raise ConfigurationError(
                f"JAAS option '{key}' is set, but "
                + (
                    "JwtBearerJwtRetriever reads the scope from sasl.oauthbearer.scope only"
                    if key == "scope"
                    else ignored
                )
            )
    scope = _optional_text(view, "sasl.oauthbearer.scope")
    connect_timeout_ms = _optional_int(view, "sasl.login.connect.timeout.ms")
    read_timeout_ms = _optional_int(view, "sasl.login.read.timeout.ms")
    retry = _login_retry(view)

    def config(**assertion: Any) -> JwtBearerConfig:
        return JwtBearerConfig(
            token_endpoint_url=url,
            scope=scope,
            extensions=extensions,
            connect_timeout_ms=connect_timeout_ms,
            read_timeout_ms=read_timeout_ms,
            retry=retry,
            refresh=refresh,
            scope_claim=claims.scope_claim,
            subject_claim=claims.subject_claim,
            **assertion,
        )

    assertion_file = _set_text(view, _ASSERTION_FILE, path=True)
    if assertion_file is not None:
        # SaslConfigs: with an assertion file "all other sasl.oauthbearer.assertion.*
        # configurations are ignored".
        _refuse_if_set(
            view,
            tuple(name for name in _ASSERTION_OPTIONS if name != _ASSERTION_FILE),
            f"{_ASSERTION_FILE} is set too, and Kafka then ignores every other "
            "sasl.oauthbearer.assertion.* setting",
        )
        return config(assertion_file=assertion_file)
    key_name = "sasl.oauthbearer.assertion.private.key.file"
    private_key_file = _set_text(view, key_name, path=True)
    if private_key_file is None:
        raise ConfigurationError(
            f"neither {key_name} nor {_ASSERTION_FILE} is set: JwtBearerJwtRetriever "
            "needs one of them"
        )
    algorithm = view.get("sasl.oauthbearer.assertion.algorithm")
    chosen = "RS256" if algorithm is None else _trim(algorithm.value).upper()
    if algorithm is not None and chosen not in _ASSERTION_ALGORITHMS:
        raise _bad(algorithm.key, "RS256 or ES256 (in any case)")
    jti = view.get("sasl.oauthbearer.assertion.claim.jti.include")
    return config(
        private_key_file=private_key_file,
        private_key_passphrase=_set_text(view, "sasl.oauthbearer.assertion.private.key.passphrase"),
        algorithm="RS256" if chosen == "RS256" else "ES256",
        issuer=_set_text(view, "sasl.oauthbearer.assertion.claim.iss"),
        subject=_set_text(view, "sasl.oauthbearer.assertion.claim.sub"),
        audience=_set_text(view, "sasl.oauthbearer.assertion.claim.aud"),
        exp_seconds=_ranged(
            view, "sasl.oauthbearer.assertion.claim.exp.seconds", 300, ASSERTION_EXP_RANGE
        ),
        nbf_seconds=_ranged(
            view, "sasl.oauthbearer.assertion.claim.nbf.seconds", 60, ASSERTION_NBF_RANGE
        ),
        include_jti=False if jti is None else _parse_bool(jti.key, jti.value),
        template_file=_set_text(view, "sasl.oauthbearer.assertion.template.file", path=True),
    )


def _set_text(view: _View, name: str, *, path: bool = False) -> str | None:
    """A STRING setting that, when present, must not be blank (Kafka's
    ``validateString``), trimmed. A ``path`` is a file name, as Kafka's
    ``validateFile`` reads it (``new File(value)``), so a URL is refused."""
    setting = view.get(name)
    if setting is None:
        return None
    value = _trim(setting.value)
    if not value:
        raise ConfigurationError(f"{setting.key} is set but blank")
    if path and re.match(r"[A-Za-z][A-Za-z0-9+.\-]+:/", value):
        raise ConfigurationError(
            f"{setting.key}: the value must be a file path, not a URL (Kafka reads it as a path)"
        )
    return value


def _ranged(view: _View, name: str, default: int, allowed: range) -> int:
    """An INT setting within Kafka's ``Range.between``."""
    setting = view.get(name)
    if setting is None:
        return default
    value = _parse_int(setting.key, setting.value, _INT_RANGE, "int")
    if value not in allowed:
        raise _bad(setting.key, f"a whole number from {allowed.start} to {allowed.stop - 1}")
    return value


def _config_or_jaas(
    view: _View, jaas: JaasConfig, name: str, jaas_name: str, *, required: bool = True
) -> str | None:
    """Kafka's ConfigOrJaas: the property if present (then it must not be
    blank), else the JAAS option (likewise), else an error when required."""
    setting = view.get(name)
    if setting is not None:
        if not _trim(setting.value):
            raise ConfigurationError(f"{setting.key} is set but blank")
        return _trim(setting.value)
    value = jaas.options.get(jaas_name)
    if value is not None:
        if not _trim(value):
            raise ConfigurationError(f"JAAS option '{jaas_name}' is set but blank")
        return _trim(value)
    if required:
        raise ConfigurationError(f"{name} (or the JAAS option '{jaas_name}') is not set")
    return None


def _optional_int(view: _View, name: str) -> int | None:
    setting = view.get(name)
    if setting is None:
        return None
    value = _parse_int(setting.key, setting.value, _INT_RANGE, "int")
    if value < 0:
        raise _bad(setting.key, "a number >= 0")
    return value


def _refresh_config(view: _View) -> RefreshConfig:
    """``sasl.login.refresh.*`` with Kafka's types (DOUBLE, SHORT) and ranges."""
    default = RefreshConfig()

    def double(name: str, fallback: float) -> float:
        setting = view.get(name)
        return fallback if setting is None else _parse_double(setting.key, setting.value)

    def short(name: str, fallback: int) -> int:
        setting = view.get(name)
        if setting is None:
            return fallback
        return _parse_int(setting.key, setting.value, _SHORT_RANGE, "short")

    return RefreshConfig(
        window_factor=double("sasl.login.refresh.window.factor", default.window_factor),
        window_jitter=double("sasl.login.refresh.window.jitter", default.window_jitter),
        min_period_s=short("sasl.login.refresh.min.period.seconds", default.min_period_s),
        buffer_s=short("sasl.login.refresh.buffer.seconds", default.buffer_s),
    )
