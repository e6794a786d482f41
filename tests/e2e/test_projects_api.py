"""A project's whole life over HTTP, and every read the API offers.

Each write answers with its log ``position``; the projection reads that follow pass it as
``min_position`` and must reflect the write at once: no sleeps, no retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from api.main import create_app
from interagency.cli_principals import add_with_token
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from projections.runtime import ProjectionWorker
from tests.conftest import settings_for, wait_projected
from tests.e2e.conftest import (
    API,
    SETUP_META,
    approve_through,
    assert_problem,
    command,
    create_project,
    deliverable_body,
    expect_ok,
    gate_body,
    history,
    official_headers,
    plan_deliverable,
    project_body,
    role_headers,
)

STAGES = [
    "social_ties_program",
    "interaction_mechanisms",
    "regulatory_base",
    "interagency_projects",
]


class Recorder:
    """Sends writes and remembers, per write, the request id sent and the answer."""

    def __init__(self, client: TestClient, project_id: str | None = None) -> None:
        self.client = client
        self.project_id = project_id
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def post(
        self, path: str, body: dict[str, Any] | None = None, *, status: int = 200, **who: str
    ) -> dict[str, Any]:
        headers = official_headers(**who)
        url = f"{API}/projects" if self.project_id is None else f"{API}/projects/{self.project_id}"
        response = self.client.post(f"{url}/{path}" if path else url, json=body, headers=headers)
        answer = expect_ok(response, status)
        # Every write answers with the aggregate's new version, also as the ETag.
        assert response.headers["ETag"] == f'"{answer["version"]}"'
        assert response.headers["X-Event-Position"] == str(answer["position"])
        assert response.headers["X-Request-ID"] == headers["X-Request-ID"]
        if self.project_id is None:
            self.project_id = answer["id"]
        self.writes.append((headers["X-Request-ID"], answer))
        return answer

    def progress(self, at: dict[str, Any]) -> dict[str, Any]:
        """Progress as of a write: the projection must already reflect it."""
        response = self.client.get(
            f"{API}/projects/{self.project_id}/progress", params={"min_position": at["position"]}
        )
        body = expect_ok(response)
        assert body["position"] >= at["position"]
        assert int(response.headers["X-Projection-Position"]) >= at["position"]
        return body

    def stage(self, at: dict[str, Any], stage: str) -> dict[str, Any]:
        rows: list[dict[str, Any]] = self.progress(at)["stages"]
        return next(r for r in rows if r["stage"] == stage)


def statuses(progress: dict[str, Any]) -> list[str]:
    return [s["status"] for s in progress["stages"]]


def test_a_project_goes_through_its_four_stages_to_completion_over_http(
    client: TestClient, municipality: str
) -> None:
    rec = Recorder(client)
    initiate(rec, municipality)
    work_through_stage_one(rec)
    last = work_through_stages_two_to_four(rec)
    assert_completed(rec, municipality, last)
    assert_history_matches_the_writes(rec, last)


def initiate(rec: Recorder, municipality: str) -> None:
    """201 with Location and ETag; stage 1 is active, nothing is done yet."""
    response = rec.client.post(
        f"{API}/projects", json=project_body(municipality), headers=official_headers()
    )
    created = expect_ok(response, 201)
    rec.project_id = created["id"]
    rec.writes.append((response.request.headers["X-Request-ID"], created))
    assert response.headers["Location"] == f"{API}/projects/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    assert created["version"] == 1
    assert created["position"] > 0
    progress = rec.progress(created)
    assert [s["stage"] for s in progress["stages"]] == STAGES
    assert [s["number"] for s in progress["stages"]] == [1, 2, 3, 4]
    assert statuses(progress) == ["active", "not_started", "not_started", "not_started"]
    assert progress["status"] == "active"
    assert progress["active_stage"] == "social_ties_program"
    assert all(s["percent_complete"] == 0.0 for s in progress["stages"])


def work_through_stage_one(rec: Recorder) -> None:
    """Two mandatory deliverables and an optional one; one is rejected and resubmitted."""
    a = rec.post("deliverables", deliverable_body(title="Program of social ties"), status=201)
    b = rec.post(
        "deliverables",
        deliverable_body(title="Survey of parents", mandatory=False, mechanism="monitoring"),
        status=201,
    )
    c = rec.post("deliverables", deliverable_body(title="Policy analysis"), status=201)
    assert len({a["deliverable_id"], b["deliverable_id"], c["deliverable_id"]}) == 3
    stage1 = rec.stage(c, "social_ties_program")
    assert stage1["deliverables"] == {
        "total": 3,
        "planned": 3,
        "submitted": 0,
        "approved": 0,
        "rejected": 0,
    }
    assert (stage1["mandatory_total"], stage1["mandatory_approved"]) == (2, 0)

    # Submit, reject with a reason, resubmit, approve.
    a_id = a["deliverable_id"]
    w = rec.post(f"deliverables/{a_id}/submit", {"document_ref": "doc-1"})
    assert rec.stage(w, "social_ties_program")["deliverables"]["submitted"] == 1
    w = rec.post(f"deliverables/{a_id}/reject", {"reason": "Not agreed with the culture office"})
    assert rec.stage(w, "social_ties_program")["deliverables"]["rejected"] == 1
    w = rec.post(f"deliverables/{a_id}/submit", {"document_ref": "doc-1-rev2"})
    assert rec.stage(w, "social_ties_program")["deliverables"]["submitted"] == 1
    w = rec.post(
        f"deliverables/{a_id}/approve",
        {"reason": "Agreed by the three agencies", "decision_ref": "WG-2027/01"},
    )
    stage1 = rec.stage(w, "social_ties_program")
    assert stage1["deliverables"]["approved"] == 1
    assert stage1["percent_complete"] == 50.0

    project = expect_ok(rec.client.get(f"{API}/projects/{rec.project_id}"))
    deliverable_a = next(d for d in project["stages"][0]["deliverables"] if d["id"] == a_id)
    assert deliverable_a["state"] == "approved"
    assert deliverable_a["submissions"] == 2
    assert deliverable_a["document_ref"] == "doc-1-rev2"

    c_id = c["deliverable_id"]
    rec.post(f"deliverables/{c_id}/submit")
    w = rec.post(f"deliverables/{c_id}/approve")
    assert rec.stage(w, "social_ties_program")["percent_complete"] == 100.0

    # Gate 1 passes; the optional deliverable does not hold it back.
    w = rec.post("gate/pass", gate_body(1))
    progress = rec.progress(w)
    assert statuses(progress) == ["completed", "active", "not_started", "not_started"]
    assert progress["active_stage"] == "interaction_mechanisms"
    assert progress["stages"][0]["gate_decision_ref"] == "WG-2027/01 item 2"
    assert progress["stages"][0]["gate_basis_document"] == "Order No. 101"
    assert progress["stages"][0]["completed_at"] is not None


def work_through_stages_two_to_four(rec: Recorder) -> dict[str, Any]:
    """One mandatory deliverable each; stage 3's gate is rejected once first."""
    last: dict[str, Any] = {}
    for n, stage in enumerate(STAGES[1:], start=2):
        d = rec.post("deliverables", deliverable_body(stage, title=f"Stage {n} act"), status=201)
        rec.post(f"deliverables/{d['deliverable_id']}/submit")
        w = rec.post(f"deliverables/{d['deliverable_id']}/approve")
        assert rec.stage(w, stage)["percent_complete"] == 100.0
        if stage == "regulatory_base":
            w = rec.post(
                "gate/reject", {"reason": "The agreement template is missing", "decision_ref": "X"}
            )
            assert rec.stage(w, stage)["gate_rejections"] == 1
            assert rec.stage(w, stage)["status"] == "active"
        last = rec.post("gate/pass", gate_body(n))
        if n < 4:
            assert rec.progress(last)["active_stage"] == STAGES[n]
    return last


