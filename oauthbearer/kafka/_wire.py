"""Kafka's primitive types: the bottom layer of :mod:`oauthbearer.kafka.protocol`,
private to the Kafka package.

Theory of operation
-------------------
:class:`Reader` reads Kafka's primitive types (the protocol guide, "Protocol
Primitive Types") from one frame, front to back; :class:`Writer` writes them.
Every read is bounds-checked and raises :class:`MalformedFrame` with the byte
offset and the Kafka error code to answer with, never ``IndexError`` or
``struct.error``. The message classes of :mod:`oauthbearer.kafka.protocol` and
the record batches of :mod:`oauthbearer.kafka.records` are built on them; they
are plumbing, not API, so they live in this private module and are imported
from here by name. The public names here (the limits, :class:`ErrorCode`,
:class:`MalformedFrame`, :class:`TaggedField`) are re-exported, and documented,
by :mod:`oauthbearer.kafka.protocol`.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import uuid
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    FrameReason,
    MalformedMessage,
    ReasonCode,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "INT_BOUNDS",
    "MAX_STRING_LENGTH",
    "MAX_TAGGED_FIELDS",
    "ErrorCode",
    "MalformedFrame",
    "Reader",
    "TaggedField",
    "Writer",
    "check_int",
    "check_tags",
    "check_tuple",
    "encode_text",
]

# --- Limits ---------------------------------------------------------------------

#: Longest STRING or COMPACT_STRING, in UTF-8 bytes: Kafka's generated readers
#: refuse a string length above 0x7fff (the classic STRING's INT16 length).
MAX_STRING_LENGTH: Final = 0x7FFF

#: Most fields in one tagged-field section (KIP-482). Kafka's schemas define a
#: handful per structure (ApiVersionsResponse, the most, has four), and Kafka's
#: reader has no limit: without one, a 512 KiB frame of empty tagged fields
#: costs a parse per two bytes before anyone is authenticated. A count above
#: this is refused as it is read, before any field.
MAX_TAGGED_FIELDS: Final = 64

#: Longest unsigned varint (a 32-bit value in 7-bit groups): Kafka's
#: ``ByteUtils.readUnsignedVarint`` refuses a continuation bit in the fifth byte.
_MAX_VARINT_BYTES: Final = 5
#: Longest zig-zag varlong (a 64-bit value in 7-bit groups): ``readVarlong``.
_MAX_VARLONG_BYTES: Final = 10

#: The signed integer types' ranges, by width in bits (INT8 to INT64).
INT_BOUNDS: Final = {bits: (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for bits in (8, 16, 32, 64)}
_UINT32_MAX: Final = (1 << 32) - 1
_UINT64_MAX: Final = (1 << 64) - 1


class ErrorCode(enum.IntEnum):
    """Kafka error codes this module's users meet (``Errors.java``)."""

    NONE = 0
    #: A Fetch from an offset the partition does not have.
    OFFSET_OUT_OF_RANGE = 1
    #: The protocol guide: "...exceeds the valid size, or is otherwise corrupt".
    CORRUPT_MESSAGE = 2
    #: A Metadata (or Produce, Fetch) answer about a topic the broker does not have.
    UNKNOWN_TOPIC_OR_PARTITION = 3
    #: A topic just created has no leader yet: ask again (retriable).
    LEADER_NOT_AVAILABLE = 5
    #: Produce or Fetch sent to a broker that does not lead the partition (retriable).
    NOT_LEADER_OR_FOLLOWER = 6
    #: Produce with ``acks=-1`` timed out waiting for the replicas (retriable).
    REQUEST_TIMED_OUT = 7
    #: A Metadata answer about a topic the client may not describe.
    TOPIC_AUTHORIZATION_FAILED = 29
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    #: What Kafka's broker reports for a request it cannot parse.
    INVALID_REQUEST = 42
    SASL_AUTHENTICATION_FAILED = 58
    #: A Metadata answer about a topic id the broker does not have (v12+).
    UNKNOWN_TOPIC_ID = 100
    #: ApiVersions v5 named another cluster or node (KIP-1242): the client's
    #: metadata is stale and it should bootstrap again.
    REBOOTSTRAP_REQUIRED = 129


# --- Errors ---------------------------------------------------------------------


