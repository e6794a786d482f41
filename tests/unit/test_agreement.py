"""Scenarios over the NetworkAgreement aggregate: terms, signatures, versions, life cycle.

Given an agreement (built by commands), when a command runs, then the events it recorded
and the state they produced are as the domain says. A refused command changes nothing.
Facts about other aggregates (kinds, licences) are passed in, as the application does.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper

from domain.agreement import (
    AgreementStatus,
    Clause,
    NetworkAgreement,
    VersionState,
    parse_terms,
)
from domain.base import DomainAggregate
from domain.errors import DomainError, RuleViolationError, ValidationError
from domain.values import EventMeta, OrganizationKind
from tests.unit.conftest import META, event_names

# The parties of the usual agreement: a school (base), a centre of additional education
# (participant, teaches a module) and a museum (resource: premises only, no licence).
SCHOOL, CENTRE, MUSEUM, PLANT = (
    UUID("00000000-0000-4000-8000-00000000000a"),
    UUID("00000000-0000-4000-8000-00000000000b"),
    UUID("00000000-0000-4000-8000-00000000000c"),
    UUID("00000000-0000-4000-8000-00000000000d"),
)
KINDS: dict[UUID, OrganizationKind] = {
    SCHOOL: OrganizationKind.GENERAL_EDUCATION,
    CENTRE: OrganizationKind.ADDITIONAL_EDUCATION,
    MUSEUM: OrganizationKind.CULTURE,
    PLANT: OrganizationKind.ENTERPRISE,
}
PROGRAM = UUID("00000000-0000-4000-8000-0000000000f1")
OTHER_PROGRAM = UUID("00000000-0000-4000-8000-0000000000f2")
START, END = date(2027, 9, 1), date(2028, 6, 30)
LICENSED = {SCHOOL, CENTRE}
SIGNED_ON = date(2027, 8, 20)
CLAUSES = {
    "program_and_direction": "ДООП «Робототехника», техническая направленность",
    "students_status_and_admission": "Обучающиеся зачисляются в базовую организацию",
    "duties_and_resources": "Центр ведёт модуль 2; музей предоставляет зал",
    "documents_issued": "Сертификат выдаёт базовая организация",
    "term_and_change": "С 01.09.2027 по 30.06.2028; изменения - дополнительным соглашением",
}
OTHER = EventMeta(actor_id="official-7", actor_role="official", actor_agency="culture")


# -- builders -------------------------------------------------------------------------


def contribution(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "organization_id": str(MUSEUM),
        "resource_type": "infrastructure",
        "description": "Выставочный зал для занятий",
        "volume": "72.50",
        "unit": "часов",
        "period_from": "2027-09-01",
        "period_to": "2028-05-31",
    }
    raw.update(overrides)
    return raw


def terms(**overrides: Any) -> dict[str, Any]:
    """Valid, complete terms: school (base), centre (participant), museum (resource)."""
    raw: dict[str, Any] = {
        "parties": [
            {"organization_id": str(SCHOOL), "role": "base"},
            {"organization_id": str(CENTRE), "role": "participant"},
            {"organization_id": str(MUSEUM), "role": "resource"},
        ],
        "model": "model_2",
        "program_ids": [str(PROGRAM)],
        "contributions": [contribution()],
        "clauses": dict(CLAUSES),
        "term_start": START.isoformat(),
        "term_end": END.isoformat(),
    }
    raw.update(overrides)
    return raw


def draft(meta: EventMeta = META, **overrides: Any) -> NetworkAgreement:
    kwargs: dict[str, Any] = {
        "agreement_id": uuid4(),
        "number": "СВ-12/2027",
        "title": "Договор о сетевой форме реализации программы «Робототехника»",
        "municipality": "Городской округ N",
        "terms": terms(),
        "party_kinds": KINDS,
    }
    kwargs.update(overrides)
    return NetworkAgreement.draft(meta, **kwargs)


def sign_all(a: NetworkAgreement, meta: EventMeta = META) -> None:
    """Every party that must sign the pending version signs it."""
    assert a.pending_version is not None
    for party in a.unsigned_parties(a.pending_version):
        a.sign(meta, party_id=party, signatory=f"Директор {party.hex[-2:]}", signed_on=SIGNED_ON)


def active(**overrides: Any) -> NetworkAgreement:
    """An agreement in force (version 1) whose events are already collected."""
    a = draft(**overrides)
    sign_all(a)
    a.activate(META, licensed_parties=LICENSED)
    a.collect_events()
    return a


def amended(new_terms: dict[str, Any] | None = None) -> NetworkAgreement:
    """An agreement whose version 2 (a second program) is in force; events collected."""
    a = active()
    a.propose_amendment(
        META,
        terms=new_terms or terms(program_ids=[str(PROGRAM), str(OTHER_PROGRAM)]),
        party_kinds=KINDS,
        reason="Добавлена программа",
    )
    sign_all(a)
    a.activate(META, licensed_parties=LICENSED)
    a.collect_events()
    return a


def agreement_state(a: NetworkAgreement) -> dict[str, Any]:
    """A snapshot of everything a command may change (versions hold mutable signatures)."""
    return {
        "status": a.status,
        "versions": copy.deepcopy(a.versions),
        "current": a.current_version,
        "pending": a.pending_version,
        "terminated_on": a.terminated_on,
        "expired_on": a.expired_on,
        "version": a.version,
        "pending_events": tuple(a.pending_events),
    }


def assert_refused(
    a: NetworkAgreement,
    command: Callable[[], object],
    error: type[DomainError] = RuleViolationError,
    *,
    rule: str | None = None,
    field: str | None = None,
) -> DomainError:
    """Runs a command that must be refused and checks that it changed nothing."""
    before = agreement_state(a)
    with pytest.raises(error) as caught:
        command()
    assert agreement_state(a) == before
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
        assert caught.value.extra["rule"] == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def refused_draft(
    error: type[DomainError] = RuleViolationError,
    *,
    rule: str | None = None,
    field: str | None = None,
    **overrides: Any,
) -> DomainError:
    with pytest.raises(error) as caught:
        draft(**overrides)
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def replay(events: Iterable[Any]) -> Any:
    return functools.reduce(lambda a, e: e.mutate(a), events, None)


# -- drafting -------------------------------------------------------------------------


def test_a_drafted_agreement_holds_version_1_of_its_terms_in_stored_form() -> None:
    # given terms with ids as UUIDs, dates as dates, clauses out of order, a volume as text
    raw = terms(
        parties=[
            {"organization_id": SCHOOL, "role": "base"},
            {"organization_id": CENTRE, "role": "participant"},
            {"organization_id": MUSEUM, "role": "resource"},
        ],
        program_ids=[PROGRAM],
        clauses=dict(reversed(list(CLAUSES.items()))),
        term_start=START,
        term_end=END,
        contributions=[contribution(organization_id=MUSEUM, period_from=START)],
    )
    # when
    a = draft(terms=raw)
    # then one event, carrying the whole terms: ids and dates as text, exact volume
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementDrafted)
    assert event.meta == META
    assert event.terms["parties"][0] == {"organization_id": str(SCHOOL), "role": "base"}
    assert event.terms["program_ids"] == [str(PROGRAM)]
    assert event.terms["term_start"] == "2027-09-01"
    assert event.terms["contributions"][0]["volume"] == "72.50"
    assert event.terms["contributions"][0]["period_from"] == "2027-09-01"
    assert list(event.terms["clauses"]) == [c.value for c in Clause]  # statutory order
    assert a.status is AgreementStatus.DRAFT
    assert (a.pending_version, a.current_version) == (1, None)
    assert a.versions[1].terms == event.terms
    assert a.versions[1].signatures == {}
    assert a.in_force_terms() is None
    assert a.in_force_program_ids() == set()
    assert a.teaching_party_ids(1) == [SCHOOL, CENTRE]
    assert a.party_ids(1) == [SCHOOL, CENTRE, MUSEUM]
    assert a.version_state(1) is VersionState.PENDING


@pytest.mark.parametrize(
    ("volume", "stored"), [("72.50", "72.50"), ("1E+2", "100"), (12, "12"), ("0.0001", "0.0001")]
)
def test_a_volume_is_stored_exactly_as_plain_decimal_text(volume: object, stored: str) -> None:
    a = draft(terms=terms(contributions=[contribution(volume=volume)]))
    assert a.versions[1].terms["contributions"][0]["volume"] == stored


def test_a_draft_may_lack_clauses_and_contributions() -> None:
    a = draft(terms=terms(clauses={}, contributions=[]))
    assert a.versions[1].missing_clauses() == list(Clause)
    assert a.versions[1].terms["contributions"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"term_end": START.isoformat()}, "terms.term_end"),
        ({"term_end": "2027-08-31"}, "terms.term_end"),
        ({"term_start": "1 сентября"}, "terms.term_start"),
        ({"term_end": None}, "terms.term_end"),
        ({"model": "model_4"}, "terms.model"),
        ({"model": None}, "terms.model"),
        ({"program_ids": []}, "terms.program_ids"),
        ({"program_ids": [str(PROGRAM), str(PROGRAM)]}, "terms.program_ids"),
        ({"program_ids": ["not-an-id"]}, "terms.program_ids[0]"),
        ({"program_ids": "abc"}, "terms.program_ids"),
        (
            {"parties": [{"organization_id": "x", "role": "base"}]},
            "terms.parties[0].organization_id",
        ),
        (
            {"parties": [{"organization_id": str(SCHOOL), "role": "sponsor"}]},
            "terms.parties[0].role",
        ),
        ({"parties": [{"organization_id": str(SCHOOL)}]}, "terms.parties[0].role"),
        ({"parties": ["school"]}, "terms.parties[0]"),
        ({"parties": [{"organization_id": str(uuid4()), "role": "base"}] * 51}, "terms.parties"),
        ({"clauses": {"payment": "Оплата"}}, "terms.clauses"),
        ({"clauses": {"documents_issued": "   "}}, "terms.clauses.documents_issued"),
        ({"clauses": {"documents_issued": "я" * 10_001}}, "terms.clauses.documents_issued"),
        ({"clauses": {"documents_issued": 5}}, "terms.clauses.documents_issued"),
        ({"clauses": ["documents_issued"]}, "terms.clauses"),
        ({"contributions": [contribution(volume="0")]}, "terms.contributions[0].volume"),
        ({"contributions": [contribution(volume="-3")]}, "terms.contributions[0].volume"),
        ({"contributions": [contribution(volume="many")]}, "terms.contributions[0].volume"),
        ({"contributions": [contribution(volume="1e20")]}, "terms.contributions[0].volume"),
        (
            {"contributions": [contribution(resource_type="money")]},
            "terms.contributions[0].resource_type",
        ),
        ({"contributions": [contribution(description="")]}, "terms.contributions[0].description"),
        ({"contributions": [contribution(unit=None)]}, "terms.contributions[0].unit"),
        (
            {"contributions": [contribution(period_from="2028-01-01", period_to="2027-12-31")]},
            "terms.contributions[0].period_to",
        ),
    ],
)
def test_terms_that_can_never_be_valid_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    refused_draft(ValidationError, field=field, terms=terms(**overrides))


def test_terms_must_be_an_object() -> None:
    with pytest.raises(ValidationError):
        parse_terms(["parties"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"number": " "}, "number"),
        ({"title": "т" * 301}, "title"),
        ({"municipality": ""}, "municipality"),
    ],
)
def test_an_agreement_has_a_number_title_and_municipality(
    overrides: dict[str, Any], field: str
) -> None:
    refused_draft(ValidationError, field=field, **overrides)


def test_an_agreement_has_at_least_two_distinct_parties() -> None:
    one = [{"organization_id": str(SCHOOL), "role": "base"}]
    err = refused_draft(rule="agreement_two_distinct_parties", terms=terms(parties=one))
    assert "at least two distinct" in err.detail
    twice = [*one, {"organization_id": str(SCHOOL), "role": "participant"}]
    err = refused_draft(
        rule="agreement_two_distinct_parties", terms=terms(parties=twice, contributions=[])
    )
    assert str(SCHOOL) in err.detail


def test_an_agreement_names_a_base_organisation() -> None:
    parties = [
        {"organization_id": str(SCHOOL), "role": "participant"},
        {"organization_id": str(MUSEUM), "role": "resource"},
    ]
    refused_draft(rule="agreement_has_base_party", terms=terms(parties=parties))


def test_at_least_one_party_is_an_educational_organisation() -> None:
    # given a plant (base) and a museum (resource): neither is educational
    parties = [
        {"organization_id": str(PLANT), "role": "base"},
        {"organization_id": str(MUSEUM), "role": "resource"},
    ]
    err = refused_draft(rule="agreement_has_educational_party", terms=terms(parties=parties))
    assert "culture" in err.detail
    assert "enterprise" in err.detail
    # a single educational party, even a resource one, is enough
    parties[1] = {"organization_id": str(CENTRE), "role": "resource"}
    a = draft(terms=terms(parties=parties, contributions=[]))
    assert a.teaching_party_ids(1) == [PLANT]


@pytest.mark.parametrize(
    "kind",
    ["general_education", "additional_education", "professional_education", "higher_education"],
)
def test_each_of_the_four_educational_kinds_counts(kind: str) -> None:
    parties = [
        {"organization_id": str(PLANT), "role": "base"},
        {"organization_id": str(MUSEUM), "role": "resource"},
    ]
    kinds = {**KINDS, MUSEUM: OrganizationKind(kind)}
    draft(terms=terms(parties=parties), party_kinds=kinds)


def test_a_party_whose_kind_is_unknown_is_not_in_the_register() -> None:
    kinds = {SCHOOL: OrganizationKind.GENERAL_EDUCATION, CENTRE: OrganizationKind.CULTURE}
    err = refused_draft(rule="organization_registered", party_kinds=kinds)
    assert str(MUSEUM) in err.detail


def test_only_parties_contribute_resources() -> None:
    stranger = uuid4()
    err = refused_draft(
        rule="contribution_by_party",
        terms=terms(contributions=[contribution(), contribution(organization_id=str(stranger))]),
    )
    assert str(stranger) in err.detail
    assert "contribution 2" in err.detail


@pytest.mark.parametrize(
    ("period_from", "period_to"),
    [("2027-08-31", "2028-05-31"), ("2027-09-01", "2028-07-01"), ("2026-01-01", "2029-01-01")],
)
def test_a_contribution_runs_within_the_term(period_from: str, period_to: str) -> None:
    refused_draft(
        rule="contribution_within_term",
        terms=terms(contributions=[contribution(period_from=period_from, period_to=period_to)]),
    )


def test_a_contribution_may_span_the_whole_term() -> None:
    a = draft(terms=terms(contributions=[contribution(period_from=START, period_to=END)]))
    assert a.versions[1].terms["contributions"][0]["period_to"] == END.isoformat()


# -- revising the draft ---------------------------------------------------------------


def test_an_unsigned_draft_is_revised_as_a_whole() -> None:
    a = draft()
    a.collect_events()
    a.revise_draft(OTHER, terms=terms(model="model_1", clauses={}), party_kinds=KINDS)
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementDraftRevised)
    assert (event.version, event.meta) == (1, OTHER)
    assert a.versions[1].terms["model"] == "model_1"
    assert a.versions[1].terms["clauses"] == {}
    assert a.status is AgreementStatus.DRAFT


def test_a_revision_keeps_every_rule_of_the_terms() -> None:
    a = draft()
    one = [{"organization_id": str(SCHOOL), "role": "base"}]
    assert_refused(
        a,
        lambda: a.revise_draft(META, terms=terms(parties=one), party_kinds=KINDS),
        rule="agreement_two_distinct_parties",
    )
    assert_refused(
        a,
        lambda: a.revise_draft(
            META,
            terms=terms(),
            party_kinds={**KINDS, SCHOOL: OrganizationKind.SPORT, CENTRE: OrganizationKind.SPORT},
        ),
        rule="agreement_has_educational_party",
    )


def test_a_version_signed_by_any_party_never_changes() -> None:
    a = draft()
    a.sign(META, party_id=CENTRE, signatory="Директор ЦДТ", signed_on=SIGNED_ON)
    err = assert_refused(
        a,
        lambda: a.revise_draft(META, terms=terms(model="model_1"), party_kinds=KINDS),
        rule="signed_version_immutable",
    )
    assert "signed by 1 party" in err.detail


def test_a_fully_signed_version_is_not_revised_either() -> None:
    a = draft()
    sign_all(a)
    assert a.status is AgreementStatus.SIGNED
    assert_refused(
        a,
        lambda: a.revise_draft(META, terms=terms(), party_kinds=KINDS),
        rule="signed_version_immutable",
    )


def test_with_nothing_pending_there_is_no_draft_to_revise() -> None:
    a = active()
    assert_refused(
        a,
        lambda: a.revise_draft(META, terms=terms(), party_kinds=KINDS),
        rule="agreement_version_pending",
    )


# -- signatures -----------------------------------------------------------------------


def test_each_party_signs_and_the_last_signature_makes_the_agreement_signed() -> None:
    a = draft()
    a.collect_events()
    a.sign(META, party_id=SCHOOL, signatory="Директор школы", signed_on=SIGNED_ON)
    a.sign(OTHER, party_id=MUSEUM, signatory="Директор музея", signed_on=date(2027, 8, 21))
    assert a.version_state(1) is VersionState.PENDING  # the agreement is still a draft
    assert a.unsigned_parties(1) == [CENTRE]
    a.sign(META, party_id=CENTRE, signatory="Директор ЦДТ", signed_on=SIGNED_ON, version=1)
    events = a.collect_events()
    assert event_names(events) == ["AgreementSigned"] * 3
    assert [e.party_id for e in events] == [SCHOOL, MUSEUM, CENTRE]  # type: ignore[attr-defined]
    assert events[1].meta == OTHER  # type: ignore[attr-defined]
    assert a.status is AgreementStatus.SIGNED
    assert a.version_state(1) is VersionState.SIGNED
    s = a.versions[1].signatures[MUSEUM]
    assert (s.signatory, s.signed_on) == ("Директор музея", date(2027, 8, 21))


def test_only_a_party_signs() -> None:
    a = draft()
    err = assert_refused(
        a,
        lambda: a.sign(META, party_id=PLANT, signatory="Директор", signed_on=SIGNED_ON),
        rule="signer_is_party",
    )
    assert str(PLANT) in err.detail


def test_a_party_signs_a_version_once() -> None:
    a = draft()
    a.sign(META, party_id=SCHOOL, signatory="Директор", signed_on=SIGNED_ON)
    assert_refused(
        a,
        lambda: a.sign(META, party_id=SCHOOL, signatory="Заместитель", signed_on=SIGNED_ON),
        rule="party_signs_once",
    )


def test_a_signature_names_the_version_awaiting_signatures_if_any() -> None:
    a = draft()
    assert_refused(
        a,
        lambda: a.sign(META, party_id=SCHOOL, signatory="Директор", signed_on=SIGNED_ON, version=2),
        rule="signature_for_pending_version",
    )


def test_a_version_lacking_a_clause_is_not_signed() -> None:
    a = draft(terms=terms(clauses={k: v for k, v in CLAUSES.items() if k != "documents_issued"}))
    err = assert_refused(
        a,
        lambda: a.sign(META, party_id=SCHOOL, signatory="Директор", signed_on=SIGNED_ON),
        rule="agreement_clauses_complete",
    )
    assert err.extra["missing"] == ["documents_issued"]


def test_a_signature_names_its_signatory_and_date() -> None:
    a = draft()
    assert_refused(
        a,
        lambda: a.sign(META, party_id=SCHOOL, signatory="  ", signed_on=SIGNED_ON),
        ValidationError,
        field="signatory",
    )
    assert_refused(
        a,
        lambda: a.sign(
            META,
            party_id=SCHOOL,
            signatory="Директор",
            signed_on="2027-08-20",  # type: ignore[arg-type]
        ),
        ValidationError,
        field="signed_on",
    )


def test_with_nothing_pending_there_is_nothing_to_sign() -> None:
    a = active()
    assert_refused(
        a,
        lambda: a.sign(META, party_id=SCHOOL, signatory="Директор", signed_on=SIGNED_ON),
        rule="agreement_version_pending",
    )


# -- activation -----------------------------------------------------------------------


def test_a_signed_agreement_activates_and_its_terms_are_in_force() -> None:
    a = draft()
    sign_all(a)
    a.collect_events()
    a.activate(OTHER, licensed_parties=LICENSED)
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementActivated)
    assert (event.version, event.meta) == (1, OTHER)
    assert a.status is AgreementStatus.ACTIVE
    assert (a.current_version, a.pending_version) == (1, None)
    assert a.in_force
    assert a.in_force_terms() == a.versions[1].terms
    assert a.in_force_program_ids() == {PROGRAM}
    assert a.version_state(1) is VersionState.IN_FORCE


def test_activation_names_the_missing_clauses_first() -> None:
    a = draft(terms=terms(clauses={"program_and_direction": "ДООП", "term_and_change": "Год"}))
    err = assert_refused(
        a,
        lambda: a.activate(META, licensed_parties=LICENSED),
        rule="agreement_clauses_complete",
    )
    assert err.extra["missing"] == [
        "students_status_and_admission",
        "duties_and_resources",
        "documents_issued",
    ]
    assert "documents_issued" in err.detail


def test_activation_needs_every_party_s_signature() -> None:
    a = draft()
    a.sign(META, party_id=SCHOOL, signatory="Директор", signed_on=SIGNED_ON)
    err = assert_refused(
        a,
        lambda: a.activate(META, licensed_parties=LICENSED),
        rule="agreement_signed_by_all_parties",
    )
    assert err.extra["unsigned"] == [str(CENTRE), str(MUSEUM)]


def test_activation_is_refused_while_a_teaching_party_lacks_a_licence() -> None:
    a = draft()
    sign_all(a)
    err = assert_refused(
        a,
        lambda: a.activate(META, licensed_parties={SCHOOL, MUSEUM}),
        rule="teaching_party_licensed",
    )
    assert err.extra["unlicensed"] == [str(CENTRE)]
    assert str(CENTRE) in err.detail
    assert str(SCHOOL) not in err.detail
    # the base organisation needs one too
    err = assert_refused(
        a, lambda: a.activate(META, licensed_parties=set()), rule="teaching_party_licensed"
    )
    assert err.extra["unlicensed"] == [str(SCHOOL), str(CENTRE)]


def test_a_resource_party_needs_no_licence() -> None:
    a = draft()
    sign_all(a)
    a.activate(META, licensed_parties={SCHOOL, CENTRE})  # the museum holds none
    assert a.status is AgreementStatus.ACTIVE


def test_an_agreement_in_force_with_nothing_pending_has_nothing_to_activate() -> None:
    a = active()
    assert_refused(
        a, lambda: a.activate(META, licensed_parties=LICENSED), rule="agreement_version_pending"
    )


# -- amendments -----------------------------------------------------------------------


def test_an_amendment_proposes_the_next_version_and_leaves_the_one_in_force() -> None:
    a = active()
    v1 = copy.deepcopy(a.versions[1])
    new = terms(program_ids=[str(PROGRAM), str(OTHER_PROGRAM)])
    number = a.propose_amendment(
        OTHER, terms=new, party_kinds=KINDS, reason="Добавлена вторая программа"
    )
    (event,) = a.collect_events()
    assert number == 2
    assert isinstance(event, NetworkAgreement.AgreementAmendmentProposed)
    assert event.version == 2
    assert event.meta.reason == "Добавлена вторая программа"
    assert event.meta.actor_id == OTHER.actor_id
    assert a.status is AgreementStatus.ACTIVE
    assert (a.current_version, a.pending_version) == (1, 2)
    assert a.versions[2].based_on == 1
    assert a.versions[1] == v1
    # what is in force is still version 1 until version 2 is signed and activated
    assert a.in_force_program_ids() == {PROGRAM}
    assert a.version_state(1) is VersionState.IN_FORCE
    assert a.version_state(2) is VersionState.PENDING


def test_a_signed_amendment_takes_effect_and_the_previous_version_stays_readable() -> None:
    a = active()
    v1 = copy.deepcopy(a.versions[1])
    a.propose_amendment(
        META,
        terms=terms(program_ids=[str(PROGRAM), str(OTHER_PROGRAM)]),
        party_kinds=KINDS,
        reason="Добавлена программа",
    )
    sign_all(a)
    a.collect_events()
    a.activate(OTHER, licensed_parties=LICENSED)
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementAmended)
    assert event.version == 2
    assert a.status is AgreementStatus.AMENDED
    assert (a.current_version, a.pending_version) == (2, None)
    assert a.in_force_program_ids() == {PROGRAM, OTHER_PROGRAM}
    assert a.versions[1] == v1
    assert a.version_state(1) is VersionState.SUPERSEDED
    assert a.version_state(2) is VersionState.IN_FORCE


def test_an_amended_agreement_is_amended_again() -> None:
    a = amended()
    number = a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="Откат")
    assert number == 3
    assert a.versions[3].based_on == 2


def test_an_unsigned_amendment_is_revised_and_a_signed_one_is_not() -> None:
    a = active()
    a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="Изменение")
    a.revise_draft(META, terms=terms(model="model_1"), party_kinds=KINDS)
    assert a.versions[2].terms["model"] == "model_1"
    assert a.versions[2].based_on == 1
    assert a.versions[1].terms["model"] == "model_2"
    a.sign(META, party_id=MUSEUM, signatory="Директор музея", signed_on=SIGNED_ON)
    assert_refused(
        a,
        lambda: a.revise_draft(META, terms=terms(), party_kinds=KINDS),
        rule="signed_version_immutable",
    )


def test_a_party_leaving_by_amendment_signs_it_too() -> None:
    # given the museum leaves and a plant joins as a resource organisation
    a = active()
    new = terms(
        parties=[
            {"organization_id": str(SCHOOL), "role": "base"},
            {"organization_id": str(CENTRE), "role": "participant"},
            {"organization_id": str(PLANT), "role": "resource"},
        ],
        contributions=[contribution(organization_id=str(PLANT))],
    )
    a.propose_amendment(META, terms=new, party_kinds=KINDS, reason="Смена ресурсной организации")
    assert a.required_signers(2) == [SCHOOL, CENTRE, PLANT, MUSEUM]
    for party in (SCHOOL, CENTRE, PLANT):
        a.sign(META, party_id=party, signatory="Директор", signed_on=SIGNED_ON)
    err = assert_refused(
        a,
        lambda: a.activate(META, licensed_parties=LICENSED),
        rule="agreement_signed_by_all_parties",
    )
    assert err.extra["unsigned"] == [str(MUSEUM)]
    a.sign(META, party_id=MUSEUM, signatory="Директор музея", signed_on=SIGNED_ON)
    a.activate(META, licensed_parties=LICENSED)
    assert a.party_ids(2) == [SCHOOL, CENTRE, PLANT]


def test_an_amendment_adding_a_teaching_party_needs_its_licence() -> None:
    a = active()
    new = terms(
        parties=[
            {"organization_id": str(SCHOOL), "role": "base"},
            {"organization_id": str(CENTRE), "role": "participant"},
            {"organization_id": str(MUSEUM), "role": "participant"},
        ]
    )
    a.propose_amendment(META, terms=new, party_kinds=KINDS, reason="Музей ведёт модуль")
    sign_all(a)
    err = assert_refused(
        a, lambda: a.activate(META, licensed_parties=LICENSED), rule="teaching_party_licensed"
    )
    assert err.extra["unlicensed"] == [str(MUSEUM)]
    assert a.teaching_party_ids(2) == [SCHOOL, CENTRE, MUSEUM]
    assert a.teaching_party_ids(1) == [SCHOOL, CENTRE]


@pytest.mark.parametrize("stage", ["draft", "signed"])
def test_only_an_agreement_in_force_is_amended(stage: str) -> None:
    a = draft()
    if stage == "signed":
        sign_all(a)
    assert_refused(
        a,
        lambda: a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="r"),
        rule="amend_only_in_force",
    )


def test_one_amendment_is_pending_at_a_time() -> None:
    a = active()
    a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="Первое")
    assert_refused(
        a,
        lambda: a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="Второе"),
        rule="amendment_pending",
    )


def test_an_amendment_gives_its_reason_and_keeps_the_rules_of_terms() -> None:
    a = active()
    assert_refused(
        a,
        lambda: a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason=" "),
        ValidationError,
        field="reason",
    )
    assert_refused(
        a,
        lambda: a.propose_amendment(
            META,
            terms=terms(contributions=[contribution(period_to="2030-01-01")]),
            party_kinds=KINDS,
            reason="r",
        ),
        rule="contribution_within_term",
    )


def test_later_proposals_and_revisions_never_change_earlier_versions() -> None:
    a = amended()
    v1, v2 = copy.deepcopy(a.versions[1]), copy.deepcopy(a.versions[2])
    a.propose_amendment(META, terms=terms(model="model_3"), party_kinds=KINDS, reason="r")
    a.revise_draft(META, terms=terms(model="model_1"), party_kinds=KINDS)
    assert (a.versions[1], a.versions[2]) == (v1, v2)


# -- termination and expiry ------------------------------------------------------------


@pytest.mark.parametrize("stage", ["signed", "active", "amended"])
def test_a_concluded_agreement_is_terminated_with_a_reason_and_a_date(stage: str) -> None:
    if stage == "signed":
        a = draft()
        sign_all(a)
    else:
        a = active() if stage == "active" else amended()
    a.collect_events()
    a.terminate(
        EventMeta(actor_id="o", actor_role="official", basis_document="Соглашение о расторжении"),
        reason="Ресурсная организация закрыта на ремонт",
        terminated_on=date(2028, 1, 31),
    )
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementTerminated)
    assert event.terminated_on == date(2028, 1, 31)
    assert event.meta.reason == "Ресурсная организация закрыта на ремонт"
    assert event.meta.basis_document == "Соглашение о расторжении"
    assert a.status is AgreementStatus.TERMINATED
    assert a.terminated_on == date(2028, 1, 31)
    assert a.in_force_terms() is None
    assert a.in_force_program_ids() == set()
    if stage == "signed":
        assert a.version_state(1) is VersionState.NOT_ADOPTED
    else:
        assert a.current_version is not None
        assert a.version_state(a.current_version) is VersionState.ENDED


def test_a_draft_is_not_terminated() -> None:
    a = draft()
    assert_refused(
        a,
        lambda: a.terminate(META, reason="r", terminated_on=date(2028, 1, 1)),
        rule="agreement_concluded",
    )


def test_termination_needs_a_reason_and_a_date() -> None:
    a = active()
    assert_refused(
        a,
        lambda: a.terminate(META, reason="", terminated_on=date(2028, 1, 1)),
        ValidationError,
        field="reason",
    )
    assert_refused(
        a,
        lambda: a.terminate(META, reason="r", terminated_on="2028-01-01"),  # type: ignore[arg-type]
        ValidationError,
        field="terminated_on",
    )


def test_terminating_drops_a_pending_amendment_which_stays_readable() -> None:
    a = active()
    a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="r")
    a.terminate(META, reason="r", terminated_on=date(2028, 1, 1))
    assert a.pending_version is None
    assert a.version_state(2) is VersionState.NOT_ADOPTED
    assert 2 in a.versions


def test_a_closed_agreement_changes_no_more() -> None:
    a = active()
    a.terminate(META, reason="r", terminated_on=date(2028, 1, 1))
    commands: list[Callable[[], object]] = [
        lambda: a.terminate(META, reason="r", terminated_on=date(2028, 1, 2)),
        lambda: a.expire(META, today=date(2030, 1, 1)),
        lambda: a.propose_amendment(META, terms=terms(), party_kinds=KINDS, reason="r"),
        lambda: a.revise_draft(META, terms=terms(), party_kinds=KINDS),
        lambda: a.sign(META, party_id=SCHOOL, signatory="Д", signed_on=SIGNED_ON),
        lambda: a.activate(META, licensed_parties=LICENSED),
    ]
    for command in commands:
        assert_refused(a, command, rule="agreement_closed")


def test_an_agreement_expires_only_after_its_term_end() -> None:
    a = active()
    err = assert_refused(a, lambda: a.expire(META, today=END), rule="expire_after_term_end")
    assert END.isoformat() in err.detail
    a.expire(META, today=date(2028, 7, 1))
    (event,) = a.collect_events()
    assert isinstance(event, NetworkAgreement.AgreementExpired)
    assert event.expired_on == date(2028, 7, 1)
    assert a.status is AgreementStatus.EXPIRED
    assert a.expired_on == date(2028, 7, 1)
    assert a.in_force_terms() is None
    assert a.version_state(1) is VersionState.ENDED
    assert_refused(a, lambda: a.expire(META, today=date(2029, 1, 1)), rule="agreement_closed")


def test_expiry_follows_the_term_of_the_version_in_force() -> None:
    # given an amendment that extends the term by a year
    a = amended(terms(term_end="2029-06-30"))
    assert_refused(a, lambda: a.expire(META, today=date(2028, 7, 1)), rule="expire_after_term_end")
    a.expire(META, today=date(2029, 7, 1))
    assert a.status is AgreementStatus.EXPIRED


def test_a_signed_agreement_never_activated_expires_after_its_term() -> None:
    a = draft()
    sign_all(a)
    a.expire(META, today=date(2028, 7, 1))
    assert a.status is AgreementStatus.EXPIRED
    assert a.version_state(1) is VersionState.NOT_ADOPTED


def test_a_draft_does_not_expire() -> None:
    a = draft()
    assert_refused(a, lambda: a.expire(META, today=date(2030, 1, 1)), rule="agreement_concluded")


def test_an_unknown_version_is_named() -> None:
    a = draft()
    with pytest.raises(RuleViolationError) as caught:
        a.teaching_party_ids(7)
    assert caught.value.rule == "agreement_version_exists"


# -- events ---------------------------------------------------------------------------


def eventful_history() -> NetworkAgreement:
    """An agreement through every event type: drafted, revised, signed, activated,
    amended twice (once through a revised proposal), terminated."""
    a = draft(terms=terms(clauses={}))
    a.revise_draft(META, terms=terms(), party_kinds=KINDS)
    sign_all(a)
    a.activate(META, licensed_parties=LICENSED)
    a.propose_amendment(OTHER, terms=terms(model="model_3"), party_kinds=KINDS, reason="r")
    sign_all(a, OTHER)
    a.activate(OTHER, licensed_parties=LICENSED)
    a.terminate(META, reason="Расторжение", terminated_on=date(2028, 2, 1))
    return a


def event_types(cls: type[DomainAggregate]) -> set[str]:
    return {
        name
        for name, value in vars(cls).items()
        if isinstance(value, type) and issubclass(value, DomainAggregate.Event)
    } - {"Event", "Created"}


def test_every_event_type_survives_a_round_trip_through_the_stored_form(
    mapper: Mapper[Any],
) -> None:
    a = eventful_history()
    expired = active()
    expired.expire(META, today=date(2028, 7, 1))
    events = [*a.pending_events, *expired.pending_events]
    assert {type(e).__name__ for e in events} == event_types(NetworkAgreement)
    for event in events:
        restored = mapper.to_domain_event(mapper.to_stored_event(event))
        assert type(restored) is type(event)
        assert vars(restored) == vars(event)
        assert restored.meta == event.meta  # type: ignore[attr-defined]


def test_an_agreement_replayed_from_stored_events_equals_the_original(
    mapper: Mapper[Any],
) -> None:
    a = eventful_history()
    events = list(a.collect_events())
    rebuilt = replay(mapper.to_domain_event(mapper.to_stored_event(e)) for e in events)
    assert rebuilt == a
    assert rebuilt.versions == a.versions
    assert rebuilt.version_state(1) is VersionState.SUPERSEDED
    assert rebuilt.version_state(2) is VersionState.ENDED


def test_replaying_a_prefix_gives_the_agreement_as_it_was_then() -> None:
    a = eventful_history()
    events = list(a.collect_events())
    # drafted, revised, 3 signatures, activated: version 1 in force
    then = replay(events[:6])
    assert then.status is AgreementStatus.ACTIVE
    assert then.in_force_terms()["model"] == "model_2"
    assert set(then.versions) == {1}
