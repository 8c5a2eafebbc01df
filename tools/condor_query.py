"""Run a `query`/`q` command line against any Collector or Schedd query function and
print what condor_status/condor_q would (shared by gwms-pool and the entry tools)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import classad2

from glideinwms_factory.tools import condor_args, condor_format, condor_tables

QueryFn = Callable[[str, Sequence[str]], list[classad2.ClassAd]]
JOB_TABLES = {
    "batch": condor_tables.batch_table,
    "nobatch": condor_tables.jobs_table,
    "idle": condor_tables.jobs_table,
    "run": condor_tables.running_table,
    "hold": condor_tables.held_table,
}


def fetch(args: condor_args.QueryArgs, query: QueryFn) -> list[classad2.ClassAd]:
    """The ads the command line selects, sorted as the tools list them, at most -limit."""
    expressions = []
    if args.autoformat:
        expressions = args.autoformat.expressions()
    elif args.printf:
        expressions = [condor_format.parse_expr(f.expr) for f in args.printf]
    projection = condor_format.attribute_refs(expressions) if expressions else args.attributes
    if args.form == "table" and not expressions:
        projection = []
    key = ["ClusterId", "ProcId"] if args.jobs else ["MyType", "Name"]
    projection = [*projection, *key] if projection else []
    ads = query(condor_args.constraint(args), tuple(projection))
    ads.sort(key=lambda ad: tuple(condor_tables.get(ad, name, "") for name in key))
    return ads if args.limit is None else ads[: args.limit]


def render(args: condor_args.QueryArgs, ads: list[classad2.ClassAd], query: QueryFn,
           schedd: str) -> str:  # fmt: skip
    """The output for `ads`; `query` answers the "all users" totals of condor_q."""
    if args.autoformat:
        return args.autoformat.render(ads)
    if args.printf:
        return condor_format.render_printf(args.printf, ads)
    if args.form != "table":
        narrowed = [condor_format.select(ad, args.attributes) for ad in ads]
        whole = {
            "long": condor_format.render_long,
            "json": condor_format.render_json,
            "xml": condor_format.render_xml,
        }[args.form]
        return whole(narrowed)
    if not args.jobs:
        if args.totals:
            return condor_tables.type_totals(ads)
        return condor_tables.any_table(ads) if args.any_type else condor_tables.status_tables(ads)
    return _jobs_report(args, ads, query, schedd)


def _jobs_report(args: condor_args.QueryArgs, ads: list[classad2.ClassAd], query: QueryFn,
                 schedd: str) -> str:  # fmt: skip
    totals = condor_tables.totals_line("query", ads)
    if not (args.constraints or args.restrictions or args.view in condor_args.VIEW_CONSTRAINT):
        everyone = totals.replace("query", "all users", 1)
    else:
        everyone = condor_tables.totals_line("all users", query("true", ("JobStatus",)))
    if args.totals:
        return totals + everyone
    title = f"\n\n-- Schedd: {schedd} @ {time.strftime('%m/%d/%y %H:%M:%S')}\n"
    body = JOB_TABLES[args.view](ads)
    return title + body + ("" if args.view == "run" else "\n" + totals + everyone)


def report(args: condor_args.QueryArgs, query: QueryFn, schedd: str) -> str:
    """fetch, then render."""
    return render(args, fetch(args, query), query, schedd)
