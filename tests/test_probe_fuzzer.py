"""The probe as a broker fuzzer: generated inputs, the codec's prediction, shrinking,
JUnit XML, the preflight, and fake brokers with one planted fault each.

Each fake broker is Kafka's dialect (``Dialect.KAFKA`` decides, an oversize
frame closes the connection) but for one fault; ``--generate`` must find it,
and shrink it to an input that still shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from typing import TYPE_CHECKING, Final
from xml.etree import ElementTree as ET

import pytest

from oauthbearer import ClientInitialResponse, Dialect, MalformedMessage, UnsecuredJwsValidator
from oauthbearer.cli import main
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE
from oauthbearer.kafka import (
    ApiVersionsResponse,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
    ResponseHeader,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeResponse,
    decode_request,
    encode_response,
)
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing.conformance import load_corpus
from oauthbearer.testing.probe import (
    GENERATED_PREFIX,
    Expected,
    Finding,
    Observed,
    ProbeCase,
    ProbeResult,
    builtin_cases,
    corpus_cases,
    expired_unsecured_tokens,
    generated_cases,
    is_predicted,
    junit_xml,
    predicted,
    probe,
    shrink_findings,
    summary,
)
from oauthbearer.testing.reports import escaped

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from oauthbearer.kafka import ResponseMessage

    #: A fault: (the initial response, its SaslAuthenticate round on the
    #: connection) -> the answer, or None for what Kafka would answer.
    Fault = Callable[[bytes, int], SaslAuthenticateResponse | None]

#: Generated inputs per fake broker: enough to meet every strategy several times.
GENERATED: Final = 240
SEED: Final = 7
CHALLENGE: Final = SaslAuthenticateResponse(auth_bytes=b'{"status":"invalid_token"}')
REFUSAL: Final = SaslAuthenticateResponse(
    error_code=58, error_message="Authentication failed: invalid credentials"
)


def kafka_answer(data: bytes, round_: int) -> SaslAuthenticateResponse:
    """What Kafka's broker answers a made-up token: the challenge when it parses
    the message, 58 after the %x01 or when it does not."""
    if round_ > 0:
        return REFUSAL
    try:
        ClientInitialResponse.decode(data, dialect=Dialect.KAFKA)
    except MalformedMessage:
        return REFUSAL
    return CHALLENGE


@contextlib.asynccontextmanager
async def fake_kafka(fault: Fault | None = None) -> AsyncIterator[int]:
    """A broker of Kafka's dialect on loopback, with ``fault`` planted."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = KafkaFrameDecoder(max_frame_size=KAFKA_MAX_RECEIVE_SIZE)
        rounds = 0
        try:
            while data := await reader.read(65536):
                decoder.receive_data(data)
                while isinstance(frame := decoder.next_event(), Frame):
                    header, request = decode_request(frame)
                    reply: ResponseMessage
                    if header.api_key == 18:
                        reply = ApiVersionsResponse.supporting()
                    elif header.api_key == 17:
                        reply = SaslHandshakeResponse(mechanisms=("OAUTHBEARER",))
                    elif isinstance(request, SaslAuthenticateRequest):
                        planted = None if fault is None else fault(request.auth_bytes, rounds)
                        reply = planted or kafka_answer(request.auth_bytes, rounds)
                        rounds += 1
                    else:
                        return
                    version = 0 if header.api_key == 18 and header.api_version > 4 else None
                    writer.write(
                        encode_response(
                            ResponseHeader(correlation_id=header.correlation_id),
                            reply,
                            header.api_version if version is None else version,
                        )
                    )
        except (ConnectionError, MalformedFrame):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@functools.cache
def fuzz_cases() -> tuple[ProbeCase, ...]:
    return (*builtin_cases()[:1], *generated_cases(GENERATED, seed=SEED))


def fuzz(fault: Fault | None) -> tuple[list[ProbeResult], list[Finding]]:
    """The built-in flows and ``GENERATED`` inputs against a fake, findings shrunk."""
    cases = fuzz_cases()

    async def run() -> tuple[list[ProbeResult], list[Finding]]:
        async with fake_kafka(fault) as port:
            # Generous bounds: CI runs this under coverage on a loaded machine,
            # and a timed-out case or a cut-short shrink would hide a finding.
            results = await probe("127.0.0.1", port, cases, timeout_s=10.0, concurrency=4)
            findings = await shrink_findings(
                "127.0.0.1", port, results, concurrency=4, budget_s=120.0
            )
        return results, findings

    return asyncio.run(run())


# --- generation and prediction --------------------------------------------------------------


