"""Time create_glidein / reconfig_glidein on a synthetic factory of many entries.

Prints figures (not a test): validation, create, a no-op reconfig and a one-entry
reconfig, for N entries split over config.d fragments as a large OSG factory keeps them
(14 files, half the entries disabled, a last local file overriding some entries, each
entry with the attrs and submit_attrs OSG_autoconf writes).
Usage: .venv/bin/python bench/bench_create.py [N ...]   (default: 100 500 1060 2000)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import load_config

REPO = Path(__file__).resolve().parents[1]
MASTER = (REPO / "creation/examples/glideinWMS.xml").read_text()
ENTRY = """      <entry name="site_{n}" auth_method="scitoken;project_id" enabled="{enabled}"
             gatekeeper="ce{n}.example.org ce{n}.example.org:9619" gridtype="condor"
             proxy_url="OSG" trust_domain="grid" verbosity="std" work_dir="OSG">
         <config><max_jobs num_factories="2"><per_entry glideins="{g}" idle="10" held="5"/>
            <default_per_frontend glideins="{g}" idle="10" held="5"/></max_jobs>
            <submit cluster_size="10" max_per_cycle="10" sleep="2"><submit_attrs>
               <submit_attr name="+maxMemory" value="32000"/>
               <submit_attr name="+maxWallTime" value="2880"/>
               <submit_attr name="+xcount" value="8"/></submit_attrs></submit></config>
         <allow_frontends><allow_frontend name="vofrontend" security_class="All"/></allow_frontends>
         <attrs>
            <attr name="GLEXEC_BIN" value="NONE" glidein_publish="False"/>
            <attr name="GLIDEIN_CPUS" value="8" job_publish="True"/>
            <attr name="GLIDEIN_Country" value="US" glidein_publish="True"/>
            <attr name="GLIDEIN_MaxMemMBs" value="32000" type="int" glidein_publish="True"/>
            <attr name="GLIDEIN_Max_Walltime" value="171000" type="int"/>
            <attr name="GLIDEIN_REQUIRED_OS" value="any" glidein_publish="True"/>
            <attr name="GLIDEIN_ResourceName" value="Site{n}-CE1" job_publish="True"/>
            <attr name="GLIDEIN_Site" value="Site{n}" glidein_publish="True" job_publish="True"/>
            <attr name="GLIDEIN_Supported_VOs" value="OSGVO"/>
         </attrs>
      </entry>
"""
FILES = 14
OVERRIDES = 20  # entries a last local file replaces


def _config(base: Path, entries: int, bump: int = 0) -> Path:
    (base / "config.d").mkdir(parents=True, exist_ok=True)
    (base / "glideinWMS.xml").write_text(MASTER.replace('pool_backend="embedded"', ""))
    per_file = -(-entries // (FILES - 1))

    def entry(n: int, glideins: int) -> str:
        return ENTRY.format(n=n, g=glideins, enabled="True" if n % 2 == 0 else "False")

    for index, start in enumerate(range(0, entries, per_file)):
        body = "".join(
            entry(n, 100 + (bump if n == 0 else 0))
            for n in range(start, min(start + per_file, entries))
        )
        (base / "config.d" / f"{index:02d}-sites.xml").write_text(
            f"<glidein><entries>\n{body}</entries></glidein>\n"
        )
    body = "".join(entry(n, 50) for n in range(1, entries, max(1, entries // OVERRIDES)))
    (base / "config.d" / "99-local-overrides.xml").write_text(
        f"<glidein><entries>\n{body}</entries></glidein>\n"
    )
    return base / "glideinWMS.xml"


def _web_base(path: Path) -> Path:
    shutil.copytree(REPO / "web_base", path)
    for line in (path / "manifest.txt").read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words and not (path / words[1]).exists():
            (path / words[1]).write_text(f"#!/bin/sh\n# stand-in {words[1]}\nexit 0\n")
    if not (path / "glidein_startup.sh").exists():
        (path / "glidein_startup.sh").write_text("#!/bin/sh\nexit 0\n")
    return path


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _measure(base: Path, size: int) -> tuple[float, ...]:
    web = _web_base(base / "web")
    master = _config(base / "cfg", size)
    root = base / "root"
    validate = min(_timed(lambda: load_config(master, root)) for _ in range(3))
    create = _timed(lambda: build_tree(master, root, reconfig=False, web_base=web))
    same = _timed(lambda: build_tree(master, root, reconfig=True, web_base=web))
    _config(base / "cfg", size, bump=1)
    one = _timed(lambda: build_tree(master, root, reconfig=True, web_base=web))
    files = sum(1 for p in root.rglob("*") if p.is_file())
    return validate, create, same, one, files


def main(sizes: list[int]) -> None:
    print("entries  validate_s  create_s  reconfig_same_s  reconfig_one_changed_s  files")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            validate, create, same, one, files = _measure(Path(tmp), size)
        row = f"{size:>7}  {validate:>10.2f}  {create:>8.2f}  {same:>15.2f}  {one:>22.2f}"
        print(f"{row}  {files:>5.0f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 500, 1060, 2000])
