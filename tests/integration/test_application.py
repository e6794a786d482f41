"""The write side on a real PostgreSQL: commands, refusals, concurrency, idempotency.

Every test makes its own projects; nothing assumes the event log is empty, because the
session database is shared by the whole suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RuleViolationError,
    StaleVersionError,
    ValidationError,
)
from domain.project import STAGES, DeliverableState, ProjectStatus, Stage, StageStatus
from domain.values import EventMeta
from interagency.application import CommandResult, InteragencyApplication
from interagency.idempotency import IdempotencyContext
from interagency.services import Services

T = TypeVar("T")

FIRST = Stage.SOCIAL_TIES_PROGRAM.value


def meta(correlation_id: str | None = None, actor_id: str = "official-1") -> EventMeta:
    return EventMeta(
        actor_id=actor_id,
        actor_role="official",
        actor_agency="education",
        correlation_id=correlation_id or f"req-{uuid4().hex[:12]}",
    )


def start_project(app: InteragencyApplication, label: str = "app") -> UUID:
    return app.initiate_project(
        meta(),
        title=f"Project {label}",
        goal="Widen the social ties of schools",
        municipality=f"Town {label} {uuid4().hex[:8]}",
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id


def plan(app: InteragencyApplication, pid: UUID, **kwargs: Any) -> UUID:
    did = kwargs.pop("deliverable_id", None) or uuid4()
    app.plan_deliverable(
        meta(),
        pid,
        stage=kwargs.pop("stage", FIRST),
        title=kwargs.pop("title", "Cooperation agreement"),
        mechanism=kwargs.pop("mechanism", "working_groups"),
        deliverable_id=did,
        **kwargs,
    )
    return did


def race(n: int, call: Callable[[int], T]) -> list[T | DomainError]:
    """Runs ``call(i)`` in ``n`` threads released together; errors are returned, not raised."""
    barrier = threading.Barrier(n, timeout=30)

    def run(i: int) -> T | DomainError:
        barrier.wait()
        try:
            return call(i)
        except DomainError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def written_since(app: InteragencyApplication, head: int) -> list[UUID]:
    """The originators of every event recorded after position ``head``, in order."""
    return [n.originator_id for n in app.pg_recorder.select_notifications(head + 1, 1000)]


def event_names(app: InteragencyApplication, pid: UUID) -> list[str]:
    return [type(e.event).__name__ for e in app.history(pid)]


# -- the whole life cycle ------------------------------------------------------------


def test_a_project_goes_through_all_four_gates_and_its_history_records_every_step(
    services: Services,
) -> None:
    app = services.app
    results: list[CommandResult] = []

    # Initiated: stage 1 is active.
    first = app.initiate_project(
        meta("init"),
        title="School and museum",
        goal="Lessons in the local museum",
        municipality=f"Lifecycle {uuid4().hex[:8]}",
        lead_agency="education",
        agencies=["education", "culture", "sport"],
    )
    results.append(first)
    pid = first.aggregate_id

    # Each stage: plan, submit and approve one mandatory deliverable, then pass the gate.
    for n, stage in enumerate(STAGES, start=1):
        did = uuid4()
        results.append(
            app.plan_deliverable(
                meta(f"plan-{n}"),
                pid,
                stage=stage.value,
                title=f"Deliverable of stage {n}",
                mechanism="regulation",
                deliverable_id=did,
            )
        )
        results.append(
            app.submit_deliverable(meta(f"submit-{n}"), pid, did, document_ref=f"doc-{n}")
        )
        results.append(app.approve_deliverable(meta(f"approve-{n}", "head-1"), pid, did))
        results.append(
            app.pass_gate(
                meta(f"gate-{n}", "head-1"),
                pid,
                reason=f"stage {n} is done",
                decision_ref=f"order-{n}",
            )
        )

    # The versions and positions grow; the last gate also completes the project.
    assert {r.aggregate_id for r in results} == {pid}
    assert not any(r.replayed for r in results)
    assert [r.version for r in results] == [*range(1, 17), 18]
    positions = [r.position for r in results]
    assert positions == sorted(set(positions))

    history = app.history(pid)
    assert [h.version for h in history] == list(range(1, 19))
    assert [h.position for h in history] == sorted({h.position for h in history})
    by_version = {h.version: h.position for h in history}
    assert all(by_version[r.version] == r.position for r in results)
    assert event_names(app, pid) == [
        "ProjectInitiated",
        *[
            name
            for _ in STAGES
            for name in (
                "DeliverablePlanned",
                "DeliverableSubmitted",
                "DeliverableApproved",
                "StageGatePassed",
            )
        ],
        "ProjectCompleted",
    ]

    # Every event carries who, which request, and for decisions why and on what basis.
    metas = [h.event.meta for h in history]
    assert metas[0].correlation_id == "init"
    assert [m.correlation_id for m in metas[1:5]] == ["plan-1", "submit-1", "approve-1", "gate-1"]
    assert metas[3].actor_id == "head-1"
    assert metas[1].actor_id == "official-1"
    assert all(m.actor_role == "official" and m.actor_agency == "education" for m in metas)
    gates = [h.event for h in history if type(h.event).__name__ == "StageGatePassed"]
    assert [(g.meta.reason, g.meta.decision_ref) for g in gates] == [
        (f"stage {n} is done", f"order-{n}") for n in range(1, 5)
    ]
    assert [g.stage for g in gates] == [s.value for s in STAGES]
    completed = history[-1].event
    assert completed.meta.correlation_id == "gate-4"
    assert completed.meta.decision_ref == "order-4"

    # The aggregate agrees, now and at an earlier version.
    project = app.get_project(pid)
    assert project.status is ProjectStatus.COMPLETED
    assert project.active_stage is None
    assert all(project.stages[s].status is StageStatus.COMPLETED for s in STAGES)
    assert all(d.state is DeliverableState.APPROVED for d in project.deliverables.values())
    after_first_gate = app.get_project(pid, version=5)
    assert after_first_gate.active_stage is Stage.INTERACTION_MECHANISMS
    assert after_first_gate.stages[STAGES[0]].status is StageStatus.COMPLETED


def test_the_history_of_an_unknown_aggregate_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.app.history(uuid4())


# -- refused commands write nothing --------------------------------------------------

Refusal = Callable[[InteragencyApplication, UUID, UUID, int], object]

# (case, expected error, whether the deliverable is submitted first, the command)
REFUSALS: list[tuple[str, type[DomainError], bool, Refusal]] = [
    (
        "approving a planned deliverable",
        RuleViolationError,
        False,
        lambda app, pid, did, v: app.approve_deliverable(meta(), pid, did),
    ),
    (
        "submitting a submitted deliverable",
        RuleViolationError,
        True,
        lambda app, pid, did, v: app.submit_deliverable(meta(), pid, did),
    ),
    (
        "passing a gate with a mandatory deliverable unapproved",
        RuleViolationError,
        True,
        lambda app, pid, did, v: app.pass_gate(meta(), pid, reason="done", decision_ref="o-1"),
    ),
    (
        "passing a gate without a basis",
        RuleViolationError,
        False,
        lambda app, pid, did, v: app.pass_gate(meta(), pid, reason="done"),
    ),
    (
        "resuming an active project",
        RuleViolationError,
        False,
        lambda app, pid, did, v: app.resume_project(meta(), pid, reason="again"),
    ),
    (
        "planning with an unknown mechanism",
        ValidationError,
        False,
        lambda app, pid, did, v: app.plan_deliverable(
            meta(), pid, stage=FIRST, title="Telepathy", mechanism="telepathy"
        ),
    ),
    (
        "planning for an unknown stage",
        ValidationError,
        False,
        lambda app, pid, did, v: app.plan_deliverable(
            meta(), pid, stage="stage_five", title="Later", mechanism="monitoring"
        ),
    ),
    (
        "rejecting a submitted deliverable without a reason",
        ValidationError,
        True,
        lambda app, pid, did, v: app.reject_deliverable(meta(), pid, did, reason="   "),
    ),
    (
        "submitting to an unknown project",
        NotFoundError,
        False,
        lambda app, pid, did, v: app.submit_deliverable(meta(), uuid4(), did),
    ),
    (
        "submitting with a stale expected version",
        StaleVersionError,
        False,
        lambda app, pid, did, v: app.submit_deliverable(meta(), pid, did, expected_version=v - 1),
    ),
    (
        "suspending with a future expected version",
        StaleVersionError,
        False,
        lambda app, pid, did, v: app.suspend_project(
            meta(), pid, reason="pause", expected_version=v + 1
        ),
    ),
]


@pytest.mark.parametrize(
    ("error", "submitted", "command"),
    [pytest.param(e, s, c, id=name) for name, e, s, c in REFUSALS],
)
def test_a_refused_command_writes_nothing(
    services: Services, error: type[DomainError], submitted: bool, command: Refusal
) -> None:
    app = services.app
    pid = start_project(app, "refusal")
    did = plan(app, pid, mandatory=True)
    if submitted:
        app.submit_deliverable(meta(), pid, did)
    version = app.get_project(pid).version
    history = app.history(pid)
    head = app.head_position()

    with pytest.raises(error):
        command(app, pid, did, version)

    # Neither the log nor the project moved...
    assert app.head_position() == head
    assert app.get_project(pid).version == version
    assert app.history(pid) == history
    # ...and the refusal left no trace in the cached aggregate: the next command follows on.
    nxt = app.plan_deliverable(meta(), pid, stage=FIRST, title="Next", mechanism="monitoring")
    assert nxt.version == version + 1
    assert nxt.position > head


@pytest.mark.parametrize(
    ("error", "agencies", "lead"),
    [
        pytest.param(RuleViolationError, ["culture", "sport"], "education", id="lead-not-in"),
        pytest.param(RuleViolationError, ["education", "education"], "education", id="one"),
        pytest.param(ValidationError, ["education", "ministry"], "education", id="unknown"),
    ],
)
def test_a_refused_initiation_writes_nothing(
    services: Services, error: type[DomainError], agencies: list[str], lead: str
) -> None:
    app = services.app
    head = app.head_position()
    pid = uuid4()
    with pytest.raises(error):
        app.initiate_project(
            meta(),
            title="Refused",
            goal="Nothing",
            municipality="Nowhere",
            lead_agency=lead,
            agencies=agencies,
            project_id=pid,
        )
    assert app.head_position() == head
    with pytest.raises(NotFoundError):
        app.get_project(pid)


# -- expected version (If-Match) -----------------------------------------------------


def test_a_stale_expected_version_is_refused_and_the_current_one_accepted(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "if-match")
    did = plan(app, pid)  # version 2
    head = app.head_position()

    with pytest.raises(StaleVersionError) as caught:
        app.submit_deliverable(meta(), pid, did, expected_version=1)
    assert caught.value.extra["current_version"] == 2
    assert app.head_position() == head
    assert app.get_project(pid).version == 2

    accepted = app.submit_deliverable(meta(), pid, did, expected_version=2)
    assert accepted.version == 3
    assert accepted.position > head
    with pytest.raises(StaleVersionError):
        app.approve_deliverable(meta(), pid, did, expected_version=2)
    assert app.get_project(pid).deliverables[did].state is DeliverableState.SUBMITTED


# -- concurrent writers --------------------------------------------------------------


def test_concurrent_writers_on_one_project_lose_nothing_and_double_nothing(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "race")
    threads = 8
    successes: list[CommandResult] = []
    planned: list[UUID] = []
    refused: list[UUID] = []
    conflicts = 0

    for round_no in range(30):
        ids = [uuid4() for _ in range(threads)]
        outcomes = race(
            threads,
            lambda i, ids=ids, r=round_no: app.plan_deliverable(
                meta(f"race-{r}-{i}"),
                pid,
                stage=FIRST,
                title=f"Round {r} writer {i}",
                mechanism="monitoring",
                deliverable_id=ids[i],
            ),
        )
        for did, outcome in zip(ids, outcomes, strict=True):
            if isinstance(outcome, CommandResult):
                successes.append(outcome)
                planned.append(did)
            else:
                # A lost race is the only acceptable refusal.
                assert isinstance(outcome, ConcurrencyConflictError), outcome
                refused.append(did)
                conflicts += 1
        # Whoever committed first in a round must have succeeded.
        assert any(isinstance(o, CommandResult) for o in outcomes)
        if conflicts and round_no >= 2:
            break

    assert conflicts > 0, "no write conflict observed in 30 rounds of 8 concurrent writers"

    history = app.history(pid)
    assert [h.version for h in history] == list(range(1, len(history) + 1))
    assert event_names(app, pid).count("DeliverablePlanned") == len(successes)
    assert len(history) == 1 + len(successes)
    assert sorted(r.version for r in successes) == list(range(2, len(history) + 1))
    assert sorted(r.position for r in successes) == [h.position for h in history[1:]]
    project = app.get_project(pid)
    assert set(project.deliverables) == set(planned)
    assert not set(project.deliverables) & set(refused)


def test_concurrent_writers_with_the_same_expected_version_let_exactly_one_through(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "if-match-race")
    version = app.get_project(pid).version
    threads = 8

    outcomes = race(
        threads,
        lambda i: app.plan_deliverable(
            meta(),
            pid,
            stage=FIRST,
            title=f"Writer {i}",
            mechanism="incentives",
            expected_version=version,
        ),
    )

    wins = [o for o in outcomes if isinstance(o, CommandResult)]
    assert len(wins) == 1
    assert wins[0].version == version + 1
    assert all(isinstance(o, StaleVersionError) for o in outcomes if o is not wins[0])
    assert event_names(app, pid) == ["ProjectInitiated", "DeliverablePlanned"]


# -- idempotency ---------------------------------------------------------------------


def idem(label: str, fingerprint: str = "fp-1") -> IdempotencyContext:
    return IdempotencyContext(key=f"{label}-{uuid4()}", fingerprint=fingerprint)


def test_a_repeated_idempotent_command_answers_the_first_result_and_writes_once(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "idem")
    ctx = idem("plan")
    head = app.head_position()

    first = app.plan_deliverable(
        meta(), pid, stage=FIRST, title="Once", mechanism="licensing", idempotency=ctx
    )
    after_first = app.head_position()
    again = app.plan_deliverable(
        meta(), pid, stage=FIRST, title="Once", mechanism="licensing", idempotency=ctx
    )

    assert not first.replayed
    assert again.replayed
    assert (again.aggregate_id, again.version, again.position) == (
        first.aggregate_id,
        first.version,
        first.position,
    )
    # One write: the project's event and the key's record, in one transaction.
    # The key's record is saved first, the project last: its event holds the answer's position.
    assert written_since(app, head) == [ctx.record_id, pid]
    assert app.head_position() == after_first
    assert event_names(app, pid) == ["ProjectInitiated", "DeliverablePlanned"]


def test_a_repeated_idempotent_initiation_creates_one_project(services: Services) -> None:
    app = services.app
    ctx = idem("initiate")

    def initiate() -> CommandResult:
        return app.initiate_project(
            meta(),
            title="Keyed",
            goal="Created once",
            municipality="Keyed town",
            lead_agency="sport",
            agencies=["sport", "youth_policy"],
            idempotency=ctx,
        )

    first = initiate()
    head = app.head_position()
    again = initiate()

    assert again.replayed
    assert (again.aggregate_id, again.version, again.position) == (
        first.aggregate_id,
        1,
        first.position,
    )
    assert app.head_position() == head


def test_an_idempotency_key_reused_for_another_request_is_refused_and_writes_nothing(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "idem-reuse")
    ctx = idem("reuse", fingerprint="fp-a")
    app.plan_deliverable(
        meta(), pid, stage=FIRST, title="A", mechanism="regulation", idempotency=ctx
    )
    head = app.head_position()

    other = IdempotencyContext(key=ctx.key, fingerprint="fp-b")
    with pytest.raises(IdempotencyKeyReusedError):
        app.plan_deliverable(
            meta(), pid, stage=FIRST, title="B", mechanism="regulation", idempotency=other
        )
    with pytest.raises(IdempotencyKeyReusedError):
        app.suspend_project(meta(), pid, reason="pause", idempotency=other)

    assert app.head_position() == head
    assert event_names(app, pid) == ["ProjectInitiated", "DeliverablePlanned"]


def _same_answers(outcomes: list[CommandResult | DomainError]) -> set[tuple[UUID, int, int]]:
    for o in outcomes:
        assert isinstance(o, CommandResult), o
    return {(o.aggregate_id, o.version, o.position) for o in outcomes}  # type: ignore[union-attr]


def test_the_same_key_sent_concurrently_writes_once_and_every_answer_is_the_same(
    services: Services,
) -> None:
    app = services.app
    pid = start_project(app, "idem-race")
    ctx = idem("race")
    head = app.head_position()

    outcomes = race(
        6,
        lambda i: app.plan_deliverable(
            meta(), pid, stage=FIRST, title="Keyed", mechanism="monitoring", idempotency=ctx
        ),
    )

    answers = _same_answers(outcomes)
    assert len(answers) == 1
    assert sum(not o.replayed for o in outcomes) == 1  # type: ignore[union-attr]
    assert event_names(app, pid) == ["ProjectInitiated", "DeliverablePlanned"]
    ((_, version, position),) = answers
    assert (version, position) == (2, app.history(pid)[-1].position)
    # The key's record is saved first, the project last: its event holds the answer's position.
    assert written_since(app, head) == [ctx.record_id, pid]


def test_the_same_key_sent_concurrently_for_a_state_change_writes_once(
    services: Services,
) -> None:
    # Losers that load the project after the winner committed see the deliverable
    # already submitted: they must still answer the winner's result, not a rule error.
    app = services.app
    for _ in range(5):
        pid = start_project(app, "idem-submit")
        did = plan(app, pid)
        ctx = idem("submit")

        outcomes = race(
            6,
            lambda i, pid=pid, did=did, ctx=ctx: app.submit_deliverable(
                meta(), pid, did, idempotency=ctx
            ),
        )

        assert len(_same_answers(outcomes)) == 1
        assert event_names(app, pid) == [
            "ProjectInitiated",
            "DeliverablePlanned",
            "DeliverableSubmitted",
        ]
