"""The conformance corpus and its runner: client initial responses with known verdicts.

Theory of operation
-------------------
The corpus (``conformance.json``, shipped in this package) holds client initial
responses (RFC 7628 section 3.1), each with the verdict per dialect: *accept*,
with the token, authzid and extensions a parser must read, or *reject*, with
the reason code (:class:`~oauthbearer.MalformedReason`) and, for Kafka, the
text Kafka's broker reports. Each expectation names its source: a section of
RFC 7628, RFC 5801, RFC 6750 or RFC 3629, Apache Kafka's
``OAuthBearerClientInitialResponse``, a real client's wire capture, or one of
the decisions the strict dialect documents (docs/dialects.md). The verdicts
were written from those sources, not by running our codec; the test suite then
holds our codec to every one of them.

:func:`run_conformance` runs the corpus against an *implementation*: a callable
``(data, dialect) -> Verdict``. :func:`codec_verdict` is ours;
:func:`command_implementation` wraps any program that speaks the verdict
protocol:

* the program is started once per case and dialect, without a shell, with the
  input bytes on its standard input and the dialect in the environment
  variable ``OAUTHBEARER_DIALECT`` (``rfc7628`` or ``kafka``);
* it prints one JSON object on its standard output: ``{"outcome": "accept",
  "token": ..., "authzid": ..., "extensions": {...}}`` or ``{"outcome":
  "reject", "reason": ...}``. Every member but ``outcome`` is optional: what is
  left out is not compared. A ``reason`` is compared only when it is given, and
  must then be one of our codes (:class:`~oauthbearer.errors.MalformedReason`); one
  that is not is reported as an *unknown reason*, not as a disagreement;
  ``kafka_message`` likewise. The exit status is not read;
* a program that prints no verdict within the timeout is killed with its whole
  process group; one that prints something other than a verdict, or nothing,
  is reported as an *error* for that case, and the run goes on.

A result is ``agree``, ``disagree`` (the verdict differs: the outcome, a field,
the reason), ``unknown-reason`` (the outcomes agree, but the implementation
gave a reason code that is not one of ours, so it cannot be compared) or
``error`` (no usable verdict). With ``outcome_only``, only accept or reject is
compared: no field, no reason. Each result is passed to ``on_result`` as soon
as it is known, so that a caller can stream progress; the reports
(:func:`format_report`, :meth:`ConformanceReport.to_json`,
:func:`junit_xml`) show each case's description and input
(:mod:`oauthbearer.testing.reports`).

This module is a shell: it reads a package data file and starts processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import fnmatch
import importlib.resources
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from oauthbearer._text import show_value
from oauthbearer.errors import (
    ConfigurationError,
    MalformedMessage,
    MalformedReason,
    OAuthBearerError,
)
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE, ClientInitialResponse, Dialect
from oauthbearer.testing.reports import JUnitCase, input_json, input_lines
from oauthbearer.testing.reports import junit_xml as junit_document

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

__all__ = [
    "CORPUS_FORMAT",
    "DEFAULT_VERDICT_TIMEOUT_S",
    "MAX_VERDICT_SIZE",
    "CaseResult",
    "ConformanceCase",
    "ConformanceReport",
    "Expectation",
    "Implementation",
    "Outcome",
    "ResultStatus",
    "Verdict",
    "VerdictError",
    "codec_verdict",
    "command_implementation",
    "format_report",
    "junit_xml",
    "load_corpus",
    "run_conformance",
    "select_cases",
]

#: The ``format`` member of a corpus file this module reads.
CORPUS_FORMAT: Final = "oauthbearer-conformance/1"

#: How long an external implementation may take over one case, by default: a
#: JVM starts in well under a second, and nothing here needs more than a parse.
DEFAULT_VERDICT_TIMEOUT_S: Final = 5.0

#: Largest verdict read from an external implementation: room for the fields
#: of the largest input (KAFKA_MAX_RECEIVE_SIZE bytes) with every byte written
#: as a six-character JSON escape.
MAX_VERDICT_SIZE: Final = 6 * KAFKA_MAX_RECEIVE_SIZE + 4096

#: The fields an accept verdict may report, and what a reject verdict may add.
_ACCEPT_FIELDS: Final = ("token", "authzid", "extensions")
_REJECT_FIELDS: Final = ("kafka_message",)

_ESCAPE: Final = re.compile(r"\\(x[0-9a-fA-F]{2}|\\)|([^\\])")


class Outcome(enum.StrEnum):
    """Whether a parser takes the message."""

    ACCEPT = "accept"
    REJECT = "reject"


class ResultStatus(enum.StrEnum):
    """How an implementation's verdict compares with the expectation."""

    AGREE = "agree"
    DISAGREE = "disagree"
    #: The outcomes agree, and the implementation's reason code is not one of
    #: :class:`~oauthbearer.errors.MalformedReason`: it names a rule we do not know.
    UNKNOWN_REASON = "unknown-reason"
    #: No usable verdict: a timeout, a crash, or output that is not a verdict.
    ERROR = "error"


