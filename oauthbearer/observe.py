"""Observability: the loggers' names, a typed metrics hook, and a validator that reports.

Theory of operation
-------------------
The shells (token providers, the JWKS refresher, the broker, the adapters) log
what they do on stdlib loggers named by area (:data:`LOGGERS`), and report
counters and timings to one process-wide :class:`Hooks` object, installed with
:func:`install_hooks`. Nothing is installed by default: a report then costs a
global lookup and a comparison with ``None``.

A hook is the user's code, and it must never break ours: :func:`count` and
:func:`timing` call it inside ``try``; an exception is logged once per hook
method on the ``oauthbearer.hooks`` logger (with its traceback) and swallowed,
and the caller goes on as if nothing had happened.

The pure modules report nothing themselves: they return what a shell needs
(the kids a JWKS refresh added and removed, a cache's hit counters) or call a
callback the shell gave them. :class:`ObservedValidator` is the shell around
any :class:`~oauthbearer.token.TokenValidator`: it times each call, counts it
by outcome, status and reason, and logs it at DEBUG. A token is never logged:
:func:`token_id` names one by a short SHA-256 prefix.

What no line and no label ever carries: a token, a client secret, an
assertion, a private key, an ``Authorization`` header, or a password in a URL
(:func:`~oauthbearer.http.urls.redact_url` removes it). A value a peer chose
(a principal, a kid, an error description) is escaped with
:func:`~oauthbearer.kafka.peer_text` before it reaches a log line.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Protocol

from oauthbearer._text import peer_text
from oauthbearer.errors import InvalidToken

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from oauthbearer.token import OAuthBearerToken, TokenValidator

__all__ = [
    "LOGGERS",
    "Hooks",
    "Metric",
    "ObservedValidator",
    "RecordingHooks",
    "Timing",
    "count",
    "install_hooks",
    "installed_hooks",
    "log_text",
    "timing",
    "token_id",
]

#: The loggers, by name, and what each one reports (docs/observability.md has
#: the lines and their levels).
LOGGERS: Final = {
    "oauthbearer.login": "token fetches, retries, refresh schedule, failures, recovery",
    "oauthbearer.jwks": "JWKS refreshes (kids added and removed), unknown kids, failures",
    "oauthbearer.validation": "each validation's outcome and reason (DEBUG)",
    "oauthbearer.introspection": "introspection calls and their failures",
    "oauthbearer.kafka.broker": "the broker emulator: listeners, connections, refusals",
    "oauthbearer.integrations": "the client adapters, one child logger per adapter",
    "oauthbearer.hooks": "a metrics hook that raised (once per hook method)",
}

#: Hex digits of SHA-256 that name a token in a log line: enough to tell
#: tokens apart in one log, far too few to help guess one.
TOKEN_ID_LENGTH: Final = 12


class Metric(enum.StrEnum):
    """Counters, with the labels each one carries."""

    #: One HTTP attempt at a token endpoint. ``outcome``: ``ok`` or ``failed``.
    TOKEN_FETCH_ATTEMPTS = "oauthbearer_token_fetch_attempts"
    #: A token provider's fetch (all its retries). ``outcome``: ``ok``,
    #: ``failed`` or ``recovered`` (the first success after failures).
    TOKEN_REFRESHES = "oauthbearer_token_refreshes"
    #: A token provider served its last good token while refreshes failed.
    LAST_GOOD_TOKEN_SERVED = "oauthbearer_last_good_token_served"
    #: A JWKS refresh (all its retries). ``outcome``: ``ok`` or ``failed``.
    JWKS_REFRESHES = "oauthbearer_jwks_refreshes"
    #: A key lookup in a refreshing JWKS. ``result``: ``hit`` or ``miss``
    #: (a miss is a kid the set does not hold, or no key for the algorithm).
    JWKS_LOOKUPS = "oauthbearer_jwks_lookups"
    #: A validation. ``outcome``: ``accepted`` or ``refused``; ``status``: the
    #: RFC 7628 status (empty when accepted); ``reason``: the refusal's reason
    #: code, a :class:`~oauthbearer.errors.TokenReason` (empty when accepted).
    VALIDATIONS = "oauthbearer_validations"
    #: A lookup in a validator's verified-token cache. ``result``: ``hit`` or ``miss``.
    VERIFIED_CACHE_LOOKUPS = "oauthbearer_verified_cache_lookups"


class Timing(enum.StrEnum):
    """Durations, in seconds, with the labels each one carries."""

    #: A token provider's fetch, retries included. ``outcome``: ``ok`` or ``failed``.
    TOKEN_FETCH = "oauthbearer_token_fetch_seconds"
    #: A JWKS refresh, retries included. ``outcome``: ``ok`` or ``failed``.
    JWKS_FETCH = "oauthbearer_jwks_fetch_seconds"
    #: A validation. ``outcome``: ``accepted`` or ``refused``.
    VALIDATION = "oauthbearer_validation_seconds"


class Hooks(Protocol):
    """What a metrics backend implements: two methods, called from any thread.

    ``labels`` is a small mapping of label names to values, the same names for
    every call of one metric (see :class:`Metric` and :class:`Timing`).
    """

    def count(self, metric: Metric, value: int, labels: Mapping[str, str]) -> None:
        """Add ``value`` (at least 1) to the counter ``metric`` with ``labels``."""

    def timing(self, metric: Timing, seconds: float, labels: Mapping[str, str]) -> None:
        """Record one duration of ``metric`` with ``labels``."""


_HOOKS_LOG: Final = logging.getLogger("oauthbearer.hooks")
_installed: Hooks | None = None
_reported: set[tuple[int, str]] = set()  # (id of the hooks object, method) already logged
_reported_lock: Final = threading.Lock()


def install_hooks(hooks: Hooks | None) -> Hooks | None:
    """Make ``hooks`` the process's metrics hooks (``None``: none), returning
    the previous ones so that a test can put them back."""
    global _installed  # the one process-wide setting, as logging's root logger
    previous, _installed = _installed, hooks
    return previous


def installed_hooks() -> Hooks | None:
    """The hooks :func:`install_hooks` installed, if any."""
    return _installed


def _hook_failed(hooks: Hooks, method: str, error: Exception) -> None:
    key = (id(hooks), method)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    _HOOKS_LOG.error(
        "metrics hook %s.%s raised %s; ignored (reported once)",
        type(hooks).__name__,
        method,
        type(error).__name__,
        exc_info=error,
    )


def count(metric: Metric, value: int = 1, **labels: str) -> None:
    """Report to the installed hooks, if any; a hook's exception is logged once
    and swallowed."""
    hooks = _installed
    if hooks is None:
        return
    try:
        hooks.count(metric, value, labels)
    except Exception as error:  # noqa: BLE001 - a hook never breaks the caller
        _hook_failed(hooks, "count", error)


def timing(metric: Timing, seconds: float, **labels: str) -> None:
    """:func:`count` for a duration."""
    hooks = _installed
    if hooks is None:
        return
    try:
        hooks.timing(metric, seconds, labels)
    except Exception as error:  # noqa: BLE001 - a hook never breaks the caller
        _hook_failed(hooks, "timing", error)


def token_id(token: str) -> str:
    """A token's name for a log line: the first :data:`TOKEN_ID_LENGTH` hex
    digits of its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:TOKEN_ID_LENGTH]


