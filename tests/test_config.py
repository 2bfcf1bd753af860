"""Kafka configuration: JAAS strings, .properties, listener prefixes and the builders."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer import (
    KAFKA_RULES,
    STRICT_RULES,
    ConfigurationError,
    JwtValidator,
    UnsecuredJwsValidator,
    UnsecuredLogin,
)
from oauthbearer.config import (
    KNOWN_PROPERTIES,
    OAUTHBEARER_LOGIN_MODULE,
    ClientCredentialsConfig,
    JaasConfig,
    JaasConfigError,
    JwtBearerConfig,
    PropertiesError,
    TokenFileConfig,
    broker_validator,
    client_login,
    is_secret_key,
    load_properties,
    parse_jaas_config,
    parse_properties,
)
from oauthbearer.http.retry import RetryPolicy
from oauthbearer.login.refresh import RefreshConfig

if TYPE_CHECKING:
    from pathlib import Path

NOW = 1_767_225_600.0
MODULE = OAUTHBEARER_LOGIN_MODULE
SECURED_LOGIN = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
SECURED_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)
PREFIX = "listener.name.sasl_ssl.oauthbearer."


# --- The JAAS tokenizer -------------------------------------------------------------------


def test_kafka_docs_client_credentials_example() -> None:
    jaas = parse_jaas_config(f'{MODULE} required clientId="x" clientSecret="y" scope="a b";')
    assert jaas.login_module == MODULE
    assert jaas.control_flag == "required"
    assert dict(jaas.options) == {"clientId": "x", "clientSecret": "y", "scope": "a b"}


def test_unsecured_example_with_line_continuations_as_in_a_properties_file() -> None:
    text = (
        f"{MODULE} required \\\n"
        '    unsecuredLoginStringClaim_sub="alice" \\\n'
        '    unsecuredLoginLifetimeSeconds="600" ;\n'  # unquoted, 600 is a number: refused
    )
    props = parse_properties("sasl.jaas.config=" + text)
    jaas = parse_jaas_config(props["sasl.jaas.config"])
    assert dict(jaas.options) == {
        "unsecuredLoginStringClaim_sub": "alice",
        "unsecuredLoginLifetimeSeconds": "600",
    }


@pytest.mark.parametrize(
    ("text", "options"),
    [
        # StreamTokenizer escapes inside quotes: C-like, octal, else the character.
        (r'M required a="x\ty\101\"q\\";', {"a": 'x\tyA"q\\'}),
        (r'M required a="\377\477";', {"a": "\xff\x27" + "7"}),
        (r"M required a='single \'quoted\'';", {"a": "single 'quoted'"}),
        # Words: letters, digits, ".", "-", "_", "$" (not first: a digit, "." or "-" then a digit).
        ("M required a.b-c_d$=x-1.2_$;", {"a.b-c_d$": "x-1.2_$"}),
        # Unquoted words end at '=' ';' '/' and quotes; comments are skipped.
        ("M required /* c */ a=b // rest\n c=d;", {"a": "b", "c": "d"}),
        ("M required a=b/x c=d\n e=f;", {"a": "b", "e": "f"}),
        # "/" eats the character after it, even a line end.
        ("M required a=b/\nc=d\ne=f;", {"a": "b", "e": "f"}),
        # Quoted names and flags, any case of the flag, a repeated key's last value.
        ('"M" "Optional" "k"="v" k2=v2 "k"=w;', {"k": "w", "k2": "v2"}),
        # A quote ends, silently, at a line end (StreamTokenizer's rule).
        ('M required a="open\n;', {"a": "open"}),
        ("M required;", {}),
        ("\t M  required ;  // trailing comment", {}),
    ],
)
def test_tokenizer_reproduces_stream_tokenizer(text: str, options: dict[str, str]) -> None:
    assert dict(parse_jaas_config(text).options) == options


def test_control_flags_are_case_insensitive_and_canonical() -> None:
    for flag in ("required", "REQUISITE", "Sufficient", "optional"):
        assert parse_jaas_config(f"M {flag};").control_flag == flag.lower()


@pytest.mark.parametrize(
    ("text", "kafka_message", "offset"),
    [
        ("", "Login module not specified in JAAS config", None),
        ("/* only a comment */", "Login module not specified in JAAS config", None),
        ("M", "Login module control flag not specified in JAAS config", 1),
        ("M;", "Login module control flag is not available in the JAAS config", 1),
        ("M bogus;", "Invalid login module control flag 'bogus' in JAAS config", 2),
        ("M required id=0oa1b2c3;", "Value not specified for key 'id' in JAAS config", 14),
        ("M required k=abc+def;", "Value not specified for key 'null' in JAAS config", 17),
        ("M required a=b", "JAAS config entry not terminated by semi-colon", 14),
        ("M required a b;", "Value not specified for key 'a' in JAAS config", 13),
        ("M required a=;", "Value not specified for key 'a' in JAAS config", 13),
        ("M required a=", "Value not specified for key 'a' in JAAS config", 13),
        (
            "M required a=b; N required;",
            "JAAS config property contains 2 login modules, should be 1 module",
            None,
        ),
        # An unquoted URL: ":" is not a word character, and "//" starts a comment.
        ("M required u=https://idp/jwks;", "Value not specified for key 'null' in JAAS config", 30),
        ('"" required;', "Login module not specified in JAAS config", 0),
        (
            "M required =b;",
            "Value not specified for key 'null' in JAAS config",
            12,
        ),
    ],
)
def test_jaas_errors_carry_kafkas_message_and_offset(
    text: str, kafka_message: str, offset: int | None
) -> None:
    with pytest.raises(JaasConfigError) as caught:
        parse_jaas_config(text)
    assert caught.value.kafka_message == kafka_message
    assert caught.value.offset == offset
    assert isinstance(caught.value, ConfigurationError)
    assert str(caught.value).startswith("sasl.jaas.config: ")


def test_repr_hides_secret_values() -> None:
    jaas = parse_jaas_config(
        'M required clientSecret="s3cr3t-value" password=pw-value keyPassphrase="pp-value"'
        ' clientId="visible";'
    )
    for text in (repr(jaas), str(jaas)):
        assert "s3cr3t-value" not in text
        assert "pw-value" not in text
        assert "pp-value" not in text
        assert "visible" in text
    assert is_secret_key("clientSecret")
    assert is_secret_key("SSL_KEY_PASSWORD")
    assert not is_secret_key("unsecuredLoginStringClaim_sub")


def test_jaas_config_validates_itself() -> None:
    with pytest.raises(ConfigurationError, match="control_flag"):
        JaasConfig(login_module="M", control_flag="maybe")
    with pytest.raises(ConfigurationError, match="login_module"):
        JaasConfig(login_module="", control_flag="required")
    with pytest.raises(ConfigurationError, match="options"):
        JaasConfig(login_module="M", control_flag="required", options={"a": 1})  # type: ignore[dict-item]


def _jaas_quote(value: str) -> str:
    """A value quoted so that StreamTokenizer reads it back (octal for line ends)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\r\n":
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# A snowman appears in no other input and in no message, so finding a secret in
# an output can only mean a leak.
_SECRETS = (
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=40)
    .filter(lambda s: "\\" not in s)
    .map(lambda s: "\u2603" + s)
)


