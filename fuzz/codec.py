#!/usr/bin/env python3
"""Fuzz target: the OAUTHBEARER message codec (``oauthbearer.gs2``).

Every input is decoded three ways: as a client initial response in the strict
dialect and in Kafka's, and as a server error challenge. The oracle:

* ``decode`` raises :class:`~oauthbearer.errors.MalformedMessage` and nothing
  else, with a documented ``reason`` and an ``offset`` inside the input;
* what decodes is a valid value: rebuilding it through the validating
  constructor works, and ``decode(encode(x)) == x``, extension order included;
* a message the strict dialect accepts, Kafka's accepts too, with the same
  fields, except for the documented differences (``docs/dialects.md``).

Run: ``python fuzz/codec.py fuzz/corpus/codec -atheris_runs=1000000``.
"""

from __future__ import annotations

import re

from fuzzlib import check, main, violated

from oauthbearer.errors import ConfigurationError, MalformedMessage, MalformedReason
from oauthbearer.gs2 import (
    ClientInitialResponse,
    Dialect,
    ErrorResponse,
)

_ASCII_AUTHZID = re.compile(r"[\x01-\x7f]+")


def _fields(msg: ClientInitialResponse) -> tuple[object, ...]:
    return (msg.gs2_flag, msg.authzid, msg.scheme, msg.token, list(msg.extensions.items()))


def _check_refusal(err: MalformedMessage, data: bytes, what: str) -> None:
    check(err.reason in MalformedReason, f"{what}: undocumented reason {err.reason!r}")
    check(
        err.offset is None or 0 <= err.offset <= len(data),
        f"{what}: offset {err.offset} outside the input of {len(data)} bytes",
    )


def _rebuilt(msg: ClientInitialResponse, what: str) -> ClientInitialResponse | None:
    """``msg`` through the validating constructor, or None where the encoder
    refuses by design what Kafka's dialect accepts (its ``port`` and count rules)."""
    try:
        return ClientInitialResponse(
            msg.token,
            authzid=msg.authzid,
            extensions=msg.extensions,
            scheme=msg.scheme,
            gs2_flag=msg.gs2_flag,
        )
    except ConfigurationError as err:
        if "port" in msg.extensions or "at most" in str(err):
            return None
        violated(f"{what}: a decoded message fails the constructor's checks: {err}")


def _decode_initial(data: bytes, dialect: Dialect) -> ClientInitialResponse | None:
    kafka = dialect is Dialect.KAFKA
    what = f"ClientInitialResponse.decode({dialect.value})"
    try:
        msg = ClientInitialResponse.decode(data, dialect=dialect)
    except MalformedMessage as err:
        _check_refusal(err, data, what)
        if kafka:
            check(err.kafka_message is not None, f"{what}: no Kafka message text")
        return None
    rebuilt = _rebuilt(msg, what)
    if rebuilt is None:
        return msg
    check(rebuilt == msg and hash(rebuilt) == hash(msg), f"{what}: rebuilt message differs")
    encoded = msg.encode()
    # The strict reading of the encoder's output must be the message itself.
    again = ClientInitialResponse.decode(encoded)
    check(_fields(again) == _fields(msg), f"{what}: decode(encode(x)) != x (strict)")
    if kafka and (msg.authzid is None or "=" not in msg.authzid):
        # Kafka keeps "=2C" and "=3D" as sent, so only an authzid without them
        # reads back unchanged.
        again = ClientInitialResponse.decode(encoded, dialect=Dialect.KAFKA)
        check(_fields(again) == _fields(msg), f"{what}: decode(encode(x)) != x (kafka)")
    return msg


def _check_dialects(data: bytes, strict: ClientInitialResponse, kafka: object) -> None:
    """Kafka's dialect accepts what the strict one does, but for the RFC's extras."""
    header = data.split(b"\x01", 1)[0]
    relaxed = (
        strict.gs2_flag == "y"
        or (strict.authzid is not None and not _ASCII_AUTHZID.fullmatch(strict.authzid))
        or b"=2C" in header
        or b"=3D" in header
        or "" in strict.extensions.values()
        or strict.is_discovery
    )
    if not relaxed:
        check(kafka == strict, "a message the strict dialect accepts differs in Kafka's")


def _decode_error(data: bytes) -> None:
    what = "ErrorResponse.decode"
    try:
        error = ErrorResponse.decode(data)
    except MalformedMessage as err:
        _check_refusal(err, data, what)
        check(err.status is None, f"{what}: a bad challenge carries a status")
        return
    check(ErrorResponse.decode(error.encode()) == error, f"{what}: decode(encode(x)) != x")


def test_one_input(data: bytes) -> None:
    strict = _decode_initial(data, Dialect.RFC7628)
    kafka = _decode_initial(data, Dialect.KAFKA)
    if strict is not None:
        _check_dialects(data, strict, kafka)
    _decode_error(data)


if __name__ == "__main__":
    main(test_one_input)
