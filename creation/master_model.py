"""The checked model of a master config: what `load_config` returns.

Plain records, shared by the readers that build them (`creation/section_readers`) and the
writers of the factory tree (`tree_content`, `staging`, `install`, `job_condor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.creation.xmlcheck import Issue


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
    # An entry set: member name -> the member as an entry named by the set's alias.
    members: dict[str, Entry] = field(default_factory=dict)
    selection_algorithm: str = ""

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
class MasterConfig:
    """The whole checked master config: what `create_glidein` writes a tree from."""

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
    warnings: list[Issue] = field(default_factory=list)  # accepted, but worth a look

    @property
    def backend(self) -> str:
        return str(self.glidein["pool_backend"])
