"""Concurrent writes through the API: optimistic concurrency, If-Match, Idempotency-Key.

The threads share one TestClient: its portal is thread-safe, and the sync routes run in
the server's thread pool, so the requests really race each other on the database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    API,
    assert_problem,
    create_project,
    deliverable_body,
    expect_ok,
    history,
    official_headers,
    plan_deliverable,
    project_body,
)

THREADS = 8
MAX_ROUNDS = 25


def race(n: int, request: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Sends ``n`` requests at once: every thread waits at a barrier, then goes."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return request(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_writes_to_one_project_are_accepted_or_refused_with_409_never_lost(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    url = f"{API}/projects/{pid}/deliverables"
    conflicts = accepted = 0
    for round_ in range(MAX_ROUNDS):
        before = len(history(client, pid))

        def plan(i: int, r: int = round_) -> httpx.Response:
            return client.post(
                url,
                json=deliverable_body(title=f"Round {r} writer {i}"),
                headers=official_headers(),
            )

        responses = race(THREADS, plan)
        codes = [r.status_code for r in responses]
        assert set(codes) <= {201, 409}, [r.text for r in responses if r.status_code >= 400]
        for r in responses:
            if r.status_code == 409:
                assert assert_problem(r, 409)["type"] == "/problems/concurrency-conflict"
        ok = [r.json() for r in responses if r.status_code == 201]
        # One event per accepted write: none lost, none doubled.
        events = history(client, pid)
        assert len(events) - before == len(ok)
        assert sorted(e["version"] for e in events[before:]) == sorted(w["version"] for w in ok)
        planned = {e["data"]["deliverable_id"] for e in events[before:]}
        assert planned == {w["deliverable_id"] for w in ok}
        accepted += len(ok)
        conflicts += codes.count(409)
        if conflicts:
            break
    assert conflicts > 0, f"no 409 in {MAX_ROUNDS} rounds of {THREADS} concurrent writes"
    assert accepted > 0
    project = expect_ok(client.get(f"{API}/projects/{pid}"))
    assert len(project["stages"][0]["deliverables"]) == accepted
    assert project["version"] == 1 + accepted


def test_concurrent_writes_with_the_same_if_match_let_exactly_one_through(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    for round_ in range(3):
        version = expect_ok(client.get(f"{API}/projects/{pid}"))["version"]

        def plan_at(i: int, r: int = round_, v: int = version) -> httpx.Response:
            return client.post(
                f"{API}/projects/{pid}/deliverables",
                json=deliverable_body(title=f"Round {r} writer {i}"),
                headers=official_headers(If_Match=f'"{v}"'),
            )

        responses = race(THREADS, plan_at)
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] + [412] * (THREADS - 1), [r.text for r in responses]
        for r in responses:
            if r.status_code == 412:
                assert assert_problem(r, 412)["type"] == "/problems/stale-version"
        (winner,) = [r for r in responses if r.status_code == 201]
        assert winner.json()["version"] == version + 1
        assert winner.headers["ETag"] == f'"{version + 1}"'
        assert len(history(client, pid)) == version + 1


def test_an_idempotent_retry_answers_the_same_and_writes_once(
    client: TestClient, services: Services, municipality: str
) -> None:
    key = f"initiate-{uuid.uuid4().hex}"
    body = project_body(municipality)
    first = client.post(f"{API}/projects", json=body, headers=official_headers(Idempotency_Key=key))
    head = services.app.head_position()
    second = client.post(
        f"{API}/projects", json=body, headers=official_headers(Idempotency_Key=key)
    )

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    for header in ("ETag", "Location", "X-Event-Position"):
        assert second.headers[header] == first.headers[header]
    assert services.app.head_position() == head, "the replay wrote an event"
    pid = first.json()["id"]
    assert [e["type"] for e in history(client, pid)] == ["ProjectInitiated"]
    listed = expect_ok(
        client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": first.json()["position"]},
        )
    )
    assert listed["total"] == 1


def test_an_idempotency_key_reused_for_another_request_answers_422_and_writes_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    key = f"reuse-{uuid.uuid4().hex}"
    first = client.post(
        f"{API}/projects",
        json=project_body(municipality),
        headers=official_headers(Idempotency_Key=key),
    )
    assert first.status_code == 201
    pid = first.json()["id"]
    head = services.app.head_position()

    other_body = client.post(
        f"{API}/projects",
        json=project_body(municipality, title="Another title"),
        headers=official_headers(Idempotency_Key=key),
    )
    other_path = client.post(
        f"{API}/projects/{pid}/deliverables",
        json=deliverable_body(),
        headers=official_headers(Idempotency_Key=key),
    )
    for response in (other_body, other_path):
        problem = assert_problem(response, 422)
        assert problem["type"] == "/problems/idempotency-key-reused"
        assert key in problem["detail"]
        assert "Idempotent-Replayed" not in response.headers
    assert services.app.head_position() == head
    assert len(history(client, pid)) == 1


def test_a_replayed_deliverable_plan_answers_the_same_deliverable_id(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    key = f"plan-{uuid.uuid4().hex}"
    url = f"{API}/projects/{pid}/deliverables"
    body = deliverable_body(title="Working group regulation")
    first = client.post(url, json=body, headers=official_headers(Idempotency_Key=key))
    assert first.status_code == 201, first.text
    # Another deliverable is planned in between: the replay must not answer that one.
    plan_deliverable(client, pid, title="Something else")
    head = services.app.head_position()

    second = client.post(url, json=body, headers=official_headers(Idempotency_Key=key))
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.json()["deliverable_id"] == first.json()["deliverable_id"]
    assert services.app.head_position() == head
    titles = [
        d["title"]
        for d in expect_ok(client.get(f"{API}/projects/{pid}"))["stages"][0]["deliverables"]
    ]
    assert titles == ["Working group regulation", "Something else"]


def test_an_idempotent_command_replays_even_after_the_state_moved_on(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    d = plan_deliverable(client, pid)["deliverable_id"]
    key = f"submit-{uuid.uuid4().hex}"
    url = f"{API}/projects/{pid}/deliverables/{d}/submit"
    first = client.post(
        url, json={"document_ref": "doc"}, headers=official_headers(Idempotency_Key=key)
    )
    assert first.status_code == 200, first.text
    # Submitting again without the key breaks a rule; with the key it is the same request.
    again = client.post(url, json={"document_ref": "doc"}, headers=official_headers())
    assert assert_problem(again, 409)["rule"] == "deliverable_submittable"
    head = services.app.head_position()
    retry = client.post(
        url, json={"document_ref": "doc"}, headers=official_headers(Idempotency_Key=key)
    )
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert services.app.head_position() == head


def test_concurrent_retries_with_one_idempotency_key_write_once_and_answer_alike(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    before = len(history(client, pid))
    for round_ in range(3):
        key = f"race-{round_}-{uuid.uuid4().hex}"
        body = deliverable_body(title=f"Raced plan {round_}")

        def retry(_i: int, k: str = key, b: dict[str, Any] = body) -> httpx.Response:
            return client.post(
                f"{API}/projects/{pid}/deliverables",
                json=b,
                headers=official_headers(Idempotency_Key=k),
            )

        responses = race(THREADS, retry)
        assert [r.status_code for r in responses] == [201] * THREADS, [r.text for r in responses]
        answers: list[dict[str, Any]] = [r.json() for r in responses]
        assert all(a == answers[0] for a in answers)
        replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
        assert replayed.count(None) == 1
        assert replayed.count("true") == THREADS - 1
        assert len(history(client, pid)) == before + round_ + 1
    deliverables = expect_ok(client.get(f"{API}/projects/{pid}"))["stages"][0]["deliverables"]
    assert [d["title"] for d in deliverables] == [f"Raced plan {i}" for i in range(3)]
