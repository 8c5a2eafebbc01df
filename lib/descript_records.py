"""`glidein.descript` and `job.descript` as typed records (spec/config.md §3, §4).

The defaults below are the one table of them: `creation/schema.py` takes its XML defaults
from these records, so what `create_glidein` writes when the XML says nothing and what a
daemon assumes when the descript says nothing cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from glideinwms_factory.lib.descript import DescriptError
from glideinwms_factory.lib.pool import DEFAULT_POOL_PORT

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Record = TypeVar("_Record", bound="DataclassInstance")


def _number(text: str) -> float:
    return float(text)


def _count(text: str) -> int:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return int(value)


def _number_field(key: str, default: float) -> Any:
    """A numeric value: a missing or empty one is `default`, a malformed one an error."""
    return field(default=default, metadata={"key": key, "convert": _number})


def _count_field(key: str, default: int) -> Any:
    """A whole number; `2.0` reads as 2, as the daemons always did."""
    return field(default=default, metadata={"key": key, "convert": _count})


def _text_field(key: str, default: str) -> Any:
    """A string: `default` only when the key is absent (an empty value stays empty)."""
    return field(default=default, metadata={"key": key})


@dataclass(frozen=True)
class GlideinDescript:
    """The `glidein.descript` values the factory and entry daemons use."""

    loop_delay: float = _number_field("LoopDelay", 60)
    advertise_delay: int = _count_field("AdvertiseDelay", 5)
    restart_attempts: int = _count_field("RestartAttempts", 3)
    restart_interval: float = _number_field("RestartInterval", 1800)
    entry_group_size: int = _count_field("EntryGroupSize", 1)
    old_pub_key_grace_time: float = _number_field("OldPubKeyGraceTime", 900)
    pub_key_length: int = _count_field("PubKeyLength", 2048)
    embedded_pool_port: int = _count_field("EmbeddedPoolPort", DEFAULT_POOL_PORT)
    embedded_pool_slots_per_site: int = _count_field("EmbeddedPoolSlotsPerSite", 4)
    remove_old_cred_freq: float = _number_field("RemoveOldCredFreq", 24)  # hours
    remove_old_cred_age: float = _number_field("RemoveOldCredAge", 30)  # days
    pool_backend: str = _text_field("PoolBackend", "htcondor")
    recoverable_exitcodes: str = _text_field("RecoverableExitcodes", "")
    supported_sign_types: str = _text_field("SupportedSignTypes", "sha1")
    web_server_port: str = _text_field("WebServerPort", "")  # "" = the WebURL's port


@dataclass(frozen=True)
class JobDescript:
    """The `job.descript` values an entry daemon reads (its limits are `EntryLimits`)."""

    grid_type: str = _text_field("GridType", "condor")
    gatekeeper: str = _text_field("Gatekeeper", "")
    auth_method: str = _text_field("AuthMethod", "grid_proxy")
    trust_domain: str = _text_field("TrustDomain", "grid")
    schedd: str = _text_field("Schedd", "")  # "" = the pool's default
    startup_dir: str = _text_field("StartupDir", ".")
    verbosity: str = _text_field("Verbosity", "std")
    slots_layout: str = _text_field("SubmitSlotsLayout", "fixed")
    require_voms_proxy: str = _text_field("RequireVomsProxy", "False")
    globus_rsl: str = _text_field("GlobusRSL", "")
    bosco_dir: str = _text_field("BoscoDir", "")
    proxy_url: str = _text_field("ProxyURL", "")
    vm_id: str = _text_field("EntryVMId", "")
    vm_type: str = _text_field("EntryVMType", "")
    whitelist_mode: str = _text_field("WhitelistMode", "Off")
    allowed_vos: str = _text_field("AllowedVOs", "")


GLIDEIN_DEFAULTS = GlideinDescript()
JOB_DEFAULTS = JobDescript()
# job.descript `RunningRemovalPercent` (read into `EntryLimits`): written only when the
# XML sets another value, so default trees stay as they were.
RUNNING_REMOVAL_PERCENT = 10


def read_record(record: type[_Record], values: Mapping[str, str], path: Path) -> _Record:
    """`record` from a descript file's strings; a malformed number is a one-line
    `DescriptError` naming `path`, the key and the value."""
    given: dict[str, object] = {}
    for spec in fields(record):
        key = spec.metadata["key"]
        convert: Callable[[str], object] | None = spec.metadata.get("convert")
        if convert is None:
            if key in values:
                given[spec.name] = values[key]
            continue
        text = values.get(key)
        if not text:
            continue
        try:
            given[spec.name] = convert(text)
        except ValueError:
            raise DescriptError(f"{path}: {key} {text!r} is not a number") from None
    return record(**given)
