"""Organisations of the network and their licence register entries.

An organisation is registered once per INN (ИНН): the :class:`InnIndex` aggregate, whose id is
derived from the INN and which is saved in the same ``save()`` as the registration, makes a
second registration of the same INN conflict. Licences (since 2021 entries in a register,
without expiry) are active, suspended or terminated; terminated is final.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import Agency, EventMeta, OrganizationKind, parse_code, require_text


class LicenceSubKind(StrEnum):
    """Sub-kinds of educational activity a licence entry lists (подвиды / уровни образования)."""

    PRESCHOOL = "preschool"
    PRIMARY_GENERAL = "primary_general"
    BASIC_GENERAL = "basic_general"
    SECONDARY_GENERAL = "secondary_general"
    SECONDARY_PROFESSIONAL = "secondary_professional"
    HIGHER = "higher"
    VOCATIONAL_TRAINING = "vocational_training"
    ADDITIONAL_EDUCATION_CHILDREN_ADULTS = "additional_education_children_adults"
    ADDITIONAL_PROFESSIONAL = "additional_professional"


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class ReorganizationForm(StrEnum):
    """The five forms of reorganisation of a legal entity (Civil Code art. 57)."""

    MERGER = "merger"
    ACCESSION = "accession"
    DIVISION = "division"
    SEPARATION = "separation"
    TRANSFORMATION = "transformation"


class NameChange(StrEnum):
    """How a name entered the organisation's history."""

    REGISTERED = "registered"
    RENAMED = "renamed"
    REORGANIZED = "reorganized"


EDUCATIONAL_KINDS: frozenset[OrganizationKind] = frozenset(
    {
        OrganizationKind.GENERAL_EDUCATION,
        OrganizationKind.ADDITIONAL_EDUCATION,
        OrganizationKind.PROFESSIONAL_EDUCATION,
        OrganizationKind.HIGHER_EDUCATION,
    }
)

# Weights of the INN check digits (Order of the Federal Tax Service): one digit for a legal
# entity's 10-digit INN, two for an individual's 12-digit INN.
_WEIGHTS_10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11 % 10


def inn_with_check_digits(prefix: str) -> str:
    """Completes 9 digits into a legal entity's INN, or 10 digits into an individual's."""
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) not in (9, 10):
        raise ValueError("an INN prefix is 9 or 10 digits")
    if len(prefix) == 9:
        return prefix + str(_check_digit(prefix, _WEIGHTS_10))
    eleven = prefix + str(_check_digit(prefix, _WEIGHTS_11))
    return eleven + str(_check_digit(eleven, _WEIGHTS_12))


def validate_inn(inn: str) -> str:
    """The INN as digits: 10 (legal entity, one check digit) or 12 (two check digits).

    Raises ValidationError naming what is wrong; a valid INN is returned stripped.
    """
    value = inn.strip()
    if not value.isascii() or not value.isdigit() or len(value) not in (10, 12):
        raise ValidationError(
            "inn: an INN is 10 digits (legal entity) or 12 digits (individual)", field="inn"
        )
    if value.startswith("00"):
        raise ValidationError("inn: the first two digits are a region code, never 00", field="inn")
    if inn_with_check_digits(value[:9] if len(value) == 10 else value[:10]) != value:
        raise ValidationError(
            f"inn: {value} is not a valid INN: its check digit does not match", field="inn"
        )
    return value


@dataclass(frozen=True)
class Licence:
    """One licence register entry of the organisation."""

    licence_id: UUID
    number: str
    sub_kinds: tuple[LicenceSubKind, ...]
    issued_on: date
    issuer: str
    status: LicenceStatus
    status_since: date

    def covers(self, sub_kind: LicenceSubKind) -> bool:
        return sub_kind in self.sub_kinds


@dataclass(frozen=True)
class NameRecord:
    """A name the organisation bore, from ``since`` (the date it was recorded or took effect)."""

    name: str
    since: date
    via: NameChange


@dataclass(frozen=True)
class Reorganization:
    form: ReorganizationForm
    effective_on: date


