"""The generated files of the factory work dir (spec/config.md §3-§5), as data.

Pure functions of the checked config: `work_files` returns path -> text for everything
create/reconfig regenerate in WORK; writing them is `creation.install`'s job.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping

from glideinwms_factory.creation import schema
from glideinwms_factory.creation.job_condor import job_condor
from glideinwms_factory.creation.master_model import Attribute, Entry, Limits, MasterConfig
from glideinwms_factory.creation.xmlcheck import defaults
from glideinwms_factory.lib import downtimes
from glideinwms_factory.lib.descript import (
    FrontendInfo,
    SignatureLine,
    format_frontends,
    format_key_values,
    format_literals,
    format_signatures,
)
from glideinwms_factory.lib.descript_records import RUNNING_REMOVAL_PERCENT

# Without a <process_log>, glidein.descript lists one made of the schema's defaults.
_PROCESS_LOG = (
    schema.GLIDEIN.children["log_retention"].children["process_logs"].children["process_log"]
)


def _flag(value: object) -> str:
    return "True" if value else "False"


def assign_schedds(
    entries: list[str], schedds: list[str], previous: Mapping[str, str]
) -> dict[str, str]:
    """Entry -> schedd: keep earlier assignments, give new entries the least-loaded schedd."""
    load = dict.fromkeys(schedds, 0)
    result: dict[str, str] = {}
    for name in entries:
        if previous.get(name) in load:
            result[name] = previous[name]
            load[previous[name]] += 1
    for name in entries:
        if name not in result:
            chosen = min(schedds, key=lambda s: load[s])  # first of the least loaded
            result[name] = chosen
            load[chosen] += 1
    return result


def glidein_descript(cfg: MasterConfig) -> dict[str, object]:
    g, sec, mon = cfg.glidein, cfg.sections["security"], cfg.sections["monitor"]
    footer, pool = cfg.sections["monitor_footer"], cfg.sections["embedded_pool"]
    values: dict[str, object] = {
        "FactoryName": g["factory_name"],
        "GlideinName": g["glidein_name"],
        "WebURL": cfg.sections["stage"]["web_base_url"],
        "FactoryCollector": g["factory_collector"] or "None",
        "PubKeyType": sec["pub_key"],
        "PubKeyLength": sec["key_length"],
        "OldPubKeyGraceTime": sec["reuse_oldkey_onstartup_gracetime"],
        "RemoveOldCredFreq": sec["remove_old_cred_freq"],
        "RemoveOldCredAge": sec["remove_old_cred_age"],
        "Entries": ",".join(name for name, e in cfg.entries.items() if e.enabled),
        "LoopDelay": g["loop_delay"],
        "AdvertiseDelay": g["advertise_delay"],
        "AdvertiseWithTCP": _flag(g["advertise_with_tcp"]),
        "AdvertiseWithMultiple": _flag(g["advertise_with_multiple"]),
        "AdvertisePilotAccounting": _flag(g["advertise_pilot_accounting"]),
        "RestartAttempts": g["restart_attempts"],
        "RestartInterval": g["restart_interval"],
        "EntryParallelWorkers": g["entry_parallel_workers"],
        "EntryGroupSize": g["entry_group_size"],
        "RecoverableExitcodes": g["recoverable_exitcodes"],
        "NumFactories": cfg.sections["submit"]["num_factories"],
        "MonitorUpdateThreadCount": mon["update_thread_count"],
        "MonitorDisplayText": footer["display_txt"],
        "MonitorLink": footer["href_link"],
    }
    primary = [str(c["node"]) for c in cfg.collectors if not c["secondary"]]
    if primary:
        values["PrimaryMonitoringCollectors"] = ",".join(primary)
    values |= {
        "WorkDir": cfg.dirs.work,
        "StageDir": cfg.dirs.stage,
        "MonitorDir": cfg.dirs.monitor,
        "LogDir": cfg.dirs.log,
        "ClientLogBaseDir": cfg.dirs.client_log,
        "ClientProxiesBaseDir": cfg.dirs.client_proxies,
        "DowntimesFile": cfg.dirs.work / downtimes.FILE_NAME,
    }
    for name, key in (
        ("job_logs", "JobLog"),
        ("summary_logs", "SummaryLog"),
        ("condor_logs", "CondorLog"),
    ):
        kept = cfg.retention[name]
        values[f"{key}RetentionMaxDays"] = kept["max_days"]
        values[f"{key}RetentionMinDays"] = kept["min_days"]
        values[f"{key}RetentionMaxMBs"] = kept["max_mbytes"]
    values["ProcessLogs"] = repr(cfg.process_logs or [defaults(_PROCESS_LOG)])
    values["CondorTarballDirMap"] = repr(
        {f"{t.version}-{t.os}-{t.arch}": str(t.source) for t in cfg.tarballs if t.is_dir}
    )
    values["PoolBackend"] = cfg.backend
    if cfg.backend == "embedded":
        values["EmbeddedPoolPort"] = pool["port"]
        values["EmbeddedPoolSlotsPerSite"] = pool["slots_per_site"]
        values["EmbeddedPoolStateDir"] = cfg.dirs.pool_state
    values["WebServerPort"] = cfg.web_port
    # Both signature files are staged, but upstream glideins verify SHA-1 only, so that is
    # all we offer to frontends (security.md §7).
    values["SupportedSignTypes"] = "sha1"
    return values


def _per_frontends(limits: Mapping[str, Limits], field: str) -> str:
    return ",".join(f"{name};{getattr(lim, field)}" for name, lim in limits.items())


def _running_removal(percent: object) -> dict[str, object]:
    """RunningRemovalPercent, only when not the default (default trees stay unchanged)."""
    return {} if percent == RUNNING_REMOVAL_PERCENT else {"RunningRemovalPercent": percent}


def job_descript(cfg: MasterConfig, entry: Entry, schedd: str) -> dict[str, object]:
    s = entry.settings
    values: dict[str, object] = {
        "EntryName": entry.name,
        "GridType": s["gridtype"],
        "Gatekeeper": s["gatekeeper"],
        "AuthMethod": s["auth_method"],
        "TrustDomain": s["trust_domain"],
        "Schedd": schedd,
        "StartupDir": s["work_dir"],
        "Verbosity": s["verbosity"],
        "DowntimesFile": cfg.dirs.work / downtimes.FILE_NAME,
        "Enabled": _flag(entry.enabled),
    }
    for key, setting in (
        ("GlobusRSL", "rsl"),
        ("BoscoDir", "bosco_dir"),
        ("ProxyURL", "proxy_url"),
        ("EntryVMId", "vm_id"),
        ("EntryVMType", "vm_type"),
    ):
        if s[setting]:
            values[key] = s[setting]
    values |= {
        "NumFactories": entry.num_factories,
        "PerEntryMaxGlideins": entry.per_entry.glideins,
        "PerEntryMaxIdle": entry.per_entry.idle,
        "PerEntryMaxHeld": entry.per_entry.held,
        "DefaultPerFrontendMaxGlideins": entry.default_per_frontend.glideins,
        "DefaultPerFrontendMaxIdle": entry.default_per_frontend.idle,
        "DefaultPerFrontendMaxHeld": entry.default_per_frontend.held,
        "PerFrontendMaxGlideins": _per_frontends(entry.per_frontends, "glideins"),
        "PerFrontendMaxIdle": _per_frontends(entry.per_frontends, "idle"),
        "PerFrontendMaxHeld": _per_frontends(entry.per_frontends, "held"),
        "StaleAgeIdle": entry.stale_age["idle"],
        "StaleAgeRunning": entry.stale_age["running"],
        "StaleAgeUnclaimed": entry.stale_age["unclaimed"],
        "MaxSubmitRate": entry.submit["max_per_cycle"],
        "SubmitCluster": entry.submit["cluster_size"],
        "SubmitSleep": entry.submit["sleep"],
        "SubmitSlotsLayout": entry.submit["slots_layout"],
        "MaxRemoveRate": entry.remove["max_per_cycle"],
        "RemoveSleep": entry.remove["sleep"],
        **_running_removal(entry.remove["max_running_percent"]),
        "MaxReleaseRate": entry.release["max_per_cycle"],
        "ReleaseSleep": entry.release["sleep"],
        "RequireVomsProxy": _flag(entry.require_voms_proxy),
        "WhitelistMode": "On" if entry.allowed_frontends else "Off",
        **({"EntrySelectionAlgorithm": entry.selection_algorithm} if entry.members else {}),
        "AllowedVOs": ",".join(entry.allowed_frontends),
    }
    return values


def _literal_split(attrs: list[Attribute]) -> tuple[dict[str, object], dict[str, object]]:
    """(attributes.cfg, params.cfg) contents of an attribute list."""
    published = {a.name: a.literal() for a in attrs if a.in_attributes_cfg}
    params = {a.name: a.literal() for a in attrs if a.in_params_cfg}
    return published, params


def _entry_published(entry: Entry) -> dict[str, object]:
    """What every glidefactory ad says about the entry, before the entry's own attrs."""
    s = entry.settings
    return {
        "GLIDEIN_Gatekeeper": s["gatekeeper"],
        "GLIDEIN_GridType": s["gridtype"],
        "GLIDEIN_REQUIRE_VOMS": _flag(entry.require_voms_proxy),
        "GLIDEIN_TrustDomain": s["trust_domain"],
        "GLIDEIN_SupportedAuthenticationMethod": s["auth_method"],
    }


