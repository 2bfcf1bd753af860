"""A Kafka broker emulator that authenticates clients with SASL OAUTHBEARER (asyncio shell).

Theory of operation
-------------------
:class:`BrokerEmulator` listens on a TCP address and runs one
:class:`~oauthbearer.kafka.KafkaServerConnection` per client. The connection
object does all of the protocol; this shell only moves bytes, reads the clock,
validates tokens and answers what a client sends once authenticated:

* the exchange runs in the pure mode of :class:`~oauthbearer.session.ServerSession`:
  on :class:`~oauthbearer.session.TokenReceived` the emulator calls its
  validator itself, so that the validator's ``detail`` (why a token was refused)
  reaches the log while the client gets only the RFC 7628 error challenge;
* each authentication ends in one :class:`AuthenticationRecord`, logged on the
  ``oauthbearer.kafka.broker`` logger and passed to ``on_authentication``: the
  peer, the principal, the extensions and the outcome, never the token;
* after authentication it answers Metadata (every version a Kafka 4.x broker
  serves, v0-v13) with itself as the only broker and the configured topics
  (one partition each, led by itself, with a topic id derived from the name):
  enough for kafka-python, aiokafka, librdkafka, KafkaJS, Sarama and Kafka's
  own Java client to consider the connection usable and list topics. Any
  other request is logged and the connection closed, as a broker does with a
  request it cannot handle;
* a connection idle for ``idle_timeout_s`` (Kafka's ``connections.max.idle.ms``)
  is closed; one that has not authenticated ``authentication_timeout_s`` after
  it opened, too (a timer asks the connection object, which owns the rule); a
  failed one, ``failed_authentication_delay_s`` after its error response
  (``connection.failed.authentication.delay.ms``, KIP-306);
* the work one client can cause is bounded: frames after authentication are
  limited to ``max_request_size`` (1 MiB: the emulator serves no Produce),
  Metadata requests to ``max_metadata_topics`` topics, and the connection
  object bounds the rest (see :class:`~oauthbearer.kafka.KafkaServerConnection`);
* log lines escape every value a peer chose and cut it short
  (:func:`~oauthbearer.kafka.peer_text`), summarize extensions, and come at most
  :data:`LOG_LINES_PER_WINDOW` of a kind per :data:`LOG_WINDOW_S` seconds;
* what all clients together can hold is bounded too: at most
  ``max_connections`` connections (past that the emulator stops accepting until
  one closes, as Kafka's ``max.connections`` does), at most
  ``max_connections_per_address`` from one client address (a further one is
  closed at once, as ``max.connections.per.ip`` does), at most
  ``max_buffered_bytes`` of partly received frames across all connections (the
  connection whose bytes would pass it is closed), and a connection that has
  not authenticated is closed after ``pre_authentication_idle_s`` of silence;
  when the process runs out of file descriptors, accepting pauses for
  :data:`ACCEPT_BACKOFF_S` and one line says so;
* with an ``ssl_context`` the listener is SASL_SSL: each connection's TLS
  handshake runs in a task of its own (a slow one holds up no other), counts
  against the connection limits while it runs, and must end within
  :data:`TLS_HANDSHAKE_TIMEOUT_S`; a failed handshake is logged with
  OpenSSL's reason, and a client that does not speak TLS at all is named as
  such. On a listener without TLS, a client that starts a TLS handshake (or
  sends an HTTP request) is named as such too (the connection object's
  reasons ``tls-handshake`` and ``http-request``);
* a listener on an address other than loopback refuses to start with a
  validator of unsecured tokens, which anyone who can reach it can mint for
  any principal, unless ``allow_unsecured_on_network`` says it is meant;
* :meth:`BrokerEmulator.aclose` stops listening and closes every connection.

The Metadata answer is :func:`metadata_response`, a pure function.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import functools
import itertools
import logging
import socket
import ssl
import threading
import time
import types
import uuid
from typing import TYPE_CHECKING, Final, Self

from oauthbearer._net import is_loopback
from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    InvalidToken,
    OAuthBearerError,
    ServerFailureReason,
    TokenReason,
)
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE, Dialect, ErrorResponse
from oauthbearer.kafka.framing import ConnectionClosed
from oauthbearer.kafka.protocol import (
    AUTHORIZED_OPERATIONS_OMITTED,
    NEED_DATA,
    ApiKey,
    ErrorCode,
    MetadataBroker,
    MetadataPartition,
    MetadataRequest,
    MetadataResponse,
    MetadataTopic,
    peer_text,
)
from oauthbearer.kafka.server import (
    DEFAULT_AUTHENTICATION_TIMEOUT_MS,
    MAX_METADATA_TOPICS,
    ApplicationRequest,
    KafkaServerConnection,
    ServerAuthenticated,
    ServerAuthenticationFailed,
)
from oauthbearer.observe import ObservedValidator
from oauthbearer.session import AuthzidPolicy, ServerSession, TokenReceived
from oauthbearer.token import TokenValidator
from oauthbearer.unsecured import UnsecuredJwsValidator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from types import TracebackType

    from oauthbearer.config.listener import BrokerListener
    from oauthbearer.kafka.protocol import Frame, RequestHeader, RequestMessage
    from oauthbearer.session import ExtensionValidator
    from oauthbearer.token import OAuthBearerToken
    from oauthbearer.validation.authorizer import ClaimsAuthorizer, Permissions

__all__ = [
    "ACCEPT_BACKOFF_S",
    "DEFAULT_AUTHENTICATION_TIMEOUT_S",
    "DEFAULT_BACKLOG",
    "DEFAULT_CLUSTER_ID",
    "DEFAULT_FAILED_AUTHENTICATION_DELAY_S",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MAX_BUFFERED_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS_PER_ADDRESS",
    "DEFAULT_PRE_AUTHENTICATION_IDLE_S",
    "EMULATOR_MAX_REQUEST_SIZE",
    "LOG_LINES_PER_WINDOW",
    "LOG_WINDOW_S",
    "MAX_LOGGED_EXTENSIONS",
    "MAX_LOGGED_TEXT",
    "MAX_LOGGED_VALUE",
    "TLS_HANDSHAKE_TIMEOUT_S",
    "AuthenticationRecord",
    "BrokerEmulator",
    "metadata_response",
    "topic_id",
]

log = logging.getLogger("oauthbearer.kafka.broker")

#: The cluster id the emulator reports (Metadata v2+) and checks (ApiVersions
#: v5 on an authenticated connection) unless given another: fixed, so that
#: answers are the same in every run, and shaped as Kafka's are (a UUID in
#: URL-safe base64 without padding, ``Uuid.toString``).
DEFAULT_CLUSTER_ID: Final = "b2F1dGhiZWFyZXItZW11bA"
#: Namespace of :func:`topic_id`'s name-based UUIDs.
_TOPIC_ID_NAMESPACE: Final = uuid.UUID("5d1b2c1e-7a55-4c6f-9a0b-0a7f0a75b3e1")
#: The first Metadata version whose requests may name topics by id (v10 and
#: v11 carry the field, but Kafka refuses a request that uses it).
_METADATA_TOPIC_IDS: Final = 12
#: What a Kafka broker without an authorizer reports when a Metadata request
#: (v8+) asks for a topic's authorized operations: every topic operation as a
#: bit of ``AclOperation`` codes (measured: tests/test_kafka_versions.py).
TOPIC_AUTHORIZED_OPERATIONS: Final = sum(
    1 << code for code in (3, 4, 5, 6, 7, 8, 10, 11)
)  # READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
#: The same for the cluster (Metadata v8-v10): CREATE, ALTER, DESCRIBE,
#: CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and IDEMPOTENT_WRITE (8096).
CLUSTER_AUTHORIZED_OPERATIONS: Final = sum(1 << code for code in (5, 7, 8, 9, 10, 11, 12))

#: Kafka's ``connections.max.idle.ms`` default (10 minutes), in seconds.
DEFAULT_IDLE_TIMEOUT_S: Final = 600.0
#: Kafka's ``connection.failed.authentication.delay.ms`` default (KIP-306), in
#: seconds: how long a failed connection stays open after its error response,
#: which also lets every client read that response before the close.
DEFAULT_FAILED_AUTHENTICATION_DELAY_S: Final = 0.1
#: How long a client has to authenticate from the moment it connects
#: (:data:`~oauthbearer.kafka.DEFAULT_AUTHENTICATION_TIMEOUT_MS`), in seconds.
DEFAULT_AUTHENTICATION_TIMEOUT_S: Final = DEFAULT_AUTHENTICATION_TIMEOUT_MS / 1000
#: Largest frame read once a connection is authenticated. The emulator serves
#: ApiVersions, SaslHandshake and Metadata, whose requests take bytes, not
#: megabytes; Kafka's 100 MiB (``socket.request.max.bytes``) is for Produce,
#: which it does not serve, and would let one request hold the event loop.
EMULATOR_MAX_REQUEST_SIZE: Final = 1_048_576
#: Connections the kernel queues before the emulator accepts them (``listen``'s
#: backlog). asyncio's default, 100, drops connections when a test opens
#: hundreds at once; the kernel caps the value (``net.core.somaxconn`` on Linux),
#: and so does :data:`socket.SOMAXCONN` here.
DEFAULT_BACKLOG: Final = 1024
#: Connections served at once; past it the emulator leaves new ones in the
#: listen backlog until one closes (Kafka's ``max.connections``, unbounded by
#: default there; a default process has 1,024 file descriptors).
DEFAULT_MAX_CONNECTIONS: Final = 900
#: Connections from one client address at once; a further one is closed as soon
#: as it is accepted (Kafka's ``max.connections.per.ip``), so one host cannot
#: take every slot.
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: Final = 256
#: Bytes of partly received frames that all connections together may hold. A
#: frame before authentication may be 512 KiB; 2,000 such partial frames held
#: 1 GB. A connection whose bytes would pass the budget is closed.
DEFAULT_MAX_BUFFERED_BYTES: Final = 64 * 1024 * 1024
#: Seconds of silence after which a connection that has not authenticated is
#: closed: a client that means to authenticate speaks at once.
DEFAULT_PRE_AUTHENTICATION_IDLE_S: Final = 10.0
#: Seconds accepting pauses when the process is out of file descriptors (or
#: memory for sockets); retrying at once would spin and flood the log.
ACCEPT_BACKOFF_S: Final = 0.5
#: Seconds a TLS client has to complete its handshake (a SASL_SSL listener):
#: one or two round trips for a client that means it; the authentication
#: deadline starts once it is done.
TLS_HANDSHAKE_TIMEOUT_S: Final = 10.0
#: The argument that lets a listener on another address than loopback accept
#: unsecured tokens, as the refusal names it
#: (:attr:`~oauthbearer.errors.ConfigurationError.remedy`).
UNSECURED_ON_NETWORK_REMEDY: Final = "allow_unsecured_on_network=True"
#: The connection failures that mean the client speaks another protocol.
_FOREIGN_PROTOCOL_REASONS: Final = frozenset(
    {ServerFailureReason.TLS_HANDSHAKE, ServerFailureReason.HTTP_REQUEST}
)
#: OpenSSL's reasons for a handshake that did not start with a ClientHello: the
#: client speaks plaintext Kafka (or HTTP) to a TLS listener.
_NOT_TLS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "PACKET_LENGTH_TOO_LONG"}
)
#: accept() failures that mean "out of resources, try later".
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Longest peer-chosen text in a log line (a principal, a message, a detail),
#: in UTF-8 bytes: enough to recognize it, too little to flood the log.
MAX_LOGGED_TEXT: Final = 256
#: Extensions named in an authentication's log line; the line gives the count of all.
MAX_LOGGED_EXTENSIONS: Final = 8
#: Longest extension value shown in a log line, in UTF-8 bytes.
MAX_LOGGED_VALUE: Final = 64
#: Log lines of one kind (an outcome and its reason) per window; the rest are
#: counted, and the next line shown says how many were left out, so that a
#: flood of connections cannot flood the log.
LOG_LINES_PER_WINDOW: Final = 50
#: The window of :data:`LOG_LINES_PER_WINDOW`, in seconds.
LOG_WINDOW_S: Final = 10.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationRecord:
    """How one authentication on one connection ended: what the emulator logs.

    ``outcome`` is ``"authenticated"``, ``"reauthenticated"`` (KIP-368) or
    ``"failed"``; on failure, ``reason`` is a code of
    :class:`~oauthbearer.ServerFailureReason`, ``error_code`` the
    Kafka error code, ``message`` what the client was told (or why the
    connection was closed) and ``detail`` the validator's own explanation, which
    the client never sees. No field holds the token.
    """

    peer: str
    outcome: str
    principal: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    session_lifetime_ms: int | None = None
    reason: str | None = None
    error_code: int | None = None
    message: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def topic_id(name: str) -> uuid.UUID:
    """The emulator's id for topic ``name`` (Metadata v10+): a name-based UUID
    (RFC 9562 version 5), so the same topic has the same id in every run."""
    return uuid.uuid5(_TOPIC_ID_NAMESPACE, name)


def metadata_response(
    request: MetadataRequest,
    version: int,
    *,
    broker: MetadataBroker,
    topics: Sequence[str] = (),
    cluster_id: str | None = DEFAULT_CLUSTER_ID,
    authorized: Callable[[str], bool] | None = None,
    topic_operations: Callable[[str], int] | None = None,
) -> MetadataResponse:
    """A single-broker cluster's answer to ``request`` (read at ``version``),
    as Kafka's ``KafkaApis.handleTopicMetadataRequest`` builds it.

    Every topic in ``topics`` has one partition, led by ``broker`` at leader
    epoch 0, and the id :func:`topic_id` gives it. A topic asked about by name
    and not in ``topics`` is answered UNKNOWN_TOPIC_OR_PARTITION (the emulator
    creates no topic); one asked about by an unknown id, UNKNOWN_TOPIC_ID with a
    null name. Topic ids before v12 make the whole request INVALID_REQUEST, as
    in Kafka. Which topics a request asks about follows ``MetadataRequest.json``:
    in v0 an empty list means every topic; from v1 null means every topic and
    an empty list none. Asked for authorized operations (v8+), it reports every
    operation, as a broker without an authorizer does.

    ``authorized(name)``, when given, says whether the client may DESCRIBE a
    topic, and the answer follows ``KafkaApis``: a request for every topic
    lists only the authorized ones; a topic asked about by name and not
    authorized is TOPIC_AUTHORIZATION_FAILED whether or not it exists (so that
    existence does not leak); one asked about by a known id, the same with a
    null name (ids are not secret, Kafka's comment says).
    ``topic_operations(name)``, when given, is the bit set of ``AclOperation``
    codes reported as a topic's authorized operations (v8+, when asked for).
    """
    node = broker.node_id
    if request.topic_ids and version < _METADATA_TOPIC_IDS:
        # "Topic IDs are not supported in requests for version N": Kafka's
        # handler throws, and the request's error response goes back.
        failed = tuple(
            MetadataTopic(name="", topic_id=asked, error_code=ErrorCode.INVALID_REQUEST)
            for asked in request.topic_ids
        )
        return MetadataResponse(topics=failed, error_code=ErrorCode.INVALID_REQUEST)
    names = request.topics
    if names is None or (version == 0 and not names and not request.topic_ids):
        names = tuple(t for t in topics if authorized is None or authorized(t))
    known = {topic_id(name): name for name in topics}
    allowed = (lambda name: True) if authorized is None else authorized
    operations = AUTHORIZED_OPERATIONS_OMITTED
    if request.include_topic_authorized_operations and version >= 8:
        operations = TOPIC_AUTHORIZED_OPERATIONS

    def served(name: str) -> MetadataTopic:
        shown = operations
        if topic_operations is not None and operations != AUTHORIZED_OPERATIONS_OMITTED:
            shown = topic_operations(name)
        partition = MetadataPartition(
            partition_index=0,
            leader_id=node,
            leader_epoch=0,
            replica_nodes=(node,),
            isr_nodes=(node,),
        )
        return MetadataTopic(
            name=name,
            topic_id=topic_id(name),
            partitions=(partition,),
            topic_authorized_operations=shown,
        )

    # Kafka lists the unknown ids first, then the topics it found.
    answer = [
        MetadataTopic(topic_id=asked, name=None, error_code=ErrorCode.UNKNOWN_TOPIC_ID)
        for asked in request.topic_ids
        if asked not in known
    ]
    answer += [
        served(known[asked])
        for asked in request.topic_ids
        if asked in known and allowed(known[asked])
    ]
    answer += [
        served(name)
        if name in topics
        else MetadataTopic(name=name, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        for name in names
        if allowed(name)
    ]
    # Then the topics the client may not describe, as KafkaApis appends them.
    answer += [
        MetadataTopic(topic_id=asked, name=None, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        for asked in request.topic_ids
        if asked in known and not allowed(known[asked])
    ]
    answer += [
        MetadataTopic(name=name, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        for name in names
        if not allowed(name)
    ]
    cluster_operations = AUTHORIZED_OPERATIONS_OMITTED
    if request.include_cluster_authorized_operations and 8 <= version <= 10:
        cluster_operations = CLUSTER_AUTHORIZED_OPERATIONS
    return MetadataResponse(
        brokers=(broker,),
        cluster_id=cluster_id,
        controller_id=node,
        topics=tuple(answer),
        cluster_authorized_operations=cluster_operations,
    )


class BrokerEmulator:
    """A one-node Kafka cluster that authenticates clients with OAUTHBEARER.

    ``validator`` judges each token (e.g.
    :class:`~oauthbearer.UnsecuredJwsValidator` or
    :class:`~oauthbearer.JwtValidator`); tokens are read in Kafka's dialect by
    default. ``host`` and ``port`` (0: any free port) are where it listens
    (``host`` ``""``: every IPv4 interface, as Kafka's empty listener host);
    ``advertised_host`` and ``advertised_port`` are the address named in
    Metadata answers (default: ``host`` and the port it listens on).
    ``ssl_context`` (a server context holding the certificate) makes it a
    SASL_SSL listener. A ``validator`` of unsecured tokens
    (:class:`~oauthbearer.UnsecuredJwsValidator`) on a ``host`` other than a
    loopback address is refused unless ``allow_unsecured_on_network``: anyone
    who can reach the listener could mint a token for any principal.
    ``node_id`` and ``cluster_id`` are its identity in Metadata answers (and
    ApiVersions v5 checks). ``topics`` are the topics it reports. ``max_reauth_ms`` is
    Kafka's ``connections.max.reauth.ms``; ``idle_timeout_s`` its
    ``connections.max.idle.ms``; ``failed_authentication_delay_s`` its
    ``connection.failed.authentication.delay.ms``. ``authentication_timeout_s``
    is how long a client has to authenticate after it connects;
    ``max_frame_size`` bounds a frame until then, ``max_request_size`` after, and
    ``max_metadata_topics`` the topics one Metadata request may name. ``backlog``
    is the listen backlog (capped by the operating system); ``max_connections``,
    ``max_connections_per_address``, ``max_buffered_bytes`` and
    ``pre_authentication_idle_s`` bound what all clients together can hold (see
    the module's docs). ``clock`` gives epoch seconds.
    ``on_authentication`` is called with every :class:`AuthenticationRecord`.
    ``authorizer`` (a :class:`~oauthbearer.validation.authorizer.ClaimsAuthorizer`)
    refuses at authentication a token that fails its claim check, as Strimzi's
    ``oauth.custom.claim.check`` does, and then filters what each client sees:
    Metadata lists only the topics it may DESCRIBE and answers
    TOPIC_AUTHORIZATION_FAILED for the others it names.
    A validator that cannot reach a verdict (an
    :class:`~oauthbearer.validation.introspection.IntrospectionError`: the
    identity provider failed) refuses the token, never grants it, and says so
    in a WARNING line.

    Use it with ``async with``, or from synchronous code with
    :meth:`running_in_thread`.
    """

    def __init__(
        self,
        validator: TokenValidator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advertised_host: str | None = None,
        advertised_port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        allow_unsecured_on_network: bool = False,
        node_id: int = 0,
        cluster_id: str = DEFAULT_CLUSTER_ID,
        topics: Sequence[str] = (),
        dialect: Dialect | str = Dialect.KAFKA,
        authzid_policy: AuthzidPolicy | str = AuthzidPolicy.MATCH_PRINCIPAL,
        extension_validator: ExtensionValidator | None = None,
        max_reauth_ms: int | None = None,
        max_frame_size: int = KAFKA_MAX_RECEIVE_SIZE,
        max_request_size: int = EMULATOR_MAX_REQUEST_SIZE,
        max_metadata_topics: int = MAX_METADATA_TOPICS,
        authentication_timeout_s: float = DEFAULT_AUTHENTICATION_TIMEOUT_S,
        backlog: int = DEFAULT_BACKLOG,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        pre_authentication_idle_s: float = DEFAULT_PRE_AUTHENTICATION_IDLE_S,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        failed_authentication_delay_s: float = DEFAULT_FAILED_AUTHENTICATION_DELAY_S,
        clock: Callable[[], float] = time.time,
        on_authentication: Callable[[AuthenticationRecord], object] | None = None,
        authorizer: ClaimsAuthorizer | None = None,
    ) -> None:
        if authorizer is not None and not callable(getattr(authorizer, "permissions", None)):
            raise ArgumentTypeError("authorizer must be a ClaimsAuthorizer")
        if not isinstance(validator, TokenValidator):
            raise ArgumentTypeError("validator must have a validate(token, *, now) method")
        if isinstance(topics, str) or not all(isinstance(t, str) for t in topics):
            raise ArgumentTypeError("topics must be a sequence of strings")
        for name, number in (("port", port), ("advertised_port", advertised_port)):
            if number is None and name == "advertised_port":
                continue
            if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 65_535:
                raise ConfigurationError(f"{name} must be an int from 0 to 65535")
        if not isinstance(host, str):
            raise ArgumentTypeError("host must be a str")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ArgumentTypeError("ssl_context must be an ssl.SSLContext")
        if (
            isinstance(validator, UnsecuredJwsValidator)
            and not is_loopback(host)
            and not allow_unsecured_on_network
        ):
            where = "every interface" if host in ("", "0.0.0.0", "::") else repr(host)  # noqa: S104
            raise ConfigurationError(
                f"the emulator would listen on {where}, not a loopback address, and accept "
                "unsecured tokens (alg none), which anyone who can reach it can mint for any "
                f"principal; pass {UNSECURED_ON_NETWORK_REMEDY} to serve them there anyway",
                remedy=UNSECURED_ON_NETWORK_REMEDY,
            )
        if not idle_timeout_s > 0:
            raise ConfigurationError("idle_timeout_s must be positive")
        if not isinstance(authentication_timeout_s, int | float) or not (
            0.001 <= authentication_timeout_s < 1 << 31
        ):
            raise ConfigurationError("authentication_timeout_s must be at least 0.001 (seconds)")
        for name, value in (
            ("backlog", backlog),
            ("max_connections", max_connections),
            ("max_connections_per_address", max_connections_per_address),
            ("max_buffered_bytes", max_buffered_bytes),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int")
        if not isinstance(pre_authentication_idle_s, int | float) or not (
            0.001 <= pre_authentication_idle_s < 1 << 31
        ):
            raise ConfigurationError("pre_authentication_idle_s must be at least 0.001 (seconds)")
        if not 0 <= failed_authentication_delay_s < idle_timeout_s:
            raise ConfigurationError(
                "failed_authentication_delay_s must be from 0 to less than idle_timeout_s"
            )
        # Each verdict counted and logged (oauthbearer.observe), as every shell's.
        self._validator = (
            validator if isinstance(validator, ObservedValidator) else ObservedValidator(validator)
        )
        self._authorizer = authorizer
        self._host = host
        self._port = port
        self._advertised_host = advertised_host or host
        self._advertised_port = advertised_port
        self._ssl_context = ssl_context
        self._handshakes: set[asyncio.Task[None]] = set()  # TLS handshakes under way
        self._node_id = node_id
        self._cluster_id = cluster_id
        self._topics = tuple(topics)
        self._max_reauth_ms = max_reauth_ms
        self._max_frame_size = max_frame_size
        self._max_request_size = max_request_size
        self._max_metadata_topics = max_metadata_topics
        self._authentication_timeout_s = float(authentication_timeout_s)
        self._backlog = min(backlog, socket.SOMAXCONN)
        self._max_connections = max_connections
        self._max_connections_per_address = max_connections_per_address
        self._max_buffered_bytes = max_buffered_bytes
        self._pre_authentication_idle_s = float(pre_authentication_idle_s)
        self._buffered_bytes = 0  # held by every connection together
        self._per_address: collections.Counter[str] = collections.Counter()
        self._log_limiter = _LogLimiter(clock)
        self._idle_timeout_s = idle_timeout_s
        self._failed_authentication_delay_s = failed_authentication_delay_s
        self._clock = clock
        self._on_authentication = on_authentication
        # Checks the session options once, here, rather than on a first client.
        ServerSession(dialect=dialect, authzid_policy=authzid_policy)
        dialect = Dialect(dialect)
        authzid_policy = AuthzidPolicy(authzid_policy)

        def new_session() -> ServerSession:
            return ServerSession(
                dialect=dialect,
                authzid_policy=authzid_policy,
                extension_validator=extension_validator,
            )

        self._new_session = new_session
        # What every connection and every Metadata answer will be built from is
        # checked now (frame limit, max_reauth_ms, node id, advertised host), so
        # that a mistake fails here rather than on a client.
        self._make_connection()
        self._metadata_broker()
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._slot_freed: asyncio.Event | None = None
        self._protocols: set[_BrokerProtocol] = set()
        self._stop: asyncio.Event | None = None

    @classmethod
    def from_listener(
        cls,
        listener: BrokerListener,
        *,
        topics: Sequence[str] = (),
        dialect: Dialect | str = Dialect.KAFKA,
        advertised_host: str | None = None,
        allow_unsecured_on_network: bool = False,
        on_authentication: Callable[[AuthenticationRecord], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """The emulator that serves a broker listener as its properties describe
        it (:func:`oauthbearer.config.broker_listener`'s reading): address,
        advertised address, TLS certificate, validator, session lifetime and the
        limits Kafka's settings state (the others keep this class's defaults).
        Not started; neither is the listener's key refresher: start it first
        (``listener.validation.start()``, or use ``listener.validation`` as a
        context manager). A SASL_SSL listener's key store is read here.
        ``advertised_host`` overrides the advertised host (an empty one, Kafka's
        wildcard, is advertised as this machine's name)."""
        limits = {
            name: value
            for name, value in (
                ("max_request_size", listener.max_request_size),
                ("idle_timeout_s", listener.idle_timeout_s),
                ("failed_authentication_delay_s", listener.failed_authentication_delay_s),
                ("max_connections", listener.max_connections),
                ("max_connections_per_address", listener.max_connections_per_address),
                ("backlog", listener.backlog),
            )
            if value is not None
        }
        return cls(
            listener.validation.validator,
            host=listener.host,
            port=listener.port,
            advertised_host=advertised_host or listener.advertised_host or socket.getfqdn(),
            advertised_port=listener.advertised_port or None,
            ssl_context=None if listener.tls is None else listener.tls.context(),
            allow_unsecured_on_network=allow_unsecured_on_network,
            node_id=listener.node_id,
            topics=topics,
            dialect=dialect,
            max_reauth_ms=listener.max_reauth_ms,
            max_frame_size=listener.max_frame_size,
            clock=clock,
            on_authentication=on_authentication,
            **limits,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        state = "listening" if self._listener is not None else "stopped"
        return f"<BrokerEmulator {self._host}:{self._port} {state}>"

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port it listens on (known once started, when asked for port 0)."""
        return self._port

    @property
    def backlog(self) -> int:
        """The listen backlog asked of the kernel (which may cap it further)."""
        return self._backlog

    @property
    def security_protocol(self) -> str:
        """``SASL_SSL`` with an ``ssl_context``, else ``SASL_PLAINTEXT``: what a
        client's ``security.protocol`` must be."""
        return "SASL_PLAINTEXT" if self._ssl_context is None else "SASL_SSL"

    @property
    def bootstrap(self) -> str:
        """``host:port``, as a client's ``bootstrap.servers`` names it (the
        advertised address)."""
        return f"{self._advertised_host}:{self._advertised_port or self._port}"

    # -- lifecycle --

    async def start(self) -> Self:
        """Start listening; raises :class:`OSError` if the address is taken."""
        if self._listener is not None:
            raise ConfigurationError("BrokerEmulator.start() was already called")
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET  # "": every IPv4 one
        try:
            listener = socket.create_server(
                (self._host, self._port), family=family, backlog=self._backlog
            )
        except OSError as exc:  # asyncio's wording, which callers already know
            raise OSError(
                exc.errno,
                f"error while attempting to bind on address {(self._host, self._port)!r}: "
                f"{(exc.strerror or str(exc)).lower()}",
            ) from None
        listener.setblocking(False)  # noqa: FBT003 - the socket API's own argument
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accepting = asyncio.get_running_loop().create_task(
            self._accept_loop(listener), name=f"oauthbearer-broker-accept-{self._port}"
        )
        log.info("listening on %s:%d (%s)", self._host, self._port, self.security_protocol)
        return self

    async def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called (or the task is cancelled), then close."""
        if self._listener is None:
            await self.start()
        assert self._stop is not None
        try:
            await self._stop.wait()
        finally:
            await self.aclose()

    def stop(self) -> None:
        """Ask :meth:`serve_forever` to return (from the emulator's event loop)."""
        if self._stop is not None:
            self._stop.set()

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        accepting, self._accepting = self._accepting, None
        if accepting is not None:
            accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await accepting
        listener.close()
        for handshake in tuple(self._handshakes):
            handshake.cancel()
        for protocol in tuple(self._protocols):
            protocol.close()
        await asyncio.sleep(0)  # let the transports' closing callbacks run
        log.info("stopped")

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @contextlib.contextmanager
    def running_in_thread(self, timeout_s: float = 10.0) -> Iterator[Self]:
        """Serve from a background thread with its own event loop, for
        synchronous code (tests driving a blocking Kafka client)."""
        started = threading.Event()
        loop_box: list[asyncio.AbstractEventLoop] = []
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                loop_box.append(asyncio.get_running_loop())
                started.set()
            await self.serve_forever()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())

        thread = threading.Thread(target=run, name="oauthbearer-broker", daemon=True)
        thread.start()
        if not started.wait(timeout_s):
            raise TimeoutError("the broker emulator did not start")
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop_box[0].call_soon_threadsafe(self.stop)
            thread.join(timeout_s)

    # -- connections --

    async def _accept_loop(self, listener: socket.socket) -> None:
        """Accept connections while there is room for them; never die on a
        failed accept (a client that resets at once, no descriptors left)."""
        loop = asyncio.get_running_loop()
        slot_freed = self._slot_freed
        assert slot_freed is not None
        starved = False
        while True:
            while len(self._protocols) + len(self._handshakes) >= self._max_connections:
                slot_freed.clear()
                await slot_freed.wait()
            try:
                client, address = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    if not starved:
                        log.warning(
                            "out of file descriptors or socket memory (%s): accepting pauses "
                            "for %.1f s at a time, with %d connections open",
                            exc.strerror,
                            ACCEPT_BACKOFF_S,
                            len(self._protocols),
                        )
                    starved = True
                else:
                    self._log(logging.WARNING, "accept-failed", "accept failed: %s", exc)
                await asyncio.sleep(ACCEPT_BACKOFF_S)
                continue
            if starved:
                log.info("accepting connections again")
                starved = False
            host = _peer_name(address).rpartition(":")[0]
            if self._per_address[host] >= self._max_connections_per_address:
                client.close()
                self._log(
                    logging.WARNING,
                    "per-address-limit",
                    "refused a connection from %s: it has %d open, the most one address may",
                    host,
                    self._max_connections_per_address,
                )
                continue
            # Counted from the accept: a TLS handshake holds a slot of its address.
            self._per_address[host] += 1
            if self._ssl_context is None:
                await self._connect(client, host, _peer_name(address))
            else:
                # Each handshake in a task of its own: a slow one holds up no other.
                handshake = loop.create_task(self._connect(client, host, _peer_name(address)))
                self._handshakes.add(handshake)
                handshake.add_done_callback(self._handshake_done)

    async def _connect(self, client: socket.socket, host: str, peer: str) -> None:
        """Run a protocol on an accepted socket; over TLS, after the handshake."""
        made: list[_BrokerProtocol] = []

        def protocol() -> _BrokerProtocol:
            made.append(_BrokerProtocol(self, host))
            return made[-1]

        loop = asyncio.get_running_loop()
        try:
            if self._ssl_context is None:
                await loop.connect_accepted_socket(protocol, client)
            else:
                await loop.connect_accepted_socket(
                    protocol,
                    client,
                    ssl=self._ssl_context,
                    ssl_handshake_timeout=self._tls_handshake_timeout_s(),
                )
        except (OSError, asyncio.CancelledError) as exc:
            client.close()
            if not (made and made[0].opened):
                self._release_address(host)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if self._ssl_context is not None:
                self._log(
                    logging.WARNING,
                    "tls-handshake-failed",
                    "TLS handshake with %s failed: %s",
                    peer,
                    _tls_failure(exc, self._tls_handshake_timeout_s()),
                )

    def _tls_handshake_timeout_s(self) -> float:
        return min(TLS_HANDSHAKE_TIMEOUT_S, self._authentication_timeout_s)

    def _handshake_done(self, handshake: asyncio.Task[None]) -> None:
        self._handshakes.discard(handshake)
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _release_address(self, host: str) -> None:
        self._per_address[host] -= 1
        if self._per_address[host] <= 0:
            del self._per_address[host]

    def _connection_opened(self, protocol: _BrokerProtocol) -> None:
        self._protocols.add(protocol)

    def _connection_closed(self, protocol: _BrokerProtocol) -> None:
        if protocol not in self._protocols:
            return
        self._protocols.discard(protocol)
        self._release_address(protocol.host)
        self._buffered_bytes -= protocol.counted_bytes
        protocol.counted_bytes = 0
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _count_buffered(self, protocol: _BrokerProtocol, held: int) -> bool:
        """Record that ``protocol`` now holds ``held`` bytes of partial frames;
        ``False`` when that would pass the budget of all connections together."""
        total = self._buffered_bytes - protocol.counted_bytes + held
        if total > self._max_buffered_bytes:
            return False
        self._buffered_bytes = total
        protocol.counted_bytes = held
        return True

    def _make_connection(self) -> KafkaServerConnection:
        return KafkaServerConnection(
            self._new_session,
            max_reauth_ms=self._max_reauth_ms,
            max_frame_size=self._max_frame_size,
            max_request_size=self._max_request_size,
            max_metadata_topics=self._max_metadata_topics,
            authentication_timeout_ms=max(round(self._authentication_timeout_s * 1000), 1),
            cluster_id=self._cluster_id,
            node_id=self._node_id,
            now=self._clock(),
        )

    def _metadata_broker(self) -> MetadataBroker:
        return MetadataBroker(
            node_id=self._node_id,
            host=self._advertised_host,
            port=self._advertised_port or self._port,
        )

    def _judge(
        self, connection: KafkaServerConnection, event: TokenReceived
    ) -> ServerAuthenticated | ServerAuthenticationFailed | InvalidToken:
        """Validate the token: grant it (the connection's outcome), or send the
        error challenge and return the validator's refusal."""
        try:
            token = self._validator.validate(event.response.token, now=self._clock())
            if self._authorizer is not None:
                self._authorizer.authenticate(token)
        except (InvalidToken, OAuthBearerError) as error:
            refused = error if isinstance(error, InvalidToken) else self._unjudged(error)
            connection.reject(
                ErrorResponse(
                    refused.status,
                    scope=refused.scope,
                    openid_configuration=refused.openid_configuration,
                )
            )
            return refused
        return connection.accept(token)

    def _unjudged(self, error: OAuthBearerError) -> InvalidToken:
        """A validator that could not decide (its identity provider failed):
        say so, and refuse the token, never grant it."""
        self._log(
            logging.WARNING,
            "validation-error",
            "token validation could not complete, the client is refused: %s: %s",
            type(error).__name__,
            _shown(str(error)),
        )
        return InvalidToken(
            "invalid_token",
            reason=TokenReason.UNJUDGED,
            detail=f"validation could not complete: {error}",
        )

    def permissions(self, token: OAuthBearerToken) -> Permissions | None:
        """What ``token`` may do under the authorizer (``None``: no authorizer, everything)."""
        return None if self._authorizer is None else self._authorizer.permissions(token)

    def _answer(
        self,
        connection: KafkaServerConnection,
        request: ApplicationRequest,
        peer: str,
        permissions: Permissions | None = None,
    ) -> bool:
        """Answer a request on an authenticated connection; False: close it."""
        header: RequestHeader = request.header
        message: RequestMessage | Frame = request.message
        if isinstance(message, MetadataRequest):
            broker = self._metadata_broker()
            connection.send_response(
                header,
                metadata_response(
                    message,
                    header.api_version,
                    broker=broker,
                    topics=self._topics,
                    cluster_id=self._cluster_id,
                    authorized=None
                    if permissions is None
                    else functools.partial(permissions.allows, "DESCRIBE", "TOPIC"),
                    topic_operations=None if permissions is None else permissions.topic_operations,
                ),
            )
            return True
        try:
            name = ApiKey(header.api_key).name
        except ValueError:
            name = f"API key {header.api_key}"
        self._log(
            logging.INFO,
            "unserved",
            "closing the connection from %s (principal %s): the emulator does not serve %s v%d",
            peer,
            _shown(connection.principal),
            name,
            header.api_version,
        )
        return False

    def _report(self, record: AuthenticationRecord) -> None:
        if record.ok:
            self._log(
                logging.INFO,
                record.outcome,
                "%s peer=%s principal=%s extensions=%s session_lifetime_ms=%s",
                record.outcome,
                record.peer,
                _shown(record.principal),
                _extensions_summary(record.extensions),
                record.session_lifetime_ms,
            )
        elif record.reason in _FOREIGN_PROTOCOL_REASONS:
            # Not an authentication: the client speaks another protocol. The
            # message is the connection's own words (and hex), no peer text.
            self._log(
                logging.WARNING,
                f"failed:{record.reason}",
                "closed the connection from %s: %s (reason=%s)",
                record.peer,
                record.message,
                record.reason,
            )
        else:
            self._log(
                logging.WARNING,
                f"failed:{record.reason}",
                "authentication failed peer=%s reason=%s error_code=%s message=%s detail=%s",
                record.peer,
                record.reason,
                record.error_code,
                _shown(record.message),
                _shown(record.detail),
            )
        if self._on_authentication is not None:
            self._on_authentication(record)

    def _log(self, level: int, kind: str, fmt: str, *args: object) -> None:
        """Log a line of ``kind``, unless that kind is over its rate."""
        allowed, left_out = self._log_limiter.allow(kind)
        if not allowed:
            return
        if left_out:
            fmt += " (%d similar lines left out)"
            args = (*args, left_out)
        log.log(level, fmt, *args)


class _LogLimiter:
    """At most :data:`LOG_LINES_PER_WINDOW` lines of a kind per
    :data:`LOG_WINDOW_S`; counts what it holds back. Kinds are the library's
    own names (an outcome, a reason code), never peer text, so they are few."""

    __slots__ = ("_clock", "_windows")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # kind -> [window start, lines shown in it, lines held back since the last shown]
        self._windows: dict[str, list[float]] = {}

    def allow(self, kind: str) -> tuple[bool, int]:
        """Whether to log a line of ``kind`` now, and how many were held back before it."""
        now = self._clock()
        window = self._windows.setdefault(kind, [now, 0, 0])
        if not 0 <= now - window[0] < LOG_WINDOW_S:
            window[0], window[1] = now, 0
        if window[1] >= LOG_LINES_PER_WINDOW:
            window[2] += 1
            return False, 0
        window[1] += 1
        left_out, window[2] = int(window[2]), 0
        return True, left_out


def _shown(value: str | None) -> str:
    """A peer-chosen value as a log line shows it: quoted, escaped, cut short.
    Every peer value in this module's log lines goes through here."""
    if value is None:
        return "None"
    return f"'{peer_text(value, max_bytes=MAX_LOGGED_TEXT)}'"


def _extensions_summary(extensions: Mapping[str, str]) -> str:
    """``N {name='value', ...}``: the count, the first names and their values cut short."""
    shown = [
        f"{peer_text(name, max_bytes=MAX_LOGGED_VALUE)}="
        f"'{peer_text(value, max_bytes=MAX_LOGGED_VALUE)}'"
        for name, value in itertools.islice(extensions.items(), MAX_LOGGED_EXTENSIONS)
    ]
    if len(extensions) > MAX_LOGGED_EXTENSIONS:
        shown.append("...")
    return f"{len(extensions)} {{{', '.join(shown)}}}"


class _BrokerProtocol(asyncio.Protocol):
    """One client connection: bytes in, the connection object's events, bytes out.

    A protocol rather than a stream reader: the whole exchange runs in
    ``data_received`` callbacks (the validator is synchronous), with no
    coroutine per read, which is what lets one core serve thousands of
    authentications a second.
    """

    def __init__(self, emulator: BrokerEmulator, host: str = "?") -> None:
        self._emulator = emulator
        #: The client's address, which the per-address limit counts by.
        self.host = host
        #: The bytes of partial frames this connection holds, as the emulator's
        #: budget counts them.
        self.counted_bytes = 0
        self._connection = emulator._make_connection()
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._refusal: InvalidToken | None = None  # the validator's verdict, for the log
        self._permissions: Permissions | None = None  # the authorizer's, per authentication
        self._done = False
        self._last_activity = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._writing_paused = False
        #: Whether asyncio made the connection (over TLS: the handshake is done).
        self.opened = False

    # -- asyncio's callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._peer = _peer_name(transport.get_extra_info("peername"))
        self.opened = True
        self._emulator._connection_opened(self)
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        self._idle_timer = loop.call_later(self._idle_limit_s(), self._idle_check)
        self._deadline_timer = loop.call_later(
            self._emulator._authentication_timeout_s, self._deadline_check
        )

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._last_activity = asyncio.get_running_loop().time()
        self._feed(data)

    def pause_writing(self) -> None:
        # A client that sends requests without reading the answers: neither read
        # nor answer more of them until the answers already queued have drained.
        # What was read stays in the connection's frame decoder, so the memory
        # held is one read and one answer past the transport's high-water mark.
        self._writing_paused = True
        if self._transport is not None and not self._done:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._transport is not None and not self._done:
            self._transport.resume_reading()
            self._feed(b"", resume=True)

    def eof_received(self) -> bool:
        if not self._done:
            self._feed(b"")
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        self._emulator._connection_closed(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        if not self._done:
            self._done = True
            self._report_abandoned_challenge()

    # -- the exchange --

    def _feed(self, data: bytes, *, resume: bool = False) -> None:
        """Hand ``data`` to the connection and act on its events (``resume``: no
        new data, only the frames left when answering paused)."""
        try:
            if not resume:
                self._connection.receive_data(data, now=self._emulator._clock())
            self._pump()
        except Exception:  # one connection's bug (a validator's) must not stop the rest
            log.exception("connection from %s closed after an unexpected error", self._peer)
            self._finish(delay_s=0.0)
            return
        if not self._done and not self._emulator._count_buffered(self, self._connection.buffered):
            self._emulator._log(
                logging.WARNING,
                "buffer-budget",
                "closing the connection from %s: its partial frame (%d bytes) would pass the "
                "emulator's buffer budget",
                self._peer,
                self._connection.buffered,
            )
            self.close()

    def _pump(self) -> None:
        emulator = self._emulator
        connection = self._connection
        while True:
            if self._writing_paused:
                self._flush()
                return  # resume_writing() carries on
            event = connection.next_event()
            if event is NEED_DATA:
                self._flush()
                return
            if isinstance(event, TokenReceived):
                outcome = emulator._judge(connection, event)
                if isinstance(outcome, InvalidToken):
                    self._refusal = outcome  # the challenge is queued; the client answers it
                    continue
                event = outcome
            if isinstance(event, ServerAuthenticated):
                self._refusal = None
                self._permissions = emulator.permissions(event.token)
                emulator._report(
                    AuthenticationRecord(
                        peer=self._peer,
                        outcome="reauthenticated" if event.reauthentication else "authenticated",
                        principal=event.principal,
                        extensions=event.extensions,
                        session_lifetime_ms=event.session_lifetime_ms,
                    )
                )
            elif isinstance(event, ServerAuthenticationFailed):
                emulator._report(
                    AuthenticationRecord(
                        peer=self._peer,
                        outcome="failed",
                        reason=event.reason,
                        error_code=event.error_code,
                        message=event.message,
                        detail=None if self._refusal is None else self._refusal.detail,
                    )
                )
                self._refusal = None
                self._finish(delay_s=emulator._failed_authentication_delay_s)
                return
            elif isinstance(event, ConnectionClosed):
                self._report_abandoned_challenge()
                self._finish(delay_s=0.0)
                return
            else:
                # Never PAUSED: each token is judged as it arrives.
                assert isinstance(event, ApplicationRequest), event
                if not emulator._answer(connection, event, self._peer, self._permissions):
                    self._finish(delay_s=0.0)
                    return
                self._flush()  # each answer on its own: the transport may ask for a pause

    def _report_abandoned_challenge(self) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            self._emulator._report(
                AuthenticationRecord(
                    peer=self._peer,
                    outcome="failed",
                    reason="authentication-failed",
                    error_code=ErrorCode.SASL_AUTHENTICATION_FAILED,
                    message="the client closed the connection after the error challenge",
                    detail=refusal.detail,
                )
            )

    # -- the transport --

    def _flush(self) -> None:
        out = self._connection.data_to_send()
        if out and self._transport is not None:
            self._transport.write(out)

    def _finish(self, *, delay_s: float) -> None:
        """Send what is queued, read no more, and close after ``delay_s``."""
        self._done = True
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(Exception):  # a failed connection may have nothing queued
            self._flush()
        transport.pause_reading()
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, transport.close)
        else:
            transport.close()

    def close(self) -> None:
        """Close at once (the emulator is stopping)."""
        self._done = True
        if self._transport is not None:
            self._transport.close()

    def _idle_limit_s(self) -> float:
        """Kafka's ``connections.max.idle.ms``, or the shorter limit until authenticated."""
        emulator = self._emulator
        if self._connection.principal is None:
            return min(emulator._pre_authentication_idle_s, emulator._idle_timeout_s)
        return emulator._idle_timeout_s

    def _idle_check(self) -> None:
        loop = asyncio.get_running_loop()
        remaining = self._last_activity + self._idle_limit_s() - loop.time()
        if remaining > 0:
            self._idle_timer = loop.call_later(remaining, self._idle_check)
            return
        log.debug("closing the idle connection from %s", self._peer)
        self.close()

    def _deadline_check(self) -> None:
        """The authentication deadline, by the loop's timer: the connection object
        decides, on the emulator's clock (a timer that fires early, by that clock,
        is set again for what is left)."""
        self._deadline_timer = None
        if self._done:
            return
        connection = self._connection
        event = connection.check_deadline(now=self._emulator._clock())
        if event is not None:
            refusal, self._refusal = self._refusal, None  # a challenge the client left
            self._emulator._report(
                AuthenticationRecord(
                    peer=self._peer,
                    outcome="failed",
                    reason=event.reason,
                    error_code=event.error_code,
                    message=event.message,
                    detail=None if refusal is None else refusal.detail,
                )
            )
            self._finish(delay_s=0.0)
            return
        deadline = connection.authentication_deadline
        if deadline is not None:
            remaining = max(deadline - self._emulator._clock(), 0.01)
            self._deadline_timer = asyncio.get_running_loop().call_later(
                remaining, self._deadline_check
            )


def _tls_failure(error: BaseException, timeout_s: float) -> str:
    """Why a TLS handshake failed, for the log: OpenSSL's reason code (never
    text from the peer), and what it usually means."""
    if isinstance(error, ssl.SSLError):
        reason = error.reason or type(error).__name__
        if reason == "HTTP_REQUEST":
            return f"{reason}: the client sent an HTTP request to this SASL_SSL listener"
        if reason in _NOT_TLS:
            return (
                f"{reason}: the client does not speak TLS (a client configured for "
                "SASL_PLAINTEXT on this SASL_SSL listener?)"
            )
        if reason.startswith(("TLSV1_ALERT_", "SSLV3_ALERT_")):
            return f"{reason}: the client ended the handshake (does it trust the certificate?)"
        return reason
    if isinstance(error, ConnectionAbortedError):
        return f"no handshake within {timeout_s:g} s"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return (
            "the client closed the connection during the handshake (does it trust the certificate?)"
        )
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or 'the connection was lost'}"
    return type(error).__name__


def _peer_name(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
