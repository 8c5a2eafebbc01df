"""Read each section of a checked master config into its model record.

Every reader appends what is wrong to `issues` (as `file:line: message`) and goes on, so
`load_config` reports all errors of a config at once.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from urllib.parse import urlsplit

from glideinwms_factory.creation import schema
from glideinwms_factory.creation.generated_attrs import standard_entry_attrs, with_standard
from glideinwms_factory.creation.master_model import (
    Attribute,
    Entry,
    Frontend,
    Limits,
    StagedFile,
    Tarball,
)
from glideinwms_factory.creation.xmlcheck import Issue, Node, as_int

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


def read_attributes(node: Node, issues: list[Issue]) -> list[Attribute]:
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
    if item["type"]:
        kind = str(item["type"]).split(":")[0]
        if kind in ("source", "library"):  # sourced by upstream's scripts: plain files here
            return "regular" if item["const"] else "nocache"
        return kind
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


def _periodic(time: str) -> int:
    """The N of `periodic:N` in a file's `time` (0 when absent)."""
    for word in time.split(","):
        if word.startswith("periodic:"):
            return int(word.split(":")[1])
    return 0


def _ignored_times(time: str) -> list[str]:
    return [w for w in time.split(",") if w != "startup" and not w.startswith("periodic")]


def read_staged_files(
    node: Node, base: Path, issues: list[Issue], warnings: list[Issue]
) -> list[StagedFile]:
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
        elif item["type"] and any(item[f] for f in ("executable", "wrapper", "untar")):
            problem = "give either type or executable/wrapper/untar, not both"
        if problem:
            issues.append(Issue(item.file, item.line, problem))
            continue
        options = item.one("untar_options", schema.GLIDEIN.children["files"].children["file"])
        kind = _file_kind(item)
        period = item.number("period") or _periodic(str(item["time"]))
        if _ignored_times(str(item["time"])):
            warnings.append(
                Issue(
                    item.file,
                    item.line,
                    f"file {name}: time {','.join(_ignored_times(str(item['time'])))} is not run"
                    " by this factory's glidein (startup and periodic are): staged only",
                )
            )
        result.append(
            StagedFile(
                source,
                name,
                kind,
                period,
                str(item["prefix"]),
                str(item["cond_download"] or options["cond_attr"]),
                str(options["dir"] or name.split(".")[0]) if kind == "untar" else None,
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


def read_entry(
    node: Node,
    base: Path,
    backend: str,
    num_factories: int,
    issues: list[Issue],
    warnings: list[Issue],
) -> Entry:
    spec = schema.ENTRY
    config = node.one("config", spec)
    config_spec = schema.ENTRY_CONFIG
    max_jobs = config.one("max_jobs", config_spec)
    max_spec = config_spec.children["max_jobs"]
    submit = config.one("submit", config_spec)
    require_voms = bool(config.one("restrictions", config_spec)["require_voms_proxy"])
    problem = _grid_type_issue(str(node["gridtype"]), backend)
    if problem and not node["enabled"] and str(node["gridtype"]) in REFUSED_GRID_TYPES:
        # A disabled entry is never submitted to: upstream keeps it, so do we (warned).
        warnings.append(Issue(node.file, node.line, f"entry {node['name']}: {problem} (disabled)"))
    elif problem:
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
        require_voms_proxy=require_voms,
        submit_attrs=submit_attrs,
        allowed_frontends=allowed,
        attrs=with_standard(
            read_attributes(node, issues),
            standard_entry_attrs(node.attrs, submit.attrs, require_voms),
        ),
        files=read_staged_files(node, base, issues, warnings),
        file=node.file,
        line=node.line,
    )


def read_frontends(glidein: Node, issues: list[Issue]) -> dict[str, Frontend]:
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


def check_frontend_refs(
    entries: list[Entry], frontends: dict[str, Frontend], warnings: list[Issue]
) -> None:
    """A whitelist or limit naming an undefined frontend or class matches no request:
    accepted (as upstream does) with a warning."""
    for entry in entries:
        file, line = entry.file, entry.line
        for ref in [*entry.allowed_frontends, *entry.per_frontends]:
            fe, _, sc = ref.partition(":")
            if fe not in frontends:
                warnings.append(
                    Issue(
                        file, line, f"entry {entry.name}: unknown frontend {fe!r} (matches nothing)"
                    )
                )
            elif sc != "All" and sc not in frontends[fe].usermap:
                warnings.append(
                    Issue(
                        file,
                        line,
                        f"entry {entry.name}: frontend {fe!r} has no class {sc!r} (matches none)",
                    )
                )


def read_tarballs(glidein: Node, base: Path, issues: list[Issue]) -> list[Tarball]:
    result = []
    seen: dict[tuple[str, str, str], str] = {}
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
        # Comma lists in os/arch/version: one tarball per combination (upstream's rule).
        for os_name, arch, version in itertools.product(
            *(_words(str(item[key])) for key in ("os", "arch", "version"))
        ):
            if (os_name, arch, version) in seen:
                issues.append(
                    Issue(
                        item.file,
                        item.line,
                        f"condor_tarball {version}-{os_name}-{arch} given twice"
                        f" (first at {seen[(os_name, arch, version)]})",
                    )
                )
                continue
            seen[(os_name, arch, version)] = item.where()
            result.append(Tarball(os_name, arch, version, source, is_dir))
    return result


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()] or ["default"]


def read_web_port(glidein: Node, url: str, issues: list[Issue]) -> int:
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
