"""kafka-python: a ``sasl_oauth_token_provider`` fed by a token provider.

kafka-python builds its first OAUTHBEARER message from two calls to its
``sasl_oauth_token_provider``: ``token()``, the token value, and
``extensions()``, the SASL extensions. It makes them in its network thread, on
every new connection (and, from 3.0, on every KIP-368 re-authentication), so
the adapter hands over the provider's *current* token, which a
:class:`~oauthbearer.login.TokenProvider` keeps fresh in its own thread. When
the source raises (:class:`~oauthbearer.login.TokenUnavailable`, once the last
token has expired while refreshes fail), that connection attempt fails with the
same error, and kafka-python tries again on its next reconnect.

kafka-python accepts only an instance of its own ``AbstractTokenProvider``,
which has moved between releases: ``kafka.net.sasl.oauth`` (3.x),
``kafka.sasl.oauth`` (2.1 and 2.2), ``kafka.oauth.abstract`` (2.0). The
adapter's class derives from :class:`KafkaPythonTokenProvider` and from the
first of those found; it is made on first use, so importing this module does not
import kafka-python.
"""

from __future__ import annotations

import functools
import logging
import types
from typing import TYPE_CHECKING, Final, cast

from oauthbearer.integrations._adapter import (
    TokenAdapter,
    checked_token,
    first_class,
    log_no_token,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oauthbearer.integrations._adapter import TokenSource

__all__ = ["KafkaPythonTokenProvider", "kafka_python_token_provider"]

log = logging.getLogger(__name__)

#: Where kafka-python keeps ``AbstractTokenProvider``, newest release first.
BASE_MODULES: Final = ("kafka.net.sasl.oauth", "kafka.sasl.oauth", "kafka.oauth.abstract")


class KafkaPythonTokenProvider(TokenAdapter):
    """What :func:`kafka_python_token_provider` returns: kafka-python's
    ``sasl_oauth_token_provider``. Its actual class also derives from
    kafka-python's ``AbstractTokenProvider``, so make it with that function."""

    def __init__(
        self, provider: TokenSource, *, extensions: Mapping[str, str] | None = None
    ) -> None:
        if type(self) is KafkaPythonTokenProvider:
            raise TypeError(
                "use kafka_python_token_provider(): kafka-python accepts only a subclass "
                "of its own AbstractTokenProvider"
            )
        super().__init__(provider, extensions=extensions)

    def token(self) -> str:
        """The source's current token value. A failure is logged on
        ``oauthbearer.integrations.kafka_python`` and raised to kafka-python."""
        try:
            return checked_token(self._get()).value
        except Exception as error:
            log_no_token(log, "kafka-python", error)
            raise


@functools.cache
def _provider_class() -> type[KafkaPythonTokenProvider]:
    base = first_class(BASE_MODULES, "AbstractTokenProvider", client="kafka-python")

    def body(namespace: dict[str, object]) -> None:
        namespace["__module__"] = __name__
        namespace["__qualname__"] = KafkaPythonTokenProvider.__qualname__
        namespace["__doc__"] = KafkaPythonTokenProvider.__doc__

    made = types.new_class(
        KafkaPythonTokenProvider.__name__, (KafkaPythonTokenProvider, base), {}, body
    )
    return cast("type[KafkaPythonTokenProvider]", made)


def kafka_python_token_provider(
    provider: TokenSource, *, extensions: Mapping[str, str] | None = None
) -> KafkaPythonTokenProvider:
    """A ``sasl_oauth_token_provider`` for kafka-python that gives ``provider``'s
    current token, with ``extensions`` (checked now: see
    :mod:`oauthbearer.integrations`).

    ``provider`` is a started :class:`~oauthbearer.login.TokenProvider` (or
    anything with a ``token()`` method returning an
    :class:`~oauthbearer.token.OAuthBearerToken`), or a function returning one.
    kafka-python calls it in its network thread, so it should return at once.
    Raises :class:`ImportError` if kafka-python is not installed.
    """
    return _provider_class()(provider, extensions=extensions)
