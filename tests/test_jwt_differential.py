"""JwtValidator against pyjwt: the same tokens, the same verdicts.

Hypothesis builds tokens (valid ones, and ones tampered with, signed with the
wrong key, with a wrong or confused ``alg``, expired, not yet valid, for the
wrong audience or issuer, with bad base64url or bad JSON, with huge or deeply
nested claims) and both validators judge them under the same configuration:
``jwt.decode(token, key, algorithms=[alg], audience=..., issuer=...,
leeway=30, options={"require": ["exp", "iat", "sub"]})`` against
``JwtValidator(keys, algorithms=[alg], audience=..., issuer=...,
clock_skew_s=30)``. They must agree on accept or reject.

pyjwt reads the system clock itself, so times here are offsets from the real
clock, never closer than 70 s to a limit: the test's own duration cannot
change a verdict.

Where the two differ by design, the generator stays clear of the difference
and ``test_documented_differences`` pins each one (we refuse, pyjwt accepts):

1. duplicate JSON members (RFC 7519 section 4 lets a parser reject them; pyjwt
   keeps the last, so two readers of one token could see different claims);
2. padded base64url: pyjwt 2.15 accepts trailing ``=`` (for AWS ALB), RFC
   7515 section 2 says the padding is omitted (both refuse non-canonical
   spellings, where unused bits are set: ``test_both_refuse_non_canonical``);
3. ``crit`` (pyjwt understands ``b64``; we understand no extension);
4. ``typ`` other than JWT / at+jwt / application/at+jwt, and ``cty`` (RFC 8725
   section 3.11; pyjwt ignores both);
5. a subject that is empty, blank or padded with whitespace (pyjwt only
   requires a string);
6. NumericDates that are strings of digits or negative (pyjwt calls ``int()``
   on them), and ``NaN`` anywhere in the JSON (pyjwt accepts it in claims it
   does not check);
7. an empty ``aud`` (``""`` or ``[]``) with no audience configured: pyjwt treats
   it as absent, we as present (reject_unexpected_audience);
8. a scope claim that is neither a string nor an array of strings (pyjwt does
   not read scopes);
9. tokens longer than ``max_token_length`` (pyjwt has no limit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from oauthbearer.errors import InvalidToken
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwt import JwtValidator
from tests.test_jwks import b64url, private_key, public_jwk
from tests.test_jwt import SECRET, forge

ISSUER = "https://idp.example.com/realms/kafka"
AUDIENCE = "kafka-broker"
SKEW = 30
#: alg -> (the key that signs, a second key of the same type for "wrong key").
SIGNERS = {
    "RS256": ("rsa", "rsa3072"),
    "ES256": ("p256", "p256b"),
    "EdDSA": ("ed25519", "ed25519b"),
    "HS256": ("hs", "hs-other"),
}
OTHER_SECRET = b"o" * 32


def _keys() -> JsonWebKeySet:
    return JsonWebKeySet.from_dict(
        {"keys": [public_jwk(name, name) for name in ("rsa", "p256", "ed25519")]}
    )


KEYS = _keys()


def verification_key(alg: str) -> Any:
    """What pyjwt is given: the same key our validator selects."""
    if alg == "HS256":
        return SECRET
    return private_key(SIGNERS[alg][0]).public_key()


def pyjwt_accepts(token: str, alg: str, *, audience: str | None, issuer: str | None) -> bool:
    try:
        pyjwt.decode(
            token,
            verification_key(alg),
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=SKEW,
            options={"require": ["exp", "iat", "sub"]},
        )
    except pyjwt.PyJWTError:
        return False
    return True


def ours_accepts(token: str, alg: str, *, audience: str | None, issuer: str | None) -> bool:
    validator = JwtValidator(
        KEYS if alg != "HS256" else None,
        algorithms=[alg],
        audience=audience,
        issuer=issuer,
        clock_skew_s=SKEW,
        hmac_keys=SECRET if alg == "HS256" else None,
    )
    try:
        validator.validate(token, now=time.time())
    except InvalidToken:
        return False
    return True


def sign_raw(header: dict[str, Any], payload: dict[str, Any] | bytes, signer: str, alg: str) -> str:
    """A token signed by hand with the named key (or secret) under ``alg``."""
    if alg == "HS256":
        secret = SECRET if signer == "hs" else OTHER_SECRET
        return hs256(header, payload, secret)
    return forge(header, payload, alg, signer=signer)


def hs256(header: dict[str, Any], payload: dict[str, Any] | bytes, secret: bytes) -> str:
    """An HS256 token by hand: pyjwt refuses to use a PEM as a secret, attackers do not."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


