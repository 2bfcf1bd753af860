"""The URL policy for every outgoing HTTP call: JWKS, token endpoints, discovery.

Theory of operation
-------------------
Every URL the library will fetch (a ``jwks_uri``, a token endpoint, an issuer,
a redirect's ``Location``) passes :func:`check_url` first, and every URL a
message shows passes :func:`redact_url`. One policy, in one place, so that no
path is laxer than another.

:func:`split_url` cuts a string into the five parts of RFC 3986 appendix B with
the regular expression given there, which matches every string: it never
raises, unlike :func:`urllib.parse.urlsplit` (``ValueError: Invalid IPv6 URL``).

:func:`check_url` accepts only what urllib will open as written, and refuses
with a :class:`~oauthbearer.errors.ConfigurationError` naming the option and
showing the redacted URL:

* a ``str`` of printable ASCII without spaces (RFC 3986 section 2: anything
  else must be percent-encoded);
* absolute, with a host (RFC 3986 section 3.2.2: a registered name of
  unreserved characters, an IPv4 address, or an IPv6 address in brackets), and
  a port, if any, of digits from 1 to 65535 (section 3.2.3);
* no user info, and no ``@`` anywhere before the query: credentials do not
  belong in a URL (RFC 3986 section 3.2.1 deprecates ``user:password``), and a
  password holding an unencoded ``/`` would otherwise land in the path;
* no fragment (RFC 6749 section 3.2; a fragment is never sent anyway);
* ``https``; or ``http`` to a loopback host (``localhost``, ``127.0.0.0/8``,
  ``::1``) when ``allow_insecure_loopback`` is set, for tests and local
  identity providers; or ``file:`` where the option reads files
  (``allow_file``, Kafka's token and JWKS endpoint URLs).

:func:`redact_url` shows ``scheme://host[:port]/path`` and ``?...`` for a
query: never the user info (everything up to the last ``@`` before the query
is dropped), never the query (an API key or a token may sit there), never the
fragment; other characters than printable ASCII are shown as ``?``, and the
result is at most :data:`MAX_SHOWN_URL_LENGTH` characters.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from typing import Final

from oauthbearer._net import is_loopback
from oauthbearer.errors import ArgumentTypeError, ConfigurationError

__all__ = [
    "MAX_SHOWN_URL_LENGTH",
    "check_url",
    "redact_url",
]

#: A URL in a message is cut to this many characters, so that a hostile
#: ``Location`` header cannot flood a log line.
MAX_SHOWN_URL_LENGTH: Final = 200
#: The argument that allows plain http to a loopback address, as a refusal
#: names it (:attr:`~oauthbearer.errors.ConfigurationError.remedy`).
INSECURE_LOOPBACK_REMEDY: Final = "allow_insecure_loopback=True"

#: RFC 3986 appendix B: scheme, authority, path, query, fragment.
_URI: Final = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)
#: RFC 3986 section 3.2.2 ``reg-name`` and ``IPv4address``, restricted to the
#: unreserved characters: percent-encoded or sub-delim host names resolve nowhere.
_REG_NAME: Final = re.compile(r"[A-Za-z0-9._~-]+")
#: RFC 3986 section 3.2.3, restricted to what a TCP port can be.
_PORT: Final = re.compile(r"[0-9]{1,5}")
_MAX_PORT: Final = 65535
_PRINTABLE: Final = frozenset(map(chr, range(0x21, 0x7F)))


@dataclasses.dataclass(frozen=True, slots=True)
class _UrlParts:
    """The five parts of a URL (RFC 3986 appendix B). ``scheme`` is lower-cased;
    ``query`` and ``fragment`` are ``None`` when absent (``""`` when empty)."""

    scheme: str
    authority: str | None
    path: str
    query: str | None
    fragment: str | None

    @property
    def host_and_port(self) -> tuple[str, str | None]:
        """The host (IPv6 without its brackets) and the port text (``None`` when
        there is no ``:``), after the user info. Never raises; :func:`check_url`
        says whether they are valid."""
        host = (self.authority or "").rpartition("@")[2]
        if host.startswith("["):
            inside, bracket, rest = host[1:].partition("]")
            if not bracket:
                return host, None
            return inside, (rest[1:] if rest.startswith(":") else None)
        name, colon, port = host.partition(":")
        return name, (port if colon else None)


def split_url(url: str) -> _UrlParts:
    """``url`` cut as RFC 3986 appendix B does; never raises."""
    match = _URI.fullmatch(url)
    assert match is not None  # the expression matches every string
    scheme, authority, path, query, fragment = match.groups()
    return _UrlParts((scheme or "").lower(), authority, path, query, fragment)


def redact_url(url: str) -> str:
    """``url`` as a message shows it: ``scheme://host[:port]/path``, and ``?...``
    when it has a query; never user info, query or fragment."""
    head, query_mark, _ = url.partition("?")
    head = head.partition("#")[0]
    scheme, sep, rest = head.partition("://")
    if sep:
        # A password may hold an unencoded "/": drop up to the *last* "@".
        head = f"{scheme}://{rest.rpartition('@')[2]}"
    elif "@" in head:
        head = head.rpartition("@")[2]
    shown = "".join(c if c in _PRINTABLE else "?" for c in head)
    if query_mark and "#" not in url.partition("?")[0]:
        shown += "?..."
    if len(shown) > MAX_SHOWN_URL_LENGTH:
        shown = shown[:MAX_SHOWN_URL_LENGTH] + "..."
    return shown


def _refuse(option: str, problem: str, url: str) -> ConfigurationError:
    return ConfigurationError(f"{option} {problem}: {redact_url(url)}")


def _check_host(option: str, url: str, parts: _UrlParts) -> str:
    """The host of an absolute URL, checked, with its port."""
    host, port = parts.host_and_port
    authority = parts.authority or ""
    if authority.startswith("["):
        if "]" not in authority:
            raise _refuse(option, "has an IPv6 address without its closing ']'", url)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse(option, "has an invalid IPv6 address in brackets", url) from None
        after = authority.partition("]")[2]
        if after and not after.startswith(":"):
            raise _refuse(option, "has text after the IPv6 address's ']'", url)
    elif not host:
        raise _refuse(option, "must be an absolute URL with a host", url)
    elif _REG_NAME.fullmatch(host) is None:
        raise _refuse(option, "has a host name with characters a host cannot have", url)
    if port is not None and (_PORT.fullmatch(port) is None or not 1 <= int(port) <= _MAX_PORT):
        raise _refuse(option, f"must have a port from 1 to {_MAX_PORT}, if any", url)
    return host


def check_url(
    url: object,
    *,
    option: str,
    allow_insecure_loopback: bool = False,
    allow_file: bool = False,
) -> str:
    """``url`` if the policy above allows fetching it, else a
    :class:`~oauthbearer.errors.ConfigurationError` that names ``option`` and
    shows the URL redacted (an :class:`~oauthbearer.errors.ArgumentTypeError`
    when it is not a ``str``)."""
    if not isinstance(url, str):
        raise ArgumentTypeError(f"{option} must be a str, not {type(url).__name__}")
    if not url or not set(url) <= _PRINTABLE:
        raise ConfigurationError(f"{option} must be a URL of printable ASCII without spaces")
    parts = split_url(url)
    if "@" in url.partition("?")[0].partition("#")[0]:
        raise _refuse(option, "must not hold user info (credentials), nor '@' before a query", url)
    if parts.fragment is not None:
        raise _refuse(option, "must not have a fragment", url)
    if parts.scheme == "file" and allow_file:
        file_url_path(url, option=option)
        return url
    allowed = "https or file" if allow_file else "https"
    wrong_scheme = ConfigurationError(
        f"{option} must use {allowed} (http only to a loopback address, with "
        f"{INSECURE_LOOPBACK_REMEDY}): {redact_url(url)}",
        remedy=INSECURE_LOOPBACK_REMEDY,
    )
    if not parts.scheme:
        raise _refuse(option, "must be an absolute URL with a scheme and a host", url)
    if parts.scheme not in ("https", "http"):
        raise wrong_scheme
    if parts.authority is None:
        raise _refuse(option, "must be an absolute URL with a host", url)
    host = _check_host(option, url, parts)
    if parts.scheme == "http" and not (allow_insecure_loopback and is_loopback(host)):
        raise wrong_scheme
    return url


def file_url_path(url: str, *, option: str) -> str:
    """The local path of a ``file:`` URL (``file:/p``, ``file:///p``,
    ``file://localhost/p``), percent-decoded."""
    parts = split_url(url)
    if (
        parts.scheme != "file"
        or parts.authority not in (None, "", "localhost")
        or not parts.path.startswith("/")
        or parts.query is not None
        or parts.fragment is not None
    ):
        raise _refuse(option, "must be a file URL naming a local path", url)
    return urllib.parse.unquote(parts.path)
