"""benchmarks/report.py: its reading and rendering on hand-made documents, and one
quick run end to end.

The documents here are made by hand, so that every verdict is known in advance:
a target met, a target missed, a benchmark missing or crashed, a document that
contradicts itself. The end-to-end run checks only that the report is whole and
agrees with itself, never a timing: test machines are shared and noisy.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ is no package: its scripts import each other by their file names.
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.append(str(ROOT / "benchmarks"))

import report  # noqa: E402
from bench_broker import MAX_BYTES_PER_CONNECTION, MIN_AUTHENTICATIONS_PER_S  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


# --- Hand-made documents ----------------------------------------------------------------


def harness_document(
    name: str, ratios: list[tuple[str, str, float, float | None]], mode: str = "quick"
) -> dict[str, Any]:
    """A harness script's document with the given (subject, baseline, ratio, limit)."""
    keys = dict.fromkeys(key for subject, baseline, _, _ in ratios for key in (subject, baseline))
    items = [
        {
            "subject": subject,
            "baseline": baseline,
            "ratio": value,
            "per_round_median": value * 1.01,
            "limit": limit,
            "passed": None if limit is None else value <= limit,
        }
        for subject, baseline, value, limit in ratios
    ]
    return {
        "benchmark": name,
        "mode": mode,
        "rounds": 5,
        "statistic": "p10",
        "environment": {
            "python": "3.11.7",
            "implementation": "CPython",
            "platform": "Linux-test",
            "openssl": "OpenSSL 3.0.0",
            "versions": {"oauthbearer": "0.1.0", name: "1.2.3"},
        },
        "operations": {key: {"label": f"label of {key}", "p10_ns": 1000.0} for key in keys},
        "ratios": items,
        "passed": all(item["passed"] is not False for item in items),
    }


def broker_document(unsecured_per_s: float, bytes_per_connection: float) -> dict[str, Any]:
    return {
        "mode": "quick",
        "concurrency": 16,
        "per_second": {"bare": 5000.0, "unsecured": unsecured_per_s, "rs256": 1500.0},
        "server_cpu": {"bare": 0.5, "unsecured": 0.8, "rs256": None},
        "bytes_per_connection": bytes_per_connection,
        "targets_met": (
            unsecured_per_s >= MIN_AUTHENTICATIONS_PER_S
            and bytes_per_connection <= MAX_BYTES_PER_CONNECTION
        ),
    }


def documents(
    *, codec_decode: float = 0.1, cache_hit: float = 0.02, rate: float | None = None
) -> dict[str, Any]:
    """One document per script; by default every target is met."""
    return {
        "bench_codec": harness_document(
            "bench_codec",
            [
                ("decode", "verify", codec_decode, 0.15),
                ("encode", "builder", 1.5, 2.0),
                ("encode", "step", 3.25, None),
            ],
        ),
        "bench_validation": harness_document(
            "bench_validation", [("cache_hit", "validate", cache_hit, 0.05)]
        ),
        "bench_broker": broker_document(
            MIN_AUTHENTICATIONS_PER_S * 1.5 if rate is None else rate,
            MAX_BYTES_PER_CONNECTION / 2,
        ),
    }


RUN = report.Run(
    command="python benchmarks/report.py --quick", date="2030-01-02 03:04 UTC", cores=2
)


def sections(docs: dict[str, Any], failures: dict[str, str] | None = None) -> list[report.Section]:
    return report.build_sections(docs, failures or {}, "quick")


def verdict_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.endswith(("| PASS |", "| FAIL |"))]


def bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    return [rect for rect in root.iter(f"{SVG}rect") if "bar" in rect.get("class", "").split()]


# --- Reading the documents ----------------------------------------------------------------


def test_every_target_met() -> None:
    built = sections(documents())
    assert [section.script.name for section in built] == [s.name for s in report.SCRIPTS]
    assert all(section.failure is None for section in built)
    assert [len(section.targets) for section in built] == [2, 1, 2]
    assert report.summary(built) == "5 of 5 targets met."
    assert report.exit_code(built, check=True) == 0


def test_a_missed_ratio_fails_and_only_check_makes_it_an_error() -> None:
    built = sections(documents(codec_decode=0.2))
    decode = built[0].targets[0]
    assert (decode.subject, decode.baseline, decode.passed) == (
        "label of decode",
        "label of verify",
        False,
    )
    assert report.summary(built) == "4 of 5 targets met."
    assert report.exit_code(built, check=False) == 0
    assert report.exit_code(built, check=True) == 1


def test_a_ratio_at_its_limit_passes() -> None:
    assert sections(documents(cache_hit=0.05))[1].targets[0].passed is True


