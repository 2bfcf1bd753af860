"""Configuration raises only library errors (issue 14, finding 11): numbers
past Python's int-string limit, and lone surrogates in .properties escapes."""

from __future__ import annotations

import pytest

from oauthbearer.config import broker_validator, client_login, parse_properties
from oauthbearer.errors import ConfigurationError
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
)

#: More digits than Python's int() reads from a string (4300 by default).
HUGE = "1" * 5000
MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
PREFIX = "listener.name.sasl_ssl.oauthbearer."
SECURED_LOGIN = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
SECURED_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


def _client(jaas_options: str = 'clientId="a" clientSecret="b"', **extra: str) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.jaas.config": f"{MODULE} required {jaas_options};",
        "sasl.login.callback.handler.class": SECURED_LOGIN,
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        **extra,
    }


def _broker(jaas_options: str = "", **extra: str) -> dict[str, str]:
    return {
        "listeners": "SASL_SSL://:9093",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        PREFIX + "sasl.jaas.config": f"{MODULE} required {jaas_options};",
        **extra,
    }


@pytest.mark.parametrize(
    "name",
    [
        "sasl.login.refresh.buffer.seconds",
        "sasl.login.refresh.min.period.seconds",
        "sasl.login.retry.backoff.ms",
        "sasl.login.connect.timeout.ms",
    ],
)
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "0" * 5000 + "1" * 20])
def test_client_login_huge_numbers(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name}: the value is not a whole number"):
        client_login(_client(**{name: value}), now=0.0)


def test_leading_zeros_are_still_a_number() -> None:
    props = _client(**{"sasl.login.retry.backoff.ms": "0" * 5000 + "250"})
    config = client_login(props, now=0.0)
    assert config.retry.backoff_s == 0.25  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name",
    [
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "sasl.oauthbearer.clock.skew.seconds",
    ],
)
def test_broker_validator_huge_numbers(name: str) -> None:
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
            "sasl.oauthbearer.jwks.endpoint.url": "https://idp.example/jwks",
            name: HUGE,
        }
    )
    with pytest.raises(ConfigurationError, match=f"{name}: the value is not a whole number"):
        broker_validator(props)


@pytest.mark.parametrize("escape", ["\\uD800", "\\uDC00", "\\uD800x", "\\uDE00\\uD83D"])
def test_a_lone_surrogate_escape_in_properties(escape: str) -> None:
    with pytest.raises(ConfigurationError, match=r"line 2: .*surrogate"):
        parse_properties(f"a=1\nkey={escape}\n")


def test_a_surrogate_pair_is_one_character() -> None:
    assert parse_properties("k\\uD83D\\uDE00=\\uD83D\\uDE00\n") == {"k\U0001f600": "\U0001f600"}


# The unsecured builders and validator read their numbers with the one Java
# integer reader (oauthbearer.kafka_claims.java_integer), whatever the length.


def test_unsecured_validator_huge_clock_skew() -> None:
    with pytest.raises(ConfigurationError, match="unsecuredValidatorAllowableClockSkewMs"):
        UnsecuredJwsValidator.from_options({"unsecuredValidatorAllowableClockSkewMs": HUGE})


def test_kafka_unsecured_login_huge_lifetime() -> None:
    with pytest.raises(ConfigurationError, match="unsecuredLoginLifetimeSeconds"):
        kafka_unsecured_login(
            {"unsecuredLoginStringClaim_sub": "a", "unsecuredLoginLifetimeSeconds": HUGE},
            now=0.0,
        )


def test_librdkafka_unsecured_login_huge_lifetime() -> None:
    with pytest.raises(ConfigurationError, match="lifeSeconds"):
        librdkafka_unsecured_login(f"principal=a lifeSeconds={HUGE}", now=0.0)


def test_client_login_unsecured_huge_lifetime() -> None:
    props = {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.jaas.config": (
            f'{MODULE} required unsecuredLoginStringClaim_sub="a" '
            f'unsecuredLoginLifetimeSeconds="{HUGE}";'
        ),
    }
    with pytest.raises(ConfigurationError, match="unsecuredLoginLifetimeSeconds"):
        client_login(props, now=0.0)


def test_broker_validator_unsecured_huge_clock_skew() -> None:
    with pytest.raises(ConfigurationError, match="unsecuredValidatorAllowableClockSkewMs"):
        broker_validator(_broker(f'unsecuredValidatorAllowableClockSkewMs="{HUGE}"'))
