"""Load the master config (XML, `config.d/*.xml` fragments, or YAML) into a checked model.

Everything is validated before anything is returned: `load_config` either gives a
`MasterConfig` or raises `ConfigInvalid` carrying every `file:line: message` found.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from glideinwms_factory.creation import schema
from glideinwms_factory.creation.entry_sets import read_entry_set
from glideinwms_factory.creation.expand import expand_entry, expand_globals
from glideinwms_factory.creation.generated_attrs import factory_collector
from glideinwms_factory.creation.master_model import ConfigInvalid, Dirs, Entry, MasterConfig
from glideinwms_factory.creation.merge import Merger
from glideinwms_factory.creation.section_readers import (
    check_frontend_refs,
    read_attributes,
    read_entry,
    read_frontends,
    read_staged_files,
    read_tarballs,
    read_web_port,
)
from glideinwms_factory.creation.xmlcheck import (
    Issue,
    Node,
    Origins,
    as_int,
    check_element,
    parse_xml,
)
from glideinwms_factory.creation.yamlform import parse_yaml


def _relocate(path: str, base: Path, root: Path | None) -> Path:
    resolved = (base / path).resolve() if not Path(path).is_absolute() else Path(path)
    return root / resolved.relative_to("/") if root is not None else resolved


def _sources(master: Path) -> list[Path]:
    """The master config and its `config.d/` fragments, in merge (file-name) order."""
    config_d = master.parent / "config.d"
    if not config_d.is_dir():
        return [master]
    fragments = [p for p in config_d.iterdir() if p.suffix in (".xml", ".yaml", ".yml")]
    return [master, *sorted(p for p in fragments if p.is_file())]


def _read_sources(sources: list[Path], issues: list[Issue], warnings: list[Issue]) -> Node | None:
    """The master <glidein> with every fragment merged into it (`creation/merge`), checked."""
    origins = Origins()
    merged: etree._Element | None = None
    for index, path in enumerate(sources):
        is_yaml = path.suffix in (".yaml", ".yml")
        root = parse_yaml(path, issues) if is_yaml else parse_xml(path, issues)
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
        origins.lines[str(path)] = (
            None if is_yaml else path.read_text(errors="replace").splitlines()
        )
        if index == 0:
            merged = root
        elif merged is not None:
            Merger(origins, warnings).merge(merged, root, str(sources[0]), str(path))
    if merged is None:
        return None
    master = str(sources[0])
    return check_element(
        merged,
        schema.GLIDEIN,
        master,
        issues,
        origins.lines[master],
        warnings=warnings,
        origins=origins,
    )


def schedd_names(glidein: dict[str, object]) -> list[str]:
    """The factory's schedds: `schedd_name` is a comma list."""
    return [name.strip() for name in str(glidein["schedd_name"]).split(",") if name.strip()]


def _check_cvmfsexec(glidein: Node, issues: list[Issue], warnings: list[Issue]) -> None:
    """cvmfsexec distributions are built from their upstream sources, which this host
    cannot fetch: accepted with a warning, nothing staged (upstream's own check kept)."""
    for distro in glidein.all("cvmfsexec_distro"):
        if distro["platforms"] and not distro["sources"]:
            issues.append(
                Issue(distro.file, distro.line, "cvmfsexec_distro: platforms given without sources")
            )
        elif distro["sources"]:
            warnings.append(
                Issue(
                    distro.file,
                    distro.line,
                    f"cvmfsexec_distro sources={distro['sources']!r}: its distributions cannot"
                    " be built on this host; none is staged",
                )
            )


def load_config(master: str | Path, root: str | Path | None = None) -> MasterConfig:
    """Validate the master config and its `config.d/` fragments; ConfigInvalid on any error."""
    master = Path(master).resolve()
    relocate_root = Path(root).resolve() if root is not None else None
    issues: list[Issue] = []
    warnings: list[Issue] = []
    sources = _sources(master)
    glidein = _read_sources(sources, issues, warnings)
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
    _check_cvmfsexec(glidein, issues, warnings)
    if not schedd_names(glidein.attrs):
        issues.append(Issue(glidein.file, glidein.line, "schedd_name names no schedd"))
    key_length = as_int(sections["security"]["key_length"])
    if key_length < 2048:
        issues.append(Issue(glidein.file, glidein.line, f"security key_length {key_length} < 2048"))
    num_factories = as_int(sections["submit"]["num_factories"])
    entries: dict[str, Entry] = {}
    for node in glidein.all("entries", "entry"):
        entry = read_entry(node, base, backend, num_factories, issues, warnings)
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
    for node in glidein.all("entry_sets", "entry_set"):
        entry_set = read_entry_set(node, base, backend, num_factories, issues, warnings)
        if entry_set is None:
            continue
        if entry_set.name in entries:
            issues.append(
                Issue(
                    node.file,
                    node.line,
                    f"entry_set alias {entry_set.name!r} is also an entry"
                    f" (at {entries[entry_set.name].where})",
                )
            )
            continue
        entries[entry_set.name] = entry_set
    if not entries and not issues:
        issues.append(Issue(glidein.file, glidein.line, "no <entry> defined"))
    frontends = read_frontends(glidein, issues)
    check_frontend_refs(list(entries.values()), frontends, warnings)
    tarballs = read_tarballs(glidein, base, issues)
    if backend == "htcondor" and not tarballs and glidein.all("condor_tarballs"):
        issues.append(
            Issue(glidein.file, glidein.line, "<condor_tarballs> needs at least one tarball")
        )
    attrs = read_attributes(glidein, issues)
    collectors = [
        dict(c.attrs) for c in glidein.all("monitoring_collectors", "monitoring_collector")
    ]
    collector_attr = factory_collector(collectors)
    if collector_attr is not None and collector_attr.name not in {a.name for a in attrs}:
        attrs.append(collector_attr)
    if glidein["enable_attribute_expansion"]:
        attrs = expand_globals(attrs, glidein.file, glidein.line, issues)
        entries = {name: expand_entry(e, attrs, issues) for name, e in entries.items()}
    files = read_staged_files(glidein, base, issues, warnings)
    web_port = read_web_port(
        glidein, str(sections["stage"].get("web_base_url") or "http://localhost"), issues
    )
    if issues:
        raise ConfigInvalid(issues)
    dirs = _dirs(glidein, sections, base, relocate_root)
    return MasterConfig(
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
        collectors=collectors,
        entries=entries,
        sources=sources,
        warnings=warnings,
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
