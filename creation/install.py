"""Put a checked config on disk: staging area first, then the work dir swapped in whole.

The new work dir is built beside the old one and exchanged with it in one
`renameat2(RENAME_EXCHANGE)`, so a reader sees the old tree or the new one, never a mix.
State that is not generated (rsa.key, downtimes, lock/, the embedded pool's state,
anything else an operator or daemon put there) is carried over: files by hard link, dirs
by rename. A manifest of generated files' hashes lets the next reconfig spot hand edits.
What is written in place (dirs outside the work dir, staged files, the lock file) goes
through an `undo.Journal`: a create or reconfig that fails at any step takes it back.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from glideinwms_factory.creation.config import schedd_names
from glideinwms_factory.creation.master_model import MasterConfig
from glideinwms_factory.creation.staging import STARTUP_SCRIPT, StageArea, build_stage
from glideinwms_factory.creation.swap import swap_in
from glideinwms_factory.creation.tree_content import assign_schedds, work_files
from glideinwms_factory.creation.undo import Journal
from glideinwms_factory.creation.xmlcheck import as_int
from glideinwms_factory.lib import downtimes
from glideinwms_factory.lib.atomicfile import atomic_write
from glideinwms_factory.lib.descript import DescriptError, read_descript

MANIFEST = ".generated_files.json"
EXECUTABLES = ("factory_startup", STARTUP_SCRIPT)
# Hook for the factory RSA key (spec/security.md §2): lib/crypto owns key creation. The
# lead wires a `(work_dir, key_length) -> None` that creates WORK/rsa.key when missing.
CreateKeyHook = Callable[[Path, int], None]


class TreeError(Exception):
    """The tree cannot be created or updated; the message says why, one line."""


class TreeBusy(TreeError):
    """Another create/reconfig holds the tree: what is on disk is its, not ours to undo."""


@dataclass
class Summary:
    """What a create or reconfig changed, for the operator."""

    work_dir: Path
    added: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    factory_changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"entries added: {', '.join(self.added) or '-'}",
            f"entries retired: {', '.join(self.retired) or '-'}",
            f"entries changed: {', '.join(self.changed) or '-'}",
            f"entries unchanged: {len(self.unchanged)}",
            f"factory files changed: {', '.join(self.factory_changed) or '-'}",
        ]
        return out + self.notes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_generated_manifest(work: Path) -> dict[str, str]:
    """Generated path (`work/...` or `stage/...`) -> sha256, or `link:<target>` for symlinks."""
    path = work / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise TreeError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(data, dict) or not all(
        str(key).startswith(("work/", "stage/")) for key in data
    ):
        raise TreeError(f"{path}: unreadable manifest")
    return {str(k): str(v) for k, v in data.items()}


def _current(path: Path) -> str | None:
    if path.is_symlink():
        return f"link:{os.readlink(path)}"
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def hand_edits(work: Path, stage: Path) -> list[str]:
    """Generated files whose content no longer matches what was generated."""
    bases = {"work": work, "stage": stage}
    edited = []
    for key, digest in sorted(read_generated_manifest(work).items()):
        area, _, rel = key.partition("/")
        found = _current(bases[area] / rel)
        if found is not None and found != digest:
            edited.append(str(bases[area] / rel))
    return edited


def _old_schedds(work: Path, entries: list[str]) -> dict[str, str]:
    result = {}
    for name in entries:
        try:
            schedd = read_descript(work / f"entry_{name}" / "job.descript").get("Schedd")
        except DescriptError:
            continue
        if schedd:
            result[name] = schedd
    return result


@dataclass
class _Plan:
    """Everything to write, computed before the first byte hits the disk."""

    stage: StageArea
    work: dict[str, tuple[bytes, int]]  # relative path -> (content, mode)
    links: dict[str, str]  # relative path -> symlink target


def _plan(cfg: MasterConfig, web_base: Path) -> _Plan:
    stage, _ = build_stage(cfg, web_base)
    schedds = assign_schedds(
        list(cfg.entries), schedd_names(cfg.glidein), _old_schedds(cfg.dirs.work, list(cfg.entries))
    )
    texts = work_files(cfg, schedds, stage.signatures)
    work = {
        rel: (text.encode(), 0o755 if rel in EXECUTABLES else 0o644) for rel, text in texts.items()
    }
    work[STARTUP_SCRIPT] = (stage.files[STARTUP_SCRIPT].data, 0o755)
    for index, source in enumerate(cfg.sources):
        rel = f"glideinWMS{source.suffix}" if index == 0 else f"config.d/{source.name}"
        work[rel] = (source.read_bytes(), 0o644)
    links = {
        "log": str(cfg.dirs.log / "factory"),
        "monitor": str(cfg.dirs.monitor),
        "client_log": str(cfg.dirs.client_log),
        "client_proxies": str(cfg.dirs.client_proxies),
    }
    links |= {f"entry_{name}/log": str(cfg.dirs.log / f"entry_{name}") for name in cfg.entries}
    return _Plan(stage, work, links)


class _SameBytesLinker:
    """Writes files, hard-linking a file to an earlier one with the same bytes and mode.

    Creating a file costs ~1 ms here and a link ~0.02 ms; a tree of a thousand entries
    repeats most of its files (scripts, empty lists, unchanged descripts), and generated
    files are only ever replaced by rename, never edited in place, so sharing is safe.
    """

    def __init__(self) -> None:
        self.known: dict[tuple[str, int], Path] = {}

    def offer(self, path: Path, digest: str, mode: int) -> None:
        """`path` is known to hold bytes of sha256 `digest` with `mode`: later writes may link."""
        self.known.setdefault((digest, mode), path)

    def write(
        self, target: Path, data: bytes, digest: str, mode: int, replace: bool = False
    ) -> None:
        """Write `data` (of sha256 `digest`) to `target`, as a link where the bytes are known."""
        key = (digest, mode)
        source = self.known.get(key)
        if source is not None:
            temp = target.with_name(f".{target.name}.{os.getpid()}.link") if replace else target
            try:
                os.link(source, temp)
                if replace:
                    os.replace(temp, target)
                return
            except OSError:
                if replace:
                    temp.unlink(missing_ok=True)
        if replace:
            atomic_write(target, data, mode, fsync=False)
        else:
            target.write_bytes(data)
            target.chmod(mode)
        self.known[key] = target


def _unchanged(path: Path, data: bytes, mode: int) -> bool:
    try:
        return path.stat().st_mode & 0o7777 == mode and path.read_bytes() == data
    except OSError:
        return False


def _write_stage(stage_dir: Path, area: StageArea, journal: Journal) -> None:
    """Add the new staged files; same-named files already there with other bytes are replaced."""
    linker = _SameBytesLinker()
    for rel, item in area.files.items():
        target = stage_dir / rel
        journal.mkdir(target.parent)
        if item.keep_existing:  # hand-edited per entry: its own inode, never overwritten
            if not target.exists():
                journal.new_file(target)
                atomic_write(target, item.data, item.mode, fsync=False)
            continue
        if _unchanged(target, item.data, item.mode):
            linker.offer(target, item.sha256, item.mode)
            continue
        journal.replace_file(target)
        linker.write(target, item.data, item.sha256, item.mode, replace=True)


def _write_new_work(new: Path, old: Path, plan: _Plan) -> dict[str, str]:
    """Write the new work dir; files equal to the old tree's are hard links to them."""
    manifest = {}
    linker = _SameBytesLinker()
    for rel, (data, mode) in plan.work.items():
        target = new / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _sha256(data)
        if _unchanged(old / rel, data, mode):
            linker.offer(old / rel, digest, mode)
        linker.write(target, data, digest, mode)
        manifest[f"work/{rel}"] = digest
    for rel, link in plan.links.items():
        (new / rel).parent.mkdir(parents=True, exist_ok=True)
        (new / rel).symlink_to(link)
        manifest[f"work/{rel}"] = f"link:{link}"
    for rel, item in plan.stage.files.items():
        if not item.keep_existing:
            manifest[f"stage/{rel}"] = item.sha256
    return manifest


