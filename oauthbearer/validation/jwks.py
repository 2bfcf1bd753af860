"""JSON Web Key Sets (RFC 7517): parsed once into ready-to-verify public keys.

Theory of operation
-------------------
An identity provider publishes its signing keys as a JWKS document, a JSON
object whose ``keys`` member lists JWKs (RFC 7517 section 5).
:meth:`JsonWebKeySet.from_json` and :meth:`JsonWebKeySet.from_dict` read such a
document once, and turn every usable JWK into a :class:`JsonWebKey` that holds
a loaded ``cryptography`` public key object. Validating a token then costs one
dictionary lookup and one signature check, never a key parse.

A key the set cannot use is *skipped*, with a reason, and listed in
:attr:`JsonWebKeySet.skipped`: providers publish encryption keys (``use`` is
``enc``), key-agreement curves and algorithms we do not verify next to their
signing keys, and one odd key must not take down the others. A set left with
no usable key at all is a :class:`~oauthbearer.errors.ConfigurationError`. So
is a document that breaks the limits below, that is not JSON, or that holds
*private* key material (``d``, ``p``, ``q``...): a provider that publishes a
private key has lost it, and none of its keys deserve trust (RFC 7517
section 9.2 requires that private keys be kept confidential).

Key selection (:meth:`JsonWebKeySet.keys_for`) follows RFC 7515 section
4.1.4 and RFC 8725 section 3.1: a token with a ``kid`` selects the keys with
exactly that ``kid``; a token without one selects every key. Either way only
keys whose type (``kty``, and ``crv`` for curves) fits the token's ``alg``
remain, and a JWK that names an ``alg`` of its own is used for that algorithm
only. An RSA key can therefore never be used to check an ``HS256`` MAC (the
"algorithm confusion" attack of RFC 8725 section 2.1). With
``honour_jwk_alg=False`` the selection is jose4j's, as Kafka's broker uses it:
a JWK's own ``alg`` only breaks a tie between several fitting keys, and only
the first key left is offered.

Base64url here is strict (:func:`b64url_decode`): the RFC 4648 section 5
alphabet, no padding (RFC 7515 section 2), and canonical (RFC 4648 section
3.5: the unused bits of the last character are zero), so that every value has
exactly one encoding.

This module is pure: no I/O, no clock. ``cryptography`` is imported only when
a key set is built (lazily, as DESIGN.md asks: hence the ``PLC0415`` waivers).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from oauthbearer._json import loads_strict
from oauthbearer._text import show_value
from oauthbearer.errors import ArgumentTypeError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "MAX_JWKS_SIZE",
    "MAX_KEYS",
    "MAX_KID_LENGTH",
    "MIN_RSA_KEY_BITS",
    "Jose4jKeySource",
    "JsonWebKey",
    "JsonWebKeySet",
    "KeySource",
]

# --- Limits ---------------------------------------------------------------------

#: Largest JWKS document read, in bytes. Real sets hold a handful of keys (an
#: RSA JWK with an ``x5c`` chain is about 3 KiB); 512 KiB is far above any of
#: them and small enough that parsing it cannot hurt.
MAX_JWKS_SIZE: Final = 512 * 1024

#: Most keys a set may list. Providers publish two to five (current, next,
#: previous); a hundred leaves room for multi-tenant sets without letting a
#: token without ``kid`` make the server try thousands of keys.
MAX_KEYS: Final = 100

#: Longest ``kid`` accepted, in a JWK or a token header: Apache Kafka's
#: ``MISSING_KEY_ID_MAX_KEY_LENGTH``.
MAX_KID_LENGTH: Final = 1000

#: Smallest RSA modulus accepted, in bits: RFC 7518 section 3.3 ("a key of
#: size 2048 bits or larger MUST be used") and NIST SP 800-131A.
MIN_RSA_KEY_BITS: Final = 2048

# --- Algorithms and key types ----------------------------------------------------

#: The key type and curve each signature algorithm needs (RFC 7518 section 3.1,
#: RFC 8037 section 3.1). ``crv`` ``None`` means the key type has no curve.
_ALG_KEYS: Final[Mapping[str, tuple[str, frozenset[str | None]]]] = {
    "RS256": ("RSA", frozenset({None})),
    "RS384": ("RSA", frozenset({None})),
    "RS512": ("RSA", frozenset({None})),
    "PS256": ("RSA", frozenset({None})),
    "PS384": ("RSA", frozenset({None})),
    "PS512": ("RSA", frozenset({None})),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "HS256": ("oct", frozenset({None})),
    "HS384": ("oct", frozenset({None})),
    "HS512": ("oct", frozenset({None})),
}

#: Bytes of one coordinate (and of one ECDSA signature half) per curve.
EC_COORDINATE_SIZE: Final[Mapping[str, int]] = {"P-256": 32, "P-384": 48, "P-521": 66}
_OKP_KEY_SIZE: Final[Mapping[str, int]] = {"Ed25519": 32, "Ed448": 57}

#: Members that only a private JWK has (RFC 7518 sections 6.2.2, 6.3.2, 6.4;
#: RFC 8037 section 2). ``k`` is the secret of a symmetric key, handled apart.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


# --- Base64url -------------------------------------------------------------------

#: The last character of a canonical encoding, by length mod 4 (RFC 4648 3.5):
#: its bits beyond the data must be zero.
_CANONICAL_LAST: Final = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}
#: base64url to the standard alphabet, so that binascii's strict mode can decode
#: it; the standard alphabet's own ``+`` and ``/``, and ``=``, become ``*``,
#: which strict mode refuses. One C-speed pass maps and guards the whole input.
TO_STANDARD_ALPHABET: Final = bytes.maketrans(b"-_+/=", b"+/***")
_PADDING: Final = (b"", b"", b"==", b"=")
_NOT_BASE64URL: Final = "holds a character outside the base64url alphabet ('=' included)"


def b64url_decode(text: str) -> bytes:
    """Decode unpadded, canonical base64url; raise :class:`ValueError` saying why not."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(_NOT_BASE64URL) from None
    return decode_standard(data.translate(TO_STANDARD_ALPHABET))


