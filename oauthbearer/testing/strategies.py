"""Hypothesis strategies for OAUTHBEARER messages and Kafka's authentication frames.

Theory of operation
-------------------
These strategies generate inputs for property tests of *any* OAUTHBEARER
implementation, with the verdict each input must get. They need `hypothesis
<https://hypothesis.readthedocs.io/>`_, which this module imports (nothing else
in :mod:`oauthbearer` does).

Three kinds of strategy:

* **values**: :func:`tokens`, :func:`extension_keys`, :func:`extension_values`,
  :func:`extensions`, :func:`authzids`, :func:`initial_responses` and
  :func:`error_responses` draw the fields and the message objects of
  :mod:`oauthbearer.gs2`; :func:`kafka_requests` draws Kafka request frames
  (ApiVersions, SaslHandshake, SaslAuthenticate) built with
  :func:`~oauthbearer.kafka.protocol.encode_request`.
* **valid wire bytes with their meaning**: :func:`valid_initial_responses` and
  :func:`valid_error_responses` draw bytes in every form the grammar allows,
  not only the one our encoders write (``auth`` anywhere among the pairs,
  several spaces after the scheme, the scheme in any letter case, Kafka's
  repeated keys of which the last one wins, JSON members in any order and
  spacing), each with the message a decoder must return for them.
* **invalid wire bytes tagged with their reason code**:
  :func:`invalid_initial_responses`, :func:`invalid_error_responses`,
  :func:`invalid_kafka_requests` and :func:`invalid_challenge_replies`. Each
  starts from a valid input and makes one targeted change that breaks exactly
  one rule, the rule the reason code names (:class:`~oauthbearer.MalformedReason`,
  :class:`~oauthbearer.FrameReason`). The tag is derived from the
  grammar while the change is made, never by running a decoder.

The reason codes generated are :data:`INITIAL_RESPONSE_REASONS` (per dialect),
:data:`ERROR_RESPONSE_REASONS`, :data:`KAFKA_REQUEST_REASONS` and
``invalid-challenge-reply``: every code of ``MalformedReason``. Seven codes are
not generated, and are listed in :data:`UNCOVERED_REASONS`:

* ``invalid-boolean`` (``FrameReason``): no request of the
  authentication phase has a BOOLEAN field; only Metadata does;
* ``invalid-topic`` (``FrameReason``): only Metadata v10+ requests,
  which are not of the authentication phase, can leave out a topic's name;
* ``unsupported-magic``, ``crc-mismatch``, ``unsupported-compression``,
  ``invalid-compressed-data`` and ``invalid-record`` (``FrameReason``):
  they judge the record batches inside Produce and Fetch
  (:func:`~oauthbearer.kafka.decode_record_batches`), which no request of the
  authentication phase carries; tests/test_kafka_records.py raises each.

Where one change breaks different rules in the two dialects, it is tagged per
dialect: a space inside the token is ``invalid-token-syntax`` in the strict
dialect and ``invalid-auth`` in Kafka's, whose single pattern covers the scheme
and the token.
"""

from __future__ import annotations

import dataclasses
import json
import string
import types
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

try:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seed_decorator
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:  # pragma: no cover - tests/test_packaging.py runs it
    if exc.name is None or exc.name.partition(".")[0] != "hypothesis":
        raise
    raise ImportError(
        "oauthbearer.testing.strategies needs hypothesis: install oauthbearer[test] "
        "(pip install 'oauthbearer[test]')",
        name=__name__,
    ) from exc

from oauthbearer.errors import FrameReason, MalformedReason
from oauthbearer.gs2 import (
    KAFKA_MAX_RECEIVE_SIZE,
    MAX_ERROR_RESPONSE_SIZE,
    MAX_EXTENSIONS,
    MAX_INITIAL_RESPONSE_SIZE,
    ClientInitialResponse,
    Dialect,
    ErrorResponse,
)
from oauthbearer.kafka._wire import Writer
from oauthbearer.kafka.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ApiVersionsRequest,
    MetadataRequest,
    RequestHeader,
    RequestMessage,
    SaslAuthenticateRequest,
    SaslHandshakeRequest,
    TaggedField,
    encode_request,
    request_header_version,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "ERROR_RESPONSE_REASONS",
    "INITIAL_RESPONSE_REASONS",
    "KAFKA_REQUEST_REASONS",
    "UNCOVERED_REASONS",
    "InvalidErrorResponse",
    "InvalidInitialResponse",
    "InvalidKafkaRequest",
    "KafkaRequest",
    "ValidErrorResponse",
    "ValidInitialResponse",
    "authzids",
    "drawn",
    "error_responses",
    "extension_keys",
    "extension_values",
    "extensions",
    "initial_responses",
    "invalid_challenge_replies",
    "invalid_error_responses",
    "invalid_initial_responses",
    "invalid_kafka_requests",
    "kafka_requests",
    "mutated",
    "tokens",
    "valid_error_responses",
    "valid_initial_responses",
]

# --- Grammar, as character sets -------------------------------------------------------

#: RFC 5234 ALPHA: RFC 7628 keys are ``1*ALPHA``.
_ALPHA: Final = string.ascii_letters
#: RFC 6750 section 2.1: the b64token alphabet (then ``*"="``).
_B64TOKEN: Final = string.ascii_letters + string.digits + "-._~+/"
#: RFC 7628 section 3.1: ``value = *(VCHAR / SP / HTAB / CR / LF)``.
_VALUE: Final = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t\r\n"
#: RFC 7230 section 3.2.6 tchar: what an HTTP auth-scheme is made of.
_TCHAR: Final = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
#: Kafka's scheme pattern ``[\\w]+``: letters, digits and ``_``.
_WORD: Final = string.ascii_letters + string.digits + "_"
#: RFC 5801 section 4 ``cb-name = 1*(ALPHA / DIGIT / "." / "-")``.
_CB_NAME: Final = string.ascii_letters + string.digits + ".-"
#: RFC 6749 appendix A.7 NQSCHAR: what an error code (``status``) is made of.
_NQSCHAR: Final = "".join(chr(c) for c in [0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])

_VALUE_BYTES: Final = frozenset(_VALUE.encode())
#: Bytes that end a value with ``invalid-value``: outside the value grammar, and
#: not the %x01 that would end the pair instead.
_NON_VALUE_BYTES: Final = tuple(b for b in range(256) if b not in _VALUE_BYTES and b != 0x01)
#: Value characters that are not in the b64token alphabet, and not "=".
_NON_B64TOKEN: Final = "".join(c for c in _VALUE if c not in _B64TOKEN and c != "=")
#: Value characters that cannot be part of an HTTP auth-scheme, nor a space.
_NON_TCHAR: Final = "".join(c for c in _VALUE if c not in _TCHAR and c != " ")
#: tchar that Kafka's ``[\\w]+`` does not allow.
_TCHAR_NOT_WORD: Final = "".join(c for c in _TCHAR if c not in _WORD)
#: Bytes that are never valid at a UTF-8 character boundary (RFC 3629): a stray
#: continuation byte, an overlong lead (C0, C1), or a lead beyond U+10FFFF.
_BAD_UTF8_BYTES: Final = (*range(0x80, 0xC0), 0xC0, 0xC1, *range(0xF5, 0x100))

_AUTH: Final = b"auth"
_PORT: Final = b"port"
_ESCAPES: Final = (b"=2C", b"=3D")

