"""Apache Kafka itself in the test suite: its jars, a real broker, and Java helpers.

Kafka's verdicts are the specification of ``Dialect.KAFKA``, of the unsecured
and JWT validators built from a broker's properties, and of the JAAS parser
(DESIGN.md section 4, STYLE.md rule 13). So the tests run the real thing:

* the jars come from Maven Central through ``tests/interop/kafka/pom.xml``;
  ``.ci/run`` copies each version listed in ``tests/interop/kafka/versions.txt``
  into ``tests/interop/kafka/lib/<version>/`` (git-ignored);
* ``OAUTHBEARER_KAFKA_VERSION`` selects the version a run uses (default: the
  newest pinned one); CI runs the differential tests once per pinned version;
* :class:`KafkaBroker` formats a single-node KRaft cluster in a temporary
  folder and runs ``kafka.Kafka`` with ``java`` on loopback ports;
* :func:`java_program` compiles a small Java program against the same jars.

A missing JDK or jar skips the tests that need it, and fails them under CI
(``OAUTHBEARER_REQUIRE_PEERS=1``, see tests/peers.py).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tests.peers import missing_peer
from tests.processes import free_port, read_log, stop_process
from tests.processes import keep_log as keep_log_file

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

KAFKA_DIR: Final = Path(__file__).parent / "interop" / "kafka"
VERSIONS_FILE: Final = KAFKA_DIR / "versions.txt"
LIB_DIR: Final = KAFKA_DIR / "lib"
#: Selects the Kafka version of a run (one of versions.txt).
VERSION_ENV: Final = "OAUTHBEARER_KAFKA_VERSION"
#: Where a failed run keeps the broker's log (default: tests/interop/kafka/logs).
LOG_DIR_ENV: Final = "OAUTHBEARER_KAFKA_LOG_DIR"
#: A cold JVM formats and starts a KRaft node in 5-15 s on a busy 2-core host.
START_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 30.0
#: The line kafka.Kafka logs once every listener accepts connections.
_STARTED: Final = "Kafka Server started"


def pinned_versions() -> tuple[str, ...]:
    """The Kafka versions of versions.txt, oldest first."""
    lines = VERSIONS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def selected_version() -> str:
    """The version this run tests: ``$OAUTHBEARER_KAFKA_VERSION`` or the newest pinned."""
    versions = pinned_versions()
    chosen = os.environ.get(VERSION_ENV, versions[-1])
    if chosen not in versions:
        raise ValueError(f"{VERSION_ENV}={chosen!r} is not one of {', '.join(versions)}")
    return chosen


def fetch_hint(version: str) -> str:
    """The command that fetches ``version``'s jars (what .ci/run does)."""
    return (
        f"mvn -q -f {KAFKA_DIR / 'pom.xml'} -Dkafka.version={version} "
        f"dependency:copy-dependencies -DoutputDirectory=lib/{version}"
    )


def classpath(version: str) -> str:
    """The classpath of Kafka ``version``'s jars; skips (or fails under CI) when absent."""
    folder = LIB_DIR / version
    if not (folder / f"kafka_2.13-{version}.jar").is_file():
        missing_peer(f"Apache Kafka {version}'s jars", fetch_hint(version))
    return str(folder / "*")


