"""The network projection on a real PostgreSQL: the register, programs, agreements, the
public catalogue, and the licence control, compared with what the aggregates say."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.agreement import AgreementStatus
from domain.organization import LicenceStatus, LicenceSubKind
from interagency.application import InteragencyApplication
from interagency.services import Services
from projections.network import CatalogueFilter, ProgramFilter
from projections.runtime import ProjectionWorker, Projector
from tests.conftest import wait_projected
from tests.integration.network_helpers import (
    META,
    TERM,
    active_agreement,
    add_licence,
    approve_all,
    contribution,
    draft_program,
    enrol,
    published_program,
    register,
    sign_all,
    terms,
)


@pytest.fixture
def municipality() -> str:
    """A municipality no other test uses, so the filters see this test's rows alone."""
    return f"District {uuid.uuid4().hex[:10]}"


def at_head(services: Services) -> None:
    wait_projected(services, services.app.head_position())


def organization_row(services: Services, oid: UUID) -> dict[str, Any]:
    org = services.app.get_organization(oid)
    rows, _ = services.network.organizations(municipality=org.municipality, limit=200)
    return next(r for r in rows if r["organization_id"] == oid)


def expected_licence_status(app: InteragencyApplication, oid: UUID) -> str:
    """The best status among the organisation's additional-education licences."""
    statuses = {
        lic.status
        for lic in app.get_organization(oid).licences.values()
        if lic.covers(LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS)
    }
    for status in (LicenceStatus.ACTIVE, LicenceStatus.SUSPENDED, LicenceStatus.TERMINATED):
        if status in statuses:
            return status.value
    return "none"


def assert_organization_like_the_aggregate(services: Services, oid: UUID) -> dict[str, Any]:
    at_head(services)
    org = services.app.get_organization(oid)
    row = organization_row(services, oid)
    assert {
        k: row[k] for k in ("name", "inn", "kind", "agency", "founder", "municipality", "address")
    } == {
        "name": org.name,
        "inn": org.inn,
        "kind": org.kind.value,
        "agency": org.agency.value,
        "founder": org.founder,
        "municipality": org.municipality,
        "address": org.address,
    }
    assert row["licences"] == len(org.licences)
    assert row["additional_education_licence"] == expected_licence_status(services.app, oid)
    assert row["has_active_additional_education_licence"] is any(
        lic.status is LicenceStatus.ACTIVE
        and lic.covers(LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS)
        for lic in org.licences.values()
    )
    assert row["version"] == org.version
    return row


# -- the organisation register ------------------------------------------------------------


