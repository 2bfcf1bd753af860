"""The ``oauthbearer`` command: demo, decode, encode, token, validate, check, conformance,
idp, broker, probe.

A thin shell over the pure codec, sessions and validators. Exit codes: 0
success, 1 the input was rejected (the reason is printed), 2 the command line
was wrong, or the keys it names could not be read. A token given to a command
is never printed unless ``--show-token`` asks for it (``token`` prints the one
it mints); a private key never is.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import hashlib
import json
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Final

from oauthbearer import __version__
from oauthbearer._text import escape_bytes
from oauthbearer.errors import (
    ConfigurationError,
    InvalidToken,
    MalformedMessage,
    OAuthBearerError,
)
from oauthbearer.gs2 import ClientInitialResponse, Dialect, ErrorResponse
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
)
from oauthbearer.validation.introspection import IntrospectionError, IntrospectionRules
from oauthbearer.validation.jwks import MIN_RSA_KEY_BITS, JsonWebKeySet
from oauthbearer.validation.jwt import ASYMMETRIC_ALGORITHMS, JwtValidator

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence

    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    from oauthbearer.config import BrokerValidatorConfig, JaasConfig
    from oauthbearer.http.options import HttpOptions
    from oauthbearer.kafka.broker import BrokerEmulator
    from oauthbearer.testing.conformance import CaseResult, ConformanceCase
    from oauthbearer.testing.probe import Finding, ProbeResult
    from oauthbearer.token import OAuthBearerToken, TokenValidator
    from oauthbearer.validation.jwks_fetch import JwksRefresher

    _SigningKey = (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )

FORMATS = ("escaped", "hex", "base64", "raw")
#: Where ``oauthbearer broker`` listens without --listen (or --config).
DEFAULT_LISTEN: Final = "127.0.0.1:9093"

#: The signature algorithms the CLI mints and validates with: JwtValidator's
#: asymmetric ones (HS* needs a shared secret, which has no place on a command line).
ALGORITHMS: Final = tuple(sorted(ASYMMETRIC_ALGORITHMS))

#: Claims that ``token --key`` sets from its own options, never from ``--claim``.
_OPTION_CLAIMS: Final = {
    "iss": "--issuer",
    "sub": "--sub",
    "aud": "--audience",
    "exp": "--lifetime",
    "iat": "--now",
    "nbf": "--now",
    "scope": "--scope",
}


class UsageError(Exception):
    """A command-line mistake: exit 2."""


def flag_spellings() -> dict[str, str]:
    """How the command line spells the arguments that the library's refusals
    name as their remedy (:attr:`~oauthbearer.errors.ConfigurationError.remedy`)."""
    from oauthbearer.config.broker import LISTENER_REMEDY  # noqa: PLC0415 - error paths only
    from oauthbearer.config.listener import CERTIFICATE_REMEDY  # noqa: PLC0415
    from oauthbearer.http.urls import INSECURE_LOOPBACK_REMEDY  # noqa: PLC0415
    from oauthbearer.kafka.broker import UNSECURED_ON_NETWORK_REMEDY  # noqa: PLC0415

    return {
        INSECURE_LOOPBACK_REMEDY: "--insecure-loopback",
        LISTENER_REMEDY: "--listener NAME",
        UNSECURED_ON_NETWORK_REMEDY: "--allow-unsecured-on-network",
        CERTIFICATE_REMEDY: "--certfile and --keyfile",
    }


def explain(error: OAuthBearerError) -> str:
    """A library error as the command line says it: on one line, naming the
    flag (not the Python argument) that would change the verdict. Library
    messages carry redacted URLs and no secret."""
    text = str(error)
    if isinstance(error, ConfigurationError):
        text = error.worded_for(flag_spellings())
    return " ".join(text.split())


# --- byte formats -------------------------------------------------------------------------


def parse_bytes(text: str | bytes, fmt: str) -> bytes:
    """Input bytes given as escaped text (``\\x01``), hex, base64 or raw."""
    try:
        if fmt == "raw":
            return text if isinstance(text, bytes) else text.encode()
        if isinstance(text, bytes):
            text = text.decode("ascii")
        if fmt == "hex":
            return bytes.fromhex("".join(text.split()))
        if fmt == "base64":
            return base64.b64decode("".join(text.split()), validate=True)
        # Escaped text: Python's escapes (\x01, \t, \\). Non-ASCII stands for its UTF-8.
        return text.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise UsageError(f"input is not valid {fmt}: {exc}") from None


def format_bytes(data: bytes, fmt: str) -> bytes:
    """Output bytes in one of :data:`FORMATS`."""
    if fmt == "raw":
        return data
    if fmt == "hex":
        return data.hex().encode() + b"\n"
    if fmt == "base64":
        return base64.b64encode(data) + b"\n"
    return escape_bytes(data).encode() + b"\n"


def token_summary(token: str) -> dict[str, Any]:
    """What can be said about a token without showing it."""
    return {
        "length": len(token),
        "sha256_prefix": hashlib.sha256(token.encode()).hexdigest()[:16],
    }


# --- decode / encode ------------------------------------------------------------------------


def _read_input(value: str | None, fmt: str) -> bytes:
    if value is None or value == "-":
        raw = sys.stdin.buffer.read()
        if fmt != "raw":
            raw = raw.strip()
        return parse_bytes(raw, fmt)
    return parse_bytes(value, fmt)


def cmd_decode(args: argparse.Namespace) -> int:
    data = _read_input(args.data, args.input_format)
    result: dict[str, Any]
    try:
        if args.error:
            error = ErrorResponse.decode(data)
            result = {
                "ok": True,
                "status": error.status,
                "scope": error.scope,
                "scopes": list(error.scopes),
                "openid_configuration": error.openid_configuration,
            }
        else:
            msg = ClientInitialResponse.decode(data, dialect=args.dialect)
            result = {
                "ok": True,
                "dialect": Dialect(args.dialect).value,
                "gs2_flag": msg.gs2_flag,
                "authzid": msg.authzid,
                "scheme": msg.scheme,
                "token": msg.token if args.show_token else token_summary(msg.token),
                "discovery": msg.is_discovery,
                "extensions": dict(msg.extensions),
                "host": msg.host,
                "port": msg.port,
            }
    except MalformedMessage as err:
        result = {
            "ok": False,
            "reason": err.reason,
            "offset": err.offset,
            "detail": err.detail,
            "message": str(err),
        }
        if err.kafka_message is not None:
            result["kafka_message"] = err.kafka_message
        print(json.dumps(result, indent=2))
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _parse_extension(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--extension takes KEY=VALUE, not {text!r}")
    return key, value


def cmd_encode(args: argparse.Namespace) -> int:
    extensions = dict(_parse_extension(item) for item in args.extension)
    try:
        if args.discovery:
            if args.token is not None:
                raise UsageError("--discovery sends no token; drop --token")
            msg = ClientInitialResponse.discovery(authzid=args.authzid, extensions=extensions)
        else:
            if args.token is None:
                raise UsageError("--token is required (use '-' to read it from stdin)")
            token = sys.stdin.readline().strip() if args.token == "-" else args.token
            msg = ClientInitialResponse(
                token, authzid=args.authzid, extensions=extensions, gs2_flag=args.gs2_flag
            )
    except ConfigurationError as exc:
        print(f"oauthbearer encode: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(format_bytes(msg.encode(), args.output_format))
    sys.stdout.flush()
    return 0


# --- token / validate -------------------------------------------------------------------


def _key_values(items: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, not {item!r}")
        pairs[key] = value
    return pairs


def _now(args: argparse.Namespace) -> float:
    """The shell's clock, unless --now fixes it (for reproducible output)."""
    return time.time() if args.now is None else float(args.now)


