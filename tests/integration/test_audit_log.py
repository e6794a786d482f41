"""The audit log on a real PostgreSQL: complete, exact, gap-free under concurrent writes.

The session worker keeps the ``audit`` projection up to date; tests wait on its tracking
position, never sleep. What the log says is compared with the event store itself (the
aggregates' histories, or the notifications decoded by the application's own mapper).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from psycopg import sql

from domain.values import EventMeta
from interagency.application import CommandResult, InteragencyApplication
from interagency.audit import read_log
from interagency.idempotency import IdempotencyContext
from interagency.services import Services
from projections.audit import INTERNAL_TYPES, REDACTED, AuditEntry, AuditFilter
from projections.runtime import ProjectionWorker
from tests.integration.network_helpers import enrol, published_program, register


def meta(actor: str = "auditor-test", agency: str = "education", **kw: Any) -> EventMeta:
    return EventMeta(
        actor_id=actor,
        actor_role="official",
        actor_agency=agency,
        correlation_id=kw.pop("correlation_id", f"corr-{uuid4().hex}"),
        **kw,
    )


def start_project(
    app: InteragencyApplication, m: EventMeta, idempotency: IdempotencyContext | None = None
) -> CommandResult:
    return app.initiate_project(
        m,
        title="Audit trail project",
        goal="Join the schools, the library and the sports school",
        municipality=f"Audit district {uuid4().hex[:8]}",
        lead_agency="education",
        agencies=["education", "culture"],
        idempotency=idempotency,
    )


def read_all(
    services: Services, f: AuditFilter, *, after: int = 0, limit: int = 100
) -> list[AuditEntry]:
    """Pages through the log from ``after`` until the projection's position."""
    out: list[AuditEntry] = []
    while True:
        page = read_log(services.audit, f, after=after, limit=limit)
        out.extend(page.entries)
        if not page.full:
            return out
        after = page.next_cursor


def at_head(services: Services) -> int:
    head = services.app.head_position()
    assert services.audit.wait_for(head, 30), (
        f"audit projection stuck at {services.audit.position()}"
    )
    return head


def notifications(services: Services, after: int, upto: int) -> list[tuple[int, Any]]:
    """The events of the store itself in (after, upto], decoded by the application."""
    app = services.app
    out: list[tuple[int, Any]] = []
    start = after + 1
    while start <= upto:
        batch = app.recorder.select_notifications(start=start, limit=500, stop=upto)
        if not batch:
            break
        out.extend((n.id, app.mapper.to_domain_event(n)) for n in batch)
        start = batch[-1].id + 1
    return out


# -- what one event looks like --------------------------------------------------------------


