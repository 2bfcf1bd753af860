"""Keycloak itself in the test suite: a real identity provider for the interop tests.

Until now every token our validators judged came from our own test IdP. Here
Keycloak issues them (STYLE.md rule 13: real peers decide):

* the server distribution (``org.keycloak:keycloak-quarkus-dist``, a zip) comes
  from Maven Central through ``tests/interop/keycloak/pom.xml``; ``.ci/run``
  unpacks it into ``tests/interop/keycloak/dist/`` (git-ignored);
* it needs Java 21 or later: ``$OAUTHBEARER_KEYCLOAK_JAVA_HOME``, else the first
  JDK 21+ found in ``$JAVA_HOME`` or ``/usr/lib/jvm`` (Kafka keeps its own JDK);
* :class:`KeycloakServer` runs ``kc.sh start-dev`` (development mode, an
  in-memory H2 database) on a loopback port with the realm of
  ``tests/interop/keycloak/realm-kafka.json`` imported, and waits until the
  realm's OpenID discovery document answers.

The realm file takes its secrets from the environment (Keycloak replaces
``${NAME}`` in an imported file): a client secret, and the certificate of a
key pair made for the session, with which the ``private_key_jwt`` client signs
its assertions.

A missing distribution or JDK skips the tests that need it, and fails them under
CI (``OAUTHBEARER_REQUIRE_PEERS=1``, see tests/peers.py).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from tests.peers import missing_peer
from tests.processes import free_port, read_log
from tests.processes import keep_log as keep_log_file

if TYPE_CHECKING:
    from collections.abc import Iterator

KEYCLOAK_DIR: Final = Path(__file__).parent / "interop" / "keycloak"
DIST_DIR: Final = KEYCLOAK_DIR / "dist"
REALM_FILE: Final = KEYCLOAK_DIR / "realm-kafka.json"
REALM: Final = "kafka"
#: The realm's clients (realm-kafka.json): one with a secret, one with private_key_jwt.
SECRET_CLIENT: Final = "kafka-app"
JWT_CLIENT: Final = "kafka-jwt-app"
#: The optional client scope whose audience mapper puts ``kafka-cluster`` in ``aud``.
KAFKA_SCOPE: Final = "kafka"
KAFKA_AUDIENCE: Final = "kafka-cluster"
#: Selects the JDK that runs Keycloak (Java 21 or later).
JAVA_HOME_ENV: Final = "OAUTHBEARER_KEYCLOAK_JAVA_HOME"
#: Where a failed run keeps Keycloak's log (default: tests/interop/keycloak/logs).
LOG_DIR_ENV: Final = "OAUTHBEARER_KEYCLOAK_LOG_DIR"
MIN_JAVA: Final = 21
#: A dev-mode start is 25-40 s once the distribution is built for it; the first
#: start of a fresh unpack also builds it (another 30-60 s on 2 busy cores).
START_TIMEOUT_S: Final = 300.0
STOP_TIMEOUT_S: Final = 30.0
FETCH_HINT: Final = f"mvn -q -f {KEYCLOAK_DIR / 'pom.xml'} dependency:unpack"


def keycloak_home() -> Path:
    """The unpacked distribution; skips (or fails under CI) when absent."""
    found = sorted(DIST_DIR.glob("keycloak-*/bin/kc.sh"))
    if not found:
        missing_peer("the Keycloak server distribution", FETCH_HINT)
    return found[-1].parent.parent


def _java_major(home: Path) -> int | None:
    with contextlib.suppress(OSError):
        release = (home / "release").read_text(encoding="utf-8")
        if match := re.search(r'^JAVA_VERSION="(\d+)', release, re.MULTILINE):
            return int(match[1])
    return None


def java_home() -> Path:
    """A JDK 21+ for Keycloak; skips (or fails under CI) when there is none."""
    chosen = os.environ.get(JAVA_HOME_ENV)
    if chosen:
        return Path(chosen)
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    with contextlib.suppress(OSError):
        candidates += sorted(Path("/usr/lib/jvm").iterdir(), reverse=True)
    for home in candidates:
        major = _java_major(home)
        if major is not None and major >= MIN_JAVA and (home / "bin" / "java").is_file():
            return home
    missing_peer(f"a JDK {MIN_JAVA} or later for Keycloak", f"set {JAVA_HOME_ENV}")
    raise AssertionError  # pragma: no cover - missing_peer raises


def client_key_pair() -> tuple[bytes, str]:
    """A new RSA key (PKCS #8 PEM) and its self-signed certificate (base64 DER,
    as Keycloak's ``jwt.credential.certificate`` client attribute holds it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, JWT_CLIENT)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return pem, base64.b64encode(der).decode("ascii")


class KeycloakServer:
    """One Keycloak in development mode on a loopback port, the ``kafka`` realm imported."""

    def __init__(self) -> None:
        self.home = keycloak_home()
        self.java_home = java_home()
        self.version = self.home.name.removeprefix("keycloak-")
        self.port = free_port()
        self.client_secret = secrets.token_urlsafe(24)
        self.client_key_pem, self._client_certificate = client_key_pair()
        self._admin_password = secrets.token_urlsafe(16)
        self._dir = Path(tempfile.mkdtemp(prefix="oauthbearer-keycloak-"))
        self.log_path = self._dir / "keycloak.log"
        self._process: subprocess.Popen[bytes] | None = None
        #: Seconds from ``kc.sh`` to a realm that answers discovery.
        self.startup_s: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    def start(self) -> KeycloakServer:
        # --import-realm reads every file of this folder: ours is the only one.
        imports = self.home / "data" / "import"
        shutil.rmtree(imports, ignore_errors=True)
        imports.mkdir(parents=True)
        shutil.copyfile(REALM_FILE, imports / REALM_FILE.name)
        env = {
            **os.environ,
            "JAVA_HOME": str(self.java_home),
            # Startup speed over peak speed: the tests ask for a few hundred tokens.
            "JAVA_OPTS_APPEND": "-XX:TieredStopAtLevel=1",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self._admin_password,
            "OAUTHBEARER_KEYCLOAK_SECRET": self.client_secret,
            "OAUTHBEARER_KEYCLOAK_CLIENT_CERTIFICATE": self._client_certificate,
        }
        command = [
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            f"--http-port={self.port}",
            "--http-host=127.0.0.1",
            "--db=dev-mem",
            "--import-realm",
        ]
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - Keycloak's own launcher
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = started + START_TIMEOUT_S
        while not self._answers(self.discovery_url):
            if self._process.poll() is not None:
                raise RuntimeError(f"Keycloak exited:\n{self.log_text()[-6000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Keycloak did not start in {START_TIMEOUT_S} s")
            time.sleep(0.25)
        self.startup_s = time.monotonic() - started
        return self

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # kc.sh runs java as its child: signal the whole session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def cleanup(self, *, keep_log: bool) -> Path | None:
        """Remove the server's folder; with ``keep_log``, first copy its log out
        (to ``$OAUTHBEARER_KEYCLOAK_LOG_DIR`` or tests/interop/keycloak/logs)."""
        kept = None
        if keep_log:
            kept = keep_log_file(
                self.log_path,
                env=LOG_DIR_ENV,
                default_folder=KEYCLOAK_DIR / "logs",
                name=f"keycloak-{self.version}",
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        return kept

    def log_text(self) -> str:
        return read_log(self.log_path)

    # --- the admin REST API --------------------------------------------------------------

    def _admin_token(self) -> str:
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": self._admin_password,
            }
        ).encode()
        url = f"{self.base_url}/realms/master/protocol/openid-connect/token"
        with urllib.request.urlopen(url, data=form, timeout=30.0) as response:  # noqa: S310
            token: str = json.load(response)["access_token"]
            return token

    def admin(self, method: str, path: str, body: Any = None, *, realm: str = REALM) -> Any:
        """Call the admin REST API (``/admin/realms/<realm>`` + ``path``; an
        empty ``realm`` for ``/admin/realms`` itself); the decoded JSON answer,
        or None for an empty one."""
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.base_url}/admin/realms{'/' + realm if realm else ''}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self._admin_token()}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30.0) as response:  # noqa: S310
            data = response.read()
        return json.loads(data) if data else None


@pytest.fixture(scope="session")
def keycloak(request: pytest.FixtureRequest) -> Iterator[KeycloakServer]:
    """A real Keycloak with the ``kafka`` realm (tests/interop/keycloak/realm-kafka.json)."""
    server = KeycloakServer()
    try:
        server.start()
        print(f"\nKeycloak {server.version} started in {server.startup_s:.1f} s", file=sys.stderr)
        yield server
    finally:
        server.stop()
        kept = server.cleanup(keep_log=request.session.testsfailed > 0)
        if kept is not None:
            print(f"\nKeycloak {server.version}'s log: {kept}", file=sys.stderr)
