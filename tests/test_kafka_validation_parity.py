"""Validation parity: our validators and Apache Kafka's judge the same tokens alike.

Each listener of the real broker (tests/conftest.py) is turned into our
validator by :func:`oauthbearer.config.broker_validator`, from the very
properties the broker runs with. Several hundred tokens, generated from a
seeded matrix of claim and header shapes, are then sent to the broker (one
connection each, through :mod:`oauthbearer.testing.probe`) and validated by us at
the same moment. The verdicts must be identical: granted, or challenged with
the same ``status`` (and ``scope``) in the error JSON.

Times are relative to the moment a token is built, and stay several seconds
away from every clock-skew boundary, since the broker's clock and ours are
read a round trip apart. On a disagreement, the case is sent again alone and
the broker's log lines for it are quoted.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import random
import re
import time
from typing import TYPE_CHECKING, Any, Final

import pytest
from cryptography.hazmat.primitives import serialization

from oauthbearer.config import broker_validator
from oauthbearer.errors import InvalidToken, MalformedMessage
from oauthbearer.gs2 import ErrorResponse
from oauthbearer.testing.probe import Expected, Observed, ProbeCase, ProbeResult, probe
from tests.conftest import KAFKA_AUDIENCE, KAFKA_SCOPE_CLAIM, KAFKA_SUB_CLAIM, UNSECURED_OPTIONS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from oauthbearer.testing.idp import TestIdentityProvider
    from oauthbearer.token import TokenValidator
    from tests.real_kafka import KafkaBroker

pytestmark = pytest.mark.kafka_differential

#: The seed of every generated matrix: the same tokens on every run.
SEED: Final = 7628
#: Random combinations per listener, beyond one variation of each dimension.
UNSECURED_COMBINATIONS: Final = 220
JWT_COMBINATIONS: Final = 160
#: Connections to the broker at once.
CONCURRENCY: Final = 8
#: Kafka's token grammar (DESIGN.md section 4): a token outside it is refused
#: by the message parser, before any validator sees it.
_KAFKA_TOKEN: Final = re.compile(r"[-_~+/.A-Za-z0-9]+=*")


class _Missing:
    """A claim or header member left out."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

#: A value, or a function of the time the token is built at.
Value = Any


@dataclasses.dataclass(frozen=True, slots=True)
class TokenCase:
    id: str
    token: str = dataclasses.field(repr=False)
    #: The matrix values the token was built from, and the time it was built at.
    choice: dict[str, str] = dataclasses.field(default_factory=dict)
    now: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str  # "granted", "challenged", or what else Kafka did
    status: str | None = None
    scope: str | None = None

    def __str__(self) -> str:
        if self.outcome != "challenged":
            return self.outcome
        scope = "" if self.scope is None else f", scope {self.scope!r}"
        return f"challenged ({self.status}{scope})"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def resolve(value: Value, now: float) -> Any:
    return value(now) if callable(value) else value


def build_object(members: dict[str, Value], now: float) -> dict[str, Any]:
    resolved = {name: resolve(value, now) for name, value in members.items()}
    return {name: value for name, value in resolved.items() if value is not MISSING}


# --- Unsecured tokens ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class UnsecuredListener:
    name: str
    principal_claim: str
    scope_claim: str
    other_principal_claim: str
    other_scope_claim: str


UNSECURED_LISTENERS: Final = {
    "UNSECURED": UnsecuredListener("UNSECURED", "sub", "scope", "user", "roles"),
    "OPTIONS": UnsecuredListener(
        "OPTIONS",
        UNSECURED_OPTIONS["unsecuredValidatorPrincipalClaimName"],
        UNSECURED_OPTIONS["unsecuredValidatorScopeClaimName"],
        "sub",
        "scope",
    ),
}
#: The OPTIONS listener's skew is 5 s: "skewed" times sit 2.5 s inside it, and
#: 2.5 s outside the UNSECURED listener's 0 s.
assert UNSECURED_OPTIONS["unsecuredValidatorAllowableClockSkewMs"] == "5000"

