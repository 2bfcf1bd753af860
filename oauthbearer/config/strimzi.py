"""Strimzi's ``oauth.*`` JAAS options, mapped to our objects.

Strimzi's Kafka OAuth handlers (``io.strimzi.kafka.oauth``) are the most common
way Kafka users deploy OAuth; their configuration is a JAAS entry whose
options all start with ``oauth.``. :func:`strimzi_validator` reads the options
of ``JaasServerOauthValidatorCallbackHandler`` (the broker's side) and
:func:`strimzi_client` those of ``JaasClientOauthLoginCallbackHandler`` (a
client's), from the ``sasl.jaas.config`` text (read by
:func:`~oauthbearer.config.parse_jaas_config`), a parsed
:class:`~oauthbearer.config.JaasConfig`, or a mapping of options.

The mapping follows Strimzi's ``JWTSignatureValidator`` (read at
strimzi-kafka-oauth e101071e):

* ``oauth.jwks.endpoint.uri`` gives a :class:`~oauthbearer.validation.jwks_fetch.JwksRefresher`
  (``oauth.jwks.refresh.seconds``, default 300, its interval) and a
  :class:`~oauthbearer.validation.jwt.JwtValidator`: ``exp`` required and no
  clock skew (Strimzi compares ``exp`` with the clock as it is), ``iat`` not
  required, ``iss`` equal to ``oauth.valid.issuer.uri`` (required unless
  ``oauth.check.issuer=false``), ``aud`` holding ``oauth.client.id`` when
  ``oauth.check.audience=true`` (any ``aud`` accepted otherwise), the
  principal from ``oauth.username.claim`` (default ``sub``). Where Strimzi's
  JOSE library (nimbus-jose-jwt) is more lenient than our strict rules and
  the leniency is harmless, :data:`STRIMZI_RULES` follow it, and keys are
  looked up as Strimzi does: the JWK with the token's ``kid`` (or, for a token
  without one, a JWK without one), of the type the token's ``alg`` needs,
  whatever ``alg`` the JWK names, among those whose ``use`` is ``sig`` unless
  ``oauth.jwks.ignore.key.use=true``; an empty
  ``crit``, a ``cty`` other than a nested JWT's and ``=`` padding are
  accepted; tokens may be as long as Kafka's SASL receive size.
* ``oauth.introspection.endpoint.uri`` instead gives an
  :class:`~oauthbearer.validation.introspection_http.IntrospectionValidator`
  authenticated as ``oauth.client.id``/``oauth.client.secret``, with the
  username claim, ``oauth.fallback.username.claim``, the valid issuer and
  ``oauth.valid.token.type``;
* ``oauth.custom.claim.check`` (a :class:`~oauthbearer.validation.claim_check.ClaimCheck`),
  ``oauth.check.access.token.type`` (default true: the ``typ`` claim, or else
  ``token_type``, must be ``Bearer``, as Keycloak writes it) and
  ``oauth.groups.claim``/``oauth.groups.claim.delimiter`` give a
  :class:`~oauthbearer.validation.authorizer.ClaimsAuthorizer` whose claim
  check a token must pass at authentication, as Strimzi's does.

Options that change no verdict (timeouts, retries, metrics, ids, and Kafka's
``unsecuredLogin*`` options for the broker's own login) are accepted
and listed in :attr:`StrimziValidatorConfig.ignored`; every other option this
module does not reproduce is refused by name, so that a configuration never
means less here than in Strimzi.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from oauthbearer.config._values import trim
from oauthbearer.config.client import ClientCredentialsConfig
from oauthbearer.config.jaas import JaasConfig, parse_jaas_config
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.urls import check_url
from oauthbearer.kafka_claims import KAFKA_MAX_TOKEN_LENGTH
from oauthbearer.validation.authorizer import ClaimsAuthorizer
from oauthbearer.validation.claim_check import ClaimCheck
from oauthbearer.validation.introspection import IntrospectionRules
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.jwks_cache import JwksRefreshPolicy
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import ASYMMETRIC_ALGORITHMS, JwtRules, JwtValidator

if TYPE_CHECKING:
    from oauthbearer.token import TokenValidator
    from oauthbearer.validation.jwks import JsonWebKey
    from oauthbearer.validation.jwks_cache import JwksCache

__all__ = [
    "STRIMZI_RULES",
    "StrimziValidatorConfig",
    "strimzi_client",
    "strimzi_validator",
]

#: Strimzi's broker-side callback handler (``sasl.server.callback.handler.class``).
STRIMZI_SERVER_HANDLER: Final = (
    "io.strimzi.kafka.oauth.server.JaasServerOauthValidatorCallbackHandler"
)
#: Strimzi's client-side callback handler (``sasl.login.callback.handler.class``).
STRIMZI_CLIENT_HANDLER: Final = "io.strimzi.kafka.oauth.client.JaasClientOauthLoginCallbackHandler"

#: Strimzi's claim check for ``oauth.check.access.token.type`` (its default):
#: ``typ``, or when absent ``token_type``, must be ``Bearer``.
ACCESS_TOKEN_TYPE_CHECK: Final = "@.typ == 'Bearer' || (!@.typ && @.token_type == 'Bearer')"

#: The JWT rules of Strimzi's ``JWTSignatureValidator`` where they are
#: harmless: nimbus-jose-jwt reads an empty ``crit`` and any ``cty`` as no
#: extension and no nesting, and ``=`` padding as none; the token's length is
#: bounded by Kafka's SASL receive size only. ``honour_jwk_alg`` stays on:
#: the validator's key source picks the keys as Strimzi does.
#: The ``typ`` header is still checked (RFC 8725 section 3.11), where Strimzi
#: ignores it: docs/strimzi.md lists that and the other differences.
STRIMZI_RULES: Final = JwtRules(
    name="strimzi",
    jose4j_crit_cty=True,
    padded_base64url=True,
    max_token_length=KAFKA_MAX_TOKEN_LENGTH,
)


class _StrimziKeys:
    """Strimzi's key lookup: its JWKS map from ``kid`` to key holds the JWKs
    whose ``use`` is ``sig`` (all of them with ``oauth.jwks.ignore.key.use``),
    and the token's ``kid`` (or its lack of one) is looked up in it alone: a
    JWK's ``alg`` is not consulted, and nimbus's verifier factory then wants a
    key of the type the token's ``alg`` needs."""

    __slots__ = ("_cache", "_ignore_key_use")

    def __init__(self, cache: JwksCache, *, ignore_key_use: bool) -> None:
        self._cache = cache
        self._ignore_key_use = ignore_key_use

    def keys_for(self, kid: str | None, alg: str) -> tuple[JsonWebKey, ...]:
        if kid is not None:
            # The cache's own lookup, which asks for a refresh on an unknown kid.
            found = self._cache.keys_for(kid, alg, honour_jwk_alg=False)
        else:
            key_set = self._cache.key_set
            keys = () if key_set is None else key_set.keys
            # Strimzi's map keeps the last JWK without a kid.
            found = tuple(key for key in keys if key.kid is None)[-1:]
            found = tuple(key for key in found if key.fits(alg, honour_alg=False))
        return tuple(key for key in found if self._ignore_key_use or key.use == "sig")


