"""Load the master config (XML, `config.d/*.xml` fragments, or YAML) into a checked model.

Everything is validated before anything is returned: `load_config` either gives a
`FactoryConfig` or raises `ConfigInvalid` carrying every `file:line: message` found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from glideinwms_factory.creation import schema
from glideinwms_factory.creation.xmlcheck import Issue, Node, as_int, check_element, parse_xml
from glideinwms_factory.creation.yamlform import parse_yaml

# Grid types each pool backend can submit to (spec/config.md §5). The embedded pool runs
# glideins as local processes from the job's Arguments; cloud types carry theirs in VM
# user data, so it cannot run them.
_BATCH_SYSTEMS = ("pbs", "lsf", "sge", "slurm", "condor")
BACKEND_GRID_TYPES = {
    "htcondor": ("condor", "arc", "ec2", "gce", "cream", "nordugrid", "batch"),
    "embedded": ("condor", "arc", "cream", "nordugrid", "batch"),
}
REFUSED_GRID_TYPES = ("gt2", "gt5")
# Attributes the generated submit file uses as numbers, whatever type the config gives them.
_INTEGER_ATTRS = ("GLIDEIN_Max_Walltime",)
_STAGED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ConfigInvalid(Exception):
    """The config has errors; `issues` lists all of them."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass(frozen=True)
class Attribute:
    """An `<attr>`: where it goes is decided by publish/parameter/const (config.md §2)."""

    name: str
    value: str
    type: str
    const: bool
    parameter: bool
    publish: bool
    glidein_publish: bool
    job_publish: bool

    def literal(self) -> object:
        return int(self.value) if self.type == "int" else self.value

    @property
    def in_attributes_cfg(self) -> bool:
        return self.publish and (self.const or not self.parameter)

    @property
    def in_params_cfg(self) -> bool:
        return self.publish and self.parameter and not self.const

    @property
    def is_constant(self) -> bool:
        return not self.in_params_cfg


@dataclass(frozen=True)
class StagedFile:
    """A `<file>` to stage: source on this host, name in the staging area, list columns."""

    source: Path
    name: str
    kind: str  # regular | nocache | exec | wrapper | untar
    period: int
    prefix: str
    cond_attr: str
    untar_dir: str | None
    config_out: str | None
    after_entry: bool


@dataclass(frozen=True)
class Tarball:
    """An HTCondor tarball: a ready `tar_file` or a `base_dir` to pack."""

    os: str
    arch: str
    version: str
    source: Path
    is_dir: bool


@dataclass(frozen=True)
class Limits:
    glideins: int
    idle: int
    held: int


@dataclass(frozen=True)
class Entry:
    name: str
    settings: dict[str, object]  # the <entry> attributes, converted and defaulted
    num_factories: int
    per_entry: Limits
    default_per_frontend: Limits
    per_frontends: dict[str, Limits]
    stale_age: dict[str, object]
    submit: dict[str, object]
    remove: dict[str, object]
    release: dict[str, object]
    require_voms_proxy: bool
    submit_attrs: dict[str, tuple[str, bool]]  # name -> (value, all_grid_types)
    allowed_frontends: list[str]  # "fe:sc"
    attrs: list[Attribute]
    files: list[StagedFile]
    file: str  # where it is defined
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def grid_type(self) -> str:
        return str(self.settings["gridtype"])

    @property
    def enabled(self) -> bool:
        return bool(self.settings["enabled"])


@dataclass(frozen=True)
class Frontend:
    name: str
    identity: str
    usermap: dict[str, str]  # security class -> local username


@dataclass(frozen=True)
class Dirs:
    """Every directory the config names, after `--root` relocation."""

    work: Path
    stage: Path
    monitor: Path
    log: Path
    client_log: Path
    client_proxies: Path
    pool_state: Path


