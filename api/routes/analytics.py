"""The Analyst API: aggregated tables read from the projections, as JSON or streamed CSV.

Every table answers a page as JSON by default; ``?format=csv`` (or ``Accept: text/csv``)
streams every row of it as CSV through a server-side cursor, so the service's memory
does not grow with the row count. Officials, analysts and auditors read them; a principal
limited to a municipality is pinned to it.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import iterate_in_threadpool

from api.analytics_schemas import (
    AssignmentExecutionPublic,
    CoveragePublic,
    DeliverablesByMechanismPublic,
    NetworkProgramsPublic,
    OutsideTolerancePublic,
    ProjectsByStagePublic,
    StageDurationProjectsPublic,
    StageDurationsPublic,
    TableFormat,
    TablePage,
    WorkingGroupsPublic,
)
from api.deps import Reader, ReadsAnalytics, ServicesDep, SettingsDep
from api.routes.common import PROJECTION_READ, MinPosition, Offset, wait_for
from domain.errors import ValidationError
from domain.values import Agency
from interagency.services import Services
from interagency.settings import Settings
from projections.analytics import TABLES, AnalyticsFilter, AnalyticsQueries

router = APIRouter(prefix="/analytics", tags=["analytics"])

Municipality = Annotated[str | None, Query(max_length=200, description="One municipality")]
AgencyFilter = Annotated[Agency | None, Query(description="One agency (see each table)")]
From = Annotated[
    date | None,
    Query(alias="from", description="Period start, a local date (inclusive; see each table)"),
]
To = Annotated[date | None, Query(alias="to", description="Period end (inclusive)")]
Format = Annotated[
    TableFormat | None,
    Query(
        alias="format",
        description="`json` (a page) or `csv` (every row, streamed). Without it, "
        "`Accept: text/csv` asks for CSV.",
    ),
]
TableLimit = Annotated[
    int, Query(ge=1, le=10_000, description="Rows per JSON page; CSV streams every row")
]

CSV_MEDIA_TYPE = "text/csv"
# CSV is written and sent in pieces of about this many characters.
CSV_CHUNK = 64 * 1024

TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROJECTION_READ,
    200: {
        "description": "A page of the table as JSON, or every row as CSV",
        "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    422: {"description": "Invalid filter, e.g. `from` after `to` (problem+json)"},
}


def wants_csv(fmt: TableFormat | None, accept: str | None) -> bool:
    """``format`` decides; without it, CSV when the Accept header prefers ``text/csv``.

    Among ``text/csv`` and JSON (``application/json``, ``*/*``), the higher q-value wins;
    on a tie, the one listed first.
    """
    if fmt is not None:
        return fmt is TableFormat.CSV
    if not accept:
        return False
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        kind = {CSV_MEDIA_TYPE: "csv", "text/*": "csv"}.get(media.lower())
        if kind is None and media.lower() in ("application/json", "application/*", "*/*"):
            kind = "json"
        if kind is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, kind)
    return best is not None and best[1] == "csv"


class _Pieces:
    """Where the csv writer writes: the lines of the chunk being made, and its length."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0

    def write(self, line: str) -> int:
        self.lines.append(line)
        self.size += len(line)
        return len(line)

    def take(self) -> str:
        chunk = "".join(self.lines)
        self.lines.clear()
        self.size = 0
        return chunk


def csv_chunks(
    columns: tuple[str, ...],
    first: tuple[str | None, ...] | None,
    rest: Iterator[tuple[str | None, ...]],
) -> Generator[str, None, None]:
    """The header, then the rows, in pieces of about ``CSV_CHUNK`` characters.

    Closing this generator closes ``rest`` (and so the cursor and its connection).
    """
    pieces = _Pieces()
    writer = csv.writer(pieces)
    writer.writerow(columns)
    try:
        if first is not None:
            # Values come as text already; the csv module writes None as an empty cell.
            writer.writerow(first)
            for row in rest:
                writer.writerow(row)
                if pieces.size >= CSV_CHUNK:
                    yield pieces.take()
        yield pieces.take()
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


async def _encoded(chunks: Generator[str, None, None]) -> AsyncIterator[bytes]:
    """Pulls the chunks in the thread pool (the cursor blocks); closes them however the
    response ends, a client gone away included, so the connection returns to the pool."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk.encode()
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


