"""Adapters that feed oauthbearer's token providers to existing Kafka clients.

One module per client, each imported on its own, so that this package never
imports a Kafka client it is not asked for (and importing the adapter module
does not import its client either: that waits until an adapter is made):

* :mod:`oauthbearer.integrations.kafka_python`: kafka-python's
  ``sasl_oauth_token_provider``;
* :mod:`oauthbearer.integrations.aiokafka`: aiokafka's
  ``sasl_oauth_token_provider``, which Faust takes as ``oauth_cb``;
* :mod:`oauthbearer.integrations.confluent_kafka`: confluent-kafka's
  (librdkafka's) ``oauth_cb``;
* :mod:`oauthbearer.integrations.mail`: the authobject for the standard
  library's ``imaplib`` and ``smtplib``.

Each takes a *token source*: a :class:`~oauthbearer.login.TokenProvider`, an
:class:`~oauthbearer.login.AsyncTokenProvider`, anything else with a
``token()`` method that returns an :class:`~oauthbearer.token.OAuthBearerToken`,
or a plain function that returns one. The SASL extensions to send are checked
once, when the adapter is made, by the rules of RFC 7628 and of Kafka's broker.
"""

from __future__ import annotations

#: Nothing is re-exported: each name is imported from the module that defines it
#: (docs/api.md), so that importing the package loads none of its modules.
__all__: list[str] = []
