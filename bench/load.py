"""Load: officials, analysts and auditors at once, then proof that nothing was lost or doubled.

Starts the real service processes on a throw-away database (``interagency migrate``,
``--api-processes`` times ``interagency api``, ``interagency worker``), registers principals
with bearer tokens and seeds ``--projects`` projects, then runs for ``--seconds``:

- **officials** (``--officials`` threads): each command reads the project (``GET``, its
  version is the ``If-Match``; ``--no-if-match-share`` of the commands go without one, so
  their collisions meet at the save instead), decides from its state (plan a deliverable, submit it,
  approve or reject it, pass the stage gate) and sends it with an ``Idempotency-Key`` and an
  ``X-Request-ID`` of its own. Officials share the projects, and ``--hot-share`` of their
  commands go to the first ``--hot`` projects, so writers collide on purpose: the loser gets
  409 or 412, which counts as a conflict, not an error. A command that gets no answer, or a
  503, is sent again with the same key and request id (up to five times), as a careful
  client would; ``--resend-share`` of the acknowledged commands are sent once more, as by a
  client whose answer was lost. Now and then an official reads the project's progress with
  ``min_position`` (read your own writes).
- **analysts** (``--analysts``): the analytics tables (JSON pages) and filtered project lists.
- **auditors** (``--auditors``): a project's history, the project as it was a moment ago
  (``as_of``), the audit log filtered by aggregate or by request, one aggregate's replay.

It prints throughput, p50/p95/p99/max latency per role and kind, and every status that is not
a success or an expected conflict. Then it checks, on the event store itself:

1. every acknowledged command's events are in the store exactly once: the events carrying
   its request id on its aggregate are exactly the versions after its ``If-Match`` up to the
   version it answered, and its idempotency record was saved once; a command sent again got
   its first answer back, marked ``Idempotent-Replayed``;
2. a refused command (4xx) left no event at all;
3. no event appeared that no request of the bench asked for;
4. once the worker reached the head, each projection equals a rebuild from zero (blue/green,
   compared table by table).

    python bench/load.py [--seconds 30] [--officials 12] [--analysts 3] [--auditors 2]

Uses ``POSTGRES_*`` (or ``DATABASE_URL``) if set, else an embedded server in a temp folder.
Exits 0 only if there was no server error and every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
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
from http_commands import DatabaseSampler, wait_healthy, wait_projected

from domain.values import EventMeta, Role
from interagency.cli_principals import add_with_token
from interagency.idempotency import IdempotencyRecord
from interagency.logging import configure_logging
from interagency.services import Services

MUNICIPALITIES = ("District 1", "District 2", "District 3")
AGENCIES = ("education", "culture", "sport")
MECHANISMS = ("regulation", "working_groups", "monitoring", "staff_development", "incentives")
STAGES = (
    "social_ties_program",
    "interaction_mechanisms",
    "regulatory_base",
    "interagency_projects",
)
# Pass the active stage's gate once this many of its deliverables are approved (never the
# last stage's, so every project stays open for the whole run).
APPROVALS_PER_GATE = 3
ANALYTICS_TABLES = (
    "projects-by-stage",
    "stage-durations",
    "stage-durations/projects",
    "deliverables-by-mechanism",
    "working-groups",
    "assignment-execution",
    "assignments-outside-tolerance",
    "network-programs",
    "coverage",
)
# A write answered with one of these was refused on purpose (another write came first).
CONFLICTS = (409, 412)
ATTEMPTS = 5


def bearer(token: str | None) -> dict[str, str]:
    assert token is not None
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Tokens:
    officials: dict[tuple[str, str], dict[str, str]]  # (municipality, agency) -> header
    analyst: dict[str, str]
    auditor: dict[str, str]


def mint_tokens(db: BenchDatabase, work: Path) -> Tokens:
    """Principals in the bench database, as ``interagency principals add`` makes them."""
    meta = EventMeta(
        actor_id="bench-setup", actor_role=Role.SYSTEM.value, correlation_id="bench-setup"
    )
    settings = db.settings(data_dir=work)
    today = settings.today()
    with Services(settings, db.params) as services:

        def mint(name: str, role: Role, agency: str | None, municipality: str | None) -> str:
            issued = add_with_token(
                services.app,
                meta,
                name=name,
                role=role.value,
                agency=agency,
                municipality=municipality,
                label="load",
                expires_on=None,
                today=today,
            )
            token: str | None = issued.token
            assert token is not None
            return token

        officials = {
            (m, a): bearer(mint(f"{a} official of {m}", Role.OFFICIAL, a, m))
            for m in MUNICIPALITIES
            for a in AGENCIES
        }
        analyst = bearer(mint("load analyst", Role.ANALYST, None, None))
        auditor = bearer(mint("load auditor", Role.AUDITOR, None, None))
    return Tokens(officials=officials, analyst=analyst, auditor=auditor)


@dataclass
class Command:
    """One logical command: its request id and key stay the same across retries."""

    kind: str
    aggregate_id: UUID | None
    if_match: int | None  # 0 for a creation; None: sent without If-Match
    request_id: str
    key: str
    status: int | None = None  # the last answer's status (None: never answered)
    version: int | None = None
    position: int | None = None
    replayed: bool = False
    problem: str | None = None  # a refusal's problem type
    resent: int = 0  # times sent again after an answer, as a client that lost it would
    resend_mismatch: str | None = None


@dataclass
class Tally:
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    transport: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    commands: list[Command] = field(default_factory=list)
    retries: int = 0


@dataclass(frozen=True)
class SeededProject:
    id: UUID
    municipality: str
    created_at: datetime


class Actor(threading.Thread):
    """A thread with one keep-alive connection; runs :meth:`step` until the deadline."""

    role = "?"

    def __init__(self, n: int, base_url: str, gate: threading.Barrier, seed: int) -> None:
        super().__init__(name=f"{self.role}-{n}", daemon=True)
        self.base_url = base_url
        self.gate = gate
        self.rng = random.Random(seed)
        self.deadline = float("inf")
        self.tally = Tally()
        self.fatal: BaseException | None = None
        self.ended_at = 0.0

    def run(self) -> None:
        try:
            # trust_env=False: never route 127.0.0.1 through a proxy from the environment.
            with httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False) as http:
                self.gate.wait()
                while time.perf_counter() < self.deadline:
                    self.step(http)
        except BaseException as exc:  # reported by the main thread
            self.fatal = exc
        finally:
            self.ended_at = time.perf_counter()

    def step(self, http: httpx.Client) -> None:
        raise NotImplementedError

    def get(self, http: httpx.Client, kind: str, url: str, **kw: Any) -> httpx.Response | None:
        return self.request(http, kind, "GET", url, **kw)

    def request(
        self, http: httpx.Client, kind: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        """One request, timed and counted; None if it got no answer."""
        t0 = time.perf_counter()
        try:
            r = http.request(method, url, **kw)
        except httpx.TransportError as exc:
            self.tally.transport[(self.role, kind, type(exc).__name__)] += 1
            return None
        self.tally.latencies[(self.role, kind)].append(time.perf_counter() - t0)
        self.tally.statuses[(self.role, kind, r.status_code)] += 1
        return r


class Official(Actor):
    role = "official"

    def __init__(
        self,
        n: int,
        base_url: str,
        gate: threading.Barrier,
        projects: list[SeededProject],
        tokens: Tokens,
        hot: int,
        hot_share: float,
        resend_share: float,
        no_if_match_share: float,
    ) -> None:
        super().__init__(n, base_url, gate, seed=1000 + n)
        self.resend_share = resend_share
        self.no_if_match_share = no_if_match_share
        self.n = n
        self.projects = projects
        self.tokens = tokens
        self.hot = hot
        self.hot_share = hot_share
        self.last_position = 0
        self.serial = 0

    def pick(self) -> SeededProject:
        if self.rng.random() < self.hot_share:
            return self.rng.choice(self.projects[: self.hot])
        return self.rng.choice(self.projects)

    def step(self, http: httpx.Client) -> None:
        p = self.pick()
        # Any of the three agencies of the project's municipality: they all take part.
        auth = self.tokens.officials[(p.municipality, self.rng.choice(AGENCIES))]
        if self.last_position and self.rng.random() < 0.15:
            self.get(
                http,
                "progress",
                f"/api/v1/projects/{p.id}/progress",
                params={"min_position": self.last_position},
                headers=auth,
            )
            return
        r = self.get(http, "project", f"/api/v1/projects/{p.id}", headers=auth)
        if r is None or r.status_code != 200:
            return
        state = r.json()
        if state["active_stage"] is None:
            # Finished: a gate pass sent without If-Match can land on the last stage after
            # another official passed the one it was meant for. Nothing left to do here.
            return
        kind, path, body = self.decide(p.id, state)
        self.send(http, kind, path, body, auth, p.id, int(state["version"]))

    def decide(self, project_id: UUID, state: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        base = f"/api/v1/projects/{project_id}"
        stage_code = state["active_stage"]
        stage = next(s for s in state["stages"] if s["code"] == stage_code)
        by_state: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in stage["deliverables"]:
            by_state[d["state"]].append(d)
        if by_state["submitted"]:
            d = self.rng.choice(by_state["submitted"])
            if self.rng.random() < 0.15:
                return (
                    "reject",
                    f"{base}/deliverables/{d['id']}/reject",
                    {"reason": "The document lacks the agencies' signatures"},
                )
            return (
                "approve",
                f"{base}/deliverables/{d['id']}/approve",
                {"reason": "Meets the stage requirements"},
            )
        open_ones = by_state["planned"] + by_state["rejected"]
        if open_ones:
            d = self.rng.choice(open_ones)
            return (
                "submit",
                f"{base}/deliverables/{d['id']}/submit",
                {"document_ref": f"doc-{self.n}-{self.serial}"},
            )
        if len(by_state["approved"]) >= APPROVALS_PER_GATE and stage_code != STAGES[-1]:
            return (
                "gate",
                f"{base}/gate/pass",
                {"reason": "Mandatory deliverables approved", "decision_ref": "WG-LOAD-1"},
            )
        return (
            "plan",
            f"{base}/deliverables",
            {
                "stage": stage_code,
                "title": f"Deliverable {self.n}-{self.serial}",
                "mechanism": self.rng.choice(MECHANISMS),
                "mandatory": self.rng.random() < 0.7,
            },
        )

    def send(
        self,
        http: httpx.Client,
        kind: str,
        path: str,
        body: dict[str, Any],
        auth: dict[str, str],
        aggregate_id: UUID,
        version: int,
    ) -> None:
        self.serial += 1
        # Some clients do not send If-Match: two of them deciding on the same version
        # meet at the save (optimistic concurrency, 409) instead of at the check (412).
        if_match = None if self.rng.random() < self.no_if_match_share else version
        cmd = Command(
            kind=kind,
            aggregate_id=aggregate_id,
            if_match=if_match,
            request_id=f"load-{self.n}-{self.serial}-{uuid.uuid4().hex[:8]}",
            key=f"load-{uuid.uuid4().hex}",
        )
        self.tally.commands.append(cmd)
        headers = {**auth, "Idempotency-Key": cmd.key, "X-Request-ID": cmd.request_id}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        for attempt in range(ATTEMPTS):
            if attempt:
                self.tally.retries += 1
            r = self.request(http, kind, "POST", path, json=body, headers=headers)
            if r is None:
                continue
            cmd.status = r.status_code
            if r.status_code == 503:
                continue
            if r.status_code >= 400:
                cmd.problem = r.json().get("type")
            if r.is_success:
                answer = r.json()
                cmd.version = int(answer["version"])
                cmd.position = int(answer["position"])
                cmd.replayed = r.headers.get("Idempotent-Replayed") == "true"
                self.last_position = max(self.last_position, cmd.position)
                if self.rng.random() < self.resend_share:
                    self.resend(http, cmd, path, body, headers)
            return

    def resend(
        self,
        http: httpx.Client,
        cmd: Command,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        """The same command again, as a client whose answer was lost: it must be answered
        from the idempotency record, with the first answer, and write nothing."""
        cmd.resent += 1
        r = self.request(http, "resend", "POST", path, json=body, headers=headers)
        if r is None:
            return
        answer = r.json() if r.is_success else {}
        if (
            r.headers.get("Idempotent-Replayed") != "true"
            or answer.get("version") != cmd.version
            or answer.get("position") != cmd.position
        ):
            cmd.resend_mismatch = f"{r.status_code} {answer or r.text[:200]}"


class Analyst(Actor):
    role = "analyst"

    def __init__(self, n: int, base_url: str, gate: threading.Barrier, tokens: Tokens) -> None:
        super().__init__(n, base_url, gate, seed=2000 + n)
        self.auth = tokens.analyst

    def step(self, http: httpx.Client) -> None:
        if self.rng.random() < 0.3:
            params: dict[str, Any] = {"limit": 50, "municipality": self.rng.choice(MUNICIPALITIES)}
            if self.rng.random() < 0.5:
                params["active_stage"] = self.rng.choice(STAGES)
            self.get(http, "projects", "/api/v1/projects", params=params, headers=self.auth)
            return
        table = self.rng.choice(ANALYTICS_TABLES)
        self.get(
            http,
            "analytics",
            f"/api/v1/analytics/{table}",
            params={"limit": 500},
            headers=self.auth,
        )


class Auditor(Actor):
    role = "auditor"

    def __init__(
        self,
        n: int,
        base_url: str,
        gate: threading.Barrier,
        tokens: Tokens,
        projects: list[SeededProject],
        officials: list[Official],
    ) -> None:
        super().__init__(n, base_url, gate, seed=3000 + n)
        self.auth = tokens.auditor
        self.projects = projects
        self.officials = officials

    def step(self, http: httpx.Client) -> None:
        p = self.rng.choice(self.projects)
        pick = self.rng.random()
        if pick < 0.35:
            self.get(http, "history", f"/api/v1/projects/{p.id}/history", headers=self.auth)
        elif pick < 0.55:
            # The project as it stood a random moment between its creation and now.
            span = max((datetime.now(UTC) - p.created_at).total_seconds(), 0.001)
            as_of = p.created_at + timedelta(seconds=self.rng.uniform(0, span))
            self.get(
                http,
                "as_of",
                f"/api/v1/projects/{p.id}",
                params={"as_of": as_of.isoformat()},
                headers=self.auth,
            )
        elif pick < 0.75:
            self.get(
                http,
                "log",
                "/api/v1/audit/events",
                params={"aggregate_id": str(p.id), "limit": 100},
                headers=self.auth,
            )
        elif pick < 0.9:
            request_id = self.some_request_id()
            if request_id is None:
                return
            self.get(
                http,
                "log_by_request",
                "/api/v1/audit/events",
                params={"correlation_id": request_id, "limit": 20},
                headers=self.auth,
            )
        else:
            self.get(
                http,
                "replay",
                f"/api/v1/audit/aggregates/{p.id}/replay",
                params={"limit": 20},
                headers=self.auth,
            )

    def some_request_id(self) -> str | None:
        official = self.rng.choice(self.officials)
        commands = official.tally.commands
        if not commands:
            return None
        # A list read while its thread appends: reading one element by index is safe.
        return commands[self.rng.randrange(len(commands))].request_id


def seed_projects(
    http: httpx.Client, n: int, tokens: Tokens
) -> tuple[list[SeededProject], list[Command]]:
    projects: list[SeededProject] = []
    commands: list[Command] = []
    for i in range(n):
        municipality = MUNICIPALITIES[i % len(MUNICIPALITIES)]
        cmd = Command(
            kind="create",
            aggregate_id=None,
            if_match=0,
            request_id=f"load-seed-{i}",
            key=f"load-seed-{uuid.uuid4().hex}",
        )
        r = http.post(
            "/api/v1/projects",
            json={
                "title": f"Load project {i}",
                "goal": "Coordinate the agencies' programs under load",
                "municipality": municipality,
                "lead_agency": AGENCIES[i % len(AGENCIES)],
                "agencies": list(AGENCIES),
            },
            headers={
                **tokens.officials[(municipality, AGENCIES[i % len(AGENCIES)])],
                "Idempotency-Key": cmd.key,
                "X-Request-ID": cmd.request_id,
            },
        )
        r.raise_for_status()
        body = r.json()
        cmd.status, cmd.version, cmd.position = r.status_code, body["version"], body["position"]
        cmd.aggregate_id = UUID(body["id"])
        commands.append(cmd)
        projects.append(SeededProject(UUID(body["id"]), municipality, datetime.now(UTC)))
    return projects, commands


@dataclass(frozen=True)
class StoredEvent:
    position: int
    aggregate_id: UUID
    version: int
    correlation_id: str | None


def stored_events(services: Services, after: int) -> list[StoredEvent]:
    """Every event after ``after``, decoded, in log order."""
    recorder = services.app.pg_recorder
    mapper = services.app.mapper
    out: list[StoredEvent] = []
    start = after + 1
    while True:
        batch = recorder.select_notifications(start, 1000)
        if not batch:
            return out
        for n in batch:
            event = mapper.to_domain_event(n)
            meta = getattr(event, "meta", None)
            out.append(
                StoredEvent(
                    position=n.id,
                    aggregate_id=event.originator_id,
                    version=event.originator_version,
                    correlation_id=None if meta is None else meta.correlation_id,
                )
            )
        start = batch[-1].id + 1


class Checks:
    def __init__(self) -> None:
        self.passed: list[bool] = []

    def check(self, ok: bool, text: str, failures: list[str] | None = None) -> None:
        self.passed.append(ok)
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
        for line in (failures or [])[:10] if not ok else []:
            print(f"      {line}")

    def all_passed(self) -> bool:
        return all(self.passed)


def check_store(checks: Checks, services: Services, after: int, commands: list[Command]) -> None:
    """Checks 1-3 of the module docstring, on the decoded events after ``after``."""
    events = stored_events(services, after)
    by_request: dict[str | None, list[StoredEvent]] = defaultdict(list)
    for e in events:
        by_request[e.correlation_id].append(e)

    acked = [c for c in commands if c.version is not None]
    refused = [c for c in commands if c.status is not None and 400 <= c.status < 500]
    unanswered = [c for c in commands if c.version is None and c not in refused]

    wrong: list[str] = []
    for c in acked:
        assert c.aggregate_id is not None
        assert c.version is not None
        on_target = sorted(
            e.version for e in by_request[c.request_id] if e.aggregate_id == c.aggregate_id
        )
        # Without If-Match the command applied to whatever version it loaded: its events
        # are still one unbroken run that ends at the version it answered.
        first = c.version - len(on_target) + 1 if c.if_match is None else c.if_match + 1
        if not on_target or on_target != list(range(first, c.version + 1)):
            wrong.append(
                f"{c.request_id} ({c.kind}) answered v{c.if_match}->v{c.version}; "
                f"stored versions {on_target}"
            )
        record_id = IdempotencyRecord.id_for(c.key)
        records = [e for e in by_request[c.request_id] if e.aggregate_id == record_id]
        if len(records) != 1:
            wrong.append(f"{c.request_id} ({c.kind}): {len(records)} idempotency records")
        others = [
            e for e in by_request[c.request_id] if e.aggregate_id not in (c.aggregate_id, record_id)
        ]
        if others:
            wrong.append(f"{c.request_id} ({c.kind}): events on other aggregates {others[:3]}")
    acked_events = sum(
        e.aggregate_id == c.aggregate_id for c in acked for e in by_request[c.request_id]
    )
    checks.check(
        not wrong,
        f"{len(acked)} acknowledged commands ({acked_events} events): each one's events are "
        "in the store exactly once",
        wrong,
    )
    resent = [c for c in acked if c.resent]
    mismatched = [
        f"{c.request_id} ({c.kind}): {c.resend_mismatch}" for c in resent if c.resend_mismatch
    ]
    checks.check(
        not mismatched,
        f"{len(resent)} acknowledged commands sent again were answered from their idempotency "
        "record with the first answer",
        mismatched,
    )

    leaked = [
        f"{c.request_id} ({c.kind}, {c.status}): {len(by_request[c.request_id])} events"
        for c in refused
        if by_request[c.request_id]
    ]
    checks.check(
        not leaked,
        f"{len(refused)} refused commands wrote nothing: "
        + ", ".join(
            f"{n} {status} {problem}"
            for (status, problem), n in Counter((c.status, c.problem) for c in refused).items()
        ),
        leaked,
    )
    if unanswered:
        print(
            f"  [info] {len(unanswered)} commands never got a final answer "
            f"(statuses {Counter(c.status for c in unanswered)}); stored events of them: "
            f"{sum(len(by_request[c.request_id]) for c in unanswered)}"
        )

    known = {c.request_id for c in commands}
    strays = [e for e in events if e.correlation_id not in known]
    checks.check(
        not strays,
        f"all {len(events)} events after set-up were asked for by a request of the bench",
        [f"position {e.position}: {e.correlation_id!r} on {e.aggregate_id}" for e in strays],
    )


def check_projections(checks: Checks, services: Services, http: httpx.Client) -> None:
    """Check 4: the live projections, caught up, equal a rebuild from zero."""
    ready = wait_projected(http)
    lags = {p["name"]: p["lag_events"] for p in ready["projections"]}
    checks.check(not any(lags.values()), f"projections caught up to head {ready['head_position']}")
    for view in services.views:
        if view is services.audit_chain:
            continue  # evidence: verified, never rebuilt
        live = view.dump()
        t0 = time.perf_counter()
        services.rebuild(view.name)
        rebuilt = view.dump()
        diff = [
            f"{table}: {len(live.get(table, []))} live rows, {len(rebuilt.get(table, []))} "
            "rebuilt rows"
            for table in sorted(set(live) | set(rebuilt))
            if live.get(table) != rebuilt.get(table)
        ]
        rows = sum(len(v) for v in live.values())
        checks.check(
            not diff,
            f"projection {view.name}: {rows} rows equal a rebuild from zero "
            f"({time.perf_counter() - t0:.1f} s)",
            diff,
        )
    verified = http.get("/api/v1/audit/verify")
    body = verified.json()
    ok = verified.status_code == 200 and body.get("ok") is True
    checks.check(
        ok,
        f"audit hash chain verifies: {body.get('events_checked')} events, "
        f"{body.get('checkpoints_checked')} signed checkpoints",
        [str(body)],
    )


def report(
    actors: list[Actor], elapsed: float, cpu: dict[str, float], sampler: DatabaseSampler
) -> int:
    """Prints the figures; answers the number of server errors (5xx but 503 retried) seen."""
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    statuses: Counter[tuple[str, str, int]] = Counter()
    transport: Counter[tuple[str, str, str]] = Counter()
    retries = 0
    for a in actors:
        for k, v in a.tally.latencies.items():
            latencies[k].extend(v)
        statuses.update(a.tally.statuses)
        transport.update(a.tally.transport)
        retries += a.tally.retries
    answered = sum(len(v) for v in latencies.values())
    commands = [c for a in actors for c in a.tally.commands]
    acked = sum(c.version is not None for c in commands)
    conflicts = sum(c.status in CONFLICTS for c in commands)
    print(f"\nmeasured window: {elapsed:.2f} s")
    print(f"  requests answered:     {answered:7d}  {answered / elapsed:8.1f}/s")
    print(f"  commands acknowledged: {acked:7d}  {acked / elapsed:8.1f}/s")
    print(
        f"  write conflicts:       {conflicts:7d}  ({conflicts / max(len(commands), 1):.1%} of "
        f"{len(commands)} commands; 409/412, another write came first)"
    )
    print(f"  retried sends:         {retries:7d}")
    print("\nlatency (ms)")
    print(f"  {'role':<9}{'kind':<16}{'count':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for role in ("official", "analyst", "auditor"):
        keys = sorted(k for k in latencies if k[0] == role)
        every = sorted(x for k in keys for x in latencies[k])
        for (r, kind), values in [((role, k), sorted(latencies[(role, k)])) for _, k in keys] + [
            ((role, "all"), every)
        ]:
            if not values:
                continue
            ms = [percentile(values, p) * 1000 for p in (50, 95, 99, 100)]
            print(
                f"  {r:<9}{kind:<16}{len(values):>7}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}"
                f"{ms[3]:>9.1f}"
            )
    unexpected = {
        k: n
        for k, n in statuses.items()
        if k[2] >= 400 and not (k[0] == "official" and k[2] in CONFLICTS)
    }
    print("\nerrors (statuses other than success and expected conflicts):")
    if not unexpected and not transport:
        print("  none")
    for (role, kind, status), n in sorted(unexpected.items()):
        print(f"  {role} {kind} {status}: {n}")
    for (role, kind, name), n in sorted(transport.items()):
        print(f"  {role} {kind} {name}: {n}")
    if cpu:
        print(
            f"\nCPU used during the window (of {elapsed * (os.cpu_count() or 1):.1f} CPU-seconds)"
        )
        for name, used in cpu.items():
            label = {"bench": "bench clients"}.get(name, name)
            print(f"  {label:<16}{used:7.2f} s")
    lock_wait, idle_tx, active = sampler.means()
    print(
        f"\nPostgreSQL backends, mean of {len(sampler.samples)} samples: {lock_wait:.2f} "
        f"waiting on a lock, {idle_tx:.2f} idle in transaction, {active:.2f} active"
    )
    return sum(n for (_, _, s), n in statuses.items() if s >= 500 and s != 503)


def check_exits(checks: Checks, processes: list[ServiceProcess]) -> None:
    for p in processes:
        print(f"{p.name} stopped by SIGTERM with exit code {p.returncode}")
        if p.returncode not in (0, -15):
            print(p.log_tail())
            checks.check(False, f"{p.name} exited cleanly")


def make_actors(
    args: argparse.Namespace,
    urls: list[str],
    gate: threading.Barrier,
    projects: list[SeededProject],
    tokens: Tokens,
) -> tuple[list[Official], list[Actor]]:
    # Each actor talks to one API process, taken in turn: writers on the same
    # projects meet across processes, as behind a load balancer.
    officials = [
        Official(
            n,
            urls[n % len(urls)],
            gate,
            projects,
            tokens,
            args.hot,
            args.hot_share,
            args.resend_share,
            args.no_if_match_share,
        )
        for n in range(args.officials)
    ]
    actors: list[Actor] = [
        *officials,
        *(Analyst(n, urls[n % len(urls)], gate, tokens) for n in range(args.analysts)),
        *(
            Auditor(n, urls[(n + 1) % len(urls)], gate, tokens, projects, officials)
            for n in range(args.auditors)
        ),
    ]
    return officials, actors


def run(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    with (
        throwaway_database("load") as db,
        tempfile.TemporaryDirectory(prefix="interagency-load-") as tmp,
    ):
        work = Path(tmp)
        print(f"database: {db.describe()} ({server_version(db.params)})")
        env = service_env(db.params, args.log_level)
        run_cli(["migrate"], env, work)
        tokens = mint_tokens(db, work)
        apis = [
            ServiceProcess(
                f"api-{i}",
                interagency_cmd("api", "--host", "127.0.0.1", "--port", str(free_port())),
                env,
                work,
            )
            for i in range(args.api_processes)
        ]
        urls = [f"http://127.0.0.1:{a.args[-1]}" for a in apis]
        worker = ServiceProcess("worker", interagency_cmd("worker"), env, work)
        checks = Checks()
        with contextlib.ExitStack() as stack:
            for process in (*apis, worker):
                stack.enter_context(process)
            services = stack.enter_context(Services(db.settings(data_dir=work), db.params))
            http = stack.enter_context(
                httpx.Client(
                    base_url=urls[0], headers=tokens.auditor, timeout=60.0, trust_env=False
                )
            )
            for url in urls:
                wait_healthy(url, [*apis, worker])
            after_setup = services.app.head_position()
            projects, seeding = seed_projects(http, args.projects, tokens)
            wait_projected(http)
            print(
                f"seeded {len(projects)} projects in {len(MUNICIPALITIES)} municipalities; "
                f"{args.officials} officials ({args.hot_share:.0%} of their commands on "
                f"{args.hot} hot projects), {args.analysts} analysts, {args.auditors} auditors "
                f"for {args.seconds:g} s"
            )
            gate = threading.Barrier(args.officials + args.analysts + args.auditors + 1)
            officials, actors = make_actors(args, urls, gate, projects, tokens)
            for a in actors:
                a.start()
            sampler = DatabaseSampler(db.params.conninfo(), db.params.dbname)
            sampler.start()
            pids = {a.name: a.pid for a in apis} | {"worker": worker.pid}
            cpu_before = cpu_seconds(pids, backend_pids(db.params))
            start = time.perf_counter()
            for a in actors:
                a.deadline = start + args.seconds
            gate.wait()
            for a in actors:
                a.join(args.seconds + 90)
            elapsed = max(a.ended_at for a in actors) - start
            cpu_after = cpu_seconds(pids, backend_pids(db.params))
            sampler.stopping.set()
            sampler.join(5)
            fatal = [a.fatal for a in actors if a.fatal is not None]
            if any(a.is_alive() for a in actors) or fatal:
                print(f"an actor failed: {fatal[:1]!r}")
                return 2
            server_errors = report(actors, elapsed, cpu_used(cpu_before, cpu_after), sampler)
            print("\nconsistency")
            checks.check(server_errors == 0, f"{server_errors} server errors (5xx other than 503)")
            commands = seeding + [c for o in officials for c in o.tally.commands]
            t0 = time.perf_counter()
            check_store(checks, services, after_setup, commands)
            print(f"  (event store read and checked in {time.perf_counter() - t0:.1f} s)")
            check_projections(checks, services, http)
        check_exits(checks, [*apis, worker])
    print("database dropped")
    return 0 if checks.all_passed() else 1


def main() -> None:
    configure_logging("console", "warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load")
    parser.add_argument("--officials", type=int, default=12, help="officials (threads)")
    parser.add_argument("--analysts", type=int, default=3, help="analysts (threads)")
    parser.add_argument("--auditors", type=int, default=2, help="auditors (threads)")
    parser.add_argument(
        "--api-processes", type=int, default=2, help="API processes (the actors share them)"
    )
    parser.add_argument("--projects", type=int, default=60, help="projects seeded")
    parser.add_argument("--hot", type=int, default=5, help="projects most writes go to")
    parser.add_argument(
        "--hot-share", type=float, default=0.5, help="share of commands on the hot projects"
    )
    parser.add_argument(
        "--resend-share",
        type=float,
        default=0.05,
        help="share of acknowledged commands sent once more (a lost answer)",
    )
    parser.add_argument(
        "--no-if-match-share",
        type=float,
        default=0.3,
        help="share of commands sent without If-Match (conflicts then meet at the save: 409)",
    )
    parser.add_argument(
        "--log-level", default="info", help="the services' log level (info logs every request)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="interrupt the whole run after this many seconds (it must stop by itself)",
    )
    args = parser.parse_args()
    if (
        args.officials < 1
        or args.api_processes < 1
        or args.seconds <= 0
        or not 1 <= args.hot <= args.projects
        or not 0 <= args.hot_share <= 1
    ):
        parser.error("need --officials >= 1, --seconds > 0, 1 <= --hot <= --projects")
    start_watchdog(args.timeout)
    try:
        code = run(args)
    except KeyboardInterrupt:
        print("interrupted: the services were stopped and the database dropped")
        code = 3
    sys.exit(code)


if __name__ == "__main__":
    main()
