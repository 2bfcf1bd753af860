"""Several trusted issuers, each with its own keys: pick the issuer first, then verify.

Theory of operation
-------------------
A broker may trust more than one authorization server: Okta's org server and
a custom authorization server (two issuers, two JWKS), two Keycloak realms, or
Entra ID's multi-tenant endpoint, where every tenant has its own issuer
(``https://login.microsoftonline.com/{tid}/v2.0``) but all share one key set.
:class:`IssuerSelector` holds one :class:`TrustedIssuer` per accepted ``iss``,
each with its own validator (its own keys, audience and claim names), and
judges a token in this order:

1. The token's payload is read *without verification*, only to learn its
   ``iss`` (at most ``max_token_length`` characters, three non-empty
   base64url parts, a strict-JSON object; RFC 8725 section 3.8 asks that the
   issuer decide which keys apply). A token whose payload cannot be read is
   opaque: it goes to the ``opaque`` validator (an introspection validator,
   say), or is refused when there is none.
2. The ``iss`` must be a string equal to one configured issuer, compared
   exactly (RFC 7519 section 4.1.1). An unknown issuer is refused at once: no
   key set is consulted, no key fetched, nothing remembered. The selector's
   state is fixed when it is built, so a stream of made-up ``iss`` values costs
   one dictionary lookup each and holds no memory (Entra tenants are allowed
   by configuration, see :func:`tenant_issuers`, never discovered from tokens).
3. The chosen issuer's validator alone verifies the token: one issuer's keys
   are never tried on another issuer's token. It should itself be configured
   with that issuer (``JwtValidator(issuer=...)``); in any case the selector
   then requires the *verified* claims to carry the same ``iss``, so what chose
   the keys is what the signature covered.
4. Claims pinned by the entry (``required_claims``, e.g. Entra's ``tid``
   equal to the tenant in the issuer) must hold exactly these string values.

Every refusal is an :class:`~oauthbearer.errors.InvalidToken` with status
``invalid_token`` and a :class:`~oauthbearer.errors.TokenReason`: ``malformed``
(no readable payload), ``wrong-issuer`` (no ``iss``, an unknown one, or verified
claims that carry another) or ``invalid-claim`` (a pinned claim differs). The
issuer named in a ``detail`` is the token's, shown escaped and shortened
(:func:`~oauthbearer._text.show_value`).

:class:`IssuerSelector` is synchronous (:meth:`~IssuerSelector.validate`) and
asynchronous (:meth:`~IssuerSelector.avalidate`, awaiting a validator's own
``avalidate`` when it has one, as introspection does), and offers
``can_verify`` so that :class:`~oauthbearer.validation.introspection.JwtOrIntrospection`
can put it in front of an introspection endpoint.

This module is pure: the time is the ``now`` argument.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

from oauthbearer._json import loads_strict
from oauthbearer._text import show_value
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken, TokenReason
from oauthbearer.validation.jwks import b64url_decode
from oauthbearer.validation.jwt import MAX_TOKEN_LENGTH

if TYPE_CHECKING:
    from oauthbearer.token import OAuthBearerToken, TokenValidator

__all__ = [
    "MAX_ISSUERS",
    "TENANT_PLACEHOLDER",
    "IssuerSelector",
    "TrustedIssuer",
    "tenant_issuers",
]

#: Most issuers one selector holds. Real deployments name a handful (an org
#: and a custom server, a few tenants); thousands would be a configuration
#: generated from untrusted input, which this module exists to prevent.
MAX_ISSUERS: Final = 1024

#: The placeholder :func:`tenant_issuers` replaces in an issuer template.
TENANT_PLACEHOLDER: Final = "{tenant}"


def _refuse(reason: TokenReason, detail: str) -> NoReturn:
    raise InvalidToken("invalid_token", reason=reason, detail=detail)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrustedIssuer:
    """One accepted ``iss`` and the validator that judges its tokens.

    ``required_claims`` maps claim names to the exact string each must hold
    once the token is verified (Entra ID: ``{"tid": tenant}``).
    """

    issuer: str
    validator: TokenValidator
    required_claims: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )

    def __post_init__(self) -> None:
        if (
            not isinstance(self.issuer, str)
            or not self.issuer
            or self.issuer.strip() != self.issuer
        ):
            raise ConfigurationError("TrustedIssuer: issuer must be a non-blank string")
        if not callable(getattr(self.validator, "validate", None)):
            raise ArgumentTypeError("TrustedIssuer: validator must have validate(token, *, now)")
        if not isinstance(self.required_claims, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in self.required_claims.items()
        ):
            raise ArgumentTypeError(
                "TrustedIssuer: required_claims must map claim names to strings"
            )
        object.__setattr__(
            self, "required_claims", types.MappingProxyType(dict(self.required_claims))
        )


def tenant_issuers(
    template: str,
    tenants: Iterable[str],
    validator_for: Callable[[str, str], TokenValidator],
    *,
    tenant_claim: str | None = "tid",
) -> tuple[TrustedIssuer, ...]:
    """One :class:`TrustedIssuer` per allowed tenant of a multi-tenant provider.

    ``template`` holds :data:`TENANT_PLACEHOLDER` once (Entra ID v2.0:
    ``"https://login.microsoftonline.com/{tenant}/v2.0"``); ``validator_for(issuer,
    tenant)`` builds the validator of one tenant (typically a
    :class:`~oauthbearer.validation.jwt.JwtValidator` with ``issuer=issuer``
    over the provider's common key set, shared by all). ``tenant_claim``, when
    not ``None``, must equal the tenant in every verified token, as Entra ID's
    guidance asks of ``tid``.
    """
    if not isinstance(template, str) or template.count(TENANT_PLACEHOLDER) != 1:
        raise ConfigurationError(
            f"tenant_issuers: template must contain {TENANT_PLACEHOLDER} exactly once"
        )
    if isinstance(tenants, str):
        raise ArgumentTypeError("tenant_issuers: tenants must be an iterable of strings, not a str")
    result = []
    for tenant in tenants:
        if not isinstance(tenant, str) or not tenant or any(c in tenant for c in "/?#{} "):
            raise ConfigurationError(
                f"tenant_issuers: tenant {show_value(tenant)} is not a tenant id"
            )
        issuer = template.replace(TENANT_PLACEHOLDER, tenant)
        pinned = {} if tenant_claim is None else {tenant_claim: tenant}
        result.append(
            TrustedIssuer(
                issuer=issuer, validator=validator_for(issuer, tenant), required_claims=pinned
            )
        )
    return tuple(result)


def _unverified_issuer(token: str, max_length: int) -> object:
    """The payload's ``iss`` member (``None`` when absent), or :data:`_OPAQUE`
    when the token is not a JWS whose payload is a JSON object."""
    if len(token) > max_length:
        return _OPAQUE
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return _OPAQUE
    # Kafka's rules allow '=' padding (jose4j reads a part up to its first '=').
    try:
        payload = loads_strict(b64url_decode(parts[1].partition("=")[0]))
    except ValueError:
        return _OPAQUE
    if type(payload) is not dict:
        return _OPAQUE
    return payload.get("iss")


_OPAQUE: Final = object()


class IssuerSelector:
    """A :class:`~oauthbearer.token.TokenValidator` over several issuers; see the module docs.

    ``issuers`` are :class:`TrustedIssuer` entries (each ``iss`` once).
    ``opaque``, when set, judges the tokens that are not readable JWTs (an
    :class:`~oauthbearer.validation.introspection_http.IntrospectionValidator`).
    ``max_token_length`` bounds what is decoded to read the issuer.
    """

    __slots__ = ("_issuers", "_max_token_length", "_opaque")

    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        *,
        opaque: TokenValidator | None = None,
        max_token_length: int = MAX_TOKEN_LENGTH,
    ) -> None:
        if isinstance(issuers, TrustedIssuer | str):
            raise ArgumentTypeError("IssuerSelector: issuers must be an iterable of TrustedIssuer")
        table: dict[str, TrustedIssuer] = {}
        for entry in issuers:
            if not isinstance(entry, TrustedIssuer):
                raise ArgumentTypeError(
                    "IssuerSelector: issuers must be an iterable of TrustedIssuer"
                )
            if entry.issuer in table:
                raise ConfigurationError(
                    f"IssuerSelector: issuer {show_value(entry.issuer)} is configured twice"
                )
            table[entry.issuer] = entry
        if not table:
            raise ConfigurationError("IssuerSelector: at least one issuer is required")
        if len(table) > MAX_ISSUERS:
            raise ConfigurationError(
                f"IssuerSelector: {len(table)} issuers, more than MAX_ISSUERS ({MAX_ISSUERS})"
            )
        if opaque is not None and not callable(getattr(opaque, "validate", None)):
            raise ArgumentTypeError("IssuerSelector: opaque must have validate(token, *, now)")
        if (
            not isinstance(max_token_length, int)
            or isinstance(max_token_length, bool)
            or (max_token_length < 1)
        ):
            raise ConfigurationError("IssuerSelector: max_token_length must be an int >= 1")
        self._issuers: Mapping[str, TrustedIssuer] = types.MappingProxyType(table)
        self._opaque = opaque
        self._max_token_length = max_token_length

    @property
    def issuers(self) -> tuple[str, ...]:
        """The accepted issuers, in the order given."""
        return tuple(self._issuers)

    def __repr__(self) -> str:
        return f"IssuerSelector(issuers={self.issuers!r}, opaque={self._opaque!r})"

    def select(self, token: str) -> TrustedIssuer | None:
        """The entry whose validator judges ``token``, or ``None`` for an
        opaque token with an ``opaque`` validator set; refuses (InvalidToken)
        an unreadable token without one, a missing or an unknown issuer."""
        if not isinstance(token, str):
            raise ArgumentTypeError("IssuerSelector: token must be a str")
        iss = _unverified_issuer(token, self._max_token_length)
        if iss is _OPAQUE:
            if self._opaque is not None:
                return None
            _refuse(
                TokenReason.MALFORMED,
                "the token is not a JWT whose issuer can be read, and no validator "
                "for opaque tokens is configured",
            )
        if type(iss) is not str:
            _refuse(
                TokenReason.WRONG_ISSUER,
                "the JWT has no 'iss' string; several issuers are configured",
            )
        entry = self._issuers.get(iss)
        if entry is None:
            _refuse(
                TokenReason.WRONG_ISSUER,
                f"the JWT issuer {show_value(iss)} is none of the {len(self._issuers)} "
                "configured issuers",
            )
        return entry

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """Judge ``token`` at ``now`` (epoch seconds) with its issuer's validator."""
        entry = self.select(token)
        if entry is None:
            assert self._opaque is not None  # select returns None only then
            return self._opaque.validate(token, now=now)
        return _checked(entry, entry.validator.validate(token, now=now))

    async def avalidate(self, token: str, *, now: float) -> OAuthBearerToken:
        """:meth:`validate` in a coroutine: a validator's own ``avalidate``
        (introspection) is awaited, so the event loop never blocks on it."""
        entry = self.select(token)
        validator = self._opaque if entry is None else entry.validator
        assert validator is not None
        asynchronous = getattr(validator, "avalidate", None)
        if asynchronous is not None:
            result: OAuthBearerToken = await asynchronous(token, now=now)
        else:
            result = validator.validate(token, now=now)
        return result if entry is None else _checked(entry, result)

    def can_verify(self, token: str) -> bool:
        """Whether ``token`` is a JWT of a configured issuer whose validator can
        verify it locally (reads headers only; see
        :meth:`oauthbearer.validation.jwt.JwtValidator.can_verify`)."""
        iss = _unverified_issuer(token, self._max_token_length)
        entry = self._issuers.get(iss) if type(iss) is str else None
        if entry is None:
            return False
        check: Any = getattr(entry.validator, "can_verify", None)
        return True if check is None else bool(check(token))


def _checked(entry: TrustedIssuer, token: OAuthBearerToken) -> OAuthBearerToken:
    """Step 3's and 4's checks on the verified claims."""
    claims = token.claims
    if claims.get("iss") != entry.issuer:
        _refuse(
            TokenReason.WRONG_ISSUER,
            f"the verified claims do not carry the issuer {show_value(entry.issuer)} "
            "that selected the validator",
        )
    for name, expected in entry.required_claims.items():
        if claims.get(name) != expected:
            _refuse(
                TokenReason.INVALID_CLAIM,
                f"claim {show_value(name)} of a token from {show_value(entry.issuer)} "
                f"is {show_value(claims.get(name))}, not {show_value(expected)}",
            )
    return token
