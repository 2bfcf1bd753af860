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
  the identity provider's own error: from the first failed attempt on, since
  each attempt of a fetch that is still retrying reports its failure here
  (:func:`attempt_failed`, called by :func:`oauthbearer.login.http.fetch_token`).

Everything is logged on ``oauthbearer.login`` and counted through
:mod:`oauthbearer.observe` (docs/observability.md): each token fetched (its
principal, expiry and :func:`~oauthbearer.observe.token_id`, never the token),
each failed attempt (its number, the wait before the next, the cause), the
refresh scheduled (when, and why), a refresh failed, the recovery, and the last
good token served while refreshes fail.

:class:`AsyncTokenProvider` does the same as an asyncio task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import inspect
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Final, Self

from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.http.retry import MAX_WAIT_S
from oauthbearer.login.refresh import RETRY_AFTER_FAILURE_MS, RefreshConfig, next_refresh_ms
from oauthbearer.observe import Metric, Timing, count, log_text, timing, token_id
from oauthbearer.token import OAuthBearerToken

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from types import TracebackType

__all__ = [
    "AsyncTokenProvider",
    "TokenProvider",
    "TokenUnavailable",
]


class TokenUnavailable(OAuthBearerError):
    """No unexpired token: none was ever fetched, or the last one expired while
    refreshes failed. ``error`` is the last failure, typed and without secrets:
    the last refresh's own error, or, while a refresh is still retrying, the
    error of its last failed attempt (``None`` only when nothing failed)."""

    def __init__(self, message: str, *, error: BaseException | None = None) -> None:
        super().__init__(message)
        self.error = error


_LOG: Final = logging.getLogger("oauthbearer.login")

#: Where a failed attempt of the fetch running in this context is reported: the
#: provider that called the fetch sets it, so that ``token()`` can name the
#: error in flight. A context variable, so that a fetch needs no extra
#: parameter; :func:`asyncio.to_thread` carries it into the worker thread.
_IN_FLIGHT: Final[contextvars.ContextVar[_State | None]] = contextvars.ContextVar(
    "oauthbearer_login_in_flight", default=None
)


def _log_failure(what: str, error: BaseException) -> None:
    """Log a background failure: our errors by their message (which holds no
    secret), anything else, a bug, with its traceback."""
    if isinstance(error, OAuthBearerError):
        _LOG.warning("%s: %s", what, error)
    else:
        _LOG.error("%s: %s", what, type(error).__name__, exc_info=error)


def attempt_failed(
    error: BaseException, *, what: str, attempt: int, wait_s: float | None, counted: bool = True
) -> None:
    """One attempt at an identity provider failed (``wait_s``: the pause before
    the next, ``None`` when there is none): log it at WARNING, count it, and
    hand the error to the provider whose fetch is running, if any, so that its
    ``token()`` names the error in flight. The retry loops of
    :mod:`oauthbearer.login.http` call this; ``counted``: whether the attempt
    is a token request (:data:`~oauthbearer.observe.Metric.TOKEN_FETCH_ATTEMPTS`)."""
    if counted:
        count(Metric.TOKEN_FETCH_ATTEMPTS, outcome="failed")
    state = _IN_FLIGHT.get()
    if state is not None:
        state.attempt_failed(error)
    cause = error if isinstance(error, OAuthBearerError) else type(error).__name__
    if wait_s is None:
        _LOG.warning("%s attempt %d failed, not retrying: %s", what, attempt, cause)
    else:
        _LOG.warning("%s attempt %d failed, retrying in %.3f s: %s", what, attempt, wait_s, cause)


def attempt_succeeded() -> None:
    """One attempt at a token endpoint succeeded: count it."""
    count(Metric.TOKEN_FETCH_ATTEMPTS, outcome="ok")


