"""Token sources ready to run: a Kafka client configuration in, a refreshing provider out.

This is where the pieces meet: :mod:`oauthbearer.config` reads the client's
properties into a :class:`~oauthbearer.config.client.ClientCredentialsConfig` (or a
:class:`~oauthbearer.config.client.JwtBearerConfig`);
:mod:`oauthbearer.login.grants` builds the request and
:mod:`oauthbearer.login.http` sends it with Kafka's retries;
:mod:`oauthbearer.login.client_token` reads the token as Kafka's client does;
:class:`~oauthbearer.login.provider.TokenProvider` keeps it fresh.

The jwt-bearer grant (KIP-1139) reads local files as Kafka's
``JwtBearerJwtRetriever`` does. Each login sends one new assertion (kept for
that login's retries, as Kafka formats the body once per retrieval): signed
then from the private key and the template, or read from the assertion file.
The private key and the template are read when the source is made and again
only when the file changes (Kafka's ``CachedFile`` with its last-modified
policy), so a key can be rotated without a restart; the assertion file is read
on every login, so an outside process can replace it.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Final, TypeVar

from oauthbearer._files import CachedFile, FileTooLarge
from oauthbearer.errors import ConfigurationError
from oauthbearer.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from oauthbearer.http.transport import DEFAULT_HTTP_TIMEOUT_S
from oauthbearer.http.urls import check_url
from oauthbearer.login.client_token import ClientTokenError, client_token
from oauthbearer.login.grants import (
    assertion_template_from_json,
    client_credentials_request,
    jwt_bearer_request,
    load_private_key,
    make_assertion,
)
from oauthbearer.login.http import fetch_token
from oauthbearer.login.provider import TokenProvider

if TYPE_CHECKING:
    from collections.abc import Callable

    from oauthbearer.config import ClientCredentialsConfig, JwtBearerConfig, TokenFileConfig
    from oauthbearer.login.grants import TokenRequest
    from oauthbearer.token import OAuthBearerToken

__all__ = [
    "client_credentials_fetch",
    "client_credentials_provider",
    "jwt_bearer_fetch",
    "jwt_bearer_provider",
    "token_file_fetch",
]

#: Largest token file read: far above any real token. An assertion file is
#: held to the same bound (an assertion is a JWT too).
MAX_TOKEN_FILE_SIZE: Final = 65_536
#: Largest private key or assertion template file read: a PEM RSA 8192-bit key
#: is under 7 KB, and a template is a few claims.
MAX_ASSERTION_INPUT_SIZE: Final = 65_536

_ASSERTION_FILE: Final = "sasl.oauthbearer.assertion.file"
_PRIVATE_KEY_FILE: Final = "sasl.oauthbearer.assertion.private.key.file"
_TEMPLATE_FILE: Final = "sasl.oauthbearer.assertion.template.file"

#: What Kafka's "0 ms" (no timeout) becomes here: a stuck identity provider
#: must not stall a refresh forever; Kafka's refresher would wait as long.
NO_TIMEOUT_S: Final = 300.0


def _timeout_s(config: ClientCredentialsConfig | JwtBearerConfig) -> float:
    """One urllib timeout from Kafka's connect and read timeouts (ms)."""
    values = [ms for ms in (config.connect_timeout_ms, config.read_timeout_ms) if ms is not None]
    if not values:
        return DEFAULT_HTTP_TIMEOUT_S
    if 0 in values:
        return NO_TIMEOUT_S
    return max(values) / 1000


def _config_http(
    config: ClientCredentialsConfig | JwtBearerConfig, http: HttpOptions | None = None
) -> HttpOptions:
    """The :class:`~oauthbearer.http.options.HttpOptions` of ``config``'s
    token requests: ``http``'s settings, and for those it leaves unset, the
    config's (its JAAS trust store, its ``sasl.login.*.timeout.ms``). The CA
    file is read now."""
    return (http or DEFAULT_HTTP_OPTIONS).with_defaults(
        timeout_s=_timeout_s(config), cafile=config.ca_file, cadata=config.ca_certificates
    )


def _http_fetch(
    config: ClientCredentialsConfig | JwtBearerConfig,
    make_request: Callable[[], TokenRequest],
    *,
    scope_claim: str | None,
    subject_claim: str | None,
    allow_insecure_loopback: bool,
    http: HttpOptions | None,
) -> Callable[[], OAuthBearerToken]:
    """A fetch that sends ``make_request()`` with Kafka's retries and reads the
    token as Kafka's client does; the claim names default to the config's."""
    options = _config_http(config, http)
    allow_insecure_loopback = allow_insecure_loopback or config.allow_insecure_loopback
    scope_name = scope_claim or config.scope_claim
    subject_name = subject_claim or config.subject_claim

    def fetch() -> OAuthBearerToken:
        response = fetch_token(
            make_request(),
            retry=config.retry,
            http=options,
            allow_insecure_loopback=allow_insecure_loopback,
        )
        return client_token(
            response.access_token, scope_claim=scope_name, subject_claim=subject_name
        )

    return fetch


