"""oauthbearer check: each step's verdict, against the local test identity provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from oauthbearer.cli import main
from oauthbearer.cli.check import run_check
from oauthbearer.testing import HttpStatus, TestIdentityProvider

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

SECRET = "check-s3cret"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
STEPS = [
    "client configuration",
    "client JWT retrieval",
    "client JWT validation",
    "broker configuration",
    "broker JWT validation",
]


JWT_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        provider.add_client("orders", SECRET, scopes=("kafka",), audience="kafka-cluster")
        provider.add_client(
            "jwt-app",
            public_key_pem=JWT_KEY.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            scopes=("kafka",),
            audience="kafka-cluster",
        )
        yield provider


def client(idp: TestIdentityProvider, secret: str = SECRET) -> dict[str, str]:
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.jaas.config": (
            f'{LOGIN_MODULE} required clientId="orders" clientSecret="{secret}" scope="kafka";'
        ),
    }


def broker(idp: TestIdentityProvider, audience: str = "kafka-cluster") -> dict[str, str]:
    prefix = "listener.name.sasl_ssl.oauthbearer."
    return {
        "listeners": "SASL_SSL://:9093",
        f"{prefix}sasl.jaas.config": f"{LOGIN_MODULE} required ;",
        f"{prefix}sasl.server.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
        ),
        f"{prefix}sasl.oauthbearer.jwks.endpoint.url": idp.jwks_uri,
        "sasl.oauthbearer.expected.audience": audience,
        "sasl.oauthbearer.expected.issuer": idp.issuer,
    }


def test_every_step_passes_for_a_matching_configuration(idp: TestIdentityProvider) -> None:
    steps = run_check(client(idp), broker(idp), allow_insecure_loopback=True)
    assert [step.name for step in steps] == STEPS
    assert all(step.passed for step in steps), steps
    assert "principal 'orders'" in steps[-1].detail


def test_a_wrong_audience_fails_at_the_broker(idp: TestIdentityProvider) -> None:
    steps = run_check(client(idp), broker(idp, audience="other"), allow_insecure_loopback=True)
    assert [step.passed for step in steps] == [True, True, True, True, False]
    assert steps[-1].detail.startswith("invalid_token: ")
    assert "audience" in steps[-1].detail


def test_a_wrong_secret_fails_at_retrieval_without_showing_it(idp: TestIdentityProvider) -> None:
    steps = run_check(client(idp, "wrong-pass"), broker(idp), allow_insecure_loopback=True)
    assert [step.name for step in steps] == STEPS[:2]
    assert not steps[1].passed
    assert "invalid_client" in steps[1].detail
    assert "wrong-pass" not in repr(steps)


def test_a_typo_fails_at_configuration(idp: TestIdentityProvider) -> None:
    typo = {**client(idp), "sasl.oauthbearer.token.endpoint.ur": "x"}
    steps = run_check(typo, broker(idp), allow_insecure_loopback=True)
    assert [(step.name, step.passed) for step in steps] == [("client configuration", False)]


def test_unsecured_client_and_broker_need_no_network() -> None:
    unsecured_client = {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.jaas.config": f'{LOGIN_MODULE} required unsecuredLoginStringClaim_sub="alice";',
    }
    unsecured_broker = {
        "listeners": "SASL_PLAINTEXT://:9092",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
            f'{LOGIN_MODULE} required unsecuredValidatorRequiredScope="admin";'
        ),
    }
    steps = run_check(unsecured_client, unsecured_broker)
    assert [step.passed for step in steps] == [True, True, True, True, False]
    assert steps[-1].detail.startswith("insufficient_scope, scope [admin]: ")


def test_the_cli_prints_each_step_and_exits_by_the_verdict(
    idp: TestIdentityProvider, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_file = tmp_path / "client.properties"
    client_file.write_text(
        "\n".join(f"{key}={value}" for key, value in client(idp).items()), encoding="latin-1"
    )
    args = ["check", "--client", str(client_file), "--insecure-loopback"]
    for key, value in broker(idp).items():
        args += ["-b", f"{key}={value}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()[:5]] == [
        f"PASSED {n}/5" for n in range(1, 6)
    ]
    assert out.splitlines()[-1].startswith("SUCCESS")
    assert SECRET not in out
    assert main([*args, "-b", "sasl.oauthbearer.expected.audience=other"]) == 1
    out = capsys.readouterr().out
    assert "FAILED 5/5: broker JWT validation: invalid_token" in out
    assert out.splitlines()[-1] == "FAILED at step 5/5: broker JWT validation"


def jwt_bearer_client(
    idp: TestIdentityProvider, tmp_path: pathlib.Path, key: ec.EllipticCurvePrivateKey
) -> dict[str, str]:
    key_file = tmp_path / "assertion.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.token.endpoint.url": idp.token_endpoint,
        "sasl.login.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
        ),
        "sasl.oauthbearer.jwt.retriever.class": (
            "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever"
        ),
        "sasl.oauthbearer.assertion.algorithm": "ES256",
        "sasl.oauthbearer.assertion.private.key.file": str(key_file),
        "sasl.oauthbearer.assertion.claim.iss": "jwt-app",
        "sasl.oauthbearer.assertion.claim.sub": "jwt-app",
        "sasl.oauthbearer.assertion.claim.aud": idp.issuer,
        "sasl.oauthbearer.assertion.claim.jti.include": "true",
        "sasl.oauthbearer.scope": "kafka",
        "sasl.jaas.config": f"{LOGIN_MODULE} required ;",
    }


def test_every_step_passes_for_a_jwt_bearer_client(
    idp: TestIdentityProvider, tmp_path: pathlib.Path
) -> None:
    steps = run_check(
        jwt_bearer_client(idp, tmp_path, JWT_KEY), broker(idp), allow_insecure_loopback=True
    )
    assert [step.name for step in steps] == STEPS
    assert all(step.passed for step in steps), steps
    assert steps[0].detail == "jwt-bearer grant"
    assert "by the jwt-bearer grant" in steps[1].detail
    assert "principal 'jwt-app'" in steps[-1].detail


def test_a_wrong_assertion_key_fails_at_retrieval(
    idp: TestIdentityProvider, tmp_path: pathlib.Path
) -> None:
    wrong = ec.generate_private_key(ec.SECP256R1())
    steps = run_check(
        jwt_bearer_client(idp, tmp_path, wrong), broker(idp), allow_insecure_loopback=True
    )
    assert [(step.name, step.passed) for step in steps] == [
        ("client configuration", True),
        ("client JWT retrieval", False),
    ]
    assert "invalid_grant" in steps[1].detail


JAAS_FILE = f"""
// java.security.auth.login.config, as Kafka's docs show it
KafkaClient {{
    {LOGIN_MODULE} Required
        clientId="orders" clientSecret="{SECRET}" scope="kafka";
}};
sasl_ssl.KafkaServer {{ {LOGIN_MODULE} required; }};
"""


def without_jaas_config(properties: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in properties.items() if "jaas.config" not in key}


def test_a_jaas_file_stands_in_for_unset_jaas_config(
    idp: TestIdentityProvider, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kafka_jaas.conf"
    path.write_text(JAAS_FILE, encoding="utf-8")
    client_file = tmp_path / "client.properties"
    client_file.write_text(
        "".join(f"{k}={v}\n" for k, v in without_jaas_config(client(idp)).items()),
        encoding="utf-8",
    )
    broker_file = tmp_path / "broker.properties"
    broker_file.write_text(
        "".join(f"{k}={v}\n" for k, v in without_jaas_config(broker(idp)).items()),
        encoding="utf-8",
    )
    argv = ["check", "--client", str(client_file), "--broker", str(broker_file)]
    assert main([*argv, "--insecure-loopback"]) == 1  # no JAAS entry anywhere
    assert "sasl.jaas.config is not set, and no JAAS file was given" in capsys.readouterr().out
    assert main([*argv, "--insecure-loopback", "--jaas-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("SUCCESS: the client's token is one the broker accepts")
    assert SECRET not in out


def test_a_broken_jaas_file_is_a_usage_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kafka_jaas.conf"
    path.write_text("KafkaClient { x required a=0oa1; };", encoding="utf-8")
    for argv, said in (
        (["check", "--jaas-file", str(path)], "expected [option value]"),
        (["check", "--jaas-file", str(tmp_path / "missing.conf")], "No such file"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "--jaas-file" in err
        assert said in err


def test_json_output_names_the_failing_step(
    idp: TestIdentityProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    args = ["check", "--insecure-loopback", "--json"]
    for key, value in client(idp).items():
        args += ["-c", f"{key}={value}"]
    for key, value in broker(idp, audience="other").items():
        args += ["-b", f"{key}={value}"]
    assert main(args) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is False
    assert document["failed_step"] == 5
    assert [s["step"] for s in document["steps"]] == [1, 2, 3, 4, 5]
    assert document["steps"][-1]["name"] == "broker JWT validation"
    assert SECRET not in json.dumps(document)


# --- Usability: usage, files, flags, retries ----------------------------------------------


def test_no_arguments_print_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: oauthbearer check")
    for option in ("--client FILE", "--broker FILE", "--client-property", "--insecure-loopback"):
        assert option in captured.err


@pytest.mark.parametrize("option", ["--client", "--broker"])
def test_a_missing_file_is_named_with_its_option(
    option: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.properties"
    with pytest.raises(SystemExit) as exited:
        main(["check", option, str(missing)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"oauthbearer check: {option} {missing}: No such file or directory\n"
    )


def test_a_broken_properties_file_is_named_with_its_option(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "client.properties"
    path.write_text("sasl.jaas.config=\\u12\n", encoding="latin-1")
    with pytest.raises(SystemExit):
        main(["check", "--client", str(path)])
    assert f"--client {path}: line 1: malformed \\uxxxx encoding" in capsys.readouterr().err


def test_errors_name_the_flags_not_the_python_arguments(
    idp: TestIdentityProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check"]
    for key, value in client(idp).items():
        args += ["-c", f"{key}={value}"]
    assert main(args) == 1  # an http token endpoint, without --insecure-loopback
    out = capsys.readouterr().out
    assert "FAILED 1/5: client configuration: sasl.oauthbearer.token.endpoint.url must use" in out
    assert "with --insecure-loopback)" in out
    assert "allow_insecure_loopback" not in out
    unsecured = f"{LOGIN_MODULE} required unsecuredLoginStringClaim_sub=alice;"
    two_listeners = [
        "-b",
        f"listener.name.a.oauthbearer.sasl.jaas.config={LOGIN_MODULE} required;",
        "-b",
        f"listener.name.b.oauthbearer.sasl.jaas.config={LOGIN_MODULE} required;",
    ]
    assert main(["check", "-c", f"sasl.jaas.config={unsecured}", *two_listeners]) == 1
    out = capsys.readouterr().out
    assert "several listeners configure OAUTHBEARER (a, b): choose one with --listener NAME" in out
    assert "listener=" not in out


def test_retries_show_while_an_endpoint_is_retried(
    idp: TestIdentityProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    idp.inject("token", HttpStatus(status=503), times=2)
    idp.inject("jwks", HttpStatus(status=500))
    args = ["check", "--insecure-loopback"]
    for key, value in client(idp).items():
        args += ["-c", f"{key}={value}"]
    for key, value in broker(idp).items():
        args += ["-b", f"{key}={value}"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    retries = [line for line in lines if line.startswith("  ... ")]
    assert [line.split(", retrying in")[0] for line in retries] == [
        "  ... token request attempt 1 failed",
        "  ... token request attempt 2 failed",
        "  ... JWKS fetch attempt 1 failed",
    ]
    assert "HTTP 503" in retries[0]
    assert "HTTP 500" in retries[2]
    # Each retry is shown before the step it delays ends, in order.
    assert lines.index(retries[1]) < lines.index(next(x for x in lines if "PASSED 2/5" in x))
    assert lines.index(retries[2]) < lines.index(next(x for x in lines if "PASSED 4/5" in x))
    assert SECRET not in "\n".join(lines)


def test_with_json_retries_go_to_standard_error(
    idp: TestIdentityProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    idp.inject("token", HttpStatus(status=503))
    args = ["check", "--insecure-loopback", "--json"]
    for key, value in client(idp).items():
        args += ["-c", f"{key}={value}"]
    for key, value in broker(idp).items():
        args += ["-b", f"{key}={value}"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passed"] is True
    assert captured.err.startswith("  ... token request attempt 1 failed, retrying in ")


def test_run_check_reports_retries_only_while_it_runs(idp: TestIdentityProvider) -> None:
    import logging

    seen: list[str] = []
    idp.inject("token", HttpStatus(status=503))
    steps = run_check(client(idp), broker(idp), allow_insecure_loopback=True, progress=seen.append)
    assert all(step.passed for step in steps)
    assert len(seen) == 1
    assert not logging.getLogger("oauthbearer.login").handlers
    assert not logging.getLogger("oauthbearer.jwks").handlers
