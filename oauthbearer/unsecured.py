"""Kafka's unsecured tokens: an unsigned JWS (``alg`` "none"), built and validated.

Theory of operation
-------------------
Apache Kafka ships an "unsecured" OAUTHBEARER login and validator for
development: the token is a JWS with header ``{"alg":"none"}`` and an empty
signature (RFC 7515 appendix A.5, RFC 7519 section 6). This module reproduces
Kafka's rules so that a broker emulator answers exactly as a Kafka broker does,
and builds tokens from the options people already have:

* :class:`UnsecuredJwsValidator`: Kafka's ``OAuthBearerUnsecuredValidatorCallbackHandler``
  with its options (``unsecuredValidator*``), its checks in its order and its
  messages. Refusals are :class:`~oauthbearer.errors.InvalidToken`:
  ``invalid_token``, or ``insufficient_scope`` with Kafka's ``[a, b]`` scope.
* :func:`kafka_unsecured_login`: Kafka's ``OAuthBearerUnsecuredLoginCallbackHandler``
  options (``unsecuredLogin*``).
* :func:`librdkafka_unsecured_login`: librdkafka's ``sasl.oauthbearer.config``.

Where Kafka's own code reads a JSON value through Jackson, the same conversions
apply here (``null`` reads as the string ``"null"``, ``true`` as ``"true"``, and
bytes after the first JSON value are ignored), and
error details carry Kafka's texts. Deliberate differences, each where Kafka
crashes or writes invalid JSON, are listed in ``docs/unsecured.md``.

This module is pure: the time comes in as ``now`` (epoch seconds).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from oauthbearer.errors import ConfigurationError, InvalidToken, TokenReason
from oauthbearer.kafka_claims import java_integer, java_trim
from oauthbearer.token import OAuthBearerToken

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "UnsecuredJwsValidator",
    "UnsecuredLogin",
    "kafka_unsecured_login",
    "librdkafka_unsecured_login",
]

#: The header every unsecured token carries, and its base64url form.
UNSECURED_HEADER: Final = b'{"alg":"none"}'

#: Longest token the validator reads: far above any real unsecured token, and
#: under Kafka's default SASL receive size.
MAX_UNSECURED_TOKEN_LENGTH: Final = 65_536

#: Kafka's default token lifetime for the unsecured login, in seconds.
DEFAULT_LIFETIME_SECONDS: Final = 3600

#: RFC 6749 section 3.3 scope-token characters, as Kafka's OAuthBearerScopeUtils checks them.
_SCOPE_TOKEN: Final = re.compile(r"[\x23-\x5b\x5d-\x7e\x21]+")
#: Kafka's extension grammar (OAuthBearerClientInitialResponse).
_KAFKA_EXTENSION_NAME: Final = re.compile(r"[A-Za-z]+")
_KAFKA_EXTENSION_VALUE: Final = re.compile(r"[\x21-\x7e \t\r\n]+")
#: Java's Long.parseLong: an optional sign and decimal digits, nothing else.
_JAVA_LONG: Final = re.compile(r"[+-]?[0-9]+")

_JAVA_INT_RANGE: Final = range(-(2**31), 2**31)
_JAVA_LONG_RANGE: Final = range(-(2**63), 2**63)

_KAFKA_LOGIN_PREFIX: Final = "unsecuredLogin"
_RESERVED_CLAIMS: Final = frozenset({"iat", "exp"})


def _java_round(value: float) -> int:
    """Java's Math.round for a double: floor(x + 0.5), saturating at Long's range.

    Never NaN here: JSON has no NaN, and a number too large for a double reads as
    an infinity, which saturates."""
    if value >= 2**63:
        return 2**63 - 1
    if value <= -(2**63):
        return -(2**63)
    return math.floor(value + 0.5)


def _java_double(value: int | float) -> float:
    """BigInteger.doubleValue(): too large for a double reads as infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


# --- Reading a JWS part as Kafka does ----------------------------------------------------


