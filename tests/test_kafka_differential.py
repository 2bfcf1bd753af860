"""Apache Kafka judges ``Dialect.KAFKA`` and the server session: a differential.

Every input goes, over SaslHandshake and SaslAuthenticate, to two brokers on
loopback: the real Kafka broker of tests/conftest.py, and the broker emulator
configured from that broker's own ``server.properties``
(:func:`~oauthbearer.config.broker_listener`: validator, session lifetime,
failed-authentication delay and frame limit alike), so that ``Dialect.KAFKA``,
:class:`~oauthbearer.session.ServerSession` and the connection machine predict
what Kafka does. Both answers must be the same: granted, challenged with the
same JSON, or refused with the same error code and message; and for the
exchange cases, the same second step too. The codec's own verdict
(``ClientInitialResponse.decode(..., dialect="kafka")``) must match whether
Kafka parsed the message.

Inputs (:func:`differential_inputs`):

* every case of the shipped conformance corpus;
* generated initial responses from the public strategies
  (:mod:`oauthbearer.testing.strategies`), seeded, as ``oauthbearer probe
  --generate`` draws them (:func:`~oauthbearer.testing.probe.generated_cases`):
  valid ones in both dialects' forms (half of Kafka's carrying a real token,
  so that the grant path with its authzid and extension rules is judged as
  well as the challenge), one fault in each rule, byte mutations, and messages
  at and past the frame limit;
* the exchange cases of :func:`exchange_cases`.

Rerun against one Kafka version with
``OAUTHBEARER_KAFKA_VERSION=4.0.2 python -m pytest -m kafka_differential``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Final

import pytest

from oauthbearer import ClientInitialResponse, Dialect, MalformedMessage
from oauthbearer.config import broker_listener
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing.conformance import load_corpus
from oauthbearer.testing.probe import (
    Expected,
    Observed,
    ProbeCase,
    ProbeResult,
    ProbeStep,
    authenticate_frame_size,
    generated_cases,
    probe,
)
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.real_kafka import KafkaBroker

pytestmark = pytest.mark.kafka_differential

#: The fixed seed of the generated inputs: a failure reruns as it was.
SEED: Final = 20261207
#: How many generated inputs (the issue asks for >= 5,000 in all), shared among
#: the strategies as ``oauthbearer probe --generate`` shares them (GENERATED_MIX).
GENERATED: Final = 5_400
#: Cases in flight at once against each broker.
CONCURRENCY: Final = 8
PRINCIPAL: Final = "alice"
#: What Kafka's broker tells a client whose initial response it cannot parse.
KAFKA_GENERIC_REFUSAL: Final = (
    "Authentication failed during authentication due to invalid credentials "
    "with SASL mechanism OAUTHBEARER"
)


def unsecured_token(sub: str = PRINCIPAL, *, lifetime_s: int = 3600) -> str:
    """A token Kafka's default unsecured validator grants (for ``lifetime_s``)."""
    options = {
        "unsecuredLoginStringClaim_sub": sub,
        "unsecuredLoginLifetimeSeconds": str(lifetime_s),
    }
    return kafka_unsecured_login(options, now=time.time()).token.value


def message(token: str, *, authzid: str | None = None, pairs: bytes = b"") -> bytes:
    """The initial response every real client sends (DESIGN.md section 4)."""
    header = b"n,," if authzid is None else f"n,a={authzid},".encode()
    return header + b"\x01auth=Bearer " + token.encode() + b"\x01" + pairs + b"\x01"


def case(case_id: str, data: bytes, description: str = "", **fields: object) -> ProbeCase:
    """A probe case whose expectations are left to the differential."""
    return ProbeCase(
        id=case_id,
        description=description or case_id,
        data=data,
        kafka=Expected.UNSPECIFIED,
        rfc7628=Expected.UNSPECIFIED,
        **fields,  # type: ignore[arg-type]
    )


def generated() -> list[ProbeCase]:
    """The generated initial responses: the probe's own ``--generate`` inputs,
    half of the valid Kafka-form ones carrying a token Kafka grants."""
    good = unsecured_token()
    return generated_cases(GENERATED, seed=SEED, token=good, grantable=good)


def size_cases() -> list[ProbeCase]:
    """Messages around sasl.server.max.receive.size, measured on the frame."""
    cases = []
    for name, padding in (("small", 1_000), ("large", 400_000)):
        pairs = b"pad=" + b"x" * padding + b"\x01"
        cases.append(case(f"size-{name}", message(unsecured_token(), pairs=pairs)))
    cases.append(
        case(
            "size-over-limit",
            message(unsecured_token(), pairs=b"pad=" + b"x" * KAFKA_MAX_RECEIVE_SIZE + b"\x01"),
        )
    )
    return cases