# --- What the invalid strategies generate ---------------------------------------------

# Every initial-response code, in the order of MalformedReason: the strict
# dialect raises them all.
_STRICT_INITIAL_RESPONSE_REASONS: Final = (
    "too-large",
    "truncated",
    "invalid-gs2-header",
    "channel-binding",
    "invalid-authzid",
    "missing-kvsep",
    "invalid-key",
    "invalid-value",
    "missing-terminator",
    "trailing-data",
    "duplicate-key",
    "too-many-extensions",
    "invalid-port",
    "missing-auth",
    "invalid-auth",
    "unsupported-scheme",
    "invalid-token-syntax",
)
# What Kafka's dialect never raises: it keeps the last duplicate, has no
# extension count limit, no ``port`` rule and no token syntax check.
_NOT_IN_KAFKA: Final = frozenset(
    {"duplicate-key", "too-many-extensions", "invalid-port", "invalid-token-syntax"}
)
#: The reason codes :func:`invalid_initial_responses` generates, per dialect
#: (in the order of :class:`~oauthbearer.MalformedReason`). The strict dialect
#: raises every initial-response code; Kafka's has no ``duplicate-key``,
#: ``too-many-extensions``, ``invalid-port`` or ``invalid-token-syntax``.
INITIAL_RESPONSE_REASONS: Final = types.MappingProxyType(
    {
        Dialect.RFC7628: _STRICT_INITIAL_RESPONSE_REASONS,
        Dialect.KAFKA: tuple(
            code for code in _STRICT_INITIAL_RESPONSE_REASONS if code not in _NOT_IN_KAFKA
        ),
    }
)

#: The reason codes :func:`invalid_error_responses` generates.
ERROR_RESPONSE_REASONS: Final = (
    "too-large",
    "invalid-utf8",
    "invalid-json",
    "not-an-object",
    "duplicate-field",
    "missing-status",
    "invalid-field",
)

#: The reason codes (:class:`~oauthbearer.FrameReason`)
#: :func:`invalid_kafka_requests` generates.
KAFKA_REQUEST_REASONS: Final = (
    "too-large",
    "invalid-size",
    "truncated",
    "trailing-data",
    "invalid-varint",
    "invalid-length",
    "invalid-utf8",
    "invalid-tagged-fields",
    "unknown-api-key",
    "unsupported-version",
)

#: Reason codes no strategy here generates, with the reason why.
UNCOVERED_REASONS: Final = types.MappingProxyType(
    {
        "invalid-boolean": "FrameReason: no request of the authentication phase "
        "has a BOOLEAN field; only Metadata does",
        "invalid-topic": "FrameReason: only Metadata v10+ requests, which are not "
        "of the authentication phase, can leave out a topic's name",
        **dict.fromkeys(
            (
                "unsupported-magic",
                "crc-mismatch",
                "unsupported-compression",
                "invalid-compressed-data",
                "invalid-record",
            ),
            "FrameReason: record batches, which no request of the authentication phase carries",
        ),
    }
)


# --- Result types -------------------------------------------------------------------------


class ValidInitialResponse(NamedTuple):
    """Bytes that ``dialect`` must accept, and the message they decode to."""

    data: bytes
    dialect: Dialect
    message: ClientInitialResponse


class InvalidInitialResponse(NamedTuple):
    """Bytes that ``dialect`` must refuse with :class:`~oauthbearer.MalformedMessage`
    of this ``reason`` (decoded with the default ``max_size``)."""

    data: bytes
    dialect: Dialect
    reason: str


class ValidErrorResponse(NamedTuple):
    """An error challenge's bytes, and the :class:`~oauthbearer.ErrorResponse` they
    decode to."""

    data: bytes
    response: ErrorResponse


class InvalidErrorResponse(NamedTuple):
    """Bytes that :meth:`ErrorResponse.decode <oauthbearer.ErrorResponse.decode>`
    must refuse with this ``reason``."""

    data: bytes
    reason: str


class KafkaRequest(NamedTuple):
    """A request frame (size prefix included) and what it holds."""

    data: bytes
    header: RequestHeader
    message: RequestMessage


class InvalidKafkaRequest(NamedTuple):
    """A byte stream as a client sends it (size-prefixed frames) whose first fault
    has this ``reason`` (a code of :class:`~oauthbearer.FrameReason`).

    Fed to a :class:`~oauthbearer.kafka.KafkaFrameDecoder` with the default
    ``max_frame_size``, then the end of the stream, with each frame passed to
    :func:`~oauthbearer.kafka.decode_request`: the frames before the fault decode,
    and then the decoder or ``decode_request`` raises
    :class:`~oauthbearer.kafka.MalformedFrame` with ``reason``.
    """

    data: bytes
    reason: str


# --- Values ------------------------------------------------------------------------------


def _dialects(dialect: Dialect | str | None) -> tuple[Dialect, ...]:
    return tuple(Dialect) if dialect is None else (Dialect(dialect),)


def tokens(*, min_size: int = 1, max_size: int = 64) -> st.SearchStrategy[str]:
    """RFC 6750 b64tokens: ``min_size`` to ``max_size`` characters of
    ``A-Za-z0-9-._~+/``, then up to two ``=``. Both dialects accept them."""
    return st.builds(
        lambda body, padding: body + "=" * padding,
        st.text(_B64TOKEN, min_size=min_size, max_size=max_size),
        st.integers(0, 2),
    )


def extension_keys() -> st.SearchStrategy[str]:
    """Extension names: ``1*ALPHA`` (RFC 7628 section 3.1), never ``auth``, and not
    ``port``, whose values have a rule of their own (:func:`extensions` adds it)."""
    return st.text(_ALPHA, min_size=1, max_size=10).filter(lambda key: key not in ("auth", "port"))


def extension_values(dialect: Dialect | str = Dialect.RFC7628) -> st.SearchStrategy[str]:
    """Extension values: ``*(VCHAR / SP / HTAB / CR / LF)``; non-empty in Kafka's dialect."""
    min_size = 1 if Dialect(dialect) is Dialect.KAFKA else 0
    return st.text(_VALUE, min_size=min_size, max_size=24)


def extensions(
    dialect: Dialect | str = Dialect.RFC7628, *, max_size: int = 6
) -> st.SearchStrategy[dict[str, str]]:
    """Extension maps of at most ``max_size`` pairs, in wire order, that
    :class:`~oauthbearer.ClientInitialResponse` accepts and ``dialect`` decodes
    back: :func:`extension_keys` to :func:`extension_values`, sometimes with a
    ``port`` (a port number, as RFC 7628 section 3.1 writes it)."""

    @st.composite
    def draw_map(draw: st.DrawFn) -> dict[str, str]:
        pairs = list(
            draw(
                st.dictionaries(extension_keys(), extension_values(dialect), max_size=max_size)
            ).items()
        )
        if len(pairs) < max_size and draw(st.integers(0, 3)) == 0:
            port = str(draw(st.integers(1, 65_535)))
            pairs.insert(draw(st.integers(0, len(pairs))), ("port", port))
        return dict(pairs)

    return draw_map()


def authzids(dialect: Dialect | str = Dialect.RFC7628) -> st.SearchStrategy[str]:
    """Authorization identities that :class:`~oauthbearer.ClientInitialResponse`
    encodes and ``dialect`` decodes back unchanged.

    The strict dialect: any non-empty text without NUL (RFC 5801 saslname, with
    ``,`` and ``=`` escaped by the encoder). Kafka's: ASCII without NUL, ``,`` or
    ``=``, since Kafka does not undo the escapes.
    """
    if Dialect(dialect) is Dialect.KAFKA:
        characters = st.characters(min_codepoint=1, max_codepoint=0x7F, exclude_characters=",=")
    else:
        characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    return st.text(characters, min_size=1, max_size=16)