def java_tool(name: str = "java") -> str:
    """``java`` or ``javac`` from ``$JAVA_HOME`` or the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).is_file():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        missing_peer(name, "install a JDK 17 or later")
    assert found is not None
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class JavaProgram:
    """A Java class compiled against Kafka's jars, run one process per call."""

    version: str
    directory: Path
    main_class: str

    def run(
        self, *args: str, stdin: str | None = None, timeout_s: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        path = os.pathsep.join([str(self.directory), classpath(self.version)])
        return subprocess.run(  # noqa: S603 - our own program, our own arguments
            [java_tool(), "-cp", path, self.main_class, *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout_s,
            check=False,
        )


def java_program(source: Path, version: str, build_dir: Path) -> JavaProgram:
    """Compile ``source`` (one public class, named as its file) against Kafka ``version``."""
    build_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # noqa: S603 - the JDK's compiler on a file of ours
        [java_tool("javac"), "-cp", classpath(version), "-d", str(build_dir), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"javac {source.name} failed:\n{done.stdout}{done.stderr}")
    return JavaProgram(version=version, directory=build_dir, main_class=source.stem)


class KafkaBroker:
    """One real Kafka node (broker and KRaft controller) on loopback ports.

    ``listeners`` maps each SASL listener's name to its security protocol
    (``SASL_PLAINTEXT`` or ``SASL_SSL``); an internal PLAINTEXT listener and the
    controller's are added. ``properties`` are the rest of ``server.properties``
    (listener prefixes included). ``jvm_properties`` become ``-D`` options
    (Kafka 4 reads ``org.apache.kafka.sasl.oauthbearer.allowed.urls`` there).
    ``extra_classpath`` puts more jars on the broker's classpath (a third-party
    callback handler, such as Strimzi's).
    """

    def __init__(
        self,
        *,
        version: str,
        listeners: Mapping[str, str],
        properties: Mapping[str, str],
        jvm_properties: Mapping[str, str] | None = None,
        extra_classpath: Sequence[str] = (),
    ) -> None:
        self.version = version
        self._extra_classpath = tuple(extra_classpath)
        self.ports = {name.upper(): free_port() for name in listeners}
        self._internal_ports = (free_port(), free_port())
        self._listeners = dict(listeners)
        self._extra = dict(properties)
        self._jvm_properties = dict(jvm_properties or {})
        self._dir = Path(tempfile.mkdtemp(prefix=f"oauthbearer-kafka-{version}-"))
        self.log_path = self._dir / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def properties(self) -> dict[str, str]:
        """The broker's whole ``server.properties``, as it was started."""
        internal, controller = self._internal_ports
        names = [*self.ports, "INTERNAL", "CONTROLLER"]
        addresses = {**self.ports, "INTERNAL": internal, "CONTROLLER": controller}
        protocols = {
            **{name.upper(): p for name, p in self._listeners.items()},
            "INTERNAL": "PLAINTEXT",
            "CONTROLLER": "PLAINTEXT",
        }
        listeners = ",".join(f"{n}://127.0.0.1:{addresses[n]}" for n in names)
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": listeners,
            "advertised.listeners": ",".join(
                f"{n}://127.0.0.1:{addresses[n]}" for n in names if n != "CONTROLLER"
            ),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": ",".join(f"{n}:{protocols[n]}" for n in names),
            "log.dirs": str(self._dir / "data"),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            **self._extra,
        }

    def _java(self, main: str, *args: str) -> list[str]:
        jvm = [f"-D{key}={value}" for key, value in self._jvm_properties.items()]
        return [
            java_tool(),
            "-Xms128m",
            "-Xmx512m",
            *jvm,
            "-cp",
            os.pathsep.join([classpath(self.version), *self._extra_classpath]),
            main,
            *args,
        ]

    def start(self) -> KafkaBroker:
        config = self._dir / "server.properties"
        config.write_text(
            "".join(f"{key}={_escape(value)}\n" for key, value in self.properties.items()),
            encoding="utf-8",
        )
        cluster = (
            subprocess.run(  # noqa: S603 - Kafka's own tool
                self._java("kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        formatted = subprocess.run(  # noqa: S603 - Kafka's own tool
            self._java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if formatted.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed:\n{formatted.stderr[-4000:]}")
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - Kafka's own server
            self._java("kafka.Kafka", str(config)), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while _STARTED not in self.log_text():
            if self._process.poll() is not None:
                raise RuntimeError(f"Kafka {self.version} exited:\n{self.log_text()[-6000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Kafka {self.version} did not start in {START_TIMEOUT_S} s")
            time.sleep(0.2)
        return self

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (for its CPU time in benchmarks)."""
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT_S)

    def cleanup(self, *, keep_log: bool) -> Path | None:
        """Remove the broker's folder; with ``keep_log``, first copy its log out
        (to ``$OAUTHBEARER_KAFKA_LOG_DIR`` or tests/interop/kafka/logs) and return it."""
        kept = None
        if keep_log:
            kept = keep_log_file(
                self.log_path,
                env=LOG_DIR_ENV,
                default_folder=KAFKA_DIR / "logs",
                name=f"broker-{self.version}",
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        return kept

    def log_text(self) -> str:
        return read_log(self.log_path)

    def mark_log(self) -> int:
        """The log's current end: pass it to :meth:`log_since`."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    def bootstrap(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener.upper()]}"


def _escape(value: str) -> str:
    """A .properties value: backslashes doubled (Kafka reads them as escapes)."""
    return value.replace("\\", "\\\\")


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def jaas_module(flag: str = "required", **options: str) -> str:
    """Kafka's OAuthBearerLoginModule JAAS line with quoted ``options``."""
    body = "".join(f' {key}="{value}"' for key, value in options.items())
    return f"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule {flag}{body};"
