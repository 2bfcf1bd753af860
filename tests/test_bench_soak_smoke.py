"""The soak benchmark runs every attack and reports what it promises.

Only that: its targets (p99 latency, peak memory) are figures the benchmark
prints, never timed assertions here, since test machines are shared and noisy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests import bench_runs

if TYPE_CHECKING:
    import pathlib


def test_quick_soak_runs_every_attack_and_reports_latency_and_memory(
    tmp_path: pathlib.Path,
) -> None:
    done, document = bench_runs.run_quick("soak_broker.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert document is not None
    assert document["mode"] == "quick"
    # Every attack ran, and the good client was served alone and under attack.
    assert set(document["attacks"]) == {
        "tagged-fields",
        "preauth-metadata",
        "large-request",
        "partial-frames",
        "idle",
        "extensions",
        "authzid",
        "log-injection",
    }
    assert all(count > 0 for count in document["attacks"].values())
    for phase in ("baseline", "soak"):
        assert document[phase]["authentications"] > 0
        assert document[phase]["p99_ms"] >= document[phase]["p50_ms"] > 0
    assert document["peak_rss_bytes"] > 0
    assert isinstance(document["targets_met"], bool)
    assert "under every attack" in done.stdout
