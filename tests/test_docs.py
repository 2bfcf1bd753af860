"""The documentation: its examples run, its tables match the code, and it builds.

- Every ```python block in docs/*.md runs, page by page, in one namespace and
  one scratch directory (the current directory while the page runs).
- Every ```console (or ```sh) block with ``$ `` prompts is a shell session:
  each command runs in one bash per page (so ``TOKEN=$(...)`` carries over),
  from the page's scratch directory with the package's ``oauthbearer`` first
  on ``PATH``, and what it prints (stdout and stderr) must match the lines
  below it: a line ``...`` matches any number of lines, and ``...`` inside a
  line any text within that line. A shell block without prompts is a listing:
  each of its commands must be one of :data:`EXEMPT_COMMANDS`, or the block
  must carry a ``no-run`` reason. A ```text block holds no ``$ `` prompt: a
  transcript is a ```console session, so that it runs.
- An example that needs a service says so in a ``docs-test`` HTML comment on
  the lines right above its fence. Readers of the site never see it::

      <!-- docs-test
      fixtures: idp broker kafka_python
      given: access_token
      replace: `"kafka.example.com:9093"` -> `_broker.bootstrap`
      then: assert _broker.records[-1].principal == "orders-service"
      -->

  ``fixtures``: the local stand-ins the block needs (tests/docs_fixtures.py
  lists them); each starts on the page's first use, on 127.0.0.1 only, and
  stops when the page is done. ``idp``, ``broker`` and ``mail`` bind their
  object as ``_idp``, ``_broker`` and ``_mail``.
  ``given``: names the example takes as the reader's own (an access token, an
  email message), bound from the fixtures. ``replace``: the block runs with
  each ```old``` replaced by ```new``` (a real-world address by the local
  one); each ``old`` must occur in the block. In a shell block, ``$NAME`` in
  ``new`` is a fixture's variable (``$PORT``). ``then``: code run after the
  block, to check that it did what it shows. ``file``: write the block to
  this file of the scratch directory instead of running it (a script that
  ``then`` runs). ``no-run: <reason>``: the block does not run, and says
  why; nothing else opts a block out. ``no-typecheck: <reason>``: the block is
  left out of tests/test_docs_types.py's ``mypy --strict`` run, for a block
  that is deliberately partial.
- A block whose fixture cannot be had here (a client library that is not
  installed) is left out, the rest of the page runs, and the page's test is
  reported as skipped with the block's line and the reason.
- The state tables in exchange.md list exactly the transitions of
  ``_CLIENT_TRANSITIONS`` and ``_SERVER_TRANSITIONS``, each input by its enum
  value; the permissions of all four machines, and the Kafka connections'
  transitions, are rendered from the code (the ``state-table`` directive).
- The reason-code table (rendered by docs/_ext/oauthbearer_docs.py) has one
  entry per code of ``MalformedReason``, and each example raises its code.
- api.md lists a page per public module (one with ``__all__``), in docs/api/.
- The limits quoted on security.md are the constants' values.
- Sphinx builds the site with warnings as errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import pkgutil
import queue
import re
import signal
import string
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest
from sphinx.cmd.build import build_main

import oauthbearer
from oauthbearer import MalformedReason
from oauthbearer.session import _CLIENT_TRANSITIONS, _SERVER_TRANSITIONS
from tests.docs_fixtures import FIXTURES, Missing, PageFixtures
from tests.peers import missing_peer

if TYPE_CHECKING:
    import types

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Every page, the API reference's per-module pages (docs/api/) included.
PAGES = sorted(page for page in DOCS.rglob("*.md") if "_build" not in page.parts)


# --- Code blocks and their docs-test comments ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Annotation:
    """A block's ``docs-test`` comment (see the module docstring)."""

    fixtures: tuple[str, ...] = ()
    given: tuple[str, ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    then: tuple[str, ...] = ()
    file: str | None = None
    no_run: str | None = None
    no_typecheck: str | None = None


class Block(NamedTuple):
    line: int  # 1-based line of the first line of code
    code: str
    language: str  # "python", "sh", "text", ...
    info: str  # the rest of the fence's info string, or the directive's options
    annotation: Annotation = Annotation()


_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
_OPTION = re.compile(r":(?P<name>[\w-]+):[ \t]*(?P<value>.*)")
_COMMENT_START = "<!-- docs-test\n"
_COMMENT_END = "-->\n"
_ITEM = re.compile(r"(?P<key>[a-z-]+):[ \t]*(?P<value>.*)")
_REPLACE = re.compile(r"`(?P<old>[^`]+)`[ \t]+->[ \t]+`(?P<new>[^`]*)`")


def parse_annotation(body: str) -> Annotation:
    """Read the items of a ``docs-test`` comment; raise ValueError on a bad one."""
    items: dict[str, list[str]] = {}
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        item = _ITEM.fullmatch(line)
        if item is None or item["key"] not in {f.name.replace("_", "-") for f in _FIELDS}:
            raise ValueError(f"docs-test: cannot read {line!r}")
        items.setdefault(item["key"], []).append(item["value"].strip())
    replace = []
    for value in items.get("replace", []):
        pair = _REPLACE.fullmatch(value)
        if pair is None:
            raise ValueError(f"docs-test: replace wants `old` -> `new`, not {value!r}")
        replace.append((pair["old"], pair["new"]))
    (no_run,) = items.get("no-run", [None])
    if no_run is not None and not no_run:
        raise ValueError("docs-test: no-run needs a reason")
    unknown = {n for v in items.get("fixtures", []) for n in v.split()} - set(FIXTURES)
    if unknown:
        raise ValueError(f"docs-test: unknown fixtures {sorted(unknown)}; known: {FIXTURES}")
    (file,) = items.get("file", [None])
    (no_typecheck,) = items.get("no-typecheck", [None])
    if no_typecheck is not None and not no_typecheck:
        raise ValueError("docs-test: no-typecheck needs a reason")
    return Annotation(
        fixtures=tuple(n for v in items.get("fixtures", []) for n in v.split()),
        given=tuple(n for v in items.get("given", []) for n in v.split()),
        replace=tuple(replace),
        then=tuple(items.get("then", [])),
        file=file,
        no_run=no_run,
        no_typecheck=no_typecheck,
    )


_FIELDS = dataclasses.fields(Annotation)


def _comment_before(text: str, start: int) -> str | None:
    """The body of the ``docs-test`` comment that ends on the line before ``start``."""
    before = text[:start]
    if not before.endswith(_COMMENT_END):
        return None
    opening = before.rfind(_COMMENT_START)
    if opening < 0:
        return None
    body = before[opening + len(_COMMENT_START) : -len(_COMMENT_END)]
    return None if "-->" in body else body  # "-->": the comment above is another one


def _annotation_before(text: str, start: int) -> Annotation:
    body = _comment_before(text, start)
    return Annotation() if body is None else parse_annotation(body)


def code_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a MyST page, in order, with their comments."""
    blocks = []
    for match in _FENCE.finditer(text):
        info = match["info"].split()
        body = match["body"]
        line = text.count("\n", 0, match.start("body")) + 1
        annotation = _annotation_before(text, match.start())
        if info[:1] == ["{code-block}"]:
            lines = body.split("\n")
            options = []
            while lines and _OPTION.fullmatch(lines[0]):
                options.append(lines.pop(0))
                line += 1
            language = info[1] if len(info) > 1 else ""
            blocks.append(Block(line, "\n".join(lines), language, " ".join(options), annotation))
        elif info and not info[0].startswith("{"):
            blocks.append(Block(line, body, info[0], " ".join(info[1:]), annotation))
    return blocks


def python_blocks(text: str) -> list[Block]:
    """The Python code blocks of a MyST page, in order."""
    return [block for block in code_blocks(text) if block.language == "python"]


def _page_blocks(page: Path) -> list[Block]:
    return code_blocks(page.read_text(encoding="utf-8"))


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page.read_text(encoding="utf-8"))]


def test_code_blocks_are_found() -> None:
    # Guards the extraction itself: these pages are known to hold examples.
    names = {page.name for page in PAGES_WITH_CODE}
    assert {"overview.md", "exchange.md", "codec.md", "reasons.md"} <= names
    assert {page.name for page in PAGES_WITH_SESSIONS} >= {"cli.md", "probe.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_blocks_opt_out_only_with_a_reason(page: Path) -> None:
    # The old spellings (```python no-run, :class: no-run) had no reason; a
    # block now opts out with "no-run: <reason>" in its docs-test comment.
    for block in _page_blocks(page):
        assert "no-run" not in block.info, f"{page.name}:{block.line}: give no-run a reason"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_docs_test_comment_is_above_a_block(page: Path) -> None:
    # A comment that is not right above a fence would be ignored.
    text = page.read_text(encoding="utf-8")
    attached = sum(
        _comment_before(text, match.start()) is not None for match in _FENCE.finditer(text)
    )
    assert attached == text.count(_COMMENT_START), f"{page.name}: a docs-test comment is adrift"


def _replaced(code: str, annotation: Annotation, env: dict[str, str] | None = None) -> str:
    for old, new in annotation.replace:
        assert old in code, f"replace: `{old}` does not occur in the block"
        code = code.replace(old, new if env is None else string.Template(new).substitute(env))
    return code


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.name)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    left_out: list[str] = []
    with contextlib.ExitStack() as stack:
        fixtures = PageFixtures(tmp_path, stack)
        namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
        try:
            for block in python_blocks(page.read_text(encoding="utf-8")):
                missing = _run_python_block(page, block, fixtures, namespace, tmp_path)
                if missing is not None:
                    left_out.append(f"line {block.line} ({missing})")
        finally:
            namespace.clear()  # the clients made by the examples go before their servers
    if left_out:
        # A missing client library is a missing peer: CI installs them all and
        # fails here rather than skip (tests/peers.py).
        missing_peer(
            f"{page.name}: every block ran but {'; '.join(left_out)}", "pip install -e '.[bench]'"
        )


def _run_python_block(
    page: Path,
    block: Block,
    fixtures: PageFixtures,
    namespace: dict[str, object],
    directory: Path,
) -> str | None:
    """Run one block as its comment says; say why not when a fixture is missing here."""
    annotation = block.annotation
    if annotation.no_run is not None:
        return None
    try:
        for name in annotation.fixtures:
            fixtures.need(name)
    except Missing as missing:
        return str(missing)
    namespace.update(fixtures.bound)
    for name in annotation.given:
        assert name in fixtures.givens, f"{page.name}:{block.line}: no fixture gives {name!r}"
        namespace[name] = fixtures.givens[name]
    code = _replaced(block.code, annotation)
    if annotation.file is not None:
        (directory / annotation.file).write_text(code, encoding="utf-8")
    else:
        # Pad with newlines so that tracebacks give the line in the .md file.
        source = "\n" * (block.line - 1) + code
        exec(compile(source, str(page), "exec"), namespace)  # noqa: S102 (our own docs)
    if annotation.then:
        then = "\n".join(annotation.then)
        exec(compile(then, f"{page}:{block.line} (then)", "exec"), namespace)  # noqa: S102
    return None


def test_block_extraction() -> None:
    text = (
        "# t\n\n```python\na = 1\n```\n\n<!-- docs-test\nfixtures: idp\n"
        "replace: `1` -> `2`\nthen: assert b == 3\n-->\n```python\nb = 1\n```\n\n"
        "```{code-block} python\n:class: x\n\nc = 3\n```\n\n```text\nd\n```\n"
    )
    assert code_blocks(text) == [
        Block(4, "a = 1\n", "python", ""),
        Block(
            13,
            "b = 1\n",
            "python",
            "",
            Annotation(fixtures=("idp",), replace=(("1", "2"),), then=("assert b == 3",)),
        ),
        Block(18, "\nc = 3\n", "python", ":class: x"),
        Block(23, "d\n", "text", ""),
    ]
    assert python_blocks(text) == code_blocks(text)[:3]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("fixture: idp\n", "cannot read"),
        ("fixtures: nonesuch\n", "unknown fixtures"),
        ("replace: `a` with `b`\n", "replace wants"),
        ("no-run:\n", "needs a reason"),
    ],
)
def test_bad_annotations_are_refused(body: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_annotation(body)


def test_a_replacement_must_occur() -> None:
    with pytest.raises(AssertionError, match="does not occur"):
        _replaced("a = 1\n", Annotation(replace=(("b", "c"),)))


# --- Shell sessions ---------------------------------------------------------------------

#: What a shell listing (a block without ``$`` prompts) may hold: commands the
#: tests do not run, each with the reason. Any other command in a listing fails
#: test_shell_listings_are_exempt.
EXEMPT_COMMANDS: dict[str, str] = {
    "python3 -m pip install": "installs packages from the network",
    "python3 -m pytest": "runs the test suite, this test among it",
    "python3 -m sphinx": "builds these pages, as test_docs_build_with_warnings_as_errors does",
    "python3 benchmarks/report.py": (
        "runs the benchmarks (a minute); tests/test_benchmark_report.py tests the report"
    ),
    "oauthbearer demo": (
        "CI runs it (.ci/run); its section of cli.md and its output are being rewritten, "
        "so its output is not compared yet"
    ),
}


class Command(NamedTuple):
    line: int  # 1-based line of the prompt in the .md file
    command: str  # without the prompt; continuation lines joined as the shell joins them
    expected: str  # the documented output


def shell_session(block: Block) -> list[Command]:
    """The commands of a shell block with ``$ `` prompts, with their outputs."""
    commands: list[Command] = []
    lines = block.code.rstrip("\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise AssertionError(f"line {block.line + index}: output before the first prompt")
        start = index
        command = [line[2:]]
        while command[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            command.append(lines[index])
        index += 1
        output = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output.append(lines[index])
            index += 1
        commands.append(Command(block.line + start, "\n".join(command), "\n".join(output)))
    return commands


#: The languages of shell blocks: ``console`` is Pygments' name for a session
#: (prompts and output), ``sh`` for commands.
SHELL_LANGUAGES = frozenset({"sh", "console"})


def _is_session(block: Block) -> bool:
    return block.language in SHELL_LANGUAGES and any(
        line.startswith("$ ") for line in block.code.split("\n")
    )


PAGES_WITH_SESSIONS = [
    page for page in PAGES if any(_is_session(block) for block in _page_blocks(page))
]


def output_matches(expected: str, actual: str) -> bool:
    """``actual`` as documented: a line ``...`` stands for any number of
    lines, ``...`` within a line for any text in that line."""
    pattern = []
    for line in expected.rstrip("\n").split("\n"):
        if line == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append("[^\n]*".join(re.escape(part) for part in line.split("...")) + "\n")
    return re.fullmatch("".join(pattern), actual.rstrip("\n") + "\n") is not None


class Shell:
    """One bash for a page's sessions, in its own process group (killed at the end)."""

    MARK = "@@docs-test-status@@"

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],  # noqa: S607 (the shell of the docs)
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def run(self, command: str, timeout_s: float = 60.0) -> str:
        """Run ``command``; return what it printed."""
        assert self.process.stdin is not None
        status = f'__status=$?; printf "\\n{self.MARK} %d\\n" "$__status"\n'
        self.process.stdin.write(command + "\n" + status)
        self.process.stdin.flush()
        printed = []
        deadline = time.monotonic() + timeout_s
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line, f"the shell ended while running {command!r}"
            if line.startswith(self.MARK):
                break
            printed.append(line)
        text = "".join(printed)
        return text.removesuffix("\n")  # the newline printed before the mark

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            # Anything the session left running in the background (a broker).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(10)
            assert self.process.stdout is not None
            self.process.stdout.close()


