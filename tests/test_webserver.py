"""The loopback static server serves each prefix from its own root and nothing outside."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest


@pytest.fixture
def server(tmp_path):
    stage, monitor = tmp_path / "stage", tmp_path / "monitor"
    (stage / "entry_ce01").mkdir(parents=True)
    monitor.mkdir()
    (stage / "entry_ce01" / "nodes.blacklist").write_text("'bad.example.org'\n")
    (monitor / "index.html").write_text("<html>ok</html>")
    (tmp_path / "secret.key").write_text("private")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glideinwms_factory.webserver",
            "--port",
            "0",
            "--metrics",
            str(monitor / "metrics.prom"),
            f"/stage={stage}",
            f"/monitor={monitor}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    address = proc.stdout.readline().strip()
    yield f"http://{address}"
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
