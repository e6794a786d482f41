"""Project summary, deliverables and stage-by-stage progress."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import sql

from domain.project import STAGES, InteragencyProject, Stage
from projections.runtime import Cursor, ProjectionView

P = InteragencyProject

_PERCENT_SQL = """
CASE
  WHEN sp.status = 'completed' THEN 100.0
  WHEN c.mandatory_total > 0 THEN round(100.0 * c.mandatory_approved / c.mandatory_total, 1)
  WHEN c.total > 0 THEN round(100.0 * c.approved / c.total, 1)
  ELSE 0.0
END
"""


@dataclass(frozen=True)
class ProjectFilter:
    status: str | None = None
    active_stage: str | None = None
    agency: str | None = None
    municipality: str | None = None


@dataclass
class _BatchState:
    """What a batch defers to its end: projects to recount, each project's last stamp."""

    dirty: set[UUID] = field(default_factory=set)
    last: dict[UUID, tuple[int, int, datetime]] = field(default_factory=dict)


class ProjectsView(ProjectionView):
    """Rows per project, per deliverable, and per project and stage."""

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        super().__init__(datastore, application_name)
        # Batch state per thread: two projectors may drive one view at once.
        self._local = threading.local()

    name = "projects"
    tables = ("project_summary", "project_deliverables", "stage_progress")
    topics = tuple(
        get_topic(cls)
        for cls in (
            P.ProjectInitiated,
            P.DeliverablePlanned,
            P.DeliverableSubmitted,
            P.DeliverableApproved,
            P.DeliverableRejected,
            P.StageGatePassed,
            P.StageGateRejected,
            P.ProjectCompleted,
            P.ProjectSuspended,
            P.ProjectResumed,
            P.ProjectCancelled,
        )
    )

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS project_summary (
                project_id uuid PRIMARY KEY,
                title text NOT NULL,
                goal text NOT NULL,
                municipality text NOT NULL,
                lead_agency text NOT NULL,
                agencies text[] NOT NULL,
                status text NOT NULL,
                active_stage text,
                stage_number int,
                stages_completed int NOT NULL DEFAULT 0,
                deliverables_total int NOT NULL DEFAULT 0,
                deliverables_approved int NOT NULL DEFAULT 0,
                gate_rejections int NOT NULL DEFAULT 0,
                version int NOT NULL,
                position bigint NOT NULL,
                initiated_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                completed_at timestamptz,
                cancelled_at timestamptz,
                initiated_by text
            )""",
            (
                "CREATE INDEX IF NOT EXISTS project_summary_list_idx "
                "ON project_summary (initiated_at, project_id)"
            ),
            (
                "CREATE INDEX IF NOT EXISTS project_summary_agencies_idx "
                "ON project_summary USING gin (agencies)"
            ),
            """
            CREATE TABLE IF NOT EXISTS project_deliverables (
                deliverable_id uuid PRIMARY KEY,
                project_id uuid NOT NULL,
                stage text NOT NULL,
                title text NOT NULL,
                mechanism text NOT NULL,
                mandatory boolean NOT NULL,
                due_date date,
                state text NOT NULL,
                submissions int NOT NULL DEFAULT 0,
                rejection_reason text,
                planned_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )""",
            (
                "CREATE INDEX IF NOT EXISTS project_deliverables_stage_idx "
                "ON project_deliverables (project_id, stage)"
            ),
            """
            CREATE TABLE IF NOT EXISTS stage_progress (
                project_id uuid NOT NULL,
                stage text NOT NULL,
                stage_number int NOT NULL,
                status text NOT NULL,
                entered_at timestamptz,
                completed_at timestamptz,
                left_at timestamptz,
                deliverables_total int NOT NULL DEFAULT 0,
                deliverables_planned int NOT NULL DEFAULT 0,
                deliverables_submitted int NOT NULL DEFAULT 0,
                deliverables_approved int NOT NULL DEFAULT 0,
                deliverables_rejected int NOT NULL DEFAULT 0,
                mandatory_total int NOT NULL DEFAULT 0,
                mandatory_approved int NOT NULL DEFAULT 0,
                percent_complete numeric(5, 1) NOT NULL DEFAULT 0,
                gate_rejections int NOT NULL DEFAULT 0,
                gate_decision_ref text,
                gate_basis_document text,
                gate_reason text,
                PRIMARY KEY (project_id, stage)
            )""",
        ]

    # -- updates ----------------------------------------------------------------------

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        pid: UUID = event.originator_id
        ts = event.timestamp
        if isinstance(event, P.ProjectInitiated):
            curs.execute(
                """
                INSERT INTO project_summary (project_id, title, goal, municipality, lead_agency,
                    agencies, status, active_stage, stage_number, version, position,
                    initiated_at, updated_at, initiated_by)
                VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, 1, %s, %s, %s, %s, %s)
                """,
                (
                    pid,
                    event.title,
                    event.goal,
                    event.municipality,
                    event.lead_agency,
                    list(event.agencies),
                    STAGES[0].value,
                    event.originator_version,
                    position,
                    ts,
                    ts,
                    event.meta.actor_id,
                ),
            )
            curs.executemany(
                """
                INSERT INTO stage_progress (project_id, stage, stage_number, status, entered_at)
                VALUES (%s, %s, %s, %s, %s)
                """,
                [
                    (
                        pid,
                        s.value,
                        s.number,
                        "active" if i == 0 else "not_started",
                        ts if i == 0 else None,
                    )
                    for i, s in enumerate(STAGES)
                ],
            )
            return

        if isinstance(event, P.DeliverablePlanned):
            curs.execute(
                """
                INSERT INTO project_deliverables (deliverable_id, project_id, stage, title,
                    mechanism, mandatory, due_date, state, planned_at, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, 'planned', %s, %s)
                """,
                (
                    event.deliverable_id,
                    pid,
                    event.stage,
                    event.title,
                    event.mechanism,
                    event.mandatory,
                    event.due_date,
                    ts,
                    ts,
                ),
            )
            self._batch().dirty.add(pid)
        elif isinstance(event, P.DeliverableSubmitted):
            self._set_deliverable(curs, event, "submitted", submitted=True)
        elif isinstance(event, P.DeliverableApproved):
            self._set_deliverable(curs, event, "approved")
        elif isinstance(event, P.DeliverableRejected):
            self._set_deliverable(curs, event, "rejected", reason=event.meta.reason)
        elif isinstance(event, P.StageGatePassed):
            curs.execute(
                """
                UPDATE stage_progress SET status = 'completed', completed_at = %s, left_at = %s,
                    percent_complete = 100.0, gate_decision_ref = %s, gate_basis_document = %s,
                    gate_reason = %s
                WHERE project_id = %s AND stage = %s
                """,
                (
                    ts,
                    ts,
                    event.meta.decision_ref,
                    event.meta.basis_document,
                    event.meta.reason,
                    pid,
                    event.stage,
                ),
            )
            if event.next_stage is not None:
                curs.execute(
                    "UPDATE stage_progress SET status = 'active', entered_at = %s "
                    "WHERE project_id = %s AND stage = %s",
                    (ts, pid, event.next_stage),
                )
            curs.execute(
                "UPDATE project_summary SET active_stage = %s, stage_number = %s, "
                "stages_completed = stages_completed + 1 WHERE project_id = %s",
                (
                    event.next_stage,
                    None if event.next_stage is None else Stage(event.next_stage).number,
                    pid,
                ),
            )
        elif isinstance(event, P.StageGateRejected):
            curs.execute(
                "UPDATE stage_progress SET gate_rejections = gate_rejections + 1 "
                "WHERE project_id = %s AND stage = %s",
                (pid, event.stage),
            )
            curs.execute(
                "UPDATE project_summary SET gate_rejections = gate_rejections + 1 "
                "WHERE project_id = %s",
                (pid,),
            )
        elif isinstance(event, P.ProjectCompleted):
            curs.execute(
                "UPDATE project_summary SET status = 'completed', completed_at = %s "
                "WHERE project_id = %s",
                (ts, pid),
            )
        elif isinstance(event, P.ProjectSuspended):
            curs.execute(
                "UPDATE project_summary SET status = 'suspended' WHERE project_id = %s", (pid,)
            )
        elif isinstance(event, P.ProjectResumed):
            curs.execute(
                "UPDATE project_summary SET status = 'active' WHERE project_id = %s", (pid,)
            )
        elif isinstance(event, P.ProjectCancelled):
            curs.execute(
                "UPDATE project_summary SET status = 'cancelled', cancelled_at = %s, "
                "active_stage = NULL, stage_number = NULL WHERE project_id = %s",
                (ts, pid),
            )
            if event.stage is not None:
                curs.execute(
                    "UPDATE stage_progress SET status = 'cancelled', left_at = %s "
                    "WHERE project_id = %s AND stage = %s",
                    (ts, pid, event.stage),
                )
        else:
            return
        self._batch().last[pid] = (event.originator_version, position, ts)

    def _set_deliverable(
        self,
        curs: Cursor,
        event: Any,
        state: str,
        *,
        submitted: bool = False,
        reason: str | None = None,
    ) -> None:
        curs.execute(
            """
            UPDATE project_deliverables SET state = %s, updated_at = %s,
                submissions = submissions + %s, rejection_reason = %s
            WHERE deliverable_id = %s
            """,
            (state, event.timestamp, 1 if submitted else 0, reason, event.deliverable_id),
        )
        self._batch().dirty.add(event.originator_id)

    # -- once per batch -----------------------------------------------------------------

    def _batch(self) -> _BatchState:
        state: _BatchState | None = getattr(self._local, "batch", None)
        if state is None:
            msg = "ProjectsView.process() runs inside a batch: use a Projector"
            raise RuntimeError(msg)
        return state

    def begin_batch(self) -> None:
        self._local.batch = _BatchState()

    def end_batch(self, curs: Cursor) -> None:
        """Recounts the stages of the projects whose deliverables changed, and stamps each
        project's last version and position: a few set-based statements per batch instead
        of several per event."""
        state = self._batch()
        self._local.batch = None
        if state.dirty:
            self._recount(curs, sorted(state.dirty))
        if state.last:
            ids = list(state.last)
            curs.execute(
                """
                UPDATE project_summary ps
                SET version = v.version, position = v.position, updated_at = v.ts
                FROM unnest(%s::uuid[], %s::int[], %s::bigint[], %s::timestamptz[])
                    AS v(project_id, version, position, ts)
                WHERE ps.project_id = v.project_id
                """,
                (
                    ids,
                    [state.last[i][0] for i in ids],
                    [state.last[i][1] for i in ids],
                    [state.last[i][2] for i in ids],
                ),
            )

    def _recount(self, curs: Cursor, project_ids: list[UUID]) -> None:
        curs.execute(
            sql.SQL(
                """
                UPDATE stage_progress sp SET
                    deliverables_total = c.total,
                    deliverables_planned = c.planned,
                    deliverables_submitted = c.submitted,
                    deliverables_approved = c.approved,
                    deliverables_rejected = c.rejected,
                    mandatory_total = c.mandatory_total,
                    mandatory_approved = c.mandatory_approved,
                    percent_complete = {percent}
                FROM (
                    SELECT project_id, stage, count(*) AS total,
                        count(*) FILTER (WHERE state = 'planned') AS planned,
                        count(*) FILTER (WHERE state = 'submitted') AS submitted,
                        count(*) FILTER (WHERE state = 'approved') AS approved,
                        count(*) FILTER (WHERE state = 'rejected') AS rejected,
                        count(*) FILTER (WHERE mandatory) AS mandatory_total,
                        count(*) FILTER (WHERE mandatory AND state = 'approved')
                            AS mandatory_approved
                    FROM project_deliverables WHERE project_id = ANY(%s)
                    GROUP BY project_id, stage
                ) c
                WHERE sp.project_id = c.project_id AND sp.stage = c.stage
                """
            ).format(percent=sql.SQL(_PERCENT_SQL)),
            (project_ids,),
        )
        curs.execute(
            """
            UPDATE project_summary ps SET
                deliverables_total = c.total, deliverables_approved = c.approved
            FROM (
                SELECT project_id, count(*) AS total,
                    count(*) FILTER (WHERE state = 'approved') AS approved
                FROM project_deliverables WHERE project_id = ANY(%s)
                GROUP BY project_id
            ) c
            WHERE ps.project_id = c.project_id
            """,
            (project_ids,),
        )

    # -- queries ----------------------------------------------------------------------

    def list_projects(
        self, f: ProjectFilter, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where: list[sql.Composable] = []
        params: list[Any] = []
        for column, value, predicate in (
            ("status", f.status, "{} = %s"),
            ("active_stage", f.active_stage, "{} = %s"),
            ("agencies", f.agency, "{} @> ARRAY[%s]::text[]"),
            ("municipality", f.municipality, "{} = %s"),
        ):
            if value:
                where.append(sql.SQL(predicate).format(sql.Identifier(column)))
                params.append(value)
        clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM project_summary") + clause, params)
            total_row = curs.fetchone()
            curs.execute(
                sql.SQL("SELECT * FROM project_summary")
                + clause
                + sql.SQL(" ORDER BY initiated_at, project_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = curs.fetchall()
        return [dict(r) for r in rows], int(total_row["n"]) if total_row else 0

    def get_summary(self, project_id: UUID) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT * FROM project_summary WHERE project_id = %s", (project_id,))
            row = curs.fetchone()
        return None if row is None else dict(row)

    def stage_progress(self, project_id: UUID) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                """
                SELECT *,
                    CASE WHEN entered_at IS NULL THEN NULL
                         ELSE EXTRACT(EPOCH FROM (coalesce(left_at, now()) - entered_at))
                    END AS duration_seconds
                FROM stage_progress WHERE project_id = %s ORDER BY stage_number
                """,
                (project_id,),
            )
            return [dict(r) for r in curs.fetchall()]
