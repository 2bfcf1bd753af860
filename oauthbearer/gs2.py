"""The OAUTHBEARER message codec: client initial responses and error responses.

Theory of operation
-------------------
RFC 7628 section 3.1 defines the client's message as a GS2 header (RFC 5801
section 4), a ``%x01`` separator, ``key=value%x01`` pairs and a final ``%x01``;
the pair ``auth`` carries ``Bearer <b64token>`` (RFC 6750 section 2.1). When a
token is refused, the server answers with a JSON error object (RFC 7628 section
3.2.2) and the client replies with one ``%x01`` byte.

Decoding is one pass, :func:`_decode`, in two stages, and each rule is
decided in one place. The *structure* stage reads the GS2 header (a plain
``n,,`` at a glance, any other through :func:`_read_header`), then the pairs:
one ``bytes.translate`` checks every byte against the value alphabet and each
pair's shape is checked on text (``partition``, ``isalpha``), all in C, at a
fraction of a regular expression's per-byte cost. A first ``auth`` pair is read
by index, so that the ~1 KB token is copied once and checked once (a b64token
is made of value bytes: checking it checks its pair too). Only once these
checks have refused does :func:`_pairs_fault` walk the pairs' grammar, to name
the first offending byte and its offset: it explains a refusal, never decides
one. The *meaning* stage decodes the authzid's UTF-8, and settles the common
shape (``auth`` first, no duplicate, no ``port``, few pairs) with a few set
tests; :func:`_read_pairs` reads the pairs in wire order for any other shape
(duplicates, ``port``, the count, ``auth`` elsewhere or spelled otherwise).
The message is built through its private constructor, :func:`_new_message`.

Two dialects are spoken. :attr:`Dialect.RFC7628` is the strict reading of the
RFCs. :attr:`Dialect.KAFKA` accepts and rejects exactly what Apache Kafka's
broker does (``OAuthBearerClientInitialResponse``), reports Kafka's own message
texts in :attr:`MalformedMessage.kafka_message`, and refines them with the same
reason codes and offsets as the strict dialect.

Every limit is a named constant below, with its reason. Oversize input is
refused before any work proportional to its size.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
from collections.abc import Mapping
from typing import Final

from oauthbearer._json import StrictJsonError, loads_strict
from oauthbearer._slots import slot_setters
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, MalformedMessage

__all__ = [
    "KAFKA_MAX_RECEIVE_SIZE",
    "MAX_ERROR_RESPONSE_SIZE",
    "MAX_EXTENSIONS",
    "MAX_INITIAL_RESPONSE_SIZE",
    "ClientInitialResponse",
    "Dialect",
    "ErrorResponse",
    "check_extensions",
    "is_b64token",
]

# --- Limits ---------------------------------------------------------------------

#: Largest initial response the strict dialect reads: what PostgreSQL 18's
#: server reads. Its limit, PG_MAX_AUTH_TOKEN_LENGTH (65,535), bounds the whole
#: SASLInitialResponse message, whose length word (4 bytes), mechanism name
#: ("OAUTHBEARER" and a NUL, 12) and response length (4) leave 65,515 bytes
#: for the response; measured against the server (tests/test_postgres_differential.py).
#: Real JWTs, even Entra ID ones with group claims, stay well below 16 KiB;
#: anything larger is an attack or a bug.
MAX_INITIAL_RESPONSE_SIZE: Final = 65_535 - 20

#: Largest initial response the Kafka dialect reads: the default of Kafka's
#: broker setting ``sasl.server.max.receive.size``, so that the dialect accepts
#: what Kafka accepts.
KAFKA_MAX_RECEIVE_SIZE: Final = 524_288

#: Most extension pairs (pairs other than ``auth``) the strict dialect reads.
#: Real clients send a handful; Kafka has no count limit, only its size limit.
MAX_EXTENSIONS: Final = 64

#: Largest error response read: a status, a scope and one URL fit in far less.
MAX_ERROR_RESPONSE_SIZE: Final = 8_192

# --- Grammar --------------------------------------------------------------------

#: RFC 7628 section 3.1: ``kvsep = %x01``.
KVSEP: Final = b"\x01"

#: RFC 7628 section 3.1: ``key = 1*(ALPHA)`` and ``value = *(VCHAR / SP / HTAB / CR /
#: LF)``, as runs: the scanner skips whole runs of valid bytes at once.
_VALUE_BYTES: Final = bytes([*range(0x21, 0x7F), 0x20, 0x09, 0x0D, 0x0A])
_KEY_RUN: Final = re.compile(rb"[A-Za-z]*")
_VALUE_RUN: Final = re.compile(b"[" + re.escape(_VALUE_BYTES) + b"]*")
_VALUE: Final = re.compile("[" + re.escape(_VALUE_BYTES.decode("ascii")) + "]*")
#: Every byte the pairs may hold: checked with ``bytes.translate``, as below.
_VALUE_BYTES_AND_KVSEP: Final = _VALUE_BYTES + KVSEP

#: RFC 6750 section 2.1: ``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
#: "+" / "/" ) *"="``. Checked with ``bytes.translate(None, _B64_BYTES)``: what
#: is left over after deleting the alphabet is what does not belong.
_B64_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"

#: RFC 7235 section 2.1: ``auth-scheme = token`` (RFC 7230 section 3.2.6 tchar),
#: then ``1*SP`` (RFC 6750 section 2.1), then the credentials.
_RFC_AUTH: Final = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)( +)(.*)", re.DOTALL)

#: Kafka's ``AUTH_PATTERN``: a word, one or more spaces, then the token.
_KAFKA_AUTH: Final = re.compile(r"([A-Za-z0-9_]+)( +)([-_~+/.A-Za-z0-9]+=*)")

#: RFC 7628 section 3.1: ``port`` is a decimal positive integer without leading zeros.
_PORT: Final = re.compile(r"[1-9][0-9]{0,4}")

#: RFC 6749 appendix A.7: ``error = 1*NQSCHAR``, ``NQSCHAR = %x20-21 / %x23-5B / %x5D-7E``.
_STATUS: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")

#: Characters no field of an error response may hold: C0 controls and DEL.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

#: RFC 5801 section 4: ``saslname = 1*(UTF8-char-safe / "=2C" / "=3D")``, as runs
#: of bytes other than NUL, "," and "="; Kafka's ``SASLNAME`` is ASCII only.
_RFC_SASLNAME_RUN: Final = re.compile(rb"[\x01-\x2b\x2d-\x3c\x3e-\xff]*")
_KAFKA_SASLNAME_RUN: Final = re.compile(rb"[\x01-\x2b\x2d-\x3c\x3e-\x7f]*")

_AUTH_KEY: Final = "auth"

# Kafka's own message texts (OAuthBearerClientInitialResponse).
_KAFKA_INVALID: Final = "Invalid OAUTHBEARER client first message"
_KAFKA_NO_AUTH: Final = "Invalid OAUTHBEARER client first message: 'auth' not specified"
_KAFKA_BAD_AUTH: Final = "Invalid OAUTHBEARER client first message: invalid 'auth' format"
_KAFKA_BAD_SCHEME: Final = "Invalid scheme in OAUTHBEARER client first message"


class Dialect(enum.StrEnum):
    """Which peer's rules a decoder follows."""

    #: The strict reading of RFC 7628, RFC 5801 and RFC 6750.
    RFC7628 = "rfc7628"
    #: Exactly what Apache Kafka's broker accepts and rejects.
    KAFKA = "kafka"