UNSECURED_EXP: Final[dict[str, Value]] = {
    "future": lambda now: int(now) + 3600,
    "float": lambda now: now + 3600.25,
    "past": lambda now: int(now) - 60,
    "skewed-past": lambda now: now - 2.5,
    "missing": MISSING,
    "string": lambda now: str(int(now) + 3600),
    "huge": 10**30,
    "huge-long": 2**62,
    "zero": 0,
    "negative": -1,
    "null": None,
    "bool": True,
    "list": lambda now: [int(now) + 3600],
    "object": {"t": 1},
}
UNSECURED_IAT: Final[dict[str, Value]] = {
    "missing": MISSING,
    "now": lambda now: int(now) - 1,
    "float": lambda now: now - 0.5,
    "future": lambda now: int(now) + 60,
    "skewed-future": lambda now: now + 2.5,
    "string": "1",
    "list": [1],
    "null": None,
    "zero": 0,
    "far-future": lambda now: int(now) + 7200,
}
UNSECURED_PRINCIPAL: Final[dict[str, Value]] = {
    "alice": "alice",
    "missing": MISSING,
    "blank": "  ",
    "empty": "",
    "number": 42,
    "list": ["alice"],
    "null": None,
    "bool": True,
    "padded": " alice ",
    "unicode": "\u00e9lise",
    "object": {"name": "alice"},
    "in-other-claim": "OTHER",
}
UNSECURED_SCOPE: Final[dict[str, Value]] = {
    "missing": MISSING,
    "kafka": "kafka",
    "kafka-other-string": "kafka other",
    "list": ["kafka", "other"],
    "list-without": ["other"],
    "list-nonstrings": ["kafka", 1, None, True],
    "list-nested": [["kafka"]],
    "empty-list": [],
    "number": 42,
    "empty-string": "",
    "padded-list": [" kafka "],
    "object": {"kafka": 1},
    "in-other-claim": "OTHER",
}
UNSECURED_ALG: Final[dict[str, Value]] = {
    "none": "none",
    "None": "None",
    "NONE": "NONE",
    "HS256": "HS256",
    "missing": MISSING,
    "number": 1,
    "null": None,
    "padded": " none",
}
UNSECURED_SIGNATURE: Final = {"empty": "", "nonempty": "c2ln"}
UNSECURED_SHAPES: Final = (
    "plain",
    "header-not-json",
    "payload-not-json",
    "payload-array",
    "payload-empty",
    "header-plus",
    "payload-tilde",
    "payload-bad-length",
    "payload-trailing-bytes",
    "standard-alphabet",
    "double-dot",
    "four-parts",
    "leading-dot",
    "trailing-equals",
    "typ-header",
)
UNSECURED_DIMENSIONS: Final[dict[str, Sequence[str]]] = {
    "exp": tuple(UNSECURED_EXP),
    "iat": tuple(UNSECURED_IAT),
    "principal": tuple(UNSECURED_PRINCIPAL),
    "scope": tuple(UNSECURED_SCOPE),
    "alg": tuple(UNSECURED_ALG),
    "signature": tuple(UNSECURED_SIGNATURE),
    "shape": UNSECURED_SHAPES,
}
UNSECURED_BASE: Final = {
    "exp": "future",
    "iat": "now",
    "principal": "alice",
    "scope": "list",
    "alg": "none",
    "signature": "empty",
    "shape": "plain",
}


