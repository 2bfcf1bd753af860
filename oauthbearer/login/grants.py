"""Token requests and responses for an OAuth 2.0 token endpoint, as Kafka's client sends them.

Theory of operation
-------------------
A Kafka client logs in by POSTing a form to its identity provider's token
endpoint (``sasl.oauthbearer.token.endpoint.url``) and reading a JSON answer.
This module builds the request and reads the answer; it does no I/O
(:mod:`oauthbearer.login.http` is the shell that sends it).

Requests (:class:`TokenRequest`), one builder per grant:

* :func:`client_credentials_request`: RFC 6749 section 4.4. The client
  authenticates with ``client_secret_basic`` (RFC 6749 section 2.3.1, RFC
  7617) exactly as Kafka does: ``Basic`` and the *standard* base64 of
  ``id:secret`` (KAFKA-14496), the id and secret first form-urlencoded when
  ``urlencode_credentials`` is set (Kafka's
  ``sasl.oauthbearer.header.urlencode``, KIP-1025; off by default there too);
  or with ``client_secret_post``, both in the body. Like Kafka, surrounding
  whitespace (Java's ``trim``) is removed from the id, secret and scope.
* :func:`private_key_jwt_request`: RFC 7523 section 2.2, a signed assertion
  authenticates the client (``client_assertion_type`` / ``client_assertion``).
* :func:`jwt_bearer_request`: RFC 7523 section 2.1, the assertion *is* the
  grant (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``), as
  Kafka's ``JwtBearerJwtRetriever`` (KIP-1139) sends it.

Every body is ``application/x-www-form-urlencoded`` with every value encoded
(the WHATWG serializer, which is what Java's ``URLEncoder`` produces).

:func:`make_assertion` signs an assertion locally, as Kafka's KIP-1139
default assertion creator does: header ``alg``/``typ`` (and ``kid``), claims
``iss``/``sub``/``aud``, ``iat`` = now, ``exp`` = now + ``lifetime_s``, ``nbf`` =
now - ``not_before_s``, and ``jti`` on request. Layers merge as in Kafka's
``LayeredAssertionJwtTemplate`` (later wins): the ``iss``/``sub``/``aud``
arguments, then the ``template``, then the time claims and ``alg``/``typ``,
which nothing overrides.

Responses: :func:`parse_token_response` turns a status and body into a
:class:`TokenResponse` or raises :class:`TokenEndpointError`, whose
``retryable`` follows Kafka's rule (:func:`oauthbearer.http.retry.is_retryable_status`).

Discovery: :func:`discovery_urls` and :func:`parse_discovery` (OpenID Connect
Discovery 1.0 section 4, RFC 8414 section 3).

No message, repr or error built here contains a client secret, an assertion, a
token or a private key.

This module is pure: it builds requests and reads responses; the shells send
them, and the clock and randomness arrive as parameters.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import urllib.parse
import uuid
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from oauthbearer._json import loads_strict
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, OAuthBearerError
from oauthbearer.gs2 import is_b64token
from oauthbearer.http.retry import is_retryable_status
from oauthbearer.http.urls import check_url, redact_url, split_url
from oauthbearer.kafka_claims import java_trim

if TYPE_CHECKING:
    import random as _random
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "MAX_DISCOVERY_SIZE",
    "MAX_SHOWN_ERROR_TEXT",
    "MAX_TOKEN_RESPONSE_SIZE",
    "Discovery",
    "DiscoveryError",
    "TokenEndpointError",
    "TokenRequest",
    "TokenResponse",
    "client_credentials_request",
    "discovery_urls",
    "is_credential_name",
    "jwt_bearer_request",
    "make_assertion",
    "parse_discovery",
    "parse_token_response",
    "private_key_jwt_request",
]

_GRANT_TYPE_CLIENT_CREDENTIALS: Final = "client_credentials"
#: RFC 7523 section 2.1.
_GRANT_TYPE_JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: RFC 7523 section 2.2.
CLIENT_ASSERTION_TYPE_JWT_BEARER: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Largest token endpoint answer read, in bytes: room for an access, ID and
#: refresh token of tens of KB each (Entra ID tokens with group claims are
#: large), far from anything that strains memory.
MAX_TOKEN_RESPONSE_SIZE: Final = 256 * 1024
#: Largest discovery document read, in bytes: real ones are a few KB.
MAX_DISCOVERY_SIZE: Final = 128 * 1024
#: At most this many characters of an identity provider's ``error`` or
#: ``error_description`` appear in a message, so that a hostile answer cannot
#: flood a log.
MAX_SHOWN_ERROR_TEXT: Final = 300

#: Kafka reads a token from a 200 or a 201 answer.
_SUCCESS: Final = frozenset({200, 201})

_FORM_SAFE: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._")
#: RFC 6749 section 3.3: ``scope-token 1*( SP scope-token )``.
_SCOPE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
#: RFC 7515 section 7.1: three base64url parts; the signature may be empty only
#: for alg "none", which no assertion uses.
_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: RFC 6749 section 5.2: the characters allowed in ``error`` and ``error_description``.
_ERROR_TEXT_BAD: Final = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_ALGORITHMS: Final = ("RS256", "ES256")
#: RFC 7518 section 3.3: RSA keys of 2048 bits or more.
_MIN_RSA_BITS: Final = 2048


# --- errors ---------------------------------------------------------------------------------


class TokenEndpointError(OAuthBearerError):
    """The token endpoint refused, failed or answered something unusable.

    ``status`` is the HTTP status (``None`` when none arrived: a network
    failure). ``error`` and ``error_description`` are the RFC 6749 section 5.2
    fields of an error answer, as received. ``retryable`` says whether asking
    again may help, by Kafka's rule (network trouble, 408, 429, 5xx but 501 and
    505, an empty success).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        retryable: bool,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.error_description = error_description
        self.retryable = retryable


