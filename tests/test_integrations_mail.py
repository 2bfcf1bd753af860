"""OAuthBearerAuth, the imaplib/smtplib authobject, without a real server.

The clients are the real ``imaplib.IMAP4`` and ``smtplib.SMTP``, with their
transport replaced: ``InMemoryIMAP4`` overrides the I/O methods imaplib
documents for that purpose (``open``, ``read``, ``readline``, ``send``,
``shutdown``, as ``IMAP4_stream`` does), ``InMemorySMTP`` overrides
``docmd``, through which ``SMTP.auth`` sends every line. Behind both sits
``SaslServer``, our own ``ServerSession`` configured as Dovecot 2.3 behaves:
the authzid is required, a refused token gets an error challenge with an
``openid-configuration``, and any reply to the challenge ends in failure.
tests/test_interop_dovecot.py runs the same adapter against Dovecot itself.
"""

from __future__ import annotations

import base64
import binascii
import doctest
import imaplib
import smtplib
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer import (
    AuthenticationFailed,
    AuthzidPolicy,
    ClientInitialResponse,
    ErrorResponse,
    InvalidToken,
    OAuthBearerToken,
    ServerSession,
)
from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    MalformedMessage,
    OAuthBearerError,
    ProtocolError,
    TokenReason,
)
from oauthbearer.integrations import mail
from oauthbearer.integrations.mail import OAuthBearerAuth
from oauthbearer.login import TokenUnavailable
from oauthbearer.session import Authenticated, ChallengeIssued, TokenReceived
from oauthbearer.testing import strategies as obs

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

NOW = 1_700_000_000.0
GOOD = "good.alice.token"  # a b64token the validator below accepts, for alice
BAD = "expired.alice.token"
DISCOVERY = "https://idp.example/.well-known/openid-configuration"
CHALLENGE = b'{"status":"invalid_token","openid-configuration":"' + DISCOVERY.encode() + b'"}'


class Validator:
    """Accepts GOOD as alice's token, refuses anything else as invalid_token."""

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        if token != GOOD:
            raise InvalidToken(
                "invalid_token", reason=TokenReason.INACTIVE, detail="not the good token"
            )
        return OAuthBearerToken(value=token, principal="alice", lifetime_ms=int(now + 60) * 1000)


class SaslServer:
    """One OAUTHBEARER exchange at a time, as Dovecot 2.3 runs it."""

    def __init__(self) -> None:
        self.responses: list[bytes] = []  # every client response, decoded
        self.session: ServerSession | None = None
        self.authenticated: Authenticated | None = None

    def start(self) -> None:
        self.session = ServerSession(
            Validator(), authzid_policy=AuthzidPolicy.REQUIRE, openid_configuration=DISCOVERY
        )

    def step(self, data: bytes) -> tuple[str, bytes]:
        """("challenge", bytes), ("ok", b"") or ("no", b"") for one client response."""
        self.responses.append(data)
        session = self.session
        assert session is not None
        try:
            event = session.receive(data, now=NOW)
        except MalformedMessage:
            return "no", b""
        if isinstance(event, AuthenticationFailed):
            return "no", b""
        if isinstance(event, ChallengeIssued):
            return "challenge", event.reply
        assert not isinstance(event, TokenReceived)  # the session has a validator
        self.authenticated = event
        return "ok", b""


class InMemoryIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 talking to a scripted IMAP server in memory."""

    def __init__(self, sasl: SaslServer) -> None:
        self.sasl = sasl
        self.pending = bytearray()
        self.output = bytearray(b"* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] ready\r\n")
        self.auth_tag: bytes | None = None
        self.sent_lines: list[bytes] = []
        super().__init__()

    # -- imaplib's transport --

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        self.host, self.port = host, port

    def read(self, size: int) -> bytes:
        data = bytes(self.output[:size])
        del self.output[:size]
        return data

    def readline(self) -> bytes:
        end = self.output.index(b"\n") + 1
        return self.read(end)

    def send(self, data: ReadableBuffer) -> None:
        self.pending += data
        while b"\r\n" in self.pending:
            line, _, rest = bytes(self.pending).partition(b"\r\n")
            self.pending = bytearray(rest)
            self.sent_lines.append(line)
            self._line(line)

    def shutdown(self) -> None:
        pass

    # -- the server --

    def _line(self, line: bytes) -> None:
        if self.auth_tag is not None:
            self._sasl_line(self.auth_tag, line)
            return
        tag, _, command = line.partition(b" ")
        name = command.split(b" ")[0].upper()
        if name == b"CAPABILITY":
            self.output += b"* CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER\r\n" + tag + b" OK done\r\n"
        elif command.upper() == b"AUTHENTICATE OAUTHBEARER":
            self.auth_tag = tag
            self.sasl.start()
            self.output += b"+ \r\n"
        elif name == b"NOOP":
            self.output += tag + b" OK NOOP completed\r\n"
        elif name == b"LOGOUT":
            self.output += b"* BYE logging out\r\n" + tag + b" OK done\r\n"
        else:
            self.output += tag + b" BAD unknown command\r\n"

    def _sasl_line(self, tag: bytes, line: bytes) -> None:
        if line == b"*":
            self.auth_tag = None
            self.output += tag + b" BAD Authentication aborted by client.\r\n"
            return
        outcome, data = self.sasl.step(base64.b64decode(line, validate=True))
        if outcome == "challenge":
            self.output += b"+ " + base64.b64encode(data) + b"\r\n"
            return
        self.auth_tag = None
        if outcome == "ok":
            self.output += tag + b" OK Logged in\r\n"
        else:
            self.output += tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"


class InMemorySMTP(smtplib.SMTP):
    """smtplib.SMTP whose commands go to a scripted SMTP server in memory."""

    def __init__(self, sasl: SaslServer) -> None:
        super().__init__(local_hostname="client.example")
        self.sasl = sasl
        self.lines: list[str] = []
        self.in_auth = False

    def docmd(self, cmd: str, args: str = "") -> tuple[int, bytes]:
        self.lines.append(f"{cmd} {args}".rstrip())
        if not self.in_auth:
            mechanism, _, initial = args.partition(" ")
            assert (cmd, mechanism) == ("AUTH", "OAUTHBEARER")
            self.in_auth = True
            self.sasl.start()
            if not initial:
                return 334, b""
            cmd = initial
        if cmd == "*":
            self.in_auth = False
            return 501, b"5.5.2 Authentication aborted"
        outcome, data = self.sasl.step(base64.b64decode(cmd, validate=True))
        if outcome == "challenge":
            return 334, base64.b64encode(data)
        self.in_auth = False
        if outcome == "ok":
            return 235, b"2.7.0 Authentication successful"
        return 535, b"5.7.8 Authentication failed"


class CountingSource:
    """A token source with a token() method, as TokenProvider has."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.calls = 0

    def token(self) -> OAuthBearerToken:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return OAuthBearerToken(value=value, principal="alice", lifetime_ms=int(NOW + 60) * 1000)


def outcome(auth: OAuthBearerAuth) -> tuple[bytes | None, ErrorResponse | None, Any]:
    """What the adapter kept of the last exchange's challenge."""
    return auth.challenge, auth.error, auth.protocol_error


def make_auth(token: Any = GOOD, **options: Any) -> OAuthBearerAuth:
    settings_: dict[str, Any] = {"user": "alice", "host": "imap.example.com", "port": 143}
    settings_.update(options)
    return OAuthBearerAuth(token, **settings_)


# --- imaplib -----------------------------------------------------------------------------


def test_imaplib_logs_in() -> None:
    sasl = SaslServer()
    imap = InMemoryIMAP4(sasl)
    auth = make_auth()
    result: Any = imap.authenticate("OAUTHBEARER", auth.imap)  # typeshed says tuple[str, str]
    assert result == ("OK", [b"Logged in"])
    assert imap.state == "AUTH"
    assert imap.noop()[0] == "OK"
    imap.logout()
    # imaplib sent no initial response, then the message built from the options.
    assert imap.sent_lines[1].endswith(b" AUTHENTICATE OAUTHBEARER")
    [message] = sasl.responses
    response = ClientInitialResponse.decode(message)
    assert (response.authzid, response.host, response.port) == ("alice", "imap.example.com", 143)
    assert (response.token, response.scheme) == (GOOD, "Bearer")
    assert sasl.authenticated is not None
    assert sasl.authenticated.token.principal == "alice"
    assert outcome(auth) == (None, None, None)


