"""Projection catch-up, events per second, against the raw read rate of the event log.

Seeds ``--events`` events (default 100,000) on a throw-away database: whole project life
cycles built in memory with the domain (initiate, then plan / submit / approve deliverables,
now and then reject and resubmit one, pass each stage's gate) and saved with
``app.save(*aggregates)`` about 1,000 events per call. Then it measures, with
``time.perf_counter``:

(a) the raw read rate of the log: ``select_notifications`` in pages of 1,000, rows only and
    decoded (``mapper.to_domain_event``), without and with the projection's topic filter;
(b) ``Projector.catch_up()`` of the ``projects`` projection from zero, for batch sizes 1, 100,
    500 and 2,000, over the first ``--catchup-events`` events (batch size 1: the first
    ``--batch1-events``), as events/s, as a ratio to the decoded read rate, and as CPU per
    event on each side; the rows built with each batch size are compared.

    python bench/projection_catchup.py [--events 100000] [--catchup-events 20000]

Uses ``POSTGRES_*`` (or ``DATABASE_URL``) if set, else an embedded server in a temp folder.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import psycopg
from common import (
    BenchDatabase,
    Stopwatch,
    backend_pids,
    cpu_seconds,
    cpu_used,
    machine,
    server_version,
    start_watchdog,
    throwaway_database,
)

from domain.project import STAGES, InteragencyProject
from domain.values import EventMeta, Mechanism
from interagency.application import InteragencyApplication
from interagency.logging import configure_logging
from interagency.services import Services, migrate
from projections.runtime import Projector

PAGE = 1000
BATCH_SIZES = (1, 100, 500, 2000)


def project_life(
    rng: random.Random, meta: EventMeta, deliverables_per_stage: int
) -> Iterator[InteragencyProject]:
    """One project's whole life, one command at a time (yields after each command)."""
    p = InteragencyProject.initiate(
        meta,
        project_id=uuid4(),
        title=f"Bench project {rng.randrange(10**6)}",
        goal="Measure projection catch-up",
        municipality=f"District {rng.randrange(12)}",
        lead_agency="education",
        agencies=["education", "culture", "sport"][: rng.choice((2, 3))],
    )
    yield p
    mechanisms = list(Mechanism)
    for stage in STAGES:
        for i in range(deliverables_per_stage):
            did = uuid4()
            p.plan_deliverable(
                meta,
                deliverable_id=did,
                stage=stage.value,
                title=f"{stage.value} deliverable {i}",
                mechanism=rng.choice(mechanisms).value,
                mandatory=rng.random() < 0.7,
                due_date=date(2027, 1, 1) + timedelta(days=rng.randrange(365)),
            )
            yield p
            p.submit_deliverable(meta, deliverable_id=did, document_ref=f"doc-{i}")
            yield p
            if rng.random() < 0.2:
                p.reject_deliverable(meta, deliverable_id=did, reason="Incomplete annex")
                yield p
                p.submit_deliverable(meta, deliverable_id=did, document_ref=f"doc-{i}-v2")
                yield p
            p.approve_deliverable(meta, deliverable_id=did)
            yield p
        if rng.random() < 0.1:
            p.reject_gate(meta, reason="The working group asked for one more review")
            yield p
        # On the last stage this also completes the project (two events).
        p.pass_gate(meta, reason="All mandatory deliverables approved", decision_ref="WG-7")
        yield p


