"""Key sets at their edges: every key a JWKS may publish wrongly is skipped with
its reason, and a set built by hand is held to the limits a parsed one is."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.validation.jwks import MAX_KEYS, JsonWebKey, JsonWebKeySet


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def okp(key: ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey, crv: str) -> dict[str, Any]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": crv, "x": b64url(raw), "kid": crv}


def skipped_reason(jwk: dict[str, Any], *, allow_symmetric: bool = False) -> str:
    """The reason the only key of a set is skipped (the set then has no usable key)."""
    with pytest.raises(ConfigurationError) as info:
        JsonWebKeySet.from_dict({"keys": [jwk]}, allow_symmetric=allow_symmetric)
    return str(info.value)


def test_an_ed448_key_is_loaded() -> None:
    key_set = JsonWebKeySet.from_dict({"keys": [okp(ed448.Ed448PrivateKey.generate(), "Ed448")]})
    (key,) = key_set.keys_for("Ed448", "EdDSA")
    assert (key.kty, key.crv) == ("OKP", "Ed448")
    assert isinstance(key.key, ed448.Ed448PublicKey)


@pytest.mark.parametrize(("crv", "size"), [("Ed25519", 32), ("Ed448", 57)])
@pytest.mark.parametrize("delta", [-1, 1])
def test_an_okp_key_of_the_wrong_length_is_skipped(crv: str, size: int, delta: int) -> None:
    jwk = {"kty": "OKP", "crv": crv, "x": b64url(b"\x01" * (size + delta))}
    assert f"keys[0]: 'x' must be {size} bytes on {crv}" in skipped_reason(jwk)


def test_an_empty_symmetric_key_is_skipped() -> None:
    assert "keys[0]: 'k' is empty" in skipped_reason({"kty": "oct", "k": ""}, allow_symmetric=True)


@pytest.mark.parametrize(
    ("e", "problem"),
    [(1, "e must be >= 3"), (65536, "e must be odd"), (2**4096, "e must be >= 3 and < n")],
)
def test_an_rsa_key_cryptography_refuses_is_skipped(e: int, problem: str) -> None:
    n = 2**2048 + 1  # odd, 2049 bits: long enough for MIN_RSA_KEY_BITS
    jwk = {"kty": "RSA", "n": b64url(n.to_bytes(257, "big")), "e": b64url(e.to_bytes(513, "big"))}
    reason = skipped_reason(jwk)
    assert "keys[0]: not a valid RSA public key: " in reason
    assert problem in reason


def test_from_json_refuses_what_is_not_text_or_bytes() -> None:
    with pytest.raises(ArgumentTypeError, match="data must be bytes or str"):
        JsonWebKeySet.from_json({"keys": []})  # type: ignore[arg-type]


def test_from_json_reads_text_as_utf8() -> None:
    jwk = okp(ed25519.Ed25519PrivateKey.generate(), "Ed25519")
    key_set = JsonWebKeySet.from_json(json.dumps({"keys": [jwk]}))
    assert len(key_set) == 1


def ed25519_key(kid: str) -> JsonWebKey:
    jwk = okp(ed25519.Ed25519PrivateKey.generate(), "Ed25519") | {"kid": kid}
    (key,) = JsonWebKeySet.from_dict({"keys": [jwk]}).keys
    return key


@pytest.mark.parametrize("keys", [[], "not a tuple", (object(),)])
def test_a_hand_built_set_needs_a_tuple_of_keys(keys: Any) -> None:
    with pytest.raises(ArgumentTypeError, match="keys must be a tuple of JsonWebKey"):
        JsonWebKeySet(keys)


def test_a_hand_built_set_is_held_to_max_keys() -> None:
    key = ed25519_key("k")
    assert len(JsonWebKeySet((key,) * MAX_KEYS)) == MAX_KEYS
    with pytest.raises(ConfigurationError, match=f"more than {MAX_KEYS} keys"):
        JsonWebKeySet((key,) * (MAX_KEYS + 1))


def test_a_hand_built_empty_set_says_why() -> None:
    with pytest.raises(ConfigurationError, match=r"^the JWKS has no usable key$"):
        JsonWebKeySet(())
