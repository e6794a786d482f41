"""``interagency analytics create-role | drop-role | refresh``: a read-only database role.

Analysts and BI tools query the projection tables with SQL (docs/analytics.md). The role
this module makes reads exactly those and nothing else:

- ``CONNECT`` on the service's database and ``USAGE`` on its schema;
- ``SELECT`` on the columns listed in :data:`COLUMNS`, table by table, never on a whole
  table: a column that a later version adds stays hidden until it is listed there (and the
  test suite fails until every column of an analyst table is either listed or withheld);
- never the columns in :data:`WITHHELD` (members' names, children's ids, actor ids, the
  owners of action items), nor the event log, the tracking tables, the audit tables, the
  projections' status and dead letters, or anything else;
- derived views: ``analytics_<table>`` for each table with withheld columns (every other
  column: ``SELECT *`` works there, as BI tools expect), ``analytics_cov_children`` (unique
  children per year and slice, counted from children's ids it never shows) and
  ``analytics_projection_positions`` (how far each projection is behind the log). Each reads
  through a ``SECURITY DEFINER`` function whose body names its tables as text: nothing
  depends on the projection tables, so a blue/green rebuild can drop and swap them
  (projections/ops.py), and the function reads the new ones at its next call. EXECUTE on
  those functions is revoked from PUBLIC and granted to the analytics roles only.

Privileges are granted per object, never with ``ALTER DEFAULT PRIVILEGES``: a table made
later is not readable until this command grants it. The blue/green rebuild carries the
table and column grants over to the new tables (``projections.ops._copy_grants``).

The role's password comes from an environment variable, is hashed on this side (SCRAM) so
the server never receives or logs it, and is never printed or logged. Without a password
the role is ``NOLOGIN``: a group role to grant to people's own login roles.

Only roles this command created are changed or dropped: it marks them with a comment, and
refuses any other role (the service's own, say).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
import structlog
import typer
from psycopg import sql

from interagency.pipeline import APP_NAME
from projections.assignments import AssignmentsView
from projections.coverage import MAX_AGE, MIN_AGE, CoverageView
from projections.groups import GroupsView
from projections.network import NetworkView
from projections.projects import ProjectsView
from projections.runtime import ProjectionView

log = structlog.get_logger(__name__)

analytics_cli = typer.Typer(
    help="A read-only database role for analysts' SQL and BI tools (docs/analytics.md).",
    no_args_is_help=True,
)


def register(cli: typer.Typer) -> None:
    """Adds ``analytics`` to the main command line."""
    cli.add_typer(analytics_cli, name="analytics")


# -- what the role may read ---------------------------------------------------------------

# The projections analysts read. ``audit`` and ``audit_chain`` are for auditors.
ANALYST_PROJECTIONS: tuple[type[ProjectionView], ...] = (
    ProjectsView,
    GroupsView,
    AssignmentsView,
    NetworkView,
    CoverageView,
)

# Columns the role never reads, and why.
WITHHELD: dict[str, dict[str, str]] = {
    "project_summary": {"initiated_by": "an actor id: who acted is for auditors"},
    "wg_members": {"person": "a member's name: personal data"},
    "wg_action_items": {"owner": "a person responsible, by name: personal data"},
    "asg_redistributions": {"recorded_by": "an actor id: who acted is for auditors"},
    "cov_enrolments": {"child_id": "a child's pseudonymous id: personal data"},
}

# Columns the role reads, table by table (an explicit allow-list).
COLUMNS: dict[str, tuple[str, ...]] = {
    "project_summary": (
        "project_id", "title", "goal", "municipality", "lead_agency", "agencies", "status",
        "active_stage", "stage_number", "stages_completed", "deliverables_total",
        "deliverables_approved", "gate_rejections", "version", "position", "initiated_at",
        "updated_at", "completed_at", "cancelled_at",
    ),
    "project_deliverables": (
        "deliverable_id", "project_id", "stage", "title", "mechanism", "mandatory", "due_date",
        "state", "submissions", "rejection_reason", "planned_at", "updated_at",
    ),
    "stage_progress": (
        "project_id", "stage", "stage_number", "status", "entered_at", "completed_at",
        "left_at", "deliverables_total", "deliverables_planned", "deliverables_submitted",
        "deliverables_approved", "deliverables_rejected", "mandatory_total",
        "mandatory_approved", "percent_complete", "gate_rejections", "gate_decision_ref",
        "gate_basis_document", "gate_reason",
    ),
    "wg_groups": (
        "group_id", "kind", "name", "basis_act", "municipality", "project_id", "quorum",
        "quorum_numerator", "quorum_denominator", "quorum_strict", "majority_rule", "status",
        "version", "established_at", "dissolved_at",
    ),
    "wg_members": (
        "group_id", "member_id", "organization", "agency", "position", "voting",
        "appointed_on", "dismissed_on",
    ),
    "wg_meetings": (
        "group_id", "meeting_id", "held_on", "agenda", "members_total", "voting_members",
        "present", "present_voting", "quorum_needed", "quorum_met", "attendance_rate",
        "protocol_number", "signed_at", "motions", "decisions",
    ),
    "wg_motions": (
        "motion_id", "group_id", "meeting_id", "agenda_item", "text", "votes", "votes_for",
        "votes_against", "abstentions", "voting_members", "present_voting", "quorum_needed",
        "adopted",
    ),
    "wg_decisions": (
        "decision_id", "group_id", "meeting_id", "protocol_number", "project_ids", "text",
        "agenda_item", "mechanism", "targets", "motion_id", "motion_text", "votes",
        "votes_for", "votes_against", "abstentions", "quorum_needed", "present_voting",
        "adopted", "corrects", "superseded_by", "signed", "held_on", "recorded_at", "search",
    ),
    "wg_action_items": (
        "item_id", "group_id", "decision_id", "description", "deadline", "done_on",
        "assigned_at",
    ),
    "asg_assignments": (
        "assignment_id", "organization_id", "institution", "agency", "founder", "municipality",
        "fiscal_year", "status", "amendments", "version", "drafted_at", "updated_at",
    ),
    "asg_lines": (
        "assignment_id", "line_id", "registry_number", "service_name", "direction", "unit",
        "normative_cost", "allowed_deviation_pct", "planned_initial", "planned",
        "planned_next", "planned_after_next", "report_period", "planned_due", "actual",
        "deviation_pct", "beyond_tolerance",
    ),
    "asg_reports": (
        "report_id", "assignment_id", "period", "status", "actual", "deviation",
        "beyond_tolerance", "reasons", "reported_at",
    ),
    "asg_redistributions": (
        "redistribution_id", "year", "registry_number", "unit", "volume_moved",
        "budget_basis", "decision_id", "cross_founder", "reason", "recorded_at",
    ),
    "asg_legs": (
        "redistribution_id", "assignment_id", "institution", "founder", "agency", "delta",
        "normative_cost", "subsidy_delta",
    ),
    "net_organizations": (
        "organization_id", "name", "inn", "kind", "agency", "founder", "municipality",
        "address", "reorganization_form", "reorganized_on", "licences",
        "additional_education_licence", "has_active_additional_education_licence", "version",
        "registered_at", "updated_at",
    ),
    "net_licences": (
        "organization_id", "licence_id", "number", "sub_kinds", "additional_education",
        "issued_on", "issuer", "status", "status_since",
    ),
    "net_programs": (
        "program_id", "title", "description", "provider_id", "partner_ids", "agency",
        "municipality", "kind", "direction", "min_age", "max_age", "hours", "capacity", "form",
        "status", "approvals", "agreement_id", "active_enrolments", "enrolments_total",
        "version", "drafted_at", "published_at", "archived_at", "updated_at",
    ),
    "net_agreements": (
        "agreement_id", "number", "title", "municipality", "status", "in_force",
        "version_in_force", "latest_version", "model", "term_start", "term_end", "amendments",
        "activated_at", "terminated_on", "expired_on", "version", "drafted_at", "updated_at",
    ),
    "net_agreement_versions": (
        "agreement_id", "version", "model", "term_start", "term_end", "clauses", "signed_by",
    ),
    "net_agreement_parties": ("agreement_id", "version", "organization_id", "role"),
    "net_agreement_programs": ("agreement_id", "version", "program_id"),
    "net_agreement_contributions": (
        "agreement_id", "version", "seq", "organization_id", "resource_type", "description",
        "volume", "unit", "period_from", "period_to",
    ),
    "cov_programs": ("program_id", "municipality", "agency", "direction", "kind", "form"),
    "cov_enrolments": (
        "enrolment_id", "program_id", "birth_year", "territory", "funding_source",
        "start_date", "end_date", "ended",
    ),
    "cov_territories": ("territory_id", "municipality", "territory"),
    "cov_population": (
        "territory_id", "year", "municipality", "territory", "children_5_17", "source",
        "corrections",
    ),
}  # fmt: skip

# Marks the roles this command manages (a comment on the role: roles are cluster-wide).
ROLE_MARKER = "interagency analytics: read-only role (managed by 'interagency analytics')"
VIEW_MARKER = " [a derived view managed by 'interagency analytics']"
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A two-int advisory key: its own key space, apart from the projections' bigint keys.
_LOCK = (0x1A7E, 0x0A71)


def analyst_tables() -> tuple[str, ...]:
    """Every table of the projections analysts read, in order."""
    return tuple(t for view in ANALYST_PROJECTIONS for t in view.tables)


# -- derived views --------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedView:
    """A view over a ``SECURITY DEFINER`` function of the same name."""

    name: str
    returns: tuple[tuple[str, sql.Composable], ...]  # the result's columns and their types
    body: sql.Composable
    comment: str


# An open-ended enrolment counts in every year from its start: up to this year, or the last
# year with a population figure if that is later.
_COVERAGE = """
WITH last AS (
    SELECT greatest(extract(year FROM current_date)::int, coalesce(max(year), 0)) AS year
    FROM {population}
), e AS (
    SELECT y.year, en.child_id, p.municipality, en.territory, p.agency, p.direction,
           en.funding_source
    FROM {enrolments} en
    JOIN {programs} p ON p.program_id = en.program_id
    CROSS JOIN last
    CROSS JOIN LATERAL generate_series(
        extract(year FROM en.start_date)::int,
        coalesce(extract(year FROM en.end_date)::int,
                 greatest(extract(year FROM en.start_date)::int, last.year))
    ) AS y(year)
    WHERE y.year - en.birth_year BETWEEN {min_age} AND {max_age}
)
SELECT e.year,
       CASE WHEN grouping(e.territory) = 0 THEN 'territory'
            WHEN grouping(e.agency) = 0 THEN 'agency'
            WHEN grouping(e.direction) = 0 THEN 'direction'
            WHEN grouping(e.funding_source) = 0 THEN 'funding_source'
            ELSE 'total' END,
       e.municipality, e.territory, e.agency, e.direction, e.funding_source,
       count(DISTINCT e.child_id)::int, count(*)::int
