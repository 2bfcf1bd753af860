"""The Kafka wire codec at its edges: the primitive writer refuses what it cannot
write, messages refuse fields their version cannot carry, peer text is made safe
for a log line or a wire string, and the frame decoder's calls are checked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.kafka import (
    CONNECTION_CLOSED,
    MAX_STRING_LENGTH,
    SUPPORTED_VERSIONS,
    ZERO_UUID,
    ApiKey,
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
    MetadataRequest,
    MetadataResponse,
    MetadataTopic,
    RequestHeader,
    ResponseHeader,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    TaggedField,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    peer_text,
    wire_text,
)
from oauthbearer.kafka._wire import Reader, Writer

# --- the primitive writer -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda w: w.boolean(1), "BOOLEAN must be a bool"),
        (lambda w: w.uuid("00000000-0000-0000-0000-000000000000"), "UUID must be a uuid.UUID"),
        (lambda w: w.string(None), "STRING must be a string, not None"),
        (lambda w: w.compact_string(None), "COMPACT_STRING must be a string, not None"),
        (lambda w: w.string(b"x"), "STRING must be a string"),
        (lambda w: w.bytes_(None), "BYTES must be bytes, not None"),
        (lambda w: w.compact_bytes(None), "COMPACT_BYTES must be bytes, not None"),
        (lambda w: w.bytes_("x"), "BYTES must be bytes"),
        (lambda w: w.nullable_bytes(bytearray(b"x")), "NULLABLE_BYTES must be bytes"),
        (lambda w: w.array(None, Writer.int8, compact=False), "ARRAY must be a sequence, not None"),
        (lambda w: w.int16(True), "INT16 must be an int"),
        (lambda w: w.int32(1.0), "INT32 must be an int"),
    ],
)
def test_the_writer_refuses_what_it_cannot_write(write: Any, message: str) -> None:
    writer = Writer()
    with pytest.raises(ArgumentTypeError, match=f"^{message}"):
        write(writer)
    assert writer.getvalue() == b""  # nothing half-written


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda w: w.string("\ud800"), "STRING holds a lone surrogate"),
        (lambda w: w.string("x" * (MAX_STRING_LENGTH + 1)), "STRING is longer than 32767"),
        (lambda w: w.string("\u00e9" * (MAX_STRING_LENGTH // 2 + 1)), "STRING is longer than"),
    ],
)
def test_the_writer_refuses_text_a_kafka_string_cannot_carry(write: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{message}"):
        write(Writer())


def test_nulls_and_raw_bytes_are_written_as_kafka_reads_them() -> None:
    writer = Writer()
    writer.raw(b"\x00\x01")
    writer.nullable_string(None)
    writer.compact_nullable_string(None)
    writer.nullable_bytes(None)
    writer.compact_nullable_bytes(None)
    writer.array(None, Writer.int8, compact=True, nullable=True)
    writer.array(None, Writer.int8, compact=False, nullable=True)
    writer.boolean(True)
    writer.uuid(ZERO_UUID)
    data = writer.getvalue()
    reader = Reader(data)
    assert reader.int16() == 1
    assert reader.nullable_string() is None
    assert reader.compact_nullable_string() is None
    assert reader.nullable_bytes() is None
    assert reader.compact_nullable_bytes() is None
    assert reader.array(Reader.int8, compact=True, nullable=True) is None
    assert reader.array(Reader.int8, compact=False, nullable=True) is None
    assert reader.boolean() is True
    assert reader.uuid() == ZERO_UUID
    reader.finish()


@pytest.mark.parametrize(
    "build",
    [
        lambda: SaslAuthenticateRequest(auth_bytes="n,,\x01auth=Bearer t\x01\x01"),  # type: ignore[arg-type]
        lambda: SaslAuthenticateResponse(auth_bytes=bytearray(b"")),  # type: ignore[arg-type]
        lambda: Frame("data"),  # type: ignore[arg-type]
    ],
)
def test_auth_bytes_and_frames_hold_bytes(build: Any) -> None:
    with pytest.raises(ArgumentTypeError, match=r"(auth_bytes|Frame\.data) must be bytes$"):
        build()


def test_a_tagged_field_holds_bytes() -> None:
    with pytest.raises(ArgumentTypeError, match=r"^TaggedField\.data must be bytes$"):
        TaggedField(tag=0, data="x")  # type: ignore[arg-type]


# --- messages: fields each version can carry ------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: MetadataRequest(topic_ids=(ZERO_UUID,)), ConfigurationError, "zero UUID"),
        (
            lambda: MetadataRequest(topics=None, topic_ids=(uuid.uuid4(),)),
            ConfigurationError,
            "topics is None \\(every topic\\) with topic_ids",
        ),
        (
            lambda: MetadataRequest(allow_auto_topic_creation=1),  # type: ignore[arg-type]
            ArgumentTypeError,
            "allow_auto_topic_creation must be a bool",
        ),
        (
            lambda: MetadataRequest(include_topic_authorized_operations=None),  # type: ignore[arg-type]
            ArgumentTypeError,
            "include_topic_authorized_operations must be a bool",
        ),
        (lambda: MetadataRequest(topics=["a"]), ArgumentTypeError, "tuple of"),  # type: ignore[arg-type]
        (lambda: MetadataRequest(topic_ids=("id",)), ArgumentTypeError, "tuple of"),  # type: ignore[arg-type]
        (lambda: MetadataTopic(name="t", topic_id="id"), ArgumentTypeError, "must be a uuid.UUID"),  # type: ignore[arg-type]
        (lambda: MetadataTopic(name="t", is_internal=0), ArgumentTypeError, "must be a bool"),  # type: ignore[arg-type]
        (lambda: MetadataTopic(name=7), ArgumentTypeError, "MetadataTopic.name must be a string"),  # type: ignore[arg-type]
        (lambda: MetadataTopic(name="t", error_code=1 << 15), ConfigurationError, "error_code"),
    ],
)
def test_fields_are_checked_on_construction(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def metadata_request_frame(message: MetadataRequest, version: int) -> bytes:
    header = RequestHeader(api_key=ApiKey.METADATA, api_version=version, correlation_id=1)
    return encode_request(header, message)


@pytest.mark.parametrize("version", range(10))
def test_topic_ids_need_v10(version: int) -> None:
    message = MetadataRequest(topics=("t",), topic_ids=(uuid.uuid4(),))
    with pytest.raises(ConfigurationError, match=f"^MetadataRequest v{version} cannot carry topic"):
        metadata_request_frame(message, version)


def test_topic_ids_travel_from_v10() -> None:
    topic_id = uuid.uuid4()
    message = MetadataRequest(topics=("t",), topic_ids=(topic_id,))
    frame = metadata_request_frame(message, 10)
    _, decoded = decode_request(frame[4:])
    assert isinstance(decoded, MetadataRequest)
    assert decoded.topic_ids == (topic_id,)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_a_non_default_field_cannot_be_written_where_the_version_lacks_it(version: int) -> None:
    message = MetadataRequest(topics=("t",), allow_auto_topic_creation=False)
    with pytest.raises(
        ConfigurationError,
        match=f"allow_auto_topic_creation must keep its default at version {version}",
    ):
        metadata_request_frame(message, version)


@pytest.mark.parametrize("version", list(range(SUPPORTED_VERSIONS[ApiKey.METADATA][1] + 1)))
def test_a_nameless_topic_needs_v12(version: int) -> None:
    response = MetadataResponse(topics=(MetadataTopic(name=None, topic_id=uuid.uuid4()),))
    header = ResponseHeader(correlation_id=1)
    if version >= 12:
        frame = encode_response(header, response, version)
        _, decoded = decode_response(frame[4:], api_key=ApiKey.METADATA, api_version=version)
        assert decoded == response
        return
    with pytest.raises(ConfigurationError, match=f"^MetadataTopic v{version} cannot carry a null"):
        encode_response(header, response, version)


def test_a_requested_topic_with_neither_name_nor_id_is_refused() -> None:
    # v12 reads a nullable name beside an id; both absent is Kafka's INVALID_REQUEST.
    frame = metadata_request_frame(MetadataRequest(topics=("t",), topic_ids=(uuid.uuid4(),)), 12)
    payload = bytearray(frame[4:])
    name = payload.index(b"\x02t")  # compact string "t": length+1, then the byte
    payload[name : name + 2] = b"\x00"  # a null compact string
    payload[name - 16 : name] = ZERO_UUID.bytes
    with pytest.raises(MalformedFrame) as info:
        decode_request(bytes(payload))
    assert info.value.reason == "invalid-topic"


@pytest.mark.parametrize("header_version", [1, 2])
def test_request_headers_encode_alone(header_version: int) -> None:
    header = RequestHeader(api_key=ApiKey.METADATA, api_version=9, correlation_id=7, client_id="c")
    reader = Reader(header.encode(header_version))
    assert RequestHeader.read(reader, header_version) == header
    reader.finish()


def test_a_v0_request_header_has_no_client_id() -> None:
    header = RequestHeader(api_key=ApiKey.METADATA, api_version=0, correlation_id=7, client_id="c")
    with pytest.raises(ConfigurationError, match=r"^request header v0 has no client_id$"):
        header.encode(0)
    bare = RequestHeader(api_key=ApiKey.METADATA, api_version=0, correlation_id=7)
    assert bare.encode(0) == b"\x00\x03\x00\x00\x00\x00\x00\x07"


@pytest.mark.parametrize("header_version", [0, 1])
def test_response_headers_encode_alone(header_version: int) -> None:
    header = ResponseHeader(correlation_id=9)
    reader = Reader(header.encode(header_version))
    assert ResponseHeader.read(reader, header_version) == header
    reader.finish()


def test_supporting_advertises_the_supported_versions_by_default() -> None:
    default = ApiVersionsResponse.supporting()
    assert {(v.api_key, v.min_version, v.max_version) for v in default.api_keys} == {
        (key, low, high) for key, (low, high) in SUPPORTED_VERSIONS.items()
    }
    only = ApiVersionsResponse.supporting([(ApiKey.SASL_HANDSHAKE, 0, 1)])
    assert only.api_keys == (
        ApiVersion(api_key=ApiKey.SASL_HANDSHAKE, min_version=0, max_version=1),
    )


@pytest.mark.parametrize("version", ["3", 3.0, True, None])
def test_a_version_must_be_an_int(version: object) -> None:
    header = ResponseHeader(correlation_id=1)
    with pytest.raises(ArgumentTypeError, match="ApiVersionsResponse version must be an int"):
        encode_response(header, ApiVersionsResponse(), version)  # type: ignore[arg-type]


def test_frames_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(ArgumentTypeError, match=r"^expected a Frame or bytes$"):
        decode_request("frame")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^API key 57 is not one this codec speaks$"):
        decode_response(b"", api_key=57, api_version=0)
    header = RequestHeader(api_key=ApiKey.SASL_HANDSHAKE, api_version=1, correlation_id=1)
    with pytest.raises(ArgumentTypeError, match=r"^expected a Kafka message$"):
        encode_request(header, b"body")  # type: ignore[arg-type]


def test_a_frame_is_read_whole_or_as_bytes() -> None:
    header = RequestHeader(api_key=ApiKey.SASL_HANDSHAKE, api_version=1, correlation_id=3)
    payload = encode_request(header, SaslHandshakeRequest(mechanism="OAUTHBEARER"))[4:]
    frame = Frame(payload)
    assert frame.size == len(payload)
    assert repr(frame) == f"Frame(<{len(payload)} bytes>)"
    assert decode_request(frame) == decode_request(bytearray(payload)) == decode_request(payload)  # type: ignore[arg-type]
    assert decode_request(memoryview(payload))[1] == SaslHandshakeRequest(mechanism="OAUTHBEARER")  # type: ignore[arg-type]
    assert isinstance(decode_request(payload)[1], SaslHandshakeRequest)
    assert not isinstance(decode_request(payload)[1], ApiVersionsRequest)


# --- the frame decoder's calls --------------------------------------------------------------


def test_receive_data_takes_bytes_only() -> None:
    with pytest.raises(ArgumentTypeError, match=r"^receive_data\(\) takes bytes$"):
        KafkaFrameDecoder().receive_data("data")  # type: ignore[arg-type]


def test_the_end_of_the_stream_may_be_marked_again() -> None:
    decoder = KafkaFrameDecoder()
    decoder.receive_data(b"")
    decoder.receive_data(b"")  # a second end is no news
    assert decoder.next_event() is CONNECTION_CLOSED
    with pytest.raises(ConfigurationError, match="after the end of the stream"):
        decoder.receive_data(b"\x00")


def test_a_new_limit_after_a_refusal_changes_nothing() -> None:
    decoder = KafkaFrameDecoder(max_frame_size=4)
    decoder.receive_data(b"\x00\x00\x00\x05hello")
    with pytest.raises(MalformedFrame) as first:
        decoder.next_event()
    decoder.max_frame_size = 100  # the stream stays refused: nothing after the prefix was kept
    assert decoder.max_frame_size == 100
    with pytest.raises(MalformedFrame) as again:
        decoder.next_event()
    assert again.value is first.value


# --- peer text: for a log line, and for the wire --------------------------------------------


def unsafe(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or 0x7F <= code <= 0x9F or c in "\u2028\u2029" or 0xD800 <= code <= 0xDFFF


def cut_of(reference: str, shown: str, max_bytes: int) -> None:
    """``shown`` is ``reference`` whole when it fits, else a prefix of it and the mark."""
    assert len(shown.encode("utf-8")) <= max_bytes
    if len(reference.encode("utf-8", "surrogatepass")) <= max_bytes:
        assert shown == reference
    elif max_bytes >= 3:
        assert shown.endswith("...")
        assert reference.startswith(shown[:-3])
    else:
        assert shown == "." * max_bytes


@given(st.text(), st.integers(0, 40))
def test_peer_text_escapes_then_cuts(value: str, max_bytes: int) -> None:
    escaped = "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") if unsafe(c) else c
        for c in value
    )
    shown = peer_text(value, max_bytes=max_bytes)
    assert not any(unsafe(c) for c in shown)
    cut_of(escaped, shown, max_bytes)


@pytest.mark.parametrize(
    ("value", "max_bytes", "shown"),
    [
        ("alice", 10, "alice"),
        ("a\nb", 10, "a\\x0ab"),
        ("\x85\u2028\ud800", 40, "\\x85\\u2028\\ud800"),
        ("abcdefghij", 8, "abcde..."),
        ("\u00e9\u00e9\u00e9\u00e9", 7, "\u00e9\u00e9..."),  # never half a character
        ("abcdef", 2, ".."),
        ("abcdef", 0, ""),
    ],
)
def test_peer_text(value: str, max_bytes: int, shown: str) -> None:
    assert peer_text(value, max_bytes=max_bytes) == shown


@given(st.text(), st.integers(0, 40))
def test_wire_text_replaces_lone_surrogates_then_cuts(value: str, max_bytes: int) -> None:
    replaced = "".join("?" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    cut_of(replaced, wire_text(value, max_bytes=max_bytes), max_bytes)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("a\nb", "a\nb"), ("x\ud800y", "x?y"), ("x" * 40, "x" * 17 + "...")],
)
def test_wire_text(value: str, shown: str) -> None:
    assert wire_text(value, max_bytes=20) == shown
