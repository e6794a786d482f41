"""The analyst tables: aggregated figures read from the projection tables.

Each :class:`Table` is one SQL query over the tables of one projection, with a fixed list
of columns and a stable order. The API answers a page of it as JSON, or streams all of it
as CSV through a server-side (named) cursor, so memory does not grow with the row count.
Nothing here writes: these are reads of the projections, in a read-only transaction.

No table holds personal data: working-group members and children appear only as counts,
never by name or id. See docs/analytics.md, "Analyst API", for what each column means.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import tuple_row
from psycopg.types.string import TextLoader

from domain.project import STAGES
from domain.values import Mechanism
from interagency.pipeline import READ_STATEMENT_TIMEOUT_MS
from projections.coverage import MAX_AGE, MIN_AGE

# The stages in order, and the mechanisms, as SQL VALUES: every table that is "per stage"
# or "per mechanism" has a row for each, even with nothing in it.
_STAGES_VALUES = ", ".join(f"('{s.value}', {s.number})" for s in STAGES)
_MECHANISMS_VALUES = ", ".join(f"('{m.value}', {i})" for i, m in enumerate(Mechanism, 1))
_PERIODS = "ARRAY['q1', 'h1', '9m', 'year']"


@dataclass(frozen=True)
class AnalyticsFilter:
    """The filters of an analyst table; each table uses those that mean something for it.

    ``date_from``/``date_to`` are the period, both inclusive, in the municipality's local
    dates; either may be open.
    """

    municipality: str | None = None
    agency: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Context:
    """What a query needs besides the filters: today's local date and the time zone."""

    today: date
    timezone: str


Query = tuple[sql.Composed, dict[str, Any]]


@dataclass(frozen=True)
class Table:
    """One analyst table: its name, the projection it reads, its columns and its query."""

    name: str
    projection: str
    columns: tuple[str, ...]
    build: Callable[[AnalyticsFilter, Context], Query]

    def query(self, f: AnalyticsFilter, ctx: Context) -> Query:
        return self.build(f, ctx)


def _params(f: AnalyticsFilter, ctx: Context) -> dict[str, Any]:
    return {
        "municipality": f.municipality,
        "agency": f.agency,
        "date_from": f.date_from,
        "date_to": f.date_to,
        "year_from": None if f.date_from is None else f.date_from.year,
        "year_to": None if f.date_to is None else f.date_to.year,
        "today": ctx.today,
        "tz": ctx.timezone,
        "min_age": MIN_AGE,
        "max_age": MAX_AGE,
    }


def _and(conditions: list[str]) -> sql.Composable:
    return sql.SQL(" AND ".join(conditions) if conditions else "true")


def _period(f: AnalyticsFilter, column: str) -> list[str]:
    """Conditions that put the date ``column`` within the period."""
    out: list[str] = []
    if f.date_from is not None:
        out.append(f"{column} >= %(date_from)s")
    if f.date_to is not None:
        out.append(f"{column} <= %(date_to)s")
    return out


def _local_date(column: str) -> str:
    """A timestamptz column as the municipality's local date."""
    return f"({column} AT TIME ZONE %(tz)s)::date"


# -- projects ------------------------------------------------------------------------------


def _projects_scope(f: AnalyticsFilter, alias: str = "p") -> list[str]:
    """Projects of the municipality, in which the agency takes part, initiated in the period."""
    out: list[str] = []
    if f.municipality is not None:
        out.append(f"{alias}.municipality = %(municipality)s")
    if f.agency is not None:
        out.append(f"%(agency)s = ANY({alias}.agencies)")
    return out + _period(f, _local_date(f"{alias}.initiated_at"))


