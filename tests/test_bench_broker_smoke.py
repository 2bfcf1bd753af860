"""The broker benchmark runs and writes what it promises.

Only that: its targets are figures the benchmark prints, never timed
assertions here, since test machines are shared and noisy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests import bench_runs

if TYPE_CHECKING:
    import pathlib


def test_quick_run_reports_rates_and_memory(tmp_path: pathlib.Path) -> None:
    done, document = bench_runs.run_quick("bench_broker.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert document is not None
    assert document["mode"] == "quick"
    assert set(document["per_second"]) == {"bare", "unsecured", "rs256", "rs256-cached"}
    # Quick mode leaves the real Kafka broker (the anchor) out, and says so.
    assert document["kafka"].startswith("not run")
    assert all(rate > 0 for rate in document["per_second"].values())
    # Every authentication is whole: the connection objects keep some state.
    assert 0 < document["bytes_per_connection"] < 100_000
    assert isinstance(document["targets_met"], bool)
    assert "complete authentication, RS256 token" in done.stdout
    assert "verified-token cache on" in done.stdout
