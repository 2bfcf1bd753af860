"""``oauthbearer demo``: the whole story runs, each step checks what it claims,
and a step that goes wrong fails the demo with a reason."""

from __future__ import annotations

import importlib.util
import re
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.cli import demo, main
from oauthbearer.testing.idp import TestIdentityProvider

if TYPE_CHECKING:
    from collections.abc import Iterator


def story(**kwargs: Any) -> tuple[int, list[str]]:
    printed: list[str] = []
    code = demo.run(printed.append, **kwargs)
    return code, "\n".join(printed).splitlines()


@pytest.fixture(scope="module")
def told() -> tuple[int, list[str]]:
    return story()


def test_the_story_succeeds(told: tuple[int, list[str]]) -> None:
    code, lines = told
    text = "\n".join(lines)
    assert code == 0, text
    assert lines[-1] == "Every step went as RFC 7628 and Kafka say it must."
    for step in ("1. Identity provider", "2. Broker emulator", "3. Token provider", "5. Wrong"):
        assert any(line.startswith(step) for line in lines), step


def test_the_token_is_refreshed(told: tuple[int, list[str]]) -> None:
    text = "\n".join(told[1])
    first = re.search(r"got token jti (\S+) for 'orders-service'", text)
    second = re.search(r"refreshed after [\d.]+ s: token jti (\S+) for 'orders-service'", text)
    assert first
    assert second
    assert first[1] != second[1]


@pytest.mark.skipif(importlib.util.find_spec("kafka") is None, reason="kafka-python")
def test_kafka_python_authenticates_with_the_extensions(told: tuple[int, list[str]]) -> None:
    text = "\n".join(told[1])
    assert "consumer.topics() -> ['orders']" in text
    assert "authenticated 127.0.0.1:" in text
    assert "principal 'orders-service'" in text
    assert "extensions {'logicalCluster': 'lkc-demo'}" in text


def test_the_wrong_audience_takes_the_error_flow(told: tuple[int, list[str]]) -> None:
    text = "\n".join(told[1])
    sent_and_received = [
        line.split("   ", 2)[2]
        for line in told[1]
        if "client -> broker" in line or "broker -> client" in line
    ]
    assert [line.split(":")[0] for line in sent_and_received] == [
        "SaslHandshake v1",
        "SaslHandshake v1",
        "SaslAuthenticate v2",
        "SaslAuthenticate v2",
        "SaslAuthenticate v2",
        "SaslAuthenticate v2",
    ]
    assert '{"status":"invalid_token"}   [26 bytes]  (the RFC 7628 error challenge)' in text
    assert "SaslAuthenticate v2: \\x01   [1 byte]" in text
    assert "error 58 (SASL_AUTHENTICATION_FAILED)" in text
    assert "the JWT audience 'schema-registry' holds none of the configured audiences" in text


def test_no_token_is_printed_whole(told: tuple[int, list[str]]) -> None:
    # Every JWT on screen is shortened to its first 12 characters and its length.
    for line in told[1]:
        for match in re.finditer(r"eyJ[\w-]*", line):
            assert len(match[0]) <= 12, line


def test_without_kafka_python_our_client_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "kafka" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, lines = story()
    text = "\n".join(lines)
    assert code == 0, text
    assert "kafka-python is not installed" in text
    assert "principal 'orders-service'" in text


def test_a_provider_that_refuses_the_client_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = TestIdentityProvider.add_client

    def add_client(self: TestIdentityProvider, client_id: str, secret: str, **kw: Any) -> None:
        # The provider knows the client under another secret: the login fails.
        original(self, client_id, "not-" + secret, **kw)

    monkeypatch.setattr(TestIdentityProvider, "add_client", add_client)
    code, lines = story()
    assert code == 1
    assert lines[-1].startswith("FAILED: the token provider could not get a token:")
    assert "invalid_client" in lines[-1]
    assert "orders-secret" not in "\n".join(lines)


def test_a_broker_that_accepts_the_wrong_audience_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A broker expecting no particular audience (and tolerating one) lets the
    # wrong token in: the demo must notice.
    monkeypatch.setattr(demo, "WRONG_AUDIENCE", demo.AUDIENCE)
    code, lines = story()
    assert code == 1
    assert lines[-1] == "FAILED: the broker accepted a token for the wrong audience"


def test_cli_runs_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Every step went as RFC 7628 and Kafka say it must.")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    import threading

    before = {t.ident for t in threading.enumerate()}
    yield
    leftover = [
        t
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith("oauthbearer")
    ]
    for thread in leftover:
        thread.join(5)
    assert not [t for t in leftover if t.is_alive()]
