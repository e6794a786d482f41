"""Commands on additional general education programs, their enrolments, and territories'
child population (the denominator of coverage)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.agreement import IN_FORCE, NetworkAgreement
from domain.errors import NotFoundError, RuleViolationError, StaleVersionError, ValidationError
from domain.population import TerritoryPopulation, population_id
from domain.program import Program
from domain.values import EventMeta
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class ProgramCommands(CommandPipeline):
    def draft_program(
        self,
        meta: EventMeta,
        *,
        title: str,
        description: str,
        provider_id: UUID,
        kind: str,
        direction: str | None,
        min_age: int,
        max_age: int,
        hours: int,
        capacity: int,
        form: str,
        partner_ids: list[UUID] | None = None,
        program_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Drafts a program of a registered provider (its agency and municipality are the
        program's), taught with registered partners if in the network form."""

        def create() -> Program:
            provider = self.require_organization(provider_id, "provider_id")
            for partner_id in dict.fromkeys(partner_ids or []):
                self.require_organization(partner_id, "partner_ids")
            return Program.draft(
                meta,
                program_id=program_id or uuid4(),
                title=title,
                description=description,
                provider_id=provider_id,
                agency=provider.agency.value,
                municipality=provider.municipality,
                kind=kind,
                direction=direction,
                min_age=min_age,
                max_age=max_age,
                hours=hours,
                capacity=capacity,
                form=form,
                partner_ids=partner_ids,
            )

        return self._create("draft_program", meta, create, idempotency)

    def approve_program(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        party_id: UUID,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """One teaching party's approval; the last one also approves the program."""

        def decide(p: Program) -> None:
            p.approve(meta, party_id=party_id)

        return self._program(
            "approve_program", meta, program_id, decide, expected_version, idempotency
        )

    def publish_program(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        agreement_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Publishes an approved program; a network one under an agreement in force that
        lists it."""

        def decide(p: Program) -> None:
            p.check_publishable(agreement_id)
            if agreement_id is not None:
                self._check_agreement_lists(agreement_id, p)
            p.publish(meta, agreement_id=agreement_id)

        return self._program(
            "publish_program", meta, program_id, decide, expected_version, idempotency
        )

    def archive_program(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(p: Program) -> None:
            p.archive(meta)

        return self._program(
            "archive_program", meta, program_id, decide, expected_version, idempotency
        )

    def change_program_capacity(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        capacity: int,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(p: Program) -> None:
            p.change_capacity(meta, capacity=capacity)

        return self._program(
            "change_program_capacity", meta, program_id, decide, expected_version, idempotency
        )

    def enrol_child(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        enrolment_id: UUID,
        child_id: str,
        birth_year: int,
        territory: str,
        funding_source: str,
        start_date: date,
        end_date: date | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Enrols a child. Concurrent enrolments in one program conflict (409), so the
        capacity can never be overrun by a race."""

        def decide(p: Program) -> None:
            p.enrol(
                meta,
                enrolment_id=enrolment_id,
                child_id=child_id,
                birth_year=birth_year,
                territory=territory,
                funding_source=funding_source,
                start_date=start_date,
                end_date=end_date,
            )

        return self._program("enrol_child", meta, program_id, decide, expected_version, idempotency)

    def enrol_children(
        self,
        meta: EventMeta,
        program_id: UUID,
        *,
        enrolments: Sequence[Mapping[str, Any]],
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Enrols several children in one save, all or none (a list transferred from the
        navigator, the demo). Each row holds the keyword arguments of :meth:`enrol_child`
        (``enrolment_id``, ``child_id``, ``birth_year``, ``territory``, ``funding_source``,
        ``start_date``, optionally ``end_date``); every rule applies to each in turn."""

        def decide(p: Program) -> None:
            if not enrolments:
                raise ValidationError("enrolments: give at least one child", field="enrolments")
            for row in enrolments:
                p.enrol(
                    meta,
                    enrolment_id=row["enrolment_id"],
                    child_id=row["child_id"],
                    birth_year=row["birth_year"],
                    territory=row["territory"],
                    funding_source=row["funding_source"],
                    start_date=row["start_date"],
                    end_date=row.get("end_date"),
                )

        return self._program(
            "enrol_children", meta, program_id, decide, expected_version, idempotency
        )

    def end_enrolment(
        self,
        meta: EventMeta,
        program_id: UUID,
        enrolment_id: UUID,
        *,
        end_date: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(p: Program) -> None:
            p.end_enrolment(meta, enrolment_id=enrolment_id, end_date=end_date)

        return self._program(
            "end_enrolment", meta, program_id, decide, expected_version, idempotency
        )

    def record_population(
        self,
        meta: EventMeta,
        *,
        municipality: str,
        territory: str,
        year: int,
        children_5_17: int,
        source: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Records a territory's children aged 5-17 for a year; the first figure opens the
        territory (same save). A territory not yet opened is at version 0 for If-Match."""
        territory_id = population_id(municipality, territory)

        def decide() -> tuple[TerritoryPopulation, list[Aggregate]]:
            try:
                t: TerritoryPopulation = self.repository.get(territory_id)
            except AggregateNotFoundError:
                t = TerritoryPopulation.open(meta, municipality=municipality, territory=territory)
                current = 0
            else:
                current = t.version
            if expected_version is not None and current != expected_version:
                raise StaleVersionError(
                    f"the territory population is at version {current}, not {expected_version}",
                    current_version=current,
                )
            t.record(meta, year=year, children_5_17=children_5_17, source=source)
            return t, []

        return self._run(
            "record_population", meta, territory_id, expected_version, decide, idempotency
        )

    # -- reads ------------------------------------------------------------------------

    def get_program(
        self, program_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> Program:
        return self._load(Program, program_id, version, as_of)

    def get_population(self, municipality: str, territory: str) -> TerritoryPopulation:
        return self._load(TerritoryPopulation, population_id(municipality, territory))

    # -- helpers ----------------------------------------------------------------------

    def _check_agreement_lists(self, agreement_id: UUID, program: Program) -> None:
        """The agreement exists, is in force, its version in force lists the program, and
        every organisation teaching the program teaches under it (base or participant)."""
        program_id = program.id
        try:
            agreement = self._load(NetworkAgreement, agreement_id)
        except NotFoundError:
            raise RuleViolationError(
                "network_program_needs_active_agreement",
                f"no network agreement {agreement_id}",
            ) from None
        if agreement.status not in IN_FORCE:
            raise RuleViolationError(
                "network_program_needs_active_agreement",
                f"agreement {agreement.number} is {agreement.status.value}, not in force",
            )
        if program_id not in agreement.in_force_program_ids():
            raise RuleViolationError(
                "network_program_needs_active_agreement",
                f"agreement {agreement.number} in force does not list this program",
            )
        assert agreement.current_version is not None  # in force
        teaching = set(agreement.teaching_party_ids(agreement.current_version))
        outside = [str(t) for t in program.teaching_parties if t not in teaching]
        if outside:
            raise RuleViolationError(
                "program_parties_in_agreement",
                f"agreement {agreement.number} does not name as base or participant the "
                f"organisations teaching this program: {', '.join(outside)}",
                organizations=outside,
            )

    def _program(
        self,
        command: str,
        meta: EventMeta,
        program_id: UUID,
        decide: Callable[[Program], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        return self._update(
            command, meta, Program, program_id, decide, expected_version, idempotency
        )
