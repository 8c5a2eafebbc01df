"""The factory daemon's own ads: `glidefactoryglobal` out, `glideclientglobal` in.

Frontends take the factory key only from the global ad (classads.md §4), and deliver
credentials through their global ads (§5), which the factory decrypts, checks against
frontend.descript and stores 0600 for the entries (security.md §5-§6).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import classad2

from glideinwms_factory.entry import credentials
from glideinwms_factory.lib import crypto
from glideinwms_factory.lib.classad import VERSION
from glideinwms_factory.lib.descript import FrontendInfo
from glideinwms_factory.lib.factory_key import FactoryKey

GLOBAL_QUERY = '(GlideinMyType=?="glideclientglobal")'
_CLASS_PREFIX = "SecurityClass"


def factory_global_ad(
    factory_name: str,
    glidein_name: str,
    key: FactoryKey,
    *,
    start_time: int,
    sequence: int,
    sign_types: str,
    problems: Sequence[str] = (),
) -> classad2.ClassAd:
    """The factory's global ad; `FactoryProblems` says what is wrong with it now ("")."""
    ad = classad2.ClassAd()
    attrs: dict[str, object] = {
        "MyType": "glidefactoryglobal",
        "GlideinMyType": "glidefactoryglobal",
        "Name": f"{glidein_name}@{factory_name}",
        "FactoryName": factory_name,
        "GlideinName": glidein_name,
        "SupportedSignTypes": sign_types,
        "DaemonStartTime": start_time,
        "UpdateSequenceNumber": sequence,
        "GlideinWMSVersion": VERSION,
        "FactoryProblems": "; ".join(problems),
        **key.ad_attributes(),
    }
    for name, value in attrs.items():
        ad[name] = value
    return ad


def global_invalidations(factory_name: str, glidein_name: str) -> list[tuple[str, str]]:
    """(command, constraint) pairs dropping every ad of this factory (classads.md §6)."""
    f, g = classad2.quote(factory_name), classad2.quote(glidein_name)
    name = classad2.quote(f"{glidein_name}@{factory_name}")
    return [
        ("INVALIDATE_ADS_GENERIC", f"(FactoryName =?= {f})&&(GlideinName =?= {g})"),
        (
            "INVALIDATE_LICENSE_ADS",
            f"(ReqFactoryName=?={f})&&(ReqGlideinName=?={g})"
            f'&&(GlideinMyType == "glidefactoryclient")',
        ),
        (
            "INVALIDATE_ADS_GENERIC",
            f'(Name == {name})&&(GlideinMyType == "glidefactoryglobal")',
        ),
    ]


@dataclass(frozen=True)
class StoredCredential:
    client_name: str
    cred_id: str
    path: Path
    changed: bool


def store_global_credentials(
    ads: Iterable[Mapping[str, Any]],
    key: FactoryKey,
    frontends: Mapping[str, FrontendInfo],
    base: Path,
    glidein_name: str,
    global_name: str,
    log: logging.Logger,
) -> list[StoredCredential]:
    """Decrypt the `glideclientglobal` ads addressed to us and store their credentials.

    An ad that fails any check is refused whole, with a logged reason; the others go on.
    """
    stored: list[StoredCredential] = []
    for ad in ads:
        name = str(ad.get("Name", "?"))
        if not name.startswith(global_name + "@"):
            continue
        if ad.get("ReqPubKeyID") != key.pub_key_id:
            log.warning("credential ad %s uses another factory key: skipped", name)
            continue
        try:
            stored += _store_one(ad, key, frontends, base, glidein_name)
        except (crypto.DecryptError, credentials.CredentialError, ValueError, OSError) as err:
            log.warning("credential ad %s refused: %s", name, err)
    return stored


def _store_one(
    ad: Mapping[str, Any],
    key: FactoryKey,
    frontends: Mapping[str, FrontendInfo],
    base: Path,
    glidein_name: str,
) -> list[StoredCredential]:
    decoded = crypto.decrypt_request(key.private_key, ad)
    authenticated = ad.get("AuthenticatedIdentity")
    if decoded.identity != authenticated:
        raise ValueError(f"identity {decoded.identity!r:.60} is not the authenticated one")
    security_name = decoded.enc_params.get("SecurityName", "")
    frontend = frontends.get(security_name)
    if frontend is None or frontend.ident != authenticated:
        raise ValueError(f"frontend {security_name!r:.60} is not configured for {authenticated}")
    client_name = str(ad.get("ClientName", ""))
    stored = []
    for name, security_class in decoded.enc_params.items():
        if not name.startswith(_CLASS_PREFIX) or name == _CLASS_PREFIX:
            continue
        cred_id = name[len(_CLASS_PREFIX) :]
        content = decoded.enc_params.get(cred_id)
        username = frontend.usermap.get(security_class)
        if content is None or not username:
            continue  # no username for that class: skip that credential (security.md §5)
        path = credentials.credential_path(base, username, glidein_name, client_name, cred_id)
        stored.append(
            StoredCredential(client_name, cred_id, path, credentials.store(path, content))
        )
    return stored