def _projects_by_stage(f: AnalyticsFilter, ctx: Context) -> Query:
    # One row per stage and status for all agencies (agency null), then one per agency
    # taking part: a project of three agencies counts once in the first, in three of these.
    query = sql.SQL(
        """
        WITH p AS (
            SELECT * FROM project_summary p WHERE {scope}
        ), pa AS (
            SELECT p.*, a.agency FROM p CROSS JOIN LATERAL unnest(p.agencies) AS a(agency)
            WHERE {agency}
        ), r AS (
            SELECT active_stage AS stage, stage_number, status, NULL::text AS agency,
                count(*) AS projects,
                count(*) FILTER (WHERE {lead}) AS lead_projects,
                sum(deliverables_total) AS deliverables_total,
                sum(deliverables_approved) AS deliverables_approved
            FROM p GROUP BY active_stage, stage_number, status
            UNION ALL
            SELECT active_stage, stage_number, status, agency,
                count(*), count(*) FILTER (WHERE lead_agency = agency),
                sum(deliverables_total), sum(deliverables_approved)
            FROM pa GROUP BY active_stage, stage_number, status, agency
        )
        SELECT stage, stage_number, status, agency, projects, lead_projects,
            deliverables_total, deliverables_approved
        FROM r ORDER BY stage_number NULLS LAST, status, agency NULLS FIRST
        """
    ).format(
        scope=_and(_projects_scope(f)),
        agency=_and([] if f.agency is None else ["a.agency = %(agency)s"]),
        lead=sql.SQL("true" if f.agency is None else "lead_agency = %(agency)s"),
    )
    return query, _params(f, ctx)


# Stages that were entered: the plan is the latest due date of the stage's deliverables.
_STAGE_ROWS = """
    WITH d AS (
        SELECT project_id, stage, max(due_date) AS planned_end
        FROM project_deliverables GROUP BY project_id, stage
    ), s AS (
        SELECT p.project_id, p.title, p.municipality, p.lead_agency, sp.stage,
            sp.stage_number, sp.status,
            ({entered}) AS entered_on,
            ({left}) AS left_on,
            d.planned_end
        FROM stage_progress sp
        JOIN project_summary p USING (project_id)
        LEFT JOIN d ON d.project_id = sp.project_id AND d.stage = sp.stage
        WHERE sp.entered_at IS NOT NULL AND {scope}
    ), x AS (
        SELECT s.*,
            planned_end - entered_on AS planned_days,
            coalesce(left_on, %(today)s) - entered_on AS actual_days,
            coalesce(left_on, %(today)s) - planned_end AS overrun_days
        FROM s
    )
"""


def _stage_scope(f: AnalyticsFilter) -> sql.Composable:
    """Projects of the municipality and agency; stages entered within the period."""
    out: list[str] = []
    if f.municipality is not None:
        out.append("p.municipality = %(municipality)s")
    if f.agency is not None:
        out.append("%(agency)s = ANY(p.agencies)")
    return _and(out + _period(f, _local_date("sp.entered_at")))


def _stage_rows(f: AnalyticsFilter) -> sql.Composed:
    return sql.SQL(_STAGE_ROWS).format(
        entered=sql.SQL(_local_date("sp.entered_at")),
        left=sql.SQL(_local_date("sp.left_at")),
        scope=_stage_scope(f),
    )


def _stage_durations(f: AnalyticsFilter, ctx: Context) -> Query:
    done = "x.status = 'completed'"
    planned_done = f"{done} AND x.planned_days IS NOT NULL"
    query = _stage_rows(f) + sql.SQL(
        """
        SELECT st.stage, st.stage_number,
            count(x.stage) AS projects_entered,
            count(x.stage) FILTER (WHERE {done}) AS completed,
            count(x.stage) FILTER (WHERE x.status = 'active') AS active,
            count(x.planned_days) AS with_plan,
            round(avg(x.planned_days), 1) AS planned_days_mean,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.planned_days)::numeric, 1)
                AS planned_days_median,
            round(avg(x.actual_days) FILTER (WHERE {done}), 1) AS actual_days_mean,
            round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x.actual_days)
                FILTER (WHERE {done}))::numeric, 1) AS actual_days_median,
            round(avg(x.overrun_days) FILTER (WHERE {planned_done}), 1) AS overrun_days_mean,
            round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x.overrun_days)
                FILTER (WHERE {planned_done}))::numeric, 1) AS overrun_days_median,
            count(x.stage) FILTER (WHERE {planned_done} AND x.overrun_days > 0)
                AS completed_late,
            count(x.stage) FILTER (WHERE x.status = 'active' AND x.overrun_days > 0)
                AS active_overdue
        FROM (VALUES {stages}) AS st(stage, stage_number)
        LEFT JOIN x ON x.stage = st.stage
        GROUP BY st.stage, st.stage_number
        ORDER BY st.stage_number
        """
    ).format(
        done=sql.SQL(done),
        planned_done=sql.SQL(planned_done),
        stages=sql.SQL(_STAGES_VALUES),
    )
    return query, _params(f, ctx)


