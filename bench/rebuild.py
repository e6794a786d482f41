"""Blue/green rebuild of projections over a large log, against the raw read rate of the log.

Seeds ``--events`` events (default 1,000,000) on a throw-away database, through the
application: whole project life cycles (initiate, plan / submit / approve deliverables, now
and then reject and resubmit one or reject a gate, pass each stage's gate, complete) and,
for about ``--group-share`` of the events, whole working-group lives (establish, appoint
members, then meetings with attendance, a vote, the decision and its index entry, the signed
protocol and an action item, mostly completed). They are built in memory with the domain and
saved with ``app.save(*aggregates)``, whole aggregates, about ``--chunk`` events per call
(eventsourcing 9.5 can hang on one very large save, see docs/performance.md). Then, with
``ANALYZE`` done as autovacuum would, it measures with ``time.perf_counter``:

(a) the raw read rate of the log: ``recorder.select_notifications`` in pages of the rebuild's
    batch size, rows only, decoded with ``mapper.to_domain_event``, and decoded with each
    rebuilt projection's topic filter (the very events its rebuild reads);
(b) ``Services.rebuild(name, batch_size=...)`` (blue/green: a copy of the tables in a staging
    schema, filled batch by batch, then switched in) of each ``--projections`` projection, as
    events/s and as a ratio to the decoded read rate of the same events (the target is at
    least 0.25), with CPU per event on the client and in PostgreSQL.

It then checks the rebuilt rows against what was seeded, and that each projection's position
reached the head of the log.

    python bench/rebuild.py [--events 1000000] [--projections projects,groups]

Uses ``POSTGRES_*`` (or ``DATABASE_URL``) if set, else an embedded server in a temp folder.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import psycopg
from common import (
    BenchDatabase,
    Stopwatch,
    cpu_seconds,
    cpu_used,
    machine,
    server_version,
    start_watchdog,
    throwaway_database,
)
from eventsourcing.domain import Aggregate
from projection_catchup import project_life

from domain.values import EventMeta, Mechanism
from domain.working_group import DecisionIndex, WorkingGroup
from interagency.application import InteragencyApplication
from interagency.logging import configure_logging
from interagency.services import Services, migrate

PROGRESS_EVERY = 10.0  # seconds between progress lines
AGENCIES = ("education", "culture", "sport", "social_policy", "youth_policy", "health")


# -- seeding ----------------------------------------------------------------------------


def group_life(
    rng: random.Random, meta: EventMeta, extras: list[Aggregate]
) -> Iterator[WorkingGroup]:
    """One working group's life, one command at a time; decision index entries (another
    aggregate, saved with the group as the real command does) go to ``extras``."""
    g = WorkingGroup.establish(
        meta,
        group_id=uuid4(),
        kind="interagency",
        name=f"Bench working group {rng.randrange(10**6)}",
        basis_act=f"Order No. {rng.randrange(1, 999)}",
        municipality=f"District {rng.randrange(12)}",
    )
    yield g
    members = []
    agencies = rng.sample(AGENCIES, 4)
    for i, position in enumerate(("chair", "secretary", "member", "member")):
        mid = uuid4()
        g.appoint_member(
            meta,
            member_id=mid,
            person=f"Member {i}",
            organization=f"Organisation {rng.randrange(100)}",
            agency=agencies[i],
            position=position,
            appointed_on=date(2026, 1, 15),
        )
        members.append(mid)
        yield g
    held_on = date(2026, 2, 1)
    for n in range(rng.randrange(2, 7)):
        meeting_id, motion_id, decision_id = uuid4(), uuid4(), uuid4()
        protocol = f"P-{n + 1}"
        g.schedule_meeting(
            meta, meeting_id=meeting_id, held_on=held_on, agenda=["Progress", "Next steps"]
        )
        yield g
        g.record_attendance(meta, meeting_id=meeting_id, present=members)
        yield g
        g.vote_on_motion(
            meta,
            meeting_id=meeting_id,
            motion_id=motion_id,
            agenda_item="1",
            text="Approve the progress report",
            votes={m: ("for" if rng.random() < 0.8 else "abstain") for m in members},
        )
        yield g
        g.record_decision(
            meta,
            decision_id=decision_id,
            meeting_id=meeting_id,
            protocol_number=protocol,
            text="The progress report is approved",
            motion_id=motion_id,
            mechanism=rng.choice(list(Mechanism)).value,
        )
        extras.append(DecisionIndex.index(meta, decision_id=decision_id, group_id=g.id))
        yield g
        g.sign_protocol(meta, meeting_id=meeting_id, protocol_number=protocol)
        yield g
        item_id = uuid4()
        g.assign_action_item(
            meta,
            item_id=item_id,
            description="Send the report to the agencies",
            owner="Secretary",
            deadline=held_on + timedelta(days=30),
            decision_id=decision_id,
        )
        yield g
        if rng.random() < 0.8:
            g.complete_action_item(meta, item_id=item_id, done_on=held_on + timedelta(days=10))
            yield g
        held_on += timedelta(days=rng.randrange(14, 60))


@dataclass
class Seeded:
    events: int = 0
    saves: int = 0
    in_save: float = 0.0
    # Events saved, by event class name (to check the rebuilt rows against).
    kinds: Counter[str] = field(default_factory=Counter)


def seed(app: InteragencyApplication, n_events: int, chunk: int, group_share: float) -> Seeded:
    """Saves whole lives until at least ``n_events`` events, ``chunk`` events per save()."""
    rng = random.Random(7)
    meta = EventMeta(actor_id="bench", actor_role="official", actor_agency="education")
    out = Seeded()
    pending: list[Aggregate] = []
    pending_events = 0
    started = last_print = time.perf_counter()

    def flush() -> None:
        nonlocal pending, pending_events
        if pending:
            for agg in pending:
                out.kinds.update(type(e).__name__ for e in agg.pending_events)
            t0 = time.perf_counter()
            app.save(*pending)
            out.in_save += time.perf_counter() - t0
            out.saves += 1
            out.events += pending_events
        pending, pending_events = [], 0

    group_events = 0
    while out.events + pending_events < n_events:
        extras: list[Aggregate] = []
        life: Iterator[Aggregate]
        # Working groups' lives are shorter than projects': pick by the share of events.
        is_group = group_events < group_share * (out.events + pending_events + 1)
        if is_group:
            life = group_life(rng, meta, extras)
        else:
            life = project_life(rng, meta, deliverables_per_stage=rng.randrange(3, 9))
        agg: Aggregate | None = None
        for agg in life:  # noqa: B007 (the life's last state is the aggregate to save)
            pass
        assert agg is not None
        for a in (agg, *extras):
            pending.append(a)
            pending_events += len(a.pending_events)
            if is_group:
                group_events += len(a.pending_events)
        if pending_events >= chunk:
            flush()
            now = time.perf_counter()
            if now - last_print >= PROGRESS_EVERY:
                last_print = now
                rate = out.events / (now - started)
                print(
                    f"  seeding: {out.events:>10,} / {n_events:,} events, {rate:,.0f} events/s, "
                    f"ETA {(n_events - out.events) / rate:,.0f} s",
                    flush=True,
                )
    flush()
    return out


def seed_phase(services: Services, db: BenchDatabase, args: argparse.Namespace) -> Seeded:
    with Stopwatch() as sw:
        seeded = seed(services.app, args.events, args.chunk, args.group_share)
    head = services.app.head_position()
    print(
        f"seeded {seeded.events:,} events in {sw.wall:.1f} s, "
        f"{seeded.events / sw.wall:,.0f} events/s with building them in memory "
        f"({sw.cpu / seeded.events * 1e6:.0f} µs CPU/event); save() alone: {seeded.saves:,} "
        f"calls, {seeded.events / seeded.in_save:,.0f} events/s; head position {head:,}"
    )
    if head != seeded.events:
        print(f"  FAILED: the head {head:,} is not the {seeded.events:,} events saved")
    projects = seeded.kinds["ProjectInitiated"]
    groups = seeded.kinds["GroupEstablished"]
    print(
        f"  {projects:,} projects ({seeded.kinds['DeliverablePlanned']:,} deliverables), "
        f"{groups:,} working groups ({seeded.kinds['MeetingScheduled']:,} meetings), "
        f"{seeded.kinds['DecisionIndexed']:,} decision index entries"
    )
    with Stopwatch() as sw, psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
        # Right after a bulk load the log has no statistics, and the prepared reads of it
        # can get a bad plan until autovacuum analyses it (docs/performance.md).
        conn.execute("ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        row = size.fetchone()
    print(f"ANALYZE in {sw.wall:.1f} s; database size {row[0] if row else '?'}")
    return seeded


# -- (a) the read rate ------------------------------------------------------------------


def read_rate(
    app: InteragencyApplication, page: int, decode: bool, topics: Sequence[str] = ()
) -> tuple[int, float]:
    """Reads the whole log in pages of ``page``; returns (events, seconds)."""
    recorder = app.pg_recorder
    to_domain: Callable[[Any], Any] = app.mapper.to_domain_event
    n = 0
    start = 1
    t0 = time.perf_counter()
    while True:
        notifications = recorder.select_notifications(start=start, limit=page, topics=list(topics))
        if not notifications:
            break
        if decode:
            for notification in notifications:
                to_domain(notification)
        n += len(notifications)
        start = notifications[-1].id + 1
    return n, time.perf_counter() - t0


def read_phase(services: Services, names: Sequence[str], page: int) -> dict[str, float]:
    """(a): prints the read rates; answers the decoded rate of each projection's events."""
    print(f"\n(a) reading the log, select_notifications in pages of {page:,}")
    rates: dict[str, float] = {}
    whole = 0.0
    for label, decode in (("raw rows", False), ("decoded", True)):
        n, secs = read_rate(services.app, page, decode)
        whole = n / secs
        rates[f"whole log, {label}"] = whole
        print(f"  {'whole log, ' + label:<44}{n:>10,} events {secs:7.1f} s {whole:>9,.0f} /s")
    out: dict[str, float] = {}
    for name in names:
        topics = services.view(name).topics
        if not topics:
            out[name] = whole  # no topic filter: the same read as the whole log, decoded
            label = f"{name}: every event (no topic filter)"
            print(f"  {label:<44}{'':>10} {'':>9}{whole:>11,.0f} /s")
            continue
        n, secs = read_rate(services.app, page, True, topics)
        out[name] = n / secs
        label = f"{name}: decoded, its topic filter"
        print(f"  {label:<44}{n:>10,} events {secs:7.1f} s {n / secs:>9,.0f} /s")
    return out