def client_credentials_fetch(
    config: ClientCredentialsConfig,
    *,
    scope_claim: str | None = None,
    subject_claim: str | None = None,
    allow_insecure_loopback: bool = False,
    http: HttpOptions | None = None,
) -> Callable[[], OAuthBearerToken]:
    """A ``fetch`` for a :class:`TokenProvider`: one client-credentials request,
    with Kafka's retries, whose token is read as Kafka's client reads it.
    ``http`` (trust, deadline, transport) overrides the config's: its JAAS
    trust store and its ``sasl.login.*.timeout.ms``, for what ``http`` leaves unset."""
    request = client_credentials_request(
        config.token_endpoint_url,
        config.client_id,
        config.client_secret,
        scope=config.scope,
        urlencode_credentials=config.urlencode,
    )
    return _http_fetch(
        config,
        lambda: request,
        scope_claim=scope_claim,
        subject_claim=subject_claim,
        allow_insecure_loopback=allow_insecure_loopback,
        http=http,
    )


def client_credentials_provider(
    config: ClientCredentialsConfig,
    *,
    scope_claim: str | None = None,
    subject_claim: str | None = None,
    allow_insecure_loopback: bool = False,
    http: HttpOptions | None = None,
) -> TokenProvider:
    """An unstarted :class:`TokenProvider` for ``config``, on its refresh settings.
    The SASL extensions to send are ``config.extensions``."""
    return TokenProvider(
        client_credentials_fetch(
            config,
            scope_claim=scope_claim,
            subject_claim=subject_claim,
            allow_insecure_loopback=allow_insecure_loopback,
            http=http,
        ),
        refresh=config.refresh,
    )


def token_file_fetch(
    config: TokenFileConfig, *, scope_claim: str | None = None, subject_claim: str | None = None
) -> Callable[[], OAuthBearerToken]:
    """A ``fetch`` that reads the token from a file on every call, as Kafka's file
    retriever does (``sasl.oauthbearer.token.endpoint.url=file:...``), so that an
    outside process can replace the file with a fresh token."""

    def fetch() -> OAuthBearerToken:
        try:
            with open(config.path, encoding="utf-8") as file:
                text = file.read(MAX_TOKEN_FILE_SIZE + 1)
        except OSError as error:
            raise ClientTokenError(f"token file {config.path}: {error.strerror}") from None
        if len(text) > MAX_TOKEN_FILE_SIZE:
            raise ClientTokenError(f"token file {config.path} is larger than MAX_TOKEN_FILE_SIZE")
        return client_token(
            text.strip(),
            scope_claim=scope_claim or config.scope_claim,
            subject_claim=subject_claim or config.subject_claim,
        )

    return fetch


# --- The jwt-bearer grant (KIP-1139) ------------------------------------------------------

_T = TypeVar("_T")


