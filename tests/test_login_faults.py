"""Every token source against the test identity provider, including its faults.

Kafka's retry rule, seen from the wire: transient trouble (5xx, 408, 429, a dropped
connection, a timeout, an empty 200) is retried within the budget; a client error
or a body that is not a token is not; when the budget runs out, the first error is
the one reported. The identity provider's request log counts the attempts.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oauthbearer.http.options import HttpOptions
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.login.client_token import client_token
from oauthbearer.login.grants import (
    TokenEndpointError,
    client_credentials_request,
    make_assertion,
    private_key_jwt_request,
)
from oauthbearer.login.http import discover, fetch_token
from oauthbearer.testing.idp import (
    DropConnection,
    EmptyBody,
    Endpoint,
    Fault,
    HttpStatus,
    MalformedJson,
    OversizedBody,
    Slow,
    TestIdentityProvider,
)
from oauthbearer.validation.jwks_fetch import JwksRefresher
from oauthbearer.validation.jwt import JwtValidator

if TYPE_CHECKING:
    from collections.abc import Iterator

FAST = RetryPolicy(backoff_s=0.01, budget_s=3.0)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", "s3cret", scopes=("kafka",), audience="kafka-cluster")
        provider.add_client("signer", public_key_pem=PUBLIC_PEM, scopes=("kafka",))
        yield provider


@pytest.fixture(autouse=True)
def fresh(idp: TestIdentityProvider) -> None:
    idp.clear_faults()
    idp.clear_requests()


def token_requests(idp: TestIdentityProvider) -> int:
    return sum(1 for request in idp.requests if request.endpoint == Endpoint.TOKEN)


def fetch(idp: TestIdentityProvider, *, timeout_s: float = 2.0) -> str:
    request = client_credentials_request(idp.token_endpoint, "orders", "s3cret", scope="kafka")
    response = fetch_token(
        request, retry=FAST, http=HttpOptions(timeout_s=timeout_s), allow_insecure_loopback=True
    )
    return response.access_token


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        (HttpStatus(status=503), 2),
        (HttpStatus(status=500), 1),
        (HttpStatus(status=429, retry_after_s=1), 1),
        (HttpStatus(status=408), 1),
        (DropConnection(), 1),
        (EmptyBody(), 1),  # Kafka retries an empty success body
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, int) else str(value),
)
def test_transient_faults_are_retried(idp: TestIdentityProvider, fault: Fault, times: int) -> None:
    idp.inject(Endpoint.TOKEN, fault, times=times)
    token = fetch(idp, timeout_s=0.4)
    assert client_token(token).principal == "orders"
    assert token_requests(idp) == times + 1


def test_a_timeout_is_retried(idp: TestIdentityProvider) -> None:
    idp.inject(Endpoint.TOKEN, Slow(delay_s=1.0), times=1)
    started = time.monotonic()
    token = fetch(idp, timeout_s=0.3)
    assert time.monotonic() - started >= 0.3  # the first attempt waited out its timeout
    assert client_token(token).principal == "orders"
    # The identity provider logs the slow request when its delay ends.
    deadline = time.monotonic() + 3
    while token_requests(idp) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token_requests(idp) == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (HttpStatus(status=400), "invalid_request"),
        (HttpStatus(status=401), "invalid_client"),
        (HttpStatus(status=501), "server_error"),
        (MalformedJson(), None),
        (OversizedBody(), None),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str | None) else str(value),
)
def test_final_faults_are_not_retried(
    idp: TestIdentityProvider, fault: Fault, error: str | None
) -> None:
    idp.inject(Endpoint.TOKEN, fault, times=1)
    with pytest.raises(TokenEndpointError) as info:
        fetch(idp)
    assert not info.value.retryable
    if error is not None:
        assert info.value.error == error
    assert token_requests(idp) == 1


def test_when_the_budget_runs_out_the_first_error_is_reported(idp: TestIdentityProvider) -> None:
    idp.inject(Endpoint.TOKEN, HttpStatus(status=503), times=1)
    idp.inject(Endpoint.TOKEN, HttpStatus(status=500), times=1000)
    request = client_credentials_request(idp.token_endpoint, "orders", "s3cret")
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(
            request,
            retry=RetryPolicy(backoff_s=0.05, budget_s=0.3),
            allow_insecure_loopback=True,
        )
    assert info.value.status == 503
    assert 2 <= token_requests(idp) <= 6  # 0.05 + 0.1 + ... within 0.3 s


def test_private_key_jwt_against_the_identity_provider(idp: TestIdentityProvider) -> None:
    assertion = make_assertion(
        KEY,
        issuer="signer",
        subject="signer",
        audience=idp.token_endpoint,
        now=time.time(),
        jti=str(uuid.uuid4()),
    )
    request = private_key_jwt_request(idp.token_endpoint, "signer", assertion, scope="kafka")
    response = fetch_token(request, retry=FAST, allow_insecure_loopback=True)
    token = client_token(response.access_token)
    assert (token.principal, token.scope) == ("signer", frozenset({"kafka"}))
    # The same assertion again is a replay, which the identity provider refuses.
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(request, retry=FAST, allow_insecure_loopback=True)
    assert info.value.error == "invalid_client"


def test_discovery_finds_the_endpoints_and_retries_a_5xx(idp: TestIdentityProvider) -> None:
    idp.inject(Endpoint.DISCOVERY, HttpStatus(status=503), times=1)
    found = discover(idp.issuer, retry=FAST, allow_insecure_loopback=True)
    assert (found.issuer, found.token_endpoint, found.jwks_uri) == (
        idp.issuer,
        idp.token_endpoint,
        idp.jwks_uri,
    )


def test_the_jwks_refresher_retries_and_the_broker_accepts_the_token(
    idp: TestIdentityProvider,
) -> None:
    token = fetch(idp)
    idp.inject(Endpoint.JWKS, DropConnection(), times=1)
    idp.inject(Endpoint.JWKS, HttpStatus(status=503), times=1)
    refresher = JwksRefresher.for_url(idp.jwks_uri, allow_insecure_loopback=True, retry=FAST)
    refresher.refresh()
    validator = JwtValidator(refresher.cache, audience="kafka-cluster", issuer=idp.issuer)
    assert validator.validate(token, now=time.time()).principal == "orders"
    jwks_requests = sum(1 for request in idp.requests if request.endpoint == Endpoint.JWKS)
    assert jwks_requests == 3