@given(secret=_SECRETS)
def test_quoted_values_round_trip(secret: str) -> None:
    jaas = parse_jaas_config(f"M required clientSecret={_jaas_quote(secret)};")
    assert jaas.options["clientSecret"] == secret
    assert secret not in repr(jaas)


@given(secret=_SECRETS, cut=st.integers(min_value=0, max_value=80))
def test_no_secret_in_any_jaas_error(secret: str, cut: int) -> None:
    # Broken strings around a secret value: every error names keys, never the value.
    text = f"{MODULE} required clientId=x clientSecret={_jaas_quote(secret)} scope=a;"
    broken = text[: len(MODULE) + cut] + text[len(MODULE) + cut + 1 :]
    for candidate in (broken, text[:-1], text + "N required;", text.replace("=", " ", 2)):
        try:
            jaas = parse_jaas_config(candidate)
        except ConfigurationError as error:
            assert secret not in str(error)
        else:
            # A cut can rename the key or unquote the value; whatever the parse,
            # secret-looking keys have their values hidden.
            for key in jaas.options:
                if is_secret_key(key):
                    assert f"{key!r}: <hidden>" in repr(jaas)
            if jaas.options.get("clientSecret") == secret:
                assert secret not in repr(jaas)


# --- .properties ------------------------------------------------------------------------


def test_properties_format_basics() -> None:
    text = (
        "# a comment\n"
        "! another\n"
        "a=1\n"
        "b: 2\n"
        "c 3\n"
        "  d = spaced value  \n"
        "e=line one \\\n"
        "    continued\n"
        "f=\\u00e9t\\u00E9\\tx\n"
        "g\\=h=with escaped separator\n"
        "i=ends in two backslashes \\\\\n"
        "j\n"
        "\n"
        "a=last wins\r\n"
        "k=crlf\r"
        "l=cr only"
    )
    assert parse_properties(text) == {
        "a": "last wins",
        "b": "2",
        "c": "3",
        "d": "spaced value  ",
        "e": "line one continued",
        "f": "été\tx",
        "g=h": "with escaped separator",
        "i": "ends in two backslashes \\",
        "j": "",
        "k": "crlf",
        "l": "cr only",
    }


def test_properties_malformed_unicode_escape_names_the_line() -> None:
    with pytest.raises(PropertiesError, match="line 2"):
        parse_properties("a=1\nb=\\u12G4\n")


