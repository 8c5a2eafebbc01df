"""The master config schema: which elements and attributes exist, their types and defaults.

Declarative on purpose: the validator walks any config against this table, so an
unknown element or attribute, a wrong type or a missing required value is found the same
way everywhere (spec/config.md §2; defaults are upstream's `factory_defaults.xml`). The
defaults of values the daemons read back from the descript files come from
`lib/descript_records`, so both sides assume the same value when none is given.
"""

from __future__ import annotations

from glideinwms_factory.creation.schema_types import (
    ATTR_NAME,
    BOOL,
    FLOAT,
    INT,
    NAME,
    PATH,
    PERCENT,
    POSITIVE_INT,
    REQUIRED,
    SUBMIT_NAME,
    TEXT,
    Attr,
    Element,
    auth_method,
    choice,
    pattern,
)
from glideinwms_factory.lib.descript_records import (
    GLIDEIN_DEFAULTS,
    JOB_DEFAULTS,
    RUNNING_REMOVAL_PERCENT,
)


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
                "type": Attr(choice("string", "int", "expr"), "string"),
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
FILE_TIME = pattern(
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
        "type": Attr(choice(*FILE_TYPES), None),
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
                                    pattern(r"[^:\s]+:[^:\s]+", "'frontend:class'"), REQUIRED
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
                "slots_layout": Attr(choice("fixed", "partitionable"), JOB_DEFAULTS.slots_layout),
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
        "auth_method": Attr(auth_method, JOB_DEFAULTS.auth_method),
        "trust_domain": Attr(TEXT, JOB_DEFAULTS.trust_domain),
        "enabled": Attr(BOOL, True),
        "verbosity": Attr(choice("std", "nodebug", "fast", "check"), JOB_DEFAULTS.verbosity),
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
                    {"algorithm_name": Attr(choice(*ENTRY_SELECTION_ALGORITHMS), "Default")}
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
            pattern(r"\s*(\d+(\s+\d+)*\s*(,\s*\d+(\s+\d+)*\s*)*)?", "'code[ sub ...],code...'"),
            GLIDEIN_DEFAULTS.recoverable_exitcodes,
        ),
        "factory_versioning": Attr(BOOL, False),
        "enable_attribute_expansion": Attr(BOOL, False),
        # Ours: which pool the factory talks to; upstream configs say nothing = htcondor.
        "pool_backend": Attr(choice("htcondor", "embedded"), GLIDEIN_DEFAULTS.pool_backend),
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
                                "compression": Attr(choice("", "gz", "zip"), ""),
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
                "pub_key": Attr(choice("RSA"), "RSA"),
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
                    pattern(r"https?://[^\s/]+(/\S*)?", "an http(s) URL"), REQUIRED
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
