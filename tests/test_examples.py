"""Every ``examples/*.py`` runs as a user would run it, and exits 0; and the ones
that take arguments run with them.

The convention is examples/README.md's: an example runs on its own stand-ins
(the test identity provider, the broker emulator); one whose docstring has a
line ``Needs: kafka_broker`` gets the real Kafka broker's ``UNSECURED``
listener as ``OAUTHBEARER_BOOTSTRAP``; one that imports a Kafka client or
hypothesis is skipped where that is not installed (a failure in CI, which
installs them all: tests/peers.py).

With arguments:

* ``kafka_small_client.py``: the small client around ``KafkaClientConnection``
  produces and consumes through the real Kafka broker, from a client properties
  file, on a blocking socket and on asyncio, once with an unsecured login and
  once with client credentials from the test identity provider on the JWT
  listener. (tests/test_real_kafka_produce.py runs its classes through 10,000
  records, re-authentications, a key rotation and an IdP outage.)
* ``faust_app.py``: the Faust app sends records to its topic and its agent
  sees each of them, through the real broker, with an unsecured login and
  with client credentials on the PRODUCE listener, whose sessions end every
  3 s (tests/test_real_kafka_produce.py runs it through the whole scenario).
* ``broker_from_server_properties.py``: the broker emulator serves a
  listener of a ``server.properties`` (its own demo file, and a SASL_SSL one
  with a CA made by the test), and a client authenticates to it; a key store
  it cannot read is refused by name.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from tests.conftest import KAFKA_AUDIENCE, KAFKA_SCOPE_CLAIM, KAFKA_SUB_CLAIM
from tests.peers import missing_peer
from tests.real_kafka import jaas_module
from tests.test_interop_kafka import client_module
from tests.tls_ca import make_ca

if TYPE_CHECKING:
    from oauthbearer.testing import TestIdentityProvider
    from tests.real_kafka import KafkaBroker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name != "__init__.py")

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


def _installed(module: str) -> bool:
    # Faust replaces its module in sys.modules by one without a __spec__, on
    # which find_spec raises: a module already imported is installed.
    return module in sys.modules or importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_runs(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for module in sorted(top_level_imports(path) & set(OPTIONAL)):
        if not _installed(module):
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


SMALL_CLIENT: Final = ROOT / "examples" / "kafka_small_client.py"
FAUST_APP: Final = ROOT / "examples" / "faust_app.py"
BROKER_FROM_PROPERTIES: Final = ROOT / "examples" / "broker_from_server_properties.py"
RECORDS: Final = 2_000
_HANDLER: Final = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own example, our own arguments
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )


def _write(path: Path, properties: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()), encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["asyncio"])  # the generic run above is the blocking one
def test_the_small_client_with_an_unsecured_login(
    kafka_broker: KafkaBroker, tmp_path: Path, mode: str
) -> None:
    properties = _write(
        tmp_path / "client.properties",
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.jaas.config": jaas_module(unsecuredLoginStringClaim_sub="alice"),
        },
    )
    topic = f"example-{mode}-{uuid.uuid4().hex[:8]}"
    done = _run(
        str(SMALL_CLIENT),
        "--bootstrap",
        kafka_broker.bootstrap("UNSECURED"),
        "--properties",
        str(properties),
        "--topic",
        topic,
        "--records",
        str(RECORDS),
        *(["--asyncio"] if mode == "asyncio" else []),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"produced {RECORDS} records to {topic!r} and consumed {RECORDS} back" in done.stdout


def test_the_small_client_with_client_credentials(
    kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider, tmp_path: Path
) -> None:
    client_id = f"example-{uuid.uuid4().hex[:8]}"
    kafka_idp.add_client(client_id, "s3cret", scopes=("kafka",), audience=KAFKA_AUDIENCE)
    properties = _write(
        tmp_path / "client.properties",
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.login.callback.handler.class": _HANDLER,
            "sasl.oauthbearer.token.endpoint.url": kafka_idp.token_endpoint,
            "sasl.oauthbearer.scope.claim.name": KAFKA_SCOPE_CLAIM,
            "sasl.oauthbearer.sub.claim.name": KAFKA_SUB_CLAIM,
            "sasl.jaas.config": jaas_module(
                clientId=client_id, clientSecret="s3cret", scope="kafka"
            ),
        },
    )
    done = _run(
        str(SMALL_CLIENT),
        "--bootstrap",
        kafka_broker.bootstrap("JWT"),
        "--properties",
        str(properties),
        "--topic",
        client_id,
        "--records",
        "500",
        "--allow-insecure-loopback",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "consumed 500 back" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_the_small_client_says_why_it_failed(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    # An unsecured token on the JWT listener: refused, with Kafka's status.
    properties = _write(
        tmp_path / "client.properties",
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.jaas.config": jaas_module(unsecuredLoginStringClaim_sub="alice"),
        },
    )
    done = _run(
        str(SMALL_CLIENT),
        "--bootstrap",
        kafka_broker.bootstrap("JWT"),
        "--properties",
        str(properties),
        "--topic",
        "never",
    )
    assert done.returncode == 1
    assert "failed: authentication failed (authentication-failed)" in done.stderr


def test_the_faust_app_with_client_credentials_across_sessions(
    kafka_broker: KafkaBroker, kafka_idp: TestIdentityProvider, tmp_path: Path
) -> None:
    # The PRODUCE listener ends each session after 3 s: the app runs through
    # several, reconnecting (aiokafka does not re-authenticate).
    client_module("faust", "pip install faust-streaming")
    client_id = f"faust-example-{uuid.uuid4().hex[:8]}"
    kafka_idp.add_client(client_id, "s3cret", scopes=("kafka",), audience=KAFKA_AUDIENCE)
    properties = _write(
        tmp_path / "client.properties",
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.login.callback.handler.class": _HANDLER,
            "sasl.oauthbearer.token.endpoint.url": kafka_idp.token_endpoint,
            "sasl.jaas.config": jaas_module(
                clientId=client_id, clientSecret="s3cret", scope="kafka"
            ),
        },
    )
    done = _run(
        str(FAUST_APP),
        "--bootstrap",
        kafka_broker.bootstrap("PRODUCE"),
        "--properties",
        str(properties),
        "--topic",
        client_id,
        "--records",
        "3000",
        "--allow-insecure-loopback",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "the agent saw 3000 of them" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_broker_from_server_properties_on_its_own() -> None:
    done = _run(str(BROKER_FROM_PROPERTIES))
    assert done.returncode == 0, done.stderr
    assert "listener clients: SASL_PLAINTEXT, unsecured tokens, sessions of at most 600000 ms" in (
        done.stdout
    )
    assert "not read (no bearing on its clients): log.dirs, num.partitions" in done.stdout
    assert "ClientAuthenticated(session_lifetime_ms=600000" in done.stdout


def test_broker_from_server_properties_serves_sasl_ssl(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    properties = tmp_path / "server.properties"
    lines = [
        "listeners=SASL_SSL://127.0.0.1:9093",
        "sasl.enabled.mechanisms=OAUTHBEARER",
        (
            "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config="
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"
        ),
        *(f"{k}={v}" for k, v in ca.kafka_listener_properties("SASL_SSL").items()),
    ]
    properties.write_text("\n".join(lines) + "\n", encoding="latin-1")
    done = _run(str(BROKER_FROM_PROPERTIES), str(properties), "--cafile", str(ca.ca_file))
    assert done.returncode == 0, done.stderr
    assert "listener sasl_ssl: SASL_SSL" in done.stdout
    assert "ClientAuthenticated(" in done.stdout
    # Something it cannot serve is refused by name.
    properties.write_text(
        "\n".join([*lines[:3], "ssl.keystore.type=JKS"]) + "\n", encoding="latin-1"
    )
    done = _run(str(BROKER_FROM_PROPERTIES), str(properties))
    assert done.returncode == 2
    assert "ssl.keystore.type is 'JKS'" in done.stderr
