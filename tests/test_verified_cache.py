"""The verified-token cache inside JwtValidator, and RFC 7638 thumbprints."""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from oauthbearer import ConfigurationError, InvalidToken, JsonWebKeySet, JwtValidator, TokenReason
from oauthbearer.validation.jwks import jwk_thumbprint
from oauthbearer.validation.jwks_cache import JwksCache
from oauthbearer.validation.verified_cache import VerifiedTokenCache

NOW = 1_767_225_600
KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}


def key_set(*entries: tuple[rsa.RSAPrivateKey, str]) -> JsonWebKeySet:
    return JsonWebKeySet.from_dict({"keys": [jwk(key, kid) for key, kid in entries]})


def token(key: rsa.RSAPrivateKey, kid: str, *, exp: int = NOW + 600, sub: str = "alice") -> str:
    claims = {"sub": sub, "iat": NOW, "exp": exp}
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class CountingKeys:
    """A key source that counts how often the validator asks it for keys."""

    def __init__(self, keys: JsonWebKeySet) -> None:
        self.keys = keys
        self.asked = 0

    def keys_for(self, kid: str | None, alg: str) -> tuple[Any, ...]:
        self.asked += 1
        return self.keys.keys_for(kid, alg)


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 section 3.1.
    example = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-6"
        "5YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLy"
        "rdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzK"
        "nqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_same_key_has_the_same_thumbprint_in_any_set() -> None:
    first = key_set((KEY_A, "a")).keys[0]
    renamed = key_set((KEY_A, "renamed"), (KEY_B, "b")).keys[0]
    other = key_set((KEY_B, "a")).keys[0]
    assert first.thumbprint == renamed.thumbprint
    assert first.thumbprint != other.thumbprint


def test_a_hit_skips_the_key_lookup_and_the_signature() -> None:
    keys = CountingKeys(key_set((KEY_A, "a")))
    validator = JwtValidator(keys, cache_size=10)
    good = token(KEY_A, "a")
    first = validator.validate(good, now=NOW)
    assert keys.asked == 1
    again = validator.validate(good, now=NOW + 1)
    assert again is first
    assert keys.asked == 1  # no lookup, no verification: a static source never changes


def test_without_a_cache_every_call_checks_in_full() -> None:
    keys = CountingKeys(key_set((KEY_A, "a")))
    validator = JwtValidator(keys)
    good = token(KEY_A, "a")
    validator.validate(good, now=NOW)
    validator.validate(good, now=NOW)
    assert keys.asked == 2


def test_entries_expire_with_the_token() -> None:
    validator = JwtValidator(key_set((KEY_A, "a")), cache_size=10, clock_skew_s=0)
    short = token(KEY_A, "a", exp=NOW + 5)
    validator.validate(short, now=NOW)
    assert validator.validate(short, now=NOW + 4).principal == "alice"
    with pytest.raises(InvalidToken) as refused:
        validator.validate(short, now=NOW + 5)
    assert refused.value.reason is TokenReason.EXPIRED


def test_an_entry_drops_when_its_key_leaves_the_set() -> None:
    clock = [0.0]
    cache = JwksCache(clock=lambda: clock[0])
    cache.update(key_set((KEY_A, "a"), (KEY_B, "b")))
    validator = JwtValidator(cache, cache_size=10)
    signed_by_a = token(KEY_A, "a")
    validator.validate(signed_by_a, now=NOW)
    # A refresh that keeps key A (new objects, same material) keeps the entry.
    cache.update(key_set((KEY_A, "a"), (KEY_B, "b")))
    assert validator.validate(signed_by_a, now=NOW).principal == "alice"
    # A refresh that drops key A: the cached answer must not outlive the key.
    cache.update(key_set((KEY_B, "b")))
    with pytest.raises(InvalidToken) as refused:
        validator.validate(signed_by_a, now=NOW)
    assert refused.value.reason is TokenReason.UNKNOWN_KID


def test_a_key_swapped_under_the_same_kid_drops_the_entry() -> None:
    clock = [0.0]
    cache = JwksCache(clock=lambda: clock[0])
    cache.update(key_set((KEY_A, "k")))
    validator = JwtValidator(cache, cache_size=10)
    old = token(KEY_A, "k")
    validator.validate(old, now=NOW)
    cache.update(key_set((KEY_B, "k")))  # same kid, new material
    with pytest.raises(InvalidToken) as refused:
        validator.validate(old, now=NOW)
    assert refused.value.reason is TokenReason.BAD_SIGNATURE


def test_refusals_are_not_cached() -> None:
    keys = CountingKeys(key_set((KEY_A, "a")))
    validator = JwtValidator(keys, cache_size=10, audience="kafka")
    wrong = token(KEY_A, "a")  # no aud, but an audience is configured
    for _ in range(2):
        with pytest.raises(InvalidToken):
            validator.validate(wrong, now=NOW)
    assert keys.asked == 2


def test_the_cache_is_bounded() -> None:
    validator = JwtValidator(key_set((KEY_A, "a")), cache_size=3)
    tokens = [token(KEY_A, "a", sub=f"user{i}") for i in range(5)]
    for value in tokens:
        validator.validate(value, now=NOW)
    cache = validator._cache
    assert cache is not None
    assert len(cache) == 3


def test_cache_size_is_validated() -> None:
    for bad in (-1, 10**7, 1.5, True):
        with pytest.raises(ConfigurationError, match="cache size"):
            JwtValidator(key_set((KEY_A, "a")), cache_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        VerifiedTokenCache(0)


def test_a_tampered_token_never_hits() -> None:
    validator = JwtValidator(key_set((KEY_A, "a")), cache_size=10)
    good = token(KEY_A, "a")
    validator.validate(good, now=NOW)
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}AA"
    with pytest.raises(InvalidToken):
        validator.validate(tampered, now=NOW)
