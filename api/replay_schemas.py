"""Schemas of the replay: each event of an aggregate with the state right after it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import HistoryEventPublic


class ReplayStepPublic(BaseModel):
    event: HistoryEventPublic = Field(
        description="The event: type, version, position, time, who and why, its data "
        "(children's pseudonymous ids replaced by <redacted>)"
    )
    state: dict[str, Any] = Field(
        description="The aggregate's state right after this event, in the schema its own "
        "GET answers (named by state_schema)"
    )


class ReplayPublic(BaseModel):
    aggregate_id: UUID
    aggregate_type: str = Field(description="project, working_group, assignment, ...")
    state_schema: str = Field(description="The schema of each step's state, e.g. ProjectPublic")
    last_version: int = Field(description="The aggregate's last version when the page was read")
    from_version: int
    limit: int
    next_from_version: int | None = Field(
        description="Pass as from_version for the next page; null after the last event"
    )
    steps: list[ReplayStepPublic]