@pytest.mark.parametrize(
    ("rate", "passed"),
    [
        (MIN_AUTHENTICATIONS_PER_S, True),  # the limit is a floor, not a ceiling
        (MIN_AUTHENTICATIONS_PER_S * 10, True),
        (MIN_AUTHENTICATIONS_PER_S - 1, False),
    ],
)
def test_the_broker_rate_is_a_floor(rate: float, passed: bool) -> None:
    rate_target, memory_target = sections(documents(rate=rate))[2].targets
    assert rate_target.at_least
    assert rate_target.baseline is None
    assert rate_target.passed is passed
    assert memory_target.passed is True


def test_a_missing_benchmark_is_reported_and_exits_2() -> None:
    docs = documents()
    del docs["bench_validation"]
    built = sections(docs)
    assert built[1].failure == "it produced no results"
    assert report.summary(built) == "4 of 4 targets met. No results from bench_validation."
    assert report.exit_code(built, check=False) == 2
    markdown = report.render_markdown(built, RUN)
    assert "## bench_validation: " in markdown
    assert "**No results**: it produced no results." in markdown
    svg = report.render_svg(built, RUN)
    assert len(bars(svg)) == 4
    assert "bench_validation: no results" in svg


def test_a_crashed_benchmark_says_why() -> None:
    crash = "it exited with status 1: bench_codec: sanity check failed: decoders disagree"
    built = sections(documents(), {"bench_codec": crash})
    assert built[0].failure == crash
    assert report.exit_code(built, check=False) == 2
    assert f"**No results**: {crash}." in report.render_markdown(built, RUN)


def _mutations() -> list[tuple[str, str, Any]]:
    """(script, what is wrong, how to make it so) for documents that fail a sanity check."""

    def wrong_verdict(doc: dict[str, Any]) -> None:
        doc["ratios"][0]["passed"] = not doc["ratios"][0]["passed"]

    def wrong_overall(doc: dict[str, Any]) -> None:
        doc["passed"] = not doc["passed"]

    def unknown_operation(doc: dict[str, Any]) -> None:
        doc["ratios"][0]["baseline"] = "nothing"

    def negative_ratio(doc: dict[str, Any]) -> None:
        doc["ratios"][0]["ratio"] = -1.0

    def other_mode(doc: dict[str, Any]) -> None:
        doc["mode"] = "full"

    def other_script(doc: dict[str, Any]) -> None:
        doc["benchmark"] = "bench_validation"

    def no_limit_at_all(doc: dict[str, Any]) -> None:
        for item in doc["ratios"]:
            item["limit"] = item["passed"] = None
        doc["passed"] = True

    def broker_verdict(doc: dict[str, Any]) -> None:
        doc["targets_met"] = not doc["targets_met"]

    def broker_missing_load(doc: dict[str, Any]) -> None:
        del doc["per_second"]["rs256"]

    def broker_zero_rate(doc: dict[str, Any]) -> None:
        doc["per_second"]["bare"] = 0

    def broker_boolean_size(doc: dict[str, Any]) -> None:
        doc["bytes_per_connection"] = True

    return [
        ("bench_codec", "passed=", wrong_verdict),
        ("bench_codec", "overall verdict", wrong_overall),
        ("bench_codec", "'nothing', which is no operation", unknown_operation),
        ("bench_codec", "'ratio' is not a positive number", negative_ratio),
        ("bench_codec", "it ran in full mode, not quick", other_mode),
        ("bench_codec", "the document is 'bench_validation''s", other_script),
        ("bench_codec", "no ratio has a limit", no_limit_at_all),
        ("bench_broker", "targets_met", broker_verdict),
        ("bench_broker", "no 'rs256'", broker_missing_load),
        ("bench_broker", "'bare' is not a positive number", broker_zero_rate),
        ("bench_broker", "'bytes_per_connection' is True, not a number", broker_boolean_size),
    ]


@pytest.mark.parametrize(
    ("script", "expected", "mutate"), _mutations(), ids=lambda value: getattr(value, "__name__", "")
)
def test_a_document_that_contradicts_itself_fails_the_sanity_check(
    script: str, expected: str, mutate: Any
) -> None:
    docs = documents()
    mutate(docs[script])
    built = {section.script.name: section for section in sections(docs)}
    failure = built[script].failure
    assert failure is not None
    assert failure.startswith("sanity check failed: ")
    assert expected in failure
    assert report.exit_code(list(built.values()), check=False) == 2
    assert all(section.failure is None for name, section in built.items() if name != script)


# --- Markdown ---------------------------------------------------------------------------


