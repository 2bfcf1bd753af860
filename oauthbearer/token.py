"""The negotiated token and the validator protocol.

Theory of operation
-------------------
A server turns the token string from the client's ``auth=`` pair into an
:class:`OAuthBearerToken` by calling a :class:`TokenValidator`. The token object
is what Kafka calls the negotiated property ``OAUTHBEARER.token``: the raw
value, the principal, the granted scope and the absolute expiry in epoch
milliseconds. Validators refuse a token by raising
:class:`~oauthbearer.errors.InvalidToken`, which the server session turns into
an RFC 7628 error challenge.

This module is pure: time reaches a validator as ``now`` (epoch seconds).
"""

from __future__ import annotations

import dataclasses
import types
from typing import TYPE_CHECKING, Any, Final, Protocol, Self, runtime_checkable

from oauthbearer._slots import slot_setters
from oauthbearer.errors import ArgumentTypeError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["OAuthBearerToken", "TokenValidator", "parse_scope"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OAuthBearerToken:
    """A validated bearer token, as Kafka's ``OAuthBearerToken`` describes it.

    ``lifetime_ms`` is the absolute expiry time in epoch milliseconds (Kafka's
    name for it), ``start_time_ms`` the time the token became valid, if known.
    The token value and the claims never appear in ``repr``.
    """

    value: str = dataclasses.field(repr=False)
    principal: str
    scope: frozenset[str] = frozenset()
    lifetime_ms: int
    start_time_ms: int | None = None
    claims: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}), repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise ArgumentTypeError("OAuthBearerToken.value must be a string")
        if not self.value:
            raise ConfigurationError("OAuthBearerToken.value must not be empty")
        if not isinstance(self.principal, str):
            raise ArgumentTypeError("OAuthBearerToken.principal must be a string")
        if not isinstance(self.lifetime_ms, int) or isinstance(self.lifetime_ms, bool):
            raise ArgumentTypeError("OAuthBearerToken.lifetime_ms must be an int (epoch ms)")
        if self.start_time_ms is not None and (
            not isinstance(self.start_time_ms, int) or isinstance(self.start_time_ms, bool)
        ):
            raise ArgumentTypeError("OAuthBearerToken.start_time_ms must be an int or None")
        scope: Iterable[object] = self.scope
        if not isinstance(scope, frozenset):
            object.__setattr__(self, "scope", frozenset(scope))
        if not all(isinstance(s, str) for s in self.scope):
            raise ArgumentTypeError("OAuthBearerToken.scope must hold strings")
        if not isinstance(self.claims, types.MappingProxyType):
            object.__setattr__(self, "claims", types.MappingProxyType(dict(self.claims)))

    @classmethod
    def _checked_by_validator(  # noqa: PLR0917 - the token's fields, in order
        cls,
        value: str,
        principal: str,
        scope: frozenset[str],
        lifetime_ms: int,
        start_time_ms: int | None,
        claims: types.MappingProxyType[str, Any],
    ) -> Self:
        """A token whose fields a validator has already checked, built without
        ``__post_init__`` (a validator builds one per token: its hot path).

        Private to the validators of this package; ``claims`` must already be
        read-only. The slots are filled through their descriptors
        (:mod:`oauthbearer._slots`)."""
        token = object.__new__(cls)
        set_value, set_principal, set_scope, set_lifetime, set_start, set_claims = _SLOT_SETTERS
        set_value(token, value)
        set_principal(token, principal)
        set_scope(token, scope)
        set_lifetime(token, lifetime_ms)
        set_start(token, start_time_ms)
        set_claims(token, claims)
        return token


#: The slot descriptors' setters of :class:`OAuthBearerToken`, in field order:
#: how :meth:`OAuthBearerToken._checked_by_validator` fills a frozen token.
_SLOT_SETTERS: Final = slot_setters(OAuthBearerToken)


@runtime_checkable
class TokenValidator(Protocol):
    """Anything that turns a token string into an :class:`OAuthBearerToken`.

    ``validate`` raises :class:`~oauthbearer.errors.InvalidToken` to refuse.
    ``now`` is the current time in epoch seconds, supplied by the caller.
    """

    def validate(self, token: str, *, now: float) -> OAuthBearerToken: ...


def parse_scope(value: str | Iterable[str]) -> frozenset[str]:
    """Scope as RFC 6749 section 3.3 writes it (space-delimited), or a list of strings.

    Empty elements are dropped, as Kafka's ``OAuthBearerScopeUtils`` does.
    """
    if isinstance(value, str):
        scope = frozenset(value.split(" "))
    else:
        items = value if type(value) is list else list(value)
        if not all(isinstance(item, str) for item in items):
            raise ArgumentTypeError("scope must be a string or a list of strings")
        scope = frozenset(items)
    return scope - _EMPTY_SCOPE if "" in scope else scope


#: What :func:`parse_scope` drops.
_EMPTY_SCOPE: Final = frozenset({""})
