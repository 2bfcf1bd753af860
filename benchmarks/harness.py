"""What the benchmark scripts share: the method, the report and the command line.

Theory of operation
-------------------
Machines are shared and noisy, so no absolute time is a target: every target is
a ratio between our operation and a baseline measured in the same process,
in the same rounds. Each round times every operation once, in an order that
rotates from round to round, so that every operation is sampled across the
whole run and meets the same quiet and busy spells. An operation's cost is the
10th percentile of its per-call times over the rounds. Sustained load slows the
interpreter-bound codec more than OpenSSL's verification, so the statistic must
come from the quiet rounds; yet not from the single lucky round a plain minimum
can pick (benchmarks/README.md shows the runs that decided this). The median of
the per-round ratios is printed beside each ratio as a cross-check.

A script subclasses :class:`Benchmark` with its fixture, its operations (each
checked once for producing the right result), its targets and the parts of its
report that are its own; :func:`run_main` measures, reports and exits. Scripts
run from the repository root as ``python benchmarks/<script>.py``, which puts
this folder on the import path.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import timeit
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeAlias, TypeVar

from cryptography.hazmat.backends.openssl import backend as openssl_backend

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

# --- Parameters -------------------------------------------------------------------

#: Which order statistic of an operation's samples is its cost: the 10th percentile
#: (nearest rank, rounding down), i.e. the 3rd fastest of 25 rounds; the minimum
#: when there are fewer than 11 rounds.
LOW_QUANTILE: Final = 0.1


@dataclass(frozen=True, slots=True)
class Mode:
    """How long to measure: rounds, and the time one measurement should take."""

    name: str
    rounds: int
    seconds_per_measurement: float


#: Full mode: 5 to 8 s in all for bench_codec.py on this project's 2-core machines.
FULL: Final = Mode("full", rounds=25, seconds_per_measurement=0.04)
#: Quick mode, for the smoke tests: a few seconds in all, imports and keys included.
QUICK: Final = Mode("quick", rounds=5, seconds_per_measurement=0.004)


# --- Fixtures -----------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- Measuring ----------------------------------------------------------------------


@dataclass(slots=True)
class Operation:
    """One timed statement and its samples (seconds per call, one per round)."""

    key: str
    label: str
    stmt: str
    namespace: dict[str, Any]
    number: int = 0
    samples: list[float] = field(default_factory=list)

    def timer(self) -> timeit.Timer:
        return timeit.Timer(self.stmt, globals=self.namespace)

    @property
    def cost(self) -> float:
        """The operation's cost: the :data:`LOW_QUANTILE` of its samples."""
        ordered = sorted(self.samples)
        return ordered[int(LOW_QUANTILE * (len(ordered) - 1))]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def calibrate(operation: Operation, seconds: float) -> None:
    """Choose how many calls one measurement makes, so that it takes about ``seconds``."""
    timer = operation.timer()
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= seconds / 5:
            break
        number *= 10 if elapsed < seconds / 50 else 2
    operation.number = max(1, math.ceil(number * seconds / elapsed))


def measure(operations: list[Operation], mode: Mode) -> None:
    """Time every operation once per round, rotating the order each round."""
    for operation in operations:
        calibrate(operation, mode.seconds_per_measurement)
    timers = [operation.timer() for operation in operations]
    count = len(operations)
    for round_ in range(mode.rounds):
        for step in range(count):
            index = (round_ + step) % count
            operation = operations[index]
            elapsed = timers[index].timeit(operation.number)
            operation.samples.append(elapsed / operation.number)


# --- Ratios -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratio:
    """A subject's cost as a multiple of a baseline's."""

    subject: str
    baseline: str
    #: The verdict: the subject's cost over the baseline's cost.
    ratio: float
    #: The cross-check: the median over rounds of the ratio within each round.
    per_round_median: float
    limit: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.limit is None else self.ratio <= self.limit


