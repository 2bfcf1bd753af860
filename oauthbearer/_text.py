"""How values a peer chose are shown to a person (pure): one rule for the CLI,
the demo and the probe's reports (bytes), one for the values quoted in
error messages (any value), and one for text in a log line (:func:`peer_text`,
which every shell's log lines use: the broker's, the token providers', the
JWKS refresher's).

Printable ASCII stays as it is; a backslash doubles; every other byte is
``\\xNN``. The result is plain ASCII (it cannot forge a line or drive a
terminal), and the CLI's ``escaped`` input format reads it back.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["cut_utf8", "escape_bytes", "peer_text", "show_value"]

#: The longest rendering :func:`show_value` gives.
MAX_SHOWN_VALUE: Final = 60
#: The longest :func:`peer_text` by default, in UTF-8 bytes: a Kafka STRING's
#: longest (``MAX_STRING_LENGTH``), so that no text a peer could send is cut
#: unless a caller asks for less.
MAX_PEER_TEXT: Final = 0x7FFF

#: What :func:`peer_text` escapes: C0 and C1 controls and DEL (a newline forges a
#: log line, an escape sequence drives a terminal), the Unicode line and
#: paragraph separators, and lone surrogates, which UTF-8 cannot carry.
_UNSAFE_TEXT: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CUT_MARK: Final = "..."


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


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def peer_text(value: str, *, max_bytes: int = MAX_PEER_TEXT) -> str:
    """``value``, which holds text a peer chose, made safe to log: the characters
    that could forge a line or cannot be encoded are escaped (``\\x0a``,
    ``\\ud800``), and the result is cut to at most ``max_bytes`` UTF-8 bytes,
    ``...`` marking the cut. The one place peer text is made fit for a log line
    (the Kafka wire takes :func:`oauthbearer.kafka.protocol.wire_text`)."""
    return cut_utf8(_UNSAFE_TEXT.sub(_escape_char, value[: max_bytes + 1]), max_bytes)


def cut_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, ``...`` marking the cut."""
    # Callers pass at most max_bytes + 1 characters: a character is a byte at
    # least, so that is enough to tell whether the text fits.
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    keep = raw[: max(max_bytes - len(_CUT_MARK), 0)].decode("utf-8", "ignore")
    return (keep + _CUT_MARK)[:max_bytes]
