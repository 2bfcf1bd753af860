"""One HTTP attempt (oauthbearer.http.transport) against a hostile local server:
every failure is one of our errors, with ``retryable`` set, within the
attempt's wall-clock deadline; and the retry loop that the shells share."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauthbearer.errors import OAuthBearerError
from oauthbearer.http.options import HttpOptions
from oauthbearer.http.retry import RetryLoop, RetryPolicy, is_retryable_status
from oauthbearer.http.transport import MAX_REDIRECTS, HttpError, http_request
from oauthbearer.login.grants import (
    DiscoveryError,
    TokenEndpointError,
    client_credentials_request,
)
from oauthbearer.login.http import discover, fetch_token, get_json, post
from oauthbearer.validation.jwks_cache import JwksRefreshPolicy
from oauthbearer.validation.jwks_fetch import JwksFetchError, JwksRefresher, fetch_jwks_url
from tests.test_jwks_cache import jwks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


#: A drip server sends at most this many bytes, so that a broken test ends.
_MAX_DRIP = 60
_DRIP_S = 0.4


class HostileServer:
    """A loopback TCP server that answers every connection with ``script``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.script: Callable[[socket.socket, threading.Event], None] = _answer(b"")
        self.connections = 0
        self.read_request = True
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def url(self, path: str = "/k", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(2)
            if self.read_request:
                _read_request(conn)
            self.script(conn, self._stop)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._accepter.join(2)
        for thread in self._threads:
            thread.join(2)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            missing = int(value) - len(rest)
            while missing > 0:
                chunk = conn.recv(missing)
                if not chunk:
                    return
                missing -= len(chunk)


def _answer(data: bytes) -> Callable[[socket.socket, threading.Event], None]:
    def script(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(data)

    return script


def _drip(head: bytes, byte: bytes = b"x") -> Callable[[socket.socket, threading.Event], None]:
    """``head`` at once, then one byte every 0.4 s: each read gets something
    in time, so only a deadline on the whole attempt can end it."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for _ in range(_MAX_DRIP):
            if stop.wait(_DRIP_S):
                return
            conn.sendall(byte)

    return script


@pytest.fixture
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    yield hostile
    hostile.close()


def _jwks_body() -> bytes:
    return json.dumps(jwks("a")).encode()


def _ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


# --- the deadline ---------------------------------------------------------------------------

DRIPS = {
    "body": _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    "headers": _drip(b"HTTP/1.1 200 OK\r\n", b"X"),
    "status line": _drip(b"HTTP/1.1 2", b"0"),
}


@pytest.mark.parametrize("kind", sorted(DRIPS))
def test_a_dripping_server_cannot_hold_an_attempt_past_its_deadline(
    server: HostileServer, kind: str
) -> None:
    server.script = DRIPS[kind]
    started = time.monotonic()
    with pytest.raises(JwksFetchError, match=r"took longer than 1 s") as info:
        fetch_jwks_url(server.url(), http=HttpOptions(timeout_s=1.0), allow_insecure_loopback=True)
    assert time.monotonic() - started < 1.0 + 2 * _DRIP_S
    assert info.value.retryable


def test_the_token_post_and_discovery_have_the_deadline_too(server: HostileServer) -> None:
    server.script = DRIPS["body"]
    request = client_credentials_request(server.url("/token"), "id", "pw")
    started = time.monotonic()
    with pytest.raises(TokenEndpointError, match="took longer") as token_error:
        post(request, http=HttpOptions(timeout_s=0.8), allow_insecure_loopback=True)
    assert token_error.value.retryable
    with pytest.raises(DiscoveryError, match="took longer") as discovery_error:
        get_json(server.url("/d"), http=HttpOptions(timeout_s=0.8), allow_insecure_loopback=True)
    assert discovery_error.value.retryable
    assert time.monotonic() - started < 2 * (0.8 + 2 * _DRIP_S)


def test_a_refresh_against_a_dripping_server_ends_within_its_budget(
    server: HostileServer,
) -> None:
    # The finding: timeout_s=1, budget_s=2 ran for more than 15 s.
    server.script = DRIPS["body"]
    refresher = JwksRefresher.for_url(
        server.url(),
        http=HttpOptions(timeout_s=1.0),
        allow_insecure_loopback=True,
        retry=RetryPolicy(backoff_s=0.1, budget_s=2.0),
    )
    started = time.monotonic()
    with pytest.raises(JwksFetchError, match="took longer"):
        refresher.refresh()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.0 + 3 * _DRIP_S, elapsed
    assert server.connections >= 2  # it was retried


def test_fetch_token_against_a_dripping_server_ends_within_its_budget(
    server: HostileServer,
) -> None:
    server.script = DRIPS["headers"]
    request = client_credentials_request(server.url("/token"), "id", "pw")
    started = time.monotonic()
    with pytest.raises(TokenEndpointError, match="took longer"):
        fetch_token(
            request,
            http=HttpOptions(timeout_s=0.8),
            retry=RetryPolicy(backoff_s=0.1, budget_s=1.5),
            allow_insecure_loopback=True,
        )
    assert time.monotonic() - started < 1.5 + 0.8 + 3 * _DRIP_S


# --- every failure is ours ------------------------------------------------------------------

BROKEN = {
    # name: (answer, retryable)
    "bad status line": (b"garbage\r\n\r\n", True),
    "empty answer": (b"", True),
    "truncated chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        True,
    ),
    "truncated body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", True),
    "line too long": (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", True),
    "too many headers": (
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
        True,
    ),
    "bad IPv6 in Location": (
        b"HTTP/1.1 302 Found\r\nLocation: https://[::1/k\r\nContent-Length: 0\r\n\r\n",
        False,
    ),
    "Location with credentials": (
        (
            b"HTTP/1.1 302 Found\r\nLocation: https://u:Hunter2Secret@idp/k\r\n"
            b"Content-Length: 0\r\n\r\n"
        ),
        False,
    ),
    "redirect without Location": (b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", False),
    "503": (b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", True),
    "501": (b"HTTP/1.1 501 No\r\nContent-Length: 0\r\n\r\n", False),
    "oversized": (_ok(b" " * (1 << 20)), False),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_answer_is_one_jwks_fetch_error(server: HostileServer, kind: str) -> None:
    answer, retryable = BROKEN[kind]
    server.script = _answer(answer)
    with pytest.raises(JwksFetchError) as info:
        fetch_jwks_url(server.url(), http=HttpOptions(timeout_s=2.0), allow_insecure_loopback=True)
    assert info.value.retryable is retryable, str(info.value)
    assert "Hunter2Secret" not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["bad status line", "truncated chunk", "bad IPv6 in Location"])
def test_a_broken_answer_is_one_token_or_discovery_error(server: HostileServer, kind: str) -> None:
    server.script = _answer(BROKEN[kind][0])
    request = client_credentials_request(server.url("/token"), "id", "pw")
    with pytest.raises(TokenEndpointError):
        fetch_token(
            request,
            http=HttpOptions(timeout_s=2.0),
            retry=RetryPolicy(backoff_s=0.01, budget_s=0.05),
            allow_insecure_loopback=True,
        )
    with pytest.raises(DiscoveryError):
        discover(
            f"http://127.0.0.1:{server.port}",
            http=HttpOptions(timeout_s=2.0),
            retry=RetryPolicy(backoff_s=0.01, budget_s=0.05),
            allow_insecure_loopback=True,
        )


def test_a_truncated_answer_is_retried(server: HostileServer) -> None:
    answers = [BROKEN["truncated chunk"][0], _ok(_jwks_body())]

    def script(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(answers.pop(0))

    server.script = script
    refresher = JwksRefresher.for_url(server.url(), allow_insecure_loopback=True)
    refresher.refresh()
    assert refresher.cache.key_set is not None
    assert server.connections == 2


def test_tls_to_a_server_that_does_not_speak_it(server: HostileServer) -> None:
    server.script = _answer(b"HTTP/1.1 200 OK\r\n\r\n")
    server.read_request = False  # a TLS client hello has no blank line
    with pytest.raises(JwksFetchError, match="TLS failed") as info:
        fetch_jwks_url(server.url(scheme="https"), http=HttpOptions(timeout_s=2.0))
    assert info.value.retryable


def test_redirect_loops_end(server: HostileServer) -> None:
    location = server.url("/k").encode()
    server.script = _answer(
        b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    )
    with pytest.raises(HttpError, match=f"more than {MAX_REDIRECTS} times") as info:
        http_request(
            "GET", server.url(), max_size=10, follow_redirects=True, allow_insecure_loopback=True
        )
    assert not info.value.retryable
    assert server.connections == MAX_REDIRECTS + 1


def test_a_post_follows_no_redirect(server: HostileServer) -> None:
    server.script = _answer(
        b"HTTP/1.1 307 Moved\r\nLocation: " + server.url("/t").encode() + b"\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    response = http_request(
        "POST", server.url(), body=b"x=1", max_size=10, allow_insecure_loopback=True
    )
    assert response.status == 307
    assert server.connections == 1


def test_a_refused_connection_is_retryable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(HttpError) as info:
        http_request("GET", f"http://127.0.0.1:{port}/k", max_size=1, allow_insecure_loopback=True)
    assert info.value.retryable


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    answer=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda status, headers, body: status + headers + b"\r\n" + body,
            st.sampled_from([b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 302 X\r\n", b"HTTP/1.0 5"]),
            st.lists(
                st.sampled_from(
                    [
                        b"Content-Length: 5\r\n",
                        b"Content-Length: -1\r\n",
                        b"Content-Length: 99999999999999999999\r\n",
                        b"Transfer-Encoding: chunked\r\n",
                        b"Location: https://[::1/k\r\n",
                        b"Location: http://evil/\r\n",
                        b"Location: \xff\x00\r\n",
                        b"X: \xff\r\n",
                        b": \r\n",
                    ]
                ),
                max_size=4,
            ).map(b"".join),
            st.binary(max_size=100),
        ),
    )
)
def test_arbitrary_answers_give_only_documented_errors(
    server: HostileServer, answer: bytes
) -> None:
    server.script = _answer(answer)
    calls: list[Callable[[], object]] = [
        lambda: fetch_jwks_url(
            server.url(), http=HttpOptions(timeout_s=1.0), allow_insecure_loopback=True
        ),
        lambda: post(
            client_credentials_request(server.url("/t"), "id", "pw"),
            http=HttpOptions(timeout_s=1.0),
            allow_insecure_loopback=True,
        ),
        lambda: get_json(
            server.url("/d"), http=HttpOptions(timeout_s=1.0), allow_insecure_loopback=True
        ),
    ]
    for call in calls:
        with contextlib.suppress(JwksFetchError, TokenEndpointError, DiscoveryError):
            call()


# --- the status rule and the retry loop -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True),
     (501, False), (502, True), (503, True), (505, False), (599, True), (600, False)],
)  # fmt: skip
def test_kafkas_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_the_retry_loop_reports_the_first_error() -> None:
    loop: RetryLoop[OAuthBearerError] = RetryLoop(
        RetryPolicy(backoff_s=1.0, budget_s=2.5), started=0.0
    )
    first, second = OAuthBearerError("first"), OAuthBearerError("second")
    assert loop.failed(first, retryable=True, now=0.0) == 1.0
    assert loop.failed(second, retryable=True, now=1.0) == 1.5  # capped by the budget
    with pytest.raises(OAuthBearerError, match="first"):
        loop.failed(second, retryable=True, now=2.5)
    assert loop.attempts == 3


def test_the_retry_loop_stops_at_a_final_error() -> None:
    loop: RetryLoop[OAuthBearerError] = RetryLoop(None, started=0.0)
    with pytest.raises(OAuthBearerError, match="final"):
        loop.failed(OAuthBearerError("final"), retryable=False, now=0.0)


def test_async_fetches_share_the_deadline(server: HostileServer) -> None:
    server.script = DRIPS["body"]
    refresher = JwksRefresher.for_url(
        server.url(),
        http=HttpOptions(timeout_s=0.8),
        allow_insecure_loopback=True,
        retry=RetryPolicy(backoff_s=0.1, budget_s=0.5),
    )
    started = time.monotonic()
    with pytest.raises(JwksFetchError):
        asyncio.run(refresher.astart())
    assert time.monotonic() - started < 0.5 + 2 * (0.8 + _DRIP_S)


def test_a_stuck_refresh_keeps_the_keys_and_never_blocks_the_next(server: HostileServer) -> None:
    state = {"drip": False, "kid": "a"}

    def script(conn: socket.socket, stop: threading.Event) -> None:
        if state["drip"]:
            DRIPS["body"](conn, stop)
        else:
            conn.sendall(_ok(json.dumps(jwks(str(state["kid"]))).encode()))

    server.script = script
    refresher = JwksRefresher.for_url(
        server.url(),
        http=HttpOptions(timeout_s=0.6),
        allow_insecure_loopback=True,
        policy=JwksRefreshPolicy(refresh_interval_s=0.2),
        retry=RetryPolicy(backoff_s=0.05, budget_s=0.1),
    )
    with refresher:
        state["drip"] = True
        deadline = time.monotonic() + 5
        while refresher.cache.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert isinstance(refresher.cache.last_error, JwksFetchError)
        key_set = refresher.cache.key_set
        assert key_set is not None  # the last good keys are still served
        assert [key.kid for key in key_set.keys] == ["a"]
        state["drip"], state["kid"] = False, "b"  # the provider rotates its key
        while time.monotonic() < deadline:
            key_set = refresher.cache.key_set
            if key_set is not None and [key.kid for key in key_set.keys] == ["b"]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the rotated key never arrived")
