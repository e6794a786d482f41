"""Network agreements (договор о сетевой форме реализации программ, 273-FZ art. 15).

An agreement's terms are versioned. Version 1 is the draft; each amendment proposes the
next version. A version is revised only while nobody has signed it; once any party signs
it, it never changes (``signed_version_immutable``), and every version stays readable
after later ones take effect.

The domain stays pure: facts about other aggregates (each party's organisation kind,
which parties hold an active additional-education licence) are passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.assignment import as_decimal
from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.organization import EDUCATIONAL_KINDS
from domain.values import EventMeta, OrganizationKind, parse_code, require_text

MAX_PARTIES = 50
MAX_PROGRAMS = 100
MAX_CONTRIBUTIONS = 200
MAX_CLAUSE_TEXT = 10_000


class PartyRole(StrEnum):
    """Base organisation (базовая), participant (участник), resource (ресурсная)."""

    BASE = "base"
    PARTICIPANT = "participant"
    RESOURCE = "resource"


# Base and participant organisations teach (part of) the program: they need a licence.
TEACHING_ROLES = frozenset({PartyRole.BASE, PartyRole.PARTICIPANT})


class NetworkModel(StrEnum):
    """The three models of network interaction (DOMAIN.md)."""

    MODEL_1 = "model_1"
    MODEL_2 = "model_2"
    MODEL_3 = "model_3"


class ResourceType(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    MATERIAL_TECHNICAL = "material_technical"
    PERSONNEL = "personnel"
    INTELLECTUAL = "intellectual"


class Clause(StrEnum):
    """The five things a network agreement states (273-FZ art. 15 part 3)."""

    PROGRAM_AND_DIRECTION = "program_and_direction"
    STUDENTS_STATUS_AND_ADMISSION = "students_status_and_admission"
    DUTIES_AND_RESOURCES = "duties_and_resources"
    DOCUMENTS_ISSUED = "documents_issued"
    TERM_AND_CHANGE = "term_and_change"


CLAUSE_LABELS_RU: dict[Clause, str] = {
    Clause.PROGRAM_AND_DIRECTION: "вид, уровень и направленность образовательной программы",
    Clause.STUDENTS_STATUS_AND_ADMISSION: "статус обучающихся, правила приёма",
    Clause.DUTIES_AND_RESOURCES: "распределение обязанностей, характер и объём ресурсов",
    Clause.DOCUMENTS_ISSUED: "выдаваемые документы об обучении и организации, их выдающие",
    Clause.TERM_AND_CHANGE: "срок действия договора, порядок его изменения и прекращения",
}


class AgreementStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"
    ACTIVE = "active"
    AMENDED = "amended"
    TERMINATED = "terminated"
    EXPIRED = "expired"


IN_FORCE = frozenset({AgreementStatus.ACTIVE, AgreementStatus.AMENDED})
CONCLUDED = frozenset({AgreementStatus.SIGNED, *IN_FORCE})
CLOSED = frozenset({AgreementStatus.TERMINATED, AgreementStatus.EXPIRED})


class VersionState(StrEnum):
    """Where one version of the terms stands (derived, never stored)."""

    PENDING = "pending"  # being drafted or signed
    SIGNED = "signed"  # signed by everyone who must sign it, awaiting activation
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"  # a later version took effect
    ENDED = "ended"  # was in force when the agreement was terminated or expired
    NOT_ADOPTED = "not_adopted"  # the agreement ended before this version took effect


# -- terms ------------------------------------------------------------------------------


def _uuid(value: Any, field_name: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise ValidationError(f"{field_name}: not an id: {value!r}", field=field_name) from None


def _date(value: Any, field_name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            f"{field_name}: not a date (YYYY-MM-DD): {value!r}", field=field_name
        ) from None


def _list(raw: Mapping[str, Any], key: str, max_length: int) -> list[Any]:
    value = raw.get(key, [])
    where = f"terms.{key}"
    if not isinstance(value, list | tuple):
        raise ValidationError(f"{where} must be a list", field=where)
    if len(value) > max_length:
        raise ValidationError(f"{where}: at most {max_length} entries", field=where)
    return list(value)


def _item(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where} must be an object", field=where)
    return value


def _required(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if raw.get(key) is None:
        raise ValidationError(f"{where}.{key} is required", field=f"{where}.{key}")
    return raw[key]


def parse_terms(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validates submitted terms and answers them in their stored form.

    The stored form holds ids as strings and dates in ISO form (see the module contract).
    Input that can never be valid raises ValidationError (422); terms that break a rule of
    network agreements raise RuleViolationError naming it (409). Facts about other
    aggregates (kinds, licences, programs) are checked elsewhere.
    """
    if not isinstance(raw, Mapping):
        raise ValidationError("terms must be an object", field="terms")
    # term
    term_start = _date(_required(raw, "term_start", "terms"), "terms.term_start")
    term_end = _date(_required(raw, "term_end", "terms"), "terms.term_end")
    if term_start >= term_end:
        raise ValidationError(
            "terms.term_end must be after terms.term_start", field="terms.term_end"
        )
    # parties
    parties: list[dict[str, str]] = []
    seen: set[UUID] = set()
    for i, p in enumerate(_list(raw, "parties", MAX_PARTIES)):
        where = f"terms.parties[{i}]"
        item = _item(p, where)
        org = _uuid(_required(item, "organization_id", where), f"{where}.organization_id")
        role = parse_code(PartyRole, str(_required(item, "role", where)), f"{where}.role")
        if org in seen:
            raise RuleViolationError(
                "agreement_two_distinct_parties",
                f"organisation {org} appears twice among the parties; each party is listed once",
            )
        seen.add(org)
        parties.append({"organization_id": str(org), "role": role.value})
    if len(parties) < 2:
        raise RuleViolationError(
            "agreement_two_distinct_parties",
            "a network agreement is concluded between at least two distinct organisations; "
            f"the terms name {len(parties)}",
        )
    if not any(p["role"] == PartyRole.BASE.value for p in parties):
        raise RuleViolationError(
            "agreement_has_base_party",
            "a network agreement names a base organisation (role base), whose students "
            "master the program",
        )
    # model
    model = parse_code(NetworkModel, str(_required(raw, "model", "terms")), "terms.model")
    # programs
    program_ids: list[str] = []
    for i, pid in enumerate(_list(raw, "program_ids", MAX_PROGRAMS)):
        program = str(_uuid(pid, f"terms.program_ids[{i}]"))
        if program in program_ids:
            raise ValidationError(
                f"terms.program_ids: program {program} is listed twice", field="terms.program_ids"
            )
        program_ids.append(program)
    if not program_ids:
        raise ValidationError(
            "terms.program_ids: an agreement covers at least one program",
            field="terms.program_ids",
        )
    # contributions
    contributions = [
        _parse_contribution(c, i, seen, term_start, term_end)
        for i, c in enumerate(_list(raw, "contributions", MAX_CONTRIBUTIONS))
    ]
    # clauses
    clauses_raw = raw.get("clauses") or {}
    if not isinstance(clauses_raw, Mapping):
        raise ValidationError("terms.clauses must be an object", field="terms.clauses")
    given: dict[Clause, str] = {}
    for code, text in clauses_raw.items():
        clause = parse_code(Clause, str(code), "terms.clauses")
        if not isinstance(text, str):
            raise ValidationError(
                f"terms.clauses.{clause.value} must be text", field=f"terms.clauses.{clause.value}"
            )
        given[clause] = require_text(text, f"terms.clauses.{clause.value}", MAX_CLAUSE_TEXT)
    clauses = {c.value: given[c] for c in Clause if c in given}
    return {
        "parties": parties,
        "model": model.value,
        "program_ids": program_ids,
        "contributions": contributions,
        "clauses": clauses,
        "term_start": term_start.isoformat(),
        "term_end": term_end.isoformat(),
    }