class DiscoveryError(OAuthBearerError):
    """A discovery document could not be fetched or is unusable; ``status`` is
    the HTTP status, if one arrived, and ``retryable`` as for
    :class:`TokenEndpointError`."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


# --- small pure helpers -------------------------------------------------------------------


def form_urlencode(value: str) -> str:
    """``value`` as ``application/x-www-form-urlencoded`` writes it (WHATWG URL,
    section 5.2), byte for byte what Java's ``URLEncoder`` gives: UTF-8, letters,
    digits and ``*-._`` kept, space as ``+``, everything else ``%XX``."""
    out = []
    for byte in value.encode("utf-8"):
        if byte in _FORM_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body of ``pairs``, in order,
    every name and value encoded by :func:`form_urlencode`."""
    return "&".join(f"{form_urlencode(k)}={form_urlencode(v)}" for k, v in pairs).encode("ascii")


def _text(value: object, option: str, *, secret: bool = False) -> str:
    """A non-blank, trimmed string for ``option``; never quotes a secret."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{option} must be a str, not {type(value).__name__}")
    trimmed = java_trim(value)
    if not trimmed:
        raise ConfigurationError(f"{option} must not be empty or blank")
    try:
        trimmed.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"{option} is not valid Unicode (a lone surrogate)") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in trimmed):
        what = "" if secret else f": {trimmed!r}"
        raise ConfigurationError(f"{option} holds a control character{what}")
    return trimmed


def _scope(scope: object) -> str | None:
    if scope is None:
        return None
    if not isinstance(scope, str):
        raise ArgumentTypeError(f"scope must be a str or None, not {type(scope).__name__}")
    trimmed = java_trim(scope)
    if not trimmed:
        return None  # as Kafka: a blank scope is no scope
    if _SCOPE.fullmatch(trimmed) is None:
        raise ConfigurationError(
            "scope must be scope-tokens of printable ASCII other than '\"' and '\\', "
            "separated by single spaces (RFC 6749 section 3.3)"
        )
    return trimmed


#: Words that mark a form field, query parameter or header as carrying a
#: credential, matched anywhere in the name, in any case: ``client_secret``,
#: ``client_assertion`` and ``assertion`` (RFC 6749, RFC 7523), ``password``,
#: ``refresh_token``, ``access_token`` (RFC 6750 section 2.3),
#: ``subject_token``/``actor_token`` (RFC 8693), ``code``/``code_verifier``,
#: ``Authorization``, ``Cookie``, ``X-API-Key`` and their like.
_CREDENTIAL_NAME: Final = re.compile(
    r"secret|passw|passphrase|token|assertion|api[-_]?key|auth|cookie|session|signature|"
    r"credential|code|^sig$|^key$",
    re.IGNORECASE,
)
#: What stands for a secret in a message or a log.
REDACTED: Final = "[redacted]"


def is_credential_name(name: str) -> bool:
    """Whether a form field, query parameter or header called ``name`` may carry
    a credential (see the list above); case-insensitive, and generous: a log
    that hides a harmless field loses little."""
    return _CREDENTIAL_NAME.search(name) is not None


def scrub_secrets(text: str, secrets: Collection[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` replaced by
    :data:`REDACTED` (the longest first, so that no part of one survives)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def shown_text(value: str) -> str:
    """Identity provider text, safe for a log line: RFC 6749 characters only
    (others become ``?``), at most :data:`MAX_SHOWN_ERROR_TEXT` characters."""
    cleaned = _ERROR_TEXT_BAD.sub("?", value)
    if len(cleaned) > MAX_SHOWN_ERROR_TEXT:
        cleaned = cleaned[:MAX_SHOWN_ERROR_TEXT] + "..."
    return cleaned


def _json_object(body: bytes) -> dict[str, Any]:
    """Strict JSON (:func:`~oauthbearer._json.loads_strict`: UTF-8, no byte order
    mark, no duplicate member, no NaN) holding an object; ``ValueError`` says
    what is wrong."""
    try:
        value = loads_strict(body)
    except ValueError as error:
        raise ValueError(f"not strict JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"JSON {type(value).__name__}, not an object")  # noqa: TRY004 - one signal
    return value


# --- requests -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TokenRequest:
    """One POST to a token endpoint: ``url``, the form ``body`` and the ``headers``.

    The repr shows the URL (without user info or query) and the grant type,
    never the body or the headers, which hold the credentials.
    """

    url: str
    grant_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        check_url(self.url, option="TokenRequest.url", allow_insecure_loopback=True)
        if not isinstance(self.grant_type, str) or not self.grant_type:
            raise ConfigurationError("TokenRequest.grant_type must be a non-empty str")
        if not isinstance(self.body, bytes):
            raise ArgumentTypeError("TokenRequest.body must be bytes")
        if not isinstance(self.headers, tuple) or not all(
            isinstance(pair, tuple)
            and len(pair) == 2
            and all(isinstance(part, str) and not set(part) & {"\r", "\n", "\0"} for part in pair)
            for pair in self.headers
        ):
            raise ConfigurationError(
                "TokenRequest.headers must be a tuple of (name, value) str pairs "
                "without CR, LF or NUL"
            )

    def __repr__(self) -> str:
        return f"TokenRequest(url={redact_url(self.url)!r}, grant_type={self.grant_type!r})"

    def secrets(self) -> frozenset[str]:
        """Every credential this request carries, in the forms an identity
        provider might echo: the values of credential-named form fields
        (decoded and as sent), the values of credential-bearing headers, and
        the secret inside a ``Basic`` header (decoded, and form-decoded)."""
        found: set[str] = set()
        for pair in self.body.decode("ascii", "replace").split("&"):
            field, _, sent = pair.partition("=")
            if is_credential_name(urllib.parse.unquote_plus(field)):
                found.update((sent, urllib.parse.unquote_plus(sent)))
        for name, value in self.headers:
            if not is_credential_name(name):
                continue
            found.add(value)
            scheme, _, credentials = value.partition(" ")
            found.add(credentials.strip())
            if scheme.lower() == "basic":
                found.update(_basic_secrets(credentials.strip()))
        return frozenset(secret for secret in found if secret)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (compared case-insensitively), or ``None``."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def _basic_secrets(credentials: str) -> set[str]:
    """The secret of ``Basic base64(id:secret)``, decoded and form-decoded."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return set()
    secret = decoded.partition(":")[2]
    return {decoded, secret, urllib.parse.unquote_plus(secret)}


