"""The Kafka client adapters, driven through the real clients' own classes.

kafka-python's ``SaslMechanismOAuth`` and aiokafka's ``OAuthAuthenticator``
build the client's first message from the adapter, exactly as they do on a
connection; the bytes are compared with the wire captures in
``tests/fixtures/captures`` and decoded with both dialects. confluent-kafka's
``Producer`` is made with the adapter's ``oauth_cb``, which it calls at once.
No broker is involved: that is the interop suite's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
import logging
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from oauthbearer import ClientInitialResponse, Dialect
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.gs2 import MAX_EXTENSIONS
from oauthbearer.integrations._adapter import first_class
from oauthbearer.integrations.aiokafka import AiokafkaTokenProvider, aiokafka_token_provider
from oauthbearer.integrations.confluent_kafka import (
    OAuthCallback,
    confluent_kafka_config,
    confluent_kafka_oauth_cb,
)
from oauthbearer.integrations.kafka_python import (
    KafkaPythonTokenProvider,
    kafka_python_token_provider,
)
from oauthbearer.login import AsyncTokenProvider, TokenProvider, TokenUnavailable
from oauthbearer.testing import strategies as obs
from oauthbearer.token import OAuthBearerToken
from tests.peers import missing_peer

CAPTURES = Path(__file__).parent / "fixtures" / "captures"
#: The token and extensions every capture was recorded with (see the captures' README).
CAPTURE_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0."
CAPTURE_EXTENSIONS = {"traceId": "abc123", "logicalCluster": "lkc-1"}
#: 2100-01-01, the captured token's exp, in epoch ms.
FAR_MS = 4_102_444_800_000
CHALLENGE = b'{"status":"invalid_token"}'

Factory = Callable[..., object]
FACTORIES: dict[str, Factory] = {
    "kafka-python": kafka_python_token_provider,
    "aiokafka": aiokafka_token_provider,
    "confluent-kafka": confluent_kafka_oauth_cb,
}


def make_token(value: str = CAPTURE_TOKEN, *, lifetime_ms: int = FAR_MS) -> OAuthBearerToken:
    return OAuthBearerToken(value=value, principal="alice", lifetime_ms=lifetime_ms)


def capture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


# The clients are imported here, where their import warnings can be ignored,
# rather than by the first adapter a test makes; peer() reports a missing one.
with warnings.catch_warnings():
    # kafka-python 3.0 calls importlib.resources.read_text (deprecated) on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    for _client in ("kafka.net.sasl.oauth", "aiokafka.conn"):
        with contextlib.suppress(ImportError):
            importlib.import_module(_client)


def peer(module: str, what: str, hint: str) -> Any:
    """``module`` of a client, or a skip (a failure, where peers are required)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing_peer(what, hint)
        raise  # missing_peer skips or fails the test; it never returns


def kafka_python_mechanism(provider: object) -> Any:
    """kafka-python 3's OAUTHBEARER mechanism, as a connection makes it."""
    oauth = peer("kafka.net.sasl.oauth", "kafka-python 3", "pip install kafka-python")
    return oauth.SaslMechanismOAuth(sasl_oauth_token_provider=provider)


def aiokafka_first_message(provider: object) -> bytes:
    """The first message aiokafka's authenticator sends, as a connection makes it."""
    conn = peer("aiokafka.conn", "aiokafka", "pip install aiokafka")
    authenticator = conn.OAuthAuthenticator(sasl_oauth_token_provider=provider)
    message, expects_reply = asyncio.run(authenticator.step(None))
    assert expects_reply is True
    assert isinstance(message, bytes)
    return message


# --- Imports -------------------------------------------------------------------------


