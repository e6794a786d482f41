"""Builders for Program scenarios: plain functions, usable by the state machine too."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import DomainError, RuleViolationError, ValidationError
from domain.program import Program
from domain.values import EventMeta
from tests.unit.conftest import META

START = date(2027, 9, 1)
PROVIDER = UUID("00000000-0000-4000-8000-000000000001")
PARTNER = UUID("00000000-0000-4000-8000-000000000002")


def draft_program(meta: EventMeta = META, **overrides: Any) -> Program:
    """A standalone technical program for ages 10-14, 30 places, of PROVIDER."""
    kwargs: dict[str, Any] = {
        "program_id": uuid4(),
        "title": "Робототехника: первые шаги",
        "description": "Конструирование и программирование роботов",
        "provider_id": PROVIDER,
        "agency": "education",
        "municipality": "Городской округ N",
        "kind": "general_developing",
        "direction": "technical",
        "min_age": 10,
        "max_age": 14,
        "hours": 144,
        "capacity": 30,
        "form": "standalone",
        "partner_ids": [],
    }
    kwargs.update(overrides)
    return Program.draft(meta, **kwargs)


def network_program(meta: EventMeta = META, **overrides: Any) -> Program:
    """A network program of PROVIDER taught with PARTNER."""
    kwargs: dict[str, Any] = {"form": "network", "partner_ids": [PARTNER]}
    kwargs.update(overrides)
    return draft_program(meta, **kwargs)


def approved_program(meta: EventMeta = META, **overrides: Any) -> Program:
    p = draft_program(meta, **overrides)
    for party in p.teaching_parties:
        p.approve(meta, party_id=party)
    return p


def published_program(meta: EventMeta = META, **overrides: Any) -> Program:
    p = approved_program(meta, **overrides)
    p.publish(meta, agreement_id=uuid4() if p.partner_ids else None)
    return p


def enrol(
    p: Program,
    child_id: str | None = None,
    *,
    birth_year: int = 2015,
    start_date: date = START,
    end_date: date | None = None,
    meta: EventMeta = META,
) -> UUID:
    """Enrols a child (a fresh pseudonymous id unless told) and returns the enrolment id."""
    enrolment_id = uuid4()
    p.enrol(
        meta,
        enrolment_id=enrolment_id,
        child_id=child_id or f"child-{uuid4().hex[:12]}",
        birth_year=birth_year,
        territory="микрорайон Северный",
        funding_source="certificate",
        start_date=start_date,
        end_date=end_date,
    )
    return enrolment_id


def program_state(p: Program) -> dict[str, Any]:
    """Everything a command may change; enrolments are copied field by field."""
    return {
        "status": p.status,
        "capacity": p.capacity,
        "approvals": set(p.approvals),
        "agreement_id": p.agreement_id,
        "enrolments": {k: copy.copy(e) for k, e in p.enrolments.items()},
        "active_enrolments": p.active_enrolments,
        "version": p.version,
        "pending": tuple(p.pending_events),
    }


def assert_refused(
    p: Program,
    command: Callable[[], object],
    error: type[DomainError] = RuleViolationError,
    *,
    rule: str | None = None,
    field: str | None = None,
) -> DomainError:
    """Runs a command that must be refused; checks it names its rule and changed nothing."""
    before = program_state(p)
    with pytest.raises(error) as caught:
        command()
    assert program_state(p) == before
    if rule is not None:
        assert caught.value.extra["rule"] == rule
        if isinstance(caught.value, RuleViolationError):
            assert caught.value.rule == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def refused_draft(
    error: type[DomainError] = ValidationError,
    *,
    rule: str | None = None,
    field: str | None = None,
    **overrides: Any,
) -> DomainError:
    with pytest.raises(error) as caught:
        draft_program(**overrides)
    if rule is not None:
        assert caught.value.extra["rule"] == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value
