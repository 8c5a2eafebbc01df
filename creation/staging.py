"""The web staging area glideins download from (spec/glidein_startup.md §2-§3), as data.

`build_stage` returns every file with its bytes; nothing here touches the disk except
reading sources. Staged names carry a content-hash tag before the last extension, so a
changed file always gets a new URL (Squid caches by URL) and old glideins still find the
files they were told about. Every listed file except `nocache` ones is signed, in sha1
(what upstream glideins verify) and sha256 (`signature.<tag>.sha256`, same tag).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from glideinwms_factory.creation.generated_attrs import BASE_CONDOR_VARS, ENTRY_CONDOR_VARS
from glideinwms_factory.creation.master_model import Attribute, MasterConfig, StagedFile
from glideinwms_factory.lib.descript import SignatureLine, format_key_values

TAG_LENGTH = 10
SIGN_TYPES = ("sha1", "sha256")
MANIFEST_LISTS = (
    "main:file_list",
    "main:at_file_list",
    "main:after_file_list",
    "entry:file_list",
    "main:last_script",
)
MANIFEST_TYPES = ("regular", "exec", "wrapper", "untar", "nocache")
STARTUP_SCRIPT = "glidein_startup.sh"
BLACKLIST = "nodes.blacklist"
_VAR_TYPES = {"string": "S", "int": "I", "expr": "C"}


class StagingError(Exception):
    """The staging area cannot be built (a source script is missing, the manifest is bad)."""


@dataclass(frozen=True)
class ManifestItem:
    """One line of web_base/manifest.txt: which script goes into which list."""

    list: str
    name: str
    type: str
    config_out: str


@dataclass(frozen=True)
class StageFile:
    data: bytes
    mode: int = 0o644
    keep_existing: bool = False  # hand-editable (nodes.blacklist): create, never overwrite

    @cached_property
    def sha256(self) -> str:
        """Hex digest of `data`, computed once: the installer keys links and its manifest on it."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class StageArea:
    files: dict[str, StageFile] = field(default_factory=dict)  # path relative to STAGE
    signatures: dict[str, list[SignatureLine]] = field(default_factory=dict)  # sign type -> lines


def tagged_name(name: str, data: bytes) -> str:
    """`name` with a content-hash tag before its last extension (`a.sh` -> `a.<tag>.sh`)."""
    return _with_tag(name, hashlib.sha256(data).hexdigest())


def _with_tag(name: str, sha256_hex: str) -> str:
    tag = sha256_hex[:TAG_LENGTH]
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{tag}.{ext}" if dot and stem else f"{name}.{tag}"


def read_script_manifest(web_base: Path) -> list[ManifestItem]:
    """The manifest's items; every named script must exist in `web_base`."""
    path = web_base / "manifest.txt"
    try:
        text = path.read_text()
    except OSError as exc:
        raise StagingError(f"{path}: cannot read: {exc.strerror}") from exc
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if (
            len(words) not in (3, 4)
            or words[0] not in MANIFEST_LISTS
            or words[2] not in MANIFEST_TYPES
        ):
            raise StagingError(f"{path}:{number}: expected '<list> <file> <type> [<config_out>]'")
        if not (web_base / words[1]).is_file():
            raise StagingError(f"{path}:{number}: {words[1]} is listed but missing from {web_base}")
        items.append(
            ManifestItem(words[0], words[1], words[2], words[3] if len(words) == 4 else "FALSE")
        )
    if not (web_base / STARTUP_SCRIPT).is_file():
        raise StagingError(f"{web_base}: {STARTUP_SCRIPT} is missing")
    return items


def _tsv(rows: Sequence[tuple[str, ...]], header: str) -> bytes:
    return ("".join(f"{header}\n") + "".join("\t".join(row) + "\n" for row in rows)).encode()


def _constants(attrs: list[Attribute]) -> bytes:
    constants = {a.name: a.value for a in attrs if a.is_constant}
    return ("# Glidein constants (generated)\n" + format_key_values(constants)).encode()


def _condor_vars(attrs: list[Attribute], base: tuple[tuple[str, ...], ...]) -> bytes:
    rows: list[tuple[str, ...]] = [
        (
            a.name,
            _VAR_TYPES[a.type],
            "-",
            "+",
            "N",
            "Y" if a.glidein_publish else "N",
            "+" if a.job_publish else "-",
        )
        for a in attrs
        if a.glidein_publish or a.job_publish
    ]
    own = {row[0] for row in rows}
    rows = [row for row in base if row[0] not in own] + rows
    return _tsv(rows, "# VarName\tType\tDefault\tCondorName\tRequired\tExport\tUserName")


