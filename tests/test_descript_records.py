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
    numbers = read_record(GlideinDescript, {"LoopDelay": "", "FactoryName": "f"}, PATH)
    assert numbers == GlideinDescript()
    assert numbers.loop_delay == 60 and numbers.entry_group_size == 1


def test_numbers_are_typed() -> None:
    numbers = read_record(
        GlideinDescript,
        {"LoopDelay": "2.5", "EntryGroupSize": "3", "PubKeyLength": "4096.0"},
        PATH,
    )
    assert numbers.loop_delay == 2.5
    assert numbers.entry_group_size == 3 and isinstance(numbers.entry_group_size, int)
    assert numbers.pub_key_length == 4096 and isinstance(numbers.pub_key_length, int)


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
    numbers, job = GlideinDescript(), JobDescript()
    pairs = [
        (glidein.attrs["loop_delay"], numbers.loop_delay),
        (glidein.attrs["advertise_delay"], numbers.advertise_delay),
        (glidein.attrs["restart_attempts"], numbers.restart_attempts),
        (glidein.attrs["restart_interval"], numbers.restart_interval),
        (glidein.attrs["entry_group_size"], numbers.entry_group_size),
        (security["key_length"], numbers.pub_key_length),
        (security["reuse_oldkey_onstartup_gracetime"], numbers.old_pub_key_grace_time),
        (security["remove_old_cred_freq"], numbers.remove_old_cred_freq),
        (security["remove_old_cred_age"], numbers.remove_old_cred_age),
        (pool["port"], numbers.embedded_pool_port),
        (pool["slots_per_site"], numbers.embedded_pool_slots_per_site),
        (entry.attrs["gridtype"], job.grid_type),
        (entry.attrs["auth_method"], job.auth_method),
        (entry.attrs["trust_domain"], job.trust_domain),
        (entry.attrs["verbosity"], job.verbosity),
        (entry.attrs["work_dir"], job.startup_dir),
        (submit["slots_layout"], job.slots_layout),
    ]
    assert [attr.default for attr, _ in pairs] == [value for _, value in pairs]
