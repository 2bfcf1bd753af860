"""How values a peer chose are shown to a person (pure): one rule for the CLI,
the demo and the probe's reports (bytes), and one for the values quoted in
error messages (any value).

Printable ASCII stays as it is; a backslash doubles; every other byte is
``\\xNN``. The result is plain ASCII (it cannot forge a line or drive a
terminal), and the CLI's ``escaped`` input format reads it back.
"""

from __future__ import annotations

from typing import Final

__all__ = ["escape_bytes", "show_value"]

#: The longest rendering :func:`show_value` gives.
MAX_SHOWN_VALUE: Final = 60


def escape_bytes(data: bytes, limit: int | None = None) -> str:
    """``data`` as printable ASCII (``\\x01`` for %x01, ``\\\\`` for a backslash);
    past ``limit`` bytes, cut and marked with the whole length."""
    shown = data if limit is None else data[:limit]
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b != 0x5C else ("\\\\" if b == 0x5C else f"\\x{b:02x}")
        for b in shown
    )
    return text if len(shown) == len(data) else f"{text}... ({len(data)} bytes)"


def show_value(value: object) -> str:
    """A short, safe rendering of a (possibly hostile) value for an error message:
    its ``repr`` (quotes and escapes included), cut to :data:`MAX_SHOWN_VALUE`."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."
