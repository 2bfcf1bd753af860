"""From a Kafka client's configuration to a running login, in one call (shell).

Theory of operation
-------------------
:func:`~oauthbearer.config.client_login` reads a client's properties into one
of Kafka's four logins (unsecured, client credentials, jwt-bearer, token file)
and contacts nothing. This module runs that login:

* :func:`client_token_source` dispatches on the login and gives one typed
  :class:`ClientTokenSource`: a ``fetch`` that makes a fresh token, the
  refresh settings (``sasl.login.refresh.*``) and the SASL extensions. The
  unsecured login builds a new token at every fetch, as Kafka's unsecured
  login handler does at every refresh; the others fetch or read one.
* :func:`token_provider` and :func:`async_token_provider` start a
  :class:`~oauthbearer.login.TokenProvider` (a thread) or an
  :class:`~oauthbearer.login.AsyncTokenProvider` (an asyncio task) on it:
  the first token is fetched before they return, so a bad secret or an
  unreachable identity provider fails here, not at the first connection.
* :func:`kafka_python_settings`, :func:`aiokafka_settings` and
  :func:`confluent_kafka_settings` give the constructor arguments of each
  client: the connection settings read from the same properties
  (``bootstrap.servers``, ``security.protocol``, the broker's PEM trust store)
  and the login, through the client's adapter (:mod:`oauthbearer.integrations`).

``properties`` is a mapping or the path of a ``.properties`` file (read as
Kafka reads it: :func:`~oauthbearer.config.load_properties`); ``jaas_file`` a
parsed JAAS file or its path (Kafka's ``java.security.auth.login.config``).
``http`` (:class:`~oauthbearer.http.options.HttpOptions`) says how the
identity provider is reached; what it leaves unset comes from the properties
(the JAAS trust store, ``sasl.login.*.timeout.ms``). ``allow_insecure_loopback``
(plain http to a loopback identity provider, for tests and local setups) is
given once, here, and holds for every call the login makes.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import time
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from oauthbearer.config._settings import pem_truststore
from oauthbearer.config._values import trim
from oauthbearer.config.client import (
    ClientCredentialsConfig,
    ClientLogin,
    JwtBearerConfig,
    TokenFileConfig,
    client_login,
    login_refresh_config,
)
from oauthbearer.config.jaas import JaasConfig, parse_jaas_file
from oauthbearer.config.properties import load_properties
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.options import load_ca_context
from oauthbearer.integrations.aiokafka import aiokafka_token_provider
from oauthbearer.integrations.confluent_kafka import confluent_kafka_config
from oauthbearer.integrations.kafka_python import kafka_python_token_provider
from oauthbearer.login.provider import AsyncTokenProvider, TokenProvider
from oauthbearer.login.sources import (
    client_credentials_fetch,
    jwt_bearer_fetch,
    token_file_fetch,
)
from oauthbearer.unsecured import UnsecuredLogin

if TYPE_CHECKING:
    import random

    from oauthbearer.http.options import HttpOptions
    from oauthbearer.login.refresh import RefreshConfig
    from oauthbearer.token import OAuthBearerToken

__all__ = [
    "ClientTokenSource",
    "JaasFile",
    "PropertiesSource",
    "aiokafka_settings",
    "async_token_provider",
    "client_token_source",
    "confluent_kafka_settings",
    "kafka_python_settings",
    "token_provider",
]

#: A client's properties: a mapping, or the path of a ``.properties`` file.
PropertiesSource: TypeAlias = Mapping[str, str] | str | os.PathLike[str]
#: A JAAS file: parsed (:func:`~oauthbearer.config.parse_jaas_file`), or its path.
JaasFile: TypeAlias = Mapping[str, tuple[JaasConfig, ...]] | str | os.PathLike[str]

#: The security protocols that carry SASL; Kafka's default, PLAINTEXT, does not.
SASL_PROTOCOLS: Final = ("SASL_PLAINTEXT", "SASL_SSL")


def _read_properties(source: PropertiesSource) -> Mapping[str, str]:
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | os.PathLike):
        raise ArgumentTypeError("properties must be a mapping or the path of a .properties file")
    try:
        return load_properties(source)
    except FileNotFoundError:
        raise ConfigurationError(f"properties file {os.fspath(source)}: no such file") from None
    except OSError as error:
        raise ConfigurationError(f"properties file {os.fspath(source)}: {error.strerror}") from None


def _read_jaas_file(source: JaasFile | None) -> Mapping[str, tuple[JaasConfig, ...]] | None:
    if source is None or isinstance(source, Mapping):
        return source
    if not isinstance(source, str | os.PathLike):
        raise ArgumentTypeError("jaas_file must be a parsed JAAS file or its path")
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigurationError(f"JAAS file {path}: no such file") from None
    except OSError as error:
        raise ConfigurationError(f"JAAS file {path}: {error.strerror}") from None
    return parse_jaas_file(text, source=path)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientTokenSource:
    """A client's login, ready to run: ``fetch()`` makes a fresh token (it
    blocks: an HTTP call with Kafka's retries, or a file read), ``refresh``
    says when (Kafka's ``sasl.login.refresh.*``), ``extensions`` are the SASL
    extensions to send, and ``login`` is what :func:`~oauthbearer.config.client_login`
    read."""

    login: ClientLogin
    fetch: Callable[[], OAuthBearerToken] = dataclasses.field(repr=False)
    refresh: RefreshConfig
    extensions: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


def client_token_source(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> ClientTokenSource:
    """The :class:`ClientTokenSource` of a client's properties (see the module
    docs), whatever its login. Local files it names (a private key, a template,
    a CA bundle) are read now, so that a missing one fails here; nothing is
    fetched. ``clock`` (epoch seconds) dates unsecured tokens and signed
    assertions; ``rng`` draws assertion ``jti`` values (tests pass seeded ones)."""
    props = _read_properties(properties)
    jaas = _read_jaas_file(jaas_file)
    login = client_login(
        props, now=clock(), allow_insecure_loopback=allow_insecure_loopback, jaas_file=jaas
    )
    fetch: Callable[[], OAuthBearerToken]
    if isinstance(login, UnsecuredLogin):

        def fetch() -> OAuthBearerToken:
            made = client_login(props, now=clock(), jaas_file=jaas)
            assert isinstance(made, UnsecuredLogin)  # the same properties, the same login
            return made.token

        refresh = login_refresh_config(props)
    elif isinstance(login, ClientCredentialsConfig):
        fetch = client_credentials_fetch(
            login, http=http, allow_insecure_loopback=allow_insecure_loopback
        )
        refresh = login.refresh
    elif isinstance(login, JwtBearerConfig):
        fetch = jwt_bearer_fetch(
            login, now=clock, rng=rng, http=http, allow_insecure_loopback=allow_insecure_loopback
        )
        refresh = login.refresh
    else:
        assert isinstance(login, TokenFileConfig)
        fetch = token_file_fetch(login)
        refresh = login.refresh
    return ClientTokenSource(login=login, fetch=fetch, refresh=refresh, extensions=login.extensions)


def token_provider(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> TokenProvider:
    """A *started* :class:`~oauthbearer.login.TokenProvider` for a client's
    properties: the first token is fetched before it returns (raising if that
    fails), then a daemon thread refreshes it on Kafka's schedule. Close it
    (``close()``, or use it as a context manager) when the client is done.
    The SASL extensions to send are :func:`client_token_source`'s."""
    source = client_token_source(
        properties,
        jaas_file=jaas_file,
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    return TokenProvider(source.fetch, refresh=source.refresh).start()


async def async_token_provider(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> AsyncTokenProvider:
    """:func:`token_provider` for asyncio: a *started*
    :class:`~oauthbearer.login.AsyncTokenProvider`, refreshing in a task of
    the running loop (each fetch runs in a worker thread). ``await
    provider.aclose()`` (or ``async with``) when done."""
    source = client_token_source(
        properties,
        jaas_file=jaas_file,
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    return await AsyncTokenProvider(source.fetch, refresh=source.refresh).start()


# --- The clients' constructor arguments ------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Connection:
    """What a client's properties say about its connection to the broker."""

    bootstrap: str | None
    protocol: str
    ca_file: str | None
    ca_certificates: str | None

    @property
    def tls(self) -> bool:
        return self.protocol == "SASL_SSL"

    def ssl_context(self) -> ssl.SSLContext:
        """The context of a SASL_SSL connection: the PEM trust store if the
        properties give one, else the system's."""
        if self.ca_file is None and self.ca_certificates is None:
            return ssl.create_default_context()
        return load_ca_context(cafile=self.ca_file, cadata=self.ca_certificates)


def _connection(properties: Mapping[str, str]) -> _Connection:
    protocol = properties.get("security.protocol")
    if protocol is None or trim(protocol).upper() not in SASL_PROTOCOLS:
        shown = "unset (Kafka's default, PLAINTEXT)" if protocol is None else "not SASL"
        raise ConfigurationError(
            f"security.protocol is {shown}: OAUTHBEARER needs SASL_SSL or SASL_PLAINTEXT"
        )
    mechanism = properties.get("sasl.mechanism")
    if mechanism is None:
        raise ConfigurationError(
            "sasl.mechanism is unset (Kafka's default, GSSAPI): set it to OAUTHBEARER"
        )
    bootstrap = properties.get("bootstrap.servers")
    ca_file, ca_certificates = pem_truststore(properties, where="property")
    tls = trim(protocol).upper() == "SASL_SSL"
    if not tls and (ca_file is not None or ca_certificates is not None):
        raise ConfigurationError(
            "ssl.truststore.* is set but security.protocol is SASL_PLAINTEXT, so Kafka would "
            "ignore it"
        )
    return _Connection(
        bootstrap=None if bootstrap is None else trim(bootstrap) or None,
        protocol=trim(protocol).upper(),
        ca_file=ca_file,
        ca_certificates=ca_certificates,
    )


def _servers(bootstrap: str) -> list[str]:
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def kafka_python_settings(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of a kafka-python ``KafkaProducer`` or
    ``KafkaConsumer`` that connect and log in as a client's properties say:
    ``bootstrap_servers``, ``security_protocol``, ``sasl_mechanism``,
    ``ssl_context`` (SASL_SSL: the PEM ``ssl.truststore.*`` of the properties,
    else the system's CAs) and ``sasl_oauth_token_provider``, fed by a started
    :func:`token_provider`. Other client settings (``acks``, ``group.id``...)
    are not translated: pass them yourself."""
    props = _read_properties(properties)
    connection = _connection(props)
    source = client_token_source(
        props, jaas_file=jaas_file, http=http, allow_insecure_loopback=allow_insecure_loopback
    )
    provider = TokenProvider(source.fetch, refresh=source.refresh).start()
    return _python_client_settings(
        connection, kafka_python_token_provider(provider, extensions=source.extensions)
    )


def aiokafka_settings(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of an aiokafka ``AIOKafkaProducer`` or
    ``AIOKafkaConsumer`` (the same as :func:`kafka_python_settings`), for a
    client's properties. It needs no running loop, as a Faust app is made
    before its loop: the :class:`~oauthbearer.login.AsyncTokenProvider` behind
    ``sasl_oauth_token_provider`` fetches its first token when aiokafka first
    asks for one, in aiokafka's loop (:mod:`oauthbearer.integrations.aiokafka`).
    Files and settings are checked now. For Faust, pass
    ``settings["sasl_oauth_token_provider"]`` as ``OAuthCredentials(oauth_cb=...)``."""
    props = _read_properties(properties)
    connection = _connection(props)
    source = client_token_source(
        props, jaas_file=jaas_file, http=http, allow_insecure_loopback=allow_insecure_loopback
    )
    provider = AsyncTokenProvider(source.fetch, refresh=source.refresh)
    return _python_client_settings(
        connection, aiokafka_token_provider(provider, extensions=source.extensions)
    )


def _python_client_settings(connection: _Connection, token_provider: object) -> dict[str, Any]:
    """kafka-python's and aiokafka's keyword arguments (they share the names)."""
    settings: dict[str, Any] = {
        "security_protocol": connection.protocol,
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": token_provider,
    }
    if connection.bootstrap is not None:
        settings["bootstrap_servers"] = _servers(connection.bootstrap)
    if connection.tls:
        settings["ssl_context"] = connection.ssl_context()
    return settings


def confluent_kafka_settings(
    properties: PropertiesSource,
    *,
    jaas_file: JaasFile | None = None,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> dict[str, Any]:
    """The configuration of a confluent-kafka ``Producer`` or ``Consumer`` for a
    client's properties: ``bootstrap.servers``, ``security.protocol``,
    ``sasl.mechanisms``, the broker's CA (``ssl.ca.location`` or
    ``ssl.ca.pem``, from the PEM ``ssl.truststore.*`` properties) and
    ``oauth_cb``, fed by a started :func:`token_provider`. Add the rest
    (``group.id``, ``acks``...) yourself."""
    props = _read_properties(properties)
    connection = _connection(props)
    source = client_token_source(
        props, jaas_file=jaas_file, http=http, allow_insecure_loopback=allow_insecure_loopback
    )
    provider = TokenProvider(source.fetch, refresh=source.refresh).start()
    settings = {
        "security.protocol": connection.protocol,
        **confluent_kafka_config(provider, extensions=source.extensions),
    }
    if connection.bootstrap is not None:
        settings["bootstrap.servers"] = connection.bootstrap
    if connection.ca_file is not None:
        settings["ssl.ca.location"] = connection.ca_file
    if connection.ca_certificates is not None:
        settings["ssl.ca.pem"] = connection.ca_certificates
    return settings
