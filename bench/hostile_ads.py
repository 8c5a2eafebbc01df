"""Crafted request ads for the hostile-ad run (issue #17), and how their fate is counted.

Every ad starts as what a real Frontend sends (`tools/frontend_ads.request_ad`, encrypted
for the factory's key with the sender's identity), asks for 0 glideins, and is then made
hostile one way: malformed counts, wrong types, overlong or shell-laden names, huge or
deep values, pickles where text belongs, bad key codes, spoofed identities, duplicate
Names, GLIDEIN_MULTIGLIDEIN, forged factory ads, writes over another's ad. Each one is
either refused by the pool (an error answer and a pool.log line), rejected by the entry
(a `request NAME skipped: REASON` line, counted in monitoring), or served (it shows in
the decision trace); anything else was dropped without a reason.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import classad2
from factory_testlib import frontend_spec

from glideinwms_factory.entry import decision_trace
from glideinwms_factory.lib import credential_objects as co
from glideinwms_factory.lib.factory_key import FactoryKey, load_public_key
from glideinwms_factory.lib.pool import PoolError
from glideinwms_factory.lib.pool.embedded.wire import encode_for_advertise
from glideinwms_factory.tools.frontend_ads import (
    CycleKey,
    FactoryEntry,
    FactoryKeyInfo,
    request_ad,
)
from glideinwms_factory.tools.frontend_sim import REQUEST_COMMAND

FACTORY, GLIDEIN = "testfactory", "gtest"  # the names factory_testlib.config_xml uses
# A pickle whose loading would import and call a function (safe_pickle refuses it).
EVIL_PICKLE = b"\x80\x04cos\nsystem\n\x8c\x04true\x85R."
ROUND_ATTR = "HostileRound"  # on every hostile ad, so that a round can be invalidated
SKIPPED = re.compile(r" request (\S+) skipped: (.*)$")
REFUSED_WRITE = re.compile(r"refused (?:POST /v1/collector/advertise|ad write)")


@dataclass(frozen=True)
class Hostile:
    """One crafted ad: `text` is the old-syntax body sent as is (some could not even be
    built as a ClassAd here without risk); `pool_refuses` when the pool must say no."""

    kind: str
    sender: str  # the identity whose token sends it
    name: str
    text: str
    pool_refuses: bool = False


@dataclass
class Sender:
    """Builds the base request of one identity for one entry of the factory."""

    identity: str
    key: FactoryKey
    entry: str

    @property
    def target(self) -> FactoryEntry:
        info = FactoryKeyInfo(
            f"{GLIDEIN}@{FACTORY}", self.key.pub_key_id, load_public_key(self.key.pub_key_pem)
        )
        return FactoryEntry(
            f"{self.entry}@{GLIDEIN}@{FACTORY}", self.entry, info, "GlideinProxy", "scitoken"
        )

    def request(
        self, name: str, rnd: int, claimed: str | None = None, **spec: Any
    ) -> dict[str, Any]:
        """A well-formed request for 0 glideins named `name` (`claimed`: the identity
        encrypted into it, the sender's by default)."""
        values = {"security_name": "vofrontend", "security_class": "frontend", "group": "hostile"}
        values.update(spec)
        request = frontend_spec(identity=claimed or self.identity, **values)
        target = self.target
        ad = request_ad(request, target, CycleKey.generate(target.factory, "sha1"), {})
        return {**ad, "Name": name, ROUND_ATTR: rnd}


def _text(ad: Mapping[str, Any]) -> str:
    return encode_for_advertise(classad2.ClassAd(dict(ad)))


def _reencrypted(sender: Sender, name: str, rnd: int, **enc: str | bytes) -> dict[str, Any]:
    """A request whose encrypted parameters are replaced by `enc`."""
    ad = sender.request(name, rnd)
    key = CycleKey.generate(sender.target.factory, "sha1")
    fields = key.encrypt(sender.identity, {"SecurityName": "vofrontend", **enc})
    return {k: v for k, v in ad.items() if not k.startswith("GlideinEncParam")} | fields


def _expr(text: str) -> classad2.ExprTree:
    return classad2.ExprTree(text)


Build = Callable[[Sender, str, int], list[Hostile]]


def _one(change: Callable[[dict[str, Any]], None]) -> Build:
    """A kind that changes one base request in place."""

    def build(sender: Sender, name: str, rnd: int) -> list[Hostile]:
        ad = sender.request(name, rnd)
        change(ad)
        return [Hostile("", sender.identity, ad["Name"], _text(ad))]

    return build


def _appended(lines: str) -> Build:
    """A base request with raw old-syntax lines added: what the pool must refuse."""

    def build(sender: Sender, name: str, rnd: int) -> list[Hostile]:
        text = _text(sender.request(name, rnd)) + lines
        return [Hostile("", sender.identity, name, text, pool_refuses=True)]

    return build


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda ad: ad.update(values)


def _drop(*names: str) -> Callable[[dict[str, Any]], None]:
    def change(ad: dict[str, Any]) -> None:
        for attr in names:
            ad.pop(attr, None)

    return change


def _enc(**enc: str | bytes) -> Build:
    def build(sender: Sender, name: str, rnd: int) -> list[Hostile]:
        return [Hostile("", sender.identity, name, _text(_reencrypted(sender, name, rnd, **enc)))]

    return build


def _claims(sender: Sender, name: str, rnd: int) -> list[Hostile]:
    """Encrypted as from the configured Frontend (or, when it sends, from the factory)."""
    claimed = "frontend@example.org"
    if sender.identity == claimed:
        claimed = "gfactory@localhost"
    return [Hostile("", sender.identity, name, _text(sender.request(name, rnd, claimed)))]


def _spec(**spec: Any) -> Build:
    def build(sender: Sender, name: str, rnd: int) -> list[Hostile]:
        return [Hostile("", sender.identity, name, _text(sender.request(name, rnd, **spec)))]

    return build


def _duplicate(sender: Sender, name: str, rnd: int) -> list[Hostile]:
    """Two request ads with one Name (their MyTypes differ, so the pool keeps both)."""
    first = {**sender.request(name, rnd), "ReqIdleGlideins": _expr("undefined")}
    second = {**sender.request(name, rnd), "MyType": "glideclientcopy", "ReqIdleGlideins": -1}
    return [Hostile("", sender.identity, name, _text(ad)) for ad in (first, second)]


def _forged(my_type: str) -> Build:
    def build(sender: Sender, name: str, rnd: int) -> list[Hostile]:
        ad = {
            "MyType": my_type,
            "GlideinMyType": my_type,
            "Name": f"{sender.entry}@{GLIDEIN}@{FACTORY}" if my_type == "glidefactory" else name,
            "PubKeyType": "RSA",
            "PubKeyValue": "forged",
            ROUND_ATTR: rnd,
        }
        return [Hostile("", sender.identity, name, _text(ad), pool_refuses=True)]

    return build


CHAIN = "GlideinMonitorChain = " + " || ".join(["a"] * 20000) + "\n"
DEEP = "GlideinMonitorDeep = " + "(" * 300 + "1" + ")" * 300 + "\n"
MANY = "".join(f"GlideinMonitorX{i} = {i}\n" for i in range(3000))
LONG_EXPR = "1" + " + 1" * 4000  # 4,000 operators: under the pool's bound, still no count
SUBMIT_REFUSAL = {"GlideinParamGLIDEIN_MULTIGLIDEIN": "2", "ReqIdleGlideins": 1}

KINDS: dict[str, Build] = {
    "undefined ReqIdleGlideins": _one(_set(ReqIdleGlideins=_expr("undefined"))),
    "error ReqMaxGlideins": _one(_set(ReqMaxGlideins=_expr("error"))),
    "string ReqIdleGlideins": _one(_set(ReqIdleGlideins="lots")),
    "boolean ReqMaxGlideins": _one(_set(ReqMaxGlideins=True)),
    "negative ReqMaxGlideins": _one(_set(ReqMaxGlideins=-5)),
    "huge ReqIdleGlideins": _one(_set(ReqIdleGlideins=10**15)),
    "fractional ReqIdleGlideins": _one(_set(ReqIdleGlideins=2.5)),
    "expression ReqIdleGlideins": _one(_set(ReqIdleGlideins=_expr(LONG_EXPR))),
    "missing ReqIdleGlideins": _one(_drop("ReqIdleGlideins")),
    "300-char ClientName": _one(_set(ClientName="c" * 300)),
    "ClientName with shell characters": _one(_set(ClientName="fe;$(touch /tmp/pwned)`id`")),
    "Name with path characters": _one(lambda ad: ad.update(Name=ad["Name"] + "/../../etc")),
    "512 KB attribute": _one(_set(GlideinMonitorBlob="x" * 512 * 1024)),
    "256 KB GlideinParam": _one(_set(GlideinParamBlob="y" * 256 * 1024)),
    "20k-term expression": _appended(CHAIN),
    "300-deep expression": _appended(DEEP),
    "3,000 attributes": _appended(MANY),
    "pickle where text belongs": _enc(SecurityClass=co.dumps_credentials([])),
    "hostile pickle": _enc(
        AuthSet=co.dumps_auth_set(co.AuthSet(frozenset({co.CredentialType.SCITOKEN}))),
        RequestCredentials=EVIL_PICKLE,
    ),
    "garbage ReqEncKeyCode": _one(_set(ReqEncKeyCode="00ff" * 128)),
    "no key (ReqPubKeyID undefined)": _one(_drop("ReqPubKeyID", "ReqEncKeyCode")),
    "claims another identity": _claims,
    "well-formed request": _spec(),
    "unknown SecurityName": _spec(security_name="nobody"),
    "GLIDEIN_MULTIGLIDEIN": _one(_set(**SUBMIT_REFUSAL)),
    "duplicate Name": _duplicate,
    "forged glidefactory ad": _forged("glidefactory"),
    "forged glidefactoryglobal ad": _forged("glidefactoryglobal"),
}
# What a configured Frontend may legitimately get served: a big monitoring value or
# parameter is data, escaped where it goes. A 300-char ClientName is rejected with its
# reason: the SciToken its request brings for this scitoken entry cannot be kept in a file
# named for its client (credentials.MAX_NAME_BYTES), and upstream 3.10 skips it alike.
MAY_BE_SERVED = frozenset({"well-formed request", "512 KB attribute", "256 KB GlideinParam"})
OVERWRITE = "write over the Frontend's request"


def round_of(
    senders: Iterable[Sender], rnd: int, copies: int, victim: Mapping[str, Any] | None = None
) -> list[Hostile]:
    """`copies` ads of every kind from every sender, named `h<round>x<who>x<kind>x<copy>...`;
    with a `victim` (the good Frontend's request ad) every other sender also tries to
    replace it, asking for many glideins."""
    ads = []
    for sender in senders:
        who = sender.identity.split("@")[0]
        if victim is not None and sender.identity != victim["AuthenticatedIdentity"]:
            forged = {k: v for k, v in victim.items() if k != "AuthenticatedIdentity"}
            forged |= {"ReqIdleGlideins": 100, "ReqMaxGlideins": 100, ROUND_ATTR: rnd}
            ads.append(Hostile(OVERWRITE, sender.identity, victim["Name"], _text(forged), True))
        for number, (kind, build) in enumerate(KINDS.items()):
            for copy in range(copies):
                name = f"h{rnd}x{who}x{number}x{copy}_{sender.entry}@{GLIDEIN}@{FACTORY}@x"
                ads.extend(
                    Hostile(kind, h.sender, h.name, h.text, h.pool_refuses)
                    for h in build(sender, name, rnd)
                )
    return ads


@dataclass
class Tally:
    """The fate of every hostile ad sent, by kind."""

    sent: Counter[str] = field(default_factory=Counter)
    refused_by_pool: Counter[str] = field(default_factory=Counter)
    accepted_when_refusal_expected: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    served_unexpectedly: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def send(self, posters: Mapping[str, Poster], hostiles: Iterable[Hostile]) -> list[Hostile]:
        """Post each ad with its sender's token; the ones the pool took."""
        reached = []
        for hostile in hostiles:
            self.sent[hostile.kind] += 1
            try:
                posters[hostile.sender].post(hostile.text)
            except PoolError:
                self.refused_by_pool[hostile.kind] += 1
                continue
            if hostile.pool_refuses:
                self.accepted_when_refusal_expected[hostile.kind] += 1
            reached.append(hostile)
        return reached

    def settle(
        self,
        reached: list[Hostile],
        skipped: Mapping[str, set[str]],
        served: set[str],
        frontend: str,
    ) -> None:
        """Account the ads that reached the entry: `skipped` maps a logged name prefix
        (log lines hold the first 100 characters) to its reasons, `served` the names in
        the decision trace."""
        by_name: dict[str, list[Hostile]] = {}
        for hostile in reached:
            by_name.setdefault(hostile.name, []).append(hostile)
        for name, group in by_name.items():
            kind = group[0].kind
            reasons = skipped.get(name[:100], set())
            was_served = name in served
            accounted = len(reasons) + was_served
            for reason in reasons:
                self.reasons[reason.split(":")[0][:60]] += 1
            self.rejected[kind] += min(len(reasons), len(group))
            if was_served:
                self.served[kind] += 1
                if kind not in MAY_BE_SERVED or group[0].sender != frontend:
                    self.served_unexpectedly[kind] += 1
            if accounted < len(group):
                self.dropped[kind] += len(group) - accounted


class Poster:
    """Sends raw old-syntax ad text with one identity's token, as condor_advertise does
    (some hostile ads must never be parsed here); a refusal is a PoolError."""

    def __init__(self, address: str, token: str) -> None:
        self.address, self.token = address, token
        self.path = "/v1/collector/advertise?" + urllib.parse.urlencode(
            {"command": REQUEST_COMMAND}
        )

    def post(self, text: str) -> None:
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            connection.request("POST", self.path, text.encode(), headers)
            answer = connection.getresponse()
            body = answer.read().decode(errors="replace").strip()
        except OSError as exc:  # a refusal may close the connection mid-body
            raise PoolError(f"connection: {exc}") from None
        finally:
            connection.close()
        if answer.status != 200:
            raise PoolError(f"{answer.status} {body[:120]}")


class LogReader:
    """New lines of the entry's info logs since the last call."""

    def __init__(self, root: Path) -> None:
        self.root, self.offsets = root, dict[Path, int]()

    def new_lines(self) -> list[str]:
        lines = []
        for path in sorted(self.root.glob("log/entry_*/entry_*_info.*.log")):
            with path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(self.offsets.get(path, 0))
                text = handle.read()
                self.offsets[path] = handle.tell()
            lines.extend(text.splitlines())
        return lines


def skipped_in(lines: Iterable[str]) -> dict[str, set[str]]:
    """Logged name (first 100 characters) -> its reasons, from entry log lines."""
    found: dict[str, set[str]] = {}
    for line in lines:
        match = SKIPPED.search(line)
        if match:
            found.setdefault(match[1], set()).add(match[2])
    return found


def served_in(trace: Path) -> set[str]:
    """The request names the entry served in the cycles its decision trace holds."""
    return {
        str(record["request"]["name"])
        for cycle in decision_trace.read(trace)
        for record in cycle.get("requests", [])
        if record.get("rejected") is None
    }