def seed(app: InteragencyApplication, n_events: int, chunk: int = PAGE) -> tuple[int, int, float]:
    """Saves about ``n_events`` events, ``chunk`` events (whole aggregates) per ``save()``.

    Returns (events, calls of save(), seconds spent in save()).
    """
    rng = random.Random(7)
    meta = EventMeta(actor_id="bench", actor_role="official", actor_agency="education")
    total = 0
    saves = 0
    in_save = 0.0
    pending: list[InteragencyProject] = []
    pending_events = 0

    def flush() -> None:
        nonlocal pending, pending_events, saves, in_save
        if pending:
            t0 = time.perf_counter()
            app.save(*pending)
            in_save += time.perf_counter() - t0
            saves += 1
        pending, pending_events = [], 0

    while total < n_events:
        project: InteragencyProject | None = None
        before = 0
        for project in project_life(rng, meta, deliverables_per_stage=rng.randrange(3, 9)):
            now = len(project.pending_events)
            total += now - before
            before = now
            if total >= n_events:
                break
        assert project is not None
        pending.append(project)
        pending_events += before
        if pending_events >= chunk:
            flush()
    flush()
    return total, saves, in_save


def read_rate(
    app: InteragencyApplication, decode: bool, topics: Sequence[str] = ()
) -> tuple[int, float]:
    """Reads the whole log in pages of ``PAGE``; returns (events, seconds)."""
    recorder = app.pg_recorder
    to_domain: Callable[[Any], Any] = app.mapper.to_domain_event
    n = 0
    start = 1
    t0 = time.perf_counter()
    while True:
        page = recorder.select_notifications(start=start, limit=PAGE, topics=topics)
        if not page:
            break
        if decode:
            for notification in page:
                to_domain(notification)
        n += len(page)
        start = page[-1].id + 1
    return n, time.perf_counter() - t0


class _EnoughError(Exception):
    """Stops a catch-up after the events we wanted to time."""


def time_catch_up(projector: Projector, limit: int | None) -> tuple[int, float, int]:
    """Catches up from zero; returns (events applied, seconds, transactions)."""
    projector.reset()
    batches = 0
    applied_before = projector.view.position()
    assert applied_before == 0

    def progress(position: int, _head: int) -> None:
        nonlocal batches
        batches += 1
        if limit is not None and position >= limit:
            raise _EnoughError

    t0 = time.perf_counter()
    try:
        applied = projector.catch_up(progress)
    except _EnoughError:
        applied = projector.view.position()
    return applied, time.perf_counter() - t0, batches


def seed_phase(services: Services, db: BenchDatabase, args: argparse.Namespace) -> int:
    """Seeds the log (and analyses it, unless told not to); returns the head position."""
    app = services.app
    with Stopwatch() as sw:
        seeded, saves, in_save = seed(app, args.events)
    head = app.head_position()
    print(
        f"seeded {seeded:,} events in {sw.wall:.1f} s, {seeded / sw.wall:,.0f} events/s "
        f"with building them in memory ({sw.cpu / seeded * 1e6:.0f} µs CPU/event); "
        f"save() alone: {saves} calls, {seeded / in_save:,.0f} events/s; "
        f"head position {head:,}"
    )
    if args.analyze:
        # A database in service has statistics (autovacuum analyses it); right after a
        # bulk load it has none, and the prepared reads of the log can get a bad plan.
        with psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
            conn.execute("ANALYZE")
        print("ANALYZE after seeding (as autovacuum would; --no-analyze to skip)")
    else:
        print("no ANALYZE after seeding (--no-analyze): statistics may be missing")
    return head


def read_phase(services: Services) -> float:
    """(a): prints the read rates of the log; returns the decoded rate (events/s)."""
    print("\n(a) reading the log, pages of 1,000")
    topics = list(services.projects.topics)
    rates: dict[str, float] = {}
    for label, decode, tps in (
        ("raw rows", False, ()),
        ("decoded", True, ()),
        ("decoded, projection's topic filter", True, topics),
    ):
        n, secs = read_rate(services.app, decode, tps)
        rates[label] = n / secs
        print(f"  {label:<36}{n:>9,} events {secs:7.2f} s {n / secs:>10,.0f} events/s")
    return rates["decoded"]


