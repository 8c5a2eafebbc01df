"""`GLIDEIN_OVERLOAD_ENABLED`: whether this submit cycle's glideins overload their slot.

The setting is `True`/`False` or a percentage such as `66%` (config.md attributes), and
the Frontend may override the entry's value with a parameter of the same name. As
upstream does, a percentage is drawn once per submit cycle of a request: the glideins of
that cycle all get `True` (with that probability) or all `False`, both as the `-param_`
the glidein reads and as the `GlideinOverloadEnabled` job attribute.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

OVERLOAD = "GLIDEIN_OVERLOAD_ENABLED"


def overload_setting(*sources: Mapping[str, object]) -> str | None:
    """The first source's `GLIDEIN_OVERLOAD_ENABLED` (pass the Frontend's params first),
    None when no source has one."""
    for source in sources:
        if OVERLOAD in source:
            return str(source[OVERLOAD])
    return None


def draw_overload(setting: str, rng: random.Random) -> bool:
    """`true` (any case) is on, `N%` is on with probability N/100, anything else is off."""
    text = setting.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            return False
        return rng.random() * 100 < percent
    return text.lower() == "true"