def _stage_durations_projects(f: AnalyticsFilter, ctx: Context) -> Query:
    query = _stage_rows(f) + sql.SQL(
        """
        SELECT project_id, title, municipality, lead_agency, stage, stage_number, status,
            entered_on, left_on, planned_end, planned_days, actual_days,
            CASE WHEN planned_end IS NULL THEN NULL ELSE overrun_days END AS overrun_days
        FROM x ORDER BY title, project_id, stage_number
        """
    )
    return query, _params(f, ctx)


def _deliverables_by_mechanism(f: AnalyticsFilter, ctx: Context) -> Query:
    scope = []
    if f.municipality is not None:
        scope.append("p.municipality = %(municipality)s")
    if f.agency is not None:
        scope.append("%(agency)s = ANY(p.agencies)")
    scope += _period(f, _local_date("d.planned_at"))
    query = sql.SQL(
        """
        WITH d AS (
            SELECT d.*, p.status AS project_status
            FROM project_deliverables d JOIN project_summary p USING (project_id)
            WHERE {scope}
        )
        SELECT m.mechanism,
            count(d.deliverable_id) AS deliverables,
            count(DISTINCT d.project_id) AS projects,
            count(d.deliverable_id) FILTER (WHERE d.mandatory) AS mandatory,
            count(d.deliverable_id) FILTER (WHERE d.state = 'planned') AS planned,
            count(d.deliverable_id) FILTER (WHERE d.state = 'submitted') AS submitted,
            count(d.deliverable_id) FILTER (WHERE d.state = 'approved') AS approved,
            count(d.deliverable_id) FILTER (WHERE d.state = 'rejected') AS rejected,
            count(d.deliverable_id) FILTER (WHERE d.state <> 'approved'
                AND d.due_date < %(today)s
                AND d.project_status IN ('active', 'suspended')) AS overdue,
            round(100.0 * count(d.deliverable_id) FILTER (WHERE d.state = 'approved')
                / nullif(count(d.deliverable_id), 0), 1) AS approved_pct
        FROM (VALUES {mechanisms}) AS m(mechanism, ord)
        LEFT JOIN d ON d.mechanism = m.mechanism
        GROUP BY m.mechanism, m.ord
        ORDER BY m.ord
        """
    ).format(scope=_and(scope), mechanisms=sql.SQL(_MECHANISMS_VALUES))
    return query, _params(f, ctx)


# -- working groups ----------------------------------------------------------------------


