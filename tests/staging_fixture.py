"""A small stand-in for the creation module's staging writer, so glidein tests need not wait for it.

It writes, from `web_base/manifest.txt`, a staging area laid out as spec/glidein_startup.md §2-§3
says (content-tagged names, description, signature.<tag>.sha1 and .sha256, file lists,
constants) plus the few WORK files a local glidein run reads (`signatures.sha1`,
`glidein.descript`, `entry_<e>/job.descript`). Replace it with `glideinwms_factory.creation`
once that is merged. Below it: the loopback servers the glidein tests run against.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.entry.glidein_args import ClientStaging, GlideinArgs
from glideinwms_factory.tools.local_glidein import glidein_argv as argument_words

WEB_BASE = Path(__file__).resolve().parent.parent / "web_base"
# Lists every main description names (spec §2 step 4); empty ones hold only placeholders.
MAIN_LISTS = ("file_list", "precvmfs_file_list", "at_file_list", "after_file_list")


def tagged(name: str, content: bytes) -> str:
    """Insert a content tag before the last extension (config.md §6)."""
    tag = hashlib.sha256(content).hexdigest()[:6]
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{tag}.{ext}" if dot and stem else f"{name}.{tag}"


@dataclass(frozen=True)
class ListLine:
    target: str
    real: str
    type: str
    config_out: str = "FALSE"
    condition: str = "TRUE"

    def render(self) -> str:
        fields = (self.target, self.real, self.type, "0", "GLIDEIN_PS_")
        return "\t".join((*fields, self.condition, self.config_out))


@dataclass
class _IdArea:
    """One staging id (main or entry) while it is being written."""

    directory: Path
    signed: dict[str, bytes] = field(default_factory=dict)
    lists: dict[str, list[ListLine]] = field(default_factory=dict)

    def stage(self, name: str, content: bytes, file_type: str = "regular") -> str:
        real = name if file_type == "nocache" else tagged(name, content)
        (self.directory / real).write_bytes(content)
        if file_type != "nocache":
            self.signed[real] = content
        return real


@dataclass(frozen=True)
class Staging:
    stage_dir: Path
    work_dir: Path
    entry: str
    main_descript: str
    entry_descript: str
    main_sign: dict[str, str]
    entry_sign: dict[str, str]

    def entry_dir(self) -> Path:
        return self.stage_dir / f"entry_{self.entry}"


def _manifest(web_base: Path) -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (web_base / "manifest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split()
            rows.append(
                (fields[0], fields[1], fields[2], fields[3] if len(fields) > 3 else "FALSE")
            )
    return rows


def _consts(values: dict[str, str]) -> bytes:
    return "".join(f"{k}\t{v}\n" for k, v in values.items()).encode()


def _placeholders(
    area: _IdArea,
    consts: dict[str, str],
    main: bool,
    condor_vars: tuple[str, ...] = (),
    untar_cfg: str = "",
) -> list[ListLine]:
    header = "# Var\tType\tDefault\tCondorName\tReq\tExport\tUserName\n"
    files = [
        ("constants.cfg", _consts(consts), "CONSTS_FILE"),
        (
            "condor_vars.lst",
            (header + "".join(line + "\n" for line in condor_vars)).encode(),
            "CONDOR_VARS_FILE",
        ),
        ("untar.cfg", untar_cfg.encode(), "UNTAR_CFG_FILE"),
    ]
    if main:
        files.append(("grid-mapfile", b"", "GRIDMAP"))
    return [ListLine(name, area.stage(name, data), "regular", key) for name, data, key in files]


def _finish(area: _IdArea, descript_extra: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Write lists, signature (sha1 + sha256) and description; return its name and signs."""
    descript = dict(descript_extra)
    for key, lines in area.lists.items():
        content = "".join(line.render() + "\n" for line in lines).encode()
        descript[key] = area.stage(f"{key}.lst", content)
    # The signature names the description and the description names the signature: tag the
    # signature by everything else it signs, then add the description line.
    body = {kind: _sig_lines(area.signed, kind) for kind in ("sha1", "sha256")}
    sig_tag = hashlib.sha256(body["sha256"].encode()).hexdigest()[:6]
    descript = {"signature": f"signature.{sig_tag}.sha1", **descript}
    descript_bytes = "".join(f"{k}\t{v}\n" for k, v in descript.items()).encode()
    descript_name = tagged("description.cfg", descript_bytes)
    (area.directory / descript_name).write_bytes(descript_bytes)
    signs = {}
    for kind in ("sha1", "sha256"):
        line = f"{hashlib.new(kind, descript_bytes).hexdigest()}  {descript_name}\n"
        sig_bytes = (body[kind] + line).encode()
        (area.directory / f"signature.{sig_tag}.{kind}").write_bytes(sig_bytes)
        signs[kind] = hashlib.new(kind, sig_bytes).hexdigest()
    return descript_name, signs


