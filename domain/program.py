"""Additional general education programs (дополнительные общеобразовательные программы).

A program is drafted by its provider, alone (standalone form) or with partners that teach
part of it (network form, 273-FZ art. 15); every teaching party approves it; it is published
for families (a network program only under an agreement in force that lists it), children
are enrolled within its capacity, and it is archived once no child studies in it.

Children are known by a pseudonymous id and their birth year only: never by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.assignment import Direction
from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import Agency, EventMeta, parse_code, require_text

MIN_AGE = 3
MAX_AGE = 99
MAX_HOURS = 100_000
MAX_CAPACITY = 100_000
MAX_PARTNERS = 50
CHILD_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
# Dates of enrolments are kept within these years (a typo such as 0227 is refused).
FIRST_YEAR = 2000
LAST_YEAR = 2100
MIN_BIRTH_YEAR = FIRST_YEAR - MAX_AGE


class ProgramKind(StrEnum):
    """General-developing (общеразвивающая, art. 75) or pre-professional (предпрофессиональная,
    arts art. 83, sport art. 84)."""

    GENERAL_DEVELOPING = "general_developing"
    PRE_PROFESSIONAL_ARTS = "pre_professional_arts"
    SPORT_TRAINING = "sport_training"


# A pre-professional or sport-training program has the one direction its kind implies.
DIRECTION_OF_KIND: dict[ProgramKind, Direction] = {
    ProgramKind.PRE_PROFESSIONAL_ARTS: Direction.ARTISTIC,
    ProgramKind.SPORT_TRAINING: Direction.PHYSICAL_CULTURE_SPORT,
}


class ProgramForm(StrEnum):
    STANDALONE = "standalone"
    NETWORK = "network"


class ProgramStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class FundingSource(StrEnum):
    MUNICIPAL_ASSIGNMENT = "municipal_assignment"
    CERTIFICATE = "certificate"  # сертификат персонифицированного финансирования
    PAID = "paid"


@dataclass
class Enrolment:
    """One child's place in the program. ``end_date`` is the planned end until the
    enrolment is ended, then the actual one."""

    enrolment_id: UUID
    child_id: str
    birth_year: int
    territory: str
    funding_source: FundingSource
    start_date: date
    end_date: date | None
    active: bool = True


def _bounded(value: int, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field} must be a whole number within {low}-{high}", field=field)
    return value


def _in_years(d: date, field: str) -> date:
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise ValidationError(f"{field} must be within {FIRST_YEAR}-{LAST_YEAR}", field=field)
    return d


class Program(DomainAggregate):
    """One program of the municipal network, with the enrolments of children in it."""

    class ProgramDrafted(DomainAggregate.Created):
        title: str
        description: str
        provider_id: UUID
        agency: str
        municipality: str
        kind: str
        direction: str
        min_age: int
        max_age: int
        hours: int
        capacity: int
        form: str
        partner_ids: list[UUID]

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.title = self.title
            p.description = self.description
            p.provider_id = self.provider_id
            p.agency = Agency(self.agency)
            p.municipality = self.municipality
            p.kind = ProgramKind(self.kind)
            p.direction = Direction(self.direction)
            p.min_age = self.min_age
            p.max_age = self.max_age
            p.hours = self.hours
            p.capacity = self.capacity
            p.form = ProgramForm(self.form)
            p.partner_ids = list(self.partner_ids)
            p.approvals = set()
            p.status = ProgramStatus.DRAFT
            p.agreement_id = None
            p.enrolments = {}
            p.active_enrolments = 0

    class ProgramApprovedByParty(DomainAggregate.Event):
        party_id: UUID

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.approvals.add(self.party_id)

    class ProgramApproved(DomainAggregate.Event):
        """Every teaching party has approved: recorded by the last approval's command."""

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.status = ProgramStatus.APPROVED

    class ProgramPublished(DomainAggregate.Event):
        agreement_id: UUID | None

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.status = ProgramStatus.PUBLISHED
            p.agreement_id = self.agreement_id

    class ProgramArchived(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.status = ProgramStatus.ARCHIVED

    class ProgramCapacityChanged(DomainAggregate.Event):
        capacity: int
        previous_capacity: int

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.capacity = self.capacity

    class ChildEnrolled(DomainAggregate.Event):
        enrolment_id: UUID
        child_id: str
        birth_year: int
        territory: str
        funding_source: str
        start_date: date
        end_date: date | None

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            p.enrolments[self.enrolment_id] = Enrolment(
                enrolment_id=self.enrolment_id,
                child_id=self.child_id,
                birth_year=self.birth_year,
                territory=self.territory,
                funding_source=FundingSource(self.funding_source),
                start_date=self.start_date,
                end_date=self.end_date,
            )
            p.active_enrolments += 1

    class EnrolmentEnded(DomainAggregate.Event):
        enrolment_id: UUID
        end_date: date

        def apply(self, aggregate: Any) -> None:
            p: Program = aggregate
            e = p.enrolments[self.enrolment_id]
            e.active = False
            e.end_date = self.end_date
            p.active_enrolments -= 1

    if TYPE_CHECKING:
        title: str
        description: str
        provider_id: UUID
        agency: Agency
        municipality: str
        kind: ProgramKind
        direction: Direction
        min_age: int
        max_age: int
        hours: int
        capacity: int
        form: ProgramForm
        partner_ids: list[UUID]
        approvals: set[UUID]
        status: ProgramStatus
        agreement_id: UUID | None
        enrolments: dict[UUID, Enrolment]
        active_enrolments: int

    # -- commands -------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        meta: EventMeta,
        *,
        program_id: UUID,
        title: str,
        description: str,
        provider_id: UUID,
        agency: str,
        municipality: str,
        kind: str,
        direction: str | None,
        min_age: int,
        max_age: int,
        hours: int,
        capacity: int,
        form: str,
        partner_ids: list[UUID] | None = None,
    ) -> Program:
        """Drafts a program. ``agency`` and ``municipality`` are the provider's."""
        k = parse_code(ProgramKind, kind, "kind")
        d = None if direction is None else parse_code(Direction, direction, "direction")
        implied = DIRECTION_OF_KIND.get(k)
        if implied is None and d is None:
            raise ValidationError(
                "a general-developing program has exactly one of the "
                "six directions; give its direction",
                field="direction",
                rule="direction_matches_kind",
            )
        if implied is not None and d is not None and d is not implied:
            raise ValidationError(
                f"a {k.value} program is {implied.value}, not {d.value}",
                field="direction",
                rule="direction_matches_kind",
            )
        chosen = implied or d
        assert chosen is not None  # refused above
        min_age = _bounded(min_age, "min_age", MIN_AGE, MAX_AGE)
        max_age = _bounded(max_age, "max_age", MIN_AGE, MAX_AGE)
        if min_age > max_age:
            raise ValidationError(
                f"the minimum age {min_age} is above the maximum {max_age}",
                field="min_age",
                rule="program_age_range",
            )
        f = parse_code(ProgramForm, form, "form")
        partners = list(partner_ids or [])
        if len(partners) > MAX_PARTNERS:
            raise ValidationError(
                f"a program names at most {MAX_PARTNERS} partners", field="partner_ids"
            )
        if len(set(partners)) != len(partners):
            raise ValidationError(
                "each partner is named once",
                field="partner_ids",
                rule="network_form_partners",
            )
        if provider_id in partners:
            raise ValidationError(
                "the provider is not its own partner",
                field="partner_ids",
                rule="network_form_partners",
            )
        if f is ProgramForm.NETWORK and not partners:
            raise ValidationError(
                "a network program is taught with at least one "
                "partner organisation besides the provider",
                field="partner_ids",
                rule="network_form_partners",
            )
        if f is ProgramForm.STANDALONE and partners:
            raise ValidationError(
                "a standalone program has no partners; "
                "a program taught with partners is in the network form",
                field="partner_ids",
                rule="network_form_partners",
            )
        return cls._create(
            cls.ProgramDrafted,
            id=program_id,
            meta=meta,
            title=require_text(title, "title", 300),
            description=require_text(description, "description", 4000),
            provider_id=provider_id,
            agency=parse_code(Agency, agency, "agency").value,
            municipality=require_text(municipality, "municipality", 200),
            kind=k.value,
            direction=chosen.value,
            min_age=min_age,
            max_age=max_age,
            hours=_bounded(hours, "hours", 1, MAX_HOURS),
            capacity=_bounded(capacity, "capacity", 1, MAX_CAPACITY),
            form=f.value,
            partner_ids=partners,
        )

    def approve(self, meta: EventMeta, *, party_id: UUID) -> None:
        """A teaching party approves; the last one's approval approves the program."""
        self._check_not_archived()
        if party_id not in self.teaching_parties:
            raise RuleViolationError(
                "approver_is_teaching_party",
                f"organisation {party_id} does not teach this program; only its provider "
                "and partners approve it",
            )
        if party_id in self.approvals:
            raise RuleViolationError(
                "party_approves_once", f"organisation {party_id} has already approved"
            )
        self.trigger_event(self.ProgramApprovedByParty, meta=meta, party_id=party_id)
        if not self.pending_approvals:
            self.trigger_event(self.ProgramApproved, meta=meta)

    def check_publishable(self, agreement_id: UUID | None) -> None:
        """The program's own rules of publication; the application checks the agreement."""
        self._check_not_archived()
        if self.status is ProgramStatus.PUBLISHED:
            raise RuleViolationError("program_published_once", "the program is already published")
        if self.status is not ProgramStatus.APPROVED:
            missing = ", ".join(str(p) for p in self.pending_approvals)
            raise RuleViolationError(
                "program_approved_before_publication",
                f"a program is published once every teaching party approved it; awaiting {missing}",
            )
        if self.form is ProgramForm.NETWORK and agreement_id is None:
            raise RuleViolationError(
                "network_program_needs_active_agreement",
                "a network program is published under a network agreement in force that "
                "lists it; give agreement_id",
            )
        if self.form is ProgramForm.STANDALONE and agreement_id is not None:
            raise RuleViolationError(
                "standalone_program_without_agreement",
                "a standalone program is taught by its provider alone: it is published "
                "without a network agreement",
            )

    def publish(self, meta: EventMeta, *, agreement_id: UUID | None = None) -> None:
        """Publishes for families. A network program's agreement must already be checked
        (in force, listing this program) by the caller."""
        self.check_publishable(agreement_id)
        self.trigger_event(self.ProgramPublished, meta=meta, agreement_id=agreement_id)

    def archive(self, meta: EventMeta) -> None:
        self._check_not_archived()
        if self.active_enrolments:
            raise RuleViolationError(
                "archive_without_active_enrolments",
                f"{self.active_enrolments} child(ren) still study in the program; "
                "end their enrolments before archiving it",
                active_enrolments=self.active_enrolments,
            )
        self.trigger_event(self.ProgramArchived, meta=meta)

    def change_capacity(self, meta: EventMeta, *, capacity: int) -> None:
        capacity = _bounded(capacity, "capacity", 1, MAX_CAPACITY)
        self._check_not_archived()
        if capacity == self.capacity:
            raise RuleViolationError("capacity_changes", f"the capacity is already {capacity}")
        if capacity < self.active_enrolments:
            raise RuleViolationError(
                "capacity_not_below_enrolled",
                f"{self.active_enrolments} children are enrolled; the capacity cannot be "
                f"lowered to {capacity}",
                active_enrolments=self.active_enrolments,
            )
        self.trigger_event(
            self.ProgramCapacityChanged,
            meta=meta,
            capacity=capacity,
            previous_capacity=self.capacity,
        )

    def enrol(
        self,
        meta: EventMeta,
        *,
        enrolment_id: UUID,
        child_id: str,
        birth_year: int,
        territory: str,
        funding_source: str,
        start_date: date,
        end_date: date | None = None,
    ) -> None:
        """Enrols a child, known by a pseudonymous id and birth year only."""
        child = child_id.strip()
        if not CHILD_ID.match(child):
            raise ValidationError(
                "child_id must be a pseudonymous id of 6-64 characters A-Z a-z 0-9 _ - "
                "(never a name)",
                field="child_id",
            )
        birth_year = _bounded(birth_year, "birth_year", MIN_BIRTH_YEAR, LAST_YEAR)
        place = require_text(territory, "territory", 200)
        funding = parse_code(FundingSource, funding_source, "funding_source")
        _in_years(start_date, "start_date")
        if end_date is not None:
            self._check_end(start_date, _in_years(end_date, "end_date"))
        if self.status is not ProgramStatus.PUBLISHED:
            raise RuleViolationError(
                "enrol_in_published_program",
                f"the program is {self.status.value}; children enrol in a published program",
            )
        if enrolment_id in self.enrolments:
            raise RuleViolationError(
                "enrolment_id_unique", f"enrolment {enrolment_id} already exists"
            )
        if any(e.active and e.child_id == child for e in self.enrolments.values()):
            raise RuleViolationError(
                "child_enrolled_once",
                "this child is already enrolled in the program (an active enrolment)",
            )
        age = start_date.year - birth_year
        # Only the birth year is known: ``age`` is the age reached in the start year. A child
        # one year younger than the minimum reaches it during the school year that starts.
        if not self.min_age - 1 <= age <= self.max_age:
            raise RuleViolationError(
                "child_age_in_program_range",
                f"a child born in {birth_year} turns {age} in {start_date.year}; the program "
                f"is for ages {self.min_age}-{self.max_age}",
            )
        if self.active_enrolments >= self.capacity:
            raise RuleViolationError(
                "program_capacity",
                f"all {self.capacity} places are taken",
                capacity=self.capacity,
            )
        self.trigger_event(
            self.ChildEnrolled,
            meta=meta,
            enrolment_id=enrolment_id,
            child_id=child,
            birth_year=birth_year,
            territory=place,
            funding_source=funding.value,
            start_date=start_date,
            end_date=end_date,
        )

    def end_enrolment(self, meta: EventMeta, *, enrolment_id: UUID, end_date: date) -> None:
        _in_years(end_date, "end_date")
        e = self.enrolments.get(enrolment_id)
        if e is None:
            raise RuleViolationError("enrolment_exists", f"no enrolment {enrolment_id}")
        if not e.active:
            raise RuleViolationError(
                "enrolment_active", f"enrolment {enrolment_id} has already ended"
            )
        self._check_end(e.start_date, end_date)
        self.trigger_event(
            self.EnrolmentEnded, meta=meta, enrolment_id=enrolment_id, end_date=end_date
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def teaching_parties(self) -> list[UUID]:
        """The provider and its partners: the organisations that teach the program."""
        return [self.provider_id, *self.partner_ids]

    @property
    def pending_approvals(self) -> list[UUID]:
        return [p for p in self.teaching_parties if p not in self.approvals]

    @property
    def places_left(self) -> int:
        return self.capacity - self.active_enrolments

    @property
    def ended_enrolments(self) -> int:
        return len(self.enrolments) - self.active_enrolments

    # -- rules ------------------------------------------------------------------------

    def _check_not_archived(self) -> None:
        if self.status is ProgramStatus.ARCHIVED:
            raise RuleViolationError(
                "program_not_archived", "the program is archived; it no longer changes"
            )

    @staticmethod
    def _check_end(start_date: date, end_date: date) -> None:
        if end_date < start_date:
            raise ValidationError(
                f"the end {end_date} is before the start {start_date}",
                field="end_date",
                rule="end_date_not_before_start",
            )
