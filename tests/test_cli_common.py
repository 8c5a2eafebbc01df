"""Every console script answers --help and --version, and none prints a traceback."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from glideinwms_factory import __version__
from glideinwms_factory.lib import cli

SCRIPTS = sorted(
    (ep.name, ep)
    for ep in entry_points(group="console_scripts")
    if ep.value.startswith("glideinwms_factory.")
)


def test_the_project_has_its_scripts():
    names = {name for name, _ in SCRIPTS}
    assert {
        "gwms-pool",
        "factory_startup",
        "gwms-demo",
        "wmsXMLView",
        "entry_q",
        "analyze_queues",
    } <= names


@pytest.mark.parametrize(("name", "ep"), SCRIPTS, ids=[name for name, _ in SCRIPTS])
def test_help_and_version(name, ep, capsys):
    main = ep.load()
    try:
        status = main(["--help"])
    except SystemExit as done:  # argparse ends --help this way
        status = done.code
    out, err = capsys.readouterr()
    assert (status, err) == (0, "") and "usage" in out.lower()
    assert main(["--version"]) == 0
    out, _ = capsys.readouterr()
    assert out == f"{name} (glideinwms-factory) {__version__}\n"


def test_an_unexpected_error_is_one_line_not_a_traceback(capsys):
    def broken(argv: list[str]) -> int:
        raise RuntimeError("disk on fire\nsecond line")

    assert cli.run("tool", broken, []) == 1
    assert capsys.readouterr().err == "tool: unexpected RuntimeError: disk on fire second line\n"


def test_a_closed_pipe_ends_quietly():
    """Like `wmsXMLView | head -1`: the reader leaves after one line."""
    program = (
        "from glideinwms_factory.lib import cli\n"
        "def main(argv):\n"
        "    for n in range(200000):\n"
        "        print('ad', n)\n"
        "    return 0\n"
        "raise SystemExit(cli.run('tool', main, []))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == b"ad 0\n"
    child.stdout.close()
    assert child.wait(60) == cli.EXIT_BROKEN_PIPE
    assert child.stderr.read() == b""
