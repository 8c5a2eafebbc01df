"""Submit descriptions become per-job specs: quoting rules, per-proc macros, refusals."""

import pytest

from glideinwms_factory.lib.pool.embedded.submit_expand import (
    parse_description,
    parse_environment,
    split_arguments,
)

GLIDEIN = """universe = grid
grid_resource = condor ce.example.org ce.example.org:9619
executable = glidein_startup.sh
initialdir = /work/entry_e1
arguments = "-v std -name $(Cluster).$(Process) -x 'a b'"
environment = "IDTOKENS_FILE=/t/tok JOB_TOKENS='x y'"
transfer_input_files = tok, url_dirs.desc
output = job.$(Cluster).$(Process).out
error = job.$(ClusterId).$(ProcId).err
log = condor_activity.log
periodic_remove = (JobStatus == 1) && (time() - QDate > 3600)
+GlideinEntryName = "e1"
+GlideinMaxWalltime = 7200
+GlideinProc = "p$(Process)"
+ProcPlusOne = $(Process) + 1
queue 3
"""


def test_glidein_description_expands_per_proc_macros() -> None:
    parsed = parse_description(GLIDEIN, {"GlideinClient": "fe@x", "+Extra": 5}, "/default")
    assert parsed.queue_count == 3
    spec = parsed.spec(12, 2)
    assert spec.universe == 9
    assert spec.cmd == "/work/entry_e1/glidein_startup.sh"
    assert spec.args == ("-v", "std", "-name", "12.2", "-x", "a b")
    assert spec.env == {"IDTOKENS_FILE": "/t/tok", "JOB_TOKENS": "x y"}
    assert spec.out == "job.12.2.out" and spec.err == "job.12.2.err"
    assert spec.user_log == "/work/entry_e1/condor_activity.log"
    assert spec.transfer_input == ("tok", "url_dirs.desc")
    assert spec.grid_resource == "condor ce.example.org ce.example.org:9619"
    assert spec.periodic_remove == "(JobStatus == 1) && (time() - QDate > 3600)"
    assert spec.custom == {
        "GlideinEntryName": '"e1"',
        "GlideinMaxWalltime": "7200",
        "GlideinProc": '"p2"',
        "ProcPlusOne": "2 + 1",
        "GlideinClient": '"fe@x"',
        "Extra": "5",
    }
    # Procs without per-proc custom values share one dict (memory at 100k jobs).
    plain = parse_description("executable = x\n+A = 1\n")
    assert plain.spec(1, 0).custom is plain.spec(1, 1).custom


def test_mapping_description_and_env_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAEMON_SECRET", "s3cret")
    parsed = parse_description(
        {
            "executable": "/bin/true",
            "+GlideinClient": '"$ENV(GLIDEIN_CLIENT)"',
            "+Leak": '"$ENV(DAEMON_SECRET)"',
            "+WithDefault": '"$ENV(UNSET_ONE:dflt)"',
            "arguments": "$ENV(GLIDEIN_ARGUMENTS)",
            "iwd": "sub",
        },
        default_iwd="/state/iwd",
        env={"GLIDEIN_CLIENT": "client-1", "GLIDEIN_ARGUMENTS": "-x $(Cluster)"},
    )
    spec = parsed.spec(1, 0)
    assert spec.custom["GlideinClient"] == '"client-1"'
    assert spec.custom["Leak"] == '""', "the daemon's own environment is never read"
    assert spec.custom["WithDefault"] == '"dflt"'
    assert spec.args == ("-x", "$(Cluster)"), "macros inside $ENV values stay literal"
    assert spec.iwd == "/state/iwd/sub"
    assert spec.cmd == "/bin/true"
    assert parsed.queue_count == 1


def test_queue_count_from_submitter_environment() -> None:
    parsed = parse_description(
        "executable = x\nqueue $ENV(GLIDEIN_COUNT)\n", env={"GLIDEIN_COUNT": "4"}
    )
    assert parsed.queue_count == 4


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("\"a 'b c' d\"", ["a", "b c", "d"]),
        ('"\'it\'\'s\' ""q"""', ["it's", '"q"']),
        ('"  "', []),
        ("\"'' x\"", ["", "x"]),
        ('one two\\"s', ["one", 'two"s']),
    ],
)
def test_arguments_quoting(text: str, words: list[str]) -> None:
    assert split_arguments(text) == words


def test_environment_styles() -> None:
    assert parse_environment("\"A=1 B='x y' C=\"") == {"A": "1", "B": "x y", "C": ""}
    assert parse_environment("A=1;B=2 3") == {"A": "1", "B": "2 3"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arguments = x\nqueue\n", "no executable"),
        ("executable = x\nuniverse = java\n", "unsupported universe"),
        ("executable = x\nuniverse = grid\n", "grid_resource"),
        ('executable = x\narguments = "a \'b"\n', "unbalanced single quote"),
        ('executable = x\narguments = "a b\n', "must end with a double quote"),
        ('executable = x\nenvironment = "=1"\n', "bad environment entry"),
        ("executable = x\n+Bad = (((\n", "not a ClassAd expression"),
        # classad2 would silently stop at `;` or `]`: a smuggled second attribute.
        ("executable = x\n+Sneaky = 1; JobStatus = 4\n", "not a ClassAd expression"),
        ("executable = x\n+Sneaky = 1 ]\n", "not a ClassAd expression"),
        ("executable = x\nperiodic_hold = a b\n", "not a ClassAd expression"),
        ("executable = x\ngetenv = maybe\n", "getenv must be true or false"),
        ("executable = x\nqueue 2 in (a b)\n", r"only 'queue \[N\]'"),
        ("executable = x\nfoo bar baz\nqueue\n", "bad submit description"),
        ("executable = x\narguments = $ENV(A B)\n", "unsupported"),
    ],
)
def test_bad_descriptions_raise_one_line_value_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_description(text).spec(1, 0)
    assert "\n" not in str(info.value)


def test_bad_attrs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="bad job attribute name"):
        parse_description("executable = x\n", {"bad name": 1})
    with pytest.raises(ValueError, match="unsupported job attribute value"):
        parse_description("executable = x\n", {"A": object()})


def test_empty_values_are_accepted_as_empty() -> None:
    # job.condor lines such as `x509userproxy = $ENV(X509_USER_PROXY:)` resolve to nothing.
    text = "executable = /bin/true\nx509userproxy = \ntransfer_input_files = \narguments = a\n"
    spec = parse_description(text, {}).spec(1, 0)
    assert spec.transfer_input == ()
    assert spec.args == ("a",)


def test_x509userproxy_is_named_in_the_ad_and_travels_with_the_job() -> None:
    text = "executable = /bin/true\nx509userproxy = /creds/credential_fe_ABC\n"
    spec = parse_description(text, {}).spec(1, 0)
    assert spec.custom["x509userproxy"] == '"/creds/credential_fe_ABC"'
    assert spec.transfer_input == ("/creds/credential_fe_ABC",)
    assert spec.env["X509_USER_PROXY"] == "credential_fe_ABC"
