"""Which versions of its four APIs the emulator serves: what Kafka 4.x serves.

Measured, not read: a real broker of the selected version (tests/real_kafka.py)
is asked ApiVersions v3 on a SASL listener, and the ranges it lists for
ApiVersions (18), SaslHandshake (17), SaslAuthenticate (36) and Metadata (3)
are checked against :data:`MEASURED`. The emulator must advertise exactly the
newest pinned version's ranges for those four APIs and nothing else, and its
codec must speak every version any pinned Kafka serves.

Then every Metadata version goes to both brokers on an authenticated
connection: the codec reads Kafka's answers (a check of the decoder against
the reference encoder), and the emulator's answer to the same request has the
same shape (error codes, partitions, ids, authorized operations).
``.ci/run`` runs this module against every pinned Kafka version. The codec's
Produce and Fetch, which the emulator does not serve, are measured in
tests/test_kafka_record_apis.py.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Final

import pytest

from oauthbearer import UnsecuredJwsValidator
from oauthbearer.kafka import (
    NEED_DATA,
    SUPPORTED_VERSIONS,
    ZERO_UUID,
    ApiKey,
    ApiVersionsRequest,
    ApiVersionsResponse,
    ApplicationResponse,
    ClientAuthenticated,
    ErrorCode,
    Frame,
    KafkaClientConnection,
    KafkaFrameDecoder,
    MetadataRequest,
    MetadataResponse,
    RequestHeader,
    decode_response,
    encode_request,
)
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.unsecured import kafka_unsecured_login
from tests.real_kafka import pinned_versions, selected_version

if TYPE_CHECKING:
    from tests.real_kafka import KafkaBroker

pytestmark = pytest.mark.kafka_differential

#: What each pinned Kafka serves of the four APIs, as ApiVersions v3 lists it
#: on a SASL_PLAINTEXT listener (measured with this module).
MEASURED: Final = {
    "4.0.2": {
        ApiKey.API_VERSIONS: (0, 4),
        ApiKey.SASL_HANDSHAKE: (0, 1),
        ApiKey.SASL_AUTHENTICATE: (0, 2),
        ApiKey.METADATA: (0, 13),
    },
    "4.4.0": {
        ApiKey.API_VERSIONS: (0, 5),
        ApiKey.SASL_HANDSHAKE: (0, 1),
        ApiKey.SASL_AUTHENTICATE: (0, 2),
        ApiKey.METADATA: (0, 13),
    },
}
#: A topic the real broker creates on first mention (auto.create.topics.enable).
TOPIC: Final = "versions-probe"
TIMEOUT_S: Final = 20.0


def _api_versions(port: int) -> dict[int, tuple[int, int]]:
    request = encode_request(
        RequestHeader(api_key=18, api_version=3, correlation_id=1, client_id="measure"),
        ApiVersionsRequest(client_software_name="measure", client_software_version="1"),
    )
    decoder = KafkaFrameDecoder(max_frame_size=1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request)
        while not isinstance(event := decoder.next_event(), Frame):
            decoder.receive_data(sock.recv(65_536))
    _, answer = decode_response(event, api_key=18, api_version=3)
    assert isinstance(answer, ApiVersionsResponse)
    assert answer.error_code == ErrorCode.NONE
    return {key.api_key: (key.min_version, key.max_version) for key in answer.api_keys}


class _Session:
    """One authenticated connection, requests sent one at a time."""

    def __init__(self, port: int) -> None:
        token = kafka_unsecured_login(
            {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginListClaim_scope": ",kafka"},
            now=time.time(),
        ).token.value
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.conn = KafkaClientConnection(token)
        self.conn.initiate()
        self.sock.sendall(self.conn.data_to_send())
        assert isinstance(self._next(), ClientAuthenticated)

    def _next(self) -> object:
        while True:
            event = self.conn.next_event()
            self.sock.sendall(self.conn.data_to_send())
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(65_536))

    def metadata(self, version: int, request: MetadataRequest) -> MetadataResponse:
        self.conn.send_request(ApiKey.METADATA, version, request)
        self.sock.sendall(self.conn.data_to_send())
        event = self._next()
        assert isinstance(event, ApplicationResponse), event
        assert isinstance(event.message, MetadataResponse)
        return event.message

    def close(self) -> None:
        self.sock.close()


def _shape(answer: MetadataResponse) -> object:
    """What the emulator must reproduce of an answer: not names of hosts, ids or epochs."""
    return (
        answer.error_code,
        answer.cluster_authorized_operations,
        answer.cluster_id is not None,
        len(answer.brokers),
        [
            (
                t.name,
                t.error_code,
                t.topic_id != ZERO_UUID,
                t.is_internal,
                t.topic_authorized_operations,
                [(p.partition_index, p.error_code, len(p.replica_nodes)) for p in t.partitions],
            )
            for t in answer.topics
        ],
    )


def _requests(version: int) -> list[MetadataRequest]:
    """Requests that use every field ``version`` has."""
    asked = [MetadataRequest(topics=(TOPIC, "no-such-topic"), allow_auto_topic_creation=False)]
    if version < 4:
        # Kafka creates any topic a request before v4 names (the emulator
        # creates none): only the existing topic.
        asked = [MetadataRequest(topics=(TOPIC,))]
    if 8 <= version <= 10:
        asked.append(
            MetadataRequest(
                topics=(TOPIC,),
                allow_auto_topic_creation=False,
                include_cluster_authorized_operations=True,
                include_topic_authorized_operations=True,
            )
        )
    elif version >= 11:
        asked.append(
            MetadataRequest(
                topics=(TOPIC,),
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=True,
            )
        )
    return asked


def test_kafka_serves_the_measured_ranges(kafka_broker: KafkaBroker) -> None:
    served = _api_versions(kafka_broker.ports["UNSECURED"])
    assert {key: served.get(key) for key in SUPPORTED_VERSIONS} == MEASURED[kafka_broker.version]


def test_the_emulator_advertises_the_newest_kafkas_ranges_and_nothing_else() -> None:
    newest = MEASURED[pinned_versions()[-1]]
    assert set(MEASURED) == set(pinned_versions())
    with BrokerEmulator(UnsecuredJwsValidator()).running_in_thread() as emulator:
        assert _api_versions(emulator.port) == newest
    # The codec speaks every version that any pinned Kafka serves.
    for ranges in MEASURED.values():
        for key, (low, high) in ranges.items():
            assert SUPPORTED_VERSIONS[key][0] <= low
            assert high <= SUPPORTED_VERSIONS[key][1]
    assert selected_version() in MEASURED


def test_every_metadata_version_answers_as_kafka_does(kafka_broker: KafkaBroker) -> None:
    real = _Session(kafka_broker.ports["UNSECURED"])
    try:
        # Create the topic, then wait for its leader.
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            created = real.metadata(12, MetadataRequest(topics=(TOPIC,)))
            if created.topics[0].error_code == ErrorCode.NONE:
                break
            assert time.monotonic() < deadline, created
            time.sleep(0.2)
        low, high = MEASURED[kafka_broker.version][ApiKey.METADATA]
        with BrokerEmulator(
            UnsecuredJwsValidator(), topics=(TOPIC,)
        ).running_in_thread() as emulator:
            ours = _Session(emulator.port)
            try:
                for version in range(low, high + 1):
                    for request in _requests(version):
                        theirs = real.metadata(version, request)
                        mine = ours.metadata(version, request)
                        assert _shape(mine) == _shape(theirs), (version, request)
                # Asked by id (v12+): the id of a topic it has, and one it has not.
                known = real.metadata(12, MetadataRequest(topics=(TOPIC,))).topics[0].topic_id
                unknown = ZERO_UUID.__class__(int=12345)
                by_id = MetadataRequest(topics=(), topic_ids=(known, unknown))
                theirs = real.metadata(13, by_id)
                mine_known = ours.metadata(12, MetadataRequest(topics=(TOPIC,))).topics[0].topic_id
                mine = ours.metadata(
                    13, MetadataRequest(topics=(), topic_ids=(mine_known, unknown))
                )
                assert [(t.name, t.error_code) for t in mine.topics] == [
                    (t.name, t.error_code) for t in theirs.topics
                ]
                assert [t.error_code for t in theirs.topics] == [ErrorCode.UNKNOWN_TOPIC_ID, 0]
            finally:
                ours.close()
    finally:
        real.close()
