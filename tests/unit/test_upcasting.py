"""Events stored before ``decision_id`` existed still read, and replay to the same project.

StageGatePassed and DeliverableApproved became class_version 2 when they gained a
``decision_id``. A v1 stored state has neither that field nor a ``class_version`` key;
the application's Mapper upcasts it on read.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper, StoredEvent

from domain.project import STAGES, InteragencyProject, ProjectStatus
from domain.values import EventMeta
from tests.unit.conftest import BASIS, META, approve, initiate, plan

PROJECT_ID = UUID("3f1c6a52-0d7e-4c1b-9a53-5b2f0e8d7c41")
DELIVERABLE_ID = UUID("8e2b4c1d-6f3a-4b7e-9c0d-1a2b3c4d5e6f")
TOPIC = "domain.project:InteragencyProject."

# Exactly as the Mapper wrote them before the change: no decision_id, no class_version.
STAGE_GATE_PASSED_V1 = (
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-02T10:15:00+00:00"},'
    '"meta":{"_type_":"event_meta","_data_":{"actor_id":"official-1","actor_role":"official",'
    '"actor_agency":"education","correlation_id":"req-0042","reason":"Этап выполнен",'
    '"decision_ref":"Протокол №1"}},'
    '"stage":"social_ties_program","next_stage":"interaction_mechanisms"}'
).encode()
DELIVERABLE_APPROVED_V1 = (
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-01T09:00:00+00:00"},'
    '"meta":{"_type_":"event_meta","_data_":{"actor_id":"official-1","actor_role":"official",'
    '"actor_agency":"education","correlation_id":"req-0041"}},'
    '"deliverable_id":{"_type_":"uuid_hex","_data_":"' + DELIVERABLE_ID.hex + '"}}'
).encode()

UPCAST = ("StageGatePassed", "DeliverableApproved")


def replay(events: list[Any]) -> InteragencyProject:
    rebuilt = functools.reduce(lambda a, e: e.mutate(a), events, None)
    assert isinstance(rebuilt, InteragencyProject)
    return rebuilt


def as_v1(stored: StoredEvent) -> StoredEvent:
    """The stored form the same event had before v2: without decision_id and class_version."""
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    assert state.pop("decision_id") is None, "a v1 event never cited a decision"
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode(),
    )


def test_a_v1_stage_gate_passed_reads_as_an_event_citing_no_decision(
    mapper: Mapper[Any],
) -> None:
    # given the event as stored before the change
    stored = StoredEvent(PROJECT_ID, 6, TOPIC + "StageGatePassed", STAGE_GATE_PASSED_V1)
    # when it is read
    event = mapper.to_domain_event(stored)
    # then it is the current class, upcast: decision_id None, everything else as stored
    assert isinstance(event, InteragencyProject.StageGatePassed)
    assert event.decision_id is None
    assert (event.originator_id, event.originator_version) == (PROJECT_ID, 6)
    assert (event.stage, event.next_stage) == ("social_ties_program", "interaction_mechanisms")
    assert event.timestamp == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert event.meta == EventMeta(
        actor_id="official-1",
        actor_role="official",
        actor_agency="education",
        correlation_id="req-0042",
        reason="Этап выполнен",
        decision_ref="Протокол №1",
    )
    assert "class_version" not in vars(event)


def test_a_v1_deliverable_approved_reads_as_an_event_citing_no_decision(
    mapper: Mapper[Any],
) -> None:
    stored = StoredEvent(PROJECT_ID, 5, TOPIC + "DeliverableApproved", DELIVERABLE_APPROVED_V1)
    event = mapper.to_domain_event(stored)
    assert isinstance(event, InteragencyProject.DeliverableApproved)
    assert event.decision_id is None
    assert event.deliverable_id == DELIVERABLE_ID
    assert event.meta.correlation_id == "req-0041"
    assert "class_version" not in vars(event)


def test_a_v1_event_written_again_is_stored_as_v2(mapper: Mapper[Any]) -> None:
    # given a v1 event read back
    event = mapper.to_domain_event(
        StoredEvent(PROJECT_ID, 6, TOPIC + "StageGatePassed", STAGE_GATE_PASSED_V1)
    )
    # when it is stored again
    state = json.loads(mapper.to_stored_event(event).state)
    # then it carries the version and the field, and reads back equal
    assert state["class_version"] == 2
    assert state["decision_id"] is None
    again = mapper.to_domain_event(mapper.to_stored_event(event))
    assert vars(again) == vars(event)


def mixed_history() -> InteragencyProject:
    """Two stages passed the old way (no decision), two citing decisions, completed."""
    p = initiate(project_id=PROJECT_ID)
    for _ in STAGES[:2]:
        approve(p, plan(p))
        p.pass_gate(META, reason="Этап выполнен", **BASIS)
    for _ in STAGES[2:]:
        deliverable_id = plan(p)
        p.submit_deliverable(META, deliverable_id=deliverable_id)
        p.approve_deliverable(META, deliverable_id=deliverable_id, decision_id=uuid4())
        p.pass_gate(META, reason="Решение группы", decision_id=uuid4())
    assert p.status is ProjectStatus.COMPLETED
    return p


def test_a_project_replayed_from_v1_and_v2_events_has_the_same_state(
    mapper: Mapper[Any],
) -> None:
    # given a project's history, whose events from before the change are stored as v1
    p = mixed_history()
    stored = [mapper.to_stored_event(e) for e in p.collect_events()]
    mixed = [
        as_v1(s) if s.topic.endswith(UPCAST) and json.loads(s.state)["decision_id"] is None else s
        for s in stored
    ]
    v1 = [s for s in mixed if s.topic.endswith(UPCAST) and b"class_version" not in s.state]
    v2 = [s for s in mixed if s.topic.endswith(UPCAST) and b"class_version" in s.state]
    assert (len(v1), len(v2)) == (4, 4)
    # when the project is replayed from the stored events
    rebuilt = replay([mapper.to_domain_event(s) for s in mixed])
    # then it is the same project: old gates cite no decision, new ones their decision
    assert rebuilt == p
    assert rebuilt.stages == p.stages
    assert rebuilt.deliverables == p.deliverables
    assert [rebuilt.stages[s].gate_decision_id is None for s in STAGES] == [
        True,
        True,
        False,
        False,
    ]
    approved_by = [d.approved_by_decision for d in rebuilt.deliverables.values()]
    assert [a is None for a in approved_by] == [True, True, False, False]
    # and it equals the project replayed from the v2 events alone
    assert replay([mapper.to_domain_event(s) for s in stored]) == rebuilt


@pytest.mark.parametrize("decision", [False, True], ids=["no-decision", "decision"])
def test_gate_and_approval_events_written_now_carry_class_version_2(
    mapper: Mapper[Any], decision: bool
) -> None:
    # given a gate passed and a deliverable approved, citing a decision or not
    decision_id = uuid4() if decision else None
    p = initiate()
    deliverable_id = plan(p)
    p.submit_deliverable(META, deliverable_id=deliverable_id)
    p.approve_deliverable(META, deliverable_id=deliverable_id, decision_id=decision_id)
    p.pass_gate(META, reason="Этап выполнен", decision_id=decision_id, **BASIS)
    # when they are stored
    states = {
        type(e).__name__: json.loads(mapper.to_stored_event(e).state) for e in p.collect_events()
    }
    # then the two v2 events carry their version and the decision; the others no version
    expected = None if decision_id is None else {"_type_": "uuid_hex", "_data_": decision_id.hex}
    for name in UPCAST:
        assert states[name]["class_version"] == 2
        assert states[name]["decision_id"] == expected
    assert all("class_version" not in s for n, s in states.items() if n not in UPCAST)
