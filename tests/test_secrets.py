"""No secret in any message or log (issue 14, finding 12): an unquoted JAAS
secret with a space, an identity provider that echoes the request's secrets,
and the test IdP's request log."""

from __future__ import annotations

import json
import logging

import pytest

from oauthbearer.config import client_login, parse_jaas_config
from oauthbearer.errors import ConfigurationError
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.login.grants import (
    REDACTED,
    TokenEndpointError,
    TokenRequest,
    client_credentials_request,
    is_credential_name,
    jwt_bearer_request,
    parse_token_response,
    scrub_secrets,
)
from oauthbearer.login.http import fetch_token

MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
SECRET = "correct horseBatteryStaple9"
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJlLXNlY3JldA"


# --- the JAAS parser (it was rewritten; checked here) ----------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        f"clientId=app clientSecret={SECRET} ;",
        f"clientSecret={SECRET} clientId=app;",
        "clientSecret=correct horse-Battery-Staple9;",
        'clientId="app" unsecuredLoginPassword=correct horseBatteryStaple9;',
    ],
)
def test_an_unquoted_secret_with_a_space_is_never_echoed(options: str) -> None:
    jaas = f"{MODULE} required {options}"
    with pytest.raises(ConfigurationError) as parsed:
        parse_jaas_config(jaas)
    with pytest.raises(ConfigurationError) as configured:
        client_login({"sasl.mechanism": "OAUTHBEARER", "sasl.jaas.config": jaas}, now=0.0)
    for error in (parsed.value, configured.value):
        assert "horse" not in str(error)
        assert "Staple9" not in str(error)
        assert "hidden" in str(error)


# --- an identity provider that echoes the request's secrets ----------------------------------


def _echo(secret: str) -> bytes:
    return json.dumps(
        {"error": "invalid_client", "error_description": f"bad client secret {secret!s}!"}
    ).encode()


def _requests() -> list[tuple[TokenRequest, tuple[str, ...]]]:
    basic = client_credentials_request("https://idp.example/t", "app", SECRET)
    encoded = client_credentials_request(
        "https://idp.example/t", "app", "s3cr3t/+=?", urlencode_credentials=True
    )
    post = client_credentials_request(
        "https://idp.example/t", "app", SECRET, auth_method="client_secret_post"
    )
    bearer = jwt_bearer_request("https://idp.example/t", ASSERTION)
    header = basic.header("Authorization")
    assert header is not None
    return [
        (basic, (SECRET, header.split()[1], f"app:{SECRET}")),
        (encoded, ("s3cr3t/+=?", "s3cr3t%2F%2B%3D%3F")),
        (post, (SECRET, "correct+horseBatteryStaple9")),
        (bearer, (ASSERTION,)),
    ]


@pytest.mark.parametrize("index", range(4))
def test_an_echoed_secret_is_scrubbed_from_the_error(index: int) -> None:
    token_request, secrets = _requests()[index]
    for secret in secrets:
        with pytest.raises(TokenEndpointError) as info:
            parse_token_response(401, _echo(secret), now=0.0, request=token_request)
        error = info.value
        for text in (str(error), error.error_description or "", error.error or ""):
            for each in secrets:
                assert each not in text
        assert REDACTED in (error.error_description or "")


def test_fetch_token_scrubs_and_so_do_its_logs(caplog: pytest.LogCaptureFixture) -> None:
    token_request = client_credentials_request(
        "https://idp.example/t", "app", SECRET, auth_method="client_secret_post"
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(
            token_request,
            retry=RetryPolicy(backoff_s=0.0, budget_s=0.0),
            transport=lambda _request: (400, _echo(SECRET)),
        )
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


def test_without_the_request_nothing_is_scrubbed() -> None:
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(401, _echo("plain"), now=0.0)
    assert "plain" in str(info.value)


def test_scrub_secrets_longest_first() -> None:
    assert scrub_secrets("abcdef abc", ["abc", "abcdef"]) == f"{REDACTED} {REDACTED}"
    assert scrub_secrets("text", ["", "zz"]) == "text"


@pytest.mark.parametrize(
    "name",
    [
        "client_secret",
        "CLIENT_SECRET",
        "access_token",
        "subject_token",
        "actor_token",
        "refresh_token",
        "assertion",
        "client_assertion",
        "password",
        "code",
        "code_verifier",
        "X-API-Key",
        "api_key",
        "apikey",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
    ],
)
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["grant_type", "client_id", "scope", "Content-Type", "x"])
def test_plain_names(name: str) -> None:
    assert not is_credential_name(name)