# -- (b) the rebuilds -------------------------------------------------------------------


class BackendCpu:
    """CPU of the bench database's PostgreSQL backends, sampled while they live.

    A rebuild opens its own connection and closes it at the end, so its backend's CPU is
    read during the rebuild (at each progress call) and the last reading is kept.
    """

    def __init__(self, db: BenchDatabase) -> None:
        self.conn = psycopg.connect(db.params.conninfo(), autocommit=True)
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def pids(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def sample(self) -> None:
        snap = cpu_seconds({}, self.pids())
        for key, value in snap.items():
            if key.startswith("postgres pid "):
                pid = int(key.rsplit(" ", 1)[1])
                # A backend that started during the window (the rebuild's own connection).
                self.start.setdefault(pid, 0.0)
                self.last[pid] = value

    def begin(self) -> None:
        self.start.clear()
        self.last.clear()
        snap = cpu_seconds({}, self.pids())
        for key, value in snap.items():
            if key.startswith("postgres pid "):
                pid = int(key.rsplit(" ", 1)[1])
                self.start[pid] = value
                self.last[pid] = value

    def used(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())

    def close(self) -> None:
        self.conn.close()


def rebuild_phase(
    services: Services,
    db: BenchDatabase,
    names: Sequence[str],
    batch_size: int,
    decoded: dict[str, float],
) -> dict[str, tuple[int, float]]:
    """(b): rebuilds each projection blue/green; answers {name: (events, seconds)}."""
    print(f"\n(b) blue/green rebuild, Services.rebuild(name, batch_size={batch_size:,})")
    backends = BackendCpu(db)
    results: dict[str, tuple[int, float]] = {}
    rows: list[str] = []
    try:
        for name in names:
            started = time.perf_counter()
            last_print = started
            backends.begin()

            def progress(
                position: int, head: int, name: str = name, started: float = started
            ) -> None:
                nonlocal last_print
                backends.sample()
                now = time.perf_counter()
                if now - last_print < PROGRESS_EVERY or position >= head:
                    return
                last_print = now
                secs = now - started
                rate = position / secs  # positions per second: the log's pace, for the ETA
                print(
                    f"  {name}: position {position:>10,} / {head:,} ({position / head:.0%}), "
                    f"{secs:,.0f} s, ETA {(head - position) / rate:,.0f} s",
                    flush=True,
                )

            before = cpu_seconds({})
            result = services.rebuild(name, on_progress=progress, batch_size=batch_size)
            wall = time.perf_counter() - started
            used = cpu_used(before, cpu_seconds({}))
            results[name] = (result.events, wall)
            rate = result.events / wall
            cpu = ""
            if used:
                cpu = (
                    f"{used['bench'] / result.events * 1e6:>8,.0f}"
                    f"{backends.used() / result.events * 1e6:>10,.0f}"
                    f"{max(used['machine busy'] - used['bench'] - backends.used(), 0.0):>9.1f}"
                )
            rows.append(
                f"  {name:<12}{result.events:>10,}{wall:>9.1f}{rate:>10,.0f}"
                f"{rate / decoded[name]:>10.1%}{cpu}"
            )
            print(
                f"  {name}: rebuilt {result.events:,} events up to position "
                f"{result.position:,} in {wall:.1f} s",
                flush=True,
            )
    finally:
        backends.close()
    print(
        f"\n  {'projection':<12}{'events':>10}{'seconds':>9}{'events/s':>10}"
        f"{'x decoded':>10}{'client':>8}{'postgres':>10}{'others':>9}"
    )
    print(f"  {'':<51}{'µs CPU/event':>18}{'CPU s':>9}")
    for line in rows:
        print(line)
    return results


# -- checks -----------------------------------------------------------------------------


def count_rows(services: Services, table: str, where: str = "") -> int:
    with services.datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT count(*) AS n FROM {table} {where}")  # noqa: S608 (our names)
        row = curs.fetchone()
    return int(row["n"]) if row else 0


def check_phase(services: Services, names: Sequence[str], seeded: Seeded) -> bool:
    print("\nchecks")
    passed: list[bool] = []
    k = seeded.kinds

    def check(ok: bool, text: str) -> None:
        passed.append(ok)
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")

    head = services.app.head_position()
    check(head == seeded.events, f"the log's head {head:,} == {seeded.events:,} events saved")
    expected: dict[str, list[tuple[str, str, int]]] = {
        "projects": [
            ("project_summary", "", k["ProjectInitiated"]),
            ("project_summary", "WHERE status = 'completed'", k["ProjectCompleted"]),
            ("project_deliverables", "", k["DeliverablePlanned"]),
            ("project_deliverables", "WHERE state = 'approved'", k["DeliverableApproved"]),
            ("stage_progress", "WHERE status = 'completed'", k["StageGatePassed"]),
        ],
        "groups": [
            ("wg_groups", "", k["GroupEstablished"]),
            ("wg_members", "", k["MemberAppointed"]),
            ("wg_meetings", "", k["MeetingScheduled"]),
            ("wg_decisions", "", k["DecisionRecorded"]),
            ("wg_action_items", "", k["ActionItemAssigned"]),
        ],
        "audit": [("audit_events", "", seeded.events)],
    }
    for name in names:
        position = services.view(name).position()
        check(position == head, f"{name}: position {position:,} == head {head:,}")
        for table, where, want in expected.get(name, []):
            got = count_rows(services, table, where)
            what = f"{table} {where}".strip()
            check(got == want, f"{name}: {what}: {got:,} rows == {want:,} seeded")
    return all(passed)


def run(db: BenchDatabase, args: argparse.Namespace) -> bool:
    settings = db.settings()
    migrate(settings, db.params)
    with Services(settings, db.params) as services:
        for name in args.projections:
            services.view(name)  # unknown names fail before the long seeding
        batch = args.batch_size or max(settings.projection_batch_size, 2000)
        seeded = seed_phase(services, db, args)
        decoded = read_phase(services, args.projections, batch)
        results = rebuild_phase(services, db, args.projections, batch, decoded)
        ok = check_phase(services, args.projections, seeded)
        print()
        for name, (events, secs) in results.items():
            ratio = events / secs / decoded[name]
            verdict = "meets" if ratio >= 0.25 else "misses"
            print(
                f"{name}: {events / secs:,.0f} events/s, {ratio:.2f} of the decoded read rate "
                f"of its events: {verdict} the 0.25 target"
            )
        return ok


def main() -> None:
    configure_logging("console", "warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed")
    parser.add_argument(
        "--projections",
        default="projects,groups",
        help="comma-separated projections to rebuild, in order (e.g. projects,groups,audit)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="events per rebuild transaction (0: what Services.rebuild uses by default)",
    )
    parser.add_argument(
        "--chunk", type=int, default=500, help="events (whole aggregates) per save() when seeding"
    )
    parser.add_argument(
        "--group-share",
        type=float,
        default=0.15,
        help="share of the events seeded that are working groups' (the rest: projects')",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="interrupt the whole run after this many seconds (it must stop by itself)",
    )
    args = parser.parse_args()
    args.projections = [p.strip() for p in args.projections.split(",") if p.strip()]
    if args.events < 1000 or not args.projections or not 0 <= args.group_share <= 1:
        parser.error("need --events >= 1000, some --projections and 0 <= --group-share <= 1")
    start_watchdog(args.timeout)
    print(f"machine: {machine()}")
    try:
        with throwaway_database("rebuild") as db:
            print(f"database: {db.describe()} ({server_version(db.params)})")
            ok = run(db, args)
    except KeyboardInterrupt:
        print("interrupted: the database was dropped")
        sys.exit(3)
    print("database dropped")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
