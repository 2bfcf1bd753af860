"""The codec benchmark runs and writes what it promises.

Only that: speed targets are ratios the benchmark prints (benchmarks/README.md),
never timed assertions here, since test machines are shared and noisy.
"""

from __future__ import annotations

import statistics
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from tests import bench_runs

if TYPE_CHECKING:
    import pathlib
    import subprocess

with warnings.catch_warnings():
    # kafka-python 3.0 calls importlib.resources.read_text (deprecated) on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("kafka.net.sasl.oauth", reason="kafka-python is a benchmark baseline")
    pytest.importorskip("aiokafka.conn", reason="aiokafka is a benchmark baseline")


OPERATIONS = {
    "decode_rfc7628",
    "decode_kafka",
    "encode_validated",
    "rs256_verify",
    "kafka_python_builder",
    "aiokafka_step",
    "aiokafka_helpers",
}
TARGETS = {
    ("decode_rfc7628", "rs256_verify"): 0.15,
    ("decode_kafka", "rs256_verify"): 0.15,
    ("encode_validated", "kafka_python_builder"): 2.0,
}
INFO = {("encode_validated", "aiokafka_step"), ("encode_validated", "aiokafka_helpers")}


def run_quick(tmp_path: pathlib.Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    return bench_runs.run_quick("bench_codec.py", tmp_path, *extra)


def test_quick_run_reports_every_operation_and_ratio(tmp_path: pathlib.Path) -> None:
    done, document = run_quick(tmp_path)
    assert done.returncode == 0, done.stderr
    assert document is not None, "no JSON written"

    assert document["benchmark"] == "bench_codec"
    assert document["mode"] == "quick"
    assert document["statistic"] == "p10"
    assert document["message"]["bytes"] > document["message"]["token_bytes"] >= 850
    assert document["message"]["extensions"] == ["traceId", "logicalCluster"]
    assert set(document["environment"]["versions"]) == {
        "oauthbearer",
        "cryptography",
        "kafka-python",
        "aiokafka",
    }

    operations = document["operations"]
    assert set(operations) == OPERATIONS
    for key, result in operations.items():
        assert result["number"] >= 1, key
        assert len(result["samples_ns"]) == document["rounds"], key
        assert all(sample > 0 for sample in result["samples_ns"]), key
        ordered = sorted(result["samples_ns"])
        assert result["min_ns"] == ordered[0] > 0, key
        # The 10th percentile, nearest rank rounding down: the minimum below 11 rounds.
        assert result["p10_ns"] == ordered[int(0.1 * (len(ordered) - 1))], key
        assert result["min_ns"] <= result["p10_ns"] <= result["median_ns"] <= result["max_ns"]

    ratios = {(item["subject"], item["baseline"]): item for item in document["ratios"]}
    assert set(ratios) == set(TARGETS) | INFO
    for (subject, baseline), item in ratios.items():
        mine, theirs = operations[subject]["samples_ns"], operations[baseline]["samples_ns"]
        per_round = [a / b for a, b in zip(mine, theirs, strict=True)]
        assert item["per_round_median"] == pytest.approx(statistics.median(per_round))
        costs = operations[subject]["p10_ns"] / operations[baseline]["p10_ns"]
        assert item["ratio"] == pytest.approx(costs)
        limit = TARGETS.get((subject, baseline))
        assert item["limit"] == limit
        assert item["passed"] is (None if limit is None else item["ratio"] <= limit)
    assert document["passed"] is all(item["passed"] is not False for item in ratios.values())

    # The markdown report names every operation and gives a verdict for every target.
    for result in operations.values():
        assert f"| {result['label']} |" in done.stdout
    verdicts = done.stdout.count("| PASS |") + done.stdout.count("| FAIL |")
    assert verdicts == len(TARGETS)


def test_check_exits_1_exactly_when_a_target_is_missed(tmp_path: pathlib.Path) -> None:
    done, document = run_quick(tmp_path, "--check")
    assert document is not None, done.stderr
    assert done.returncode == (0 if document["passed"] else 1), done.stderr
