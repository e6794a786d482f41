"""Random command sequences against one project: the stage rules hold after every step.

Commands may be refused (a DomainError); a refused command must change nothing. An
accepted one must record events carrying the meta it was given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.project import (
    STAGES,
    DeliverableState,
    InteragencyProject,
    ProjectStatus,
    StageStatus,
)
from domain.values import EventMeta
from tests.unit.conftest import initiate, state_of

STAGE_CODES = [s.value for s in STAGES]
# completed* then at most one active or cancelled stage, then not_started*
STAGE_PATTERN = re.compile(r"^C*[AX]?N*$")
STAGE_LETTER = {
    StageStatus.COMPLETED: "C",
    StageStatus.ACTIVE: "A",
    StageStatus.CANCELLED: "X",
    StageStatus.NOT_STARTED: "N",
}

reasons = st.sampled_from(["Решение комиссии", "Протокол заседания", "По плану", "  "])
pick = st.integers(min_value=0, max_value=1_000)


class ProjectLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.planned: list[UUID] = []
        self.completed_before: set[str] = set()
        self.accepted = 0
        self.refused = 0

    @initialize()
    def start(self) -> None:
        self.project = initiate(self.next_meta())
        self.completed_before = set()

    # -- helpers ----------------------------------------------------------------------

    def next_meta(self) -> EventMeta:
        self.step += 1
        return EventMeta(
            actor_id=f"actor-{self.step}",
            actor_role="official",
            actor_agency="education",
            correlation_id=f"req-{self.step}",
        )

    def deliverable(self, index: int, *ready: DeliverableState) -> UUID:
        """Mostly one of the active stage that is ready for the command; sometimes any
        planned one, whatever its stage or state, or an id the project never saw."""
        p = self.project
        if index % 10 == 0 or not self.planned:
            return uuid4()
        fit = [
            d
            for d in self.planned
            if p.deliverables[d].stage is p.active_stage and p.deliverables[d].state in ready
        ]
        pool = fit if fit and index % 10 > 2 else self.planned
        return pool[index % len(pool)]

    def attempt(self, command: Callable[[EventMeta], object]) -> bool:
        """Runs a command; checks what an accepted or refused one may record."""
        p = self.project
        meta = self.next_meta()
        before = state_of(p)
        pending = len(p.pending_events)
        gate_stage = p.active_stage
        # Worked out here, not by the aggregate's own query, so the check is independent.
        unapproved = [
            d.id
            for d in p.deliverables.values()
            if d.stage is gate_stage and d.mandatory and d.state is not DeliverableState.APPROVED
        ]
        try:
            command(meta)
        except DomainError:
            # A refused command changes nothing.
            self.refused += 1
            assert p.version == before["version"]
            assert len(p.pending_events) == pending
            assert state_of(p) == before
            return False
        self.accepted += 1
        new = p.pending_events[pending:]
        assert new, "an accepted command records at least one event"
        assert p.version == before["version"] + len(new)
        for event in new:
            assert (event.meta.actor_id, event.meta.correlation_id) == (  # type: ignore[attr-defined]
                meta.actor_id,
                meta.correlation_id,
            )
            if isinstance(event, InteragencyProject.StageGatePassed):
                # The gate was accepted: at that moment every mandatory deliverable
                # of the stage it closes was approved, and it had a basis.
                assert gate_stage is not None
                assert event.stage == gate_stage.value
                assert unapproved == []
                basis = (event.meta.decision_ref or "", event.meta.basis_document or "")
                assert any(b.strip() for b in basis)
        return True

    # -- commands ---------------------------------------------------------------------

    @rule(
        stage=st.sampled_from(["active", "active", *STAGE_CODES, "unknown_stage"]),
        mandatory=st.booleans(),
        title=st.sampled_from(["Документ", "Отчёт", ""]),
    )
    def plan(self, stage: str, mandatory: bool, title: str) -> None:
        d_id = uuid4()
        if stage == "active":
            stage = str(self.project.active_stage or STAGE_CODES[0])
        if self.attempt(
            lambda m: self.project.plan_deliverable(
                m,
                deliverable_id=d_id,
                stage=stage,
                title=title,
                mechanism="monitoring",
                mandatory=mandatory,
            )
        ):
            self.planned.append(d_id)

    @rule(index=pick)
    def submit(self, index: int) -> None:
        d_id = self.deliverable(index, DeliverableState.PLANNED, DeliverableState.REJECTED)
        self.attempt(lambda m: self.project.submit_deliverable(m, deliverable_id=d_id))

    @rule(index=pick)
    def approve(self, index: int) -> None:
        d_id = self.deliverable(index, DeliverableState.SUBMITTED)
        self.attempt(lambda m: self.project.approve_deliverable(m, deliverable_id=d_id))

    @rule(index=pick, reason=reasons)
    def reject(self, index: int, reason: str) -> None:
        d_id = self.deliverable(index, DeliverableState.SUBMITTED)
        self.attempt(
            lambda m: self.project.reject_deliverable(m, deliverable_id=d_id, reason=reason)
        )

    @rule(
        basis=st.sampled_from(
            [
                {},
                {"decision_ref": " "},
                {"decision_ref": "Протокол №1"},
                {"basis_document": "Приказ №2"},
            ]
        ),
        reason=reasons,
    )
    def pass_gate(self, basis: dict[str, str], reason: str) -> None:
        self.attempt(lambda m: self.project.pass_gate(m, reason=reason, **basis))

    @rule(reason=reasons)
    def reject_gate(self, reason: str) -> None:
        self.attempt(lambda m: self.project.reject_gate(m, reason=reason))

    @rule(reason=reasons)
    def suspend(self, reason: str) -> None:
        self.attempt(lambda m: self.project.suspend(m, reason=reason))

    @rule(reason=reasons)
    def resume(self, reason: str) -> None:
        self.attempt(lambda m: self.project.resume(m, reason=reason))

    @rule(reason=reasons, chance=st.integers(min_value=0, max_value=3))
    def cancel(self, reason: str, chance: int) -> None:
        # Cancelling ends all work, so it is tried one time in four to let runs go far.
        if chance == 0:
            self.attempt(lambda m: self.project.cancel(m, reason=reason))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def stages_follow_their_order(self) -> None:
        p = self.project
        letters = "".join(STAGE_LETTER[p.stages[s].status] for s in STAGES)
        assert STAGE_PATTERN.match(letters), letters
        assert letters.count("A") <= 1
        active = [s for s in STAGES if p.stages[s].status is StageStatus.ACTIVE]
        assert active == ([] if p.active_stage is None else [p.active_stage])

    @invariant()
    def completed_stages_never_go_back(self) -> None:
        p = self.project
        completed = {s.value for s in STAGES if p.stages[s].status is StageStatus.COMPLETED}
        assert self.completed_before <= completed
        # one gate per step at most: stages are never skipped
        assert len(completed) - len(self.completed_before) <= 1
        self.completed_before = completed

    @invariant()
    def completed_means_all_four_stages_completed(self) -> None:
        p = self.project
        all_done = all(p.stages[s].status is StageStatus.COMPLETED for s in STAGES)
        assert (p.status is ProjectStatus.COMPLETED) == all_done
        if p.status in (ProjectStatus.COMPLETED, ProjectStatus.CANCELLED):
            assert p.active_stage is None
        else:
            assert p.active_stage is not None

    @invariant()
    def completed_stages_have_their_mandatory_deliverables_approved(self) -> None:
        p = self.project
        for d in p.deliverables.values():
            if d.mandatory and p.stages[d.stage].status is StageStatus.COMPLETED:
                assert d.state is DeliverableState.APPROVED

    @invariant()
    def the_pending_events_replay_to_the_same_state(self) -> None:
        p = self.project
        rebuilt: Any = functools.reduce(lambda a, e: e.mutate(a), p.pending_events, None)
        assert rebuilt.version == p.version == len(p.pending_events)
        assert (rebuilt.status, rebuilt.active_stage) == (p.status, p.active_stage)
        assert rebuilt.stages == p.stages
        assert rebuilt.deliverables == p.deliverables


ProjectLifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestProjectLifecycle = ProjectLifecycle.TestCase
