"""The InteragencyProject aggregate: four strictly ordered stages, deliverables and gates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import (
    Agency,
    EventMeta,
    Mechanism,
    OrganizationKind,
    TargetDimension,
    parse_code,
    require_text,
)


class Stage(StrEnum):
    """The four implementation stages, in their only allowed order."""

    SOCIAL_TIES_PROGRAM = "social_ties_program"
    INTERACTION_MECHANISMS = "interaction_mechanisms"
    REGULATORY_BASE = "regulatory_base"
    INTERAGENCY_PROJECTS = "interagency_projects"

    @property
    def number(self) -> int:
        return STAGES.index(self) + 1

    def next(self) -> Stage | None:
        i = STAGES.index(self)
        return STAGES[i + 1] if i + 1 < len(STAGES) else None


STAGES: tuple[Stage, ...] = tuple(Stage)

STAGE_LABELS_RU: dict[Stage, str] = {
    Stage.SOCIAL_TIES_PROGRAM: "Разработка программы расширения социальных связей учреждений",
    Stage.INTERACTION_MECHANISMS: "Создание механизмов межведомственного взаимодействия",
    Stage.REGULATORY_BASE: "Разработка нормативно-правовой и организационно-управленческой базы",
    Stage.INTERAGENCY_PROJECTS: "Создание и реализация межведомственных проектов",
}


class ProjectStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StageStatus(StrEnum):
    NOT_STARTED = "not_started"
    ACTIVE = "active"
    COMPLETED = "completed"
    # The stage that was active when the project was cancelled.
    CANCELLED = "cancelled"


class DeliverableState(StrEnum):
    PLANNED = "planned"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class TargetIndicator:
    dimension: TargetDimension
    name: str
    target_value: float
    unit: str
    baseline: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension.value,
            "name": self.name,
            "target_value": self.target_value,
            "unit": self.unit,
            "baseline": self.baseline,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetIndicator:
        return cls(
            dimension=TargetDimension(d["dimension"]),
            name=d["name"],
            target_value=float(d["target_value"]),
            unit=d["unit"],
            baseline=None if d.get("baseline") is None else float(d["baseline"]),
        )


@dataclass(frozen=True)
class ProjectOrganization:
    """An organisation taking part; ``organization_id`` names its entry in the network
    register (checked on write), None in projects initiated before the register existed."""

    name: str
    kind: OrganizationKind
    agency: Agency | None = None
    organization_id: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "agency": None if self.agency is None else self.agency.value,
            "organization_id": None if self.organization_id is None else str(self.organization_id),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProjectOrganization:
        agency = d.get("agency")
        organization_id = d.get("organization_id")
        return cls(
            name=d["name"],
            kind=OrganizationKind(d["kind"]),
            agency=None if agency is None else Agency(agency),
            organization_id=None if organization_id is None else UUID(organization_id),
        )


@dataclass
class Deliverable:
    id: UUID
    stage: Stage
    title: str
    mechanism: Mechanism
    mandatory: bool
    due_date: date | None
    state: DeliverableState = DeliverableState.PLANNED
    rejection_reason: str | None = None
    submissions: int = 0
    document_ref: str | None = None
    approved_by_decision: UUID | None = None


@dataclass
class StageState:
    stage: Stage
    status: StageStatus = StageStatus.NOT_STARTED
    entered_at: datetime | None = None
    left_at: datetime | None = None
    gate_basis: dict[str, str | None] | None = None
    gate_decision_id: UUID | None = None
    gate_rejections: int = 0


@dataclass(frozen=True)
class UnapprovedDeliverable:
    id: UUID
    title: str
    state: DeliverableState


class InteragencyProject(DomainAggregate):
    """A project of interagency interaction (проект межведомственного взаимодействия).

    State changes only in the events' ``apply``; commands check the rules first and
    raise a :class:`RuleViolationError` that names the rule, so a refused command
    records nothing.
    """

    # -- events -------------------------------------------------------------------

    class ProjectInitiated(DomainAggregate.Created):
        title: str
        goal: str
        municipality: str
        lead_agency: str
        agencies: list[str]
        organizations: list[dict[str, Any]]
        strategic_priorities: list[str]
        targets: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.title = self.title
            p.goal = self.goal
            p.municipality = self.municipality
            p.lead_agency = Agency(self.lead_agency)
            p.agencies = [Agency(a) for a in self.agencies]
            p.organizations = [ProjectOrganization.from_dict(o) for o in self.organizations]
            p.strategic_priorities = list(self.strategic_priorities)
            p.targets = [TargetIndicator.from_dict(t) for t in self.targets]
            p.status = ProjectStatus.ACTIVE
            p.stages = {s: StageState(stage=s) for s in STAGES}
            p.deliverables = {}
            p.active_stage = STAGES[0]
            first = p.stages[STAGES[0]]
            first.status = StageStatus.ACTIVE
            first.entered_at = self.timestamp

    class DeliverablePlanned(DomainAggregate.Event):
        deliverable_id: UUID
        stage: str
        title: str
        mechanism: str
        mandatory: bool
        due_date: date | None

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.deliverables[self.deliverable_id] = Deliverable(
                id=self.deliverable_id,
                stage=Stage(self.stage),
                title=self.title,
                mechanism=Mechanism(self.mechanism),
                mandatory=self.mandatory,
                due_date=self.due_date,
            )

    class DeliverableSubmitted(DomainAggregate.Event):
        deliverable_id: UUID
        document_ref: str | None

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            d = p.deliverables[self.deliverable_id]
            d.state = DeliverableState.SUBMITTED
            d.submissions += 1
            d.rejection_reason = None
            if self.document_ref is not None:
                d.document_ref = self.document_ref

    class DeliverableApproved(DomainAggregate.Event):
        deliverable_id: UUID
        # v2: the working-group decision that authorised the approval, checked on write.
        decision_id: UUID | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["decision_id"] = None

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            d = p.deliverables[self.deliverable_id]
            d.state = DeliverableState.APPROVED
            d.approved_by_decision = self.decision_id

    class DeliverableRejected(DomainAggregate.Event):
        deliverable_id: UUID

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            d = p.deliverables[self.deliverable_id]
            d.state = DeliverableState.REJECTED
            d.rejection_reason = self.meta.reason

    class StageGatePassed(DomainAggregate.Event):
        stage: str
        next_stage: str | None
        # v2: the working-group decision that authorised the pass, checked on write.
        decision_id: UUID | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["decision_id"] = None

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            left = p.stages[Stage(self.stage)]
            left.status = StageStatus.COMPLETED
            left.left_at = self.timestamp
            left.gate_basis = {
                "decision_ref": self.meta.decision_ref,
                "basis_document": self.meta.basis_document,
                "reason": self.meta.reason,
            }
            left.gate_decision_id = self.decision_id
            if self.next_stage is None:
                p.active_stage = None
            else:
                nxt = p.stages[Stage(self.next_stage)]
                nxt.status = StageStatus.ACTIVE
                nxt.entered_at = self.timestamp
                p.active_stage = nxt.stage

    class StageGateRejected(DomainAggregate.Event):
        stage: str

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.stages[Stage(self.stage)].gate_rejections += 1

    class ProjectCompleted(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.status = ProjectStatus.COMPLETED

    class ProjectSuspended(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.status = ProjectStatus.SUSPENDED

    class ProjectResumed(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.status = ProjectStatus.ACTIVE

    class ProjectCancelled(DomainAggregate.Event):
        stage: str | None

        def apply(self, aggregate: Any) -> None:
            p: InteragencyProject = aggregate
            p.status = ProjectStatus.CANCELLED
            if self.stage is not None:
                st = p.stages[Stage(self.stage)]
                st.status = StageStatus.CANCELLED
                st.left_at = self.timestamp
            p.active_stage = None

    # -- state: set only by the events. Declared for type checkers alone, because
    # class-level annotations would turn the aggregate into a dataclass at run time.
    if TYPE_CHECKING:
        title: str
        goal: str
        municipality: str
        lead_agency: Agency
        agencies: list[Agency]
        organizations: list[ProjectOrganization]
        strategic_priorities: list[str]
        targets: list[TargetIndicator]
        status: ProjectStatus
        stages: dict[Stage, StageState]
        deliverables: dict[UUID, Deliverable]
        active_stage: Stage | None

    # -- commands -------------------------------------------------------------------

    @classmethod
    def initiate(
        cls,
        meta: EventMeta,
        *,
        project_id: UUID,
        title: str,
        goal: str,
        municipality: str,
        lead_agency: str,
        agencies: list[str],
        organizations: list[ProjectOrganization] | None = None,
        strategic_priorities: list[str] | None = None,
        targets: list[TargetIndicator] | None = None,
    ) -> InteragencyProject:
        lead = parse_code(Agency, lead_agency, "lead_agency")
        parsed = [parse_code(Agency, a, "agencies") for a in agencies]
        distinct = list(dict.fromkeys(parsed))
        if lead not in distinct:
            raise RuleViolationError(
                "lead_agency_participates",
                f"the lead agency {lead.value!r} must be among the participating agencies",
            )
        if len(distinct) < 2:
            raise RuleViolationError(
                "at_least_two_agencies",
                "an interagency project involves at least two distinct agencies; "
                f"got {[a.value for a in distinct]}",
            )
        orgs = organizations or []
        return cls._create(
            cls.ProjectInitiated,
            id=project_id,
            meta=meta,
            title=require_text(title, "title", 300),
            goal=require_text(goal, "goal"),
            municipality=require_text(municipality, "municipality", 200),
            lead_agency=lead.value,
            agencies=[a.value for a in distinct],
            organizations=[o.as_dict() for o in orgs],
            strategic_priorities=[
                require_text(s, "strategic_priorities", 500) for s in strategic_priorities or []
            ],
            targets=[t.as_dict() for t in targets or []],
        )

    def plan_deliverable(
        self,
        meta: EventMeta,
        *,
        deliverable_id: UUID,
        stage: str,
        title: str,
        mechanism: str,
        mandatory: bool,
        due_date: date | None = None,
    ) -> None:
        self._check_open_for_work()
        st = parse_code(Stage, stage, "stage")
        mech = parse_code(Mechanism, mechanism, "mechanism")
        if self.stages[st].status is StageStatus.COMPLETED:
            raise RuleViolationError(
                "stage_not_completed",
                f"stage {st.value!r} is already completed; plan deliverables for the "
                f"active stage {self._active().value!r} or a later one",
            )
        if deliverable_id in self.deliverables:
            raise RuleViolationError(
                "deliverable_id_unique", f"deliverable {deliverable_id} already exists"
            )
        self.trigger_event(
            self.DeliverablePlanned,
            meta=meta,
            deliverable_id=deliverable_id,
            stage=st.value,
            title=require_text(title, "title", 300),
            mechanism=mech.value,
            mandatory=bool(mandatory),
            due_date=due_date,
        )

    def submit_deliverable(
        self, meta: EventMeta, *, deliverable_id: UUID, document_ref: str | None = None
    ) -> None:
        d = self._deliverable_in_active_stage(deliverable_id, "submit")
        if d.state not in (DeliverableState.PLANNED, DeliverableState.REJECTED):
            raise RuleViolationError(
                "deliverable_submittable",
                f"deliverable {d.id} is {d.state.value}; only a planned or rejected "
                "deliverable can be submitted",
            )
        self.trigger_event(
            self.DeliverableSubmitted,
            meta=meta,
            deliverable_id=d.id,
            document_ref=document_ref,
        )

    def approve_deliverable(
        self, meta: EventMeta, *, deliverable_id: UUID, decision_id: UUID | None = None
    ) -> None:
        """Approves a submitted deliverable; ``decision_id`` must already be checked."""
        d = self._deliverable_in_active_stage(deliverable_id, "approve")
        if d.state is not DeliverableState.SUBMITTED:
            raise RuleViolationError(
                "deliverable_submitted_before_review",
                f"deliverable {d.id} is {d.state.value}; only a submitted deliverable "
                "can be approved",
            )
        self.trigger_event(
            self.DeliverableApproved,
            meta=_with_decision(meta, decision_id),
            deliverable_id=d.id,
            decision_id=decision_id,
        )

    def reject_deliverable(self, meta: EventMeta, *, deliverable_id: UUID, reason: str) -> None:
        d = self._deliverable_in_active_stage(deliverable_id, "reject")
        if d.state is not DeliverableState.SUBMITTED:
            raise RuleViolationError(
                "deliverable_submitted_before_review",
                f"deliverable {d.id} is {d.state.value}; only a submitted deliverable "
                "can be rejected",
            )
        self.trigger_event(
            self.DeliverableRejected,
            meta=meta.because(require_text(reason, "reason")),
            deliverable_id=d.id,
        )

    def pass_gate(
        self,
        meta: EventMeta,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
        decision_id: UUID | None = None,
    ) -> None:
        """Passes the active stage's gate.

        ``decision_id`` names a working-group decision that the application has already
        checked (adopted, signed, in force, covering this project); it counts as a basis.
        """
        self._check_open_for_work()
        stage = self._active()
        # A blank reference is no basis: normalise it away before the rule is checked.
        decision_ref = (decision_ref or "").strip() or None
        basis_document = (basis_document or "").strip() or None
        if decision_id is not None and decision_ref is None:
            decision_ref = str(decision_id)
        if not (decision_ref or basis_document):
            raise RuleViolationError(
                "gate_needs_basis",
                "passing a stage gate needs a basis: a decision reference or a basis document",
            )
        missing = self.unapproved_mandatory(stage)
        if missing:
            listing = "; ".join(f"{m.title!r} ({m.id}, {m.state.value})" for m in missing)
            raise RuleViolationError(
                "mandatory_deliverables_approved",
                f"the gate of stage {stage.value!r} cannot pass: {len(missing)} mandatory "
                f"deliverable(s) not approved: {listing}",
                unapproved=[
                    {"id": str(m.id), "title": m.title, "state": m.state.value} for m in missing
                ],
            )
        why = meta.because(
            require_text(reason, "reason"),
            basis_document=basis_document,
            decision_ref=decision_ref,
        )
        nxt = stage.next()
        self.trigger_event(
            self.StageGatePassed,
            meta=why,
            stage=stage.value,
            next_stage=None if nxt is None else nxt.value,
            decision_id=decision_id,
        )
        if nxt is None:
            self.trigger_event(self.ProjectCompleted, meta=why)

    def reject_gate(
        self,
        meta: EventMeta,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
    ) -> None:
        self._check_open_for_work()
        stage = self._active()
        self.trigger_event(
            self.StageGateRejected,
            meta=meta.because(
                require_text(reason, "reason"),
                basis_document=basis_document,
                decision_ref=decision_ref,
            ),
            stage=stage.value,
        )

    def suspend(self, meta: EventMeta, *, reason: str) -> None:
        if self.status is not ProjectStatus.ACTIVE:
            raise RuleViolationError(
                "suspend_only_active",
                f"only an active project can be suspended; this one is {self.status.value}",
            )
        self.trigger_event(self.ProjectSuspended, meta=meta.because(require_text(reason, "reason")))

    def resume(self, meta: EventMeta, *, reason: str) -> None:
        if self.status is not ProjectStatus.SUSPENDED:
            raise RuleViolationError(
                "resume_only_suspended",
                f"only a suspended project can be resumed; this one is {self.status.value}",
            )
        self.trigger_event(self.ProjectResumed, meta=meta.because(require_text(reason, "reason")))

    def cancel(self, meta: EventMeta, *, reason: str) -> None:
        if self.status not in (ProjectStatus.ACTIVE, ProjectStatus.SUSPENDED):
            raise RuleViolationError(
                "cancel_only_open",
                f"a {self.status.value} project cannot be cancelled",
            )
        self.trigger_event(
            self.ProjectCancelled,
            meta=meta.because(require_text(reason, "reason")),
            stage=None if self.active_stage is None else self.active_stage.value,
        )

    # -- queries --------------------------------------------------------------------

    def deliverables_of(self, stage: Stage) -> list[Deliverable]:
        return [d for d in self.deliverables.values() if d.stage is stage]

    def unapproved_mandatory(self, stage: Stage) -> list[UnapprovedDeliverable]:
        return [
            UnapprovedDeliverable(d.id, d.title, d.state)
            for d in self.deliverables_of(stage)
            if d.mandatory and d.state is not DeliverableState.APPROVED
        ]

    # -- rules ----------------------------------------------------------------------

    def _check_open_for_work(self) -> None:
        if self.status is not ProjectStatus.ACTIVE:
            raise RuleViolationError(
                "project_active",
                f"the project is {self.status.value}; only an active project accepts this command",
            )

    def _active(self) -> Stage:
        if self.active_stage is None:  # pragma: no cover - guarded by status checks
            raise RuleViolationError("project_active", "the project has no active stage")
        return self.active_stage

    def _deliverable_in_active_stage(self, deliverable_id: UUID, verb: str) -> Deliverable:
        self._check_open_for_work()
        d = self.deliverables.get(deliverable_id)
        if d is None:
            raise RuleViolationError(
                "deliverable_exists", f"no deliverable {deliverable_id} in this project"
            )
        if d.stage is not self.active_stage:
            raise RuleViolationError(
                "deliverable_in_active_stage",
                f"cannot {verb} deliverable {d.id}: it belongs to stage {d.stage.value!r}, "
                f"and the active stage is {self._active().value!r}",
            )
        return d


def _with_decision(meta: EventMeta, decision_id: UUID | None) -> EventMeta:
    """Records a cited decision as the event's decision reference, unless one is given."""
    if decision_id is None or meta.decision_ref:
        return meta
    return meta.because(
        meta.reason, basis_document=meta.basis_document, decision_ref=str(decision_id)
    )


def parse_targets(raw: list[dict[str, Any]]) -> list[TargetIndicator]:
    out = []
    for t in raw:
        out.append(
            TargetIndicator(
                dimension=parse_code(TargetDimension, t["dimension"], "targets.dimension"),
                name=require_text(t["name"], "targets.name", 300),
                target_value=float(t["target_value"]),
                unit=require_text(t["unit"], "targets.unit", 50),
                baseline=None if t.get("baseline") is None else float(t["baseline"]),
            )
        )
    return out


def parse_organizations(raw: list[dict[str, Any]]) -> list[ProjectOrganization]:
    out = []
    for o in raw:
        agency = o.get("agency")
        out.append(
            ProjectOrganization(
                name=require_text(o["name"], "organizations.name", 300),
                kind=parse_code(OrganizationKind, o["kind"], "organizations.kind"),
                agency=None
                if agency is None
                else parse_code(Agency, agency, "organizations.agency"),
            )
        )
    return out


__all__ = [
    "STAGES",
    "Deliverable",
    "DeliverableState",
    "InteragencyProject",
    "ProjectOrganization",
    "ProjectStatus",
    "Stage",
    "StageStatus",
    "TargetIndicator",
    "ValidationError",
]
