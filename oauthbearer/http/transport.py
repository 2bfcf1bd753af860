"""One HTTP attempt, for every call to an identity provider (shell).

The JWKS fetch, the token POST and the discovery GET all go through
:func:`http_request`, so that they share one set of rules:

* **The URL policy.** The URL, and every redirect's target, must pass
  :func:`oauthbearer.http.urls.check_url`; messages show URLs redacted.
* **A wall-clock deadline per attempt.** ``timeout_s`` bounds the whole
  attempt: connecting, the TLS handshake, a proxy's ``CONNECT``, the headers,
  the body and any redirects. Each socket operation also times out after
  ``timeout_s``, but a server that drips one byte at a time would reset that
  timer forever, so a watchdog (:class:`threading.Timer`) shuts down the
  attempt's sockets at the deadline. Only the name lookup is not covered:
  ``getaddrinfo`` cannot be interrupted.
* **Redirects.** None for a POST (a token request must not be replayed to
  another place, nor turned into a GET). A GET follows at most
  :data:`MAX_REDIRECTS`, each to a URL that passes the URL policy, and never
  from ``https`` to ``http``, as Java's ``HttpURLConnection`` (which Kafka
  fetches with) never does.
* **One error.** Every failure is an :class:`HttpError`, whose ``retryable``
  says whether asking again may help: network trouble, a timeout, a broken or
  truncated answer (``BadStatusLine``, ``IncompleteRead``, ``LineTooLong``,
  too many headers) and TLS trouble are retryable; a certificate that does
  not verify, a bad redirect and an oversized body are not. An HTTP status is
  not an error here: the caller reads it (:func:`oauthbearer.http.retry.is_retryable_status`).

Proxies: as in :mod:`urllib.request`, the ``https_proxy``, ``http_proxy`` and
``no_proxy`` environment variables are honoured (the ``CONNECT`` tunnel is
within the deadline too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, Final

from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.http.urls import check_url, redact_url, split_url

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from http.client import HTTPMessage
    from typing import IO

__all__ = [
    "DEFAULT_HTTP_TIMEOUT_S",
    "MAX_REDIRECTS",
    "HttpError",
    "HttpResponse",
    "http_request",
]

#: The wall-clock deadline of one attempt, in seconds. Kafka leaves
#: ``sasl.login.connect.timeout.ms`` and ``.read.timeout.ms`` unset (the JDK then
#: waits forever); an attempt that hangs forever helps nobody.
DEFAULT_HTTP_TIMEOUT_S: Final = 10.0
#: Redirects a GET follows: enough for an http-to-https or a moved-document hop
#: or two, few enough that a loop ends at once (Java follows 20, urllib 10).
MAX_REDIRECTS: Final = 5
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


class HttpError(OAuthBearerError):
    """One HTTP attempt failed before a whole answer arrived, or its answer
    cannot be used; ``retryable`` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclasses.dataclass(frozen=True, slots=True)
class HttpResponse:
    """A whole answer: its status and at most ``max_size`` + 1 bytes of its body."""

    status: int
    body: bytes = dataclasses.field(repr=False)


class _Watchdog:
    """Shuts down every socket of one attempt when its deadline passes.

    It keeps a duplicate of each socket's descriptor: ``shutdown`` acts on the
    connection, not the descriptor, so it also ends a read blocked in the TLS
    layer that has taken over the original socket object.
    """

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                sock.close()
                raise TimeoutError("the attempt's deadline passed")
            self._sockets.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # already closed by its connection
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


class _Response(http.client.HTTPResponse):
    """Closes its file when the status line or the headers are refused
    (``LineTooLong``, too many headers): http.client leaves it open, and with
    it the socket."""

    def begin(self) -> None:
        try:
            super().begin()
        except BaseException:
            self.close()
            raise


