"""The shell that talks to a token endpoint: one attempt, then Kafka's retries.

:mod:`oauthbearer.login.grants` builds requests and reads answers; this
module sends them. :func:`post` makes one attempt through
:func:`oauthbearer.http.transport.http_request`, which bounds it by a wall-clock
deadline, follows no redirect (a token request must not be
replayed to another place, nor turned into a GET) and turns every failure
into an error with ``retryable`` set. :func:`fetch_token` makes attempts until
one succeeds, retrying as Kafka's login module does
(:class:`~oauthbearer.http.retry.RetryLoop`: 100 ms doubling within a 10 s budget,
``sasl.login.retry.backoff.ms`` / ``.max.ms``): an answer that is not worth
retrying ends the loop at once, and when the loop ends in failure the *first*
error is raised, as Kafka's ``Retry`` does. Each retry is logged at WARNING
on the ``oauthbearer.login`` logger: the attempt that failed, the wait and
the cause (the error's message, which holds no secret). :func:`discover` reads an
issuer's metadata (a GET, which follows redirects the URL policy allows). The
``*_async`` twins run each attempt in a worker thread
(:func:`asyncio.to_thread`) and wait with :func:`asyncio.sleep`. Every
function takes ``http``, an :class:`~oauthbearer.http.options.HttpOptions`:
the CA certificates or SSL context to trust, the deadline of one attempt and
the transport that makes it.

Only https is spoken, except plain http to a loopback address when
``allow_insecure_loopback`` is set (:func:`oauthbearer.http.urls.check_url`). URLs
in messages are redacted (:func:`~oauthbearer.http.urls.redact_url`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final, TypeVar

from oauthbearer.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from oauthbearer.http.retry import RetryLoop, RetryPolicy, is_retryable_status
from oauthbearer.http.transport import HttpError
from oauthbearer.http.urls import check_url, redact_url
from oauthbearer.login.grants import (
    MAX_DISCOVERY_SIZE,
    MAX_TOKEN_RESPONSE_SIZE,
    Discovery,
    DiscoveryError,
    TokenEndpointError,
    TokenRequest,
    TokenResponse,
    discovery_urls,
    parse_discovery,
    parse_token_response,
)
from oauthbearer.login.provider import attempt_failed, attempt_succeeded

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "discover",
    "discover_async",
    "fetch_token",
    "fetch_token_async",
    "get_json",
    "post",
]

_LOG: Final = logging.getLogger("oauthbearer.login")


_E = TypeVar("_E", TokenEndpointError, DiscoveryError)


def _exchange(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    http: HttpOptions | None,
    allow_insecure_loopback: bool,
    max_size: int,
    error_type: type[_E],
    what: str,
) -> tuple[int, bytes]:
    try:
        response = (http or DEFAULT_HTTP_OPTIONS).request(
            method,
            url,
            body=body,
            headers=headers,
            allow_insecure_loopback=allow_insecure_loopback,
            max_size=max_size,
            follow_redirects=method == "GET",
            what=what,
        )
    except HttpError as error:
        raise error_type(str(error), retryable=error.retryable) from None
    return response.status, response.body


def post(
    request: TokenRequest,
    *,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> tuple[int, bytes]:
    """POST ``request`` once and return the status and the body (at most
    :data:`~oauthbearer.login.grants.MAX_TOKEN_RESPONSE_SIZE` + 1 bytes, so
    the parser can tell an oversized body). A failure of the attempt (see
    :mod:`oauthbearer.http.transport`) raises a :class:`TokenEndpointError`; a URL
    that is not https a
    :class:`~oauthbearer.errors.ConfigurationError`."""
    check_url(request.url, option="token_endpoint", allow_insecure_loopback=allow_insecure_loopback)
    return _exchange(
        "POST",
        request.url,
        request.body,
        dict(request.headers),
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
        max_size=MAX_TOKEN_RESPONSE_SIZE,
        error_type=TokenEndpointError,
        what="token request",
    )


def get_json(
    url: str,
    *,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
    max_size: int = MAX_DISCOVERY_SIZE,
) -> tuple[int, bytes]:
    """GET ``url`` asking for JSON, once: the status and at most ``max_size``
    + 1 bytes of body. A network failure raises a retryable
    :class:`DiscoveryError`."""
    check_url(url, option="url", allow_insecure_loopback=allow_insecure_loopback)
    return _exchange(
        "GET",
        url,
        None,
        {"Accept": "application/json"},
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
        max_size=max_size,
        error_type=DiscoveryError,
        what="discovery request",
    )


def _transport(
    transport: Callable[[TokenRequest], tuple[int, bytes]] | None,
    *,
    http: HttpOptions | None,
    allow_insecure_loopback: bool,
) -> Callable[[TokenRequest], tuple[int, bytes]]:
    if transport is not None:
        return transport

    def send(request: TokenRequest) -> tuple[int, bytes]:
        return post(
            request,
            http=http,
            allow_insecure_loopback=allow_insecure_loopback,
        )

    return send


def _failed(loop: RetryLoop[_E], error: _E, now: float, what: str) -> float:
    counted = isinstance(error, TokenEndpointError)
    """``loop.failed``, with the attempt reported
    (:func:`~oauthbearer.login.provider.attempt_failed`: logged, counted, and
    handed to the provider waiting for this fetch) before it waits or gives up."""
    try:
        wait = loop.failed(error, retryable=error.retryable, now=now)
    except type(error):
        attempt_failed(error, what=what, attempt=loop.attempts, wait_s=None, counted=counted)
        raise
    attempt_failed(error, what=what, attempt=loop.attempts, wait_s=wait, counted=counted)
    return wait


def fetch_token(
    request: TokenRequest,
    *,
    now: Callable[[], float] = time.time,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
    transport: Callable[[TokenRequest], tuple[int, bytes]] | None = None,
) -> TokenResponse:
    """Send ``request`` until a token comes back, retrying as Kafka does.

    ``now`` (epoch seconds) times the retry budget and dates the token's
    ``expires_at_ms`` from when its request was sent. ``http`` says how each
    attempt is made (trust, deadline, transport); ``transport`` replaces
    :func:`post` altogether (tests). Raises the first
    :class:`TokenEndpointError` when no attempt succeeds.
    """
    check_url(request.url, option="token_endpoint", allow_insecure_loopback=allow_insecure_loopback)
    send = _transport(
        transport,
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    loop: RetryLoop[TokenEndpointError] = RetryLoop(retry, started=now())
    while True:
        sent = now()
        try:
            status, body = send(request)
            response = parse_token_response(status, body, now=sent, request=request)
        except TokenEndpointError as error:
            sleep(_failed(loop, error, now(), "token request"))
        else:
            attempt_succeeded()
            return response


async def fetch_token_async(
    request: TokenRequest,
    *,
    now: Callable[[], float] = time.time,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
    transport: Callable[[TokenRequest], tuple[int, bytes]] | None = None,
) -> TokenResponse:
    """:func:`fetch_token` for asyncio: each attempt runs in a worker thread."""
    check_url(request.url, option="token_endpoint", allow_insecure_loopback=allow_insecure_loopback)
    send = _transport(
        transport,
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    loop: RetryLoop[TokenEndpointError] = RetryLoop(retry, started=now())
    while True:
        sent = now()
        try:
            status, body = await asyncio.to_thread(send, request)
            response = parse_token_response(status, body, now=sent, request=request)
        except TokenEndpointError as error:
            await sleep(_failed(loop, error, now(), "token request"))
        else:
            attempt_succeeded()
            return response


def _discover_once(
    issuer: str,
    get: Callable[[str], tuple[int, bytes]],
    *,
    allow_insecure_loopback: bool,
) -> Discovery:
    """Try the OpenID Connect URL, then the RFC 8414 one. A retryable failure
    is raised at once (the retry loop asks again); otherwise the next URL is
    tried, and the first failure is raised when none works."""
    first: DiscoveryError | None = None
    for url in discovery_urls(issuer, allow_insecure_loopback=allow_insecure_loopback):
        try:
            return _read_discovery(url, *get(url), issuer, allow_insecure_loopback)
        except DiscoveryError as error:
            if error.retryable:
                raise
            first = first or error
    assert first is not None
    raise first


def _read_discovery(
    url: str, status: int, body: bytes, issuer: str, allow_insecure_loopback: bool
) -> Discovery:
    if status != 200:
        raise DiscoveryError(
            f"discovery request to {redact_url(url)} answered HTTP {status}",
            status=status,
            retryable=is_retryable_status(status),
        )
    return parse_discovery(body, issuer=issuer, allow_insecure_loopback=allow_insecure_loopback)


def _getter(
    *, http: HttpOptions | None, allow_insecure_loopback: bool
) -> Callable[[str], tuple[int, bytes]]:
    def get(url: str) -> tuple[int, bytes]:
        return get_json(
            url,
            http=http,
            allow_insecure_loopback=allow_insecure_loopback,
        )

    return get


def discover(
    issuer: str,
    *,
    now: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> Discovery:
    """Read ``issuer``'s metadata (OpenID Connect Discovery, then RFC 8414),
    with Kafka's retries; raises the first :class:`DiscoveryError`."""
    get = _getter(
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    discovery_urls(issuer, allow_insecure_loopback=allow_insecure_loopback)  # refuse bad ones now
    loop: RetryLoop[DiscoveryError] = RetryLoop(retry, started=now())
    while True:
        try:
            return _discover_once(issuer, get, allow_insecure_loopback=allow_insecure_loopback)
        except DiscoveryError as error:
            sleep(_failed(loop, error, now(), "discovery request"))


async def discover_async(
    issuer: str,
    *,
    now: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> Discovery:
    """:func:`discover` for asyncio: each attempt runs in a worker thread."""
    get = _getter(
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    discovery_urls(issuer, allow_insecure_loopback=allow_insecure_loopback)
    loop: RetryLoop[DiscoveryError] = RetryLoop(retry, started=now())
    while True:
        try:
            return await asyncio.to_thread(
                _discover_once, issuer, get, allow_insecure_loopback=allow_insecure_loopback
            )
        except DiscoveryError as error:
            await sleep(_failed(loop, error, now(), "discovery request"))
