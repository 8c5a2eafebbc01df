"""lib/descript.py: the descript formats both the creation tools and the daemons use."""

from __future__ import annotations

import pytest

from glideinwms_factory.lib.descript import (
    DescriptError,
    FrontendInfo,
    SignatureLine,
    read_descript,
    read_frontends,
    read_literals,
    read_signatures,
    write_descript,
    write_frontends,
    write_literals,
    write_signatures,
)


def test_key_value_round_trip_keeps_order_and_spaces(tmp_path):
    path = tmp_path / "glidein.descript"
    values = {"FactoryName": "f1", "Entries": "a,b", "MonitorDisplayText": "two words", "Empty": ""}
    write_descript(path, values)
    assert path.read_text().splitlines()[0] == "FactoryName \tf1"
    assert read_descript(path) == values
    assert list(read_descript(path)) == list(values)


def test_a_tab_alone_separates_key_and_value(tmp_path):
    """Hand-edited lines: "Key<tab>value" is the key Key, not a key holding the whole line."""
    path = tmp_path / "glidein.descript"
    path.write_text("Entries\ta,b\nLoopDelay   60 \nEmpty\n")
    assert read_descript(path) == {"Entries": "a,b", "LoopDelay": "60", "Empty": ""}
    (tmp_path / "params.cfg").write_text("GLIDEIN_CPUS\t8\n")
    assert read_literals(tmp_path / "params.cfg") == {"GLIDEIN_CPUS": 8}


def test_writer_refuses_newlines_and_spaced_keys(tmp_path):
    with pytest.raises(ValueError, match="newline"):
        write_descript(tmp_path / "x", {"Key": "a\nInjected b"})
    with pytest.raises(ValueError, match="invalid descript key"):
        write_descript(tmp_path / "x", {"two words": "v"})
    assert not (tmp_path / "x").exists()


def test_literals_round_trip(tmp_path):
    path = tmp_path / "params.cfg"
    values = {"GLIDEIN_Site": "X 'quoted'", "GLIDEIN_CPUS": 8, "FLAG": True, "L": [1, "a"]}
    write_literals(path, values)
    assert "GLIDEIN_CPUS \t8\n" in path.read_text()
    assert read_literals(path) == values


def test_literals_never_evaluate_code(tmp_path):
    path = tmp_path / "attributes.cfg"
    path.write_text("GOOD \t'x'\n# comment\n\nEVIL \t__import__('os').system('touch pwned')\n")
    with pytest.raises(DescriptError, match=r"attributes\.cfg:4: EVIL: not a Python literal"):
        read_literals(path)
    assert not (tmp_path / "pwned").exists()


def test_frontend_descript_round_trip_and_shape_check(tmp_path):
    path = tmp_path / "frontend.descript"
    frontends = {"fe": FrontendInfo("fe@example.org", {"main": "u1", "test": "u2"})}
    write_frontends(path, frontends)
    assert read_frontends(path) == frontends
    path.write_text("fe \t{'usermap': {}}\n")
    with pytest.raises(DescriptError, match="expected"):
        read_frontends(path)


def test_signatures_round_trip(tmp_path):
    path = tmp_path / "signatures.sha1"
    lines = [
        SignatureLine("ab" * 20, "description.x.cfg", "main"),
        SignatureLine("cd" * 20, "d.y.cfg", "entry_e"),
    ]
    write_signatures(path, lines)
    assert path.read_text().splitlines()[1] == f"{'cd' * 20}  d.y.cfg  entry_e"
    assert read_signatures(path) == {"main": lines[0], "entry_e": lines[1]}
    path.write_text("abc onlytwo\n")
    with pytest.raises(DescriptError, match=r"signatures\.sha1:1:"):
        read_signatures(path)


def test_missing_file_is_a_descript_error(tmp_path):
    with pytest.raises(DescriptError, match="cannot read"):
        read_descript(tmp_path / "absent")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "job.descript"
    write_descript(path, {"A": 1})
    write_descript(path, {"A": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["job.descript"]
    assert read_descript(path) == {"A": "2"}


def test_entry_values_override_factory_values(tmp_path):
    from glideinwms_factory.lib.descript import read_entry_literals

    (tmp_path / "entry_e").mkdir()
    write_literals(tmp_path / "params.cfg", {"A": 1, "B": "factory"})
    write_literals(tmp_path / "entry_e" / "params.cfg", {"B": "entry", "C": True})
    assert read_entry_literals(tmp_path, "e", "params.cfg") == {"A": 1, "B": "entry", "C": True}
    # the entry daemon reads trees where one side has no such file
    assert read_entry_literals(tmp_path, "e", "submit_attrs.cfg") == {}
    assert read_entry_literals(tmp_path, "absent", "params.cfg") == {"A": 1, "B": "factory"}
