"""The one error tree of oauthbearer.

Theory of operation
-------------------
Everything this library raises on purpose derives from :class:`OAuthBearerError`.
Three families hang below it, by who has to act:

* the peer sent something wrong: :class:`ProtocolError`, and below it
  :class:`MalformedMessage` for bytes that break the grammar. They carry the
  RFC 7628 ``status`` where one applies and, where the protocol defines one, the
  ``reply`` bytes to send back;
* the local program called something wrong: :class:`SessionStateError` (a call
  made in a state that does not allow it) and :class:`ConfigurationError` (a bad
  option or field value; also a :class:`ValueError`), :class:`ArgumentTypeError`
  (also a :class:`TypeError`);
* the exchange itself reached a verdict: :class:`InvalidToken` (a validator
  refused a token) and :class:`AuthenticationFailed` (the exchange is over and
  failed).

No message built here ever contains a token, a client secret or a key: errors
name the field and the byte offset, never the secret value.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MALFORMED_REASONS",
    "ArgumentTypeError",
    "AuthenticationFailed",
    "ConfigurationError",
    "InvalidToken",
    "MalformedMessage",
    "OAuthBearerError",
    "ProtocolError",
    "SessionStateError",
]


#: Every :attr:`MalformedMessage.reason` this library raises, with its meaning.
#: Codes are stable: new ones may be added, none is renamed or reused.
MALFORMED_REASONS: Final = types.MappingProxyType(
    {
        # client initial response: structure (RFC 7628 section 3.1, RFC 5801 section 4)
        "too-large": "the input exceeds the size limit; nothing of it was parsed",
        "truncated": "the input ends inside the GS2 header or inside a key/value pair",
        "invalid-gs2-header": "the GS2 header is not 'n' or 'y', ',' [authzid] ','",
        "channel-binding": "the client asks for channel binding ('p='), which OAUTHBEARER lacks",
        "invalid-authzid": "the authzid is empty, holds NUL, a bad '=' escape or bad UTF-8",
        "missing-kvsep": "no %x01 follows the GS2 header",
        "invalid-key": "a key is empty or holds a byte other than ALPHA",
        "invalid-value": "a value holds a byte outside VCHAR / SP / HTAB / CR / LF "
        "(or is empty, in Kafka's dialect)",
        "missing-terminator": "the input ends after a pair, without the final %x01",
        "trailing-data": "bytes follow the final %x01",
        # client initial response: meaning
        "duplicate-key": "a key, 'auth' included, appears twice (strict dialect)",
        "too-many-extensions": "more extension pairs than the limit (strict dialect)",
        "invalid-port": "'port' is not a decimal port number without leading zeros",
        "missing-auth": "there is no 'auth' pair",
        "invalid-auth": "'auth' is not a scheme, one or more spaces and a token",
        "unsupported-scheme": "the scheme is not 'Bearer' (compared case-insensitively)",
        "invalid-token-syntax": "the token is not an RFC 6750 b64token",
        # error response (RFC 7628 section 3.2.2)
        "invalid-utf8": "the error response is not UTF-8",
        "invalid-json": "the error response is not JSON (or nests too deep, or has NaN)",
        "not-an-object": "the error response is JSON but not an object",
        "duplicate-field": "a member of the error response appears twice",
        "missing-status": "the error response has no 'status'",
        "invalid-field": "a member is not a string, is empty or holds control characters; "
        "or 'status' is not an RFC 6749 error code",
        # the exchange
        "invalid-challenge-reply": "after an error challenge the client sent something "
        "other than exactly %x01 (the strict dialect; Kafka's parses it as a new "
        "initial response)",
    }
)


class OAuthBearerError(Exception):
    """The root of every error this library raises on purpose."""


class ConfigurationError(OAuthBearerError, ValueError):
    """A local option or field value is not acceptable; the message names it.

    Where an argument of the call would change the verdict, ``remedy`` is that
    argument as the message writes it, a Python call's spelling such as
    ``allow_insecure_loopback=True``. A shell that spells the argument
    otherwise (the command line's ``--insecure-loopback``) says so with
    :meth:`worded_for`, rather than telling its user a Python parameter.
    """

    def __init__(self, message: str = "", *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy

    def worded_for(self, spellings: Mapping[str, str]) -> str:
        """The message, its :attr:`remedy` spelled as ``spellings`` spell it
        (remedy -> the shell's spelling); as ``str()`` when it has none there."""
        text = str(self)
        if self.remedy is None or self.remedy not in spellings:
            return text
        return text.replace(self.remedy, spellings[self.remedy])


class ArgumentTypeError(ConfigurationError, TypeError):
    """A local argument has the wrong type; the message names it."""


class ProtocolError(OAuthBearerError):
    """The peer, or the local program, broke the rules of the exchange.

    ``status`` is the RFC 7628 / RFC 6750 error code that describes the problem,
    where one applies (for a malformed client message, ``invalid_request``).
    ``reply`` is the bytes the protocol says to send back, or ``None`` when the
    only correct reaction is to fail the exchange.
    """

    def __init__(
        self, message: str, *, status: str | None = None, reply: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reply = reply


class MalformedMessage(ProtocolError):
    """Bytes from the peer do not follow the grammar.

    ``reason`` is a stable, kebab-case code (see the reason-code table in the
    documentation); ``offset`` is the index of the first offending byte (or the
    length of the input when it ended too early); ``detail`` says what is wrong
    there in plain words. ``kafka_message`` is, in Kafka's dialect, the exact
    text Apache Kafka's broker reports for the same input.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        offset: int | None,
        kafka_message: str | None = None,
        status: str | None = "invalid_request",
    ) -> None:
        where = "" if offset is None else f" at byte {offset}"
        text = f"{reason}: {detail}{where}"
        if kafka_message is not None:
            text = f"{kafka_message} ({text})"
        super().__init__(text, status=status)
        self.reason = reason
        self.detail = detail
        self.offset = offset
        self.kafka_message = kafka_message


class SessionStateError(ProtocolError):
    """A session method was called in a state that does not allow it.

    The session is left in its ``FAILED`` state. ``state`` and ``call`` name
    where the machine was and what was attempted; ``outcome`` qualifies the
    call where only some of its outcomes are allowed (``receive_outcome`` with
    ``failure`` after success, say).
    """

    def __init__(self, machine: str, state: str, call: str, *, outcome: str | None = None) -> None:
        qualifier = "" if outcome is None else f" ({outcome})"
        super().__init__(f"{machine}.{call}(){qualifier} is not allowed in state {state}")
        self.state = state
        self.call = call
        self.outcome = outcome


class InvalidToken(OAuthBearerError):
    """A token validator refused a token.

    ``status`` is the RFC 7628 error status to send to the client
    (``invalid_token``, ``insufficient_scope`` or ``invalid_request``), ``scope``
    and ``openid_configuration`` the optional fields of the error challenge.
    ``detail`` explains the refusal for the server's own logs and is never sent
    to the client unless the server is configured to.
    """

    def __init__(
        self,
        status: str,
        *,
        scope: str | None = None,
        openid_configuration: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(detail or status)
        self.status = status
        self.scope = scope
        self.openid_configuration = openid_configuration
        self.detail = detail


class AuthenticationFailed(OAuthBearerError):
    """The exchange is over, and it failed.

    On the client, after an error challenge, this carries the challenge's
    ``status``, ``scope`` and ``openid_configuration``; after a plain failure from
    the server, ``message`` is what the server said. On the server, ``message``
    is the text to report to the client as the failure reason (Kafka sends it in
    the ``SaslAuthenticate`` response; after an error challenge it is the
    challenge JSON, as Kafka's broker does).
    """

    def __init__(
        self,
        message: str,
        *,
        status: str | None = None,
        scope: str | None = None,
        openid_configuration: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.scope = scope
        self.openid_configuration = openid_configuration
