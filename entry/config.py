"""One entry's configuration, read from the config tree once at daemon start.

The tree is written by `create_glidein`/`reconfig_glidein` (spec/config.md §3-§5): the
factory-wide part (`lib/factory_config`) from WORK, and the entry's own `job.descript`,
`job.condor` and `*.cfg` in `entry_<name>/` (entry values win).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from glideinwms_factory.entry.limits import EntryLimits, descript_int
from glideinwms_factory.lib import descript
from glideinwms_factory.lib.auth_method import AuthMethod, parse_auth_method
from glideinwms_factory.lib.descript_records import JobDescript, read_record
from glideinwms_factory.lib.factory_config import FactoryConfig


@dataclass(frozen=True)
class EntryConfig:
    """Everything one entry daemon needs, merged from WORK and `entry_<name>/`."""

    name: str
    factory: FactoryConfig
    job: JobDescript  # job.descript (its limits are `limits`)
    attributes: dict[str, object]  # attributes.cfg (published in the glidefactory ad)
    params: dict[str, object]  # params.cfg (GlideinParam*: defaults a frontend may override)
    submit_attrs: dict[str, object]  # submit_attrs.cfg
    # Submit file (`entry_<e>/job.condor`, or one `job.<member>.condor` per member of an
    # entry set) -> its template.
    submit_files: dict[str, str]
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
        return self.job.grid_type

    @property
    def schedd(self) -> str:
        """The Schedd this entry submits to ("" = the pool's default)."""
        return self.job.schedd

    @property
    def verbosity(self) -> str:
        return self.job.verbosity

    @property
    def startup_dir(self) -> str:
        return self.job.startup_dir

    @property
    def slots_layout(self) -> str:
        return self.job.slots_layout

    @cached_property
    def auth(self) -> AuthMethod:
        """The parsed AuthMethod (AuthMethodError when job.descript holds a bad one)."""
        return parse_auth_method(self.job.auth_method)


def load_entry(factory: FactoryConfig, name: str) -> EntryConfig:
    """Read `entry_<name>/`; raises `DescriptError` (file:line) or `LimitsError`."""
    entry_dir = factory.work_dir / f"entry_{name}"
    path = entry_dir / "job.descript"
    job = descript.read_descript(path)
    return EntryConfig(
        name=name,
        factory=factory,
        job=read_record(JobDescript, job, path),
        attributes=descript.read_entry_literals(factory.work_dir, name, "attributes.cfg"),
        params=descript.read_entry_literals(factory.work_dir, name, "params.cfg"),
        submit_attrs=descript.read_entry_literals(factory.work_dir, name, "submit_attrs.cfg"),
        submit_files={
            f"entry_{name}/{path.name}": path.read_text()
            for path in sorted(entry_dir.glob("job.*condor"))
        },
        limits=EntryLimits.from_descript(
            job,
            recoverable_exitcodes=factory.descript.recoverable_exitcodes,
            num_factories=descript_int("NumFactories", job.get("NumFactories"), 1),
        ),
    )
