"""Every documented Python snippet type-checks under ``mypy --strict``.

tests/test_docs.py runs the ```python blocks of docs/*.md; this module checks
their types, as a reader's type checker would, in the project's own mypy
settings (strict, Python 3.11, the untyped Kafka clients' imports allowed):

- the blocks of a page form one module, each block at its own line of the page,
  so that mypy's line numbers are the page's (the blocks of a page run in one
  namespace too, so a later block may use an earlier one's names, and bind
  one again to a value of another type: ``--allow-redefinition``);
- a block with a ``file:`` annotation is a script of its own, checked alone;
- the names a block takes as the reader's own (``given:``) are declared with
  their types (:data:`GIVEN_TYPES`);
- the code is checked as the reader sees it: ``replace:`` annotations, which
  swap real-world addresses for local ones, are not applied;
- README.md's blocks are checked as a page;
- a block opts out only with a ``no-typecheck: <reason>`` annotation, for a
  block that is deliberately partial (:data:`MAX_OPTED_OUT` bounds them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.test_docs import DOCS, ROOT, Block, python_blocks

#: What the ``given:`` names stand for (tests/docs_fixtures.py binds them).
GIVEN_TYPES: Final = {
    "access_token": ("", "str"),
    "pg_token": ("", "str"),
    "message": ("import email.message", "email.message.EmailMessage"),
    "config": (
        "from oauthbearer.config import ClientCredentialsConfig",
        "ClientCredentialsConfig",
    ),
    "serve": (
        (
            "from collections.abc import Awaitable, Callable; "
            "from oauthbearer.token import TokenValidator"
        ),
        "Callable[[TokenValidator], Awaitable[None]]",
    ),
}
#: The most blocks that may opt out: partial blocks are the exception.
MAX_OPTED_OUT: Final = 4
PAGES: Final = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
_MYPY_LINE: Final = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): (?P<rest>.*)$")


def _module(blocks: list[Block]) -> str:
    """The blocks at their own lines, the givens' declarations on line 1."""
    givens = sorted({name for block in blocks for name in block.annotation.given})
    unknown = set(givens) - set(GIVEN_TYPES)
    assert not unknown, f"add {sorted(unknown)} to GIVEN_TYPES"
    header = ["from __future__ import annotations"]
    header += [GIVEN_TYPES[name][0] for name in givens if GIVEN_TYPES[name][0]]
    header += [f"{name}: {GIVEN_TYPES[name][1]}" for name in givens]
    lines = ["; ".join(header)]
    for block in blocks:
        assert block.line > len(lines), "two blocks on one line"
        lines += [""] * (block.line - 1 - len(lines))
        lines += block.code.rstrip("\n").split("\n")
    return "\n".join(lines) + "\n"


def _modules(folder: Path) -> dict[Path, Path]:
    """Write the module of each page (and of each ``file:`` block); return
    each module's path and the page it comes from."""
    written = {}
    for page in PAGES:
        blocks = [
            block
            for block in python_blocks(page.read_text(encoding="utf-8"))
            if block.annotation.no_typecheck is None
        ]
        stem = re.sub(r"\W", "_", page.stem.lower())
        scripts = [block for block in blocks if block.annotation.file is not None]
        inline = [block for block in blocks if block.annotation.file is None]
        for number, group in enumerate([inline, *([s] for s in scripts)]):
            if not group:
                continue
            path = folder / f"{stem}_{number}.py"
            path.write_text(_module(group), encoding="utf-8")
            written[path] = page
    return written


def test_blocks_opt_out_rarely_and_with_a_reason() -> None:
    opted = [
        (page.name, block.line, block.annotation.no_typecheck)
        for page in PAGES
        for block in python_blocks(page.read_text(encoding="utf-8"))
        if block.annotation.no_typecheck is not None
    ]
    assert len(opted) <= MAX_OPTED_OUT, opted


def test_the_module_keeps_the_pages_line_numbers() -> None:
    text = "# Title\n\n```python\nx: int = 1\n```\n\ntext\n\n```python\ny = x + 1\n```\n"
    module = _module(python_blocks(text))
    assert module.split("\n")[3] == "x: int = 1"
    assert module.split("\n")[9] == "y = x + 1"


def _mypy(paths: list[Path], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter, our own files
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(folder / ".mypy_cache"),
            "--no-error-summary",
            # A page's blocks share one namespace, as a session does: a later
            # block may bind a name again, to a value of another type.
            "--allow-redefinition",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        timeout=600,
        check=False,
    )


def test_a_type_error_in_a_snippet_is_caught(tmp_path: Path) -> None:
    # The checker must be able to fail: a block that passes a str for an int.
    bad = tmp_path / "bad_0.py"
    bad.write_text(
        _module(
            python_blocks(
                "```python\nfrom oauthbearer.login import RefreshConfig\n"
                "RefreshConfig(min_period_s='60')\n```\n"
            )
        ),
        encoding="utf-8",
    )
    result = _mypy([bad], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad_0.py:3: error" in result.stdout


def test_every_python_snippet_type_checks(tmp_path: Path) -> None:
    modules = _modules(tmp_path)
    result = _mypy(sorted(modules), tmp_path)
    found = []
    for line in result.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match is None:
            found.append(line)
            continue
        page = modules[tmp_path / Path(match["file"]).name]
        found.append(f"{page.relative_to(ROOT)}:{match['line']}: {match['rest']}")
    if result.returncode != 0 and not found:
        pytest.fail(result.stderr)
    assert found == [], "\n".join(found)
