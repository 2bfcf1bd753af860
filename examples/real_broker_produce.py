"""kafka-python producing to a real Apache Kafka broker, with Kafka's unsecured tokens.

The broker emulator serves the authentication phase and Metadata, not Produce;
producing needs a real broker. This one logs in with Kafka's unsecured tokens
(``alg`` ``none``, what Kafka's default ``OAuthBearerUnsecuredLoginCallbackHandler``
makes and its default validator accepts; for development only), built by
``kafka_unsecured_login`` from the same ``unsecuredLogin*`` options as Kafka's
JAAS line, and sends three records.

Needs: kafka_broker

Run it against a SASL_PLAINTEXT listener with OAUTHBEARER and Kafka's default
unsecured validator:
``OAUTHBEARER_BOOTSTRAP=host:port python examples/real_broker_produce.py``
(needs kafka-python). Without ``OAUTHBEARER_BOOTSTRAP`` it says so and exits 2.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import TYPE_CHECKING

from oauthbearer.integrations.kafka_python import kafka_python_token_provider
from oauthbearer.unsecured import kafka_unsecured_login

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # kafka-python 3's own, on import
    from kafka import KafkaProducer

if TYPE_CHECKING:
    from oauthbearer import OAuthBearerToken

TOPIC = "oauthbearer-examples"


def token() -> OAuthBearerToken:
    """A fresh unsecured token for ``alice``: kafka-python asks on each connection."""
    options = {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginLifetimeSeconds": "300"}
    return kafka_unsecured_login(options, now=time.time()).token


def main() -> int:
    bootstrap = os.environ.get("OAUTHBEARER_BOOTSTRAP")
    if not bootstrap:
        print("set OAUTHBEARER_BOOTSTRAP=host:port (a real broker's listener)", file=sys.stderr)
        return 2
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=kafka_python_token_provider(token),
        acks="all",
    )
    try:
        sent = [producer.send(TOPIC, value=f"record {i}".encode()) for i in range(3)]
        written = [future.get(timeout=60) for future in sent]
    finally:
        producer.close()
    offsets = [metadata.offset for metadata in written]
    assert offsets == sorted(offsets), offsets
    assert len(set(offsets)) == 3, offsets
    print(f"wrote 3 records to {TOPIC} at offsets {offsets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
