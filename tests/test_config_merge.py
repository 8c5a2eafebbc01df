"""config.d merging and the upstream validation rules, on production-like fragment sets:
the real OSG fragments plus the local override files operators keep after them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_create_support import REAL_CONFIGS, make_web_base, real_config_dir, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.creation.create import main as create_main
from glideinwms_factory.lib.descript import read_descript

pytestmark = pytest.mark.skipif(not REAL_CONFIGS.is_dir(), reason="real configs not here")

# A later local file, as operators write them: it overrides one entry of 20-local-itb.xml
# (fewer glideins), adds a retired gt2 entry kept disabled, and has a stray character
# after an element (real files have them).
OVERRIDE = """<glidein>
   <entries>
      <entry name="OSG_US_Purdue-Anvil-CE1_gpu" auth_method="scitoken;project_id" enabled="True"
             gatekeeper="purdue-anvil-ce1.svc.osg-htc.org purdue-anvil-ce1.svc.osg-htc.org:9619"
             gridtype="condor" trust_domain="grid" verbosity="std" work_dir="OSG">
         <config>
            <max_jobs>
               <per_entry glideins="3" held="1" idle="1"/>
            </max_jobs>
         </config>
         <allow_frontends>
            <allow_frontend name="OSG_Flock_retired" security_class="frontend"/>
         </allow_frontends>
      </entry>.
      <entry name="OLD_gt2_site" enabled="False" gatekeeper="old.example.edu/jobmanager-pbs"
             gridtype="gt2" trust_domain="grid"/>
   </entries>
</glidein>
"""


def _line(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, text in enumerate(lines, start=1) if needle in text)


def _with_override(tmp_path: Path, text: str = OVERRIDE) -> tuple[Path, Path]:
    master = real_config_dir(tmp_path)
    override = master.parent / "config.d" / "99-local-overrides.xml"
    override.write_text(text)
    return master, override


def test_a_later_file_overrides_an_entry_and_everything_else_is_a_warning(tmp_path):
    master, override = _with_override(tmp_path)
    cfg = load_config(master)
    entry = cfg.entries["OSG_US_Purdue-Anvil-CE1_gpu"]
    assert entry.per_entry.glideins == 3 and entry.file == str(override)
    assert not cfg.entries["OLD_gt2_site"].enabled
    first = master.parent / "config.d" / "10-testonly-itb.xml"
    name = 'name="OSG_US_Purdue-Anvil-CE1_gpu"'
    assert [str(w) for w in cfg.warnings] == [
        f"{override}:{_line(override, name)}: <entry> 'OSG_US_Purdue-Anvil-CE1_gpu' "
        f"replaces the one at {first}:{_line(first, name)}",
        f"{override}:{_line(override, name)}: text '.' after <entry> ignored",
        f"{override}:{_line(override, 'OLD_gt2_site')}: entry OLD_gt2_site: grid type 'gt2' "
        "is no longer supported (gt2/gt5 are refused) (disabled)",
        f"{override}:{_line(override, name)}: entry OSG_US_Purdue-Anvil-CE1_gpu: "
        "unknown frontend 'OSG_Flock_retired' (matches nothing)",
    ]


def test_the_override_is_built_and_warnings_are_printed(tmp_path, capsys):
    master, override = _with_override(tmp_path)
    web = make_web_base(tmp_path / "web")
    root = tmp_path / "root"
    assert create_main([str(master), "--root", str(root), "--web-base", str(web)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if ": warning: " in line]) == 4
    assert all(line.startswith(f"{override}:") for line in err if ": warning: " in line)
    job = read_descript(work_dir(root) / "entry_OSG_US_Purdue-Anvil-CE1_gpu/job.descript")
    assert job["PerEntryMaxGlideins"] == "3"
    glidein = read_descript(work_dir(root) / "glidein.descript")
    assert "OLD_gt2_site" not in glidein["Entries"].split(",")


def test_an_enabled_gt2_entry_is_refused(tmp_path):
    master, override = _with_override(
        tmp_path, OVERRIDE.replace('enabled="False" gatekeeper="old', 'gatekeeper="old')
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    assert [str(i) for i in caught.value.issues] == [
        f"{override}:{_line(override, 'OLD_gt2_site')}: entry OLD_gt2_site: grid type 'gt2' "
        "is no longer supported (gt2/gt5 are refused)"
    ]


def test_malformed_xml_in_a_fragment_stays_an_error_and_nothing_is_written(tmp_path):
    master, override = _with_override(tmp_path, OVERRIDE.replace("</entries>", "</entrys>"))
    root = tmp_path / "root"
    with pytest.raises(ConfigInvalid) as caught:
        build_tree(master, root, reconfig=False, web_base=make_web_base(tmp_path / "web"))
    (issue,) = caught.value.issues
    assert issue.file == str(override) and "malformed XML" in issue.message
    assert not root.exists()


def test_fragments_merge_in_file_name_order_whatever_the_directory_order(tmp_path):
    """00- sorts before 99-: the 99 file's entry wins, and a third file can win over it."""
    master, override = _with_override(tmp_path)
    later = master.parent / "config.d" / "a0-after-digits.xml"
    later.write_text(
        OVERRIDE.replace('glideins="3"', 'glideins="5"').replace("</entry>.", "</entry>")
    )
    cfg = load_config(master)
    assert cfg.entries["OSG_US_Purdue-Anvil-CE1_gpu"].per_entry.glideins == 5
    replaced = [str(w) for w in cfg.warnings if "replaces the one at" in str(w)]
    assert replaced[-1].startswith(f"{later}:") and f"at {override}:" in replaced[-1]
