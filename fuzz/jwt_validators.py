#!/usr/bin/env python3
"""Fuzz target: the JWT parsers, :class:`JwtValidator` and :class:`UnsecuredJwsValidator`.

The validators hold a fixed, in-memory key set: an RSA public key (RS256; its
private half was thrown away once the seed tokens were signed, see
``make_corpus.py``), a P-256 key (ES256), an Ed25519 key (EdDSA) and an HMAC
secret (HS256). The input, after two bytes of clock and one of mode, is either

* a token, as text (mode 0): every validator reads it;
* a header and a payload (mode 1) that the harness signs with the HS256, ES256
  or EdDSA key, so that the fuzzer reaches the header and claims checks behind
  a valid signature, which it could never forge;
* a header and a payload (mode 2) made into Kafka's unsecured token
  (``header.payload.``).

The oracle: ``validate`` raises :class:`~oauthbearer.errors.InvalidToken` and
nothing else (``invalid_token``, or for the unsecured validator
``insufficient_scope``), with a detail that never quotes the token; a
validation gives the same answer twice, and with the verified-token cache as
without it; a granted token is consistent with its claims (principal, expiry,
start time) and was not expired at ``now``.

Run: ``python fuzz/jwt_validators.py fuzz/corpus/jwt_validators -atheris_runs=1000000``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import pathlib
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fuzzlib import Input, check, main

from oauthbearer.errors import InvalidToken
from oauthbearer.unsecured import UnsecuredJwsValidator
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwt import JwtValidator

if TYPE_CHECKING:
    from collections.abc import Callable

    from oauthbearer.token import OAuthBearerToken, TokenValidator

HERE = pathlib.Path(__file__).parent
#: The RSA public key of the seed tokens, as a JWK (kid "rsa").
RSA_JWK: dict[str, Any] = json.loads((HERE / "rsa_public_jwk.json").read_text())

# Fixed fuzzing keys: made from constants so that the seed corpus's signatures
# verify on every run. They protect nothing.
EC_KEY = ec.derive_private_key(0x0F0E0D0C0B0A0908070605040302010, ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
HMAC_SECRET = b"fuzzing-secret-of-32-bytes-long!"

ISSUER = "https://idp.example"
AUDIENCE = "kafka"
CLOCK_STEP_S = 65_536.0
#: Tokens shorter than this may appear in a message by chance (a one-letter token).
MIN_QUOTABLE_TOKEN = 16


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, kid: str) -> dict[str, str]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "kid": kid,
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
    raw = key.public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64url(raw)}


KEYS = JsonWebKeySet.from_dict({"keys": [RSA_JWK, _jwk(EC_KEY, "ec"), _jwk(ED_KEY, "ed")]})
ALGORITHMS = ("RS256", "ES256", "EdDSA", "HS256")


def _validators(cache_size: int) -> tuple[JwtValidator, JwtValidator]:
    strict = JwtValidator(
        KEYS,
        algorithms=ALGORITHMS,
        audience=AUDIENCE,
        issuer=ISSUER,
        groups_claim="groups",
        hmac_keys={"hs": HMAC_SECRET},
        cache_size=cache_size,
    )
    lenient = JwtValidator(
        KEYS,
        algorithms=ALGORITHMS,
        reject_unexpected_audience=False,
        require_iat=False,
        clock_skew_s=0,
        scope_claim="scp",
        subject_claim="client_id",
        hmac_keys=HMAC_SECRET,
        cache_size=cache_size,
    )
    return strict, lenient


JWT_VALIDATORS = _validators(0)
CACHED_VALIDATORS = _validators(8)
UNSECURED_VALIDATORS = (
    UnsecuredJwsValidator(),
    UnsecuredJwsValidator(
        principal_claim_name="client_id", required_scope=("admin",), allowable_clock_skew_ms=5
    ),
)


def _sign(alg: int, signing_input: bytes) -> bytes:
    if alg == 0:
        return hmac.new(HMAC_SECRET, signing_input, hashlib.sha256).digest()
    if alg == 1:
        r, s = decode_dss_signature(EC_KEY.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return ED_KEY.sign(signing_input)


def _outcome(validator: TokenValidator, token: str, now: float) -> OAuthBearerToken | str:
    """The granted token, or the refusal's status and detail; checks the refusal."""
    try:
        return validator.validate(token, now=now)
    except InvalidToken as err:
        name = type(validator).__name__
        allowed = ("invalid_token", "insufficient_scope")
        unsecured = isinstance(validator, UnsecuredJwsValidator)
        check(err.status in allowed[: 2 if unsecured else 1], f"{name}: status {err.status!r}")
        check(bool(err.detail), f"{name}: a refusal without a detail")
        if len(token) >= MIN_QUOTABLE_TOKEN:
            check(token not in str(err), f"{name}: the message quotes the token")
        return f"{err.status}: {err.detail}"


