"""``oauthbearer demo``: OAUTHBEARER end to end on one machine (a shell).

Theory of operation
-------------------
:func:`run` tells the whole story with no outside service, printing each step:

1. the local test identity provider (:class:`~oauthbearer.testing.TestIdentityProvider`)
   starts on loopback with an RS256 signing key and two confidential clients:
   ``orders-service`` (tokens for the audience ``kafka-cluster``) and
   ``analytics`` (tokens for ``schema-registry``, the wrong audience);
2. the broker emulator (:class:`~oauthbearer.kafka.broker.BrokerEmulator`) starts,
   configured from the properties a Kafka broker would be given
   (:func:`~oauthbearer.config.broker.broker_validator`): it validates signed JWTs
   against the provider's JWKS, for the audience ``kafka-cluster``;
3. a token provider, built from the properties a Kafka client would be given
   (:func:`~oauthbearer.config.client.client_login`), fetches a token by client
   credentials and refreshes it with Kafka's formula (the demo shortens the
   lifetime and the refresh settings so that a refresh happens within seconds);
4. a real Kafka client, kafka-python, authenticates to the emulator with that
   provider and lists the topics (without kafka-python, oauthbearer's own
   :class:`~oauthbearer.kafka.KafkaClientConnection` stands in, and says so);
5. ``analytics`` tries with its token: the broker refuses it with the RFC 7628
   error challenge, the client answers ``%x01``, and the broker ends the
   exchange with SASL_AUTHENTICATION_FAILED. This step is driven by
   oauthbearer's own Kafka client over a socket so that every frame can be
   shown; the broker's log line says why (the audience), the client is told
   only ``invalid_token``.

:func:`run_in_memory` is the short version: two exchanges between a
:class:`~oauthbearer.ClientSession` and a :class:`~oauthbearer.ServerSession`
in memory, with Kafka's unsecured tokens and no network at all.

Tokens are never printed whole: a token in a message is shown as its first
characters and its length.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import queue
import socket
import time
import warnings
from typing import TYPE_CHECKING, Final, TypeAlias

from oauthbearer._text import escape_bytes
from oauthbearer.config import ClientCredentialsConfig, broker_validator, client_login
from oauthbearer.errors import OAuthBearerError
from oauthbearer.gs2 import Dialect
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.kafka.client import (
    ClientAuthenticated,
    ClientAuthenticationFailed,
    KafkaClientConnection,
)
from oauthbearer.kafka.protocol import (
    NEED_DATA,
    ApiKey,
    ErrorCode,
    Frame,
    KafkaFrameDecoder,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    decode_request,
    decode_response,
)
from oauthbearer.login.sources import client_credentials_fetch, client_credentials_provider
from oauthbearer.session import (
    Authenticated,
    AuthenticationFailed,
    ChallengeIssued,
    ChallengeReceived,
    ClientSession,
    ServerSession,
)
from oauthbearer.testing.idp import TestIdentityProvider
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    UnsecuredLogin,
    kafka_unsecured_login,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from oauthbearer.kafka.protocol import RequestHeader
    from oauthbearer.login import TokenProvider
    from oauthbearer.token import OAuthBearerToken

__all__ = ["run", "run_in_memory"]

Out: TypeAlias = "Callable[[str], None]"

#: The audience the broker expects, and the one the ``analytics`` client's tokens carry.
AUDIENCE: Final = "kafka-cluster"
WRONG_AUDIENCE: Final = "schema-registry"
TOPIC: Final = "orders"
#: The demo's token lifetime and refresh settings: short, so that the provider
#: refreshes within seconds (Kafka's defaults wait for 80% of an hour or more).
TOKEN_LIFETIME_S: Final = 4
#: How long any one step may take before the demo gives up on it.
STEP_TIMEOUT_S: Final = 15.0

_PACKAGE: Final = "org.apache.kafka.common.security.oauthbearer."


class DemoFailed(Exception):
    """A step did not go as it must; the message says which and why."""


def show_bytes(data: bytes, token: str = "") -> str:
    """Wire bytes for display, with ``token`` shortened and the length appended."""
    text = escape_bytes(data)
    if token:
        text = text.replace(token, _short(token))
    return f"{text}   [{len(data)} byte{'' if len(data) == 1 else 's'}]"


def _short(token: str) -> str:
    return f"{token[:12]}...({len(token)} chars)"


# --- The whole story -----------------------------------------------------------------------


def run(out: Out = print, *, clock: Callable[[], float] = time.time) -> int:
    """Tell the story (see the module documentation); 0 when every step went as it must."""
    out("oauthbearer demo: SASL OAUTHBEARER end to end on this machine, no outside service.\n")
    records: queue.Queue[AuthenticationRecord] = queue.Queue()
    try:
        with contextlib.ExitStack() as stack:
            # The emulator's and kafka-python's log lines would interleave with the
            # story: the demo prints the records itself. A handler here keeps
            # Python's last-resort handler quiet; a logging set up by the caller
            # still gets every record.
            for name in ("oauthbearer.kafka.broker", "kafka"):
                stack.enter_context(_quiet(name))
            idp = stack.enter_context(TestIdentityProvider(clock=clock))
            _identity_provider(out, idp)
            broker = _broker(out, idp, records, stack)
            provider = _token_provider(out, idp, clock, stack)
            _kafka_client(out, broker, provider, records)
            _wrong_audience(out, idp, broker, records)
    except DemoFailed as failure:
        out(f"\nFAILED: {failure}")
        return 1
    except OSError as error:  # a socket of the demo's own servers, or the provider's
        out(f"\nFAILED: a connection on this machine failed: {error!r}")
        return 1
    out("\nEvery step went as RFC 7628 and Kafka say it must.")
    return 0


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _identity_provider(out: Out, idp: TestIdentityProvider) -> None:
    idp.add_client(
        "orders-service",
        "orders-secret",
        scopes=["kafka"],
        audience=AUDIENCE,
        lifetime_s=TOKEN_LIFETIME_S,
    )
    idp.add_client("analytics", "analytics-secret", scopes=["kafka"], audience=WRONG_AUDIENCE)
    out(f"1. Identity provider  {idp.issuer} (oauthbearer's local test provider)")
    out(f"                      signs RS256 access tokens; JWKS at {idp.jwks_uri}")
    out(f"                      client 'orders-service': audience {AUDIENCE}, scope kafka")
    out(f"                      client 'analytics':      audience {WRONG_AUDIENCE}, scope kafka\n")


def _broker(
    out: Out,
    idp: TestIdentityProvider,
    records: queue.Queue[AuthenticationRecord],
    stack: contextlib.ExitStack,
) -> BrokerEmulator:
    """The emulator, validating with what a Kafka broker builds from its properties."""
    properties = {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
            _PACKAGE + "OAuthBearerLoginModule required ;"
        ),
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": (
            _PACKAGE + "OAuthBearerValidatorCallbackHandler"
        ),
        "sasl.oauthbearer.jwks.endpoint.url": idp.jwks_uri,
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": idp.issuer,
    }
    try:
        config = broker_validator(properties, allow_insecure_loopback=True)
        if config.refresher is None:
            raise DemoFailed("the broker properties did not configure a JWKS")
        # The first fetch fails loudly, as on Kafka's broker; then a thread keeps it fresh.
        stack.enter_context(config.refresher.start())
    except OAuthBearerError as error:
        raise DemoFailed(f"the broker could not be configured: {error}") from None
    emulator = BrokerEmulator(config.validator, topics=(TOPIC,), on_authentication=records.put)
    stack.enter_context(emulator.running_in_thread())
    keys = config.refresher.cache.key_set
    count = 0 if keys is None else len(keys)
    out(f"2. Broker emulator    {emulator.bootstrap} (SASL_PLAINTEXT, mechanism OAUTHBEARER)")
    out(f"                      validates RS256 JWTs: issuer {idp.issuer}, audience {AUDIENCE}")
    out(f"                      JWKS fetched from the provider: {count} key(s)\n")
    return emulator


def _token_provider(
    out: Out, idp: TestIdentityProvider, clock: Callable[[], float], stack: contextlib.ExitStack
) -> TokenProvider:
    """A client-credentials provider, from the properties a Kafka client would be given."""
    properties = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.login.callback.handler.class": _PACKAGE + "OAuthBearerLoginCallbackHandler",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.jaas.config": _PACKAGE + "OAuthBearerLoginModule required"
        ' clientId="orders-service" clientSecret="orders-secret" scope="kafka"'
        ' extension_logicalCluster="lkc-demo";',
        # Refresh at half the lifetime, with no floor or buffer: seconds, not minutes.
        "sasl.login.refresh.window.factor": "0.5",
        "sasl.login.refresh.window.jitter": "0",
        "sasl.login.refresh.min.period.seconds": "0",
        "sasl.login.refresh.buffer.seconds": "0",
    }
    try:
        config = client_login(properties, now=clock(), allow_insecure_loopback=True)
        if not isinstance(config, ClientCredentialsConfig):
            raise DemoFailed("the client properties did not configure client credentials")
        provider = client_credentials_provider(config, allow_insecure_loopback=True)
        started = clock()
        stack.enter_context(provider.start())
    except OAuthBearerError as error:
        raise DemoFailed(f"the token provider could not get a token: {error}") from None
    first = provider.token()
    out("3. Token provider     client credentials grant (RFC 6749 section 4.4) at /token")
    out(f"                      got {_describe(first, clock())}")
    out(
        f"                      refreshes at {properties['sasl.login.refresh.window.factor']}"
        " of the lifetime (sasl.login.refresh.*), waiting for it..."
    )
    deadline = clock() + STEP_TIMEOUT_S
    while provider.token().value == first.value:
        if clock() > deadline:
            raise DemoFailed(f"the provider did not refresh its token: {provider.last_error}")
        time.sleep(0.05)
    refreshed = _describe(provider.token(), clock())
    out(f"                      refreshed after {clock() - started:.1f} s: {refreshed}\n")
    return provider


def _describe(token: OAuthBearerToken, now: float) -> str:
    scope = " ".join(sorted(token.scope)) or "(none)"
    left = token.lifetime_ms / 1000 - now
    return (
        f"token jti {token.claims.get('jti', '?')!s:.8} for {token.principal!r} "
        f"(scope {scope}), expires in {left:.1f} s"
    )


def _kafka_client(
    out: Out,
    broker: BrokerEmulator,
    provider: TokenProvider,
    records: queue.Queue[AuthenticationRecord],
) -> None:
    """A real client authenticates with the provider's token and lists the topics."""
    extensions = {"logicalCluster": "lkc-demo"}
    if importlib.util.find_spec("kafka") is not None:
        out("4. kafka-python       KafkaConsumer(security_protocol='SASL_PLAINTEXT',")
        out("                        sasl_mechanism='OAUTHBEARER', sasl_oauth_token_provider=...)")
        topics = _kafka_python_topics(broker, provider, extensions)
        out(f"                      consumer.topics() -> {sorted(topics)}")
        if TOPIC not in topics:
            raise DemoFailed(f"kafka-python did not see the topic {TOPIC!r}")
    else:
        out(
            "4. Kafka client       kafka-python is not installed (pip install 'oauthbearer[demo]');"
        )
        out("                      oauthbearer's own KafkaClientConnection stands in")
        outcome, _ = _exchange(broker, provider.token().value, extensions, out=None)
        if not isinstance(outcome, ClientAuthenticated):
            raise DemoFailed(f"the broker refused the client: {outcome.message}")
        out("                      authenticated")
    record = _next_record(records)  # kafka-python's first connection
    if record.outcome != "authenticated":
        raise DemoFailed(f"the broker did not authenticate the client: {record.detail}")
    out(f"   broker log         authenticated {record.peer}: principal {record.principal!r}")
    out(
        f"                      extensions {dict(record.extensions)}, "
        f"KIP-368 session lifetime {record.session_lifetime_ms} ms (the token's)\n"
    )


