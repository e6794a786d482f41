"""Municipal assignments: the register, the execution dashboard, the redistribution log."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.types.json import Jsonb

from domain.assignment import MunicipalAssignment, Redistribution, ReportPeriod
from projections.runtime import Cursor, ProjectionView

M = MunicipalAssignment


class AssignmentsView(ProjectionView):
    name = "assignments"
    tables = ("asg_assignments", "asg_lines", "asg_reports", "asg_redistributions", "asg_legs")
    topics = tuple(
        get_topic(c)
        for c in (
            M.AssignmentDrafted,
            M.AssignmentApproved,
            M.AssignmentAmended,
            M.ExecutionReported,
            M.ReportAccepted,
            M.ReportReturned,
            M.VolumeRedistributed,
            M.AssignmentClosed,
            Redistribution.RedistributionRecorded,
        )
    )

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS asg_assignments (
                assignment_id uuid PRIMARY KEY,
                organization_id text NOT NULL,
                institution text NOT NULL,
                agency text NOT NULL,
                founder text NOT NULL,
                municipality text NOT NULL,
                fiscal_year int NOT NULL,
                status text NOT NULL,
                amendments int NOT NULL DEFAULT 0,
                version int NOT NULL,
                drafted_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS asg_lines (
                assignment_id uuid NOT NULL,
                line_id text NOT NULL,
                registry_number text NOT NULL,
                service_name text NOT NULL,
                direction text,
                unit text NOT NULL,
                normative_cost numeric NOT NULL,
                allowed_deviation_pct numeric NOT NULL,
                planned_initial numeric NOT NULL,
                planned numeric NOT NULL,
                planned_next numeric,
                planned_after_next numeric,
                report_period text,
                planned_due numeric,
                actual numeric,
                deviation_pct numeric,
                beyond_tolerance boolean NOT NULL DEFAULT false,
                PRIMARY KEY (assignment_id, line_id)
            )""",
            """
            CREATE TABLE IF NOT EXISTS asg_reports (
                report_id uuid PRIMARY KEY,
                assignment_id uuid NOT NULL,
                period text NOT NULL,
                status text NOT NULL,
                actual jsonb NOT NULL,
                deviation jsonb NOT NULL,
                beyond_tolerance jsonb NOT NULL,
                reasons jsonb NOT NULL,
                reported_at timestamptz NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS asg_redistributions (
                redistribution_id uuid PRIMARY KEY,
                year int NOT NULL,
                registry_number text NOT NULL,
                unit text NOT NULL,
                volume_moved numeric NOT NULL,
                budget_basis text,
                decision_id uuid,
                cross_founder boolean NOT NULL,
                recorded_by text NOT NULL,
                reason text,
                recorded_at timestamptz NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS asg_legs (
                redistribution_id uuid NOT NULL,
                assignment_id uuid NOT NULL,
                institution text NOT NULL,
                founder text NOT NULL,
                agency text NOT NULL,
                delta numeric NOT NULL,
                normative_cost numeric NOT NULL,
                subsidy_delta numeric NOT NULL,
                PRIMARY KEY (redistribution_id, assignment_id)
            )""",
        ]

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        aid: UUID = event.originator_id
        ts = event.timestamp
        if isinstance(event, M.AssignmentDrafted):
            curs.execute(
                "INSERT INTO asg_assignments (assignment_id, organization_id, institution, "
                "agency, founder, municipality, fiscal_year, status, version, drafted_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'draft', %s, %s, %s)",
                (
                    aid,
                    event.organization_id,
                    event.institution,
                    event.agency,
                    event.founder,
                    event.municipality,
                    event.fiscal_year,
                    event.originator_version,
                    ts,
                    ts,
                ),
            )
            fy = event.fiscal_year
            curs.executemany(
                "INSERT INTO asg_lines (assignment_id, line_id, registry_number, service_name, "
                "direction, unit, normative_cost, allowed_deviation_pct, planned_initial, "
                "planned, planned_next, planned_after_next) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        aid,
                        d["line_id"],
                        d["registry_number"],
                        d["service_name"],
                        d.get("direction"),
                        d["unit"],
                        Decimal(d["normative_cost"]),
                        Decimal(d["allowed_deviation_pct"]),
                        Decimal(d["planned"].get(str(fy), "0")),
                        Decimal(d["planned"].get(str(fy), "0")),
                        _opt(d["planned"].get(str(fy + 1))),
                        _opt(d["planned"].get(str(fy + 2))),
                    )
                    for d in event.lines
                ],
            )
            return
        if isinstance(event, Redistribution.RedistributionRecorded):
            moved = sum(
                (Decimal(leg["delta"]) for leg in event.legs if Decimal(leg["delta"]) > 0),
                Decimal(0),
            )
            curs.execute(
                "INSERT INTO asg_redistributions (redistribution_id, year, registry_number, "
                "unit, volume_moved, budget_basis, decision_id, cross_founder, recorded_by, "
                "reason, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    aid,
                    event.year,
                    event.registry_number,
                    event.unit,
                    moved,
                    event.budget_basis,
                    event.decision_id,
                    event.cross_founder,
                    event.meta.actor_id,
                    event.meta.reason,
                    ts,
                ),
            )
            curs.executemany(
                "INSERT INTO asg_legs (redistribution_id, assignment_id, institution, founder, "
                "agency, delta, normative_cost, subsidy_delta) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        aid,
                        UUID(leg["assignment_id"]),
                        leg["institution"],
                        leg["founder"],
                        leg["agency"],
                        Decimal(leg["delta"]),
                        Decimal(leg["normative_cost"]),
                        Decimal(leg["subsidy_delta"]),
                    )
                    for leg in event.legs
                ],
            )
            return
        if isinstance(event, M.AssignmentApproved):
            self._status(curs, aid, "approved")
        elif isinstance(event, M.AssignmentAmended):
            for c in event.changes:
                self._set_planned(curs, aid, c["line_id"], int(c["year"]), Decimal(c["planned"]))
            self._status(curs, aid, "amended", amended=True)
        elif isinstance(event, M.VolumeRedistributed):
            curs.execute("SELECT fiscal_year FROM asg_assignments WHERE assignment_id = %s", (aid,))
            row = curs.fetchone()
            assert row is not None
            column = _year_column(row["fiscal_year"], event.year)
            curs.execute(
                sql.SQL(
                    "UPDATE asg_lines SET {c} = coalesce({c}, 0) + %s "
                    "WHERE assignment_id = %s AND line_id = %s"
                ).format(c=sql.Identifier(column)),
                (Decimal(event.delta), aid, event.line_id),
            )
            self._status(curs, aid, "amended", amended=True)
        elif isinstance(event, M.ExecutionReported):
            curs.execute(
                "INSERT INTO asg_reports (report_id, assignment_id, period, status, actual, "
                "deviation, beyond_tolerance, reasons, reported_at) "
                "VALUES (%s, %s, %s, 'submitted', %s, %s, %s, %s, %s)",
                (
                    event.report_id,
                    aid,
                    event.period,
                    Jsonb(event.actual),
                    Jsonb(event.deviation),
                    Jsonb(event.beyond_tolerance),
                    Jsonb(event.reasons),
                    ts,
                ),
            )
            share = ReportPeriod(event.period).share
            for key, value in event.actual.items():
                if ":" in key:
                    continue  # quality indicators stay in the report row
                # The register shows the latest period reported: a late report for an
                # earlier period does not replace it.
                curs.execute(
                    "UPDATE asg_lines SET report_period = %s, planned_due = planned * %s, "
                    "actual = %s, deviation_pct = %s, beyond_tolerance = %s "
                    "WHERE assignment_id = %s AND line_id = %s AND (report_period IS NULL OR "
                    "array_position(ARRAY['q1', 'h1', '9m', 'year'], report_period) "
                    "<= array_position(ARRAY['q1', 'h1', '9m', 'year'], %s))",
                    (
                        event.period,
                        share,
                        Decimal(value),
                        Decimal(event.deviation[key]),
                        key in event.beyond_tolerance,
                        aid,
                        key,
                        event.period,
                    ),
                )
        elif isinstance(event, M.ReportAccepted | M.ReportReturned):
            status = "accepted" if isinstance(event, M.ReportAccepted) else "returned"
            curs.execute(
                "UPDATE asg_reports SET status = %s WHERE report_id = %s",
                (status, event.report_id),
            )
        elif isinstance(event, M.AssignmentClosed):
            self._status(curs, aid, "closed")
        else:
            return
        curs.execute(
            "UPDATE asg_assignments SET version = %s, updated_at = %s WHERE assignment_id = %s",
            (event.originator_version, ts, aid),
        )

    def _status(self, curs: Cursor, aid: UUID, status: str, *, amended: bool = False) -> None:
        curs.execute(
            "UPDATE asg_assignments SET status = %s, amendments = amendments + %s "
            "WHERE assignment_id = %s",
            (status, 1 if amended else 0, aid),
        )

    def _set_planned(
        self, curs: Cursor, aid: UUID, line_id: str, year: int, volume: Decimal
    ) -> None:
        curs.execute("SELECT fiscal_year FROM asg_assignments WHERE assignment_id = %s", (aid,))
        row = curs.fetchone()
        assert row is not None
        column = _year_column(row["fiscal_year"], year)
        curs.execute(
            sql.SQL(
                "UPDATE asg_lines SET {} = %s WHERE assignment_id = %s AND line_id = %s"
            ).format(sql.Identifier(column)),
            (volume, aid, line_id),
        )

    # -- queries ------------------------------------------------------------------------

    def register(
        self,
        *,
        fiscal_year: int | None = None,
        agency: str | None = None,
        municipality: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Per institution and service: planned (initial and now), actual, deviation, status."""
        where, params = _filters(fiscal_year, agency, municipality)
        base = (
            sql.SQL(
                "SELECT a.*, l.line_id, l.registry_number, l.service_name, l.direction, l.unit, "
                "l.normative_cost, l.allowed_deviation_pct, l.planned_initial, l.planned, "
                "l.planned_next, l.planned_after_next, l.report_period, l.planned_due, l.actual, "
                "l.deviation_pct, l.beyond_tolerance, l.planned * l.normative_cost AS subsidy "
                "FROM asg_assignments a JOIN asg_lines l USING (assignment_id)"
            )
            + where
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM ({}) q").format(base), params)
            total = curs.fetchone()
            curs.execute(
                base
                + sql.SQL(" ORDER BY a.institution, a.assignment_id, l.line_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, 0 if total is None else int(total["n"])

    def outside_tolerance(
        self,
        *,
        fiscal_year: int | None = None,
        agency: str | None = None,
        municipality: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int, Decimal]:
        """Lines whose latest report is beyond tolerance, with the subsidy at risk of return:
        the volume below the tolerated minimum of the plan due, at the line's normative cost,
        rounded to kopecks. Answers a page of them, how many there are in all and the
        subsidy at risk summed over all of them (not the page only)."""
        where, params = _filters(fiscal_year, agency, municipality)
        where = (
            where
            + (sql.SQL(" AND ") if params else sql.SQL(" WHERE "))
            + sql.SQL("l.beyond_tolerance")
        )
        base = (
            sql.SQL(
                "SELECT a.assignment_id, a.institution, a.agency, a.founder, a.fiscal_year, "
                "l.line_id, l.registry_number, l.unit, l.report_period, l.planned_due, l.actual, "
                "l.deviation_pct, l.allowed_deviation_pct, "
                "round(greatest(l.planned_due * (1 - l.allowed_deviation_pct / 100) "
                "- l.actual, 0) * l.normative_cost, 2) AS subsidy_at_risk "
                "FROM asg_assignments a JOIN asg_lines l USING (assignment_id)"
            )
            + where
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                sql.SQL(
                    "SELECT count(*) AS n, coalesce(sum(subsidy_at_risk), 0) AS at_risk FROM ({}) q"
                ).format(base),
                params,
            )
            totals = curs.fetchone()
            # assignment_id and line_id make the order total: pages neither repeat nor skip.
            curs.execute(
                base
                + sql.SQL(
                    " ORDER BY subsidy_at_risk DESC, a.institution, a.assignment_id, l.line_id "
                    "LIMIT %s OFFSET %s"
                ),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        if totals is None:
            return rows, 0, Decimal(0)
        return rows, int(totals["n"]), Decimal(totals["at_risk"])

    def redistributions(
        self, limit: int = 50, offset: int = 0, municipality: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        where = sql.SQL("")
        params: list[Any] = []
        if municipality is not None:
            where = sql.SQL(_IN_MUNICIPALITY)
            params.append(municipality)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM asg_redistributions r") + where, params)
            total = curs.fetchone()
            curs.execute(
                sql.SQL(_REDISTRIBUTIONS)
                + where
                + sql.SQL(" ORDER BY r.recorded_at, r.redistribution_id LIMIT %s OFFSET %s"),
                (*params, limit, offset),
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, 0 if total is None else int(total["n"])

    def redistribution(self, redistribution_id: UUID) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                sql.SQL(_REDISTRIBUTIONS) + sql.SQL(" WHERE r.redistribution_id = %s"),
                (redistribution_id,),
            )
            row = curs.fetchone()
        return None if row is None else dict(row)

    def redistribution_municipality(self, redistribution_id: UUID) -> str | None:
        """The municipality of a redistribution's assignments (for read access checks)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT a.municipality FROM asg_legs g JOIN asg_assignments a "
                "ON a.assignment_id = g.assignment_id WHERE g.redistribution_id = %s LIMIT 1",
                (redistribution_id,),
            )
            row = curs.fetchone()
        return None if row is None else str(row["municipality"])


