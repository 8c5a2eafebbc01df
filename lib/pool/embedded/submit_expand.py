"""Expand an HTCondor submit description into per-job specs (pure: no I/O besides `os.environ`).

`htcondor2.Submit` parses the submit language and expands macros (including `$ENV()`),
but cannot make job ads without a schedd, so the per-proc macros are swapped for
sentinels before expansion and filled in per job here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import classad2
import htcondor2

from glideinwms_factory.lib.pool import one_line
from glideinwms_factory.lib.pool.embedded.expr_scan import outside_strings
from glideinwms_factory.lib.pool.submit_text import IDENTIFIER, check_attr_name, literal

UNIVERSES = {"vanilla": 5, "scheduler": 7, "grid": 9, "local": 12}

# Stand-ins for the per-proc macros: valid in expressions, arguments, paths and strings.
_CLUSTER = "GwmsMacroCluster8f3a"
_PROC = "GwmsMacroProc8f3a"
_ENV_MACRO = re.compile(r"\$ENV\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::([^)]*))?\)", re.IGNORECASE)
_PROC_MACRO = re.compile(r"\$\((Cluster|ClusterId|Process|ProcId)\)", re.IGNORECASE)
_TRUE_WORDS = {"true", "t", "yes", "y", "1"}
_FALSE_WORDS = {"false", "f", "no", "n", "0", ""}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What one job runs and how the schedd treats it; fixed for the job's life."""

    universe: int
    cmd: str
    arguments: str
    args: tuple[str, ...]
    environment: str
    env: dict[str, str]
    getenv: bool
    iwd: str
    out: str
    err: str
    user_log: str
    grid_resource: str
    transfer_input: tuple[str, ...]
    transfer_executable: bool
    periodic_hold: str
    periodic_release: str
    periodic_remove: str
    leave_in_queue: str
    hold: bool
    custom: dict[str, str]


_SPEC_FIELDS = tuple(f.name for f in fields(JobSpec))


@dataclass(frozen=True, slots=True)
class ParsedDescription:
    """A validated spec whose per-proc macros are still open, plus its queue count."""

    template: JobSpec
    queue_count: int = 1
    open_fields: tuple[str, ...] = ()

    @classmethod
    def of(cls, template: JobSpec, queue_count: int = 1) -> ParsedDescription:
        open_fields = tuple(f for f in _SPEC_FIELDS if _is_open(getattr(template, f)))
        return cls(template, queue_count, open_fields)

    def spec(self, cluster: int, proc: int) -> JobSpec:
        """The spec of job `cluster.proc`: macros filled in, unchanged parts shared."""
        if not self.open_fields:
            return self.template
        numbers = (str(cluster), str(proc))
        changes = {f: _fill(getattr(self.template, f), *numbers) for f in self.open_fields}
        return dataclasses.replace(self.template, **changes)


def _fill(value: Any, cluster: str, proc: str) -> Any:
    if isinstance(value, str):
        return value.replace(_CLUSTER, cluster).replace(_PROC, proc)
    if isinstance(value, tuple):
        return tuple(_fill(v, cluster, proc) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, cluster, proc) for k, v in value.items()}
    return value


def _is_open(value: Any) -> bool:
    if isinstance(value, str):
        return _CLUSTER in value or _PROC in value
    if isinstance(value, tuple):
        return any(map(_is_open, value))
    if isinstance(value, dict):
        return any(map(_is_open, value.values()))
    return False


def _template(values: dict[str, str], custom: dict[str, str], default_iwd: str) -> JobSpec:
    """Validate the expanded commands and build the spec (per-proc macros still open)."""

    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    universe_name = get("universe", "vanilla").lower()
    if universe_name not in UNIVERSES:
        raise ValueError(f"unsupported universe {universe_name!r}")
    cmd = get("executable")
    if not cmd:
        raise ValueError("the submit description has no executable")
    grid_resource = get("grid_resource")
    if universe_name == "grid" and not grid_resource:
        raise ValueError("a grid universe job needs grid_resource")
    iwd = get("initialdir") or get("iwd") or default_iwd
    if not iwd.startswith("/"):
        iwd = f"{default_iwd.rstrip('/')}/{iwd}"
    arguments = get("arguments") or get("args")
    environment = get("environment") or get("env")
    transfer = [p.strip() for p in get("transfer_input_files").split(",") if p.strip()]
    job_env = parse_environment(environment)
    proxy = get("x509userproxy")
    if proxy:
        # As Condor-G does: the proxy travels with the job and the job ad names it.
        custom = {**custom, "x509userproxy": literal(proxy)}
        transfer.append(proxy)
        job_env.setdefault("X509_USER_PROXY", os.path.basename(proxy))
    return JobSpec(
        universe=UNIVERSES[universe_name],
        cmd=os.path.join(iwd, cmd),
        arguments=arguments,
        args=tuple(split_arguments(arguments)),
        environment=environment,
        env=job_env,
        getenv=_boolean(get("getenv", "false"), "getenv"),
        iwd=iwd,
        out=get("output", "/dev/null"),
        err=get("error", "/dev/null"),
        user_log=os.path.join(iwd, log) if (log := get("log")) else "",
        grid_resource=grid_resource,
        transfer_input=tuple(transfer),
        transfer_executable=_boolean(get("transfer_executable", "true"), "transfer_executable"),
        periodic_hold=_expression(get("periodic_hold", "false"), "periodic_hold"),
        periodic_release=_expression(get("periodic_release", "false"), "periodic_release"),
        periodic_remove=_expression(get("periodic_remove", "false"), "periodic_remove"),
        leave_in_queue=_expression(get("leave_in_queue", "false"), "leave_in_queue"),
        hold=_boolean(get("hold", "false"), "hold"),
        custom=custom,
    )