#: Options that decide no verdict: accepted and reported as ignored.
_OPERATIONAL: Final = frozenset(
    {
        "oauth.config.id",
        "oauth.enable.metrics",
        "oauth.fail.fast",
        "oauth.connect.timeout.seconds",
        "oauth.read.timeout.seconds",
        "oauth.http.retries",
        "oauth.http.retry.pause.millis",
        "oauth.include.accept.header",
        "oauth.jwks.expiry.seconds",
        "oauth.jwks.refresh.min.pause.seconds",
    }
)
_SERVER: Final = frozenset(
    {
        "oauth.jwks.ignore.key.use",
        "oauth.jwks.endpoint.uri",
        "oauth.jwks.refresh.seconds",
        "oauth.valid.issuer.uri",
        "oauth.check.issuer",
        "oauth.check.audience",
        "oauth.check.access.token.type",
        "oauth.custom.claim.check",
        "oauth.username.claim",
        "oauth.fallback.username.claim",
        "oauth.groups.claim",
        "oauth.groups.claim.delimiter",
        "oauth.introspection.endpoint.uri",
        "oauth.valid.token.type",
        "oauth.client.id",
        "oauth.client.secret",
        "oauth.access.token.is.jwt",
    }
)
_CLIENT: Final = frozenset(
    {
        "oauth.token.endpoint.uri",
        "oauth.client.id",
        "oauth.client.secret",
        "oauth.scope",
        "oauth.username.claim",
        "oauth.access.token.is.jwt",
    }
)
#: Why some known Strimzi options are refused rather than reproduced.
_REFUSED: Final = {
    "oauth.ssl.truststore.location": "pass an ssl.SSLContext to the HTTP layer instead",
    "oauth.ssl.truststore.certificates": "pass an ssl.SSLContext to the HTTP layer instead",
    "oauth.ssl.truststore.type": "pass an ssl.SSLContext to the HTTP layer instead",
    "oauth.ssl.endpoint.identification.algorithm": "host names are always verified here",
    "oauth.userinfo.endpoint.uri": "the userinfo fallback is not reproduced",
    "oauth.audience": "Kafka's client-credentials request sends no audience; not reproduced",
    "oauth.username.prefix": "principal prefixes are not reproduced",
    "oauth.fallback.username.prefix": "principal prefixes are not reproduced",
    "oauth.access.token": "a fixed access token: use a TokenFileConfig instead",
    "oauth.refresh.token": "the refresh-token grant is not reproduced",
    "oauth.password.grant.username": "the password grant is not reproduced",
    "oauth.password.grant.password": "the password grant is not reproduced",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StrimziValidatorConfig:
    """What a broker configured with Strimzi's validator options validates with.

    ``validator`` judges the token (a :class:`JwtValidator` or an
    :class:`IntrospectionValidator`); ``refresher`` keeps a JwtValidator's keys
    and has *not* been started; ``authorizer`` holds the claim checks a token
    must also pass at authentication (hand it to
    :class:`~oauthbearer.kafka.broker.BrokerEmulator`, or call its
    ``authenticate``), and the groups claim. ``ignored`` names the options
    accepted without effect.
    """

    validator: TokenValidator
    refresher: JwksRefresher | None
    authorizer: ClaimsAuthorizer
    ignored: tuple[str, ...]


def _options(config: str | JaasConfig | Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(config, str):
        return parse_jaas_config(config).options
    if isinstance(config, JaasConfig):
        return config.options
    if isinstance(config, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.items()
    ):
        return config
    raise ArgumentTypeError("Strimzi options must be JAAS text, a JaasConfig or a str mapping")


def _ignored(key: str) -> bool:
    # Kafka's unsecuredLogin* options configure the broker's own login on the
    # listener (Strimzi's examples set unsecuredLoginStringClaim_sub), not validation.
    return key in _OPERATIONAL or key.startswith("unsecuredLogin")


def _check_names(options: Mapping[str, str], known: frozenset[str]) -> tuple[str, ...]:
    for key in options:
        if key in _REFUSED:
            raise ConfigurationError(f"{key}: not supported ({_REFUSED[key]})")
        if key not in known and not _ignored(key):
            raise ConfigurationError(f"{key}: not a Strimzi option this configuration supports")
    return tuple(key for key in options if _ignored(key))


def _flag(options: Mapping[str, str], key: str, *, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    text = trim(value).lower()
    if text not in ("true", "false"):
        raise ConfigurationError(f"{key} must be true or false")
    return text == "true"


def _text(options: Mapping[str, str], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    value = trim(value)
    if not value:
        raise ConfigurationError(f"{key} must not be blank")
    return value


def strimzi_validator(
    config: str | JaasConfig | Mapping[str, str], *, allow_insecure_loopback: bool = False
) -> StrimziValidatorConfig:
    """The validator a broker with Strimzi's ``JaasServerOauthValidatorCallbackHandler``
    and these options would use (see the module documentation). Nothing is
    fetched or started here."""
    options = _options(config)
    ignored = _check_names(options, _SERVER)
    jwks = _text(options, "oauth.jwks.endpoint.uri")
    introspection = _text(options, "oauth.introspection.endpoint.uri")
    if (jwks is None) == (introspection is None):
        raise ConfigurationError(
            "set exactly one of oauth.jwks.endpoint.uri and oauth.introspection.endpoint.uri"
        )
    if not _flag(options, "oauth.access.token.is.jwt", default=True) and jwks is not None:
        raise ConfigurationError(
            "oauth.access.token.is.jwt=false needs oauth.introspection.endpoint.uri"
        )
    issuer = _text(options, "oauth.valid.issuer.uri")
    if _flag(options, "oauth.check.issuer", default=True):
        if issuer is None:
            raise ConfigurationError(
                "oauth.valid.issuer.uri is required (or set oauth.check.issuer=false)"
            )
    else:
        issuer = None
    client_id = _text(options, "oauth.client.id")
    username_claim = _text(options, "oauth.username.claim") or "sub"
    fallback = _text(options, "oauth.fallback.username.claim")

    checks = []
    if _flag(options, "oauth.check.access.token.type", default=True):
        checks.append(f"({ACCESS_TOKEN_TYPE_CHECK})")
    custom = _text(options, "oauth.custom.claim.check")
    if custom is not None:
        ClaimCheck.parse(custom)  # its own error, with its offset, before it is combined
        checks.append(f"({custom})")
    authorizer = ClaimsAuthorizer(
        claim_check=" && ".join(checks) if checks else None,
        groups_claim=_text(options, "oauth.groups.claim") or "groups",
        groups_delimiter=options.get("oauth.groups.claim.delimiter", ","),
    )

    if jwks is not None:
        if fallback is not None:
            raise ConfigurationError(
                "oauth.fallback.username.claim: not supported with oauth.jwks.endpoint.uri "
                "(only with introspection)"
            )
        if _text(options, "oauth.valid.token.type") is not None:
            raise ConfigurationError(
                "oauth.valid.token.type applies to introspection only (Strimzi refuses it too)"
            )
        check_url(
            jwks, option="oauth.jwks.endpoint.uri", allow_insecure_loopback=allow_insecure_loopback
        )
        refresh_s = _seconds(options, "oauth.jwks.refresh.seconds", 300)
        check_audience = _flag(options, "oauth.check.audience", default=False)
        if check_audience and client_id is None:
            raise ConfigurationError("oauth.check.audience=true needs oauth.client.id")
        refresher = JwksRefresher.for_url(
            jwks,
            allow_insecure_loopback=allow_insecure_loopback,
            policy=JwksRefreshPolicy(refresh_interval_s=refresh_s),
        )
        validator: TokenValidator = JwtValidator(
            _StrimziKeys(
                refresher.cache,
                ignore_key_use=_flag(options, "oauth.jwks.ignore.key.use", default=False),
            ),
            algorithms=tuple(sorted(ASYMMETRIC_ALGORITHMS)),
            issuer=issuer,
            audience=client_id if check_audience else None,
            reject_unexpected_audience=False,
            require_iat=False,
            clock_skew_s=0,
            subject_claim=username_claim,
            rules=STRIMZI_RULES,
        )
        return StrimziValidatorConfig(
            validator=validator, refresher=refresher, authorizer=authorizer, ignored=ignored
        )
    assert introspection is not None
    if client_id is None:
        raise ConfigurationError("oauth.introspection.endpoint.uri needs oauth.client.id")
    check_url(
        introspection,
        option="oauth.introspection.endpoint.uri",
        allow_insecure_loopback=allow_insecure_loopback,
    )
    validator = IntrospectionValidator(
        introspection,
        client_id=client_id,
        client_secret=options.get("oauth.client.secret"),
        allow_insecure_loopback=allow_insecure_loopback,
        rules=IntrospectionRules(
            principal_claim=username_claim,
            fallback_principal_claim=fallback,
            issuer=issuer,
            audience=client_id if _flag(options, "oauth.check.audience", default=False) else None,
            token_type=_text(options, "oauth.valid.token.type"),
            clock_skew_s=0,
        ),
    )
    return StrimziValidatorConfig(
        validator=validator, refresher=None, authorizer=authorizer, ignored=ignored
    )


def _seconds(options: Mapping[str, str], key: str, default: int) -> int:
    value = options.get(key)
    if value is None:
        return default
    try:
        number = int(trim(value))
    except ValueError:
        raise ConfigurationError(f"{key} must be a whole number of seconds") from None
    if number < 1:
        raise ConfigurationError(f"{key} must be at least 1")
    return number


def strimzi_client(config: str | JaasConfig | Mapping[str, str]) -> ClientCredentialsConfig:
    """The client-credentials login of Strimzi's ``JaasClientOauthLoginCallbackHandler``:
    ``oauth.token.endpoint.uri``, ``oauth.client.id``, ``oauth.client.secret``,
    ``oauth.scope`` and ``oauth.username.claim``. Nothing is fetched here."""
    options = _options(config)
    _check_names(options, _CLIENT)
    endpoint = _text(options, "oauth.token.endpoint.uri")
    client_id = _text(options, "oauth.client.id")
    secret = options.get("oauth.client.secret")
    if endpoint is None or client_id is None or not secret:
        raise ConfigurationError(
            "oauth.token.endpoint.uri, oauth.client.id and oauth.client.secret are required "
            "(the client-credentials grant)"
        )
    return ClientCredentialsConfig(
        token_endpoint_url=endpoint,
        client_id=client_id,
        client_secret=secret,
        scope=_text(options, "oauth.scope"),
        subject_claim=_text(options, "oauth.username.claim") or "sub",
    )
