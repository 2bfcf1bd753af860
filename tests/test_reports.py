"""Reports a CI can read (issue 17, part 6): ``conformance`` and ``probe`` show
every case's description and input (escaped and hex) in text and JSON, write
JUnit XML, report an unknown reason code as such, compare outcomes only on
request, and stream progress while the run goes on.

The implementations under test are small scripts written here; the probe runs
against the broker emulator, through a proxy that holds a case back until the
previous case's progress was reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import sys
import threading
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import pytest

from oauthbearer import Dialect, MalformedReason, UnsecuredJwsValidator
from oauthbearer._text import escape_bytes
from oauthbearer.cli import main
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing.conformance import (
    CaseResult,
    Outcome,
    ResultStatus,
    Verdict,
    codec_verdict,
    command_implementation,
    format_report,
    junit_xml,
    load_corpus,
    run_conformance,
    select_cases,
)
from oauthbearer.testing.probe import (
    Expected,
    Observed,
    ProbeCase,
    ProbeResult,
    corpus_cases,
    probe,
    result_json,
    summary,
)
from oauthbearer.testing.probe import junit_xml as probe_junit_xml
from oauthbearer.testing.reports import SHOWN_BYTES, JUnitCase, hexed, input_json
from oauthbearer.testing.reports import junit_xml as junit_document

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

CORPUS = load_corpus()
REJECTED = sum(
    expectation.verdict.outcome is Outcome.REJECT
    for case in CORPUS
    for expectation in case.expect.values()
)
RUNS = sum(len(case.expect) for case in CORPUS)

#: An implementation that parses as our codec does but names its reasons its own way.
RENAMING = """\
import json, os, sys
from oauthbearer.testing.conformance import codec_verdict
verdict = codec_verdict(sys.stdin.buffer.read(), os.environ["OAUTHBEARER_DIALECT"]).to_json()
if verdict["outcome"] == "reject":
    verdict["reason"] = {reason!r}
print(json.dumps(verdict))
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return shlex.join([sys.executable, str(path)])


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- The input and description in every report ----------------------------------------------


def test_hexed_and_escaped_cut_at_the_same_length() -> None:
    data = bytes(range(256)) * 3
    shown = input_json("d", data)
    assert shown["input_size"] == 768
    assert shown["input_hex"] == data[:SHOWN_BYTES].hex(" ") + " ... (768 bytes)"
    assert shown["input_escaped"] == escape_bytes(data, SHOWN_BYTES)
    assert hexed(b"\x01ab") == "01 61 62"


def test_conformance_text_report_shows_every_case() -> None:
    report = run_conformance()
    text = format_report(report)
    cases = text[text.index("\nCases:\n") :]
    for case in CORPUS:
        block = cases[cases.index(f"\n{case.id}:\n") + 1 :].splitlines()[1:4]
        assert block == [
            f"  {case.description}",
            f"  text: {escape_bytes(case.data, SHOWN_BYTES)}",
            f"  hex:  {hexed(case.data)}",
        ]


def test_conformance_json_report_carries_the_input() -> None:
    report = run_conformance(cases=select_cases(CORPUS, ["minimal", "limit-*"]))
    results = report.to_json()["results"]
    by_id = {case.id: case for case in CORPUS}
    assert results
    for obj in results:
        case = by_id[obj["id"]]
        assert obj["description"] == case.description
        assert obj["input_size"] == len(case.data)
        assert obj["input_hex"] == hexed(case.data)
        assert obj["input_escaped"] == escape_bytes(case.data, SHOWN_BYTES)
    minimal = next(r for r in results if r["id"] == "minimal")
    assert minimal["input_escaped"] == "n,,\\x01auth=Bearer abc\\x01\\x01"
    assert bytes.fromhex(minimal["input_hex"]) == b"n,,\x01auth=Bearer abc\x01\x01"


def test_probe_reports_carry_the_input() -> None:
    case = ProbeCase(
        id="odd",
        description="an odd one",
        data=b"n,,\x01auth=Bearer a\\b\x01\x01",
        kafka=Expected.REFUSED,
        rfc7628=Expected.REFUSED,
    )
    result = ProbeResult(case=case, observed=Observed.REFUSED)
    text = summary([result])
    assert "\nodd:\n  an odd one\n  text: n,,\\x01auth=Bearer a\\\\b\\x01\\x01\n" in text
    assert f"  hex:  {hexed(case.data)}" in text
    obj = result_json(result)
    assert obj["description"] == "an odd one"
    assert bytes.fromhex(obj["input_hex"]) == case.data
    root = ET.fromstring(probe_junit_xml([result], dialect="kafka", target="x:1"))  # noqa: S314
    (testcase,) = root.iter("testcase")
    out = testcase.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "an odd one" in out.text
    assert hexed(case.data) in out.text


# --- Unknown reasons, outcomes only ---------------------------------------------------------