# Module-level names for the members: attribute access on an Enum class costs
# more than a global lookup, and decode() checks the dialect on every call.
_RFC7628: Final = Dialect.RFC7628
_KAFKA: Final = Dialect.KAFKA


def _coerce_dialect(dialect: Dialect | str) -> Dialect:
    try:
        return Dialect(dialect)
    except ValueError:
        raise ConfigurationError(
            f"dialect must be one of {[d.value for d in Dialect]}, not {dialect!r}"
        ) from None


def _describe(byte: int) -> str:
    """A byte as an error message shows it: printable ASCII quoted, else hex."""
    if 0x21 <= byte <= 0x7E:
        return f"{chr(byte)!r}"
    return f"0x{byte:02x}"


# --- ClientInitialResponse ----------------------------------------------------------


def check_extensions(extensions: Mapping[str, str]) -> dict[str, str]:
    """Check extension pairs as the encoder does (RFC 7628 section 3.1 keys and
    values, ``port``, at most :data:`MAX_EXTENSIONS`); returns a plain copy in
    the given order. A bad pair is a :class:`~oauthbearer.errors.ConfigurationError`."""
    if type(extensions) is not dict and not isinstance(extensions, Mapping):
        raise ArgumentTypeError("extensions must be a mapping of str to str")
    checked: dict[str, str] = {}
    for key, value in extensions.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ArgumentTypeError("extension names and values must be strings")
        if key == _AUTH_KEY:
            raise ConfigurationError("extension name 'auth' is reserved for the token")
        if not (key.isascii() and key.isalpha()):
            raise ConfigurationError(
                f"extension name {key!r} is invalid: RFC 7628 keys are 1*ALPHA"
            )
        if not _is_value(value):
            raise ConfigurationError(
                f"extension {key!r} has a value outside RFC 7628's VCHAR / SP / HTAB / CR / LF"
            )
        if key == "port" and not _is_port(value):
            raise ConfigurationError(
                "extension 'port' must be a decimal port number without leading zeros"
            )
        checked[key] = value
    if len(checked) > MAX_EXTENSIONS:
        raise ConfigurationError(f"at most {MAX_EXTENSIONS} extensions can be sent")
    return checked


