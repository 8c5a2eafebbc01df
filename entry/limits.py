"""Entry limits and knobs from `job.descript` (config.md §4), and `RecoverableExitcodes`.

The parser takes the plain string dict a descript reader returns, so it is pure and the
defaults (upstream's factory_defaults) live in one place. A bad value is a `LimitsError`
naming the key: the entry refuses to start on a config it cannot honour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from glideinwms_factory.lib.descript_records import RUNNING_REMOVAL_PERCENT


class LimitsError(ValueError):
    """A job.descript limit or RecoverableExitcodes value is malformed."""


@dataclass(frozen=True)
class FrontendLimits:
    """Caps for one `frontend:security_class` on one entry."""

    glideins: int = 5000
    idle: int = 100
    held: int = 50


@dataclass(frozen=True)
class RecoverableCodes:
    """Held codes worth releasing: code -> subcodes (empty = any subcode)."""

    codes: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def recoverable(self, code: int | None, subcode: int | None) -> bool:
        if code is None or code not in self.codes:
            return False
        subcodes = self.codes[code]
        return not subcodes or subcode in subcodes


def parse_recoverable(text: str) -> RecoverableCodes:
    """`code[ sub ...],code...` (blanks trimmed); empty means nothing is recoverable."""
    codes: dict[int, frozenset[int]] = {}
    for part in text.split(","):
        numbers = part.split()
        if not numbers:
            continue
        try:
            values = [int(number) for number in numbers]
        except ValueError:
            raise LimitsError(
                f"RecoverableExitcodes {text!r}: {part.strip()!r} is not 'code[ sub ...]'"
            ) from None
        codes[values[0]] = codes.get(values[0], frozenset()) | frozenset(values[1:])
    return RecoverableCodes(codes)


@dataclass(frozen=True)
class EntryLimits:
    """Everything the per-request decision needs from the entry's configuration."""

    max_glideins: int = 10000
    max_idle: int = 2000
    max_held: int = 1000
    default_frontend: FrontendLimits = FrontendLimits()
    per_frontend: Mapping[str, FrontendLimits] = field(default_factory=dict)
    max_submit_rate: int = 100
    submit_cluster: int = 10
    submit_sleep: float = 0.2
    max_remove_rate: int = 5
    remove_sleep: float = 0.2
    max_release_rate: int = 20
    release_sleep: float = 0.2
    stale_age_idle: int = 604800
    stale_age_running: int = 2678400
    recoverable: RecoverableCodes = RecoverableCodes()
    # Release rules upstream hard-codes (operations.md §3); job.descript may override them.
    max_releasable_holds: int = 10
    forcex_holds: int = 20
    hold_backoff: int = 300  # seconds held per previous system hold before a release
    # Guard rail (upstream #282, one RemoveExcess ALL drained a pool): per cycle and
    # request, at most this percent of the request's running glideins are removed as
    # excess (at least one), on top of MaxRemoveRate.
    running_removal_percent: int = RUNNING_REMOVAL_PERCENT

    def frontend(self, frontend_name: str) -> FrontendLimits:
        """The caps of `fe:sc`: its PerFrontendMax* entries, else the defaults."""
        return self.per_frontend.get(frontend_name, self.default_frontend)

    @classmethod
    def from_descript(
        cls, descript: Mapping[str, str], recoverable_exitcodes: str = "", num_factories: int = 1
    ) -> EntryLimits:
        """Parse job.descript strings; job caps are integer-divided by `num_factories`."""
        if num_factories < 1:
            raise LimitsError(f"num_factories {num_factories} must be at least 1")
        base = cls()

        def number(key: str, default: int, cap: bool = False) -> int:
            value = descript_int(key, descript.get(key), default)
            return value // num_factories if cap else value

        def seconds(key: str, default: float) -> float:
            text = descript.get(key)
            try:
                value = default if text is None or not text.strip() else float(text)
            except ValueError:
                raise LimitsError(f"job.descript {key}: {text!r} is not a number") from None
            if value < 0:
                raise LimitsError(f"job.descript {key}: {text!r} is negative")
            return value

        default = base.default_frontend
        default_frontend = FrontendLimits(
            glideins=number("DefaultPerFrontendMaxGlideins", default.glideins, cap=True),
            idle=number("DefaultPerFrontendMaxIdle", default.idle, cap=True),
            held=number("DefaultPerFrontendMaxHeld", default.held, cap=True),
        )
        per_kind = {
            kind: {
                name: value // num_factories
                for name, value in _per_frontend(
                    f"PerFrontendMax{kind}", descript.get(f"PerFrontendMax{kind}", "")
                ).items()
            }
            for kind in ("Glideins", "Idle", "Held")
        }
        names = set().union(*per_kind.values())
        per_frontend = {
            name: FrontendLimits(
                glideins=per_kind["Glideins"].get(name, default_frontend.glideins),
                idle=per_kind["Idle"].get(name, default_frontend.idle),
                held=per_kind["Held"].get(name, default_frontend.held),
            )
            for name in names
        }
        return cls(
            max_glideins=number("PerEntryMaxGlideins", base.max_glideins, cap=True),
            max_idle=number("PerEntryMaxIdle", base.max_idle, cap=True),
            max_held=number("PerEntryMaxHeld", base.max_held, cap=True),
            default_frontend=default_frontend,
            per_frontend=per_frontend,
            max_submit_rate=number("MaxSubmitRate", base.max_submit_rate),
            submit_cluster=max(number("SubmitCluster", base.submit_cluster), 1),
            submit_sleep=seconds("SubmitSleep", base.submit_sleep),
            max_remove_rate=number("MaxRemoveRate", base.max_remove_rate),
            remove_sleep=seconds("RemoveSleep", base.remove_sleep),
            max_release_rate=number("MaxReleaseRate", base.max_release_rate),
            release_sleep=seconds("ReleaseSleep", base.release_sleep),
            stale_age_idle=number("StaleAgeIdle", base.stale_age_idle),
            stale_age_running=number("StaleAgeRunning", base.stale_age_running),
            recoverable=parse_recoverable(recoverable_exitcodes),
            max_releasable_holds=number("MaxReleasableHolds", base.max_releasable_holds),
            forcex_holds=number("ForcexHolds", base.forcex_holds),
            hold_backoff=number("HoldReleaseBackoff", base.hold_backoff),
            running_removal_percent=_percent(
                "RunningRemovalPercent", number("RunningRemovalPercent", RUNNING_REMOVAL_PERCENT)
            ),
        )


def descript_int(key: str, text: str | None, default: int) -> int:
    """A non-negative job.descript integer (`default` when unset); `LimitsError` naming `key`."""
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        raise LimitsError(f"job.descript {key}: {text!r} is not an integer") from None
    if value < 0:
        raise LimitsError(f"job.descript {key}: {text!r} is negative")
    return value


def _percent(key: str, value: int) -> int:
    if value > 100:
        raise LimitsError(f"job.descript {key}: {value} is more than 100 (percent)")
    return value


def _per_frontend(key: str, text: str) -> dict[str, int]:
    """`fe:sc;N,fe:sc;N` -> {fe:sc: N}."""
    limits: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, separator, value = item.strip().rpartition(";")
        if not separator or not name.strip() or not value.strip():
            raise LimitsError(f"job.descript {key}: {item.strip()!r} is not 'frontend:class;N'")
        limits[name.strip()] = descript_int(key, value, 0)
    return limits
