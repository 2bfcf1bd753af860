"""pg8000 and asyncpg log in to the real PostgreSQL 18 with OAUTHBEARER.

Each adapter: a granted token runs queries; a refused one raises the server's
challenge as ``PostgresLoginFailed``; an authzid is refused (0A000); a token
source is asked again for every new connection; a login that PostgreSQL does
not configure for OAuth fails plainly; and discovery names the issuer.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer import OAuthBearerError, OAuthBearerToken
from oauthbearer.integrations import asyncpg as asyncpg_adapter
from oauthbearer.integrations import pg8000 as pg8000_adapter
from oauthbearer.integrations.postgresql import PostgresLoginFailed
from tests.peers import missing_peer
from tests.real_postgres import ISSUER, PASSWORD_USER, SCOPE

if TYPE_CHECKING:
    from tests.real_postgres import PostgresServer

DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        missing_peer(module, "pip install -e '.[postgres]'")


def pg8000_query(server: PostgresServer, source: Any, user: str = "alice", **kw: Any) -> Any:
    _need("pg8000")
    connection = pg8000_adapter.connect(
        source, user=user, host="127.0.0.1", port=server.port, database="postgres", **kw
    )
    try:
        return connection.run("SELECT current_user, 6 * 7")[0]
    finally:
        connection.close()


def asyncpg_query(server: PostgresServer, source: Any, user: str = "alice", **kw: Any) -> Any:
    _need("asyncpg")

    async def run() -> Any:
        connection = await asyncpg_adapter.connect(
            source, user=user, host="127.0.0.1", port=server.port, database="postgres", **kw
        )
        try:
            return list(await connection.fetchrow("SELECT current_user, 6 * 7"))
        finally:
            await connection.close()

    return asyncio.run(run())


QUERIES = [pytest.param(pg8000_query, id="pg8000"), pytest.param(asyncpg_query, id="asyncpg")]


@pytest.mark.parametrize("query", QUERIES)
def test_a_granted_token_logs_in(postgres_server: PostgresServer, query: Any) -> None:
    postgres_server.grant({"alice-token": "alice"})
    assert query(postgres_server, "alice-token") == ["alice", 42]


@pytest.mark.parametrize("query", QUERIES)
def test_a_refused_token_raises_the_challenge(postgres_server: PostgresServer, query: Any) -> None:
    postgres_server.grant({})
    with pytest.raises(PostgresLoginFailed) as info:
        query(postgres_server, "expired-token")
    assert isinstance(info.value, OAuthBearerError)
    assert info.value.status == "invalid_token"
    assert info.value.scope == SCOPE
    assert info.value.openid_configuration == DISCOVERY_URL
    assert info.value.sqlstate == "28000"


@pytest.mark.parametrize("query", QUERIES)
def test_an_authzid_is_refused(postgres_server: PostgresServer, query: Any) -> None:
    postgres_server.grant({"alice-token": "alice"})
    with pytest.raises(PostgresLoginFailed, match="authorization identity") as info:
        query(postgres_server, "alice-token", authzid="alice")
    assert info.value.sqlstate == "0A000"
    assert info.value.status is None


@pytest.mark.parametrize("query", QUERIES)
def test_each_new_connection_asks_the_source_again(
    postgres_server: PostgresServer, query: Any
) -> None:
    numbers = itertools.count(1)

    def source() -> OAuthBearerToken:
        value = f"rotating-{next(numbers)}"
        return OAuthBearerToken(
            value=value, principal="bob", scope=frozenset(), lifetime_ms=4_102_444_800_000
        )

    postgres_server.grant({"rotating-1": "bob"})
    assert query(postgres_server, source, user="bob") == ["bob", 42]
    # The first token is revoked: only a source asked anew gets in.
    postgres_server.grant({"rotating-2": "bob"})
    assert query(postgres_server, source, user="bob") == ["bob", 42]
    with pytest.raises(PostgresLoginFailed):
        query(postgres_server, "rotating-1", user="bob")


@pytest.mark.parametrize("query", QUERIES)
def test_a_login_not_configured_for_oauth_fails(
    postgres_server: PostgresServer, query: Any
) -> None:
    postgres_server.grant({"alice-token": PASSWORD_USER})
    with pytest.raises(PostgresLoginFailed, match="SCRAM-SHA-256, not OAUTHBEARER"):
        query(postgres_server, "alice-token", user=PASSWORD_USER)


def test_discovery_names_the_issuer(postgres_server: PostgresServer) -> None:
    found = pg8000_adapter.discover(user="alice", host="127.0.0.1", port=postgres_server.port)
    assert found.openid_configuration == DISCOVERY_URL
    assert found.error.scope == SCOPE
    found_async = asyncio.run(
        asyncpg_adapter.discover(user="alice", host="127.0.0.1", port=postgres_server.port)
    )
    assert found_async == found


def test_asyncpg_cancels_through_the_relay(postgres_server: PostgresServer) -> None:
    _need("asyncpg")
    postgres_server.grant({"alice-token": "alice"})

    async def run() -> int:
        connection = await asyncpg_adapter.connect(
            "alice-token",
            user="alice",
            host="127.0.0.1",
            port=postgres_server.port,
            database="postgres",
        )
        try:
            slow = asyncio.create_task(connection.fetch("SELECT pg_sleep(30)"))
            await asyncio.sleep(0.3)
            slow.cancel()  # asyncpg sends a CancelRequest on a new connection
            with pytest.raises(asyncio.CancelledError):
                await slow
            value: int = await asyncio.wait_for(connection.fetchval("SELECT 7"), 10)
            return value
        finally:
            await connection.close()

    assert asyncio.run(run()) == 7