def _is_value(value: str) -> bool:
    # VCHAR and SP are exactly the printable ASCII characters; HTAB, CR, LF are rare.
    return value.isascii() and (value.isprintable() or _VALUE.fullmatch(value) is not None)


def is_b64token(token: str) -> bool:
    """RFC 6750 section 2.1's ``b64token`` test, for modules that check a token
    outside the codec (a token endpoint's answer, an adapter's token)."""
    return token.isascii() and _is_b64token_bytes(token.encode("ascii"))


def _is_b64token_bytes(token: bytes) -> bool:
    """The b64token rule, on bytes: the one place it is decided."""
    padless = token.rstrip(b"=")
    return bool(padless) and not padless.translate(None, _B64_BYTES)


def _is_port(value: str) -> bool:
    return _PORT.fullmatch(value) is not None and int(value) <= 65535


def _escape_saslname(name: str) -> str:
    # RFC 5801 section 4: "," and "=" are sent as "=2C" and "=3D".
    return name.replace("=", "=3D").replace(",", "=2C")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientInitialResponse:
    """The client's OAUTHBEARER message (RFC 7628 section 3.1).

    ``ClientInitialResponse(token, authzid=..., extensions=...)`` validates every
    field, so :meth:`encode` can only produce bytes that the strict decoder
    accepts. ``extensions`` is a mapping in wire order, without ``auth``;
    :attr:`host` and :attr:`port` read the two extensions RFC 7628 names.

    ``scheme`` is the authentication scheme as sent (``Bearer``, compared
    case-insensitively) and ``gs2_flag`` the GS2 channel-binding flag (``n``, or
    ``y`` for a client that supports channel binding but believes the server
    does not). A discovery request (:meth:`discovery`) has an empty ``auth``
    value: its ``token`` and ``scheme`` are both empty.
    """

    token: str = dataclasses.field(repr=False)
    _: dataclasses.KW_ONLY
    authzid: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    scheme: str = "Bearer"
    gs2_flag: str = "n"

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not isinstance(self.scheme, str):
            raise ArgumentTypeError("token and scheme must be strings")
        if self.token or self.scheme:
            if self.scheme != "Bearer" and self.scheme.lower() != "bearer":
                raise ConfigurationError("scheme must be 'Bearer' (in any letter case)")
            if not is_b64token(self.token):
                raise ConfigurationError(
                    "token is not an RFC 6750 b64token (letters, digits, -._~+/ then '='s); "
                    "use ClientInitialResponse.discovery() for an empty auth value"
                )
        if self.authzid is not None:
            if not isinstance(self.authzid, str):
                raise ArgumentTypeError("authzid must be a string or None")
            if not self.authzid or "\x00" in self.authzid:
                raise ConfigurationError("authzid must be non-empty and free of NUL")
            try:
                self.authzid.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigurationError("authzid is not encodable as UTF-8") from None
        if self.gs2_flag not in ("n", "y"):
            raise ConfigurationError(
                "gs2_flag must be 'n' or 'y': OAUTHBEARER has no channel binding"
            )
        extensions = check_extensions({} if self.extensions is None else self.extensions)
        object.__setattr__(self, "extensions", types.MappingProxyType(extensions))

    def __hash__(self) -> int:
        # Equality ignores the order of extensions (a mapping compares so); so must the hash.
        return hash(
            (
                self.token,
                self.authzid,
                frozenset(self.extensions.items()),
                self.scheme,
                self.gs2_flag,
            )
        )

    @classmethod
    def discovery(
        cls, *, authzid: str | None = None, extensions: Mapping[str, str] | None = None
    ) -> ClientInitialResponse:
        """A discovery request: an empty ``auth`` value, sent (as libpq does) to learn
        the server's ``openid-configuration`` from the error challenge it provokes."""
        return cls("", authzid=authzid, extensions=extensions or {}, scheme="")

    @property
    def is_discovery(self) -> bool:
        """True for a request with an empty ``auth`` value."""
        return not self.token

    @property
    def host(self) -> str | None:
        """The ``host`` extension (RFC 7628 section 3.1), if sent."""
        return self.extensions.get("host")

    @property
    def port(self) -> int | None:
        """The ``port`` extension (RFC 7628 section 3.1) as a number, if sent."""
        value = self.extensions.get("port")
        return None if value is None or not _is_port(value) else int(value)

    def encode(self) -> bytes:
        """The message bytes: ``auth`` first, then the extensions in order."""
        header = (
            f"{self.gs2_flag},,"
            if self.authzid is None
            else f"{self.gs2_flag},a={_escape_saslname(self.authzid)},"
        )
        auth = f"{self.scheme} {self.token}" if self.token else ""
        pairs = "".join([f"{key}={value}\x01" for key, value in self.extensions.items()])
        return f"{header}\x01auth={auth}\x01{pairs}\x01".encode()

    @classmethod
    def decode(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        dialect: Dialect | str = Dialect.RFC7628,
        max_size: int | None = None,
    ) -> ClientInitialResponse:
        """Parse a client initial response, or raise :class:`MalformedMessage`.

        ``max_size`` defaults to :data:`MAX_INITIAL_RESPONSE_SIZE`, or to
        :data:`KAFKA_MAX_RECEIVE_SIZE` in Kafka's dialect.
        """
        kafka = dialect is not _RFC7628 and (
            dialect is _KAFKA or _coerce_dialect(dialect) is _KAFKA
        )
        if type(data) is not bytes:
            if not isinstance(data, bytearray | memoryview):
                raise ArgumentTypeError(
                    f"data must be bytes, bytearray or memoryview, not {type(data).__name__}"
                )
            data = bytes(data)
        limit = (
            max_size
            if max_size is not None
            else (KAFKA_MAX_RECEIVE_SIZE if kafka else MAX_INITIAL_RESPONSE_SIZE)
        )
        if len(data) > limit:
            raise MalformedMessage(
                "too-large",
                f"message of {len(data)} bytes exceeds the limit of {limit}",
                offset=limit,
                kafka_message=_KAFKA_INVALID if kafka else None,
            )
        return _decode(data, kafka)


