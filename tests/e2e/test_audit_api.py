"""The audit log and provenance over HTTP: filters, cursor pages, refusals, why a change happened.

Reads here are sent without credentials, so the e2e client reads as an auditor (the audit
endpoints are for auditors and admins); writes are sent by officials with their own tokens.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    create_project,
    expect_ok,
    gate_body,
    history,
    official_headers,
    plan_deliverable,
    role_headers,
)
from tests.e2e.groups_helpers import (
    ATTENDING,
    FIRST_STAGE,
    STAFF,
    VOTERS,
    Group,
    approval_target,
    gate_citing,
    gate_target,
    staffed,
)
from tests.e2e.organization_helpers import register_organization

EVENTS = f"{API}/audit/events"
PROVENANCE = f"{API}/audit/provenance"
SERVICE = "804200О.99.0.ББ52АЖ48000"
YEAR = 2027
GATE_OFFICIAL = official_headers("education", actor_id="official-gate")
APPROVER = official_headers("culture", actor_id="official-approver")
REDISTRIBUTOR = official_headers("education", actor_id="uo-ivanova")


def events(client: TestClient, **params: Any) -> dict[str, Any]:
    return expect_ok(client.get(EVENTS, params=params))


def every_page(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follows next_cursor until caught up; returns the events and how many pages it took."""
    out: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = events(client, **params)
        pages += 1
        out.extend(page["events"])
        if page["caught_up"]:
            return out, pages
        assert page["next_cursor"] > params.get("after", 0)
        params["after"] = page["next_cursor"]


def submitted_project(client: TestClient, municipality: str) -> tuple[str, str]:
    """A project in stage 1 with one optional deliverable, submitted."""
    pid = str(create_project(client, municipality)["id"])
    did = str(plan_deliverable(client, pid, mandatory=False)["deliverable_id"])
    expect_ok(
        client.post(
            f"{API}/projects/{pid}/deliverables/{did}/submit",
            json={"document_ref": "agreement.pdf"},
            headers=official_headers(),
        )
    )
    return pid, did


