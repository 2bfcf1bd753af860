"""Every ``examples/*.py`` runs as a user would run it, and exits 0.

The convention is examples/README.md's: an example runs on its own stand-ins
(the test identity provider, the broker emulator); one whose docstring has a
line ``Needs: kafka_broker`` gets the real Kafka broker's ``UNSECURED``
listener as ``OAUTHBEARER_BOOTSTRAP``; one that imports a Kafka client or
hypothesis is skipped where that is not installed (a failure in CI, which
installs them all: tests/peers.py).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import missing_peer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

#: What an example may import that the package's runtime dependencies do not
#: bring, and the extra that installs it.
OPTIONAL = {
    "kafka": "kafka-python, in the bench extra",
    "aiokafka": "aiokafka, in the bench extra",
    "faust": "faust-streaming, in the bench extra",
    "confluent_kafka": "confluent-kafka, in the bench extra",
    "hypothesis": "hypothesis, in the test extra",
}
#: The environment variable that carries a real broker's address to an example.
BOOTSTRAP_ENV = "OAUTHBEARER_BOOTSTRAP"
#: The bound on one example: each finishes in seconds on its own.
EXAMPLE_TIMEOUT_S = 300


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports anywhere, ``oauthbearer``'s too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


def needs(path: Path) -> set[str]:
    """The fixtures the docstring's ``Needs:`` lines name."""
    return {
        word.strip(",")
        for line in docstring(path).splitlines()
        if line.strip().startswith("Needs:")
        for word in line.split(":", 1)[1].split()
    }


def test_the_examples_are_found() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "okta_producer.py",
        "confluent_kafka_producer.py",
        "broker_emulator.py",
        "fuzz_broker.py",
        "real_broker_produce.py",
    } <= names
    # The convention's real-broker path is exercised by one of them.
    assert any("kafka_broker" in needs(path) for path in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_says_what_it_shows(path: Path) -> None:
    text = docstring(path)
    assert text, f"{path.name} has no module docstring"
    assert f"python examples/{path.name}" in text, f"{path.name} does not say how to run it"
    assert needs(path) <= {"kafka_broker"}, f"{path.name}: unknown Needs: {needs(path)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_runs(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for module in sorted(top_level_imports(path) & set(OPTIONAL)):
        if importlib.util.find_spec(module) is None:
            missing_peer(OPTIONAL[module].split(",")[0], f"{path.name} imports {module}")
    env = {k: v for k, v in os.environ.items() if k != BOOTSTRAP_ENV}
    if "kafka_broker" in needs(path):
        broker = request.getfixturevalue("kafka_broker")
        env[BOOTSTRAP_ENV] = broker.bootstrap("UNSECURED")
    done = subprocess.run(  # noqa: S603 - our interpreter, our example
        [sys.executable, str(path)],
        cwd=tmp_path,  # an example writes nothing into the tree, and needs no cwd
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"python examples/{path.name} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
    assert done.stdout.strip(), f"{path.name} printed nothing: say what it did"


def test_needs_and_imports_are_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A sample.\n\nNeeds: kafka_broker\n"""\n'
        "import json\nfrom confluent_kafka import Producer\n"
        "def f():\n    import aiokafka.errors\n",
        encoding="utf-8",
    )
    assert needs(sample) == {"kafka_broker"}
    assert top_level_imports(sample) == {"json", "confluent_kafka", "aiokafka"}
