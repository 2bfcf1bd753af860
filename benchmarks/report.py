"""Every benchmark, one after another, into one markdown report and one SVG plot.

Theory of operation
-------------------
Each benchmark script runs in a process of its own (this interpreter, its
``--json`` document written to a temporary folder), one after another, so that
none disturbs another's timings and a crash in one leaves the others' results.
This process only waits meanwhile.

Everything after that is pure: :func:`build_sections` reads the JSON documents
into one :class:`Section` per script (its targets, its information, or why it
has none), checking that each document is whole and agrees with itself (every
verdict it wrote is the one its figures give); :func:`render_markdown` and
:func:`render_svg` turn the sections into the report and the plot. Every figure
comes from the documents of this run; the date, the command and the number of
cores are passed in. The plot is SVG written by hand, so that the report needs
no plotting library.

The harness scripts (bench_codec.py, bench_validation.py) judge ratios of costs
measured in the same run, and their documents carry each ratio's limit and
verdict. bench_broker.py is a load test with two absolute targets, a rate and a
size, whose limits are its module's constants; its document holds the measured
figures and one verdict for both.

The script reports and does not gate: it exits 0 when it wrote the report, 1
with ``--check`` when a target was missed, and 2 when a benchmark crashed or a
document failed a sanity check (the report, written anyway, says which).

Run it as ``python benchmarks/report.py [--quick] [--output-dir DIR] [--check]``.
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from bench_broker import ANCHORS as BROKER_ANCHORS
from bench_broker import LABELS as BROKER_LABELS
from bench_broker import MAX_BYTES_PER_CONNECTION, MIN_AUTHENTICATIONS_PER_S

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

BENCHMARKS: Final = Path(__file__).resolve().parent
ROOT: Final = BENCHMARKS.parent
#: Where the report goes without ``--output-dir``: the docs include it from there.
DEFAULT_OUTPUT: Final = ROOT / "docs" / "benchmarks"
#: The longest one script may run: a full bench_broker.py run takes about 30 s.
SCRIPT_TIMEOUT_S: Final = 900
#: Where the markdown report starts for docs/benchmarks.md's ``{include}``: what comes
#: before it (front matter, title, plot) belongs to the report as a page of its own.
INCLUDE_MARKER: Final = "<!-- docs/benchmarks.md includes this file from here on -->"


# --- The benchmarks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Script:
    """A benchmark script in this folder, and how to read its JSON document."""

    name: str
    title: str
    kind: Literal["harness", "broker"]

    @property
    def path(self) -> Path:
        return BENCHMARKS / f"{self.name}.py"


#: Every benchmark, in the order they run and appear in the report.
SCRIPTS: Final = (
    Script("bench_codec", "the message codec", "harness"),
    Script("bench_validation", "signed-token validation and the verified-token cache", "harness"),
    Script("bench_broker", "the broker emulator under load, and memory per connection", "broker"),
)


# --- Reading the documents ----------------------------------------------------------------


class SanityError(Exception):
    """A benchmark's document is incomplete or contradicts itself."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One measured figure and its limit (no limit: printed for information)."""

    subject: str
    #: What the subject is measured against; None for an absolute figure.
    baseline: str | None
    value: float
    #: The harness's cross-check: the median of the ratios within each round.
    per_round_median: float | None
    #: ``"x"`` for a ratio of costs, else the figure's unit (``"/s"``, ``" B"``).
    unit: str
    limit: float | None
    #: The limit is a floor (a rate) rather than a ceiling (a cost).
    at_least: bool = False
    #: The plot's axis for this figure: targets sharing it share a panel.
    axis: str

    @property
    def passed(self) -> bool | None:
        if self.limit is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One benchmark's part of the report, or why it has none (``failure``)."""

    script: Script
    #: A line on how it measured: mode, rounds, statistic, concurrency.
    about: str = ""
    #: The ``environment`` object of a harness document.
    environment: Mapping[str, Any] | None = None
    targets: tuple[Target, ...] = ()
    #: Markdown lines: what the benchmark measured besides its targets.
    information: tuple[str, ...] = ()
    failure: str | None = None


