"""OSG_autoconf: the operators' whitelist and defaults plus what the OSG collector says
about the CEs make a config.d fragment that create_glidein builds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from test_create_support import REAL_CONFIGS, make_web_base, real_config_dir, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import load_config
from glideinwms_factory.lib.descript import read_descript, read_literals
from glideinwms_factory.tools import osg_autoconf
from glideinwms_factory.tools.osg_ce_info import BEST_FIT, read_ce_info

SAMPLE = Path(osg_autoconf.__file__).parent / "osg_autoconf_sample"
pytestmark = pytest.mark.skipif(not REAL_CONFIGS.is_dir(), reason="real configs not here")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """The real whitelist and defaults beside the shipped config and CE sample."""
    folder = tmp_path / "autoconf"
    shutil.copytree(SAMPLE, folder)
    for name in ("10-hosted-ces.auto.yml", "default.yml"):
        shutil.copy(REAL_CONFIGS / name, folder / name)
    return folder / "config.yaml"


def _entries(path: Path) -> dict[str, etree._Element]:
    root = etree.parse(str(path)).getroot()
    return {e.get("name"): e for e in root.iter("entry")}


def _attrs(entry: etree._Element) -> dict[str, dict[str, str]]:
    return {a.get("name"): dict(a.attrib) for a in entry.iter("attr")}


def test_ce_information_per_catalog_entry_and_best_fit() -> None:
    ces = read_ce_info(SAMPLE / "osg_collector_ces.ads")
    denver = ces["UC-Denver"]["uc-denver-ce1.svc.opensciencegrid.org"]
    best = denver.catalog[BEST_FIT]
    assert (best.cpus, best.memory, best.walltime_minutes, best.vos) == (8, 32000, 2880, ("OSGVO",))
    spark = ces["CHTC-Spark"]["chtc-spark-ce1.svc.osg-htc.org"]
    gpu = spark.entry_defaults("gpu")
    assert gpu is not None and gpu["submit_attrs"]["Request_GPUs"] == 2
    assert gpu["attrs"]["GLIDEIN_Max_Walltime"]["value"] == 1200 * 60 - 1800
    assert spark.entry_defaults("nonesuch") is None


def test_fragment_merges_defaults_collector_and_whitelist(inputs: Path, tmp_path, capsys) -> None:
    out = tmp_path / "10-hosted-ces.auto.xml"
    assert osg_autoconf.main([str(inputs), "--output", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    # whitelisted CEs the sample collector does not know are left out, one line each
    assert err and all(": not in the CE information; entry " in line for line in err)
    assert not any("Not-Whitelisted" in line for line in err)
    entries = _entries(out)
    assert "Not-Whitelisted-CE1" not in " ".join(entries)
    delta = entries["OSG_US_NCSA-Delta-CE1"]
    assert delta.get("auth_method") == "scitoken;project_id"  # whitelist over default.yml
    assert (
        delta.get("gatekeeper")
        == "ncsa-delta-ce1.svc.osg-htc.org ncsa-delta-ce1.svc.osg-htc.org:9619"
    )
    attrs = _attrs(delta)
    assert attrs["GLIDEIN_CPUS"]["value"] == "auto"  # whitelist over collector (64)
    assert attrs["GLIDEIN_CPUS"]["job_publish"] == "True"  # flag from default.yml
    assert (
        attrs["GLIDEIN_MaxMemMBs"]["value"] == "" and attrs["GLIDEIN_MaxMemMBs"]["type"] == "string"
    )
    assert attrs["GLIDEIN_Country"]["value"] == "US"  # default.yml only
    assert attrs["GLIDEIN_REQUIRED_OS"]["value"] == "any"  # collector over default.yml (rhel6)
    assert "GLIDEIN_Job_Max_Time" not in attrs  # a default without a value is not set
    per_entry = delta.find("config/max_jobs/per_entry")
    assert per_entry.attrib == {"glideins": "20", "held": "2", "idle": "4"}  # 10 %, 20 %
    submit = {s.get("name"): s.get("value") for s in delta.iter("submit_attr")}
    assert submit["+queue"] == '"gpuA40x4"' and submit["Request_GPUs"] == "4"
    assert submit["+maxWallTime"] == "1440" and submit["+xcount"] == "64"
    hypatia = _attrs(entries["IGWN_DE_AEI-Hypatia-CE1_gpu"])
    assert hypatia["GLIDEIN_REQUIRED_OS"]["value"] == "debian12"
    assert hypatia["GLIDEIN_Resource_Slots"]["value"] == "GPUs,1,type=main"
    assert entries["IGWN_UK_CARDIFF-CE1"].get("enabled") == "False"
    koa = entries["OSG_US_Hawaii-Koa-CE1"].find("config/submit")
    assert koa.get("max_per_cycle") == "1"  # submission_speed "super slow"


def test_the_fragment_is_accepted_and_built_by_create_glidein(inputs: Path, tmp_path) -> None:
    master = real_config_dir(tmp_path / "factory")
    out = master.parent / "config.d" / "10-hosted-ces.auto.xml"
    assert osg_autoconf.main([str(inputs), "--output", str(out)]) == 0
    cfg = load_config(master)
    assert len(_entries(out)) == 12 and set(_entries(out)) <= set(cfg.entries)
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False, web_base=make_web_base(tmp_path / "web"))
    job = read_descript(work_dir(root) / "entry_OSG_US_NCSA-Delta-CE1" / "job.descript")
    assert job["AuthMethod"] == "scitoken;project_id" and job["PerEntryMaxGlideins"] == "20"
    attrs = read_literals(work_dir(root) / "entry_OSG_US_UC-Denver-CE1" / "attributes.cfg")
    assert attrs["GLIDEIN_ResourceName"] == "UC-Denver-CE1" and attrs["GLIDEIN_Site"] == "UC-Denver"


def test_dry_run_prints_the_diff_and_writes_nothing(inputs: Path, tmp_path) -> None:
    out = tmp_path / "10-hosted-ces.auto.xml"
    assert osg_autoconf.main([str(inputs), "--output", str(out)]) == 0
    before = out.read_text()
    default = inputs.parent / "default.yml"
    default.write_text(default.read_text().replace("value: US", "value: CA"))
    script = Path(sys.executable).parent / "OSG_autoconf"
    done = subprocess.run(
        [str(script), str(inputs), "--output", str(out), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == before
    changed = [line for line in done.stdout.splitlines() if line[:1] in "+-" and "Country" in line]
    assert changed and all(('value="CA"' in line) == line.startswith("+") for line in changed)


def test_a_bad_input_is_one_line(inputs: Path, tmp_path, capsys) -> None:
    (inputs.parent / "default.yml").write_text("DEFAULT_SITE: [unclosed\n")
    assert osg_autoconf.main([str(inputs), "--output", str(tmp_path / "x.xml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"OSG_autoconf: {inputs.parent / 'default.yml'}:")
    assert not (tmp_path / "x.xml").exists()
