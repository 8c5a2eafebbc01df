"""The master config schema: which elements and attributes exist, their types and defaults.

Declarative on purpose: the validator walks any config against this table, so an
unknown element or attribute, a wrong type or a missing required value is found the same
way everywhere (spec/config.md §2; defaults are upstream's `factory_defaults.xml`). The
defaults of values the daemons read back from the descript files come from
`lib/descript_records`, so both sides assume the same value when none is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from glideinwms_factory.lib.auth_method import AuthMethodError, parse_auth_method
from glideinwms_factory.lib.descript_records import (
    GLIDEIN_DEFAULTS,
    JOB_DEFAULTS,
    RUNNING_REMOVAL_PERCENT,
)

REQUIRED = object()  # marker default: the attribute must be given


class TypeMismatch(ValueError):
    """A value does not fit its attribute's type (the message says what is expected)."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def _text(value: str) -> str:
    if _CONTROL.search(value):
        raise TypeMismatch("control characters (newlines) are not allowed")
    return value


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise TypeMismatch("expected True or False")
    return lowered == "true"


def _int(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise TypeMismatch("expected an integer") from None
    if number < 0:
        raise TypeMismatch("expected a non-negative integer")
    return number


def _positive_int(value: str) -> int:
    number = _int(value)
    if number < 1:
        raise TypeMismatch("expected a positive integer")
    return number


def _percent(value: str) -> int:
    number = _int(value)
    if number > 100:
        raise TypeMismatch("expected a percentage from 0 to 100")
    return number


def _float(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise TypeMismatch("expected a number") from None
    if not number >= 0 or number == float("inf"):
        raise TypeMismatch("expected a non-negative number")
    return number


def _pattern(regex: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise TypeMismatch(f"expected {what}")
        return value

    return check


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise TypeMismatch(f"expected one of {', '.join(allowed)}")
        return value

    return check


def _auth_method(value: str) -> str:
    try:
        parse_auth_method(value)
    except AuthMethodError as exc:
        raise TypeMismatch(str(exc).partition(": ")[2]) from None
    return value


TEXT = _text
BOOL = _bool
INT = _int
POSITIVE_INT = _positive_int
FLOAT = _float
PERCENT = _percent
# Names that end up in paths, ads and glidein arguments: bounded so that every file name
# made from one (entry_NAME, NAME.descript, ...) stays far below the 255-byte limit.
NAME_MAX = 128
NAME = _pattern(
    rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{NAME_MAX - 1}}}",
    f"a name of at most {NAME_MAX} letters, digits, '_', '.', '-'",
)
ATTR_NAME = _pattern(r"[A-Za-z0-9_]+", "a name of letters, digits and '_'")
SUBMIT_NAME = _pattern(r"\+?[A-Za-z_][A-Za-z0-9_.]*", "a submit command name (optionally '+')")
PATH = _pattern(r"[^\x00-\x1f]+", "a path")


@dataclass(frozen=True)
class Attr:
    """One XML attribute: how to convert it and its default (REQUIRED = must be given)."""

    convert: Callable[[str], object] = TEXT
    default: object = None


@dataclass(frozen=True)
class Element:
    """One XML element: its attributes and child elements (tag -> spec)."""

    attrs: dict[str, Attr] = field(default_factory=dict)
    children: dict[str, Element] = field(default_factory=dict)
    repeat: bool = False  # may occur more than once under its parent


def _limits(glideins: int, idle: int, held: int) -> dict[str, Attr]:
    return {"glideins": Attr(INT, glideins), "idle": Attr(INT, idle), "held": Attr(INT, held)}


def _retention(max_days: float, min_days: float, max_mbytes: float) -> Element:
    return Element(
        {
            "max_days": Attr(FLOAT, max_days),
            "min_days": Attr(FLOAT, min_days),
            "max_mbytes": Attr(FLOAT, max_mbytes),
        }
    )


ATTRS = Element(
    children={
        "attr": Element(
            {
                "name": Attr(ATTR_NAME, REQUIRED),
                "value": Attr(TEXT, REQUIRED),
                "type": Attr(_choice("string", "int", "expr"), "string"),
                "const": Attr(BOOL, True),
                "parameter": Attr(BOOL, True),
                "publish": Attr(BOOL, True),
                "glidein_publish": Attr(BOOL, False),
                "job_publish": Attr(BOOL, False),
            },
            repeat=True,
        )
    }
)


# <file type>: ours (regular nocache exec wrapper untar) and upstream's spellings.
FILE_TYPES: tuple[str, ...] = ("regular", "nocache", "exec", "exec:s", "wrapper", "untar")
FILE_TYPES += ("source", "library", "library:shell")
FILE_TIME = _pattern(
    r"(startup|cleanup|before_job|after_job|no_time|periodic(:\d+)?|milestone:\w+|failure:\w+)"
    r"(,(startup|cleanup|before_job|after_job|no_time|periodic(:\d+)?|milestone:\w+|failure:\w+))*",
    "startup, cleanup, before_job, after_job, no_time, periodic[:N] (comma list)",
)


def _files(global_level: bool) -> Element:
    attrs = {
        "absfname": Attr(PATH, REQUIRED),
        "relfname": Attr(NAME, None),
        "const": Attr(BOOL, True),
        "executable": Attr(BOOL, False),
        "wrapper": Attr(BOOL, False),
        "untar": Attr(BOOL, False),
        "period": Attr(INT, 0),
        "prefix": Attr(ATTR_NAME, "GLIDEIN_PS_"),
        # Upstream 3.10+: `type` instead of the executable/wrapper/untar flags, when to
        # run (`time`) and the glidein_config key that must be 1 to download it.
        "type": Attr(_choice(*FILE_TYPES), None),
        "time": Attr(FILE_TIME, "startup"),
        "cond_download": Attr(ATTR_NAME, None),
    }
    if global_level:
        attrs["after_entry"] = Attr(BOOL, False)
    untar_options = Element(
        {
            "cond_attr": Attr(ATTR_NAME, "TRUE"),
            "dir": Attr(NAME, None),
            "absdir_outattr": Attr(ATTR_NAME, None),
        }
    )
    return Element(children={"file": Element(attrs, {"untar_options": untar_options}, True)})


ENTRY_CONFIG = Element(
    children={
        "max_jobs": Element(
            {"num_factories": Attr(POSITIVE_INT, None)},
            {
                "per_entry": Element(_limits(10000, 2000, 1000)),
                "default_per_frontend": Element(_limits(5000, 100, 50)),
                "per_frontends": Element(
                    children={
                        "per_frontend": Element(
                            {
                                "name": Attr(
                                    _pattern(r"[^:\s]+:[^:\s]+", "'frontend:class'"), REQUIRED
                                )
                            }
                            | _limits(5000, 100, 50),
                            repeat=True,
                        )
                    }
                ),
            },
        ),
        "stale_age": Element(
            {
                "idle": Attr(INT, 604800),
                "running": Attr(INT, 2678400),
                "unclaimed": Attr(INT, 7200),
            }
        ),
        "submit": Element(
            {
                "cluster_size": Attr(POSITIVE_INT, 10),
                "max_per_cycle": Attr(POSITIVE_INT, 100),
                "sleep": Attr(FLOAT, 0.2),
                "slots_layout": Attr(_choice("fixed", "partitionable"), JOB_DEFAULTS.slots_layout),
            },
            {
                "submit_attrs": Element(
                    children={
                        "submit_attr": Element(
                            {
                                "name": Attr(SUBMIT_NAME, REQUIRED),
                                "value": Attr(TEXT, REQUIRED),
                                "all_grid_types": Attr(BOOL, False),
                            },
                            repeat=True,
                        )
                    }
                )
            },
        ),
        "remove": Element(
            {
                "max_per_cycle": Attr(POSITIVE_INT, 5),
                "sleep": Attr(FLOAT, 0.2),
                # Beyond upstream (#282 guard rail): the share of a client's running
                # glideins removed as excess in one cycle.
                "max_running_percent": Attr(PERCENT, RUNNING_REMOVAL_PERCENT),
            }
        ),
        "release": Element({"max_per_cycle": Attr(POSITIVE_INT, 20), "sleep": Attr(FLOAT, 0.2)}),
        "restrictions": Element(
            {
                "require_voms_proxy": Attr(BOOL, False),
                # glexec is gone; accepted (and ignored) so that old configs still load.
                "require_glidein_glexec_use": Attr(BOOL, False),
            }
        ),
    }
)

ENTRY = Element(
    {
        "name": Attr(NAME, REQUIRED),
        "gatekeeper": Attr(TEXT, REQUIRED),
        "gridtype": Attr(TEXT, JOB_DEFAULTS.grid_type),
        "auth_method": Attr(_auth_method, JOB_DEFAULTS.auth_method),
        "trust_domain": Attr(TEXT, JOB_DEFAULTS.trust_domain),
        "enabled": Attr(BOOL, True),
        "verbosity": Attr(_choice("std", "nodebug", "fast", "check"), JOB_DEFAULTS.verbosity),
        "work_dir": Attr(PATH, JOB_DEFAULTS.startup_dir),
        "rsl": Attr(TEXT, None),
        "vm_id": Attr(TEXT, None),
        "vm_type": Attr(TEXT, None),
        "bosco_dir": Attr(PATH, None),
        "proxy_url": Attr(TEXT, None),
        # Ignored upstream (the factory assigns schedds); accepted for old configs.
        "schedd_name": Attr(TEXT, None),
    },
    {
        "config": ENTRY_CONFIG,
        "allow_frontends": Element(
            children={
                "allow_frontend": Element(
                    {"name": Attr(NAME, REQUIRED), "security_class": Attr(TEXT, "All")},
                    repeat=True,
                )
            }
        ),
        "attrs": ATTRS,
        "files": _files(global_level=False),
        # Legacy RESS/BDII references: accepted and ignored (spec/config.md §4).
        "infosys_refs": Element(
            children={
                "infosys_ref": Element(
                    {"type": Attr(TEXT, None), "server": Attr(TEXT, None), "ref": Attr(TEXT, None)},
                    repeat=True,
                )
            }
        ),
        "monitorgroups": Element(
            children={"monitorgroup": Element({"group_name": Attr(NAME, REQUIRED)}, repeat=True)}
        ),
    },
    repeat=True,
)

# <entry_sets><entry_set alias=...>: one entry (named by its alias) whose glideins go to
# its member entries, one submit file each; the set gives what members do not.
ENTRY_SELECTION_ALGORITHMS = ("Default",)
ENTRY_SET = Element(
    {name: attr for name, attr in ENTRY.attrs.items() if name not in ("name", "gatekeeper")}
    | {"alias": Attr(NAME, REQUIRED)},
    {
        **{tag: child for tag, child in ENTRY.children.items() if tag != "config"},
        "config": Element(
            children={
                **ENTRY_CONFIG.children,
                "entry_selection": Element(
                    {"algorithm_name": Attr(_choice(*ENTRY_SELECTION_ALGORITHMS), "Default")}
                ),
            }
        ),
        # Members: only what differs from the set (no defaults, so the set's values stay).
        "entries": Element(
            children={
                "entry": Element(
                    {name: Attr(attr.convert, None) for name, attr in ENTRY.attrs.items()}
                    | {"name": Attr(NAME, REQUIRED), "gatekeeper": Attr(TEXT, REQUIRED)},
                    repeat=True,
                )
            }
        ),
    },
    repeat=True,
)

GLIDEIN = Element(
    {
        "factory_name": Attr(NAME, REQUIRED),
        "glidein_name": Attr(NAME, "gfactory_instance"),
        "factory_collector": Attr(TEXT, None),
        "schedd_name": Attr(TEXT, "schedd_glideins1@localhost"),
        "loop_delay": Attr(POSITIVE_INT, GLIDEIN_DEFAULTS.loop_delay),
        "advertise_delay": Attr(POSITIVE_INT, GLIDEIN_DEFAULTS.advertise_delay),
        "advertise_with_tcp": Attr(BOOL, True),
        "advertise_with_multiple": Attr(BOOL, True),
        "advertise_pilot_accounting": Attr(BOOL, False),
        "entry_parallel_workers": Attr(INT, 0),
        "restart_attempts": Attr(INT, GLIDEIN_DEFAULTS.restart_attempts),
        "restart_interval": Attr(INT, GLIDEIN_DEFAULTS.restart_interval),
        "recoverable_exitcodes": Attr(
            _pattern(r"\s*(\d+(\s+\d+)*\s*(,\s*\d+(\s+\d+)*\s*)*)?", "'code[ sub ...],code...'"),
            GLIDEIN_DEFAULTS.recoverable_exitcodes,
        ),
        "factory_versioning": Attr(BOOL, False),
        "enable_attribute_expansion": Attr(BOOL, False),
        # Ours: which pool the factory talks to; upstream configs say nothing = htcondor.
        "pool_backend": Attr(_choice("htcondor", "embedded"), GLIDEIN_DEFAULTS.pool_backend),
        # Ours: entries served per entry process (1 = one process per entry).
        "entry_group_size": Attr(POSITIVE_INT, GLIDEIN_DEFAULTS.entry_group_size),
    },
    {
        "embedded_pool": Element(
            {
                "port": Attr(INT, GLIDEIN_DEFAULTS.embedded_pool_port),
                "web_port": Attr(INT, None),
                "slots_per_site": Attr(POSITIVE_INT, GLIDEIN_DEFAULTS.embedded_pool_slots_per_site),
                "state_dir": Attr(PATH, None),
            }
        ),
        "log_retention": Element(
            children={
                "condor_logs": _retention(14, 3, 100),
                "job_logs": _retention(7, 2, 100),
                "summary_logs": _retention(31, 3, 100),
                "process_logs": Element(
                    children={
                        "process_log": Element(
                            {
                                "extension": Attr(NAME, "all"),
                                "msg_types": Attr(TEXT, "INFO, WARN, ERR"),
                                "max_days": Attr(FLOAT, 7.0),
                                "min_days": Attr(FLOAT, 3.0),
                                "max_mbytes": Attr(FLOAT, 100.0),
                                "backup_count": Attr(INT, 5),
                                "compression": Attr(_choice("", "gz", "zip"), ""),
                                "structured": Attr(BOOL, False),
                            },
                            repeat=True,
                        )
                    }
                ),
            }
        ),
        "monitor": Element(
            {
                "base_dir": Attr(PATH, REQUIRED),
                "javascriptRRD_dir": Attr(PATH, None),
                "flot_dir": Attr(PATH, None),
                "jquery_dir": Attr(PATH, None),
                "update_thread_count": Attr(POSITIVE_INT, 1),
            }
        ),
        "monitor_footer": Element({"display_txt": Attr(TEXT, ""), "href_link": Attr(TEXT, "")}),
        "security": Element(
            {
                "pub_key": Attr(_choice("RSA"), "RSA"),
                "key_length": Attr(INT, GLIDEIN_DEFAULTS.pub_key_length),
                "reuse_oldkey_onstartup_gracetime": Attr(
                    INT, GLIDEIN_DEFAULTS.old_pub_key_grace_time
                ),
                "remove_old_cred_freq": Attr(INT, GLIDEIN_DEFAULTS.remove_old_cred_freq),
                "remove_old_cred_age": Attr(INT, GLIDEIN_DEFAULTS.remove_old_cred_age),
            },
            {
                "frontends": Element(
                    children={
                        "frontend": Element(
                            {"name": Attr(NAME, REQUIRED), "identity": Attr(TEXT, REQUIRED)},
                            {
                                "security_classes": Element(
                                    children={
                                        "security_class": Element(
                                            {
                                                "name": Attr(NAME, REQUIRED),
                                                "username": Attr(NAME, REQUIRED),
                                            },
                                            repeat=True,
                                        )
                                    }
                                )
                            },
                            repeat=True,
                        )
                    }
                )
            },
        ),
        "stage": Element(
            {
                "base_dir": Attr(PATH, REQUIRED),
                "web_base_url": Attr(
                    _pattern(r"https?://[^\s/]+(/\S*)?", "an http(s) URL"), REQUIRED
                ),
                "use_symlink": Attr(BOOL, True),
            }
        ),
        "submit": Element(
            {
                "base_dir": Attr(PATH, REQUIRED),
                "base_log_dir": Attr(PATH, REQUIRED),
                "base_client_log_dir": Attr(PATH, REQUIRED),
                "base_client_proxies_dir": Attr(PATH, REQUIRED),
                "num_factories": Attr(POSITIVE_INT, 1),
            }
        ),
        "attrs": ATTRS,
        "files": _files(global_level=True),
        "condor_tarballs": Element(
            children={
                "condor_tarball": Element(
                    {
                        "os": Attr(TEXT, "default"),
                        "arch": Attr(TEXT, "default"),
                        "version": Attr(TEXT, "default"),
                        "base_dir": Attr(PATH, None),
                        "tar_file": Attr(PATH, None),
                    },
                    repeat=True,
                )
            }
        ),
        "monitoring_collectors": Element(
            children={
                "monitoring_collector": Element(
                    {
                        "node": Attr(TEXT, REQUIRED),
                        "DN": Attr(TEXT, None),
                        "group": Attr(INT, 0),
                        "secondary": Attr(BOOL, False),
                    },
                    repeat=True,
                )
            }
        ),
        "cvmfsexec_distro": Element({"sources": Attr(TEXT, ""), "platforms": Attr(TEXT, "")}),
        "entries": Element(children={"entry": ENTRY}),
        "entry_sets": Element(children={"entry_set": ENTRY_SET}),
    },
)

# Allowed on every element, as upstream does.
COMMENT = "comment"