def _shell_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


@pytest.mark.parametrize("page", PAGES_WITH_SESSIONS, ids=lambda page: page.name)
def test_shell_examples_print_what_they_show(page: Path, tmp_path: Path) -> None:
    sessions = [b for b in _page_blocks(page) if _is_session(b) and b.annotation.no_run is None]
    with contextlib.ExitStack() as stack:
        fixtures = PageFixtures(tmp_path, stack)
        for block in sessions:
            for name in block.annotation.fixtures:
                fixtures.need(name)
        shell = Shell(tmp_path, _shell_env(fixtures.env))
        stack.callback(shell.close)
        for block in sessions:
            replaced = dataclasses.replace(
                block.annotation,
                replace=tuple(
                    (old, string.Template(new).substitute(fixtures.env))
                    for old, new in block.annotation.replace
                ),
            )
            block = block._replace(code=_replaced(block.code, replaced))  # noqa: PLW2901
            for command in shell_session(block):
                actual = shell.run(command.command)
                assert output_matches(command.expected, actual), (
                    f"{page.name}:{command.line}: $ {command.command}\n"
                    f"--- documented\n{command.expected}\n--- printed\n{actual}"
                )


def _listing_commands(block: Block) -> list[str]:
    joined = block.code.replace("\\\n", " ")
    commands: list[str] = []
    for line in joined.split("\n"):
        line = re.sub(r"\s+#.*", "", line)  # noqa: PLW2901 (a comment is not a command)
        commands.extend(part.strip() for part in line.split("&&") if part.strip())
    return commands


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_shell_listings_are_exempt(page: Path) -> None:
    for block in _page_blocks(page):
        if block.language not in SHELL_LANGUAGES or _is_session(block) or block.annotation.no_run:
            continue
        for command in _listing_commands(block):
            assert any(command.startswith(prefix) for prefix in EXEMPT_COMMANDS), (
                f"{page.name}:{block.line}: {command!r} neither runs (make the block a "
                "$ session) nor is exempt (EXEMPT_COMMANDS, or a no-run reason)"
            )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_transcripts_are_sessions(page: Path) -> None:
    for block in _page_blocks(page):
        if block.language not in SHELL_LANGUAGES:
            prompts = [line for line in block.code.split("\n") if line.startswith("$ ")]
            assert not prompts, f"{page.name}:{block.line}: a ```{block.language} transcript"


