"""Probe a live Kafka listener's OAUTHBEARER: what it does with each message (asyncio shell).

Theory of operation
-------------------
Each :class:`ProbeCase` runs on a connection of its own, as a Kafka client
would open it: ApiVersions (v3, falling back to v0), SaslHandshake v1 naming
OAUTHBEARER, then one SaslAuthenticate carrying the case's bytes as the
client's initial response. What the broker does next is the
:class:`Observed` outcome:

* ``granted``: error code 0 and empty ``auth_bytes``;
* ``challenged``: error code 0 with an RFC 7628 error challenge (the broker
  parsed the message and refused the token); the probe then answers ``%x01``
  (or, for :attr:`Step.SKIP_ACK` cases, sends Metadata instead) and records
  what follows: a ``granted`` after a challenge is a violation whatever the
  expectation;
* ``refused``: an error code straight away (Kafka: 58 with its generic text
  for a message it cannot parse);
* ``closed``: the connection ends with no answer;
* ``timeout``: no answer within the case's time.

Every case carries what RFC 7628 and Kafka's broker are expected to do, as an
:class:`Expected` verdict: ``parsed`` (``granted`` or ``challenged``),
``refused`` (``refused`` or ``closed``: anything but parsing) or ``closed``.
The report lists each case's observation beside both expectations.

The probe never sends a token of its own unless given one (``token``); the
corpus's tokens are made up, so a well-formed message normally ends in the
challenge, which is how the probe sees that the broker parsed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import time
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, MalformedMessage
from oauthbearer.gs2 import ErrorResponse
from oauthbearer.kafka.protocol import (
    SASL_SERVER_MAX_RECEIVE_SIZE,
    SOCKET_REQUEST_MAX_BYTES,
    ApiKey,
    ApiVersionsRequest,
    ApiVersionsResponse,
    ErrorCode,
    Frame,
    KafkaFrameDecoder,
    MalformedFrame,
    MetadataRequest,
    MetadataResponse,
    RequestHeader,
    RequestMessage,
    ResponseMessage,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    decode_response,
    encode_request,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from oauthbearer.testing.conformance import ConformanceCase

__all__ = [
    "DEFAULT_CASE_TIMEOUT_S",
    "PROBE_TOKEN",
    "Expected",
    "Observed",
    "ProbeCase",
    "ProbeResult",
    "Step",
    "authenticate_frame_size",
    "builtin_cases",
    "challenge_status",
    "corpus_cases",
    "probe",
    "summary",
]

#: The bound on one case: connection, handshake, exchange and the %x01 round.
DEFAULT_CASE_TIMEOUT_S: Final = 5.0
#: How long a slow sender waits between bytes (SLOW_SEND cases).
SLOW_SEND_PAUSE_S: Final = 0.02
_CLIENT_ID: Final = "oauthbearer-probe"


class Observed(enum.StrEnum):
    """What the broker did with the initial response."""

    GRANTED = "granted"
    CHALLENGED = "challenged"
    REFUSED = "refused"
    CLOSED = "closed"
    TIMEOUT = "timeout"


class Expected(enum.StrEnum):
    """What a conforming broker does with the case."""

    #: The grammar accepts it: success or the error challenge.
    PARSED = "parsed"
    #: The grammar refuses it: an error answer or a closed connection.
    REFUSED = "refused"
    #: The broker must close the connection (an oversize frame).
    CLOSED = "closed"
    #: The specification says nothing.
    UNSPECIFIED = "unspecified"

    def admits(self, observed: Observed) -> bool | None:
        if self is Expected.UNSPECIFIED:
            return None
        if self is Expected.PARSED:
            return observed in (Observed.GRANTED, Observed.CHALLENGED)
        if self is Expected.REFUSED:
            return observed in (Observed.REFUSED, Observed.CLOSED)
        return observed is Observed.CLOSED


class Step(enum.StrEnum):
    """How the probe sends a case."""

    #: One SaslAuthenticate with the bytes; %x01 if challenged.
    SEND = "send"
    #: The same, one byte of the frame at a time (a slow sender).
    SLOW_SEND = "slow-send"
    #: After the challenge, another request instead of %x01: nothing may be granted.
    SKIP_ACK = "skip-ack"
    #: After the challenge, :attr:`ProbeCase.follow_up` instead of %x01. Kafka's
    #: broker takes it as a new initial response; RFC 7628 allows only %x01.
    RESPOND_AGAIN = "respond-again"
    #: Once granted, a KIP-368 re-authentication (SaslHandshake and
    #: SaslAuthenticate again) with :attr:`ProbeCase.follow_up`.
    REAUTHENTICATE = "reauthenticate"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProbeCase:
    """One message to send, and what RFC 7628 and Kafka expect of the broker."""

    id: str
    description: str
    data: bytes = dataclasses.field(repr=False)
    kafka: Expected
    rfc7628: Expected
    step: Step = Step.SEND
    #: The second message of :attr:`Step.RESPOND_AGAIN` and :attr:`Step.REAUTHENTICATE`.
    follow_up: bytes | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ArgumentTypeError("ProbeCase.data must be bytes")
        needs_follow_up = self.step in (Step.RESPOND_AGAIN, Step.REAUTHENTICATE)
        if needs_follow_up != isinstance(self.follow_up, bytes):
            raise ArgumentTypeError(
                "ProbeCase.follow_up must be bytes for the respond-again and reauthenticate "
                "steps, and None for the others"
            )
        for name in ("kafka", "rfc7628"):
            object.__setattr__(self, name, Expected(getattr(self, name)))
        object.__setattr__(self, "step", Step(self.step))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What the broker did with one case."""

    case: ProbeCase
    observed: Observed
    #: The second step: after a challenge, what the broker did with the %x01
    #: (the skipped ack, or the new initial response); after a grant, with the
    #: re-authentication of :attr:`Step.REAUTHENTICATE`.
    after_challenge: Observed | None = None
    error_code: int | None = None
    #: The broker's error message or challenge, as text (never a token of ours).
    message: str | None = None
    #: The second step's error code and message (or challenge), as for the first.
    after_error_code: int | None = None
    after_message: str | None = None
    seconds: float = 0.0

    @property
    def kafka_agrees(self) -> bool | None:
        return None if self.violation else self.case.kafka.admits(self.observed)

    @property
    def rfc7628_agrees(self) -> bool | None:
        return None if self.violation else self.case.rfc7628.admits(self.observed)

    @property
    def violation(self) -> str | None:
        """A finding whatever the case expects: something granted on the challenge path.

        A new initial response after the challenge (:attr:`Step.RESPOND_AGAIN`)
        starts a new exchange in Kafka's dialect, so a grant there is no finding.
        """
        if (
            self.observed is Observed.CHALLENGED
            and self.after_challenge is Observed.GRANTED
            and self.case.step is not Step.RESPOND_AGAIN
        ):
            return "granted after an error challenge"
        return None


