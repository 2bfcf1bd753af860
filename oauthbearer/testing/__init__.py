"""Tools for testing OAUTHBEARER code.

:mod:`oauthbearer.testing.idp`: a local test identity provider (token endpoint, JWKS, discovery).
:mod:`oauthbearer.testing.strategies`: hypothesis strategies, valid and tagged invalid inputs
(import it yourself: it needs hypothesis, which nothing else imports).
:mod:`oauthbearer.testing.conformance`: the conformance corpus and its runner.
"""

from __future__ import annotations

from oauthbearer.testing.idp import (
    DropConnection,
    EmptyBody,
    Endpoint,
    Fault,
    HttpStatus,
    IdentityProviderStateError,
    MalformedJson,
    OversizedBody,
    Profile,
    RecordedRequest,
    Slow,
    TestIdentityProvider,
    serve,
)

__all__ = [
    "DropConnection",
    "EmptyBody",
    "Endpoint",
    "Fault",
    "HttpStatus",
    "IdentityProviderStateError",
    "MalformedJson",
    "OversizedBody",
    "Profile",
    "RecordedRequest",
    "Slow",
    "TestIdentityProvider",
    "serve",
]