def post(client: TestClient, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    return expect_ok(client.post(f"{API}/{path}", json=body, headers=official_headers()), status)


# -- the log: what an event says ------------------------------------------------------------


def test_each_event_answers_position_aggregate_actor_why_and_its_data(
    client: TestClient, municipality: str
) -> None:
    actor = official_headers(
        "culture", actor_id=f"official-{uuid.uuid4().hex[:8]}", request_id=f"req-{uuid.uuid4().hex}"
    )
    request_id = actor["X-Request-ID"]
    made = expect_ok(
        client.post(
            f"{API}/projects",
            json={
                "title": "Audit trail",
                "goal": "Show what an auditor sees",
                "municipality": municipality,
                "lead_agency": "education",
                "agencies": ["education", "culture"],
            },
            headers=actor,
        ),
        201,
    )

    page = events(client, correlation_id=request_id, min_position=made["position"])

    (event,) = page["events"]
    assert event["position"] == made["position"]
    assert event["aggregate_id"] == made["id"]
    assert event["aggregate_type"] == "project"
    assert event["aggregate_version"] == 1
    assert event["event_type"] == "ProjectInitiated"
    assert event["topic"] == "domain.project:InteragencyProject.ProjectInitiated"
    assert event["actor"] == {"id": actor.actor_id, "role": "official", "agency": "culture"}
    assert event["correlation_id"] == request_id
    assert event["data"]["title"] == "Audit trail"
    assert event["data"]["agencies"] == ["education", "culture"]
    (own,) = history(client, made["id"])
    assert event["time"] == own["time"]
    assert page["up_to"] >= made["position"]
    assert page["caught_up"] is True


def test_filters_select_by_type_id_actor_agency_event_type_and_time(
    client: TestClient, municipality: str
) -> None:
    sport = official_headers("sport", actor_id=f"official-{uuid.uuid4().hex[:8]}")
    pid, _ = submitted_project(client, municipality)
    other = expect_ok(
        client.post(
            f"{API}/projects",
            json={
                "title": "Another",
                "goal": "Another goal",
                "municipality": municipality,
                "lead_agency": "sport",
                "agencies": ["sport", "culture"],
            },
            headers=sport,
        ),
        201,
    )
    head = other["position"]
    actor = sport.actor_id

    by_id = events(client, aggregate_id=pid, min_position=head)["events"]
    assert [e["aggregate_version"] for e in by_id] == [1, 2, 3]
    assert [e["event_type"] for e in by_id] == [
        "ProjectInitiated",
        "DeliverablePlanned",
        "DeliverableSubmitted",
    ]
    (mine,) = events(client, actor=actor)["events"]
    assert mine["aggregate_id"] == other["id"]
    assert events(client, actor=actor, agency="education")["events"] == []
    assert [e["aggregate_id"] for e in events(client, actor=actor, agency="sport")["events"]] == [
        other["id"]
    ]
    submitted = events(client, aggregate_id=pid, event_type="DeliverableSubmitted")["events"]
    assert [e["aggregate_version"] for e in submitted] == [3]
    several = events(
        client, aggregate_id=pid, event_type=["ProjectInitiated", "DeliverableSubmitted"]
    )["events"]
    assert [e["aggregate_version"] for e in several] == [1, 3]
    assert events(client, aggregate_id=pid, aggregate_type="working_group")["events"] == []
    assert len(events(client, aggregate_id=pid, aggregate_type="project")["events"]) == 3
    # Time: from is inclusive, to exclusive.
    first, second, third = by_id
    window = events(client, aggregate_id=pid, **{"from": second["time"], "to": third["time"]})
    assert [e["position"] for e in window["events"]] == [second["position"]]
    since = events(client, aggregate_id=pid, **{"from": second["time"]})["events"]
    assert [e["position"] for e in since] == [second["position"], third["position"]]
    until = events(client, aggregate_id=pid, to=second["time"])["events"]
    assert [e["position"] for e in until] == [first["position"]]


def test_internal_records_are_shown_unless_asked_to_leave_them_out(
    client: TestClient, municipality: str
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    made = expect_ok(
        client.post(
            f"{API}/projects",
            json={
                "title": "Keyed",
                "goal": "A write with an Idempotency-Key",
                "municipality": municipality,
                "lead_agency": "education",
                "agencies": ["education", "culture"],
            },
            headers=official_headers(
                request_id=request_id, Idempotency_Key=f"key-{uuid.uuid4().hex}"
            ),
        ),
        201,
    )

    shown = events(client, correlation_id=request_id, min_position=made["position"])["events"]
    hidden = events(client, correlation_id=request_id, internal="false")["events"]

    assert [e["aggregate_type"] for e in shown] == ["idempotency_record", "project"]
    assert [e["aggregate_type"] for e in hidden] == ["project"]


def test_cursor_pages_return_each_event_once_in_order_and_say_where_to_continue(
    client: TestClient, municipality: str
) -> None:
    pid, _ = submitted_project(client, municipality)
    for n in range(3):
        plan_deliverable(client, pid, title=f"Extra {n}")
    own = [e["position"] for e in history(client, pid)]

    first = events(client, aggregate_id=pid, limit=2, min_position=own[-1])
    assert [e["position"] for e in first["events"]] == own[:2]
    assert first["next_cursor"] == own[1]
    assert first["caught_up"] is False
    paged, pages = every_page(client, aggregate_id=pid, limit=2)
    assert [e["position"] for e in paged] == own
    assert pages == 4  # 6 events in pages of 2, and the short page that says so
    # Starting from a cursor skips everything up to it.
    rest = events(client, aggregate_id=pid, after=own[3])["events"]
    assert [e["position"] for e in rest] == own[4:]


def test_the_whole_log_pages_from_the_beginning_and_holds_every_stored_event(
    client: TestClient, services: Services
) -> None:
    head = services.app.head_position()
    read, _ = every_page(client, limit=500, min_position=head)

    positions = [e["position"] for e in read]
    assert positions == sorted(set(positions))
    stored = []
    start = 1
    while True:
        batch = services.app.recorder.select_notifications(start=start, limit=1000, stop=head)
        if not batch:
            break
        stored.extend(n.id for n in batch)
        start = batch[-1].id + 1
    assert [p for p in positions if p <= head] == stored


def test_bad_cursors_limits_filters_and_time_ranges_are_refused_with_422(
    client: TestClient,
) -> None:
    for params in (
        {"after": -1},
        {"after": "abc"},
        {"after": 2**63},
        {"limit": 0},
        {"limit": 501},
        {"aggregate_id": "not-a-uuid"},
        {"agency": "police"},
        {"event_type": "Drop Table"},
        {"aggregate_type": "Project!"},
        {"from": "2027-02-01T00:00:00"},  # no UTC offset: ambiguous
        {"from": "yesterday"},
        {"actor": "x" * 201},
        {"event_type": [f"Event{n}" for n in range(21)]},  # at most 20 of a repeated filter
        {"internal": "maybe"},
    ):
        body = assert_problem(client.get(EVENTS, params=params), 422)
        assert body["type"] == "/problems/invalid-input", params

    unknown = assert_problem(client.get(EVENTS, params={"aggregate_type": "projects"}), 422)
    assert "known: " in unknown["detail"]
    assert "project" in unknown["detail"]
    inverted = assert_problem(
        client.get(EVENTS, params={"from": "2027-02-02T00:00:00Z", "to": "2027-02-01T00:00:00Z"}),
        422,
    )
    assert "time range" in inverted["detail"]
    empty = client.get(
        EVENTS, params={"from": "2027-02-01T00:00:00Z", "to": "2027-02-01T00:00:00Z"}
    )
    assert_problem(empty, 422)


def test_a_cursor_beyond_the_log_answers_an_empty_page_that_stays_put(client: TestClient) -> None:
    page = events(client, after=10**12)
    assert page["events"] == []
    assert page["next_cursor"] == 10**12


# -- provenance: a stage transition ----------------------------------------------------------


def authorised_gate(
    client: TestClient, municipality: str
) -> tuple[str, Group, str, dict[str, Any]]:
    pid, _ = submitted_project(client, municipality)
    group = staffed(client, municipality)
    minutes = group.hold_meeting([gate_target(pid)])
    passed = expect_ok(
        client.post(
            f"{API}/projects/{pid}/gate/pass",
            json={**gate_citing(minutes.decision_id), "basis_document": "Order No. 31"},
            headers=GATE_OFFICIAL,
        )
    )
    return pid, group, minutes.decision_id, passed


def assert_group_and_meeting(d: dict[str, Any], group: Group, municipality: str) -> None:
    """The decision's group, its meeting and protocol, and who was present and how they voted."""
    assert d["group"]["group_id"] == group.id
    assert d["group"]["kind"] == "interagency"
    assert d["group"]["name"].startswith("Interagency working group")
    assert d["group"]["basis_act"] == "Resolution of the administration No. 215 of 2027-01-10"
    assert d["group"]["municipality"] == municipality
    meeting = d["meeting"]
    assert meeting["held_on"] == "2027-02-03"
    assert meeting["agenda_item"] == "1"
    assert meeting["agenda_title"] == "Stage 1 results"
    assert meeting["protocol_number"] == "1"
    assert meeting["signed_at"] is not None
    assert [m["position"] for m in meeting["signed_by"]] == ["chair", "secretary"]
    present = {m["person"]: m for m in meeting["present"]}
    assert set(present) == {f"Person {label}" for label in ATTENDING}
    for label in ATTENDING:
        agency, position, voting = STAFF[label]
        m = present[f"Person {label}"]
        assert (m["agency"], m["position"], m["voting"]) == (agency, position, voting)
        assert m["member_id"] == group.members[label]
        assert m["organization"] == f"Office of {agency}"
        assert m["vote"] == ("for" if label in VOTERS else None)


def test_a_stage_transition_is_explained_by_its_decision_votes_group_and_members_present(
    client: TestClient, municipality: str
) -> None:
    pid, group, decision_id, passed = authorised_gate(client, municipality)

    answer = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}"))

    change = answer["change"]
    assert change["kind"] == "stage_transition"
    assert change["event_type"] == "StageGatePassed"
    assert change["aggregate_type"] == "project"
    assert change["aggregate_id"] == pid
    assert change["position"] == passed["position"]
    assert change["version"] == passed["version"]
    assert change["actor"] == {
        "id": GATE_OFFICIAL.actor_id,
        "role": "official",
        "agency": "education",
    }
    assert change["basis_document"] == "Order No. 31"
    assert change["reason"] == gate_citing(decision_id)["reason"]
    assert change["data"]["stage"] == FIRST_STAGE
    assert change["data"]["decision_id"] == decision_id
    assert change["correlation_id"]
    assert answer["note"] is None

    d = answer["decision"]
    assert d["decision_id"] == decision_id
    assert d["text"] == "Stage 1 is done; the project moves to stage 2"
    assert d["protocol_number"] == "1"
    assert d["adopted"] is True
    assert d["adopted_on"] == "2027-02-03"
    assert d["superseded_by"] is None
    assert d["targets"] == [
        {
            "kind": "project_gate",
            "project_id": pid,
            "stage": FIRST_STAGE,
            "deliverable_id": None,
            "redistribution_ref": None,
        }
    ]
    votes = d["votes"]
    assert (votes["votes_for"], votes["votes_against"], votes["abstentions"]) == (3, 0, 0)
    assert votes["adopted"] is True
    assert votes["quorum_needed"] == 3
    assert votes["voting_members"] == 4
    assert votes["present_voting"] == 3
    assert votes["majority_rule"] == "simple"
    assert {(v["person"], v["vote"]) for v in votes["by_member"]} == {
        (f"Person {label}", "for") for label in VOTERS
    }
    assert_group_and_meeting(d, group, municipality)


def test_a_decision_corrected_after_the_change_is_still_shown_with_a_note(
    client: TestClient, municipality: str
) -> None:
    pid, group, decision_id, _ = authorised_gate(client, municipality)
    correction = group.hold_meeting(
        [gate_target(pid)],
        held_on="2027-03-01",
        protocol="2",
        text="Decision 1 is restated",
        corrects=decision_id,
    ).decision_id

    answer = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}"))

    assert answer["decision"]["decision_id"] == decision_id
    assert answer["decision"]["superseded_by"] == correction
    assert correction in answer["note"]
    assert "in force when the change was made" in answer["note"]


