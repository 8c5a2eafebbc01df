"""The entry daemon's loop on its own, on the in-process embedded pool (no server): a
request is served, failures after the first iteration are logged and retried, a failure
in the first one is fatal, and leaving invalidates the entry's ads."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import classad2
import pytest
from factory_testlib import (
    FRONTEND,
    SCITOKEN,
    EntrySpec,
    config_xml,
    create,
    free_port,
    frontend_spec,
    processes_under,
)
from waiting import wait_for

from glideinwms_factory.entry.daemon import EntryGroupDaemon
from glideinwms_factory.global_ads import factory_global_ad
from glideinwms_factory.lib.downtimes import Downtime, DowntimeFile
from glideinwms_factory.lib.factory_key import load_keys
from glideinwms_factory.lib.pool import JobAction, PoolError
from glideinwms_factory.lib.pool.connect import Pool
from glideinwms_factory.lib.pool.embedded.auth import ADMIN_IDENTITY
from glideinwms_factory.lib.pool.embedded.inprocess import InProcessPool
from glideinwms_factory.tools.frontend_sim import (
    REQUEST_COMMAND,
    Advertiser,
    build_cycle_ads,
)


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """run() installs its own SIGTERM/SIGINT handlers: give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@dataclass
class Tree:
    """A created factory tree and the in-process pool its entry daemon is given."""

    root: Path
    work: Path
    pool: InProcessPool

    def connect(self, identity: str = "gfactory@localhost") -> Pool:
        return self.pool.pool(identity)

    def ads(self, my_type: str) -> list[classad2.ClassAd]:
        return self.connect().collector.query(f'GlideinMyType =?= "{my_type}"')


@contextlib.contextmanager
def entry_tree(tmp_path: Path, spec: EntrySpec) -> Iterator[Tree]:
    """A tree of one entry `spec` on an in-process pool; its glideins removed at the end."""
    factory = create(tmp_path, config_xml([spec], free_port(), loop_delay=1))
    load_keys(factory.work)
    with InProcessPool(factory.state_dir, slots=1, tick=0.05, kill_grace=0.5) as pool:
        yield Tree(factory.root, factory.work, pool)
        # Glideins are real processes: remove them all and wait until they are gone.
        pool.pool(ADMIN_IDENTITY).schedd("").act(JobAction.REMOVE, "true", "test over")
        wait_for(lambda: not processes_under(factory.root), 30, "glidein processes gone")


@pytest.fixture
def tree(tmp_path):
    with entry_tree(tmp_path, EntrySpec("solo")) as made:
        yield made


def _publish_factory_key(tree: Tree) -> None:
    """The factory's glidefactoryglobal ad, where frontends find its key."""
    keys = load_keys(tree.work)
    global_ad = factory_global_ad(
        "testfactory",
        "gtest",
        keys.current,
        start_time=int(time.time()),
        sequence=0,
        sign_types="sha1",
    )
    tree.connect().collector.advertise([global_ad], "UPDATE_AD_GENERIC")