def test_generated_cases_are_seeded_and_carry_the_codecs_prediction() -> None:
    cases = generated_cases(90, seed=SEED)
    assert len(cases) == 90
    assert [c.data for c in cases] == [c.data for c in generated_cases(90, seed=SEED)]
    assert [c.data for c in cases] != [c.data for c in generated_cases(90, seed=SEED + 1)]
    assert all(c.id.startswith(GENERATED_PREFIX) and is_predicted(c) for c in cases)
    kinds = {c.id.split("-")[1] for c in cases}
    assert kinds == {"valid", "invalid", "mutated"}
    # Both verdicts occur in each dialect: the mix judges acceptance and refusal.
    for dialect in Dialect:
        assert {predicted(c.data, dialect)[0] for c in cases} >= {
            Expected.PARSED,
            Expected.REFUSED,
        }


def test_the_frame_limit_comes_before_the_grammar_in_kafkas_prediction() -> None:
    big = b"n,,\x01auth=Bearer " + b"a" * KAFKA_MAX_RECEIVE_SIZE + b"\x01\x01"
    assert predicted(big, Dialect.KAFKA) == (Expected.CLOSED, "frame-too-large")
    assert predicted(b"n,,\x01auth=Bearer a\x01\x01", "kafka") == (Expected.PARSED, "accepted")
    assert predicted(b"y,,\x01auth=Bearer a\x01\x01", "kafka")[0] is Expected.REFUSED


def test_capture_cases_carry_tokens_no_broker_grants() -> None:
    corpus = {case.id: case for case in load_corpus()}
    probes = {case.id: case for case in corpus_cases(corpus.values())}
    capture = probes["capture-kafka-python"]
    assert capture.data != corpus["capture-kafka-python"].data
    assert b"eyJzdWIiOiJhbGljZSIsImV4cCI6MX0" in capture.data  # {"sub":"alice","exp":1}
    # The grammar's verdict is the same, so are the expectations.
    assert capture.kafka is Expected.PARSED
    # Every case whose token a default broker would grant is changed: the
    # emulator with Kafka's default unsecured validator grants none of them.
    assert expired_unsecured_tokens(b"n,,\x01auth=Bearer a.b.\x01\x01") == (
        b"n,,\x01auth=Bearer a.b.\x01\x01"
    )

    async def run() -> list[ProbeResult]:
        async with BrokerEmulator(UnsecuredJwsValidator()) as emulator:
            originals = [c for c in corpus_cases(corpus.values()) if c.id.startswith("capture")]
            return await probe(emulator.host, emulator.port, originals, concurrency=4)

    results = asyncio.run(run())
    assert len(results) >= 3
    assert all(r.observed is Observed.CHALLENGED for r in results), summary(results)


# --- planted faults -------------------------------------------------------------------------


def test_a_conforming_fake_gives_no_finding() -> None:
    results, findings = fuzz(None)
    assert findings == [], [f.kind for f in findings]
    assert all(r.kafka_agrees for r in results), summary([r for r in results if not r.kafka_agrees])


def test_it_finds_a_broker_granting_after_the_challenge() -> None:
    def fault(data: bytes, round_: int) -> SaslAuthenticateResponse | None:
        return SaslAuthenticateResponse() if round_ == 1 else None

    results, findings = fuzz(fault)
    (finding,) = findings
    assert finding.kind == "violation: granted after an error challenge"
    assert finding.count == sum(r.observed is Observed.CHALLENGED for r in results)
    # The shortest input of the kind, shrunk further if it can be: still a
    # message Kafka parses, with a scheme and a token of one character or so.
    assert len(finding.minimal) <= len(finding.result.case.data)
    assert predicted(finding.minimal, Dialect.KAFKA)[0] is Expected.PARSED
    assert len(finding.minimal) <= len(b"n,,\x01auth=Bearer a\x01\x01") + 1


def test_it_finds_a_broker_accepting_another_scheme() -> None:
    def fault(data: bytes, round_: int) -> SaslAuthenticateResponse | None:
        try:
            ClientInitialResponse.decode(data, dialect=Dialect.KAFKA)
        except MalformedMessage as err:
            if err.reason == "unsupported-scheme" and round_ == 0:
                return CHALLENGE
        return None

    _, findings = fuzz(fault)
    (finding,) = findings
    assert finding.kind == "kafka expects refused (unsupported-scheme), observed challenged"
    assert finding.minimal_result is not None
    assert len(finding.minimal) < len(finding.result.case.data)
    with pytest.raises(MalformedMessage) as caught:
        ClientInitialResponse.decode(finding.minimal, dialect=Dialect.KAFKA)
    assert caught.value.reason == "unsupported-scheme"
    assert not finding.minimal.lower().startswith(b"n,,\x01auth=bearer ")


def test_it_finds_a_broker_refusing_an_authzid() -> None:
    def fault(data: bytes, round_: int) -> SaslAuthenticateResponse | None:
        return REFUSAL if data.startswith(b"n,a=") else None

    _, findings = fuzz(fault)
    (finding,) = findings
    assert finding.kind == "kafka expects parsed (accepted), observed refused"
    assert finding.minimal.startswith(b"n,a=")
    # ddmin leaves a 1-minimal input: an authzid of one character, a token of one.
    assert len(finding.minimal) <= len(b"n,a=x,\x01auth=Bearer a\x01\x01")


