"""Two real worker processes: one active per projection, the other takes over after kill -9,
and nothing is lost or applied twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from projections.ops import ProjectionStatus
from tests.conftest import settings_for
from tests.e2e.test_processes import database_env, processes
from tests.integration.test_projections import start_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls the tracking positions and locks other processes move (no fixed sleeps)."""
    pause = threading.Event()
    waited = 0.0
    while not check():
        if waited >= timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.01)
        waited += 0.01


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing_and_a_standby_takes_over(
    fresh_database: Callable[[], ConnectionParams], tmp_path: Path
) -> None:
    params = fresh_database()
    settings = settings_for(params)
    migrate(settings, params)
    env = database_env(params, INTERAGENCY_PROJECTION_BATCH="10")
    with Services(settings, params) as services, processes() as start:
        for i in range(1500):
            start_project(services.app, f"Failover {i}")
        head = services.app.head_position()

        def projects() -> ProjectionStatus:
            return next(s for s in services.statuses() if s.name == "projects")

        first = start("worker-a", ["worker"], env, tmp_path)
        _until(
            lambda: projects().active and projects().position > 0,
            60,
            "worker a to start projecting",
        )
        second = start("worker-b", ["worker"], env, tmp_path)
        # Killed in the middle of its backlog: some batch of it was in flight.
        at_kill = projects().position
        assert 0 < at_kill < head, first.output()
        first.popen.kill()
        first.popen.wait(10)

        more = [start_project(services.app, f"After {i}").position for i in range(20)]
        _until(
            lambda: all(s.lag_events == 0 and s.active for s in services.statuses()),
            120,
            "worker b to take every projection over and reach the head",
        )
        assert services.projects.position() == more[-1]
        assert second.alive(), second.output()
        assert second.terminate() == 0, second.output()

        # What the two workers built equals a rebuild from zero: nothing lost or doubled.
        for view in services.views:
            if view is services.audit_chain:
                continue
            built = view.dump()
            services.rebuild(view.name)
            assert view.dump() == built, view.name
        assert services.audit_chain.position() == more[-1]
