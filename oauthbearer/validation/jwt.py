"""JwtValidator: signed JWT access tokens (RFC 7519, RFC 9068), checked with ``cryptography``.

Theory of operation
-------------------
A server configured with an identity provider's keys receives a JWS in
compact serialization (RFC 7515 section 7.1): ``header.payload.signature``,
each part base64url. :meth:`JwtValidator.validate` checks it in this order,
and refuses at the first failure with
:class:`~oauthbearer.errors.InvalidToken` (status ``invalid_token``) whose
``detail`` says precisely why, for the server's log, without ever quoting the
token or a key:

1. *Shape*: at most ``max_token_length`` characters (by default the rules':
   :data:`MAX_TOKEN_LENGTH` for the strict ones); three non-empty parts of
   base64url characters, checked in C (ASCII, no ``+``, ``/`` or ``=``, then
   binascii's strict mode).
2. *Header*: canonical, unpadded base64url of strict UTF-8 JSON (no duplicate
   member, no ``NaN``) holding an object. ``alg`` must be one of the configured
   ``algorithms``: never ``none``, and ``HS*`` only with ``hmac_keys`` (RFC 8725
   section 3.1). ``typ``, if present, must be ``JWT``, ``at+jwt`` or
   ``application/at+jwt``, compared case-insensitively (RFC 8725 section 3.11,
   RFC 9068 section 2.1): other JWT kinds (``dpop+jwt``, ``logout+jwt``...) are
   not access tokens. ``crit`` is refused, since no extension is understood
   (RFC 7515 section 4.1.11), and so is ``cty`` (a nested JWT). ``kid``, if
   present, is a string of at most ``MAX_KID_LENGTH`` characters. ``jku``,
   ``jwk``, ``x5u`` and ``x5c`` are ignored: keys come from configuration only.
3. *Signature*: the keys are selected by ``kid`` and ``alg`` (see
   :meth:`oauthbearer.validation.jwks.JsonWebKeySet.keys_for`; ``HS*`` keys come from
   ``hmac_keys`` only, asymmetric ones from ``keys`` only, and each verifier
   also checks the key object's type, so an RSA public key can never serve as
   an HMAC secret). At most :data:`MAX_KEYS_TRIED` keys are tried. The
   signature is checked with ``cryptography`` on the pre-loaded key: PKCS #1
   v1.5 (``RS*``; the signature, exactly as long as the modulus, is opened with
   the public key and what it holds compared byte for byte with the DigestInfo
   of the signing input, RFC 8017 section 8.2.2), PSS with MGF1 and a salt as
   long as the digest (``PS*``, RFC 7518 section 3.5), ECDSA from the raw
   ``r || s`` of exactly twice the curve size (``ES*``, RFC 7518 section 3.4),
   Ed25519/Ed448 (``EdDSA``, RFC 8037), HMAC compared in constant time
   (``HS*``).
4. *Claims*, only once the signature holds: the payload is strict JSON as
   above, an object. ``exp`` is required; ``iat`` too unless
   ``require_iat=False`` (Kafka's broker requires both); ``nbf`` is honoured.
   Each is a NumericDate: a JSON number (not a boolean), from 0 to year 9999.
   With ``s`` the clock skew: expired when ``now - s >= exp``; not yet valid
   when ``nbf > now + s`` or ``iat > now + s``. ``iss`` equals one configured
   issuer exactly. ``aud`` (a string or an array of strings) holds one
   configured audience; when none is configured a token carrying ``aud`` is
   refused (``reject_unexpected_audience``, Kafka's and pyjwt's rule). The
   subject claim is a non-blank string without surrounding whitespace. The
   scope claim is a space-delimited string or an array of strings; the groups
   claim, when configured, an array of strings. Each claim has one helper
   (:func:`_numeric_date`, ``_check_issuer_and_audience``, ``_scope``,
   ``_check_groups``), which both rule sets share where they agree: it makes
   each test once, on the way to accepting, and a refusal's branch only words
   the :class:`~oauthbearer.errors.InvalidToken` detail. Nothing is decided a
   second time on failure.

The result is an :class:`~oauthbearer.token.OAuthBearerToken`: ``principal``
the subject claim, ``scope`` a frozenset, ``lifetime_ms`` ``exp`` in epoch
milliseconds (exact for an integer ``exp``; a fractional one is rounded down
to the millisecond), ``start_time_ms`` from ``iat`` (as Kafka does), else from
``nbf``, else ``None``, and ``claims`` the whole payload.

Kafka's rules
-------------
The steps above are :data:`STRICT_RULES`, the default. ``rules=KAFKA_RULES``
(a :class:`JwtRules`) follows Apache Kafka's broker instead, where its jose4j
``JwtConsumer`` and ``ClaimValidationUtils`` decide otherwise: ``typ`` is
ignored, an empty ``crit`` and a ``cty`` other than a nested JWT's are
accepted, keys are selected as jose4j selects them (a JWK's ``alg`` only breaks
ties, and one key is tried), a part may end in ``=`` padding, tokens may be as
long as Kafka's SASL receive size, and step 4 is replaced by Kafka's claim
rules (:mod:`oauthbearer.kafka_claims`). Every other step is the one above.
:func:`oauthbearer.config.broker_validator` uses them; ``docs/validation.md``
tabulates both.

This module is pure: the time is the ``now`` argument. ``cryptography`` is
imported when a validator is built, never at import time; pyjwt is not used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import inspect
import math
import types
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple, NoReturn

from oauthbearer._json import loads_strict
from oauthbearer._text import show_value
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken, TokenReason
from oauthbearer.kafka_claims import (
    KAFKA_MAX_TOKEN_LENGTH,
    jose4j_seconds,
    jose4j_time_problem,
    kafka_millis,
    kafka_scope,
    kafka_subject,
)
from oauthbearer.token import OAuthBearerToken, parse_scope
from oauthbearer.validation.jwks import (
    EC_COORDINATE_SIZE,
    MAX_KID_LENGTH,
    TO_STANDARD_ALPHABET,
    Jose4jKeySource,
    JsonWebKey,
    JsonWebKeySet,
    KeySource,
    decode_standard,
)
from oauthbearer.validation.verified_cache import VerifiedTokenCache

__all__ = [
    "ACCEPTED_TYPES",
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "KAFKA_RULES",
    "MAX_KEYS_TRIED",
    "MAX_NUMERIC_DATE",
    "MAX_TOKEN_LENGTH",
    "STRICT_RULES",
    "JwtRules",
    "JwtValidator",
]

# --- Limits and vocabularies -----------------------------------------------------

#: Default longest token, in characters. Real access tokens are 1 to 4 KiB;
#: Entra ID tokens with group claims stay below 16 KiB (Entra switches to a
#: groups "overage" claim beyond 200 groups). Larger is an attack or a bug.
MAX_TOKEN_LENGTH: Final = 16 * 1024

#: Most keys tried for one token. A token with a ``kid`` selects one key; a
#: token without one selects every key fit for its ``alg``, and each try is a
#: full signature check, so a set with many keys must not multiply the work an
#: unauthenticated client can cause.
MAX_KEYS_TRIED: Final = 4

#: Latest NumericDate accepted: 9999-12-31T23:59:59Z. Later values are not
#: dates anyone issues, and stay clear of float and Java ``long`` overflows.
MAX_NUMERIC_DATE: Final = 253_402_300_799

#: Header verdicts kept per validator, and the longest header kept (base64url
#: characters). A provider uses one header per signing key; the bound keeps a
#: stream of made-up headers from growing memory (the cache is simply emptied).
MAX_CACHED_HEADERS: Final = 64
MAX_CACHED_HEADER_LENGTH: Final = 512

#: Signature algorithms checked with a public key (RFC 7518 section 3.1, RFC 8037).
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: MAC algorithms, allowed only with ``hmac_keys``; the value is the least
#: secret length in bytes (RFC 7518 section 3.2: at least the hash size).
HMAC_ALGORITHMS: Final[Mapping[str, int]] = types.MappingProxyType(
    {"HS256": 32, "HS384": 48, "HS512": 64}
)

#: Accepted ``typ`` header values, lowercased (compared case-insensitively, as
#: RFC 7515 section 4.1.9 advises for media types).
ACCEPTED_TYPES: Final = frozenset({"jwt", "at+jwt", "application/at+jwt"})

#: The ``cty`` values that make jose4j read the payload as a nested JWT, lowercased.
_NESTED_JWT_TYPES: Final = frozenset({"jwt", "application/jwt"})

_BASE64URL_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

#: Registered claims jose4j's JwtConsumer reads as strings whether or not it checks them.
_JOSE4J_STRING_CLAIMS: Final = ("iss", "sub", "jti")

_NOT_COMPACT: Final = "the token is not a JWS in compact serialization (RFC 7515 section 7.1)"

_Verifier = Callable[[Any, bytes, bytes], bool]


class _Refusal(NamedTuple):
    """A header's refusal, as kept in the header cache (no exception object:
    that would keep its traceback's frames alive)."""

    reason: TokenReason
    detail: str


