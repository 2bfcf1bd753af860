"""What a user downloads: the sdist and the wheel, their metadata, the LICENSE,
and the import errors that name the extra to install.

The sdist leaves the test suite out (MANIFEST.in says why): these tests build
it with ``python -m build --no-isolation`` (no network), unpack it, check what
it holds, and build the wheel from the unpacked sdist, as pip does.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from email.message import Message

ROOT = Path(__file__).resolve().parent.parent

#: The SHA-256 of the Apache License 2.0 as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def _build(kind: str, source: Path, out: Path) -> Path:
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("*.tar.gz" if kind == "sdist" else "*.whl")
    return built


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, built from this tree and unpacked: its top directory."""
    out = tmp_path_factory.mktemp("dist")
    archive = _build("sdist", ROOT, out)
    with tarfile.open(archive) as tar:
        tar.extractall(out / "unpacked", filter="data")
    (top,) = (out / "unpacked").iterdir()
    return top


def _metadata(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


def _classifier_versions(classifiers: list[str]) -> list[str]:
    prefix = "Programming Language :: Python :: "
    return [c.removeprefix(prefix) for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)]


def test_license_is_the_apache_2_text() -> None:
    data = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(data).hexdigest() == APACHE_2_SHA256


def test_project_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert {"Source", "Issues", "Changelog", "Documentation"} <= set(project["urls"])
    versions = _classifier_versions(project["classifiers"])
    minimum = project["requires-python"].removeprefix(">=")
    assert versions[0] == minimum


def test_ci_runs_every_claimed_python_version() -> None:
    """.ci/run reads the versions from the classifiers: none is claimed untested."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "Programming Language :: Python :: 3\\.[0-9]+" in script
    assert "pytest" in script[script.index("== Python") :]


def test_sdist_holds_the_library_and_no_tests(sdist: Path) -> None:
    names = {p.relative_to(sdist).as_posix() for p in sdist.rglob("*") if p.is_file()}
    assert not [n for n in names if n.startswith("tests/")]
    for required in ("LICENSE", "SECURITY.md", "CHANGELOG.md", "README.md", "pyproject.toml"):
        assert required in names
    assert "oauthbearer/py.typed" in names
    assert "oauthbearer/testing/conformance.json" in names
    assert (sdist / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_sdist_metadata(sdist: Path) -> None:
    meta = _metadata((sdist / "PKG-INFO").read_text())
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert {"Source", "Issues", "Changelog"} <= set(urls)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _classifier_versions(meta.get_all("Classifier") or []) == _classifier_versions(
        project["classifiers"]
    )


def test_wheel_from_the_sdist(sdist: Path, tmp_path: Path) -> None:
    """pip builds the wheel from the sdist: it works, and carries the license."""
    wheel = _build("wheel", sdist, tmp_path)
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = _metadata(zipped.read(metadata).decode())
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert zipped.read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert meta.get_all("License-File") == ["LICENSE"]
    assert not [n for n in names if n.startswith("tests/")]


def test_security_policy_links_the_docs() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    assert "Reporting a vulnerability" in text
    assert "docs/security.md" in text
    assert "SECURITY.md" in (ROOT / "docs" / "security.md").read_text()


def test_strategies_without_hypothesis_name_the_extra() -> None:
    """Without hypothesis, the import fails with the extra to install."""
    program = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # what an environment without it does\n"
        "try:\n"
        "    import oauthbearer.testing.strategies\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own program
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.startswith("ImportError ")
    assert "oauthbearer[test]" in done.stdout
    # The rest of the package does not need it.
    program = "import sys\nsys.modules['hypothesis'] = None\nimport oauthbearer.testing\n"
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)  # noqa: S603


def test_the_api_reference_says_where_names_are_imported_from() -> None:
    """api.md names the root and the subpackages as the places to import from;
    each name of their ``__all__`` is there, and the root claims no more."""
    import importlib

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert "Every public name is importable from the package" not in text
    assert "The package root does not re-export everything" in text
    subpackages = ("oauthbearer.kafka", "oauthbearer.login", "oauthbearer.config")
    for package in ("oauthbearer", *subpackages, "oauthbearer.testing"):
        assert f"`{package}" in text, package
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name, None) is not None, f"{package}.{name}"
    import oauthbearer

    assert "BrokerEmulator" not in oauthbearer.__all__  # its module only, as api.md says