class VerdictError(OAuthBearerError):
    """An implementation gave no usable verdict for a case (the case is an *error*)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What an implementation made of an input.

    ``fields`` holds what it reported of ``token``, ``authzid`` (``None`` when
    absent), ``extensions`` and ``kafka_message``; only reported fields are
    compared. ``reason`` is a code of :class:`~oauthbearer.MalformedReason`, or
    ``None`` when not reported.
    """

    outcome: Outcome
    reason: str | None = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The verdict in the protocol's JSON form."""
        obj: dict[str, Any] = {"outcome": self.outcome.value}
        if self.reason is not None:
            obj["reason"] = self.reason
        obj.update(self.fields)
        return obj

    @classmethod
    def from_json(cls, obj: object) -> Verdict:
        """Read a verdict of the protocol; raises :class:`VerdictError` if it is not one."""
        if not isinstance(obj, dict):
            raise VerdictError("the verdict is not a JSON object")
        try:
            outcome = Outcome(str(obj.get("outcome")))
        except ValueError:
            raise VerdictError("the verdict's 'outcome' is not 'accept' or 'reject'") from None
        reason = obj.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise VerdictError("the verdict's 'reason' is not a string")
        names = _ACCEPT_FIELDS if outcome is Outcome.ACCEPT else _REJECT_FIELDS
        fields = {name: obj[name] for name in names if name in obj}
        for name, value in fields.items():
            _check_field(name, value, VerdictError)
        return cls(
            outcome=outcome,
            reason=reason if outcome is Outcome.REJECT else None,
            fields=types.MappingProxyType(fields),
        )

    def describe(self) -> str:
        """``accept``, or ``reject`` and the reason: as the report's table shows it."""
        return self.outcome.value if self.reason is None else f"{self.outcome} {self.reason}"


def _check_field(name: str, value: object, error: type[Exception]) -> None:
    if name == "authzid" and value is None:
        return
    if name == "extensions":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise error("'extensions' is not an object of strings")
    elif not isinstance(value, str):
        raise error(f"{name!r} is not a string")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """The verdict the corpus expects in one dialect, and where the rule comes from."""

    verdict: Verdict
    source: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConformanceCase:
    """One input and its expected verdict per dialect."""

    id: str
    description: str
    data: bytes = dataclasses.field(repr=False)
    expect: Mapping[Dialect, Expectation]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """One case in one dialect: the expectation, the verdict, and how they compare.

    ``verdict`` is ``None`` for an error; ``detail`` says what differs, or what
    went wrong, and is empty when the two agree.
    """

    case: ConformanceCase
    dialect: Dialect
    status: ResultStatus
    verdict: Verdict | None
    detail: str = ""

    @property
    def expected(self) -> Expectation:
        return self.case.expect[self.dialect]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            **input_json(self.case.description, self.case.data),
            "dialect": self.dialect.value,
            "status": self.status.value,
            "expected": self.expected.verdict.to_json(),
            "got": None if self.verdict is None else self.verdict.to_json(),
            "detail": self.detail,
            "source": self.expected.source,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ConformanceReport:
    """Every result of a run, in corpus order (each case, then each dialect)."""

    implementation: str
    results: tuple[CaseResult, ...]
    #: Whether only accept or reject was compared (``outcome_only``).
    outcome_only: bool = False

    def _with(self, status: ResultStatus) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if result.status is status)

    @property
    def agreements(self) -> tuple[CaseResult, ...]:
        return self._with(ResultStatus.AGREE)

    @property
    def disagreements(self) -> tuple[CaseResult, ...]:
        return self._with(ResultStatus.DISAGREE)

    @property
    def unknown_reasons(self) -> tuple[CaseResult, ...]:
        return self._with(ResultStatus.UNKNOWN_REASON)

    @property
    def errors(self) -> tuple[CaseResult, ...]:
        return self._with(ResultStatus.ERROR)

    @property
    def ok(self) -> bool:
        """True when every result agrees (and there is at least one)."""
        return bool(self.results) and all(r.status is ResultStatus.AGREE for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "implementation": self.implementation,
            "outcome_only": self.outcome_only,
            "cases": len({result.case.id for result in self.results}),
            "agree": len(self.agreements),
            "disagree": len(self.disagreements),
            "unknown_reason": len(self.unknown_reasons),
            "error": len(self.errors),
            "results": [result.to_json() for result in self.results],
        }