def _working_groups(f: AnalyticsFilter, ctx: Context) -> Query:
    scope = []
    if f.municipality is not None:
        scope.append("g.municipality = %(municipality)s")
    if f.agency is not None:
        # A group "of" an agency: one of its members (current or past) is of that agency.
        scope.append(
            "EXISTS (SELECT 1 FROM wg_members m WHERE m.group_id = g.group_id "
            "AND m.agency = %(agency)s)"
        )
    query = sql.SQL(
        """
        WITH g AS (
            SELECT * FROM wg_groups g WHERE {scope}
        ), mem AS (
            SELECT group_id,
                count(*) FILTER (WHERE dismissed_on IS NULL) AS members,
                count(*) FILTER (WHERE dismissed_on IS NULL AND voting) AS voting_members
            FROM wg_members WHERE group_id IN (SELECT group_id FROM g) GROUP BY group_id
        ), mt AS (
            SELECT group_id, count(*) AS meetings,
                count(*) FILTER (WHERE present IS NOT NULL) AS meetings_with_attendance,
                count(*) FILTER (WHERE quorum_met) AS meetings_quorate,
                count(*) FILTER (WHERE signed_at IS NOT NULL) AS protocols_signed,
                round(avg(attendance_rate), 1) AS attendance_rate_mean,
                coalesce(sum(motions), 0) AS motions
            FROM wg_meetings
            WHERE group_id IN (SELECT group_id FROM g) AND {meetings}
            GROUP BY group_id
        ), mo AS (
            SELECT mo.group_id, count(*) FILTER (WHERE mo.adopted) AS motions_adopted
            FROM wg_motions mo JOIN wg_meetings wm
                ON wm.group_id = mo.group_id AND wm.meeting_id = mo.meeting_id
            WHERE mo.group_id IN (SELECT group_id FROM g) AND {motions}
            GROUP BY mo.group_id
        ), dc AS (
            SELECT group_id, count(*) AS decisions,
                count(*) FILTER (WHERE adopted AND signed AND superseded_by IS NULL)
                    AS decisions_in_force
            FROM wg_decisions
            WHERE group_id IN (SELECT group_id FROM g) AND {decisions}
            GROUP BY group_id
        ), ai AS (
            SELECT group_id, count(*) AS action_items,
                count(*) FILTER (WHERE done_on IS NOT NULL) AS action_items_done,
                count(*) FILTER (WHERE done_on <= deadline) AS action_items_done_on_time,
                count(*) FILTER (WHERE done_on IS NULL AND deadline < %(today)s)
                    AS action_items_overdue
            FROM wg_action_items
            WHERE group_id IN (SELECT group_id FROM g) AND {items}
            GROUP BY group_id
        )
        SELECT g.group_id, g.name, g.kind, g.municipality, g.project_id, g.status,
            coalesce(mem.members, 0) AS members,
            coalesce(mem.voting_members, 0) AS voting_members,
            coalesce(mt.meetings, 0) AS meetings,
            coalesce(mt.meetings_with_attendance, 0) AS meetings_with_attendance,
            coalesce(mt.meetings_quorate, 0) AS meetings_quorate,
            coalesce(mt.protocols_signed, 0) AS protocols_signed,
            mt.attendance_rate_mean,
            coalesce(mt.motions, 0) AS motions,
            coalesce(mo.motions_adopted, 0) AS motions_adopted,
            coalesce(dc.decisions, 0) AS decisions,
            coalesce(dc.decisions_in_force, 0) AS decisions_in_force,
            coalesce(ai.action_items, 0) AS action_items,
            coalesce(ai.action_items_done, 0) AS action_items_done,
            coalesce(ai.action_items_done_on_time, 0) AS action_items_done_on_time,
            coalesce(ai.action_items_overdue, 0) AS action_items_overdue,
            round(100.0 * ai.action_items_done / nullif(ai.action_items, 0), 1)
                AS completion_pct
        FROM g
        LEFT JOIN mem USING (group_id)
        LEFT JOIN mt USING (group_id)
        LEFT JOIN mo USING (group_id)
        LEFT JOIN dc USING (group_id)
        LEFT JOIN ai USING (group_id)
        ORDER BY g.name, g.group_id
        """
    ).format(
        scope=_and(scope),
        meetings=_and(_period(f, "held_on")),
        motions=_and(_period(f, "wm.held_on")),
        decisions=_and(_period(f, "held_on")),
        items=_and(_period(f, "deadline")),
    )
    return query, _params(f, ctx)


# -- municipal assignments ---------------------------------------------------------------


def _assignments_scope(f: AnalyticsFilter) -> sql.Composable:
    """Approved (not draft) assignments of the municipality and agency whose fiscal year
    falls within the period's years."""
    out = ["a.status <> 'draft'"]
    if f.municipality is not None:
        out.append("a.municipality = %(municipality)s")
    if f.agency is not None:
        out.append("a.agency = %(agency)s")
    if f.date_from is not None:
        out.append("a.fiscal_year >= %(year_from)s")
    if f.date_to is not None:
        out.append("a.fiscal_year <= %(year_to)s")
    return _and(out)


_AT_RISK = (
    "round(greatest(l.planned_due * (1 - l.allowed_deviation_pct / 100) - l.actual, 0) "
    "* l.normative_cost, 2)"
)