def unsecured_token(listener: UnsecuredListener, choice: dict[str, str], now: float) -> str:
    claims: dict[str, Value] = {
        "exp": UNSECURED_EXP[choice["exp"]],
        "iat": UNSECURED_IAT[choice["iat"]],
    }
    principal = UNSECURED_PRINCIPAL[choice["principal"]]
    if principal == "OTHER":
        claims[listener.other_principal_claim] = "alice"
    else:
        claims[listener.principal_claim] = principal
    scope = UNSECURED_SCOPE[choice["scope"]]
    if scope == "OTHER":
        claims[listener.other_scope_claim] = ["kafka"]
    else:
        claims[listener.scope_claim] = scope
    header_members: dict[str, Value] = {"alg": UNSECURED_ALG[choice["alg"]]}
    shape = choice["shape"]
    if shape == "typ-header":
        header_members["typ"] = "JWT"
    header = compact_json(build_object(header_members, now))
    payload = compact_json(build_object(claims, now))
    signature = UNSECURED_SIGNATURE[choice["signature"]]
    if shape == "header-not-json":
        header = b"{alg:none}"
    elif shape == "payload-not-json":
        payload = b'{"exp":1,'
    elif shape == "payload-array":
        payload = b"[1,2]"
    elif shape == "payload-empty":
        payload = b""
    elif shape == "payload-trailing-bytes":
        payload += b"\x00}garbage"
    parts = [b64(header), b64(payload), signature]
    if shape == "header-plus":
        parts[0] = "+" + parts[0][1:]
    elif shape == "payload-tilde":
        parts[1] = parts[1][:-1] + "~"
    elif shape == "payload-bad-length":
        # One character more than a whole number of quantums: never base64.
        parts[1] += "A" * ((1 - len(parts[1])) % 4 or 4)
    elif shape == "standard-alphabet":
        parts[1] = base64.b64encode(payload).rstrip(b"=").decode("ascii")
    token = ".".join(parts)
    if shape == "double-dot":
        token = parts[0] + ".." + parts[1] + "." + parts[2]
    elif shape == "four-parts":
        token = token + ".x"
    elif shape == "leading-dot":
        token = "." + token
    elif shape == "trailing-equals":
        token += "=="
    return token


def describe(choice: dict[str, str], base: dict[str, str]) -> str:
    changed = [f"{name}={value}" for name, value in choice.items() if base[name] != value]
    return ",".join(changed) or "base"


def matrix(
    dimensions: dict[str, Sequence[str]],
    base: dict[str, str],
    combinations: int,
    seed: int,
    *,
    combined: dict[str, Sequence[str]] | None = None,
) -> list[dict[str, str]]:
    """Every value of each dimension with the others at ``base``, then
    ``combinations`` distinct seeded random combinations over ``combined``
    (default: the same dimensions), each dimension off its base half the time."""
    choices = [dict(base)]
    for name, values in dimensions.items():
        choices += [{**base, name: value} for value in values if value != base[name]]
    seen = {tuple(sorted(c.items())) for c in choices}
    rng = random.Random(seed)  # noqa: S311 - a reproducible matrix, not a secret
    pool = dimensions if combined is None else combined
    for _ in range(combinations):
        while True:
            choice = {
                name: base[name] if rng.random() < 0.5 else rng.choice(values)
                for name, values in pool.items()
            }
            key = tuple(sorted(choice.items()))
            if key not in seen:
                break
        seen.add(key)
        choices.append(choice)
    return choices


# --- Signed tokens --------------------------------------------------------------------

