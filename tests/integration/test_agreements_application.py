"""Network agreements through the application, on PostgreSQL, with real organisations.

The application gathers what the domain needs from other aggregates: every party is a
registered organisation (its kind decides "at least one educational party"), every
program exists, and activation reads each teaching party's licence register entries.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.agreement import AgreementStatus, Clause, NetworkAgreement, VersionState
from domain.errors import NotFoundError, RuleViolationError, StaleVersionError
from domain.values import EventMeta
from interagency.application import InteragencyApplication
from interagency.services import Services
from tests.organization_helpers import register_organization

META = EventMeta(
    actor_id="official-agr", actor_role="official", actor_agency="education", correlation_id="a"
)
ADDITIONAL = "additional_education_children_adults"
START, END = date(2027, 9, 1), date(2028, 6, 30)
CLAUSES = {c.value: f"Условия: {c.value}" for c in Clause}


@pytest.fixture
def app(services: Services) -> InteragencyApplication:
    return services.app


def organisation(
    app: InteragencyApplication,
    kind: str,
    *,
    licence: str | None = ADDITIONAL,
    issued_on: date = date(2022, 3, 15),
) -> UUID:
    """A registered organisation; with a licence of ``licence`` unless None."""
    oid = register_organization(app, kind=kind, name=f"{kind} {uuid.uuid4().hex[:6]}")
    if licence is not None:
        app.register_licence(
            META,
            oid,
            number=f"Л035-{uuid.uuid4().hex[:8]}",
            sub_kinds=[licence],
            issued_on=issued_on,
            issuer="Министерство образования края",
        )
    return oid


def program(app: InteragencyApplication, provider: UUID, partner: UUID) -> UUID:
    return app.draft_program(
        META,
        title="Робототехника",
        description="Сетевая программа технической направленности",
        provider_id=provider,
        kind="general_developing",
        direction="technical",
        min_age=10,
        max_age=14,
        hours=72,
        capacity=20,
        form="network",
        partner_ids=[partner],
    ).aggregate_id


def terms(
    parties: list[tuple[UUID, str]], programs: list[UUID], **overrides: Any
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "parties": [{"organization_id": str(o), "role": r} for o, r in parties],
        "model": "model_2",
        "program_ids": [str(p) for p in programs],
        "contributions": [],
        "clauses": dict(CLAUSES),
        "term_start": START.isoformat(),
        "term_end": END.isoformat(),
    }
    raw.update(overrides)
    return raw


def draft(app: InteragencyApplication, agreement_terms: dict[str, Any]) -> UUID:
    return app.draft_agreement(
        META,
        number=f"СВ-{uuid.uuid4().hex[:6]}",
        title="Договор о сетевой форме реализации программы",
        municipality="Северный муниципальный район",
        terms=agreement_terms,
    ).aggregate_id


def sign_all(app: InteragencyApplication, agreement_id: UUID) -> None:
    a = app.get_agreement(agreement_id)
    assert a.pending_version is not None
    for party in a.unsigned_parties(a.pending_version):
        app.sign_agreement(
            META, agreement_id, party_id=party, signatory="Директор", signed_on=date(2027, 8, 20)
        )


@pytest.fixture
def network(app: InteragencyApplication) -> dict[str, UUID]:
    """A licensed school and centre, an unlicensed museum and plant, a network program."""
    school = organisation(app, "general_education")
    centre = organisation(app, "additional_education")
    museum = organisation(app, "culture", licence=None)
    plant = organisation(app, "enterprise", licence=None)
    return {
        "school": school,
        "centre": centre,
        "museum": museum,
        "plant": plant,
        "program": program(app, centre, school),
    }


def usual_terms(n: dict[str, UUID], **overrides: Any) -> dict[str, Any]:
    return terms(
        [(n["school"], "base"), (n["centre"], "participant"), (n["museum"], "resource")],
        [n["program"]],
        **overrides,
    )


def rule_of(command: Any) -> str:
    with pytest.raises(RuleViolationError) as caught:
        command()
    return caught.value.rule


# -- life cycle -----------------------------------------------------------------------


def test_an_agreement_is_drafted_signed_and_activated_between_registered_organisations(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # given a museum contributing its hall
    contribution = {
        "organization_id": str(network["museum"]),
        "resource_type": "infrastructure",
        "description": "Выставочный зал",
        "volume": "72.5",
        "unit": "часов",
        "period_from": START.isoformat(),
        "period_to": "2028-05-31",
    }
    aid = draft(app, usual_terms(network, contributions=[contribution]))
    # when every party signs and the agreement is activated
    sign_all(app, aid)
    assert app.get_agreement(aid).status is AgreementStatus.SIGNED
    result = app.activate_agreement(META, aid)
    # then it is in force, read back from PostgreSQL
    a = app.get_agreement(aid)
    assert a.status is AgreementStatus.ACTIVE
    assert a.version == result.version == 5  # drafted, three signatures, activated
    assert a.in_force_program_ids() == {network["program"]}
    terms_in_force = a.in_force_terms()
    assert terms_in_force is not None
    assert terms_in_force["contributions"][0]["volume"] == "72.5"
    assert [e.event.__class__.__name__ for e in app.history(aid)] == [
        "AgreementDrafted",
        "AgreementSigned",
        "AgreementSigned",
        "AgreementSigned",
        "AgreementActivated",
    ]


def test_activation_is_refused_for_an_unlicensed_teaching_party(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # given the plant teaches a module (participant) without any licence
    aid = draft(
        app,
        terms(
            [(network["school"], "base"), (network["plant"], "participant")],
            [network["program"]],
        ),
    )
    sign_all(app, aid)
    version = app.get_agreement(aid).version
    # when
    with pytest.raises(RuleViolationError) as caught:
        app.activate_agreement(META, aid)
    # then the rule names the plant alone, and nothing was stored
    assert caught.value.rule == "teaching_party_licensed"
    assert caught.value.extra["unlicensed"] == [str(network["plant"])]
    assert str(network["school"]) not in caught.value.detail
    a = app.get_agreement(aid)
    assert (a.version, a.status) == (version, AgreementStatus.SIGNED)
    # when the plant's licence is registered, the same agreement activates
    app.register_licence(
        META,
        network["plant"],
        number="Л035-0099",
        sub_kinds=[ADDITIONAL],
        issued_on=date(2027, 6, 1),
        issuer="Министерство образования края",
    )
    app.activate_agreement(META, aid)
    assert app.get_agreement(aid).status is AgreementStatus.ACTIVE


def test_activation_is_allowed_for_an_unlicensed_resource_party(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # given the museum and the plant, neither licensed, only provide resources
    aid = draft(
        app,
        terms(
            [
                (network["school"], "base"),
                (network["museum"], "resource"),
                (network["plant"], "resource"),
            ],
            [network["program"]],
        ),
    )
    sign_all(app, aid)
    app.activate_agreement(META, aid)
    a = app.get_agreement(aid)
    assert a.status is AgreementStatus.ACTIVE
    assert a.teaching_party_ids(1) == [network["school"]]


@pytest.mark.parametrize("case", ["issued_after_start", "other_sub_kind", "suspended"])
def test_only_an_active_additional_education_licence_issued_by_the_start_counts(
    app: InteragencyApplication, network: dict[str, UUID], case: str
) -> None:
    centre = organisation(
        app,
        "additional_education",
        licence="secondary_professional" if case == "other_sub_kind" else ADDITIONAL,
        issued_on=date(2027, 9, 2) if case == "issued_after_start" else date(2022, 1, 10),
    )
    if case == "suspended":
        licence_id = next(iter(app.get_organization(centre).licences))
        app.suspend_licence(META, centre, licence_id, effective_on=date(2027, 5, 1))
    aid = draft(
        app,
        terms([(network["school"], "base"), (centre, "participant")], [network["program"]]),
    )
    sign_all(app, aid)
    with pytest.raises(RuleViolationError) as caught:
        app.activate_agreement(META, aid)
    assert caught.value.rule == "teaching_party_licensed"
    assert caught.value.extra["unlicensed"] == [str(centre)]


# -- facts from other aggregates --------------------------------------------------------


def test_a_party_must_be_a_registered_organisation(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    stranger = uuid.uuid4()
    with pytest.raises(RuleViolationError) as caught:
        draft(
            app, terms([(network["school"], "base"), (stranger, "resource")], [network["program"]])
        )
    assert caught.value.rule == "organization_registered"
    assert str(stranger) in caught.value.detail


def test_a_listed_program_must_exist(app: InteragencyApplication, network: dict[str, UUID]) -> None:
    missing = uuid.uuid4()
    with pytest.raises(RuleViolationError) as caught:
        draft(app, usual_terms(network, program_ids=[str(network["program"]), str(missing)]))
    assert caught.value.rule == "agreement_program_exists"
    assert str(missing) in caught.value.detail


def test_an_agreement_without_an_educational_organisation_is_refused_and_not_stored(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    aid = uuid.uuid4()
    with pytest.raises(RuleViolationError) as caught:
        app.draft_agreement(
            META,
            agreement_id=aid,
            number="СВ-1",
            title="Договор музея и предприятия",
            municipality="Северный муниципальный район",
            terms=terms(
                [(network["museum"], "base"), (network["plant"], "resource")],
                [network["program"]],
            ),
        )
    assert caught.value.rule == "agreement_has_educational_party"
    with pytest.raises(NotFoundError):
        app.get_agreement(aid)


def test_the_agreement_s_own_state_is_checked_before_other_aggregates(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # given a version signed by one party
    aid = draft(app, usual_terms(network))
    app.sign_agreement(
        META, aid, party_id=network["school"], signatory="Директор", signed_on=date(2027, 8, 1)
    )
    # when revised with a party that is not registered: the signature decides first
    stranger_terms = terms(
        [(network["school"], "base"), (uuid.uuid4(), "resource")], [network["program"]]
    )
    assert (
        rule_of(lambda: app.revise_agreement_draft(META, aid, terms=stranger_terms))
        == "signed_version_immutable"
    )
    # and an amendment of an agreement not in force
    assert (
        rule_of(lambda: app.propose_amendment(META, aid, terms=stranger_terms, reason="r"))
        == "amend_only_in_force"
    )


# -- versions -------------------------------------------------------------------------


def test_an_amendment_takes_effect_and_the_earlier_version_stays_readable(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # given an agreement in force
    aid = draft(app, usual_terms(network))
    sign_all(app, aid)
    activated = app.activate_agreement(META, aid)
    v1 = app.get_agreement(aid).versions[1]
    second = program(app, network["centre"], network["school"])
    # when an amendment adds a second program and the plant as a resource party
    new_terms = terms(
        [
            (network["school"], "base"),
            (network["centre"], "participant"),
            (network["museum"], "resource"),
            (network["plant"], "resource"),
        ],
        [network["program"], second],
        term_end="2029-06-30",
    )
    app.propose_amendment(META, aid, terms=new_terms, reason="Вторая программа")
    a = app.get_agreement(aid)
    assert (a.current_version, a.pending_version) == (1, 2)
    assert a.in_force_program_ids() == {network["program"]}  # not yet in effect
    sign_all(app, aid)
    app.activate_agreement(META, aid)
    # then version 2 is in force, version 1 unchanged and readable
    a = app.get_agreement(aid)
    assert a.status is AgreementStatus.AMENDED
    assert a.in_force_program_ids() == {network["program"], second}
    assert a.versions[1] == v1
    assert a.version_state(1) is VersionState.SUPERSEDED
    assert [e.event.__class__.__name__ for e in app.history(aid)][-1] == "AgreementAmended"
    # and the agreement as it was when first activated still answers version 1
    then = app.get_agreement(aid, activated.version)
    assert then.status is AgreementStatus.ACTIVE
    assert then.in_force_program_ids() == {network["program"]}
    # the term runs to the amended end
    assert rule_of(lambda: app.expire_agreement(META, aid, today=date(2028, 7, 1))) == (
        "expire_after_term_end"
    )
    app.expire_agreement(META, aid, today=date(2029, 7, 1))
    assert app.get_agreement(aid).status is AgreementStatus.EXPIRED


def test_termination_records_reason_and_date_and_closes_the_agreement(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    aid = draft(app, usual_terms(network))
    sign_all(app, aid)
    app.activate_agreement(META, aid)
    app.terminate_agreement(
        META.because("Ремонт здания музея", basis_document="Соглашение о расторжении № 3"),
        aid,
        reason="Ремонт здания музея",
        terminated_on=date(2028, 2, 1),
    )
    a = app.get_agreement(aid)
    assert (a.status, a.terminated_on) == (AgreementStatus.TERMINATED, date(2028, 2, 1))
    last = app.history(aid)[-1].event
    assert isinstance(last, NetworkAgreement.AgreementTerminated)
    assert last.meta.reason == "Ремонт здания музея"
    assert last.meta.basis_document == "Соглашение о расторжении № 3"
    assert rule_of(lambda: app.activate_agreement(META, aid)) == "agreement_closed"


def test_a_signature_against_a_stale_version_is_refused(
    app: InteragencyApplication, network: dict[str, UUID]
) -> None:
    # two parties read the agreement at the same version; both sign with If-Match
    aid = draft(app, usual_terms(network))
    seen = app.get_agreement(aid).version
    app.sign_agreement(
        META,
        aid,
        party_id=network["school"],
        signatory="Директор",
        signed_on=date(2027, 8, 1),
        expected_version=seen,
    )
    with pytest.raises(StaleVersionError):
        app.sign_agreement(
            META,
            aid,
            party_id=network["centre"],
            signatory="Директор",
            signed_on=date(2027, 8, 1),
            expected_version=seen,
        )
    assert list(app.get_agreement(aid).versions[1].signatures) == [network["school"]]
