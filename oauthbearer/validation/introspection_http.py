"""IntrospectionValidator: RFC 7662 introspection over HTTP, with a cache (shell).

:mod:`oauthbearer.validation.introspection` builds the request, reads the answer and
decides what to cache; this module sends the request through
:func:`oauthbearer.http.transport.http_request` (the URL policy, a deadline per
attempt, no redirect for a POST), retries as Kafka does within a short budget
(:data:`DEFAULT_RETRY`), and owns what needs a lock:

* the cache (:class:`~oauthbearer.validation.introspection.IntrospectionCache`), behind one lock;
* **one request in flight per token**: a second caller for a token being
  introspected waits for the first one's answer rather than send its own;
* **a cap on concurrent requests** to the provider (``max_concurrent_requests``,
  :data:`DEFAULT_MAX_CONCURRENT_REQUESTS`): a caller that cannot get a slot
  within the deadline of one attempt (``http.timeout_s``) gets a retryable
  :class:`~oauthbearer.validation.introspection.IntrospectionError`.

:meth:`IntrospectionValidator.validate` is synchronous (a
:class:`~oauthbearer.token.TokenValidator`); :meth:`IntrospectionValidator.avalidate`
is its coroutine twin for :class:`~oauthbearer.session.ServerSession`'s
token-received mode: a cache hit is answered in the event loop, a miss runs the
request in a worker thread (one per token, however many coroutines ask).

Log lines (``oauthbearer.validation.introspection``) name the endpoint (redacted) and the
first 8 hex digits of the token's SHA-256, never the token.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ConfigurationError, InvalidToken
from oauthbearer.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from oauthbearer.http.retry import RetryLoop, RetryPolicy
from oauthbearer.http.transport import HttpError
from oauthbearer.http.urls import check_url, redact_url
from oauthbearer.login.grants import load_private_key, make_assertion
from oauthbearer.validation.introspection import (
    INTROSPECTION_AUTH_METHODS,
    MAX_INTROSPECTION_RESPONSE_SIZE,
    IntrospectionAuthMethod,
    IntrospectionCache,
    IntrospectionError,
    IntrospectionRequest,
    IntrospectionRules,
    check_token,
    introspection_request,
    parse_introspection_response,
    token_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from oauthbearer.token import OAuthBearerToken

__all__ = [
    "DEFAULT_MAX_CONCURRENT_REQUESTS",
    "DEFAULT_RETRY",
    "IntrospectionValidator",
    "post_introspection",
]

log = logging.getLogger("oauthbearer.introspection")

#: Requests to the provider at once, from one validator: enough for a burst of
#: logins with distinct tokens, few enough not to look like an attack to a
#: provider that rate-limits (Okta answers 429 past its per-minute quota).
DEFAULT_MAX_CONCURRENT_REQUESTS: Final = 8
#: Retries within 2 s: a client is waiting for its authentication, and Kafka's
#: clients time a SASL exchange out after ``request.timeout.ms`` (30 s); 100 ms
#: doubling, as Kafka's own retry.
DEFAULT_RETRY: Final = RetryPolicy(backoff_s=0.1, budget_s=2.0)


def post_introspection(
    request: IntrospectionRequest,
    *,
    http: HttpOptions | None = None,
    allow_insecure_loopback: bool = False,
) -> tuple[int, bytes]:
    """POST ``request`` once: the status and at most
    :data:`~oauthbearer.validation.introspection.MAX_INTROSPECTION_RESPONSE_SIZE` + 1
    bytes of body. A failed attempt raises an
    :class:`~oauthbearer.validation.introspection.IntrospectionError`."""
    try:
        response = (http or DEFAULT_HTTP_OPTIONS).request(
            "POST",
            request.url,
            body=request.body,
            headers=dict(request.headers),
            allow_insecure_loopback=allow_insecure_loopback,
            max_size=MAX_INTROSPECTION_RESPONSE_SIZE,
            what="introspection request",
        )
    except HttpError as error:
        raise IntrospectionError(str(error), retryable=error.retryable) from None
    return response.status, response.body


class _Flight:
    """One request in flight for one token: the others wait for its verdict."""

    __slots__ = ("done", "verdict")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.verdict: OAuthBearerToken | InvalidToken | IntrospectionError | None = None


class IntrospectionValidator:
    """A :class:`~oauthbearer.token.TokenValidator` that asks an RFC 7662
    introspection endpoint, and caches the answers.

    ``endpoint`` is the introspection URL (https; http to a loopback address
    with ``allow_insecure_loopback``). The validator authenticates as
    ``client_id`` with ``client_secret`` (``auth_method``
    ``client_secret_basic``, the default, or ``client_secret_post``) or with
    ``private_key`` (``private_key_jwt``: an assertion of ``assertion_lifetime_s``
    signed with ``assertion_algorithm``, ``aud`` ``assertion_audience``, by
    default the endpoint URL). ``rules`` checks the answer, ``cache`` keeps it
    (``None``: the defaults; pass ``IntrospectionCache(max_entries=0)`` for
    none). ``http`` gives the trust (a CA file or an SSL context), the deadline
    of one attempt and the transport (:class:`~oauthbearer.http.options.HttpOptions`);
    ``transport`` replaces :func:`post_introspection` altogether (tests);
    ``monotonic`` and ``sleep`` time and wait the retries.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        auth_method: IntrospectionAuthMethod | None = None,
        private_key: bytes | str | PrivateKeyTypes | None = None,
        assertion_algorithm: str = "RS256",
        assertion_audience: str | None = None,
        assertion_lifetime_s: int = 60,
        kid: str | None = None,
        rules: IntrospectionRules | None = None,
        cache: IntrospectionCache | None = None,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        http: HttpOptions | None = None,
        allow_insecure_loopback: bool = False,
        transport: Callable[[IntrospectionRequest], tuple[int, bytes]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._endpoint = check_url(
            endpoint,
            option="introspection endpoint",
            allow_insecure_loopback=allow_insecure_loopback,
        )
        if auth_method is None:
            auth_method = "private_key_jwt" if private_key is not None else "client_secret_basic"
        if auth_method not in INTROSPECTION_AUTH_METHODS:
            raise ConfigurationError(
                f"IntrospectionValidator: auth_method must be one of "
                f"{', '.join(INTROSPECTION_AUTH_METHODS)}"
            )
        self._auth_method: IntrospectionAuthMethod = auth_method
        self._client_id = client_id
        self._client_secret = client_secret
        self._key: PrivateKeyTypes | None = None
        if auth_method == "private_key_jwt":
            if private_key is None:
                raise ConfigurationError(
                    "IntrospectionValidator: private_key_jwt needs private_key"
                )
            if assertion_algorithm not in ("RS256", "ES256"):
                raise ConfigurationError(
                    "IntrospectionValidator: assertion_algorithm must be RS256 or ES256"
                )
            self._key = load_private_key(private_key, None)
        elif client_secret is None:
            raise ConfigurationError(f"IntrospectionValidator: {auth_method} needs client_secret")
        self._assertion_algorithm = assertion_algorithm
        self._assertion_audience = assertion_audience or self._endpoint
        self._assertion_lifetime_s = assertion_lifetime_s
        self._kid = kid
        self._rng = rng or random.SystemRandom()
        # The request is built once here, so that a bad option fails now, not at the first login.
        self._request("probe", now=0.0)
        self.rules = rules or IntrospectionRules()
        self.cache = IntrospectionCache() if cache is None else cache
        if (
            isinstance(max_concurrent_requests, bool)
            or not isinstance(max_concurrent_requests, int)
            or max_concurrent_requests < 1
        ):
            raise ConfigurationError(
                "IntrospectionValidator: max_concurrent_requests must be an int >= 1"
            )
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)
        self._retry = retry
        self._http = http or DEFAULT_HTTP_OPTIONS
        self._timeout_s = self._http.deadline_s()
        self._allow_insecure_loopback = allow_insecure_loopback
        self._transport = transport
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._flights: dict[bytes, _Flight] = {}
        self._async_flights: dict[bytes, asyncio.Future[OAuthBearerToken]] = {}
        #: Requests sent to the provider (attempts, retries included).
        self.requests_sent = 0
        #: Cache misses answered by another caller's request in flight.
        self.requests_joined = 0

    def __repr__(self) -> str:
        return (
            f"IntrospectionValidator({redact_url(self._endpoint)!r}, "
            f"client_id={self._client_id!r}, auth_method={self._auth_method!r}, "
            f"cache={self.cache!r})"
        )

    # -- requests --

    def _request(self, token: str, *, now: float) -> IntrospectionRequest:
        assertion = None
        if self._key is not None:
            assertion = make_assertion(
                self._key,
                algorithm="ES256" if self._assertion_algorithm == "ES256" else "RS256",
                issuer=self._client_id,
                subject=self._client_id,
                audience=self._assertion_audience,
                now=max(now, 0.0),
                lifetime_s=self._assertion_lifetime_s,
                random=self._rng,
                kid=self._kid,
            )
        return introspection_request(
            self._endpoint,
            token,
            client_id=self._client_id,
            client_secret=self._client_secret,
            auth_method=self._auth_method,
            assertion=assertion,
        )

    def _send(self, request: IntrospectionRequest) -> tuple[int, bytes]:
        if self._transport is not None:
            return self._transport(request)
        return post_introspection(
            request,
            http=self._http,
            allow_insecure_loopback=self._allow_insecure_loopback,
        )

    def _attempt(self, token: str, now: float) -> OAuthBearerToken:
        """One request, within a slot of the concurrency cap."""
        if not self._slots.acquire(timeout=self._timeout_s):
            raise IntrospectionError(
                f"no introspection slot free within {self._timeout_s:g} s "
                "(max_concurrent_requests reached)",
                retryable=True,
            )
        try:
            request = self._request(token, now=now)
            with self._lock:
                self.requests_sent += 1
            status, body = self._send(request)
        finally:
            self._slots.release()
        return parse_introspection_response(
            status, body, token=token, now=now, rules=self.rules, request=request
        )

    def _introspect(self, token: str, now: float, shown: str) -> OAuthBearerToken:
        """Ask the provider, retrying within the budget; raises InvalidToken or
        the first IntrospectionError."""
        loop: RetryLoop[IntrospectionError] = RetryLoop(self._retry, started=self._monotonic())
        while True:
            try:
                return self._attempt(token, now)
            except IntrospectionError as error:
                if self._retry is None:
                    raise
                # Raises the first error when the loop is over; the caller reports it.
                wait = loop.failed(error, retryable=error.retryable, now=self._monotonic())
                log.warning(
                    "introspection of token %s failed, retrying in %.2f s: %s", shown, wait, error
                )
                self._sleep(wait)

    # -- validation --

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """Judge ``token`` at ``now`` (epoch seconds): from the cache, or by
        asking the provider (one request per token at a time). Raises
        :class:`~oauthbearer.errors.InvalidToken` to refuse and
        :class:`~oauthbearer.validation.introspection.IntrospectionError` when the
        provider could not be asked (never cached, never a grant)."""
        check_token(token)
        key = token_key(token)
        with self._lock:
            cached = self.cache.get(key, now=now)
            flight = None if cached is not None else self._flights.get(key)
            leader = cached is None and flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            elif cached is None:
                self.requests_joined += 1
        if cached is not None:
            return _verdict(cached)
        assert flight is not None
        if not leader:
            budget = self._timeout_s + (0.0 if self._retry is None else self._retry.budget_s)
            if not flight.done.wait(budget + self._timeout_s):
                raise IntrospectionError(
                    "the introspection of this token by another caller did not finish in time",
                    retryable=True,
                )
            assert flight.verdict is not None
            return _verdict(flight.verdict)
        shown = key.hex()[:8]
        verdict: OAuthBearerToken | InvalidToken | IntrospectionError
        try:
            verdict = self._introspect(token, now, shown)
        except (InvalidToken, IntrospectionError) as error:
            verdict = error
        except BaseException:
            with self._lock:
                del self._flights[key]
            flight.verdict = IntrospectionError(
                "the introspection failed unexpectedly", retryable=True
            )
            flight.done.set()
            raise
        with self._lock:
            if not isinstance(verdict, IntrospectionError):
                self.cache.put(key, verdict, now=now)
            del self._flights[key]
        flight.verdict = verdict
        flight.done.set()
        if isinstance(verdict, InvalidToken):
            log.info("introspection refused token %s: %s", shown, verdict.detail)
        return _verdict(verdict)

    async def avalidate(self, token: str, *, now: float) -> OAuthBearerToken:
        """:meth:`validate` in a coroutine: a cache hit is answered at once; a
        miss runs in a worker thread, one per token however many coroutines
        ask for it at once (they share its verdict)."""
        check_token(token)
        key = token_key(token)
        with self._lock:
            cached = self.cache.get(key, now=now)
        if cached is not None:
            return _verdict(cached)
        pending = self._async_flights.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[OAuthBearerToken] = asyncio.get_running_loop().create_future()
        self._async_flights[key] = future
        try:
            result = await asyncio.to_thread(self.validate, token, now=now)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(result)
        finally:
            del self._async_flights[key]
        return result


def _verdict(verdict: OAuthBearerToken | InvalidToken | IntrospectionError) -> OAuthBearerToken:
    """The token, or a fresh copy of the refusal or failure raised: one
    exception object raised in several threads would share its traceback."""
    if isinstance(verdict, InvalidToken):
        raise InvalidToken(
            verdict.status,
            reason=verdict.reason,
            scope=verdict.scope,
            openid_configuration=verdict.openid_configuration,
            detail=verdict.detail,
        )
    if isinstance(verdict, IntrospectionError):
        raise IntrospectionError(str(verdict), status=verdict.status, retryable=verdict.retryable)
    return verdict