#: The axis of the harness's ratios; a log scale, since they span decades.
RATIO_AXIS: Final = "cost as a multiple of the baseline's cost (log scale; lower is better)"


#: What each kind of JSON value is called in a sanity check's message.
_KINDS: Final[dict[type | tuple[type, ...], str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true or false",
    int: "an integer",
    (int, float): "a number",
}


def _field(document: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``document[key]``, which must be of ``kind``, one of :data:`_KINDS`."""
    if not isinstance(document, dict) or key not in document:
        raise SanityError(f"no {key!r} in the document")
    value = document[key]
    # A bool is an int to isinstance, yet never a figure; and only a bool is a verdict.
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise SanityError(f"{key!r} is {value!r}, not {_KINDS[kind]}")
    return value


def _figure(document: Mapping[str, Any], key: str) -> float:
    """A measured figure: a finite, positive number."""
    value = float(_field(document, key, (int, float)))
    if not (math.isfinite(value) and value > 0):
        raise SanityError(f"{key!r} is not a positive number: {value!r}")
    return value


def _check_mode(document: Mapping[str, Any], mode: str) -> None:
    if (found := _field(document, "mode", str)) != mode:
        raise SanityError(f"it ran in {found} mode, not {mode}")


def harness_section(script: Script, document: Mapping[str, Any], mode: str) -> Section:
    """A harness script's section: its ratios, each with its own verdict re-derived."""
    if (name := _field(document, "benchmark", str)) != script.name:
        raise SanityError(f"the document is {name!r}'s")
    _check_mode(document, mode)
    operations = _field(document, "operations", dict)
    targets: list[Target] = []
    information: list[Target] = []
    for item in _field(document, "ratios", list):
        subject, baseline = _field(item, "subject", str), _field(item, "baseline", str)
        for key in (subject, baseline):
            if key not in operations:
                raise SanityError(f"a ratio names {key!r}, which is no operation")
        limit = None if item.get("limit") is None else _figure(item, "limit")
        ratio = Target(
            subject=_field(operations[subject], "label", str),
            baseline=_field(operations[baseline], "label", str),
            value=_figure(item, "ratio"),
            per_round_median=_figure(item, "per_round_median"),
            unit="x",
            limit=limit,
            axis=RATIO_AXIS,
        )
        if item.get("passed") is not ratio.passed:
            raise SanityError(
                f"{subject} / {baseline}: the document says passed={item.get('passed')!r}, "
                f"its ratio {ratio.value:.3f} against its limit {limit!r} says {ratio.passed!r}"
            )
        (information if limit is None else targets).append(ratio)
    if not targets:
        raise SanityError("no ratio has a limit")
    if _field(document, "passed", bool) is not all(item.passed for item in targets):
        raise SanityError("its overall verdict contradicts its targets' verdicts")
    about = (
        f"{mode} mode, {_field(document, 'rounds', int)} rounds; an operation's cost is the "
        "10th percentile of its rounds, a ratio is the subject's cost over the baseline's."
    )
    if information:
        lines = [
            "Ratios printed for information, without a target:",
            "",
            "| subject | baseline | ratio | per-round median |",
            "|---|---|--:|--:|",
            *(
                f"| {_cell(item.subject)} | {_cell(item.baseline or '')} "
                f"| {_value(item.value, item.unit)} | {_value(item.per_round_median, 'x')} |"
                for item in information
            ),
        ]
    else:
        lines = []
    return Section(
        script=script,
        about=about,
        environment=_field(document, "environment", dict),
        targets=tuple(targets),
        information=tuple(lines),
    )


#: bench_broker.py's loads that every document has, as its own report names them.
BROKER_LOADS: Final = {key: BROKER_LABELS[key] for key in ("bare", "unsecured", "rs256")}


def broker_section(script: Script, document: Mapping[str, Any], mode: str) -> Section:
    """bench_broker.py's section: its two absolute targets and its rates."""
    _check_mode(document, mode)
    rates = _field(document, "per_second", dict)
    cpu = _field(document, "server_cpu", dict)
    per_s = {key: _figure(rates, key) for key in BROKER_LOADS}
    # The cached load and the real Kafka broker's (the anchor) are in newer documents,
    # the latter only when Kafka ran: each is read when it is there.
    per_s.update({key: _figure(rates, key) for key in BROKER_LABELS if key in rates})
    kafka = document.get("kafka")
    if kafka is not None and not isinstance(kafka, str):
        raise SanityError(f"'kafka' is {kafka!r}, not a version or a reason")
    targets = (
        Target(
            subject="complete authentications per second, unsecured tokens",
            baseline=None,
            value=per_s["unsecured"],
            per_round_median=None,
            unit="/s",
            limit=MIN_AUTHENTICATIONS_PER_S,
            at_least=True,
            axis="unsecured authentications per second (higher is better)",
        ),
        Target(
            subject="server state per authenticated connection",
            baseline=None,
            value=_figure(document, "bytes_per_connection"),
            per_round_median=None,
            unit=" B",
            limit=MAX_BYTES_PER_CONNECTION,
            axis="bytes of server state per authenticated connection (lower is better)",
        ),
    )
    if _field(document, "targets_met", bool) is not all(item.passed for item in targets):
        raise SanityError("its verdict (targets_met) contradicts its figures")
    lines = [
        "Rates measured meanwhile, for information: 'server core' is the share of one core",
        "the server used, 'per server core-second' what a core of its own would serve.",
        "",
        "| load | per second | ratio to a bare connection | server core | per server core-second |",
        "|---|--:|--:|--:|--:|",
    ]
    for key, label in BROKER_LABELS.items():
        if key not in per_s:
            continue
        share = cpu.get(key)
        if share is not None and not (isinstance(share, int | float) and share >= 0):
            raise SanityError(f"the server's CPU share for {key!r} is {share!r}")
        lines.append(
            f"| {label.format(version=kafka)} | {per_s[key]:,.0f} "
            f"| {per_s[key] / per_s['bare']:.2f}x "
            f"| {'n/a' if share is None else f'{share:.2f}'} "
            f"| {'n/a' if not share else f'{per_s[key] / share:,.0f}'} |"
        )
    anchored = [(ours, theirs) for ours, theirs in BROKER_ANCHORS if theirs in per_s]
    if anchored:
        lines += [
            "",
            f"The anchor: the real broker, Apache Kafka {kafka}, measured in the same run on "
            "the same machine under the same load generator, with the same validator kinds. "
            "Ours beside it, for information (not a target): "
            + "; ".join(
                f"{ours} {per_s[ours] / per_s[theirs]:.2f}x Kafka's rate"
                for ours, theirs in anchored
            )
            + ".",
        ]
    elif kafka is not None:
        lines += ["", f"The anchor, the real Kafka broker: {kafka}."]
    about = (
        f"{mode} mode, {_field(document, 'concurrency', int)} connections in flight. A load "
        "test with two absolute targets: the script's MIN_AUTHENTICATIONS_PER_S and "
        "MAX_BYTES_PER_CONNECTION."
    )
    return Section(script=script, about=about, targets=targets, information=tuple(lines))


def build_sections(
    documents: Mapping[str, Any], failures: Mapping[str, str], mode: str
) -> list[Section]:
    """One section per script of :data:`SCRIPTS`, from its document or its failure."""
    sections = []
    for script in SCRIPTS:
        if script.name in failures:
            sections.append(Section(script=script, failure=failures[script.name]))
            continue
        if script.name not in documents:
            sections.append(Section(script=script, failure="it produced no results"))
            continue
        read = harness_section if script.kind == "harness" else broker_section
        try:
            sections.append(read(script, documents[script.name], mode))
        except SanityError as error:
            sections.append(Section(script=script, failure=f"sanity check failed: {error}"))
    return sections


# --- The verdict ----------------------------------------------------------------------


def targets_of(sections: Iterable[Section]) -> list[tuple[Section, Target]]:
    return [(section, target) for section in sections for target in section.targets]


def summary(sections: Sequence[Section]) -> str:
    """``N of M targets met``, and the benchmarks that produced no results."""
    verdicts = [target.passed for _, target in targets_of(sections)]
    line = f"{verdicts.count(True)} of {len(verdicts)} targets met."
    failed = [section.script.name for section in sections if section.failure is not None]
    if failed:
        line += f" No results from {', '.join(failed)}."
    return line


def exit_code(sections: Sequence[Section], *, check: bool) -> int:
    """2 if a benchmark gave no results, 1 with ``check`` if a target was missed, else 0."""
    if any(section.failure is not None for section in sections):
        return 2
    if check and any(target.passed is False for _, target in targets_of(sections)):
        return 1
    return 0


# --- Markdown ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What the report says about its run besides the documents."""

    command: str
    date: str
    cores: int | None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}x" if unit == "x" else f"{value:,.0f}{unit}"


def _limit(target: Target) -> str:
    if target.limit is None:
        return "-"
    limit = f"{target.limit:g}x" if target.unit == "x" else _value(target.limit, target.unit)
    return f"{'>=' if target.at_least else '<='} {limit}"


def environment_line(sections: Iterable[Section], cores: int | None) -> str:
    """Python, OpenSSL, every package's version and the cores, as the harness gives them."""
    environments = [section.environment for section in sections if section.environment]
    if not environments:
        return f"{cores or 'unknown'} cores"
    first = environments[0]
    packages: dict[str, str] = {}
    for environment in environments:
        packages.update(environment.get("versions", {}))
    listed = "".join(f", {name} {version}" for name, version in packages.items())
    return (
        f"{first.get('implementation', 'Python')} {first.get('python', '?')}, "
        f"{first.get('openssl', '?')}{listed}; {first.get('platform', '?')}; "
        f"{cores or 'unknown'} cores"
    )


def render_section(section: Section) -> list[str]:
    lines = [f"## {section.script.name}: {section.script.title}", ""]
    if section.failure is not None:
        return [*lines, f"**No results**: {section.failure}.", ""]
    ratios = all(target.unit == "x" for target in section.targets)
    lines += [
        section.about,
        "",
        (
            f"| subject | baseline | {'ratio' if ratios else 'measured'} "
            "| per-round median | limit | result |"
        ),
        "|---|---|--:|--:|--:|---|",
    ]
    for target in section.targets:
        lines.append(
            f"| {_cell(target.subject)} | {_cell(target.baseline or 'none (absolute)')} "
            f"| {_value(target.value, target.unit)} "
            f"| {_value(target.per_round_median, 'x')} "
            f"| {_limit(target)} | {'PASS' if target.passed else 'FAIL'} |"
        )
    if section.information:
        lines += ["", *section.information]
    return [*lines, ""]


def render_markdown(sections: Sequence[Section], run: Run) -> str:
    """The report: title and plot, then (what the docs include) the summary, the
    environment, the command, the date and one table of targets per benchmark."""
    lines = [
        "---",
        "orphan: true",
        "---",
        "",
        "# Benchmark report",
        "",
        "![Each target's measured figure against its limit](report.svg)",
        "",
        INCLUDE_MARKER,
        "",
        f"**{summary(sections)}**",
        "",
        f"- Environment: {environment_line(sections, run.cores)}",
        f"- Command: `{run.command}`",
        f"- Date: {run.date}",
        "- Each benchmark ran in a process of its own, one after another; every figure",
        "  below comes from the JSON document it wrote.",
        "",
    ]
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines)


