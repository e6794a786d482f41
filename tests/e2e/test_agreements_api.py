"""Network agreements over HTTP, on PostgreSQL: versions, signatures, refusals.

Refusals answer problem+json: 409 naming the broken rule, 422 naming the field.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.agreement import Clause
from interagency.settings import Settings
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    expect_ok,
    official_headers,
    role_headers,
)
from tests.e2e.organization_helpers import (
    current_municipality,
    register_licence,
    register_organization,
)

OFFICIAL = official_headers("education", actor_id="jurist-ivanova")
CLAUSES = {c.value: f"Условия договора: {c.value}" for c in Clause}
START, END = "2027-09-01", "2028-06-30"


def post(client: TestClient, path: str, body: Any = None, **headers: str) -> Any:
    return client.post(f"{API}{path}", json=body, headers={**OFFICIAL, **headers})


def put(client: TestClient, path: str, body: Any = None, **headers: str) -> Any:
    return client.put(f"{API}{path}", json=body, headers={**OFFICIAL, **headers})


def get(client: TestClient, path: str) -> dict[str, Any]:
    return expect_ok(client.get(f"{API}{path}"))


def organisation(client: TestClient, kind: str, *, licensed: bool = True) -> str:
    oid = register_organization(client, kind=kind, name=f"{kind} {uuid.uuid4().hex[:6]}")
    if licensed:
        register_licence(client, oid)
    return oid


def program(client: TestClient, provider: str, partner: str) -> str:
    body = {
        "title": "Робототехника",
        "description": "Сетевая программа технической направленности",
        "provider_id": provider,
        "partner_ids": [partner],
        "kind": "general_developing",
        "direction": "technical",
        "min_age": 10,
        "max_age": 14,
        "hours": 72,
        "capacity": 20,
        "form": "network",
    }
    return str(expect_ok(post(client, "/programs", body), 201)["id"])


@pytest.fixture
def net(client: TestClient) -> dict[str, str]:
    """A licensed school and centre, an unlicensed museum and plant, a network program."""
    school = organisation(client, "general_education")
    centre = organisation(client, "additional_education")
    return {
        "school": school,
        "centre": centre,
        "museum": organisation(client, "culture", licensed=False),
        "plant": organisation(client, "enterprise", licensed=False),
        "program": program(client, centre, school),
    }


def terms(parties: list[tuple[str, str]], programs: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "parties": [{"organization_id": o, "role": r} for o, r in parties],
        "model": "model_2",
        "program_ids": programs,
        "contributions": [],
        "clauses": dict(CLAUSES),
        "term_start": START,
        "term_end": END,
    }
    body.update(overrides)
    return body


def usual(n: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return terms(
        [(n["school"], "base"), (n["centre"], "participant"), (n["museum"], "resource")],
        [n["program"]],
        **overrides,
    )


def agreement_body(agreement_terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": f"СВ-{uuid.uuid4().hex[:6]}",
        "title": "Договор о сетевой форме реализации программы «Робототехника»",
        "municipality": current_municipality(),
        "terms": agreement_terms,
    }


def draft(client: TestClient, agreement_terms: dict[str, Any]) -> str:
    return str(expect_ok(post(client, "/agreements", agreement_body(agreement_terms)), 201)["id"])


def sign(client: TestClient, aid: str, party: str, **extra: Any) -> Any:
    body = {"party_id": party, "signatory": "Директор Петров П. П.", "signed_on": "2027-08-20"}
    return post(client, f"/agreements/{aid}/signatures", {**body, **extra})


def sign_all(client: TestClient, aid: str) -> None:
    a = get(client, f"/agreements/{aid}")
    pending = next(v for v in a["versions"] if v["number"] == a["pending_version"])
    for party in pending["unsigned_parties"]:
        expect_ok(sign(client, aid, party))


def active(client: TestClient, agreement_terms: dict[str, Any]) -> str:
    aid = draft(client, agreement_terms)
    sign_all(client, aid)
    expect_ok(post(client, f"/agreements/{aid}/activate"))
    return aid


def rule(response: Any) -> str:
    problem = assert_problem(response, 409)
    assert problem["type"] == "/problems/rule-violated"
    return str(problem["rule"])


# -- the life cycle ---------------------------------------------------------------------


def test_an_agreement_is_drafted_signed_by_every_party_and_activated(
    client: TestClient, net: dict[str, str]
) -> None:
    # drafted: 201 with Location and ETag
    contribution = {
        "organization_id": net["museum"],
        "resource_type": "infrastructure",
        "description": "Выставочный зал для занятий",
        "volume": "72.50",
        "unit": "часов",
        "period_from": START,
        "period_to": "2028-05-31",
    }
    made = post(client, "/agreements", agreement_body(usual(net, contributions=[contribution])))
    created = expect_ok(made, 201)
    aid = created["id"]
    assert made.headers["Location"] == f"/api/v1/agreements/{aid}"
    assert made.headers["ETag"] == '"1"'
    a = get(client, f"/agreements/{aid}")
    assert (a["status"], a["pending_version"], a["in_force_version"]) == ("draft", 1, None)
    (v1,) = a["versions"]
    assert v1["state"] == "pending"
    assert v1["missing_clauses"] == []
    assert v1["unsigned_parties"] == [net["school"], net["centre"], net["museum"]]
    assert v1["terms"]["contributions"][0]["volume"] == "72.50"
    assert v1["terms"]["clauses"] == CLAUSES
    # signed by every party (the signature names the version read), then activated
    for party in (net["school"], net["centre"], net["museum"]):
        expect_ok(sign(client, aid, party, version=1))
    assert get(client, f"/agreements/{aid}")["status"] == "signed"
    expect_ok(
        post(client, f"/agreements/{aid}/activate", {"basis_document": "Приказ № 45 от 25.08.2027"})
    )
    a = get(client, f"/agreements/{aid}")
    assert (a["status"], a["in_force_version"], a["pending_version"]) == ("active", 1, None)
    assert [s["party_id"] for s in a["versions"][0]["signatures"]] == [
        net["school"],
        net["centre"],
        net["museum"],
    ]
    events = get(client, f"/agreements/{aid}/history")["events"]
    assert events[-1]["type"] == "AgreementActivated"
    assert events[-1]["basis_document"] == "Приказ № 45 от 25.08.2027"


def test_an_amendment_is_revised_signed_activated_and_the_agreement_then_terminated(
    client: TestClient, net: dict[str, str]
) -> None:
    aid = active(client, usual(net))
    v1 = get(client, f"/agreements/{aid}")["versions"][0]
    # an amendment proposes version 2; it is revised while unsigned
    second = program(client, net["centre"], net["school"])
    amendment = {
        "terms": usual(net, program_ids=[net["program"], second]),
        "reason": "Добавлена программа «Робототехника-2»",
    }
    proposed = expect_ok(post(client, f"/agreements/{aid}/amendments", amendment))
    assert proposed["agreement_version"] == 2
    revised = usual(net, program_ids=[net["program"], second], term_end="2029-06-30")
    expect_ok(put(client, f"/agreements/{aid}/terms", revised))
    a = get(client, f"/agreements/{aid}")
    assert (a["status"], a["in_force_version"], a["pending_version"]) == ("active", 1, 2)
    assert [v["state"] for v in a["versions"]] == ["in_force", "pending"]
    assert a["versions"][1]["based_on"] == 1
    assert a["versions"][1]["terms"]["term_end"] == "2029-06-30"
    # signed and activated: amended; version 1 stays as it was
    sign_all(client, aid)
    expect_ok(post(client, f"/agreements/{aid}/activate"))
    a = get(client, f"/agreements/{aid}")
    assert (a["status"], a["in_force_version"], a["pending_version"]) == ("amended", 2, None)
    assert [v["state"] for v in a["versions"]] == ["superseded", "in_force"]
    assert a["versions"][0]["terms"] == v1["terms"]
    assert a["versions"][1]["terms"]["program_ids"] == [net["program"], second]
    # terminated with a reason and a date
    done = post(
        client,
        f"/agreements/{aid}/terminate",
        {"reason": "Ремонт здания музея", "terminated_on": "2028-02-01"},
    )
    expect_ok(done)
    a = get(client, f"/agreements/{aid}")
    assert (a["status"], a["terminated_on"], a["in_force_version"]) == (
        "terminated",
        "2028-02-01",
        None,
    )
    assert a["versions"][1]["state"] == "ended"
    # the history tells it all, each event with its actor and why
    events = get(client, f"/agreements/{aid}/history")["events"]
    assert [e["type"] for e in events] == [
        "AgreementDrafted",
        *["AgreementSigned"] * 3,
        "AgreementActivated",
        "AgreementAmendmentProposed",
        "AgreementDraftRevised",
        *["AgreementSigned"] * 3,
        "AgreementAmended",
        "AgreementTerminated",
    ]
    assert events[5]["reason"] == "Добавлена программа «Робототехника-2»"
    assert events[5]["data"]["version"] == 2
    assert events[-1]["reason"] == "Ремонт здания музея"
    assert events[-1]["data"]["terminated_on"] == "2028-02-01"
    assert all(e["actor"]["id"] == OFFICIAL.actor_id for e in events)


def test_an_agreement_whose_term_ended_expires_and_one_in_its_term_does_not(
    client: TestClient, net: dict[str, str], settings: Settings
) -> None:
    ended = (settings.today() - timedelta(days=40)).isoformat()
    past = active(client, usual(net, term_start="2025-09-01", term_end=ended))
    expect_ok(post(client, f"/agreements/{past}/expire"))
    a = get(client, f"/agreements/{past}")
    assert a["status"] == "expired"
    assert a["expired_on"] is not None
    current = active(client, usual(net))
    assert rule(post(client, f"/agreements/{current}/expire")) == "expire_after_term_end"


# -- refusals ---------------------------------------------------------------------------


def test_activation_with_an_unlicensed_teaching_party_is_409_naming_it(
    client: TestClient, net: dict[str, str]
) -> None:
    aid = draft(
        client,
        terms(
            [(net["school"], "base"), (net["plant"], "participant"), (net["museum"], "resource")],
            [net["program"]],
        ),
    )
    sign_all(client, aid)
    problem = assert_problem(post(client, f"/agreements/{aid}/activate"), 409)
    assert problem["rule"] == "teaching_party_licensed"
    assert problem["unlicensed"] == [net["plant"]]  # the museum only provides resources
    assert net["plant"] in problem["detail"]
    assert get(client, f"/agreements/{aid}")["status"] == "signed"


def test_activation_names_missing_clauses_and_missing_signatures(
    client: TestClient, net: dict[str, str]
) -> None:
    incomplete = {k: v for k, v in CLAUSES.items() if k != "documents_issued"}
    aid = draft(client, usual(net, clauses=incomplete))
    problem = assert_problem(post(client, f"/agreements/{aid}/activate"), 409)
    assert problem["rule"] == "agreement_clauses_complete"
    assert problem["missing"] == ["documents_issued"]
    assert rule(sign(client, aid, net["school"])) == "agreement_clauses_complete"
    expect_ok(put(client, f"/agreements/{aid}/terms", usual(net)))
    expect_ok(sign(client, aid, net["school"]))
    problem = assert_problem(post(client, f"/agreements/{aid}/activate"), 409)
    assert problem["rule"] == "agreement_signed_by_all_parties"
    assert problem["unsigned"] == [net["centre"], net["museum"]]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("one_party", "agreement_two_distinct_parties"),
        ("same_party_twice", "agreement_two_distinct_parties"),
        ("no_base", "agreement_has_base_party"),
        ("no_educational", "agreement_has_educational_party"),
        ("stranger_contributes", "contribution_by_party"),
        ("contribution_outside_term", "contribution_within_term"),
        ("unknown_party", "organization_registered"),
        ("unknown_program", "agreement_program_exists"),
    ],
)
def test_terms_breaking_a_rule_are_409_naming_it(
    client: TestClient, net: dict[str, str], case: str, expected: str
) -> None:
    school, museum, plant = net["school"], net["museum"], net["plant"]
    outside = {
        "organization_id": museum,
        "resource_type": "personnel",
        "description": "Экскурсовод",
        "volume": "10",
        "unit": "часов",
        "period_from": "2027-01-01",
        "period_to": "2027-12-31",
    }
    variants: dict[str, dict[str, Any]] = {
        "one_party": terms([(school, "base")], [net["program"]]),
        "same_party_twice": terms([(school, "base"), (school, "resource")], [net["program"]]),
        "no_base": terms([(school, "participant"), (museum, "resource")], [net["program"]]),
        "no_educational": terms([(plant, "base"), (museum, "resource")], [net["program"]]),
        "stranger_contributes": usual(
            net, contributions=[{**outside, "organization_id": plant, "period_from": START}]
        ),
        "contribution_outside_term": usual(net, contributions=[outside]),
        "unknown_party": terms([(school, "base"), (str(uuid.uuid4()), "resource")], []),
        "unknown_program": usual(net, program_ids=[str(uuid.uuid4())]),
    }
    body = variants[case]
    if not body["program_ids"]:
        body["program_ids"] = [net["program"]]
    assert rule(post(client, "/agreements", agreement_body(body))) == expected


def test_signature_refusals_name_their_rule(client: TestClient, net: dict[str, str]) -> None:
    aid = draft(client, usual(net))
    assert rule(sign(client, aid, net["plant"])) == "signer_is_party"
    assert rule(sign(client, aid, net["school"], version=2)) == "signature_for_pending_version"
    expect_ok(sign(client, aid, net["school"]))
    assert rule(sign(client, aid, net["school"])) == "party_signs_once"
    # a version signed by anyone never changes
    assert rule(put(client, f"/agreements/{aid}/terms", usual(net))) == "signed_version_immutable"
    # and nothing but a signed or active agreement is amended or terminated
    amendment = {"terms": usual(net), "reason": "Изменение"}
    assert rule(post(client, f"/agreements/{aid}/amendments", amendment)) == "amend_only_in_force"
    termination = {"reason": "Отказ сторон", "terminated_on": "2027-08-25"}
    assert rule(post(client, f"/agreements/{aid}/terminate", termination)) == "agreement_concluded"


def test_a_closed_agreement_refuses_every_change(client: TestClient, net: dict[str, str]) -> None:
    aid = active(client, usual(net))
    termination = {"reason": "Отказ сторон", "terminated_on": "2027-12-31"}
    expect_ok(post(client, f"/agreements/{aid}/terminate", termination))
    amendment = {"terms": usual(net), "reason": "Изменение"}
    for response in (
        post(client, f"/agreements/{aid}/terminate", termination),
        post(client, f"/agreements/{aid}/amendments", amendment),
        post(client, f"/agreements/{aid}/activate"),
        post(client, f"/agreements/{aid}/expire"),
        sign(client, aid, net["school"]),
    ):
        assert rule(response) == "agreement_closed"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "model_9"}, "terms.model"),
        ({"term_start": "01.09.2027"}, "terms.term_start"),
        ({"program_ids": []}, "terms.program_ids"),
        ({"clauses": {"payment": "Оплата"}}, "terms.clauses.payment.[key]"),
        ({"clauses": {"documents_issued": "я" * 10_001}}, "terms.clauses.documents_issued"),
        (
            {"parties": [{"organization_id": "x", "role": "base"}]},
            "terms.parties.0.organization_id",
        ),
        ({"unexpected": 1}, "terms.unexpected"),
    ],
)
def test_invalid_terms_are_422_naming_the_field(
    client: TestClient, net: dict[str, str], change: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        post(client, "/agreements", agreement_body({**usual(net), **change})), 422
    )
    assert field in [e["field"] for e in problem["errors"]], problem


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"volume": "0"}, "terms.contributions.0.volume"),
        ({"resource_type": "money"}, "terms.contributions.0.resource_type"),
        ({"description": ""}, "terms.contributions.0.description"),
    ],
)
def test_an_invalid_contribution_is_422_naming_the_field(
    client: TestClient, net: dict[str, str], change: dict[str, Any], field: str
) -> None:
    contribution = {
        "organization_id": net["museum"],
        "resource_type": "infrastructure",
        "description": "Зал",
        "volume": "12",
        "unit": "часов",
        "period_from": START,
        "period_to": END,
        **change,
    }
    body = agreement_body(usual(net, contributions=[contribution]))
    problem = assert_problem(post(client, "/agreements", body), 422)
    assert field in [e["field"] for e in problem["errors"]], problem


def test_a_term_ending_before_it_starts_is_422_from_the_domain(
    client: TestClient, net: dict[str, str]
) -> None:
    problem = assert_problem(
        post(client, "/agreements", agreement_body(usual(net, term_end="2027-08-31"))), 422
    )
    assert problem["field"] == "terms.term_end"


def test_an_unknown_agreement_is_404(client: TestClient, net: dict[str, str]) -> None:
    unknown = uuid.uuid4()
    assert_problem(client.get(f"{API}/agreements/{unknown}"), 404)
    assert_problem(client.get(f"{API}/agreements/{unknown}/history"), 404)
    assert_problem(sign(client, str(unknown), net["school"]), 404)


def test_writes_need_a_credential_and_an_official_of_a_partys_agency(
    client: TestClient, net: dict[str, str], municipality: str
) -> None:
    body = agreement_body(usual(net))  # every party is of the education agency

    def refused(headers: Any, status: int) -> dict[str, Any]:
        return assert_problem(client.post(f"{API}/agreements", json=body, headers=headers), status)

    assert refused(ANONYMOUS, 401)["reason"] == "missing"
    for role in ("auditor", "analyst"):
        assert refused(role_headers(role), 403)["rule"] == "read_only_role"
    assert refused(official_headers("culture"), 403)["rule"] == "official_agency_takes_part"
    elsewhere = official_headers("education", municipality=f"Not {municipality}")
    assert refused(elsewhere, 403)["rule"] == "official_own_municipality"
    # a drafted agreement is signed by none of them either
    aid = draft(client, usual(net))
    signature = {"party_id": net["school"], "signatory": "Директор", "signed_on": "2027-08-20"}
    for headers, status in (
        (ANONYMOUS, 401),
        (role_headers("auditor"), 403),
        (official_headers("culture"), 403),
        (elsewhere, 403),
    ):
        response = client.post(
            f"{API}/agreements/{aid}/signatures", json=signature, headers=headers
        )
        assert_problem(response, status)
    a = get(client, f"/agreements/{aid}")
    assert (a["version"], a["versions"][0]["signatures"]) == (1, [])
    # an official of the parties' agency in the municipality signs it
    expect_ok(sign(client, aid, net["school"]))


def test_a_retried_draft_with_its_key_creates_one_agreement(
    client: TestClient, net: dict[str, str]
) -> None:
    body = agreement_body(usual(net))
    key = f"agr-{uuid.uuid4().hex}"
    first = post(client, "/agreements", body, **{"Idempotency-Key": key})
    again = post(client, "/agreements", body, **{"Idempotency-Key": key})
    assert expect_ok(first, 201)["id"] == expect_ok(again, 201)["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_a_retried_amendment_answers_the_same_proposed_version(
    client: TestClient, net: dict[str, str]
) -> None:
    aid = active(client, usual(net))
    amendment = {"terms": usual(net, model="model_1"), "reason": "Уточнение модели"}
    key = f"amend-{uuid.uuid4().hex}"
    first = expect_ok(
        post(client, f"/agreements/{aid}/amendments", amendment, **{"Idempotency-Key": key})
    )
    again = expect_ok(
        post(client, f"/agreements/{aid}/amendments", amendment, **{"Idempotency-Key": key})
    )
    assert first == again
    assert first["agreement_version"] == 2
    assert len(get(client, f"/agreements/{aid}")["versions"]) == 2


def test_a_signature_with_a_stale_if_match_is_412(client: TestClient, net: dict[str, str]) -> None:
    aid = draft(client, usual(net))
    expect_ok(sign(client, aid, net["school"]))
    response = client.post(
        f"{API}/agreements/{aid}/signatures",
        json={"party_id": net["centre"], "signatory": "Директор", "signed_on": "2027-08-20"},
        headers={**OFFICIAL, "If-Match": '"1"'},
    )
    assert_problem(response, 412)


def test_openapi_documents_every_agreement_route_with_examples(client: TestClient) -> None:
    spec = expect_ok(client.get("/openapi.json"))
    base = f"{API}/agreements/{{agreement_id}}"
    expected = {
        f"{API}/agreements": {"post"},
        base: {"get"},
        f"{base}/history": {"get"},
        f"{base}/terms": {"put"},
        f"{base}/signatures": {"post"},
        f"{base}/activate": {"post"},
        f"{base}/amendments": {"post"},
        f"{base}/terminate": {"post"},
        f"{base}/expire": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
    schemas = spec["components"]["schemas"]
    assert schemas["AgreementCreate"]["examples"][0]["terms"]["model"] == "model_2"
    assert set(schemas["TermsIn"]["examples"][0]["clauses"]) == {c.value for c in Clause}
    assert {"404", "409", "412", "422"} <= set(
        spec["paths"][f"{base}/activate"]["post"]["responses"]
    )