def _assignment_execution(f: AnalyticsFilter, ctx: Context) -> Query:
    query = sql.SQL(
        """
        WITH r AS (
            SELECT a.fiscal_year, a.agency, l.direction, l.unit, l.report_period,
                count(DISTINCT a.assignment_id) AS assignments,
                count(*) AS lines,
                sum(l.planned_initial) AS planned_initial,
                sum(l.planned) AS planned,
                sum(l.planned_due) AS planned_due,
                sum(l.actual) AS actual,
                count(*) FILTER (WHERE l.beyond_tolerance) AS lines_beyond_tolerance,
                sum(l.planned * l.normative_cost) AS subsidy,
                coalesce(sum({at_risk}) FILTER (WHERE l.beyond_tolerance), 0)
                    AS subsidy_at_risk
            FROM asg_assignments a JOIN asg_lines l USING (assignment_id)
            WHERE {scope}
            GROUP BY a.fiscal_year, a.agency, l.direction, l.unit, l.report_period
        )
        SELECT fiscal_year, agency, direction, unit, report_period, assignments, lines,
            planned_initial, planned, planned_due, actual,
            CASE
                WHEN planned_due IS NULL THEN NULL
                WHEN planned_due = 0 THEN CASE WHEN actual = 0 THEN 0.00 ELSE 100.00 END
                ELSE round(100 * (actual - planned_due) / planned_due, 2)
            END AS deviation_pct,
            lines_beyond_tolerance, subsidy, subsidy_at_risk
        FROM r
        ORDER BY fiscal_year, agency, direction NULLS LAST, unit,
            array_position({periods}, report_period) NULLS FIRST
        """
    ).format(at_risk=sql.SQL(_AT_RISK), scope=_assignments_scope(f), periods=sql.SQL(_PERIODS))
    return query, _params(f, ctx)


def _assignments_outside_tolerance(f: AnalyticsFilter, ctx: Context) -> Query:
    query = sql.SQL(
        """
        SELECT a.assignment_id, a.organization_id, a.institution, a.agency, a.founder,
            a.municipality, a.fiscal_year, l.line_id, l.registry_number, l.service_name,
            l.direction, l.unit, l.report_period, l.planned_due, l.actual, l.deviation_pct,
            l.allowed_deviation_pct, {at_risk} AS subsidy_at_risk
        FROM asg_assignments a JOIN asg_lines l USING (assignment_id)
        WHERE l.beyond_tolerance AND {scope}
        ORDER BY subsidy_at_risk DESC, a.institution, a.assignment_id, l.line_id
        """
    ).format(at_risk=sql.SQL(_AT_RISK), scope=_assignments_scope(f))
    return query, _params(f, ctx)


# -- the network and coverage ------------------------------------------------------------


def _network_programs(f: AnalyticsFilter, ctx: Context) -> Query:
    scope = []
    if f.municipality is not None:
        scope.append("p.municipality = %(municipality)s")
    if f.agency is not None:
        scope.append("p.agency = %(agency)s")
    query = sql.SQL(
        """
        WITH p AS (
            SELECT p.*, (p.status = 'published' AND (p.form = 'standalone' OR EXISTS (
                SELECT 1 FROM net_agreements a JOIN net_agreement_programs ap
                    ON ap.agreement_id = a.agreement_id AND ap.version = a.version_in_force
                WHERE a.in_force AND ap.program_id = p.program_id))) AS in_catalogue,
                (SELECT count(*) FROM net_agreements a JOIN net_agreement_programs ap
                    ON ap.agreement_id = a.agreement_id AND ap.version = a.version_in_force
                WHERE a.in_force AND ap.program_id = p.program_id) AS agreements_in_force
            FROM net_programs p WHERE {scope}
        )
        SELECT agency, direction, form,
            count(*) AS programs,
            count(*) FILTER (WHERE status = 'draft') AS draft,
            count(*) FILTER (WHERE status = 'approved') AS approved,
            count(*) FILTER (WHERE status = 'published') AS published,
            count(*) FILTER (WHERE status = 'archived') AS archived,
            count(*) FILTER (WHERE in_catalogue) AS in_catalogue,
            count(*) FILTER (WHERE agreements_in_force > 0) AS under_agreement_in_force,
            coalesce(sum(capacity) FILTER (WHERE status = 'published'), 0) AS capacity,
            coalesce(sum(active_enrolments), 0) AS active_enrolments,
            coalesce(sum(greatest(capacity - active_enrolments, 0))
                FILTER (WHERE status = 'published'), 0) AS places_left,
            coalesce(sum(enrolments_total), 0) AS enrolments_total
        FROM p
        GROUP BY agency, direction, form
        ORDER BY agency, direction, form
        """
    ).format(scope=_and(scope))
    return query, _params(f, ctx)


