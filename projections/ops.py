"""Projection operations: status with lag, and rebuilds that never take a table away.

**Status.** For each projection: its position, the head of the log, the lag in events and
in seconds (the age of the oldest event it has not applied), whether a worker holds its
advisory lock, and its last error (``projection_status``, kept by the worker).

**Blue/green rebuild.** A rebuild fills a fresh copy of the projection's tables in a
staging schema (``rebuild_<name>``) while the live tables keep serving. Once the copy has
nearly caught up, one transaction locks the live tracking row (the live worker waits),
applies the last events, carries the live tables' grants over, drops the live tables,
moves the copies into place and sets the position. Readers never see an empty or partial
table: until that commit they read the old tables, after it the new ones (a query that
waited on the switch's lock resolves the table name again and reads the new copy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import DictRow, dict_row

from projections.runtime import (
    DEAD_LETTER_TABLE,
    TRANSIENT_ERRORS,
    PoisonEventError,
    ProjectionView,
    lock_key,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    active: bool
    error_count: int
    last_error: str | None
    error_position: int | None
    error_at: datetime | None
    dead_letters: int


def _lock_ids(name: str) -> tuple[int, int]:
    """How ``pg_locks`` shows a bigint advisory key: high and low 32 bits, unsigned."""
    key = lock_key(name) & 0xFFFFFFFFFFFFFFFF
    return key >> 32, key & 0xFFFFFFFF


def statuses(
    views: Sequence[ProjectionView],
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    now: datetime | None = None,
) -> list[ProjectionStatus]:
    """Every projection's position, lag, worker and last error, read in one go."""
    head = recorder.max_notification_id() or 0
    moment = now or datetime.now(UTC)
    out = []
    datastore = views[0].datastore
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT projection, state, error_count, last_error, error_position, error_at "
            "FROM projection_status"
        )
        kept = {r["projection"]: r for r in curs.fetchall()}
        curs.execute(
            "SELECT projection, count(*) AS n FROM projection_dead_letters GROUP BY projection"
        )
        parked = {r["projection"]: int(r["n"]) for r in curs.fetchall()}
        curs.execute(
            "SELECT classid::bigint AS hi, objid::bigint AS lo FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        held = {(int(r["hi"]), int(r["lo"])) for r in curs.fetchall()}
    for view in views:
        position = view.position()
        lag_seconds = 0.0
        if position < head:
            oldest: Sequence[Notification] = recorder.select_notifications(
                start=position + 1, limit=1
            )
            if oldest:
                event: Any = mapper.to_domain_event(oldest[0])
                stamp: datetime = event.timestamp
                lag_seconds = max(0.0, (moment - stamp).total_seconds())
        row = kept.get(view.name, {})
        out.append(
            ProjectionStatus(
                name=view.name,
                position=position,
                head=head,
                lag_events=max(0, head - position),
                lag_seconds=round(lag_seconds, 3),
                state=str(row.get("state", "running")),
                active=_lock_ids(view.name) in held,
                error_count=int(row.get("error_count", 0)),
                last_error=row.get("last_error"),
                error_position=row.get("error_position"),
                error_at=row.get("error_at"),
                dead_letters=parked.get(view.name, 0),
            )
        )
    return out


def prometheus(rows: Sequence[ProjectionStatus]) -> str:
    """The status as Prometheus text exposition (version 0.0.4)."""
    metrics: list[tuple[str, str, str, Callable[[ProjectionStatus], float]]] = [
        (
            "interagency_projection_position",
            "counter",
            "Position of the last event the projection applied; rate() is events/s.",
            lambda r: r.position,
        ),
        (
            "interagency_projection_lag_events",
            "gauge",
            "Events in the log the projection has not applied yet.",
            lambda r: r.lag_events,
        ),
        (
            "interagency_projection_lag_seconds",
            "gauge",
            "Age of the oldest event the projection has not applied yet.",
            lambda r: r.lag_seconds,
        ),
        (
            "interagency_projection_errors_total",
            "counter",
            "Errors the projection raised (poison events), since its tables were made.",
            lambda r: r.error_count,
        ),
        (
            "interagency_projection_stopped",
            "gauge",
            "1 when a poison event stopped the projection.",
            lambda r: 1.0 if r.state == "stopped" else 0.0,
        ),
        (
            "interagency_projection_active_worker",
            "gauge",
            "1 when a worker holds the projection's lock.",
            lambda r: 1.0 if r.active else 0.0,
        ),
        (
            "interagency_projection_dead_letters",
            "gauge",
            "Events parked in the dead-letter table.",
            lambda r: r.dead_letters,
        ),
    ]
    lines = []
    for name, kind, help_text, value in metrics:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for r in rows:
            lines.append(f'{name}{{projection="{r.name}"}} {float(value(r))!r}')
    if rows:
        lines.append("# HELP interagency_log_head Position of the last event in the log.")
        lines.append("# TYPE interagency_log_head gauge")
        lines.append(f"interagency_log_head {float(rows[0].head)!r}")
    return "\n".join(lines) + "\n"


# -- blue/green rebuild ---------------------------------------------------------------------


SWITCH_ATTEMPTS = 5
SWITCH_LOCK_TIMEOUT = "5s"


class RebuildError(Exception):
    """A rebuild could not complete; the live tables are untouched."""


@dataclass(frozen=True)
class RebuildResult:
    name: str
    events: int
    position: int
    seconds: float


Progress = Callable[[int, int], None]


def rebuild_blue_green(
    view: ProjectionView,
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    conninfo: str,
    *,
    batch_size: int = 2000,
    on_progress: Progress | None = None,
    switch_within: int | None = None,
) -> RebuildResult:
    """Builds ``view``'s tables anew beside the live ones, then swaps them in atomically.

    ``view`` must be an instance no worker uses (its batch state is the rebuild's own).
    ``switch_within``: how close to the head the copy must get before the switch (default
    one batch), so the switch transaction, which the live worker waits on, stays short.
    """
    started = time.monotonic()
    staging = f"rebuild_{view.name}"
    live_schema = view.datastore.schema
    within = switch_within if switch_within is not None else batch_size
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        with conn.transaction():
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging))
            )
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
        # Unqualified names (the views' SQL) resolve to the copy first, then to live tables.
        conn.execute(
            sql.SQL("SET search_path TO {}, {}").format(
                sql.Identifier(staging), sql.Identifier(live_schema)
            )
        )
        conn.commit()
        with conn.transaction():
            for ddl in view.ddl():
                conn.execute(sql.SQL(ddl))
        position = 0
        applied = 0
        while True:
            head = recorder.max_notification_id() or 0
            if head - position <= within:
                break
            try:
                with conn.transaction(), conn.cursor() as curs:
                    position, n = _apply(
                        view, recorder, mapper, curs, position, head, batch_size, pipelined=True
                    )
            except TRANSIENT_ERRORS:
                raise
            except Exception:
                # Rolled back: once more statement by statement, to name the event at fault.
                with conn.transaction(), conn.cursor() as curs:
                    position, n = _apply(view, recorder, mapper, curs, position, head, batch_size)
            applied += n
            if on_progress is not None:
                on_progress(position, head)
        for attempt in range(1, SWITCH_ATTEMPTS + 1):
            try:
                position, n = _switch(view, recorder, mapper, conn, staging, position, batch_size)
            except psycopg.errors.LockNotAvailable:
                # A long read (a CSV export) holds a live table: the live tables stay as
                # they are, readers go on; catch up a little more and try again.
                log.warning("projection_switch_waiting", projection=view.name, attempt=attempt)
                if attempt == SWITCH_ATTEMPTS:
                    msg = (
                        f"projection {view.name!r}: the switch waited {SWITCH_ATTEMPTS} times "
                        f"{SWITCH_LOCK_TIMEOUT} for readers of the live tables; nothing was "
                        "changed, try again when they are done"
                    )
                    raise RebuildError(msg) from None
                continue
            applied += n
            break
        if on_progress is not None:
            on_progress(position, position)
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(staging)))
    seconds = time.monotonic() - started
    log.info(
        "projection_rebuilt",
        projection=view.name,
        events=applied,
        position=position,
        seconds=round(seconds, 3),
    )
    return RebuildResult(view.name, applied, position, seconds)