@dataclass(frozen=True)
class Case:
    alg: str
    audience: str | None
    issuer: str | None
    token: str
    mutation: str


OFFSETS = st.sampled_from([-7200, -100, 100, 7200])
MUTATIONS = (
    "none",
    "tamper-payload",
    "tamper-signature",
    "wrong-key",
    "alg-none",
    "alg-confusion",
    "alg-mismatch",
    "bad-base64",
    "bad-json",
    "not-an-object",
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    alg = draw(st.sampled_from(sorted(SIGNERS)))
    audience = draw(st.sampled_from([None, AUDIENCE]))
    issuer = draw(st.sampled_from([None, ISSUER]))
    now = int(time.time())
    # Each choice lists the valid values first; half the cases draw only those,
    # so that acceptances are common, not one in a hundred.
    valid = draw(st.booleans())

    def choose(options: list[Any], good: int) -> Any:
        return draw(st.sampled_from(options[:good] if valid else options))

    claims: dict[str, Any] = {}
    for name, offsets, good in (
        ("exp", [7200, 100, -100, -7200, None], 2),
        ("iat", [-100, -7200, 100, None], 2),
        ("nbf", [None, -100, 100, 7200], 2),
    ):
        offset = choose(offsets, good)
        if offset is not None:
            claims[name] = now + offset
    if valid or draw(st.integers(0, 9)):
        # Subjects without surrounding whitespace: see difference 5.
        claims["sub"] = draw(st.from_regex(r"[A-Za-z0-9@._-]{1,40}", fullmatch=True))
    auds: list[Any] = [None, AUDIENCE, "other", ["other", AUDIENCE], ["other"]]
    if audience is not None:
        auds = [AUDIENCE, ["other", AUDIENCE], None, "other", ["other"]]
    aud = choose(auds, 2 if audience is not None else 1)
    if aud is not None:
        claims["aud"] = aud
    isses = [None, ISSUER, "https://evil.example.com", ISSUER + "/"]
    if issuer is not None:
        isses = [ISSUER, None, "https://evil.example.com", ISSUER + "/"]
    iss = choose(isses, 1 if issuer is not None else 4)
    if iss is not None:
        claims["iss"] = iss
    claims["scope"] = draw(st.sampled_from(["", "read", "read write"]))
    size = draw(st.sampled_from([0, 0, 100, 8000]))
    if size:
        claims["blob"] = "x" * size
    depth = draw(st.sampled_from([0, 0, 30, 200]))
    if depth:
        nested: Any = []
        for _ in range(depth):
            nested = [nested]
        claims["nested"] = nested
    claims.update(draw(st.dictionaries(st.sampled_from(["jti", "azp", "x"]), st.text(max_size=20))))

    signer, other = SIGNERS[alg]
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if alg != "HS256":
        header["kid"] = signer
    mutation = draw(st.sampled_from(MUTATIONS))
    token = sign_raw(header, claims, signer, alg)
    head, payload, signature = token.split(".")
    if mutation == "tamper-payload":
        changed = {**claims, "sub": "mallory", "exp": now + 7200}
        token = f"{head}.{b64url(json.dumps(changed).encode())}.{signature}"
    elif mutation == "tamper-signature":
        raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
        raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
        token = f"{head}.{payload}.{b64url(bytes(raw))}"
    elif mutation == "wrong-key":
        token = sign_raw(header, claims, other, alg)
    elif mutation == "alg-none":
        none = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        token = f"{none}.{payload}."
    elif mutation == "alg-confusion":
        # The classic attack: HS256 with the RSA public key's PEM as the MAC key (for
        # an HS256 validator, RS256 "signed" with the secret is the mirror image).
        pem = (
            private_key("rsa")
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        if alg == "HS256":
            token = forge({"alg": "RS256", "kid": "rsa", "typ": "JWT"}, claims)
        else:
            confused = {"alg": "HS256", "typ": "JWT", "kid": header.get("kid", "rsa")}
            token = hs256(confused, claims, pem)
    elif mutation == "alg-mismatch":
        # The header names another asymmetric algorithm than the one that signed.
        swapped = {"RS256": "ES256", "ES256": "EdDSA", "EdDSA": "RS256", "HS256": "RS256"}[alg]
        fake = b64url(json.dumps({**header, "alg": swapped}).encode())
        token = f"{fake}.{payload}.{signature}"
    elif mutation == "bad-base64":
        where = draw(st.integers(1, len(payload) - 1))
        char = draw(st.sampled_from(["!", "*", " ", "$", "\x00"]))
        token = sign_raw(header, claims, signer, alg)
        token = f"{head}.{payload[:where]}{char}{payload[where:]}.{signature}"
    elif mutation == "bad-json":
        body = draw(st.sampled_from([b"{not json", b'{"sub": }', b"\xff\xfe{}", b"", b"[" * 3000]))
        token = sign_raw(header, body, signer, alg)
    elif mutation == "not-an-object":
        body = draw(st.sampled_from([b"[]", b'"claims"', b"1800000000", b"null"]))
        token = sign_raw(header, body, signer, alg)
    return Case(alg, audience, issuer, token, mutation)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_agrees_with_pyjwt(case: Case) -> None:
    ours = ours_accepts(case.token, case.alg, audience=case.audience, issuer=case.issuer)
    theirs = pyjwt_accepts(case.token, case.alg, audience=case.audience, issuer=case.issuer)
    event(f"{case.mutation}: {'accepted' if ours else 'refused'}")
    assert ours == theirs, (case.mutation, ours, theirs)
    if case.mutation != "none":
        assert not ours, case.mutation


def test_the_generator_reaches_acceptance() -> None:
    # A differential test where everything is refused proves nothing.
    now = int(time.time())
    claims = {"sub": "alice", "iat": now - 100, "exp": now + 7200}
    for alg, (signer, _) in SIGNERS.items():
        header = {"alg": alg, "typ": "JWT", **({"kid": signer} if alg != "HS256" else {})}
        token = sign_raw(header, claims, signer, alg)
        assert ours_accepts(token, alg, audience=None, issuer=None)
        assert pyjwt_accepts(token, alg, audience=None, issuer=None)


# --- Differences by design ------------------------------------------------------------------


def _now_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "iat": now - 100, "exp": now + 7200}
    claims.update(changes)
    return claims


def _difference_tokens() -> dict[str, str]:
    header = {"alg": "RS256", "kid": "rsa"}
    now = int(time.time())
    good = forge(header, _now_claims())
    head, payload, signature = good.split(".")
    duplicate = json.dumps(_now_claims())[:-1] + ', "sub": "root"}'
    tokens = {
        "duplicate-member": forge(header, duplicate.encode()),
        "crit-b64": forge({**header, "b64": True, "crit": ["b64"]}, _now_claims()),
        "typ-dpop": forge({**header, "typ": "dpop+jwt"}, _now_claims()),
        "cty": forge({**header, "cty": "JWT"}, _now_claims()),
        "empty-sub": forge(header, _now_claims(sub="")),
        "padded-sub": forge(header, _now_claims(sub=" alice ")),
        "string-exp": forge(header, _now_claims(exp=str(now + 7200))),
        "negative-iat": forge(header, _now_claims(iat=-1)),
        "nan-claim": forge(header, json.dumps(_now_claims(x=float("nan"))).encode()),
        "empty-aud": forge(header, _now_claims(aud=[])),
        "scope-number": forge(header, _now_claims(scope=42)),
        "too-long": forge(header, _now_claims(blob="x" * 20_000)),
    }
    # The same signature bytes, spelled with padding.
    padding = "=" * (-len(signature) % 4)
    assert padding, "a 2048-bit RSA signature has 342 base64url characters: padding applies"
    tokens["padded-signature"] = f"{head}.{payload}.{signature}{padding}"
    es = forge({"alg": "ES256", "kid": "p256"}, _now_claims(pad="x"), "ES256")
    for extra in range(4):
        es = forge({"alg": "ES256", "kid": "p256"}, _now_claims(pad="x" * extra), "ES256")
        if len(es.rsplit(".", 1)[1]) % 4 in (2, 3):
            break
    es_head, es_signature = es.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = alphabet[alphabet.index(es_signature[-1]) + 1]
    tokens["non-canonical-signature"] = f"{es_head}.{es_signature[:-1]}{bumped}"
    return tokens


DIFFERENCES = _difference_tokens()
NON_CANONICAL = DIFFERENCES.pop("non-canonical-signature")


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_documented_differences(name: str) -> None:
    token = DIFFERENCES[name]
    assert pyjwt_accepts(token, "RS256", audience=None, issuer=None), name
    assert not ours_accepts(token, "RS256", audience=None, issuer=None), name


def test_both_refuse_non_canonical() -> None:
    # The same signature bytes, with an unused bit set in the last character.
    assert not pyjwt_accepts(NON_CANONICAL, "ES256", audience=None, issuer=None)
    assert not ours_accepts(NON_CANONICAL, "ES256", audience=None, issuer=None)
