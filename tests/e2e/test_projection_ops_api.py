"""Projection operations over HTTP: status and metrics for admins, rebuilds under reads."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    API,
    assert_problem,
    create_project,
    expect_ok,
    official_headers,
    role_headers,
)


def test_admins_see_each_projections_position_lag_and_last_error(
    client: TestClient, services: Services, municipality: str
) -> None:
    written = create_project(client, municipality)
    services.projects.wait_for(written["position"], timeout=10)
    body = expect_ok(client.get(f"{API}/admin/projections", headers=role_headers("admin")))
    rows = {r["name"]: r for r in body["projections"]}
    assert set(rows) == {v.name for v in services.views}
    projects = rows["projects"]
    assert projects["position"] >= written["position"]
    assert projects["head"] >= projects["position"]
    assert projects["lag_events"] == projects["head"] - projects["position"]
    assert projects["active"] is True
    assert projects["state"] == "running"
    for role in ("auditor", "analyst"):
        refused = client.get(f"{API}/admin/projections", headers=role_headers(role))
        assert_problem(refused, 403)
    assert_problem(client.get(f"{API}/admin/projections", headers=official_headers()), 403)


def test_metrics_are_prometheus_text_for_admins(client: TestClient, services: Services) -> None:
    response = client.get(f"{API}/admin/metrics", headers=role_headers("admin"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE interagency_projection_lag_events gauge" in text
    for view in services.views:
        assert f'interagency_projection_lag_seconds{{projection="{view.name}"}}' in text
        assert f'interagency_projection_errors_total{{projection="{view.name}"}}' in text
    assert "interagency_log_head " in text


def test_a_rebuild_while_the_api_serves_reads_never_shows_an_empty_or_partial_list(
    client: TestClient, services: Services, municipality: str
) -> None:
    last = 0
    for i in range(12):
        last = create_project(client, municipality, title=f"Rebuild under reads {i}")["position"]
    reader = official_headers()
    before = expect_ok(
        client.get(
            f"{API}/projects",
            params={"municipality": municipality, "min_position": last},
            headers=reader,
        )
    )
    assert before["total"] == 12

    done = threading.Event()
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            services.rebuild("projects", batch_size=50)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=rebuild)
    thread.start()
    answers = []
    while not done.is_set() or len(answers) < 5:
        r = client.get(f"{API}/projects", params={"municipality": municipality}, headers=reader)
        answers.append((r.status_code, r.json().get("total")))
    thread.join(30)
    assert errors == []
    assert set(answers) == {(200, 12)}
    after = expect_ok(
        client.get(f"{API}/projects", params={"municipality": municipality}, headers=reader)
    )
    assert [p["id"] for p in after["items"]] == [p["id"] for p in before["items"]]
