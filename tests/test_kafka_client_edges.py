"""KafkaClientConnection at its edges: a response it cannot read ends the exchange
with a reason (after KIP-511's v0 reading for ApiVersions), and the version retry
reads only the ApiVersions entry of a broker's list."""

from __future__ import annotations

import pytest

from oauthbearer.kafka import (
    ApiKey,
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    ClientAuthenticationFailed,
    ClientPhase,
)
from tests.test_kafka_client import client, client_events, phase_of, reply, requests_of


def sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_a_new_connection_shows_its_phase() -> None:
    assert repr(client()) == "<KafkaClientConnection phase=IDLE>"


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x00\x00\x00",  # the correlation id, then nothing
        b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",  # error 0, then a negative array length
    ],
)
def test_an_api_versions_response_unreadable_at_both_versions_fails(payload: bytes) -> None:
    conn = client()
    conn.initiate()
    conn.data_to_send()
    (failed,) = client_events(conn, sized(payload))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "malformed-response"
    assert phase_of(conn) is ClientPhase.FAILED


def test_an_unreadable_handshake_response_fails() -> None:
    conn = client()
    conn.initiate()
    conn.data_to_send()
    assert client_events(conn, reply(0, ApiVersionsResponse.supporting(), 3)) == []
    ((header, _),) = requests_of(conn.data_to_send())
    assert header.api_key == ApiKey.SASL_HANDSHAKE
    (failed,) = client_events(conn, sized(header.correlation_id.to_bytes(4, "big") + b"\x00"))
    assert isinstance(failed, ClientAuthenticationFailed)
    assert failed.reason == "malformed-response"


def test_the_retry_reads_only_the_api_versions_entry() -> None:
    conn = client()
    conn.initiate()
    conn.data_to_send()
    listed = (
        ApiVersion(api_key=ApiKey.SASL_HANDSHAKE, min_version=0, max_version=1),
        ApiVersion(api_key=ApiKey.API_VERSIONS, min_version=0, max_version=1),
        ApiVersion(api_key=ApiKey.SASL_AUTHENTICATE, min_version=0, max_version=2),
    )
    refusal = ApiVersionsResponse(error_code=35, api_keys=listed)
    assert client_events(conn, reply(0, refusal, 0)) == []
    ((header, message),) = requests_of(conn.data_to_send())
    assert (header.api_key, header.api_version) == (ApiKey.API_VERSIONS, 1)
    assert message == ApiVersionsRequest()