def test_load_properties_reads_latin1_by_default(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_bytes("a=caf\xe9\nb=\\u00e9\n".encode("latin-1"))
    assert load_properties(path) == {"a": "café", "b": "é"}


# --- Client builders --------------------------------------------------------------------


def _client(jaas: str, **extra: str) -> dict[str, str]:
    return {"sasl.mechanism": "OAUTHBEARER", "sasl.jaas.config": jaas, **extra}


def test_client_unsecured_login() -> None:
    login = client_login(
        _client(
            f'{MODULE} required unsecuredLoginStringClaim_sub="alice" '
            'unsecuredLoginExtension_traceId="abc";'
        ),
        now=NOW,
    )
    assert isinstance(login, UnsecuredLogin)
    assert login.token.principal == "alice"
    assert dict(login.extensions) == {"traceId": "abc"}
    assert login.token.lifetime_ms == int((NOW + 3600) * 1000)


def test_client_credentials_from_jaas_options() -> None:
    props = _client(
        f'{MODULE} required clientId="app" clientSecret="s3cr3t" scope="kafka read" '
        'extension_logicalCluster="lkc-1";',
        **{
            "sasl.login.callback.handler.class": SECURED_LOGIN,
            "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
            "sasl.oauthbearer.header.urlencode": "TRUE",
            "sasl.login.connect.timeout.ms": "5000",
            "sasl.login.read.timeout.ms": " 7000 ",
            "sasl.login.retry.backoff.ms": "200",
            "sasl.login.retry.backoff.max.ms": "20000",
            "sasl.login.refresh.window.factor": "0.9",
            "sasl.login.refresh.window.jitter": "0.1",
            "sasl.login.refresh.min.period.seconds": "30",
            "sasl.login.refresh.buffer.seconds": "120",
        },
    )
    config = client_login(props, now=NOW)
    assert config == ClientCredentialsConfig(
        token_endpoint_url="https://idp.example/oauth2/token",
        client_id="app",
        client_secret="s3cr3t",
        scope="kafka read",
        extensions={"logicalCluster": "lkc-1"},
        urlencode=True,
        connect_timeout_ms=5000,
        read_timeout_ms=7000,
        retry=RetryPolicy(backoff_s=0.2, budget_s=20.0),
        refresh=RefreshConfig(window_factor=0.9, window_jitter=0.1, min_period_s=30, buffer_s=120),
    )
    assert "s3cr3t" not in repr(config)


def test_client_credentials_properties_win_over_jaas_options() -> None:
    props = _client(
        f'{MODULE} required clientId="old" clientSecret="old-secret" scope="old";',
        **{
            "sasl.login.callback.handler.class": SECURED_LOGIN,
            "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
            "sasl.oauthbearer.client.credentials.client.id": "new",
            "sasl.oauthbearer.client.credentials.client.secret": "new-secret",
            "sasl.oauthbearer.scope": "new",
        },
    )
    config = client_login(props, now=NOW)
    assert isinstance(config, ClientCredentialsConfig)
    assert (config.client_id, config.client_secret, config.scope) == ("new", "new-secret", "new")
    assert config.retry == RetryPolicy()
    assert config.refresh == RefreshConfig()
    assert (config.urlencode, config.connect_timeout_ms, config.read_timeout_ms) == (
        False,
        None,
        None,
    )


def test_client_token_file() -> None:
    props = _client(
        f"{MODULE} required;",
        **{
            "sasl.login.callback.handler.class": SECURED_LOGIN,
            "sasl.oauthbearer.token.endpoint.url": "file:///etc/kafka/token.jwt",
        },
    )
    assert client_login(props, now=NOW) == TokenFileConfig(path="/etc/kafka/token.jwt")


@pytest.mark.parametrize(
    ("extra", "jaas_options", "match"),
    [
        ({}, 'clientId="a" clientSecret="b"', "sasl.oauthbearer.token.endpoint.url is not set"),
        (
            {"sasl.oauthbearer.token.endpoint.url": "https://idp/t"},
            'clientSecret="b"',
            r"client\.id \(or the JAAS option 'clientId'\) is not set",
        ),
        (
            {"sasl.oauthbearer.token.endpoint.url": "https://idp/t"},
            'clientId="a" clientSecret=" "',
            "'clientSecret' is set but blank",
        ),
        (
            {"sasl.oauthbearer.token.endpoint.url": "http://idp.example/t"},
            'clientId="a" clientSecret="b"',
            "must use https or file",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.login.refresh.window.factor": "0.4",
            },
            'clientId="a" clientSecret="b"',
            "sasl.login.refresh.window.factor must be a number from 0.5",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.login.retry.backoff.ms": "soon",
            },
            'clientId="a" clientSecret="b"',
            "sasl.login.retry.backoff.ms: the value is not a whole number",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.login.refresh.buffer.seconds": "40000",
            },
            'clientId="a" clientSecret="b"',
            "buffer.seconds: the value is not a whole number \\(Java short\\)",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.oauthbearer.header.urlencode": "yes",
            },
            'clientId="a" clientSecret="b"',
            "header.urlencode: the value is not true or false",
        ),
        (
            {"sasl.oauthbearer.token.endpoint.url": "https://idp/t"},
            'clientId="a" clientSecret="b" extension_auth="x"',
            "Extension name auth is invalid",
        ),
        (
            {"sasl.oauthbearer.token.endpoint.url": "https://idp/t"},
            'clientId="a" clientSecret="b" unsecuredLoginStringClaim_sub="x"',
            "'unsecuredLoginStringClaim_sub' is set, but",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.oauthbearer.assertion.claim.aud": "x",
            },
            'clientId="a" clientSecret="b"',
            "assertion.claim.aud is set, but",
        ),
        (
            {
                "sasl.oauthbearer.token.endpoint.url": "https://idp/t",
                "sasl.oauthbearer.jwt.retriever.class": "com.example.MyRetriever",
            },
            'clientId="a" clientSecret="b"',
            "only Kafka's own retrievers",
        ),
    ],
)
def test_client_credentials_errors_name_the_option(
    extra: dict[str, str], jaas_options: str, match: str
) -> None:
    props = _client(
        f"{MODULE} required {jaas_options};",
        **{"sasl.login.callback.handler.class": SECURED_LOGIN, **extra},
    )
    with pytest.raises(ConfigurationError, match=match):
        client_login(props, now=NOW)


