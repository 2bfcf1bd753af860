"""aiokafka and Faust: a ``sasl_oauth_token_provider`` fed by a token provider.

aiokafka builds its OAUTHBEARER message from ``await token()`` and
``extensions()`` of its ``sasl_oauth_token_provider``, in its event loop, on
every new connection. Faust runs on aiokafka and takes the same object as the
``oauth_cb`` of its ``OAuthCredentials``.

With an :class:`~oauthbearer.login.AsyncTokenProvider`, the adapter starts the
provider on the first call, in the loop that aiokafka (or Faust) runs, so the
adapter can be made where there is no loop yet, as a Faust app is. Connections
opened together wait for that one first fetch; if it fails, they fail with its
error, and the next connection tries again. A provider started already is used
as it is.

A source's ``token()`` (or the function given as the source) may also return an
awaitable; it is awaited. A plain call runs in the event loop, so it must
return at once: a :class:`~oauthbearer.login.TokenProvider` or
:class:`~oauthbearer.login.AsyncTokenProvider` does, since it only reads the
token its refresher keeps.

aiokafka 0.14 does not answer a server's error challenge with ``%x01``: it
takes the challenge for success and sends its next request (see
:doc:`/adapters-kafka`). This module imports aiokafka only when an adapter is
made.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import types
from typing import TYPE_CHECKING, Final, cast

from oauthbearer.integrations._adapter import (
    TokenAdapter,
    checked_token,
    first_class,
    log_no_token,
)
from oauthbearer.login.provider import AsyncTokenProvider

if TYPE_CHECKING:
    from collections.abc import Mapping

    from oauthbearer.integrations._adapter import AsyncTokenSource

__all__ = ["AiokafkaTokenProvider", "aiokafka_token_provider"]

log = logging.getLogger(__name__)

#: Where aiokafka keeps ``AbstractTokenProvider``.
BASE_MODULES: Final = ("aiokafka.abc",)


class AiokafkaTokenProvider(TokenAdapter):
    """What :func:`aiokafka_token_provider` returns: aiokafka's (and Faust's)
    token provider. Its actual class also derives from aiokafka's
    ``AbstractTokenProvider``, so make it with that function."""

    def __init__(
        self, provider: AsyncTokenSource, *, extensions: Mapping[str, str] | None = None
    ) -> None:
        if type(self) is AiokafkaTokenProvider:
            raise TypeError(
                "use aiokafka_token_provider(): aiokafka accepts only a subclass of "
                "its own AbstractTokenProvider"
            )
        super().__init__(provider, extensions=extensions)
        self._started = not isinstance(provider, AsyncTokenProvider)
        # Made on first use, since a lock should belong to aiokafka's loop.
        self._starting: asyncio.Lock | None = None

    async def token(self) -> str:
        """The source's current token value; starts an :class:`AsyncTokenProvider` first."""
        try:
            if not self._started:
                await self._start()
            token = self._get()
            if inspect.isawaitable(token):
                token = await token
            return checked_token(token).value
        except Exception as error:
            log_no_token(log, "aiokafka", error)
            raise

    async def _start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._started:
                return
            provider = self._source
            assert isinstance(provider, AsyncTokenProvider)
            # Entering starts the provider, unless it was started already; a
            # failed first fetch raises and leaves it unstarted, to try again.
            await provider.__aenter__()
            self._started = True


@functools.cache
def _provider_class() -> type[AiokafkaTokenProvider]:
    base = first_class(BASE_MODULES, "AbstractTokenProvider", client="aiokafka")

    def body(namespace: dict[str, object]) -> None:
        namespace["__module__"] = __name__
        namespace["__qualname__"] = AiokafkaTokenProvider.__qualname__
        namespace["__doc__"] = AiokafkaTokenProvider.__doc__

    made = types.new_class(AiokafkaTokenProvider.__name__, (AiokafkaTokenProvider, base), {}, body)
    return cast("type[AiokafkaTokenProvider]", made)


def aiokafka_token_provider(
    provider: AsyncTokenSource, *, extensions: Mapping[str, str] | None = None
) -> AiokafkaTokenProvider:
    """A ``sasl_oauth_token_provider`` for aiokafka (Faust's ``oauth_cb``) that
    gives ``provider``'s current token, with ``extensions`` (checked now: see
    :mod:`oauthbearer.integrations`).

    ``provider`` is an :class:`~oauthbearer.login.AsyncTokenProvider`, started
    or not (see above), a started :class:`~oauthbearer.login.TokenProvider`,
    anything else with a ``token()`` method returning an
    :class:`~oauthbearer.token.OAuthBearerToken` (or an awaitable of one), or a
    function or coroutine function returning one. Raises :class:`ImportError`
    if aiokafka is not installed.
    """
    return _provider_class()(provider, extensions=extensions)
