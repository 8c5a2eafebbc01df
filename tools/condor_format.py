"""How condor_status and condor_q print ad values: -af, -format, -long, -json, -xml.

Expressions are parsed and evaluated against each ad by `classad2` (the HTCondor bindings);
this module only chooses how each resulting value is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import classad2
from lxml import etree

from glideinwms_factory.lib import classad


class FormatError(ValueError):
    """A -af modifier, -format string or expression that cannot be used (one line)."""


def parse_expr(text: str) -> classad2.ExprTree:
    """A ClassAd expression, or FormatError naming it."""
    try:
        return classad2.ExprTree(text)
    except (classad2.ClassAdException, ValueError):
        raise FormatError(f"expression {text!r} does not parse") from None


def attribute_refs(expressions: Iterable[classad2.ExprTree]) -> list[str]:
    """The ad attributes the expressions read (what a query must project)."""
    names: set[str] = set()
    empty = classad2.ClassAd()
    for expr in expressions:
        names.update(ref.split(".")[-1] for ref in empty.externalRefs(expr) if ref)
    return sorted(names)


def _real(value: float) -> str:
    text = f"{value:.15g}"
    return text if any(c in text for c in ".eEn") else text + ".0"


def unparse(value: Any) -> str:
    """A value as the -long form writes it (strings quoted): %V."""
    if value is classad2.Value.Undefined:
        return "undefined"
    if value is classad2.Value.Error:
        return "error"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return classad2.quote(value)
    if isinstance(value, float):
        return _real(value)
    if isinstance(value, list):
        return "{ " + ",".join(unparse(item) for item in value) + " }"
    if isinstance(value, classad2.ClassAd):
        return "[ " + "; ".join(f"{k} = {unparse(v)}" for k, v in value.items()) + " ]"
    return str(value)


def natural(value: Any) -> str:
    """A value as -af writes it by default (%v): strings bare, the rest as -long."""
    return value if isinstance(value, str) else unparse(value)


def raw(ad: classad2.ClassAd, text: str) -> str:
    """%r: an attribute's unevaluated expression, or the expression text itself."""
    if text not in ad:
        return text
    value = ad[text]
    return str(value) if isinstance(value, classad2.ExprTree) else unparse(value)


def evaluate(ad: classad2.ClassAd, expr: classad2.ExprTree) -> Any:
    """The value of `expr` with `ad` as MY scope."""
    try:
        return expr.eval(ad)
    except (classad2.ClassAdException, ValueError, TypeError):
        return classad2.Value.Error


# --- -autoformat ------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoFormat:
    """`-af[:jlhVr,tng] EXPR...` (condor_q/condor_status manual, -autoformat)."""

    columns: tuple[str, ...]
    job_id: bool = False
    label: bool = False
    heading: bool = False
    quoted: bool = False
    raw: bool = False
    comma: bool = False
    tab: bool = False
    newline: bool = False
    group: bool = False

    @classmethod
    def parse(cls, modifiers: str, columns: Sequence[str], job_ids: bool) -> AutoFormat:
        known = "jlhVr,tng" if job_ids else "lhVr,tng"
        unknown = [m for m in modifiers if m not in known]
        if unknown:
            raise FormatError(f"-af modifier {unknown[0]!r} unknown (known: {known})")
        if not columns:
            raise FormatError("-af needs at least one attribute or expression")
        if "," in modifiers and "n" in modifiers:
            raise FormatError("-af modifiers ',' and 'n' cannot be used together")
        if "l" in modifiers and "h" in modifiers:
            raise FormatError("-af modifiers 'l' and 'h' cannot be used together")
        for column in columns:
            parse_expr(column)
        flags = {
            "job_id": "j",
            "label": "l",
            "heading": "h",
            "quoted": "V",
            "raw": "r",
            "comma": ",",
            "tab": "t",
            "newline": "n",
            "group": "g",
        }
        return cls(tuple(columns), **{k: flag in modifiers for k, flag in flags.items()})

    def expressions(self) -> list[classad2.ExprTree]:
        extra = ["ClusterId", "ProcId"] if self.job_id else []
        return [parse_expr(text) for text in [*extra, *self.columns]]

    def _cells(self, ad: classad2.ClassAd) -> list[tuple[str, str]]:
        cells = []
        if self.job_id:
            cells.append(("ID", job_id(ad)))
        for text in self.columns:
            if self.raw:
                value = raw(ad, text)
            else:
                result = evaluate(ad, parse_expr(text))
                value = unparse(result) if self.quoted else natural(result)
            cells.append((text, value))
        return cells

    def render(self, ads: Sequence[classad2.ClassAd]) -> str:
        rows = [self._cells(ad) for ad in ads]
        widths: list[int] = []
        if self.heading:
            names = [name for name, _ in rows[0]] if rows else list(self.columns)
            widths = [
                max([len(name), *(len(row[i][1]) for row in rows)]) for i, name in enumerate(names)
            ]
            rows = [[(name, name) for name in names], *rows]
        separator = "" if self.group else ("\t" if self.tab else " ")
        suffix = "," if self.comma else ("\n" if self.newline else "")
        out = []
        for number, row in enumerate(rows):
            if self.group and number:
                out.append("\n")
            fields = []
            for column, (name, value) in enumerate(row):
                text = f"{name} = {value}" if self.label else value
                if widths and column < len(row) - 1:
                    text = text.ljust(widths[column])
                fields.append(text + suffix)
            out.append(separator.join(fields).rstrip(" ") + ("" if self.newline else "\n"))
        return "".join(out)


