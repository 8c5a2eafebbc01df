"""Check 6 of security.md §4 for a 3.10 request: its credential names against the
entry's auth method. (A 3.11 request's credentials are checked in `protocol_311`.)

Only the names a request carries and the entry decide, so each answer is worked out
once per entry and Frontend name set, not in every request.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.lib.auth_method import AuthMethod, AuthMethodError, parse_auth_method

CREDENTIAL_NAMES = frozenset(
    {
        "SubmitProxy",
        "GlideinProxy",
        "Username",
        "Password",
        "PublicCert",
        "PrivateCert",
        "PublicKey",
        "PrivateKey",
        "VMId",
        "VMType",
        "AuthFile",
        "ProjectId",
    }
)
# AuthMethod -> (required credential names, names also allowed) (security.md §4).
_AUTH_METHODS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "grid_proxy": (frozenset({"SubmitProxy"}), frozenset()),
    "cert_pair": (
        frozenset({"GlideinProxy", "PublicCert", "PrivateCert"}),
        frozenset({"VMId", "VMType"}),
    ),
    "key_pair": (
        frozenset({"GlideinProxy", "PublicKey", "PrivateKey"}),
        frozenset({"VMId", "VMType"}),
    ),
    "auth_file": (frozenset({"GlideinProxy", "AuthFile"}), frozenset({"VMId", "VMType"})),
    "username_password": (
        frozenset({"GlideinProxy", "Username", "Password"}),
        frozenset({"VMId", "VMType"}),
    ),
    "vm_id": (frozenset(), frozenset({"VMId"})),
    "vm_type": (frozenset(), frozenset({"VMType"})),
    "project_id": (frozenset({"ProjectId"}), frozenset()),
}


# A Frontend sends its credential's project id to every entry (its `project_id`, or the
# job project the ProxyProjectName plugin gives it); the upstream 3.10 factory does not
# count it among the credentials an entry may refuse (check_security_credentials).
_NEVER_EXTRA = frozenset({"ProjectId"})
# Token types: not credential names; a required SciToken is looked for at check 10.
_TOKEN_WORDS = frozenset({"scitoken", "idtoken", "token"})


# Which encrypted name holds the credential id (GlideinCredentialIdentifier) of a 3.10
# request, by the entry's auth method, in the order the upstream 3.10 factory tests them
# (glideFactoryEntry.unit_work_v3): a token entry counts by ScitokenId, a grid entry by
# its SubmitProxy, any other by the first credential of its pair or file.
_ID_NAMES = (
    ("scitoken", "ScitokenId"),
    ("grid_proxy", "SubmitProxy"),
    ("cert_pair", "PublicCert"),
    ("key_pair", "PublicKey"),
    ("auth_file", "AuthFile"),
    ("username_password", "Username"),
)
# Files named by a request that must have come through a glideclientglobal ad, by method.
_FILE_NAMES = {
    "cert_pair": ("PublicCert", "PrivateCert"),
    "key_pair": ("PublicKey", "PrivateKey"),
    "auth_file": ("AuthFile",),
    "username_password": ("Username", "Password"),
}
CLOUD_GRID_TYPES = frozenset({"ec2", "gce"})


def passthru(entry: EntryConfig, params: Mapping[str, Any]) -> bool:
    """Whether the group parameter `CONTINUE_IF_NO_PROXY` is `True` (the request's
    `GlideinParam*`, the entry's params.cfg as default)."""
    name = "CONTINUE_IF_NO_PROXY"
    return str(params.get(name, entry.params.get(name, ""))) == "True"


@functools.lru_cache(maxsize=64)
def id_name(method: str) -> str | None:
    """The encrypted name whose value identifies a 3.10 request's credential for an
    entry of auth method `method` (None: the method names no credential)."""
    words = _words(method)
    return next((name for word, name in _ID_NAMES if word in words), None)


def credential_files(method: str) -> tuple[str, ...]:
    """The encrypted names of credential files besides the proxy a 3.10 request for an
    entry of auth method `method` refers to (cert/key pairs, auth file, user/password)."""
    words = _words(method)
    return next((names for word, names in _FILE_NAMES.items() if word in words), ())


def needs_scitoken(method: str) -> bool:
    """Whether a 3.10 request for an entry of auth method `method` is served only with a
    SciToken file at hand (upstream skips it while there is none); an alternative group
    such as `scitoken,grid_proxy` does not require one."""
    auth = _parsed(method)
    return auth is not None and auth.requires("scitoken")


def uses_glidein_proxy(method: str) -> bool:
    """Whether the glidein proxy (`GlideinProxy`) is what the glidein gets: entries that
    submit with neither a token nor a grid proxy (upstream's cloud and BOSCO branch)."""
    words = _words(method)
    return not words & {"scitoken", "grid_proxy"} and bool(words & set(_FILE_NAMES))


def _words(method: str) -> frozenset[str]:
    auth = _parsed(method)
    return auth.words if auth is not None else frozenset()


@functools.lru_cache(maxsize=64)
def _parsed(method: str) -> AuthMethod | None:
    """The entry's auth method, None when job.descript holds a bad one (the request
    checks then reject with the parser's reason)."""
    try:
        return parse_auth_method(method)
    except AuthMethodError:
        return None


def auth_problem(
    entry: EntryConfig, enc_names: frozenset[str], params: Mapping[str, Any]
) -> str | None:
    """Why the encrypted names of a 3.10 request do not fit the entry's AuthMethod
    (`lib/auth_method`), None when every requirement group is met by one of its
    alternatives.

    A token alternative (`scitoken`, `idtoken`) meets its group here: whether a required
    SciToken is at hand (this request's or one kept from an earlier one) is check 10
    (`needs_scitoken`, find_work). `CONTINUE_IF_NO_PROXY` is a plain frontend group parameter
    (`GlideinParam*`, the entry's params.cfg as default), not an encrypted one.
    """
    return _auth_problem(
        entry.job.auth_method,
        enc_names,
        passthru(entry, params),
        bool(entry.job.vm_id),
        bool(entry.job.vm_type),
    )


@functools.lru_cache(maxsize=256)
def _auth_problem(
    method: str, enc_names: frozenset[str], passthru: bool, vm_id: bool, vm_type: bool
) -> str | None:
    """Why credential names `enc_names` do not fit `method`, None when they do."""
    try:
        auth = parse_auth_method(method)
    except AuthMethodError as exc:
        return f"entry {exc}"
    if "frontend_scitoken" in enc_names and passthru:
        return None
    unknown = sorted(auth.words - set(_AUTH_METHODS) - _TOKEN_WORDS)
    if unknown:
        return f"entry AuthMethod {unknown[0]!r} is not served for 3.10 requests"
    sent = CREDENTIAL_NAMES & enc_names
    allowed: set[str] = set()
    for word in auth.words - _TOKEN_WORDS:
        need, also = _AUTH_METHODS[word]
        allowed |= need | also
    if "vm_id" in auth.words and "VMId" not in enc_names and not vm_id:
        return "auth method vm_id: no VMId in the request nor the entry"
    if "vm_type" in auth.words and "VMType" not in enc_names and not vm_type:
        return "auth method vm_type: no VMType in the request nor the entry"
    for group in auth.groups:
        if _TOKEN_WORDS & set(group):
            continue
        if not any(_AUTH_METHODS[word][0] <= sent for word in group):
            missing = ", ".join(sorted(_AUTH_METHODS[group[0]][0] - sent))
            others = f" (or what {', '.join(group[1:])} needs)" if len(group) > 1 else ""
            return f"auth method {auth.text} needs {missing}{others}"
    extra = sorted(sent - allowed - _NEVER_EXTRA)
    if extra and not _TOKEN_WORDS & auth.words:
        return f"auth method {auth.text} does not allow {extra}"
    return None
