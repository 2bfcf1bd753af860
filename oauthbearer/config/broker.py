"""Broker side: the token validator a Kafka broker listener would use.

Kafka's rule decides: the listener's ``sasl.server.callback.handler.class``
(with the listener and mechanism prefix); unset means Kafka's *unsecured*
validator. :func:`broker_validator` fetches and starts nothing;
:func:`start_broker_validator` is the one call from a ``server.properties`` to
a validator whose keys are fetched and kept fresh.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Self

from oauthbearer.config._settings import (
    View,
    check_names,
    claim_name,
    jaas_entry,
    jaas_truststore,
    number_setting,
    optional_text,
    refuse_if_set,
    require_secured_handler,
    retry_policy,
)
from oauthbearer.config._values import INT_RANGE, LONG_RANGE, parse_list, trim
from oauthbearer.config.names import (
    DEFAULT_JWT_VALIDATOR,
    JAAS_CONFIG,
    SECURED_VALIDATORS,
    SERVER_CALLBACK_HANDLER,
    UNSECURED_VALIDATORS,
)
from oauthbearer.config.properties import load_properties
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from oauthbearer.http.urls import check_url, file_url_path, split_url
from oauthbearer.unsecured import UnsecuredJwsValidator
from oauthbearer.validation.jwks_cache import JwksRefreshPolicy
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import ASYMMETRIC_ALGORITHMS, KAFKA_RULES, JwtRules, JwtValidator

if TYPE_CHECKING:
    from types import TracebackType

    from oauthbearer.config.jaas import JaasConfig
    from oauthbearer.token import TokenValidator

__all__ = [
    "BrokerValidatorConfig",
    "broker_validator",
    "start_broker_validator",
]

#: The argument that chooses a listener, as a refusal names it
#: (:attr:`~oauthbearer.errors.ConfigurationError.remedy`).
LISTENER_REMEDY: Final = "listener=NAME"

_SECURED_ONLY: Final = (
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerValidatorConfig:
    """What a Kafka broker listener validates tokens with.

    ``validator`` is an :class:`~oauthbearer.unsecured.UnsecuredJwsValidator`
    or a :class:`~oauthbearer.validation.jwt.JwtValidator`; for the latter,
    ``refresher`` keeps its keys fresh and has *not* been started: call
    :meth:`start` (the first fetch, then a thread; or use it as a context
    manager, which also stops it), or ``await refresher.astart()`` in an
    asyncio program, before validating. ``jaas`` is the listener's JAAS entry.
    """

    listener: str
    validator: TokenValidator
    refresher: JwksRefresher | None
    jaas: JaasConfig

    @property
    def unsecured(self) -> bool:
        """Whether this listener accepts unsigned tokens (Kafka's default)."""
        return isinstance(self.validator, UnsecuredJwsValidator)

    def start(self) -> Self:
        """Fetch the keys once (raising if that fails, as Kafka's broker fails
        to start) and keep them fresh in a background thread; nothing to do for
        an unsecured listener, or once started."""
        if self.refresher is not None and not self.refresher.started:
            self.refresher.start()
        return self

    def close(self) -> None:
        """Stop refreshing the keys (the validator keeps the last ones)."""
        if self.refresher is not None:
            self.refresher.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _pick_listener(
    properties: Mapping[str, str], jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None
) -> str:
    suffix = ".oauthbearer." + JAAS_CONFIG
    found = sorted(
        key[len("listener.name.") : -len(suffix)]
        for key in properties
        if key.startswith("listener.name.") and key.endswith(suffix)
    )
    if not found and jaas_file is not None:
        found = sorted(
            name[: -len(".KafkaServer")] for name in jaas_file if name.endswith(".KafkaServer")
        )
    found = [name for name in found if name and "." not in name]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigurationError(
            "no listener.name.<listener>.oauthbearer.sasl.jaas.config is set (nor a JAAS "
            "file section <listener>.KafkaServer): a broker needs one for each listener "
            f"that enables OAUTHBEARER; or name the listener with {LISTENER_REMEDY}",
            remedy=LISTENER_REMEDY,
        )
    raise ConfigurationError(
        f"several listeners configure OAUTHBEARER ({', '.join(found)}): choose one with "
        f"{LISTENER_REMEDY}",
        remedy=LISTENER_REMEDY,
    )


def broker_validator(
    properties: Mapping[str, str],
    *,
    listener: str | None = None,
    allow_insecure_loopback: bool = False,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
    rules: JwtRules = KAFKA_RULES,
    http: HttpOptions | None = None,
) -> BrokerValidatorConfig:
    """The token validator a broker builds for ``listener`` from its properties.

    Without ``listener``, the one listener with an OAUTHBEARER JAAS entry is
    used. Kafka's rule decides the validator:
    ``listener.name.<l>.oauthbearer.sasl.server.callback.handler.class`` unset
    (or Kafka's unsecured handler) means Kafka's unsecured validator, from the
    ``unsecuredValidator*`` JAAS options; Kafka's
    ``OAuthBearerValidatorCallbackHandler`` means signed JWTs checked against
    ``sasl.oauthbearer.jwks.endpoint.url`` (``https:``, or ``file:``), with the
    expected audience and issuer, claim names, clock skew (default 30 s) and
    the JWKS refresh and retry settings. Without the listener's
    ``sasl.jaas.config``, the ``<listener>.KafkaServer`` or ``KafkaServer``
    section of ``jaas_file`` (:func:`~oauthbearer.config.parse_jaas_file`'s
    result) is used, as Kafka reads ``java.security.auth.login.config``.
    Signed tokens are judged by ``rules``: :data:`~oauthbearer.validation.jwt.KAFKA_RULES`
    (the default) grants exactly what Kafka's broker grants;
    :data:`~oauthbearer.validation.jwt.STRICT_RULES` applies RFC 8725 and RFC 9068 instead
    (docs/validation.md lists the differences). The JWKS is fetched with
    ``http`` (:class:`~oauthbearer.http.options.HttpOptions`: trust, deadline,
    transport); the trust it leaves unset comes from the listener's JAAS
    options, as in Kafka (``ssl.truststore.type=PEM`` with
    ``ssl.truststore.location`` or ``ssl.truststore.certificates``). Nothing is
    fetched or started here.
    """
    if not isinstance(properties, Mapping):
        raise ArgumentTypeError("broker_validator: properties must be a mapping")
    check_names(properties)
    name = _pick_listener(properties, jaas_file) if listener is None else listener
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ConfigurationError("broker_validator: listener must be a listener name")
    view = View(properties, name, jaas_file)
    jaas, _ = jaas_entry(view, broker=True)
    handler = view.get(SERVER_CALLBACK_HANDLER, mechanism_only=True)
    handler_class = None if handler is None else trim(handler.value)
    if handler_class is None or handler_class in UNSECURED_VALIDATORS:
        refuse_if_set(
            view,
            _SECURED_ONLY,
            f"{view.mechanism_key(SERVER_CALLBACK_HANDLER)} is not Kafka's "
            "OAuthBearerValidatorCallbackHandler, so Kafka would ignore it and accept "
            "unsigned tokens",
        )
        return BrokerValidatorConfig(
            listener=name.lower(),
            validator=UnsecuredJwsValidator.from_options(jaas.options),
            refresher=None,
            jaas=jaas,
        )
    assert handler is not None
    require_secured_handler(
        handler.key, handler_class, SECURED_VALIDATORS, jaas, "unsecuredValidator", "validator"
    )
    validator_class = view.text("sasl.oauthbearer.jwt.validator.class")
    if validator_class is not None and validator_class.value != DEFAULT_JWT_VALIDATOR:
        raise ConfigurationError(
            f"{validator_class.key}: only Kafka's DefaultJwtValidator can be reproduced here"
        )
    ca_file, ca_certificates = jaas_truststore(jaas)
    refresher = _jwks_refresher(
        view,
        allow_insecure_loopback=allow_insecure_loopback,
        http=(http or DEFAULT_HTTP_OPTIONS).with_defaults(cafile=ca_file, cadata=ca_certificates),
    )
    validator = JwtValidator(
        refresher.cache,
        algorithms=tuple(sorted(ASYMMETRIC_ALGORITHMS)),
        audience=_audience(view),
        issuer=optional_text(view, "sasl.oauthbearer.expected.issuer"),
        clock_skew_s=number_setting(
            view, "sasl.oauthbearer.clock.skew.seconds", 30, INT_RANGE, "int"
        ),
        scope_claim=claim_name(view, "sasl.oauthbearer.scope.claim.name", "scope"),
        subject_claim=claim_name(view, "sasl.oauthbearer.sub.claim.name", "sub"),
        rules=rules,
    )
    return BrokerValidatorConfig(
        listener=name.lower(), validator=validator, refresher=refresher, jaas=jaas
    )


def start_broker_validator(
    properties: Mapping[str, str] | str | os.PathLike[str],
    *,
    listener: str | None = None,
    allow_insecure_loopback: bool = False,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
    rules: JwtRules = KAFKA_RULES,
) -> BrokerValidatorConfig:
    """The validator of a broker listener, started: from ``properties`` (a
    mapping, or the path of a ``server.properties`` file, read as Kafka reads
    it), by :func:`broker_validator`'s rules, its JWKS fetched (a failure is
    raised, as Kafka's broker fails to start) and refreshed in a background
    thread. Call ``close()`` when done, or use the result as a context manager::

        with start_broker_validator("server.properties", listener="sasl_ssl") as broker:
            token = broker.validator.validate(value, now=time.time())
    """
    if isinstance(properties, str | os.PathLike):
        properties = load_properties(properties)
    return broker_validator(
        properties,
        listener=listener,
        allow_insecure_loopback=allow_insecure_loopback,
        jaas_file=jaas_file,
        rules=rules,
    ).start()


def _audience(view: View) -> tuple[str, ...] | None:
    setting = view.get("sasl.oauthbearer.expected.audience")
    if setting is None:
        return None
    return parse_list(setting.key, setting.value) or None


def _jwks_refresher(
    view: View, *, allow_insecure_loopback: bool, http: HttpOptions
) -> JwksRefresher:
    setting = view.text("sasl.oauthbearer.jwks.endpoint.url")
    if setting is None:
        raise ConfigurationError(
            f"{view.mechanism_key('sasl.oauthbearer.jwks.endpoint.url')} is not set: "
            "Kafka's secured validator requires it"
        )
    check_url(
        setting.value,
        option=setting.key,
        allow_file=True,
        allow_insecure_loopback=allow_insecure_loopback,
    )
    refresh_ms = number_setting(
        view, "sasl.oauthbearer.jwks.endpoint.refresh.ms", 3_600_000, LONG_RANGE, "long", low=1
    )
    retry = retry_policy(
        view,
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    )
    if split_url(setting.value).scheme == "file":
        return JwksRefresher.for_file(file_url_path(setting.value, option=setting.key))
    return JwksRefresher.for_url(
        setting.value,
        http=http,
        allow_insecure_loopback=allow_insecure_loopback,
        policy=JwksRefreshPolicy(refresh_interval_s=refresh_ms / 1000),
        retry=retry,
    )
