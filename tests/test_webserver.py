"""The loopback static server serves each prefix from its own root and nothing outside."""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from waiting import wait_for


@pytest.fixture
def server(tmp_path):
    stage, monitor = tmp_path / "stage", tmp_path / "monitor"
    (stage / "entry_ce01").mkdir(parents=True)
    monitor.mkdir()
    (stage / "entry_ce01" / "nodes.blacklist").write_text("'bad.example.org'\n")
    (monitor / "index.html").write_text("<html>ok</html>")
    (tmp_path / "secret.key").write_text("private")
    metrics = str(monitor / "metrics.prom")
    proc, (host, port) = _start("--metrics", metrics, f"/stage={stage}", f"/monitor={monitor}")
    yield f"http://{host}:{port}"
    proc.terminate()
    proc.wait(10)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode(), response.headers


def test_files_are_served_from_their_prefix(server):
    status, body, headers = get(server + "/stage/entry_ce01/nodes.blacklist")
    assert (status, body) == (200, "'bad.example.org'\n")
    assert headers["Cache-Control"] == "no-cache"
    assert get(server + "/monitor/index.html")[1] == "<html>ok</html>"


@pytest.mark.parametrize(
    "path", ["/stage/../secret.key", "/stage/%2e%2e/secret.key", "/secret.key", "/other/x"]
)
def test_nothing_outside_the_roots(server, path):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server + path)
    assert info.value.code == 404


def test_metrics_are_served_once_written(server, tmp_path):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server + "/metrics")
    assert info.value.code == 503  # before the first aggregation
    (tmp_path / "monitor" / "metrics.prom").write_text("# TYPE x gauge\nx 1\n")
    status, body, headers = get(server + "/metrics")
    assert (status, body) == (200, "# TYPE x gauge\nx 1\n")
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize("path", ["/stage/", "/stage/entry_ce01/", "/monitor/../stage/"])
def test_directories_are_never_listed(server, path):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server + path)
    assert info.value.code == 404


def _start(*arguments):
    """The server as a process; its address once it prints it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "glideinwms_factory.webserver", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        text=True,
    )
    host, port = proc.stdout.readline().strip().rsplit(":", 1)
    return proc, (host, int(port))


def test_slow_and_idle_clients_are_cut_off_and_bounded(tmp_path):
    """A client dripping a request byte by byte, or never sending one, is closed at the
    deadline; past the connection cap others get a prompt 503, and service resumes."""
    (tmp_path / "f.txt").write_text("file")
    proc, address = _start("--timeout", "1", "--max-connections", "3", f"/stage={tmp_path}")
    try:
        idle = [socket.create_connection(address, timeout=10) for _ in range(2)]
        slow = socket.create_connection(address, timeout=10)
        started = time.monotonic()
        closed = False
        for byte in b"GET /stage/f.txt HTTP/1.1\r\nHost: x\r\n":  # never finished
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            slow.settimeout(0.1)
            try:
                if slow.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            if time.monotonic() - started > 8:
                break
        assert closed, "a byte-dripping client was never cut off"
        assert time.monotonic() - started < 5
        for conn in idle:
            conn.settimeout(5)
            assert conn.recv(1) == b"", "an idle connection was never closed"
        # Three held connections fill the server: the fourth is refused at once, not queued.
        held = [socket.create_connection(address, timeout=10) for _ in range(3)]
        # (accepted in order: the three are taken before the fourth is looked at)
        with pytest.raises(urllib.error.HTTPError) as info:
            get(f"http://{address[0]}:{address[1]}/stage/f.txt")
        assert info.value.code == 503
        for conn in held:
            conn.close()
        assert wait_for(
            lambda: _served(f"http://{address[0]}:{address[1]}/stage/f.txt"), timeout=10
        )
    finally:
        proc.terminate()
        proc.wait(10)


def _served(url):
    try:
        return get(url)[1] == "file"
    except urllib.error.HTTPError:
        return False