def test_importing_the_adapters_imports_no_client() -> None:
    code = (
        "import sys\n"
        "import oauthbearer.integrations\n"
        "import oauthbearer.integrations.kafka_python\n"
        "import oauthbearer.integrations.aiokafka\n"
        "import oauthbearer.integrations.confluent_kafka\n"
        "print(sorted({'kafka', 'aiokafka', 'confluent_kafka', 'faust'} & set(sys.modules)))\n"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_base_class_is_found_where_the_client_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An older kafka-python keeps AbstractTokenProvider in another module.
    old = types.ModuleType("oauthbearer_test_old_kafka")
    base = type("AbstractTokenProvider", (), {})
    old.AbstractTokenProvider = base  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, old.__name__, old)
    found = first_class(
        ("oauthbearer_test_no_such_module", old.__name__), "AbstractTokenProvider", client="x"
    )
    assert found is base
    with pytest.raises(ImportError, match=r"kafka-python is not installed, or has no"):
        first_class(
            ("oauthbearer_test_no_such_module",), "AbstractTokenProvider", client="kafka-python"
        )


# --- kafka-python --------------------------------------------------------------------


def test_kafka_python_accepts_the_adapter() -> None:
    oauth = peer("kafka.net.sasl.oauth", "kafka-python 3", "pip install kafka-python")
    adapter = kafka_python_token_provider(make_token)
    assert isinstance(adapter, oauth.AbstractTokenProvider)
    assert isinstance(adapter, KafkaPythonTokenProvider)
    assert type(kafka_python_token_provider(make_token)) is type(adapter)  # made once
    kafka_python_mechanism(adapter)  # kafka-python's own isinstance check passes
    with pytest.raises(TypeError, match=r"use kafka_python_token_provider\(\)"):
        KafkaPythonTokenProvider(make_token)


@pytest.mark.parametrize("name", ["kafka-python-accept", "kafka-python-accept-ext"])
def test_kafka_python_sends_the_captured_message(name: str) -> None:
    recorded = capture(name)
    extensions = CAPTURE_EXTENSIONS if recorded["extensions"] else None
    adapter = kafka_python_token_provider(make_token, extensions=extensions)
    sent = kafka_python_mechanism(adapter).auth_bytes()
    assert sent == bytes.fromhex(recorded["initial_response_hex"])


def test_kafka_python_answers_the_error_challenge_with_kvsep() -> None:
    # What the capture shows (tests/fixtures/captures/kafka-python-challenge.json).
    recorded = capture("kafka-python-challenge")
    mechanism = kafka_python_mechanism(kafka_python_token_provider(make_token))
    mechanism.auth_bytes()
    mechanism.receive(CHALLENGE)
    assert mechanism.auth_bytes() == bytes.fromhex(recorded["after_challenge"]["hex"]) == b"\x01"
    assert not mechanism.is_authenticated()


kafka_extension_maps = obs.extensions(Dialect.KAFKA, max_size=8)


@given(token=obs.tokens(), extensions=kafka_extension_maps)
def test_kafka_python_message_carries_the_token_and_extensions_intact(
    token: str, extensions: dict[str, str]
) -> None:
    adapter = kafka_python_token_provider(lambda: make_token(token), extensions=extensions)
    sent = kafka_python_mechanism(adapter).auth_bytes()
    for dialect in (Dialect.KAFKA, Dialect.RFC7628):
        message = ClientInitialResponse.decode(sent, dialect=dialect)
        assert message.token == token
        assert list(message.extensions.items()) == list(extensions.items())
        assert message.authzid is None


def test_kafka_python_sees_the_token_providers_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.integrations")
    now = [1_767_225_600.0]
    provider = TokenProvider(
        lambda: make_token(lifetime_ms=int(now[0] * 1000) + 60_000), clock=lambda: now[0]
    )
    with provider:
        mechanism = kafka_python_mechanism(kafka_python_token_provider(provider))
        assert mechanism.auth_bytes().startswith(b"n,,\x01auth=Bearer " + CAPTURE_TOKEN.encode())
        now[0] += 120  # the token has expired, and no refresh has replaced it
        with pytest.raises(TokenUnavailable, match="no unexpired token") as caught:
            kafka_python_mechanism(kafka_python_token_provider(provider)).auth_bytes()
    assert CAPTURE_TOKEN not in str(caught.value)
    assert CAPTURE_TOKEN not in repr(caught.value)
    logged = [
        r.getMessage() for r in caplog.records if r.name == "oauthbearer.integrations.kafka_python"
    ]
    assert logged == [
        (
            "no OAUTHBEARER token for kafka-python: TokenUnavailable: "
            "no unexpired token: the token expired before a refresh"
        )
    ]


