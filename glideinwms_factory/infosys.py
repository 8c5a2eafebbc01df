"""Downtimes from an information system: which CEs their sites have declared down.

Upstream asked RESS/BDII (and that code no longer works). Here the source is pluggable:
anything with `down_gatekeepers()`; a file-based one ships, for sites that export their
downtime calendar (OSG Topology, GOCDB ...) to a file with a cron job.

`sync_downtimes` makes the factory's downtime file follow the source: an entry whose
gatekeeper host is listed goes down (open-ended, comment `infosys: ...`), and an
`infosys` downtime whose CE is no longer listed is closed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from glideinwms_factory.lib import downtimes

MARK = "infosys:"


class InfoSourceError(Exception):
    """The information source could not be read; nothing was changed."""


class InfoSource(Protocol):
    def down_gatekeepers(self) -> dict[str, str]:
        """Gatekeeper host -> reason, for every CE declared down now."""
        ...


class FileInfoSource:
    """One CE a line: `<gatekeeper host> [reason...]`; `#` starts a comment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def down_gatekeepers(self) -> dict[str, str]:
        """Raises InfoSourceError when the file cannot be read: an export that failed must
        not look like "every CE is back" and end the downtimes it put in place."""
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise InfoSourceError(f"cannot read information source {self.path}: {err}") from None
        result = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                host, _, reason = line.partition(" ")
                result[host.lower()] = reason.strip() or "declared down"
        return result


def gatekeeper_host(gatekeeper: str) -> str:
    """The CE host of a gatekeeper string (`host[:port][/jobmanager]`, `user@host`,
    `scheme://host:port/path` as ec2/arc entries write it, ...)."""
    first = gatekeeper.split()[0] if gatekeeper.split() else ""
    first = first.split("://", 1)[-1].rsplit("@", 1)[-1]
    return first.split("/", 1)[0].split(":", 1)[0].lower()


def sync_downtimes(
    source: InfoSource,
    gatekeepers: dict[str, str],
    dt_file: downtimes.DowntimeFile,
    now: datetime,
) -> list[str]:
    """Bring the downtime file in line with `source`; one line of text per change."""
    down = source.down_gatekeepers()
    current = dt_file.read().downtimes
    changes = []
    for entry, gatekeeper in sorted(gatekeepers.items()):
        reason = down.get(gatekeeper_host(gatekeeper))
        ours = [
            d for d in current if d.entry == entry and d.comment.startswith(MARK) and d.active(now)
        ]
        if reason is not None and not ours:
            # An operator's open downtime may already cover the entry: nothing is added then.
            if dt_file.down(downtimes.Downtime(now, None, entry, comment=f"{MARK} {reason}")):
                changes.append(f"{entry} down: {reason}")
        elif reason is None and ours:
            dt_file.up(now, now, entry, comment="back in service", only_comment_prefix=MARK)
            changes.append(f"{entry} up")
    return changes
