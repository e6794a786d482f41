"""Programs, enrolments and territories' population over HTTP, on PostgreSQL.

Refusals answer problem+json: 409 naming the broken rule, 422 naming the field (and the
rule, when the domain has one for it).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    expect_ok,
    official_headers,
    role_headers,
)
from tests.e2e.organization_helpers import register_licence, register_organization
from tests.integration.network_helpers import terms

OFFICIAL = official_headers("culture", actor_id="metodist-sidorova")
# The methodist's programs are those of culture's providers (their agency takes part).
AGENCY = "culture"
CHILD = "nav-7f3a9c21"


def program_body(provider: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Хоровое пение",
        "description": "Сетевая программа художественной направленности",
        "provider_id": provider,
        "partner_ids": [],
        "kind": "general_developing",
        "direction": "artistic",
        "min_age": 7,
        "max_age": 12,
        "hours": 144,
        "capacity": 2,
        "form": "standalone",
    }
    body.update(overrides)
    return body


def post(client: TestClient, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(f"{API}{path}", json=body, headers={**OFFICIAL, **headers})


def draft(client: TestClient, provider: str, **overrides: Any) -> str:
    made = expect_ok(post(client, "/programs", program_body(provider, **overrides)), 201)
    return str(made["id"])


def published(client: TestClient, municipality: str, **overrides: Any) -> str:
    """A standalone program of a fresh culture provider, approved and published."""
    provider = register_organization(client, municipality=municipality, agency=AGENCY)
    pid = draft(client, provider, **overrides)
    expect_ok(post(client, f"/programs/{pid}/approvals", {"party_id": provider}))
    expect_ok(post(client, f"/programs/{pid}/publish", {}))
    return pid


def enrolment(child_id: str = CHILD, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "child_id": child_id,
        "birth_year": 2018,
        "territory": "микрорайон Северный",
        "funding_source": "certificate",
        "start_date": "2027-09-01",
        "end_date": "2028-05-31",
    }
    body.update(overrides)
    return body


def active_agreement(
    client: TestClient, municipality: str, parties: list[tuple[str, str]], programs: list[str]
) -> str:
    """Drafted, signed by every party and activated over HTTP."""
    body = {
        "number": "СВ-12/2027",
        "title": "Договор о сетевой форме реализации программы",
        "municipality": municipality,
        "terms": terms(parties, programs),  # type: ignore[arg-type]
    }
    aid = str(expect_ok(post(client, "/agreements", body), 201)["id"])
    for party, _ in parties:
        expect_ok(
            post(
                client,
                f"/agreements/{aid}/signatures",
                {"party_id": party, "signatory": "Директор", "signed_on": "2026-08-01"},
            )
        )
    expect_ok(post(client, f"/agreements/{aid}/activate"))
    return aid


def test_a_network_program_goes_from_draft_to_archive_over_http(
    client: TestClient, municipality: str
) -> None:
    # given a licensed school of music (culture) and a licensed general-education school
    provider = register_organization(
        client, municipality=municipality, kind="additional_education", agency="culture"
    )
    school = register_organization(client, municipality=municipality, kind="general_education")
    for org in (provider, school):
        register_licence(client, org)
    # when the provider drafts a network program with the school
    created = post(
        client, "/programs", program_body(provider, partner_ids=[school], form="network")
    )
    made = expect_ok(created, 201)
    pid = made["id"]
    assert created.headers["Location"] == f"/api/v1/programs/{pid}"
    read = client.get(f"{API}/programs/{pid}")
    body = expect_ok(read)
    assert read.headers["ETag"] == '"1"'
    assert (body["status"], body["agency"], body["municipality"]) == (
        "draft",
        "culture",
        municipality,
    )
    assert body["awaiting_approval"] == [provider, school]
    # both teaching parties approve; the second approval approves the program
    expect_ok(post(client, f"/programs/{pid}/approvals", {"party_id": provider}))
    approved = expect_ok(post(client, f"/programs/{pid}/approvals", {"party_id": school}))
    assert approved["version"] == 4
    # without an agreement a network program is not published
    refused = post(client, f"/programs/{pid}/publish", {})
    assert assert_problem(refused, 409)["rule"] == "network_program_needs_active_agreement"
    # under an agreement in force that lists it, it is
    agreement = active_agreement(
        client, municipality, [(school, "base"), (provider, "participant")], [pid]
    )
    expect_ok(post(client, f"/programs/{pid}/publish", {"agreement_id": agreement}))
    # a child is enrolled: the answer names the enrolment
    enrolled = expect_ok(post(client, f"/programs/{pid}/enrolments", enrolment()), 201)
    eid = enrolled["enrolment_id"]
    body = expect_ok(client.get(f"{API}/programs/{pid}"))
    assert (body["status"], body["agreement_id"], body["places_left"]) == (
        "published",
        agreement,
        1,
    )
    assert body["enrolments"] == {"active": 1, "ended": 0, "total": 1}
    # archiving waits for the child to finish
    refused = post(client, f"/programs/{pid}/archive")
    assert assert_problem(refused, 409)["rule"] == "archive_without_active_enrolments"
    expect_ok(post(client, f"/programs/{pid}/enrolments/{eid}/end", {"end_date": "2028-05-31"}))
    expect_ok(post(client, f"/programs/{pid}/archive", {"reason": "Программа завершена"}))
    history = expect_ok(client.get(f"{API}/programs/{pid}/history"))["events"]
    assert [e["type"] for e in history] == [
        "ProgramDrafted",
        "ProgramApprovedByParty",
        "ProgramApprovedByParty",
        "ProgramApproved",
        "ProgramPublished",
        "ChildEnrolled",
        "EnrolmentEnded",
        "ProgramArchived",
    ]
    assert history[-1]["reason"] == "Программа завершена"
    assert history[-1]["actor"]["id"] == OFFICIAL.actor_id


def test_a_childs_pseudonymous_id_is_shown_neither_in_the_program_nor_its_history(
    client: TestClient, municipality: str
) -> None:
    pid = published(client, municipality)
    expect_ok(post(client, f"/programs/{pid}/enrolments", enrolment()), 201)
    program = client.get(f"{API}/programs/{pid}")
    history = client.get(f"{API}/programs/{pid}/history")
    assert CHILD not in program.text
    assert CHILD not in history.text
    enrolled = next(e for e in history.json()["events"] if e["type"] == "ChildEnrolled")
    assert enrolled["data"]["birth_year"] == 2018
    assert "child_id" not in enrolled["data"]


def test_enrolment_refusals_name_their_rule(client: TestClient, municipality: str) -> None:
    pid = published(client, municipality)  # ages 7-12, two places
    head_before = expect_ok(client.get(f"{API}/programs/{pid}"))["version"]
    # born 2021: turns 6 in 2027, reaches 7 during the school year: accepted
    first = expect_ok(
        post(client, f"/programs/{pid}/enrolments", enrolment("child-000001", birth_year=2021)),
        201,
    )
    # born 2022: turns 5
    refused = post(
        client, f"/programs/{pid}/enrolments", enrolment("child-000002", birth_year=2022)
    )
    problem = assert_problem(refused, 409)
    assert problem["rule"] == "child_age_in_program_range"
    assert "7-12" in problem["detail"]
    # the same child twice while active
    refused = post(client, f"/programs/{pid}/enrolments", enrolment("child-000001"))
    assert assert_problem(refused, 409)["rule"] == "child_enrolled_once"
    expect_ok(post(client, f"/programs/{pid}/enrolments", enrolment("child-000003")), 201)
    # no third place
    refused = post(client, f"/programs/{pid}/enrolments", enrolment("child-000004"))
    assert assert_problem(refused, 409)["rule"] == "program_capacity"
    # the capacity never drops below the children enrolled
    refused = post(client, f"/programs/{pid}/capacity", {"capacity": 1})
    assert assert_problem(refused, 409)["rule"] == "capacity_not_below_enrolled"
    # an enrolment ends once
    end = f"/programs/{pid}/enrolments/{first['enrolment_id']}/end"
    expect_ok(post(client, end, {"end_date": "2027-12-31"}))
    assert assert_problem(post(client, end, {"end_date": "2027-12-31"}), 409)["rule"] == (
        "enrolment_active"
    )
    after = expect_ok(client.get(f"{API}/programs/{pid}"))
    assert after["version"] == head_before + 3
    assert after["enrolments"] == {"active": 1, "ended": 1, "total": 2}


def test_invalid_programs_and_enrolments_are_422_naming_field_and_rule(
    client: TestClient, municipality: str
) -> None:
    provider = register_organization(client, municipality=municipality, agency=AGENCY)
    # the domain's own checks: direction for a general-developing program, age range
    problem = assert_problem(post(client, "/programs", program_body(provider, direction=None)), 422)
    assert (problem["rule"], problem["field"]) == ("direction_matches_kind", "direction")
    problem = assert_problem(
        post(client, "/programs", program_body(provider, min_age=12, max_age=7)), 422
    )
    assert problem["rule"] == "program_age_range"
    problem = assert_problem(
        post(client, "/programs", program_body(provider, form="network", partner_ids=[])), 422
    )
    assert problem["rule"] == "network_form_partners"
    # the edge's bounds
    problem = assert_problem(post(client, "/programs", program_body(provider, capacity=0)), 422)
    assert problem["errors"][0]["field"] == "capacity"
    pid = published(client, municipality)
    problem = assert_problem(
        post(client, f"/programs/{pid}/enrolments", enrolment("Иванов Иван")), 422
    )
    assert problem["errors"][0]["field"] == "child_id"
    problem = assert_problem(
        post(client, f"/programs/{pid}/enrolments", enrolment(end_date="2027-08-31")), 422
    )
    assert (problem["rule"], problem["field"]) == ("end_date_not_before_start", "end_date")


def test_approval_and_publication_refusals_name_their_rule(
    client: TestClient, municipality: str
) -> None:
    provider = register_organization(client, municipality=municipality, agency=AGENCY)
    stranger = register_organization(client, municipality=municipality)
    pid = draft(client, provider)
    refused = post(client, f"/programs/{pid}/approvals", {"party_id": stranger})
    assert assert_problem(refused, 409)["rule"] == "approver_is_teaching_party"
    refused = post(client, f"/programs/{pid}/publish", {})
    assert assert_problem(refused, 409)["rule"] == "program_approved_before_publication"
    refused = post(client, f"/programs/{pid}/enrolments", enrolment())
    assert assert_problem(refused, 409)["rule"] == "enrol_in_published_program"
    # a program names registered organisations only
    unknown = "00000000-0000-4000-8000-00000000abcd"
    refused = post(client, "/programs", program_body(unknown))
    problem = assert_problem(refused, 409)
    assert (problem["rule"], problem["field"]) == ("organization_registered", "provider_id")


def test_program_writes_need_a_credential_and_an_agency_taking_part(
    client: TestClient, municipality: str
) -> None:
    pid = published(client, municipality)  # a culture provider's standalone program
    path = f"{API}/programs/{pid}/enrolments"
    for headers, status, rule in (
        (ANONYMOUS, 401, None),
        (role_headers("auditor"), 403, "read_only_role"),
        (role_headers("analyst"), 403, "read_only_role"),
        (official_headers("education"), 403, "official_agency_takes_part"),
        (
            official_headers("culture", municipality=f"Not {municipality}"),
            403,
            "official_own_municipality",
        ),
    ):
        problem = assert_problem(client.post(path, json=enrolment(), headers=headers), status)
        if rule is None:
            assert problem["reason"] == "missing"
        else:
            assert problem["rule"] == rule
    assert expect_ok(client.get(f"{API}/programs/{pid}"))["enrolments"]["total"] == 0
    # a partner's agency takes part in a network program: its officials write to it too
    provider = register_organization(client, municipality=municipality, agency=AGENCY)
    school = register_organization(client, municipality=municipality, kind="general_education")
    network = draft(client, provider, partner_ids=[school], form="network")
    approval = {"party_id": school}
    expect_ok(
        client.post(
            f"{API}/programs/{network}/approvals",
            json=approval,
            headers=official_headers("education"),
        )
    )
    refused = client.post(
        f"{API}/programs/{network}/approvals", json=approval, headers=official_headers("sport")
    )
    assert assert_problem(refused, 403)["rule"] == "official_agency_takes_part"


def test_any_official_of_the_municipality_records_its_population_and_no_one_else(
    client: TestClient, municipality: str
) -> None:
    body = {
        "municipality": municipality,
        "territory": "микрорайон Южный",
        "year": 2027,
        "children_5_17": 1200,
        "source": "Росстат",
    }
    assert_problem(client.post(f"{API}/population", json=body, headers=ANONYMOUS), 401)
    refused = client.post(f"{API}/population", json=body, headers=role_headers("auditor"))
    assert assert_problem(refused, 403)["rule"] == "read_only_role"
    elsewhere = official_headers("sport", municipality=f"Not {municipality}")
    refused = client.post(f"{API}/population", json=body, headers=elsewhere)
    assert assert_problem(refused, 403)["rule"] == "official_own_municipality"
    made = expect_ok(client.post(f"{API}/population", json=body, headers=official_headers("sport")))
    assert made["version"] == 2


def test_an_unknown_program_is_404(client: TestClient) -> None:
    unknown = "00000000-0000-4000-8000-00000000beef"
    assert_problem(client.get(f"{API}/programs/{unknown}"), 404)
    assert_problem(client.get(f"{API}/programs/{unknown}/history"), 404)
    assert_problem(post(client, f"/programs/{unknown}/archive"), 404)


def test_a_retried_enrolment_with_its_key_enrols_once(
    client: TestClient, municipality: str
) -> None:
    pid = published(client, municipality)
    key = {"Idempotency-Key": f"enrol-{municipality[-10:]}"}
    first = post(client, f"/programs/{pid}/enrolments", enrolment(), **key)
    again = post(client, f"/programs/{pid}/enrolments", enrolment(), **key)
    assert expect_ok(first, 201) == expect_ok(again, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    body = expect_ok(client.get(f"{API}/programs/{pid}"))
    assert body["enrolments"]["total"] == 1


def test_a_stale_if_match_is_412(client: TestClient, municipality: str) -> None:
    pid = published(client, municipality)
    refused = post(client, f"/programs/{pid}/capacity", {"capacity": 5}, **{"If-Match": '"1"'})
    assert_problem(refused, 412)
    expect_ok(post(client, f"/programs/{pid}/capacity", {"capacity": 5}, **{"If-Match": '"4"'}))


def test_a_territorys_children_are_recorded_then_corrected(
    client: TestClient, services: Services, municipality: str
) -> None:
    body = {
        "municipality": municipality,
        "territory": "микрорайон Северный",
        "year": 2027,
        "children_5_17": 4210,
        "source": "Росстат",
    }
    first = expect_ok(post(client, "/population", body))
    assert first["version"] == 2
    # the same figure again is no correction
    head = services.app.head_position()
    refused = post(client, "/population", body)
    assert assert_problem(refused, 409)["rule"] == "population_correction_changes"
    assert services.app.head_position() == head
    corrected = expect_ok(
        post(client, "/population", {**body, "children_5_17": 4185, "reason": "Уточнение"})
    )
    assert (corrected["id"], corrected["version"]) == (first["id"], 3)
    t = services.app.get_population(municipality, "микрорайон Северный")
    assert t.children_5_17 == {2027: 4185}
    last = services.app.history(t.id)[-1].event
    assert last.previous == 4210  # type: ignore[attr-defined]
    assert last.meta.reason == "Уточнение"
    # out of bounds
    problem = assert_problem(post(client, "/population", {**body, "year": 1999}), 422)
    assert problem["errors"][0]["field"] == "year"
    problem = assert_problem(post(client, "/population", {**body, "children_5_17": -1}), 422)
    assert json.dumps(problem).count("children_5_17") >= 1
