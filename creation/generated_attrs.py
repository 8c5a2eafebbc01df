"""Values upstream's creation adds to every tree on its own: the factory monitoring
collectors for the glidein (`GLIDEIN_Factory_Collector`), the standard attributes of each
entry, and the base `condor_vars.lst` rows every glidein publishes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from glideinwms_factory.creation.master_model import Attribute


def _attr(name: str, value: object, *, param: bool = False) -> Attribute:
    kind = "int" if isinstance(value, int) and not isinstance(value, bool) else "string"
    return Attribute(name, str(value), kind, not param, True, True, False, False)


def factory_collector(collectors: Sequence[Mapping[str, object]]) -> Attribute | None:
    """`GLIDEIN_Factory_Collector` (a parameter): per collector group its secondary nodes
    if it has any, else its primary ones, comma-joined; groups joined by ';'."""
    groups: dict[object, dict[bool, list[str]]] = {}
    for collector in collectors:
        kinds = groups.setdefault(collector["group"], {True: [], False: []})
        kinds[bool(collector["secondary"])].append(str(collector["node"]))
    if not groups:
        return None
    value = ";".join(",".join(kinds[True] or kinds[False]) for kinds in groups.values())
    return _attr("GLIDEIN_Factory_Collector", value, param=True)


def standard_entry_attrs(
    settings: Mapping[str, object], submit: Mapping[str, object], require_voms: bool
) -> list[Attribute]:
    """The entry's own description as constants (they override same-named user attrs)."""
    values: dict[str, object] = {
        "GLIDEIN_Gatekeeper": settings["gatekeeper"],
        "GLIDEIN_GridType": settings["gridtype"],
        "GLIDEIN_REQUIRE_VOMS": str(require_voms),
        "GLIDEIN_TrustDomain": settings["trust_domain"],
        "GLIDEIN_SupportedAuthenticationMethod": settings["auth_method"],
        "GLIDEIN_GlobusRSL": settings["rsl"],
        "GLIDEIN_BoscoDir": settings["bosco_dir"],
        "GLIDEIN_SlotsLayout": submit["slots_layout"],
        "GLIDEIN_WorkDir": settings["work_dir"],
        "GLIDEIN_Verbosity": settings["verbosity"],
        "GLIDEIN_ProxyURL": settings["proxy_url"],
    }
    return [_attr(name, value) for name, value in values.items() if value is not None]


def with_standard(user: list[Attribute], standard: list[Attribute]) -> list[Attribute]:
    names = {a.name for a in standard}
    return [a for a in user if a.name not in names] + standard


# (VarName, Type, Default, CondorName, Required, Export, UserName): what every glidein
# publishes about itself, before the config's own rows (which replace same-named ones).
BASE_CONDOR_VARS: tuple[tuple[str, ...], ...] = (
    ("GLIDEIN_Factory", "S", "-", "+", "N", "Y", "@"),
    ("GLIDEIN_Name", "S", "-", "+", "N", "Y", "@"),
    ("GLIDEIN_Entry_Name", "S", "-", "+", "N", "Y", "@"),
    ("GLIDECLIENT_Name", "S", "-", "+", "N", "Y", "@"),
    ("GLIDEIN_CredentialIdentifier", "S", "-", "+", "N", "Y", "@"),
    ("CONDORG_CLUSTER", "I", "-", "GLIDEIN_ClusterId", "N", "Y", "@"),
    ("CONDORG_SUBCLUSTER", "I", "-", "GLIDEIN_ProcId", "N", "Y", "@"),
    ("CONDORG_SCHEDD", "S", "-", "GLIDEIN_Schedd", "N", "Y", "@"),
    ("GLIDEIN_Start", "C", "True", "+", "N", "N", "-"),
    ("GLIDEIN_Entry_Start", "C", "True", "+", "N", "N", "-"),
    ("GLIDECLIENT_Start", "C", "True", "+", "N", "N", "-"),
    ("GLIDECLIENT_Group_Start", "C", "True", "+", "N", "N", "-"),
)
ENTRY_CONDOR_VARS: tuple[tuple[str, ...], ...] = (
    ("GLIDEIN_REQUIRE_VOMS", "C", "False", "+", "N", "Y", "@"),
)
