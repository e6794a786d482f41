"""The CLI as real processes: serve on the embedded database, the compose split, the tools.

Each process gets its own environment (a copy; ``os.environ`` is never changed), runs in
a temporary folder (so no ``.env`` is read), and is stopped with SIGTERM like a container.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from interagency.services import Services
from interagency.settings import ConnectionParams
from projections.projects import ProjectFilter
from tests.conftest import settings_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

CLI = [sys.executable, "-m", "interagency.cli"]
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli_env(**values: str) -> dict[str, str]:
    """A copy of the environment without any database or service setting, plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "INTERAGENCY_", "PG")) and k != "DATABASE_URL"
    }
    env["INTERAGENCY_LOG_FORMAT"] = "json"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def database_env(params: ConnectionParams, **values: str) -> dict[str, str]:
    """The environment of a docker-compose service pointed at ``params``."""
    return cli_env(
        POSTGRES_HOST=params.host,
        POSTGRES_PORT=str(params.port),
        POSTGRES_DBNAME=params.dbname,
        POSTGRES_USER=params.user,
        POSTGRES_PASSWORD=params.password,
        **values,
    )


class Process:
    """One CLI process, its output in files, stopped by SIGTERM to its own pid."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen([*CLI, *args], env=env, cwd=cwd, stdout=out, stderr=err)

    def output(self) -> str:
        out = self.out.read_text(errors="replace")[-2000:]
        err = self.err.read_text(errors="replace")[-4000:]
        return f"--- {self.name} stdout:\n{out}\n--- {self.name} stderr:\n{err}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then the exit code; the process must be gone within ``timeout``."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            pytest.fail(f"{self.name} ignored SIGTERM for {timeout} s\n{self.output()}")

    def kill_if_alive(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait(10)


@contextmanager
def processes() -> Iterator[Callable[..., Process]]:
    """Starts processes; whatever a failing test left running is killed at the end."""
    started: list[Process] = []

    def start(name: str, args: list[str], env: dict[str, str], cwd: Path) -> Process:
        p = Process(name, args, env, cwd)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.kill_if_alive()


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def add_official(env: dict[str, str], cwd: Path, municipality: str) -> tuple[str, str]:
    """Registers an official of sport with ``interagency principals add`` in the database
    ``env`` points at; returns the principal id and the token (printed this once)."""
    added = run_cli(
        [
            "principals",
            "add",
            "--name",
            "process-tester",
            "--role",
            "official",
            "--agency",
            "sport",
            "--municipality",
            municipality,
            "--label",
            "process test",
        ],
        env,
        cwd,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert "shown this once" in added.stdout
    (principal_id,) = re.findall(r"^principal\s+(\S+)$", added.stdout, re.MULTILINE)
    (token,) = re.findall(r"^token\s+(iat_\S+)$", added.stdout, re.MULTILINE)
    return principal_id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_healthy(base_url: str, process: Process, timeout: float = START_TIMEOUT) -> None:
    """Polls /health until it answers 200; fails at once if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            pytest.fail(
                f"{process.name} exited with {process.popen.returncode}\n{process.output()}"
            )
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{process.name} not healthy after {timeout} s\n{process.output()}")


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """PostgreSQL server processes whose command line names this data folder."""
    needle = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if needle in cmdline and "postgres" in (proc.info["name"] or "") + cmdline:
            found.append(proc)
    return found


