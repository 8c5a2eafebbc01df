"""Staging areas and loopback servers for the tests that run glidein_startup.sh for real.

The factory's areas (main + entry, and the WORK files a local glidein reads) come from the
creation code itself: `build_staging` writes a small master config and builds its tree with
`build_tree`, as `create_glidein` does. Only the frontend's own area, which no factory
writes, is put together here, with the creation module's listing and signing helpers.
"""

from __future__ import annotations

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
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from glideinwms_factory.creation.commands import build_tree
from glideinwms_factory.creation.staging import (
    BLACKLIST,
    Scope,
    StageArea,
    StageFile,
    placeholder_rows,
)
from glideinwms_factory.entry.glidein_args import ClientStaging, GlideinArgs
from glideinwms_factory.lib.descript import format_key_values, read_signatures
from glideinwms_factory.tools.local_glidein import glidein_argv as argument_words

WEB_BASE = Path(__file__).resolve().parent.parent / "web_base"
FACTORY_NAME, GLIDEIN_NAME = "test_factory", "test_glidein"


@dataclass(frozen=True)
class Attr:
    """One `<attr>` of the test config: a string constant unless told otherwise."""

    name: str
    value: str
    type: str = "string"
    glidein_publish: bool = False
    job_publish: bool = False

    def element(self, parent: ET.Element) -> None:
        publish = {
            "glidein_publish": str(self.glidein_publish),
            "job_publish": str(self.job_publish),
        }
        ET.SubElement(parent, "attr", name=self.name, value=self.value, type=self.type, **publish)


@dataclass(frozen=True)
class Staging:
    """A created factory tree: where its areas are and what a glidein of `entry` is told."""

    stage_dir: Path
    work_dir: Path
    entry: str
    main_descript: str
    entry_descript: str
    main_sign: dict[str, str]
    entry_sign: dict[str, str]

    def entry_dir(self) -> Path:
        return self.stage_dir / f"entry_{self.entry}"


def _as_attrs(consts: dict[str, str] | None) -> list[Attr]:
    return [Attr(name, value) for name, value in (consts or {}).items()]


def condor_tarball(master: str) -> bytes:
    """An HTCondor tarball as the factory ships one (a single top dir), whose sbin/condor_master
    is `master`: HTCondor itself cannot run here."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("condor-24.0.1/sbin/condor_master")
        info.size, info.mode = len(master.encode()), 0o755
        tar.addfile(info, io.BytesIO(master.encode()))
    return buffer.getvalue()


def one_entry_config(
    entry: str,
    main_attrs: list[Attr],
    entry_attrs: list[Attr],
    condor_tarball: tuple[str, Path] | None = None,
) -> str:
    """A master config with one entry (`fast`, fixed slots) and no frontend; `condor_tarball`
    = (platform `<version>-<os>-<arch>`, path of its tar.gz)."""
    glidein = ET.Element("glidein", factory_name=FACTORY_NAME, glidein_name=GLIDEIN_NAME)
    ET.SubElement(glidein, "monitor", base_dir="/monitor")
    ET.SubElement(glidein, "security", key_length="2048")
    ET.SubElement(glidein, "stage", base_dir="/stage", web_base_url="http://127.0.0.1/stage")
    ET.SubElement(
        glidein,
        "submit",
        base_dir="/work",
        base_log_dir="/log",
        base_client_log_dir="/client_log",
        base_client_proxies_dir="/client_proxies",
    )
    attrs = ET.SubElement(glidein, "attrs")
    for attr in main_attrs:
        attr.element(attrs)
    if condor_tarball:
        version, os_name, arch = condor_tarball[0].split("-")
        tarballs = ET.SubElement(glidein, "condor_tarballs")
        ET.SubElement(
            tarballs,
            "condor_tarball",
            version=version,
            os=os_name,
            arch=arch,
            tar_file=str(condor_tarball[1]),
        )
    entries = ET.SubElement(glidein, "entries")
    node = ET.SubElement(
        entries, "entry", name=entry, gridtype="condor", gatekeeper="ce.example.org"
    )
    node.set("verbosity", "fast")  # -v fast: a short failure sleep
    ET.SubElement(ET.SubElement(node, "config"), "submit", slots_layout="fixed")
    entry_attrs_node = ET.SubElement(node, "attrs")
    for attr in entry_attrs:
        attr.element(entry_attrs_node)
    return ET.tostring(glidein, encoding="unicode")


def build_staging(
    root: Path,
    entry: str,
    *,
    main_consts: dict[str, str] | None = None,
    entry_consts: dict[str, str] | None = None,
    entry_attrs: tuple[Attr, ...] = (),
    blacklist: tuple[str, ...] = (),
    condor_tarball: tuple[str, bytes] | None = None,
    web_base: Path = WEB_BASE,
) -> Staging:
    """Create the factory tree of a one-entry config under `root` (STAGE `root/tree/stage`,
    WORK `root/tree/work`).

    `blacklist` is then written into the entry's `nodes.blacklist` as an operator does;
    `condor_tarball` = (platform `<version>-<os>-<arch>`, tar.gz bytes).
    """
    root.mkdir(parents=True, exist_ok=True)
    tarball = None
    if condor_tarball:
        tarball = (condor_tarball[0], root / "condor.tgz")
        tarball[1].write_bytes(condor_tarball[1])
    config = root / "glideinWMS.xml"
    entry_all = [*_as_attrs(entry_consts), *entry_attrs]
    config.write_text(one_entry_config(entry, _as_attrs(main_consts), entry_all, tarball))
    tree = root / "tree"
    work = build_tree(config, tree, reconfig=False, web_base=web_base).work_dir
    stage = tree / "stage"
    if blacklist:
        text = "".join(f"'{node}'\n" for node in blacklist)
        (stage / f"entry_{entry}" / "nodes.blacklist").write_text(text)
    # What the factory would put on the command line, from the tree's own WORK files.
    signs = {kind: read_signatures(work / f"signatures.{kind}") for kind in ("sha1", "sha256")}
    main, ent = "main", f"entry_{entry}"
    return Staging(
        stage,
        work,
        entry,
        signs["sha1"][main].description,
        signs["sha1"][ent].description,
        {kind: lines[main].digest for kind, lines in signs.items()},
        {kind: lines[ent].digest for kind, lines in signs.items()},
    )


@dataclass(frozen=True)
class ClientArea:
    """A frontend's staging area (id `client`): where it is and what the glidein is told."""

    directory: Path
    descript: str
    sign: dict[str, str]

    def staging(self, web: str, sign_type: str = "sha1") -> ClientStaging:
        return ClientStaging(web=web, sign=self.sign[sign_type], descript=self.descript)


