"""The entry `auth_method` grammar, one parser for `create_glidein` and the entry daemon.

An auth method is a list of requirement groups, all of which a request must meet: groups
are separated by `;` (3.11) or `+` (the older spelling). A group lists alternatives
separated by `,`, any one of which meets it; the group `any` is met by anything.
Examples: `grid_proxy`, `grid_proxy+vm_id`, `grid_proxy;project_id`, `scitoken;project_id`,
`scitoken,idtoken`, `any`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

ANY = "any"
# Upstream's credential and parameter words (3.10 AuthMethod names, 3.11 credential
# types and parameter names), each as the one word this parser gives for it.
ALIASES = {
    "x509_cert": "grid_proxy",
    "text": "auth_file",
    "vmid": "vm_id",
    "vmtype": "vm_type",
    "projectid": "project_id",
}
KNOWN_WORDS = frozenset(
    {
        "grid_proxy",
        "cert_pair",
        "x509_pair",
        "key_pair",
        "rsa_key",
        "rsa_public_key",
        "rsa_private_key",
        "symmetric_key",
        "auth_file",
        "username_password",
        "scitoken",
        "idtoken",
        "token",
        "generator",
        "dynamic",
        "glideinproxy",
        "vm_id",
        "vm_type",
        "project_id",
        "remoteusername",
    }
)
_WORD = re.compile(r"[A-Za-z0-9_]+")


class AuthMethodError(ValueError):
    """The text is not an auth method (the message says what to change)."""


@dataclass(frozen=True)
class AuthMethod:
    """Requirement groups (each a tuple of alternatives); `any` groups are dropped."""

    text: str
    groups: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> frozenset[str]:
        """Every word named anywhere (what a request may carry)."""
        return frozenset(word for group in self.groups for word in group)

    @property
    def canonical(self) -> str:
        """The spelling every upstream Frontend reads: canonical lower-case words, groups
        joined by `+` (3.10 splits on `+` only; 3.11 takes `+` or `;`), alternatives by
        `,`, no blanks (3.11 does not strip them: an unknown word stops its group's
        cycle), `any` when nothing is required."""
        return "+".join(",".join(group) for group in self.groups) or ANY

    def requires(self, word: str) -> bool:
        """Whether every acceptable request must meet `word` (a group of it alone)."""
        return (word,) in self.groups


@functools.lru_cache(maxsize=64)  # an entry's one text, checked on every 3.11 request
def parse_auth_method(text: str) -> AuthMethod:
    """Parse `text`; AuthMethodError names the first bad part (errors are not cached)."""
    groups: list[tuple[str, ...]] = []
    for raw_group in re.split(r"[;+]", text):
        words = tuple(
            ALIASES.get(word.strip().lower(), word.strip().lower()) for word in raw_group.split(",")
        )
        for word in words:
            if not _WORD.fullmatch(word):
                raise AuthMethodError(
                    f"auth_method {text!r}: empty or malformed part {raw_group!r} "
                    "(types joined by '+' or ';', alternatives by ',')"
                )
            if word not in KNOWN_WORDS and word != ANY:
                raise AuthMethodError(
                    f"auth_method {text!r}: unknown type {word!r} "
                    f"(one of {', '.join(sorted(KNOWN_WORDS | set(ALIASES) | {ANY}))})"
                )
        if ANY not in words:
            groups.append(words)
    return AuthMethod(text, tuple(groups))