def test_a_request_is_served_without_a_pool_server(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    daemon.iteration()  # the entry's first ad: what the frontend targets
    _publish_factory_key(tree)
    spec = frontend_spec(
        identity=FRONTEND,
        security_name="vofrontend",
        security_class="frontend",
        idle=3,
        max_glideins=10,
    )
    assert Advertiser(tree.connect(FRONTEND).collector, spec, ["solo"], {}).cycle() == 1

    daemon.iteration()
    glideins = (
        tree.connect().schedd("").query('GlideinEntryName =?= "solo"', ["GlideinClient", "Owner"])
    )
    assert len(glideins) == 3
    assert {(ad["GlideinClient"], ad["Owner"]) for ad in glideins} == {
        ("frontend.main", "gfactory")
    }
    [client_ad] = tree.ads("glidefactoryclient")
    assert client_ad["ReqClientName"] == "frontend.main"
    assert client_ad["GlideinMonitorRequestedIdle"] == 3
    assert client_ad["AuthenticatedIdentity"] == "gfactory@localhost"


def test_later_errors_are_logged_and_retried_then_ads_invalidated(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    real_iteration, calls = daemon.iteration, []

    def flaky(advertise: bool = True) -> None:
        calls.append(advertise)
        if len(calls) == 1:
            real_iteration(advertise)  # advertises the entry
            assert [a["EntryName"] for a in tree.ads("glidefactory")] == ["solo"]
        elif len(calls) == 2:
            raise RuntimeError("bug in a later iteration")
        else:
            os.kill(os.getpid(), signal.SIGTERM)  # as the factory stops its entries

    daemon.iteration = flaky
    assert daemon.run() == 0
    assert len(calls) == 3  # the loop went on after the failure
    errors = "".join(p.read_text() for p in (tree.root / "log").rglob("*_err.*.log"))
    assert "iteration failed" in errors and "RuntimeError: bug in a later iteration" in errors
    assert "retrying in 1 s" in errors
    assert tree.ads("glidefactory") == []  # invalidated on the way out


def test_a_failing_first_iteration_is_fatal(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)

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


def test_hostile_3_11_pickles_are_refused_and_good_requests_served(tree, marker):
    """One cycle, four 3.11 groups: three send hostile pickles, one a good request."""
    from glideinwms_factory.lib import credential_objects as co
    from glideinwms_factory.tools import frontend_ads

    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    daemon.iteration()
    _publish_factory_key(tree)
    frontend = tree.connect(FRONTEND).collector
    hostile = {
        "evil1": b"\x80\x04cf311_marker_mod\nrun\n\x8c\x01x\x85R.",
        "evil2": b"\x80\x04cposix\nsystem\n\x8c\x05touch\x85R.",
        "evil3": co._pickle(co._global("tokens.SciToken") + co._text("x") + b"\x85R"),
    }
    ads = []
    for group in ("good", *hostile):
        spec = frontend_spec(
            identity=FRONTEND,
            group=group,
            security_name="vofrontend",
            security_class="frontend",
            idle=2,
            max_glideins=2,
            protocol="3.11",
            scitoken="eyJhbGciOiJub25lIn0.eyJzY29wZSI6InRlc3QifQ.",
            oaep_digest="sha256",
        )
        [target] = Advertiser(frontend, spec, ["solo"], {}).targets()
        key = frontend_ads.CycleKey.generate(target.factory, "sha256")
        ad = frontend_ads.request_ad(spec, target, key, {})
        if group in hostile:
            ad["GlideinEncParamRequestCredentials"] = key.sym_key.encrypt(hostile[group])
        ads.append(classad2.ClassAd(ad))
    frontend.advertise(ads, "UPDATE_MASTER_AD")

    daemon.iteration()
    glideins = tree.connect().schedd("").query('GlideinEntryName =?= "solo"', ["GlideinClient"])
    assert {ad["GlideinClient"] for ad in glideins} == {"frontend.good"} and len(glideins) == 2
    rejected = daemon.entries["solo"].rejected
    assert rejected == {
        "frontend.evil1": {"refused global 'f311_marker_mod.run'": 1},
        "frontend.evil2": {"refused global 'posix.system'": 1},
        "frontend.evil3": {"REDUCE of 'tokens.SciToken': only enums may be": 1},
    }
    assert not marker.exists()
    [client_ad] = tree.ads("glidefactoryclient")
    assert client_ad["GlideinRequestProtocol"] == "3.11"


def test_one_client_ad_per_client_summed_over_its_credentials(tree):
    """A frontend group sends one request per credential (here two security classes);
    the factory answers with ONE glidefactoryclient ad for the client, its numbers summed
    (two ads would share a Name and the Collector would keep only the last)."""
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    daemon.iteration()
    _publish_factory_key(tree)
    collector = tree.connect(FRONTEND).collector
    request_ads = []
    for security_class, idle in (("frontend", 2), ("testing", 3)):
        spec = frontend_spec(
            identity=FRONTEND,
            security_name="vofrontend",
            security_class=security_class,
            idle=idle,
            max_glideins=10,
        )
        advertiser = Advertiser(collector, spec, ["solo"], {})
        (ad,) = build_cycle_ads(spec, advertiser.targets(), {})[0]
        ad["Name"] = f"{security_class}_{ad['Name']}"  # the frontend's per-credential prefix
        request_ads.append(classad2.ClassAd(ad))
    collector.advertise(request_ads, REQUEST_COMMAND)

    DowntimeFile(daemon.factory.downtimes_file).down(
        Downtime(datetime.now(UTC) - timedelta(minutes=1), None, "solo", comment="maintenance")
    )
    daemon.iteration()
    [client_ad] = tree.ads("glidefactoryclient")
    assert client_ad["ReqClientName"] == "frontend.main"
    assert client_ad["GlideinMonitorRequestedIdle"] == 5  # 2 + 3
    assert client_ad["GlideinMonitorRequestedMaxGlideins"] == 20
    assert client_ad["GLIDEIN_In_Downtime"] is True


def _publish_key(tree: Tree, daemon: EntryGroupDaemon) -> None:
    """The entry's first ad and the factory's key ad, which a frontend needs to ask."""
    daemon.iteration()
    _publish_factory_key(tree)


def _ask(tree: Tree, identity: str = FRONTEND, **spec: object) -> None:
    request = frontend_spec(
        **{
            "identity": identity,
            "security_name": "vofrontend",
            "security_class": "frontend",
            "idle": 3,
            "max_glideins": 10,
            **spec,
        }
    )
    assert Advertiser(tree.connect(identity).collector, request, ["solo"], {}).cycle() == 1


def _glideins(tree: Tree) -> list[classad2.ClassAd]:
    return tree.connect().schedd("").query('GlideinEntryName =?= "solo"', ["GlideinClient"])


def test_a_monitoring_failure_never_stops_submission(tree):
    """Upstream #338: the monitoring writer failing must not fail the iteration."""
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    _ask(tree)
    folder = daemon.entries["solo"].writer.folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    folder.write_text("not a directory")  # every monitoring write now fails
    daemon.iteration()
    assert len(_glideins(tree)) == 3
    assert daemon.entries["solo"].monitoring_failures == 1
    errors = "".join(p.read_text() for p in (tree.root / "log").rglob("*_err.*.log"))
    assert "monitoring not written (1 failure(s) so far)" in errors


def test_requests_of_unknown_identities_cost_one_counter_and_no_folder(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    for i in range(5):
        _ask(tree, identity="mallory@evil.example.org", group=f"g{i}_" + "x" * 200)
    daemon.iteration()
    state = daemon.entries["solo"]
    assert state.rejected == {"unauthorized": {"not from a configured frontend": 5}}
    assert _glideins(tree) == []
    folders = [p.name for p in state.writer.folder.iterdir() if p.is_dir()]
    assert not [name for name in folders if "g0_" in name or "mallory" in name]
    log = "".join(p.read_text() for p in (tree.root / "log").rglob("*.log"))
    skipped = [line for line in log.splitlines() if "skipped" in line and "g0_" in line]
    assert skipped and all(len(line) < 600 for line in skipped)


def test_a_configured_frontends_rejection_is_counted_even_if_its_client_names_no_folder(tree):
    """Found by bench/bench_hostile.py: a rejected request whose ClientName cannot name a
    folder (here it holds '/') was logged but counted nowhere; now a shared counter."""
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    _ask(tree)
    collector = tree.connect(FRONTEND).collector
    [request] = collector.query('GlideinMyType =?= "glideclient"')
    request["ClientName"] = "fe;$(touch /tmp/x)"
    collector.advertise([request], "UPDATE_MASTER_AD")
    daemon.iteration()
    counters = json.loads((daemon.entries["solo"].writer.folder / "counters.json").read_text())
    assert counters["unnameable"]["rejected"] == {
        "ClientName has characters outside [A-Za-z0-9._@-]: 'fe;$(touch /tmp/x)'": 1
    }
    assert _glideins(tree) == []


def test_undefined_request_numbers_are_rejected_not_read_as_two(tree):
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    _ask(tree)
    collector = tree.connect(FRONTEND).collector
    [request] = collector.query('GlideinMyType =?= "glideclient"')
    request["ReqIdleGlideins"] = classad2.ExprTree("undefined")
    request["ReqMaxGlideins"] = classad2.ExprTree("undefined")
    collector.advertise([request], "UPDATE_MASTER_AD")
    daemon.iteration()
    assert _glideins(tree) == []
    [reasons] = daemon.entries["solo"].rejected.values()
    assert reasons == {"ReqIdleGlideins is undefined": 1}


def test_a_refused_submission_takes_no_idle_room(tmp_path):
    """A request whose submission is refused is rejected before the cycle is planned:
    the entry's idle room (2 here) goes to the request that can be served."""
    with entry_tree(tmp_path, EntrySpec("solo", max_idle=2)) as tree:
        daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
        _publish_key(tree, daemon)
        _ask(tree, group="a", idle=2, params={"GLIDEIN_MULTIGLIDEIN": "2"})
        _ask(tree, group="b", idle=2)
        daemon.iteration()
        assert [ad["GlideinClient"] for ad in _glideins(tree)] == ["frontend.b"] * 2
        [reasons] = daemon.entries["solo"].rejected.values()
        assert list(reasons) == [
            "parameter GLIDEIN_MULTIGLIDEIN is the factory's to set (each glidein process "
            "it starts would run uncounted)"
        ]


class _Schedd:
    """The real in-process schedd, whose answers the test can spoil."""

    def __init__(self, real) -> None:
        self.real = real
        self.truncate = False
        self.lose_submit_answer = False

    def query(self, constraint="true", projection=()):
        rows = self.real.query(constraint, projection)
        return [] if self.truncate else rows

    def submit(self, description, count=1, attrs=None):
        self.real.submit(description, count, attrs)
        if self.lose_submit_answer:
            raise PoolError("no answer to /v1/schedd/submit within 30 s")
        return 1

    def act(self, action, jobs, reason=""):
        return self.real.act(action, jobs, reason)


def _spoiled(tree: Tree) -> tuple[Callable[[], Pool], _Schedd]:
    real = tree.connect()
    schedd = _Schedd(real.schedd(""))
    return (lambda: Pool(real.collector, "embedded", make_schedd=lambda _name: schedd)), schedd


def test_a_truncated_queue_answer_means_no_action_and_the_ad_says_so(tmp_path):
    with entry_tree(tmp_path, EntrySpec("solo", max_glideins=30, max_idle=20)) as tree:
        connect, schedd = _spoiled(tree)
        daemon = EntryGroupDaemon(tree.work, ["solo"], connect=connect)
        _publish_key(tree, daemon)
        _ask(tree, idle=12, max_glideins=20)
        daemon.iteration()
        assert len(_glideins(tree)) == 12
        daemon.iteration()  # the queue is as submitted (one may have started): trusted
        assert [a["GlideinQueueProblem"] for a in tree.ads("glidefactory")] == [""]
        queued = len(_glideins(tree))
        schedd.truncate = True  # all glideins missing: accounting alone would submit 12 more
        daemon.iteration()
        assert len(_glideins(tree)) == queued
        [ad] = tree.ads("glidefactory")
        assert "vanished at once" in ad["GlideinQueueProblem"]
        errors = "".join(p.read_text() for p in (tree.root / "log").rglob("*_err.*.log"))
        assert "queue answer not trusted, no submission or removal this cycle" in errors


def test_a_submit_whose_answer_was_lost_is_recognised_not_repeated(tree):
    connect, schedd = _spoiled(tree)
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=connect)
    _publish_key(tree, daemon)
    _ask(tree, idle=3, max_glideins=3)
    schedd.lose_submit_answer = True
    with pytest.raises(PoolError):
        daemon.iteration()
    schedd.lose_submit_answer = False
    daemon.iteration()
    daemon.iteration()
    glideins = tree.connect().schedd("").query('GlideinEntryName =?= "solo"', ["GlideinCycleId"])
    assert len(glideins) == 3 and len({ad["GlideinCycleId"] for ad in glideins}) == 1
    log = "".join(p.read_text() for p in (tree.root / "log").rglob("*.log"))
    assert "recognised 3 glidein(s) of cycle" in log


def test_a_request_ad_hidden_behind_another_of_the_same_name_is_rejected_with_a_reason(tree):
    """Every ad the request query returns is served or rejected with a reason: of two
    ads with one Name (another MyType, same GlideinMyType), the one not served says so."""
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    _ask(tree)
    collector = tree.connect(FRONTEND).collector
    [request] = collector.query('GlideinMyType =?= "glideclient"')
    request["MyType"] = "glideclient2"
    collector.advertise([request], "UPDATE_MASTER_AD")
    daemon.iteration()
    assert len(_glideins(tree)) == 3  # one of them is served
    [reasons] = daemon.entries["solo"].rejected.values()
    assert reasons == {"another request ad has the same Name": 1}


def test_a_3_10_request_without_any_scitoken_is_skipped_and_counted(tree):
    """The entry's auth method is `scitoken`: a 3.10 group holding no SciToken is skipped
    with its reason, logged and counted, while in the same cycle a 3.10 group sending one
    and a 3.11 group (its SciToken pickled, no 3.10 token file) are served."""
    daemon = EntryGroupDaemon(tree.work, ["solo"], connect=tree.connect)
    _publish_key(tree, daemon)
    one = {"idle": 1, "max_glideins": 1}
    _ask(tree, group="notoken", scitoken=None, **one)
    _ask(tree, group="token", **one)
    _ask(tree, group="g311", protocol="3.11", scitoken=SCITOKEN, oaep_digest="sha256", **one)
    daemon.iteration()
    assert sorted(ad["GlideinClient"] for ad in _glideins(tree)) == [
        "frontend.g311",
        "frontend.token",
    ]
    reason = (
        "auth method scitoken needs a SciToken: none in this request (frontend_scitoken) "
        "nor kept from an earlier one (credential_frontend.notoken_solo.scitoken)"
    )
    assert daemon.entries["solo"].rejected == {"frontend.notoken": {reason: 1}}
    logs = "".join(p.read_text() for p in (tree.root / "log").rglob("*.log"))
    assert re.search(r"request \S+@frontend\.notoken skipped: " + re.escape(reason), logs)
