"""oauthbearer.testing.strategies: every tagged input gets the verdict it is tagged with.

The strategies derive each tag from the grammar while they make the change; these
tests hold the decoders to the tags. A failure here is a wrong tag or a decoder
that disagrees with the grammar: either is a bug.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import (
    ClientInitialResponse,
    ClientSession,
    Dialect,
    ErrorResponse,
    MalformedMessage,
    MalformedReason,
    ServerSession,
)
from oauthbearer.errors import FrameReason
from oauthbearer.kafka import (
    CONNECTION_CLOSED,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
    decode_request,
)
from oauthbearer.testing import strategies as obs

INITIAL_CASES = [
    (dialect, reason)
    for dialect, reasons in obs.INITIAL_RESPONSE_REASONS.items()
    for reason in reasons
]


def _reason(data: bytes, dialect: Dialect) -> str | None:
    try:
        ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as err:
        return err.reason
    return None


@pytest.mark.parametrize(("dialect", "reason"), INITIAL_CASES, ids=str)
@settings(max_examples=25)
@given(data=st.data())
def test_each_invalid_initial_response_raises_its_reason(
    dialect: Dialect, reason: str, data: st.DataObject
) -> None:
    invalid = data.draw(obs.invalid_initial_responses(dialect, reasons=[reason]))
    assert (invalid.dialect, invalid.reason) == (dialect, reason)
    assert _reason(invalid.data, dialect) == reason, invalid.data[:200]


@settings(max_examples=150)
@given(obs.invalid_initial_responses())
def test_invalid_initial_responses_mix_dialects_and_reasons(
    invalid: obs.InvalidInitialResponse,
) -> None:
    assert invalid.reason in obs.INITIAL_RESPONSE_REASONS[invalid.dialect]
    assert _reason(invalid.data, invalid.dialect) == invalid.reason


@settings(max_examples=150)
@given(obs.valid_initial_responses())
def test_valid_initial_responses_decode_to_their_message(
    valid: obs.ValidInitialResponse,
) -> None:
    decoded = ClientInitialResponse.decode(valid.data, dialect=valid.dialect)
    assert decoded == valid.message
    if valid.dialect is Dialect.RFC7628:
        # Wire order (Kafka's repeated keys have none to speak of: its map is a HashMap).
        assert list(decoded.extensions.items()) == list(valid.message.extensions.items())
        # What the strict dialect reads, our encoder writes back, and it reads the same.
        assert ClientInitialResponse.decode(decoded.encode()) == decoded


@pytest.mark.parametrize("dialect", list(Dialect))
@settings(max_examples=80)
@given(data=st.data())
def test_initial_responses_round_trip_in_their_dialect(
    dialect: Dialect, data: st.DataObject
) -> None:
    message = data.draw(obs.initial_responses(dialect))
    assert ClientInitialResponse.decode(message.encode(), dialect=dialect) == message


@pytest.mark.parametrize("dialect", list(Dialect))
@given(data=st.data())
def test_values_are_what_the_encoder_accepts(dialect: Dialect, data: st.DataObject) -> None:
    token = data.draw(obs.tokens())
    message = ClientInitialResponse(
        token,
        authzid=data.draw(obs.authzids(dialect)),
        extensions=data.draw(obs.extensions(dialect, max_size=3)),
    )
    decoded = ClientInitialResponse.decode(message.encode(), dialect=dialect)
    assert (decoded.token, decoded.authzid) == (token, message.authzid)
    assert len(message.extensions) <= 3


def test_valid_strategies_reach_the_unusual_forms() -> None:
    """The valid strategies are worth something only if they leave the encoder's form."""
    seen: set[str] = set()

    @settings(max_examples=250, database=None)
    @given(obs.valid_initial_responses())
    def look(valid: obs.ValidInitialResponse) -> None:
        if valid.data != valid.message.encode():
            seen.add(f"{valid.dialect.value}: not the encoder's bytes")
        if valid.message.is_discovery:
            seen.add("discovery")
        if valid.data.count(b"\x01auth=") > 1:
            seen.add("kafka: repeated auth")
        if valid.message.gs2_flag == "y":
            seen.add("flag y")

    look()
    assert seen == {
        "rfc7628: not the encoder's bytes",
        "kafka: not the encoder's bytes",
        "discovery",
        "kafka: repeated auth",
        "flag y",
    }


# --- Error responses ---------------------------------------------------------------------


