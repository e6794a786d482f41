"""Commands per second through the HTTP API, with concurrent keep-alive clients.

Starts the real service processes on a throw-away database::

    interagency migrate            (tables, once)
    interagency api --port <free>  (uvicorn, one process)
    interagency worker             (the projection worker, its own process)

then registers one official per municipality of the bench (and an auditor for the bench's
own reads) with a bearer token each, seeds ``--projects`` projects, and runs ``--clients``
threads for ``--seconds``. Each
client works on its own projects (so there are no write conflicts, and every write sends
``If-Match``): plan a deliverable, submit it, approve it, pass the stage gate now and then;
a share of requests are projection reads with ``min_position`` (read your own writes).

At the end it checks that every acknowledged write is one event in the store, that the
projection reached the head of the log (waiting on ``/ready``, never sleeping) and that the
projection's counts equal the writes the clients saw acknowledged.

    python bench/http_commands.py [--clients 8] [--seconds 10] [--projects 48]

Uses ``POSTGRES_*`` (or ``DATABASE_URL``) if set, else an embedded server in a temp folder.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import (
    BenchDatabase,
    ServiceProcess,
    backend_pids,
    cpu_seconds,
    cpu_used,
    free_port,
    interagency_cmd,
    machine,
    percentile,
    run_cli,
    server_version,
    service_env,
    start_watchdog,
    throwaway_database,
)

from domain.values import EventMeta, Role
from interagency.cli_principals import add_with_token
from interagency.logging import configure_logging
from interagency.services import Services

MECHANISMS = ("regulation", "working_groups", "monitoring", "staff_development", "incentives")
STAGES = (
    "social_ties_program",
    "interaction_mechanisms",
    "regulatory_base",
    "interagency_projects",
)
# Pass the active stage's gate after this many approved deliverables (never the last stage,
# so projects stay open for the whole run).
APPROVALS_PER_GATE = 4
WRITE_KINDS = ("plan", "submit", "approve", "gate")
# The bench's projects are spread over these municipalities. An official writes only in
# their own municipality, so each has its own official (and token).
MUNICIPALITIES = tuple(f"District {i}" for i in range(7))


@dataclass
class ProjectState:
    """What one client knows of a project it owns."""

    id: str
    version: int
    auth: dict[str, str]  # the Authorization header of the official of its municipality
    stage: int = 0
    deliverable: str | None = None  # the one in flight
    deliverable_state: str | None = None  # "planned" or "submitted"
    approved_in_stage: int = 0


@dataclass
class ClientResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    acked_events: int = 0
    unanswered_writes: int = 0
    ended_at: float = 0.0


@dataclass(frozen=True)
class BenchTokens:
    """Bearer tokens minted for the bench, as ``Authorization`` headers."""

    officials: dict[str, dict[str, str]]  # by municipality: an education official of it
    auditor: dict[str, str]  # reads every municipality (the bench's own waits)


def mint_tokens(db: BenchDatabase, work: Path) -> BenchTokens:
    """Registers the bench's principals in its database, through the application.

    As the command line does (``interagency principals add``): in-process, as the ``system``
    role, before the API starts. Each principal's events are in the store from then on.
    """
    meta = EventMeta(actor_id="bench-setup", actor_role=Role.SYSTEM.value)
    settings = db.settings(data_dir=work)
    today = settings.today()

    def bearer(token: str | None) -> dict[str, str]:
        assert token is not None
        return {"Authorization": f"Bearer {token}"}

    with Services(settings, db.params) as services:
        officials = {
            m: bearer(
                add_with_token(
                    services.app,
                    meta,
                    name=f"bench official of {m}",
                    role=Role.OFFICIAL.value,
                    agency="education",
                    municipality=m,
                    label="bench",
                    expires_on=None,
                    today=today,
                ).token
            )
            for m in MUNICIPALITIES
        }
        auditor = add_with_token(
            services.app,
            meta,
            name="bench auditor",
            role=Role.AUDITOR.value,
            agency=None,
            municipality=None,
            label="bench",
            expires_on=None,
            today=today,
        )
    return BenchTokens(officials=officials, auditor=bearer(auditor.token))


def seed_projects(client: httpx.Client, n: int, tokens: BenchTokens) -> list[ProjectState]:
    out = []
    for i in range(n):
        municipality = MUNICIPALITIES[i % len(MUNICIPALITIES)]
        auth = tokens.officials[municipality]
        r = client.post(
            "/api/v1/projects",
            json={
                "title": f"Bench project {i}",
                "goal": "Measure the command path under concurrent clients",
                "municipality": municipality,
                "lead_agency": "education",
                "agencies": ["education", "culture", "sport"][: 2 + i % 2],
            },
            headers=auth,
        )
        r.raise_for_status()
        body = r.json()
        out.append(ProjectState(id=body["id"], version=body["version"], auth=auth))
    return out


class Client(threading.Thread):
    """Officials working on their own projects until the deadline.

    Each request carries the token of the official of the project's municipality; a project
    list is read as the official of one of the client's projects (narrowed to theirs).
    """

    def __init__(
        self,
        n: int,
        base_url: str,
        projects: list[ProjectState],
        deadline: float,
        read_share: float,
        start_gate: threading.Barrier,
    ) -> None:
        super().__init__(name=f"client-{n}", daemon=True)
        self.n = n
        self.base_url = base_url
        self.projects = projects
        self.deadline = deadline
        self.read_share = read_share
        self.start_gate = start_gate
        self.rng = random.Random(n)
        self.result = ClientResult()
        self.last_position = 0
        self.fatal: BaseException | None = None

    def run(self) -> None:
        try:
            # trust_env=False: never route 127.0.0.1 through a proxy from the environment.
            with httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False) as http:
                self.start_gate.wait()
                i = 0
                while time.perf_counter() < self.deadline:
                    if self.last_position and self.rng.random() < self.read_share:
                        self.read(http)
                    else:
                        self.write(http, self.projects[i % len(self.projects)])
                        i += 1
        except BaseException as exc:  # reported by the main thread
            self.fatal = exc
        finally:
            self.result.ended_at = time.perf_counter()

    def request(
        self, http: httpx.Client, kind: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = http.request(method, url, **kw)
        except httpx.TransportError as exc:
            self.result.transport_errors[(kind, type(exc).__name__)] += 1
            if kind in WRITE_KINDS:
                self.result.unanswered_writes += 1
            return None
        self.result.latencies[kind].append(time.perf_counter() - t0)
        self.result.statuses[(kind, r.status_code)] += 1
        return r

    def read(self, http: httpx.Client) -> None:
        params = {"min_position": self.last_position}
        p = self.rng.choice(self.projects)
        if self.rng.random() < 0.25:
            self.request(
                http,
                "list",
                "GET",
                "/api/v1/projects",
                params={**params, "limit": 20},
                headers=p.auth,
            )
        else:
            self.request(
                http,
                "progress",
                "GET",
                f"/api/v1/projects/{p.id}/progress",
                params=params,
                headers=p.auth,
            )

    def write(self, http: httpx.Client, p: ProjectState) -> None:
        base = f"/api/v1/projects/{p.id}"
        headers = {**p.auth, "If-Match": f'"{p.version}"'}
        if (
            p.deliverable is None
            and p.approved_in_stage >= APPROVALS_PER_GATE
            and p.stage < len(STAGES) - 1
        ):
            kind = "gate"
            r = self.request(
                http,
                kind,
                "POST",
                f"{base}/gate/pass",
                headers=headers,
                json={"reason": "All mandatory deliverables approved", "decision_ref": "WG-1"},
            )
        elif p.deliverable is None:
            kind = "plan"
            r = self.request(
                http,
                kind,
                "POST",
                f"{base}/deliverables",
                headers=headers,
                json={
                    "stage": STAGES[p.stage],
                    "title": f"Deliverable {p.version}",
                    "mechanism": self.rng.choice(MECHANISMS),
                    "mandatory": self.rng.random() < 0.7,
                },
            )
        elif p.deliverable_state == "planned":
            kind = "submit"
            r = self.request(
                http,
                kind,
                "POST",
                f"{base}/deliverables/{p.deliverable}/submit",
                headers=headers,
                json={"document_ref": f"doc-{p.version}"},
            )
        else:
            kind = "approve"
            r = self.request(
                http,
                kind,
                "POST",
                f"{base}/deliverables/{p.deliverable}/approve",
                headers=headers,
                json={"reason": "Meets the stage requirements"},
            )
        if r is None or not r.is_success:
            return
        body = r.json()
        self.result.acked[kind] += 1
        self.result.acked_events += body["version"] - p.version
        p.version = body["version"]
        self.last_position = max(self.last_position, body["position"])
        if kind == "plan":
            p.deliverable, p.deliverable_state = body["deliverable_id"], "planned"
        elif kind == "submit":
            p.deliverable_state = "submitted"
        elif kind == "approve":
            p.deliverable, p.deliverable_state = None, None
            p.approved_in_stage += 1
        else:
            p.stage += 1
            p.approved_in_stage = 0


class DatabaseSampler(threading.Thread):
    """Samples pg_stat_activity: backends waiting on a lock, idle in a transaction."""

    def __init__(self, conninfo: str, dbname: str, interval: float = 0.1) -> None:
        super().__init__(name="pg-sampler", daemon=True)
        self.conninfo = conninfo
        self.dbname = dbname
        self.interval = interval
        self.stopping = threading.Event()
        self.samples: list[tuple[int, int, int]] = []

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                while not self.stopping.wait(self.interval):
                    row = conn.execute(
                        """
                        SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),
                               count(*) FILTER (WHERE state = 'idle in transaction'),
                               count(*) FILTER (WHERE state = 'active')
                        FROM pg_stat_activity
                        WHERE datname = %s AND pid <> pg_backend_pid()
                        """,
                        (self.dbname,),
                    ).fetchone()
                    if row is not None:
                        self.samples.append((int(row[0]), int(row[1]), int(row[2])))
        except psycopg.Error:
            # The database went away (an interrupted run): the samples so far stand.
            return

    def means(self) -> tuple[float, float, float]:
        if not self.samples:
            return 0.0, 0.0, 0.0
        n = len(self.samples)
        return (
            sum(s[0] for s in self.samples) / n,
            sum(s[1] for s in self.samples) / n,
            sum(s[2] for s in self.samples) / n,
        )


def wait_healthy(base_url: str, services: list[ServiceProcess], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            for s in services:
                if not s.alive():
                    msg = f"{s.name} exited during start-up:\n{s.log_tail()}"
                    raise RuntimeError(msg)
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            # Waiting for a process to listen on its port: there is nothing to wait on.
            time.sleep(0.1)
    msg = f"the API did not answer /health within {timeout:.0f}s:\n{services[0].log_tail()}"
    raise RuntimeError(msg)


def wait_projected(http: httpx.Client, attempts: int = 24) -> dict[str, Any]:
    """Waits until /ready shows no projection lag, blocking on a ``min_position`` read."""
    ready: dict[str, Any] = {}
    for _ in range(attempts):
        ready = http.get("/ready").json()
        if all(p["lag_events"] == 0 for p in ready["projections"]):
            return ready
        # Blocks server-side (up to INTERAGENCY_READ_WAIT_SECONDS) on the tracking position.
        http.get("/api/v1/projects", params={"limit": 1, "min_position": ready["head_position"]})
    return ready


def count_events(db: BenchDatabase) -> int:
    with psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM interagency_events").fetchone()
    return 0 if row is None else int(row[0])


def projection_totals(db: BenchDatabase) -> tuple[int, int, int]:
    with psycopg.connect(db.params.conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(deliverables_total), 0), coalesce(sum(deliverables_approved), 0),"
            " coalesce(sum(stages_completed), 0) FROM project_summary"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def report(
    results: list[ClientResult],
    elapsed: float,
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    sampler: DatabaseSampler,
) -> None:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[tuple[str, int]] = Counter()
    transport: Counter[tuple[str, str]] = Counter()
    acked: Counter[str] = Counter()
    for r in results:
        for k, v in r.latencies.items():
            latencies[k].extend(v)
        statuses.update(r.statuses)
        transport.update(r.transport_errors)
        acked.update(r.acked)
    writes = sum(acked.values())
    reads_ok = sum(n for (k, s), n in statuses.items() if k in ("progress", "list") and s == 200)
    requests = sum(len(v) for v in latencies.values())
    print(f"\nmeasured window: {elapsed:.2f} s")
    print(f"  commands/s (acknowledged writes): {writes / elapsed:8.1f}   ({writes} writes)")
    print(f"  reads/s (200 answers):            {reads_ok / elapsed:8.1f}   ({reads_ok} reads)")
    print(f"  requests/s (all answers):         {requests / elapsed:8.1f}")
    print("\nlatency per kind (ms)")
    print(f"  {'kind':<9}{'count':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for kind in (*WRITE_KINDS, "progress", "list"):
        v = sorted(latencies.get(kind, []))
        if not v:
            continue
        ms = [percentile(v, p) * 1000 for p in (50, 95, 99, 100)]
        print(f"  {kind:<9}{len(v):>7}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}{ms[3]:>9.1f}")
    writes_all = sorted(x for k in WRITE_KINDS for x in latencies.get(k, []))
    if writes_all:
        ms = [percentile(writes_all, p) * 1000 for p in (50, 95, 99, 100)]
        print(
            f"  {'writes':<9}{len(writes_all):>7}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}"
            f"{ms[3]:>9.1f}"
        )
    errors = {k: n for k, n in statuses.items() if k[1] >= 400}
    print("\nerrors by status:", "none" if not errors and not transport else "")
    for (kind, status), n in sorted(errors.items()):
        print(f"  {kind} {status}: {n}")
    for (kind, name), n in sorted(transport.items()):
        print(f"  {kind} {name}: {n}")
    if cpu_before and cpu_after:
        print(
            f"\nCPU used during the window (of {elapsed * (os.cpu_count() or 1):.1f} CPU-seconds)"
        )
        for name, used in cpu_used(cpu_before, cpu_after).items():
            per = used / requests * 1000 if requests else 0.0
            label = {"bench": "bench clients"}.get(name, name)
            print(f"  {label:<16}{used:7.2f} s  {per:6.2f} ms/request")
    lock_wait, idle_tx, active = sampler.means()
    print(
        f"\nPostgreSQL backends of this database, mean over {len(sampler.samples)} samples: "
        f"{lock_wait:.2f} waiting on a lock, {idle_tx:.2f} idle in transaction, "
        f"{active:.2f} active"
    )


def run(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    with (
        throwaway_database("http") as db,
        tempfile.TemporaryDirectory(prefix="interagency-bench-") as tmp,
    ):
        work = Path(tmp)
        print(f"database: {db.describe()} ({server_version(db.params)})")
        env = service_env(db.params, args.log_level)
        run_cli(["migrate"], env, work)
        tokens = mint_tokens(db, work)
        events_at_start = count_events(db)  # the principals' events
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        api = ServiceProcess(
            "api", interagency_cmd("api", "--host", "127.0.0.1", "--port", str(port)), env, work
        )
        worker = ServiceProcess("worker", interagency_cmd("worker"), env, work)
        with api, worker:
            wait_healthy(base_url, [api, worker])
            # The bench's own reads (waiting for the projection) are an auditor's.
            with httpx.Client(
                base_url=base_url, headers=tokens.auditor, timeout=30.0, trust_env=False
            ) as http:
                projects = seed_projects(http, args.projects, tokens)
                wait_projected(http)
                events_before = count_events(db)
                print(
                    f"seeded {len(projects)} projects; {args.clients} clients for "
                    f"{args.seconds:g} s, {args.read_share:.0%} reads, log level {args.log_level}"
                )
                gate = threading.Barrier(args.clients + 1)
                clients = [
                    Client(
                        n,
                        base_url,
                        projects[n :: args.clients],
                        deadline=float("inf"),
                        read_share=args.read_share,
                        start_gate=gate,
                    )
                    for n in range(args.clients)
                ]
                for c in clients:
                    c.start()
                sampler = DatabaseSampler(db.params.conninfo(), db.params.dbname)
                pids = {"api": api.pid, "worker": worker.pid}
                sampler.start()
                cpu_before = cpu_seconds(pids, backend_pids(db.params))
                start = time.perf_counter()
                for c in clients:
                    c.deadline = start + args.seconds
                gate.wait()
                for c in clients:
                    c.join(args.seconds + 60)
                elapsed = max(c.result.ended_at for c in clients) - start
                cpu_after = cpu_seconds(pids, backend_pids(db.params))
                sampler.stopping.set()
                sampler.join(5)
                fatal = [c.fatal for c in clients if c.fatal is not None]
                if any(c.is_alive() for c in clients) or fatal:
                    print(f"a client failed: {fatal[:1]}")
                    return 2
                results = [c.result for c in clients]
                report(results, elapsed, cpu_before, cpu_after, sampler)
                ok = check_consistency(
                    http, db, results, events_at_start, events_before, len(projects)
                )
        for s in (api, worker):
            print(f"{s.name} stopped by SIGTERM with exit code {s.returncode}")
            if s.returncode not in (0, -15):
                print(s.log_tail())
                ok = False
    print("database dropped")
    return 0 if ok else 1


def check_consistency(
    http: httpx.Client,
    db: BenchDatabase,
    results: list[ClientResult],
    events_at_start: int,
    events_before: int,
    seeded: int,
) -> bool:
    acked: Counter[str] = Counter()
    for r in results:
        acked.update(r.acked)
    acked_writes = sum(acked.values())
    acked_events = sum(r.acked_events for r in results)
    unanswered = sum(r.unanswered_writes for r in results)
    appended = count_events(db) - events_before
    print("\nconsistency")
    passed: list[bool] = []

    def check(ok: bool, text: str) -> None:
        passed.append(ok)
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")

    seeding = events_before - events_at_start
    check(seeding == seeded, f"seeding: {seeding} events == {seeded} projects")
    if unanswered:
        check(
            acked_writes <= appended <= acked_writes + unanswered,
            f"{acked_writes} acknowledged writes <= {appended} events appended <= "
            f"{acked_writes + unanswered} ({unanswered} writes had no answer)",
        )
    else:
        check(
            acked_writes == appended,
            f"acknowledged writes {acked_writes} == events appended {appended}",
        )
    check(
        acked_events == acked_writes,
        f"version steps of the acknowledged writes {acked_events} == {acked_writes} writes",
    )
    ready = wait_projected(http)
    lags = {p["name"]: p["lag_events"] for p in ready["projections"]}
    check(
        not any(lags.values()),
        f"projections caught up to head {ready['head_position']} (lag {lags})",
    )
    planned, approved, gates = projection_totals(db)
    check(
        (planned, approved, gates) == (acked["plan"], acked["approve"], acked["gate"]),
        f"projection rows: {planned} deliverables, {approved} approved, {gates} gates passed "
        f"== acknowledged {acked['plan']} plans, {acked['approve']} approvals, "
        f"{acked['gate']} gates",
    )
    return all(passed)


def main() -> None:
    configure_logging("console", "warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measurement")
    parser.add_argument("--projects", type=int, default=48, help="projects to seed")
    parser.add_argument(
        "--read-share", type=float, default=0.25, help="share of requests that are reads"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        help="the services' log level (info, the default, logs every command)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="interrupt the whole run after this many seconds (it must stop by itself)",
    )
    args = parser.parse_args()
    if args.clients < 1 or args.projects < args.clients or args.seconds <= 0:
        parser.error("need --clients >= 1, --projects >= --clients and --seconds > 0")
    start_watchdog(args.timeout)
    try:
        code = run(args)
    except KeyboardInterrupt:
        print("interrupted: the services were stopped and the database dropped")
        code = 3
    sys.exit(code)


if __name__ == "__main__":
    main()
