"""Token requests, assertions, token responses and discovery (oauthbearer.login.grants)."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthbearer.errors import ConfigurationError, OAuthBearerError
from oauthbearer.http.retry import is_retryable_status
from oauthbearer.login.grants import (
    MAX_DISCOVERY_SIZE,
    MAX_SHOWN_ERROR_TEXT,
    MAX_TOKEN_RESPONSE_SIZE,
    Discovery,
    DiscoveryError,
    TokenEndpointError,
    TokenRequest,
    client_credentials_request,
    discovery_urls,
    form_urlencode,
    jwt_bearer_request,
    make_assertion,
    parse_discovery,
    parse_token_response,
    private_key_jwt_request,
)

URL = "https://idp.example/oauth2/token"
FORM = "application/x-www-form-urlencoded"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NOW = 1_767_225_600.75
# A syntactically valid compact JWS, as an assertion.
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJl"


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


# --- form encoding --------------------------------------------------------------------------


def test_form_urlencode_is_javas_urlencoder() -> None:
    # Java: URLEncoder.encode("~*-._ !'()é:/%+", UTF_8)
    assert form_urlencode("~*-._ !'()é:/%+") == "%7E*-._+%21%27%28%29%C3%A9%3A%2F%25%2B"
    assert form_urlencode("") == ""


# --- client credentials -------------------------------------------------------------------


def test_client_secret_basic_exact_request() -> None:
    request = client_credentials_request(URL, "my-client", "s3cret")
    assert request.url == URL
    assert request.grant_type == "client_credentials"
    assert request.body == b"grant_type=client_credentials"
    assert request.headers == (
        ("Accept", "application/json"),
        ("Authorization", basic(b"my-client:s3cret")),
        ("Cache-Control", "no-cache"),
        ("Content-Type", FORM),
    )
    scoped = client_credentials_request(URL, "my-client", "s3cret", scope="kafka read:all")
    assert scoped.body == b"grant_type=client_credentials&scope=kafka+read%3Aall"


def test_basic_credentials_as_kafka_encodes_them() -> None:
    secret = "p:a%s+s w/rd=="
    plain = client_credentials_request(URL, "client id", secret)
    # Without urlencoding: the raw "id:secret", standard base64 (KAFKA-14496).
    assert plain.header("authorization") == basic(b"client id:p:a%s+s w/rd==")
    encoded = client_credentials_request(URL, "client id", secret, urlencode_credentials=True)
    # With sasl.oauthbearer.header.urlencode: each part form-urlencoded first.
    assert encoded.header("Authorization") == basic(b"client+id:p%3Aa%25s%2Bs+w%2Frd%3D%3D")
    # The standard alphabet: '+' and '/' where the URL-safe one has '-' and '_'.
    assert basic(b"\xfb\xff:?") == "Basic +/86Pw=="
    assert client_credentials_request(URL, "\xfb", "?").header("Authorization") == basic(
        "\xfb:?".encode()
    )


def test_a_colon_in_the_client_id_needs_urlencoding() -> None:
    with pytest.raises(ConfigurationError, match="urlencode_credentials"):
        client_credentials_request(URL, "a:b", "secret")
    request = client_credentials_request(URL, "a:b", "secret", urlencode_credentials=True)
    assert request.header("Authorization") == basic(b"a%3Ab:secret")


def test_client_secret_post_exact_body() -> None:
    request = client_credentials_request(
        URL, "my client", "s&e=c r+t", scope="a b", auth_method="client_secret_post"
    )
    assert request.header("Authorization") is None
    assert request.body == (
        b"grant_type=client_credentials&scope=a+b&client_id=my+client&client_secret=s%26e%3Dc+r%2Bt"
    )
    assert request.headers == (
        ("Accept", "application/json"),
        ("Cache-Control", "no-cache"),
        ("Content-Type", FORM),
    )
    with pytest.raises(ConfigurationError, match="client_secret_basic only"):
        client_credentials_request(
            URL, "id", "secret", auth_method="client_secret_post", urlencode_credentials=True
        )


def test_whitespace_is_trimmed_as_kafka_does() -> None:
    request = client_credentials_request(URL, " id\t", "\nsecret ", scope="  ")
    assert request.header("Authorization") == basic(b"id:secret")
    assert request.body == b"grant_type=client_credentials"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_id": " "}, "client_id must not be empty"),
        ({"client_secret": ""}, "client_secret must not be empty"),
        ({"client_secret": "a\x00b"}, "client_secret holds a control character$"),
        ({"scope": 'a "b"'}, "scope must be"),
        ({"scope": "a  b"}, "scope must be"),
        ({"auth_method": "private_key_jwt"}, "auth_method must be"),
        ({"token_endpoint": "http://idp.example/token"}, "must use https"),
        ({"token_endpoint": "https://user:pw@idp.example/token"}, "user info"),
        ({"token_endpoint": "https://idp.example/token#x"}, "fragment"),
        ({"token_endpoint": "/token"}, "absolute URL"),
        ({"token_endpoint": "https://idp.example/a b"}, "printable ASCII"),
    ],
)
def test_client_credentials_refuses_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"token_endpoint": URL, "client_id": "id", "client_secret": "pw"}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=match) as info:
        client_credentials_request(**args)
    assert "pw@" not in str(info.value)


def test_type_errors_are_configuration_errors_too() -> None:
    with pytest.raises(TypeError, match="client_secret must be a str"):
        client_credentials_request(URL, "id", b"secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="urlencode_credentials must be a bool"):
        client_credentials_request(URL, "id", "x", urlencode_credentials=1)  # type: ignore[arg-type]


def test_plain_http_only_to_loopback() -> None:
    request = client_credentials_request("http://127.0.0.1:8080/token", "id", "pw")
    assert request.url == "http://127.0.0.1:8080/token"
    with pytest.raises(ConfigurationError, match="https"):
        client_credentials_request("http://idp.example/token", "id", "pw")


# --- assertions as grants and as client authentication -----------------------------------


def test_private_key_jwt_exact_body() -> None:
    request = private_key_jwt_request(URL, "my-client", ASSERTION, scope="kafka")
    assert request.grant_type == "client_credentials"
    assert request.body == (
        b"grant_type=client_credentials&scope=kafka&client_id=my-client"
        b"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        b"&client_assertion=" + ASSERTION.encode()
    )
    assert request.header("Authorization") is None
    without_id = private_key_jwt_request(URL, None, ASSERTION)
    assert b"client_id" not in without_id.body


def test_jwt_bearer_exact_body() -> None:
    request = jwt_bearer_request(URL, ASSERTION, scope="kafka")
    assert request.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert request.body == (
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        b"&assertion=" + ASSERTION.encode() + b"&scope=kafka"
    )
    assert request.header("Authorization") is None
    with_secret = jwt_bearer_request(URL, ASSERTION, client_id="id", client_secret="pw")
    assert with_secret.header("Authorization") == basic(b"id:pw")
    posted = jwt_bearer_request(
        URL, ASSERTION, client_id="id", client_secret="pw", auth_method="client_secret_post"
    )
    assert posted.body.endswith(b"&client_id=id&client_secret=pw")
    public = jwt_bearer_request(URL, ASSERTION, client_id="id")
    assert public.body.endswith(b"&client_id=id")
    with pytest.raises(ConfigurationError, match="client_id"):
        jwt_bearer_request(URL, ASSERTION, client_secret="pw")


@pytest.mark.parametrize("assertion", ["", "a.b", "a.b.", "a.b.c.d", "a.b.c d", "a+b.c.d"])
def test_an_assertion_must_be_a_compact_jws(assertion: str) -> None:
    with pytest.raises(ConfigurationError, match="three base64url parts") as info:
        jwt_bearer_request(URL, assertion)
    assert assertion not in str(info.value) or not assertion
    with pytest.raises(ConfigurationError, match="three base64url parts"):
        private_key_jwt_request(URL, "id", assertion)


def test_token_request_repr_hides_credentials() -> None:
    request = client_credentials_request(
        "https://idp.example/token?tenant=t1", "id", "hunter2", auth_method="client_secret_post"
    )
    assert repr(request) == (
        "TokenRequest(url='https://idp.example/token?...', grant_type='client_credentials')"
    )
    with pytest.raises(ConfigurationError, match="CR, LF"):
        TokenRequest(url=URL, grant_type="x", body=b"", headers=(("X", "a\r\nb"),))


# A marker that no message of ours contains, so a secret can never match our
# own fixed texts by chance (Hypothesis once found "client_s").
_SECRETS = st.text(
    alphabet=st.characters(
        min_codepoint=0x21, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc")
    ),
    min_size=8,
    max_size=40,
).map(lambda text: "\u2603" + text)


@settings(max_examples=60, deadline=None)
@given(secret=_SECRETS, encode=st.booleans(), post=st.booleans())
def test_a_secret_never_shows(secret: str, encode: bool, post: bool) -> None:
    method: Any = "client_secret_post" if post else "client_secret_basic"
    request = client_credentials_request(
        URL, "id", secret, auth_method=method, urlencode_credentials=encode and not post
    )
    shown = [repr(request), str(request)]
    for bad in (
        {"client_id": "a\x01b"},
        {"scope": "a\\b"},
        {"auth_method": "nope"},
        {"token_endpoint": "http://x.example/"},
    ):
        args: dict[str, Any] = {
            "token_endpoint": URL,
            "client_id": "id",
            "client_secret": secret,
            **bad,
        }
        with pytest.raises(ConfigurationError) as info:
            client_credentials_request(**args)
        shown += [str(info.value), repr(info.value)]
    with pytest.raises(ConfigurationError) as info:
        client_credentials_request(URL, "id", secret + "\x7f")
    shown.append(str(info.value))
    for text in shown:
        assert secret not in text
        assert form_urlencode(secret) not in text


@settings(max_examples=60, deadline=None)
@given(token=st.from_regex(r"[A-Za-z0-9._~+/-]{12,60}", fullmatch=True))
def test_a_token_never_shows(token: str) -> None:
    response = parse_token_response(200, json.dumps({"access_token": token}).encode(), now=0)
    assert token not in repr(response)
    assert response.access_token == token
    for extra in ({"token_type": "DPoP"}, {"expires_in": -1}, {"scope": 7}):
        body = json.dumps({"access_token": token, **extra}).encode()
        with pytest.raises(TokenEndpointError) as info:
            parse_token_response(200, body, now=0)
        assert token not in str(info.value)
        assert token not in repr(info.value)


# --- local assertions -----------------------------------------------------------------------


def decode(assertion: str, key: Any, algorithm: str = "RS256") -> dict[str, Any]:
    claims: dict[str, Any] = pyjwt.decode(
        assertion,
        key.public_key(),
        algorithms=[algorithm],
        options={
            "verify_aud": False,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )
    return claims


def test_assertion_claims_as_kafka_builds_them() -> None:
    assertion = make_assertion(
        RSA_KEY, issuer="my-client", subject="my-client", audience=URL, now=NOW
    )
    assert pyjwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT"}
    # iat is the whole seconds of now; exp 300 s later and nbf 60 s earlier (Kafka's defaults);
    # no jti unless asked for (sasl.oauthbearer.assertion.claim.jti.include=false).
    assert decode(assertion, RSA_KEY) == {
        "iss": "my-client",
        "sub": "my-client",
        "aud": URL,
        "iat": 1_767_225_600,
        "exp": 1_767_225_900,
        "nbf": 1_767_225_540,
    }
    # RS256 is deterministic: the same inputs sign to the same bytes.
    again = make_assertion(RSA_KEY, issuer="my-client", subject="my-client", audience=URL, now=NOW)
    assert again == assertion


def test_assertion_es256_signature_is_raw_r_and_s() -> None:
    assertion = make_assertion(
        EC_KEY, algorithm="ES256", issuer="i", subject="s", audience=["a", "b"], now=NOW
    )
    signature = assertion.split(".")[2]
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    assert decode(assertion, EC_KEY, "ES256")["aud"] == ["a", "b"]


def test_assertion_jti_explicit_or_drawn_from_the_injected_random() -> None:
    common: dict[str, Any] = {"issuer": "i", "subject": "s", "audience": "a", "now": NOW}
    assert decode(make_assertion(RSA_KEY, jti="abc", **common), RSA_KEY)["jti"] == "abc"
    seeded = random.Random
    first = decode(make_assertion(RSA_KEY, random=seeded(7), **common), RSA_KEY)["jti"]
    second = decode(make_assertion(RSA_KEY, random=seeded(7), **common), RSA_KEY)["jti"]
    assert first == second
    assert first[14] == "4"  # a version 4 UUID, as Kafka's UUID.randomUUID()


def test_assertion_layers_merge_as_kafka_merges_them() -> None:
    template: dict[str, dict[str, Any]] = {
        "header": {"kid": "from-template", "alg": "none", "typ": "x", "x5t": "t"},
        "payload": {"iss": "template-iss", "exp": 1, "iat": 1, "tenant": "t1"},
    }
    assertion = make_assertion(
        RSA_KEY,
        issuer="arg-iss",
        subject="s",
        audience="a",
        now=NOW,
        template=template,
        kid="k1",
    )
    header = pyjwt.get_unverified_header(assertion)
    # The template beats the static claims; nothing beats alg, typ and the times.
    assert header == {"kid": "k1", "alg": "RS256", "typ": "JWT", "x5t": "t"}
    claims = decode(assertion, RSA_KEY)
    assert claims["iss"] == "template-iss"
    assert claims["tenant"] == "t1"
    assert (claims["iat"], claims["exp"]) == (1_767_225_600, 1_767_225_900)
    # The template may supply iss, sub and aud on its own.
    only = make_assertion(
        RSA_KEY, now=NOW, template={"payload": {"iss": "i", "sub": "s", "aud": "a"}}
    )
    assert decode(only, RSA_KEY)["aud"] == "a"


def test_assertion_from_pem_with_and_without_passphrase() -> None:
    plain = RSA_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    locked = RSA_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    )
    args: dict[str, Any] = {"issuer": "i", "subject": "s", "audience": "a", "now": NOW}
    expected = make_assertion(RSA_KEY, **args)
    assert make_assertion(plain, **args) == expected
    assert make_assertion(plain.decode(), **args) == expected
    assert make_assertion(locked, passphrase="open sesame", **args) == expected
    for passphrase in (None, "wrong passphrase"):
        with pytest.raises(ConfigurationError, match="could not be loaded") as info:
            make_assertion(locked, passphrase=passphrase, **args)
        assert "wrong passphrase" not in str(info.value)
        assert "PRIVATE KEY" not in str(info.value)
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        make_assertion(b"not a key", **args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algorithm": "HS256"}, "algorithm must be one of"),
        ({"algorithm": "rs256"}, "algorithm must be one of"),
        ({"issuer": None}, r"needs iss \(RFC 7523"),
        ({"audience": []}, "empty list"),
        ({"lifetime_s": 0}, "lifetime_s"),
        ({"not_before_s": -1}, "not_before_s"),
        ({"lifetime_s": 1.5}, "lifetime_s"),
        ({"now": float("nan")}, "now must be"),
        ({"now": -1}, "now must be"),
        ({"template": {"iss": "x"}}, "only 'header' and 'payload'"),
        ({"template": {"payload": []}}, "must be a mapping"),
        ({"template": {"payload": {"x": object()}}}, "not JSON"),
        ({"algorithm": "ES256"}, "EC P-256"),
    ],
)
def test_assertion_refuses_bad_options(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"issuer": "i", "subject": "s", "audience": "a", "now": NOW}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=match):
        make_assertion(RSA_KEY, **args)


def test_assertion_key_must_fit_the_algorithm() -> None:
    args: dict[str, Any] = {"issuer": "i", "subject": "s", "audience": "a", "now": NOW}
    with pytest.raises(ConfigurationError, match="RSA private key"):
        make_assertion(EC_KEY, **args)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    with pytest.raises(ConfigurationError, match="1024 bits"):
        make_assertion(small, **args)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ConfigurationError, match="P-256"):
        make_assertion(p384, algorithm="ES256", **args)


def test_a_made_assertion_is_accepted_by_the_builders() -> None:
    assertion = make_assertion(RSA_KEY, issuer="i", subject="s", audience="a", now=NOW)
    assert jwt_bearer_request(URL, assertion).body.endswith(assertion.encode())


# --- token responses ------------------------------------------------------------------------


def test_a_full_success() -> None:
    body = json.dumps(
        {"access_token": "eyJ.abc-_.x", "token_type": "Bearer", "expires_in": 3600, "scope": "k"}
    ).encode()
    response = parse_token_response(200, body, now=NOW)
    assert response.access_token == "eyJ.abc-_.x"
    assert (response.token_type, response.expires_in, response.scope) == ("Bearer", 3600, "k")
    assert response.expires_at_ms == 1_767_225_600_750 + 3_600_000
    assert response.token_field == "access_token"
    assert "eyJ" not in repr(response)


def test_lenient_where_providers_differ() -> None:
    # 201 (Kafka accepts it), lower-case bearer, no token_type, expires_in as a string.
    response = parse_token_response(
        201, b'{"access_token":"t","token_type":"bearer","expires_in":"3599"}', now=0
    )
    assert (response.token_type, response.expires_in, response.expires_at_ms) == (
        "bearer",
        3599,
        3_599_000,
    )
    bare = parse_token_response(200, b'{"access_token":" t "}', now=0)
    assert (bare.access_token, bare.token_type, bare.expires_at_ms) == ("t", None, None)


def test_id_token_is_the_fallback_as_in_kafka() -> None:
    response = parse_token_response(200, b'{"id_token":"idt","token_type":"Bearer"}', now=0)
    assert (response.access_token, response.token_field) == ("idt", "id_token")
    blank = parse_token_response(200, b'{"access_token":"  ","id_token":"idt"}', now=0)
    assert blank.token_field == "id_token"
    first = parse_token_response(200, b'{"access_token":"at","id_token":"idt"}', now=0)
    assert first.access_token == "at"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *((s, False) for s in (400, 401, 402, 403, 404, 405, 409, 413, 418, 422, 501, 505)),
        *((s, True) for s in (408, 429, 500, 502, 503, 504, 599)),
        (302, False),
    ],
)
def test_retryable_statuses_follow_kafka(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(status, b"", now=0)
    assert (info.value.status, info.value.retryable) == (status, retryable)


def test_oauth_errors_are_surfaced_precisely() -> None:
    body = b'{"error":"invalid_client","error_description":"Client authentication failed"}'
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(401, body, now=0)
    error = info.value
    assert (error.status, error.error, error.retryable) == (401, "invalid_client", False)
    assert error.error_description == "Client authentication failed"
    assert str(error) == (
        "token endpoint answered HTTP 401: invalid_client (Client authentication failed)"
    )
    # Okta's older errorCode / errorSummary, as Kafka reads them.
    with pytest.raises(TokenEndpointError, match=r"E0000011 \(Invalid token\)"):
        parse_token_response(400, b'{"errorCode":"E0000011","errorSummary":"Invalid token"}', now=0)
    # An error inside a 200 answer.
    with pytest.raises(TokenEndpointError, match="invalid_scope") as info:
        parse_token_response(200, b'{"error":"invalid_scope"}', now=0)
    assert not info.value.retryable
    with pytest.raises(TokenEndpointError, match="HTTP 503: no OAuth error in the body"):
        parse_token_response(503, b"<html>busy</html>", now=0)
    with pytest.raises(TokenEndpointError, match="HTTP 500: an empty body"):
        parse_token_response(500, b"", now=0)


def test_provider_text_is_cleaned_and_bounded() -> None:
    description = "line\r\nbreak \x1b[31m" + "x" * 1000
    body = json.dumps({"error": "bad\x00", "error_description": description}).encode()
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(400, body, now=0)
    text = str(info.value)
    assert "\r" not in text
    assert "\n" not in text
    assert "\x1b" not in text
    assert "bad?" in text
    assert len(text) < 2 * MAX_SHOWN_ERROR_TEXT + 100
    assert info.value.error_description == description  # the attribute is as received


@pytest.mark.parametrize(
    ("body", "match", "retryable"),
    [
        (b"", "an empty body", True),
        (b"  \n", "an empty body", True),
        (b"<html/>", "not strict JSON: Expecting value", False),
        (b"\xff{}", "not UTF-8", False),
        (b"[1]", "JSON list, not an object", False),
        (b'{"access_token":"a","access_token":"b"}', "twice", False),
        (b'{"access_token":"a","expires_in":NaN}', "NaN is not a JSON number", False),
        (b"[" * 100_000, "not strict JSON: nested too deeply", False),
        (b"{}", "neither 'access_token' nor 'id_token'", False),
        (b'{"access_token":7}', "'access_token' is a JSON int", False),
        (b'{"access_token":"a b"}', "not an RFC 6750 b64token", False),
        (b'{"access_token":"t","token_type":"DPoP"}', "'DPoP', not Bearer", False),
        (b'{"access_token":"t","token_type":"mac"}', "not Bearer", False),
        (b'{"access_token":"t","token_type":1}', "not a string", False),
        (b'{"access_token":"t","expires_in":-1}', "expires_in", False),
        (b'{"access_token":"t","expires_in":true}', "expires_in", False),
        (b'{"access_token":"t","expires_in":1.5}', "expires_in", False),
        (b'{"access_token":"t","expires_in":"1h"}', "expires_in", False),
        (b'{"access_token":"t","scope":["a"]}', "'scope' is not a string", False),
    ],
)
def test_unusable_success_bodies(body: bytes, match: str, retryable: bool) -> None:
    with pytest.raises(TokenEndpointError, match=match) as info:
        parse_token_response(200, body, now=0)
    assert info.value.retryable is retryable
    assert info.value.status == 200


def test_oversized_bodies_are_refused() -> None:
    big = b'{"access_token":"' + b"a" * MAX_TOKEN_RESPONSE_SIZE + b'"}'
    with pytest.raises(TokenEndpointError, match="MAX_TOKEN_RESPONSE_SIZE") as info:
        parse_token_response(200, big, now=0)
    assert not info.value.retryable
    with pytest.raises(TokenEndpointError, match="MAX_TOKEN_RESPONSE_SIZE") as info:
        parse_token_response(503, big, now=0)
    assert info.value.retryable
    fits = b'{"access_token":"' + b"a" * (MAX_TOKEN_RESPONSE_SIZE - 20) + b'"}'
    assert len(parse_token_response(200, fits, now=0).access_token) == MAX_TOKEN_RESPONSE_SIZE - 20


@settings(max_examples=300, deadline=None)
@given(status=st.integers(100, 599), body=st.binary(max_size=200) | st.just(b'{"a":'))
def test_any_answer_gives_a_response_or_our_error(status: int, body: bytes) -> None:
    try:
        parse_token_response(status, body, now=NOW)
    except TokenEndpointError as error:
        assert error.status == status


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(
        st.sampled_from(["access_token", "id_token", "token_type", "expires_in", "scope", "x"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.lists(st.integers()),
    )
)
def test_any_json_object_gives_a_response_or_our_error(document: dict[str, Any]) -> None:
    try:
        response = parse_token_response(200, json.dumps(document).encode(), now=NOW)
    except TokenEndpointError as error:
        assert isinstance(error, OAuthBearerError)
    else:
        assert response.access_token


# --- discovery ------------------------------------------------------------------------------


def test_discovery_urls() -> None:
    # RFC 8414 section 3.1's own example, and OpenID Connect Discovery section 4.
    assert discovery_urls("https://example.com/issuer1") == (
        "https://example.com/issuer1/.well-known/openid-configuration",
        "https://example.com/.well-known/oauth-authorization-server/issuer1",
    )
    assert discovery_urls("https://example.com") == (
        "https://example.com/.well-known/openid-configuration",
        "https://example.com/.well-known/oauth-authorization-server",
    )
    # A terminating "/" is removed first (both specs).
    assert discovery_urls("https://kc.example:8443/realms/kafka/") == (
        "https://kc.example:8443/realms/kafka/.well-known/openid-configuration",
        "https://kc.example:8443/.well-known/oauth-authorization-server/realms/kafka",
    )
    with pytest.raises(ConfigurationError, match="query"):
        discovery_urls("https://example.com/?tenant=1")
    with pytest.raises(ConfigurationError, match="https"):
        discovery_urls("http://example.com")
    assert discovery_urls("http://127.0.0.1:9/", allow_insecure_loopback=True)[0] == (
        "http://127.0.0.1:9/.well-known/openid-configuration"
    )


ISSUER = "https://idp.example/realms/kafka"


def metadata(**changes: Any) -> bytes:
    document = {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
        "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
        "grant_types_supported": ["client_credentials"],
    }
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_parse_discovery() -> None:
    assert parse_discovery(metadata(), issuer=ISSUER) == Discovery(
        issuer=ISSUER,
        token_endpoint=f"{ISSUER}/protocol/openid-connect/token",
        jwks_uri=f"{ISSUER}/protocol/openid-connect/certs",
    )
    # jwks_uri is optional in RFC 8414.
    assert parse_discovery(metadata(jwks_uri=None), issuer=ISSUER).jwks_uri is None


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (metadata(issuer=ISSUER + "/"), "is not 'https://idp.example/realms/kafka'"),
        (metadata(issuer=None), "missing or not a string"),
        (metadata(token_endpoint=None), "token_endpoint is missing"),
        (metadata(token_endpoint="http://idp.example/t"), "token_endpoint must use https"),
        (metadata(jwks_uri="https://idp.example/k#f"), "jwks_uri must not have a fragment"),
        (metadata(jwks_uri=7), "jwks_uri is missing or not a string"),
        (b"<html/>", "not strict JSON"),
        (b"[]", "not an object"),
        (b" " * (MAX_DISCOVERY_SIZE + 1), "MAX_DISCOVERY_SIZE"),
    ],
)
def test_parse_discovery_refuses(body: bytes, match: str) -> None:
    with pytest.raises(DiscoveryError, match=match) as info:
        parse_discovery(body, issuer=ISSUER)
    assert not info.value.retryable
