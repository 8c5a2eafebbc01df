"""create_glidein: the example config's tree (golden), --root, real configs, YAML, merge order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_create_support import (
    EXAMPLE,
    REAL_CONFIGS,
    ROOT_FOR_REAL,
    copy_example,
    make_web_base,
    real_config_dir,
    stage_dir,
    work_dir,
)

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.creation.create import main as create_main
from glideinwms_factory.lib.descript import read_descript, read_frontends, read_literals

GOLDEN = Path(__file__).parent / "golden" / "example_tree"


def _masked(text: str, root: Path) -> str:
    return text.replace(str(root), "<ROOT>").replace(sys.executable, "<PYTHON>")


# Copies of inputs (the XML), binary content and the hash manifest are checked elsewhere.
_NOT_GOLDEN = (
    "glidein_startup.sh",
    "glideinWMS.xml",
    "10-sites.xml",
    ".generated_files.json",
    ".work-dir.reconfig.lock",
)


def _golden_files(root: Path) -> dict[str, str]:
    """Every generated text file of the tree, volatile values masked, by path under root."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name not in _NOT_GOLDEN:
            rel = str(path.relative_to(root))
            files[rel] = _masked(path.read_text(), root)
        elif path.is_symlink():
            files[str(path.relative_to(root)) + ".symlink"] = _masked(str(path.readlink()), root)
    return files


def test_example_tree_matches_golden(tmp_path, capsys):
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    assert create_main([str(EXAMPLE), "--root", str(root), "--web-base", str(web)]) == 0
    assert capsys.readouterr().out.strip() == str(work_dir(root))
    got = _golden_files(root)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, text in got.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text)
    expected = {
        str(p.relative_to(GOLDEN)): p.read_text() for p in sorted(GOLDEN.rglob("*")) if p.is_file()
    }
    assert sorted(got) == sorted(expected)
    for rel, text in expected.items():
        assert got[rel] == text, f"{rel} differs from the golden copy"


def test_tree_layout_modes_and_root_relocation(tmp_path):
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    summary = build_tree(EXAMPLE, root, reconfig=False, web_base=web)
    work = work_dir(root)
    assert summary.work_dir == work
    for name in (
        "glidein.descript",
        "params.cfg",
        "attributes.cfg",
        "submit_attrs.cfg",
        "frontend.descript",
        "glideinWMS.downtimes",
        "factory_startup",
        "signatures.sha1",
    ):
        assert (work / name).is_file(), name
    assert (work / "lock").is_dir() and (work / "log").is_dir()
    assert (
        work / "glideinWMS.downtimes"
    ).read_text() == "#Start End Entry Frontend Sec_Class # Comment\n"
    assert os.access(work / "factory_startup", os.X_OK)
    proxies = root / "var/lib/gwms-factory/client-proxies"
    assert proxies.stat().st_mode & 0o777 == 0o700
    for user in ("vofe_prod", "vofe_test"):
        assert (proxies / f"user_{user}/glidein_demo").stat().st_mode & 0o777 == 0o700
        for entry in ("local_site_a", "local_site_b", "local_site_c"):
            assert (
                root / f"var/log/gwms-factory/client/user_{user}/glidein_demo/entry_{entry}"
            ).is_dir()
    for entry in ("local_site_a", "local_site_b", "local_site_c"):
        for name in (
            "job.descript",
            "job.condor",
            "params.cfg",
            "attributes.cfg",
            "submit_attrs.cfg",
            "infosys.descript",
        ):
            assert (work / f"entry_{entry}" / name).is_file()
        assert (work / f"entry_{entry}" / "log").is_dir()
        assert (stage_dir(root) / f"entry_{entry}" / "nodes.blacklist").is_file()
        assert (root / "var/lib/gwms-factory/web-area/monitor" / f"entry_{entry}").is_dir()
    # Every directory the config names is under --root: nothing else appeared.
    assert sorted(p.name for p in root.iterdir()) == ["var"]
    descript = read_descript(work / "glidein.descript")
    assert descript["PoolBackend"] == "embedded"
    assert descript["SupportedSignTypes"] == "sha1"
    assert descript["Entries"] == "local_site_a,local_site_b,local_site_c"
    assert descript["LoopDelay"] == "10"
    frontends = read_frontends(work / "frontend.descript")
    assert frontends["vofrontend"].ident == "frontend@example.org"
    assert frontends["vofrontend"].usermap == {"frontend": "vofe_prod", "testing": "vofe_test"}
    limits = {
        e: read_descript(work / f"entry_{e}/job.descript")["PerEntryMaxGlideins"]
        for e in ("local_site_a", "local_site_b", "local_site_c")
    }
    assert len(set(limits.values())) == 3  # per-entry limits differ
    assert read_literals(work / "params.cfg") == {
        "GLIDEIN_Collector": "Fake",  # the defaults every entry publishes (classads.md §1)
        "GLIDEIN_Report_Failed": "NEVER",
        "CONDOR_OS": "default",
        "CONDOR_ARCH": "default",
        "CONDOR_VERSION": "default",
        "GLIDEIN_Standin_Lifetime": 120,
    }