def _bearer_schemes() -> st.SearchStrategy[str]:
    """``Bearer`` in any letter case (RFC 7235 section 2.1: schemes are case-insensitive)."""
    return st.sampled_from(["Bearer", "bearer", "BEARER"]) | st.lists(
        st.booleans(), min_size=6, max_size=6
    ).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip("bearer", upper, strict=True))
    )


def initial_responses(
    dialect: Dialect | str = Dialect.RFC7628,
) -> st.SearchStrategy[ClientInitialResponse]:
    """:class:`~oauthbearer.ClientInitialResponse` objects whose ``encode()``
    ``dialect`` decodes back to an equal object.

    The strict dialect gets both GS2 flags, any authzid, empty extension values
    and discovery requests; Kafka's only what Kafka's broker reads back
    unchanged (flag ``n``, :func:`authzids` for Kafka, non-empty values).
    """
    if Dialect(dialect) is Dialect.KAFKA:
        return st.builds(
            ClientInitialResponse,
            tokens(),
            authzid=st.none() | authzids(Dialect.KAFKA),
            extensions=extensions(Dialect.KAFKA),
            scheme=_bearer_schemes(),
        )
    strict = st.builds(
        ClientInitialResponse,
        tokens(),
        authzid=st.none() | authzids(),
        extensions=extensions(),
        scheme=_bearer_schemes(),
        gs2_flag=st.sampled_from(["n", "y"]),
    )
    discovery = st.builds(
        ClientInitialResponse.discovery, authzid=st.none() | authzids(), extensions=extensions()
    )
    return strict | discovery


def error_responses() -> st.SearchStrategy[ErrorResponse]:
    """:class:`~oauthbearer.ErrorResponse` objects: an RFC 6749 error code as
    ``status``, and optional ``scope`` and ``openid_configuration`` without
    control characters."""
    text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30)
    return st.builds(
        ErrorResponse,
        st.sampled_from(["invalid_token", "insufficient_scope", "invalid_request"])
        | st.text(_NQSCHAR, min_size=1, max_size=20),
        scope=st.none() | text,
        openid_configuration=st.none() | text,
    )


# --- Initial responses on the wire ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Wire:
    """An initial response as its parts, so that one part can be changed.

    ``authzid`` is the saslname as sent (escapes included); ``pairs`` hold every
    key/value pair, ``auth`` included, in wire order.
    """

    flag: bytes
    authzid: bytes | None
    pairs: tuple[tuple[bytes, bytes], ...]

    @property
    def header(self) -> bytes:
        authzid = b"" if self.authzid is None else b"a=" + self.authzid
        return self.flag + b"," + authzid + b","

    def encode(self) -> bytes:
        pairs = b"".join(key + b"=" + value + b"\x01" for key, value in self.pairs)
        return self.header + b"\x01" + pairs + b"\x01"

    def pair_offsets(self) -> list[int]:
        """Where each pair starts in :meth:`encode`'s output."""
        offsets, position = [], len(self.header) + 1
        for key, value in self.pairs:
            offsets.append(position)
            position += len(key) + len(value) + 2
        return offsets

    def key_set(self) -> set[bytes]:
        return {key for key, _ in self.pairs}

    def auth_index(self) -> int:
        """The ``auth`` pair that counts: the only one, or in Kafka's dialect the last."""
        return max(i for i, (key, _) in enumerate(self.pairs) if key == _AUTH)

    def with_pair(self, index: int, key: bytes, value: bytes) -> _Wire:
        pairs = list(self.pairs)
        pairs[index] = (key, value)
        return dataclasses.replace(self, pairs=tuple(pairs))

    def inserting(self, index: int, key: bytes, value: bytes) -> _Wire:
        pairs = list(self.pairs)
        pairs.insert(index, (key, value))
        return dataclasses.replace(self, pairs=tuple(pairs))


def _escape_saslname(name: str) -> bytes:
    # RFC 5801 section 4: "," and "=" travel as "=2C" and "=3D".
    return name.replace("=", "=3D").replace(",", "=2C").encode()


@st.composite
def _kafka_saslname(draw: st.DrawFn) -> bytes:
    """A saslname as Kafka's pattern reads it: ASCII other than NUL, ``,`` and
    ``=``, and the escapes, which Kafka keeps as sent."""
    plain = st.characters(min_codepoint=1, max_codepoint=0x7F, exclude_characters=",=")
    pieces = draw(st.lists(plain | st.sampled_from(["=2C", "=3D"]), min_size=1, max_size=12))
    return "".join(pieces).encode()


@st.composite
def _valid_wire(
    draw: st.DrawFn, dialect: Dialect, *, discovery: bool = True
) -> tuple[_Wire, ClientInitialResponse]:
    """A valid message for ``dialect`` as parts, and the message it decodes to."""
    kafka = dialect is Dialect.KAFKA
    if kafka:
        flag = "n"
        raw_authzid = draw(st.none() | _kafka_saslname())
        authzid = None if raw_authzid is None else raw_authzid.decode()
    else:
        flag = draw(st.sampled_from(["n", "y"]))
        authzid = draw(st.none() | authzids())
        raw_authzid = None if authzid is None else _escape_saslname(authzid)
    ext = draw(extensions(dialect))
    scheme = draw(_bearer_schemes())
    token = draw(tokens())
    empty_auth = not kafka and discovery and draw(st.integers(0, 7)) == 0
    if empty_auth:  # a discovery request: an empty auth value
        scheme = token = ""
        auth_value = b""
    else:
        auth_value = f"{scheme}{' ' * draw(st.integers(1, 3))}{token}".encode()
    pairs = [(key.encode(), value.encode()) for key, value in ext.items()]
    pairs.insert(draw(st.integers(0, len(pairs))), (_AUTH, auth_value))
    if kafka:
        # Kafka keeps the last of repeated keys (a HashMap), auth included:
        # add earlier pairs that the last one of each key overrides.
        shadowed = draw(
            st.lists(st.sampled_from([key for key, _ in pairs]), max_size=3)
            if pairs
            else st.just([])
        )
        for key in shadowed:
            last = max(i for i, (k, _) in enumerate(pairs) if k == key)
            value = draw(st.text(_VALUE, min_size=1, max_size=12)).encode()
            pairs.insert(draw(st.integers(0, last)), (key, value))
    wire = _Wire(flag.encode(), raw_authzid, tuple(pairs))
    message = ClientInitialResponse(
        token, authzid=authzid, extensions=ext, scheme=scheme, gs2_flag=flag
    )
    return wire, message


def valid_initial_responses(
    dialect: Dialect | str | None = None,
) -> st.SearchStrategy[ValidInitialResponse]:
    """Initial responses that ``dialect`` (default: either) must accept, with the
    message each decodes to.

    Beyond what the encoder writes: ``auth`` anywhere among the pairs, one to
    three spaces after the scheme, the scheme in any letter case; in the strict
    dialect the ``y`` flag, UTF-8 authzids and discovery requests; in Kafka's,
    authzids with escapes kept as sent, and keys (``auth`` too) repeated with the
    last value winning.
    """

    @st.composite
    def draw_valid(draw: st.DrawFn) -> ValidInitialResponse:
        chosen = draw(st.sampled_from(_dialects(dialect)))
        wire, message = draw(_valid_wire(chosen))
        return ValidInitialResponse(wire.encode(), chosen, message)

    return draw_valid()