def test_shell_session_parsing() -> None:
    block = Block(10, "$ a \\\n    b\none\n...\n$ c\n$ d\ntwo\n", "sh", "", Annotation())
    assert shell_session(block) == [
        Command(10, "a \\\n    b", "one\n..."),
        Command(14, "c", ""),
        Command(15, "d", "two"),
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ("a\nb", "a\nb\n", True),
        ("a\nb", "a\nc", False),
        ("a\n...\nd", "a\nb\nc\nd", True),
        ("a\n...\nd", "a\nd", True),
        ("a\n...", "a", True),
        ('"x": "...",', '"x": "long value",', True),
        ('"x": "...",', '"x": "two\nlines",', False),
        ("abc", "abcd", False),
    ],
)
def test_output_matching(expected: str, actual: str, *, matches: bool) -> None:
    assert output_matches(expected, actual) is matches


# --- State tables ---------------------------------------------------------------------

_ROW = re.compile(
    r"^\| `(?P<machine>ClientState|ServerState)\.(?P<state>\w+)` "
    r"\| `(?P<input>[a-z_:]+)` "
    r"\| `(?P=machine)\.(?P<next>\w+)` \|",
    re.M,
)


def _code_transitions() -> list[tuple[str, str, str, str]]:
    rows = [("ClientState", s.name, i.value, n.name) for (s, i), n in _CLIENT_TRANSITIONS.items()]
    rows += [("ServerState", s.name, i.value, n.name) for (s, i), n in _SERVER_TRANSITIONS.items()]
    return rows