_FORM_HEADERS: Final = (
    ("Accept", "application/json"),
    # Kafka sends it; token answers must not be cached anyway (RFC 6749 section 5.1).
    ("Cache-Control", "no-cache"),
    ("Content-Type", "application/x-www-form-urlencoded"),
)

AuthMethod = Literal["client_secret_basic", "client_secret_post"]


def _basic(client_id: str, client_secret: str, *, urlencode: bool) -> str:
    if urlencode:
        client_id, client_secret = form_urlencode(client_id), form_urlencode(client_secret)
    elif ":" in client_id:
        # RFC 7617 section 2: the user-id cannot hold ':' (the server splits at the
        # first one). Kafka would send it anyway; we refuse the ambiguity.
        raise ConfigurationError(
            "client_id holds ':', which client_secret_basic cannot carry unencoded; "
            "set urlencode_credentials=True (Kafka's sasl.oauthbearer.header.urlencode)"
        )
    # Standard base64, not the URL-safe one (RFC 7617; KAFKA-14496).
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")


def client_secret_auth(
    client_id: object,
    client_secret: object,
    auth_method: object,
    *,
    urlencode_credentials: object,
) -> tuple[tuple[tuple[str, str], ...], list[tuple[str, str]]]:
    """The extra headers and body pairs that authenticate a client with a
    secret: ``client_secret_basic`` (an ``Authorization`` header, see the
    module documentation) or ``client_secret_post`` (both in the body). The
    token and introspection requests share it."""
    cid = _text(client_id, "client_id")
    secret = _text(client_secret, "client_secret", secret=True)
    if not isinstance(urlencode_credentials, bool):
        raise ArgumentTypeError("urlencode_credentials must be a bool")
    if auth_method == "client_secret_basic":
        header = _basic(cid, secret, urlencode=urlencode_credentials)
        return (("Authorization", header),), []
    if auth_method == "client_secret_post":
        if urlencode_credentials:
            raise ConfigurationError(
                "urlencode_credentials applies to client_secret_basic only "
                "(client_secret_post always form-encodes the body)"
            )
        return (), [("client_id", cid), ("client_secret", secret)]
    raise ConfigurationError(
        f"auth_method must be 'client_secret_basic' or 'client_secret_post', not {auth_method!r}"
    )