def test_the_register_follows_licences_through_suspension_reinstatement_and_termination(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    oid = register(app, municipality, "Centre of creativity", licensed=False)
    row = assert_organization_like_the_aggregate(services, oid)
    assert (row["licences"], row["additional_education_licence"]) == (0, "none")

    # A licence without the additional-education sub-kind counts, but does not license.
    add_licence(app, oid, sub_kinds=["basic_general"])
    row = assert_organization_like_the_aggregate(services, oid)
    assert (row["licences"], row["additional_education_licence"]) == (1, "none")

    lid = add_licence(app, oid)
    row = assert_organization_like_the_aggregate(services, oid)
    assert (row["licences"], row["has_active_additional_education_licence"]) == (2, True)

    app.suspend_licence(META, oid, lid, effective_on=date(2026, 3, 1))
    row = assert_organization_like_the_aggregate(services, oid)
    assert row["additional_education_licence"] == "suspended"
    assert row["has_active_additional_education_licence"] is False
    licence = next(r for r in services.network.licences(oid) if r["licence_id"] == lid)
    assert (licence["status"], licence["status_since"]) == ("suspended", date(2026, 3, 1))

    app.reinstate_licence(META, oid, lid, effective_on=date(2026, 4, 1))
    assert assert_organization_like_the_aggregate(services, oid)[
        "additional_education_licence"
    ] == ("active")

    app.terminate_licence(META, oid, lid, effective_on=date(2026, 5, 1))
    row = assert_organization_like_the_aggregate(services, oid)
    assert row["additional_education_licence"] == "terminated"


def test_the_register_shows_renames_and_reorganisations(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    oid = register(app, municipality, "School No. 5", kind="general_education")
    app.rename_organization(META, oid, name="Lyceum No. 5")
    assert assert_organization_like_the_aggregate(services, oid)["name"] == "Lyceum No. 5"

    app.reorganize_organization(
        META,
        oid,
        form="transformation",
        effective_on=date(2026, 1, 1),
        name="Education centre No. 5",
        kind="additional_education",
        agency="culture",
    )
    row = assert_organization_like_the_aggregate(services, oid)
    assert (row["reorganization_form"], row["reorganized_on"]) == (
        "transformation",
        date(2026, 1, 1),
    )


def test_the_register_filters_and_pages(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "A school", kind="general_education", licensed=False)
    museum = register(app, municipality, "B museum", kind="culture", agency="culture")
    sport = register(app, municipality, "C sports school", kind="sport", agency="sport")
    suspended = register(app, municipality, "D arts school", agency="culture", licensed=False)
    lid = add_licence(app, suspended)
    app.suspend_licence(META, suspended, lid, effective_on=date(2026, 2, 1))
    at_head(services)
    net = services.network

    def ids(**filters: Any) -> list[UUID]:
        rows, total = net.organizations(municipality=municipality, **filters)
        assert total == len(rows)
        return [r["organization_id"] for r in rows]

    assert ids() == [school, museum, sport, suspended]
    assert ids(agency="culture") == [museum, suspended]
    assert ids(kind="sport") == [sport]
    assert ids(licence_status="active") == [museum, sport]
    assert ids(licence_status="suspended") == [suspended]
    assert ids(licence_status="none") == [school]
    page, total = net.organizations(municipality=municipality, limit=2, offset=1)
    assert (total, [r["organization_id"] for r in page]) == (4, [museum, sport])


# -- programs -----------------------------------------------------------------------------


def test_programs_show_places_left_as_children_enrol_and_leave(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    provider = register(app, municipality, "House of children's creativity")
    pid = published_program(app, provider, capacity=3)
    first = enrol(app, pid, "child-aaa1", 2015)
    enrol(app, pid, "child-aaa2", 2016)
    at_head(services)
    row = services.network.program(pid)
    assert row is not None
    assert (row["active_enrolments"], row["enrolments_total"], row["free_places"]) == (2, 2, 1)

    app.end_enrolment(META, pid, first, end_date=date(2026, 12, 20))
    app.change_program_capacity(META, pid, capacity=5)
    at_head(services)
    program = app.get_program(pid)
    row = services.network.program(pid)
    assert row is not None
    assert row["active_enrolments"] == program.active_enrolments == 1
    assert row["enrolments_total"] == len(program.enrolments) == 2
    assert row["free_places"] == program.places_left == 4
    assert (row["capacity"], row["status"], row["version"]) == (5, "published", program.version)
    assert row["providers"] == [
        {
            "organization_id": str(provider),
            "name": "House of children's creativity",
            "role": "provider",
        }
    ]


def test_programs_are_listed_by_filters_and_summarised(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    edu = register(app, municipality, "Centre", agency="education")
    museum = register(app, municipality, "Museum", kind="culture", agency="culture")
    robots = published_program(app, edu, title="Robots", capacity=10)
    enrol(app, robots, "child-bbb1", 2015)
    painting = draft_program(
        app, museum, title="Painting", kind="pre_professional_arts", direction=None, capacity=8
    )
    network = draft_program(
        app,
        edu,
        title="Local history",
        direction="tourism_local_history",
        partners=[museum],
        capacity=15,
    )
    at_head(services)
    net = services.network

    def titles(**kw: Any) -> list[str]:
        rows, total = net.programs(ProgramFilter(municipality=municipality, **kw))
        assert total == len(rows)
        return [r["title"] for r in rows]

    assert titles() == ["Local history", "Painting", "Robots"]
    assert titles(status="published") == ["Robots"]
    assert titles(direction="artistic") == ["Painting"]
    assert titles(agency="culture") == ["Painting"]
    assert titles(form="network") == ["Local history"]
    assert titles(kind="general_developing") == ["Local history", "Robots"]
    # An organisation's programs: those it provides and those it teaches as a partner.
    assert titles(provider_id=museum) == ["Local history", "Painting"]
    rows, _ = net.programs(ProgramFilter(municipality=municipality, form="network"))
    assert [p["role"] for p in rows[0]["providers"]] == ["provider", "partner"]
    assert rows[0]["partner_ids"] == [museum]
    assert painting != network

    summary = net.programs_summary(municipality=municipality)
    assert summary["form"] == [
        {
            "key": "network",
            "programs": 1,
            "published": 0,
            "capacity": 15,
            "active_enrolments": 0,
            "free_places": 0,
        },
        {
            "key": "standalone",
            "programs": 2,
            "published": 1,
            "capacity": 18,
            "active_enrolments": 1,
            "free_places": 9,
        },
    ]
    assert [(r["key"], r["programs"]) for r in summary["agency"]] == [
        ("culture", 1),
        ("education", 2),
    ]
    assert [r["key"] for r in summary["direction"]] == [
        "artistic",
        "technical",
        "tourism_local_history",
    ]
    published = net.programs_summary(municipality=municipality, status="published")
    assert [(r["key"], r["programs"]) for r in published["direction"]] == [("technical", 1)]


# -- agreements ---------------------------------------------------------------------------


def agreement_row(services: Services, aid: UUID) -> dict[str, Any]:
    row = services.network.agreement(aid)
    assert row is not None
    return row


def assert_agreement_like_the_aggregate(services: Services, aid: UUID) -> dict[str, Any]:
    at_head(services)
    a = services.app.get_agreement(aid)
    row = agreement_row(services, aid)
    shown = a.current_version or max(a.versions)
    t = a.versions[shown].terms
    assert row["status"] == a.status.value
    assert row["in_force"] is a.in_force
    assert row["version_in_force"] == a.current_version
    assert row["terms_version"] == shown
    assert (row["model"], row["term_start"], row["term_end"]) == (
        t["model"],
        date.fromisoformat(t["term_start"]),
        date.fromisoformat(t["term_end"]),
    )
    assert sorted((p["organization_id"], p["role"]) for p in row["parties"]) == sorted(
        (p["organization_id"], p["role"]) for p in t["parties"]
    )
    assert sorted(p["program_id"] for p in row["programs"]) == sorted(t["program_ids"])
    assert [
        {k: c[k] for k in ("organization_id", "resource_type", "volume", "unit")}
        for c in row["contributions"]
    ] == [
        {
            "organization_id": c["organization_id"],
            "resource_type": c["resource_type"],
            "volume": str(Decimal(c["volume"])),
            "unit": c["unit"],
        }
        for c in t["contributions"]
    ]
    assert row["version"] == a.version
    return row


def test_an_agreement_shows_the_terms_in_force_through_signature_activation_and_amendment(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School No. 1", kind="general_education")
    centre = register(app, municipality, "Technopark")
    plant = register(app, municipality, "Plant", kind="enterprise", agency="other", licensed=False)
    pid = draft_program(app, school, partners=[centre])
    v1 = terms(
        [(school, "base"), (centre, "participant")],
        [pid],
        contributions=[contribution(centre, "material_technical", "12", "robot kits")],
    )
    aid = uuid.uuid4()
    app.draft_agreement(
        META,
        agreement_id=aid,
        number="NA-1",
        title="Robotics together",
        municipality=municipality,
        terms=v1,
    )
    row = assert_agreement_like_the_aggregate(services, aid)
    assert (row["status"], row["in_force"], row["latest_version"]) == ("draft", False, 1)

    # Signed by every party: "signed", not yet in force.
    sign_all(app, aid)
    assert assert_agreement_like_the_aggregate(services, aid)["status"] == "signed"

    app.activate_agreement(META, aid)
    row = assert_agreement_like_the_aggregate(services, aid)
    assert (row["status"], row["in_force"], row["version_in_force"]) == ("active", True, 1)

    # An amendment adds the plant as a resource organisation; until it takes effect the
    # terms of version 1 stay those in force.
    v2 = terms(
        [(school, "base"), (centre, "participant"), (plant, "resource")],
        [pid],
        contributions=[
            contribution(centre, "material_technical", "12", "robot kits"),
            contribution(plant, "personnel", "2", "engineers"),
        ],
    )
    app.propose_amendment(META, aid, terms=v2, reason="The plant joins")
    row = assert_agreement_like_the_aggregate(services, aid)
    assert (row["latest_version"], row["terms_version"], len(row["parties"])) == (2, 1, 2)

    sign_all(app, aid)
    app.activate_agreement(META, aid)
    row = assert_agreement_like_the_aggregate(services, aid)
    assert (row["status"], row["version_in_force"], row["amendments"]) == ("amended", 2, 1)
    assert {p["name"] for p in row["parties"]} == {"School No. 1", "Technopark", "Plant"}

    app.terminate_agreement(META, aid, reason="The plant closes", terminated_on=date(2027, 1, 31))
    row = assert_agreement_like_the_aggregate(services, aid)
    assert (row["status"], row["in_force"], row["terminated_on"]) == (
        "terminated",
        False,
        date(2027, 1, 31),
    )
    listed, total = services.network.agreements(municipality=municipality, in_force=True)
    assert (listed, total) == ([], 0)
    listed, total = services.network.agreements(municipality=municipality, organization_id=plant)
    assert [r["agreement_id"] for r in listed] == [aid]


def test_agreements_expiring_within_n_days_of_a_date(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School", kind="general_education")
    centre = register(app, municipality, "Centre")

    def agreement(number: str, term_end: date) -> UUID:
        pid = draft_program(app, school, partners=[centre], title=f"Program {number}")
        return active_agreement(
            app,
            municipality,
            terms(
                [(school, "base"), (centre, "participant")],
                [pid],
                term=(date(2026, 9, 1), term_end),
            ),
            number=number,
        )

    soon = agreement("NA-soon", date(2027, 5, 31))
    later = agreement("NA-later", date(2027, 8, 31))
    agreement("NA-far", date(2028, 8, 31))
    ended = agreement("NA-ended", date(2027, 5, 1))
    app.terminate_agreement(META, ended, reason="Ended early", terminated_on=date(2027, 2, 1))
    at_head(services)
    net = services.network

    rows = net.expiring(date(2027, 5, 15), 30, municipality)[0]
    assert [(r["agreement_id"], r["days_left"]) for r in rows] == [(soon, 16)]
    rows = net.expiring(date(2027, 5, 15), 120, municipality)[0]
    assert [r["agreement_id"] for r in rows] == [soon, later]
    # A term that has run out while nobody recorded the expiry shows as overdue.
    rows = net.expiring(date(2027, 6, 10), 0, municipality)[0]
    assert [(r["agreement_id"], r["days_left"]) for r in rows] == [(soon, -10)]
    app.expire_agreement(META, soon, today=date(2027, 6, 10))
    at_head(services)
    assert net.expiring(date(2027, 6, 10), 0, municipality)[0] == []


def test_contributions_are_totalled_per_resource_type_of_agreements_in_force(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School", kind="general_education")
    centre = register(app, municipality, "Centre")
    library = register(
        app, municipality, "Library", kind="culture", agency="culture", licensed=False
    )
    first = draft_program(app, school, partners=[centre], title="First")
    second = draft_program(app, school, partners=[centre], title="Second")
    active_agreement(
        app,
        municipality,
        terms(
            [(school, "base"), (centre, "participant"), (library, "resource")],
            [first],
            contributions=[
                contribution(library, "infrastructure", "120", "hours of reading room"),
                contribution(centre, "personnel", "2.5", "teacher rates"),
                contribution(school, "infrastructure", "80", "hours of reading room"),
            ],
        ),
    )
    active_agreement(
        app,
        municipality,
        terms(
            [(school, "base"), (centre, "participant")],
            [second],
            contributions=[contribution(centre, "infrastructure", "1", "gym")],
        ),
    )
    # A draft does not count: its contributions are not in force.
    app.draft_agreement(
        META,
        number="NA-draft",
        title="Draft",
        municipality=municipality,
        terms=terms(
            [(school, "base"), (centre, "participant")],
            [second],
            contributions=[contribution(centre, "intellectual", "9", "courses")],
        ),
    )
    at_head(services)

    rows, total = services.network.contributions_by_resource_type(municipality)
    assert total == 2
    assert rows == [
        {
            "resource_type": "infrastructure",
            "contributions": 3,
            "agreements": 2,
            "organizations": 3,
            "volumes": [
                {"unit": "gym", "contributions": 1, "volume": Decimal("1")},
                {"unit": "hours of reading room", "contributions": 2, "volume": Decimal("200")},
            ],
        },
        {
            "resource_type": "personnel",
            "contributions": 1,
            "agreements": 1,
            "organizations": 1,
            "volumes": [{"unit": "teacher rates", "contributions": 1, "volume": Decimal("2.5")}],
        },
    ]


def test_a_teaching_party_whose_licence_is_suspended_after_activation_is_flagged(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School", kind="general_education")
    centre = register(app, municipality, "Centre")
    plant = register(app, municipality, "Plant", kind="enterprise", agency="other", licensed=False)
    centre_licence = next(iter(app.get_organization(centre).licences))
    pid = draft_program(app, school, partners=[centre])
    aid = active_agreement(
        app,
        municipality,
        terms([(school, "base"), (centre, "participant"), (plant, "resource")], [pid]),
    )
    at_head(services)
    net = services.network
    on = date(2026, 10, 1)
    # Activation checked every teaching party; a resource party needs no licence.
    assert net.unlicensed_teaching_parties(on, municipality)[0] == []

    app.suspend_licence(META, centre, centre_licence, effective_on=date(2026, 11, 1))
    at_head(services)
    rows = net.unlicensed_teaching_parties(on, municipality)[0]
    assert [
        (
            r["agreement_id"],
            r["organization_id"],
            r["role"],
            r["name"],
            r["additional_education_licence"],
        )
        for r in rows
    ] == [(aid, centre, "participant", "Centre", "suspended")]

    app.reinstate_licence(META, centre, centre_licence, effective_on=date(2026, 12, 1))
    at_head(services)
    assert net.unlicensed_teaching_parties(on, municipality)[0] == []

    # A licence issued after the date asked about does not cover it.
    app.terminate_licence(META, centre, centre_licence, effective_on=date(2027, 1, 10))
    add_licence(app, centre, issued_on=date(2027, 1, 11))
    at_head(services)
    rows, total = net.unlicensed_teaching_parties(on, municipality)
    assert ([r["organization_id"] for r in rows], total) == ([centre], 1)
    assert net.unlicensed_teaching_parties(date(2027, 2, 1), municipality)[0] == []

    # Once the agreement is no longer in force, its parties are no longer checked.
    app.terminate_agreement(META, aid, reason="Done", terminated_on=date(2027, 2, 1))
    at_head(services)
    assert net.unlicensed_teaching_parties(on, municipality)[0] == []
    assert app.get_agreement(aid).status is AgreementStatus.TERMINATED


# -- the public catalogue -------------------------------------------------------------------


def test_the_catalogue_lists_published_programs_only_with_providers_and_agreement(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School No. 3", kind="general_education")
    centre = register(app, municipality, "Technopark", agency="education")
    museum = register(app, municipality, "Museum", kind="culture", agency="culture")
    robots = published_program(app, centre, title="Robots", min_age=10, max_age=14, capacity=1)
    enrol(app, robots, "child-ccc1", 2015)
    painting = published_program(
        app,
        museum,
        title="Painting",
        kind="pre_professional_arts",
        direction=None,
        min_age=7,
        max_age=12,
    )
    draft_program(app, centre, title="Unpublished drones")
    archived = published_program(app, centre, title="Old chess", direction="social_humanitarian")
    app.archive_program(META, archived)
    network = draft_program(
        app, school, title="Engineering", partners=[centre], min_age=12, max_age=17
    )
    approve_all(app, network)
    aid = active_agreement(
        app,
        municipality,
        terms([(school, "base"), (centre, "participant")], [network]),
        number="NA-77",
    )
    app.publish_program(META, network, agreement_id=aid)
    at_head(services)
    net = services.network

    def titles(**kw: Any) -> list[str]:
        rows, total = net.catalogue(CatalogueFilter(municipality=municipality, **kw))
        assert total == len(rows)
        return [r["title"] for r in rows]

    assert titles() == ["Engineering", "Painting", "Robots"]
    assert titles(direction="artistic") == ["Painting"]
    assert titles(age=13) == ["Engineering", "Robots"]
    assert titles(age=8) == ["Painting"]
    assert titles(age=18) == []
    assert titles(agency="culture") == ["Painting"]
    assert titles(form="network") == ["Engineering"]
    assert titles(has_free_places=True) == ["Engineering", "Painting"]
    assert titles(has_free_places=False) == ["Robots"]

    item = net.catalogue_program(network)
    assert item is not None
    assert item["providers"] == [
        {"organization_id": str(school), "name": "School No. 3", "role": "provider"},
        {"organization_id": str(centre), "name": "Technopark", "role": "partner"},
    ]
    assert item["agreement"] == {
        "agreement_id": str(aid),
        "number": "NA-77",
        "title": app.get_agreement(aid).title,
        "term_start": TERM[0].isoformat(),
        "term_end": TERM[1].isoformat(),
    }
    standalone = net.catalogue_program(painting)
    assert standalone is not None
    assert standalone["agreement"] is None
    assert net.catalogue_program(archived) is None
    # Nothing about children: no ids, no enrolments, only the places left.
    full = net.catalogue_program(robots)
    assert full is not None
    assert (full["capacity"], full["free_places"]) == (1, 0)
    assert "child-ccc1" not in repr(full)
    assert not {k for k in full if "enrol" in k or "child" in k}

    # The agreement ends: the network program stays published, but is no longer offered.
    app.terminate_agreement(META, aid, reason="Ended", terminated_on=date(2027, 1, 31))
    at_head(services)
    assert app.get_program(network).status.value == "published"
    assert net.catalogue_program(network) is None
    assert titles() == ["Painting", "Robots"]


# -- rebuilds -------------------------------------------------------------------------------


def test_a_rebuild_from_zero_gives_the_rows_of_incremental_processing(
    services: Services, worker: ProjectionWorker, municipality: str
) -> None:
    app = services.app
    school = register(app, municipality, "School", kind="general_education")
    centre = register(app, municipality, "Centre")
    lid = next(iter(app.get_organization(centre).licences))
    pid = draft_program(app, school, partners=[centre])
    approve_all(app, pid)
    aid = active_agreement(
        app,
        municipality,
        terms(
            [(school, "base"), (centre, "participant")],
            [pid],
            contributions=[contribution(centre, "personnel", "1.25", "rates")],
        ),
    )
    app.publish_program(META, pid, agreement_id=aid)
    eid = enrol(app, pid, "child-ddd1", 2014)
    enrol(app, pid, "child-ddd2", 2013)
    app.end_enrolment(META, pid, eid, end_date=date(2026, 12, 31))
    app.suspend_licence(META, centre, lid, effective_on=date(2026, 10, 1))
    app.rename_organization(META, school, name="School renamed")
    at_head(services)
    before = services.network.dump()
    assert all(before.values())

    # In small batches, so that batch boundaries fall between related events.
    small = Projector(services.network, app.pg_recorder, app.mapper, 4)
    small.reset()
    small.catch_up()
    at_head(services)

    assert services.network.dump() == before
