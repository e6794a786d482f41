"""Time from commit to projection, under a steady rate of commands.

On a throw-away database it runs ``interagency migrate``, then the projection worker in its
own process (``interagency worker``: ``Services.worker()``, as in production), seeds
``--projects`` projects and waits until they are projected. Then ``--threads`` threads run
commands through the application (``InteragencyApplication``, in this process, no HTTP) at
``--rate`` commands per second in all, for ``--seconds``: plan a deliverable, submit it,
approve it, and after four approvals pass the stage gate, each thread on its own projects.
The commands are paced open-loop (each has its start time on a fixed schedule; one that
falls behind starts at once), so a slow command does not lower the offered rate.

For each command, the latency is the time from its commit (the moment the command returned,
with its position in the log) until the ``projects`` projection's tracking position reached
that position, i.e. until a read with ``min_position`` would see it. The position is watched
from a separate process (so the Python GIL of the command threads cannot delay it):

- ``--observe listen`` (the default): the bench adds a trigger on the ``projects`` tracking
  table of its own database that ``pg_notify``-es each new position; the observer LISTENs
  and stamps each notification as it arrives. PostgreSQL delivers a notification once its
  transaction has committed, so this is the moment the batch became visible, give or take
  the delivery (tens of microseconds), and it costs the worker one ``NOTIFY`` per batch.
- ``--observe poll``: the observer reads the tracking row every millisecond (as
  ``view.position()`` does) and stamps a new position when the read returns: an upper bound,
  up to 1 ms plus a round trip late, at the cost of about a thousand queries per second.

Both clocks are ``CLOCK_MONOTONIC``, the same in every process. It prints p50/p90/p99/max of
the latency and whether p99 is within 50 ms, the rate achieved, the command latency, how
many events the worker applied per batch, and the CPU used by each process. It checks that
every acknowledged command is one event and that every command's position was seen
projected.

    python bench/projection_latency.py [--rate 200] [--seconds 30] [--observe listen|poll]

Uses ``POSTGRES_*`` (or ``DATABASE_URL``) if set, else an embedded server in a temp folder.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import multiprocessing as mp
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from common import (
    BenchDatabase,
    ServiceProcess,
    backend_pids,
    cpu_seconds,
    cpu_used,
    interagency_cmd,
    machine,
    percentile,
    run_cli,
    server_version,
    service_env,
    start_watchdog,
    throwaway_database,
)

from domain.values import EventMeta
from interagency.application import InteragencyApplication
from interagency.logging import configure_logging
from interagency.services import Services
from interagency.settings import Settings

CHANNEL = "bench_projects_position"
TARGET_P99_MS = 50.0
MECHANISMS = ("regulation", "working_groups", "monitoring", "staff_development", "incentives")
STAGES = ("social_ties_program", "interaction_mechanisms", "regulatory_base")
APPROVALS_PER_GATE = 4
META = EventMeta(actor_id="bench", actor_role="official", actor_agency="education")


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# -- the observer (its own process) -----------------------------------------------------


def install_trigger(db: BenchDatabase, tracking_table: str, application_name: str) -> None:
    """The bench's own trigger, in its own database: a NOTIFY per new tracking position.

    The tracking table also holds eventsourcing's migration row: only the application's
    row counts.
    """
    with psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE FUNCTION bench_notify_position() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', NEW.notification_id::text);
                RETURN NULL;
            END $$"""
        )
        conn.execute(
            f"CREATE TRIGGER bench_notify_position AFTER UPDATE OF notification_id "
            f"ON {tracking_table} FOR EACH ROW "
            f"WHEN (NEW.application_name = '{application_name}') "
            f"EXECUTE FUNCTION bench_notify_position()"
        )


