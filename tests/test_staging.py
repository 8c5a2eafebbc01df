"""The signed staging area: hashed names, description/list/signature chain, tamper detection."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from test_create_support import EXAMPLE, make_web_base, stage_dir, work_dir

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.config import load_config
from glideinwms_factory.creation.staging import StagingError, build_stage, tagged_name
from glideinwms_factory.lib.descript import read_signatures

SCOPES = ("", "entry_local_site_a/", "entry_local_site_b/", "entry_local_site_c/")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("staging")
    web = make_web_base(base / "web")
    build_tree(EXAMPLE, base / "root", reconfig=False, web_base=web)
    return base / "root"


def _description(directory: Path) -> dict[str, str]:
    [path] = directory.glob("description.*.cfg")
    pairs = [line.split(" \t") for line in path.read_text().splitlines()]
    return {key: value for key, value in pairs} | {"_name": path.name}


def _signed_names(sig_file: Path) -> list[str]:
    return [line.split("  ", 1)[1] for line in sig_file.read_text().splitlines()]


def test_tagged_names_follow_content():
    assert tagged_name("error_gen.sh", b"a") == tagged_name("error_gen.sh", b"a")
    assert tagged_name("error_gen.sh", b"a") != tagged_name("error_gen.sh", b"b")
    assert tagged_name("error_gen.sh", b"a").startswith("error_gen.")
    assert tagged_name("error_gen.sh", b"a").endswith(".sh")
    assert tagged_name("grid-mapfile", b"").startswith("grid-mapfile.")


def test_signature_chain_from_work_dir_to_every_file(tree):
    stage, work = stage_dir(tree), work_dir(tree)
    for sign_type in ("sha1", "sha256"):
        lines = read_signatures(work / f"signatures.{sign_type}")
        assert set(lines) == {
            "main",
            "entry_local_site_a",
            "entry_local_site_b",
            "entry_local_site_c",
        }
        for scope, line in lines.items():
            directory = stage if scope == "main" else stage / scope
            description = _description(directory)
            assert description["_name"] == line.description
            sig_file = directory / description["signature"].replace(".sha1", f".{sign_type}")
            assert hashlib.new(sign_type, sig_file.read_bytes()).hexdigest() == line.digest
            signed = _signed_names(sig_file)
            assert line.description in signed
            for list_id in ("file_list", "precvmfs_file_list", "at_file_list", "after_file_list"):
                if list_id not in description:
                    continue
                assert description[list_id] in signed
                for row in (directory / description[list_id]).read_text().splitlines()[1:]:
                    target, staged, kind = row.split("\t")[:3]
                    assert (directory / staged).is_file(), staged
                    assert (staged in signed) == (kind != "nocache"), (scope, target)


def test_main_description_names_the_lists_and_last_script(tree):
    description = _description(stage_dir(tree))
    assert description["last_script"] == "condor_startup.sh"
    for list_id in ("file_list", "precvmfs_file_list", "at_file_list", "after_file_list"):
        assert description[list_id].startswith(f"{list_id}.") and description[list_id].endswith(
            ".lst"
        )
    entry_list = _description(stage_dir(tree) / "entry_local_site_a")["file_list"]
    rows = [
        r.split("\t")
        for r in (stage_dir(tree) / "entry_local_site_a" / entry_list).read_text().splitlines()[1:]
    ]
    assert [r[0] for r in rows[:4]] == [
        "constants.cfg",
        "condor_vars.lst",
        "untar.cfg",
        "nodes.blacklist",
    ]
    assert rows[3][1:3] == ["nodes.blacklist", "nocache"] and rows[3][6] == "BLACKLIST_FILE"


@pytest.mark.parametrize("sign_type", ["sha1", "sha256"])
def test_one_changed_byte_in_any_staged_file_fails_verification(tree, sign_type):
    """The check glidein_startup.sh makes: `<type>sum -c` against the signature file."""
    checked = 0
    for scope in SCOPES:
        directory = stage_dir(tree) / scope
        [sig_file] = directory.glob(f"signature.*.{sign_type}")
        command = [f"{sign_type}sum", "-c", sig_file.name]
        assert subprocess.run(command, cwd=directory, capture_output=True).returncode == 0
        for name in _signed_names(sig_file):
            path = directory / name
            original = path.read_bytes()
            tampered = bytearray(original or b"\0")
            tampered[len(tampered) // 2] ^= 0x01
            path.write_bytes(bytes(tampered))
            try:
                done = subprocess.run(command, cwd=directory, capture_output=True, text=True)
            finally:
                path.write_bytes(original)
            assert done.returncode != 0, name
            assert f"{name}: FAILED" in done.stdout
            checked += 1
    assert checked > 30


def test_startup_script_carries_the_source_helpers(tree):
    data = (work_dir(tree) / "glidein_startup.sh").read_bytes()
    assert data == (stage_dir(tree) / "glidein_startup.sh").read_bytes()
    script, marker, payload = data.partition(b"#EOF\n")
    assert marker and script.endswith(b"exit 0\n")
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        assert tar.getnames() == ["add_config_line.source"]
    done = subprocess.run(
        ["bash", str(work_dir(tree) / "glidein_startup.sh")], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "glidein\n"


def test_changed_script_gets_a_new_name(tmp_path):
    web = make_web_base(tmp_path / "web")
    cfg = load_config(EXAMPLE, tmp_path / "root")
    before, _ = build_stage(cfg, web)
    again, _ = build_stage(cfg, web)
    assert set(before.files) == set(again.files)  # deterministic
    (web / "setup_checks.sh").write_text("#!/bin/bash\nexit 1\n")
    after, _ = build_stage(cfg, web)
    old = {p for p in before.files if p.startswith("setup_checks.")}
    new = {p for p in after.files if p.startswith("setup_checks.")}
    assert old and new and old != new
    # main lists, description and signature change with it; entries do not
    assert {p for p in before.files if p.startswith("entry_")} == {
        p for p in after.files if p.startswith("entry_")
    }


def test_missing_manifest_script_fails_before_anything_is_written(tmp_path):
    web = make_web_base(tmp_path / "web")
    (web / "check_blacklist.sh").unlink()
    with pytest.raises(
        StagingError, match=r"manifest\.txt:\d+: check_blacklist\.sh is listed but missing"
    ):
        build_tree(EXAMPLE, tmp_path / "root", reconfig=False, web_base=web)
    assert not (tmp_path / "root").exists()


def test_bad_manifest_line_is_reported_with_its_line(tmp_path):
    web = make_web_base(tmp_path / "web")
    with (web / "manifest.txt").open("a") as handle:
        handle.write("main:nowhere  error_gen.sh  regular\n")
    lines = (web / "manifest.txt").read_text().splitlines()
    with pytest.raises(StagingError, match=rf"manifest\.txt:{len(lines)}: expected"):
        build_stage(load_config(EXAMPLE, tmp_path / "root"), web)


def test_configured_files_are_listed_typed_and_signed(tmp_path):
    from test_create_support import copy_example

    master = copy_example(tmp_path / "cfg")
    (master.parent / "check_vo.sh").write_text("#!/bin/sh\nexit 0\n")
    (master.parent / "late.cfg").write_text("X 1\n")
    (master.parent / "live.txt").write_text("changes often\n")
    text = (
        master.read_text()
        .replace(
            "   </attrs>\n   <entries>",
            "   </attrs>\n   <files>\n"
            '      <file absfname="check_vo.sh" executable="True" period="600"/>\n'
            '      <file absfname="late.cfg" after_entry="True"/>\n'
            "   </files>\n   <entries>",
        )
        .replace(
            "      </entry>\n   </entries>",
            '         <files><file absfname="live.txt" const="False"/></files>\n      </entry>\n   </entries>',
        )
    )
    master.write_text(text)
    root = tmp_path / "root"
    build_tree(master, root, reconfig=False, web_base=make_web_base(tmp_path / "web"))
    stage = stage_dir(root)
    description = _description(stage)
    main_rows = {
        r.split("\t")[0]: r.split("\t")
        for r in (stage / description["file_list"]).read_text().splitlines()[1:]
    }
    assert main_rows["check_vo.sh"][2:4] == ["exec", "600"]
    after = (stage / description["after_file_list"]).read_text()
    assert "\nlate.cfg\tlate." in after
    signed = _signed_names(stage / description["signature"])
    assert main_rows["check_vo.sh"][1] in signed
    entry = stage / "entry_local_site_a"
    rows = (entry / _description(entry)["file_list"]).read_text()
    assert "live.txt\tlive.txt\tnocache\t" in rows
    assert (entry / "live.txt").read_text() == "changes often\n"
    assert "live.txt" not in _signed_names(next(entry.glob("signature.*.sha1")))


def test_configured_file_errors(tmp_path):
    from test_create_support import copy_example

    from glideinwms_factory.creation.config import ConfigInvalid

    master = copy_example(tmp_path / "cfg")
    (master.parent / "a.sh").write_text("x")
    master.write_text(
        master.read_text().replace(
            "   </attrs>\n   <entries>",
            '   </attrs>\n   <files>\n      <file absfname="missing.sh"/>\n      <file absfname="a.sh"/>\n'
            '      <file absfname="a.sh"/>\n      <file absfname="a.sh" relfname="constants.cfg"/>\n'
            "   </files>\n   <entries>",
        )
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    messages = [str(i).split(": ", 1)[1] for i in caught.value.issues]
    assert messages == [
        f"file {master.parent / 'missing.sh'} does not exist",
        "staged file name 'a.sh' used twice",
        "cannot stage a file as 'constants.cfg' (set relfname)",
    ]