def test_imaplib_error_challenge_is_answered_with_kvsep_and_recorded() -> None:
    sasl = SaslServer()
    imap = InMemoryIMAP4(sasl)
    auth = make_auth(BAD)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.authenticate("OAUTHBEARER", auth.imap)
    assert sasl.responses[1:] == [b"\x01"]
    assert imap.sent_lines[-1] == b"AQ=="  # base64 of %x01, on the wire
    assert auth.challenge == CHALLENGE
    assert auth.error == ErrorResponse("invalid_token", openid_configuration=DISCOVERY)
    assert auth.protocol_error is None
    # The connection is still in step: the next command works.
    assert imap.noop()[0] == "OK"
    imap.logout()


def test_imaplib_takes_the_object_itself_too() -> None:
    # imaplib encodes a str result as UTF-8; only typeshed insists on bytes.
    imap = InMemoryIMAP4(SaslServer())
    authobject: Any = make_auth()
    assert imap.authenticate("OAUTHBEARER", authobject)[0] == "OK"
    imap.logout()


def test_imap_answers_in_bytes() -> None:
    auth = make_auth("abc", host=None, port=None)
    assert auth.imap(b"") == b"n,a=alice,\x01auth=Bearer abc\x01\x01"
    assert auth.imap(CHALLENGE) == b"\x01"


def test_imaplib_second_login_with_the_same_object_starts_afresh() -> None:
    source = CountingSource(BAD, GOOD)
    auth = make_auth(source)
    with pytest.raises(imaplib.IMAP4.error):
        InMemoryIMAP4(SaslServer()).authenticate("OAUTHBEARER", auth.imap)
    assert outcome(auth)[1] is not None
    imap = InMemoryIMAP4(SaslServer())
    assert imap.authenticate("OAUTHBEARER", auth.imap)[0] == "OK"
    assert source.calls == 2  # asked afresh for each exchange
    assert outcome(auth) == (None, None, None)
    imap.logout()


def test_imaplib_sends_a_utf8_user_name() -> None:
    sasl = SaslServer()
    imap = InMemoryIMAP4(sasl)
    with pytest.raises(imaplib.IMAP4.error):  # the validator knows alice only
        imap.authenticate("OAUTHBEARER", make_auth(user="zoë,admin").imap)
    assert ClientInitialResponse.decode(sasl.responses[0]).authzid == "zoë,admin"
    assert sasl.responses[0].startswith("n,a=zoë=2Cadmin,".encode())


# --- smtplib -----------------------------------------------------------------------------


@pytest.mark.parametrize("initial_response_ok", [True, False])
def test_smtplib_logs_in(initial_response_ok: bool) -> None:
    sasl = SaslServer()
    smtp = InMemorySMTP(sasl)
    auth = make_auth(host="smtp.example.com", port=587)
    result = smtp.auth("OAUTHBEARER", auth, initial_response_ok=initial_response_ok)
    assert result == (235, b"2.7.0 Authentication successful")
    assert smtp.lines[0].startswith("AUTH OAUTHBEARER")
    assert (smtp.lines[0] == "AUTH OAUTHBEARER") is not initial_response_ok
    response = ClientInitialResponse.decode(sasl.responses[0])
    assert (response.authzid, response.host, response.port) == ("alice", "smtp.example.com", 587)


@pytest.mark.parametrize("initial_response_ok", [True, False])
def test_smtplib_error_challenge(initial_response_ok: bool) -> None:
    sasl = SaslServer()
    smtp = InMemorySMTP(sasl)
    auth = make_auth(BAD)
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        smtp.auth("OAUTHBEARER", auth, initial_response_ok=initial_response_ok)
    assert caught.value.smtp_code == 535
    assert sasl.responses[1:] == [b"\x01"]
    assert smtp.lines[-1] == "AQ=="
    assert auth.error is not None
    assert auth.error.status == "invalid_token"
    assert auth.error.openid_configuration == DISCOVERY


