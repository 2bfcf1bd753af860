"""Shells that keep a :class:`~oauthbearer.validation.jwks_cache.JwksCache` fed: HTTPS and files.

The pure cache decides *when*; this module does the fetching, the retrying
(:class:`~oauthbearer.http.retry.RetryPolicy`, Kafka's rule), the sleeping and the
threading. :class:`JwksRefresher` owns a cache and refreshes it, in a
background thread (:meth:`JwksRefresher.start`) or an asyncio task
(:meth:`JwksRefresher.run`). As on Kafka's broker, the first fetch failing is
a loud error; later failures keep the last good keys and are reported through
:attr:`JwksCache.last_error`.

Everything is logged on ``oauthbearer.jwks`` and counted through
:mod:`oauthbearer.observe` (docs/observability.md): each refresh (the kids
added and removed, at INFO when the set changed), each failed attempt (its
number, the wait, the cause), a refresh that failed and the keys kept, an
unknown kid and whether it expedited a refresh, and each key lookup.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Final, Self

from oauthbearer._files import CachedFile, FileTooLarge
from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from oauthbearer.http.retry import MAX_WAIT_S, RetryLoop, RetryPolicy, is_retryable_status
from oauthbearer.http.transport import HttpError
from oauthbearer.http.urls import check_url, redact_url
from oauthbearer.observe import Metric, Timing, count, log_text, timing
from oauthbearer.validation.jwks import MAX_JWKS_SIZE, JsonWebKeySet
from oauthbearer.validation.jwks_cache import JwksCache, JwksRefreshPolicy, KeySetChange

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = [
    "JwksFetchError",
    "JwksRefresher",
    "fetch_jwks_url",
]

#: How often a JWKS file is checked for changes, in seconds (a stat call).
DEFAULT_FILE_CHECK_S: Final = 5.0


class JwksFetchError(OAuthBearerError):
    """A JWKS could not be fetched or read. ``retryable`` says whether asking
    again may help (network trouble, 5xx, 408, 429) or not (other 4xx, a bad
    document)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def fetch_jwks_url(
    url: str,
    *,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> JsonWebKeySet:
    """GET a JWKS over HTTPS, in one attempt within ``http``'s deadline
    (see :mod:`oauthbearer.http.transport`; ``http`` also gives the trust and
    the transport: :class:`~oauthbearer.http.options.HttpOptions`), and load its keys.

    The URL must pass :func:`oauthbearer.http.urls.check_url`: plain ``http`` only to
    a loopback address when ``allow_insecure_loopback`` is set (for tests and
    local identity providers). Redirects are followed to URLs that pass it too,
    never from https to http, as Kafka's broker does. The body is read up to
    :data:`~oauthbearer.validation.jwks.MAX_JWKS_SIZE` bytes. Every failure is a
    :class:`JwksFetchError` (retryable for network trouble, timeouts, broken
    answers, 408, 429 and 5xx but 501 and 505), or a
    :class:`~oauthbearer.errors.ConfigurationError` for a URL the policy refuses.
    """
    check_url(url, option="JWKS URL", allow_insecure_loopback=allow_insecure_loopback)
    shown = redact_url(url)
    try:
        response = (http or DEFAULT_HTTP_OPTIONS).request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            allow_insecure_loopback=allow_insecure_loopback,
            max_size=MAX_JWKS_SIZE,
            follow_redirects=True,
            what="JWKS request",
        )
    except HttpError as error:
        raise JwksFetchError(str(error), retryable=error.retryable) from None
    if not 200 <= response.status <= 299:
        raise JwksFetchError(
            f"JWKS request to {shown} failed with HTTP {response.status}",
            retryable=is_retryable_status(response.status),
        )
    body = response.body
    if len(body) > MAX_JWKS_SIZE:
        raise JwksFetchError(
            f"JWKS from {shown} is larger than MAX_JWKS_SIZE ({MAX_JWKS_SIZE} bytes)",
            retryable=False,
        )
    try:
        return JsonWebKeySet.from_json(body)
    except ConfigurationError as error:
        raise JwksFetchError(f"JWKS from {shown}: {error}", retryable=False) from None