def log_text(value: object) -> str:
    """A value a peer chose, quoted and escaped for a log line
    (:func:`~oauthbearer.kafka.peer_text`)."""
    return f"'{peer_text(str(value))}'"


class RecordingHooks:
    """:class:`Hooks` that keep totals in dictionaries: for tests, a health
    endpoint, or a bridge that reads them on scrape. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: ``(metric, sorted labels) -> total``.
        self.counts: dict[tuple[Metric, tuple[tuple[str, str], ...]], int] = {}
        #: ``(metric, sorted labels) -> durations``, in call order.
        self.timings: dict[tuple[Timing, tuple[tuple[str, str], ...]], list[float]] = {}

    def count(self, metric: Metric, value: int, labels: Mapping[str, str]) -> None:
        key = (metric, tuple(sorted(labels.items())))
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + value

    def timing(self, metric: Timing, seconds: float, labels: Mapping[str, str]) -> None:
        key = (metric, tuple(sorted(labels.items())))
        with self._lock:
            self.timings.setdefault(key, []).append(seconds)

    def total(self, metric: Metric, **labels: str) -> int:
        """The sum of ``metric``'s counters whose labels include ``labels``."""
        wanted = set(labels.items())
        with self._lock:
            return sum(
                value
                for (name, keys), value in self.counts.items()
                if name == metric and wanted <= set(keys)
            )


