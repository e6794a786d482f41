"""``interagency analytics``: the read-only role analysts and BI tools connect as.

On a real PostgreSQL, in a database of this module's own (seeded with the demo, small), so
the derived views and grants never meet the other tests' tables. Each test makes a role
with a name of its own and drops it afterwards. The CI server trusts local connections:
connecting as the role needs no password, but the role needs LOGIN.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from interagency.cli_analytics import (
    COLUMNS,
    ROLE_MARKER,
    WITHHELD,
    AnalyticsRoleError,
    analyst_tables,
    analytics_roles,
    create_role,
    derived_views,
    drop_role,
    refresh,
)
from interagency.demo import MUNICIPALITY, seed
from interagency.demo_network import NetworkSize
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from interagency.storage import ensure_database
from tests.conftest import generated_signing_key, settings_for, wait_projected

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a test role's password
DERIVED = [v.name for v in derived_views("public", "interagency_events")]


@pytest.fixture(scope="module")
def db(server: ConnectionParams) -> Iterator[tuple[ConnectionParams, Services]]:
    """A database of this module's own, with the demo in it, projected to the head."""
    dbname = f"interagency_analytics_{uuid.uuid4().hex[:12]}"
    ensure_database(server, dbname)
    params = ConnectionParams(server.host, server.port, dbname, server.user, server.password)
    settings = settings_for(params)
    try:
        migrate(settings, params)
        with Services(settings, params) as services:
            seed(
                services.app,
                projects=2,
                institutions=4,
                network=NetworkSize(organizations=12, programs=10, agreements=2, enrolments=200),
            )
            worker = services.worker()
            worker.start()
            try:
                wait_projected(services, services.app.head_position(), timeout=60)
            finally:
                worker.stop()
            yield params, services
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


@pytest.fixture
def params(db: tuple[ConnectionParams, Services]) -> ConnectionParams:
    return db[0]


@pytest.fixture
def owner(params: ConnectionParams) -> Iterator[psycopg.Connection[Any]]:
    """The service's own connection (the tables' owner), autocommit."""
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def name(params: ConnectionParams) -> Iterator[str]:
    """A role name no other test uses; the role is dropped afterwards, whatever happened."""
    role = f"analyst_{uuid.uuid4().hex[:12]}"
    yield role
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def connect_as(params: ConnectionParams, role: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        ConnectionParams(params.host, params.port, params.dbname, role, PASSWORD).conninfo(),
        autocommit=True,
    )


def refused(conn: psycopg.Connection[Any], query: sql.Composable | str) -> bool:
    """True when PostgreSQL refuses ``query`` for lack of privilege."""
    try:
        conn.execute(query)  # type: ignore[arg-type]
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def privileges(conn: psycopg.Connection[Any], role: str) -> set[tuple[str, str, str]]:
    """Everything granted to ``role`` in this database: (object kind, name, privilege)."""
    rows = conn.execute(
        """
        WITH r AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
        SELECT 'relation', c.relname, a.privilege_type
          FROM pg_class c, aclexplode(c.relacl) a, r WHERE a.grantee = r.oid
        UNION ALL
        SELECT 'column', c.relname || '.' || t.attname, a.privilege_type
          FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid,
               aclexplode(t.attacl) a, r WHERE a.grantee = r.oid
        UNION ALL
        SELECT 'function', p.proname, a.privilege_type
          FROM pg_proc p, aclexplode(p.proacl) a, r WHERE a.grantee = r.oid
        UNION ALL
        SELECT 'schema', n.nspname, a.privilege_type
          FROM pg_namespace n, aclexplode(n.nspacl) a, r WHERE a.grantee = r.oid
        UNION ALL
        SELECT 'database', d.datname, a.privilege_type
          FROM pg_database d, aclexplode(d.datacl) a, r
         WHERE a.grantee = r.oid AND d.datname = current_database()
        """,
        {"role": role},
    ).fetchall()
    return {(str(k), str(n), str(p)) for k, n, p in rows}


