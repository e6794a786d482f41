"""Commands on working groups, and the decision checks other commands rely on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.errors import NotFoundError, RuleViolationError
from domain.project import InteragencyProject
from domain.values import EventMeta
from domain.working_group import (
    DecisionIndex,
    DecisionTarget,
    QuorumRule,
    WorkingGroup,
)
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class GroupCommands(CommandPipeline):
    def establish_group(
        self,
        meta: EventMeta,
        *,
        kind: str,
        name: str,
        basis_act: str,
        municipality: str,
        project_id: UUID | None = None,
        quorum: QuorumRule | None = None,
        majority_rule: str = "simple",
        group_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def create() -> WorkingGroup:
            if project_id is not None:
                project = self._referenced_project(project_id)
                if project.municipality != municipality:
                    raise RuleViolationError(
                        "group_project_in_municipality",
                        f"project {project_id} belongs to {project.municipality!r}, "
                        f"not to {municipality!r}",
                    )
            return WorkingGroup.establish(
                meta,
                group_id=group_id or uuid4(),
                kind=kind,
                name=name,
                basis_act=basis_act,
                municipality=municipality,
                project_id=project_id,
                quorum=quorum,
                majority_rule=majority_rule,
            )

        return self._create("establish_group", meta, create, idempotency)

    def appoint_member(
        self,
        meta: EventMeta,
        group_id: UUID,
        *,
        member_id: UUID,
        person: str,
        organization: str,
        agency: str,
        position: str,
        voting: bool,
        appointed_on: date,
        organization_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            if organization_id is not None:
                self.require_organization(organization_id)
            g.appoint_member(
                meta,
                member_id=member_id,
                person=person,
                organization=organization,
                agency=agency,
                position=position,
                voting=voting,
                appointed_on=appointed_on,
                organization_id=organization_id,
            )

        return self._group("appoint_member", meta, group_id, decide, expected_version, idempotency)

    def dismiss_member(
        self,
        meta: EventMeta,
        group_id: UUID,
        member_id: UUID,
        *,
        dismissed_on: date,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.dismiss_member(meta, member_id=member_id, dismissed_on=dismissed_on, reason=reason)

        return self._group("dismiss_member", meta, group_id, decide, expected_version, idempotency)

    def schedule_meeting(
        self,
        meta: EventMeta,
        group_id: UUID,
        *,
        meeting_id: UUID,
        held_on: date,
        agenda: list[str],
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.schedule_meeting(meta, meeting_id=meeting_id, held_on=held_on, agenda=agenda)

        return self._group(
            "schedule_meeting", meta, group_id, decide, expected_version, idempotency
        )

    def record_attendance(
        self,
        meta: EventMeta,
        group_id: UUID,
        meeting_id: UUID,
        *,
        present: list[UUID],
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.record_attendance(meta, meeting_id=meeting_id, present=present)

        return self._group(
            "record_attendance", meta, group_id, decide, expected_version, idempotency
        )

    def vote_on_motion(
        self,
        meta: EventMeta,
        group_id: UUID,
        meeting_id: UUID,
        *,
        motion_id: UUID,
        agenda_item: str,
        text: str,
        votes: dict[UUID, str],
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.vote_on_motion(
                meta,
                meeting_id=meeting_id,
                motion_id=motion_id,
                agenda_item=agenda_item,
                text=text,
                votes=votes,
            )

        return self._group("vote_on_motion", meta, group_id, decide, expected_version, idempotency)

    def record_decision(
        self,
        meta: EventMeta,
        group_id: UUID,
        meeting_id: UUID,
        *,
        decision_id: UUID,
        protocol_number: str,
        text: str,
        motion_id: UUID,
        mechanism: str,
        targets: list[DecisionTarget] | None = None,
        corrects: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Records the protocol's decision on a voted motion, and indexes it atomically."""

        def decide(g: WorkingGroup) -> Sequence[Aggregate]:
            for t in targets or []:
                if t.project_id is None:
                    continue
                project = self._referenced_project(t.project_id)
                if not g.covers(project.id, project.municipality):
                    raise RuleViolationError(
                        "decision_target_in_scope",
                        f"project {project.id} is outside the scope of group {g.name!r}",
                    )
            g.record_decision(
                meta,
                decision_id=decision_id,
                meeting_id=meeting_id,
                protocol_number=protocol_number,
                text=text,
                motion_id=motion_id,
                mechanism=mechanism,
                targets=targets,
                corrects=corrects,
            )
            return [DecisionIndex.index(meta, decision_id=decision_id, group_id=g.id)]

        return self._group("record_decision", meta, group_id, decide, expected_version, idempotency)

    def sign_protocol(
        self,
        meta: EventMeta,
        group_id: UUID,
        meeting_id: UUID,
        *,
        protocol_number: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.sign_protocol(meta, meeting_id=meeting_id, protocol_number=protocol_number)

        return self._group("sign_protocol", meta, group_id, decide, expected_version, idempotency)

    def assign_action_item(
        self,
        meta: EventMeta,
        group_id: UUID,
        *,
        item_id: UUID,
        description: str,
        owner: str,
        deadline: date,
        decision_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.assign_action_item(
                meta,
                item_id=item_id,
                description=description,
                owner=owner,
                deadline=deadline,
                decision_id=decision_id,
            )

        return self._group(
            "assign_action_item", meta, group_id, decide, expected_version, idempotency
        )

    def complete_action_item(
        self,
        meta: EventMeta,
        group_id: UUID,
        item_id: UUID,
        *,
        done_on: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.complete_action_item(meta, item_id=item_id, done_on=done_on)

        return self._group(
            "complete_action_item", meta, group_id, decide, expected_version, idempotency
        )

    def dissolve_group(
        self,
        meta: EventMeta,
        group_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(g: WorkingGroup) -> None:
            g.dissolve(meta, reason=reason)

        return self._group("dissolve_group", meta, group_id, decide, expected_version, idempotency)

    # -- reads ------------------------------------------------------------------------

    def get_group(
        self, group_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> WorkingGroup:
        return self._load(WorkingGroup, group_id, version, as_of)

    def group_of_decision(self, decision_id: UUID) -> WorkingGroup:
        try:
            index = self._load(DecisionIndex, DecisionIndex.id_for(decision_id))
        except NotFoundError:
            raise NotFoundError(f"no decision {decision_id}", id=str(decision_id)) from None
        return self.get_group(index.group_id)

    # -- helpers ----------------------------------------------------------------------

    def _group(
        self,
        command: str,
        meta: EventMeta,
        group_id: UUID,
        decide: Callable[[WorkingGroup], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        return self._update(
            command, meta, WorkingGroup, group_id, decide, expected_version, idempotency
        )

    def _referenced_project(self, project_id: UUID) -> InteragencyProject:
        try:
            return self._load(InteragencyProject, project_id)
        except NotFoundError:
            raise RuleViolationError(
                "referenced_project_exists", f"no project {project_id}"
            ) from None
