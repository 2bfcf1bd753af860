"""Kafka's rules for the claims of a signed JWT, shared by every Kafka-side reader.

Theory of operation
-------------------
Apache Kafka reads a signed access token's claims in two places, with the same
rules: the broker's ``BrokerJwtValidator`` (``ValidatorAccessTokenValidator``
before Kafka 4.1), which first lets jose4j's ``JwtConsumer`` check the
signature and the registered claims, and the client's ``ClientJwtValidator``
(``LoginAccessTokenValidator``), which checks no signature. Both finish with
``ClaimValidationUtils``. This module holds those rules once:

* :func:`kafka_scope`: the scope claim. A string is *one* scope element (Kafka
  does not split ``"read write"``); an array gives its elements; any other
  value (absent, ``null``, a number, an object) gives no scope. Every element
  must be a string that is not blank (Java's ``String.trim``), is trimmed, and
  may appear only once after trimming.
* :func:`kafka_subject`: the principal claim is a string, not blank, trimmed.
* :func:`jose4j_seconds`, :func:`jose4j_time_problem` and :func:`kafka_millis`:
  jose4j's NumericDate. A ``null`` claim is an absent one; a number is read as
  Java's ``Number.longValue()`` (truncated toward zero, saturated at the ``long``
  range for a fraction) and an integer beyond the ``long`` range is refused. The
  evaluation time is whole seconds. With ``s`` the clock skew: expired when
  ``now - s >= exp``; refused when ``exp < iat`` or ``exp < nbf``; not yet valid
  when ``now + s < nbf``. ``iat`` is not compared with the clock. Kafka then
  turns ``exp`` and ``iat`` into milliseconds, which must not overflow a
  ``long`` (jose4j throws, and the broker drops the connection) nor be
  negative (``ClaimValidationUtils``).
* :data:`KAFKA_MAX_TOKEN_LENGTH`: Kafka has no token length limit of its own.

Refusals are :class:`~oauthbearer.errors.InvalidToken` with status
``invalid_token`` (what Kafka's broker answers for every claim problem) and a
``detail`` in Kafka's words where Kafka has words. Where Kafka crashes on a
claim (a ``ClassCastException``, an ``ArithmeticException``), the token is
refused the same way. The unsecured validator (:mod:`oauthbearer.unsecured`)
follows other Kafka code, ``OAuthBearerUnsecuredJws``, and shares only
:func:`java_trim` with this module.

This module is pure.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, NoReturn

from oauthbearer.errors import InvalidToken, TokenReason
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE

__all__ = [
    "KAFKA_MAX_TOKEN_LENGTH",
]

#: Longest token Kafka's broker validates: it has no limit of its own, only the
#: SASL receive size (``sasl.server.max.receive.size``) of the message that
#: carries the token, so no longer token can reach it.
KAFKA_MAX_TOKEN_LENGTH: Final = KAFKA_MAX_RECEIVE_SIZE

#: Characters Java's ``String.trim()`` removes: U+0000 to U+0020.
_JAVA_SPACE: Final = "".join(chr(c) for c in range(0x21))
#: What Java's integer parsers read: an optional sign, then ASCII digits.
_JAVA_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
#: Digits of the largest Java integer, Long.MAX_VALUE (9223372036854775807).
_MAX_JAVA_DIGITS: Final = 19
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1


def _refuse(reason: TokenReason, detail: str) -> NoReturn:
    raise InvalidToken("invalid_token", reason=reason, detail=detail)


def java_integer(text: str, java_range: range) -> int | None:
    """``text`` as Java's ``Integer.parseInt`` / ``Long.parseLong`` read it (an
    optional sign, then ASCII digits), if its value is in ``java_range``;
    ``None`` where Java refuses it. Any length is judged: Python's ``int()``
    refuses more than 4,300 digits, and no Java integer has more than 19
    (leading zeros aside, which Java reads)."""
    if not _JAVA_INTEGER.fullmatch(text):
        return None
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > _MAX_JAVA_DIGITS:
        return None
    number = -int(digits) if text.startswith("-") else int(digits)
    return number if number in java_range else None


def java_trim(text: str) -> str:
    """Java's ``String.trim``: drop the code points up to U+0020 at both ends."""
    return text.strip(_JAVA_SPACE)


