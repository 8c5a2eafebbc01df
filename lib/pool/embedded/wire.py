"""How ads travel in query answers: old-syntax blocks, new syntax only where old cannot.

Old syntax is the fastest form `classad2` parses, but it cannot carry a string with a
real newline in it; such an ad (rare: spec rule is to write `\\n`) travels as one
new-syntax `[ ... ]` block instead. Blocks are separated by one empty line.
"""

from __future__ import annotations

import classad2

from glideinwms_factory.lib.classad import ClassAdSyntaxError, format_old

CONTENT_TYPE = "text/plain; charset=utf-8"


def encode_ad(ad: classad2.ClassAd) -> str:
    """One block, ending in a newline; old syntax whenever it is one line per attribute."""
    text = format_old(ad)
    if text.count("\n") == len(ad):
        return text
    return " ".join(line.strip() for line in str(ad).splitlines()) + "\n"


def encode_for_advertise(ad: classad2.ClassAd) -> str:
    """Old syntax as condor_advertise reads it: a newline in a string becomes `\\n`.

    This is the spec's writing rule (classads.md §0); old syntax has no other way.
    """
    text = format_old(ad)
    if text.count("\n") == len(ad):
        return text
    escaped = classad2.ClassAd()
    for name, value in ad.items():
        escaped[name] = value.replace("\n", "\\n") if isinstance(value, str) else value
    return format_old(escaped)


def join_blocks(blocks: list[str]) -> str:
    """Blocks (each ending in a newline) separated by one empty line."""
    return "\n".join(blocks)


def decode_ads(text: str) -> list[classad2.ClassAd]:
    """Ads from a trusted answer (our own daemon's); no per-line validation needed."""
    ads = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        parser = (
            classad2.ParserType.New if block.lstrip().startswith("[") else classad2.ParserType.Old
        )
        try:
            ads.append(classad2.parseOne(block, parser))
        except (classad2.ClassAdException, ValueError) as exc:
            raise ClassAdSyntaxError(f"unreadable ad in answer: {exc}") from exc
    return ads


def project(ad: classad2.ClassAd, projection: tuple[str, ...]) -> classad2.ClassAd:
    """A new ad holding only the `projection` attributes `ad` has (expressions kept)."""
    result = classad2.ClassAd()
    for name in projection:
        if name in ad:
            result[name] = ad.lookup(name)
    return result
