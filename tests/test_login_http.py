"""The token endpoint shell: Kafka's retry rule on a fake clock, and real HTTP on loopback."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from oauthbearer.errors import ConfigurationError
from oauthbearer.http.options import HttpOptions
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.login.grants import (
    MAX_TOKEN_RESPONSE_SIZE,
    DiscoveryError,
    TokenEndpointError,
    TokenRequest,
    client_credentials_request,
)
from oauthbearer.login.http import (
    discover,
    discover_async,
    fetch_token,
    fetch_token_async,
    get_json,
    post,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

OK = (200, b'{"access_token":"tok","token_type":"Bearer","expires_in":60}')
REQUEST = client_credentials_request("https://idp.example/token", "id", "secret")


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.time += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def scripted(*answers: tuple[int, bytes]) -> tuple[Any, list[TokenRequest]]:
    """A transport that gives ``answers`` in turn (the last one over and over)."""
    sent: list[TokenRequest] = []

    def transport(request: TokenRequest) -> tuple[int, bytes]:
        sent.append(request)
        return answers[min(len(sent), len(answers)) - 1]

    return transport, sent


# --- Kafka's retry rule, on a fake clock ----------------------------------------------------


def test_waits_double_from_100_ms_within_the_10_s_budget() -> None:
    clock = FakeClock()
    transport, sent = scripted((503, b'{"error":"temporarily_unavailable"}'))
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    assert clock.waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 3.7])
    assert sum(clock.waits) == pytest.approx(10.0)
    assert len(sent) == 8
    assert (info.value.status, info.value.error) == (503, "temporarily_unavailable")


def test_a_client_error_is_not_retried() -> None:
    clock = FakeClock()
    transport, sent = scripted((400, b'{"error":"invalid_client"}'), OK)
    with pytest.raises(TokenEndpointError, match="invalid_client") as info:
        fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    assert (len(sent), clock.waits, info.value.retryable) == (1, [], False)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_transient_errors_are_retried(status: int) -> None:
    clock = FakeClock()
    transport, sent = scripted((status, b""), (status, b""), OK)
    response = fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    assert response.access_token == "tok"
    assert clock.waits == pytest.approx([0.1, 0.2])
    assert len(sent) == 3
    # The token's lifetime counts from when its request was sent.
    assert response.expires_at_ms == round((1000.0 + 0.3) * 1000) + 60_000


def test_the_first_error_is_the_one_reported() -> None:
    clock = FakeClock()
    transport, sent = scripted(
        (503, b'{"error":"first"}'), (500, b'{"error":"second"}'), (400, b'{"error":"third"}')
    )
    with pytest.raises(TokenEndpointError) as info:
        fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    # The 400 ends the loop at once, but the first error is raised, as Kafka's Retry does.
    assert (info.value.error, info.value.status, len(sent)) == ("first", 503, 3)


def test_an_empty_success_is_retried_and_bad_json_is_not() -> None:
    clock = FakeClock()
    transport, sent = scripted((200, b""), OK)
    assert fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    assert len(sent) == 2
    transport, sent = scripted((200, b"<html/>"), OK)
    with pytest.raises(TokenEndpointError, match="not strict JSON"):
        fetch_token(REQUEST, now=clock.now, sleep=clock.sleep, transport=transport)
    assert len(sent) == 1


def test_a_custom_policy_and_no_retries() -> None:
    clock = FakeClock()
    transport, _ = scripted((503, b""))
    with pytest.raises(TokenEndpointError):
        fetch_token(
            REQUEST,
            now=clock.now,
            sleep=clock.sleep,
            transport=transport,
            retry=RetryPolicy(backoff_s=1.0, budget_s=5.0),
        )
    assert clock.waits == pytest.approx([1.0, 2.0, 2.0])
    clock = FakeClock()
    with pytest.raises(TokenEndpointError):
        fetch_token(
            REQUEST,
            now=clock.now,
            sleep=clock.sleep,
            transport=transport,
            retry=RetryPolicy(backoff_s=0, budget_s=0),
        )
    assert clock.waits == []


def test_async_fetch_retries_the_same_way() -> None:
    clock = FakeClock()
    transport, sent = scripted((429, b""), (502, b""), OK)
    response = asyncio.run(
        fetch_token_async(REQUEST, now=clock.now, sleep=clock.async_sleep, transport=transport)
    )
    assert response.access_token == "tok"
    assert clock.waits == pytest.approx([0.1, 0.2])
    transport, sent = scripted((401, b'{"error":"invalid_client"}'))
    with pytest.raises(TokenEndpointError, match="invalid_client"):
        asyncio.run(
            fetch_token_async(REQUEST, now=clock.now, sleep=clock.async_sleep, transport=transport)
        )
    assert len(sent) == 1


def test_plain_http_is_refused_before_any_attempt() -> None:
    transport, sent = scripted(OK)
    local = client_credentials_request("http://127.0.0.1:1/token", "id", "secret")
    with pytest.raises(ConfigurationError, match="https"):
        fetch_token(local, transport=transport)
    with pytest.raises(ConfigurationError, match="https"):
        asyncio.run(fetch_token_async(local, transport=transport))
    assert sent == []


# --- a local identity provider --------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    # Each test's fixture makes a subclass with its own script and log.
    script: ClassVar[dict[str, list[tuple[int, bytes, float]]]]
    received: ClassVar[list[tuple[str, str, dict[str, str], bytes]]]

    def _answer(self, body: bytes) -> None:
        self.received.append((self.command, self.path, dict(self.headers.items()), body))
        answers = self.script.get(self.path, [(404, b"", 0.0)])
        status, payload, delay = answers.pop(0) if len(answers) > 1 else answers[0]
        time.sleep(delay)
        self.send_response(status)
        if status in (301, 302, 307):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def do_GET(self) -> None:
        self._answer(b"")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        del format, args


@pytest.fixture
def idp() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"script": {}, "received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_request_on_the_wire(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(*OK, 0.0)]
    request = client_credentials_request(
        f"{base}/token", "my client", "p:a%s+s", scope="kafka", urlencode_credentials=True
    )
    status, body = post(request, allow_insecure_loopback=True)
    assert (status, body) == OK
    [(method, path, headers, sent)] = handler.received
    assert (method, path) == ("POST", "/token")
    assert sent == b"grant_type=client_credentials&scope=kafka"
    assert headers["Authorization"] == "Basic bXkrY2xpZW50OnAlM0FhJTI1cyUyQnM="
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Content-Length"] == str(len(sent))


def test_fetch_over_loopback_retries_a_500(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(500, b"oops", 0.0), (*OK, 0.0)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    waits: list[float] = []
    response = fetch_token(request, allow_insecure_loopback=True, sleep=waits.append)
    assert response.access_token == "tok"
    assert waits == [pytest.approx(0.1, abs=0.05)]
    assert len(handler.received) == 2


def test_a_400_is_asked_once(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(400, b'{"error":"invalid_grant"}', 0.0)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    with pytest.raises(TokenEndpointError, match="HTTP 400: invalid_grant"):
        fetch_token(request, allow_insecure_loopback=True, sleep=lambda _: None)
    assert len(handler.received) == 1


def test_a_slow_answer_times_out_and_is_retryable(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(*OK, 0.6)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    started = time.monotonic()
    with pytest.raises(TokenEndpointError, match="failed") as info:
        fetch_token(
            request,
            allow_insecure_loopback=True,
            http=HttpOptions(timeout_s=0.2),
            retry=RetryPolicy(backoff_s=0, budget_s=0),
        )
    assert time.monotonic() - started < 0.55
    assert (info.value.retryable, info.value.status) == (True, None)


def test_an_oversized_answer_is_refused(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(200, b" " * (MAX_TOKEN_RESPONSE_SIZE + 10), 0.0)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    status, body = post(request, allow_insecure_loopback=True)
    assert (status, len(body)) == (200, MAX_TOKEN_RESPONSE_SIZE + 1)
    with pytest.raises(TokenEndpointError, match="MAX_TOKEN_RESPONSE_SIZE") as info:
        fetch_token(request, allow_insecure_loopback=True)
    assert not info.value.retryable


def test_redirects_are_not_followed(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(302, b"", 0.0)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    with pytest.raises(TokenEndpointError, match="HTTP 302") as info:
        fetch_token(request, allow_insecure_loopback=True)
    assert not info.value.retryable
    assert [path for _, path, _, _ in handler.received] == ["/token"]


def test_an_unreachable_endpoint_is_retryable_and_redacted() -> None:
    with socket_closed_port() as port:
        request = client_credentials_request(
            f"http://127.0.0.1:{port}/token?key=hunter2", "id", "secret"
        )
        with pytest.raises(TokenEndpointError) as info:
            post(request, allow_insecure_loopback=True, http=HttpOptions(timeout_s=2))
    assert info.value.retryable
    assert "hunter2" not in str(info.value)
    assert f"127.0.0.1:{port}/token?..." in str(info.value)


def test_http_must_be_allowed_and_loopback() -> None:
    request = client_credentials_request("http://127.0.0.1:1/token", "id", "secret")
    with pytest.raises(ConfigurationError, match="https"):
        post(request)
    with pytest.raises(ConfigurationError, match="https"):
        get_json("http://idp.example/x", allow_insecure_loopback=True)


def test_async_fetch_over_loopback(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.script["/token"] = [(503, b"", 0.0), (*OK, 0.0)]
    request = client_credentials_request(f"{base}/token", "id", "secret")
    clock = FakeClock()
    response = asyncio.run(
        fetch_token_async(
            request, allow_insecure_loopback=True, now=clock.now, sleep=clock.async_sleep
        )
    )
    assert response.access_token == "tok"
    assert clock.waits == [pytest.approx(0.1)]


# --- discovery over loopback ----------------------------------------------------------------


def test_discover_falls_back_to_rfc_8414(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    issuer = f"{base}/realms/kafka"
    document = json.dumps({"issuer": issuer, "token_endpoint": f"{issuer}/token"}).encode()
    handler.script["/.well-known/oauth-authorization-server/realms/kafka"] = [(200, document, 0)]
    found = discover(issuer, allow_insecure_loopback=True)
    assert found.token_endpoint == f"{issuer}/token"
    assert [path for _, path, _, _ in handler.received] == [
        "/realms/kafka/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/realms/kafka",
    ]
    assert handler.received[0][2]["Accept"] == "application/json"


def test_discover_prefers_openid_connect_and_retries(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    document = json.dumps({"issuer": base, "token_endpoint": f"{base}/token"}).encode()
    handler.script["/.well-known/openid-configuration"] = [(503, b"", 0), (200, document, 0)]
    clock = FakeClock()
    found = discover(base, allow_insecure_loopback=True, now=clock.now, sleep=clock.sleep)
    assert found.issuer == base
    assert clock.waits == [pytest.approx(0.1)]
    found = asyncio.run(
        discover_async(base, allow_insecure_loopback=True, now=clock.now, sleep=clock.async_sleep)
    )
    assert found.token_endpoint == f"{base}/token"


def test_discover_reports_the_first_failure(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    wrong = json.dumps({"issuer": "https://other.example", "token_endpoint": base}).encode()
    handler.script["/.well-known/openid-configuration"] = [(200, wrong, 0)]
    with pytest.raises(DiscoveryError, match="must be identical") as info:
        discover(base, allow_insecure_loopback=True)
    assert not info.value.retryable
    handler.script.clear()
    with pytest.raises(DiscoveryError, match="HTTP 404") as info:
        discover(base, allow_insecure_loopback=True)
    assert "openid-configuration" in str(info.value)


# --- helpers ----------------------------------------------------------------------------------


class socket_closed_port:  # noqa: N801 - used as a context manager, reads like a function
    """A loopback port that nothing listens on, for the duration."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