# --- SVG --------------------------------------------------------------------------------

#: Layout, in pixels. The label column's width is estimated from its longest line.
PAD: Final = 16
CHAR_W: Final = 6.4
PLOT_W: Final = 380
VALUE_W: Final = 190
TITLE_H: Final = 76
PANEL_TITLE_H: Final = 26
GROUP_H: Final = 22
ROW_H: Final = 40
AXIS_H: Final = 36
BAR_H: Final = 16
COLOURS: Final = {True: "#2e7d32", False: "#c62828"}
GREY: Final = "#5f6368"
GRID: Final = "#dadce0"
MINOR_GRID: Final = "#f1f3f4"
INK: Final = "#202124"
LEGEND: Final = "Each bar is a measured figure, the black line across it the target's limit."


def _text(x: float, y: float, text: str, **attributes: str) -> str:
    extra = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{html.escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, *, stroke: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{stroke}" stroke-width="{width:g}"/>'
    )


def _power_of_ten(value: float, rounding: Callable[[float], int]) -> float:
    """10 to the power ``rounding(log10(value))``, on the right side of ``value``
    even where ``log10`` rounds (``log10(999999.9999999999)`` is 6.0)."""
    power = 10.0 ** rounding(math.log10(value))
    if rounding is math.floor and power > value:
        return power / 10
    if rounding is math.ceil and power < value:
        return power * 10
    return power