def _carry_over(
    old: Path, new: Path, generated: set[str], entries: set[str]
) -> list[tuple[Path, Path]]:
    """Hard-link kept files into `new` now; return (old dir, new dir) pairs to move at swap time.

    A removed entry's dir is copied (by links) to `retired/`; its logs live in LOG and stay.
    """
    moves: list[tuple[Path, Path]] = []

    def keep(src: Path, dest: Path) -> None:
        if src.is_dir() and not src.is_symlink():
            moves.append((src, dest))
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dest.symlink_to(os.readlink(src))
        elif src.is_file():
            os.link(src, dest)

    generated_dirs = {str(Path(key).parent) for key in generated}

    def carry(src: Path, rel: str) -> None:
        for child in sorted(src.iterdir()):
            child_rel = f"{rel}{child.name}"
            if child_rel == MANIFEST or f"work/{child_rel}" in generated:
                continue
            is_dir = child.is_dir() and not child.is_symlink()
            if is_dir and child_rel == "retired":
                for item in sorted(child.iterdir()):
                    keep(item, new / "retired" / item.name)
            elif (
                is_dir
                and rel == ""
                and child.name.startswith("entry_")
                and child.name[6:] not in entries
            ):
                dest, suffix = new / "retired" / child.name, 1
                while (old / "retired" / dest.name).exists():
                    dest, suffix = new / "retired" / f"{child.name}.{suffix}", suffix + 1
                for item in sorted(child.iterdir()):
                    keep(item, dest / item.name)
            elif is_dir and f"work/{child_rel}" in generated_dirs:
                carry(child, f"{child_rel}/")  # a generated dir: keep only what we did not write
            else:
                keep(child, new / child_rel)

    carry(old, "")
    return moves


