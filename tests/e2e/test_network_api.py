"""The network's projection reads over HTTP: the register, programs, agreements, the public
catalogue and coverage. Writes go through the API too, each read waits on the position
the last write answered with (``min_position``)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.main import create_app
from domain.organization import inn_with_check_digits
from interagency.services import Services
from interagency.settings import ConnectionParams, Settings
from projections.runtime import ProjectionWorker
from tests.conftest import settings_for
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    expect_ok,
    official_headers,
    role_headers,
)

AE = "additional_education_children_adults"
CLAUSES = {
    c: f"Text of {c}"
    for c in (
        "program_and_direction",
        "students_status_and_admission",
        "duties_and_resources",
        "documents_issued",
        "term_and_change",
    )
}


class Network:
    """Builds a municipality's network through the API and remembers the last position.

    Each write is sent by an official of the municipality whose agency takes part: the
    organisation's own agency, a program's provider's, an agreement's first party's.
    """

    def __init__(self, client: TestClient, municipality: str) -> None:
        self.client = client
        self.municipality = municipality
        self.position = 0
        self.agency_of: dict[str, str] = {}  # organisation, program, agreement -> agency

    def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        status: int = 200,
        *,
        agency: str = "education",
    ) -> Any:
        answer = expect_ok(
            self.client.post(f"{API}{path}", json=body, headers=official_headers(agency)), status
        )
        self.position = max(self.position, answer["position"])
        return answer

    def get(self, path: str, **params: Any) -> Any:
        """A projection read (by the default reader) that sees every write made so far."""
        return expect_ok(
            self.client.get(f"{API}{path}", params={**params, "min_position": self.position})
        )

    def organization(
        self,
        name: str,
        *,
        kind: str = "additional_education",
        agency: str = "education",
        licensed: bool = True,
        issued_on: date = date(2020, 1, 15),
    ) -> str:
        inn = inn_with_check_digits(f"{uuid.uuid4().int % 90 + 10}{uuid.uuid4().int % 10**7:07d}")
        oid: str = self.post(
            "/organizations",
            {
                "name": name,
                "inn": inn,
                "kind": kind,
                "agency": agency,
                "founder": f"Founder of {name}",
                "municipality": self.municipality,
                "address": f"{name} street 1",
            },
            201,
            agency=agency,
        )["id"]
        self.agency_of[oid] = agency
        if licensed:
            self.licence(oid, issued_on)
        return oid

    def licence(self, oid: str, issued_on: date = date(2020, 1, 15)) -> str:
        lid: str = self.post(
            f"/organizations/{oid}/licences",
            {
                "number": f"L-{uuid.uuid4().hex[:8]}",
                "sub_kinds": [AE],
                "issued_on": issued_on.isoformat(),
                "issuer": "Regional ministry",
            },
            201,
            agency=self.agency_of[oid],
        )["licence_id"]
        return lid

    def program(
        self,
        provider: str,
        title: str,
        *,
        partners: list[str] | None = None,
        kind: str = "general_developing",
        direction: str | None = "technical",
        min_age: int = 7,
        max_age: int = 14,
        capacity: int = 20,
        publish: bool = True,
    ) -> str:
        pid: str = self.post(
            "/programs",
            {
                "title": title,
                "description": f"{title}: what the program teaches",
                "provider_id": provider,
                "partner_ids": partners or [],
                "kind": kind,
                "direction": direction,
                "min_age": min_age,
                "max_age": max_age,
                "hours": 72,
                "capacity": capacity,
                "form": "network" if partners else "standalone",
            },
            201,
            agency=self.agency_of[provider],
        )["id"]
        agency = self.agency_of[pid] = self.agency_of[provider]
        if publish or partners:
            for party in [provider, *(partners or [])]:
                self.post(f"/programs/{pid}/approvals", {"party_id": party}, agency=agency)
        if publish and not partners:
            self.post(f"/programs/{pid}/publish", {}, agency=agency)
        return pid

    def agreement(
        self,
        number: str,
        parties: list[tuple[str, str]],
        programs: list[str],
        *,
        term: tuple[date, date] = (date(2026, 9, 1), date(2027, 8, 31)),
        contributions: list[dict[str, Any]] | None = None,
    ) -> str:
        agency = self.agency_of[parties[0][0]]
        aid: str = self.post(
            "/agreements",
            {
                "number": number,
                "title": f"Agreement {number}",
                "municipality": self.municipality,
                "terms": {
                    "parties": [{"organization_id": o, "role": r} for o, r in parties],
                    "model": "model_2",
                    "program_ids": programs,
                    "contributions": contributions or [],
                    "clauses": CLAUSES,
                    "term_start": term[0].isoformat(),
                    "term_end": term[1].isoformat(),
                },
            },
            201,
            agency=agency,
        )["id"]
        self.agency_of[aid] = agency
        for party, _ in parties:
            self.post(
                f"/agreements/{aid}/signatures",
                {"party_id": party, "signatory": "Director", "signed_on": term[0].isoformat()},
                agency=agency,
            )
        self.post(f"/agreements/{aid}/activate", agency=agency)
        return aid

    def enrol(self, pid: str, child: str, birth_year: int, **kw: Any) -> str:
        body = {
            "child_id": child,
            "birth_year": birth_year,
            "territory": "Central",
            "funding_source": "certificate",
            "start_date": "2026-09-01",
            **kw,
        }
        eid: str = self.post(f"/programs/{pid}/enrolments", body, 201, agency=self.agency_of[pid])[
            "enrolment_id"
        ]
        return eid


def network(client: TestClient, municipality: str) -> Network:
    return Network(client, municipality)


# -- the public catalogue -----------------------------------------------------------------


def test_the_catalogue_needs_no_actor_and_shows_published_programs_only(
    client: TestClient, municipality: str
) -> None:
    net = network(client, municipality)
    school = net.organization("School No. 9", kind="general_education")
    centre = net.organization("Technopark")
    robots = net.program(centre, "Robots", min_age=10, max_age=14, capacity=2)
    draft = net.program(centre, "Drones (draft)", publish=False)
    child = f"secret-{uuid.uuid4().hex[:8]}"
    net.enrol(robots, child, 2014)
    engineering = net.program(school, "Engineering", partners=[centre], min_age=12, max_age=17)
    aid = net.agreement("NA-9", [(school, "base"), (centre, "participant")], [engineering])
    net.post(f"/programs/{engineering}/publish", {"agreement_id": aid})

    # No credential at all: the catalogue is for families.
    response = client.get(
        f"{API}/catalogue/programs",
        params={"municipality": municipality, "min_position": net.position},
        headers=ANONYMOUS,
    )
    body = expect_ok(response)
    assert int(response.headers["X-Projection-Position"]) >= net.position
    assert [p["title"] for p in body["items"]] == ["Engineering", "Robots"]
    assert body["total"] == 2
    assert child not in response.text
    assert not any("enrol" in k or "child" in k for k in body["items"][1])
    robots_item = body["items"][1]
    assert (robots_item["capacity"], robots_item["free_places"]) == (2, 1)
    assert robots_item["providers"] == [
        {"organization_id": centre, "name": "Technopark", "role": "provider"}
    ]
    assert robots_item["agreement"] is None

    item = expect_ok(
        client.get(
            f"{API}/catalogue/programs/{engineering}",
            params={"min_position": net.position},
            headers=ANONYMOUS,
        )
    )
    assert [(p["name"], p["role"]) for p in item["providers"]] == [
        ("School No. 9", "provider"),
        ("Technopark", "partner"),
    ]
    assert item["agreement"] == {
        "agreement_id": aid,
        "number": "NA-9",
        "title": "Agreement NA-9",
        "term_start": "2026-09-01",
        "term_end": "2027-08-31",
    }

    # A draft is not in the catalogue, not even by its id.
    problem = assert_problem(
        client.get(f"{API}/catalogue/programs/{draft}", headers=ANONYMOUS), 404
    )
    assert draft in problem["detail"]
    assert_problem(client.get(f"{API}/catalogue/programs/{uuid.uuid4()}"), 404)

    # Filters: a child's age, direction, form, places left.
    def titles(**params: Any) -> list[str]:
        found = net.get("/catalogue/programs", municipality=municipality, **params)
        return [p["title"] for p in found["items"]]

    assert titles(age=16) == ["Engineering"]
    assert titles(age=11) == ["Robots"]
    assert titles(form="network") == ["Engineering"]
    assert titles(direction="artistic") == []
    net.enrol(robots, f"other-{uuid.uuid4().hex[:8]}", 2015)
    assert titles(has_free_places="true") == ["Engineering"]
    assert titles(has_free_places="false") == ["Robots"]
    assert_problem(client.get(f"{API}/catalogue/programs", params={"age": -1}), 422)
    assert_problem(client.get(f"{API}/catalogue/programs", params={"direction": "magic"}), 422)


# -- the register -------------------------------------------------------------------------


def test_the_register_shows_licence_status_and_flags_unlicensed_teaching_parties(
    client: TestClient, municipality: str, settings: Settings
) -> None:
    net = network(client, municipality)
    school = net.organization("A school", kind="general_education")
    centre = net.organization("B centre", licensed=False)
    centre_licence = net.licence(centre)
    plant = net.organization("C plant", kind="enterprise", agency="other", licensed=False)
    pid = net.program(school, "Engineering", partners=[centre])
    aid = net.agreement(
        "NA-1", [(school, "base"), (centre, "participant"), (plant, "resource")], [pid]
    )

    register = net.get("/organizations", municipality=municipality)
    assert [
        (o["name"], o["licences"], o["additional_education_licence"]) for o in register["items"]
    ] == [("A school", 1, "active"), ("B centre", 1, "active"), ("C plant", 0, "none")]
    page = net.get("/organizations", municipality=municipality, limit=1, offset=2)
    assert (page["total"], [o["name"] for o in page["items"]]) == (3, ["C plant"])
    unlicensed = net.get("/organizations", municipality=municipality, licence_status="none")
    assert [o["organization_id"] for o in unlicensed["items"]] == [plant]
    assert net.get("/organizations", municipality=municipality, kind="enterprise")["total"] == 1

    path = "/organizations/unlicensed-teaching-parties"
    assert net.get(path, municipality=municipality, on="2026-10-01")["items"] == []

    # The participant's licence is suspended after activation: the control shows it.
    net.post(
        f"/organizations/{centre}/licences/{centre_licence}/suspend",
        {"effective_on": "2026-11-01", "reason": "Inspection"},
    )
    found = net.get(path, municipality=municipality, on="2026-11-15")
    assert found["on"] == "2026-11-15"
    assert [
        (i["agreement_id"], i["organization_id"], i["role"], i["additional_education_licence"])
        for i in found["items"]
    ] == [(aid, centre, "participant", "suspended")]
    # Without ``on``: today, where the municipality is.
    assert net.get(path, municipality=municipality)["on"] == settings.today().isoformat()

    assert (
        net.get("/organizations", municipality=municipality, licence_status="suspended")["items"][
            0
        ]["organization_id"]
        == centre
    )
    assert_problem(client.get(f"{API}/organizations", params={"licence_status": "gone"}), 422)
    assert_problem(client.get(f"{API}{path}", params={"on": "yesterday"}), 422)


# -- programs -----------------------------------------------------------------------------


def test_programs_are_listed_and_summarised_and_summary_is_not_taken_for_an_id(
    client: TestClient, municipality: str
) -> None:
    net = network(client, municipality)
    centre = net.organization("Centre")
    museum = net.organization("Museum", kind="culture", agency="culture")
    robots = net.program(centre, "Robots", capacity=10)
    net.enrol(robots, f"kid-{uuid.uuid4().hex[:8]}", 2015)
    net.program(museum, "Painting", kind="pre_professional_arts", direction=None, capacity=6)
    net.program(centre, "Chess", direction="social_humanitarian", publish=False)

    listed = net.get("/programs", municipality=municipality)
    assert [(p["title"], p["status"], p["free_places"]) for p in listed["items"]] == [
        ("Chess", "draft", 20),
        ("Painting", "published", 6),
        ("Robots", "published", 9),
    ]
    assert net.get("/programs", municipality=municipality, status="draft")["total"] == 1
    by_org = net.get("/programs", municipality=municipality, organization_id=museum)
    assert [p["title"] for p in by_org["items"]] == ["Painting"]

    summary = net.get("/programs/summary", municipality=municipality)
    assert [(g["key"], g["programs"], g["published"]) for g in summary["by_agency"]] == [
        ("culture", 1, 1),
        ("education", 2, 1),
    ]
    assert summary["by_form"] == [
        {
            "key": "standalone",
            "programs": 3,
            "published": 2,
            "capacity": 36,
            "active_enrolments": 1,
            "free_places": 15,
        }
    ]
    assert [g["key"] for g in summary["by_direction"]] == [
        "artistic",
        "social_humanitarian",
        "technical",
    ]
    assert_problem(client.get(f"{API}/programs", params={"limit": 0}), 422)
    assert_problem(client.get(f"{API}/programs", params={"organization_id": "x"}), 422)


# -- agreements ---------------------------------------------------------------------------


def test_agreements_in_force_expiring_and_their_contributions(
    client: TestClient, municipality: str, settings: Settings
) -> None:
    net = network(client, municipality)
    today = settings.today()
    school = net.organization("School", kind="general_education", issued_on=today - timedelta(400))
    centre = net.organization("Centre", issued_on=today - timedelta(400))
    soon_term = (today - timedelta(100), today + timedelta(10))
    later_term = (today - timedelta(100), today + timedelta(200))

    def contribution(oid: str, kind: str, volume: str, unit: str, term: tuple[date, date]) -> Any:
        return {
            "organization_id": oid,
            "resource_type": kind,
            "description": f"{kind} of {unit}",
            "volume": volume,
            "unit": unit,
            "period_from": term[0].isoformat(),
            "period_to": term[1].isoformat(),
        }

    first = net.program(school, "First", partners=[centre])
    second = net.program(school, "Second", partners=[centre])
    soon = net.agreement(
        "NA-soon",
        [(school, "base"), (centre, "participant")],
        [first],
        term=soon_term,
        contributions=[contribution(centre, "personnel", "1.5", "teacher rates", soon_term)],
    )
    later = net.agreement(
        "NA-later",
        [(school, "base"), (centre, "participant")],
        [second],
        term=later_term,
        contributions=[
            contribution(school, "infrastructure", "100", "hours", later_term),
            contribution(centre, "personnel", "0.5", "teacher rates", later_term),
        ],
    )

    listed = net.get("/agreements", municipality=municipality, in_force="true")
    assert [a["number"] for a in listed["items"]] == ["NA-later", "NA-soon"]
    item = listed["items"][1]
    assert (item["status"], item["version_in_force"], item["model"]) == ("active", 1, "model_2")
    assert {(p["name"], p["role"]) for p in item["parties"]} == {
        ("School", "base"),
        ("Centre", "participant"),
    }
    assert [p["program_id"] for p in item["programs"]] == [first]
    assert [(c["resource_type"], c["volume"]) for c in item["contributions"]] == [
        ("personnel", "1.5")
    ]

    expiring = net.get("/agreements/expiring", municipality=municipality, within_days=30)
    assert expiring["on"] == today.isoformat()
    assert [(a["agreement_id"], a["days_left"]) for a in expiring["items"]] == [(soon, 10)]
    wide = net.get("/agreements/expiring", municipality=municipality, within_days=365)
    assert [a["agreement_id"] for a in wide["items"]] == [soon, later]
    assert net.get("/agreements/expiring", municipality=municipality, within_days=5)["items"] == []
    assert_problem(client.get(f"{API}/agreements/expiring", params={"within_days": -1}), 422)

    totals = net.get("/agreements/contributions", municipality=municipality)["items"]
    assert totals == [
        {
            "resource_type": "infrastructure",
            "contributions": 1,
            "agreements": 1,
            "organizations": 1,
            "volumes": [{"unit": "hours", "contributions": 1, "volume": "100"}],
        },
        {
            "resource_type": "personnel",
            "contributions": 2,
            "agreements": 2,
            "organizations": 1,
            "volumes": [{"unit": "teacher rates", "contributions": 2, "volume": "2.0"}],
        },
    ]

    # Terminated: no longer in force, nor expiring, nor counted.
    net.post(
        f"/agreements/{soon}/terminate",
        {"reason": "The centre closes", "terminated_on": today.isoformat()},
    )
    assert net.get("/agreements/expiring", municipality=municipality, within_days=30)["items"] == []
    ended = net.get("/agreements", municipality=municipality, status="terminated")["items"]
    assert [a["agreement_id"] for a in ended] == [soon]
    totals = net.get("/agreements/contributions", municipality=municipality)["items"]
    assert [(t["resource_type"], t["contributions"]) for t in totals] == [
        ("infrastructure", 1),
        ("personnel", 1),
    ]
    assert later != soon


# -- coverage -----------------------------------------------------------------------------


def test_coverage_of_a_year_with_its_slices(client: TestClient, municipality: str) -> None:
    net = network(client, municipality)
    centre = net.organization("Centre")
    museum = net.organization("Museum", kind="culture", agency="culture")
    robots = net.program(centre, "Robots", min_age=5, max_age=17)
    painting = net.program(museum, "Painting", direction="artistic", min_age=5, max_age=17)
    for territory, children in (("North", 30), ("South", 10)):
        net.post(
            "/population",
            {
                "municipality": municipality,
                "territory": territory,
                "year": 2026,
                "children_5_17": children,
                "source": "Rosstat",
            },
        )
    tag = uuid.uuid4().hex[:8]
    net.enrol(robots, f"one-{tag}", 2015, territory="North")
    net.enrol(painting, f"one-{tag}", 2015, territory="North", funding_source="paid")
    net.enrol(robots, f"two-{tag}", 2012, territory="South")

    c = net.get("/coverage", year=2026, municipality=municipality)
    assert (c["population"], c["children"], c["enrolments"]) == (40, 2, 3)
    assert (c["coverage_pct"], c["enrolments_per_child"]) == ("5.0", "1.50")
    assert [(t["territory"], t["children"], t["coverage_pct"]) for t in c["by_territory"]] == [
        ("North", 1, "3.3"),
        ("South", 1, "10.0"),
    ]
    assert [(s["key"], s["children"]) for s in c["by_agency"]] == [("culture", 1), ("education", 2)]
    assert [(s["key"], s["children"]) for s in c["by_direction"]] == [
        ("artistic", 1),
        ("technical", 2),
    ]
    assert [(s["key"], s["enrolments"]) for s in c["by_funding_source"]] == [
        ("certificate", 2),
        ("paid", 1),
    ]
    assert_problem(client.get(f"{API}/coverage"), 422)
    assert_problem(client.get(f"{API}/coverage", params={"year": 1999}), 422)


def test_network_and_coverage_reads_answer_503_when_the_position_is_not_reached(
    pg: ConnectionParams, services: Services, worker: ProjectionWorker
) -> None:
    far = services.app.head_position() + 1_000_000
    app = create_app(settings_for(pg, read_wait_seconds=0.2), services)
    # The public catalogue waits for anyone; the register and coverage for a reader of them.
    auditor = role_headers("auditor")
    with TestClient(app) as impatient:
        for path, projection, params, headers in (
            ("/catalogue/programs", "network", {}, ANONYMOUS),
            ("/organizations", "network", {}, auditor),
            ("/coverage", "coverage", {"year": 2026}, auditor),
        ):
            response = impatient.get(
                f"{API}{path}", params={**params, "min_position": far}, headers=headers
            )
            body = assert_problem(response, 503)
            assert (body["projection"], body["min_position"]) == (projection, far)


# -- who reads what -----------------------------------------------------------------------


def test_network_reads_need_a_credential_and_officials_read_their_municipality_only(
    client: TestClient, municipality: str
) -> None:
    net = network(client, municipality)
    centre = net.organization("Centre")
    net.program(centre, "Robots")
    at = {"min_position": net.position}

    def read(path: str, headers: Any, **params: Any) -> Any:
        return client.get(f"{API}{path}", params={**at, **params}, headers=headers)

    # without a credential only the catalogue answers
    for path in ("/organizations", "/programs", "/agreements", f"/organizations/{centre}"):
        assert assert_problem(read(path, ANONYMOUS), 401)["reason"] == "missing"
    assert_problem(read("/coverage", ANONYMOUS, year=2026), 401)
    assert expect_ok(read("/catalogue/programs", ANONYMOUS, municipality=municipality))["total"]

    # an official of the municipality: lists are narrowed to it, asked or not
    own = official_headers("culture")
    for params in ({}, {"municipality": municipality}):
        listed = expect_ok(read("/organizations", own, **params))
        assert [o["organization_id"] for o in listed["items"]] == [centre]
    assert expect_ok(read(f"/organizations/{centre}", own))["id"] == centre

    # an official of another municipality sees none of it
    stranger = official_headers("education", municipality=f"Not {municipality}")
    problem = assert_problem(read("/organizations", stranger, municipality=municipality), 403)
    assert problem["rule"] == "own_municipality"
    assert expect_ok(read("/organizations", stranger))["items"] == []
    problem = assert_problem(read(f"/organizations/{centre}", stranger), 403)
    assert problem["rule"] == "own_municipality"
    assert_problem(read("/coverage", stranger, year=2026, municipality=municipality), 403)

    # an analyst reads registers and figures, not an aggregate's own state
    analyst = role_headers("analyst")
    listed = expect_ok(read("/programs", analyst, municipality=municipality))
    assert [p["title"] for p in listed["items"]] == ["Robots"]
    expect_ok(read("/coverage", analyst, year=2026, municipality=municipality))
    problem = assert_problem(read(f"/organizations/{centre}", analyst), 403)
    assert problem["rule"] == "analysts_read_projections_and_analytics"
