"""Speed of the OAUTHBEARER codec, as ratios against baselines timed in the same run.

The method is harness.py's, shared with bench_validation.py: interleaved
rounds in a rotating order, an operation's cost the 10th percentile of its
per-call times, each target a ratio of two costs measured in the same process,
with the median of per-round ratios as a cross-check.

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

import json
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, generate_private_key
from cryptography.hazmat.primitives.hashes import SHA256
from harness import Benchmark, Column, Operation, b64url, run_main

from oauthbearer.gs2 import ClientInitialResponse, Dialect

if TYPE_CHECKING:
    from collections.abc import Mapping

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

#: Ratios printed for information, without a target.
INFO_RATIOS: Final = (
    ("encode_validated", "aiokafka_step"),
    ("encode_validated", "aiokafka_helpers"),
)


# --- The message --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fixture:
    """The token, its parts for verification, and the message built from it."""

    token: str
    signing_input: bytes
    signature: bytes
    public_key: RSAPublicKey
    message: bytes


# --- The operations -----------------------------------------------------------------


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


# --- The benchmark ------------------------------------------------------------------


class CodecBenchmark(Benchmark[Fixture]):
    """The codec's decode and validated encode, against an RS256 verify and Kafka clients."""

    name = "bench_codec"
    packages = ("oauthbearer", "cryptography", "kafka-python", "aiokafka")
    targets = TARGETS
    info_ratios = INFO_RATIOS

    def make_fixture(self) -> Fixture:
        """An RS256 JWT of :data:`TOKEN_LENGTH` bytes, and the initial response carrying it.

        Claims use fixed times: the benchmark reads no clock for its data.
        """
        private_key = generate_private_key(public_exponent=65537, key_size=2048)
        header = b64url(
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
            payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
            if len(header) + len(payload) + 2 + signature_length >= TOKEN_LENGTH:
                break
            scopes.append(f"kafka:topic:orders-{len(scopes)}:read")
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = private_key.sign(signing_input, PKCS1v15(), SHA256())
        token = f"{header}.{payload}.{b64url(signature)}"
        pairs = "".join(f"{key}={value}\x01" for key, value in EXTENSIONS.items())
        message = f"n,,\x01auth=Bearer {token}\x01{pairs}\x01".encode("ascii")
        return Fixture(token, signing_input, signature, private_key.public_key(), message)

    def make_operations(self, fixture: Fixture) -> list[Operation]:
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
            self.require(result.token == token, "decode returns the token")
            self.require(dict(result.extensions) == extensions, "decode returns the extensions")
        encoded = ClientInitialResponse(token, extensions=extensions).encode()
        self.require(encoded == expected, "encode builds the message")
        kafka_bytes = SaslMechanismOAuth(sasl_oauth_token_provider=kafka_provider).auth_bytes()
        self.require(kafka_bytes == expected, "kafka-python builds the same message")
        step = _drive(OAuthAuthenticator(sasl_oauth_token_provider=aio_provider).step(b""))
        self.require(step == (expected, True), "aiokafka's step() builds the same message")
        helpers = authenticator._build_oauth_client_request(
            token, authenticator._token_extensions()
        ).encode("utf-8")
        self.require(helpers == expected, "aiokafka's helpers build the same message")
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

    def about(self, fixture: Fixture) -> list[str]:
        message = (
            f"message: {len(fixture.message)} bytes (RS256 JWT of {len(fixture.token)} bytes, "
            f"extensions {', '.join(EXTENSIONS)})  "
        )
        return [message]

    def columns(self, by_key: Mapping[str, Operation]) -> list[Column]:
        verify = by_key["rs256_verify"]
        kafka = by_key["kafka_python_builder"]
        aiokafka = by_key["aiokafka_step"]
        return [
            ("x RS256 verify", lambda op: f"{op.cost / verify.cost:.3f}"),
            ("x kafka-python", lambda op: f"{op.cost / kafka.cost:.2f}"),
            ("x aiokafka step()", lambda op: f"{op.cost / aiokafka.cost:.2f}"),
        ]

    def details(self, fixture: Fixture) -> dict[str, Any]:
        return {
            "message": {
                "bytes": len(fixture.message),
                "token_bytes": len(fixture.token),
                "extensions": list(EXTENSIONS),
            }
        }


def main(argv: list[str] | None = None) -> int:
    return run_main(argv, CodecBenchmark(), doc=__doc__, quick_help="a short run (under ~3 s)")


if __name__ == "__main__":
    sys.exit(main())
