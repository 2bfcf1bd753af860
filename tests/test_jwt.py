"""JwtValidator: every rule, accepted and refused, and identity providers' token shapes."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken, TokenReason
from oauthbearer.kafka_claims import KAFKA_MAX_TOKEN_LENGTH
from oauthbearer.session import ServerSession
from oauthbearer.token import TokenValidator
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwks_cache import JwksCache
from oauthbearer.validation.jwt import (
    KAFKA_RULES,
    MAX_KEYS_TRIED,
    MAX_TOKEN_LENGTH,
    STRICT_RULES,
    JwtRules,
    JwtValidator,
)
from tests.test_jwks import b64url, private_key, public_jwk

NOW = 1_800_000_000.0
SECRET = b"k" * 64

#: alg -> the named test key that signs it.
SIGNERS = {
    "RS256": "rsa",
    "RS384": "rsa",
    "RS512": "rsa",
    "PS256": "rsa",
    "PS384": "rsa",
    "PS512": "rsa",
    "ES256": "p256",
    "ES384": "p384",
    "ES512": "p521",
    "EdDSA": "ed25519",
}
ASYMMETRIC = tuple(SIGNERS)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "alice", "iat": int(NOW) - 10, "exp": int(NOW) + 3600}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def key_set(*names: str) -> JsonWebKeySet:
    names = names or ("rsa", "p256", "p384", "p521", "ed25519", "ed448")
    return JsonWebKeySet.from_dict({"keys": [public_jwk(name, name) for name in names]})


def sign(
    payload: dict[str, Any], alg: str = "RS256", *, kid: str | None = "", **header: Any
) -> str:
    """A token signed by pyjwt, with ``kid`` the signing key's name unless given."""
    key = SECRET if alg.startswith("HS") else private_key(SIGNERS[alg])
    if kid == "":
        kid = None if alg.startswith("HS") else SIGNERS[alg]
    if kid is not None:
        header["kid"] = kid
    return pyjwt.encode(payload, key, algorithm=alg, headers=header or None)


def raw_signature(alg: str, key: Any, data: bytes) -> bytes:
    """Sign ``data`` by hand (for headers and payloads pyjwt would not write)."""
    bits = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
    if alg.startswith("HS"):
        digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[2:]]
        return hmac.new(key, data, digest).digest()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), bits[alg[2:]])  # type: ignore[no-any-return]
    if alg.startswith("PS"):
        hash_ = bits[alg[2:]]
        pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
        return key.sign(data, pss, hash_)  # type: ignore[no-any-return]
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(bits[alg[2:]])))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(data)  # type: ignore[no-any-return]


def forge(
    header: dict[str, Any] | bytes | str,
    payload: dict[str, Any] | bytes | str,
    alg: str = "RS256",
    *,
    signer: str | None = None,
) -> str:
    """A token with exactly the given header and payload, properly signed.

    Bytes and dicts are encoded; a str is used as the base64url part as is.
    ``signer`` names the key, by default the one for ``alg``.
    """
    parts = [
        part
        if isinstance(part, str)
        else b64url(part if isinstance(part, bytes) else json.dumps(part).encode())
        for part in (header, payload)
    ]
    signing_input = ".".join(parts).encode()
    key = SECRET if alg.startswith("HS") else private_key(signer or SIGNERS[alg])
    return f"{parts[0]}.{parts[1]}.{b64url(raw_signature(alg, key, signing_input))}"


def refusal(validator: JwtValidator, token: str, *, now: float = NOW) -> InvalidToken:
    """The refusal of ``token``."""
    with pytest.raises(InvalidToken) as caught:
        validator.validate(token, now=now)
    return caught.value


def refused(validator: JwtValidator, token: str, *, now: float = NOW) -> str:
    """The detail of the refusal; it never quotes the token or its signature."""
    error = refusal(validator, token, now=now)
    assert error.status == "invalid_token"
    assert error.detail
    if len(token) > 40:
        assert token not in error.detail
    signature = token.rsplit(".", 1)[-1]
    if len(signature) > 8:
        assert signature not in error.detail
    return error.detail


@pytest.fixture(scope="module")
def keys() -> JsonWebKeySet:
    return key_set()


@pytest.fixture(scope="module")
def validator(keys: JsonWebKeySet) -> JwtValidator:
    return JwtValidator(keys, algorithms=ASYMMETRIC)


# --- Accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_every_algorithm_verifies(validator: JwtValidator, alg: str) -> None:
    token = sign(claims(scope="read write"), alg)
    result = validator.validate(token, now=NOW)
    assert result.value == token
    assert result.principal == "alice"
    assert result.scope == frozenset({"read", "write"})
    assert result.lifetime_ms == (int(NOW) + 3600) * 1000
    assert result.start_time_ms == (int(NOW) - 10) * 1000
    assert result.claims["sub"] == "alice"
    # Without a kid, the key is found by alg (and curve).
    assert validator.validate(sign(claims(), alg, kid=None), now=NOW).principal == "alice"


def test_eddsa_with_ed448(validator: JwtValidator) -> None:
    token = pyjwt.encode(
        claims(), private_key("ed448"), algorithm="EdDSA", headers={"kid": "ed448"}
    )
    assert validator.validate(token, now=NOW).principal == "alice"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_a_single_secret(alg: str) -> None:
    validator = JwtValidator(None, algorithms=[alg], hmac_keys=SECRET)
    assert validator.validate(sign(claims(), alg), now=NOW).principal == "alice"
    # A single secret serves whatever kid the token names.
    assert validator.validate(sign(claims(), alg, kid="any"), now=NOW).principal == "alice"
    other = pyjwt.encode(claims(), b"x" * 64, algorithm=alg)
    assert "does not verify" in refused(validator, other)


def test_hmac_keys_by_kid() -> None:
    validator = JwtValidator(
        None, algorithms=["HS256"], hmac_keys={"one": SECRET, "two": b"t" * 32}
    )
    assert validator.validate(sign(claims(), "HS256", kid="one"), now=NOW).principal == "alice"
    assert "no configured key fits the JWT (kid 'three'" in refused(
        validator, sign(claims(), "HS256", kid="three")
    )
    # No kid: both secrets are tried.
    assert validator.validate(sign(claims(), "HS256", kid=None), now=NOW).principal == "alice"


