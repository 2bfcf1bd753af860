"""Interop: OAuthBearerAuth with imaplib against a real Dovecot 2.3 IMAP server.

The fixture starts its own ``dovecot -F -c CONFIG`` (Debian's dovecot-imapd)
from a temporary directory, on a free loopback port, independent of any
system Dovecot. The oauth2 passdb validates JWTs locally
(``introspection_mode = local``) with an ES256 public key that the test
writes into the key dictionary, and signs the tokens with the private half.

What Dovecot 2.3 does, read in ``src/auth/mech-oauth2.c`` and
``src/auth/db-oauth2.c`` and checked here:

* a token the passdb refuses (signature, expiry, user, issuer, scope, key)
  gets the error challenge ``{"status":"invalid_token"}``, with
  ``"openid-configuration"`` when ``openid_configuration_url`` is set; the
  client's reply ends the exchange with ``NO [AUTHENTICATIONFAILED]``;
* a message Dovecot cannot use (no authzid, an empty ``auth``) fails at once,
  with no challenge;
* the reply to the challenge is not checked: anything, not just ``%x01``,
  ends the exchange the same way.

Each refusal is also matched to its reason in Dovecot's log, so that a test
cannot pass for the wrong reason (a broken configuration refuses everything).
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from oauthbearer import ClientInitialResponse, ClientSession, ErrorResponse, OAuthBearerToken
from oauthbearer.integrations.mail import OAuthBearerAuth
from tests.peers import missing_peer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HOST = "127.0.0.1"
USER = "alice"
ISSUER = "https://idp.example"
SCOPE = "mail"
KID = "mail-1"
DISCOVERY = "https://idp.example/.well-known/openid-configuration"
#: What Dovecot sends for every refused token, given openid_configuration_url.
CHALLENGE = b'{"status":"invalid_token","openid-configuration":"' + DISCOVERY.encode() + b'"}'

#: Bounds on every wait: Dovecot's start and stop, one IMAP command, a log line.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
IMAP_TIMEOUT_S = 10.0
LOG_TIMEOUT_S = 10.0

#: The Dovecot configuration, as docs/adapters-mail.md shows it. The penalty
#: listener is disabled (mode = 0) so that refused logins do not slow the next
#: ones down (2, 4, 8, 15 seconds per IP), and auth_failure_delay likewise.
DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = {host}
ssl = no
# OAUTHBEARER counts as plaintext: allow it without TLS, for this test only.
disable_plaintext_auth = no
auth_mechanisms = oauthbearer
auth_verbose = yes
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

passdb {{
  driver = oauth2
  mechanisms = oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
"""

OAUTH2_CONF = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={dir}/keys/
username_attribute = sub
issuers = {issuer}
scope = {scope}
openid_configuration_url = {discovery}
"""


@dataclasses.dataclass(frozen=True)
class Dovecot:
    """A running Dovecot, and the key its passdb trusts."""

    port: int
    key: ec.EllipticCurvePrivateKey = dataclasses.field(repr=False)
    key_file: Path
    log: Path

    def mint(
        self,
        sub: str = USER,
        *,
        lifetime_s: int = 300,
        key: ec.EllipticCurvePrivateKey | None = None,
        kid: str = KID,
        **claims: Any,
    ) -> str:
        """An ES256 access token, valid for Dovecot unless the arguments say otherwise."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": ISSUER, "sub": sub, "scope": SCOPE}
        payload.update(iat=now, nbf=now, exp=now + lifetime_s)
        payload.update(claims)
        return jwt.encode(payload, key or self.key, algorithm="ES256", headers={"kid": kid})

    def imap(self) -> imaplib.IMAP4:
        """A new connection (close it, or use it as a context manager)."""
        return imaplib.IMAP4(HOST, self.port, timeout=IMAP_TIMEOUT_S)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def wait_for_log(self, pattern: str, *, since: int) -> str:
        """The first log line after byte ``since`` that matches ``pattern`` (a regex)."""
        deadline = time.monotonic() + LOG_TIMEOUT_S
        while True:
            with self.log.open("rb") as file:
                file.seek(since)
                lines = file.read().decode("utf-8", "replace").splitlines()
            for line in lines:
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline:
                shown = "\n".join(lines[-20:])
                pytest.fail(f"Dovecot never logged {pattern!r}; its last lines:\n{shown}")
            time.sleep(0.05)