def _sig_lines(signed: dict[str, bytes], kind: str) -> str:
    return "".join(
        f"{hashlib.new(kind, data).hexdigest()}  {name}\n" for name, data in sorted(signed.items())
    )


def _startup_with_helpers(web_base: Path) -> bytes:
    """glidein_startup.sh with a gzip tarball of the *.source helpers after its #EOF line,
    as config.md §6 installs it: bash must stop before that binary tail."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(web_base.glob("*.source")):
            tar.add(path, arcname=path.name)
    return (web_base / "glidein_startup.sh").read_bytes() + buffer.getvalue()


def build_staging(
    root: Path,
    entry: str,
    *,
    main_consts: dict[str, str] | None = None,
    entry_consts: dict[str, str] | None = None,
    blacklist: tuple[str, ...] = (),
    entry_vars: tuple[str, ...] = (),
    condor_tarball: tuple[str, bytes] | None = None,
    web_base: Path = WEB_BASE,
) -> Staging:
    """Write STAGE (`root/stage`) and the WORK files (`root/work`) for one entry.

    `condor_tarball` = (platform `<version>-<os>-<arch>`, tar.gz bytes), listed as spec §3 says.
    """
    stage, work = root / "stage", root / "work"
    entry_stage = stage / f"entry_{entry}"
    entry_stage.mkdir(parents=True)
    (work / f"entry_{entry}").mkdir(parents=True)
    (stage / "glidein_startup.sh").write_bytes(_startup_with_helpers(web_base))
    main, ent = _IdArea(stage), _IdArea(entry_stage)
    tarball_target = f"condor_bin_{condor_tarball[0]}.tgz" if condor_tarball else ""
    untar_cfg = f"{tarball_target}\tcondor\n" if condor_tarball else ""
    main.lists = {
        key: _placeholders(main, main_consts or {}, True, untar_cfg=untar_cfg) for key in MAIN_LISTS
    }
    ent.lists = {"file_list": _placeholders(ent, entry_consts or {}, False, entry_vars)}
    blacklist_text = "".join(f"'{node}'\n" for node in blacklist).encode()
    ent.lists["file_list"].append(
        ListLine(
            "nodes.blacklist",
            ent.stage("nodes.blacklist", blacklist_text, "nocache"),
            "nocache",
            "BLACKLIST_FILE",
        )
    )
    last_script = ""
    for where, name, file_type, config_out in _manifest(web_base):
        id_name, _, list_key = where.partition(":")
        area = main if id_name == "main" else ent
        real = area.stage(name, (web_base / name).read_bytes(), file_type)
        if list_key == "last_script":
            last_script = name
            list_key, file_type = "file_list", "regular"
        area.lists[list_key].append(ListLine(name, real, file_type, config_out))
    if condor_tarball:
        real = main.stage(tarball_target, condor_tarball[1])
        cond = f"CONDOR_PLATFORM_{condor_tarball[0]}"
        main.lists["file_list"].append(
            ListLine(tarball_target, real, "untar", "CONDOR_DIR", condition=cond)
        )
    main_descript, main_sign = _finish(main, {"last_script": last_script})
    entry_descript, entry_sign = _finish(ent, {})
    (work / "glidein.descript").write_text(
        "FactoryName \ttest_factory\nGlideinName \ttest_glidein\n"
    )
    (work / f"entry_{entry}" / "job.descript").write_text(
        f"EntryName \t{entry}\nSchedd \tschedd_glideins1@localhost\nVerbosity \tfast\nSubmitSlotsLayout \tfixed\n"
    )
    (work / "signatures.sha1").write_text(
        f"{main_sign['sha1']}  {main_descript}  main\n{entry_sign['sha1']}  {entry_descript}  entry_{entry}\n"
    )
    return Staging(stage, work, entry, main_descript, entry_descript, main_sign, entry_sign)


@dataclass(frozen=True)
class ClientArea:
    """A frontend's staging area (id `client`): where it is and what the glidein is told."""

    directory: Path
    descript: str
    sign: dict[str, str]