def test_an_unknown_reason_is_reported_as_such(tmp_path: Path) -> None:
    renaming = RENAMING.format(reason="frobnicated-header")
    assert not MalformedReason.knows("frobnicated-header")
    command = command_implementation(shlex.split(script(tmp_path, "renaming.py", renaming)))
    cases = select_cases(CORPUS, ["minimal", "authzid-*", "trailing-*"])
    report = run_conformance(command, cases=cases, jobs=4)
    expected_rejections = {
        (case.id, dialect)
        for case in cases
        for dialect, expectation in case.expect.items()
        if expectation.verdict.outcome is Outcome.REJECT
    }
    assert expected_rejections
    assert {(r.case.id, r.dialect) for r in report.unknown_reasons} == expected_rejections
    assert not report.disagreements
    assert not report.ok
    result = report.unknown_reasons[0]
    assert result.detail.startswith(
        f"unknown reason 'frobnicated-header': not one of oauthbearer's reason codes "
        f"(expected {result.expected.verdict.reason})"
    )
    assert report.to_json()["unknown_reason"] == len(expected_rejections)
    assert "UNKNOWN-REASON" in format_report(report)


def test_unknown_reason_in_process() -> None:
    def renaming(data: bytes, dialect: Dialect) -> Verdict:
        verdict = codec_verdict(data, dialect)
        if verdict.outcome is Outcome.ACCEPT:
            return verdict
        return Verdict(outcome=Outcome.REJECT, reason="x-" + str(verdict.reason))

    report = run_conformance(renaming)
    assert len(report.unknown_reasons) == REJECTED
    assert len(report.agreements) == RUNS - REJECTED
    # An outcome that differs stays a disagreement, whatever the reason says.
    flipped = run_conformance(
        lambda data, dialect: Verdict(outcome=Outcome.REJECT, reason="made-up"),
        cases=select_cases(CORPUS, ["minimal"]),
    )
    assert [r.status for r in flipped.results] == [ResultStatus.DISAGREE] * 2


def test_outcome_only_ignores_reasons_and_fields(tmp_path: Path) -> None:
    def sloppy(data: bytes, dialect: Dialect) -> Verdict:
        verdict = codec_verdict(data, dialect)
        if verdict.outcome is Outcome.ACCEPT:
            return Verdict(outcome=Outcome.ACCEPT, fields={"token": "not-the-token"})
        return Verdict(outcome=Outcome.REJECT, reason="invalid-key")  # a known, wrong one

    strict = run_conformance(sloppy)
    assert strict.disagreements
    loose = run_conformance(sloppy, outcome_only=True)
    assert loose.ok
    assert loose.to_json()["outcome_only"] is True
    assert format_report(loose).startswith("oauthbearer conformance: sloppy (outcomes only)\n")
    # An accept where a reject is due is still caught.
    lenient = run_conformance(
        lambda data, dialect: Verdict(outcome=Outcome.ACCEPT), outcome_only=True
    )
    assert len(lenient.disagreements) == REJECTED
    assert lenient.disagreements[0].detail == "expected reject, got accept"


def test_cli_unknown_reason_and_outcome_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    command = script(tmp_path, "renaming.py", RENAMING.format(reason="no-such-rule"))
    argv = ["conformance", "--command", command, "--case", "trailing-*", "--no-progress"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err == ""
    assert "trailing-nul (rfc7628): unknown reason 'no-such-rule'" in out
    assert out.endswith("0 agree, 0 disagree, 8 unknown reasons, 0 errors (4 cases)\n")
    code, out, _ = run_cli(capsys, *argv, "--outcome-only")
    assert code == 0
    assert out.endswith("8 agree, 0 disagree, 0 unknown reasons, 0 errors (4 cases)\n")


# --- JUnit ------------------------------------------------------------------------------------


def test_junit_document_counts() -> None:
    xml = junit_document(
        "s",
        [
            JUnitCase(name="a", classname="c", details="fine"),
            JUnitCase(name="b", classname="c", failure="no", kind="disagree", details="x"),
            JUnitCase(name="c", classname="c", error="broke", details="y"),
            JUnitCase(name="d", classname="c", skipped="why"),
        ],
    )
    suite = ET.fromstring(xml).find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
    }
    with pytest.raises(ValueError, match="at most one"):
        JUnitCase(name="e", classname="c", failure="a", error="b")


def test_cli_conformance_junit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    command = script(tmp_path, "renaming.py", RENAMING.format(reason="no-such-rule"))
    junit = tmp_path / "conformance.xml"
    argv = ["conformance", "--command", command, "--case", "trailing-*", "--case", "minimal"]
    code, _, _ = run_cli(capsys, *argv, "--junit", str(junit), "--no-progress")
    assert code == 1
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    testcases = suite.findall("testcase")
    assert len(testcases) == 10
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("10", "8", "0")
    by_name = {tc.get("name"): tc for tc in testcases}
    failure = by_name["trailing-nul (kafka)"].find("failure")
    assert failure is not None
    assert failure.get("type") == "unknown-reason"
    assert failure.text is not None
    nul = next(case for case in CORPUS if case.id == "trailing-nul")
    assert f"text: {escape_bytes(nul.data)}" in failure.text
    assert f"hex:  {hexed(nul.data)}" in failure.text
    assert nul.description in failure.text
    passed = by_name["minimal (rfc7628)"]
    assert passed.find("failure") is None
    out = passed.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "auth=Bearer abc" in out.text
    # Our own codec: a clean suite.
    code, _, _ = run_cli(capsys, "conformance", "--junit", str(junit), "--no-progress")
    assert code == 0
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == (str(RUNS), "0")