def test_a_broker_that_never_challenges_leaves_the_flow_not_exercised() -> None:
    def fault(data: bytes, round_: int) -> SaslAuthenticateResponse | None:
        return SaslAuthenticateResponse()  # grants whatever it is sent

    results, findings = fuzz(fault)
    flow = results[0]
    assert flow.case.id == "flow-challenge-ack"
    assert (flow.observed, flow.exercised, flow.kafka_agrees) == (Observed.GRANTED, False, None)
    assert "| flow-challenge-ack | granted | not exercised | parsed | - |" in summary(results)
    # What it grants that Kafka refuses is a finding per rule, each shrunk.
    kinds = {f.kind for f in findings}
    assert "kafka expects refused (missing-auth), observed granted" in kinds
    assert all(f.kind.endswith("observed granted") for f in findings)


# --- the command line -----------------------------------------------------------------------


def test_cli_generate_reports_findings_as_hex_and_text_and_junit(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    def fault(data: bytes, round_: int) -> SaslAuthenticateResponse | None:
        return REFUSAL if data.startswith(b"n,a=") else None

    junit = tmp_path / "probe.xml"  # type: ignore[operator]

    async def serve(ready: asyncio.Future[int], stop: asyncio.Event) -> None:
        async with fake_kafka(fault) as port:
            ready.set_result(port)
            await stop.wait()

    code, out = run_cli_against(
        serve,
        lambda port: [
            "--bootstrap",
            f"127.0.0.1:{port}",
            "--case",
            "gen-*",
            "--case",
            "flow-*",
            "--generate",
            str(GENERATED),
            "--seed",
            str(SEED),
            "--junit",
            str(junit),
        ],
        capsys,
    )
    assert code == 1
    assert "FINDING kafka expects parsed (accepted), observed refused: " in out
    assert "    text: n,a=" in out
    assert "    hex:  6e 2c 61 3d" in out
    assert f"({GENERATED} generated, seed {SEED})" in out
    tree = ET.parse(junit).getroot()  # noqa: S314 - our own output
    suite = tree.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == GENERATED + 3  # the generated cases and the three flow cases
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed
    assert int(suite.get("failures", "-1")) == len(failed)
    assert all(c.get("name", "").startswith(GENERATED_PREFIX) for c in failed)
    text = failed[0].findtext("failure") or ""
    assert "minimal input of this kind: n,a=" in text


def run_cli_against(
    serve: Callable[[asyncio.Future[int], asyncio.Event], object],
    argv: Callable[[int], Sequence[str]],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """``oauthbearer probe`` against a fake served in a thread of its own."""
    import threading

    loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(ready, stop),))
    thread.start()
    try:
        port = asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready, 10), loop).result()
        code = main(["probe", *argv(port)])
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        loop.close()
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_json_carries_the_second_step_and_whether_it_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with BrokerEmulator(UnsecuredJwsValidator()).running_in_thread() as emulator:
        code = main(["probe", "--bootstrap", emulator.bootstrap, "--case", "flow-*", "--json"])
    results = {r["case"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 0
    ack = results["flow-challenge-ack"]
    assert (ack["observed"], ack["after_challenge"], ack["exercised"]) == (
        "challenged",
        "refused",
        True,
    )
    assert ack["after_error_code"] == 58
    assert json.loads(ack["after_message"]) == {"status": "invalid_token"}


@pytest.mark.parametrize("speaks", ["http", "silence"])
def test_preflight_exits_2_within_one_timeout_on_a_port_that_is_not_kafka(
    speaks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if speaks == "http":
            await reader.read(1024)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
        else:
            await reader.read()
            writer.close()

    async def serve(ready: asyncio.Future[int], stop: asyncio.Event) -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            ready.set_result(server.sockets[0].getsockname()[1])
            await stop.wait()

    started = time.monotonic()
    code, printed = run_cli_against(
        serve, lambda port: ["--bootstrap", f"127.0.0.1:{port}", "--timeout", "1"], capsys
    )
    assert code == 2
    assert time.monotonic() - started < 4.0
    assert "does not speak Kafka" in printed


def test_junit_marks_not_exercised_cases_skipped() -> None:
    flow = builtin_cases()[0]
    result = ProbeResult(case=flow, observed=Observed.GRANTED)
    root = ET.fromstring(junit_xml([result], dialect="kafka", target="x:1"))  # noqa: S314
    (testcase,) = root.iter("testcase")
    skipped = testcase.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "not exercised"
    assert escaped(b"\x01a\\\xff") == "\\x01a\\\\\\xff"