def test_client_without_the_secured_handler_refuses_a_token_endpoint() -> None:
    # Kafka would silently use the unsecured login and ignore the URL.
    props = _client(
        f'{MODULE} required clientId="a" clientSecret="b";',
        **{"sasl.oauthbearer.token.endpoint.url": "https://idp/t"},
    )
    with pytest.raises(
        ConfigurationError, match=re.escape("sasl.login.callback.handler.class is not")
    ):
        client_login(props, now=NOW)


def test_client_mechanism_and_module_are_checked() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("sasl.mechanism")):
        client_login(
            {"sasl.mechanism": "PLAIN", "sasl.jaas.config": f"{MODULE} required;"}, now=NOW
        )
    with pytest.raises(ConfigurationError, match="login module is not"):
        client_login(_client("org.example.Other required;"), now=NOW)
    with pytest.raises(ConfigurationError, match=re.escape("sasl.jaas.config is not set")):
        client_login({"sasl.mechanism": "OAUTHBEARER"}, now=NOW)


JWT_BEARER = "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever"


def _jwt_bearer(jaas_options: str = "", **settings: str) -> dict[str, str]:
    return _client(
        f"{MODULE} required {jaas_options};",
        **{
            "sasl.login.callback.handler.class": SECURED_LOGIN,
            "sasl.oauthbearer.jwt.retriever.class": JWT_BEARER,
            "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
            **settings,
        },
    )


def test_jwt_bearer_with_every_option() -> None:
    # The example of Kafka's JwtBearerJwtRetriever javadoc, plus extensions and login settings.
    props = _jwt_bearer(
        'extension_logicalCluster="lkc-1"',
        **{
            "sasl.oauthbearer.assertion.algorithm": "es256",
            "sasl.oauthbearer.assertion.claim.aud": "my-application-audience",
            "sasl.oauthbearer.assertion.claim.exp.seconds": "600",
            "sasl.oauthbearer.assertion.claim.iss": "my-oauth-issuer",
            "sasl.oauthbearer.assertion.claim.jti.include": "TRUE",
            "sasl.oauthbearer.assertion.claim.nbf.seconds": " 120 ",
            "sasl.oauthbearer.assertion.claim.sub": "kafka-app-1234",
            "sasl.oauthbearer.assertion.private.key.file": "/path/to/private.key",
            "sasl.oauthbearer.assertion.private.key.passphrase": "$3cr3+",
            "sasl.oauthbearer.assertion.template.file": "/path/to/assertion-template.json",
            "sasl.oauthbearer.scope": "my-application-scope",
            "sasl.login.connect.timeout.ms": "5000",
            "sasl.login.read.timeout.ms": "7000",
            "sasl.login.retry.backoff.ms": "200",
            "sasl.login.retry.backoff.max.ms": "20000",
            "sasl.login.refresh.buffer.seconds": "120",
        },
    )
    config = client_login(props, now=NOW)
    assert config == JwtBearerConfig(
        token_endpoint_url="https://idp.example/oauth2/token",
        private_key_file="/path/to/private.key",
        private_key_passphrase="$3cr3+",
        algorithm="ES256",
        issuer="my-oauth-issuer",
        subject="kafka-app-1234",
        audience="my-application-audience",
        exp_seconds=600,
        nbf_seconds=120,
        include_jti=True,
        template_file="/path/to/assertion-template.json",
        scope="my-application-scope",
        extensions={"logicalCluster": "lkc-1"},
        connect_timeout_ms=5000,
        read_timeout_ms=7000,
        retry=RetryPolicy(backoff_s=0.2, budget_s=20.0),
        refresh=RefreshConfig(buffer_s=120),
    )
    assert "$3cr3+" not in repr(config)


def test_jwt_bearer_defaults() -> None:
    config = client_login(
        _jwt_bearer(**{"sasl.oauthbearer.assertion.private.key.file": "key.pem"}), now=NOW
    )
    assert config == JwtBearerConfig(
        token_endpoint_url="https://idp.example/oauth2/token", private_key_file="key.pem"
    )
    assert isinstance(config, JwtBearerConfig)
    assert (config.algorithm, config.exp_seconds, config.nbf_seconds, config.include_jti) == (
        "RS256",
        300,
        60,
        False,
    )
    assert (config.private_key_passphrase, config.template_file, config.scope) == (None,) * 3
    assert (config.retry, config.refresh) == (RetryPolicy(), RefreshConfig())


