"""reconfig_glidein: all-or-nothing updates, kept state, hand-edit detection, live readers."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_create_support import copy_example, hash_tree, make_web_base, stage_dir, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.reconfig import main as reconfig_main
from glideinwms_factory.creation.reconfig import reconfig_tree
from glideinwms_factory.lib.descript import read_descript

NEW_ENTRY = """<glidein><entries>
  <entry name="local_site_d" gatekeeper="ce.site-d.example.org ce.site-d.example.org:9619">
    <config><max_jobs><per_entry glideins="{glideins}" idle="2" held="1"/></max_jobs></config>
  </entry>
</entries></glidein>
"""


@pytest.fixture
def factory(tmp_path):
    """A created example tree with state a running factory would have made."""
    master = copy_example(tmp_path / "cfg")
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False, web_base=web)
    work = work_dir(root)
    (work / "rsa.key").write_text("KEY")
    (work / "rsa.key").chmod(0o600)
    with (work / "glideinWMS.downtimes").open("a") as handle:
        handle.write("2026-01-01T00:00:00+00:00 None local_site_b All All # maintenance\n")
    (work / "lock" / "glideinWMS.lock").write_text("PID: 1\n")
    (work / "pool").mkdir()
    (work / "pool" / "jobs.db").write_text("queue")
    (work / "log" / "factory.all.log").write_text("log line\n")
    (work / "entry_local_site_c" / "log" / "local_site_c.all.log").write_text("c log\n")
    (work / "monitor" / "schedd_status.xml").write_text("<xml/>")
    (work / "client_proxies" / "user_vofe_prod" / "glidein_demo" / "cred").write_text("secret")
    (stage_dir(root) / "entry_local_site_a" / "nodes.blacklist").write_text("'wn1.example.org'\n")
    return master, web, root


def _run(master: Path, root: Path, web: Path, *extra: str) -> int:
    return reconfig_main([str(master), "--root", str(root), "--web-base", str(web), *extra])


def test_failed_reconfig_leaves_every_byte_unchanged(factory, capsys):
    master, web, root = factory
    before = hash_tree(root)
    text = master.read_text()
    master.write_text(text.replace('loop_delay="10"', 'loop_delay="ten"'))  # bad config
    assert _run(master, root, web) == 6
    assert (
        "glideinWMS.xml:4: <glidein loop_delay='ten'>: expected an integer"
        in capsys.readouterr().err
    )
    assert hash_tree(root) == before
    master.write_text(text.replace("local_site_a", "local_site_z"))  # good config ...
    (web / "cat_consts.sh").unlink()  # ... but a script to stage is missing
    assert _run(master, root, web) == 1
    assert "cat_consts.sh is listed but missing" in capsys.readouterr().err
    assert hash_tree(root) == before


@pytest.mark.parametrize(
    "step", ["_make_dirs", "_write_stage", "_write_new_work", "_carry_over", "swap_in"]
)
def test_a_reconfig_failing_at_any_step_leaves_every_byte_unchanged(
    factory, monkeypatch, capsys, step
):
    """A new entry (new dirs and staged files) and a new glidein_startup.sh (a staged file
    replaced in place), then a failure in the middle: the tree is as it was, byte for byte."""
    from glideinwms_factory.creation import install

    master, web, root = factory
    (master.parent / "config.d" / "20-d.xml").write_text(NEW_ENTRY.format(glideins=3))
    (web / "glidein_startup.sh").write_text("#!/bin/bash\necho new glidein\nexit 0\n")
    before = hash_tree(root)
    original = getattr(install, step)

    def fail(*args, **kwargs):
        if step != "swap_in":  # a failed swap_in undoes its own part (its moves)
            original(*args, **kwargs)
        raise OSError(errno.EIO, "Input/output error (injected)")

    monkeypatch.setattr(install, step, fail)
    assert _run(master, root, web) == 1
    assert capsys.readouterr().err.splitlines() == [
        "reconfig_glidein: [Errno 5] Input/output error (injected); nothing was changed"
    ]
    assert hash_tree(root) == before


def test_good_reconfig_adds_retires_changes_and_keeps_state(factory, capsys):
    master, web, root = factory
    work = work_dir(root)
    (master.parent / "config.d" / "10-sites.xml").write_text(
        (master.parent / "config.d" / "10-sites.xml")
        .read_text()
        .replace("local_site_c", "local_site_d")
    )
    master.write_text(
        master.read_text().replace('<per_entry glideins="8"', '<per_entry glideins="9"')
    )
    before = hash_tree(root)
    assert _run(master, root, web) == 1  # removing local_site_c needs --force-delete
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "reconfig_glidein: the config removes entries of the running tree: local_site_c"
        ' (keep them, set enabled="False", or reconfig with -force_delete); nothing was changed'
    ]
    assert hash_tree(root) == before
    assert _run(master, root, web, "--force-delete") == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(work)
    assert "entries added: local_site_d" in err
    assert "entries retired: local_site_c" in err
    assert "entries changed: local_site_a" in err
    assert (
        read_descript(work / "glidein.descript")["Entries"]
        == "local_site_a,local_site_b,local_site_d"
    )
    assert read_descript(work / "entry_local_site_a/job.descript")["PerEntryMaxGlideins"] == "9"
    assert (work / "entry_local_site_d" / "job.condor").is_file()
    assert not (work / "entry_local_site_c").exists()
    assert (work / "retired" / "entry_local_site_c" / "job.descript").is_file()
    assert (stage_dir(root) / "entry_local_site_d").is_dir()
    # state kept
    assert (work / "rsa.key").read_text() == "KEY" and (
        work / "rsa.key"
    ).stat().st_mode & 0o777 == 0o600
    assert "maintenance" in (work / "glideinWMS.downtimes").read_text()
    assert (work / "lock" / "glideinWMS.lock").read_text() == "PID: 1\n"
    assert (work / "pool" / "jobs.db").read_text() == "queue"
    assert (work / "log" / "factory.all.log").read_text() == "log line\n"
    assert (
        work / "retired" / "entry_local_site_c" / "log" / "local_site_c.all.log"
    ).read_text() == "c log\n"
    assert (work / "monitor" / "schedd_status.xml").read_text() == "<xml/>"
    assert (
        work / "client_proxies" / "user_vofe_prod" / "glidein_demo" / "cred"
    ).read_text() == "secret"
    assert (
        stage_dir(root) / "entry_local_site_a" / "nodes.blacklist"
    ).read_text() == "'wn1.example.org'\n"


def test_hand_edits_are_refused_unless_forced(factory, capsys):
    master, web, root = factory
    condor = work_dir(root) / "entry_local_site_a" / "job.condor"
    condor.write_text(condor.read_text() + "+Hacked = True\n")
    before = hash_tree(root)
    assert _run(master, root, web) == 1
    err = capsys.readouterr().err
    assert "edited by hand" in err and str(condor) in err
    assert hash_tree(root) == before
    assert _run(master, root, web, "--force") == 0
    assert "+Hacked" not in condor.read_text()
    assert _run(master, root, web) == 0  # the regenerated file is clean again


def test_a_damaged_manifest_is_a_one_line_error(factory, capsys):
    """A manifest key outside work/ and stage/ was a KeyError traceback in hand_edits."""
    master, web, root = factory
    (work_dir(root) / ".generated_files.json").write_text('{"elsewhere/x": "0"}')
    before = hash_tree(root)
    assert _run(master, root, web) == 1
    assert "unreadable manifest" in capsys.readouterr().err
    assert hash_tree(root) == before


def test_schedd_assignment_is_sticky(tmp_path):
    master = copy_example(tmp_path / "cfg")
    web = make_web_base(tmp_path / "web")
    master.write_text(
        master.read_text().replace(
            'schedd_name="schedd_glideins1@localhost"', 'schedd_name="s1@h,s2@h"'
        )
    )
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False, web_base=web)
    work = work_dir(root)

    def assignment() -> dict[str, str]:
        return {
            p.parent.name: read_descript(p)["Schedd"]
            for p in sorted(work.glob("entry_*/job.descript"))
        }

    first = assignment()
    assert sorted(first.values()) == ["s1@h", "s1@h", "s2@h"]
    master.write_text(master.read_text().replace('"s1@h,s2@h"', '"s2@h,s1@h"'))
    (master.parent / "config.d" / "20-d.xml").write_text(NEW_ENTRY.format(glideins=3))
    reconfig_tree(master, root, web_base=web)
    second = assignment()
    assert {k: second[k] for k in first} == first
    assert second["entry_local_site_d"] == "s2@h"  # the less loaded one


READER = textwrap.dedent(
    """
    import os, sys, time
    work, stop = sys.argv[1], sys.argv[2]
    reads = bad = 0
    versions = set()

    def text(dir_fd, rel):
        fd = os.open(rel, os.O_RDONLY, dir_fd=dir_fd)
        with os.fdopen(fd) as handle:
            return handle.read()

    def complete(body, last_key):
        lines = body.splitlines()
        return body.endswith("\\n") and bool(lines) and lines[-1].startswith(last_key + " ")

    while not os.path.exists(stop):
        dir_fd = -1
        try:
            dir_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
            glidein = text(dir_fd, "glidein.descript")
            problems = []
            if not complete(glidein, "SupportedSignTypes"):
                problems.append("partial glidein.descript")
            entries = dict(line.split(" \\t", 1) for line in glidein.splitlines())["Entries"].split(",")
            signed = {line.split()[2] for line in text(dir_fd, "signatures.sha1").splitlines()}
            if signed != {"main"} | {"entry_" + e for e in entries}:
                problems.append("signatures.sha1 does not match Entries")
            limits = []
            for entry in entries:
                job = text(dir_fd, f"entry_{entry}/job.descript")
                if not complete(job, "AllowedVOs"):
                    problems.append(f"partial {entry}/job.descript")
                if not text(dir_fd, f"entry_{entry}/job.condor").endswith("Queue $ENV(GLIDEIN_COUNT)\\n"):
                    problems.append(f"partial {entry}/job.condor")
                limits.append(dict(l.split(" \\t", 1) for l in job.splitlines())["PerEntryMaxGlideins"])
            versions.add((tuple(entries), tuple(limits)))
        except (OSError, KeyError, ValueError) as exc:
            problems = [repr(exc)]
        finally:
            if dir_fd >= 0:
                os.close(dir_fd)
        reads += 1
        if problems:
            bad += 1
            print("BAD", problems, file=sys.stderr)
    print(reads, bad, len(versions))
    """
)


def test_reader_never_sees_a_partial_or_mixed_tree(factory, tmp_path):
    master, web, root = factory
    work = work_dir(root)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(work), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        fragment = master.parent / "config.d" / "20-d.xml"
        for round_ in range(12):
            if round_ % 2:
                fragment.unlink()
            else:
                fragment.write_text(NEW_ENTRY.format(glideins=round_ + 1))
            reconfig_tree(master, root, web_base=web, force_delete=True)
            assert time.monotonic() < deadline
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=30)
    reads, bad, versions = (int(x) for x in out.split())
    assert bad == 0, err[:2000]
    assert reads > 12 and versions >= 3  # it really read while the tree changed


def test_concurrent_reconfig_is_refused(factory, capsys):
    import fcntl

    master, web, root = factory
    work = work_dir(root)
    before = hash_tree(work)
    with (work.parent / ".work-dir.reconfig.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert _run(master, root, web) == 1
    assert "another create/reconfig" in capsys.readouterr().err
    assert hash_tree(work) == before


def test_each_entry_blacklist_is_its_own_file(factory):
    _, _, root = factory
    a = stage_dir(root) / "entry_local_site_a" / "nodes.blacklist"
    b = stage_dir(root) / "entry_local_site_b" / "nodes.blacklist"
    assert a.stat().st_ino != b.stat().st_ino
    with a.open("a") as handle:  # edited in place, as an editor may do
        handle.write("'wn2.example.org'\n")
    assert "wn2" not in b.read_text()


def test_work_dir_behind_a_symlink(tmp_path):
    master = copy_example(tmp_path / "cfg")
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False, web_base=web)
    work = work_dir(root)
    real = tmp_path / "elsewhere" / "work-dir"
    real.parent.mkdir()
    work.rename(real)
    work.symlink_to(real)
    (work / "rsa.key").write_text("KEY")
    reconfig_tree(master, root, web_base=web)
    assert work.is_symlink() and work.resolve() == real
    assert (real / "rsa.key").read_text() == "KEY" and (real / "glidein.descript").is_file()