def _kafka_python_topics(
    broker: BrokerEmulator, provider: TokenProvider, extensions: dict[str, str]
) -> set[str]:
    # Imported here: kafka-python is optional (the demo extra), and slow to import.
    from oauthbearer.integrations.kafka_python import kafka_python_token_provider  # noqa: PLC0415

    with warnings.catch_warnings():
        # kafka-python 3 warns about its own use of deprecated stdlib APIs on import.
        warnings.simplefilter("ignore", DeprecationWarning)
        import kafka  # noqa: PLC0415

        adapter = kafka_python_token_provider(provider, extensions=extensions)

    timeout_ms = int(STEP_TIMEOUT_S * 1000)
    consumer = None
    try:
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=broker.bootstrap,
            client_id="oauthbearer-demo",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=adapter,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
        return set(consumer.topics())
    except kafka.errors.KafkaError as error:
        raise DemoFailed(f"kafka-python failed: {error!r}") from None
    finally:
        if consumer is not None:
            consumer.close()


def _wrong_audience(
    out: Out,
    idp: TestIdentityProvider,
    broker: BrokerEmulator,
    records: queue.Queue[AuthenticationRecord],
) -> None:
    """A token for another audience: the RFC 7628 error flow, frame by frame."""
    login = ClientCredentialsConfig(
        token_endpoint_url=idp.token_endpoint,
        client_id="analytics",
        client_secret="analytics-secret",
    )
    try:
        token = client_credentials_fetch(login, allow_insecure_loopback=True)()
    except OAuthBearerError as error:
        raise DemoFailed(f"'analytics' could not get a token: {error}") from None
    out(f"5. Wrong audience     'analytics' gets a token for audience {WRONG_AUDIENCE}")
    out("                      and presents it (oauthbearer's Kafka client, every frame shown):")
    outcome, peer = _exchange(broker, token.value, {}, out=out)
    if not isinstance(outcome, ClientAuthenticationFailed):
        raise DemoFailed("the broker accepted a token for the wrong audience")
    out(
        f"   client             authentication failed: status {outcome.status!r}, "
        f"Kafka error {outcome.error_code} ({ErrorCode(outcome.error_code).name})"
    )
    record = _next_record(records, peer=peer)
    if record.ok:
        raise DemoFailed("the broker logged a success for the wrong audience")
    out(f"   broker log         refused {record.peer} ({record.reason}):")
    out(f"                      {record.detail}")
    out("                      (the detail stays in the broker's log; the client saw the status)")