#: The slot descriptors' setters of :class:`ClientInitialResponse`, in field
#: order: how :func:`_new_message` fills a frozen message.
_SET_TOKEN, _SET_AUTHZID, _SET_EXTENSIONS, _SET_SCHEME, _SET_GS2_FLAG = slot_setters(
    ClientInitialResponse
)
_new_object = object.__new__
_read_only = types.MappingProxyType


def _new_message(
    token: str, authzid: str | None, extensions: dict[str, str], scheme: str, gs2_flag: str
) -> ClientInitialResponse:
    """The message's private constructor: fields the decoder has checked, set
    without ``__post_init__`` (a decode builds one per call: its hot path),
    through the slots' descriptors (:mod:`oauthbearer._slots`)."""
    message = _new_object(ClientInitialResponse)
    _SET_TOKEN(message, token)
    _SET_AUTHZID(message, authzid)
    _SET_EXTENSIONS(message, _read_only(extensions))
    _SET_SCHEME(message, scheme)
    _SET_GS2_FLAG(message, gs2_flag)
    return message


def _decode(raw: bytes, kafka: bool) -> ClientInitialResponse:
    """The decoder: the message, or :class:`MalformedMessage` for its first fault.

    Structure first, then meaning (see the theory of operation). Each rule is
    decided once, by whole-buffer checks that run in C; :func:`_pairs_fault`
    walks the bytes only after they have refused, to say where, and
    :func:`_read_pairs` runs only for the shapes they leave open.
    """
    # --- Structure. Nearly every real client sends "n,,", auth first, "Bearer"
    # and one space: one test finds that shape. Otherwise the header is read
    # (a plain "n,," at a glance), and auth located if it comes first.
    if raw.startswith(b"n,,\x01auth=Bearer "):
        flag, authzid_raw, authzid_offset, start = "n", None, 0, 4
        scheme, space = b"Bearer", 15
    else:
        if raw.startswith(b"n,,\x01"):
            flag, authzid_raw, authzid_offset, start = "n", None, 0, 4
        else:
            flag, authzid_raw, authzid_offset, start = _read_header(raw, kafka)
        scheme, space = b"", -1
        if raw.startswith(b"auth=", start):
            space = raw.find(b" ", start + 5)
            scheme = raw[start + 5 : space]
    pairs_offset = start
    # A first auth pair is read by index, so that the token is copied once and
    # checked once (a b64token is made of value bytes: checking it checks the
    # pair's structure too). One read here is complete; any other auth pair is
    # left with the rest of the pairs.
    auth_first = False
    scheme_text = ""
    token = b""
    if space > 0 and (scheme == b"Bearer" or scheme.lower() == b"bearer"):
        end = raw.find(b"\x01", space)
        if end > 0:
            while raw[space + 1] == 0x20:  # 1*SP; the %x01 at end stops the loop
                space += 1
            token = raw[space + 1 : end]
            if _is_b64token_bytes(token):
                auth_first = True
                scheme_text = "Bearer" if scheme == b"Bearer" else scheme.decode("ascii")
                start = end + 1
    # The pairs, then the final %x01. One translate checks every byte (keys and
    # "=" are value bytes too); each pair's shape is then checked on text. A
    # regex here would cost more in call overhead alone.
    rest = raw[start:]
    extensions: dict[str, str] = {}
    items: list[str] = []
    if rest != b"\x01":
        if rest.translate(None, _VALUE_BYTES_AND_KVSEP) or not raw.endswith(b"\x01\x01"):
            raise _pairs_fault(raw, pairs_offset, kafka)
        items = raw[start:-2].decode("ascii").split("\x01")
        for item in items:
            name, equals, value = item.partition("=")
            if not equals or not name.isalpha() or (kafka and not value):
                raise _pairs_fault(raw, pairs_offset, kafka)  # Kafka refuses empty values
            extensions[name] = value

    # --- Meaning.
    authzid = None if authzid_raw is None else _authzid_text(authzid_raw, authzid_offset, kafka)
    if (
        auth_first
        and len(extensions) == len(items)  # fewer names than pairs: a duplicate
        and "port" not in extensions
        and _AUTH_KEY not in extensions
        and len(extensions) <= MAX_EXTENSIONS
    ):
        return _new_message(token.decode("ascii"), authzid, extensions, scheme_text, flag)
    scheme_text, token_text, extensions = _read_pairs(
        items, start, (scheme_text, token.decode("ascii")) if auth_first else None, raw, kafka
    )
    return _new_message(token_text, authzid, extensions, scheme_text, flag)


