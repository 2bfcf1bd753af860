"""The conformance corpus, its runner and ``oauthbearer conformance``.

The corpus's verdicts were written from the RFCs and Kafka's source; the first
tests hold our codec to every one of them. The rest run the runner against
other implementations: a deliberately lenient one, whose disagreements follow
from the corpus and its two kinds of leniency, and ones that break the verdict
protocol (hang, garbage, crash, flood), which must come out as errors without
stopping the run.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import ConfigurationError, Dialect, MalformedReason
from oauthbearer._text import escape_bytes as escape
from oauthbearer.cli import main
from oauthbearer.testing.conformance import (
    CORPUS_FORMAT,
    ConformanceCase,
    Outcome,
    ResultStatus,
    Verdict,
    VerdictError,
    _unescape,
    codec_verdict,
    command_implementation,
    format_report,
    load_corpus,
    run_conformance,
    select_cases,
)
from oauthbearer.testing.strategies import INITIAL_RESPONSE_REASONS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oauthbearer.testing.conformance import ConformanceReport

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
LENIENT = [sys.executable, str(FIXTURES / "lenient.py")]
CORPUS = load_corpus()


def misbehaving(mode: str) -> list[str]:
    return [sys.executable, str(FIXTURES / "misbehaving.py"), mode]


def some(*ids: str) -> tuple[ConformanceCase, ...]:
    return tuple(case for case in CORPUS if case.id in ids)


# --- The corpus ------------------------------------------------------------------------


def test_our_codec_agrees_with_every_case() -> None:
    report = run_conformance()
    assert report.ok, format_report(report)
    assert len(report.results) == sum(len(case.expect) for case in CORPUS)


def test_the_corpus_covers_every_reason_in_both_dialects() -> None:
    assert len(CORPUS) >= 80
    for dialect in Dialect:
        verdicts = [case.expect[dialect].verdict for case in CORPUS if dialect in case.expect]
        reasons = {v.reason for v in verdicts if v.outcome is Outcome.REJECT}
        assert reasons == set(INITIAL_RESPONSE_REASONS[dialect]), dialect
        assert sum(v.outcome is Outcome.ACCEPT for v in verdicts) >= 30, dialect


def test_every_case_is_well_formed() -> None:
    for case in CORPUS:
        assert re.fullmatch(r"[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*", case.id), case.id
        assert case.description, case.id
        for dialect, expectation in case.expect.items():
            verdict = expectation.verdict
            assert expectation.source, case.id
            if verdict.outcome is Outcome.REJECT:
                assert verdict.reason in set(MalformedReason), case.id
                # Kafka's text belongs to Kafka's dialect, and only there.
                has_text = "kafka_message" in verdict.fields
                assert has_text == (dialect is Dialect.KAFKA and verdict.reason != "too-large")
            else:
                assert "token" in verdict.fields, case.id
                assert "authzid" in verdict.fields, case.id


def test_the_corpus_ships_as_package_data() -> None:
    shipped = importlib.resources.files("oauthbearer.testing").joinpath("conformance.json")
    assert shipped.is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "testing/conformance.json" in config["tool"]["setuptools"]["package-data"]["oauthbearer"]
    assert json.loads(shipped.read_text(encoding="utf-8"))["format"] == CORPUS_FORMAT


@given(st.binary(max_size=64))
def test_inputs_are_written_as_the_cli_escapes_bytes(data: bytes) -> None:
    assert _unescape(escape(data), "test") == data


def _one_case(input_: object, expectation: Mapping[str, object]) -> object:
    return {
        "format": CORPUS_FORMAT,
        "cases": [{"id": "a", "input": input_, "expect": {"kafka": expectation}}],
    }


_ACCEPT = {"outcome": "accept", "source": "s"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "'format' must be"),
        ({"format": "other/1", "cases": []}, "'format' must be"),
        ({"format": CORPUS_FORMAT}, "no 'cases' list"),
        ({"format": CORPUS_FORMAT, "cases": [{"input": ""}]}, "case 0: a case is an object"),
        (
            {"format": CORPUS_FORMAT, "cases": [{"id": "a", "input": "", "expect": {"x": {}}}]},
            "unknown dialect",
        ),
        (
            {
                "format": CORPUS_FORMAT,
                "cases": [{"id": "a", "input": "", "expect": {"kafka": _ACCEPT}}] * 2,
            },
            "case 'a': the id is used twice",
        ),
        (_one_case("\\q", _ACCEPT), "bad escape at character 0"),
        (_one_case("\u00e9", _ACCEPT), "must be written as"),
        (_one_case([{"repeat": "x"}], _ACCEPT), "bad 'input' part"),
        (_one_case("", {"outcome": "reject", "source": "s"}), "needs its 'reason'"),
        (_one_case("", {"outcome": "accept"}), "names its 'source'"),
        (_one_case("", {**_ACCEPT, "tokn": "x"}), "unknown members ['tokn']"),
    ],
)
def test_load_corpus_names_what_is_wrong(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_corpus(path)


def test_a_corpus_file_of_ones_own(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    case = {
        "id": "mine",
        "input": ["n,,\\x01auth=Bearer ", {"repeat": "ab", "times": 3}, "\\x01\\x01"],
        "expect": {"kafka": {"outcome": "accept", "token": "ababab", "source": "me"}},
    }
    path.write_text(json.dumps({"format": CORPUS_FORMAT, "cases": [case]}), encoding="utf-8")
    (loaded,) = load_corpus(path)
    assert loaded.data == b"n,,\x01auth=Bearer ababab\x01\x01"
    report = run_conformance(cases=[loaded])
    assert report.ok
    assert [r.dialect for r in report.results] == [Dialect.KAFKA]


# --- Verdicts and their comparison ----------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "not a JSON object"),
        ({}, "'outcome'"),
        ({"outcome": "maybe"}, "'outcome'"),
        ({"outcome": "reject", "reason": 3}, "'reason'"),
        ({"outcome": "accept", "token": None}, "'token'"),
        ({"outcome": "accept", "extensions": {"k": 1}}, "'extensions'"),
    ],
)
def test_verdicts_are_checked(obj: object, message: str) -> None:
    with pytest.raises(VerdictError, match=message):
        Verdict.from_json(obj)


def test_only_reported_fields_are_compared() -> None:
    def outcome_only(data: bytes, dialect: Dialect) -> Verdict:
        return Verdict(outcome=codec_verdict(data, dialect).outcome)

    assert run_conformance(outcome_only, cases=CORPUS[:30]).ok

    def wrong_reason(data: bytes, dialect: Dialect) -> Verdict:
        verdict = codec_verdict(data, dialect)
        return Verdict(outcome=verdict.outcome, reason=verdict.reason and "invalid-key")

    report = run_conformance(wrong_reason, cases=some("empty", "empty-key", "minimal"))
    assert {r.case.id: r.status for r in report.results if r.dialect is Dialect.KAFKA} == {
        "empty": ResultStatus.DISAGREE,
        "minimal": ResultStatus.AGREE,
        "empty-key": ResultStatus.AGREE,
    }
    assert report.disagreements[0].detail == "reason: expected truncated, got invalid-key"


def test_an_implementation_that_raises_is_an_error_not_a_crash() -> None:
    def broken(data: bytes, dialect: Dialect) -> Verdict:
        raise ZeroDivisionError("division by zero")

    report = run_conformance(broken, cases=some("minimal"))
    assert {r.status for r in report.results} == {ResultStatus.ERROR}
    assert (
        report.errors[0].detail == "the implementation raised ZeroDivisionError: division by zero"
    )
    assert not report.ok


# --- External implementations ------------------------------------------------------------------


def expected_lenient_disagreements() -> set[tuple[str, Dialect]]:
    """What tests/fixtures/conformance/lenient.py must disagree on, from the corpus:
    the refusals it waives, and the strict dialect's escaped authzids, which it
    reports as sent."""
    waived = {"trailing-data", "missing-terminator", "duplicate-key"}
    expected = set()
    for case in CORPUS:
        for dialect, expectation in case.expect.items():
            verdict = expectation.verdict
            if verdict.outcome is Outcome.REJECT and verdict.reason in waived:
                expected.add((case.id, dialect))
            authzid = verdict.fields.get("authzid")
            if dialect is Dialect.RFC7628 and authzid is not None and set(authzid) & {",", "="}:
                expected.add((case.id, dialect))
    return expected


def test_a_lenient_implementation_disagrees_exactly_where_it_is_lenient() -> None:
    expected = expected_lenient_disagreements()
    assert len(expected) >= 15
    # Every case it must disagree on, and every third of the others (a process
    # per case and dialect is the slow part).
    disagreeing = {case_id for case_id, _ in expected}
    others = [case for case in CORPUS if case.id not in disagreeing]
    cases = [case for case in CORPUS if case.id in disagreeing or case in others[::3]]
    report = run_conformance(command_implementation(LENIENT, timeout=30), cases=cases, jobs=8)
    assert not report.errors, format_report(report)
    found = {(r.case.id, r.dialect) for r in report.disagreements}
    assert found == expected
    by_id = {(r.case.id, r.dialect): r for r in report.results}
    assert by_id["trailing-newline", Dialect.KAFKA].detail == (
        "expected reject trailing-data, got accept"
    )
    assert by_id["authzid-escapes", Dialect.RFC7628].detail == (
        'authzid: expected "al,ice=x", got "al=2Cice=3Dx"'
    )
    assert by_id["authzid-escapes", Dialect.KAFKA].status is ResultStatus.AGREE
    assert not report.ok


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("hang", r"no verdict within 1 s \(killed\)"),
        ("garbage", r"the output is not a JSON verdict: 'Segmentation fault \(core dumped\)'"),
        ("wrong-shape", r"the verdict's 'outcome' is not 'accept' or 'reject'"),
        ("crash", r"exited with status 3 and printed no verdict; stderr: RuntimeError: parser.*"),
        ("flood", r"the output exceeds \d+ bytes"),
    ],
)
def test_a_misbehaving_command_is_reported_and_the_run_goes_on(mode: str, detail: str) -> None:
    cases = some("minimal", "flag-y")
    started = time.monotonic()
    implementation = command_implementation(misbehaving(mode), timeout=1)
    report = run_conformance(implementation, cases=cases, jobs=4)
    assert time.monotonic() - started < 20
    assert len(report.results) == 4
    assert {r.status for r in report.results} == {ResultStatus.ERROR}
    for result in report.results:
        assert result.verdict is None
        assert re.fullmatch(detail, result.detail), result.detail
    assert "ERROR" in format_report(report)


def test_a_child_holding_the_output_open_is_ended() -> None:
    # The program prints its verdict and exits; a child it leaves behind keeps
    # stdout open. The verdict counts, and the child's group is ended.
    started = time.monotonic()
    report = run_conformance(
        command_implementation(misbehaving("orphan"), timeout=1), cases=some("empty")
    )
    assert time.monotonic() - started < 10
    assert [r.status for r in report.results] == [ResultStatus.AGREE] * 2


def test_a_command_that_does_not_read_a_large_input() -> None:
    report = run_conformance(
        command_implementation(misbehaving("ignore-input"), timeout=5),
        cases=some("size-over-kafka-limit"),
    )
    assert [r.status for r in report.results] == [ResultStatus.AGREE] * 2


def test_the_command_gets_the_dialect_and_the_bytes() -> None:
    script = (
        "import json, os, sys; data = sys.stdin.buffer.read(); "
        "print(json.dumps({'outcome': 'accept', 'token': os.environ['OAUTHBEARER_DIALECT'], "
        "'authzid': data.hex()}))"
    )
    implementation = command_implementation([sys.executable, "-c", script])
    verdict = implementation(b"\x00\x01\xff", Dialect.KAFKA)
    assert verdict.fields == {"token": "kafka", "authzid": "0001ff"}


def test_commands_that_cannot_run_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="command not found"):
        command_implementation("no-such-program-for-oauthbearer --flag")
    with pytest.raises(ConfigurationError, match="empty"):
        command_implementation([])
    with pytest.raises(ConfigurationError, match="timeout"):
        command_implementation(LENIENT, timeout=0)
    with pytest.raises(ConfigurationError, match="jobs"):
        run_conformance(jobs=0)


def test_select_cases_takes_shell_patterns() -> None:
    chosen = select_cases(CORPUS, ["authzid-utf8*", "minimal"])
    assert [case.id for case in chosen] == ["minimal", "authzid-utf8", "authzid-utf8-surrogate"]


# --- The command line ---------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["conformance", *argv])
    return code, capsys.readouterr().out


def test_cli_our_codec_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys)
    runs = sum(len(case.expect) for case in CORPUS)
    assert code == 0
    assert out.endswith(
        f"\n{runs} agree, 0 disagree, 0 unknown reasons, 0 errors ({len(CORPUS)} cases)\n"
    )
    assert out.startswith("oauthbearer conformance: the oauthbearer codec\ncase ")


def test_cli_one_dialect_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "--dialect", "kafka", "--case", "authzid*", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["ok"] is True
    assert {r["dialect"] for r in report["results"]} == {"kafka"}
    assert report["cases"] == len(select_cases(CORPUS, ["authzid*"]))


def test_cli_against_a_lenient_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "--command", shlex.join(LENIENT), "--case", "trailing-*")
    assert code == 1
    assert re.search(r"^trailing-nul +rfc7628 +reject trailing-data +accept +DISAGREE$", out, re.M)
    assert "trailing-nul (kafka): expected reject trailing-data, got accept" in out
    assert "trailing-space (kafka)" not in out  # it agrees: a matter of the token, not the end
    assert out.endswith("2 agree, 6 disagree, 0 unknown reasons, 0 errors (4 cases)\n")


def test_cli_reports_a_hanging_command(capsys: pytest.CaptureFixture[str]) -> None:
    command = shlex.join(misbehaving("hang"))
    code, out = run_cli(capsys, "--command", command, "--timeout", "0.5", "--case", "minimal")
    assert code == 1
    assert "minimal (rfc7628): no verdict within 0.5 s (killed)" in out
    assert out.endswith("0 agree, 0 disagree, 0 unknown reasons, 2 errors (1 cases)\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--case", "no-such-case"], "--case no-such-case matches no case"),
        (["--timeout", "3"], "--timeout applies to --command only"),
        (["--jobs", "3"], "--jobs applies to --command only"),
        (["--command", "no-such-program-for-oauthbearer"], "--command: command not found"),
        (["--command", "'unbalanced"], "--command: No closing quotation"),
        (["--command", "true", "--jobs", "0"], "--jobs must be 1 or more"),
        (["--command", "true", "--timeout", "0"], "--timeout must be a number of seconds > 0"),
        (["--corpus", "/nonexistent/corpus.json"], "--corpus /nonexistent/corpus.json: No such"),
    ],
)
def test_cli_mistakes_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["conformance", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def _kinds(report: ConformanceReport) -> dict[str, int]:
    return {
        status.value: sum(r.status is status for r in report.results) for status in ResultStatus
    }


def test_report_json_counts_match_the_results() -> None:
    report = run_conformance(command_implementation(LENIENT), cases=some("minimal", "two-messages"))
    obj = report.to_json()
    keys = ("agree", "disagree", "unknown_reason", "error")
    assert {k.replace("_", "-"): obj[k] for k in keys} == _kinds(report)
    assert obj["ok"] is False
    assert obj["results"][0]["expected"] == {
        "outcome": "accept",
        "token": "abc",
        "authzid": None,
        "extensions": {},
    }