def _watched(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> Callable[..., Any]:
    """A connection factory for ``do_open`` whose sockets ``watchdog`` watches."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        connection = base(*args, **kwargs)
        connection.response_class = _Response
        create = connection._create_connection  # type: ignore[attr-defined]

        def create_watched(*c_args: Any, **c_kwargs: Any) -> socket.socket:
            sock: socket.socket = create(*c_args, **c_kwargs)
            watchdog.watch(sock)
            return sock

        # http.client creates every socket of a connection through this
        # attribute (CPython 3.11 to 3.14); the drip test fails if it stops.
        connection._create_connection = create_watched  # type: ignore[attr-defined]
        return connection

    return make


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self._watchdog), req)


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self._watchdog = watchdog
        self._ssl_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _watched(http.client.HTTPSConnection, self._watchdog), req, context=self._ssl_context
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back as it is: :func:`http_request` decides about
    redirects. urllib's own handler parses the ``Location`` first, and a bad
    one (``https://[::1/k``) raised ``ValueError`` with the answer left open."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
    ) -> None:
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _reason(error: BaseException) -> tuple[str, bool]:
    """What went wrong in words, and whether asking again may help."""
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        return _reason(error.reason)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the certificate does not verify ({error.verify_message})", False
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or type(error).__name__})", True
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out", True
    if isinstance(error, http.client.InvalidURL):
        return "the URL is invalid", False
    if isinstance(error, http.client.IncompleteRead):
        return "the answer was cut short", True
    if isinstance(error, http.client.HTTPException):
        # BadStatusLine, LineTooLong, "got more than 100 headers", ...: what the
        # peer sent is not HTTP; the exception's text quotes it, so it stays out.
        return f"the answer is not valid HTTP ({type(error).__name__})", True
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)[:200], True
    if isinstance(error, OSError):
        return (error.strerror or type(error).__name__), True
    return type(error).__name__, False


def _redirect_target(url: str, location: str | None) -> str | None:
    """The absolute URL a ``Location`` header points to, or ``None`` when
    there is none or it cannot be resolved."""
    if not location:
        return None
    try:
        return urllib.parse.urljoin(url, location.strip())
    except ValueError:
        return None


def _read(response: http.client.HTTPResponse, max_size: int) -> bytes:
    """At most ``max_size`` + 1 bytes of the body; a body cut short of its
    ``Content-Length`` is an error (http.client returns what came)."""
    data = response.read(max_size + 1)
    if len(data) <= max_size and response.length:
        raise http.client.IncompleteRead(data, response.length)
    return data


def _one_exchange(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    *,
    timeout_s: float,
    max_size: int,
) -> tuple[int, bytes, str | None]:
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return response.status, _read(response, max_size), None
    except urllib.error.HTTPError as error:
        with error:  # it holds the response, and so the connection
            fp = error.fp
            data = (
                _read(fp, max_size)
                if isinstance(fp, http.client.HTTPResponse)
                else error.read(max_size + 1)
            )
            return error.code, data, error.headers.get("Location")


def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    allow_insecure_loopback: bool = False,
    max_size: int,
    follow_redirects: bool = False,
    what: str = "request",
) -> HttpResponse:
    """Make one attempt: ``method`` to ``url`` with ``body`` and ``headers``,
    within ``timeout_s`` seconds in all, and return the status and at most
    ``max_size`` + 1 bytes of the body (so that the caller can tell an
    oversized one), whatever the status. ``follow_redirects`` (GET only)
    follows up to :data:`MAX_REDIRECTS`. Raises :class:`HttpError` (``what``
    names the request in its message) or, for a URL the policy refuses,
    :class:`~oauthbearer.errors.ConfigurationError`."""
    check_url(url, option=f"{what} URL", allow_insecure_loopback=allow_insecure_loopback)
    if follow_redirects and method != "GET":
        raise ConfigurationError("only a GET follows redirects")
    watchdog = _Watchdog(timeout_s)
    opener = urllib.request.build_opener(
        _NoRedirect(), _HttpHandler(watchdog), _HttpsHandler(watchdog, ssl_context)
    )
    all_headers = {**(headers or {}), "User-Agent": "oauthbearer"}
    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(  # noqa: S310 - the URL policy was applied
                current, data=body, headers=all_headers, method=method
            )
            try:
                status, data, location = _one_exchange(
                    opener, request, timeout_s=timeout_s, max_size=max_size
                )
            except (OSError, http.client.HTTPException, ValueError) as error:
                reason, retryable = _reason(error)
                if watchdog.expired:
                    reason, retryable = f"took longer than {timeout_s:g} s", True
                raise HttpError(
                    f"{what} to {redact_url(current)} failed: {reason}", retryable=retryable
                ) from None
            if watchdog.expired:
                raise HttpError(
                    f"{what} to {redact_url(current)} failed: took longer than {timeout_s:g} s",
                    retryable=True,
                )
            if not follow_redirects or status not in _REDIRECT_STATUSES:
                return HttpResponse(status, data)
            current = _follow(current, location, what, allow_insecure_loopback)
    finally:
        watchdog.close()
    raise HttpError(
        f"{what} to {redact_url(url)} was redirected more than {MAX_REDIRECTS} times",
        retryable=False,
    )


def _follow(current: str, location: str | None, what: str, allow_insecure_loopback: bool) -> str:
    """The next URL of a redirect, if the URL policy allows it."""
    target = _redirect_target(current, location)
    shown = redact_url(current)
    if target is None:
        raise HttpError(
            f"{what} to {shown} was redirected without a usable Location", retryable=False
        )
    if split_url(current).scheme == "https" and split_url(target).scheme != "https":
        raise HttpError(
            f"{what} to {shown} was redirected to {redact_url(target)}, which is not https",
            retryable=False,
        )
    try:
        return check_url(target, option="redirect", allow_insecure_loopback=allow_insecure_loopback)
    except OAuthBearerError as error:
        raise HttpError(
            f"{what} to {shown} was redirected to {redact_url(target)}, which is refused: {error}",
            retryable=False,
        ) from None
