"""glideinwms_factory/pages.py: pages whose links all resolve, real PNGs, escaping, a browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import lxml.html
import pytest

from glideinwms_factory.aggregate import aggregate
from glideinwms_factory.entry.stats import EntryStats, EntryStatsWriter
from glideinwms_factory.lib.monitoring_model import ClientStats, CompletedGlidein
from glideinwms_factory.page_html import PAGES
from glideinwms_factory.pages import PageWriter, publish

T0 = 1_700_000_100
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def monitor(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Two entries with half an hour of history, aggregated each cycle, then the pages."""
    tmp = tmp_path_factory.mktemp("pages")
    mon = tmp / "mon"
    writers = {name: EntryStatsWriter(mon, tmp / f"log_{name}", name) for name in ("ce_a", "ce b")}
    for cycle in range(6):
        when = T0 + 300 * cycle
        writers["ce_a"].write(
            EntryStats(
                "ce_a",
                when,
                False,
                {
                    "fe_x": ClientStats(
                        status={"Idle": 2 + cycle, "Running": 3},
                        requested={"Idle": 5, "MaxGlideins": 20},
                        rejected={"bad identity": 1},
                    ),
                    "fe_<y>": ClientStats(status={"Held": 1}),
                },
            ),
            completed=[
                CompletedGlidein(
                    "fe_x", "u", f"{cycle}.0", when, 4000, True, 3900, 2, 3000, 3000, 3000
                )
            ],
        )
        writers["ce b"].write(
            EntryStats("ce b", when, True, {"fe_x": ClientStats(status={"Running": 7})})
        )
        totals = aggregate(mon, ["ce_a", "ce b", "gone"], now=when)
    downtimes = {"ce b": (True, "<script>alert(1)</script> maintenance")}
    pages = PageWriter(mon, factory_name="test").write(totals, downtimes)
    return mon, pages


def test_every_page_is_written_and_every_link_resolves(monitor) -> None:
    mon, pages = monitor
    assert {p.name for p in pages} >= {href for href, _ in PAGES} | {"status.html"}
    assert (mon / "entry_ce b" / "status.html") in pages
    checked = 0
    for page in pages:
        doc = lxml.html.parse(str(page)).getroot()
        for _element, _attr, link, _pos in doc.iterlinks():
            url = urlparse(link)
            assert not url.scheme and not url.netloc, link  # everything is local and relative
            target = (page.parent / unquote(url.path)).resolve()
            assert target.is_file(), f"{page.name}: {link} -> {target}"
            checked += 1
    assert checked > 50


def test_graphs_are_pngs(monitor) -> None:
    mon, _pages = monitor
    graphs = [
        mon / "images" / "total_status_day.png",
        mon / "images" / "total_status_week.png",
        mon / "images" / "total_completed_week.png",
        mon / "images" / "frontend_fe_x_day.png",
        mon / "entry_ce_a" / "status_day.png",
    ]
    for png in graphs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC, png
        assert len(data) > 2000, png
    index = lxml.html.parse(str(mon / "index.html")).getroot()
    assert {img.get("src") for img in index.iter("img")} >= {
        "images/total_status_day.png",
        "images/total_status_week.png",
    }


def test_contents_downtime_and_escaping(monitor) -> None:
    mon, _pages = monitor
    entries = lxml.html.parse(str(mon / "factoryEntryStatusNow.html")).getroot()
    rows = {
        tr[0].text_content(): [td.text_content() for td in tr]
        for tr in entries.iter("tr")
        if tr.find("td") is not None
    }
    assert rows["ce_a"][1:3] == ["7", "3"]  # Idle 2+5, Running 3 at the last cycle
    assert rows["ce b"][-3] == "down"
    assert rows["ce b"][-2] == "<script>alert(1)</script> maintenance"  # shown as text...
    assert not [s for s in entries.iter("script") if "alert" in (s.text or "")]  # ...never run
    index = lxml.html.parse(str(mon / "index.html")).getroot()
    text = index.text_content()
    assert "1 entries in downtime" in text
    assert "gone" in text  # the unreadable entry is reported
    frontends = lxml.html.parse(str(mon / "factoryFrontendStatus.html")).getroot().text_content()
    assert "Client fe_<y>" in frontends
    completed = lxml.html.parse(str(mon / "factoryCompletedStats.html")).getroot()
    sums = {
        tr[0].text_content(): tr[1].text_content()
        for tr in completed.get_element_by_id("sums").iter("tr")
        if tr.find("td") is not None
    }
    assert (
        sums["ce_a"] == "1" and sums["all entries"] == "1"
    )  # one glidein completed in the last cycle
    day = {
        tr[0].text_content(): tr[1].text_content()
        for tr in completed.get_element_by_id("sums_day").iter("tr")
        if tr.find("td") is not None
    }
    assert day["ce_a"] == "6"  # ...and six over the day: one per cycle, none lost
    history = completed.get_element_by_id("history").text_content()
    assert "week" in history
    entry = lxml.html.parse(str(mon / "entry_ce_a" / "status.html")).getroot().text_content()
    assert "bad identity" in entry


CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (install.sh installs it)"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@needs_chromium
def test_a_headless_browser_renders_the_status_page(monitor, tmp_path: Path) -> None:
    mon, _pages = monitor
    shot = tmp_path / "out.png"
    chromium(
        tmp_path, "--window-size=1200,900", f"--screenshot={shot}", (mon / "index.html").as_uri()
    )
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20000  # a page with tables and graphs, not a blank


@needs_chromium
def test_the_script_runs_in_a_browser(monitor, tmp_path: Path) -> None:
    """sort.js loads from the page's relative link and reveals the filter box."""
    mon, _pages = monitor
    dom = chromium(tmp_path, "--dump-dom", (mon / "factoryLogStatus.html").as_uri()).stdout
    (box,) = lxml.html.fromstring(dom).find_class("filter")
    assert box.get("hidden") is None


def test_long_tables_get_a_filter_box_hidden_without_javascript(monitor) -> None:
    mon, _pages = monitor
    doc = lxml.html.parse(str(mon / "factoryLogStatus.html")).getroot()
    (box,) = doc.find_class("filter")
    assert box.get("hidden") is not None and box.get("data-table") == "logs"
    assert doc.get_element_by_id("logs").tag == "table"
    assert (mon / "sort.js").read_text().count("addEventListener") >= 2


def test_publish_runs_a_whole_monitoring_cycle(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    EntryStatsWriter(mon, tmp_path / "log", "ce1").write(
        EntryStats("ce1", T0, False, {"fe": ClientStats(status={"Running": 4})})
    )
    totals = publish(mon, ["ce1"], {"ce1": (True, "upgrade")}, "fact", now=T0)
    assert totals.total.status["Running"] == 4
    assert "gwms_factory_glideins{" in (mon / "metrics.prom").read_text()
    assert "upgrade" in (mon / "entry_ce1" / "status.html").read_text()
    assert (mon / "images" / "total_status_day.png").read_bytes()[:8] == PNG_MAGIC


def test_command_line_cycle(tmp_path: Path) -> None:
    mon = tmp_path / "mon"
    EntryStatsWriter(mon, tmp_path / "log", "ce1").write(
        EntryStats("ce1", T0, False, {"fe": ClientStats(status={"Idle": 2})})
    )
    proc = subprocess.run(
        [sys.executable, "-m", "glideinwms_factory.pages", str(mon)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 entries aggregated, 0 unreadable" in proc.stdout
    assert (mon / "entry_ce1" / "status.html").is_file() and (mon / "metrics.prom").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "glideinwms_factory.pages", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not a directory" in bad.stderr