def assert_no_postgres_left(data_dir: Path) -> None:
    # pg_ctl stop -w has returned by the time the service exits; allow a moment for reaping.
    deadline = time.monotonic() + 5
    while postgres_processes(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = postgres_processes(data_dir)
    assert not left, f"postgres still running for {data_dir}: {[p.pid for p in left]}"


def short_life_cycle(api: httpx.Client) -> dict[str, Any]:
    """Initiates a project and takes it through its first gate; returns the last answer."""
    created = api.post(
        "/api/v1/projects",
        json={
            "title": "Sport sections in school gyms",
            "goal": "After-hours sport for children",
            "municipality": "Process town",
            "lead_agency": "sport",
            "agencies": ["sport", "education"],
        },
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    planned = api.post(
        f"/api/v1/projects/{pid}/deliverables",
        json={"stage": "social_ties_program", "title": "Program", "mechanism": "working_groups"},
    )
    assert planned.status_code == 201, planned.text
    d = planned.json()["deliverable_id"]
    for step in ("submit", "approve"):
        r = api.post(f"/api/v1/projects/{pid}/deliverables/{d}/{step}")
        assert r.status_code == 200, r.text
    passed = api.post(
        f"/api/v1/projects/{pid}/gate/pass",
        json={"reason": "Stage 1 done", "decision_ref": "WG-1"},
    )
    assert passed.status_code == 200, passed.text
    answer: dict[str, Any] = passed.json()
    assert answer["version"] == 5
    return answer


def assert_progress_after_gate_one(api: httpx.Client, pid: str, position: int) -> None:
    r = api.get(f"/api/v1/projects/{pid}/progress", params={"min_position": position})
    assert r.status_code == 200, r.text
    stages = r.json()["stages"]
    assert [s["status"] for s in stages] == ["completed", "active", "not_started", "not_started"]
    assert stages[0]["percent_complete"] == 100.0
    assert stages[0]["gate_decision_ref"] == "WG-1"


def test_serve_on_the_embedded_database_stops_cleanly_on_sigterm_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(INTERAGENCY_DATA_DIR=str(data_dir))
    # The token is minted in the embedded database the server will run on.
    principal_id, token = add_official(env, tmp_path, "Process town")
    with processes() as start:
        # First run: a project through its first gate.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = start("serve-1", ["serve", "--port", str(port)], env, tmp_path)
        wait_healthy(base, serve)
        with httpx.Client(base_url=base, headers=bearer(token), timeout=30) as api:
            last = short_life_cycle(api)
            pid = last["id"]
            assert_progress_after_gate_one(api, pid, last["position"])
            before = api.get(f"/api/v1/projects/{pid}").json()
        assert postgres_processes(data_dir), "the embedded server should run for the data dir"

        assert serve.terminate() == 0, serve.output()
        assert_no_postgres_left(data_dir)
        assert (data_dir / "pgdata").is_dir()

        # Second run on the same folder: everything is still there.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = start("serve-2", ["serve", "--port", str(port)], env, tmp_path)
        wait_healthy(base, serve)
        with httpx.Client(base_url=base, headers=bearer(token), timeout=30) as api:
            # The principal and its token were kept with the data.
            again = api.get(f"/api/v1/projects/{pid}")
            assert again.status_code == 200, again.text
            assert again.headers["ETag"] == '"5"'
            assert again.json() == before
            assert_progress_after_gate_one(api, pid, last["position"])
            history = api.get(f"/api/v1/projects/{pid}/history").json()["events"]
            assert len(history) == 5
            assert history[-1]["position"] == last["position"]
            assert {e["actor"]["id"] for e in history} == {principal_id}
            ready = api.get("/ready").json()
            assert ready["head_position"] == last["position"]
        assert serve.terminate() == 0, serve.output()
        assert_no_postgres_left(data_dir)


def test_migrate_then_a_separate_worker_and_api_follow_the_log_and_stop_on_sigterm(
    tmp_path: Path, fresh_database: Callable[[], ConnectionParams]
) -> None:
    params = fresh_database()
    env = database_env(params)
    migrated = run_cli(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "tables ready" in migrated.stdout
    principal_id, token = add_official(env, tmp_path, "Compose town")

    with processes() as start:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api_process = start("api", ["api", "--port", str(port)], env, tmp_path)
        wait_healthy(base, api_process)
        # Without the token, the API refuses the write.
        anonymous = httpx.post(f"{base}/api/v1/projects", json={}, timeout=30)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["reason"] == "missing"
        with httpx.Client(base_url=base, headers=bearer(token), timeout=30) as api:
            # The API alone writes, but does not project: the projection lags.
            created = api.post(
                "/api/v1/projects",
                json={
                    "title": "Chess in every primary school",
                    "goal": "Chess with the sport school",
                    "municipality": "Compose town",
                    "lead_agency": "sport",
                    "agencies": ["sport", "education"],
                },
            )
            assert created.status_code == 201, created.text
            answer = created.json()
            history = api.get(f"/api/v1/projects/{answer['id']}/history").json()["events"]
            assert history[0]["actor"] == {
                "id": principal_id,
                "role": "official",
                "agency": "sport",
            }
            ready = api.get("/ready").json()
            assert {p["name"]: p for p in ready["projections"]}["projects"] == {
                "name": "projects",
                "position": 0,
                "lag_events": answer["position"],
            }

            # The worker, a process of its own, catches up and keeps following.
            worker = start("worker", ["worker"], env, tmp_path)
            r = api.get(
                f"/api/v1/projects/{answer['id']}/progress",
                params={"min_position": answer["position"]},
            )
            assert r.status_code == 200, r.text + worker.output()
            assert r.json()["active_stage"] == "social_ties_program"
            planned = api.post(
                f"/api/v1/projects/{answer['id']}/deliverables",
                json={"stage": "social_ties_program", "title": "Plan", "mechanism": "monitoring"},
            )
            assert planned.status_code == 201, planned.text
            listed = api.get(
                "/api/v1/projects",
                params={"municipality": "Compose town", "min_position": planned.json()["position"]},
            )
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"][0]["deliverables_total"] == 1
            lags = {p["name"]: p["lag_events"] for p in api.get("/ready").json()["projections"]}
            assert lags["projects"] == 0
            assert worker.alive(), worker.output()

        assert worker.terminate() == 0, worker.output()
        assert api_process.terminate() == 0, api_process.output()


def test_demo_then_rebuild_projects_every_event_and_status_shows_no_lag(
    tmp_path: Path, fresh_database: Callable[[], ConnectionParams]
) -> None:
    params = fresh_database()
    env = database_env(params)

    small_network = ["--organizations", "60", "--programs", "60", "--agreements", "8"]
    demo = run_cli(
        ["demo", "--projects", "4", *small_network, "--enrolments", "1500"], env, tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    assert "seeded 4 projects" in demo.stdout
    assert "60 organisations, 60 programs" in demo.stdout
    assert "8 network agreements, 1,500 enrolments" in demo.stdout
    assert "1,500 enrolments recorded" in demo.stderr, "progress is shown on stderr"
    # One principal per role, each token printed this once.
    printed = re.findall(r"^(official|auditor|analyst|admin)\s+(iat_\S+)$", demo.stdout, re.M)
    assert sorted(role for role, _ in printed) == ["admin", "analyst", "auditor", "official"]
    again = run_cli(["demo", "--projects", "1", *small_network], env, tmp_path)
    assert again.returncode == 1
    assert "already holds the demo" in again.stderr

    with Services(settings_for(params), params) as services:
        head = services.app.head_position()
        # Each projection reads only its own event types.
        stored = {
            v.name: len(
                services.app.recorder.select_notifications(
                    start=1, limit=1_000_000, topics=list(v.topics)
                )
            )
            for v in services.views
        }
    assert head > 0
    assert stored["groups"] > 0, "the demo seeds the working group behind the gates"

    # Nothing followed the log during the demo: the projection is all lag.
    before = run_cli(["projections", "status"], env, tmp_path)
    assert before.returncode == 0, before.stderr
    assert f"projects: position 0, head {head:,}, lag {head:,} events / " in before.stdout

    rebuilt = run_cli(["projections", "rebuild"], env, tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    for name, count in stored.items():
        if name == "audit_chain":
            assert (
                f"audit_chain: kept (evidence is never rebuilt); chained {count:,} new events, "
                f"at position {head:,}" in rebuilt.stdout
            )
            continue
        assert f"{name}: rebuilt from {count:,} events in " in rebuilt.stdout
        assert f"at position {head:,} (switched without downtime)" in rebuilt.stdout

    status = run_cli(["projections", "status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    for name in stored:
        assert f"{name}: position {head:,}, head {head:,}, lag 0 events / 0.0 s" in status.stdout

    with Services(settings_for(params), params) as services:
        rows, total = services.projects.list_projects(ProjectFilter(), 100, 0)
    assert total == 4
    assert {r["status"] for r in rows} <= {"active", "completed", "suspended", "cancelled"}

    unknown = run_cli(["projections", "rebuild", "nonexistent"], env, tmp_path)
    assert unknown.returncode == 2
    assert "nonexistent" in unknown.stderr