def test_typ_values_accepted(validator: JwtValidator) -> None:
    for typ in ("JWT", "jwt", "at+jwt", "application/at+jwt", "AT+JWT"):
        assert validator.validate(sign(claims(), typ=typ), now=NOW).principal == "alice"
    # pyjwt writes "typ": "JWT"; a header without typ is fine too.
    token = forge({"alg": "RS256", "kid": "rsa"}, claims())
    assert validator.validate(token, now=NOW).principal == "alice"


def test_jku_jwk_x5u_headers_are_ignored(validator: JwtValidator) -> None:
    # An embedded key never replaces the configured ones (RFC 8725 section 3.10).
    attacker = public_jwk("p256")
    token = forge(
        {"alg": "RS256", "kid": "rsa", "jwk": attacker, "jku": "https://evil.example/jwks"},
        claims(),
    )
    assert validator.validate(token, now=NOW).principal == "alice"


def test_the_validator_is_a_token_validator_for_the_server_session(
    validator: JwtValidator,
) -> None:
    assert isinstance(validator, TokenValidator)
    session = ServerSession(validator)
    assert session is not None


# --- Shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("", "the token is empty"),
        ("abc", "has 1 dot-separated parts"),
        ("a.b", "has 2 dot-separated parts"),
        ("a.b.c.d", "has 4 dot-separated parts"),
        ("a.b.c.d.e", "an encrypted JWT (JWE)"),
        ("eyJhbGciOiJub25lIn0.e30.", "the JWT signature is empty (an unsecured JWT"),
        (".e30.abc", "the JWT header is empty"),
        ("e30..abc", "the JWT payload is empty"),
        ("eyJh=.e30.abc", "the JWT header holds padding '=' at offset 4"),
        (" e30.e30.abc", "the JWT header holds a character outside base64url at offset 0"),
        ("H.e3+0.abc", "the JWT payload holds a character outside base64url at offset +"),
        ("H.e30=.abc", "the JWT payload holds padding '=' at offset ="),
        ("H.e3 0.abc", "the JWT payload holds a character outside base64url at offset  "),
        ("H.e30.a/c", "the JWT signature holds a character outside base64url at offset /"),
        ("H.e30.ab c", "the JWT signature holds a character outside base64url at offset  "),
        ("H.e30.abé", "the JWT signature holds a character outside base64url at offset é"),
        ("H.e30.abc\n", "the JWT signature holds a character outside base64url at offset \n"),
    ],
)
def test_shape(validator: JwtValidator, token: str, detail: str) -> None:
    # H: a valid header, so that the payload and the signature are reached.
    token = token.replace("H", b64url(b'{"alg":"RS256","kid":"rsa"}'), 1)
    if "at offset " in detail and not detail[-1].isdigit():
        detail = detail[:-1] + str(token.index(detail[-1]))
    assert detail in refused(validator, token)


def test_token_length_limit(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys, max_token_length=2000)
    fits = sign(claims(pad="x" * 1000))
    assert len(fits) < 2000
    assert validator.validate(fits, now=NOW).principal == "alice"
    big = sign(claims(pad="x" * 2000))
    assert "more than max_token_length (2000)" in refused(validator, big)
    assert MAX_TOKEN_LENGTH == 16 * 1024
    default = JwtValidator(keys)
    huge = sign(claims(pad="x" * MAX_TOKEN_LENGTH))
    assert f"more than max_token_length ({MAX_TOKEN_LENGTH})" in refused(default, huge)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def set_unused_bit(part: str) -> str:
    """The same bytes, encoded non-canonically: the lowest unused bit of the last char set."""
    assert len(part) % 4 in (2, 3)
    return part[:-1] + ALPHABET[ALPHABET.index(part[-1]) + 1]


def unpadded_length(value: str) -> str:
    """``value`` grown until its base64url encoding has unused bits."""
    while len(b64url(value.encode())) % 4 not in (2, 3):
        value += " "
    return value


def test_non_canonical_base64url_is_refused(validator: JwtValidator) -> None:
    header = unpadded_length('{"alg":"RS256","kid":"rsa"}')
    payload = unpadded_length(json.dumps(claims()))
    good = forge(header.encode(), payload.encode())
    assert validator.validate(good, now=NOW).principal == "alice"
    # Header and payload: re-signed over the non-canonical text, so only the encoding is wrong.
    bad_header = forge(set_unused_bit(b64url(header.encode())), payload.encode())
    assert "the JWT header is not canonical base64url" in refused(validator, bad_header)
    bad_payload = forge(header.encode(), set_unused_bit(b64url(payload.encode())))
    assert "the JWT payload is not canonical base64url" in refused(validator, bad_payload)
    # The signature: the same bytes, another spelling (pyjwt accepts it; a malleable token).
    for extra in range(4):
        token = sign(claims(pad="x" * extra), "ES256")
        if len(token.rsplit(".", 1)[1]) % 4 in (2, 3):
            break
    head, signature = token.rsplit(".", 1)
    assert validator.validate(token, now=NOW)
    detail = refused(validator, f"{head}.{set_unused_bit(signature)}")
    assert "the JWT signature is not canonical base64url" in detail


# --- Header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (b"not json", "the JWT header is not valid JSON"),
        (b"[]", "the JWT header is JSON but not an object"),
        (b'{"alg":"RS256","alg":"none"}', "member 'alg' appears twice"),
        (b'{"alg":"RS256","x":NaN}', "NaN is not a JSON number"),
        (b'\xff{"alg":"RS256"}', "not UTF-8 (byte 0)"),
        (b'\xef\xbb\xbf{"alg":"RS256"}', "byte order mark"),
        (b"[" * 100_000, "more than max_token_length"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"typ":"JWT"}', "the JWT header has no 'alg'"),
        (b'{"alg":"none"}', "unsecured (alg 'none'), which is never accepted"),
        (b'{"alg":"None"}', "unsecured (alg 'none')"),
        (b'{"alg":"HS256"}', "the JWT alg HS256 is not one of the configured algorithms"),
        (b'{"alg":"RSA-OAEP"}', "the JWT alg 'RSA-OAEP' is not a supported algorithm"),
        (b'{"alg":256}', "the JWT alg 256 is not a supported algorithm"),
        (b'{"alg":"RS256","typ":"dpop+jwt"}', "the JWT typ 'dpop+jwt' is not an access token"),
        (b'{"alg":"RS256","typ":7}', "the JWT typ 7 is not an access token type"),
        (b'{"alg":"RS256","crit":["exp"]}', "has 'crit'; no extension is understood"),
        (b'{"alg":"RS256","crit":[]}', "has 'crit'"),
        (b'{"alg":"RS256","cty":"JWT"}', "nested JWTs are not accepted"),
        (b'{"alg":"RS256","kid":5}', "the JWT kid is not a string"),
        (b'{"alg":"RS256","kid":"' + b"k" * 1001 + b'"}', "more than MAX_KID_LENGTH (1000)"),
        (b'{"alg":"RS256","kid":"unknown"}', "no configured key fits the JWT (kid 'unknown'"),
        (b'{"alg":"RS256","kid":"p256"}', "no configured key fits the JWT (kid 'p256', alg RS256)"),
    ],
)
def test_header(validator: JwtValidator, header: bytes, detail: str) -> None:
    token = forge(header, claims())
    assert detail in refused(validator, token)
    # The second time, the verdict comes from the header cache, and is the same.
    assert detail in refused(validator, token)