def catch_up_phase(
    services: Services, db: BenchDatabase, args: argparse.Namespace, head: int, decoded: float
) -> bool:
    """(b): times the catch-up per batch size; True if the rows agree across batch sizes."""
    app = services.app
    print("\n(b) catch-up of the 'projects' projection from zero (rows + position per tx)")
    print(
        f"  {'batch':>6}{'events':>9}{'txs':>7}{'seconds':>9}{'events/s':>10}"
        f"{'x decoded':>11}{'client':>10}{'postgres':>10}{'others':>8}"
    )
    print(f"  {'':>52}{'µs CPU/event':>20}{'CPU s':>8}")
    # Every measured batch size stops at the same position, so their rows compare.
    common_stop = head if args.catchup_events <= 0 else min(args.catchup_events, head)
    if common_stop < head:
        common_stop -= common_stop % max(BATCH_SIZES)
    ok = True
    dumps: dict[int, Any] = {}
    rates_by_size: dict[int, float] = {}
    view = services.projects
    for size in BATCH_SIZES:
        projector = Projector(view, app.pg_recorder, app.mapper, batch_size=size)
        stop = min(args.batch1_events, head) if size == 1 else common_stop
        before = cpu_seconds({}, backend_pids(db.params))
        applied, secs, txs = time_catch_up(projector, None if stop >= head else stop)
        used = cpu_used(before, cpu_seconds({}, backend_pids(db.params)))
        rate = applied / secs
        rates_by_size[size] = rate
        cpu = (
            f"{used['bench'] / applied * 1e6:>10,.0f}"
            f"{used['postgres'] / applied * 1e6:>10,.0f}"
            f"{used['other processes']:>8.1f}"
            if used
            else ""
        )
        print(
            f"  {size:>6}{applied:>9,}{txs:>7,}{secs:>9.2f}{rate:>10,.0f}"
            f"{rate / decoded:>10.1%}{cpu}"
        )
        if size != 1:
            if view.position() != stop:
                print(f"  FAILED: batch {size} stopped at {view.position()}, not {stop}")
                ok = False
            dumps[size] = view.dump()
    sizes = sorted(dumps)
    same = all(dumps[s] == dumps[sizes[0]] for s in sizes[1:])
    rows = {table: len(r) for table, r in dumps[sizes[0]].items()}
    print(
        f"\n  [{'ok' if same else 'FAILED'}] at position {common_stop:,} the rows built with "
        f"batch sizes {', '.join(map(str, sizes))} are identical ({rows})"
    )
    default = services.settings.projection_batch_size
    if default in rates_by_size:
        print(
            f"  a rebuild of all {head:,} events at the default batch size {default} would "
            f"take about {head / rates_by_size[default]:,.0f} s"
        )
    return ok and same


def run(db: BenchDatabase, args: argparse.Namespace) -> bool:
    settings = db.settings()
    migrate(settings, db.params)
    with Services(settings, db.params) as services:
        head = seed_phase(services, db, args)
        decoded = read_phase(services)
        return catch_up_phase(services, db, args, head, decoded)


def main() -> None:
    configure_logging("console", "warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to seed")
    parser.add_argument(
        "--batch1-events",
        type=int,
        default=2000,
        help="events timed at batch size 1 (one transaction per event is slow)",
    )
    parser.add_argument(
        "--catchup-events",
        type=int,
        default=20_000,
        help="events timed at the other batch sizes (0: the whole log)",
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="skip ANALYZE after seeding (shows the cost of missing statistics)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="interrupt the whole run after this many seconds (it must stop by itself)",
    )
    args = parser.parse_args()
    if args.events < PAGE:
        parser.error(f"--events must be at least {PAGE}")
    start_watchdog(args.timeout)
    print(f"machine: {machine()}")
    try:
        with throwaway_database("catchup") as db:
            print(f"database: {db.describe()} ({server_version(db.params)})")
            ok = run(db, args)
    except KeyboardInterrupt:
        print("interrupted: the database was dropped")
        sys.exit(3)
    print("database dropped")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