def _next_record(
    records: queue.Queue[AuthenticationRecord], *, peer: str | None = None
) -> AuthenticationRecord:
    """The next authentication the broker logged (from ``peer``, when given:
    a client may have opened other connections before)."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        try:
            record = records.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise DemoFailed("the broker logged no authentication") from None
        if peer is None or record.peer == peer:
            return record


# --- One authentication over a socket, frame by frame ------------------------------------


def _exchange(
    broker: BrokerEmulator,
    token: str,
    extensions: dict[str, str],
    *,
    out: Out | None,
) -> tuple[ClientAuthenticated | ClientAuthenticationFailed, str]:
    """Authenticate once with :class:`KafkaClientConnection` on a blocking socket,
    printing the SASL frames each way when ``out`` is given. Returns the outcome
    and the socket's own address, as the broker's log names the peer."""
    connection = KafkaClientConnection(ClientSession(token, extensions=extensions))
    tap = _Tap(token, out)
    connection.initiate()
    with socket.create_connection((broker.host, broker.port), timeout=STEP_TIMEOUT_S) as sock:
        host, port = sock.getsockname()[:2]
        while True:
            # Events first: reading a response is what queues the next request.
            event = connection.next_event()
            outgoing = connection.data_to_send()
            if outgoing:
                tap.sent(outgoing)
                sock.sendall(outgoing)
            if isinstance(event, ClientAuthenticated | ClientAuthenticationFailed):
                return event, f"{host}:{port}"
            if event is not NEED_DATA:
                raise DemoFailed(f"unexpected event from the client connection: {event!r}")
            data = sock.recv(65536)
            if not data:
                raise DemoFailed("the broker closed the connection before the outcome")
            tap.received(data)
            connection.receive_data(data)


class _Tap:
    """Decodes both directions of a client connection for display: the requests
    as they leave, the responses by the request each answers."""

    def __init__(self, token: str, out: Out | None) -> None:
        self._token = token
        self._out = out
        self._requests = KafkaFrameDecoder()
        self._responses = KafkaFrameDecoder()
        self._in_flight: list[RequestHeader] = []

    def sent(self, data: bytes) -> None:
        self._requests.receive_data(data)
        while isinstance(frame := self._requests.next_event(), Frame):
            header, message = decode_request(frame)
            self._in_flight.append(header)
            if isinstance(message, SaslHandshakeRequest):
                self._show(
                    "client -> broker", f"SaslHandshake v{header.api_version}: {message.mechanism}"
                )
            elif isinstance(message, SaslAuthenticateRequest):
                what = show_bytes(message.auth_bytes, self._token)
                if message.auth_bytes == b"\x01":
                    what += "  (the %x01 reply to the challenge, RFC 7628 section 3.2.3)"
                self._show("client -> broker", f"SaslAuthenticate v{header.api_version}: {what}")

    def received(self, data: bytes) -> None:
        self._responses.receive_data(data)
        while isinstance(frame := self._responses.next_event(), Frame):
            request = self._in_flight.pop(0)
            _, message = decode_response(
                frame, api_key=request.api_key, api_version=request.api_version
            )
            name = ApiKey(request.api_key).name
            if isinstance(message, SaslHandshakeResponse):
                self._show(
                    "broker -> client",
                    f"SaslHandshake v{request.api_version}: error {message.error_code}, "
                    f"mechanisms {list(message.mechanisms)}",
                )
            elif isinstance(message, SaslAuthenticateResponse):
                what = f"SaslAuthenticate v{request.api_version}: error {message.error_code}"
                if message.error_code:
                    what += f" ({ErrorCode(message.error_code).name}), {message.error_message!r}"
                elif message.auth_bytes:
                    what += f", {show_bytes(message.auth_bytes)}  (the RFC 7628 error challenge)"
                else:
                    what += ", no auth bytes (success)"
                self._show("broker -> client", what)
            elif name != "API_VERSIONS":
                self._show("broker -> client", name)

    def _show(self, direction: str, text: str) -> None:
        if self._out is not None:
            self._out(f"   {direction}   {text}")


# --- In memory ----------------------------------------------------------------------------

_IN_MEMORY_NOW: Final = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed clock


def _unsecured_login(principal: str, scope: str) -> UnsecuredLogin:
    """An unsecured token as Kafka's login module builds it from JAAS options."""
    return kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": principal,
            "unsecuredLoginListClaim_scope": f",{scope}",
            "unsecuredLoginExtension_traceId": f"demo-{principal}",
        },
        now=_IN_MEMORY_NOW,
    )