class Organization(DomainAggregate):
    """An organisation of the network (организация - участник сетевого взаимодействия)."""

    class OrganizationRegistered(DomainAggregate.Created):
        name: str
        inn: str
        kind: str
        agency: str
        founder: str
        municipality: str
        address: str

        def apply(self, aggregate: Any) -> None:
            o: Organization = aggregate
            o.name = self.name
            o.inn = self.inn
            o.kind = OrganizationKind(self.kind)
            o.agency = Agency(self.agency)
            o.founder = self.founder
            o.municipality = self.municipality
            o.address = self.address
            o.licences = {}
            o.names = [NameRecord(self.name, self.timestamp.date(), NameChange.REGISTERED)]
            o.reorganizations = []

    class OrganizationRenamed(DomainAggregate.Event):
        name: str
        previous_name: str

        def apply(self, aggregate: Any) -> None:
            o: Organization = aggregate
            o.name = self.name
            o.names.append(NameRecord(self.name, self.timestamp.date(), NameChange.RENAMED))

    class OrganizationReorganized(DomainAggregate.Event):
        """The organisation after a reorganisation: every field is its new value."""

        form: str
        effective_on: date
        name: str
        kind: str
        agency: str
        founder: str
        address: str

        def apply(self, aggregate: Any) -> None:
            o: Organization = aggregate
            if self.name != o.name:
                o.names.append(NameRecord(self.name, self.effective_on, NameChange.REORGANIZED))
            o.name = self.name
            o.kind = OrganizationKind(self.kind)
            o.agency = Agency(self.agency)
            o.founder = self.founder
            o.address = self.address
            o.reorganizations.append(
                Reorganization(ReorganizationForm(self.form), self.effective_on)
            )

    class LicenceRegistered(DomainAggregate.Event):
        licence_id: UUID
        number: str
        sub_kinds: list[str]
        issued_on: date
        issuer: str

        def apply(self, aggregate: Any) -> None:
            o: Organization = aggregate
            o.licences[self.licence_id] = Licence(
                licence_id=self.licence_id,
                number=self.number,
                sub_kinds=tuple(LicenceSubKind(s) for s in self.sub_kinds),
                issued_on=self.issued_on,
                issuer=self.issuer,
                status=LicenceStatus.ACTIVE,
                status_since=self.issued_on,
            )

    class LicenceSuspended(DomainAggregate.Event):
        licence_id: UUID
        effective_on: date

        def apply(self, aggregate: Any) -> None:
            _set_licence_status(
                aggregate, self.licence_id, LicenceStatus.SUSPENDED, self.effective_on
            )

    class LicenceReinstated(DomainAggregate.Event):
        licence_id: UUID
        effective_on: date

        def apply(self, aggregate: Any) -> None:
            _set_licence_status(aggregate, self.licence_id, LicenceStatus.ACTIVE, self.effective_on)

    class LicenceTerminated(DomainAggregate.Event):
        licence_id: UUID
        effective_on: date

        def apply(self, aggregate: Any) -> None:
            _set_licence_status(
                aggregate, self.licence_id, LicenceStatus.TERMINATED, self.effective_on
            )

    # -- state: set only by the events (class annotations would make a dataclass).
    if TYPE_CHECKING:
        name: str
        inn: str
        kind: OrganizationKind
        agency: Agency
        founder: str
        municipality: str
        address: str
        licences: dict[UUID, Licence]
        names: list[NameRecord]
        reorganizations: list[Reorganization]

    # -- commands ---------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        meta: EventMeta,
        *,
        organization_id: UUID,
        name: str,
        inn: str,
        kind: str,
        agency: str,
        founder: str,
        municipality: str,
        address: str,
    ) -> Organization:
        return cls._create(
            cls.OrganizationRegistered,
            id=organization_id,
            meta=meta,
            name=require_text(name, "name", 500),
            inn=validate_inn(inn),
            kind=parse_code(OrganizationKind, kind, "kind").value,
            agency=parse_code(Agency, agency, "agency").value,
            founder=require_text(founder, "founder", 500),
            municipality=require_text(municipality, "municipality", 200),
            address=require_text(address, "address", 500),
        )

    def rename(self, meta: EventMeta, *, name: str) -> None:
        new_name = require_text(name, "name", 500)
        if new_name == self.name:
            raise RuleViolationError(
                "rename_to_different_name",
                f"a rename gives a different name; the organisation is already named {new_name!r}",
            )
        self.trigger_event(
            self.OrganizationRenamed, meta=meta, name=new_name, previous_name=self.name
        )

    def reorganize(
        self,
        meta: EventMeta,
        *,
        form: str,
        effective_on: date,
        name: str | None = None,
        kind: str | None = None,
        agency: str | None = None,
        founder: str | None = None,
        address: str | None = None,
    ) -> None:
        """Records a reorganisation; the fields given change, the others stay as they are.

        The organisation keeps its id, INN, licences and history.
        """
        f = parse_code(ReorganizationForm, form, "form")
        last = self.reorganizations[-1] if self.reorganizations else None
        if last is not None and effective_on < last.effective_on:
            raise RuleViolationError(
                "reorganizations_in_order",
                f"a reorganisation takes effect on or after the previous one ({last.form.value} "
                f"of {last.effective_on}); {effective_on} is earlier",
            )
        self.trigger_event(
            self.OrganizationReorganized,
            meta=meta,
            form=f.value,
            effective_on=effective_on,
            name=self.name if name is None else require_text(name, "name", 500),
            kind=(self.kind if kind is None else parse_code(OrganizationKind, kind, "kind")).value,
            agency=(self.agency if agency is None else parse_code(Agency, agency, "agency")).value,
            founder=self.founder if founder is None else require_text(founder, "founder", 500),
            address=self.address if address is None else require_text(address, "address", 500),
        )

    def register_licence(
        self,
        meta: EventMeta,
        *,
        licence_id: UUID,
        number: str,
        sub_kinds: list[str],
        issued_on: date,
        issuer: str,
    ) -> None:
        number = require_text(number, "number", 100)
        parsed = list(
            dict.fromkeys(parse_code(LicenceSubKind, s, "sub_kinds").value for s in sub_kinds)
        )
        if not parsed:
            raise ValidationError(
                "sub_kinds: a licence lists at least one sub-kind of educational activity",
                field="sub_kinds",
            )
        issuer = require_text(issuer, "issuer", 500)
        if licence_id in self.licences:
            raise RuleViolationError("licence_id_unique", f"licence {licence_id} is registered")
        same = next(
            (lic for lic in self.licences.values() if lic.number.casefold() == number.casefold()),
            None,
        )
        if same is not None:
            raise RuleViolationError(
                "licence_number_unique",
                f"the organisation already has licence No. {same.number} "
                f"({same.status.value}); a licence number appears once in an organisation",
            )
        self.trigger_event(
            self.LicenceRegistered,
            meta=meta,
            licence_id=licence_id,
            number=number,
            sub_kinds=parsed,
            issued_on=issued_on,
            issuer=issuer,
        )

    def suspend_licence(self, meta: EventMeta, *, licence_id: UUID, effective_on: date) -> None:
        lic = self._changeable_licence(licence_id, effective_on)
        if lic.status is not LicenceStatus.ACTIVE:
            raise RuleViolationError(
                "licence_active",
                f"only an active licence is suspended; licence No. {lic.number} is "
                f"{lic.status.value} since {lic.status_since}",
            )
        self.trigger_event(
            self.LicenceSuspended, meta=meta, licence_id=licence_id, effective_on=effective_on
        )

    def reinstate_licence(self, meta: EventMeta, *, licence_id: UUID, effective_on: date) -> None:
        lic = self._changeable_licence(licence_id, effective_on)
        if lic.status is not LicenceStatus.SUSPENDED:
            raise RuleViolationError(
                "licence_suspended",
                f"only a suspended licence is reinstated; licence No. {lic.number} is "
                f"{lic.status.value}",
            )
        self.trigger_event(
            self.LicenceReinstated, meta=meta, licence_id=licence_id, effective_on=effective_on
        )

    def terminate_licence(self, meta: EventMeta, *, licence_id: UUID, effective_on: date) -> None:
        self._changeable_licence(licence_id, effective_on)
        self.trigger_event(
            self.LicenceTerminated, meta=meta, licence_id=licence_id, effective_on=effective_on
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def is_educational(self) -> bool:
        return self.kind in EDUCATIONAL_KINDS

    def licensed_for_additional_education(self, on: date) -> bool:
        """Whether an active licence covering additional education of children and adults,
        issued on or before ``on``, is in the register."""
        return any(
            lic.status is LicenceStatus.ACTIVE
            and lic.issued_on <= on
            and lic.covers(LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS)
            for lic in self.licences.values()
        )

    def licence(self, licence_id: UUID) -> Licence:
        lic = self.licences.get(licence_id)
        if lic is None:
            raise RuleViolationError(
                "licence_exists", f"the organisation has no licence {licence_id}"
            )
        return lic

    # -- rules ------------------------------------------------------------------------

    def _changeable_licence(self, licence_id: UUID, effective_on: date) -> Licence:
        lic = self.licence(licence_id)
        if lic.status is LicenceStatus.TERMINATED:
            raise RuleViolationError(
                "licence_terminated_final",
                f"licence No. {lic.number} was terminated on {lic.status_since}; a terminated "
                "licence never changes again",
            )
        if effective_on < lic.status_since:
            raise RuleViolationError(
                "licence_dates_in_order",
                f"a change of licence No. {lic.number} takes effect on or after its current "
                f"status ({lic.status.value} since {lic.status_since}); {effective_on} is earlier",
            )
        return lic


def _set_licence_status(
    o: Organization, licence_id: UUID, status: LicenceStatus, since: date
) -> None:
    """The state change of the licence events' ``apply``."""
    o.licences[licence_id] = replace(o.licences[licence_id], status=status, status_since=since)


class InnIndex(DomainAggregate):
    """Finds the organisation registered under an INN, and keeps INNs unique.

    Its id is derived from the INN and it is saved in the same ``save()`` as the
    registration, so a second registration of the same INN can never be stored.
    """

    class InnIndexed(DomainAggregate.Created):
        inn: str
        organization_id: UUID

        def apply(self, aggregate: Any) -> None:
            ix: InnIndex = aggregate
            ix.inn = self.inn
            ix.organization_id = self.organization_id

    if TYPE_CHECKING:
        inn: str
        organization_id: UUID

    @staticmethod
    def id_for(inn: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/interagency/organizations/inn/{inn}")

    @classmethod
    def index(cls, meta: EventMeta, *, inn: str, organization_id: UUID) -> InnIndex:
        value = validate_inn(inn)
        return cls._create(
            cls.InnIndexed,
            id=cls.id_for(value),
            meta=meta,
            inn=value,
            organization_id=organization_id,
        )
