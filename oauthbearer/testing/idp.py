"""A local identity provider for tests and demos: token endpoint, JWKS and discovery on loopback.

Theory of operation
-------------------
:class:`TestIdentityProvider` is a small OAuth 2.0 authorization server that
runs in a thread of the test process, on ``http.server.ThreadingHTTPServer``
bound to a loopback address (``127.0.0.1``, port 0 by default: the kernel
picks a free port). It serves four paths:

* ``/token``: the token endpoint (RFC 6749 section 3.2). ``POST`` with an
  ``application/x-www-form-urlencoded`` body; two grants:

  - ``client_credentials`` (RFC 6749 section 4.4), with the client
    authenticated by ``client_secret_basic`` (RFC 6749 section 2.3.1: the
    standard base64 of ``id:secret``, and also of the form-urlencoded
    ``id:secret`` the RFC actually specifies, which Kafka sends with
    ``sasl.oauthbearer.header.urlencode=true``), ``client_secret_post``, or
    ``private_key_jwt`` (RFC 7523 section 2.2, OpenID Connect Core section 9);
  - ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (RFC 7523 section 2.1):
    an assertion signed by a registered client key, whose ``sub`` becomes the
    token's subject (client authentication is optional, as the RFC allows).

  A JWT assertion is checked by :class:`~oauthbearer.validation.jwt.JwtValidator` against
  the client's registered public key: ``iss`` is the client, ``aud`` holds the
  token endpoint or the issuer (RFC 7523 section 3), ``exp`` is required and at
  most :data:`MAX_ASSERTION_LIFETIME_S` ahead, ``nbf`` and ``iat`` are honoured
  with :data:`ASSERTION_CLOCK_SKEW_S` of skew, and a ``jti`` (required for
  client authentication, optional for the grant) is refused a second time
  until the assertion expires (RFC 7523 section 3 item 7).

  Success is RFC 6749 section 5.1: ``access_token`` (an RS256 JWT access
  token in the shape of RFC 9068: ``typ`` ``at+jwt``, claims ``iss``,
  ``sub``, ``aud``, ``scope``, ``iat``, ``nbf``, ``exp``, ``jti``,
  ``client_id``), ``token_type`` ``Bearer``, ``expires_in`` and ``scope``,
  with ``Cache-Control: no-store``. Failure is RFC 6749 section 5.2: a JSON
  object with ``error`` and ``error_description``; ``invalid_client`` comes
  with HTTP 401 and a ``WWW-Authenticate`` header.

* ``/jwks``: the public signing keys (RFC 7517), ``use`` ``sig``, ``alg``
  ``RS256``, ``kid`` the RFC 7638 thumbprint. :meth:`~TestIdentityProvider.rotate_keys`
  adds a key and signs with it; the old one stays published until
  :meth:`~TestIdentityProvider.retire_old_keys`, so that both halves of a
  rotation can be tested.

* ``/introspect``: the introspection endpoint (RFC 7662). ``POST`` a form
  with ``token`` (and an optional ``token_type_hint``), the caller
  authenticated as a registered client, as at ``/token``. A token is active
  when it is an opaque token from :meth:`~TestIdentityProvider.mint_opaque_token`
  (not revoked, not expired) or a JWT this provider signed that is still
  valid; the answer then carries its claims and ``token_type`` ``Bearer``.
  Anything else is ``{"active": false}``.

* ``/.well-known/openid-configuration`` and
  ``/.well-known/oauth-authorization-server``: the same metadata document
  (RFC 8414 section 2). The server has no authorization endpoint, so the
  members about one are left out.

Profiles
--------
``profile`` gives the tokens the shape a real provider gives its
client-credentials access tokens, so that a broker or client configured for
that provider is tested against what it will really see (docs/idp.md):

* ``generic`` (the default): the RFC 9068 shape above;
* ``okta``: no ``typ`` header; ``scp`` a JSON array and no ``scope``; ``cid``,
  ``ver`` 1, a ``jti`` starting ``AT.``, no ``nbf``, no ``client_id``;
* ``keycloak``: ``typ`` ``JWT``; ``sub`` a UUID (the service account's id),
  ``azp``, ``typ`` ``Bearer``, ``realm_access.roles``, ``preferred_username``
  ``service-account-<client>``, ``client_id``, ``scope`` a space-delimited
  string, no ``nbf`` (checked against a real Keycloak's tokens in
  tests/test_interop_keycloak.py);
* ``entra`` (a v2.0 app-only token): ``typ`` ``JWT``; ``sub`` and ``oid`` a
  GUID, ``tid``, ``ver`` ``2.0``, ``azp``, ``azpacr``, ``uti``; the granted
  scopes are application permissions in ``roles``, a JSON array, and there is
  no ``scp`` (``scope_claim="scp"`` writes a delegated token's ``scp``, a
  space-delimited string, instead); no ``client_id``.

``scope_claim`` names the claim that carries the granted scope (the
profile's by default; ``None`` for none): the scope is written under that
name only, never under a second one, so that a validator that reads the wrong
claim fails against this provider as it would against the real one. With
``opaque``, access tokens are random strings instead of JWTs; the claims each
stands for are kept (see :meth:`TestIdentityProvider.opaque_claims`) for an
introspection endpoint to read.

Faults are injected per endpoint (:meth:`~TestIdentityProvider.inject`) and
consumed in order, one per request; a faulted request is not processed
(except :class:`Slow`, which delays a normal answer). Every request is
recorded in :attr:`~TestIdentityProvider.requests`, with credentials redacted.

This module is a shell: it owns sockets and threads, and takes its clock as a
parameter. It never listens on anything but a loopback address.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import dataclasses
import enum
import hmac
import http.server
import ipaddress
import json
import math
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import types
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self, TypeAlias

import jwt as pyjwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from oauthbearer._json import loads_strict
from oauthbearer.errors import (
    ArgumentTypeError,
    ConfigurationError,
    InvalidToken,
    OAuthBearerError,
    TokenReason,
)
from oauthbearer.login.grants import REDACTED, is_credential_name
from oauthbearer.validation.jwks import (
    MAX_JWKS_SIZE,
    MIN_RSA_KEY_BITS,
    JsonWebKeySet,
    b64url_decode,
    jwk_thumbprint,
)
from oauthbearer.validation.jwt import ASYMMETRIC_ALGORITHMS, JwtValidator

if TYPE_CHECKING:
    from types import TracebackType
    from typing import TextIO

__all__ = [
    "ASSERTION_CLOCK_SKEW_S",
    "MAX_ASSERTION_LIFETIME_S",
    "MAX_LOGGED_REQUESTS",
    "MAX_OPAQUE_TOKENS",
    "MAX_REQUEST_BODY",
    "DropConnection",
    "EmptyBody",
    "Endpoint",
    "Fault",
    "HttpStatus",
    "IdentityProviderStateError",
    "MalformedJson",
    "OversizedBody",
    "Profile",
    "RecordedRequest",
    "Slow",
    "TestIdentityProvider",
    "serve",
]

# --- Vocabulary (RFC 6749, RFC 7523, RFC 8414) ----------------------------------------

_GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"  # RFC 6749 section 4.4.2
GRANT_JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 section 2.1
CLIENT_ASSERTION_TYPE_JWT: Final = (
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 section 2.2
)
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")

TOKEN_PATH: Final = "/token"
JWKS_PATH: Final = "/jwks"
INTROSPECTION_PATH: Final = "/introspect"  # RFC 7662 section 2
OPENID_CONFIGURATION_PATH: Final = "/.well-known/openid-configuration"  # OpenID Discovery 4
OAUTH_METADATA_PATH: Final = "/.well-known/oauth-authorization-server"  # RFC 8414 section 3

#: RFC 6749 section 3.3: ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``.
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

#: Claims the provider writes itself; ``extra_claims`` may not replace them.
RESERVED_CLAIMS: Final = frozenset(
    {"iss", "sub", "aud", "scope", "iat", "nbf", "exp", "jti", "client_id"}
)
#: The claims real providers carry a scope in: an extra claim of one of these
#: names beside the provider's own scope claim would make a second scope.
SCOPE_CLAIMS: Final = frozenset({"scope", "scp"})


class Profile(enum.StrEnum):
    """Whose token shape the provider imitates (see the module documentation)."""

    GENERIC = "generic"
    OKTA = "okta"
    KEYCLOAK = "keycloak"
    ENTRA = "entra"


#: Each profile's scope claim, and whether it holds a JSON array (else a
#: space-delimited string).
PROFILE_SCOPE_CLAIMS: Final[Mapping[Profile, tuple[str, bool]]] = types.MappingProxyType(
    {
        Profile.GENERIC: ("scope", False),
        Profile.OKTA: ("scp", True),
        Profile.KEYCLOAK: ("scope", False),
        Profile.ENTRA: ("roles", True),
    }
)
#: A fixed tenant id for the ``entra`` profile (Entra ID's ``tid``).
ENTRA_TENANT_ID: Final = "72f988bf-0000-4000-8000-00000000a1b2"
_UUID_NAMESPACE: Final = uuid.UUID("6f2c0f7e-3a53-4c43-9d0e-0a0b7e5f1d11")

# --- Limits --------------------------------------------------------------------------

#: Longest token request body, in bytes: a request is a few hundred bytes, an
#: assertion a few KiB; more is a mistake worth a 413.
MAX_REQUEST_BODY: Final = 64 * 1024
#: Furthest an assertion's ``exp`` may lie ahead, in seconds. RFC 7523 section 3
#: lets a server refuse an ``exp`` unreasonably far away; the bound also caps how
#: long a ``jti`` is remembered (Kafka's own assertions live 300 s).
MAX_ASSERTION_LIFETIME_S: Final = 3600
#: Clock skew allowed when checking an assertion's ``exp``, ``nbf`` and ``iat``.
ASSERTION_CLOCK_SKEW_S: Final = 30
#: Longest ``jti`` remembered; a longer one is refused rather than stored.
MAX_JTI_LENGTH: Final = 256
#: Requests kept in :attr:`TestIdentityProvider.requests`; older ones are dropped,
#: so that a long-running ``serve`` does not grow without bound.
MAX_LOGGED_REQUESTS: Final = 10_000
#: Socket timeout of a connection handler, in seconds: a client that connects
#: and says nothing cannot hold a thread (or :meth:`TestIdentityProvider.stop`).
HANDLER_TIMEOUT_S: Final = 10.0
#: Default size of :class:`OversizedBody`: twice the JWKS limit, so that a
#: client's size limit, not its patience, is what is tested.
DEFAULT_OVERSIZED_BYTES: Final = 2 * MAX_JWKS_SIZE
#: Default lifetime of an access token, in seconds.
DEFAULT_LIFETIME_S: Final = 3600
#: Opaque tokens whose claims are remembered; the oldest is forgotten first, so
#: that a long-running ``serve`` does not grow without bound.
MAX_OPAQUE_TOKENS: Final = 10_000


#: Signature algorithms accepted on client assertions (never ``none`` nor ``HS*``).
_ASSERTION_ALGORITHMS: Final = tuple(sorted(ASYMMETRIC_ALGORITHMS))
#: What sign_raw signs with: the RSA signing key's algorithms.
_RAW_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_REALM: Final = 'Basic realm="oauthbearer-test-idp"'


class IdentityProviderStateError(OAuthBearerError, RuntimeError):
    """A :class:`TestIdentityProvider` method was called before ``start()``,
    or ``start()`` was called twice."""


# --- Faults ----------------------------------------------------------------------------


class Endpoint(enum.StrEnum):
    """The endpoints faults can be injected into."""

    TOKEN = "token"
    JWKS = "jwks"
    DISCOVERY = "discovery"
    INTROSPECT = "introspect"


def _check_number(value: object, name: str, *, minimum: float = 0.0) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigurationError(f"{name} must be a finite number >= {minimum:g}")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Slow:
    """Wait ``delay_s`` seconds, then answer normally: for client timeouts.
    ``stop()`` cuts the wait short (the connection is then dropped)."""

    delay_s: float

    def __post_init__(self) -> None:
        _check_number(self.delay_s, "Slow.delay_s")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HttpStatus:
    """Answer with ``status`` (400 to 599) and an RFC 6749 section 5.2 error
    body: ``error`` (by default ``invalid_request`` for 400, ``invalid_client``
    for 401, ``temporarily_unavailable`` for 429 and 503, else ``server_error``),
    and a ``Retry-After`` header when ``retry_after_s`` is given."""

    status: int
    retry_after_s: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or isinstance(self.status, bool):
            raise ArgumentTypeError("HttpStatus.status must be an int")
        if not 400 <= self.status <= 599:
            raise ConfigurationError("HttpStatus.status must be an error status, 400 to 599")
        if self.retry_after_s is not None and (
            not isinstance(self.retry_after_s, int)
            or isinstance(self.retry_after_s, bool)
            or self.retry_after_s < 0
        ):
            raise ConfigurationError("HttpStatus.retry_after_s must be an int >= 0")
        if self.error is not None and not _SCOPE_TOKEN.fullmatch(self.error):
            raise ConfigurationError("HttpStatus.error must be an RFC 6749 error code")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MalformedJson:
    """Answer 200 with a JSON body cut short."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EmptyBody:
    """Answer 200 with ``Content-Type: application/json`` and no body at all."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OversizedBody:
    """Answer 200 with a valid JSON object of ``size`` bytes (by default
    :data:`DEFAULT_OVERSIZED_BYTES`), for clients' size limits."""

    size: int = DEFAULT_OVERSIZED_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 16:
            raise ConfigurationError("OversizedBody.size must be an int >= 16")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DropConnection:
    """Read the request, then close the connection without any response."""


