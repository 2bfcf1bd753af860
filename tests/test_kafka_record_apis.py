"""Produce (0) and Fetch (1): hand-built vectors, round trips of every version,
totality, the client connection fed byte at a time, and the real broker.

The vectors are written field by field from ``ProduceRequest.json``,
``FetchRequest.json`` and their responses (Kafka 4.4.0's clients jar), not
produced by the code under test. The real broker (tests/real_kafka.py) then
judges every version the codec speaks: it lists the ranges recorded in
:data:`MEASURED`, takes our record batches at every Produce version, and
answers every Fetch version with them, which we read back.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import TYPE_CHECKING, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import ServerSession, UnsecuredJwsValidator
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, FrameReason
from oauthbearer.kafka import (
    CODEC_VERSIONS,
    NEED_DATA,
    RECORD_API_VERSIONS,
    SUPPORTED_VERSIONS,
    ZERO_UUID,
    AbortedTransaction,
    ApiKey,
    ApplicationRequest,
    ApplicationResponse,
    ClientAuthenticated,
    Compression,
    ErrorCode,
    FetchPartition,
    FetchPartitionData,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    FetchTopicResponse,
    ForgottenTopic,
    Frame,
    KafkaClientConnection,
    KafkaServerConnection,
    MalformedFrame,
    MetadataRequest,
    MetadataResponse,
    ProducePartition,
    ProducePartitionResponse,
    ProduceRecordError,
    ProduceRequest,
    ProduceResponse,
    ProduceTopic,
    ProduceTopicResponse,
    Record,
    RecordBatch,
    RequestHeader,
    ResponseHeader,
    TaggedField,
    decode_record_batches,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    usable_version,
)
from oauthbearer.kafka._wire import Reader
from oauthbearer.unsecured import kafka_unsecured_login

if TYPE_CHECKING:
    from collections.abc import Iterator

    from oauthbearer.kafka import RequestMessage, ResponseMessage
    from tests.real_kafka import KafkaBroker


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", " "))


def sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


TOPIC_ID: Final = uuid.UUID("0123456789abcdef0123456789abcdef")
T: Final = "74"  # "t"
RECORDS: Final = "616263"  # the records field is opaque to the message codec


# --- Vectors ---------------------------------------------------------------------------

REQUEST_VECTORS: Final[list[tuple[str, bytes, RequestHeader, RequestMessage]]] = [
    (
        "Produce v3: null transactional id, acks -1, one topic by name",
        h(
            "0000 0003 00000001 ffff | ffff | ffff | 00007530"
            f" | 00000001 0001 {T} | 00000001 00000000 00000003 {RECORDS}"
        ),
        RequestHeader(api_key=0, api_version=3, correlation_id=1),
        ProduceRequest(
            topic_data=(
                ProduceTopic(name="t", partition_data=(ProducePartition(index=0, records=b"abc"),)),
            )
        ),
    ),
    (
        "Produce v9: flexible, compact records, null records in a second partition",
        h(
            "0000 0009 00000001 ffff 00 | 00 | 0001 | 000003e8"
            f" | 02 02 {T} | 03 00000000 04 {RECORDS} 00 | 00000001 00 00 | 00 | 00"
        ),
        RequestHeader(api_key=0, api_version=9, correlation_id=1),
        ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                ProduceTopic(
                    name="t",
                    partition_data=(
                        ProducePartition(index=0, records=b"abc"),
                        ProducePartition(index=1),
                    ),
                ),
            ),
        ),
    ),
    (
        "Produce v13: the topic by id, a transactional id",
        h(
            f"0000 000d 00000001 ffff 00 | 03 {'7478'} | ffff | 00007530"
            f" | 02 {TOPIC_ID.hex} | 02 00000000 04 {RECORDS} 00 | 00 | 00"
        ),
        RequestHeader(api_key=0, api_version=13, correlation_id=1),
        ProduceRequest(
            transactional_id="tx",
            topic_data=(
                ProduceTopic(
                    topic_id=TOPIC_ID,
                    partition_data=(ProducePartition(index=0, records=b"abc"),),
                ),
            ),
        ),
    ),
    (
        "Fetch v4: a consumer, one partition from offset 5",
        h(
            "0001 0004 00000002 ffff | ffffffff | 000001f4 | 00000001 | 7fffffff | 00"
            f" | 00000001 0001 {T} | 00000001 00000000 0000000000000005 00100000"
        ),
        RequestHeader(api_key=1, api_version=4, correlation_id=2),
        FetchRequest(
            topics=(
                FetchTopic(topic="t", partitions=(FetchPartition(partition=0, fetch_offset=5),)),
            )
        ),
    ),
    (
        "Fetch v12: flexible, sessions, leader epochs, forgotten topics, a rack",
        h(
            "0001 000c 00000002 ffff 00 | ffffffff | 00000064 | 00000001 | 00100000 | 01"
            " | 00000000 | ffffffff"
            f" | 02 02 {T} | 02 00000000 00000003 0000000000000005 ffffffff ffffffffffffffff"
            f" 00100000 00 | 00 | 02 02 {T} 02 00000002 00 | 02 {'72'} | 00"
        ),
        RequestHeader(api_key=1, api_version=12, correlation_id=2),
        FetchRequest(
            max_wait_ms=100,
            max_bytes=1_048_576,
            isolation_level=1,
            topics=(
                FetchTopic(
                    topic="t",
                    partitions=(
                        FetchPartition(partition=0, fetch_offset=5, current_leader_epoch=3),
                    ),
                ),
            ),
            forgotten_topics_data=(ForgottenTopic(topic="t", partitions=(2,)),),
            rack_id="r",
        ),
    ),
    (
        "Fetch v15: no replica_id any more; the topic by id; a raw ClusterId tag",
        h(
            "0001 000f 00000002 ffff 00 | 000001f4 | 00000001 | 7fffffff | 00"
            f" | 00000000 | ffffffff | 02 {TOPIC_ID.hex} | 02 00000000 ffffffff"
            " 0000000000000000 ffffffff ffffffffffffffff 00100000 00 | 00 | 01 | 01 | 01 00 02 0174"
        ),
        RequestHeader(api_key=1, api_version=15, correlation_id=2),
        FetchRequest(
            topics=(
                FetchTopic(
                    topic_id=TOPIC_ID, partitions=(FetchPartition(partition=0, fetch_offset=0),)
                ),
            ),
            tagged_fields=(TaggedField(tag=0, data=b"\x01t"),),
        ),
    ),
]


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [pytest.param(w, hd, m, id=name) for name, w, hd, m in REQUEST_VECTORS],
)
def test_request_vectors(body: bytes, header: RequestHeader, message: RequestMessage) -> None:
    assert encode_request(header, message) == sized(body)
    assert decode_request(body) == (header, message)


RESPONSE_VECTORS: Final[list[tuple[str, bytes, int, ResponseMessage]]] = [
    (
        "Produce v3: base offset 7, no append time",
        h(
            f"00000001 | 00000001 0001 {T} | 00000001 00000000 0000 0000000000000007"
            " ffffffffffffffff | 00000000"
        ),
        3,
        ProduceResponse(
            responses=(
                ProduceTopicResponse(
                    name="t",
                    partition_responses=(ProducePartitionResponse(index=0, base_offset=7),),
                ),
            )
        ),
    ),
    (
        "Produce v9: flexible header; record errors and a message",
        h(
            f"00000001 00 | 02 02 {T} | 02 00000000 0057 ffffffffffffffff ffffffffffffffff"
            " 0000000000000000 | 02 00000003 02 78 00 | 02 79 | 00 | 00 | 00000000 | 00"
        ),
        9,
        ProduceResponse(
            responses=(
                ProduceTopicResponse(
                    name="t",
                    partition_responses=(
                        ProducePartitionResponse(
                            index=0,
                            error_code=87,  # INVALID_RECORD
                            log_start_offset=0,
                            record_errors=(
                                ProduceRecordError(batch_index=3, batch_index_error_message="x"),
                            ),
                            error_message="y",
                        ),
                    ),
                ),
            )
        ),
    ),
    (
        "Fetch v4: one partition, null aborted transactions, records",
        h(
            f"00000002 | 00000000 | 00000001 0001 {T} | 00000001 00000000 0000"
            f" 000000000000000a 000000000000000a ffffffff 00000003 {RECORDS}"
        ),
        4,
        FetchResponse(
            responses=(
                FetchTopicResponse(
                    topic="t",
                    partitions=(
                        FetchPartitionData(
                            partition_index=0,
                            high_watermark=10,
                            last_stable_offset=10,
                            aborted_transactions=None,
                            records=b"abc",
                        ),
                    ),
                ),
            )
        ),
    ),
    (
        "Fetch v13: flexible, the topic by id, an aborted transaction, a session",
        h(
            f"00000002 00 | 00000000 | 0000 | 0000002a | 02 {TOPIC_ID.hex}"
            " | 02 00000000 0000 000000000000000a 0000000000000009 0000000000000000"
            f" 02 0000000000000007 0000000000000004 00 ffffffff 04 {RECORDS} 00 | 00 | 00"
        ),
        13,
        FetchResponse(
            session_id=42,
            responses=(
                FetchTopicResponse(
                    topic_id=TOPIC_ID,
                    partitions=(
                        FetchPartitionData(
                            partition_index=0,
                            high_watermark=10,
                            last_stable_offset=9,
                            log_start_offset=0,
                            aborted_transactions=(
                                AbortedTransaction(producer_id=7, first_offset=4),
                            ),
                            records=b"abc",
                        ),
                    ),
                ),
            ),
        ),
    ),
]


@pytest.mark.parametrize(
    ("body", "version", "message"),
    [pytest.param(w, v, m, id=name) for name, w, v, m in RESPONSE_VECTORS],
)
def test_response_vectors(body: bytes, version: int, message: ResponseMessage) -> None:
    correlation = int.from_bytes(body[:4], "big")
    header = ResponseHeader(correlation_id=correlation)
    assert encode_response(header, message, version) == sized(body)
    assert decode_response(body, api_key=message.API_KEY, api_version=version) == (
        header,
        message,
    )


def test_records_stay_out_of_reprs() -> None:
    assert "abc" not in repr(ProducePartition(index=0, records=b"abc"))
    assert "abc" not in repr(FetchPartitionData(partition_index=0, records=b"abc"))


# --- What a version cannot carry --------------------------------------------------------


def test_a_topic_is_named_as_its_version_names_it() -> None:
    by_id = ProduceRequest(topic_data=(ProduceTopic(topic_id=TOPIC_ID),))
    by_name = ProduceRequest(topic_data=(ProduceTopic(name="t"),))
    with pytest.raises(ConfigurationError, match="topic_id needs v13"):
        by_id.encode(12)
    with pytest.raises(ConfigurationError, match="name must be empty"):
        by_name.encode(13)
    fetch_by_name = FetchRequest(topics=(FetchTopic(topic="t"),))
    with pytest.raises(ConfigurationError, match="names topics by id"):
        fetch_by_name.encode(13)


@pytest.mark.parametrize(
    ("message", "version", "field"),
    [
        (FetchRequest(replica_id=1), 15, "replica_id"),
        (FetchRequest(forgotten_topics_data=(ForgottenTopic(topic="t"),)), 6, "forgotten"),
        (
            FetchRequest(
                topics=(
                    FetchTopic(
                        topic="t",
                        partitions=(
                            FetchPartition(partition=0, fetch_offset=0, last_fetched_epoch=1),
                        ),
                    ),
                )
            ),
            11,
            "last_fetched_epoch",
        ),
        (FetchResponse(session_id=1), 6, "session_id"),
        (
            FetchResponse(
                responses=(
                    FetchTopicResponse(
                        topic="t",
                        partitions=(
                            FetchPartitionData(partition_index=0, preferred_read_replica=1),
                        ),
                    ),
                )
            ),
            10,
            "preferred_read_replica",
        ),
    ],
)
def test_a_field_a_version_lacks_must_keep_its_default(
    message: RequestMessage | ResponseMessage, version: int, field: str
) -> None:
    with pytest.raises(ConfigurationError, match=field):
        message.encode(version)


def test_versions_outside_kafka_4s_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="versions 3-13, not 2"):
        ProduceRequest().encode(2)
    with pytest.raises(ConfigurationError, match="versions 4-18, not 3"):
        FetchRequest().encode(3)


def test_usable_version_is_the_highest_both_speak() -> None:
    # Kafka 4 advertises Produce from v0 and parses it from v3 (KIP-896).
    kafka_44 = {0: (0, 13), 1: (4, 18), 3: (0, 13)}
    assert usable_version(ApiKey.PRODUCE, kafka_44) == 13
    assert usable_version(ApiKey.PRODUCE, {0: (0, 12)}) == 12
    assert usable_version(ApiKey.FETCH, {1: (0, 3)}) is None
    assert usable_version(ApiKey.FETCH, {}) is None
    assert usable_version(99, {99: (0, 1)}) is None
    assert usable_version(ApiKey.METADATA, kafka_44) == 13


def test_the_server_connection_still_serves_only_the_authentication_apis() -> None:
    # RECORD_API_VERSIONS are the codec's, not the emulator's: it neither
    # advertises nor decodes them.
    assert set(RECORD_API_VERSIONS).isdisjoint(SUPPORTED_VERSIONS)
    assert dict(CODEC_VERSIONS) == {**SUPPORTED_VERSIONS, **RECORD_API_VERSIONS}


# --- Round trips and totality (hypothesis) ------------------------------------------------

texts = st.text(max_size=8)
int8s = st.integers(-(2**7), 2**7 - 1)
int16s = st.integers(-(2**15), 2**15 - 1)
int32s = st.integers(-(2**31), 2**31 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)
records = st.none() | st.binary(max_size=24)
ids = st.uuids()
tag_lists = st.lists(st.integers(0, 300), unique=True, max_size=2).flatmap(
    lambda tags: st.tuples(
        *[st.builds(TaggedField, tag=st.just(t), data=st.binary(max_size=3)) for t in sorted(tags)]
    )
)


def tags_if(flexible: bool) -> st.SearchStrategy[tuple[TaggedField, ...]]:
    return tag_lists if flexible else st.just(())


def _named(version: int) -> dict[str, st.SearchStrategy[object]]:
    """A topic's name up to v12, its id from v13 (``name`` as Produce calls it)."""
    if version >= 13:
        return {"name": st.just(""), "topic_id": ids}
    return {"name": texts, "topic_id": st.just(ZERO_UUID)}