def _utf8(data: bytes, path: str, option: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{option} {path} is not UTF-8 text") from None


def _read_text(path: str, option: str, limit: int) -> str:
    """A local file's UTF-8 text; errors name the option and the path, never the content."""
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise ConfigurationError(f"{option} {path}: {error.strerror}") from None
    if len(data) > limit:
        raise ConfigurationError(f"{option} {path} is larger than {limit} bytes")
    return _utf8(data, path, option)


def _cached_text(path: str, option: str, transform: Callable[[str], _T]) -> Callable[[], _T]:
    """``transform`` of a local file's text, read again only when the file
    changes (:class:`oauthbearer._files.CachedFile`, Kafka's ``CachedFile``)."""
    cached = CachedFile(
        path, lambda data: transform(_utf8(data, path, option)), max_size=MAX_ASSERTION_INPUT_SIZE
    )

    def get() -> _T:
        try:
            return cached.get()
        except OSError as error:
            raise ConfigurationError(f"{option} {path}: {error.strerror}") from None
        except FileTooLarge as error:
            raise ConfigurationError(f"{option} {path} is {error}") from None

    return get


def _template_from(path: str) -> Callable[[str], dict[str, dict[str, Any]]]:
    """Kafka's ``FileAssertionJwtTemplate``: a JSON object with an optional
    ``header`` and ``payload`` object. Strict JSON here (no duplicate member),
    and no other member: a misspelt ``"paylaod"`` would otherwise be dropped."""

    def parse(text: str) -> dict[str, dict[str, Any]]:
        try:
            header, payload = assertion_template_from_json(text.encode("utf-8"))
        except ValueError as error:  # ConfigurationError is a ValueError too
            raise ConfigurationError(f"{_TEMPLATE_FILE} {path}: {error}") from None
        return {"header": header, "payload": payload}

    return parse


def _assertion_source(
    config: JwtBearerConfig, now: Callable[[], float], rng: random.Random | None
) -> Callable[[], str]:
    """A fresh assertion per call, from the files ``config`` names. The private
    key and the template are loaded here already, so that a bad file fails now,
    as Kafka's ``configure`` does."""
    if config.assertion_file is not None:
        path = config.assertion_file
        _read_text(path, _ASSERTION_FILE, MAX_TOKEN_FILE_SIZE)  # Kafka's validateFile

        def from_file() -> str:
            return _read_text(path, _ASSERTION_FILE, MAX_TOKEN_FILE_SIZE).strip()

        return from_file
    assert config.private_key_file is not None  # JwtBearerConfig holds one or the other
    key_path = config.private_key_file
    passphrase = config.private_key_passphrase

    def load_key(text: str) -> Any:
        try:
            return load_private_key(text, passphrase)
        except ConfigurationError:
            raise ConfigurationError(
                f"{_PRIVATE_KEY_FILE} {key_path}: not a PEM private key, or a wrong or "
                "missing passphrase"
            ) from None

    key = _cached_text(key_path, _PRIVATE_KEY_FILE, load_key)
    key()
    template = (
        None
        if config.template_file is None
        else _cached_text(
            config.template_file, _TEMPLATE_FILE, _template_from(config.template_file)
        )
    )
    if template is not None:
        template()
    jti_source = (rng or random.SystemRandom()) if config.include_jti else None

    def signed() -> str:
        return make_assertion(
            key(),
            algorithm=config.algorithm,
            issuer=config.issuer,
            subject=config.subject,
            audience=config.audience,
            now=now(),
            lifetime_s=config.exp_seconds,
            not_before_s=config.nbf_seconds,
            random=jti_source,
            template=None if template is None else template(),
        )

    return signed


def jwt_bearer_fetch(
    config: JwtBearerConfig,
    *,
    now: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    scope_claim: str | None = None,
    subject_claim: str | None = None,
    allow_insecure_loopback: bool = False,
    http: HttpOptions | None = None,
) -> Callable[[], OAuthBearerToken]:
    """A ``fetch`` for a :class:`TokenProvider`: the JWT bearer grant (RFC 7523
    section 2.1) as Kafka's ``JwtBearerJwtRetriever`` sends it, with Kafka's
    retries, the token read as Kafka's client reads it.

    Every call makes a new assertion: signed with the private key at ``now()``
    (epoch seconds), with a ``jti`` drawn from ``rng`` when
    ``config.include_jti`` (a :class:`random.SystemRandom` when ``rng`` is
    ``None``; pass a seeded one in tests), or read from ``config.assertion_file``.
    The private key and template files are read now, so that a missing or
    malformed one raises :class:`~oauthbearer.errors.ConfigurationError` here;
    later, a file that cannot be read fails that login with the same error.
    ``now`` dates the assertion only; the retry loop keeps the real clock.
    ``http`` (trust, deadline, transport) overrides the config's: its JAAS
    trust store and its ``sasl.login.*.timeout.ms``, for what ``http`` leaves unset.
    """
    check_url(
        config.token_endpoint_url,
        option="sasl.oauthbearer.token.endpoint.url",
        allow_insecure_loopback=allow_insecure_loopback or config.allow_insecure_loopback,
    )
    assertion = _assertion_source(config, now, rng)
    return _http_fetch(
        config,
        lambda: jwt_bearer_request(config.token_endpoint_url, assertion(), scope=config.scope),
        scope_claim=scope_claim,
        subject_claim=subject_claim,
        allow_insecure_loopback=allow_insecure_loopback,
        http=http,
    )


def jwt_bearer_provider(
    config: JwtBearerConfig,
    *,
    scope_claim: str | None = None,
    subject_claim: str | None = None,
    allow_insecure_loopback: bool = False,
    http: HttpOptions | None = None,
) -> TokenProvider:
    """An unstarted :class:`TokenProvider` for ``config``, on its refresh
    settings (see :func:`jwt_bearer_fetch`). The SASL extensions to send are
    ``config.extensions``."""
    return TokenProvider(
        jwt_bearer_fetch(
            config,
            scope_claim=scope_claim,
            subject_claim=subject_claim,
            allow_insecure_loopback=allow_insecure_loopback,
            http=http,
        ),
        refresh=config.refresh,
    )
