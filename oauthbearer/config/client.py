"""Client side: what a Kafka client would log in with.

No ``sasl.login.callback.handler.class`` means Kafka's unsecured login; Kafka's
``OAuthBearerLoginCallbackHandler`` means a token endpoint, described by a
validated :class:`ClientCredentialsConfig` (or :class:`TokenFileConfig`, or,
with Kafka's ``JwtBearerJwtRetriever``, a :class:`JwtBearerConfig`) and never
contacted; no file it names is read.
"""

from __future__ import annotations

import dataclasses
import re
import time
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from oauthbearer.config._settings import (
    View,
    check_names,
    claim_name,
    jaas_entry,
    jaas_truststore,
    optional_text,
    refuse_if_set,
    require_secured_handler,
    retry_policy,
)
from oauthbearer.config._values import (
    INT_RANGE,
    SHORT_RANGE,
    bad_value,
    parse_bool,
    parse_double,
    parse_int,
    trim,
)
from oauthbearer.config.names import (
    JWT_BEARER_RETRIEVER,
    JWT_RETRIEVERS,
    KNOWN_PROPERTIES,
    LOGIN_CALLBACK_HANDLER,
    SECURED_LOGINS,
    UNSECURED_LOGINS,
)
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.http.urls import check_url, file_url_path, split_url
from oauthbearer.login.refresh import RefreshConfig
from oauthbearer.unsecured import (
    UnsecuredLogin,
    check_kafka_extension,
    kafka_unsecured_login,
)

if TYPE_CHECKING:
    from oauthbearer.config.jaas import JaasConfig