def observe(
    conninfo: str,
    mode: str,
    tracking_table: str,
    application_name: str,
    ready: Any,
    stop: Any,
    out: Connection,
) -> None:
    """Records (monotonic ns, position) each time the projection's position moves."""
    records: list[tuple[int, int]] = []
    polls = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if mode == "listen":
            conn.execute(f"LISTEN {CHANNEL}")
            ready.set()
            while not stop.is_set():
                for note in conn.notifies(timeout=0.2):
                    records.append((now_ns(), int(note.payload)))
        else:
            # As view.position() reads it.
            query = (
                f"SELECT max(notification_id) FROM {tracking_table} "  # noqa: S608 (our name)
                "WHERE application_name = %s"
            )
            last = -1
            tick = now_ns()
            ready.set()
            while not stop.is_set():
                row = conn.execute(query, (application_name,), prepare=True).fetchone()
                seen = now_ns()
                polls += 1
                if row is not None and int(row[0]) != last:
                    last = int(row[0])
                    records.append((seen, last))
                tick += 1_000_000
                pause = tick - now_ns()
                if pause > 0:
                    time.sleep(pause / 1e9)
                else:
                    tick = now_ns()
    out.send((records, polls))
    out.close()


class Observer:
    def __init__(
        self, db: BenchDatabase, mode: str, tracking_table: str, application_name: str
    ) -> None:
        ctx = mp.get_context("spawn")
        self.ready = ctx.Event()
        self.stop_event = ctx.Event()
        self.receiver, sender = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=observe,
            args=(
                db.params.conninfo(),
                mode,
                tracking_table,
                application_name,
                self.ready,
                self.stop_event,
                sender,
            ),
            name="observer",
            daemon=True,
        )

    def start(self) -> None:
        self.proc.start()
        if not self.ready.wait(30):
            msg = "the observer did not start"
            raise RuntimeError(msg)

    @property
    def pid(self) -> int:
        return int(self.proc.pid or 0)

    def finish(self) -> tuple[list[tuple[int, int]], int]:
        self.stop_event.set()
        records, polls = self.receiver.recv()
        self.proc.join(10)
        return list(records), int(polls)


# -- the commands -----------------------------------------------------------------------


@dataclass
class ProjectState:
    id: UUID
    version: int
    stage: int = 0
    deliverable: UUID | None = None
    deliverable_state: str | None = None
    approved_in_stage: int = 0


@dataclass
class Committed:
    kind: str
    started_ns: int  # when the command began
    scheduled_ns: int  # when it was due to begin
    returned_ns: int  # when it returned: committed
    position: int
    version_step: int


@dataclass
class DriverResult:
    committed: list[Committed] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def next_command(app: InteragencyApplication, p: ProjectState) -> tuple[str, Any]:
    """The project's next command, as (kind, a call that runs it)."""
    if p.deliverable is None:
        if p.approved_in_stage >= APPROVALS_PER_GATE and p.stage < len(STAGES) - 1:
            return "gate", lambda: app.pass_gate(
                META, p.id, reason="Bench gate", decision_ref="WG-7", expected_version=p.version
            )
        did = uuid4()
        p.deliverable = did
        return "plan", lambda: app.plan_deliverable(
            META,
            p.id,
            stage=STAGES[p.stage],
            title="Bench deliverable",
            mechanism=MECHANISMS[p.version % len(MECHANISMS)],
            mandatory=True,
            due_date=date(2027, 6, 1),
            deliverable_id=did,
            expected_version=p.version,
        )
    did = p.deliverable
    if p.deliverable_state is None:
        return "submit", lambda: app.submit_deliverable(
            META, p.id, did, document_ref="doc-1", expected_version=p.version
        )
    return "approve", lambda: app.approve_deliverable(META, p.id, did, expected_version=p.version)


def after(p: ProjectState, kind: str) -> None:
    if kind == "plan":
        p.deliverable_state = None
    elif kind == "submit":
        p.deliverable_state = "submitted"
    elif kind == "approve":
        p.deliverable, p.deliverable_state = None, None
        p.approved_in_stage += 1
    elif kind == "gate":
        p.stage += 1
        p.approved_in_stage = 0


