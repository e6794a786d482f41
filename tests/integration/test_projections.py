"""The read side on a real PostgreSQL: rows right after commands, rebuilds, batches, crashes.

The session worker follows the log all along. Tests wait on the tracking position (never
a sleep) and compare the rows with what the aggregate itself says. Views of their own,
with their own tables, test the runtime where the session worker must not interfere.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from psycopg import sql

from domain.errors import RuleViolationError
from domain.project import (
    STAGES,
    DeliverableState,
    InteragencyProject,
    Stage,
    StageStatus,
)
from domain.values import EventMeta, Mechanism
from interagency.application import APP_NAME, CommandResult, InteragencyApplication
from interagency.services import Services
from projections.projects import ProjectFilter
from projections.runtime import (
    Cursor,
    PoisonEventError,
    ProjectionView,
    ProjectionWorker,
    Projector,
)
from tests.conftest import wait_projected

META = EventMeta(
    actor_id="official-1", actor_role="official", actor_agency="education", correlation_id="t"
)
S1, S2, S3, S4 = (s.value for s in STAGES)


# -- helpers --------------------------------------------------------------------------


def start_project(app: InteragencyApplication, label: str) -> CommandResult:
    return app.initiate_project(
        META,
        title=f"Project {label}",
        goal="Join the schools, the library and the sports school",
        municipality=f"{label} {uuid4().hex[:8]}",
        lead_agency="education",
        agencies=["education", "culture", "sport"],
    )


def plan(
    app: InteragencyApplication, pid: UUID, stage: str = S1, *, mandatory: bool = True
) -> UUID:
    did = uuid4()
    app.plan_deliverable(
        META,
        pid,
        stage=stage,
        title=f"Deliverable {did.hex[:6]}",
        mechanism="working_groups",
        mandatory=mandatory,
        deliverable_id=did,
    )
    return did


def accept(app: InteragencyApplication, pid: UUID, did: UUID) -> CommandResult:
    app.submit_deliverable(META, pid, did)
    return app.approve_deliverable(META, pid, did)


def approve_mandatory(app: InteragencyApplication, pid: UUID) -> Stage | None:
    """Submits and approves every mandatory deliverable of the active stage."""
    p = app.get_project(pid)
    stage = p.active_stage
    for d in [] if stage is None else p.deliverables_of(stage):
        if d.mandatory and d.state is not DeliverableState.APPROVED:
            if d.state is not DeliverableState.SUBMITTED:
                app.submit_deliverable(META, pid, d.id)
            app.approve_deliverable(META, pid, d.id)
    return stage


def finish_stage(app: InteragencyApplication, pid: UUID) -> CommandResult:
    """Approves what the active stage still needs, then passes its gate."""
    stage = approve_mandatory(app, pid)
    # Without an active stage the gate itself refuses (RuleViolationError).
    return app.pass_gate(META, pid, reason=f"{stage} done", decision_ref=f"order-{pid.hex[:6]}")


def at_head(services: Services) -> None:
    wait_projected(services, services.app.head_position())


def percent(part: int, whole: int) -> Decimal:
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# -- what the rows should say, computed from the aggregate alone -----------------------


def expected_progress(p: InteragencyProject) -> list[dict[str, Any]]:
    rows = []
    for stage in STAGES:
        st_ = p.stages[stage]
        ds = p.deliverables_of(stage)
        states = Counter(d.state for d in ds)
        mandatory = [d for d in ds if d.mandatory]
        mandatory_approved = sum(d.state is DeliverableState.APPROVED for d in mandatory)
        if st_.status is StageStatus.COMPLETED:
            pct = Decimal("100.0")
        elif mandatory:
            pct = percent(mandatory_approved, len(mandatory))
        elif ds:
            pct = percent(states[DeliverableState.APPROVED], len(ds))
        else:
            pct = Decimal("0.0")
        basis = st_.gate_basis or {}
        rows.append(
            {
                "stage": stage.value,
                "stage_number": stage.number,
                "status": st_.status.value,
                "entered_at": st_.entered_at,
                "left_at": st_.left_at,
                "completed_at": st_.left_at if st_.status is StageStatus.COMPLETED else None,
                "deliverables_total": len(ds),
                "deliverables_planned": states[DeliverableState.PLANNED],
                "deliverables_submitted": states[DeliverableState.SUBMITTED],
                "deliverables_approved": states[DeliverableState.APPROVED],
                "deliverables_rejected": states[DeliverableState.REJECTED],
                "mandatory_total": len(mandatory),
                "mandatory_approved": mandatory_approved,
                "percent_complete": pct,
                "gate_rejections": st_.gate_rejections,
                "gate_decision_ref": basis.get("decision_ref"),
                "gate_basis_document": basis.get("basis_document"),
                "gate_reason": basis.get("reason"),
            }
        )
    return rows


def expected_summary(app: InteragencyApplication, p: InteragencyProject) -> dict[str, Any]:
    return {
        "project_id": p.id,
        "title": p.title,
        "municipality": p.municipality,
        "lead_agency": p.lead_agency.value,
        "agencies": [a.value for a in p.agencies],
        "status": p.status.value,
        "active_stage": None if p.active_stage is None else p.active_stage.value,
        "stage_number": None if p.active_stage is None else p.active_stage.number,
        "stages_completed": sum(s.status is StageStatus.COMPLETED for s in p.stages.values()),
        "deliverables_total": len(p.deliverables),
        "deliverables_approved": sum(
            d.state is DeliverableState.APPROVED for d in p.deliverables.values()
        ),
        "gate_rejections": sum(s.gate_rejections for s in p.stages.values()),
        "version": p.version,
        "position": app.history(p.id)[-1].position,
        "initiated_at": p.created_on,
        "updated_at": p.modified_on,
    }


def expected_deliverables(p: InteragencyProject) -> dict[UUID, dict[str, Any]]:
    return {
        d.id: {
            "stage": d.stage.value,
            "title": d.title,
            "mechanism": d.mechanism.value,
            "mandatory": d.mandatory,
            "due_date": d.due_date,
            "state": d.state.value,
            "submissions": d.submissions,
            "rejection_reason": d.rejection_reason,
        }
        for d in p.deliverables.values()
    }


def deliverable_rows(services: Services, pid: UUID) -> dict[UUID, dict[str, Any]]:
    with services.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT deliverable_id, stage, title, mechanism, mandatory, due_date, state, "
            "submissions, rejection_reason FROM project_deliverables WHERE project_id = %s",
            (pid,),
        )
        rows = curs.fetchall()
    return {r.pop("deliverable_id"): dict(r) for r in rows}


PROGRESS_KEYS = (
    "stage",
    "stage_number",
    "status",
    "entered_at",
    "left_at",
    "completed_at",
    "deliverables_total",
    "deliverables_planned",
    "deliverables_submitted",
    "deliverables_approved",
    "deliverables_rejected",
    "mandatory_total",
    "mandatory_approved",
    "percent_complete",
    "gate_rejections",
    "gate_decision_ref",
    "gate_basis_document",
    "gate_reason",
)


def progress_rows(services: Services, pid: UUID) -> list[dict[str, Any]]:
    """The stage rows of a project, without the duration (it depends on the clock)."""
    return [{k: row[k] for k in PROGRESS_KEYS} for row in services.projects.stage_progress(pid)]


def assert_projected_like_the_aggregate(services: Services, pid: UUID) -> InteragencyProject:
    """Waits for the head, then compares every row of the project with the aggregate."""
    at_head(services)
    p = services.app.get_project(pid)
    assert progress_rows(services, pid) == expected_progress(p)
    summary = services.projects.get_summary(pid)
    assert summary is not None
    expected = expected_summary(services.app, p)
    assert {k: summary[k] for k in expected} == expected
    assert deliverable_rows(services, pid) == expected_deliverables(p)
    return p


# -- stage progress over random command sequences --------------------------------------

KINDS = [
    *["plan"] * 4,
    *["advance"] * 6,
    "misfire",
    "approve_mandatory",
    "pass_gate",
    "reject_gate",
    "finish_stage",
    "suspend",
    # A suspension stops everything else: resumes come often (refused when active).
    *["resume"] * 2,
    "cancel",
]
MECHANISMS = list(Mechanism)

Action = tuple[str, int, bool]


def act(app: InteragencyApplication, pid: UUID, action: Action) -> None:
    """Sends one command chosen from the current state; refusals are part of the game."""
    kind, n, flag = action
    p = app.get_project(pid)
    active = p.active_stage
    current = [] if active is None else p.deliverables_of(active)
    unfinished = [d for d in current if d.state is not DeliverableState.APPROVED] or current
    target = unfinished[n % len(unfinished)] if unfinished else None

    try:
        if kind == "plan":
            stage = STAGES[n % 4] if active is None else STAGES[min(active.number - 1 + n % 2, 3)]
            app.plan_deliverable(
                META,
                pid,
                stage=stage.value,
                title=f"Deliverable {n}",
                mechanism=MECHANISMS[n % len(MECHANISMS)].value,
                mandatory=flag,
                due_date=date(2031, 1, 1 + n) if flag else None,
            )
        elif kind == "advance" and target is not None:
            # The deliverable's natural next step; a third of the reviews reject it.
            if target.state in (DeliverableState.PLANNED, DeliverableState.REJECTED):
                app.submit_deliverable(META, pid, target.id, document_ref=f"doc-{n}")
            elif n % 3 == 0:
                app.reject_deliverable(META, pid, target.id, reason=f"needs work {n}")
            else:
                app.approve_deliverable(META, pid, target.id)
        elif kind == "misfire" and target is not None:
            # Usually out of turn, so usually refused.
            app.approve_deliverable(META, pid, target.id)
        elif kind == "pass_gate":
            app.pass_gate(
                META,
                pid,
                reason=f"gate {n}",
                decision_ref=f"order-{n}" if flag else None,
                basis_document=None if flag else f"protocol-{n}",
            )
        elif kind == "reject_gate":
            app.reject_gate(META, pid, reason=f"not yet {n}", decision_ref=f"memo-{n}")
        elif kind == "approve_mandatory":
            approve_mandatory(app, pid)
        elif kind == "finish_stage":
            finish_stage(app, pid)
        elif kind == "suspend":
            app.suspend_project(META, pid, reason=f"pause {n}")
        elif kind == "resume":
            app.resume_project(META, pid, reason=f"go on {n}")
        elif kind == "cancel" and n == 7:
            app.cancel_project(META, pid, reason=f"stop {n}")
    except RuleViolationError:
        pass


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No shrinking: each step is a round trip to PostgreSQL, and shrinking would outlast
    # the test timeout; the failing sequence is reported as it was generated.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    actions=st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 7), st.booleans()),
        min_size=8,
        max_size=30,
    )
)
def test_stage_progress_follows_any_sequence_of_commands(
    services: Services, worker: ProjectionWorker, actions: list[Action]
) -> None:
    app = services.app
    pid = start_project(app, "Random").aggregate_id
    # The stages are checked after every step that wrote (a final state alone would hide
    # what a passed gate masks), and every row at the end.
    for action in actions:
        head = app.head_position()
        act(app, pid, action)
        if app.head_position() != head:
            at_head(services)
            assert progress_rows(services, pid) == expected_progress(app.get_project(pid))
    p = assert_projected_like_the_aggregate(services, pid)
    # Shown by --hypothesis-show-statistics: how far the sequences got.
    event(f"status {p.status.value}")
    event(f"{sum(s.status is StageStatus.COMPLETED for s in p.stages.values())} stage(s) done")


# -- fixed scenarios --------------------------------------------------------------------


def test_a_rejected_and_resubmitted_deliverable_counts_once_as_approved(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    pid = start_project(app, "Resubmission").aggregate_id
    mandatory = plan(app, pid)
    optional = plan(app, pid, mandatory=False)

    # The optional one approved, the mandatory one rejected: nothing mandatory is done.
    accept(app, pid, optional)
    app.submit_deliverable(META, pid, mandatory, document_ref="draft-1")
    app.reject_deliverable(META, pid, mandatory, reason="No signatures")
    assert_projected_like_the_aggregate(services, pid)
    first = services.projects.stage_progress(pid)[0]
    assert (first["deliverables_rejected"], first["deliverables_approved"]) == (1, 1)
    assert (first["mandatory_total"], first["mandatory_approved"]) == (1, 0)
    assert first["percent_complete"] == Decimal("0.0")
    assert deliverable_rows(services, pid)[mandatory]["rejection_reason"] == "No signatures"

    # Resubmitted: the reason is cleared and the submissions counted.
    app.submit_deliverable(META, pid, mandatory, document_ref="draft-2")
    assert_projected_like_the_aggregate(services, pid)
    row = deliverable_rows(services, pid)[mandatory]
    assert (row["state"], row["submissions"], row["rejection_reason"]) == ("submitted", 2, None)

    # Approved: the stage is complete in percent, though its gate is not passed yet.
    app.approve_deliverable(META, pid, mandatory)
    assert_projected_like_the_aggregate(services, pid)
    first, second, *_ = services.projects.stage_progress(pid)
    assert first["status"] == "active"
    assert first["percent_complete"] == Decimal("100.0")
    assert first["deliverables_approved"] == 2
    assert second["status"] == "not_started"
    assert second["entered_at"] is None


def test_cancelling_in_stage_two_closes_that_stage_and_keeps_the_others(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    pid = start_project(app, "Cancelled").aggregate_id
    plan(app, pid)
    gate = finish_stage(app, pid)
    # Stage 2 has optional deliverables only: one of three approved; stage 3 one planned.
    optional = [plan(app, pid, S2, mandatory=False) for _ in range(3)]
    accept(app, pid, optional[0])
    app.submit_deliverable(META, pid, optional[1])
    plan(app, pid, S3)
    cancelled = app.cancel_project(META, pid, reason="Funding withdrawn")

    assert_projected_like_the_aggregate(services, pid)
    stages = services.projects.stage_progress(pid)
    assert [s["status"] for s in stages] == ["completed", "cancelled", "not_started", "not_started"]
    assert [s["percent_complete"] for s in stages] == [
        Decimal("100.0"),
        Decimal("33.3"),
        Decimal("0.0"),
        Decimal("0.0"),
    ]
    assert stages[1]["deliverables_submitted"] == 1
    assert stages[2]["mandatory_total"] == 1
    history = app.history(pid)
    gate_ts = next(h.event.timestamp for h in history if h.position == gate.position)
    cancel_ts = history[-1].event.timestamp
    assert stages[0]["left_at"] == stages[0]["completed_at"] == gate_ts
    assert stages[1]["entered_at"] == gate_ts
    assert stages[1]["left_at"] == cancel_ts
    assert stages[1]["completed_at"] is None

    summary = services.projects.get_summary(pid)
    assert summary is not None
    assert summary["status"] == "cancelled"
    assert (summary["active_stage"], summary["stage_number"]) == (None, None)
    assert summary["cancelled_at"] == cancel_ts
    assert (summary["version"], summary["position"]) == (cancelled.version, cancelled.position)


def test_a_suspended_project_keeps_its_stage_and_its_progress(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    pid = start_project(app, "Suspended").aggregate_id
    d1, d2 = plan(app, pid), plan(app, pid)
    accept(app, pid, d1)
    app.submit_deliverable(META, pid, d2)
    at_head(services)
    before = progress_rows(services, pid)

    app.suspend_project(META, pid, reason="Elections")
    with pytest.raises(RuleViolationError):
        app.approve_deliverable(META, pid, d2)
    assert_projected_like_the_aggregate(services, pid)
    summary = services.projects.get_summary(pid)
    assert summary is not None
    assert (summary["status"], summary["active_stage"]) == ("suspended", S1)
    assert progress_rows(services, pid) == before
    assert before[0]["percent_complete"] == Decimal("50.0")

    app.resume_project(META, pid, reason="Elections over")
    app.approve_deliverable(META, pid, d2)
    assert_projected_like_the_aggregate(services, pid)
    summary = services.projects.get_summary(pid)
    assert summary is not None
    assert summary["status"] == "active"
    assert services.projects.stage_progress(pid)[0]["percent_complete"] == Decimal("100.0")


# -- the summary after each kind of event -----------------------------------------------


def test_the_summary_follows_each_kind_of_event(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app

    def summary_after(result: CommandResult, **expected: Any) -> dict[str, Any]:
        wait_projected(services, result.position)
        row = services.projects.get_summary(result.aggregate_id)
        assert row is not None
        assert (row["version"], row["position"]) == (result.version, result.position)
        assert row["updated_at"] == app.history(result.aggregate_id)[-1].event.timestamp
        assert {k: row[k] for k in expected} == expected
        return row

    r = start_project(app, "Summary")
    pid = r.aggregate_id
    row = summary_after(
        r,
        status="active",
        active_stage=S1,
        stage_number=1,
        stages_completed=0,
        deliverables_total=0,
        deliverables_approved=0,
        gate_rejections=0,
        lead_agency="education",
        agencies=["education", "culture", "sport"],
        initiated_by="official-1",
        completed_at=None,
        cancelled_at=None,
    )
    assert row["initiated_at"] == row["updated_at"]

    did = uuid4()
    r = app.plan_deliverable(
        META, pid, stage=S1, title="Plan", mechanism="regulation", deliverable_id=did
    )
    summary_after(r, deliverables_total=1, deliverables_approved=0)
    r = app.submit_deliverable(META, pid, did)
    summary_after(r, deliverables_total=1, deliverables_approved=0)
    r = app.reject_deliverable(META, pid, did, reason="Incomplete")
    summary_after(r, deliverables_total=1, deliverables_approved=0)
    app.submit_deliverable(META, pid, did)
    r = app.approve_deliverable(META, pid, did)
    summary_after(r, deliverables_total=1, deliverables_approved=1)
    r = app.reject_gate(META, pid, reason="Wait for the council", decision_ref="memo-1")
    summary_after(r, gate_rejections=1, active_stage=S1, stages_completed=0)
    r = app.pass_gate(META, pid, reason="Council agreed", decision_ref="order-1")
    summary_after(r, active_stage=S2, stage_number=2, stages_completed=1, gate_rejections=1)
    r = app.suspend_project(META, pid, reason="Holidays")
    summary_after(r, status="suspended", active_stage=S2, stage_number=2)
    r = app.resume_project(META, pid, reason="Back")
    summary_after(r, status="active", active_stage=S2, stage_number=2)
    finish_stage(app, pid)
    finish_stage(app, pid)
    r = finish_stage(app, pid)
    row = summary_after(
        r,
        status="completed",
        active_stage=None,
        stage_number=None,
        stages_completed=4,
        deliverables_total=1,
        cancelled_at=None,
    )
    assert row["completed_at"] == app.history(pid)[-1].event.timestamp

    other = start_project(app, "Summary cancelled").aggregate_id
    plan(app, other)
    r = app.cancel_project(META, other, reason="Merged into another project")
    row = summary_after(
        r, status="cancelled", active_stage=None, stage_number=None, completed_at=None
    )
    assert row["cancelled_at"] == row["updated_at"]


def test_projects_are_listed_by_municipality(services: Services, worker: ProjectionWorker) -> None:
    app = services.app
    town = f"Listed {uuid4().hex[:8]}"
    ids = [
        app.initiate_project(
            META,
            title=f"Listed {i}",
            goal="Be listed",
            municipality=town,
            lead_agency="culture",
            agencies=["culture", "health"],
        ).aggregate_id
        for i in range(3)
    ]
    at_head(services)
    rows, total = services.projects.list_projects(ProjectFilter(municipality=town), 10, 0)
    assert total == 3
    assert [r["project_id"] for r in rows] == ids
    rows, total = services.projects.list_projects(ProjectFilter(municipality=town), 1, 1)
    assert (total, [r["project_id"] for r in rows]) == (3, ids[1:2])


# -- rebuilds ----------------------------------------------------------------------------


def some_history(services: Services) -> None:
    """A few projects in every state, so a rebuild has something to redo."""
    app = services.app
    done = start_project(app, "Rebuild done").aggregate_id
    plan(app, done)
    for _ in STAGES:
        finish_stage(app, done)
    open_ = start_project(app, "Rebuild open").aggregate_id
    d = plan(app, open_)
    app.submit_deliverable(META, open_, d)
    app.reject_deliverable(META, open_, d, reason="Again")
    app.reject_gate(META, open_, reason="Not now", basis_document="minutes-7")
    gone = start_project(app, "Rebuild gone").aggregate_id
    app.suspend_project(META, gone, reason="Pause")
    app.cancel_project(META, gone, reason="Stop")


def test_a_rebuild_from_zero_gives_identical_rows(
    services: Services, worker: ProjectionWorker
) -> None:
    some_history(services)
    at_head(services)
    before = services.projects.dump()
    assert all(before.values())

    projector = services.projector("projects")
    projector.reset()
    projector.catch_up()
    at_head(services)

    assert services.projects.dump() == before


def test_a_rebuild_in_batches_smaller_than_the_backlog_gives_identical_rows(
    services: Services, worker: ProjectionWorker
) -> None:
    some_history(services)
    at_head(services)
    before = services.projects.dump()
    head = services.app.head_position()
    small = Projector(services.projects, services.app.pg_recorder, services.app.mapper, 3)

    small.reset()
    batches = []
    while True:
        result = small.run_batch()
        batches.append(result)
        if result.position >= head:
            break
    at_head(services)

    assert services.projects.dump() == before
    assert all(b.processed <= 3 for b in batches)
    positions = [b.position for b in batches]
    assert positions == sorted(positions)


# -- a view of our own: counts every event, one row per position ----------------------


class FaultInjectedError(RuntimeError):
    pass


class EventTally(ProjectionView):
    """One row per event (keyed by position) and a count per event type.

    Applying an event twice breaks the key or the count; a fault can be set on one position.
    """

    def __init__(self, services: Services, name: str) -> None:
        self.name = name
        self.tables = (f"{name}_seen", f"{name}_counts")
        self.fail_at: int | None = None
        self.faults = threading.Semaphore(0)
        super().__init__(services.datastore, APP_NAME)
        self.create_table()

    def ddl(self) -> list[str]:
        seen, counts = self.tables
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {seen} (position bigint PRIMARY KEY, "
                "event_type text NOT NULL, originator_id uuid NOT NULL, "
                "originator_version int NOT NULL)"
            ),
            f"CREATE TABLE IF NOT EXISTS {counts} (event_type text PRIMARY KEY, n int NOT NULL)",
        ]

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        if position == self.fail_at:
            self.faults.release()
            raise FaultInjectedError(position)
        seen, counts = (sql.Identifier(t) for t in self.tables)
        name = type(event).__name__
        curs.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(seen),
            (position, name, event.originator_id, event.originator_version),
        )
        curs.execute(
            sql.SQL(
                "INSERT INTO {0} VALUES (%s, 1) ON CONFLICT (event_type) "
                "DO UPDATE SET n = {0}.n + 1"
            ).format(counts),
            (name,),
        )

    def rows(self) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
        seen, counts = (sql.Identifier(t) for t in self.tables)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT * FROM {} ORDER BY position").format(seen))
            seen_rows = [tuple(r.values()) for r in curs.fetchall()]
            curs.execute(sql.SQL("SELECT event_type, n FROM {}").format(counts))
            count_rows = {r["event_type"]: r["n"] for r in curs.fetchall()}
        return seen_rows, count_rows


def tally(services: Services, label: str) -> EventTally:
    return EventTally(services, f"tally_{label}_{uuid4().hex[:8]}")


def projector_for(services: Services, view: ProjectionView, batch_size: int) -> Projector:
    return Projector(view, services.app.pg_recorder, services.app.mapper, batch_size)


def log_positions(services: Services) -> list[int]:
    head = services.app.head_position()
    recorder = services.app.pg_recorder
    return [n.id for n in recorder.select_notifications(1, head + 1, stop=head)]


def clean_rebuild(services: Services) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    reference = tally(services, "reference")
    projector_for(services, reference, 500).catch_up()
    return reference.rows()


def test_a_tally_catches_up_in_small_batches_applying_each_event_once(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    view = tally(services, "batches")
    progress: list[tuple[int, int]] = []

    applied = projector_for(services, view, 3).catch_up(
        lambda pos, head: progress.append((pos, head))
    )

    assert applied == len(positions)
    assert len(progress) == -(-len(positions) // 3)
    assert [p for p, _ in progress] == sorted({p for p, _ in progress})
    assert view.position() == positions[-1]
    seen, counts = view.rows()
    assert [r[0] for r in seen] == positions
    assert sum(counts.values()) == len(positions)
    assert (seen, counts) == clean_rebuild(services)

    # Reset empties the rows and the position; nothing is left to apply twice.
    projector_for(services, view, 3).reset()
    assert view.position() == 0
    assert view.rows() == ([], {})


def test_a_batch_that_fails_midway_leaves_neither_rows_nor_position_behind(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    view = tally(services, "crashy")
    projector = projector_for(services, view, 5)

    # One clean batch, then a fault on the third event of the next one.
    assert projector.run_batch().processed == 5
    before = view.rows()
    view.fail_at = positions[7]
    with pytest.raises(PoisonEventError) as raised:
        projector.run_batch()
    assert raised.value.position == positions[7]
    assert isinstance(raised.value.__cause__, FaultInjectedError)
    assert view.position() == positions[4]
    assert view.rows() == before
    assert len(before[0]) == 5
    # A catch-up applies what comes before the poison event, then names it.
    with pytest.raises(PoisonEventError):
        projector.catch_up()
    assert view.position() == positions[6]
    assert [r[0] for r in view.rows()[0]] == positions[:7]

    # Fault removed: it catches up to exactly what a clean rebuild gives.
    view.fail_at = None
    assert projector.catch_up() == len(positions) - 7
    assert view.rows() == clean_rebuild(services)


def test_a_worker_retries_a_failing_batch_without_moving_and_recovers(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    view = tally(services, "worker")
    view.fail_at = positions[len(positions) // 2]
    worker = ProjectionWorker(
        [projector_for(services, view, 500)],
        conninfo=services.params.conninfo(),
        channel=services.app.pg_recorder.channel_name,
        poll_interval=0.2,
        poison_retry_seconds=0.2,
    )
    worker.start()
    try:
        # The fault fires twice: the first failure was rolled back and logged, then retried.
        assert view.faults.acquire(timeout=10)
        assert view.faults.acquire(timeout=10)
        assert worker.last_error is not None
        assert "FaultInjectedError" in worker.last_error
        assert view.position() < view.fail_at
        assert all(r[0] < view.fail_at for r in view.rows()[0])

        view.fail_at = None
        assert view.wait_for(positions[-1], timeout=15)
    finally:
        worker.stop()
    assert view.rows() == clean_rebuild(services)


def test_two_projectors_catching_up_concurrently_never_apply_an_event_twice(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    view = tally(services, "twins")
    projectors = [projector_for(services, view, 7) for _ in range(2)]
    barrier = threading.Barrier(2, timeout=10)

    def run(p: Projector) -> int:
        barrier.wait()
        return p.catch_up()

    with ThreadPoolExecutor(max_workers=2) as pool:
        applied = list(pool.map(run, projectors))

    assert sum(applied) == len(positions)
    assert view.rows() == clean_rebuild(services)


def test_two_projectors_and_the_worker_rebuild_the_projects_view_together(
    services: Services, worker: ProjectionWorker
) -> None:
    some_history(services)
    at_head(services)
    before = services.projects.dump()
    projectors = [projector_for(services, services.projects, 50) for _ in range(2)]
    projectors[0].reset()
    barrier = threading.Barrier(2, timeout=10)

    def run(p: Projector) -> int:
        barrier.wait()
        return p.catch_up()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, projectors))
    at_head(services)

    assert services.projects.dump() == before


# -- waiting -----------------------------------------------------------------------------


def test_waiting_for_a_position_beyond_the_head_gives_up_at_the_timeout(
    services: Services, worker: ProjectionWorker
) -> None:
    at_head(services)
    far = services.app.head_position() + 1_000_000

    started = time.monotonic()
    reached = services.projects.wait_for(far, timeout=0.3)
    elapsed = time.monotonic() - started

    assert reached is False
    assert 0.3 <= elapsed < 1.5
    started = time.monotonic()
    assert services.projects.wait_for(services.app.head_position(), timeout=5)
    assert time.monotonic() - started < 1