def test_markdown_has_every_target_with_its_figures() -> None:
    docs = documents(codec_decode=0.123456)
    markdown = report.render_markdown(sections(docs), RUN)
    rows = verdict_rows(markdown)
    assert len(rows) == 5
    assert rows[0] == ("| label of decode | label of verify | 0.123x | 0.125x | <= 0.15x | PASS |")
    rate = docs["bench_broker"]["per_second"]["unsecured"]
    minimum = MIN_AUTHENTICATIONS_PER_S
    assert rows[3] == (
        f"| complete authentications per second, unsecured tokens | none (absolute) "
        f"| {rate:,.0f}/s | n/a | >= {minimum:,.0f}/s | PASS |"
    )
    # The information ratio, and the broker's rates, each once, without a verdict.
    assert "| label of encode | label of step | 3.250x | 3.283x |" in markdown
    assert "| complete authentication, RS256 token (JWKS file) | 1,500 | 0.30x | n/a | n/a |" in (
        markdown
    )
    assert "**5 of 5 targets met.**" in markdown
    assert "- Command: `python benchmarks/report.py --quick`" in markdown
    assert "- Date: 2030-01-02 03:04 UTC" in markdown
    assert (
        "- Environment: CPython 3.11.7, OpenSSL 3.0.0, oauthbearer 0.1.0, bench_codec 1.2.3, "
        "bench_validation 1.2.3; Linux-test; 2 cores"
    ) in markdown


def test_markdown_marks_a_missed_target() -> None:
    rows = verdict_rows(report.render_markdown(sections(documents(rate=10.0)), RUN))
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == [
        "PASS",
        "PASS",
        "PASS",
        "FAIL",
        "PASS",
    ]


def test_the_docs_page_includes_the_report_from_its_marker() -> None:
    markdown = report.render_markdown(sections(documents()), RUN)
    head, body = markdown.split(report.INCLUDE_MARKER)
    # The page of its own keeps its title, plot and orphan flag; the docs take the rest.
    assert head.startswith("---\norphan: true\n---\n")
    assert "](report.svg)" in head
    assert body.lstrip().startswith("**5 of 5 targets met.**")
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert f":start-after: {report.INCLUDE_MARKER}" in page
    assert "{include} benchmarks/report.md" in page
    assert "{image} benchmarks/report.svg" in page


# --- SVG --------------------------------------------------------------------------------


def test_svg_has_one_bar_per_target_coloured_by_verdict() -> None:
    built = sections(documents(codec_decode=0.2, rate=10.0))
    found = bars(report.render_svg(built, RUN))
    expected = [target for _, target in report.targets_of(built)]
    assert len(found) == len(expected) == 5
    verdicts = [rect.get("class") for rect in found]
    assert verdicts == ["bar fail", "bar pass", "bar pass", "bar fail", "bar pass"]
    for rect, target in zip(found, expected, strict=True):
        assert rect.get("fill") == report.COLOURS[bool(target.passed)]
        tooltip = rect.find(f"{SVG}title")
        assert tooltip is not None
        assert tooltip.text is not None
        assert tooltip.text.startswith(target.subject)


def test_svg_bars_and_limit_lines_stay_on_their_axis() -> None:
    svg = report.render_svg(sections(documents(codec_decode=0.2, rate=10.0)), RUN)
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    width = float(root.get("width", "0"))
    for rect in bars(svg):
        right = float(rect.get("x", "0")) + float(rect.get("width", "0"))
        assert right <= width - report.VALUE_W
    for line in root.iter(f"{SVG}line"):
        assert 0 <= float(line.get("x1", "-1")) <= width - report.VALUE_W


def test_svg_escapes_its_text() -> None:
    docs = documents()
    docs["bench_codec"]["operations"]["decode"]["label"] = "decode <b>&</b> check"
    svg = report.render_svg(sections(docs), RUN)
    texts = [element.text for element in ET.fromstring(svg).iter(f"{SVG}text")]  # noqa: S314
    assert "decode <b>&</b> check" in texts


def test_svg_without_any_result_still_parses() -> None:
    built = sections({}, {})
    svg = report.render_svg(built, RUN)
    assert bars(svg) == []
    assert svg.count(": no results: ") == len(report.SCRIPTS)


@given(st.lists(st.floats(min_value=1e-4, max_value=1e6), min_size=1, max_size=8), st.booleans())
def test_a_scale_holds_every_figure(figures: list[float], log: bool) -> None:
    scale = report.Scale.fit(figures, log=log)
    for figure in figures:
        assert 0 <= scale.x(figure) <= report.PLOT_W * (1 + 1e-9)
    labelled = [tick for tick, has_label in scale.ticks() if has_label]
    assert labelled[0] <= min(figures)
    assert labelled[-1] >= max(figures) * (1 - 1e-9)


