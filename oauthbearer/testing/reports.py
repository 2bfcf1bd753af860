"""What the conformance runner's and the probe's reports share (pure): how a
case's input is shown, and the JUnit XML a CI reads.

Theory of operation
-------------------
Every report, text, JSON or JUnit, shows a case's input twice: escaped
(:func:`oauthbearer._text.escape_bytes`, the one escaping rule, which the CLI's
``escaped`` input format reads back) and in hex, each cut at
:data:`SHOWN_BYTES` with the whole length marked, and with the case's
description. :func:`junit_xml` writes one ``testsuite`` of
:class:`JUnitCase` entries; the two runners decide what fails.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree as ET

from oauthbearer._text import escape_bytes

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "SHOWN_BYTES",
    "JUnitCase",
    "escaped",
    "junit_xml",
]

#: How much of an input a report shows: enough for every grammar case, while a
#: case of half a megabyte (past Kafka's receive limit) stays a line.
SHOWN_BYTES: Final = 512


def escaped(data: bytes, limit: int = SHOWN_BYTES) -> str:
    """``data`` as a report shows it (:func:`oauthbearer._text.escape_bytes`)."""
    return escape_bytes(data, limit)


def hexed(data: bytes, limit: int = SHOWN_BYTES) -> str:
    """``data`` in hex, a space between bytes, cut at ``limit`` bytes with the
    whole length marked."""
    return data[:limit].hex(" ") + (f" ... ({len(data)} bytes)" if len(data) > limit else "")


def input_json(description: str, data: bytes) -> dict[str, Any]:
    """A case's description and input as a JSON report carries them."""
    return {
        "description": description,
        "input_size": len(data),
        "input_escaped": escaped(data),
        "input_hex": hexed(data),
    }


def input_lines(description: str, data: bytes, indent: str = "  ") -> list[str]:
    """A case's description and input as a text report prints them."""
    return [
        f"{indent}{description}" if description else f"{indent}(no description)",
        f"{indent}text: {escaped(data)}",
        f"{indent}hex:  {hexed(data)}",
    ]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JUnitCase:
    """One ``testcase``: passed, or one of failed, an error, skipped.

    ``details`` is the text of the failure or error element, or of
    ``system-out`` for a case that passed (its description and input)."""

    name: str
    classname: str
    seconds: float = 0.0
    failure: str | None = None
    error: str | None = None
    skipped: str | None = None
    details: str = ""
    #: The ``type`` attribute of the failure or error: a status a CI can group by.
    kind: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.failure, self.error, self.skipped)) > 1:
            raise ValueError("JUnitCase: at most one of failure, error and skipped")


def junit_xml(suite_name: str, cases: Sequence[JUnitCase]) -> str:
    """The cases as a JUnit XML document (``testsuites`` with one ``testsuite``)."""
    suite = ET.Element("testsuite", name=suite_name)
    failures = errors = skipped = 0
    for case in cases:
        testcase = ET.SubElement(
            suite, "testcase", classname=case.classname, name=case.name, time=f"{case.seconds:.3f}"
        )
        attributes: dict[str, str] = {} if case.kind is None else {"type": case.kind}
        if case.failure is not None:
            failures += 1
            element = ET.SubElement(testcase, "failure", {"message": case.failure, **attributes})
            element.text = case.details
        elif case.error is not None:
            errors += 1
            element = ET.SubElement(testcase, "error", {"message": case.error, **attributes})
            element.text = case.details
        elif case.skipped is not None:
            skipped += 1
            ET.SubElement(testcase, "skipped", message=case.skipped)
        elif case.details:
            ET.SubElement(testcase, "system-out").text = case.details
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{sum(case.seconds for case in cases):.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