def token_json(token: OAuthBearerToken, *, show_value: bool) -> dict[str, Any]:
    """A negotiated token as the CLI prints it: Kafka's view of it, and its claims."""
    return {
        "principal": token.principal,
        "scope": sorted(token.scope),
        "lifetime_ms": token.lifetime_ms,
        "start_time_ms": token.start_time_ms,
        "claims": dict(token.claims),
        "token": token.value if show_value else token_summary(token.value),
    }


def _unused(args: argparse.Namespace, names: dict[str, str], *, needs: str) -> None:
    """Refuse options that only make sense with another one (``needs``)."""
    for dest, option in names.items():
        value = getattr(args, dest)
        if value is not None and value is not False:
            raise UsageError(f"{option} applies to {needs} only")


#: token --key's own options (dest -> option), refused with the unsecured sources.
_SIGNED_TOKEN_OPTIONS: Final = {
    "algorithm": "--algorithm",
    "kid": "--kid",
    "sub": "--sub",
    "scope": "--scope",
    "issuer": "--issuer",
    "audience": "--audience",
    "lifetime": "--lifetime",
    "claim": "--claim",
    "jwks_out": "--jwks-out",
}


def cmd_token(args: argparse.Namespace) -> int:
    if args.key is not None:
        return _signed_token(args)
    _unused(args, _SIGNED_TOKEN_OPTIONS, needs="--key")
    now = _now(args)
    try:
        if args.librdkafka is not None:
            login = librdkafka_unsecured_login(args.librdkafka, now=now)
        else:
            login = kafka_unsecured_login(_key_values(args.option, "--option"), now=now)
    except ConfigurationError as exc:
        print(f"oauthbearer token: {exc}", file=sys.stderr)
        return 1
    if args.json:
        result = token_json(login.token, show_value=True)
        result["extensions"] = dict(login.extensions)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(login.token.value)
    return 0


