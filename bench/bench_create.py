"""Time create_glidein / reconfig_glidein on a synthetic factory of many entries.

Prints figures (not a test): validation, create, a no-op reconfig and a one-entry
reconfig, for N entries split over config.d fragments as operators do.
Usage: .venv/bin/python bench/bench_create.py [N ...]   (default: 100 500 1000)
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
ENTRY = """      <entry name="site_{n}" gatekeeper="ce{n}.example.org ce{n}.example.org:9619">
         <config><max_jobs><per_entry glideins="{g}" idle="10" held="5"/></max_jobs>
            <submit cluster_size="10" max_per_cycle="100"><submit_attrs>
               <submit_attr name="+maxWallTime" value="2880"/></submit_attrs></submit></config>
         <attrs>
            <attr name="GLIDEIN_Site" value="Site{n}" glidein_publish="True" job_publish="True"/>
            <attr name="GLIDEIN_CPUS" value="8" type="int" job_publish="True"/>
            <attr name="GLIDEIN_Max_Walltime" value="86400" type="int"/>
         </attrs>
      </entry>
"""


def _config(base: Path, entries: int, bump: int = 0) -> Path:
    (base / "config.d").mkdir(parents=True, exist_ok=True)
    (base / "glideinWMS.xml").write_text(MASTER)
    per_file = 100
    for start in range(0, entries, per_file):
        body = "".join(
            ENTRY.format(n=n, g=100 + (bump if n == 0 else 0))
            for n in range(start, min(start + per_file, entries))
        )
        (base / "config.d" / f"{start:05d}.xml").write_text(
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
    validate = _timed(lambda: load_config(master, root))
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
    main([int(a) for a in sys.argv[1:]] or [100, 500, 1000])