def _make_dirs(cfg: MasterConfig, journal: Journal) -> None:
    """The dirs outside WORK: logs, monitoring, and per frontend user the Condor-G log
    dirs (`user_<u>/glidein_<g>/entry_<e>`) and credential dirs (0700, security.md §6)."""
    d = cfg.dirs
    glidein = f"glidein_{cfg.glidein['glidein_name']}"
    users = sorted({user for fe in cfg.frontends.values() for user in fe.usermap.values()})
    for path in [d.stage, d.monitor, d.client_log, d.log / "factory"]:
        journal.mkdir(path)
    for path in [d.client_proxies] + [d.client_proxies / f"user_{u}" / glidein for u in users]:
        journal.mkdir(path, 0o700)
        path.chmod(0o700)
    for name in cfg.entries:
        journal.mkdir(d.log / f"entry_{name}")
        journal.mkdir(d.monitor / f"entry_{name}")
        for user in users:
            journal.mkdir(d.client_log / f"user_{user}" / glidein / f"entry_{name}")


def _summarize(
    summary: Summary,
    old: dict[str, str],
    new: dict[str, str],
    old_entries: set[str],
    new_entries: list[str],
) -> None:
    def by_entry(manifest: dict[str, str]) -> dict[str, dict[str, str]]:
        grouped: dict[str, dict[str, str]] = {}
        for key, value in manifest.items():
            if key.startswith("work/entry_"):
                grouped.setdefault(key.split("/")[1][6:], {})[key] = value
        return grouped

    old_parts, new_parts = by_entry(old), by_entry(new)
    for name in new_entries:
        if name not in old_entries:
            summary.added.append(name)
        elif old_parts.get(name) != new_parts.get(name):
            summary.changed.append(name)
        else:
            summary.unchanged.append(name)
    summary.retired = sorted(old_entries - set(new_entries))
    for key in sorted(new):
        rel = key.removeprefix("work/")
        if key.startswith("work/") and "/" not in rel and old.get(key) != new[key]:
            summary.factory_changed.append(rel)


def _entries_of(manifest: dict[str, str]) -> set[str]:
    return {k.split("/")[1][6:] for k in manifest if k.startswith("work/entry_")}


def _check_target(work: Path, reconfig: bool) -> None:
    if reconfig and not (work / MANIFEST).is_file():
        raise TreeError(f"{work} is not a factory tree (no {MANIFEST}); run create_glidein first")
    if not reconfig and work.exists() and any(work.iterdir()):
        raise TreeError(
            f"{work} already exists and is not empty; use reconfig_glidein to update it"
        )


@contextmanager
def _exclusive(work: Path, journal: Journal) -> Iterator[None]:
    """One create/reconfig at a time per tree (a lock file beside the work dir, and its
    parents, made through `journal`: a failed create takes them back)."""
    lock = work.with_name(f".{work.name}.reconfig.lock")
    journal.mkdir(lock.parent, shared=True)
    journal.new_file(lock)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(handle.fileno()).st_ino != lock.stat().st_ino:
                raise BlockingIOError  # a failed run removed it after we opened it
        except (BlockingIOError, FileNotFoundError):
            raise TreeBusy(f"another create/reconfig of {work} is running") from None
        yield


