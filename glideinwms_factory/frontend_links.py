"""`monitor/frontendmonitorlink.txt`: where each Frontend publishes its own monitoring.

Written from the `glideclient` ads (operations.md §3, step 1): one `name, url` line per
frontend, sorted; upstream kept a single pair as bytes reprs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from glideinwms_factory.lib.atomicfile import atomic_write

QUERY = '(GlideinMyType=?="glideclient")'
PROJECTION = ("FrontendName", "WebMonitoringURL")
FILE_NAME = "frontendmonitorlink.txt"
_URL = re.compile(r"https?://[^\s,]+")
_NAME = re.compile(r"[A-Za-z0-9._@-]+")


def links(ads: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Frontend name -> monitoring URL, for the ads that carry a plausible pair."""
    found = {}
    for ad in ads:
        name, url = ad.get("FrontendName"), ad.get("WebMonitoringURL")
        if (
            isinstance(name, str)
            and isinstance(url, str)
            and _NAME.fullmatch(name)
            and _URL.fullmatch(url)
        ):
            found[name] = url
    return found


def write_links(monitor_dir: Path, ads: Iterable[Mapping[str, Any]]) -> None:
    text = "".join(f"{name}, {url}\n" for name, url in sorted(links(ads).items()))
    atomic_write(Path(monitor_dir) / FILE_NAME, text, make_parents=True)
