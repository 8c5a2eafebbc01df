"""Validation: every error of a config is reported as file:line, and nothing is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_create_support import EXAMPLE, copy_example, make_web_base, work_dir

from glideinwms_factory.creation.config import ConfigInvalid, load_config
from glideinwms_factory.creation.create import main as create_main
from glideinwms_factory.entry.limits import EntryLimits
from glideinwms_factory.lib.descript import read_descript


def _errors(master: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config(master)
    return [str(issue) for issue in caught.value.issues]


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# (what to break in the example's master config, the expected message, the line's marker)
CASES = {
    "wrong type": (
        '<per_entry glideins="8"',
        '<per_entry glideins="eight"',
        "<per_entry glideins='eight'>: expected an integer",
        "per_entry glideins",
    ),
    "wrong bool": (
        'gridtype="condor"',
        'gridtype="condor" enabled="yes"',
        "<entry enabled='yes'>: expected True or False",
        'name="local_site_a"',
    ),
    "missing required": (
        '<frontend name="vofrontend" identity="frontend@example.org">',
        '<frontend name="vofrontend">',
        "<frontend>: missing required attribute 'identity'",
        "<frontend name=",
    ),
    "empty identity": (
        'identity="frontend@example.org"',
        'identity=""',
        "frontend 'vofrontend': identity must be 'name@domain'",
        "<frontend name=",
    ),
    "bad grid type gt2": (
        'gridtype="condor"',
        'gridtype="gt2"',
        "grid type 'gt2' is no longer supported",
        'name="local_site_a"',
    ),
    "unknown grid type": (
        'gridtype="condor"',
        'gridtype="pbs_direct"',
        "unknown grid type 'pbs_direct'",
        'name="local_site_a"',
    ),
    "backend cannot submit": (
        'gridtype="condor"',
        'gridtype="ec2"',
        "cannot be submitted by the embedded pool backend",
        'name="local_site_a"',
    ),
    "bad pool backend": (
        'pool_backend="embedded"',
        'pool_backend="slurm"',
        "expected one of htcondor, embedded",
        "<glidein ",
    ),
    "cvmfsexec platforms without sources": (
        "<entries>",
        '<cvmfsexec_distro platforms="rhel9-x86_64"/>\n   <entries>',
        "cvmfsexec_distro: platforms given without sources",
        "<cvmfsexec_distro",
    ),
    "no schedd": (
        'schedd_name="schedd_glideins1@localhost"',
        'schedd_name=" , "',
        "schedd_name names no schedd",
        "<glidein ",
    ),
    "newline in value": (
        'value="SiteA"',
        'value="Site&#10;A"',
        "control characters (newlines) are not allowed",
        'value="Site&#10;A"',
    ),
}


# What upstream's parser keeps without effect: a warning naming file:line, never a refusal.
IGNORED = {
    "unknown element": (
        "<monitor base_dir",
        "<monitr_typo/>\n   <monitor base_dir",
        "<glidein>: unknown element <monitr_typo> ignored",
        "monitr_typo",
    ),
    "unknown attribute": (
        'loop_delay="10"',
        'loop_delay="10" loop_dleay="3"',
        "<glidein>: unknown attribute 'loop_dleay' ignored",
        "<glidein ",
    ),
    "unknown entry attribute": (
        'gridtype="condor"',
        'gridtype="condor" site_vo_policy="strict"',
        "<entry>: unknown attribute 'site_vo_policy' ignored",
        'name="local_site_a"',
    ),
}


@pytest.mark.parametrize("case", sorted(IGNORED))
def test_what_upstream_ignores_is_a_warning_with_file_and_line(tmp_path, case):
    old, new, message, marker = IGNORED[case]
    master = copy_example(tmp_path / "cfg")
    _edit(master, old, new)
    line = _line_of(master, marker)
    assert f"{master}:{line}: {message}" in _warnings(master)
    assert "local_site_a" in load_config(master).entries


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_class_names_file_and_line(tmp_path, case):
    old, new, message, marker = CASES[case]
    master = copy_example(tmp_path / "cfg")
    _edit(master, old, new)
    errors = _errors(master)
    line = _line_of(master, marker)
    assert any(e.startswith(f"{master}:{line}: ") and message in e for e in errors), errors


def _warnings(master: Path) -> list[str]:
    return [str(w) for w in load_config(master).warnings]


def test_an_entry_in_a_later_file_replaces_the_earlier_one_with_a_warning(tmp_path):
    master = copy_example(tmp_path / "cfg")
    fragment = master.parent / "config.d" / "10-sites.xml"
    _edit(fragment, 'name="local_site_b"', 'name="local_site_a"')
    marker = 'name="local_site_a"'
    first = f"{master}:{_line_of(master, marker)}"
    assert _warnings(master) == [
        f"{fragment}:{_line_of(fragment, marker)}: <entry> 'local_site_a' replaces the one at {first}"
    ]
    entry = load_config(master).entries["local_site_a"]
    assert entry.grid_type == "arc" and entry.file == str(fragment)


def test_an_undefined_frontend_in_a_whitelist_is_a_warning(tmp_path):
    master = copy_example(tmp_path / "cfg")
    _edit(master, '<allow_frontend name="vofrontend"', '<allow_frontend name="nobody"')
    line = _line_of(master, 'name="local_site_a"')
    assert _warnings(master) == [
        f"{master}:{line}: entry local_site_a: unknown frontend 'nobody' (matches nothing)"
    ]
    assert load_config(master).entries["local_site_a"].allowed_frontends == ["nobody:All"]


def test_malformed_xml_reports_its_line(tmp_path):
    master = copy_example(tmp_path / "cfg")
    _edit(master, "<attrs>", "<attrs><oops>")
    errors = _errors(master)
    assert len(errors) == 1 and errors[0].startswith(f"{master}:") and "malformed XML" in errors[0]


def test_a_fragment_attribute_overrides_the_master_with_a_warning(tmp_path):
    master = copy_example(tmp_path / "cfg")
    fragment = master.parent / "config.d" / "10-sites.xml"
    _edit(fragment, "<glidein>", '<glidein loop_delay="1" entry_parallel_workers="7" typo="x">')
    cfg = load_config(master)
    assert cfg.glidein["loop_delay"] == 1 and cfg.glidein["entry_parallel_workers"] == 7
    assert [str(w) for w in cfg.warnings] == [
        f"{fragment}:2: <glidein loop_delay='1'> replaces '10' set at "
        f"{master}:{_line_of(master, '<glidein ')}",
        f"{fragment}:2: <glidein>: unknown attribute 'typo' ignored",
    ]


def test_all_errors_at_once_and_nothing_on_disk(tmp_path, capsys):
    master = copy_example(tmp_path / "cfg")
    for old, new, _, _ in IGNORED.values():
        _edit(master, old, new)
    for case in ("wrong type", "missing required", "bad grid type gt2"):
        old, new, _, _ = CASES[case]
        _edit(master, old, new)
    root = tmp_path / "root"
    web = make_web_base(tmp_path / "web")
    assert create_main([str(master), "--root", str(root), "--web-base", str(web)]) == 6
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith(f"{master}:")]) == 3
    assert err[-1] == "create_glidein: 3 error(s); nothing was changed"
    assert not root.exists()


def test_a_non_integer_max_walltime_is_a_config_error(tmp_path):
    """job.condor does arithmetic with it: a string walltime must not reach the generator."""
    master = copy_example(tmp_path / "cfg")
    _edit(
        master,
        '<attr name="GLIDEIN_Max_Walltime" value="3600" type="int"/>',
        '<attr name="GLIDEIN_Max_Walltime" value="1h"/>',
    )
    line = _line_of(master, "GLIDEIN_Max_Walltime")
    assert _errors(master) == [
        f"{master}:{line}: attr GLIDEIN_Max_Walltime: value is not an integer"
    ]


def test_bad_input_never_gives_a_traceback(tmp_path):
    script = Path(sys.executable).parent / "create_glidein"
    for args in (
        ["/nonexistent/glideinWMS.xml"],
        [str(EXAMPLE), "--web-base", str(tmp_path / "none")],
    ):
        done = subprocess.run(
            [str(script), *args, "--root", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode in (1, 6)
        assert "Traceback" not in done.stderr and done.stderr.strip()
    assert not (tmp_path / "r" / "var/lib/gwms-factory/work-dir").exists()


def test_no_mutation_of_the_example_crashes_the_validator(tmp_path):
    """Every attribute blanked, garbled, negated or removed: a ConfigInvalid or a valid config."""
    from lxml import etree

    master = copy_example(tmp_path / "cfg")
    original = etree.parse(str(master))
    count = len(original.xpath("//@*"))
    outcomes = {"valid": 0, "invalid": 0}
    for index in range(count):
        for value in ("", "abc", "-1", None):
            tree = etree.parse(str(EXAMPLE))
            element = tree.xpath("//*[@*]")
            attrs = [(el, name) for el in element for name in el.attrib]
            el, name = attrs[index]
            if value is None:
                del el.attrib[name]
            else:
                el.set(name, value)
            tree.write(str(master))
            try:
                load_config(master, tmp_path / "root")
                outcomes["valid"] += 1
            except ConfigInvalid as exc:
                assert all(str(issue).startswith(f"{master}:") for issue in exc.issues)
                outcomes["invalid"] += 1
    assert outcomes["invalid"] > count  # most mutations are caught


HOSTILE_XML = {
    "internal entities": (
        '<!DOCTYPE glidein [<!ENTITY x "big">]>\n',
        "a DOCTYPE (DTD or entities) is not allowed",
    ),
    "external DTD": (
        '<!DOCTYPE glidein SYSTEM "file:///etc/passwd">\n',
        "a DOCTYPE (DTD or entities) is not allowed",
    ),
    "parameter entity": (
        '<!DOCTYPE glidein [<!ENTITY % ext SYSTEM "file:///etc/hostname"> %ext;]>\n',
        "a DOCTYPE (DTD or entities) is not allowed",
    ),
    "billion laughs": (
        "<!DOCTYPE glidein [\n<!ENTITY l0 'lol'>\n"
        + "".join(f"<!ENTITY l{i} '{f'&l{i - 1};' * 10}'>\n" for i in range(1, 11))
        + "]>\n",
        "malformed XML",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_XML))
def test_dtds_and_entities_are_refused(tmp_path, case):
    doctype, message = HOSTILE_XML[case]
    master = copy_example(tmp_path / "cfg")
    text = master.read_text()
    if case == "billion laughs":
        text = text.replace('factory_name="', 'factory_name="&l10;', 1)
    head, _, body = text.partition("\n")
    master.write_text(head + "\n" + doctype + body if head.startswith("<?xml") else doctype + text)
    errors = _errors(master)
    assert len(errors) == 1 and message in errors[0], errors
    assert errors[0].startswith(f"{master}:")


def test_a_yaml_alias_bomb_is_one_config_error(tmp_path, capsys):
    bomb = "".join(
        f"  x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9) if i else '1'}]\n" for i in range(10)
    )
    path = tmp_path / "factory.yaml"
    path.write_text("glidein:\n  factory_name: f\n" + bomb)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    [issue] = [str(i) for i in caught.value.issues]
    assert issue.startswith(f"{path}:") and "aliases (*name) are not allowed" in issue
    root = tmp_path / "root"
    web = make_web_base(tmp_path / "web")
    assert create_main([str(path), "--root", str(root), "--web-base", str(web)]) == 6
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err)


def test_an_overlong_entry_name_is_refused_before_anything_is_written(tmp_path, capsys):
    master = copy_example(tmp_path / "cfg")
    _edit(master, 'name="local_site_a"', f'name="{"a" * 300}"')
    root = tmp_path / "root"
    web = make_web_base(tmp_path / "web")
    assert create_main([str(master), "--root", str(root), "--web-base", str(web)]) == 6
    err = capsys.readouterr().err
    assert "a name of at most 128" in err and "Traceback" not in err
    assert not root.exists()


def test_running_removal_percent_is_set_in_the_master_xml(tmp_path):
    """<remove max_running_percent> reaches job.descript and the entry's limits; entries
    that leave it out keep the default (10 %) and a job.descript without the key."""
    master = copy_example(tmp_path / "cfg")
    _edit(master, '<remove max_per_cycle="5" sleep="0.1"/>', '<remove max_running_percent="25"/>')
    root = tmp_path / "root"
    web = make_web_base(tmp_path / "web")
    assert create_main([str(master), "--root", str(root), "--web-base", str(web)]) == 0
    work = work_dir(root)
    percents = {}
    for path in sorted(work.glob("entry_*/job.descript")):
        descript = read_descript(path)
        percents[path.parent.name] = (
            descript.get("RunningRemovalPercent"),
            EntryLimits.from_descript(descript).running_removal_percent,
        )
    assert percents == {
        "entry_local_site_a": ("25", 25),
        "entry_local_site_b": (None, 10),
        "entry_local_site_c": (None, 10),
    }


@pytest.mark.parametrize("value", ["101", "-1", "ten"])
def test_running_removal_percent_out_of_range_is_a_config_error(tmp_path, value):
    master = copy_example(tmp_path / "cfg")
    _edit(master, '<remove max_per_cycle="5"', f'<remove max_running_percent="{value}"')
    (error,) = _errors(master)
    assert error.startswith(f"{master}:{_line_of(master, 'max_running_percent')}: ")
    assert f"<remove max_running_percent='{value}'>: expected " in error
