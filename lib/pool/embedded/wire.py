"""How ads travel in query answers: one compact new-syntax ClassAd per line.

New syntax escapes newlines inside strings, so an ad always fits on one line, and
`classad2.ClassAd(text)` parses it in C about four times faster than `parseOne` reads
old syntax (which it merges attribute by attribute in Python).
"""

from __future__ import annotations

import classad2

from glideinwms_factory.lib.classad import ClassAdSyntaxError, format_old

# Every text body of the protocol, ads and one-line answers alike.
CONTENT_TYPE = "text/plain; charset=utf-8"


def encode_ad(ad: classad2.ClassAd) -> str:
    """One ad as one line `[ A = 1; B = "x" ]`, ending in a newline."""
    return repr(ad) + "\n"


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


def decode_ads(text: str) -> list[classad2.ClassAd]:
    """Ads from an answer of our own daemon, one per line."""
    try:
        return [classad2.ClassAd(line) for line in text.split("\n") if line]
    except (classad2.ClassAdException, ValueError) as exc:
        raise ClassAdSyntaxError(f"unreadable ad in answer: {exc}") from exc


def project(ad: classad2.ClassAd, projection: tuple[str, ...]) -> classad2.ClassAd:
    """A new ad holding only the `projection` attributes `ad` has (expressions kept)."""
    result = classad2.ClassAd()
    for name in projection:
        if name in ad:
            result[name] = ad.lookup(name)
    return result