def _at(epoch_ms: float) -> str:
    """An epoch time in milliseconds as ISO 8601 UTC, for a log line."""
    try:
        return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC).isoformat(
            timespec="seconds"
        )
    except (OverflowError, OSError, ValueError):
        return "a time out of range"  # a token's own numbers: never trusted to format


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
        # The last failed attempt of the fetch under way (None when it is not failing).
        self.in_flight: BaseException | None = None
        self.failures = 0  # refreshes failed in a row
        self.served_last_good = False  # logged once per run of failures
        self.started: float | None = None

    @contextlib.contextmanager
    def fetching(self) -> Iterator[None]:
        """Around a call of the fetch: its attempts report here, and it is timed."""
        reset = _IN_FLIGHT.set(self)
        self.started = time.perf_counter()
        try:
            yield
        finally:
            _IN_FLIGHT.reset(reset)

    def _elapsed(self) -> float:
        return 0.0 if self.started is None else time.perf_counter() - self.started

    def attempt_failed(self, error: BaseException) -> None:
        with self.lock:
            self.in_flight = error

    def succeeded(self, token: object) -> None:
        if not isinstance(token, OAuthBearerToken):
            raise ConfigurationError("a token provider's fetch must return an OAuthBearerToken")
        with self.lock:
            failures = self.failures
            self.token, self.error, self.in_flight = token, None, None
            self.failures, self.served_last_good = 0, False
        timing(Timing.TOKEN_FETCH, self._elapsed(), outcome="ok")
        count(Metric.TOKEN_REFRESHES, outcome="recovered" if failures else "ok")
        _LOG.info(
            "token %s fetched for principal %s, expires %s",
            token_id(token.value),
            log_text(token.principal),
            _at(token.lifetime_ms),
        )
        if failures:
            _LOG.info("token refresh recovered after %d failed refreshes", failures)

    def failed(self, error: BaseException) -> None:
        with self.lock:
            self.error, self.in_flight = error, None
            self.failures += 1
            failures = self.failures
        timing(Timing.TOKEN_FETCH, self._elapsed(), outcome="failed")
        count(Metric.TOKEN_REFRESHES, outcome="failed")
        _log_failure(
            f"token refresh failed ({failures} in a row; next try in "
            f"{RETRY_AFTER_FAILURE_MS / 1000:g} s)",
            error,
        )

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
            token, error = self.token, self.error or self.in_flight
            what = "refresh" if self.error is not None else "attempt"
        if token is not None and token.lifetime_ms > self.clock() * 1000:
            if error is not None:
                self._served_last_good(token, error)
            return token
        if error is not None:
            raise TokenUnavailable(
                f"no unexpired token: the last {what} failed: {error}", error=error
            )
        if token is not None:
            raise TokenUnavailable("no unexpired token: the token expired before a refresh")
        raise TokenUnavailable("no token yet: start() the provider first")

    def _served_last_good(self, token: OAuthBearerToken, error: BaseException) -> None:
        """The last good token is served while refreshes fail: counted every
        time, logged once per run of failures."""
        count(Metric.LAST_GOOD_TOKEN_SERVED)
        with self.lock:
            first, self.served_last_good = not self.served_last_good, True
        if first:
            _LOG.warning(
                "serving the last good token %s (expires %s) while refreshes fail: %s",
                token_id(token.value),
                _at(token.lifetime_ms),
                error if isinstance(error, OAuthBearerError) else type(error).__name__,
            )

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
        if at is None:
            _LOG.info("token refresh not scheduled: the token may not be refreshed again")
            return None
        _LOG.info(
            "token refresh scheduled at %s, in %.1f s (%s)",
            _at(at),
            max(at - now_ms, 0) / 1000,
            "no token to refresh"
            if token is None
            else "the token expired"
            if now_ms > token.lifetime_ms
            else f"Kafka's refresh window: expires {_at(token.lifetime_ms)}",
        )
        return max(at - now_ms, 0) / 1000


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
        with self._state.fetching():
            token = self._fetch()
        self._state.succeeded(token)
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
                with self._state.fetching():
                    token = self._fetch()
                self._state.succeeded(token)
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
        with self._state.fetching():
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