def decode_standard(part: bytes) -> bytes:
    """Decode base64url already mapped by :data:`TO_STANDARD_ALPHABET`.

    binascii's strict mode refuses every byte outside the standard alphabet
    (the mapping turned the original ``+``, ``/`` and ``=`` into ``*``), and
    the unused bits of the last character must be zero.
    """
    remainder = len(part) % 4
    if remainder == 1:
        if b"*" in part:
            raise ValueError(_NOT_BASE64URL)
        raise ValueError("has a length that no base64url encoding has")
    try:
        decoded = binascii.a2b_base64(part + _PADDING[remainder], strict_mode=True)
    except binascii.Error:
        raise ValueError(_NOT_BASE64URL) from None
    if remainder and part[-1] not in _CANONICAL_LAST[remainder]:
        raise ValueError("is not canonical base64url (the unused bits are not zero)")
    return decoded


# --- Keys ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JsonWebKey:
    """One usable verification key of a JWKS.

    ``key`` is the loaded ``cryptography`` public key (``RSAPublicKey``,
    ``EllipticCurvePublicKey``, ``Ed25519PublicKey`` or ``Ed448PublicKey``),
    or the secret bytes of a symmetric (``oct``) key; it never appears in
    ``repr``. ``crv`` is the curve of an ``EC`` or ``OKP`` key. ``kid``, ``alg``,
    ``use`` and ``key_ops`` are the JWK's members, ``None`` when absent.
    """

    kid: str | None
    kty: str
    alg: str | None = None
    use: str | None = None
    crv: str | None = None
    key_ops: tuple[str, ...] | None = None
    key: Any = dataclasses.field(repr=False, compare=False)
    #: The RFC 7638 thumbprint: a digest of the key material, the same for the
    #: same key in any JWKS. ``None`` for a key not loaded from a JWK.
    thumbprint: str | None = dataclasses.field(default=None, repr=False)

    def fits(self, alg: str, *, honour_alg: bool = True) -> bool:
        """Whether this key may check a signature made with ``alg``: its type
        (and curve) must fit, and so must the JWK's own ``alg``, if it names
        one, unless ``honour_alg`` is false."""
        wanted = _ALG_KEYS.get(alg)
        if wanted is None or self.kty != wanted[0] or self.crv not in wanted[1]:
            return False
        return self.alg is None or self.alg == alg or not honour_alg


