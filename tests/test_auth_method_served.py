"""Entries whose auth_method uses the 3.11 grammar (`;` groups, `,` alternatives) serve a
frontend's requests end to end on the in-process pool: glideins are submitted."""

from __future__ import annotations

import pytest
from factory_testlib import (
    FRONTEND,
    EntrySpec,
    config_xml,
    create,
    free_port,
    frontend_spec,
    in_process_pool,
    serve_once,
)

ENTRIES = [
    EntrySpec("token_project", auth_method="scitoken;project_id"),
    EntrySpec("token_either", auth_method="scitoken,idtoken"),
]


@pytest.mark.parametrize(
    ("entry", "project_id", "expected"),
    [
        ("token_project", "TG-PHY123", 2),
        ("token_project", None, 0),  # rejected: the project_id group is not met
        ("token_either", None, 2),
    ],
)
def test_requests_to_grammar_entries_are_served(tmp_path, entry, project_id, expected) -> None:
    factory = create(tmp_path, config_xml(ENTRIES, free_port()))
    spec = frontend_spec(
        identity=FRONTEND,
        security_name="vofrontend",
        security_class="frontend",
        idle=2,
        max_glideins=4,
        project_id=project_id,
    )
    with in_process_pool(factory) as pool:
        glideins = serve_once(factory, pool, entry, spec, ["GlideinClient"])
    assert len(glideins) == expected
    logs = "".join(p.read_text() for p in (factory.root / "log").rglob("*.log"))
    rejected = "auth method scitoken;project_id needs ProjectId" in logs
    assert rejected == (expected == 0)
