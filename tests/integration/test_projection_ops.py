"""Projection operations on PostgreSQL: status and lag, poison events, one active worker,
blue/green rebuilds that readers never see half done."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from interagency.services import Services
from projections.ops import statuses
from projections.projects import ProjectFilter
from projections.runtime import PoisonEventError, ProjectionWorker
from tests.integration.test_projections import (
    EventTally,
    log_positions,
    projector_for,
    some_history,
    start_project,
    tally,
)


def status_of(services: Services, name: str) -> Any:
    return next(s for s in services.statuses() if s.name == name)


def test_status_shows_lag_rising_under_writes_and_falling_back_when_caught_up(
    own: Callable[..., Services],
) -> None:
    services = own()
    start = status_of(services, "projects")
    assert (start.lag_events, start.lag_seconds, start.active) == (0, 0.0, False)
    lags = []
    for i in range(3):
        start_project(services.app, f"Lag {i}")
        lags.append(status_of(services, "projects").lag_events)
    assert lags == sorted(lags)
    assert lags[0] > 0
    assert lags[-1] > lags[0]
    behind = status_of(services, "projects")
    assert behind.lag_seconds > 0
    assert behind.head == services.app.head_position()

    services.projector("projects").catch_up()
    after = status_of(services, "projects")
    assert (after.lag_events, after.lag_seconds) == (0, 0.0)
    assert after.position == after.head


def test_a_worker_holds_each_projections_lock_and_a_standby_takes_over(
    own: Callable[..., Services],
) -> None:
    services = own()

    def worker() -> ProjectionWorker:
        w = ProjectionWorker(
            services.projectors,
            conninfo=services.params.conninfo(),
            channel=services.app.pg_recorder.channel_name,
            poll_interval=0.1,
        )
        w.start()
        return w

    first = worker()
    try:
        assert _eventually(lambda: all(s.active for s in services.statuses()))
        second = worker()
        try:
            assert _eventually(lambda: len(first.owned) == len(services.views))
            assert second.owned == set()
            first.stop()
            # The first worker's connection closed: its locks went with it.
            assert _eventually(lambda: len(second.owned) == len(services.views))
            last = start_project(services.app, "After the takeover").position
            assert services.projects.wait_for(last, timeout=10)
        finally:
            second.stop()
    finally:
        first.stop()


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Waits for a condition of the workers' own threads (no projection position to wait on)."""
    done = threading.Event()
    deadline = 0.0
    while deadline < timeout:
        if check():
            return True
        done.wait(0.05)
        deadline += 0.05
    return check()


