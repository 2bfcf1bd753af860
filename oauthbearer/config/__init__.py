"""Kafka configuration in, our objects out: JAAS strings, ``.properties`` files, listeners.

Theory of operation
-------------------
People who run Kafka already have a working configuration: a ``sasl.jaas.config``
string and some ``sasl.oauthbearer.*`` / ``sasl.login.*`` properties. This module
reads them exactly as Kafka does and builds what Kafka would build, so that a
configuration can be moved over without being rewritten. Each concern has its
module; this package re-exports their public names:

* :mod:`~oauthbearer.config.jaas`: :func:`~oauthbearer.config.jaas.parse_jaas_config`
  is Kafka's ``JaasConfig`` parser, a ``java.io.StreamTokenizer`` with Kafka's
  syntax table (:data:`~oauthbearer.config.jaas.JAAS_GRAMMAR`), then
  ``LoginModule controlFlag (key=value)* ;``, exactly one entry, as Kafka's
  ``JaasContext`` requires for ``sasl.jaas.config``.
* :mod:`~oauthbearer.config.properties` reads the Java ``.properties`` format
  (``java.util.Properties.load``), as ``kafka-server-start`` does.
* :mod:`~oauthbearer.config.broker`:
  :func:`~oauthbearer.config.broker.broker_validator` picks the validator a
  broker listener would use, by Kafka's rule: the
  ``sasl.server.callback.handler.class`` of the listener and mechanism decides;
  unset means Kafka's *unsecured* validator.
* :mod:`~oauthbearer.config.listener`:
  :func:`~oauthbearer.config.listener.broker_listener` reads a whole broker
  listener (its address, TLS key store, mechanisms, session and connection
  limits, and validator) for the broker emulator, refusing what the emulator
  cannot honour; :func:`~oauthbearer.config.broker.start_broker_validator` is
  the one call from a ``server.properties`` to a started validator.
* :mod:`~oauthbearer.config.client`:
  :func:`~oauthbearer.config.client.client_login` does the same for a client:
  no ``sasl.login.callback.handler.class`` means the unsecured login; Kafka's
  ``OAuthBearerLoginCallbackHandler`` means a token endpoint, described here by
  a validated configuration object, never contacted; no file it names is read.
* :mod:`~oauthbearer.config.start` runs a client's login: from its properties
  to a started token provider (:func:`~oauthbearer.config.start.token_provider`,
  :func:`~oauthbearer.config.start.async_token_provider`) or to the
  constructor arguments of kafka-python, aiokafka and confluent-kafka, in one call.
* :mod:`~oauthbearer.config.names`: the Kafka names all of them share.

A broker reads each setting for listener ``L`` from, in order (Kafka's
``AbstractConfig.valuesWithPrefixOverride`` and OAuth ``ConfigurationUtils.get``):
``listener.name.l.oauthbearer.<name>``, then ``listener.name.l.<name>``, then
``<name>``. Two settings are read only in the first form:
``sasl.jaas.config`` (Kafka ignores an unprefixed one on a broker, with a
warning) and ``sasl.server.callback.handler.class``.

Strictness, beyond Kafka: an unknown ``sasl.oauthbearer.*`` or ``sasl.login.*``
name is an error (a typo would otherwise be silently ignored), and so is a
setting that Kafka would ignore *because of another one* (a JWKS URL on a
listener that uses the unsecured validator, say), since that is always a
mistake and sometimes a dangerous one.

No message built here contains an option value: errors name the key (and, in a
JAAS string, the character offset), and the ``repr`` of a parsed JAAS entry
hides the values of secret-looking keys
(:func:`~oauthbearer.config.names.is_secret_key`).
"""

from __future__ import annotations

from oauthbearer.config.broker import (
    BrokerValidatorConfig,
    broker_validator,
    start_broker_validator,
)
from oauthbearer.config.client import (
    ClientCredentialsConfig,
    ClientLogin,
    JwtBearerConfig,
    TokenFileConfig,
    client_login,
)
from oauthbearer.config.jaas import (
    JAAS_GRAMMAR,
    JaasConfig,
    JaasConfigError,
    jaas_file_entry,
    parse_jaas_config,
    parse_jaas_file,
)
from oauthbearer.config.listener import (
    BrokerListener,
    Endpoint,
    ListenerTls,
    broker_listener,
)
from oauthbearer.config.names import KNOWN_PROPERTIES, OAUTHBEARER_LOGIN_MODULE, is_secret_key
from oauthbearer.config.properties import PropertiesError, load_properties, parse_properties
from oauthbearer.config.start import (
    ClientTokenSource,
    JaasFile,
    PropertiesSource,
    aiokafka_settings,
    async_token_provider,
    client_token_source,
    confluent_kafka_settings,
    kafka_python_settings,
    token_provider,
)

__all__ = [
    "JAAS_GRAMMAR",
    "KNOWN_PROPERTIES",
    "OAUTHBEARER_LOGIN_MODULE",
    "BrokerListener",
    "BrokerValidatorConfig",
    "ClientCredentialsConfig",
    "ClientLogin",
    "ClientTokenSource",
    "Endpoint",
    "JaasConfig",
    "JaasConfigError",
    "JaasFile",
    "JwtBearerConfig",
    "ListenerTls",
    "PropertiesError",
    "PropertiesSource",
    "TokenFileConfig",
    "aiokafka_settings",
    "async_token_provider",
    "broker_listener",
    "broker_validator",
    "client_login",
    "client_token_source",
    "confluent_kafka_settings",
    "is_secret_key",
    "jaas_file_entry",
    "kafka_python_settings",
    "load_properties",
    "parse_jaas_config",
    "parse_jaas_file",
    "parse_properties",
    "start_broker_validator",
    "token_provider",
]