def test_jwt_bearer_from_an_assertion_file() -> None:
    config = client_login(
        _jwt_bearer(**{"sasl.oauthbearer.assertion.file": " /etc/kafka/assertion.jwt "}), now=NOW
    )
    assert config == JwtBearerConfig(
        token_endpoint_url="https://idp.example/oauth2/token",
        assertion_file="/etc/kafka/assertion.jwt",
    )


def test_jwt_bearer_over_http_only_to_loopback_when_asked() -> None:
    props = _jwt_bearer(
        **{
            "sasl.oauthbearer.token.endpoint.url": "http://127.0.0.1:8080/token",
            "sasl.oauthbearer.assertion.file": "a.jwt",
        }
    )
    with pytest.raises(ConfigurationError, match="must use https"):
        client_login(props, now=NOW)
    config = client_login(props, now=NOW, allow_insecure_loopback=True)
    assert isinstance(config, JwtBearerConfig)


_KEY_FILE = {"sasl.oauthbearer.assertion.private.key.file": "/k.pem"}


@pytest.mark.parametrize(
    ("jaas_options", "settings", "match"),
    [
        ("", {}, "neither sasl.oauthbearer.assertion.private.key.file nor "),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.algorithm": "HS256"},
            r"^sasl\.oauthbearer\.assertion\.algorithm: the value is not RS256 or ES256",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.exp.seconds": "0"},
            r"exp\.seconds: the value is not a whole number from 1 to 86400",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.exp.seconds": "86401"},
            r"exp\.seconds: the value is not a whole number from 1 to 86400",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.exp.seconds": "5m"},
            r"exp\.seconds: the value is not a whole number \(Java int\)",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.nbf.seconds": "3601"},
            r"nbf\.seconds: the value is not a whole number from 0 to 3600",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.nbf.seconds": "-1"},
            r"nbf\.seconds: the value is not a whole number from 0 to 3600",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.jti.include": "yes"},
            r"jti\.include: the value is not true or false",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.assertion.claim.iss": "  "},
            r"^sasl\.oauthbearer\.assertion\.claim\.iss is set but blank",
        ),
        (
            "",
            {"sasl.oauthbearer.assertion.private.key.file": "file:///k.pem"},
            r"private\.key\.file: the value must be a file path, not a URL",
        ),
        (
            "",
            {
                "sasl.oauthbearer.assertion.file": "/a.jwt",
                "sasl.oauthbearer.assertion.claim.sub": "x",
            },
            r"claim\.sub is set, but sasl\.oauthbearer\.assertion\.file is set too",
        ),
        (
            "",
            {
                **_KEY_FILE,
                "sasl.oauthbearer.token.endpoint.url": "file:///etc/kafka/token.jwt",
            },
            r"token\.endpoint\.url must use https",
        ),
        (
            'clientId="app"',
            _KEY_FILE,
            "JAAS option 'clientId' is set, but JwtBearerJwtRetriever sends no client",
        ),
        (
            'scope="kafka"',
            _KEY_FILE,
            "JAAS option 'scope' is set, but JwtBearerJwtRetriever reads the scope from",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.client.credentials.client.id": "app"},
            r"^sasl\.oauthbearer\.client\.credentials\.client\.id is set, but",
        ),
        (
            "",
            {**_KEY_FILE, "sasl.oauthbearer.header.urlencode": "true"},
            r"^sasl\.oauthbearer\.header\.urlencode is set, but",
        ),
    ],
)
def test_jwt_bearer_errors_name_the_option(
    jaas_options: str, settings: dict[str, str], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        client_login(_jwt_bearer(jaas_options, **settings), now=NOW)


def test_assertion_settings_need_the_jwt_bearer_retriever() -> None:
    unsecured = _client(
        f"{MODULE} required;", **{"sasl.oauthbearer.assertion.private.key.file": "/k.pem"}
    )
    with pytest.raises(ConfigurationError, match=r"private\.key\.file is set, but sasl\.login"):
        client_login(unsecured, now=NOW)
    retriever = _client(
        f"{MODULE} required;", **{"sasl.oauthbearer.jwt.retriever.class": JWT_BEARER}
    )
    with pytest.raises(ConfigurationError, match=r"retriever\.class is set, but sasl\.login"):
        client_login(retriever, now=NOW)


@given(secret=_SECRETS)
def test_no_passphrase_in_jwt_bearer_messages_or_reprs(secret: str) -> None:
    passphrase = {"sasl.oauthbearer.assertion.private.key.passphrase": secret}
    cases = [
        _jwt_bearer(**_KEY_FILE, **passphrase),
        _jwt_bearer(**passphrase),
        _jwt_bearer(**{"sasl.oauthbearer.assertion.file": "/a.jwt"}, **passphrase),
        _jwt_bearer(**_KEY_FILE, **passphrase, **{"sasl.oauthbearer.assertion.algorithm": "none"}),
        _jwt_bearer(**_KEY_FILE, **{"sasl.oauthbearer.assertion.private.key.passphrse": secret}),
        _jwt_bearer(**_KEY_FILE, **{"sasl.oauthbearer.assertion.private.key.file ": secret}),
    ]
    for props in cases:
        try:
            result = client_login(props, now=NOW)
        except ConfigurationError as error:
            assert secret not in str(error)
        else:
            assert secret not in repr(result)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({}, "exactly one of assertion_file and private_key_file"),
        (
            {"assertion_file": "a.jwt", "private_key_file": "k.pem"},
            "exactly one of assertion_file and private_key_file",
        ),
        (
            {"assertion_file": "a.jwt", "private_key_passphrase": "pw"},
            "private_key_passphrase applies to signed assertions only",
        ),
        ({"assertion_file": "a.jwt", "include_jti": True}, "include_jti applies to signed"),
        ({"private_key_file": " "}, "private_key_file must be None or a non-blank str"),
        ({"private_key_file": "k.pem", "algorithm": "PS256"}, "algorithm must be RS256 or"),
        ({"private_key_file": "k.pem", "exp_seconds": 0}, "exp_seconds must be a whole number"),
        ({"private_key_file": "k.pem", "nbf_seconds": True}, "nbf_seconds must be a whole"),
        ({"private_key_file": "k.pem", "read_timeout_ms": -1}, "read_timeout_ms must be an int"),
        ({"private_key_file": "k.pem", "extensions": {"auth": "x"}}, "Extension name auth"),
    ],
)
def test_jwt_bearer_config_validates_itself(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        JwtBearerConfig(token_endpoint_url="https://idp.example/token", **fields)  # type: ignore[arg-type]
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("sasl.oauthbearer.jwks.endpoint.uri", "sasl.oauthbearer.jwks.endpoint.url"),
        ("sasl.login.refresh.window.factr", "sasl.login.refresh.window.factor"),
        ("sasl.oauthbearer.nonsense", None),
        (PREFIX + "sasl.oauthbearer.expected.audiences", "sasl.oauthbearer.expected.audience"),
        ("listener.name.sasl_ssl.sasl.login.retry.backof.ms", "sasl.login.retry.backoff.ms"),
    ],
)
def test_unknown_names_are_typos(key: str, hint: str | None) -> None:
    props = {**_client(f"{MODULE} required;"), key: "1"}
    with pytest.raises(ConfigurationError) as caught:
        client_login(props, now=NOW)
    assert f"'{key}' is not a Kafka configuration name" in str(caught.value)
    if hint:
        assert f"did you mean {hint}?" in str(caught.value)


