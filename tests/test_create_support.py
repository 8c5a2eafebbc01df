"""Shared helpers of the creation tests (no tests here): stand-in web_base, configs, hashing."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "creation" / "examples" / "glideinWMS.xml"
REAL_CONFIGS = Path("/work/shared/real-configs")
# A fixed manifest, so these tests do not move when web_base/manifest.txt does
# (test_staging_glidein.py stages the real one).
MANIFEST = """# test manifest
main:file_list      error_gen.sh            regular  ERROR_GEN_FILE
main:file_list      add_config_line.source  regular  ADD_CONFIG_LINE_SOURCE
main:file_list      setup_checks.sh         exec
entry:file_list     cat_consts.sh           exec
entry:file_list     check_blacklist.sh      exec
main:last_script    condor_startup.sh       regular
"""
WEB_SCRIPTS = (
    "error_gen.sh",
    "add_config_line.source",
    "setup_checks.sh",
    "cat_consts.sh",
    "check_blacklist.sh",
    "condor_startup.sh",
)


def make_web_base(path: Path) -> Path:
    """A web_base dir with small stand-in scripts and a fixed manifest."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.txt").write_text(MANIFEST)
    for name in WEB_SCRIPTS:
        (path / name).write_text(f"#!/bin/bash\n# stand-in for {name}\nexit 0\n")
    (path / "glidein_startup.sh").write_text("#!/bin/bash\necho glidein\nexit 0\n")
    return path


def copy_example(dest: Path) -> Path:
    """The example config (with its config.d/) copied to `dest`; returns the master path."""
    shutil.copytree(EXAMPLE.parent, dest, dirs_exist_ok=True)
    return dest / EXAMPLE.name


def hash_tree(*roots: Path) -> dict[str, str]:
    """Path -> sha256 (or link target / 'dir') of everything below `roots`."""
    result: dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                result[str(path)] = "link:" + str(path.readlink())
            elif path.is_dir():
                result[str(path)] = f"dir:{path.stat().st_mode:o}"
            else:
                result[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def work_dir(root: Path) -> Path:
    return root / "var/lib/gwms-factory/work-dir"


def stage_dir(root: Path) -> Path:
    return root / "var/lib/gwms-factory/web-area/stage"


ROOT_FOR_REAL = """<glidein factory_name="osg-like" glidein_name="gfactory_instance" schedd_name="schedd_glideins2@f.example.org,schedd_glideins3@f.example.org">
   <monitor base_dir="/var/lib/gwms-factory/web-area/monitor"/>
   <security key_length="2048"/>
   <stage base_dir="/var/lib/gwms-factory/web-area/stage" web_base_url="https://factory.example.org/factory/stage"/>
   <submit base_dir="/var/lib/gwms-factory/work-dir" base_log_dir="/var/log/gwms-factory/server"
           base_client_log_dir="/var/log/gwms-factory/client" base_client_proxies_dir="/var/lib/gwms-factory/client-proxies"/>
   <condor_tarballs>
      <condor_tarball arch="default" os="default" version="default" tar_file="condor.tgz"/>
   </condor_tarballs>
</glidein>
"""


def real_config_dir(tmp_path: Path) -> Path:
    """The real fragments in config.d/ under a root config like a production one."""
    cfg = tmp_path / "real"
    (cfg / "config.d").mkdir(parents=True)
    with tarfile.open(cfg / "condor.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("condor/bin/condor_master")
        tar.addfile(info)
    (cfg / "glideinWMS.xml").write_text(ROOT_FOR_REAL)
    for path in REAL_CONFIGS.glob("*.xml"):
        shutil.copy(path, cfg / "config.d" / path.name)
    return cfg / "glideinWMS.xml"
