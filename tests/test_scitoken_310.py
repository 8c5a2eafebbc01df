"""3.10 requests to SciToken entries, as the upstream 3.10 factory serves them
(`glideFactoryEntry.unit_work_v3`): the tokens a request carries are written to one file
per client and entry, each file that exists is used (a token of an earlier cycle serves
a request that comes without one), and an entry whose auth method requires `scitoken`
skips a request while no SciToken file exists.

The ads are the upstream 3.10 Frontend's layout of `test_interop_310`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_interop_310 import (
    CLIENT,
    IDTOKEN,
    PROXY,
    SCITOKEN,
    Frontend310,
    _deliver,
    _entry,
    _serve,
    _submit_env,
    _user_dir,
    global_ad,
    request_ad,
)

from glideinwms_factory.entry.config import EntryConfig
from glideinwms_factory.entry.requests import Rejection, WorkRequest

TOKEN_ID = "M4TOKEN2"  # the Frontend's SciToken credential id (ScitokenId)


def _token_file(entry: EntryConfig, kind: str = "scitoken") -> Path:
    return _user_dir(entry, "vo_pilot") / f"credential_{CLIENT}_{entry.name}.{kind}"


def _ask(entry: EntryConfig, **enc: str) -> WorkRequest | Rejection:
    """A 3.10 request for `entry` counted by the SciToken id, with `enc` besides."""
    return _serve(entry, request_ad(Frontend310(), entry.name, {"ScitokenId": TOKEN_ID, **enc}))


def test_the_scitoken_of_this_request_goes_to_the_glidein(tmp_path: Path) -> None:
    entry = _entry(tmp_path, "CE_token", "scitoken")
    request = _ask(entry, frontend_scitoken=SCITOKEN)
    assert isinstance(request, WorkRequest), request
    assert _submit_env(entry, request)["SCITOKENS_FILE"] == str(_token_file(entry))
    assert _token_file(entry).read_text() == SCITOKEN + "\n"


def test_the_tokens_of_an_earlier_cycle_serve_a_request_without_them(tmp_path: Path) -> None:
    """A Frontend does not forward a token it finds expired; the factory goes on with
    the files it kept, the SciToken and the entry IDTOKEN alike; a new token replaces
    the kept one."""
    entry = _entry(tmp_path, "CE_token", "scitoken")
    first = _ask(entry, frontend_scitoken=SCITOKEN, **{f"{entry.name}.idtoken": IDTOKEN})
    assert isinstance(first, WorkRequest), first
    later = _ask(entry)
    assert isinstance(later, WorkRequest), later
    assert later.credential_files == first.credential_files
    assert later.identity_files == (str(_token_file(entry, "idtoken")),)
    env = _submit_env(entry, later)
    assert Path(env["SCITOKENS_FILE"]).read_text() == SCITOKEN + "\n"
    assert Path(env["IDTOKENS_FILE"]).read_text() == IDTOKEN
    renewed = _ask(entry, frontend_scitoken="eyJ.renewed.tok")
    assert isinstance(renewed, WorkRequest), renewed
    assert _token_file(entry).read_text() == "eyJ.renewed.tok\n"


@pytest.mark.parametrize(
    ("auth", "enc"),
    [
        ("scitoken", {}),
        ("scitoken;project_id", {"ProjectId": "TG-PHY123"}),
        ("scitoken+project_id", {"ProjectId": "TG-PHY123"}),
    ],
)
def test_no_scitoken_ever_is_skipped_with_the_reason(
    tmp_path: Path, auth: str, enc: dict[str, str]
) -> None:
    entry = _entry(tmp_path, "CE_token", auth)
    refused = _ask(entry, **{f"{entry.name}.idtoken": IDTOKEN, **enc})
    assert isinstance(refused, Rejection), refused
    assert refused.reason == (
        f"auth method {auth} needs a SciToken: none in this request (frontend_scitoken) "
        f"nor kept from an earlier one (credential_{CLIENT}_CE_token.scitoken)"
    )
    assert not _token_file(entry).exists()


def test_a_scitoken_kept_for_another_entry_does_not_count(tmp_path: Path) -> None:
    """The file is the client's for one entry: another entry's token does not serve."""
    served = _entry(tmp_path, "CE_a", "scitoken")
    assert isinstance(_ask(served, frontend_scitoken=SCITOKEN), WorkRequest)
    other = _entry(tmp_path, "CE_b", "scitoken")
    refused = _ask(other)
    assert isinstance(refused, Rejection) and "needs a SciToken" in refused.reason


@pytest.mark.parametrize("auth", ["scitoken,grid_proxy", "grid_proxy,scitoken"])
def test_an_entry_taking_a_proxy_instead_does_not_require_a_scitoken(
    tmp_path: Path, auth: str
) -> None:
    entry = _entry(tmp_path, "CE_either", auth)
    fe = Frontend310()
    _deliver(entry, global_ad(fe, {"QZ3XKMPA": (PROXY, "pilot")}))
    request = _serve(entry, request_ad(fe, entry.name, {"SubmitProxy": "QZ3XKMPA"}))
    assert isinstance(request, WorkRequest), request
    assert "scitokens_file" not in request.credential_files
    assert Path(request.credential_files["x509_proxy"]).read_text() == PROXY


def test_an_idtoken_alternative_does_not_require_a_scitoken(tmp_path: Path) -> None:
    entry = _entry(tmp_path, "CE_either", "scitoken,idtoken")
    request = _ask(entry, **{f"{entry.name}.idtoken": IDTOKEN})
    assert isinstance(request, WorkRequest), request
    assert set(request.credential_files) == {"idtokens_file"}
