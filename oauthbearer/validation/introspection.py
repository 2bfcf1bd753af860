"""RFC 7662 token introspection: the request, the strict reading of the answer, the cache policy.

Theory of operation
-------------------
An opaque token (or a JWT whose keys the server does not hold) can only be
judged by the identity provider that issued it. The resource server POSTs it to
the provider's introspection endpoint (RFC 7662 section 2.1) as a form
(``token=...&token_type_hint=access_token``), authenticated as a client
(section 2.1: "the endpoint MUST also require some form of authorization"):
``client_secret_basic``, ``client_secret_post`` or ``private_key_jwt``, built by
the same functions as a token request
(:func:`oauthbearer.login.grants.client_secret_auth`,
:func:`~oauthbearer.login.grants.private_key_jwt_auth`).

The answer (section 2.2) is read strictly by :func:`parse_introspection_response`:

* HTTP 200 and a strict JSON object (:func:`oauthbearer._json.loads_strict`), at
  most :data:`MAX_INTROSPECTION_RESPONSE_SIZE` bytes; anything else is an
  :class:`IntrospectionError`, the identity provider's failure, never a verdict
  on the token. Its ``retryable`` follows Kafka's rule for HTTP statuses
  (:func:`oauthbearer.http.retry.is_retryable_status`).
* ``active`` is REQUIRED and a JSON boolean. ``false`` is a refusal:
  :class:`~oauthbearer.errors.InvalidToken` with status ``invalid_token``
  (section 2.2: the server gives no reason, nor do we).
* ``exp``, ``iat`` and ``nbf``, when present, are NumericDates (a JSON number,
  not a boolean, 0 to :data:`~oauthbearer.validation.jwt.MAX_NUMERIC_DATE`); ``scope`` a
  space-delimited string (section 2.2, RFC 6749 section 3.3); ``client_id``,
  ``username``, ``token_type``, ``sub``, ``iss`` and ``jti`` strings; ``aud`` a
  string or an array of strings. A member of the wrong type is the provider's
  error.
* An active token is still refused when, with the clock skew allowed, ``exp``
  has passed or ``nbf`` has not come: the provider's clock and ours disagree,
  and a cached answer must not outlive the token.
* The principal is the :attr:`IntrospectionRules.principal_claim` (``sub`` by
  default), else the ``fallback_principal_claim`` (Strimzi's
  ``oauth.username.claim`` / ``oauth.fallback.username.claim``): a non-blank
  string without surrounding whitespace, else the token is refused.
* ``iss``, ``aud`` and ``token_type`` are checked only when configured: ``iss``
  equal to one configured issuer, ``aud`` holding one configured audience,
  ``token_type`` equal to the configured one, compared case-insensitively.

Caching (:class:`IntrospectionCache`), the policy only: an active answer is
kept until the token's ``exp`` or ``max_ttl_s`` after it was fetched, whichever
comes first (a revoked token is honoured at most ``max_ttl_s`` longer); a
refusal for ``negative_ttl_s`` (a client that retries a dead token does not
reach the provider each time). An :class:`IntrospectionError` is never cached.
Entries are keyed by the SHA-256 of the token, so the cache holds no token as a
key, and at most ``max_entries`` are kept (the oldest go first). The shell
(:mod:`oauthbearer.validation.introspection_http`) owns the locks, the one request in
flight per token and the cap on concurrent requests.

:class:`JwtOrIntrospection` chains the two ways: a token that
:meth:`JwtValidator.can_verify <oauthbearer.validation.jwt.JwtValidator.can_verify>` (a
JWT whose ``kid`` and ``alg`` match a key we hold) is judged locally, and its
verdict is final; any other token is introspected.

No message, repr or error built here contains a token, a client secret or an
assertion.

This module is pure: the time is the ``now`` argument; requests are built and
answers read here, and the shell sends them.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import types
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from oauthbearer._json import loads_strict
from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    InvalidToken,
    OAuthBearerError,
    TokenReason,
)
from oauthbearer.gs2 import is_b64token
from oauthbearer.http.retry import is_retryable_status
from oauthbearer.http.urls import check_url, redact_url
from oauthbearer.login.grants import (
    client_secret_auth,
    form_body,
    private_key_jwt_auth,
    shown_text,
)
from oauthbearer.token import OAuthBearerToken, parse_scope
from oauthbearer.validation.jwt import MAX_NUMERIC_DATE, MAX_TOKEN_LENGTH

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_MAX_CACHE_ENTRIES",
    "DEFAULT_MAX_TTL_S",
    "DEFAULT_NEGATIVE_TTL_S",
    "MAX_INTROSPECTION_RESPONSE_SIZE",
    "AsyncTokenValidator",
    "IntrospectionCache",
    "IntrospectionError",
    "IntrospectionRequest",
    "IntrospectionRules",
    "JwtOrIntrospection",
    "LocalValidator",
    "introspection_request",
    "parse_introspection_response",
]

#: Largest introspection answer read, in bytes: real ones are a few hundred
#: bytes to a few KB (Keycloak adds the user's roles and profile claims).
MAX_INTROSPECTION_RESPONSE_SIZE: Final = 64 * 1024
#: Longest a positive answer is trusted, in seconds: the bound on how long a
#: token revoked at the provider keeps working here (Strimzi caches for its
#: ``oauth.valid.token.cache.ttl``; Okta's guidance is minutes, not hours).
DEFAULT_MAX_TTL_S: Final = 300.0
#: How long a refusal is remembered, in seconds: long enough that a client
#: retrying a dead token in a loop costs the provider one request, short
#: enough that a provider that refused by mistake is asked again soon.
DEFAULT_NEGATIVE_TTL_S: Final = 10.0
#: Most answers cached: a broker's working set of tokens (one per client
#: session) with room to spare, a few MB at most.
DEFAULT_MAX_CACHE_ENTRIES: Final = 10_000
#: How a resource server authenticates to the endpoint (RFC 7662 section 2.1).
INTROSPECTION_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")

IntrospectionAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]

#: RFC 7662 section 2.2 members that must be strings when present.
_STRING_MEMBERS: Final = ("client_id", "username", "token_type", "sub", "iss", "jti", "scope")
_DATE_MEMBERS: Final = ("exp", "iat", "nbf")
_FORM_HEADERS: Final = (
    ("Accept", "application/json"),
    ("Content-Type", "application/x-www-form-urlencoded"),
)


class IntrospectionError(OAuthBearerError):
    """The introspection endpoint failed or answered something unusable: no
    verdict on the token. A server must not grant on it; it should fail the
    attempt in a way the client retries (a broker closes the connection rather
    than send an error challenge). ``status`` is the HTTP status, if one came;
    ``retryable`` says whether asking again may help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def token_key(token: str) -> bytes:
    """The cache key of ``token``: its SHA-256, so that no token is kept as a key."""
    return hashlib.sha256(token.encode("utf-8")).digest()