@runtime_checkable
class KeySource(Protocol):
    """Anything that selects verification keys for a token: a key set, or a cache of one."""

    def keys_for(self, kid: str | None, alg: str) -> Sequence[JsonWebKey]: ...


@runtime_checkable
class Jose4jKeySource(Protocol):
    """A :class:`KeySource` that can also select keys as jose4j does (Kafka's
    broker): :class:`JsonWebKeySet` and :class:`~oauthbearer.validation.jwks_cache.JwksCache`."""

    def keys_for(
        self, kid: str | None, alg: str, *, honour_jwk_alg: bool = True
    ) -> Sequence[JsonWebKey]: ...


class _Skip(Exception):
    """A JWK this set cannot use; the message is the reason."""


@dataclasses.dataclass(frozen=True, slots=True)
class JsonWebKeySet:
    """The usable keys of a JWKS, loaded once, and the keys skipped with their reasons.

    Build one with :meth:`from_json` or :meth:`from_dict`. ``skipped`` lists
    ``(kid, reason)`` for every JWK that was left out (``kid`` is ``None`` when
    the JWK had none, or had an unusable one).
    """

    keys: tuple[JsonWebKey, ...]
    skipped: tuple[tuple[str | None, str], ...] = ()
    _by_kid: Mapping[str, tuple[JsonWebKey, ...]] = dataclasses.field(
        init=False, repr=False, compare=False
    )
    # keys_for's answers for kids in the set (bounded: kids x algorithms); an
    # unknown kid, which a client chooses, is never remembered.
    _selected: dict[tuple[str | None, str], tuple[JsonWebKey, ...]] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.keys, tuple) or not all(
            isinstance(key, JsonWebKey) for key in self.keys
        ):
            raise ArgumentTypeError("JsonWebKeySet.keys must be a tuple of JsonWebKey")
        if not self.keys:
            raise ConfigurationError("the JWKS has no usable key" + _skipped_text(self.skipped))
        if len(self.keys) > MAX_KEYS:
            raise ConfigurationError(f"the JWKS has more than {MAX_KEYS} keys (MAX_KEYS)")
        by_kid: dict[str, tuple[JsonWebKey, ...]] = {}
        for key in self.keys:
            if key.kid is not None:
                by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        object.__setattr__(self, "_by_kid", by_kid)
        object.__setattr__(self, "_selected", {})

    @classmethod
    def from_json(cls, data: bytes | str, *, allow_symmetric: bool = False) -> JsonWebKeySet:
        """Parse a JWKS document (UTF-8 JSON, at most :data:`MAX_JWKS_SIZE` bytes)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArgumentTypeError("JsonWebKeySet.from_json: data must be bytes or str")
        if len(data) > MAX_JWKS_SIZE:
            raise ConfigurationError(
                f"the JWKS document is {len(data)} bytes, more than MAX_JWKS_SIZE ({MAX_JWKS_SIZE})"
            )
        try:
            document = loads_strict(bytes(data))
        except ValueError as error:
            raise ConfigurationError(f"the JWKS document is not valid JSON: {error}") from None
        return cls.from_dict(document, allow_symmetric=allow_symmetric)

    @classmethod
    def from_dict(cls, jwks: Mapping[str, Any], *, allow_symmetric: bool = False) -> JsonWebKeySet:
        """Load the keys of a parsed JWKS document (RFC 7517 section 5).

        ``allow_symmetric`` admits ``oct`` keys (shared HMAC secrets); without it
        they are skipped, since a published JWKS should never hold one.
        """
        if not isinstance(jwks, Mapping):
            raise ConfigurationError("the JWKS is not a JSON object")
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise ConfigurationError("the JWKS has no 'keys' array (RFC 7517 section 5.1)")
        if len(entries) > MAX_KEYS:
            raise ConfigurationError(
                f"the JWKS lists {len(entries)} keys, more than MAX_KEYS ({MAX_KEYS})"
            )
        keys: list[JsonWebKey] = []
        skipped: list[tuple[str | None, str]] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                skipped.append((None, f"keys[{index}] is not a JSON object"))
                continue
            kid = entry.get("kid")
            shown = kid if isinstance(kid, str) and len(kid) <= MAX_KID_LENGTH else None
            private = sorted(_PRIVATE_MEMBERS.intersection(entry))
            if private and entry.get("kty") != "oct":
                raise ConfigurationError(
                    f"keys[{index}] holds private key material ({', '.join(private)}); "
                    "a JWKS must publish public keys only, so the whole set is refused"
                )
            try:
                keys.append(_load(entry, allow_symmetric=allow_symmetric))
            except _Skip as skip:
                skipped.append((shown, f"keys[{index}]: {skip}"))
        return cls(tuple(keys), tuple(skipped))

    def keys_for(
        self, kid: str | None, alg: str, *, honour_jwk_alg: bool = True
    ) -> tuple[JsonWebKey, ...]:
        """The keys that may check a token signed with ``alg``, carrying ``kid`` (or none).

        With ``honour_jwk_alg=False``, the selection of jose4j's
        ``VerificationJwkSelector``, which Kafka's broker uses: the keys with
        the ``kid`` (or all) whose type fits ``alg``; a JWK's own ``alg`` only
        breaks a tie between several of them (keys naming another ``alg`` are
        then dropped); and only the first key left is returned, since Kafka
        tries one key.
        """
        if not honour_jwk_alg:
            return self._jose4j_selection(kid, alg)
        selected = self._selected.get((kid, alg))
        if selected is not None:
            return selected
        candidates = self.keys if kid is None else self._by_kid.get(kid)
        if candidates is None:
            return ()
        selected = tuple(key for key in candidates if key.fits(alg))
        if alg in _ALG_KEYS:
            self._selected[(kid, alg)] = selected
        return selected

    def _jose4j_selection(self, kid: str | None, alg: str) -> tuple[JsonWebKey, ...]:
        candidates = self.keys if kid is None else self._by_kid.get(kid, ())
        fitting = [key for key in candidates if key.fits(alg, honour_alg=False)]
        if len(fitting) > 1:
            fitting = [key for key in fitting if key.alg is None or key.alg == alg]
        return tuple(fitting[:1])

    def __len__(self) -> int:
        return len(self.keys)


def _skipped_text(skipped: Iterable[tuple[str | None, str]]) -> str:
    reasons = [reason for _, reason in skipped]
    return f" (skipped: {'; '.join(reasons)})" if reasons else ""


def _load(jwk: Mapping[str, Any], *, allow_symmetric: bool) -> JsonWebKey:
    """One JWK as a :class:`JsonWebKey`; raise :class:`_Skip` with the reason it is unusable."""
    kid = jwk.get("kid")
    if kid is not None:
        if not isinstance(kid, str):
            raise _Skip("'kid' is not a string")
        if len(kid) > MAX_KID_LENGTH:
            raise _Skip(f"'kid' is longer than MAX_KID_LENGTH ({MAX_KID_LENGTH})")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise _Skip(f"'use' is {show_value(use)}, not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None:
        if not isinstance(key_ops, list) or not all(isinstance(op, str) for op in key_ops):
            raise _Skip("'key_ops' is not an array of strings")
        if "verify" not in key_ops:
            raise _Skip("'key_ops' does not include 'verify'")
        key_ops = tuple(key_ops)
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in _ALG_KEYS):
        raise _Skip(f"'alg' {show_value(alg)} is not a supported signature algorithm")
    kty = jwk.get("kty")
    crv: str | None = None
    key: Any
    if kty == "RSA":
        key = _load_rsa(jwk)
    elif kty == "EC":
        crv, key = _load_ec(jwk)
    elif kty == "OKP":
        crv, key = _load_okp(jwk)
    elif kty == "oct":
        if not allow_symmetric:
            raise _Skip("symmetric ('oct') keys are not allowed (allow_symmetric=False)")
        key = _member_bytes(jwk, "k")
        if not key:
            raise _Skip("'k' is empty")
    else:
        raise _Skip(f"'kty' {show_value(kty)} is not RSA, EC, OKP or oct")
    loaded = JsonWebKey(
        kid=kid,
        kty=kty,
        alg=alg,
        use=use,
        crv=crv,
        key_ops=key_ops,
        key=key,
        thumbprint=jwk_thumbprint(jwk),
    )
    if alg is not None and not loaded.fits(alg):
        raise _Skip(f"'alg' {alg} does not fit a {kty} key" + (f" on {crv}" if crv else ""))
    return loaded


#: RFC 7638 section 3.2: the members a thumbprint covers, per key type.
_THUMBPRINT_MEMBERS: Final = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK whose members are already checked:
    the required members in lexicographic order, as compact JSON, hashed."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _member_bytes(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise _Skip(f"'{name}' is missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError as error:
        raise _Skip(f"'{name}' {error}") from None


def _load_rsa(jwk: Mapping[str, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers  # noqa: PLC0415

    n = int.from_bytes(_member_bytes(jwk, "n"), "big")
    e = int.from_bytes(_member_bytes(jwk, "e"), "big")
    if n.bit_length() < MIN_RSA_KEY_BITS:
        raise _Skip(
            f"the RSA key has {n.bit_length()} bits, fewer than MIN_RSA_KEY_BITS "
            f"({MIN_RSA_KEY_BITS})"
        )
    try:
        return RSAPublicNumbers(e, n).public_key()
    except ValueError as error:
        raise _Skip(f"not a valid RSA public key: {error}") from None


def _load_ec(jwk: Mapping[str, Any]) -> tuple[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    crv = jwk.get("crv")
    curves: dict[str, Callable[[], ec.EllipticCurve]] = {
        "P-256": ec.SECP256R1,
        "P-384": ec.SECP384R1,
        "P-521": ec.SECP521R1,
    }
    if not isinstance(crv, str) or crv not in curves:
        raise _Skip(f"'crv' {show_value(crv)} is not P-256, P-384 or P-521")
    x, y = _member_bytes(jwk, "x"), _member_bytes(jwk, "y")
    size = EC_COORDINATE_SIZE[crv]
    # RFC 7518 section 6.2.1.2: the coordinates MUST be the full size of the curve.
    if len(x) != size or len(y) != size:
        raise _Skip(f"'x' and 'y' must be {size} bytes each on {crv}")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(curves[crv](), b"\x04" + x + y)
    except ValueError:
        raise _Skip(f"('x', 'y') is not a point on {crv}") from None
    return crv, key


def _load_okp(jwk: Mapping[str, Any]) -> tuple[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519  # noqa: PLC0415

    crv = jwk.get("crv")
    if not isinstance(crv, str) or crv not in _OKP_KEY_SIZE:
        # X25519 and X448 (RFC 8037 section 2) are key agreement curves.
        raise _Skip(f"'crv' {show_value(crv)} is not Ed25519 or Ed448")
    x = _member_bytes(jwk, "x")
    if len(x) != _OKP_KEY_SIZE[crv]:
        raise _Skip(f"'x' must be {_OKP_KEY_SIZE[crv]} bytes on {crv}")
    try:
        if crv == "Ed25519":
            return crv, ed25519.Ed25519PublicKey.from_public_bytes(x)
        return crv, ed448.Ed448PublicKey.from_public_bytes(x)
    except Exception:  # noqa: BLE001 - UnsupportedAlgorithm when OpenSSL lacks Ed448
        raise _Skip(f"{crv} is not supported by this cryptography build") from None