def test_smtplib_refuses_a_non_ascii_user_name_clearly() -> None:
    auth = make_auth(user="zoë")
    with pytest.raises(ConfigurationError, match="ASCII"):
        InMemorySMTP(SaslServer()).auth("OAUTHBEARER", auth)


# --- The authobject called directly, as the clients call it -------------------------------


def test_initial_response_layout() -> None:
    auth = make_auth("abc", user="a,b=c", host="mail.example.org", port=993)
    assert (
        auth()
        == auth(b"")
        == ("n,a=a=2Cb=3Dc,\x01auth=Bearer abc\x01host=mail.example.org\x01port=993\x01\x01")
    )


def test_host_and_port_may_be_left_out() -> None:
    assert make_auth("abc", host=None, port=None)() == "n,a=alice,\x01auth=Bearer abc\x01\x01"


def test_challenges_arrive_as_any_bytes_like_object() -> None:
    for challenge in (CHALLENGE, bytearray(CHALLENGE), memoryview(CHALLENGE)):
        auth = make_auth()
        auth(b"")
        assert auth(challenge) == "\x01"
        assert auth.challenge == CHALLENGE
        assert type(auth.challenge) is bytes


def test_error_challenge_fields_are_kept() -> None:
    auth = make_auth()
    auth()
    reply = auth(b'{"status":"insufficient_scope","scope":"mail.read mail.send","x":1}')
    assert reply == "\x01"
    assert auth.error == ErrorResponse("insufficient_scope", scope="mail.read mail.send")
    assert auth.error.scopes == ("mail.read", "mail.send")


@pytest.mark.parametrize(
    ("challenge", "reason"),
    [
        (b"not json", "invalid-json"),
        (b'{"scope":"x"}', "missing-status"),
        (b'["invalid_token"]', "not-an-object"),
        (b"\xff", "invalid-utf8"),
        (b" " * 9000, "too-large"),
    ],
)
def test_a_malformed_challenge_is_still_answered_with_kvsep(challenge: bytes, reason: str) -> None:
    auth = make_auth()
    auth(b"")
    assert auth(challenge) == "\x01"
    assert auth.error is None
    assert isinstance(auth.protocol_error, MalformedMessage)
    assert auth.protocol_error.reason == reason
    assert auth.challenge == challenge


def test_a_second_challenge_raises() -> None:
    auth = make_auth()
    auth(b"")
    auth(CHALLENGE)
    with pytest.raises(ProtocolError, match=r"after the %x01 reply"):
        auth(CHALLENGE)


def test_a_challenge_before_the_initial_response_raises() -> None:
    with pytest.raises(ProtocolError, match="before the initial response"):
        make_auth()(CHALLENGE)


def test_an_empty_challenge_restarts_the_exchange() -> None:
    auth = make_auth()
    first = auth(b"")
    auth(CHALLENGE)
    assert outcome(auth)[1] is not None
    assert auth(b"") == first
    assert outcome(auth) == (None, None, None)


def test_challenge_must_be_bytes() -> None:
    auth = make_auth()
    with pytest.raises(ArgumentTypeError, match="not str"):
        auth("")  # type: ignore[arg-type]


# --- Token sources ------------------------------------------------------------------------


def test_a_function_is_a_token_source() -> None:
    source = CountingSource("fn-token")
    auth = make_auth(source.token)
    assert "auth=Bearer fn-token\x01" in auth()
    assert source.calls == 1


def test_a_source_is_asked_at_each_exchange_not_before() -> None:
    source = CountingSource("one", "two")
    auth = make_auth(source)
    assert source.calls == 0
    assert "Bearer one\x01" in auth(b"")
    assert "Bearer two\x01" in auth(b"")


def test_source_errors_pass_through_and_clear_the_last_exchange() -> None:
    auth = make_auth(CountingSource("one"))
    auth(b"")
    auth(CHALLENGE)

    def unavailable() -> OAuthBearerToken:
        raise TokenUnavailable("no unexpired token: the last refresh failed")

    auth = make_auth(unavailable)
    with pytest.raises(TokenUnavailable):
        auth(b"")
    assert auth.error is None


