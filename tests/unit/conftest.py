"""Builders for the domain tier: pure aggregates, no database, no application.

The helpers are plain functions so the state machine (which cannot take fixtures) can
import them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import DomainError, RuleViolationError
from domain.project import STAGES, InteragencyProject, Stage
from domain.values import EventMeta

META = EventMeta(
    actor_id="official-1",
    actor_role="official",
    actor_agency="education",
    correlation_id="req-0001",
)
BASIS = {"decision_ref": "Протокол №1", "basis_document": "Приказ №12"}


def initiate(meta: EventMeta = META, **overrides: Any) -> InteragencyProject:
    """A valid project of education and sport, led by education."""
    kwargs: dict[str, Any] = {
        "project_id": uuid4(),
        "title": "Сетевая программа «Техноквантум»",
        "goal": "Raise coverage of technical programs",
        "municipality": "Городской округ N",
        "lead_agency": "education",
        "agencies": ["education", "sport"],
    }
    kwargs.update(overrides)
    return InteragencyProject.initiate(meta, **kwargs)


def plan(
    p: InteragencyProject,
    *,
    stage: Stage | str | None = None,
    mandatory: bool = True,
    title: str = "Программа расширения социальных связей",
    mechanism: str = "working_groups",
    meta: EventMeta = META,
) -> UUID:
    """Plans a deliverable (in the active stage unless told) and returns its id."""
    target = stage if stage is not None else p.active_stage
    assert target is not None
    deliverable_id = uuid4()
    p.plan_deliverable(
        meta,
        deliverable_id=deliverable_id,
        stage=str(target),
        title=title,
        mechanism=mechanism,
        mandatory=mandatory,
    )
    return deliverable_id


def approve(p: InteragencyProject, deliverable_id: UUID, meta: EventMeta = META) -> None:
    p.submit_deliverable(meta, deliverable_id=deliverable_id, document_ref="doc-1")
    p.approve_deliverable(meta, deliverable_id=deliverable_id)


def pass_stage(p: InteragencyProject, meta: EventMeta = META) -> None:
    """Plans, submits and approves one mandatory deliverable, then passes the gate."""
    approve(p, plan(p, meta=meta), meta)
    p.pass_gate(meta, reason="Этап выполнен", **BASIS)


def completed_project(meta: EventMeta = META) -> InteragencyProject:
    p = initiate(meta)
    for _ in STAGES:
        pass_stage(p, meta)
    return p


def state_of(p: InteragencyProject) -> dict[str, Any]:
    """A snapshot of everything a command may change.

    Stages and deliverables are mutable dataclasses: their full ``repr`` is the cheap copy.
    Events are immutable, so the pending ones are kept as they are.
    """
    return {
        "status": p.status,
        "active_stage": p.active_stage,
        "stages": repr(p.stages),
        "deliverables": repr(p.deliverables),
        "version": p.version,
        "pending": tuple(p.pending_events),
    }


def assert_refused(
    p: InteragencyProject,
    command: Callable[[], object],
    error: type[DomainError],
    *,
    rule: str | None = None,
    field: str | None = None,
) -> DomainError:
    """Runs a command that must be refused and checks that it changed nothing."""
    version, pending, before = p.version, len(p.pending_events), state_of(p)
    with pytest.raises(error) as caught:
        command()
    assert p.version == version
    assert len(p.pending_events) == pending
    assert state_of(p) == before
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
        assert caught.value.extra["rule"] == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def event_names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.fixture
def project() -> InteragencyProject:
    """A freshly initiated project whose ProjectInitiated event is already collected."""
    p = initiate()
    p.collect_events()
    return p
