"""``oauthbearer probe`` against the real Kafka broker: the fuzzer's proof, and TLS.

* Generated inputs (``--generate``, the public strategies) against Kafka's
  default unsecured listener: no violation, and every outcome as
  ``Dialect.KAFKA`` predicts it. The run's figures are recorded in docs/probe.md.
* The SASL_SSL listener of tests/conftest.py, whose certificate a CA made by the
  test signs: the probe with ``--cafile`` (and ``--insecure``) agrees with Kafka
  there too; without ``--tls`` it exits 2 at once; an unknown CA is refused.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from typing import TYPE_CHECKING, Final

import pytest

from oauthbearer.cli import main
from oauthbearer.errors import ConfigurationError
from oauthbearer.testing.probe import (
    Observed,
    ProbeResult,
    builtin_cases,
    describe_finding,
    generated_cases,
    probe,
    shrink_findings,
    summary,
)

if TYPE_CHECKING:
    from tests.real_kafka import KafkaBroker
    from tests.tls_ca import LoopbackCa

pytestmark = pytest.mark.kafka_differential

#: The proof's inputs (the issue asks for at least 2,000) and seed.
PROOF_INPUTS: Final = 2_400
PROOF_SEED: Final = 15
CONCURRENCY: Final = 8


def test_generated_inputs_meet_kafkas_dialect_on_the_real_broker(
    kafka_broker: KafkaBroker,
) -> None:
    cases = builtin_cases() + generated_cases(PROOF_INPUTS, seed=PROOF_SEED)
    port = kafka_broker.ports["UNSECURED"]

    async def run() -> tuple[list[ProbeResult], list[str]]:
        results = await probe("127.0.0.1", port, cases, concurrency=CONCURRENCY)
        findings = await shrink_findings("127.0.0.1", port, results, concurrency=CONCURRENCY)
        return results, [describe_finding(finding) for finding in findings]

    started = time.monotonic()
    results, findings = asyncio.run(run())
    seconds = time.monotonic() - started
    generated = [r for r in results if r.case.id.startswith("gen-")]
    assert len(generated) == PROOF_INPUTS
    assert not [r for r in results if r.violation], summary([r for r in results if r.violation])
    assert not findings, "\n".join(findings)
    assert all(r.kafka_agrees for r in results), summary([r for r in results if not r.kafka_agrees])
    # Every flow ran: Kafka challenges the made-up token, so nothing is left unexercised.
    assert all(r.exercised for r in results)
    observed = {o: sum(r.observed is o for r in generated) for o in Observed}
    print(
        f"\nprobe --generate {PROOF_INPUTS} --seed {PROOF_SEED} against Kafka "
        f"{kafka_broker.version}: {len(results)} cases, 0 disagreements, 0 violations, "
        f"{seconds:.1f} s; generated: {observed}",
        file=sys.stderr,
    )
    assert observed[Observed.CHALLENGED] > 0
    assert observed[Observed.REFUSED] > 0


def tls_context(ca: LoopbackCa | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=None if ca is None else str(ca.ca_file))


def test_the_probe_speaks_tls_to_a_sasl_ssl_listener(
    kafka_broker: KafkaBroker, kafka_tls_ca: LoopbackCa
) -> None:
    port = kafka_broker.ports["TLS"]
    cases = builtin_cases() + generated_cases(200, seed=PROOF_SEED + 1)
    results = asyncio.run(
        probe("127.0.0.1", port, cases, concurrency=4, tls=tls_context(kafka_tls_ca))
    )
    assert all(r.kafka_agrees for r in results), summary([r for r in results if not r.kafka_agrees])
    assert all(r.exercised for r in results)
    by_id = {r.case.id: r for r in results}
    assert by_id["flow-challenge-ack"].after_challenge is Observed.REFUSED
    assert by_id["flow-slow-sender"].observed is Observed.CHALLENGED
    # A CA the client does not know: the handshake fails, as OSError (exit 2).
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(probe("127.0.0.1", port, cases[:1], tls=tls_context(None)))
    # Plaintext to the TLS port: the preflight says so within the one timeout.
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="does not speak Kafka"):
        asyncio.run(probe("127.0.0.1", port, cases[:1], timeout_s=3.0))
    assert time.monotonic() - started < 6.0


def test_cli_tls_options_against_the_real_broker(
    kafka_broker: KafkaBroker, kafka_tls_ca: LoopbackCa, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = kafka_broker.bootstrap("TLS")
    flows = ["--bootstrap", bootstrap, "--case", "flow-*"]
    assert main(["probe", *flows, "--cafile", str(kafka_tls_ca.ca_file)]) == 0
    assert "3 as kafka expects, 0 not, 0 not exercised, 0 violations" in capsys.readouterr().out
    assert main(["probe", *flows, "--insecure"]) == 0
    capsys.readouterr()
    assert main(["probe", *flows, "--tls"]) == 2  # the system's CAs do not know the test's
    assert "certificate verify failed" in capsys.readouterr().err
    assert main(["probe", *flows, "--timeout", "3"]) == 2
    assert "needs --tls" in capsys.readouterr().err