def test_a_commands_events_are_in_the_log_with_their_metadata_and_data(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    m = meta(reason="Start of the school year", basis_document="Order No. 7")
    created = start_project(app, m)
    planned = app.plan_deliverable(
        m, created.aggregate_id, stage="social_ties_program", title="Plan", mechanism="regulation"
    )
    at_head(services)

    entries = read_all(services, AuditFilter(correlation_id=m.correlation_id))

    history = app.history(created.aggregate_id)
    assert [e.position for e in entries] == [h.position for h in history]
    assert entries[-1].position == planned.position
    for entry, h in zip(entries, history, strict=True):
        assert entry.aggregate_id == created.aggregate_id
        assert entry.aggregate_type == "project"
        assert entry.aggregate_version == h.version
        assert entry.event_type == type(h.event).__name__
        assert entry.topic.endswith(f"InteragencyProject.{entry.event_type}")
        assert entry.time == h.event.timestamp
        assert (entry.actor_id, entry.actor_role, entry.actor_agency) == (
            "auditor-test",
            "official",
            "education",
        )
        assert entry.reason == "Start of the school year"
        assert entry.basis_document == "Order No. 7"
        assert entry.correlation_id == m.correlation_id
    plan = entries[-1].data
    assert plan["stage"] == "social_ties_program"
    assert plan["title"] == "Plan"
    assert UUID(plan["deliverable_id"]) in app.get_project(created.aggregate_id).deliverables


def test_internal_records_saved_with_a_command_are_in_the_log_under_their_own_type(
    services: Services, worker: ProjectionWorker
) -> None:
    m = meta()
    key = f"audit-{uuid4().hex}"
    created = start_project(services.app, m, IdempotencyContext(key, "fp-1"))
    at_head(services)

    entries = read_all(services, AuditFilter(correlation_id=m.correlation_id))

    assert [e.aggregate_type for e in entries] == ["idempotency_record", "project"]
    record = entries[0]
    assert record.data["key"] == key
    assert UUID(record.data["aggregate_id"]) == created.aggregate_id
    hidden = read_all(
        services, AuditFilter(correlation_id=m.correlation_id, aggregate_types=("project",))
    )
    assert [e.aggregate_type for e in hidden] == ["project"]
    without_internal = read_all(
        services,
        AuditFilter(correlation_id=m.correlation_id, excluded_types=tuple(INTERNAL_TYPES)),
    )
    assert [e.aggregate_type for e in without_internal] == ["project"]


# -- personal data ----------------------------------------------------------------------------


def test_a_childs_id_never_reaches_the_audit_log(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    municipality = f"Audit district {uuid4().hex[:8]}"
    provider = register(app, municipality, "Centre of creativity")
    program = published_program(app, provider)
    child = f"child-{uuid4().hex[:12]}"
    enrolment = enrol(app, program, child, 2015)
    at_head(services)

    entries = read_all(services, AuditFilter(aggregate_id=program, event_types=("ChildEnrolled",)))

    (enrolled,) = entries
    assert enrolled.data["child_id"] == REDACTED
    assert enrolled.data["enrolment_id"] == str(enrolment)
    assert enrolled.data["birth_year"] == 2015
    # Not in the projection's table at all, not only hidden on the way out.
    with services.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT count(*) AS n FROM audit_events WHERE data::text LIKE %s", (f"%{child}%",)
        )
        row = curs.fetchone()
    assert row is not None
    assert row["n"] == 0
    # The write model still knows the child: only the log forgets.
    assert app.get_program(program).enrolments[enrolment].child_id == child


# -- filters ------------------------------------------------------------------------------------


def test_filters_by_actor_agency_event_type_and_time_select_exactly_the_matching_events(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    actor = f"official-{uuid4().hex[:8]}"
    first = start_project(app, meta(actor, "education"))
    second = start_project(app, meta(actor, "culture"))
    app.plan_deliverable(
        meta(actor, "culture"),
        second.aggregate_id,
        stage="social_ties_program",
        title="Plan",
        mechanism="regulation",
    )
    at_head(services)

    mine = read_all(services, AuditFilter(actor_id=actor), limit=2)
    assert [e.aggregate_id for e in mine] == [
        first.aggregate_id,
        second.aggregate_id,
        second.aggregate_id,
    ]
    culture = read_all(services, AuditFilter(actor_id=actor, agency="culture"))
    assert [e.event_type for e in culture] == ["ProjectInitiated", "DeliverablePlanned"]
    plans = read_all(services, AuditFilter(actor_id=actor, event_types=("DeliverablePlanned",)))
    assert [e.aggregate_id for e in plans] == [second.aggregate_id]
    # Half-open: from the first event's time (inclusive) to the last one's (exclusive).
    t0, t2 = mine[0].time, mine[2].time
    window = read_all(services, AuditFilter(actor_id=actor, time_from=t0, time_to=t2))
    assert [e.position for e in window] == [e.position for e in mine[:2]]
    later = read_all(services, AuditFilter(actor_id=actor, time_from=t2 + timedelta(seconds=1)))
    assert later == []


# -- paging ---------------------------------------------------------------------------------


def test_a_page_never_goes_beyond_the_projections_position(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    at_head(services)
    m = meta()
    # Hold the projection's tracking row: the worker cannot move it meanwhile.
    with services.datastore.transaction(commit=False) as curs:
        held = services.audit.lock_position(curs)
        created = start_project(app, m)
        page = read_log(
            services.audit, AuditFilter(correlation_id=m.correlation_id), after=0, limit=5
        )
        assert page.entries == []
        assert page.up_to == held < created.position
        assert page.next_cursor == held
    assert services.audit.wait_for(created.position, 30)

    page = read_log(
        services.audit, AuditFilter(correlation_id=m.correlation_id), after=held, limit=5
    )
    assert [e.position for e in page.entries] == [created.position]


def test_paging_returns_every_event_exactly_once_while_writes_run(
    services: Services, worker: ProjectionWorker
) -> None:
    """Writers issue commands (some saving two aggregates at once) while two readers page
    with small pages: one through everything, one filtered on a single writer. Once the
    writers stop, the readers page on to the head they see then. Every position of the store
    in that range is read exactly once, and the filtered reader read exactly that writer's."""
    app = services.app
    start = at_head(services)
    writers, commands_each = 4, 6
    failures: list[BaseException] = []

    def write(n: int) -> None:
        m = meta(f"writer-{n}-{start}")
        try:
            for i in range(commands_each):
                key = f"concurrent-{start}-{n}-{i}"
                # With a key: an idempotency record and the project, in one save.
                created = start_project(app, m, IdempotencyContext(key, "fp") if i % 2 else None)
                app.plan_deliverable(
                    m,
                    created.aggregate_id,
                    stage="social_ties_program",
                    title=f"Plan {i}",
                    mechanism="regulation",
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()

    everything: list[int] = []
    only_writer0: list[int] = []
    cursors = {"all": start, "one": start}
    filters = {"all": AuditFilter(), "one": AuditFilter(actor_id=f"writer-0-{start}")}
    sinks = {"all": everything, "one": only_writer0}

    def read_once(name: str, limit: int) -> None:
        page = read_log(services.audit, filters[name], after=cursors[name], limit=limit)
        positions = [e.position for e in page.entries]
        assert positions == sorted(positions)
        assert all(p > cursors[name] for p in positions)
        assert page.next_cursor >= cursors[name]
        assert all(p <= page.up_to for p in positions)
        sinks[name].extend(positions)
        cursors[name] = page.next_cursor

    pages = 0
    while any(t.is_alive() for t in threads):
        read_once("all", 3)
        read_once("one", 2)
        pages += 1
    for t in threads:
        t.join()
    assert not failures, failures

    head = at_head(services)
    while cursors["all"] < head or cursors["one"] < head:
        read_once("all", 3)
        read_once("one", 2)

    stored = notifications(services, start, head)
    assert pages > 1, "the readers never overlapped the writers"
    assert len(stored) >= writers * commands_each * 2
    assert Counter(everything) == Counter(p for p, _ in stored)
    assert max(Counter(everything).values()) == 1
    assert only_writer0 == [p for p, e in stored if e.meta.actor_id == f"writer-0-{start}"]
    assert len(only_writer0) == commands_each * 2 + commands_each // 2


# -- the projection itself ----------------------------------------------------------------------


def test_a_rebuild_from_zero_gives_identical_rows(
    services: Services, worker: ProjectionWorker
) -> None:
    start_project(services.app, meta())
    at_head(services)
    before = services.audit.dump()
    assert before["audit_events"]

    projector = services.projector("audit")
    projector.reset()
    projector.catch_up()
    at_head(services)

    assert services.audit.dump() == before


def test_the_log_holds_one_row_per_stored_event(
    services: Services, worker: ProjectionWorker
) -> None:
    start_project(services.app, meta())
    head = at_head(services)
    rec = services.app.pg_recorder
    with services.datastore.transaction(commit=False) as curs:
        curs.execute(
            sql.SQL(
                "SELECT array_agg(notification_id ORDER BY notification_id) AS ids FROM {}.{}"
            ).format(sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name))
        )
        row = curs.fetchone()
        curs.execute("SELECT array_agg(position ORDER BY position) AS ids FROM audit_events")
        audit_row = curs.fetchone()
    assert row is not None
    assert audit_row is not None
    assert audit_row["ids"] == [i for i in row["ids"] if i <= head]