def test_known_names_include_every_option_read_here() -> None:
    assert "sasl.oauthbearer.jwks.endpoint.url" in KNOWN_PROPERTIES
    assert all(name.startswith(("sasl.oauthbearer.", "sasl.login.")) for name in KNOWN_PROPERTIES)


@given(secret=_SECRETS)
def test_no_secret_in_client_messages_or_reprs(secret: str) -> None:
    quoted = _jaas_quote(secret)
    base = {
        "sasl.login.callback.handler.class": SECURED_LOGIN,
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/t",
    }
    cases = [
        _client(f"{MODULE} required clientId=a clientSecret={quoted};", **base),
        _client(f"{MODULE} required clientId=a clientSecret={quoted}", **base),
        _client(f"{MODULE} required clientId=a clientSecret={quoted}; X y;", **base),
        _client(
            f"{MODULE} required clientId=a;",
            **base,
            **{"sasl.oauthbearer.client.credentials.client.secret": secret},
        ),
        _client(
            f"{MODULE} required clientId=a clientSecret={quoted};",
            **base,
            **{"sasl.login.read.timeout.ms": "x"},
        ),
        _client(
            f"{MODULE} required clientId=a clientSecret={quoted};",
            **base,
            **{"sasl.oauthbearer.client.credentials.client.secrte": secret},
        ),
    ]
    for props in cases:
        try:
            result = client_login(props, now=NOW)
        except ConfigurationError as error:
            assert secret not in str(error)
        else:
            assert secret not in repr(result)


# --- Broker builders --------------------------------------------------------------------


def _broker(**extra: str) -> dict[str, str]:
    return {
        "listeners": "SASL_SSL://:9093",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        PREFIX + "sasl.jaas.config": f"{MODULE} required;",
        **extra,
    }


def test_broker_default_is_the_unsecured_validator() -> None:
    props = _broker(
        **{
            PREFIX + "sasl.jaas.config": f"{MODULE} required "
            'unsecuredValidatorRequiredScope="read" unsecuredValidatorAllowableClockSkewMs="500";'
        }
    )
    config = broker_validator(props)
    assert config.listener == "sasl_ssl"
    assert config.unsecured
    assert config.refresher is None
    assert config.validator == UnsecuredJwsValidator(
        required_scope=("read",), allowable_clock_skew_ms=500
    )


