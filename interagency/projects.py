"""Commands on interagency projects."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid4

from domain.project import InteragencyProject, ProjectOrganization, TargetIndicator
from domain.values import EventMeta
from domain.working_group import TargetKind
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class ProjectCommands(CommandPipeline):
    # -- projects -------------------------------------------------------------------

    def initiate_project(
        self,
        meta: EventMeta,
        *,
        title: str,
        goal: str,
        municipality: str,
        lead_agency: str,
        agencies: list[str],
        organizations: list[ProjectOrganization] | None = None,
        strategic_priorities: list[str] | None = None,
        targets: list[TargetIndicator] | None = None,
        project_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def create() -> InteragencyProject:
            project = InteragencyProject.initiate(
                meta,
                project_id=project_id or uuid4(),
                title=title,
                goal=goal,
                municipality=municipality,
                lead_agency=lead_agency,
                agencies=agencies,
                organizations=organizations,
                strategic_priorities=strategic_priorities,
                targets=targets,
            )
            for i, o in enumerate(organizations or []):
                if o.organization_id is not None:
                    self.require_organization(
                        o.organization_id, f"organizations[{i}].organization_id"
                    )
            return project

        return self._create("initiate_project", meta, create, idempotency)

    def plan_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        stage: str,
        title: str,
        mechanism: str,
        mandatory: bool = True,
        due_date: date | None = None,
        deliverable_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        new_id = deliverable_id or uuid4()
        return self._update(
            "plan_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.plan_deliverable(
                meta,
                deliverable_id=new_id,
                stage=stage,
                title=title,
                mechanism=mechanism,
                mandatory=mandatory,
                due_date=due_date,
            ),
            expected_version,
            idempotency,
        )

    def submit_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        document_ref: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "submit_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.submit_deliverable(
                meta, deliverable_id=deliverable_id, document_ref=document_ref
            ),
            expected_version,
            idempotency,
        )

    def approve_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        decision_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(p: InteragencyProject) -> None:
            if decision_id is not None:
                self.decision_authority(
                    decision_id,
                    project_id=p.id,
                    municipality=p.municipality,
                    kind=TargetKind.DELIVERABLE_APPROVAL,
                    deliverable_id=deliverable_id,
                )
            p.approve_deliverable(meta, deliverable_id=deliverable_id, decision_id=decision_id)

        return self._update(
            "approve_deliverable",
            meta,
            InteragencyProject,
            project_id,
            decide,
            expected_version,
            idempotency,
        )

    def reject_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "reject_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.reject_deliverable(meta, deliverable_id=deliverable_id, reason=reason),
            expected_version,
            idempotency,
        )

    def pass_gate(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
        decision_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Passes the active stage's gate; a cited ``decision_id`` is checked first."""

        def decide(p: InteragencyProject) -> None:
            if decision_id is not None:
                self.decision_authority(
                    decision_id,
                    project_id=p.id,
                    municipality=p.municipality,
                    kind=TargetKind.PROJECT_GATE,
                    stage=p.active_stage,
                )
            p.pass_gate(
                meta,
                reason=reason,
                decision_ref=decision_ref,
                basis_document=basis_document,
                decision_id=decision_id,
            )

        return self._update(
            "pass_gate", meta, InteragencyProject, project_id, decide, expected_version, idempotency
        )

    def reject_gate(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "reject_gate",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.reject_gate(
                meta, reason=reason, decision_ref=decision_ref, basis_document=basis_document
            ),
            expected_version,
            idempotency,
        )

    def suspend_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "suspend_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.suspend(meta, reason=reason),
            expected_version,
            idempotency,
        )

    def resume_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "resume_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.resume(meta, reason=reason),
            expected_version,
            idempotency,
        )

    def cancel_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "cancel_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.cancel(meta, reason=reason),
            expected_version,
            idempotency,
        )

    def get_project(
        self, project_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> InteragencyProject:
        return self._load(InteragencyProject, project_id, version, as_of)
