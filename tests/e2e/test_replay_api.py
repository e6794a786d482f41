"""Replay over HTTP: each event of an aggregate with the state right after it, in pages.

The GETs here send no credential: the client fixture then reads as an unlimited auditor,
who may read the audit replay (officials and analysts may not).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from domain.organization import InnIndex
from interagency.services import Services
from interagency.snapshots import ExactSnapshot
from tests.e2e.conftest import (
    API,
    approve_through,
    assert_problem,
    command,
    create_project,
    expect_ok,
    gate_body,
    plan_deliverable,
)
from tests.e2e.organization_helpers import register_licence, register_organization
from tests.integration.network_helpers import enrol, published_program, register


def replay_url(aggregate_id: object) -> str:
    return f"{API}/audit/aggregates/{aggregate_id}/replay"


def a_project(client: TestClient, municipality: str) -> str:
    pid: str = create_project(client, municipality)["id"]
    did = plan_deliverable(client, pid)["deliverable_id"]
    approve_through(client, pid, did)
    command(client, pid, "gate/pass", gate_body(1))
    command(client, pid, "suspend", {"reason": "Budget review"})
    return pid


def test_each_step_holds_the_event_and_the_state_the_get_answers_at_that_version(
    client: TestClient, municipality: str
) -> None:
    pid = a_project(client, municipality)
    page = expect_ok(client.get(replay_url(pid)))
    history = expect_ok(client.get(f"{API}/projects/{pid}/history"))["events"]

    assert (page["aggregate_type"], page["state_schema"]) == ("project", "ProjectPublic")
    assert page["last_version"] == len(history) == 6
    assert page["next_from_version"] is None
    assert [s["event"] for s in page["steps"]] == history
    for step in page["steps"]:
        version = step["event"]["version"]
        at_version = expect_ok(client.get(f"{API}/projects/{pid}", params={"version": version}))
        assert step["state"] == at_version
    types = [s["event"]["type"] for s in page["steps"]]
    assert types[0] == "ProjectInitiated"
    assert types[-1] == "ProjectSuspended"
    gate = page["steps"][4]
    assert gate["event"]["type"] == "StageGatePassed"
    assert gate["event"]["decision_ref"] == gate_body(1)["decision_ref"]
    assert gate["state"]["active_stage"] == "interaction_mechanisms"
    assert page["steps"][3]["state"]["active_stage"] == "social_ties_program"


def test_pages_follow_next_from_version_and_together_are_the_whole_history(
    client: TestClient, municipality: str
) -> None:
    pid = a_project(client, municipality)
    whole = expect_ok(client.get(replay_url(pid)))["steps"]
    steps: list[dict[str, Any]] = []
    params: dict[str, int] = {"from_version": 1, "limit": 4}
    pages = 0
    while True:
        page = expect_ok(client.get(replay_url(pid), params=params))
        pages += 1
        steps.extend(page["steps"])
        if page["next_from_version"] is None:
            break
        params["from_version"] = page["next_from_version"]
    assert pages == 2
    assert steps == whole
    middle = expect_ok(client.get(replay_url(pid), params={"from_version": 3, "limit": 2}))
    assert middle["steps"] == whole[2:4]
    assert middle["next_from_version"] == 5


def test_children_ids_appear_in_no_step(client: TestClient, services: Services) -> None:
    app = services.app
    provider = register(app, f"Town {uuid4().hex[:6]}", "Sports school")
    prog = published_program(app, provider, title="Chess")
    enrol(app, prog, "child-replay-7", 2016)
    response = client.get(replay_url(prog))
    page = expect_ok(response)
    assert page["aggregate_type"] == "program"
    assert "child-replay-7" not in response.text
    enrolled = page["steps"][-1]
    assert enrolled["event"]["type"] == "ChildEnrolled"
    assert enrolled["event"]["data"]["child_id"] == "<redacted>"
    assert enrolled["state"]["enrolments"] == {"active": 1, "ended": 0, "total": 1}


def test_an_organisation_replays_in_its_own_schema_each_step_as_its_get_at_that_version(
    client: TestClient, municipality: str
) -> None:
    # The registrar is an official of the test's municipality: it registers there.
    oid = register_organization(client, municipality=municipality)
    register_licence(client, oid)
    page = expect_ok(client.get(replay_url(oid)))
    assert (page["aggregate_type"], page["state_schema"]) == (
        "organization",
        "RegisteredOrganizationPublic",
    )
    assert len(page["steps"]) == 2
    for step in page["steps"]:
        version = step["event"]["version"]
        # Licensing is answered for the date of that version's event, by both reads.
        at_version = client.get(f"{API}/organizations/{oid}", params={"version": version})
        assert step["state"] == expect_ok(at_version)
    assert page["steps"][1]["state"]["licensed_for_additional_education"] is True


def test_replay_reads_the_events_never_a_snapshot(client: TestClient, services: Services) -> None:
    app = services.app
    oid = register(app, f"Town {uuid4().hex[:6]}", "Museum", kind="culture", agency="culture")
    assert app.get_organization(oid).version == 2  # registered, then licensed
    # A snapshot of version 1 forged in the database (current code fingerprint, another name).
    genuine = ExactSnapshot.take(app.get_organization(oid, version=1))
    tree = genuine.state["tree"]
    tree["dict"]["name"] = "Forged name"
    assert app.snapshots is not None
    app.snapshots.put(
        [
            ExactSnapshot(
                originator_id=oid,
                originator_version=1,
                timestamp=genuine.timestamp,
                topic=genuine.topic,
                state={**genuine.state, "tree": tree},
            )
        ]
    )
    # What snapshots change: a read of a past state (snapshots are not evidence) ...
    forged = expect_ok(client.get(f"{API}/organizations/{oid}", params={"version": 1}))
    assert forged["name"] == "Forged name"
    # ... and what they never change: the replay, rebuilt from the events alone.
    page = expect_ok(client.get(replay_url(oid)))
    assert [s["state"]["name"] for s in page["steps"]] == ["Museum", "Museum"]


def test_an_unknown_id_or_an_internal_record_is_404(client: TestClient, services: Services) -> None:
    problem = assert_problem(client.get(replay_url(uuid4())), 404)
    assert "replay covers" in problem["detail"]
    oid = register(services.app, f"Town {uuid4().hex[:6]}", "Centre", licensed=False)
    index = InnIndex.id_for(services.app.get_organization(oid).inn)
    assert services.app.history(index)  # the index exists, but has no public read
    problem = assert_problem(client.get(replay_url(index)), 404)
    assert "project" in problem["detail"]


def test_a_first_version_beyond_the_last_is_404_and_names_the_last(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    problem = assert_problem(client.get(replay_url(pid), params={"from_version": 2}), 404)
    assert (problem["reason"], problem["last_version"]) == ("beyond_last_version", 1)


@pytest.mark.parametrize(
    "params",
    [{"from_version": 0}, {"limit": 0}, {"limit": 201}, {"from_version": "x"}],
)
def test_out_of_range_paging_is_422(
    client: TestClient, municipality: str, params: dict[str, object]
) -> None:
    pid = create_project(client, municipality)["id"]
    assert_problem(client.get(replay_url(pid), params=params), 422)
