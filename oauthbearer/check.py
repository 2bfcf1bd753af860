"""``oauthbearer check``: Kafka's OAuth compatibility check, step by step.

In the manner of Kafka's ``OAuthCompatibilityTool``: from the client and broker
properties a deployment already has, run what a Kafka client and broker would
do, and say for each step whether it passed, and why not:

1. client configuration: the client properties parse into a login;
2. token retrieval: the client gets a token (from its identity provider, by
   client credentials or by the jwt-bearer grant; from a file; or built as
   Kafka's unsecured login builds it);
3. client-side token check: the token is one Kafka's client would accept;
4. broker configuration: the broker properties parse into a validator (its
   JWKS fetched once, when it has one);
5. broker-side validation: the broker would accept the token.

A shell: it reads the clock and makes network calls. No token, secret or key
is ever printed; tokens are shown as their length and digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import TYPE_CHECKING, TextIO

from oauthbearer.config import (
    ClientCredentialsConfig,
    JwtBearerConfig,
    TokenFileConfig,
    broker_validator,
    client_login,
)
from oauthbearer.errors import InvalidToken, OAuthBearerError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from oauthbearer.config import JaasConfig
    from oauthbearer.token import OAuthBearerToken

__all__ = ["Step", "run_check"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step's verdict."""

    name: str
    passed: bool
    detail: str


def _digest(token: str) -> str:
    return f"{len(token)} characters, sha256 {hashlib.sha256(token.encode()).hexdigest()[:16]}"


def _describe(token: OAuthBearerToken, now: float) -> str:
    left = token.lifetime_ms / 1000 - now
    scope = " ".join(sorted(token.scope)) or "(none)"
    return (
        f"principal {token.principal!r}, scope {scope}, expires in {left:.0f} s "
        f"(token: {_digest(token.value)})"
    )


def run_check(
    client: Mapping[str, str],
    broker: Mapping[str, str],
    *,
    listener: str | None = None,
    now: Callable[[], float] = time.time,
    allow_insecure_loopback: bool = False,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
    out: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Run the five steps (stopping at the first failure) and return them.

    ``jaas_file`` (:func:`~oauthbearer.config.parse_jaas_file`'s result) stands
    for ``java.security.auth.login.config``: each side reads its section where
    its properties set no ``sasl.jaas.config``."""
    from oauthbearer.login.client_token import client_token  # noqa: PLC0415 - shells
    from oauthbearer.login.sources import (  # noqa: PLC0415
        client_credentials_fetch,
        jwt_bearer_fetch,
        token_file_fetch,
    )

    steps: list[Step] = []

    def record(step: Step) -> None:
        steps.append(step)
        if out is not None:
            out(step)

    def passed(name: str, detail: str) -> None:
        record(Step(name, passed=True, detail=detail))

    def failed(name: str, detail: str) -> None:
        record(Step(name, passed=False, detail=detail))

    try:
        login = client_login(
            client, now=now(), allow_insecure_loopback=allow_insecure_loopback, jaas_file=jaas_file
        )
    except OAuthBearerError as error:
        failed("client configuration", str(error))
        return steps
    kind = (
        "client credentials"
        if isinstance(login, ClientCredentialsConfig)
        else "jwt-bearer grant"
        if isinstance(login, JwtBearerConfig)
        else "token file"
        if isinstance(login, TokenFileConfig)
        else "unsecured login"
    )
    passed("client configuration", kind)

    try:
        if isinstance(login, ClientCredentialsConfig):
            token = client_credentials_fetch(
                login, allow_insecure_loopback=allow_insecure_loopback
            )()
            retrieved = f"from {login.token_endpoint_url}"
        elif isinstance(login, JwtBearerConfig):
            token = jwt_bearer_fetch(
                login, now=now, allow_insecure_loopback=allow_insecure_loopback
            )()
            retrieved = f"from {login.token_endpoint_url}, by the jwt-bearer grant"
        elif isinstance(login, TokenFileConfig):
            token = token_file_fetch(login)()
            retrieved = f"from {login.path}"
        else:
            token = login.token
            retrieved = "built from the unsecuredLogin* options"
    except OAuthBearerError as error:
        failed("token retrieval", str(error))
        return steps
    passed("token retrieval", f"{retrieved} ({_digest(token.value)})")

    try:
        checked = (
            token
            if not isinstance(login, ClientCredentialsConfig | JwtBearerConfig | TokenFileConfig)
            else client_token(token.value)
        )
    except OAuthBearerError as error:
        failed("client-side token check", str(error))
        return steps
    passed("client-side token check", _describe(checked, now()))

    try:
        broker_config = broker_validator(
            broker,
            listener=listener,
            allow_insecure_loopback=allow_insecure_loopback,
            jaas_file=jaas_file,
        )
        if broker_config.refresher is not None:
            broker_config.refresher.refresh()
    except OAuthBearerError as error:
        failed("broker configuration", str(error))
        return steps
    passed(
        "broker configuration",
        "unsecured validator" if broker_config.unsecured else "JWT validator with JWKS",
    )

    try:
        negotiated = broker_config.validator.validate(token.value, now=now())
    except InvalidToken as refused:
        scope = "" if refused.scope is None else f", scope {refused.scope}"
        failed(
            "broker-side validation",
            f"{refused.status}{scope}: {refused.detail or 'refused'}",
        )
        return steps
    passed("broker-side validation", _describe(negotiated, now()))
    return steps


def print_step(stream: TextIO) -> Callable[[Step], None]:
    """A step printer for the CLI: ``PASS  name: detail``."""

    def show(step: Step) -> None:
        print(f"{'PASS' if step.passed else 'FAIL'}  {step.name}: {step.detail}", file=stream)

    return show
