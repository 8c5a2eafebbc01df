"""The entry daemon's command line on a broken tree: one line and exit 6, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.__main__ import main


def test_a_tree_without_the_entrys_signature_line_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port()))
    signatures = tree.work / "signatures.sha1"
    lines = signatures.read_text().splitlines(keepends=True)
    signatures.write_text(
        "".join(line for line in lines if not line.rstrip().endswith("entry_ce1"))
    )

    assert main(["--root", str(tree.work), "--entry", "ce1", "--once"]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "signatures.sha1" in err[0] and "entry_ce1" in err[0]


def test_a_malformed_num_factories_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = create(tmp_path, config_xml([EntrySpec("ce1")], free_port()))
    job = tree.work / "entry_ce1" / "job.descript"
    job.write_text(job.read_text() + "NumFactories \ttwo\n")

    assert main(["--root", str(tree.work), "--entry", "ce1", "--once"]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NumFactories" in err[0]