def _load_signing_key(path: str, alg: str) -> _SigningKey:
    """The private key of a PEM file, checked to fit ``alg``.

    Errors name the file and what was expected, never anything read from it.
    """
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import (  # noqa: PLC0415
        ec,
        ed448,
        ed25519,
        rsa,
    )

    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise UsageError(f"--key {path}: {error.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # cryptography's message is not echoed: nothing read from a key file is shown.
        raise UsageError(
            f"--key {path} is not an unencrypted PEM private key (RSA, EC or Ed25519/Ed448)"
        ) from None
    curves = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
    if alg[:2] in ("RS", "PS"):
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_KEY_BITS:
                raise UsageError(
                    f"--key {path} is an RSA key of {key.key_size} bits; keys under "
                    f"MIN_RSA_KEY_BITS ({MIN_RSA_KEY_BITS}) are refused when a JWKS is loaded"
                )
            return key
        wanted = "an RSA key"
    elif alg in curves:
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == curves[alg]:
            return key
        wanted = f"an EC key on {curves[alg]}"
    else:
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return key
        wanted = "an Ed25519 or Ed448 key"
    raise UsageError(f"--algorithm {alg} needs {wanted}; --key {path} holds another kind")


def _signed_token(args: argparse.Namespace) -> int:
    """token --key: a signed JWT, checked by JwtValidator before it is printed."""
    import jwt  # noqa: PLC0415 - pyjwt plays the identity provider, for this verb only

    if args.sub is None:
        raise UsageError("--sub is required with --key")
    alg = args.algorithm or "RS256"
    lifetime = 3600 if args.lifetime is None else args.lifetime
    if lifetime <= 0:
        raise UsageError("--lifetime must be a number of seconds > 0")
    extra = _key_values(args.claim or [], "--claim")
    for name in extra:
        if name in _OPTION_CLAIMS:
            raise UsageError(f"--claim cannot set {name!r}; use {_OPTION_CLAIMS[name]}")
    key = _load_signing_key(args.key, alg)

    # Whole seconds, as identity providers write NumericDates.
    issued = math.floor(_now(args))
    claims: dict[str, Any] = {"sub": args.sub, "iat": issued, "exp": issued + lifetime}
    if args.issuer is not None:
        claims["iss"] = args.issuer
    audiences: list[str] = args.audience or []
    if audiences:
        claims["aud"] = audiences[0] if len(audiences) == 1 else audiences
    if args.scope is not None:
        claims["scope"] = args.scope
    claims.update(extra)
    headers = None if args.kid is None else {"kid": args.kid}
    value = jwt.encode(claims, key, algorithm=alg, headers=headers)

    jwk: dict[str, Any] = dict(
        jwt.get_algorithm_by_name(alg).to_jwk(key.public_key(), as_dict=True)
    )
    if args.kid is not None:
        jwk["kid"] = args.kid
    jwk.update(use="sig", alg=alg)
    jwks = {"keys": [jwk]}
    # The token is checked as `validate --jwks` will check it, so that this verb
    # never mints what the validator refuses (a weak key, a blank --sub...).
    try:
        validator = JwtValidator(
            JsonWebKeySet.from_dict(jwks),
            algorithms=(alg,),
            audience=audiences or None,
            issuer=args.issuer,
            clock_skew_s=0,
        )
        token = validator.validate(value, now=issued)
    except ConfigurationError as exc:
        print(f"oauthbearer token: {exc}", file=sys.stderr)
        return 1
    except InvalidToken as refused:
        print(f"oauthbearer token: the token would be refused: {refused.detail}", file=sys.stderr)
        return 1
    if args.jwks_out is not None:
        try:
            with open(args.jwks_out, "w", encoding="utf-8") as file:
                json.dump(jwks, file, indent=2)
                file.write("\n")
        except OSError as error:
            raise UsageError(f"--jwks-out {args.jwks_out}: {error.strerror}") from None
    if args.json:
        result = token_json(token, show_value=True)
        result["header"] = jwt.get_unverified_header(value)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(value)
    return 0


#: validate --jwks's own options (dest -> option), refused with --unsecured.
_JWT_VALIDATE_OPTIONS: Final = {
    "issuer": "--issuer",
    "audience": "--audience",
    "algorithm": "--algorithm",
    "scope_claim": "--scope-claim",
    "sub_claim": "--sub-claim",
    "groups_claim": "--groups-claim",
    "clock_skew": "--clock-skew",
    "no_require_iat": "--no-require-iat",
    "insecure_loopback": "--insecure-loopback",
    "cache_size": "--cache-size",
}


def _http_options(args: argparse.Namespace) -> HttpOptions | None:
    """``--cafile``: the CA certificates (PEM) that every HTTPS call trusts."""
    from oauthbearer.http.options import HttpOptions  # noqa: PLC0415 - ssl, on demand

    cafile = getattr(args, "cafile", None)
    if cafile is None:
        return None
    try:
        return HttpOptions(cafile=cafile)
    except ConfigurationError as exc:
        raise UsageError(f"--cafile: {exc}") from None


def _jwks_refresher(
    source: str, *, insecure_loopback: bool, http: HttpOptions | None = None
) -> JwksRefresher:
    """A refresher for ``--jwks SOURCE``: an https URL, a loopback http URL, or a file."""
    # The shell is imported here: most commands need no urllib, threads or asyncio.
    from oauthbearer.validation.jwks_fetch import JwksRefresher  # noqa: PLC0415

    if "://" not in source:
        if insecure_loopback:
            raise UsageError("--insecure-loopback applies to an http://127.0.0.1 URL only")
        if http is not None:
            raise UsageError("--cafile applies to an https URL only")
        return JwksRefresher.for_file(source)
    if insecure_loopback and not source.startswith("http://"):
        raise UsageError("--insecure-loopback applies to an http://127.0.0.1 URL only")
    try:
        return JwksRefresher.for_url(source, allow_insecure_loopback=insecure_loopback, http=http)
    except ConfigurationError as exc:
        raise UsageError(f"--jwks: {explain(exc)}") from None


#: validate --introspect's own options (dest -> option).
_INTROSPECT_OPTIONS: Final = {
    "client_id": "--client-id",
    "client_secret": "--client-secret",
    "client_auth": "--client-auth",
    "fallback_sub_claim": "--fallback-sub-claim",
}
#: Where validate --introspect reads the client secret when --client-secret is
#: not given: an environment variable stays out of ``ps`` and shell history.
CLIENT_SECRET_ENV: Final = "OAUTHBEARER_CLIENT_SECRET"


def _introspector(args: argparse.Namespace) -> TokenValidator:
    """The IntrospectionValidator that ``--introspect URL`` and its options describe."""
    from oauthbearer.validation.introspection_http import IntrospectionValidator  # noqa: PLC0415

    if args.option:
        raise UsageError("-o/--option applies to --unsecured only")
    for dest in ("algorithm", "scope_claim", "groups_claim", "no_require_iat"):
        if getattr(args, dest):
            raise UsageError(f"{_JWT_VALIDATE_OPTIONS[dest]} applies to --jwks only")
    secret = args.client_secret or os.environ.get(CLIENT_SECRET_ENV)
    if args.client_id is None or not secret:
        raise UsageError(
            f"--introspect needs --client-id and --client-secret (or ${CLIENT_SECRET_ENV})"
        )
    rules = IntrospectionRules(
        principal_claim="sub" if args.sub_claim is None else args.sub_claim,
        fallback_principal_claim=args.fallback_sub_claim,
        issuer=args.issuer,
        audience=args.audience,
        clock_skew_s=30.0 if args.clock_skew is None else args.clock_skew,
    )
    try:
        return IntrospectionValidator(
            args.introspect,
            client_id=args.client_id,
            client_secret=secret,
            auth_method=f"client_secret_{args.client_auth or 'basic'}",  # type: ignore[arg-type]
            rules=rules,
            allow_insecure_loopback=args.insecure_loopback,
            http=_http_options(args),
        )
    except ConfigurationError as exc:
        raise UsageError(f"--introspect: {explain(exc)}") from None


def _validator(args: argparse.Namespace) -> tuple[TokenValidator, JwksRefresher | None]:
    """The validator that ``--unsecured``/``-o``, ``--jwks`` or ``--introspect``
    and their options describe, and the refresher whose keys it reads (not
    fetched yet). Raises :class:`~oauthbearer.errors.ConfigurationError` for
    bad option values."""
    if getattr(args, "introspect", None) is not None:
        return _introspector(args), None
    _unused(args, _INTROSPECT_OPTIONS, needs="--introspect")
    if args.jwks is None:
        _unused(args, _JWT_VALIDATE_OPTIONS, needs="--jwks")
        if getattr(args, "cafile", None) is not None:
            raise UsageError("--cafile applies to --jwks and --introspect only")
        options = _key_values(args.option, "--option")
        return UnsecuredJwsValidator.from_options(options), None
    if args.option:
        raise UsageError("-o/--option applies to --unsecured only")
    refresher = _jwks_refresher(
        args.jwks, insecure_loopback=args.insecure_loopback, http=_http_options(args)
    )
    validator = JwtValidator(
        refresher.cache,
        algorithms=args.algorithm or ("RS256",),
        audience=args.audience,
        issuer=args.issuer,
        scope_claim="scope" if args.scope_claim is None else args.scope_claim,
        subject_claim="sub" if args.sub_claim is None else args.sub_claim,
        groups_claim=args.groups_claim,
        clock_skew_s=30.0 if args.clock_skew is None else args.clock_skew,
        require_iat=not args.no_require_iat,
        cache_size=args.cache_size or 0,
    )
    return validator, refresher


def cmd_validate(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    try:
        validator, refresher = _validator(args)
        if refresher is not None:
            refresher.refresh()  # once: no background thread for one token
    except OAuthBearerError as exc:
        print(f"oauthbearer validate: {explain(exc)}", file=sys.stderr)
        return 2
    try:
        negotiated = validator.validate(token, now=_now(args))
    except IntrospectionError as exc:  # the provider failed: no verdict
        print(f"oauthbearer validate: {explain(exc)}", file=sys.stderr)
        return 2
    except InvalidToken as refused:
        print(
            json.dumps(
                {
                    "ok": False,
                    "status": refused.status,
                    "scope": refused.scope,
                    "detail": refused.detail,
                },
                indent=2,
            )
        )
        return 1
    print(
        json.dumps(
            {"ok": True, **token_json(negotiated, show_value=args.show_token)},
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


# --- broker -------------------------------------------------------------------------------


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65_535:
        raise UsageError(f"{option} takes HOST:PORT, not {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


#: broker's options that Kafka properties state, refused with --config (dest ->
#: (option, the property to set instead)).
_BROKER_KAFKA_OPTIONS: Final = {
    "max_reauth_ms": ("--max-reauth-ms", "connections.max.reauth.ms"),
    "backlog": ("--backlog", "socket.listen.backlog.size"),
    "max_connections": ("--max-connections", "max.connections"),
    "max_connections_per_address": ("--max-connections-per-address", "max.connections.per.ip"),
}


def cmd_broker(args: argparse.Namespace) -> int:
    # The emulator is an asyncio shell: imported only for this command.
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    if args.keyfile is not None and args.certfile is None:
        raise UsageError("--keyfile needs --certfile")
    try:
        if args.config is not None:
            emulator, validation, unread = _configured_broker(args)
            refresher = validation.refresher
        else:
            _unused(args, {"listener": "--listener", "jaas_file": "--jaas-file"}, needs="--config")
            (emulator, refresher), unread = _flagged_broker(args), ()
    except ConfigurationError as exc:
        print(f"oauthbearer broker: {explain(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if unread:
        logging.getLogger("oauthbearer.kafka.broker").info(
            "not read from %s (no bearing on this listener's clients): %s",
            args.config,
            ", ".join(unread),
        )
    if refresher is not None:
        try:
            refresher.start()  # the first fetch failing is fatal, as on Kafka's broker
        except OAuthBearerError as exc:
            print(f"oauthbearer broker: {explain(exc)}", file=sys.stderr)
            return 2
    try:
        return asyncio.run(_serve_broker(emulator))
    finally:
        if refresher is not None:
            refresher.stop()


def _flagged_broker(args: argparse.Namespace) -> tuple[BrokerEmulator, JwksRefresher | None]:
    """The emulator that ``broker``'s flags describe (no ``--config``), and its
    validator's key refresher, not started."""
    from oauthbearer.kafka.broker import BrokerEmulator  # noqa: PLC0415

    host, port = _host_port(args.listen or DEFAULT_LISTEN, "--listen")
    validator, refresher = _validator(args)
    emulator = BrokerEmulator(
        validator,
        host=host,
        port=port,
        advertised_host=args.advertised_host,
        ssl_context=_certificate(args),
        allow_unsecured_on_network=args.allow_unsecured_on_network,
        topics=args.topic,
        dialect=args.dialect,
        max_reauth_ms=args.max_reauth_ms,
        **{
            name: value
            for name, value in (
                ("backlog", args.backlog),
                ("max_connections", args.max_connections),
                ("max_connections_per_address", args.max_connections_per_address),
            )
            if value is not None
        },
    )
    return emulator, refresher


def _certificate(args: argparse.Namespace) -> ssl.SSLContext | None:
    """--certfile and --keyfile: a SASL_SSL listener's context, or None."""
    if args.certfile is None:
        return None
    from oauthbearer.config import ListenerTls  # noqa: PLC0415

    return ListenerTls(source="--certfile", certfile=args.certfile, keyfile=args.keyfile).context()


def _configured_broker(
    args: argparse.Namespace,
) -> tuple[BrokerEmulator, BrokerValidatorConfig, tuple[str, ...]]:
    """The emulator that ``--config`` (and ``--listener``) describe, with the
    few flags that are not Kafka settings; and the keys the file set that the
    listener does not read."""
    from oauthbearer.config import broker_listener  # noqa: PLC0415
    from oauthbearer.kafka.broker import BrokerEmulator  # noqa: PLC0415

    for dest, option in {**_JWT_VALIDATE_OPTIONS, **_INTROSPECT_OPTIONS}.items():
        if dest != "insecure_loopback" and getattr(args, dest) not in (None, False):
            raise UsageError(f"{option}: with --config, the properties choose the validator")
    if args.unsecured or args.jwks or args.introspect or args.option:
        raise UsageError(
            "--unsecured, --jwks, --introspect and -o: with --config, the properties choose "
            "the validator"
        )
    for dest, (option, key) in _BROKER_KAFKA_OPTIONS.items():
        if getattr(args, dest) is not None:
            raise UsageError(f"{option}: with --config, set {key} in the properties")
    listen = None if args.listen is None else _host_port(args.listen, "--listen")
    try:
        listener = broker_listener(
            args.config,
            listener=args.listener,
            listen=listen,
            certfile=args.certfile,
            keyfile=args.keyfile,
            allow_insecure_loopback=args.insecure_loopback,
            jaas_file=_jaas_file(args.jaas_file),
        )
    except OSError as exc:
        raise UsageError(f"--config {args.config}: {exc.strerror}") from None
    emulator = BrokerEmulator.from_listener(
        listener,
        topics=args.topic,
        dialect=args.dialect,
        advertised_host=args.advertised_host,
        allow_unsecured_on_network=args.allow_unsecured_on_network,
    )
    return emulator, listener.validation, listener.unread


async def _serve_broker(emulator: BrokerEmulator) -> int:
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    try:
        await emulator.start()
    except OSError as exc:
        print(f"oauthbearer broker: cannot listen on {emulator.host}: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, emulator.stop)
    print(
        f"oauthbearer broker: listening on {emulator.host}:{emulator.port}"
        f" ({emulator.security_protocol}, bootstrap.servers={emulator.bootstrap});"
        " Ctrl-C stops it",
        flush=True,
    )
    await emulator.serve_forever()
    print("oauthbearer broker: stopped", flush=True)
    return 0


# --- probe ---------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace) -> int:
    # The probe is an asyncio shell, and the corpus is package data: imported here only.
    import asyncio  # noqa: PLC0415

    from oauthbearer.testing.conformance import select_cases  # noqa: PLC0415
    from oauthbearer.testing.probe import (  # noqa: PLC0415
        GENERATED_PREFIX,
        builtin_cases,
        corpus_cases,
        describe_finding,
        generated_cases,
        junit_xml,
        probe,
        progress_line,
        shrink_findings,
        summary,
    )

    host, port = _host_port(args.bootstrap, "--bootstrap")
    if not args.timeout > 0:
        raise UsageError("--timeout must be a number of seconds > 0")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    if args.generate < 0:
        raise UsageError("--generate must be >= 0")
    tls = _probe_tls(args)
    corpus = _corpus(args.corpus)
    if args.case:
        corpus = select_cases(corpus, args.case)

    def selected(case_id: str) -> bool:
        return not args.case or any(fnmatch.fnmatchcase(case_id, p) for p in args.case)

    cases = corpus_cases(corpus) + [case for case in builtin_cases() if selected(case.id)]
    if args.generate:
        generated = generated_cases(args.generate, seed=args.seed)
        cases += [case for case in generated if selected(case.id)]
    if not cases:
        raise UsageError(f"--case {' '.join(args.case)} matches no case")
    dialect = Dialect(args.expect)

    done = 0

    def progress(result: ProbeResult) -> None:
        # Streams to stderr as each case completes; stdout keeps the report.
        nonlocal done
        done += 1
        print(progress_line(done, len(cases), result, dialect), file=sys.stderr, flush=True)

    async def run() -> tuple[list[ProbeResult], list[Finding]]:
        results = await probe(
            host,
            port,
            cases,
            timeout_s=args.timeout,
            concurrency=args.concurrency,
            tls=tls,
            on_result=None if args.no_progress else progress,
        )
        findings = await shrink_findings(
            host,
            port,
            results,
            dialect=dialect,
            timeout_s=args.timeout,
            concurrency=args.concurrency,
            tls=tls,
            budget_s=args.shrink_time,
        )
        return results, findings

    started = time.monotonic()
    try:
        results, findings = asyncio.run(run())
    except (OSError, ConfigurationError) as exc:
        print(f"oauthbearer probe: {args.bootstrap}: {exc}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    agrees = [r.agrees(dialect) for r in results]
    violations = [r for r in results if r.violation]
    disagree = sum(agree is False for agree in agrees)
    if args.junit is not None:
        _write_junit(
            args.junit,
            junit_xml(results, dialect=dialect, target=args.bootstrap, findings=findings),
        )
    if args.json:
        minimal = {f.result.case.id: f for f in findings}
        print(json.dumps([_probe_json(r, minimal.get(r.case.id)) for r in results], indent=2))
    else:
        # Generated cases are listed only when something is wrong with them.
        shown = [
            r
            for r, agree in zip(results, agrees, strict=True)
            if not r.case.id.startswith(GENERATED_PREFIX) or agree is False or r.violation
        ]
        print(summary(shown))
        for finding in findings:
            print("\n" + describe_finding(finding))
        made = sum(r.case.id.startswith(GENERATED_PREFIX) for r in results)
        print(
            f"\n{len(results)} cases against {args.bootstrap}"
            + (f" ({made} generated, seed {args.seed})" if made else "")
            + f": {sum(agree is True for agree in agrees)} as {args.expect} expects, "
            f"{disagree} not, {sum(not r.exercised for r in results)} not exercised, "
            f"{len(violations)} violations; {seconds:.1f} s."
        )
    return 1 if disagree or violations else 0


def _write_junit(path: str, xml: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(xml)
    except OSError as exc:
        raise UsageError(f"--junit {path}: {exc.strerror}") from None


def _probe_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """--tls, --cafile, --insecure: the context the probe's connections use."""
    if not (args.tls or args.cafile or args.insecure):
        return None
    import ssl  # noqa: PLC0415 - only the TLS probe needs it

    if args.insecure and args.cafile:
        raise UsageError("--insecure verifies nothing: leave out --cafile")
    try:
        context = ssl.create_default_context(cafile=args.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--cafile {args.cafile}: {exc}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _probe_json(result: ProbeResult, finding: Finding | None = None) -> dict[str, Any]:
    from oauthbearer.testing.probe import result_json  # noqa: PLC0415 - with the probe
    from oauthbearer.testing.reports import escaped  # noqa: PLC0415 - with the probe

    shown = result_json(result)
    if finding is not None:
        shown["finding"] = {
            "kind": finding.kind,
            "count": finding.count,
            "minimal_hex": finding.minimal.hex(),
            "minimal_text": escaped(finding.minimal, len(finding.minimal)),
            "attempts": finding.attempts,
        }
    return shown


# --- check ------------------------------------------------------------------------------------


def _properties(
    path: str | None, file_option: str, pairs: Sequence[str], option: str
) -> dict[str, str]:
    """A .properties file (``file_option`` names it in messages), then the
    ``option`` KEY=VALUE pairs over it."""
    from oauthbearer.config import load_properties  # noqa: PLC0415 - shells

    properties = {}
    if path is not None:
        try:
            properties = load_properties(path)
        except OSError as exc:
            raise UsageError(f"{file_option} {path}: {exc.strerror or exc}") from None
        except ConfigurationError as exc:
            raise UsageError(f"{file_option} {path}: {exc}") from None
    properties.update(_key_values(pairs, option))
    return properties


def _jaas_file(path: str | None) -> dict[str, tuple[JaasConfig, ...]] | None:
    """``--jaas-file``: the sections of a JAAS login configuration file."""
    if path is None:
        return None
    from oauthbearer.config import parse_jaas_file  # noqa: PLC0415 - shells

    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise UsageError(f"--jaas-file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--jaas-file {path}: not UTF-8 text") from None
    try:
        return parse_jaas_file(text, source=f"--jaas-file {path}")
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    from oauthbearer.cli.check import STEPS, print_step, run_check, summary  # noqa: PLC0415

    given = (args.client, args.broker, args.client_property, args.broker_property, args.jaas_file)
    if not any(given):
        # Nothing to check: say how, rather than fail step 1 on an empty client.
        args.parser.print_help(sys.stderr)
        return 2
    client = _properties(args.client, "--client", args.client_property, "--client-property")
    broker = _properties(args.broker, "--broker", args.broker_property, "--broker-property")
    jaas_file = _jaas_file(args.jaas_file)
    # Retries go where the steps go, so that they read in order; with --json,
    # standard output holds the one document, and they go to standard error.
    progress_stream = sys.stderr if args.json else sys.stdout

    def progress(line: str) -> None:
        print(f"  ... {line}", file=progress_stream, flush=True)

    steps = run_check(
        client,
        broker,
        listener=args.listener,
        allow_insecure_loopback=args.insecure_loopback,
        jaas_file=jaas_file,
        out=None if args.json else print_step(sys.stdout),
        progress=progress,
        spellings=flag_spellings(),
        http=_http_options(args),
    )
    passed = len(steps) == len(STEPS) and all(step.passed for step in steps)
    if args.json:
        failed = next((step.number for step in steps if not step.passed), None)
        document = {
            "passed": passed,
            "failed_step": failed,
            "steps": [step.as_dict() for step in steps],
        }
        print(json.dumps(document, indent=2))
    else:
        print(summary(steps))
    return 0 if passed else 1


# --- conformance ------------------------------------------------------------------------------


def _corpus(path: str | None) -> tuple[ConformanceCase, ...]:
    """The conformance corpus: ``--corpus``'s file, or the shipped one."""
    from oauthbearer.testing.conformance import load_corpus  # noqa: PLC0415 - package data

    try:
        return load_corpus(path)
    except OSError as exc:
        raise UsageError(f"--corpus {path}: {exc.strerror}") from None
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def cmd_conformance(args: argparse.Namespace) -> int:
    # The runner is a shell (package data, subprocesses): imported for this command only.
    from oauthbearer.testing.conformance import (  # noqa: PLC0415
        DEFAULT_VERDICT_TIMEOUT_S,
        command_implementation,
        format_report,
        junit_xml,
        progress_line,
        run_conformance,
        select_cases,
    )

    if args.command_line is None:
        _unused(args, {"timeout": "--timeout", "jobs": "--jobs"}, needs="--command")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be 1 or more")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be a number of seconds > 0")
    cases = _corpus(args.corpus)
    if args.case:
        cases = select_cases(cases, args.case)
        if not cases:
            raise UsageError(f"--case {' '.join(args.case)} matches no case")
    implementation, name = None, None
    if args.command_line is not None:
        try:
            implementation = command_implementation(
                args.command_line, timeout=args.timeout or DEFAULT_VERDICT_TIMEOUT_S
            )
        except (ConfigurationError, ValueError) as exc:  # shlex: unbalanced quotes
            raise UsageError(f"--command: {exc}") from None
        name = f"the command {args.command_line}"
    jobs = 1 if implementation is None else args.jobs or os.cpu_count() or 1
    dialects = [Dialect(args.dialect)] if args.dialect is not None else list(Dialect)
    total = sum(dialect in case.expect for case in cases for dialect in dialects)
    done = 0

    def progress(result: CaseResult) -> None:
        # Streams to stderr as each result is known; stdout keeps the report.
        nonlocal done
        done += 1
        print(progress_line(done, total, result), file=sys.stderr, flush=True)

    report = run_conformance(
        implementation,
        name=name,
        cases=cases,
        dialects=dialects,
        jobs=jobs,
        outcome_only=args.outcome_only,
        on_result=None if args.no_progress else progress,
    )
    if args.junit is not None:
        _write_junit(args.junit, junit_xml(report))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(format_report(report))
    return 0 if report.ok else 1


# --- idp --------------------------------------------------------------------------------------


def cmd_idp(args: argparse.Namespace) -> int:
    # The test identity provider is a shell: imported only for this command.
    from oauthbearer.testing.idp import serve  # noqa: PLC0415

    claims: dict[str, Any] = {}
    for item in args.claim or ():
        name, equals, value = item.partition("=")
        if not equals or not name:
            print(f"oauthbearer idp: --claim {item!r} is not NAME=JSON", file=sys.stderr)
            return 2
        try:
            claims[name] = json.loads(value)
        except ValueError:
            print(f"oauthbearer idp: --claim {name}: the value is not JSON", file=sys.stderr)
            return 2
    # Without --scope-claim, the profile's own scope claim.
    chosen: dict[str, Any] = {}
    if args.scope_claim is not None:
        chosen["scope_claim"] = None if args.scope_claim == "none" else args.scope_claim
    try:
        serve(
            args.host,
            args.port,
            client_id=args.client_id,
            client_secret=args.client_secret,
            scopes=args.scope or ("demo",),
            audience=args.audience,
            lifetime_s=args.lifetime,
            profile=args.profile,
            claims=claims,
            opaque=args.opaque,
            **chosen,
        )
    except ConfigurationError as exc:
        print(f"oauthbearer idp: {exc}", file=sys.stderr)
        return 2
    return 0


# --- demo -----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo is a shell of its own (threads, sockets, the test provider).
    from oauthbearer.cli import demo  # noqa: PLC0415

    return demo.run_in_memory() if args.in_memory else demo.run()


# --- entry point ----------------------------------------------------------------------------


def _add_validator_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--unsecured or --jwks, and their options: how ``validate`` and ``broker``
    judge tokens (see :func:`_validator`)."""
    kind = parser.add_mutually_exclusive_group(required=required)
    kind.add_argument(
        "--unsecured",
        action="store_true",
        help="validate as Kafka's unsecured validator" + (" (the default)" if not required else ""),
    )
    kind.add_argument(
        "--jwks",
        metavar="SOURCE",
        help="validate a signed JWT with the keys of a JWKS: an https URL or a file",
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --unsecured: a Kafka unsecuredValidator* option, "
        "e.g. unsecuredValidatorRequiredScope=read",
    )
    kind.add_argument(
        "--introspect",
        metavar="URL",
        help="validate any token by RFC 7662 introspection at URL (with --client-id)",
    )
    introspect = parser.add_argument_group("introspection (with --introspect)")
    introspect.add_argument("--client-id", help="the client id to authenticate as")
    introspect.add_argument(
        "--client-secret",
        help=f"the client secret (default: ${CLIENT_SECRET_ENV}, which keeps it out of ps)",
    )
    introspect.add_argument(
        "--client-auth",
        choices=("basic", "post"),
        help="client_secret_basic (the default) or client_secret_post",
    )
    introspect.add_argument(
        "--fallback-sub-claim",
        metavar="CLAIM",
        help="the claim holding the principal when --sub-claim's is absent",
    )
    jwt_options = parser.add_argument_group("signed JWTs (with --jwks; some with --introspect)")
    jwt_options.add_argument(
        "--insecure-loopback",
        action="store_true",
        help="allow an http:// JWKS or introspection URL to a loopback address (for tests)",
    )
    jwt_options.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust the CA certificates of this PEM file (instead of the system's) for the "
        "https JWKS or introspection URL",
    )
    jwt_options.add_argument("--issuer", action="append", help="the expected iss; repeatable")
    jwt_options.add_argument(
        "--audience", action="append", help="an accepted aud value; repeatable"
    )
    jwt_options.add_argument(
        "--algorithm",
        action="append",
        choices=ALGORITHMS,
        help="an accepted alg; repeatable (default RS256)",
    )
    jwt_options.add_argument(
        "--scope-claim", metavar="CLAIM", help="the claim holding the scope (default scope)"
    )
    jwt_options.add_argument(
        "--sub-claim", metavar="CLAIM", help="the claim holding the principal (default sub)"
    )
    jwt_options.add_argument(
        "--groups-claim", metavar="CLAIM", help="a claim that must be an array of strings"
    )
    jwt_options.add_argument(
        "--clock-skew",
        type=float,
        metavar="SECONDS",
        help="allowed clock difference (default 30)",
    )
    jwt_options.add_argument(
        "--no-require-iat", action="store_true", help="accept a JWT without an iat claim"
    )
    jwt_options.add_argument(
        "--cache-size",
        type=int,
        metavar="N",
        help="remember up to N verified tokens, so that a token seen again skips the "
        "signature check (default 0: off)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauthbearer", description="SASL OAUTHBEARER (RFC 7628) tools."
    )
    parser.add_argument("--version", action="version", version=f"oauthbearer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="OAUTHBEARER end to end on this machine: identity provider, token provider, "
        "kafka-python, broker emulator, and a refused token; printed step by step",
    )
    demo.add_argument(
        "--in-memory",
        action="store_true",
        help="only two exchanges between the pure client and server sessions, no network",
    )
    demo.set_defaults(func=cmd_demo)

    decode = commands.add_parser(
        "decode", help="parse a client initial response (or --error challenge) into JSON"
    )
    decode.add_argument("data", nargs="?", help="the message; '-' or nothing reads stdin")
    decode.add_argument("-f", "--input-format", choices=FORMATS, default="escaped")
    decode.add_argument(
        "-d", "--dialect", choices=[d.value for d in Dialect], default=Dialect.RFC7628.value
    )
    decode.add_argument(
        "--error", action="store_true", help="the input is a server error challenge (JSON)"
    )
    decode.add_argument(
        "--show-token",
        action="store_true",
        help="print the token itself (default: its length and digest)",
    )
    decode.set_defaults(func=cmd_decode)

    encode = commands.add_parser("encode", help="build a client initial response")
    encode.add_argument("--token", help="the access token; '-' reads one line from stdin")
    encode.add_argument(
        "--discovery",
        action="store_true",
        help="send an empty auth value, to learn the server's configuration",
    )
    encode.add_argument("--authzid", help="authorization identity (GS2 a=)")
    encode.add_argument(
        "-e",
        "--extension",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extension pair; repeatable, sent in order",
    )
    encode.add_argument("--gs2-flag", choices=["n", "y"], default="n")
    encode.add_argument("-o", "--output-format", choices=FORMATS, default="escaped")
    encode.set_defaults(func=cmd_encode)

    token = commands.add_parser(
        "token",
        help="mint a token: unsecured, from Kafka JAAS options or librdkafka's config; "
        "or signed, with --key",
    )
    source = token.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Kafka unsecuredLogin* JAAS option, e.g. unsecuredLoginStringClaim_sub=alice",
    )
    source.add_argument(
        "--librdkafka",
        metavar="CONFIG",
        help="librdkafka's sasl.oauthbearer.config, e.g. 'principal=alice scope=read'",
    )
    source.add_argument(
        "--key",
        metavar="PEM_FILE",
        help="sign a test JWT with this unencrypted PEM private key (RSA, EC, Ed25519/Ed448)",
    )
    signed = token.add_argument_group("signed tokens (with --key)")
    signed.add_argument(
        "--algorithm", choices=ALGORITHMS, help="the signature algorithm (default RS256)"
    )
    signed.add_argument("--kid", help="the key id, in the JWT header and the JWKS")
    signed.add_argument("--sub", help="the subject claim, the principal (required)")
    signed.add_argument("--scope", help="the scope claim, a space-delimited string")
    signed.add_argument("--issuer", help="the iss claim")
    signed.add_argument(
        "--audience",
        action="append",
        help="the aud claim; repeatable (one is a string, several an array)",
    )
    signed.add_argument(
        "--lifetime", type=int, metavar="SECONDS", help="exp - iat, in seconds (default 3600)"
    )
    signed.add_argument(
        "--claim",
        action="append",
        metavar="KEY=VALUE",
        help="another string claim; repeatable",
    )
    signed.add_argument(
        "--jwks-out", metavar="PATH", help="write the public key as a JWKS, for validate --jwks"
    )
    token.add_argument("--now", type=float, help="epoch seconds to use as the time")
    token.add_argument(
        "--json", action="store_true", help="print the token with its claims and extensions as JSON"
    )
    token.set_defaults(func=cmd_token)

    validate = commands.add_parser(
        "validate", help="validate a token as Kafka's broker does; print it or the refusal"
    )
    validate.add_argument("token", help="the token; '-' reads one line from stdin")
    _add_validator_options(validate, required=True)
    validate.add_argument("--now", type=float, help="epoch seconds to use as the time")
    validate.add_argument(
        "--show-token",
        action="store_true",
        help="print the token itself (default: its length and digest)",
    )
    validate.set_defaults(func=cmd_validate)

    broker = commands.add_parser(
        "broker",
        help="run a Kafka broker emulator that authenticates clients with OAUTHBEARER",
    )
    broker.add_argument(
        "--config",
        metavar="FILE",
        help="configure the emulator from a broker's server.properties: the listener's "
        "address, TLS key store, validator, mechanisms and limits, as Kafka reads them",
    )
    broker.add_argument(
        "--listener",
        metavar="NAME",
        help="with --config: the listener to serve (default: the one with an OAUTHBEARER "
        "JAAS entry)",
    )
    broker.add_argument(
        "--jaas-file",
        metavar="FILE",
        help="with --config: a JAAS login configuration file whose [<listener>.]KafkaServer "
        "section stands in for an unset sasl.jaas.config",
    )
    broker.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"the address to listen on (default {DEFAULT_LISTEN}, or the listener's in "
        "--config; port 0: any free port)",
    )
    broker.add_argument(
        "--advertised-host",
        help="the host named in Metadata answers (default: the --listen host, or the "
        "listener's advertised one)",
    )
    broker.add_argument(
        "--certfile",
        metavar="PEM_FILE",
        help="serve SASL_SSL with this certificate chain (PEM; the private key too, unless "
        "--keyfile)",
    )
    broker.add_argument("--keyfile", metavar="PEM_FILE", help="the certificate's private key (PEM)")
    broker.add_argument(
        "--allow-unsecured-on-network",
        action="store_true",
        help="accept unsecured tokens on an address other than loopback, where anyone who "
        "reaches the listener can mint one for any principal",
    )
    broker.add_argument(
        "--topic", action="append", default=[], help="a topic to report in Metadata; repeatable"
    )
    broker.add_argument(
        "--dialect",
        choices=[d.value for d in Dialect],
        default=Dialect.KAFKA.value,
        help="how initial responses are read (default kafka)",
    )
    broker.add_argument(
        "--max-reauth-ms",
        type=int,
        metavar="MS",
        help="Kafka's connections.max.reauth.ms: caps the session lifetime (KIP-368)",
    )
    broker.add_argument(
        "--backlog",
        type=int,
        metavar="N",
        help="connections the kernel queues before they are accepted "
        "(default: DEFAULT_BACKLOG, 1024; capped by the operating system)",
    )
    broker.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="connections served at once; more wait (default: DEFAULT_MAX_CONNECTIONS, 900)",
    )
    broker.add_argument(
        "--max-connections-per-address",
        type=int,
        metavar="N",
        help="connections from one client address; more are closed "
        "(default: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, 256)",
    )
    _add_validator_options(broker, required=False)
    broker.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="what to log on stderr (default info: every authentication)",
    )
    broker.set_defaults(func=cmd_broker)

    check = commands.add_parser(
        "check", help="check a client and broker OAuth configuration end to end, step by step"
    )
    check.add_argument("--client", metavar="FILE", help="the client's .properties file")
    check.add_argument("--broker", metavar="FILE", help="the broker's .properties file")
    check.add_argument(
        "-c",
        "--client-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a client property (after --client's file; repeatable)",
    )
    check.add_argument(
        "-b",
        "--broker-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a broker property (after --broker's file; repeatable)",
    )
    check.add_argument(
        "--jaas-file",
        metavar="FILE",
        help="a JAAS login configuration file (java.security.auth.login.config): its "
        "KafkaClient and [<listener>.]KafkaServer sections stand in for an unset "
        "sasl.jaas.config",
    )
    check.add_argument(
        "--listener", metavar="NAME", help="the broker listener to check (if several)"
    )
    check.add_argument(
        "--insecure-loopback",
        action="store_true",
        help="allow http to 127.0.0.1 (the local test identity provider)",
    )
    check.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust the CA certificates of this PEM file (instead of the system's and the "
        "JAAS trust stores) for every https call, client and broker side",
    )
    check.add_argument(
        "--json",
        action="store_true",
        help="print the steps as one JSON document (passed, failed_step, steps)",
    )
    check.set_defaults(func=cmd_check, parser=check)

    conformance = commands.add_parser(
        "conformance",
        help="run the conformance corpus against our codec or another implementation (--command)",
    )
    conformance.add_argument(
        "-d",
        "--dialect",
        choices=[d.value for d in Dialect],
        help="run the cases of one dialect only (default: both)",
    )
    conformance.add_argument(
        "--command",
        dest="command_line",
        metavar="CMD",
        help="the implementation to test: a command line that reads a message on stdin and "
        "prints a JSON verdict (see docs/conformance.md); default: our codec",
    )
    conformance.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run the cases whose id matches this shell pattern, e.g. 'authzid-*'; repeatable",
    )
    conformance.add_argument(
        "--corpus",
        metavar="FILE",
        help="a corpus file of the same format (default: the shipped one)",
    )
    conformance.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="with --command: the time the command has for one case (default 5)",
    )
    conformance.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="with --command: cases run at once (default: the number of CPUs)",
    )
    conformance.add_argument("--json", action="store_true", help="print the results as JSON")
    conformance.add_argument(
        "--junit", metavar="FILE", help="also write the results as JUnit XML, for CI"
    )
    conformance.add_argument(
        "--outcome-only",
        action="store_true",
        help="compare accept or reject only: no reason code, no field",
    )
    conformance.add_argument(
        "--no-progress",
        action="store_true",
        help="do not stream a line per result to stderr",
    )
    conformance.set_defaults(func=cmd_conformance)

    probe_parser = commands.add_parser(
        "probe",
        help="run the conformance corpus and the %%x01 flow against a live Kafka listener",
    )
    probe_parser.add_argument(
        "--bootstrap", required=True, metavar="HOST:PORT", help="the listener to probe"
    )
    probe_parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="PATTERN",
        help="probe the cases whose id matches this shell pattern ('flow-*': the exchange "
        "itself); repeatable",
    )
    probe_parser.add_argument(
        "--corpus", metavar="FILE", help="a corpus file (default: the shipped one)"
    )
    probe_parser.add_argument(
        "--expect",
        choices=["kafka", "rfc7628"],
        default="kafka",
        help="whose expectations decide the exit code (default kafka)",
    )
    probe_parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="the bound on one case (default 5)",
    )
    probe_parser.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="also send N initial responses generated from the public hypothesis strategies "
        "(ids gen-*), each judged by the codec's prediction; disagreements are shrunk",
    )
    probe_parser.add_argument(
        "--seed", type=int, default=0, help="the seed of --generate (default 0)"
    )
    probe_parser.add_argument(
        "--shrink-time",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="the bound on shrinking every disagreement (default 120; 0: none)",
    )
    probe_parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="cases in flight at once (default 4)",
    )
    probe_parser.add_argument(
        "--tls", action="store_true", help="connect over TLS (a SASL_SSL listener)"
    )
    probe_parser.add_argument(
        "--cafile", metavar="FILE", help="trust this CA bundle (PEM); implies --tls"
    )
    probe_parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the listener's certificate; implies --tls",
    )
    probe_parser.add_argument(
        "--junit", metavar="FILE", help="also write the results as JUnit XML, for CI"
    )
    probe_parser.add_argument("--json", action="store_true", help="print the results as JSON")
    probe_parser.add_argument(
        "--no-progress",
        action="store_true",
        help="do not stream a line per completed case to stderr",
    )
    probe_parser.set_defaults(func=cmd_probe)

    idp = commands.add_parser(
        "idp", help="run a local test identity provider (OAuth 2.0, JWKS, discovery) on loopback"
    )
    idp.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    idp.add_argument("--port", type=int, default=0, help="default: any free port")
    idp.add_argument("--client-id", default="demo-client", help="the sample client's id")
    idp.add_argument("--client-secret", help="the sample client's secret (default: generated)")
    idp.add_argument("--scope", action="append", help="a scope the client may ask for")
    idp.add_argument("--audience", help="the tokens' aud claim")
    idp.add_argument("--lifetime", type=int, default=3600, help="token lifetime in seconds")
    idp.add_argument(
        "--profile",
        choices=("generic", "okta", "keycloak", "entra"),
        default="generic",
        help="issue tokens in this provider's shape (docs/idp.md)",
    )
    idp.add_argument(
        "--claim",
        action="append",
        metavar="NAME=JSON",
        help='another claim in every token, its value JSON (e.g. groups=["admins"])',
    )
    idp.add_argument(
        "--scope-claim",
        metavar="NAME|none",
        help="the claim that carries the scope (default: the profile's); none: no scope claim",
    )
    idp.add_argument(
        "--opaque", action="store_true", help="issue opaque access tokens instead of JWTs"
    )
    idp.set_defaults(func=cmd_idp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        parser.exit(2, f"oauthbearer {args.command}: {exc}\n")
    except OAuthBearerError as exc:
        # The last line of defence: a library error is one line, never a traceback.
        print(f"oauthbearer {args.command}: {explain(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``oauthbearer probe ... | head``): stop quietly,
        # and point stdout at /dev/null so that the interpreter's final flush
        # does not raise again. 141 is a shell's status for SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