def test_a_gate_passed_without_a_decision_says_so(client: TestClient, municipality: str) -> None:
    pid, did = submitted_project(client, municipality)
    expect_ok(
        client.post(
            f"{API}/projects/{pid}/deliverables/{did}/approve",
            json={},
            headers=official_headers(),
        )
    )
    expect_ok(
        client.post(
            f"{API}/projects/{pid}/gate/pass", json=gate_body(1), headers=official_headers()
        )
    )

    answer = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}"))

    assert answer["decision"] is None
    assert "no recorded working-group decision" in answer["note"]
    assert "WG-2027/01 item 2" in answer["note"]
    assert answer["change"]["decision_ref"] == "WG-2027/01 item 2"
    assert answer["change"]["basis_document"] == "Order No. 101"

    approval = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/deliverables/{did}"))
    assert approval["decision"] is None
    assert "none was cited" in approval["note"]


def test_a_transition_that_never_happened_is_404_and_a_bad_stage_422(
    client: TestClient, municipality: str
) -> None:
    pid, _ = submitted_project(client, municipality)
    not_yet = assert_problem(client.get(f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}"), 404)
    assert "has not passed the gate of stage 1" in not_yet["detail"]
    assert_problem(client.get(f"{PROVENANCE}/projects/{uuid.uuid4()}/stages/{FIRST_STAGE}"), 404)
    assert_problem(client.get(f"{PROVENANCE}/projects/{pid}/stages/stage_five"), 422)
    assert_problem(client.get(f"{PROVENANCE}/projects/not-a-uuid/stages/{FIRST_STAGE}"), 422)
    # A working group's id names no project.
    group = staffed(client, municipality)
    assert_problem(client.get(f"{PROVENANCE}/projects/{group.id}/stages/{FIRST_STAGE}"), 404)


# -- provenance: a deliverable approval --------------------------------------------------------


def test_a_deliverable_approval_is_explained_by_its_decision(
    client: TestClient, municipality: str
) -> None:
    pid, did = submitted_project(client, municipality)
    group = staffed(client, municipality, project_id=pid)
    # A split vote: adopted by 2 for, 1 against, with one abstention.
    meeting_id = group.meeting()
    group.attend(meeting_id, ("chair", "secretary", "sport", "teacher"))
    motion = group.vote(
        meeting_id, {"chair": "for", "secretary": "for", "sport": "against", "teacher": "abstain"}
    )
    decision_id = group.decide(
        meeting_id,
        motion["motion_id"],
        [approval_target(pid, did)],
        text="The deliverable is approved",
    )
    group.sign(meeting_id)
    approved = expect_ok(
        client.post(
            f"{API}/projects/{pid}/deliverables/{did}/approve",
            json={"decision_id": decision_id},
            headers=APPROVER,
        )
    )

    answer = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/deliverables/{did}"))

    assert answer["change"]["kind"] == "deliverable_approval"
    assert answer["change"]["event_type"] == "DeliverableApproved"
    assert answer["change"]["position"] == approved["position"]
    assert answer["change"]["actor"]["id"] == APPROVER.actor_id
    assert answer["change"]["actor"]["agency"] == "culture"
    assert answer["change"]["data"]["deliverable_id"] == did
    assert answer["decision"]["decision_id"] == decision_id
    assert answer["decision"]["text"] == "The deliverable is approved"
    assert answer["decision"]["group"]["project_id"] == pid
    votes = answer["decision"]["votes"]
    assert (votes["votes_for"], votes["votes_against"], votes["abstentions"]) == (2, 1, 1)
    assert {v["person"]: v["vote"] for v in votes["by_member"]} == {
        "Person chair": "for",
        "Person secretary": "for",
        "Person sport": "against",
        "Person teacher": "abstain",
    }
    present = answer["decision"]["meeting"]["present"]
    assert [m["person"] for m in present] == [
        "Person chair",
        "Person secretary",
        "Person sport",
        "Person teacher",
    ]


def test_an_approval_that_never_happened_is_404(client: TestClient, municipality: str) -> None:
    pid, did = submitted_project(client, municipality)
    pending = assert_problem(client.get(f"{PROVENANCE}/projects/{pid}/deliverables/{did}"), 404)
    assert "has not been approved" in pending["detail"]
    unknown = assert_problem(
        client.get(f"{PROVENANCE}/projects/{pid}/deliverables/{uuid.uuid4()}"), 404
    )
    assert "has no deliverable" in unknown["detail"]
    assert_problem(client.get(f"{PROVENANCE}/projects/{uuid.uuid4()}/deliverables/{did}"), 404)


# -- provenance: a redistribution ------------------------------------------------------------


def assignment(client: TestClient, municipality: str, institution: str) -> str:
    body = {
        "organization_id": register_organization(client),
        "institution": institution,
        "agency": "education",
        "founder": "Управление образования",
        "municipality": municipality,
        "fiscal_year": YEAR,
        "lines": [
            {
                "registry_number": SERVICE,
                "service_name": "Реализация дополнительных общеразвивающих программ",
                "direction": "technical",
                "unit": "person_hours",
                "planned": {str(YEAR): "1000"},
                "allowed_deviation_pct": "5",
                "normative_cost": "100.00",
            }
        ],
    }
    aid = str(post(client, "assignments", body, 201)["id"])
    post(client, f"assignments/{aid}/approve", {"basis_document": "Приказ № 12"}, 200)
    return aid


def redistribute(
    client: TestClient, municipality: str, decision_id: str | None = None
) -> dict[str, Any]:
    a = assignment(client, municipality, "МБУ ДО «ЦДТ»")
    b = assignment(client, municipality, "МБУ ДО «ДЮСШ»")
    body: dict[str, Any] = {
        "registry_number": SERVICE,
        "unit": "person_hours",
        "year": YEAR,
        "legs": [{"assignment_id": a, "delta": "-100"}, {"assignment_id": b, "delta": "100"}],
        "reason": "Недовыполнение в первом полугодии",
    }
    if decision_id is not None:
        body["decision_id"] = decision_id
    response = client.post(
        f"{API}/redistributions",
        json=body,
        headers=REDISTRIBUTOR,
    )
    return expect_ok(response, 201)


def test_a_redistribution_is_explained_by_its_decision(
    client: TestClient, municipality: str
) -> None:
    group = staffed(client, municipality)
    decision_id = group.hold_meeting(
        [{"kind": "assignment_redistribution", "redistribution_ref": "Volumes of 2027"}],
        text="Move 100 person-hours to the sports school",
    ).decision_id
    moved = redistribute(client, municipality, decision_id)

    answer = expect_ok(client.get(f"{PROVENANCE}/redistributions/{moved['id']}"))

    change = answer["change"]
    assert change["kind"] == "redistribution"
    assert change["aggregate_type"] == "redistribution"
    assert change["event_type"] == "RedistributionRecorded"
    assert change["aggregate_id"] == moved["id"]
    assert change["position"] == moved["position"]
    assert change["actor"]["id"] == REDISTRIBUTOR.actor_id
    assert change["reason"] == "Недовыполнение в первом полугодии"
    assert change["decision_ref"] == decision_id
    assert sorted(leg["delta"] for leg in change["data"]["legs"]) == ["-100", "100"]
    d = answer["decision"]
    assert d["decision_id"] == decision_id
    assert d["text"] == "Move 100 person-hours to the sports school"
    assert d["targets"][0]["redistribution_ref"] == "Volumes of 2027"
    assert d["group"]["group_id"] == group.id
    assert d["votes"]["votes_for"] == 3


def test_a_redistribution_without_a_decision_says_so_and_unknown_ones_are_404(
    client: TestClient, municipality: str
) -> None:
    moved = redistribute(client, municipality)

    answer = expect_ok(client.get(f"{PROVENANCE}/redistributions/{moved['id']}"))

    assert answer["decision"] is None
    assert "none was cited" in answer["note"]
    assert answer["change"]["position"] == moved["position"]
    assert_problem(client.get(f"{PROVENANCE}/redistributions/{uuid.uuid4()}"), 404)
    # A project's id names no redistribution.
    pid = create_project(client, municipality)["id"]
    assert_problem(client.get(f"{PROVENANCE}/redistributions/{pid}"), 404)


def test_provenance_and_the_audit_log_show_the_same_change(
    client: TestClient, municipality: str
) -> None:
    pid, _, _, passed = authorised_gate(client, municipality)
    change = expect_ok(client.get(f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}"))["change"]

    (logged,) = events(
        client, aggregate_id=pid, event_type="StageGatePassed", min_position=passed["position"]
    )["events"]

    assert logged["position"] == change["position"]
    assert logged["time"] == change["time"]
    assert logged["actor"] == change["actor"]
    assert logged["data"] == change["data"]


def test_the_log_and_provenance_are_read_by_auditors_and_admins_alone(
    client: TestClient, municipality: str
) -> None:
    pid, _, _, passed = authorised_gate(client, municipality)
    reads = [
        (EVENTS, {"aggregate_id": pid, "min_position": passed["position"]}),
        (f"{PROVENANCE}/projects/{pid}/stages/{FIRST_STAGE}", {}),
    ]
    for path, params in reads:
        missing = assert_problem(client.get(path, params=params, headers=ANONYMOUS), 401)
        assert missing["reason"] == "missing"
        # Even the official who passed the gate, in their own municipality.
        for headers in (GATE_OFFICIAL, role_headers("analyst")):
            refused = assert_problem(client.get(path, params=params, headers=headers), 403)
            assert refused["rule"] == "audit_for_auditors_and_admins", path
        for role in ("auditor", "admin"):
            expect_ok(client.get(path, params=params, headers=role_headers(role)))