def public_relations(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


# -- what may be read ------------------------------------------------------------------------


def test_every_column_of_every_analyst_table_is_either_granted_or_withheld(
    owner: psycopg.Connection[Any],
) -> None:
    """A column a projection adds fails here until someone decides who may read it."""
    assert set(COLUMNS) == set(analyst_tables())
    assert set(WITHHELD) <= set(COLUMNS)
    for table in analyst_tables():
        present = [
            str(r[0])
            for r in owner.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        ]
        allowed, withheld = COLUMNS[table], WITHHELD.get(table, {})
        assert not set(allowed) & set(withheld), table
        assert sorted(present) == sorted([*allowed, *withheld]), table


def test_the_role_reads_every_analyst_table_and_derived_view(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    with connect_as(params, name) as analyst:
        for table in analyst_tables():
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table])
            query = sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(table))
            assert analyst.execute(query).fetchall() == owner.execute(query).fetchall(), table
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert analyst.execute(count).fetchone() == owner.execute(count).fetchone()
        for view in DERIVED:
            analyst.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(view))).fetchall()
        # The tables without their personal columns, whole (SELECT * works on these).
        for table in WITHHELD:
            rows = analyst.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(f"analytics_{table}"))
            )
            assert [c.name for c in rows.description or []] == list(COLUMNS[table])
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert len(rows.fetchall()) == owner.execute(count).fetchone()[0]  # type: ignore[index]
        # The demo's data is there: members (without names), enrolments (without children).
        assert analyst.execute("SELECT count(*) FROM analytics_wg_members").fetchone()[0] > 0  # type: ignore[index]
        assert analyst.execute("SELECT count(*) FROM cov_enrolments").fetchone()[0] == 200  # type: ignore[index]


def test_the_role_is_refused_personal_columns_and_every_other_table(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    with connect_as(params, name) as analyst:
        for table, columns in WITHHELD.items():
            t = sql.Identifier(table)
            assert refused(analyst, sql.SQL("SELECT * FROM {}").format(t)), table
            for column in columns:
                c = sql.Identifier(column)
                assert refused(analyst, sql.SQL("SELECT {} FROM {}").format(c, t)), column
                assert refused(analyst, sql.SQL("SELECT count({}) FROM {}").format(c, t)), column
        assert refused(analyst, "SELECT person FROM wg_members")
        assert refused(analyst, "SELECT count(DISTINCT child_id) FROM cov_enrolments")
        # The event log (idempotency records and principals' tokens are events too), the
        # snapshots, tracking, audit and every other table the role was not given.
        others = [
            r for r in public_relations(owner) if r not in analyst_tables() and r not in DERIVED
        ]
        for expected in (
            "interagency_events",
            "interagency_snapshots",
            "audit_events",
            "audit_chain",
            "audit_checkpoints",
            "audit_tracking",
            "audit_chain_tracking",
            "projects_tracking",
            "groups_tracking",
            "coverage_tracking",
        ):
            assert expected in others
        for relation in others:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(relation))
            assert refused(analyst, query), relation
        # Nor the server's files.
        assert refused(analyst, "SELECT pg_read_file('postgresql.conf')")


def test_the_role_writes_nowhere(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    with connect_as(params, name) as analyst:
        # Read-only by default...
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            analyst.execute("DELETE FROM wg_groups")
        # ...and without privileges when it turns that off: on every table of the schema.
        analyst.execute("SET default_transaction_read_only = off")
        writes: list[sql.SQL | sql.Composed] = []
        for table in [r for r in public_relations(owner) if r not in DERIVED]:
            t = sql.Identifier(table)
            writes += [
                sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t),
                sql.SQL("DELETE FROM {}").format(t),
                sql.SQL("TRUNCATE {}").format(t),
            ]
        writes += [
            sql.SQL("UPDATE wg_members SET agency = agency"),
            sql.SQL("UPDATE project_summary SET title = title"),
            sql.SQL("UPDATE cov_enrolments SET birth_year = birth_year"),
            sql.SQL("UPDATE projects_tracking SET notification_id = 0"),
            sql.SQL("CREATE TABLE public.analyst_scratch (x int)"),
            sql.SQL("CREATE VIEW public.analyst_people AS SELECT 1 AS x"),
            sql.SQL("ALTER TABLE wg_members DROP COLUMN person"),
            sql.SQL("DROP VIEW analytics_wg_members"),
            sql.SQL("CREATE OR REPLACE FUNCTION analytics_cov_children() RETURNS int "
                    "LANGUAGE sql AS 'SELECT 1'"),
        ]  # fmt: skip
        for statement in writes:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                analyst.execute(statement)
        # The derived views are not updatable at all.
        for view in DERIVED:
            v = sql.Identifier(view)
            for statement in (
                sql.SQL("INSERT INTO {} DEFAULT VALUES").format(v),
                sql.SQL("DELETE FROM {}").format(v),
            ):
                with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
                    analyst.execute(statement)
    assert owner.execute("SELECT count(*) FROM wg_groups").fetchone()[0] > 0  # type: ignore[index]


