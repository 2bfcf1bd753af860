#!/usr/bin/env python3
"""Fuzz target: the Kafka layer (``oauthbearer.kafka.protocol`` and ``.connection``).

The input is a configuration byte, a byte that picks the API and version to
decode frames as responses of, a length-prefixed list of chunk sizes (each byte
one chunk's size less one, cycled: a lone 0 means a byte at a time), and a byte
stream from a client. The stream goes, whole and in those chunks, through

* a :class:`KafkaFrameDecoder` (and, when the stream is short, a byte at a
  time too): the frames and the final verdict must not depend on the chunking;
  ``next_event`` raises only :class:`MalformedFrame`, and again on every later
  call; no frame exceeds ``max_frame_size``;
* :func:`decode_request` and :func:`decode_response` for each frame: only
  :class:`MalformedFrame` (with a documented reason, a Kafka error code and an
  offset inside the frame), and whatever decodes re-encodes to bytes that
  decode to the same header and message;
* a :class:`KafkaServerConnection` (pure, accepting or refusing each token, or
  with Kafka's unsecured validator): driven as an application drives it, it
  never raises; its events, and the bytes it sends, do not depend on the
  chunking; what it sends is whole frames; a failure has a documented reason
  and leaves the connection ``FAILED``, where every later call is refused.

Run: ``python fuzz/kafka_wire.py fuzz/corpus/kafka_wire -atheris_runs=1000000``.
"""

from __future__ import annotations

import itertools

from fuzzlib import Input, OracleViolation, check, main, violated

from oauthbearer.errors import FrameReason, ServerFailureReason, SessionStateError
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE, ErrorResponse
from oauthbearer.kafka.framing import ConnectionClosed
from oauthbearer.kafka.protocol import (
    CONNECTION_CLOSED,
    NEED_DATA,
    SUPPORTED_VERSIONS,
    ErrorCode,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from oauthbearer.kafka.server import (
    PAUSED,
    ApplicationRequest,
    KafkaServerConnection,
    ServerAuthenticated,
    ServerAuthenticationFailed,
    ServerPhase,
)
from oauthbearer.session import ServerSession, TokenReceived
from oauthbearer.token import OAuthBearerToken
from oauthbearer.unsecured import UnsecuredJwsValidator

#: The decoder limits tried: Kafka's SASL default, small ones that the seeds'
#: frames cross, and none at all.
MAX_FRAME_SIZES = (KAFKA_MAX_RECEIVE_SIZE, 64, 8, (1 << 31) - 1)
#: The decoder's byte-at-a-time run costs a call per byte: longer streams get the
#: chunked run only.
MAX_BYTEWISE = 256
#: Frames of one stream decoded as requests and responses.
MAX_DECODED_FRAMES = 8
#: The connection's clock: epoch seconds, before the seed tokens' expiry.
NOW = 1_700_000_000.0
RESPONSE_KINDS = tuple(
    (int(key), version)
    for key, (low, high) in SUPPORTED_VERSIONS.items()
    for version in range(low, high + 1)
)
GRANTED = OAuthBearerToken(value="t", principal="alice", lifetime_ms=4_102_444_800_000)
VALIDATORS = (UnsecuredJwsValidator(), UnsecuredJwsValidator(required_scope=("admin",)))


def _chunks(stream: bytes, sizes: bytes) -> list[bytes]:
    """``stream`` cut after each of ``sizes`` (cycled), then the rest."""
    if not sizes:
        return [stream]
    out = []
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= len(stream):
            break
        out.append(stream[pos : pos + size + 1])
        pos += size + 1
    return out


# --- The frame decoder ---------------------------------------------------------------------


def _decode_frames(chunks: list[bytes], max_frame_size: int) -> list[bytes | tuple[object, ...]]:
    """Frames, then the decoder's final word: a refusal (reason, offset) or the end."""
    decoder = KafkaFrameDecoder(max_frame_size=max_frame_size)
    out: list[bytes | tuple[object, ...]] = []
    for chunk in [*chunks, b""]:
        decoder.receive_data(chunk)
        while True:
            try:
                event = decoder.next_event()
            except MalformedFrame as err:
                check(err.reason in FrameReason, f"decoder: reason {err.reason!r}")
                check(err.error_code == ErrorCode.CORRUPT_MESSAGE, "decoder: error code")
                try:
                    decoder.next_event()
                except MalformedFrame as again:
                    check(again.reason == err.reason, "decoder: the refusal changed")
                else:
                    violated("decoder: a refused stream went on")
                out.append(("refused", err.reason, err.offset, str(err)))
                return out
            if isinstance(event, Frame):
                check(event.size <= max_frame_size, "decoder: a frame exceeds max_frame_size")
                out.append(event.data)
                continue
            if event is CONNECTION_CLOSED:
                out.append(("closed",))
                return out
            check(event is NEED_DATA, "decoder: an unknown event")
            break
    raise OracleViolation("decoder: the stream ended and the decoder did not say so")


def _check_malformed(err: MalformedFrame, frame: bytes, what: str) -> None:
    check(err.reason in FrameReason, f"{what}: reason {err.reason!r}")
    check(err.error_code in ErrorCode.__members__.values(), f"{what}: error code")
    check(
        err.offset is None or 0 <= err.offset <= len(frame),
        f"{what}: offset {err.offset} outside the frame of {len(frame)} bytes",
    )


def _request_round_trip(frame: bytes) -> None:
    try:
        header, message = decode_request(frame)
    except MalformedFrame as err:
        _check_malformed(err, frame, "decode_request")
        return
    low, high = SUPPORTED_VERSIONS[header.api_key]  # type: ignore[index]
    if not low <= header.api_version <= high:
        return  # an ApiVersions version nobody speaks: answered, not re-encoded
    again = decode_request(encode_request(header, message)[4:])
    check(again == (header, message), "decode_request(encode_request(x)) != x")


def _response_round_trip(frame: bytes, api_key: int, version: int) -> None:
    try:
        header, message = decode_response(frame, api_key=api_key, api_version=version)
    except MalformedFrame as err:
        _check_malformed(err, frame, "decode_response")
        check(err.error_code == ErrorCode.CORRUPT_MESSAGE, "decode_response: error code")
        return
    encoded = encode_response(header, message, version)[4:]
    again = decode_response(encoded, api_key=api_key, api_version=version)
    check(again == (header, message), "decode_response(encode_response(x)) != x")


# --- The connection ------------------------------------------------------------------------


def _connection(config: int) -> KafkaServerConnection:
    mode = (config >> 2) & 3
    validator = None if mode < 2 else VALIDATORS[mode - 2]
    return KafkaServerConnection(
        lambda: ServerSession(validator, dialect="kafka"),
        max_reauth_ms=None if config & 0x10 else 2_000,
        max_frame_size=MAX_FRAME_SIZES[(config >> 5) & 3],
    )


def _drive(config: int, chunks: list[bytes]) -> tuple[list[object], bytes]:
    """Feed the chunks as an application would; the events and the bytes sent."""
    conn = _connection(config)
    events: list[object] = []
    sent = bytearray()
    accept = (config >> 2) & 3 == 0
    over = False
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk, now=NOW)
        while not over:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            if event is PAUSED:
                if accept:
                    outcome = conn.accept(GRANTED)
                    events.append(outcome)
                    over = _check_event(conn, outcome)
                else:
                    conn.reject(ErrorResponse("invalid_token"))
                continue
            events.append(event)
            over = _check_event(conn, event)
        sent += conn.data_to_send()
        if over:
            break
    if over:
        try:
            conn.next_event()
        except SessionStateError:
            check(conn.phase is ServerPhase.FAILED, "a refused call did not fail it")
        else:
            violated("a connection that is over took next_event()")
    return events, bytes(sent)


