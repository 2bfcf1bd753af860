"""Record batches (format v2): CRC-32C, Kafka's own bytes, round trips, totality,
and Kafka's verdicts.

The vectors are Kafka's: ``MemoryRecordsBuilder`` (Kafka 4.4.0) wrote them, through
tests/interop/kafka/RecordBatchVectors.java. The differential tests run that
program on every case, once per pinned Kafka version: Kafka writes byte for byte
what we write, uncompressed and gzip-compressed; Kafka's consumer reads what we
write as we read it; and where bytes are damaged, Kafka's consumer and
:func:`decode_record_batches` refuse the same inputs.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer.errors import ConfigurationError, FrameReason
from oauthbearer.kafka import (
    RECORD_BATCH_OVERHEAD,
    Compression,
    ErrorCode,
    MalformedFrame,
    Record,
    RecordBatch,
    RecordHeader,
    TimestampType,
    crc32c,
    decode_record_batches,
    encode_record_batches,
)
from oauthbearer.testing.strategies import drawn
from tests.real_kafka import LIB_DIR, JavaProgram, java_program, selected_version

if TYPE_CHECKING:
    from collections.abc import Sequence

SOURCE: Final = Path(__file__).parent / "interop" / "kafka" / "RecordBatchVectors.java"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", " "))


# --- CRC-32C -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        # RFC 3720, appendix B.4, and the check value of the CRC catalogues.
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"123456789", 0xE3069283),
        (b"", 0),
    ],
)
def test_crc32c_vectors(data: bytes, crc: int) -> None:
    assert crc32c(data) == crc


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_crc32c_continues(first: bytes, second: bytes) -> None:
    assert crc32c(second, crc32c(first)) == crc32c(first + second)


# --- Kafka's bytes --------------------------------------------------------------------

#: Two records (key "k1", value "v1", header "h1" with a null value; then a null
#: key, value "v2", 5 ms later), as Kafka 4.4.0's MemoryRecordsBuilder writes them.
KAFKA_BATCH: Final = h(
    "0000000000000000 | 00000049 | ffffffff | 02 | 4c665591 | 0000 | 00000001"
    " | 0000018bcfe56800 | 0000018bcfe56805 | ffffffffffffffff | ffff | ffffffff | 00000002"
    " | 1c 00 00 00 04 6b31 04 7631 02 04 6831 01"
    " | 10 00 0a 02 01 04 7632 00"
)
#: One record (null key, empty value) at 5 ms, gzip-compressed by Kafka 4.4.0.
KAFKA_GZIP_BATCH: Final = h(
    "0000000000000000 | 0000004c | ffffffff | 02 | 03f4886b | 0001 | 00000000"
    " | 0000000000000005 | 0000000000000005 | ffffffffffffffff | ffff | ffffffff | 00000001"
    " | 1f8b08000000000000ff e361606060646000 003ddf0e 5b070000 00"
)
#: The same, snappy-compressed: a codec this module does not read.
KAFKA_SNAPPY_BATCH: Final = h(
    "00000000000000000000004effffffff027b066aa000020000000000000000000000050000000000000005"
    "ffffffffffffffffffffffffffff0000000182534e415050590000000001000000010000000907180c0000"
    "00010000"
)
TWO_RECORDS: Final = RecordBatch.of(
    [
        Record(key=b"k1", value=b"v1", headers=(RecordHeader(key="h1"),)),
        Record(value=b"v2", timestamp_delta=5),
    ],
    timestamp_ms=1_700_000_000_000,
)
GZIPPED: Final = RecordBatch.of([Record(value=b"")], timestamp_ms=5, compression=Compression.GZIP)


def test_kafkas_batches_are_ours_byte_for_byte() -> None:
    assert TWO_RECORDS.encode() == KAFKA_BATCH
    assert decode_record_batches(KAFKA_BATCH) == (TWO_RECORDS,)
    assert GZIPPED.encode() == KAFKA_GZIP_BATCH
    assert decode_record_batches(KAFKA_GZIP_BATCH) == (GZIPPED,)


def test_a_batch_reads_as_kafka_describes_it() -> None:
    (batch,) = decode_record_batches(KAFKA_BATCH + b"")
    assert batch.compression is Compression.NONE
    assert batch.timestamp_type is TimestampType.CREATE_TIME
    assert (batch.is_transactional, batch.is_control, batch.has_delete_horizon) == (False,) * 3
    assert batch.next_offset == 2
    assert [(offset, r.key) for offset, r in batch.with_offsets()] == [(0, b"k1"), (1, None)]
    assert batch.max_timestamp == batch.base_timestamp + 5
    moved = dataclasses.replace(batch, base_offset=40)
    assert [offset for offset, _ in moved.with_offsets()] == [40, 41]
    assert moved.next_offset == 42
    assert len(KAFKA_BATCH) == RECORD_BATCH_OVERHEAD + 15 + 9  # two records


def test_of_numbers_the_records_and_stamps_the_batch() -> None:
    batch = RecordBatch.of(
        [Record(value=b"a", offset_delta=9), Record(value=b"b", timestamp_delta=-3)],
        timestamp_ms=100,
    )
    assert [r.offset_delta for r in batch.records] == [0, 1]
    assert (batch.base_timestamp, batch.max_timestamp, batch.last_offset_delta) == (100, 100, 1)
    assert RecordBatch.of([], timestamp_ms=7).last_offset_delta == -1


def test_values_check_themselves() -> None:
    with pytest.raises(ConfigurationError, match="compression 2"):
        RecordBatch(attributes=Compression.SNAPPY)
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        RecordHeader(key="\ud800")
    with pytest.raises(ConfigurationError, match="offset_delta"):
        Record(offset_delta=1 << 31)
    with pytest.raises(TypeError, match=r"Record\.key"):
        Record(key="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple of Record"):
        RecordBatch(records=[Record()])  # type: ignore[arg-type]


# --- Refusals, each with its reason ---------------------------------------------------


def _with_crc(batch: bytes) -> bytes:
    """``batch`` with its CRC-32C made right again (after a change past it)."""
    return batch[:17] + crc32c(batch[21:]).to_bytes(4, "big") + batch[21:]


def _changed(batch: bytes, at: int, new: bytes) -> bytes:
    return _with_crc(batch[:at] + new + batch[at + len(new) :])


def _gzip_batch(section: bytes, count: int = 1) -> bytes:
    header = bytearray(KAFKA_GZIP_BATCH[:RECORD_BATCH_OVERHEAD])
    header[8:12] = (RECORD_BATCH_OVERHEAD - 12 + len(section)).to_bytes(4, "big")
    header[57:61] = count.to_bytes(4, "big")
    return _with_crc(bytes(header) + section)


def _deflated(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
    return deflater.compress(data) + deflater.flush()


REFUSALS: Final = [
    ("truncated", KAFKA_BATCH[:11], 0),
    ("truncated", KAFKA_BATCH[:-1], 12),
    ("invalid-length", KAFKA_BATCH[:8] + h("00000030") + KAFKA_BATCH[12:], 8),
    ("unsupported-magic", KAFKA_BATCH[:16] + b"\x01" + KAFKA_BATCH[17:], 16),
    ("crc-mismatch", KAFKA_BATCH[:-1] + b"\x01", 17),
    ("unsupported-compression", KAFKA_SNAPPY_BATCH, 21),
    ("unsupported-compression", _changed(KAFKA_BATCH, 22, b"\x07"), 21),
    # The record count: negative, or more records than the bytes could hold.
    ("invalid-length", _changed(KAFKA_BATCH, 57, h("ffffffff")), 57),
    ("invalid-length", _changed(KAFKA_BATCH, 57, h("00000100")), 57),
    # One record fewer than there are: the second is left over.
    ("trailing-data", _changed(KAFKA_BATCH, 57, h("00000001")), 76),
    # The first record's length says 15 bytes, its fields take 14.
    ("invalid-record", _changed(KAFKA_BATCH, 61, h("1e")), 61),
    # ... or runs past the batch.
    ("invalid-record", _changed(KAFKA_BATCH, 61, h("7e")), 61),
    # A header key of length -2, then one that is not UTF-8.
    ("invalid-length", _changed(KAFKA_BATCH, 72, h("03")), 72),
    ("invalid-utf8", _changed(KAFKA_BATCH, 73, h("ff")), 73),
    # A negative header count.
    ("invalid-length", _changed(KAFKA_BATCH, 71, h("01")), 71),
    # gzip: corrupt, cut short, followed by bytes.
    ("invalid-compressed-data", _gzip_batch(b"\x1f\x8b\x08\x00garbage"), RECORD_BATCH_OVERHEAD),
    ("invalid-compressed-data", _gzip_batch(_deflated(b"\x0c\x00\x00\x00\x01\x00\x00")[:-4]), 61),
    ("invalid-compressed-data", _gzip_batch(_deflated(b"\x0c\x00\x00\x00\x01\x00\x00") + b"!"), 61),
]


@pytest.mark.parametrize(("reason", "data", "offset"), REFUSALS)
def test_refusals(reason: str, data: bytes, offset: int) -> None:
    with pytest.raises(MalformedFrame) as info:
        decode_record_batches(data)
    assert (info.value.reason, info.value.offset) == (reason, offset), str(info.value)
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
    assert info.value.reason is FrameReason(reason)


def test_a_decompression_bomb_is_refused_at_the_limit() -> None:
    section = _deflated(b"\x00" * 10_000)
    assert len(section) < 100
    with pytest.raises(MalformedFrame) as info:
        decode_record_batches(_gzip_batch(section), max_decompressed_size=9_999)
    assert info.value.reason == "too-large"
    # At the limit it is read (and then judged: 10,000 zero bytes are not a record).
    with pytest.raises(MalformedFrame) as info:
        decode_record_batches(_gzip_batch(section), max_decompressed_size=10_000)
    assert info.value.reason != "too-large"


def test_every_batch_reason_is_raised_here() -> None:
    batch_reasons = {
        "unsupported-magic",
        "crc-mismatch",
        "unsupported-compression",
        "invalid-compressed-data",
        "invalid-record",
    }
    assert batch_reasons <= {reason for reason, _, _ in REFUSALS}
    assert batch_reasons <= set(FrameReason)


# --- A Fetch response cut at its byte limit ----------------------------------------------


def test_a_partial_last_batch_is_dropped_only_when_allowed() -> None:
    stream = encode_record_batches([TWO_RECORDS, GZIPPED, TWO_RECORDS])
    ends = [0, len(KAFKA_BATCH), len(KAFKA_BATCH) + len(KAFKA_GZIP_BATCH), len(stream)]
    for cut in range(len(stream) + 1):
        whole = sum(end <= cut for end in ends) - 1
        got = decode_record_batches(stream[:cut], allow_partial=True)
        assert got == (TWO_RECORDS, GZIPPED, TWO_RECORDS)[:whole]
        if cut not in ends:
            with pytest.raises(MalformedFrame) as info:
                decode_record_batches(stream[:cut])
            assert info.value.reason == "truncated"


# --- Round trips and totality (hypothesis) ------------------------------------------------

int8s = st.integers(-(2**7), 2**7 - 1)
int16s = st.integers(-(2**15), 2**15 - 1)
int32s = st.integers(-(2**31), 2**31 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)
headers = st.builds(RecordHeader, key=st.text(max_size=6), value=st.none() | st.binary(max_size=6))
records = st.builds(
    Record,
    key=st.none() | st.binary(max_size=8),
    value=st.none() | st.binary(max_size=12),
    headers=st.lists(headers, max_size=2).map(tuple),
    offset_delta=int32s,
    timestamp_delta=int64s,
    attributes=int8s,
)
batches = st.builds(
    RecordBatch,
    records=st.lists(records, max_size=4).map(tuple),
    base_offset=int64s,
    partition_leader_epoch=int32s,
    # Any flags, and one of the two codecs spoken.
    attributes=st.tuples(int16s, st.sampled_from([0, 1])).map(lambda p: p[0] & ~7 | p[1]),
    last_offset_delta=int32s,
    base_timestamp=int64s,
    max_timestamp=int64s,
    producer_id=int64s,
    producer_epoch=int16s,
    base_sequence=int32s,
)


@settings(max_examples=200)
@given(st.lists(batches, max_size=3))
def test_round_trip(values: list[RecordBatch]) -> None:
    wire = encode_record_batches(values)
    assert decode_record_batches(wire) == tuple(values)
    assert encode_record_batches(decode_record_batches(wire)) == wire


def _judged(data: bytes) -> None:
    try:
        decode_record_batches(data, allow_partial=True)
    except MalformedFrame as err:
        assert err.reason in FrameReason
        assert err.error_code == ErrorCode.CORRUPT_MESSAGE
        assert err.offset is not None


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_any_bytes_give_batches_or_our_error(data: bytes) -> None:
    _judged(data)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid batch with a few bytes changed past its CRC, the CRC made right
    again: what is judged is the structure, not the checksum."""
    wire = bytearray(draw(batches).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(21, len(wire) - 1))
        wire[at] = draw(st.integers(0, 255))
    return _with_crc(bytes(wire))


