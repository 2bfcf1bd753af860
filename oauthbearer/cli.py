"""The ``oauthbearer`` command: decode, encode, demo.

A thin shell over the pure codec and sessions. Exit codes: 0 success, 1 the
input was rejected (the reason is printed), 2 the command line was wrong.
Tokens are never printed unless ``--show-token`` asks for them.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from oauthbearer import __version__
from oauthbearer.errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidToken,
    MalformedMessage,
)
from oauthbearer.gs2 import ClientInitialResponse, Dialect, ErrorResponse
from oauthbearer.session import (
    Authenticated,
    ChallengeIssued,
    ChallengeReceived,
    ClientSession,
    ServerSession,
)
from oauthbearer.unsecured import (
    UnsecuredJwsValidator,
    UnsecuredLogin,
    kafka_unsecured_login,
    librdkafka_unsecured_login,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from oauthbearer.token import OAuthBearerToken

FORMATS = ("escaped", "hex", "base64", "raw")


class UsageError(Exception):
    """A command-line mistake: exit 2."""


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
    return escape(data).encode() + b"\n"


def escape(data: bytes) -> str:
    """Printable ASCII as is; everything else as ``\\xNN``."""
    return "".join(
        chr(b) if 0x20 <= b < 0x7F and b != 0x5C else ("\\\\" if b == 0x5C else f"\\x{b:02x}")
        for b in data
    )


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


def cmd_token(args: argparse.Namespace) -> int:
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


def cmd_validate(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    try:
        validator = UnsecuredJwsValidator.from_options(_key_values(args.option, "--option"))
    except ConfigurationError as exc:
        print(f"oauthbearer validate: {exc}", file=sys.stderr)
        return 2
    try:
        negotiated = validator.validate(token, now=_now(args))
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


# --- demo -----------------------------------------------------------------------------------

_DEMO_NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the demo's fixed clock


def _show(data: bytes, token: str) -> str:
    """Wire bytes for display, with the token shortened."""
    text = escape(data)
    if token:
        text = text.replace(token, f"{token[:12]}...({len(token)} chars)")
    return f"{text}   [{len(data)} bytes]"


def _demo_login(principal: str, scope: str) -> UnsecuredLogin:
    """An unsecured token as Kafka's login module builds it from JAAS options."""
    return kafka_unsecured_login(
        {
            "unsecuredLoginStringClaim_sub": principal,
            "unsecuredLoginListClaim_scope": f",{scope}",
            "unsecuredLoginExtension_traceId": f"demo-{principal}",
        },
        now=_DEMO_NOW,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    del args
    out: Callable[[str], None] = print
    issuer = "https://idp.example/.well-known/openid-configuration"
    # The broker side, as Kafka's unsecured validator with
    # unsecuredValidatorRequiredScope="kafka-cluster".
    validator = UnsecuredJwsValidator(required_scope=("kafka-cluster",))
    out("oauthbearer demo: two RFC 7628 exchanges in memory, no network.")
    out("The broker validates Kafka's unsecured tokens and requires scope 'kafka-cluster'.\n")

    out("1. alice, with scope kafka-cluster")
    alice = _demo_login("alice", "kafka-cluster")
    client = ClientSession(alice.token.value, extensions=alice.extensions)
    server = ServerSession(validator, dialect=Dialect.KAFKA, openid_configuration=issuer)
    first = client.initial_response()
    out(f"   client -> server  {_show(first, alice.token.value)}")
    result = server.receive(first, now=_DEMO_NOW)
    if not isinstance(result, Authenticated):
        out("   unexpected: the server refused a valid token")
        return 1
    out(
        f"   server            accepted: principal {result.token.principal!r}, "
        f"scope {sorted(result.token.scope)}, extensions {dict(result.extensions)}"
    )
    out("   server -> client  (success, no data)")
    client.receive(b"")
    out(f"   client            {client.state.name}; server {server.state.name}")
    lifetime = server.session_lifetime_ms(now_ms=int(_DEMO_NOW * 1000), max_reauth_ms=600_000)
    out(f"   server            KIP-368 session lifetime (max reauth 600000 ms): {lifetime} ms\n")

    out("2. mallory, with scope read only: error challenge, %x01, failure")
    mallory = _demo_login("mallory", "read")
    client = ClientSession(mallory.token.value)
    server = ServerSession(validator, dialect=Dialect.KAFKA, openid_configuration=issuer)
    first = client.initial_response()
    out(f"   client -> server  {_show(first, mallory.token.value)}")
    issued = server.receive(first, now=_DEMO_NOW)
    if not isinstance(issued, ChallengeIssued):
        out("   unexpected: the server accepted a token without the required scope")
        return 1
    out(f"   server -> client  {_show(issued.reply, '')}")
    challenge = client.receive(issued.reply)
    if not isinstance(challenge, ChallengeReceived):
        return 1
    out(f"   client -> server  {_show(challenge.reply, '')}")
    try:
        server.receive(challenge.reply)
    except AuthenticationFailed as exc:
        out(f"   server            exchange failed; reports {exc.message}")
        try:
            client.receive_outcome(success=False, message=exc.message)
        except AuthenticationFailed as failure:
            out(
                f"   client            AuthenticationFailed: status={failure.status!r}, "
                f"scope={failure.scope!r}"
            )
    out(f"   client            {client.state.name}; server {server.state.name}\n")
    out("Both exchanges ended as RFC 7628 says they must.")
    return 0


# --- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauthbearer", description="SASL OAUTHBEARER (RFC 7628) tools."
    )
    parser.add_argument("--version", action="version", version=f"oauthbearer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run an in-memory exchange, printed step by step")
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
        "token", help="mint an unsecured token from Kafka JAAS options or librdkafka's config"
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
    token.add_argument("--now", type=float, help="epoch seconds to use as the time")
    token.add_argument(
        "--json", action="store_true", help="print the token with its claims and extensions as JSON"
    )
    token.set_defaults(func=cmd_token)

    validate = commands.add_parser(
        "validate", help="validate a token as Kafka's broker does; print it or the refusal"
    )
    validate.add_argument("token", help="the token; '-' reads one line from stdin")
    validate.add_argument(
        "--unsecured",
        action="store_true",
        required=True,
        help="validate as Kafka's unsecured validator (the only kind so far)",
    )
    validate.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Kafka unsecuredValidator* option, e.g. unsecuredValidatorRequiredScope=read",
    )
    validate.add_argument("--now", type=float, help="epoch seconds to use as the time")
    validate.add_argument(
        "--show-token",
        action="store_true",
        help="print the token itself (default: its length and digest)",
    )
    validate.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        parser.exit(2, f"oauthbearer {args.command}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