@dataclass(frozen=True, slots=True)
class Scale:
    """A panel's x axis: figures to pixels, and the ticks to label."""

    low: float
    high: float
    log: bool

    @classmethod
    def fit(cls, figures: Sequence[float], *, log: bool) -> Scale:
        if log:
            low = _power_of_ten(min(figures), math.floor)
            high = _power_of_ten(max(figures), math.ceil)
            return cls(low, high if high > low else low * 10, log=True)
        # A linear axis from 0 to a round number above the largest figure.
        top = max(figures) * 1.05
        exponent = 10.0 ** math.floor(math.log10(top))
        return cls(
            0.0, next(m * exponent for m in (1, 2, 2.5, 5, 10) if m * exponent >= top), log=False
        )

    def x(self, value: float) -> float:
        if self.log:
            span = math.log10(self.high) - math.log10(self.low)
            return PLOT_W * (math.log10(max(value, self.low)) - math.log10(self.low)) / span
        return PLOT_W * value / self.high

    def ticks(self) -> list[tuple[float, bool]]:
        """Grid positions, each with whether it gets a label."""
        if not self.log:
            return [(self.high * step / 5, True) for step in range(6)]
        ticks = []
        decade = self.low
        while decade < self.high * 1.001:
            ticks.append((decade, True))
            ticks += [(decade * m, False) for m in (2, 5) if decade * m < self.high]
            decade *= 10
        return ticks

    def label(self, value: float, unit: str) -> str:
        return f"{value:g}x" if unit == "x" else f"{value:,.0f}{unit}"


