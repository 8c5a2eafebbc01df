"""glidein_startup.sh run for real with bash against a staging area on a loopback HTTP server."""

from __future__ import annotations

import base64
import gzip
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from staging_fixture import (
    Attr,
    ClientArea,
    CountingProxy,
    RecordingCollector,
    Staging,
    build_client_staging,
    build_staging,
    condor_tarball,
    glidein_argv,
    glidein_env,
    http_server,
    run_glidein,
)

from glideinwms_factory.entry.glidein_args import ClientStaging
from glideinwms_factory.lib.classad import parse_old

ENTRY = "TEST_ENTRY"
WEB_BASE = Path(__file__).resolve().parent.parent / "web_base"
# Output lines that show, in order, what the glidein verified and ran.
N_SIGNED = 31  # signed files creation stages for the entry (sha1 chain), each tampered with below
TRACE = re.compile(r"^(Verified \S+ file \S+|=== Executing \S+ ===|=== Last script starting)", re.M)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Staging, str]]:
    staging = build_staging(
        tmp_path_factory.mktemp("staging"),
        ENTRY,
        main_consts={"GLIDEIN_Site": "Test_Site", "MAIN_ONLY": "m"},
        entry_consts={"ENTRY_CONST": "e v"},
    )
    with http_server(staging.stage_dir) as url:
        yield staging, url


@pytest.fixture
def collector() -> Iterator[RecordingCollector]:
    server = RecordingCollector()
    yield server
    server.close()


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    server = CountingProxy()
    yield server
    server.close()


def standin_params(collector: RecordingCollector, **extra: str) -> dict[str, str]:
    return {
        "GLIDEIN_Collector": collector.address,
        "GLIDEIN_Standin_Lifetime": "2",
        "GLIDEIN_Standin_Update_Interval": "1",
        **extra,
    }


def trace(stdout: str) -> list[str]:
    return TRACE.findall(stdout)


def decode_block(text: str, header: str) -> str:
    """The gzip+base64 payload that follows `header` in a glidein's stderr."""
    after = text.split(header + "\n", 1)[1]
    data = after.split("begin-base64 644 -\n", 1)[1].split("\n====\n", 1)[0]
    return gzip.decompress(base64.b64decode(data)).decode()


def assert_failed_in(result: subprocess.CompletedProcess[str], script: str) -> None:
    """Exit 1, and the summary XML on stdout names the script that failed."""
    assert result.returncode == 1, result.stderr
    short_xml = result.stdout.split("=== XML description of glidein activity ===")[1]
    assert "<status>ERROR</status>" in short_xml
    assert re.search(rf'<metric name="TestID"[^>]*>{re.escape(script)}</metric>', short_xml)