def test_tables_made_later_are_not_the_role_s(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    """No default privileges: a new table is not readable until the role is granted it."""
    create_role(owner, name, password=PASSWORD)
    table = f"later_{uuid.uuid4().hex[:8]}"
    owner.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(table)))
    try:
        with connect_as(params, name) as analyst:
            assert refused(analyst, sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        # Not after a refresh either: only the analyst tables are granted.
        refresh(owner)
        with connect_as(params, name) as analyst:
            assert refused(analyst, sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        assert not owner.execute(
            "SELECT 1 FROM pg_default_acl d, aclexplode(d.defaclacl) a "
            "WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (name,),
        ).fetchone()
    finally:
        owner.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_the_derived_views_are_no_one_else_s(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    """PUBLIC may execute new functions by default: not these."""
    create_role(owner, name, password=PASSWORD)
    other = f"other_{uuid.uuid4().hex[:8]}"
    owner.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(other)))
    try:
        with connect_as(params, other) as stranger:
            for view in DERIVED:
                v = sql.Identifier(view)
                assert refused(stranger, sql.SQL("SELECT * FROM {}").format(v)), view
                assert refused(stranger, sql.SQL("SELECT * FROM {}()").format(v)), view
    finally:
        owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(other)))
        owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(other)))


# -- derived views ----------------------------------------------------------------------------


def test_unique_children_per_year_and_slice_are_the_api_s_coverage(
    db: tuple[ConnectionParams, Services], owner: psycopg.Connection[Any], name: str
) -> None:
    params, services = db
    create_role(owner, name, password=PASSWORD)
    years = [
        int(r[0])
        for r in owner.execute("SELECT DISTINCT year FROM cov_population ORDER BY 1").fetchall()
    ]
    assert years
    with connect_as(params, name) as analyst:
        rows = analyst.execute(
            "SELECT year, slice, municipality, territory, agency, direction, funding_source, "
            "children, enrolments FROM analytics_cov_children"
        ).fetchall()
    got: dict[tuple[Any, ...], tuple[int, int]] = {
        tuple(r[:7]): (int(r[7]), int(r[8])) for r in rows
    }
    for year in years:
        for municipality in (None, MUNICIPALITY):
            api = services.coverage.coverage(year, municipality)
            if api["enrolments"] == 0:
                continue
            total = (year, "total", municipality, None, None, None, None)
            assert got[total] == (api["children"], api["enrolments"]), (year, municipality)
            # The columns of the view: year, slice, municipality, territory, agency, ...
            for slice_, column in (("agency", 4), ("direction", 5), ("funding_source", 6)):
                for row in api[f"by_{slice_}"]:
                    parts: list[object] = [year, slice_, municipality, None, None, None, None]
                    parts[column] = row["key"]
                    assert got[tuple(parts)] == (row["children"], row["enrolments"]), parts
            if municipality is not None:
                for row in api["by_territory"]:
                    if row["children"] == 0:
                        continue
                    where = (year, "territory", municipality, row["territory"], None, None, None)
                    assert got[where] == (row["children"], row["enrolments"]), where


def test_projection_positions_are_the_tracking_positions(
    db: tuple[ConnectionParams, Services], owner: psycopg.Connection[Any], name: str
) -> None:
    params, services = db
    create_role(owner, name, password=PASSWORD)
    with connect_as(params, name) as analyst:
        rows = analyst.execute(
            "SELECT projection, position, head, lag_events FROM analytics_projection_positions"
        ).fetchall()
    head = services.app.head_position()
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == {
        n: (services.view(n).position(), head, head - services.view(n).position())
        for n in ("projects", "groups", "assignments", "network", "coverage")
    }