def _b64url_decode(part: str) -> bytes:
    """base64url, with or without padding; padding, when present, must be complete.

    As Java's Base64 URL decoder: no whitespace, no '+' or '/', leftover bits ignored.
    """
    if len(part) % 4 == 1 or not part.isascii():
        raise ValueError("bad length or character")
    unpadded = part.rstrip("=")
    if unpadded != part and len(part) % 4:
        raise ValueError("incomplete padding")
    if "=" in unpadded:
        raise ValueError("padding inside the value")
    standard = unpadded.translate(str.maketrans("-_", "+/"))
    if "+" in unpadded or "/" in unpadded:
        raise ValueError("not the URL alphabet")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


#: JSON's insignificant whitespace (RFC 8259 section 2), skipped before the value.
_JSON_SPACE: Final = " \t\n\r"
_JSON_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _read_part(part: str) -> dict[str, Any]:
    """A header or claims part, as Kafka's ``toMap``: decode, parse, convert.

    A JSON value that is not an object reads as an empty map, as in Kafka.
    """
    try:
        raw = _b64url_decode(part)
    except (ValueError, binascii.Error):
        raise _illegal(TokenReason.MALFORMED, "malformed Base64 URL encoded value") from None
    if not raw:
        return {}
    tree = _read_json(raw)
    if not isinstance(tree, dict):
        return {}
    return {key: _convert(value) for key, value in tree.items()}


def _read_json(raw: bytes) -> Any:
    """The first JSON value in ``raw``, as Jackson's ``readTree`` reads it.

    Jackson stops after the first complete value and never looks at what
    follows (``FAIL_ON_TRAILING_TOKENS`` is off by default), so trailing bytes
    of any kind are ignored, as Kafka's broker ignores them. The value itself
    must be strict JSON in UTF-8 (no ``NaN``, no invalid byte).
    """
    # surrogateescape keeps invalid UTF-8 in the ignored tail from failing the
    # decode; inside the value it is refused below, as Jackson refuses it.
    text = raw.decode("utf-8", "surrogateescape")
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        tree, end = _JSON_DECODER.raw_decode(text, start)
        text[start:end].encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise _illegal(TokenReason.MALFORMED, "malformed JSON") from None
    return tree


def _convert(value: Any) -> Any:
    """Jackson's tree values as Kafka converts them: numbers stay numbers, arrays
    become lists of text, everything else becomes its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return _as_text(value)


def _as_text(value: Any) -> str:
    """Jackson's ``JsonNode.asText()``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return ""  # an object or an array


def _java_type(value: Any) -> str:
    """The Java class simple name Kafka's messages print for a converted value."""
    if isinstance(value, list):
        return "ArrayList"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, int):
        if value in _JAVA_INT_RANGE:
            return "Integer"
        return "Long" if value in _JAVA_LONG_RANGE else "BigInteger"
    return "String"