def assert_completed(rec: Recorder, municipality: str, last: dict[str, Any]) -> None:
    """Every stage completed at 100 %, no active stage: in progress, project and list."""
    progress = rec.progress(last)
    assert progress["status"] == "completed"
    assert progress["active_stage"] is None
    assert statuses(progress) == ["completed"] * 4
    assert [s["percent_complete"] for s in progress["stages"]] == [100.0] * 4
    assert all(s["duration_seconds"] is not None for s in progress["stages"])

    project_response = rec.client.get(f"{API}/projects/{rec.project_id}")
    project = expect_ok(project_response)
    assert project["status"] == "completed"
    assert project["active_stage"] is None
    assert project["version"] == last["version"]
    assert project_response.headers["ETag"] == f'"{last["version"]}"'
    assert [s["status"] for s in project["stages"]] == ["completed"] * 4
    assert project["stages"][2]["gate_rejections"] == 1
    assert project["stages"][3]["gate"]["decision_ref"] == "WG-2027/04 item 2"

    listed = expect_ok(
        rec.client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": last["position"]},
        )
    )
    assert listed["total"] == 1
    summary = listed["items"][0]
    assert summary["id"] == rec.project_id
    assert summary["status"] == "completed"
    assert summary["active_stage"] is None
    assert summary["stages_completed"] == 4
    assert summary["deliverables_total"] == 6
    assert summary["deliverables_approved"] == 5
    assert summary["gate_rejections"] == 1
    assert summary["version"] == last["version"]
    assert summary["completed_at"] is not None


