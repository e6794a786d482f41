"""The pipeline's one access check, on PostgreSQL: writes refused by scope write nothing."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID, uuid4

import pytest

from domain.values import Agency, EventMeta, Role
from interagency.access import acting_as_caller, current_caller
from interagency.application import InteragencyApplication
from interagency.auth import AuthenticatedPrincipal, PermissionDeniedError
from interagency.services import Services

T = TypeVar("T")

SYSTEM = EventMeta(actor_id="setup", actor_role="system")


def official(agency: str, municipality: str) -> AuthenticatedPrincipal:
    return AuthenticatedPrincipal(
        subject=f"official-{agency}",
        name=f"Official of {agency}",
        role=Role.OFFICIAL,
        agency=Agency(agency),
        municipality=municipality,
        via="token",
    )


def as_caller(principal: AuthenticatedPrincipal, fn: Callable[[], T]) -> T:
    """Runs ``fn`` in a fresh context with ``principal`` as the caller, as a request does."""

    def run() -> T:
        acting_as_caller(principal)
        return fn()

    return contextvars.copy_context().run(run)


def project_in(app: InteragencyApplication, municipality: str) -> UUID:
    return app.initiate_project(
        SYSTEM,
        title="Engineering holidays",
        goal="Coverage",
        municipality=municipality,
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id


def test_in_process_callers_set_no_caller(services: Services) -> None:
    assert current_caller() is None
    project_in(services.app, f"Town {uuid4().hex[:8]}")


def test_an_update_outside_the_callers_scope_is_refused_and_writes_nothing(
    services: Services,
) -> None:
    app = services.app
    town = f"Town {uuid4().hex[:8]}"
    pid = project_in(app, town)
    head = app.head_position()
    sport = official("sport", town)
    with pytest.raises(PermissionDeniedError) as refused:
        as_caller(sport, lambda: app.suspend_project(sport.meta(None), pid, reason="no"))
    assert refused.value.rule == "official_agency_takes_part"
    assert app.head_position() == head
    elsewhere = official("education", "Another town")
    with pytest.raises(PermissionDeniedError) as refused:
        as_caller(elsewhere, lambda: app.suspend_project(elsewhere.meta(None), pid, reason="x"))
    assert refused.value.rule == "official_own_municipality"
    culture = official("culture", town)
    as_caller(culture, lambda: app.suspend_project(culture.meta(None), pid, reason="pause"))
    assert app.get_project(pid).version == 2


def test_a_creation_is_checked_against_the_new_aggregates_scope(services: Services) -> None:
    app = services.app
    town = f"Town {uuid4().hex[:8]}"
    sport = official("sport", town)
    head = app.head_position()
    with pytest.raises(PermissionDeniedError):
        as_caller(sport, lambda: project_in(app, town))
    assert app.head_position() == head


def test_the_official_who_establishes_a_group_keeps_writing_to_it(services: Services) -> None:
    app = services.app
    town = f"Town {uuid4().hex[:8]}"
    culture = official("culture", town)

    def establish() -> UUID:
        return app.establish_group(
            culture.meta(None),
            kind="working",
            name="Network working group",
            basis_act="Order No. 1",
            municipality=town,
        ).aggregate_id

    gid = as_caller(culture, establish)
    assert app.get_group(gid).convening_agency is Agency.CULTURE
    sport = official("sport", town)
    with pytest.raises(PermissionDeniedError):
        as_caller(sport, lambda: app.dissolve_group(sport.meta(None), gid, reason="x"))
    as_caller(culture, lambda: app.dissolve_group(culture.meta(None), gid, reason="done"))


def test_the_demo_registers_one_principal_per_role_with_a_working_token(
    services: Services,
) -> None:
    from interagency.demo import demo_principals

    lines = demo_principals(services.app, today=services.settings.today())
    roles = []
    for line in lines:
        role, token = line.split()
        principal = services.app.authenticate(token, today=services.settings.today())
        assert principal.role.value == role
        roles.append(role)
    assert roles == ["official", "auditor", "analyst", "admin"]