def test_factory_startup_wrapper_runs_the_package_module(tmp_path):
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    build_tree(EXAMPLE, root, reconfig=False, web_base=web)
    text = (work_dir(root) / "factory_startup").read_text()
    assert f'-m glideinwms_factory.startup --root {work_dir(root)} "$@"' in text
    assert sys.executable in text


def test_create_refuses_an_existing_tree(tmp_path, capsys):
    web = make_web_base(tmp_path / "web")
    args = [str(EXAMPLE), "--root", str(tmp_path / "root"), "--web-base", str(web)]
    assert create_main(args) == 0
    before = (work_dir(tmp_path / "root") / "glidein.descript").read_bytes()
    assert create_main(args) == 1
    assert "use reconfig_glidein" in capsys.readouterr().err
    assert (work_dir(tmp_path / "root") / "glidein.descript").read_bytes() == before


def test_console_script_prints_root_dir(tmp_path):
    web = make_web_base(tmp_path / "web")
    script = Path(sys.executable).parent / "create_glidein"
    done = subprocess.run(
        [str(script), str(EXAMPLE), "--root", str(tmp_path / "r"), "--web-base", str(web)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(work_dir(tmp_path / "r"))


def test_config_d_fragments_merge_in_name_order(tmp_path):
    master = copy_example(tmp_path / "cfg")
    extra = tmp_path / "cfg/config.d/05-first.xml"
    extra.write_text(
        '<glidein><entries><entry name="zz_early" gatekeeper="gk.example.org">'
        "</entry></entries></glidein>\n"
    )
    cfg = load_config(master, tmp_path / "root")
    assert list(cfg.entries) == ["local_site_a", "zz_early", "local_site_b", "local_site_c"]


@pytest.mark.skipif(not REAL_CONFIGS.is_dir(), reason="real configs not on this machine")
def test_real_configs_are_accepted_with_the_htcondor_backend(tmp_path):
    master = real_config_dir(tmp_path)
    web = make_web_base(tmp_path / "web")
    build_tree(master, tmp_path / "root", reconfig=False, web_base=web)
    cfg = load_config(master, tmp_path / "root")
    assert cfg.backend == "htcondor" and len(cfg.entries) == 33
    work = work_dir(tmp_path / "root")
    assert read_descript(work / "glidein.descript")["PoolBackend"] == "htcondor"
    jd = read_descript(work / "entry_LIGO_US_Caltech_ldas-grid_itb/job.descript")
    assert jd["NumFactories"] == "2" and jd["PerEntryMaxGlideins"] == "6"
    schedds = {read_descript(p)["Schedd"] for p in work.glob("entry_*/job.descript")}
    assert schedds == {"schedd_glideins2@f.example.org", "schedd_glideins3@f.example.org"}
    condor = (work / "entry_CMSHTPC_T1_RU_JINR_ce03/job.condor").read_text()
    assert "Grid_Resource = arc ce03.jinr-t1.ru" in condor
    assert "arc_resources = <WallTime>216000</WallTime>" in condor
    file_list = next(stage_dir(tmp_path / "root").glob("file_list.*.lst")).read_text()
    assert "condor_bin_default-default-default.tgz" in file_list and "CONDOR_DIR" in file_list


@pytest.mark.skipif(not REAL_CONFIGS.is_dir(), reason="real configs not on this machine")
def test_real_cloud_entries_are_refused_by_the_embedded_backend(tmp_path):
    master = real_config_dir(tmp_path)
    master.write_text(
        ROOT_FOR_REAL.replace("glidein_name=", 'pool_backend="embedded" glidein_name=')
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    messages = [str(i) for i in caught.value.issues]
    assert messages and all(
        "cannot be submitted by the embedded pool backend" in m for m in messages
    )
    assert any(m.startswith(f"{master.parent}/config.d/30-local-fnal.xml:") for m in messages)


YAML_CONFIG = """glidein:
  factory_name: yaml-factory
  pool_backend: embedded
  loop_delay: 10
  monitor: {base_dir: /m}
  security:
    frontends:
      frontend:
        - name: fe
          identity: fe@example.org
          security_classes:
            security_class:
              - {name: main, username: u1}
  stage: {base_dir: /s, web_base_url: "http://127.0.0.1:8319/stage"}
  submit: {base_dir: /w, base_log_dir: /l, base_client_log_dir: /c, base_client_proxies_dir: /p}
  entries:
    entry:
      - name: y1
        gatekeeper: gk1.example.org
        config:
          max_jobs:
            per_entry: {glideins: 7, idle: 3, held: 1}
      - name: y2
        gatekeeper: gk2.example.org
        enabled: False
        bogus: 1
"""


def test_yaml_form_uses_the_same_schema(tmp_path):
    path = tmp_path / "factory.yaml"
    path.write_text(YAML_CONFIG)
    assert [str(w) for w in load_config(path, tmp_path / "root").warnings] == [
        f"{path}:23: <entry>: unknown attribute 'bogus' ignored"
    ]
    path.write_text(YAML_CONFIG.replace("        bogus: 1\n", ""))
    cfg = load_config(path, tmp_path / "root")
    assert list(cfg.entries) == ["y1", "y2"]
    assert cfg.entries["y1"].per_entry.glideins == 7 and not cfg.entries["y2"].enabled
    assert cfg.dirs.work == tmp_path / "root" / "w"


def test_yaml_keys_and_values_xml_cannot_hold_are_config_errors(tmp_path):
    """Found by review: lxml raised ValueError (a traceback) on these instead of an issue."""
    path = tmp_path / "factory.yaml"
    path.write_text(
        YAML_CONFIG.replace("  loop_delay: 10\n", '  "loop delay": 10\n  rsl: "a\\x01b"\n')
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, tmp_path / "root")
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:4: <glidein>: 'loop delay' is not a valid name",
        f"{path}:5: rsl: value is not valid XML text",
    ]
    path.write_text("'not a name': {}\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:1: expected one top-level key 'glidein'"
    ]


def test_job_condor_is_a_valid_submit_description(tmp_path, monkeypatch):
    import htcondor2

    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    build_tree(EXAMPLE, root, reconfig=False, web_base=web)
    env = {
        "GLIDEIN_ARGUMENTS": "-v std -name demo",
        "GLIDEIN_COUNT": "3",
        "FACTORY_NAME": "demo-factory",
        "GLIDEIN_USER": "vofe_prod",
        "GLIDEIN_LOGNR": "20261122",
        "GLIDEIN_CLIENT": "fe.main",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    grid = {}
    for entry in ("local_site_a", "local_site_b", "local_site_c"):
        submit = htcondor2.Submit((work_dir(root) / f"entry_{entry}/job.condor").read_text())
        assert submit.getQArgs() == "$ENV(GLIDEIN_COUNT)"
        assert submit.expand("Arguments") == "-v std -name demo"
        assert submit.expand("MY.GlideinFactory") == '"demo-factory"'
        assert submit.expand("Output").endswith(
            f"/user_vofe_prod/glidein_demo/entry_{entry}/job.1.0.out"
        )
        grid[entry] = submit.expand("Grid_Resource")
    assert grid["local_site_a"] == "condor ce1.site-a.example.org ce1.site-a.example.org:9619"
    assert grid["local_site_b"] == "arc arc.site-b.example.org"
    assert grid["local_site_c"].startswith("batch slurm ") and grid["local_site_c"].endswith(
        "@login.site-c.example.org"
    )


def test_every_directory_in_the_descripts_is_under_root(tmp_path):
    root = tmp_path / "root"
    build_tree(EXAMPLE, root, reconfig=False, web_base=make_web_base(tmp_path / "web"))
    descript = read_descript(work_dir(root) / "glidein.descript")
    dir_keys = (
        "WorkDir",
        "StageDir",
        "MonitorDir",
        "LogDir",
        "ClientLogBaseDir",
        "ClientProxiesBaseDir",
        "DowntimesFile",
        "EmbeddedPoolStateDir",
    )
    for key in dir_keys:
        assert descript[key].startswith(f"{root}/"), key


def test_factory_versioning_adds_the_glidein_subdir(tmp_path):
    master = copy_example(tmp_path / "cfg")
    master.write_text(
        master.read_text().replace(
            'glidein_name="demo"', 'glidein_name="demo" factory_versioning="True"'
        )
    )
    cfg = load_config(master, tmp_path / "root")
    for path in (
        cfg.dirs.work,
        cfg.dirs.stage,
        cfg.dirs.monitor,
        cfg.dirs.log,
        cfg.dirs.client_log,
    ):
        assert path.name == "glidein_demo"
