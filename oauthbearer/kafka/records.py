"""Kafka's record batches (magic v2): the ``records`` that Produce sends and Fetch returns.

Theory of operation
-------------------
A Produce request and a Fetch response carry each partition's records as one
opaque field of type ``records`` (NULLABLE_BYTES, COMPACT_NULLABLE_BYTES in
flexible versions); :mod:`oauthbearer.kafka.protocol` keeps it as bytes, and this
module reads and writes what is inside: zero or more record batches of Kafka's
format v2 (KIP-98; the protocol guide's "Record Batch", ``DefaultRecordBatch``
and ``DefaultRecord`` in Kafka's clients)::

    baseOffset INT64 | batchLength INT32 | partitionLeaderEpoch INT32 | magic INT8 = 2
    | crc UINT32 | attributes INT16 | lastOffsetDelta INT32 | baseTimestamp INT64
    | maxTimestamp INT64 | producerId INT64 | producerEpoch INT16 | baseSequence INT32
    | recordCount INT32 | records

    record: length VARINT | attributes INT8 | timestampDelta VARLONG | offsetDelta VARINT
            | keyLength VARINT | key | valueLength VARINT | value | headerCount VARINT | headers
    header: keyLength VARINT | key (UTF-8) | valueLength VARINT | value

``batchLength`` counts the bytes after itself. ``crc`` is the CRC-32C
(Castagnoli; RFC 3720, appendix B.4) of every byte from ``attributes`` to the end
of the batch, computed here in pure Python by :func:`crc32c`. The low three bits
of ``attributes`` name the codec of the records section that follows the 61-byte
header (the record count stays outside it); bit 3 is the timestamp type, bit 4
marks a transactional batch, bit 5 a control batch, bit 6 a delete horizon. A
length of -1 is null (a key, a value, a header's value). Offsets and timestamps
of the records are deltas from the batch's base.

Decoding is as strict as Kafka's broker, which checks the magic byte, the CRC,
the batch and record lengths and the record count, and stricter in one place:
a header key that is not UTF-8 is refused (Java substitutes U+FFFD). Each
refusal is a :class:`~oauthbearer.kafka.MalformedFrame` with
``CORRUPT_MESSAGE`` and a code of :class:`~oauthbearer.errors.FrameReason`
(``unsupported-magic``, ``crc-mismatch``, ``unsupported-compression``,
``invalid-compressed-data``, ``invalid-record``, and the primitive types' own).
Its offset counts from the start of the bytes decoded, or, inside a
compressed batch, from the start of its decompressed records.

This module reads and writes batches that are uncompressed or gzip-compressed
(``zlib``, in the standard library); snappy, lz4 and zstd need libraries beyond
the standard one and are refused (``unsupported-compression``). Kafka 4 no
longer writes message formats v0 and v1 (KIP-724), and this module does not
read them (``unsupported-magic``).

A Fetch response may end with the first part of a batch that did not fit in
the response's byte limit (KIP-74); Kafka's consumer drops that part, and so
does :func:`decode_record_batches` with ``allow_partial=True``.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import zlib
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.kafka._wire import ErrorCode, Reader, Writer
from oauthbearer.kafka.protocol import SOCKET_REQUEST_MAX_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Self

__all__ = [
    "MAX_DECOMPRESSED_SIZE",
    "RECORD_BATCH_OVERHEAD",
    "Compression",
    "Record",
    "RecordBatch",
    "RecordHeader",
    "TimestampType",
    "crc32c",
    "decode_record_batches",
    "encode_record_batches",
]

#: The only record batch format (``magic``) this module speaks.
_RECORD_BATCH_MAGIC: Final = 2

#: A batch's fixed part: the 61 bytes from ``baseOffset`` to ``recordCount``.
RECORD_BATCH_OVERHEAD: Final = 61

#: The most a compressed batch's records may inflate to: 100 MiB, Kafka's
#: ``socket.request.max.bytes``, the largest request its broker reads. Without a
#: bound, a few KiB of gzip can claim gigabytes (a decompression bomb).
MAX_DECOMPRESSED_SIZE: Final = SOCKET_REQUEST_MAX_BYTES

#: ``baseOffset`` and ``batchLength``: what precedes the counted bytes.
_LOG_OVERHEAD: Final = 12
#: The smallest ``batchLength``: a batch of no records.
_MIN_BATCH_LENGTH: Final = RECORD_BATCH_OVERHEAD - _LOG_OVERHEAD
#: Where the CRC's bytes start, counted from the batch's first byte.
_CRC_START: Final = 21
#: The fewest bytes a record takes: seven one-byte fields (length, attributes,
#: timestamp delta, offset delta, key length, value length, header count).
_MIN_RECORD_SIZE: Final = 7
#: The fewest bytes a header takes: its key length and its value length.
_MIN_HEADER_SIZE: Final = 2

#: The attributes' bits (``DefaultRecordBatch``).
_COMPRESSION_MASK: Final = 0x07
_TIMESTAMP_TYPE_BIT: Final = 0x08
_TRANSACTIONAL_BIT: Final = 0x10
_CONTROL_BIT: Final = 0x20
_DELETE_HORIZON_BIT: Final = 0x40

#: gzip's framing for zlib's inflater (``wbits`` 16 + 15): any gzip header.
_GZIP_WBITS: Final = 31
#: The gzip header Java's GZIPOutputStream writes (RFC 1952): no flags, no
#: modification time, no extra flags, operating system 255 ("unknown").
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: Kafka's gzip level: Java's Deflater.DEFAULT_COMPRESSION, which is zlib's 6.
_GZIP_LEVEL: Final = 6

_INT8: Final = (-(1 << 7), (1 << 7) - 1)
_INT16: Final = (-(1 << 15), (1 << 15) - 1)
_INT32: Final = (-(1 << 31), (1 << 31) - 1)
_INT64: Final = (-(1 << 63), (1 << 63) - 1)


class Compression(enum.IntEnum):
    """The codec of a batch's records: the attributes' low three bits."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


