"""Properties of JwtValidator: any string gives a token or InvalidToken, and never echoes itself.

``validate`` faces unauthenticated input, so it must be total: whatever the
string, the answer is an :class:`OAuthBearerToken` or an :class:`InvalidToken`
with status ``invalid_token``; any other exception is a bug a client could
trigger. And since the detail goes to the server's log, it must never quote the
token (a credential). Inputs come in five kinds, from the crudest to the most
probing: any text, any bytes read as latin-1, three dotted parts of base64url
garbage, validly signed JSON headers and payloads (so that every check, the claim
checks included, sees arbitrary values), and mutations of one valid token.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from oauthbearer.errors import InvalidToken
from oauthbearer.token import OAuthBearerToken
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwt import JwtValidator

NOW = 1_800_000_000
ISSUER = "https://idp.example"
AUDIENCE = "kafka-broker"
BASE64URL = string.ascii_letters + string.digits + "-_"
#: A detail may name short values (a kid, an issuer); a whole token of this length must not appear.
QUOTE_LIMIT = 20

# One key, one key set and one valid token for the whole module: keys are slow to make.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS = JsonWebKeySet.from_dict(
    {"keys": [{**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}]}
)
#: Validators in several configurations; each keeps its header cache across examples.
VALIDATORS = (
    JwtValidator(KEYS, issuer=ISSUER, audience=AUDIENCE, groups_claim="groups"),
    JwtValidator(
        KEYS,
        algorithms=("RS256", "PS256", "ES256", "EdDSA"),
        reject_unexpected_audience=False,
        require_iat=False,
    ),
    JwtValidator(
        KEYS, audience=[AUDIENCE, "x"], scope_claim="scp", subject_claim="uid", clock_skew_s=0
    ),
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed(header: Any, payload: Any) -> str:
    """A compact JWS over any two JSON values, validly signed with RS256 by KEY."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = KEY.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


CLAIMS = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "sub": "alice",
    "uid": "u1",
    "iat": NOW - 10,
    "exp": NOW + 3600,
    "scope": "read write",
    "scp": ["read"],
    "groups": ["admins"],
}
VALID = signed({"alg": "RS256", "typ": "JWT", "kid": "k1"}, CLAIMS)


def check(validator: JwtValidator, token: str, now: float) -> None:
    """The property: a token or InvalidToken('invalid_token'), whose detail hides the token."""
    try:
        result = validator.validate(token, now=now)
    except InvalidToken as error:
        assert error.status == "invalid_token"
        assert error.detail
        if len(token) > QUOTE_LIMIT:
            assert token not in error.detail
            assert token not in str(error)
    else:
        assert isinstance(result, OAuthBearerToken)
        assert result.value == token


def test_the_valid_token_is_valid() -> None:
    # Guards the properties below: without it, they could pass by refusing everything.
    for validator in VALIDATORS:
        assert isinstance(validator.validate(VALID, now=NOW), OAuthBearerToken)


validators = st.sampled_from(VALIDATORS)
nows = st.one_of(
    st.just(float(NOW)),
    st.integers(min_value=NOW - 7200, max_value=NOW + 7200),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # NaN: see the alternatives below
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
numeric_dates = st.one_of(
    st.integers(min_value=NOW - 7200, max_value=NOW + 7200),
    st.floats(allow_nan=True),
    st.integers(),
    json_values,
)
_DROP: Any = object()


def _claim(value: Any, *alternatives: Any) -> st.SearchStrategy[Any]:
    """A claim of the valid token: mostly kept, sometimes dropped, changed or anything."""
    kept = st.just(value)
    return st.one_of(kept, kept, kept, st.sampled_from([_DROP, *alternatives]), json_values)


#: Payloads near the valid one (so that later checks are reached), and any JSON at all.
near_payloads = st.builds(
    lambda claims: {name: value for name, value in claims.items() if value is not _DROP},
    st.fixed_dictionaries(
        {
            "iss": _claim(ISSUER, "https://other.example"),
            "aud": _claim(AUDIENCE, [AUDIENCE, "x"], [], "x", [1]),
            "sub": _claim("alice", " alice", "", "\x00", "al\nice"),
            "uid": _claim("u1", "", 7),
            "iat": _claim(NOW - 10, NOW + 31, -1, 1.5, True, "1", 10**20, float("nan")),
            "nbf": st.one_of(st.just(_DROP), st.just(_DROP), numeric_dates),
            "exp": _claim(NOW + 3600, NOW, NOW - 31, NOW + 0.5, 1e300, False, float("inf")),
            "scope": _claim("read write", "", "  a  b ", ["a", 1], {}),
            "scp": _claim(["read"], "read write", [None]),
            "groups": _claim(["admins"], "admins", [["a"]]),
        }
    ),
)
payloads = st.one_of(near_payloads, near_payloads, near_payloads, json_values)


#: Headers that pass, and headers with any of their members replaced by anything.
good_headers = st.sampled_from(
    [{"alg": "RS256"}, {"alg": "RS256", "kid": "k1"}, {"alg": "RS256", "typ": "at+jwt"}]
)
headers = st.one_of(
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["RS256", "PS256", "none", "HS256"]) | json_values},
        optional={
            "kid": st.sampled_from(["k1", "k2"]) | json_values,
            "typ": st.sampled_from(["JWT", "at+jwt", "dpop+jwt"]) | json_values,
            "crit": json_values,
            "cty": json_values,
        },
    ),
    json_values,
)