def test_state_tables_match_the_code() -> None:
    text = (DOCS / "exchange.md").read_text(encoding="utf-8")
    documented = [m.group("machine", "state", "input", "next") for m in _ROW.finditer(text)]
    assert len(documented) == len(set(documented)), "a transition is listed twice"
    assert set(documented) == set(_code_transitions())


@pytest.mark.parametrize(
    ("heading", "machine"),
    [("## The client machine", "ClientState"), ("## The server machine", "ServerState")],
)
def test_state_diagrams_name_every_state_and_input(heading: str, machine: str) -> None:
    text = (DOCS / "exchange.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```text\n", 1)[1].split("```", 1)[0]
    for kind, state, call, after in _code_transitions():
        if kind == machine:
            assert re.search(rf"\b{state}\b", diagram), state
            assert re.search(rf"\b{after}\b", diagram), after
            assert re.search(rf"(?<![\w:]){call}(?![\w:])", diagram), call


#: The pages that render each machine's tables with the ``state-table``
#: directive: (page, machine path, tables). The sessions' transitions are
#: written out in exchange.md, with what each means, and checked above.
STATE_TABLES = (
    ("exchange.md", "oauthbearer.session.ClientSession", ("permissions",)),
    ("exchange.md", "oauthbearer.session.ServerSession", ("permissions",)),
    (
        "kafka-embedding.md",
        "oauthbearer.kafka.server.KafkaServerConnection",
        ("transitions", "permissions"),
    ),
    (
        "kafka-embedding.md",
        "oauthbearer.kafka.client.KafkaClientConnection",
        ("transitions", "permissions"),
    ),
)