def _request(
    url: str, grant_type: str, pairs: list[tuple[str, str]], extra: tuple[tuple[str, str], ...]
) -> TokenRequest:
    accept, cache, content = _FORM_HEADERS
    headers = (accept, *extra, cache, content)
    return TokenRequest(url=url, grant_type=grant_type, body=form_body(pairs), headers=headers)


def client_credentials_request(
    token_endpoint: str,
    client_id: str,
    client_secret: str,
    *,
    scope: str | None = None,
    auth_method: AuthMethod = "client_secret_basic",
    urlencode_credentials: bool = False,
) -> TokenRequest:
    """The RFC 6749 section 4.4 client credentials grant, as Kafka's
    ``ClientCredentialsJwtRetriever`` sends it (see the module documentation)."""
    url = check_url(token_endpoint, option="token_endpoint", allow_insecure_loopback=True)
    extra, auth_pairs = client_secret_auth(
        client_id, client_secret, auth_method, urlencode_credentials=urlencode_credentials
    )
    pairs = [("grant_type", _GRANT_TYPE_CLIENT_CREDENTIALS)]
    if (checked := _scope(scope)) is not None:
        pairs.append(("scope", checked))
    return _request(url, _GRANT_TYPE_CLIENT_CREDENTIALS, pairs + auth_pairs, extra)


def private_key_jwt_auth(client_id: object, assertion: object) -> list[tuple[str, str]]:
    """The body pairs that authenticate a client with a signed assertion
    (``private_key_jwt``, RFC 7523 section 2.2): ``client_id`` (optional, RFC
    7521 section 4.2: ``None`` leaves it out), ``client_assertion_type`` and
    ``client_assertion``."""
    pairs = [] if client_id is None else [("client_id", _text(client_id, "client_id"))]
    return [
        *pairs,
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", _assertion(assertion, "assertion")),
    ]


def _assertion(assertion: object, option: str) -> str:
    if not isinstance(assertion, str):
        raise ArgumentTypeError(f"{option} must be a str, not {type(assertion).__name__}")
    trimmed = java_trim(assertion)
    if _JWS.fullmatch(trimmed) is None:
        raise ConfigurationError(
            f"{option} must be a signed JWT in compact form (three base64url parts)"
        )
    return trimmed


def private_key_jwt_request(
    token_endpoint: str,
    client_id: str | None,
    assertion: str,
    *,
    scope: str | None = None,
) -> TokenRequest:
    """The client credentials grant with the client authenticated by a signed
    assertion (``private_key_jwt``, RFC 7523 section 2.2; RFC 7521 section 4.2
    makes ``client_id`` optional, so ``None`` leaves it out)."""
    url = check_url(token_endpoint, option="token_endpoint", allow_insecure_loopback=True)
    pairs = [("grant_type", _GRANT_TYPE_CLIENT_CREDENTIALS)]
    if (checked := _scope(scope)) is not None:
        pairs.append(("scope", checked))
    pairs += private_key_jwt_auth(client_id, assertion)
    return _request(url, _GRANT_TYPE_CLIENT_CREDENTIALS, pairs, ())