def _fault(reason: str, detail: str, offset: int, kafka: bool) -> MalformedMessage:
    """A structural fault: Kafka reports every one with the same text."""
    return MalformedMessage(
        reason, detail, offset=offset, kafka_message=_KAFKA_INVALID if kafka else None
    )


def _truncated(data: bytes, what: str, kafka: bool) -> MalformedMessage:
    return _fault("truncated", f"message ends where {what} should be", len(data), kafka)


def _read_header(data: bytes, kafka: bool) -> tuple[str, bytes | None, int, int]:
    """The GS2 header and the %x01 after it, or a fault at its first offending byte.

    Returns the GS2 flag, the raw authzid (``None`` if absent) and its offset,
    and where the pairs begin.
    """
    end = len(data)
    # gs2-cb-flag = ("p=" cb-name) / "n" / "y"   (RFC 5801 section 4)
    if end == 0:
        raise _truncated(data, "the GS2 channel-binding flag", kafka)
    flag = data[0]
    if flag == ord("p"):
        raise _fault(
            "channel-binding",
            "channel binding ('p=') is requested, but OAUTHBEARER has no channel binding",
            0,
            kafka,
        )
    if flag == ord("y") and kafka:
        raise _fault("invalid-gs2-header", "Kafka accepts only the GS2 flag 'n', not 'y'", 0, kafka)
    if flag not in (ord("n"), ord("y")):
        if data == KVSEP:
            detail = "a lone %x01 answers an error challenge; it is not an initial response"
        elif flag == ord("F"):
            detail = "the non-standard GSS-API flag 'F' does not apply to OAUTHBEARER"
        else:
            detail = f"expected the GS2 flag 'n' or 'y', found {_describe(flag)}"
        raise _fault("invalid-gs2-header", detail, 0, kafka)
    if end <= 1:
        raise _truncated(data, "',' after the GS2 flag", kafka)
    if data[1] != ord(","):
        raise _fault(
            "invalid-gs2-header",
            f"expected ',' after the GS2 flag, found {_describe(data[1])}",
            1,
            kafka,
        )
    pos = 2
    # [gs2-authzid] = "a=" saslname   (RFC 5801 section 4)
    if pos >= end:
        raise _truncated(data, "',' or an authzid", kafka)
    if data[pos] == ord("a"):
        if pos + 1 >= end:
            raise _truncated(data, "'=' after 'a'", kafka)
        if data[pos + 1] != ord("="):
            raise _fault(
                "invalid-gs2-header",
                f"expected 'a=' to start the authzid, found {_describe(data[pos + 1])}",
                pos + 1,
                kafka,
            )
        pos += 2
        start = pos
        run = _KAFKA_SASLNAME_RUN if kafka else _RFC_SASLNAME_RUN
        while True:
            pos = _run_end(run, data, pos)
            if pos >= end:
                raise _truncated(data, "the end of the authzid (',')", kafka)
            byte = data[pos]
            if byte == ord(","):
                break
            if byte == 0:
                raise _fault("invalid-authzid", "the authzid contains NUL", pos, kafka)
            if byte >= 0x80:
                raise _fault("invalid-authzid", "Kafka accepts only an ASCII authzid", pos, kafka)
            # byte is "=": only the escapes "=2C" and "=3D" may follow.
            if data[pos + 1 : pos + 3] not in (b"2C", b"3D"):
                raise _fault(
                    "invalid-authzid",
                    "'=' in the authzid must start the escape '=2C' or '=3D'",
                    pos,
                    kafka,
                )
            pos += 3
        if pos == start:
            raise _fault("invalid-authzid", "the authzid after 'a=' is empty", pos, kafka)
        authzid, authzid_offset = data[start:pos], start
    else:
        authzid, authzid_offset = None, pos
    if data[pos] != ord(","):
        if data[pos] == ord('"') and data[pos + 1 : pos + 3] == b"a=":
            detail = "the authzid is quoted ('\"a='), as KafkaJS sends it; RFC 5801 has no quotes"
        else:
            detail = f"expected ',' to end the GS2 header, found {_describe(data[pos])}"
        raise _fault("invalid-gs2-header", detail, pos, kafka)
    pos += 1
    # client-resp = gs2-header kvsep *kvpair kvsep   (RFC 7628 section 3.1)
    if pos >= end:
        raise _truncated(data, "%x01 after the GS2 header", kafka)
    if data[pos] != KVSEP[0]:
        raise _fault(
            "missing-kvsep",
            f"expected %x01 after the GS2 header, found {_describe(data[pos])}",
            pos,
            kafka,
        )
    return chr(flag), authzid, authzid_offset, pos + 1


