"""``oauthbearer check``: Kafka's OAuth compatibility check, step by step.

In the manner of Kafka's ``OAuthCompatibilityTool`` (``kafka-tools``): from the
client and broker properties a deployment already has, run what a Kafka client
and broker would do, and say for each step whether it passed, and why not. The
steps carry the tool's numbers and names:

1. client configuration: the client properties parse into a login (and, when
   they name a JWKS, that JWKS is fetched, as Kafka's client-side validator
   does when it is configured);
2. client JWT retrieval: the client gets a token (from its identity provider,
   by client credentials or by the jwt-bearer grant; from a file; or built as
   Kafka's unsecured login builds it);
3. client JWT validation: the token is one Kafka's client would accept, read
   with the client's ``sasl.oauthbearer.scope.claim.name`` and
   ``sub.claim.name``. Kafka's ``DefaultJwtValidator`` checks the signature,
   audience and issuer too when the client properties name a JWKS (as the
   tool's one set of options does), and so does this step;
4. broker configuration: the broker properties parse into a validator (its
   JWKS fetched once, when it has one);
5. broker JWT validation: the broker would accept the token.

The tool prints ``PASSED n/5: name`` for each step and ends with ``SUCCESS`` or
``FAILED:``; :func:`print_step` and :func:`summary` print the same, with each
step's detail, and a last line that names the failing step. While a step
waits to ask an identity provider again, each retry is reported as it happens
(``progress``): the token and JWKS fetches log their retries, and the check
listens to those loggers while it runs.

A shell: it reads the clock and makes network calls. No token, secret or key
is ever printed; tokens are shown as their length and digest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any, Final, TextIO

from oauthbearer.config import (
    ClientCredentialsConfig,
    JwtBearerConfig,
    TokenFileConfig,
    broker_validator,
    client_login,
)
from oauthbearer.errors import ConfigurationError, InvalidToken, OAuthBearerError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from oauthbearer.config import JaasConfig
    from oauthbearer.http.options import HttpOptions
    from oauthbearer.token import OAuthBearerToken, TokenValidator

__all__ = ["CheckStep", "run_check", "summary"]

#: The steps, in order, named as Kafka's OAuthCompatibilityTool names them.
STEPS: Final = (
    "client configuration",
    "client JWT retrieval",
    "client JWT validation",
    "broker configuration",
    "broker JWT validation",
)
_LOGIN_MODULE: Final = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
_VALIDATOR: Final = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)
#: The client properties that configure Kafka's client-side DefaultJwtValidator
#: as a broker's validator, once a JWKS is named.
_CLIENT_VALIDATION: Final = (
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
)


#: Step 2 reads the token with the standard claims, as Kafka's retriever
#: hands the token on unread; step 3 reads it with the client's claim names.
_SCOPE_CLAIM: Final = "scope"
_SUBJECT_CLAIM: Final = "sub"
#: The loggers whose retries a check reports as progress.
_RETRY_LOGGERS: Final = ("oauthbearer.login", "oauthbearer.jwks")


@dataclasses.dataclass(frozen=True, slots=True)
class CheckStep:
    """One step's verdict; ``number`` is its place (1 to 5) in :data:`STEPS`."""

    name: str
    passed: bool
    detail: str

    @property
    def number(self) -> int:
        return STEPS.index(self.name) + 1

    @property
    def label(self) -> str:
        """``n/5: name``, as Kafka's tool prints a step."""
        return f"{self.number}/{len(STEPS)}: {self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
        }


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
    out: Callable[[CheckStep], None] | None = None,
    progress: Callable[[str], None] | None = None,
    spellings: Mapping[str, str] | None = None,
    http: HttpOptions | None = None,
) -> list[CheckStep]:
    """Run the five :data:`STEPS` (stopping at the first failure) and return them.

    ``http`` (:class:`~oauthbearer.http.options.HttpOptions`: a CA file, say)
    applies to every HTTPS call of both sides; what it leaves unset comes from
    each side's properties (their JAAS trust stores).

    ``jaas_file`` (:func:`~oauthbearer.config.parse_jaas_file`'s result) stands
    for ``java.security.auth.login.config``: each side reads its section where
    its properties set no ``sasl.jaas.config``. ``out`` receives each step as
    it ends; ``progress`` each retry of an identity provider as it is decided
    (a line: the attempt, the wait, the cause). ``spellings`` words a
    configuration error's remedy for the caller
    (:meth:`~oauthbearer.errors.ConfigurationError.worded_for`: the command
    line's flags rather than Python's arguments)."""
    with _reporting_retries(progress):
        return _run_check(
            client,
            broker,
            listener=listener,
            now=now,
            allow_insecure_loopback=allow_insecure_loopback,
            jaas_file=jaas_file,
            out=out,
            said=lambda error: _said(error, spellings or {}),
            http=http,
        )


def _said(error: OAuthBearerError, spellings: Mapping[str, str]) -> str:
    if isinstance(error, ConfigurationError):
        return error.worded_for(spellings)
    return str(error)


