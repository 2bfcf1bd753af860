"""Speed of JwtValidator, as ratios against baselines timed in the same run.

Theory of operation
-------------------
The method is bench_codec.py's, reused from it (imported, not copied):
interleaved rounds in a rotating order, an operation's cost the 10th
percentile of its per-call times, each target a ratio of two costs measured in
the same process, with the median of per-round ratios as a cross-check.

The token is a typical access token of about 900 bytes (the claims of
bench_codec.py's token: ``iss``, ``sub``, two audiences, ``iat``, ``nbf``,
``exp``, ``jti``, ``azp``, ``client_id`` and a scope string), signed three ways:
RS256 with a 2048-bit RSA key, ES256 on P-256 and EdDSA with Ed25519, all keys
generated at start. Its times are relative to the clock at start (``exp`` a day
ahead), because pyjwt reads the clock itself; our validator is given that
start time as ``now``.

Per algorithm, four operations:

* ``validate``: ``validator.validate(token, now=now)``, a :class:`JwtValidator`
  over a :class:`JsonWebKeySet` holding the three keys, configured with the
  issuer, an audience, the default 30 s of clock skew; every check runs.
* ``verify``: the raw ``cryptography`` verification of the same signature on the
  same signing input, the floor any validator pays (for ES256 the signature is
  converted to DER once, outside the timing).
* ``pyjwt``: ``jwt.decode(token, key, algorithms=[alg], audience=...,
  issuer=..., leeway=30, options={"require": ["exp", "iat", "sub"]})`` with the
  ``cryptography`` key object already loaded: pyjwt at its fastest.
* ``pyjwk_client``: pyjwt as its documentation suggests for an IdP,
  ``jwt.decode(token, client.get_signing_key_from_jwt(token).key, ...)``, with
  a ``PyJWKClient`` whose ``fetch_data`` is overridden to return the local JWKS
  instead of fetching it (the only change; its default JWK-set cache is on, so
  no call after the first parses the set, as in production).

Our validator keeps the verdict on each distinct header (a provider signs
with a few fixed headers), so repeated headers cost a dictionary lookup; that
holds in production too, where every token of a signing key shares its header.
It does not cache tokens or signatures: every call verifies.

Targets, RS256: full validation <= 1.5x one raw verification, and at least
2.5x the throughput of ``jwt.decode`` with a pre-loaded key (validate / pyjwt
<= 0.4). ES256 and EdDSA ratios are printed for information.

Run from the repository root: ``python benchmarks/bench_validation.py
[--quick] [--json PATH] [--check]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import jwt as pyjwt
from bench_codec import FULL, QUICK, Mode, Operation, Ratio, measure, ratio
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from oauthbearer.jwks import JsonWebKeySet
from oauthbearer.jwt import JwtValidator

# --- Parameters -------------------------------------------------------------------

#: Length of the RS256 token (bench_codec.py's): the ES256 and EdDSA tokens carry
#: the same claims, with shorter signatures.
TOKEN_LENGTH: Final = 900
ISSUER: Final = "https://login.example.com/realms/kafka"
AUDIENCE: Final = "kafka-broker"
ALGORITHMS: Final = ("RS256", "ES256", "EdDSA")

#: Targets: (subject, baseline, most the subject may cost as a multiple of the baseline).
TARGETS: Final = (
    ("rs256_validate", "rs256_verify", 1.5),
    ("rs256_validate", "rs256_pyjwt", 0.4),
    # A verified-token cache hit at least 20x faster than a full validation (a miss).
    ("rs256_cache_hit", "rs256_validate", 0.05),
)

#: Ratios printed for information, without a target.
INFO_RATIOS: Final = (
    ("rs256_validate", "rs256_pyjwk_client"),
    ("es256_validate", "es256_verify"),
    ("es256_validate", "es256_pyjwt"),
    ("es256_validate", "es256_pyjwk_client"),
    ("eddsa_validate", "eddsa_verify"),
    ("eddsa_validate", "eddsa_pyjwt"),
    ("eddsa_validate", "eddsa_pyjwk_client"),
)


# --- The tokens ---------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Signed:
    """One algorithm's key, token and the parts a raw verification needs."""

    alg: str
    kid: str
    public_key: Any
    token: str
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Fixture:
    now: float
    claims: dict[str, Any]
    jwks: dict[str, Any]
    signed: dict[str, Signed]