def _dovecot_binary() -> str | None:
    # Debian installs it in /usr/sbin, which a non-root PATH often lacks.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("dovecot", path=path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _run_as() -> tuple[str, str, int, int]:
    """Who Dovecot's unprivileged processes run as: nobody when we are root
    (Dovecot refuses uid 0 for mail), else ourselves."""
    uid = os.getuid()
    entry = pwd.getpwnam("nobody") if uid == 0 else pwd.getpwuid(uid)
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            output = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"dovecot exited with {process.returncode}:\n{output}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1) as sock:
            sock.settimeout(1)
            if sock.recv(64).startswith(b"* OK"):
                return
        if time.monotonic() > deadline:
            pytest.fail(f"dovecot did not greet on port {port} within {START_TIMEOUT_S} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Dovecot's whole process group: the master and its children."""
    for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
        return


@contextlib.contextmanager
def run_dovecot(oauth2_conf: Callable[[Path, dict[str, Any]], str]) -> Iterator[tuple[int, Path]]:
    """Run Dovecot with the passdb configuration ``oauth2_conf(directory, fields)``
    returns (it may write files, such as keys, into ``directory``); yields the
    IMAP port and the directory (its ``dovecot.log``). Skips without Dovecot."""
    binary = _dovecot_binary()
    if binary is None:
        missing_peer("dovecot", "apt-get install dovecot-imapd")
        raise AssertionError  # missing_peer skips or fails
    # Short, in /tmp: Dovecot's unix sockets live in base_dir (108-byte limit).
    directory = Path(tempfile.mkdtemp(prefix="oauthbearer-dovecot-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        user, group, uid, gid = _run_as()
        directory.chmod(0o755)  # the mail process (uid) walks into home/
        home = directory / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        port = _free_port()
        fields = {"dir": directory, "host": HOST, "port": port, "user": user, "group": group}
        fields |= {"uid": uid, "gid": gid}
        config = directory / "dovecot.conf"
        config.write_text(DOVECOT_CONF.format(**fields))
        (directory / "dovecot-oauth2.conf.ext").write_text(oauth2_conf(directory, fields))
        with (directory / "stdout.log").open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                [binary, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for _stop
            )
        _wait_until_ready(process, port, directory / "stdout.log")
        yield port, directory
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    # The key dictionary: <prefix><azp or "default">/<ALG>/<kid or "default">.
    key = ec.generate_private_key(ec.SECP256R1())

    def local_validation(directory: Path, fields: dict[str, Any]) -> str:
        key_file = directory / "keys" / "default" / "ES256" / KID
        key_file.parent.mkdir(parents=True)
        key_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        fields |= {"issuer": ISSUER, "scope": SCOPE, "discovery": DISCOVERY}
        return OAUTH2_CONF.format(**fields)

    with run_dovecot(local_validation) as (port, directory):
        key_file = directory / "keys" / "default" / "ES256" / KID
        yield Dovecot(port=port, key=key, key_file=key_file, log=directory / "dovecot.log")


def recording(auth: Callable[[bytes], bytes]) -> tuple[Callable[[bytes], bytes], list[bytes]]:
    """``auth`` and the list of what it answered, in order."""
    sent: list[bytes] = []

    def authobject(challenge: bytes) -> bytes:
        sent.append(auth(challenge))
        return sent[-1]

    return authobject, sent


# --- Accepted -----------------------------------------------------------------------------


def test_a_valid_token_logs_in(dovecot: Dovecot) -> None:
    auth = OAuthBearerAuth(dovecot.mint(), user=USER, host=HOST, port=dovecot.port)
    authobject, sent = recording(auth.imap)
    since = dovecot.log_size()
    with dovecot.imap() as imap:
        assert "AUTH=OAUTHBEARER" in imap.capabilities
        typ, _ = imap.authenticate("OAUTHBEARER", authobject)
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
        assert imap.noop()[0] == "OK"
    assert len(sent) == 1  # the initial response, and no challenge
    response = ClientInitialResponse.decode(sent[0])
    assert (response.authzid, response.host, response.port) == (USER, HOST, dovecot.port)
    assert (auth.challenge, auth.error, auth.protocol_error) == (None, None, None)
    dovecot.wait_for_log(f"Login: user=<{USER}>, method=OAUTHBEARER", since=since)


def test_a_token_from_the_cli_logs_in(dovecot: Dovecot, tmp_path: Path) -> None:
    # The docs' recipe: `oauthbearer token --key` signs for Dovecot's key dictionary.
    pem = tmp_path / "private.pem"
    pem.write_bytes(
        dovecot.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    argv = ["token", "--key", str(pem), "--algorithm", "ES256", "--kid", KID, "--sub", USER]
    argv += ["--scope", SCOPE, "--issuer", ISSUER, "--lifetime", "300"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "oauthbearer", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    auth = OAuthBearerAuth(done.stdout.strip(), user=USER, host=HOST, port=dovecot.port)
    with dovecot.imap() as imap:
        assert imap.authenticate("OAUTHBEARER", auth.imap)[0] == "OK"


def test_a_token_source_is_asked_for_each_login(dovecot: Dovecot) -> None:
    tokens = [dovecot.mint(key=ec.generate_private_key(ec.SECP256R1())), dovecot.mint()]
    calls: list[str] = []

    def source() -> OAuthBearerToken:
        calls.append(tokens[len(calls)])
        return OAuthBearerToken(value=calls[-1], principal=USER, lifetime_ms=2**41)

    auth = OAuthBearerAuth(source, user=USER, host=HOST, port=dovecot.port)
    with dovecot.imap() as imap, pytest.raises(imaplib.IMAP4.error):
        imap.authenticate("OAUTHBEARER", auth.imap)
    assert auth.error is not None
    with dovecot.imap() as imap:
        assert imap.authenticate("OAUTHBEARER", auth.imap)[0] == "OK"
    assert calls == tokens
    assert auth.error is None


# --- Refused: the error challenge ---------------------------------------------------------

_OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
_UNSECURED = jwt.encode(
    {"iss": ISSUER, "sub": USER, "scope": SCOPE, "exp": 2**40}, "", algorithm="none"
)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda d: d.mint(key=_OTHER_KEY), "Bad signature", id="bad-signature"),
        pytest.param(lambda d: d.mint(lifetime_s=-60), "Token has expired", id="expired"),
        pytest.param(
            lambda d: d.mint("bob"), f"Username '{USER}' did not match 'bob'", id="other-user"
        ),
        pytest.param(
            lambda d: d.mint(iss="https://evil.example"),
            r"Issuer 'https://evil\.example' is not allowed",
            id="wrong-issuer",
        ),
        pytest.param(
            lambda d: d.mint(scope="calendar"),
            # 2.3.19.1, then Debian's backport of the 2.4 scope check (deb12u7).
            f"(Token is not valid for scope '{SCOPE}'"
            f"|configured scope '{SCOPE}' missing from token scope 'calendar')",
            id="missing-scope",
        ),
        pytest.param(
            lambda d: d.mint(kid="retired"), "ES256 key 'retired' not found", id="unknown-key"
        ),
        pytest.param(lambda d: _UNSECURED, "Unsupported algorithm 'NONE'", id="alg-none"),
    ],
)
def test_a_refused_token_gets_the_error_challenge(
    dovecot: Dovecot, make_token: Callable[[Dovecot], str], reason: str
) -> None:
    auth = OAuthBearerAuth(make_token(dovecot), user=USER, host=HOST, port=dovecot.port)
    authobject, sent = recording(auth.imap)
    since = dovecot.log_size()
    with dovecot.imap() as imap:
        with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
            imap.authenticate("OAUTHBEARER", authobject)
        assert imap.state == "NONAUTH"
        assert imap.noop()[0] == "OK"  # still in step with the server
    # Dovecot's challenge, as the adapter saw and read it, and its %x01 reply.
    assert auth.challenge == CHALLENGE
    assert auth.error == ErrorResponse("invalid_token", openid_configuration=DISCOVERY)
    assert auth.protocol_error is None
    assert sent[1:] == [b"\x01"]
    dovecot.wait_for_log(f"oauth2 failed: Local validation failed: {reason}$", since=since)


# --- What else Dovecot does ---------------------------------------------------------------


def _raw_exchange(dovecot: Dovecot, first: bytes, reply: bytes = b"\x01") -> list[bytes]:
    """Send ``first`` as the initial response and ``reply`` to any challenge;
    return the challenges Dovecot sent (the first, empty one included)."""
    challenges: list[bytes] = []

    def authobject(challenge: bytes) -> bytes:
        challenges.append(challenge)
        return first if len(challenges) == 1 else reply

    with dovecot.imap() as imap, pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.authenticate("OAUTHBEARER", authobject)
    return challenges


def test_without_an_authzid_dovecot_fails_at_once(dovecot: Dovecot) -> None:
    since = dovecot.log_size()
    first = ClientSession(dovecot.mint()).initial_response()  # "n,,": no a=
    assert _raw_exchange(dovecot, first) == [b""]  # no error challenge
    dovecot.wait_for_log("Missing username or token", since=since)


def test_a_discovery_request_fails_at_once(dovecot: Dovecot) -> None:
    # libpq's discovery (an empty auth=) gets no openid-configuration from Dovecot 2.3.
    since = dovecot.log_size()
    first = ClientSession.discovery(authzid=USER).initial_response()
    assert _raw_exchange(dovecot, first) == [b""]
    dovecot.wait_for_log("Invalid continued data", since=since)


def test_dovecot_does_not_check_the_challenge_reply(dovecot: Dovecot) -> None:
    # RFC 7628 asks for %x01; Dovecot fails the exchange whatever comes back.
    first = ClientSession(dovecot.mint(key=_OTHER_KEY), authzid=USER).initial_response()
    assert _raw_exchange(dovecot, first, reply=b"anything") == [b"", CHALLENGE]


# --- The documentation ----------------------------------------------------------------------

#: The values docs/adapters-mail.md shows the configuration with.
DOCS_FIELDS: dict[str, object] = {
    "dir": "/srv/dovecot-oauth",
    "host": HOST,
    "port": 10143,
    "user": "nobody",
    "group": "nogroup",
    "uid": 65534,
    "gid": 65534,
    "issuer": ISSUER,
    "scope": SCOPE,
    "discovery": DISCOVERY,
}


def test_the_docs_show_the_configuration_tested_here() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "adapters-mail.md").read_text()
    assert f"```text\n{OAUTH2_CONF.format(**DOCS_FIELDS)}```" in page
    assert f"```text\n{DOVECOT_CONF.format(**DOCS_FIELDS)}```" in page
    assert CHALLENGE.decode() in page
