"""What the fuzz targets share: an input reader, the oracle's verdict, and the atheris runner.

Theory of operation
-------------------
Each target in this folder is a module with a ``test_one_input(data: bytes)``
function that runs one input through a surface of the library and checks it
against an *oracle*: the library may raise only the errors it documents for
that call (every one an :class:`~oauthbearer.errors.OAuthBearerError`, and for
most calls a narrower class), and some invariants must hold (round trips,
chunking that does not change a stream's outcome, failed machines that stay
failed). Anything else escapes ``test_one_input`` as an exception, which
libFuzzer reports as a crash and saves as ``crash-<sha1>``.

``test_one_input`` needs nothing but the library, so the CI smoke test
(``tests/test_fuzz_smoke.py``) calls it directly, without atheris. Only
:func:`main` imports atheris, when a target runs as a script: it instruments
the library's functions for coverage (the targets' own oracle code is left
out, so ``cov:`` counts library edges), then hands the function to libFuzzer
with the command line's flags and corpus folders.
"""

from __future__ import annotations

import gc
import importlib
import sys
import types
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable

#: The packages whose functions are instrumented for coverage.
INSTRUMENTED_PACKAGE = "oauthbearer"


class OracleViolation(AssertionError):
    """An invariant does not hold: a bug in the library (or in the oracle)."""


def violated(what: str) -> NoReturn:
    raise OracleViolation(what)


def check(condition: bool, what: str) -> None:
    """Raise :class:`OracleViolation` unless ``condition``; ``what`` names the invariant."""
    if not condition:
        violated(what)


class Input:
    """Reads a fuzzer's bytes as a sequence of small decisions and byte strings.

    Reads past the end give zeros and empty strings, so that every input, however
    short, is a valid program for a target: the fuzzer never wastes runs on a
    format error of the harness.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def byte(self) -> int:
        """One byte, 0 to 255."""
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    def u16(self) -> int:
        """Two bytes, big-endian."""
        return self.byte() << 8 | self.byte()

    def bytes_(self, size: int) -> bytes:
        """Up to ``size`` bytes."""
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def chunk(self) -> bytes:
        """A length-prefixed byte string: a u16 length, then that many bytes."""
        return self.bytes_(self.u16())

    def rest(self) -> bytes:
        """Everything not read yet."""
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk


def _instrument_library(atheris: Any) -> int:
    """Add atheris's coverage probes to every function of the library, in place."""
    count = 0
    for obj in gc.get_objects():
        if (
            isinstance(obj, types.FunctionType)
            and isinstance(obj.__module__, str)
            and obj.__module__.split(".")[0] == INSTRUMENTED_PACKAGE
        ):
            atheris.instrument_func(obj)
            count += 1
    return count


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Run libFuzzer on ``test_one_input`` with the command line's arguments.

    atheris is imported here only: the targets and their smoke test need it not.
    """
    atheris: Any = importlib.import_module("atheris")
    count = _instrument_library(atheris)
    sys.stderr.write(f"INFO: instrumented {count} functions of {INSTRUMENTED_PACKAGE}\n")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
