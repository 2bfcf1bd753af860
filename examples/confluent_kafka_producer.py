"""A confluent-kafka (librdkafka) producer with this library's token source.

librdkafka calls ``oauth_cb`` for a token; ``confluent_kafka_config`` gives the
callback and ``sasl.mechanisms``, backed by a ``client_credentials_provider``
that applies Kafka's refresh and retry rules. Use it where librdkafka's own
``sasl.oauthbearer.method=oidc`` cannot do what you need: Kafka's Java client
properties as they are, the jwt-bearer grant, or a token source of your own.

The test identity provider and the broker emulator stand in for your identity
provider and brokers (use ``SASL_SSL`` against real ones).

Run it: ``python examples/confluent_kafka_producer.py`` (needs confluent-kafka).
"""

from __future__ import annotations

import time

from confluent_kafka import Producer

from oauthbearer import JsonWebKeySet, JwtValidator
from oauthbearer.config import ClientCredentialsConfig, client_login
from oauthbearer.integrations.confluent_kafka import confluent_kafka_config
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.login.sources import client_credentials_provider
from oauthbearer.testing import TestIdentityProvider

PACKAGE = "org.apache.kafka.common.security.oauthbearer."


def main() -> None:
    with TestIdentityProvider() as idp:
        idp.add_client("orders-service", "s3cr3t", scopes=["kafka"], audience="kafka-cluster")
        validator = JwtValidator(
            JsonWebKeySet.from_dict(idp.jwks), audience="kafka-cluster", issuer=idp.issuer
        )
        seen: list[AuthenticationRecord] = []
        broker = BrokerEmulator(validator, topics=["orders"], on_authentication=seen.append)
        properties = {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.login.callback.handler.class": PACKAGE + "OAuthBearerLoginCallbackHandler",
            "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
            "sasl.jaas.config": PACKAGE + "OAuthBearerLoginModule required"
            ' clientId="orders-service" clientSecret="s3cr3t" scope="kafka"'
            ' extension_logicalCluster="lkc-abc123";',
        }
        config = client_login(properties, now=time.time(), allow_insecure_loopback=True)
        assert isinstance(config, ClientCredentialsConfig)  # the JAAS line has a client secret
        with (
            client_credentials_provider(config, allow_insecure_loopback=True) as provider,
            broker.running_in_thread(),
        ):
            producer = Producer(
                {
                    "bootstrap.servers": broker.bootstrap,
                    "security.protocol": "SASL_PLAINTEXT",
                    **confluent_kafka_config(provider, extensions=config.extensions),
                }
            )
            metadata = producer.list_topics("orders", timeout=30)  # logs in, or raises
            # producer.produce("orders", b"...") as usual against real brokers: the
            # emulator serves the authentication phase and Metadata, not Produce.
            producer.flush(10)

    # One authentication per connection (the bootstrap one, then the broker's).
    logins = [r for r in seen if r.outcome == "authenticated"]
    assert logins, seen
    record = logins[-1]
    assert all(r.principal == record.principal for r in logins), logins
    assert record.principal == "orders-service", record
    assert dict(record.extensions) == {"logicalCluster": "lkc-abc123"}, record
    assert "orders" in metadata.topics, metadata.topics
    print(f"logged in as {record.principal}, extensions {dict(record.extensions)}")


if __name__ == "__main__":
    main()
