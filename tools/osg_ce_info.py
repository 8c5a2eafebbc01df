"""What the OSG collector publishes about HTCondor-CEs, turned into entry defaults.

The input is the CEs' Schedd ads as `condor_status -schedd -long` prints them (old
ClassAd form, blank-line separated): `Name` is the CE host, `OSG_ResourceGroup` the site,
`OSG_Resource` the resource, and `OSG_ResourceCatalog` a list of ads, one per kind of
slot the site offers (`Name`, `CPUs`, `Memory` MB, `MaxWallTime` minutes, `GPUs`,
`AllowedVOs`). Each catalog ad gives the defaults of the entries made from it; the
catalog name `BEST_FIT` combines all of them (what every slot of the CE can do).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glideinwms_factory.lib.classad import ClassAd, ClassAdSyntaxError, parse_old_many

BEST_FIT = "BEST_FIT"
# OSG VO names (AllowedVOs) -> the VO names frontends match in GLIDEIN_Supported_VOs.
SUPPORTED_VO_MAP = {
    "atlas": "ATLAS",
    "cms": "CMS",
    "osg": "OSGVO",
    "osgvo": "OSGVO",
    "ligo": "LIGO",
    "igwn": "LIGO",
    "icecube": "IceCube",
    "fermilab": "Fermilab",
    "glow": "GLOW",
    "dune": "DUNE",
    "des": "DES",
    "gluex": "Gluex",
    "lsst": "LSST",
    "hcc": "HCC",
}
# A glidein stops this long before the CE's wall time limit (seconds).
WALLTIME_MARGIN = 1800


class CEInfoError(ValueError):
    """The CE information file cannot be read (the message says where)."""


@dataclass(frozen=True)
class CatalogEntry:
    """One OSG_ResourceCatalog ad (or the BEST_FIT combination of all of them)."""

    cpus: int | None = None
    memory: int | None = None
    walltime_minutes: int | None = None
    gpus: int | None = None
    vos: tuple[str, ...] = ()


@dataclass(frozen=True)
class CE:
    host: str
    site: str
    resource: str
    catalog: dict[str, CatalogEntry]

    def entry_defaults(self, catalog_name: str) -> dict[str, Any] | None:
        """The entry settings this CE's catalog gives (None: no such catalog entry)."""
        info = self.catalog.get(catalog_name)
        if info is None:
            return None
        attrs: dict[str, dict[str, Any]] = {
            "GLIDEIN_Site": {"value": self.site},
            "GLIDEIN_ResourceName": {"value": self.resource or self.site},
            # The collector does not say these; upstream writes them so.
            "GLEXEC_BIN": {"value": "NONE"},
            "GLIDEIN_REQUIRED_OS": {"value": "any", "comment": "This value has been hardcoded"},
        }
        submit: dict[str, Any] = {}
        if info.vos:
            attrs["GLIDEIN_Supported_VOs"] = {"value": ",".join(info.vos)}
        if info.cpus is not None:
            attrs["GLIDEIN_CPUS"] = {"value": info.cpus}
            submit["+xcount"] = info.cpus
        if info.memory is not None:
            attrs["GLIDEIN_MaxMemMBs"] = {"value": info.memory}
            submit["+maxMemory"] = info.memory
        if info.walltime_minutes is not None:
            attrs["GLIDEIN_Max_Walltime"] = {"value": info.walltime_minutes * 60 - WALLTIME_MARGIN}
            submit["+maxWallTime"] = info.walltime_minutes
        if info.gpus:
            attrs["GLIDEIN_Resource_Slots"] = {"value": f"GPUs,{info.gpus},type=main"}
            submit["Request_GPUs"] = info.gpus
        return {"gridtype": "condor", "attrs": attrs, "submit_attrs": submit}


def _int(ad: Mapping[str, Any], key: str) -> int | None:
    value = ad.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _vos(ad: Mapping[str, Any]) -> tuple[str, ...]:
    allowed = ad.get("AllowedVOs") or []
    mapped = {
        SUPPORTED_VO_MAP[str(vo).lower()] for vo in allowed if str(vo).lower() in SUPPORTED_VO_MAP
    }
    return tuple(sorted(mapped))


def _catalog_entry(ad: Mapping[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        _int(ad, "CPUs"), _int(ad, "Memory"), _int(ad, "MaxWallTime"), _int(ad, "GPUs"), _vos(ad)
    )


def best_fit(entries: Iterable[CatalogEntry]) -> CatalogEntry:
    """What every slot offers: gcd of CPUs, least memory and wall time, common VOs."""
    entries = list(entries)

    def known(values: Iterable[int | None]) -> list[int]:
        return [v for v in values if v is not None]

    cpus = known(e.cpus for e in entries)
    memory = known(e.memory for e in entries)
    walltime = known(e.walltime_minutes for e in entries)
    vo_sets = [set(e.vos) for e in entries if e.vos]
    return CatalogEntry(
        math.gcd(*cpus) if cpus else None,
        min(memory) if memory else None,
        min(walltime) if walltime else None,
        None,
        tuple(sorted(set.intersection(*vo_sets))) if vo_sets else (),
    )


def _ce(ad: ClassAd) -> CE | None:
    host, site = str(ad.get("Name", "")).lower(), str(ad.get("OSG_ResourceGroup", ""))
    if not host or not site:
        return None
    catalog = {
        str(item.get("Name", f"catalog{index}")): _catalog_entry(item)
        for index, item in enumerate(ad.get("OSG_ResourceCatalog") or [])
    }
    catalog[BEST_FIT] = best_fit(catalog.values())
    return CE(host, site, str(ad.get("OSG_Resource", "")), catalog)


def read_ce_info(path: Path) -> dict[str, dict[str, CE]]:
    """site -> CE host -> CE, from a `condor_status -schedd -long` dump of the collector."""
    try:
        ads = parse_old_many(path.read_text())
    except (OSError, ClassAdSyntaxError) as exc:
        raise CEInfoError(f"{path}: {exc}") from None
    result: dict[str, dict[str, CE]] = {}
    for ad in ads:
        ce = _ce(ad)
        if ce is not None:
            result.setdefault(ce.site, {})[ce.host] = ce
    return result
