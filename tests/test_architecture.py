"""Module boundaries: the protocol core is pure, and the package's layers import
in one direction only.

The pure modules take time, randomness and bytes as parameters; only the
shells (sockets, threads, event loops, HTTP, files, the clock) may import the
modules that do I/O. This test reads the source (every ``import``, including
the lazy ones inside functions), so a new import anywhere in a pure module is
caught, whether or not a test happens to run it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "oauthbearer"

#: The protocol core and the pure parts of every layer (DESIGN.md: no I/O, no
#: clock, no randomness).
PURE = (
    "_json",
    "_net",
    "_slots",
    "_text",
    "config/names",
    "config/jaas",
    "config/_values",
    "errors",
    "gs2",
    "machine",
    "session",
    "token",
    "unsecured",
    "validation/jwt",
    "validation/jwks",
    "validation/verified_cache",
    "kafka_claims",
    "validation/introspection",
    "validation/issuers",
    "validation/claim_check",
    "validation/authorizer",
    "http/urls",
    "http/retry",
    "login/refresh",
    "login/grants",
    "login/client_token",
    "kafka/_wire",
    "kafka/protocol",
    "kafka/framing",
    "kafka/records",
    "kafka/server",
    "kafka/client",
    "integrations/mail",
    "integrations/postgresql",
    "testing/reports",
)

#: What a pure module never imports: I/O, concurrency, the clock, randomness.
FORBIDDEN = frozenset(
    {
        "asyncio",
        "http",
        "os",
        "random",
        "secrets",
        "selectors",
        "socket",
        "socketserver",
        "ssl",
        "subprocess",
        "threading",
        "time",
        "urllib.request",
    }
)

#: Modules of the package that do I/O: a pure module must not import them either.
SHELLS = frozenset(
    {
        "oauthbearer._files",
        "oauthbearer.cli.commands",
        "oauthbearer.cli.check",
        "oauthbearer.cli.demo",
        "oauthbearer.validation.jwks_fetch",
        "oauthbearer.validation.introspection_http",
        "oauthbearer.http.transport",
        "oauthbearer.login.http",
        "oauthbearer.login.provider",
        "oauthbearer.login.sources",
        "oauthbearer.config.start",
        "oauthbearer.http.options",
        "oauthbearer.kafka.aio",
        "oauthbearer.kafka.broker",
        "oauthbearer.testing.probe",
        "oauthbearer.testing.idp",
        "oauthbearer.testing.conformance",
    }
)


class _Imports(ast.NodeVisitor):
    """Collects imported module names, except under ``if TYPE_CHECKING:`` (types
    only: a pure module may name ``random.Random`` in an annotation)."""

    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.found.add(node.module)
            self.found.update(f"{node.module}.{alias.name}" for alias in node.names)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports at run time, anywhere in the file (the lazy
    imports inside functions included), as dotted names."""
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    return visitor.found


def _forbidden(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:n]) in FORBIDDEN for n in range(1, len(parts) + 1))


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io(module: str) -> None:
    found = imports(PACKAGE / f"{module}.py")
    assert sorted(name for name in found if _forbidden(name)) == []
    assert sorted(found & SHELLS) == []


def test_every_pure_module_says_so() -> None:
    # The list above and the modules' own documentation agree.
    silent = []
    for module in PURE:
        text = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
        if "pure" not in (ast.get_docstring(ast.parse(text)) or "").lower():
            silent.append(module)
    assert silent == []


def test_the_listed_modules_exist() -> None:
    for name in SHELLS:
        assert (PACKAGE.parent / (name.replace(".", "/") + ".py")).is_file(), name


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\nif TYPE_CHECKING:\n    import random\n"
        "def f():\n    import socket\n    from time import monotonic\n"
        "    from oauthbearer.kafka import broker\n",
        encoding="utf-8",
    )
    found = imports(sample)
    assert {"socket", "time", "time.monotonic", "oauthbearer.kafka.broker"} <= found
    assert "random" not in found
    assert _forbidden("urllib.request.urlopen")
    assert not _forbidden("urllib.parse")


# --- no private name crosses a module boundary (STYLE.md 11; issue 13 item 2) --------------

#: Cross-module private imports that other work still has to remove, each as
#: (importing module, imported module, name). The list may only shrink: a new
#: entry fails the test below, and so does an entry that is gone.
KNOWN_PRIVATE_IMPORTS: frozenset[tuple[str, str, str]] = frozenset()


