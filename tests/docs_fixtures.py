"""Local stand-ins for the services the documentation's examples talk to.

tests/test_docs.py runs every example of a page in one namespace and one
scratch directory. An example that needs a service names a *fixture* in the
``docs-test`` comment above it (see tests/test_docs.py); :class:`PageFixtures`
starts each fixture the first time a block of the page asks for it, and stops
everything when the page is done. Every server listens on 127.0.0.1 only.

Fixture names, what each starts, and what it binds in the page's namespace:

``idp``
    :class:`~oauthbearer.testing.TestIdentityProvider` with the clients the
    examples use (:data:`CLIENTS`); binds ``_idp``. Givens: ``access_token``
    (a token it signed for ``alice@example.com``) and ``config`` (the
    client-credentials login of ``alice@example.com``).
``client_properties``
    writes ``client.properties`` (``orders-service``'s Kafka client login,
    against ``idp``) into the page's directory.
``kafka_client_file``
    writes ``client.properties`` as ``client_properties`` does, with the
    connection settings too (``bootstrap.servers`` of ``broker``,
    ``security.protocol=SASL_PLAINTEXT``): what the one-call settings
    functions of :mod:`oauthbearer.config.start` read.
``broker``
    :class:`~oauthbearer.kafka.broker.BrokerEmulator` validating ``idp``'s
    tokens, with the topic ``orders``; binds ``_broker`` (a
    :class:`RunningBroker`: ``bootstrap``, ``records``).
``mail``
    an IMAP server (implicit TLS) and an SMTP server (STARTTLS), both with
    a certificate for 127.0.0.1 from a throw-away CA, validating ``idp``'s
    tokens through a :class:`~oauthbearer.ServerSession`; binds ``_mail``
    (a :class:`MailServers`). Given: ``message``.
``jwks_server``
    given ``serve``: a stand-in for "your server", which waits until the
    validator it is given accepts a token that ``idp`` signed.
``kafka_python``, ``aiokafka``, ``confluent_kafka``, ``faust``
    the client library, imported once with its import-time deprecation
    warnings ignored (the suite runs with warnings as errors). A library that
    is not installed makes the block *missing* (see :class:`Missing`).
``my_library``
    writes ``my_library.py``, the parser under test of the conformance
    adapter example: oauthbearer's own codec behind another name.
``keys``
    writes ``idp.pem`` (RSA 2048) and ``private.pem`` (EC P-256) into the
    page's directory, for the shell examples of ``oauthbearer token --key``.
``free_port``
    sets ``$PORT`` for shell examples to a port that was free a moment ago.
``postgres``
    the real PostgreSQL 18 server of tests/real_postgres.py (its own, for
    the page), granting one token to ``alice``; binds ``_pg`` (a
    :class:`~tests.real_postgres.PostgresServer`). Given: ``pg_token``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email.message
import importlib
import socket
import socketserver
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from oauthbearer import InvalidToken, JwtValidator, ServerSession
from oauthbearer.config import client_login, parse_properties
from oauthbearer.errors import OAuthBearerError
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.session import Authenticated, AuthzidPolicy, ChallengeIssued
from oauthbearer.testing import TestIdentityProvider
from tests.tls_ca import make_ca

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from pathlib import Path

    from oauthbearer.token import TokenValidator

#: Clients of the test identity provider: id -> (secret, scopes). Their ids and
#: secrets are the ones the examples show.
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "orders-service": ("s3cr3t", ("kafka",)),
    "stream-app": ("s3cr3t", ("kafka",)),
    "client-id": ("client-secret", ("api://kafka/.default",)),
    "alice@example.com": ("s3cr3t", ("mail",)),
}
#: The user of the mail examples, and the subject of the ``access_token`` given.
MAIL_USER = "alice@example.com"
TOPIC = "orders"
_KAFKA_PACKAGE = "org.apache.kafka.common.security.oauthbearer."
_TIMEOUT_S = 10.0


class Missing(Exception):
    """A fixture cannot be had here (a client library is not installed)."""


def kafka_client_properties(token_endpoint: str, client_id: str, secret: str, scope: str) -> str:
    """A Kafka client's OAUTHBEARER login properties, as a .properties file."""
    return (
        "sasl.mechanism=OAUTHBEARER\n"
        f"sasl.login.callback.handler.class={_KAFKA_PACKAGE}OAuthBearerLoginCallbackHandler\n"
        f"sasl.oauthbearer.token.endpoint.url={token_endpoint}\n"
        f"sasl.jaas.config={_KAFKA_PACKAGE}OAuthBearerLoginModule required \\\n"
        f'    clientId="{client_id}" clientSecret="{secret}" scope="{scope}" \\\n'
        '    extension_logicalCluster="lkc-abc123";\n'
    )


