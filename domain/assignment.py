"""Municipal assignments (муниципальное задание) and redistribution between institutions.

Volumes and costs are ``Decimal``: conservation of volume in a redistribution is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import Agency, EventMeta, parse_code, require_text

HUNDRED = Decimal(100)
# Volumes, costs and values are kept within these bounds (4 decimal places, 15 digits).
MAX_NUMBER = Decimal(10) ** 14
MIN_NUMBER = Decimal("0.0001")


class VolumeUnit(StrEnum):
    PERSON_HOURS = "person_hours"
    STUDENTS = "students"


class Direction(StrEnum):
    """The six directions of additional general-developing programs (273-FZ art. 75)."""

    TECHNICAL = "technical"
    NATURAL_SCIENCE = "natural_science"
    PHYSICAL_CULTURE_SPORT = "physical_culture_sport"
    ARTISTIC = "artistic"
    TOURISM_LOCAL_HISTORY = "tourism_local_history"
    SOCIAL_HUMANITARIAN = "social_humanitarian"


class ReportPeriod(StrEnum):
    Q1 = "q1"
    H1 = "h1"
    M9 = "9m"
    YEAR = "year"

    @property
    def share(self) -> Decimal:
        """The share of the annual plan due by the end of the period (reports are cumulative)."""
        return {"q1": Decimal("0.25"), "h1": Decimal("0.5"), "9m": Decimal("0.75")}.get(
            self.value, Decimal(1)
        )


class AssignmentStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    AMENDED = "amended"
    CLOSED = "closed"


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


def as_decimal(value: Any, field_name: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(f"{field_name}: not a number: {value!r}", field=field_name) from None
    if not d.is_finite():
        raise ValidationError(f"{field_name}: not a finite number", field=field_name)
    if abs(d) >= MAX_NUMBER or (d != 0 and abs(d) < MIN_NUMBER):
        # Bounded so that sums and ratios stay exact within Decimal's 28 digits.
        raise ValidationError(
            f"{field_name}: {value!r} is outside the range this register keeps", field=field_name
        )
    return d


def deviation_pct(actual: Decimal, planned: Decimal) -> Decimal:
    """(actual - planned) / planned, in percent, to 0.01; a plan of zero deviates by 0 or 100."""
    if planned == 0:
        return Decimal(0) if actual == 0 else HUNDRED
    return ((actual - planned) / planned * HUNDRED).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class QualityIndicator:
    name: str
    unit: str
    planned: Decimal
    allowed_deviation_pct: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "planned": str(self.planned),
            "allowed_deviation_pct": str(self.allowed_deviation_pct),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityIndicator:
        return cls(
            name=d["name"],
            unit=d["unit"],
            planned=Decimal(d["planned"]),
            allowed_deviation_pct=Decimal(d["allowed_deviation_pct"]),
        )


@dataclass
class ServiceLine:
    """One service of the assignment: its volume per year, tolerance and normative cost."""

    line_id: str
    registry_number: str
    service_name: str
    direction: Direction | None
    unit: VolumeUnit
    planned: dict[int, Decimal]
    allowed_deviation_pct: Decimal
    normative_cost: Decimal
    quality: list[QualityIndicator] = field(default_factory=list)

    def subsidy(self, year: int) -> Decimal:
        return self.planned.get(year, Decimal(0)) * self.normative_cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "registry_number": self.registry_number,
            "service_name": self.service_name,
            "direction": None if self.direction is None else self.direction.value,
            "unit": self.unit.value,
            "planned": {str(y): str(v) for y, v in sorted(self.planned.items())},
            "allowed_deviation_pct": str(self.allowed_deviation_pct),
            "normative_cost": str(self.normative_cost),
            "quality": [q.as_dict() for q in self.quality],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceLine:
        direction = d.get("direction")
        return cls(
            line_id=d["line_id"],
            registry_number=d["registry_number"],
            service_name=d["service_name"],
            direction=None if direction is None else Direction(direction),
            unit=VolumeUnit(d["unit"]),
            planned={int(y): Decimal(v) for y, v in d["planned"].items()},
            allowed_deviation_pct=Decimal(d["allowed_deviation_pct"]),
            normative_cost=Decimal(d["normative_cost"]),
            quality=[QualityIndicator.from_dict(q) for q in d.get("quality", [])],
        )


@dataclass
class ExecutionReport:
    report_id: UUID
    period: ReportPeriod
    actual: dict[str, Decimal]
    deviation: dict[str, Decimal]
    beyond_tolerance: list[str]
    reasons: dict[str, str]
    status: ReportStatus = ReportStatus.SUBMITTED


def parse_line(raw: dict[str, Any], fiscal_year: int, index: int) -> ServiceLine:
    """Validates a submitted service line: codes, non-negative numbers, years in range."""
    where = f"lines[{index}]"
    direction = raw.get("direction")
    planned_raw = raw.get("planned") or {}
    if not planned_raw:
        raise ValidationError(
            f"{where}.planned: give the volume for at least the fiscal year",
            field=f"{where}.planned",
        )
    planned: dict[int, Decimal] = {}
    for y, v in planned_raw.items():
        year = int(y)
        if year not in (fiscal_year, fiscal_year + 1, fiscal_year + 2):
            raise ValidationError(
                f"{where}.planned: {year} is outside {fiscal_year}-{fiscal_year + 2}",
                field=f"{where}.planned",
            )
        volume = as_decimal(v, f"{where}.planned")
        if volume < 0:
            raise ValidationError(
                f"{where}.planned: a volume is never negative", field=f"{where}.planned"
            )
        planned[year] = volume
    allowed = as_decimal(raw.get("allowed_deviation_pct", "10"), f"{where}.allowed_deviation_pct")
    cost = as_decimal(raw["normative_cost"], f"{where}.normative_cost")
    if not Decimal(0) <= allowed <= HUNDRED:
        raise ValidationError(
            f"{where}.allowed_deviation_pct must be within 0-100",
            field=f"{where}.allowed_deviation_pct",
        )
    if cost < 0:
        raise ValidationError(
            f"{where}.normative_cost is never negative", field=f"{where}.normative_cost"
        )
    return ServiceLine(
        line_id=str(raw.get("line_id") or index + 1),
        registry_number=require_text(raw["registry_number"], f"{where}.registry_number", 50),
        service_name=require_text(raw["service_name"], f"{where}.service_name", 500),
        direction=None
        if direction is None
        else parse_code(Direction, direction, f"{where}.direction"),
        unit=parse_code(VolumeUnit, raw["unit"], f"{where}.unit"),
        planned=planned,
        allowed_deviation_pct=allowed,
        normative_cost=cost,
        quality=[
            QualityIndicator(
                name=require_text(q["name"], f"{where}.quality.name", 300),
                unit=require_text(q["unit"], f"{where}.quality.unit", 50),
                planned=as_decimal(q["planned"], f"{where}.quality.planned"),
                allowed_deviation_pct=as_decimal(
                    q.get("allowed_deviation_pct", "10"), f"{where}.quality.allowed_deviation_pct"
                ),
            )
            for q in raw.get("quality", [])
        ],
    )


class MunicipalAssignment(DomainAggregate):
    """One institution's municipal assignment for a fiscal year (plus two plan years)."""

    class AssignmentDrafted(DomainAggregate.Created):
        organization_id: str
        institution: str
        agency: str
        founder: str
        municipality: str
        fiscal_year: int
        lines: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.organization_id = self.organization_id
            a.institution = self.institution
            a.agency = Agency(self.agency)
            a.founder = self.founder
            a.municipality = self.municipality
            a.fiscal_year = self.fiscal_year
            a.lines = {d["line_id"]: ServiceLine.from_dict(d) for d in self.lines}
            a.status = AssignmentStatus.DRAFT
            a.reports = {}
            a.amendments = 0

    class AssignmentApproved(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.status = AssignmentStatus.APPROVED

    class AssignmentAmended(DomainAggregate.Event):
        """Planned volumes changed by the founder: ``changes`` of line, year, new volume."""

        changes: list[dict[str, str]]

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            for c in self.changes:
                a.lines[c["line_id"]].planned[int(c["year"])] = Decimal(c["planned"])
            a.status = AssignmentStatus.AMENDED
            a.amendments += 1

    class ExecutionReported(DomainAggregate.Event):
        report_id: UUID
        period: str
        actual: dict[str, str]
        deviation: dict[str, str]
        beyond_tolerance: list[str]
        reasons: dict[str, str]

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.reports[self.report_id] = ExecutionReport(
                report_id=self.report_id,
                period=ReportPeriod(self.period),
                actual={k: Decimal(v) for k, v in self.actual.items()},
                deviation={k: Decimal(v) for k, v in self.deviation.items()},
                beyond_tolerance=list(self.beyond_tolerance),
                reasons=dict(self.reasons),
            )

    class ReportAccepted(DomainAggregate.Event):
        report_id: UUID

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.reports[self.report_id].status = ReportStatus.ACCEPTED

    class ReportReturned(DomainAggregate.Event):
        report_id: UUID

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.reports[self.report_id].status = ReportStatus.RETURNED

    class VolumeRedistributed(DomainAggregate.Event):
        """One leg of a redistribution: ``delta`` leaves (negative) or enters (positive)."""

        redistribution_id: UUID
        line_id: str
        year: int
        delta: str
        subsidy_delta: str

        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            line = a.lines[self.line_id]
            line.planned[self.year] = line.planned.get(self.year, Decimal(0)) + Decimal(self.delta)
            a.status = AssignmentStatus.AMENDED
            a.amendments += 1

    class AssignmentClosed(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            a: MunicipalAssignment = aggregate
            a.status = AssignmentStatus.CLOSED

    if TYPE_CHECKING:
        organization_id: str
        institution: str
        agency: Agency
        founder: str
        municipality: str
        fiscal_year: int
        lines: dict[str, ServiceLine]
        status: AssignmentStatus
        reports: dict[UUID, ExecutionReport]
        amendments: int

    # -- commands ---------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        meta: EventMeta,
        *,
        assignment_id: UUID,
        organization_id: str,
        institution: str,
        agency: str,
        founder: str,
        municipality: str,
        fiscal_year: int,
        lines: list[dict[str, Any]],
    ) -> MunicipalAssignment:
        if not 2000 <= fiscal_year <= 2100:
            raise ValidationError("fiscal_year must be a year", field="fiscal_year")
        if not lines:
            raise ValidationError("an assignment orders at least one service", field="lines")
        parsed = [parse_line(raw, fiscal_year, i) for i, raw in enumerate(lines)]
        ids = [line.line_id for line in parsed]
        if len(set(ids)) != len(ids):
            raise ValidationError("service line ids must be unique", field="lines")
        keys = [(line.registry_number, line.unit) for line in parsed]
        if len(set(keys)) != len(keys):
            raise RuleViolationError(
                "one_line_per_service",
                "each service (registry number and unit) appears once in an assignment",
            )
        return cls._create(
            cls.AssignmentDrafted,
            id=assignment_id,
            meta=meta,
            organization_id=require_text(organization_id, "organization_id", 100),
            institution=require_text(institution, "institution", 300),
            agency=parse_code(Agency, agency, "agency").value,
            founder=require_text(founder, "founder", 300),
            municipality=require_text(municipality, "municipality", 200),
            fiscal_year=fiscal_year,
            lines=[line.as_dict() for line in parsed],
        )

    def approve(self, meta: EventMeta, *, basis_document: str) -> None:
        if self.status is not AssignmentStatus.DRAFT:
            raise RuleViolationError(
                "approve_only_draft", f"the assignment is {self.status.value}, not a draft"
            )
        self.trigger_event(
            self.AssignmentApproved,
            meta=meta.because(
                meta.reason, basis_document=require_text(basis_document, "basis_document", 300)
            ),
        )

    def amend(
        self,
        meta: EventMeta,
        *,
        changes: list[tuple[str, int, Decimal]],
        reason: str,
        basis_document: str,
    ) -> None:
        """Sets new planned volumes (line, year, volume); needs a reason and a basis."""
        self._check_in_force()
        if not changes:
            raise ValidationError("an amendment changes at least one volume", field="changes")
        normalised = []
        for line_id, year, volume in changes:
            line = self._line(line_id)
            self._check_year(year)
            as_decimal(volume, "changes.planned")
            if volume < 0:
                raise ValidationError("a volume is never negative", field="changes")
            normalised.append({"line_id": line.line_id, "year": str(year), "planned": str(volume)})
        self.trigger_event(
            self.AssignmentAmended,
            meta=meta.because(
                require_text(reason, "reason"),
                basis_document=require_text(basis_document, "basis_document", 300),
                decision_ref=meta.decision_ref,
            ),
            changes=normalised,
        )

    def report_execution(
        self,
        meta: EventMeta,
        *,
        report_id: UUID,
        period: str,
        actual: dict[str, Decimal],
        reasons: dict[str, str] | None = None,
    ) -> list[str]:
        """Reports actual values (key: a line id, or "line_id:indicator name" for quality).

        The deviation is computed against the plan due by the end of the period; every
        value beyond its allowed deviation must come with a reason. Returns those keys.
        """
        self._check_in_force()
        p = parse_code(ReportPeriod, period, "period")
        if any(
            r.period is p and r.status is not ReportStatus.RETURNED for r in self.reports.values()
        ):
            raise RuleViolationError(
                "one_report_per_period",
                f"a report for {p.value} is already submitted or accepted",
            )
        reasons = {k: v.strip() for k, v in (reasons or {}).items() if v and v.strip()}
        expected = {line.line_id for line in self.lines.values()}
        missing = sorted(expected - set(actual))
        if missing:
            raise ValidationError(
                f"the report gives no actual volume for line(s) {', '.join(missing)}",
                field="actual",
            )
        deviation: dict[str, Decimal] = {}
        beyond: list[str] = []
        for key, value in actual.items():
            as_decimal(value, f"actual[{key}]")
            if value < 0:
                raise ValidationError(f"actual[{key}] is negative", field="actual")
            planned, allowed = self._planned_for(key, p)
            d = deviation_pct(value, planned)
            deviation[key] = d
            if abs(d) > allowed:
                beyond.append(key)
        unexplained = [k for k in beyond if k not in reasons]
        if unexplained:
            raise RuleViolationError(
                "deviation_needs_reason",
                "a deviation beyond the allowed one needs its reason: "
                + "; ".join(f"{k}: {deviation[k]}%" for k in unexplained),
                beyond_tolerance=[
                    {"key": k, "deviation_pct": str(deviation[k])} for k in unexplained
                ],
            )
        self.trigger_event(
            self.ExecutionReported,
            meta=meta,
            report_id=report_id,
            period=p.value,
            actual={k: str(v) for k, v in actual.items()},
            deviation={k: str(v) for k, v in deviation.items()},
            beyond_tolerance=beyond,
            reasons={k: v for k, v in reasons.items() if k in beyond},
        )
        return beyond

    def accept_report(self, meta: EventMeta, *, report_id: UUID) -> None:
        self._submitted_report(report_id)
        self.trigger_event(self.ReportAccepted, meta=meta, report_id=report_id)

    def return_report(self, meta: EventMeta, *, report_id: UUID, reason: str) -> None:
        self._submitted_report(report_id)
        self.trigger_event(
            self.ReportReturned,
            meta=meta.because(require_text(reason, "reason")),
            report_id=report_id,
        )

    def close(self, meta: EventMeta) -> None:
        self._check_in_force()
        self.trigger_event(self.AssignmentClosed, meta=meta)

    def redistribute(
        self,
        meta: EventMeta,
        *,
        redistribution_id: UUID,
        registry_number: str,
        unit: VolumeUnit,
        year: int,
        delta: Decimal,
    ) -> None:
        """Applies one leg; use :func:`plan_redistribution`, which checks the whole."""
        line = self.check_leg(registry_number=registry_number, unit=unit, year=year, delta=delta)
        self.trigger_event(
            self.VolumeRedistributed,
            meta=meta,
            redistribution_id=redistribution_id,
            line_id=line.line_id,
            year=year,
            delta=str(delta),
            subsidy_delta=str(delta * line.normative_cost),
        )

    def check_leg(
        self, *, registry_number: str, unit: VolumeUnit, year: int, delta: Decimal
    ) -> ServiceLine:
        """The rules one leg must keep, checked without changing anything."""
        self._check_in_force()
        self._check_year(year)
        line = self.line_for(registry_number, unit)
        if line is None:
            raise RuleViolationError(
                "redistribution_same_service",
                f"{self.institution} has no service {registry_number} in {unit.value}",
            )
        before = line.planned.get(year, Decimal(0))
        if before + delta < 0:
            raise RuleViolationError(
                "volume_never_negative",
                f"{self.institution} has {before} {unit.value} of {registry_number} in {year}; "
                f"{-delta} cannot leave it",
            )
        return line

    # -- queries ----------------------------------------------------------------------

    def line_for(self, registry_number: str, unit: VolumeUnit) -> ServiceLine | None:
        return next(
            (
                line
                for line in self.lines.values()
                if line.registry_number == registry_number and line.unit is unit
            ),
            None,
        )

    def subsidy(self, year: int) -> Decimal:
        return sum((line.subsidy(year) for line in self.lines.values()), Decimal(0))

    # -- rules ------------------------------------------------------------------------

    def _check_in_force(self) -> None:
        if self.status not in (AssignmentStatus.APPROVED, AssignmentStatus.AMENDED):
            raise RuleViolationError(
                "assignment_in_force",
                f"the assignment is {self.status.value}; only an approved assignment changes",
            )

    def _check_year(self, year: int) -> None:
        if year not in (self.fiscal_year, self.fiscal_year + 1, self.fiscal_year + 2):
            raise RuleViolationError(
                "year_of_assignment",
                f"{year} is outside the assignment's years "
                f"{self.fiscal_year}-{self.fiscal_year + 2}",
            )

    def _line(self, line_id: str) -> ServiceLine:
        line = self.lines.get(line_id)
        if line is None:
            raise RuleViolationError("service_line_exists", f"no service line {line_id!r}")
        return line

    def _planned_for(self, key: str, period: ReportPeriod) -> tuple[Decimal, Decimal]:
        """The plan due by the period's end, and the allowed deviation, for a report key."""
        line_id, _, indicator = key.partition(":")
        line = self._line(line_id)
        if not indicator:
            annual = line.planned.get(self.fiscal_year, Decimal(0))
            return annual * period.share, line.allowed_deviation_pct
        q = next((q for q in line.quality if q.name == indicator), None)
        if q is None:
            raise RuleViolationError(
                "quality_indicator_exists", f"line {line_id!r} has no indicator {indicator!r}"
            )
        return q.planned, q.allowed_deviation_pct

    def _submitted_report(self, report_id: UUID) -> ExecutionReport:
        r = self.reports.get(report_id)
        if r is None:
            raise RuleViolationError("report_exists", f"no report {report_id}")
        if r.status is not ReportStatus.SUBMITTED:
            raise RuleViolationError("report_submitted", f"the report is already {r.status.value}")
        return r


@dataclass(frozen=True)
class Leg:
    """Volume moving out of (negative ``delta``) or into (positive) one assignment."""

    assignment_id: UUID
    delta: Decimal


class Redistribution(DomainAggregate):
    """The record of one redistribution; saved with every assignment it changed."""

    class RedistributionRecorded(DomainAggregate.Created):
        registry_number: str
        unit: str
        year: int
        legs: list[dict[str, str]]
        budget_basis: str | None
        decision_id: UUID | None
        cross_founder: bool

        def apply(self, aggregate: Any) -> None:
            r: Redistribution = aggregate
            r.registry_number = self.registry_number
            r.unit = VolumeUnit(self.unit)
            r.year = self.year
            r.legs = [dict(leg) for leg in self.legs]
            r.budget_basis = self.budget_basis
            r.decision_id = self.decision_id
            r.cross_founder = self.cross_founder

    if TYPE_CHECKING:
        registry_number: str
        unit: VolumeUnit
        year: int
        legs: list[dict[str, str]]
        budget_basis: str | None
        decision_id: UUID | None
        cross_founder: bool


def plan_redistribution(
    meta: EventMeta,
    *,
    redistribution_id: UUID,
    assignments: dict[UUID, MunicipalAssignment],
    legs: list[Leg],
    registry_number: str,
    unit: str,
    year: int,
    budget_basis: str | None = None,
    decision_id: UUID | None = None,
) -> Redistribution:
    """Checks a redistribution as a whole and applies every leg to its assignment.

    The caller saves the returned record and all the assignments in one ``save()``: all or
    nothing. ``decision_id`` must already have been checked by the application.
    """
    u = parse_code(VolumeUnit, unit, "unit")
    registry_number = require_text(registry_number, "registry_number", 50)
    budget_basis = (budget_basis or "").strip() or None
    if len(legs) < 2:
        raise ValidationError("a redistribution has at least two legs", field="legs")
    ids = [leg.assignment_id for leg in legs]
    if len(set(ids)) != len(ids):
        raise ValidationError("each assignment appears in one leg only", field="legs")
    for leg in legs:
        as_decimal(leg.delta, "legs.delta")
    if any(leg.delta == 0 for leg in legs):
        raise ValidationError("a leg moves a volume other than zero", field="legs")
    if not any(leg.delta < 0 for leg in legs) or not any(leg.delta > 0 for leg in legs):
        raise RuleViolationError(
            "redistribution_has_both_sides",
            "volume must leave at least one assignment and enter at least one other",
        )
    total = sum((leg.delta for leg in legs), Decimal(0))
    if total != 0:
        raise RuleViolationError(
            "volume_conserved",
            f"the legs do not balance: {total} {u.value} would appear or vanish; "
            "what leaves must equal exactly what enters",
            imbalance=str(total),
        )
    missing = [str(i) for i in ids if i not in assignments]
    if missing:
        raise RuleViolationError(
            "redistribution_assignments_exist", f"no assignment {', '.join(missing)}"
        )
    founders = {assignments[i].founder for i in ids}
    cross_founder = len(founders) > 1
    if cross_founder and budget_basis is None:
        raise RuleViolationError(
            "cross_founder_needs_budget_basis",
            "the institutions have different founders ("
            + ", ".join(sorted(founders))
            + "): a reference to the budget reallocation basis is required",
        )
    # Every leg is checked before any is applied: a refusal changes no assignment.
    for leg in legs:
        assignments[leg.assignment_id].check_leg(
            registry_number=registry_number, unit=u, year=year, delta=leg.delta
        )
    why = meta.because(
        meta.reason,
        basis_document=budget_basis or meta.basis_document,
        decision_ref=meta.decision_ref or (None if decision_id is None else str(decision_id)),
    )
    recorded = []
    for leg in legs:
        a = assignments[leg.assignment_id]
        a.redistribute(
            why,
            redistribution_id=redistribution_id,
            registry_number=registry_number,
            unit=u,
            year=year,
            delta=leg.delta,
        )
        line = a.line_for(registry_number, u)
        assert line is not None  # checked by redistribute()
        recorded.append(
            {
                "assignment_id": str(a.id),
                "institution": a.institution,
                "founder": a.founder,
                "agency": a.agency.value,
                "line_id": line.line_id,
                "delta": str(leg.delta),
                "normative_cost": str(line.normative_cost),
                "subsidy_delta": str(leg.delta * line.normative_cost),
            }
        )
    return Redistribution._create(
        Redistribution.RedistributionRecorded,
        id=redistribution_id,
        meta=why,
        registry_number=registry_number,
        unit=u.value,
        year=year,
        legs=recorded,
        budget_basis=budget_basis,
        decision_id=decision_id,
        cross_founder=cross_founder,
    )
