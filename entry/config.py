"""One entry's configuration, read from the config tree once at daemon start.

The tree is written by `create_glidein`/`reconfig_glidein` (spec/config.md §3-§5): the
factory-wide `glidein.descript`, `frontend.descript` and `*.cfg` in WORK, and the entry's
own `job.descript`, `job.condor` and `*.cfg` in `entry_<name>/` (entry values win).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from glideinwms_factory.entry.limits import EntryLimits, descript_int
from glideinwms_factory.lib import descript, downtimes

# The numeric glidein.descript values the daemons use, with upstream's defaults.
NUMERIC_KEYS = {
    "LoopDelay": 60,
    "AdvertiseDelay": 5,
    "RestartAttempts": 3,
    "RestartInterval": 1800,
    "EntryGroupSize": 1,
    "OldPubKeyGraceTime": 900,
    "PubKeyLength": 2048,
    "EmbeddedPoolPort": 0,
    "EmbeddedPoolSlotsPerSite": 4,
    "RemoveOldCredFreq": 24,
    "RemoveOldCredAge": 30,
}


@dataclass(frozen=True)
class FactoryConfig:
    """The factory-wide part every entry of one tree shares."""

    work_dir: Path
    glidein: dict[str, str]  # glidein.descript
    frontends: dict[str, descript.FrontendInfo]  # frontend.descript

    @property
    def factory_name(self) -> str:
        return self.glidein["FactoryName"]

    @property
    def glidein_name(self) -> str:
        return self.glidein["GlideinName"]

    @property
    def global_name(self) -> str:
        """`<glidein>@<factory>`: the `glidefactoryglobal` ad's Name, the suffix of entry ads."""
        return f"{self.glidein_name}@{self.factory_name}"

    @property
    def web_url(self) -> str:
        """The staging area's URL, as glideins and frontends are told it."""
        return self.glidein.get("WebURL", "")

    @property
    def entries(self) -> list[str]:
        """The enabled entries (`Entries` of glidein.descript), in configured order."""
        return [name for name in self.glidein.get("Entries", "").split(",") if name]

    def heartbeat_file(self, group: str) -> Path:
        """What entry group `group` touches while alive and the factory watches for hangs."""
        return self.work_dir / "lock" / f"group_{group}.heartbeat"

    def number(self, key: str) -> float:
        """A numeric glidein.descript value (default from NUMERIC_KEYS); a malformed one is
        a DescriptError with a one-line message."""
        text = self.glidein.get(key) or str(NUMERIC_KEYS[key])
        try:
            return float(text)
        except ValueError:
            raise descript.DescriptError(
                f"{self.work_dir / 'glidein.descript'}: {key} {text!r} is not a number"
            ) from None

    @property
    def loop_delay(self) -> float:
        return self.number("LoopDelay")

    @property
    def advertise_delay(self) -> int:
        return max(1, int(self.number("AdvertiseDelay")))

    @property
    def downtimes_file(self) -> Path:
        return Path(self.glidein.get("DowntimesFile") or self.work_dir / downtimes.FILE_NAME)

    @property
    def log_dir(self) -> Path:
        return Path(self.glidein.get("LogDir") or self.work_dir / "log")

    @property
    def monitor_dir(self) -> Path:
        return Path(self.glidein.get("MonitorDir") or self.work_dir / "monitor")

    @property
    def client_log_dir(self) -> Path:
        return Path(self.glidein.get("ClientLogBaseDir") or self.work_dir / "client_log")

    @property
    def client_proxies_dir(self) -> Path:
        return Path(self.glidein.get("ClientProxiesBaseDir") or self.work_dir / "client_proxies")

    @property
    def log_retention_days(self) -> int:
        """`max_days` of the first `process_log` (7 when none is configured)."""
        try:
            logs = ast.literal_eval(self.glidein.get("ProcessLogs", "[]"))
            return int(float(logs[0]["max_days"]))
        except (ValueError, SyntaxError, LookupError, TypeError):
            return 7


@dataclass(frozen=True)
class EntryConfig:
    """Everything one entry daemon needs, merged from WORK and `entry_<name>/`."""

    name: str
    factory: FactoryConfig
    job: dict[str, str]  # job.descript
    attributes: dict[str, object]  # attributes.cfg (published in the glidefactory ad)
    params: dict[str, object]  # params.cfg (GlideinParam*: defaults a frontend may override)
    submit_attrs: dict[str, object]  # submit_attrs.cfg
    job_condor: str  # the submit file template
    limits: EntryLimits

    @property
    def ad_name(self) -> str:
        """`<entry>@<glidein>@<factory>`: this entry's glidefactory Name and ReqGlidein."""
        return f"{self.name}@{self.factory.global_name}"

    @property
    def dir(self) -> Path:
        return self.factory.work_dir / f"entry_{self.name}"

    @property
    def grid_type(self) -> str:
        return self.job.get("GridType", "condor")

    @property
    def schedd(self) -> str:
        """The Schedd this entry submits to ("" = the pool's default)."""
        return self.job.get("Schedd", "")

    @property
    def verbosity(self) -> str:
        return self.job.get("Verbosity", "std")

    @property
    def startup_dir(self) -> str:
        return self.job.get("StartupDir", ".")

    @property
    def slots_layout(self) -> str:
        return self.job.get("SubmitSlotsLayout", "fixed")

    @property
    def auth_methods(self) -> frozenset[str]:
        return frozenset(filter(None, self.job.get("AuthMethod", "grid_proxy").split("+")))


def load_factory(work_dir: Path) -> FactoryConfig:
    """Read the factory-wide files; raises DescriptError (file:line) on malformed ones."""
    work_dir = Path(work_dir).resolve()
    config = FactoryConfig(
        work_dir=work_dir,
        glidein=descript.read_descript(work_dir / "glidein.descript"),
        frontends=descript.read_frontends(work_dir / "frontend.descript"),
    )
    for key in NUMERIC_KEYS:  # fail at start, not in the middle of a loop
        config.number(key)
    return config


def load_entry(factory: FactoryConfig, name: str) -> EntryConfig:
    """Read `entry_<name>/`; raises `DescriptError` (file:line) or `LimitsError`."""
    entry_dir = factory.work_dir / f"entry_{name}"
    job = descript.read_descript(entry_dir / "job.descript")
    return EntryConfig(
        name=name,
        factory=factory,
        job=job,
        attributes=descript.read_entry_literals(factory.work_dir, name, "attributes.cfg"),
        params=descript.read_entry_literals(factory.work_dir, name, "params.cfg"),
        submit_attrs=descript.read_entry_literals(factory.work_dir, name, "submit_attrs.cfg"),
        job_condor=(entry_dir / "job.condor").read_text(),
        limits=EntryLimits.from_descript(
            job,
            recoverable_exitcodes=factory.glidein.get("RecoverableExitcodes", ""),
            num_factories=descript_int("NumFactories", job.get("NumFactories"), 1),
        ),
    )