@pytest.mark.parametrize(("page", "machine", "tables"), STATE_TABLES)
def test_each_machine_shows_its_tables(page: str, machine: str, tables: tuple[str, ...]) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    for table in tables:
        assert f"```{{state-table}} {machine}\n:table: {table}\n```" in text, (machine, table)


def test_the_state_table_renders_the_code() -> None:
    extension = _load_extension()
    machine = importlib.import_module("oauthbearer.kafka.client").KafkaClientConnection
    rows = extension.transition_rows(machine)
    assert len(rows) == len(machine._TRANSITIONS)
    assert ("ClientPhase.IDLE", "initiate", "ClientPhase.VERSIONS_SENT") in rows
    assert (
        "ClientPhase.VERSIONS_SENT",
        "frame:versions_retry",
        "ClientPhase.VERSIONS_SENT",
    ) in rows
    permissions = dict(extension.permission_rows(machine))
    assert permissions["data_to_send()"] == "every state"
    assert permissions["send_request()"] == "AUTHENTICATED"
    assert set(permissions) == {f"{call}()" for call in machine._PERMISSIONS}


# --- Reason codes -----------------------------------------------------------------------


def _load_extension() -> types.ModuleType:
    name = "oauthbearer_docs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_reason_table_covers_every_code() -> None:
    extension = _load_extension()
    assert set(extension.REASON_EXAMPLES) == set(MalformedReason)