def exchange_cases() -> list[ProbeCase]:
    """The exchange itself: what follows a challenge, authzids, empty tokens."""
    good = unsecured_token()
    bogus = "not-a-jwt"
    return [
        case("exchange-ack-after-challenge", message(bogus)),
        case(
            "exchange-new-response-after-challenge-granted",
            message(bogus),
            step=ProbeStep.RESPOND_AGAIN,
            follow_up=message(good),
        ),
        case(
            "exchange-new-response-after-challenge-challenged",
            message(bogus),
            step=ProbeStep.RESPOND_AGAIN,
            follow_up=message("still-not-a-jwt"),
        ),
        case(
            "exchange-new-response-after-challenge-malformed",
            message(bogus),
            step=ProbeStep.RESPOND_AGAIN,
            follow_up=b"n,,\x01auth=Bearer\x01\x01",
        ),
        case(
            "exchange-empty-after-challenge",
            message(bogus),
            step=ProbeStep.RESPOND_AGAIN,
            follow_up=b"",
        ),
        case(
            "exchange-double-ack-after-challenge",
            message(bogus),
            step=ProbeStep.RESPOND_AGAIN,
            follow_up=b"\x01\x01",
        ),
        case("exchange-skip-ack", message(bogus), step=ProbeStep.SKIP_ACK),
        case("exchange-lone-ack-first", b"\x01"),
        case("exchange-empty-first", b""),
        case("exchange-granted", message(good)),
        case("exchange-authzid-equal", message(good, authzid=PRINCIPAL)),
        case("exchange-authzid-unequal", message(good, authzid="bob")),
        case("exchange-authzid-escaped", message(good, authzid="al=2Cice")),
        case("exchange-empty-token", b"n,,\x01auth=Bearer \x01\x01"),
        case("exchange-expired-token", message(unsecured_token(lifetime_s=-60))),
        case("exchange-extension", message(good, pairs=b"traceId=abc\x01")),
        case("exchange-extension-auth-key", message(good, pairs=b"auth=Bearer x\x01")),
    ]


def reauthentication_cases() -> list[ProbeCase]:
    """KIP-368: a granted connection authenticates again, as the same principal or not."""
    first = message(unsecured_token())
    return [
        case(
            "reauth-same-principal",
            first,
            step=ProbeStep.REAUTHENTICATE,
            follow_up=message(unsecured_token()),
        ),
        case(
            "reauth-changed-principal",
            first,
            step=ProbeStep.REAUTHENTICATE,
            follow_up=message(unsecured_token("mallory")),
        ),
        case(
            "reauth-challenged",
            first,
            step=ProbeStep.REAUTHENTICATE,
            follow_up=message("not-a-jwt"),
        ),
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What one broker did with one case, in the terms the differential compares."""

    observed: Observed
    error_code: int | None
    message: str | None
    after: Observed | None
    after_error_code: int | None
    after_message: str | None

    @classmethod
    def of(cls, result: ProbeResult) -> Answer:
        return cls(
            result.observed,
            result.error_code,
            result.message,
            result.after_challenge,
            result.after_error_code,
            result.after_message,
        )


def differential(
    kafka_broker: KafkaBroker, listener: str, cases: Sequence[ProbeCase]
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """Each case against the real listener and against our emulator configured
    from the same server.properties (only its address differs: a free port)."""
    config = broker_listener(kafka_broker.properties, listener=listener, listen=("127.0.0.1", 0))

    async def both() -> tuple[list[ProbeResult], list[ProbeResult]]:
        ours = BrokerEmulator.from_listener(config)
        async with ours:
            real = await probe(
                "127.0.0.1", kafka_broker.ports[listener], cases, concurrency=CONCURRENCY
            )
            predicted = await probe("127.0.0.1", ours.port, cases, concurrency=CONCURRENCY)
        return real, predicted

    return asyncio.run(both())


def disagreements(real: Sequence[ProbeResult], predicted: Sequence[ProbeResult]) -> list[str]:
    lines = []
    for kafka, ours in zip(real, predicted, strict=True):
        if Answer.of(kafka) != Answer.of(ours):
            lines.append(
                f"{kafka.case.id}: data={kafka.case.data[:200]!r}\n"
                f"  kafka: {Answer.of(kafka)}\n  ours:  {Answer.of(ours)}"
            )
    return lines


def codec_disagreements(real: Sequence[ProbeResult]) -> list[str]:
    """Kafka parsed the message exactly when ``Dialect.KAFKA`` decodes it."""
    lines = []
    for result in real:
        if authenticate_frame_size(result.case.data) > KAFKA_MAX_RECEIVE_SIZE:
            continue  # refused unread, by the frame's size: not the codec's verdict
        try:
            ClientInitialResponse.decode(result.case.data, dialect=Dialect.KAFKA)
        except MalformedMessage as err:
            decoded: str | None = err.reason
        else:
            decoded = None
        # Kafka hides the parser's words: a message it cannot parse gets the
        # generic text, a non-Bearer scheme a closed connection.
        parsed = result.observed in (Observed.GRANTED, Observed.CHALLENGED) or (
            result.observed is Observed.REFUSED and result.message != KAFKA_GENERIC_REFUSAL
        )
        if (decoded is None) != parsed:
            lines.append(
                f"{result.case.id}: data={result.case.data[:200]!r} kafka={Answer.of(result)} "
                f"codec={decoded or 'accepted'}"
            )
    return lines


def test_corpus_and_generated_inputs_agree_with_kafka(kafka_broker: KafkaBroker) -> None:
    corpus = [case(f"corpus-{c.id}", c.data, c.description) for c in load_corpus()]
    cases = corpus + generated() + size_cases() + exchange_cases()
    assert len(cases) >= 5_000 + len(corpus)
    real, predicted = differential(kafka_broker, "UNSECURED", cases)
    assert not any(r.observed is Observed.TIMEOUT for r in real)
    found = disagreements(real, predicted)
    assert not found, f"{len(found)} of {len(cases)} disagree:\n" + "\n".join(found[:60])
    codec = codec_disagreements([r for r in real if r.case.step is ProbeStep.SEND])
    assert not codec, f"{len(codec)} codec disagreements:\n" + "\n".join(codec[:40])


def test_reauthentication_agrees_with_kafka(kafka_broker: KafkaBroker) -> None:
    cases = reauthentication_cases()
    real, predicted = differential(kafka_broker, "REAUTH", cases)
    found = disagreements(real, predicted)
    assert not found, "\n".join(found[:60])