class Driver(threading.Thread):
    """Runs commands on its projects at its share of the rate, on a fixed schedule."""

    def __init__(
        self,
        app: InteragencyApplication,
        projects: list[ProjectState],
        first_ns: int,
        period_ns: int,
        count: int,
    ) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.projects = projects
        self.first_ns = first_ns
        self.period_ns = period_ns
        self.count = count
        self.result = DriverResult()
        self.fatal: str | None = None

    def run(self) -> None:
        try:
            for i in range(self.count):
                due = self.first_ns + i * self.period_ns
                pause = due - now_ns()
                if pause > 0:
                    time.sleep(pause / 1e9)
                p = self.projects[i % len(self.projects)]
                kind, call = next_command(self.app, p)
                started = now_ns()
                try:
                    res = call()
                except Exception as exc:  # counted and reported
                    self.result.errors[f"{kind}: {type(exc).__name__}"] += 1
                    p.deliverable, p.deliverable_state = None, None
                    continue
                returned = now_ns()
                self.result.committed.append(
                    Committed(kind, started, due, returned, res.position, res.version - p.version)
                )
                p.version = res.version
                after(p, kind)
        except BaseException as exc:  # a thread must report, not die silently
            self.fatal = f"{type(exc).__name__}: {exc}"


# -- the run ----------------------------------------------------------------------------


def seed_projects(app: InteragencyApplication, n: int) -> list[ProjectState]:
    out = []
    for i in range(n):
        res = app.initiate_project(
            META,
            title=f"Bench project {i}",
            goal="Measure the time from commit to projection",
            municipality=f"District {i % 7}",
            lead_agency="education",
            agencies=["education", "culture", "sport"][: 2 + i % 2],
        )
        out.append(ProjectState(res.aggregate_id, res.version))
    return out


def count_events(db: BenchDatabase, table: str) -> int:
    with psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


@dataclass
class Measured:
    latencies_ms: list[float]
    early: int  # projected before the command had even returned (latency counted as 0)
    missing: int  # never seen projected
    batches: int
    batch_events: list[int]


def match(committed: list[Committed], records: list[tuple[int, int]]) -> Measured:
    """For each command, the first observation at or past its position."""
    records.sort()
    positions = [p for _, p in records]
    # Positions only move forward; keep the running maximum to be safe.
    for i in range(1, len(positions)):
        positions[i] = max(positions[i], positions[i - 1])
    latencies = []
    early = missing = 0
    for c in committed:
        i = bisect.bisect_left(positions, c.position)
        if i == len(positions):
            missing += 1
            continue
        seen = records[i][0]
        if seen < c.returned_ns:
            early += 1
        latencies.append(max(seen - c.returned_ns, 0) / 1e6)
    # Events per move of the position (the first record is where the window started).
    steps = [b - a for a, b in itertools.pairwise(positions) if b > a]
    return Measured(sorted(latencies), early, missing, len(steps), steps)


def report(
    args: argparse.Namespace,
    committed: list[Committed],
    errors: Counter[str],
    elapsed: float,
    m: Measured,
    polls: int,
    used: dict[str, float],
) -> bool:
    n = len(committed)
    print(f"\ncommands: {n:,} acknowledged in {elapsed:.1f} s = {n / elapsed:,.1f} commands/s")
    if errors:
        print(f"  errors: {dict(errors)}")
    by_kind = Counter(c.kind for c in committed)
    print(f"  by kind: {dict(by_kind)}")
    late = sorted((c.started_ns - c.scheduled_ns) / 1e6 for c in committed)
    took = sorted((c.returned_ns - c.started_ns) / 1e6 for c in committed)
    print(
        f"  command latency (start to commit) p50 / p99 / max: {percentile(took, 50):.1f} / "
        f"{percentile(took, 99):.1f} / {took[-1] if took else 0:.1f} ms"
    )
    print(
        f"  start behind schedule p50 / p99 / max: {percentile(late, 50):.1f} / "
        f"{percentile(late, 99):.1f} / {late[-1] if late else 0:.1f} ms "
        f"({sum(1 for x in late if x > 5):,} commands started more than 5 ms late)"
    )
    lat = m.latencies_ms
    p50, p90, p99 = (percentile(lat, q) for q in (50, 90, 99))
    print(
        f"\ncommit to projection ('projects' position, observed by {args.observe}), "
        f"{len(lat):,} commands:"
    )
    print(
        f"  p50 {p50:.1f} ms   p90 {p90:.1f} ms   p99 {p99:.1f} ms   "
        f"max {lat[-1] if lat else 0:.1f} ms   mean {sum(lat) / max(len(lat), 1):.1f} ms"
    )
    if m.early:
        print(f"  {m.early:,} commands were projected before they returned (counted as 0 ms)")
    if m.batch_events:
        be = sorted(m.batch_events)
        print(
            f"  the position moved {m.batches:,} times: {percentile(be, 50):,} events per step "
            f"at the median, {be[-1]:,} at most"
        )
    if args.observe == "poll":
        print(f"  {polls:,} polls of the tracking row ({polls / elapsed:,.0f}/s)")
    if used:
        print(f"\nCPU in the measured window ({elapsed:.1f} s; 2 cores = {2 * elapsed:.1f} s):")
        for name in ("bench", "worker", "observer", "postgres", "other processes"):
            if name in used:
                per = used[name] / n * 1000 if n else 0.0
                label = {"bench": "bench (commands)"}.get(name, name)
                print(f"  {label:<18}{used[name]:7.2f} s  {per:6.2f} ms/command")
    ok = p99 <= TARGET_P99_MS
    print(
        f"\np99 {p99:.1f} ms {'<=' if ok else '>'} {TARGET_P99_MS:.0f} ms at "
        f"{n / elapsed:,.0f} commands/s: {'meets' if ok else 'misses'} the target"
    )
    return ok


