"""The network register over HTTP: organisations, licences, and references to them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    create_project,
    expect_ok,
    official_headers,
    project_body,
    role_headers,
)
from tests.e2e.groups_helpers import group_body, member_body
from tests.e2e.organization_helpers import (
    REGISTRAR,
    organization_body,
    register_licence,
    register_organization,
)
from tests.e2e.test_assignments_api import FOUNDER, assignment_body
from tests.organization_helpers import unique_inn

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def org_url(organization_id: str, path: str = "") -> str:
    return f"{API}/organizations/{organization_id}{path}"


def post(client: TestClient, url: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(url, json=body, headers={**REGISTRAR, **headers})


def licence_change(client: TestClient, oid: str, lid: str, change: str, on: str) -> Any:
    return post(client, org_url(oid, f"/licences/{lid}/{change}"), {"effective_on": on})


def test_a_registered_organisation_reads_back_with_its_etag_and_location(
    client: TestClient,
) -> None:
    inn = unique_inn()
    body = organization_body(inn=inn, name="МБОУ СОШ № 5", kind="general_education")
    response = post(client, f"{API}/organizations", body)
    made = expect_ok(response, 201)
    assert response.headers["Location"] == f"/api/v1/organizations/{made['id']}"
    assert response.headers["ETag"] == '"1"'

    read = client.get(org_url(made["id"]))
    o = expect_ok(read)
    assert read.headers["ETag"] == '"1"'
    assert {k: o[k] for k in ("id", "version", "name", "inn", "kind", "agency")} == {
        "id": made["id"],
        "version": 1,
        "name": "МБОУ СОШ № 5",
        "inn": inn,
        "kind": "general_education",
        "agency": "education",
    }
    assert o["is_educational"] is True
    assert o["licensed_for_additional_education"] is False
    assert o["licences"] == []
    assert [(n["name"], n["via"]) for n in o["names"]] == [("МБОУ СОШ № 5", "registered")]
    assert o["reorganizations"] == []


def test_the_licence_lifecycle_over_http(client: TestClient) -> None:
    oid = register_organization(client)
    made = register_licence(client, oid, issued_on="2022-03-15")
    lid = made["licence_id"]
    assert made["version"] == 2

    o = expect_ok(client.get(org_url(oid)))
    (lic,) = o["licences"]
    assert (lic["licence_id"], lic["status"], lic["status_since"]) == (lid, "active", "2022-03-15")
    assert lic["sub_kinds"] == ["additional_education_children_adults"]
    assert o["licensed_for_additional_education"] is True
    # the date asked for matters: not licensed before the issue date
    before = expect_ok(client.get(org_url(oid), params={"on": "2022-03-14"}))
    assert before["licensed_for_additional_education"] is False

    expect_ok(licence_change(client, oid, lid, "suspend", "2026-05-01"))
    problem = assert_problem(licence_change(client, oid, lid, "suspend", "2026-05-02"), 409)
    assert problem["rule"] == "licence_active"
    assert expect_ok(client.get(org_url(oid)))["licensed_for_additional_education"] is False

    expect_ok(licence_change(client, oid, lid, "reinstate", "2026-06-01"))
    problem = assert_problem(licence_change(client, oid, lid, "reinstate", "2026-06-02"), 409)
    assert problem["rule"] == "licence_suspended"

    expect_ok(licence_change(client, oid, lid, "terminate", "2026-12-31"))
    for change in ("reinstate", "suspend", "terminate"):
        problem = assert_problem(licence_change(client, oid, lid, change, "2027-01-01"), 409)
        assert problem["rule"] == "licence_terminated_final"
        assert "terminated" in problem["detail"]
    final = expect_ok(client.get(org_url(oid)))["licences"][0]
    assert (final["status"], final["status_since"]) == ("terminated", "2026-12-31")


def test_licence_refusals_name_their_rule(client: TestClient) -> None:
    oid = register_organization(client)
    lid = register_licence(client, oid, number="Л-42", issued_on="2023-01-01")["licence_id"]
    # the same number again (case aside)
    problem = assert_problem(
        post(
            client,
            org_url(oid, "/licences"),
            {
                "number": "л-42",
                "sub_kinds": ["preschool"],
                "issued_on": "2024-01-01",
                "issuer": "Министерство",
            },
        ),
        409,
    )
    assert problem["rule"] == "licence_number_unique"
    # a change dated before the current status
    problem = assert_problem(licence_change(client, oid, lid, "suspend", "2022-12-31"), 409)
    assert problem["rule"] == "licence_dates_in_order"
    # a licence the organisation does not have
    problem = assert_problem(licence_change(client, oid, UNKNOWN, "suspend", "2024-01-01"), 409)
    assert problem["rule"] == "licence_exists"


def test_bad_input_is_422_naming_the_field(client: TestClient) -> None:
    # a checksum that does not match: the domain names the field
    problem = assert_problem(
        post(client, f"{API}/organizations", organization_body(inn="7707083894")), 422
    )
    assert problem["field"] == "inn"
    assert "check digit" in problem["detail"]
    # codes and shapes the schema refuses
    for override in ({"kind": "school"}, {"inn": "12345"}, {"agency": "police"}):
        problem = assert_problem(
            post(client, f"{API}/organizations", organization_body(**override)), 422
        )
        assert any(e["field"] == next(iter(override)) for e in problem["errors"])
    oid = register_organization(client)
    for body in (
        {"number": "Л-1", "sub_kinds": [], "issued_on": "2024-01-01", "issuer": "M"},
        {"number": "Л-1", "sub_kinds": ["music"], "issued_on": "2024-01-01", "issuer": "M"},
    ):
        problem = assert_problem(post(client, org_url(oid, "/licences"), body), 422)
        assert any(e["field"].startswith("sub_kinds") for e in problem["errors"])
    problem = assert_problem(
        post(client, org_url(oid, "/reorganize"), {"form": "liquidation", "effective_on": "x"}),
        422,
    )
    assert {e["field"] for e in problem["errors"]} == {"form", "effective_on"}


def test_a_second_registration_of_an_inn_is_409_inn_unique(client: TestClient) -> None:
    inn = unique_inn()
    first = register_organization(client, inn=inn)
    problem = assert_problem(
        post(client, f"{API}/organizations", organization_body(inn=inn, name="Другая")), 409
    )
    assert problem["rule"] == "inn_unique"
    assert problem["organization_id"] == first
    assert inn in problem["detail"]


def test_a_retried_registration_with_its_key_creates_one_organisation(
    client: TestClient,
) -> None:
    body = organization_body()
    key = {"Idempotency-Key": f"org-{body['inn']}"}
    first = post(client, f"{API}/organizations", body, **key)
    again = post(client, f"{API}/organizations", body, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_rename_and_reorganisation_keep_the_history_of_names(client: TestClient) -> None:
    oid = register_organization(client, name="МБОУ СОШ № 5", kind="general_education")
    problem = assert_problem(post(client, org_url(oid, "/rename"), {"name": "МБОУ СОШ № 5"}), 409)
    assert problem["rule"] == "rename_to_different_name"
    expect_ok(
        post(
            client,
            org_url(oid, "/rename"),
            {"name": "МБОУ «Лицей № 5»", "reason": "Смена статуса", "basis_document": "Приказ 7"},
        )
    )
    # a stale If-Match is refused
    stale = post(
        client,
        org_url(oid, "/reorganize"),
        {"form": "transformation", "effective_on": "2027-09-01"},
        **{"If-Match": '"1"'},
    )
    assert_problem(stale, 412)
    expect_ok(
        post(
            client,
            org_url(oid, "/reorganize"),
            {
                "form": "transformation",
                "effective_on": "2027-09-01",
                "name": "МАОУ «Лицей № 5»",
                "founder": "Комитет образования",
            },
            **{"If-Match": '"2"'},
        )
    )
    o = expect_ok(client.get(org_url(oid)))
    assert (o["name"], o["founder"], o["kind"], o["version"]) == (
        "МАОУ «Лицей № 5»",
        "Комитет образования",
        "general_education",
        3,
    )
    assert [(n["name"], n["via"]) for n in o["names"]] == [
        ("МБОУ СОШ № 5", "registered"),
        ("МБОУ «Лицей № 5»", "renamed"),
        ("МАОУ «Лицей № 5»", "reorganized"),
    ]
    assert o["names"][2]["since"] == "2027-09-01"
    assert o["reorganizations"] == [{"form": "transformation", "effective_on": "2027-09-01"}]

    events = expect_ok(client.get(org_url(oid, "/history")))["events"]
    assert [e["type"] for e in events] == [
        "OrganizationRegistered",
        "OrganizationRenamed",
        "OrganizationReorganized",
    ]
    renamed = events[1]
    assert renamed["actor"]["id"] == REGISTRAR.actor_id
    assert (renamed["reason"], renamed["basis_document"]) == ("Смена статуса", "Приказ 7")
    assert renamed["data"] == {"name": "МБОУ «Лицей № 5»", "previous_name": "МБОУ СОШ № 5"}
    assert events[2]["data"]["effective_on"] == "2027-09-01"
    assert [e["version"] for e in events] == [1, 2, 3]


def test_unknown_organisations_are_404(client: TestClient, municipality: str) -> None:
    assert_problem(client.get(org_url(UNKNOWN)), 404)
    assert_problem(client.get(org_url(UNKNOWN, "/history")), 404)
    assert_problem(post(client, org_url(UNKNOWN, "/rename"), {"name": "X"}), 404)
    assert_problem(
        licence_change(client, UNKNOWN, UNKNOWN, "terminate", "2027-01-01"),
        404,
    )
    # the id of another kind of aggregate is no organisation either
    project_id = create_project(client, municipality)["id"]
    problem = assert_problem(client.get(org_url(project_id)), 404)
    assert "organisation" in problem["detail"]
    assert_problem(client.get(org_url(project_id, "/history")), 404)


def test_writes_need_a_credential_and_an_official_of_the_organisations_agency(
    client: TestClient, municipality: str
) -> None:
    url = f"{API}/organizations"
    body = organization_body()

    def refused(headers: Any, status: int) -> dict[str, Any]:
        return assert_problem(client.post(url, json=body, headers=headers), status)

    # no credential at all, or a token nobody issued: 401 naming why
    assert refused(ANONYMOUS, 401)["reason"] == "missing"
    bogus = {"Authorization": f"Bearer iat_{'0' * 32}_{'A' * 43}"}
    assert refused(bogus, 401)["reason"] == "unknown_token"
    # read-only roles never write
    for role in ("auditor", "analyst"):
        assert refused(role_headers(role), 403)["rule"] == "read_only_role"
    # an official of another agency, or of another municipality, does not register it
    assert refused(official_headers("culture"), 403)["rule"] == "official_agency_takes_part"
    elsewhere = official_headers("education", municipality=f"Not {municipality}")
    assert refused(elsewhere, 403)["rule"] == "official_own_municipality"
    # none of them registered anything: the INN is still free for the registrar
    oid = expect_ok(post(client, url, body), 201)["id"]

    # nor do they write to a registered organisation
    rename = org_url(oid, "/rename")
    for headers, status in (
        (ANONYMOUS, 401),
        (role_headers("auditor"), 403),
        (official_headers("culture"), 403),
        (elsewhere, 403),
    ):
        assert_problem(client.post(rename, json={"name": "Чужое имя"}, headers=headers), status)
    assert expect_ok(client.get(org_url(oid)))["version"] == 1
    # the official of its agency and municipality does
    expect_ok(post(client, rename, {"name": "Новое имя"}))
    assert expect_ok(client.get(org_url(oid)))["name"] == "Новое имя"


# -- references ---------------------------------------------------------------------------


def test_an_assignment_references_a_registered_organisation(
    client: TestClient, municipality: str
) -> None:
    # unknown organisation: the rule is named
    problem = assert_problem(
        client.post(
            f"{API}/assignments", json=assignment_body(municipality, UNKNOWN), headers=FOUNDER
        ),
        409,
    )
    assert problem["rule"] == "organization_registered"
    assert problem["field"] == "organization_id"
    assert UNKNOWN in problem["detail"]
    # not an id at all: invalid input
    problem = assert_problem(
        client.post(
            f"{API}/assignments",
            json=assignment_body(municipality, "7701234567"),
            headers=FOUNDER,
        ),
        422,
    )
    assert [e["field"] for e in problem["errors"]] == ["organization_id"]
    # registered: drafted, and read back with the id
    oid = register_organization(client)
    made = expect_ok(
        client.post(f"{API}/assignments", json=assignment_body(municipality, oid), headers=FOUNDER),
        201,
    )
    assert expect_ok(client.get(f"{API}/assignments/{made['id']}"))["organization_id"] == oid


def test_a_project_organisation_with_an_id_must_be_registered(
    client: TestClient, municipality: str
) -> None:
    oid = register_organization(client, kind="general_education", name="МБОУ СОШ № 5")
    school = {"name": "МБОУ СОШ № 5", "kind": "general_education", "organization_id": oid}
    culture = {"name": "Дом культуры", "kind": "culture", "agency": "culture"}
    ghost = {"name": "Призрак", "kind": "culture", "organization_id": UNKNOWN}

    problem = assert_problem(
        client.post(
            f"{API}/projects",
            json=project_body(municipality, organizations=[school, ghost]),
            headers=official_headers(),
        ),
        409,
    )
    assert problem["rule"] == "organization_registered"
    assert problem["field"] == "organizations[1].organization_id"

    pid = create_project(client, municipality, organizations=[school, culture])["id"]
    organizations = expect_ok(client.get(f"{API}/projects/{pid}"))["organizations"]
    assert [o["organization_id"] for o in organizations] == [oid, None]


def test_a_working_group_member_with_an_organisation_id_must_be_registered(
    client: TestClient, municipality: str
) -> None:
    gid = expect_ok(
        client.post(
            f"{API}/working-groups", json=group_body(municipality), headers=official_headers()
        ),
        201,
    )["id"]
    oid = register_organization(client)
    body = member_body("chair", "education", "chair", True)

    problem = assert_problem(
        client.post(
            f"{API}/working-groups/{gid}/members",
            json=body | {"organization_id": UNKNOWN},
            headers=official_headers(),
        ),
        409,
    )
    assert problem["rule"] == "organization_registered"

    expect_ok(
        client.post(
            f"{API}/working-groups/{gid}/members",
            json=body | {"organization_id": oid},
            headers=official_headers(),
        ),
        201,
    )
    (member,) = expect_ok(client.get(f"{API}/working-groups/{gid}"))["members"]
    assert member["organization_id"] == oid