def _coverage(f: AnalyticsFilter, ctx: Context) -> Query:
    programs = []
    if f.municipality is not None:
        programs.append("p.municipality = %(municipality)s")
    if f.agency is not None:
        programs.append("p.agency = %(agency)s")
    population = []
    if f.municipality is not None:
        population.append("municipality = %(municipality)s")
    # The years: every year with a population figure in scope (coverage needs its
    # denominator), within the period's years if one is given.
    years_scope = list(population)
    if f.date_from is not None:
        years_scope.append("year >= %(year_from)s")
    if f.date_to is not None:
        years_scope.append("year <= %(year_to)s")
    years = sql.SQL("SELECT DISTINCT year FROM cov_population WHERE {}").format(_and(years_scope))
    query = sql.SQL(
        """
        WITH y AS ({years}), e AS (
            SELECT y.year, p.municipality, p.agency, p.direction, e.funding_source,
                e.child_id
            FROM y
            JOIN cov_enrolments e ON e.start_date <= make_date(y.year, 12, 31)
                AND (e.end_date IS NULL OR e.end_date >= make_date(y.year, 1, 1))
                AND y.year - e.birth_year BETWEEN %(min_age)s AND %(max_age)s
            JOIN cov_programs p USING (program_id)
            WHERE {programs}
        ), pop AS (
            SELECT year, municipality, sum(children_5_17) AS population
            FROM cov_population WHERE year IN (SELECT year FROM y) AND {population}
            GROUP BY year, municipality
        ), tot AS (
            SELECT year, municipality, count(DISTINCT child_id) AS children,
                count(*) AS enrolments
            FROM e GROUP BY year, municipality
        ), r AS (
            SELECT year, municipality, 'total' AS slice, NULL::text AS key, 0 AS ord,
                coalesce(tot.children, 0) AS children, coalesce(tot.enrolments, 0) AS enrolments
            FROM pop FULL JOIN tot USING (year, municipality)
            UNION ALL
            SELECT year, municipality, 'agency', agency, 1, count(DISTINCT child_id), count(*)
            FROM e GROUP BY year, municipality, agency
            UNION ALL
            SELECT year, municipality, 'direction', direction, 2, count(DISTINCT child_id),
                count(*)
            FROM e GROUP BY year, municipality, direction
            UNION ALL
            SELECT year, municipality, 'funding_source', funding_source, 3,
                count(DISTINCT child_id), count(*)
            FROM e GROUP BY year, municipality, funding_source
        )
        SELECT r.year, r.municipality, r.slice, r.key, pop.population, r.children,
            r.enrolments,
            round(100.0 * r.children / nullif(pop.population, 0), 1) AS coverage_pct,
            round(1.0 * r.enrolments / nullif(r.children, 0), 2) AS enrolments_per_child
        FROM r LEFT JOIN pop USING (year, municipality)
        ORDER BY r.year, r.municipality, r.ord, r.key
        """
    ).format(years=years, programs=_and(programs), population=_and(population))
    return query, _params(f, ctx)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "projects_by_stage",
            "projects",
            (
                "stage",
                "stage_number",
                "status",
                "agency",
                "projects",
                "lead_projects",
                "deliverables_total",
                "deliverables_approved",
            ),
            _projects_by_stage,
        ),
        Table(
            "stage_durations",
            "projects",
            (
                "stage",
                "stage_number",
                "projects_entered",
                "completed",
                "active",
                "with_plan",
                "planned_days_mean",
                "planned_days_median",
                "actual_days_mean",
                "actual_days_median",
                "overrun_days_mean",
                "overrun_days_median",
                "completed_late",
                "active_overdue",
            ),
            _stage_durations,
        ),
        Table(
            "stage_durations_projects",
            "projects",
            (
                "project_id",
                "title",
                "municipality",
                "lead_agency",
                "stage",
                "stage_number",
                "status",
                "entered_on",
                "left_on",
                "planned_end",
                "planned_days",
                "actual_days",
                "overrun_days",
            ),
            _stage_durations_projects,
        ),
        Table(
            "deliverables_by_mechanism",
            "projects",
            (
                "mechanism",
                "deliverables",
                "projects",
                "mandatory",
                "planned",
                "submitted",
                "approved",
                "rejected",
                "overdue",
                "approved_pct",
            ),
            _deliverables_by_mechanism,
        ),
        Table(
            "working_groups",
            "groups",
            (
                "group_id",
                "name",
                "kind",
                "municipality",
                "project_id",
                "status",
                "members",
                "voting_members",
                "meetings",
                "meetings_with_attendance",
                "meetings_quorate",
                "protocols_signed",
                "attendance_rate_mean",
                "motions",
                "motions_adopted",
                "decisions",
                "decisions_in_force",
                "action_items",
                "action_items_done",
                "action_items_done_on_time",
                "action_items_overdue",
                "completion_pct",
            ),
            _working_groups,
        ),
        Table(
            "assignment_execution",
            "assignments",
            (
                "fiscal_year",
                "agency",
                "direction",
                "unit",
                "report_period",
                "assignments",
                "lines",
                "planned_initial",
                "planned",
                "planned_due",
                "actual",
                "deviation_pct",
                "lines_beyond_tolerance",
                "subsidy",
                "subsidy_at_risk",
            ),
            _assignment_execution,
        ),
        Table(
            "assignments_outside_tolerance",
            "assignments",
            (
                "assignment_id",
                "organization_id",
                "institution",
                "agency",
                "founder",
                "municipality",
                "fiscal_year",
                "line_id",
                "registry_number",
                "service_name",
                "direction",
                "unit",
                "report_period",
                "planned_due",
                "actual",
                "deviation_pct",
                "allowed_deviation_pct",
                "subsidy_at_risk",
            ),
            _assignments_outside_tolerance,
        ),
        Table(
            "network_programs",
            "network",
            (
                "agency",
                "direction",
                "form",
                "programs",
                "draft",
                "approved",
                "published",
                "archived",
                "in_catalogue",
                "under_agreement_in_force",
                "capacity",
                "active_enrolments",
                "places_left",
                "enrolments_total",
            ),
            _network_programs,
        ),
        Table(
            "coverage",
            "coverage",
            (
                "year",
                "municipality",
                "slice",
                "key",
                "population",
                "children",
                "enrolments",
                "coverage_pct",
                "enrolments_per_child",
            ),
            _coverage,
        ),
    )
}