JWT_EXP: Final[dict[str, Value]] = {
    "future": lambda now: int(now) + 600,
    "past": lambda now: int(now) - 60,
    "within-skew": lambda now: int(now) - 10,
    "before-iat": lambda now: int(now) - 25,
    "missing": MISSING,
    "string": lambda now: str(int(now) + 600),
    "float": lambda now: now + 600.5,
    "year-9999": 253_402_300_799,
    "beyond-9999": 10**12,
    "huge-long": 2**62,
    "bigint": 10**30,
    "zero": 0,
    "negative": -5,
    "null": None,
    "bool": True,
}
JWT_NBF: Final[dict[str, Value]] = {
    "now": lambda now: int(now) - 20,
    "missing": MISSING,
    "future": lambda now: int(now) + 60,
    "within-skew": lambda now: int(now) + 10,
    "string": "1",
    "float": lambda now: now - 0.5,
    "null": None,
}
JWT_IAT: Final[dict[str, Value]] = {
    "now": lambda now: int(now) - 20,
    "missing": MISSING,
    "future": lambda now: int(now) + 60,
    "within-skew": lambda now: int(now) + 10,
    "day-old": lambda now: int(now) - 86400,
    "string": lambda now: str(int(now)),
    "float": lambda now: now - 0.5,
    "null": None,
    "negative": -5,
}
JWT_AUD: Final[dict[str, Value]] = {
    "match": KAFKA_AUDIENCE,
    "list-match": [KAFKA_AUDIENCE, "other"],
    "list-other": ["other"],
    "other": "other",
    "missing": MISSING,
    "empty-list": [],
    "list-nonstring": [1],
    "list-mixed": [KAFKA_AUDIENCE, 1],
    "null": None,
    "number": 1,
    "padded": f" {KAFKA_AUDIENCE}",
}
JWT_ISS: Final[dict[str, Value]] = {
    "match": "ISSUER",
    "wrong": "https://other.example",
    "missing": MISSING,
    "trailing-slash": "ISSUER/",
    "null": None,
    "number": 1,
}
JWT_CLIENT_ID: Final[dict[str, Value]] = {
    "app": "app",
    "missing": MISSING,
    "empty": "",
    "blank": "  ",
    "padded": " app ",
    "number": 42,
    "list": ["app"],
    "null": None,
    "unicode": "\u00e9lan",
}
JWT_SCOPE: Final[dict[str, Value]] = {
    "string": "read write",
    "list": ["read", "write"],
    "missing": MISSING,
    "empty-string": "",
    "list-empty-string": [""],
    "list-duplicate": ["read", "read"],
    "list-nonstring": ["read", 1],
    "number": 42,
    "list-padded": [" read "],
    "list-blank": ["  "],
    "null": None,
    "object": {"read": True},
    "empty-list": [],
    "padded-string": " read ",
}
JWT_HEADER: Final = (
    "rs256",
    "no-kid",
    "unknown-kid",
    "typ-jwt",
    "typ-at+jwt",
    "typ-dpop+jwt",
    "typ-other",
    "typ-number",
    "crit-exp",
    "crit-unknown",
    "crit-empty",
    "cty-jwt",
    "cty-other",
    "rs384",
    "ps256",
    "alg-none",
    "alg-none-signed",
    "hs256-public-pem",
    "hs256-public-der",
    "jku",
    "extra-member",
    "kid-number",
    "alg-lowercase",
)
JWT_SIGNATURE: Final = ("valid", "flipped", "truncated", "empty", "extra-byte")
JWT_SHAPES: Final = (
    "plain",
    "payload-not-json",
    "payload-array",
    "duplicate-member",
    "four-parts",
    "five-parts",
    "trailing-equals",
    "oversize-20k",
    "oversize-100k",
)
JWT_DIMENSIONS: Final[dict[str, Sequence[str]]] = {
    "exp": tuple(JWT_EXP),
    "nbf": tuple(JWT_NBF),
    "iat": tuple(JWT_IAT),
    "aud": tuple(JWT_AUD),
    "iss": tuple(JWT_ISS),
    "client_id": tuple(JWT_CLIENT_ID),
    "scp": tuple(JWT_SCOPE),
    "header": JWT_HEADER,
    "signature": JWT_SIGNATURE,
    "shape": JWT_SHAPES,
}
JWT_BASE: Final = {
    "exp": "future",
    "nbf": "now",
    "iat": "now",
    "aud": "match",
    "iss": "match",
    "client_id": "app",
    "scp": "string",
    "header": "rs256",
    "signature": "valid",
    "shape": "plain",
}
#: Random combinations leave the big tokens out (the single variations have them).
_JWT_COMBINED_SHAPES: Final = tuple(s for s in JWT_SHAPES if not s.startswith("oversize"))


