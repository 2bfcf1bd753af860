"""Interop: Dovecot 2.3 validates tokens by introspecting them at our test IdP.

Dovecot's oauth2 passdb with ``introspection_mode = post`` POSTs ``token=...``
to ``introspection_url`` (the client credentials in the URL become an
``Authorization: Basic`` header) and reads ``active`` and the username
attribute from the JSON answer. A real, independent client on our
``/introspect`` endpoint: tokens our IdP knows log in, revoked and unknown
ones are refused, and each login is one introspection request.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer.integrations.mail import OAuthBearerAuth
from oauthbearer.testing.idp import Endpoint, TestIdentityProvider
from tests.test_interop_dovecot import HOST, IMAP_TIMEOUT_S, run_dovecot

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

import imaplib

USER = "alice"
CLIENT = "dovecot"
SECRET = "dovecot-introspection-secret"

OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = sub
active_attribute = active
active_value = true
"""


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[TestIdentityProvider, int]]:
    with TestIdentityProvider() as idp:
        idp.add_client(CLIENT, SECRET)
        parts = urllib.parse.urlsplit(idp.introspection_endpoint)
        url = f"http://{CLIENT}:{SECRET}@{parts.netloc}{parts.path}"

        def conf(directory: Path, fields: dict[str, Any]) -> str:
            return OAUTH2_CONF.format(url=url)

        with run_dovecot(conf) as (port, _directory):
            yield idp, port


def login(port: int, token: str) -> str:
    auth = OAuthBearerAuth(token, user=USER, host=HOST, port=port)
    with imaplib.IMAP4(HOST, port, timeout=IMAP_TIMEOUT_S) as imap:
        try:
            typ, _ = imap.authenticate("OAUTHBEARER", auth.imap)
        except imaplib.IMAP4.error as error:
            return f"NO {error}"
        return str(typ)


def introspections(idp: TestIdentityProvider) -> list[tuple[str | None, str | None, int | None]]:
    return [
        (r.header("Authorization"), r.form.get("token"), r.status)
        for r in idp.requests
        if r.endpoint is Endpoint.INTROSPECT
    ]


def test_dovecot_logs_in_with_an_opaque_token_it_introspected(
    setup: tuple[TestIdentityProvider, int],
) -> None:
    idp, port = setup
    idp.clear_requests()
    assert login(port, idp.mint_opaque_token(USER)) == "OK"
    assert introspections(idp) == [("Basic [redacted]", "[redacted]", 200)]


def test_dovecot_logs_in_with_a_jwt_it_introspected(
    setup: tuple[TestIdentityProvider, int],
) -> None:
    idp, port = setup
    idp.clear_requests()
    assert login(port, idp.mint_token(USER)) == "OK"
    assert [status for _, _, status in introspections(idp)] == [200]


def test_dovecot_refuses_revoked_and_unknown_tokens(
    setup: tuple[TestIdentityProvider, int],
) -> None:
    idp, port = setup
    revoked = idp.mint_opaque_token(USER)
    idp.revoke(revoked)
    idp.clear_requests()
    for token in (revoked, "never-issued-token"):
        assert login(port, token).startswith("NO")
    assert [status for _, _, status in introspections(idp)] == [200, 200]
