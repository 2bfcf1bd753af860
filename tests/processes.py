"""What the real-peer fixtures share: a free loopback port, stopping a server
process, reading its log, and keeping that log when a test failed.

Each server (Kafka in tests/real_kafka.py, PostgreSQL in tests/real_postgres.py)
runs in a temporary folder of its own and writes one log file there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """Ask ``process`` to stop (SIGTERM), and kill it after ``timeout_s``."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_log(path: Path) -> str:
    """The log so far (empty before the server wrote any)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8", errors="replace")
    return ""


def keep_log(path: Path, *, env: str, default_folder: Path, name: str) -> Path | None:
    """Copy the log out of a server's folder before it is removed: to ``$env``
    or ``default_folder``, as ``name-<epoch seconds>.log``. Returns the copy."""
    if not path.exists():
        return None
    folder = Path(os.environ.get(env, default_folder))
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{name}-{int(time.time())}.log"
    shutil.copyfile(path, kept)
    return kept