def test_broker_unsecured_handler_named_explicitly() -> None:
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": "org.apache.kafka.common.security."
            "oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"
        }
    )
    assert broker_validator(props, listener="SASL_SSL").unsecured


def test_broker_secured_validator_over_https() -> None:
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
            "sasl.oauthbearer.jwks.endpoint.url": "https://idp.example/jwks",
            "sasl.oauthbearer.expected.audience": "kafka , other",
            "sasl.oauthbearer.expected.issuer": "https://idp.example",
            "sasl.oauthbearer.jwks.endpoint.refresh.ms": "60000",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms": "50",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms": "5000",
        }
    )
    config = broker_validator(props)
    assert not config.unsecured
    assert isinstance(config.validator, JwtValidator)
    assert config.refresher is not None
    assert config.refresher.cache.key_set is None  # nothing fetched
    shown = repr(config.validator)
    assert "'kafka'" in shown
    assert "'other'" in shown
    assert "issuer=frozenset({'https://idp.example'})" in shown
    assert "clock_skew_s=30.0" in shown
    # Kafka's broker's rules by default; the strict ones on request.
    assert config.validator.rules is KAFKA_RULES
    strict = broker_validator(props, rules=STRICT_RULES).validator
    assert isinstance(strict, JwtValidator)
    assert strict.rules is STRICT_RULES


def test_broker_secured_validator_from_a_jwks_file(tmp_path: Path) -> None:
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "ES256", "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
            PREFIX + "sasl.oauthbearer.jwks.endpoint.url": path.as_uri(),
            PREFIX + "sasl.oauthbearer.sub.claim.name": "client_id",
            "sasl.oauthbearer.clock.skew.seconds": "5",
            PREFIX + "sasl.oauthbearer.expected.audience": "kafka",
        }
    )
    config = broker_validator(props)
    assert config.refresher is not None
    config.refresher.refresh()  # the caller's step: here, one file read
    token = pyjwt.encode(
        {"sub": "ignored", "client_id": "svc", "aud": "kafka", "iat": NOW, "exp": NOW + 60},
        key,
        algorithm="ES256",
        headers={"kid": "k1"},
    )
    assert config.validator.validate(token, now=NOW).principal == "svc"


def test_listener_prefix_precedence() -> None:
    # listener.name.<l>.oauthbearer.<name> > listener.name.<l>.<name> > <name>
    base = _broker(**{PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR})
    props = {
        **base,
        "sasl.oauthbearer.jwks.endpoint.url": "https://global.example/jwks",
        "sasl.oauthbearer.expected.issuer": "global",
        "listener.name.sasl_ssl.sasl.oauthbearer.expected.issuer": "listener",
        "sasl.oauthbearer.clock.skew.seconds": "10",
        "listener.name.sasl_ssl.sasl.oauthbearer.clock.skew.seconds": "20",
        PREFIX + "sasl.oauthbearer.clock.skew.seconds": "40",
    }
    shown = repr(broker_validator(props).validator)
    assert "issuer=frozenset({'listener'})" in shown
    assert "clock_skew_s=40.0" in shown


def test_broker_ignores_unprefixed_jaas_and_handler() -> None:
    props = {
        "sasl.jaas.config": f"{MODULE} required;",
        "listener.name.sasl_ssl.sasl.jaas.config": f"{MODULE} required;",
    }
    with pytest.raises(ConfigurationError, match="only with the listener and mechanism prefix"):
        broker_validator(props, listener="sasl_ssl")
    # An unprefixed handler class is not read: the listener stays unsecured.
    props = _broker(**{"sasl.server.callback.handler.class": SECURED_VALIDATOR})
    assert broker_validator(props).unsecured


def test_broker_listener_choice() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("no listener.name")):
        broker_validator({"sasl.jaas.config": f"{MODULE} required;"})
    props = {
        **_broker(),
        "listener.name.internal.oauthbearer.sasl.jaas.config": f"{MODULE} required;",
    }
    with pytest.raises(ConfigurationError, match=r"several listeners .*internal, sasl_ssl"):
        broker_validator(props)
    assert broker_validator(props, listener="INTERNAL").listener == "internal"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            {"sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks"},
            "is not Kafka's OAuthBearerValidatorCallbackHandler, so Kafka would ignore it",
        ),
        (
            {PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR},
            "jwks.endpoint.url is not set",
        ),
        (
            {
                PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
                PREFIX + "sasl.oauthbearer.jwks.endpoint.url": "http://idp.example/jwks",
            },
            f"{PREFIX}sasl.oauthbearer.jwks.endpoint.url must use https or file",
        ),
        (
            {
                PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
                "sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks",
                "sasl.oauthbearer.jwks.endpoint.refresh.ms": "0",
            },
            "refresh.ms: the value is not a number >= 1",
        ),
        (
            {
                PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
                "sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks",
                "sasl.oauthbearer.clock.skew.seconds": "3000000000",
            },
            "clock.skew.seconds: the value is not a whole number \\(Java int\\)",
        ),
        (
            {
                PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
                "sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks",
                "sasl.oauthbearer.expected.audience": "a,a",
            },
            "expected.audience: the value is not a list without duplicates",
        ),
        (
            {PREFIX + "sasl.server.callback.handler.class": "com.example.MyHandler"},
            "only Kafka's own callback handlers",
        ),
        (
            {
                PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
                PREFIX
                + "sasl.jaas.config": f"{MODULE} required unsecuredValidatorRequiredScope=x;",
            },
            "'unsecuredValidatorRequiredScope' is set, but",
        ),
    ],
)
def test_broker_errors_name_the_key(extra: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        broker_validator(_broker(**extra))


def test_broker_allows_http_to_loopback_only_when_asked() -> None:
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
            PREFIX + "sasl.oauthbearer.jwks.endpoint.url": "http://127.0.0.1:8080/jwks",
        }
    )
    with pytest.raises(ConfigurationError):
        broker_validator(props)
    assert broker_validator(props, allow_insecure_loopback=True).refresher is not None