# --- the request ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class IntrospectionRequest:
    """One POST to an introspection endpoint. The repr shows the URL only;
    ``secrets`` (the token, the client secret, the assertion) are what must be
    scrubbed from anything the provider echoes."""

    url: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    secrets: frozenset[str]

    def __repr__(self) -> str:
        return f"IntrospectionRequest(url={redact_url(self.url)!r})"


def introspection_request(
    endpoint: str,
    token: str,
    *,
    client_id: str | None,
    client_secret: str | None = None,
    auth_method: IntrospectionAuthMethod = "client_secret_basic",
    assertion: str | None = None,
    token_type_hint: str | None = "access_token",  # noqa: S107 - RFC 7662 section 2.1, not a secret
    urlencode_credentials: bool = False,
) -> IntrospectionRequest:
    """The RFC 7662 section 2.1 request for ``token``, the client authenticated
    by ``auth_method``: ``client_secret_basic``/``client_secret_post`` with
    ``client_id`` and ``client_secret``, or ``private_key_jwt`` with a signed
    ``assertion`` (:func:`~oauthbearer.login.grants.make_assertion`; the
    shell makes a fresh one per request)."""
    url = check_url(endpoint, option="introspection endpoint", allow_insecure_loopback=True)
    if not isinstance(token, str):
        raise ArgumentTypeError("introspection_request: token must be a str")
    pairs = [("token", token)]
    if token_type_hint is not None:
        pairs.append(("token_type_hint", token_type_hint))
    headers: tuple[tuple[str, str], ...] = ()
    secrets = {token}
    if auth_method == "private_key_jwt":
        if assertion is None:
            raise ConfigurationError("private_key_jwt needs an assertion")
        pairs += private_key_jwt_auth(client_id, assertion)
        secrets.add(assertion)
    elif auth_method in ("client_secret_basic", "client_secret_post"):
        headers, auth_pairs = client_secret_auth(
            client_id, client_secret, auth_method, urlencode_credentials=urlencode_credentials
        )
        pairs += auth_pairs
        secrets.add(str(client_secret))
        secrets.update(value for _, value in headers)
    else:
        raise ConfigurationError(
            f"auth_method must be one of {', '.join(INTROSPECTION_AUTH_METHODS)}, "
            f"not {auth_method!r}"
        )
    accept, content = _FORM_HEADERS
    return IntrospectionRequest(
        url=url,
        body=form_body(pairs),
        headers=(accept, *headers, content),
        secrets=frozenset(secrets),
    )