FROM e
GROUP BY GROUPING SETS (
    (e.year), (e.year, e.agency), (e.year, e.direction), (e.year, e.funding_source),
    (e.year, e.municipality), (e.year, e.municipality, e.territory),
    (e.year, e.municipality, e.agency), (e.year, e.municipality, e.direction),
    (e.year, e.municipality, e.funding_source))
"""

_POSITIONS = """
WITH h AS (SELECT coalesce(max(notification_id), 0)::bigint AS head FROM {events})
SELECT v.projection, coalesce(v.position, 0)::bigint, h.head,
       greatest(h.head - coalesce(v.position, 0), 0)::bigint
FROM h CROSS JOIN (VALUES {rows}) AS v(projection, position)
"""


def derived_views(schema: str, events_table: str) -> tuple[DerivedView, ...]:
    """The views, their functions' result columns and bodies (tables named in ``schema``)."""
    coverage = sql.SQL(_COVERAGE).format(
        enrolments=sql.Identifier(schema, "cov_enrolments"),
        programs=sql.Identifier(schema, "cov_programs"),
        population=sql.Identifier(schema, "cov_population"),
        min_age=sql.Literal(MIN_AGE),
        max_age=sql.Literal(MAX_AGE),
    )
    rows = sql.SQL(", ").join(
        sql.SQL(
            "({name}, (SELECT notification_id FROM {tracking} WHERE application_name = {app}))"
        ).format(
            name=sql.Literal(v.name),
            tracking=sql.Identifier(schema, f"{v.name}_tracking"),
            app=sql.Literal(APP_NAME),
        )
        for v in ANALYST_PROJECTIONS
    )
    positions = sql.SQL(_POSITIONS).format(events=sql.Identifier(schema, events_table), rows=rows)
    without_personal = tuple(
        DerivedView(
            f"analytics_{table}",
            tuple(
                (c, sql.SQL("{}%TYPE").format(sql.Identifier(schema, table, c)))
                for c in COLUMNS[table]
            ),
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table]),
                sql.Identifier(schema, table),
            ),
            f"{table} without {', '.join(WITHHELD[table])}: the columns analysts may read.",
        )
        for table in analyst_tables()
        if table in WITHHELD
    )
    return (
        *without_personal,
        DerivedView(
            "analytics_cov_children",
            (
                ("year", sql.SQL("int")),
                ("slice", sql.SQL("text")),
                ("municipality", sql.SQL("text")),
                ("territory", sql.SQL("text")),
                ("agency", sql.SQL("text")),
                ("direction", sql.SQL("text")),
                ("funding_source", sql.SQL("text")),
                ("children", sql.SQL("int")),
                ("enrolments", sql.SQL("int")),
            ),
            coverage,
            "Unique children aged 5-17 enrolled in each year, in total and by slice "
            "(docs/analytics.md). A null column means all of its values.",
        ),
        DerivedView(
            "analytics_projection_positions",
            (
                ("projection", sql.SQL("text")),
                ("position", sql.SQL("bigint")),
                ("head", sql.SQL("bigint")),
                ("lag_events", sql.SQL("bigint")),
            ),
            positions,
            "Each analyst projection's position in the event log, the log's head and the "
            "lag in events.",
        ),
    )