def file_jwks_source(path: str | os.PathLike[str]) -> Callable[[], JsonWebKeySet]:
    """A fetch function for a JWKS file that re-reads it only when it changed
    (see :class:`oauthbearer._files.CachedFile`), and otherwise returns the
    keys it has."""
    cached = CachedFile(path, JsonWebKeySet.from_json, max_size=MAX_JWKS_SIZE)
    shown = os.fspath(path)

    def fetch() -> JsonWebKeySet:
        try:
            return cached.get()
        except OSError as error:
            raise JwksFetchError(f"JWKS file {shown}: {error.strerror}", retryable=True) from None
        except FileTooLarge:
            raise JwksFetchError(
                f"JWKS file {shown} is larger than MAX_JWKS_SIZE", retryable=False
            ) from None
        except ConfigurationError as error:
            raise JwksFetchError(f"JWKS file {shown}: {error}", retryable=False) from None

    return fetch


_LOG: Final = logging.getLogger("oauthbearer.jwks")


def _cause(error: BaseException) -> object:
    """What a log line says of an error: our errors (and OS errors) by their
    message, which holds no secret; anything else, a bug, by its type."""
    return error if isinstance(error, OAuthBearerError | OSError) else type(error).__name__


def _log_failure(error: BaseException, *, keys: int | None) -> None:
    """A refresh failed: our errors by their message (the last good keys stay
    in use), anything else, a bug, with its traceback."""
    kept = "no keys yet" if keys is None else f"keeping the last {keys} keys"
    if isinstance(error, OAuthBearerError | OSError):
        _LOG.warning("JWKS refresh failed, %s: %s", kept, error)
    else:
        _LOG.error("JWKS refresh failed, %s: %s", kept, type(error).__name__, exc_info=error)


def _kids(kids: tuple[str, ...]) -> str:
    return "[" + ", ".join(log_text(kid) for kid in kids) + "]"


def _log_refreshed(change: KeySetChange) -> None:
    level = logging.INFO if change.added or change.removed else logging.DEBUG
    _LOG.log(
        level,
        "JWKS refreshed: %d keys, kids added %s, removed %s",
        change.keys,
        _kids(change.added),
        _kids(change.removed),
    )


def _looked_up(found: bool) -> None:
    count(Metric.JWKS_LOOKUPS, result="hit" if found else "miss")


def _unknown_kid(kid: str, expedited: bool) -> None:
    if expedited:
        _LOG.info("unknown kid %s: expedited JWKS refresh requested", log_text(kid))
    else:
        _LOG.debug("unknown kid %s: no refresh (one was asked for recently)", log_text(kid))


