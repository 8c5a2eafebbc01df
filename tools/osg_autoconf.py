"""`OSG_autoconf CONFIG.yaml`: the config.d fragment of the CEs an operator whitelists.

Inputs (upstream's OSG_autoconf layout): CONFIG.yaml names the whitelist/override files
(`OSG_WHITELISTS`, site -> CE host -> catalog name -> entry name -> settings), the
defaults (`OSG_DEFAULT`, `DEFAULT_SITE/DEFAULT_GETEKEEPER/DEFAULT_ENTRY`, and optionally a
site's own `DEFAULT_GETEKEEPER/DEFAULT_ENTRY`) and the CE information (`OSG_CE_INFO`, or
`--ce-info`: the CEs' Schedd ads as the OSG collector publishes them, tools/osg_ce_info).
Each entry's settings are merged, lowest first: default.yml, the site's defaults, what the
collector says about the CE, the whitelist (later whitelist files win). The output is a
`<glidein><entries>` fragment for create_glidein; `--dry-run` prints the diff instead.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import html
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from glideinwms_factory.lib import cli
from glideinwms_factory.tools.osg_ce_info import CE, CEInfoError, read_ce_info

DEFAULT = ("DEFAULT_SITE", "DEFAULT_GETEKEEPER", "DEFAULT_ENTRY")  # upstream's spelling
CE_PORT = 9619
# submission_speed -> (cluster_size, max_per_cycle, sleep)
SPEEDS = {
    "super_slow": (10, 1, 2),
    "very_slow": (10, 2, 2),
    "slow": (10, 5, 2),
    "normal": (10, 10, 2),
    "fast": (10, 25, 2),
    "very_fast": (10, 50, 2),
}
# <attr> flags when the YAML does not say (upstream's generated entries).
ATTR_DEFAULTS = {
    "const": True,
    "glidein_publish": True,
    "job_publish": False,
    "parameter": True,
    "publish": True,
    "type": "string",
}
ENTRY_KEYS: tuple[str, ...] = ("auth_method", "enabled", "gridtype", "proxy_url")
ENTRY_KEYS += ("trust_domain",)
ENTRY_KEYS += ("verbosity", "work_dir", "comment")


class AutoconfError(Exception):
    """A one-line reason the fragment cannot be made (exit 1)."""


def merged(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep merge, later layers win; mappings merge key by key, None adds nothing."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, Mapping) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            elif value is not None or key not in result:
                result[key] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else value
    return result


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AutoconfError(f"{path}: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AutoconfError(f"{path}: expected a mapping at the top")
    return data


def _dig(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any] | None:
    for key in keys:
        value = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(value, Mapping):
            return None
        data = value
    return data


def entry_settings(
    whitelist: Mapping[str, Any],
    defaults: Mapping[str, Any],
    ces: Mapping[str, Mapping[str, CE]],
) -> tuple[dict[str, tuple[str, dict[str, Any]]], list[str]]:
    """entry name -> (CE host, merged settings); and one note per whitelisted entry the
    collector does not know (left out, as upstream's missing list)."""
    entries: dict[str, tuple[str, dict[str, Any]]] = {}
    notes: list[str] = []
    base = _dig(defaults, *DEFAULT)
    for site, site_ces in whitelist.items():
        site_default = _dig(defaults, site, DEFAULT[1], DEFAULT[2])
        for host, catalogs in (site_ces or {}).items():
            ce = ces.get(site, {}).get(str(host).lower())
            for catalog, names in (catalogs or {}).items():
                collector = ce.entry_defaults(str(catalog)) if ce is not None else None
                for name, overrides in (names or {}).items():
                    if collector is None:
                        notes.append(
                            f"{site}/{host}/{catalog}: not in the CE information; "
                            f"entry {name} left out"
                        )
                        continue
                    settings = merged(base, site_default, collector, overrides)
                    entries[str(name)] = (str(host).lower(), settings)
    return entries, notes


def _percent(total: int, value: object) -> int:
    return int(total * float(str(value)) / 100)


def _limits(parent: etree._Element, settings: Mapping[str, Any]) -> None:
    limits = settings.get("limits") or {}
    entry = limits.get("entry") or {}
    frontend = limits.get("frontend") or {}
    glideins = int(entry.get("glideins", 10000))
    fe_glideins = min(int(frontend.get("glideins", 5000)), glideins)
    for tag, total, pct in (
        ("default_per_frontend", fe_glideins, frontend),
        ("per_entry", glideins, entry),
    ):
        etree.SubElement(
            parent,
            tag,
            glideins=str(total),
            held=str(_percent(total, pct.get("held", 10))),
            idle=str(_percent(total, pct.get("idle", 20))),
        )
    etree.SubElement(parent, "per_frontends")


def _submit(parent: etree._Element, name: str, settings: Mapping[str, Any]) -> None:
    speed = str(settings.get("submission_speed", "normal")).replace(" ", "_").replace("-", "_")
    if speed not in SPEEDS:
        raise AutoconfError(
            f"entry {name}: submission_speed {settings.get('submission_speed')!r} is not one of "
            f"{', '.join(s.replace('_', ' ') for s in SPEEDS)}"
        )
    cluster, per_cycle, sleep = SPEEDS[speed]
    submit = etree.SubElement(
        parent,
        "submit",
        cluster_size=str(cluster),
        max_per_cycle=str(per_cycle),
        sleep=str(sleep),
        slots_layout="fixed",
    )
    attrs = etree.SubElement(submit, "submit_attrs")
    for key, value in sorted((settings.get("submit_attrs") or {}).items()):
        # Whitelists write quotes as &quot; (upstream pasted them into XML text).
        etree.SubElement(attrs, "submit_attr", name=str(key), value=html.unescape(str(value)))


def entry_element(name: str, host: str, settings: Mapping[str, Any]) -> etree._Element:
    """One `<entry>` as upstream's OSG_autoconf writes it."""
    attrib = {"gatekeeper": f"{host} {host}:{CE_PORT}", "gridtype": "condor"}
    for key in ENTRY_KEYS:
        if settings.get(key) not in (None, ""):
            attrib[key] = str(settings[key])
    entry = etree.Element("entry", {"name": name, **{k: attrib[k] for k in sorted(attrib)}})
    config = etree.SubElement(entry, "config")
    max_jobs = etree.SubElement(config, "max_jobs")
    if settings.get("num_factories"):
        max_jobs.set("num_factories", str(settings["num_factories"]))
    _limits(max_jobs, settings)
    etree.SubElement(config, "release", max_per_cycle="20", sleep="0.2")
    etree.SubElement(config, "remove", max_per_cycle="5", sleep="0.2")
    etree.SubElement(config, "restrictions", require_voms_proxy="False")
    _submit(config, name, settings)
    etree.SubElement(entry, "allow_frontends")
    attrs = etree.SubElement(entry, "attrs")
    for attr_name, spec in sorted((settings.get("attrs") or {}).items()):
        spec = spec or {}
        if spec.get("value") is None:  # a default that says how, but no value: not set
            continue
        values = {**ATTR_DEFAULTS, **spec}
        attr = etree.SubElement(attrs, "attr", name=str(attr_name))
        for key in sorted(k for k in values if k != "value"):
            attr.set(key, str(values[key]))
        attr.set("value", str(values["value"]))
    for tag in ("files", "infosys_refs", "monitorgroups"):
        etree.SubElement(entry, tag)
    return entry


def fragment(entries: Mapping[str, tuple[str, Mapping[str, Any]]]) -> str:
    root = etree.Element("glidein")
    parent = etree.SubElement(root, "entries")
    for name in sorted(entries):
        host, settings = entries[name]
        parent.append(entry_element(name, host, settings))
    etree.indent(root, space="   ")
    return etree.tostring(root, encoding="unicode") + "\n"


def _paths(config: Mapping[str, Any], key: str, base: Path) -> list[Path]:
    """The config's paths for `key` (a path or a list), relative ones from its folder."""
    value = config.get(key)
    values = value if isinstance(value, list) else [value] if value else []
    return [base / str(v) for v in values]


def build(args: argparse.Namespace) -> tuple[str, list[str]]:
    config = _load_yaml(Path(args.config))
    base = Path(args.config).parent

    def one(option: str | None, key: str) -> Path | None:
        return Path(option) if option else next(iter(_paths(config, key, base)), None)

    whitelists = [Path(p) for p in args.whitelist] or _paths(config, "OSG_WHITELISTS", base)
    default_path = one(args.default, "OSG_DEFAULT")
    info_path = one(args.ce_info, "OSG_CE_INFO")
    if not whitelists or default_path is None or info_path is None:
        raise AutoconfError(
            f"{args.config}: needs OSG_WHITELISTS, OSG_DEFAULT and OSG_CE_INFO (or the options)"
        )
    whitelist = merged(*(_load_yaml(p) for p in whitelists))
    try:
        ces = read_ce_info(info_path)
    except CEInfoError as exc:
        raise AutoconfError(str(exc)) from None
    entries, notes = entry_settings(whitelist, _load_yaml(default_path), ces)
    return fragment(entries), notes


@cli.command("OSG_autoconf")
def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="OSG_autoconf", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="OSG_autoconf config.yaml")
    parser.add_argument("--ce-info", help="CE Schedd ads (condor_status -schedd -long dump)")
    parser.add_argument("--whitelist", action="append", default=[], help="whitelist YAML")
    parser.add_argument("--default", help="default.yml")
    parser.add_argument("--output", default="10-hosted-ces.auto.xml", help="fragment to write")
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    args = parser.parse_args(argv)
    try:
        text, notes = build(args)
    except AutoconfError as exc:
        print(f"OSG_autoconf: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"OSG_autoconf: warning: {note}", file=sys.stderr)
    output = Path(args.output)
    old = output.read_text() if output.is_file() else ""
    if args.dry_run:
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                text.splitlines(keepends=True),
                str(output),
                str(output),
            )
        )
        return 0
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text)
    tmp.replace(output)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