def _parse_contribution(
    value: Any, index: int, parties: set[UUID], term_start: date, term_end: date
) -> dict[str, str]:
    where = f"terms.contributions[{index}]"
    c = _item(value, where)
    org = _uuid(_required(c, "organization_id", where), f"{where}.organization_id")
    resource_type = parse_code(
        ResourceType, str(_required(c, "resource_type", where)), f"{where}.resource_type"
    )
    description = require_text(
        str(_required(c, "description", where)), f"{where}.description", 1000
    )
    volume = as_decimal(_required(c, "volume", where), f"{where}.volume")
    if volume <= 0:
        raise ValidationError(f"{where}.volume must be above zero", field=f"{where}.volume")
    unit = require_text(str(_required(c, "unit", where)), f"{where}.unit", 50)
    period_from = _date(_required(c, "period_from", where), f"{where}.period_from")
    period_to = _date(_required(c, "period_to", where), f"{where}.period_to")
    if period_from > period_to:
        raise ValidationError(
            f"{where}.period_to is before {where}.period_from", field=f"{where}.period_to"
        )
    if org not in parties:
        raise RuleViolationError(
            "contribution_by_party",
            f"contribution {index + 1} is by organisation {org}, which is not a party; "
            "only parties contribute resources",
        )
    if period_from < term_start or period_to > term_end:
        raise RuleViolationError(
            "contribution_within_term",
            f"contribution {index + 1} runs {period_from}..{period_to}, outside the "
            f"agreement's term {term_start}..{term_end}",
        )
    return {
        "organization_id": str(org),
        "resource_type": resource_type.value,
        "description": description,
        "volume": format(volume, "f"),  # exact, never in exponent form
        "unit": unit,
        "period_from": period_from.isoformat(),
        "period_to": period_to.isoformat(),
    }


