"""Speed of JwtValidator, as ratios against baselines timed in the same run.

Theory of operation
-------------------
The method is harness.py's, shared with bench_codec.py: interleaved rounds
in a rotating order, an operation's cost the 10th
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

Observability: ``rs256_observed`` is the same validation through
:class:`~oauthbearer.observe.ObservedValidator` with no metrics hooks
installed (what the broker emulator runs); it may cost at most 10% more than
``rs256_validate``. ``rs256_cache_hit_observed`` is a cache hit through it,
for information.

The verified-token cache: a hit, and an insert into a *full* cache of 10k,
100k and 1M entries (``cache_full_*``: each insert evicts the oldest entry, and
the rounds make hundreds of thousands of them). Eviction must not slow down as
the cache grows or runs: 1M / 10k <= 3 is a target (a plain dict's
first-key pop made it grow to ~100x). The three caches share one token, so
they hold ~300 MB, not the ~3 GB of distinct tokens.

Run from the repository root: ``python benchmarks/bench_validation.py
[--quick] [--json PATH] [--check]``.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from harness import Benchmark, Column, Operation, b64url, run_main
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from oauthbearer.observe import ObservedValidator, install_hooks
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwt import JwtValidator
from oauthbearer.validation.verified_cache import VerifiedTokenCache

if TYPE_CHECKING:
    from collections.abc import Mapping

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
    # An insert into a full cache costs about the same at any size (O(1) eviction).
    ("rs256_cache_full_1m", "rs256_cache_full_10k", 3.0),
    # Observability with no hooks installed costs at most 10% (docs/observability.md).
    ("rs256_observed", "rs256_validate", 1.1),
)
#: Sizes of the full caches that inserts are timed into.
CACHE_SIZES: Final = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}

#: Ratios printed for information, without a target.
INFO_RATIOS: Final = (
    ("rs256_validate", "rs256_pyjwk_client"),
    ("es256_validate", "es256_verify"),
    ("es256_validate", "es256_pyjwt"),
    ("es256_validate", "es256_pyjwk_client"),
    ("eddsa_validate", "eddsa_verify"),
    ("eddsa_validate", "eddsa_pyjwt"),
    ("eddsa_validate", "eddsa_pyjwk_client"),
    ("rs256_cache_full_100k", "rs256_cache_full_10k"),
    ("rs256_cache_full_10k", "rs256_verify"),
    ("rs256_cache_full_1m", "rs256_verify"),
    ("rs256_cache_hit_observed", "rs256_cache_hit"),
)


# --- The tokens ---------------------------------------------------------------------


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
    header = b64url(b'{"alg":"RS256","kid":"bench-rsa","typ":"JWT"}')
    scopes: list[str] = []
    while True:
        claims["scope"] = " ".join(scopes)
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        if len(header) + len(payload) + 2 + 342 >= TOKEN_LENGTH:
            return claims
        scopes.append(f"kafka:topic:orders-{len(scopes)}:read")


# --- The operations -----------------------------------------------------------------

_VERIFY: Final = {
    "RS256": "key.verify(sig, signing_input, PKCS1v15(), SHA256())",
    "ES256": "key.verify(sig, signing_input, ECDSA(SHA256()))",
    "EdDSA": "key.verify(sig, signing_input)",
}
_DECODE_ARGS: Final = (
    'algorithms=[alg], audience=audience, issuer=issuer, leeway=30, options={"require": '
    '["exp", "iat", "sub"]}'
)


# --- The benchmark ------------------------------------------------------------------


class ValidationBenchmark(Benchmark[Fixture]):
    """JwtValidator.validate per algorithm, against a raw verify and pyjwt's decoders."""

    name = "bench_validation"
    packages = ("oauthbearer", "cryptography", "pyjwt")
    targets = TARGETS
    info_ratios = INFO_RATIOS

    def make_fixture(self) -> Fixture:
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

    def make_operations(self, fixture: Fixture) -> list[Operation]:
        """Four operations per algorithm, each checked once for producing the right result,
        and for RS256 a verified-token cache hit."""
        jwks = fixture.jwks

        class LocalJWKClient(pyjwt.PyJWKClient):
            """PyJWKClient with the JWKS at hand: fetch_data returns it, no network."""

            def fetch_data(self) -> Any:
                return jwks

        key_set = JsonWebKeySet.from_dict(jwks)
        self.require(len(key_set.keys) == 3 and not key_set.skipped, "the JWKS loads three keys")
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
            self.require(result.principal == fixture.claims["sub"], f"{alg}: validate returns sub")
            self.require(result.lifetime_ms == fixture.claims["exp"] * 1000, f"{alg}: lifetime")
            decoded = pyjwt.decode(
                item.token,
                item.public_key,
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=30,
                options={"require": ["exp", "iat", "sub"]},
            )
            self.require(decoded == fixture.claims, f"{alg}: jwt.decode returns the claims")
            via_client = client.get_signing_key_from_jwt(item.token)
            self.require(via_client.key_id == item.kid, f"{alg}: PyJWKClient finds the key")
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
                self.require(
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
                # The same two through ObservedValidator, with no hooks installed:
                # what the broker emulator pays for its counters and DEBUG lines.
                self.require(install_hooks(None) is None, "no metrics hooks are installed")
                operations += [
                    Operation(
                        "rs256_cache_hit_observed",
                        "RS256: ObservedValidator, verified-token cache hit",
                        "validator.validate(token, now=now)",
                        {**common, "validator": ObservedValidator(cached), "now": fixture.now},
                    ),
                    Operation(
                        "rs256_observed",
                        "RS256: ObservedValidator(JwtValidator).validate",
                        "validator.validate(token, now=now)",
                        {**common, "validator": ObservedValidator(validator), "now": fixture.now},
                    ),
                ]
                operations += self._cache_inserts(key_set, item, fixture)
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
                    (
                        "jwt.decode(token, client.get_signing_key_from_jwt(token).key, "
                        f"{_DECODE_ARGS})"
                    ),
                    {**common, "client": client},
                ),
            ]
        return operations

    def _cache_inserts(
        self, key_set: JsonWebKeySet, item: Signed, fixture: Fixture
    ) -> list[Operation]:
        """Inserts into a full VerifiedTokenCache of each size, each evicting the oldest."""
        token = JwtValidator(
            key_set, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER, clock_skew_s=30
        ).validate(item.token, now=fixture.now)
        key = key_set.keys_for(item.kid, item.alg)[0]
        operations = []
        for label, size in CACHE_SIZES.items():
            cache = VerifiedTokenCache(size)
            for number in range(size):
                cache.put(
                    number.to_bytes(32, "big"),
                    token,
                    kid=item.kid,
                    alg=item.alg,
                    key=key,
                    source=key_set,
                )
            self.require(len(cache) == size, f"the {label} cache is full")
            digests = (number.to_bytes(32, "big") for number in itertools.count(size))
            namespace = {
                "cache": cache,
                "digests": digests,
                "token": token,
                "kid": item.kid,
                "key": key,
                "source": key_set,
            }
            statement = (
                'cache.put(next(digests), token, kid=kid, alg="RS256", key=key, source=source)'
            )
            exec(statement, namespace)  # noqa: S102 - our own statement, once
            self.require(len(cache) == size, f"an insert into the full {label} cache evicts")
            operations.append(
                Operation(
                    f"rs256_cache_full_{label}",
                    f"RS256: verified-token cache insert, full at {label} entries",
                    statement,
                    namespace,
                )
            )
        return operations

    def about(self, fixture: Fixture) -> list[str]:
        sizes = ", ".join(f"{alg} {len(item.token)} bytes" for alg, item in fixture.signed.items())
        return [f"tokens: {sizes}"]

    def columns(self, by_key: Mapping[str, Operation]) -> list[Column]:
        def baseline(op: Operation, kind: str) -> Operation:
            """The baseline of this kind for the operation's algorithm (its key's prefix)."""
            return by_key[f"{op.key.split('_', 1)[0]}_{kind}"]

        return [
            ("x raw verify", lambda op: f"{op.cost / baseline(op, 'verify').cost:.2f}"),
            ("x jwt.decode", lambda op: f"{op.cost / baseline(op, 'pyjwt').cost:.2f}"),
        ]

    def details(self, fixture: Fixture) -> dict[str, Any]:
        return {"tokens": {alg: len(item.token) for alg, item in fixture.signed.items()}}


def main(argv: list[str] | None = None) -> int:
    return run_main(
        argv, ValidationBenchmark(), doc=__doc__, quick_help="a short run (a few seconds)"
    )


if __name__ == "__main__":
    sys.exit(main())