def paired_ratio(subject: Operation, baseline: Operation) -> float:
    """The median over rounds of subject / baseline, each pair timed in the same round."""
    per_round = [a / b for a, b in zip(subject.samples, baseline.samples, strict=True)]
    return statistics.median(per_round)


def ratio(by_key: dict[str, Operation], subject: str, baseline: str, limit: float | None) -> Ratio:
    mine, theirs = by_key[subject], by_key[baseline]
    return Ratio(subject, baseline, mine.cost / theirs.cost, paired_ratio(mine, theirs), limit)


def all_passed(ratios: Iterable[Ratio]) -> bool:
    """No target missed (ratios without a limit never fail)."""
    return all(item.passed is not False for item in ratios)


# --- Reporting ----------------------------------------------------------------------

#: An extra column of the operations table: its heading, and its cell for an operation.
Column: TypeAlias = tuple[str, Callable[[Operation], str]]


def ns(seconds: float) -> str:
    """Seconds as whole nanoseconds, with thousands separators."""
    return f"{seconds * 1e9:,.0f}"


def versions(packages: Iterable[str]) -> dict[str, str]:
    """The installed version of each distribution, by name."""
    return {name: metadata.version(name) for name in packages}


def environment_line(packages: Iterable[str]) -> str:
    """Python, OpenSSL and the packages' versions, on one line."""
    listed = ", ".join(f"{name} {version}" for name, version in versions(packages).items())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{openssl_backend.openssl_version_text()}, {listed}"
    )


# --- A benchmark script -------------------------------------------------------------

FixtureT = TypeVar("FixtureT")


class Benchmark(ABC, Generic[FixtureT]):
    """One benchmark script: what it measures and the parts of its report that are its own.

    A script subclasses this, sets the class attributes, implements the abstract
    methods and hands an instance to :func:`run_main`, which measures and reports.
    """

    #: The script's name: the report's heading and the JSON document's ``benchmark``.
    name: ClassVar[str]
    #: The distributions whose versions the report gives.
    packages: ClassVar[tuple[str, ...]]
    #: Targets: (subject, baseline, most the subject may cost as a multiple of the baseline).
    targets: ClassVar[tuple[tuple[str, str, float], ...]]
    #: Ratios printed for information, without a target: (subject, baseline).
    info_ratios: ClassVar[tuple[tuple[str, str], ...]]

    @abstractmethod
    def make_fixture(self) -> FixtureT:
        """The data the operations work on (keys, tokens, messages), built once."""

    @abstractmethod
    def make_operations(self, fixture: FixtureT) -> list[Operation]:
        """The subjects and baselines, each checked once for producing the right result."""

    @abstractmethod
    def about(self, fixture: FixtureT) -> list[str]:
        """The report's lines on the fixture, between its heading and the environment."""

    @abstractmethod
    def columns(self, by_key: Mapping[str, Operation]) -> list[Column]:
        """The operations table's columns after ``calls/round``."""

    @abstractmethod
    def details(self, fixture: FixtureT) -> dict[str, Any]:
        """The JSON document's keys on the fixture, placed after ``environment``."""

    def require(self, condition: bool, what: str) -> None:
        """Stop the script, naming the sanity check that failed, unless ``condition``."""
        if not condition:
            raise SystemExit(f"{self.name}: sanity check failed: {what}")

    def render(
        self, operations: list[Operation], ratios: list[Ratio], fixture: FixtureT, mode: Mode
    ) -> str:
        """The markdown report: heading, :meth:`about`, environment, operations, ratios."""
        by_key = {operation.key: operation for operation in operations}
        columns = self.columns(by_key)
        lines = [
            (
                f"## {self.name} ({mode.name} mode, {mode.rounds} rounds, "
                "cost: 10th percentile of the rounds)"
            ),
            "",
            *self.about(fixture),
            environment_line(self.packages),
            "",
            "| operation | ns/op (p10) | ns/op (median) | calls/round |"
            + "".join(f" {heading} |" for heading, _ in columns),
            "|---|--:|--:|--:|" + "--:|" * len(columns),
        ]
        lines.extend(
            f"| {op.label} | {ns(op.cost)} | {ns(op.median)} | {op.number:,} |"
            + "".join(f" {cell(op)} |" for _, cell in columns)
            for op in operations
        )
        lines += [
            "",
            "| target | ratio | per-round median | limit | result |",
            "|---|--:|--:|--:|---|",
        ]
        for item in ratios:
            name = f"{by_key[item.subject].label} / {by_key[item.baseline].label}"
            limit = "-" if item.limit is None else f"<= {item.limit:g}x"
            result = {True: "PASS", False: "FAIL", None: "(info)"}[item.passed]
            lines.append(
                f"| {name} | {item.ratio:.3f}x | {item.per_round_median:.3f}x "
                f"| {limit} | {result} |"
            )
        return "\n".join(lines)

    def to_json(
        self, operations: list[Operation], ratios: list[Ratio], fixture: FixtureT, mode: Mode
    ) -> dict[str, Any]:
        """The JSON document ``--json`` writes."""
        return {
            "benchmark": self.name,
            "mode": mode.name,
            "rounds": mode.rounds,
            "statistic": "p10",
            "environment": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "openssl": openssl_backend.openssl_version_text(),
                "versions": versions(self.packages),
            },
            **self.details(fixture),
            "operations": {
                op.key: {
                    "label": op.label,
                    "number": op.number,
                    "p10_ns": op.cost * 1e9,
                    "min_ns": min(op.samples) * 1e9,
                    "median_ns": op.median * 1e9,
                    "max_ns": max(op.samples) * 1e9,
                    "samples_ns": [sample * 1e9 for sample in op.samples],
                }
                for op in operations
            },
            "ratios": [
                {
                    "subject": item.subject,
                    "baseline": item.baseline,
                    "ratio": item.ratio,
                    "per_round_median": item.per_round_median,
                    "limit": item.limit,
                    "passed": item.passed,
                }
                for item in ratios
            ],
            "passed": all_passed(ratios),
        }


