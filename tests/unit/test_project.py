"""Scenarios over the InteragencyProject aggregate and the events it records.

Given a project (built by commands), when a command runs, then the events it recorded
and the state they produced are as the domain says. Refused commands record nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.project import (
    STAGES,
    DeliverableState,
    InteragencyProject,
    ProjectOrganization,
    ProjectStatus,
    Stage,
    StageStatus,
    TargetIndicator,
    parse_organizations,
    parse_targets,
)
from domain.values import Agency, EventMeta, OrganizationKind, TargetDimension
from interagency.application import InteragencyApplication
from tests.unit.conftest import (
    BASIS,
    META,
    approve,
    assert_refused,
    completed_project,
    event_names,
    initiate,
    pass_stage,
    plan,
)

FIRST, SECOND, THIRD, FOURTH = STAGES
OTHER = EventMeta(
    actor_id="auditor-7",
    actor_role="official",
    actor_agency="sport",
    correlation_id="req-0002",
)


def replay(events: list[Any]) -> InteragencyProject:
    rebuilt = functools.reduce(lambda a, e: e.mutate(a), events, None)
    assert isinstance(rebuilt, InteragencyProject)
    return rebuilt


# -- initiation ---------------------------------------------------------------------


def test_a_new_project_has_its_first_stage_active_and_the_rest_not_started() -> None:
    # when
    p = initiate()
    # then
    assert p.status is ProjectStatus.ACTIVE
    assert p.active_stage is Stage.SOCIAL_TIES_PROGRAM
    assert [p.stages[s].status for s in STAGES] == [
        StageStatus.ACTIVE,
        StageStatus.NOT_STARTED,
        StageStatus.NOT_STARTED,
        StageStatus.NOT_STARTED,
    ]
    assert p.stages[FIRST].entered_at is not None
    assert all(p.stages[s].entered_at is None for s in STAGES[1:])
    assert p.deliverables == {}
    assert p.version == 1


def test_initiation_records_one_event_with_the_given_meta_and_cleaned_values() -> None:
    # when: duplicate agencies and padded text are submitted
    p = initiate(
        title="  Сеть «Точка роста»  ",
        agencies=["education", "culture", "education"],
        lead_agency="culture",
        strategic_priorities=[" Доступность "],
        organizations=[
            ProjectOrganization("ДДТ", OrganizationKind.ADDITIONAL_EDUCATION, Agency.EDUCATION)
        ],
        targets=[TargetIndicator(TargetDimension.COVERAGE, "Охват 5-17", 80.0, "%", 71.5)],
    )
    # then
    (event,) = p.collect_events()
    assert isinstance(event, InteragencyProject.ProjectInitiated)
    assert event.meta == META
    assert event.title == "Сеть «Точка роста»"
    assert event.agencies == ["education", "culture"]
    assert event.lead_agency == "culture"
    assert p.lead_agency is Agency.CULTURE
    assert p.agencies == [Agency.EDUCATION, Agency.CULTURE]
    assert p.strategic_priorities == ["Доступность"]
    assert p.organizations[0].kind is OrganizationKind.ADDITIONAL_EDUCATION
    assert p.targets[0].baseline == 71.5


@pytest.mark.parametrize(
    "agencies", [["education"], ["education", "education"]], ids=["one", "one-twice"]
)
def test_a_project_needs_at_least_two_distinct_agencies(agencies: list[str]) -> None:
    # when / then
    with pytest.raises(RuleViolationError) as caught:
        initiate(agencies=agencies)
    assert caught.value.rule == "at_least_two_agencies"


def test_the_lead_agency_must_be_among_the_participating_agencies() -> None:
    with pytest.raises(RuleViolationError) as caught:
        initiate(lead_agency="health", agencies=["education", "sport"])
    assert caught.value.rule == "lead_agency_participates"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lead_agency": "police"}, "lead_agency"),
        ({"agencies": ["education", "police"]}, "agencies"),
    ],
)
def test_an_unknown_agency_code_is_invalid_input_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        initiate(**overrides)
    assert caught.value.extra["field"] == field
    assert "police" in caught.value.detail


@pytest.mark.parametrize("field", ["title", "goal", "municipality"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_title_goal_or_municipality_is_invalid_input(field: str, blank: str) -> None:
    with pytest.raises(ValidationError) as caught:
        initiate(**{field: blank})
    assert caught.value.extra["field"] == field


def test_raw_targets_and_organizations_are_parsed_with_the_field_named_on_error() -> None:
    # given raw API input
    targets = parse_targets(
        [{"dimension": "quality", "name": " Доля ", "target_value": "90", "unit": "%"}]
    )
    orgs = parse_organizations([{"name": "Школа №1", "kind": "general_education"}])
    # then
    assert targets == [TargetIndicator(TargetDimension.QUALITY, "Доля", 90.0, "%")]
    assert orgs == [ProjectOrganization("Школа №1", OrganizationKind.GENERAL_EDUCATION)]
    with pytest.raises(ValidationError) as caught:
        parse_targets([{"dimension": "speed", "name": "x", "target_value": 1, "unit": "%"}])
    assert caught.value.extra["field"] == "targets.dimension"
    with pytest.raises(ValidationError) as caught:
        parse_organizations([{"name": "x", "kind": "school", "agency": "education"}])
    assert caught.value.extra["field"] == "organizations.kind"


# -- planning deliverables ------------------------------------------------------------


def test_planning_a_deliverable_into_the_active_stage_records_it_as_planned(
    project: InteragencyProject,
) -> None:
    # when
    d_id = uuid4()
    project.plan_deliverable(
        OTHER,
        deliverable_id=d_id,
        stage="social_ties_program",
        title=" Программа ",
        mechanism="strategic_priorities",
        mandatory=True,
        due_date=date(2025, 3, 1),
    )
    # then
    (event,) = project.collect_events()
    assert isinstance(event, InteragencyProject.DeliverablePlanned)
    assert event.meta == OTHER
    assert (event.deliverable_id, event.stage, event.title) == (d_id, FIRST.value, "Программа")
    d = project.deliverables[d_id]
    assert d.state is DeliverableState.PLANNED
    assert d.mandatory is True
    assert d.due_date == date(2025, 3, 1)
    assert d.submissions == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"stage": "stage_five"}, "stage"),
        ({"mechanism": "bribery"}, "mechanism"),
        ({"title": "  "}, "title"),
    ],
)
def test_planning_with_an_unknown_code_or_blank_title_is_invalid_input(
    project: InteragencyProject, overrides: dict[str, Any], field: str
) -> None:
    kwargs: dict[str, Any] = {
        "deliverable_id": uuid4(),
        "stage": "social_ties_program",
        "title": "Программа",
        "mechanism": "monitoring",
        "mandatory": True,
    }
    kwargs.update(overrides)
    assert_refused(
        project, lambda: project.plan_deliverable(META, **kwargs), ValidationError, field=field
    )


def test_planning_into_a_completed_stage_is_refused(project: InteragencyProject) -> None:
    # given the first stage is completed
    pass_stage(project)
    # when / then
    assert_refused(
        project, lambda: plan(project, stage=FIRST), RuleViolationError, rule="stage_not_completed"
    )


def test_planning_into_a_later_stage_is_allowed_but_work_waits_for_that_stage(
    project: InteragencyProject,
) -> None:
    # given a deliverable planned for the third stage while the first is active
    later = plan(project, stage=THIRD)
    assert project.deliverables[later].stage is THIRD
    # then it cannot be submitted yet
    assert_refused(
        project,
        lambda: project.submit_deliverable(META, deliverable_id=later),
        RuleViolationError,
        rule="deliverable_in_active_stage",
    )
    # and it does not block the first or the second gate
    pass_stage(project)
    pass_stage(project)
    # when its stage becomes active, it can be worked on
    assert project.active_stage is THIRD
    approve(project, later)
    assert project.deliverables[later].state is DeliverableState.APPROVED


def test_a_deliverable_id_can_be_planned_only_once(project: InteragencyProject) -> None:
    d_id = plan(project)
    assert_refused(
        project,
        lambda: project.plan_deliverable(
            META,
            deliverable_id=d_id,
            stage=SECOND.value,
            title="Другое",
            mechanism="regulation",
            mandatory=False,
        ),
        RuleViolationError,
        rule="deliverable_id_unique",
    )


# -- deliverable transitions --------------------------------------------------------


def test_a_submitted_deliverable_can_be_approved(project: InteragencyProject) -> None:
    # given
    d_id = plan(project)
    project.collect_events()
    # when
    project.submit_deliverable(META, deliverable_id=d_id, document_ref="doc-7")
    project.approve_deliverable(OTHER, deliverable_id=d_id)
    # then
    submitted, approved = project.collect_events()
    assert isinstance(submitted, InteragencyProject.DeliverableSubmitted)
    assert (submitted.deliverable_id, submitted.document_ref, submitted.meta) == (
        d_id,
        "doc-7",
        META,
    )
    assert isinstance(approved, InteragencyProject.DeliverableApproved)
    assert approved.meta == OTHER
    d = project.deliverables[d_id]
    assert (d.state, d.submissions, d.document_ref) == (DeliverableState.APPROVED, 1, "doc-7")


def test_a_rejected_deliverable_keeps_the_reason_and_can_be_resubmitted(
    project: InteragencyProject,
) -> None:
    # given a submitted deliverable
    d_id = plan(project)
    project.submit_deliverable(META, deliverable_id=d_id, document_ref="doc-1")
    project.collect_events()
    # when it is rejected
    project.reject_deliverable(OTHER, deliverable_id=d_id, reason=" Нет подписи ")
    # then the reason is on the event's meta and on the deliverable
    (rejected,) = project.collect_events()
    assert isinstance(rejected, InteragencyProject.DeliverableRejected)
    assert rejected.meta == OTHER.because("Нет подписи")
    d = project.deliverables[d_id]
    assert (d.state, d.rejection_reason) == (DeliverableState.REJECTED, "Нет подписи")
    # when it is resubmitted without a new document
    project.submit_deliverable(META, deliverable_id=d_id)
    # then it is submitted again, the old document kept and the reason cleared
    assert (d.state, d.submissions, d.rejection_reason, d.document_ref) == (
        DeliverableState.SUBMITTED,
        2,
        None,
        "doc-1",
    )
    # and it can now be approved
    project.approve_deliverable(META, deliverable_id=d_id)
    assert d.state is DeliverableState.APPROVED


def test_a_planned_deliverable_cannot_be_approved_or_rejected(
    project: InteragencyProject,
) -> None:
    d_id = plan(project)
    assert_refused(
        project,
        lambda: project.approve_deliverable(META, deliverable_id=d_id),
        RuleViolationError,
        rule="deliverable_submitted_before_review",
    )
    assert_refused(
        project,
        lambda: project.reject_deliverable(META, deliverable_id=d_id, reason="Плохо"),
        RuleViolationError,
        rule="deliverable_submitted_before_review",
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejecting_a_deliverable_needs_a_reason(project: InteragencyProject, reason: str) -> None:
    d_id = plan(project)
    project.submit_deliverable(META, deliverable_id=d_id)
    assert_refused(
        project,
        lambda: project.reject_deliverable(META, deliverable_id=d_id, reason=reason),
        ValidationError,
        field="reason",
    )
    assert project.deliverables[d_id].state is DeliverableState.SUBMITTED


def test_a_submitted_or_approved_deliverable_cannot_be_submitted_again(
    project: InteragencyProject,
) -> None:
    d_id = plan(project)
    project.submit_deliverable(META, deliverable_id=d_id)
    submit = functools.partial(project.submit_deliverable, META, deliverable_id=d_id)
    assert_refused(project, submit, RuleViolationError, rule="deliverable_submittable")
    project.approve_deliverable(META, deliverable_id=d_id)
    assert_refused(project, submit, RuleViolationError, rule="deliverable_submittable")


def test_a_deliverable_of_a_completed_stage_can_no_longer_be_worked_on(
    project: InteragencyProject,
) -> None:
    # given a submitted optional deliverable left behind in the completed first stage
    optional = plan(project, mandatory=False)
    project.submit_deliverable(META, deliverable_id=optional)
    pass_stage(project)
    # when / then: approve, reject, submit are all refused
    for command in (
        lambda: project.approve_deliverable(META, deliverable_id=optional),
        lambda: project.reject_deliverable(META, deliverable_id=optional, reason="Поздно"),
        lambda: project.submit_deliverable(META, deliverable_id=optional),
    ):
        assert_refused(project, command, RuleViolationError, rule="deliverable_in_active_stage")


def test_an_unknown_deliverable_is_refused(project: InteragencyProject) -> None:
    assert_refused(
        project,
        lambda: project.submit_deliverable(META, deliverable_id=uuid4()),
        RuleViolationError,
        rule="deliverable_exists",
    )


# -- stage gates ------------------------------------------------------------------------


def test_a_gate_does_not_pass_without_a_decision_or_basis_document(
    project: InteragencyProject,
) -> None:
    assert_refused(
        project,
        lambda: project.pass_gate(META, reason="Готово"),
        RuleViolationError,
        rule="gate_needs_basis",
    )


@pytest.mark.parametrize(
    "basis",
    [{"decision_ref": "  "}, {"basis_document": ""}, {"decision_ref": " ", "basis_document": "\t"}],
    ids=["blank-decision", "empty-document", "both-blank"],
)
def test_a_blank_decision_or_basis_document_is_no_basis_for_a_gate(
    project: InteragencyProject, basis: dict[str, str]
) -> None:
    assert_refused(
        project,
        lambda: project.pass_gate(META, reason="Готово", **basis),
        RuleViolationError,
        rule="gate_needs_basis",
    )


@pytest.mark.parametrize(
    "basis",
    [{"decision_ref": "Протокол №3"}, {"basis_document": "Приказ №5"}],
    ids=["decision", "document"],
)
def test_a_gate_passes_with_either_kind_of_basis_and_records_it(
    project: InteragencyProject, basis: dict[str, str]
) -> None:
    # when
    project.pass_gate(OTHER, reason="Программа утверждена", **basis)
    # then
    (passed,) = project.collect_events()
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert (passed.stage, passed.next_stage) == (FIRST.value, SECOND.value)
    assert passed.meta == OTHER.because("Программа утверждена", **basis)
    first, second = project.stages[FIRST], project.stages[SECOND]
    assert first.status is StageStatus.COMPLETED
    assert first.left_at == passed.timestamp
    assert first.gate_basis == {
        "decision_ref": basis.get("decision_ref"),
        "basis_document": basis.get("basis_document"),
        "reason": "Программа утверждена",
    }
    assert (second.status, second.entered_at) == (StageStatus.ACTIVE, passed.timestamp)
    assert project.active_stage is SECOND


def test_a_gates_basis_is_stored_trimmed_and_a_blank_one_is_dropped(
    project: InteragencyProject,
) -> None:
    project.pass_gate(META, reason="Готово", decision_ref=" Протокол №3 ", basis_document=" ")
    (passed,) = project.collect_events()
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert passed.meta == META.because("Готово", decision_ref="Протокол №3")


def test_passing_a_gate_needs_a_reason(project: InteragencyProject) -> None:
    assert_refused(
        project,
        lambda: project.pass_gate(META, reason=" ", **BASIS),
        ValidationError,
        field="reason",
    )


def test_a_gate_is_refused_listing_exactly_the_unapproved_mandatory_deliverables(
    project: InteragencyProject,
) -> None:
    # given mandatory deliverables in every state, optional ones and a later-stage one
    planned = plan(project, title="План")
    submitted = plan(project, title="На проверке")
    project.submit_deliverable(META, deliverable_id=submitted)
    rejected = plan(project, title="Отклонён")
    project.submit_deliverable(META, deliverable_id=rejected)
    project.reject_deliverable(META, deliverable_id=rejected, reason="Нет подписи")
    approve(project, plan(project, title="Утверждён"))
    plan(project, title="Необязательный", mandatory=False)
    plan(project, stage=SECOND, title="Позже")
    # when / then
    error = assert_refused(
        project,
        lambda: project.pass_gate(META, reason="Готово", **BASIS),
        RuleViolationError,
        rule="mandatory_deliverables_approved",
    )
    assert sorted(error.extra["unapproved"], key=lambda u: u["title"]) == sorted(
        [
            {"id": str(planned), "title": "План", "state": "planned"},
            {"id": str(submitted), "title": "На проверке", "state": "submitted"},
            {"id": str(rejected), "title": "Отклонён", "state": "rejected"},
        ],
        key=lambda u: u["title"],
    )
    assert project.active_stage is FIRST


def test_optional_deliverables_do_not_block_a_gate(project: InteragencyProject) -> None:
    # given only optional deliverables, none approved
    plan(project, mandatory=False)
    project.submit_deliverable(META, deliverable_id=plan(project, mandatory=False))
    # when
    project.pass_gate(META, reason="Готово", **BASIS)
    # then
    assert project.stages[FIRST].status is StageStatus.COMPLETED
    assert project.active_stage is SECOND


def test_passing_the_fourth_gate_completes_the_project(project: InteragencyProject) -> None:
    # given the first three stages passed
    for _ in range(3):
        pass_stage(project)
    assert project.active_stage is FOURTH
    project.collect_events()
    # when the last gate passes
    project.pass_gate(OTHER, reason="Проекты реализованы", decision_ref="Протокол №9")
    # then StageGatePassed then ProjectCompleted, both with the decision
    events = project.collect_events()
    assert event_names(events) == ["StageGatePassed", "ProjectCompleted"]
    passed, completed = events
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert (passed.stage, passed.next_stage) == (FOURTH.value, None)
    expected = OTHER.because("Проекты реализованы", decision_ref="Протокол №9")
    assert passed.meta == completed.meta == expected
    assert project.status is ProjectStatus.COMPLETED
    assert project.active_stage is None
    assert all(project.stages[s].status is StageStatus.COMPLETED for s in STAGES)


def test_rejecting_a_gate_counts_the_rejection_and_keeps_the_stage(
    project: InteragencyProject,
) -> None:
    # when the gate is rejected twice
    project.reject_gate(OTHER, reason="Нет согласования", decision_ref="Протокол №2")
    project.reject_gate(META, reason="Снова нет", basis_document="Письмо №4")
    # then
    first, second = project.collect_events()
    assert isinstance(first, InteragencyProject.StageGateRejected)
    assert first.stage == FIRST.value
    assert first.meta == OTHER.because("Нет согласования", decision_ref="Протокол №2")
    assert second.meta == META.because("Снова нет", basis_document="Письмо №4")
    assert project.stages[FIRST].gate_rejections == 2
    assert project.stages[FIRST].status is StageStatus.ACTIVE
    assert project.active_stage is FIRST
    # and rejecting needs a reason
    assert_refused(
        project,
        lambda: project.reject_gate(META, reason=""),
        ValidationError,
        field="reason",
    )


# -- suspend, resume, cancel ----------------------------------------------------------------


def work_commands(p: InteragencyProject) -> list[Callable[[], object]]:
    """Every command that needs an active project, aimed at valid targets."""
    d_id = next(iter(p.deliverables), uuid4())
    return [
        lambda: plan(p, stage=FOURTH),
        lambda: p.submit_deliverable(META, deliverable_id=d_id),
        lambda: p.approve_deliverable(META, deliverable_id=d_id),
        lambda: p.reject_deliverable(META, deliverable_id=d_id, reason="Нет"),
        lambda: p.pass_gate(META, reason="Готово", **BASIS),
        lambda: p.reject_gate(META, reason="Нет"),
    ]


def test_a_suspended_project_accepts_no_work_until_it_is_resumed(
    project: InteragencyProject,
) -> None:
    # given a submitted deliverable
    d_id = plan(project)
    project.submit_deliverable(META, deliverable_id=d_id)
    project.collect_events()
    # when the project is suspended
    project.suspend(OTHER, reason="Нет финансирования")
    # then
    (suspended,) = project.collect_events()
    assert isinstance(suspended, InteragencyProject.ProjectSuspended)
    assert suspended.meta == OTHER.because("Нет финансирования")
    assert project.status is ProjectStatus.SUSPENDED
    assert project.active_stage is FIRST
    for command in work_commands(project):
        assert_refused(project, command, RuleViolationError, rule="project_active")
    assert_refused(
        project,
        lambda: project.suspend(META, reason="Ещё раз"),
        RuleViolationError,
        rule="suspend_only_active",
    )
    # when it is resumed, work continues where it stopped
    project.resume(OTHER, reason="Финансирование восстановлено")
    (resumed,) = project.collect_events()
    assert isinstance(resumed, InteragencyProject.ProjectResumed)
    assert resumed.meta == OTHER.because("Финансирование восстановлено")
    assert project.status is ProjectStatus.ACTIVE
    project.approve_deliverable(META, deliverable_id=d_id)
    assert project.deliverables[d_id].state is DeliverableState.APPROVED


def test_only_a_suspended_project_can_be_resumed(project: InteragencyProject) -> None:
    assert_refused(
        project,
        lambda: project.resume(META, reason="Продолжаем"),
        RuleViolationError,
        rule="resume_only_suspended",
    )


@pytest.mark.parametrize("command", ["suspend", "resume", "cancel"])
def test_suspend_resume_and_cancel_need_a_reason(project: InteragencyProject, command: str) -> None:
    if command == "resume":
        project.suspend(META, reason="Пауза")
    assert_refused(
        project,
        lambda: getattr(project, command)(META, reason="  "),
        ValidationError,
        field="reason",
    )


@pytest.mark.parametrize("suspended_first", [False, True], ids=["active", "suspended"])
def test_cancelling_marks_the_active_stage_cancelled(
    project: InteragencyProject, suspended_first: bool
) -> None:
    # given the project is in its second stage (and maybe suspended)
    pass_stage(project)
    if suspended_first:
        project.suspend(META, reason="Пауза")
    project.collect_events()
    # when
    project.cancel(OTHER, reason="Проект закрыт решением комиссии")
    # then
    (cancelled,) = project.collect_events()
    assert isinstance(cancelled, InteragencyProject.ProjectCancelled)
    assert cancelled.stage == SECOND.value
    assert cancelled.meta == OTHER.because("Проект закрыт решением комиссии")
    assert project.status is ProjectStatus.CANCELLED
    assert project.active_stage is None
    assert [project.stages[s].status for s in STAGES] == [
        StageStatus.COMPLETED,
        StageStatus.CANCELLED,
        StageStatus.NOT_STARTED,
        StageStatus.NOT_STARTED,
    ]
    assert project.stages[SECOND].left_at == cancelled.timestamp


def closed_projects() -> list[tuple[str, InteragencyProject]]:
    cancelled = initiate()
    plan(cancelled)
    cancelled.cancel(META, reason="Отменён")
    return [("cancelled", cancelled), ("completed", completed_project())]


@pytest.mark.parametrize(("status", "p"), closed_projects(), ids=["cancelled", "completed"])
def test_a_cancelled_or_completed_project_refuses_every_command(
    status: str, p: InteragencyProject
) -> None:
    assert p.status.value == status
    for command in work_commands(p):
        assert_refused(p, command, RuleViolationError, rule="project_active")
    assert_refused(
        p, lambda: p.suspend(META, reason="x"), RuleViolationError, rule="suspend_only_active"
    )
    assert_refused(
        p, lambda: p.resume(META, reason="x"), RuleViolationError, rule="resume_only_suspended"
    )
    assert_refused(
        p, lambda: p.cancel(META, reason="x"), RuleViolationError, rule="cancel_only_open"
    )


# -- meta on every event --------------------------------------------------------------


def test_every_event_of_a_lifecycle_carries_the_actor_and_request_it_was_given() -> None:
    # given one meta per command, each with its own actor and request id
    given: list[EventMeta] = []

    def fresh() -> EventMeta:
        n = len(given)
        given.append(EventMeta(f"actor-{n}", "official", "culture", correlation_id=f"req-{n}"))
        return given[-1]

    p = initiate(fresh())
    # when the project runs through suspensions, gate rejections and all four stages
    for _ in STAGES:
        d_id = plan(p, meta=fresh())
        p.suspend(fresh(), reason="Пауза")
        p.resume(fresh(), reason="Продолжаем")
        p.reject_gate(fresh(), reason="Рано")
        p.submit_deliverable(fresh(), deliverable_id=d_id)
        p.reject_deliverable(fresh(), deliverable_id=d_id, reason="Исправить")
        p.submit_deliverable(fresh(), deliverable_id=d_id)
        p.approve_deliverable(fresh(), deliverable_id=d_id)
        p.pass_gate(fresh(), reason="Готово", **BASIS)
    expected = [*given, given[-1]]  # ProjectCompleted shares the last gate's meta
    # then
    events = p.collect_events()
    assert event_names(events)[-2:] == ["StageGatePassed", "ProjectCompleted"]
    assert len(events) == len(expected)
    for event, meta in zip(events, expected, strict=True):
        assert isinstance(event, DomainAggregate.Event)
        assert (event.meta.actor_id, event.meta.correlation_id) == (
            meta.actor_id,
            meta.correlation_id,
        )
        assert (event.meta.actor_role, event.meta.actor_agency) == ("official", "culture")


# -- replay ---------------------------------------------------------------------------------


def eventful_history() -> InteragencyProject:
    """A project that went through every kind of event except completion."""
    p = initiate(
        organizations=[ProjectOrganization("Школа №1", OrganizationKind.GENERAL_EDUCATION)],
        targets=[TargetIndicator(TargetDimension.ACCESS, "Доступность", 95.0, "%")],
        strategic_priorities=["Инженерное образование"],
    )
    later = plan(p, stage=THIRD, mandatory=False)
    d_id = plan(p)
    p.submit_deliverable(META, deliverable_id=d_id, document_ref="v1")
    p.reject_deliverable(OTHER, deliverable_id=d_id, reason="Исправить")
    p.submit_deliverable(META, deliverable_id=d_id, document_ref="v2")
    p.reject_gate(OTHER, reason="Не согласовано", decision_ref="Протокол №2")
    p.approve_deliverable(OTHER, deliverable_id=d_id)
    p.pass_gate(OTHER, reason="Готово", **BASIS)
    p.suspend(META, reason="Пауза")
    p.resume(META, reason="Продолжаем")
    pass_stage(p)
    p.submit_deliverable(META, deliverable_id=later)
    p.cancel(OTHER, reason="Отменён")
    return p


@pytest.mark.parametrize("build", [eventful_history, completed_project])
def test_replaying_the_recorded_events_rebuilds_the_same_project(
    build: Callable[[], InteragencyProject],
) -> None:
    # given a project built by commands
    p = build()
    # when its events are applied to nothing, one by one
    events = list(p.collect_events())
    rebuilt = replay(events)
    # then the state is the same
    assert rebuilt.version == p.version == len(events)
    assert rebuilt.status is p.status
    assert rebuilt.active_stage is p.active_stage
    assert rebuilt.stages == p.stages
    assert rebuilt.deliverables == p.deliverables
    assert rebuilt == p


def test_replaying_a_prefix_gives_the_project_as_it_was_then() -> None:
    # given a history whose ninth event passes the first gate
    p = eventful_history()
    events = list(p.collect_events())
    assert event_names(events)[8] == "StageGatePassed"
    # when only those events are replayed
    then = replay(events[:9])
    # then
    assert then.status is ProjectStatus.ACTIVE
    assert then.active_stage is SECOND
    assert then.stages[FIRST].gate_rejections == 1


# -- serialisation --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mapper() -> Mapper[Any]:
    """The application's transcodings on an in-memory application: no database."""
    app = InteragencyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    transcoder = JSONTranscoder()
    app.register_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def all_event_types() -> set[str]:
    return {
        name
        for name, value in vars(InteragencyProject).items()
        if isinstance(value, type) and issubclass(value, DomainAggregate.Event)
    } - {"Event", "Created"}


