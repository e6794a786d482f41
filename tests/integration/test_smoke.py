from __future__ import annotations

from domain.values import EventMeta
from interagency.services import Services
from projections.runtime import ProjectionWorker
from tests.conftest import wait_projected

META = EventMeta(actor_id="tester", actor_role="official", actor_agency="education")


def test_a_project_is_projected_once_the_worker_reaches_its_position(
    services: Services, worker: ProjectionWorker
) -> None:
    result = services.app.initiate_project(
        META,
        title="Smoke",
        goal="Check the wiring",
        municipality="Smoke town",
        lead_agency="education",
        agencies=["education", "sport"],
    )
    wait_projected(services, result.position)
    summary = services.projects.get_summary(result.aggregate_id)
    assert summary is not None
    assert summary["status"] == "active"
    assert summary["active_stage"] == "social_ties_program"