@dataclass(frozen=True)
class TableRead:
    """What every table read shares: the reader, the answer's format, paging, position."""

    reader: Reader
    services: Services
    settings: Settings
    accept: str | None
    response: Response
    fmt: TableFormat | None
    limit: int
    offset: int
    min_position: int | None

    def answer(
        self, name: str, page: type[TablePage], filters: Filters
    ) -> BaseModel | StreamingResponse:
        table = TABLES[name]
        f = AnalyticsFilter(
            municipality=self.reader.municipality(filters.municipality),
            agency=None if filters.agency is None else filters.agency.value,
            date_from=filters.date_from,
            date_to=filters.date_to,
        )
        settings = self.settings
        view = self.services.view(table.projection)
        position = wait_for(view, settings, self.min_position, self.response)
        queries = AnalyticsQueries(self.services.datastore, settings.timezone)
        today = settings.today()
        if wants_csv(self.fmt, self.accept):
            rows = queries.stream(table, f, today)
            # The query runs here, before the answer starts: an error is still problem+json.
            first = next(rows, None)
            return StreamingResponse(
                _encoded(csv_chunks(table.columns, first, rows)),
                media_type=CSV_MEDIA_TYPE,
                headers={
                    "Content-Disposition": f'attachment; filename="{name}.csv"',
                    "X-Projection-Position": str(position),
                },
            )
        items, total = queries.page(table, f, today, self.limit, self.offset)
        return page.model_validate(
            {
                "table": name,
                "columns": list(table.columns),
                "items": items,
                "total": total,
                "limit": self.limit,
                "offset": self.offset,
                "position": position,
            }
        )


@dataclass(frozen=True)
class Filters:
    """Municipality, agency and period (inclusive local dates; either end may be open)."""

    municipality: str | None = None
    agency: Agency | None = None
    date_from: date | None = None
    date_to: date | None = None


def table_read(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    fmt: Format = None,
    limit: TableLimit = 1000,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> TableRead:
    return TableRead(
        reader,
        services,
        settings,
        request.headers.get("accept"),
        response,
        fmt,
        limit,
        offset,
        min_position,
    )


def period_filters(
    municipality: Municipality = None,
    agency: AgencyFilter = None,
    date_from: From = None,
    date_to: To = None,
) -> Filters:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationError(
            f"the period's start ({date_from}) is after its end ({date_to})", field="from"
        )
    return Filters(municipality, agency, date_from, date_to)


def now_filters(municipality: Municipality = None, agency: AgencyFilter = None) -> Filters:
    """The filters of a table that is a picture of now: no period."""
    return Filters(municipality, agency)


Read = Annotated[TableRead, Depends(table_read)]
PeriodFilters = Annotated[Filters, Depends(period_filters)]
NowFilters = Annotated[Filters, Depends(now_filters)]


@router.get(
    "/projects-by-stage",
    response_model=ProjectsByStagePublic,
    responses=TABLE_RESPONSES,
    summary="Projects by stage (and status) and agency taking part",
)
def projects_by_stage(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("projects_by_stage", ProjectsByStagePublic, filters)


@router.get(
    "/stage-durations",
    response_model=StageDurationsPublic,
    responses=TABLE_RESPONSES,
    summary="Stage durations, planned against actual, mean and median per stage",
)
def stage_durations(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("stage_durations", StageDurationsPublic, filters)


@router.get(
    "/stage-durations/projects",
    response_model=StageDurationProjectsPublic,
    responses=TABLE_RESPONSES,
    summary="Stage durations per project and stage, planned against actual",
)
def stage_durations_projects(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("stage_durations_projects", StageDurationProjectsPublic, filters)


@router.get(
    "/deliverables-by-mechanism",
    response_model=DeliverablesByMechanismPublic,
    responses=TABLE_RESPONSES,
    summary="Deliverables by interaction mechanism, by state",
)
def deliverables_by_mechanism(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("deliverables_by_mechanism", DeliverablesByMechanismPublic, filters)


@router.get(
    "/working-groups",
    response_model=WorkingGroupsPublic,
    responses=TABLE_RESPONSES,
    summary="Working-group effectiveness: meetings, attendance, decisions, action items",
)
def working_groups(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("working_groups", WorkingGroupsPublic, filters)


@router.get(
    "/assignment-execution",
    response_model=AssignmentExecutionPublic,
    responses=TABLE_RESPONSES,
    summary="Municipal assignments: plan against actual by year, agency, direction, period",
)
def assignment_execution(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("assignment_execution", AssignmentExecutionPublic, filters)


@router.get(
    "/assignments-outside-tolerance",
    response_model=OutsideTolerancePublic,
    responses=TABLE_RESPONSES,
    summary="Institutions' service lines outside the allowed deviation, subsidy at risk",
)
def assignments_outside_tolerance(
    read: Read, filters: PeriodFilters
) -> BaseModel | StreamingResponse:
    return read.answer("assignments_outside_tolerance", OutsideTolerancePublic, filters)


@router.get(
    "/network-programs",
    response_model=NetworkProgramsPublic,
    responses=TABLE_RESPONSES,
    summary="Programs of the network by agency, direction and form: status, places",
)
def network_programs(read: Read, filters: NowFilters) -> BaseModel | StreamingResponse:
    return read.answer("network_programs", NetworkProgramsPublic, filters)


@router.get(
    "/coverage",
    response_model=CoveragePublic,
    responses=TABLE_RESPONSES,
    summary="Coverage per year and municipality, in total and by agency, direction, funding",
)
def coverage(read: Read, filters: PeriodFilters) -> BaseModel | StreamingResponse:
    return read.answer("coverage", CoveragePublic, filters)