class _IllegalToken(Exception):
    """Kafka's OAuthBearerIllegalTokenException: a detail, and a scope for
    ``insufficient_scope``."""

    def __init__(self, reason: TokenReason, detail: str, scope: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.scope = scope


def _illegal(reason: TokenReason, detail: str) -> _IllegalToken:
    return _IllegalToken(reason, detail)


def read_jws_part(part: str) -> dict[str, Any]:
    """A JWS header or claims part read as Kafka's ``toMap`` reads it (see
    ``_read_part``); a ``ValueError`` with Kafka's detail when it cannot be."""
    try:
        return _read_part(part)
    except _IllegalToken as exc:
        raise ValueError(exc.detail) from None


@dataclasses.dataclass(frozen=True, slots=True)
class _Jws:
    """A parsed unsecured JWS: what Kafka's ``OAuthBearerUnsecuredJws`` holds."""

    principal: str
    scope: frozenset[str]
    exp: float
    iat: float | None
    claims: Mapping[str, Any]


def _parse_jws(token: str, principal_claim: str, scope_claim: str) -> _Jws:
    """Kafka's ``OAuthBearerUnsecuredJws`` constructor: its checks, in its order."""
    if ".." in token:
        raise _illegal(TokenReason.MALFORMED, "Malformed compact serialization contains '..'")
    # Java's split("\\.") drops trailing empty parts and Kafka adds one back for a
    # trailing "."; with ".." refused, that is exactly Python's split.
    parts = token.split(".")
    if len(parts) != 3:
        raise _illegal(
            TokenReason.MALFORMED,
            "Unsecured JWS compact serializations must have 3 dot-separated "
            "Base64URL-encoded values",
        )
    header = _read_part(parts[0])
    claims = _read_part(parts[1])
    alg = header.get("alg")
    if alg is None:
        raise _illegal(TokenReason.UNSUPPORTED_ALGORITHM, "JWS header must have an Algorithm value")
    if (alg if isinstance(alg, str) else str(alg)) != "none":
        raise _illegal(
            TokenReason.UNSUPPORTED_ALGORITHM, "Unsecured JWS must have 'none' for an algorithm"
        )
    if parts[2]:
        raise _illegal(
            TokenReason.BAD_SIGNATURE, "Unsecured JWS must not contain a digital signature"
        )
    scope = _claim_scope(claims, scope_claim)
    exp = claims.get("exp")
    if exp is None:
        raise _illegal(TokenReason.MISSING_CLAIM, "No expiration time in JWT")
    _require_number("exp", exp)
    principal = claims.get(principal_claim)
    if principal is not None and not isinstance(principal, str):
        raise _illegal(
            TokenReason.INVALID_CLAIM,
            f"The '{principal_claim}' claim was not of type String: {_java_type(principal)}",
        )
    if principal is None or not java_trim(principal):
        raise _illegal(
            TokenReason.MISSING_CLAIM if principal is None else TokenReason.INVALID_CLAIM,
            f"No principal name in JWT claim: {principal_claim}",
        )
    iat = claims.get("iat")
    if iat is not None:
        _require_number("iat", iat)
    return _Jws(
        principal=principal,
        scope=scope,
        exp=_java_double(exp),
        iat=None if iat is None else _java_double(iat),
        claims=types.MappingProxyType(claims),
    )


def _require_number(name: str, value: Any) -> None:
    if isinstance(value, str | list):
        raise _illegal(
            TokenReason.INVALID_CLAIM,
            f"The '{name}' claim was not of type Number: {_java_type(value)}",
        )


def _claim_scope(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """Kafka's ``calculateScope``: a string is one element (Kafka does not split
    it); a list drops blank elements and trims the rest."""
    value = claims.get(name)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        trimmed = java_trim(value)
        return frozenset({trimmed}) if trimmed else frozenset()
    if not isinstance(value, list):
        raise _illegal(
            TokenReason.INVALID_CLAIM,
            f"The '{name}' claim was not of type List: {_java_type(value)}",
        )
    return frozenset(java_trim(item) for item in value if java_trim(item))


# --- The validator ----------------------------------------------------------------------


def _java_list(items: Sequence[str]) -> str:
    """Java's List.toString(): ``[a, b]``."""
    return "[" + ", ".join(items) + "]"


def _format_seconds(value: float) -> str:
    # Java's %f: six decimals.
    return f"{value:f}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnsecuredJwsValidator:
    """Validates Kafka's unsecured tokens exactly as Kafka's broker does.

    Options are Kafka's ``unsecuredValidator*`` ones (:meth:`from_options`
    reads them by those names): the principal claim (default ``sub``), the
    scope claim (default ``scope``), the required scope (each element must be
    in the token's scope) and the allowable clock skew in milliseconds.
    """

    principal_claim_name: str = "sub"
    scope_claim_name: str = "scope"
    required_scope: tuple[str, ...] = ()
    allowable_clock_skew_ms: int = 0

    def __post_init__(self) -> None:
        for field in ("principal_claim_name", "scope_claim_name"):
            value = getattr(self, field)
            if not isinstance(value, str) or not java_trim(value):
                raise ConfigurationError(f"UnsecuredJwsValidator.{field} must not be blank")
            object.__setattr__(self, field, java_trim(value))
        scope: object = self.required_scope
        if isinstance(scope, str) or not isinstance(scope, Sequence):
            raise ConfigurationError(
                "UnsecuredJwsValidator.required_scope must be a sequence of strings"
            )
        if not all(isinstance(item, str) for item in scope):
            raise ConfigurationError(
                "UnsecuredJwsValidator.required_scope must be a sequence of strings"
            )
        for item in scope:
            if not _SCOPE_TOKEN.fullmatch(item):
                raise ConfigurationError(f"Invalid scope value: {item}")
        object.__setattr__(self, "required_scope", tuple(scope))
        skew = self.allowable_clock_skew_ms
        if not isinstance(skew, int) or isinstance(skew, bool) or skew < 0:
            raise ConfigurationError(f"Allowable clock skew millis must not be negative: {skew}")

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> UnsecuredJwsValidator:
        """From Kafka's JAAS options: ``unsecuredValidatorPrincipalClaimName``,
        ``unsecuredValidatorScopeClaimName``, ``unsecuredValidatorRequiredScope``
        (space-separated) and ``unsecuredValidatorAllowableClockSkewMs``. Other
        options are not this validator's and are ignored, as in Kafka."""

        def option(name: str) -> str:
            value = options.get(name)
            return "" if value is None else java_trim(value)

        skew_text = option("unsecuredValidatorAllowableClockSkewMs")
        skew = 0
        if skew_text:
            parsed = java_integer(skew_text, _JAVA_INT_RANGE)
            if parsed is None:
                raise ConfigurationError(
                    f'unsecuredValidatorAllowableClockSkewMs: For input string: "{skew_text}"'
                )
            skew = parsed
            if skew < 0:
                raise ConfigurationError(
                    "Allowable clock skew millis must not be negative: "
                    f"{options['unsecuredValidatorAllowableClockSkewMs']}"
                )
        return cls(
            principal_claim_name=option("unsecuredValidatorPrincipalClaimName") or "sub",
            scope_claim_name=option("unsecuredValidatorScopeClaimName") or "scope",
            required_scope=tuple(
                item for item in option("unsecuredValidatorRequiredScope").split(" ") if item
            ),
            allowable_clock_skew_ms=skew,
        )

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """Kafka's checks in Kafka's order; refusals are :class:`InvalidToken`."""
        if not isinstance(token, str) or not token:
            raise InvalidToken(
                "invalid_token",
                reason=TokenReason.MALFORMED,
                detail="token value must not be empty",
            )
        if len(token) > MAX_UNSECURED_TOKEN_LENGTH:
            raise InvalidToken(
                "invalid_token",
                reason=TokenReason.TOO_LARGE,
                detail=f"token longer than {MAX_UNSECURED_TOKEN_LENGTH} characters",
            )
        try:
            jws = _parse_jws(token, self.principal_claim_name, self.scope_claim_name)
            self._check(jws, now_ms=math.floor(now * 1000))
        except _IllegalToken as exc:
            if exc.scope is not None:
                raise InvalidToken(
                    "insufficient_scope",
                    reason=TokenReason.INSUFFICIENT_SCOPE,
                    scope=exc.scope,
                    detail=exc.detail,
                ) from None
            raise InvalidToken("invalid_token", reason=exc.reason, detail=exc.detail) from None
        return OAuthBearerToken(
            value=token,
            principal=jws.principal,
            scope=jws.scope,
            lifetime_ms=_java_round(jws.exp * 1000),
            start_time_ms=None if jws.iat is None else _java_round(jws.iat * 1000),
            claims=jws.claims,
        )

    def _check(self, jws: _Jws, *, now_ms: int) -> None:
        """Kafka's OAuthBearerValidationUtils, in the handler's order."""
        skew = self.allowable_clock_skew_ms
        if jws.iat is not None and 1000 * jws.iat > now_ms + skew:
            raise _illegal(
                TokenReason.NOT_YET_VALID,
                f"The Issued At value ({_format_seconds(jws.iat)} seconds) was after the "
                f"indicated time ({now_ms} ms) plus allowable clock skew ({skew} ms)",
            )
        if now_ms - skew >= 1000 * jws.exp:
            raise _illegal(
                TokenReason.EXPIRED,
                f"The indicated time ({now_ms} ms) minus allowable clock skew ({skew} ms) "
                f"was on or after the Expiration Time value ({_format_seconds(jws.exp)} seconds)",
            )
        if jws.iat is not None and jws.exp <= jws.iat:
            raise _illegal(
                TokenReason.INVALID_CLAIM,
                f"The Expiration Time time ({_format_seconds(jws.exp)} seconds) was not after "
                f"the Issued At time ({_format_seconds(jws.iat)} seconds)",
            )
        for required in self.required_scope:
            if required not in jws.scope:
                # Kafka prints its HashSet of the token's scope; we print it sorted.
                raise _IllegalToken(
                    TokenReason.INSUFFICIENT_SCOPE,
                    f"The provided scope ({_java_list(sorted(jws.scope))}) was missing a "
                    f"required scope ({required}).  All required scope elements: "
                    f"{_java_list(self.required_scope)}",
                    scope=_java_list(self.required_scope),
                )


# --- Builders -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnsecuredLogin:
    """What an unsecured login produces: the token, and the SASL extensions to send."""

    token: OAuthBearerToken
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(claims_json: str) -> str:
    return f"{_b64url(UNSECURED_HEADER)}.{_b64url(claims_json.encode())}."


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _kafka_list(value: str) -> list[str]:
    """Kafka's list-claim rule: the first character is the delimiter.

    Java's split drops trailing empty elements; Kafka then appends one empty
    element when the list starts or ends with the delimiter or holds it twice
    in a row, and fails on a list that is nothing but delimiters.
    """
    if len(value) <= 1:
        return []
    delimiter, rest = value[0], value[1:]
    items = rest.split(delimiter)
    while items and not items[-1]:
        items.pop()
    if rest.startswith(delimiter) or rest.endswith(delimiter) or delimiter * 2 in rest:
        if not items:
            raise ConfigurationError(f"Illegal JSON array: {value!r} holds only delimiters")
        items.append("")
    return items


def check_kafka_extension(name: str, value: str) -> None:
    if name == "auth" or not _KAFKA_EXTENSION_NAME.fullmatch(name):
        raise ConfigurationError(f"Extension name {name} is invalid")
    if not _KAFKA_EXTENSION_VALUE.fullmatch(value):
        raise ConfigurationError(f"Extension value for extension {name} is invalid")


def kafka_unsecured_login(options: Mapping[str, str], *, now: float) -> UnsecuredLogin:
    """A token as Kafka's ``OAuthBearerUnsecuredLoginCallbackHandler`` builds it.

    ``options`` are the JAAS options, by Kafka's names:
    ``unsecuredLoginStringClaim_<name>``, ``unsecuredLoginNumberClaim_<name>``,
    ``unsecuredLoginListClaim_<name>`` (the first character is the delimiter),
    ``unsecuredLoginExtension_<name>``, ``unsecuredLoginPrincipalClaimName``,
    ``unsecuredLoginScopeClaimName`` and ``unsecuredLoginLifetimeSeconds``
    (default 3600). ``iat`` and ``exp`` are set from ``now`` and may not be given.
    Other options are not the login's and are ignored.
    """
    if not options:
        raise ConfigurationError(
            "no unsecuredLogin options: this login cannot be used to establish client connections"
        )
    if all(key.startswith("unsecuredLoginExtension_") for key in options):
        raise ConfigurationError("Extensions provided in login context without a token")

    def option(name: str) -> str:
        value = options.get(_KAFKA_LOGIN_PREFIX + name)
        return "" if value is None else java_trim(value)

    principal_claim = option("PrincipalClaimName") or "sub"
    scope_claim = option("ScopeClaimName") or "scope"
    lifetime_text = options.get("unsecuredLoginLifetimeSeconds", str(DEFAULT_LIFETIME_SECONDS))
    parsed_lifetime = java_integer(lifetime_text, _JAVA_LONG_RANGE)
    if parsed_lifetime is None:
        raise ConfigurationError(
            f'unsecuredLoginLifetimeSeconds: For input string: "{lifetime_text}"'
        )
    lifetime_s = parsed_lifetime

    claims: list[str] = []
    extensions: dict[str, str] = {}
    for key, value in options.items():
        for kind in ("StringClaim_", "NumberClaim_", "ListClaim_", "Extension_"):
            prefix = _KAFKA_LOGIN_PREFIX + kind
            if not key.startswith(prefix) or len(key) == len(prefix):
                continue
            name = key[len(prefix) :]
            if kind == "Extension_":
                check_kafka_extension(name, value)
                extensions[name] = value
                continue
            if name in _RESERVED_CLAIMS:
                raise ConfigurationError(f"Cannot explicitly set the '{name}' claim")
            if kind == "StringClaim_":
                text = _json_string(value)
            elif kind == "NumberClaim_":
                text = _kafka_number(key, value)
            else:
                text = "[" + ",".join(_json_string(item) for item in _kafka_list(value)) + "]"
            claims.append(f"{_json_string(name)}:{text}")

    now_ms = math.floor(now * 1000)
    iat = now_ms / 1000.0
    exp = iat + lifetime_s
    claims_json = "{" + ",".join([f'"exp":{exp!r}', f'"iat":{iat!r}', *claims]) + "}"
    token = _compact(claims_json)
    # Kafka parses its own token back and reports what is wrong with it.
    try:
        jws = _parse_jws(token, principal_claim, scope_claim)
    except _IllegalToken as exc:
        raise ConfigurationError(exc.detail) from None
    return UnsecuredLogin(
        token=OAuthBearerToken(
            value=token,
            principal=jws.principal,
            scope=jws.scope,
            lifetime_ms=_java_round(jws.exp * 1000),
            start_time_ms=_java_round(iat * 1000),
            claims=jws.claims,
        ),
        extensions=extensions,
    )


def _kafka_number(option: str, value: str) -> str:
    """Kafka's Double.valueOf(value), written back as a JSON number."""
    try:
        number = float(java_trim(value))
    except ValueError:
        number = math.nan
    # Python's float() also reads "1_000", "nan" and "inf"; Java's Double.valueOf
    # reads no underscores, and NaN or Infinity would make the JSON invalid.
    if "_" in value or not math.isfinite(number):
        raise ConfigurationError(f'{option}: For input string: "{value}"')
    return repr(number)


# --- librdkafka ---------------------------------------------------------------------------

_RDKAFKA_KEYS: Final = ("principalClaimName=", "principal=", "scopeClaimName=", "scope=")
_RDKAFKA_INT_MAX: Final = 2**31 - 1


def _rdkafka_error(detail: str) -> ConfigurationError:
    return ConfigurationError(f"Invalid sasl.oauthbearer.config: {detail}")


def librdkafka_unsecured_login(config: str, *, now: float) -> UnsecuredLogin:
    """A token as librdkafka builds it from ``sasl.oauthbearer.config``.

    The grammar: space-separated ``principal=``, ``principalClaimName=``
    (default ``sub``), ``scope=`` (comma-separated), ``scopeClaimName=`` (default
    ``scope``), ``lifeSeconds=`` (default 3600) and ``extension_<name>=<value>``.
    The claims are written as librdkafka writes them:
    ``{"sub":"alice","iat":1.000,"exp":3601.000,"scope":["read"]}``.
    """
    if not config:
        raise _rdkafka_error("must not be empty")
    settings: dict[str, str] = {}
    life_text: str | None = None
    extensions: dict[str, str] = {}
    pos = 0
    while pos < len(config):
        if config[pos] == " ":
            pos += 1
            continue
        end = config.find(" ", pos)
        end = len(config) if end < 0 else end
        entry = config[pos:end]
        key = next((k for k in _RDKAFKA_KEYS if entry.startswith(k)), None)
        if key is not None:
            if key in settings:
                raise _rdkafka_error(f"multiple '{key}' entries")
            if len(entry) == len(key):
                raise _rdkafka_error(f"empty '{key}'")
            settings[key] = entry[len(key) :]
        elif entry.startswith("lifeSeconds="):
            life_text = entry[len("lifeSeconds=") :]
            if not life_text:
                raise _rdkafka_error("empty 'lifeSeconds='")
        elif entry.startswith("extension_"):
            name, _, value = entry[len("extension_") :].partition("=")
            if not name:
                raise _rdkafka_error("empty 'extension_' key")
            extensions[name] = value
        else:
            raise ConfigurationError(
                f"Unrecognized sasl.oauthbearer.config beginning at: {config[pos:]}"
            )
        pos = end

    life_s = DEFAULT_LIFETIME_SECONDS
    if life_text is not None:
        if not _JAVA_LONG.fullmatch(life_text):
            raise _rdkafka_error(f"non-integral 'lifeSeconds=': {life_text}")
        parsed_life = java_integer(life_text, range(1, _RDKAFKA_INT_MAX + 1))
        if parsed_life is None:
            raise _rdkafka_error(f"value out of range of positive int 'lifeSeconds=': {life_text}")
        life_s = parsed_life
    principal = settings.get("principal=")
    if principal is None:
        raise _rdkafka_error("no principal=<value>")
    principal_claim = settings.get("principalClaimName=", "sub")
    scope_claim = settings.get("scopeClaimName=", "scope")
    scope_text = settings.get("scope=")
    for field, text in (
        ("principal", principal),
        ("principalClaimName", principal_claim),
        ("scopeClaimName", scope_claim),
        ("scope", scope_text),
    ):
        if text is not None and '"' in text:
            raise _rdkafka_error(f"'\"' cannot appear in {field}: {text}")
    for name, value in extensions.items():
        _check_rdkafka_extension(name, value)

    scope = list(dict.fromkeys(item for item in (scope_text or "").split(",") if item))
    now_ms = math.floor(now * 1000)
    now_s = now_ms / 1000.0
    parts = [
        f"{_json_string(principal_claim)}:{_json_string(principal)}",
        f'"iat":{now_s:.3f}',
        f'"exp":{now_s + life_s:.3f}',
    ]
    if scope:
        parts.append(
            f"{_json_string(scope_claim)}:[" + ",".join(_json_string(s) for s in scope) + "]"
        )
    claims_json = "{" + ",".join(parts) + "}"
    return UnsecuredLogin(
        token=OAuthBearerToken(
            value=_compact(claims_json),
            principal=principal,
            scope=frozenset(scope),
            lifetime_ms=now_ms + life_s * 1000,
            start_time_ms=now_ms,
            claims=json.loads(claims_json),
        ),
        extensions=extensions,
    )


def _check_rdkafka_extension(name: str, value: str) -> None:
    """librdkafka's extension rules: keys of letters, not ``auth``; values of
    VCHAR, SP, HTAB, CR, LF, possibly empty."""
    if name == "auth":
        raise ConfigurationError(
            "Cannot explicitly set the reserved `auth` SASL/OAUTHBEARER extension key"
        )
    if not _KAFKA_EXTENSION_NAME.fullmatch(name):
        raise ConfigurationError(
            f"SASL/OAUTHBEARER extension keys must only consist of A-Z or a-z characters: {name}"
        )
    if value and not _KAFKA_EXTENSION_VALUE.fullmatch(value):
        raise ConfigurationError(
            "SASL/OAUTHBEARER extension values must only consist of space, horizontal tab, "
            f"CR, LF, and visible characters (%x21-7E): extension {name}"
        )
