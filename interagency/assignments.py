"""Commands on municipal assignments, and redistribution between them (all or nothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.assignment import (
    Leg,
    MunicipalAssignment,
    Redistribution,
    plan_redistribution,
)
from domain.errors import NotFoundError, RuleViolationError, ValidationError
from domain.values import EventMeta
from domain.working_group import TargetKind
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class AssignmentCommands(CommandPipeline):
    def draft_assignment(
        self,
        meta: EventMeta,
        *,
        organization_id: UUID | str,
        institution: str,
        agency: str,
        founder: str,
        municipality: str,
        fiscal_year: int,
        lines: list[dict[str, Any]],
        assignment_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Drafts the assignment of an institution that must be in the network register."""

        def create() -> MunicipalAssignment:
            oid = _organization_uuid(organization_id)
            assignment = MunicipalAssignment.draft(
                meta,
                assignment_id=assignment_id or uuid4(),
                organization_id=str(oid),
                institution=institution,
                agency=agency,
                founder=founder,
                municipality=municipality,
                fiscal_year=fiscal_year,
                lines=lines,
            )
            self.require_organization(oid)
            return assignment

        return self._create("draft_assignment", meta, create, idempotency)

    def approve_assignment(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        *,
        basis_document: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.approve(meta, basis_document=basis_document)

        return self._assignment(
            "approve_assignment", meta, assignment_id, decide, expected_version, idempotency
        )

    def amend_assignment(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        *,
        changes: list[tuple[str, int, Decimal]],
        reason: str,
        basis_document: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.amend(meta, changes=changes, reason=reason, basis_document=basis_document)

        return self._assignment(
            "amend_assignment", meta, assignment_id, decide, expected_version, idempotency
        )

    def report_execution(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        *,
        report_id: UUID,
        period: str,
        actual: dict[str, Decimal],
        reasons: dict[str, str] | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.report_execution(
                meta, report_id=report_id, period=period, actual=actual, reasons=reasons
            )

        return self._assignment(
            "report_execution", meta, assignment_id, decide, expected_version, idempotency
        )

    def accept_report(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        report_id: UUID,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.accept_report(meta, report_id=report_id)

        return self._assignment(
            "accept_report", meta, assignment_id, decide, expected_version, idempotency
        )

    def return_report(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        report_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.return_report(meta, report_id=report_id, reason=reason)

        return self._assignment(
            "return_report", meta, assignment_id, decide, expected_version, idempotency
        )

    def close_assignment(
        self,
        meta: EventMeta,
        assignment_id: UUID,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: MunicipalAssignment) -> None:
            a.close(meta)

        return self._assignment(
            "close_assignment", meta, assignment_id, decide, expected_version, idempotency
        )

    def redistribute(
        self,
        meta: EventMeta,
        *,
        legs: list[Leg],
        registry_number: str,
        unit: str,
        year: int,
        budget_basis: str | None = None,
        decision_id: UUID | None = None,
        redistribution_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Moves volume between assignments: the record and every leg in one ``save()``.

        Each assignment is saved at the version it was loaded at, so a concurrent write to
        any of them makes the whole redistribution conflict (409) and write nothing.
        """
        rid = redistribution_id or uuid4()

        def decide() -> tuple[Redistribution, list[Aggregate]]:
            assignments: dict[UUID, MunicipalAssignment] = {}
            for leg in legs:
                try:
                    assignments[leg.assignment_id] = self.get_assignment(leg.assignment_id)
                except NotFoundError:
                    raise RuleViolationError(
                        "redistribution_assignments_exist",
                        f"no assignment {leg.assignment_id}",
                    ) from None
            if decision_id is not None:
                municipalities = {a.municipality for a in assignments.values()}
                if len(municipalities) != 1:
                    raise RuleViolationError(
                        "redistribution_in_one_municipality",
                        "a decision covers one municipality; these assignments are in "
                        + ", ".join(sorted(municipalities)),
                    )
                self.decision_authority(
                    decision_id,
                    project_id=None,
                    municipality=municipalities.pop(),
                    kind=TargetKind.ASSIGNMENT_REDISTRIBUTION,
                )
            record = plan_redistribution(
                meta,
                redistribution_id=rid,
                assignments=assignments,
                legs=legs,
                registry_number=registry_number,
                unit=unit,
                year=year,
                budget_basis=budget_basis,
                decision_id=decision_id,
            )
            return record, list(assignments.values())

        return self._run("redistribute", meta, None, None, decide, idempotency)

    # -- reads ------------------------------------------------------------------------

    def get_assignment(
        self, assignment_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> MunicipalAssignment:
        return self._load(MunicipalAssignment, assignment_id, version, as_of)

    def get_redistribution(self, redistribution_id: UUID) -> Redistribution:
        return self._load(Redistribution, redistribution_id)

    # -- helpers ----------------------------------------------------------------------

    def _assignment(
        self,
        command: str,
        meta: EventMeta,
        assignment_id: UUID,
        decide: Callable[[MunicipalAssignment], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        return self._update(
            command,
            meta,
            MunicipalAssignment,
            assignment_id,
            decide,
            expected_version,
            idempotency,
        )


def _organization_uuid(organization_id: UUID | str) -> UUID:
    if isinstance(organization_id, UUID):
        return organization_id
    try:
        return UUID(organization_id)
    except ValueError:
        raise ValidationError(
            "organization_id: the id of an organisation of the register (a UUID)",
            field="organization_id",
        ) from None
