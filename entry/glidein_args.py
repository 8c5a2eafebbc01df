"""The glidein command line (`GLIDEIN_ARGUMENTS`) and the per-request submit environment.

Request values come from a Frontend we only half trust: they end up in a submit
description (through `$ENV()`), in the job's argument list and in the glidein's config.
Everything here either encodes a value so it cannot change meaning there, or refuses it
with `UnsafeValueError`, whose message names the offending field (one log line).
Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from glideinwms_factory.entry.overload import OVERLOAD

# The value encoding glidein_startup.sh decodes for `-param_<NAME>` (glidein_startup.md §1).
PARAM_CODES: dict[str, str] = {
    ".": "dot",
    ",": "comma",
    "&": "amp",
    "\\": "backslash",
    "|": "pipe",
    "`": "fork",
    '"': "quot",
    "'": "singquot",
    "=": "eq",
    "+": "plus",
    "-": "minus",
    "<": "lt",
    ">": "gt",
    "(": "open",
    ")": "close",
    "{": "gopen",
    "}": "gclose",
    "[": "sopen",
    "]": "sclose",
    "#": "comment",
    "$": "dollar",
    "*": "star",
    "?": "question",
    "!": "not",
    "~": "tilde",
    ":": "colon",
    ";": "semicolon",
    " ": "nbsp",
}
_ESCAPE_TABLE = str.maketrans({char: f".{code}," for char, code in PARAM_CODES.items()})
_CODE_CHARS = {code: char for char, code in PARAM_CODES.items()}
_CODE_RE = re.compile(r"\.(" + "|".join(sorted(_CODE_CHARS, key=len, reverse=True)) + "),")
# Characters the encoding has no code for and that would split or break a line.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

PARAM_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
# Non-parameter option values (names, URLs, signatures, paths): no quoting is possible for
# them, so only characters that mean nothing to a submit description or an argument list.
OPTION_VALUE_RE = re.compile(r"[A-Za-z0-9._:/@%+=?&~,-]+")
# Identity-like submit environment values (client, frontend:class, credential id, user).
IDENT_VALUE_RE = re.compile(r"[A-Za-z0-9._@:-]+")
# Grid types whose submit line needs the whole argument string in double quotes.
QUOTED_GRID_TYPES = frozenset({"arc", "cream", "nordugrid"})


class UnsafeValueError(ValueError):
    """A value cannot be passed on safely; the message says which one and why."""


def escape_param_value(value: str) -> str:
    """Encode a `-param_` value with glidein_startup.sh's `.code,` table.

    Control characters have no code and would break the argument list, so they are refused.
    """
    if _CONTROL_RE.search(value):
        raise UnsafeValueError(f"parameter value {value[:40]!r} contains a control character")
    return value.translate(_ESCAPE_TABLE)


def unescape_param_value(text: str) -> str:
    """Decode what `escape_param_value` produced (the glidein's side of the table)."""
    return _CODE_RE.sub(lambda match: _CODE_CHARS[match.group(1)], text)


def _check(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.fullmatch(value):
        raise UnsafeValueError(f"{what} {value[:60]!r} has characters outside {pattern.pattern}")
    return value


@dataclass(frozen=True)
class ClientStaging:
    """The Frontend's own staging area, from the request (`WebURL` ... of classads.md §2)."""

    web: str
    sign: str
    descript: str
    sign_type: str = "sha1"
    group: str = ""
    group_web: str = ""
    group_sign: str = ""
    group_descript: str = ""


@dataclass(frozen=True)
class GlideinArgs:
    """Everything the glidein command line carries for one request."""

    verbosity: str
    glidein_name: str
    entry_name: str
    client_name: str
    schedd: str
    factory_name: str
    web_url: str
    main_sign: str
    entry_sign: str
    main_descript: str
    entry_descript: str
    startup_dir: str
    credential_id: str
    slots_layout: str
    proxy_url: str = "None"
    client: ClientStaging | None = None
    params: Mapping[str, object] = field(default_factory=dict)


def _options(args: GlideinArgs) -> list[tuple[str, str]]:
    options = [
        ("v", args.verbosity),
        ("name", args.glidein_name),
        ("entry", args.entry_name),
        ("clientname", args.client_name),
        ("schedd", args.schedd),
        ("proxy", args.proxy_url or "None"),
        ("factory", args.factory_name),
        ("web", args.web_url),
        ("sign", args.main_sign),
        ("signentry", args.entry_sign),
        ("signtype", "sha1"),
        ("descript", args.main_descript),
        ("descriptentry", args.entry_descript),
        ("dir", args.startup_dir or "."),
        ("param_GLIDEIN_Client", args.client_name),
        ("submitcredid", args.credential_id),
        ("slotslayout", args.slots_layout),
    ]
    client = args.client
    if client is not None:
        options += [
            ("clientweb", client.web),
            ("clientsign", client.sign),
            ("clientsigntype", client.sign_type),
            ("clientdescript", client.descript),
        ]
        if client.group:
            options.append(("clientgroup", client.group))
            if client.group_web:
                options += [
                    ("clientwebgroup", client.group_web),
                    ("clientsigngroup", client.group_sign),
                    ("clientdescriptgroup", client.group_descript),
                ]
    return options


def param_value_text(value: object) -> str:
    """How a parameter value is spelled on the command line (booleans as HTCondor does)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def glidein_argument_words(args: GlideinArgs) -> list[str]:
    """The checked, encoded command line without `-cluster`/`-subcluster` (an argv for
    running a glidein by hand; append the two with real numbers)."""
    words: list[str] = []
    for option, value in _options(args):
        words += [f"-{option}", _check(OPTION_VALUE_RE, f"-{option} value", value)]
    for name, param in args.params.items():
        _check(PARAM_NAME_RE, "parameter name", name)
        text = param_value_text(param)
        if text:
            words += [f"-param_{name}", escape_param_value(text)]
    return words


def build_glidein_arguments(args: GlideinArgs, grid_type: str) -> str:
    """The `GLIDEIN_ARGUMENTS` string; quoted as a whole for arc/cream/nordugrid.

    `-cluster $(Cluster) -subcluster $(Process)` are left for the submit to expand.
    """
    words = [*glidein_argument_words(args), "-cluster", "$(Cluster)", "-subcluster", "$(Process)"]
    line = " ".join(words)
    if grid_type.split()[:1] and grid_type.split()[0].lower() in QUOTED_GRID_TYPES:
        line = '"' + line.replace('"', '\\"') + '"'
    return line


# Characters that could end a quoted submit value, start a macro or a new command.
_SUBMIT_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f\"'`$\\]")


def check_submit_value(name: str, value: str) -> str:
    """Refuse a value that could escape its place in a submit description line.

    A newline would start a new submit command (`queue`, `executable = ...`), `$` a macro
    (`$(...)`, `$ENV(...)`), a quote or backslash would end a quoted `+Attr = "..."` value,
    and a backtick means command substitution to any shell that might see it.
    """
    if _SUBMIT_UNSAFE_RE.search(value):
        raise UnsafeValueError(f"{name} value {value[:60]!r} is not safe in a submit description")
    return value


# The only macros our argument string may hold: the submit expands them per job.
_ARGUMENT_MACROS_RE = re.compile(r"\$\((?:Cluster|Process)\)")


def _check_arguments(arguments: str) -> str:
    """Accept an argument string only if, bar its two macros and outer quotes, it is inert."""
    inner = arguments
    if len(inner) >= 2 and inner[0] == inner[-1] == '"':
        inner = inner[1:-1]
    check_submit_value("GLIDEIN_ARGUMENTS", _ARGUMENT_MACROS_RE.sub("", inner))
    return arguments


@dataclass(frozen=True)
class EntryConstants:
    """The factory/entry part of every submit environment of one entry (config.md §5)."""

    factory_name: str
    glidein_name: str
    entry_name: str
    submit_file: str  # GlideinEntrySubmitFile, e.g. `entry_<e>/job.condor`
    web_url: str
    startup_dir: str
    slots_layout: str
    grid_resource_options: str = ""

    def env(self) -> dict[str, str]:
        """As `$ENV()` names; checked too, since they land in quoted `+Attr` lines."""
        values = {
            "FACTORY_NAME": self.factory_name,
            "GLIDEIN_NAME": self.glidein_name,
            "GLIDEIN_ENTRY_NAME": self.entry_name,
            "GLIDEIN_ENTRY_SUBMIT_FILE": self.submit_file,
            "GLIDEIN_WEB_URL": self.web_url,
            "GLIDEIN_STARTUP_DIR": self.startup_dir,
            "GLIDEIN_SLOTS_LAYOUT": self.slots_layout,
            "GRID_RESOURCE_OPTIONS": self.grid_resource_options,
        }
        return {name: check_submit_value(name, value) for name, value in values.items()}


@dataclass(frozen=True)
class SubmitRequest:
    """The request-dependent part of one submit call (operations.md §5.2)."""

    count: int
    client_name: str
    frontend_name: str  # `<frontend.descript name>:<SecurityClass>`
    security_class: str
    credential_id: str
    username: str
    arguments: str
    log_date: str  # GLIDEIN_LOGNR, `YYYYMMDD`
    x509_proxy: str = ""
    idtokens_file: str = ""
    scitokens_file: str = ""
    # Files the glidein carries (3.11 job.condor IDENTITY_CREDENTIALS); 3.10: the IDTOKEN.
    identity_credentials: tuple[str, ...] = ()
    idle_lifetime: int = 0
    remote_username: str = ""  # batch (BOSCO) entries: the site account
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitEnvironment:
    """The `$ENV()` values of a submit call, and parameters left out of them (to log)."""

    env: dict[str, str]
    skipped_params: tuple[str, ...] = ()


def submit_environment(request: SubmitRequest, entry: EntryConstants) -> SubmitEnvironment:
    """Render the environment job.condor's `$ENV()` references read for one request.

    Identity values must match `[A-Za-z0-9._@:-]+`; paths and the
    arguments must be submit-safe; otherwise `UnsafeValueError` rejects the request.
    A `GLIDEIN_PARAM_<X>` that is not submit-safe is only skipped: the glidein still gets
    it, encoded, through `-param_<X>`.
    """
    if request.count <= 0:
        raise UnsafeValueError(f"GLIDEIN_COUNT {request.count} is not a positive count")
    env = entry.env()
    for name, value in (
        ("GLIDEIN_CLIENT", request.client_name),
        ("GLIDEIN_FRONTEND_NAME", request.frontend_name),
        ("GLIDEIN_SEC_CLASS", request.security_class),
        ("GLIDEIN_CREDENTIAL_ID", request.credential_id),
        ("GLIDEIN_USER", request.username),
    ):
        env[name] = _check(IDENT_VALUE_RE, name, value)
    if not re.fullmatch(r"\d{8}", request.log_date):
        raise UnsafeValueError(f"GLIDEIN_LOGNR {request.log_date!r} is not YYYYMMDD")
    env["GLIDEIN_LOGNR"] = request.log_date
    env["GLIDEIN_COUNT"] = str(request.count)
    env["GLIDEIN_IDLE_LIFETIME"] = str(max(request.idle_lifetime, 0))
    env["GLIDEIN_ARGUMENTS"] = _check_arguments(request.arguments)
    for name, value in (
        ("X509_USER_PROXY", request.x509_proxy),
        ("IDTOKENS_FILE", request.idtokens_file),
        ("SCITOKENS_FILE", request.scitokens_file),
    ):
        if value:
            env[name] = check_submit_value(name, value)
    if request.identity_credentials:
        for path in request.identity_credentials:
            if "," in path:
                raise UnsafeValueError(f"IDENTITY_CREDENTIALS path {path[:60]!r} has a comma")
        env["IDENTITY_CREDENTIALS"] = check_submit_value(
            "IDENTITY_CREDENTIALS", ",".join(request.identity_credentials)
        )
    if request.remote_username:
        env["GLIDEIN_REMOTE_USERNAME"] = _check(
            IDENT_VALUE_RE, "GLIDEIN_REMOTE_USERNAME", request.remote_username
        )
    if request.x509_proxy:
        env["X509_USER_PROXY_BASENAME"] = request.x509_proxy.rsplit("/", 1)[-1]
    overload = request.params.get(OVERLOAD)
    if overload is not None:  # the job attribute is an expression: only a drawn boolean
        if overload not in ("True", "False"):
            raise UnsafeValueError(f"{OVERLOAD} {overload!r} is not True/False (draw it first)")
        env[OVERLOAD] = str(overload)
    skipped = []
    for name, param in request.params.items():
        _check(PARAM_NAME_RE, "parameter name", name)
        text = param_value_text(param)
        if _SUBMIT_UNSAFE_RE.search(text):
            skipped.append(name)
        else:
            env[f"GLIDEIN_PARAM_{name}"] = text
    return SubmitEnvironment(env, tuple(skipped))