def jwt_bearer_request(
    token_endpoint: str,
    assertion: str,
    *,
    scope: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    auth_method: AuthMethod = "client_secret_basic",
    urlencode_credentials: bool = False,
) -> TokenRequest:
    """The JWT bearer grant (RFC 7523 section 2.1), as Kafka's
    ``JwtBearerJwtRetriever`` sends it. Client authentication is optional
    (section 3.1 of RFC 7521): with ``client_secret`` it is done as in
    :func:`client_credentials_request`; with ``client_id`` alone the id is
    sent in the body (RFC 6749 section 3.2.1, a public client)."""
    url = check_url(token_endpoint, option="token_endpoint", allow_insecure_loopback=True)
    pairs = [
        ("grant_type", _GRANT_TYPE_JWT_BEARER),
        ("assertion", _assertion(assertion, "assertion")),
    ]
    if (checked := _scope(scope)) is not None:
        pairs.append(("scope", checked))
    extra: tuple[tuple[str, str], ...] = ()
    if client_secret is not None:
        extra, auth_pairs = client_secret_auth(
            client_id, client_secret, auth_method, urlencode_credentials=urlencode_credentials
        )
        pairs += auth_pairs
    elif client_id is not None:
        pairs.append(("client_id", _text(client_id, "client_id")))
    return _request(url, _GRANT_TYPE_JWT_BEARER, pairs, extra)


# --- assertions ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_bytes(value: Mapping[str, Any], option: str) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        raise ConfigurationError(f"{option} holds a value that is not JSON") from None


def load_private_key(private_key: object, passphrase: bytes | str | None) -> PrivateKeyTypes:
    """A PEM private key (PKCS #8, PKCS #1 or SEC 1; encrypted with
    ``passphrase``) loaded, or a loaded key returned as it is; a
    :class:`~oauthbearer.errors.ConfigurationError` that never quotes the key
    otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415 - lazy import
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    if isinstance(private_key, str):
        private_key = private_key.encode("utf-8")
    if not isinstance(private_key, bytes | bytearray):
        return private_key  # type: ignore[return-value]  # checked by the caller
    password = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    try:
        return serialization.load_pem_private_key(bytes(private_key), password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Our own words: whatever cryptography says stays out of the message.
        raise ConfigurationError(
            "private_key could not be loaded: not a PEM private key, or a wrong or "
            "missing passphrase"
        ) from None


def _sign(algorithm: str, key: object, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415 - lazy import
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        decode_dss_signature,
    )

    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigurationError("private_key must be an RSA private key for RS256")
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(
                f"private_key is an RSA key of {key.key_size} bits; RS256 needs "
                f"{_MIN_RSA_BITS} or more (RFC 7518 section 3.3)"
            )
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError("private_key must be an EC P-256 private key for ES256")
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    # RFC 7518 section 3.4: the raw r || s, 32 bytes each, not DER.
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _whole_seconds(value: object, option: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"{option} must be a whole number of seconds >= {low}")
    return value


def assertion_template_from_json(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Kafka's assertion template file (strict JSON: an object with optional
    ``header`` and ``payload`` objects, and nothing else), as the header and
    payload mappings; ``ValueError`` (a :class:`ConfigurationError` for a
    wrong shape) says what is wrong."""
    return _template(_json_object(data))


