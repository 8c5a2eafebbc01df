"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_schedd_support import job_shared_dir


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that appears if anything imports or calls the importable `f311_marker_mod`:
    hostile pickles name it to show that nothing in them is executed."""
    path = tmp_path / "executed"
    (tmp_path / "f311_marker_mod.py").write_text(
        f"open({str(path)!r}, 'w').close()\ndef run(*a):\n    open({str(path)!r}, 'w').close()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory that the test and its jobs (the unprivileged job user) can both write."""
    with job_shared_dir() as path:
        yield path