def _check_event(conn: KafkaServerConnection, event: object) -> bool:
    """Check one event; whether it ends the connection."""
    if isinstance(event, ServerAuthenticationFailed):
        check(event.reason in ServerFailureReason, f"reason {event.reason!r}")
        check(conn.phase is ServerPhase.FAILED, "a failure left the connection live")
        return True
    if isinstance(event, ConnectionClosed):
        check(conn.phase is ServerPhase.CLOSED, "a close left the connection live")
        return True
    check(
        isinstance(event, ServerAuthenticated | ApplicationRequest | TokenReceived),
        f"an undocumented event {type(event).__name__}",
    )
    return False


def _check_sent(sent: bytes) -> None:
    frames = _decode_frames([sent], (1 << 31) - 1)
    check(frames[-1] == ("closed",), "the connection sent a partial frame")


# --- The target ----------------------------------------------------------------------------


def test_one_input(data: bytes) -> None:
    inp = Input(data)
    config = inp.byte()
    response_kind = RESPONSE_KINDS[inp.byte() % len(RESPONSE_KINDS)]
    sizes = inp.chunk()
    stream = inp.rest()
    cut = _chunks(stream, sizes)
    bytewise = [stream[i : i + 1] for i in range(len(stream))]
    max_frame_size = MAX_FRAME_SIZES[config & 3]

    frames = _decode_frames([stream], max_frame_size)
    check(_decode_frames(cut, max_frame_size) == frames, "decoder: chunking changed the frames")
    if len(stream) <= MAX_BYTEWISE:
        check(_decode_frames(bytewise, max_frame_size) == frames, "decoder: byte-at-a-time")
    for frame in frames[:MAX_DECODED_FRAMES]:
        if isinstance(frame, bytes):
            _request_round_trip(frame)
            _response_round_trip(frame, *response_kind)

    whole = _drive(config, [stream])
    _check_sent(whole[1])
    # Byte at a time too, when the input's chunk sizes say so (a size byte of 0).
    check(_drive(config, cut) == whole, "connection: chunking changed the outcome")


if __name__ == "__main__":
    main(test_one_input)