def private_imports(path: Path, *, root: Path = PACKAGE.parent) -> set[tuple[str, str]]:
    """``(module, name)`` for every ``from module import _name`` in ``path``
    (dunder names and private *modules* such as ``_files`` aside), relative
    imports resolved against ``path``'s package under ``root``."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = list(package[: len(package) - node.level + 1]) if node.level else []
        parts = [*base, *(node.module.split(".") if node.module else [])]
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or name.startswith("__"):
                continue
            target = root.joinpath(*parts, name)
            if target.with_suffix(".py").is_file() or target.is_dir():
                continue  # a private module of the package: its name is its API
            found.add((".".join(parts), name))
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    found = {
        (path.relative_to(PACKAGE).with_suffix("").as_posix(), module, name)
        for path in PACKAGE.rglob("*.py")
        for module, name in private_imports(path)
    }
    assert sorted(found - KNOWN_PRIVATE_IMPORTS) == [], "import a public name instead"
    assert sorted(KNOWN_PRIVATE_IMPORTS - found) == [], "fixed: remove it from the list"


def test_the_private_import_checker_sees_them(tmp_path: Path) -> None:
    folder = tmp_path / "oauthbearer" / "login"
    folder.mkdir(parents=True)
    (tmp_path / "oauthbearer" / "_files.py").write_text("", encoding="utf-8")
    path = folder / "x.py"
    path.write_text(
        "from __future__ import annotations\n"
        "from oauthbearer.gs2 import _is_b64token, is_ok\n"
        "from .requests import _json_object\n"
        "from .. import _files, _private\n"
        "def f():\n    from oauthbearer.unsecured import _read_part\n",
        encoding="utf-8",
    )
    assert private_imports(path, root=tmp_path) == {
        ("oauthbearer.gs2", "_is_b64token"),
        ("oauthbearer.login.requests", "_json_object"),
        ("oauthbearer", "_private"),
        ("oauthbearer.unsecured", "_read_part"),
    }


# --- the layers import in one direction (issue 13 item 5) ----------------------------------

#: The package's layers, bottom up, and the layers each may import at run time
#: (imports for annotations only, under ``if TYPE_CHECKING:``, are free). The
#: core is the codec, the state machines, the token and the errors.
CORE = frozenset(
    {
        "errors",
        "gs2",
        "machine",
        "session",
        "token",
        "kafka_claims",
        "unsecured",
        "_json",
        "_net",
        "_slots",
        "_text",
        "_files",
        "observe",
    }
)
LAYERS: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "http": frozenset({"core"}),
    "login": frozenset({"core", "http"}),
    "validation": frozenset({"core", "http", "login"}),
    # config.start turns a client's properties into a client adapter's settings,
    # so config sits above the integrations (which never read Kafka properties).
    "config": frozenset({"core", "http", "login", "validation", "integrations"}),
    "kafka": frozenset({"core", "package"}),
    "integrations": frozenset({"core", "http", "login", "validation", "kafka"}),
    "testing": frozenset({"core", "http", "login", "validation", "kafka"}),
    "cli": frozenset(
        {
            "core",
            "http",
            "login",
            "validation",
            "config",
            "kafka",
            "integrations",
            "testing",
            "package",
        }
    ),
    "package": frozenset({"core", "http", "validation"}),
}


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"__init__", "__main__"}:
        return "package" if parts[-1] != "__main__" else "cli"
    return "core" if parts[1] in CORE else parts[1]


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("oauthbearer", *path.relative_to(PACKAGE).with_suffix("").parts))
        assert layer(module) in LAYERS, module


def test_the_layers_import_downwards() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("oauthbearer", *path.relative_to(PACKAGE).with_suffix("").parts))
        own = layer(module)
        for name in imports(path):
            if name.split(".")[0] != "oauthbearer" or name == "oauthbearer.__version__":
                continue
            # ``from oauthbearer.x import y`` also records ``oauthbearer.x.y``: judge the module.
            target = layer(name)
            if target not in LAYERS:
                continue
            if target != own and target not in LAYERS[own]:
                upward.append((module, name))
    assert upward == []


def test_the_layer_checker_sees_an_upward_import() -> None:
    assert layer("oauthbearer.kafka.server") == "kafka"
    assert layer("oauthbearer.gs2") == "core"
    assert layer("oauthbearer") == "package"
    assert "testing" not in LAYERS["kafka"]
    assert "cli" not in LAYERS["testing"]


# --- the public surface (issue 13 item 5) --------------------------------------------------

#: How many distinct public names the package has: the union of the ``__all__``
#: of every module without a private part (docs/api.md). Plumbing that one
#: module needs from another is not API: it stays out of ``__all__``, or lives
#: in a private module (``oauthbearer.kafka._wire``). A new public name must be
#: added to the ceiling deliberately; when names go, lower it.
PUBLIC_NAME_CEILING = 443


def public_names(root: Path = PACKAGE) -> dict[str, set[str]]:
    """The ``__all__`` of each public module under ``root`` (read from the source:
    every ``__all__`` is a literal list), keyed by its path relative to ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(part.startswith("_") and part != "__init__.py" for part in parts):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id == "__all__":
                found[path.relative_to(root).as_posix()] = set(ast.literal_eval(value))
    return found


def test_every_package_has_an_explicit_all() -> None:
    # docs/api.md says, per package, whether it re-exports its modules' names.
    declared = public_names()
    packages = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py")]
    assert sorted(p for p in packages if p not in declared) == []


def test_the_public_surface_does_not_grow_silently() -> None:
    count = len(set().union(*public_names().values()))
    assert count <= PUBLIC_NAME_CEILING, (
        f"{count} public names, over the ceiling of {PUBLIC_NAME_CEILING}: "
        "a new public name must be added to the ceiling deliberately"
    )
    assert count == PUBLIC_NAME_CEILING, (
        f"{count} public names: lower PUBLIC_NAME_CEILING to {count}, so that it stays tight"
    )


def test_the_surface_counter_sees_every_module(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "__init__.py").write_text('__all__ = ["A", "B"]\n', encoding="utf-8")
    (tmp_path / "sub" / "__init__.py").write_text("__all__: list[str] = []\n", encoding="utf-8")
    (tmp_path / "sub" / "mod.py").write_text('__all__ = ["B", "c"]\n', encoding="utf-8")
    (tmp_path / "_private.py").write_text('__all__ = ["hidden"]\n', encoding="utf-8")
    assert public_names(tmp_path) == {
        "__init__.py": {"A", "B"},
        "sub/__init__.py": set(),
        "sub/mod.py": {"B", "c"},
    }
