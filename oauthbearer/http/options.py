"""How to reach an identity provider: the TLS trust, the deadline and the transport (shell).

Every high-level API that makes HTTP calls (the token providers, the
jwt-bearer grant, discovery, :class:`~oauthbearer.validation.jwks_fetch.JwksRefresher`,
:func:`~oauthbearer.config.broker_validator`, the introspection validator)
takes one :class:`HttpOptions` as ``http=``, instead of four parameters each:

* **Trust.** ``ssl_context``, an :class:`ssl.SSLContext` of your own; or
  ``cafile`` (a PEM file) and/or ``cadata`` (PEM text): the CA certificates to
  trust *instead of* the system's, in a context made here with
  :func:`ssl.create_default_context` (certificate and host name checked).
  Neither: the system's trust store (:func:`ssl.create_default_context`'s
  default). A context and a CA bundle together are refused: which one wins
  would be a guess. A CA bundle is loaded when the options are made, so a
  missing or malformed file fails at once, naming the file and never its
  content.
* **Deadline.** ``timeout_s``: the wall-clock deadline of one attempt
  (:mod:`oauthbearer.http.transport`); ``None`` means the caller's default
  (a Kafka configuration's ``sasl.login.*.timeout.ms``, else
  :data:`~oauthbearer.http.transport.DEFAULT_HTTP_TIMEOUT_S`).
* **Transport.** ``transport``: a function with the signature of
  :func:`~oauthbearer.http.transport.http_request` that makes one attempt,
  for an HTTP stack of your own (a corporate proxy library, say). The URL
  policy (:func:`~oauthbearer.http.urls.check_url`) is applied before it is
  called; it is given the SSL context and the deadline, and a redirect it
  follows is its own to check.

Proxies: the default transport honours ``https_proxy``, ``http_proxy`` and
``no_proxy`` (:mod:`oauthbearer.http.transport`).
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import TYPE_CHECKING, Protocol

from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.transport import DEFAULT_HTTP_TIMEOUT_S, HttpResponse, http_request
from oauthbearer.http.urls import check_url

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["HttpOptions", "Transport"]


class Transport(Protocol):
    """One HTTP attempt, as :func:`~oauthbearer.http.transport.http_request` makes it."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_loopback: bool = False,
        max_size: int,
        follow_redirects: bool = False,
        what: str = "request",
    ) -> HttpResponse: ...


def load_ca_context(*, cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """A client context that trusts exactly the CA certificates of ``cafile``
    (a PEM file) and ``cadata`` (PEM text); errors name the file, never its content."""
    # Not create_default_context(), which loads the system's CAs as well: the
    # bundle replaces them, as a Java trust store does. PROTOCOL_TLS_CLIENT
    # checks the certificate and the host name.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except ssl.SSLError:  # an OSError too: first
            raise ConfigurationError(
                f"CA file {cafile}: no PEM certificate could be read from it"
            ) from None
        except FileNotFoundError:
            raise ConfigurationError(f"CA file {cafile}: no such file") from None
        except OSError as error:
            raise ConfigurationError(f"CA file {cafile}: {error.strerror}") from None
    if cadata is not None:
        try:
            context.load_verify_locations(cadata=cadata)
        except (ssl.SSLError, ValueError):
            raise ConfigurationError(
                "the CA certificates given as text: no PEM certificate could be read"
            ) from None
    return context


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    """How the HTTP calls to an identity provider are made (see the module docs)."""

    ssl_context: ssl.SSLContext | None = None
    cafile: str | None = None
    cadata: str | None = dataclasses.field(default=None, repr=False)
    timeout_s: float | None = None
    transport: Transport | None = None
    _context: ssl.SSLContext | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise ArgumentTypeError("HttpOptions.ssl_context must be an ssl.SSLContext")
        for name in ("cafile", "cadata"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"HttpOptions.{name} must be None or a non-blank str")
        has_ca = self.cafile is not None or self.cadata is not None
        if self.ssl_context is not None and has_ca:
            raise ConfigurationError(
                "HttpOptions: give ssl_context or a CA bundle (cafile, cadata), not both"
            )
        if self.timeout_s is not None and (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or not self.timeout_s > 0
        ):
            raise ConfigurationError("HttpOptions.timeout_s must be a number > 0, or None")
        if self.transport is not None and not callable(self.transport):
            raise ArgumentTypeError("HttpOptions.transport must be callable")
        context = (
            load_ca_context(cafile=self.cafile, cadata=self.cadata) if has_ca else self.ssl_context
        )
        object.__setattr__(self, "_context", context)

    @property
    def context(self) -> ssl.SSLContext | None:
        """The SSL context the calls use (``None``: the transport's default,
        the system's trust store)."""
        return self._context

    def deadline_s(self, default: float = DEFAULT_HTTP_TIMEOUT_S) -> float:
        """``timeout_s``, or ``default`` when it is unset."""
        return default if self.timeout_s is None else self.timeout_s

    def with_defaults(
        self,
        *,
        timeout_s: float | None = None,
        cafile: str | None = None,
        cadata: str | None = None,
    ) -> HttpOptions:
        """These options, with the settings that are unset here taken from a
        configuration's (a Kafka JAAS truststore, its login timeouts). What is
        set here wins."""
        own_trust = (
            self.ssl_context is not None or self.cafile is not None or self.cadata is not None
        )
        new_cafile, new_cadata = (self.cafile, self.cadata) if own_trust else (cafile, cadata)
        new_timeout = self.timeout_s if self.timeout_s is not None else timeout_s
        if (new_cafile, new_cadata, new_timeout) == (self.cafile, self.cadata, self.timeout_s):
            return self
        return HttpOptions(
            ssl_context=self.ssl_context,
            cafile=new_cafile,
            cadata=new_cadata,
            timeout_s=new_timeout,
            transport=self.transport,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow_insecure_loopback: bool = False,
        max_size: int,
        follow_redirects: bool = False,
        what: str = "request",
        default_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    ) -> HttpResponse:
        """One attempt through ``transport`` (default
        :func:`~oauthbearer.http.transport.http_request`), with these options."""
        if self.transport is None:
            send: Transport = http_request  # it applies the URL policy itself
        else:
            check_url(url, option=f"{what} URL", allow_insecure_loopback=allow_insecure_loopback)
            send = self.transport
        return send(
            method,
            url,
            body=body,
            headers=headers,
            timeout_s=self.deadline_s(default_timeout_s),
            ssl_context=self._context,
            allow_insecure_loopback=allow_insecure_loopback,
            max_size=max_size,
            follow_redirects=follow_redirects,
            what=what,
        )


#: No options: the system's trust store, the default deadline, urllib.
DEFAULT_HTTP_OPTIONS = HttpOptions()
