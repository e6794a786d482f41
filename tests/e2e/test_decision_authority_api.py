"""A gate pass or a deliverable approval citing a decision is checked, over HTTP.

The cited decision must exist, be adopted, be in force, be in a signed protocol, belong
to a group whose scope covers the project, and (if it names what it authorises) name
this gate or this deliverable. Each refusal is a 409 naming the rule, and writes nothing.

Projects and groups of the neighbouring municipality are written by its own official (an
official writes only in their municipality); the cited decision is then checked by the
domain, not by access control.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    API,
    assert_problem,
    create_project,
    expect_ok,
    history,
    official_headers,
    plan_deliverable,
    project_body,
)
from tests.e2e.groups_helpers import (
    SECOND_STAGE,
    approval_target,
    establish,
    gate_citing,
    gate_target,
    nothing_written,
    staffed,
)


@dataclass
class Case:
    """A project in stage 1 with one submitted deliverable, and what citing does to it."""

    client: TestClient
    municipality: str
    project_id: str
    deliverable_id: str
    kind: str

    def target(self, project_id: str | None = None) -> dict[str, Any]:
        """What a decision authorising this case's command names."""
        pid = project_id or self.project_id
        if self.kind == "gate":
            return gate_target(pid)
        return approval_target(pid, self.deliverable_id)

    def cite(self, decision_id: str) -> httpx.Response:
        if self.kind == "gate":
            return self.client.post(
                f"{API}/projects/{self.project_id}/gate/pass",
                json=gate_citing(decision_id),
                headers=official_headers(),
            )
        return self.client.post(
            f"{API}/projects/{self.project_id}/deliverables/{self.deliverable_id}/approve",
            json={"decision_id": decision_id},
            headers=official_headers(),
        )

    @property
    def event(self) -> str:
        return "StageGatePassed" if self.kind == "gate" else "DeliverableApproved"

    def another_project(self, municipality: str | None = None) -> str:
        return str(create_project(self.client, municipality or self.municipality)["id"])


def new_case(client: TestClient, municipality: str, kind: str) -> Case:
    pid = create_project(client, municipality)["id"]
    # Optional, so that the gate can pass on the decision alone once approved or not.
    did = plan_deliverable(client, pid, mandatory=False)["deliverable_id"]
    expect_ok(
        client.post(
            f"{API}/projects/{pid}/deliverables/{did}/submit",
            json={"document_ref": "agreement.pdf"},
            headers=official_headers(),
        )
    )
    return Case(client, municipality, pid, did, kind)


KINDS = ["gate", "approval"]


def neighbour(municipality: str) -> str:
    return f"{municipality} (neighbour)"


def neighbours_project(client: TestClient, municipality: str) -> str:
    """A project of the neighbouring municipality, initiated by an official of it."""
    elsewhere = neighbour(municipality)
    response = client.post(
        f"{API}/projects",
        json=project_body(elsewhere),
        headers=official_headers(municipality=elsewhere),
    )
    return str(expect_ok(response, 201)["id"])


# -- the decision that authorises ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_adopted_signed_decision_of_the_municipalitys_group_authorises_the_command(
    client: TestClient, municipality: str, kind: str
) -> None:
    case = new_case(client, municipality, kind)
    decision_id = staffed(client, municipality).hold_meeting([case.target()]).decision_id

    response = case.cite(decision_id)

    answer = expect_ok(response)
    (event,) = [e for e in history(client, case.project_id) if e["type"] == case.event]
    assert event["version"] == answer["version"]
    assert event["data"]["decision_id"] == decision_id
    assert event["decision_ref"] == decision_id


@pytest.mark.parametrize("kind", KINDS)
def test_a_decision_of_a_group_scoped_to_the_project_authorises_the_command(
    client: TestClient, municipality: str, kind: str
) -> None:
    case = new_case(client, municipality, kind)
    g = staffed(client, municipality, project_id=case.project_id)
    decision_id = g.hold_meeting([case.target()]).decision_id

    expect_ok(case.cite(decision_id))


def test_a_decision_that_names_no_target_authorises_any_command_in_its_groups_scope(
    client: TestClient, municipality: str
) -> None:
    case = new_case(client, municipality, "approval")
    decision_id = staffed(client, municipality).hold_meeting([]).decision_id

    expect_ok(case.cite(decision_id))
    case.kind = "gate"
    expect_ok(case.cite(decision_id))


def test_an_explicit_decision_ref_is_kept_next_to_the_cited_decision_id(
    client: TestClient, municipality: str
) -> None:
    case = new_case(client, municipality, "gate")
    decision_id = staffed(client, municipality).hold_meeting([case.target()]).decision_id

    expect_ok(
        client.post(
            f"{API}/projects/{case.project_id}/gate/pass",
            json={**gate_citing(decision_id), "decision_ref": "Protocol No. 1, item 1"},
            headers=official_headers(),
        )
    )

    (event,) = [e for e in history(client, case.project_id) if e["type"] == "StageGatePassed"]
    assert event["decision_ref"] == "Protocol No. 1, item 1"
    assert event["data"]["decision_id"] == decision_id


def test_a_correction_whose_motion_failed_leaves_the_old_decision_in_force(
    client: TestClient, municipality: str
) -> None:
    case = new_case(client, municipality, "gate")
    g = staffed(client, municipality)
    old = g.hold_meeting([case.target()], held_on="2027-02-03", protocol="1")
    failed = g.hold_meeting(
        [case.target()], held_on="2027-03-03", protocol="2", adopted=False, corrects=old.decision_id
    )

    decisions = {d["id"]: d for d in g.get()["decisions"]}
    assert decisions[old.decision_id]["superseded_by"] is None
    assert decisions[failed.decision_id]["corrects"] == old.decision_id
    row = expect_ok(
        client.get(
            f"{API}/decisions/{old.decision_id}",
            params={"min_position": failed.last["position"]},
        )
    )
    assert row["superseded_by"] is None
    expect_ok(case.cite(old.decision_id))


