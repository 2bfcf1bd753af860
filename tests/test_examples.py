"""The runnable examples in examples/ run, as a reader would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.tls_ca import make_ca

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_broker_from_server_properties_on_its_own() -> None:
    done = run_example("broker_from_server_properties.py")
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
    done = run_example(
        "broker_from_server_properties.py", str(properties), "--cafile", str(ca.ca_file)
    )
    assert done.returncode == 0, done.stderr
    assert "listener sasl_ssl: SASL_SSL" in done.stdout
    assert "ClientAuthenticated(" in done.stdout
    # Something it cannot serve is refused by name.
    properties.write_text(
        "\n".join([*lines[:3], "ssl.keystore.type=JKS"]) + "\n", encoding="latin-1"
    )
    done = run_example("broker_from_server_properties.py", str(properties))
    assert done.returncode == 2
    assert "ssl.keystore.type is 'JKS'" in done.stderr