def job_id(ad: classad2.ClassAd) -> str:
    """CLUSTER.PROC of a job ad."""
    return f"{natural(ad.get('ClusterId', '?'))}.{natural(ad.get('ProcId', '?'))}"


# --- -format ---------------------------------------------------------------------------

_SPEC = re.compile(r"%([-+ #0]*\d*(?:\.\d+)?)([diouxXeEfgGcsvVr%])")


@dataclass(frozen=True)
class PrintfFormat:
    """One `-format FMT EXPR` pair: a printf string with one conversion, applied per ad."""

    fmt: str
    expr: str

    def __post_init__(self) -> None:
        parse_expr(self.expr)
        specs = [m for m in _SPEC.finditer(self.fmt) if m.group(2) != "%"]
        if len(specs) > 1:
            raise FormatError(f"-format {self.fmt!r} has more than one conversion")

    def render(self, ad: classad2.ClassAd) -> str:
        """The text for one ad; '' when the value is undefined (HTCondor skips it)."""
        value = evaluate(ad, parse_expr(self.expr))
        text = self.fmt.replace("\\n", "\n").replace("\\t", "\t")
        if value is classad2.Value.Undefined and self.expr not in ad:
            return ""
        return _SPEC.sub(lambda m: self._convert(m, ad, value), text)

    def _convert(self, match: re.Match[str], ad: classad2.ClassAd, value: Any) -> str:
        flags, kind = match.groups()
        if kind == "%":
            return "%"
        if kind == "r":
            return raw(ad, self.expr)
        if kind == "V":
            return unparse(value)
        if kind in "sv":
            return ("%" + flags + "s") % natural(value)
        if kind == "c":
            return ("%" + flags + "c") % (value if isinstance(value, int) else 0)
        number: float | int
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int | float):
            number = value
        else:
            return ("%" + flags + "s") % natural(value)
        if kind in "diouxXc":
            number = int(number)
        return ("%" + flags + kind) % number


def render_printf(formats: Sequence[PrintfFormat], ads: Sequence[classad2.ClassAd]) -> str:
    return "".join(fmt.render(ad) for ad in ads for fmt in formats)


# --- whole ads -------------------------------------------------------------------------

# characters XML 1.0 cannot carry, even escaped
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` with the characters XML cannot carry replaced by U+FFFD."""
    return _XML_INVALID.sub("\ufffd", text)


def select(ad: classad2.ClassAd, attributes: Sequence[str]) -> classad2.ClassAd:
    """The ad narrowed to `attributes` (all when empty), as -attributes does."""
    if not attributes:
        return ad
    wanted = {name.lower() for name in attributes}
    narrowed = classad2.ClassAd()
    for key in ad:
        if key.lower() in wanted:
            narrowed[key] = ad.lookup(key)
    return narrowed


def render_long(ads: Sequence[classad2.ClassAd]) -> str:
    return "".join(classad.format_old(ad) + "\n" for ad in ads)


def render_json(ads: Sequence[classad2.ClassAd]) -> str:
    return classad.format_json(ads) if ads else ""


def _xml_value(parent: etree._Element, value: Any) -> None:
    if value is classad2.Value.Undefined:
        etree.SubElement(parent, "un")
    elif value is classad2.Value.Error:
        etree.SubElement(parent, "er")
    elif isinstance(value, bool):
        etree.SubElement(parent, "b", v="t" if value else "f")
    elif isinstance(value, int):
        etree.SubElement(parent, "i").text = str(value)
    elif isinstance(value, float):
        etree.SubElement(parent, "r").text = _real(value)
    elif isinstance(value, str):
        etree.SubElement(parent, "s").text = xml_text(value)
    elif isinstance(value, list):
        items = etree.SubElement(parent, "l")
        for item in value:
            _xml_value(items, item)
    else:
        etree.SubElement(parent, "e").text = xml_text(str(value))


def render_xml(ads: Sequence[classad2.ClassAd]) -> str:
    """The ClassAd XML form condor_q/condor_status -xml print: an attribute a line."""
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE classads SYSTEM "classads.dtd">', "<classads>"]
    for ad in ads:
        lines.append("<c>")
        for key in ad:
            attribute = etree.Element("a", n=key)
            _xml_value(attribute, ad[key])
            lines.append("    " + etree.tostring(attribute, encoding="unicode"))
        lines.append("</c>")
    return "\n".join([*lines, "</classads>"]) + "\n"