# -- every way a cited decision can fail to authorise ----------------------------------------


def unknown(case: Case) -> str:
    return str(uuid.uuid4())


def failed_motion(case: Case) -> str:
    g = staffed(case.client, case.municipality)
    return g.hold_meeting([case.target()], adopted=False).decision_id


def unsigned_protocol(case: Case) -> str:
    g = staffed(case.client, case.municipality)
    return g.hold_meeting([case.target()], signed=False).decision_id


def corrected(case: Case) -> str:
    g = staffed(case.client, case.municipality)
    old = g.hold_meeting([case.target()], held_on="2027-02-03", protocol="1")
    g.hold_meeting([case.target()], held_on="2027-03-03", protocol="2", corrects=old.decision_id)
    return old.decision_id


def group_scoped_to_another_project(case: Case) -> str:
    other = case.another_project()
    g = staffed(case.client, case.municipality, project_id=other)
    return g.hold_meeting([case.target(other)]).decision_id


def group_of_another_municipality(case: Case) -> str:
    g = staffed(case.client, neighbour(case.municipality))
    kind = "project_gate" if case.kind == "gate" else "deliverable_approval"
    return g.hold_meeting([{"kind": kind}]).decision_id


def targets_another_project(case: Case) -> str:
    other = case.another_project()
    g = staffed(case.client, case.municipality)
    return g.hold_meeting([case.target(other)]).decision_id


def targets_another_stage_or_deliverable(case: Case) -> str:
    g = staffed(case.client, case.municipality)
    if case.kind == "gate":
        target = gate_target(case.project_id, SECOND_STAGE)
    else:
        target = approval_target(case.project_id, str(uuid.uuid4()))
    return g.hold_meeting([target]).decision_id


def targets_another_kind_of_command(case: Case) -> str:
    g = staffed(case.client, case.municipality)
    if case.kind == "gate":
        target = approval_target(case.project_id, case.deliverable_id)
    else:
        target = gate_target(case.project_id)
    return g.hold_meeting([target]).decision_id


REFUSALS: list[tuple[Callable[[Case], str], str]] = [
    (unknown, "decision_exists"),
    (failed_motion, "decision_adopted"),
    (unsigned_protocol, "decision_protocol_signed"),
    (corrected, "decision_in_force"),
    (group_scoped_to_another_project, "decision_group_covers_project"),
    (group_of_another_municipality, "decision_group_covers_project"),
    (targets_another_project, "decision_targets_match"),
    (targets_another_stage_or_deliverable, "decision_targets_match"),
    (targets_another_kind_of_command, "decision_targets_match"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("make_decision", "rule"), REFUSALS, ids=[f.__name__ for f, _ in REFUSALS])
def test_a_decision_that_does_not_authorise_is_refused_with_409_and_nothing_is_written(
    client: TestClient,
    services: Services,
    municipality: str,
    kind: str,
    make_decision: Callable[[Case], str],
    rule: str,
) -> None:
    case = new_case(client, municipality, kind)
    decision_id = make_decision(case)
    before = expect_ok(client.get(f"{API}/projects/{case.project_id}"))

    with nothing_written(services):
        response = case.cite(decision_id)

    problem = assert_problem(response, 409)
    assert problem["type"] == "/problems/rule-violated"
    assert problem["rule"] == rule
    assert decision_id in problem["detail"]
    after = expect_ok(client.get(f"{API}/projects/{case.project_id}"))
    assert after["version"] == before["version"]
    assert after["active_stage"] == before["active_stage"] == "social_ties_program"
    assert case.event not in [e["type"] for e in history(client, case.project_id)]


# -- what a decision may name when it is recorded -------------------------------------------------


def test_a_decision_cannot_target_a_project_outside_its_groups_scope(
    client: TestClient, services: Services, municipality: str
) -> None:
    elsewhere = neighbours_project(client, municipality)
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    g.attend(meeting_id)
    motion = g.vote(meeting_id)
    version = g.version()

    for target, rule in [
        (gate_target(elsewhere), "decision_target_in_scope"),
        (gate_target(str(uuid.uuid4())), "referenced_project_exists"),
    ]:
        with nothing_written(services):
            response = g.raw(
                f"meetings/{meeting_id}/decisions",
                {
                    "protocol_number": "1",
                    "text": "Pass the neighbour's gate",
                    "motion_id": motion["motion_id"],
                    "mechanism": "working_groups",
                    "targets": [target],
                },
            )
        assert assert_problem(response, 409)["rule"] == rule

    assert g.version() == version
    assert g.get()["decisions"] == []


def test_a_group_scoped_to_a_project_of_another_municipality_is_refused(
    client: TestClient, services: Services, municipality: str
) -> None:
    elsewhere = neighbours_project(client, municipality)
    founder = official_headers()
    assert founder.actor_id  # minted before nothing_written counts

    with nothing_written(services):
        response = client.post(
            f"{API}/working-groups",
            json={
                "kind": "working",
                "name": "Out of area",
                "basis_act": "Order No. 1",
                "municipality": municipality,
                "project_id": elsewhere,
            },
            headers=founder,
        )

    assert assert_problem(response, 409)["rule"] == "group_project_in_municipality"
    # A group of the project's own municipality may serve it.
    establish(client, neighbour(municipality), project_id=elsewhere)
