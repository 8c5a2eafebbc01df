"""Apptainer/Singularity and CVMFS on the worker node, checked by the real glidein: required and
missing fails with upstream's failure type, optional goes on and says what is missing."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from staging_fixture import (
    RecordingCollector,
    Staging,
    build_staging,
    glidein_argv,
    http_server,
    run_glidein,
)

ENTRY = "CONT_ENTRY"
# A stand-in apptainer: says its version, records each exec, runs the command it was given.
APPTAINER = """#!/bin/bash
[ "$1" = --version ] && echo "apptainer version 1.3.4" && exit 0
echo "$*" >>"$(dirname "$0")/calls"
[ "$1" = exec ] && shift 3 && exec "$@"
exit 1
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Staging, str]]:
    staging = build_staging(tmp_path_factory.mktemp("cont"), ENTRY)
    with http_server(staging.stage_dir) as url:
        yield staging, url


def run(served: tuple[Staging, str], run_dir: Path, **params: str) -> tuple[
    subprocess.CompletedProcess[str], dict[str, str]
]:  # fmt: skip
    """One glidein; its result and (kept work dir) glidein_config."""
    collector = RecordingCollector()
    try:
        params = {"GLIDEIN_Collector": collector.address, "GLIDEIN_Standin_Lifetime": "0",
                  "GLIDEIN_DEBUG_OPTIONS": "nocleanup", **params}  # fmt: skip
        result = run_glidein(glidein_argv(*served, run_dir, **params))
    finally:
        collector.close()
    (work_dir,) = run_dir.glob("glide_*")
    lines = (work_dir / "glidein_config").read_text().splitlines()
    return result, dict(line.split(" ", 1) for line in lines if " " in line)


def failure(result: subprocess.CompletedProcess[str]) -> tuple[str, str, str]:
    """(failed script, failure type, detail) from the glidein's summary XML."""
    assert result.returncode == 1
    summary = result.stdout.split("=== XML description of glidein activity ===")[1]
    test_id = re.search(r'<metric name="TestID"[^>]*>(.*?)</metric>', summary)
    kind = re.search(r'<metric name="failure"[^>]*>(.*?)</metric>', summary)
    detail = re.search(r"<detail>(.*?)</detail>", summary, re.S)
    assert test_id and kind and detail, summary
    return test_id[1], kind[1], detail[1]


def vars_of(config: dict[str, str]) -> str:
    return Path(config["CONDOR_VARS_FILE"]).read_text()


def test_required_singularity_missing_on_the_node_fails_with_wn_resource(
    served: tuple[Staging, str], tmp_path: Path
) -> None:
    result, _ = run(served, tmp_path, GLIDEIN_Singularity_Use="REQUIRED")
    script, kind, detail = failure(result)
    assert (script, kind) == ("singularity_setup.sh", "WN_Resource")
    assert "no working Apptainer/Singularity found" in detail
    assert "=== Last script starting" not in result.stdout


def test_preferred_singularity_missing_goes_on_without_it(
    served: tuple[Staging, str], tmp_path: Path
) -> None:
    result, config = run(served, tmp_path, GLIDEIN_Singularity_Use="PREFERRED")
    assert result.returncode == 0, result.stderr
    assert config["HAS_SINGULARITY"] == "False"
    assert config["GWMS_SINGULARITY_STATUS"] == "PREFERRED"
    assert "HAS_SINGULARITY\tC\t-\t+\tN\tY\t-\n" in vars_of(config)  # published in the slot ad


def test_a_vo_refusing_what_the_entry_requires_fails_with_vo_config(
    served: tuple[Staging, str], tmp_path: Path
) -> None:
    result, _ = run(served, tmp_path, GLIDEIN_Singularity_Use="NEVER",
                    GLIDEIN_SINGULARITY_REQUIRE="REQUIRED")  # fmt: skip
    script, kind, detail = failure(result)
    assert (script, kind) == ("singularity_setup.sh", "VO_Config")
    assert "the entry requires Singularity, the VO never uses it" in detail


def test_a_working_apptainer_is_tested_with_the_image_and_published(
    served: tuple[Staging, str], tmp_path: Path
) -> None:
    bin_dir, image = tmp_path / "apptainer" / "bin", tmp_path / "images" / "el9"
    bin_dir.mkdir(parents=True)
    image.mkdir(parents=True)
    (bin_dir / "apptainer").write_text(APPTAINER)
    (bin_dir / "apptainer").chmod(0o755)
    result, config = run(
        served, tmp_path, GLIDEIN_Singularity_Use="REQUIRED", SINGULARITY_BIN=str(bin_dir),
        SINGULARITY_IMAGES_DICT=f"rhel8:/nowhere,rhel9:{image}", SINGULARITY_IMAGE_RESTRICTIONS="none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (bin_dir / "calls").read_text() == f"exec --contain {image} /bin/true\n"
    assert config["HAS_SINGULARITY"] == "True"
    assert config["SINGULARITY_PATH"] == str(bin_dir / "apptainer")
    assert config["SINGULARITY_VERSION"] == "apptainer version 1.3.4"
    assert config["GWMS_SINGULARITY_IMAGE"] == str(image)


def test_required_cvmfs_repositories_missing_fail_with_wn_resource(
    served: tuple[Staging, str], tmp_path: Path
) -> None:
    (tmp_path / "cvmfs" / "oasis.opensciencegrid.org").mkdir(parents=True)
    repos = "oasis.opensciencegrid.org,cms.cern.ch"
    result, _ = run(served, tmp_path, GLIDEIN_CVMFS="REQUIRED", GLIDEIN_CVMFS_REPOS=repos,
                    GLIDEIN_CVMFS_ROOT=str(tmp_path / "cvmfs"))  # fmt: skip
    script, kind, detail = failure(result)
    assert (script, kind) == ("cvmfs_check.sh", "WN_Resource")
    assert detail.endswith(": cms.cern.ch")


@pytest.mark.parametrize(
    ("present", "has", "missing"), [(True, "True", None), (False, "False", "cms.cern.ch")]
)
def test_optional_cvmfs_is_published_present_or_not(
    served: tuple[Staging, str], tmp_path: Path, present: bool, has: str, missing: str | None
) -> None:
    root = tmp_path / "cvmfs"
    (root / "cms.cern.ch" if present else root).mkdir(parents=True)
    result, config = run(served, tmp_path, GLIDEIN_CVMFS="OPTIONAL",
                         GLIDEIN_CVMFS_REPOS="cms.cern.ch", GLIDEIN_CVMFS_ROOT=str(root))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert config["HAS_CVMFS"] == has
    assert config.get("GLIDEIN_CVMFS_MISSING") == missing