def build_client_staging(
    directory: Path, scripts: dict[str, tuple[str, str]], condor_vars: tuple[str, ...] = ()
) -> ClientArea:
    """The frontend's own area: its placeholders (no constants; `condor_vars` lines in the
    glidein's tab-separated format) first, then exec scripts: name -> (list key, bash text).

    Listed and signed by the creation module's own helpers, as the factory's areas are.
    """
    area = StageArea()
    scope = Scope(area, "")
    header = "# VarName\tType\tDefault\tCondorName\tRequired\tExport\tUserName\n"
    variables = (header + "".join(line + "\n" for line in condor_vars)).encode()
    lists: dict[str, list[tuple[str, ...]]] = {
        "preentry_file_list": placeholder_rows(scope, b"", variables, b""),
        "file_list": [],
    }
    for name, (list_key, text) in scripts.items():
        lists[list_key].append(scope.list_row(name, text.encode(), "exec", "FALSE"))
    descript, sign = scope.finish(lists, {})
    directory.mkdir(parents=True)
    for name, item in area.files.items():
        (directory / name).write_bytes(item.data)
        (directory / name).chmod(item.mode)
    return ClientArea(directory, descript, sign)


@dataclass(frozen=True)
class FrontendFile:
    """One `<file>` of a Frontend group or main section: its list, text, type and period."""

    name: str
    text: str
    list_key: str = "file_list"  # preentry_file_list, file_list, aftergroup_(preentry_)file_list
    type: str = "exec"
    period: int = 0


@dataclass(frozen=True)
class FrontendArea:
    """A Frontend's staging area laid out as upstream's Frontend does: the main part (glidein
    id `client`) at the top, one group (`client_group`) under `group_<name>/`."""

    directory: Path
    group: str
    descripts: tuple[str, str]  # main, group
    signs: tuple[str, str]  # sha1 of the signature files

    def staging(self, web: str) -> ClientStaging:
        return ClientStaging(
            web=web,
            sign=self.signs[0],
            descript=self.descripts[0],
            group=self.group,
            group_web=f"{web}/group_{self.group}",
            group_sign=self.signs[1],
            group_descript=self.descripts[1],
        )

    def blacklist(self, part: str) -> Path:
        """The live-editable nodes.blacklist of `main` or `group` (nocache, never signed)."""
        base = self.directory if part == "main" else self.directory / f"group_{self.group}"
        return base / BLACKLIST


def _frontend_part(
    area: StageArea, prefix: str, consts: dict[str, str], files: tuple[FrontendFile, ...]
) -> tuple[str, str]:
    """One part of the Frontend's area, as upstream's Frontend lists it: placeholders, the
    nodes.blacklist, its own cat_consts.sh and check_blacklist.sh, then its `<file>`s."""
    scope = Scope(area, prefix)
    header = b"# VarName\tType\tDefault\tCondorName\tRequired\tExport\tUserName\n"
    rows = placeholder_rows(scope, format_key_values(consts).encode(), header, b"")
    area.files[prefix + BLACKLIST] = StageFile(b"")
    rows.append((BLACKLIST, BLACKLIST, "nocache", "0", "NOPREFIX", "TRUE", "BLACKLIST_FILE"))
    for script in ("cat_consts.sh", "check_blacklist.sh"):
        rows.append(scope.list_row(script, (WEB_BASE / script).read_bytes(), "exec", "FALSE"))
    lists: dict[str, list[tuple[str, ...]]] = {"preentry_file_list": rows, "file_list": []}
    for f in files:
        row = scope.list_row(f.name, f.text.encode(), f.type, "FALSE", period=str(f.period))
        lists.setdefault(f.list_key, []).append(row)
    descript, sign = scope.finish(lists, {})
    return descript, sign["sha1"]


def build_frontend_staging(
    directory: Path,
    group: str,
    consts: tuple[dict[str, str], dict[str, str]],
    files: tuple[tuple[FrontendFile, ...], tuple[FrontendFile, ...]] = ((), ()),
) -> FrontendArea:
    """The Frontend's area: main and group constants and files (`(main, group)` pairs)."""
    area = StageArea()
    main = _frontend_part(area, "", consts[0], files[0])
    grouped = _frontend_part(area, f"group_{group}/", consts[1], files[1])
    for name, item in area.files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(item.data)
        (directory / name).chmod(item.mode)
    return FrontendArea(directory, group, (main[0], grouped[0]), (main[1], grouped[1]))


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
        glidein_name=GLIDEIN_NAME,
        entry_name=staging.entry,
        client_name="fe1.main",
        schedd="schedd_glideins1@localhost",
        factory_name=FACTORY_NAME,
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
