"""The ``oauthbearer`` command and the README's example."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

from oauthbearer import ClientInitialResponse
from oauthbearer._text import escape_bytes as escape
from oauthbearer.cli.commands import main, parse_bytes

MESSAGE = b"n,a=al=2Cice,\x01auth=Bearer abc.def\x01traceId=x\x01\x01"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["escaped", "hex", "base64"])
def test_formats_round_trip(fmt: str) -> None:
    from oauthbearer.cli.commands import format_bytes

    assert parse_bytes(format_bytes(MESSAGE, fmt).decode().rstrip("\n"), fmt) == MESSAGE


def test_escape_is_unambiguous() -> None:
    assert escape(b"a\\x01\x01") == "a\\\\x01\\x01"
    assert parse_bytes(escape(b"a\\x01\x01"), "escaped") == b"a\\x01\x01"


def test_decode_prints_json_without_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "-f", "hex", MESSAGE.hex())
    assert code == 0
    result = json.loads(out)
    assert result["authzid"] == "al,ice"
    assert result["extensions"] == {"traceId": "x"}
    assert result["token"]["length"] == 7
    assert "abc.def" not in out


def test_decode_show_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "decode", "--show-token", "-f", "base64", "bixhPWFsaWNlLAFhdXRoPUJlYXJlciB0AQE="
    )
    assert code == 0
    assert json.loads(out)["token"] == "t"


def test_decode_rejection_exits_1_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "-d", "kafka", "n,,\\x01k=v\\x01\\x01")
    assert code == 1
    result = json.loads(out)
    assert result["reason"] == "missing-auth"
    assert result["kafka_message"] == (
        "Invalid OAUTHBEARER client first message: 'auth' not specified"
    )


def test_decode_error_challenge(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "decode", "--error", '{"status":"insufficient_scope", "scope":"[a, b]"}'
    )
    assert code == 0
    assert json.loads(out)["scopes"] == ["a", "b"]


def test_bad_input_format_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", "-f", "hex", "zz"])
    assert info.value.code == 2
    assert "not valid hex" in capsys.readouterr().err


def test_encode(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "encode",
        "--token",
        "abc.def",
        "--authzid",
        "al,ice",
        "-e",
        "traceId=x",
        "-o",
        "hex",
    )
    assert code == 0
    assert bytes.fromhex(out.strip()) == MESSAGE


def test_encode_discovery(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "encode", "--discovery")
    assert (code, out) == (0, "n,,\\x01auth=\\x01\\x01\n")


def test_encode_invalid_token_exits_1_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "encode", "--token", "sec ret")
    assert code == 1
    assert "b64token" in err
    assert "sec ret" not in out + err


def test_encode_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["encode"])
    assert info.value.code == 2


def test_demo_in_memory_runs_both_exchanges(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--in-memory")
    assert code == 0
    assert "SUCCEEDED; server SUCCEEDED" in out
    assert "client -> server  \\x01" in out
    assert "FAILED; server FAILED" in out
    # The tokens are shortened on screen.
    assert re.search(r"eyJhbGciOiJu\.\.\.\(\d+ chars\)", out)


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oauthbearer", "encode", "--token", "t"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "n,,\\x01auth=Bearer t\\x01\\x01\n"


def test_readme_example_runs() -> None:
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(block, namespace)  # noqa: S102 - our own README
    assert namespace["reply"] == b"\x01"
    assert isinstance(namespace["event"], object)
    assert ClientInitialResponse.decode(MESSAGE).authzid == "al,ice"


def test_token_and_validate_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "token",
        "--now",
        "1767225600",
        "-o",
        "unsecuredLoginStringClaim_sub=alice",
        "-o",
        "unsecuredLoginListClaim_scope=,read",
    )
    assert code == 0
    token = out.strip()
    code, out, _ = run(capsys, "validate", "--unsecured", "--now", "1767225601", token)
    assert code == 0
    result = json.loads(out)
    assert (result["principal"], result["scope"]) == ("alice", ["read"])
    assert token not in out  # shown as length and digest unless --show-token
    code, out, _ = run(
        capsys,
        "validate",
        "--unsecured",
        "--now",
        "1767225601",
        "-o",
        "unsecuredValidatorRequiredScope=admin",
        token,
    )
    assert code == 1
    assert json.loads(out)["scope"] == "[admin]"


def test_token_librdkafka_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "token", "--now", "1", "--json", "--librdkafka", "principal=fubar extension_a=b"
    )
    assert code == 0
    result = json.loads(out)
    assert result["token"] == (
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJmdWJhciIsImlhdCI6MS4wMDAsImV4cCI6MzYwMS4wMDB9."
    )
    assert result["extensions"] == {"a": "b"}


def test_token_and_validate_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "token", "--librdkafka", "scope=a")
    assert code == 1
    assert "no principal=<value>" in err
    code, _, err = run(
        capsys, "validate", "--unsecured", "-o", "unsecuredValidatorAllowableClockSkewMs=-1", "t"
    )
    assert code == 2
    assert "must not be negative" in err
    with pytest.raises(SystemExit):
        main(["token", "-o", "novalue"])


# --- signed tokens: token --key, validate --jwks ---------------------------------------------

NOW = 1_800_000_000


def run_exit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Like run, with a command-line mistake's SystemExit turned into its code."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        assert isinstance(exc.code, int)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _write_pem(path: pathlib.Path, key: Any) -> pathlib.Path:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """One PEM private key file per kind the CLI signs with."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    folder = tmp_path_factory.mktemp("keys")
    return {
        "rsa": _write_pem(
            folder / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        "p256": _write_pem(folder / "p256.pem", ec.generate_private_key(ec.SECP256R1())),
        "ed25519": _write_pem(folder / "ed25519.pem", ed25519.Ed25519PrivateKey.generate()),
    }


def mint(
    capsys: pytest.CaptureFixture[str],
    pem: pathlib.Path,
    jwks: pathlib.Path,
    *options: str,
) -> str:
    code, out, err = run(
        capsys,
        "token",
        "--key",
        str(pem),
        "--jwks-out",
        str(jwks),
        "--now",
        str(NOW),
        "--sub",
        "alice",
        *options,
    )
    assert (code, err) == (0, "")
    return out.strip()


@pytest.mark.parametrize(
    ("alg", "kind"),
    [("RS256", "rsa"), ("PS384", "rsa"), ("ES256", "p256"), ("EdDSA", "ed25519")],
)
def test_signed_token_round_trips_through_a_jwks_file(
    capsys: pytest.CaptureFixture[str],
    pems: dict[str, pathlib.Path],
    tmp_path: pathlib.Path,
    alg: str,
    kind: str,
) -> None:
    jwks = tmp_path / "jwks.json"
    token = mint(
        capsys,
        pems[kind],
        jwks,
        "--algorithm",
        alg,
        "--kid",
        "k1",
        "--scope",
        "read write",
        "--issuer",
        "https://idp.example",
        "--audience",
        "kafka",
        "--claim",
        "azp=orders",
    )
    document = json.loads(jwks.read_text())
    (jwk,) = document["keys"]
    assert (jwk["kid"], jwk["use"], jwk["alg"]) == ("k1", "sig", alg)
    assert "d" not in jwk  # the public key only
    common = ("--jwks", str(jwks), "--algorithm", alg, "--issuer", "https://idp.example")
    code, out, _ = run(
        capsys, "validate", *common, "--audience", "kafka", "--now", str(NOW + 60), token
    )
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True
    assert (result["principal"], result["scope"]) == ("alice", ["read", "write"])
    assert (result["start_time_ms"], result["lifetime_ms"]) == (NOW * 1000, (NOW + 3600) * 1000)
    assert result["claims"]["azp"] == "orders"
    assert result["token"]["length"] == len(token)
    assert token not in out

    code, out, _ = run(
        capsys, "validate", *common, "--audience", "other", "--now", str(NOW + 60), token
    )
    assert code == 1
    refused = json.loads(out)
    assert (refused["ok"], refused["status"], refused["scope"]) == (False, "invalid_token", None)
    assert "audience" in refused["detail"]

    code, out, _ = run(
        capsys, "validate", *common, "--audience", "kafka", "--now", str(NOW + 3600 + 30), token
    )
    assert code == 1
    refused = json.loads(out)
    assert refused["status"] == "invalid_token"
    assert refused["detail"].startswith("the JWT expired")


def test_signed_token_json_never_shows_the_private_key(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    code, out, err = run(
        capsys,
        "token",
        "--key",
        str(pems["rsa"]),
        "--sub",
        "alice",
        "--audience",
        "a",
        "--audience",
        "b",
        "--lifetime",
        "60",
        "--now",
        f"{NOW}.75",
        "--json",
        "--jwks-out",
        str(tmp_path / "jwks.json"),
    )
    assert code == 0
    result = json.loads(out)
    assert result["header"] == {"alg": "RS256", "typ": "JWT"}
    # NumericDates in whole seconds; one audience is a string, several an array.
    assert result["claims"] == {"sub": "alice", "iat": NOW, "exp": NOW + 60, "aud": ["a", "b"]}
    assert result["token"].count(".") == 2
    body = "".join(pems["rsa"].read_text().splitlines()[1:-1])
    for text in (out, err, (tmp_path / "jwks.json").read_text()):
        assert body[:40] not in text
        assert body[-40:] not in text


def test_validate_jwt_options(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    jwks = tmp_path / "jwks.json"
    token = mint(
        capsys, pems["rsa"], jwks, "--claim", "uid=u1", "--claim", "scp=a b", "--claim", "g=x"
    )
    base = ("validate", "--jwks", str(jwks), "--now", str(NOW))
    code, out, _ = run(capsys, *base, "--sub-claim", "uid", "--scope-claim", "scp", token)
    assert code == 0
    assert (json.loads(out)["principal"], json.loads(out)["scope"]) == ("u1", ["a", "b"])
    code, out, _ = run(capsys, *base, "--groups-claim", "g", token)
    assert code == 1
    assert json.loads(out)["detail"] == "the JWT 'g' claim is not an array of strings"
    code, out, _ = run(capsys, *base, "--algorithm", "ES256", token)
    assert code == 1
    assert "alg" in json.loads(out)["detail"]
    code, out, _ = run(capsys, *base, "--issuer", "https://idp.example", token)
    assert code == 1
    assert json.loads(out)["detail"] == "the JWT has no 'iss' claim; an issuer is configured"
    # Expired 40 s ago: refused with the default skew (30 s), accepted with 60 s.
    late = ("validate", "--jwks", str(jwks), "--now", str(NOW + 3640))
    assert run(capsys, *late, token)[0] == 1
    assert run(capsys, *late, "--clock-skew", "60", token)[0] == 0
    assert run_exit(capsys, *late, "--clock-skew", "-1", token)[0] == 2


def test_validate_no_require_iat(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization

    jwks = tmp_path / "jwks.json"
    mint(capsys, pems["rsa"], jwks)
    key = serialization.load_pem_private_key(pems["rsa"].read_bytes(), password=None)
    token = pyjwt.encode({"sub": "bob", "exp": NOW + 60}, key, algorithm="RS256")  # type: ignore[arg-type]
    base = ("validate", "--jwks", str(jwks), "--now", str(NOW), token)
    code, out, _ = run(capsys, *base)
    assert code == 1
    assert "'iat'" in json.loads(out)["detail"]
    code, out, _ = run(capsys, *base, "--no-require-iat")
    assert code == 0
    assert json.loads(out)["start_time_ms"] is None


def test_validate_cache_size(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    jwks = tmp_path / "jwks.json"
    token = mint(capsys, pems["rsa"], jwks)
    base = ("validate", "--jwks", str(jwks), "--now", str(NOW), token)
    assert run(capsys, *base, "--cache-size", "16")[0] == 0
    assert run_exit(capsys, *base, "--cache-size", "-1")[0] == 2
    code, _, err = run_exit(capsys, "validate", "--unsecured", "--cache-size", "16", token)
    assert code == 2
    assert "--cache-size applies to --jwks only" in err


class _JwksServer:
    """A JWKS endpoint on 127.0.0.1, in a thread, for the duration of a ``with`` block."""

    def __init__(self, document: bytes) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                del format, args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> str:
        self.thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_validate_jwks_over_loopback_http(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    jwks = tmp_path / "jwks.json"
    token = mint(capsys, pems["p256"], jwks, "--algorithm", "ES256", "--kid", "ec-1")
    with _JwksServer(jwks.read_bytes()) as url:
        common = ("validate", "--algorithm", "ES256", "--now", str(NOW), "--insecure-loopback")
        code, out, _ = run(capsys, *common, "--jwks", f"{url}/jwks", token)
        assert code == 0
        assert json.loads(out)["principal"] == "alice"
        # A fetch failure: exit 2, the reason on stderr, the query (maybe a secret) hidden.
        code, out, err = run(capsys, *common, "--jwks", f"{url}/gone?key=s3cret", token)
        assert (code, out) == (2, "")
        assert err == f"oauthbearer validate: JWKS request to {url}/gone?... failed with HTTP 404\n"
        # Plain http needs --insecure-loopback.
        code, _, err = run_exit(capsys, "validate", "--jwks", f"{url}/jwks", token)
        assert code == 2
        assert "--insecure-loopback" in err


def test_validate_jwks_file_failures(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    code, out, err = run(capsys, "validate", "--jwks", str(tmp_path / "none.json"), "a.b.c")
    assert (code, out) == (2, "")
    assert err.startswith("oauthbearer validate: JWKS file ")
    (tmp_path / "bad.json").write_text('{"keys": []}')
    code, _, err = run(capsys, "validate", "--jwks", str(tmp_path / "bad.json"), "a.b.c")
    assert code == 2
    assert "bad.json" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "t"], "one of the arguments --unsecured --jwks --introspect is required"),
        (["validate", "--unsecured", "--jwks", "j.json", "t"], "not allowed with argument"),
        (["validate", "--unsecured", "--audience", "a", "t"], "--audience applies to --jwks"),
        (["validate", "--unsecured", "--no-require-iat", "t"], "--no-require-iat applies"),
        (["validate", "--jwks", "j.json", "-o", "a=b", "t"], "-o/--option applies to --unsecured"),
        (["validate", "--jwks", "j.json", "--insecure-loopback", "t"], "--insecure-loopback"),
        (["validate", "--jwks", "http://idp.example/k", "t"], "must use https"),
        (
            ["validate", "--jwks", "http://idp.example/k", "--insecure-loopback", "t"],
            "loopback",
        ),
        (["validate", "--jwks", "ftp://idp.example/k", "t"], "must use https"),
        (["validate", "--jwks", "j.json", "--algorithm", "HS256", "t"], "invalid choice"),
        (["token", "--librdkafka", "principal=a", "--sub", "a"], "--sub applies to --key only"),
        (["token", "-o", "a=b", "--jwks-out", "j"], "--jwks-out applies to --key only"),
        (["token", "--key", "k.pem", "--librdkafka", "x"], "not allowed with argument"),
        (["token", "--key", "k.pem"], "--sub is required with --key"),
        (["token", "--key", "k.pem", "--sub", "a", "--lifetime", "0"], "--lifetime must be"),
        (["token", "--key", "k.pem", "--sub", "a", "--claim", "exp=1"], "use --lifetime"),
        (["token", "--key", "k.pem", "--sub", "a", "--claim", "x"], "takes KEY=VALUE"),
        (["token", "--key", "/no/such/k.pem", "--sub", "a"], "--key /no/such/k.pem: No such"),
    ],
)
def test_command_line_mistakes_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_exit(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_token_key_must_fit_the_algorithm(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def mistake(*argv: str) -> str:
        code, out, err = run_exit(capsys, "token", "--sub", "a", *argv)
        assert (code, out) == (2, "")
        return err

    assert "needs an RSA key" in mistake("--key", str(pems["p256"]))
    assert "needs an EC key on secp384r1" in mistake(
        "--key", str(pems["p256"]), "--algorithm", "ES384"
    )
    assert "needs an Ed25519 or Ed448 key" in mistake(
        "--key", str(pems["rsa"]), "--algorithm", "EdDSA"
    )
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    small = _write_pem(tmp_path / "small.pem", weak)
    assert "1024 bits" in mistake("--key", str(small))
    p384 = _write_pem(tmp_path / "p384.pem", ec.generate_private_key(ec.SECP384R1()))
    assert "needs an EC key on secp256r1" in mistake("--key", str(p384), "--algorithm", "ES256")
    not_pem = tmp_path / "public.pem"
    not_pem.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert "not an unencrypted PEM private key" in mistake("--key", str(not_pem))


def test_token_refuses_what_validate_would_refuse(
    capsys: pytest.CaptureFixture[str], pems: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    jwks = tmp_path / "jwks.json"
    code, out, err = run(
        capsys, "token", "--key", str(pems["rsa"]), "--sub", " alice", "--jwks-out", str(jwks)
    )
    assert (code, out) == (1, "")
    assert err == (
        "oauthbearer token: the token would be refused: the JWT 'sub' claim (the principal) "
        "is blank, has surrounding whitespace or holds control characters\n"
    )
    assert not jwks.exists()


def test_a_closed_pipe_ends_quietly() -> None:
    # `oauthbearer conformance --json | head -1` (800 KB, more than a pipe holds):
    # the reader leaves after one line.
    process = subprocess.Popen(
        [sys.executable, "-m", "oauthbearer", "conformance", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert b"Traceback" not in errors