def _switch(
    view: ProjectionView,
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    conn: psycopg.Connection[DictRow],
    staging: str,
    position: int,
    batch_size: int,
) -> tuple[int, int]:
    """The one transaction that applies the last events and swaps the tables in."""
    live_schema = view.datastore.schema
    tracking = sql.Identifier(live_schema, view.tracking_table_name)
    applied = 0
    with conn.transaction(), conn.cursor() as curs:
        curs.execute(
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWITCH_LOCK_TIMEOUT))
        )
        # The live worker waits here until the switch commits (its batches lock this row).
        curs.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE application_name = %s FOR UPDATE").format(
                tracking
            ),
            (view.application_name,),
        )
        if curs.fetchone() is None:
            msg = f"projection {view.name!r} has no tracking row: run 'interagency migrate'"
            raise RebuildError(msg)
        head = recorder.max_notification_id() or 0
        while position < head:
            position, n = _apply(view, recorder, mapper, curs, position, head, batch_size)
            applied += n
        for table in view.tables:
            _copy_grants(curs, live_schema, staging, table)
            curs.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(live_schema, table))
            )
            curs.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(staging, table), sql.Identifier(live_schema)
                )
            )
        curs.execute(
            sql.SQL("UPDATE {} SET notification_id = %s WHERE application_name = %s").format(
                tracking
            ),
            (position, view.application_name),
        )
        # Events parked from the old tables do not concern the new ones.
        curs.execute(
            sql.SQL("DELETE FROM {} WHERE projection = %s").format(
                sql.Identifier(live_schema, DEAD_LETTER_TABLE)
            ),
            (view.name,),
        )
    return position, applied


