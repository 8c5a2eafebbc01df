"""Old credentials go away (security.md §6): every `RemoveOldCredFreq` hours, delete the
`credential_*` files older than `RemoveOldCredAge` days that no queued glidein uses.

The decision is a pure function of file ages and the paths the queue still references;
the factory loop supplies both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Job attributes that name a credential file (security.md §6).
REFERENCE_ATTRS = ("x509userproxy", "EC2AccessKeyId", "EC2SecretAccessKey")
DAY = 86400.0


def credential_files(base: Path) -> dict[Path, float]:
    """`credential_*` files (and their `.old` copies) under the proxies dir, with mtimes."""
    found = {}
    for path in Path(base).glob("user_*/glidein_*/credential_*"):
        try:
            found[path] = path.stat().st_mtime
        except FileNotFoundError:
            continue
    return found


def referenced_paths(job_ads: Iterable[Mapping[str, Any]]) -> set[Path]:
    """Credential paths named by queued glideins."""
    paths = set()
    for ad in job_ads:
        for attr in REFERENCE_ATTRS:
            value = ad.get(attr)
            if isinstance(value, str) and value:
                paths.add(Path(value))
    return paths


def stale(
    files: Mapping[Path, float], referenced: set[Path], now: float, max_age_days: float
) -> list[Path]:
    """The files to delete: older than `max_age_days` and not referenced (nor their
    `.old` copy's credential)."""
    cutoff = now - max_age_days * DAY
    keep = referenced | {p.with_name(p.name + ".old") for p in referenced}
    return sorted(p for p, mtime in files.items() if mtime < cutoff and p not in keep)


def remove_stale(
    base: Path, job_ads: Iterable[Mapping[str, Any]], now: float, max_age_days: float
) -> list[Path]:
    """Delete the stale credentials under `base`; returns what was deleted."""
    victims = stale(credential_files(base), referenced_paths(job_ads), now, max_age_days)
    for path in victims:
        path.unlink(missing_ok=True)
    return victims