# --- The command line ---------------------------------------------------------------


def run_main(
    argv: Sequence[str] | None,
    benchmark: Benchmark[FixtureT],
    *,
    doc: str | None,
    quick_help: str,
) -> int:
    """A benchmark script's ``main``: ``[--quick] [--json PATH] [--check]``.

    Builds the fixture and operations, measures, computes the targets and the
    information ratios, prints the report and, with ``--json``, writes the
    document. Returns the exit code: 1 with ``--check`` if a target is missed,
    else 0. ``doc`` is the script's docstring: its first paragraph describes the
    script in ``--help``; ``quick_help`` describes ``--quick``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL

    fixture = benchmark.make_fixture()
    operations = benchmark.make_operations(fixture)
    measure(operations, mode)
    by_key = {operation.key: operation for operation in operations}
    ratios = [
        ratio(by_key, subject, baseline, limit) for subject, baseline, limit in benchmark.targets
    ]
    ratios += [
        ratio(by_key, subject, baseline, None) for subject, baseline in benchmark.info_ratios
    ]

    print(benchmark.render(operations, ratios, fixture, mode))
    if args.json is not None:
        document = benchmark.to_json(operations, ratios, fixture, mode)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if args.check and not all_passed(ratios) else 0


# --- A server in its own process --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    pid: int

    def cpu_s(self) -> float | None:
        """CPU seconds the process has used (Linux's /proc), or None where unknown."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_bytes(self) -> int | None:
        """The process's peak resident memory so far (Linux's VmHWM), or None."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None


@contextlib.contextmanager
def server(*args: str) -> Iterator[Server]:
    """A server process printing ``... listening on 127.0.0.1:PORT ...``."""
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, with our own arguments
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on 127.0.0.1:" not in line:
            raise SystemExit(f"the server did not start: {line!r}")
        yield Server(int(line.split("listening on 127.0.0.1:")[1].split()[0]), proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