# --- Initial responses: one targeted mutation per reason ------------------------------------


def _other(draw: st.DrawFn, forbidden: Iterable[int]) -> int:
    """A byte other than those in ``forbidden``."""
    excluded = set(forbidden)
    return draw(st.sampled_from([b for b in range(256) if b not in excluded]))


def _insert(data: bytes, index: int, insertion: bytes) -> bytes:
    return data[:index] + insertion + data[index:]


def _unused_key(wire: _Wire, stem: bytes) -> bytes:
    key = stem
    while key in wire.key_set() or key in (_AUTH, _PORT):
        key += b"x"
    return key


def _too_large(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    # An otherwise valid message, padded past the limit with one more extension.
    limit = KAFKA_MAX_RECEIVE_SIZE if kafka else MAX_INITIAL_RESPONSE_SIZE
    key = _unused_key(wire, b"padding")
    size = limit + draw(st.integers(1, 64))
    value_size = size - len(wire.encode()) - len(key) - 2
    return wire.inserting(len(wire.pairs), key, b"x" * value_size).encode()


def _escape_interiors(wire: _Wire) -> set[int]:
    """Cut points that would end the input inside an authzid escape (``=2C``):
    those give ``invalid-authzid``, not ``truncated``."""
    if wire.authzid is None:
        return set()
    start, inside, index = len(wire.flag) + 3, set(), 0  # after "n,a="
    while index < len(wire.authzid):
        if wire.authzid[index : index + 3] in _ESCAPES:
            inside |= {start + index + 1, start + index + 2}
            index += 3
        else:
            index += 1
    return inside


def _truncated(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    # The input ends inside the GS2 header (or right after it, before its %x01),
    # or inside a pair: after its first byte, up to just before its %x01.
    data = wire.encode()
    cuts = set(range(len(wire.header) + 1)) - _escape_interiors(wire)
    for offset, (key, value) in zip(wire.pair_offsets(), wire.pairs, strict=True):
        cuts |= set(range(offset + 1, offset + len(key) + len(value) + 2))
    return data[: draw(st.sampled_from(sorted(cuts)))]


def _invalid_gs2_header(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    data = wire.encode()
    choices = ["flag", "comma", "nonstandard"]
    choices.append("authzid" if wire.authzid is not None else "second-comma")
    change = draw(st.sampled_from(choices))
    if change == "flag":  # gs2-cb-flag is "p=", "n" or "y"; Kafka takes "n" only
        if kafka and draw(st.booleans()):
            return b"y" + data[1:]
        return bytes([_other(draw, b"npy")]) + data[1:]
    if change == "comma":
        return data[:1] + bytes([_other(draw, b",")]) + data[2:]
    if change == "nonstandard":  # RFC 5801's "F," is for GSS-API mechanisms only
        return b"F," + data
    if change == "second-comma":  # "n," then neither "a=" nor ","
        return data[:2] + bytes([_other(draw, b",")]) + data[3:]
    part = draw(st.sampled_from(["a", "equals", "kafkajs"]))
    if part == "a":  # not "a=": a "," here would end the header instead
        return data[:2] + bytes([_other(draw, b",a")]) + data[3:]
    if part == "equals":
        return data[:3] + bytes([_other(draw, b"=")]) + data[4:]
    return data[:2] + b'"' + data[2:]  # KafkaJS writes n,"a=...


def _channel_binding(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    cb_name = draw(st.text(_CB_NAME, min_size=1, max_size=12)).encode()
    return b"p=" + cb_name + wire.encode()[1:]


def _utf8_boundaries(raw: bytes) -> list[int]:
    return [i for i in range(len(raw) + 1) if i == len(raw) or raw[i] & 0xC0 != 0x80]


def _invalid_authzid(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    raw = wire.authzid or b""
    changes = ["empty", "nul", "escape", "bad-utf8"]
    if kafka:
        changes.append("non-ascii")
    change = draw(st.sampled_from(changes))
    if change == "empty":
        authzid = b""
    elif change == "nul":
        authzid = _insert(raw, draw(st.integers(0, len(raw))), b"\x00")
    elif change == "escape":  # "=" may only start "=2C" or "=3D"
        follow = draw(st.binary(min_size=2, max_size=2).filter(lambda b: b not in (b"2C", b"3D")))
        authzid = _insert(raw, draw(st.integers(0, len(raw))), b"=" + follow)
    elif change == "bad-utf8":
        byte = draw(st.sampled_from(_BAD_UTF8_BYTES))
        authzid = _insert(raw, draw(st.sampled_from(_utf8_boundaries(raw))), bytes([byte]))
    else:  # Kafka's saslname is ASCII only
        char = draw(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]))
        authzid = _insert(raw, draw(st.integers(0, len(raw))), char.encode())
    return dataclasses.replace(wire, authzid=authzid).encode()


def _missing_kvsep(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    data, at = wire.encode(), len(wire.header)
    if draw(st.booleans()):
        return data[:at] + data[at + 1 :]
    return data[:at] + bytes([_other(draw, b"\x01")]) + data[at + 1 :]


def _invalid_key(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index = draw(st.integers(0, len(wire.pairs) - 1))
    key, value = wire.pairs[index]
    change = draw(st.sampled_from(["insert", "empty", "no-equals"]))
    if change == "empty":
        return wire.with_pair(index, b"", value).encode()
    if change == "no-equals" and (not value or chr(value[0]) not in _ALPHA + "="):
        # "key" then a byte that is neither a letter nor "=": no "=" ends the key.
        offset = wire.pair_offsets()[index] + len(key)
        data = wire.encode()
        return data[:offset] + data[offset + 1 :]
    at = draw(st.integers(0, len(key)))
    # A leading %x01 would be the final %x01; a later "=" would just end the key early.
    byte = _other(draw, (_ALPHA + ("\x01" if at == 0 else "=")).encode())
    return wire.with_pair(index, _insert(key, at, bytes([byte])), value).encode()


def _invalid_value(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index = draw(st.integers(0, len(wire.pairs) - 1))
    key, value = wire.pairs[index]
    if kafka and draw(st.integers(0, 3)) == 0:  # Kafka's value pattern needs one character
        return wire.with_pair(index, key, b"").encode()
    byte = draw(st.sampled_from(_NON_VALUE_BYTES))
    return wire.with_pair(
        index, key, _insert(value, draw(st.integers(0, len(value))), bytes([byte]))
    ).encode()


def _missing_terminator(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    # The input ends where a pair or the final %x01 should start.
    data = wire.encode()
    return data[: draw(st.sampled_from([*wire.pair_offsets(), len(data) - 1]))]


def _trailing_data(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    return wire.encode() + draw(st.binary(min_size=1, max_size=8))


def _duplicate_key(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index = draw(st.integers(0, len(wire.pairs) - 1))
    key, value = wire.pairs[index]
    if key not in (_AUTH, _PORT) and draw(st.booleans()):
        value = draw(st.text(_VALUE, max_size=12)).encode()
    return wire.inserting(draw(st.integers(0, len(wire.pairs))), key, value).encode()


def _too_many_extensions(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    present = len(wire.pairs) - 1
    wanted = MAX_EXTENSIONS + draw(st.integers(1, 3)) - present
    names = (bytes([0x61 + i // 676, 0x61 + i // 26 % 26, 0x61 + i % 26]) for i in range(26**3))
    fresh = [name for name in names if name not in wire.key_set() and name != _PORT][:wanted]
    pairs = wire.pairs + tuple((name, b"1") for name in fresh)
    return dataclasses.replace(wire, pairs=pairs).encode()


def _is_rfc7628_port(value: str) -> bool:
    # RFC 7628 section 3.1: "a decimal positive integer string without leading
    # zeros"; a TCP port is at most 65535.
    return value.isascii() and value.isdigit() and value[0] != "0" and int(value) <= 65_535


def _invalid_port(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    bad = draw(
        st.sampled_from(["0", "", "-1", "+80", " 80", "80 ", "0x50", "1e3", "443a"])
        | st.integers(0, 65_535).map(lambda n: f"0{n}")
        | st.integers(65_536, 10**9).map(str)
        | st.text(_VALUE, max_size=6).filter(lambda v: not _is_rfc7628_port(v))
    ).encode()
    if _PORT in wire.key_set():
        index = next(i for i, (key, _) in enumerate(wire.pairs) if key == _PORT)
        return wire.with_pair(index, _PORT, bad).encode()
    return wire.inserting(draw(st.integers(0, len(wire.pairs))), _PORT, bad).encode()


def _missing_auth(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index = wire.auth_index()
    if draw(st.booleans()):
        # "auth" under another name: keys are case-sensitive, so "AUTH" is an extension.
        variants = [b"AUTH", b"Auth", b"aUTH", b"authz", b"auths", b"oauth", b"bearer"]
        renamed = draw(st.sampled_from(variants))
        if renamed not in wire.key_set():
            wire = wire.with_pair(index, renamed, wire.pairs[index][1])
    pairs = tuple(pair for pair in wire.pairs if pair[0] != _AUTH)
    return dataclasses.replace(wire, pairs=pairs).encode()


def _auth_parts(wire: _Wire) -> tuple[int, bytes, bytes, bytes]:
    """The auth pair that counts, as its index, scheme, spaces and token."""
    index = wire.auth_index()
    value = wire.pairs[index][1]
    scheme, _, rest = value.partition(b" ")
    token = rest.lstrip(b" ")
    return index, scheme, value[len(scheme) : len(value) - len(token)], token


def _bad_token(draw: st.DrawFn, token: bytes) -> bytes:
    """A token that is not a b64token (RFC 6750 section 2.1)."""
    change = draw(st.sampled_from(["character", "equals", "empty", "padding-only"]))
    if change == "empty":
        return b""
    if change == "padding-only":
        return b"=" * draw(st.integers(1, 3))
    body = len(token.rstrip(b"="))
    if change == "equals":  # "=" before the end of the body is not padding
        return _insert(token, draw(st.integers(0, body - 1)), b"=")
    char = draw(st.sampled_from(_NON_B64TOKEN))
    # A space at the front would just be one more space after the scheme.
    at = draw(st.integers(1 if char == " " else 0, len(token)))
    return _insert(token, at, char.encode())


def _invalid_auth(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index, scheme, spaces, token = _auth_parts(wire)
    changes = ["no-space", "other-separator", "leading", "scheme-character"]
    if kafka:
        changes += ["kafka-scheme-character", "kafka-token"]
    change = draw(st.sampled_from(changes))
    if change == "no-space":
        value = scheme + token
    elif change == "other-separator":  # 1*SP, and only SP
        separator = draw(st.sampled_from([c for c in _VALUE if c != " "]))
        value = scheme + separator.encode() + token
    elif change == "leading":
        value = draw(st.sampled_from([b" ", b"  ", b"\t"])) + scheme + spaces + token
    elif change == "scheme-character":  # neither tchar nor Kafka's [\w]
        at = draw(st.integers(0, len(scheme)))
        char = draw(st.sampled_from(_NON_TCHAR)).encode()
        value = _insert(scheme, at, char) + spaces + token
    elif change == "kafka-scheme-character":  # tchar, but not in Kafka's [\w]
        at = draw(st.integers(0, len(scheme)))
        char = draw(st.sampled_from(_TCHAR_NOT_WORD)).encode()
        value = _insert(scheme, at, char) + spaces + token
    else:
        value = scheme + spaces + _bad_token(draw, token)
    return wire.with_pair(index, _AUTH, value).encode()


def _unsupported_scheme(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index, scheme, spaces, token = _auth_parts(wire)
    if not kafka and draw(st.integers(0, 3)) == 0:
        # An HTTP scheme (tchar) that Kafka's [\w] would not even read as a word.
        at = draw(st.integers(0, len(scheme)))
        other = _insert(scheme, at, draw(st.sampled_from(_TCHAR_NOT_WORD)).encode())
    else:
        other = draw(
            st.sampled_from(["Basic", "Digest", "MAC", "DPoP", "Negotiate", "Bearer2", "Bearer_"])
            | st.text(_WORD, min_size=1, max_size=10).filter(lambda s: s.lower() != "bearer")
        ).encode()
    return wire.with_pair(index, _AUTH, other + spaces + token).encode()


def _invalid_token_syntax(draw: st.DrawFn, wire: _Wire, kafka: bool) -> bytes:
    index, scheme, spaces, token = _auth_parts(wire)
    return wire.with_pair(index, _AUTH, scheme + spaces + _bad_token(draw, token)).encode()


#: One mutation per reason code; the ones about the auth value need a token.
_INITIAL_MUTATIONS: Final[dict[str, tuple[Callable[[st.DrawFn, _Wire, bool], bytes], bool]]] = {
    "too-large": (_too_large, False),
    "truncated": (_truncated, False),
    "invalid-gs2-header": (_invalid_gs2_header, False),
    "channel-binding": (_channel_binding, False),
    "invalid-authzid": (_invalid_authzid, False),
    "missing-kvsep": (_missing_kvsep, False),
    "invalid-key": (_invalid_key, False),
    "invalid-value": (_invalid_value, False),
    "missing-terminator": (_missing_terminator, False),
    "trailing-data": (_trailing_data, False),
    "duplicate-key": (_duplicate_key, False),
    "too-many-extensions": (_too_many_extensions, False),
    "invalid-port": (_invalid_port, False),
    "missing-auth": (_missing_auth, False),
    "invalid-auth": (_invalid_auth, True),
    "unsupported-scheme": (_unsupported_scheme, True),
    "invalid-token-syntax": (_invalid_token_syntax, True),
}


def _chosen_reasons(
    reasons: Iterable[str] | None, generated: Sequence[str], what: str
) -> tuple[str, ...]:
    if reasons is None:
        return tuple(generated)
    chosen = tuple(reasons)
    unknown = [reason for reason in chosen if reason not in generated]
    if unknown or not chosen:
        raise ValueError(f"{what} generates {list(generated)}, not {unknown or 'nothing'}")
    return tuple(dict.fromkeys(chosen))


def invalid_initial_responses(
    dialect: Dialect | str | None = None, *, reasons: Iterable[str] | None = None
) -> st.SearchStrategy[InvalidInitialResponse]:
    """Initial responses that ``dialect`` (default: either) must refuse, each
    tagged with the reason code it must be refused with.

    ``reasons`` limits the codes (default: all of :data:`INITIAL_RESPONSE_REASONS`
    for the dialect; a code no chosen dialect raises is a ``ValueError``).
    Each input is a valid message with one change that breaks the rule its
    code names, so a decoder that checks that rule in any order refuses it.
    """
    dialects = _dialects(dialect)
    generated = {code for d in dialects for code in INITIAL_RESPONSE_REASONS[d]}
    chosen = _chosen_reasons(reasons, sorted(generated), "invalid_initial_responses")
    allowed = {
        d: codes
        for d in dialects
        if (codes := tuple(code for code in chosen if code in INITIAL_RESPONSE_REASONS[d]))
    }

    @st.composite
    def draw_invalid(draw: st.DrawFn) -> InvalidInitialResponse:
        chosen = draw(st.sampled_from(sorted(allowed)))
        reason = draw(st.sampled_from(allowed[chosen]))
        mutate, needs_token = _INITIAL_MUTATIONS[reason]
        wire, _ = draw(_valid_wire(chosen, discovery=not needs_token))
        return InvalidInitialResponse(mutate(draw, wire, chosen is Dialect.KAFKA), chosen, reason)

    return draw_invalid()


def invalid_challenge_replies() -> st.SearchStrategy[bytes]:
    """What a client may wrongly send after an error challenge: anything but
    exactly ``%x01`` (RFC 7628 section 3.2.3). A server session refuses each
    with ``invalid-challenge-reply``."""
    return st.one_of(
        st.sampled_from([b"", b"\x01\x01", b"\x00", b"\x01\r\n", b"n,,\x01\x01"]),
        initial_responses().map(ClientInitialResponse.encode),
        st.binary(max_size=16),
    ).filter(lambda data: data != b"\x01")


def mutated(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``base``'s bytes with one to four bytes replaced, inserted, deleted, cut
    off or appended: near misses for totality tests (any input gives a result
    or the decoder's own error). Untagged: the result may even be valid."""
    interesting = b"\x00\x01\x02\t\n\r ,=aAnyp2C3D\x7f\x80\xc3\xff"

    @st.composite
    def draw_mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(base))
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append"]))
            index = draw(st.integers(0, max(len(data) - 1, 0)))
            byte = draw(st.sampled_from(interesting) | st.integers(0, 255))
            if op == "replace" and data:
                data[index] = byte
            elif op == "insert":
                data.insert(index, byte)
            elif op == "delete" and data:
                del data[index]
            elif op == "truncate":
                del data[index:]
            else:
                data.append(byte)
        return bytes(data)

    return draw_mutated()


# --- Error responses on the wire ------------------------------------------------------------

_KNOWN_MEMBERS: Final = ("status", "scope", "openid-configuration")
_json_scalars: Final = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
)


@dataclasses.dataclass(frozen=True)
class _RawJson:
    """A member value written as this JSON text, as is."""

    text: str


_Members = list[tuple[str, Any]]


@st.composite
def _members(draw: st.DrawFn) -> tuple[_Members, ErrorResponse]:
    """An error response as JSON members in any order, unknown ones included."""
    response = draw(error_responses())
    members: _Members = list(response.to_json().items())
    unknown = draw(
        st.dictionaries(
            st.text(max_size=8).filter(lambda name: name not in _KNOWN_MEMBERS),
            _json_scalars | st.lists(_json_scalars, max_size=3),
            max_size=2,
        )
    )
    return draw(st.permutations([*members, *unknown.items()])), response


@st.composite
def _render(draw: st.DrawFn, members: _Members) -> str:
    """Members as a JSON object, in one of the spacings peers write."""
    colon, comma = draw(st.sampled_from([(":", ","), (": ", ", "), (":", ", "), (" : ", " ,\n")]))
    ascii_only = draw(st.booleans())

    def dumps(value: Any) -> str:
        if isinstance(value, _RawJson):
            return value.text
        return json.dumps(value, ensure_ascii=ascii_only)

    items = [dumps(name) + colon + dumps(value) for name, value in members]
    outer = draw(st.sampled_from(["", " ", "\n", "\r\n\t"]))
    return outer + "{" + comma.join(items) + "}" + outer


def valid_error_responses() -> st.SearchStrategy[ValidErrorResponse]:
    """Error challenges as peers write them (members in any order, unknown members,
    any JSON spacing, escaped or raw non-ASCII), with the response each decodes to."""

    @st.composite
    def draw_valid(draw: st.DrawFn) -> ValidErrorResponse:
        members, response = draw(_members())
        return ValidErrorResponse(draw(_render(members)).encode(), response)

    return draw_valid()


def _unused_name(members: _Members, stem: str) -> str:
    names = {name for name, _ in members}
    while stem in names:
        stem += "_"
    return stem


def _invalid_json(draw: st.DrawFn, members: _Members) -> bytes:
    text = draw(_render(members))
    change = draw(st.sampled_from(["cut", "extra", "constant", "trailing-comma", "quotes", "bom"]))
    if change == "cut":  # every cut before the closing brace leaves the object open
        data = text.encode()
        return data[: draw(st.sampled_from(_utf8_boundaries(data[: data.rindex(b"}")])))]
    if change == "extra":  # RFC 8259 section 2: one value, then only whitespace
        return (text + draw(st.text(_VALUE.strip(), min_size=1, max_size=4))).encode()
    if change == "constant":  # NaN and Infinity are Python's, not JSON's
        constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        name = _unused_name(members, "n")
        return draw(_render([*members, (name, _RawJson(constant))])).encode()
    if change == "trailing-comma":
        return (text[: text.rindex("}")] + ",}").encode()
    if change == "quotes":
        return text.replace('"', "'").encode()
    return b"\xef\xbb\xbf" + text.encode()  # RFC 8259 section 8.1: no byte order mark


#: Values no member of an error response may have: not a string, empty, or
#: holding a control character.
_BAD_MEMBER_VALUES: Final[tuple[Any, ...]] = (
    "",
    "\x00",
    "a\nb",
    "tab\there",
    "\x7f",
    1,
    1.5,
    True,
    [],
    {},
)
#: And for ``status``, an RFC 6749 error code (NQSCHAR: printable ASCII without
#: '"' and '\\'), also null and these.
_BAD_STATUSES: Final[tuple[Any, ...]] = (None, 'in"valid', "back\\slash", "café", "→")


def _invalid_error(draw: st.DrawFn, reason: str) -> bytes:
    members, _ = draw(_members())
    if reason == "too-large":
        padding = (_unused_name(members, "padding"), "x" * MAX_ERROR_RESPONSE_SIZE)
        return draw(_render([*members, padding])).encode()
    if reason == "invalid-utf8":
        data = draw(_render(members)).encode()
        at = draw(st.sampled_from(_utf8_boundaries(data)))
        return _insert(data, at, bytes([draw(st.sampled_from(_BAD_UTF8_BYTES))]))
    if reason == "invalid-json":
        return _invalid_json(draw, members)
    if reason == "not-an-object":
        obj = dict(members)
        other = draw(st.sampled_from([[obj], obj["status"], [obj["status"]], None, True, 401]))
        return json.dumps(other).encode()
    if reason == "duplicate-field":
        if draw(st.integers(0, 3)) == 0:  # in a nested object: the rule is the same
            key = json.dumps(draw(st.text(max_size=4)))
            nested = _RawJson("{" + key + ":1," + key + ":2}")
            return draw(_render([*members, (_unused_name(members, "x"), nested)])).encode()
        name, _ = draw(st.sampled_from(members))
        again = (name, draw(st.text(_NQSCHAR, min_size=1, max_size=8)))
        index = draw(st.integers(0, len(members)))
        return draw(_render([*members[:index], again, *members[index:]])).encode()
    if reason == "missing-status":
        return draw(_render([m for m in members if m[0] != "status"])).encode()
    # invalid-field: a known member with a value it may not have
    name = draw(st.sampled_from([n for n, _ in members if n in _KNOWN_MEMBERS]))
    choices = _BAD_MEMBER_VALUES + (_BAD_STATUSES if name == "status" else ())
    bad = draw(
        st.sampled_from(choices)
        | st.text(min_size=1, max_size=4).map(lambda s: s + draw(st.sampled_from("\x00\x1f\x7f")))
    )
    return draw(_render([(n, bad if n == name else v) for n, v in members])).encode()


def invalid_error_responses(
    *, reasons: Iterable[str] | None = None
) -> st.SearchStrategy[InvalidErrorResponse]:
    """Error challenges that :meth:`ErrorResponse.decode <oauthbearer.ErrorResponse.decode>`
    (with the default ``max_size``) must refuse, tagged with the reason code
    (default: all of :data:`ERROR_RESPONSE_REASONS`)."""
    chosen = _chosen_reasons(reasons, ERROR_RESPONSE_REASONS, "invalid_error_responses")

    @st.composite
    def draw_invalid(draw: st.DrawFn) -> InvalidErrorResponse:
        reason = draw(st.sampled_from(chosen))
        return InvalidErrorResponse(_invalid_error(draw, reason), reason)

    return draw_invalid()


# --- Kafka request frames --------------------------------------------------------------------

#: The APIs :func:`kafka_requests` draws by default: the ones a SASL client sends
#: before it is authenticated.
_AUTHENTICATION_APIS: Final = (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)
_EVERY_API: Final = (*_AUTHENTICATION_APIS, ApiKey.METADATA)
_FLEXIBLE_APIS: Final = (ApiKey.API_VERSIONS, ApiKey.SASL_AUTHENTICATE)

_short_text: Final = st.text(max_size=12)


def _tagged_fields(flexible: bool) -> st.SearchStrategy[tuple[TaggedField, ...]]:
    if not flexible:
        return st.just(())
    return st.lists(st.integers(0, 300), unique=True, max_size=2).map(
        lambda tags: tuple(TaggedField(tag=tag, data=b"\x00" * (tag % 3)) for tag in sorted(tags))
    )


def _message(api_key: ApiKey, version: int, *, tags: bool) -> st.SearchStrategy[RequestMessage]:
    flexible = request_header_version(api_key, version) == 2
    fields = _tagged_fields(flexible and tags)
    if api_key == ApiKey.API_VERSIONS:
        if not flexible:
            return st.just(ApiVersionsRequest())
        return st.builds(
            ApiVersionsRequest,
            client_software_name=st.sampled_from(["apache-kafka-java", "librdkafka"]) | _short_text,
            client_software_version=st.sampled_from(["3.9.0", "2.16.0"]) | _short_text,
            tagged_fields=fields,
        )
    if api_key == ApiKey.SASL_HANDSHAKE:
        return st.builds(
            SaslHandshakeRequest, mechanism=st.sampled_from(["OAUTHBEARER", "PLAIN"]) | _short_text
        )
    if api_key == ApiKey.SASL_AUTHENTICATE:
        auth = (
            initial_responses(Dialect.KAFKA).map(ClientInitialResponse.encode)
            | st.just(b"\x01")
            | st.binary(max_size=40)
        )
        return st.builds(SaslAuthenticateRequest, auth_bytes=auth, tagged_fields=fields)
    topics = st.lists(_short_text, max_size=3).map(tuple)
    return st.builds(MetadataRequest, topics=topics if version == 0 else st.none() | topics)


@st.composite
def _request(
    draw: st.DrawFn,
    api_keys: Sequence[ApiKey],
    *,
    tags: bool = True,
    flexible: bool | None = None,
) -> tuple[RequestHeader, RequestMessage]:
    """A request of one of ``api_keys`` at a supported version; ``flexible``
    picks the versions with (or without) request header v2."""
    versions = [
        (key, version)
        for key in api_keys
        for version in range(SUPPORTED_VERSIONS[key][0], SUPPORTED_VERSIONS[key][1] + 1)
        if flexible is None or (request_header_version(key, version) == 2) == flexible
    ]
    api_key, version = draw(st.sampled_from(versions))
    client_ids = st.none() | st.sampled_from(["rdkafka", "kafka-python-3.0.12"]) | _short_text
    header = RequestHeader(
        api_key=api_key,
        api_version=version,
        correlation_id=draw(st.integers(-(2**31), 2**31 - 1)),
        client_id=draw(client_ids),
        tagged_fields=draw(_tagged_fields(request_header_version(api_key, version) == 2 and tags)),
    )
    return header, draw(_message(api_key, version, tags=tags))


def kafka_requests(
    *, api_keys: Iterable[ApiKey | int] | None = None
) -> st.SearchStrategy[KafkaRequest]:
    """Valid request frames, size prefix included, of every supported version of
    ``api_keys`` (default: ApiVersions, SaslHandshake and SaslAuthenticate; add
    ``ApiKey.METADATA`` for the request a client sends next). SaslAuthenticate
    carries Kafka-valid initial responses, the ``%x01`` reply, or any bytes."""
    keys = _AUTHENTICATION_APIS if api_keys is None else tuple(ApiKey(k) for k in api_keys)
    return _request(keys).map(lambda pair: KafkaRequest(encode_request(*pair), *pair))


def _sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big", signed=True) + payload


def _uvarint(value: int) -> bytes:
    writer = Writer()
    writer.uvarint(value)
    return writer.getvalue()


def _int(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big", signed=True)


class _Parts(NamedTuple):
    """A request without tagged fields, as the bytes of its header and its body."""

    header: RequestHeader
    message: RequestMessage
    head: bytes
    body: bytes


@st.composite
def _parts(draw: st.DrawFn, api_keys: Sequence[ApiKey], *, flexible: bool | None = None) -> _Parts:
    header, message = draw(_request(api_keys, tags=False, flexible=flexible))
    head = header.encode(request_header_version(header.api_key, header.api_version))
    return _Parts(header, message, head, encode_request(header, message)[4 + len(head) :])


#: Where a request header's client_id starts: after api_key, api_version (INT16)
#: and correlation_id (INT32).
_CLIENT_ID_AT: Final = 8


def _invalid_payload(draw: st.DrawFn, reason: str) -> bytes:
    """One request frame's payload (no size prefix) whose only fault is ``reason``."""
    if reason == "truncated":  # no tagged fields, no arrays: every cut ends inside a field
        request = draw(_parts(_AUTHENTICATION_APIS))
        payload = request.head + request.body
        return payload[: draw(st.integers(0, len(payload) - 1))]
    if reason == "trailing-data":
        request = draw(_parts(_EVERY_API))
        return request.head + request.body + draw(st.binary(min_size=1, max_size=8))
    if reason == "invalid-varint":
        # The header's tagged-field count: six bytes long, or a fifth byte that
        # takes the value past 32 bits.
        request = draw(_parts(_FLEXIBLE_APIS, flexible=True))
        bad = bytes(draw(st.lists(st.integers(0x80, 0xFF), min_size=4, max_size=4)))
        if draw(st.booleans()):
            bad += bytes([draw(st.integers(0x80, 0xFF)), draw(st.integers(0, 0x7F))])
        else:
            bad += bytes([draw(st.integers(0x10, 0x7F))])
        return request.head[:-1] + bad + request.body
    if reason == "invalid-length":
        return _invalid_length(draw)
    if reason == "invalid-utf8":  # in the client_id
        request = draw(_parts(_EVERY_API))
        name = draw(st.text(max_size=6)).encode()
        at = draw(st.sampled_from(_utf8_boundaries(name)))
        bad = _insert(name, at, bytes([draw(st.sampled_from(_BAD_UTF8_BYTES))]))
        placeholder = dataclasses.replace(request.header, client_id="x" * len(bad))
        head = placeholder.encode(
            request_header_version(placeholder.api_key, placeholder.api_version)
        )
        start = _CLIENT_ID_AT + 2
        return head[:start] + bad + head[start + len(bad) :] + request.body
    if reason == "invalid-tagged-fields":
        request = draw(_parts(_FLEXIBLE_APIS, flexible=True))
        first = draw(st.integers(0, 100))
        if draw(st.booleans()):  # tags must rise strictly
            fields = b"\x02" + _uvarint(first) + b"\x00" + _uvarint(draw(st.integers(0, first)))
            fields += b"\x00"
        else:  # a tag is at most INT32_MAX
            fields = b"\x01" + _uvarint(draw(st.integers(2**31, 2**32 - 1))) + b"\x00"
        return request.head[:-1] + fields + request.body
    if reason == "unknown-api-key":
        request = draw(_parts(_EVERY_API))
        key = draw(st.integers(-(2**15), 2**15 - 1).filter(lambda k: k not in set(ApiKey)))
        return _int(key, 2) + (request.head + request.body)[2:]
    # unsupported-version, at versions whose request header reads as the original's
    request = draw(_parts((ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)))
    low, high = SUPPORTED_VERSIONS[ApiKey(request.header.api_key)]
    if request.header.api_key == ApiKey.SASL_HANDSHAKE:  # never flexible: header v1 throughout
        version = draw(st.integers(-(2**15), 2**15 - 1).filter(lambda v: not low <= v <= high))
    else:
        # Later versions read header v2; below v2 its tag count is then the first
        # byte of the body, the high byte of a short INT32 length: 0, no tags.
        version = draw(st.integers(high + 1, 2**15 - 1))
    return request.head[:2] + _int(version, 2) + request.head[4:] + request.body


def _invalid_length(draw: st.DrawFn) -> bytes:
    change = draw(st.sampled_from(["client-id", "mechanism", "auth-bytes", "software", "tags"]))
    if change == "client-id":  # NULLABLE_STRING: -1 is null, below that is nothing
        request = draw(_parts(_EVERY_API))
        bad = _int(draw(st.integers(-(2**15), -2)), 2)
        head = request.head
        return head[:_CLIENT_ID_AT] + bad + head[_CLIENT_ID_AT + 2 :] + request.body
    if change == "mechanism":  # STRING is not nullable
        request = draw(_parts((ApiKey.SASL_HANDSHAKE,)))
        return request.head + _int(draw(st.integers(-(2**15), -1)), 2) + request.body[2:]
    if change == "auth-bytes":
        request = draw(_parts((ApiKey.SASL_AUTHENTICATE,)))
        assert isinstance(request.message, SaslAuthenticateRequest)
        if request.header.api_version < 2:  # BYTES: an INT32 length, not nullable
            return request.head + _int(draw(st.integers(-(2**31), -1)), 4) + request.body[4:]
        # COMPACT_BYTES: the length plus one, so 0 is null, which it may not be
        prefix = len(_uvarint(len(request.message.auth_bytes) + 1))
        return request.head + b"\x00" + request.body[prefix:]
    if change == "software":  # a COMPACT_STRING longer than Kafka's 32767 bytes
        request = draw(_parts((ApiKey.API_VERSIONS,), flexible=True))
        assert isinstance(request.message, ApiVersionsRequest)
        prefix = len(_uvarint(len(request.message.client_software_name.encode()) + 1))
        length = _uvarint(draw(st.integers(0x8000, 2**20)) + 1)
        return request.head + length + request.body[prefix:]
    # A tagged-field count that the bytes left could not hold (two bytes a field at least).
    request = draw(_parts(_FLEXIBLE_APIS, flexible=True))
    count = _uvarint(draw(st.integers(len(request.body) // 2 + 1, 2**20)))
    return request.head[:-1] + count + request.body


def invalid_kafka_requests(
    *, reasons: Iterable[str] | None = None
) -> st.SearchStrategy[InvalidKafkaRequest]:
    """Request streams that a broker must refuse, tagged with the reason code of
    their first fault (default: all of :data:`KAFKA_REQUEST_REASONS`); see
    :class:`InvalidKafkaRequest` for how they are read. Zero to two valid frames
    come before the faulty one."""
    chosen = _chosen_reasons(reasons, KAFKA_REQUEST_REASONS, "invalid_kafka_requests")

    @st.composite
    def draw_invalid(draw: st.DrawFn) -> InvalidKafkaRequest:
        reason = draw(st.sampled_from(chosen))
        before = b"".join(request.data for request in draw(st.lists(kafka_requests(), max_size=2)))
        if reason == "too-large":  # the size prefix alone decides, before any body
            size = draw(st.integers(KAFKA_MAX_RECEIVE_SIZE + 1, 2**31 - 1))
            bad = _int(size, 4) + draw(st.binary(max_size=16))
        elif reason == "invalid-size":
            bad = _int(draw(st.integers(-(2**31), -1)), 4) + draw(st.binary(max_size=16))
        elif reason == "truncated" and draw(st.booleans()):  # the stream ends inside a frame
            frame = draw(kafka_requests()).data
            bad = frame[: draw(st.integers(1, len(frame) - 1))]
        else:
            bad = _sized(_invalid_payload(draw, reason))
        return InvalidKafkaRequest(before + bad, reason)

    return draw_invalid()


T = TypeVar("T")


def drawn(strategy: st.SearchStrategy[T], count: int, seed: int) -> list[T]:
    """``count`` values of ``strategy``, the same for the same ``seed`` (and
    hypothesis version): the generate phase only, no database. What a
    differential against a live peer sends, so that a run can be repeated
    (``oauthbearer probe --generate``, the Kafka and PostgreSQL differentials)."""
    values: list[T] = []
    if count <= 0:
        return values

    @seed_decorator(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        values.append(value)

    collect()
    return values[:count]


def _check_tables() -> None:
    """The coverage tables name real codes, and together every code."""
    initial = {code for codes in INITIAL_RESPONSE_REASONS.values() for code in codes}
    malformed = {*initial, *ERROR_RESPONSE_REASONS, "invalid-challenge-reply"}
    if malformed != set(MalformedReason) - set(UNCOVERED_REASONS):
        raise AssertionError("INITIAL/ERROR_RESPONSE_REASONS do not match MalformedReason")
    if set(KAFKA_REQUEST_REASONS) != set(FrameReason) - set(UNCOVERED_REASONS):
        raise AssertionError("KAFKA_REQUEST_REASONS does not match FrameReason")
    if set(_INITIAL_MUTATIONS) != initial:
        raise AssertionError("a reason code has no mutation")


_check_tables()
