"""Merge `config.d/*.xml` fragments into the master config the way upstream does.

Fragments are merged in file-name order. A named list element (an entry, a frontend, an
attr ...) with the same key as one already merged *replaces* it: that is how operators
override an entry in a local fragment. Other elements are merged child by child, and an
attribute a later file gives replaces the earlier value (upstream's merge). Every
replacement is one warning naming both places.

The merge works on the raw XML elements before validation, so the merged tree is checked
once; `Origins` remembers which file each moved element came from, for `file:line`.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from glideinwms_factory.creation.xmlcheck import Issue, Origins, start_line


def _attr(name: str, default: str = "") -> Callable[[etree._Element], str]:
    return lambda el: str(el.get(name, default))


def _tarball_key(el: etree._Element) -> str:
    return ",".join(el.get(key, "default") for key in ("arch", "os", "version"))


# List container tag -> the key of its items (upstream's register_list_elements).
LIST_KEYS: dict[str, Callable[[etree._Element], str]] = {
    "allow_frontends": _attr("name"),
    "attrs": _attr("name"),
    "condor_tarballs": _tarball_key,
    "entries": _attr("name"),
    "entry_sets": _attr("alias"),
    "files": _attr("absfname"),
    "frontends": _attr("name"),
    "infosys_refs": _attr("ref"),
    "monitorgroups": _attr("group_name"),
    "monitoring_collectors": _attr("DN"),
    "per_frontends": _attr("name"),
    "process_logs": _attr("extension", "all"),
    "security_classes": _attr("username"),
    "submit_attrs": _attr("name"),
}


class Merger:
    """Merges fragment roots into the master root, collecting one warning per override."""

    def __init__(self, origins: Origins, warnings: list[Issue]) -> None:
        self.origins = origins
        self.warnings = warnings

    def _warn(self, el: etree._Element, file: str, message: str) -> None:
        self.warnings.append(Issue(file, start_line(el, self.origins.lines.get(file)), message))

    def merge(self, dst: etree._Element, src: etree._Element, dst_file: str, src_file: str) -> None:
        for name, value in src.attrib.items():
            if name in dst.attrib and dst.get(name) != value:
                before = self.origins.attrs.get((dst, name))
                first = (
                    f"{before.file}:{before.line}" if before else self.origins.where(dst, dst_file)
                )
                self._warn(
                    src,
                    src_file,
                    f"<{src.tag} {name}={value!r}> replaces {dst.get(name)!r} set at {first}",
                )
            dst.set(name, value)
            where = start_line(src, self.origins.lines.get(src_file))
            self.origins.attrs[(dst, name)] = Issue(src_file, where, "")
        for child in [c for c in src if isinstance(c.tag, str)]:
            mine = next((c for c in dst if c.tag == child.tag), None)
            if mine is None:
                self._adopt(dst, child, src_file)
            elif child.tag in LIST_KEYS:
                self._merge_list(mine, child, self.origins.file_of(mine, dst_file), src_file)
            else:
                self.merge(mine, child, self.origins.file_of(mine, dst_file), src_file)

    def _adopt(self, parent: etree._Element, el: etree._Element, file: str) -> None:
        self.origins.files[el] = file
        parent.append(el)

    def _merge_list(
        self, dst: etree._Element, src: etree._Element, dst_file: str, src_file: str
    ) -> None:
        """Items of a later file replace those with the same key (duplicates within one
        file are left for validation to report, as in the master config)."""
        key = LIST_KEYS[src.tag]
        present = {key(c): c for c in dst if isinstance(c.tag, str)}
        for item in [c for c in src if isinstance(c.tag, str)]:
            old = present.get(key(item))
            if old is None:
                self._adopt(dst, item, src_file)
                continue
            first = self.origins.where(old, self.origins.file_of(old, dst_file))
            self._warn(item, src_file, f"<{item.tag}> {key(item)!r} replaces the one at {first}")
            self.origins.files[item] = src_file
            dst.replace(old, item)
            present[key(item)] = item
