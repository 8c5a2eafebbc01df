"""Requests of real upstream Frontends with names and values our simulator never makes.

Each case builds its input the way the upstream Frontend code builds it (named in the
test) and checks that our factory serves it as the upstream factory would, end to end
where the difference is on the wire (the pool's advertise path), else at validation.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

import classad2
import pytest
from test_interop_310 import (
    CLIENT,
    GLIDEIN,
    IDENTITY,
    IDTOKEN,
    KEY,
    NOW,
    PROXY,
    Frontend310,
    _deliver,
    _entry,
    _serve,
    _user_dir,
    global_ad,
    global_lines,
    request_ad,
    request_lines,
)
from test_protocol_311 import _v311

from glideinwms_factory import global_ads
from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.find_work import find_work
from glideinwms_factory.entry.requests import WorkRequest, validate_request
from glideinwms_factory.lib.classad import parse_old_many
from glideinwms_factory.lib.factory_key import FactoryKeys
from glideinwms_factory.lib.pool.embedded.auth import FACTORY_IDENTITY
from glideinwms_factory.lib.pool.embedded.collector import CollectorStore
from glideinwms_factory.lib.pool.embedded.inprocess import InProcessCollector


def _advertised_and_found(entry: EntryConfig, text: str, cred_id: str) -> WorkRequest:
    """`text` (a Frontend's `condor_advertise -multiple` file: global ad, then request)
    through our pool's advertise path; its proxy stored and its request found."""
    store = CollectorStore(clock=lambda: NOW)
    store.advertise(parse_old_many(text), "UPDATE_MASTER_AD", IDENTITY)
    collector = InProcessCollector(store, FACTORY_IDENTITY)
    factory = entry.factory
    stored = global_ads.store_global_credentials(
        collector.query('GlideinMyType == "glideclientglobal"'),
        KEY,
        factory.frontends,
        factory.client_proxies_dir,
        GLIDEIN,
        f"{GLIDEIN}@{entry.factory.glidein['FactoryName']}",
        logging.getLogger("test"),
    )
    assert [s.cred_id for s in stored] == [cred_id]
    [request] = find_work(collector, factory, [entry], FactoryKeys(KEY), NOW)[entry.name]
    assert isinstance(request, WorkRequest), request
    return request


def test_entry_idtoken_of_a_dashed_entry_name_reaches_the_factory(tmp_path: Path) -> None:
    """A 3.10 Frontend names the per-entry IDTOKEN `<EntryName>.idtoken` with the
    EntryName of our glidefactory ad (glideinFrontendElement, where it fills the values
    to encrypt), so an entry such as `OSG_US_FNAL-CMS_T1` puts a `-` and a `.` in an
    attribute name of its advertise file. HTCondor's old-syntax reader takes any name
    up to the `=`; our pool's advertise path must too, or the whole file (the
    glideclientglobal with the proxy included) is refused."""
    entry = _entry(tmp_path, "OSG_US_FNAL-CMS_T1", "grid_proxy")
    fe = Frontend310()
    enc = {"SubmitProxy": "QZ3XKMPA", f"{entry.name}.idtoken": IDTOKEN}
    # One `condor_advertise -multiple UPDATE_MASTER_AD` file: global ad, then request.
    blocks = [global_lines(fe, {"QZ3XKMPA": (PROXY, "pilot")}), request_lines(fe, entry.name, enc)]
    text = "\n".join("\n".join(lines) + "\n" for lines in blocks)
    assert f"GlideinEncParam{entry.name}.idtoken = " in text
    request = _advertised_and_found(entry, text, "QZ3XKMPA")
    token = _user_dir(entry, "vo_pilot") / f"credential_{CLIENT}_{entry.name}.idtoken"
    assert request.credential_files["idtokens_file"] == str(token)
    assert token.read_text() == IDTOKEN


@pytest.mark.parametrize(
    ("auth", "enc"),
    [
        ("grid_proxy", {"SubmitProxy": "QZ3XKMPA"}),
        ("cert_pair", {"GlideinProxy": "PILOT4HJ", "PublicCert": "PUB2", "PrivateCert": "PRV3"}),
    ],
)
def test_project_id_of_any_credential_is_no_extra_credential(
    tmp_path: Path, auth: str, enc: dict[str, str]
) -> None:
    """A Frontend credential configured with a `project_id` (or given one per job
    project by the ProxyProjectName plugin) sends it as the encrypted `ProjectId` to
    every entry, whatever that entry's auth method. The upstream 3.10 factory's check of
    the credentials a request may carry (check_security_credentials) does not count a
    project id among them, so it serves such a request on a grid_proxy or cert_pair entry."""
    entry = _entry(tmp_path, "OSG_ce", auth)
    fe = Frontend310()
    files = {cred_id: (PROXY, "pilot") for cred_id in enc.values()}
    _deliver(entry, global_ad(fe, files))
    request = _serve(entry, request_ad(fe, entry.name, {**enc, "ProjectId": "TG-PHY230012"}))
    assert isinstance(request, WorkRequest), request
    assert request.enc_params["ProjectId"] == "TG-PHY230012"


def _upstream_id(seed: str) -> str:
    """A 3.11 credential id as upstream makes it (credentials.Credential.id, util.hash_nc):
    base32 of the MD5 of the credential's subject, purpose, trust domain, class and type,
    cut to 8 characters."""
    return base64.b32encode(hashlib.md5(seed.encode()).digest()).decode()[:8]


@pytest.mark.parametrize(
    "seed",
    [
        "/DC=org/DC=cilogon/C=US/O=Fermilab/CN=pilotrequestpilotgridscitoken",
        "vofrontend@fnal.govcallbackOSGNoneidtoken",
        "cmspilotrequestNonegridx509_cert",
    ],
)
def test_every_upstream_3_11_credential_id_names_a_request(tmp_path: Path, seed: str) -> None:
    """The id opens the 3.11 request Name (`<id>_<ReqName>@<ClientName>`, written by
    glideinFrontendInterface's advertise-file code) and names the files we write."""
    ad, entry, keys = _v311(tmp_path)
    cred_id = _upstream_id(seed)
    ad = {**ad, "Name": f"{cred_id}_{ad['ReqName']}@{ad['ClientName']}"}
    result = validate_request(ad, entry, keys, entry.factory.frontends, NOW)
    assert isinstance(result, WorkRequest), result
    assert result.credential_id == cred_id == result.key.credential_id


@pytest.mark.parametrize(
    "value",
    ["page\x0cbreak", "Zürich\u2028Genève", "dos\rline", "nel\x85x", "fs\x1cx", "vt\x0bx"],
)
def test_a_glidein_param_holding_a_line_break_python_knows_reaches_the_factory(
    tmp_path: Path, value: str
) -> None:
    """A Frontend writes a string GlideinParam escaping only `"` and `\\n`
    (writeTypedClassadAttrToFile), so an operator's value may carry a form feed, a `\\r`
    or U+2028 raw. HTCondor's old-syntax reader ends a line at `\\n` only and keeps them
    in the string; our pool's advertise path must too, or the whole file (global ad
    with the proxy, and the request) is refused."""
    entry = _entry(tmp_path, "OSG_ce", "grid_proxy")
    fe = Frontend310()
    params = {"GLIDEIN_Site_Note": value}
    blocks = [
        global_lines(fe, {"QZ3XKMPA": (PROXY, "pilot")}),
        request_lines(fe, entry.name, {"SubmitProxy": "QZ3XKMPA"}, params=params),
    ]
    text = "\n".join("\n".join(lines) + "\n" for lines in blocks)
    read = [dict(ad).get("GlideinParamGLIDEIN_Site_Note") for ad in classad2.parseAds(text)]
    assert read == [None, value]  # what HTCondor's reader makes of the file
    request = _advertised_and_found(entry, text, "QZ3XKMPA")
    assert request.params["GLIDEIN_Site_Note"] == value
