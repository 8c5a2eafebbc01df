"""The entry daemon's loop on its own: failures after the first iteration are logged and
retried, a failure in the first one is fatal, and leaving invalidates the entry's ads."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from factory_testlib import EntrySpec, config_xml, create, free_port

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool.connect import ensure_factory_token
from glideinwms_factory.lib.pool.embedded import control


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """run() installs its own SIGTERM/SIGINT handlers: give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def tree(tmp_path):
    factory = create(tmp_path, config_xml([EntrySpec("solo")], free_port(), loop_delay=1))
    control.start(factory.state_dir)
    ensure_factory_token(factory.state_dir)
    load_keys(factory.work)
    yield factory
    control.stop(factory.state_dir)


def test_later_errors_are_logged_and_retried_then_ads_invalidated(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"])
    real_iteration, calls = daemon.iteration, []

    def flaky(advertise: bool = True) -> None:
        calls.append(advertise)
        if len(calls) == 1:
            real_iteration(advertise)  # advertises the entry
            assert [a["EntryName"] for a in tree.ads("glidefactory")] == ["solo"]
        elif len(calls) == 2:
            raise RuntimeError("bug in a later iteration")
        else:
            daemon._stop = True

    daemon.iteration = flaky
    assert daemon.run() == 0
    assert len(calls) == 3  # the loop went on after the failure
    errors = "".join(p.read_text() for p in (tree.root / "log").rglob("*_err.*.log"))
    assert "iteration failed" in errors and "RuntimeError: bug in a later iteration" in errors
    assert "retrying in 1 s" in errors
    assert tree.ads("glidefactory") == []  # invalidated on the way out


def test_a_failing_first_iteration_is_fatal(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"])

    def broken(advertise: bool = True) -> None:
        raise RuntimeError("bad configuration")

    daemon.iteration = broken
    with pytest.raises(RuntimeError, match="bad configuration"):
        daemon.run()


def test_a_malformed_number_in_glidein_descript_is_one_line_at_start(tmp_path):
    factory = create(tmp_path, config_xml([EntrySpec("solo")], free_port()))
    descript = factory.work / "glidein.descript"
    descript.write_text(descript.read_text().replace("LoopDelay \t1", "LoopDelay \tsoon"))
    for module in ("glideinwms_factory.factory", "glideinwms_factory.entry"):
        args = ["--root", str(factory.work)] + (["--entry", "solo"] if "entry" in module else [])
        done = subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 6, done.stderr
        assert "LoopDelay 'soon' is not a number" in done.stderr
        assert "Traceback" not in done.stderr