def factory_startup_script(cfg: MasterConfig) -> str:
    """The tree's own `factory_startup`: the package's command bound to this tree."""
    python = shlex.quote(sys.executable)
    root = shlex.quote(str(cfg.dirs.work))
    return (
        "#!/bin/sh\n"
        f"# Controls the factory tree {cfg.dirs.work} (generated by create_glidein).\n"
        f'exec {python} -m glideinwms_factory.startup --root {root} "$@"\n'
    )


# Parameters every entry publishes for frontends to override (classads.md §1).
DEFAULT_PARAMS: dict[str, object] = {
    "GLIDEIN_Collector": "Fake",
    "GLIDEIN_Report_Failed": "NEVER",
    "CONDOR_OS": "default",
    "CONDOR_ARCH": "default",
    "CONDOR_VERSION": "default",
}


def work_files(
    cfg: MasterConfig, schedds: Mapping[str, str], signatures: Mapping[str, list[SignatureLine]]
) -> dict[str, str]:
    """Relative path in WORK -> text of every regenerated file (not glidein_startup.sh)."""
    published, params = _literal_split(cfg.attrs)
    params = {**DEFAULT_PARAMS, **params}
    frontends = {f.name: FrontendInfo(f.identity, dict(f.usermap)) for f in cfg.frontends.values()}
    files = {
        "glidein.descript": format_key_values(glidein_descript(cfg)),
        "frontend.descript": format_frontends(frontends),
        "params.cfg": format_literals(params),
        "attributes.cfg": format_literals(published),
        "submit_attrs.cfg": format_literals({}),
        "factory_startup": factory_startup_script(cfg),
    }
    for sign_type, lines in signatures.items():
        files[f"signatures.{sign_type}"] = format_signatures(lines)
    for entry in cfg.entries.values():
        base = f"entry_{entry.name}/"
        published, params = _literal_split(entry.attrs)
        files[base + "job.descript"] = format_key_values(
            job_descript(cfg, entry, schedds[entry.name])
        )
        if entry.members:  # an entry set: one submit file per member (spec/config.md §1)
            for member_name, member in entry.members.items():
                files[base + f"job.{member_name}.condor"] = job_condor(cfg, member)
        else:
            files[base + "job.condor"] = job_condor(cfg, entry)
        files[base + "params.cfg"] = format_literals(params)
        files[base + "attributes.cfg"] = format_literals(_entry_published(entry) | published)
        files[base + "submit_attrs.cfg"] = format_literals(
            {k: v for k, (v, _) in entry.submit_attrs.items()}
        )
        files[base + "infosys.descript"] = "# RESS/BDII references are legacy and not used.\n"
    return files
