"""The embedded pool as a service: a fixed address across restart and reconfig, and a busy
port named in one line (pool and web server)."""

from __future__ import annotations

import socket

from factory_testlib import EntrySpec, config_xml, create, free_port, processes_under, running
from waiting import wait_for

ENTRIES = [EntrySpec("alpha")]


def test_the_pool_address_survives_restart_and_reconfig(tmp_path):
    port = free_port()
    factory = create(tmp_path, config_xml(ENTRIES, free_port(), pool_port=port))
    with running(factory):
        assert factory.address == f"127.0.0.1:{port}"
        factory.startup("restart")
        assert factory.address == f"127.0.0.1:{port}"
        factory.startup("reconfig", str(factory.config))
        assert factory.address == f"127.0.0.1:{port}"
        assert factory.startup("status").stdout.startswith("Running")


def _start_with_busy(tmp_path, busy: socket.socket, **ports: int):
    factory = create(tmp_path, config_xml(ENTRIES, **ports))
    try:
        return factory.startup("start", check=False)
    finally:
        factory.startup("stop", check=False)
        busy.close()


def _listening() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_a_busy_pool_port_is_one_line_saying_what_to_change(tmp_path):
    busy, port = _listening()
    done = _start_with_busy(tmp_path, busy, web_port=free_port(), pool_port=port)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"pool port {port} is already in use" in done.stderr
    assert '<embedded_pool port="N"/>' in done.stderr and "Traceback" not in done.stderr


def test_a_busy_web_port_is_one_line_saying_what_to_change(tmp_path):
    busy, port = _listening()
    done = _start_with_busy(tmp_path, busy, web_port=port)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"web server: port {port} is already in use" in done.stderr
    assert "web_base_url" in done.stderr


def running_glideins(factory) -> set[str]:
    return {f"{ad['ClusterId']}.{ad['ProcId']}" for ad in factory.glideins("alpha", 2)}


def test_restart_keeps_the_glideins_and_stop_ends_them(tmp_path):
    factory = create(tmp_path, config_xml(ENTRIES, free_port(), pool_port=free_port()))
    with running(factory):
        factory.ask_glideins("alpha", 2, 2)
        before = wait_for(
            lambda: len(running_glideins(factory)) == 2 and running_glideins(factory),
            90,
            "two running glideins",
        )
        factory.startup("restart")
        assert running_glideins(factory) >= before  # the same glideins go on running
        assert any("glidein_startup" in c for c in processes_under(factory.root).values())
        factory.startup("stop")
        assert processes_under(factory.root) == {}  # not a daemon, not a glidein left
