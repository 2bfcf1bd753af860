"""Kafka's names (pure): the login module, its callback handlers and properties, and
which option keys hold secrets.

Kafka reads a configuration by name; these are the names it knows
(``SaslConfigs``, the OAuth ``*CallbackHandler`` and ``*JwtRetriever`` classes),
in one place for the JAAS parser, the broker and the client.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["KNOWN_PROPERTIES", "OAUTHBEARER_LOGIN_MODULE", "is_secret_key"]

#: The login module every OAUTHBEARER JAAS entry names.
OAUTHBEARER_LOGIN_MODULE: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

_PKG: Final = "org.apache.kafka.common.security.oauthbearer."
#: Kafka's unsecured validator (the broker default) and its secured one; the
#: ``secured.`` names are the deprecated aliases from Kafka 3.1 to 3.x.
UNSECURED_VALIDATORS: Final = frozenset(
    {_PKG + "internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"}
)
SECURED_VALIDATORS: Final = frozenset(
    {
        _PKG + "OAuthBearerValidatorCallbackHandler",
        _PKG + "secured.OAuthBearerValidatorCallbackHandler",
    }
)
UNSECURED_LOGINS: Final = frozenset(
    {_PKG + "internals.unsecured.OAuthBearerUnsecuredLoginCallbackHandler"}
)
SECURED_LOGINS: Final = frozenset(
    {_PKG + "OAuthBearerLoginCallbackHandler", _PKG + "secured.OAuthBearerLoginCallbackHandler"}
)
_DEFAULT_JWT_RETRIEVER: Final = _PKG + "DefaultJwtRetriever"
DEFAULT_JWT_VALIDATOR: Final = _PKG + "DefaultJwtValidator"
JWT_RETRIEVERS: Final = frozenset(
    {_DEFAULT_JWT_RETRIEVER, _PKG + "ClientCredentialsJwtRetriever", _PKG + "FileJwtRetriever"}
)
JWT_BEARER_RETRIEVER: Final = _PKG + "JwtBearerJwtRetriever"

JAAS_CONFIG: Final = "sasl.jaas.config"
SERVER_CALLBACK_HANDLER: Final = "sasl.server.callback.handler.class"
LOGIN_CALLBACK_HANDLER: Final = "sasl.login.callback.handler.class"

#: Every ``sasl.oauthbearer.*`` and ``sasl.login.*`` name Kafka defines
#: (``SaslConfigs.addClientSaslSupport``, Kafka 4.1 with KIP-1139). Any other
#: name under those prefixes is reported as a typo.
KNOWN_PROPERTIES: Final = frozenset(
    {
        "sasl.login.callback.handler.class",
        "sasl.login.class",
        "sasl.login.connect.timeout.ms",
        "sasl.login.read.timeout.ms",
        "sasl.login.refresh.buffer.seconds",
        "sasl.login.refresh.min.period.seconds",
        "sasl.login.refresh.window.factor",
        "sasl.login.refresh.window.jitter",
        "sasl.login.retry.backoff.max.ms",
        "sasl.login.retry.backoff.ms",
        "sasl.oauthbearer.assertion.algorithm",
        "sasl.oauthbearer.assertion.claim.aud",
        "sasl.oauthbearer.assertion.claim.exp.seconds",
        "sasl.oauthbearer.assertion.claim.iss",
        "sasl.oauthbearer.assertion.claim.jti.include",
        "sasl.oauthbearer.assertion.claim.nbf.seconds",
        "sasl.oauthbearer.assertion.claim.sub",
        "sasl.oauthbearer.assertion.file",
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.template.file",
        "sasl.oauthbearer.client.credentials.client.id",
        "sasl.oauthbearer.client.credentials.client.secret",
        "sasl.oauthbearer.clock.skew.seconds",
        "sasl.oauthbearer.expected.audience",
        "sasl.oauthbearer.expected.issuer",
        "sasl.oauthbearer.header.urlencode",
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "sasl.oauthbearer.jwks.endpoint.url",
        "sasl.oauthbearer.jwt.retriever.class",
        "sasl.oauthbearer.jwt.validator.class",
        "sasl.oauthbearer.scope",
        "sasl.oauthbearer.scope.claim.name",
        "sasl.oauthbearer.sub.claim.name",
        "sasl.oauthbearer.token.endpoint.url",
    }
)
CHECKED_PREFIXES: Final = ("sasl.oauthbearer.", "sasl.login.")

#: Option names whose values are hidden in a repr (never shown in a message).
_SECRET_KEY: Final = re.compile(r"secret|password|passphrase", re.IGNORECASE)
#: A key shown in a message: plain enough that it cannot be a misplaced value.
SHOWABLE_KEY: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def is_secret_key(key: str) -> bool:
    """Whether an option's value is a secret: its name holds ``secret``,
    ``password`` or ``passphrase`` (in any case)."""
    return _SECRET_KEY.search(key) is not None


#: A property name shown in a message (property names are never values).
SHOWABLE_PROPERTY: Final = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


def show_key(key: str | None, *, pattern: re.Pattern[str] = SHOWABLE_KEY) -> str:
    if key is not None and pattern.fullmatch(key):
        return f"'{key}'"
    return "(a key that is not a plain name)"
