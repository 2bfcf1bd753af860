"""The framing both ends of a Kafka connection share.

Theory of operation
-------------------
A Kafka connection, either end, is a :class:`~oauthbearer.machine.Machine`
fed by a :class:`~oauthbearer.kafka.protocol.KafkaFrameDecoder`: bytes go in
with ``receive_data``, whole size-prefixed frames come out of the decoder, and
``_pump`` hands each frame to the side's ``_dispatch`` until one yields an
event (or the decoder needs more bytes). A frame the decoder refuses, or the
peer closing between frames, ends the loop the same way on both sides; what a
frame *means* is each side's business. The bytes to write accumulate in one
outbox, drained by ``data_to_send``, which each side's permissions allow in
every state. The peer closing is an input of each side's own enum
(``_PEER_CLOSED``), so that both transition tables stay typed.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Generic, TypeVar

from oauthbearer.kafka.protocol import (
    NEED_DATA,
    DecoderEvent,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
)
from oauthbearer.machine import Input, Machine, State

__all__ = ["ConnectionClosed", "FramedConnection"]


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the connection between frames."""


#: What a side's ``next_event`` returns beside the decoder's and the shared events.
E = TypeVar("E")


class FramedConnection(Machine[State, Input], Generic[State, Input, E]):
    """What both ends of a Kafka connection share: the frame decoder, the bytes
    to send, and the loop that turns frames into events. Each side says how a
    frame becomes an event (``_dispatch``) and how it fails (``_fail``);
    :class:`~oauthbearer.kafka.server.KafkaServerConnection` and
    :class:`~oauthbearer.kafka.client.KafkaClientConnection` are the two."""

    __slots__ = ("_decoder", "_outbox")
    _decoder: KafkaFrameDecoder
    _outbox: bytearray
    #: The reason code of a frame the decoder refuses.
    _MALFORMED: ClassVar[str]
    #: The side's input for the peer closing between frames.
    _PEER_CLOSED: Input

    def _start_framing(self, max_frame_size: int) -> None:
        self._decoder = KafkaFrameDecoder(max_frame_size=max_frame_size)
        self._outbox = bytearray()

    def _dispatch(self, frame: Frame) -> E | None:
        raise NotImplementedError

    def _fail(self, message: str, error_code: int, reason: str) -> E:
        raise NotImplementedError

    def _pump(self) -> E | DecoderEvent | ConnectionClosed:
        """Frames to events until one is ready, or more bytes are needed."""
        while True:
            try:
                frame = self._decoder.next_event()
            except MalformedFrame as err:
                return self._fail(str(err), err.error_code, self._MALFORMED)
            if frame is NEED_DATA:
                return NEED_DATA
            if not isinstance(frame, Frame):
                self._move(self._PEER_CLOSED)
                return ConnectionClosed()
            event = self._dispatch(frame)
            if event is not None:
                return event

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read as frames: what a shell counts
        against its memory budget."""
        return self._decoder.buffered

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer now (possibly empty)."""
        self._check("data_to_send")
        out = bytes(self._outbox)
        self._outbox.clear()
        return out