def test_a_source_must_return_a_token() -> None:
    auth = make_auth(lambda: "a string")
    with pytest.raises(ArgumentTypeError, match="not an OAuthBearerToken"):
        auth(b"")


def test_a_source_token_must_be_a_b64token() -> None:
    auth = make_auth(CountingSource("has space"))
    with pytest.raises(ConfigurationError, match="b64token") as caught:
        auth(b"")
    assert "has space" not in str(caught.value)


def test_a_source_needs_a_token_method() -> None:
    with pytest.raises(ArgumentTypeError, match="token"):
        make_auth(42)


# --- Options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"token": "not a b64token"}, ConfigurationError, "b64token"),
        ({"token": ""}, ConfigurationError, "b64token"),
        ({"user": ""}, ConfigurationError, "authzid"),
        ({"user": "a\x00b"}, ConfigurationError, "authzid"),
        ({"user": None}, ArgumentTypeError, "user"),
        ({"host": ""}, ConfigurationError, "host"),
        ({"host": "bad\x01host"}, ConfigurationError, "'host'"),
        ({"host": 12}, ArgumentTypeError, "host"),
        ({"port": 0}, ConfigurationError, "port"),
        ({"port": 65536}, ConfigurationError, "port"),
        ({"port": "143"}, ArgumentTypeError, "port"),
        ({"port": True}, ArgumentTypeError, "port"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], match: str) -> None:
    token = options.pop("token", GOOD)
    with pytest.raises(error, match=match) as caught:
        make_auth(token, **options)
    assert "not a b64token" not in str(caught.value)


def test_no_token_in_repr_or_errors() -> None:
    secret = "s3cr3t.t0k3n.value"
    auth = make_auth(secret)
    auth(b"")
    auth(b"garbage")
    texts = [repr(auth), str(auth.protocol_error)]
    with pytest.raises(ProtocolError) as caught:
        auth(CHALLENGE)
    texts.append(str(caught.value))
    for text in texts:
        assert secret not in text
    assert repr(auth) == (
        "<OAuthBearerAuth user='alice' host='imap.example.com' port=143 with a token, state=FAILED>"
    )
    assert "with CountingSource" in repr(make_auth(CountingSource(secret)))


def test_the_module_docstring_examples_run() -> None:
    assert doctest.testmod(mail).failed == 0


# --- Properties ---------------------------------------------------------------------------

challenges = (
    obs.error_responses().map(ErrorResponse.encode)
    | obs.mutated(obs.error_responses().map(ErrorResponse.encode))
    | st.binary(max_size=300)
)


@settings(max_examples=300)
@given(challenges)
def test_any_challenge_after_the_initial_response_gets_kvsep(challenge: bytes) -> None:
    auth = make_auth()
    auth(b"")
    if not challenge:
        return
    assert auth(challenge) == "\x01"
    assert auth.challenge == challenge
    # Either it was read, or why not is kept; never both.
    assert (auth.error is None) is not (auth.protocol_error is None)


@settings(max_examples=300)
@given(st.lists(st.none() | challenges, max_size=6))
def test_any_call_sequence_gives_a_response_or_our_error(calls: list[bytes | None]) -> None:
    auth = make_auth(user="zoë")
    for challenge in calls:
        try:
            response = auth(challenge)
        except OAuthBearerError:
            continue
        assert response == "\x01" or response.startswith("n,a=zoë,\x01auth=Bearer ")


@settings(max_examples=100)
@given(challenges.filter(bool))
def test_imaplib_passes_any_challenge_through(challenge: bytes) -> None:
    # What imaplib does with a continuation line: a2b_base64, then the authobject,
    # then base64 of the result; the server then sees exactly %x01.
    auth = make_auth()
    auth(b"")
    line = base64.b64encode(challenge)
    sent = imaplib._Authenticator(auth.imap).process(line)  # type: ignore[arg-type]
    assert binascii.a2b_base64(sent) == b"\x01"
