"""End to end: Kafka client properties to a refreshing token, from the test identity provider."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from oauthbearer.config import ClientCredentialsConfig, client_login
from oauthbearer.jwks_fetch import JwksRefresher
from oauthbearer.jwt import JwtValidator
from oauthbearer.login.requests import TokenEndpointError
from oauthbearer.login.sources import client_credentials_provider
from oauthbearer.testing import TestIdentityProvider

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "s3:cr%t"  # ':' and '%' are the characters Kafka's urlencode option exists for


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", SECRET, scopes=("kafka",), audience="kafka-cluster")
        yield provider


def properties(idp: TestIdentityProvider, **extra: str) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'clientId="orders" clientSecret="{SECRET}" scope="kafka" extension_traceId="t1";'
        ),
        **extra,
    }


@pytest.mark.parametrize("urlencode", ["false", "true"])
def test_kafka_client_properties_to_a_token_the_broker_accepts(
    idp: TestIdentityProvider, urlencode: str
) -> None:
    config = client_login(
        properties(idp, **{"sasl.oauthbearer.header.urlencode": urlencode}),
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, ClientCredentialsConfig)
    assert SECRET not in repr(config)
    idp.clear_requests()
    with client_credentials_provider(config, allow_insecure_loopback=True) as provider:
        token = provider.token()
    assert token.principal == "orders"
    assert token.scope == frozenset({"kafka"})
    assert dict(config.extensions) == {"traceId": "t1"}
    # The identity provider decoded Kafka's Basic credentials (plain or urlencoded;
    # their exact bytes are pinned in test_login_requests.py) and logged no secret.
    request = idp.requests[-1]
    assert request.form.get("grant_type") == "client_credentials"
    assert SECRET not in repr(idp.requests)
    # The broker side validates the same token against the identity provider's JWKS.
    keys = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True)
    keys.refresh()
    validator = JwtValidator(keys.cache, audience="kafka-cluster", issuer=idp.issuer)
    assert validator.validate(token.value, now=time.time()).principal == "orders"


def test_a_wrong_secret_is_the_identity_providers_own_error(idp: TestIdentityProvider) -> None:
    config = client_login(
        properties(idp).copy()
        | {"sasl.jaas.config": properties(idp)["sasl.jaas.config"].replace(SECRET, "wrong")},
        now=time.time(),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, ClientCredentialsConfig)
    with pytest.raises(TokenEndpointError, match="invalid_client") as info:
        client_credentials_provider(config, allow_insecure_loopback=True).start()
    assert "wrong" not in str(info.value)