def _apply(
    view: ProjectionView,
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    curs: psycopg.Cursor[DictRow],
    position: int,
    head: int,
    batch_size: int,
    *,
    pipelined: bool = False,
) -> tuple[int, int]:
    """Applies the next batch after ``position`` (up to ``head``); answers the new one.

    ``pipelined``: the batch's statements are sent without waiting for each answer
    (psycopg pipeline mode), which doubles a rebuild's pace (docs/performance.md). An SQL
    error then surfaces later than its statement: the caller retries such a batch
    unpipelined, which names the event at fault.
    """
    notifications = recorder.select_notifications(
        start=position + 1, limit=batch_size, stop=head, topics=list(view.topics)
    )
    view.begin_batch()
    with curs.connection.pipeline() if pipelined else nullcontext():
        for n in notifications:
            try:
                view.process(curs, mapper.to_domain_event(n), n.id)
            except Exception as exc:
                raise PoisonEventError(view.name, n.id, n.topic, exc) from exc
        view.end_batch(curs)
    new_position = notifications[-1].id if len(notifications) == batch_size else head
    return new_position, len(notifications)


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "PUBLIC" else sql.Identifier(name)


def _copy_grants(curs: psycopg.Cursor[DictRow], live: str, staging: str, table: str) -> None:
    """Gives the new table the privileges others held on the live one (analysts' role)."""
    curs.execute(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
        "WHERE table_schema = %s AND table_name = %s AND grantee <> current_user",
        (live, table),
    )
    for row in curs.fetchall():
        curs.execute(
            sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(row["privilege_type"]),
                sql.Identifier(staging, table),
                _grantee(row["grantee"]),
            )
        )
    curs.execute(
        "SELECT grantee, privilege_type, column_name FROM information_schema.column_privileges "
        "WHERE table_schema = %s AND table_name = %s AND grantee <> current_user",
        (live, table),
    )
    for row in curs.fetchall():
        curs.execute(
            sql.SQL("GRANT {} ({}) ON {} TO {}").format(
                sql.SQL(row["privilege_type"]),
                sql.Identifier(row["column_name"]),
                sql.Identifier(staging, table),
                _grantee(row["grantee"]),
            )
        )
