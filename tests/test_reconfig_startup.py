"""`factory_startup reconfig [CONFIG] [-force_delete] [-comment TEXT] [-fix_rrd]` on a
stopped tree: every flag does what upstream's does."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_create_support import copy_example, hash_tree, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.lib.monitoring_rrd import rrd_sources
from glideinwms_factory.lib.rrd import RRDTool
from glideinwms_factory.startup import UsageError, main
from glideinwms_factory.startup_reconfig import ReconfigArgs, reconfig_args


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    master = copy_example(tmp_path / "cfg")
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False)
    return master, work_dir(root)


def _drop_entry_c(master: Path) -> None:
    fragment = master.parent / "config.d" / "10-sites.xml"
    text = fragment.read_text()
    start = text.index('      <entry name="local_site_c"')
    end = text.index("</entry>", start) + len("</entry>\n")
    fragment.write_text(text[:start] + text[end:])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ReconfigArgs()),
        (
            ["c.xml", "-comment", "new CE", "-fix_rrd"],
            ReconfigArgs(Path("c.xml"), False, True, "new CE"),
        ),
        (["--force-delete", "yes", "c.xml"], ReconfigArgs(Path("c.xml"), True)),
        (["-comment", "-force_delete"], ReconfigArgs(comment="-force_delete")),
    ],
)
def test_reconfig_arguments(args: list[str], expected: ReconfigArgs) -> None:
    assert reconfig_args(args) == expected


@pytest.mark.parametrize("args", [["-comment"], ["a.xml", "b.xml"], ["-fix-rdd"]])
def test_bad_reconfig_arguments(args: list[str]) -> None:
    with pytest.raises(UsageError):
        reconfig_args(args)


def test_removing_an_entry_needs_force_delete(tree, capsys) -> None:
    master, work = tree
    _drop_entry_c(master)
    before = hash_tree(work)
    assert main(["--root", str(work), "reconfig", str(master), "-comment", "drop c"]) == 6
    err = capsys.readouterr().err
    assert "removes entries of the running tree: local_site_c" in err
    assert hash_tree(work) == before
    log = work / "log" / "reconfig.log"  # work/log is LOG/factory
    assert not log.exists()
    assert (
        main(["--root", str(work), "reconfig", str(master), "-force_delete", "-comment", "drop c"])
        == 0
    )
    assert not (work / "entry_local_site_c").exists()
    assert log.read_text().endswith(f" {master} # drop c\n")


def test_fix_rrd_adds_missing_data_sources_and_keeps_the_data(tree, capsys) -> None:
    master, work = tree
    tool = RRDTool()
    rrd = work / "monitor" / "entry_local_site_a" / "total" / "Status_Attributes.rrd"
    old = rrd_sources("Status_Attributes", ["StatusIdle", "StatusRunning"])
    tool.create(rrd, old, 1_700_000_000 - 300)
    tool.update(rrd, 1_700_000_000, {"StatusIdle": 4, "StatusRunning": 2})
    other = work / "monitor" / "entry_local_site_a" / "total" / "Unrelated.rrd"
    tool.create(other, old, 1_700_000_000 - 300)
    assert main(["--root", str(work), "reconfig", str(master)]) == 0
    assert tool.source_names(rrd) == ["StatusIdle", "StatusRunning"]  # not without -fix_rrd
    capsys.readouterr()
    assert main(["--root", str(work), "reconfig", str(master), "-fix_rrd"]) == 0
    names = tool.source_names(rrd)
    assert names[:2] == ["StatusIdle", "StatusRunning"] and "ReqMaxGlideins" in names
    assert len(names) == 24 and tool.source_names(other) == ["StatusIdle", "StatusRunning"]
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("fix_rrd: ")]
    assert line.endswith(
        "/entry_local_site_a/total/Status_Attributes.rrd: added StatusHeld, "
        "StatusWait, StatusPending, StatusStageIn, StatusIdleOther, StatusStageOut, "
        "StatusRunningCores, ReqIdle, ReqAdjustedIdle, ReqMaxGlideins, ReqIdleCores, "
        "ReqMaxCores, ClientInfoAge, ClientJobsIdle, ClientJobsRunning, "
        "ClientJobsRunHere, ClientGlideIdle, ClientGlideRunning, ClientGlideTotal, "
        "ClientCoresIdle, ClientCoresRunning, ClientCoresTotal"
    )
    assert tool.last(rrd) == 1_700_000_000
