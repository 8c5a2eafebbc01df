"""<entry_sets>: create_glidein writes one entry named by the alias with a submit file per
member, and the entry daemon deals a request's glideins over the members."""

from __future__ import annotations

import pytest
from factory_testlib import (
    FRONTEND,
    EntrySpec,
    config_xml,
    create,
    free_port,
    frontend_spec,
    in_process_pool,
    serve_once,
)

from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.lib.descript import read_descript

ENTRY_SETS = """
   <entry_sets>
      <entry_set alias="pair" auth_method="scitoken" trust_domain="grid" verbosity="fast"
                 work_dir="AUTO" gridtype="condor">
         <config>
            <max_jobs>
               <per_entry glideins="10" idle="6" held="2"/>
               <default_per_frontend glideins="10" idle="6" held="2"/>
            </max_jobs>
            <entry_selection algorithm_name="Default"/>
            <submit cluster_size="5" max_per_cycle="20" sleep="0"/>
         </config>
         <attrs><attr name="GLIDEIN_Site" value="Pair" glidein_publish="True"/></attrs>
         <entries>
            <entry name="left" gatekeeper="ce.left.example.org ce.left.example.org:9619"/>
            <entry name="right" gatekeeper="arc.right.example.org" gridtype="arc"/>
         </entries>
      </entry_set>
   </entry_sets>
"""


def _xml(extra: str = ENTRY_SETS) -> str:
    return config_xml([EntrySpec("solo")], free_port()).replace(
        "</entries>", "</entries>" + extra, 1
    )


def test_the_set_is_one_entry_with_a_submit_file_per_member(tmp_path) -> None:
    factory = create(tmp_path, _xml())
    entry_dir = factory.work / "entry_pair"
    assert sorted(p.name for p in entry_dir.glob("job*.condor")) == [
        "job.left.condor",
        "job.right.condor",
    ]
    left = (entry_dir / "job.left.condor").read_text()
    right = (entry_dir / "job.right.condor").read_text()
    assert "Grid_Resource = condor ce.left.example.org ce.left.example.org:9619" in left
    assert "Grid_Resource = arc arc.right.example.org" in right
    assert "/entry_pair/condor_activity_" in right  # logs go to the set's entry
    job = read_descript(entry_dir / "job.descript")
    assert job["EntrySelectionAlgorithm"] == "Default" and job["PerEntryMaxIdle"] == "6"
    entries = read_descript(factory.work / "glidein.descript")["Entries"].split(",")
    assert sorted(entries) == ["pair", "solo"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ENTRY_SETS.replace('alias="pair"', 'alias="solo"'),
            "entry_set alias 'solo' is also an entry",
        ),
        (ENTRY_SETS.replace('"Default"', '"Fastest"'), "expected one of Default"),
        (ENTRY_SETS.replace('gridtype="arc"', 'gridtype="gt2"'), "grid type 'gt2' is no longer"),
    ],
)
def test_entry_set_errors_name_file_and_line(tmp_path, extra: str, message: str) -> None:
    master = tmp_path / "glideinWMS.xml"
    master.write_text(_xml(extra))
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    assert any(message in i.message and i.line > 1 for i in caught.value.issues), caught.value


def test_a_request_is_dealt_over_the_members(tmp_path) -> None:
    factory = create(tmp_path, _xml())
    with in_process_pool(factory) as pool:
        spec = frontend_spec(
            identity=FRONTEND,
            security_name="vofrontend",
            security_class="frontend",
            idle=6,
            max_glideins=10,
        )
        glideins = serve_once(factory, pool, "pair", spec, ["GlideinEntrySubmitFile"])
        files = sorted(str(g["GlideinEntrySubmitFile"]) for g in glideins)
        # 6 idle over 2 members, each capped at PerEntryMaxIdle / 2 = 3
        assert files == ["entry_pair/job.left.condor"] * 3 + ["entry_pair/job.right.condor"] * 3
