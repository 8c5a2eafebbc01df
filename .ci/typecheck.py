"""Run mypy over the package as Python imports it; arguments go to mypy.

The top-level folders are parts of one package (pyproject `package-dir`), a layout mypy
cannot map by itself, so it reads them through a temporary tree of links named like the
imports; the paths in its messages are mapped back to the repository's files.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def link_tree(tree: Path) -> dict[str, str]:
    """Link every module into `tree` at its import path; returns link -> repository path."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    links: dict[str, str] = {}
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        target = tree.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((ROOT / folder).glob("*.py")):
            (target / source.name).symlink_to(source)
            links[str(target / source.name)] = str(source.relative_to(ROOT))
    return links


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="typecheck-") as tmp:
        links = link_tree(Path(tmp))
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        command += ["--no-incremental", "--cache-dir", "/dev/null"]  # the links are new each run
        package = str(Path(tmp, "glideinwms_factory"))
        result = subprocess.run(
            [*command, *sys.argv[1:], package], cwd=ROOT, capture_output=True, text=True
        )
    for line in (result.stdout + result.stderr).splitlines():
        path, colon, rest = line.partition(":")
        print(links.get(path, path) + colon + rest)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
