"""The client's own look at the token its identity provider returned.

Theory of operation
-------------------
A Kafka client does not verify its token's signature: it got the token over TLS
from its identity provider, and the broker will verify it. It still reads the
claims, as Kafka's ``ClientJwtValidator`` does, to learn when the token expires
(which drives the refresh schedule), who it names and what scope it carries,
and it refuses a token that lacks them:

* the token is three non-empty dot-separated parts;
* the payload decodes and parses as Kafka reads a JWS part (base64url, JSON,
  Jackson's value conversions);
* ``exp`` is a number, not negative (seconds, truncated as Java's
  ``longValue()`` does, then times 1000);
* the subject claim (``sub`` by default) is a string that is not blank; it is
  trimmed;
* ``iat``, if present, is a number, not negative;
* the scope claim: a string is one scope (Kafka does not split it), a list
  gives its elements, anything else none; each is trimmed, not blank, and
  appears once.

Kafka crashes with a ``ClassCastException`` where a claim has the wrong JSON
type; we refuse with :class:`ClientTokenError`. This module is pure.
"""

from __future__ import annotations

import math
from typing import Any, Final

from oauthbearer.errors import InvalidToken, OAuthBearerError
from oauthbearer.kafka_claims import kafka_scope, kafka_subject
from oauthbearer.token import OAuthBearerToken
from oauthbearer.unsecured import read_jws_part

__all__ = ["ClientTokenError", "client_token"]

#: The largest ``exp`` or ``iat`` whose milliseconds fit a Java ``long``, as
#: Kafka's ``lifetimeMs`` must (about 292 million years from 1970).
_MAX_SECONDS: Final = (2**63 - 1) // 1000


class ClientTokenError(OAuthBearerError):
    """The identity provider's token fails the client-side check; the message
    says which claim, never the token."""


def _number(claims: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise ClientTokenError(f"{name} value must be non-null")
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ClientTokenError(f"{name} value must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        # JSON's 1e400 reads as infinity; Java's longValue() would saturate it
        # and the times-1000 wrap around. Refused instead.
        raise ClientTokenError(f"{name} value must be a finite number")
    seconds = int(value)  # Java's longValue(): truncation toward zero
    if seconds < 0:
        raise ClientTokenError(f"{name} value must be non-negative")
    if seconds > _MAX_SECONDS:
        raise ClientTokenError(f"{name} value is too large for a Java long in milliseconds")
    return seconds * 1000


def client_token(
    jwt: str, *, scope_claim: str = "scope", subject_claim: str = "sub"
) -> OAuthBearerToken:
    """Read the claims of ``jwt`` as Kafka's client does; see the module docstring."""
    if not isinstance(jwt, str) or not jwt.strip():
        raise ClientTokenError(
            "Empty JWT provided; expected three sections (header, payload, and signature)"
        )
    parts = jwt.strip().split(".")
    if len(parts) != 3:
        raise ClientTokenError(
            f"Malformed JWT provided; expected three sections (header, payload, and "
            f"signature), but {len(parts)} sections provided"
        )
    for section, part in zip(("header", "payload", "signature"), parts, strict=True):
        if not part.strip():
            raise ClientTokenError(
                "Malformed JWT provided; expected at least three sections (header, payload, "
                f"and signature), but {section} section missing"
            )
    try:
        claims = read_jws_part(parts[1].strip())
    except ValueError as exc:
        raise ClientTokenError(f"Could not validate the access token: {exc}") from None

    try:
        # ClaimValidationUtils, shared with the broker's validator.
        scope = kafka_scope(scope_claim, claims.get(scope_claim))
        expires_ms = _number(claims, "exp", required=True)
        assert expires_ms is not None  # required=True
        principal = kafka_subject(subject_claim, claims.get(subject_claim))
    except InvalidToken as exc:
        raise ClientTokenError(exc.detail or exc.status) from None
    return OAuthBearerToken(
        value=jwt,
        principal=principal,
        scope=scope,
        lifetime_ms=expires_ms,
        start_time_ms=_number(claims, "iat", required=False),
        claims=claims,
    )