def test_header_verdict_cache_is_bounded(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys)
    for index in range(200):
        token = forge({"alg": "RS256", "kid": "rsa", "n": index}, claims())
        assert validator.validate(token, now=NOW).principal == "alice"
    assert len(validator._headers) <= 64


# --- Algorithms and keys ---------------------------------------------------------------------


def test_alg_none_is_refused_even_unsigned(validator: JwtValidator) -> None:
    header = b64url(b'{"alg":"none","typ":"JWT"}')
    payload = b64url(json.dumps(claims()).encode())
    assert "alg 'none'" in refused(validator, f"{header}.{payload}.")
    assert "alg 'none'" in refused(validator, f"{header}.{payload}.AAAA")


def test_alg_confusion_rsa_public_key_as_hmac_secret(keys: JsonWebKeySet) -> None:
    # The classic attack: sign HS256 with the RSA public key's PEM as the secret.
    pem = (
        private_key("rsa")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64url(b'{"alg":"HS256","kid":"rsa"}')
    payload = b64url(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64url(mac)}"
    assert "HS256 is not one of the configured algorithms" in refused(JwtValidator(keys), token)
    # Even with HS256 allowed, the HMAC secret comes from hmac_keys only.
    both = JwtValidator(keys, algorithms=["RS256", "HS256"], hmac_keys={"other": SECRET})
    assert "no configured key fits the JWT (kid 'rsa', alg HS256)" in refused(both, token)
    with_single = JwtValidator(keys, algorithms=["RS256", "HS256"], hmac_keys=SECRET)
    assert "does not verify" in refused(with_single, token)


def test_wrong_key_and_tampering(validator: JwtValidator) -> None:
    token = sign(claims())
    header, payload, signature = token.split(".")
    # A valid signature by another RSA key under the same kid.
    other = pyjwt.encode(
        claims(), private_key("rsa3072"), algorithm="RS256", headers={"kid": "rsa"}
    )
    assert "does not verify with the key selected (alg RS256, kid 'rsa')" in refused(
        validator, other
    )
    # The payload changed, the signature kept.
    changed = b64url(json.dumps(claims(sub="mallory")).encode())
    assert "does not verify" in refused(validator, f"{header}.{changed}.{signature}")
    # A flipped bit in the signature.
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 1
    assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(bytes(raw))}")
    # A truncated signature.
    assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(bytes(raw[:-1]))}")


def test_ecdsa_signature_must_be_raw_r_s_of_the_curve_size(validator: JwtValidator) -> None:
    token = sign(claims(), "ES256")
    header, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(r, s)
    assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(der)}")
    padded = raw[:32] + b"\x00" + raw[32:]
    assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(padded)}")


def _rsa_raw_sign(encoded: bytes) -> bytes:
    """``encoded`` (an EMSA-PKCS1-v1_5 block) raised to the private exponent: a
    signature over any block we choose, well formed or not."""
    numbers = private_key("rsa").private_numbers()
    n: int = numbers.public_numbers.n
    value: int = pow(int.from_bytes(encoded, "big"), numbers.d, n)
    return value.to_bytes((n.bit_length() + 7) // 8, "big")


def _emsa(digest_info: bytes, *, size: int = 256, garbage: bytes = b"") -> bytes:
    """``00 01 FF..FF 00 || digest_info || garbage``, ``size`` bytes long."""
    fill = size - 3 - len(digest_info) - len(garbage)
    return b"\x00\x01" + b"\xff" * fill + b"\x00" + digest_info + garbage


SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
SHA384_INFO = bytes.fromhex("3041300d060960864801650304020205000430")


@pytest.mark.parametrize(
    ("what", "block"),
    [
        # The DigestInfo without its NULL parameters: OpenSSL and pyjwt refuse it.
        (
            "absent parameters",
            lambda h: _emsa(bytes.fromhex("302f300b0609608648016503040201") + b"\x04\x20" + h),
        ),
        # Bleichenbacher 2006: the hash, then garbage a lax parser would skip.
        ("trailing garbage", lambda h: _emsa(SHA256_INFO + h[:-8], garbage=b"\x00" * 8)),
        (
            # A SHA-384 DigestInfo (48 bytes of value) where RS256 needs SHA-256.
            "SHA-384 for RS256",
            lambda h: _emsa(SHA384_INFO + h + h[:16]),
        ),
        (
            "a byte of padding that is not FF",
            lambda h: _emsa(SHA256_INFO + h)[:5] + b"\xfe" + _emsa(SHA256_INFO + h)[6:],
        ),
        ("block type 2", lambda h: b"\x00\x02" + _emsa(SHA256_INFO + h)[2:]),
    ],
)
def test_rs256_decodes_pkcs1_v1_5_exactly(validator: JwtValidator, what: str, block: Any) -> None:
    token = sign(claims())
    header, payload, _ = token.split(".")
    digest = hashlib.sha256(f"{header}.{payload}".encode()).digest()
    # The well-formed block, signed by hand, verifies: the forgeries differ only as named.
    good = _rsa_raw_sign(_emsa(SHA256_INFO + digest))
    assert validator.validate(f"{header}.{payload}.{b64url(good)}", now=NOW)
    forged = _rsa_raw_sign(block(digest))
    assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(forged)}"), what
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(
            f"{header}.{payload}.{b64url(forged)}",
            private_key("rsa").public_key(),
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False},
        )


