"""The schedd evaluates constraints without keeping full job ads: literal tests decided on
the submitted texts, anything else in an ad of just what it reads. Both must answer
exactly as classad2 does on the full ad."""

from __future__ import annotations

import itertools
import pathlib

import classad2
import pytest

from glideinwms_factory.lib.pool.embedded.jobrecord import custom_by_lower
from glideinwms_factory.lib.pool.embedded.literal_match import decide, literal_tests
from glideinwms_factory.lib.pool.embedded.schedd_core import ScheddCore

# Attribute texts a glidein may carry, and constraints a factory or an operator may send.
TEXTS = {
    "GlideinEntryName": ['"E1"', '"e1"', '"E2"', 'strcat("E", "1")', "1", None],
    "GlideinFactory": ['"f"', '"F"', None],
    "GlideinCredentialIdentifier": ['"none"', "undefined", None],
}
CONSTRAINTS = [
    '(GlideinFactory =?= "f") && (GlideinEntryName =?= "E1")'
    " && (GlideinCredentialIdentifier =!= UNDEFINED)",
    'GlideinEntryName == "e1" && "f" =?= GlideinFactory',
    "GlideinCredentialIdentifier =!= undefined",
    'GlideinEntryName =?= "E1" || GlideinFactory == "f"',  # not literal tests: evaluated
    'GlideinEntryName =?= "E1" && JobStatus == 5',  # a schedd attribute: evaluated
    'GlideinEntryName =?= strcat("E", "1")',
    # a disjunction inside the conjunction (entry_q -frontend): never decided on texts
    'GlideinFactory =?= "f" && ((GlideinEntryName =?= "E2") || (GlideinEntryName =?= "e1"))',
    '(GlideinFactory =?= "f") && (GlideinEntryName =?= "E1" ? true : false)',
]


def full_ad(texts: dict[str, str]) -> classad2.ClassAd:
    return classad2.ClassAd("[" + "; ".join(f"{n} = {t}" for n, t in texts.items()) + "]")


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_literal_decisions_agree_with_classad2(constraint: str) -> None:
    tests = literal_tests(constraint)
    expression = classad2.ExprTree(constraint)
    decided = 0
    for values in itertools.product(*TEXTS.values()):
        texts = {n: t for n, t in zip(TEXTS, values, strict=True) if t is not None}
        texts["JobStatus"] = "5"
        attributes = {n.lower(): (n, t) for n, t in texts.items() if n != "JobStatus"}
        answer = decide(tests, attributes) if tests else None
        if answer is not None:
            decided += 1
            assert answer is (expression.eval(full_ad(texts)) is True), (constraint, texts)
    assert decided or tests is None


@pytest.fixture
def core(tmp_path: pathlib.Path):
    schedd = ScheddCore(tmp_path / "q", slots=1, policy_interval=3600)
    schedd.start()
    yield schedd
    schedd.stop()


def test_constraint_on_an_attribute_computed_from_another(core: ScheddCore) -> None:
    """A scope ad follows a submitted expression to the attributes it reads."""
    description = "executable = /bin/true\nhold = true\n"
    core.submit(description, 2, {"Site": "CE1", "Entry": classad2.ExprTree('strcat(Site, "_x")')})
    core.submit(description, 1, {"Site": "CE2", "Entry": classad2.ExprTree('strcat(Site, "_x")')})
    found = core.query('Entry == "CE1_x"', ["ClusterId", "Entry", "Site"])
    assert [(ad["ClusterId"], ad.eval("Entry")) for ad in found] == [(1, "CE1_x")] * 2
    assert len(core.query('JobStatus == 5 && Site =?= "CE2"')) == 1


def test_the_factory_query_is_answered_from_the_texts(core: ScheddCore) -> None:
    attrs = {"GlideinFactory": "f", "GlideinEntryName": "E1", "GlideinCredentialIdentifier": "c"}
    core.submit("executable = /bin/true\nhold = true\n", 3, attrs)
    core.submit("executable = /bin/true\nhold = true\n", 1, attrs | {"GlideinEntryName": "E2"})
    job = next(iter(core._jobs.values()))
    constraint = CONSTRAINTS[0]
    assert decide(literal_tests(constraint) or (), custom_by_lower(job.spec)) is True
    lines = core.query_lines(constraint, ["ClusterId", "ProcId", "JobStatus", "ServerTime"])
    assert len(lines) == 3 and all(line.endswith("]\n") for line in lines)
    ad = classad2.ClassAd(lines[0])
    assert (ad["ClusterId"], ad["ProcId"], ad["JobStatus"]) == (1, 0, 5)
    assert isinstance(ad["ServerTime"], int)