def run_in_memory(out: Out = print) -> int:
    """Two exchanges between the pure sessions, in memory; 0 when both end as they must."""
    issuer = "https://idp.example/.well-known/openid-configuration"
    # The broker side, as Kafka's unsecured validator with
    # unsecuredValidatorRequiredScope="kafka-cluster".
    validator = UnsecuredJwsValidator(required_scope=("kafka-cluster",))
    out("oauthbearer demo --in-memory: two RFC 7628 exchanges in memory, no network.")
    out("The broker validates Kafka's unsecured tokens and requires scope 'kafka-cluster'.\n")

    out("1. alice, with scope kafka-cluster")
    alice = _unsecured_login("alice", "kafka-cluster")
    client = ClientSession(alice.token.value, extensions=alice.extensions)
    server = ServerSession(validator, dialect=Dialect.KAFKA, openid_configuration=issuer)
    first = client.initial_response()
    out(f"   client -> server  {show_bytes(first, alice.token.value)}")
    result = server.receive(first, now=_IN_MEMORY_NOW)
    if not isinstance(result, Authenticated):
        out("   unexpected: the server refused a valid token")
        return 1
    out(
        f"   server            accepted: principal {result.token.principal!r}, "
        f"scope {sorted(result.token.scope)}, extensions {dict(result.extensions)}"
    )
    out("   server -> client  (success, no data)")
    client.receive(b"")
    out(f"   client            {client.state.name}; server {server.state.name}")
    lifetime = server.session_lifetime_ms(now_ms=int(_IN_MEMORY_NOW * 1000), max_reauth_ms=600_000)
    out(f"   server            KIP-368 session lifetime (max reauth 600000 ms): {lifetime} ms\n")

    out("2. mallory, with scope read only: error challenge, %x01, failure")
    mallory = _unsecured_login("mallory", "read")
    client = ClientSession(mallory.token.value)
    server = ServerSession(validator, dialect=Dialect.KAFKA, openid_configuration=issuer)
    first = client.initial_response()
    out(f"   client -> server  {show_bytes(first, mallory.token.value)}")
    issued = server.receive(first, now=_IN_MEMORY_NOW)
    if not isinstance(issued, ChallengeIssued):
        out("   unexpected: the server accepted a token without the required scope")
        return 1
    out(f"   server -> client  {show_bytes(issued.reply)}")
    challenge = client.receive(issued.reply)
    if not isinstance(challenge, ChallengeReceived):
        return 1
    out(f"   client -> server  {show_bytes(challenge.reply)}")
    failed = server.receive(challenge.reply)
    if isinstance(failed, AuthenticationFailed):
        out(f"   server            exchange failed ({failed.reason}); reports {failed.message}")
        outcome = client.receive_outcome(success=False, message=failed.message)
        if isinstance(outcome, AuthenticationFailed):
            out(
                f"   client            AuthenticationFailed: status={outcome.status!r}, "
                f"scope={outcome.scope!r}"
            )
    out(f"   client            {client.state.name}; server {server.state.name}\n")
    out("Both exchanges ended as RFC 7628 says they must.")
    return 0