__all__ = [
    "ClientCredentialsConfig",
    "ClientLogin",
    "JwtBearerConfig",
    "TokenFileConfig",
    "client_login",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _ClaimNames:
    """The claims a client reads its token's scope and principal from."""

    scope_claim: str
    subject_claim: str


def _check_mechanism(properties: Mapping[str, str]) -> None:
    mechanism = properties.get("sasl.mechanism")
    if mechanism is not None and trim(mechanism) != "OAUTHBEARER":
        raise ConfigurationError("sasl.mechanism is set, and not to OAUTHBEARER")


def _check_trust(config: ClientCredentialsConfig | JwtBearerConfig) -> None:
    owner = type(config).__name__
    if not isinstance(config.allow_insecure_loopback, bool):
        raise ArgumentTypeError(f"{owner}.allow_insecure_loopback must be a bool")
    for name in ("ca_file", "ca_certificates"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not trim(value)):
            raise ConfigurationError(f"{owner}.{name} must be None or a non-blank str")
    if config.ca_file is not None and config.ca_certificates is not None:
        raise ConfigurationError(f"{owner}: give ca_file or ca_certificates, not both")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientCredentialsConfig:
    """A validated OAuth 2.0 client-credentials login (RFC 6749 section 4.4), as
    Kafka's ``ClientCredentialsJwtRetriever`` would make it. Nothing here has
    contacted the token endpoint.

    ``connect_timeout_ms`` and ``read_timeout_ms`` are ``None`` when unset (the
    HTTP client's default); 0 means no timeout, as in Java. ``urlencode``
    says whether the client id and secret are form-urlencoded inside the Basic
    authorization header (RFC 6749 section 2.3.1;
    ``sasl.oauthbearer.header.urlencode``, default false as in Kafka).
    """

    token_endpoint_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scope: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    urlencode: bool = False
    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"
    #: The CA certificates the token endpoint's certificate must chain to, from
    #: the JAAS options ``ssl.truststore.location`` / ``ssl.truststore.certificates``
    #: (``ssl.truststore.type=PEM``): a PEM file, or PEM text. Neither: the
    #: system's trust store.
    ca_file: str | None = None
    ca_certificates: str | None = dataclasses.field(default=None, repr=False)
    #: Plain http to a loopback token endpoint is allowed (tests, a local
    #: identity provider): set by :func:`client_login` from its own flag, so
    #: that the flag is given once.
    allow_insecure_loopback: bool = False

    def __post_init__(self) -> None:
        _check_trust(self)
        for name in ("token_endpoint_url", "client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not trim(value):
                raise ConfigurationError(f"ClientCredentialsConfig.{name} must not be blank")
        if self.scope is not None and not isinstance(self.scope, str):
            raise ArgumentTypeError("ClientCredentialsConfig.scope must be a str or None")
        for name in ("connect_timeout_ms", "read_timeout_ms"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(f"ClientCredentialsConfig.{name} must be an int >= 0")
        for key, value in dict(self.extensions).items():
            check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenFileConfig:
    """A login that reads a ready-made access token from a file (Kafka's
    ``FileJwtRetriever``, chosen by a ``file:`` token endpoint URL)."""

    path: str
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ConfigurationError("TokenFileConfig.path must not be empty")
        for key, value in dict(self.extensions).items():
            check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


#: KIP-1139's assertion settings (``sasl.oauthbearer.assertion.*``), read only
#: with Kafka's ``JwtBearerJwtRetriever``.
_ASSERTION_OPTIONS: Final = tuple(
    sorted(name for name in KNOWN_PROPERTIES if name.startswith("sasl.oauthbearer.assertion."))
)
_ASSERTION_FILE: Final = "sasl.oauthbearer.assertion.file"
#: Kafka's ranges (``SaslConfigs``): ``exp`` 0 to 86400 s ahead, ``nbf`` 0 to
#: 3600 s back. We start ``exp`` at 1: an assertion that expires the second it
#: is made is refused by every identity provider (RFC 7519 section 4.1.4).
ASSERTION_EXP_RANGE: Final = range(1, 86_400 + 1)
ASSERTION_NBF_RANGE: Final = range(3_600 + 1)
#: ``sasl.oauthbearer.assertion.algorithm``: Kafka's ``CaseInsensitiveValidString``.
_ASSERTION_ALGORITHMS: Final = ("RS256", "ES256")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JwtBearerConfig:
    """A validated JWT bearer grant login (RFC 7523 section 2.1), as Kafka's
    ``JwtBearerJwtRetriever`` (KIP-1139) would make it. Nothing here has
    contacted the token endpoint or read a file.

    The assertion comes from exactly one place: ``assertion_file``, a JWT made
    elsewhere and read again on every login (``sasl.oauthbearer.assertion.file``),
    or ``private_key_file`` (PEM; ``private_key_passphrase`` if encrypted, never
    shown), with which a fresh assertion is signed for every login with
    ``algorithm`` and the claims ``iss``/``sub``/``aud`` = ``issuer``/``subject``/
    ``audience``, ``exp`` = now + ``exp_seconds``, ``nbf`` = now -
    ``nbf_seconds``, a random ``jti`` when ``include_jti``, and the header and
    claims of ``template_file`` layered as Kafka layers them (see
    :func:`~oauthbearer.login.grants.make_assertion`). The other fields are
    those of :class:`ClientCredentialsConfig`; there is no client secret, as
    Kafka sends none with this grant.
    """

    token_endpoint_url: str
    assertion_file: str | None = None
    private_key_file: str | None = None
    private_key_passphrase: str | None = dataclasses.field(default=None, repr=False)
    algorithm: Literal["RS256", "ES256"] = "RS256"
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    exp_seconds: int = 300
    nbf_seconds: int = 60
    include_jti: bool = False
    template_file: str | None = None
    scope: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    refresh: RefreshConfig = dataclasses.field(default_factory=RefreshConfig)
    #: ``sasl.oauthbearer.scope.claim.name`` / ``.sub.claim.name``: the claims the
    #: client reads its token's scope and principal from (Kafka's ClientJwtValidator).
    scope_claim: str = "scope"
    subject_claim: str = "sub"
    #: As :attr:`ClientCredentialsConfig.ca_file`, ``.ca_certificates`` and
    #: ``.allow_insecure_loopback``.
    ca_file: str | None = None
    ca_certificates: str | None = dataclasses.field(default=None, repr=False)
    allow_insecure_loopback: bool = False

    def __post_init__(self) -> None:
        _check_trust(self)
        name = "JwtBearerConfig."
        if not isinstance(self.token_endpoint_url, str) or not trim(self.token_endpoint_url):
            raise ConfigurationError(f"{name}token_endpoint_url must not be blank")
        for field in (
            "assertion_file",
            "private_key_file",
            "private_key_passphrase",
            "issuer",
            "subject",
            "audience",
            "template_file",
        ):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, str) or not trim(value)):
                raise ConfigurationError(f"{name}{field} must be None or a non-blank str")
        if (self.assertion_file is None) == (self.private_key_file is None):
            raise ConfigurationError(
                "JwtBearerConfig: give exactly one of assertion_file and private_key_file"
            )
        if self.assertion_file is not None:
            signing_only = [
                field
                for field in (
                    "private_key_passphrase",
                    "issuer",
                    "subject",
                    "audience",
                    "template_file",
                )
                if getattr(self, field) is not None
            ] + (["include_jti"] if self.include_jti else [])
            if signing_only:
                raise ConfigurationError(
                    f"{name}{signing_only[0]} applies to signed assertions only, not to "
                    "assertion_file"
                )
        if self.algorithm not in _ASSERTION_ALGORITHMS:
            raise ConfigurationError(f"{name}algorithm must be RS256 or ES256")
        for field, allowed in (
            ("exp_seconds", ASSERTION_EXP_RANGE),
            ("nbf_seconds", ASSERTION_NBF_RANGE),
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise ConfigurationError(
                    f"{name}{field} must be a whole number from {allowed.start} to "
                    f"{allowed.stop - 1}"
                )
        if not isinstance(self.include_jti, bool):
            raise ArgumentTypeError(f"{name}include_jti must be a bool")
        if self.scope is not None and not isinstance(self.scope, str):
            raise ArgumentTypeError(f"{name}scope must be a str or None")
        for field in ("connect_timeout_ms", "read_timeout_ms"):
            value = getattr(self, field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(f"{name}{field} must be an int >= 0")
        for key, value in dict(self.extensions).items():
            check_kafka_extension(key, value)
        object.__setattr__(self, "extensions", types.MappingProxyType(dict(self.extensions)))


#: What :func:`client_login` returns: one of Kafka's four client logins.
ClientLogin: TypeAlias = (
    UnsecuredLogin | ClientCredentialsConfig | TokenFileConfig | JwtBearerConfig
)

_TOKEN_ENDPOINT_ONLY: Final = (
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.scope",
)
_EXTENSION_PREFIX: Final = "extension_"


def client_login(
    properties: Mapping[str, str],
    *,
    now: float | None = None,
    allow_insecure_loopback: bool = False,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
) -> ClientLogin:
    """What a Kafka client logs in with, from its properties.

    No ``sasl.login.callback.handler.class`` (or Kafka's unsecured one): an
    unsecured token built now from the ``unsecuredLogin*`` JAAS options
    (:func:`~oauthbearer.unsecured.kafka_unsecured_login`). Kafka's
    ``OAuthBearerLoginCallbackHandler``: a :class:`ClientCredentialsConfig` for
    an ``https`` token endpoint, or a :class:`TokenFileConfig` for a ``file:``
    one; the client id, secret and scope come from the
    ``sasl.oauthbearer.client.credentials.*`` / ``sasl.oauthbearer.scope``
    properties first and the deprecated ``clientId`` / ``clientSecret`` /
    ``scope`` JAAS options second, as in Kafka; SASL extensions from the
    ``extension_<name>`` JAAS options. With
    ``sasl.oauthbearer.jwt.retriever.class`` set to Kafka's
    ``JwtBearerJwtRetriever`` (KIP-1139): a :class:`JwtBearerConfig`, from the
    ``sasl.oauthbearer.assertion.*`` properties and ``sasl.oauthbearer.scope``.
    Without ``sasl.jaas.config``, the ``KafkaClient`` section of ``jaas_file``
    (:func:`~oauthbearer.config.parse_jaas_file`'s result: what Kafka reads
    from ``java.security.auth.login.config``) is used. The token endpoint's
    trust store comes from the JAAS options, as in Kafka
    (``ssl.truststore.type=PEM`` with ``ssl.truststore.location`` or
    ``ssl.truststore.certificates``). ``now``
    (epoch seconds, default the current time) dates an unsecured token. No
    file is read here.
    """
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("client_login: properties must be a mapping")
    check_names(properties)
    _check_mechanism(properties)
    view = View(properties, None, jaas_file)
    jaas, jaas_key = jaas_entry(view, broker=False)
    handler = view.text(LOGIN_CALLBACK_HANDLER)
    if handler is None or handler.value in UNSECURED_LOGINS:
        refuse_if_set(
            view,
            (*_TOKEN_ENDPOINT_ONLY, "sasl.oauthbearer.jwt.retriever.class", *_ASSERTION_OPTIONS),
            f"{LOGIN_CALLBACK_HANDLER} is not Kafka's OAuthBearerLoginCallbackHandler, so "
            "Kafka would ignore it and use the unsecured login",
        )
        _refuse_truststore(jaas, "the unsecured login makes no HTTPS call")
        return kafka_unsecured_login(jaas.options, now=time.time() if now is None else now)
    require_secured_handler(
        handler.key, handler.value, SECURED_LOGINS, jaas, "unsecuredLogin", "login"
    )
    retriever = view.text("sasl.oauthbearer.jwt.retriever.class")
    jwt_bearer = retriever is not None and retriever.value == JWT_BEARER_RETRIEVER
    if retriever is not None and not jwt_bearer and retriever.value not in JWT_RETRIEVERS:
        raise ConfigurationError(
            f"{retriever.key}: only Kafka's own retrievers can be reproduced here"
        )
    if not jwt_bearer:
        refuse_if_set(
            view,
            _ASSERTION_OPTIONS,
            "sasl.oauthbearer.jwt.retriever.class is not JwtBearerJwtRetriever, so Kafka "
            "would ignore it",
        )
    extensions = {
        key[len(_EXTENSION_PREFIX) :]: value
        for key, value in jaas.options.items()
        if key.startswith(_EXTENSION_PREFIX)
    }
    for extension, value in extensions.items():
        try:
            check_kafka_extension(extension, value)
        except ConfigurationError as error:
            raise ConfigurationError(f"{jaas_key}: {error}") from None
    refresh = _refresh_config(view)
    claims = _ClaimNames(
        scope_claim=claim_name(view, "sasl.oauthbearer.scope.claim.name", "scope"),
        subject_claim=claim_name(view, "sasl.oauthbearer.sub.claim.name", "sub"),
    )
    url = view.text("sasl.oauthbearer.token.endpoint.url")
    if url is None:
        raise ConfigurationError(
            "sasl.oauthbearer.token.endpoint.url is not set: Kafka's "
            "OAuthBearerLoginCallbackHandler requires it"
        )
    check_url(
        url.value,
        option=url.key,
        allow_file=not jwt_bearer,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    if split_url(url.value).scheme == "file":
        _refuse_truststore(jaas, "a file: token endpoint makes no HTTPS call")
    ca_file, ca_certificates = jaas_truststore(jaas)
    if jwt_bearer:
        return _jwt_bearer_config(
            view,
            jaas,
            url.value,
            extensions=extensions,
            refresh=refresh,
            claims=claims,
            trust=(ca_file, ca_certificates),
            allow_insecure_loopback=allow_insecure_loopback,
        )
    if split_url(url.value).scheme == "file":
        return TokenFileConfig(
            path=file_url_path(url.value, option=url.key),
            extensions=extensions,
            refresh=refresh,
            scope_claim=claims.scope_claim,
            subject_claim=claims.subject_claim,
        )
    client_id = _config_or_jaas(
        view, jaas, "sasl.oauthbearer.client.credentials.client.id", "clientId"
    )
    client_secret = _config_or_jaas(
        view, jaas, "sasl.oauthbearer.client.credentials.client.secret", "clientSecret"
    )
    assert client_id is not None
    assert client_secret is not None
    urlencode = view.get("sasl.oauthbearer.header.urlencode")
    return ClientCredentialsConfig(
        token_endpoint_url=url.value,
        client_id=client_id,
        client_secret=client_secret,
        scope=_config_or_jaas(view, jaas, "sasl.oauthbearer.scope", "scope", required=False),
        extensions=extensions,
        urlencode=False if urlencode is None else parse_bool(urlencode.key, urlencode.value),
        connect_timeout_ms=_optional_int(view, "sasl.login.connect.timeout.ms"),
        read_timeout_ms=_optional_int(view, "sasl.login.read.timeout.ms"),
        retry=_login_retry(view),
        refresh=refresh,
        scope_claim=claims.scope_claim,
        subject_claim=claims.subject_claim,
        ca_file=ca_file,
        ca_certificates=ca_certificates,
        allow_insecure_loopback=allow_insecure_loopback,
    )


def _refuse_truststore(jaas: JaasConfig, reason: str) -> None:
    for key in jaas.options:
        if key.startswith("ssl."):
            raise ConfigurationError(f"JAAS option '{key}' is set, but {reason}")


def login_refresh_config(properties: Mapping[str, str]) -> RefreshConfig:
    """Kafka's token refresh settings (``sasl.login.refresh.*``) of a client,
    whatever its login: the unsecured one refreshes on them too."""
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("login_refresh_config: properties must be a mapping")
    check_names(properties)
    return _refresh_config(View(properties, None, None))


def _login_retry(view: View) -> RetryPolicy:
    """Kafka's login retry: ``sasl.login.retry.backoff.ms`` and ``.max.ms``."""
    return retry_policy(view, "sasl.login.retry.backoff.ms", "sasl.login.retry.backoff.max.ms")


#: What Kafka's ``JwtBearerJwtRetriever`` never reads: it sends no client
#: credentials, and takes the scope from ``sasl.oauthbearer.scope`` only.
_CLIENT_CREDENTIALS_ONLY: Final = (
    "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.header.urlencode",
)
_CLIENT_CREDENTIALS_JAAS: Final = ("clientId", "clientSecret", "scope")


def _jwt_bearer_config(
    view: View,
    jaas: JaasConfig,
    url: str,
    *,
    extensions: Mapping[str, str],
    refresh: RefreshConfig,
    claims: _ClaimNames,
    trust: tuple[str | None, str | None],
    allow_insecure_loopback: bool,
) -> JwtBearerConfig:
    """Kafka's ``JwtBearerJwtRetriever.configure``, without touching a file:
    ``sasl.oauthbearer.assertion.file`` if set, else the private key and the
    claim settings (``AssertionUtils.layeredAssertionJwtTemplate``)."""
    ignored = "JwtBearerJwtRetriever sends no client credentials, so Kafka would ignore it"
    refuse_if_set(view, _CLIENT_CREDENTIALS_ONLY, ignored)
    for key in _CLIENT_CREDENTIALS_JAAS:
        if key in jaas.options:
            raise ConfigurationError(
                f"JAAS option '{key}' is set, but "
                + (
                    "JwtBearerJwtRetriever reads the scope from sasl.oauthbearer.scope only"
                    if key == "scope"
                    else ignored
                )
            )
    scope = optional_text(view, "sasl.oauthbearer.scope")
    connect_timeout_ms = _optional_int(view, "sasl.login.connect.timeout.ms")
    read_timeout_ms = _optional_int(view, "sasl.login.read.timeout.ms")
    retry = _login_retry(view)

    def config(**assertion: Any) -> JwtBearerConfig:
        return JwtBearerConfig(
            token_endpoint_url=url,
            scope=scope,
            extensions=extensions,
            connect_timeout_ms=connect_timeout_ms,
            read_timeout_ms=read_timeout_ms,
            retry=retry,
            refresh=refresh,
            scope_claim=claims.scope_claim,
            subject_claim=claims.subject_claim,
            ca_file=trust[0],
            ca_certificates=trust[1],
            allow_insecure_loopback=allow_insecure_loopback,
            **assertion,
        )

    assertion_file = _set_text(view, _ASSERTION_FILE, path=True)
    if assertion_file is not None:
        # SaslConfigs: with an assertion file "all other sasl.oauthbearer.assertion.*
        # configurations are ignored".
        refuse_if_set(
            view,
            tuple(name for name in _ASSERTION_OPTIONS if name != _ASSERTION_FILE),
            f"{_ASSERTION_FILE} is set too, and Kafka then ignores every other "
            "sasl.oauthbearer.assertion.* setting",
        )
        return config(assertion_file=assertion_file)
    key_name = "sasl.oauthbearer.assertion.private.key.file"
    private_key_file = _set_text(view, key_name, path=True)
    if private_key_file is None:
        raise ConfigurationError(
            f"neither {key_name} nor {_ASSERTION_FILE} is set: JwtBearerJwtRetriever "
            "needs one of them"
        )
    algorithm = view.get("sasl.oauthbearer.assertion.algorithm")
    chosen = "RS256" if algorithm is None else trim(algorithm.value).upper()
    if algorithm is not None and chosen not in _ASSERTION_ALGORITHMS:
        raise bad_value(algorithm.key, "RS256 or ES256 (in any case)")
    jti = view.get("sasl.oauthbearer.assertion.claim.jti.include")
    return config(
        private_key_file=private_key_file,
        private_key_passphrase=_set_text(view, "sasl.oauthbearer.assertion.private.key.passphrase"),
        algorithm="RS256" if chosen == "RS256" else "ES256",
        issuer=_set_text(view, "sasl.oauthbearer.assertion.claim.iss"),
        subject=_set_text(view, "sasl.oauthbearer.assertion.claim.sub"),
        audience=_set_text(view, "sasl.oauthbearer.assertion.claim.aud"),
        exp_seconds=_ranged(
            view, "sasl.oauthbearer.assertion.claim.exp.seconds", 300, ASSERTION_EXP_RANGE
        ),
        nbf_seconds=_ranged(
            view, "sasl.oauthbearer.assertion.claim.nbf.seconds", 60, ASSERTION_NBF_RANGE
        ),
        include_jti=False if jti is None else parse_bool(jti.key, jti.value),
        template_file=_set_text(view, "sasl.oauthbearer.assertion.template.file", path=True),
    )


def _set_text(view: View, name: str, *, path: bool = False) -> str | None:
    """A STRING setting that, when present, must not be blank (Kafka's
    ``validateString``), trimmed. A ``path`` is a file name, as Kafka's
    ``validateFile`` reads it (``new File(value)``), so a URL is refused."""
    setting = view.get(name)
    if setting is None:
        return None
    value = trim(setting.value)
    if not value:
        raise ConfigurationError(f"{setting.key} is set but blank")
    if path and re.match(r"[A-Za-z][A-Za-z0-9+.\-]+:/", value):
        raise ConfigurationError(
            f"{setting.key}: the value must be a file path, not a URL (Kafka reads it as a path)"
        )
    return value


def _ranged(view: View, name: str, default: int, allowed: range) -> int:
    """An INT setting within Kafka's ``Range.between``."""
    setting = view.get(name)
    if setting is None:
        return default
    value = parse_int(setting.key, setting.value, INT_RANGE, "int")
    if value not in allowed:
        raise bad_value(setting.key, f"a whole number from {allowed.start} to {allowed.stop - 1}")
    return value


def _config_or_jaas(
    view: View, jaas: JaasConfig, name: str, jaas_name: str, *, required: bool = True
) -> str | None:
    """Kafka's ConfigOrJaas: the property if present (then it must not be
    blank), else the JAAS option (likewise), else an error when required."""
    setting = view.get(name)
    if setting is not None:
        if not trim(setting.value):
            raise ConfigurationError(f"{setting.key} is set but blank")
        return trim(setting.value)
    value = jaas.options.get(jaas_name)
    if value is not None:
        if not trim(value):
            raise ConfigurationError(f"JAAS option '{jaas_name}' is set but blank")
        return trim(value)
    if required:
        raise ConfigurationError(f"{name} (or the JAAS option '{jaas_name}') is not set")
    return None


def _optional_int(view: View, name: str) -> int | None:
    setting = view.get(name)
    if setting is None:
        return None
    value = parse_int(setting.key, setting.value, INT_RANGE, "int")
    if value < 0:
        raise bad_value(setting.key, "a number >= 0")
    return value


def _refresh_config(view: View) -> RefreshConfig:
    """``sasl.login.refresh.*`` with Kafka's types (DOUBLE, SHORT) and ranges."""
    default = RefreshConfig()

    def double(name: str, fallback: float) -> float:
        setting = view.get(name)
        return fallback if setting is None else parse_double(setting.key, setting.value)

    def short(name: str, fallback: int) -> int:
        setting = view.get(name)
        if setting is None:
            return fallback
        return parse_int(setting.key, setting.value, SHORT_RANGE, "short")

    return RefreshConfig(
        window_factor=double("sasl.login.refresh.window.factor", default.window_factor),
        window_jitter=double("sasl.login.refresh.window.jitter", default.window_jitter),
        min_period_s=short("sasl.login.refresh.min.period.seconds", default.min_period_s),
        buffer_s=short("sasl.login.refresh.buffer.seconds", default.buffer_s),
    )