def _topic(version: int) -> dict[str, st.SearchStrategy[object]]:
    named = _named(version)
    return {"topic": named["name"], "topic_id": named["topic_id"]}


def _tuple_of(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(strategy, max_size=2).map(tuple)


def request_messages(api_key: ApiKey, version: int) -> st.SearchStrategy[RequestMessage]:
    if api_key == ApiKey.PRODUCE:
        flexible = version >= 9
        partition = st.builds(
            ProducePartition, index=int32s, records=records, tagged_fields=tags_if(flexible)
        )
        topic = st.builds(
            ProduceTopic,
            **_named(version),
            partition_data=_tuple_of(partition),
            tagged_fields=tags_if(flexible),
        )
        return st.builds(
            ProduceRequest,
            transactional_id=st.none() | texts,
            acks=int16s,
            timeout_ms=int32s,
            topic_data=_tuple_of(topic),
            tagged_fields=tags_if(flexible),
        )
    flexible = version >= 12
    fetch_partition = st.builds(
        FetchPartition,
        partition=int32s,
        fetch_offset=int64s,
        current_leader_epoch=int32s if version >= 9 else st.just(-1),
        last_fetched_epoch=int32s if version >= 12 else st.just(-1),
        log_start_offset=int64s if version >= 5 else st.just(-1),
        partition_max_bytes=int32s,
        tagged_fields=tags_if(flexible),
    )
    fetch_topic = st.builds(
        FetchTopic,
        **_topic(version),
        partitions=_tuple_of(fetch_partition),
        tagged_fields=tags_if(flexible),
    )
    forgotten = st.builds(
        ForgottenTopic,
        **_topic(version),
        partitions=st.lists(int32s, max_size=3).map(tuple),
        tagged_fields=tags_if(flexible),
    )
    return st.builds(
        FetchRequest,
        replica_id=int32s if version <= 14 else st.just(-1),
        max_wait_ms=int32s,
        min_bytes=int32s,
        max_bytes=int32s,
        isolation_level=int8s,
        session_id=int32s if version >= 7 else st.just(0),
        session_epoch=int32s if version >= 7 else st.just(-1),
        topics=_tuple_of(fetch_topic),
        forgotten_topics_data=_tuple_of(forgotten) if version >= 7 else st.just(()),
        rack_id=texts if version >= 11 else st.just(""),
        tagged_fields=tags_if(flexible),
    )


def response_messages(api_key: ApiKey, version: int) -> st.SearchStrategy[ResponseMessage]:
    if api_key == ApiKey.PRODUCE:
        flexible = version >= 9
        error = st.builds(
            ProduceRecordError,
            batch_index=int32s,
            batch_index_error_message=st.none() | texts,
            tagged_fields=tags_if(flexible),
        )
        partition = st.builds(
            ProducePartitionResponse,
            index=int32s,
            error_code=int16s,
            base_offset=int64s,
            log_append_time_ms=int64s,
            log_start_offset=int64s if version >= 5 else st.just(-1),
            record_errors=_tuple_of(error) if version >= 8 else st.just(()),
            error_message=st.none() | texts if version >= 8 else st.none(),
            tagged_fields=tags_if(flexible),
        )
        topic = st.builds(
            ProduceTopicResponse,
            **_named(version),
            partition_responses=_tuple_of(partition),
            tagged_fields=tags_if(flexible),
        )
        return st.builds(
            ProduceResponse,
            responses=_tuple_of(topic),
            throttle_time_ms=int32s,
            tagged_fields=tags_if(flexible),
        )
    flexible = version >= 12
    aborted = st.builds(
        AbortedTransaction,
        producer_id=int64s,
        first_offset=int64s,
        tagged_fields=tags_if(flexible),
    )
    fetched = st.builds(
        FetchPartitionData,
        partition_index=int32s,
        error_code=int16s,
        high_watermark=int64s,
        last_stable_offset=int64s,
        log_start_offset=int64s if version >= 5 else st.just(-1),
        aborted_transactions=st.none() | _tuple_of(aborted),
        preferred_read_replica=int32s if version >= 11 else st.just(-1),
        records=records,
        tagged_fields=tags_if(flexible),
    )
    fetched_topic = st.builds(
        FetchTopicResponse,
        **_topic(version),
        partitions=_tuple_of(fetched),
        tagged_fields=tags_if(flexible),
    )
    return st.builds(
        FetchResponse,
        throttle_time_ms=int32s,
        error_code=int16s if version >= 7 else st.just(0),
        session_id=int32s if version >= 7 else st.just(0),
        responses=_tuple_of(fetched_topic),
        tagged_fields=tags_if(flexible),
    )


PAIRS: Final = [
    (key, version)
    for key, (low, high) in RECORD_API_VERSIONS.items()
    for version in range(low, high + 1)
]
PAIR_IDS: Final = [f"{key.name}-v{version}" for key, version in PAIRS]


@pytest.mark.parametrize(("api_key", "version"), PAIRS, ids=PAIR_IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_request_round_trip(api_key: ApiKey, version: int, data: st.DataObject) -> None:
    message = data.draw(request_messages(api_key, version))
    header = RequestHeader(
        api_key=api_key,
        api_version=version,
        correlation_id=data.draw(int32s),
        client_id=data.draw(st.none() | texts),
    )
    assert type(message).decode(message.encode(version), version) == message
    wire = encode_request(header, message)
    assert decode_request(wire[4:]) == (header, message)
    assert encode_request(*decode_request(wire[4:])) == wire


@pytest.mark.parametrize(("api_key", "version"), PAIRS, ids=PAIR_IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_response_round_trip(api_key: ApiKey, version: int, data: st.DataObject) -> None:
    message = data.draw(response_messages(api_key, version))
    flexible = version >= (9 if api_key == ApiKey.PRODUCE else 12)
    header = ResponseHeader(
        correlation_id=data.draw(int32s), tagged_fields=data.draw(tags_if(flexible))
    )
    wire = encode_response(header, message, version)
    assert decode_response(wire[4:], api_key=api_key, api_version=version) == (header, message)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[ApiKey, int, bytes, bool]:
    """A valid request or response body with a few bytes changed, inserted or cut."""
    api_key, version = draw(st.sampled_from(PAIRS))
    is_request = draw(st.booleans())
    if is_request:
        header = RequestHeader(api_key=api_key, api_version=version, correlation_id=1)
        frame = bytearray(encode_request(header, draw(request_messages(api_key, version)))[4:])
    else:
        message = draw(response_messages(api_key, version))
        frame = bytearray(encode_response(ResponseHeader(correlation_id=1), message, version)[4:])
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(frame)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "insert" or position == len(frame):
            frame[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif action == "flip":
            frame[position] = draw(st.integers(0, 255))
        else:
            del frame[position:]
    return api_key, version, bytes(frame), is_request


@settings(max_examples=500)
@given(mutated())
def test_decoding_is_total_on_near_misses(case: tuple[ApiKey, int, bytes, bool]) -> None:
    api_key, version, data, is_request = case
    try:
        if is_request:
            decode_request(data)
        else:
            decode_response(data, api_key=api_key, api_version=version)
    except MalformedFrame as err:
        assert err.reason in FrameReason


@pytest.mark.parametrize(("api_key", "version"), PAIRS, ids=PAIR_IDS)
@settings(max_examples=40)
@given(data=st.binary(max_size=64))
def test_decode_response_is_total(api_key: ApiKey, version: int, data: bytes) -> None:
    try:
        decode_response(data, api_key=api_key, api_version=version)
    except MalformedFrame as err:
        assert err.reason in FrameReason
        assert err.error_code == ErrorCode.CORRUPT_MESSAGE


def test_a_count_that_cannot_fit_is_refused_before_anything_is_read() -> None:
    # Fetch v4 response claiming 2**31-1 topics in four bytes.
    with pytest.raises(MalformedFrame) as info:
        decode_response(h("00000001 00000000 7fffffff 00000000"), api_key=1, api_version=4)
    assert info.value.reason == "invalid-length"


# --- The client connection, byte at a time ----------------------------------------------

NOW: Final = 1_700_000_000.0


def _authenticated() -> tuple[KafkaClientConnection, KafkaServerConnection]:
    token = kafka_unsecured_login({"unsecuredLoginStringClaim_sub": "alice"}, now=NOW).token
    client = KafkaClientConnection(token.value, client_id="records")
    server = KafkaServerConnection(lambda: ServerSession(UnsecuredJwsValidator(), dialect="kafka"))
    client.initiate()
    while True:
        server.receive_data(client.data_to_send(), now=NOW)
        while server.next_event() is not NEED_DATA:
            pass
        client.receive_data(server.data_to_send())
        event = client.next_event()
        if event is not NEED_DATA:
            assert isinstance(event, ClientAuthenticated)
            return client, server


def _served(client: KafkaClientConnection, server: KafkaServerConnection) -> bytes:
    """The broker's answers to what the client sent: a Produce is answered with
    offsets (unless its acks are 0), a Fetch with one batch of three records."""
    server.receive_data(client.data_to_send(), now=NOW)
    while (event := server.next_event()) is not NEED_DATA:
        assert isinstance(event, ApplicationRequest)
        assert isinstance(event.message, Frame)  # the emulator does not decode these
        header, message = decode_request(event.message)
        if isinstance(message, ProduceRequest) and message.acks == 0:
            continue  # Kafka's broker does not answer it
        if isinstance(message, ProduceRequest):
            answer: ResponseMessage = ProduceResponse(
                responses=(
                    ProduceTopicResponse(
                        name="t",
                        partition_responses=(ProducePartitionResponse(index=0, base_offset=0),),
                    ),
                )
            )
        else:
            batch = RecordBatch.of([Record(value=b"%d" % i) for i in range(3)], timestamp_ms=1)
            answer = FetchResponse(
                responses=(
                    FetchTopicResponse(
                        topic="t",
                        partitions=(
                            FetchPartitionData(
                                partition_index=0, high_watermark=3, records=batch.encode()
                            ),
                        ),
                    ),
                )
            )
        server.send_response(header, answer)
    return server.data_to_send()


def _events(
    client: KafkaClientConnection, chunks: Iterator[bytes]
) -> list[tuple[ResponseHeader, ResponseMessage]]:
    events = []
    for chunk in chunks:
        client.receive_data(chunk)
        while (event := client.next_event()) is not NEED_DATA:
            assert isinstance(event, ApplicationResponse)
            events.append((event.header, event.message))
    return events


@pytest.mark.parametrize("produce", [9, 12])
@pytest.mark.parametrize("fetch", [4, 12])
def test_byte_at_a_time_gives_the_same_responses(produce: int, fetch: int) -> None:
    outcomes = []
    for split in (False, True):
        client, server = _authenticated()
        batch = RecordBatch.of([Record(value=b"x")], timestamp_ms=1)
        client.send_request(
            ApiKey.PRODUCE,
            produce,
            ProduceRequest(
                topic_data=(
                    ProduceTopic(
                        name="t",
                        partition_data=(ProducePartition(index=0, records=batch.encode()),),
                    ),
                )
            ),
        )
        client.send_request(
            ApiKey.FETCH,
            fetch,
            FetchRequest(
                topics=(
                    FetchTopic(
                        topic="t", partitions=(FetchPartition(partition=0, fetch_offset=0),)
                    ),
                )
            ),
        )
        answers = _served(client, server)
        chunks = (answers[i : i + 1] for i in range(len(answers))) if split else iter([answers])
        outcomes.append(_events(client, chunks))
    assert outcomes[0] == outcomes[1]
    (_, produced), (_, fetched) = outcomes[0]
    assert isinstance(produced, ProduceResponse)
    assert isinstance(fetched, FetchResponse)
    data = fetched.responses[0].partitions[0].records
    assert data is not None
    assert [r.value for b in decode_record_batches(data) for r in b.records] == [b"0", b"1", b"2"]


def test_acks_0_awaits_no_answer() -> None:
    client, server = _authenticated()
    client.send_request(ApiKey.PRODUCE, 9, ProduceRequest(acks=0))
    client.send_request(ApiKey.FETCH, 12, FetchRequest())
    # The broker answers only the Fetch; the client matches it to the Fetch.
    answers = _served(client, server)
    (pair,) = _events(client, iter([answers]))
    assert isinstance(pair[1], FetchResponse)


def test_the_client_knows_the_brokers_versions() -> None:
    client, _ = _authenticated()
    assert client.api_versions[ApiKey.METADATA] == SUPPORTED_VERSIONS[ApiKey.METADATA]
    assert client.usable_version(ApiKey.METADATA) == 13
    # The emulator does not serve Produce: no version is usable there.
    assert client.usable_version(ApiKey.PRODUCE) is None
    fresh = KafkaClientConnection("t")
    assert dict(fresh.api_versions) == {}


# --- The real broker -------------------------------------------------------------------

#: What each pinned Kafka lists for Produce and Fetch (ApiVersions v3 on a
#: SASL_PLAINTEXT listener; measured by this module). Produce is advertised
#: from v0 and parsed from v3 (KIP-896).
MEASURED: Final = {
    "4.0.2": {ApiKey.PRODUCE: (0, 12), ApiKey.FETCH: (4, 17)},
    "4.4.0": {ApiKey.PRODUCE: (0, 13), ApiKey.FETCH: (4, 18)},
}
TIMEOUT_S: Final = 30.0


class _Connection:
    """One authenticated connection to the real broker, one request at a time."""

    def __init__(self, port: int) -> None:
        token = kafka_unsecured_login(
            {"unsecuredLoginStringClaim_sub": "alice"}, now=time.time()
        ).token.value
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.conn = KafkaClientConnection(token, client_id="record-apis")
        self.conn.initiate()
        try:
            assert isinstance(self._next(), ClientAuthenticated)
        except BaseException:
            self.sock.close()
            raise

    def _next(self) -> object:
        while True:
            event = self.conn.next_event()
            self.sock.sendall(self.conn.data_to_send())
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(1 << 20))

    def call(self, api_key: ApiKey, version: int, message: RequestMessage) -> ResponseMessage:
        self.conn.send_request(api_key, version, message)
        event = self._next()
        assert isinstance(event, ApplicationResponse), event
        return event.message

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def connection(kafka_broker: KafkaBroker) -> Iterator[_Connection]:
    conn = _Connection(kafka_broker.ports["UNSECURED"])
    try:
        yield conn
    finally:
        conn.close()


def _created(conn: _Connection, name: str) -> uuid.UUID:
    """Create ``name`` (auto-creation through Metadata) and wait for its leader."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        answer = conn.call(ApiKey.METADATA, 12, MetadataRequest(topics=(name,)))
        assert isinstance(answer, MetadataResponse)
        (topic,) = answer.topics
        if topic.error_code == ErrorCode.NONE and topic.partitions[0].leader_id >= 0:
            return topic.topic_id
        assert time.monotonic() < deadline, topic
        time.sleep(0.1)


@pytest.mark.kafka_differential
def test_kafka_lists_the_measured_ranges(
    connection: _Connection, kafka_broker: KafkaBroker
) -> None:
    listed = {key: connection.conn.api_versions.get(key) for key in RECORD_API_VERSIONS}
    assert listed == MEASURED[kafka_broker.version]
    for key, (_, high) in MEASURED[kafka_broker.version].items():
        # The codec parses every version Kafka parses (from 3 for Produce, KIP-896).
        low, ours = RECORD_API_VERSIONS[key]
        assert ours >= high
        assert low == (3 if key == ApiKey.PRODUCE else 4)


@pytest.mark.kafka_differential
def test_every_produce_and_fetch_version_against_kafka(
    connection: _Connection, kafka_broker: KafkaBroker
) -> None:
    name = f"record-apis-{uuid.uuid4().hex[:8]}"
    topic_id = _created(connection, name)
    produce_high = MEASURED[kafka_broker.version][ApiKey.PRODUCE][1]
    fetch_high = MEASURED[kafka_broker.version][ApiKey.FETCH][1]
    sent: list[bytes] = []
    for version in range(3, produce_high + 1):
        for compression in (Compression.NONE, Compression.GZIP):
            values = [b"v%d-%s-%d" % (version, compression.name.encode(), i) for i in range(3)]
            batch = RecordBatch.of(
                [Record(key=b"k", value=value) for value in values],
                timestamp_ms=int(time.time() * 1000),
                compression=compression,
            )
            topic = ProduceTopic(
                name=name if version < 13 else "",
                topic_id=topic_id if version >= 13 else ZERO_UUID,
                partition_data=(ProducePartition(index=0, records=batch.encode()),),
            )
            answer = connection.call(
                ApiKey.PRODUCE, version, ProduceRequest(acks=-1, topic_data=(topic,))
            )
            assert isinstance(answer, ProduceResponse)
            (partition,) = answer.responses[0].partition_responses
            assert partition.error_code == ErrorCode.NONE, (version, partition)
            assert partition.base_offset == len(sent), version
            sent += values
    for version in range(4, fetch_high + 1):
        got: list[bytes | None] = []
        offset = 0
        while offset < len(sent):
            topic_to_fetch = FetchTopic(
                topic=name if version < 13 else "",
                topic_id=topic_id if version >= 13 else ZERO_UUID,
                partitions=(
                    FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=300),
                ),
            )
            answer = connection.call(
                ApiKey.FETCH, version, FetchRequest(max_wait_ms=0, topics=(topic_to_fetch,))
            )
            assert isinstance(answer, FetchResponse)
            (data,) = answer.responses[0].partitions
            assert data.error_code == ErrorCode.NONE, (version, data)
            assert data.high_watermark == len(sent)
            assert data.records is not None
            batches = decode_record_batches(data.records, allow_partial=True)
            assert batches, (version, offset)
            for batch in batches:
                got += [record.value for o, record in batch.with_offsets() if o >= offset]
                offset = batch.next_offset
        assert got == sent, version


def test_a_topic_id_must_be_a_uuid() -> None:
    with pytest.raises(ArgumentTypeError, match=r"^FetchTopic\.topic_id must be a uuid\.UUID$"):
        FetchTopic(topic="orders", topic_id="0" * 32)  # type: ignore[arg-type]


def test_a_negative_raw_length_is_a_malformed_frame() -> None:
    with pytest.raises(MalformedFrame) as info:
        Reader(b"abcd").raw(-1, "records")
    assert info.value.reason is FrameReason.INVALID_LENGTH
    assert info.value.offset == 0
