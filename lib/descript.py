"""Read and write the factory's descript files (spec/config.md §3, §4, §6).

One module for both sides: the creation tools write these files and the daemons read
them, so the format lives in exactly one place.

* `glidein.descript`, `job.descript`, `infosys.descript`: `Key<space><tab>value`, strings.
* `params.cfg`, `attributes.cfg`, `submit_attrs.cfg`: `NAME<space><tab><python literal>`.
  Upstream `eval`s these; we only accept literals (`ast.literal_eval`).
* `frontend.descript`: `<frontend><space><tab>{'ident': ..., 'usermap': {...}}`.
* `signatures.sha1` (WORK): `<hash>  <description name>  main|entry_<e>`.

Every writer is atomic (temp file + rename), so a reader sees the old or the new file,
never a partial one. Readers raise `DescriptError` with a `file:line: message` text.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.lib.atomicfile import atomic_write

SEPARATOR = " \t"


class DescriptError(ValueError):
    """A descript file is missing or malformed; the message names file and line."""


def _lines(path: Path) -> Iterable[tuple[int, str, str]]:
    """(line number, key, raw value) of every non-blank, non-comment line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DescriptError(f"{path}: cannot read: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # Any blank run separates key and value (we write " \t"; a hand edit may use a tab).
        key, *value = stripped.split(None, 1)
        yield number, key, value[0] if value else ""


def format_key_values(values: Mapping[str, object]) -> str:
    """The text of a `Key<space><tab>value` file, keys in the given order."""
    for key, value in values.items():
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"invalid descript key {key!r}")
        if "\n" in str(value):
            raise ValueError(f"descript value of {key} contains a newline")
    return "".join(f"{key}{SEPARATOR}{value}\n" for key, value in values.items())


def read_descript(path: str | os.PathLike[str]) -> dict[str, str]:
    """A `Key<space><tab>value` file (glidein.descript, job.descript) as strings."""
    return {key: value for _, key, value in _lines(Path(path))}


def write_descript(path: str | os.PathLike[str], values: Mapping[str, object]) -> None:
    atomic_write(path, format_key_values(values))


def format_literals(values: Mapping[str, object]) -> str:
    """The text of a params.cfg-style file: values as Python literals (repr)."""
    rendered: dict[str, str] = {}
    for key, value in values.items():
        text = repr(value)
        if ast.literal_eval(text) != value:
            raise ValueError(f"{key}: value {value!r} is not a plain Python literal")
        rendered[key] = text
    return format_key_values(rendered)


def read_literals(path: str | os.PathLike[str]) -> dict[str, object]:
    """params.cfg / attributes.cfg / submit_attrs.cfg: NAME -> Python literal value."""
    result: dict[str, object] = {}
    for number, key, value in _lines(Path(path)):
        try:
            result[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise DescriptError(f"{path}:{number}: {key}: not a Python literal: {value!r}") from exc
    return result


def write_literals(path: str | os.PathLike[str], values: Mapping[str, object]) -> None:
    atomic_write(path, format_literals(values))


def read_entry_literals(
    work_dir: str | os.PathLike[str], entry: str, name: str
) -> dict[str, object]:
    """WORK/<name> overlaid by WORK/entry_<entry>/<name>: the entry wins (config.md §4).

    `name` is params.cfg, attributes.cfg or submit_attrs.cfg; a missing file adds nothing.
    """
    work = Path(work_dir)
    merged: dict[str, object] = {}
    for path in (work / name, work / f"entry_{entry}" / name):
        if path.exists():
            merged |= read_literals(path)
    return merged


@dataclass(frozen=True)
class FrontendInfo:
    """One frontend of frontend.descript: its authenticated identity and class -> user map."""

    ident: str
    usermap: dict[str, str] = field(default_factory=dict)


def format_frontends(frontends: Mapping[str, FrontendInfo]) -> str:
    return format_literals(
        {
            name: {"ident": info.ident, "usermap": dict(info.usermap)}
            for name, info in frontends.items()
        }
    )


def read_frontends(path: str | os.PathLike[str]) -> dict[str, FrontendInfo]:
    """frontend.descript: security name -> FrontendInfo (identity + security class users)."""
    result: dict[str, FrontendInfo] = {}
    for key, value in read_literals(path).items():
        if not (
            isinstance(value, dict)
            and isinstance(value.get("ident"), str)
            and isinstance(value.get("usermap", {}), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value["usermap"].items())
        ):
            raise DescriptError(
                f"{path}: {key}: expected {{'ident': str, 'usermap': {{str: str}}}}"
            )
        result[key] = FrontendInfo(value["ident"], dict(value.get("usermap", {})))
    return result


def write_frontends(path: str | os.PathLike[str], frontends: Mapping[str, FrontendInfo]) -> None:
    atomic_write(path, format_frontends(frontends))


@dataclass(frozen=True)
class SignatureLine:
    """One line of WORK/signatures.sha1: what `-sign`/`-descript` (or the entry ones) get."""

    digest: str  # hash of the staged signature file
    description: str  # staged description file name
    scope: str  # "main" or "entry_<name>"


def format_signatures(lines: Iterable[SignatureLine]) -> str:
    return "".join(f"{s.digest}  {s.description}  {s.scope}\n" for s in lines)


def read_signatures(path: str | os.PathLike[str]) -> dict[str, SignatureLine]:
    """WORK/signatures.sha1 (or .sha256): scope ("main", "entry_<e>") -> SignatureLine."""
    result: dict[str, SignatureLine] = {}
    for number, key, value in _lines(Path(path)):
        parts = value.split()
        if len(parts) != 2:
            raise DescriptError(f"{path}:{number}: expected '<hash>  <description>  <scope>'")
        result[parts[1]] = SignatureLine(key, parts[0], parts[1])
    return result


def write_signatures(path: str | os.PathLike[str], lines: Iterable[SignatureLine]) -> None:
    atomic_write(path, format_signatures(lines))
