"""JsonWebKeySet: loading RFC 7517 key sets, skipping and refusing keys, selecting them."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from oauthbearer.errors import ConfigurationError
from oauthbearer.validation.jwks import (
    MAX_JWKS_SIZE,
    MAX_KEYS,
    MAX_KID_LENGTH,
    JsonWebKey,
    JsonWebKeySet,
    KeySource,
    b64url_decode,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@cache
def private_key(name: str) -> Any:
    """Keys generated once per test run, by name."""
    if name.startswith("rsa"):
        bits = int(name[3:] or 2048)
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    curves: dict[str, Any] = {
        "p256": ec.SECP256R1,
        "p384": ec.SECP384R1,
        "p521": ec.SECP521R1,
    }
    if name.removesuffix("b") in curves:
        return ec.generate_private_key(curves[name.removesuffix("b")]())
    if name.startswith("ed25519"):
        return ed25519.Ed25519PrivateKey.generate()
    if name.startswith("ed448"):
        return ed448.Ed448PrivateKey.generate()
    raise AssertionError(name)


def public_jwk(name: str, kid: str | None = None, **extra: Any) -> dict[str, Any]:
    """The public JWK of a named key (pyjwt writes it), with ``kid`` and extra members."""
    key = private_key(name).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    jwk.pop("key_ops", None)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


def private_jwk(name: str, kid: str) -> dict[str, Any]:
    key = private_key(name)
    loader: Any = {"rsa": RSAAlgorithm, "p25": ECAlgorithm, "ed2": OKPAlgorithm}[name[:3]]
    jwk: dict[str, Any] = loader.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid}


STANDARD = {
    "rsa": "rsa",
    "p256": "P-256",
    "p384": "P-384",
    "p521": "P-521",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}


def standard_set() -> JsonWebKeySet:
    return JsonWebKeySet.from_dict({"keys": [public_jwk(name, name) for name in STANDARD]})


# --- Loading -----------------------------------------------------------------------------


def test_loads_every_supported_key_type_once() -> None:
    key_set = standard_set()
    assert key_set.skipped == ()
    assert len(key_set) == 6
    by_kid = {key.kid: key for key in key_set.keys}
    assert by_kid["rsa"].kty == "RSA"
    assert isinstance(by_kid["rsa"].key, rsa.RSAPublicKey)
    assert by_kid["rsa"].key.public_numbers() == private_key("rsa").public_key().public_numbers()
    for name in ("p256", "p384", "p521"):
        assert by_kid[name].kty == "EC"
        assert by_kid[name].crv == STANDARD[name]
        assert isinstance(by_kid[name].key, ec.EllipticCurvePublicKey)
    assert isinstance(by_kid["ed25519"].key, ed25519.Ed25519PublicKey)
    assert isinstance(by_kid["ed448"].key, ed448.Ed448PublicKey)
    assert isinstance(key_set, KeySource)


def test_from_json_accepts_bytes_and_str() -> None:
    document = json.dumps({"keys": [public_jwk("rsa", "a")]})
    assert JsonWebKeySet.from_json(document).keys == JsonWebKeySet.from_json(document.encode()).keys


def test_members_are_kept_and_the_key_is_not_in_repr() -> None:
    jwk = public_jwk("p256", "k1", use="sig", alg="ES256", key_ops=["verify"])
    key_set = JsonWebKeySet.from_dict({"keys": [jwk]})
    (key,) = key_set.keys
    assert (key.kid, key.kty, key.alg, key.use, key.crv, key.key_ops) == (
        "k1",
        "EC",
        "ES256",
        "sig",
        "P-256",
        ("verify",),
    )
    assert jwk["x"] not in repr(key_set)
    assert "key=" not in repr(key)


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        (public_jwk("rsa1024", "weak"), "1024 bits, fewer than MIN_RSA_KEY_BITS (2048)"),
        (public_jwk("rsa", "enc", use="enc"), "'use' is 'enc', not 'sig'"),
        (public_jwk("rsa", "ops", key_ops=["encrypt"]), "'key_ops' does not include 'verify'"),
        (public_jwk("rsa", "ops2", key_ops="verify"), "'key_ops' is not an array of strings"),
        (public_jwk("rsa", "oaep", alg="RSA-OAEP"), "'RSA-OAEP' is not a supported signature"),
        (public_jwk("rsa", "mismatch", alg="ES256"), "'alg' ES256 does not fit a RSA key"),
        (public_jwk("p256", "curve", alg="ES384"), "'alg' ES384 does not fit a EC key on P-256"),
        (public_jwk("p256", "crv", crv="secp256k1"), "'crv' 'secp256k1' is not P-256"),
        (public_jwk("ed25519", "okp", crv="X25519"), "'crv' 'X25519' is not Ed25519 or Ed448"),
        ({"kty": "RSA", "kid": "pad", "n": "AQAB==", "e": "AQAB"}, "'n' holds a character"),
        ({"kty": "RSA", "kid": "no-n", "e": "AQAB"}, "'n' is missing or not a string"),
        ({"kty": "oct", "kid": "secret", "k": b64url(b"s" * 32)}, "symmetric ('oct') keys"),
        ({"kty": "PQC", "kid": "new"}, "'kty' 'PQC' is not RSA, EC, OKP or oct"),
        ({"kid": "none"}, "'kty' None is not RSA, EC, OKP or oct"),
    ],
    ids=lambda value: value.get("kid", "") if isinstance(value, dict) else "",
)
def test_unusable_keys_are_skipped_with_a_reason(jwk: dict[str, Any], reason: str) -> None:
    key_set = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa", "good"), jwk]})
    assert [key.kid for key in key_set.keys] == ["good"]
    ((kid, text),) = key_set.skipped
    assert kid == jwk.get("kid")
    assert reason in text
    assert text.startswith("keys[1]: ")


def test_ec_coordinates_must_be_full_size_and_on_the_curve() -> None:
    jwk = public_jwk("p256", "short")
    short = {**jwk, "x": b64url(b64url_decode(jwk["x"])[1:])}
    x = bytearray(b64url_decode(jwk["x"]))
    x[-1] ^= 1
    off_curve = {**jwk, "kid": "off", "x": b64url(bytes(x))}
    key_set = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa", "good"), short, off_curve]})
    reasons = dict(key_set.skipped)
    assert "'x' and 'y' must be 32 bytes each on P-256" in reasons["short"]
    assert "is not a point on P-256" in reasons["off"]


def test_x25519_keys_are_skipped() -> None:
    raw = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    jwk = {"kty": "OKP", "crv": "X25519", "kid": "dh", "x": b64url(raw)}
    key_set = JsonWebKeySet.from_dict({"keys": [public_jwk("ed25519", "sig"), jwk]})
    assert [key.kid for key in key_set.keys] == ["sig"]


def test_bad_kids_are_skipped_and_not_echoed() -> None:
    long_kid = "k" * (MAX_KID_LENGTH + 1)
    jwks = {
        "keys": [
            public_jwk("rsa", "k" * MAX_KID_LENGTH),
            public_jwk("p256", long_kid),
            {**public_jwk("p384"), "kid": 7},
            "not an object",
        ]
    }
    key_set = JsonWebKeySet.from_dict(jwks)
    assert [key.kid for key in key_set.keys] == ["k" * MAX_KID_LENGTH]
    assert key_set.skipped == (
        (None, "keys[1]: 'kid' is longer than MAX_KID_LENGTH (1000)"),
        (None, "keys[2]: 'kid' is not a string"),
        (None, "keys[3] is not a JSON object"),
    )


def test_symmetric_keys_only_when_allowed() -> None:
    jwk = {"kty": "oct", "kid": "hs", "k": b64url(b"s" * 32), "alg": "HS256"}
    key_set = JsonWebKeySet.from_dict({"keys": [jwk]}, allow_symmetric=True)
    (key,) = key_set.keys
    assert key.key == b"s" * 32
    assert "sss" not in repr(key_set)
    with pytest.raises(ConfigurationError, match="no usable key"):
        JsonWebKeySet.from_dict({"keys": [jwk]})


@pytest.mark.parametrize(
    ("name", "members"), [("rsa", "d, dp, dq, p, q, qi"), ("p256", "d"), ("ed25519", "d")]
)
def test_private_key_material_refuses_the_whole_set(name: str, members: str) -> None:
    jwks = {"keys": [public_jwk("rsa", "public"), private_jwk(name, "leaked")]}
    with pytest.raises(ConfigurationError, match="private key material") as caught:
        JsonWebKeySet.from_dict(jwks)
    assert f"({members})" in str(caught.value)
    assert private_jwk(name, "leaked")["d"] not in str(caught.value)


def test_a_set_with_no_usable_key_is_refused_with_the_reasons() -> None:
    jwks = {"keys": [public_jwk("rsa", "enc", use="enc"), public_jwk("rsa1024", "weak")]}
    with pytest.raises(ConfigurationError) as caught:
        JsonWebKeySet.from_dict(jwks)
    message = str(caught.value)
    assert message.startswith("the JWKS has no usable key (skipped: ")
    assert "'use' is 'enc'" in message
    assert "1024 bits" in message


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"[]", "not a JSON object"),
        (b"{}", "no 'keys' array"),
        (b'{"keys": {}}', "no 'keys' array"),
        (b'{"keys": [], "keys": []}', "member 'keys' appears twice"),
        (b'{"keys": [NaN]}', "NaN is not a JSON number"),
        (b"\xff{}", "not UTF-8 (byte 0)"),
        (b"\xef\xbb\xbf{}", "starts with a byte order mark"),
        (b'{"keys": [' * 5000 + b"]}" * 5000, "nested too deeply"),
        (b'{"keys": [1' + b"0" * 5000 + b"]}", "digits"),
        (b'{"keys": []', "not valid JSON"),
    ],
)
def test_bad_documents_are_configuration_errors(document: bytes, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        JsonWebKeySet.from_json(document)


def test_size_limits() -> None:
    with pytest.raises(ConfigurationError, match="MAX_JWKS_SIZE"):
        JsonWebKeySet.from_json(b" " * (MAX_JWKS_SIZE + 1))
    many = {"keys": [public_jwk("ed25519", str(i)) for i in range(MAX_KEYS + 1)]}
    with pytest.raises(ConfigurationError, match="more than MAX_KEYS"):
        JsonWebKeySet.from_dict(many)
    enough = {"keys": [public_jwk("ed25519", str(i)) for i in range(MAX_KEYS)]}
    assert len(JsonWebKeySet.from_dict(enough)) == MAX_KEYS


# --- Selection ---------------------------------------------------------------------------


def kids(keys: tuple[JsonWebKey, ...]) -> list[str | None]:
    return [key.kid for key in keys]


def test_keys_for_selects_by_kid_exactly() -> None:
    key_set = standard_set()
    assert kids(key_set.keys_for("rsa", "RS256")) == ["rsa"]
    assert kids(key_set.keys_for("rsa", "PS512")) == ["rsa"]
    assert kids(key_set.keys_for("RSA", "RS256")) == []
    assert kids(key_set.keys_for("rs", "RS256")) == []
    # The kid names a key of another type: nothing, even though an RSA key exists.
    assert kids(key_set.keys_for("p256", "RS256")) == []


def test_keys_for_without_kid_selects_by_type_and_curve() -> None:
    key_set = standard_set()
    assert kids(key_set.keys_for(None, "RS256")) == ["rsa"]
    assert kids(key_set.keys_for(None, "ES256")) == ["p256"]
    assert kids(key_set.keys_for(None, "ES384")) == ["p384"]
    assert kids(key_set.keys_for(None, "ES512")) == ["p521"]
    assert kids(key_set.keys_for(None, "EdDSA")) == ["ed25519", "ed448"]
    assert kids(key_set.keys_for(None, "HS256")) == []
    assert kids(key_set.keys_for(None, "none")) == []
    assert kids(key_set.keys_for(None, "RSA-OAEP")) == []


def test_a_jwk_alg_pins_the_key_to_that_algorithm() -> None:
    key_set = JsonWebKeySet.from_dict({"keys": [public_jwk("rsa", "pinned", alg="PS256")]})
    assert kids(key_set.keys_for("pinned", "PS256")) == ["pinned"]
    assert kids(key_set.keys_for("pinned", "RS256")) == []
    assert kids(key_set.keys_for(None, "PS384")) == []


def test_duplicate_kids_select_every_fitting_key() -> None:
    jwks = {"keys": [public_jwk("rsa", "same"), public_jwk("p256", "same")]}
    key_set = JsonWebKeySet.from_dict(jwks)
    assert [key.kty for key in key_set.keys_for("same", "RS256")] == ["RSA"]
    assert [key.kty for key in key_set.keys_for("same", "ES256")] == ["EC"]


# --- Base64url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AQAB=", "outside the base64url alphabet"),
        ("AQ==", "outside the base64url alphabet"),
        ("a+b/", "outside the base64url alphabet"),
        ("ab c", "outside the base64url alphabet"),
        ("abcé", "outside the base64url alphabet"),
        ("abcde", "a length that no base64url encoding has"),
        ("AR", "not canonical"),
        ("AAB", "not canonical"),
    ],
)
def test_b64url_decode_is_strict(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        b64url_decode(text)


def test_b64url_decode_round_trips() -> None:
    for size in range(10):
        data = bytes(range(200, 200 + size))
        assert b64url_decode(b64url(data)) == data
    assert b64url_decode("-_8") == b"\xfb\xff"


def test_importing_the_modules_does_not_load_cryptography() -> None:
    code = (
        "import sys, oauthbearer.validation.jwks, oauthbearer.validation.jwt; "
        "assert 'cryptography' not in sys.modules, 'cryptography loaded'; "
        "assert 'jwt' not in sys.modules, 'pyjwt loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - our own code
