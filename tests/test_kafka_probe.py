"""The broker probe, against our emulator and against fake brokers that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import TYPE_CHECKING

import pytest

from oauthbearer import UnsecuredJwsValidator
from oauthbearer.kafka import (
    ApiVersionsResponse,
    Frame,
    KafkaFrameDecoder,
    ResponseHeader,
    SaslAuthenticateResponse,
    SaslHandshakeResponse,
    decode_request,
    encode_response,
)
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.testing.probe import (
    Expected,
    Observed,
    ProbeCase,
    ProbeResult,
    ProbeStep,
    builtin_cases,
    challenge_status,
    probe,
    summary,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from oauthbearer.kafka import RequestHeader, RequestMessage, ResponseMessage

    Answer = Callable[[RequestHeader, RequestMessage, int], ResponseMessage | bytes | None]

WELL_FORMED = b"n,,\x01auth=Bearer abc\x01\x01"
MALFORMED = b"n,,\x01auth=Bearer a b\x01\x01"  # a space inside the token


def run(
    cases: Sequence[ProbeCase], *, timeout_s: float = 5.0, server: BrokerEmulator | None = None
) -> list[ProbeResult]:
    async def main() -> list[ProbeResult]:
        async with server or BrokerEmulator(UnsecuredJwsValidator()) as emulator:
            return await probe(emulator.host, emulator.port, cases, timeout_s=timeout_s)

    return asyncio.run(main())


def test_the_emulator_does_what_kafka_expects_on_the_builtin_cases() -> None:
    results = run(builtin_cases())
    by_id = {r.case.id: r for r in results}
    assert all(r.kafka_agrees for r in results), summary(results)
    assert not any(r.violation for r in results)
    ack = by_id["flow-challenge-ack"]
    assert (ack.observed, ack.after_challenge) == (Observed.CHALLENGED, Observed.REFUSED)
    assert challenge_status(ack) == "invalid_token"
    skip = by_id["flow-challenge-skip"]
    assert skip.after_challenge in (Observed.REFUSED, Observed.CLOSED)
    assert by_id["limit-oversize"].observed is Observed.CLOSED
    assert by_id["flow-slow-sender"].observed is Observed.CHALLENGED


def test_grammar_cases_are_judged_against_both_expectations() -> None:
    cases = [
        ProbeCase(
            id="ok",
            description="",
            data=WELL_FORMED,
            kafka=Expected.PARSED,
            rfc7628=Expected.PARSED,
        ),
        ProbeCase(
            id="space",
            description="",
            data=MALFORMED,
            kafka=Expected.REFUSED,
            rfc7628=Expected.REFUSED,
        ),
        ProbeCase(  # Kafka refuses the y flag; RFC 5801 allows it
            id="y-flag",
            description="",
            data=b"y,,\x01auth=Bearer abc\x01\x01",
            kafka=Expected.REFUSED,
            rfc7628=Expected.PARSED,
        ),
    ]
    results = {r.case.id: r for r in run(cases)}
    assert results["ok"].observed is Observed.CHALLENGED
    assert results["space"].observed is Observed.REFUSED
    assert results["space"].error_code == 58
    assert (results["y-flag"].kafka_agrees, results["y-flag"].rfc7628_agrees) == (True, False)
    assert "| y-flag | refused (58) |" in summary(list(results.values()))


# --- fake brokers ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fake_broker(answer: Answer) -> AsyncIterator[int]:
    """A broker that answers ApiVersions and SaslHandshake properly and each
    other request (SaslAuthenticates numbered from 0 on each connection) with
    ``answer``: a message, the raw bytes to follow the correlation id, or None
    to say nothing."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = KafkaFrameDecoder()
        rounds = 0
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                decoder.receive_data(data)
                while isinstance(frame := decoder.next_event(), Frame):
                    header, request = decode_request(frame)
                    reply: ResponseMessage | bytes | None
                    if header.api_key == 18:
                        reply = ApiVersionsResponse.supporting()
                    elif header.api_key == 17:
                        reply = SaslHandshakeResponse(mechanisms=("OAUTHBEARER",))
                    else:
                        reply = answer(header, request, rounds)
                        rounds += 1
                    if isinstance(reply, bytes):
                        body = header.correlation_id.to_bytes(4, "big") + reply
                        writer.write(len(body).to_bytes(4, "big") + body)
                    elif reply is not None:
                        version = 0 if header.api_key == 18 and header.api_version > 4 else None
                        writer.write(
                            encode_response(
                                ResponseHeader(correlation_id=header.correlation_id),
                                reply,
                                header.api_version if version is None else version,
                            )
                        )
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def probe_fake(
    answer: Answer, cases: Sequence[ProbeCase], timeout_s: float = 2.0
) -> list[ProbeResult]:
    async def main() -> list[ProbeResult]:
        async with fake_broker(answer) as port:
            return await probe("127.0.0.1", port, cases, timeout_s=timeout_s)

    return asyncio.run(main())


