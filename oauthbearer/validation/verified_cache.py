"""A bounded cache of tokens whose signature and claims were already checked.

Theory of operation
-------------------
A reconnect storm (a broker restart, a client fleet re-authenticating on
KIP-368's schedule) presents the same tokens again and again; each full check
costs a signature verification. :class:`VerifiedTokenCache` remembers the
negotiated token for a token already accepted, keyed by the SHA-256 digest of
the token, so a repeat costs a hash and a lookup. An entry stops answering when:

* its token expires, by the same rule the validator applies (``now - skew``
  reaching ``exp``); the full check then refuses the token with its own reason;
* the key that verified it leaves the key set: after a JWKS refresh the entry
  confirms once, by RFC 7638 thumbprint, that the key is still offered;
* it is the oldest entry and room is needed (``max_entries``).

Only accepted tokens are cached: a refusal is always checked in full. A cache
belongs to one validator, whose configuration (audience, issuer, ...) its
answers reflect; :class:`~oauthbearer.validation.jwt.JwtValidator` creates its own when
given ``cache_size``. The entries are an :class:`collections.OrderedDict`, so
evicting the oldest is O(1) and an insert into a full cache costs the same at
any size; its operations are atomic under the interpreter lock, and eviction
tolerates a concurrent writer, so threads may share it without a lock.

This module is pure: the time is the ``now`` each call passes in.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import TYPE_CHECKING, Final

from oauthbearer.errors import ConfigurationError

if TYPE_CHECKING:
    from oauthbearer.token import OAuthBearerToken
    from oauthbearer.validation.jwks import JsonWebKey, KeySource

__all__ = ["VerifiedTokenCache"]

#: An upper bound for ``max_entries``. An entry keeps the token's text and its
#: claims: measured, about 2.9 KB of resident memory per entry for a 922-byte
#: RS256 token with 11 claims (2.6 KB of Python objects by ``tracemalloc``),
#: more for larger tokens; so this is about 3 GB, more than any server should keep.
MAX_CACHE_ENTRIES: Final = 1_000_000


@dataclasses.dataclass(slots=True)
class _Entry:
    token: OAuthBearerToken
    expires_at: float  # epoch seconds: the token's exp, floored to the millisecond
    kid: str | None
    alg: str
    key: JsonWebKey
    source: KeySource  # where the validator took the key from, for this alg
    key_set: object  # the key set the key was last seen in


def current_key_set(source: KeySource) -> object:
    """What identifies the keys a source offers now: a refreshing source exposes
    its current immutable set as ``key_set``; a static one is its own set."""
    return getattr(source, "key_set", source)


class VerifiedTokenCache:
    """Negotiated tokens by the digest of their value; see the module docstring."""

    __slots__ = ("_entries", "_max_entries", "hits", "misses")

    def __init__(self, max_entries: int) -> None:
        if (
            isinstance(max_entries, bool)
            or not isinstance(max_entries, int)
            or not 0 < max_entries <= MAX_CACHE_ENTRIES
        ):
            raise ConfigurationError(
                f"cache size must be an int from 1 to {MAX_CACHE_ENTRIES}, not {max_entries!r}"
            )
        self._max_entries = max_entries
        #: Lookups answered, and lookups that found nothing standing, so far:
        #: plain counters a shell reads (:class:`oauthbearer.observe.ObservedValidator`).
        self.hits = 0
        self.misses = 0
        self._entries: collections.OrderedDict[bytes, _Entry] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<VerifiedTokenCache {len(self._entries)}/{self._max_entries}>"

    def get(self, digest: bytes, now: float, skew: float) -> OAuthBearerToken | None:
        """The negotiated token for a token already accepted, if it still stands.

        This is the hit path, so it is kept short: an expiry test and an
        identity test of the key set in the common case.
        """
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        if now - skew >= entry.expires_at:
            self._entries.pop(digest, None)
            self.misses += 1
            return None
        source = entry.source
        current = getattr(source, "key_set", source)  # current_key_set(), inlined
        if current is not entry.key_set:
            if not _still_offered(entry, source):
                self._entries.pop(digest, None)
                self.misses += 1
                return None
            entry.key_set = current
        self.hits += 1
        return entry.token

    def put(
        self,
        digest: bytes,
        token: OAuthBearerToken,
        *,
        kid: str | None,
        alg: str,
        key: JsonWebKey,
        source: KeySource,
    ) -> None:
        """Remember an accepted token, evicting the oldest entry when full."""
        entries = self._entries
        while len(entries) >= self._max_entries:
            try:
                # O(1): a plain dict's first key is found by scanning past the
                # slots of every entry deleted since its last resize, which made
                # each eviction slower the longer a full cache ran (issue 14).
                entries.popitem(last=False)
            except KeyError:  # emptied by another thread
                break
        entries[digest] = _Entry(
            token=token,
            expires_at=token.lifetime_ms / 1000,
            kid=kid,
            alg=alg,
            key=key,
            source=source,
            key_set=current_key_set(source),
        )

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()


def _still_offered(entry: _Entry, source: KeySource) -> bool:
    """Whether the key that verified the entry is among the keys offered now."""
    key = entry.key
    for offered in source.keys_for(entry.kid, entry.alg):
        if offered is key or (key.thumbprint is not None and offered.thumbprint == key.thumbprint):
            return True
    return False
