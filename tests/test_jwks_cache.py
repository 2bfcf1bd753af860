"""The JWKS refresh machinery: Kafka's retry rule, the pure cache, and its shells."""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from oauthbearer.errors import ConfigurationError
from oauthbearer.http.options import HttpOptions
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.http.urls import redact_url
from oauthbearer.validation.jwks import JsonWebKeySet
from oauthbearer.validation.jwks_cache import MIN_EXPEDITE_INTERVAL_S, JwksCache, JwksRefreshPolicy
from oauthbearer.validation.jwks_fetch import JwksFetchError, JwksRefresher, fetch_jwks_url

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

# --- keys ---------------------------------------------------------------------------------

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(_KEY.public_key()))
    return {**entry, "kid": kid, "use": "sig", "alg": "RS256"}


def jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [jwk(kid) for kid in kids]}


def key_set(*kids: str) -> JsonWebKeySet:
    return JsonWebKeySet.from_dict(jwks(*kids))


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- Kafka's retry rule ---------------------------------------------------------------------


def test_retry_doubles_within_a_total_budget() -> None:
    policy = RetryPolicy(backoff_s=0.1, budget_s=1.0)
    waits, now, attempt = [], 0.0, 1
    while (wait := policy.next_wait(attempt=attempt, started=0.0, now=now)) is not None:
        waits.append(round(wait, 6))
        now += wait
        attempt += 1
    # 0.1 + 0.2 + 0.4 = 0.7; the next wait (0.8) is cut to what is left of the budget.
    assert waits == [0.1, 0.2, 0.4, 0.3]


def test_retry_without_backoff_or_budget_stops_at_once() -> None:
    assert RetryPolicy(backoff_s=0.0).next_wait(attempt=1, started=0.0, now=0.0) is None
    no_budget = RetryPolicy(backoff_s=0.0, budget_s=0.0)
    assert no_budget.next_wait(attempt=1, started=0.0, now=0.0) is None
    with pytest.raises(ConfigurationError):
        RetryPolicy(backoff_s=-1)


# --- the pure cache ---------------------------------------------------------------------------


def test_cache_refreshes_periodically_and_keeps_keys_on_failure() -> None:
    clock = FakeClock()
    cache = JwksCache(clock=clock, policy=JwksRefreshPolicy(refresh_interval_s=3600))
    assert cache.refresh_due()
    assert cache.keys_for("a", "RS256") == ()
    cache.update(key_set("a"))
    assert not cache.refresh_due()
    assert [key.kid for key in cache.keys_for("a", "RS256")] == ["a"]
    assert cache.seconds_until_refresh() == 3600
    clock.now += 3600
    assert cache.refresh_due()
    cache.failed(RuntimeError("idp down"))
    assert isinstance(cache.last_error, RuntimeError)
    assert [key.kid for key in cache.keys_for("a", "RS256")] == ["a"]  # last good keys
    assert not cache.refresh_due()  # next attempt: next period


def test_unknown_kid_expedites_once_per_kid_per_minute() -> None:
    clock = FakeClock()
    woken: list[int] = []
    cache = JwksCache(clock=clock, on_expedite=lambda: woken.append(1))
    cache.update(key_set("a"))
    assert cache.keys_for("new", "RS256") == ()
    assert cache.refresh_due()
    assert woken == [1]
    cache.update(key_set("a"))  # the refresh did not bring "new"
    cache.keys_for("new", "RS256")
    assert not cache.refresh_due()  # asked less than 60 s ago
    clock.now += 60
    cache.keys_for("new", "RS256")
    assert cache.refresh_due()
    assert woken == [1, 1]


def test_known_kid_with_another_alg_does_not_expedite() -> None:
    cache = JwksCache(clock=FakeClock())
    cache.update(key_set("a"))
    assert cache.keys_for("a", "ES256") == ()
    assert not cache.refresh_due()


def test_long_kids_are_ignored_and_sixteen_are_remembered() -> None:
    clock = FakeClock()
    # Kafka's per-kid rule alone: the global cap (tested below) is off.
    cache = JwksCache(clock=clock, policy=JwksRefreshPolicy(min_expedite_interval_s=0))
    cache.update(key_set("a"))
    cache.keys_for("k" * 1001, "RS256")
    assert not cache.refresh_due()
    for index in range(17):  # the 17th pushes the oldest ("kid0") out
        cache.keys_for(f"kid{index}", "RS256")
        cache.update(key_set("a"))
    cache.keys_for("kid0", "RS256")
    assert cache.refresh_due()  # forgotten, so it may ask again at once
    cache.update(key_set("a"))
    cache.keys_for("kid16", "RS256")
    assert not cache.refresh_due()  # still remembered