@settings(max_examples=300, deadline=None)  # each example signs with RSA
@given(validators, headers, nows)
@example(VALIDATORS[0], {"alg": "RS256", "kid": "k1", "typ": "AT+JWT"}, NOW)
@example(VALIDATORS[0], {"alg": "RS256", "kid": "k" * 2000}, NOW)
def test_signed_any_header(validator: JwtValidator, header: Any, now: float) -> None:
    check(validator, signed(header, CLAIMS), now)


@settings(max_examples=300, deadline=None)  # each example signs with RSA
@given(validators, good_headers, payloads, nows)
@example(VALIDATORS[0], {"alg": "RS256", "kid": "k1"}, CLAIMS, NOW)
@example(VALIDATORS[0], {"alg": "RS256"}, {**CLAIMS, "exp": float("nan")}, NOW)
@example(VALIDATORS[0], {"alg": "RS256"}, {**CLAIMS, "exp": 10**400}, NOW)
@example(VALIDATORS[0], {"alg": "RS256"}, {**CLAIMS, "exp": True}, NOW)
@example(VALIDATORS[1], {"alg": "RS256"}, {**CLAIMS, "iat": None}, NOW)
def test_signed_any_payload(validator: JwtValidator, header: Any, payload: Any, now: float) -> None:
    check(validator, signed(header, payload), now)


@settings(max_examples=300)
@given(validators, st.text(st.characters(exclude_categories=())), nows)
@example(VALIDATORS[0], "", NOW)
@example(VALIDATORS[0], "\ud800." * 3, NOW)
@example(VALIDATORS[0], "a.b.c.d.e", NOW)
def test_any_text(validator: JwtValidator, token: str, now: float) -> None:
    check(validator, token, now)


@settings(max_examples=300)
@given(validators, st.binary(), nows)
def test_any_bytes_as_latin1(validator: JwtValidator, data: bytes, now: float) -> None:
    check(validator, data.decode("latin-1"), now)


base64url_parts = st.text(BASE64URL + "=+/", max_size=60)


@settings(max_examples=300)
@given(validators, st.lists(base64url_parts, min_size=3, max_size=3), nows)
@example(VALIDATORS[0], VALID.split("."), NOW)  # the real thing, which is accepted
@example(VALIDATORS[0], [VALID.split(".")[0], "e30", "AAAA"], NOW)
def test_three_dotted_parts(validator: JwtValidator, parts: list[str], now: float) -> None:
    check(validator, ".".join(parts), now)


mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, len(VALID) - 1), st.characters()),
    st.tuples(st.just("insert"), st.integers(0, len(VALID)), st.characters()),
    st.tuples(st.just("delete"), st.integers(0, len(VALID) - 1), st.just("")),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID)), st.just("")),
)


@settings(max_examples=300)
@given(validators, st.lists(mutations, min_size=1, max_size=4), nows)
@example(VALIDATORS[0], [("truncate", len(VALID) - 1, "")], NOW)
@example(VALIDATORS[0], [("insert", len(VALID), "=")], NOW)
@example(VALIDATORS[0], [("replace", 0, "f")], NOW)
def test_mutated_valid_token(
    validator: JwtValidator, changes: list[tuple[str, int, str]], now: float
) -> None:
    token = VALID
    for kind, position, char in changes:
        index = min(position, len(token))
        if kind == "replace" and index < len(token):
            token = token[:index] + char + token[index + 1 :]
        elif kind == "insert":
            token = token[:index] + char + token[index:]
        elif kind == "delete":
            token = token[:index] + token[index + 1 :]
        else:
            token = token[:index]
    check(validator, token, now)
