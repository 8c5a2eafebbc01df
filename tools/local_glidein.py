"""Run one glidein of an entry by hand on this machine (`gwms-local-glidein`).

It reads the factory tree's WORK files (`signatures.sha1`, `glidein.descript`, the entry's
`job.descript`, `params.cfg`), builds the command line a submitted glidein gets
(spec/glidein_startup.md §1), points the glidein at a given collector and runs
`glidein_startup.sh` with bash, its stdout/stderr going to `job.local.out/.err` the way Condor-G
returns them. With `--stage` it serves the staging dir itself on loopback.

The command line comes from the factory's own builder (`entry.glidein_args`), so a hand-run
glidein gets exactly what a submitted one would, with cluster/process 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from glideinwms_factory.entry.glidein_args import (
    PARAM_NAME_RE,
    GlideinArgs,
    UnsafeValueError,
    glidein_argument_words,
)
from glideinwms_factory.lib import cli, descript
from glideinwms_factory.lib.descript import DescriptError, SignatureLine

T = TypeVar("T")
PACKAGED_STARTUP = Path(__file__).resolve().parent.parent / "web_base" / "glidein_startup.sh"


class LocalGlideinError(Exception):
    """Bad input for a local glidein run; the message is the one-line explanation."""


def _optional(read: Callable[[Path], dict[str, T]], path: Path) -> dict[str, T]:
    """A descript file of the tree, or nothing: a hand run falls back to defaults."""
    return read(path) if path.is_file() else {}


def read_signatures(path: Path, entry: str) -> tuple[SignatureLine, SignatureLine]:
    """The main and the entry lines of WORK/signatures.sha1 (config.md §6)."""
    if not path.is_file():
        raise LocalGlideinError(f"{path} not found: is this a factory WORK dir?")
    found = descript.read_signatures(path)
    for key in ("main", f"entry_{entry}"):
        if key not in found:
            raise LocalGlideinError(f"{path} has no line for {key}")
    return found["main"], found[f"entry_{entry}"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each on the terminal."""


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a staging dir on a free loopback port for as long as the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def build_args(work: Path, entry: str, web: str | None, extra: Mapping[str, str]) -> GlideinArgs:
    """The glidein's arguments from the WORK tree, as the factory would submit it."""
    main, entry_line = read_signatures(work / "signatures.sha1", entry)
    glidein = _optional(descript.read_descript, work / "glidein.descript")
    job = _optional(descript.read_descript, work / f"entry_{entry}" / "job.descript")
    params = _optional(descript.read_literals, work / "params.cfg") | _optional(
        descript.read_literals, work / f"entry_{entry}" / "params.cfg"
    )
    url = web or glidein.get("WebURL")
    if not url:
        raise LocalGlideinError("no web URL: give --stage or --web, glidein.descript has no WebURL")
    return GlideinArgs(
        verbosity=job.get("Verbosity", "std"),
        glidein_name=glidein.get("GlideinName", "gfactory_instance"),
        entry_name=entry,
        client_name="local_client",
        schedd=job.get("Schedd", "local"),
        factory_name=glidein.get("FactoryName", "local_factory"),
        web_url=url,
        main_sign=main.digest,
        entry_sign=entry_line.digest,
        main_descript=main.description,
        entry_descript=entry_line.description,
        startup_dir=job.get("StartupDir", "."),
        credential_id="local",
        slots_layout=job.get("SubmitSlotsLayout", "fixed"),
        params=params | dict(extra),
    )


def glidein_argv(args: GlideinArgs) -> list[str]:
    """The argument words of one glidein (cluster/process 0), checked and encoded."""
    try:
        return [*glidein_argument_words(args), "-cluster", "0", "-subcluster", "0"]
    except UnsafeValueError as exc:
        raise LocalGlideinError(str(exc)) from exc


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not PARAM_NAME_RE.fullmatch(name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gwms-local-glidein", description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="the factory tree's WORK dir")
    parser.add_argument("entry", help="entry name")
    parser.add_argument("--collector", required=True, help="HOST:PORT the worker joins")
    parser.add_argument("--stage", type=Path, help="serve this staging dir on loopback")
    parser.add_argument("--web", help="staging URL (default: WebURL of glidein.descript)")
    parser.add_argument("--token-file", type=Path, help="IDTOKENS_FILE given to the glidein")
    parser.add_argument("--lifetime", type=int, default=60, help="stand-in lifetime, s")
    parser.add_argument("--param", type=_key_value, action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where glide_* and logs go")
    parser.add_argument(
        "--failure-sleep", type=int, default=0, help="linger after a failure, s (a job: 150+)"
    )
    return parser


def run(options: argparse.Namespace, web: str | None) -> int:
    extra = {
        "GLIDEIN_Collector": options.collector,
        "GLIDEIN_Standin_Lifetime": str(options.lifetime),
        **dict(options.param),
    }
    args = build_args(options.work, options.entry, web, extra)
    args = dataclasses.replace(args, startup_dir=str(options.dir.resolve()))
    startup = options.work / "glidein_startup.sh"
    if not startup.is_file():
        startup = PACKAGED_STARTUP
    env = {**os.environ, "GWMS_GLIDEIN_FAILURE_SLEEP": str(options.failure_sleep)}
    if options.token_file:
        env["IDTOKENS_FILE"] = str(options.token_file.resolve())
    out, err = options.dir / "job.local.out", options.dir / "job.local.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", str(startup), *glidein_argv(args)], stdout=stdout, stderr=stderr, env=env
        )

        # Stopping the tool stops the glidein the way the batch system would: with SIGTERM.
        def forward(_signum: int, _frame: object) -> None:
            proc.send_signal(signal.SIGTERM)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print(f"glidein exited with code {proc.returncode}; output in {out} and {err}")
    return proc.returncode


@cli.command("gwms-local-glidein")
def main(argv: list[str]) -> int:
    options = _parser().parse_args(argv)
    try:
        if not options.dir.is_dir():
            raise LocalGlideinError(f"--dir {options.dir} is not a directory")
        if options.stage:
            if not options.stage.is_dir():
                raise LocalGlideinError(f"--stage {options.stage} is not a directory")
            with serve_directory(options.stage) as url:
                return run(options, url)
        return run(options, options.web)
    except (LocalGlideinError, DescriptError, OSError) as exc:
        print(f"gwms-local-glidein: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