#: An implementation under test: the verdict on ``data`` in ``dialect``. It raises
#: :class:`VerdictError` when it has none.
Implementation: TypeAlias = Callable[[bytes, Dialect], Verdict]


# --- The corpus ------------------------------------------------------------------------------


def _unescape(text: str, where: str) -> bytes:
    r"""The corpus's escaped bytes: ``\xNN`` a byte, ``\\`` a backslash, and any
    other character one printable ASCII byte."""
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        if match.start() != position:
            break
        escape, plain = match.groups()
        if plain is not None:
            if not " " <= plain <= "~":
                raise ConfigurationError(f"{where}: {plain!r} must be written as \\xNN")
            out += plain.encode("ascii")
        elif escape == "\\":
            out += b"\\"
        else:
            out.append(int(escape[1:], 16))
        position = match.end()
    if position != len(text):
        raise ConfigurationError(f"{where}: bad escape at character {position}")
    return bytes(out)


def _input_bytes(spec: object, where: str) -> bytes:
    """``input``: escaped text, or a list of escaped texts and ``{"repeat", "times"}``."""
    if isinstance(spec, str):
        return _unescape(spec, where)
    if not isinstance(spec, list):
        raise ConfigurationError(f"{where}: 'input' must be a string or a list")
    out = bytearray()
    for part in spec:
        if isinstance(part, str):
            out += _unescape(part, where)
        elif (
            isinstance(part, dict)
            and set(part) == {"repeat", "times"}
            and isinstance(part["repeat"], str)
            and isinstance(part["times"], int)
            and part["times"] >= 0
        ):
            out += _unescape(part["repeat"], where) * part["times"]
        else:
            raise ConfigurationError(f"{where}: bad 'input' part {str(part)[:40]!r}")
    return bytes(out)


def _expectation(obj: object, where: str) -> Expectation:
    if not isinstance(obj, dict):
        raise ConfigurationError(f"{where}: an expectation must be an object")
    source = obj.get("source")
    if not isinstance(source, str) or not source:
        raise ConfigurationError(f"{where}: every expectation names its 'source'")
    try:
        verdict = Verdict.from_json({k: v for k, v in obj.items() if k != "source"})
    except VerdictError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    if verdict.outcome is Outcome.REJECT and verdict.reason is None:
        raise ConfigurationError(f"{where}: a 'reject' expectation needs its 'reason'")
    unknown = set(obj) - {"outcome", "reason", "source", *_ACCEPT_FIELDS, *_REJECT_FIELDS}
    if unknown:
        raise ConfigurationError(f"{where}: unknown members {sorted(unknown)}")
    return Expectation(verdict=verdict, source=source)