def render_svg(sections: Sequence[Section], run: Run) -> str:
    """The plot: per axis, one bar per target with its limit as a line, coloured by verdict."""
    pairs = targets_of(sections)
    labels = [target.subject for _, target in pairs]
    labels += [f"vs {target.baseline}" for _, target in pairs if target.baseline]
    label_w = max(200.0, CHAR_W * max(map(len, labels), default=0))
    x0 = PAD + label_w + PAD
    value_x = x0 + PLOT_W + PAD
    width = value_x + VALUE_W + PAD
    body: list[str] = [
        _text(
            PAD,
            PAD + 14,
            f"oauthbearer benchmarks: {summary(sections)}",
            font_size="15",
            font_weight="bold",
        ),
        _text(PAD, PAD + 34, f"{run.date}; {run.command}", fill=GREY),
        _text(PAD, PAD + 50, LEGEND, fill=GREY),
    ]
    y = float(TITLE_H)
    axes = list(dict.fromkeys(target.axis for _, target in pairs))
    for axis in axes:
        panel = [(section, target) for section, target in pairs if target.axis == axis]
        unit = panel[0][1].unit
        scale = Scale.fit(
            [f for _, t in panel for f in (t.value, t.limit) if f is not None], log=unit == "x"
        )
        groups = list(dict.fromkeys(section.script.name for section, _ in panel))
        top = y + PANEL_TITLE_H
        bottom = top + GROUP_H * len(groups) + ROW_H * len(panel)
        body.append(_text(PAD, y + 17, axis, font_size="13", font_weight="bold"))
        for tick, labelled in scale.ticks():
            x = x0 + scale.x(tick)
            body.append(_line(x, top, x, bottom + 4, stroke=GRID if labelled else MINOR_GRID))
            if labelled:
                body.append(
                    _text(x, bottom + 18, scale.label(tick, unit), fill=GREY, text_anchor="middle")
                )
        body.append(_line(x0, bottom, x0 + PLOT_W, bottom, stroke=GREY))
        row_y = top
        for group in groups:
            body.append(_text(PAD, row_y + 15, group, fill=GREY, font_style="italic"))
            row_y += GROUP_H
            for section, target in panel:
                if section.script.name != group:
                    continue
                body += _bar(target, scale, x0, value_x, row_y)
                row_y += ROW_H
        y = bottom + AXIS_H
    for section in sections:
        if section.failure is not None:
            note = f"{section.script.name}: no results: {section.failure}"
            body.append(_text(PAD, y + 14, note, fill=COLOURS[False]))
            y += 22
    height = y + PAD
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
                f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
                f'font-family="sans-serif" font-size="12" fill="{INK}">'
            ),
            f"<title>oauthbearer benchmark report: {html.escape(summary(sections))}</title>",
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
            *body,
            "</svg>",
            "",
        ]
    )