@dataclasses.dataclass(slots=True)
class _Clock:
    """The shell's time: what the pure cache and the retry loop are given."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class JwksRefresher:
    """Owns a :class:`JwksCache` and keeps it fresh from ``fetch``.

    ``fetch`` returns a :class:`~oauthbearer.validation.jwks.JsonWebKeySet` or raises
    (:func:`fetch_jwks_url` and :func:`file_jwks_source` make one). Each
    refresh retries as Kafka does (``retry``), each retry logged at WARNING on
    ``oauthbearer.jwks`` (the attempt, the wait, the cause). Use :meth:`start` for a
    background thread, or ``await`` :meth:`run` in an asyncio program; either
    way the first fetch happens at once and its failure is raised.
    """

    def __init__(
        self,
        fetch: Callable[[], JsonWebKeySet],
        *,
        policy: JwksRefreshPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._fetch = fetch
        self._retry = retry or RetryPolicy()
        self._clock = _Clock(clock, sleep)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.cache = JwksCache(
            clock=clock,
            policy=policy,
            lock=threading.Lock(),
            on_expedite=self._wake.set,
            on_lookup=_looked_up,
            on_unknown_kid=_unknown_kid,
        )

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        http: HttpOptions | None = None,
        allow_insecure_loopback: bool = False,
        policy: JwksRefreshPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> JwksRefresher:
        """A refresher for an identity provider's ``jwks_uri``; a URL that is
        refused by :func:`~oauthbearer.http.urls.check_url` is refused here, at once.
        ``http`` gives the trust, the deadline of one attempt and the transport
        (:class:`~oauthbearer.http.options.HttpOptions`)."""
        check_url(url, option="JWKS URL", allow_insecure_loopback=allow_insecure_loopback)

        def fetch() -> JsonWebKeySet:
            return fetch_jwks_url(
                url,
                http=http,
                allow_insecure_loopback=allow_insecure_loopback,
            )

        return cls(fetch, policy=policy, retry=retry)

    @classmethod
    def for_file(
        cls, path: str | os.PathLike[str], *, check_interval_s: float = DEFAULT_FILE_CHECK_S
    ) -> JwksRefresher:
        """A refresher that reloads a JWKS file when it changes."""
        return cls(
            file_jwks_source(path),
            policy=JwksRefreshPolicy(refresh_interval_s=check_interval_s),
            retry=RetryPolicy(backoff_s=0.0),
        )

    def refresh(self) -> None:
        """Fetch now, with Kafka's retries; update the cache or record the failure.

        Raises the first error when the cache has no keys at all, since a
        validator without keys can only refuse every token.
        """
        started = time.perf_counter()
        try:
            keys = self._fetch_with_retry()
        except Exception as error:
            self.cache.failed(error)
            timing(Timing.JWKS_FETCH, time.perf_counter() - started, outcome="failed")
            count(Metric.JWKS_REFRESHES, outcome="failed")
            kept = self.cache.key_set
            if kept is None:
                raise  # a caller's error to handle (a background loop logs it)
            _log_failure(error, keys=len(kept))
            return
        change = self.cache.update(keys)
        timing(Timing.JWKS_FETCH, time.perf_counter() - started, outcome="ok")
        count(Metric.JWKS_REFRESHES, outcome="ok")
        _log_refreshed(change)

    def _fetch_with_retry(self) -> JsonWebKeySet:
        loop: RetryLoop[JwksFetchError | OSError] = RetryLoop(
            self._retry, started=self._clock.now()
        )
        while True:
            try:
                return self._fetch()
            except (JwksFetchError, OSError) as error:
                # Transient trouble is retried; anything else (a configuration
                # mistake, a bug in a custom fetch) is raised at once.
                retryable = not isinstance(error, JwksFetchError) or error.retryable
                try:
                    wait = loop.failed(error, retryable=retryable, now=self._clock.now())
                except (JwksFetchError, OSError):
                    _LOG.warning(
                        "JWKS fetch attempt %d failed, not retrying: %s",
                        loop.attempts,
                        _cause(error),
                    )
                    raise
                _LOG.warning(
                    "JWKS fetch attempt %d failed, retrying in %.3f s: %s",
                    loop.attempts,
                    wait,
                    _cause(error),
                )
                self._clock.sleep(wait)

    # -- the background thread --

    def start(self) -> Self:
        """Fetch once (raising if that fails), then refresh in a daemon thread."""
        if self._thread is not None:
            raise ConfigurationError("JwksRefresher.start() was already called")
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="oauthbearer-jwks", daemon=True)
        self._thread.start()
        return self

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called (the background thread runs, or ran)."""
        return self._thread is not None

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Stop the background thread, if running."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self if self.started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(min(self.cache.seconds_until_refresh(), MAX_WAIT_S))
            self._wake.clear()
            if self._stopping.is_set():
                return
            self._refresh_in_background()

    def _refresh_in_background(self) -> None:
        """Refresh if due; a failure is logged (and kept in ``cache.last_error``)
        and never ends the loop."""
        try:
            if self.cache.refresh_due():
                self.refresh()
        except Exception as error:  # noqa: BLE001 - logged; the loop goes on
            kept = self.cache.key_set
            _log_failure(error, keys=None if kept is None else len(kept))

    # -- asyncio --

    async def run(self, *, poll_s: float = 1.0, fetch_first: bool = True) -> None:
        """Refresh for as long as the task runs: the first fetch at once (raising
        if it fails; skipped with ``fetch_first=False``), then whenever due or
        expedited (noticed within ``poll_s``). Fetching happens in a worker
        thread, so the event loop never blocks; a failure is logged and the
        task goes on. :meth:`astart` runs it as a task once the first fetch
        has succeeded."""
        if fetch_first:
            await asyncio.to_thread(self.refresh)
        while True:
            await asyncio.sleep(min(self.cache.seconds_until_refresh(), poll_s, MAX_WAIT_S))
            self._wake.clear()
            await asyncio.to_thread(self._refresh_in_background)

    async def astart(self, *, poll_s: float = 1.0) -> asyncio.Task[None]:
        """Fetch once (raising if that fails, as :meth:`start` does), then keep
        refreshing in a task of the running loop, which is returned: cancel it
        to stop."""
        await asyncio.to_thread(self.refresh)
        return asyncio.create_task(
            self.run(poll_s=poll_s, fetch_first=False), name="oauthbearer-jwks"
        )