def test_rs256_signature_must_be_as_long_as_the_modulus(validator: JwtValidator) -> None:
    # A signature whose value fits in fewer bytes: its leading zero is part of
    # the encoding (RFC 8017 section 8.2.2 step 1), stripped or doubled it fails.
    for jti in range(5000):
        header, payload, signature = sign(claims(jti=jti)).split(".")
        raw = base64.urlsafe_b64decode(signature + "==")
        if raw[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte in 5000 tries")
    assert validator.validate(f"{header}.{payload}.{signature}", now=NOW)
    for variant in (raw[1:], b"\x00" + raw):
        assert "does not verify" in refused(validator, f"{header}.{payload}.{b64url(variant)}")


def test_es256_token_never_verifies_with_another_curve(validator: JwtValidator) -> None:
    # An ES384 signature presented as ES256 with the P-384 key's kid: no key fits.
    token = pyjwt.encode(claims(), private_key("p384"), algorithm="ES384", headers={"kid": "p384"})
    header = b64url(b'{"alg":"ES256","kid":"p384"}')
    forged = f"{header}.{token.split('.', 1)[1]}"
    assert "no configured key fits the JWT (kid 'p384', alg ES256)" in refused(validator, forged)


def test_weak_and_encryption_keys_are_never_used() -> None:
    jwks = {
        "keys": [
            public_jwk("rsa1024", "weak"),
            public_jwk("rsa", "enc", use="enc"),
            public_jwk("p256", "good"),
        ]
    }
    keys = JsonWebKeySet.from_dict(jwks)
    validator = JwtValidator(keys, algorithms=["RS256", "ES256"])
    weak = forge({"alg": "RS256", "kid": "weak"}, claims(), signer="rsa1024")
    assert "no configured key fits the JWT (kid 'weak'" in refused(validator, weak)
    enc = pyjwt.encode(claims(), private_key("rsa"), algorithm="RS256", headers={"kid": "enc"})
    assert "no configured key fits the JWT (kid 'enc'" in refused(validator, enc)


def test_keys_tried_are_bounded() -> None:
    names = [f"rsa{bits}" for bits in (2048, 2056, 2064, 2072, 2080)]
    jwks = {"keys": [public_jwk(name, name) for name in names]}
    validator = JwtValidator(JsonWebKeySet.from_dict(jwks))
    token = pyjwt.encode(claims(), private_key("rsa2080"), algorithm="RS256")
    assert f"at most MAX_KEYS_TRIED ({MAX_KEYS_TRIED})" in refused(validator, token)
    # With its kid, the same key is found at once.
    token = pyjwt.encode(
        claims(), private_key("rsa2080"), algorithm="RS256", headers={"kid": "rsa2080"}
    )
    assert validator.validate(token, now=NOW).principal == "alice"
    # Without a kid, up to MAX_KEYS_TRIED keys are tried, and the last one can match.
    four = JwtValidator(JsonWebKeySet.from_dict({"keys": jwks["keys"][:4]}))
    token = pyjwt.encode(claims(), private_key("rsa2072"), algorithm="RS256")
    assert four.validate(token, now=NOW).principal == "alice"
    assert "any of the 4 keys" in refused(
        four, pyjwt.encode(claims(), private_key("rsa3072"), algorithm="RS256")
    )


def test_a_custom_key_source_is_used(keys: JsonWebKeySet) -> None:
    calls: list[tuple[str | None, str]] = []

    class Source:
        def keys_for(self, kid: str | None, alg: str) -> tuple[Any, ...]:
            calls.append((kid, alg))
            return keys.keys_for(kid, alg)

    validator = JwtValidator(Source(), algorithms=["RS256", "ES256"])
    assert validator.validate(sign(claims()), now=NOW).principal == "alice"
    assert validator.validate(sign(claims(), "ES256", kid=None), now=NOW).principal == "alice"
    assert calls == [("rsa", "RS256"), (None, "ES256")]


def test_a_key_source_returning_the_wrong_key_type_never_verifies(keys: JsonWebKeySet) -> None:
    class Confused:
        def keys_for(self, kid: str | None, alg: str) -> tuple[Any, ...]:
            return keys.keys_for("p256", "ES256")

    validator = JwtValidator(Confused())
    assert "does not verify" in refused(validator, sign(claims()))


# --- Claims --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"not json", "the JWT payload is not valid JSON"),
        (b'["sub"]', "the JWT payload is JSON but not an object"),
        (b'{"sub":"alice","sub":"root","exp":1800003600,"iat":1}', "member 'sub' appears twice"),
        (b'{"sub":"a","exp":NaN,"iat":1}', "NaN is not a JSON number"),
        (b'{"sub":"a","exp":Infinity,"iat":1}', "Infinity is not a JSON number"),
        (b'{"sub":"a","exp":1' + b"0" * 5000 + b',"iat":1}', "digits"),
        (b'{"sub":"\xff","exp":1800003600,"iat":1}', "not UTF-8 (byte 8)"),
        (b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    ],
)
def test_payload_json(validator: JwtValidator, payload: bytes, detail: str) -> None:
    assert detail in refused(validator, forge({"alg": "RS256", "kid": "rsa"}, payload))


