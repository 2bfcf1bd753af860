"""Broker side, the whole listener: what a Kafka broker serves on one listener,
read from its ``server.properties`` as Kafka reads it, for the broker emulator.

Theory of operation
-------------------
A broker's properties describe every listener it has; a client meets one of
them. :func:`broker_listener` reads that one, by Kafka's rules, into a
:class:`BrokerListener`, and
:meth:`BrokerEmulator.from_listener <oauthbearer.kafka.broker.BrokerEmulator.from_listener>`
builds the broker emulator that serves it:

* **where**: ``listeners`` (Kafka's endpoint grammar, ``NAME://host:port``; an
  empty host binds every interface), ``advertised.listeners`` for the address
  Metadata answers name (default: the listener's own), and
  ``listener.security.protocol.map`` (default: each security protocol's name
  maps to itself) for ``SASL_PLAINTEXT`` or ``SASL_SSL``;
* **which mechanism**: ``sasl.enabled.mechanisms`` (the listener's, else the
  broker's; Kafka's default is GSSAPI) must be exactly ``OAUTHBEARER``;
* **which tokens**: :func:`~oauthbearer.config.broker_validator`, unchanged;
* **sessions and limits**: ``connections.max.reauth.ms`` (mechanism, listener,
  then broker), ``sasl.server.max.receive.size`` and ``max.connections`` (the
  listener's, else the broker's; both bound), ``socket.request.max.bytes``,
  ``connections.max.idle.ms``, ``connection.failed.authentication.delay.ms``,
  ``max.connections.per.ip``, ``socket.listen.backlog.size``, ``node.id``;
* **TLS** (``SASL_SSL``): a PEM key store, ``ssl.keystore.type=PEM`` with
  ``ssl.keystore.certificate.chain`` and ``ssl.keystore.key`` given inline (a
  PEM block may be written on one line, as Kafka allows), or
  ``ssl.keystore.location`` naming a PEM file that holds both;
  ``ssl.key.password`` for an encrypted key; ``ssl.enabled.protocols`` and
  ``ssl.protocol``. A certificate and key given as files (``certfile``,
  ``keyfile``) take the key store's place.

A setting the emulator cannot honour, that would change what a client sees, is
refused with a :class:`~oauthbearer.errors.ConfigurationError` that names its
key: another SASL mechanism, a JKS or PKCS12 key store, client certificates
(the listener's ``ssl.client.auth``), Java cipher suite names, an SSL engine
factory, an authorizer, a principal builder, per-address connection overrides
and connection rate limits; so is a setting Kafka itself refuses, or ignores
because of another one (TLS settings on a ``SASL_PLAINTEXT`` listener). The
rest of a broker's properties (storage, replication, the controller, other
listeners) has no bearing on a client's authentication: those keys are listed
in :attr:`BrokerListener.unread`, so that a shell can say what it did not read.

Nothing is read from disk, fetched or started here but the properties file
given by path; :meth:`ListenerTls.context` reads the key store's files (when
the emulator is built).
No message holds a setting's value where it could be a secret.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeVar, overload

from oauthbearer.config._values import INT_RANGE, LONG_RANGE, bad_value, parse_int, trim
from oauthbearer.config.broker import BrokerValidatorConfig, broker_validator
from oauthbearer.config.properties import load_properties
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE
from oauthbearer.validation.jwt import KAFKA_RULES, JwtRules

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterator

    from oauthbearer.config._settings import Setting, View
    from oauthbearer.config.jaas import JaasConfig

__all__ = [
    "BrokerListener",
    "Endpoint",
    "ListenerTls",
    "broker_listener",
]

#: The arguments that give a listener its certificate and key as files, as a
#: refusal names them (:attr:`~oauthbearer.errors.ConfigurationError.remedy`).
CERTIFICATE_REMEDY: Final = "certfile= and keyfile="
#: Kafka's ``SecurityProtocol`` names; a listener for SASL has one of the last two.
SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: Kafka's endpoint grammar (``SocketServerConfigs.URI_PARSE_REGEXP``, matched whole).
_ENDPOINT: Final = re.compile(r"(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)", re.DOTALL)
#: ``Csv.parseCsvList``'s separator: a comma with Java's ``\s`` around it.
_CSV: Final = re.compile(r"[ \t\n\x0b\f\r]*,[ \t\n\x0b\f\r]*")
#: Kafka's defaults (``SocketServerConfigs``, ``BrokerSecurityConfigs``, ``SslConfigs``).
_DEFAULT_LISTENERS: Final = "PLAINTEXT://:9092"
_DEFAULT_MECHANISMS: Final = "GSSAPI"
_DEFAULT_KEYSTORE_TYPE: Final = "JKS"
_DEFAULT_PRINCIPAL_BUILDER: Final = (
    "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"
)
#: ``ssl.enabled.protocols`` values this side honours, and ``ssl.protocol``'s
#: (the SSLContext's protocol: TLSv1.2 caps the version, TLS and TLSv1.3 do not).
_TLS_VERSIONS: Final = ("TLSv1.2", "TLSv1.3")
_SSL_PROTOCOL_CAP: Final = {"TLS": None, "TLSv1.3": None, "TLSv1.2": "TLSv1.2"}
#: The meta-addresses that bind every interface, which Kafka refuses to advertise.
_WILDCARDS: Final = ("", "0.0.0.0", "::")  # noqa: S104 - names, not a bind
#: A PEM block, as Kafka's PEM parser finds it (whitespace inside the base64 allowed).
_PEM_BLOCK: Final = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----", re.DOTALL
)
#: The longest value shown in a message, for the few non-secret values shown.
_SHOWN_VALUE: Final = 80

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """One entry of ``listeners`` or ``advertised.listeners``: the listener's
    name (upper case, as ``ListenerName.normalised``), the host (``""``: every
    interface) and the port."""

    listener: str
    host: str
    port: int


def parse_endpoints(key: str, value: str) -> tuple[Endpoint, ...]:
    """``listeners`` (or ``advertised.listeners``) as Kafka reads it
    (``SocketServerConfigs.listenerListToEndPoints``): comma-separated
    ``NAME://host:port``, an IPv6 host in brackets; a listener named twice is
    refused, as Kafka refuses it. ``key`` is the property, for messages."""
    endpoints: list[Endpoint] = []
    for entry in _CSV.split(value.strip()):
        if not entry:
            continue
        match = _ENDPOINT.fullmatch(entry)
        if match is None:
            raise ConfigurationError(
                f"{key}: unable to parse {_shown(entry)} to a broker endpoint (NAME://host:port)"
            )
        name, host, port = match.group(1).upper(), match.group(2), int(match.group(3))
        if not 0 <= port <= 65_535:
            raise ConfigurationError(f"{key}: {_shown(entry)} has a port outside 0 to 65535")
        if any(seen.listener == name for seen in endpoints):
            raise ConfigurationError(f"{key}: the listener {_shown(name)} is named twice")
        endpoints.append(Endpoint(name, host, port))
    return tuple(endpoints)


def _protocol_map(view: View) -> dict[str, str] | None:
    """``listener.security.protocol.map`` as Kafka reads it (``Csv.parseCsvMap``,
    names normalised, protocols by name in any case); ``None`` when unset."""
    setting = view.get_exact("listener.security.protocol.map")
    if setting is None or not setting.value.strip():
        return None
    mapping: dict[str, str] = {}
    for entry in _CSV.split(setting.value.strip()):
        name, colon, protocol = entry.rpartition(":")
        if not colon or not name.strip():
            raise ConfigurationError(f"{setting.key}: {_shown(entry)} is not NAME:PROTOCOL")
        protocol = protocol.strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigurationError(
                f"{setting.key}: {_shown(protocol)} is not a security protocol "
                f"({', '.join(SECURITY_PROTOCOLS)})"
            )
        mapping[name.strip().upper()] = protocol
    return mapping


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ListenerTls:
    """A SASL_SSL listener's certificate chain and private key, in PEM: inline
    (``chain_pem``, ``key_pem``) or in files (``certfile``, holding the key
    too when ``keyfile`` is ``None``), the key's ``password`` if encrypted, the
    TLS versions served, and ``source``, what stated them (for messages).
    Neither the key nor its password is ever shown."""

    source: str
    chain_pem: bytes | None = dataclasses.field(default=None, repr=False)
    key_pem: bytes | None = dataclasses.field(default=None, repr=False)
    certfile: str | None = None
    keyfile: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    minimum_version: str = "TLSv1.2"
    maximum_version: str = "TLSv1.3"

    def __post_init__(self) -> None:
        inline = self.chain_pem is not None or self.key_pem is not None
        if inline == (self.certfile is not None) or (
            inline and (self.chain_pem is None or self.key_pem is None)
        ):
            raise ConfigurationError(
                f"{self.source}: give the certificate chain and key inline or as files, "
                "one of the two"
            )
        if self.keyfile is not None and self.certfile is None:
            raise ConfigurationError(f"{self.source}: a key file needs its certificate file")

    def context(self) -> ssl.SSLContext:
        """A server ``ssl.SSLContext`` holding the certificate and key (a shell
        step: it reads the files). Errors name the source, never the key."""
        import ssl  # noqa: PLC0415 - only a SASL_SSL listener needs it
        import tempfile  # noqa: PLC0415

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion[self.minimum_version.replace(".", "_")]
        context.maximum_version = ssl.TLSVersion[self.maximum_version.replace(".", "_")]
        try:
            if self.certfile is not None:
                context.load_cert_chain(self.certfile, self.keyfile, self.password)
                return context
            assert self.chain_pem is not None  # __post_init__
            assert self.key_pem is not None
            # ssl loads a chain from a file only: a private directory, removed at once.
            with tempfile.TemporaryDirectory(prefix="oauthbearer-tls-") as folder:
                path = os.path.join(folder, "listener.pem")
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(self.key_pem + self.chain_pem)
                context.load_cert_chain(path, None, self.password)
        except OSError as error:
            if isinstance(error, ssl.SSLError):
                raise ConfigurationError(
                    f"{self.source}: the certificate chain and key do not load "
                    f"({error.reason or 'not PEM, or the key does not match'}; an encrypted "
                    "key needs its password)"
                ) from None
            files = " or ".join(f for f in (self.certfile, self.keyfile) if f is not None)
            raise ConfigurationError(
                f"{self.source}: {error.filename or files or 'the key store'}: "
                f"{error.strerror or type(error).__name__}"
            ) from None
        return context


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerListener:
    """One broker listener, as :func:`broker_listener` read it.

    ``name`` is the listener's name as its property prefix writes it (lower
    case); ``security_protocol`` ``SASL_PLAINTEXT`` or ``SASL_SSL`` (then
    ``tls`` holds the certificate). ``host`` and ``port`` are where it binds
    (``""``: every interface); ``advertised_host`` and ``advertised_port``
    what Metadata answers name (``""``: this machine's name, as Kafka
    advertises an empty host). ``validation`` is the listener's validator,
    its refresher not started. ``None`` means Kafka's setting is unset and the
    emulator keeps its own default (:mod:`oauthbearer.kafka.broker`).
    ``unread`` lists the keys of the properties that did not concern this
    listener (storage, replication, other listeners...).
    """

    name: str
    security_protocol: str
    host: str
    port: int
    advertised_host: str
    advertised_port: int
    validation: BrokerValidatorConfig
    tls: ListenerTls | None = None
    max_reauth_ms: int | None = None
    max_frame_size: int = KAFKA_MAX_RECEIVE_SIZE
    max_request_size: int | None = None
    idle_timeout_s: float | None = None
    failed_authentication_delay_s: float | None = None
    max_connections: int | None = None
    max_connections_per_address: int | None = None
    backlog: int | None = None
    node_id: int = 0
    unread: tuple[str, ...] = ()

    @property
    def unsecured(self) -> bool:
        """Whether the listener accepts unsigned tokens (Kafka's default validator)."""
        return self.validation.unsecured


class _Reads(Mapping[str, str]):
    """The properties, remembering each key read by name (``get``): what is
    left over was not read for this listener."""

    def __init__(self, properties: Mapping[str, str]) -> None:
        self._properties = properties
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        return self._properties[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._properties)

    def __len__(self) -> int:
        return len(self._properties)

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        value = self._properties.get(key)
        if value is None:
            return default
        self.read.add(key)
        return value


def broker_listener(
    properties: Mapping[str, str] | str | os.PathLike[str],
    *,
    listener: str | None = None,
    listen: tuple[str, int] | None = None,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
    allow_insecure_loopback: bool = False,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
    rules: JwtRules = KAFKA_RULES,
) -> BrokerListener:
    """Read one listener of a broker's ``properties`` (a mapping, or the path
    of a ``server.properties`` file) as Kafka reads it; see the module's docs.

    Without ``listener``, the one listener with an OAUTHBEARER JAAS entry is
    read. ``listen`` ((host, port)) replaces the listener's address in
    ``listeners`` and ``advertised.listeners`` (port 0: any free port, then
    advertised as the one bound). ``certfile`` (PEM, the chain, and the key
    unless ``keyfile``) replaces a SASL_SSL listener's key store.
    ``allow_insecure_loopback``, ``jaas_file`` and ``rules`` are
    :func:`~oauthbearer.config.broker_validator`'s. Nothing is started.
    """
    from oauthbearer.config._settings import View  # noqa: PLC0415 - a sibling, no cycle

    if isinstance(properties, str | os.PathLike):
        properties = load_properties(properties)
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("broker_listener: properties must be a mapping or a path")
    if (certfile is None) != (keyfile is None) and certfile is None:
        raise ConfigurationError("broker_listener: keyfile needs certfile")
    reads = _Reads(properties)
    validation = broker_validator(
        reads,
        listener=listener,
        allow_insecure_loopback=allow_insecure_loopback,
        jaas_file=jaas_file,
        rules=rules,
    )
    name = validation.listener
    view = View(reads, name, jaas_file)
    protocol, host, port, advertised_host, advertised_port = _address(view, name, listen)
    _check_mechanisms(view, name)
    _refuse_what_cannot_be_honoured(view, name)
    tls = _tls(view, name, protocol, certfile, keyfile)
    max_connections = [
        value
        for value in (
            _int(view.get_exact("max.connections"), INT_RANGE, "int", low=0),
            _int(view.listener_only("max.connections"), INT_RANGE, "int", low=0),
        )
        if value is not None
    ]
    idle_ms = _int(view.get_exact("connections.max.idle.ms"), LONG_RANGE, "long", low=1)
    delay_ms = _int(
        view.get_exact("connection.failed.authentication.delay.ms"), INT_RANGE, "int", low=0
    )
    max_reauth_ms = _int(view.get("connections.max.reauth.ms"), LONG_RANGE, "long", low=0)
    return BrokerListener(
        name=name,
        security_protocol=protocol,
        host=host,
        port=port,
        advertised_host=advertised_host,
        advertised_port=advertised_port,
        validation=validation,
        tls=tls,
        max_reauth_ms=max_reauth_ms or None,  # 0, Kafka's default: the token's lifetime alone
        max_frame_size=_int(
            view.listener_get("sasl.server.max.receive.size"), INT_RANGE, "int", low=1
        )
        or KAFKA_MAX_RECEIVE_SIZE,
        max_request_size=_int(view.get_exact("socket.request.max.bytes"), INT_RANGE, "int", low=1),
        idle_timeout_s=None if idle_ms is None else idle_ms / 1000,
        failed_authentication_delay_s=None if delay_ms is None else delay_ms / 1000,
        max_connections=_positive(min(max_connections), "max.connections")
        if max_connections
        else None,
        max_connections_per_address=_positive(
            _int(view.get_exact("max.connections.per.ip"), INT_RANGE, "int", low=0),
            "max.connections.per.ip",
        ),
        backlog=_int(view.get_exact("socket.listen.backlog.size"), INT_RANGE, "int", low=1),
        node_id=_node_id(view),
        unread=tuple(sorted(key for key in properties if key not in reads.read)),
    )


def _address(
    view: View, name: str, listen: tuple[str, int] | None
) -> tuple[str, str, int, str, int]:
    """The listener's security protocol, bind address and advertised address."""
    upper = name.upper()
    listeners = view.get_exact("listeners")
    endpoints = parse_endpoints(
        "listeners", _DEFAULT_LISTENERS if listeners is None else listeners.value
    )
    endpoint = next((e for e in endpoints if e.listener == upper), None)
    if endpoint is None and listen is None:
        raise ConfigurationError(
            f"listeners does not name the listener {upper} (it names "
            f"{', '.join(e.listener for e in endpoints) or 'none'}): it has no address"
        )
    mapping = _protocol_map(view)
    if mapping is None:
        protocol = upper if upper in SECURITY_PROTOCOLS else None
        where = "Kafka's default listener.security.protocol.map"
    else:
        protocol = mapping.get(upper)
        where = "listener.security.protocol.map"
    if protocol is None:
        raise ConfigurationError(f"{where} gives the listener {upper} no security protocol")
    if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        raise ConfigurationError(
            f"{where} makes the listener {upper} {protocol}, which runs no SASL: a client "
            "cannot authenticate with OAUTHBEARER there"
        )
    if listen is not None:
        host, port = listen
        if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 65_535:
            raise ConfigurationError("broker_listener: listen must be (host, port from 0 to 65535)")
        # The given address replaces the listener's; a wildcard is advertised by name.
        return protocol, host, port, "" if host in _WILDCARDS else host, 0
    assert endpoint is not None
    advertised = endpoint
    setting = view.get_exact("advertised.listeners")
    if setting is not None and setting.value.strip():
        found = next(
            (e for e in parse_endpoints(setting.key, setting.value) if e.listener == upper), None
        )
        if found is None:
            raise ConfigurationError(
                f"advertised.listeners does not name the listener {upper}: Kafka would not "
                "advertise it, and clients could not follow Metadata to it"
            )
        advertised = found
        where = "advertised.listeners"
    else:
        where = "listeners (advertised.listeners is unset)"
    if advertised.host in ("0.0.0.0", "::"):  # noqa: S104 - a comparison, not a bind
        raise ConfigurationError(
            f"{where}: the listener {upper} would be advertised at the nonroutable "
            f"meta-address {advertised.host}, which Kafka refuses; use a routable address"
        )
    return protocol, endpoint.host, endpoint.port, advertised.host, advertised.port


def _check_mechanisms(view: View, name: str) -> None:
    setting = view.listener_get("sasl.enabled.mechanisms")
    value = _DEFAULT_MECHANISMS if setting is None else setting.value
    mechanisms = [m for m in _CSV.split(value.strip()) if m]
    if "OAUTHBEARER" not in mechanisms:
        shown = ", ".join(map(_shown, mechanisms)) or "none"
        key = "sasl.enabled.mechanisms (Kafka's default GSSAPI)" if setting is None else setting.key
        raise ConfigurationError(
            f"{key} enables {shown} on the listener {name.upper()}, not OAUTHBEARER"
        )
    others = sorted({m for m in mechanisms if m != "OAUTHBEARER"})
    if others:
        assert setting is not None
        raise ConfigurationError(
            f"{setting.key} also enables {', '.join(map(_shown, others))}: the emulator runs "
            "OAUTHBEARER only, and a client of another mechanism would be refused where "
            "Kafka serves it"
        )


def _refuse_what_cannot_be_honoured(view: View, name: str) -> None:
    """Settings that change what a client sees and that the emulator cannot do."""
    checks: tuple[tuple[Setting | None, Callable[[str], bool], str], ...] = (
        (
            view.get_exact("authorizer.class.name"),
            lambda value: not trim(value),
            "the emulator has no authorizer: every authenticated client may do all it serves",
        ),
        (
            view.listener_get("principal.builder.class"),
            lambda value: trim(value) in ("", _DEFAULT_PRINCIPAL_BUILDER),
            "the emulator's principal is the token's, as Kafka's default principal builder's",
        ),
        (
            view.get_exact("max.connections.per.ip.overrides"),
            lambda value: not trim(value),
            "the emulator has one limit for every client address (max.connections.per.ip)",
        ),
        (
            view.listener_get("max.connection.creation.rate"),
            lambda _value: False,
            "the emulator does not throttle new connections",
        ),
    )
    for setting, honoured, reason in checks:
        if setting is not None and not honoured(setting.value):
            raise ConfigurationError(f"{setting.key} cannot be honoured: {reason}")


def _tls(
    view: View,
    name: str,
    protocol: str,
    certfile: str | os.PathLike[str] | None,
    keyfile: str | os.PathLike[str] | None,
) -> ListenerTls | None:
    if protocol == "SASL_PLAINTEXT":
        for set_key in view.listener_keys("ssl."):
            raise ConfigurationError(
                f"{set_key} is set, but the listener {name.upper()} is SASL_PLAINTEXT: Kafka "
                "ignores its TLS settings"
            )
        if certfile is not None:
            raise ConfigurationError(
                f"a certificate was given, but the listener {name.upper()} is SASL_PLAINTEXT "
                "(listener.security.protocol.map): it has no TLS"
            )
        return None
    client_auth = view.listener_only("ssl.client.auth")
    if client_auth is not None and trim(client_auth.value).lower() not in ("", "none"):
        raise ConfigurationError(
            f"{client_auth.key} cannot be honoured: the emulator asks for no client certificate"
        )
    for option in ("ssl.cipher.suites", "ssl.engine.factory.class"):
        setting = view.listener_get(option)
        if setting is not None and trim(setting.value):
            reason = (
                "Java's cipher suite names do not map onto OpenSSL's"
                if option == "ssl.cipher.suites"
                else "the emulator's TLS is Python's ssl module"
            )
            raise ConfigurationError(f"{setting.key} cannot be honoured: {reason}")
    minimum, maximum = _tls_versions(view)
    if certfile is not None:
        return ListenerTls(
            source="certfile",
            certfile=os.fspath(certfile),
            keyfile=None if keyfile is None else os.fspath(keyfile),
            minimum_version=minimum,
            maximum_version=maximum,
        )
    kind = view.listener_get("ssl.keystore.type")
    store_type = _DEFAULT_KEYSTORE_TYPE if kind is None else trim(kind.value).upper()
    if store_type != "PEM":
        what = (
            "ssl.keystore.type is unset (Kafka's default is JKS)"
            if kind is None
            else (f"{kind.key} is {_shown(store_type)}")
        )
        raise ConfigurationError(
            f"{what}: the listener {name.upper()} is SASL_SSL, and the emulator reads PEM key "
            "stores only (ssl.keystore.type=PEM with ssl.keystore.location, or "
            "ssl.keystore.certificate.chain and ssl.keystore.key); or give the certificate "
            f"and key as PEM files with {CERTIFICATE_REMEDY}",
            remedy=CERTIFICATE_REMEDY,
        )
    assert kind is not None
    password = view.listener_get("ssl.keystore.password")
    if password is not None and password.value:
        raise ConfigurationError(
            f"{password.key} is set, but a PEM key store has no password (Kafka refuses it "
            "too); an encrypted key's password is ssl.key.password"
        )
    location = view.listener_get("ssl.keystore.location")
    chain = view.listener_get("ssl.keystore.certificate.chain")
    key = view.listener_get("ssl.keystore.key")
    key_password = view.listener_get("ssl.key.password")
    password_value = None if key_password is None else key_password.value
    # Kafka's DefaultSslEngineFactory.createKeystore, refusal for refusal.
    if key is not None:
        if chain is None:
            raise ConfigurationError(
                f"{key.key} is set, but ssl.keystore.certificate.chain is not (Kafka refuses it)"
            )
        if location is not None:
            raise ConfigurationError(
                f"{location.key} and {key.key} are both set (Kafka refuses it): one key store"
            )
        key_pem = _pem(key, "PRIVATE KEY")
        encrypted = key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        if encrypted != (key_password is not None):
            raise ConfigurationError(
                f"{key.key} is an encrypted PKCS#8 key without ssl.key.password"
                if encrypted
                else f"ssl.key.password is set, but {key.key} is not an encrypted PKCS#8 key"
            )
        return ListenerTls(
            source=f"{chain.key} and {key.key}",
            chain_pem=_pem(chain, "CERTIFICATE"),
            key_pem=key_pem,
            password=password_value,
            minimum_version=minimum,
            maximum_version=maximum,
        )
    if chain is not None:
        raise ConfigurationError(
            f"{chain.key} is set, but ssl.keystore.key is not (Kafka refuses it)"
        )
    if location is None or not trim(location.value):
        raise ConfigurationError(
            f"{kind.key} is PEM, but neither ssl.keystore.location nor "
            "ssl.keystore.certificate.chain and ssl.keystore.key are set for the listener "
            f"{name.upper()}"
        )
    if key_password is None:
        raise ConfigurationError(
            f"{location.key} is a PEM key store, but ssl.key.password is not set: Kafka "
            'refuses it ("SSL PEM key store is specified, but key password is not specified")'
        )
    return ListenerTls(
        source=location.key,
        certfile=trim(location.value),
        password=password_value,
        minimum_version=minimum,
        maximum_version=maximum,
    )


def _tls_versions(view: View) -> tuple[str, str]:
    """The lowest and highest TLS versions, from ``ssl.enabled.protocols``
    (default TLSv1.2 and TLSv1.3) and ``ssl.protocol`` (default TLSv1.3)."""
    enabled = view.listener_get("ssl.enabled.protocols")
    versions = list(_TLS_VERSIONS)
    if enabled is not None:
        versions = [v for v in _CSV.split(enabled.value.strip()) if v]
        refused = [v for v in versions if v not in _TLS_VERSIONS]
        if refused or not versions:
            shown = ", ".join(map(_shown, refused)) or "none"
            raise ConfigurationError(
                f"{enabled.key} cannot be honoured: the emulator serves "
                f"{' and '.join(_TLS_VERSIONS)} only, not {shown}"
            )
    protocol = view.listener_get("ssl.protocol")
    if protocol is not None and trim(protocol.value) not in _SSL_PROTOCOL_CAP:
        raise ConfigurationError(
            f"{protocol.key} cannot be honoured: it must be one of {', '.join(_SSL_PROTOCOL_CAP)}"
        )
    cap = None if protocol is None else _SSL_PROTOCOL_CAP[trim(protocol.value)]
    if cap is not None:
        versions = [v for v in versions if v <= cap]
        if not versions:
            raise ConfigurationError(
                f"{protocol.key if protocol else 'ssl.protocol'} allows no version of "
                "ssl.enabled.protocols"
            )
    return min(versions), max(versions)


def _pem(setting: Setting, kind: str) -> bytes:
    """A PEM value of the properties, as Kafka's PEM parser reads it (its base64
    may be written on one line, with spaces), rewrapped for OpenSSL. Messages
    name the key, never the value."""
    blocks = []
    allowed = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") if kind == "PRIVATE KEY" else (kind,)
    for match in _PEM_BLOCK.finditer(setting.value):
        label, body = match.group(1), "".join(match.group(2).split())
        if label not in allowed:
            raise ConfigurationError(
                f"{setting.key}: a PEM block is not a {' or '.join(allowed)}"
                + (" (Kafka reads PKCS#8 keys only)" if kind == "PRIVATE KEY" else "")
            )
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        blocks.append("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]))
    if not blocks:
        raise ConfigurationError(f"{setting.key}: no PEM block ({kind}) in the value")
    if kind == "PRIVATE KEY" and len(blocks) != 1:
        raise ConfigurationError(f"{setting.key}: one private key is expected")
    return ("\n".join(blocks) + "\n").encode("ascii")


def _int(setting: Setting | None, java_range: range, type_name: str, *, low: int) -> int | None:
    if setting is None:
        return None
    value = parse_int(setting.key, setting.value, java_range, type_name)
    if value < low:
        raise bad_value(setting.key, f"a number >= {low}")
    return value


def _positive(value: int | None, key: str) -> int | None:
    """A connection limit: 0 admits no client, which the emulator cannot serve."""
    if value == 0:
        raise ConfigurationError(f"{key} is 0: no client could connect")
    return value


def _node_id(view: View) -> int:
    for key in ("node.id", "broker.id"):
        value = _int(view.get_exact(key), INT_RANGE, "int", low=0)
        if value is not None:
            return value
    return 0


def _shown(text: str) -> str:
    """A (never secret) setting value in a message: printable ASCII, cut short."""
    shown = "".join(c if " " <= c <= "~" else "?" for c in text[:_SHOWN_VALUE])
    return f"'{shown}{'...' if len(text) > _SHOWN_VALUE else ''}'"
