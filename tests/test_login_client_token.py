"""The client's look at its token: Kafka's ClientJwtValidator rules."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from oauthbearer.login.client_token import ClientTokenError, client_token


def jwt(claims: Any, *, signature: str = "c2ln") -> str:
    def part(obj: Any) -> str:
        raw = json.dumps(obj).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.{signature}"


GOOD = {"sub": " orders-service ", "exp": 1_767_229_200.9, "iat": 1_767_225_600, "scope": "a b"}


def test_reads_the_claims_as_kafkas_client_does() -> None:
    token = client_token(jwt(GOOD))
    assert token.principal == "orders-service"  # trimmed
    assert token.lifetime_ms == 1_767_229_200_000  # longValue() truncates, then * 1000
    assert token.start_time_ms == 1_767_225_600_000
    assert token.scope == {"a b"}  # a string scope is one element, as in Kafka
    assert client_token(jwt({**GOOD, "scope": ["x", " y "]})).scope == {"x", "y"}
    assert client_token(jwt({**GOOD, "scope": 7})).scope == frozenset()
    assert client_token(jwt({**GOOD, "scp": ["k"]}), scope_claim="scp").scope == {"k"}
    assert client_token(jwt({**GOOD, "cid": "c1"}), subject_claim="cid").principal == "c1"


def test_the_signature_is_not_checked() -> None:
    assert client_token(jwt(GOOD, signature="not-a-signature")).principal == "orders-service"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Empty JWT provided"),
        ("a.b", "but 2 sections provided"),
        ("a.b.c.d", "but 4 sections provided"),
        ("a. .c", "but payload section missing"),
        ("a.!!!.c", "Could not validate the access token: malformed Base64 URL"),
        (jwt({"sub": "a"}), "exp value must be non-null"),
        (jwt({**GOOD, "exp": "soon"}), "exp value must be a number"),
        (jwt({**GOOD, "exp": -5}), "exp value must be non-negative"),
        (jwt({**GOOD, "iat": -1}), "iat value must be non-negative"),
        (jwt({"exp": 1}), "sub value must be non-null, non-empty"),
        (jwt({**GOOD, "sub": "   "}), "sub value must be non-null, non-empty"),
        (jwt({**GOOD, "sub": ["a"]}), "sub value must be a string"),
        (jwt({**GOOD, "scope": ["a", " a"]}), "must not contain duplicates - a already present"),
        (jwt({**GOOD, "scope": ["a", " "]}), "scope value must be non-null, non-empty"),
    ],
)
def test_refusals(token: str, message: str) -> None:
    with pytest.raises(ClientTokenError, match=message) as info:
        client_token(token)
    if len(token) > 20:
        assert token not in str(info.value)
