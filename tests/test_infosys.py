"""Downtimes from an information system: the file source, CE host matching, and the sync
of a real downtime file; then `factory_startup infosysdown` on a created tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factory_testlib import EntrySpec, Factory, config_xml, create, free_port

from glideinwms_factory.infosys import (
    FileInfoSource,
    InfoSourceError,
    gatekeeper_host,
    sync_downtimes,
)
from glideinwms_factory.lib.downtimes import Downtime, DowntimeFile, entry_down

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
GATEKEEPERS = {
    "ce1": "ce1.example.org ce1.example.org:9619",
    "ce2": "ce2.example.org ce2.example.org:9619",
    "arc": "https://arc.example.org:443/arex",
}


@pytest.mark.parametrize(
    ("gatekeeper", "host"),
    [
        ("ce1.example.org ce1.example.org:9619", "ce1.example.org"),  # condor: schedd collector
        ("CE.Example.ORG:2119/jobmanager-pbs", "ce.example.org"),
        ("hufnagel@cori01-224.nersc.gov", "cori01-224.nersc.gov"),  # batch: user@host
        ("x509://fclheadgpvm01.fnal.gov:8444/", "fclheadgpvm01.fnal.gov"),  # ec2, real config
        ("https://user@arc.example.org:443/arex", "arc.example.org"),
        ("", ""),
    ],
)
def test_gatekeeper_host(gatekeeper: str, host: str) -> None:
    assert gatekeeper_host(gatekeeper) == host


def test_file_source(tmp_path: Path) -> None:
    source = tmp_path / "down.txt"
    source.write_text(
        "# exported from the site calendar\n"
        "CE1.Example.org   scheduled maintenance  # ticket 42\n"
        "\n"
        "ce2.example.org\n"
    )
    assert FileInfoSource(source).down_gatekeepers() == {
        "ce1.example.org": "scheduled maintenance",
        "ce2.example.org": "declared down",
    }
    # An unreadable source is an error, never "every CE is back".
    for unreadable in (tmp_path / "missing.txt", tmp_path):
        with pytest.raises(InfoSourceError, match="cannot read information source"):
            FileInfoSource(unreadable).down_gatekeepers()


def sync(tmp_path: Path, listed: str, dt_file: DowntimeFile, now: datetime) -> list[str]:
    source = tmp_path / "source.txt"
    source.write_text(listed)
    return sync_downtimes(FileInfoSource(source), GATEKEEPERS, dt_file, now)


def infosys_lines(dt_file: DowntimeFile) -> list[Downtime]:
    return [d for d in dt_file.read().downtimes if d.comment.startswith("infosys:")]


def test_listed_ce_goes_down_once_and_comes_back_up(tmp_path: Path) -> None:
    dt_file = DowntimeFile(tmp_path / "glideinWMS.downtimes")
    listing = "ce1.example.org CE drained\narc.example.org\n"
    changes = sync(tmp_path, listing, dt_file, T0)
    assert changes == ["arc down: declared down", "ce1 down: CE drained"]
    later = T0 + timedelta(minutes=1)
    parsed = dt_file.read().downtimes
    assert entry_down(parsed, "ce1", later).comment == "infosys: CE drained"
    assert entry_down(parsed, "arc", later) is not None
    assert entry_down(parsed, "ce2", later) is None

    text = (tmp_path / "glideinWMS.downtimes").read_text()
    assert sync(tmp_path, listing, dt_file, later) == []  # listed again: nothing added
    assert (tmp_path / "glideinWMS.downtimes").read_text() == text

    back = T0 + timedelta(minutes=2)
    assert sync(tmp_path, "arc.example.org\n", dt_file, back) == ["ce1 up"]
    parsed = dt_file.read().downtimes
    after = back + timedelta(seconds=1)
    assert entry_down(parsed, "ce1", after) is None
    assert entry_down(parsed, "arc", after) is not None
    closed = [d for d in infosys_lines(dt_file) if d.entry == "ce1"]
    assert [d.end for d in closed] == [back]

    # Listed anew after it came back: a new downtime, the closed one stays as history.
    again = T0 + timedelta(minutes=3)
    assert sync(tmp_path, listing, dt_file, again) == ["ce1 down: CE drained"]
    assert len([d for d in infosys_lines(dt_file) if d.entry == "ce1"]) == 2


def test_delisting_leaves_the_operators_downtime_open(tmp_path: Path) -> None:
    dt_file = DowntimeFile(tmp_path / "glideinWMS.downtimes")
    operator = Downtime(T0, T0 + timedelta(days=1), "ce1", "vofrontend", comment="VO asked")
    assert dt_file.down(operator)
    assert sync(tmp_path, "ce1.example.org\n", dt_file, T0 + timedelta(minutes=1)) == [
        "ce1 down: declared down"
    ]
    back = T0 + timedelta(minutes=2)
    assert sync(tmp_path, "", dt_file, back) == ["ce1 up"]
    after = back + timedelta(seconds=1)
    still_open = [d for d in dt_file.read().downtimes if d.active(after)]
    assert still_open == [operator]
    assert sync(tmp_path, "", dt_file, after) == []  # nothing left of ours to close


def test_operators_open_downtime_already_covers_the_entry(tmp_path: Path) -> None:
    """Nothing is added under a covering downtime, and nothing is reported as changed."""
    dt_file = DowntimeFile(tmp_path / "glideinWMS.downtimes")
    assert dt_file.down(Downtime(T0, None, "ce2", comment="site gone"))
    text = (tmp_path / "glideinWMS.downtimes").read_text()
    assert sync(tmp_path, "ce2.example.org\n", dt_file, T0 + timedelta(minutes=1)) == []
    assert (tmp_path / "glideinWMS.downtimes").read_text() == text


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    specs = [EntrySpec("ce1"), EntrySpec("ce2")]
    return create(tmp_path_factory.mktemp("infosys"), config_xml(specs, free_port()))


def test_factory_startup_infosysdown(tree: Factory, tmp_path: Path) -> None:
    """The tree's own factory_startup script, as an operator's cron job runs it."""
    source = tmp_path / "down.txt"
    source.write_text("CE.ce1.example.org  storage outage\n")
    done = tree.startup("infosysdown", "-source", str(source))
    assert done.stdout.splitlines() == ["ce1 down: storage outage"]
    status = tree.startup("statusdown", "-entry", "ce1").stdout
    assert status.startswith("ce1") and "Down" in status
    assert "Up" in tree.startup("statusdown", "-entry", "ce2").stdout

    assert tree.startup("infosysdown", "-source", str(source)).stdout == ""  # nothing new

    source.write_text("# all clear\n")
    assert tree.startup("infosysdown", "-source", str(source)).stdout.splitlines() == ["ce1 up"]
    assert "Up" in tree.startup("statusdown", "-entry", "ce1").stdout


def test_factory_startup_infosysdown_bad_option(tree: Factory) -> None:
    done = tree.startup("infosysdown", "-sauce", "x", check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_factory_startup_infosysdown_missing_source_changes_nothing(
    tree: Factory, tmp_path: Path
) -> None:
    source = tmp_path / "down.txt"
    source.write_text("ce1.example.org maintenance\n")
    tree.startup("infosysdown", "-source", str(source))
    before = tree.startup("statusdown", "-entry", "All").stdout
    done = tree.startup("infosysdown", "-source", str(tmp_path / "typo.txt"), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("no downtime changed") and "Traceback" not in done.stderr
    assert tree.startup("statusdown", "-entry", "All").stdout == before