def _pairs_fault(data: bytes, pos: int, kafka: bool) -> MalformedMessage:
    """The fault at the first offending byte of pairs that :func:`_decode` refused.

    This is the readable statement of the pairs' grammar, walked from ``pos``
    (where the pairs begin). It explains a refusal and never decides one: it
    runs only on pairs already found malformed, so it always finds a fault.
    Runs of valid bytes are skipped at C speed, so even a maximal message
    costs little.
    """
    end = len(data)
    while True:
        if pos >= end:
            return _fault("missing-terminator", "message ends without the final %x01", end, kafka)
        if data[pos] == KVSEP[0]:
            # The final %x01 of refused pairs: something follows it.
            return _fault(
                "trailing-data", f"{end - pos - 1} byte(s) follow the final %x01", pos + 1, kafka
            )
        # kvpair = key "=" value kvsep;  key = 1*(ALPHA)
        key_start = pos
        pos = _run_end(_KEY_RUN, data, pos)
        if pos >= end:
            return _truncated(data, "'=' after a key", kafka)
        if data[pos] != ord("="):
            return _fault(
                "invalid-key",
                f"a key may hold only letters; found {_describe(data[pos])}",
                pos,
                kafka,
            )
        if pos == key_start:
            return _fault("invalid-key", "empty key before '='", pos, kafka)
        pos += 1
        # value = *(VCHAR / SP / HTAB / CR / LF)
        value_start = pos
        pos = _run_end(_VALUE_RUN, data, pos)
        if pos >= end:
            return _truncated(data, "%x01 after a value", kafka)
        if data[pos] != KVSEP[0]:
            return _fault(
                "invalid-value",
                f"a value may hold only VCHAR, SP, HTAB, CR and LF; found {_describe(data[pos])}",
                pos,
                kafka,
            )
        if kafka and pos == value_start:
            return _fault("invalid-value", "Kafka requires a non-empty value", pos, kafka)
        pos += 1


def _run_end(run: re.Pattern[bytes], data: bytes, pos: int) -> int:
    """Where the run of bytes that ``run`` allows, starting at ``pos``, ends."""
    match = run.match(data, pos)
    return pos if match is None else match.end()