def jwt_token(idp: TestIdentityProvider, choice: dict[str, str], now: float) -> str:
    issuer = JWT_ISS[choice["iss"]]
    if isinstance(issuer, str):
        issuer = issuer.replace("ISSUER", idp.issuer)
    claims: dict[str, Value] = {
        "iss": issuer,
        "sub": "svc",
        "aud": JWT_AUD[choice["aud"]],
        "exp": JWT_EXP[choice["exp"]],
        "nbf": JWT_NBF[choice["nbf"]],
        "iat": JWT_IAT[choice["iat"]],
        "jti": "jti-1",
        KAFKA_SUB_CLAIM: JWT_CLIENT_ID[choice["client_id"]],
        KAFKA_SCOPE_CLAIM: JWT_SCOPE[choice["scp"]],
    }
    shape = choice["shape"]
    if shape == "oversize-20k":
        claims["pad"] = "x" * 20_000
    elif shape == "oversize-100k":
        claims["pad"] = "x" * 100_000
    payload = compact_json(build_object(claims, now))
    if shape == "payload-not-json":
        payload = b'{"exp":1,'
    elif shape == "payload-array":
        payload = b"[1,2]"
    elif shape == "duplicate-member":
        payload = payload[:-1] + b',"' + KAFKA_SUB_CLAIM.encode() + b'":"mallory"}'

    kind = choice["header"]
    alg = {"rs384": "RS384", "ps256": "PS256", "alg-lowercase": "rs256"}.get(kind, "RS256")
    header: dict[str, Any] = {"alg": alg, "kid": idp.signing_kid}
    extras: dict[str, dict[str, Any]] = {
        "no-kid": {"kid": MISSING},
        "unknown-kid": {"kid": "no-such-key"},
        "typ-jwt": {"typ": "JWT"},
        "typ-at+jwt": {"typ": "at+jwt"},
        "typ-dpop+jwt": {"typ": "dpop+jwt"},
        "typ-other": {"typ": "secevent+jwt"},
        "typ-number": {"typ": 1},
        "crit-exp": {"crit": ["exp"], "exp": 1},
        "crit-unknown": {"crit": ["urn:example:unknown"], "urn:example:unknown": True},
        "crit-empty": {"crit": []},
        "cty-jwt": {"cty": "JWT"},
        "cty-other": {"cty": "text/plain"},
        "jku": {"jku": "https://attacker.example/jwks"},
        "extra-member": {"x-extra": {"a": [1]}},
        "kid-number": {"kid": 7},
    }
    header.update(extras.get(kind, {}))
    header = {name: value for name, value in header.items() if value is not MISSING}
    if kind in ("alg-none", "alg-none-signed"):
        header = {"alg": "none"}
    if kind.startswith("hs256"):
        header["alg"] = "HS256"
    header_bytes = compact_json(header)

    if kind.startswith(("hs256", "alg-none")):
        signing_input = f"{b64(header_bytes)}.{b64(payload)}"
        if kind == "alg-none":
            signature = b""
        elif kind == "alg-none-signed":
            signature = hashlib.sha256(signing_input.encode()).digest()
        else:
            signature = hmac.new(
                _public_key_bytes(idp, pem=kind.endswith("pem")),
                signing_input.encode(),
                hashlib.sha256,
            ).digest()
        token = f"{signing_input}.{b64(signature)}"
    else:
        # alg-lowercase is signed as RS256, under the name the header gives.
        token = idp.sign_raw(header_bytes, payload, algorithm=alg.upper())

    head, _, sig = token.rpartition(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    mode = choice["signature"]
    if raw and mode == "flipped":
        raw = raw[:-1] + bytes([raw[-1] ^ 1])
    elif raw and mode == "truncated":
        raw = raw[:-1]
    elif mode == "empty":
        raw = b""
    elif mode == "extra-byte":
        raw += b"\x00"
    token = f"{head}.{b64(raw)}"
    if shape == "four-parts":
        token += ".AAAA"
    elif shape == "five-parts":
        token = f"{head}.AAAA.{b64(raw)}.AAAA"
    elif shape == "trailing-equals":
        token += "="
    return token


def jwt_cases(idp: TestIdentityProvider, now: float) -> list[TokenCase]:
    """The signed-token matrix, signed by ``idp`` at ``now``: each dimension's
    single variations, then :data:`JWT_COMBINATIONS` seeded combinations
    (without the oversize shapes). tests/test_strimzi_differential.py judges
    the same tokens with Strimzi's validator."""
    choices = matrix(
        JWT_DIMENSIONS,
        JWT_BASE,
        JWT_COMBINATIONS,
        SEED,
        combined={**JWT_DIMENSIONS, "shape": _JWT_COMBINED_SHAPES},
    )
    return [
        TokenCase(
            f"JWT-{index:03d}[{describe(choice, JWT_BASE)}]",
            jwt_token(idp, choice, now),
            choice,
            now,
        )
        for index, choice in enumerate(choices)
    ]


def _public_key_bytes(idp: TestIdentityProvider, *, pem: bool) -> bytes:
    key = next(k for k in idp.key_set().keys if k.kid == idp.signing_kid).key
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    data: bytes = key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


# --- Where Kafka crashes ---------------------------------------------------------------

#: Kafka 4.4.0's broker closes the connection after its validator granted a token
#: whose expiry is further ahead than this: SaslServerAuthenticator turns the
#: session lifetime into nanoseconds with Utils.msToNs, which overflows a long.
#: Kafka 4.0.2 multiplies without the check and grants the token.
_LONGEST_SESSION_MS: Final = (2**63 - 1) // 1_000_000
_LONG_MAX: Final = 2**63 - 1


def session_overflows(exp: object, now: float) -> bool:
    """Whether Kafka 4.4.0's broker closes the connection after its validator
    (Kafka's, or Strimzi's in tests/test_strimzi_differential.py) granted a
    token with this ``exp`` at ``now``: the session's lifetime overflows."""
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return False
    return exp * 1000 - now * 1000 > _LONGEST_SESSION_MS


def kafka_crash(listener: str, case: TokenCase) -> Verdict | None:
    """What Kafka's validator decided when the broker then crashed (and closed
    the connection), for the crashes this matrix is known to provoke."""
    if listener != "JWT" and case.choice["alg"] == "missing":
        # OAuthBearerUnsecuredJws: NullPointerException "JWS header must have an
        # Algorithm value" (docs/unsecured.md: we refuse with invalid_token).
        return Verdict("challenged", "invalid_token")
    if listener == "JWT" and case.choice["scp"] == "list-nonstring":
        # BrokerJwtValidator casts each scope element to String: ClassCastException.
        return Verdict("challenged", "invalid_token")
    exp = (UNSECURED_EXP if listener != "JWT" else JWT_EXP)[case.choice["exp"]]
    exp = resolve(exp, case.now)
    number = isinstance(exp, int | float) and not isinstance(exp, bool)
    if listener == "JWT" and number and int(exp) <= _LONG_MAX < int(exp) * 1000:
        # jose4j's NumericDate.getValueInMillis throws an ArithmeticException:
        # the validator never decides (docs/validation.md: we refuse).
        return Verdict("challenged", "invalid_token")
    if session_overflows(exp, case.now):
        return Verdict("granted")
    return None


# --- Judging ----------------------------------------------------------------------------


def our_verdict(validator: TokenValidator, token: str) -> Verdict:
    try:
        validator.validate(token, now=time.time())
    except InvalidToken as error:
        return Verdict("challenged", error.status, error.scope)
    return Verdict("granted")


def kafka_verdict(result: ProbeResult) -> Verdict:
    if result.observed is not Observed.CHALLENGED:
        return Verdict(result.observed.value)
    try:
        answer = ErrorResponse.decode((result.message or "").encode())
    except MalformedMessage:
        return Verdict("challenged", f"unreadable challenge {result.message!r}")
    return Verdict("challenged", answer.status, answer.scope)


def probe_case(case: TokenCase) -> ProbeCase:
    assert _KAFKA_TOKEN.fullmatch(case.token), f"{case.id}: not a token Kafka's parser reads"
    return ProbeCase(
        id=case.id,
        description=case.id,
        data=b"n,,\x01auth=Bearer " + case.token.encode("ascii") + b"\x01\x01",
        kafka=Expected.PARSED,
        rfc7628=Expected.PARSED,
    )


async def _judge_all(
    port: int, cases: Sequence[TokenCase], validator: TokenValidator
) -> list[tuple[TokenCase, Verdict, Verdict]]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def judge(case: TokenCase) -> tuple[TokenCase, Verdict, Verdict]:
        async with gate:
            (result,) = await probe("127.0.0.1", port, [probe_case(case)])
            # Ours at the moment Kafka answered: times keep seconds of margin.
            return case, our_verdict(validator, case.token), kafka_verdict(result)

    return await asyncio.gather(*(judge(case) for case in cases))


def judge(
    broker: KafkaBroker, listener: str, cases: Sequence[TokenCase], validator: TokenValidator
) -> list[tuple[TokenCase, Verdict, Verdict]]:
    return asyncio.run(_judge_all(broker.ports[listener], cases, validator))


def kafka_log_for(broker: KafkaBroker, listener: str, case: TokenCase) -> str:
    """Send ``case`` again, alone, and return the broker's log lines about it."""
    mark = broker.mark_log()
    asyncio.run(probe("127.0.0.1", broker.ports[listener], [probe_case(case)]))
    time.sleep(0.3)
    lines = [
        line
        for line in broker.log_since(mark).splitlines()
        if "oauthbearer" in line.lower() or "authentication" in line.lower()
    ]
    return "\n      ".join(line[:400] for line in lines[:6]) or "(nothing logged)"


def assert_parity(
    broker: KafkaBroker,
    listener: str,
    judged: Sequence[tuple[TokenCase, Verdict, Verdict]],
) -> None:
    """Fail on any disagreement that no known crash of Kafka's explains."""
    disagreements = []
    for case, ours, kafka in judged:
        crashed = kafka_crash(listener, case) if kafka.outcome == "closed" else None
        if crashed is not None:
            kafka = crashed  # noqa: PLW2901 - Kafka's validator's verdict, before the crash
        if ours != kafka:
            disagreements.append((case, ours, kafka))
    if not disagreements:
        return
    heading = (
        f"{len(disagreements)} of {len(judged)} tokens judged differently on {listener} "
        f"(Kafka {broker.version}):"
    )
    report = [heading]
    for index, (case, ours, kafka) in enumerate(disagreements):
        report.append(f"  {case.id}: ours {ours}, Kafka {kafka}")
        if index < 15:
            report.append(f"    Kafka's log: {kafka_log_for(broker, listener, case)}")
    pytest.fail("\n".join(report), pytrace=False)


def summary(judged: Sequence[tuple[TokenCase, Verdict, Verdict]]) -> str:
    counts: dict[str, int] = {}
    for _, _, kafka in judged:
        counts[str(kafka)] = counts.get(str(kafka), 0) + 1
    return ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))


