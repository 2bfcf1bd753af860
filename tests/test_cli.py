"""The ``oauthbearer`` command and the README's example."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from oauthbearer import ClientInitialResponse
from oauthbearer.cli import escape, main, parse_bytes

MESSAGE = b"n,a=al=2Cice,\x01auth=Bearer abc.def\x01traceId=x\x01\x01"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["escaped", "hex", "base64"])
def test_formats_round_trip(fmt: str) -> None:
    from oauthbearer.cli import format_bytes

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


def test_demo_runs_both_exchanges(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
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


def _cli_doc_examples() -> list[tuple[list[str], str]]:
    """Each ``$ oauthbearer ...`` line of docs/cli.md with the output shown under it."""
    page = (pathlib.Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    examples: list[tuple[list[str], str]] = []
    for block in re.findall(r"```sh\n(.*?)```", page, flags=re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((shlex.split(command), output))
    return examples


@pytest.mark.parametrize(("argv", "expected"), _cli_doc_examples(), ids=lambda v: str(v)[:40])
def test_cli_doc_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert argv[0] == "oauthbearer"
    code = main(argv[1:])
    out = capsys.readouterr().out
    assert code == (1 if '"ok": false' in expected else 0)
    if "..." not in expected:
        assert out == expected


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