@dataclass
class FactoryConfig:
    glidein: dict[str, object]
    sections: dict[str, dict[str, object]]  # monitor, security, stage, submit, embedded_pool ...
    retention: dict[str, dict[str, object]]
    process_logs: list[dict[str, object]]
    dirs: Dirs
    web_port: int
    frontends: dict[str, Frontend]
    attrs: list[Attribute]
    files: list[StagedFile]
    tarballs: list[Tarball]
    collectors: list[dict[str, object]]
    entries: dict[str, Entry]
    sources: list[Path] = field(default_factory=list)  # master + fragments, merge order

    @property
    def backend(self) -> str:
        return str(self.glidein["pool_backend"])


def _relocate(path: str, base: Path, root: Path | None) -> Path:
    resolved = (base / path).resolve() if not Path(path).is_absolute() else Path(path)
    return root / resolved.relative_to("/") if root is not None else resolved


def _attributes(node: Node, issues: list[Issue]) -> list[Attribute]:
    """The `<attr>`s of a scope; a repeated identical attr is tolerated (real configs have them)."""
    result: dict[str, Attribute] = {}
    for item in node.all("attrs", "attr"):
        name = str(item["name"])
        if item["type"] == "int" or name in _INTEGER_ATTRS:
            try:
                int(str(item["value"]))
            except ValueError:
                issues.append(Issue(item.file, item.line, f"attr {name}: value is not an integer"))
                continue
        attr = Attribute(
            name,
            str(item["value"]),
            str(item["type"]),
            bool(item["const"]),
            bool(item["parameter"]),
            bool(item["publish"]),
            bool(item["glidein_publish"]),
            bool(item["job_publish"]),
        )
        if result.get(name, attr) != attr:
            issues.append(
                Issue(item.file, item.line, f"attribute {name!r} defined twice, differently")
            )
        result[name] = attr
    return list(result.values())


def _file_kind(item: Node) -> str:
    if item["executable"]:
        return "exec"
    if item["wrapper"]:
        return "wrapper"
    if item["untar"]:
        return "untar"
    return "regular" if item["const"] else "nocache"


# Names the generator itself stages in every scope.
_RESERVED_NAMES = (
    "constants.cfg",
    "condor_vars.lst",
    "untar.cfg",
    "grid-mapfile",
    "nodes.blacklist",
)


def _staged_files(node: Node, base: Path, issues: list[Issue]) -> list[StagedFile]:
    result: list[StagedFile] = []
    for item in node.all("files", "file"):
        source = (base / str(item["absfname"])).resolve()
        name = str(item["relfname"] or source.name)
        problem = None
        if not source.is_file():
            problem = f"file {source} does not exist"
        elif not _STAGED_NAME.fullmatch(name) or name in _RESERVED_NAMES:
            problem = f"cannot stage a file as {name!r} (set relfname)"
        elif name in {f.name for f in result}:
            problem = f"staged file name {name!r} used twice"
        elif sum(bool(item[flag]) for flag in ("executable", "wrapper", "untar")) > 1:
            problem = "a file is only one of executable, wrapper, untar"
        if problem:
            issues.append(Issue(item.file, item.line, problem))
            continue
        options = item.one("untar_options", schema.GLIDEIN.children["files"].children["file"])
        result.append(
            StagedFile(
                source,
                name,
                _file_kind(item),
                item.number("period"),
                str(item["prefix"]),
                str(options["cond_attr"]),
                str(options["dir"] or name.split(".")[0]) if item["untar"] else None,
                str(options["absdir_outattr"]) if options["absdir_outattr"] else None,
                bool(item.attrs.get("after_entry", False)),
            )
        )
    return result


def _limits(node: Node) -> Limits:
    return Limits(node.number("glideins"), node.number("idle"), node.number("held"))