def test_distinct_kids_are_capped_globally() -> None:
    # The finding: 2,000 distinct kids caused 1,999 JWKS fetches in 12 s.
    clock = FakeClock()
    woken: list[float] = []
    cache = JwksCache(clock=clock, on_expedite=lambda: woken.append(clock.now))
    cache.update(key_set("a"))
    for index in range(2000):
        clock.now += 0.006  # 12 s in all
        cache.keys_for(f"invented-{index}", "RS256")
        if cache.refresh_due():
            cache.update(key_set("a"))  # the refresh, at once: it brings no such kid
    assert len(woken) == 3  # at 0, 5 and 10 s
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(woken)]
    assert all(gap >= MIN_EXPEDITE_INTERVAL_S for gap in gaps)


def test_a_kid_the_cap_turned_away_may_ask_again() -> None:
    clock = FakeClock()
    cache = JwksCache(clock=clock)
    cache.update(key_set("a"))
    cache.keys_for("first", "RS256")
    cache.update(key_set("a"))
    cache.keys_for("rotated", "RS256")
    assert not cache.refresh_due()  # within the cap
    clock.now += MIN_EXPEDITE_INTERVAL_S
    cache.keys_for("rotated", "RS256")
    assert cache.refresh_due()  # not remembered when turned away: asks now


def test_distinct_kids_against_a_running_refresher() -> None:
    fetches: list[int] = []

    def fetch() -> JsonWebKeySet:
        fetches.append(1)
        return key_set("a")

    refresher = JwksRefresher(fetch, policy=JwksRefreshPolicy(min_expedite_interval_s=0.2))
    with refresher:
        started = time.monotonic()
        for index in range(2000):
            refresher.cache.keys_for(f"invented-{index}", "RS256")
            time.sleep(0.0002)
        elapsed = time.monotonic() - started
    assert len(fetches) <= 1 + 1 + elapsed / 0.2 + 1  # the first fetch, then the cap


def test_policy_validation() -> None:
    with pytest.raises(ConfigurationError, match="refresh_interval_s"):
        JwksRefreshPolicy(refresh_interval_s=0)
    with pytest.raises(ConfigurationError, match="max_missing_kids"):
        JwksRefreshPolicy(max_missing_kids=-1)


# --- the refresher, with a fake fetch -------------------------------------------------------


def test_refresh_retries_as_kafka_and_reports_the_first_error() -> None:
    clock = FakeClock()
    errors = iter(
        [JwksFetchError("first", retryable=True)] + [JwksFetchError("later", retryable=True)] * 100
    )

    def fetch() -> JsonWebKeySet:
        raise next(errors)

    refresher = JwksRefresher(
        fetch, clock=clock, sleep=clock.sleep, retry=RetryPolicy(backoff_s=0.1, budget_s=1.0)
    )
    with pytest.raises(JwksFetchError, match="first"):
        refresher.refresh()  # the first fetch failing is loud
    assert [round(s, 6) for s in clock.slept] == [0.1, 0.2, 0.4, 0.3]


def test_a_client_error_is_not_retried() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def fetch() -> JsonWebKeySet:
        calls.append(1)
        raise JwksFetchError("HTTP 404", retryable=False)

    refresher = JwksRefresher(fetch, clock=clock, sleep=clock.sleep)
    with pytest.raises(JwksFetchError):
        refresher.refresh()
    assert calls == [1]


def test_later_failures_keep_the_keys() -> None:
    clock = FakeClock()
    results: list[Any] = [key_set("a"), RuntimeError("down")]

    def fetch() -> JsonWebKeySet:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    refresher = JwksRefresher(
        fetch, clock=clock, sleep=clock.sleep, retry=RetryPolicy(backoff_s=0.0)
    )
    refresher.refresh()
    refresher.refresh()  # fails, quietly
    assert isinstance(refresher.cache.last_error, RuntimeError)
    assert len(refresher.cache.keys_for("a", "RS256")) == 1