@settings(max_examples=300)
@given(damaged())
def test_damaged_batches_give_batches_or_our_error(data: bytes) -> None:
    _judged(data)


# --- Kafka's verdicts (the differential) --------------------------------------------------


@pytest.fixture(scope="module")
def kafka_records(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    """RecordBatchVectors.java, compiled against the selected Kafka's jars (whose
    record classes moved to ``...record.internal`` in Kafka 4.4)."""
    version = selected_version()
    build = tmp_path_factory.mktemp("record-batches")
    source = SOURCE.read_text(encoding="utf-8")
    clients = LIB_DIR / version / f"kafka-clients-{version}.jar"
    if clients.is_file() and not _has_internal_records(clients):
        source = "\n".join(line for line in source.splitlines() if ".record.internal." not in line)
    copy = build / "src" / SOURCE.name
    copy.parent.mkdir()
    copy.write_text(source, encoding="utf-8")
    return java_program(copy, version, build / "classes")


def _has_internal_records(jar: Path) -> bool:
    import zipfile

    with zipfile.ZipFile(jar) as archive:
        return "org/apache/kafka/common/record/internal/RecordBatch.class" in archive.namelist()


def _ask_kafka(program: JavaProgram, lines: Sequence[str]) -> list[str]:
    done = program.run(stdin="".join(f"{line}\n" for line in lines), timeout_s=300)
    assert done.returncode == 0, done.stderr[-4000:]
    answers = done.stdout.splitlines()
    assert len(answers) == len(lines), done.stderr[-4000:]
    return answers


def _hex(value: bytes | None) -> str:
    if value is None:
        return "-"
    return value.hex() or "="


#: What Kafka's builder takes: each record's absolute timestamp, key, value, headers.
written = st.lists(
    st.tuples(
        st.integers(0, 2**41),
        st.none() | st.binary(max_size=8),
        st.none() | st.binary(max_size=12),
        st.lists(st.tuples(st.text(max_size=4), st.none() | st.binary(max_size=4)), max_size=2),
    ),
    min_size=1,
    max_size=5,
)


@pytest.mark.kafka_differential
def test_kafka_writes_what_we_write(kafka_records: JavaProgram) -> None:
    cases = [
        (compression, spec)
        for spec in drawn(written, 60, seed=15)
        for compression in (Compression.NONE, Compression.GZIP)
    ]
    lines = []
    for compression, spec in cases:
        fields = [f"W {compression.name.lower()} {len(spec)}"]
        for timestamp, key, value, record_headers in spec:
            fields.append(f"{timestamp} {_hex(key)} {_hex(value)} {len(record_headers)}")
            fields += [f"{_hex(k.encode())} {_hex(v)}" for k, v in record_headers]
        lines.append(" ".join(fields))
    for (compression, spec), answer in zip(cases, _ask_kafka(kafka_records, lines), strict=True):
        first = spec[0][0]
        ours = RecordBatch.of(
            [
                Record(
                    key=key,
                    value=value,
                    headers=tuple(RecordHeader(key=k, value=v) for k, v in record_headers),
                    timestamp_delta=timestamp - first,
                )
                for timestamp, key, value, record_headers in spec
            ],
            timestamp_ms=first,
            compression=compression,
        )
        assert answer == f"OK {ours.encode().hex()}", (compression, spec)


def _as_kafka_reads(data: bytes) -> str:
    """Kafka's program's line for ``data``, from our decoder."""
    try:
        found = decode_record_batches(data, allow_partial=True)
    except MalformedFrame:
        return "ERR"
    fields = [str(len(found))]
    for batch in found:
        fields += [
            str(batch.base_offset),
            str(batch.base_offset + batch.last_offset_delta),
            batch.compression.name.lower(),
            str(batch.producer_id),
            str(len(batch.records)),
        ]
        for offset, record in batch.with_offsets():
            timestamp = batch.base_timestamp + record.timestamp_delta
            if batch.timestamp_type is TimestampType.LOG_APPEND_TIME:
                timestamp = batch.max_timestamp  # the broker's stamp holds for every record
            fields += [
                str(offset),
                str(timestamp),
                _hex(record.key),
                _hex(record.value),
                str(len(record.headers)),
            ]
            for header in record.headers:
                fields += [_hex(header.key.encode()), _hex(header.value)]
    return "OK " + " ".join(fields)


#: Batches whose arithmetic stays inside Java's longs and ints as Kafka computes
#: it (offsets and timestamps are base plus delta), and that are not control
#: batches, whose records Kafka's consumer reads the same way but a producer
#: never writes.
readable = st.builds(
    RecordBatch,
    records=st.lists(
        st.builds(
            Record,
            key=st.none() | st.binary(max_size=8),
            value=st.none() | st.binary(max_size=12),
            headers=st.lists(headers, max_size=2).map(tuple),
            offset_delta=st.integers(0, 1000),
            timestamp_delta=st.integers(-1000, 1000),
            attributes=int8s,
        ),
        max_size=4,
    ).map(tuple),
    base_offset=st.integers(0, 2**40),
    attributes=st.sampled_from([0, 1, 0x08, 0x09, 0x10, 0x11, 0x40]),
    last_offset_delta=st.integers(0, 1000),
    base_timestamp=st.integers(0, 2**41),
    max_timestamp=st.integers(0, 2**41),
    producer_id=st.integers(-1, 2**40),
)


@st.composite
def damaged_readable(draw: st.DrawFn) -> bytes:
    wire = bytearray(draw(readable).encode())
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(57, len(wire) - 1))  # the record count and the records
        wire[at] = draw(st.integers(0, 255))
    return _with_crc(bytes(wire))


