"""lib/rrd.py through the binding and through the rrdtool command, checked with `rrdtool`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rrd_helpers import fetch_cmd

from glideinwms_factory.lib.rrd import DataSource, RRDError, RRDTool

T0 = 1_700_000_100  # a multiple of the 300 s step, so samples land on slot boundaries


@pytest.fixture(params=[True, False], ids=["binding", "command"])
def tool(request) -> RRDTool:
    return RRDTool(use_binding=request.param)


def test_create_has_the_spec_layout(tool: RRDTool, tmp_path: Path) -> None:
    path = tmp_path / "a" / "X.rrd"
    tool.create(path, [DataSource("Idle"), DataSource("Done", "ABSOLUTE")], T0 - 300)
    info = subprocess.run(
        ["rrdtool", "info", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "step = 60" in info
    assert 'ds[Idle].type = "GAUGE"' in info and 'ds[Done].type = "ABSOLUTE"' in info
    assert "ds[Idle].minimal_heartbeat = 1800" in info
    assert "ds[Idle].min = NaN" in info and "ds[Idle].max = NaN" in info
    # a fine archive (1 min x 12 h), then upstream's 5 min, 1 h and 12 h archives of 740 rows
    layout = ((1, 720, "5.0"), (5, 740, "8.0"), (60, 740, "9.2"), (720, 740, "9.8"))
    for i, (pdp, rows, xff) in enumerate(layout):
        assert f"rra[{i}].pdp_per_row = {pdp}" in info
        assert f"rra[{i}].rows = {rows}" in info
        assert f"rra[{i}].xff = {xff}" in info
    assert "rra[4]" not in info
    # the coarsest archive spans at least a year
    assert 740 * 720 * 60 >= 365 * 86400
    assert not list(tmp_path.glob("a/.*tmp"))


def test_update_and_fetch_agree_with_the_command(tool: RRDTool, tmp_path: Path) -> None:
    path = tmp_path / "X.rrd"
    tool.create(path, [DataSource("Idle"), DataSource("Done", "ABSOLUTE")], T0 - 300)
    tool.update(path, T0, {"Idle": 7, "Done": 600})
    tool.update(path, T0 + 300, {"Done": 300, "Idle": 9})
    tool.update(path, T0 + 600, {"Idle": None, "Done": 0})
    stored = fetch_cmd(path, T0 - 300, T0 + 600)
    assert stored[T0] == {"Idle": 7.0, "Done": 2.0}  # ABSOLUTE is stored as a rate per second
    assert stored[T0 + 300] == {"Idle": 9.0, "Done": 1.0}
    assert stored[T0 + 600]["Idle"] is None
    series = tool.fetch(path, T0 - 300, T0 + 600)
    assert series.names == ("Idle", "Done")
    assert series.step == 300
    assert series.column("Idle")[:3] == [7.0, 9.0, None]
    assert tool.last(path) == T0 + 600


def test_averages_skip_unknown_slots(tool: RRDTool, tmp_path: Path) -> None:
    path = tmp_path / "X.rrd"
    tool.create(path, [DataSource("Idle")], T0 - 300)
    for i, value in enumerate((2, 4, 6)):
        tool.update(path, T0 + 300 * i, {"Idle": value})
    means = tool.averages(path, T0 + 600, (7200, 86400))
    assert means[7200]["Idle"] == pytest.approx(4.0)
    assert means[86400]["Idle"] == pytest.approx(4.0)


def test_fine_archive_keeps_each_minute(tool: RRDTool, tmp_path: Path) -> None:
    """A new factory's first minutes are visible at 1-minute resolution, not one 5-min mean."""
    path = tmp_path / "X.rrd"
    tool.create(path, [DataSource("Idle"), DataSource("Done", "ABSOLUTE")], T0 - 60)
    for i, idle in enumerate((1, 5, 2, 8, 3)):
        tool.update(path, T0 + 60 * i, {"Idle": idle, "Done": 6 * i})
    series = tool.fetch(path, T0 - 60, T0 + 240, resolution=60)
    assert series.step == 60
    assert series.column("Idle")[:5] == [1.0, 5.0, 2.0, 8.0, 3.0]
    sums = tool.sums(path, T0 + 240, (120, 3600, 7 * 86400))
    assert sums[3600]["Done"] == pytest.approx(6 + 12 + 18 + 24)
    assert sums[120]["Done"] == pytest.approx(18 + 24)  # only the last two minutes
    # a week still counts every glidein, though its hourly row is not complete yet
    assert sums[7 * 86400]["Done"] == pytest.approx(60)


def test_errors_are_rrd_errors(tool: RRDTool, tmp_path: Path) -> None:
    path = tmp_path / "X.rrd"
    with pytest.raises(RRDError, match="bad data-source name"):
        tool.create(path, [DataSource("a;rm -rf")], T0)
    tool.create(path, [DataSource("Idle")], T0 - 300)
    tool.update(path, T0, {"Idle": 1})
    with pytest.raises(RRDError, match="update"):
        tool.update(path, T0, {"Idle": 2})  # same second twice
    with pytest.raises(RRDError):
        tool.update(path, T0 + 300, {"Nope": 2})


def test_graph_is_a_png(tool: RRDTool, tmp_path: Path) -> None:
    path = tmp_path / "X.rrd"
    tool.create(path, [DataSource("Idle")], T0 - 300)
    tool.update(path, T0, {"Idle": 3})
    png = tmp_path / "g.png"
    tool.graph(
        png,
        [
            "--start",
            str(T0 - 3600),
            "--end",
            str(T0),
            f"DEF:i={path}:Idle:AVERAGE",
            "LINE1:i#0000ff:Idle",
        ],
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 500