def load_corpus(path: str | Path | None = None) -> tuple[ConformanceCase, ...]:
    """The cases of a corpus file (default: the one shipped in this package).

    Raises :class:`~oauthbearer.ConfigurationError` naming the case for a file
    that does not follow the format (docs/conformance.md).
    """
    if path is None:
        text = (
            importlib.resources.files("oauthbearer.testing")
            .joinpath("conformance.json")
            .read_text(encoding="utf-8")
        )
    else:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"the corpus is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != CORPUS_FORMAT:
        raise ConfigurationError(f"the corpus's 'format' must be {CORPUS_FORMAT!r}")
    raw_cases = document.get("cases")
    if not isinstance(raw_cases, list):
        raise ConfigurationError("the corpus has no 'cases' list")
    cases: list[ConformanceCase] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cases):
        where = f"case {index}"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise ConfigurationError(f"{where}: a case is an object with an 'id'")
        where = f"case {raw['id']!r}"
        if raw["id"] in seen:
            raise ConfigurationError(f"{where}: the id is used twice")
        seen.add(raw["id"])
        expect = raw.get("expect")
        if not isinstance(expect, dict) or not expect:
            raise ConfigurationError(f"{where}: 'expect' maps dialects to expectations")
        try:
            dialects = {Dialect(name): value for name, value in expect.items()}
        except ValueError:
            raise ConfigurationError(f"{where}: 'expect' names an unknown dialect") from None
        cases.append(
            ConformanceCase(
                id=raw["id"],
                description=str(raw.get("description", "")),
                data=_input_bytes(raw.get("input"), where),
                expect=types.MappingProxyType(
                    {
                        dialect: _expectation(value, f"{where} ({dialect.value})")
                        for dialect, value in dialects.items()
                    }
                ),
            )
        )
    return tuple(cases)


# --- Implementations ---------------------------------------------------------------------------


def codec_verdict(data: bytes, dialect: Dialect) -> Verdict:
    """Our codec's verdict: :meth:`ClientInitialResponse.decode
    <oauthbearer.ClientInitialResponse.decode>` in ``dialect``, with every field."""
    try:
        message = ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as exc:
        fields = {} if exc.kafka_message is None else {"kafka_message": exc.kafka_message}
        return Verdict(outcome=Outcome.REJECT, reason=exc.reason, fields=fields)
    return Verdict(
        outcome=Outcome.ACCEPT,
        fields={
            "token": message.token,
            "authzid": message.authzid,
            "extensions": dict(message.extensions),
        },
    )


def command_implementation(
    command: str | Sequence[str], *, timeout: float = DEFAULT_VERDICT_TIMEOUT_S
) -> Implementation:
    """An implementation that runs ``command`` once per case (the verdict protocol).

    ``command`` is an argument list, or a command line split as a POSIX shell
    would (no pipes or redirections: run ``sh -c '...'`` for those). Raises
    :class:`~oauthbearer.ConfigurationError` if the program cannot be found.
    """
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise ConfigurationError("the command is empty")
    if shutil.which(argv[0]) is None:
        raise ConfigurationError(f"command not found: {argv[0]!r}")
    if not timeout > 0:
        raise ConfigurationError("the timeout must be a number of seconds > 0")

    def run(data: bytes, dialect: Dialect) -> Verdict:
        return _run_command(argv, data, dialect, timeout)

    return run


def _run_command(argv: list[str], data: bytes, dialect: Dialect, timeout: float) -> Verdict:
    env = {**os.environ, "OAUTHBEARER_DIALECT": dialect.value}
    try:
        process = subprocess.Popen(  # noqa: S603 - the user's own command, no shell
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, killed as one
        )
    except OSError as exc:
        raise VerdictError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    stdout = _Capture(process.stdout, MAX_VERDICT_SIZE)
    stderr = _Capture(process.stderr, 2048)
    feeder = threading.Thread(target=_feed, args=(process.stdin, data), daemon=True)
    for thread in (feeder, stdout.thread, stderr.thread):
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        _join(feeder, stdout.thread, stderr.thread)
        raise VerdictError(f"no verdict within {timeout:g} s (killed)") from None
    # A program it started may still hold the pipes open: it gets the rest of
    # the time, and then its group is ended; what was printed still counts.
    for thread in (stdout.thread, stderr.thread):
        thread.join(max(deadline - time.monotonic(), 0))
    if stdout.thread.is_alive() or stderr.thread.is_alive():
        _kill_group(process)
        _join(feeder, stdout.thread, stderr.thread)
    if stdout.overflow:
        raise VerdictError(f"the output exceeds {MAX_VERDICT_SIZE} bytes")
    output = bytes(stdout.data).strip()
    if not output:
        status = process.returncode
        tail = bytes(stderr.data).decode("utf-8", "replace").strip().splitlines()
        said = f"; stderr: {tail[-1][:120]}" if tail else ""
        raise VerdictError(f"exited with status {status} and printed no verdict{said}")
    try:
        obj = json.loads(output)
    except (ValueError, RecursionError):
        shown = output[:60].decode("utf-8", "replace")
        raise VerdictError(f"the output is not a JSON verdict: {shown!r}") from None
    return Verdict.from_json(obj)


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=1.0)


