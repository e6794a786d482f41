"""Value objects and stable codes shared by all aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from domain.errors import ValidationError


class Agency(StrEnum):
    EDUCATION = "education"
    CULTURE = "culture"
    SPORT = "sport"
    SOCIAL_POLICY = "social_policy"
    YOUTH_POLICY = "youth_policy"
    HEALTH = "health"
    OTHER = "other"


AGENCY_LABELS_RU: dict[Agency, str] = {
    Agency.EDUCATION: "образование",
    Agency.CULTURE: "культура",
    Agency.SPORT: "физическая культура и спорт",
    Agency.SOCIAL_POLICY: "социальная политика",
    Agency.YOUTH_POLICY: "молодёжная политика",
    Agency.HEALTH: "здравоохранение",
    Agency.OTHER: "иное",
}


class Mechanism(StrEnum):
    """The eight mechanisms of developing the network (DOMAIN.md)."""

    REGULATION = "regulation"
    LICENSING = "licensing"
    WORKING_GROUPS = "working_groups"
    STAFF_DEVELOPMENT = "staff_development"
    MONITORING = "monitoring"
    INCENTIVES = "incentives"
    STRATEGIC_PRIORITIES = "strategic_priorities"
    CONSUMER_INFORMATION = "consumer_information"


MECHANISM_LABELS_RU: dict[Mechanism, str] = {
    Mechanism.REGULATION: "нормативно-правовое регулирование",
    Mechanism.LICENSING: "лицензирование",
    Mechanism.WORKING_GROUPS: "создание рабочих, административных, межведомственных групп",
    Mechanism.STAFF_DEVELOPMENT: "повышение квалификации работников",
    Mechanism.MONITORING: "мониторинг результативности",
    Mechanism.INCENTIVES: "стимулирование качественных результатов",
    Mechanism.STRATEGIC_PRIORITIES: "определение стратегических приоритетов",
    Mechanism.CONSUMER_INFORMATION: "информирование потребителей",
}


class OrganizationKind(StrEnum):
    MUNICIPAL_EDUCATION_AUTHORITY = "municipal_education_authority"
    GENERAL_EDUCATION = "general_education"
    ADDITIONAL_EDUCATION = "additional_education"
    PROFESSIONAL_EDUCATION = "professional_education"
    HIGHER_EDUCATION = "higher_education"
    SCIENCE = "science"
    CULTURE = "culture"
    SPORT = "sport"
    SOCIAL = "social"
    ENTERPRISE = "enterprise"
    INNOVATION_INFRASTRUCTURE = "innovation_infrastructure"
    OTHER = "other"


class TargetDimension(StrEnum):
    """The three purposes of the mechanisms: access, coverage, quality."""

    ACCESS = "access"
    COVERAGE = "coverage"
    QUALITY = "quality"


class Role(StrEnum):
    OFFICIAL = "official"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMIN = "admin"
    SYSTEM = "system"


@dataclass(frozen=True)
class EventMeta:
    """Who did it, why, and which request: recorded on every event.

    The time is the event's own ``timestamp``.
    """

    actor_id: str
    actor_role: str
    actor_agency: str | None = None
    correlation_id: str | None = None
    reason: str | None = None
    basis_document: str | None = None
    decision_ref: str | None = None

    def because(
        self,
        reason: str | None = None,
        *,
        basis_document: str | None = None,
        decision_ref: str | None = None,
    ) -> EventMeta:
        """The same actor and request, with the why of one command."""
        return EventMeta(
            actor_id=self.actor_id,
            actor_role=self.actor_role,
            actor_agency=self.actor_agency,
            correlation_id=self.correlation_id,
            reason=reason,
            basis_document=basis_document,
            decision_ref=decision_ref,
        )


E = TypeVar("E", bound=StrEnum)


def parse_code(enum: type[E], value: str, field: str) -> E:
    """Turns a stored or submitted code into its enum, naming the field when it is unknown."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValidationError(
            f"{field}: unknown code {value!r}; allowed: {allowed}", field=field
        ) from None


def require_text(value: str, field: str, max_length: int = 2000) -> str:
    text = value.strip()
    if not text:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters", field=field)
    return text