class _Progress(logging.Handler):
    """Hands each retry that the fetches log to ``progress``."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self._progress(record.getMessage())


@contextlib.contextmanager
def _reporting_retries(progress: Callable[[str], None] | None) -> Iterator[None]:
    if progress is None:
        yield
        return
    handler = _Progress(progress)
    loggers = [logging.getLogger(name) for name in _RETRY_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _run_check(
    client: Mapping[str, str],
    broker: Mapping[str, str],
    *,
    listener: str | None,
    now: Callable[[], float],
    allow_insecure_loopback: bool,
    jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None,
    out: Callable[[CheckStep], None] | None,
    said: Callable[[OAuthBearerError], str],
    http: HttpOptions | None,
) -> list[CheckStep]:
    from oauthbearer.login.client_token import client_token  # noqa: PLC0415 - shells
    from oauthbearer.login.sources import (  # noqa: PLC0415
        client_credentials_fetch,
        jwt_bearer_fetch,
        token_file_fetch,
    )

    steps: list[CheckStep] = []

    def record(step: CheckStep) -> None:
        steps.append(step)
        if out is not None:
            out(step)

    def passed(name: str, detail: str) -> None:
        record(CheckStep(name, passed=True, detail=detail))

    def failed(name: str, detail: str) -> None:
        record(CheckStep(name, passed=False, detail=detail))

    try:
        login = client_login(
            client, now=now(), allow_insecure_loopback=allow_insecure_loopback, jaas_file=jaas_file
        )
        client_side = _client_validator(
            client, allow_insecure_loopback=allow_insecure_loopback, http=http
        )
    except OAuthBearerError as error:
        failed("client configuration", said(error))
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
    passed("client configuration", kind if client_side is None else f"{kind}, JWKS validation")

    try:
        if isinstance(login, ClientCredentialsConfig):
            token = client_credentials_fetch(
                login,
                scope_claim=_SCOPE_CLAIM,
                subject_claim=_SUBJECT_CLAIM,
                allow_insecure_loopback=allow_insecure_loopback,
                http=http,
            )()
            retrieved = f"from {login.token_endpoint_url}"
        elif isinstance(login, JwtBearerConfig):
            token = jwt_bearer_fetch(
                login,
                now=now,
                scope_claim=_SCOPE_CLAIM,
                subject_claim=_SUBJECT_CLAIM,
                allow_insecure_loopback=allow_insecure_loopback,
                http=http,
            )()
            retrieved = f"from {login.token_endpoint_url}, by the jwt-bearer grant"
        elif isinstance(login, TokenFileConfig):
            token = token_file_fetch(
                login, scope_claim=_SCOPE_CLAIM, subject_claim=_SUBJECT_CLAIM
            )()
            retrieved = f"from {login.path}"
        else:
            token = login.token
            retrieved = "built from the unsecuredLogin* options"
    except OAuthBearerError as error:
        failed("client JWT retrieval", said(error))
        return steps
    passed("client JWT retrieval", f"{retrieved} ({_digest(token.value)})")

    try:
        if client_side is not None:
            checked = client_side.validate(token.value, now=now())
        elif isinstance(login, ClientCredentialsConfig | JwtBearerConfig | TokenFileConfig):
            # Kafka's ClientJwtValidator reads the token with the client's claim names.
            checked = client_token(
                token.value, scope_claim=login.scope_claim, subject_claim=login.subject_claim
            )
        else:
            checked = token
    except InvalidToken as refused:
        failed("client JWT validation", _refusal(refused))
        return steps
    except OAuthBearerError as error:
        failed("client JWT validation", said(error))
        return steps
    passed("client JWT validation", _describe(checked, now()))

    try:
        broker_config = broker_validator(
            broker,
            listener=listener,
            allow_insecure_loopback=allow_insecure_loopback,
            jaas_file=jaas_file,
            http=http,
        )
        if broker_config.refresher is not None:
            broker_config.refresher.refresh()
    except OAuthBearerError as error:
        failed("broker configuration", said(error))
        return steps
    passed(
        "broker configuration",
        "unsecured validator" if broker_config.unsecured else "JWT validator with JWKS",
    )

    try:
        negotiated = broker_config.validator.validate(token.value, now=now())
    except InvalidToken as refused:
        failed("broker JWT validation", _refusal(refused))
        return steps
    passed("broker JWT validation", _describe(negotiated, now()))
    return steps


def _refusal(refused: InvalidToken) -> str:
    scope = "" if refused.scope is None else f", scope {refused.scope}"
    return f"{refused.status}{scope}: {refused.detail or 'refused'}"


def _client_validator(
    client: Mapping[str, str], *, allow_insecure_loopback: bool, http: HttpOptions | None
) -> TokenValidator | None:
    """Kafka's client-side ``DefaultJwtValidator`` when the client properties
    name a JWKS: the broker's validator, built from the client's properties (and
    its JWKS fetched, as Kafka fetches it when the validator is configured)."""
    if not client.get("sasl.oauthbearer.jwks.endpoint.url"):
        return None
    prefix = "listener.name.client."
    properties = {
        f"{prefix}oauthbearer.sasl.jaas.config": f"{_LOGIN_MODULE} required ;",
        f"{prefix}oauthbearer.sasl.server.callback.handler.class": _VALIDATOR,
        **{prefix + key: client[key] for key in _CLIENT_VALIDATION if key in client},
    }
    built = broker_validator(
        properties, listener="client", allow_insecure_loopback=allow_insecure_loopback, http=http
    )
    if built.refresher is not None:
        built.refresher.refresh()
    return built.validator


def summary(steps: Sequence[CheckStep]) -> str:
    """The last line: ``SUCCESS``, or the step that failed."""
    if len(steps) == len(STEPS) and all(step.passed for step in steps):
        return "SUCCESS: the client's token is one the broker accepts"
    failed = next((step for step in steps if not step.passed), None)
    if failed is None:  # pragma: no cover - run_check stops only at a failure
        return "FAILED"
    return f"FAILED at step {failed.label}"


def print_step(stream: TextIO) -> Callable[[CheckStep], None]:
    """A step printer for the CLI: ``PASSED n/5: name: detail`` (or ``FAILED``)."""

    def show(step: CheckStep) -> None:
        verdict = "PASSED" if step.passed else "FAILED"
        print(f"{verdict} {step.label}: {step.detail}", file=stream, flush=True)

    return show
