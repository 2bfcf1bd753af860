"""Kafka's OAuthCompatibilityTool and ``oauthbearer check``: same verdict, same step.

The tool (``org.apache.kafka.tools.OAuthCompatibilityTool`` in kafka-tools)
takes one set of options and runs five steps with them: it configures Kafka's
JwtRetriever and DefaultJwtValidator (1), retrieves a token (2), validates it
as the client (3), configures the broker's validator (4) and validates the
token as the broker (5). Since the client's validator gets the tool's options
too, a named JWKS makes step 3 the full check. ``oauthbearer check`` gets the
same options as a client's and a broker's properties; each configuration of
:data:`MATRIX` must end both at the same step with the same verdict (Kafka 4.1
and later; 4.0's tool differs where :data:`KAFKA_40_TOOL_STEPS` says).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from typing import TYPE_CHECKING, Final

import pytest

from oauthbearer.cli.check import STEPS, run_check
from oauthbearer.testing import TestIdentityProvider
from tests.real_kafka import classpath, java_tool, selected_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.kafka_differential

TOOL: Final = "org.apache.kafka.tools.OAuthCompatibilityTool"
SECRET: Final = "tool-s3cret"
LOGIN_MODULE: Final = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
VALIDATOR: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)
#: The tool's options that are JAAS options of the client's login module.
JAAS_OPTIONS: Final = ("clientId", "clientSecret", "scope")


@dataclasses.dataclass(frozen=True, slots=True)
class Providers:
    idp: TestIdentityProvider
    #: Its clock two hours behind: every token it issues expired an hour ago.
    stale: TestIdentityProvider


@pytest.fixture(scope="module")
def providers() -> Iterator[Providers]:
    with (
        TestIdentityProvider() as idp,
        TestIdentityProvider(clock=lambda: time.time() - 7200) as stale,
    ):
        for provider in (idp, stale):
            provider.add_client("orders", SECRET, scopes=("kafka",), audience="kafka-cluster")
        yield Providers(idp, stale)


def good(p: Providers) -> dict[str, str]:
    return {
        "sasl.oauthbearer.token.endpoint.url": p.idp.token_endpoint,
        "sasl.oauthbearer.jwks.endpoint.url": p.idp.jwks_uri,
        "sasl.oauthbearer.expected.audience": "kafka-cluster",
        "sasl.oauthbearer.expected.issuer": p.idp.issuer,
        "clientId": "orders",
        "clientSecret": SECRET,
        "scope": "kafka",
    }


#: Each configuration: the tool's options from the good ones, and the step
#: both must stop at (None: all five pass).
MATRIX: Final[dict[str, tuple[Callable[[Providers], dict[str, str]], int | None]]] = {
    "good": (good, None),
    "wrong secret": (lambda p: {**good(p), "clientSecret": "not-the-secret"}, 2),
    "unknown client": (lambda p: {**good(p), "clientId": "nobody"}, 2),
    "scope not granted": (lambda p: {**good(p), "scope": "admin"}, 2),
    "wrong token endpoint": (
        lambda p: {**good(p), "sasl.oauthbearer.token.endpoint.url": p.idp.issuer + "/nowhere"},
        2,
    ),
    "wrong JWKS URL": (
        lambda p: {**good(p), "sasl.oauthbearer.jwks.endpoint.url": p.idp.issuer + "/nowhere"},
        1,
    ),
    "wrong audience": (lambda p: {**good(p), "sasl.oauthbearer.expected.audience": "other"}, 3),
    "one of two audiences": (
        lambda p: {**good(p), "sasl.oauthbearer.expected.audience": "other,kafka-cluster"},
        None,
    ),
    "wrong issuer": (
        lambda p: {**good(p), "sasl.oauthbearer.expected.issuer": "https://idp.example"},
        3,
    ),
    "scope claim scp (absent)": (
        lambda p: {**good(p), "sasl.oauthbearer.scope.claim.name": "scp"},
        None,
    ),
    "sub claim client_id": (
        lambda p: {**good(p), "sasl.oauthbearer.sub.claim.name": "client_id"},
        None,
    ),
    "sub claim absent": (lambda p: {**good(p), "sasl.oauthbearer.sub.claim.name": "user"}, 3),
    "expired clock": (
        lambda p: {
            **good(p),
            "sasl.oauthbearer.token.endpoint.url": p.stale.token_endpoint,
            "sasl.oauthbearer.jwks.endpoint.url": p.stale.jwks_uri,
            "sasl.oauthbearer.expected.issuer": p.stale.issuer,
        },
        3,
    ),
}

#: Kafka 4.0's tool (AccessTokenRetriever/Validator, before KIP-1139's
#: DefaultJwtValidator) validates on the client side without the JWKS, and
#: fetches the JWKS only when it configures the broker: the JWKS, audience,
#: issuer and expiry failures come at steps 4 and 5. ``check`` follows 4.1+.
KAFKA_40_TOOL_STEPS: Final = {
    "wrong JWKS URL": 4,
    "wrong audience": 5,
    "wrong issuer": 5,
    "expired clock": 5,
}

_PASSED = re.compile(r"^PASSED (\d)/5: ", re.MULTILINE)


def allowed_urls(p: Providers) -> str:
    urls = {
        url for make, _ in MATRIX.values() for key, url in make(p).items() if key.endswith(".url")
    }
    return ",".join(sorted(urls))


def kafka_tool(p: Providers, options: dict[str, str]) -> tuple[int | None, str]:
    """The tool's verdict: the failing step (None: SUCCESS) and its output."""
    # The tool takes a list option once per element, where properties separate
    # them with commas.
    args = [
        arg
        for key, value in options.items()
        for element in (value.split(",") if key.endswith(".audience") else [value])
        for arg in (f"--{key}", element)
    ]
    done = subprocess.run(  # noqa: S603 - Kafka's own tool
        [
            java_tool(),
            f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={allowed_urls(p)}",
            "-cp",
            classpath(selected_version()),
            TOOL,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    passed = [int(n) for n in _PASSED.findall(done.stdout)]
    assert passed == list(range(1, len(passed) + 1)), out
    if done.returncode == 0:
        assert "SUCCESS" in done.stdout, out
        assert len(passed) == 5, out
        return None, out
    assert "FAILED:" in done.stdout, out
    return len(passed) + 1, out


def our_properties(options: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The tool's options as a client's and a broker's properties."""
    jaas = " ".join(f'{key}="{options[key]}"' for key in JAAS_OPTIONS if key in options)
    rest = {k: v for k, v in options.items() if k not in JAAS_OPTIONS}
    client = {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.jaas.config": f"{LOGIN_MODULE} required {jaas};",
        **rest,
    }
    prefix = "listener.name.sasl_plaintext."
    broker = {
        "listeners": "SASL_PLAINTEXT://:9092",
        f"{prefix}oauthbearer.sasl.jaas.config": f"{LOGIN_MODULE} required ;",
        f"{prefix}oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        **{
            prefix + key: value
            for key, value in rest.items()
            if key != "sasl.oauthbearer.token.endpoint.url"
        },
    }
    return client, broker


@pytest.mark.parametrize("name", MATRIX)
def test_check_and_kafkas_tool_stop_at_the_same_step(providers: Providers, name: str) -> None:
    make, expected = MATRIX[name]
    options = make(providers)
    tool_step, tool_out = kafka_tool(providers, options)
    client, broker = our_properties(options)
    steps = run_check(client, broker, allow_insecure_loopback=True)
    ours = next((s.number for s in steps if not s.passed), None)
    ours_detail = steps[-1].detail
    print(
        f"\n{name}: Kafka {selected_version()}'s tool: "
        f"{'SUCCESS' if tool_step is None else f'FAILED at {tool_step}/5'}; "
        f"check: {'SUCCESS' if ours is None else f'FAILED at {ours}/5'} ({ours_detail})"
    )
    tool_expected = expected
    if selected_version().startswith("4.0."):
        tool_expected = KAFKA_40_TOOL_STEPS.get(name, expected)
    assert tool_step == tool_expected, tool_out[-3000:]
    assert ours == expected, steps
    if ours is None:
        assert [s.name for s in steps] == list(STEPS)


def test_the_client_side_step_honours_the_clients_claim_names(providers: Providers) -> None:
    """Kafka's client reads the scope from its own scope claim: with ``scp``,
    the IdP's tokens carry none."""
    options = {**good(providers), "sasl.oauthbearer.scope.claim.name": "scp"}
    del options["sasl.oauthbearer.jwks.endpoint.url"]
    client, broker = our_properties(good(providers))
    client, _ = our_properties(options)
    steps = run_check(client, broker, allow_insecure_loopback=True)
    assert steps[2].name == "client JWT validation"
    assert "scope (none)" in steps[2].detail
    assert "scope kafka" in steps[4].detail