# --- The tests --------------------------------------------------------------------------


@pytest.mark.parametrize("listener", sorted(UNSECURED_LISTENERS))
def test_unsecured_tokens_are_judged_as_kafka_judges_them(
    kafka_broker: KafkaBroker, listener: str
) -> None:
    built = broker_validator(kafka_broker.properties, listener=listener.lower())
    assert built.unsecured
    shape = UNSECURED_LISTENERS[listener]
    now = time.time()
    cases = [
        TokenCase(
            f"{listener}-{index:03d}[{describe(choice, UNSECURED_BASE)}]",
            unsecured_token(shape, choice, now),
            choice,
            now,
        )
        for index, choice in enumerate(
            matrix(UNSECURED_DIMENSIONS, UNSECURED_BASE, UNSECURED_COMBINATIONS, SEED)
        )
    ]
    judged = judge(kafka_broker, listener, cases, built.validator)
    print(f"\n{listener}, Kafka {kafka_broker.version}: {len(judged)} tokens: {summary(judged)}")
    assert_parity(kafka_broker, listener, judged)
    # The matrix must exercise both verdicts and both statuses (OPTIONS requires a scope).
    verdicts = {str(kafka) for _, _, kafka in judged}
    assert "granted" in verdicts
    assert any(v.startswith("challenged (invalid_token") for v in verdicts)
    if listener == "OPTIONS":
        assert any("insufficient_scope" in v for v in verdicts)


