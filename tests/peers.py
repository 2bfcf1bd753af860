"""Real peers for interop tests: skip where one is missing, unless CI requires it.

``.ci/run`` installs every peer (Kafka clients, KafkaJS, Sarama, Dovecot) and sets
``OAUTHBEARER_REQUIRE_PEERS=1``, so that a peer that failed to install fails
the run instead of silently skipping the tests that prove interop.
"""

from __future__ import annotations

import os

import pytest

#: Set by .ci/run: a missing peer is a failure, not a skip.
REQUIRE_PEERS_ENV = "OAUTHBEARER_REQUIRE_PEERS"


def missing_peer(what: str, hint: str) -> None:
    """Skip the calling test (or fail it, when peers are required): ``what`` is absent."""
    message = f"{what} is not available ({hint})"
    if os.environ.get(REQUIRE_PEERS_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_PEERS_ENV}=1 requires it")
    pytest.skip(message)