def test_a_blue_green_rebuild_keeps_the_role_s_access_and_nothing_more(
    db: tuple[ConnectionParams, Services], owner: psycopg.Connection[Any], name: str
) -> None:
    """The rebuild swaps the tables; grants carry over and the derived views read the new
    tables (they depend on none, so the rebuild may drop the old ones)."""
    params, services = db
    create_role(owner, name, password=PASSWORD)
    before = privileges(owner, name)
    with connect_as(params, name) as analyst:
        members = analyst.execute("SELECT * FROM analytics_wg_members ORDER BY 1, 2").fetchall()
        children = analyst.execute("SELECT * FROM analytics_cov_children ORDER BY 1, 2").fetchall()
    oid = owner.execute("SELECT 'wg_members'::regclass::oid").fetchone()
    services.rebuild("groups")
    services.rebuild("coverage")
    assert owner.execute("SELECT 'wg_members'::regclass::oid").fetchone() != oid
    assert privileges(owner, name) == before
    with connect_as(params, name) as analyst:
        assert refused(analyst, "SELECT person FROM wg_members")
        assert refused(analyst, "SELECT child_id FROM cov_enrolments")
        assert analyst.execute("SELECT group_id, member_id FROM wg_members").fetchall()
        assert (
            analyst.execute("SELECT * FROM analytics_wg_members ORDER BY 1, 2").fetchall()
            == members
        )
        assert (
            analyst.execute("SELECT * FROM analytics_cov_children ORDER BY 1, 2").fetchall()
            == children
        )


# -- creating, updating and dropping ----------------------------------------------------------


def role_row(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolconfig, "
        "shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    keys = ("login", "super", "createrole", "createdb", "config", "comment")
    return dict(zip(keys, row, strict=True))


def stored_password(conn: psycopg.Connection[Any], name: str) -> str | None:
    """The stored verifier (pg_authid is the superuser's: skip elsewhere)."""
    try:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,))
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("pg_authid is readable by superusers only")
    found = row.fetchone()
    return None if found is None else found[0]