def test_aiokafka_logs_the_token_providers_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oauthbearer.integrations")

    def source() -> OAuthBearerToken:
        raise RuntimeError("POST https://idp/token client_secret=hunter2 failed")

    with pytest.raises(RuntimeError):
        asyncio.run(aiokafka_token_provider(source).token())
    logged = [
        r.getMessage() for r in caplog.records if r.name == "oauthbearer.integrations.aiokafka"
    ]
    assert logged == [
        (
            "no OAUTHBEARER token for aiokafka: RuntimeError "
            "(its message is not shown: it may hold a secret)"
        )
    ]


# --- aiokafka and Faust ----------------------------------------------------------------


def test_aiokafka_accepts_the_adapter() -> None:
    abc = peer("aiokafka.abc", "aiokafka", "pip install aiokafka")
    adapter = aiokafka_token_provider(make_token)
    assert isinstance(adapter, abc.AbstractTokenProvider)
    assert isinstance(adapter, AiokafkaTokenProvider)
    assert type(aiokafka_token_provider(make_token)) is type(adapter)
    with pytest.raises(TypeError, match=r"use aiokafka_token_provider\(\)"):
        AiokafkaTokenProvider(make_token)


@pytest.mark.parametrize("name", ["aiokafka-accept", "aiokafka-accept-ext"])
def test_aiokafka_sends_the_captured_message(name: str) -> None:
    recorded = capture(name)
    extensions = CAPTURE_EXTENSIONS if recorded["extensions"] else None
    sent = aiokafka_first_message(aiokafka_token_provider(make_token, extensions=extensions))
    assert sent == bytes.fromhex(recorded["initial_response_hex"])


def test_aiokafka_takes_the_error_challenge_for_success() -> None:
    # What the capture shows: no %x01, the next request instead. The adapter
    # cannot change that; a server must not grant anything on that path.
    assert capture("aiokafka-challenge")["after_challenge"] == {
        "other_request": "Metadata (api_key 3, v1)"
    }
    conn = peer("aiokafka.conn", "aiokafka", "pip install aiokafka")
    authenticator = conn.OAuthAuthenticator(
        sasl_oauth_token_provider=aiokafka_token_provider(make_token)
    )

    async def exchange() -> object:
        await authenticator.step(None)
        return await authenticator.step(CHALLENGE)

    assert asyncio.run(exchange()) is None  # aiokafka's "done"


@given(token=obs.tokens(), extensions=kafka_extension_maps)
def test_aiokafka_message_carries_the_token_and_extensions_intact(
    token: str, extensions: dict[str, str]
) -> None:
    adapter = aiokafka_token_provider(lambda: make_token(token), extensions=extensions)
    message = ClientInitialResponse.decode(aiokafka_first_message(adapter), dialect="kafka")
    assert message.token == token
    assert list(message.extensions.items()) == list(extensions.items())


def test_aiokafka_starts_an_async_token_provider_once() -> None:
    fetches: list[int] = []

    async def fetch() -> OAuthBearerToken:
        fetches.append(1)
        await asyncio.sleep(0.01)  # the other connections arrive meanwhile
        return make_token()

    provider = AsyncTokenProvider(fetch)
    adapter = aiokafka_token_provider(provider)  # no event loop yet, as in a Faust app

    async def connections() -> list[str]:
        try:
            return await asyncio.gather(*(adapter.token() for _ in range(5)))
        finally:
            await provider.aclose()

    assert asyncio.run(connections()) == [CAPTURE_TOKEN] * 5
    assert len(fetches) == 1


def test_aiokafka_retries_a_failed_first_fetch_on_the_next_connection() -> None:
    answers: list[OAuthBearerToken | Exception] = [
        TokenUnavailable("identity provider down"),
        make_token(),
    ]

    async def fetch() -> OAuthBearerToken:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    provider = AsyncTokenProvider(fetch)
    adapter = aiokafka_token_provider(provider)

    async def two_connections() -> str:
        try:
            with pytest.raises(TokenUnavailable, match="identity provider down"):
                await adapter.token()
            return await adapter.token()
        finally:
            await provider.aclose()

    assert asyncio.run(two_connections()) == CAPTURE_TOKEN
    assert answers == []