#: A checked header: (alg, kid, verifier, where its keys come from), or why it
#: is refused.
_HeaderVerdict = tuple[str, str | None, _Verifier, KeySource] | _Refusal

_INFINITY: Final = math.inf
_STRING_TYPE: Final = frozenset({str})
_NO_SCOPE: Final[frozenset[str]] = frozenset()


def _refuse(reason: TokenReason, detail: str) -> NoReturn:
    raise InvalidToken("invalid_token", reason=reason, detail=detail)


def _check_bool(value: object, option: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"JwtValidator: {option} must be True or False")
    return value


def _check_length(value: object, option: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{option} must be an int >= 1")
    return value


# --- Rules ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JwtRules:
    """The rules a :class:`JwtValidator` applies where RFC 8725 / RFC 9068 and
    Apache Kafka's broker (jose4j) disagree. Use a preset: :data:`STRICT_RULES`
    (the default) or :data:`KAFKA_RULES`; ``docs/validation.md`` tabulates them.

    * ``claims``: ``"rfc9068"`` (the module documentation's step 4) or
      ``"kafka"`` (:mod:`oauthbearer.kafka_claims`: jose4j's NumericDates and
      clock rules, Kafka's scope and subject rules; a string scope is one
      element).
    * ``check_typ``: a ``typ`` header must be an access token type; when false,
      ``typ`` is ignored, whatever it holds.
    * ``jose4j_crit_cty``: accept an empty ``crit`` array and a ``cty`` string
      that is not ``JWT``/``application/jwt`` (jose4j ignores it); when false,
      any ``crit`` or ``cty`` is refused.
    * ``honour_jwk_alg``: a JWK that names an ``alg`` checks only that
      algorithm, and up to :data:`MAX_KEYS_TRIED` keys are tried; when false,
      keys are selected as jose4j does (the JWK's ``alg`` breaks ties only, one
      key is tried), which needs a
      :class:`~oauthbearer.validation.jwks.Jose4jKeySource`.
    * ``padded_base64url``: a part may end in ``=`` padding, where jose4j stops
      reading it; when false, ``=`` is refused (RFC 7515 section 2).
    * ``max_token_length``: the default of :class:`JwtValidator`'s option.
    """

    name: str
    claims: Literal["rfc9068", "kafka"] = "rfc9068"
    check_typ: bool = True
    jose4j_crit_cty: bool = False
    honour_jwk_alg: bool = True
    padded_base64url: bool = False
    max_token_length: int = MAX_TOKEN_LENGTH

    def __post_init__(self) -> None:
        if self.claims not in ("rfc9068", "kafka"):
            raise ConfigurationError("JwtRules.claims must be 'rfc9068' or 'kafka'")
        for option in ("check_typ", "jose4j_crit_cty", "honour_jwk_alg", "padded_base64url"):
            _check_bool(getattr(self, option), f"JwtRules.{option}")
        _check_length(self.max_token_length, "JwtRules.max_token_length")


#: RFC 8725 and RFC 9068, strictly: the default.
STRICT_RULES: Final = JwtRules(name="strict")
#: What Apache Kafka's broker (``OAuthBearerValidatorCallbackHandler``, jose4j)
#: accepts, on Kafka 4.0 to 4.4: the rules :func:`oauthbearer.config.broker_validator`
#: uses, so that it grants exactly the tokens Kafka grants.
KAFKA_RULES: Final = JwtRules(
    name="kafka",
    claims="kafka",
    check_typ=False,
    jose4j_crit_cty=True,
    honour_jwk_alg=False,
    padded_base64url=True,
    max_token_length=KAFKA_MAX_TOKEN_LENGTH,
)


class _Jose4jSelection:
    """A key source that selects as jose4j does (``honour_jwk_alg=False``)."""

    __slots__ = ("_source",)

    def __init__(self, source: Jose4jKeySource) -> None:
        self._source = source

    def keys_for(self, kid: str | None, alg: str) -> Sequence[JsonWebKey]:
        return self._source.keys_for(kid, alg, honour_jwk_alg=False)

    @property
    def key_set(self) -> object:
        """What the verified-token cache compares (see verified_cache.current_key_set)."""
        return getattr(self._source, "key_set", self._source)


class _SingleSecret:
    """One HMAC secret for every token, whatever its ``kid``."""

    __slots__ = ("_keys",)

    def __init__(self, secret: bytes) -> None:
        self._keys = (JsonWebKey(kid=None, kty="oct", key=secret),)

    def keys_for(self, kid: str | None, alg: str) -> tuple[JsonWebKey, ...]:
        return self._keys


class JwtValidator:
    """A :class:`~oauthbearer.token.TokenValidator` for signed JWT access tokens.

    ``keys`` is a :class:`~oauthbearer.validation.jwks.JsonWebKeySet` or any object with
    ``keys_for(kid, alg)`` (a refreshing cache, say); it may be ``None`` only
    when every algorithm is an ``HS*`` one. See the module documentation for
    the checks, in order, and ``docs/validation.md`` for a guide.
    """

    __slots__ = (
        "_algorithms",
        "_audiences",
        "_cache",
        "_claims",
        "_groups_claim",
        "_headers",
        "_hmac",
        "_issuers",
        "_keys",
        "_max_token_length",
        "_reject_unexpected_audience",
        "_require_iat",
        "_rules",
        "_scope_claim",
        "_skew",
        "_subject_claim",
        "_verifiers",
    )

    def __init__(
        self,
        keys: KeySource | None,
        *,
        algorithms: Sequence[str] = ("RS256",),
        audience: str | Iterable[str] | None = None,
        reject_unexpected_audience: bool = True,
        issuer: str | Iterable[str] | None = None,
        require_iat: bool = True,
        clock_skew_s: float = 30.0,
        scope_claim: str = "scope",
        subject_claim: str = "sub",
        groups_claim: str | None = None,
        hmac_keys: bytes | Mapping[str, bytes] | None = None,
        max_token_length: int | None = None,
        cache_size: int = 0,
        rules: JwtRules = STRICT_RULES,
    ) -> None:
        if not isinstance(rules, JwtRules):
            raise ArgumentTypeError("JwtValidator: rules must be a JwtRules (STRICT_RULES...)")
        self._rules = rules
        self._algorithms = _check_algorithms(algorithms, has_hmac_keys=hmac_keys is not None)
        self._hmac = _check_hmac_keys(hmac_keys, self._algorithms)
        if any(alg in ASYMMETRIC_ALGORITHMS for alg in self._algorithms):
            if keys is None:
                raise ConfigurationError(
                    "JwtValidator: keys is required for the algorithms "
                    + ", ".join(a for a in self._algorithms if a in ASYMMETRIC_ALGORITHMS)
                )
            if not callable(getattr(keys, "keys_for", None)):
                raise ArgumentTypeError(
                    "JwtValidator: keys must be a JsonWebKeySet or have keys_for(kid, alg)"
                )
        if keys is not None and not rules.honour_jwk_alg:
            keys = _jose4j_selection(keys)
        self._keys = keys
        self._audiences = _check_names(audience, "audience")
        self._issuers = _check_names(issuer, "issuer")
        self._reject_unexpected_audience = _check_bool(
            reject_unexpected_audience, "reject_unexpected_audience"
        )
        self._require_iat = _check_bool(require_iat, "require_iat")
        if (
            not isinstance(clock_skew_s, int | float)
            or isinstance(clock_skew_s, bool)
            or not math.isfinite(clock_skew_s)
            or clock_skew_s < 0
        ):
            raise ConfigurationError("JwtValidator: clock_skew_s must be a finite number >= 0")
        self._skew = float(clock_skew_s)
        self._scope_claim = _check_claim_name(scope_claim, "scope_claim")
        self._subject_claim = _check_claim_name(subject_claim, "subject_claim")
        self._groups_claim = (
            None if groups_claim is None else _check_claim_name(groups_claim, "groups_claim")
        )
        if max_token_length is None:
            max_token_length = rules.max_token_length
        self._max_token_length = _check_length(max_token_length, "JwtValidator: max_token_length")
        self._claims = self._kafka_claims if rules.claims == "kafka" else self._rfc9068_claims
        self._verifiers = _make_verifiers(self._algorithms)
        self._headers: dict[bytes, _HeaderVerdict] = {}
        # Off by default: a cache trades memory for skipping repeat signature checks.
        self._cache = None if cache_size == 0 else VerifiedTokenCache(cache_size)

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The accepted ``alg`` values, in the order given."""
        return self._algorithms

    @property
    def rules(self) -> JwtRules:
        """The rules this validator applies (:data:`STRICT_RULES` unless told)."""
        return self._rules

    @property
    def cache(self) -> VerifiedTokenCache | None:
        """The verified-token cache (``cache_size``), if any: its ``hits`` and
        ``misses`` are what :class:`oauthbearer.observe.ObservedValidator` reports."""
        return self._cache

    def __repr__(self) -> str:
        return (
            f"JwtValidator(algorithms={self._algorithms!r}, audience={self._audiences!r}, "
            f"issuer={self._issuers!r}, clock_skew_s={self._skew!r}, "
            f"rules={self._rules.name!r})"
        )

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """Check ``token`` at time ``now`` (epoch seconds); raise InvalidToken to refuse."""
        if not isinstance(token, str):
            raise ArgumentTypeError("JwtValidator.validate: token must be a str")
        # Exact float or int first (the hot path); subclasses take the full test.
        if (type(now) is not float and type(now) is not int) or not -_INFINITY < now < _INFINITY:
            _check_now(now)
        if len(token) > self._max_token_length:
            _refuse(
                TokenReason.TOO_LARGE,
                f"the JWT is {len(token)} characters long, more than max_token_length "
                f"({self._max_token_length})",
            )
        # 1. The shape: ASCII, mapped to the standard base64 alphabet (see
        # TO_STANDARD_ALPHABET); binascii's strict mode refuses any stray byte.
        try:
            data = token.encode("ascii")
        except UnicodeEncodeError:
            _refuse(TokenReason.MALFORMED, _shape_problem(token) or _NOT_COMPACT)
        cache = self._cache
        if cache is not None:
            digest = hashlib.sha256(data).digest()
            hit = cache.get(digest, now, self._skew)
            if hit is not None:
                return hit
        shape = token  # what a refusal's shape diagnosis looks at
        if b"=" in data and self._rules.padded_base64url:
            # jose4j reads a part up to its first '=': drop the rest of each part.
            # The signature covers the header and payload as they came.
            signed = data[: data.rfind(b".")]
            shape = ".".join(part.partition("=")[0] for part in token.split("."))
            parts = shape.encode("ascii").translate(TO_STANDARD_ALPHABET).split(b".")
        else:
            signed = None
            parts = data.translate(TO_STANDARD_ALPHABET).split(b".")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
            _refuse(TokenReason.MALFORMED, _shape_problem(shape) or _NOT_COMPACT)

        # 2. The header: one IdP signs every token with the same few headers,
        # so the verdict on each (a pure function of its bytes) is kept.
        verdict = self._headers.get(parts[0])
        if verdict is None:
            verdict = self._header_verdict(parts[0], shape)
        if isinstance(verdict, _Refusal):
            _refuse(*verdict)
        alg, kid, verify, source = verdict

        # 3. The signature.
        try:
            signature = decode_standard(parts[2])
        except ValueError as error:
            _refuse(TokenReason.MALFORMED, _shape_problem(shape) or f"the JWT signature {error}")
        keys = source.keys_for(kid, alg)
        if not keys:
            which = "no 'kid'" if kid is None else f"kid {show_value(kid)}"
            _refuse(TokenReason.UNKNOWN_KID, f"no configured key fits the JWT ({which}, alg {alg})")
        if len(keys) > MAX_KEYS_TRIED:
            _refuse(
                TokenReason.UNKNOWN_KID,
                f"{len(keys)} configured keys fit the JWT (no 'kid', alg {alg}); "
                f"at most MAX_KEYS_TRIED ({MAX_KEYS_TRIED}) are tried",
            )
        signing_input = data[: len(parts[0]) + 1 + len(parts[1])] if signed is None else signed
        for key in keys:
            if verify(key.key, signature, signing_input):
                break
        else:
            which = "" if kid is None else f", kid {show_value(kid)}"
            count = "the key" if len(keys) == 1 else f"any of the {len(keys)} keys"
            # A stray character in the payload is found here, on the failure path only.
            _refuse(
                TokenReason.BAD_SIGNATURE,
                _shape_problem(shape)
                or f"the JWT signature does not verify with {count} selected (alg {alg}{which})",
            )

        # 4. The claims.
        result = self._claims(token, _json_part(parts[1], "payload", shape), now)
        if cache is not None:
            cache.put(digest, result, kid=kid, alg=alg, key=key, source=source)
        return result

    def can_verify(self, token: str) -> bool:
        """Whether ``token`` is shaped like a JWS whose header this validator
        accepts and whose ``kid`` and ``alg`` select a key it holds. Reads the
        header only and verifies nothing: it is how
        :class:`~oauthbearer.validation.introspection.JwtOrIntrospection` decides to judge
        a token locally rather than introspect it."""
        if not isinstance(token, str) or len(token) > self._max_token_length:
            return False
        try:
            parts = token.encode("ascii").translate(TO_STANDARD_ALPHABET).split(b".")
        except UnicodeEncodeError:
            return False
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
            return False
        verdict = self._headers.get(parts[0])
        if verdict is None:
            try:
                verdict = self._header_verdict(parts[0], token)
            except InvalidToken:
                return False
        if isinstance(verdict, _Refusal):
            return False
        alg, kid, _verify, source = verdict
        return bool(source.keys_for(kid, alg))

    def _source_for(self, alg: str) -> KeySource:
        """Where the keys for ``alg`` come from: the HMAC secrets, or ``keys``."""
        source = self._keys if self._hmac is None or alg not in HMAC_ALGORITHMS else self._hmac
        assert source is not None  # __init__ requires keys for asymmetric algorithms
        return source

    def _header_verdict(self, part: bytes, token: str) -> _HeaderVerdict:
        """Check a header; remember the verdict when the header is small enough."""
        try:
            header = _json_part(part, "header", token)
            alg = header.get("alg")
            if type(alg) is not str or (verify := self._verifiers.get(alg)) is None:
                _refuse(TokenReason.UNSUPPORTED_ALGORITHM, self._alg_problem(header))
            if len(header) > 1:
                self._check_header(header)
            verdict: _HeaderVerdict = (alg, header.get("kid"), verify, self._source_for(alg))
        except InvalidToken as error:
            if _shape_problem(token) is not None:
                raise  # a malformed token: not a verdict on the header alone
            verdict = _Refusal(TokenReason(error.reason), error.detail or error.status)
        if len(part) <= MAX_CACHED_HEADER_LENGTH:
            headers = self._headers
            if len(headers) >= MAX_CACHED_HEADERS:
                headers.clear()
            headers[part] = verdict
        return verdict

    def _alg_problem(self, header: dict[str, Any]) -> str:
        if "alg" not in header:
            return "the JWT header has no 'alg' (RFC 7515 section 4.1.1)"
        alg = header["alg"]
        if isinstance(alg, str) and alg.lower() == "none":
            return "the JWT is unsecured (alg 'none'), which is never accepted"
        allowed = ", ".join(self._algorithms)
        if isinstance(alg, str) and (alg in ASYMMETRIC_ALGORITHMS or alg in HMAC_ALGORITHMS):
            return f"the JWT alg {alg} is not one of the configured algorithms ({allowed})"
        return f"the JWT alg {show_value(alg)} is not a supported algorithm (configured: {allowed})"

    def _check_header(self, header: dict[str, Any]) -> None:
        rules = self._rules
        if "typ" in header and rules.check_typ:
            typ = header["typ"]
            if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
                _refuse(
                    TokenReason.UNSUPPORTED_HEADER,
                    f"the JWT typ {show_value(typ)} is not an access token type "
                    "(JWT, at+jwt or application/at+jwt; RFC 8725 section 3.11)",
                )
        if "crit" in header and (header["crit"] != [] or not rules.jose4j_crit_cty):
            # jose4j refuses what it does not understand, and accepts an empty list.
            _refuse(
                TokenReason.UNSUPPORTED_HEADER,
                "the JWT header has 'crit'; no extension is understood (RFC 7515 section 4.1.11)",
            )
        if "cty" in header:
            cty = header["cty"]
            if (
                not rules.jose4j_crit_cty
                or not isinstance(cty, str)
                or cty.lower() in _NESTED_JWT_TYPES
            ):
                _refuse(
                    TokenReason.UNSUPPORTED_HEADER,
                    "the JWT header has 'cty': nested JWTs are not accepted",
                )
        if "kid" in header:
            kid = header["kid"]
            if not isinstance(kid, str):
                _refuse(TokenReason.UNSUPPORTED_HEADER, "the JWT kid is not a string")
            if len(kid) > MAX_KID_LENGTH:
                _refuse(
                    TokenReason.UNSUPPORTED_HEADER,
                    f"the JWT kid is {len(kid)} characters long, more than MAX_KID_LENGTH "
                    f"({MAX_KID_LENGTH})",
                )

    def _rfc9068_claims(self, token: str, payload: dict[str, Any], now: float) -> OAuthBearerToken:
        skew = self._skew
        exp = _numeric_date(payload, "exp")
        if exp is None:
            _refuse(TokenReason.MISSING_CLAIM, "the JWT has no 'exp' claim, which is required")
        if now - skew >= exp:
            _refuse(
                TokenReason.EXPIRED,
                f"the JWT expired: exp {exp} <= now {now:.3f} - clock skew {skew:g} s",
            )
        start = nbf = _numeric_date(payload, "nbf")
        if nbf is not None and nbf > now + skew:
            _refuse(
                TokenReason.NOT_YET_VALID,
                f"the JWT is not valid yet: nbf {nbf} > now {now:.3f} + clock skew {skew:g} s",
            )
        iat = _numeric_date(payload, "iat")
        if iat is not None:
            if iat > now + skew:
                _refuse(
                    TokenReason.NOT_YET_VALID,
                    f"the JWT is issued in the future: iat {iat} > now {now:.3f} "
                    f"+ clock skew {skew:g} s",
                )
            start = iat
        elif self._require_iat:
            _refuse(
                TokenReason.MISSING_CLAIM,
                "the JWT has no 'iat' claim, which is required (require_iat)",
            )

        self._check_issuer_and_audience(payload)

        name = self._subject_claim
        principal = payload.get(name)
        if type(principal) is not str:
            if name not in payload:
                _refuse(
                    TokenReason.MISSING_CLAIM,
                    f"the JWT has no {show_value(name)} claim (the principal)",
                )
            _refuse(
                TokenReason.INVALID_CLAIM,
                f"the JWT {show_value(name)} claim (the principal) is not a string",
            )
        if not principal or principal.strip() != principal or not principal.isprintable():
            _refuse(
                TokenReason.INVALID_CLAIM,
                f"the JWT {show_value(name)} claim (the principal) is blank, has surrounding "
                "whitespace or holds control characters",
            )

        scope = self._scope(payload)
        if self._groups_claim is not None:
            self._check_groups(payload)

        # Every field is checked above; skip the dataclass's own checks.
        return OAuthBearerToken._checked_by_validator(
            token,
            principal,
            scope,
            exp * 1000 if type(exp) is int else _to_ms(exp),
            None if start is None else start * 1000 if type(start) is int else _to_ms(start),
            types.MappingProxyType(payload),
        )

    def _check_issuer_and_audience(self, payload: dict[str, Any]) -> None:
        """The ``iss`` and ``aud`` claims (RFC 7519 sections 4.1.1 and 4.1.3), for
        both rule sets: each test is made once; a refusal's branch only words it."""
        issuers = self._issuers
        if issuers is not None:
            iss = payload.get("iss")
            if type(iss) is not str or iss not in issuers:
                _refuse(
                    TokenReason.WRONG_ISSUER,
                    "the JWT has no 'iss' claim; an issuer is configured"
                    if "iss" not in payload
                    else f"the JWT issuer {show_value(iss)} is not the configured issuer",
                )

        audiences = self._audiences
        if "aud" not in payload:
            if audiences is not None:
                _refuse(
                    TokenReason.WRONG_AUDIENCE,
                    "the JWT has no 'aud' claim; an audience is configured",
                )
            return
        if audiences is None:
            if self._reject_unexpected_audience:
                _refuse(
                    TokenReason.WRONG_AUDIENCE,
                    "the JWT has an 'aud' claim but no audience is configured "
                    "(reject_unexpected_audience)",
                )
            return
        aud = payload["aud"]
        if type(aud) is str:
            held = aud in audiences
        elif type(aud) is list and {*map(type, aud)} <= _STRING_TYPE:
            held = not audiences.isdisjoint(aud)
        else:
            _refuse(
                TokenReason.WRONG_AUDIENCE,
                "the JWT 'aud' claim is not a string or an array of strings",
            )
        if not held:
            _refuse(
                TokenReason.WRONG_AUDIENCE,
                f"the JWT audience {show_value(aud)} holds none of the configured audiences",
            )

    def _scope(self, payload: dict[str, Any]) -> frozenset[str]:
        """The scope claim: a space-delimited string or an array of strings, read
        by :func:`~oauthbearer.token.parse_scope`; absent, no scope."""
        value = payload.get(self._scope_claim)
        if value is None:
            return _NO_SCOPE
        if type(value) is str or type(value) is list:
            try:
                return parse_scope(value)
            except ArgumentTypeError:  # an array holding something other than strings
                pass
        _refuse(
            TokenReason.INVALID_CLAIM,
            f"the JWT {show_value(self._scope_claim)} claim (the scope) is not a string "
            "or an array of strings",
        )

    def _check_groups(self, payload: dict[str, Any]) -> None:
        name = self._groups_claim
        if name is not None and name in payload:
            groups = payload[name]
            if type(groups) is not list or not all(type(item) is str for item in groups):
                _refuse(
                    TokenReason.INVALID_CLAIM,
                    f"the JWT {show_value(name)} claim is not an array of strings",
                )

    def _kafka_claims(self, token: str, payload: dict[str, Any], now: float) -> OAuthBearerToken:
        """Kafka's broker's claim rules (:mod:`oauthbearer.kafka_claims`), in its order:
        jose4j's checks, then Kafka's own."""
        exp = jose4j_seconds(payload, "exp")
        iat = jose4j_seconds(payload, "iat")
        nbf = jose4j_seconds(payload, "nbf")
        if exp is None:
            _refuse(TokenReason.MISSING_CLAIM, "the JWT has no 'exp' claim, which is required")
        if iat is None and self._require_iat:
            _refuse(
                TokenReason.MISSING_CLAIM,
                "the JWT has no 'iat' claim, which is required (require_iat)",
            )
        problem = jose4j_time_problem(now, self._skew, exp, iat, nbf)
        if problem is not None:
            _refuse(*problem)
        self._check_issuer_and_audience(payload)
        # jose4j's default validators read these registered claims as strings.
        for name in _JOSE4J_STRING_CLAIMS:
            value = payload.get(name)
            if value is not None and type(value) is not str:
                _refuse(TokenReason.INVALID_CLAIM, f"the JWT {name!r} claim is not a string")
        if self._groups_claim is not None:
            self._check_groups(payload)
        scope = kafka_scope(self._scope_claim, payload.get(self._scope_claim))
        lifetime_ms = kafka_millis("exp", exp)
        principal = kafka_subject(self._subject_claim, payload.get(self._subject_claim))
        start_ms = None if iat is None else kafka_millis("iat", iat)
        return OAuthBearerToken._checked_by_validator(
            token, principal, scope, lifetime_ms, start_ms, types.MappingProxyType(payload)
        )


# --- Parts -----------------------------------------------------------------------


def _json_part(part: bytes, which: str, token: str) -> dict[str, Any]:
    """A JSON object part of the token (mapped to the standard alphabet), strictly decoded."""
    try:
        raw = decode_standard(part)
    except ValueError as error:
        _refuse(TokenReason.MALFORMED, _shape_problem(token) or f"the JWT {which} {error}")
    try:
        value = loads_strict(raw)
    except ValueError as error:
        _refuse(TokenReason.MALFORMED, f"the JWT {which} is not valid JSON: {error}")
    if type(value) is not dict:
        _refuse(TokenReason.MALFORMED, f"the JWT {which} is JSON but not an object")
    return value


def _shape_problem(token: str) -> str | None:
    """Why a token is not three non-empty base64url parts, if it is not (failure path only)."""
    if not token:
        return "the token is empty"
    parts = token.split(".")
    if len(parts) == 5:
        return "the token has 5 parts: an encrypted JWT (JWE), which is not accepted"
    if len(parts) != 3:
        return (
            f"the token has {len(parts)} dot-separated parts; a signed JWT (RFC 7515 "
            "section 7.1) has 3"
        )
    offset = 0
    for which, part in zip(("header", "payload", "signature"), parts, strict=True):
        if not part:
            hint = " (an unsecured JWT, alg 'none'?)" if which == "signature" else ""
            return f"the JWT {which} is empty{hint}"
        for index, char in enumerate(part):
            if char not in _BASE64URL_CHARS:
                what = "padding '='" if char == "=" else "a character outside base64url"
                return f"the JWT {which} holds {what} at offset {offset + index}"
        offset += len(part) + 1
    return None


def _check_now(now: object) -> None:
    """Refuse a ``now`` that is not a finite number (the slow path of validate's test)."""
    if not isinstance(now, int | float) or isinstance(now, bool) or not math.isfinite(now):
        raise ArgumentTypeError("JwtValidator.validate: now must be a finite number")


def _numeric_date(payload: dict[str, Any], name: str) -> int | float | None:
    """A NumericDate claim (RFC 7519 section 2): its value, or None when absent.

    Refuses one that is not a JSON number (a boolean is not) or lies outside 0 to
    :data:`MAX_NUMERIC_DATE`; the test is made once, the refusal only worded."""
    value = payload.get(name)
    if type(value) is int or type(value) is float:
        if 0 <= value <= MAX_NUMERIC_DATE:
            return value
        _refuse(
            TokenReason.INVALID_CLAIM,
            f"the JWT {name!r} claim is out of range (0 to {MAX_NUMERIC_DATE})",
        )
    if value is None and name not in payload:
        return None
    _refuse(
        TokenReason.INVALID_CLAIM, f"the JWT {name!r} claim is not a number (RFC 7519 NumericDate)"
    )


def _to_ms(seconds: int | float) -> int:
    # An int times 1000 is exact and floor() keeps it; a float is floored to the ms.
    return math.floor(seconds * 1000)


# --- Configuration ---------------------------------------------------------------


def _check_algorithms(algorithms: Sequence[str], *, has_hmac_keys: bool) -> tuple[str, ...]:
    if isinstance(algorithms, str) or not isinstance(algorithms, Iterable):
        raise ArgumentTypeError(
            "JwtValidator: algorithms must be a sequence of names, such as ('RS256',)"
        )
    result: list[str] = []
    for alg in algorithms:
        if not isinstance(alg, str):
            raise ArgumentTypeError("JwtValidator: algorithms must hold strings")
        if alg.lower() == "none":
            raise ConfigurationError(
                "JwtValidator: alg 'none' is never allowed (RFC 8725 section 3.2)"
            )
        if alg in HMAC_ALGORITHMS:
            if not has_hmac_keys:
                raise ConfigurationError(
                    f"JwtValidator: {alg} is allowed only with hmac_keys (RFC 8725 section 3.1)"
                )
        elif alg not in ASYMMETRIC_ALGORITHMS:
            raise ConfigurationError(f"JwtValidator: algorithm {alg!r} is not supported")
        if alg not in result:
            result.append(alg)
    if not result:
        raise ConfigurationError("JwtValidator: algorithms must name at least one algorithm")
    return tuple(result)


def _check_hmac_keys(
    hmac_keys: bytes | Mapping[str, bytes] | None, algorithms: tuple[str, ...]
) -> KeySource | None:
    if hmac_keys is None:
        return None
    hs = [alg for alg in algorithms if alg in HMAC_ALGORITHMS]
    if not hs:
        raise ConfigurationError("JwtValidator: hmac_keys is given but no HS* algorithm is allowed")
    least = max(HMAC_ALGORITHMS[alg] for alg in hs)
    secrets: list[tuple[str | None, object]]
    if isinstance(hmac_keys, bytes):
        secrets = [(None, hmac_keys)]
    elif isinstance(hmac_keys, Mapping):
        secrets = list(hmac_keys.items())
        if not secrets:
            raise ConfigurationError("JwtValidator: hmac_keys is empty")
    else:
        raise ArgumentTypeError("JwtValidator: hmac_keys must be bytes or a mapping kid -> bytes")
    for kid, secret in secrets:
        if kid is not None and not isinstance(kid, str):
            raise ArgumentTypeError("JwtValidator: hmac_keys kids must be strings")
        if not isinstance(secret, bytes):
            raise ArgumentTypeError("JwtValidator: an HMAC secret must be bytes")
        if len(secret) < least:
            raise ConfigurationError(
                f"JwtValidator: an HMAC secret of {len(secret)} bytes is too short for "
                f"{', '.join(hs)}: at least {least} bytes (RFC 7518 section 3.2)"
            )
    if isinstance(hmac_keys, bytes):
        return _SingleSecret(hmac_keys)
    return JsonWebKeySet(
        tuple(JsonWebKey(kid=kid, kty="oct", key=secret) for kid, secret in secrets)
    )


def _check_names(value: str | Iterable[str] | None, option: str) -> frozenset[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Iterable):
        raise ArgumentTypeError(f"JwtValidator: {option} must be a string or strings")
    result = frozenset(names)
    if not result or not all(isinstance(name, str) and name for name in result):
        raise ConfigurationError(f"JwtValidator: {option} must be one or more non-empty strings")
    return result


def _check_claim_name(value: object, option: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"JwtValidator: {option} must be a non-blank string")
    return value


def _jose4j_selection(keys: KeySource) -> KeySource:
    """``keys`` selecting as jose4j does; it must take ``honour_jwk_alg``."""
    try:
        parameters = inspect.signature(keys.keys_for).parameters
    except (TypeError, ValueError):
        parameters = types.MappingProxyType({})
    if "honour_jwk_alg" not in parameters or not isinstance(keys, Jose4jKeySource):
        raise ConfigurationError(
            "JwtValidator: rules with honour_jwk_alg=False need keys whose keys_for takes "
            "honour_jwk_alg (a JsonWebKeySet or a JwksCache)"
        )
    return _Jose4jSelection(keys)


# --- Signature verification ----------------------------------------------------------


#: The hash functions of the ``RS``, ``PS``, ``ES`` and ``HS`` families, by size.
_DIGESTS: Final[Mapping[str, Callable[..., Any]]] = types.MappingProxyType(
    {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
)

#: The DER DigestInfo of each SHA-2 hash before its value (RFC 8017 section 9.2,
#: note 1; parameters NULL, as OpenSSL and every JOSE library encode them).
_DIGEST_INFO_PREFIX: Final[Mapping[str, bytes]] = types.MappingProxyType(
    {
        "256": bytes.fromhex("3031300d060960864801650304020105000420"),
        "384": bytes.fromhex("3041300d060960864801650304020205000430"),
        "512": bytes.fromhex("3051300d060960864801650304020305000440"),
    }
)


def _make_verifiers(algorithms: Collection[str]) -> dict[str, _Verifier]:
    """One verifier per allowed algorithm, each bound to its padding and hash objects."""
    # Lazy (DESIGN.md): importing oauthbearer.validation.jwt must not load cryptography.
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import (  # noqa: PLC0415
        ec,
        ed448,
        ed25519,
        padding,
        rsa,
    )
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        encode_dss_signature,
    )

    failures = (InvalidSignature, ValueError, TypeError)
    hash_types: dict[str, Callable[[], hashes.HashAlgorithm]] = {
        "256": hashes.SHA256,
        "384": hashes.SHA384,
        "512": hashes.SHA512,
    }

    # Concrete key classes that passed the (ABC, so slow) isinstance test once.
    rsa_types: set[type] = set()

    def is_rsa(key: Any) -> bool:
        if type(key) not in rsa_types:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            rsa_types.add(type(key))
        return True

    pkcs1 = padding.PKCS1v15()

    def pkcs1_verifier(bits: str) -> _Verifier:
        """RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2.2) by its second method: open
        the signature with the public key, which checks the padding
        (``00 01 FF..FF 00``, at least eight ``FF``), then compare what is left
        with the DigestInfo the signing input must have, byte for byte. This is
        how OpenSSL's ``RSA_verify`` decides too, at about 10% less cost than
        ``key.verify``, which sets up a digest context per call."""
        prefix = _DIGEST_INFO_PREFIX[bits]
        digest = _DIGESTS[bits]

        def verify(key: Any, signature: bytes, data: bytes) -> bool:
            if not is_rsa(key):
                return False
            # RSA_verify's length rule: exactly as long as the modulus (opening
            # alone would also take a signature stripped of leading zeros).
            if len(signature) != (key.key_size + 7) // 8:
                return False
            try:
                opened = key.recover_data_from_signature(signature, pkcs1, None)
            except failures:
                return False
            return hmac.compare_digest(opened, prefix + digest(data).digest())

        return verify

    def pss_verifier(pss: padding.PSS, hash_: hashes.HashAlgorithm) -> _Verifier:
        def verify(key: Any, signature: bytes, data: bytes) -> bool:
            if not is_rsa(key):
                return False
            try:
                key.verify(signature, data, pss, hash_)
            except failures:
                return False
            return True

        return verify

    def ec_verifier(curve: str, hash_: hashes.HashAlgorithm) -> _Verifier:
        size = EC_COORDINATE_SIZE[curve]
        curve_name = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}[curve]
        algorithm = ec.ECDSA(hash_)

        def verify(key: Any, signature: bytes, data: bytes) -> bool:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve_name:
                return False
            # RFC 7518 section 3.4: R and S as big-endian octets of the curve size each.
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            try:
                key.verify(encode_dss_signature(r, s), data, algorithm)
            except failures:
                return False
            return True

        return verify

    def eddsa_verify(key: Any, signature: bytes, data: bytes) -> bool:
        if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            return False
        try:
            key.verify(signature, data)
        except failures:
            return False
        return True

    def hmac_verifier(digest: Callable[..., Any]) -> _Verifier:
        def verify(key: Any, signature: bytes, data: bytes) -> bool:
            if not isinstance(key, bytes):
                return False
            return hmac.compare_digest(hmac.new(key, data, digest).digest(), signature)

        return verify

    verifiers: dict[str, _Verifier] = {}
    for alg in algorithms:
        bits = alg[2:]
        if alg.startswith("RS"):
            verifiers[alg] = pkcs1_verifier(bits)
        elif alg.startswith("PS"):
            hash_ = hash_types[bits]()
            pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
            verifiers[alg] = pss_verifier(pss, hash_)
        elif alg.startswith("ES"):
            curve = {"256": "P-256", "384": "P-384", "512": "P-521"}[bits]
            verifiers[alg] = ec_verifier(curve, hash_types[bits]())
        elif alg == "EdDSA":
            verifiers[alg] = eddsa_verify
        else:
            verifiers[alg] = hmac_verifier(_DIGESTS[bits])
    return verifiers