def test_without_a_password_the_role_is_a_nologin_group_role(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    report = create_role(owner, name)
    assert "NOLOGIN" in report.lines[0]
    role = role_row(owner, name)
    assert role is not None
    assert not role["login"]
    assert not role["super"]
    assert not role["createrole"]
    assert not role["createdb"]
    assert role["comment"] == ROLE_MARKER
    assert "default_transaction_read_only=on" in role["config"]
    assert stored_password(owner, name) is None
    with pytest.raises(psycopg.OperationalError):
        connect_as(params, name).close()
    assert name in analytics_roles(owner)


def test_create_role_is_idempotent_and_keeps_the_login_unless_told(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    first = create_role(owner, name, password=PASSWORD)
    verifier = stored_password(owner, name)
    # Hashed on the client: the server stored a SCRAM verifier, never saw the password.
    assert verifier is not None
    assert verifier.startswith("SCRAM-SHA-256$")
    assert PASSWORD not in verifier
    assert all(PASSWORD not in line for line in first.lines)
    granted = privileges(owner, name)
    assert ("database", params.dbname, "CONNECT") in granted
    assert ("column", "wg_members.agency", "SELECT") in granted
    assert ("column", "wg_members.person", "SELECT") not in granted
    assert not [p for p in granted if p[0] == "relation" and p[1] in COLUMNS]

    again = create_role(owner, name)
    assert "updated" in again.lines[0]
    assert "LOGIN unchanged" in again.lines[0]
    assert privileges(owner, name) == granted
    assert stored_password(owner, name) == verifier
    with connect_as(params, name) as analyst:
        assert analyst.execute("SELECT count(*) FROM wg_groups").fetchone()

    create_role(owner, name, no_login=True)
    role = role_row(owner, name)
    assert role is not None
    assert not role["login"]
    assert stored_password(owner, name) is None
    assert privileges(owner, name) == granted

    with pytest.raises(AnalyticsRoleError):
        create_role(owner, name, password=PASSWORD, no_login=True)
    with pytest.raises(AnalyticsRoleError):
        create_role(owner, name, password="")


def test_an_update_takes_back_what_was_granted_by_hand(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    granted = privileges(owner, name)
    role = sql.Identifier(name)
    owner.execute(sql.SQL("GRANT SELECT ON interagency_events, wg_members TO {}").format(role))
    owner.execute(sql.SQL("GRANT pg_read_all_data TO {}").format(role))
    owner.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(role))
    with connect_as(params, name) as analyst:
        assert not refused(analyst, "SELECT person FROM wg_members")

    report = create_role(owner, name)
    assert "  no longer a member of pg_read_all_data" in report.lines
    assert privileges(owner, name) == granted
    assert not role_row(owner, name)["createdb"]  # type: ignore[index]
    with connect_as(params, name) as analyst:
        assert refused(analyst, "SELECT person FROM wg_members")
        assert refused(analyst, "SELECT count(*) FROM interagency_events")


def test_roles_not_made_by_the_command_are_left_alone(
    owner: psycopg.Connection[Any], name: str
) -> None:
    owner.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    with pytest.raises(AnalyticsRoleError, match="not made by"):
        create_role(owner, name, password=PASSWORD)
    with pytest.raises(AnalyticsRoleError, match="not made by"):
        drop_role(owner, name)
    assert privileges(owner, name) == set()
    current = owner.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
    with pytest.raises(AnalyticsRoleError):
        create_role(owner, current, no_login=True)
    for bad in ("Analyst", "pg_analyst", "a-b", "", "x" * 64, 'a"; DROP ROLE postgres; --'):
        with pytest.raises(AnalyticsRoleError, match="not a role name"):
            create_role(owner, bad)


def test_drop_role_revokes_everything_and_drops_it(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    report = drop_role(owner, name)
    assert report.lines == [f"role {name} dropped: its privileges in {params.dbname} revoked"]
    assert role_row(owner, name) is None
    assert name not in analytics_roles(owner)
    with pytest.raises(AnalyticsRoleError, match="does not exist"):
        drop_role(owner, name)


def test_drop_role_changes_nothing_while_the_role_holds_privileges_in_another_database(
    server: ConnectionParams, params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    granted = privileges(owner, name)
    other = f"interagency_analytics_other_{uuid.uuid4().hex[:8]}"
    ensure_database(server, other)
    there = ConnectionParams(server.host, server.port, other, server.user, server.password)
    try:
        with psycopg.connect(there.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE TABLE t (x int)"))
            conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(sql.Identifier(name)))
        with pytest.raises(AnalyticsRoleError, match="other databases"):
            drop_role(owner, name)
        assert privileges(owner, name) == granted
        with psycopg.connect(there.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        drop_role(owner, name)
        assert role_row(owner, name) is None
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other))
            )


def test_refresh_gives_every_analytics_role_its_grants_again(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str
) -> None:
    create_role(owner, name, password=PASSWORD)
    granted = privileges(owner, name)
    # As if an upgrade had dropped the derived views, and someone revoked a column.
    owner.execute("DROP VIEW analytics_wg_members")
    owner.execute(sql.SQL("REVOKE SELECT ON wg_groups FROM {}").format(sql.Identifier(name)))
    assert privileges(owner, name) != granted
    report = refresh(owner)
    assert f"role {name}:" in report.lines
    assert privileges(owner, name) == granted
    with connect_as(params, name) as analyst:
        assert analyst.execute("SELECT count(*) FROM analytics_wg_members").fetchone()


# -- the command line ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_command_takes_the_password_from_the_environment_and_never_prints_it(
    params: ConnectionParams, owner: psycopg.Connection[Any], name: str, tmp_path: Path
) -> None:
    from tests.e2e.test_processes import database_env, run_cli

    secret = f"s3cret-{uuid.uuid4().hex}"
    env = database_env(
        params,
        ANALYST_PASSWORD=secret,
        INTERAGENCY_SIGNING_KEY_FILE=str(generated_signing_key()),
    )
    made = run_cli(
        ["analytics", "create-role", name, "--password-env", "ANALYST_PASSWORD"], env, tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert f"role {name} created: LOGIN" in made.stdout
    assert secret not in made.stdout + made.stderr
    verifier = stored_password(owner, name)
    assert verifier is not None
    assert verifier.startswith("SCRAM-SHA-256$")
    with connect_as(params, name) as analyst:
        assert refused(analyst, "SELECT person FROM wg_members")

    unset = run_cli(
        ["analytics", "create-role", name, "--password-env", "NO_SUCH_VAR"], env, tmp_path
    )
    assert unset.returncode == 2
    assert "NO_SUCH_VAR is unset or empty" in unset.stderr
    both = run_cli(
        ["analytics", "create-role", name, "--password-env", "ANALYST_PASSWORD", "--no-login"],
        env,
        tmp_path,
    )
    assert both.returncode == 2
    bad = run_cli(["analytics", "create-role", "Robert'); DROP"], env, tmp_path)
    assert bad.returncode == 2
    assert "not a role name" in bad.stderr

    refreshed = run_cli(["analytics", "refresh"], env, tmp_path)
    assert refreshed.returncode == 0, refreshed.stderr
    assert f"role {name}:" in refreshed.stdout

    dropped = run_cli(["analytics", "drop-role", name], env, tmp_path)
    assert dropped.returncode == 0, dropped.stderr
    assert role_row(owner, name) is None
    again = run_cli(["analytics", "drop-role", name], env, tmp_path)
    assert again.returncode == 2
    assert "does not exist" in again.stderr
