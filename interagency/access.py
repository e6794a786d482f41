"""Who the current command acts for, and what each aggregate's write scope is.

The API authenticates the caller and declares it with :func:`acting_as_caller` (a context
variable, so the pipeline sees it without every command taking one more argument). The
command pipeline then checks every write against the target aggregate's scope, in one
place, before the command decides anything: a forgotten check in a route cannot open a
write path.

In-process callers that are not a request (the command line, the demo seed, tests) set no
caller and act with the application's full authority: the API is the trust boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

from domain.agreement import NetworkAgreement
from domain.assignment import MunicipalAssignment, Redistribution
from domain.organization import Organization
from domain.population import TerritoryPopulation
from domain.principal import Principal, PrincipalDirectory
from domain.program import Program
from domain.project import InteragencyProject
from domain.values import Agency
from domain.working_group import WorkingGroup
from interagency.auth import (
    AdminAction,
    AuthenticatedPrincipal,
    Decision,
    PermissionDeniedError,
    WriteScope,
    can_administer,
    can_write,
    require,
)

_caller: ContextVar[AuthenticatedPrincipal | None] = ContextVar("interagency_caller", default=None)


def acting_as_caller(principal: AuthenticatedPrincipal) -> None:
    """Declares the authenticated caller of the current request (the API's dependency).

    Set on the request's own task: the route's thread runs in a copy of that context, and
    the next request starts from a context without it.
    """
    _caller.set(principal)


def current_caller() -> AuthenticatedPrincipal | None:
    return _caller.get()


@dataclass(frozen=True)
class AdminTarget:
    """A write that only admins make (principals and tokens)."""

    action: AdminAction


WriteTarget = WriteScope | AdminTarget


@dataclass(frozen=True)
class Loaders:
    """How the scope of an aggregate that refers to others is completed (reads only)."""

    organization: Callable[[UUID], Organization | None]
    project: Callable[[UUID], InteragencyProject | None]
    assignment: Callable[[UUID], MunicipalAssignment | None]


def _agencies_of_organizations(ids: Iterable[UUID], loaders: Loaders) -> set[Agency]:
    agencies: set[Agency] = set()
    for oid in ids:
        org = loaders.organization(oid)
        if org is not None:
            agencies.add(org.agency)
    return agencies


def write_target(agg: object, loaders: Loaders) -> WriteTarget:
    """Where a write to ``agg`` lands: its municipality and the agencies taking part.

    Raises :class:`PermissionDeniedError` for an aggregate no caller may write directly
    (fail closed: a new aggregate type is writable through the API only once it has a rule
    here).
    """
    if isinstance(agg, InteragencyProject):
        return WriteScope.of(agg.municipality, {agg.lead_agency, *agg.agencies})
    if isinstance(agg, WorkingGroup):
        agencies: set[Agency] = {m.agency for m in agg.current_members()}
        convening = getattr(agg, "convening_agency", None)
        if convening is not None:
            agencies.add(convening)
        if agg.project_id is not None:
            project = loaders.project(agg.project_id)
            if project is not None:
                agencies |= {project.lead_agency, *project.agencies}
        return WriteScope.of(agg.municipality, agencies)
    if isinstance(agg, MunicipalAssignment):
        return WriteScope.of(agg.municipality, {agg.agency})
    if isinstance(agg, Redistribution):
        municipalities: set[str] = set()
        agencies = set()
        for leg in agg.legs:
            assignment = loaders.assignment(UUID(leg["assignment_id"]))
            if assignment is not None:
                municipalities.add(assignment.municipality)
                agencies.add(assignment.agency)
        if len(municipalities) != 1:
            # Legs in two municipalities cannot exist (the domain refuses them); no scope.
            return WriteScope.of("", ())
        return WriteScope.of(municipalities.pop(), agencies)
    if isinstance(agg, Organization):
        return WriteScope.of(agg.municipality, {agg.agency})
    if isinstance(agg, Program):
        agencies = {agg.agency} | _agencies_of_organizations(agg.partner_ids, loaders)
        return WriteScope.of(agg.municipality, agencies)
    if isinstance(agg, NetworkAgreement):
        party_ids: set[UUID] = set()
        for version in agg.versions.values():
            party_ids.update(version.party_ids)
        return WriteScope.of(agg.municipality, _agencies_of_organizations(party_ids, loaders))
    if isinstance(agg, TerritoryPopulation):
        # Population figures serve every agency's coverage: any official of the municipality.
        return WriteScope.of(agg.municipality, Agency)
    if isinstance(agg, Principal | PrincipalDirectory):
        return AdminTarget(AdminAction.MANAGE_PRINCIPALS)
    raise PermissionDeniedError(
        "no_write_rule", f"no caller may write a {type(agg).__name__} through the API"
    )


def decide_write(principal: AuthenticatedPrincipal, target: WriteTarget) -> Decision:
    if isinstance(target, AdminTarget):
        return can_administer(principal, target.action)
    return can_write(principal, target)


def authorize_write(agg: object, loaders: Loaders) -> None:
    """Refuses (403) a write of the current caller to ``agg``; no caller: in-process, allowed."""
    principal = current_caller()
    if principal is None:
        return
    require(decide_write(principal, write_target(agg, loaders)))


__all__ = [
    "AdminTarget",
    "Loaders",
    "acting_as_caller",
    "authorize_write",
    "current_caller",
    "decide_write",
    "write_target",
]
