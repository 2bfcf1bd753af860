"""A refreshing JWKS: the bookkeeping of Kafka's ``RefreshingHttpsJwks``, without the I/O.

Theory of operation
-------------------
A validator asks :meth:`JwksCache.keys_for` for the keys that may check a token.
The cache answers from the last key set it was given and never fetches: a shell
(:mod:`oauthbearer.validation.jwks_fetch`) does that, asking :meth:`JwksCache.refresh_due`
when to, and reporting back with :meth:`JwksCache.update` or
:meth:`JwksCache.failed`. The rules are Kafka's broker's:

* the key set is refreshed every ``refresh_interval_s`` (Kafka's
  ``sasl.oauthbearer.jwks.endpoint.refresh.ms``, one hour);
* a token whose ``kid`` is not in the set fails, and asks for an expedited
  refresh, at most once per kid per ``missing_kid_interval_s`` (60 s), with at
  most ``max_missing_kids`` (16) kids remembered and kids longer than
  ``max_kid_length`` (1000 characters) ignored, so that a client inventing kids
  cannot make the server hammer its identity provider;
* and, a deliberate strengthening over Kafka, expedited refreshes are at least
  ``min_expedite_interval_s`` (5 s) apart, whatever the kid: Kafka's rule is
  per kid and remembers 16, so a client inventing a new kid per token made
  Kafka's rule allow one fetch per token (2,000 kids, 1,999 fetches in 12 s).
  A kid that the cap turns away is not remembered, so it may ask again;
  0 turns the cap off;
* a failed refresh keeps the last good keys; only a cache that never had keys
  has nothing to offer.

The clock is passed in, as is a lock (any context manager: a shell passes a
``threading.Lock``) and a callback that wakes the shell's refresher when an
expedited refresh is wanted. What a shell logs and counts comes back to it:
:meth:`JwksCache.update` returns the kids added and removed
(:class:`KeySetChange`), and two optional callbacks hear of each lookup
(``on_lookup``) and of each unknown kid and whether it expedited a refresh
(``on_unknown_kid``). This module is pure: it imports no clock, thread or
socket.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, Final

from oauthbearer.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from oauthbearer.validation.jwks import JsonWebKey, JsonWebKeySet

__all__ = [
    "DEFAULT_REFRESH_INTERVAL_S",
    "MAX_MISSING_KIDS",
    "MIN_EXPEDITE_INTERVAL_S",
    "MISSING_KID_INTERVAL_S",
    "JwksCache",
    "JwksRefreshPolicy",
    "KeySetChange",
]

#: Kafka's ``sasl.oauthbearer.jwks.endpoint.refresh.ms`` default, in seconds.
DEFAULT_REFRESH_INTERVAL_S: Final = 3600.0
#: Kafka's MISSING_KEY_ID_CACHE_IN_FLIGHT_MS: one expedited refresh per kid per minute.
MISSING_KID_INTERVAL_S: Final = 60.0
#: Kafka's MISSING_KEY_ID_CACHE_MAX_ENTRIES: unknown kids remembered at once.
MAX_MISSING_KIDS: Final = 16
#: Kafka's MISSING_KEY_ID_MAX_KEY_LENGTH: longer kids never trigger a refresh.
MAX_KID_LENGTH: Final = 1000
#: Our global cap, beyond Kafka: expedited refreshes at least this many seconds
#: apart, so that unknown kids cannot drive more than 12 fetches a minute.
MIN_EXPEDITE_INTERVAL_S: Final = 5.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JwksRefreshPolicy:
    """When a :class:`JwksCache` wants fresh keys; Kafka's values by default."""

    refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S
    missing_kid_interval_s: float = MISSING_KID_INTERVAL_S
    max_missing_kids: int = MAX_MISSING_KIDS
    max_kid_length: int = MAX_KID_LENGTH
    min_expedite_interval_s: float = MIN_EXPEDITE_INTERVAL_S

    def __post_init__(self) -> None:
        value = self.min_expedite_interval_s
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ConfigurationError(
                "JwksRefreshPolicy.min_expedite_interval_s must be a number >= 0"
            )
        for name in ("refresh_interval_s", "missing_kid_interval_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"JwksRefreshPolicy.{name} must be a number > 0")
        for name in ("max_missing_kids", "max_kid_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"JwksRefreshPolicy.{name} must be an int >= 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KeySetChange:
    """What a refresh changed: the kids added and removed (sorted; keys without
    a kid are not named), and how many keys the set now holds."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    keys: int

    @classmethod
    def between(cls, old: JsonWebKeySet | None, new: JsonWebKeySet) -> KeySetChange:
        """The change from ``old`` (``None``: no keys yet) to ``new``."""
        before = set() if old is None else {key.kid for key in old.keys if key.kid is not None}
        after = {key.kid for key in new.keys if key.kid is not None}
        return cls(
            added=tuple(sorted(after - before)),
            removed=tuple(sorted(before - after)),
            keys=len(new),
        )


class JwksCache:
    """The current key set, and when it should be refreshed.

    A :class:`~oauthbearer.validation.jwks.KeySource`, so a
    :class:`~oauthbearer.validation.jwt.JwtValidator` can use it directly.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        policy: JwksRefreshPolicy | None = None,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        on_expedite: Callable[[], None] | None = None,
        on_lookup: Callable[[bool], None] | None = None,
        on_unknown_kid: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._on_lookup = on_lookup
        self._on_unknown_kid = on_unknown_kid
        self._clock = clock
        self._policy = policy or JwksRefreshPolicy()
        self._lock: contextlib.AbstractContextManager[Any] = lock or contextlib.nullcontext()
        self._on_expedite = on_expedite
        self._keys: JsonWebKeySet | None = None
        self._next_refresh = 0.0  # refresh at once: there are no keys yet
        self._expedite = False
        # kid -> the time before which it may not ask again; oldest first.
        self._missing: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._last_expedite: float | None = None
        self._last_error: BaseException | None = None
        self._refreshed_at: float | None = None

    def __repr__(self) -> str:
        count = 0 if self._keys is None else len(self._keys)
        return f"<JwksCache keys={count} refreshed_at={self._refreshed_at}>"

    # -- what validators see --

    def keys_for(
        self, kid: str | None, alg: str, *, honour_jwk_alg: bool = True
    ) -> tuple[JsonWebKey, ...]:
        """The keys for a token; an unknown ``kid`` may ask for an expedited refresh.

        ``honour_jwk_alg``: see :meth:`oauthbearer.validation.jwks.JsonWebKeySet.keys_for`.
        """
        keys = self._keys
        if keys is None:
            found: tuple[JsonWebKey, ...] = ()
        else:
            found = keys.keys_for(kid, alg, honour_jwk_alg=honour_jwk_alg)
            if not found and kid is not None and all(key.kid != kid for key in keys.keys):
                expedited = self._missing_kid(kid)
                if self._on_unknown_kid is not None:
                    self._on_unknown_kid(kid, expedited)
        if self._on_lookup is not None:
            self._on_lookup(bool(found))
        return found

    @property
    def key_set(self) -> JsonWebKeySet | None:
        """The keys in use, or ``None`` before the first successful refresh."""
        return self._keys

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last refresh, if it failed (the keys in use are older)."""
        return self._last_error

    # -- what the refreshing shell sees --

    def refresh_due(self) -> bool:
        """Whether a refresh should run now: never fetched, due, or expedited."""
        with self._lock:
            return self._expedite or self._clock() >= self._next_refresh

    def seconds_until_refresh(self) -> float:
        """How long the shell may sleep before the next periodic refresh."""
        with self._lock:
            if self._expedite:
                return 0.0
            return max(self._next_refresh - self._clock(), 0.0)

    def update(self, keys: JsonWebKeySet) -> KeySetChange:
        """A refresh succeeded: use ``keys`` until the next one. Returns what changed."""
        with self._lock:
            now = self._clock()
            change = KeySetChange.between(self._keys, keys)
            self._keys = keys
            self._refreshed_at = now
            self._last_error = None
            self._expedite = False
            self._next_refresh = now + self._policy.refresh_interval_s
        return change

    def failed(self, error: BaseException) -> None:
        """A refresh failed: keep the last good keys and try again next period."""
        with self._lock:
            self._last_error = error
            self._expedite = False
            self._next_refresh = self._clock() + self._policy.refresh_interval_s

    # -- internals --

    def _missing_kid(self, kid: str) -> bool:
        """Note an unknown kid; whether it expedited a refresh."""
        policy = self._policy
        if len(kid) > policy.max_kid_length or policy.max_missing_kids == 0:
            return False
        with self._lock:
            now = self._clock()
            not_before = self._missing.get(kid)
            if not_before is not None and now < not_before:
                self._missing.move_to_end(kid)
                return False
            last = self._last_expedite
            if last is not None and now < last + policy.min_expedite_interval_s:
                return False  # the global cap; the kid is not remembered, so it may ask again
            self._last_expedite = now
            self._missing[kid] = now + policy.missing_kid_interval_s
            self._missing.move_to_end(kid)
            while len(self._missing) > policy.max_missing_kids:
                self._missing.popitem(last=False)
            self._expedite = True
        if self._on_expedite is not None:
            self._on_expedite()
        return True