def _pack_dir(source: Path) -> bytes:
    """A deterministic gzip tarball of a directory (same content -> same bytes -> same tag)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted([source, *source.rglob("*")]):
            info = tar.gettarinfo(
                str(path), arcname=str(Path(source.name) / path.relative_to(source))
            )
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


class Scope:
    """The files of one staging ID (`main` or `entry_<e>`) being assembled."""

    def __init__(self, area: StageArea, prefix: str) -> None:
        self.area, self.prefix = area, prefix
        self.signed: list[tuple[str, dict[str, str]]] = []  # (staged name, sign type -> digest)

    def put(self, name: str, data: bytes, mode: int = 0o644) -> str:
        """Stage and sign `data`, hashing it once per sign type (tarballs can be large)."""
        digests = {sign_type: hashlib.new(sign_type, data).hexdigest() for sign_type in SIGN_TYPES}
        staged = _with_tag(name, digests["sha256"])
        self.area.files[self.prefix + staged] = StageFile(data, mode)
        self.signed.append((staged, digests))
        return staged

    def _signature(self, sign_type: str) -> str:
        """`<digest>  <staged name>` lines of everything signed so far, by name."""
        rows = sorted(self.signed, key=lambda item: item[0])
        return "".join(f"{digests[sign_type]}  {name}\n" for name, digests in rows)

    def list_row(
        self, target: str, data: bytes, kind: str, config_out: str, **opts: str
    ) -> tuple[str, ...]:
        mode = 0o755 if kind == "exec" or kind.startswith("exec:") else 0o644
        staged = self.put(target, data, mode)
        return (
            target,
            staged,
            kind,
            opts.get("period", "0"),
            opts.get("prefix", "GLIDEIN_PS_"),
            opts.get("cond", "TRUE"),
            config_out,
        )

    def finish(
        self, lists: dict[str, list[tuple[str, ...]]], extra: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        """Write lists, description, signatures; return (description name, {type: digest})."""
        described: dict[str, str] = {}
        for list_id, rows in lists.items():
            described[list_id] = self.put(
                f"{list_id}.lst",
                _tsv(rows, "# Target\tFile\tType\tPeriod\tPrefix\tCondition\tConfigOut"),
            )
        described.update(extra)
        # The signature's tag comes from what it signs (all but the description), which
        # breaks the description <-> signature cycle and still changes with any content.
        sig_name = tagged_name("signature.sha1", self._signature("sha256").encode())
        sig_stem = sig_name.rsplit(".", 1)[0]
        description = format_key_values({"signature": sig_name, **described})
        descr_name = self.put("description.cfg", description.encode())
        digests = {}
        for sign_type in SIGN_TYPES:
            text = self._signature(sign_type).encode()
            self.area.files[f"{self.prefix}{sig_stem}.{sign_type}"] = StageFile(text)
            digests[sign_type] = hashlib.new(sign_type, text).hexdigest()
        return descr_name, digests


def _script_rows(
    scope: Scope, web_base: Path, items: list[ManifestItem], list_id: str
) -> list[tuple[str, ...]]:
    return [
        scope.list_row(item.name, (web_base / item.name).read_bytes(), item.type, item.config_out)
        for item in items
        if item.list == list_id
    ]


def _file_rows(scope: Scope, files: list[StagedFile]) -> list[tuple[str, ...]]:
    """List rows of configured files (the glidein prefixes config_out keys for non-main IDs)."""
    rows: list[tuple[str, ...]] = []
    for f in files:
        data = f.source.read_bytes()
        opts = {"period": str(f.period), "prefix": f.prefix, "cond": f.cond_attr}
        out = f.config_out or "FALSE"
        if f.kind == "nocache":
            scope.area.files[scope.prefix + f.name] = StageFile(data)
            rows.append((f.name, f.name, "nocache", opts["period"], f.prefix, f.cond_attr, out))
        else:
            rows.append(scope.list_row(f.name, data, f.kind, out, **opts))
    return rows


def _untar_cfg(files: list[StagedFile], cfg: MasterConfig | None) -> bytes:
    rows = [(f.name, str(f.untar_dir)) for f in files if f.kind == "untar"]
    if cfg is not None:
        rows += [(_tarball_target(t.version, t.os, t.arch), "condor") for t in cfg.tarballs]
    return format_key_values(dict(rows)).encode()


def _tarball_target(version: str, os_name: str, arch: str) -> str:
    return f"condor_bin_{version}-{os_name}-{arch}.tgz"


def placeholder_rows(
    scope: Scope, consts: bytes, cvars: bytes, untar: bytes
) -> list[tuple[str, ...]]:
    """The rows every file list starts with: constants, condor vars, untar config."""
    return [
        scope.list_row("constants.cfg", consts, "regular", "CONSTS_FILE", prefix="NOPREFIX"),
        scope.list_row("condor_vars.lst", cvars, "regular", "CONDOR_VARS_FILE", prefix="NOPREFIX"),
        scope.list_row("untar.cfg", untar, "regular", "UNTAR_CFG_FILE", prefix="NOPREFIX"),
    ]


def _startup_script(web_base: Path) -> bytes:
    """glidein_startup.sh, with a tarball of the `*.source` helpers after its `#EOF` line.

    Only appended when the script ends with an `exit` or `#EOF` line: bash never reads
    past it, so the payload cannot be executed by accident.
    """
    script = (web_base / STARTUP_SCRIPT).read_bytes()
    lines = [line.strip() for line in script.decode(errors="replace").splitlines() if line.strip()]
    sources = sorted(web_base.glob("*.source"))
    if not sources or not lines or not (lines[-1] == "#EOF" or lines[-1].startswith("exit")):
        return script
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for path in sources:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    marker = b"" if lines[-1] == "#EOF" else b"#EOF\n"
    return script.rstrip(b"\n") + b"\n" + marker + buffer.getvalue()


def build_stage(cfg: MasterConfig, web_base: Path) -> tuple[StageArea, dict[str, str]]:
    """Every staged file, plus scope -> description name; raises StagingError."""
    items = read_script_manifest(web_base)
    area = StageArea(signatures={t: [] for t in SIGN_TYPES})
    startup = _startup_script(web_base)
    area.files[STARTUP_SCRIPT] = StageFile(startup, 0o755)
    descriptions: dict[str, str] = {}

    main = Scope(area, "")
    grid_map = "".join(f'"{c["DN"]}" collector\n' for c in cfg.collectors if c["DN"]).encode()
    file_list = placeholder_rows(
        main,
        _constants(cfg.attrs),
        _condor_vars(cfg.attrs, BASE_CONDOR_VARS),
        _untar_cfg(cfg.files, cfg),
    )
    file_list.append(
        main.list_row("grid-mapfile", grid_map, "regular", "GRIDMAP", prefix="NOPREFIX")
    )
    file_list += _script_rows(main, web_base, items, "main:file_list")
    file_list += _script_rows(main, web_base, items, "main:last_script")
    file_list += _file_rows(main, [f for f in cfg.files if not f.after_entry])
    packed: dict[Path, bytes] = {}  # a comma-list tarball is one source for many platforms
    for tarball in cfg.tarballs:
        if tarball.source not in packed:
            source = tarball.source
            packed[source] = _pack_dir(source) if tarball.is_dir else source.read_bytes()
        data = packed[tarball.source]
        platform = f"{tarball.version}-{tarball.os}-{tarball.arch}"
        target = _tarball_target(tarball.version, tarball.os, tarball.arch)
        file_list.append(
            main.list_row(target, data, "untar", "CONDOR_DIR", cond=f"CONDOR_PLATFORM_{platform}")
        )
    after = _script_rows(main, web_base, items, "main:after_file_list")
    after += _file_rows(main, [f for f in cfg.files if f.after_entry])
    last = [item.name for item in items if item.list == "main:last_script"]
    lists = {
        "file_list": file_list,
        "precvmfs_file_list": [],
        "at_file_list": _script_rows(main, web_base, items, "main:at_file_list"),
        "after_file_list": after,
    }
    descr, digests = main.finish(lists, {"last_script": last[0]} if last else {})
    descriptions["main"] = descr
    for sign_type in SIGN_TYPES:
        area.signatures[sign_type].append(SignatureLine(digests[sign_type], descr, "main"))

    for entry in cfg.entries.values():
        scope = Scope(area, f"entry_{entry.name}/")
        rows = placeholder_rows(
            scope,
            _constants(entry.attrs),
            _condor_vars(entry.attrs, ENTRY_CONDOR_VARS),
            _untar_cfg(entry.files, None),
        )
        area.files[scope.prefix + BLACKLIST] = StageFile(
            b"# One node per line, in single quotes: 'wn12.example.org'\n", keep_existing=True
        )
        rows.append((BLACKLIST, BLACKLIST, "nocache", "0", "NOPREFIX", "TRUE", "BLACKLIST_FILE"))
        rows += _script_rows(scope, web_base, items, "entry:file_list")
        rows += _file_rows(scope, entry.files)
        descr, digests = scope.finish({"file_list": rows}, {})
        descriptions[f"entry_{entry.name}"] = descr
        for sign_type in SIGN_TYPES:
            area.signatures[sign_type].append(
                SignatureLine(digests[sign_type], descr, f"entry_{entry.name}")
            )
    return area, descriptions
