"""Find work for an entry group: query the requests, validate them, attach credentials, and
turn each into the decision's input with its downtime (steps 1-2 of ARCHITECTURE.md).

The validation of the ads is `requests.validate_requests` (pure); this module adds what
needs the Collector and the disk: the query and the credential files of security.md §4.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from glideinwms_factory.entry import auth_310, credentials
from glideinwms_factory.entry.config import EntryConfig, FactoryConfig
from glideinwms_factory.entry.credentials import SAFE_NAME
from glideinwms_factory.entry.decision import Request
from glideinwms_factory.entry.request_cycle import newest_per_name
from glideinwms_factory.entry.requests import (
    Rejection,
    WorkRequest,
    rejection,
    request_constraint,
    validate_requests,
)
from glideinwms_factory.lib import downtimes
from glideinwms_factory.lib.crypto import OaepPreference
from glideinwms_factory.lib.factory_key import FactoryKeys
from glideinwms_factory.lib.pool import Collector


def find_work(
    collector: Collector,
    factory: FactoryConfig,
    entries: Sequence[EntryConfig],
    keys: FactoryKeys,
    now: float,
    padding: OaepPreference | None = None,
) -> dict[str, list[WorkRequest | Rejection]]:
    """The requests of every entry of the group by entry name, each validated (a
    `WorkRequest` with its credentials on disk) or rejected with its reason."""
    key_ids = [keys.current.pub_key_id]
    old = keys.old_key_id(now)
    if old:
        key_ids.append(old)
    raw = collector.query(request_constraint(entries, key_ids))
    by_entry: dict[str, list[WorkRequest | Rejection]] = {entry.name: [] for entry in entries}
    by_req_name = {entry.ad_name: entry for entry in entries}
    chosen = newest_per_name(raw, keys.current.pub_key_id)
    kept = {id(ad) for ad in chosen}
    # Every ad the query returned is served or rejected with a reason, none dropped unsaid.
    for ad in raw:
        entry = by_req_name.get(str(ad.get("ReqGlidein", "")))
        if id(ad) not in kept and entry is not None:
            reason = "another request ad has the same Name"
            by_entry[entry.name].append(rejection(ad, reason, factory.frontends))
    targeted = []
    for ad in chosen:
        entry = by_req_name.get(str(ad.get("ReqGlidein", "")))
        if entry is not None:  # the query's stringListMember matches exact names only
            targeted.append((ad, entry))
    results = validate_requests(targeted, keys, factory.frontends, now, padding=padding)
    for (_, entry), result in zip(targeted, results, strict=True):
        if isinstance(result, WorkRequest):
            result = with_credentials(factory, entry, result)
        by_entry[entry.name].append(result)
    return by_entry


def with_credentials(
    factory: FactoryConfig, entry: EntryConfig, request: WorkRequest
) -> WorkRequest | Rejection:
    """Check 10 of security.md §4, and store the credentials that came with the request:
    3.10 tokens from its text values, 3.11 ones from its pickled credentials. A 3.10
    request for an entry whose auth method requires `scitoken` is rejected while no
    SciToken file of its client and entry exists, as upstream 3.10 skips it."""
    try:
        if request.credentials_311 is not None:
            paths, identity = credentials.store_311(
                credentials.credential_dir(
                    factory.client_proxies_dir, request.username, factory.glidein_name
                ),
                f"{request.client_name}_{request.credential_id}.{entry.name}",
                request.credentials_311,
            )
            return dataclasses.replace(request, credential_files=paths, identity_files=identity)
        tokens = _tokens_310(factory, entry, request)
        present = {key: str(path) for key, path in tokens.items() if path.is_file()}
        paths, problem, cred_id = _stored_310(factory, entry, request)
        method = entry.job.auth_method
        if not problem and auth_310.needs_scitoken(method) and "scitokens_file" not in present:
            problem = (
                f"auth method {method} needs a SciToken: none in this request "
                f"(frontend_scitoken) nor kept from an earlier one "
                f"({tokens['scitokens_file'].name})"
            )
        if problem:
            return Rejection(request.name, request.client_name, problem)
        paths.update(present)
        if cred_id != request.credential_id:
            request_key = request.demand.key._replace(credential_id=cred_id)
            request = dataclasses.replace(
                request,
                credential_id=cred_id,
                demand=dataclasses.replace(request.demand, key=request_key),
            )
    except (credentials.CredentialError, OSError) as err:
        return Rejection(request.name, request.client_name, f"credentials: {err}")
    identity = (paths["idtokens_file"],) if "idtokens_file" in paths else ()
    return dataclasses.replace(request, credential_files=paths, identity_files=identity)


def _client_file(factory: FactoryConfig, request: WorkRequest, cred_id: str) -> Path:
    """The file `credential_<ClientName>_<cred_id>` of the request's user and client."""
    return credentials.credential_path(
        factory.client_proxies_dir,
        request.username,
        factory.glidein_name,
        request.client_name,
        cred_id,
    )


