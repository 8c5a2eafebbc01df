"""Upstream config features create_glidein accepts and implements: attribute expansion,
<file> type/time/period/prefix/cond_download, condor_tarball comma lists, cvmfsexec_distro."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from test_create_support import copy_example, make_web_base, stage_dir, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.lib.descript import read_literals


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


@pytest.fixture
def master(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "cfg")


def test_attribute_expansion(master: Path, tmp_path: Path) -> None:
    _edit(master, 'loop_delay="10"', 'loop_delay="10" enable_attribute_expansion="True"')
    _edit(
        master,
        '<attr name="GLIDEIN_Site" value="SiteA"',
        '<attr name="GLIDEIN_Site" value="Site$(DOLLAR)A-$(GLIDEIN_Country)"',
    )
    _edit(
        master,
        '<attr name="GLIDEIN_ResourceName" value="SiteA-CE1"',
        '<attr name="GLIDEIN_ResourceName" value="$(GLIDEIN_Site)-CE1"',
    )
    _edit(
        master,
        '<submit_attr name="+maxWallTime" value="60"/>',
        '<submit_attr name="+maxWallTime" value="$$(GLIDEIN_Max_Walltime) / 60"/>\n'
        '                  <submit_attr name="+site" value="$$(GLIDEIN_Site)"/>',
    )
    entry = load_config(master).entries["local_site_a"]
    values = {a.name: a.value for a in entry.attrs}
    assert values["GLIDEIN_Site"] == "Site$A-US"
    assert values["GLIDEIN_ResourceName"] == "Site$A-US-CE1"  # $(...) expands recursively
    assert entry.submit_attrs["+maxWallTime"] == ("3600 / 60", False)
    # $$() inserts the quoted literal, whose $() are then expanded (upstream's order)
    assert entry.submit_attrs["+site"] == ('"Site$A-US"', False)
    build_tree(master, tmp_path / "root", reconfig=False, web_base=make_web_base(tmp_path / "w"))
    cfg = read_literals(work_dir(tmp_path / "root") / "entry_local_site_a" / "attributes.cfg")
    assert cfg["GLIDEIN_ResourceName"] == "Site$A-US-CE1"


def test_expansion_of_an_unknown_or_looping_attribute_is_an_error(master: Path) -> None:
    _edit(master, 'loop_delay="10"', 'loop_delay="10" enable_attribute_expansion="True"')
    _edit(master, 'value="SiteA"', 'value="$(NOPE)"')
    _edit(master, 'value="SiteA-CE1"', 'value="$(GLIDEIN_ResourceName)x"')
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    line = _line_of(master, 'name="local_site_a"')
    assert [str(i) for i in caught.value.issues] == [
        f"{master}:{line}: entry local_site_a: attr GLIDEIN_Site: $(NOPE): no attribute 'NOPE'"
        " (or a loop); write $(DOLLAR) for a plain '$'",
        f"{master}:{line}: entry local_site_a: attr GLIDEIN_ResourceName: "
        "$(GLIDEIN_ResourceName): no attribute 'GLIDEIN_ResourceName' (or a loop); "
        "write $(DOLLAR) for a plain '$'",
    ]


def test_without_expansion_dollars_stay(master: Path) -> None:
    _edit(master, 'value="SiteA"', 'value="$(NOPE)"')
    values = {a.name: a.value for a in load_config(master).entries["local_site_a"].attrs}
    assert values["GLIDEIN_Site"] == "$(NOPE)"


def test_file_type_time_period_prefix_cond_download(master: Path, tmp_path: Path) -> None:
    (master.parent / "check.sh").write_text("#!/bin/sh\nexit 0\n")
    (master.parent / "lib.sh").write_text("f() { :; }\n")
    (master.parent / "job_hook.sh").write_text("#!/bin/sh\n")
    _edit(
        master,
        "   <entries>",
        "   <files>\n"
        '      <file absfname="check.sh" type="exec" time="startup,periodic:600" prefix="CHK_"'
        ' cond_download="USE_CHECK"/>\n'
        '      <file absfname="lib.sh" type="library:shell"/>\n'
        '      <file absfname="job_hook.sh" type="exec" time="after_job"/>\n'
        "   </files>\n   <entries>",
    )
    cfg = load_config(master)
    files = {f.name: f for f in cfg.files}
    assert (files["check.sh"].kind, files["check.sh"].period) == ("exec", 600)
    assert (files["check.sh"].prefix, files["check.sh"].cond_attr) == ("CHK_", "USE_CHECK")
    assert files["lib.sh"].kind == "regular"
    assert [str(w) for w in cfg.warnings] == [
        f"{master}:{_line_of(master, 'job_hook.sh')}: file job_hook.sh: time after_job is not"
        " run by this factory's glidein (startup and periodic are): staged only"
    ]
    build_tree(master, tmp_path / "root", reconfig=False, web_base=make_web_base(tmp_path / "w"))
    file_list = next(stage_dir(tmp_path / "root").glob("file_list.*.lst")).read_text()
    row = next(line.split("\t") for line in file_list.splitlines() if line.startswith("check.sh"))
    assert row[2:6] == ["exec", "600", "CHK_", "USE_CHECK"]


def test_file_type_and_flags_together_is_an_error(master: Path) -> None:
    (master.parent / "check.sh").write_text("#!/bin/sh\n")
    _edit(
        master,
        "   <entries>",
        '   <files><file absfname="check.sh" type="exec" untar="True"/></files>\n   <entries>',
    )
    with pytest.raises(ConfigInvalid, match="give either type or executable/wrapper/untar"):
        load_config(master)


def test_tarball_comma_lists_make_one_tarball_per_combination(master: Path, tmp_path) -> None:
    with tarfile.open(master.parent / "condor.tgz", "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("condor/bin/condor_master"))
    _edit(
        master,
        "   <entries>",
        "   <condor_tarballs>\n"
        '      <condor_tarball os="rhel8, rhel9" arch="x86_64,aarch64" version="24.0"'
        ' tar_file="condor.tgz"/>\n'
        '      <condor_tarball os="default" tar_file="condor.tgz"/>\n'
        "   </condor_tarballs>\n   <entries>",
    )
    cfg = load_config(master)
    assert [(t.os, t.arch, t.version) for t in cfg.tarballs] == [
        ("rhel8", "x86_64", "24.0"),
        ("rhel8", "aarch64", "24.0"),
        ("rhel9", "x86_64", "24.0"),
        ("rhel9", "aarch64", "24.0"),
        ("default", "default", "default"),
    ]
    build_tree(master, tmp_path / "root", reconfig=False, web_base=make_web_base(tmp_path / "w"))
    file_list = next(stage_dir(tmp_path / "root").glob("file_list.*.lst")).read_text()
    assert "condor_bin_24.0-rhel9-aarch64.tgz" in file_list
    assert "CONDOR_PLATFORM_24.0-rhel8-x86_64" in file_list


def test_a_tarball_combination_given_twice_is_an_error(master: Path) -> None:
    (master.parent / "condor.tgz").write_bytes(b"")
    _edit(
        master,
        "   <entries>",
        "   <condor_tarballs>\n"
        '      <condor_tarball os="rhel8,rhel9" tar_file="condor.tgz"/>\n'
        '      <condor_tarball os="rhel9" arch="default" tar_file="condor.tgz"/>\n'
        "   </condor_tarballs>\n   <entries>",
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    (issue,) = caught.value.issues
    assert issue.line == _line_of(master, 'os="rhel9" arch')
    assert "condor_tarball default-rhel9-default given twice (first at" in issue.message


def test_cvmfsexec_distro_is_accepted_with_a_warning(master: Path, tmp_path) -> None:
    _edit(master, "   <entries>", '   <cvmfsexec_distro sources="osg,egi"/>\n   <entries>')
    cfg = load_config(master)
    assert [str(w) for w in cfg.warnings] == [
        f"{master}:{_line_of(master, 'cvmfsexec_distro')}: cvmfsexec_distro sources='osg,egi':"
        " its distributions cannot be built on this host; none is staged"
    ]
    build_tree(master, tmp_path / "root", reconfig=False, web_base=make_web_base(tmp_path / "w"))
    assert not [p for p in stage_dir(tmp_path / "root").rglob("*cvmfsexec*")]


def test_generated_values_upstream_writes(master: Path, tmp_path) -> None:
    """GLIDEIN_Factory_Collector, the entry's standard attributes (over a user attr of the
    same name) and the base condor_vars rows every glidein publishes."""
    _edit(
        master,
        "   <entries>",
        "   <monitoring_collectors>\n"
        '      <monitoring_collector node="mon1.example.org:9618" DN="/CN=mon1" group="1"/>\n'
        '      <monitoring_collector node="mon2.example.org:9618" DN="/CN=mon2" group="1"/>\n'
        '      <monitoring_collector node="mon3.example.org:9620" DN="/CN=mon3" group="2"/>\n'
        '      <monitoring_collector node="mon4.example.org:9620-9630" DN="/CN=mon4" group="2"'
        ' secondary="True"/>\n'
        "   </monitoring_collectors>\n   <entries>",
    )
    _edit(
        master,
        '<attr name="GLIDEIN_Site"',
        '<attr name="GLIDEIN_GridType" value="mine"/>\n<attr name="GLIDEIN_Site"',
    )
    build_tree(master, tmp_path / "root", reconfig=False, web_base=make_web_base(tmp_path / "w"))
    work = work_dir(tmp_path / "root")
    params = read_literals(work / "params.cfg")
    assert params["GLIDEIN_Factory_Collector"] == (
        "mon1.example.org:9618,mon2.example.org:9618;mon4.example.org:9620-9630"
    )
    stage = stage_dir(tmp_path / "root")
    consts = next((stage / "entry_local_site_a").glob("constants.*.cfg")).read_text()
    for line in (
        "GLIDEIN_Gatekeeper \tce1.site-a.example.org ce1.site-a.example.org:9619",
        "GLIDEIN_GridType \tcondor",
        "GLIDEIN_SupportedAuthenticationMethod \tscitoken",
        "GLIDEIN_WorkDir \tAUTO",
        "GLIDEIN_SlotsLayout \tfixed",
    ):
        assert line in consts.splitlines()
    assert "mine" not in consts
    cvars = next(stage.glob("condor_vars.*.lst")).read_text().splitlines()
    assert "CONDORG_CLUSTER\tI\t-\tGLIDEIN_ClusterId\tN\tY\t@" in cvars
    assert "GLIDEIN_Entry_Name\tS\t-\t+\tN\tY\t@" in cvars
    entry_vars = next((stage / "entry_local_site_a").glob("condor_vars.*.lst")).read_text()
    assert "GLIDEIN_REQUIRE_VOMS\tC\tFalse\t+\tN\tY\t@" in entry_vars.splitlines()