def parse_description(
    description: str | Mapping[str, str],
    attrs: Mapping[str, Any] | None = None,
    default_iwd: str = "/",
    env: Mapping[str, str] | None = None,
) -> ParsedDescription:
    """Parse, expand and validate a description (text or mapping) plus extra job `attrs`.

    `default_iwd` stands for the submitter's working directory when none is given;
    `$ENV(NAME)` / `$ENV(NAME:default)` read `env`, the submitter's environment, and
    never this process's own (its secrets must not reach job ads).
    """
    try:
        if isinstance(description, str):
            submit = htcondor2.Submit(description)
            qargs = submit.getQArgs().strip()
        elif isinstance(description, Mapping):
            submit = htcondor2.Submit({str(k): str(v) for k, v in description.items()})
            qargs = ""
        else:
            raise ValueError("the submit description must be text or a mapping")
    except (ValueError, RuntimeError, htcondor2.HTCondorException) as exc:
        raise ValueError(f"bad submit description: {one_line(exc)}") from None
    env = env or {}
    raw = {
        key: _PROC_MACRO.sub(_sentinel, _substitute_env(value, env))
        for key, value in submit.items()
    }
    qargs = _substitute_env(qargs, env)
    opened = htcondor2.Submit(raw)
    values: dict[str, str] = {}
    custom: dict[str, str] = {}
    for key in raw:
        try:
            expanded = opened.expand(key)
        except KeyError:  # the bindings report a command with an empty value as missing
            expanded = ""
        if key.startswith(("MY.", "+")):
            name = key[3:] if key.startswith("MY.") else key[1:]
            custom[check_attr_name(name)] = _expression(expanded, name)
        else:
            values[key.lower()] = expanded
    for name, value in (attrs or {}).items():
        custom[check_attr_name(name.removeprefix("+"))] = literal(value)
    template = _template(values, custom, default_iwd)
    return ParsedDescription.of(template, _queue_count(qargs, opened))


def split_arguments(text: str) -> list[str]:
    """HTCondor `arguments`: new style when double-quoted, else old style."""
    text = text.strip()
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise ValueError("new-style arguments must end with a double quote")
        return _split_new(text[1:-1].replace('""', '"'), "arguments")
    return _split_old(text)


def parse_environment(text: str) -> dict[str, str]:
    """HTCondor `environment`: new style `"A=1 B='x y'"` or old style `A=1;B=2`."""
    text = text.strip()
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise ValueError("new-style environment must end with a double quote")
        items = _split_new(text[1:-1].replace('""', '"'), "environment")
    else:
        items = [item.strip() for item in text.split(";") if item.strip()]
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not IDENTIFIER.fullmatch(name):
            raise ValueError(f"bad environment entry {item[:60]!r}")
        env[name] = value
    return env


def _split_new(text: str, what: str) -> list[str]:
    """Whitespace-separated words; 'single quotes' group, '' inside them is a quote."""
    words: list[str] = []
    current: list[str] = []
    has_word = quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "'" and text.startswith("''", i):
                current.append("'")
                i += 1
            elif char == "'":
                quoted = False
            else:
                current.append(char)
        elif char == "'":
            quoted = has_word = True
        elif char.isspace():
            if has_word:
                words.append("".join(current))
            current, has_word = [], False
        else:
            current.append(char)
            has_word = True
        i += 1
    if quoted:
        raise ValueError(f"unbalanced single quote in {what}")
    if has_word:
        words.append("".join(current))
    return words


def _split_old(text: str) -> list[str]:
    """Old style: whitespace-separated; `\\"` is a literal double quote."""
    return [word.replace('\\"', '"') for word in text.split()]


def _sentinel(match: re.Match[str]) -> str:
    return _CLUSTER if match.group(1).lower().startswith("cluster") else _PROC


def _expression(text: str, name: str) -> str:
    """`text` if it is exactly one ClassAd expression.

    classad2 silently stops parsing at a `;` or an unmatched `]`, so those are refused
    here: a job's expressions are later spliced into ClassAd text.
    """
    try:
        if not _single_expression(text):
            raise ValueError(text)
        classad2.ExprTree(text)
    except (classad2.ClassAdException, ValueError):
        raise ValueError(f"{name}: not a ClassAd expression: {text[:80]!r}") from None
    return text


def _single_expression(text: str) -> bool:
    try:
        return not any(char in ";\n" for _, char, _ in outside_strings(text))
    except ValueError:
        return False


def _boolean(text: str, name: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be true or false, not {text[:40]!r}")


def _substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Resolve `$ENV()` from `env`; a `$` in a value stays literal (`$(DOLLAR)`)."""

    def value(match: re.Match[str]) -> str:
        found = env.get(match.group(1))
        text = (match.group(2) or "") if found is None else str(found)
        return text.replace("$", "$(DOLLAR)")

    result = _ENV_MACRO.sub(value, text)
    if "$env(" in result.lower():
        raise ValueError(f"unsupported $ENV() reference in {text[:80]!r}")
    return result


def _queue_count(qargs: str, submit: htcondor2.Submit) -> int:
    if not qargs:
        return 1
    submit["_gwms_queue_count"] = qargs
    expanded = submit.expand("_gwms_queue_count").strip()
    if not expanded.isdigit():
        raise ValueError(f"only 'queue [N]' is supported, not 'queue {qargs[:60]}'")
    return int(expanded)
