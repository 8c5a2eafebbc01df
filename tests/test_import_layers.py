"""Imports only go down the layers (ARCHITECTURE.md "Package layout", issue #10).

`lib/` is shared by every daemon and tool, so it imports none of them: not `entry/`,
`creation/`, `tools/` nor the top-level modules of `glideinwms_factory/`; a daemon
(`entry/`, the top-level modules) does not import a command-line tool of `tools/`. The pool
backends stand side by side: the embedded pool and the htcondor bindings backend never
import each other (only `lib/pool/connect` chooses between them). Every module's imports
are read with `ast`, including those inside functions, so a lazy import counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "glideinwms_factory"
# Source folder -> package it installs as (pyproject.toml `package-dir`).
FOLDERS = {
    "glideinwms_factory": PACKAGE,
    "entry": f"{PACKAGE}.entry",
    "lib": f"{PACKAGE}.lib",
    "creation": f"{PACKAGE}.creation",
    "tools": f"{PACKAGE}.tools",
}
TOP_LEVEL = {
    f"{PACKAGE}.{path.stem}"
    for path in (ROOT / "glideinwms_factory").glob("*.py")
    if path.stem != "__init__"
}
EMBEDDED = f"{PACKAGE}.lib.pool.embedded"
HTCONDOR = f"{PACKAGE}.lib.pool.htcondor"

# Known upward imports still to be moved (none left); an entry here must name its issue.
ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path, folder: str) -> str:
    parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[folder], *parts])


def _modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[_module_name(path, folder)] = path
    return found


def imported(source: str) -> set[str]:
    """Every absolute module an `import`/`from ... import` names; `from pkg import name`
    counts as `pkg.name` as well, since `name` may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def upward(module: str, target: str) -> str | None:
    """Why `module` may not import `target`, or None when the import goes down."""
    if _within(module, f"{PACKAGE}.lib"):
        for layer in ("entry", "creation", "tools"):
            if _within(target, f"{PACKAGE}.{layer}"):
                return f"lib imports {layer}/"
        if any(_within(target, top) for top in TOP_LEVEL):
            return "lib imports a top-level daemon module"
    daemon = _within(module, f"{PACKAGE}.entry") or module in TOP_LEVEL
    if daemon and _within(target, f"{PACKAGE}.tools"):
        return "a daemon imports a command-line tool"
    if _within(module, EMBEDDED) and _within(target, HTCONDOR):
        return "the embedded backend imports the htcondor backend"
    if _within(module, HTCONDOR) and _within(target, EMBEDDED):
        return "the htcondor backend imports the embedded backend"
    return None


def test_no_module_imports_up_the_layers() -> None:
    modules = _modules()
    assert f"{PACKAGE}.lib.pool.htcondor" in modules  # the walk sees the tree
    found = []
    for module, path in modules.items():
        flagged: list[str] = []
        for target in sorted(imported(path.read_text())):  # a package sorts before its names
            why = upward(module, target)
            allowed = any(module == m and _within(target, t) for m, t in ALLOWED)
            if why and not allowed and not any(_within(target, f) for f in flagged):
                flagged.append(target)
                found.append(f"{path.relative_to(ROOT)}: {target}: {why}")
    assert not found, "\n".join(found)


def test_the_allowed_exceptions_still_exist() -> None:
    """An exception that is gone is removed from ALLOWED, so it cannot come back."""
    modules = _modules()
    for module, target in ALLOWED:
        assert target in imported(modules[module].read_text()), (module, target)


@pytest.mark.parametrize(
    ("module", "source", "reason"),
    [
        ("lib.x", "from glideinwms_factory.entry.config import EntryConfig", "entry/"),
        ("lib.x", "import glideinwms_factory.tools.cat_logs", "tools/"),
        ("lib.x", "from glideinwms_factory.creation import schema", "creation/"),
        ("lib.x", "from glideinwms_factory import factory", "top-level"),
        ("lib.x", "def f():\n    from glideinwms_factory.startup import main", "top-level"),
        ("lib.pool.embedded.x", "from glideinwms_factory.lib.pool import htcondor", "htcondor"),
        ("lib.pool.htcondor", "from glideinwms_factory.lib.pool.embedded.wire import a", "embed"),
        ("entry.completed", "from glideinwms_factory.tools.cat_logs import summarize_out", "tool"),
        ("factory", "from glideinwms_factory.tools import views", "tool"),
    ],
)
def test_an_upward_import_is_found(module: str, source: str, reason: str) -> None:
    whys = [upward(f"{PACKAGE}.{module}", target) for target in imported(source)]
    assert any(why and reason in why for why in whys), whys


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("lib.x", "from glideinwms_factory import __version__"),
        ("lib.x", "from glideinwms_factory.lib.pool import PoolError"),
        ("lib.pool.connect", "from glideinwms_factory.lib.pool.htcondor import HTCondorSchedd"),
        ("factory", "from glideinwms_factory.entry import credentials"),
        ("tools.views", "from glideinwms_factory.lib.pool.connect import open_pool"),
        ("creation.schema", "from glideinwms_factory.lib.descript_records import JOB_DEFAULTS"),
    ],
)
def test_a_downward_import_passes(module: str, source: str) -> None:
    assert not [t for t in imported(source) if upward(f"{PACKAGE}.{module}", t)]