def test_clean_run_validates_advertises_and_ends_after_its_lifetime(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    token_file = tmp_path / "idtoken"
    token_file.write_text("# a comment line\neyJ.token-from-file\n")
    # 4 s at one update a second: several updates even on a loaded machine.
    params = standin_params(
        collector,
        GLIDEIN_Standin_Lifetime="4",
        GLIDEIN_DEBUG_OPTIONS="nocleanup",
        ODD_VALUE='a b.c,"d"$(x)\\y',
    )
    argv = glidein_argv(staging, url, tmp_path, **params)
    started = time.monotonic()
    result = run_glidein(argv, env=glidein_env(IDTOKENS_FILE=str(token_file)))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 3  # it lived its lifetime (whole seconds)
    assert re.search(r"^=== Glidein ending .* with code 0 after \d+ ===$", result.stdout, re.M)
    assert "=== Executing entry/check_blacklist.sh ===" in result.stdout

    adverts = [r for r in collector.requests if "advertise?command=UPDATE_STARTD_AD" in r.path]
    assert len(adverts) >= 2  # kept fresh
    assert {r.authorization for r in collector.requests} == {"Bearer eyJ.token-from-file"}
    ad = parse_old(adverts[-1].body)
    assert ad["MyType"] == "Machine"
    assert ad["GLIDEIN_Entry_Name"] == ENTRY
    assert ad["GLIDEIN_Factory"] == "test_factory"
    assert ad["GLIDEIN_Name"] == "test_glidein"
    assert ad["GLIDECLIENT_Name"] == ad["GLIDEIN_ClientName"] == "fe1.main"
    assert ad["GLIDEIN_Site"] == "Test_Site"  # from the main constants
    assert ad["Name"].startswith(f"slot1@{ad['GLIDEIN_UUID']}@")
    assert ad["UpdateSequenceNumber"] > parse_old(adverts[0].body)["UpdateSequenceNumber"]
    last = collector.requests[-1]
    assert last.path.endswith("invalidate?command=INVALIDATE_STARTD_ADS")
    assert parse_old(last.body)["MyType"] == "Query"
    assert f'Requirements = Name =?= "{ad["Name"]}"' in last.body

    (work_dir,) = tmp_path.glob("glide_*")
    config = (work_dir / "glidein_config").read_text()
    assert "ODD_VALUE " + 'a b.c,"d"$(x)\\y' + "\n" in config  # decoded exactly
    assert "ENTRY_CONST e v\n" in config and "MAIN_ONLY m\n" in config
    assert config.rstrip().endswith("GLIDEIN_INITIALIZED 1")
    # The worker's logs came back on stderr, and the long XML lists every script's result.
    assert "advertised slot1@" in decode_block(result.stderr, "StartdLog")
    long_xml = decode_block(result.stderr, "=== Encoded XML description of glidein activity ===")
    assert long_xml.count("<status>OK</status>") >= 5
    assert '<OSGTestResult id="check_blacklist.sh"' in long_xml


def test_sha256_signature_chain_is_accepted(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    argv = glidein_argv(staging, url, tmp_path, "sha256", **standin_params(collector))
    result = run_glidein(argv)
    assert result.returncode == 0, result.stderr
    assert "Verified main file signature." in result.stdout
    assert re.search(r"Verified main file signature\.\w+\.sha256", result.stdout)
    assert not list(tmp_path.glob("glide_*"))  # cleaned up


def test_wrong_command_line_hash_stops_before_anything_runs(
    staged: tuple[Staging, str], tmp_path: Path
) -> None:
    staging, url = staged
    argv = glidein_argv(staging, url, tmp_path)
    argv[argv.index("-signentry") + 1] = "0" * 40
    result = run_glidein(argv)
    assert result.returncode == 1
    assert "signature file signature." in result.stderr
    assert "does not match the hash given on the command line" in result.stderr
    assert "=== Executing" not in result.stdout


def replace_bytes(path: Path, data: bytes) -> None:
    """Give `path` new content without touching its inode: creation hard-links staged files
    with equal bytes (main and entry cat_consts.sh, the empty lists), so an edit in place
    would change them all."""
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(data)
    temp.replace(path)


def _signed_files(staging: Staging) -> list[Path]:
    files = []
    for directory in (staging.stage_dir, staging.entry_dir()):
        files += [p for p in sorted(directory.iterdir()) if p.is_file() and "." in p.name]
    # The sha1 chain is the one these runs use; the sha256 twin has its own run above.
    skip = ("glidein_startup.sh", "nodes.blacklist")
    return [p for p in files if p.name not in skip and p.suffix != ".sha256"]


@pytest.fixture(scope="module")
def clean_trace(staged: tuple[Staging, str], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    staging, url = staged
    server = RecordingCollector()
    try:
        run_dir = tmp_path_factory.mktemp("clean")
        params = {"GLIDEIN_Collector": server.address, "GLIDEIN_Standin_Lifetime": "0"}
        result = run_glidein(glidein_argv(staging, url, run_dir, **params))
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    return trace(result.stdout)


def test_every_staged_file_is_covered_by_the_tamper_test(staged: tuple[Staging, str]) -> None:
    assert len(_signed_files(staged[0])) == N_SIGNED
    names = {p.name.split(".")[0] for p in _signed_files(staged[0])}
    assert {"signature", "description", "constants", "file_list", "condor_startup"} <= names
    assert {"error_gen", "add_config_line", "setup_checks", "check_blacklist"} <= names


@pytest.mark.parametrize("index", range(N_SIGNED))
def test_one_changed_byte_stops_the_glidein_at_that_file(
    staged: tuple[Staging, str], clean_trace: list[str], tmp_path: Path, index: int
) -> None:
    staging, url = staged
    files = _signed_files(staging)
    victim = files[index]
    id_name = "main" if victim.parent == staging.stage_dir else "entry"
    original = victim.read_bytes()
    # Change the last byte before the final newline (an empty file gains one byte).
    changed = original[:-2] + bytes([original[-2] ^ 1]) + original[-1:] if original else b"x"
    replace_bytes(victim, changed)
    try:
        result = run_glidein(glidein_argv(staging, url, tmp_path, GLIDEIN_Collector="127.0.0.1:9"))
    finally:
        replace_bytes(victim, original)
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if "glidein_startup.sh: ERROR" in line]
    assert victim.name in error
    # It did exactly what a clean run does up to that file, and nothing after it.
    stop = clean_trace.index(f"Verified {id_name} file {victim.name}")
    assert trace(result.stdout) == clean_trace[:stop]
    assert "=== Last script starting" not in result.stdout


def test_failing_validation_script_is_reported(staged: tuple[Staging, str], tmp_path: Path) -> None:
    staging, url = staged
    argv = glidein_argv(staging, url, tmp_path, GLIDEIN_MIN_DISK_MB="999999999")
    result = run_glidein(argv)
    assert_failed_in(result, "setup_checks.sh")
    assert "=== Last script starting" not in result.stdout
    long_xml = decode_block(result.stderr, "=== Encoded XML description of glidein activity ===")
    failed = long_xml.split('<OSGTestResult id="setup_checks.sh"')[1].split("</OSGTestResult>")[0]
    assert "<status>ERROR</status>" in failed
    assert ">WN_Resource</metric>" in failed
    assert "the glidein needs 999999999 MB" in failed


def test_blacklisted_node_stops_early_and_says_why(tmp_path: Path) -> None:
    node = os.uname().nodename
    staging = build_staging(tmp_path / "s", ENTRY, blacklist=("other.example.org", node))
    with http_server(staging.stage_dir) as url:
        result = run_glidein(glidein_argv(staging, url, tmp_path, GLIDEIN_Collector="127.0.0.1:9"))
    assert_failed_in(result, "check_blacklist.sh")
    assert f"worker node {node} is in the entry's nodes.blacklist" in result.stderr
    assert "=== Last script starting" not in result.stdout


def test_downloads_go_through_the_configured_proxy(
    staged: tuple[Staging, str], collector: RecordingCollector, proxy: CountingProxy, tmp_path: Path
) -> None:
    staging, url = staged
    argv = glidein_argv(staging, url, tmp_path, **standin_params(collector))
    argv[argv.index("-proxy") + 1] = proxy.url
    result = run_glidein(argv)
    assert result.returncode == 0, result.stderr
    assert f"Using HTTP proxy {proxy.url}" in result.stdout
    fetched = {u.rsplit("/", 1)[1] for u in proxy.urls}
    verified = {line.split()[-1] for line in trace(result.stdout) if line.startswith("Verified")}
    assert verified <= fetched  # every verified file came through the proxy
    assert "glidein_startup.sh" in fetched and "nodes.blacklist" in fetched


def test_a_dead_proxy_is_dropped_after_the_probe(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    argv = glidein_argv(staging, url, tmp_path, **standin_params(collector))
    argv[argv.index("-proxy") + 1] = "127.0.0.1:9"
    result = run_glidein(argv)
    assert result.returncode == 0, result.stderr
    assert "proxy http://127.0.0.1:9 does not work, downloading directly" in result.stderr


def test_sigterm_ends_the_standin_cleanly_and_invalidates_its_ad(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    params = standin_params(collector, GLIDEIN_Standin_Lifetime="600")
    proc = subprocess.Popen(
        glidein_argv(staging, url, tmp_path, **params),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=glidein_env(),
    )
    try:
        collector.wait_for(lambda reqs: any("advertise" in r.path for r in reqs))
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert collector.requests[-1].path.endswith("invalidate?command=INVALIDATE_STARTD_ADS")
    assert "with code 0" in stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((), "no arguments"),
        (("-bogus", "1"), "unknown option '-bogus'"),
        (("-signtype", "md5"), "unsupported signature type 'md5'"),
        (("-v", "loud"), "-v must be std, nodebug, fast or check"),
        (("-param_BAD-NAME", "x"), "bad parameter name"),
        (("-dir",), "option '-dir' needs a value"),
        (("-clientweb", "http://x", "-clientdescript", "d"), "-clientweb needs -clientsign and"),
        (("-clientwebgroup", "http://x"), "-clientwebgroup needs -clientgroup"),
    ],
)
def test_bad_arguments_give_usage(tmp_path: Path, change: tuple[str, ...], message: str) -> None:
    base = ["-name", "g", "-entry", "e", "-web", "http://127.0.0.1:9", "-sign", "a"]
    base += ["-signentry", "b", "-descript", "d.cfg", "-descriptentry", "d.cfg"]
    argv = [*base, *change] if change else []
    result = run_glidein(["bash", str(WEB_BASE / "glidein_startup.sh"), *argv], timeout=10)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Usage: glidein_startup.sh" in result.stderr


def test_missing_required_option_gives_usage() -> None:
    argv = ["bash", str(WEB_BASE / "glidein_startup.sh"), "-name", "g", "-entry", "e"]
    result = run_glidein(argv, timeout=10)
    assert result.returncode == 1
    assert "missing required option for repository_url" in result.stderr


def test_shellcheck_is_clean_on_every_script() -> None:
    scripts = sorted(p.name for p in WEB_BASE.iterdir() if p.suffix in (".sh", ".source"))
    assert "glidein_startup.sh" in scripts and "add_config_line.source" in scripts
    result = subprocess.run(
        ["shellcheck", "-x", *scripts], cwd=WEB_BASE, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_multiglidein_starts_that_many_glideins_and_waits_for_them(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    params = standin_params(collector, GLIDEIN_Standin_Lifetime="0", GLIDEIN_MULTIGLIDEIN="3")
    result = run_glidein(glidein_argv(staging, url, tmp_path, **params))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("=== Starting 3 glideins ===")
    assert result.stdout.count("with code 0 after") == 3
    names = {parse_old(r.body)["Name"] for r in collector.requests if "advertise" in r.path}
    assert len(names) == 3  # three glideins, three slots


# Written against upstream's documented helpers only (spec/glidein_startup.md §5).
CLIENT_SCRIPT = """#!/bin/bash
glidein_config=$1
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)"
error_gen=$(gconfig_get ERROR_GEN_PATH)
add_config_line {key} "$(gconfig_get {reads})"
"$error_gen" -ok {name}
"""


@pytest.fixture(scope="module")
def client_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClientArea, str]]:
    """The frontend's own staging area, on its own web server."""
    scripts = {
        name: (list_key, CLIENT_SCRIPT.format(key=key, reads=reads, name=name))
        for name, list_key, key, reads in (
            ("fe_pre.sh", "preentry_file_list", "FE_PRE_SAW", "MAIN_ONLY"),
            ("fe_post.sh", "file_list", "FE_POST_SAW", "ENTRY_CONST"),
        )
    }
    area = build_client_staging(tmp_path_factory.mktemp("frontend") / "web", scripts)
    with http_server(area.directory) as url:
        yield area, url


def test_frontend_staging_files_run_in_their_place_in_the_order(
    staged: tuple[Staging, str],
    client_web: tuple[ClientArea, str],
    collector: RecordingCollector,
    tmp_path: Path,
) -> None:
    (staging, url), (area, client_url) = staged, client_web
    client = area.staging(client_url)
    params = standin_params(
        collector, GLIDEIN_Standin_Lifetime="0", GLIDEIN_DEBUG_OPTIONS="nocleanup"
    )
    result = run_glidein(glidein_argv(staging, url, tmp_path, client=client, **params))
    assert result.returncode == 0, result.stderr
    ran = [line for line in trace(result.stdout) if line.startswith("=== Executing")]
    assert ran == [
        f"=== Executing {script} ==="
        for script in ("main/cat_consts.sh", "main/setup_checks.sh",
                       "main/condor_platform_select.sh", "client/fe_pre.sh",
                       "entry/cat_consts.sh", "entry/check_blacklist.sh", "main/cvmfs_check.sh",
                       "client/fe_post.sh", "main/singularity_setup.sh")
    ]  # fmt: skip
    (work_dir,) = tmp_path.glob("glide_*")
    config = (work_dir / "glidein_config").read_text()
    assert "FE_PRE_SAW m\n" in config and "FE_POST_SAW e v\n" in config
    assert f"GLIDECLIENT_CONSTS_FILE {work_dir}/client/constants.cfg\n" in config


def test_a_changed_frontend_file_stops_the_glidein(
    staged: tuple[Staging, str], client_web: tuple[ClientArea, str], tmp_path: Path
) -> None:
    (staging, url), (area, client_url) = staged, client_web
    client = area.staging(client_url)
    (victim,) = area.directory.glob("fe_post.*.sh")
    original = victim.read_bytes()
    victim.write_bytes(original.replace(b'"$error_gen" -ok', b'"$error_gen"  -ok'))
    try:
        result = run_glidein(glidein_argv(staging, url, tmp_path, client=client))
    finally:
        victim.write_bytes(original)
    assert result.returncode == 1
    assert f"signature mismatch for file {victim.name} of client" in result.stderr
    assert "=== Executing client/fe_pre.sh ===" in result.stdout
    assert "=== Executing client/fe_post.sh ===" not in result.stdout


def test_a_parameter_cannot_redefine_a_startup_value(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    params = standin_params(
        collector,
        GLIDEIN_Standin_Lifetime="0",
        GLIDEIN_DEBUG_OPTIONS="nocleanup",
        GLIDEIN_WORK_DIR="/etc",
        GLIDEIN_Entry_Name="Spoofed",
    )
    result = run_glidein(glidein_argv(staging, url, tmp_path, **params))
    assert result.returncode == 0, result.stderr
    assert "ignoring parameter GLIDEIN_WORK_DIR, which would redefine" in result.stderr
    (work_dir,) = tmp_path.glob("glide_*")
    config = (work_dir / "glidein_config").read_text()
    assert "/etc" not in config and "Spoofed" not in config
    assert parse_old(collector.requests[0].body)["GLIDEIN_Entry_Name"] == ENTRY


# The entry's own variables come from its <attr>s, whose condor_vars lines creation writes; what
# an <attr> cannot say (another CondorName, a default, required) the frontend's area says.
ENTRY_VARS = (
    Attr("GLIDEIN_CPUS", "4", "int", glidein_publish=True, job_publish=True),
    Attr("GLIDEIN_ResourceName", "CE-1"),
    Attr("NOT_EXPORTED", "x", job_publish=True),
)
CLIENT_VARS = (
    "GLIDEIN_ResourceName\tS\t-\tResourceName\tN\tY\t+",
    "WITH_DEFAULT\tS\tfallback\t+\tN\tY\t-",
    "GLIDEIN_Entry_Name\tS\t-\t+\tN\tY\t-",
    "MUST_HAVE\tS\t-\t+\tY\tN\t-",
)
VarsStaged = tuple[Staging, str, ClientStaging]


@pytest.fixture(scope="module")
def vars_staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VarsStaged]:
    root = tmp_path_factory.mktemp("vars")
    staging = build_staging(root / "factory", ENTRY, entry_attrs=ENTRY_VARS)
    area = build_client_staging(root / "frontend", {}, condor_vars=CLIENT_VARS)
    with http_server(staging.stage_dir) as url, http_server(area.directory) as client_url:
        yield staging, url, area.staging(client_url)


def test_exported_condor_vars_are_published_in_the_slot_ad(
    vars_staged: VarsStaged, collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url, client = vars_staged
    params = standin_params(collector, GLIDEIN_Standin_Lifetime="0", MUST_HAVE="here")
    result = run_glidein(glidein_argv(staging, url, tmp_path, client=client, **params))
    assert result.returncode == 0, result.stderr
    ad = parse_old(collector.requests[0].body)
    assert ad["GLIDEIN_CPUS"] == 4  # typed I: an integer, not a string
    assert ad["ResourceName"] == "CE-1"  # published under its CondorName
    assert ad["WITH_DEFAULT"] == "fallback"
    assert ad["GLIDEIN_Entry_Name"] == ENTRY  # the glidein's own value, stated once
    assert collector.requests[0].body.count("GLIDEIN_Entry_Name =") == 1
    assert "NOT_EXPORTED" not in ad and "MUST_HAVE" not in ad


def test_a_required_condor_var_without_value_fails_the_glidein(
    vars_staged: VarsStaged, collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url, client = vars_staged
    params = standin_params(collector, GLIDEIN_Standin_Lifetime="0")
    result = run_glidein(glidein_argv(staging, url, tmp_path, client=client, **params))
    assert_failed_in(result, "condor_startup.sh")
    assert "condor_startup.sh: required variable MUST_HAVE has no value" in result.stderr
    assert collector.requests == []  # no slot was advertised


def test_a_missing_file_is_retried_a_bounded_number_of_times(
    tmp_path: Path, proxy: CountingProxy
) -> None:
    staging = build_staging(tmp_path / "s", ENTRY)
    (victim,) = staging.entry_dir().glob("check_blacklist.*.sh")
    victim.unlink()
    with http_server(staging.stage_dir) as url:
        argv = glidein_argv(staging, url, tmp_path, GLIDEIN_Collector="127.0.0.1:9")
        argv[argv.index("-proxy") + 1] = proxy.url
        result = run_glidein(argv)
    assert result.returncode == 1
    assert f"cannot download entry file {victim.name}" in result.stderr
    assert sum(u.endswith("/" + victim.name) for u in proxy.urls) == 3
    assert "=== Executing entry/check_blacklist.sh ===" not in result.stdout


def test_a_failed_glidein_reports_itself_while_it_lingers(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    factory = RecordingCollector()
    try:
        params = {
            "GLIDEIN_Collector": collector.address,
            "GLIDEIN_Report_Failed": "ALWAYS",
            "GLIDEIN_Factory_Collector": factory.address,  # default there: ALIVEONLY
            "GLIDEIN_MIN_DISK_MB": "999999999",
        }
        started = time.monotonic()
        result = run_glidein(
            glidein_argv(staging, url, tmp_path, **params),
            env=glidein_env(GWMS_GLIDEIN_FAILURE_SLEEP="3"),
        )
        lingered = time.monotonic() - started
    finally:
        factory.close()
    assert result.returncode == 1
    assert lingered >= 2  # whole seconds: at least linger - 1
    for server in (collector, factory):
        advert, invalidate = server.requests  # one report, then its removal
        assert advert.path.endswith("advertise?command=UPDATE_STARTD_AD")
        assert invalidate.path.endswith("invalidate?command=INVALIDATE_STARTD_ADS")
    frontend_ad = parse_old(collector.requests[0].body)
    assert frontend_ad["GLIDEIN_Failed"] is True and frontend_ad["Start"] is False
    assert frontend_ad["GLIDEIN_Failed_Script"] == "setup_checks.sh"
    assert "999999999 MB" in frontend_ad["GLIDEIN_Failure_Detail"]
    factory_ad = parse_old(factory.requests[0].body)
    assert factory_ad["GLIDEIN_Failed"] is True
    assert factory_ad["GLIDEIN_Entry_Name"] == ENTRY
    assert "GLIDEIN_Failure_Detail" not in factory_ad  # ALIVEONLY says no more


def test_by_default_a_failed_glidein_only_lingers(
    staged: tuple[Staging, str], collector: RecordingCollector, tmp_path: Path
) -> None:
    staging, url = staged
    params = {"GLIDEIN_Collector": collector.address, "GLIDEIN_MIN_DISK_MB": "999999999"}
    result = run_glidein(
        glidein_argv(staging, url, tmp_path, **params),
        env=glidein_env(GWMS_GLIDEIN_FAILURE_SLEEP="1"),
    )
    assert result.returncode == 1
    assert "lingering 1 s" in result.stderr
    assert collector.requests == []


# HTCondor cannot be installed here, so the tarball's condor_master is a stand-in that records
# how it was started and with which configuration, in its MasterLog.
FAKE_MASTER = """#!/bin/bash
log_dir=$(awk '$1 == "LOG" { print $3 }' "$CONDOR_CONFIG")
{ echo "condor_master $*"; cat "$CONDOR_CONFIG"; ls -l "$(awk '$1 == "SEC_TOKEN_DIRECTORY" { print $3 }' "$CONDOR_CONFIG")"; } >"$log_dir/MasterLog"
"""


def test_a_condor_tarball_is_selected_unpacked_configured_and_started(
    tmp_path: Path, collector: RecordingCollector
) -> None:
    staging = build_staging(
        tmp_path / "s",
        ENTRY,
        entry_attrs=(ENTRY_VARS[0],),  # GLIDEIN_CPUS 4, published
        condor_tarball=("24.0.1-default-default", condor_tarball(FAKE_MASTER)),
    )
    token = tmp_path / "token"
    token.write_text("pool-token\n")
    params = {"GLIDEIN_Collector": collector.address, "GLIDEIN_Max_Walltime": "3600"}
    with http_server(staging.stage_dir) as url:
        result = run_glidein(
            glidein_argv(staging, url, tmp_path, **params, GLIDEIN_DEBUG_OPTIONS="nocleanup"),
            env=glidein_env(IDTOKENS_FILE=str(token)),
        )
    assert result.returncode == 0, result.stderr
    assert "=== Condor starting" in result.stdout and "=== Condor ended" in result.stdout
    (work_dir,) = tmp_path.glob("glide_*")
    config = (work_dir / "glidein_config").read_text()
    assert "CONDOR_PLATFORM_24.0.1-default-default 1\n" in config
    assert f"CONDOR_DIR {work_dir}/main/condor\n" in config  # single top dir flattened
    master_log = decode_block(result.stderr, "MasterLog")
    assert master_log.startswith("condor_master -f -r 60\n")  # 3600 s walltime = 60 minutes
    assert f"COLLECTOR_HOST = {collector.address}\n" in master_log
    assert "GLIDEIN_CPUS = 4\n" in master_log
    assert 'GLIDEIN_Entry_Name = "TEST_ENTRY"' in master_log
    assert re.search(r"^-rw------- .* glidein.token$", master_log, re.M)
    assert collector.requests == []  # the real worker, not the stand-in, joined the pool


def test_no_condor_tarball_for_this_node_fails_validation(tmp_path: Path) -> None:
    tarball = ("24.0.1-solaris11-sparc", condor_tarball(FAKE_MASTER))
    staging = build_staging(tmp_path / "s", ENTRY, condor_tarball=tarball)
    with http_server(staging.stage_dir) as url:
        result = run_glidein(glidein_argv(staging, url, tmp_path, GLIDEIN_Collector="127.0.0.1:9"))
    assert_failed_in(result, "condor_platform_select.sh")
    assert "no HTCondor tarball for this node" in result.stderr
    assert "24.0.1-solaris11-sparc" in result.stderr
