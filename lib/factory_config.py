"""The factory-wide configuration of a tree: `glidein.descript` and `frontend.descript`.

Read once at start by the factory daemon, `factory_startup` and every entry daemon
(spec/config.md §3, §6); a malformed file is a one-line `DescriptError`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from glideinwms_factory.lib import descript, downtimes
from glideinwms_factory.lib.descript_records import GlideinDescript, read_record


@dataclass(frozen=True)
class FactoryConfig:
    """The factory-wide part every entry of one tree shares."""

    work_dir: Path
    glidein: dict[str, str]  # glidein.descript
    frontends: dict[str, descript.FrontendInfo]  # frontend.descript
    descript: GlideinDescript  # the typed values of glidein.descript the daemons use

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

    @property
    def advertise_delay(self) -> int:
        return max(1, self.descript.advertise_delay)

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


def load_factory(work_dir: Path) -> FactoryConfig:
    """Read the factory-wide files; raises DescriptError (file:line) on malformed ones."""
    work_dir = Path(work_dir).resolve()
    path = work_dir / "glidein.descript"
    glidein = descript.read_descript(path)
    return FactoryConfig(
        work_dir=work_dir,
        glidein=glidein,
        frontends=descript.read_frontends(work_dir / "frontend.descript"),
        descript=read_record(GlideinDescript, glidein, path),  # fail at start, not mid-loop
    )