def test_url_credentials_are_redacted_in_messages() -> None:
    props = _broker(
        **{
            PREFIX + "sasl.server.callback.handler.class": SECURED_VALIDATOR,
            PREFIX + "sasl.oauthbearer.jwks.endpoint.url": "http://user:hunter2@idp/jwks?k=v",
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        broker_validator(props)
    assert "hunter2" not in str(caught.value)
    assert "k=v" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"sasl.login.retry.backoff.ms": "100", "sasl.login.retry.backoff.max.ms": "10"},
            (
                "sasl.login.retry.backoff.max.ms (10) is less than sasl.login.retry.backoff.ms "
                "(100); Kafka refuses it: retryBackoffMaxMs value (10) is less than "
                "retryBackoffMs value (100)"
            ),
        ),
        ({"sasl.login.retry.backoff.max.ms": "50"}, "retryBackoffMaxMs value (50) is less than"),
        ({"sasl.login.retry.backoff.ms": "-1"}, "sasl.login.retry.backoff.ms: the value is not"),
        ({"sasl.login.retry.backoff.max.ms": "-1"}, "sasl.login.retry.backoff.max.ms: the value"),
    ],
)
def test_login_retry_refuses_what_kafkas_retry_refuses(
    settings: dict[str, str], message: str
) -> None:
    # Kafka's oauthbearer Retry (4.0 and 4.4 alike): neither value negative, and
    # the maximum not below the backoff; equal values are accepted.
    props = {
        "sasl.jaas.config": f'{MODULE} required clientId="c" clientSecret="s";',
        "sasl.login.callback.handler.class": SECURED_LOGIN,
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        **settings,
    }
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        client_login(props, now=NOW)
    props.update({"sasl.login.retry.backoff.ms": "10", "sasl.login.retry.backoff.max.ms": "10"})
    login = client_login(props, now=NOW)
    assert isinstance(login, ClientCredentialsConfig)
    assert login.retry == RetryPolicy(backoff_s=0.01, budget_s=0.01)
    with pytest.raises(ConfigurationError, match="is less than backoff_s"):
        RetryPolicy(backoff_s=0.1, budget_s=0.01)


# --- the static JAAS file (java.security.auth.login.config) -------------------------------

JAAS_SECTIONS = f"""
KafkaClient {{ {MODULE} required unsecuredLoginStringClaim_sub="from-file"; }};
plain.KafkaServer {{ {MODULE} required unsecuredValidatorRequiredScope="plain"; }};
KafkaServer {{ {MODULE} required unsecuredValidatorRequiredScope="any"; }};
"""


def test_client_login_reads_the_kafkaclient_section_without_jaas_config() -> None:
    from oauthbearer.config import parse_jaas_file
    from oauthbearer.unsecured import UnsecuredLogin

    sections = parse_jaas_file(JAAS_SECTIONS)
    login = client_login({"sasl.mechanism": "OAUTHBEARER"}, now=NOW, jaas_file=sections)
    assert isinstance(login, UnsecuredLogin)
    assert login.token.principal == "from-file"
    # sasl.jaas.config wins over the file, as in Kafka.
    props = {"sasl.jaas.config": f'{MODULE} required unsecuredLoginStringClaim_sub="prop";'}
    login = client_login(props, now=NOW, jaas_file=sections)
    assert isinstance(login, UnsecuredLogin)
    assert login.token.principal == "prop"


def test_broker_validator_reads_the_listener_section_then_kafkaserver() -> None:
    from oauthbearer.config import parse_jaas_file

    sections = parse_jaas_file(JAAS_SECTIONS)
    assert broker_validator({}, listener="PLAIN", jaas_file=sections).jaas.options == {
        "unsecuredValidatorRequiredScope": "plain"
    }
    assert broker_validator({}, listener="other", jaas_file=sections).jaas.options == {
        "unsecuredValidatorRequiredScope": "any"
    }
    # Without listener=, the one <listener>.KafkaServer section names it.
    assert broker_validator({}, jaas_file=sections).listener == "plain"
    with pytest.raises(ConfigurationError, match="no JAAS file was given"):
        broker_validator({}, listener="plain")