def test_cli_junit_to_an_unwritable_place(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["conformance", "--junit", "/nonexistent/dir/x.xml", "--no-progress"])
    assert info.value.code == 2
    assert "--junit /nonexistent/dir/x.xml: No such file" in capsys.readouterr().err


# --- Progress while the run goes on -----------------------------------------------------------


def test_conformance_reports_each_result_before_the_run_ends() -> None:
    """The second case waits until the first one's result was reported: without
    streaming, it would never be released and would time out as an error."""
    first, second = select_cases(CORPUS, ["minimal"])[0], select_cases(CORPUS, ["empty"])[0]
    reported = threading.Event()
    seen: list[CaseResult] = []

    def implementation(data: bytes, dialect: Dialect) -> Verdict:
        if data == second.data and not reported.wait(timeout=20):
            raise RuntimeError("the first result was never reported")
        return codec_verdict(data, dialect)

    def on_result(result: CaseResult) -> None:
        seen.append(result)
        if result.case is first:
            reported.set()

    report = run_conformance(
        implementation, cases=[first, second], dialects=["kafka"], jobs=2, on_result=on_result
    )
    assert report.ok, format_report(report)
    assert [r.case.id for r in seen] == ["minimal", "empty"]


def test_cli_conformance_streams_progress_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "conformance", "--case", "minimal", "--case", "empty")
    assert code == 0
    assert err.splitlines() == [
        "[1/4] minimal (rfc7628): agree",
        "[2/4] minimal (kafka): agree",
        "[3/4] empty (rfc7628): agree",
        "[4/4] empty (kafka): agree",
    ]
    assert "[1/4]" not in out
    code, out, err = run_cli(capsys, "conformance", "--case", "minimal", "--json")
    assert err.count("\n") == 2
    assert json.loads(out)["ok"] is True


@contextlib.asynccontextmanager
async def gated_proxy(
    target: tuple[str, int], gate: asyncio.Event, hold: int
) -> AsyncIterator[tuple[str, int]]:
    """A TCP proxy to ``target`` that holds its ``hold``-th connection (counting
    from 1) until ``gate`` is set."""
    count = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        if count == hold:
            await gate.wait()
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield "127.0.0.1", server.sockets[0].getsockname()[1]


def test_probe_reports_each_result_before_the_run_ends() -> None:
    """As above: the proxy holds the second case's connection until the first
    case was reported (connection 1 is the listener check)."""
    cases = corpus_cases(select_cases(CORPUS, ["minimal", "empty"]))
    seen: list[ProbeResult] = []

    async def run() -> list[ProbeResult]:
        gate = asyncio.Event()

        def on_result(result: ProbeResult) -> None:
            seen.append(result)
            gate.set()

        async with BrokerEmulator(UnsecuredJwsValidator()) as emulator:
            target = (emulator.host, emulator.port)
            async with gated_proxy(target, gate, hold=3) as (host, port):
                return await probe(
                    host, port, cases, timeout_s=10, concurrency=2, on_result=on_result
                )

    results = asyncio.run(run())
    assert [r.case.id for r in seen] == ["minimal", "empty"]
    assert all(r.kafka_agrees for r in results), summary(results)


def test_cli_probe_streams_progress_and_carries_the_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "probe.xml"
    with BrokerEmulator(UnsecuredJwsValidator()).running_in_thread() as emulator:
        argv = ["probe", "--bootstrap", emulator.bootstrap, "--case", "minimal"]
        code, out, err = run_cli(capsys, *argv, "--junit", str(junit))
        assert code == 0
        assert err.splitlines() == ["[1/1] minimal: challenged, agrees"]
        assert "\nminimal:\n  The smallest complete message" in out
        assert "  text: n,,\\x01auth=Bearer abc\\x01\\x01\n" in out
        code, out, err = run_cli(capsys, *argv, "--json", "--no-progress")
    assert (code, err) == (0, "")
    (obj,) = json.loads(out)
    assert bytes.fromhex(obj["input_hex"]) == b"n,,\x01auth=Bearer abc\x01\x01"
    assert obj["description"].startswith("The smallest complete message")
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    (testcase,) = suite.findall("testcase")
    out_element = testcase.find("system-out")
    assert out_element is not None
    assert out_element.text is not None
    assert "hex:  6e 2c 2c 01" in out_element.text


def test_the_status_enum_names_unknown_reason() -> None:
    assert ResultStatus("unknown-reason") is ResultStatus.UNKNOWN_REASON
    assert junit_xml(run_conformance(cases=[])).count("<testcase") == 0