def _grid_type_issue(grid_type: str, backend: str) -> str | None:
    words = grid_type.split()
    kind = words[0] if words else ""
    if kind in REFUSED_GRID_TYPES:
        return f"grid type {grid_type!r} is no longer supported (gt2/gt5 are refused)"
    if kind == "batch" and (len(words) != 2 or words[1] not in _BATCH_SYSTEMS):
        return f"grid type {grid_type!r}: expected 'batch <{'|'.join(_BATCH_SYSTEMS)}>'"
    if kind != "batch" and len(words) != 1:
        return f"unknown grid type {grid_type!r}"
    if kind not in BACKEND_GRID_TYPES["htcondor"]:
        return f"unknown grid type {grid_type!r}"
    if kind not in BACKEND_GRID_TYPES[backend]:
        return f"grid type {grid_type!r} cannot be submitted by the {backend} pool backend"
    return None


def _entry(node: Node, base: Path, backend: str, num_factories: int, issues: list[Issue]) -> Entry:
    spec = schema.ENTRY
    config = node.one("config", spec)
    config_spec = schema.ENTRY_CONFIG
    max_jobs = config.one("max_jobs", config_spec)
    max_spec = config_spec.children["max_jobs"]
    submit = config.one("submit", config_spec)
    problem = _grid_type_issue(str(node["gridtype"]), backend)
    if problem:
        issues.append(Issue(node.file, node.line, f"entry {node['name']}: {problem}"))
    submit_attrs: dict[str, tuple[str, bool]] = {}
    for item in submit.all("submit_attrs", "submit_attr"):
        submit_attrs[str(item["name"])] = (str(item["value"]), bool(item["all_grid_types"]))
    per_frontends = {
        str(p["name"]): _limits(p) for p in max_jobs.all("per_frontends", "per_frontend")
    }
    allowed = [
        f"{a['name']}:{a['security_class']}" for a in node.all("allow_frontends", "allow_frontend")
    ]
    return Entry(
        name=str(node["name"]),
        settings=dict(node.attrs),
        num_factories=as_int(max_jobs["num_factories"] or num_factories),
        per_entry=_limits(max_jobs.one("per_entry", max_spec)),
        default_per_frontend=_limits(max_jobs.one("default_per_frontend", max_spec)),
        per_frontends=per_frontends,
        stale_age=dict(config.one("stale_age", config_spec).attrs),
        submit=dict(submit.attrs),
        remove=dict(config.one("remove", config_spec).attrs),
        release=dict(config.one("release", config_spec).attrs),
        require_voms_proxy=bool(config.one("restrictions", config_spec)["require_voms_proxy"]),
        submit_attrs=submit_attrs,
        allowed_frontends=allowed,
        attrs=_attributes(node, issues),
        files=_staged_files(node, base, issues),
        file=node.file,
        line=node.line,
    )


def _frontends(glidein: Node, issues: list[Issue]) -> dict[str, Frontend]:
    result: dict[str, Frontend] = {}
    parents = glidein.all("security", "frontends")
    for item in [c for p in parents for c in p.children if c.tag == "frontend"]:
        if "name" not in item.attrs:
            continue
        name, identity = str(item["name"]), str(item.attrs.get("identity", "")).strip()
        if name in result:
            issues.append(Issue(item.file, item.line, f"frontend {name!r} defined twice"))
            continue
        if "identity" in item.attrs and (not identity or "@" not in identity):
            issues.append(
                Issue(item.file, item.line, f"frontend {name!r}: identity must be 'name@domain'")
            )
        usermap: dict[str, str] = {}
        for sc in item.all("security_classes", "security_class"):
            if sc["name"] in usermap:
                issues.append(
                    Issue(sc.file, sc.line, f"security class {sc['name']!r} defined twice")
                )
            usermap[str(sc["name"])] = str(sc["username"])
        if not usermap:
            issues.append(Issue(item.file, item.line, f"frontend {name!r} has no security class"))
        result[name] = Frontend(name, identity, usermap)
    return result


def _check_frontend_refs(
    entries: list[Entry], frontends: dict[str, Frontend], issues: list[Issue]
) -> None:
    for entry in entries:
        file, line = entry.file, entry.line
        for ref in [*entry.allowed_frontends, *entry.per_frontends]:
            fe, _, sc = ref.partition(":")
            if fe not in frontends:
                issues.append(Issue(file, line, f"entry {entry.name}: unknown frontend {fe!r}"))
            elif sc != "All" and sc not in frontends[fe].usermap:
                issues.append(
                    Issue(file, line, f"entry {entry.name}: frontend {fe!r} has no class {sc!r}")
                )