def assert_history_matches_the_writes(rec: Recorder, last: dict[str, Any]) -> None:
    """One entry per event; each write's request id is its last event's correlation id."""
    assert rec.project_id is not None
    events = history(rec.client, rec.project_id)
    assert [e["version"] for e in events] == list(range(1, last["version"] + 1))
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert events[0]["type"] == "ProjectInitiated"
    assert [e["type"] for e in events[-2:]] == ["StageGatePassed", "ProjectCompleted"]
    # The last gate wrote two events in one request: both carry its request id.
    assert events[-1]["correlation_id"] == events[-2]["correlation_id"]
    by_version = {e["version"]: e for e in events}
    for request_id, answer in rec.writes:
        event = by_version[answer["version"]]
        assert event["position"] == answer["position"]
        assert event["correlation_id"] == request_id
        # The actor is the principal the token proves (its id), not a name the client sent.
        assert event["actor"] == {
            "id": official_headers().actor_id,
            "role": "official",
            "agency": "education",
        }
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


def test_history_records_who_why_and_which_request_for_each_event(
    client: TestClient, municipality: str
) -> None:
    rec = Recorder(client)
    created = rec.post(
        "",
        project_body(municipality),
        status=201,
        agency="culture",
        actor_id="ivanova",
        request_id="req-initiate-1",
    )
    planned = rec.post(
        "deliverables",
        deliverable_body(title="Regulation of the working group"),
        status=201,
        actor_id="petrov",
        request_id="req-plan-1",
    )
    d_id = planned["deliverable_id"]
    rec.post(f"deliverables/{d_id}/submit", {"document_ref": "doc-77"}, request_id="req-sub-1")
    # An auditor may not decide: refused, and nothing of the attempt enters the history.
    refused = client.post(
        f"{API}/projects/{created['id']}/deliverables/{d_id}/reject",
        json={"reason": "Signatures are missing"},
        headers=role_headers("auditor", actor_id="auditor-kuznetsova", request_id="req-aud-1"),
    )
    assert assert_problem(refused, 403)["rule"] == "read_only_role"
    rec.post(
        f"deliverables/{d_id}/reject",
        {"reason": "Signatures are missing"},
        actor_id="sidorov",
        agency="sport",
        request_id="req-rej-1",
    )
    rec.post(f"deliverables/{d_id}/submit", request_id="req-sub-2")
    rec.post(
        f"deliverables/{d_id}/approve",
        {"reason": "Signed", "decision_ref": "Protocol 7", "basis_document": "Order 12"},
        request_id="req-app-1",
    )
    passed = rec.post(
        "gate/pass",
        {"reason": "Stage done", "decision_ref": "WG protocol 3", "basis_document": "Order 9"},
        request_id="req-gate-1",
    )
    events = history(client, created["id"])
    assert [e["type"] for e in events] == [
        "ProjectInitiated",
        "DeliverablePlanned",
        "DeliverableSubmitted",
        "DeliverableRejected",
        "DeliverableSubmitted",
        "DeliverableApproved",
        "StageGatePassed",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert events[-1]["position"] == passed["position"]
    assert [e["correlation_id"] for e in events] == [
        "req-initiate-1",
        "req-plan-1",
        "req-sub-1",
        "req-rej-1",
        "req-sub-2",
        "req-app-1",
        "req-gate-1",
    ]
    initiated, planned_e, submitted, rejected, _, approved, gate = events
    ivanova = official_headers("culture", actor_id="ivanova").actor_id
    petrov = official_headers(actor_id="petrov").actor_id
    sidorov = official_headers("sport", actor_id="sidorov").actor_id
    assert len({ivanova, petrov, sidorov}) == 3
    assert initiated["actor"] == {"id": ivanova, "role": "official", "agency": "culture"}
    assert initiated["data"]["municipality"] == municipality
    assert initiated["data"]["agencies"] == ["education", "culture", "sport"]
    assert planned_e["actor"] == {"id": petrov, "role": "official", "agency": "education"}
    assert planned_e["data"]["deliverable_id"] == d_id
    assert planned_e["data"]["stage"] == "social_ties_program"
    assert planned_e["data"]["due_date"] == "2027-03-01"
    assert submitted["data"] == {"deliverable_id": d_id, "document_ref": "doc-77"}
    assert rejected["actor"] == {"id": sidorov, "role": "official", "agency": "sport"}
    assert rejected["reason"] == "Signatures are missing"
    assert approved["reason"] == "Signed"
    assert approved["decision_ref"] == "Protocol 7"
    assert approved["basis_document"] == "Order 12"
    assert gate["reason"] == "Stage done"
    assert gate["decision_ref"] == "WG protocol 3"
    assert gate["basis_document"] == "Order 9"
    assert gate["data"] == {
        "stage": "social_ties_program",
        "next_stage": "interaction_mechanisms",
        "decision_id": None,
    }
    # The event's meta is shown once, as actor/reason/..., never inside its data.
    assert all("meta" not in e["data"] for e in events)


def test_get_project_answers_its_version_as_the_etag_and_its_full_state(
    client: TestClient, municipality: str
) -> None:
    created = create_project(client, municipality)
    pid = created["id"]
    d = plan_deliverable(client, pid, due_date="2027-05-20", mandatory=False)

    response = client.get(f"{API}/projects/{pid}")
    project = expect_ok(response)
    assert response.headers["ETag"] == f'"{project["version"]}"' == '"2"'
    assert project["id"] == pid
    assert project["version"] == d["version"] == 2
    assert project["municipality"] == municipality
    assert project["lead_agency"] == "education"
    assert project["agencies"] == ["education", "culture", "sport"]
    assert project["organizations"] == [
        {
            "name": "School No. 5",
            "kind": "general_education",
            "agency": "education",
            "organization_id": None,
        }
    ]
    assert project["targets"][0]["baseline"] == 71.5
    assert [s["code"] for s in project["stages"]] == STAGES
    assert project["stages"][0]["status"] == "active"
    assert project["stages"][0]["entered_at"] is not None
    assert project["stages"][0]["label_ru"].startswith("Разработка программы")
    (deliverable,) = project["stages"][0]["deliverables"]
    assert deliverable["id"] == d["deliverable_id"]
    assert deliverable["state"] == "planned"
    assert deliverable["mandatory"] is False
    assert deliverable["due_date"] == "2027-05-20"


def test_list_filters_by_status_active_stage_agency_and_municipality(
    client: TestClient, municipality: str
) -> None:
    edu = create_project(client, municipality, agencies=["education", "culture"])
    # Education takes no part in this one: an official of sport initiates it.
    health = expect_ok(
        client.post(
            f"{API}/projects",
            json=project_body(
                municipality, lead_agency="sport", agencies=["sport", "health"], title="Health"
            ),
            headers=official_headers("sport"),
        ),
        201,
    )
    moved = create_project(client, municipality, title="Moved on")
    command(client, moved["id"], "gate/pass", gate_body(1))
    cancelled = create_project(client, municipality, title="Cancelled")
    last = command(client, cancelled["id"], "cancel", {"reason": "Merged into another"})

    def ids(**params: Any) -> set[str]:
        query = {"municipality": municipality, "min_position": last["position"], **params}
        body = expect_ok(client.get(f"{API}/projects", params=query))
        assert body["total"] == len(body["items"])
        return {item["id"] for item in body["items"]}

    assert ids() == {edu["id"], health["id"], moved["id"], cancelled["id"]}
    assert ids(status="active") == {edu["id"], health["id"], moved["id"]}
    assert ids(status="cancelled") == {cancelled["id"]}
    assert ids(status="completed") == set()
    assert ids(active_stage="interaction_mechanisms") == {moved["id"]}
    assert ids(active_stage="social_ties_program") == {edu["id"], health["id"]}
    assert ids(agency="health") == {health["id"]}
    assert ids(agency="culture") == {edu["id"], moved["id"], cancelled["id"]}
    assert ids(agency="sport", status="active") == {health["id"], moved["id"]}
    assert ids(municipality=f"{municipality} (elsewhere)") == set()


def test_list_pages_with_limit_and_offset_and_counts_the_total(
    client: TestClient, municipality: str
) -> None:
    created = [create_project(client, municipality, title=f"Project {i}") for i in range(5)]
    at = max(c["position"] for c in created)

    pages = []
    for offset in (0, 2, 4):
        body = expect_ok(
            client.get(
                f"{API}/projects",
                params={
                    "municipality": municipality,
                    "limit": 2,
                    "offset": offset,
                    "min_position": at,
                },
            )
        )
        assert body["total"] == 5
        assert body["limit"] == 2
        assert body["offset"] == offset
        assert body["position"] >= at
        pages.append([item["id"] for item in body["items"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    # Pages do not overlap, and together they list every project in initiation order.
    assert [i for page in pages for i in page] == [c["id"] for c in created]

    beyond = expect_ok(
        client.get(f"{API}/projects", params={"municipality": municipality, "offset": 10})
    )
    assert beyond["items"] == []
    assert beyond["total"] == 5


def test_a_projection_read_with_min_position_reflects_each_write_immediately(
    client: TestClient, municipality: str
) -> None:
    created = create_project(client, municipality)
    pid = created["id"]
    listed = expect_ok(
        client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": created["position"]},
        )
    )
    assert [i["id"] for i in listed["items"]] == [pid]

    d = plan_deliverable(client, pid)
    row = expect_ok(
        client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": d["position"]},
        )
    )["items"][0]
    assert row["deliverables_total"] == 1
    assert row["version"] == d["version"]

    approved = approve_through(client, pid, d["deliverable_id"])
    row = expect_ok(
        client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": approved["position"]},
        )
    )["items"][0]
    assert row["deliverables_approved"] == 1
    assert row["position"] == approved["position"]

    suspended = command(client, pid, "suspend", {"reason": "Budget moved"})
    progress = expect_ok(
        client.get(f"{API}/projects/{pid}/progress", params={"min_position": suspended["position"]})
    )
    assert progress["status"] == "suspended"
    resumed = command(client, pid, "resume", {"reason": "Budget restored"})
    progress = expect_ok(
        client.get(f"{API}/projects/{pid}/progress", params={"min_position": resumed["position"]})
    )
    assert progress["status"] == "active"
    cancelled = command(client, pid, "cancel", {"reason": "Merged into another project"})
    progress = expect_ok(
        client.get(f"{API}/projects/{pid}/progress", params={"min_position": cancelled["position"]})
    )
    assert progress["status"] == "cancelled"
    assert progress["active_stage"] is None
    assert statuses(progress) == ["cancelled", "not_started", "not_started", "not_started"]


def test_min_position_beyond_the_log_answers_503_with_retry_after(
    pg: ConnectionParams, services: Services, worker: ProjectionWorker
) -> None:
    far = services.app.head_position() + 1_000_000
    app = create_app(settings_for(pg, read_wait_seconds=0.2), services)
    with TestClient(app) as impatient:
        for path in ("/projects", "/projects/00000000-0000-4000-8000-000000000000/progress"):
            response = impatient.get(
                f"{API}{path}", params={"min_position": far}, headers=role_headers("auditor")
            )
            body = assert_problem(response, 503)
            assert response.headers["Retry-After"].isdigit()
            assert body["type"] == "/problems/projection-lagging"
            assert body["projection"] == "projects"
            assert body["min_position"] == far
            assert body["position"] < far


def test_health_answers_ok_and_ready_shows_the_head_and_the_projection_lag(
    client: TestClient, services: Services, municipality: str
) -> None:
    for path in ("/health", f"{API}/health"):
        assert expect_ok(client.get(path)) == {"status": "ok"}

    created = create_project(client, municipality)
    wait_projected(services, services.app.head_position())
    for path in ("/ready", f"{API}/ready"):
        ready = expect_ok(client.get(path))
        assert ready["status"] == "ready"
        assert ready["database"] == "ok"
        assert ready["head_position"] == services.app.head_position()
        assert ready["head_position"] >= created["position"]
        head = ready["head_position"]
        assert ready["projections"] == [
            {"name": v.name, "position": head, "lag_events": 0} for v in services.views
        ]


def test_ready_shows_the_lag_of_a_projection_no_worker_follows(
    fresh_database: Callable[[], ConnectionParams], municipality: str
) -> None:
    params = fresh_database()
    settings = settings_for(params)
    migrate(settings, params)
    with Services(settings, params) as own, TestClient(create_app(settings, own)) as c:
        # The session's tokens do not exist in this database: mint one in it.
        issued = add_with_token(
            own.app,
            SETUP_META,
            name="ready-tester",
            role="official",
            agency="education",
            municipality=municipality,
            label=None,
            expires_on=None,
            today=settings.today(),
        )
        own_official = {"Authorization": f"Bearer {issued.token}"}
        setup = own.app.head_position()  # the principal's and its token's events
        for _ in range(2):
            last = expect_ok(
                c.post(f"{API}/projects", json=project_body(municipality), headers=own_official),
                201,
            )
        ready = expect_ok(c.get("/ready"))
        assert ready["head_position"] == last["position"] == setup + 2
        lag = {p["name"]: p for p in ready["projections"]}
        assert lag["projects"] == {"name": "projects", "position": 0, "lag_events": setup + 2}

        own.projector("projects").catch_up()
        ready = expect_ok(c.get("/ready"))
        lag = {p["name"]: p for p in ready["projections"]}
        assert lag["projects"] == {"name": "projects", "position": setup + 2, "lag_events": 0}


def test_openapi_lists_every_route_with_examples_and_docs_are_served(client: TestClient) -> None:
    spec = expect_ok(client.get("/openapi.json"))
    paths = spec["paths"]
    base = f"{API}/projects/{{project_id}}"
    deliverable = f"{base}/deliverables/{{deliverable_id}}"
    expected = {
        "/health": {"get"},
        "/ready": {"get"},
        f"{API}/projects": {"get", "post"},
        base: {"get"},
        f"{base}/progress": {"get"},
        f"{base}/history": {"get"},
        f"{base}/deliverables": {"post"},
        f"{deliverable}/submit": {"post"},
        f"{deliverable}/approve": {"post"},
        f"{deliverable}/reject": {"post"},
        f"{base}/gate/pass": {"post"},
        f"{base}/gate/reject": {"post"},
        f"{base}/suspend": {"post"},
        f"{base}/resume": {"post"},
        f"{base}/cancel": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, f"{path} missing from the OpenAPI document"
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemas = spec["components"]["schemas"]
    examples = schemas["ProjectCreate"]["examples"]
    assert examples
    assert examples[0]["lead_agency"] == "education"
    assert schemas["DeliverableCreate"]["examples"]
    assert schemas["GateDecision"]["examples"]
    # The write answers document their conflicts.
    assert {"404", "409", "412", "422"} <= set(paths[f"{base}/gate/pass"]["post"]["responses"])

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


# -- logs ------------------------------------------------------------------------------


def command_logs(entries: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in entries if e.get("event") == "command"]


def test_an_accepted_write_logs_one_command_entry_with_the_request_and_the_actor(
    client: TestClient, municipality: str
) -> None:
    headers = official_headers(actor_id="log-tester", request_id="req-log-accepted")
    actor_id = headers.actor_id  # minted now: registering it logs commands of its own
    # capture_logs drops the configured processors; merging the context variables back
    # in is what binds the request id (middleware) and the actor (dependency) to entries.
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        response = client.post(f"{API}/projects", json=project_body(municipality), headers=headers)
    answer = expect_ok(response, 201)

    (entry,) = command_logs(entries)
    assert entry["outcome"] == "accepted"
    assert entry["command"] == "initiate_project"
    assert entry["request_id"] == "req-log-accepted"
    assert entry["actor_id"] == actor_id
    assert entry["actor_agency"] == "education"
    assert entry["aggregate_id"] == answer["id"]
    assert entry["version"] == 1
    assert entry["position"] == answer["position"]
    assert entry["log_level"] == "info"
    # The middleware writes one line per request, with the same request id.
    (request,) = [e for e in entries if e.get("event") == "request"]
    assert request["request_id"] == "req-log-accepted"
    assert request["status"] == 201
    assert request["path"] == f"{API}/projects"


def test_a_refused_write_logs_one_rejected_command_entry_naming_the_rule(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    plan_deliverable(client, pid)
    headers = official_headers(actor_id="log-refused", request_id="req-log-rejected")
    actor_id = headers.actor_id  # minted now: registering it logs commands of its own
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        response = client.post(f"{API}/projects/{pid}/gate/pass", json=gate_body(), headers=headers)
    assert_problem(response, 409)

    (entry,) = command_logs(entries)
    assert entry["outcome"] == "rejected"
    assert entry["command"] == "pass_gate"
    assert entry["aggregate_id"] == pid
    assert entry["error"] == "RuleViolationError"
    assert entry["rule"] == "mandatory_deliverables_approved"
    assert entry["request_id"] == "req-log-rejected"
    assert entry["actor_id"] == actor_id


def test_a_request_refused_before_the_command_logs_no_command_entry(
    client: TestClient, municipality: str
) -> None:
    headers = official_headers(request_id="req-log-invalid")
    assert headers.actor_id  # minted now: registering it logs commands of its own
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        response = client.post(
            f"{API}/projects", json=project_body(municipality, lead_agency="x"), headers=headers
        )
    assert_problem(response, 422)
    assert command_logs(entries) == []
    (request,) = [e for e in entries if e.get("event") == "request"]
    assert request["request_id"] == "req-log-invalid"
    assert request["status"] == 422


def test_a_replayed_write_logs_one_replayed_command_entry(
    client: TestClient, municipality: str
) -> None:
    key = f"log-{uuid.uuid4().hex}"
    body = project_body(municipality)
    first = client.post(f"{API}/projects", json=body, headers=official_headers(Idempotency_Key=key))
    assert first.status_code == 201
    headers = official_headers(Idempotency_Key=key, request_id="req-log-replayed")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        second = client.post(f"{API}/projects", json=body, headers=headers)
    assert second.status_code == 201

    (entry,) = command_logs(entries)
    assert entry["outcome"] == "replayed"
    assert entry["command"] == "initiate_project"
    assert entry["version"] == 1
    assert entry["request_id"] == "req-log-replayed"