def test_aiokafka_uses_a_started_provider_and_coroutine_functions() -> None:
    async def fetch() -> OAuthBearerToken:
        return make_token()

    async def run() -> tuple[str, str]:
        async with AsyncTokenProvider(fetch) as provider:
            started = await aiokafka_token_provider(provider).token()  # no second start()
        return started, await aiokafka_token_provider(fetch).token()

    assert asyncio.run(run()) == (CAPTURE_TOKEN, CAPTURE_TOKEN)


# --- confluent-kafka -------------------------------------------------------------------


def test_confluent_oauth_cb_returns_librdkafkas_tuple() -> None:
    callback = confluent_kafka_oauth_cb(make_token, extensions=CAPTURE_EXTENSIONS)
    value, expiry, principal, extensions = callback("principal=ignored")
    assert (value, expiry, principal) == (CAPTURE_TOKEN, FAR_MS / 1000, "alice")
    assert isinstance(expiry, float)
    assert list(extensions.items()) == list(CAPTURE_EXTENSIONS.items())
    extensions["traceId"] = "changed"  # a copy: librdkafka may keep what it is given
    assert callback("")[3] == CAPTURE_EXTENSIONS
    assert callback.last_error is None


def test_confluent_config_names_the_mechanism_and_the_callback() -> None:
    config = confluent_kafka_config(make_token)
    assert config.keys() == {"sasl.mechanisms", "oauth_cb"}
    assert config["sasl.mechanisms"] == "OAUTHBEARER"
    assert isinstance(config["oauth_cb"], OAuthCallback)


def test_confluent_oauth_cb_logs_what_confluent_kafka_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours = TokenUnavailable("no unexpired token: the last refresh failed")
    # Another library's error may hold anything: only its type is logged.
    theirs = RuntimeError("POST https://idp/token client_secret=hunter2 failed")
    answers: list[Exception | OAuthBearerToken] = [ours, theirs, make_token()]

    def source() -> OAuthBearerToken:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    callback = confluent_kafka_oauth_cb(source)
    logger = "oauthbearer.integrations.confluent_kafka"
    last_errors = []
    with caplog.at_level(logging.WARNING, logger=logger):
        for error in (TokenUnavailable, RuntimeError):
            with pytest.raises(error):
                callback("")
            last_errors.append(callback.last_error)
        callback("")
        last_errors.append(callback.last_error)
    assert last_errors == [ours, theirs, None]
    messages = [record.getMessage() for record in caplog.records if record.name == logger]
    assert messages == [
        (
            "no OAUTHBEARER token for librdkafka: TokenUnavailable: "
            "no unexpired token: the last refresh failed"
        ),
        (
            "no OAUTHBEARER token for librdkafka: RuntimeError "
            "(its message is not shown: it may hold a secret)"
        ),
    ]


def test_confluent_kafka_producer_takes_the_oauth_cb() -> None:
    confluent_kafka = peer("confluent_kafka", "confluent-kafka", "pip install confluent-kafka")
    calls: list[float] = []
    errors: list[Any] = []

    def source() -> OAuthBearerToken:
        calls.append(time.monotonic())
        return make_token(lifetime_ms=int(time.time() * 1000) + 3_600_000)

    settings = confluent_kafka_config(source, extensions=CAPTURE_EXTENSIONS)
    # confluent-kafka 2.x calls oauth_cb in the constructor, and raises there
    # ("OAuth token not set within 10 seconds") if librdkafka refused the token.
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": "127.0.0.1:1",  # nothing listens: no SASL exchange happens
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.oauthbearer.config": "passed to oauth_cb, and ignored",
            "error_cb": errors.append,
            "log_level": 0,
            **settings,
        }
    )
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:  # older releases call it in poll()
        producer.poll(0.1)
    producer.poll(0.1)  # serves error_cb
    assert calls
    assert settings["oauth_cb"].last_error is None
    refused = confluent_kafka.KafkaError._AUTHENTICATION
    assert [error for error in errors if error.code() == refused] == []
    producer.flush(0)


# --- Checks shared by all three ------------------------------------------------------


