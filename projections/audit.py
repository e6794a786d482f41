"""The unified audit log: one row per event of every aggregate, with its metadata.

Why a projection and not a read of the events table itself
----------------------------------------------------------
Auditors filter by actor, agency, correlation id, event type and time. In the events
table those are inside the JSON of each event's ``state`` (bytea): every filtered query
would decode and scan the whole log, and indexes over expressions on the library's own
table are not ours to add. This projection copies each event once, with those fields as
indexed columns, in the same transaction as its tracking position (see
``projections.runtime``). Its price is lag: the log is complete only up to the
projection's position, so a page never goes beyond it (``AuditPage.up_to``), and a
reader that wants the events of its own write passes ``min_position``.

Gap-free paging by position
---------------------------
Rows up to the tracking position commit together with it, and eventsourcing serialises
writers (``LOCK TABLE ... EXCLUSIVE``), so positions commit in order. One statement reads
the tracking position and the page below it, in one snapshot: a page holds every matching
row after the cursor up to its end, and the next cursor is the last row's position (a full
page) or the tracking position (a short page: nothing else matched up to there). Following
``next_cursor`` therefore returns every event exactly once, whatever is written meanwhile.
Positions themselves may have gaps (a rolled-back insert burns a sequence value); a gap in
positions is not a missing event.

What is shown
-------------
Every event of the log, including the internal records saved with commands (the decision
and INN indexes, idempotency records): the audit log is the event log, position for
position, so that it lines up with the hash chain over the same positions. Filter them
out with ``aggregate_type`` if they are noise. Personal data is not copied: a child's
pseudonymous id (``Program.ChildEnrolled.child_id``) is replaced by ``<redacted>`` here,
so this table holds none; detailed access comes with access control. Neither is a token's
secret hash (``Principal.TokenIssued.secret_hash``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.types.json import Jsonb

from domain.base import DomainAggregate, event_type_name
from projections.runtime import Cursor, ProjectionView

REDACTED = "<redacted>"

# The short, stable names of the aggregate types, by aggregate class name. A class not
# named here gets its name in snake_case (e.g. ``TokenIndex`` -> ``token_index``).
AGGREGATE_TYPES: dict[str, str] = {
    "InteragencyProject": "project",
    "WorkingGroup": "working_group",
    "MunicipalAssignment": "assignment",
    "Redistribution": "redistribution",
    "Organization": "organization",
    "Program": "program",
    "NetworkAgreement": "agreement",
    "TerritoryPopulation": "territory_population",
    "DecisionIndex": "decision_index",
    "InnIndex": "inn_index",
    "IdempotencyRecord": "idempotency_record",
    "Principal": "principal",
    "TokenIndex": "token_index",
    "PrincipalDirectory": "principal_directory",
}

# Internal records saved alongside commands: shown in the log, but they record no decision
# of anyone on their own (each repeats the meta of the command that saved it).
INTERNAL_TYPES = frozenset(
    {"decision_index", "inn_index", "idempotency_record", "token_index", "principal_directory"}
)

# What the audit log never holds: (aggregate type, event type) -> fields. A child's
# pseudonymous id is personal data; a token's secret hash is useless to an auditor (the token
# id names the token) and has no business in a table many may read.
REDACTED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("program", "ChildEnrolled"): ("child_id",),
    ("principal", "TokenIssued"): ("secret_hash",),
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}


def aggregate_type_of(topic: str) -> str:
    """``domain.program:Program.ChildEnrolled`` -> ``program``."""
    _, _, qualname = topic.partition(":")
    cls = qualname.split(".")[0] if qualname else topic
    return AGGREGATE_TYPES.get(cls) or _CAMEL.sub("_", cls).lower()


def known_aggregate_types() -> list[str]:
    """The short names of every aggregate class loaded in this process, sorted."""
    names = set(AGGREGATE_TYPES.values())
    pending: list[type[DomainAggregate]] = [DomainAggregate]
    while pending:
        cls = pending.pop()
        sub: type[DomainAggregate]
        for sub in cls.__subclasses__():
            pending.append(sub)
            if "." not in sub.__qualname__:
                names.add(aggregate_type_of(f"{sub.__module__}:{sub.__qualname__}"))
    return sorted(names)


def jsonable(value: Any) -> Any:
    """An event field as JSON: ids and dates as strings, exact numbers as strings.

    A NUL character (which PostgreSQL text and jsonb cannot hold) becomes U+FFFD, so that
    no stored event can stall the audit log.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return jsonable(str(value))


