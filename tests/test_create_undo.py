"""A create_glidein or reconfig that fails part-way takes back what it wrote, and only that
(issue #17): a failed create leaves nothing under --root, and never touches what was there;
a failed reconfig leaves the running tree and the running factory as they were."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
from factory_testlib import (
    BIN,
    EntrySpec,
    Factory,
    config_xml,
    create,
    free_port,
    processes_under,
    running,
)
from test_create_support import copy_example, hash_tree, make_web_base
from waiting import wait_for

from glideinwms_factory.creation import install
from glideinwms_factory.creation.create import main as create_main


def _failing_after(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """`install.<step>` does its work, then fails as a full disk would."""
    original = getattr(install, step)

    def fail(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    monkeypatch.setattr(install, step, fail)


def _create(tmp_path: Path, root: Path) -> int:
    master = copy_example(tmp_path / "cfg")
    web = make_web_base(tmp_path / "web")
    return create_main([str(master), "--root", str(root), "--web-base", str(web)])


@pytest.mark.parametrize("step", ["_make_dirs", "_write_stage", "_write_new_work", "_write_tree"])
def test_a_create_failing_at_any_step_leaves_nothing(tmp_path, monkeypatch, capsys, step):
    _failing_after(monkeypatch, step)
    root = tmp_path / "root"
    assert _create(tmp_path, root) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "create_glidein: [Errno 28] No space left on device (injected); nothing was changed"
    ]
    assert not root.exists()


def test_a_failed_create_keeps_what_was_there_before(tmp_path, monkeypatch, capsys):
    """Only what the run made goes: the operator's files and dirs under --root stay."""
    root = tmp_path / "root"
    (root / "var/lib/gwms-factory/web-area/stage").mkdir(parents=True)
    (root / "var/lib/gwms-factory/web-area/stage/operator.txt").write_text("mine\n")
    (root / "var/lib/gwms-factory/work-dir").mkdir()  # empty: create may fill it
    (root / "etc").mkdir()
    (root / "etc/notes").write_text("keep\n")
    before = hash_tree(root)
    _failing_after(monkeypatch, "_write_tree")  # the work dir is in place by then
    assert _create(tmp_path, root) == 1
    assert "nothing was changed" in capsys.readouterr().err
    assert hash_tree(root) == before


def test_a_create_stopped_by_an_unwritable_path_leaves_nothing(tmp_path, capsys):
    """A real failure: a file stands where the client log dir must go (the stage and
    monitoring dirs are made by then)."""
    root = tmp_path / "root"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/gwms-factory").write_text("not a dir\n")
    before = hash_tree(root)
    assert _create(tmp_path, root) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "gwms-factory" in line and line.endswith("; nothing was changed")
    assert hash_tree(root) == before


def test_a_create_whose_key_hook_fails_leaves_nothing(tmp_path):
    """The last step (the factory key, as factory_startup's hook makes it) fails."""
    from glideinwms_factory.creation.commands import build_tree

    def no_key(work: Path, bits: int) -> None:
        (work / "rsa.key").write_text("half a key")
        raise OSError(errno.EIO, "Input/output error (injected)")

    master = copy_example(tmp_path / "cfg")
    root = tmp_path / "root"
    with pytest.raises(OSError, match="injected"):
        build_tree(
            master,
            root,
            reconfig=False,
            web_base=make_web_base(tmp_path / "web"),
            create_key=no_key,
        )
    assert not root.exists()


def _factory_pids(factory: Factory) -> dict[int, str]:
    return {
        pid: cmdline
        for pid, cmdline in processes_under(factory.root).items()
        if "glideinwms_factory" in cmdline
    }


def _generated(factory: Factory) -> dict[str, str]:
    """The generated part of the tree: what create/reconfig write (logs, monitoring and
    pool state belong to the running daemons)."""
    tree = hash_tree(factory.work, factory.root / "stage")
    daemons = {"log", "pool", "lock", "monitor"}
    return {
        path: digest
        for path, digest in tree.items()
        if not daemons & set(Path(path).relative_to(factory.root).parts)
    }


def test_a_reconfig_failing_at_the_swap_leaves_a_running_factory_undisturbed(tmp_path):
    """reconfig_glidein on a running factory adds an entry, and fails at its last step (a
    file stands where the replaced tree is kept): the generated tree is byte-identical,
    no trace of the new entry is left anywhere, and the factory goes on unrestarted."""
    entries = [EntrySpec("alpha", max_glideins=2, max_idle=1)]
    port = free_port()
    factory = create(tmp_path, config_xml(entries, port))
    with running(factory):
        wait_for(lambda: len(factory.ads("glidefactory")) == 1, 60, "alpha advertises")
        pids = _factory_pids(factory)
        generated = _generated(factory)
        good = tmp_path / "good.xml"
        good.write_text(config_xml([*entries, EntrySpec("gamma")], port))
        (factory.root / ".work.previous").write_text("in the way\n")
        done = subprocess.run(
            [str(BIN / "reconfig_glidein"), str(good), "--root", str(factory.root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().endswith("nothing was changed"), done.stderr
        assert _generated(factory) == generated
        assert [p for p in factory.root.rglob("*gamma*")] == []
        assert _factory_pids(factory) == pids
        assert factory.startup("status").stdout.startswith("Running")
        sequence = factory.ads("glidefactory")[0]["UpdateSequenceNumber"]
        wait_for(
            lambda: factory.ads("glidefactory")[0]["UpdateSequenceNumber"] > sequence,
            60,
            "alpha still advertising",
        )
