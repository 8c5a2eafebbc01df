"""glidein.descript / job.descript read into typed records, with the schema's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from glideinwms_factory.creation import schema
from glideinwms_factory.lib.descript import DescriptError
from glideinwms_factory.lib.descript_records import (
    GlideinDescript,
    JobDescript,
    read_record,
)

PATH = Path("/work/glidein.descript")


def test_missing_or_empty_numbers_take_the_defaults() -> None:
    values = read_record(GlideinDescript, {"LoopDelay": "", "FactoryName": "f"}, PATH)
    assert values == GlideinDescript()
    assert values.loop_delay == 60 and values.entry_group_size == 1


def test_numbers_are_typed() -> None:
    values = read_record(
        GlideinDescript,
        {"LoopDelay": "2.5", "EntryGroupSize": "3", "PubKeyLength": "4096.0"},
        PATH,
    )
    assert values.loop_delay == 2.5
    assert values.entry_group_size == 3 and isinstance(values.entry_group_size, int)
    assert values.pub_key_length == 4096 and isinstance(values.pub_key_length, int)


@pytest.mark.parametrize(("key", "text"), [("LoopDelay", "soon"), ("EntryGroupSize", "inf")])
def test_a_malformed_number_is_one_line(key: str, text: str) -> None:
    with pytest.raises(DescriptError) as caught:
        read_record(GlideinDescript, {key: text}, PATH)
    assert str(caught.value) == f"{PATH}: {key} {text!r} is not a number"


def test_job_text_keeps_an_empty_value_and_defaults_a_missing_one() -> None:
    job = read_record(JobDescript, {"Schedd": "", "GridType": "batch slurm"}, PATH)
    assert job.schedd == "" and job.grid_type == "batch slurm"
    assert job.verbosity == "std" and job.auth_method == "grid_proxy"


def test_the_schema_defaults_are_the_records_defaults() -> None:
    glidein, entry = schema.GLIDEIN, schema.ENTRY
    security = glidein.children["security"].attrs
    pool = glidein.children["embedded_pool"].attrs
    submit = schema.ENTRY_CONFIG.children["submit"].attrs
    values, job = GlideinDescript(), JobDescript()
    pairs = [
        (glidein.attrs["loop_delay"], values.loop_delay),
        (glidein.attrs["advertise_delay"], values.advertise_delay),
        (glidein.attrs["restart_attempts"], values.restart_attempts),
        (glidein.attrs["restart_interval"], values.restart_interval),
        (glidein.attrs["entry_group_size"], values.entry_group_size),
        (security["key_length"], values.pub_key_length),
        (security["reuse_oldkey_onstartup_gracetime"], values.old_pub_key_grace_time),
        (security["remove_old_cred_freq"], values.remove_old_cred_freq),
        (security["remove_old_cred_age"], values.remove_old_cred_age),
        (pool["port"], values.embedded_pool_port),
        (pool["slots_per_site"], values.embedded_pool_slots_per_site),
        (glidein.attrs["pool_backend"], values.pool_backend),
        (glidein.attrs["recoverable_exitcodes"], values.recoverable_exitcodes),
        (entry.attrs["gridtype"], job.grid_type),
        (entry.attrs["auth_method"], job.auth_method),
        (entry.attrs["trust_domain"], job.trust_domain),
        (entry.attrs["verbosity"], job.verbosity),
        (entry.attrs["work_dir"], job.startup_dir),
        (submit["slots_layout"], job.slots_layout),
    ]
    assert [attr.default for attr, _ in pairs] == [value for _, value in pairs]