@pytest.mark.parametrize(
    ("changes", "reason", "detail"),
    [
        ({"exp": None}, TokenReason.MISSING_CLAIM, "no 'exp' claim, which is required"),
        ({"exp": "1800003600"}, TokenReason.INVALID_CLAIM, "'exp' claim is not a number"),
        ({"exp": True}, TokenReason.INVALID_CLAIM, "'exp' claim is not a number"),
        ({"exp": [1800003600]}, TokenReason.INVALID_CLAIM, "'exp' claim is not a number"),
        ({"exp": -1}, TokenReason.INVALID_CLAIM, "'exp' claim is out of range"),
        ({"exp": 10**12}, TokenReason.INVALID_CLAIM, "'exp' claim is out of range"),
        ({"exp": int(NOW) - 31}, TokenReason.EXPIRED, "the JWT expired"),
        ({"exp": int(NOW) - 30}, TokenReason.EXPIRED, "the JWT expired"),
        ({"exp": NOW - 29.5}, None, None),
        (
            {"iat": None},
            TokenReason.MISSING_CLAIM,
            "no 'iat' claim, which is required (require_iat)",
        ),
        ({"iat": "1"}, TokenReason.INVALID_CLAIM, "'iat' claim is not a number"),
        ({"iat": False}, TokenReason.INVALID_CLAIM, "'iat' claim is not a number"),
        ({"iat": int(NOW) + 31}, TokenReason.NOT_YET_VALID, "issued in the future"),
        ({"iat": int(NOW) + 30}, None, None),
        ({"nbf": int(NOW) + 31}, TokenReason.NOT_YET_VALID, "not valid yet"),
        ({"nbf": int(NOW) + 30}, None, None),
        ({"nbf": "soon"}, TokenReason.INVALID_CLAIM, "'nbf' claim is not a number"),
        ({"sub": None}, TokenReason.MISSING_CLAIM, "no 'sub' claim (the principal)"),
        ({"sub": 42}, TokenReason.INVALID_CLAIM, "'sub' claim (the principal) is not a string"),
        ({"sub": ""}, TokenReason.INVALID_CLAIM, "is blank"),
        ({"sub": "   "}, TokenReason.INVALID_CLAIM, "is blank"),
        ({"sub": " alice"}, TokenReason.INVALID_CLAIM, "surrounding whitespace"),
        ({"sub": "alice\n"}, TokenReason.INVALID_CLAIM, "surrounding whitespace"),
        ({"sub": "al\x00ice"}, TokenReason.INVALID_CLAIM, "control characters"),
        (
            {"scope": 5},
            TokenReason.INVALID_CLAIM,
            "'scope' claim (the scope) is not a string or an array of strings",
        ),
        ({"scope": ["a", 1]}, TokenReason.INVALID_CLAIM, "is not a string or an array of strings"),
        ({"scope": {"a": 1}}, TokenReason.INVALID_CLAIM, "is not a string or an array of strings"),
        (
            {"aud": "kafka"},
            TokenReason.WRONG_AUDIENCE,
            "has an 'aud' claim but no audience is configured",
        ),
        (
            {"aud": []},
            TokenReason.WRONG_AUDIENCE,
            "has an 'aud' claim but no audience is configured",
        ),
    ],
)
def test_claims(
    validator: JwtValidator,
    changes: dict[str, Any],
    reason: TokenReason | None,
    detail: str | None,
) -> None:
    """Each claim's refusal has its reason; the detail names the claim for the log."""
    payload = claims()
    payload.update(changes)
    token = sign({name: value for name, value in payload.items() if value is not None})
    if reason is None:
        assert validator.validate(token, now=NOW).principal == "alice"
    else:
        assert refusal(validator, token).reason is reason
        assert detail is not None
        assert detail in refused(validator, token)


def test_times_on_the_boundaries(keys: JsonWebKeySet) -> None:
    exact = JwtValidator(keys, clock_skew_s=0)
    token = sign(claims(exp=int(NOW) + 1, iat=int(NOW), nbf=int(NOW)))
    assert exact.validate(token, now=NOW).start_time_ms == int(NOW) * 1000
    assert exact.validate(token, now=NOW + 0.999).principal == "alice"
    assert "expired" in refused(exact, token, now=NOW + 1)
    assert "not valid yet" in refused(exact, token, now=NOW - 0.001)


def test_lifetime_and_start_time(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys, require_iat=False)
    result = validator.validate(sign(claims(exp=NOW + 100.1239, iat=None)), now=NOW)
    assert result.lifetime_ms == int(NOW) * 1000 + 100_123
    assert result.start_time_ms is None
    result = validator.validate(sign(claims(iat=None, nbf=int(NOW) - 5)), now=NOW)
    assert result.start_time_ms == (int(NOW) - 5) * 1000
    # iat wins over nbf, as Kafka's broker reads iat.
    result = validator.validate(sign(claims(nbf=int(NOW) - 5)), now=NOW)
    assert result.start_time_ms == (int(NOW) - 10) * 1000


def test_scope_forms(validator: JwtValidator) -> None:
    def scope_of(value: Any) -> frozenset[str]:
        return validator.validate(sign(claims(scope=value)), now=NOW).scope

    assert scope_of("a b  c") == frozenset({"a", "b", "c"})
    assert scope_of(" ") == frozenset()
    assert scope_of(["a", "b", ""]) == frozenset({"a", "b"})
    assert scope_of([]) == frozenset()
    assert validator.validate(sign(claims()), now=NOW).scope == frozenset()


def test_issuer(keys: JsonWebKeySet) -> None:
    iss = "https://idp.example.com/realms/kafka"
    validator = JwtValidator(keys, issuer=iss)
    assert validator.validate(sign(claims(iss=iss)), now=NOW).principal == "alice"
    assert "no 'iss' claim" in refused(validator, sign(claims()))
    assert "issuer 'https://idp.example.com/realms/kafka/' is not" in refused(
        validator, sign(claims(iss=iss + "/"))
    )
    listed = forge({"alg": "RS256", "kid": "rsa"}, claims(iss=[iss]))
    assert "is not the configured issuer" in refused(validator, listed)
    several = JwtValidator(keys, issuer=[iss, "https://other.example.com"])
    assert several.validate(sign(claims(iss="https://other.example.com")), now=NOW)


def test_audience(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys, audience="kafka")
    assert validator.validate(sign(claims(aud="kafka")), now=NOW)
    assert validator.validate(sign(claims(aud=["other", "kafka"])), now=NOW)
    assert "no 'aud' claim" in refused(validator, sign(claims()))
    assert "audience 'Kafka' holds none" in refused(validator, sign(claims(aud="Kafka")))
    assert "holds none of the configured audiences" in refused(validator, sign(claims(aud=[])))
    assert "not a string or an array of strings" in refused(validator, sign(claims(aud=[1])))
    assert "not a string or an array of strings" in refused(validator, sign(claims(aud={"a": 1})))
    lenient = JwtValidator(keys, reject_unexpected_audience=False)
    assert lenient.validate(sign(claims(aud="anything")), now=NOW)


def test_groups_claim(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys, groups_claim="groups")
    result = validator.validate(sign(claims(groups=["admins", "devs"])), now=NOW)
    assert result.claims["groups"] == ["admins", "devs"]
    assert validator.validate(sign(claims()), now=NOW)
    assert "'groups' claim is not an array of strings" in refused(
        validator, sign(claims(groups="admins"))
    )


def test_subject_claim_option(keys: JsonWebKeySet) -> None:
    validator = JwtValidator(keys, subject_claim="client_id")
    assert validator.validate(sign(claims(client_id="orders")), now=NOW).principal == "orders"
    assert "no 'client_id' claim (the principal)" in refused(validator, sign(claims()))


# --- Identity providers ---------------------------------------------------------------------