def jwt_validator(broker: KafkaBroker) -> TokenValidator:
    built = broker_validator(broker.properties, listener="jwt", allow_insecure_loopback=True)
    assert built.refresher is not None
    built.refresher.refresh()
    return built.validator


def test_signed_tokens_are_judged_as_kafka_judges_them(
    kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider
) -> None:
    validator = jwt_validator(kafka_broker)
    cases = jwt_cases(kafka_idp, time.time())
    judged = judge(kafka_broker, "JWT", cases, validator)
    print(f"\nJWT, Kafka {kafka_broker.version}: {len(judged)} tokens: {summary(judged)}")
    assert_parity(kafka_broker, "JWT", judged)
    verdicts = {str(kafka) for _, _, kafka in judged}
    assert "granted" in verdicts
    assert "challenged (invalid_token)" in verdicts


def test_a_rotated_key_is_judged_as_kafka_judges_it(
    kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider
) -> None:
    """The IdP starts signing with a new key: both sides refetch the JWKS on the
    unknown ``kid`` and then grant the token."""
    built = broker_validator(kafka_broker.properties, listener="jwt", allow_insecure_loopback=True)
    assert built.refresher is not None
    built.refresher.refresh()
    kafka_idp.rotate_keys()
    # jose4j's HttpsJwks skips a refresh within 300 ms of the last one, and Kafka
    # then waits 60 s before it retries the same unknown kid: leave the matrix's
    # refreshes (its unknown-kid tokens) well behind.
    time.sleep(1.0)
    assert KAFKA_SUB_CLAIM == "client_id"
    token = kafka_idp.mint_token("svc", audience=KAFKA_AUDIENCE, client_id="app")
    case = TokenCase("JWT-rotated-key", token)
    ((_, ours_first, kafka_first),) = judge(kafka_broker, "JWT", [case], built.validator)
    print(f"\nfirst try: ours {ours_first}, Kafka {kafka_first}")
    # Ours refuses a kid it does not know yet, and asks its refresher for the keys.
    assert ours_first == Verdict("challenged", "invalid_token")
    assert built.refresher.cache.refresh_due()
    built.refresher.refresh()
    deadline = time.monotonic() + 30
    while True:
        ((_, ours, kafka),) = judge(kafka_broker, "JWT", [case], built.validator)
        if kafka == ours or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (ours, kafka) == (Verdict("granted"), Verdict("granted")), (
        f"after the refresh: ours {ours}, Kafka {kafka}; "
        f"Kafka's log: {kafka_log_for(kafka_broker, 'JWT', case)}"
    )


def test_the_matrices_are_large_enough() -> None:
    """Issue 12: at least 500 generated tokens, deterministic for the seed."""
    unsecured = len(matrix(UNSECURED_DIMENSIONS, UNSECURED_BASE, UNSECURED_COMBINATIONS, SEED))
    jwt_single = len(matrix(JWT_DIMENSIONS, JWT_BASE, 0, SEED))
    assert 2 * unsecured + jwt_single >= 500
    assert matrix(UNSECURED_DIMENSIONS, UNSECURED_BASE, 10, SEED) == matrix(
        UNSECURED_DIMENSIONS, UNSECURED_BASE, 10, SEED
    )
