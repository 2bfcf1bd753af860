"""A Kafka broker emulator from a broker's own server.properties, and a client
that authenticates to it.

    python examples/broker_from_server_properties.py [SERVER_PROPERTIES [LISTENER] [--cafile CA]]

With a file, the emulator serves LISTENER (or the one listener with an
OAUTHBEARER JAAS entry) exactly as Kafka would read it: its validator (and
JWKS), mechanisms, session lifetime, limits and, for SASL_SSL, its PEM key
store; anything it cannot honour is refused by name. It listens on a free
loopback port rather than the listener's own, so that it never collides with
a running broker. The client is oauthbearer's own, with an unsecured token
for principal "alice" (the listener must use Kafka's unsecured validator for
it to be granted), trusting --cafile over SASL_SSL.

Without a file it writes a small server.properties of its own: one
SASL_PLAINTEXT listener with Kafka's unsecured validator requiring the scope
"kafka".
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import tempfile
import time
from pathlib import Path

from oauthbearer.config import broker_listener
from oauthbearer.errors import ConfigurationError
from oauthbearer.kafka import ClientAuthenticated
from oauthbearer.kafka.aio import authenticate
from oauthbearer.kafka.broker import BrokerEmulator
from oauthbearer.unsecured import kafka_unsecured_login

DEMO_PROPERTIES = """\
# What a broker's server.properties says about its OAUTHBEARER listener.
listeners=CLIENTS://127.0.0.1:9094
listener.security.protocol.map=CLIENTS:SASL_PLAINTEXT
listener.name.clients.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.clients.oauthbearer.sasl.jaas.config=\\
    org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \\
    unsecuredValidatorRequiredScope="kafka" ;
listener.name.clients.oauthbearer.connections.max.reauth.ms=600000
# Storage and the like: read by a broker, of no concern to its clients' logins.
log.dirs=/var/lib/kafka
num.partitions=3
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("properties", nargs="?", help="a broker's server.properties")
    parser.add_argument("listener", nargs="?", help="the listener to serve")
    parser.add_argument("--cafile", help="the CA that signed a SASL_SSL listener's certificate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.properties
        if path is None:
            path = Path(scratch) / "server.properties"
            path.write_text(DEMO_PROPERTIES, encoding="latin-1")
        try:
            # The one call: the listener as Kafka reads it (nothing started yet).
            listener = broker_listener(path, listener=args.listener, listen=("127.0.0.1", 0))
            emulator = BrokerEmulator.from_listener(listener, topics=["orders"])
        except (ConfigurationError, OSError) as error:
            print(f"cannot serve {path}: {error}", file=sys.stderr)
            return 2
        lifetime = listener.max_reauth_ms
        print(
            f"listener {listener.name}: {listener.security_protocol}, "
            f"{'unsecured tokens' if listener.unsecured else 'signed JWTs'}, "
            + (f"sessions of at most {lifetime} ms" if lifetime else "sessions as long as tokens")
        )
        if listener.unread:
            print(f"not read (no bearing on its clients): {', '.join(listener.unread)}")
        token = kafka_unsecured_login(
            {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginListClaim_scope": ",kafka"},
            now=time.time(),
        ).token.value
        context = None
        if listener.security_protocol == "SASL_SSL":
            context = ssl.create_default_context(cafile=args.cafile)
        # The validation starts first (a JWKS is fetched, as on a broker's start).
        with listener.validation, emulator.running_in_thread() as broker:
            outcome = asyncio.run(
                authenticate(broker.host, broker.port, token, metadata=True, ssl_context=context)
            )
    print(f"alice at {broker.bootstrap}: {outcome}")
    return 0 if isinstance(outcome, ClientAuthenticated) else 1


if __name__ == "__main__":
    sys.exit(main())