@dataclass
class Window:
    """What the measured window produced."""

    committed: list[Committed]
    errors: Counter[str]
    elapsed: float
    records: list[tuple[int, int]]
    polls: int
    used: dict[str, float]
    caught_up: bool
    head: int
    appended: int


def measure(
    args: argparse.Namespace, db: BenchDatabase, services: Services, worker: ServiceProcess
) -> Window | None:
    """Seeds, then runs the commands at the rate while the observer watches."""
    app = services.app
    projects = seed_projects(app, args.projects)
    if not services.projects.wait_for(app.head_position(), 60):
        print(f"FAILED: the worker did not project the seeded projects\n{worker.log_tail()}")
        return None
    events_table = app.pg_recorder.events_table_name
    events_before = count_events(db, events_table)
    view = services.projects
    observer = Observer(db, args.observe, view.tracking_table_name, view.application_name)
    observer.start()
    total = int(args.rate * args.seconds)
    period = int(args.threads * 1e9 / args.rate)
    first = now_ns() + 200_000_000
    drivers = [
        Driver(
            app,
            projects[k :: args.threads],
            first + k * period // args.threads,
            period,
            total // args.threads + (1 if k < total % args.threads else 0),
        )
        for k in range(args.threads)
    ]
    print(
        f"seeded {len(projects)} projects; {args.threads} threads run {total:,} commands at "
        f"{args.rate:g}/s for {args.seconds:g} s; the worker logs at {args.log_level}"
    )
    pids = {"worker": worker.pid, "observer": observer.pid}
    before = cpu_seconds(pids, backend_pids(db.params))
    for d in drivers:
        d.start()
    for d in drivers:
        d.join(args.seconds + 120)
    ended = now_ns()
    after_cpu = cpu_seconds(pids, backend_pids(db.params))
    fatal = [d.fatal for d in drivers if d.fatal] + [
        "still running" for d in drivers if d.is_alive()
    ]
    if fatal:
        print(f"a command thread failed: {fatal[:1]}")
        observer.finish()
        return None
    errors: Counter[str] = Counter()
    for d in drivers:
        errors.update(d.result.errors)
    head = app.head_position()
    caught_up = services.projects.wait_for(head, 60)
    records, polls = observer.finish()
    return Window(
        committed=[c for d in drivers for c in d.result.committed],
        errors=errors,
        elapsed=(ended - first) / 1e9,
        records=records,
        polls=polls,
        used=cpu_used(before, after_cpu),
        caught_up=caught_up,
        head=head,
        appended=count_events(db, events_table) - events_before,
    )


def check(w: Window, measured: Measured) -> bool:
    print("\nchecks")
    checks = [
        (w.caught_up, f"the projection reached the head {w.head:,}"),
        (
            w.appended == len(w.committed),
            f"acknowledged commands {len(w.committed):,} == events appended {w.appended:,}",
        ),
        (
            all(c.version_step == 1 for c in w.committed),
            "each acknowledged command stepped its project's version by one",
        ),
        (not w.errors, "no command failed"),
        (measured.missing == 0, f"every command seen projected ({measured.missing} not)"),
    ]
    for passed, text in checks:
        print(f"  [{'ok' if passed else 'FAILED'}] {text}")
    return all(p for p, _ in checks)