def test_a_poison_event_stops_its_projection_alone_naming_the_event_and_position(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    poisoned = tally(services, "poisoned")
    healthy = tally(services, "healthy")
    poisoned.fail_at = positions[3]
    w = ProjectionWorker(
        [projector_for(services, poisoned, 500), projector_for(services, healthy, 500)],
        conninfo=services.params.conninfo(),
        channel=services.app.pg_recorder.channel_name,
        poll_interval=0.1,
        poison_retry_seconds=3600,
    )
    w.start()
    try:
        assert healthy.wait_for(positions[-1], timeout=10)
        assert poisoned.faults.acquire(timeout=10)
    finally:
        w.stop()
    # Everything before the poison event is kept; nothing after it is applied.
    assert poisoned.position() == positions[2]
    assert [r[0] for r in poisoned.rows()[0]] == positions[:3]
    (status,) = statuses([poisoned], services.app.pg_recorder, services.app.mapper)
    assert status.state == "stopped"
    assert status.error_position == positions[3]
    assert "FaultInjectedError" in (status.last_error or "")
    assert f"position {positions[3]}" in (w.last_error or "")
    # It was tried once: the retry interval has not passed.
    assert not poisoned.faults.acquire(timeout=0.2)


def test_a_poison_event_found_by_a_batch_ends_work_is_isolated_and_named(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)

    class FailsAtBatchEnd(EventTally):
        bad = positions[4]

        def begin_batch(self) -> None:
            self.seen_bad = False

        def process(self, curs: Any, event: Any, position: int) -> None:
            self.seen_bad = self.seen_bad or position == self.bad
            super().process(curs, event, position)

        def end_batch(self, curs: Any) -> None:
            if self.seen_bad:
                raise ValueError("deferred work failed")

    view = FailsAtBatchEnd(services, f"tally_end_{uuid.uuid4().hex[:8]}")
    with pytest.raises(PoisonEventError) as raised:
        projector_for(services, view, 500).catch_up()
    assert raised.value.position == positions[4]
    assert view.position() == positions[3]


def test_parked_poison_events_let_the_projection_go_on_and_replay_later(
    services: Services,
) -> None:
    some_history(services)
    positions = log_positions(services)
    view = tally(services, "parked")
    view.fail_at = positions[5]
    w = ProjectionWorker(
        [projector_for(services, view, 500)],
        conninfo=services.params.conninfo(),
        channel=services.app.pg_recorder.channel_name,
        poll_interval=0.1,
        on_poison="park",
    )
    w.start()
    try:
        assert view.wait_for(positions[-1], timeout=10)
    finally:
        w.stop()
    projector = projector_for(services, view, 500)
    letters = projector.dead_letters()
    assert [letter["position"] for letter in letters] == [positions[5]]
    assert "FaultInjectedError" in letters[0]["error"]
    assert positions[5] not in [r[0] for r in view.rows()[0]]
    assert len(view.rows()[0]) == len(positions) - 1

    # Still failing: it stays parked. Fixed: replayed, and the rows are complete.
    assert projector.replay_dead_letters() == (0, 1)
    view.fail_at = None
    assert projector.replay_dead_letters() == (1, 0)
    assert projector.dead_letters() == []
    assert [r[0] for r in view.rows()[0]] == positions


def test_a_blue_green_rebuild_gives_identical_rows_and_readers_never_see_it_half_done(
    own: Callable[..., Services],
) -> None:
    services = own()
    for i in range(30):
        start_project(services.app, f"Blue green {i}")
    some_history(services)
    services.projector("projects").catch_up()
    before = services.projects.dump()
    expected = len(before["project_summary"])
    assert expected == 33

    seen: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                _, total = services.projects.list_projects(ProjectFilter(), 100, 0)
                seen.append(total)
            except BaseException as exc:
                failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    progress: list[tuple[int, int]] = []
    try:
        result = services.rebuild(
            "projects", lambda pos, head: progress.append((pos, head)), batch_size=2
        )
    finally:
        stop.set()
        for t in readers:
            t.join(10)

    assert failures == []
    assert seen
    assert set(seen) == {expected}
    assert result.position == services.app.head_position()
    assert services.projects.position() == result.position
    assert services.projects.dump() == before
    assert progress[-1][0] == result.position
    with services.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT count(*) AS n FROM pg_namespace WHERE nspname LIKE 'rebuild_%'")
        row = curs.fetchone()
    assert row is not None
    assert row["n"] == 0


def test_a_rebuild_keeps_up_with_writes_made_while_it_runs(own: Callable[..., Services]) -> None:
    services = own()
    for i in range(40):
        start_project(services.app, f"Before {i}")
    services.projector("projects").catch_up()
    written: list[int] = []

    def progress(pos: int, head: int) -> None:
        if len(written) < 5:
            written.append(start_project(services.app, f"During {len(written)}").position)

    result = services.rebuild("projects", progress, batch_size=5)
    services.projector("projects").catch_up()
    _, total = services.projects.list_projects(ProjectFilter(), 100, 0)
    assert len(written) == 5
    assert total == 40 + len(written)
    assert services.projects.position() == services.app.head_position()
    assert result.position <= services.app.head_position()


def test_the_audit_chain_is_never_rebuilt(own: Callable[..., Services]) -> None:
    from projections.chain import ChainResetRefusedError

    services = own()
    with pytest.raises(ChainResetRefusedError):
        services.rebuild("audit_chain")