def terms_party_ids(terms: Mapping[str, Any]) -> list[UUID]:
    """The parties of stored terms (as :func:`parse_terms` answers them), in order."""
    return [UUID(p["organization_id"]) for p in terms["parties"]]


def terms_teaching_party_ids(terms: Mapping[str, Any]) -> list[UUID]:
    return [
        UUID(p["organization_id"])
        for p in terms["parties"]
        if PartyRole(p["role"]) in TEACHING_ROLES
    ]


def terms_program_ids(terms: Mapping[str, Any]) -> list[UUID]:
    return [UUID(p) for p in terms["program_ids"]]


def check_educational_party(
    terms: Mapping[str, Any], party_kinds: Mapping[UUID, OrganizationKind]
) -> None:
    """At least one party is an educational organisation (the program is taught)."""
    parties = terms_party_ids(terms)
    unknown = [str(p) for p in parties if p not in party_kinds]
    if unknown:
        raise RuleViolationError(
            "organization_registered",
            f"no organisation {', '.join(unknown)} in the register",
        )
    if not any(party_kinds[p] in EDUCATIONAL_KINDS for p in parties):
        kinds = ", ".join(sorted({party_kinds[p].value for p in parties}))
        raise RuleViolationError(
            "agreement_has_educational_party",
            "at least one party must be an educational organisation (general, additional, "
            f"professional or higher education); the parties are: {kinds}",
        )


# -- versions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    party_id: UUID
    signatory: str
    signed_on: date


@dataclass
class AgreementVersion:
    """One version of the terms; ``based_on`` is the version in force it amends."""

    number: int
    terms: dict[str, Any]
    based_on: int | None = None
    signatures: dict[UUID, Signature] = field(default_factory=dict)

    @property
    def party_ids(self) -> list[UUID]:
        return terms_party_ids(self.terms)

    @property
    def term_start(self) -> date:
        return date.fromisoformat(self.terms["term_start"])

    @property
    def term_end(self) -> date:
        return date.fromisoformat(self.terms["term_end"])

    def missing_clauses(self) -> list[Clause]:
        return [c for c in Clause if c.value not in self.terms["clauses"]]