class MalformedFrame(MalformedMessage):
    """A Kafka frame does not follow the wire format.

    ``reason`` is a code of :class:`~oauthbearer.errors.FrameReason`, ``offset`` the index of
    the offending byte in the frame (after its size prefix) or in the stream,
    ``error_code`` the Kafka error code a broker reports for it (INVALID_REQUEST
    for a request it cannot parse, UNSUPPORTED_VERSION for a version it does not
    speak, CORRUPT_MESSAGE for a bad size prefix or a bad response).
    """

    reasons: type[ReasonCode] = FrameReason

    def __init__(self, reason: str, detail: str, *, offset: int | None, error_code: int) -> None:
        super().__init__(reason, detail, offset=offset, status=None)
        self.error_code = error_code


# --- Primitive types --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaggedField:
    """One entry of a tagged-field section (KIP-482), kept as raw bytes."""

    tag: int
    data: bytes

    def __post_init__(self) -> None:
        check_int("TaggedField.tag", self.tag, 0, (1 << 31) - 1)
        if not isinstance(self.data, bytes):
            raise ArgumentTypeError("TaggedField.data must be bytes")


T = TypeVar("T")


class Reader:
    """Reads Kafka primitive types from one frame, front to back.

    Every method raises :class:`MalformedFrame` (with ``error_code``) when the
    bytes end early or break the type's rules, and nothing else.

    Counts are judged as they are read, before any element: an array may hold
    at most ``max_elements`` (``None``: as many as the bytes left could hold), a
    tagged-field section at most :data:`MAX_TAGGED_FIELDS` fields.
    """

    __slots__ = ("_data", "_error_code", "_max_elements", "_pos")

    def __init__(
        self,
        data: bytes,
        *,
        error_code: int = ErrorCode.INVALID_REQUEST,
        max_elements: int | None = None,
    ) -> None:
        if max_elements is not None:
            check_int("max_elements", max_elements, 0, (1 << 31) - 1)
        self._data = bytes(data)
        self._pos = 0
        self._error_code = int(error_code)
        self._max_elements = max_elements

    @property
    def offset(self) -> int:
        """The index of the next byte to read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """How many bytes are left."""
        return len(self._data) - self._pos

    def fail(self, reason: str, detail: str, *, offset: int | None = None) -> NoReturn:
        """Raise :class:`MalformedFrame` at ``offset`` (default: the next byte)."""
        where = self._pos if offset is None else offset
        raise MalformedFrame(reason, detail, offset=where, error_code=self._error_code)

    def raw(self, n: int, what: str = "bytes") -> bytes:
        """The next ``n`` bytes as they are (a length the caller has read)."""
        if n < 0:
            self.fail("invalid-length", f"{what} has length {n}")
        return self._take(n, what)

    def _take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            self.fail("truncated", f"{what} needs {n} bytes, {self.remaining} left")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def _int(self, size: int, what: str) -> int:
        return int.from_bytes(self._take(size, what), "big", signed=True)

    def int8(self, what: str = "INT8") -> int:
        return self._int(1, what)

    def int16(self, what: str = "INT16") -> int:
        return self._int(2, what)

    def int32(self, what: str = "INT32") -> int:
        return self._int(4, what)

    def int64(self, what: str = "INT64") -> int:
        return self._int(8, what)

    def boolean(self, what: str = "BOOLEAN") -> bool:
        start = self._pos
        value = self._take(1, what)[0]
        if value > 1:
            self.fail("invalid-boolean", f"{what} is {value}, not 0 or 1", offset=start)
        return value == 1

    def _varint(self, max_bytes: int, max_value: int, what: str) -> int:
        start = self._pos
        value = shift = 0
        for _ in range(max_bytes):
            byte = self._take(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value > max_value:
                    self.fail("invalid-varint", f"{what} overflows", offset=start)
                return value
            shift += 7
        raise MalformedFrame(
            "invalid-varint",
            f"{what} is longer than {max_bytes} bytes",
            offset=start,
            error_code=self._error_code,
        )

    def uvarint(self, what: str = "UNSIGNED_VARINT") -> int:
        """An unsigned varint of at most five bytes and 32 bits."""
        return self._varint(_MAX_VARINT_BYTES, _UINT32_MAX, what)

    def uuid(self, what: str = "UUID") -> uuid.UUID:
        """A UUID: 16 bytes, most significant first (Kafka's ``Uuid``)."""
        return uuid.UUID(bytes=self._take(16, what))

    def varint(self, what: str = "VARINT") -> int:
        """A zig-zag varint: a signed 32-bit value."""
        raw = self._varint(_MAX_VARINT_BYTES, _UINT32_MAX, what)
        return (raw >> 1) ^ -(raw & 1)

    def varlong(self, what: str = "VARLONG") -> int:
        """A zig-zag varlong: a signed 64-bit value."""
        raw = self._varint(_MAX_VARLONG_BYTES, _UINT64_MAX, what)
        return (raw >> 1) ^ -(raw & 1)

    def _length(self, *, compact: bool, wide: bool, what: str) -> int:
        """A length prefix: -1 means null. Compact lengths are stored plus one."""
        if compact:
            return self.uvarint(what) - 1
        return self.int32(what) if wide else self.int16(what)

    def _text(self, length: int, start: int, what: str) -> str:
        if length > MAX_STRING_LENGTH:
            self.fail("invalid-length", f"{what} length {length} exceeds 32767", offset=start)
        raw = self._take(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            self.fail("invalid-utf8", f"{what} is not UTF-8", offset=self._pos - length + err.start)

    def _maybe_string(self, *, compact: bool, nullable: bool, what: str) -> str | None:
        start = self._pos
        length = self._length(compact=compact, wide=False, what=what)
        if length < 0:
            if nullable and length == -1:
                return None
            self.fail("invalid-length", f"{what} has length {length}", offset=start)
        return self._text(length, start, what)

    def string(self, what: str = "STRING") -> str:
        return self._maybe_string(compact=False, nullable=False, what=what) or ""

    def nullable_string(self, what: str = "NULLABLE_STRING") -> str | None:
        return self._maybe_string(compact=False, nullable=True, what=what)

    def compact_string(self, what: str = "COMPACT_STRING") -> str:
        return self._maybe_string(compact=True, nullable=False, what=what) or ""

    def compact_nullable_string(self, what: str = "COMPACT_NULLABLE_STRING") -> str | None:
        return self._maybe_string(compact=True, nullable=True, what=what)

    def _maybe_bytes(self, *, compact: bool, nullable: bool, what: str) -> bytes | None:
        start = self._pos
        length = self._length(compact=compact, wide=True, what=what)
        if length < 0:
            if nullable and length == -1:
                return None
            self.fail("invalid-length", f"{what} has length {length}", offset=start)
        return self._take(length, what)

    def bytes_(self, what: str = "BYTES") -> bytes:
        return self._maybe_bytes(compact=False, nullable=False, what=what) or b""

    def nullable_bytes(self, what: str = "NULLABLE_BYTES") -> bytes | None:
        return self._maybe_bytes(compact=False, nullable=True, what=what)

    def compact_bytes(self, what: str = "COMPACT_BYTES") -> bytes:
        return self._maybe_bytes(compact=True, nullable=False, what=what) or b""

    def compact_nullable_bytes(self, what: str = "COMPACT_NULLABLE_BYTES") -> bytes | None:
        return self._maybe_bytes(compact=True, nullable=True, what=what)

    def array(
        self,
        element: Callable[[Reader], T],
        *,
        compact: bool,
        nullable: bool = False,
        min_size: int = 1,
        what: str = "ARRAY",
    ) -> tuple[T, ...] | None:
        """An ARRAY (INT32 count) or COMPACT_ARRAY (count plus one, as a varint).

        A count above the reader's ``max_elements``, or one that could not fit in
        the bytes left (each element takes at least ``min_size`` bytes), is
        refused before anything is read or allocated for it.
        """
        start = self._pos
        count = self._length(compact=compact, wide=True, what=what)
        if count < 0:
            if nullable and count == -1:
                return None
            self.fail("invalid-length", f"{what} has length {count}", offset=start)
        if self._max_elements is not None and count > self._max_elements:
            self.fail(
                "invalid-length",
                f"{what} claims {count} elements, more than the limit of {self._max_elements}",
                offset=start,
            )
        if count * min_size > self.remaining:
            self.fail(
                "invalid-length",
                f"{what} claims {count} elements, {self.remaining} bytes left",
                offset=start,
            )
        return tuple(element(self) for _ in range(count))

    def tagged_fields(self, what: str = "TAG_BUFFER") -> tuple[TaggedField, ...]:
        """A tagged-field section; tags must rise strictly, as ``TaggedFields.read`` has it."""
        start = self._pos
        count = self.uvarint(what)
        if count > MAX_TAGGED_FIELDS:
            self.fail(
                "invalid-length",
                f"{what} claims {count} fields, more than the limit of {MAX_TAGGED_FIELDS}",
                offset=start,
            )
        if count * 2 > self.remaining:  # each field takes a tag and a size byte at least
            self.fail("invalid-length", f"{what} claims {count} fields", offset=start)
        fields = []
        previous = -1
        for _ in range(count):
            tag_at = self._pos
            tag = self.uvarint(f"{what} tag")
            if tag <= previous or tag > (1 << 31) - 1:
                self.fail(
                    "invalid-tagged-fields", f"invalid or out-of-order tag {tag}", offset=tag_at
                )
            previous = tag
            size = self.uvarint(f"{what} size")
            fields.append(TaggedField(tag=tag, data=self._take(size, f"{what} field {tag}")))
        return tuple(fields)

    def finish(self) -> None:
        """Refuse bytes after the last field."""
        if self._pos != len(self._data):
            self.fail("trailing-data", f"{self.remaining} bytes follow the message")


class Writer:
    """Writes Kafka primitive types; the mirror image of :class:`Reader`.

    A value the type cannot carry raises :class:`ConfigurationError` (or
    :class:`ArgumentTypeError` for a wrong type).
    """

    __slots__ = ("_out",)

    def __init__(self) -> None:
        self._out = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._out)

    def raw(self, data: bytes) -> None:
        self._out += data

    def _int(self, value: int, bits: int, what: str) -> None:
        low, high = INT_BOUNDS[bits]
        check_int(what, value, low, high)
        self._out += value.to_bytes(bits // 8, "big", signed=True)

    def int8(self, value: int, what: str = "INT8") -> None:
        self._int(value, 8, what)

    def int16(self, value: int, what: str = "INT16") -> None:
        self._int(value, 16, what)

    def int32(self, value: int, what: str = "INT32") -> None:
        self._int(value, 32, what)

    def int64(self, value: int, what: str = "INT64") -> None:
        self._int(value, 64, what)

    def boolean(self, value: bool, what: str = "BOOLEAN") -> None:
        if not isinstance(value, bool):
            raise ArgumentTypeError(f"{what} must be a bool")
        self._out.append(1 if value else 0)

    def _varint(self, value: int) -> None:
        while value > 0x7F:
            self._out.append((value & 0x7F) | 0x80)
            value >>= 7
        self._out.append(value)

    def uvarint(self, value: int, what: str = "UNSIGNED_VARINT") -> None:
        check_int(what, value, 0, _UINT32_MAX)
        self._varint(value)

    def uuid(self, value: uuid.UUID, what: str = "UUID") -> None:
        if not isinstance(value, uuid.UUID):
            raise ArgumentTypeError(f"{what} must be a uuid.UUID")
        self._out += value.bytes

    def varint(self, value: int, what: str = "VARINT") -> None:
        check_int(what, value, *INT_BOUNDS[32])
        self._varint(((value << 1) ^ (value >> 31)) & _UINT32_MAX)

    def varlong(self, value: int, what: str = "VARLONG") -> None:
        check_int(what, value, *INT_BOUNDS[64])
        self._varint(((value << 1) ^ (value >> 63)) & _UINT64_MAX)

    def _length(self, length: int, *, compact: bool, wide: bool, what: str) -> None:
        if compact:
            self.uvarint(length + 1, what)
        elif wide:
            self.int32(length, what)
        else:
            self.int16(length, what)

    def _maybe_string(self, value: str | None, *, compact: bool, nullable: bool, what: str) -> None:
        if value is None:
            if not nullable:
                raise ArgumentTypeError(f"{what} must be a string, not None")
            self._length(-1, compact=compact, wide=False, what=what)
            return
        raw = encode_text(what, value)
        self._length(len(raw), compact=compact, wide=False, what=what)
        self._out += raw

    def string(self, value: str, what: str = "STRING") -> None:
        self._maybe_string(value, compact=False, nullable=False, what=what)

    def nullable_string(self, value: str | None, what: str = "NULLABLE_STRING") -> None:
        self._maybe_string(value, compact=False, nullable=True, what=what)

    def compact_string(self, value: str, what: str = "COMPACT_STRING") -> None:
        self._maybe_string(value, compact=True, nullable=False, what=what)

    def compact_nullable_string(
        self, value: str | None, what: str = "COMPACT_NULLABLE_STRING"
    ) -> None:
        self._maybe_string(value, compact=True, nullable=True, what=what)

    def _maybe_bytes(
        self, value: bytes | None, *, compact: bool, nullable: bool, what: str
    ) -> None:
        if value is None:
            if not nullable:
                raise ArgumentTypeError(f"{what} must be bytes, not None")
            self._length(-1, compact=compact, wide=True, what=what)
            return
        if not isinstance(value, bytes):
            raise ArgumentTypeError(f"{what} must be bytes")
        self._length(len(value), compact=compact, wide=True, what=what)
        self._out += value

    def bytes_(self, value: bytes, what: str = "BYTES") -> None:
        self._maybe_bytes(value, compact=False, nullable=False, what=what)

    def nullable_bytes(self, value: bytes | None, what: str = "NULLABLE_BYTES") -> None:
        self._maybe_bytes(value, compact=False, nullable=True, what=what)

    def compact_bytes(self, value: bytes, what: str = "COMPACT_BYTES") -> None:
        self._maybe_bytes(value, compact=True, nullable=False, what=what)

    def compact_nullable_bytes(
        self, value: bytes | None, what: str = "COMPACT_NULLABLE_BYTES"
    ) -> None:
        self._maybe_bytes(value, compact=True, nullable=True, what=what)

    def array(
        self,
        values: Sequence[T] | None,
        element: Callable[[Writer, T], None],
        *,
        compact: bool,
        nullable: bool = False,
        what: str = "ARRAY",
    ) -> None:
        if values is None:
            if not nullable:
                raise ArgumentTypeError(f"{what} must be a sequence, not None")
            self._length(-1, compact=compact, wide=True, what=what)
            return
        self._length(len(values), compact=compact, wide=True, what=what)
        for value in values:
            element(self, value)

    def tagged_fields(self, fields: Sequence[TaggedField]) -> None:
        check_tags("tagged fields", fields)
        self.uvarint(len(fields))
        for field in fields:
            self.uvarint(field.tag)
            self.uvarint(len(field.data))
            self._out += field.data


def check_int(what: str, value: object, low: int, high: int) -> None:
    """Refuse a ``value`` that is not an int in ``[low, high]``, naming it ``what``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(f"{what} must be an int")
    if not low <= value <= high:
        raise ConfigurationError(f"{what} must be in [{low}, {high}], not {value}")


def encode_text(what: str, value: object) -> bytes:
    """``value`` as a Kafka string's UTF-8 bytes, refused if it cannot be one."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{what} must be a string")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"{what} holds a lone surrogate") from None
    if len(raw) > MAX_STRING_LENGTH:
        raise ConfigurationError(f"{what} is longer than {MAX_STRING_LENGTH} UTF-8 bytes")
    return raw


def check_tuple(what: str, value: object, kind: type | tuple[type, ...]) -> None:
    """Refuse a ``value`` that is not a tuple of ``kind``, naming it ``what``."""
    if not isinstance(value, tuple) or not all(isinstance(v, kind) for v in value):
        raise ArgumentTypeError(f"{what} must be a tuple of {kind}")


def check_tags(what: str, fields: object) -> None:
    """Refuse tagged fields that are not a tuple of :class:`TaggedField` in
    strictly increasing tag order."""
    if fields == ():
        return  # nearly every message: no tagged field
    check_tuple(what, fields, TaggedField)
    assert isinstance(fields, tuple)
    tags = [field.tag for field in fields]
    if any(b <= a for a, b in itertools.pairwise(tags)):
        raise ConfigurationError(f"{what} must have strictly increasing tags")
