"""Speed of the OAUTHBEARER codec, as ratios against baselines timed in the same run.

Theory of operation
-------------------
Machines are shared and noisy, so no absolute time is a target: every target is
a ratio between our operation and a baseline measured in the same process,
in the same rounds. Each round times every operation once, in an order that
rotates from round to round, so that every operation is sampled across the
whole run and meets the same quiet and busy spells. An operation's cost is the
10th percentile of its per-call times over the rounds. Sustained load slows the
interpreter-bound codec more than OpenSSL's verification, so the statistic must
come from the quiet rounds; yet not from the single lucky round a plain minimum
can pick (benchmarks/README.md shows the runs that decided this). The median of
the per-round ratios is printed beside each ratio as a cross-check.

The message is a typical Kafka initial response of about 1 KB: an RS256 JWT of
about 900 bytes, signed with a 2048-bit RSA key generated at start, plus two
extensions (``traceId`` and ``logicalCluster``).

Subjects: ``ClientInitialResponse.decode`` in both dialects, and
``ClientInitialResponse(token, extensions=ext).encode()`` (construction,
validation and encoding, as a user writes it). Baselines: one raw RS256
signature verification with ``cryptography`` (what a server does next with the
token), kafka-python's ``SaslMechanismOAuth.auth_bytes()`` and aiokafka's
``OAuthAuthenticator.step()`` (the code paths those clients use to build the
same bytes).

Targets: decode (either dialect) <= 0.15x one RS256 verification; validated
encode <= 2x kafka-python's builder. The script reports; it exits 1 on a missed
target only with ``--check``.

Run from the repository root: ``python benchmarks/bench_codec.py [--quick]
[--json PATH] [--check]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import platform
import statistics
import sys
import timeit
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, generate_private_key
from cryptography.hazmat.primitives.hashes import SHA256

from oauthbearer.gs2 import ClientInitialResponse, Dialect

# --- Parameters -------------------------------------------------------------------

#: Length of the benchmark JWT: an RS256 access token with a handful of claims
#: is around a kilobyte, 342 bytes of it the signature.
TOKEN_LENGTH: Final = 900

#: Two extensions of the kind clients send: a trace id, and Confluent Cloud's cluster id.
EXTENSIONS: Final = {
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    "logicalCluster": "lkc-abc123",
}

#: Targets: (subject, baseline, most the subject may cost as a multiple of the baseline).
TARGETS: Final = (
    ("decode_rfc7628", "rs256_verify", 0.15),
    ("decode_kafka", "rs256_verify", 0.15),
    ("encode_validated", "kafka_python_builder", 2.0),
)

#: Which order statistic of an operation's samples is its cost: the 10th percentile
#: (nearest rank, rounding down), i.e. the 3rd fastest of 25 rounds; the minimum
#: when there are fewer than 11 rounds.
LOW_QUANTILE: Final = 0.1

#: Ratios printed for information, without a target.
INFO_RATIOS: Final = (
    ("encode_validated", "aiokafka_step"),
    ("encode_validated", "aiokafka_helpers"),
)


@dataclass(frozen=True, slots=True)
class Mode:
    """How long to measure: rounds, and the time one measurement should take."""

    name: str
    rounds: int
    seconds_per_measurement: float


#: Full mode: 5 to 8 s in all on this project's 2-core machines.
FULL: Final = Mode("full", rounds=25, seconds_per_measurement=0.04)
#: Quick mode, for the smoke test: well under 3 s in all, imports and key included.
QUICK: Final = Mode("quick", rounds=5, seconds_per_measurement=0.004)


# --- The message --------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Fixture:
    """The token, its parts for verification, and the message built from it."""

    token: str
    signing_input: bytes
    signature: bytes
    public_key: RSAPublicKey
    message: bytes


def make_fixture() -> Fixture:
    """An RS256 JWT of :data:`TOKEN_LENGTH` bytes, and the initial response carrying it.

    Claims use fixed times: the benchmark reads no clock for its data.
    """
    private_key = generate_private_key(public_exponent=65537, key_size=2048)
    header = _b64url(
        json.dumps(
            {"alg": "RS256", "kid": "bench-2048", "typ": "JWT"}, separators=(",", ":")
        ).encode()
    )
    claims: dict[str, Any] = {
        "iss": "https://login.example.com/realms/kafka",
        "sub": "0b1c5e0a-6a8f-4f5e-9d43-2f3f6f3c8a11",
        "aud": ["kafka-broker", "schema-registry"],
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_003_600,
        "jti": "e3b0c442-98fc-1c14-9afb-f4c8996fb924",
        "azp": "orders-service",
        "client_id": "orders-service",
        "scope": "",
    }
    # 2048-bit RSA: a 256-byte signature, 342 base64url characters.
    signature_length = 342
    scopes: list[str] = []
    while True:
        claims["scope"] = " ".join(scopes)
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        if len(header) + len(payload) + 2 + signature_length >= TOKEN_LENGTH:
            break
        scopes.append(f"kafka:topic:orders-{len(scopes)}:read")
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = private_key.sign(signing_input, PKCS1v15(), SHA256())
    token = f"{header}.{payload}.{_b64url(signature)}"
    pairs = "".join(f"{key}={value}\x01" for key, value in EXTENSIONS.items())
    message = f"n,,\x01auth=Bearer {token}\x01{pairs}\x01".encode("ascii")
    return Fixture(token, signing_input, signature, private_key.public_key(), message)


# --- The operations -----------------------------------------------------------------


@dataclass(slots=True)
class Operation:
    """One timed statement and its samples (seconds per call, one per round)."""

    key: str
    label: str
    stmt: str
    namespace: dict[str, Any]
    number: int = 0
    samples: list[float] = field(default_factory=list)

    def timer(self) -> timeit.Timer:
        return timeit.Timer(self.stmt, globals=self.namespace)

    @property
    def cost(self) -> float:
        """The operation's cost: the :data:`LOW_QUANTILE` of its samples."""
        ordered = sorted(self.samples)
        return ordered[int(LOW_QUANTILE * (len(ordered) - 1))]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


