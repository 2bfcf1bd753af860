"""The documentation: its examples run, its tables match the code, and it builds.

- Every ```python block in docs/*.md runs, page by page, in a fresh namespace.
  A block opts out with ```python no-run, or as a {code-block} with
  ``:class: no-run``.
- The state tables in exchange.md list exactly the transitions of
  ``_CLIENT_TABLE`` and ``_SERVER_TABLE``.
- The reason-code table (rendered by docs/_ext/oauthbearer_docs.py) has one
  entry per code of ``MALFORMED_REASONS``, and each example raises its code.
- Sphinx builds the site with warnings as errors.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest
from sphinx.cmd.build import build_main

from oauthbearer import MALFORMED_REASONS
from oauthbearer.session import _CLIENT_TABLE, _SERVER_TABLE

if TYPE_CHECKING:
    import types

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


# --- Code blocks ----------------------------------------------------------------------


class Block(NamedTuple):
    line: int  # 1-based line of the first line of code
    code: str
    run: bool


_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
_OPTION = re.compile(r":(?P<name>[\w-]+):[ \t]*(?P<value>.*)")


def python_blocks(text: str) -> list[Block]:
    """The Python code blocks of a MyST page, in order."""
    blocks = []
    for match in _FENCE.finditer(text):
        info = match["info"].split()
        body = match["body"]
        line = text.count("\n", 0, match.start("body")) + 1
        if info[:1] == ["python"]:
            blocks.append(Block(line, body, "no-run" not in info[1:]))
        elif info[:2] == ["{code-block}", "python"]:
            lines = body.split("\n")
            classes: list[str] = []
            while lines and (option := _OPTION.fullmatch(lines[0])):
                if option["name"] == "class":
                    classes.extend(option["value"].split())
                lines.pop(0)
                line += 1
            blocks.append(Block(line, "\n".join(lines), "no-run" not in classes))
    return blocks


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page.read_text(encoding="utf-8"))]


def test_code_blocks_are_found() -> None:
    # Guards the extraction itself: these pages are known to hold examples.
    names = {page.name for page in PAGES_WITH_CODE}
    assert {"overview.md", "exchange.md", "codec.md", "reasons.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.name)
def test_python_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in python_blocks(page.read_text(encoding="utf-8")):
        if not block.run:
            continue
        # Pad with newlines so that tracebacks give the line in the .md file.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(page), "exec"), namespace)  # noqa: S102 (our own docs)


def test_block_extraction() -> None:
    text = (
        "# t\n\n```python\na = 1\n```\n\n```python no-run\nb = 2\n```\n\n"
        "```{code-block} python\n:class: no-run\n\nc = 3\n```\n\n```text\nd\n```\n"
    )
    assert python_blocks(text) == [
        Block(4, "a = 1\n", run=True),
        Block(8, "b = 2\n", run=False),
        Block(13, "\nc = 3\n", run=False),
    ]


# --- State tables ---------------------------------------------------------------------

_ROW = re.compile(
    r"^\| `(?P<machine>ClientState|ServerState)\.(?P<state>\w+)` "
    r"\| `(?P<input>[a-z_:]+)` "
    r"\| `(?P=machine)\.(?P<next>\w+)` \|",
    re.M,
)


def _code_transitions() -> list[tuple[str, str, str, str]]:
    rows = [("ClientState", s.name, i, n.name) for (s, i), n in _CLIENT_TABLE.items()]
    rows += [("ServerState", s.name, i, n.name) for (s, i), n in _SERVER_TABLE.items()]
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
    assert set(extension.REASON_EXAMPLES) == set(MALFORMED_REASONS)


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
    assert raised <= set(MALFORMED_REASONS)


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
    started = time.monotonic()
    status = build_main([*argv, str(DOCS), str(out)])
    elapsed = time.monotonic() - started
    assert status == 0
    assert elapsed < 30, f"the docs build took {elapsed:.1f} s"
    reasons = (out / "reasons.html").read_text(encoding="utf-8")
    for code in MALFORMED_REASONS:
        assert reasons.count(f'id="reason-{code}"') == 1, code
    for page in PAGES:
        assert (out / page.with_suffix(".html").name).is_file(), page.name
