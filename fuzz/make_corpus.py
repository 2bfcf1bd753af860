"""Write the seed corpus of every fuzz target into ``fuzz/corpus/<target>/``.

The seeds are real messages: the initial responses that real Kafka clients sent
(``tests/fixtures/captures/*.json``), RFC 7628's examples (section 4), tokens
signed with the fuzzing keys, and Kafka request streams as clients send them.
Each seed is laid out as its target reads its input (see each target's
``test_one_input``), so that the fuzzer starts from inputs that reach deep
states: a granted token, an error challenge, a re-authentication.

RS256 seeds are signed with a fresh RSA key whose private half is dropped when
this script ends; its public half goes to ``fuzz/rsa_public_jwk.json``. Run it
again only to change the seeds: ``python fuzz/make_corpus.py [TARGET ...]``.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import pathlib
import sys
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from oauthbearer.gs2 import ClientInitialResponse
from oauthbearer.kafka.protocol import (
    SUPPORTED_VERSIONS,
    ApiVersionsRequest,
    ApiVersionsResponse,
    MetadataBroker,
    MetadataPartition,
    MetadataRequest,
    MetadataResponse,
    MetadataTopic,
    RequestHeader,
    RequestMessage,
    ResponseHeader,
    ResponseMessage,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    TaggedField,
    encode_request,
    encode_response,
)

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = pathlib.Path(__file__).parent
CORPUS = HERE / "corpus"
CAPTURES = HERE.parent / "tests" / "fixtures" / "captures"

# RFC 7628 section 4.1 and 4.2 (initial responses), 4.3 and 4.4 (error challenges).
RFC_EXAMPLES = {
    "rfc7628-4.1": b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
    b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
    "rfc7628-4.2": b"n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
    b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
    "rfc7628-4.3": b'{"status":"invalid_token","scope":"example_scope",'
    b'"openid-configuration":"https://example.com/.well-known/openid-configuration"}',
    "rfc7628-4.4": b'{"status":"invalid_token","schemes":"bearer mac",'
    b'"scope":"https://mail.example.com/"}',
}
# Shapes the dialects page discusses: discovery, the 'y' flag, escapes, Kafka's scope list.
SHAPES = {
    "discovery": b"n,,\x01auth=\x01\x01",
    "gs2-y": b"y,,\x01auth=Bearer abc\x01\x01",
    "authzid-escapes": b"n,a=a=2Cb=3Dc,\x01auth=bearer abc==\x01\x01",
    "quoted-authzid": b'n,"a=alice",\x01auth=Bearer abc\x01\x01',
    "auth-last": b"n,,\x01traceId=x\x01auth=Bearer  abc\x01\x01",
    "kafka-scope-list": b'{"status":"insufficient_scope","scope":"[read, write]"}',
    "challenge-reply": b"\x01",
    # Corners a mutator rarely builds from the seeds above.
    "authzid-not-utf8": b"n,a=\xc3\x28,\x01auth=Bearer abc\x01\x01",
    "error-status-not-text": b'{"status":1,"scope":null}',
    "error-duplicate-status": b'{"status":"a","status":"b"}',
    "error-nan": b'{"status":"x","scope":NaN}',
    "error-deep": b"[" * 3000,
    "error-not-an-object": b'["status"]',
    "error-escapes": b'{"status":"invalid_token","scope":"\\u00e9\\ud800"}',
}
#: Kafka's unsecured token that the captured clients sent: sub alice, exp in 2100.
UNSECURED_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0."
#: Seeds named so are reproducers of findings: kept when the corpus is rewritten.
REGRESSION_PREFIX = "regression-"
#: The fuzzers' clock unit (CLOCK_STEP_S) times this is 1,703,936,000: late 2023.
CLOCK = (26_000).to_bytes(2, "big")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sized(data: bytes) -> bytes:
    """A u16-length-prefixed chunk, as ``fuzzlib.Input.chunk`` reads it."""
    return len(data).to_bytes(2, "big") + data


def captured() -> dict[str, bytes]:
    """The distinct initial responses of the capture files, by capture name."""
    seen: dict[bytes, str] = {}
    for path in sorted(CAPTURES.glob("*.json")):
        data = bytes.fromhex(json.loads(path.read_text())["initial_response_hex"])
        seen.setdefault(data, path.stem)
    return {name: data for data, name in seen.items()}


def write(target: str, seeds: dict[str, bytes]) -> None:
    """Replace the target's seeds, keeping the reproducers of past findings
    (``regression-*``, minimized crash inputs)."""
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if not path.name.startswith(REGRESSION_PREFIX):
            path.unlink()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


# --- codec ---------------------------------------------------------------------------


def codec_seeds() -> dict[str, bytes]:
    return {**{f"capture-{k}": v for k, v in captured().items()}, **RFC_EXAMPLES, **SHAPES}


# --- sessions ------------------------------------------------------------------------


def sessions_seeds() -> dict[str, bytes]:
    messages = {
        "capture": ClientInitialResponse(UNSECURED_TOKEN, extensions={"traceId": "abc"}).encode(),
        "authzid": ClientInitialResponse(UNSECURED_TOKEN, authzid="alice").encode(),
        "rfc7628-4.1": RFC_EXAMPLES["rfc7628-4.1"],
        "discovery": SHAPES["discovery"],
    }
    seeds: dict[str, bytes] = {}
    # server: [0][config][clock] then calls: receive (0, chunk), accept (1), reject (2, error)
    for name, message in messages.items():
        receive = b"\x00" + sized(message)
        reply = b"\x00" + sized(b"\x01")
        seeds[f"server-unsecured-{name}"] = b"\x00\x01" + CLOCK + receive + reply
        seeds[f"server-kafka-scope-{name}"] = b"\x00\x26" + CLOCK + receive + reply
        seeds[f"server-pure-accept-{name}"] = b"\x00\x40" + CLOCK + receive + b"\x01\x00"
        seeds[f"server-pure-reject-{name}"] = b"\x00\x08" + CLOCK + receive + b"\x02\x05" + reply
    # client: [1][config][token][authzid][extensions] then calls: initial_response (0),
    # receive (1, chunk), success (2, chunk), failure (3, chunk)
    client = b"\x01\x00" + sized(UNSECURED_TOKEN.encode()) + sized(b"") + sized(b"traceId=abc")
    seeds["client-accept"] = client + b"\x00" + b"\x01" + sized(b"") + b"\x02" + sized(b"")
    seeds["client-challenge"] = (
        client + b"\x00\x01" + sized(RFC_EXAMPLES["rfc7628-4.3"]) + b"\x03" + sized(b"no")
    )
    seeds["client-discovery"] = (
        b"\x01\x01"
        + sized(b"alice")
        + b"\x00\x01"
        + sized(RFC_EXAMPLES["rfc7628-4.3"])
        + b"\x03"
        + sized(b"")
    )
    # An extension validator (0x20) that refuses "bad*" and ignores "x*", behind a grant.
    refused = ClientInitialResponse(UNSECURED_TOKEN, extensions={"ok": "1", "xa": "2", "bad": "3"})
    ignored = ClientInitialResponse(UNSECURED_TOKEN, extensions={"ok": "1", "xa": "2"})
    for label, response in (("refused", refused), ("ignored", ignored)):
        receive = b"\x00" + sized(response.encode())
        seeds[f"server-extensions-{label}"] = b"\x00\x21" + CLOCK + receive
    # pair: [2][client as above][server config][clock][accept or reject][error]
    pair = b"\x02\x00" + sized(UNSECURED_TOKEN.encode()) + sized(b"alice") + sized(b"a=b")
    seeds["pair-unsecured"] = pair + b"\x01" + CLOCK
    seeds["pair-scope"] = pair + b"\x22" + CLOCK
    seeds["pair-pure-accept"] = pair + b"\x00" + CLOCK + b"\x01"
    seeds["pair-pure-reject"] = pair + b"\x40" + CLOCK + b"\x00\x06"
    seeds["pair-discovery"] = b"\x02\x01" + sized(b"") + b"\x40" + CLOCK
    return seeds


# --- jwt_validators --------------------------------------------------------------------


def jwt_seeds(rsa_key: rsa.RSAPrivateKey, sign: Callable[[int, bytes], bytes]) -> dict[str, bytes]:
    strict = {
        "iss": "https://idp.example",
        "aud": "kafka",
        "sub": "alice",
        "exp": 4_102_444_800,
        "iat": 1_700_000_000,
        "scope": "read write",
        "groups": ["admins"],
    }
    lenient = {"client_id": "svc", "exp": 4_102_444_800.5, "nbf": 1_600_000_000, "scp": ["a"]}

    def token(
        header: dict[str, Any], claims: dict[str, Any], signer: Callable[[bytes], bytes]
    ) -> bytes:
        parts = (b64url(json.dumps(part).encode()) for part in (header, claims))
        signing_input = ".".join(parts)
        return f"{signing_input}.{b64url(signer(signing_input.encode()))}".encode()

    def rs256(data: bytes) -> bytes:
        return rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    raw = {
        "rs256": token({"alg": "RS256", "typ": "JWT", "kid": "rsa"}, strict, rs256),
        "rs256-lenient": token({"alg": "RS256"}, lenient, rs256),
        "es256": token({"alg": "ES256", "kid": "ec"}, strict, lambda d: sign(1, d)),
        "eddsa": token({"alg": "EdDSA", "typ": "at+jwt"}, strict, lambda d: sign(2, d)),
        "hs256": token({"alg": "HS256", "kid": "hs"}, strict, lambda d: sign(0, d)),
        "unsecured": UNSECURED_TOKEN.encode(),
        "jwe": b"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
    }
    seeds = {f"raw-{name}": CLOCK + b"\x00" + data for name, data in raw.items()}
    headers = {
        0: {"alg": "HS256", "typ": "JWT", "kid": "hs"},
        1: {"alg": "ES256", "kid": "ec"},
        2: {"alg": "EdDSA", "typ": "application/at+jwt"},
    }
    for alg, header in headers.items():
        encoded = json.dumps(header).encode()
        for name, claims in (("strict", strict), ("lenient", lenient)):
            payload = json.dumps(claims).encode()
            seeds[f"signed-{header['alg']}-{name}"] = (
                CLOCK + b"\x01" + bytes([alg]) + sized(encoded) + payload
            )
    # One check each, behind a valid HS256 signature: the header's, then the claims'.
    hs256 = {"alg": "HS256", "kid": "hs"}
    corners: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "crit": ({**hs256, "crit": ["exp"]}, strict),
        "cty": ({**hs256, "cty": "JWT"}, strict),
        "kid-number": ({"alg": "HS256", "kid": 5}, strict),
        "kid-long": ({"alg": "HS256", "kid": "k" * 1001}, strict),
        "typ-dpop": ({**hs256, "typ": "dpop+jwt"}, strict),
        "aud-list": (hs256, {**strict, "aud": ["other", "kafka"]}),
        "aud-number": (hs256, {**strict, "aud": 1}),
        "sub-number": (hs256, {**strict, "sub": 1}),
        "sub-spaces": (hs256, {**strict, "sub": " alice"}),
        "groups-text": (hs256, {**strict, "groups": "admins"}),
        "scope-list": (hs256, {**strict, "scope": ["a", ""]}),
        "scope-number": (hs256, {**strict, "scope": 7}),
        "exp-text": (hs256, {**strict, "exp": "soon"}),
        "exp-far": (hs256, {**strict, "exp": 10**12}),
        "nbf-later": (hs256, {**strict, "nbf": 4_000_000_000}),
        "iat-later": (hs256, {**strict, "iat": 4_000_000_000}),
        "iss-other": (hs256, {**strict, "iss": "https://other.example"}),
    }
    for name, (header, claims) in corners.items():
        encoded, payload = (json.dumps(part).encode() for part in (header, claims))
        seeds[f"signed-HS256-{name}"] = CLOCK + b"\x01\x00" + sized(encoded) + payload
    unsecured = {"sub": "alice", "exp": 4_102_444_800, "iat": 1_700_000_000, "scope": ["admin"]}
    seeds["unsecured-built"] = (
        CLOCK + b"\x02" + sized(b'{"alg":"none"}') + json.dumps(unsecured).encode()
    )
    return seeds


# --- kafka_wire ------------------------------------------------------------------------


def request(api_key: int, version: int, correlation: int, message: RequestMessage) -> bytes:
    header = RequestHeader(
        api_key=api_key, api_version=version, correlation_id=correlation, client_id="fuzz"
    )
    return encode_request(header, message)


def kafka_seeds() -> dict[str, bytes]:
    initial = ClientInitialResponse(UNSECURED_TOKEN, extensions={"traceId": "abc"}).encode()
    versions = request(
        18,
        3,
        1,
        ApiVersionsRequest(client_software_name="librdkafka", client_software_version="2.6.0"),
    )
    handshake = request(17, 1, 2, SaslHandshakeRequest(mechanism="OAUTHBEARER"))

    def authenticate(auth: bytes, version: int = 1, correlation: int = 3) -> bytes:
        return request(36, version, correlation, SaslAuthenticateRequest(auth_bytes=auth))

    metadata = request(3, 1, 4, MetadataRequest(topics=("orders",)))
    bare = len(initial).to_bytes(4, "big") + initial
    streams = {
        "librdkafka": versions + handshake + authenticate(initial) + metadata,
        "flexible-v2": handshake + authenticate(initial, version=2),
        "handshake-v0": request(17, 0, 2, SaslHandshakeRequest(mechanism="OAUTHBEARER")) + bare,
        "challenge": handshake + authenticate(initial) + authenticate(b"\x01", correlation=4),
        "challenge-ignored": handshake + authenticate(initial) + metadata,
        "reauthentication": handshake + authenticate(initial) + handshake + authenticate(initial),
        "mechanism-plain": request(17, 1, 2, SaslHandshakeRequest(mechanism="PLAIN")),
        # A version no broker speaks yet: key 18, v9, correlation 1, null client id, no tags.
        "api-versions-v9": bytes.fromhex("0000000b 0012 0009 00000001 ffff 00"),
    }
    # config: bits 2-3 the connection's mode (pure accept, pure reject, validator,
    # validator with a required scope); then the response kind, the chunk sizes.
    # Found by fuzzing: a frame that came complete, in one chunk with a
    # re-authentication's handshake, was read under the request limit. Pure mode
    # (a short token) and a SASL limit of 64 bytes (config bits 5-6).
    first = handshake + authenticate(b"n,,\x01auth=Bearer x\x01\x01")
    big = (100).to_bytes(4, "big") + bytes(100)
    regression = b"\x20\x00" + sized(bytes([len(first) - 1, 255])) + first + handshake + big
    # And when a negative prefix behind that frame had been refused ahead of time,
    # which kept the lower limit from judging the frames before it.
    negative = b"\x20\x00" + sized(b"\x00") + first + handshake + big + b"\xff" * 4
    configs = (
        (0x00, b"\x00", "pure-accept"),
        (0x04, b"", "pure-reject"),
        (0x08, b"", "unsecured"),
        (0x0C, b"\x06\x31", "scope"),
    )
    seeds = {
        f"{name}-{label}": bytes([config, 0]) + sized(sizes) + stream
        for name, stream in streams.items()
        for config, sizes, label in configs
    }
    seeds[f"{REGRESSION_PREFIX}token-pipelined-with-reauthentication"] = regression
    seeds[f"{REGRESSION_PREFIX}negative-prefix-behind-a-new-limit"] = negative
    seeds.update(response_seeds())
    return seeds


def response_seeds() -> dict[str, bytes]:
    """Response frames, for decode_response: the input's second byte picks the
    API and version (``RESPONSE_KINDS``)."""
    tags = (TaggedField(tag=0, data=b"\x01"),)
    partition = MetadataPartition(partition_index=0, leader_id=1, replica_nodes=(1, 2))
    responses: dict[str, tuple[int, int, ResponseMessage]] = {
        "metadata-v1": (
            3,
            1,
            MetadataResponse(
                brokers=(MetadataBroker(node_id=1, host="kafka", port=9092, rack="a"),),
                controller_id=1,
                topics=(MetadataTopic(name="orders", partitions=(partition,)),),
            ),
        ),
        "handshake-v1": (17, 1, SaslHandshakeResponse(mechanisms=("OAUTHBEARER", "PLAIN"))),
        "api-versions-v3": (
            18,
            3,
            dataclasses.replace(ApiVersionsResponse.supporting(), tagged_fields=tags),
        ),
        "api-versions-v0": (18, 0, ApiVersionsResponse(error_code=35)),
        "authenticate-v2": (
            36,
            2,
            SaslAuthenticateResponse(auth_bytes=b'{"status":"invalid_token"}', tagged_fields=tags),
        ),
        "authenticate-v1": (
            36,
            1,
            SaslAuthenticateResponse(error_code=58, error_message="no", session_lifetime_ms=5),
        ),
    }
    kinds = [
        (int(key), version)
        for key, (low, high) in SUPPORTED_VERSIONS.items()
        for version in range(low, high + 1)
    ]
    seeds = {}
    for name, (api_key, version, message) in responses.items():
        frame = encode_response(ResponseHeader(correlation_id=7), message, version)
        kind = kinds.index((api_key, version))
        seeds[f"response-{name}"] = bytes([0x00, kind]) + sized(b"") + frame
    return seeds


def jwt_corpus() -> dict[str, bytes]:
    """The JWT seeds, signed with a new RSA key whose public half is written out."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = rsa_key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": "rsa",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }
    (HERE / "rsa_public_jwk.json").write_text(json.dumps(jwk, indent=2) + "\n")
    # Imported now: the target reads the public key written above.
    jwt_validators: Any = importlib.import_module("jwt_validators")
    return jwt_seeds(rsa_key, jwt_validators._sign)


TARGETS: dict[str, Callable[[], dict[str, bytes]]] = {
    "codec": codec_seeds,
    "sessions": sessions_seeds,
    "jwt_validators": jwt_corpus,
    "kafka_wire": kafka_seeds,
}


def main(argv: list[str]) -> None:
    """Rewrite the seeds of the targets named, or of all of them."""
    for target in argv or TARGETS:
        write(target, TARGETS[target]())


if __name__ == "__main__":
    main(sys.argv[1:])
