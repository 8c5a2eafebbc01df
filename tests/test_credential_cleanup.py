"""Old credentials are deleted unless a queued glidein still uses them (security.md §6)."""

import os
from pathlib import Path

from glideinwms_factory.credential_cleanup import (
    credential_files,
    referenced_paths,
    remove_stale,
    stale,
)

DAY = 86400
NOW = 1_800_000_000.0


def make(base: Path, name: str, age_days: float) -> Path:
    path = base / "user_vofe" / "glidein_g" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_pure_decision():
    a, b, c = Path("/c/credential_fe_A"), Path("/c/credential_fe_B"), Path("/c/credential_fe_C")
    files = {
        a: NOW - 40 * DAY,
        b: NOW - 40 * DAY,
        c: NOW - 1 * DAY,
        a.with_name(a.name + ".old"): NOW - 50 * DAY,
    }
    # b is old and unused; a is old but used (and so is its .old copy); c is young.
    assert stale(files, {a}, NOW, 30) == [b]
    assert stale(files, set(), NOW, 30) == sorted([a, b, a.with_name(a.name + ".old")])


def test_remove_stale_on_disk(tmp_path):
    used = make(tmp_path, "credential_fe.main_AAAAAAAA", 40)
    unused = make(tmp_path, "credential_fe.main_BBBBBBBB", 40)
    young = make(tmp_path, "credential_fe.main_CCCCCCCC", 2)
    other = make(tmp_path, "notes.txt", 400)
    assert set(credential_files(tmp_path)) == {used, unused, young}
    jobs = [{"x509userproxy": str(used)}, {"x509userproxy": None}, {}]
    assert referenced_paths(jobs) == {used}
    assert remove_stale(tmp_path, jobs, NOW, 30) == [unused]
    assert used.exists() and young.exists() and other.exists() and not unused.exists()