def _read_pairs(
    items: list[str], offset: int, auth: tuple[str, str] | None, data: bytes, kafka: bool
) -> tuple[str, str, dict[str, str]]:
    """The pairs' meaning, in wire order: duplicate keys, ``auth``, ``port``, the count.

    For the shapes :func:`_decode`'s checks leave open (a duplicate, a
    ``port``, many pairs, ``auth`` not first or not plainly ``Bearer``), on
    pairs whose structure is valid. ``items`` are the pairs as text without
    their %x01, from ``offset``; ``auth`` the scheme and token when ``_decode``
    read auth first. Returns the scheme, the token and the extensions.
    """
    extensions: dict[str, str] = {}
    last_auth: tuple[str, int] | None = None
    for item in items:
        key, _, value = item.partition("=")
        if key == _AUTH_KEY:
            if kafka:
                # Kafka keeps the last of duplicate keys (a HashMap), 'auth' included.
                last_auth = value, offset + 5
            elif auth is not None:
                raise MalformedMessage(
                    "duplicate-key", "'auth' appears a second time", offset=offset
                )
            else:
                auth = _parse_rfc_auth(value, offset + 5)
        elif kafka:
            extensions[key] = value
        else:
            if key in extensions:
                raise MalformedMessage(
                    "duplicate-key", f"key {key!r} appears a second time", offset=offset
                )
            if len(extensions) == MAX_EXTENSIONS:
                raise MalformedMessage(
                    "too-many-extensions",
                    f"more than {MAX_EXTENSIONS} extension pairs",
                    offset=offset,
                )
            if key == "port" and not _is_port(value):
                raise MalformedMessage(
                    "invalid-port",
                    "'port' must be a decimal port number without leading zeros",
                    offset=offset + 5,
                )
            extensions[key] = value
        offset += len(item) + 1
    if last_auth is not None:
        auth = _parse_kafka_auth(*last_auth)
    if auth is None:
        raise MalformedMessage(
            "missing-auth",
            "no 'auth' pair",
            offset=len(data) - 1,
            kafka_message=_KAFKA_NO_AUTH if kafka else None,
        )
    return auth[0], auth[1], extensions


def _authzid_text(raw: bytes, offset: int, kafka: bool) -> str:
    """The authzid as text, or a fault at its first byte that is not UTF-8.

    The strict dialect decodes UTF-8 and then the escapes =2C and =3D (RFC 5801
    section 4); Kafka keeps the ASCII saslname as sent, escapes included.
    """
    if kafka:
        return raw.decode("ascii")  # the header's walk let only ASCII through
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(
            "invalid-authzid", "the authzid is not valid UTF-8", offset=offset + exc.start
        ) from None
    return text.replace("=2C", ",").replace("=3D", "=")


def _parse_rfc_auth(value: str, offset: int) -> tuple[str, str]:
    """``auth`` in the strict dialect: ``scheme 1*SP b64token``, or empty (discovery)."""
    if not value:
        return "", ""
    match = _RFC_AUTH.fullmatch(value)
    if match is None:
        raise MalformedMessage(
            "invalid-auth",
            "'auth' must be an HTTP authentication scheme, one or more spaces, and a token",
            offset=offset,
        )
    scheme, spaces, token = match.group(1, 2, 3)
    if scheme.lower() != "bearer":
        raise MalformedMessage(
            "unsupported-scheme", f"scheme {scheme!r} is not 'Bearer'", offset=offset
        )
    token_offset = offset + len(scheme) + len(spaces)
    if not is_b64token(token):
        bad = _first_non_b64token(token)
        raise MalformedMessage(
            "invalid-token-syntax",
            "the token is not an RFC 6750 b64token",
            offset=token_offset + bad,
        )
    return scheme, token


def _first_non_b64token(token: str) -> int:
    """Index of the first character that keeps ``token`` from being a b64token."""
    index = len(token) - len(token.lstrip(_B64_BYTES.decode()))
    if index == 0:
        return 0
    return len(token) - len(token[index:].lstrip("="))


def _parse_kafka_auth(value: str, offset: int) -> tuple[str, str]:
    """``auth`` as Kafka's ``AUTH_PATTERN`` reads it, with Kafka's messages."""
    match = _KAFKA_AUTH.fullmatch(value)
    if match is None:
        raise MalformedMessage(
            "invalid-auth",
            "'auth' must be a word, one or more spaces and a token of [-_~+/.A-Za-z0-9]+ "
            "then optional '='s",
            offset=offset,
            kafka_message=_KAFKA_BAD_AUTH,
        )
    scheme, _, token = match.group(1, 2, 3)
    if scheme.lower() != "bearer":
        # Kafka means to report this, but its broker fails with an internal
        # error instead (it asks the wrong matcher for the scheme); we report
        # what it means to.
        raise MalformedMessage(
            "unsupported-scheme",
            f"scheme {scheme!r} is not 'bearer'",
            offset=offset,
            kafka_message=f"{_KAFKA_BAD_SCHEME}: {scheme}",
        )
    return scheme, token