def _feed(pipe: Any, data: bytes) -> None:
    # A program may exit without reading its input: its verdict decides, not the pipe.
    try:
        pipe.write(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


class _Capture:
    """Reads a pipe to its end in a thread, keeping at most ``limit`` bytes."""

    def __init__(self, pipe: Any, limit: int) -> None:
        self.data = bytearray()
        self.overflow = False
        self._pipe = pipe
        self._limit = limit
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        with self._pipe:
            while chunk := self._pipe.read1(65536):
                if len(self.data) + len(chunk) > self._limit:
                    self.overflow = True
                else:
                    self.data += chunk


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the program and what it started: its process group. It is called only
    while the group has a member (the program, or a child holding its pipes), so
    the group id is still the program's."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - no process groups
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


# --- The runner -----------------------------------------------------------------------------------


def _compare(expected: Verdict, got: Verdict, *, outcome_only: bool) -> list[str]:
    """What differs between two verdicts, in words; empty when they agree."""
    if expected.outcome is not got.outcome:
        return (
            [f"expected {expected.outcome}, got {got.outcome}"]
            if outcome_only
            else [f"expected {expected.describe()}, got {got.describe()}"]
        )
    if outcome_only:
        return []
    differences = []
    if (
        expected.reason is not None
        and MalformedReason.knows(got.reason)  # an unknown one is not compared: _run_one says so
        and expected.reason != got.reason
    ):
        differences.append(f"reason: expected {expected.reason}, got {got.reason}")
    for name, value in expected.fields.items():
        if name in got.fields and got.fields[name] != value:
            differences.append(f"{name}: expected {_short(value)}, got {_short(got.fields[name])}")
    return differences


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _run_one(
    implementation: Implementation, case: ConformanceCase, dialect: Dialect, *, outcome_only: bool
) -> CaseResult:
    try:
        verdict = implementation(case.data, dialect)
    except VerdictError as exc:
        return CaseResult(
            case=case, dialect=dialect, status=ResultStatus.ERROR, verdict=None, detail=str(exc)
        )
    except Exception as exc:  # noqa: BLE001 - an in-process implementation's crash is its verdict
        detail = f"the implementation raised {type(exc).__name__}: {exc}"[:200]
        return CaseResult(
            case=case, dialect=dialect, status=ResultStatus.ERROR, verdict=None, detail=detail
        )
    differences = _compare(case.expect[dialect].verdict, verdict, outcome_only=outcome_only)
    status = ResultStatus.DISAGREE if differences else ResultStatus.AGREE
    expected = case.expect[dialect].verdict
    if (
        not outcome_only
        and verdict.outcome is expected.outcome
        and verdict.reason is not None
        and not MalformedReason.knows(verdict.reason)
    ):
        status = ResultStatus.UNKNOWN_REASON
        differences.insert(
            0,
            f"unknown reason {show_value(verdict.reason)}: not one of oauthbearer's "
            f"reason codes (expected {expected.reason})",
        )
    return CaseResult(
        case=case, dialect=dialect, status=status, verdict=verdict, detail="; ".join(differences)
    )


def select_cases(
    cases: Iterable[ConformanceCase], patterns: Iterable[str]
) -> tuple[ConformanceCase, ...]:
    """The cases whose id matches one of the shell-style ``patterns`` (``gs2-*``)."""
    chosen = list(patterns)
    return tuple(c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in chosen))