def _write_tree(
    cfg: MasterConfig, plan: _Plan, old_manifest: dict[str, str], reconfig: bool, journal: Journal
) -> dict[str, str]:
    """Stage first, then build the new work dir beside the old one and swap it in.

    A work dir that is a symlink is updated where it points, so that links and renames
    of kept state stay on one filesystem.
    """
    work = cfg.dirs.work.resolve() if reconfig else cfg.dirs.work
    new = work.with_name(f".{work.name}.new.{os.getpid()}")
    if new.exists():
        shutil.rmtree(new)
    try:
        _make_dirs(cfg, journal)
        _write_stage(cfg.dirs.stage, plan.stage, journal)
        manifest = _write_new_work(new, work, plan)
        moves: list[tuple[Path, Path]] = []
        if reconfig:
            moves = _carry_over(work, new, set(old_manifest), set(cfg.entries))
        if not (new / "lock").exists() and not any(dest == new / "lock" for _, dest in moves):
            (new / "lock").mkdir()
        if not (new / downtimes.FILE_NAME).exists():
            (new / downtimes.FILE_NAME).write_text(downtimes.HEADER + "\n")
        atomic_write(new / MANIFEST, json.dumps(manifest, indent=0, sort_keys=True))
        os.sync()  # one flush for everything written above, before it becomes visible
        if reconfig:
            swap_in(new, work, moves)
            journal.clear()  # swapped in: the new tree stands (the old one is kept aside)
        else:
            journal.fill_dir(work)
            if work.exists():
                work.rmdir()
            os.rename(new, work)
    finally:
        if new.exists():
            shutil.rmtree(new, ignore_errors=True)
    return manifest


def install(
    cfg: MasterConfig,
    web_base: Path,
    *,
    reconfig: bool,
    force: bool = False,
    force_delete: bool = False,
    create_key: CreateKeyHook | None = None,
) -> Summary:
    """Create (reconfig=False) or atomically replace (reconfig=True) the tree of `cfg`.

    A reconfig that would remove entries of the running tree refuses (TreeError naming
    them) unless `force_delete`, as upstream's `-force_delete`.
    """
    work = cfg.dirs.work
    _check_target(work, reconfig)
    plan = _plan(cfg, web_base)  # may raise StagingError: still nothing written
    journal = Journal()  # from here on, a failure takes back what this run wrote
    try:
        with _exclusive(work, journal):
            try:
                summary = _install_locked(cfg, plan, reconfig, force, force_delete, journal)
                if create_key is not None:
                    create_key(work, as_int(cfg.sections["security"]["key_length"]))
            except BaseException:
                journal.undo()
                raise
    except TreeBusy:
        raise  # what is there is the other run's
    except BaseException:
        journal.undo()  # the lock's own dirs, if that is as far as it got
        raise
    journal.clear()
    if create_key is None and not (work / "rsa.key").exists():
        summary.notes.append(
            f"note: no {work / 'rsa.key'} yet: the factory creates it at start (lib/crypto)"
        )
    return summary


def _install_locked(
    cfg: MasterConfig,
    plan: _Plan,
    reconfig: bool,
    force: bool,
    force_delete: bool,
    journal: Journal,
) -> Summary:
    """`install` once the tree is ours: checks, then the tree written and swapped in."""
    work = cfg.dirs.work
    _check_target(work, reconfig)
    old_manifest = read_generated_manifest(work) if reconfig else {}
    removed = sorted(_entries_of(old_manifest) - set(cfg.entries))
    if removed and not force_delete:
        raise TreeError(
            f"the config removes entries of the running tree: {', '.join(removed)}"
            ' (keep them, set enabled="False", or reconfig with -force_delete)'
        )
    edited = hand_edits(work, cfg.dirs.stage) if reconfig and not force else []
    if edited:
        raise TreeError(
            "generated files were edited by hand (put the change in the config,"
            f" or use --force): {', '.join(edited)}"
        )
    manifest = _write_tree(cfg, plan, old_manifest, reconfig, journal)
    summary = Summary(work)
    _summarize(summary, old_manifest, manifest, _entries_of(old_manifest), list(cfg.entries))
    return summary