def _tarballs(glidein: Node, base: Path, issues: list[Issue]) -> list[Tarball]:
    result = []
    for item in glidein.all("condor_tarballs", "condor_tarball"):
        given = [key for key in ("tar_file", "base_dir") if item[key]]
        if len(given) != 1:
            issues.append(
                Issue(
                    item.file, item.line, "condor_tarball needs exactly one of tar_file, base_dir"
                )
            )
            continue
        source = (base / str(item[given[0]])).resolve()
        is_dir = given[0] == "base_dir"
        if not (source.is_dir() if is_dir else source.is_file()):
            issues.append(
                Issue(item.file, item.line, f"condor_tarball {given[0]} {source} does not exist")
            )
            continue
        result.append(
            Tarball(str(item["os"]), str(item["arch"]), str(item["version"]), source, is_dir)
        )
    return result


def _web_port(glidein: Node, url: str, issues: list[Issue]) -> int:
    parts = urlsplit(url)
    try:
        url_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        issues.append(Issue(glidein.file, glidein.line, f"web_base_url {url!r}: bad port"))
        return 0
    pool = glidein.one("embedded_pool", schema.GLIDEIN)
    given = pool["web_port"]
    if given is not None and given != url_port:
        issues.append(
            Issue(
                pool.file,
                pool.line,
                f"web_port {given} differs from the port of web_base_url ({url_port})",
            )
        )
    return url_port


def _read_sources(master: Path, issues: list[Issue]) -> tuple[Node | None, list[Node], list[Path]]:
    """The master <glidein> node and the fragments' nodes, in merge order."""
    sources = [master]
    config_d = master.parent / "config.d"
    if config_d.is_dir():
        sources += sorted(
            p for p in config_d.iterdir() if p.suffix in (".xml", ".yaml", ".yml") and p.is_file()
        )
    glidein: Node | None = None
    fragments: list[Node] = []
    for index, path in enumerate(sources):
        if path.suffix in (".yaml", ".yml"):
            root = parse_yaml(path, issues)
        else:
            root = parse_xml(path, issues)
        if root is None:
            continue
        if root.tag != "glidein":
            issues.append(
                Issue(
                    str(path),
                    root.sourceline or 0,
                    f"root element must be <glidein>, not <{root.tag}>",
                )
            )
            continue
        spec = schema.GLIDEIN if index == 0 else schema.FRAGMENT
        lines = (
            None
            if path.suffix in (".yaml", ".yml")
            else path.read_text(errors="replace").splitlines()
        )
        node = check_element(root, spec, str(path), issues, lines)
        if index == 0:
            glidein = node
        else:
            fragments.append(node)
    return glidein, fragments, sources


def schedd_names(glidein: dict[str, object]) -> list[str]:
    """The factory's schedds: `schedd_name` is a comma list."""
    return [name.strip() for name in str(glidein["schedd_name"]).split(",") if name.strip()]


def _refuse_unsupported(glidein: Node, issues: list[Issue]) -> None:
    """Upstream features this factory does not implement: an error, never silently ignored."""
    if glidein["enable_attribute_expansion"]:
        issues.append(
            Issue(glidein.file, glidein.line, "enable_attribute_expansion=True is not supported")
        )
    for distro in glidein.all("cvmfsexec_distro"):
        if distro["sources"] or distro["platforms"]:
            issues.append(Issue(distro.file, distro.line, "cvmfsexec_distro is not supported"))


