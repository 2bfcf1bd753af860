"""What the Kafka client adapters share: the token source, the extensions, the checks.

A Kafka client asks its adapter for a token on every new connection, and puts
the value into the client's first SASL message as it is: none of kafka-python,
aiokafka or librdkafka checks it. So the adapter does, before handing it over:
the value must be an RFC 6750 b64token (section 2.1), or the message would be
malformed, and a value holding ``%x01`` could even smuggle in extensions of its
own. The extensions are checked once, when the adapter is made.

Nothing here names a token value or an extension value in a message, a repr
or a log line; the source's own errors pass through unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Protocol, TypeAlias

from oauthbearer.errors import ArgumentTypeError, ConfigurationError, OAuthBearerError
from oauthbearer.gs2 import check_extensions, is_b64token
from oauthbearer.token import OAuthBearerToken

if TYPE_CHECKING:
    import logging

__all__ = ["AsyncTokenSource", "SupportsToken", "TokenSource"]


class SupportsToken(Protocol):
    """Anything with a ``token()`` method that returns the current token, as
    :class:`~oauthbearer.login.TokenProvider` and
    :class:`~oauthbearer.login.AsyncTokenProvider` have."""

    def token(self) -> OAuthBearerToken: ...


#: What an adapter takes: an object with ``token()``, or a function returning a token.
TokenSource: TypeAlias = SupportsToken | Callable[[], OAuthBearerToken]
#: What aiokafka's adapter takes: a :data:`TokenSource`, or a coroutine function.
AsyncTokenSource: TypeAlias = (
    SupportsToken | Callable[[], OAuthBearerToken | Awaitable[OAuthBearerToken]]
)


def token_getter(source: object) -> Callable[[], object]:
    """The zero-argument call that gives ``source``'s current token."""
    method = getattr(source, "token", None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    if callable(source):
        return source
    raise ArgumentTypeError(
        "provider must have a token() method (a TokenProvider or AsyncTokenProvider) "
        "or be a function that returns an OAuthBearerToken"
    )


def kafka_extensions(extensions: Mapping[str, str] | None) -> Mapping[str, str]:
    """``extensions`` checked for sending to a Kafka broker, as a read-only copy.

    RFC 7628's rules (:class:`~oauthbearer.ClientInitialResponse` applies them:
    ALPHA keys, no ``auth``, values of VCHAR / SP / HTAB / CR / LF, at most
    :data:`~oauthbearer.gs2.MAX_EXTENSIONS`), and one of Kafka's broker: a value
    may not be empty (``OAuthBearerClientInitialResponse`` refuses the message).
    """
    checked = check_extensions({} if extensions is None else extensions)
    for key, value in checked.items():
        if not value:
            raise ConfigurationError(
                f"extension {key!r} has an empty value, which Kafka's broker refuses"
            )
    return MappingProxyType(checked)


def checked_token(token: object) -> OAuthBearerToken:
    """``token`` if it is an :class:`OAuthBearerToken` whose value a SASL message can carry."""
    if not isinstance(token, OAuthBearerToken):
        raise ArgumentTypeError(
            f"the token provider returned {type(token).__name__}, not an OAuthBearerToken"
        )
    if not is_b64token(token.value):
        raise ConfigurationError(
            "the token provider's token is not an RFC 6750 b64token (letters, digits, "
            "-._~+/ then '='s), so no OAUTHBEARER message can carry it"
        )
    return token


def describe_source(source: object) -> str:
    """A name for ``source`` in a repr: its type only, since the repr of a
    user's function (a ``functools.partial``, say) may show a secret."""
    return getattr(source, "__qualname__", None) or type(source).__qualname__


def describe_error(error: BaseException) -> str:
    """An error for a log line: the message of this library's own errors (which
    never hold a secret), and only the type of any other error, whose message
    this library cannot vouch for."""
    if isinstance(error, OAuthBearerError):
        return f"{type(error).__name__}: {error}"
    return f"{type(error).__name__} (its message is not shown: it may hold a secret)"


def log_no_token(log: logging.Logger, client: str, error: BaseException) -> None:
    """Say, on the adapter's logger, that ``client`` asked for a token and got
    ``error``: the client may only say that its login failed."""
    log.warning("no OAUTHBEARER token for %s: %s", client, describe_error(error))


class TokenAdapter:
    """The state and the checks of an adapter; each client's module adds the
    methods its client calls."""

    def __init__(self, provider: object, *, extensions: Mapping[str, str] | None = None) -> None:
        self._source = provider
        self._get = token_getter(provider)
        self._extensions = kafka_extensions(extensions)

    def extensions(self) -> dict[str, str]:
        """The SASL extensions to send, in order: a new copy on every call."""
        return dict(self._extensions)

    def __repr__(self) -> str:
        names = ", ".join(self._extensions) or "none"
        return (
            f"<{type(self).__qualname__} for {describe_source(self._source)}, extensions: {names}>"
        )


def first_class(module_names: tuple[str, ...], name: str, *, client: str) -> type:
    """The class ``name`` from the first of ``module_names`` that has it: a
    client's base class, which moved between releases."""
    error: Exception | None = None
    for module_name in module_names:
        try:
            module: ModuleType = importlib.import_module(module_name)
        except ImportError as exc:
            error = exc
            continue
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    raise ImportError(
        f"{client} is not installed, or has no {name} in {', '.join(module_names)}"
    ) from error
