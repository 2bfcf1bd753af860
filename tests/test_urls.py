"""One URL policy for every outgoing HTTP call (oauthbearer.http.urls), and every
URL-taking public API held to it with the same hostile URLs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer._net import is_loopback
from oauthbearer.cli import main
from oauthbearer.config import broker_validator, client_login
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.options import HttpOptions
from oauthbearer.http.urls import (
    MAX_SHOWN_URL_LENGTH,
    check_url,
    file_url_path,
    redact_url,
    split_url,
)
from oauthbearer.login.grants import (
    TokenRequest,
    client_credentials_request,
    discovery_urls,
    jwt_bearer_request,
)
from oauthbearer.login.http import discover, discover_async, fetch_token, fetch_token_async
from oauthbearer.validation.jwks_fetch import JwksRefresher, fetch_jwks_url

if TYPE_CHECKING:
    from collections.abc import Callable

SECRET = "Hunter2Secret"
#: The finding's URLs: user info, a broken IPv6 literal, bad ports, plain http
#: to a remote host, a fragment, a space and a scheme that is no URL at all.
HOSTILE = (
    f"https://svc:{SECRET}@idp.example.com/keys",
    f"https://svc:{SECRET}/x@idp.example.com/keys",
    "https://[::1/keys",
    "https://idp:99999/k",
    "https://idp:abc/k",
    "https://idp:0/k",
    "http://idp.example.com/k",
    "https://idp/k#frag",
    "https://idp/k k",
    "javascript:alert(1)",
)

MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
PREFIX = "listener.name.sasl_ssl.oauthbearer."


# --- the policy itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example/k",
        "HTTPS://idp.example:8443/k?x=1",
        "https://[2001:db8::1]:443/k",
        "https://idp_internal.example/k",
    ],
)
def test_accepted(url: str) -> None:
    assert check_url(url, option="u") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/jwks",
        "http://127.1.2.3/jwks",
        "http://[::1]:1/t",
        "http://LOCALHOST/t",
    ],
)
def test_plain_http_only_to_loopback_when_allowed(url: str) -> None:
    assert check_url(url, option="u", allow_insecure_loopback=True) == url
    with pytest.raises(ConfigurationError, match="must use https"):
        check_url(url, option="u")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://localhost.evil.example/t", "must use https"),
        ("http://127.0.0.1.nip.io/t", "must use https"),
        ("ftp://127.0.0.1/t", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("https:///k", "with a host"),
        ("https:k", "with a host"),
        ("//idp/k", "absolute URL"),
        ("https://[v1.x]/k", "invalid IPv6"),
        ("https://[::1]x/k", "after the IPv6"),
        ("https://idp:/k", "port"),
        ("https://idp:65536/k", "port"),
        ("https://id%70/k", "host name"),
        ("https://idp/k\x00", "printable ASCII"),
        ("https://idp/\u00e9", "printable ASCII"),
        ("", "printable ASCII"),
    ],
)
def test_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as info:
        check_url(url, option="the option", allow_insecure_loopback=True)
    assert str(info.value).startswith("the option ")


def test_not_a_str() -> None:
    with pytest.raises(ArgumentTypeError, match="opt must be a str, not bytes"):
        check_url(b"https://idp/k", option="opt")


def test_file_urls_only_where_the_option_reads_files() -> None:
    for url, path in (
        ("file:/etc/k.json", "/etc/k.json"),
        ("file:///etc/k%20s.json", "/etc/k s.json"),
        ("file://localhost/etc/k.json", "/etc/k.json"),
    ):
        assert check_url(url, option="u", allow_file=True) == url
        assert file_url_path(url, option="u") == path
    for url in ("file://remote/etc/k", "file:relative", "file:///k?x", "file:///k#f"):
        with pytest.raises(ConfigurationError):
            check_url(url, option="u", allow_file=True)


def test_redact_url() -> None:
    assert redact_url("https://u:p@idp.example:8443/k?t=1#f") == "https://idp.example:8443/k?..."
    assert redact_url("https://idp.example/k") == "https://idp.example/k"
    assert redact_url(f"https://u:{SECRET}/more@idp/k") == "https://idp/k"
    assert redact_url("https://idp/k#frag?x") == "https://idp/k"
    assert redact_url("https://idp/\u00e9\n") == "https://idp/??"
    long = redact_url("https://idp/" + "a" * 1000)
    assert len(long) == MAX_SHOWN_URL_LENGTH + 3


@given(st.text())
def test_split_and_redact_never_raise(url: str) -> None:
    split_url(url)
    shown = redact_url(url)
    assert "\n" not in shown


_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E))


@given(_PRINTABLE)
def test_check_url_raises_only_configuration_errors(url: str) -> None:
    with contextlib.suppress(ConfigurationError):
        assert check_url(url, option="u", allow_insecure_loopback=True, allow_file=True) == url


_NO_H = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="H")
)


@given(_NO_H, _NO_H)
def test_a_password_never_shows_whatever_surrounds_it(before: str, after: str) -> None:
    url = f"{before}svc:{SECRET}@{after}"
    with pytest.raises(ConfigurationError) as info:
        check_url(url, option="u", allow_insecure_loopback=True, allow_file=True)
    assert SECRET not in str(info.value)
    assert SECRET not in redact_url(url)


def test_is_loopback() -> None:
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback(None)
    assert not is_loopback("::2")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.example")


# --- every URL-taking public API, the same hostile URLs -----------------------------------


def _broker_props(url: str) -> dict[str, str]:
    return {
        "listeners": "SASL_SSL://:9093",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        PREFIX + "sasl.jaas.config": f"{MODULE} required;",
        PREFIX + "sasl.server.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
        ),
        "sasl.oauthbearer.jwks.endpoint.url": url,
    }


def _client_props(url: str) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.jaas.config": f'{MODULE} required clientId="app" clientSecret="s";',
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.oauthbearer.token.endpoint.url": url,
    }


def _token_request(url: str) -> TokenRequest:
    return TokenRequest(url=url, grant_type="client_credentials", body=b"", headers=())


def _never_sent(request: TokenRequest) -> tuple[int, bytes]:
    raise AssertionError(f"sent {request!r}")


APIS: dict[str, Callable[[str], object]] = {
    "fetch_jwks_url": lambda url: fetch_jwks_url(url, http=HttpOptions(timeout_s=0.5)),
    "JwksRefresher.for_url": JwksRefresher.for_url,
    "broker_validator": lambda url: broker_validator(_broker_props(url)),
    "client_login": lambda url: client_login(_client_props(url), now=0.0),
    "discover": lambda url: discover(url, http=HttpOptions(timeout_s=0.5)),
    "discover_async": lambda url: asyncio.run(discover_async(url, http=HttpOptions(timeout_s=0.5))),
    "discovery_urls": discovery_urls,
    "TokenRequest": _token_request,
    "client_credentials_request": lambda url: client_credentials_request(url, "id", "pw"),
    "jwt_bearer_request": lambda url: jwt_bearer_request(url, "a.b.c"),
    "fetch_token": lambda url: fetch_token(_token_request(url), transport=_never_sent),
    "fetch_token_async": lambda url: asyncio.run(
        fetch_token_async(_token_request(url), transport=_never_sent)
    ),
}


@pytest.mark.parametrize("api", sorted(APIS))
@pytest.mark.parametrize("url", HOSTILE)
def test_every_url_api_refuses_hostile_urls_without_leaking(api: str, url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        APIS[api](url)
    assert SECRET not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("verb", ["validate", "broker"])
@pytest.mark.parametrize("url", HOSTILE)
def test_the_cli_refuses_hostile_urls_in_one_line(
    verb: str, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = (
        ["validate", "--jwks", url, "a.b.c"]
        if verb == "validate"
        else ["broker", "--jwks", url, "--listen", "127.0.0.1:0"]
    )
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(argv))
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
