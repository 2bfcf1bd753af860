"""Kafka's wire format for the authentication phase and the records that follow:
primitives, headers, messages, frames.

Theory of operation
-------------------
A Kafka connection carries size-delimited frames: a big-endian INT32 size, then
that many bytes (the Kafka protocol guide, "Network"). A request frame holds a
request header and a body; a response frame a response header and a body. Which
header version a frame uses follows from its API key and version: *flexible*
versions (KIP-482) use request header v2 and response header v1, which end in a
tagged-field section; the others use request header v1 and response header v0.
ApiVersions is the exception: its response header is always v0, because a
client that does not yet know the broker's versions must be able to read it
(``ApiVersionsResponse.json``).

This module knows the four APIs a SASL client meets before it is authenticated,
the one it sends next (:data:`SUPPORTED_VERSIONS`: what the server connections
serve), and the two that move records (:data:`RECORD_API_VERSIONS`, for
clients; the batches inside them are :mod:`oauthbearer.kafka.records`):

========================  ===  ========  ===============
API                       key  versions  first flexible
========================  ===  ========  ===============
Produce                     0  3-13      9
Fetch                       1  4-18      12
Metadata                    3  0-13      9
SaslHandshake              17  0-1       never
ApiVersions                18  0-5       3
SaslAuthenticate           36  0-2       2
========================  ===  ========  ===============

The layers, bottom up:

* Kafka's primitive types, read and written by a private reader and writer
  (``oauthbearer.kafka._wire``). Every read is bounds-checked and raises
  :class:`MalformedFrame` with the byte offset and the Kafka error code to
  answer with, never ``IndexError`` or ``struct.error``;
* :class:`RequestHeader`, :class:`ResponseHeader` and one frozen dataclass per
  message, each with ``encode(version)`` and ``decode(data, version)``;
* :class:`KafkaFrameDecoder`: the stream codec, in h11's shape. Each size prefix
  is checked as soon as its frame is the next to be returned, and a refused
  frame's body is not kept; :func:`decode_request` and :func:`encode_response`
  (and their mirror images for clients) turn frames into messages and back.

The decoder is as strict as Kafka's broker, and stricter where Kafka silently
accepts garbage: it refuses invalid UTF-8 (Java substitutes U+FFFD), booleans
other than 0 and 1, and unsigned varints whose value overflows 32 bits (Java
drops the high bits). Like Kafka it accepts over-long (non-minimal) varints of at
most five bytes. Encoders always write the minimal form.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import uuid
from typing import TYPE_CHECKING, ClassVar, Final, Union

from oauthbearer._text import cut_utf8, peer_text
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.gs2 import KAFKA_MAX_RECEIVE_SIZE
from oauthbearer.kafka._wire import (
    INT_BOUNDS,
    MAX_STRING_LENGTH,
    MAX_TAGGED_FIELDS,
    ErrorCode,
    MalformedFrame,
    Reader,
    TaggedField,
    Writer,
    check_int,
    check_tags,
    check_tuple,
    encode_text,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Self

__all__ = [
    "AUTHORIZED_OPERATIONS_OMITTED",
    "CODEC_VERSIONS",
    "CONNECTION_CLOSED",
    "FETCH_MAX_BYTES_UNLIMITED",
    "MAX_STRING_LENGTH",
    "MAX_TAGGED_FIELDS",
    "NEED_DATA",
    "RECORD_API_VERSIONS",
    "SOCKET_REQUEST_MAX_BYTES",
    "SUPPORTED_VERSIONS",
    "ZERO_UUID",
    "AbortedTransaction",
    "ApiKey",
    "ApiVersion",
    "ApiVersionsRequest",
    "ApiVersionsResponse",
    "DecoderEvent",
    "ErrorCode",
    "FetchPartition",
    "FetchPartitionData",
    "FetchRequest",
    "FetchResponse",
    "FetchTopic",
    "FetchTopicResponse",
    "ForgottenTopic",
    "Frame",
    "KafkaFrameDecoder",
    "MalformedFrame",
    "MetadataBroker",
    "MetadataPartition",
    "MetadataRequest",
    "MetadataResponse",
    "MetadataTopic",
    "ProducePartition",
    "ProducePartitionResponse",
    "ProduceRecordError",
    "ProduceRequest",
    "ProduceResponse",
    "ProduceTopic",
    "ProduceTopicResponse",
    "RequestHeader",
    "RequestMessage",
    "ResponseHeader",
    "ResponseMessage",
    "SaslAuthenticateRequest",
    "SaslAuthenticateResponse",
    "SaslHandshakeRequest",
    "SaslHandshakeResponse",
    "TaggedField",
    "api_versions_response_version",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "peer_text",
    "request_header_version",
    "response_header_version",
    "usable_version",
    "wire_text",
]

# --- Limits ---------------------------------------------------------------------


#: Largest frame a Kafka broker reads once a connection is authenticated: the
#: default of ``socket.request.max.bytes`` (100 MiB). For a broker emulator that
#: goes on to serve requests after authentication.
SOCKET_REQUEST_MAX_BYTES: Final = 104_857_600


class ApiKey(enum.IntEnum):
    """The API keys this module speaks (the protocol guide, "Api Keys")."""

    PRODUCE = 0
    FETCH = 1
    METADATA = 3
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    SASL_AUTHENTICATE = 36


#: The versions of the authentication phase's APIs and Metadata, per API key,
#: inclusive: what :class:`~oauthbearer.kafka.KafkaServerConnection` answers and
#: advertises, and every version that a Kafka 4.x broker serves (measured against
#: 4.0.2 and 4.4.0 by tests/test_kafka_versions.py; 4.0 serves ApiVersions up to
#: v4, 4.4 up to v5). The codec also speaks :data:`RECORD_API_VERSIONS`.
#: ApiVersions v4 has v3's layout (it only lifts KAFKA-17011's restriction on
#: SupportedFeatures, a tagged field this module preserves without reading).
SUPPORTED_VERSIONS: Final = types.MappingProxyType(
    {
        ApiKey.METADATA: (0, 13),
        ApiKey.SASL_HANDSHAKE: (0, 1),
        ApiKey.API_VERSIONS: (0, 5),
        ApiKey.SASL_AUTHENTICATE: (0, 2),
    }
)

#: The versions this module encodes and decodes of the APIs that move records,
#: inclusive: every version Kafka 4.x parses (Kafka 4.0.2 serves Produce v3-v12
#: and Fetch v4-v17, 4.4.0 Produce v3-v13 and Fetch v4-v18; measured by
#: tests/test_kafka_record_apis.py). Kafka 4 still *advertises* Produce from v0,
#: so that old librdkafka clients connect, but refuses v0-v2 (KIP-896). A client
#: picks its version with :func:`usable_version`. The server connections do not
#: serve these APIs: :data:`SUPPORTED_VERSIONS` is what they answer and
#: advertise, and a request for these arrives as a raw frame.
RECORD_API_VERSIONS: Final = types.MappingProxyType(
    {
        ApiKey.PRODUCE: (3, 13),
        ApiKey.FETCH: (4, 18),
    }
)

#: Every version this module encodes and decodes: :data:`SUPPORTED_VERSIONS`
#: and :data:`RECORD_API_VERSIONS`.
CODEC_VERSIONS: Final = types.MappingProxyType(
    dict(sorted({**SUPPORTED_VERSIONS, **RECORD_API_VERSIONS}.items()))
)

#: The first flexible version of each API (``flexibleVersions`` in its JSON
#: schema); SaslHandshake has none.
_FIRST_FLEXIBLE: Final = types.MappingProxyType(
    {
        ApiKey.PRODUCE: 9,
        ApiKey.FETCH: 12,
        ApiKey.METADATA: 9,
        ApiKey.API_VERSIONS: 3,
        ApiKey.SASL_AUTHENTICATE: 2,
    }
)

#: The version a broker answers an ApiVersions request it does not support
#: with, along with UNSUPPORTED_VERSION, so that any client can read it
#: (KIP-511; ``ApiVersionsResponse.json``).
API_VERSIONS_UNSUPPORTED_RESPONSE_VERSION: Final = 0

#: Kafka's ``Uuid.ZERO_UUID``: no topic id (a topic asked about by name, or
#: one the broker does not know).
ZERO_UUID: Final = uuid.UUID(int=0)

#: The default of the authorized-operations bitfields of Metadata v8+
#: (``-2147483648``): the client did not ask for them.
AUTHORIZED_OPERATIONS_OMITTED: Final = -(1 << 31)


# --- Text from the peer ---------------------------------------------------------

#: Code points that UTF-8 cannot encode: in a Python string, every surrogate is lone.
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def wire_text(value: str, *, max_bytes: int = MAX_STRING_LENGTH) -> str:
    """``value``, a message quoting a peer, as a Kafka STRING can carry it (such as
    SaslAuthenticate's ``error_message``) and as Kafka's broker sends it: a lone
    surrogate becomes ``?``, as Java's UTF-8 encoder writes it, and the text is
    cut to ``max_bytes`` UTF-8 bytes, ``...`` marking the cut (past that limit
    Kafka's own serializer fails). Controls travel as they are, as from Kafka:
    a log line takes :func:`peer_text`."""
    return cut_utf8(_LONE_SURROGATE.sub("?", value[: max_bytes + 1]), max_bytes)


# --- Field checks -----------------------------------------------------------------


def _check_int16(what: str, value: object) -> None:
    check_int(what, value, *INT_BOUNDS[16])


def _check_int32(what: str, value: object) -> None:
    check_int(what, value, *INT_BOUNDS[32])


def _check_text(what: str, value: object, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    encode_text(what, value)


def _check_bytes(what: str, value: object) -> None:
    if not isinstance(value, bytes):
        raise ArgumentTypeError(f"{what} must be bytes")


def _check_version(cls: type, api_key: ApiKey, version: object) -> int:
    low, high = CODEC_VERSIONS[api_key]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArgumentTypeError(f"{cls.__name__} version must be an int")
    if not low <= version <= high:
        raise ConfigurationError(f"{cls.__name__} has versions {low}-{high}, not {version}")
    return version


def _no_tags_before_flexible(what: str, fields: tuple[TaggedField, ...], flexible: bool) -> None:
    # Kafka's generated writers: "Tagged fields were set, but version N of this
    # message does not support them."
    if fields and not flexible:
        raise ConfigurationError(f"{what}: tagged fields need a flexible version")


def _non_default(
    what: str, version: int, *, since: int, until: int | None = None, is_default: bool
) -> None:
    # Kafka's generated writers refuse a non-ignorable field that holds
    # something other than its default at a version without it: "Attempted to
    # write a non-default ... at version N".
    present = version >= since and (until is None or version <= until)
    if not present and not is_default:
        raise ConfigurationError(f"{what} must keep its default at version {version}")


def _write_text(
    writer: Writer, value: str | None, *, flexible: bool, nullable: bool = False, what: str
) -> None:
    """A STRING, or a COMPACT_STRING in a flexible version (nullable or not)."""
    writer._maybe_string(value, compact=flexible, nullable=nullable, what=what)


def _read_text(reader: Reader, *, flexible: bool, nullable: bool = False, what: str) -> str | None:
    return reader._maybe_string(compact=flexible, nullable=nullable, what=what)


def is_flexible(api_key: int, api_version: int) -> bool:
    """Whether this version of the API uses compact types and tagged fields."""
    first = _FIRST_FLEXIBLE.get(api_key)  # type: ignore[call-overload]
    return first is not None and api_version >= first


def request_header_version(api_key: int, api_version: int) -> int:
    """Request header v2 for flexible versions, v1 otherwise (``RequestHeader.json``).

    Header v0 is used only by ControlledShutdown v0, which this codec does not speak.
    """
    return 2 if is_flexible(api_key, api_version) else 1


def response_header_version(api_key: int, api_version: int) -> int:
    """Response header v1 for flexible versions, v0 otherwise; always v0 for ApiVersions."""
    if api_key == ApiKey.API_VERSIONS:
        return 0
    return 1 if is_flexible(api_key, api_version) else 0


def api_versions_response_version(request_version: int) -> int:
    """The version to answer an ApiVersions request of ``request_version`` with.

    The same version when it is supported; otherwise v0, with UNSUPPORTED_VERSION
    (KIP-511), so that a client of any age can read the answer.
    """
    low, high = SUPPORTED_VERSIONS[ApiKey.API_VERSIONS]
    if low <= request_version <= high:
        return request_version
    return API_VERSIONS_UNSUPPORTED_RESPONSE_VERSION


def usable_version(api_key: int, broker: Mapping[int, tuple[int, int]]) -> int | None:
    """The highest version of ``api_key`` that this codec and a broker both speak,
    or ``None`` if there is none; ``broker`` maps API keys to the (min, max)
    ranges its ApiVersions response lists (Kafka's
    ``NodeApiVersions.latestUsableVersion``)."""
    ours = CODEC_VERSIONS.get(api_key)  # type: ignore[call-overload]
    theirs = broker.get(api_key)
    if ours is None or theirs is None:
        return None
    low, high = max(ours[0], theirs[0]), min(ours[1], theirs[1])
    return high if low <= high else None


# --- Headers ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeader:
    """A request header, versions 0-2 (``RequestHeader.json``).

    ``client_id`` (v1+) stays a classic NULLABLE_STRING even in the flexible v2,
    so that any broker can read the header of any ApiVersions request;
    ``tagged_fields`` are v2 only.
    """

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None = None
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("RequestHeader.api_key", self.api_key)
        _check_int16("RequestHeader.api_version", self.api_version)
        _check_int32("RequestHeader.correlation_id", self.correlation_id)
        _check_text("RequestHeader.client_id", self.client_id, nullable=True)
        check_tags("RequestHeader.tagged_fields", self.tagged_fields)

    def encode(self, header_version: int) -> bytes:
        writer = Writer()
        self.write(writer, header_version)
        return writer.getvalue()

    def write(self, writer: Writer, header_version: int) -> None:
        check_int("request header version", header_version, 0, 2)
        if header_version == 0 and self.client_id is not None:
            raise ConfigurationError("request header v0 has no client_id")
        _no_tags_before_flexible("RequestHeader", self.tagged_fields, header_version >= 2)
        writer.int16(self.api_key)
        writer.int16(self.api_version)
        writer.int32(self.correlation_id)
        if header_version >= 1:
            writer.nullable_string(self.client_id, "client_id")
        if header_version >= 2:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def read(cls, reader: Reader, header_version: int) -> Self:
        api_key = reader.int16("request_api_key")
        api_version = reader.int16("request_api_version")
        correlation_id = reader.int32("correlation_id")
        client_id = reader.nullable_string("client_id") if header_version >= 1 else None
        tags = reader.tagged_fields() if header_version >= 2 else ()
        return cls(
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
            client_id=client_id,
            tagged_fields=tags,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHeader:
    """A response header: v0 (``correlation_id``) or v1 (plus tagged fields)."""

    correlation_id: int
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("ResponseHeader.correlation_id", self.correlation_id)
        check_tags("ResponseHeader.tagged_fields", self.tagged_fields)

    @classmethod
    def for_request(cls, header: RequestHeader) -> Self:
        """The header that answers ``header``: the same correlation id."""
        return cls(correlation_id=header.correlation_id)

    def encode(self, header_version: int) -> bytes:
        writer = Writer()
        self.write(writer, header_version)
        return writer.getvalue()

    def write(self, writer: Writer, header_version: int) -> None:
        check_int("response header version", header_version, 0, 1)
        _no_tags_before_flexible("ResponseHeader", self.tagged_fields, header_version >= 1)
        writer.int32(self.correlation_id)
        if header_version >= 1:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def read(cls, reader: Reader, header_version: int) -> Self:
        correlation_id = reader.int32("correlation_id")
        tags = reader.tagged_fields() if header_version >= 1 else ()
        return cls(correlation_id=correlation_id, tagged_fields=tags)


# --- Messages --------------------------------------------------------------------


class _Message:
    """Shared encode/decode plumbing; subclasses define ``_write`` and ``_read``."""

    __slots__ = ()
    API_KEY: ClassVar[ApiKey]

    def _write(self, writer: Writer, version: int) -> None:
        raise NotImplementedError

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        raise NotImplementedError

    def encode(self, version: int) -> bytes:
        """The message body (no header, no size prefix) at ``version``."""
        _check_version(type(self), self.API_KEY, version)
        writer = Writer()
        self._write(writer, version)
        return writer.getvalue()

    @classmethod
    def decode(
        cls, data: bytes, version: int, *, error_code: int = ErrorCode.INVALID_REQUEST
    ) -> Self:
        """Exactly one message body of ``version``; raises :class:`MalformedFrame`."""
        _check_version(cls, cls.API_KEY, version)
        reader = Reader(data, error_code=error_code)
        message = cls._read(reader, version)
        reader.finish()
        return message


def _flexible(cls: type[_Message], version: int) -> bool:
    return is_flexible(cls.API_KEY, version)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersionsRequest(_Message):
    """ApiVersions request (key 18), v0-v5. v0-v2 are empty; v3 adds the client's
    software name and version and is the first flexible version; v4 is v3; v5
    (Kafka 4.4, KIP-1242) adds the ``cluster_id`` and ``node_id`` the client
    believes it is talking to (``None`` and -1: it does not know).

    Every field is *ignorable*: written only from the version that has it, as
    Kafka's generated code does.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.API_VERSIONS
    client_software_name: str = ""
    client_software_version: str = ""
    cluster_id: str | None = None
    node_id: int = -1
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_text("ApiVersionsRequest.client_software_name", self.client_software_name)
        _check_text("ApiVersionsRequest.client_software_version", self.client_software_version)
        _check_text("ApiVersionsRequest.cluster_id", self.cluster_id, nullable=True)
        _check_int32("ApiVersionsRequest.node_id", self.node_id)
        check_tags("ApiVersionsRequest.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("ApiVersionsRequest", self.tagged_fields, flexible)
        if flexible:
            writer.compact_string(self.client_software_name)
            writer.compact_string(self.client_software_version)
            if version >= 5:
                writer.compact_nullable_string(self.cluster_id)
                writer.int32(self.node_id)
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        if not _flexible(cls, version):
            return cls()
        name = reader.compact_string("client_software_name")
        software_version = reader.compact_string("client_software_version")
        cluster_id, node_id = None, -1
        if version >= 5:
            cluster_id = reader.compact_nullable_string("cluster_id")
            node_id = reader.int32("node_id")
        return cls(
            client_software_name=name,
            client_software_version=software_version,
            cluster_id=cluster_id,
            node_id=node_id,
            tagged_fields=reader.tagged_fields(),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersion:
    """One entry of ApiVersionsResponse.api_keys: an API and its version range."""

    api_key: int
    min_version: int
    max_version: int
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("ApiVersion.api_key", self.api_key)
        _check_int16("ApiVersion.min_version", self.min_version)
        _check_int16("ApiVersion.max_version", self.max_version)
        check_tags("ApiVersion.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, flexible: bool) -> None:
        _no_tags_before_flexible("ApiVersion", self.tagged_fields, flexible)
        writer.int16(self.api_key)
        writer.int16(self.min_version)
        writer.int16(self.max_version)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, flexible: bool) -> Self:
        return cls(
            api_key=reader.int16("api_key"),
            min_version=reader.int16("min_version"),
            max_version=reader.int16("max_version"),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersionsResponse(_Message):
    """ApiVersions response (key 18), v0-v5.

    v1 adds ``throttle_time_ms`` (ignorable: dropped in v0); v3 is the first
    flexible version, whose tagged fields (SupportedFeatures and friends) are
    kept raw in ``tagged_fields``; v4 and v5 are v3. The response header is
    always v0.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.API_VERSIONS
    error_code: int = ErrorCode.NONE
    api_keys: tuple[ApiVersion, ...] = ()
    throttle_time_ms: int = 0
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("ApiVersionsResponse.error_code", self.error_code)
        check_tuple("ApiVersionsResponse.api_keys", self.api_keys, ApiVersion)
        _check_int32("ApiVersionsResponse.throttle_time_ms", self.throttle_time_ms)
        check_tags("ApiVersionsResponse.tagged_fields", self.tagged_fields)

    @classmethod
    def supporting(cls, versions: Sequence[tuple[int, int, int]] | None = None) -> Self:
        """A success answer advertising ``versions`` ((api_key, min, max) triples),
        by default :data:`SUPPORTED_VERSIONS`."""
        if versions is None:
            versions = [(key, low, high) for key, (low, high) in SUPPORTED_VERSIONS.items()]
        return cls(
            api_keys=tuple(
                ApiVersion(api_key=key, min_version=low, max_version=high)
                for key, low, high in versions
            )
        )

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("ApiVersionsResponse", self.tagged_fields, flexible)
        writer.int16(self.error_code)
        writer.array(self.api_keys, lambda w, entry: entry._write(w, flexible), compact=flexible)
        if version >= 1:
            writer.int32(self.throttle_time_ms)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        error_code = reader.int16("error_code")
        entries = reader.array(
            lambda r: ApiVersion._read(r, flexible), compact=flexible, min_size=6, what="api_keys"
        )
        throttle = reader.int32("throttle_time_ms") if version >= 1 else 0
        return cls(
            error_code=error_code,
            api_keys=entries or (),
            throttle_time_ms=throttle,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SaslHandshakeRequest(_Message):
    """SaslHandshake request (key 17), v0-v1; never flexible. v1 means the SASL
    tokens follow in SaslAuthenticate requests, v0 that they follow as bare
    size-prefixed frames."""

    API_KEY: ClassVar[ApiKey] = ApiKey.SASL_HANDSHAKE
    mechanism: str

    def __post_init__(self) -> None:
        _check_text("SaslHandshakeRequest.mechanism", self.mechanism)

    def _write(self, writer: Writer, version: int) -> None:
        writer.string(self.mechanism)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        return cls(mechanism=reader.string("mechanism"))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SaslHandshakeResponse(_Message):
    """SaslHandshake response (key 17), v0-v1: an error code and the enabled mechanisms."""

    API_KEY: ClassVar[ApiKey] = ApiKey.SASL_HANDSHAKE
    error_code: int = ErrorCode.NONE
    mechanisms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("SaslHandshakeResponse.error_code", self.error_code)
        check_tuple("SaslHandshakeResponse.mechanisms", self.mechanisms, str)
        for mechanism in self.mechanisms:
            _check_text("SaslHandshakeResponse.mechanisms[]", mechanism)

    def _write(self, writer: Writer, version: int) -> None:
        writer.int16(self.error_code)
        writer.array(self.mechanisms, Writer.string, compact=False)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        error_code = reader.int16("error_code")
        mechanisms = reader.array(
            lambda r: r.string("mechanisms[]"), compact=False, min_size=2, what="mechanisms"
        )
        return cls(error_code=error_code, mechanisms=mechanisms or ())


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticateRequest(_Message):
    """SaslAuthenticate request (key 36), v0-v2: one SASL token. v1 is v0; v2 is
    the first flexible version. ``auth_bytes`` holds a credential and is kept
    out of ``repr``."""

    API_KEY: ClassVar[ApiKey] = ApiKey.SASL_AUTHENTICATE
    auth_bytes: bytes = dataclasses.field(repr=False)
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_bytes("SaslAuthenticateRequest.auth_bytes", self.auth_bytes)
        check_tags("SaslAuthenticateRequest.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("SaslAuthenticateRequest", self.tagged_fields, flexible)
        if flexible:
            writer.compact_bytes(self.auth_bytes)
            writer.tagged_fields(self.tagged_fields)
        else:
            writer.bytes_(self.auth_bytes)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        if _flexible(cls, version):
            auth = reader.compact_bytes("auth_bytes")
            return cls(auth_bytes=auth, tagged_fields=reader.tagged_fields())
        return cls(auth_bytes=reader.bytes_("auth_bytes"))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticateResponse(_Message):
    """SaslAuthenticate response (key 36), v0-v2.

    v1 adds ``session_lifetime_ms`` (KIP-368). It is not ignorable: a non-zero
    lifetime cannot be encoded at v0, as in Kafka's generated writer.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.SASL_AUTHENTICATE
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    auth_bytes: bytes = b""
    session_lifetime_ms: int = 0
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("SaslAuthenticateResponse.error_code", self.error_code)
        _check_text("SaslAuthenticateResponse.error_message", self.error_message, nullable=True)
        _check_bytes("SaslAuthenticateResponse.auth_bytes", self.auth_bytes)
        lifetime = self.session_lifetime_ms
        check_int("SaslAuthenticateResponse.session_lifetime_ms", lifetime, *INT_BOUNDS[64])
        check_tags("SaslAuthenticateResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("SaslAuthenticateResponse", self.tagged_fields, flexible)
        if version == 0 and self.session_lifetime_ms != 0:
            raise ConfigurationError("SaslAuthenticateResponse v0 has no session_lifetime_ms")
        writer.int16(self.error_code)
        if flexible:
            writer.compact_nullable_string(self.error_message)
            writer.compact_bytes(self.auth_bytes)
        else:
            writer.nullable_string(self.error_message)
            writer.bytes_(self.auth_bytes)
        if version >= 1:
            writer.int64(self.session_lifetime_ms)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        error_code = reader.int16("error_code")
        if flexible:
            message = reader.compact_nullable_string("error_message")
            auth = reader.compact_bytes("auth_bytes")
        else:
            message = reader.nullable_string("error_message")
            auth = reader.bytes_("auth_bytes")
        lifetime = reader.int64("session_lifetime_ms") if version >= 1 else 0
        return cls(
            error_code=error_code,
            error_message=message,
            auth_bytes=auth,
            session_lifetime_ms=lifetime,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetadataRequest(_Message):
    """Metadata request (key 3), v0-v13: the topics asked about (``MetadataRequest.json``).

    ``topics`` are topic names. In v0 an empty tuple means every topic and
    ``None`` cannot be written; from v1 ``None`` means every topic and an empty
    tuple none. ``topic_ids`` (v10+; Kafka's broker honours them from v12)
    asks by topic id: each goes out as an entry with a null name. An entry that
    carries both an id and a name is read as its id, which is what Kafka's
    broker answers; one with neither is refused (``invalid-topic``).

    ``allow_auto_topic_creation`` (v4+), ``include_cluster_authorized_operations``
    (v8-v10) and ``include_topic_authorized_operations`` (v8+) are not ignorable:
    a value other than the default at a version without the field cannot be
    written, as in Kafka's generated writer. v9 is the first flexible version.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.METADATA
    topics: tuple[str, ...] | None = ()
    topic_ids: tuple[uuid.UUID, ...] = ()
    allow_auto_topic_creation: bool = True
    include_cluster_authorized_operations: bool = False
    include_topic_authorized_operations: bool = False
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        if self.topics is not None:
            check_tuple("MetadataRequest.topics", self.topics, str)
            for topic in self.topics:
                _check_text("MetadataRequest.topics[]", topic)
        check_tuple("MetadataRequest.topic_ids", self.topic_ids, uuid.UUID)
        if ZERO_UUID in self.topic_ids:
            raise ConfigurationError("MetadataRequest.topic_ids cannot hold the zero UUID")
        if self.topics is None and self.topic_ids:
            raise ConfigurationError("MetadataRequest.topics is None (every topic) with topic_ids")
        for name in (
            "allow_auto_topic_creation",
            "include_cluster_authorized_operations",
            "include_topic_authorized_operations",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentTypeError(f"MetadataRequest.{name} must be a bool")
        check_tags("MetadataRequest.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("MetadataRequest", self.tagged_fields, flexible)
        if version == 0 and self.topics is None:
            raise ConfigurationError("MetadataRequest v0 cannot carry a null topic list")
        if self.topic_ids and version < 10:
            raise ConfigurationError(f"MetadataRequest v{version} cannot carry topic ids")
        _non_default(
            "MetadataRequest.allow_auto_topic_creation",
            version,
            since=4,
            is_default=self.allow_auto_topic_creation,
        )
        _non_default(
            "MetadataRequest.include_cluster_authorized_operations",
            version,
            since=8,
            until=10,
            is_default=not self.include_cluster_authorized_operations,
        )
        _non_default(
            "MetadataRequest.include_topic_authorized_operations",
            version,
            since=8,
            is_default=not self.include_topic_authorized_operations,
        )
        entries: list[tuple[uuid.UUID, str | None]] | None = None
        if self.topics is not None:
            entries = [(ZERO_UUID, name) for name in self.topics]
            entries += [(topic_id, None) for topic_id in self.topic_ids]

        def entry(w: Writer, item: tuple[uuid.UUID, str | None]) -> None:
            if version >= 10:
                w.uuid(item[0])
            _write_text(w, item[1], flexible=flexible, nullable=version >= 10, what="topics[].name")
            if flexible:
                w.tagged_fields(())

        writer.array(entries, entry, compact=flexible, nullable=True)
        if version >= 4:
            writer.boolean(self.allow_auto_topic_creation)
        if 8 <= version <= 10:
            writer.boolean(self.include_cluster_authorized_operations)
        if version >= 8:
            writer.boolean(self.include_topic_authorized_operations)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        with_ids = version >= 10  # a topic id, and a name that may be null

        def entry(r: Reader) -> tuple[uuid.UUID, str | None]:
            start = r.offset
            topic_id = r.uuid("topics[].topic_id") if with_ids else ZERO_UUID
            name = _read_text(r, flexible=flexible, nullable=with_ids, what="topics[].name")
            if flexible:
                r.tagged_fields("topics[] tagged fields")
            if name is None and topic_id == ZERO_UUID:
                r.fail("invalid-topic", "a topic has neither a name nor an id", offset=start)
            return topic_id, name

        entries = reader.array(
            entry, compact=flexible, nullable=version >= 1, min_size=2, what="topics"
        )
        allow = reader.boolean("allow_auto_topic_creation") if version >= 4 else True
        cluster_ops = False
        if 8 <= version <= 10:
            cluster_ops = reader.boolean("include_cluster_authorized_operations")
        topic_ops = reader.boolean("include_topic_authorized_operations") if version >= 8 else False
        tags = reader.tagged_fields() if flexible else ()
        names: tuple[str, ...] | None = None
        ids: tuple[uuid.UUID, ...] = ()
        if entries is not None:
            names = tuple(
                name for topic_id, name in entries if topic_id == ZERO_UUID and name is not None
            )
            ids = tuple(topic_id for topic_id, _ in entries if topic_id != ZERO_UUID)
        return cls(
            topics=names,
            topic_ids=ids,
            allow_auto_topic_creation=allow,
            include_cluster_authorized_operations=cluster_ops,
            include_topic_authorized_operations=topic_ops,
            tagged_fields=tags,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetadataBroker:
    """A broker of a Metadata response; ``rack`` is v1+ (ignorable)."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("MetadataBroker.node_id", self.node_id)
        _check_text("MetadataBroker.host", self.host)
        _check_int32("MetadataBroker.port", self.port)
        _check_text("MetadataBroker.rack", self.rack, nullable=True)
        check_tags("MetadataBroker.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(MetadataResponse, version)
        _no_tags_before_flexible("MetadataBroker", self.tagged_fields, flexible)
        writer.int32(self.node_id)
        _write_text(writer, self.host, flexible=flexible, what="host")
        writer.int32(self.port)
        if version >= 1:
            _write_text(writer, self.rack, flexible=flexible, nullable=True, what="rack")
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(MetadataResponse, version)
        node_id = reader.int32("node_id")
        host = _read_text(reader, flexible=flexible, what="host")
        port = reader.int32("port")
        rack = None
        if version >= 1:
            rack = _read_text(reader, flexible=flexible, nullable=True, what="rack")
        return cls(
            node_id=node_id,
            host=host or "",
            port=port,
            rack=rack,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetadataPartition:
    """A partition of a Metadata response topic. ``leader_epoch`` (v7+) and
    ``offline_replicas`` (v5+) are ignorable: dropped at older versions."""

    error_code: int = ErrorCode.NONE
    partition_index: int
    leader_id: int
    leader_epoch: int = -1
    replica_nodes: tuple[int, ...] = ()
    isr_nodes: tuple[int, ...] = ()
    offline_replicas: tuple[int, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("MetadataPartition.error_code", self.error_code)
        _check_int32("MetadataPartition.partition_index", self.partition_index)
        _check_int32("MetadataPartition.leader_id", self.leader_id)
        _check_int32("MetadataPartition.leader_epoch", self.leader_epoch)
        for name in ("replica_nodes", "isr_nodes", "offline_replicas"):
            nodes = getattr(self, name)
            check_tuple(f"MetadataPartition.{name}", nodes, int)
            for node in nodes:
                _check_int32(f"MetadataPartition.{name}[]", node)
        check_tags("MetadataPartition.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(MetadataResponse, version)
        _no_tags_before_flexible("MetadataPartition", self.tagged_fields, flexible)
        writer.int16(self.error_code)
        writer.int32(self.partition_index)
        writer.int32(self.leader_id)
        if version >= 7:
            writer.int32(self.leader_epoch)
        writer.array(self.replica_nodes, Writer.int32, compact=flexible)
        writer.array(self.isr_nodes, Writer.int32, compact=flexible)
        if version >= 5:
            writer.array(self.offline_replicas, Writer.int32, compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(MetadataResponse, version)
        error_code = reader.int16("error_code")
        index = reader.int32("partition_index")
        leader = reader.int32("leader_id")
        epoch = reader.int32("leader_epoch") if version >= 7 else -1

        def nodes(what: str) -> tuple[int, ...]:
            return reader.array(Reader.int32, compact=flexible, min_size=4, what=what) or ()

        replicas = nodes("replica_nodes")
        isr = nodes("isr_nodes")
        offline = nodes("offline_replicas") if version >= 5 else ()
        return cls(
            error_code=error_code,
            partition_index=index,
            leader_id=leader,
            leader_epoch=epoch,
            replica_nodes=replicas,
            isr_nodes=isr,
            offline_replicas=offline,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetadataTopic:
    """A topic of a Metadata response.

    ``name`` may be ``None`` from v12 only (a topic asked about by an unknown
    id); ``topic_id`` (v10+) and ``is_internal`` (v1+) are ignorable;
    ``topic_authorized_operations`` (v8+) is not: a value other than
    :data:`AUTHORIZED_OPERATIONS_OMITTED` cannot be written before v8.
    """

    error_code: int = ErrorCode.NONE
    name: str | None
    topic_id: uuid.UUID = ZERO_UUID
    is_internal: bool = False
    partitions: tuple[MetadataPartition, ...] = ()
    topic_authorized_operations: int = AUTHORIZED_OPERATIONS_OMITTED
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int16("MetadataTopic.error_code", self.error_code)
        _check_text("MetadataTopic.name", self.name, nullable=True)
        if not isinstance(self.topic_id, uuid.UUID):
            raise ArgumentTypeError("MetadataTopic.topic_id must be a uuid.UUID")
        if not isinstance(self.is_internal, bool):
            raise ArgumentTypeError("MetadataTopic.is_internal must be a bool")
        check_tuple("MetadataTopic.partitions", self.partitions, MetadataPartition)
        _check_int32("MetadataTopic.topic_authorized_operations", self.topic_authorized_operations)
        check_tags("MetadataTopic.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(MetadataResponse, version)
        _no_tags_before_flexible("MetadataTopic", self.tagged_fields, flexible)
        if self.name is None and version < 12:
            raise ConfigurationError(f"MetadataTopic v{version} cannot carry a null name")
        _non_default(
            "MetadataTopic.topic_authorized_operations",
            version,
            since=8,
            is_default=self.topic_authorized_operations == AUTHORIZED_OPERATIONS_OMITTED,
        )
        writer.int16(self.error_code)
        _write_text(writer, self.name, flexible=flexible, nullable=True, what="name")
        if version >= 10:
            writer.uuid(self.topic_id)
        if version >= 1:
            writer.boolean(self.is_internal)
        writer.array(self.partitions, lambda w, p: p._write(w, version), compact=flexible)
        if version >= 8:
            writer.int32(self.topic_authorized_operations)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(MetadataResponse, version)
        error_code = reader.int16("error_code")
        nullable = version >= 12
        name = _read_text(reader, flexible=flexible, nullable=nullable, what="name")
        topic_id = reader.uuid("topic_id") if version >= 10 else ZERO_UUID
        internal = reader.boolean("is_internal") if version >= 1 else False
        partitions = reader.array(
            lambda r: MetadataPartition._read(r, version),
            compact=flexible,
            min_size=18,
            what="partitions",
        )
        operations = AUTHORIZED_OPERATIONS_OMITTED
        if version >= 8:
            operations = reader.int32("topic_authorized_operations")
        return cls(
            error_code=error_code,
            name=name,
            topic_id=topic_id,
            is_internal=internal,
            partitions=partitions or (),
            topic_authorized_operations=operations,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetadataResponse(_Message):
    """Metadata response (key 3), v0-v13: the brokers and topics (``MetadataResponse.json``).

    What a client needs to consider the connection usable and to find a
    topic's leader. Ignorable fields are dropped at versions without them:
    ``controller_id`` (v1+), ``cluster_id`` (v2+), ``throttle_time_ms`` (v3+)
    and the top-level ``error_code`` (v13+, Kafka 4's answer to a request it
    cannot serve). ``cluster_authorized_operations`` (v8-v10) is not ignorable.
    v9 is the first flexible version (compact strings and arrays, tagged fields
    in every structure).
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.METADATA
    throttle_time_ms: int = 0
    brokers: tuple[MetadataBroker, ...] = ()
    cluster_id: str | None = None
    controller_id: int = -1
    topics: tuple[MetadataTopic, ...] = ()
    cluster_authorized_operations: int = AUTHORIZED_OPERATIONS_OMITTED
    error_code: int = ErrorCode.NONE
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("MetadataResponse.throttle_time_ms", self.throttle_time_ms)
        check_tuple("MetadataResponse.brokers", self.brokers, MetadataBroker)
        _check_text("MetadataResponse.cluster_id", self.cluster_id, nullable=True)
        _check_int32("MetadataResponse.controller_id", self.controller_id)
        check_tuple("MetadataResponse.topics", self.topics, MetadataTopic)
        _check_int32(
            "MetadataResponse.cluster_authorized_operations", self.cluster_authorized_operations
        )
        _check_int16("MetadataResponse.error_code", self.error_code)
        check_tags("MetadataResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("MetadataResponse", self.tagged_fields, flexible)
        _non_default(
            "MetadataResponse.cluster_authorized_operations",
            version,
            since=8,
            until=10,
            is_default=self.cluster_authorized_operations == AUTHORIZED_OPERATIONS_OMITTED,
        )
        if version >= 3:
            writer.int32(self.throttle_time_ms)
        writer.array(self.brokers, lambda w, b: b._write(w, version), compact=flexible)
        if version >= 2:
            _write_text(
                writer, self.cluster_id, flexible=flexible, nullable=True, what="cluster_id"
            )
        if version >= 1:
            writer.int32(self.controller_id)
        writer.array(self.topics, lambda w, t: t._write(w, version), compact=flexible)
        if 8 <= version <= 10:
            writer.int32(self.cluster_authorized_operations)
        if version >= 13:
            writer.int16(self.error_code)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        throttle = reader.int32("throttle_time_ms") if version >= 3 else 0
        brokers = reader.array(
            lambda r: MetadataBroker._read(r, version),
            compact=flexible,
            min_size=10,
            what="brokers",
        )
        cluster_id = None
        if version >= 2:
            cluster_id = _read_text(reader, flexible=flexible, nullable=True, what="cluster_id")
        controller = reader.int32("controller_id") if version >= 1 else -1
        topics = reader.array(
            lambda r: MetadataTopic._read(r, version), compact=flexible, min_size=8, what="topics"
        )
        cluster_operations = AUTHORIZED_OPERATIONS_OMITTED
        if 8 <= version <= 10:
            cluster_operations = reader.int32("cluster_authorized_operations")
        error_code = reader.int16("error_code") if version >= 13 else ErrorCode.NONE
        return cls(
            throttle_time_ms=throttle,
            brokers=brokers or (),
            cluster_id=cluster_id,
            controller_id=controller,
            topics=topics or (),
            cluster_authorized_operations=cluster_operations,
            error_code=error_code,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


# --- Produce and Fetch ----------------------------------------------------------------
#
# The APIs that move records (``ProduceRequest.json``, ``FetchRequest.json`` and
# their responses). Each partition's records travel as one ``records`` field:
# NULLABLE_BYTES, or COMPACT_NULLABLE_BYTES in flexible versions, kept here as
# bytes; :mod:`oauthbearer.kafka.records` reads and writes the batches inside.
# A topic is named by its name up to Produce v12 and Fetch v12, and by its id
# from v13 (KIP-516): the other one must keep its default, so that no request
# loses its topic on the way out. Tagged fields (Fetch's ClusterId,
# ReplicaState, ReplicaDirectoryId, HighWatermark, DivergingEpoch,
# CurrentLeader, SnapshotId and NodeEndpoints; Produce's CurrentLeader and
# NodeEndpoints) are kept raw in ``tagged_fields``.


#: Produce and Fetch name topics by id from v13 (KIP-516), by name before.
_TOPIC_IDS_SINCE: Final = 13


def _write_records(writer: Writer, records: bytes | None, flexible: bool) -> None:
    writer._maybe_bytes(records, compact=flexible, nullable=True, what="records")


def _read_records(reader: Reader, flexible: bool) -> bytes | None:
    return reader._maybe_bytes(compact=flexible, nullable=True, what="records")


def _check_records(what: str, value: object) -> None:
    if value is not None:
        _check_bytes(what, value)


def _check_topic_identity(what: str, name: str, topic_id: object) -> None:
    _check_text(f"{what}.name", name)
    if not isinstance(topic_id, uuid.UUID):
        raise ArgumentTypeError(f"{what}.topic_id must be a uuid.UUID")


def _write_topic_identity(
    writer: Writer, what: str, name: str, topic_id: uuid.UUID, version: int, *, flexible: bool
) -> None:
    """A topic's name (up to v12) or its id (from v13); the other must keep its default."""
    if version >= _TOPIC_IDS_SINCE:
        if name:
            raise ConfigurationError(f"{what} v{version} names topics by id: name must be empty")
        writer.uuid(topic_id)
        return
    if topic_id != ZERO_UUID:
        raise ConfigurationError(
            f"{what} v{version} names topics by name: topic_id needs v{_TOPIC_IDS_SINCE}+"
        )
    _write_text(writer, name, flexible=flexible, what=f"{what}.name")


def _read_topic_identity(reader: Reader, version: int, *, flexible: bool) -> tuple[str, uuid.UUID]:
    if version >= _TOPIC_IDS_SINCE:
        return "", reader.uuid("topic_id")
    return _read_text(reader, flexible=flexible, what="topic name") or "", ZERO_UUID


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProducePartition:
    """One partition's records in a Produce request (``PartitionProduceData``).
    ``records`` are record batches (:mod:`oauthbearer.kafka.records`); ``repr``
    shows their size only."""

    index: int
    records: bytes | None = dataclasses.field(default=None, repr=False)
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("ProducePartition.index", self.index)
        _check_records("ProducePartition.records", self.records)
        check_tags("ProducePartition.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(ProduceRequest, version)
        _no_tags_before_flexible("ProducePartition", self.tagged_fields, flexible)
        writer.int32(self.index)
        _write_records(writer, self.records, flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(ProduceRequest, version)
        return cls(
            index=reader.int32("index"),
            records=_read_records(reader, flexible),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProduceTopic:
    """One topic of a Produce request (``TopicProduceData``): ``name`` up to v12,
    ``topic_id`` from v13."""

    name: str = ""
    topic_id: uuid.UUID = ZERO_UUID
    partition_data: tuple[ProducePartition, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_topic_identity("ProduceTopic", self.name, self.topic_id)
        check_tuple("ProduceTopic.partition_data", self.partition_data, ProducePartition)
        check_tags("ProduceTopic.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(ProduceRequest, version)
        _no_tags_before_flexible("ProduceTopic", self.tagged_fields, flexible)
        _write_topic_identity(
            writer, "ProduceTopic", self.name, self.topic_id, version, flexible=flexible
        )
        writer.array(self.partition_data, lambda w, p: p._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(ProduceRequest, version)
        name, topic_id = _read_topic_identity(reader, version, flexible=flexible)
        partitions = reader.array(
            lambda r: ProducePartition._read(r, version),
            compact=flexible,
            min_size=5,
            what="partition_data",
        )
        return cls(
            name=name,
            topic_id=topic_id,
            partition_data=partitions or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProduceRequest(_Message):
    """Produce request (key 0), v3-v13 (``ProduceRequest.json``).

    ``acks`` is 0 (no answer at all: the broker sends no response), 1 (the
    leader) or -1 (every in-sync replica); ``transactional_id`` is ``None`` for
    a producer outside transactions. v9 is the first flexible version; v13
    (Kafka 4.1+) names topics by id. Kafka 4 refuses v0-v2 (KIP-896).
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.PRODUCE
    transactional_id: str | None = None
    acks: int = -1
    timeout_ms: int = 30_000
    topic_data: tuple[ProduceTopic, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_text("ProduceRequest.transactional_id", self.transactional_id, nullable=True)
        _check_int16("ProduceRequest.acks", self.acks)
        _check_int32("ProduceRequest.timeout_ms", self.timeout_ms)
        check_tuple("ProduceRequest.topic_data", self.topic_data, ProduceTopic)
        check_tags("ProduceRequest.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("ProduceRequest", self.tagged_fields, flexible)
        _write_text(
            writer, self.transactional_id, flexible=flexible, nullable=True, what="transactional_id"
        )
        writer.int16(self.acks)
        writer.int32(self.timeout_ms)
        writer.array(self.topic_data, lambda w, t: t._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        transactional_id = _read_text(
            reader, flexible=flexible, nullable=True, what="transactional_id"
        )
        acks = reader.int16("acks")
        timeout = reader.int32("timeout_ms")
        topics = reader.array(
            lambda r: ProduceTopic._read(r, version),
            compact=flexible,
            min_size=2,
            what="topic_data",
        )
        return cls(
            transactional_id=transactional_id,
            acks=acks,
            timeout_ms=timeout,
            topic_data=topics or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProduceRecordError:
    """A record that made the broker drop its batch (``BatchIndexAndErrorMessage``, v8+)."""

    batch_index: int
    batch_index_error_message: str | None = None
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("ProduceRecordError.batch_index", self.batch_index)
        _check_text(
            "ProduceRecordError.batch_index_error_message",
            self.batch_index_error_message,
            nullable=True,
        )
        check_tags("ProduceRecordError.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(ProduceResponse, version)
        _no_tags_before_flexible("ProduceRecordError", self.tagged_fields, flexible)
        writer.int32(self.batch_index)
        _write_text(
            writer,
            self.batch_index_error_message,
            flexible=flexible,
            nullable=True,
            what="batch_index_error_message",
        )
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(ProduceResponse, version)
        return cls(
            batch_index=reader.int32("batch_index"),
            batch_index_error_message=_read_text(
                reader, flexible=flexible, nullable=True, what="batch_index_error_message"
            ),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProducePartitionResponse:
    """The outcome for one partition (``PartitionProduceResponse``).

    ``base_offset`` is the offset of the batch's first record. Ignorable
    fields are dropped at versions without them: ``log_start_offset`` (v5+),
    ``record_errors`` and ``error_message`` (v8+). The tagged CurrentLeader
    (v10+) is kept raw in ``tagged_fields``.
    """

    index: int
    error_code: int = ErrorCode.NONE
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    record_errors: tuple[ProduceRecordError, ...] = ()
    error_message: str | None = None
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("ProducePartitionResponse.index", self.index)
        _check_int16("ProducePartitionResponse.error_code", self.error_code)
        for name in ("base_offset", "log_append_time_ms", "log_start_offset"):
            check_int(f"ProducePartitionResponse.{name}", getattr(self, name), *INT_BOUNDS[64])
        check_tuple(
            "ProducePartitionResponse.record_errors", self.record_errors, ProduceRecordError
        )
        _check_text("ProducePartitionResponse.error_message", self.error_message, nullable=True)
        check_tags("ProducePartitionResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(ProduceResponse, version)
        _no_tags_before_flexible("ProducePartitionResponse", self.tagged_fields, flexible)
        writer.int32(self.index)
        writer.int16(self.error_code)
        writer.int64(self.base_offset)
        writer.int64(self.log_append_time_ms)
        if version >= 5:
            writer.int64(self.log_start_offset)
        if version >= 8:
            writer.array(self.record_errors, lambda w, e: e._write(w, version), compact=flexible)
            _write_text(
                writer, self.error_message, flexible=flexible, nullable=True, what="error_message"
            )
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(ProduceResponse, version)
        index = reader.int32("index")
        error_code = reader.int16("error_code")
        base_offset = reader.int64("base_offset")
        append_time = reader.int64("log_append_time_ms")
        start = reader.int64("log_start_offset") if version >= 5 else -1
        errors: tuple[ProduceRecordError, ...] = ()
        message = None
        if version >= 8:
            errors = (
                reader.array(
                    lambda r: ProduceRecordError._read(r, version),
                    compact=flexible,
                    min_size=5,
                    what="record_errors",
                )
                or ()
            )
            message = _read_text(reader, flexible=flexible, nullable=True, what="error_message")
        return cls(
            index=index,
            error_code=error_code,
            base_offset=base_offset,
            log_append_time_ms=append_time,
            log_start_offset=start,
            record_errors=errors,
            error_message=message,
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProduceTopicResponse:
    """One topic of a Produce response (``TopicProduceResponse``): ``name`` up to
    v12, ``topic_id`` from v13."""

    name: str = ""
    topic_id: uuid.UUID = ZERO_UUID
    partition_responses: tuple[ProducePartitionResponse, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_topic_identity("ProduceTopicResponse", self.name, self.topic_id)
        check_tuple(
            "ProduceTopicResponse.partition_responses",
            self.partition_responses,
            ProducePartitionResponse,
        )
        check_tags("ProduceTopicResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(ProduceResponse, version)
        _no_tags_before_flexible("ProduceTopicResponse", self.tagged_fields, flexible)
        _write_topic_identity(
            writer, "ProduceTopicResponse", self.name, self.topic_id, version, flexible=flexible
        )
        writer.array(self.partition_responses, lambda w, p: p._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(ProduceResponse, version)
        name, topic_id = _read_topic_identity(reader, version, flexible=flexible)
        partitions = reader.array(
            lambda r: ProducePartitionResponse._read(r, version),
            compact=flexible,
            min_size=22,
            what="partition_responses",
        )
        return cls(
            name=name,
            topic_id=topic_id,
            partition_responses=partitions or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProduceResponse(_Message):
    """Produce response (key 0), v3-v13 (``ProduceResponse.json``). The tagged
    NodeEndpoints (v10+) are kept raw in ``tagged_fields``."""

    API_KEY: ClassVar[ApiKey] = ApiKey.PRODUCE
    responses: tuple[ProduceTopicResponse, ...] = ()
    throttle_time_ms: int = 0
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        check_tuple("ProduceResponse.responses", self.responses, ProduceTopicResponse)
        _check_int32("ProduceResponse.throttle_time_ms", self.throttle_time_ms)
        check_tags("ProduceResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("ProduceResponse", self.tagged_fields, flexible)
        writer.array(self.responses, lambda w, t: t._write(w, version), compact=flexible)
        writer.int32(self.throttle_time_ms)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        responses = reader.array(
            lambda r: ProduceTopicResponse._read(r, version),
            compact=flexible,
            min_size=2,
            what="responses",
        )
        return cls(
            responses=responses or (),
            throttle_time_ms=reader.int32("throttle_time_ms"),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


#: FetchRequest.max_bytes's default: no limit but the partitions' own.
FETCH_MAX_BYTES_UNLIMITED: Final = 0x7FFF_FFFF


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchPartition:
    """One partition to fetch (``FetchPartition``), from ``fetch_offset``.

    ``partition_max_bytes`` defaults to Kafka's consumer setting
    ``max.partition.fetch.bytes`` (1 MiB). ``current_leader_epoch`` (v9+) and
    ``log_start_offset`` (v5+, followers only) are ignorable;
    ``last_fetched_epoch`` (v12+) is not. The tagged ReplicaDirectoryId and
    HighWatermark (followers) are kept raw in ``tagged_fields``.
    """

    partition: int
    fetch_offset: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    log_start_offset: int = -1
    partition_max_bytes: int = 1_048_576
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("FetchPartition.partition", self.partition)
        check_int("FetchPartition.fetch_offset", self.fetch_offset, *INT_BOUNDS[64])
        _check_int32("FetchPartition.current_leader_epoch", self.current_leader_epoch)
        _check_int32("FetchPartition.last_fetched_epoch", self.last_fetched_epoch)
        check_int("FetchPartition.log_start_offset", self.log_start_offset, *INT_BOUNDS[64])
        _check_int32("FetchPartition.partition_max_bytes", self.partition_max_bytes)
        check_tags("FetchPartition.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchRequest, version)
        _no_tags_before_flexible("FetchPartition", self.tagged_fields, flexible)
        _non_default(
            "FetchPartition.last_fetched_epoch",
            version,
            since=12,
            is_default=self.last_fetched_epoch == -1,
        )
        writer.int32(self.partition)
        if version >= 9:
            writer.int32(self.current_leader_epoch)
        writer.int64(self.fetch_offset)
        if version >= 12:
            writer.int32(self.last_fetched_epoch)
        if version >= 5:
            writer.int64(self.log_start_offset)
        writer.int32(self.partition_max_bytes)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchRequest, version)
        partition = reader.int32("partition")
        epoch = reader.int32("current_leader_epoch") if version >= 9 else -1
        offset = reader.int64("fetch_offset")
        last_epoch = reader.int32("last_fetched_epoch") if version >= 12 else -1
        start = reader.int64("log_start_offset") if version >= 5 else -1
        return cls(
            partition=partition,
            fetch_offset=offset,
            current_leader_epoch=epoch,
            last_fetched_epoch=last_epoch,
            log_start_offset=start,
            partition_max_bytes=reader.int32("partition_max_bytes"),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchTopic:
    """One topic to fetch (``FetchTopic``): ``topic`` (its name) up to v12,
    ``topic_id`` from v13."""

    topic: str = ""
    topic_id: uuid.UUID = ZERO_UUID
    partitions: tuple[FetchPartition, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_topic_identity("FetchTopic", self.topic, self.topic_id)
        check_tuple("FetchTopic.partitions", self.partitions, FetchPartition)
        check_tags("FetchTopic.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchRequest, version)
        _no_tags_before_flexible("FetchTopic", self.tagged_fields, flexible)
        _write_topic_identity(
            writer, "FetchTopic", self.topic, self.topic_id, version, flexible=flexible
        )
        writer.array(self.partitions, lambda w, p: p._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchRequest, version)
        topic, topic_id = _read_topic_identity(reader, version, flexible=flexible)
        partitions = reader.array(
            lambda r: FetchPartition._read(r, version),
            compact=flexible,
            min_size=16,
            what="partitions",
        )
        return cls(
            topic=topic,
            topic_id=topic_id,
            partitions=partitions or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ForgottenTopic:
    """Partitions an incremental fetch session stops fetching (``ForgottenTopic``, v7+):
    ``topic`` up to v12, ``topic_id`` from v13."""

    topic: str = ""
    topic_id: uuid.UUID = ZERO_UUID
    partitions: tuple[int, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_topic_identity("ForgottenTopic", self.topic, self.topic_id)
        check_tuple("ForgottenTopic.partitions", self.partitions, int)
        for partition in self.partitions:
            _check_int32("ForgottenTopic.partitions[]", partition)
        check_tags("ForgottenTopic.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchRequest, version)
        _no_tags_before_flexible("ForgottenTopic", self.tagged_fields, flexible)
        _write_topic_identity(
            writer, "ForgottenTopic", self.topic, self.topic_id, version, flexible=flexible
        )
        writer.array(self.partitions, Writer.int32, compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchRequest, version)
        topic, topic_id = _read_topic_identity(reader, version, flexible=flexible)
        partitions = reader.array(
            lambda r: r.int32("partitions[]"), compact=flexible, min_size=4, what="partitions"
        )
        return cls(
            topic=topic,
            topic_id=topic_id,
            partitions=partitions or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchRequest(_Message):
    """Fetch request (key 1), v4-v18 (``FetchRequest.json``).

    A consumer leaves ``replica_id`` at -1 (from v15 it is no longer a field:
    a follower sends it in the tagged ReplicaState, kept raw like ClusterId in
    ``tagged_fields``). ``max_wait_ms`` and ``min_bytes`` default to Kafka's
    consumer settings ``fetch.max.wait.ms`` (500) and ``fetch.min.bytes`` (1).
    ``isolation_level`` is 0 (read uncommitted) or 1 (read committed).
    ``session_id`` and ``session_epoch`` (v7+, KIP-227; the defaults ask for
    no fetch session) and ``rack_id`` (v11+) are ignorable;
    ``forgotten_topics_data`` (v7+) is not. v12 is the first flexible version;
    v13 names topics by id.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.FETCH
    replica_id: int = -1
    max_wait_ms: int = 500
    min_bytes: int = 1
    max_bytes: int = FETCH_MAX_BYTES_UNLIMITED
    isolation_level: int = 0
    session_id: int = 0
    session_epoch: int = -1
    topics: tuple[FetchTopic, ...] = ()
    forgotten_topics_data: tuple[ForgottenTopic, ...] = ()
    rack_id: str = ""
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        for name in ("replica_id", "max_wait_ms", "min_bytes", "max_bytes"):
            _check_int32(f"FetchRequest.{name}", getattr(self, name))
        check_int("FetchRequest.isolation_level", self.isolation_level, *INT_BOUNDS[8])
        _check_int32("FetchRequest.session_id", self.session_id)
        _check_int32("FetchRequest.session_epoch", self.session_epoch)
        check_tuple("FetchRequest.topics", self.topics, FetchTopic)
        check_tuple(
            "FetchRequest.forgotten_topics_data", self.forgotten_topics_data, ForgottenTopic
        )
        _check_text("FetchRequest.rack_id", self.rack_id)
        check_tags("FetchRequest.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("FetchRequest", self.tagged_fields, flexible)
        _non_default(
            "FetchRequest.replica_id", version, since=0, until=14, is_default=self.replica_id == -1
        )
        _non_default(
            "FetchRequest.forgotten_topics_data",
            version,
            since=7,
            is_default=not self.forgotten_topics_data,
        )
        if version <= 14:
            writer.int32(self.replica_id)
        writer.int32(self.max_wait_ms)
        writer.int32(self.min_bytes)
        writer.int32(self.max_bytes)
        writer.int8(self.isolation_level)
        if version >= 7:
            writer.int32(self.session_id)
            writer.int32(self.session_epoch)
        writer.array(self.topics, lambda w, t: t._write(w, version), compact=flexible)
        if version >= 7:
            writer.array(
                self.forgotten_topics_data, lambda w, t: t._write(w, version), compact=flexible
            )
        if version >= 11:
            _write_text(writer, self.rack_id, flexible=flexible, what="rack_id")
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        replica_id = reader.int32("replica_id") if version <= 14 else -1
        max_wait = reader.int32("max_wait_ms")
        min_bytes = reader.int32("min_bytes")
        max_bytes = reader.int32("max_bytes")
        isolation = reader.int8("isolation_level")
        session_id, session_epoch = 0, -1
        if version >= 7:
            session_id = reader.int32("session_id")
            session_epoch = reader.int32("session_epoch")
        topics = reader.array(
            lambda r: FetchTopic._read(r, version), compact=flexible, min_size=2, what="topics"
        )
        forgotten: tuple[ForgottenTopic, ...] = ()
        if version >= 7:
            forgotten = (
                reader.array(
                    lambda r: ForgottenTopic._read(r, version),
                    compact=flexible,
                    min_size=2,
                    what="forgotten_topics_data",
                )
                or ()
            )
        rack = _read_text(reader, flexible=flexible, what="rack_id") if version >= 11 else ""
        return cls(
            replica_id=replica_id,
            max_wait_ms=max_wait,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            isolation_level=isolation,
            session_id=session_id,
            session_epoch=session_epoch,
            topics=topics or (),
            forgotten_topics_data=forgotten,
            rack_id=rack or "",
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AbortedTransaction:
    """A transaction aborted in the fetched range (``AbortedTransaction``)."""

    producer_id: int
    first_offset: int
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        check_int("AbortedTransaction.producer_id", self.producer_id, *INT_BOUNDS[64])
        check_int("AbortedTransaction.first_offset", self.first_offset, *INT_BOUNDS[64])
        check_tags("AbortedTransaction.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchResponse, version)
        _no_tags_before_flexible("AbortedTransaction", self.tagged_fields, flexible)
        writer.int64(self.producer_id)
        writer.int64(self.first_offset)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchResponse, version)
        return cls(
            producer_id=reader.int64("producer_id"),
            first_offset=reader.int64("first_offset"),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchPartitionData:
    """One fetched partition (``PartitionData``): its error, its offsets and its
    ``records`` (record batches, :mod:`oauthbearer.kafka.records`; the last one
    may be cut short by the response's byte limit; ``repr`` shows their size).

    ``log_start_offset`` (v5+) and ``aborted_transactions`` (``None`` or a
    tuple) are ignorable; ``preferred_read_replica`` (v11+) is not. The tagged
    DivergingEpoch, CurrentLeader and SnapshotId (v12+) are kept raw in
    ``tagged_fields``.
    """

    partition_index: int
    error_code: int = ErrorCode.NONE
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    aborted_transactions: tuple[AbortedTransaction, ...] | None = ()
    preferred_read_replica: int = -1
    records: bytes | None = dataclasses.field(default=None, repr=False)
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("FetchPartitionData.partition_index", self.partition_index)
        _check_int16("FetchPartitionData.error_code", self.error_code)
        for name in ("high_watermark", "last_stable_offset", "log_start_offset"):
            check_int(f"FetchPartitionData.{name}", getattr(self, name), *INT_BOUNDS[64])
        if self.aborted_transactions is not None:
            check_tuple(
                "FetchPartitionData.aborted_transactions",
                self.aborted_transactions,
                AbortedTransaction,
            )
        _check_int32("FetchPartitionData.preferred_read_replica", self.preferred_read_replica)
        _check_records("FetchPartitionData.records", self.records)
        check_tags("FetchPartitionData.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchResponse, version)
        _no_tags_before_flexible("FetchPartitionData", self.tagged_fields, flexible)
        _non_default(
            "FetchPartitionData.preferred_read_replica",
            version,
            since=11,
            is_default=self.preferred_read_replica == -1,
        )
        writer.int32(self.partition_index)
        writer.int16(self.error_code)
        writer.int64(self.high_watermark)
        writer.int64(self.last_stable_offset)
        if version >= 5:
            writer.int64(self.log_start_offset)
        writer.array(
            self.aborted_transactions,
            lambda w, t: t._write(w, version),
            compact=flexible,
            nullable=True,
        )
        if version >= 11:
            writer.int32(self.preferred_read_replica)
        _write_records(writer, self.records, flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchResponse, version)
        index = reader.int32("partition_index")
        error_code = reader.int16("error_code")
        high_watermark = reader.int64("high_watermark")
        stable = reader.int64("last_stable_offset")
        start = reader.int64("log_start_offset") if version >= 5 else -1
        aborted = reader.array(
            lambda r: AbortedTransaction._read(r, version),
            compact=flexible,
            nullable=True,
            min_size=16,
            what="aborted_transactions",
        )
        preferred = reader.int32("preferred_read_replica") if version >= 11 else -1
        return cls(
            partition_index=index,
            error_code=error_code,
            high_watermark=high_watermark,
            last_stable_offset=stable,
            log_start_offset=start,
            aborted_transactions=aborted,
            preferred_read_replica=preferred,
            records=_read_records(reader, flexible),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchTopicResponse:
    """One topic of a Fetch response (``FetchableTopicResponse``): ``topic`` up
    to v12, ``topic_id`` from v13."""

    topic: str = ""
    topic_id: uuid.UUID = ZERO_UUID
    partitions: tuple[FetchPartitionData, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_topic_identity("FetchTopicResponse", self.topic, self.topic_id)
        check_tuple("FetchTopicResponse.partitions", self.partitions, FetchPartitionData)
        check_tags("FetchTopicResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(FetchResponse, version)
        _no_tags_before_flexible("FetchTopicResponse", self.tagged_fields, flexible)
        _write_topic_identity(
            writer, "FetchTopicResponse", self.topic, self.topic_id, version, flexible=flexible
        )
        writer.array(self.partitions, lambda w, p: p._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(FetchResponse, version)
        topic, topic_id = _read_topic_identity(reader, version, flexible=flexible)
        partitions = reader.array(
            lambda r: FetchPartitionData._read(r, version),
            compact=flexible,
            min_size=30,
            what="partitions",
        )
        return cls(
            topic=topic,
            topic_id=topic_id,
            partitions=partitions or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponse(_Message):
    """Fetch response (key 1), v4-v18 (``FetchResponse.json``).

    The top-level ``error_code`` (v7+) is ignorable; ``session_id`` (v7+) is not.
    The tagged NodeEndpoints (v16+) are kept raw in ``tagged_fields``.
    """

    API_KEY: ClassVar[ApiKey] = ApiKey.FETCH
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    session_id: int = 0
    responses: tuple[FetchTopicResponse, ...] = ()
    tagged_fields: tuple[TaggedField, ...] = ()

    def __post_init__(self) -> None:
        _check_int32("FetchResponse.throttle_time_ms", self.throttle_time_ms)
        _check_int16("FetchResponse.error_code", self.error_code)
        _check_int32("FetchResponse.session_id", self.session_id)
        check_tuple("FetchResponse.responses", self.responses, FetchTopicResponse)
        check_tags("FetchResponse.tagged_fields", self.tagged_fields)

    def _write(self, writer: Writer, version: int) -> None:
        flexible = _flexible(type(self), version)
        _no_tags_before_flexible("FetchResponse", self.tagged_fields, flexible)
        _non_default("FetchResponse.session_id", version, since=7, is_default=self.session_id == 0)
        writer.int32(self.throttle_time_ms)
        if version >= 7:
            writer.int16(self.error_code)
            writer.int32(self.session_id)
        writer.array(self.responses, lambda w, t: t._write(w, version), compact=flexible)
        if flexible:
            writer.tagged_fields(self.tagged_fields)

    @classmethod
    def _read(cls, reader: Reader, version: int) -> Self:
        flexible = _flexible(cls, version)
        throttle = reader.int32("throttle_time_ms")
        error_code: int = ErrorCode.NONE
        session_id = 0
        if version >= 7:
            error_code = reader.int16("error_code")
            session_id = reader.int32("session_id")
        responses = reader.array(
            lambda r: FetchTopicResponse._read(r, version),
            compact=flexible,
            min_size=2,
            what="responses",
        )
        return cls(
            throttle_time_ms=throttle,
            error_code=error_code,
            session_id=session_id,
            responses=responses or (),
            tagged_fields=reader.tagged_fields() if flexible else (),
        )


RequestMessage = Union[  # noqa: UP007 - a runtime alias, usable in isinstance()
    ApiVersionsRequest,
    SaslHandshakeRequest,
    SaslAuthenticateRequest,
    MetadataRequest,
    ProduceRequest,
    FetchRequest,
]
ResponseMessage = Union[  # noqa: UP007
    ApiVersionsResponse,
    SaslHandshakeResponse,
    SaslAuthenticateResponse,
    MetadataResponse,
    ProduceResponse,
    FetchResponse,
]

_REQUESTS: Final[dict[int, type[RequestMessage]]] = {
    ApiKey.PRODUCE: ProduceRequest,
    ApiKey.FETCH: FetchRequest,
    ApiKey.METADATA: MetadataRequest,
    ApiKey.SASL_HANDSHAKE: SaslHandshakeRequest,
    ApiKey.API_VERSIONS: ApiVersionsRequest,
    ApiKey.SASL_AUTHENTICATE: SaslAuthenticateRequest,
}
_RESPONSES: Final[dict[int, type[ResponseMessage]]] = {
    ApiKey.PRODUCE: ProduceResponse,
    ApiKey.FETCH: FetchResponse,
    ApiKey.METADATA: MetadataResponse,
    ApiKey.SASL_HANDSHAKE: SaslHandshakeResponse,
    ApiKey.API_VERSIONS: ApiVersionsResponse,
    ApiKey.SASL_AUTHENTICATE: SaslAuthenticateResponse,
}


# --- Frames ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One size-delimited frame's payload (without its size prefix).

    The payload may hold a SASL token, so ``repr`` shows only its length.
    """

    data: bytes = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        _check_bytes("Frame.data", self.data)

    def __repr__(self) -> str:
        return f"Frame(<{len(self.data)} bytes>)"

    @property
    def size(self) -> int:
        return len(self.data)


class DecoderEvent(enum.Enum):
    """What :meth:`KafkaFrameDecoder.next_event` returns when it has no frame."""

    #: No complete frame is buffered; call ``receive_data`` with more bytes.
    NEED_DATA = "NEED_DATA"
    #: The peer closed the stream (``receive_data(b"")``) between frames.
    CONNECTION_CLOSED = "CONNECTION_CLOSED"


NEED_DATA: Final = DecoderEvent.NEED_DATA
CONNECTION_CLOSED: Final = DecoderEvent.CONNECTION_CLOSED

_SIZE_PREFIX: Final = 4


class KafkaFrameDecoder:
    """Splits a byte stream into size-delimited frames, in h11's shape.

    ``receive_data(data)`` adds bytes (``b""`` means the peer closed the
    stream); ``next_event()`` returns the next :class:`Frame`, or
    :data:`NEED_DATA`, or :data:`CONNECTION_CLOSED` at a clean end of stream.

    Each size prefix is checked as soon as its frame is the next to be
    returned: the moment its four bytes arrive (inside ``receive_data``) when
    every frame before it was returned, else when the frame before it is. A
    frame is so judged by the limit in force when it is reached, as Kafka's
    broker, which reads one frame at a time, judges it; the caller may change
    the limit on reading a frame. A negative size, or one above
    ``max_frame_size``, stops the decoder there, and nothing after that prefix
    is kept. Frames that came complete before it are still returned; then
    ``next_event`` raises the :class:`MalformedFrame`, and so does every later
    call. Where the stream is cut into chunks does not change what comes out.

    The buffer is a ``bytearray`` read from an offset and compacted once the
    consumed part is at least half of it, so a stream of n bytes costs O(n)
    whatever its chunking.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_error",
        "_max_frame_size",
        "_scan",
        "_start",
        "_stream_offset",
    )

    def __init__(self, *, max_frame_size: int = KAFKA_MAX_RECEIVE_SIZE) -> None:
        check_int("max_frame_size", max_frame_size, 0, (1 << 31) - 1)
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._start = 0  # where the next unreturned frame begins in _buffer
        self._scan = 0  # where the next unchecked size prefix begins in _buffer
        self._stream_offset = 0  # stream position of _buffer[0]
        self._closed = False
        self._error: MalformedFrame | None = None

    @property
    def max_frame_size(self) -> int:
        """The limit on size prefixes; settable, as Kafka's broker raises it from
        ``sasl.server.max.receive.size`` to ``socket.request.max.bytes`` once a
        connection has authenticated. A new limit applies to every frame not yet
        returned; frames already returned stand."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int) -> None:
        check_int("max_frame_size", value, 0, (1 << 31) - 1)
        self._max_frame_size = value
        if self._error is None:
            self._scan = self._start  # judge the buffered frames again, by the new limit
            self._check_prefixes()

    @property
    def buffered(self) -> int:
        """How many received bytes have not been returned as frames."""
        return len(self._buffer) - self._start

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; ``b""`` marks the end of the stream."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError("receive_data() takes bytes")
        if self._error is not None:
            return  # the stream is already refused; nothing more is kept
        if self._closed:
            if data:
                raise ConfigurationError("receive_data() after the end of the stream")
            return
        if not data:
            self._closed = True
            return
        self._buffer += data
        self._check_prefixes()

    def _check_prefixes(self) -> None:
        buffer = self._buffer
        while self._scan + _SIZE_PREFIX <= len(buffer):
            size = int.from_bytes(
                buffer[self._scan : self._scan + _SIZE_PREFIX], "big", signed=True
            )
            if size < 0 or size > self._max_frame_size:
                if self._scan > self._start:
                    # Frames before it are still to be returned, and reading them
                    # may change the limit, which must judge them (a refusal here
                    # would stop that): judged when it is next (next_event).
                    return
                where = self._stream_offset + self._scan
                if size < 0:
                    reason, detail = "invalid-size", f"frame size {size} is negative"
                else:
                    reason = "too-large"
                    detail = f"frame size {size} exceeds max_frame_size {self._max_frame_size}"
                self._error = MalformedFrame(
                    reason, detail, offset=where, error_code=ErrorCode.CORRUPT_MESSAGE
                )
                del buffer[self._scan + _SIZE_PREFIX :]  # keep nothing of the body
                return
            end = self._scan + _SIZE_PREFIX + size
            if end > len(buffer):
                return
            self._scan = end

    def next_event(self) -> Frame | DecoderEvent:
        """The next complete frame, :data:`NEED_DATA` or :data:`CONNECTION_CLOSED`."""
        if self._start == self._scan and self._error is None:
            self._check_prefixes()  # a prefix that waited for the frames before it
        if self._start < self._scan:
            begin = self._start + _SIZE_PREFIX
            size = int.from_bytes(self._buffer[self._start : begin], "big", signed=True)
            frame = Frame(bytes(self._buffer[begin : begin + size]))
            self._start = begin + size
            self._compact()
            return frame
        if self._error is not None:
            raise self._error
        if self._closed:
            if self._start < len(self._buffer):
                where = self._stream_offset + len(self._buffer)
                self._error = MalformedFrame(
                    "truncated",
                    f"the stream ends inside a frame ({self.buffered} bytes of it)",
                    offset=where,
                    error_code=ErrorCode.CORRUPT_MESSAGE,
                )
                raise self._error
            return CONNECTION_CLOSED
        return NEED_DATA

    def _compact(self) -> None:
        if self._start * 2 >= len(self._buffer):
            del self._buffer[: self._start]
            self._stream_offset += self._start
            self._scan -= self._start
            self._start = 0


def _frame_bytes(frame: Frame | bytes) -> bytes:
    if isinstance(frame, Frame):
        return frame.data
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    raise ArgumentTypeError("expected a Frame or bytes")


def _sized(payload: bytes) -> bytes:
    return len(payload).to_bytes(_SIZE_PREFIX, "big", signed=True) + payload


def decode_request(
    frame: Frame | bytes, *, max_elements: int | None = None, ignore_trailing_data: bool = False
) -> tuple[RequestHeader, RequestMessage]:
    """Parse one request frame (without its size prefix) into header and message.

    ``max_elements`` bounds every array of the request (see :class:`Reader`):
    a broker passes a small one before the client is authenticated.
    Bytes after the message are refused (``trailing-data``) unless
    ``ignore_trailing_data``: Kafka's broker reads a request's fields and
    ignores what follows, and librdkafka 2.16 sends three such bytes after a
    Metadata v13 request (measured: tests/test_interop_kafka.py), so a broker
    serving authenticated clients passes it.

    An unknown API key raises :class:`MalformedFrame` with INVALID_REQUEST, as
    Kafka's ``RequestHeader.parse`` does; a version this codec does not speak
    raises it with UNSUPPORTED_VERSION, *except* for ApiVersions: like Kafka's
    broker, the codec reads the header of any ApiVersions version, does not read
    the body of one it does not support, and returns an empty
    :class:`ApiVersionsRequest` so that the caller can answer with
    :func:`api_versions_response_version` (v0) and UNSUPPORTED_VERSION.
    """
    data = _frame_bytes(frame)
    probe = Reader(data)
    api_key = probe.int16("request_api_key")
    api_version = probe.int16("request_api_version")
    reader = Reader(data, max_elements=max_elements)
    if api_key not in _REQUESTS:
        raise MalformedFrame(
            "unknown-api-key",
            f"API key {api_key} is not one of {', '.join(key.name for key in ApiKey)}",
            offset=0,
            error_code=ErrorCode.INVALID_REQUEST,
        )
    header = RequestHeader.read(reader, request_header_version(api_key, api_version))
    low, high = CODEC_VERSIONS[ApiKey(api_key)]
    if not low <= api_version <= high:
        if api_key == ApiKey.API_VERSIONS:
            return header, ApiVersionsRequest()
        raise MalformedFrame(
            "unsupported-version",
            f"{ApiKey(api_key).name} v{api_version} is outside {low}-{high}",
            offset=2,
            error_code=ErrorCode.UNSUPPORTED_VERSION,
        )
    message = _REQUESTS[api_key]._read(reader, api_version)
    if not ignore_trailing_data:
        reader.finish()
    return header, message


def encode_request(header: RequestHeader, message: RequestMessage) -> bytes:
    """A request frame, size prefix included, for ``header`` and ``message``.

    ``header.api_key`` must be the message's key; ``header.api_version`` picks
    the body's version and the header's.
    """
    _check_pairing(header.api_key, message)
    version = _check_version(type(message), message.API_KEY, header.api_version)
    writer = Writer()
    header.write(writer, request_header_version(header.api_key, version))
    message._write(writer, version)
    return _sized(writer.getvalue())


def encode_response(header: ResponseHeader, message: ResponseMessage, version: int) -> bytes:
    """A response frame, size prefix included: ``message`` at ``version``, after
    ``header`` in the header version that version calls for."""
    version = _check_version(type(message), message.API_KEY, version)
    writer = Writer()
    header.write(writer, response_header_version(message.API_KEY, version))
    message._write(writer, version)
    return _sized(writer.getvalue())


def decode_response(
    frame: Frame | bytes, *, api_key: int, api_version: int
) -> tuple[ResponseHeader, ResponseMessage]:
    """Parse one response frame to a request of ``api_key`` at ``api_version``.

    A response does not name its API: the client knows it from the correlation
    id. Malformed responses raise :class:`MalformedFrame` with CORRUPT_MESSAGE.
    """
    if api_key not in _RESPONSES:
        raise ConfigurationError(f"API key {api_key} is not one this codec speaks")
    cls = _RESPONSES[api_key]
    _check_version(cls, cls.API_KEY, api_version)
    reader = Reader(_frame_bytes(frame), error_code=ErrorCode.CORRUPT_MESSAGE)
    header = ResponseHeader.read(reader, response_header_version(api_key, api_version))
    message = cls._read(reader, api_version)
    reader.finish()
    return header, message


def _check_pairing(api_key: int, message: object) -> None:
    if not isinstance(message, _Message):
        raise ArgumentTypeError("expected a Kafka message")
    if api_key != message.API_KEY:
        raise ConfigurationError(
            f"header api_key {api_key} does not match {type(message).__name__}"
        )
