"""The real pool daemon on loopback, through the client backend and raw HTTP."""

from __future__ import annotations

import http.client
import socket
import threading

import classad2
import pytest
from pool_testlib import running_pool
from waiting import wait_for

from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.embedded.client import EmbeddedCollector, find_pool_address
from glideinwms_factory.lib.pool.embedded.http_api import MAX_BODY


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with running_pool(tmp_path_factory.mktemp("pool")) as running:
        yield running


def factory_ad(name: str, **extra) -> classad2.ClassAd:
    return classad2.ClassAd(
        {"MyType": "glidefactory", "GlideinMyType": "glidefactory", "Name": name, **extra}
    )


def raw(pool, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = pool.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_advertise_query_projection_invalidate(pool):
    collector = EmbeddedCollector(pool.address, pool.token())
    collector.advertise([factory_ad(f"e{i}@g@f", Slots=i) for i in range(5)])
    found = collector.query('GlideinMyType == "glidefactory" && Slots >= 3', ["Name", "Slots"])
    assert sorted((a["Name"], a["Slots"]) for a in found) == [("e3@g@f", 3), ("e4@g@f", 4)]
    assert all(set(a.keys()) == {"Name", "Slots"} for a in found)
    collector.invalidate('GlideinMyType == "glidefactory" && Slots < 2')
    left = collector.query('GlideinMyType =?= "glidefactory" && Slots =!= undefined', ["Name"])
    assert sorted(a["Name"] for a in left) == ["e2@g@f", "e3@g@f", "e4@g@f"]
    # Bookkeeping HTCondor's Collector adds.
    (ad,) = collector.query('Name == "e2@g@f"')
    assert ad["UpdatesTotal"] == 1 and isinstance(ad["LastHeardFrom"], int)
    collector.advertise([factory_ad("e2@g@f", Slots=9)])
    (ad,) = collector.query('Name == "e2@g@f"')
    assert (ad["Slots"], ad["UpdatesTotal"]) == (9, 2)


def test_generic_invalidation_keeps_ads_of_another_type_as_htcondor_does(pool):
    """The factory's shutdown query names no type: its TargetType is glidefactory (§6)."""
    collector = EmbeddedCollector(pool.address, pool.token())
    entry = factory_ad("e@shut@f", FactoryName="f", GlideinName="shut")
    global_ad = classad2.ClassAd(
        {
            "MyType": "glidefactoryglobal",
            "GlideinMyType": "glidefactoryglobal",
            "Name": "shut@f",
            "FactoryName": "f",
            "GlideinName": "shut",
        }
    )
    collector.advertise([entry, global_ad])
    collector.invalidate('(FactoryName =?= "f")&&(GlideinName =?= "shut")')
    left = collector.query('GlideinName =?= "shut"', ["Name"])
    assert [a["Name"] for a in left] == ["shut@f"]


def test_identity_is_stamped_from_the_token_not_the_ad(pool):
    evil = classad2.ClassAd(
        {"MyType": "glideclient", "Name": "spoof@g@f", "AuthenticatedIdentity": "f@example.org"}
    )
    EmbeddedCollector(pool.address, pool.token("frontend@example.org")).advertise([evil])
    (ad,) = EmbeddedCollector(pool.address).query('Name == "spoof@g@f"')
    assert ad["AuthenticatedIdentity"] == "frontend@example.org"


def test_writes_need_a_valid_token_queries_do_not(pool):
    with pytest.raises(PoolError, match="needs a token"):
        EmbeddedCollector(pool.address).advertise([factory_ad("x@g@f")])
    forged = pool.token()[:-4] + "AAAA"
    with pytest.raises(PoolError, match="401 bad token"):
        EmbeddedCollector(pool.address, forged).advertise([factory_ad("x@g@f")])
    status, _ = raw(
        pool,
        "POST",
        "/v1/collector/advertise",
        b'MyType = "t"\nName = "x"\n',
        {"Authorization": "Basic abc"},
    )
    assert status == 401
    assert EmbeddedCollector(pool.address).query('Name == "x@g@f"') == []
    assert EmbeddedCollector(pool.address).query('MyType == "Collector"')[0]["DaemonStartTime"] > 0


def test_curl_style_advertise_of_old_syntax_text(pool):
    body = b'MyType = "glideclient"\nName = "c@fe.g"\nReqGlidein = "e1@g@f"\nReqIdleGlideins = 7\n'
    status, text = raw(
        pool,
        "POST",
        "/v1/collector/advertise?command=UPDATE_MASTER_AD",
        body,
        {"Authorization": f"Bearer {pool.token()}"},
    )
    assert (status, text) == (200, "stored 1\n")
    status, text = raw(
        pool, "GET", "/v1/collector/query?constraint=ReqIdleGlideins%3D%3D7&projection=Name"
    )
    assert (status, text) == (200, '[ Name = "c@fe.g" ]\n')


def test_ads_expire_after_their_lifetime(pool):
    collector = EmbeddedCollector(pool.address, pool.token())
    collector.advertise([factory_ad("short@g@f", ClassAdLifetime=1), factory_ad("long@g@f")])
    assert len(collector.query('Name == "short@g@f"')) == 1
    wait_for(lambda: not collector.query('Name == "short@g@f"'), timeout=5)
    assert len(collector.query('Name == "long@g@f"')) == 1
    wait_for(lambda: "expired" in pool.log_text(), timeout=5)


BAD_REQUESTS = [
    (
        "POST",
        "/v1/collector/advertise",
        b'MyType = "t"\nName = "n"\nthis is not an attribute\n',
        400,
        "not an 'Attr = value' line",
    ),
    (
        "POST",
        "/v1/collector/advertise",
        b'MyType = "t"\nName = "n"\nX = (1 +\n',
        400,
        "syntax error",
    ),
    ("POST", "/v1/collector/advertise", b'Name = "no type"\n', 400, "no string MyType and Name"),
    (
        "POST",
        "/v1/collector/advertise?command=UPDATE_EVERYTHING",
        b'MyType = "t"\nName = "n"\n',
        400,
        "unknown update command",
    ),
    (
        "POST",
        "/v1/collector/advertise",
        b"X = " + b"1" * (1024 * 1024 + 10) + b"\n",
        413,
        "larger than",
    ),
    (  # the limit is in bytes: 600 Ki two-byte characters are 1.2 MiB
        "POST",
        "/v1/collector/advertise",
        'MyType = "t"\nName = "n"\nX = "{}"\n'.format("\u00e9" * 600 * 1024).encode(),
        413,
        "larger than",
    ),
    ("POST", "/v1/collector/advertise", b"\xff\xfe", 400, "not UTF-8"),
    ("POST", "/v1/collector/invalidate", b'MyType = "Query"\n', 400, "no Requirements"),
    ("POST", "/v1/collector/query", b"constraint=((((", 400, "does not parse"),
    ("GET", "/v1/nothing", None, 404, "no endpoint"),
    ("GET", "/v1/collector/advertise", None, 405, "no endpoint"),
    ("POST", "/v1/schedd/submit", b"[1, 2]", 400, "JSON object"),
    (
        "POST",
        "/v1/schedd/act",
        b'{"action": "explode", "jobs": "true"}',
        400,
        "remove, hold or release",
    ),
]


def test_bad_input_is_refused_while_a_good_client_is_served(pool):
    token = pool.token()
    good = EmbeddedCollector(pool.address, token)
    errors: list[Exception] = []
    rounds = [0]
    stop = threading.Event()

    def good_client() -> None:
        try:
            while not stop.is_set():
                good.advertise([factory_ad("steady@g@f", Round=rounds[0])])
                (ad,) = good.query('Name == "steady@g@f"', ["Round"])
                assert ad["Round"] == rounds[0]
                rounds[0] += 1
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=good_client)
    thread.start()
    try:
        for method, path, body, status, message in BAD_REQUESTS:
            got_status, text = raw(pool, method, path, body, {"Authorization": f"Bearer {token}"})
            assert got_status == status, (path, text)
            assert message in text and text.count("\n") == 1, text
        # A header promising a huge body is refused before the body is read.
        status, text = raw(
            pool,
            "POST",
            "/v1/collector/advertise",
            None,
            {"Authorization": f"Bearer {token}", "Content-Length": str(MAX_BODY + 1)},
        )
        assert status == 413
        # Not HTTP at all, and a silent connection, do not stop the daemon either.
        host, port = pool.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as junk:
            junk.sendall(b"\x00\x01garbage\r\n\r\n")
            assert b"400 Bad request" in junk.recv(200)
        silent = socket.create_connection((host, int(port)), timeout=5)
        wait_for(lambda: rounds[0] > 20)
        silent.close()
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    assert rounds[0] > 20
    assert "refused POST /v1/collector/advertise" in pool.log_text()
    assert "Traceback" not in pool.log_text()
    assert pool.process.poll() is None


def test_unreachable_pool_is_a_pool_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with pytest.raises(PoolError, match="cannot reach the pool"):
        EmbeddedCollector(f"127.0.0.1:{free}").query()
    with pytest.raises(PoolError, match="bad pool address"):
        EmbeddedCollector("not-an-address")


def test_silent_server_times_out_as_pool_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(PoolError, match="no answer"):
            EmbeddedCollector(address, timeout=0.3).query()


def test_find_pool_address_order(tmp_path, pool):
    assert find_pool_address("h:1", pool.state_dir, {"GWMS_POOL": "e:2"}) == "h:1"
    assert find_pool_address(None, pool.state_dir, {"GWMS_POOL": "e:2"}) == "e:2"
    assert find_pool_address(None, pool.state_dir, {}) == pool.address
    with pytest.raises(PoolError, match="no pool address recorded"):
        find_pool_address(None, tmp_path, {})
    with pytest.raises(PoolError, match="give --pool"):
        find_pool_address(None, None, {})
