"""What the simulated Frontend advertises: its request and credential ads, built purely.

The Frontend side of spec/classads.md §2, §4, §5 and spec/security.md §3: each factory's
public key comes only from its `glidefactoryglobal` ad; one `glideclient` request goes
out per requested entry (and a `glideclientglobal` credential ad per factory when given a
credential), encrypted as 3.10 frontends do. `frontend_sim` does the I/O.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.factory_key import load_public_key, pem_from_ad_value, pub_key_id

log = logging.getLogger("gwms-frontend-sim")

# No frontend staging area: values the factory accepts (check #11) and reads as "none".
NO_WEB = "None"


class SimError(Exception):
    """A problem to report in one line and exit non-zero."""


@dataclass(frozen=True)
class FactoryKeyInfo:
    """A factory instance's public key, from its `glidefactoryglobal` ad."""

    name: str  # <glidein>@<factory>
    key_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class FactoryEntry:
    """An entry to request glideins from, with the key of its factory."""

    name: str  # <entry>@<glidein>@<factory>: ReqName and ReqGlidein
    entry_name: str
    factory: FactoryKeyInfo
    proxy_param: str  # SubmitProxy for grid_proxy entries, else GlideinProxy


@dataclass(frozen=True)
class Credential:
    """A credential delivered through `glideclientglobal` and named in requests by its id."""

    cred_id: str
    content: str


@dataclass(frozen=True)
class CycleKey:
    """One factory key's symmetric key for this cycle, and its RSA-encrypted key code."""

    factory: FactoryKeyInfo
    sym_key: crypto.SymKey
    enc_key_code: str

    @classmethod
    def generate(cls, factory: FactoryKeyInfo, digest: crypto.OaepDigest) -> CycleKey:
        sym_key = crypto.SymKey.generate()
        return cls(factory, sym_key, crypto.encrypt_key_code(factory.public_key, sym_key, digest))

    def encrypt(self, identity: str, enc_params: Mapping[str, str]) -> dict[str, str]:
        return crypto.encrypt_request_fields(self.sym_key, self.enc_key_code, identity, enc_params)


@dataclass(frozen=True)
class RequestSpec:
    """What the simulated frontend group asks every targeted entry for."""

    identity: str
    frontend: str = "frontend"
    group: str = "main"
    idle: int = 0
    max_glideins: int = 0
    remove_excess: str = "NO"
    margin: int = 0
    idle_lifetime: int = 0
    security_name: str = "frontend"
    security_class: str = "frontend"
    params: Mapping[str, str] = field(default_factory=dict)
    credential: Credential | None = None
    idtoken: str | None = None
    web_url: str = NO_WEB
    oaep_digest: crypto.OaepDigest = "sha1"

    @property
    def client_name(self) -> str:
        return f"{self.frontend}.{self.group}"


def credential_id(seed: str | bytes) -> str:
    """An 8-character base32 id (`[A-Z2-7]{8}`) derived from a credential path or content."""
    data = seed.encode() if isinstance(seed, str) else seed
    return base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")[:8]


def factory_keys(global_ads: Iterable[Mapping[str, Any]]) -> dict[str, FactoryKeyInfo]:
    """Usable keys by global `Name`; ads with a bad key are skipped with a log line."""
    keys = {}
    for ad in global_ads:
        name = str(ad.get("Name", ""))
        value = ad.get("PubKeyValue")
        if ad.get("PubKeyType") != "RSA" or not isinstance(value, str):
            log.warning("glidefactoryglobal %r has no RSA key; ignored", name)
            continue
        pem = pem_from_ad_value(value)
        try:
            public_key = load_public_key(pem)
        except ValueError as exc:
            log.warning("glidefactoryglobal %r: %s; ignored", name, exc)
            continue
        keys[name] = FactoryKeyInfo(name, str(ad.get("PubKeyID") or pub_key_id(pem)), public_key)
    return keys


def find_targets(
    wanted: Sequence[str],
    entry_ads: Iterable[Mapping[str, Any]],
    keys: Mapping[str, FactoryKeyInfo],
) -> list[FactoryEntry]:
    """Pair each wanted entry (short or full name) with its factory's key (classads.md §4)."""
    candidates: dict[str, list[FactoryEntry]] = {}
    for ad in entry_ads:
        name = str(ad.get("Name", ""))
        factory = next((k for g, k in keys.items() if name.endswith("@" + g)), None)
        if factory is None:
            continue
        entry_name = str(ad.get("EntryName") or name.split("@", 1)[0])
        grid_proxy = str(ad.get("GlideinRequirex509_Proxy", "")).lower() == "true"
        target = FactoryEntry(
            name, entry_name, factory, "SubmitProxy" if grid_proxy else "GlideinProxy"
        )
        for alias in {name, entry_name}:
            candidates.setdefault(alias, []).append(target)
    targets = []
    for want in wanted:
        found = candidates.get(want, [])
        if not found:
            raise SimError(f"entry {want!r} not found (or its factory publishes no key)")
        if len(found) > 1:
            names = ", ".join(sorted(t.name for t in found))
            raise SimError(f"entry {want!r} is ambiguous: {names}; give the full name")
        targets.append(found[0])
    return targets