def test_okta_custom_authorization_server() -> None:
    keys = key_set("rsa")
    iss = "https://example.okta.com/oauth2/default"
    validator = JwtValidator(
        keys, issuer=iss, audience="api://default", scope_claim="scp", groups_claim="groups"
    )
    payload = {
        "ver": 1,
        "jti": "AT.abc",
        "iss": iss,
        "aud": "api://default",
        "iat": int(NOW) - 5,
        "exp": int(NOW) + 3600,
        "cid": "0oa1b2c3d4",
        "uid": "00u1b2c3d4",
        "scp": ["kafka.read", "kafka.write"],
        "auth_time": int(NOW) - 60,
        "sub": "alice@example.com",
        "groups": ["Everyone", "kafka-admins"],
    }
    result = validator.validate(sign(payload), now=NOW)
    assert result.principal == "alice@example.com"
    assert result.scope == frozenset({"kafka.read", "kafka.write"})
    assert result.claims["cid"] == "0oa1b2c3d4"
    # Client credentials: sub is the client id.
    machine = {**payload, "sub": "0oa1b2c3d4"}
    del machine["uid"]
    assert validator.validate(sign(machine), now=NOW).principal == "0oa1b2c3d4"


def test_keycloak() -> None:
    keys = key_set("rsa")
    iss = "https://sso.example.com/realms/kafka"
    validator = JwtValidator(keys, issuer=iss, audience="kafka-broker")
    payload = {
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "jti": "0d3c1f8e",
        "iss": iss,
        "aud": ["kafka-broker", "account"],
        "sub": "7c8a5e5e-2b7c-4d0b-8f5e-0a1b2c3d4e5f",
        "typ": "Bearer",
        "azp": "orders-service",
        "scope": "profile email kafka",
        "realm_access": {"roles": ["offline_access"]},
        "clientId": "orders-service",
        "preferred_username": "service-account-orders-service",
    }
    result = validator.validate(sign(payload, typ="JWT"), now=NOW)
    assert result.scope == frozenset({"profile", "email", "kafka"})
    by_name = JwtValidator(
        keys, issuer=iss, audience="kafka-broker", subject_claim="preferred_username"
    )
    assert by_name.validate(sign(payload), now=NOW).principal == "service-account-orders-service"
    # Keycloak's default audience "account" is not ours: the broker's audience must be set.
    assert "holds none" in refused(by_name, sign({**payload, "aud": "account"}))


@pytest.mark.parametrize("version", [1, 2])
def test_entra_id(version: int) -> None:
    keys = key_set("rsa")
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    iss = (
        f"https://sts.windows.net/{tenant}/"
        if version == 1
        else f"https://login.microsoftonline.com/{tenant}/v2.0"
    )
    audience = "api://kafka-broker" if version == 1 else "6e74172b-be56-4843-9ff4-e66a39bb12e3"
    validator = JwtValidator(keys, issuer=iss, audience=audience, scope_claim="scp")
    payload = {
        "aud": audience,
        "iss": iss,
        "iat": int(NOW) - 5,
        "nbf": int(NOW) - 5,
        "exp": int(NOW) + 3600,
        "oid": "00000000-0000-0000-0000-000000000001",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "tid": tenant,
        "scp": "Kafka.Read Kafka.Write",
        "ver": f"{version}.0",
    }
    user = validator.validate(sign(payload, typ="JWT"), now=NOW)
    assert user.scope == frozenset({"Kafka.Read", "Kafka.Write"})
    # An application token carries roles instead of scp.
    app = {key: value for key, value in payload.items() if key != "scp"}
    app["roles"] = ["Kafka.Produce"]
    by_oid = JwtValidator(
        keys, issuer=iss, audience=audience, subject_claim="oid", scope_claim="roles"
    )
    result = by_oid.validate(sign(app), now=NOW)
    assert result.principal == "00000000-0000-0000-0000-000000000001"
    assert result.scope == frozenset({"Kafka.Produce"})
    # The other version's issuer is refused.
    other = (
        "https://login.microsoftonline.com/x/v2.0" if version == 1 else "https://sts.windows.net/x/"
    )
    assert "is not the configured issuer" in refused(validator, sign({**payload, "iss": other}))