class NetworkAgreement(DomainAggregate):
    """A network agreement between organisations, with versioned terms and signatures."""

    class AgreementDrafted(DomainAggregate.Created):
        number: str
        title: str
        municipality: str
        terms: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.number = self.number
            a.title = self.title
            a.municipality = self.municipality
            a.versions = {1: AgreementVersion(1, self.terms)}
            a.current_version = None
            a.pending_version = 1
            a.status = AgreementStatus.DRAFT
            a.terminated_on = None
            a.expired_on = None

    class AgreementDraftRevised(DomainAggregate.Event):
        version: int
        terms: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            old = a.versions[self.version]
            a.versions[self.version] = AgreementVersion(self.version, self.terms, old.based_on)

    class AgreementSigned(DomainAggregate.Event):
        version: int
        party_id: UUID
        signatory: str
        signed_on: date

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            v = a.versions[self.version]
            v.signatures[self.party_id] = Signature(self.party_id, self.signatory, self.signed_on)
            if a.status is AgreementStatus.DRAFT and not a.unsigned_parties(self.version):
                a.status = AgreementStatus.SIGNED

    class AgreementActivated(DomainAggregate.Event):
        version: int

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.current_version = self.version
            a.pending_version = None
            a.status = AgreementStatus.ACTIVE

    class AgreementAmendmentProposed(DomainAggregate.Event):
        version: int
        terms: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.versions[self.version] = AgreementVersion(
                self.version, self.terms, based_on=a.current_version
            )
            a.pending_version = self.version

    class AgreementAmended(DomainAggregate.Event):
        """The amendment (``version``) took effect; the previous version is superseded."""

        version: int

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.current_version = self.version
            a.pending_version = None
            a.status = AgreementStatus.AMENDED

    class AgreementTerminated(DomainAggregate.Event):
        terminated_on: date

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.status = AgreementStatus.TERMINATED
            a.terminated_on = self.terminated_on
            a.pending_version = None

    class AgreementExpired(DomainAggregate.Event):
        expired_on: date

        def apply(self, aggregate: Any) -> None:
            a: NetworkAgreement = aggregate
            a.status = AgreementStatus.EXPIRED
            a.expired_on = self.expired_on
            a.pending_version = None

    if TYPE_CHECKING:
        number: str
        title: str
        municipality: str
        versions: dict[int, AgreementVersion]
        current_version: int | None
        pending_version: int | None
        status: AgreementStatus
        terminated_on: date | None
        expired_on: date | None

    # -- commands ---------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        meta: EventMeta,
        *,
        agreement_id: UUID,
        number: str,
        title: str,
        municipality: str,
        terms: Mapping[str, Any],
        party_kinds: Mapping[UUID, OrganizationKind],
    ) -> NetworkAgreement:
        number = require_text(number, "number", 50)
        title = require_text(title, "title", 300)
        municipality = require_text(municipality, "municipality", 200)
        parsed = parse_terms(terms)
        check_educational_party(parsed, party_kinds)
        return cls._create(
            cls.AgreementDrafted,
            id=agreement_id,
            meta=meta,
            number=number,
            title=title,
            municipality=municipality,
            terms=parsed,
        )

    def revise_draft(
        self,
        meta: EventMeta,
        *,
        terms: Mapping[str, Any],
        party_kinds: Mapping[UUID, OrganizationKind],
    ) -> None:
        """Replaces the terms of the pending version (the draft or a proposed amendment)."""
        v = self.check_revisable()
        parsed = parse_terms(terms)
        check_educational_party(parsed, party_kinds)
        self.trigger_event(self.AgreementDraftRevised, meta=meta, version=v.number, terms=parsed)

    def sign(
        self,
        meta: EventMeta,
        *,
        party_id: UUID,
        signatory: str,
        signed_on: date,
        version: int | None = None,
    ) -> None:
        """A party signs the pending version; ``version``, if given, must be that one."""
        v = self._pending("sign")
        if version is not None and version != v.number:
            raise RuleViolationError(
                "signature_for_pending_version",
                f"version {version} is not the one awaiting signatures (version {v.number})",
            )
        signatory = require_text(signatory, "signatory", 300)
        if not isinstance(signed_on, date):
            raise ValidationError("signed_on must be a date", field="signed_on")
        if party_id not in self.required_signers(v.number):
            raise RuleViolationError(
                "signer_is_party",
                f"organisation {party_id} is not a party to version {v.number}; "
                "only its parties sign it",
            )
        if party_id in v.signatures:
            raise RuleViolationError(
                "party_signs_once", f"organisation {party_id} already signed version {v.number}"
            )
        self._check_clauses(v, "signed")
        self.trigger_event(
            self.AgreementSigned,
            meta=meta,
            version=v.number,
            party_id=party_id,
            signatory=signatory,
            signed_on=signed_on,
        )

    def activate(self, meta: EventMeta, *, licensed_parties: set[UUID]) -> None:
        """Puts the pending version in force: the first one activates, a later one amends.

        ``licensed_parties``: organisations with an active additional-education licence
        issued on or before the pending version's term start.
        """
        v = self._pending("activate")
        self._check_clauses(v, "activated")
        unsigned = self.unsigned_parties(v.number)
        if unsigned:
            raise RuleViolationError(
                "agreement_signed_by_all_parties",
                f"version {v.number} is not yet signed by " + ", ".join(str(p) for p in unsigned),
                unsigned=[str(p) for p in unsigned],
            )
        unlicensed = [p for p in terms_teaching_party_ids(v.terms) if p not in licensed_parties]
        if unlicensed:
            raise RuleViolationError(
                "teaching_party_licensed",
                "a base or participant organisation teaches the program and needs an active "
                "licence for additional education of children and adults, issued by "
                f"{v.term_start}; these have none: " + ", ".join(str(p) for p in unlicensed),
                unlicensed=[str(p) for p in unlicensed],
            )
        if self.current_version is None:
            self.trigger_event(self.AgreementActivated, meta=meta, version=v.number)
        else:
            self.trigger_event(self.AgreementAmended, meta=meta, version=v.number)

    def propose_amendment(
        self,
        meta: EventMeta,
        *,
        terms: Mapping[str, Any],
        party_kinds: Mapping[UUID, OrganizationKind],
        reason: str,
    ) -> int:
        """Proposes the next version of the terms; answers its number."""
        self.check_amendable()
        why = meta.because(
            require_text(reason, "reason", 4000),
            basis_document=meta.basis_document,
            decision_ref=meta.decision_ref,
        )
        parsed = parse_terms(terms)
        check_educational_party(parsed, party_kinds)
        number = max(self.versions) + 1
        self.trigger_event(self.AgreementAmendmentProposed, meta=why, version=number, terms=parsed)
        return number

    def terminate(self, meta: EventMeta, *, reason: str, terminated_on: date) -> None:
        self._check_open()
        self._check_concluded("terminated")
        if not isinstance(terminated_on, date):
            raise ValidationError("terminated_on must be a date", field="terminated_on")
        why = meta.because(
            require_text(reason, "reason", 4000),
            basis_document=meta.basis_document,
            decision_ref=meta.decision_ref,
        )
        self.trigger_event(self.AgreementTerminated, meta=why, terminated_on=terminated_on)

    def expire(self, meta: EventMeta, *, today: date) -> None:
        """Records that the term ran out: only after the term end of the terms in effect."""
        self._check_open()
        self._check_concluded("expires")
        v = self.effective_version()
        assert v is not None  # a concluded agreement has a version in effect
        if today <= v.term_end:
            raise RuleViolationError(
                "expire_after_term_end",
                f"the agreement runs until {v.term_end}; on {today} it has not expired",
            )
        self.trigger_event(self.AgreementExpired, meta=meta, expired_on=today)

    # -- queries ----------------------------------------------------------------------

    @property
    def in_force(self) -> bool:
        return self.status in IN_FORCE

    def in_force_terms(self) -> dict[str, Any] | None:
        """The terms in force now, or None when the agreement is not in force."""
        if not self.in_force or self.current_version is None:
            return None
        return self.versions[self.current_version].terms

    def in_force_program_ids(self) -> set[UUID]:
        terms = self.in_force_terms()
        return set() if terms is None else set(terms_program_ids(terms))

    def teaching_party_ids(self, version: int) -> list[UUID]:
        """Base and participant organisations of ``version`` (they need a licence)."""
        return terms_teaching_party_ids(self._get_version(version).terms)

    def party_ids(self, version: int) -> list[UUID]:
        return self._get_version(version).party_ids

    def pending_terms(self) -> dict[str, Any] | None:
        return None if self.pending_version is None else self.versions[self.pending_version].terms

    def effective_version(self) -> AgreementVersion | None:
        """The version in force, or for a signed agreement not yet active, the signed one."""
        if self.current_version is not None:
            return self.versions[self.current_version]
        if self.status is AgreementStatus.SIGNED and self.pending_version is not None:
            return self.versions[self.pending_version]
        return None

    def required_signers(self, version: int) -> list[UUID]:
        """Who signs ``version``: its parties and, for an amendment, the parties of the
        version it amends (a party that leaves agrees to the change too)."""
        v = self._get_version(version)
        signers = list(v.party_ids)
        if v.based_on is not None:
            signers += [p for p in self.versions[v.based_on].party_ids if p not in signers]
        return signers

    def unsigned_parties(self, version: int) -> list[UUID]:
        v = self._get_version(version)
        return [p for p in self.required_signers(version) if p not in v.signatures]

    def version_state(self, version: int) -> VersionState:
        v = self._get_version(version)
        if v.number == self.pending_version:
            return VersionState.PENDING if self.unsigned_parties(v.number) else VersionState.SIGNED
        if v.number == self.current_version:
            return VersionState.IN_FORCE if self.in_force else VersionState.ENDED
        if self.current_version is not None and v.number < self.current_version:
            return VersionState.SUPERSEDED
        return VersionState.NOT_ADOPTED

    # -- rules ------------------------------------------------------------------------

    def check_revisable(self) -> AgreementVersion:
        """The pending version, if its terms may still change (nobody signed it)."""
        v = self._pending("revise")
        if v.signatures:
            raise RuleViolationError(
                "signed_version_immutable",
                f"version {v.number} is signed by {len(v.signatures)} part"
                f"{'y' if len(v.signatures) == 1 else 'ies'}; a signed version never changes "
                "(propose an amendment once it is in force)",
            )
        return v

    def check_amendable(self) -> None:
        """An amendment is proposed only to an agreement in force, one at a time."""
        self._check_open()
        if self.status not in IN_FORCE:
            raise RuleViolationError(
                "amend_only_in_force",
                f"the agreement is {self.status.value}; only an agreement in force is amended "
                "(revise the draft instead)",
            )
        if self.pending_version is not None:
            raise RuleViolationError(
                "amendment_pending",
                f"amendment version {self.pending_version} is already proposed; revise it "
                "while unsigned, or activate it first",
            )

    def _get_version(self, version: int) -> AgreementVersion:
        v = self.versions.get(version)
        if v is None:
            raise RuleViolationError(
                "agreement_version_exists", f"the agreement has no version {version}"
            )
        return v

    def _check_open(self) -> None:
        if self.status in CLOSED:
            raise RuleViolationError(
                "agreement_closed", f"the agreement is {self.status.value}; it changes no more"
            )

    def _check_concluded(self, verb: str) -> None:
        if self.status not in CONCLUDED:
            raise RuleViolationError(
                "agreement_concluded",
                f"the agreement is a {self.status.value}; only a signed, active or amended "
                f"agreement is {verb}",
            )

    def _pending(self, action: str) -> AgreementVersion:
        self._check_open()
        if self.pending_version is None:
            raise RuleViolationError(
                "agreement_version_pending",
                f"no version awaits signatures or activation; nothing to {action} "
                "(propose an amendment first)",
            )
        return self.versions[self.pending_version]

    @staticmethod
    def _check_clauses(v: AgreementVersion, participle: str) -> None:
        missing = v.missing_clauses()
        if missing:
            raise RuleViolationError(
                "agreement_clauses_complete",
                f"version {v.number} cannot be {participle}: it lacks the clause(s) "
                + ", ".join(f"{c.value} ({CLAUSE_LABELS_RU[c]})" for c in missing),
                missing=[c.value for c in missing],
            )