@pytest.mark.kafka_differential
def test_kafka_reads_and_refuses_what_we_read_and_refuse(kafka_records: JavaProgram) -> None:
    inputs = [
        KAFKA_BATCH,
        KAFKA_GZIP_BATCH,
        KAFKA_SNAPPY_BATCH,
        *(data for _, data, _ in REFUSALS),
        *(
            b"".join(b.encode() for b in found)
            for found in drawn(st.lists(readable, max_size=3), 80, seed=15)
        ),
        *drawn(damaged_readable(), 200, seed=15),
    ]
    answers = _ask_kafka(kafka_records, [f"R {data.hex() or '='}" for data in inputs])
    disagreements = []
    for data, answer in zip(inputs, answers, strict=True):
        ours = _as_kafka_reads(data)
        theirs = "ERR" if answer.startswith("ERR") else answer
        if ours != theirs and not _stricter_on_purpose(data):
            disagreements.append((data.hex(), ours[:200], answer[:200]))
    assert disagreements == [], "\n".join(map(str, disagreements))


#: Where we refuse on purpose what Kafka's consumer reads (measured here): a
#: header key that is not UTF-8 (Java substitutes U+FFFD); the codecs this module
#: does not read (snappy, lz4, zstd); and a gzip section that is not exactly one
#: valid gzip stream (Java's GZIPInputStream ignores what follows the first one,
#: and Kafka never inflates the section of a batch that claims no records).
STRICTER_ON_PURPOSE: Final = frozenset(
    {"invalid-utf8", "unsupported-compression", "invalid-compressed-data"}
)


def _stricter_on_purpose(data: bytes) -> bool:
    try:
        decode_record_batches(data, allow_partial=True)
    except MalformedFrame as err:
        return err.reason in STRICTER_ON_PURPOSE
    return False
