"""A kafka-python producer that logs in with Okta-style client credentials.

The client side is configured as a Java Kafka client would be: Kafka's client
properties with ``OAuthBearerLoginCallbackHandler`` and a JAAS line holding the
client id, secret and scope. ``client_login`` turns them into a token source
config, ``client_credentials_provider`` fetches and refreshes the token with
Kafka's rules, and ``kafka_python_token_provider`` hands it to kafka-python.

Okta's shape: the granted scopes are in ``scp`` (a JSON list, no ``scope``
claim), the client id in ``sub`` and ``cid``, the audience ``api://default``;
so both sides set the scope claim to ``scp``. Here the test identity
provider's ``okta`` profile stands in for Okta, and the broker emulator, which
validates the JWT against the provider's JWKS, stands in for the brokers. For
your own Okta org: the token endpoint is
``https://{yourOktaDomain}/oauth2/default/v1/token``, the bootstrap servers are
your brokers, and the security protocol is ``SASL_SSL``.

Run it: ``python examples/okta_producer.py`` (needs kafka-python).
"""

from __future__ import annotations

import time
import warnings

from oauthbearer import JsonWebKeySet, JwtValidator
from oauthbearer.config import ClientCredentialsConfig, client_login, parse_properties
from oauthbearer.integrations.kafka_python import kafka_python_token_provider
from oauthbearer.kafka.broker import AuthenticationRecord, BrokerEmulator
from oauthbearer.login.sources import client_credentials_provider
from oauthbearer.testing import TestIdentityProvider

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # kafka-python 3's own, on import
    from kafka import KafkaProducer

CLIENT_ID = "0oa1b2c3d4e5f6g7h8i9"  # an Okta client id's shape
CLIENT_PROPERTIES = r"""
security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.oauthbearer.token.endpoint.url={token_endpoint}
sasl.oauthbearer.scope.claim.name=scp
sasl.login.callback.handler.class=\
    org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
    clientId="{client_id}" clientSecret="okta-client-secret" scope="kafka" ;
"""


def main() -> None:
    with TestIdentityProvider(profile="okta") as okta:
        okta.add_client(CLIENT_ID, "okta-client-secret", scopes=["kafka"], audience="api://default")
        # The brokers' side: Okta's keys, issuer and audience, the scope in scp.
        validator = JwtValidator(
            JsonWebKeySet.from_dict(okta.jwks),
            issuer=okta.issuer,
            audience="api://default",
            scope_claim="scp",
        )
        seen: list[AuthenticationRecord] = []
        broker = BrokerEmulator(validator, topics=["orders"], on_authentication=seen.append)

        properties = parse_properties(
            CLIENT_PROPERTIES.format(token_endpoint=okta.token_endpoint, client_id=CLIENT_ID)
        )
        # Plain http is allowed to a loopback address only, and only when asked.
        config = client_login(properties, now=time.time(), allow_insecure_loopback=True)
        assert isinstance(config, ClientCredentialsConfig)  # the JAAS line has a client secret
        with (
            client_credentials_provider(config, allow_insecure_loopback=True) as provider,
            broker.running_in_thread(),
        ):
            producer = KafkaProducer(
                bootstrap_servers=broker.bootstrap,
                security_protocol=properties["security.protocol"],
                sasl_mechanism="OAUTHBEARER",
                sasl_oauth_token_provider=kafka_python_token_provider(provider),
            )
            try:
                partitions = producer.partitions_for("orders")  # logs in, reads Metadata
                # producer.send("orders", b"...") as usual against real brokers: the
                # emulator serves the authentication phase and Metadata, not Produce.
            finally:
                producer.close()
            token = provider.token()

    # One authentication per connection (the bootstrap one, then the broker's).
    logins = [r for r in seen if r.outcome == "authenticated"]
    assert logins, seen
    record = logins[-1]
    assert all(r.principal == record.principal for r in logins), logins
    assert record.principal == CLIENT_ID, record
    assert token.scope == frozenset({"kafka"})  # read from the scp list
    assert partitions, partitions
    print(f"logged in as {record.principal} with scope {sorted(token.scope)}; orders: {partitions}")


if __name__ == "__main__":
    main()