# --- the rules --------------------------------------------------------------------------------


def _names(value: str | Iterable[str] | None, option: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"IntrospectionRules.{option} must be non-empty strings")
    return frozenset(items)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IntrospectionRules:
    """What an active answer must also satisfy (see the module documentation).

    ``issuer``, ``audience`` and ``token_type`` are checked when given.
    ``clock_skew_s`` is allowed on ``exp`` and ``nbf``. ``default_lifetime_s``
    is the lifetime given to a token whose answer has no ``exp``
    (``lifetime_ms`` is required: Kafka ends the session then).
    """

    principal_claim: str = "sub"
    fallback_principal_claim: str | None = None
    issuer: str | frozenset[str] | None = None
    audience: str | frozenset[str] | None = None
    token_type: str | None = None
    clock_skew_s: float = 30.0
    default_lifetime_s: float = DEFAULT_MAX_TTL_S

    def __post_init__(self) -> None:
        for name in ("principal_claim", "fallback_principal_claim"):
            value = getattr(self, name)
            if (value is not None or name == "principal_claim") and (
                not isinstance(value, str) or not value
            ):
                raise ConfigurationError(f"IntrospectionRules.{name} must be a non-empty str")
        object.__setattr__(self, "issuer", _names(self.issuer, "issuer"))
        object.__setattr__(self, "audience", _names(self.audience, "audience"))
        if self.token_type is not None and (
            not isinstance(self.token_type, str) or not self.token_type
        ):
            raise ConfigurationError("IntrospectionRules.token_type must be a non-empty str")
        for name in ("clock_skew_s", "default_lifetime_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(f"IntrospectionRules.{name} must be a finite number >= 0")


# --- the answer -------------------------------------------------------------------------------


def _refuse(reason: TokenReason, detail: str) -> InvalidToken:
    return InvalidToken("invalid_token", reason=reason, detail=detail)


def _bad_answer(detail: str, status: int = 200) -> IntrospectionError:
    return IntrospectionError(
        f"introspection endpoint answered HTTP {status}: {detail}", status=status, retryable=False
    )


def _error_detail(body: bytes, secrets: Iterable[str]) -> str:
    """The RFC 6749 section 5.2 ``error`` of an error answer, scrubbed and bounded."""
    try:
        document = loads_strict(body)
    except ValueError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, str) or not error:
        return "no OAuth error in the body" if body.strip() else "an empty body"
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            error = error.replace(secret, "[redacted]")
    return shown_text(error)


def _check_member_types(document: Mapping[str, Any]) -> None:
    for name in _STRING_MEMBERS:
        if name in document and not isinstance(document[name], str):
            raise _bad_answer(f"{name!r} is a JSON {type(document[name]).__name__}, not a string")
    for name in _DATE_MEMBERS:
        if name in document:
            value = document[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= MAX_NUMERIC_DATE
            ):
                raise _bad_answer(f"{name!r} is not a NumericDate (RFC 7662 section 2.2)")
    aud = document.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise _bad_answer("'aud' is neither a string nor an array of strings")


def _principal(document: Mapping[str, Any], rules: IntrospectionRules) -> str:
    for name in (rules.principal_claim, rules.fallback_principal_claim):
        if name is None:
            continue
        value = document.get(name)
        if isinstance(value, str) and value and value.strip() == value:
            return value
    names = " or ".join(
        repr(n) for n in (rules.principal_claim, rules.fallback_principal_claim) if n
    )
    raise _refuse(
        TokenReason.MISSING_CLAIM, f"the introspection answer has no usable principal ({names})"
    )


def _as_set(value: str | frozenset[str]) -> frozenset[str]:
    return frozenset((value,)) if isinstance(value, str) else value


def _check_configured(document: Mapping[str, Any], rules: IntrospectionRules) -> None:
    if rules.issuer is not None and document.get("iss") not in _as_set(rules.issuer):
        raise _refuse(
            TokenReason.WRONG_ISSUER,
            "the introspection answer's 'iss' is missing or not a configured issuer",
        )
    if rules.audience is not None:
        aud = document.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud or []
        if not _as_set(rules.audience).intersection(audiences):
            raise _refuse(
                TokenReason.WRONG_AUDIENCE,
                "the introspection answer's 'aud' holds no configured audience",
            )
    if rules.token_type is not None:
        found = document.get("token_type")
        if not isinstance(found, str) or found.lower() != rules.token_type.lower():
            raise _refuse(
                TokenReason.WRONG_TOKEN_TYPE,
                f"the introspection answer's 'token_type' is not {rules.token_type!r}",
            )