def redact(aggregate_type: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The event's data without what the log never holds: each such field is ``<redacted>``."""
    fields = REDACTED_FIELDS.get((aggregate_type, event_type))
    if not fields:
        return data
    return {k: (REDACTED if k in fields and v is not None else v) for k, v in data.items()}


def event_data(event: Any) -> dict[str, Any]:
    """The event's own data (no envelope, no meta), as JSON."""
    return {k: jsonable(v) for k, v in event.__dict__.items() if k not in _ENVELOPE}


@dataclass(frozen=True)
class AuditFilter:
    aggregate_types: tuple[str, ...] = ()
    # Types left out, e.g. INTERNAL_TYPES.
    excluded_types: tuple[str, ...] = ()
    aggregate_id: UUID | None = None
    event_types: tuple[str, ...] = ()
    actor_id: str | None = None
    agency: str | None = None
    correlation_id: str | None = None
    # Half-open: time_from <= time < time_to.
    time_from: datetime | None = None
    time_to: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    position: int
    aggregate_id: UUID
    aggregate_type: str
    aggregate_version: int
    event_type: str
    topic: str
    time: datetime
    actor_id: str | None
    actor_role: str | None
    actor_agency: str | None
    reason: str | None
    basis_document: str | None
    decision_ref: str | None
    correlation_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    """One page of the log, complete for its range.

    ``next_cursor`` is the ``after`` of the next page. ``up_to`` is the projection's
    position this page was read at: every matching event with ``after < position <=
    next_cursor`` is in ``entries``, and nothing beyond ``up_to`` is ever returned.
    """

    entries: list[AuditEntry]
    next_cursor: int
    up_to: int
    limit: int

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.limit


@dataclass
class _Batch:
    rows: list[tuple[Any, ...]] = field(default_factory=list)


_COLUMNS = (
    "position",
    "aggregate_id",
    "aggregate_type",
    "aggregate_version",
    "event_type",
    "topic",
    "time",
    "actor_id",
    "actor_role",
    "actor_agency",
    "reason",
    "basis_document",
    "decision_ref",
    "correlation_id",
    "data",
)


class AuditView(ProjectionView):
    """``audit_events``: every event, its metadata in indexed columns, its data as jsonb."""

    name = "audit"
    tables = ("audit_events",)
    # No topics: every event of the log.
    topics = ()

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        super().__init__(datastore, application_name)
        # Batch state per thread: a worker and a rebuild may drive the view at once.
        self._local = threading.local()

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS audit_events (
                position bigint PRIMARY KEY,
                aggregate_id uuid NOT NULL,
                aggregate_type text NOT NULL,
                aggregate_version int NOT NULL,
                event_type text NOT NULL,
                topic text NOT NULL,
                time timestamptz NOT NULL,
                actor_id text,
                actor_role text,
                actor_agency text,
                reason text,
                basis_document text,
                decision_ref text,
                correlation_id text,
                data jsonb NOT NULL
            )""",
            *(
                f"CREATE INDEX IF NOT EXISTS audit_events_{name} ON audit_events ({columns})"
                for name, columns in (
                    ("aggregate", "aggregate_id, position"),
                    ("type", "aggregate_type, position"),
                    ("event_type", "event_type, position"),
                    ("actor", "actor_id, position"),
                    ("agency", "actor_agency, position"),
                    ("correlation", "correlation_id, position"),
                    ("time", "time"),
                )
            ),
        ]

    # -- the projection ---------------------------------------------------------------

    def begin_batch(self) -> None:
        self._local.batch = _Batch()

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            msg = "AuditView.process() runs inside a batch: use a Projector"
            raise RuntimeError(msg)
        batch.rows.append(self.row(event, position))

    def end_batch(self, curs: Cursor) -> None:
        batch: _Batch | None = getattr(self._local, "batch", None)
        self._local.batch = None
        if batch is None or not batch.rows:
            return
        curs.executemany(
            sql.SQL("INSERT INTO audit_events ({}) VALUES ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS),
                sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)),
            ),
            batch.rows,
        )

    @staticmethod
    def row(event: Any, position: int) -> tuple[Any, ...]:
        topic = get_topic(type(event))
        aggregate_type = aggregate_type_of(topic)
        event_type = event_type_name(event)
        meta = getattr(event, "meta", None)

        def m(name: str) -> str | None:
            value = getattr(meta, name, None)
            return None if value is None else str(jsonable(value))

        data = redact(aggregate_type, event_type, event_data(event))
        return (
            position,
            event.originator_id,
            aggregate_type,
            event.originator_version,
            event_type,
            topic,
            event.timestamp,
            m("actor_id"),
            m("actor_role"),
            m("actor_agency"),
            m("reason"),
            m("basis_document"),
            m("decision_ref"),
            m("correlation_id"),
            Jsonb(data),
        )

    # -- queries ----------------------------------------------------------------------

    def page(self, f: AuditFilter, *, after: int, limit: int) -> AuditPage:
        """The matching events after ``after``, at most ``limit``, up to the position."""
        where: list[sql.Composable] = [
            sql.SQL("e.position > %(after)s"),
            sql.SQL("e.position <= t.notification_id"),
        ]
        params: dict[str, Any] = {
            "after": after,
            "limit": limit,
            "application_name": self.application_name,
        }
        for column, key, value, predicate in (
            ("aggregate_type", "types", list(f.aggregate_types), "e.{} = ANY(%({})s)"),
            ("aggregate_type", "excluded", list(f.excluded_types), "e.{} <> ALL(%({})s)"),
            ("aggregate_id", "aggregate_id", f.aggregate_id, "e.{} = %({})s"),
            ("event_type", "event_types", list(f.event_types), "e.{} = ANY(%({})s)"),
            ("actor_id", "actor_id", f.actor_id, "e.{} = %({})s"),
            ("actor_agency", "agency", f.agency, "e.{} = %({})s"),
            ("correlation_id", "correlation_id", f.correlation_id, "e.{} = %({})s"),
            ("time", "time_from", f.time_from, "e.{} >= %({})s"),
            ("time", "time_to", f.time_to, "e.{} < %({})s"),
        ):
            if value is None or value == []:
                continue
            where.append(sql.SQL(predicate).format(sql.Identifier(column), sql.SQL(key)))
            params[key] = value
        # One statement, one snapshot: the tracking position and the rows below it.
        stmt = sql.SQL(
            "SELECT t.notification_id AS up_to, p.* FROM {}.{} t "
            "LEFT JOIN LATERAL (SELECT e.* FROM audit_events e WHERE {} "
            "ORDER BY e.position LIMIT %(limit)s) p ON true "
            "WHERE t.application_name = %(application_name)s ORDER BY p.position"
        ).format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.tracking_table_name),
            sql.SQL(" AND ").join(where),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(stmt, params)
            rows = curs.fetchall()
        if not rows:
            msg = f"projection {self.name!r} has no tracking row: run 'interagency migrate'"
            raise RuntimeError(msg)
        up_to = int(rows[0]["up_to"])
        entries = [_entry(r) for r in rows if r["position"] is not None]
        # A short page holds everything matching up to the projection's position.
        next_cursor = entries[-1].position if len(entries) >= limit else max(after, up_to)
        return AuditPage(entries, next_cursor, up_to, limit)


def _entry(r: dict[str, Any]) -> AuditEntry:
    aggregate_type = r["aggregate_type"]
    event_type = r["event_type"]
    return AuditEntry(
        position=int(r["position"]),
        aggregate_id=r["aggregate_id"],
        aggregate_type=aggregate_type,
        aggregate_version=int(r["aggregate_version"]),
        event_type=event_type,
        topic=r["topic"],
        time=r["time"],
        actor_id=r["actor_id"],
        actor_role=r["actor_role"],
        actor_agency=r["actor_agency"],
        reason=r["reason"],
        basis_document=r["basis_document"],
        decision_ref=r["decision_ref"],
        correlation_id=r["correlation_id"],
        # Redacted again on the way out: a policy that grew since the row was written
        # applies at once, without a rebuild.
        data=redact(aggregate_type, event_type, dict(r["data"])),
    )