class _Closed(Exception):
    """The broker closed the connection."""


class _Refused(Exception):
    def __init__(self, error_code: int, message: str | None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class _Wire:
    """Lockstep requests on one connection: the probe's own minimal Kafka client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = KafkaFrameDecoder(max_frame_size=SOCKET_REQUEST_MAX_BYTES)
        self._correlation = 0

    async def call(
        self,
        api_key: ApiKey,
        version: int,
        message: RequestMessage,
        *,
        send: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> ResponseMessage:
        header = RequestHeader(
            api_key=api_key,
            api_version=version,
            correlation_id=self._correlation,
            client_id=_CLIENT_ID,
        )
        self._correlation += 1
        frame = encode_request(header, message)
        try:
            if send is None:
                self._writer.write(frame)
                await self._writer.drain()
            else:
                await send(frame)
            while True:
                event = self._decoder.next_event()
                if isinstance(event, Frame):
                    _, answer = decode_response(event, api_key=api_key, api_version=version)
                    return answer
                data = await self._reader.read(65_536)
                if not data:
                    raise _Closed
                self._decoder.receive_data(data)
        except (ConnectionResetError, BrokenPipeError):
            # A broker that closes on a request it will not read resets the
            # connection under the bytes still on their way: closed all the same.
            raise _Closed from None

    async def slow(self, frame: bytes) -> None:
        for index in range(len(frame)):
            self._writer.write(frame[index : index + 1])
            await self._writer.drain()
            await asyncio.sleep(SLOW_SEND_PAUSE_S)


async def _handshake(wire: _Wire) -> int:
    """ApiVersions and SaslHandshake; the SaslAuthenticate version to use."""
    versions = await wire.call(
        ApiKey.API_VERSIONS,
        3,
        ApiVersionsRequest(client_software_name="oauthbearer-probe", client_software_version="1"),
    )
    assert isinstance(versions, ApiVersionsResponse)
    if versions.error_code != ErrorCode.NONE:
        versions = await wire.call(ApiKey.API_VERSIONS, 0, ApiVersionsRequest())
        assert isinstance(versions, ApiVersionsResponse)
    ranges = {key.api_key: key for key in versions.api_keys}
    authenticate = ranges.get(ApiKey.SASL_AUTHENTICATE)
    if authenticate is None:
        raise ConfigurationError("the broker does not speak SaslAuthenticate")
    shaken = await wire.call(
        ApiKey.SASL_HANDSHAKE, 1, SaslHandshakeRequest(mechanism="OAUTHBEARER")
    )
    assert isinstance(shaken, SaslHandshakeResponse)
    if shaken.error_code != ErrorCode.NONE:
        raise ConfigurationError(
            f"the broker refused OAUTHBEARER (error {shaken.error_code}); "
            f"it enables {list(shaken.mechanisms)}"
        )
    return min(authenticate.max_version, 2)


def _outcome(answer: ResponseMessage) -> tuple[Observed, int, str | None]:
    assert isinstance(answer, SaslAuthenticateResponse)
    if answer.error_code != ErrorCode.NONE:
        return Observed.REFUSED, answer.error_code, answer.error_message
    if not answer.auth_bytes:
        return Observed.GRANTED, 0, None
    return Observed.CHALLENGED, 0, answer.auth_bytes.decode("utf-8", "replace")


async def _run_case(host: str, port: int, case: ProbeCase) -> ProbeResult:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    wire = _Wire(reader, writer)
    observed: Observed = Observed.TIMEOUT
    after: _Outcome | None = None
    code: int | None = None
    message: str | None = None
    try:
        version = await _handshake(wire)
        send = wire.slow if case.step is Step.SLOW_SEND else None
        try:
            answer = await wire.call(
                ApiKey.SASL_AUTHENTICATE,
                version,
                SaslAuthenticateRequest(auth_bytes=case.data),
                send=send,
            )
        except _Closed:
            observed = Observed.CLOSED
        else:
            observed, code, message = _outcome(answer)
            if observed is Observed.CHALLENGED:
                after = await _after_challenge(wire, version, case)
            elif observed is Observed.GRANTED and case.step is Step.REAUTHENTICATE:
                after = await _reauthenticate(wire, version, case)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return ProbeResult(
        case=case,
        observed=observed,
        after_challenge=None if after is None else after[0],
        error_code=code,
        message=message,
        after_error_code=None if after is None else after[1],
        after_message=None if after is None else after[2],
        seconds=time.monotonic() - started,
    )


_Outcome = tuple[Observed, int | None, str | None]


async def _after_challenge(wire: _Wire, version: int, case: ProbeCase) -> _Outcome:
    try:
        if case.step is Step.SKIP_ACK:
            # Metadata instead of %x01 (what aiokafka and KafkaJS do): a broker
            # that names its brokers in the answer has granted the connection.
            answer = await wire.call(ApiKey.METADATA, 1, MetadataRequest(topics=None))
            assert isinstance(answer, MetadataResponse)
            return (Observed.GRANTED if answer.brokers else Observed.REFUSED), None, None
        reply = case.follow_up if case.step is Step.RESPOND_AGAIN else b"\x01"
        assert reply is not None
        answer = await wire.call(
            ApiKey.SASL_AUTHENTICATE, version, SaslAuthenticateRequest(auth_bytes=reply)
        )
    except _Closed:
        return Observed.CLOSED, None, None
    return _outcome(answer)


async def _reauthenticate(wire: _Wire, version: int, case: ProbeCase) -> _Outcome:
    """KIP-368: SaslHandshake and SaslAuthenticate again on the granted connection."""
    assert case.follow_up is not None
    try:
        shaken = await wire.call(
            ApiKey.SASL_HANDSHAKE, 1, SaslHandshakeRequest(mechanism="OAUTHBEARER")
        )
        assert isinstance(shaken, SaslHandshakeResponse)
        if shaken.error_code != ErrorCode.NONE:
            return Observed.REFUSED, shaken.error_code, None
        answer = await wire.call(
            ApiKey.SASL_AUTHENTICATE, version, SaslAuthenticateRequest(auth_bytes=case.follow_up)
        )
    except _Closed:
        return Observed.CLOSED, None, None
    return _outcome(answer)


async def probe(
    host: str,
    port: int,
    cases: Iterable[ProbeCase],
    *,
    timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
    concurrency: int = 1,
) -> list[ProbeResult]:
    """Run every case against the listener at ``host:port``, one connection
    each, each bounded by ``timeout_s``, at most ``concurrency`` at a time;
    the results are in the order of ``cases``. Raises :class:`OSError` if the
    listener cannot be reached at all, and :class:`ConfigurationError` if it
    does not enable OAUTHBEARER."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigurationError("probe: concurrency must be an int >= 1")
    gate = asyncio.Semaphore(concurrency)

    async def run(case: ProbeCase) -> ProbeResult:
        async with gate:
            try:
                async with asyncio.timeout(timeout_s):
                    return await _run_case(host, port, case)
            except TimeoutError:
                return ProbeResult(case=case, observed=Observed.TIMEOUT, seconds=timeout_s)
            except (MalformedFrame, MalformedMessage) as err:
                # The broker's answer is not Kafka's wire format: a finding, not a crash.
                return ProbeResult(
                    case=case, observed=Observed.REFUSED, message=f"malformed answer: {err}"
                )

    tasks = [asyncio.ensure_future(run(case)) for case in cases]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:  # one failed (the listener is gone): stop the rest
            task.cancel()
        raise


#: The token the built-in cases send: made up, so a conforming broker challenges it.
PROBE_TOKEN: Final = "probe-token"


def builtin_cases(token: str = PROBE_TOKEN) -> list[ProbeCase]:
    """Cases that test the exchange rather than the grammar: the %x01 flow, a
    client skipping it, a slow sender and an oversize message."""
    good = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
    oversize = b"n,,\x01auth=Bearer " + b"a" * SASL_SERVER_MAX_RECEIVE_SIZE + b"\x01\x01"
    return [
        ProbeCase(
            id="flow-challenge-ack",
            description="a well-formed message; if challenged, %x01 must end in failure",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
        ),
        ProbeCase(
            id="flow-challenge-skip",
            description="challenged, the client sends Metadata instead of %x01: "
            "nothing may be granted",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
            step=Step.SKIP_ACK,
        ),
        ProbeCase(
            id="flow-slow-sender",
            description="the SaslAuthenticate frame one byte at a time",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
            step=Step.SLOW_SEND,
        ),
        ProbeCase(
            id="limit-oversize",
            description="an initial response past sasl.server.max.receive.size (512 KiB)",
            data=oversize,
            kafka=Expected.CLOSED,
            rfc7628=Expected.UNSPECIFIED,
        ),
    ]


def corpus_cases(cases: Iterable[ConformanceCase]) -> list[ProbeCase]:
    """The conformance corpus as probe cases: each initial response sent as is.

    The grammar's verdict becomes the broker's expected behaviour: ``accept`` is
    ``parsed``, ``reject`` is ``refused``. One thing the grammar does not see
    comes first on the wire: a SaslAuthenticate frame larger than
    ``sasl.server.max.receive.size`` is refused unread, so Kafka's broker closes
    the connection whatever the message says.
    """
    from oauthbearer.gs2 import Dialect  # noqa: PLC0415 - with the corpus types
    from oauthbearer.testing.conformance import Outcome  # noqa: PLC0415

    def expected(case: ConformanceCase, dialect: Dialect) -> Expected:
        outcome = case.expect[dialect].verdict.outcome
        return Expected.PARSED if outcome is Outcome.ACCEPT else Expected.REFUSED

    probes = []
    for case in cases:
        kafka = expected(case, Dialect.KAFKA)
        if authenticate_frame_size(case.data) > SASL_SERVER_MAX_RECEIVE_SIZE:
            kafka = Expected.CLOSED
        probes.append(
            ProbeCase(
                id=case.id,
                description=case.description,
                data=case.data,
                kafka=kafka,
                rfc7628=expected(case, Dialect.RFC7628),
            )
        )
    return probes


def authenticate_frame_size(data: bytes) -> int:
    """The size prefix of the SaslAuthenticate v2 request that carries ``data``:
    what ``sasl.server.max.receive.size`` judges before the message is read."""
    header = RequestHeader(
        api_key=ApiKey.SASL_AUTHENTICATE, api_version=2, correlation_id=0, client_id=_CLIENT_ID
    )
    return len(encode_request(header, SaslAuthenticateRequest(auth_bytes=data))) - 4


def summary(results: Sequence[ProbeResult]) -> str:
    """The results as a markdown table."""
    lines = [
        "| case | observed | after challenge | Kafka expects | agrees | RFC 7628 | agrees |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        case = result.case
        lines.append(
            f"| {case.id} | {result.observed}"
            + (f" ({result.error_code})" if result.error_code else "")
            + f" | {result.after_challenge or '-'} | {case.kafka} | {_mark(result.kafka_agrees)} "
            f"| {case.rfc7628} | {_mark(result.rfc7628_agrees)} |"
        )
    lines.extend(
        f"\nVIOLATION {result.case.id}: {result.violation}"
        for result in results
        if result.violation
    )
    return "\n".join(lines)


def _mark(agrees: bool | None) -> str:
    return "-" if agrees is None else ("yes" if agrees else "NO")


def challenge_status(result: ProbeResult) -> str | None:
    """The status of the broker's error challenge, when it sent a well-formed one."""
    if result.observed is not Observed.CHALLENGED or result.message is None:
        return None
    try:
        return ErrorResponse.decode(result.message.encode()).status
    except MalformedMessage:
        return None
