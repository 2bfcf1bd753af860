"""confluent-kafka (librdkafka): an ``oauth_cb`` fed by a token provider.

librdkafka asks for a token through the ``oauth_cb`` setting: it calls
``oauth_cb(oauthbearer_config)`` with the ``sasl.oauthbearer.config`` string
(empty when unset; the adapter ignores it) and takes back a tuple ``(token,
expiry, principal, extensions)``, ``expiry`` in epoch seconds. It calls again
when 80% of the time to that expiry has passed, and keeps sending the token it
was given until then. confluent-kafka 2.16 calls it at once, in the client's
constructor, which waits up to 10 s for a token.

When ``oauth_cb`` raises, confluent-kafka drops the exception: librdkafka only
learns "OAuth callback raised exception", reports that to the ``error_cb`` as an
authentication error (``_AUTHENTICATION``), keeps the token it has, and calls
again 10 s later. So the adapter keeps the error as :attr:`OAuthCallback.last_error`
and logs it on the ``oauthbearer.integrations.confluent_kafka`` logger: the
message of this library's own errors (which never hold a secret), and only the
type of any other error, whose message this library cannot vouch for.

This module never imports confluent-kafka.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from oauthbearer.integrations._adapter import TokenAdapter, checked_token, log_no_token

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oauthbearer.integrations._adapter import TokenSource

__all__ = ["OAuthCallback", "confluent_kafka_config", "confluent_kafka_oauth_cb"]

log = logging.getLogger(__name__)

#: librdkafka's name for the SASL mechanism setting (``sasl.mechanism`` is an alias).
MECHANISM_SETTING: Final = "sasl.mechanisms"


class OAuthCallback(TokenAdapter):
    """What :func:`confluent_kafka_oauth_cb` returns: confluent-kafka's ``oauth_cb``."""

    def __init__(
        self, provider: TokenSource, *, extensions: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(provider, extensions=extensions)
        self._last_error: Exception | None = None

    @property
    def last_error(self) -> Exception | None:
        """The error of the last call, or ``None`` if it gave a token."""
        return self._last_error

    def __call__(self, oauthbearer_config: str = "") -> tuple[str, float, str, dict[str, str]]:
        """``(token value, expiry in epoch seconds, principal, extensions)``."""
        del oauthbearer_config  # the token source has its own configuration
        try:
            token = checked_token(self._get())
        except Exception as error:
            self._last_error = error
            log_no_token(log, "librdkafka", error)
            raise
        self._last_error = None
        return token.value, token.lifetime_ms / 1000, token.principal, self.extensions()


def confluent_kafka_oauth_cb(
    provider: TokenSource, *, extensions: Mapping[str, str] | None = None
) -> OAuthCallback:
    """An ``oauth_cb`` for confluent-kafka that gives ``provider``'s current
    token, its expiry and principal, with ``extensions`` (checked now: see
    :mod:`oauthbearer.integrations`).

    ``provider`` is a started :class:`~oauthbearer.login.TokenProvider` (or
    anything with a ``token()`` method returning an
    :class:`~oauthbearer.token.OAuthBearerToken`), or a function returning one.
    librdkafka calls it from its own threads; it should return at once.
    """
    return OAuthCallback(provider, extensions=extensions)


def confluent_kafka_config(
    provider: TokenSource, *, extensions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The settings that make a confluent-kafka client log in with
    OAUTHBEARER through ``provider``: ``sasl.mechanisms`` and ``oauth_cb``
    (from :func:`confluent_kafka_oauth_cb`). Add ``bootstrap.servers`` and
    ``security.protocol``."""
    return {
        MECHANISM_SETTING: "OAUTHBEARER",
        "oauth_cb": confluent_kafka_oauth_cb(provider, extensions=extensions),
    }
