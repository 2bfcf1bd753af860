"""CachedFile: a file read again only when it changes, however it was replaced."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from oauthbearer._files import CachedFile, FileTooLarge

if TYPE_CHECKING:
    from pathlib import Path


def make(path: Path, calls: list[bytes], max_size: int = 100) -> CachedFile[str]:
    def parse(data: bytes) -> str:
        calls.append(data)
        return data.decode()

    return CachedFile(path, parse, max_size=max_size)


def test_read_once_then_again_when_the_content_changes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    calls: list[bytes] = []
    cached = make(path, calls)
    assert cached.get() == "one"
    assert cached.get() == "one"
    assert calls == [b"one"]
    path.write_bytes(b"three")
    assert cached.get() == "three"
    assert calls == [b"one", b"three"]


def test_a_file_replaced_by_a_rename_is_seen_even_with_the_same_time_and_size(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"aaa")
    calls: list[bytes] = []
    cached = make(path, calls)
    assert cached.get() == "aaa"
    stat = path.stat()
    other = tmp_path / "g"
    other.write_bytes(b"bbb")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, path)  # same size, same mtime, another inode
    assert cached.get() == "bbb"


def test_too_large_and_missing_files_raise_and_keep_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    calls: list[bytes] = []
    cached = make(path, calls)
    with pytest.raises(FileTooLarge, match="larger than 100 bytes"):
        cached.get()
    assert calls == []
    path.write_bytes(b"ok")
    assert cached.get() == "ok"
    path.unlink()
    with pytest.raises(FileNotFoundError):
        cached.get()


def test_a_parse_failure_is_raised_again_until_the_file_is_fixed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"good")
    cached = CachedFile(path, lambda data: data.decode("ascii"), max_size=100)
    assert cached.get() == "good"
    path.write_bytes(b"\xff\xff")
    for _ in range(2):
        with pytest.raises(UnicodeDecodeError):
            cached.get()
    path.write_bytes(b"fine")
    assert cached.get() == "fine"