def load_config(master: str | Path, root: str | Path | None = None) -> FactoryConfig:
    """Validate the master config and its `config.d/` fragments; ConfigInvalid on any error."""
    master = Path(master).resolve()
    relocate_root = Path(root).resolve() if root is not None else None
    issues: list[Issue] = []
    glidein, fragments, sources = _read_sources(master, issues)
    if glidein is None:
        raise ConfigInvalid(issues)
    base = master.parent
    spec = schema.GLIDEIN
    sections = {
        name: dict(glidein.one(name, spec).attrs)
        for name in (
            "monitor",
            "monitor_footer",
            "security",
            "stage",
            "submit",
            "embedded_pool",
        )
    }
    for name in ("monitor", "security", "stage", "submit"):
        if not any(child.tag == name for child in glidein.children):
            issues.append(
                Issue(glidein.file, glidein.line, f"<glidein>: missing required element <{name}>")
            )
    backend = str(glidein["pool_backend"])
    _refuse_unsupported(glidein, issues)
    if not schedd_names(glidein.attrs):
        issues.append(Issue(glidein.file, glidein.line, "schedd_name names no schedd"))
    key_length = as_int(sections["security"]["key_length"])
    if key_length < 2048:
        issues.append(Issue(glidein.file, glidein.line, f"security key_length {key_length} < 2048"))
    num_factories = as_int(sections["submit"]["num_factories"])
    entries: dict[str, Entry] = {}
    for node in [e for part in [glidein, *fragments] for e in part.all("entries", "entry")]:
        entry = _entry(node, base, backend, num_factories, issues)
        if entry.name in entries:
            issues.append(
                Issue(
                    node.file,
                    node.line,
                    f"duplicate entry {entry.name!r} (first at {entries[entry.name].where})",
                )
            )
            continue
        entries[entry.name] = entry
    if not entries and not issues:
        issues.append(Issue(glidein.file, glidein.line, "no <entry> defined"))
    frontends = _frontends(glidein, issues)
    _check_frontend_refs(list(entries.values()), frontends, issues)
    tarballs = _tarballs(glidein, base, issues)
    if backend == "htcondor" and not tarballs and glidein.all("condor_tarballs"):
        issues.append(
            Issue(glidein.file, glidein.line, "<condor_tarballs> needs at least one tarball")
        )
    attrs = _attributes(glidein, issues)
    files = _staged_files(glidein, base, issues)
    web_port = _web_port(
        glidein, str(sections["stage"].get("web_base_url") or "http://localhost"), issues
    )
    if issues:
        raise ConfigInvalid(issues)
    dirs = _dirs(glidein, sections, base, relocate_root)
    return FactoryConfig(
        glidein=dict(glidein.attrs),
        sections=sections,
        retention={
            name: dict(
                glidein.one("log_retention", spec).one(name, spec.children["log_retention"]).attrs
            )
            for name in ("condor_logs", "job_logs", "summary_logs")
        },
        process_logs=[
            dict(p.attrs) for p in glidein.all("log_retention", "process_logs", "process_log")
        ],
        dirs=dirs,
        web_port=web_port,
        frontends=frontends,
        attrs=attrs,
        files=files,
        tarballs=tarballs,
        collectors=[
            dict(c.attrs) for c in glidein.all("monitoring_collectors", "monitoring_collector")
        ],
        entries=entries,
        sources=sources,
    )


def _dirs(
    glidein: Node, sections: dict[str, dict[str, object]], base: Path, root: Path | None
) -> Dirs:
    suffix = f"glidein_{glidein['glidein_name']}" if glidein["factory_versioning"] else ""

    def place(value: object) -> Path:
        path = _relocate(str(value), base, root)
        return path / suffix if suffix else path

    submit = sections["submit"]
    work = place(submit["base_dir"])
    state = sections["embedded_pool"]["state_dir"]
    return Dirs(
        work=work,
        stage=place(sections["stage"]["base_dir"]),
        monitor=place(sections["monitor"]["base_dir"]),
        log=place(submit["base_log_dir"]),
        client_log=place(submit["base_client_log_dir"]),
        client_proxies=place(submit["base_client_proxies_dir"]),
        pool_state=_relocate(str(state), base, root) if state else work / "pool",
    )