def _bar(target: Target, scale: Scale, x0: float, value_x: float, y: float) -> list[str]:
    """One target's row: its label, its bar, its limit line and its figures."""
    assert target.limit is not None
    verdict = "PASS" if target.passed else "FAIL"
    colour = COLOURS[bool(target.passed)]
    baseline = f"vs {target.baseline}" if target.baseline else "an absolute figure"
    limit_x = x0 + scale.x(target.limit)
    shown = f"{_value(target.value, target.unit)}, limit {_limit(target)}"
    whole = f"{target.subject} {baseline}: {shown}: {verdict}"
    bar_y = y + (ROW_H - BAR_H) / 2
    return [
        _text(PAD, y + 17, target.subject),
        _text(PAD, y + 32, baseline, fill=GREY, font_size="11"),
        (
            f'<rect class="bar {verdict.lower()}" x="{x0:.1f}" y="{bar_y:.1f}" '
            f'width="{max(1.0, scale.x(target.value)):.1f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{html.escape(whole)}</title></rect>"
        ),
        _line(limit_x, y + 4, limit_x, y + ROW_H - 4, stroke=INK, width=2),
        _text(
            value_x,
            y + 17,
            f"{_value(target.value, target.unit)}  {verdict}",
            fill=colour,
            font_weight="bold",
        ),
        _text(value_x, y + 32, f"limit {_limit(target)}", fill=GREY, font_size="11"),
    ]


# --- Running the benchmarks ---------------------------------------------------------------


def run_script(path: Path, folder: Path, *, quick: bool) -> tuple[Any, str | None]:
    """Run one benchmark script in its own process: its JSON document, or why there is none."""
    out = folder / f"{path.stem}.json"
    command = [sys.executable, str(path), "--json", str(out), *(["--quick"] if quick else [])]
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, our own script and arguments
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"it did not finish within {SCRIPT_TIMEOUT_S} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"it exited with status {done.returncode}: {last}"
    try:
        return json.loads(out.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as error:
        return None, f"it wrote no readable JSON document: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark in its quick mode")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help="where report.md and report.svg go (default: docs/benchmarks/)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    mode = "quick" if args.quick else "full"

    documents: dict[str, Any] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        for script in SCRIPTS:
            started = time.perf_counter()
            document, failure = run_script(script.path, Path(folder), quick=args.quick)
            print(f"{script.name}: {time.perf_counter() - started:.1f} s", flush=True)
            if failure is None:
                documents[script.name] = document
            else:
                failures[script.name] = failure

    sections = build_sections(documents, failures, mode)
    run = Run(
        command=shlex.join(["python", "benchmarks/report.py", *arguments]),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cores=os.cpu_count(),
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "report.md").write_text(render_markdown(sections, run), encoding="utf-8")
    (args.output_dir / "report.svg").write_text(render_svg(sections, run), encoding="utf-8")
    print(f"{summary(sections)} Wrote report.md and report.svg to {args.output_dir}.")
    for section in sections:
        if section.failure is not None:
            print(f"{section.script.name}: {section.failure}", file=sys.stderr)
    return exit_code(sections, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