# --- Running ------------------------------------------------------------------------------


def test_a_script_that_crashes_is_named_with_its_last_words(tmp_path: Path) -> None:
    script = tmp_path / "bench_crash.py"
    script.write_text(
        "import sys\nprint('noise', file=sys.stderr)\nsys.exit('bench_crash: it broke')\n"
    )
    document, failure = report.run_script(script, tmp_path, quick=True)
    assert document is None
    assert failure == "it exited with status 1: bench_crash: it broke"


def test_a_script_that_writes_no_json_is_a_failure(tmp_path: Path) -> None:
    script = tmp_path / "bench_silent.py"
    script.write_text("")
    document, failure = report.run_script(script, tmp_path, quick=True)
    assert document is None
    assert failure is not None
    assert failure.startswith("it wrote no readable JSON document")


def test_a_script_gets_its_json_path_and_mode(tmp_path: Path) -> None:
    script = tmp_path / "bench_echo.py"
    script.write_text(
        "import json, sys\n"
        "path = sys.argv[sys.argv.index('--json') + 1]\n"
        "json.dump({'argv': sys.argv[1:]}, open(path, 'w'))\n"
    )
    document, failure = report.run_script(script, tmp_path, quick=True)
    assert failure is None
    assert document["argv"][-1] == "--quick"


def test_quick_report_end_to_end(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        # kafka-python 3.0 calls importlib.resources.read_text (deprecated) on import.
        warnings.simplefilter("ignore", DeprecationWarning)
        pytest.importorskip("kafka.net.sasl.oauth", reason="kafka-python is a benchmark baseline")
        pytest.importorskip("aiokafka.conn", reason="aiokafka is a benchmark baseline")
    out = tmp_path / "out"
    done = subprocess.run(  # noqa: S603 - our own script, with our own arguments
        [
            sys.executable,
            str(ROOT / "benchmarks" / "report.py"),
            "--quick",
            "--check",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode in {0, 1}, done.stderr
    markdown = (out / "report.md").read_text(encoding="utf-8")
    summary = re.search(r"\*\*(\d+) of (\d+) targets met\.\*\*", markdown)
    assert summary is not None, markdown
    met, total = int(summary[1]), int(summary[2])
    # --check: exit 1 exactly when a target was missed.
    assert done.returncode == (0 if met == total else 1)
    rows = verdict_rows(markdown)
    assert len(rows) == total > 0
    assert sum(row.endswith("| PASS |") for row in rows) == met
    for script in report.SCRIPTS:
        assert f"## {script.name}: " in markdown
    assert "No results" not in markdown
    assert "- Command: `python benchmarks/report.py --quick --check --output-dir " in markdown
    svg = (out / "report.svg").read_text(encoding="utf-8")
    assert len(bars(svg)) == total


def test_a_log_scale_holds_a_figure_that_log10_rounds_up() -> None:
    # log10(999999.9999999999) is 6.0: the lowest tick must still be below it.
    scale = report.Scale.fit([999_999.999_999_999_9], log=True)
    assert scale.low == 100_000.0
    assert scale.high == 1_000_000.0


def test_the_real_kafka_broker_is_an_anchor_beside_ours_not_a_target() -> None:
    docs = documents()
    broker = docs["bench_broker"]
    broker["per_second"].update(
        {"rs256-cached": 3000.0, "kafka-unsecured": 2500.0, "kafka-rs256": 1000.0}
    )
    broker["server_cpu"].update({"rs256-cached": 0.9, "kafka-unsecured": 1.2, "kafka-rs256": None})
    broker["kafka"] = "4.4.0"
    markdown = report.render_markdown(sections(docs), RUN)
    kafka_row = (
        "| Apache Kafka 4.4.0: complete authentication, unsecured token | 2,500 | 0.50x | 1.20 |"
    )
    assert kafka_row in markdown
    assert "| complete authentication, RS256 token, verified-token cache on | 3,000 |" in markdown
    assert "rs256 1.50x Kafka's rate" in markdown
    # Not a target: the verdicts are the same five.
    assert len(verdict_rows(markdown)) == 5
    assert "**5 of 5 targets met.**" in markdown
    # Without Kafka, the reason is printed; a 'kafka' that is not text is refused.
    docs = documents()
    docs["bench_broker"]["kafka"] = "not run (quick mode; --kafka runs it)"
    assert "real Kafka broker: not run (quick mode" in report.render_markdown(sections(docs), RUN)
    docs["bench_broker"]["kafka"] = 4
    built = {section.script.name: section for section in sections(docs)}
    assert "'kafka' is 4" in (built["bench_broker"].failure or "")