def _non_blank(claim: str, value: object) -> str:
    """``ClaimValidationUtils.validateString``: a string that is not blank, trimmed."""
    if value is not None and not isinstance(value, str):
        # Kafka casts to String: a ClassCastException, which drops the connection.
        _refuse(
            TokenReason.INVALID_CLAIM, f"{claim} value must be a string, not {type(value).__name__}"
        )
    trimmed = None if value is None else java_trim(value)
    if not trimmed:
        _refuse(
            TokenReason.MISSING_CLAIM if value is None else TokenReason.INVALID_CLAIM,
            f"{claim} value must be non-null, non-empty, and non-whitespace",
        )
    return trimmed


def kafka_scope(claim: str, value: object) -> frozenset[str]:
    """The scope Kafka grants for a scope claim holding ``value`` (``None`` when absent)."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list):
        items = value
    else:
        return frozenset()
    scope: set[str] = set()
    for item in items:
        element = _non_blank(claim, item)
        if element in scope:
            _refuse(
                TokenReason.INVALID_CLAIM,
                f"{claim} value must not contain duplicates - {element} already present",
            )
        scope.add(element)
    return frozenset(scope)


def kafka_subject(claim: str, value: object) -> str:
    """The principal Kafka takes from the subject claim holding ``value``."""
    return _non_blank(claim, value)


def jose4j_seconds(claims: dict[str, Any], name: str) -> int | None:
    """A NumericDate claim as jose4j reads it: whole seconds, or ``None`` when absent or null."""
    value = claims.get(name)
    if value is None:
        return None
    if type(value) is int:
        if not _LONG_MIN <= value <= _LONG_MAX:
            # jose4j's JSON parser makes it a BigInteger.
            _refuse(
                TokenReason.INVALID_CLAIM,
                f"the JWT {name!r} claim {value} is unreasonable for a NumericDate",
            )
        return value
    if type(value) is float:
        # Number.longValue(): toward zero, saturated at the long range.
        return max(_LONG_MIN, min(_LONG_MAX, math.trunc(value)))
    _refuse(
        TokenReason.INVALID_CLAIM, f"the JWT {name!r} claim is not a number (RFC 7519 NumericDate)"
    )


def jose4j_time_problem(
    now: float, skew: float, exp: int, iat: int | None, nbf: int | None
) -> tuple[TokenReason, str] | None:
    """What jose4j's ``NumericDateValidator`` finds wrong with the times, if
    anything: the reason and the detail."""
    now_s = math.floor(now)  # NumericDate.now(): whole seconds
    if now_s - skew >= exp:
        return (
            TokenReason.EXPIRED,
            f"the JWT expired: exp {exp} <= now {now_s} - clock skew {skew:g} s",
        )
    if iat is not None and exp < iat:
        return (
            TokenReason.INVALID_CLAIM,
            f"the JWT expires (exp {exp}) before it was issued (iat {iat})",
        )
    if nbf is not None:
        if exp < nbf:
            return (
                TokenReason.INVALID_CLAIM,
                f"the JWT expires (exp {exp}) before it is valid (nbf {nbf})",
            )
        if now_s + skew < nbf:
            return (
                TokenReason.NOT_YET_VALID,
                f"the JWT is not valid yet: nbf {nbf} > now {now_s} + clock skew {skew:g} s",
            )
    return None


def kafka_millis(name: str, seconds: int) -> int:
    """``NumericDate.getValueInMillis`` then ``ClaimValidationUtils``: not negative."""
    millis = seconds * 1000
    if not _LONG_MIN <= millis <= _LONG_MAX:
        # jose4j throws an ArithmeticException, and Kafka's broker drops the connection.
        _refuse(
            TokenReason.INVALID_CLAIM, f"{name} value {seconds} s overflows a long in milliseconds"
        )
    if millis < 0:
        _refuse(
            TokenReason.INVALID_CLAIM,
            f'{name} value must be non-negative; value given was "{millis}"',
        )
    return millis