def worker_cmd(args: argparse.Namespace) -> list[str]:
    """``interagency worker``, or (``--worker-projections``) the bench's own worker process
    that runs ``Services.worker()`` with only the projections named."""
    if not args.worker_projections:
        return interagency_cmd("worker")
    return [sys.executable, str(Path(__file__).resolve()), "--run-worker", args.worker_projections]


def worker_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    if args.worker_synchronous_commit is None:
        return env
    # libpq reads PGOPTIONS: every connection of the worker process gets the setting.
    return {**env, "PGOPTIONS": f"-c synchronous_commit={args.worker_synchronous_commit}"}


def run_worker(names: str) -> None:
    """The worker process of ``--worker-projections``: as ``interagency worker``, with a
    subset of the projectors; stops on SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    with Services(settings, settings.external_connection()) as services:
        w = services.worker()
        w.projectors = [p for p in w.projectors if p.view.name in wanted]

        def stop(_sig: int, _frame: object) -> None:
            w.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        w.run()


def run(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    with (
        throwaway_database("latency") as db,
        tempfile.TemporaryDirectory(prefix="interagency-bench-") as tmp,
    ):
        work = Path(tmp)
        print(f"database: {db.describe()} ({server_version(db.params)})")
        print(
            f"worker: {args.worker_projections or 'all projections'}, synchronous_commit "
            f"{args.worker_synchronous_commit or 'as the server has it'}"
        )
        env = service_env(db.params, args.log_level)
        run_cli(["migrate"], env, work)
        with Services(db.settings(), db.params) as services:
            if args.observe == "listen":
                view = services.projects
                install_trigger(db, view.tracking_table_name, view.application_name)
            worker = ServiceProcess("worker", worker_cmd(args), worker_env(args, env), work)
            with worker:
                window = measure(args, db, services, worker)
            if worker.returncode not in (0, -15):
                print(f"worker exited with {worker.returncode}:\n{worker.log_tail()}")
        if window is None:
            return 2
        measured = match(window.committed, window.records)
        ok = report(
            args,
            window.committed,
            window.errors,
            window.elapsed,
            measured,
            window.polls,
            window.used,
        )
        consistent = check(window, measured)
    print("database dropped")
    if not consistent:
        return 1
    return 0 if ok or not args.strict else 4


def main() -> None:
    configure_logging("console", "warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second in all")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the measurement")
    parser.add_argument("--threads", type=int, default=4, help="command threads")
    parser.add_argument("--projects", type=int, default=64, help="projects to seed")
    parser.add_argument(
        "--observe",
        choices=("listen", "poll"),
        default="listen",
        help="how the projection's position is watched (see the module's docstring)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        help="the worker's log level (info, the default, as in production)",
    )
    parser.add_argument(
        "--worker-projections",
        default="",
        help="run a worker with only these projections (comma-separated; default: "
        "'interagency worker', all of them): shows what the other projections cost",
    )
    parser.add_argument(
        "--worker-synchronous-commit",
        choices=("on", "off"),
        default=None,
        help="set synchronous_commit for the worker's connections only (PGOPTIONS)",
    )
    parser.add_argument("--run-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--strict", action="store_true", help="exit 4 if p99 misses the 50 ms target"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="interrupt the whole run after this many seconds (it must stop by itself)",
    )
    args = parser.parse_args()
    if args.run_worker is not None:
        run_worker(args.run_worker)
        return
    if args.rate <= 0 or args.seconds <= 0 or not 1 <= args.threads <= args.projects:
        parser.error("need --rate > 0, --seconds > 0 and 1 <= --threads <= --projects")
    start_watchdog(args.timeout)
    try:
        code = run(args)
    except KeyboardInterrupt:
        print("interrupted: the services were stopped and the database dropped")
        code = 3
    sys.exit(code)


if __name__ == "__main__":
    main()