CHALLENGE = SaslAuthenticateResponse(auth_bytes=b'{"status":"invalid_token"}')


def test_a_broker_granting_after_the_challenge_is_a_violation() -> None:
    def answer(header: RequestHeader, request: RequestMessage, round_: int) -> ResponseMessage:
        return CHALLENGE if round_ == 0 else SaslAuthenticateResponse()

    (result,) = probe_fake(answer, builtin_cases()[:1])
    assert result.after_challenge is Observed.GRANTED
    assert result.violation == "granted after an error challenge"
    assert result.kafka_agrees is None
    assert "VIOLATION flow-challenge-ack" in summary([result])


def test_a_silent_broker_times_out_within_the_bound() -> None:
    def answer(header: RequestHeader, request: RequestMessage, round_: int) -> None:
        return None

    case = ProbeCase(
        id="x", description="", data=WELL_FORMED, kafka=Expected.PARSED, rfc7628=Expected.PARSED
    )
    (result,) = probe_fake(answer, [case], timeout_s=0.5)
    assert result.observed is Observed.TIMEOUT
    assert result.kafka_agrees is False


def test_a_broker_answering_garbage_is_reported_not_raised() -> None:
    def answer(header: RequestHeader, request: RequestMessage, round_: int) -> bytes:
        return b"\xff" * 9  # not a SaslAuthenticate response at any version

    case = ProbeCase(
        id="x", description="", data=WELL_FORMED, kafka=Expected.PARSED, rfc7628=Expected.PARSED
    )
    (result,) = probe_fake(answer, [case])
    assert result.observed is Observed.REFUSED
    assert result.message is not None
    assert result.message.startswith("malformed answer")


def test_cases_check_their_fields() -> None:
    with pytest.raises(ValueError, match="nope"):
        ProbeCase(id="x", description="", data=b"", kafka="nope", rfc7628=Expected.PARSED)  # type: ignore[arg-type]
    case = ProbeCase(
        id="x",
        description="",
        data=b"",
        kafka=Expected.PARSED,
        rfc7628=Expected.PARSED,
        step="slow-send",  # type: ignore[arg-type]
    )
    assert case.step is ProbeStep.SLOW_SEND
    assert "data" not in repr(case)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_probe_against_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    from oauthbearer.cli import main

    with BrokerEmulator(UnsecuredJwsValidator()).running_in_thread() as emulator:
        assert main(["probe", "--bootstrap", emulator.bootstrap]) == 0
        out = capsys.readouterr().out
        assert "| flow-challenge-ack | challenged | refused | parsed | yes |" in out
        assert " as kafka expects, 0 not, 0 not exercised, 0 violations; " in out
        # The emulator is Kafka, not RFC 7628 strict: the y flag and others differ.
        assert main(["probe", "--bootstrap", emulator.bootstrap, "--expect", "rfc7628"]) == 1
        capsys.readouterr()
        code = main(
            ["probe", "--bootstrap", emulator.bootstrap, "--case", "flow-challenge-*", "--json"]
        )
        results = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["case"] for r in results] == ["flow-challenge-ack", "flow-challenge-skip"]
    assert results[0]["after_challenge"] == "refused"
    assert results[0]["violation"] is None


def test_cli_probe_reports_an_unreachable_listener(capsys: pytest.CaptureFixture[str]) -> None:
    from oauthbearer.cli import main

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert main(["probe", "--bootstrap", f"127.0.0.1:{port}", "--case", "flow-*"]) == 2
    assert "oauthbearer probe: 127.0.0.1:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["probe", "--bootstrap", "nowhere"])
    with pytest.raises(SystemExit):
        main(["probe", "--bootstrap", "127.0.0.1:1", "--case", "no-such-case"])


def test_corpus_cases_expect_the_frame_limit_before_the_grammar() -> None:
    from oauthbearer.testing.conformance import load_corpus
    from oauthbearer.testing.probe import corpus_cases

    probes = {case.id: case for case in corpus_cases(load_corpus())}
    big = [c for c in probes.values() if len(c.data) > 500_000]
    assert big, "the corpus has its size cases"
    assert all(c.kafka is Expected.CLOSED for c in big)
    assert probes["rfc7628-4.1-imap"].kafka is Expected.PARSED