# --- over HTTP on loopback ------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    # Each test's fixture makes a subclass with its own routes and hits.
    routes: ClassVar[dict[str, tuple[int, bytes]]]
    hits: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        status, body = self.routes.get(self.path, (404, b""))
        self.send_response(status)
        if 300 <= status < 400:  # a redirect: the body is where to
            self.send_header("Location", body.decode())
            body = b""
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        del format, args


@pytest.fixture
def idp() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_redirects_are_followed_only_to_where_the_url_could_point(
    idp: tuple[str, type[_Handler]],
) -> None:
    base, handler = idp
    handler.routes["/jwks"] = (200, json.dumps(jwks("a")).encode())
    handler.routes["/moved"] = (301, f"{base}/jwks".encode())
    handler.routes["/downgrade"] = (302, b"http://keys.example.com/jwks")
    handler.routes["/secret"] = (302, b"http://user:pw@keys.example.com/jwks?sig=abc")
    keys = fetch_jwks_url(f"{base}/moved", allow_insecure_loopback=True)
    assert [key.kid for key in keys.keys] == ["a"]
    with pytest.raises(JwksFetchError) as info:
        fetch_jwks_url(f"{base}/downgrade", allow_insecure_loopback=True)
    assert not info.value.retryable
    assert "redirected to http://keys.example.com/jwks, which is refused" in str(info.value)
    with pytest.raises(JwksFetchError) as info:
        fetch_jwks_url(f"{base}/secret", allow_insecure_loopback=True)
    assert "pw" not in str(info.value)
    assert "abc" not in str(info.value)
    assert handler.hits == ["/moved", "/jwks", "/downgrade", "/secret"]


