"""Token providers: keep a fresh token at hand, refreshed ahead of expiry, as Kafka does.

The pure rule for *when* is :func:`~oauthbearer.login.refresh.next_refresh_ms`;
this shell does the waiting, the fetching and the threading, in the manner of
Kafka's ``ExpiringCredentialRefreshingLogin``:

* :meth:`TokenProvider.start` fetches at once; if that fails, it raises, since a
  client without a token cannot connect;
* a background thread then refreshes at the computed time, so refreshing never
  depends on the application polling its Kafka client;
* a failed refresh is retried every 10 s
  (:data:`~oauthbearer.login.refresh.RETRY_AFTER_FAILURE_MS`), for as long as it
  takes; meanwhile :meth:`TokenProvider.token` keeps serving the last good
  token until it expires, and then raises :class:`TokenUnavailable` carrying
  the identity provider's own error.

:class:`AsyncTokenProvider` does the same as an asyncio task.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Final, Self

from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.http.retry import MAX_WAIT_S
from oauthbearer.login.refresh import RETRY_AFTER_FAILURE_MS, RefreshConfig, next_refresh_ms
from oauthbearer.token import OAuthBearerToken

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

__all__ = ["AsyncTokenProvider", "TokenProvider", "TokenUnavailable"]


class TokenUnavailable(OAuthBearerError):
    """No unexpired token: none was ever fetched, or the last one expired while
    refreshes failed. ``error`` is the last refresh's own error, if any."""

    def __init__(self, message: str, *, error: BaseException | None = None) -> None:
        super().__init__(message)
        self.error = error


_LOG: Final = logging.getLogger("oauthbearer.login")


def _log_failure(what: str, error: BaseException) -> None:
    """Log a background failure: our errors by their message (which holds no
    secret), anything else, a bug, with its traceback."""
    if isinstance(error, OAuthBearerError):
        _LOG.warning("%s: %s", what, error)
    else:
        _LOG.error("%s: %s", what, type(error).__name__, exc_info=error)


class _State:
    """The token, the last error, and the scheduling rule, shared by both providers."""

    def __init__(
        self,
        refresh: RefreshConfig | None,
        clock: Callable[[], float],
        rng: random.Random | None,
    ) -> None:
        self.refresh = refresh or RefreshConfig()
        self.clock = clock
        # Jitter only; Kafka uses java.util.Random too.
        self.random = (rng or random.Random()).random  # noqa: S311
        self.lock = threading.Lock()
        self.token: OAuthBearerToken | None = None
        self.error: BaseException | None = None

    def succeeded(self, token: object) -> None:
        if not isinstance(token, OAuthBearerToken):
            raise ConfigurationError("a token provider's fetch must return an OAuthBearerToken")
        with self.lock:
            self.token, self.error = token, None

    def failed(self, error: BaseException) -> None:
        with self.lock:
            self.error = error
        _log_failure("token refresh failed", error)

    def next_wait(self) -> float | None:
        """:meth:`seconds_to_next` for a background loop, which must never die:
        if the schedule cannot be computed (a token whose times overflow), the
        failure is logged and the loop tries again after a failure's pause."""
        try:
            return self.seconds_to_next()
        except Exception as error:  # noqa: BLE001 - logged; the loop goes on
            _log_failure("token refresh could not be scheduled", error)
            return RETRY_AFTER_FAILURE_MS / 1000

    def current(self) -> OAuthBearerToken:
        with self.lock:
            token, error = self.token, self.error
        if token is not None and token.lifetime_ms > self.clock() * 1000:
            return token
        if error is not None:
            raise TokenUnavailable(
                f"no unexpired token: the last refresh failed: {error}", error=error
            )
        if token is not None:
            raise TokenUnavailable("no unexpired token: the token expired before a refresh")
        raise TokenUnavailable("no token yet: start() the provider first")

    def seconds_to_next(self) -> float | None:
        """Seconds until the next fetch: Kafka's rule after a success, 10 s after a failure."""
        now_ms = int(self.clock() * 1000)
        with self.lock:
            token, error = self.token, self.error
        if error is not None:
            return RETRY_AFTER_FAILURE_MS / 1000
        at = next_refresh_ms(
            now_ms=now_ms,
            expires_ms=None if token is None else token.lifetime_ms,
            start_ms=None if token is None else token.start_time_ms,
            config=self.refresh,
            random=self.random,
        )
        return None if at is None else max(at - now_ms, 0) / 1000


class TokenProvider:
    """Fetches a token with ``fetch`` and keeps it fresh in a daemon thread.

    ``fetch`` returns an :class:`~oauthbearer.token.OAuthBearerToken` (its
    ``lifetime_ms`` drives the schedule) or raises. ``clock``, ``rng`` and
    ``wait`` (which sleeps up to a number of seconds, returning early when the
    provider stops) are parameters so that tests can fix them.
    """

    def __init__(
        self,
        fetch: Callable[[], OAuthBearerToken],
        *,
        refresh: RefreshConfig | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._fetch = fetch
        self._state = _State(refresh, clock, rng)
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Fetch the first token (raising if that fails), then refresh in the background."""
        if self._thread is not None:
            raise ConfigurationError("TokenProvider.start() was already called")
        self._state.succeeded(self._fetch())
        self._thread = threading.Thread(target=self._run, name="oauthbearer-login", daemon=True)
        self._thread.start()
        return self

    def token(self) -> OAuthBearerToken:
        """The current token; :class:`TokenUnavailable` if there is no unexpired one."""
        return self._state.current()

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last refresh, if it failed."""
        return self._state.error

    def close(self, timeout_s: float | None = 5.0) -> None:
        """Stop refreshing."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self._state.next_wait()
            if delay is None:
                return  # Kafka stops refreshing a token past its last refresh time
            self._wait(min(delay, MAX_WAIT_S))
            if self._stop.is_set():
                return
            if delay > MAX_WAIT_S:
                continue  # a long wait is made of several: look again
            try:
                self._state.succeeded(self._fetch())
            except Exception as error:  # noqa: BLE001 - kept, reported by token(), retried
                self._state.failed(error)


class AsyncTokenProvider:
    """:class:`TokenProvider` for asyncio: ``fetch`` may be a coroutine function
    (an async HTTP call) or a plain one (run in a worker thread)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[OAuthBearerToken]] | Callable[[], OAuthBearerToken],
        *,
        refresh: RefreshConfig | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._state = _State(refresh, clock, rng)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Self:
        """Fetch the first token (raising if that fails), then refresh in a task."""
        if self._task is not None:
            raise ConfigurationError("AsyncTokenProvider.start() was already called")
        self._state.succeeded(await self._call())
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def token(self) -> OAuthBearerToken:
        """The current token; :class:`TokenUnavailable` if there is no unexpired one."""
        return self._state.current()

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last refresh, if it failed."""
        return self._state.error

    async def aclose(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> Self:
        return self if self._task is not None else await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self) -> OAuthBearerToken:
        if inspect.iscoroutinefunction(self._fetch):
            return await self._fetch()  # type: ignore[no-any-return]
        return await asyncio.to_thread(self._fetch)  # type: ignore[arg-type]

    async def _run(self) -> None:
        while True:
            delay = self._state.next_wait()
            if delay is None:
                return
            await asyncio.sleep(min(delay, MAX_WAIT_S))
            if delay > MAX_WAIT_S:
                continue
            try:
                self._state.succeeded(await self._call())
            except Exception as error:  # noqa: BLE001 - kept, reported by token(), retried
                self._state.failed(error)