# --- ErrorResponse --------------------------------------------------------------------


def _bad_challenge(reason: str, detail: str, *, offset: int | None) -> MalformedMessage:
    # A bad challenge comes from the server: no RFC 7628 status describes it.
    return MalformedMessage(reason, detail, offset=offset, status=None)


def _check_text(field: str, value: object, *, required: bool) -> None:
    """An error-response field: a string without control characters, encodable as UTF-8."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise ArgumentTypeError(f"ErrorResponse.{field} must be a string")
    if not value or _CONTROL.search(value):
        raise ConfigurationError(
            f"ErrorResponse.{field} must be non-empty and free of control characters"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"ErrorResponse.{field} is not encodable as UTF-8") from None


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The server's error challenge (RFC 7628 section 3.2.2).

    ``status`` is an RFC 6749 error code (``invalid_token``,
    ``insufficient_scope``, ``invalid_request``, ...); ``scope`` the scope the
    token lacked; ``openid_configuration`` the URL of the server's OpenID
    Connect discovery document. :attr:`scopes` also reads Kafka's list form.
    """

    status: str
    _: dataclasses.KW_ONLY
    scope: str | None = None
    openid_configuration: str | None = None

    def __post_init__(self) -> None:
        _check_text("status", self.status, required=True)
        if not _STATUS.fullmatch(self.status):
            raise ConfigurationError(
                "ErrorResponse.status must be an RFC 6749 error code (printable ASCII, "
                "no '\"' or '\\')"
            )
        _check_text("scope", self.scope, required=False)
        _check_text("openid_configuration", self.openid_configuration, required=False)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scope as a tuple: RFC 6749 space-delimited, or Kafka's ``[a, b]``."""
        if self.scope is None:
            return ()
        if self.scope.startswith("[") and self.scope.endswith("]"):
            # Kafka writes a Java List's toString(): "[a, b]".
            return tuple(item for item in self.scope[1:-1].split(", ") if item)
        return tuple(item for item in self.scope.split(" ") if item)

    def to_json(self) -> dict[str, str]:
        """The JSON object, as a dict with the RFC's member names."""
        obj = {"status": self.status}
        if self.scope is not None:
            obj["scope"] = self.scope
        if self.openid_configuration is not None:
            obj["openid-configuration"] = self.openid_configuration
        return obj

    def encode(self) -> bytes:
        """Compact JSON, UTF-8."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(
        cls, data: bytes | bytearray | memoryview, *, max_size: int = MAX_ERROR_RESPONSE_SIZE
    ) -> ErrorResponse:
        """Parse an error challenge strictly, or raise :class:`MalformedMessage`.

        A JSON object in UTF-8 with a string ``status``; ``scope`` and
        ``openid-configuration``, when present, strings; no member twice.
        Unknown members are ignored, as RFC 7628 leaves room for them.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArgumentTypeError(
                f"data must be bytes, bytearray or memoryview, not {type(data).__name__}"
            )
        if len(data) > max_size:
            raise _bad_challenge(
                "too-large",
                f"error response of {len(data)} bytes exceeds the limit of {max_size}",
                offset=max_size,
            )
        try:
            obj = loads_strict(bytes(data))
        except StrictJsonError as exc:
            if exc.kind == "utf-8":
                reason, detail = "invalid-utf8", "error response is not valid UTF-8"
            elif exc.kind == "duplicate":
                reason, detail = "duplicate-field", f"error response: {exc.reason}"
            else:  # a syntax error, NaN, an over-long integer, nesting too deep
                reason, detail = "invalid-json", f"error response is not JSON: {exc.reason}"
            raise _bad_challenge(reason, detail, offset=exc.offset) from None
        if not isinstance(obj, dict):
            raise _bad_challenge("not-an-object", "error response is not a JSON object", offset=0)
        if "status" not in obj:
            raise _bad_challenge(
                "missing-status", "error response has no 'status' member", offset=None
            )
        try:
            return cls(
                obj["status"],
                scope=obj.get("scope"),
                openid_configuration=obj.get("openid-configuration"),
            )
        except ConfigurationError as exc:
            raise _bad_challenge("invalid-field", str(exc), offset=None) from None
