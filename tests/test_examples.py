"""The runnable examples in examples/, run as a user runs them, against real peers.

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

import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from tests.conftest import KAFKA_AUDIENCE, KAFKA_SCOPE_CLAIM, KAFKA_SUB_CLAIM
from tests.real_kafka import jaas_module
from tests.test_interop_kafka import client_module
from tests.tls_ca import make_ca

if TYPE_CHECKING:
    from oauthbearer.testing import TestIdentityProvider
    from tests.real_kafka import KafkaBroker

EXAMPLES: Final = Path(__file__).parent.parent / "examples"
SMALL_CLIENT: Final = EXAMPLES / "kafka_small_client.py"
FAUST_APP: Final = EXAMPLES / "faust_app.py"
BROKER_FROM_PROPERTIES: Final = EXAMPLES / "broker_from_server_properties.py"
RECORDS: Final = 2_000
_HANDLER: Final = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own example, our own arguments
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=EXAMPLES.parent,
    )


def _write(path: Path, properties: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()), encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["sync", "asyncio"])
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


def test_the_faust_app_with_an_unsecured_login(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    client_module("faust", "pip install faust-streaming")
    properties = _write(
        tmp_path / "client.properties",
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.jaas.config": jaas_module(unsecuredLoginStringClaim_sub="alice"),
        },
    )
    topic = f"faust-example-{uuid.uuid4().hex[:8]}"
    done = _run(
        str(FAUST_APP),
        "--bootstrap",
        kafka_broker.bootstrap("UNSECURED"),
        "--properties",
        str(properties),
        "--topic",
        topic,
        "--records",
        "1000",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"sent 1000 records to {topic!r}; the agent saw 1000 of them" in done.stdout


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