def parse_introspection_response(
    status: int,
    body: bytes,
    *,
    token: str,
    now: float,
    rules: IntrospectionRules | None = None,
    request: IntrospectionRequest | None = None,
) -> OAuthBearerToken:
    """Read an introspection answer for ``token`` at ``now`` (epoch seconds).

    Returns the token, raises :class:`~oauthbearer.errors.InvalidToken`
    (``invalid_token``) when it is inactive or fails ``rules``, or
    :class:`IntrospectionError` when the answer is not a usable one (see the
    module documentation). ``request`` is the request answered: its secrets
    are scrubbed from any error text the provider echoes.
    """
    rules = rules or IntrospectionRules()
    if isinstance(status, bool) or not isinstance(status, int):
        raise ArgumentTypeError("status must be an int")
    if not isinstance(body, bytes):
        raise ArgumentTypeError("body must be bytes")
    if len(body) > MAX_INTROSPECTION_RESPONSE_SIZE:
        raise IntrospectionError(
            f"introspection endpoint answered HTTP {status}: the body is larger than "
            f"MAX_INTROSPECTION_RESPONSE_SIZE ({MAX_INTROSPECTION_RESPONSE_SIZE} bytes)",
            status=status,
            retryable=status != 200 and is_retryable_status(status),
        )
    if status != 200:
        secrets = () if request is None else request.secrets
        raise IntrospectionError(
            f"introspection endpoint answered HTTP {status}: {_error_detail(body, secrets)}",
            status=status,
            retryable=is_retryable_status(status),
        )
    if not body.strip():
        raise IntrospectionError(
            "introspection endpoint answered HTTP 200: an empty body", status=200, retryable=True
        )
    try:
        document = loads_strict(body)
    except ValueError as error:
        raise _bad_answer(f"the body is not strict JSON: {error}") from None
    if not isinstance(document, dict):
        raise _bad_answer(f"the body is a JSON {type(document).__name__}, not an object")
    active = document.get("active")
    if not isinstance(active, bool):
        # RFC 7662 section 2.2: "active" is REQUIRED, a boolean.
        what = "missing" if "active" not in document else f"a JSON {type(active).__name__}"
        raise _bad_answer(f"'active' is {what}, not a boolean (RFC 7662 section 2.2)")
    if not active:
        raise _refuse(TokenReason.INACTIVE, "the identity provider says the token is not active")
    _check_member_types(document)
    skew = rules.clock_skew_s
    exp = document.get("exp")
    if exp is not None and now - skew >= exp:
        raise _refuse(
            TokenReason.EXPIRED,
            f"the token expired: exp {exp} <= now {now:.3f} - clock skew {skew:g} s",
        )
    nbf = document.get("nbf")
    if nbf is not None and nbf > now + skew:
        raise _refuse(
            TokenReason.NOT_YET_VALID,
            f"the token is not valid yet: nbf {nbf} > now {now:.3f} + {skew:g} s",
        )
    _check_configured(document, rules)
    principal = _principal(document, rules)
    scope = parse_scope(document.get("scope", ""))
    lifetime_ms = (
        math.floor(exp * 1000)
        if exp is not None
        else math.floor((now + rules.default_lifetime_s) * 1000)
    )
    start = document.get("iat", nbf)
    return OAuthBearerToken(
        value=token,
        principal=principal,
        scope=scope,
        lifetime_ms=lifetime_ms,
        start_time_ms=None if start is None else math.floor(start * 1000),
        claims=types.MappingProxyType(document),
    )


def check_token(token: object) -> str:
    """``token`` as it may be sent for introspection: a str, at most
    :data:`~oauthbearer.validation.jwt.MAX_TOKEN_LENGTH` characters, an RFC 6750
    b64token; else :class:`~oauthbearer.errors.InvalidToken` without asking."""
    if not isinstance(token, str):
        raise ArgumentTypeError("token must be a str")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _refuse(
            TokenReason.TOO_LARGE,
            f"the token is {len(token)} characters long, more than MAX_TOKEN_LENGTH "
            f"({MAX_TOKEN_LENGTH}); not sent for introspection",
        )
    if not is_b64token(token):
        raise _refuse(
            TokenReason.MALFORMED,
            "the token is not an RFC 6750 b64token; not sent for introspection",
        )
    return token


# --- the cache policy ------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Entry:
    until: float
    verdict: OAuthBearerToken | InvalidToken


