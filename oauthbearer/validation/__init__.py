"""Token validation, the broker's side of a login: what a server hands
:class:`~oauthbearer.session.ServerSession` to turn a token into an
:class:`~oauthbearer.token.OAuthBearerToken` or an
:class:`~oauthbearer.errors.InvalidToken`.

* :mod:`.jwt`: signed JWTs against a key set (:class:`~.jwt.JwtValidator`),
  with Kafka's claim rules from :mod:`oauthbearer.kafka_claims`;
* :mod:`.jwks`, :mod:`.jwks_cache`, :mod:`.jwks_fetch`: the key set, its cache
  and refresh policy (pure), and the shell that fetches it;
* :mod:`.introspection` (pure) and :mod:`.introspection_http` (shell): RFC 7662
  for opaque tokens;
* :mod:`.verified_cache`: a bounded cache of tokens already verified.

Kafka's unsecured tokens (:mod:`oauthbearer.unsecured`) and Kafka's reading of
claims (:mod:`oauthbearer.kafka_claims`) serve both sides, so they sit in the
core beside the codec.
"""

from __future__ import annotations

#: Nothing is re-exported: each name is imported from the module that defines it
#: (docs/api.md), so that importing the package loads none of its modules.
__all__: list[str] = []
