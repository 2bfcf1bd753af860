"""Token sources ready to run: a Kafka client configuration in, a refreshing provider out.

This is where the pieces meet: :mod:`oauthbearer.config` reads the client's
properties into a :class:`~oauthbearer.config.ClientCredentialsConfig`;
:mod:`oauthbearer.login.requests` builds the request and
:mod:`oauthbearer.login.http` sends it with Kafka's retries;
:mod:`oauthbearer.login.client_token` reads the token as Kafka's client does;
:class:`~oauthbearer.login.provider.TokenProvider` keeps it fresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oauthbearer.login.client_token import ClientTokenError, client_token
from oauthbearer.login.http import DEFAULT_TIMEOUT_S, fetch_token
from oauthbearer.login.provider import TokenProvider
from oauthbearer.login.requests import client_credentials_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from oauthbearer.config import ClientCredentialsConfig, TokenFileConfig
    from oauthbearer.token import OAuthBearerToken

__all__ = ["client_credentials_fetch", "client_credentials_provider", "token_file_fetch"]

#: Largest token file read: far above any real token.
MAX_TOKEN_FILE_SIZE: Final = 65_536

#: What Kafka's "0 ms" (no timeout) becomes here: a stuck identity provider
#: must not stall a refresh forever; Kafka's refresher would wait as long.
NO_TIMEOUT_S: Final = 300.0


def _timeout_s(config: ClientCredentialsConfig) -> float:
    """One urllib timeout from Kafka's connect and read timeouts (ms)."""
    values = [ms for ms in (config.connect_timeout_ms, config.read_timeout_ms) if ms is not None]
    if not values:
        return DEFAULT_TIMEOUT_S
    if 0 in values:
        return NO_TIMEOUT_S
    return max(values) / 1000


def client_credentials_fetch(
    config: ClientCredentialsConfig,
    *,
    scope_claim: str = "scope",
    subject_claim: str = "sub",
    allow_insecure_loopback: bool = False,
) -> Callable[[], OAuthBearerToken]:
    """A ``fetch`` for a :class:`TokenProvider`: one client-credentials request,
    with Kafka's retries, whose token is read as Kafka's client reads it."""
    request = client_credentials_request(
        config.token_endpoint_url,
        config.client_id,
        config.client_secret,
        scope=config.scope,
        urlencode_credentials=config.urlencode,
    )
    timeout_s = _timeout_s(config)

    def fetch() -> OAuthBearerToken:
        response = fetch_token(
            request,
            retry=config.retry,
            timeout_s=timeout_s,
            allow_insecure_loopback=allow_insecure_loopback,
        )
        return client_token(
            response.access_token, scope_claim=scope_claim, subject_claim=subject_claim
        )

    return fetch


def client_credentials_provider(
    config: ClientCredentialsConfig,
    *,
    scope_claim: str = "scope",
    subject_claim: str = "sub",
    allow_insecure_loopback: bool = False,
) -> TokenProvider:
    """An unstarted :class:`TokenProvider` for ``config``, on its refresh settings.
    The SASL extensions to send are ``config.extensions``."""
    return TokenProvider(
        client_credentials_fetch(
            config,
            scope_claim=scope_claim,
            subject_claim=subject_claim,
            allow_insecure_loopback=allow_insecure_loopback,
        ),
        refresh=config.refresh,
    )


def token_file_fetch(
    config: TokenFileConfig, *, scope_claim: str = "scope", subject_claim: str = "sub"
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
        return client_token(text.strip(), scope_claim=scope_claim, subject_claim=subject_claim)

    return fetch