def test_reason_examples_raise_their_codes() -> None:
    assert _load_extension().check_reason_examples() == []


def test_every_code_raised_in_the_source_is_registered() -> None:
    # Reason codes are the first string argument of MalformedMessage(...) or of
    # gs2's local fail(...) helper.
    raised = set()
    for path in (ROOT / "oauthbearer").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r"\b(?:MalformedMessage|fail)\(\s*\"([a-z0-9-]+)\"", source))
    assert raised
    assert raised <= set(MalformedReason)


# --- The API reference ---------------------------------------------------------------------

_AUTOMODULE = re.compile(r"^\.\. automodule:: (?P<name>\S+)\n(?P<options>(?:[ \t]+:.*\n)*)", re.M)


def public_modules() -> list[str]:
    """The package's public modules: each one with ``__all__`` and no ``_`` part."""
    names = ["oauthbearer"]
    for info in pkgutil.walk_packages(oauthbearer.__path__, "oauthbearer."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if hasattr(importlib.import_module(info.name), "__all__"):
            names.append(info.name)
    return names


def test_the_api_reference_covers_every_public_module() -> None:
    indexed: dict[str, list[str]] = {}
    for page in PAGES:
        for match in _AUTOMODULE.finditer(page.read_text(encoding="utf-8")):
            if ":no-index:" not in match["options"]:
                indexed.setdefault(match["name"], []).append(page.name)
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    # One page per module, each in api.md's tables of contents; the rest named
    # in its table of modules documented with their topic.
    listed = set(re.findall(r"^api/([\w.]+)$", api, re.M))
    for name in listed:
        text = (DOCS / "api" / f"{name}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# `{name}`\n"), name
        assert [m["name"] for m in _AUTOMODULE.finditer(text)] == [name]
    assert {p.stem for p in (DOCS / "api").glob("*.md")} == listed
    listed |= set(re.findall(r"\{py:mod\}`([\w.]+)`", api))
    modules = public_modules()
    assert {"oauthbearer.kafka.protocol", "oauthbearer.login.sources"} <= set(modules)
    for name in modules:
        assert name in listed, f"{name} is public (it has __all__) but missing from api.md"
        pages = indexed.get(name, [])
        assert len(pages) == 1, f"{name} has an indexed automodule on {pages}: want one"


# --- Security notes -------------------------------------------------------------------------

SECURITY = DOCS / "security.md"
_CONSTANT = re.compile(r"\{(?:value|size)\}`(?P<name>[^`]+)`")
_TEST_NAME = re.compile(r"`(?P<path>tests/test_\w+\.py)::(?P<name>test_\w+)`")


def test_security_limits_are_read_from_the_code() -> None:
    # The page shows each limit through the {value} and {size} roles, which render the
    # constant's value at build time; no limit is written as a bare number.
    extension = _load_extension()
    text = SECURITY.read_text(encoding="utf-8")
    names = [m["name"] for m in _CONSTANT.finditer(text)]
    assert len(names) >= 20
    for name in names:
        extension.constant_value(name)  # raises LookupError for a constant that is gone
    table = text.split("\n## Limits", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in table.splitlines() if row.startswith("| ")][2:]
    assert len(rows) >= 15
    for row in rows:
        limit = _CONSTANT.sub("", row.split(" | ")[1])
        assert not re.search(r"\d", limit), f"a limit written by hand: {row}"


@pytest.mark.parametrize(
    ("value", "size", "shown"),
    [
        (524_288, True, "512 KiB"),
        (104_857_600, True, "100 MiB"),
        (8_192, True, "8 KiB"),
        (65_535, True, "65,535 bytes"),
        (65_535, False, "65,535"),
        (0.1, False, "0.1"),
        (600.0, False, "600"),
    ],
)
def test_constants_are_shown_plainly(value: object, *, size: bool, shown: str) -> None:
    assert _load_extension().format_constant(value, size=size) == shown


def test_security_notes_name_tests_that_exist() -> None:
    named = list(_TEST_NAME.finditer(SECURITY.read_text(encoding="utf-8")))
    assert len(named) >= 20
    for match in named:
        source = (ROOT / match["path"]).read_text(encoding="utf-8")
        assert re.search(rf"^def {match['name']}\(", source, re.M), match.group(0)


# --- Pages and build --------------------------------------------------------------------


def test_quick_start_matches_the_readme() -> None:
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("no README.md")
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    commands = index.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    readme_text = readme.read_text(encoding="utf-8")
    for command in commands.strip().splitlines():
        assert command.strip() in readme_text, command


# myst-parser 5 reads attributes that Sphinx 9 deprecates (BuildEnvironment.app and
# others), which Python reports as RemovedInSphinx11Warning. They are theirs to fix,
# and they are not Sphinx build warnings, which -W already turns into errors.
@pytest.mark.filterwarnings("ignore::sphinx.deprecation.RemovedInSphinx11Warning")
def test_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    out = tmp_path / "html"
    argv = ["-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees")]
    status = build_main([*argv, str(DOCS), str(out)])
    assert status == 0
    reasons = (out / "reasons.html").read_text(encoding="utf-8")
    for code in MalformedReason:
        assert reasons.count(f'id="reason-{code}"') == 1, code
    for page in PAGES:
        html = out / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), page.name
    # The theme's copy buttons, and the API reference split per module.
    assert "copybutton" in (out / "index.html").read_text(encoding="utf-8")
    assert (out / "api" / "oauthbearer.kafka.protocol.html").is_file()