def build_client_staging(
    directory: Path, scripts: dict[str, tuple[str, str]], consts: dict[str, str] | None = None
) -> ClientArea:
    """Placeholders in both client lists plus exec scripts: name -> (list key, bash text)."""
    directory.mkdir(parents=True)
    area = _IdArea(directory)
    keys = ("preentry_file_list", "file_list")
    area.lists = {key: _placeholders(area, consts or {}, False) for key in keys}
    for name, (list_key, text) in scripts.items():
        area.lists[list_key].append(ListLine(name, area.stage(name, text.encode()), "exec"))
    descript, sign = _finish(area, {})
    return ClientArea(directory, descript, sign)


# --- Serving the staging area and watching the glidein's network use (tests only) ---


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """`python -m http.server` on a free loopback port, as a real separate process."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"port (\d+)", proc.stdout.readline())
        assert match, "http.server did not report its port"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Recorded:
    path: str
    authorization: str | None
    body: str


class RecordingCollector:
    """A loopback HTTP endpoint that records the stand-in's POSTs (until the pool is merged)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._changed = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._changed:
                    outer.requests.append(
                        Recorded(self.path, self.headers.get("Authorization"), body.decode())
                    )
                    outer._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float = 20) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.requests), timeout):
                raise AssertionError(f"collector condition not met in {timeout} s: {self.requests}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CountingProxy:
    """A minimal forward HTTP proxy that relays GETs and remembers every URL asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.urls.append(self.path)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with opener.open(self.path, timeout=10) as reply:
                        status, body = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, b""
                except (urllib.error.URLError, ValueError):
                    status, body = 502, b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def glidein_argv(
    staging: Staging,
    web: str,
    run_dir: Path,
    sign_type: str = "sha1",
    client: ClientStaging | None = None,
    **params: str,
) -> list[str]:
    """The command line of one glidein of the staged entry, through the tool's own builder."""
    args = GlideinArgs(
        verbosity="fast",
        glidein_name="test_glidein",
        entry_name=staging.entry,
        client_name="fe1.main",
        schedd="schedd_glideins1@localhost",
        factory_name="test_factory",
        web_url=web,
        main_sign=staging.main_sign[sign_type],
        entry_sign=staging.entry_sign[sign_type],
        main_descript=staging.main_descript,
        entry_descript=staging.entry_descript,
        startup_dir=str(run_dir),
        credential_id="cred1",
        slots_layout="partitionable",
        client=client,
        params=params,
    )
    words = argument_words(args)
    words[words.index("-signtype") + 1] = sign_type  # the factory's builder only says sha1
    return ["bash", str(staging.stage_dir / "glidein_startup.sh"), *words]


def glidein_env(**extra: str) -> dict[str, str]:
    """The environment of a test glidein: no linger after a failure."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    return {**env, "GWMS_GLIDEIN_FAILURE_SLEEP": "0", **extra}


def run_glidein(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, env=env or glidein_env(), timeout=timeout, check=False
    )