# --- Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"algorithms": ["none"]}, ConfigurationError, "alg 'none' is never allowed"),
        ({"algorithms": ["RS256", "NONE"]}, ConfigurationError, "never allowed"),
        ({"algorithms": ["HS256"]}, ConfigurationError, "HS256 is allowed only with hmac_keys"),
        ({"algorithms": ["RSA-OAEP"]}, ConfigurationError, "'RSA-OAEP' is not supported"),
        ({"algorithms": []}, ConfigurationError, "at least one algorithm"),
        ({"algorithms": "RS256"}, ArgumentTypeError, "a sequence of names"),
        ({"algorithms": [256]}, ArgumentTypeError, "must hold strings"),
        ({"hmac_keys": SECRET}, ConfigurationError, r"no HS\* algorithm is allowed"),
        (
            {"algorithms": ["HS512"], "hmac_keys": b"k" * 32},
            ConfigurationError,
            "at least 64 bytes",
        ),
        ({"algorithms": ["HS256"], "hmac_keys": {}}, ConfigurationError, "hmac_keys is empty"),
        ({"algorithms": ["HS256"], "hmac_keys": "secret" * 10}, ArgumentTypeError, "bytes"),
        (
            {"algorithms": ["HS256"], "hmac_keys": {"a": "s" * 40}},
            ArgumentTypeError,
            "must be bytes",
        ),
        ({"audience": ""}, ConfigurationError, "audience must be one or more non-empty"),
        ({"audience": []}, ConfigurationError, "audience must be one or more"),
        ({"issuer": 5}, ArgumentTypeError, "issuer must be a string"),
        ({"clock_skew_s": -1}, ConfigurationError, "clock_skew_s"),
        ({"clock_skew_s": float("nan")}, ConfigurationError, "clock_skew_s"),
        ({"scope_claim": " "}, ConfigurationError, "scope_claim must be a non-blank string"),
        ({"subject_claim": None}, ConfigurationError, "subject_claim"),
        ({"groups_claim": ""}, ConfigurationError, "groups_claim"),
        ({"max_token_length": 0}, ConfigurationError, "max_token_length"),
        ({"require_iat": 1}, ArgumentTypeError, "require_iat must be True or False"),
    ],
)
def test_configuration_errors(
    keys: JsonWebKeySet, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        JwtValidator(keys, **kwargs)


def test_keys_are_required_for_asymmetric_algorithms() -> None:
    with pytest.raises(ConfigurationError, match="keys is required for the algorithms RS256"):
        JwtValidator(None)
    with pytest.raises(ArgumentTypeError, match="keys_for"):
        JwtValidator(object())  # type: ignore[arg-type]


def test_validate_argument_types(validator: JwtValidator) -> None:
    with pytest.raises(ArgumentTypeError):
        validator.validate(b"abc", now=NOW)  # type: ignore[arg-type]
    for now in (float("nan"), float("inf"), -float("inf"), True, "1", None):
        with pytest.raises(ArgumentTypeError):
            validator.validate("a.b.c", now=now)  # type: ignore[arg-type]


def test_validate_accepts_int_and_float_subclasses_as_now(validator: JwtValidator) -> None:
    class Seconds(float):
        pass

    class At(enum.IntEnum):
        NOW = int(NOW)

    token = sign(claims())
    for now in (NOW, int(NOW), Seconds(NOW), At.NOW):
        assert validator.validate(token, now=now).principal == "alice"


def test_repr_names_options_not_keys() -> None:
    validator = JwtValidator(
        key_set("rsa"), audience="kafka", hmac_keys=SECRET, algorithms=["RS256", "HS256"]
    )
    text = repr(validator)
    assert "kafka" in text
    assert "rules='strict'" in text
    assert "RS256" in text
    assert "kkkk" not in text
    assert validator.algorithms == ("RS256", "HS256")


# --- Kafka's rules (KAFKA_RULES): what Kafka's broker, through jose4j, decides ---------------
#
# Each case is judged by both rule sets: the strict verdict stays as it was, the
# Kafka one is what Apache Kafka 4.0 to 4.4 answers (tests/test_kafka_validation_parity.py
# checks them against the real broker).

#: A JSON null, where claims() would leave the claim out.
NULL = object()


def kafka_payload(**changes: Any) -> dict[str, Any]:
    payload = claims(**changes)
    return {name: None if value is NULL else value for name, value in payload.items()}


@pytest.fixture(scope="module")
def kafka(keys: JsonWebKeySet) -> JwtValidator:
    return JwtValidator(keys, algorithms=ASYMMETRIC, rules=KAFKA_RULES)


@pytest.mark.parametrize(
    ("changes", "strict", "kafka_detail"),
    [
        # jose4j compares exp with iat and nbf; the strict rules do not.
        ({"exp": int(NOW) - 20}, None, "expires (exp 1799999980) before it was issued"),
        ({"nbf": int(NOW) + 10, "exp": int(NOW) + 5}, None, "before it is valid (nbf"),
        # jose4j never compares iat with the clock.
        ({"iat": int(NOW) + 60}, "issued in the future", None),
        ({"iat": -5, "exp": int(NOW) + 60}, "out of range", "iat value must be non-negative"),
        # A null claim is an absent one to jose4j.
        ({"nbf": NULL}, "'nbf' claim is not a number", None),
        ({"iat": NULL}, "'iat' claim is not a number", "no 'iat' claim"),
        ({"exp": NULL}, "'exp' claim is not a number", "no 'exp' claim"),
        ({"nbf": "1"}, "'nbf' claim is not a number", "'nbf' claim is not a number"),
        ({"exp": True}, "'exp' claim is not a number", "'exp' claim is not a number"),
        # NumericDates: any Java long of seconds; milliseconds must fit a long too.
        ({"exp": 10**12}, "out of range", None),
        ({"exp": 2**62}, "out of range", "overflows a long in milliseconds"),
        ({"exp": 10**30}, "out of range", "unreasonable for a NumericDate"),
        ({"exp": 1e30}, "out of range", "overflows a long in milliseconds"),
        # Whole seconds: a fractional exp is truncated, then compared.
        ({"exp": NOW - 29.5}, None, "the JWT expired"),
        # The subject is trimmed, as Java's String.trim does.
        ({"sub": " alice "}, "surrounding whitespace", None),
        ({"sub": "\u00a0alice"}, "surrounding whitespace", None),
        ({"sub": "  "}, "blank", "sub value must be non-null, non-empty"),
        ({"sub": 5}, "not a string", "'sub' claim is not a string"),
        ({"sub": NULL}, "not a string", "sub value must be non-null, non-empty"),
        # Kafka's scope rules.
        ({"scope": ""}, None, "scope value must be non-null, non-empty"),
        ({"scope": [""]}, None, "scope value must be non-null, non-empty"),
        ({"scope": ["  "]}, None, "scope value must be non-null, non-empty"),
        ({"scope": [None]}, "not a string or an array", "scope value must be non-null"),
        ({"scope": ["a", "a"]}, None, "must not contain duplicates - a already present"),
        ({"scope": ["a", " a"]}, None, "must not contain duplicates - a already present"),
        ({"scope": ["a", 1]}, "not a string or an array", "scope value must be a string"),
        ({"scope": 42}, "not a string or an array", None),
        ({"scope": {"a": True}}, "not a string or an array", None),
        ({"scope": NULL}, None, None),
        # jose4j reads these registered claims as strings when present.
        ({"jti": 7}, None, "'jti' claim is not a string"),
        ({"jti": NULL}, None, None),
    ],
)
def test_kafka_claims(
    validator: JwtValidator,
    kafka: JwtValidator,
    changes: dict[str, Any],
    strict: str | None,
    kafka_detail: str | None,
) -> None:
    token = forge({"alg": "RS256", "kid": "rsa"}, kafka_payload(**changes))
    for judge, expected in ((validator, strict), (kafka, kafka_detail)):
        if expected is None:
            judge.validate(token, now=NOW)
        else:
            assert expected in refused(judge, token)


def test_kafka_claims_give_kafkas_token(validator: JwtValidator, kafka: JwtValidator) -> None:
    payload = claims(sub=" alice ", scope="read write", exp=NOW + 60.9, iat=NOW - 10.5)
    token = kafka.validate(forge({"alg": "RS256", "kid": "rsa"}, payload), now=NOW)
    # Kafka's BrokerJwtValidator takes a string scope as one element, unsplit.
    assert token.scope == {"read write"}
    assert token.principal == "alice"
    # jose4j's NumericDate: whole seconds (longValue), then times 1000.
    assert token.lifetime_ms == (int(NOW) + 60) * 1000
    assert token.start_time_ms == (int(NOW) - 11) * 1000
    listed = claims(scope=[" read ", "write"])
    assert kafka.validate(forge({"alg": "RS256", "kid": "rsa"}, listed), now=NOW).scope == {
        "read",
        "write",
    }
    strict = validator.validate(sign(claims(scope="read write")), now=NOW)
    assert strict.scope == {"read", "write"}


def test_kafka_times_are_whole_seconds(kafka: JwtValidator) -> None:
    # NumericDate.now() is whole seconds: expired when now - skew >= exp.
    token = sign(claims(exp=int(NOW) - 30, iat=int(NOW) - 40))
    assert "expired" in refused(kafka, token, now=NOW + 0.999)
    kafka.validate(token, now=NOW - 0.001)
    # Not yet valid when now + skew < nbf.
    early = sign(claims(nbf=int(NOW) + 31))
    assert "not valid yet" in refused(kafka, early, now=NOW + 0.999)
    kafka.validate(early, now=NOW + 1)


def test_kafka_iss_is_a_string_even_when_no_issuer_is_configured(kafka: JwtValidator) -> None:
    token = forge({"alg": "RS256", "kid": "rsa"}, claims(iss=5))
    assert "'iss' claim is not a string" in refused(kafka, token)
    kafka.validate(sign(claims(iss="https://any.example")), now=NOW)


def test_kafka_subject_claim_option_and_the_registered_sub(keys: JsonWebKeySet) -> None:
    kafka = JwtValidator(keys, subject_claim="client_id", rules=KAFKA_RULES)
    assert kafka.validate(sign(claims(client_id=" app ")), now=NOW).principal == "app"
    # jose4j still reads 'sub' as a string.
    assert "'sub' claim is not a string" in refused(kafka, sign(claims(sub=1, client_id="app")))


@pytest.mark.parametrize(
    ("header", "kafka_grants"),
    [
        ({"typ": "dpop+jwt"}, True),
        ({"typ": "secevent+jwt"}, True),
        ({"typ": 1}, True),
        ({"crit": []}, True),
        ({"crit": ["exp"], "exp": 1}, False),
        ({"crit": "exp"}, False),
        ({"cty": "text/plain"}, True),
        ({"cty": "JWT"}, False),
        ({"cty": "application/JWT"}, False),
        ({"cty": 5}, False),
    ],
)
def test_kafka_header_rules(
    validator: JwtValidator, kafka: JwtValidator, header: dict[str, Any], kafka_grants: bool
) -> None:
    token = forge({"alg": "RS256", "kid": "rsa", **header}, claims())
    refused(validator, token)  # the strict rules refuse every one of them
    if kafka_grants:
        assert kafka.validate(token, now=NOW).principal == "alice"
    else:
        refused(kafka, token)


def test_kafka_selects_keys_as_jose4j() -> None:
    pinned = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa", "k", alg="RS256")]})
    strict = JwtValidator(pinned, algorithms=ASYMMETRIC)
    kafka = JwtValidator(pinned, algorithms=ASYMMETRIC, rules=KAFKA_RULES)
    for alg in ("RS384", "PS256"):
        token = sign(claims(), alg, kid="k")
        assert "no configured key fits" in refused(strict, token)
        # One candidate: jose4j ignores the JWK's alg.
        assert kafka.validate(token, now=NOW).principal == "alice"

    # Several candidates: the JWK's alg breaks the tie (a key naming another alg goes).
    two = JsonWebKeySet.from_dict(
        {
            "keys": [
                public_jwk("rsa", "a", alg="RS256"),
                public_jwk("rsa3072", "b", alg="RS384"),
            ]
        }
    )
    kafka = JwtValidator(two, algorithms=ASYMMETRIC, rules=KAFKA_RULES)
    signed_by_b = forge({"alg": "RS384"}, claims(), "RS384", signer="rsa3072")
    assert kafka.validate(signed_by_b, now=NOW).principal == "alice"
    assert two.keys_for(None, "PS256", honour_jwk_alg=False) == ()

    # Then only the first key left is tried: Kafka refuses a token signed by the second.
    unpinned = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa"), public_jwk("rsa3072")]})
    token = forge({"alg": "RS256"}, claims(), signer="rsa3072")
    assert JwtValidator(unpinned).validate(token, now=NOW).principal == "alice"
    kafka = JwtValidator(unpinned, rules=KAFKA_RULES)
    assert "does not verify with the key selected" in refused(kafka, token)


def test_kafka_key_selection_through_the_jwks_cache(keys: JsonWebKeySet) -> None:
    pinned = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa", "k", alg="RS256")]})
    cache = JwksCache(clock=lambda: NOW)
    cache.update(pinned)
    kafka = JwtValidator(cache, algorithms=ASYMMETRIC, rules=KAFKA_RULES)
    assert kafka.validate(sign(claims(), "PS256", kid="k"), now=NOW).principal == "alice"

    class Source:
        def keys_for(self, kid: str | None, alg: str) -> tuple[Any, ...]:
            return keys.keys_for(kid, alg)

    with pytest.raises(ConfigurationError, match="honour_jwk_alg"):
        JwtValidator(Source(), rules=KAFKA_RULES)


def test_kafka_reads_padded_base64url(validator: JwtValidator, kafka: JwtValidator) -> None:
    token = sign(claims())
    for padded in (token + "=", token + "=="):
        assert "padding '='" in refused(validator, padded)
        assert kafka.validate(padded, now=NOW).principal == "alice"
    # jose4j stops reading a part at '=': the payload ends there, and the
    # signature still covers the part as it came.
    head, payload, signature = token.split(".")
    assert "does not verify" in refused(kafka, f"{head}.{payload}=AAAA.{signature}")
    assert "empty" in refused(kafka, f"{head}.=.{signature}")


def test_kafka_token_length_is_the_sasl_receive_size(keys: JsonWebKeySet) -> None:
    big = sign(claims(pad="x" * 100_000))
    assert "more than max_token_length" in refused(JwtValidator(keys), big)
    kafka = JwtValidator(keys, rules=KAFKA_RULES)
    assert kafka.validate(big, now=NOW).principal == "alice"
    assert KAFKA_MAX_TOKEN_LENGTH == 524_288
    assert "more than max_token_length (1000)" in refused(
        JwtValidator(keys, rules=KAFKA_RULES, max_token_length=1000), big
    )


def test_rules_presets_and_errors(keys: JsonWebKeySet) -> None:
    assert JwtValidator(keys).rules is STRICT_RULES
    assert JwtRules(name="strict") == STRICT_RULES
    assert "rules='kafka'" in repr(JwtValidator(keys, rules=KAFKA_RULES))
    with pytest.raises(ArgumentTypeError, match="rules must be a JwtRules"):
        JwtValidator(keys, rules="kafka")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="claims must be"):
        JwtRules(name="x", claims="pyjwt")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="check_typ must be True or False"):
        JwtRules(name="x", check_typ=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_token_length must be an int >= 1"):
        JwtRules(name="x", max_token_length=0)