_VALIDATION_LOG: Final = logging.getLogger("oauthbearer.validation")
_DEBUG: Final = logging.DEBUG


class ObservedValidator:
    """A :class:`~oauthbearer.token.TokenValidator` that reports each call of
    ``validator``: a :data:`Metric.VALIDATIONS` count by outcome, status and
    reason, a :data:`Timing.VALIDATION`, the hits and misses of its
    verified-token cache (when it has one, as
    :class:`~oauthbearer.validation.jwt.JwtValidator` with ``cache_size``), and
    a DEBUG line on ``oauthbearer.validation`` naming the token by
    :func:`token_id`. The verdict, and any exception, pass through unchanged.

    ``clock`` times the calls (a monotonic clock, a parameter for tests).
    """

    __slots__ = ("_cache", "_clock", "_seen", "_seen_lock", "_validate", "validator")

    def __init__(
        self, validator: TokenValidator, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.validator = validator
        self._validate = validator.validate
        self._clock = clock
        self._cache: Any = getattr(validator, "cache", None)
        self._seen = (0, 0)  # the cache's (hits, misses) already reported
        self._seen_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ObservedValidator({self.validator!r})"

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """``validator.validate(token, now=now)``, reported."""
        if _installed is None and not _VALIDATION_LOG.isEnabledFor(_DEBUG):
            return self._validate(token, now=now)  # nothing to report: the fast path
        started = self._clock()
        try:
            result = self._validate(token, now=now)
        except InvalidToken as error:
            self._report(token, started, error)
            raise
        self._report(token, started, None)
        return result

    def _report(self, token: str, started: float, error: InvalidToken | None) -> None:
        if _installed is not None:
            elapsed = self._clock() - started
            if error is None:
                count(Metric.VALIDATIONS, outcome="accepted", status="", reason="")
                timing(Timing.VALIDATION, elapsed, outcome="accepted")
            else:
                count(
                    Metric.VALIDATIONS,
                    outcome="refused",
                    status=error.status,
                    reason=error.reason.value,
                )
                timing(Timing.VALIDATION, elapsed, outcome="refused")
            if self._cache is not None:
                self._report_cache()
        if _VALIDATION_LOG.isEnabledFor(logging.DEBUG):
            if error is None:
                _VALIDATION_LOG.debug("token %s accepted", token_id(token))
            else:
                _VALIDATION_LOG.debug(
                    "token %s refused: %s (%s)",
                    token_id(token),
                    error.status,
                    peer_text(str(error)),
                )

    def _report_cache(self) -> None:
        """Report the cache's counters grown since the last report: every hit
        and miss is reported once, by whichever call sees it first."""
        cache = self._cache
        with self._seen_lock:
            hits, misses = cache.hits, cache.misses
            seen_hits, seen_misses = self._seen
            self._seen = (hits, misses)
        if hits > seen_hits:
            count(Metric.VERIFIED_CACHE_LOOKUPS, hits - seen_hits, result="hit")
        if misses > seen_misses:
            count(Metric.VERIFIED_CACHE_LOOKUPS, misses - seen_misses, result="miss")
