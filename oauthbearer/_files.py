"""Local files turned into values, read again only when they change (a shell).

:class:`CachedFile` is Kafka's ``CachedFile`` with its last-modified policy,
used wherever a file may be replaced while the process runs: a JWKS file
(:func:`oauthbearer.validation.jwks_fetch.file_jwks_source`), the private key and the
assertion template of the jwt-bearer grant (:mod:`oauthbearer.login.sources`).
A file counts as changed when its modification time (in nanoseconds), its size
or its inode differ, so that a file replaced by a rename (as Kubernetes swaps a
mounted secret) is seen even within one tick of the clock.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CachedFile", "FileTooLarge"]

_T = TypeVar("_T")


class FileTooLarge(ValueError):
    """The file holds more than ``limit`` bytes, the reader's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class CachedFile(Generic[_T]):
    """``parse`` of the bytes of ``path``, kept until the file changes.

    :meth:`get` raises :class:`OSError` when the file cannot be read,
    :class:`FileTooLarge` when it holds more than ``max_size`` bytes, and what
    ``parse`` raises; the caller words each for its own option. A failure
    keeps nothing, so the next call tries again.
    """

    def __init__(
        self, path: str | os.PathLike[str], parse: Callable[[bytes], _T], *, max_size: int
    ) -> None:
        self._path = path
        self._parse = parse
        self._max_size = max_size
        self._seen: tuple[int, int, int] | None = None
        self._value: _T | None = None

    def get(self) -> _T:
        stat = os.stat(self._path)
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._value is not None and seen == self._seen:
            return self._value
        if stat.st_size > self._max_size:
            raise FileTooLarge(self._max_size)
        with open(self._path, "rb") as file:
            data = file.read(self._max_size + 1)
        if len(data) > self._max_size:  # it grew after the stat
            raise FileTooLarge(self._max_size)
        value = self._parse(data)
        self._value, self._seen = value, seen
        return value