# -- what the commands do (tested on PostgreSQL without the command line) --------------------


class AnalyticsRoleError(Exception):
    """The command cannot do what was asked; the message says why, without secrets."""


@dataclass
class RoleReport:
    """What a command did, as lines to print."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def _check_name(name: str) -> None:
    if not _ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        msg = (
            f"{name!r} is not a role name this command makes: lower-case letters, digits and "
            "underscores, starting with a letter or underscore, at most 63, not 'pg_...'"
        )
        raise AnalyticsRoleError(msg)


def _role(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT r.oid, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, "
        "r.rolbypassrls, r.rolcanlogin, r.rolname = current_user AS is_current, "
        "shobj_description(r.oid, 'pg_authid') AS comment FROM pg_roles r WHERE r.rolname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    keys = (
        "oid",
        "super",
        "createrole",
        "createdb",
        "replication",
        "bypassrls",
        "login",
        "is_current",
        "comment",
    )
    return dict(zip(keys, row, strict=True))


def _managed(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    """The role ``name``, which must be one this command made."""
    role = _role(conn, name)
    if role is None:
        msg = f"role {name} does not exist"
        raise AnalyticsRoleError(msg)
    if role["is_current"] or role["comment"] != ROLE_MARKER:
        msg = (
            f"role {name} exists and was not made by 'interagency analytics create-role': "
            "it is left alone; choose another name"
        )
        raise AnalyticsRoleError(msg)
    return role


def _lock(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK)


def analytics_roles(conn: psycopg.Connection[Any]) -> list[str]:
    """The roles this command made for this database (they hold CONNECT on it)."""
    rows = conn.execute(
        "SELECT r.rolname FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a "
        "JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT' "
        "AND shobj_description(r.oid, 'pg_authid') = %s ORDER BY 1",
        (ROLE_MARKER,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def install_derived_views(
    conn: psycopg.Connection[Any], schema: str = "public", events_table: str = "interagency_events"
) -> list[str]:
    """(Re)creates the derived views and their functions; EXECUTE is revoked from PUBLIC.

    Run inside the caller's transaction: the views are dropped and made again, so their
    grants must be given again in the same transaction (:func:`refresh`).
    """
    names = []
    wanted = {v.name for v in derived_views(schema, events_table)}
    # Views this command made once and no longer makes.
    stale = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'v' "
        "AND right(obj_description(c.oid, 'pg_class'), %s) = %s",
        (schema, len(VIEW_MARKER), VIEW_MARKER),
    ).fetchall()
    for (old,) in stale:
        if old not in wanted:
            conn.execute(
                sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(sql.Identifier(schema, old))
            )
            conn.execute(
                sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(schema, old))
            )
    for v in derived_views(schema, events_table):
        ident = sql.Identifier(schema, v.name)
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(ident))
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(ident))
        # The body is text: PostgreSQL records no dependency on the tables it names.
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {f}() RETURNS TABLE ({r}) LANGUAGE sql STABLE SECURITY DEFINER "
                "SET search_path = pg_catalog, pg_temp AS {b}"
            ).format(
                f=ident,
                r=sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), t) for c, t in v.returns
                ),
                b=sql.Literal(v.body.as_string(conn)),
            )
        )
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(ident))
        conn.execute(sql.SQL("CREATE VIEW {v} AS SELECT * FROM {v}()").format(v=ident))
        comment = sql.Literal(v.comment + VIEW_MARKER)
        conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(ident, comment))
        conn.execute(sql.SQL("COMMENT ON FUNCTION {}() IS {}").format(ident, comment))
        names.append(v.name)
    return names


def _table_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return [str(r[0]) for r in rows]


def grant(
    conn: psycopg.Connection[Any],
    name: str,
    schema: str = "public",
    events_table: str = "interagency_events",
) -> RoleReport:
    """Makes the role's privileges in this database exactly the analytics ones.

    Everything the role held on the schema's tables, sequences and functions is revoked
    first; then CONNECT, USAGE, SELECT on the listed columns and the derived views.
    """
    report = RoleReport()
    role = sql.Identifier(name)
    s = sql.Identifier(schema)
    for kind in ("TABLES", "SEQUENCES", "FUNCTIONS"):
        conn.execute(
            sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA {} FROM {}").format(sql.SQL(kind), s, role)
        )
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(str(conn.info.dbname)), role
        )
    )
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, role))
    tables = 0
    for table in analyst_tables():
        present = _table_columns(conn, schema, table)
        if not present:
            report.add(f"  not granted: table {table} does not exist (run 'interagency migrate')")
            continue
        allowed = [c for c in present if c in COLUMNS.get(table, ())]
        withheld = WITHHELD.get(table, {})
        for c in present:
            if c not in allowed and c not in withheld:
                report.add(f"  not granted: column {table}.{c} is not classified in {__name__}")
        if allowed:
            conn.execute(
                sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in allowed),
                    sql.Identifier(schema, table),
                    role,
                )
            )
            tables += 1
    for v in derived_views(schema, events_table):
        ident = sql.Identifier(schema, v.name)
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {}() TO {}").format(ident, role))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, role))
    _drop_default_privileges(conn, name, report)
    report.lines.insert(
        0,
        f"  reads {tables} tables (SELECT on listed columns) and "
        f"{len(derived_views(schema, events_table))} derived views in {conn.info.dbname}.{schema}",
    )
    return report


def _drop_default_privileges(conn: psycopg.Connection[Any], name: str, report: RoleReport) -> None:
    """Default privileges that name the role would hand it future objects: the current
    user's are revoked, others' reported."""
    rows = conn.execute(
        "SELECT pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype, "
        "d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace "
        "CROSS JOIN LATERAL aclexplode(d.defaclacl) a "
        "WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        (name,),
    ).fetchall()
    kinds = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
    for owner, nsp, objtype, mine in rows:
        what = kinds.get(str(objtype), "TABLES")
        if mine:
            in_schema = sql.SQL(" IN SCHEMA {}").format(sql.Identifier(nsp)) if nsp else sql.SQL("")
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES{} REVOKE ALL ON {} FROM {}").format(
                    in_schema, sql.SQL(what), sql.Identifier(name)
                )
            )
            report.add(f"  revoked default privileges on future {what.lower()} of {owner}")
        else:
            report.add(
                f"  WARNING: default privileges of {owner} give {name} future {what.lower()}"
                f"{f' in {nsp}' if nsp else ''}: ask a DBA to revoke them"
            )


def refresh(
    conn: psycopg.Connection[Any], schema: str = "public", events_table: str = "interagency_events"
) -> RoleReport:
    """Makes the derived views again and every analytics role's privileges exactly the
    current ones, in one transaction (after an upgrade adds tables or columns)."""
    report = RoleReport()
    with conn.transaction():
        _lock(conn)
        views = install_derived_views(conn, schema, events_table)
        roles = analytics_roles(conn)
        for name in roles:
            report.add(f"role {name}:")
            report.lines.extend(grant(conn, name, schema, events_table).lines)
    report.lines.insert(0, f"derived views: {', '.join(views)}")
    if not roles:
        report.add("no analytics roles in this database yet: 'interagency analytics create-role'")
    return report


def create_role(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    password: str | None = None,
    no_login: bool = False,
    schema: str = "public",
    events_table: str = "interagency_events",
) -> RoleReport:
    """Creates the role, or brings an existing one of ours up to date, in one transaction.

    ``password``: LOGIN with it. ``no_login``: NOLOGIN, any password removed. Neither: a new
    role is NOLOGIN; an existing one keeps its login and password.
    """
    _check_name(name)
    if password is not None and no_login:
        msg = "a password and no login at once: choose one"
        raise AnalyticsRoleError(msg)
    if password == "":
        msg = "the password is empty"
        raise AnalyticsRoleError(msg)
    role = sql.Identifier(name)
    report = RoleReport()
    with conn.transaction():
        _lock(conn)
        existing = _role(conn, name)
        if existing is None:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT "
                    "NOREPLICATION NOBYPASSRLS"
                ).format(role)
            )
            conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(ROLE_MARKER)))
            verb = "created"
        else:
            existing = _managed(conn, name)
            # ALTER ROLE with NOSUPERUSER etc. needs a superuser even when nothing changes:
            # only what is wrong is set.
            wrong = [
                attr
                for attr, key in (
                    ("NOSUPERUSER", "super"),
                    ("NOCREATEROLE", "createrole"),
                    ("NOCREATEDB", "createdb"),
                    ("NOREPLICATION", "replication"),
                    ("NOBYPASSRLS", "bypassrls"),
                )
                if existing[key]
            ]
            if wrong:
                conn.execute(sql.SQL("ALTER ROLE {} {}").format(role, sql.SQL(" ".join(wrong))))
            verb = "updated"
        if password is not None:
            # Hashed here: the server (and its log) never sees the password itself.
            verifier = conn.pgconn.encrypt_password(
                password.encode(), name.encode(), b"scram-sha-256"
            ).decode()
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(verifier))
            )
            login = "LOGIN with the password given"
        elif no_login or existing is None:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(role))
            login = "NOLOGIN (grant it to people's own login roles)"
        else:
            login = "LOGIN unchanged" if existing["login"] else "NOLOGIN unchanged"
        # Privileges of other roles would come with their membership: none.
        groups = conn.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (name,),
        ).fetchall()
        for (group,) in groups:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), role))
            report.add(f"  no longer a member of {group}")
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
        install_derived_views(conn, schema, events_table)
        granted = grant(conn, name, schema, events_table)
        # The derived views were made again: the other roles' grants on them too.
        for other in analytics_roles(conn):
            if other != name:
                grant(conn, other, schema, events_table)
    report.lines[:0] = [f"role {name} {verb}: {login}, read-only", *granted.lines]
    log.info("analytics_role_set", role=name, created=verb == "created", login=login)
    return report


def drop_role(conn: psycopg.Connection[Any], name: str) -> RoleReport:
    """Revokes everything the role holds in this database and drops it, or changes nothing."""
    _check_name(name)
    try:
        with conn.transaction():
            _lock(conn)
            _managed(conn, name)
            role = sql.Identifier(name)
            # Revokes its privileges in this database and on it (it owns nothing).
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
            conn.execute(sql.SQL("DROP ROLE {}").format(role))
    except psycopg.errors.DependentObjectsStillExist as exc:
        detail = (exc.diag.message_detail or "").replace("\n", "; ")
        msg = (
            f"role {name} still holds privileges in other databases ({detail}): run "
            "'interagency analytics drop-role' there first; nothing was changed"
        )
        raise AnalyticsRoleError(msg) from None
    log.info("analytics_role_dropped", role=name)
    return RoleReport([f"role {name} dropped: its privileges in {conn.info.dbname} revoked"])


# -- the commands ----------------------------------------------------------------------------


@contextmanager
def _connection() -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """An autocommit connection to the service's database, tables made; and where it is."""
    from interagency.cli import _database, _settings
    from interagency.services import Services, migrate

    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            events_table = services.app.pg_recorder.events_table_name
        with psycopg.connect(params.conninfo(), autocommit=True) as conn:
            yield conn, events_table


