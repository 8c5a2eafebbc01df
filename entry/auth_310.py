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
from glideinwms_factory.lib.auth_method import AuthMethodError, parse_auth_method

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


# Token types: met by the request's token, which the CE checks (not a credential name).
_TOKEN_WORDS = frozenset({"scitoken", "idtoken", "token"})


def auth_problem(
    entry: EntryConfig, enc_names: frozenset[str], params: Mapping[str, Any]
) -> str | None:
    """Why the encrypted names of a 3.10 request do not fit the entry's AuthMethod
    (`lib/auth_method`), None when every requirement group is met by one of its
    alternatives.

    A token alternative (`scitoken`, `idtoken`) meets its group: tokens are checked by
    the CE, not here. `CONTINUE_IF_NO_PROXY` is a plain frontend group parameter
    (`GlideinParam*`, the entry's params.cfg as default), not an encrypted one.
    """
    passthru = "CONTINUE_IF_NO_PROXY"
    return _auth_problem(
        entry.job.auth_method,
        enc_names,
        str(params.get(passthru, entry.params.get(passthru, ""))) == "True",
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
    extra = sorted(sent - allowed)
    if extra and not _TOKEN_WORDS & auth.words:
        return f"auth method {auth.text} does not allow {extra}"
    return None