# Redistributions move volume within one municipality: its legs' assignments tell which.
_IN_MUNICIPALITY = (
    " WHERE r.redistribution_id IN (SELECT g.redistribution_id FROM asg_legs g "
    "JOIN asg_assignments a ON a.assignment_id = g.assignment_id WHERE a.municipality = %s)"
)

_REDISTRIBUTIONS = (
    # Amounts travel as text inside the JSON, so they stay exact decimals.
    "SELECT r.*, coalesce((SELECT jsonb_agg(jsonb_build_object("
    "'assignment_id', g.assignment_id, 'institution', g.institution, "
    "'founder', g.founder, 'agency', g.agency, 'delta', g.delta::text, "
    "'normative_cost', g.normative_cost::text, "
    "'subsidy_delta', g.subsidy_delta::text) "
    "ORDER BY g.delta, g.institution) FROM asg_legs g "
    "WHERE g.redistribution_id = r.redistribution_id), '[]') AS legs "
    "FROM asg_redistributions r"
)


def _opt(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _year_column(fiscal_year: int, year: int) -> str:
    return {0: "planned", 1: "planned_next", 2: "planned_after_next"}[year - fiscal_year]


def _filters(
    fiscal_year: int | None, agency: str | None, municipality: str | None
) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (
        ("fiscal_year", fiscal_year),
        ("agency", agency),
        ("municipality", municipality),
    ):
        if value is not None:
            parts.append(sql.SQL("a.{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params