def _run(action: Any) -> None:
    try:
        report: RoleReport = action()
    except AnalyticsRoleError as exc:
        typer.echo(f"analytics: {exc}", err=True)
        raise typer.Exit(2) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        typer.echo(
            f"analytics: the service's database user may not do this ({exc.diag.message_primary})"
            ": it needs CREATEROLE and to own the database and the projection tables",
            err=True,
        )
        raise typer.Exit(2) from None
    for line in report.lines:
        typer.echo(line)


NameArg = Annotated[str, typer.Argument(help="The role's name, e.g. analytics_bi.")]


@analytics_cli.command("create-role")
def create_role_cmd(
    name: NameArg,
    password_env: Annotated[
        str | None,
        typer.Option(
            help="The NAME of an environment variable that holds the role's password (never "
            "the password itself). Gives the role LOGIN."
        ),
    ] = None,
    no_login: Annotated[
        bool, typer.Option("--no-login", help="Make the role NOLOGIN and remove its password.")
    ] = False,
) -> None:
    """Create a read-only role for analysts, or bring an existing one up to date.

    The role reads the analyst tables' listed columns and the derived views, nothing else.
    Without a password a new role is NOLOGIN (a group role) and an existing one keeps its
    login. Run it again at any time: the result is the same.
    """
    password: str | None = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            typer.echo(
                f"analytics: environment variable {password_env} is unset or empty", err=True
            )
            raise typer.Exit(2)
    if password is not None and no_login:
        typer.echo("analytics: --password-env and --no-login exclude each other", err=True)
        raise typer.Exit(2)
    try:
        _check_name(name)
    except AnalyticsRoleError as exc:
        typer.echo(f"analytics: {exc}", err=True)
        raise typer.Exit(2) from None
    with _connection() as (conn, events_table):
        _run(
            lambda: create_role(
                conn, name, password=password, no_login=no_login, events_table=events_table
            )
        )


@analytics_cli.command("drop-role")
def drop_role_cmd(name: NameArg) -> None:
    """Revoke everything an analytics role holds in this database and drop it."""
    with _connection() as (conn, _events_table):
        _run(lambda: drop_role(conn, name))


@analytics_cli.command("refresh")
def refresh_cmd() -> None:
    """Make the derived views again and re-grant every analytics role (after an upgrade)."""
    with _connection() as (conn, events_table):
        _run(lambda: refresh(conn, events_table=events_table))