class AnalyticsQueries:
    """Runs the analyst tables on the projections' database (the views' own pool)."""

    def __init__(self, datastore: PostgresDatastore, timezone: str) -> None:
        self.datastore = datastore
        self.timezone = timezone

    def _query(self, table: Table, f: AnalyticsFilter, today: date) -> Query:
        return table.query(f, Context(today, self.timezone))

    def page(
        self, table: Table, f: AnalyticsFilter, today: date, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the table's rows (as dicts, in its order) and how many rows it has."""
        query, params = self._query(table, f, today)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SET TRANSACTION READ ONLY")
            curs.execute(sql.SQL("SELECT count(*) AS n FROM ({}) q").format(query), params)
            counted = curs.fetchone()
            # Every table's query ends with its ORDER BY: the page is a slice of that order.
            curs.execute(
                query + sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s"),
                {**params, "limit": limit, "offset": offset},
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, 0 if counted is None else int(counted["n"])

    def stream(
        self, table: Table, f: AnalyticsFilter, today: date, itersize: int = 2000
    ) -> Iterator[tuple[str | None, ...]]:
        """Every row of the table, in its order, as text: each value as PostgreSQL writes
        it (ISO dates, exact decimals), booleans ``true``/``false``, null as None. These
        are the values of the JSON answer, without parsing them in Python (CSV export).

        A server-side cursor fetches ``itersize`` rows at a time, in one read-only
        transaction (one snapshot) that holds a pooled connection until the iterator is
        exhausted or closed. Under the API, each statement is bounded by
        ``READ_STATEMENT_TIMEOUT_MS`` as every other read is.
        """
        query, params = self._query(table, f, today)
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SET LOCAL DateStyle = 'ISO'")
            # The API's read bound (this connection is not the datastore's transaction(),
            # which sets it for other reads): each FETCH of the export is one statement.
            timeout_ms = READ_STATEMENT_TIMEOUT_MS.get()
            if timeout_ms > 0:
                conn.execute(
                    sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms))
                )
            with conn.cursor(name=f"analytics_{uuid.uuid4().hex}", row_factory=tuple_row) as cur:
                for type_name in _AS_TEXT:
                    cur.adapters.register_loader(type_name, TextLoader)
                cur.adapters.register_loader("bool", _BoolTextLoader)
                cur.itersize = itersize
                cur.execute(query, params)
                yield from cur


# The types of the tables' columns, loaded as the text PostgreSQL sends.
_AS_TEXT = ("int2", "int4", "int8", "numeric", "date", "uuid", "text", "varchar")


class _BoolTextLoader(Loader):
    def load(self, data: Buffer) -> str:
        return "true" if bytes(data) == b"t" else "false"
