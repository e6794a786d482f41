"""The write side: the only way to change state. Load, decide, save, in one ``save()``."""

from __future__ import annotations

from typing import ClassVar

from interagency.agreements import AgreementCommands
from interagency.assignments import AssignmentCommands
from interagency.groups import GroupCommands
from interagency.organizations import OrganizationCommands
from interagency.pipeline import (
    APP_NAME,
    CommandPipeline,
    CommandResult,
    HistoryEntry,
    iter_event_fields,
    postgres_env,
)
from interagency.principals import PrincipalCommands
from interagency.programs import ProgramCommands
from interagency.projects import ProjectCommands
from interagency.snapshots import SnapshottingPipeline


class InteragencyApplication(
    SnapshottingPipeline,
    ProjectCommands,
    GroupCommands,
    AssignmentCommands,
    OrganizationCommands,
    ProgramCommands,
    AgreementCommands,
    PrincipalCommands,
):
    """Commands of officials, each one atomic and optimistic.

    Every command takes an ``EventMeta`` (who and which request), the expected version
    from ``If-Match`` if any, and an idempotency context if the request had a key.
    """

    name = APP_NAME
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}


__all__ = [
    "APP_NAME",
    "CommandPipeline",
    "CommandResult",
    "HistoryEntry",
    "InteragencyApplication",
    "iter_event_fields",
    "postgres_env",
]