def _common(spec: RequestSpec, my_type: str) -> dict[str, Any]:
    return {
        "MyType": my_type,
        "GlideinMyType": my_type,
        "ClientName": spec.client_name,
        "FrontendName": spec.frontend,
        "GroupName": spec.group,
        "FrontendHAMode": "master",
    }


def _web(spec: RequestSpec) -> dict[str, str]:
    group_url = f"{spec.web_url}/group_{spec.group}" if spec.web_url != NO_WEB else NO_WEB
    return {
        "WebURL": spec.web_url,
        "WebSignType": "sha1",
        "WebDescriptFile": NO_WEB,
        "WebDescriptSign": NO_WEB,
        "WebGroupURL": group_url,
        "WebGroupDescriptFile": NO_WEB,
        "WebGroupDescriptSign": NO_WEB,
        "WebMonitoringURL": NO_WEB,
    }


def request_ad(
    spec: RequestSpec, target: FactoryEntry, key: CycleKey, default_params: Mapping[str, str]
) -> dict[str, Any]:
    """One `glideclient` ad (classads.md §2) for `target`, encrypted with `key`."""
    cred_key = spec.credential.cred_id if spec.credential else credential_id(spec.security_name)
    enc_params = {"SecurityName": spec.security_name, "SecurityClass": spec.security_class}
    if spec.credential is not None:
        enc_params[target.proxy_param] = spec.credential.cred_id
    if spec.idtoken is not None:
        enc_params[f"{target.entry_name}.idtoken"] = spec.idtoken
    ad = _common(spec, "glideclient")
    ad.update(
        {
            "Name": f"{cred_key}_{target.name}@{spec.client_name}",
            "ReqName": target.name,
            "ReqGlidein": target.name,
            "ReqIdleGlideins": spec.idle,
            "ReqMaxGlideins": spec.max_glideins,
            "ReqRemoveExcess": spec.remove_excess,
            "ReqRemoveExcessMargin": spec.margin,
            "ReqIdleLifetime": str(spec.idle_lifetime),
            "ReqPubKeyID": target.factory.key_id,
            **_web(spec),
            "GlideinMonitorIdle": spec.idle,
            "GlideinMonitorIdleAll": spec.idle,
            "GlideinMonitorRunning": 0,
            "GlideinMonitorRunningHere": 0,
            "GlideinMonitorGlideinsTotal": 0,
            "GlideinMonitorGlideinsIdle": 0,
            "GlideinMonitorGlideinsRunning": 0,
        }
    )
    for name, value in {**default_params, **spec.params}.items():
        ad["GlideinParam" + name] = value
    ad.update(key.encrypt(spec.identity, enc_params))
    return ad


def global_ad(spec: RequestSpec, key: CycleKey) -> dict[str, Any]:
    """The `glideclientglobal` ad (classads.md §5) carrying the credential to one factory."""
    credential = spec.credential
    if credential is None:
        raise ValueError("a glideclientglobal ad needs a credential")
    ad = _common(spec, "glideclientglobal")
    ad["Name"] = f"{key.factory.name}@{spec.client_name}"
    ad["ReqPubKeyID"] = key.factory.key_id
    enc_params = {
        "SecurityName": spec.security_name,
        "NumberOfCredentials": "1",
        credential.cred_id: credential.content,
        "SecurityClass" + credential.cred_id: spec.security_class,
    }
    ad.update(key.encrypt(spec.identity, enc_params))
    return ad


def build_cycle_ads(
    spec: RequestSpec, targets: Sequence[FactoryEntry], default_params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """This cycle's request and global ads: one fresh key+IV per factory key, as frontends do."""
    keys: dict[str, CycleKey] = {}
    requests = []
    for target in targets:
        key_id = target.factory.key_id
        if key_id not in keys:
            keys[key_id] = CycleKey.generate(target.factory, spec.oaep_digest)
        requests.append(request_ad(spec, target, keys[key_id], default_params))
    if spec.credential is None:
        return requests, []
    return requests, [global_ad(spec, key) for key in keys.values()]


def invalidation_constraints(spec: RequestSpec) -> list[str]:
    """What `stop` drops: this client's request and global ads (classads.md §6)."""
    return [
        f'(ClientName == "{spec.client_name}") && (GlideinMyType == "{my_type}")'
        ' && (FrontendHAMode == "master")'
        for my_type in ("glideclient", "glideclientglobal")
    ]
