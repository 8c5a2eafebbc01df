"""Turn an entry's `job.condor` template plus one request's environment into a submit description.

Upstream runs `condor_submit` with the request's values in the environment and lets
`$ENV(NAME[:default])` pick them up. We resolve those macros ourselves, so both pool
backends receive a plain description and no value travels through a process environment
or a shell. `glidein_args.submit_environment` checks every value; here a value that could
end a submit line is refused once more, since that would let it add a submit command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from glideinwms_factory.entry.glidein_args import UnsafeValueError

_ENV_MACRO = re.compile(r"\$ENV\(([A-Za-z_][A-Za-z0-9_]*)(?::([^)]*))?\)")
_QUEUE_LINE = re.compile(r"^\s*queue\b.*$", re.IGNORECASE | re.MULTILINE)
# Characters that would let a value start a new submit command.
_UNSAFE = re.compile(r"[\n\r\0]")


def check_value(name: str, value: str) -> str:
    if _UNSAFE.search(value):
        raise UnsafeValueError(f"refusing unsafe value for {name}: {value[:60]!r}")
    return value


def resolve_env(template: str, env: Mapping[str, str]) -> str:
    """Replace `$ENV(NAME)` / `$ENV(NAME:default)`; an unset name without default is ""."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return check_value(name, env[name])
        return default or ""

    return _ENV_MACRO.sub(substitute, template)


def build_description(job_condor: str, env: Mapping[str, str]) -> str:
    """The submit description for one submission, without its `Queue` line.

    The count travels separately (`Schedd.submit(description, count)`), so the template's
    `Queue $ENV(GLIDEIN_COUNT)` is dropped.
    """
    return _QUEUE_LINE.sub("", resolve_env(job_condor, env)).rstrip() + "\n"