def _template(template: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Kafka's assertion template: an object with optional ``header`` and ``payload``."""
    if template is None:
        return {}, {}
    if not isinstance(template, Mapping):
        raise ArgumentTypeError("template must be a mapping with 'header' and/or 'payload'")
    unknown = set(template) - {"header", "payload"}
    if unknown:
        raise ConfigurationError(
            f"template may hold only 'header' and 'payload', not {sorted(map(str, unknown))}"
        )
    parts = []
    for name in ("header", "payload"):
        part = template.get(name, {})
        if not isinstance(part, Mapping) or not all(isinstance(k, str) for k in part):
            raise ConfigurationError(f"template[{name!r}] must be a mapping with str keys")
        parts.append(dict(part))
    return parts[0], parts[1]


def _jti_from(random: _random.Random) -> str:
    """A version 4 UUID from ``random``, as Kafka's ``UUID.randomUUID()`` (pass
    a :class:`random.SystemRandom` outside tests)."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def make_assertion(
    private_key: bytes | str | PrivateKeyTypes,
    *,
    algorithm: Literal["RS256", "ES256"] = "RS256",
    issuer: str | None = None,
    subject: str | None = None,
    audience: str | Sequence[str] | None = None,
    now: float,
    lifetime_s: int = 300,
    not_before_s: int = 60,
    jti: str | None = None,
    random: _random.Random | None = None,
    template: Mapping[str, Mapping[str, Any]] | None = None,
    kid: str | None = None,
    passphrase: bytes | str | None = None,
) -> str:
    """A JWT assertion signed with ``private_key``, as Kafka's KIP-1139 default
    assertion creator builds it (``sasl.oauthbearer.assertion.*``).

    ``private_key`` is PEM (PKCS #8, PKCS #1 or SEC 1; encrypted with
    ``passphrase``) or a loaded ``cryptography`` key (load it once to sign
    many). ``now`` is epoch seconds; ``iat`` is its whole seconds, ``exp`` is
    ``iat + lifetime_s`` (Kafka's ``claim.exp.seconds``, 300) and ``nbf`` is
    ``iat - not_before_s`` (``claim.nbf.seconds``, 60). ``jti`` is included
    when given, or drawn from ``random`` (Kafka's ``claim.jti.include``, off
    by default). ``template`` is Kafka's template file as a mapping:
    ``{"header": {...}, "payload": {...}}``.

    Precedence, later wins: ``issuer``/``subject``/``audience``, then the
    template, then ``kid``, then ``alg``, ``typ``, ``iat``, ``exp``, ``nbf``
    and ``jti``. The result must hold ``iss``, ``sub`` and ``aud`` (RFC 7523
    section 3).
    """
    if algorithm not in _ALGORITHMS:
        raise ConfigurationError(f"algorithm must be one of {', '.join(_ALGORITHMS)}")
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ConfigurationError("now must be a finite number of epoch seconds")
    if now < 0:
        raise ConfigurationError("now must be a number of epoch seconds >= 0")
    lifetime = _whole_seconds(lifetime_s, "lifetime_s", low=1)
    not_before = _whole_seconds(not_before_s, "not_before_s", low=0)
    template_header, template_payload = _template(template)

    payload: dict[str, Any] = {}
    for name, value in (("iss", issuer), ("sub", subject)):
        if value is not None:
            payload[name] = _text(value, name)
    if audience is not None:
        if isinstance(audience, str):
            payload["aud"] = _text(audience, "aud")
        else:
            audiences = [_text(a, "aud") for a in audience]
            if not audiences:
                raise ConfigurationError("audience must not be an empty list")
            payload["aud"] = audiences
    payload.update(template_payload)
    issued = math.floor(now)
    payload.update(iat=issued, exp=issued + lifetime, nbf=issued - not_before)
    if jti is not None:
        payload["jti"] = _text(jti, "jti")
    elif random is not None:
        payload["jti"] = _jti_from(random)
    missing = [name for name in ("iss", "sub", "aud") if name not in payload]
    if missing:
        raise ConfigurationError(
            f"the assertion needs {', '.join(missing)} (RFC 7523 section 3): "
            "pass issuer/subject/audience or put them in the template's payload"
        )

    header = dict(template_header)
    if kid is not None:
        header["kid"] = _text(kid, "kid")
    header.update(alg=algorithm, typ="JWT")

    key = load_private_key(private_key, passphrase)
    signing_input = (
        _b64url(_json_bytes(header, "template['header']"))
        + "."
        + _b64url(_json_bytes(payload, "template['payload']"))
    )
    signature = _sign(algorithm, key, signing_input.encode("ascii"))
    return f"{signing_input}.{_b64url(signature)}"


# --- responses ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TokenResponse:
    """A successful token endpoint answer (RFC 6749 section 5.1).

    ``access_token`` is the token to send (``repr=False``); ``token_field``
    says where it came from (``"access_token"``, or ``"id_token"`` as Kafka
    falls back to). ``expires_in`` is in seconds, and ``expires_at_ms`` the
    absolute expiry it gives (epoch ms, as Kafka's ``lifetime_ms``), both
    ``None`` when the answer did not say.
    """

    access_token: str = dataclasses.field(repr=False)
    token_type: str | None
    expires_in: int | None
    scope: str | None
    expires_at_ms: int | None
    token_field: str = "access_token"


def _endpoint_error(
    detail: str,
    *,
    status: int,
    retryable: bool,
    error: str | None = None,
    error_description: str | None = None,
) -> TokenEndpointError:
    message = f"token endpoint answered HTTP {status}: {detail}"
    return TokenEndpointError(
        message,
        status=status,
        error=error,
        error_description=error_description,
        retryable=retryable,
    )


def _oauth_error(
    status: int, body: bytes, *, retryable: bool, secrets: Collection[str]
) -> TokenEndpointError:
    """An RFC 6749 section 5.2 error answer, read as well as it can be; any of
    the request's own ``secrets`` that the provider echoes is scrubbed first."""
    error = description = None
    try:
        document = _json_object(body)
    except ValueError:
        document = {}
    # RFC 6749 section 5.2; Okta's older API says errorCode / errorSummary (Kafka reads both).
    for code_name, text_name in (("error", "error_description"), ("errorCode", "errorSummary")):
        code = document.get(code_name)
        if isinstance(code, str) and code:
            error = scrub_secrets(code, secrets)
            text = document.get(text_name)
            description = scrub_secrets(text, secrets) if isinstance(text, str) and text else None
            break
    if error is None:
        detail = "no OAuth error in the body" if body.strip() else "an empty body"
    else:
        detail = shown_text(error)
        if description is not None:
            detail += f" ({shown_text(description)})"
    return _endpoint_error(
        detail, status=status, retryable=retryable, error=error, error_description=description
    )


def _token(document: Mapping[str, Any], status: int) -> tuple[str, str] | None:
    """The token and the member it came from: ``access_token``, or Kafka's
    fallback ``id_token``; absent or blank members are skipped, as Kafka does."""
    for name in ("access_token", "id_token"):
        value = document.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _endpoint_error(
                f"'{name}' is a JSON {type(value).__name__}, not a string",
                status=status,
                retryable=False,
            )
        token = java_trim(value)
        if not token:
            continue
        if not is_b64token(token):
            # It must fit in "auth=Bearer <token>" (RFC 7628 section 3.1, RFC 6750 section 2.1).
            raise _endpoint_error(
                f"'{name}' is not an RFC 6750 b64token", status=status, retryable=False
            )
        return token, name
    return None


def _expires_in(value: object, status: int) -> int | None:
    if value is None:
        return None
    # Some providers (Entra ID v1) send a string of digits; RFC 6749 means a number.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _endpoint_error(
        "'expires_in' is not a whole number of seconds >= 0", status=status, retryable=False
    )


def parse_token_response(
    status: int, body: bytes, *, now: float, request: TokenRequest | None = None
) -> TokenResponse:
    """Read a token endpoint's answer: ``status`` and ``body`` as received, and
    ``now`` (epoch seconds, taken when the request was sent) for
    ``expires_at_ms``. ``request`` is the request answered: a provider that
    echoes its secrets (the client secret, the assertion) in
    ``error_description`` gets them scrubbed from the error
    (:meth:`TokenRequest.secrets`).

    Raises :class:`TokenEndpointError` for an error status (with the RFC 6749
    ``error`` and ``error_description`` when the body has them), for a body
    larger than :data:`MAX_TOKEN_RESPONSE_SIZE`, empty (retryable, as in
    Kafka), not a JSON object, without a usable token, or whose
    ``token_type``, if present, is not ``Bearer`` (compared
    case-insensitively, RFC 6749 section 5.1): OAUTHBEARER carries bearer
    tokens only (RFC 7628 section 3.1), and a DPoP- or MAC-bound token would be
    refused by the server anyway.
    """
    if isinstance(status, bool) or not isinstance(status, int):
        raise ArgumentTypeError("status must be an int")
    if not isinstance(body, bytes):
        raise ArgumentTypeError("body must be bytes")
    if len(body) > MAX_TOKEN_RESPONSE_SIZE:
        raise _endpoint_error(
            f"the body is larger than MAX_TOKEN_RESPONSE_SIZE ({MAX_TOKEN_RESPONSE_SIZE} bytes)",
            status=status,
            retryable=status not in _SUCCESS and is_retryable_status(status),
        )
    secrets = () if request is None else request.secrets()
    if status not in _SUCCESS:
        raise _oauth_error(status, body, retryable=is_retryable_status(status), secrets=secrets)
    if not body.strip():
        # Kafka raises an IOException inside its retry loop: retried.
        raise _endpoint_error("an empty body", status=status, retryable=True)
    try:
        document = _json_object(body)
    except ValueError as error:
        raise _endpoint_error(f"the body is {error}", status=status, retryable=False) from None
    found = _token(document, status)
    if found is None:
        if isinstance(document.get("error"), str):
            raise _oauth_error(status, body, retryable=False, secrets=secrets)
        raise _endpoint_error(
            "the body holds neither 'access_token' nor 'id_token'", status=status, retryable=False
        )
    token, field = found
    token_type = document.get("token_type")
    if token_type is not None and (
        not isinstance(token_type, str) or token_type.lower() != "bearer"
    ):
        shown = (
            shown_text(scrub_secrets(token_type, secrets))
            if isinstance(token_type, str)
            else "not a string"
        )
        raise _endpoint_error(
            f"'token_type' is {shown!r}, not Bearer", status=status, retryable=False
        )
    scope = document.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise _endpoint_error("'scope' is not a string", status=status, retryable=False)
    expires_in = _expires_in(document.get("expires_in"), status)
    expires_at_ms = None if expires_in is None else math.floor(now * 1000) + expires_in * 1000
    return TokenResponse(
        access_token=token,
        token_type=token_type,
        expires_in=expires_in,
        scope=scope,
        expires_at_ms=expires_at_ms,
        token_field=field,
    )


# --- discovery ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """What a login needs from an authorization server's metadata."""

    issuer: str
    token_endpoint: str
    jwks_uri: str | None = None


def _check_issuer(issuer: object, *, allow_insecure_loopback: bool) -> str:
    url = check_url(issuer, option="issuer", allow_insecure_loopback=allow_insecure_loopback)
    if split_url(url).query is not None:
        # RFC 8414 section 2; OpenID Connect Discovery section 2.
        raise ConfigurationError(f"issuer must not have a query: {redact_url(url)}")
    return url


def discovery_urls(issuer: str, *, allow_insecure_loopback: bool = False) -> tuple[str, str]:
    """Where ``issuer`` publishes its metadata: the OpenID Connect Discovery URL
    (``<issuer>/.well-known/openid-configuration``, section 4 of the spec, a
    trailing ``/`` removed first) and the RFC 8414 one, with
    ``/.well-known/oauth-authorization-server`` inserted between the host and
    the path (section 3.1)."""
    url = _check_issuer(issuer, allow_insecure_loopback=allow_insecure_loopback)
    parts = split_url(url)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.authority}"
    return (
        f"{origin}{path}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{path}",
    )


def parse_discovery(
    body: bytes, *, issuer: str, allow_insecure_loopback: bool = False
) -> Discovery:
    """Read a discovery document (either kind). Its ``issuer`` must equal the
    expected ``issuer`` exactly (RFC 8414 section 3.3, OpenID Connect Discovery
    section 4.3), ``token_endpoint`` is required, and both endpoints must be
    https (http to a loopback host only when allowed)."""
    expected = _check_issuer(issuer, allow_insecure_loopback=allow_insecure_loopback)
    if not isinstance(body, bytes):
        raise ArgumentTypeError("body must be bytes")
    if len(body) > MAX_DISCOVERY_SIZE:
        raise DiscoveryError(
            "the discovery document is larger than MAX_DISCOVERY_SIZE "
            f"({MAX_DISCOVERY_SIZE} bytes)",
            retryable=False,
        )
    try:
        document = _json_object(body)
    except ValueError as error:
        raise DiscoveryError(f"the discovery document is {error}", retryable=False) from None
    found = document.get("issuer")
    if found != expected:
        shown = shown_text(found) if isinstance(found, str) else "missing or not a string"
        raise DiscoveryError(
            f"the discovery document's issuer {shown!r} is not {expected!r} "
            "(RFC 8414 section 3.3: they must be identical)",
            retryable=False,
        )
    endpoints: dict[str, str | None] = {}
    for name in ("token_endpoint", "jwks_uri"):
        value = document.get(name)
        if value is None and name == "jwks_uri":
            endpoints[name] = None
            continue
        if not isinstance(value, str):
            raise DiscoveryError(
                f"the discovery document's {name} is missing or not a string", retryable=False
            )
        try:
            endpoints[name] = check_url(
                value, option=name, allow_insecure_loopback=allow_insecure_loopback
            )
        except ConfigurationError as error:
            raise DiscoveryError(f"the discovery document's {error}", retryable=False) from None
    token_endpoint = endpoints["token_endpoint"]
    assert token_endpoint is not None
    return Discovery(issuer=expected, token_endpoint=token_endpoint, jwks_uri=endpoints["jwks_uri"])