# --- TLS ------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the file of the
    CA that issued it (for a client's ``cafile``): the tests' one CA."""
    ca = make_ca(directory)
    return ca.server_context(directory), ca.ca_file


# --- Mail: IMAP and SMTP ------------------------------------------------------------------


class _MailServer(socketserver.ThreadingTCPServer):
    """A threaded loopback server that authenticates with OAUTHBEARER."""

    daemon_threads = True

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        context: ssl.SSLContext,
        validator: TokenValidator,
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context
        self.validator = validator
        #: The principal of each successful login, and each message received.
        self.logins: list[str] = []
        self.messages: list[bytes] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return str(host), int(port)

    def authenticate(self, data: bytes, challenge: Callable[[bytes], bytes]) -> bool:
        """One RFC 7628 exchange, as Dovecot runs it: the authzid is required
        and must be the token's principal. ``challenge`` sends the error
        challenge and returns the client's answer."""
        session = ServerSession(self.validator, authzid_policy=AuthzidPolicy.REQUIRE)
        try:
            event = session.receive(data, now=time.time())
            if isinstance(event, ChallengeIssued):
                session.receive(challenge(event.reply))  # the failure event
                return False
        except OAuthBearerError:
            return False
        if not isinstance(event, Authenticated):
            return False  # the failure event: the authzid policy refused
        self.logins.append(event.token.principal)
        return True


class _Lines:
    """CRLF lines over a socket that may be upgraded to TLS."""

    def __init__(self, connection: socket.socket) -> None:
        connection.settimeout(_TIMEOUT_S)
        self.connection = connection
        self.reader = connection.makefile("rb")

    def send(self, line: str) -> None:
        self.connection.sendall(line.encode() + b"\r\n")

    def read(self) -> str:
        return self.reader.readline().decode("utf-8", "replace").rstrip("\r\n")

    def close(self) -> None:
        self.reader.close()
        self.connection.close()

    def start_tls(self, context: ssl.SSLContext) -> None:
        self.reader.close()
        self.connection = context.wrap_socket(self.connection, server_side=True)
        self.reader = self.connection.makefile("rb")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _ImapHandler(socketserver.BaseRequestHandler):
    """Just enough IMAP4rev1 (RFC 3501, RFC 4959) for imaplib to log in and SELECT."""

    server: _MailServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self._session()

    def _session(self) -> None:
        io = _Lines(self.server.context.wrap_socket(self.request, server_side=True))
        with contextlib.closing(io):
            self._commands(io)

    def _commands(self, io: _Lines) -> None:
        io.send("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] docs test IMAP server ready")
        while line := io.read():
            tag, _, rest = line.partition(" ")
            command, _, argument = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                io.send("* CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER")
                io.send(f"{tag} OK CAPABILITY completed")
            elif command == "AUTHENTICATE" and argument.upper() == "OAUTHBEARER":
                io.send("+ ")

                def challenge(reply: bytes) -> bytes:
                    io.send("+ " + _b64(reply))
                    return base64.b64decode(io.read())

                if self.server.authenticate(base64.b64decode(io.read()), challenge):
                    io.send(f"{tag} OK AUTHENTICATE completed")
                else:
                    io.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
            elif command == "SELECT":
                for untagged in ("* 0 EXISTS", "* 0 RECENT", "* FLAGS ()"):
                    io.send(untagged)
                io.send(f"{tag} OK [READ-WRITE] SELECT completed")
            elif command == "LOGOUT":
                io.send("* BYE logging out")
                io.send(f"{tag} OK LOGOUT completed")
                return
            else:
                io.send(f"{tag} BAD command not supported here")


class _SmtpHandler(socketserver.BaseRequestHandler):
    """Just enough ESMTP (RFC 5321, RFC 3207, RFC 4954) for smtplib to send a message."""

    server: _MailServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self._session()

    def _session(self) -> None:
        io = _Lines(self.request)
        with contextlib.closing(io):
            self._commands(io)

    def _commands(self, io: _Lines) -> None:
        io.send("220 127.0.0.1 docs test ESMTP")
        tls = authenticated = False
        while line := io.read():
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                io.send("250-127.0.0.1")
                # AUTH only once the connection is encrypted, as mail servers do.
                io.send("250 AUTH OAUTHBEARER" if tls else "250 STARTTLS")
            elif verb == "STARTTLS" and not tls:
                io.send("220 2.0.0 ready to start TLS")
                io.start_tls(self.server.context)
                tls = True
            elif verb == "AUTH" and tls:
                mechanism, _, initial = argument.partition(" ")

                def challenge(reply: bytes) -> bytes:
                    io.send("334 " + _b64(reply))
                    return base64.b64decode(io.read())

                if mechanism.upper() != "OAUTHBEARER":
                    io.send("504 5.5.4 mechanism not supported")
                elif self.server.authenticate(base64.b64decode(initial), challenge):
                    authenticated = True
                    io.send("235 2.7.0 Authentication successful")
                else:
                    io.send("535 5.7.8 Authentication credentials invalid")
            elif verb in {"MAIL", "RCPT"}:
                io.send("250 2.1.0 OK" if authenticated else "530 5.7.0 Authentication required")
            elif verb == "DATA" and authenticated:
                io.send("354 end data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := io.read()) != ".":
                    lines.append(data)
                self.server.messages.append("\r\n".join(lines).encode())
                io.send("250 2.0.0 queued")
            elif verb == "QUIT":
                io.send("221 2.0.0 bye")
                return
            else:
                io.send("502 5.5.1 command not supported here")


@dataclasses.dataclass
class MailServers:
    """The ``mail`` fixture: where its servers listen, and what they saw."""

    imap: tuple[str, int]
    smtp: tuple[str, int]
    #: The CA file that verifies both servers' certificate.
    cafile: str
    imap_server: _MailServer
    smtp_server: _MailServer

    @property
    def logins(self) -> list[str]:
        return self.imap_server.logins + self.smtp_server.logins


# --- Kafka ------------------------------------------------------------------------------


@dataclasses.dataclass
class RunningBroker:
    """The ``broker`` fixture: where the emulator listens, and its authentication records."""

    bootstrap: str
    records: list[AuthenticationRecord]


def _import_quietly(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            # kafka-python 3.0 calls a deprecated importlib function on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name)
    except ImportError as error:
        raise Missing(f"{name} is not installed ({error})") from None


# --- The fixtures of one page -----------------------------------------------------------------


class PageFixtures:
    """The fixtures of one page: started on first use, stopped by ``stack``.

    ``bound`` holds the names bound in the page's namespace (``_idp``...),
    ``givens`` the values a block may take as given (``given:``), ``env`` the
    environment of the page's shell examples.
    """

    def __init__(self, directory: Path, stack: contextlib.ExitStack) -> None:
        self.directory = directory
        self.stack = stack
        self.bound: dict[str, object] = {}
        self.givens: dict[str, object] = {}
        self.env: dict[str, str] = {}
        self._started: set[str] = set()

    def need(self, name: str) -> None:
        """Start fixture ``name`` unless it runs already; raises :class:`Missing`."""
        if name in self._started:
            return
        start = getattr(self, f"_start_{name}", None)
        if start is None:
            raise KeyError(f"unknown docs-test fixture {name!r}")
        start()
        self._started.add(name)

    # -- services --

    def _start_idp(self) -> None:
        idp = self.stack.enter_context(TestIdentityProvider())
        for client_id, (secret, scopes) in CLIENTS.items():
            idp.add_client(client_id, secret, scopes=scopes)
        self.bound["_idp"] = idp
        self.givens["access_token"] = idp.mint_token(MAIL_USER, scope="mail")
        secret, scopes = CLIENTS[MAIL_USER]
        properties = kafka_client_properties(idp.token_endpoint, MAIL_USER, secret, scopes[0])
        self.givens["config"] = client_login(
            parse_properties(properties), now=time.time(), allow_insecure_loopback=True
        )

    def _idp(self) -> TestIdentityProvider:
        self.need("idp")
        idp = self.bound["_idp"]
        assert isinstance(idp, TestIdentityProvider)
        return idp

    def _validator(self) -> JwtValidator:
        idp = self._idp()
        return JwtValidator(idp.key_set(), issuer=idp.issuer)

    def _start_client_properties(self) -> None:
        idp = self._idp()
        secret, scopes = CLIENTS["orders-service"]
        text = kafka_client_properties(idp.token_endpoint, "orders-service", secret, scopes[0])
        (self.directory / "client.properties").write_text(text, encoding="iso-8859-1")

    def _start_kafka_client_file(self) -> None:
        self.need("broker")
        idp = self._idp()
        secret, scopes = CLIENTS["orders-service"]
        broker = self.bound["_broker"]
        assert isinstance(broker, RunningBroker)
        text = (
            f"bootstrap.servers={broker.bootstrap}\n"
            "security.protocol=SASL_PLAINTEXT\n"
            + kafka_client_properties(idp.token_endpoint, "orders-service", secret, scopes[0])
        )
        (self.directory / "client.properties").write_text(text, encoding="iso-8859-1")

    def _start_broker(self) -> None:
        records: list[AuthenticationRecord] = []
        emulator = BrokerEmulator(
            self._validator(), topics=(TOPIC,), on_authentication=records.append
        )
        running = self.stack.enter_context(emulator.running_in_thread())
        self.bound["_broker"] = RunningBroker(bootstrap=running.bootstrap, records=records)

    def _start_mail(self) -> None:
        context, cafile = make_tls(self.directory)
        validator = self._validator()
        servers = []
        for handler in (_ImapHandler, _SmtpHandler):
            server = _MailServer(handler, context, validator)
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self.stack.callback(thread.join, _TIMEOUT_S)
            self.stack.callback(server.server_close)
            self.stack.callback(server.shutdown)
            servers.append(server)
        imap, smtp = servers
        self.bound["_mail"] = MailServers(
            imap=imap.address,
            smtp=smtp.address,
            cafile=str(cafile),
            imap_server=imap,
            smtp_server=smtp,
        )
        message = email.message.EmailMessage()
        message["From"] = MAIL_USER
        message["To"] = "bob@example.com"
        message["Subject"] = "OAUTHBEARER"
        message.set_content("Sent with a token.\n")
        self.givens["message"] = message

    def _start_jwks_server(self) -> None:
        idp = self._idp()
        token = idp.mint_token("orders-service", scope="kafka")

        async def serve(validator: TokenValidator) -> None:
            """Wait until ``validator`` accepts a token ``idp`` signed."""
            import asyncio

            deadline = time.monotonic() + _TIMEOUT_S
            while True:
                try:
                    validator.validate(token, now=time.time())
                except InvalidToken:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)
                else:
                    return

        self.givens["serve"] = serve

    # -- client libraries --

    def _start_kafka_python(self) -> None:
        _import_quietly("kafka")
        _import_quietly("kafka.net.sasl.oauth")

    def _start_aiokafka(self) -> None:
        _import_quietly("aiokafka")

    def _start_confluent_kafka(self) -> None:
        _import_quietly("confluent_kafka")

    def _start_faust(self) -> None:
        self.need("aiokafka")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # faust-streaming's own deprecations
                importlib.import_module("faust")
                importlib.import_module("faust.auth")
        except ImportError:
            raise Missing("faust is not installed (pip install faust-streaming)") from None

    # -- files and ports --

    def _start_my_library(self) -> None:
        (self.directory / "my_library.py").write_text(
            '"""The parser under test of the conformance adapter example: oauthbearer\'s."""\n'
            "from oauthbearer import ClientInitialResponse, Dialect\n"
            "from oauthbearer import MalformedMessage as ParseError\n\n"
            '__all__ = ["ParseError", "parse_initial_response"]\n\n\n'
            "def parse_initial_response(data, *, kafka):\n"
            "    dialect = Dialect.KAFKA if kafka else Dialect.RFC7628\n"
            "    return ClientInitialResponse.decode(data, dialect=dialect)\n",
            encoding="utf-8",
        )

    def _start_keys(self) -> None:
        pkcs8 = serialization.PrivateFormat.PKCS8
        for name, key in (
            ("idp.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            ("private.pem", ec.generate_private_key(ec.SECP256R1())),
        ):
            (self.directory / name).write_bytes(
                key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
            )

    def _start_free_port(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.env["PORT"] = str(probe.getsockname()[1])

    def _start_postgres(self) -> None:
        from tests.real_postgres import PostgresServer

        server = PostgresServer()
        self.stack.callback(server.cleanup, keep_log=False)
        self.stack.callback(server.stop)
        server.start()
        server.grant({"docs-token-for-alice": "alice"})
        self.bound["_pg"] = server
        self.givens["pg_token"] = "docs-token-for-alice"


FIXTURES = tuple(
    name.removeprefix("_start_") for name in vars(PageFixtures) if name.startswith("_start_")
)