#: One injected fault.
Fault: TypeAlias = Slow | HttpStatus | MalformedJson | EmptyBody | OversizedBody | DropConnection
_FAULT_TYPES: Final = (Slow, HttpStatus, MalformedJson, EmptyBody, OversizedBody, DropConnection)


# --- The request log ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request as the provider saw it, secrets replaced by :data:`REDACTED`.

    ``headers`` keeps the order and case of the request (``Authorization``
    keeps its scheme: ``Basic [redacted]``); ``form`` holds the token
    request's fields; every credential-bearing field, query parameter and
    header (:func:`~oauthbearer.login.grants.is_credential_name`: the
    client secret, assertions, tokens, API keys, in any case) is redacted;
    ``time`` is the provider's clock on arrival; ``status`` is the HTTP
    status sent, ``None`` when the connection was dropped; ``fault`` the
    fault applied, if any.
    """

    method: str
    path: str
    endpoint: Endpoint | None
    headers: tuple[tuple[str, str], ...]
    form: Mapping[str, str]
    time: float
    status: int | None
    fault: Fault | None = None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (compared case-insensitively), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _redact_header(name: str, value: str) -> str:
    if not is_credential_name(name):
        return value
    scheme, space, _ = value.strip().partition(" ")
    return f"{scheme} {REDACTED}" if space else REDACTED


def _redact_path(path: str) -> str:
    """The request target, with the values of secret-named query parameters redacted."""
    target, question, query = path.partition("?")
    if not question:
        return path
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    shown = [(k, REDACTED if is_credential_name(k) else v) for k, v in pairs]
    return f"{target}?{urllib.parse.urlencode(shown, safe='[]')}"


# --- Clients and keys ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Client:
    client_id: str
    secret: bytes | None = dataclasses.field(repr=False)
    keys: JsonWebKeySet | None = dataclasses.field(repr=False)
    scopes: frozenset[str]
    audience: str | tuple[str, ...] | None
    lifetime_s: int
    extra_claims: Mapping[str, Any] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    jwk: Mapping[str, Any] = dataclasses.field(repr=False)


def _new_signing_key() -> _SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_KEY_BITS)
    public = pyjwt.get_algorithm_by_name("RS256").to_jwk(private_key.public_key(), as_dict=True)
    jwk: dict[str, Any] = {"kty": "RSA", "n": public["n"], "e": public["e"]}
    kid = jwk_thumbprint(jwk)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return _SigningKey(kid, private_key, types.MappingProxyType(jwk))


def _client_key_set(public_key_pem: str | bytes, client_id: str) -> JsonWebKeySet:
    """The client's PEM public key as a one-key set, checked as a JWKS would be."""
    data = public_key_pem.encode("ascii") if isinstance(public_key_pem, str) else public_key_pem
    if not isinstance(data, bytes):
        raise ArgumentTypeError("add_client: public_key_pem must be PEM text (str or bytes)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"add_client({client_id!r}): public_key_pem is not a PEM public key "
            "(RSA, EC or Ed25519/Ed448)"
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        name = "RS256"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        name = "ES256"
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        name = "EdDSA"
    else:
        raise ConfigurationError(
            f"add_client({client_id!r}): public_key_pem must be an RSA, EC or Ed25519/Ed448 key"
        )
    jwk = dict(pyjwt.get_algorithm_by_name(name).to_jwk(key, as_dict=True))
    jwk.pop("key_ops", None)
    key_set = JsonWebKeySet.from_dict({"keys": [jwk]})  # refuses weak RSA, odd curves
    if not key_set.keys:  # pragma: no cover - from_dict refuses an empty set itself
        raise ConfigurationError(f"add_client({client_id!r}): unusable public key")
    return key_set


def _check_scopes(scopes: str | Iterable[str], name: str) -> frozenset[str]:
    if isinstance(scopes, str):
        items: list[str] = scopes.split(" ") if scopes else []
    else:
        items = list(scopes)
    for item in items:
        if not isinstance(item, str) or not _SCOPE_TOKEN.fullmatch(item):
            raise ConfigurationError(
                f"{name}: {item!r} is not a scope token (RFC 6749 section 3.3)"
            )
    return frozenset(items)


def _check_audience(
    audience: str | Iterable[str] | None, name: str
) -> str | tuple[str, ...] | None:
    if audience is None:
        return None
    if isinstance(audience, str):
        values: tuple[str, ...] = (audience,)
    else:
        values = tuple(audience)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ConfigurationError(f"{name}: audience must be a non-empty string or strings")
    return values[0] if len(values) == 1 else values


def _check_lifetime(lifetime_s: object, name: str) -> int:
    if not isinstance(lifetime_s, int) or isinstance(lifetime_s, bool) or lifetime_s < 1:
        raise ConfigurationError(f"{name}: lifetime_s must be an int >= 1 (seconds)")
    return lifetime_s


class _Default(enum.Enum):
    """The "not given" marker where ``None`` is a meaningful value."""

    DEFAULT = enum.auto()


_DEFAULT: Final = _Default.DEFAULT


def _check_extra_claims(extra_claims: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    if extra_claims is None:
        return types.MappingProxyType({})
    if not isinstance(extra_claims, Mapping):
        raise ArgumentTypeError(f"{name}: extra_claims must be a mapping")
    reserved = sorted(RESERVED_CLAIMS.intersection(extra_claims))
    if reserved:
        raise ConfigurationError(
            f"{name}: extra_claims cannot set {', '.join(reserved)}; the provider writes them"
        )
    try:
        json.dumps(extra_claims, allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}: extra_claims must be JSON-serialisable") from None
    return types.MappingProxyType(dict(extra_claims))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_loopback(host: str) -> str:
    """Refuse anything but an IPv4 loopback address: this server must never be
    reachable from another machine."""
    try:
        address = ipaddress.ip_address(host)
    except (TypeError, ValueError):
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ConfigurationError(
            f"the test identity provider listens on an IPv4 loopback address only "
            f"(such as 127.0.0.1), not {host!r}"
        )
    return host


# --- Token endpoint errors -------------------------------------------------------------------


class _TokenError(Exception):
    """An RFC 6749 section 5.2 error response."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _invalid_client(description: str) -> _TokenError:
    return _TokenError("invalid_client", description, status=401)


@dataclasses.dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json_response(status: int, document: Mapping[str, Any], *extra: tuple[str, str]) -> _Response:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return _Response(status, body, (("Content-Type", "application/json"), *extra))


def _error_response(error: _TokenError) -> _Response:
    headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    if error.status == 401:
        headers.append(("WWW-Authenticate", _REALM))
    document = {"error": error.error, "error_description": error.description}
    return _json_response(error.status, document, *headers)


def _unverified_claim(assertion: str, name: str) -> str | None:
    """A string claim of a JWT, read without checking anything: only to find
    which client's key should check it."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = loads_strict(b64url_decode(parts[1]))
    except ValueError:
        return None
    value = payload.get(name) if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


# --- The server ------------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    # Handler threads are joined by server_close(), so stop() leaves none behind.
    daemon_threads = False
    block_on_close = True
    idp: TestIdentityProvider
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.ssl_context is None:
            return connection, address
        # The handshake waits for the handler's thread (_Handler.setup), so that
        # a client that never speaks TLS cannot stall the accepting loop.
        wrapped = self.ssl_context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up is expected here, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)  # pragma: no cover - a bug


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = HANDLER_TIMEOUT_S
    server_version = "oauthbearer-test-idp"

    def setup(self) -> None:
        super().setup()
        self.server.idp._connection_opened(self.connection)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()  # within the handler's timeout
            except BaseException:
                self.server.idp._connection_closed(self.connection)  # finish() will not run
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.idp._connection_closed(self.connection)

    def do_GET(self) -> None:
        self.server.idp._handle(self)

    def do_POST(self) -> None:
        self.server.idp._handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        del format, args


class TestIdentityProvider:
    """A local OAuth 2.0 authorization server for tests and demos (see the module docs).

    Use it as a context manager (``with TestIdentityProvider() as idp:``) or
    call :meth:`start` and :meth:`stop`. ``host`` must be an IPv4 loopback
    address; ``port`` 0 picks a free port. ``clock`` gives the time (epoch
    seconds) for the tokens it issues and the assertions it checks. With
    ``ssl_context`` (a server context holding a certificate for ``host``), it
    speaks HTTPS only, and every URL it gives (the issuer, the endpoints, the
    metadata's) is ``https``.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        profile: Profile | str = Profile.GENERIC,
        scope_claim: str | _Default | None = _DEFAULT,
        opaque: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = _check_loopback(host)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ArgumentTypeError("TestIdentityProvider: ssl_context must be an ssl.SSLContext")
        self._ssl_context = ssl_context
        try:
            self.profile = Profile(profile)
        except ValueError:
            names = ", ".join(p.value for p in Profile)
            raise ConfigurationError(
                f"TestIdentityProvider: profile must be one of {names}"
            ) from None
        default_claim, default_as_list = PROFILE_SCOPE_CLAIMS[self.profile]
        if isinstance(scope_claim, _Default):
            scope_claim = default_claim
        elif scope_claim is not None and (not isinstance(scope_claim, str) or not scope_claim):
            raise ConfigurationError(
                "TestIdentityProvider: scope_claim must be a claim name or None"
            )
        #: The claim that carries the granted scope (``None``: no scope claim).
        self.scope_claim: str | None = scope_claim
        # The profile's own claim keeps its type; ``roles`` is always a list.
        self._scope_as_list = (
            default_as_list if scope_claim == default_claim else scope_claim == "roles"
        )
        if not isinstance(opaque, bool):
            raise ArgumentTypeError("TestIdentityProvider: opaque must be a bool")
        self.opaque = opaque
        self._opaque: collections.OrderedDict[str, Mapping[str, Any]] = collections.OrderedDict()
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigurationError("TestIdentityProvider: port must be an int from 0 to 65535")
        self._port = port
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[_SigningKey] = [_new_signing_key()]  # the signing key is the last
        self._clients: dict[str, _Client] = {}
        self._faults: dict[Endpoint, collections.deque[Fault]] = {
            e: collections.deque() for e in Endpoint
        }
        self._requests: collections.deque[RecordedRequest] = collections.deque(
            maxlen=MAX_LOGGED_REQUESTS
        )
        self._used_jtis: dict[tuple[str, str], float] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._issuer: str | None = None

    def __repr__(self) -> str:
        state = "not started" if self._issuer is None else self._issuer
        return f"TestIdentityProvider({state}, clients={sorted(self._clients)!r})"

    # -- lifecycle --

    def start(self) -> Self:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            raise IdentityProviderStateError("TestIdentityProvider.start() was already called")
        server = _Server((self._host, self._port), _Handler)
        server.idp = self
        server.ssl_context = self._ssl_context
        self._server = server
        scheme = "http" if self._ssl_context is None else "https"
        self._issuer = f"{scheme}://{self._host}:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oauthbearer-test-idp-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and the listening socket, and
        join every thread. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None or self._stopping.is_set():
            return
        self._stopping.set()  # wakes Slow faults
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        thread.join()

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses --

    @property
    def issuer(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with an ``ssl_context``): the
        ``iss`` of every token and the metadata's ``issuer``."""
        if self._issuer is None:
            raise IdentityProviderStateError("TestIdentityProvider is not started")
        return self._issuer

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

    @property
    def jwks_uri(self) -> str:
        return self.issuer + JWKS_PATH

    @property
    def introspection_endpoint(self) -> str:
        """The RFC 7662 introspection endpoint."""
        return self.issuer + INTROSPECTION_PATH

    @property
    def discovery_url(self) -> str:
        """The OpenID Connect discovery URL (the RFC 8414 one serves the same document)."""
        return self.issuer + OPENID_CONFIGURATION_PATH

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document (RFC 8414 section 2)."""
        with self._lock:
            scopes = sorted({scope for c in self._clients.values() for scope in c.scopes})
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "introspection_endpoint": self.introspection_endpoint,
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "grant_types_supported": [_GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(_ASSERTION_ALGORITHMS),
            "scopes_supported": scopes,
            "claims_supported": sorted(RESERVED_CLAIMS),
        }

    # -- keys --

    @property
    def signing_kid(self) -> str:
        """The ``kid`` of the key that signs new tokens."""
        with self._lock:
            return self._keys[-1].kid

    @property
    def jwks(self) -> dict[str, Any]:
        """The published JWKS document: the signing key first, then older ones."""
        with self._lock:
            return {"keys": [dict(key.jwk) for key in reversed(self._keys)]}

    def key_set(self) -> JsonWebKeySet:
        """The published keys, loaded: for a :class:`~oauthbearer.validation.jwt.JwtValidator`
        in a test that needs no HTTP."""
        return JsonWebKeySet.from_dict(self.jwks)

    def rotate_keys(self) -> str:
        """Add a new key and sign with it from now on; the old keys stay
        published until :meth:`retire_old_keys`. Returns the new ``kid``."""
        key = _new_signing_key()
        with self._lock:
            self._keys.append(key)
        return key.kid

    def retire_old_keys(self) -> tuple[str, ...]:
        """Stop publishing every key but the signing key; returns the retired keys' ``kid``."""
        with self._lock:
            retired = tuple(key.kid for key in self._keys[:-1])
            del self._keys[:-1]
        return retired

    # -- clients --

    def add_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        public_key_pem: str | bytes | None = None,
        scopes: str | Iterable[str] = (),
        audience: str | Iterable[str] | None = None,
        lifetime_s: int = DEFAULT_LIFETIME_S,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> None:
        """Register a client (replacing any with the same ``client_id``).

        ``secret`` enables ``client_secret_basic`` and ``client_secret_post``;
        ``public_key_pem`` (RSA of at least 2048 bits, EC P-256/384/521,
        Ed25519/Ed448) enables ``private_key_jwt`` and the jwt-bearer grant
        with assertions the client signs. ``scopes`` are those it may be
        granted (all of them when a request names none); ``audience`` the
        tokens' ``aud`` (left out when ``None``); ``lifetime_s`` their
        lifetime; ``extra_claims`` added to each token.
        """
        name = f"add_client({client_id!r})"
        if not isinstance(client_id, str) or not client_id or ":" in client_id:
            raise ConfigurationError(
                "add_client: client_id must be a non-empty string without ':' (RFC 7617)"
            )
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigurationError(f"{name}: secret must be a non-empty string")
        if secret is None and public_key_pem is None:
            raise ConfigurationError(f"{name}: give a secret, a public_key_pem, or both")
        client = _Client(
            client_id=client_id,
            secret=None if secret is None else secret.encode("utf-8"),
            keys=None if public_key_pem is None else _client_key_set(public_key_pem, client_id),
            scopes=_check_scopes(scopes, name),
            audience=_check_audience(audience, name),
            lifetime_s=_check_lifetime(lifetime_s, name),
            extra_claims=_check_extra_claims(extra_claims, name),
        )
        self._check_scope_extras(client.extra_claims, f"{name}: extra_claims")
        with self._lock:
            self._clients[client_id] = client

    # -- tokens --

    def mint_token(
        self,
        sub: str,
        *,
        scope: str | Iterable[str] = (),
        audience: str | Iterable[str] | None = None,
        lifetime_s: int = DEFAULT_LIFETIME_S,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        client_id: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """Sign an access token directly, as the token endpoint would (no HTTP).

        The provider must have been started, since its address is the
        issuer. ``now`` defaults to the provider's clock; ``client_id``, when
        given, becomes the ``client_id`` claim. ``issuer`` replaces the ``iss``
        (default :attr:`issuer`): one provider, one key set, several issuers,
        as Entra ID's tenants (``{base}/{tid}/v2.0``) share its common keys.
        """
        return self._mint(
            "mint_token",
            sub,
            scope=scope,
            audience=audience,
            lifetime_s=lifetime_s,
            now=now,
            extra_claims=extra_claims,
            client_id=client_id,
            opaque=False,
            issuer=issuer,
        )

    def _sign(
        self,
        *,
        sub: str,
        scopes: frozenset[str],
        audience: str | tuple[str, ...] | None,
        lifetime_s: int,
        extra_claims: Mapping[str, Any],
        client_id: str | None,
        now: float,
        opaque: bool = False,
        issuer: str | None = None,
    ) -> str:
        self._check_scope_extras(extra_claims, "extra_claims")
        issued = math.floor(now)  # whole seconds, as providers write NumericDates
        claims, typ = self._profile_claims(sub, client_id)
        claims.update(extra_claims)
        claims.update(iss=issuer or self.issuer, sub=claims.pop("sub", sub))
        if audience is not None:
            claims["aud"] = audience if isinstance(audience, str) else list(audience)
        if scopes and self.scope_claim is not None:
            ordered = sorted(scopes)
            claims[self.scope_claim] = ordered if self._scope_as_list else " ".join(ordered)
        claims.update(iat=issued, exp=issued + lifetime_s)
        if self.profile in (Profile.GENERIC, Profile.ENTRA):
            claims["nbf"] = issued
        prefix = "AT." if self.profile is Profile.OKTA else ""
        claims["jti"] = prefix + secrets.token_urlsafe(16)
        if client_id is not None and self.profile in (Profile.GENERIC, Profile.KEYCLOAK):
            claims["client_id"] = client_id
        if opaque or self.opaque:
            return self._remember_opaque(claims)
        with self._lock:
            key = self._keys[-1]
        # pyjwt writes typ "JWT" unless told None (which leaves it out).
        headers: dict[str, Any] = {"kid": key.kid, "typ": typ}
        return pyjwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)

    def mint_opaque_token(
        self,
        sub: str,
        *,
        scope: str | Iterable[str] = (),
        audience: str | Iterable[str] | None = None,
        lifetime_s: int = DEFAULT_LIFETIME_S,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        client_id: str | None = None,
    ) -> str:
        """An opaque access token (random, meaningless to anyone but this
        provider) standing for the claims :meth:`mint_token` would sign, in the
        provider's profile; only the introspection endpoint can tell what it
        stands for (whether or not the provider was made with ``opaque``)."""
        return self._mint(
            "mint_opaque_token",
            sub,
            scope=scope,
            audience=audience,
            lifetime_s=lifetime_s,
            now=now,
            extra_claims=extra_claims,
            client_id=client_id,
            opaque=True,
        )

    def _mint(
        self,
        name: str,
        sub: str,
        *,
        scope: str | Iterable[str],
        audience: str | Iterable[str] | None,
        lifetime_s: int,
        now: float | None,
        extra_claims: Mapping[str, Any] | None,
        client_id: str | None,
        opaque: bool,
        issuer: str | None = None,
    ) -> str:
        if not isinstance(sub, str) or not sub or sub.strip() != sub:
            raise ConfigurationError(f"{name}: sub must be a non-blank string")
        if issuer is not None and (not isinstance(issuer, str) or not issuer):
            raise ConfigurationError(f"{name}: issuer must be a non-empty string")
        issued = self._clock() if now is None else _check_number(now, f"{name}: now")
        return self._sign(
            sub=sub,
            scopes=_check_scopes(scope, name),
            audience=_check_audience(audience, name),
            lifetime_s=_check_lifetime(lifetime_s, name),
            extra_claims=_check_extra_claims(extra_claims, name),
            client_id=client_id,
            now=issued,
            opaque=opaque,
            issuer=issuer,
        )

    def revoke(self, token: str) -> bool:
        """Forget an opaque token: introspection calls it inactive from now on.
        Returns whether it was known."""
        with self._lock:
            return self._opaque.pop(token, None) is not None

    def _profile_claims(self, sub: str, client_id: str | None) -> tuple[dict[str, Any], str | None]:
        """The profile's own claims (``extra_claims`` may replace them) and ``typ`` header."""
        actor = sub if client_id is None else client_id
        # Keycloak and Entra ID name a service principal by a GUID, not by its client id.
        guid = str(uuid.uuid5(_UUID_NAMESPACE, f"{self.profile.value}:{sub}"))
        if self.profile is Profile.OKTA:
            return {"ver": 1, "cid": actor}, None
        if self.profile is Profile.KEYCLOAK:
            return {
                "sub": guid,
                "typ": "Bearer",
                "azp": actor,
                "realm_access": {"roles": ["default-roles", "offline_access"]},
                "preferred_username": f"service-account-{actor}",
            }, "JWT"
        if self.profile is Profile.ENTRA:
            return {
                "sub": guid,
                "oid": guid,
                "tid": ENTRA_TENANT_ID,
                "ver": "2.0",
                "azp": actor,
                "azpacr": "1",
                "uti": secrets.token_urlsafe(16),
            }, "JWT"
        # RFC 9068 section 2.1: typ "at+jwt" marks a JWT access token.
        return {}, "at+jwt"

    def _check_scope_extras(self, extra_claims: Mapping[str, Any], name: str) -> None:
        """Refuse an extra scope claim beside the provider's own: two scope claims
        would let a validator that reads the wrong one pass (issue 16)."""
        if self.scope_claim is None:
            return
        doubled = sorted(SCOPE_CLAIMS.union((self.scope_claim,)).intersection(extra_claims))
        if doubled:
            raise ConfigurationError(
                f"{name} cannot set {', '.join(doubled)}: the provider writes the scope in "
                f"{self.scope_claim!r}; choose the claim with scope_claim= (or a profile), "
                "or pass scope_claim=None to write only your own"
            )

    def _remember_opaque(self, claims: Mapping[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._opaque[token] = types.MappingProxyType(dict(claims))
            while len(self._opaque) > MAX_OPAQUE_TOKENS:
                self._opaque.popitem(last=False)
        return token

    def opaque_claims(self, token: str) -> Mapping[str, Any] | None:
        """The claims an opaque token issued here stands for (expired or not:
        the caller judges ``exp``), or ``None`` for a token this provider never
        issued or has forgotten (:data:`MAX_OPAQUE_TOKENS`). This is what an
        RFC 7662 introspection endpoint reads."""
        with self._lock:
            return self._opaque.get(token)

    def sign_raw(self, header: bytes, payload: bytes, *, algorithm: str = "RS256") -> str:
        """Sign any header and payload bytes with the current signing key, as given.

        For tests of odd shapes (a payload that is not JSON, duplicate members,
        a ``crit`` header): nothing is checked or added, so the header should
        name ``algorithm`` and, usually, :attr:`signing_kid`. ``algorithm`` is
        ``RS256``, ``RS384``, ``RS512``, ``PS256``, ``PS384`` or ``PS512``.
        """
        if not isinstance(header, bytes) or not isinstance(payload, bytes):
            raise ArgumentTypeError("sign_raw: header and payload must be bytes")
        if algorithm not in _RAW_ALGORITHMS:
            raise ConfigurationError(f"sign_raw: algorithm must be one of {_RAW_ALGORITHMS}")
        with self._lock:
            key = self._keys[-1]
        signing_input = f"{_b64url(header)}.{_b64url(payload)}"
        signature = pyjwt.get_algorithm_by_name(algorithm).sign(
            signing_input.encode("ascii"), key.private_key
        )
        return f"{signing_input}.{_b64url(signature)}"

    # -- faults and the log --

    def inject(self, endpoint: Endpoint | str, fault: Fault, *, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``endpoint`` (``"token"``,
        ``"jwks"``, ``"discovery"`` or ``"introspect"``) with ``fault``, after any faults already
        queued there; then behave normally again."""
        try:
            where = Endpoint(endpoint)
        except ValueError:
            raise ConfigurationError(
                f"inject: endpoint must be one of {', '.join(e.value for e in Endpoint)}"
            ) from None
        if not isinstance(fault, _FAULT_TYPES):
            raise ArgumentTypeError(
                "inject: fault must be Slow, HttpStatus, MalformedJson, EmptyBody, "
                "OversizedBody or DropConnection"
            )
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ConfigurationError("inject: times must be an int >= 1")
        with self._lock:
            self._faults[where].extend([fault] * times)

    def clear_faults(self) -> None:
        """Forget every fault not yet consumed."""
        with self._lock:
            for queue in self._faults.values():
                queue.clear()

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request so far (the last :data:`MAX_LOGGED_REQUESTS`), oldest first."""
        with self._lock:
            return tuple(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving (called in handler threads) --

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _handle(self, handler: _Handler) -> None:
        received = self._clock()
        method = handler.command
        path = urllib.parse.urlsplit(handler.path).path
        endpoint = {
            TOKEN_PATH: Endpoint.TOKEN,
            INTROSPECTION_PATH: Endpoint.INTROSPECT,
            JWKS_PATH: Endpoint.JWKS,
            OPENID_CONFIGURATION_PATH: Endpoint.DISCOVERY,
            OAUTH_METADATA_PATH: Endpoint.DISCOVERY,
        }.get(path)
        pairs: list[tuple[str, str]] = []
        form_error: _TokenError | None = None
        response: _Response | None
        fault: Fault | None = None
        try:
            body = self._read_body(handler)
        except _TokenError as error:
            response = _error_response(error)
            handler.close_connection = True
        else:
            if endpoint in (Endpoint.TOKEN, Endpoint.INTROSPECT) and method == "POST":
                try:
                    pairs = self._parse_form(handler, body)
                except _TokenError as error:
                    form_error = error
            if endpoint is not None:
                with self._lock:
                    queue = self._faults[endpoint]
                    fault = queue.popleft() if queue else None
            if isinstance(fault, DropConnection) or (
                isinstance(fault, Slow) and self._stopping.wait(fault.delay_s)
            ):
                response = None  # no answer (or stopping: drop the connection at once)
            else:
                response = self._faulted(fault) or self._route(
                    method, endpoint, handler, pairs=pairs, form_error=form_error, now=received
                )
        form: dict[str, str] = {}
        for name, value in pairs:  # the first value of each name, for the log
            form.setdefault(name, value)
        record = RecordedRequest(
            method=method,
            path=_redact_path(handler.path),
            endpoint=endpoint,
            headers=tuple((k, _redact_header(k, v)) for k, v in handler.headers.items()),
            form=types.MappingProxyType(
                {k: REDACTED if is_credential_name(k) else v for k, v in form.items()}
            ),
            time=received,
            status=None if response is None else response.status,
            fault=fault,
        )
        with self._lock:
            self._requests.append(record)
        # Recorded before answering: a test that has the answer sees the record.
        if response is None:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            handler.send_response(response.status)
            for name, value in response.headers:
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        length = handler.headers.get("Content-Length")
        if length is None:
            if handler.command == "POST":
                raise _TokenError("invalid_request", "a POST needs a Content-Length", status=411)
            return b""
        if not length.isdigit():
            raise _TokenError("invalid_request", "Content-Length is not a number")
        if int(length) > MAX_REQUEST_BODY:
            raise _TokenError(
                "invalid_request",
                f"the body is larger than MAX_REQUEST_BODY ({MAX_REQUEST_BODY} bytes)",
                status=413,
            )
        return handler.rfile.read(int(length))

    @staticmethod
    def _parse_form(handler: _Handler, body: bytes) -> list[tuple[str, str]]:
        content_type = handler.headers.get("Content-Type", "")
        if content_type.partition(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise _TokenError(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded (RFC 6749 section 3.2)",
            )
        try:
            return urllib.parse.parse_qsl(
                body.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict"
            )
        except ValueError:  # UnicodeDecodeError included
            raise _TokenError("invalid_request", "the body is not a valid form") from None

    def _faulted(self, fault: Fault | None) -> _Response | None:
        """The response a fault makes, or ``None`` to answer normally."""
        if fault is None or isinstance(fault, Slow):
            return None
        if isinstance(fault, HttpStatus):
            error = fault.error or {
                400: "invalid_request",
                401: "invalid_client",
                429: "temporarily_unavailable",
                503: "temporarily_unavailable",
            }.get(fault.status, "server_error")
            extra = (
                [] if fault.retry_after_s is None else [("Retry-After", str(fault.retry_after_s))]
            )
            document = {"error": error, "error_description": f"injected fault: HTTP {fault.status}"}
            return _json_response(fault.status, document, *extra)
        if isinstance(fault, MalformedJson):
            return _Response(200, b'{"access_token": "', (("Content-Type", "application/json"),))
        if isinstance(fault, EmptyBody):
            return _Response(200, b"", (("Content-Type", "application/json"),))
        if isinstance(fault, OversizedBody):
            body = b'{"padding":"' + b"x" * (fault.size - 14) + b'"}'
            return _Response(200, body, (("Content-Type", "application/json"),))
        return None  # DropConnection is handled by the caller

    def _route(
        self,
        method: str,
        endpoint: Endpoint | None,
        handler: _Handler,
        *,
        pairs: list[tuple[str, str]],
        form_error: _TokenError | None,
        now: float,
    ) -> _Response:
        if endpoint is None:
            return _json_response(404, {"error": "not_found"})
        allowed = "POST" if endpoint in (Endpoint.TOKEN, Endpoint.INTROSPECT) else "GET"
        if method != allowed:
            document = {"error": "invalid_request", "error_description": f"use {allowed}"}
            return _json_response(405, document, ("Allow", allowed))
        if endpoint is Endpoint.JWKS:
            return _json_response(200, self.jwks)
        if endpoint is Endpoint.DISCOVERY:
            return _json_response(200, self.metadata)
        try:
            if form_error is not None:
                raise form_error
            if endpoint is Endpoint.INTROSPECT:
                document = self._introspect(handler, pairs, now)
            else:
                document = self._token(handler, pairs, now)
        except _TokenError as error:
            return _error_response(error)
        return _json_response(200, document, ("Cache-Control", "no-store"), ("Pragma", "no-cache"))

    # -- the token endpoint (RFC 6749 section 3.2, RFC 7523) --

    @staticmethod
    def _fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise _TokenError(
                    "invalid_request", f"{name!r} appears twice (RFC 6749 section 3.2)"
                )
            if value:  # RFC 6749 section 3.2: a parameter without a value is omitted
                form[name] = value
        return form

    def _client(self, handler: _Handler, form: Mapping[str, str], now: float) -> _Client | None:
        authorization = handler.headers.get_all("Authorization") or []
        if len(authorization) > 1:
            raise _TokenError("invalid_request", "more than one Authorization header")
        return self._authenticate(authorization[0] if authorization else None, form, now)

    def _introspect(
        self, handler: _Handler, pairs: list[tuple[str, str]], now: float
    ) -> dict[str, Any]:
        """RFC 7662 section 2: the caller must authenticate; the answer is the
        token's claims with ``active``, or ``{"active": false}``."""
        form = self._fields(pairs)
        if self._client(handler, form, now) is None:
            raise _invalid_client("client authentication is required for introspection")
        token = form.get("token")
        if token is None:
            raise _TokenError("invalid_request", "token is missing (RFC 7662 section 2.1)")
        with self._lock:
            claims = self._opaque.get(token)
        if claims is None:
            try:
                validator = JwtValidator(
                    self.key_set(),
                    issuer=self.issuer,
                    clock_skew_s=0,
                    reject_unexpected_audience=False,  # any audience: the caller checks its own
                )
                claims = dict(validator.validate(token, now=now).claims)
            except InvalidToken:
                return {"active": False}
        # Only the generic and entra profiles write nbf; the others start at iat.
        elif not claims.get("nbf", claims["iat"]) <= now < claims["exp"]:
            return {"active": False}
        return {"active": True, **claims, "token_type": "Bearer"}

    def _token(self, handler: _Handler, pairs: list[tuple[str, str]], now: float) -> dict[str, Any]:
        form = self._fields(pairs)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise _TokenError("invalid_request", "grant_type is missing")
        if grant_type not in (_GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER):
            raise _TokenError(
                "unsupported_grant_type",
                f"grant_type must be {_GRANT_CLIENT_CREDENTIALS} or {GRANT_JWT_BEARER}",
            )
        client = self._client(handler, form, now)
        if grant_type == _GRANT_CLIENT_CREDENTIALS:
            if client is None:
                # RFC 6749 section 4.4.2: "The client MUST authenticate".
                raise _invalid_client("client authentication is required for client_credentials")
            subject = client.client_id
        else:
            assertion = form.get("assertion")
            if assertion is None:
                raise _TokenError("invalid_request", "assertion is missing (RFC 7523 section 2.1)")
            client, subject = self._grant_assertion(assertion, client, now)
        scopes = self._granted_scopes(client, form.get("scope"))
        access_token = self._sign(
            sub=subject,
            scopes=scopes,
            audience=client.audience,
            lifetime_s=client.lifetime_s,
            extra_claims=client.extra_claims,
            client_id=client.client_id,
            now=now,
        )
        document: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": client.lifetime_s,
        }
        if scopes:
            document["scope"] = " ".join(sorted(scopes))
        return document

    def _authenticate(
        self, authorization: str | None, form: Mapping[str, str], now: float
    ) -> _Client | None:
        """The authenticated client, or ``None`` when the request makes no attempt."""
        methods = [
            method
            for method, used in (
                ("client_secret_basic", authorization is not None),
                ("client_secret_post", "client_secret" in form),
                ("private_key_jwt", "client_assertion" in form or "client_assertion_type" in form),
            )
            if used
        ]
        if len(methods) > 1:
            raise _TokenError(
                "invalid_request",
                f"more than one client authentication method ({', '.join(methods)}; "
                "RFC 6749 section 2.3)",
            )
        if not methods:
            return None
        if methods[0] == "client_secret_basic":
            assert authorization is not None
            client = self._basic(authorization)
        elif methods[0] == "client_secret_post":
            client_id = form.get("client_id")
            if client_id is None:
                raise _TokenError("invalid_request", "client_secret without client_id")
            client = self._check_secret([(client_id, form["client_secret"])])
        else:
            client = self._client_assertion(form, now)
        if form.get("client_id", client.client_id) != client.client_id:
            raise _TokenError(
                "invalid_request", "client_id does not match the authenticated client"
            )
        return client

    def _basic(self, authorization: str) -> _Client:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise _invalid_client("the Authorization scheme must be Basic")
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _TokenError("invalid_request", "the Basic credentials are not base64") from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise _TokenError("invalid_request", "the Basic credentials have no ':'")
        candidates = [(raw_id, raw_secret)]
        # RFC 6749 section 2.3.1: id and secret are form-urlencoded first. Most
        # clients skip that step; Kafka takes it with header.urlencode=true.
        with contextlib.suppress(UnicodeDecodeError):
            unquoted = (
                urllib.parse.unquote_plus(raw_id, errors="strict"),
                urllib.parse.unquote_plus(raw_secret, errors="strict"),
            )
            if unquoted != (raw_id, raw_secret):
                candidates.append(unquoted)
        return self._check_secret(candidates)

    def _check_secret(self, candidates: list[tuple[str, str]]) -> _Client:
        with self._lock:
            clients = dict(self._clients)
        for client_id, secret in candidates:
            client = clients.get(client_id)
            if (
                client is not None
                and client.secret is not None
                and hmac.compare_digest(client.secret, secret.encode("utf-8"))
            ):
                return client
        # The same words whether the client is unknown or the secret wrong.
        raise _invalid_client("client authentication failed")

    def _client_assertion(self, form: Mapping[str, str], now: float) -> _Client:
        """private_key_jwt: RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE_JWT:
            raise _TokenError(
                "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT}"
            )
        assertion = form.get("client_assertion")
        if assertion is None:
            raise _TokenError("invalid_request", "client_assertion is missing")
        client_id = form.get("client_id") or _unverified_claim(assertion, "iss")
        with self._lock:
            client = self._clients.get(client_id or "")
        if client is None or client.keys is None:
            raise _invalid_client("client authentication failed")
        try:
            claims = self._check_assertion(client, assertion, now, jti_required=True)
        except InvalidToken as refused:
            raise _invalid_client(f"client_assertion refused: {refused.detail}") from None
        if claims["sub"] != client.client_id:
            raise _invalid_client("client_assertion refused: 'sub' must be the client_id")
        return client

    def _grant_assertion(
        self, assertion: str, authenticated: _Client | None, now: float
    ) -> tuple[_Client, str]:
        """The jwt-bearer grant (RFC 7523 section 2.1): the client whose key
        signed the assertion, and the subject it asserts."""
        issuer = _unverified_claim(assertion, "iss")
        if issuer is None:
            raise _TokenError("invalid_grant", "the assertion is not a JWT with an 'iss' claim")
        if authenticated is not None and issuer != authenticated.client_id:
            raise _TokenError("invalid_grant", "the assertion's 'iss' is not the client")
        with self._lock:
            client = self._clients.get(issuer)
        if client is None or client.keys is None:
            raise _TokenError("invalid_grant", "no registered key for the assertion's 'iss'")
        try:
            claims = self._check_assertion(client, assertion, now, jti_required=False)
        except InvalidToken as refused:
            raise _TokenError("invalid_grant", f"assertion refused: {refused.detail}") from None
        subject: str = claims["sub"]
        return client, subject

    def _check_assertion(
        self, client: _Client, assertion: str, now: float, *, jti_required: bool
    ) -> Mapping[str, Any]:
        validator = JwtValidator(
            client.keys,
            algorithms=_ASSERTION_ALGORITHMS,
            audience=(self.token_endpoint, self.introspection_endpoint, self.issuer),
            issuer=client.client_id,
            require_iat=False,  # RFC 7523 section 3 item 6: iat is optional
            clock_skew_s=ASSERTION_CLOCK_SKEW_S,
        )
        claims = validator.validate(assertion, now=now).claims
        expires = claims["exp"]
        if expires - now > MAX_ASSERTION_LIFETIME_S:
            raise InvalidToken(
                "invalid_token",
                reason=TokenReason.INVALID_CLAIM,
                detail=f"'exp' is more than MAX_ASSERTION_LIFETIME_S "
                f"({MAX_ASSERTION_LIFETIME_S} s) ahead",
            )
        jti = claims.get("jti")
        if jti is None and not jti_required:
            return claims
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidToken(
                "invalid_token",
                reason=TokenReason.INVALID_CLAIM,
                detail=f"'jti' must be a string of 1 to {MAX_JTI_LENGTH} characters",
            )
        with self._lock:
            # Forget the jtis of expired assertions: those can no longer be replayed.
            for key, until in list(self._used_jtis.items()):
                if until < now:
                    del self._used_jtis[key]
            if (client.client_id, jti) in self._used_jtis:
                raise InvalidToken(
                    "invalid_token",
                    reason=TokenReason.REPLAYED,
                    detail="'jti' was already used (a replay)",
                )
            self._used_jtis[(client.client_id, jti)] = expires + ASSERTION_CLOCK_SKEW_S
        return claims

    @staticmethod
    def _granted_scopes(client: _Client, requested: str | None) -> frozenset[str]:
        if requested is None:
            return client.scopes  # RFC 6749 section 3.3: the pre-defined default
        items = requested.split(" ")
        if not all(_SCOPE_TOKEN.fullmatch(item) for item in items):
            raise _TokenError("invalid_scope", "scope is not space-delimited scope tokens")
        refused = sorted(set(items) - client.scopes)
        if refused:
            raise _TokenError(
                "invalid_scope", f"scope not allowed for this client: {' '.join(refused)}"
            )
        return frozenset(items)


# --- serve: the CLI's blocking entry point ----------------------------------------------------


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = "demo-client",
    client_secret: str | None = None,
    scopes: str | Iterable[str] = ("demo",),
    audience: str | Iterable[str] | None = None,
    lifetime_s: int = DEFAULT_LIFETIME_S,
    profile: Profile | str = Profile.GENERIC,
    scope_claim: str | _Default | None = _DEFAULT,
    claims: Mapping[str, Any] | None = None,
    opaque: bool = False,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run a :class:`TestIdentityProvider` until interrupted (Ctrl-C) or until
    ``stop`` is set, after printing its endpoints and one client's credentials
    (the secret is random unless given) to ``out`` (standard output).
    ``profile``, ``scope_claim`` and ``opaque`` are :class:`TestIdentityProvider`'s;
    ``claims`` are added to every token (the client's ``extra_claims``).

    ``host`` must be an IPv4 loopback address: this server is for tests and
    demos, and must never be reachable from another machine.
    """
    _check_loopback(host)
    secret = secrets.token_urlsafe(24) if client_secret is None else client_secret
    stream = sys.stdout if out is None else out
    provider = TestIdentityProvider(
        host=host, port=port, profile=profile, scope_claim=scope_claim, opaque=opaque
    )
    with provider as idp:
        idp.add_client(
            client_id,
            secret,
            scopes=scopes,
            audience=audience,
            lifetime_s=lifetime_s,
            extra_claims=claims,
        )
        granted = " ".join(sorted(_check_scopes(scopes, "serve")))
        lines = [
            "oauthbearer test identity provider (loopback only; for tests and demos)",
            f"issuer:          {idp.issuer}",
            f"token_endpoint:  {idp.token_endpoint}",
            f"jwks_uri:        {idp.jwks_uri}",
            f"discovery:       {idp.discovery_url}",
            f"client_id:       {client_id}",
            f"client_secret:   {secret}",
            f"scope:           {granted}",
            f"profile:         {idp.profile.value} (scope claim: {idp.scope_claim or 'none'}"
            + (", opaque tokens)" if idp.opaque else ")"),
            "Press Ctrl-C to stop.",
        ]
        stream.write("\n".join(lines) + "\n")
        stream.flush()
        waiter = threading.Event() if stop is None else stop
        with contextlib.suppress(KeyboardInterrupt):
            while not waiter.wait(0.5):
                pass