_AIOKAFKA_STEP: Final = """\
coroutine = OAuthAuthenticator(sasl_oauth_token_provider=provider).step(b"")
try:
    coroutine.send(None)
except StopIteration as stop:
    result = stop.value
"""


def _drive(coroutine: Any) -> Any:
    """Run a coroutine that never suspends, without an event loop; return its result."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended: it needs an event loop")


def make_operations(fixture: Fixture) -> list[Operation]:
    """The subjects and baselines, each checked once for producing the right result."""
    with warnings.catch_warnings():
        # kafka-python 3.0 calls importlib.resources.read_text (deprecated) on import.
        warnings.simplefilter("ignore", DeprecationWarning)
        from aiokafka.abc import AbstractTokenProvider as AioTokenProvider
        from aiokafka.conn import OAuthAuthenticator
        from kafka.net.sasl.oauth import AbstractTokenProvider as KafkaTokenProvider
        from kafka.net.sasl.oauth import SaslMechanismOAuth

    token, extensions = fixture.token, dict(EXTENSIONS)

    class KafkaProvider(KafkaTokenProvider):  # type: ignore[misc]
        """A provider that has its token already, as a caching provider does."""

        def token(self) -> str:
            return token

        def extensions(self) -> dict[str, str]:
            return extensions

    class AioProvider(AioTokenProvider):  # type: ignore[misc]
        async def token(self) -> str:
            return token

        def extensions(self) -> dict[str, str]:
            return extensions

    kafka_provider, aio_provider = KafkaProvider(), AioProvider()
    authenticator = OAuthAuthenticator(sasl_oauth_token_provider=aio_provider)

    # Every operation must produce what it claims to, or its time means nothing.
    expected = fixture.message
    decoded = ClientInitialResponse.decode(expected)
    kafka_decoded = ClientInitialResponse.decode(expected, dialect=Dialect.KAFKA)
    for result in (decoded, kafka_decoded):
        _require(result.token == token, "decode returns the token")
        _require(dict(result.extensions) == extensions, "decode returns the extensions")
    encoded = ClientInitialResponse(token, extensions=extensions).encode()
    _require(encoded == expected, "encode builds the message")
    kafka_bytes = SaslMechanismOAuth(sasl_oauth_token_provider=kafka_provider).auth_bytes()
    _require(kafka_bytes == expected, "kafka-python builds the same message")
    step = _drive(OAuthAuthenticator(sasl_oauth_token_provider=aio_provider).step(b""))
    _require(step == (expected, True), "aiokafka's step() builds the same message")
    helpers = authenticator._build_oauth_client_request(
        token, authenticator._token_extensions()
    ).encode("utf-8")
    _require(helpers == expected, "aiokafka's helpers build the same message")
    fixture.public_key.verify(fixture.signature, fixture.signing_input, PKCS1v15(), SHA256())

    common: dict[str, Any] = {"ClientInitialResponse": ClientInitialResponse}
    return [
        Operation(
            "decode_rfc7628",
            "decode, RFC 7628 dialect",
            "ClientInitialResponse.decode(msg)",
            {**common, "msg": expected},
        ),
        Operation(
            "decode_kafka",
            "decode, Kafka dialect",
            "ClientInitialResponse.decode(msg, dialect=KAFKA)",
            {**common, "msg": expected, "KAFKA": Dialect.KAFKA},
        ),
        Operation(
            "encode_validated",
            "validated encode",
            "ClientInitialResponse(token, extensions=ext).encode()",
            {**common, "token": token, "ext": extensions},
        ),
        Operation(
            "rs256_verify",
            "baseline: RS256 verify (cryptography)",
            "public_key.verify(sig, signing_input, PKCS1v15(), SHA256())",
            {
                "public_key": fixture.public_key,
                "sig": fixture.signature,
                "signing_input": fixture.signing_input,
                "PKCS1v15": PKCS1v15,
                "SHA256": SHA256,
            },
        ),
        Operation(
            "kafka_python_builder",
            "baseline: kafka-python auth_bytes()",
            "SaslMechanismOAuth(sasl_oauth_token_provider=provider).auth_bytes()",
            {"SaslMechanismOAuth": SaslMechanismOAuth, "provider": kafka_provider},
        ),
        Operation(
            "aiokafka_step",
            "baseline: aiokafka step()",
            _AIOKAFKA_STEP,
            {"OAuthAuthenticator": OAuthAuthenticator, "provider": aio_provider},
        ),
        Operation(
            "aiokafka_helpers",
            "baseline: aiokafka helpers only",
            'auth._build_oauth_client_request(token, auth._token_extensions()).encode("utf-8")',
            {"auth": authenticator, "token": token},
        ),
    ]


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"bench_codec: sanity check failed: {what}")


# --- Measuring ----------------------------------------------------------------------


def calibrate(operation: Operation, seconds: float) -> None:
    """Choose how many calls one measurement makes, so that it takes about ``seconds``."""
    timer = operation.timer()
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= seconds / 5:
            break
        number *= 10 if elapsed < seconds / 50 else 2
    operation.number = max(1, math.ceil(number * seconds / elapsed))


def measure(operations: list[Operation], mode: Mode) -> None:
    """Time every operation once per round, rotating the order each round."""
    for operation in operations:
        calibrate(operation, mode.seconds_per_measurement)
    timers = [operation.timer() for operation in operations]
    count = len(operations)
    for round_ in range(mode.rounds):
        for step in range(count):
            index = (round_ + step) % count
            operation = operations[index]
            elapsed = timers[index].timeit(operation.number)
            operation.samples.append(elapsed / operation.number)


# --- Reporting ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratio:
    """A subject's cost as a multiple of a baseline's."""

    subject: str
    baseline: str
    #: The verdict: the subject's cost over the baseline's cost.
    ratio: float
    #: The cross-check: the median over rounds of the ratio within each round.
    per_round_median: float
    limit: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.limit is None else self.ratio <= self.limit


def paired_ratio(subject: Operation, baseline: Operation) -> float:
    """The median over rounds of subject / baseline, each pair timed in the same round."""
    per_round = [a / b for a, b in zip(subject.samples, baseline.samples, strict=True)]
    return statistics.median(per_round)


def ratio(by_key: dict[str, Operation], subject: str, baseline: str, limit: float | None) -> Ratio:
    mine, theirs = by_key[subject], by_key[baseline]
    return Ratio(subject, baseline, mine.cost / theirs.cost, paired_ratio(mine, theirs), limit)


def _ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f}"


_STATISTIC: Final = "cost: 10th percentile of the rounds"


def render(operations: list[Operation], ratios: list[Ratio], fixture: Fixture, mode: Mode) -> str:
    by_key = {operation.key: operation for operation in operations}
    verify = by_key["rs256_verify"]
    kafka = by_key["kafka_python_builder"]
    aiokafka = by_key["aiokafka_step"]
    lines = [
        f"## bench_codec ({mode.name} mode, {mode.rounds} rounds, {_STATISTIC})",
        "",
        (
            f"message: {len(fixture.message)} bytes (RS256 JWT of {len(fixture.token)} bytes, "
            f"extensions {', '.join(EXTENSIONS)})  "
        ),
        f"{_environment_line()}",
        "",
        (
            "| operation | ns/op (p10) | ns/op (median) | calls/round "
            "| x RS256 verify | x kafka-python | x aiokafka step() |"
        ),
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    lines.extend(
        f"| {op.label} | {_ns(op.cost)} | {_ns(op.median)} | {op.number:,} "
        f"| {op.cost / verify.cost:.3f} | {op.cost / kafka.cost:.2f} "
        f"| {op.cost / aiokafka.cost:.2f} |"
        for op in operations
    )
    lines += ["", "| target | ratio | per-round median | limit | result |"]
    lines.append("|---|--:|--:|--:|---|")
    for item in ratios:
        name = f"{by_key[item.subject].label} / {by_key[item.baseline].label}"
        limit = "-" if item.limit is None else f"<= {item.limit:g}x"
        result = {True: "PASS", False: "FAIL", None: "(info)"}[item.passed]
        lines.append(
            f"| {name} | {item.ratio:.3f}x | {item.per_round_median:.3f}x | {limit} | {result} |"
        )
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    names = ("oauthbearer", "cryptography", "kafka-python", "aiokafka")
    return {name: metadata.version(name) for name in names}


def _environment_line() -> str:
    versions = ", ".join(f"{name} {version}" for name, version in _versions().items())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{openssl_backend.openssl_version_text()}, {versions}"
    )


def to_json(
    operations: list[Operation], ratios: list[Ratio], fixture: Fixture, mode: Mode
) -> dict[str, Any]:
    return {
        "benchmark": "bench_codec",
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
        "message": {
            "bytes": len(fixture.message),
            "token_bytes": len(fixture.token),
            "extensions": list(EXTENSIONS),
        },
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
    parser.add_argument("--quick", action="store_true", help="a short run (under ~3 s)")
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