@pytest.mark.parametrize("reason", obs.ERROR_RESPONSE_REASONS)
@settings(max_examples=30)
@given(data=st.data())
def test_each_invalid_error_response_raises_its_reason(reason: str, data: st.DataObject) -> None:
    invalid = data.draw(obs.invalid_error_responses(reasons=[reason]))
    with pytest.raises(MalformedMessage) as info:
        ErrorResponse.decode(invalid.data)
    assert info.value.reason == reason, invalid.data[:200]


@settings(max_examples=100)
@given(obs.valid_error_responses())
def test_valid_error_responses_decode_to_their_response(valid: obs.ValidErrorResponse) -> None:
    assert ErrorResponse.decode(valid.data) == valid.response


@given(obs.error_responses())
def test_error_responses_round_trip(response: ErrorResponse) -> None:
    assert ErrorResponse.decode(response.encode()) == response


@given(obs.invalid_challenge_replies())
def test_invalid_challenge_replies_are_refused(reply: bytes) -> None:
    server = ServerSession()
    server.receive(ClientSession("abc").initial_response())
    server.reject(ErrorResponse("invalid_token"))
    with pytest.raises(MalformedMessage) as info:
        server.receive(reply)
    assert info.value.reason == "invalid-challenge-reply"


# --- Kafka request frames ------------------------------------------------------------------


def _read_stream(data: bytes) -> list[Frame]:
    """What a broker reads: every frame, each decoded as a request; raises at the first fault."""
    decoder = KafkaFrameDecoder()
    decoder.receive_data(data)
    decoder.receive_data(b"")
    frames = []
    while (event := decoder.next_event()) is not CONNECTION_CLOSED:
        assert isinstance(event, Frame)
        decode_request(event)
        frames.append(event)
    return frames


@settings(max_examples=100)
@given(obs.kafka_requests(api_keys=[17, 18, 36, 3]))
def test_kafka_requests_decode_to_what_they_hold(request: obs.KafkaRequest) -> None:
    assert int.from_bytes(request.data[:4], "big") == len(request.data) - 4
    assert decode_request(request.data[4:]) == (request.header, request.message)
    assert len(_read_stream(request.data)) == 1


@pytest.mark.parametrize("reason", obs.KAFKA_REQUEST_REASONS)
@settings(max_examples=30)
@given(data=st.data())
def test_each_invalid_kafka_request_raises_its_reason(reason: str, data: st.DataObject) -> None:
    invalid = data.draw(obs.invalid_kafka_requests(reasons=[reason]))
    with pytest.raises(MalformedFrame) as info:
        _read_stream(invalid.data)
    assert info.value.reason == reason, invalid.data[:200].hex()


# --- Coverage and the module's promises --------------------------------------------------


def test_every_reason_code_is_generated_or_listed_as_uncovered() -> None:
    generated = {code for codes in obs.INITIAL_RESPONSE_REASONS.values() for code in codes}
    generated |= {*obs.ERROR_RESPONSE_REASONS, "invalid-challenge-reply"}
    assert generated | set(obs.UNCOVERED_REASONS) >= set(MalformedReason)
    assert set(obs.KAFKA_REQUEST_REASONS) | set(obs.UNCOVERED_REASONS) == set(FrameReason)
    assert not generated & set(obs.UNCOVERED_REASONS)
    doc = obs.__doc__ or ""
    for code in obs.UNCOVERED_REASONS:
        assert f"``{code}``" in doc, f"{code} is not listed in the module docstring"


def test_reasons_are_checked() -> None:
    with pytest.raises(ValueError, match="duplicate-key"):
        obs.invalid_initial_responses(Dialect.KAFKA, reasons=["duplicate-key"])
    with pytest.raises(ValueError, match="no-such-code"):
        obs.invalid_error_responses(reasons=["no-such-code"])
    with pytest.raises(ValueError, match="nothing"):
        obs.invalid_kafka_requests(reasons=[])
    # A code one of two dialects raises is drawn for that dialect only.
    strategy = obs.invalid_initial_responses(reasons=["duplicate-key", "trailing-data"])

    @settings(max_examples=50, database=None)
    @given(strategy)
    def check(invalid: obs.InvalidInitialResponse) -> None:
        assert invalid.dialect is Dialect.RFC7628 or invalid.reason == "trailing-data"

    check()


def test_importing_the_package_does_not_import_hypothesis() -> None:
    code = (
        "import sys, oauthbearer, oauthbearer.testing, oauthbearer.testing.conformance; "
        "assert 'hypothesis' not in sys.modules, 'hypothesis loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - our own code