#: The codecs this module reads and writes.
_SPOKEN: Final = frozenset({Compression.NONE, Compression.GZIP})


class TimestampType(enum.IntEnum):
    """Whose clock stamped a batch: the producer's or the broker's (attributes bit 3)."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


# --- CRC-32C ----------------------------------------------------------------------

#: CRC-32C's polynomial, bit-reversed (RFC 3720, appendix B.4: 0x1EDC6F41).
_CASTAGNOLI: Final = 0x82F63B78


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_CASTAGNOLI if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """The CRC-32C of ``data`` (continuing from ``crc``, a previous result), as
    Kafka's ``Crc32C`` computes it over a record batch: ``crc32c(b"123456789")``
    is ``0xE3069283``, the check value of RFC 3720."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError("crc32c() takes bytes")
    table = _CRC_TABLE
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- Values -------------------------------------------------------------------------


def _check_int(what: str, value: object, bounds: tuple[int, int]) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(f"{what} must be an int")
    if not bounds[0] <= value <= bounds[1]:
        raise ConfigurationError(f"{what} must be in [{bounds[0]}, {bounds[1]}], not {value}")


def _check_optional_bytes(what: str, value: object) -> None:
    if value is not None and not isinstance(value, bytes):
        raise ArgumentTypeError(f"{what} must be bytes or None")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecordHeader:
    """One header of a record: a UTF-8 key and a value that may be null."""

    key: str
    value: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str):
            raise ArgumentTypeError("RecordHeader.key must be a string")
        try:
            self.key.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError("RecordHeader.key holds a lone surrogate") from None
        _check_optional_bytes("RecordHeader.value", self.value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One record of a batch. ``offset_delta`` and ``timestamp_delta`` count from
    the batch's base offset and base timestamp; ``attributes`` is unused by
    Kafka (written 0) and kept as read."""

    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[RecordHeader, ...] = ()
    offset_delta: int = 0
    timestamp_delta: int = 0
    attributes: int = 0

    def __post_init__(self) -> None:
        _check_optional_bytes("Record.key", self.key)
        _check_optional_bytes("Record.value", self.value)
        if not isinstance(self.headers, tuple) or not all(
            isinstance(h, RecordHeader) for h in self.headers
        ):
            raise ArgumentTypeError("Record.headers must be a tuple of RecordHeader")
        _check_int("Record.offset_delta", self.offset_delta, _INT32)
        _check_int("Record.timestamp_delta", self.timestamp_delta, _INT64)
        _check_int("Record.attributes", self.attributes, _INT8)

    def _write(self, out: Writer) -> None:
        body = Writer()
        body.int8(self.attributes)
        body.varlong(self.timestamp_delta, "timestampDelta")
        body.varint(self.offset_delta, "offsetDelta")
        _write_varbytes(body, self.key, "key")
        _write_varbytes(body, self.value, "value")
        body.varint(len(self.headers), "headerCount")
        for header in self.headers:
            _write_varbytes(body, header.key.encode("utf-8"), "header key")
            _write_varbytes(body, header.value, "header value")
        payload = body.getvalue()
        out.varint(len(payload), "record length")
        out.raw(payload)

    @classmethod
    def _read(cls, reader: Reader, end: int) -> Self:
        start = reader.offset
        length = reader.varint("record length")
        body = reader.offset
        if length < 0 or body + length > end:
            reader.fail(
                "invalid-record",
                f"record length {length} does not fit in the {end - body} bytes left",
                offset=start,
            )
        attributes = reader.int8("record attributes")
        timestamp_delta = reader.varlong("timestampDelta")
        offset_delta = reader.varint("offsetDelta")
        key = _read_varbytes(reader, "key")
        value = _read_varbytes(reader, "value")
        at = reader.offset
        count = reader.varint("headerCount")
        if count < 0 or count * _MIN_HEADER_SIZE > body + length - reader.offset:
            reader.fail("invalid-length", f"the record claims {count} headers", offset=at)
        headers = tuple(_read_header(reader) for _ in range(count))
        if reader.offset != body + length:
            reader.fail(
                "invalid-record",
                f"record length {length} disagrees with its fields ({reader.offset - body} bytes)",
                offset=start,
            )
        return cls(
            key=key,
            value=value,
            headers=headers,
            offset_delta=offset_delta,
            timestamp_delta=timestamp_delta,
            attributes=attributes,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecordBatch:
    """One record batch, format v2.

    ``attributes`` holds the codec and the flags as on the wire (see
    :attr:`compression`, :attr:`timestamp_type`, :attr:`is_transactional`,
    :attr:`is_control`); only :data:`Compression.NONE` and ``GZIP`` can be
    encoded and decoded. ``last_offset_delta`` is stored, not derived: a
    compacted batch keeps its original one. :meth:`of` builds a batch for
    producing; :meth:`encode` writes it, length and CRC included.
    """

    records: tuple[Record, ...] = ()
    base_offset: int = 0
    partition_leader_epoch: int = -1
    attributes: int = 0
    last_offset_delta: int = -1
    base_timestamp: int = -1
    max_timestamp: int = -1
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.records, tuple) or not all(
            isinstance(r, Record) for r in self.records
        ):
            raise ArgumentTypeError("RecordBatch.records must be a tuple of Record")
        for name, bounds in (
            ("base_offset", _INT64),
            ("partition_leader_epoch", _INT32),
            ("attributes", _INT16),
            ("last_offset_delta", _INT32),
            ("base_timestamp", _INT64),
            ("max_timestamp", _INT64),
            ("producer_id", _INT64),
            ("producer_epoch", _INT16),
            ("base_sequence", _INT32),
        ):
            _check_int(f"RecordBatch.{name}", getattr(self, name), bounds)
        codec = self.attributes & _COMPRESSION_MASK
        if codec not in _SPOKEN:
            raise ConfigurationError(
                f"RecordBatch compression {codec} is not one this module writes (none, gzip)"
            )

    @classmethod
    def of(
        cls,
        records: Iterable[Record],
        *,
        timestamp_ms: int,
        compression: Compression = Compression.NONE,
        base_offset: int = 0,
    ) -> Self:
        """A batch for a Produce request: ``records`` numbered 0, 1, ... in the
        order given (their ``offset_delta`` is set), stamped ``timestamp_ms`` plus
        each one's ``timestamp_delta``, by a producer that is neither idempotent
        nor transactional. The broker assigns the offsets."""
        numbered = tuple(
            dataclasses.replace(record, offset_delta=i) for i, record in enumerate(records)
        )
        deltas = [record.timestamp_delta for record in numbered]
        return cls(
            records=numbered,
            base_offset=base_offset,
            attributes=int(Compression(compression)),
            last_offset_delta=len(numbered) - 1,
            base_timestamp=timestamp_ms,
            max_timestamp=timestamp_ms + max(deltas, default=0),
        )

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & _COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        return TimestampType(bool(self.attributes & _TIMESTAMP_TYPE_BIT))

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        """A control batch holds transaction markers, not application records."""
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & _DELETE_HORIZON_BIT)

    @property
    def next_offset(self) -> int:
        """The offset after this batch's last: where the next fetch starts."""
        return self.base_offset + self.last_offset_delta + 1

    def with_offsets(self) -> Iterator[tuple[int, Record]]:
        """Each record with its absolute offset."""
        for record in self.records:
            yield self.base_offset + record.offset_delta, record

    def encode(self) -> bytes:
        """The batch on the wire: header, length, CRC-32C and records."""
        tail = Writer()
        tail.int16(self.attributes)
        tail.int32(self.last_offset_delta)
        tail.int64(self.base_timestamp)
        tail.int64(self.max_timestamp)
        tail.int64(self.producer_id)
        tail.int16(self.producer_epoch)
        tail.int32(self.base_sequence)
        tail.int32(len(self.records))
        records = Writer()
        for record in self.records:
            record._write(records)
        section = records.getvalue()
        if self.compression is Compression.GZIP:
            section = _gzip(section)
        tail.raw(section)
        counted = tail.getvalue()
        head = Writer()
        head.int64(self.base_offset)
        head.int32(len(counted) + _CRC_START - _LOG_OVERHEAD, "batchLength")
        head.int32(self.partition_leader_epoch)
        head.int8(_RECORD_BATCH_MAGIC)
        head.raw(crc32c(counted).to_bytes(4, "big"))
        return head.getvalue() + counted


def encode_record_batches(batches: Sequence[RecordBatch]) -> bytes:
    """The ``records`` field of a Produce request (or a Fetch response): the batches, one
    after another."""
    return b"".join(batch.encode() for batch in batches)


def decode_record_batches(
    data: bytes,
    *,
    allow_partial: bool = False,
    max_decompressed_size: int = MAX_DECOMPRESSED_SIZE,
) -> tuple[RecordBatch, ...]:
    """The record batches of a ``records`` field; raises
    :class:`~oauthbearer.kafka.MalformedFrame`
    (``CORRUPT_MESSAGE``) and nothing else.

    With ``allow_partial``, the first part of a batch at the end (a Fetch
    response cut at its byte limit) is dropped, as Kafka's consumer drops it;
    without it, that is ``truncated``. A compressed batch may inflate to at most
    ``max_decompressed_size`` bytes (``too-large``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError("decode_record_batches() takes bytes")
    _check_int("max_decompressed_size", max_decompressed_size, (0, _INT64[1]))
    data = bytes(data)
    reader = Reader(data, error_code=ErrorCode.CORRUPT_MESSAGE)
    batches = []
    while reader.remaining:
        start = reader.offset
        if reader.remaining < _LOG_OVERHEAD:
            if allow_partial:
                break
            reader.fail(
                "truncated", f"a batch needs {_LOG_OVERHEAD} bytes, {reader.remaining} left"
            )
        base_offset = reader.int64("baseOffset")
        length = reader.int32("batchLength")
        if length < _MIN_BATCH_LENGTH:
            reader.fail(
                "invalid-length",
                f"batchLength {length} is shorter than a batch header ({_MIN_BATCH_LENGTH})",
                offset=start + 8,
            )
        if length > reader.remaining:
            if allow_partial:
                break
            reader.fail("truncated", f"the batch needs {length} bytes, {reader.remaining} left")
        end = reader.offset + length
        batches.append(_read_batch(reader, data, base_offset, end, max_decompressed_size))
    return tuple(batches)


# --- Reading ------------------------------------------------------------------------


def _read_batch(reader: Reader, data: bytes, base_offset: int, end: int, limit: int) -> RecordBatch:
    """The rest of a batch whose ``baseOffset`` and ``batchLength`` were read;
    it ends at ``end`` in ``data``, which ``reader`` reads."""
    epoch = reader.int32("partitionLeaderEpoch")
    magic = reader.int8("magic")
    if magic != _RECORD_BATCH_MAGIC:
        reader.fail(
            "unsupported-magic",
            f"record batch magic {magic}: only v2 is read (Kafka 4 writes no other)",
            offset=reader.offset - 1,
        )
    crc_at = reader.offset
    stored = int.from_bytes(reader.raw(4, "crc"), "big")
    computed = crc32c(data[reader.offset : end])
    if computed != stored:
        reader.fail(
            "crc-mismatch",
            f"the batch's CRC-32C is {stored:#010x}, its bytes give {computed:#010x}",
            offset=crc_at,
        )
    attributes = reader.int16("attributes")
    codec = attributes & _COMPRESSION_MASK
    if codec not in _SPOKEN:
        name = Compression(codec).name.lower() if codec in set(Compression) else str(codec)
        reader.fail(
            "unsupported-compression",
            f"the batch is compressed with {name}; only none and gzip are read",
            offset=reader.offset - 2,
        )
    last_offset_delta = reader.int32("lastOffsetDelta")
    base_timestamp = reader.int64("baseTimestamp")
    max_timestamp = reader.int64("maxTimestamp")
    producer_id = reader.int64("producerId")
    producer_epoch = reader.int16("producerEpoch")
    base_sequence = reader.int32("baseSequence")
    count_at = reader.offset
    count = reader.int32("recordCount")
    if codec == Compression.NONE:
        records = _read_records(reader, count, count_at, end)
    else:
        section = reader.raw(end - reader.offset, "records")
        inflated = _gunzip(section, limit, reader, at=end - len(section))
        inner = Reader(inflated, error_code=ErrorCode.CORRUPT_MESSAGE)
        records = _read_records(inner, count, None, len(inflated))
    return RecordBatch(
        records=records,
        base_offset=base_offset,
        partition_leader_epoch=epoch,
        attributes=attributes,
        last_offset_delta=last_offset_delta,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def _read_records(reader: Reader, count: int, count_at: int | None, end: int) -> tuple[Record, ...]:
    """``count`` records from ``reader``, which must end exactly at ``end``."""
    if count < 0 or count * _MIN_RECORD_SIZE > end - reader.offset:
        reader.fail(
            "invalid-length",
            f"the batch claims {count} records in {end - reader.offset} bytes",
            offset=count_at,
        )
    records = tuple(Record._read(reader, end) for _ in range(count))
    if reader.offset != end:
        reader.fail("trailing-data", f"{end - reader.offset} bytes follow the batch's last record")
    return records


def _gunzip(section: bytes, limit: int, reader: Reader, *, at: int) -> bytes:
    """A gzip-compressed records section, inflated to at most ``limit`` bytes."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        inflated = inflater.decompress(section, limit + 1)
    except zlib.error as err:
        reader.fail("invalid-compressed-data", f"the gzip stream is corrupt ({err})", offset=at)
    if len(inflated) > limit:
        reader.fail("too-large", f"the records inflate to more than {limit} bytes", offset=at)
    if not inflater.eof or inflater.unused_data:
        reader.fail(
            "invalid-compressed-data",
            "the gzip stream ends early" if not inflater.eof else "bytes follow the gzip stream",
            offset=at,
        )
    return inflated


def _gzip(data: bytes) -> bytes:
    """``data`` gzip-compressed byte for byte as Kafka's producer does it
    (``GZIPOutputStream``: the header above, raw deflate, CRC-32 and size)."""
    deflater = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflater.compress(data) + deflater.flush()
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(
        4, "little"
    )
    return _GZIP_HEADER + body + trailer


def _read_varbytes(reader: Reader, what: str) -> bytes | None:
    at = reader.offset
    length = reader.varint(f"{what} length")
    if length == -1:
        return None
    if length < 0:
        reader.fail("invalid-length", f"{what} has length {length}", offset=at)
    return reader.raw(length, what)


def _read_header(reader: Reader) -> RecordHeader:
    at = reader.offset
    raw = _read_varbytes(reader, "header key")
    if raw is None:
        reader.fail("invalid-length", "a header key is null", offset=at)
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        reader.fail(
            "invalid-utf8", "a header key is not UTF-8", offset=reader.offset - len(raw) + err.start
        )
    return RecordHeader(key=key, value=_read_varbytes(reader, "header value"))


def _write_varbytes(writer: Writer, value: bytes | None, what: str) -> None:
    if value is None:
        writer.varint(-1, f"{what} length")
        return
    writer.varint(len(value), f"{what} length")
    writer.raw(value)
