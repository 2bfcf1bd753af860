"""OAUTHBEARER for the standard library's mail clients: ``imaplib`` and ``smtplib``.

Theory of operation
-------------------
Both clients take an *authobject*, a callable that turns each server challenge
into a response, and do the base64 themselves:

* ``imaplib.IMAP4.authenticate("OAUTHBEARER", auth.imap)`` sends ``AUTHENTICATE
  OAUTHBEARER`` without an initial response, so the server answers with an
  empty continuation (``+``) and imaplib calls ``auth.imap(b"")``; every later
  continuation arrives base64-decoded, as bytes. The result may be bytes or
  str (imaplib encodes a str as UTF-8, so ``auth`` itself works too, but
  typeshed wants bytes); ``None`` would cancel with ``*``.
* ``smtplib.SMTP.auth("OAUTHBEARER", auth)`` first calls ``auth()`` with no
  argument for the RFC 4954 initial response (``auth(b"")`` after an empty
  ``334`` when ``initial_response_ok=False``), then ``auth(challenge)`` for
  each later ``334``. The result must be a str that encodes as ASCII.

:class:`OAuthBearerAuth` is one such callable, reusable for one login after
another, driven by a :class:`~oauthbearer.session.ClientSession` per exchange
(RFC 7628 section 3)::

    auth() or auth(b"")  -> "n,a=<user>,^Aauth=Bearer <token>^Ahost=<host>^Aport=<port>^A^A"
    auth(<error JSON>)   -> "^A"  (section 3.2.3: the only reply to an error challenge)

An empty challenge always starts a new exchange: an OAUTHBEARER server's only
challenge after the initial response is the error JSON (success carries no
data, and IMAP's tagged ``OK`` or SMTP's ``235`` reports it). The challenge is
kept as :attr:`~OAuthBearerAuth.challenge` and, parsed, as
:attr:`~OAuthBearerAuth.error`, so that the caller can say why once imaplib or
smtplib raises. A challenge that is not RFC 7628 JSON is answered with
``%x01`` all the same, which can only end the exchange in failure, and the
parse error kept as :attr:`~OAuthBearerAuth.protocol_error`. Only a second
challenge after that ``%x01`` raises (:class:`~oauthbearer.errors.ProtocolError`),
as no answer to it is correct.

Neither client knows about the authzid: RFC 7628 sends the user name in the
GS2 header (``a=``), and Dovecot requires it there. smtplib encodes the
responses as ASCII, so a user name or host outside ASCII works with imaplib
only.

This module is pure: the clients do the I/O, the token source the fetching.
No token appears in a repr, a message or a log line.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, ProtocolError, ProtocolReason
from oauthbearer.gs2 import ClientInitialResponse, ErrorResponse
from oauthbearer.integrations._adapter import (
    TokenSource,
    checked_token,
    describe_source,
    token_getter,
)
from oauthbearer.session import ChallengeReceived, ClientSession

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["OAuthBearerAuth"]

#: The reply to an error challenge (RFC 7628 section 3.2.3), as both clients take it.
_KVSEP_TEXT: Final = "\x01"


class OAuthBearerAuth:
    """An ``imaplib``/``smtplib`` authobject that logs in with OAUTHBEARER.

    ``token`` is the access token (a str), or a token source: an object with a
    ``token()`` method that returns an :class:`~oauthbearer.token.OAuthBearerToken`
    (a :class:`~oauthbearer.login.TokenProvider`, say) or a function that
    returns one, asked afresh at the start of every exchange. ``user`` goes
    into the GS2 header as the authzid; ``host`` and ``port``, the server the
    client connects to, into the ``host`` and ``port`` pairs RFC 7628 section
    3.1 says clients SHOULD send (``None`` leaves a pair out).

    Pass ``auth.imap`` to ``imaplib.IMAP4.authenticate`` and ``auth`` to
    ``smtplib.SMTP.auth``. After a failed login, :attr:`error` says why.

    >>> auth = OAuthBearerAuth("abc", user="alice", host="imap.example.com", port=143)
    >>> auth.imap(b"")  # imaplib's first call
    b'n,a=alice,\\x01auth=Bearer abc\\x01host=imap.example.com\\x01port=143\\x01\\x01'
    >>> auth.imap(b'{"status":"invalid_token"}')  # the server's error challenge
    b'\\x01'
    >>> auth.error
    ErrorResponse(status='invalid_token', scope=None, openid_configuration=None)
    """

    __slots__ = (
        "_challenge",
        "_error",
        "_get_token",
        "_protocol_error",
        "_session",
        "_source",
        "_template",
        "_token",
    )

    def __init__(
        self,
        token: str | TokenSource,
        *,
        user: str,
        host: str | None,
        port: int | None,
    ) -> None:
        if not isinstance(user, str):
            raise ArgumentTypeError("OAuthBearerAuth: user must be a string")
        extensions: dict[str, str] = {}
        if host is not None:
            if not isinstance(host, str):
                raise ArgumentTypeError("OAuthBearerAuth: host must be a string or None")
            if not host:
                raise ConfigurationError("OAuthBearerAuth: host must be non-empty")
            extensions["host"] = host
        if port is not None:
            if not isinstance(port, int) or isinstance(port, bool):
                raise ArgumentTypeError("OAuthBearerAuth: port must be an int or None")
            if not 1 <= port <= 65535:
                raise ConfigurationError("OAuthBearerAuth: port must be from 1 to 65535")
            extensions["port"] = str(port)
        # A discovery request checks everything but the token: the authzid
        # (non-empty, no NUL) and the pairs (RFC 7628 section 3.1 values).
        self._template = ClientInitialResponse.discovery(authzid=user, extensions=extensions)
        self._source: object = None
        self._token: str | None = None
        self._get_token: Callable[[], object] | None = None
        if isinstance(token, str):
            # Checked now (an RFC 6750 b64token), so that a bad token fails here
            # rather than inside imaplib.
            ClientInitialResponse(token)
            self._token = token
        else:
            self._source = token
            self._get_token = token_getter(token)
        self._session: ClientSession | None = None
        self._challenge: bytes | None = None
        self._error: ErrorResponse | None = None
        self._protocol_error: ProtocolError | None = None

    def __repr__(self) -> str:
        source = "a token" if self._source is None else describe_source(self._source)
        state = "idle" if self._session is None else self._session.state.name
        return (
            f"<OAuthBearerAuth user={self.user!r} host={self._template.host!r} "
            f"port={self._template.port!r} with {source}, state={state}>"
        )

    @property
    def user(self) -> str:
        """The user name sent as the authzid."""
        authzid = self._template.authzid
        assert authzid is not None  # __init__ always sets one
        return authzid

    @property
    def challenge(self) -> bytes | None:
        """The server's challenge in the current exchange (decoded from base64
        by the client), or ``None`` when none came."""
        return self._challenge

    @property
    def error(self) -> ErrorResponse | None:
        """The server's error challenge in the current exchange, parsed: its
        ``status``, ``scope`` and ``openid_configuration``. ``None`` when no
        challenge came (or it was not RFC 7628 JSON: see :attr:`protocol_error`)."""
        return self._error

    @property
    def protocol_error(self) -> ProtocolError | None:
        """Why the current exchange's challenge could not be read, if it could
        not (a :class:`~oauthbearer.errors.MalformedMessage` with its reason code)."""
        return self._protocol_error

    def __call__(self, challenge: bytes | bytearray | memoryview | None = None) -> str:
        """Answer one server challenge: ``None`` or empty starts an exchange."""
        if challenge is None:
            # Only smtplib calls without an argument, and it sends ASCII only.
            return self._start(ascii_only=True)
        if not isinstance(challenge, bytes | bytearray | memoryview):
            raise ArgumentTypeError(
                f"OAuthBearerAuth takes the challenge as bytes, not {type(challenge).__name__}"
            )
        if not challenge:
            return self._start(ascii_only=False)
        return self._answer(bytes(challenge))

    def imap(self, challenge: bytes | bytearray | memoryview) -> bytes:
        """The same answer as bytes, for ``imaplib.IMAP4.authenticate``.

        imaplib takes ``auth`` itself as well (it encodes a str as UTF-8); this
        method is for type checkers, as typeshed has imaplib's authobject
        return bytes and smtplib's a str.
        """
        return self(challenge).encode("utf-8")

    # -- internals --

    def _start(self, *, ascii_only: bool) -> str:
        self._session = None
        self._challenge = self._error = self._protocol_error = None
        if self._get_token is None:
            value = self._token
            assert value is not None  # a str token or a source, never neither
        else:
            value = checked_token(self._get_token()).value
        response = dataclasses.replace(self._template, token=value, scheme="Bearer")
        session = ClientSession(response)
        message = session.initial_response()
        if ascii_only and not message.isascii():
            raise ConfigurationError(
                "smtplib sends ASCII only, and the user name or the host is not ASCII; "
                "use imaplib, or the ASCII (IDNA) forms"
            )
        self._session = session
        # The codec emits ASCII, and UTF-8 in the authzid and the host only.
        return message.decode("utf-8")

    def _answer(self, challenge: bytes) -> str:
        session = self._session
        if session is None or self._challenge is not None:
            where = "before the initial response" if session is None else "after the %x01 reply"
            raise ProtocolError(
                f"the server sent a challenge {where}; an OAUTHBEARER exchange has "
                "one challenge at most, the error challenge after the initial response",
                reason=ProtocolReason.UNEXPECTED_CHALLENGE,
            )
        self._challenge = challenge
        try:
            event = session.receive(challenge)
        except ProtocolError as exc:
            # Not RFC 7628 JSON. %x01 is still the only reply that keeps the
            # client in step, and the server can only fail the exchange after it.
            self._protocol_error = exc
            return _KVSEP_TEXT
        assert isinstance(event, ChallengeReceived)  # a non-empty message is a challenge
        self._error = event.error
        return event.reply.decode("ascii")