def _claims(now: int) -> dict[str, Any]:
    """bench_codec.py's claims, relative to ``now``, the scope grown to TOKEN_LENGTH."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "0b1c5e0a-6a8f-4f5e-9d43-2f3f6f3c8a11",
        "aud": [AUDIENCE, "schema-registry"],
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 86_400,
        "jti": "e3b0c442-98fc-1c14-9afb-f4c8996fb924",
        "azp": "orders-service",
        "client_id": "orders-service",
        "scope": "",
    }
    header = _b64url(b'{"alg":"RS256","kid":"bench-rsa","typ":"JWT"}')
    scopes: list[str] = []
    while True:
        claims["scope"] = " ".join(scopes)
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        if len(header) + len(payload) + 2 + 342 >= TOKEN_LENGTH:
            return claims
        scopes.append(f"kafka:topic:orders-{len(scopes)}:read")


def make_fixture() -> Fixture:
    now = int(time.time())
    claims = _claims(now)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    keys: tuple[tuple[str, str, Any], ...] = (
        ("RS256", "bench-rsa", rsa_key),
        ("ES256", "bench-ec", ec_key),
        ("EdDSA", "bench-ed25519", ed_key),
    )
    jwks: dict[str, Any] = {"keys": []}
    signed: dict[str, Signed] = {}
    for alg, kid, key in keys:
        loader: Any = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[alg]
        jwk = json.loads(loader.to_jwk(key.public_key()))
        jwks["keys"].append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        token = pyjwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        header, payload, signature = token.split(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        if alg == "ES256":
            raw = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
        signed[alg] = Signed(
            alg, kid, key.public_key(), token, f"{header}.{payload}".encode("ascii"), raw
        )
    return Fixture(float(now), claims, jwks, signed)


# --- The operations -----------------------------------------------------------------


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"bench_validation: sanity check failed: {what}")


_VERIFY: Final = {
    "RS256": "key.verify(sig, signing_input, PKCS1v15(), SHA256())",
    "ES256": "key.verify(sig, signing_input, ECDSA(SHA256()))",
    "EdDSA": "key.verify(sig, signing_input)",
}
_DECODE_ARGS: Final = (
    'algorithms=[alg], audience=audience, issuer=issuer, leeway=30, options={"require": '
    '["exp", "iat", "sub"]}'
)


def make_operations(fixture: Fixture) -> list[Operation]:
    """Four operations per algorithm, each checked once for producing the right result,
    and for RS256 a verified-token cache hit."""
    jwks = fixture.jwks

    class LocalJWKClient(pyjwt.PyJWKClient):
        """PyJWKClient with the JWKS at hand: fetch_data returns it, no network."""

        def fetch_data(self) -> Any:
            return jwks

    key_set = JsonWebKeySet.from_dict(jwks)
    _require(len(key_set.keys) == 3 and not key_set.skipped, "the JWKS loads three keys")
    validator = JwtValidator(
        key_set, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER, clock_skew_s=30
    )
    client = LocalJWKClient("https://idp.invalid/jwks")
    operations: list[Operation] = []
    for alg, item in fixture.signed.items():
        prefix = alg.lower()
        common: dict[str, Any] = {
            "jwt": pyjwt,
            "token": item.token,
            "alg": alg,
            "audience": AUDIENCE,
            "issuer": ISSUER,
        }
        result = validator.validate(item.token, now=fixture.now)
        _require(result.principal == fixture.claims["sub"], f"{alg}: validate returns sub")
        _require(result.lifetime_ms == fixture.claims["exp"] * 1000, f"{alg}: lifetime")
        decoded = pyjwt.decode(
            item.token,
            item.public_key,
            algorithms=[alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=30,
            options={"require": ["exp", "iat", "sub"]},
        )
        _require(decoded == fixture.claims, f"{alg}: jwt.decode returns the claims")
        via_client = client.get_signing_key_from_jwt(item.token)
        _require(via_client.key_id == item.kid, f"{alg}: PyJWKClient finds the key")
        verify_namespace: dict[str, Any] = {
            "key": item.public_key,
            "sig": item.signature,
            "signing_input": item.signing_input,
            "PKCS1v15": PKCS1v15,
            "SHA256": SHA256,
            "ECDSA": ec.ECDSA,
        }
        exec(_VERIFY[alg], verify_namespace)  # noqa: S102 - our own statement, once
        if alg == "RS256":
            cached = JwtValidator(
                key_set,
                algorithms=ALGORITHMS,
                audience=AUDIENCE,
                issuer=ISSUER,
                clock_skew_s=30,
                cache_size=1024,
            )
            _require(
                cached.validate(item.token, now=fixture.now)
                is cached.validate(item.token, now=fixture.now),
                "RS256: the cache answers a repeat",
            )
            operations.append(
                Operation(
                    "rs256_cache_hit",
                    "RS256: JwtValidator.validate, verified-token cache hit",
                    "validator.validate(token, now=now)",
                    {**common, "validator": cached, "now": fixture.now},
                )
            )
        operations += [
            Operation(
                f"{prefix}_validate",
                f"{alg}: JwtValidator.validate",
                "validator.validate(token, now=now)",
                {**common, "validator": validator, "now": fixture.now},
            ),
            Operation(
                f"{prefix}_verify",
                f"{alg}: baseline: raw verify (cryptography)",
                _VERIFY[alg],
                verify_namespace,
            ),
            Operation(
                f"{prefix}_pyjwt",
                f"{alg}: baseline: jwt.decode, pre-loaded key",
                f"jwt.decode(token, key, {_DECODE_ARGS})",
                {**common, "key": item.public_key},
            ),
            Operation(
                f"{prefix}_pyjwk_client",
                f"{alg}: baseline: PyJWKClient + jwt.decode",
                f"jwt.decode(token, client.get_signing_key_from_jwt(token).key, {_DECODE_ARGS})",
                {**common, "client": client},
            ),
        ]
    return operations


# --- Reporting ----------------------------------------------------------------------


def _ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f}"


def _versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("oauthbearer", "cryptography", "pyjwt")}


def _environment_line() -> str:
    versions = ", ".join(f"{name} {version}" for name, version in _versions().items())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{openssl_backend.openssl_version_text()}, {versions}"
    )


def render(operations: list[Operation], ratios: list[Ratio], fixture: Fixture, mode: Mode) -> str:
    by_key = {operation.key: operation for operation in operations}
    sizes = ", ".join(f"{alg} {len(item.token)} bytes" for alg, item in fixture.signed.items())
    lines = [
        (
            f"## bench_validation ({mode.name} mode, {mode.rounds} rounds, "
            "cost: 10th percentile of the rounds)"
        ),
        "",
        f"tokens: {sizes}",
        _environment_line(),
        "",
        "| operation | ns/op (p10) | ns/op (median) | calls/round | x raw verify | x jwt.decode |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for op in operations:
        prefix = op.key.split("_", 1)[0]
        verify, decode = by_key[f"{prefix}_verify"], by_key[f"{prefix}_pyjwt"]
        lines.append(
            f"| {op.label} | {_ns(op.cost)} | {_ns(op.median)} | {op.number:,} "
            f"| {op.cost / verify.cost:.2f} | {op.cost / decode.cost:.2f} |"
        )
    lines += ["", "| target | ratio | per-round median | limit | result |", "|---|--:|--:|--:|---|"]
    for item in ratios:
        name = f"{by_key[item.subject].label} / {by_key[item.baseline].label}"
        limit = "-" if item.limit is None else f"<= {item.limit:g}x"
        result = {True: "PASS", False: "FAIL", None: "(info)"}[item.passed]
        lines.append(
            f"| {name} | {item.ratio:.3f}x | {item.per_round_median:.3f}x | {limit} | {result} |"
        )
    return "\n".join(lines)


def to_json(
    operations: list[Operation], ratios: list[Ratio], fixture: Fixture, mode: Mode
) -> dict[str, Any]:
    return {
        "benchmark": "bench_validation",
        "mode": mode.name,
        "rounds": mode.rounds,
        "statistic": "p10",
        "environment": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "openssl": openssl_backend.openssl_version_text(),
            "versions": _versions(),
        },
        "tokens": {alg: len(item.token) for alg, item in fixture.signed.items()},
        "operations": {
            op.key: {
                "label": op.label,
                "number": op.number,
                "p10_ns": op.cost * 1e9,
                "min_ns": min(op.samples) * 1e9,
                "median_ns": op.median * 1e9,
                "max_ns": max(op.samples) * 1e9,
                "samples_ns": [sample * 1e9 for sample in op.samples],
            }
            for op in operations
        },
        "ratios": [
            {
                "subject": item.subject,
                "baseline": item.baseline,
                "ratio": item.ratio,
                "per_round_median": item.per_round_median,
                "limit": item.limit,
                "passed": item.passed,
            }
            for item in ratios
        ],
        "passed": all(item.passed is not False for item in ratios),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL

    fixture = make_fixture()
    operations = make_operations(fixture)
    measure(operations, mode)
    by_key = {operation.key: operation for operation in operations}
    ratios = [ratio(by_key, subject, baseline, limit) for subject, baseline, limit in TARGETS]
    ratios += [ratio(by_key, subject, baseline, None) for subject, baseline in INFO_RATIOS]

    print(render(operations, ratios, fixture, mode))
    if args.json is not None:
        document = to_json(operations, ratios, fixture, mode)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    passed = all(item.passed is not False for item in ratios)
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
