"""Strimzi's configuration (oauthbearer.config.strimzi), and a differential
against Strimzi's own validator.

The same ``sasl.jaas.config`` text configures both sides: Strimzi's
``JaasServerOauthValidatorCallbackHandler`` (io.strimzi:kafka-oauth-server
from Maven Central, tests/interop/strimzi/pom.xml), configured and called as a
Kafka broker calls it (Kafka's own ``JaasConfig`` reads the text;
tests/interop/strimzi/StrimziVerdicts.java), and ours through
:func:`strimzi_validator`. The tokens come from the test IdP in Keycloak's
profile (whose tokens carry ``typ: Bearer``, as Strimzi's default check
wants), good and bad; the verdicts and principals must agree.

Then the generated token set of the Kafka issue: the signed-token matrix of
tests/test_kafka_validation_parity.py, signed by the same IdP, judged with
options that fit its base token, directly and by a real broker's Strimzi
listener. Every token where Strimzi's verdict or principal is not ours is
named in :data:`KNOWN_DIFFERENCES` with the reason (docs/strimzi.md).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from oauthbearer.config import parse_jaas_config
from oauthbearer.config.strimzi import (
    STRIMZI_RULES,
    STRIMZI_SERVER_HANDLER,
    StrimziValidatorConfig,
    strimzi_client,
    strimzi_validator,
)
from oauthbearer.errors import ConfigurationError, InvalidToken
from oauthbearer.gs2 import ClientInitialResponse
from oauthbearer.testing.idp import TestIdentityProvider
from oauthbearer.testing.probe import Expected, Observed, ProbeCase, probe
from oauthbearer.validation.claim_check import ClaimCheckError
from oauthbearer.validation.introspection_http import IntrospectionValidator
from oauthbearer.validation.jwt import JwtValidator
from tests.conftest import KAFKA_AUDIENCE, KAFKA_SUB_CLAIM
from tests.peers import missing_peer
from tests.real_kafka import JavaProgram, KafkaBroker, classpath, java_tool, selected_version
from tests.test_kafka_validation_parity import (
    CONCURRENCY,
    JWT_BASE,
    JWT_EXP,
    TokenCase,
    describe,
    jwt_cases,
    jwt_token,
    probe_case,
    resolve,
    session_overflows,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

STRIMZI_DIR = Path(__file__).resolve().parent / "interop" / "strimzi"
MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
CHECK = "'kafka-users' in @.realm_access.roles"


def jaas(**options: str) -> str:
    pairs = " ".join(f'{key}="{value}"' for key, value in options.items())
    return f"{MODULE} required {pairs};"


@pytest.fixture(scope="module")
def keycloak_like() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(profile="keycloak") as idp:
        yield idp


def server_jaas(idp: TestIdentityProvider, **extra: str) -> str:
    return jaas(
        **{
            "oauth.jwks.endpoint.uri": idp.jwks_uri,
            "oauth.valid.issuer.uri": idp.issuer,
            "oauth.client.id": "kafka-broker",
            "oauth.check.audience": "true",
            "oauth.custom.claim.check": CHECK,
            "oauth.username.claim": "preferred_username",
            # The broker's own login on the listener (Kafka's unsecured login module).
            "unsecuredLoginStringClaim_sub": "broker",
            **extra,
        }
    )


# --- the mapping ----------------------------------------------------------------------------


def test_the_jwks_options_map_to_our_objects(keycloak_like: TestIdentityProvider) -> None:
    config = strimzi_validator(
        server_jaas(
            keycloak_like, **{"oauth.config.id": "x", "oauth.groups.claim": "$.realm_access.roles"}
        ),
        allow_insecure_loopback=True,
    )
    assert isinstance(config, StrimziValidatorConfig)
    assert isinstance(config.validator, JwtValidator)
    assert config.validator.rules is STRIMZI_RULES
    assert config.refresher is not None
    assert config.ignored == ("unsecuredLoginStringClaim_sub", "oauth.config.id")
    assert config.authorizer.claim_check is not None
    assert CHECK in config.authorizer.claim_check.source
    assert STRIMZI_SERVER_HANDLER.endswith("JaasServerOauthValidatorCallbackHandler")


def test_the_introspection_options_map_to_an_introspection_validator(
    keycloak_like: TestIdentityProvider,
) -> None:
    config = strimzi_validator(
        {
            "oauth.introspection.endpoint.uri": keycloak_like.introspection_endpoint,
            "oauth.client.id": "kafka-broker",
            "oauth.client.secret": "s3cret",
            "oauth.valid.issuer.uri": keycloak_like.issuer,
            "oauth.fallback.username.claim": "client_id",
            "oauth.check.access.token.type": "false",
        },
        allow_insecure_loopback=True,
    )
    assert isinstance(config.validator, IntrospectionValidator)
    assert config.refresher is None
    assert config.authorizer.claim_check is None
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of"),
        ({"oauth.jwks.endpoint.uri": "https://a/certs"}, "oauth.valid.issuer.uri is required"),
        (
            {
                "oauth.jwks.endpoint.uri": "https://a",
                "oauth.introspection.endpoint.uri": "https://b",
            },
            "exactly one of",
        ),
        (
            {
                "oauth.jwks.endpoint.uri": "https://a",
                "oauth.check.issuer": "false",
                "oauth.ssl.truststore.location": "/x",
            },
            "oauth.ssl.truststore.location: not supported",
        ),
        (
            {
                "oauth.jwks.endpoint.uri": "https://a",
                "oauth.check.issuer": "false",
                "oauth.jwks.endpont.uri": "x",
            },
            "oauth.jwks.endpont.uri: not a Strimzi option",
        ),
        (
            {"oauth.jwks.endpoint.uri": "https://a", "oauth.check.issuer": "maybe"},
            "oauth.check.issuer must be true or false",
        ),
        (
            {
                "oauth.jwks.endpoint.uri": "https://a",
                "oauth.check.issuer": "false",
                "oauth.check.audience": "true",
            },
            "needs oauth.client.id",
        ),
        (
            {
                "oauth.jwks.endpoint.uri": "https://a",
                "oauth.check.issuer": "false",
                "oauth.fallback.username.claim": "cid",
            },
            "only with introspection",
        ),
        (
            {"oauth.introspection.endpoint.uri": "https://b", "oauth.check.issuer": "false"},
            "needs oauth.client.id",
        ),
        (
            {"oauth.jwks.endpoint.uri": "http://idp.example/certs", "oauth.check.issuer": "false"},
            "https",
        ),
    ],
)
def test_configuration_mistakes_are_named(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        strimzi_validator(options)


def test_a_bad_claim_check_is_refused_with_its_offset() -> None:
    with pytest.raises(ClaimCheckError) as error:
        strimzi_validator(
            {
                "oauth.jwks.endpoint.uri": "https://a/certs",
                "oauth.check.issuer": "false",
                "oauth.custom.claim.check": "@.a = 1",
            }
        )
    assert error.value.offset == 4


def test_the_client_options_map_to_a_client_credentials_login() -> None:
    text = jaas(
        **{
            "oauth.token.endpoint.uri": "https://sso.example.com/realms/kafka/protocol/openid-connect/token",
            "oauth.client.id": "kafka-app",
            "oauth.client.secret": "s3cret",
            "oauth.scope": "kafka",
            "oauth.username.claim": "preferred_username",
        }
    )
    login = strimzi_client(parse_jaas_config(text))
    assert (login.client_id, login.scope, login.subject_claim) == (
        "kafka-app",
        "kafka",
        "preferred_username",
    )
    assert "s3cret" not in repr(login)
    with pytest.raises(ConfigurationError, match=r"oauth\.audience: not supported"):
        strimzi_client({"oauth.audience": "kafka", "oauth.client.id": "a"})
    with pytest.raises(ConfigurationError, match="are required"):
        strimzi_client({"oauth.client.id": "a"})


# --- the differential -----------------------------------------------------------------------


def strimzi_classpath() -> str:
    lib = STRIMZI_DIR / "lib"
    if not (lib / "kafka-oauth-server-0.17.0.jar").is_file():
        missing_peer(
            "Strimzi's kafka-oauth-server jars",
            "mvn -q -f tests/interop/strimzi/pom.xml dependency:copy-dependencies "
            "-DincludeScope=runtime -DoutputDirectory=lib",
        )
    return str(lib / "*")


@pytest.fixture(scope="module")
def strimzi(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    path = os.pathsep.join([classpath(selected_version()), strimzi_classpath()])
    build = tmp_path_factory.mktemp("strimzi")
    source = STRIMZI_DIR / "StrimziVerdicts.java"
    done = subprocess.run(  # noqa: S603 - the JDK's compiler on a file of ours
        [java_tool("javac"), "-cp", path, "-d", str(build), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return JavaProgram(version=selected_version(), directory=build, main_class=source.stem)


def strimzi_verdicts(
    program: JavaProgram, jaas_text: str, tokens: list[str], tmp_path: Path
) -> list[str]:
    config = tmp_path / "jaas.txt"
    config.write_text(jaas_text, encoding="utf-8")
    path = os.pathsep.join(
        [str(program.directory), classpath(program.version), strimzi_classpath()]
    )
    done = subprocess.run(  # noqa: S603 - our own program
        [java_tool(), "-cp", path, program.main_class, str(config)],
        input="\n".join(tokens) + "\n",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("OK ", "FAIL "))]
    assert len(lines) == len(tokens), done.stdout[-3000:] + done.stderr[-3000:]
    return lines


def our_verdicts(config: StrimziValidatorConfig, tokens: list[str]) -> list[str]:
    assert config.refresher is not None
    config.refresher.refresh()
    verdicts = []
    for token in tokens:
        try:
            verified = config.validator.validate(token, now=time.time())
            config.authorizer.authenticate(verified)
        except InvalidToken as refused:
            verdicts.append(f"FAIL {refused.detail}")
        else:
            verdicts.append(f"OK {verified.principal}")
    return verdicts


def token_set(idp: TestIdentityProvider) -> dict[str, str]:
    good: dict[str, Any] = {"realm_access": {"roles": ["kafka-users"]}}
    now = time.time()
    with TestIdentityProvider(profile="keycloak") as stranger:
        foreign = stranger.mint_token("eve", audience="kafka-broker", extra_claims=good)
    with TestIdentityProvider(profile="generic") as generic:
        untyped = generic.mint_token("svc", audience="kafka-broker", extra_claims=good)
    return {
        "good": idp.mint_token("alice", audience="kafka-broker", extra_claims=good),
        "good, several audiences": idp.mint_token(
            "alice", audience=["account", "kafka-broker"], extra_claims=good
        ),
        "wrong issuer": idp.mint_token(
            "alice", audience="kafka-broker", extra_claims=good, issuer="https://other.example"
        ),
        "wrong audience": idp.mint_token("alice", audience="account", extra_claims=good),
        "no audience": idp.mint_token("alice", extra_claims=good),
        "failed claim check": idp.mint_token(
            "alice", audience="kafka-broker", extra_claims={"realm_access": {"roles": ["x"]}}
        ),
        "no realm_access": idp.mint_token(
            "alice", audience="kafka-broker", extra_claims={"realm_access": None}
        ),
        "expired": idp.mint_token(
            "alice", audience="kafka-broker", extra_claims=good, now=now - 7200, lifetime_s=60
        ),
        "typ ID": idp.mint_token(
            "alice", audience="kafka-broker", extra_claims={**good, "typ": "ID"}
        ),
        "another key": foreign,
        "signature tampered": idp.mint_token("alice", audience="kafka-broker", extra_claims=good)[
            :-6
        ]
        + "AAAAAA",
        "not a JWT": "opaque-token-value",
        # A null typ is present for both (Jackson's NullNode is not Java's null).
        "typ null, token_type Bearer": idp.mint_token(
            "alice",
            audience="kafka-broker",
            extra_claims={**good, "typ": None, "token_type": "Bearer"},
        ),
        "signed by another provider": untyped,
    }


def test_strimzi_and_we_agree_on_every_token(
    strimzi: JavaProgram, keycloak_like: TestIdentityProvider, tmp_path: Path
) -> None:
    text = server_jaas(keycloak_like)
    tokens = token_set(keycloak_like)
    theirs = strimzi_verdicts(strimzi, text, list(tokens.values()), tmp_path)
    ours = our_verdicts(
        strimzi_validator(text, allow_insecure_loopback=True), list(tokens.values())
    )
    table = [
        (name, their.split(" ", 1)[0], our.split(" ", 1)[0], their, our)
        for name, their, our in zip(tokens, theirs, ours, strict=True)
    ]
    disagreements = [row for row in table if row[1] != row[2]]
    assert disagreements == [], "\n".join(map(str, disagreements))
    # Where both accept, the principal is the same (preferred_username).
    for name, their_kind, _our_kind, their, our in table:
        if their_kind == "OK":
            assert their == our, name
    accepted = [row[0] for row in table if row[1] == "OK"]
    assert accepted == ["good", "good, several audiences"]
    print(
        "\n".join(f"{name}: strimzi {their!r} / ours {our!r}" for name, _, _, their, our in table)
    )


def test_without_the_audience_and_type_checks_too(
    strimzi: JavaProgram, keycloak_like: TestIdentityProvider, tmp_path: Path
) -> None:
    text = server_jaas(
        keycloak_like,
        **{"oauth.check.audience": "false", "oauth.check.access.token.type": "false"},
    )
    tokens = token_set(keycloak_like)
    theirs = strimzi_verdicts(strimzi, text, list(tokens.values()), tmp_path)
    ours = our_verdicts(
        strimzi_validator(text, allow_insecure_loopback=True), list(tokens.values())
    )
    kinds = {
        name: (their.split(" ", 1)[0], our.split(" ", 1)[0])
        for name, their, our in zip(tokens, theirs, ours, strict=True)
    }
    assert all(a == b for a, b in kinds.values()), kinds
    assert kinds["wrong audience"] == ("OK", "OK")
    assert kinds["typ ID"] == ("OK", "OK")


# --- the Kafka issue's generated tokens ----------------------------------------------------

# Why Strimzi grants a token of the parity matrix that we refuse: its
# JWTSignatureValidator (0.17.0) reads the payload with Jackson, and only
# exp, iss, aud, the token type and the username claim.
EXP_TEXT: Final = (
    "Strimzi reads exp with Jackson's asLong, which parses a string; "
    "a NumericDate is a JSON number (RFC 7519 section 2)"
)
EXP_RANGE: Final = "an exp beyond year 9999: ours bounds NumericDates, Strimzi takes any long"
NBF_IAT: Final = (
    "Strimzi reads neither nbf nor iat; ours refuses a token not yet valid "
    "(RFC 7519 section 4.1.5), issued in the future, or whose nbf or iat is no NumericDate"
)
AUD_ELEMENT: Final = (
    "Strimzi takes a non-string aud element as its JSON text; "
    "aud is a StringOrURI or an array of them (RFC 7519 section 4.1.3)"
)
AUD_SPLIT: Final = (
    "Strimzi splits a string aud at spaces and trims the parts, so ' kafka-cluster' "
    "(and 'x kafka-cluster') names kafka-cluster; a string aud is one StringOrURI"
)
PRINCIPAL_TEXT: Final = (
    "Strimzi takes any JSON value's text as the principal: 42, and 'null' for a JSON null, "
    "a user named null; ours wants a string"
)
PRINCIPAL_BLANK: Final = (
    "Strimzi grants a blank or padded principal as it is; ours refuses one "
    "(' app ' is another user than 'app' in ACLs)"
)
TYP_HEADER: Final = (
    "nimbus ignores the typ header; ours refuses a JWT of another kind, "
    "which is not an access token (RFC 8725 section 3.11)"
)
CTY_NESTED: Final = (
    "nimbus ignores cty; ours refuses a cty announcing a nested JWT "
    "(matching would change jwt.py's header rule)"
)

#: Every token of the matrix that Strimzi and we judge differently, by its
#: description (tests/test_kafka_validation_parity.py's ``describe``):
#: Strimzi's verdict, and why. We refuse them all. A new difference fails.
KNOWN_DIFFERENCES: Final[dict[str, tuple[str, str]]] = {
    "exp=string": ("OK app", EXP_TEXT),
    "exp=beyond-9999": ("OK app", EXP_RANGE),
    "nbf=future": ("OK app", NBF_IAT),
    "nbf=within-skew": ("OK app", NBF_IAT),
    "nbf=string": ("OK app", NBF_IAT),
    "nbf=null": ("OK app", NBF_IAT),
    "iat=future": ("OK app", NBF_IAT),
    "iat=within-skew": ("OK app", NBF_IAT),
    "iat=string": ("OK app", NBF_IAT),
    "iat=null": ("OK app", NBF_IAT),
    "iat=negative": ("OK app", NBF_IAT),
    "aud=list-mixed": ("OK app", AUD_ELEMENT),
    "aud=padded": ("OK app", AUD_SPLIT),
    "client_id=blank": ("OK   ", PRINCIPAL_BLANK),
    "client_id=padded": ("OK  app ", PRINCIPAL_BLANK),
    "client_id=number": ("OK 42", PRINCIPAL_TEXT),
    "client_id=null": ("OK null", PRINCIPAL_TEXT),
    "header=typ-dpop+jwt": ("OK app", TYP_HEADER),
    "header=typ-other": ("OK app", TYP_HEADER),
    "header=cty-jwt": ("OK app", CTY_NESTED),
    "iat=null,client_id=null": ("OK null", f"{NBF_IAT}; {PRINCIPAL_TEXT}"),
    "nbf=null,iat=negative": ("OK app", NBF_IAT),
    "exp=string,nbf=within-skew,scp=empty-list": ("OK app", f"{EXP_TEXT}; {NBF_IAT}"),
    "nbf=null,header=jku": ("OK app", NBF_IAT),
}


def matrix_jaas(idp: TestIdentityProvider, **extra: str) -> str:
    """Strimzi's options that fit the base token of the parity matrix: its
    issuer, its audience as the client id, its subject claim. The matrix
    writes no ``typ`` claim, so the access-token-type check is off, and there
    is no custom claim check."""
    return jaas(
        **{
            "oauth.jwks.endpoint.uri": idp.jwks_uri,
            "oauth.valid.issuer.uri": idp.issuer,
            "oauth.client.id": KAFKA_AUDIENCE,
            "oauth.check.audience": "true",
            "oauth.check.access.token.type": "false",
            "oauth.username.claim": KAFKA_SUB_CLAIM,
            "unsecuredLoginStringClaim_sub": "broker",
            **extra,
        }
    )


def matrix_and_ours(idp: TestIdentityProvider) -> tuple[list[TokenCase], list[str]]:
    """The matrix, and our verdicts at once: its nbf and iat 'within-skew'
    lie 10 s ahead of the moment it is built."""
    cases = jwt_cases(idp, time.time())
    config = strimzi_validator(matrix_jaas(idp), allow_insecure_loopback=True)
    return cases, our_verdicts(config, [case.token for case in cases])


def test_strimzi_judges_the_kafka_matrix_as_we_do_but_for_the_known_differences(
    strimzi: JavaProgram, keycloak_like: TestIdentityProvider, tmp_path: Path
) -> None:
    """Issue 16, part 5: the parity test's signed tokens, signed by this IdP."""
    cases, ours = matrix_and_ours(keycloak_like)
    tokens = [case.token for case in cases]
    theirs = strimzi_verdicts(strimzi, matrix_jaas(keycloak_like), tokens, tmp_path)
    # A difference is another verdict, or another principal; two refusals agree.
    differences = {
        describe(case.choice, JWT_BASE): (their, our.split(" ", 1)[0])
        for case, their, our in zip(cases, theirs, ours, strict=True)
        if their != our and not (their.startswith("FAIL ") and our.startswith("FAIL "))
    }
    assert differences == {
        name: (verdict, "FAIL") for name, (verdict, _) in KNOWN_DIFFERENCES.items()
    }
    granted = sum(their.startswith("OK ") for their in theirs)
    print(
        f"\n{len(cases)} tokens, {len(cases) - len(differences)} judged alike; "
        f"Strimzi grants {granted}, we grant {granted - len(differences)}"
    )
    assert len(cases) - len(differences) > 200
    assert 0 < granted < len(cases)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loopback HTTP server for the files of a folder: (the folder, its URL)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_jwks_keys_are_looked_up_as_strimzi_looks_them_up(
    strimzi: JavaProgram,
    keycloak_like: TestIdentityProvider,
    static_server: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """The IdP's key published without ``use``, or without ``kid``: Strimzi
    uses only keys whose ``use`` is ``sig`` (unless told to ignore it), and
    verifies a token without ``kid`` with the key without one."""
    folder, url = static_server
    (jwk,) = keycloak_like.jwks["keys"]
    documents = {
        "no-use": {k: v for k, v in jwk.items() if k != "use"},
        "no-kid": {k: v for k, v in jwk.items() if k != "kid"},
    }
    for name, key in documents.items():
        (folder / f"{name}.json").write_text(json.dumps({"keys": [key]}), encoding="utf-8")
    now = time.time()
    tokens = {
        "kid": jwt_token(keycloak_like, JWT_BASE, now),
        "no kid": jwt_token(keycloak_like, {**JWT_BASE, "header": "no-kid"}, now),
    }
    runs = {
        "no-use": {},
        "no-use, oauth.jwks.ignore.key.use": {"oauth.jwks.ignore.key.use": "true"},
        "no-kid": {},
    }
    verdicts = {}
    for run, extra in runs.items():
        document = run.split(",", 1)[0]
        text = matrix_jaas(
            keycloak_like, **{"oauth.jwks.endpoint.uri": f"{url}/{document}.json", **extra}
        )
        ours = our_verdicts(
            strimzi_validator(text, allow_insecure_loopback=True), list(tokens.values())
        )
        theirs = strimzi_verdicts(strimzi, text, list(tokens.values()), tmp_path)
        for token, their, our in zip(tokens, theirs, ours, strict=True):
            verdicts[run, token] = (their.split(" ", 1)[0], our.split(" ", 1)[0])
    assert verdicts == {
        ("no-use", "kid"): ("FAIL", "FAIL"),
        ("no-use", "no kid"): ("FAIL", "FAIL"),
        ("no-use, oauth.jwks.ignore.key.use", "kid"): ("OK", "OK"),
        ("no-use, oauth.jwks.ignore.key.use", "no kid"): ("FAIL", "FAIL"),
        ("no-kid", "kid"): ("FAIL", "FAIL"),
        ("no-kid", "no kid"): ("OK", "OK"),
    }


# --- the same, with Strimzi's validator in a real Kafka broker ------------------------------


@pytest.fixture(scope="module")
def strimzi_broker(
    request: pytest.FixtureRequest, keycloak_like: TestIdentityProvider
) -> Iterator[KafkaBroker]:
    # STRIMZI: the hand-picked tokens' options; MATRIX: the parity matrix's.
    texts = {"strimzi": server_jaas(keycloak_like), "matrix": matrix_jaas(keycloak_like)}
    properties: dict[str, str] = {}
    for name, text in texts.items():
        prefix = f"listener.name.{name}."
        properties |= {
            f"{prefix}sasl.enabled.mechanisms": "OAUTHBEARER",
            f"{prefix}oauthbearer.sasl.jaas.config": text,
            f"{prefix}oauthbearer.sasl.server.callback.handler.class": STRIMZI_SERVER_HANDLER,
        }
    broker = KafkaBroker(
        version=selected_version(),
        listeners={"STRIMZI": "SASL_PLAINTEXT", "MATRIX": "SASL_PLAINTEXT"},
        properties=properties,
        extra_classpath=[strimzi_classpath()],
    )
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        kept = broker.cleanup(keep_log=request.session.testsfailed > 0)
        if kept is not None:
            print(f"\nKafka {broker.version}'s log: {kept}", file=sys.stderr)


def test_strimzi_in_the_broker_and_we_agree(
    strimzi_broker: KafkaBroker, keycloak_like: TestIdentityProvider
) -> None:
    """Each token in its own SASL exchange with the broker's Strimzi listener."""
    tokens = token_set(keycloak_like)
    cases = [
        ProbeCase(
            id=name,
            description=name,
            data=ClientInitialResponse(token).encode(),
            kafka=Expected.UNSPECIFIED,
            rfc7628=Expected.UNSPECIFIED,
        )
        for name, token in tokens.items()
    ]
    port = strimzi_broker.ports["STRIMZI"]
    results = asyncio.run(probe("127.0.0.1", port, cases, timeout_s=30.0))
    broker = {r.case.id: r.observed for r in results}
    text = server_jaas(keycloak_like)
    ours = our_verdicts(
        strimzi_validator(text, allow_insecure_loopback=True), list(tokens.values())
    )
    mine = {
        name: Observed.GRANTED if verdict.startswith("OK ") else Observed.REFUSED
        for name, verdict in zip(tokens, ours, strict=True)
    }
    assert broker == mine
    assert [name for name, seen in broker.items() if seen is Observed.GRANTED] == [
        "good",
        "good, several audiences",
    ]


def test_strimzi_in_the_broker_judges_the_kafka_matrix_as_the_direct_run_does(
    strimzi_broker: KafkaBroker, keycloak_like: TestIdentityProvider
) -> None:
    """The whole matrix, each token in its own SASL exchange with the broker's
    MATRIX listener: it grants what we grant, and the known differences."""
    cases, ours = matrix_and_ours(keycloak_like)
    results = asyncio.run(
        probe(
            "127.0.0.1",
            strimzi_broker.ports["MATRIX"],
            [probe_case(case) for case in cases],
            timeout_s=30.0,
            concurrency=CONCURRENCY,
        )
    )
    broker: dict[str, Observed] = {}
    expected: dict[str, Observed] = {}
    for case, our, result in zip(cases, ours, results, strict=True):
        broker[case.id] = result.observed
        exp = resolve(JWT_EXP[case.choice["exp"]], case.now)
        if result.observed is Observed.CLOSED and session_overflows(exp, case.now):
            broker[case.id] = Observed.GRANTED  # then Kafka 4.4 closed the connection
        granted = our.startswith("OK ") != (describe(case.choice, JWT_BASE) in KNOWN_DIFFERENCES)
        # Strimzi's handler throws where Kafka's sets an error: an authentication failure.
        expected[case.id] = Observed.GRANTED if granted else Observed.REFUSED
    assert broker == expected
    counts = collections.Counter(broker.values())
    print(f"\n{len(cases)} tokens through the broker: {dict(counts)}")


def test_the_client_login_fetches_from_a_token_endpoint(
    keycloak_like: TestIdentityProvider,
) -> None:
    """Strimzi's client options, through our client-credentials source, at a real endpoint."""
    from oauthbearer.login.sources import client_credentials_fetch

    keycloak_like.add_client("kafka-app", "app-secret", scopes=["kafka"])
    login = strimzi_client(
        jaas(
            **{
                "oauth.token.endpoint.uri": keycloak_like.token_endpoint,
                "oauth.client.id": "kafka-app",
                "oauth.client.secret": "app-secret",
                "oauth.scope": "kafka",
                "oauth.username.claim": "preferred_username",
            }
        )
    )
    token = client_credentials_fetch(login, allow_insecure_loopback=True)()
    assert token.principal == "service-account-kafka-app"
    assert token.scope == frozenset({"kafka"})
