"""The network register on the write side, on a real PostgreSQL.

An organisation and its INN index entry are one ``save()``: a second registration of the
same INN is refused by name, and of racing registrations exactly one is stored. Projects,
working groups and municipal assignments reference registered organisations only.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    NotFoundError,
    RuleViolationError,
    StaleVersionError,
    ValidationError,
)
from domain.organization import InnIndex, LicenceStatus, Organization
from domain.project import ProjectOrganization
from domain.values import EventMeta, OrganizationKind
from interagency.idempotency import IdempotencyContext
from interagency.services import Services
from tests.organization_helpers import organization_kwargs, register_organization, unique_inn

META = EventMeta(
    actor_id="registrar-1", actor_role="official", actor_agency="education", correlation_id="t"
)
ADDITIONAL = "additional_education_children_adults"
LINE = {
    "registry_number": "804200О.99.0.ББ52АЖ48000",
    "service_name": "Реализация дополнительных общеразвивающих программ",
    "unit": "person_hours",
    "planned": {"2027": "1000"},
    "normative_cost": "150.00",
}


def test_a_registered_organisation_is_stored_with_its_inn_index_in_one_save(
    services: Services,
) -> None:
    # when an organisation is registered
    inn = unique_inn()
    result = services.app.register_organization(META, **organization_kwargs(inn=inn))
    # then it reads back, and its INN finds it
    o = services.app.get_organization(result.aggregate_id)
    assert (o.inn, o.version, result.version) == (inn, 1, 1)
    found = services.app.find_organization_by_inn(inn)
    assert found is not None
    assert found.id == o.id
    index = services.app.repository.get(InnIndex.id_for(inn))
    assert isinstance(index, InnIndex)
    assert index.organization_id == o.id
    # and the organisation's event is the last of the save, at the position answered
    (entry,) = services.app.history(o.id)
    assert entry.position == result.position
    index_entry = services.app.history(InnIndex.id_for(inn))[0]
    assert index_entry.position < result.position


def test_a_second_registration_of_an_inn_is_refused_naming_the_holder(
    services: Services,
) -> None:
    # given an organisation registered under an INN
    inn = unique_inn(12)
    holder = register_organization(services.app, inn=inn, name="ИП Петров")
    head = services.app.head_position()
    # when another registers under the same INN
    newcomer = uuid4()
    with pytest.raises(RuleViolationError) as caught:
        services.app.register_organization(
            META, **organization_kwargs(inn=inn), organization_id=newcomer
        )
    # then the rule is named with the holder, and nothing was written
    assert caught.value.rule == "inn_unique"
    assert str(holder) in caught.value.detail
    assert "ИП Петров" in caught.value.detail
    assert services.app.head_position() == head
    with pytest.raises(NotFoundError):
        services.app.get_organization(newcomer)


def test_a_malformed_inn_is_invalid_input_and_writes_nothing(services: Services) -> None:
    head = services.app.head_position()
    with pytest.raises(ValidationError) as caught:
        services.app.register_organization(META, **organization_kwargs(inn="7707083894"))
    assert caught.value.extra["field"] == "inn"
    assert services.app.head_position() == head


def test_a_retried_registration_with_its_key_answers_the_first_result(
    services: Services,
) -> None:
    key = IdempotencyContext(key=f"reg-{uuid4().hex}", fingerprint="f-1")
    kwargs = organization_kwargs()
    first = services.app.register_organization(
        META, **kwargs, organization_id=key.new_id("organization"), idempotency=key
    )
    again = services.app.register_organization(
        META, **kwargs, organization_id=key.new_id("organization"), idempotency=key
    )
    assert again.replayed
    assert (again.aggregate_id, again.version, again.position) == (
        first.aggregate_id,
        first.version,
        first.position,
    )


def test_racing_registrations_of_one_inn_store_exactly_one_organisation(
    services: Services,
) -> None:
    # given eight officials registering the same INN at once
    inn = unique_inn()
    barrier = threading.Barrier(8)

    def attempt(i: int) -> UUID | DomainError:
        barrier.wait()
        try:
            return services.app.register_organization(
                META, **organization_kwargs(inn=inn, name=f"Организация {i}")
            ).aggregate_id
        except (RuleViolationError, ConcurrencyConflictError) as exc:
            return exc

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    # then exactly one is stored, and the index names it
    stored = [o for o in outcomes if isinstance(o, UUID)]
    assert len(stored) == 1
    found = services.app.find_organization_by_inn(inn)
    assert found is not None
    assert found.id == stored[0]
    # and every other one was refused as a rule or a conflict, never an unexpected error
    refused = [o for o in outcomes if not isinstance(o, UUID)]
    assert len(refused) == 7
    assert all(
        isinstance(e, ConcurrencyConflictError)
        or (isinstance(e, RuleViolationError) and e.rule == "inn_unique")
        for e in refused
    )


def test_the_licence_lifecycle_through_the_application(services: Services) -> None:
    oid = register_organization(services.app)
    licence_id = uuid4()
    services.app.register_licence(
        META,
        oid,
        licence_id=licence_id,
        number="Л035-01234-24/00000001",
        sub_kinds=[ADDITIONAL],
        issued_on=date(2022, 1, 10),
        issuer="Министерство образования края",
    )
    assert services.app.get_organization(oid).licensed_for_additional_education(date(2027, 1, 1))
    suspended = services.app.suspend_licence(
        META.because("Предписание надзора"), oid, licence_id, effective_on=date(2026, 5, 1)
    )
    # a stale expected version is refused
    with pytest.raises(StaleVersionError):
        services.app.reinstate_licence(
            META, oid, licence_id, effective_on=date(2026, 6, 1), expected_version=2
        )
    services.app.reinstate_licence(
        META, oid, licence_id, effective_on=date(2026, 6, 1), expected_version=suspended.version
    )
    services.app.terminate_licence(META, oid, licence_id, effective_on=date(2026, 12, 31))
    with pytest.raises(RuleViolationError) as caught:
        services.app.reinstate_licence(META, oid, licence_id, effective_on=date(2027, 1, 1))
    assert caught.value.rule == "licence_terminated_final"
    o = services.app.get_organization(oid)
    assert o.licences[licence_id].status is LicenceStatus.TERMINATED
    assert [type(e.event).__name__ for e in services.app.history(oid)] == [
        "OrganizationRegistered",
        "LicenceRegistered",
        "LicenceSuspended",
        "LicenceReinstated",
        "LicenceTerminated",
    ]
    assert services.app.history(oid)[2].event.meta.reason == "Предписание надзора"


def test_rename_and_reorganisation_keep_the_id_and_the_inn_index(services: Services) -> None:
    inn = unique_inn()
    oid = register_organization(services.app, inn=inn, name="МБОУ СОШ № 5")
    services.app.rename_organization(META, oid, name="МБОУ «Лицей № 5»")
    services.app.reorganize_organization(
        META,
        oid,
        form="transformation",
        effective_on=date(2027, 9, 1),
        name="МАОУ «Лицей № 5»",
        kind="general_education",
    )
    o = services.app.get_organization(oid)
    assert [n.name for n in o.names] == ["МБОУ СОШ № 5", "МБОУ «Лицей № 5»", "МАОУ «Лицей № 5»"]
    found = services.app.find_organization_by_inn(inn)
    assert found is not None
    assert found.id == oid
    assert found.version == 3
    # an old version still reads as it was
    assert services.app.get_organization(oid, version=1).name == "МБОУ СОШ № 5"


def test_an_unknown_organisation_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError) as caught:
        services.app.get_organization(uuid4())
    assert "no organisation" in caught.value.detail
    with pytest.raises(NotFoundError):
        services.app.rename_organization(META, uuid4(), name="X")


# -- references -----------------------------------------------------------------------------


def draft_assignment(services: Services, organization_id: Any) -> UUID:
    return services.app.draft_assignment(
        META,
        organization_id=organization_id,
        institution="МБУ ДО «ЦДТ»",
        agency="education",
        founder="Управление образования",
        municipality="Северный муниципальный район",
        fiscal_year=2027,
        lines=[dict(LINE)],
    ).aggregate_id


def test_an_assignment_is_drafted_only_for_a_registered_organisation(
    services: Services,
) -> None:
    # given a registered organisation and a project, which is not an organisation
    oid = register_organization(services.app)
    project_id = services.app.initiate_project(
        META,
        title="P",
        goal="G",
        municipality="M",
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id
    head = services.app.head_position()
    # then an unknown id, or the id of another kind of aggregate, breaks the rule
    for unknown in (uuid4(), project_id, str(uuid4())):
        with pytest.raises(RuleViolationError) as caught:
            draft_assignment(services, unknown)
        assert caught.value.rule == "organization_registered"
        assert caught.value.extra["field"] == "organization_id"
        assert "register" in caught.value.detail
    # and a string that is no id at all is invalid input
    with pytest.raises(ValidationError) as invalid:
        draft_assignment(services, "7701234567")
    assert invalid.value.extra["field"] == "organization_id"
    assert services.app.head_position() == head
    # while a registered organisation (as a UUID or its text) is accepted
    for ref in (oid, str(oid)):
        a = services.app.get_assignment(draft_assignment(services, ref))
        assert a.organization_id == str(oid)


def test_a_project_names_registered_organisations_only(services: Services) -> None:
    oid = register_organization(services.app, kind="general_education", name="МБОУ СОШ № 5")

    def initiate(*organizations: ProjectOrganization) -> UUID:
        return services.app.initiate_project(
            META,
            title="Инженерные каникулы",
            goal="Coverage",
            municipality="M",
            lead_agency="education",
            agencies=["education", "culture"],
            organizations=list(organizations),
        ).aggregate_id

    # an organisation named by its register id, and one by free text alone (as before)
    pid = initiate(
        ProjectOrganization("МБОУ СОШ № 5", OrganizationKind.GENERAL_EDUCATION, None, oid),
        ProjectOrganization("Дом культуры", OrganizationKind.CULTURE),
    )
    stored = services.app.get_project(pid).organizations
    assert [o.organization_id for o in stored] == [oid, None]
    # an id not in the register is refused, naming which organisation
    with pytest.raises(RuleViolationError) as caught:
        initiate(
            ProjectOrganization("Дом культуры", OrganizationKind.CULTURE),
            ProjectOrganization("Призрак", OrganizationKind.CULTURE, None, uuid4()),
        )
    assert caught.value.rule == "organization_registered"
    assert caught.value.extra["field"] == "organizations[1].organization_id"


def test_a_working_group_member_names_a_registered_organisation_only(
    services: Services,
) -> None:
    oid = register_organization(services.app)
    group_id = services.app.establish_group(
        META, kind="interagency", name="WG", basis_act="Order 1", municipality="M"
    ).aggregate_id

    def appoint(organization_id: UUID | None) -> UUID:
        member_id = uuid4()
        services.app.appoint_member(
            META,
            group_id,
            member_id=member_id,
            person="Иванова М. П.",
            organization="МБУ ДО «ЦДТ»",
            organization_id=organization_id,
            agency="education",
            position="member",
            voting=True,
            appointed_on=date(2027, 1, 15),
        )
        return member_id

    named, unnamed = appoint(oid), appoint(None)
    with pytest.raises(RuleViolationError) as caught:
        appoint(uuid4())
    assert caught.value.rule == "organization_registered"
    g = services.app.get_group(group_id)
    assert g.version == 3, "the refused appointment wrote nothing"
    assert (g.members[named].organization_id, g.members[unnamed].organization_id) == (oid, None)


def test_require_organization_answers_the_organisation(services: Services) -> None:
    oid = register_organization(services.app)
    assert isinstance(services.app.require_organization(oid), Organization)
    with pytest.raises(RuleViolationError) as caught:
        services.app.require_organization(uuid4(), "parties[0].organization_id")
    assert caught.value.rule == "organization_registered"
    assert caught.value.detail.startswith("parties[0].organization_id: ")
