"""Fuzzing a broker's OAUTHBEARER with the probe API.

``probe`` sends each case on a connection of its own (ApiVersions,
SaslHandshake, SaslAuthenticate) and records what the broker did: granted,
challenged, refused, closed. The cases are the conformance corpus (each
message with what Kafka and RFC 7628 expect), the exchange's own cases (the
``%x01`` after a challenge, a slow sender, an oversize frame) and messages
generated from the public hypothesis strategies, each judged by our codec's
prediction. ``shrink_findings`` cuts every disagreement down to a minimal
input.

By default it fuzzes the broker emulator, which must agree everywhere; set
``OAUTHBEARER_BOOTSTRAP=host:port`` to fuzz your own broker's SASL_PLAINTEXT
OAUTHBEARER listener instead (``oauthbearer probe`` is the same from the
command line). It exits 1 when the broker does not do what Kafka expects.

Run it: ``python examples/fuzz_broker.py`` (needs hypothesis: ``oauthbearer[test]``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from oauthbearer import Dialect, UnsecuredJwsValidator
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing.conformance import load_corpus
from oauthbearer.testing.probe import (
    ProbeResult,
    builtin_cases,
    corpus_cases,
    describe_finding,
    generated_cases,
    probe,
    shrink_findings,
)

#: How many generated messages to send, and the seed that makes them repeatable.
GENERATED = 50
SEED = 7


async def fuzz(host: str, port: int) -> int:
    cases = corpus_cases(load_corpus()) + builtin_cases() + generated_cases(GENERATED, seed=SEED)

    def progress(result: ProbeResult) -> None:
        if result.agrees(Dialect.KAFKA) is False or result.violation:
            print(f"  {result.case.id}: {result.observed} ({result.case.description})")

    results = await probe(host, port, cases, concurrency=4, on_result=progress)
    findings = await shrink_findings(host, port, results, dialect=Dialect.KAFKA, budget_s=60)
    for finding in findings:
        print(describe_finding(finding))
    disagree = [r for r in results if r.agrees(Dialect.KAFKA) is False or r.violation]
    print(f"{len(results)} cases against {host}:{port}: {len(disagree)} not as Kafka expects")
    return 1 if disagree else 0


async def main() -> int:
    bootstrap = os.environ.get("OAUTHBEARER_BOOTSTRAP")
    if bootstrap:
        host, _, port = bootstrap.rpartition(":")
        return await fuzz(host, int(port))
    # The emulator logs each refusal at WARNING: a fuzz run makes hundreds.
    logging.getLogger("oauthbearer.kafka.broker").setLevel(logging.ERROR)
    async with BrokerEmulator(UnsecuredJwsValidator()) as emulator:
        return await fuzz(emulator.host, emulator.port)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
