"""Running a benchmark script in its quick mode, for the benchmarks' smoke tests."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

ROOT = pathlib.Path(__file__).parents[1]


def run_quick(
    script: str, tmp_path: pathlib.Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run ``benchmarks/<script> --quick --json ...``; the process and the JSON it wrote."""
    out = tmp_path / "bench.json"
    done = subprocess.run(  # noqa: S603 - our own script, with our own arguments
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--json", str(out), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    document = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return done, document
