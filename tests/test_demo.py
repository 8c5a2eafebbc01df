"""gwms-demo never deletes a directory it did not make."""

from __future__ import annotations

import subprocess

from factory_testlib import BIN


def test_demo_refuses_a_directory_it_did_not_make(tmp_path):
    mine = tmp_path / "important"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    done = subprocess.run(
        [str(BIN / "gwms-demo"), "--dir", str(mine), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and done.stderr.count("\n") == 1
    assert "was not made by gwms-demo" in done.stderr and "--force" in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