def run_adapter(adapter: object) -> str:
    """The token value, as each client asks its adapter for it."""
    if isinstance(adapter, OAuthCallback):
        return adapter("")[0]
    if isinstance(adapter, AiokafkaTokenProvider):
        return asyncio.run(adapter.token())
    assert isinstance(adapter, KafkaPythonTokenProvider)
    return adapter.token()


@pytest.fixture(params=sorted(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Factory:
    client: str = request.param
    if client != "confluent-kafka":  # the only one that needs no client installed
        module = {"kafka-python": "kafka", "aiokafka": "aiokafka"}[client]
        peer(module, client, f"pip install {client}")
    return FACTORIES[client]


SECRET = "s3cr3t-VALUE"


@pytest.mark.parametrize(
    ("extensions", "error", "message"),
    [
        ({"auth": "x"}, ConfigurationError, "'auth' is reserved"),
        ({"trace_id": SECRET}, ConfigurationError, "'trace_id' is invalid"),
        ({"": SECRET}, ConfigurationError, "'' is invalid"),
        ({"traceId": ""}, ConfigurationError, "'traceId' has an empty value"),
        ({"traceId": SECRET + "\x00"}, ConfigurationError, "'traceId' has a value outside"),
        ({"traceId": SECRET + "\x01x=y"}, ConfigurationError, "'traceId' has a value outside"),
        ({"port": "0443"}, ConfigurationError, "'port' must be a decimal port"),
        ({"traceId": 1}, ArgumentTypeError, "must be strings"),
        ([("traceId", SECRET)], ArgumentTypeError, "must be a mapping"),
        (
            {f"k{chr(97 + i // 26)}{chr(97 + i % 26)}": "1" for i in range(MAX_EXTENSIONS + 1)},
            ConfigurationError,
            f"at most {MAX_EXTENSIONS} extensions",
        ),
    ],
)
def test_bad_extensions_are_refused_when_the_adapter_is_made(
    factory: Factory, extensions: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        factory(make_token, extensions=extensions)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["abc def", "abc\x01evil=1", "abc,def", "=abc", "ab=c", "é"],
)
def test_a_token_no_message_can_carry_is_refused_unseen(factory: Factory, value: str) -> None:
    adapter = factory(lambda: make_token(value))
    with pytest.raises(ConfigurationError, match="not an RFC 6750 b64token") as caught:
        run_adapter(adapter)
    assert value not in str(caught.value)


def test_the_source_must_give_an_oauthbearer_token(factory: Factory) -> None:
    with pytest.raises(ArgumentTypeError, match="returned str, not an OAuthBearerToken") as caught:
        run_adapter(factory(lambda: CAPTURE_TOKEN))
    assert CAPTURE_TOKEN not in str(caught.value)
    with pytest.raises(ArgumentTypeError, match="must have a token\\(\\) method"):
        factory(CAPTURE_TOKEN)


def test_the_source_may_be_a_token_provider(factory: Factory) -> None:
    with TokenProvider(make_token) as provider:
        assert run_adapter(factory(provider)) == CAPTURE_TOKEN


def test_reprs_show_no_token_no_extension_value_no_source_repr(factory: Factory) -> None:
    def fetch(client_secret: str) -> OAuthBearerToken:
        del client_secret
        return make_token()

    source = functools.partial(fetch, SECRET)  # its repr shows the secret
    adapter = factory(source, extensions={"logicalCluster": SECRET + "x"})
    assert run_adapter(adapter) == CAPTURE_TOKEN
    for text in (repr(adapter), str(adapter)):
        assert SECRET not in text
        assert CAPTURE_TOKEN not in text
        assert "logicalCluster" in text
        assert "partial" in text


def test_the_extensions_are_a_copy_in_order(factory: Factory) -> None:
    given_extensions: Mapping[str, str] = dict(CAPTURE_EXTENSIONS)
    adapter = factory(make_token, extensions=given_extensions)
    assert isinstance(adapter, (KafkaPythonTokenProvider, AiokafkaTokenProvider, OAuthCallback))
    first = adapter.extensions()
    first["traceId"] = "changed"
    given_extensions["traceId"] = "changed too"  # type: ignore[index]
    assert list(adapter.extensions().items()) == list(CAPTURE_EXTENSIONS.items())