class IntrospectionCache:
    """Which answers to keep and for how long (see the module documentation).

    Not thread-safe: the shell calls it under its lock. Times are epoch seconds.
    """

    __slots__ = ("_entries", "hits", "max_entries", "max_ttl_s", "misses", "negative_ttl_s")

    def __init__(
        self,
        *,
        max_ttl_s: float = DEFAULT_MAX_TTL_S,
        negative_ttl_s: float = DEFAULT_NEGATIVE_TTL_S,
        max_entries: int = DEFAULT_MAX_CACHE_ENTRIES,
    ) -> None:
        for name, value in (("max_ttl_s", max_ttl_s), ("negative_ttl_s", negative_ttl_s)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(f"IntrospectionCache: {name} must be a finite number >= 0")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 0:
            raise ConfigurationError("IntrospectionCache: max_entries must be an int >= 0")
        self.max_ttl_s = float(max_ttl_s)
        self.negative_ttl_s = float(negative_ttl_s)
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: collections.OrderedDict[bytes, _Entry] = collections.OrderedDict()

    def __repr__(self) -> str:
        return (
            f"IntrospectionCache(entries={len(self._entries)}, max_ttl_s={self.max_ttl_s:g}, "
            f"negative_ttl_s={self.negative_ttl_s:g}, hits={self.hits}, misses={self.misses})"
        )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, *, now: float) -> OAuthBearerToken | InvalidToken | None:
        """The cached verdict for ``key`` (a :func:`token_key`) at ``now``, or ``None``."""
        entry = self._entries.get(key)
        if entry is not None and now < entry.until:
            self.hits += 1
            return entry.verdict
        if entry is not None:
            del self._entries[key]
        self.misses += 1
        return None

    def put(self, key: bytes, verdict: OAuthBearerToken | InvalidToken, *, now: float) -> None:
        """Keep ``verdict``, fetched at ``now``: a token until its expiry or
        ``max_ttl_s``, a refusal for ``negative_ttl_s``."""
        if isinstance(verdict, OAuthBearerToken):
            until = min(verdict.lifetime_ms / 1000, now + self.max_ttl_s)
        else:
            until = now + self.negative_ttl_s
        if until <= now or self.max_entries == 0:
            return
        entries = self._entries
        entries.pop(key, None)
        while len(entries) >= self.max_entries:
            entries.popitem(last=False)
        entries[key] = _Entry(until, verdict)


# --- the chain ----------------------------------------------------------------------------------


class AsyncTokenValidator(Protocol):
    """A validator that also judges in a coroutine (``avalidate``), as
    :class:`~oauthbearer.validation.introspection_http.IntrospectionValidator` does."""

    def validate(self, token: str, *, now: float) -> OAuthBearerToken: ...

    async def avalidate(self, token: str, *, now: float) -> OAuthBearerToken: ...


class LocalValidator(Protocol):
    """A validator that can tell, from headers alone, whether it can judge a
    token: :class:`~oauthbearer.validation.jwt.JwtValidator`, or
    :class:`~oauthbearer.validation.issuers.IssuerSelector` over several issuers."""

    def validate(self, token: str, *, now: float) -> OAuthBearerToken: ...

    def can_verify(self, token: str) -> bool: ...


class JwtOrIntrospection:
    """Validate locally when the token is a JWT we hold a key for, else introspect.

    A token that ``local.can_verify`` is judged by ``local`` alone: its refusal
    is final (a JWT whose signature fails is not sent on to the provider). Any
    other token (opaque, or a JWT with an unknown ``kid``) goes to ``remote``.
    """

    __slots__ = ("local", "remote")

    def __init__(self, local: LocalValidator, remote: AsyncTokenValidator) -> None:
        if not callable(getattr(local, "can_verify", None)):
            raise ArgumentTypeError(
                "JwtOrIntrospection: local must be a JwtValidator or an IssuerSelector"
            )
        self.local = local
        self.remote = remote

    def __repr__(self) -> str:
        return f"JwtOrIntrospection(local={self.local!r}, remote={self.remote!r})"

    def validate(self, token: str, *, now: float) -> OAuthBearerToken:
        """Judge ``token`` at ``now`` (epoch seconds), locally or by introspection."""
        if self.local.can_verify(token):
            return self.local.validate(token, now=now)
        return self.remote.validate(token, now=now)

    async def avalidate(self, token: str, *, now: float) -> OAuthBearerToken:
        """:meth:`validate` in a coroutine: the introspection does not block the loop."""
        if self.local.can_verify(token):
            return self.local.validate(token, now=now)
        return await self.remote.avalidate(token, now=now)