def _check_grant(token: OAuthBearerToken, value: str, now: float, skew: float, sub: str) -> None:
    claims = token.claims
    check(token.value == value, "the granted token is not the token validated")
    check(token.principal == claims.get(sub), "the principal is not the subject claim")
    check(
        bool(token.principal.strip()) and token.principal == token.principal.strip(),
        "a blank principal or one with surrounding whitespace was granted",
    )
    exp = claims["exp"]
    check(token.lifetime_ms == math.floor(exp * 1000), "lifetime_ms is not exp in ms")
    check(now - skew < exp, "an expired token was granted")
    check(all(type(item) is str and item for item in token.scope), "a scope item is not text")


def _jwt(index: int, token: str, now: float) -> None:
    validator = JWT_VALIDATORS[index]
    first = _outcome(validator, token, now)
    check(_outcome(validator, token, now) == first, "JwtValidator: two answers for one token")
    cached = CACHED_VALIDATORS[index]
    check(_outcome(cached, token, now) == first, "JwtValidator: the cache changed the answer")
    check(_outcome(cached, token, now) == first, "JwtValidator: a cache hit changed the answer")
    if not isinstance(first, str):
        skew, sub = (30.0, "sub") if index == 0 else (0.0, "client_id")
        _check_grant(first, token, now, skew, sub)


def _unsecured(token: str, now: float) -> None:
    for validator in UNSECURED_VALIDATORS:
        outcome = _outcome(validator, token, now)
        if not isinstance(outcome, str):
            check(outcome.value == token, "the granted token is not the token validated")
            check(bool(outcome.principal.strip()), "a blank principal was granted")


def _raw(inp: Input, now: float) -> None:
    token = inp.rest().decode("latin-1")
    _jwt(0, token, now)
    _jwt(1, token, now)
    _unsecured(token, now)


def _signed(inp: Input, now: float) -> None:
    alg = inp.byte() % 3
    header = b64url(inp.chunk())
    payload = b64url(inp.rest())
    signing_input = f"{header}.{payload}"
    token = f"{signing_input}.{b64url(_sign(alg, signing_input.encode()))}"
    _jwt(0, token, now)
    _jwt(1, token, now)


def _built_unsecured(inp: Input, now: float) -> None:
    header = b64url(inp.chunk())
    _unsecured(f"{header}.{b64url(inp.rest())}.", now)


_MODES: tuple[Callable[[Input, float], None], ...] = (_raw, _signed, _built_unsecured)


def _forget() -> None:
    """Empty the validators' caches, so that an input's outcome depends on it alone."""
    for validator in (*JWT_VALIDATORS, *CACHED_VALIDATORS):
        validator._headers.clear()
        if validator._cache is not None:
            validator._cache.clear()


def test_one_input(data: bytes) -> None:
    _forget()
    inp = Input(data)
    now = inp.u16() * CLOCK_STEP_S
    _MODES[inp.byte() % len(_MODES)](inp, now)


if __name__ == "__main__":
    main(test_one_input)
