"""JwtValidator at its edges: a signature with one bit changed is refused under every
algorithm, a key source that hands over keys of the wrong kind cannot make a token
pass (or crash), audiences match as RFC 7519 section 4.1.3 says, the verified-token
cache answers only within the token's lifetime, and can_verify reads only headers."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.validation.jwks import JsonWebKey, JsonWebKeySet
from oauthbearer.validation.jwt import KAFKA_RULES, MAX_KEYS_TRIED, JwtValidator
from tests.test_jwks import b64url
from tests.test_jwt import (
    ASYMMETRIC,
    NOW,
    SECRET,
    SIGNERS,
    claims,
    key_set,
    refused,
    set_unused_bit,
    sign,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

HMAC = ("HS256", "HS384", "HS512")


def flip_bit(token: str, index: int) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[index % len(raw)] ^= 1
    return f"{header}.{payload}.{b64url(bytes(raw))}"


@pytest.mark.parametrize("alg", [*ASYMMETRIC, *HMAC])
@pytest.mark.parametrize("index", [0, 17, -1])
def test_one_changed_bit_of_the_signature_is_refused(alg: str, index: int) -> None:
    validator = JwtValidator(
        key_set(), algorithms=(alg,), hmac_keys=SECRET if alg in HMAC else None
    )
    token = sign(claims(), alg)
    assert validator.validate(token, now=NOW).principal == "alice"
    assert "does not verify" in refused(validator, flip_bit(token, index))


class AnyKeys:
    """A key source with a bug: it hands over every key it has, whatever the alg."""

    def __init__(self, keys: Sequence[JsonWebKey]) -> None:
        self.keys = tuple(keys)

    def keys_for(self, kid: str | None, alg: str) -> Sequence[JsonWebKey]:
        return self.keys


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_keys_of_the_wrong_kind_never_verify(alg: str) -> None:
    every = [
        *key_set().keys,
        *JsonWebKeySet.from_dict(
            {"keys": [{"kty": "oct", "k": b64url(SECRET), "kid": "hs"}]}, allow_symmetric=True
        ).keys,
    ]
    # As many as are tried, of every other kind (RSA, EC, OKP, oct) in turn.
    wrong = sorted((key for key in every if not key.fits(alg)), key=lambda k: k.kty)
    wrong = [wrong[i * len(wrong) // MAX_KEYS_TRIED] for i in range(MAX_KEYS_TRIED)]
    assert wrong
    validator = JwtValidator(AnyKeys(wrong), algorithms=(alg,))
    assert "does not verify" in refused(validator, sign(claims(), alg))


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("kafka", True),
        ("other", False),
        (["other", "kafka"], True),  # one of the token's audiences is ours
        (["other"], False),
        ([], False),
    ],
)
def test_the_audience_must_name_one_of_ours(aud: object, accepted: bool) -> None:
    validator = JwtValidator(key_set("rsa"), audience=("kafka", "kafka-admin"))
    token = sign(claims(aud=aud))
    if accepted:
        assert validator.validate(token, now=NOW).principal == "alice"
    else:
        assert "holds none of the configured audiences" in refused(validator, token)


def test_a_cached_verdict_holds_only_while_the_token_is_valid() -> None:
    validator = JwtValidator(key_set("rsa"), cache_size=4)
    token = sign(claims(exp=int(NOW) + 60))
    first = validator.validate(token, now=NOW)
    assert validator.validate(token, now=NOW + 1) == first  # from the cache
    assert "expired" in refused(validator, token, now=NOW + 3600)  # not past its lifetime


def test_hmac_kids_must_be_strings() -> None:
    with pytest.raises(ArgumentTypeError, match="hmac_keys kids must be strings"):
        JwtValidator(None, algorithms=("HS256",), hmac_keys={1: SECRET})  # type: ignore[dict-item]


def test_can_verify_reads_the_header_only() -> None:
    validator = JwtValidator(key_set("rsa", "p256"), algorithms=("RS256", "ES256"))
    token = sign(claims())
    assert validator.can_verify(token)
    assert validator.can_verify(flip_bit(token, 3))  # the signature is not checked
    assert validator.can_verify(sign(claims(exp=1)))  # nor the claims
    header, payload, signature = token.split(".")
    unknown: list[Any] = [
        sign(claims(), "RS256", kid="nobody"),  # no key under that kid
        sign(claims(), "ES384"),  # an algorithm not allowed
        sign(claims(), "EdDSA"),  # a key not held
        f"{header}.{payload}",
        f"{header}..{signature}",
        f".{payload}.{signature}",
        f"{header}.{payload}.",
        f"{header}.{payload}.{signature}\u00e9",
        "x" * 100_000,
        b"abc",
        None,
    ]
    for candidate in unknown:
        assert not validator.can_verify(candidate), candidate
    header_of_none = b64url(b'{"alg":"none"}')
    assert not validator.can_verify(f"{header_of_none}.{payload}.{signature}")
    assert set(SIGNERS) >= {"RS256", "ES256"}


# --- Kafka's rules (jose4j's key selection) -------------------------------------------------


def test_kafka_rules_check_the_groups_claim() -> None:
    validator = JwtValidator(key_set("rsa"), rules=KAFKA_RULES, groups_claim="groups")
    token = validator.validate(sign(claims(groups=["admins"])), now=NOW)
    assert token.claims["groups"] == ["admins"]
    assert "not an array of strings" in refused(validator, sign(claims(groups="admins")))


def test_kafka_rules_cache_verdicts_against_the_key_set() -> None:
    validator = JwtValidator(key_set("rsa"), rules=KAFKA_RULES, cache_size=4)
    token = sign(claims())
    assert validator.validate(token, now=NOW) == validator.validate(token, now=NOW + 1)


class Builtin:
    """A key source whose keys_for has no signature to inspect (a builtin)."""

    keys_for = staticmethod(max)


def test_kafka_rules_need_a_key_source_that_takes_honour_jwk_alg() -> None:
    with pytest.raises(ConfigurationError, match="need keys whose keys_for takes honour_jwk_alg"):
        JwtValidator(Builtin(), rules=KAFKA_RULES)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="need keys whose keys_for takes honour_jwk_alg"):
        JwtValidator(AnyKeys(()), rules=KAFKA_RULES)


def test_an_algorithm_named_twice_counts_once() -> None:
    validator = JwtValidator(key_set("rsa"), algorithms=("RS256", "PS256", "RS256"))
    assert validator.validate(sign(claims(), "PS256"), now=NOW).principal == "alice"


@pytest.mark.parametrize("header", [b"not json", b'{"alg":"RS256","crit":["x"]}', b"[]"])
def test_can_verify_is_false_for_a_header_the_validator_refuses(header: bytes) -> None:
    validator = JwtValidator(key_set("rsa"))
    _, payload, signature = sign(claims()).split(".")
    assert not validator.can_verify(f"{b64url(header)}.{payload}.{signature}")


def test_can_verify_is_false_for_a_malformed_token_with_a_refused_header() -> None:
    validator = JwtValidator(key_set("rsa"))
    _, payload, signature = sign(claims()).split(".")
    # The signature's last character carries bits base64url leaves unused (RFC 4648 3.5).
    assert not validator.can_verify(f"{b64url(b'not json')}.{payload}.{set_unused_bit(signature)}")
    # Padding in the refused header: the refusal is the token's shape, not a header verdict.
    assert not validator.can_verify(f"{b64url(b'not json')}=.{payload}.{signature}")
