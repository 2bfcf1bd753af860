"""The validation benchmark runs and writes what it promises.

Only that: speed targets are ratios the benchmark prints, never timed
assertions here, since test machines are shared and noisy.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

import pytest

from tests import bench_runs

if TYPE_CHECKING:
    import pathlib
    import subprocess


OPERATIONS = (
    {
        f"{alg}_{kind}"
        for alg in ("rs256", "es256", "eddsa")
        for kind in ("validate", "verify", "pyjwt", "pyjwk_client")
    }
    | {"rs256_cache_hit", "rs256_cache_full_10k", "rs256_cache_full_100k", "rs256_cache_full_1m"}
    | {
        "rs256_observed",
        "rs256_cache_hit_observed",
    }
)
TARGETS = {
    ("rs256_validate", "rs256_verify"): 1.5,
    ("rs256_validate", "rs256_pyjwt"): 0.4,
    ("rs256_cache_hit", "rs256_validate"): 0.05,
    ("rs256_cache_full_1m", "rs256_cache_full_10k"): 3.0,
    ("rs256_observed", "rs256_validate"): 1.1,
}


def run_quick(tmp_path: pathlib.Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    return bench_runs.run_quick("bench_validation.py", tmp_path, *extra)


def test_quick_run_reports_every_operation_and_ratio(tmp_path: pathlib.Path) -> None:
    done, document = run_quick(tmp_path)
    assert done.returncode == 0, done.stderr
    assert document is not None
    assert document["benchmark"] == "bench_validation"
    assert document["mode"] == "quick"
    assert set(document["tokens"]) == {"RS256", "ES256", "EdDSA"}
    assert document["tokens"]["RS256"] >= 850
    assert set(document["environment"]["versions"]) == {"oauthbearer", "cryptography", "pyjwt"}
    operations = document["operations"]
    assert set(operations) == OPERATIONS
    for key, result in operations.items():
        assert len(result["samples_ns"]) == document["rounds"], key
        ordered = sorted(result["samples_ns"])
        assert result["p10_ns"] == ordered[int(0.1 * (len(ordered) - 1))] > 0, key
    ratios = {(item["subject"], item["baseline"]): item for item in document["ratios"]}
    assert set(TARGETS) <= set(ratios)
    for (subject, baseline), item in ratios.items():
        mine, theirs = operations[subject]["samples_ns"], operations[baseline]["samples_ns"]
        per_round = [a / b for a, b in zip(mine, theirs, strict=True)]
        assert item["per_round_median"] == pytest.approx(statistics.median(per_round))
        costs = operations[subject]["p10_ns"] / operations[baseline]["p10_ns"]
        assert item["ratio"] == pytest.approx(costs)
        assert item["limit"] == TARGETS.get((subject, baseline))
    for result in operations.values():
        assert f"| {result['label']} |" in done.stdout
    verdicts = done.stdout.count("| PASS |") + done.stdout.count("| FAIL |")
    assert verdicts == len(TARGETS)


def test_check_exits_1_exactly_when_a_target_is_missed(tmp_path: pathlib.Path) -> None:
    done, document = run_quick(tmp_path, "--check")
    assert document is not None, done.stderr
    assert done.returncode == (0 if document["passed"] else 1), done.stderr