def run_conformance(
    implementation: Implementation | None = None,
    *,
    name: str | None = None,
    cases: Iterable[ConformanceCase] | None = None,
    dialects: Iterable[Dialect | str] | None = None,
    jobs: int = 1,
    outcome_only: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
) -> ConformanceReport:
    """Run ``cases`` (default: the shipped corpus) against ``implementation``
    (default: our codec) in each of ``dialects`` a case has an expectation for.

    ``jobs`` runs that many cases at once (for slow external programs). An
    implementation that raises, or gives no verdict, makes that case an error;
    the run goes on. ``outcome_only`` compares accept or reject alone.
    ``on_result`` is called with each result as soon as it is known (in
    completion order, one call at a time); the report keeps corpus order.
    """
    if implementation is None:
        implementation, name = codec_verdict, name or "the oauthbearer codec"
    if jobs < 1:
        raise ConfigurationError("jobs must be 1 or more")
    chosen = tuple(Dialect) if dialects is None else tuple(Dialect(d) for d in dialects)
    runs = [
        (case, dialect)
        for case in (load_corpus() if cases is None else cases)
        for dialect in chosen
        if dialect in case.expect
    ]
    chosen_implementation = implementation
    lock = threading.Lock()

    def one(run: tuple[ConformanceCase, Dialect]) -> CaseResult:
        result = _run_one(chosen_implementation, *run, outcome_only=outcome_only)
        if on_result is not None:
            with lock:
                on_result(result)
        return result

    if jobs == 1:
        results = [one(run) for run in runs]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, runs))
    label = name or str(getattr(implementation, "__name__", "an implementation"))
    return ConformanceReport(label, tuple(results), outcome_only=outcome_only)


# --- The report as text -------------------------------------------------------------------------


def format_report(report: ConformanceReport) -> str:
    """The table ``oauthbearer conformance`` prints: one row per case and dialect,
    then what differs for each result that does not agree, then the totals."""
    rows = [("case", "dialect", "expected", "got", "result")]
    for result in report.results:
        agree = result.status is ResultStatus.AGREE
        rows.append(
            (
                result.case.id,
                result.dialect.value,
                result.expected.verdict.describe(),
                "-" if result.verdict is None else result.verdict.describe(),
                result.status.value if agree else result.status.value.upper(),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    mode = " (outcomes only)" if report.outcome_only else ""
    lines = [f"oauthbearer conformance: {report.implementation}{mode}"]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    problems = [r for r in report.results if r.status is not ResultStatus.AGREE]
    if problems:
        lines.append("")
        lines += [f"{r.case.id} ({r.dialect.value}): {r.detail}" for r in problems]
    shown = {result.case.id: result.case for result in report.results}
    if shown:
        lines += ["", "Cases:"]
    for case in shown.values():
        lines.append(f"{case.id}:")
        lines += input_lines(case.description, case.data)
    totals = (
        f"{len(report.agreements)} agree, {len(report.disagreements)} disagree, "
        f"{len(report.unknown_reasons)} unknown reasons, "
        f"{len(report.errors)} errors ({len(shown)} cases)"
    )
    lines += ["", totals]
    return "\n".join(lines) + "\n"


def progress_line(done: int, total: int, result: CaseResult) -> str:
    """The line ``oauthbearer conformance`` streams as each result is known."""
    status = result.status.value
    shown = status if result.status is ResultStatus.AGREE else status.upper()
    return f"[{done}/{total}] {result.case.id} ({result.dialect.value}): {shown}"


def junit_xml(report: ConformanceReport) -> str:
    """The report as JUnit XML, for CI: a ``testcase`` per case and dialect
    (class ``oauthbearer.conformance.<dialect>``); a ``failure`` for a
    disagreement or an unknown reason (its ``type`` says which), an ``error``
    for no usable verdict. Every case carries its description, its input and
    the source of its expectation."""
    entries = []
    for result in report.results:
        expected = result.expected
        details = input_lines(result.case.description, result.case.data, indent="")
        details += [
            f"expected: {expected.verdict.describe()} ({expected.source})",
            f"got: {'-' if result.verdict is None else result.verdict.describe()}",
        ]
        if result.detail:
            details.append(result.detail)
        failing = result.status in (ResultStatus.DISAGREE, ResultStatus.UNKNOWN_REASON)
        entries.append(
            JUnitCase(
                name=f"{result.case.id} ({result.dialect.value})",
                classname=f"oauthbearer.conformance.{result.dialect.value}",
                failure=result.detail if failing else None,
                error=result.detail if result.status is ResultStatus.ERROR else None,
                details="\n".join(details),
                kind=None if result.status is ResultStatus.AGREE else result.status.value,
            )
        )
    mode = ", outcomes only" if report.outcome_only else ""
    return junit_document(f"oauthbearer conformance: {report.implementation}{mode}", entries)
