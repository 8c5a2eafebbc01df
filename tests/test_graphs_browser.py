"""factoryGraphs.html in a real headless Chromium: graphs drawn with data points from the
graphs_<range>.js files, range, entry and frontend switching, no console error; from
file:// and from the factory's web server. The RRD browser and entry matrix pages too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cdp import Browser

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.monitoring_model import ClientStats, CompletedGlidein
from glideinwms_factory.lib.rrd import RRDTool
from glideinwms_factory.pages import PageWriter

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CYCLES, STEP = 100, 120  # over three hours of entry cycles, so 1h and 6h differ


@pytest.fixture(scope="module")
def mon(tmp_path_factory) -> Path:
    """Two entries and two frontends, three hours of history ending now, then the pages."""
    tmp = tmp_path_factory.mktemp("graphs")
    mon = tmp / "mon"
    rrd = RRDTool()
    writers = {e: EntryStatsWriter(mon, tmp / f"log_{e}", e, rrd) for e in ("ce_a", "ce b")}
    start = int(time.time()) - STEP * CYCLES
    for cycle in range(CYCLES + 1):
        when = start + STEP * cycle
        for index, (name, writer) in enumerate(writers.items()):
            clients = {
                "fe_x": ClientStats(
                    status={"Idle": 2 + cycle % 5 + index, "Running": cycle // 10},
                    requested={"Idle": 6, "MaxGlideins": 30},
                    rejected={"bad identity": cycle % 3},
                ),
                "fe_y": ClientStats(status={"Held": 1 + index}),
            }
            done = [
                CompletedGlidein("fe_x", "u", f"{cycle}.0", when, 4000, True, 3900, 2, 3000, 2900)
            ]
            writer.write(EntryStats(name, when, False, clients), completed=done)
        if cycle % 5 == 0 or cycle == CYCLES:  # the factory loops less often
            totals = aggregate(mon, list(writers), now=when, rrd=rrd)
    (mon / "descript.xml").write_text(
        '<glideFactoryDescript><factory MonitorDisplayText="Operated by the test site"'
        ' MonitorLink="https://example.org/ops"/></glideFactoryDescript>'
    )
    PageWriter(mon, rrd, "test").write(totals)
    return mon


@pytest.fixture
def browser(tmp_path: Path):
    browser = Browser(tmp_path / "profile")
    yield browser
    browser.close()


def points(browser: Browser) -> dict[str, int]:
    return browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('div.graph'))"
        ".map(b => [b.id, Number(b.getAttribute('data-points'))]))"
    )


def drawn(browser: Browser, range_name: str) -> dict[str, int]:
    browser.wait_for(f"document.body.getAttribute('data-drawn') === '{range_name}'")
    return points(browser)


def test_graphs_drawn_and_switched_from_file(mon: Path, browser: Browser, tmp_path: Path) -> None:
    browser.open((mon / "factoryGraphs.html").as_uri())
    six = drawn(browser, "6h")
    # every graph has data points and a canvas drawn by the chart library
    assert all(six[f"graph-{g}"] > 0 for g in ("status", "requested", "lifetime", "rejected"))
    assert browser.evaluate("document.querySelectorAll('div.graph canvas').length") >= 5
    shot = browser.screenshot(tmp_path / "graphs_6h.png")
    assert shot[:8] == PNG_MAGIC and len(shot) > 30000
    legend = browser.evaluate("document.getElementById('graph-status').textContent")
    assert "StatusIdle" in legend and "StatusRunning" in legend
    assert "bad identity" in browser.evaluate(
        "document.getElementById('graph-rejected').textContent"
    )

    browser.evaluate("document.querySelector(\"button[data-range='1h']\").click()")
    hour = drawn(browser, "1h")
    # three hours of history: the last hour holds about a third of the 6-hour points
    assert 0 < hour["graph-status"] < six["graph-status"] * 0.6
    assert browser.evaluate("location.search").count("range=1h") == 1

    status_all = browser.evaluate("document.getElementById('graph-status').textContent")
    browser.evaluate(
        "var s = document.getElementById('select-frontend'); s.value = 'fe_y';"
        "s.dispatchEvent(new Event('change'))"
    )
    only_y = drawn(browser, "1h")
    assert only_y["graph-status"] > 0
    browser.evaluate(
        "var s = document.getElementById('select-entry'); s.value = 'ce b';"
        "s.dispatchEvent(new Event('change'))"
    )
    assert drawn(browser, "1h")["graph-status"] > 0
    assert "entry=ce+b" in browser.evaluate("location.search")
    assert status_all
    browser.screenshot(tmp_path / "graphs_1h_ce_b_fe_y.png")
    assert browser.errors == []


def test_a_missing_choice_says_so_without_errors(mon: Path, browser: Browser) -> None:
    browser.open((mon / "factoryGraphs.html").as_uri() + "?entry=ce_a&frontend=nobody&range=day")
    browser.wait_for("document.body.getAttribute('data-drawn') === 'none'")
    assert "No history" in browser.evaluate("document.getElementById('graph-message').textContent")
    # the failed script load is the only error the browser reports
    assert all("graphs_day.js" in e or "ERR_FILE_NOT_FOUND" in e for e in browser.errors)


def test_graph_data_match_the_rrds(mon: Path) -> None:
    """The data the browser draws are the RRD values: the last Running level is the one
    the last cycle wrote (CYCLES // 10 per entry, two entries)."""
    text = (mon / "total" / "graphs_1h.js").read_text()
    assert text.startswith("gwmsGraphData(") and text.rstrip().endswith(");")
    data = json.loads(text[len("gwmsGraphData(") : text.rstrip().rindex(")")])
    running = [v for v in data["graphs"]["status"]["StatusRunning"] if v is not None]
    assert running[-1] == pytest.approx(2 * (CYCLES // 10), abs=2)
    assert data["step"] == 60 and len(data["t"]) <= 61


def test_pages_served_by_the_web_server(mon: Path, browser: Browser) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "glideinwms_factory.webserver", "--port", "0", f"/monitor={mon}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = proc.stdout.readline().strip()
        browser.open(f"http://{address}/monitor/factoryGraphs.html?range=week")
        assert drawn(browser, "week")["graph-status"] > 0
        browser.open(f"http://{address}/monitor/factoryRRDEntryMatrix.html")
        browser.wait_for("document.readyState === 'complete'")
        cells = browser.evaluate(
            "Array.from(document.querySelectorAll('#matrix td a')).map(a => a.textContent)"
        )
        assert f"{CYCLES // 10} / 2 / 0" in cells  # ce_a, fe_x: running / idle / held now
        footer = browser.evaluate("document.querySelector('footer a').href")
        assert footer == "https://example.org/ops"
        browser.open(f"http://{address}/monitor/factoryRRDBrowse.html")
        browser.wait_for("document.readyState === 'complete'")
        links = browser.evaluate(
            "Array.from(document.querySelectorAll('#rrds a')).map(a => a.getAttribute('href'))"
        )
        assert "entry_ce%20b/frontend_fe_y/Status_Attributes.rrd" in links
        assert "entry_ce%20b/total/Log_Completed.rrd" in links
        assert "total/frontend_fe_y/Log_Counts.rrd" in links
        assert any(link.startswith("factoryGraphs.html?entry=ce+b&frontend=&") for link in links)
        assert any(link.startswith("factoryGraphs.html?entry=&frontend=fe_y") for link in links)
        assert browser.errors == []
    finally:
        proc.terminate()
        proc.wait(10)