def _tokens_310(
    factory: FactoryConfig, entry: EntryConfig, request: WorkRequest
) -> dict[str, Path]:
    """The files of a 3.10 request's entry IDTOKEN and SciToken by submit file name, as
    the upstream 3.10 factory keeps them (glideFactoryEntry.unit_work_v3): one per client
    and entry, rewritten from each token the request carries. The glidein is given each
    file that exists, so a token delivered in an earlier cycle serves the requests that
    come without it."""
    paths = {}
    for param, suffix, key in (
        (f"{entry.name}.idtoken", "idtoken", "idtokens_file"),
        ("frontend_scitoken", "scitoken", "scitokens_file"),
    ):
        path = _client_file(factory, request, f"{entry.name}.{suffix}")
        token = request.enc_params.get(param)
        if token:
            credentials.store(path, token.strip() + "\n")
        paths[key] = path
    return paths


def _stored_310(
    factory: FactoryConfig, entry: EntryConfig, request: WorkRequest
) -> tuple[dict[str, str], str, str]:
    """The credential files a 3.10 request refers to, as the upstream 3.10 factory looks
    them up (glideFactoryEntry.unit_work_v3): (submit files, why it cannot be served or
    "", its credential id).

    A grid entry submits with the `SubmitProxy`; when that proxy was never delivered, a
    request with `CONTINUE_IF_NO_PROXY` `True` goes on with its SciToken, counted by its
    `ScitokenId`. An entry of another credential type gives the glidein its
    `GlideinProxy` (a cloud entry may do without) and needs each file of its pair.
    """
    method = entry.job.auth_method
    enc = request.enc_params
    cred_id = request.credential_id

    def stored(name: str) -> Path:
        return _client_file(factory, request, enc[name])

    paths: dict[str, str] = {}
    if enc.get("SubmitProxy"):
        path = stored("SubmitProxy")
        if path.exists():
            paths["x509_proxy"] = str(path)
        elif auth_310.passthru(entry, request.params):
            token_id = enc.get("ScitokenId")
            if token_id and SAFE_NAME.fullmatch(token_id):
                cred_id = token_id
        elif auth_310.id_name(method) != "ScitokenId":  # a token entry does without it
            return paths, f"credential {enc['SubmitProxy']} not found", cred_id
    if auth_310.uses_glidein_proxy(method) and enc.get("GlideinProxy"):
        path = stored("GlideinProxy")
        if path.exists():
            paths["x509_proxy"] = str(path)
        elif (entry.grid_type.split() or [""])[0] not in auth_310.CLOUD_GRID_TYPES:
            return paths, f"credential {enc['GlideinProxy']} not found", cred_id
    for name in auth_310.credential_files(method):
        if enc.get(name) and not stored(name).exists():
            return paths, f"credential {enc[name]} ({name}) not found", cred_id
    return paths, "", cred_id


def down_reason(
    request: WorkRequest,
    entry: str,
    dts: Sequence[downtimes.Downtime],
    local_now: datetime,
) -> str | None:
    """Why this request is served at zero idle: the factory, this entry for this frontend,
    or the whitelist (other requests are not affected); None when it is not."""
    if request.demand.down:
        return "not on the entry's frontend whitelist"
    factory = downtimes.factory_down(dts, local_now)
    if factory is not None:
        return f"factory downtime{': ' + factory.comment if factory.comment else ''}"
    line = downtimes.request_down(
        dts, entry, request.security_name, request.security_class, local_now
    )
    if line is not None:
        return f"downtime of {line.entry} for {line.frontend}/{line.security_class}" + (
            f": {line.comment}" if line.comment else ""
        )
    return None


def decision_input(
    request: WorkRequest,
    entry: str,
    dts: Sequence[downtimes.Downtime],
    local_now: datetime,
) -> Request:
    """The request as the decision reads it, `down` when `down_reason` gives one."""
    down = down_reason(request, entry, dts, local_now) is not None
    return dataclasses.replace(request.demand, down=down)