def test_fetch_over_http_loopback(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.routes["/jwks"] = (200, json.dumps(jwks("a", "b")).encode())
    handler.routes["/gone"] = (404, b"")
    handler.routes["/busy"] = (503, b"")
    handler.routes["/big"] = (200, b" " * (512 * 1024 + 1))
    keys = fetch_jwks_url(f"{base}/jwks", allow_insecure_loopback=True)
    assert sorted(key.kid or "" for key in keys.keys) == ["a", "b"]
    with pytest.raises(JwksFetchError) as gone:
        fetch_jwks_url(f"{base}/gone", allow_insecure_loopback=True)
    assert (gone.value.retryable, "HTTP 404" in str(gone.value)) == (False, True)
    with pytest.raises(JwksFetchError) as busy:
        fetch_jwks_url(f"{base}/busy", allow_insecure_loopback=True)
    assert busy.value.retryable
    with pytest.raises(JwksFetchError, match="MAX_JWKS_SIZE"):
        fetch_jwks_url(f"{base}/big", allow_insecure_loopback=True)


def test_plain_http_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        fetch_jwks_url("http://127.0.0.1:1/jwks")
    with pytest.raises(ConfigurationError, match="https"):
        fetch_jwks_url("http://idp.example/jwks", allow_insecure_loopback=True)
    with pytest.raises(ConfigurationError, match="https"):
        fetch_jwks_url("file:///etc/passwd")


def test_unreachable_idp_is_retryable() -> None:
    with pytest.raises(JwksFetchError) as info:
        fetch_jwks_url(
            "http://127.0.0.1:9/jwks", allow_insecure_loopback=True, http=HttpOptions(timeout_s=2)
        )
    assert info.value.retryable


def test_background_thread_refreshes_on_an_unknown_kid(
    idp: tuple[str, type[_Handler]],
) -> None:
    base, handler = idp
    handler.routes["/jwks"] = (200, json.dumps(jwks("old")).encode())
    with JwksRefresher.for_url(f"{base}/jwks", allow_insecure_loopback=True) as refresher:
        assert refresher.cache.keys_for("rotated", "RS256") == ()  # asks for a refresh
        handler.routes["/jwks"] = (200, json.dumps(jwks("old", "rotated")).encode())
        deadline = time.monotonic() + 5
        while not refresher.cache.keys_for("rotated", "RS256"):
            assert time.monotonic() < deadline, "the expedited refresh did not happen"
            time.sleep(0.02)
    assert len(handler.hits) == 2


async def _until_key(refresher: JwksRefresher, kid: str) -> None:
    """Wait (up to 5 s) until the refresher's keys hold ``kid``."""
    for _ in range(250):
        if refresher.cache.keys_for(kid, "RS256"):
            return
        await asyncio.sleep(0.02)


def test_asyncio_run(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.routes["/jwks"] = (200, json.dumps(jwks("a")).encode())
    refresher = JwksRefresher.for_url(f"{base}/jwks", allow_insecure_loopback=True)

    async def main() -> None:
        task = asyncio.create_task(refresher.run(poll_s=0.02))
        for _ in range(250):
            if refresher.cache.key_set is not None:
                break
            await asyncio.sleep(0.02)
        refresher.cache.keys_for("b", "RS256")  # expedite
        handler.routes["/jwks"] = (200, json.dumps(jwks("a", "b")).encode())
        await _until_key(refresher, "b")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert refresher.cache.keys_for("b", "RS256")


def test_astart_fetches_first_then_refreshes_in_a_task(idp: tuple[str, type[_Handler]]) -> None:
    base, handler = idp
    handler.routes["/jwks"] = (200, json.dumps(jwks("a")).encode())
    refresher = JwksRefresher.for_url(f"{base}/jwks", allow_insecure_loopback=True)

    async def main() -> None:
        task = await refresher.astart(poll_s=0.02)
        # The keys are there as soon as astart returns, fetched once.
        assert refresher.cache.keys_for("a", "RS256")
        assert handler.hits == ["/jwks"]
        handler.routes["/jwks"] = (200, json.dumps(jwks("a", "b")).encode())
        refresher.cache.keys_for("b", "RS256")  # an unknown kid: expedite
        await _until_key(refresher, "b")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert refresher.cache.keys_for("b", "RS256")


def test_astart_raises_when_the_first_fetch_fails() -> None:
    refresher = JwksRefresher.for_url(
        "http://127.0.0.1:9/jwks", allow_insecure_loopback=True, retry=RetryPolicy(backoff_s=0.0)
    )

    async def main() -> None:
        with pytest.raises(JwksFetchError):
            await refresher.astart()
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "oauthbearer-jwks"]

    asyncio.run(main())


def test_first_fetch_failure_is_loud_in_start() -> None:
    refresher = JwksRefresher.for_url(
        "http://127.0.0.1:9/jwks", allow_insecure_loopback=True, retry=RetryPolicy(backoff_s=0.0)
    )
    with pytest.raises(JwksFetchError):
        refresher.start()


def test_file_source_reloads_when_the_file_changes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks("a")))
    refresher = JwksRefresher.for_file(path)
    refresher.refresh()
    assert refresher.cache.keys_for("b", "RS256") == ()
    path.write_text(json.dumps(jwks("a", "b")))
    refresher.refresh()
    assert refresher.cache.keys_for("b", "RS256")
    path.write_text("not json")
    refresher.refresh()  # keeps the last good keys
    assert refresher.cache.keys_for("b", "RS256")
    assert isinstance(refresher.cache.last_error, JwksFetchError)


def test_messages_never_show_credentials_in_urls(idp: tuple[str, type[_Handler]]) -> None:
    base, _ = idp
    assert redact_url("https://u:p@idp.example:8443/k?t=1#f") == "https://idp.example:8443/k?..."
    assert redact_url("https://idp.example/k") == "https://idp.example/k"
    with pytest.raises(JwksFetchError) as info:
        fetch_jwks_url(base + "/gone?key=s3cret", allow_insecure_loopback=True)
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigurationError) as refused:  # user info is refused outright
        fetch_jwks_url(
            base.replace("http://", "http://user:s3cret@") + "/k", allow_insecure_loopback=True
        )
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ConfigurationError) as refused:
        fetch_jwks_url("http://user:s3cret@idp.example/k?key=s3cret")
    assert "s3cret" not in str(refused.value)


def test_a_configuration_mistake_is_not_retried() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def fetch() -> JsonWebKeySet:
        calls.append(1)
        raise ConfigurationError("bad URL")

    refresher = JwksRefresher(fetch, clock=clock, sleep=clock.sleep)
    with pytest.raises(ConfigurationError):
        refresher.refresh()
    assert (calls, clock.slept) == ([1], [])
    with pytest.raises(ConfigurationError, match="https"):
        JwksRefresher.for_url("http://idp.example/jwks")  # refused before any fetch
