"""Working groups over HTTP: a whole meeting, its refusals, and every read of the register.

Writes answer their log ``position``; the projection reads that follow pass it as
``min_position`` and must already show the write: no sleeps, no retries.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    command,
    create_project,
    expect_ok,
    history,
    official_headers,
    role_headers,
)
from tests.e2e.groups_helpers import (
    ATTENDING,
    FIRST_STAGE,
    SECOND_STAGE,
    Group,
    establish,
    gate_citing,
    gate_target,
    group_body,
    member_body,
    nothing_written,
    staffed,
)

UNKNOWN = "0b9c7a52-3c1e-4f0e-9a57-6b0d7a1c2e33"


def ids(rows: list[dict[str, Any]], key: str = "decision_id") -> set[str]:
    return {r[key] for r in rows}


def get_at(client: TestClient, path: str, at: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A projection read that must already reflect the write ``at`` answered with."""
    response = client.get(f"{API}{path}", params={**params, "min_position": at["position"]})
    body = expect_ok(response)
    assert int(response.headers["X-Projection-Position"]) >= at["position"]
    return body


def all_pages(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, page by page."""
    items: list[dict[str, Any]] = []
    while True:
        page = expect_ok(
            client.get(f"{API}{path}", params={**params, "limit": 200, "offset": len(items)})
        )
        items.extend(page["items"])
        if len(items) >= page["total"] or not page["items"]:
            return items


# -- the whole meeting flow --------------------------------------------------------------


def test_a_group_meets_votes_decides_signs_and_its_decision_passes_a_project_gate(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]

    # Established: 201 with Location and the first version as ETag.
    response = client.post(
        f"{API}/working-groups", json=group_body(municipality), headers=official_headers()
    )
    created = expect_ok(response, 201)
    assert response.headers["Location"] == f"{API}/working-groups/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    g = Group(client, created["id"])

    # Five members of four agencies: each appointment answers the member's id.
    g.staff()
    assert g.last["version"] == 6
    assert len(set(g.members.values())) == 5

    # A meeting with an agenda; 3 of the 4 voting members come, and the non-voting one.
    meeting_id = g.meeting("2027-02-03", ["Stage 1 results", "Any other business"])
    g.attend(meeting_id, ATTENDING)

    # The vote: 201 with the outcome, the tallies and the quorum numbers.
    motion = g.vote(meeting_id, {"chair": "for", "secretary": "for", "sport": "abstain"})
    assert motion["id"] == g.id
    assert motion["version"] == 9
    assert motion["adopted"] is True
    assert (motion["votes_for"], motion["votes_against"], motion["abstentions"]) == (2, 0, 1)
    assert (motion["quorum_needed"], motion["present_voting"]) == (3, 3)

    # The protocol's decision names what it authorises; its Location is the register entry.
    response = g.raw(
        f"meetings/{meeting_id}/decisions",
        {
            "protocol_number": "WG-7",
            "text": "Stage 1 is done; the project moves to stage 2",
            "motion_id": motion["motion_id"],
            "mechanism": "working_groups",
            "targets": [gate_target(pid)],
        },
    )
    decided = expect_ok(response, 201)
    decision_id = decided["created_id"]
    assert response.headers["Location"] == f"{API}/decisions/{decision_id}"
    signed = g.sign(meeting_id, "WG-7")
    assert signed["version"] == 11

    # The gate passes on the decision alone; the project's history cites it.
    gate = command(client, pid, "gate/pass", gate_citing(decision_id))
    assert gate["version"] == 2
    passed = next(e for e in history(client, pid) if e["type"] == "StageGatePassed")
    assert passed["data"]["decision_id"] == decision_id
    assert passed["data"]["stage"] == FIRST_STAGE
    assert passed["decision_ref"] == decision_id
    project = expect_ok(client.get(f"{API}/projects/{pid}"))
    assert project["active_stage"] == SECOND_STAGE

    assert_the_group_shows_everything(g, meeting_id, motion, decision_id, pid)
    assert_the_group_history_lists_every_step(g)
    assert_the_projections_read_the_meeting_back(g, meeting_id, decision_id, pid, signed)


def assert_the_group_shows_everything(
    g: Group, meeting_id: str, motion: dict[str, Any], decision_id: str, pid: str
) -> None:
    response = g.client.get(g.url)
    body = expect_ok(response)
    assert response.headers["ETag"] == '"11"'
    assert body["version"] == 11
    assert (body["kind"], body["status"], body["majority_rule"]) == (
        "interagency",
        "active",
        "simple",
    )
    assert body["quorum"] == "more than 1/2 of the voting members"
    members = {m["id"]: m for m in body["members"]}
    assert set(members) == set(g.members.values())
    doctor = members[g.members["doctor"]]
    assert (doctor["agency"], doctor["position"], doctor["voting"]) == ("health", "member", False)
    assert members[g.members["chair"]]["position"] == "chair"
    assert members[g.members["secretary"]]["position"] == "secretary"

    (meeting,) = body["meetings"]
    assert meeting["id"] == meeting_id
    assert meeting["agenda"] == {"1": "Stage 1 results", "2": "Any other business"}
    assert meeting["present"] == sorted(g.members[label] for label in ATTENDING)
    assert meeting["attendance_recorded"] is True
    assert meeting["protocol_number"] == "WG-7"
    assert meeting["signed_at"] is not None
    assert meeting["signed_by"] == [g.members["chair"], g.members["secretary"]]
    assert meeting["decisions"] == [decision_id]
    (voted,) = meeting["motions"]
    assert voted["id"] == motion["motion_id"]
    assert voted["votes"] == {
        g.members["chair"]: "for",
        g.members["secretary"]: "for",
        g.members["sport"]: "abstain",
    }
    assert (voted["voting_members"], voted["present_voting"], voted["quorum_needed"]) == (4, 3, 3)

    (decision,) = body["decisions"]
    assert decision["id"] == decision_id
    assert decision["adopted"] is True
    assert decision["superseded_by"] is None
    assert decision["corrects"] is None
    assert decision["agenda_item"] == "1"
    assert decision["targets"] == [
        {
            "kind": "project_gate",
            "project_id": pid,
            "stage": FIRST_STAGE,
            "deliverable_id": None,
            "redistribution_ref": None,
        }
    ]
    assert body["action_items"] == []


def assert_the_group_history_lists_every_step(g: Group) -> None:
    events = expect_ok(g.client.get(f"{g.url}/history"))["events"]
    assert [e["type"] for e in events] == [
        "GroupEstablished",
        *["MemberAppointed"] * 5,
        "MeetingScheduled",
        "AttendanceRecorded",
        "MotionVoted",
        "DecisionRecorded",
        "ProtocolSigned",
    ]
    assert [e["version"] for e in events] == list(range(1, 12))
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert all(e["actor"]["id"] == official_headers().actor_id for e in events)
    assert events[-1]["data"]["signed_by"] == [g.members["chair"], g.members["secretary"]]


def assert_the_projections_read_the_meeting_back(
    g: Group, meeting_id: str, decision_id: str, pid: str, at: dict[str, Any]
) -> None:
    client = g.client
    # The roster: current members ordered by agency, then chair, deputy, secretary, member.
    roster = get_at(client, f"/working-groups/{g.id}/roster", at)
    assert [m["id"] for m in roster["members"]] == [
        g.members[label] for label in ("secretary", "chair", "teacher", "doctor", "sport")
    ]
    assert roster["by_agency"] == {"culture": 1, "education": 2, "health": 1, "sport": 1}
    assert roster["by_position"] == {"chair": 1, "secretary": 1, "member": 3}
    assert roster["position"] >= at["position"]

    # Meetings: attendance counts everyone present, quorum only the voting members.
    (meeting,) = get_at(client, f"/working-groups/{g.id}/meetings", at)["meetings"]
    assert meeting["meeting_id"] == meeting_id
    assert (meeting["members_total"], meeting["present"]) == (5, 4)
    assert (meeting["voting_members"], meeting["present_voting"]) == (4, 3)
    assert meeting["quorum_needed"] == 3
    assert meeting["quorum_met"] is True
    assert meeting["attendance_rate"] == 80.0
    assert meeting["protocol_number"] == "WG-7"
    assert meeting["signed_at"] is not None
    assert (meeting["motions"], meeting["decisions"]) == (1, 1)

    # The register: the decision with its votes, signed, under the project it targets.
    register = get_at(client, "/decisions", at, group_id=g.id)
    assert register["total"] == 1
    (row,) = register["items"]
    assert row["decision_id"] == decision_id
    assert row["votes"] == {
        g.members["chair"]: "for",
        g.members["secretary"]: "for",
        g.members["sport"]: "abstain",
    }
    assert (row["votes_for"], row["votes_against"], row["abstentions"]) == (2, 0, 1)
    assert (row["quorum_needed"], row["present_voting"]) == (3, 3)
    assert row["adopted"] is True
    assert row["signed"] is True
    assert row["project_ids"] == [pid]
    assert row["held_on"] == "2027-02-03"
    assert row["protocol_number"] == "WG-7"
    assert row["motion_text"] == "Recognise stage 1 as done and move to stage 2"
    assert get_at(client, f"/decisions/{decision_id}", at) == row

    # The group list of the municipality.
    listed = get_at(client, "/working-groups", at, municipality=g.get()["municipality"])
    assert [item["id"] for item in listed["items"]] == [g.id]
    assert listed["items"][0]["version"] == 11


# -- quorum ---------------------------------------------------------------------------------


def test_a_vote_without_quorum_answers_409_naming_both_numbers_and_writes_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    # Only 2 of the 4 voting members come; the non-voting member does not make quorum.
    g.attend(meeting_id, ("chair", "secretary", "doctor"))
    version = g.version()

    with nothing_written(services):
        response = g.raw(
            f"meetings/{meeting_id}/motions",
            g.motion_body({"chair": "for", "secretary": "for"}),
        )
    problem = assert_problem(response, 409)
    assert problem["type"] == "/problems/rule-violated"
    assert problem["rule"] == "quorum"
    assert problem["quorum_needed"] == 3
    assert problem["quorum_present"] == 2
    assert "3 needed" in problem["detail"]
    assert "2 voting member(s) present" in problem["detail"]
    assert g.version() == version
    assert g.get()["meetings"][0]["motions"] == []


def test_an_at_least_half_quorum_lets_half_of_the_voting_members_vote(
    client: TestClient, municipality: str
) -> None:
    g = staffed(client, municipality, quorum={"numerator": 1, "denominator": 2, "strict": False})
    meeting_id = g.meeting()
    g.attend(meeting_id, ("chair", "secretary"))

    motion = g.vote(meeting_id, {"chair": "for", "secretary": "against"})

    assert (motion["quorum_needed"], motion["present_voting"]) == (2, 2)
    # Simple majority: a tie is not adopted.
    assert motion["adopted"] is False
    assert g.get()["quorum"] == "at least 1/2 of the voting members"


# -- a signed protocol never changes --------------------------------------------------------


def test_a_signed_protocol_refuses_attendance_votes_decisions_and_a_second_signature(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    g = staffed(client, municipality)
    minutes = g.hold_meeting([gate_target(pid)])
    version = g.version()
    m = minutes.meeting_id
    attempts = {
        "attendance": {"present": [g.members["chair"], g.members["teacher"]]},
        "motions": g.motion_body({"chair": "for", "secretary": "for", "sport": "for"}, "2"),
        "decisions": {
            "protocol_number": "1",
            "text": "A changed decision",
            "motion_id": minutes.motion["motion_id"],
            "mechanism": "working_groups",
        },
        "sign": {"protocol_number": "1"},
    }

    for path, body in attempts.items():
        with nothing_written(services):
            response = g.raw(f"meetings/{m}/{path}", body)
        problem = assert_problem(response, 409)
        assert problem["rule"] == "protocol_signed_immutable", path
        assert "No. 1" in problem["detail"]

    assert g.version() == version
    meeting = g.get()["meetings"][0]
    assert meeting["decisions"] == [minutes.decision_id]
    assert len(meeting["motions"]) == 1


def test_a_correction_in_a_later_meeting_supersedes_the_old_decision_for_good(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    g = staffed(client, municipality)
    old = g.hold_meeting([gate_target(pid)], held_on="2027-02-03", protocol="1")

    # The correction is a new decision, adopted and signed in a later meeting.
    new = g.hold_meeting(
        [gate_target(pid)],
        held_on="2027-03-03",
        protocol="2",
        text="Stage 1 is done, with the museum's agreement attached",
        corrects=old.decision_id,
    )

    register = get_at(client, "/decisions", new.last, group_id=g.id)
    rows = {r["decision_id"]: r for r in register["items"]}
    assert rows[old.decision_id]["superseded_by"] == new.decision_id
    assert rows[new.decision_id]["corrects"] == old.decision_id
    assert rows[new.decision_id]["superseded_by"] is None
    decisions = {d["id"]: d for d in g.get()["decisions"]}
    assert decisions[old.decision_id]["superseded_by"] == new.decision_id

    # The old decision no longer authorises anything; the correction does.
    with nothing_written(services):
        response = client.post(
            f"{API}/projects/{pid}/gate/pass",
            json=gate_citing(old.decision_id),
            headers=official_headers(),
        )
    problem = assert_problem(response, 409)
    assert problem["rule"] == "decision_in_force"
    assert new.decision_id in problem["detail"]
    passed = command(client, pid, "gate/pass", gate_citing(new.decision_id))
    assert passed["version"] == 2


# -- membership rules -----------------------------------------------------------------------


def test_an_interagency_group_of_one_agency_cannot_hold_a_meeting_until_a_second_joins(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = establish(client, municipality)
    g.appoint("chair", "education", "chair")
    g.appoint("teacher", "education")

    with nothing_written(services):
        response = g.raw("meetings", {"held_on": "2027-02-03", "agenda": ["Plan"]})
    problem = assert_problem(response, 409)
    assert problem["rule"] == "interagency_members_from_two_agencies"
    assert "education" in problem["detail"]
    assert g.get()["meetings"] == []

    g.appoint("librarian", "culture")
    g.meeting()
    assert len(g.get()["meetings"]) == 1


def test_a_working_group_of_one_agency_may_meet(client: TestClient, municipality: str) -> None:
    g = establish(client, municipality, kind="working")
    g.appoint("chair", "education", "chair")

    g.meeting()

    assert g.get()["kind"] == "working"


def test_a_second_chair_is_refused_until_the_first_is_dismissed(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)

    with nothing_written(services):
        response = g.raw("members", member_body("rival", "sport", "chair", True))
    problem = assert_problem(response, 409)
    assert problem["rule"] == "one_chair"
    assert "Person chair" in problem["detail"]

    g.post(
        f"members/{g.members['chair']}/dismiss",
        {"dismissed_on": "2027-03-01", "reason": "Moved to another post"},
    )
    g.appoint("new chair", "sport", "chair")
    current_chairs = [
        m for m in g.get()["members"] if m["position"] == "chair" and m["dismissed_on"] is None
    ]
    assert [m["id"] for m in current_chairs] == [g.members["new chair"]]


# -- HTTP-level refusals --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/history", "/roster", "/meetings"])
def test_reading_an_unknown_group_answers_404(client: TestClient, path: str) -> None:
    problem = assert_problem(client.get(f"{API}/working-groups/{UNKNOWN}{path}"), 404)
    assert problem["type"] == "/problems/not-found"
    assert UNKNOWN in problem["detail"]


def test_commands_on_an_unknown_group_answer_404_and_write_nothing(
    client: TestClient, services: Services
) -> None:
    other = str(uuid.uuid4())
    commands = {
        "members": member_body("x", "education", "member", True),
        f"members/{other}/dismiss": {"dismissed_on": "2027-03-01", "reason": "r"},
        "meetings": {"held_on": "2027-02-03", "agenda": ["Plan"]},
        f"meetings/{other}/attendance": {"present": []},
        f"meetings/{other}/sign": {"protocol_number": "1"},
        "action-items": {"description": "d", "owner": "o", "deadline": "2027-03-01"},
        "dissolve": {"reason": "r"},
    }
    writer = official_headers()
    assert writer.actor_id  # minted before nothing_written counts
    for path, body in commands.items():
        with nothing_written(services):
            response = client.post(
                f"{API}/working-groups/{UNKNOWN}/{path}", json=body, headers=writer
            )
        problem = assert_problem(response, 404)
        assert UNKNOWN in problem["detail"], path


def test_a_project_id_that_names_a_group_is_not_a_project(
    client: TestClient, municipality: str
) -> None:
    g = establish(client, municipality)

    assert_problem(client.get(f"{API}/projects/{g.id}"), 404)
    assert_problem(
        client.get(f"{API}/working-groups/{create_project(client, municipality)['id']}"), 404
    )


def test_unknown_codes_answer_422_naming_the_field_and_write_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    g.attend(meeting_id)
    motion = g.vote(meeting_id)
    decision = {
        "protocol_number": "1",
        "text": "t",
        "motion_id": motion["motion_id"],
        "mechanism": "working_groups",
    }
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("", group_body(municipality, kind="committee"), "kind"),
        ("", group_body(municipality, majority_rule="unanimous"), "majority_rule"),
        ("", group_body(municipality, quorum={"numerator": 3, "denominator": 2}), "quorum"),
        (f"/{g.id}/members", member_body("x", "police", "member", True), "agency"),
        (f"/{g.id}/members", member_body("x", "sport", "boss", True), "position"),
        (
            f"/{g.id}/meetings/{meeting_id}/motions",
            g.motion_body({"chair": "maybe"}, "2"),
            f"votes.{g.members['chair']}",
        ),
        (
            f"/{g.id}/meetings/{meeting_id}/decisions",
            {**decision, "mechanism": "magic"},
            "mechanism",
        ),
        (
            f"/{g.id}/meetings/{meeting_id}/decisions",
            {**decision, "targets": [{"kind": "anything"}]},
            "targets.0.kind",
        ),
        (
            f"/{g.id}/meetings/{meeting_id}/decisions",
            {**decision, "targets": [{"kind": "project_gate", "stage": "stage_9"}]},
            "targets.0.stage",
        ),
    ]
    for path, body, field in cases:
        with nothing_written(services):
            response = client.post(
                f"{API}/working-groups{path}", json=body, headers=official_headers()
            )
        problem = assert_problem(response, 422)
        fields = [e["field"] for e in problem["errors"]]
        assert any(f.startswith(field) for f in fields), (field, fields)

    for path, params in [
        ("/decisions", {"mechanism": "magic"}),
        ("/decisions", {"date_from": "yesterday"}),
        ("/action-items", {"status": "late"}),
        ("/action-items", {"today": "2027-13-01"}),
    ]:
        assert_problem(client.get(f"{API}{path}", params=params), 422)


def test_writes_without_a_credential_answer_401_and_write_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    g.attend(meeting_id)
    for path, body in group_writes(g, municipality, meeting_id):
        with nothing_written(services):
            # The old actor headers name nobody any more: only a token does.
            response = client.post(
                f"{API}/working-groups{path}",
                json=body,
                headers={**ANONYMOUS, "X-Actor-Id": "uo-ivanova", "X-Actor-Role": "official"},
            )
        problem = assert_problem(response, 401)
        assert problem["type"] == "/problems/authentication-required"
        assert problem["reason"] == "missing"


def group_writes(g: Group, municipality: str, meeting_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Establishing a group, appointing a member and voting a motion (paths and bodies)."""
    return [
        ("", group_body(municipality)),
        (f"/{g.id}/members", member_body("x", "sport", "member", True)),
        (
            f"/{g.id}/meetings/{meeting_id}/motions",
            g.motion_body(dict.fromkeys(("chair", "secretary", "sport"), "for")),
        ),
    ]


def test_writes_by_a_reader_or_an_official_of_another_municipality_answer_403(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    g.attend(meeting_id)
    refused = [
        (role_headers("auditor"), "read_only_role"),
        (role_headers("analyst"), "read_only_role"),
        (
            official_headers(municipality=f"{municipality} (neighbour)"),
            "official_own_municipality",
        ),
    ]
    for headers, rule in refused:
        assert headers.actor_id  # minted before nothing_written counts
        for path, body in group_writes(g, municipality, meeting_id):
            with nothing_written(services):
                response = client.post(f"{API}/working-groups{path}", json=body, headers=headers)
            problem = assert_problem(response, 403)
            assert problem["type"] == "/problems/permission-denied"
            assert problem["rule"] == rule, (path, headers.role)
    assert g.get()["meetings"][0]["motions"] == []
    assert len(g.get()["members"]) == 5


def test_an_official_whose_agency_takes_no_part_in_the_group_cannot_write_to_it(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)  # education (convening), culture, sport, health
    meeting_id = g.meeting()
    g.attend(meeting_id)
    outsider = official_headers("youth_policy")
    assert outsider.actor_id  # minted before nothing_written counts
    version = g.version()

    for path, body in group_writes(g, municipality, meeting_id)[1:]:
        with nothing_written(services):
            response = client.post(f"{API}/working-groups{path}", json=body, headers=outsider)
        assert assert_problem(response, 403)["rule"] == "official_agency_takes_part", path
    assert g.version() == version

    # Once a member of their agency is appointed, the agency takes part and may write.
    g.appoint("youth", "youth_policy")
    g.post("members", member_body("y", "youth_policy", "member", True), 201, agency="youth_policy")
    # Any official of the municipality may establish (and so convene) a group of their own.
    establish_by_outsider = client.post(
        f"{API}/working-groups", json=group_body(municipality), headers=outsider
    )
    expect_ok(establish_by_outsider, 201)


def test_a_stale_if_match_answers_412_and_the_current_one_is_accepted(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    version = g.version()
    body = member_body("late", "youth_policy", "member", True)

    with nothing_written(services):
        response = g.raw("members", body, If_Match=f'"{version - 1}"')
    problem = assert_problem(response, 412)
    assert problem["type"] == "/problems/stale-version"
    assert problem["current_version"] == version

    accepted = g.post("members", body, 201, If_Match=f'"{version}"')
    assert accepted["version"] == version + 1


def test_a_vote_replayed_with_its_idempotency_key_answers_the_same_motion_and_writes_once(
    client: TestClient, services: Services, municipality: str
) -> None:
    g = staffed(client, municipality)
    meeting_id = g.meeting()
    g.attend(meeting_id)
    key = f"vote-{uuid.uuid4().hex}"
    body = g.motion_body({"chair": "for", "secretary": "against", "sport": "for"})

    first = g.raw(f"meetings/{meeting_id}/motions", body, Idempotency_Key=key)
    assert first.status_code == 201, first.text
    # Another motion is voted in between: the replay must still answer the first one.
    g.vote(meeting_id, agenda_item="2", text="Any other business")
    head = services.app.head_position()

    second = g.raw(f"meetings/{meeting_id}/motions", body, Idempotency_Key=key)

    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (first.json()["votes_for"], first.json()["votes_against"]) == (2, 1)
    assert services.app.head_position() == head, "the replay wrote an event"
    events = expect_ok(client.get(f"{g.url}/history"))["events"]
    voted = [e for e in events if e["type"] == "MotionVoted"]
    assert len(voted) == 2
    assert voted[0]["data"]["motion_id"] == first.json()["motion_id"]


# -- the decisions register -------------------------------------------------------------------


def test_the_register_shows_every_decision_with_its_votes_and_finds_them_by_any_filter(
    client: TestClient, municipality: str
) -> None:
    word = f"museum{uuid.uuid4().hex[:8]}"
    p1 = create_project(client, municipality)["id"]
    p2 = create_project(client, municipality)["id"]
    g1 = staffed(client, municipality)
    d1 = g1.hold_meeting(
        [gate_target(p1)],
        held_on="2027-02-03",
        protocol="1",
        text=f"Approve the {word} lessons program",
    )
    d2 = g1.hold_meeting(
        [gate_target(p2)],
        held_on="2027-04-07",
        protocol="2",
        mechanism="regulation",
        text="Adopt the regulation on shared sports halls (Положение о спортивных залах)",
        motion_text=f"Shared halls, as the {word} board proposed",
    )
    failed = g1.hold_meeting(
        [gate_target(p2)], held_on="2027-05-05", protocol="3", adopted=False, signed=False
    )
    g2 = staffed(client, municipality, project_id=p1)
    d3 = g2.hold_meeting(
        [], held_on="2027-05-05", mechanism="monitoring", text=f"Monitor {word} attendance"
    )
    at = d3.last

    def found(**params: Any) -> set[str]:
        return ids(get_at(client, "/decisions", at, **params)["items"])

    # Every decision of the group is in the register, failed and unsigned ones too.
    rows = {r["decision_id"]: r for r in get_at(client, "/decisions", at, group_id=g1.id)["items"]}
    assert set(rows) == {d1.decision_id, d2.decision_id, failed.decision_id}
    assert rows[failed.decision_id]["adopted"] is False
    assert rows[failed.decision_id]["signed"] is False
    assert (rows[failed.decision_id]["votes_for"], rows[failed.decision_id]["votes_against"]) == (
        1,
        2,
    )
    assert rows[failed.decision_id]["votes"] == {
        g1.members["chair"]: "for",
        g1.members["secretary"]: "against",
        g1.members["sport"]: "against",
    }
    for r in rows.values():
        assert set(r["votes"]) == {g1.members[label] for label in ("chair", "secretary", "sport")}

    # By project: a targeted project, or the project a group is scoped to.
    assert found(project_id=p1) == {d1.decision_id, d3.decision_id}
    assert found(project_id=p2) == {d2.decision_id, failed.decision_id}
    # By mechanism.
    assert found(project_id=p1, mechanism="monitoring") == {d3.decision_id}
    assert found(group_id=g1.id, mechanism="regulation") == {d2.decision_id}
    # By the meeting's date, both ends included.
    assert found(group_id=g1.id, date_from="2027-03-01", date_to="2027-04-30") == {d2.decision_id}
    assert found(group_id=g1.id, date_from="2027-02-03", date_to="2027-04-07") == {
        d1.decision_id,
        d2.decision_id,
    }
    assert found(group_id=g1.id, date_from="2027-05-06") == set()
    # By words of the decision or of the motion it was voted on.
    assert found(q=word) == {d1.decision_id, d2.decision_id, d3.decision_id}
    assert found(q=f"{word} lessons") == {d1.decision_id}
    assert found(group_id=g1.id, q="sports halls") == {d2.decision_id}
    assert found(group_id=g1.id, q="Спортивных залах") == {d2.decision_id}
    assert found(q=f"{word} nothing-like-this") == set()
    # Paging: the total counts every match, the page holds at most ``limit``.
    page = get_at(client, "/decisions", at, group_id=g1.id, limit=2, offset=2)
    assert page["total"] == 3
    assert ids(page["items"]) == {failed.decision_id}


def test_an_unknown_decision_answers_404(client: TestClient) -> None:
    problem = assert_problem(client.get(f"{API}/decisions/{UNKNOWN}"), 404)
    assert UNKNOWN in problem["detail"]


# -- action items -----------------------------------------------------------------------------


def test_the_overdue_action_items_are_exactly_the_open_ones_past_their_deadline(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    g = staffed(client, municipality)
    decision_id = g.hold_meeting([gate_target(pid)]).decision_id

    def assign(label: str, deadline: str) -> str:
        body = {
            "description": f"Action {label}",
            "owner": "Culture department",
            "deadline": deadline,
            "decision_id": decision_id,
        }
        return str(g.post("action-items", body, 201)["created_id"])

    late = assign("late", "2027-03-01")
    future = assign("future", "2027-03-20")
    done = assign("done", "2027-03-01")
    today_due = assign("due today", "2027-03-10")
    g.post(f"action-items/{done}/complete", {"done_on": "2027-02-28"})
    again = g.raw(f"action-items/{done}/complete", {"done_on": "2027-03-02"})
    assert assert_problem(again, 409)["rule"] == "action_item_open"
    at = g.last

    def listed(**params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_at(
            client, "/action-items", at, group_id=g.id, today="2027-03-10", **params
        )["items"]
        return items

    overdue = listed(status="overdue")
    assert [i["item_id"] for i in overdue] == [late]
    assert overdue[0]["overdue"] is True
    assert overdue[0]["decision_id"] == decision_id
    assert ids(listed(status="open"), "item_id") == {late, future, today_due}
    assert ids(listed(status="done"), "item_id") == {done}
    flags = {i["item_id"]: i["overdue"] for i in listed()}
    assert flags == {late: True, future: False, done: False, today_due: False}
    # The day decides: a day later, the item due today is overdue too.
    later = get_at(
        client, "/action-items", at, group_id=g.id, status="overdue", today="2027-03-11"
    )["items"]
    assert ids(later, "item_id") == {late, today_due}

    # Across every group: ours are there exactly when overdue.
    everywhere = ids(
        all_pages(client, "/action-items", status="overdue", today="2027-03-10"), "item_id"
    )
    assert late in everywhere
    assert not {future, done, today_due} & everywhere


def test_action_item_stats_give_each_groups_completion_rate(
    client: TestClient, municipality: str
) -> None:
    busy = staffed(client, municipality)
    items = [
        busy.post(
            "action-items",
            {"description": f"Item {n}", "owner": "Sport school", "deadline": deadline},
            201,
        )["created_id"]
        for n, deadline in enumerate(["2027-03-01", "2027-03-01", "2027-04-01", "2027-04-01"])
    ]
    busy.post(f"action-items/{items[0]}/complete", {"done_on": "2027-02-27"})
    idle = establish(client, municipality, kind="working")
    done = establish(client, municipality, kind="administrative")
    only = done.post(
        "action-items", {"description": "Once", "owner": "Library", "deadline": "2027-01-01"}, 201
    )["created_id"]
    at = done.post(f"action-items/{only}/complete", {"done_on": "2027-01-01"})

    stats = get_at(client, "/action-items/stats", at, today="2027-03-10")
    assert stats["today"] == "2027-03-10"
    by_group = {s["group_id"]: s for s in stats["groups"]}
    b = by_group[busy.id]
    assert (b["total"], b["open"], b["overdue"], b["done"]) == (4, 3, 1, 1)
    assert b["completion_rate"] == 25.0
    assert by_group[done.id]["completion_rate"] == 100.0
    assert (by_group[idle.id]["total"], by_group[idle.id]["completion_rate"]) == (0, None)
