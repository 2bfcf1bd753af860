"""Shells that keep a :class:`~oauthbearer.jwks_cache.JwksCache` fed: HTTPS and files.

The pure cache decides *when*; this module does the fetching, the retrying
(:class:`~oauthbearer.retry.RetryPolicy`, Kafka's rule), the sleeping and the
threading. :class:`JwksRefresher` owns a cache and refreshes it, in a
background thread (:meth:`JwksRefresher.start`) or an asyncio task
(:meth:`JwksRefresher.run`). As on Kafka's broker, the first fetch failing is
a loud error; later failures keep the last good keys and are reported through
:attr:`JwksCache.last_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Final, Self

from oauthbearer._files import CachedFile, FileTooLarge
from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.jwks import MAX_JWKS_SIZE, JsonWebKeySet
from oauthbearer.jwks_cache import JwksCache, JwksRefreshPolicy
from oauthbearer.retry import RetryPolicy
from oauthbearer.urls import check_url, redact_url

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from http.client import HTTPMessage
    from types import TracebackType
    from typing import IO

__all__ = [
    "JwksFetchError",
    "JwksRefresher",
    "fetch_jwks_url",
    "file_jwks_source",
]

#: Connect and read timeout for a JWKS request, in seconds.
DEFAULT_TIMEOUT_S: Final = 10.0
#: How often a JWKS file is checked for changes, in seconds (a stat call).
DEFAULT_FILE_CHECK_S: Final = 5.0
#: HTTP statuses worth retrying among the client errors: timeout and rate limit.
_RETRYABLE_4XX: Final = frozenset({408, 429})
#: Server errors that will not go away by asking again (RFC 9110 15.6.2, 15.6.6).
_FINAL_5XX: Final = frozenset({501, 505})


class JwksFetchError(OAuthBearerError):
    """A JWKS could not be fetched or read. ``retryable`` says whether asking
    again may help (network trouble, 5xx, 408, 429) or not (other 4xx, a bad
    document)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _CheckedRedirect(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL the configured one could have been: https
    (or loopback http, when allowed), as Java's ``HttpURLConnection``, which
    Kafka's broker fetches with, never follows one from https to http."""

    def __init__(self, *, allow_insecure_loopback: bool) -> None:
        self._allow_insecure_loopback = allow_insecure_loopback

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_url(
                newurl, option="redirect", allow_insecure_loopback=self._allow_insecure_loopback
            )
        except ConfigurationError:
            fp.close()  # the redirect's own response, and so its connection
            raise JwksFetchError(
                f"JWKS request to {redact_url(req.full_url)} was redirected to "
                f"{redact_url(newurl)}, which is not https",
                retryable=False,
            ) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_jwks_url(
    url: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    allow_insecure_loopback: bool = False,
) -> JsonWebKeySet:
    """GET a JWKS over HTTPS and load its keys.

    Plain ``http`` is refused, except to a loopback address when
    ``allow_insecure_loopback`` is set (for tests and local identity providers),
    and so is a redirect to such a URL (a redirect to another https URL is
    followed, as Kafka's broker does). The body is read up to
    :data:`~oauthbearer.jwks.MAX_JWKS_SIZE` bytes.
    """
    check_url(url, option="JWKS URL", allow_insecure_loopback=allow_insecure_loopback)
    shown = redact_url(url)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, headers={"Accept": "application/json", "User-Agent": "oauthbearer"}
    )
    opener = urllib.request.build_opener(
        _CheckedRedirect(allow_insecure_loopback=allow_insecure_loopback),
        urllib.request.HTTPSHandler(context=ssl_context),
    )
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(MAX_JWKS_SIZE + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response, and so the connection
        retryable = error.code in _RETRYABLE_4XX or (
            error.code >= 500 and error.code not in _FINAL_5XX
        )
        raise JwksFetchError(
            f"JWKS request to {shown} failed with HTTP {error.code}", retryable=retryable
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise JwksFetchError(f"JWKS request to {shown} failed: {reason}", retryable=True) from None
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


@dataclasses.dataclass(slots=True)
class _Clock:
    """The shell's time: what the pure cache and the retry loop are given."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class JwksRefresher:
    """Owns a :class:`JwksCache` and keeps it fresh from ``fetch``.

    ``fetch`` returns a :class:`~oauthbearer.jwks.JsonWebKeySet` or raises
    (:func:`fetch_jwks_url` and :func:`file_jwks_source` make one). Each
    refresh retries as Kafka does (``retry``). Use :meth:`start` for a
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
            clock=clock, policy=policy, lock=threading.Lock(), on_expedite=self._wake.set
        )

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_loopback: bool = False,
        policy: JwksRefreshPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> JwksRefresher:
        """A refresher for an identity provider's ``jwks_uri``; a URL that is
        refused by :func:`~oauthbearer.urls.check_url` is refused here, at once."""
        check_url(url, option="JWKS URL", allow_insecure_loopback=allow_insecure_loopback)

        def fetch() -> JsonWebKeySet:
            return fetch_jwks_url(
                url,
                timeout_s=timeout_s,
                ssl_context=ssl_context,
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
        try:
            keys = self._fetch_with_retry()
        except Exception as error:
            self.cache.failed(error)
            if self.cache.key_set is None:
                raise
            return
        self.cache.update(keys)

    def _fetch_with_retry(self) -> JsonWebKeySet:
        started = self._clock.now()
        first_error: JwksFetchError | OSError | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._fetch()
            except (JwksFetchError, OSError) as error:
                # Transient trouble is retried; anything else (a configuration
                # mistake, a bug in a custom fetch) is raised at once.
                if first_error is None:
                    first_error = error
                if isinstance(error, JwksFetchError) and not error.retryable:
                    raise first_error from None
                wait = self._retry.next_wait(
                    attempt=attempt, started=started, now=self._clock.now()
                )
                if wait is None:
                    raise first_error from None
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

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Stop the background thread, if running."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.cache.seconds_until_refresh())
            self._wake.clear()
            if self._stopping.is_set():
                return
            if self.cache.refresh_due():
                with contextlib.suppress(Exception):
                    self.refresh()  # a failure is in cache.last_error

    # -- asyncio --

    async def run(self, *, poll_s: float = 1.0, fetch_first: bool = True) -> None:
        """Refresh for as long as the task runs: the first fetch at once (raising
        if it fails; skipped with ``fetch_first=False``), then whenever due or
        expedited (noticed within ``poll_s``). Fetching happens in a worker
        thread, so the event loop never blocks. :meth:`astart` runs it as a task
        once the first fetch has succeeded."""
        if fetch_first:
            await asyncio.to_thread(self.refresh)
        while True:
            await asyncio.sleep(min(self.cache.seconds_until_refresh(), poll_s))
            if self.cache.refresh_due():
                self._wake.clear()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.refresh)

    async def astart(self, *, poll_s: float = 1.0) -> asyncio.Task[None]:
        """Fetch once (raising if that fails, as :meth:`start` does), then keep
        refreshing in a task of the running loop, which is returned: cancel it
        to stop."""
        await asyncio.to_thread(self.refresh)
        return asyncio.create_task(
            self.run(poll_s=poll_s, fetch_first=False), name="oauthbearer-jwks"
        )
