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
  (or, for :attr:`ProbeStep.SKIP_ACK` cases, sends Metadata instead) and records
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

The probe never sends a token of its own unless given one (``token``,
``grantable``); the corpus's tokens are made up (the real-client captures'
unsecured tokens are sent expired), so a well-formed message normally ends in
the challenge, which is how the probe sees that the broker parsed it. A flow
case whose first step never reached what it tests (:attr:`ProbeCase.needs`) is
*not exercised*: neither agreeing nor not.

Before any case, :func:`preflight` checks, within one timeout, that the
listener speaks Kafka and enables OAUTHBEARER. Connections use TLS when given
an :class:`ssl.SSLContext` (SASL_SSL listeners).

As a fuzzer: :func:`generated_cases` draws initial responses from the public
hypothesis strategies, each expecting what the codec predicts
(:func:`predicted`); :func:`shrink_findings` groups the disagreements by kind
(:func:`finding_kind`) and shrinks one input of each against the live listener
by delta debugging (:func:`shrink`), each candidate judged again by the codec
and by the broker; :func:`junit_xml` writes the results for CI.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import enum
import json
import time
from typing import TYPE_CHECKING, Any, Final

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, MalformedMessage
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE, ClientInitialResponse, Dialect, ErrorResponse
from oauthbearer.kafka.protocol import (
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
from oauthbearer.testing.reports import (
    JUnitCase,
    escaped,
    hexed,
    input_json,
    input_lines,
)
from oauthbearer.testing.reports import junit_xml as junit_document

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from oauthbearer.testing.conformance import ConformanceCase

__all__ = [
    "DEFAULT_CASE_TIMEOUT_S",
    "GENERATED_MIX",
    "SHRINK_BUDGET_S",
    "SHRINK_MAX_ATTEMPTS",
    "SHRINK_MAX_RUN",
    "SHRINK_TOTAL_BUDGET_S",
    "Expected",
    "Finding",
    "Observed",
    "ProbeCase",
    "ProbeResult",
    "ProbeStep",
    "builtin_cases",
    "corpus_cases",
    "describe_finding",
    "expired_unsecured_tokens",
    "finding_kind",
    "generated_cases",
    "junit_xml",
    "predicted",
    "predicted_case",
    "preflight",
    "probe",
    "shrink",
    "shrink_findings",
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


class ProbeStep(enum.StrEnum):
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
    step: ProbeStep = ProbeStep.SEND
    #: The second message of :attr:`ProbeStep.RESPOND_AGAIN` and :attr:`ProbeStep.REAUTHENTICATE`.
    follow_up: bytes | None = dataclasses.field(default=None, repr=False)
    #: The first outcome the case exists to reach, when what it tests is the
    #: step after it: ``challenged`` for the %x01 flow, :attr:`ProbeStep.SKIP_ACK` and
    #: :attr:`ProbeStep.RESPOND_AGAIN`, ``granted`` for :attr:`ProbeStep.REAUTHENTICATE`
    #: (the default follows the step). A case that does not reach it is *not
    #: exercised*: the broker never met the situation, so it neither agrees nor not.
    needs: Observed | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ArgumentTypeError("ProbeCase.data must be bytes")
        needs_follow_up = self.step in (ProbeStep.RESPOND_AGAIN, ProbeStep.REAUTHENTICATE)
        if needs_follow_up != isinstance(self.follow_up, bytes):
            raise ArgumentTypeError(
                "ProbeCase.follow_up must be bytes for the respond-again and reauthenticate "
                "steps, and None for the others"
            )
        for name in ("kafka", "rfc7628"):
            object.__setattr__(self, name, Expected(getattr(self, name)))
        object.__setattr__(self, "step", ProbeStep(self.step))
        if self.needs is None:
            object.__setattr__(self, "needs", _STEP_NEEDS.get(self.step))
        else:
            object.__setattr__(self, "needs", Observed(self.needs))


#: What each step needs the first message to reach before it can run.
_STEP_NEEDS: Final = {
    ProbeStep.SKIP_ACK: Observed.CHALLENGED,
    ProbeStep.RESPOND_AGAIN: Observed.CHALLENGED,
    ProbeStep.REAUTHENTICATE: Observed.GRANTED,
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What the broker did with one case."""

    case: ProbeCase
    observed: Observed
    #: The second step: after a challenge, what the broker did with the %x01
    #: (the skipped ack, or the new initial response); after a grant, with the
    #: re-authentication of :attr:`ProbeStep.REAUTHENTICATE`.
    after_challenge: Observed | None = None
    error_code: int | None = None
    #: The broker's error message or challenge, as text (never a token of ours).
    message: str | None = None
    #: The second step's error code and message (or challenge), as for the first.
    after_error_code: int | None = None
    after_message: str | None = None
    seconds: float = 0.0

    @property
    def exercised(self) -> bool:
        """Whether the case reached the situation it tests (:attr:`ProbeCase.needs`)."""
        return self.case.needs is None or self.observed is self.case.needs

    @property
    def kafka_agrees(self) -> bool | None:
        return self.agrees(Dialect.KAFKA)

    @property
    def rfc7628_agrees(self) -> bool | None:
        return self.agrees(Dialect.RFC7628)

    def agrees(self, dialect: Dialect | str) -> bool | None:
        """Whether the broker did what ``dialect`` expects; None when nothing is
        expected, the case was not exercised, or a violation overrides it."""
        if self.violation or not self.exercised:
            return None
        expected = self.case.kafka if Dialect(dialect) is Dialect.KAFKA else self.case.rfc7628
        return expected.admits(self.observed)

    @property
    def violation(self) -> str | None:
        """A finding whatever the case expects: something granted on the challenge path.

        A new initial response after the challenge (:attr:`ProbeStep.RESPOND_AGAIN`)
        starts a new exchange in Kafka's dialect, so a grant there is no finding.
        """
        if (
            self.observed is Observed.CHALLENGED
            and self.after_challenge is Observed.GRANTED
            and self.case.step is not ProbeStep.RESPOND_AGAIN
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


async def _run_case(
    host: str, port: int, case: ProbeCase, tls: ssl.SSLContext | None
) -> ProbeResult:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    wire = _Wire(reader, writer)
    observed: Observed = Observed.TIMEOUT
    after: _Outcome | None = None
    code: int | None = None
    message: str | None = None
    try:
        version = await _handshake(wire)
        send = wire.slow if case.step is ProbeStep.SLOW_SEND else None
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
            elif observed is Observed.GRANTED and case.step is ProbeStep.REAUTHENTICATE:
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
        if case.step is ProbeStep.SKIP_ACK:
            # Metadata instead of %x01 (what aiokafka and KafkaJS do): a broker
            # that names its brokers in the answer has granted the connection.
            answer = await wire.call(ApiKey.METADATA, 1, MetadataRequest(topics=None))
            assert isinstance(answer, MetadataResponse)
            return (Observed.GRANTED if answer.brokers else Observed.REFUSED), None, None
        reply = case.follow_up if case.step is ProbeStep.RESPOND_AGAIN else b"\x01"
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


async def preflight(
    host: str,
    port: int,
    *,
    timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
    tls: ssl.SSLContext | None = None,
) -> None:
    """One connection's ApiVersions and SaslHandshake, bounded by ``timeout_s``:
    raises :class:`ConfigurationError` unless the listener speaks Kafka and
    enables OAUTHBEARER (and :class:`OSError` if it cannot be reached), so that
    a wrong port costs one timeout, not one per case."""
    where = "the listener"
    hint = "" if tls is not None else " (a SASL_SSL listener needs --tls)"
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=tls)
            try:
                await _handshake(_Wire(reader, writer))
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        raise ConfigurationError(
            f"{where} does not speak Kafka: no answer to ApiVersions within {timeout_s:g} s{hint}"
        ) from None
    except _Closed:
        raise ConfigurationError(
            f"{where} does not speak Kafka: it closed the connection on ApiVersions{hint}"
        ) from None
    except (MalformedFrame, MalformedMessage) as err:
        # A TLS listener answers plaintext with an alert: a "frame" of 350 MB.
        raise ConfigurationError(f"{where} does not speak Kafka: {err}{hint}") from None


async def probe(
    host: str,
    port: int,
    cases: Iterable[ProbeCase],
    *,
    timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
    concurrency: int = 1,
    tls: ssl.SSLContext | None = None,
    check_listener: bool = True,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Run every case against the listener at ``host:port``, one connection
    each (over TLS with ``tls``), each bounded by ``timeout_s``, at most
    ``concurrency`` at a time; the results are in the order of ``cases``.
    ``on_result`` is called with each result as soon as its case completes
    (in completion order): the CLI streams progress with it.

    First, unless ``check_listener`` is false, :func:`preflight`: raises
    :class:`OSError` if the listener cannot be reached at all, and
    :class:`ConfigurationError` if it does not speak Kafka or does not enable
    OAUTHBEARER."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigurationError("probe: concurrency must be an int >= 1")
    if check_listener:
        await preflight(host, port, timeout_s=timeout_s, tls=tls)
    gate = asyncio.Semaphore(concurrency)

    async def run(case: ProbeCase) -> ProbeResult:
        result = await run_bounded(case)
        if on_result is not None:
            on_result(result)
        return result

    async def run_bounded(case: ProbeCase) -> ProbeResult:
        async with gate:
            try:
                async with asyncio.timeout(timeout_s):
                    return await _run_case(host, port, case, tls)
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
_PROBE_TOKEN: Final = "probe-token"


def builtin_cases(token: str = _PROBE_TOKEN) -> list[ProbeCase]:
    """Cases that test the exchange rather than the grammar: the %x01 flow, a
    client skipping it, a slow sender and an oversize message."""
    good = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
    oversize = b"n,,\x01auth=Bearer " + b"a" * KAFKA_MAX_RECEIVE_SIZE + b"\x01\x01"
    return [
        ProbeCase(
            id="flow-challenge-ack",
            description="a well-formed message; if challenged, %x01 must end in failure",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
            needs=Observed.CHALLENGED,
        ),
        ProbeCase(
            id="flow-challenge-skip",
            description="challenged, the client sends Metadata instead of %x01: "
            "nothing may be granted",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
            step=ProbeStep.SKIP_ACK,
        ),
        ProbeCase(
            id="flow-slow-sender",
            description="the SaslAuthenticate frame one byte at a time",
            data=good,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
            step=ProbeStep.SLOW_SEND,
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
    """The conformance corpus as probe cases: each initial response sent as is,
    but for one change (:func:`expired_unsecured_tokens`): the real client captures
    carry unsecured tokens that a default broker would grant, so the probe sends
    them expired.

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
        if authenticate_frame_size(case.data) > KAFKA_MAX_RECEIVE_SIZE:
            kafka = Expected.CLOSED
        probes.append(
            ProbeCase(
                id=case.id,
                description=case.description,
                data=expired_unsecured_tokens(case.data),
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
    """The results as a markdown table, then each case's description and input."""
    lines = [
        "| case | observed | after challenge | Kafka expects | agrees | RFC 7628 | agrees |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        case = result.case
        lines.append(
            f"| {case.id} | {result.observed}"
            + (f" ({result.error_code})" if result.error_code else "")
            + f" | {result.after_challenge or ('-' if result.exercised else 'not exercised')} "
            f"| {case.kafka} | {_mark(result.kafka_agrees)} "
            f"| {case.rfc7628} | {_mark(result.rfc7628_agrees)} |"
        )
    lines.extend(
        f"\nVIOLATION {result.case.id}: {result.violation}"
        for result in results
        if result.violation
    )
    if results:
        lines += ["", "Cases:"]
    for result in results:
        lines.append(f"{result.case.id}:")
        lines += input_lines(result.case.description, result.case.data)
        if result.case.follow_up is not None:
            lines.append(f"  then: {escaped(result.case.follow_up)}")
    return "\n".join(lines)


def result_json(result: ProbeResult) -> dict[str, Any]:
    """One result as ``oauthbearer probe --json`` prints it: the case (its
    description and input), what the broker did, and whether each dialect agrees."""
    shown: dict[str, Any] = {
        "case": result.case.id,
        **input_json(result.case.description, result.case.data),
    }
    if result.case.follow_up is not None:
        shown["follow_up_escaped"] = escaped(result.case.follow_up)
        shown["follow_up_hex"] = hexed(result.case.follow_up)
    shown.update(
        {
            "observed": str(result.observed),
            "after_challenge": None
            if result.after_challenge is None
            else str(result.after_challenge),
            "error_code": result.error_code,
            "message": result.message,
            "after_error_code": result.after_error_code,
            "after_message": result.after_message,
            "exercised": result.exercised,
            "kafka_expects": str(result.case.kafka),
            "kafka_agrees": result.kafka_agrees,
            "rfc7628_expects": str(result.case.rfc7628),
            "rfc7628_agrees": result.rfc7628_agrees,
            "violation": result.violation,
            "seconds": round(result.seconds, 3),
        }
    )
    return shown


def progress_line(done: int, total: int, result: ProbeResult, dialect: Dialect | str) -> str:
    """The line the CLI streams as each case completes: ``[done/total] id: observed``."""
    agrees = result.agrees(dialect)
    verdict = (
        f"VIOLATION ({result.violation})"
        if result.violation
        else {None: "-", True: "agrees", False: "DISAGREES"}[agrees]
    )
    return f"[{done}/{total}] {result.case.id}: {result.observed}, {verdict}"


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


def expired_unsecured_tokens(data: bytes) -> bytes:
    """``data`` with an unsecured token (``alg`` ``none``) that has an ``exp``
    claim made to expire in 1970, so that no broker grants it.

    The corpus's wire captures of real clients carry such tokens for ``alice``,
    expiring in 2100: Kafka's default (unsecured) validator would grant them,
    and the probe would authenticate to the listener it probes. Expired, they
    keep their grammar (so their expectations) and end in the challenge."""
    try:
        token = ClientInitialResponse.decode(data, dialect=Dialect.KAFKA).token
    except MalformedMessage:
        return data
    parts = token.split(".")
    if len(parts) != 3 or parts[2]:
        return data
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]
        )
    except (ValueError, TypeError):
        return data
    if not (isinstance(header, dict) and header.get("alg") == "none" and isinstance(claims, dict)):
        return data
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= 1:
        return data
    claims["exp"] = 1
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    expired = f"{parts[0]}.{payload.decode().rstrip('=')}."
    return data.replace(token.encode(), expired.encode())


# --- generated inputs: the public strategies, predicted by the codec ---------------------------

#: The ids of generated cases start with this.
GENERATED_PREFIX: Final = "gen-"
#: How ``--generate N`` shares N among the strategies (weights): valid messages
#: in Kafka's and in the strict dialect's forms, one fault in each rule of either
#: dialect, and byte mutations of a real client's message.
GENERATED_MIX: Final = (("valid-kafka", 5), ("valid-rfc7628", 2), ("invalid", 8), ("mutated", 3))


def predicted(data: bytes, dialect: Dialect | str) -> tuple[Expected, str]:
    """What a broker of ``dialect`` does with ``data`` as an initial response,
    and why: ``accepted``, the codec's reason code, or ``frame-too-large``
    (Kafka refuses a SaslAuthenticate frame past ``sasl.server.max.receive.size``
    unread, by closing the connection)."""
    dialect = Dialect(dialect)
    if dialect is Dialect.KAFKA and authenticate_frame_size(data) > KAFKA_MAX_RECEIVE_SIZE:
        return Expected.CLOSED, "frame-too-large"
    try:
        ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as err:
        return Expected.REFUSED, err.reason
    return Expected.PARSED, "accepted"


def predicted_case(case_id: str, data: bytes, description: str = "") -> ProbeCase:
    """A case whose expectations are the codec's verdicts (:func:`predicted`)."""
    return ProbeCase(
        id=case_id,
        description=description or case_id,
        data=data,
        kafka=predicted(data, Dialect.KAFKA)[0],
        rfc7628=predicted(data, Dialect.RFC7628)[0],
    )


def is_predicted(case: ProbeCase) -> bool:
    """Whether the case's expectations are the codec's, so that any change of
    its bytes can be judged again: what :func:`shrink` needs."""
    return (
        case.step is ProbeStep.SEND
        and case.needs is None
        and case.kafka is predicted(case.data, Dialect.KAFKA)[0]
        and case.rfc7628 is predicted(case.data, Dialect.RFC7628)[0]
    )


def generated_cases(
    count: int, *, seed: int, token: str = _PROBE_TOKEN, grantable: str | None = None
) -> list[ProbeCase]:
    """``count`` initial responses drawn from :mod:`oauthbearer.testing.strategies`
    (shared by :data:`GENERATED_MIX`), each expecting what the codec predicts
    (:func:`predicted_case`); ids ``gen-<kind>-<n>``.

    The made-up ``token`` goes into the mutated messages. With ``grantable`` (a
    token the broker under test grants: only for a broker of your own), every
    other valid Kafka-form message carries it instead of its drawn token, so that
    the grant path is judged too. Needs hypothesis (the ``test`` extra)."""
    try:
        from hypothesis import strategies as st  # noqa: PLC0415 - optional

        from oauthbearer.testing import strategies  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - the test extra is installed in the tests
        raise ConfigurationError(
            f"generated cases need hypothesis (pip install 'oauthbearer[test]'): {err}"
        ) from None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ConfigurationError("generated_cases: count must be an int >= 0")
    weights = sum(weight for _, weight in GENERATED_MIX)
    shares = {kind: count * weight // weights for kind, weight in GENERATED_MIX}
    shares["invalid"] += count - sum(shares.values())
    cases: list[ProbeCase] = []
    valid = strategies.drawn(
        strategies.valid_initial_responses(Dialect.KAFKA), shares["valid-kafka"], seed + 1
    )
    for index, value in enumerate(valid):
        data = value.data
        drawn_token = value.message.token.encode()
        if grantable is not None and index % 2 == 0 and data.count(drawn_token) == 1:
            data = data.replace(drawn_token, grantable.encode())
        cases.append(predicted_case(f"{GENERATED_PREFIX}valid-kafka-{index}", data))
    strict = strategies.drawn(
        strategies.valid_initial_responses(Dialect.RFC7628), shares["valid-rfc7628"], seed + 2
    )
    cases += [
        predicted_case(f"{GENERATED_PREFIX}valid-rfc7628-{index}", value.data)
        for index, value in enumerate(strict)
    ]
    invalid = strategies.drawn(strategies.invalid_initial_responses(), shares["invalid"], seed + 3)
    cases += [
        predicted_case(
            f"{GENERATED_PREFIX}invalid-{value.dialect}-{value.reason}-{index}",
            value.data,
            f"one fault ({value.reason}) in a {value.dialect}-form message",
        )
        for index, value in enumerate(invalid)
    ]
    base = f"n,,\x01auth=Bearer {token}\x01traceId=abc\x01\x01".encode()
    near = strategies.drawn(strategies.mutated(st.just(base)), shares["mutated"], seed + 4)
    cases += [
        predicted_case(
            f"{GENERATED_PREFIX}mutated-{index}", data, "a real client's message, mutated"
        )
        for index, data in enumerate(near)
    ]
    return cases


# --- findings, shrunk --------------------------------------------------------------------------

#: The bound on the probes that shrinking one finding sends.
SHRINK_MAX_ATTEMPTS: Final = 400
#: The longest run of bytes that shrinking cuts at every offset, after ddmin.
SHRINK_MAX_RUN: Final = 8
#: The bound on the time shrinking one finding takes.
SHRINK_BUDGET_S: Final = 30.0
#: The bound on the time shrinking every finding of a run takes.
SHRINK_TOTAL_BUDGET_S: Final = 120.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One kind of disagreement (or a violation): the smallest input found that
    the broker still treats the same way, and how many results share the kind."""

    kind: str
    #: The first result of the kind (the shortest input).
    result: ProbeResult
    #: The results of the kind (the first included).
    count: int
    #: The input, shrunk (the original when shrinking was not possible).
    minimal: bytes = dataclasses.field(repr=False)
    #: The broker's answer to :attr:`minimal`.
    minimal_result: ProbeResult | None = None
    attempts: int = 0
    seconds: float = 0.0


def finding_kind(result: ProbeResult, dialect: Dialect | str) -> str | None:
    """What is wrong with ``result`` against ``dialect``, in terms that stay
    the same while its input shrinks; None when nothing is."""
    if result.violation:
        return f"violation: {result.violation}"
    if result.agrees(dialect) is not False:
        return None
    expected, why = predicted(result.case.data, dialect)
    if not is_predicted(result.case):
        expected = result.case.kafka if Dialect(dialect) is Dialect.KAFKA else result.case.rfc7628
        why = result.case.id
    return f"{Dialect(dialect)} expects {expected} ({why}), observed {result.observed}"


async def shrink(
    host: str,
    port: int,
    result: ProbeResult,
    *,
    dialect: Dialect | str = Dialect.KAFKA,
    timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
    concurrency: int = 1,
    tls: ssl.SSLContext | None = None,
    max_attempts: int = SHRINK_MAX_ATTEMPTS,
    budget_s: float = SHRINK_BUDGET_S,
) -> tuple[bytes, ProbeResult | None, int]:
    """Delta debugging (Zeller's ddmin) against the live listener: the shortest
    part of ``result``'s input (bytes removed, order kept) that the broker still
    answers with the same :func:`finding_kind`, found within ``max_attempts``
    probes and ``budget_s`` seconds. After ddmin, every run of up to
    :data:`SHRINK_MAX_RUN` bytes is cut at every offset, so that a whole pair or
    word goes too. Returns the input, the broker's answer to it
    (None when nothing smaller held) and the probes sent.

    Each candidate is judged by the codec again (:func:`predicted_case`), so a
    cut that changes the prediction and the answer alike is not taken for the
    same finding. Only cases with the codec's expectations can be shrunk."""
    kind = finding_kind(result, dialect)
    if kind is None or not is_predicted(result.case):
        return result.case.data, None, 0
    judged: dict[bytes, ProbeResult | None] = {}
    attempts = 0
    deadline = time.monotonic() + budget_s

    async def holding(batch: list[bytes]) -> ProbeResult | None:
        """The first candidate of ``batch`` with the same finding, if any."""
        nonlocal attempts
        fresh = [c for c in dict.fromkeys(batch) if c not in judged][: max_attempts - attempts]
        attempts += len(fresh)
        answers = await probe(
            host,
            port,
            [predicted_case(f"shrink-{n}", data) for n, data in enumerate(fresh)],
            timeout_s=timeout_s,
            concurrency=concurrency,
            tls=tls,
            check_listener=False,
        )
        for data, answer in zip(fresh, answers, strict=True):
            judged[data] = answer if finding_kind(answer, dialect) == kind else None
        return next((judged[c] for c in batch if judged.get(c) is not None), None)

    def left() -> bool:
        return attempts < max_attempts and time.monotonic() < deadline

    data = result.case.data
    best: ProbeResult | None = None
    parts = 2
    while data and left():
        size = -(-len(data) // parts)
        held = await holding([data[:i] + data[i + size :] for i in range(0, len(data), size)])
        if held is not None:
            data, best = held.case.data, held
            parts = max(parts - 1, 2)
        elif size == 1:
            break
        else:
            parts = min(2 * parts, len(data))
    # ddmin cuts at multiples of the chunk size; a key=value pair or a word
    # straddles them. Cutting every short run at every offset finishes the job.
    width = SHRINK_MAX_RUN
    while width > 1 and left():
        runs = [data[:i] + data[i + width :] for i in range(len(data) - width + 1)]
        held = await holding(runs) if runs else None
        if held is not None:
            data, best, width = held.case.data, held, SHRINK_MAX_RUN
        else:
            width -= 1
    return data, best, attempts


async def shrink_findings(
    host: str,
    port: int,
    results: Sequence[ProbeResult],
    *,
    dialect: Dialect | str = Dialect.KAFKA,
    timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
    concurrency: int = 1,
    tls: ssl.SSLContext | None = None,
    budget_s: float = SHRINK_TOTAL_BUDGET_S,
) -> list[Finding]:
    """Every disagreement and violation among ``results``, grouped by
    :func:`finding_kind`, the shortest input of each kind shrunk (:func:`shrink`)
    while ``budget_s`` lasts. A timeout is not shrunk (each attempt would cost
    the whole timeout), nor a case whose expectations are not the codec's."""
    kinds: dict[str, list[ProbeResult]] = {}
    for result in results:
        kind = finding_kind(result, dialect)
        if kind is not None:
            kinds.setdefault(kind, []).append(result)
    findings = []
    deadline = time.monotonic() + budget_s
    for kind, members in kinds.items():
        first = min(members, key=lambda r: len(r.case.data))
        started = time.monotonic()
        minimal, answer, attempts = first.case.data, None, 0
        left = deadline - started
        if left > 0 and first.observed is not Observed.TIMEOUT:
            minimal, answer, attempts = await shrink(
                host,
                port,
                first,
                dialect=dialect,
                timeout_s=timeout_s,
                concurrency=concurrency,
                tls=tls,
                budget_s=min(SHRINK_BUDGET_S, left),
            )
        findings.append(
            Finding(
                kind=kind,
                result=first,
                count=len(members),
                minimal=minimal,
                minimal_result=answer,
                attempts=attempts,
                seconds=time.monotonic() - started,
            )
        )
    return findings


def describe_finding(finding: Finding) -> str:
    """The finding as the report prints it: the kind, the count, the minimal input."""
    original = finding.result.case
    lines = [
        f"FINDING {finding.kind}: {finding.count} case(s), e.g. {original.id}",
        (
            f"  minimal input ({len(finding.minimal)} of {len(original.data)} bytes, "
            f"{finding.attempts} probes, {finding.seconds:.1f} s):"
        ),
        f"    text: {escaped(finding.minimal)}",
        f"    hex:  {hexed(finding.minimal)}",
    ]
    answer = finding.minimal_result or finding.result
    if answer.message:
        lines.append(f"  the broker said: {escaped(answer.message.encode(), 200)}")
    return "\n".join(lines)


# --- JUnit XML -----------------------------------------------------------------------------------


def junit_xml(
    results: Sequence[ProbeResult],
    *,
    dialect: Dialect | str,
    target: str,
    findings: Sequence[Finding] = (),
) -> str:
    """The results as JUnit XML, for CI: one ``testcase`` per case; a
    ``failure`` for a disagreement with ``dialect`` or a violation (with the
    shrunk input of its finding), ``skipped`` for a case not exercised or with
    no expectation. Every case carries its description and input."""
    dialect = Dialect(dialect)
    by_case = {finding.result.case.id: finding for finding in findings}
    kinds = {finding.kind: finding for finding in findings}
    entries = []
    for result in results:
        case = result.case
        agrees = result.agrees(dialect)
        expected = case.kafka if dialect is Dialect.KAFKA else case.rfc7628
        details = input_lines(case.description, case.data, indent="")
        details.append(
            f"broker: {result.observed} {result.error_code or ''} "
            f"{escaped((result.message or '').encode(), 200)}"
        )
        failure = skipped = None
        if result.violation or agrees is False:
            failure = (
                f"violation: {result.violation}"
                if result.violation
                else f"observed {result.observed}, {dialect} expects {expected}"
            )
            kind = finding_kind(result, dialect)
            finding = by_case.get(case.id) or (kinds.get(kind) if kind else None)
            if finding is not None:
                details += [
                    f"minimal input of this kind: {escaped(finding.minimal)}",
                    f"hex: {hexed(finding.minimal)}",
                ]
        elif agrees is None:
            skipped = "not exercised" if not result.exercised else f"{dialect} expects nothing"
        entries.append(
            JUnitCase(
                name=case.id,
                classname="oauthbearer.probe",
                seconds=result.seconds,
                failure=failure,
                skipped=skipped,
                details="\n".join(details),
                kind="violation" if result.violation else ("disagree" if failure else None),
            )
        )
    return junit_document(f"oauthbearer probe {target} ({dialect})", entries)