def test_every_event_type_survives_a_round_trip_through_the_stored_form(
    mapper: Mapper[Any],
) -> None:
    # given events of every type, with and without optional values
    bare = EventMeta(actor_id="system", actor_role="system")
    cancelled = eventful_history()
    dated = initiate(bare)
    dated.plan_deliverable(
        bare,
        deliverable_id=uuid4(),
        stage="regulatory_base",
        title="С датой",
        mechanism="licensing",
        mandatory=True,
        due_date=date(2026, 12, 31),
    )
    events = [
        *cancelled.collect_events(),
        *completed_project(OTHER).collect_events(),
        *dated.collect_events(),
    ]
    assert {type(e).__name__ for e in events} == all_event_types()
    # when each is stored and read back
    for event in events:
        stored = mapper.to_stored_event(event)
        restored = mapper.to_domain_event(stored)
        # then it is equal field by field
        assert type(restored) is type(event)
        assert restored == event
        assert vars(restored) == vars(event)
        assert restored.meta == event.meta  # type: ignore[attr-defined]
        assert restored.timestamp == event.timestamp
    due = [e for e in events if getattr(e, "due_date", None) is not None]
    assert [mapper.to_domain_event(mapper.to_stored_event(e)).due_date for e in due] == [  # type: ignore[attr-defined]
        date(2026, 12, 31)
    ]


def test_a_project_replayed_from_stored_events_equals_the_original(
    mapper: Mapper[Any],
) -> None:
    p = eventful_history()
    events = list(p.collect_events())
    restored = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
    assert replay(restored) == p
