"""The query parameters of a past state (``as_of`` / ``version``) and the headers it answers.

Every single-aggregate read takes :data:`PointInTimeDep` and hands it to the application's
``get_*`` (``CommandPipeline._load`` rebuilds the past state, ``interagency.timetravel``);
routes never rebuild anything themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from eventsourcing.domain import Aggregate
from fastapi import Depends, Query, Response
from pydantic import AwareDatetime

from interagency.timetravel import PointInTime

AS_OF_DESCRIPTION = (
    "The state at this moment (ISO 8601 with a UTC offset, e.g. 2025-03-31T23:59:59+03:00): "
    "rebuilt from the aggregate's events up to its last event at or before it. "
    "Not with `version`."
)
VERSION_DESCRIPTION = (
    "The state after the aggregate's N-th event (1 = as created). Not with `as_of`."
)

PAST_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Unknown id, or no such past state: the aggregate did not exist yet "
        "at `as_of` (reason not_yet_created) or `version` is beyond its last (reason "
        "beyond_last_version) (problem+json)"
    },
    422: {"description": "`as_of` without a UTC offset, or both `as_of` and `version`"},
}


def point_in_time(
    as_of: Annotated[AwareDatetime | None, Query(description=AS_OF_DESCRIPTION)] = None,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description=VERSION_DESCRIPTION)
    ] = None,
) -> PointInTime:
    # PointInTime refuses both at once (422, a ValidationError through api/errors.py).
    return PointInTime(version=version, as_of=as_of)


PointInTimeDep = Annotated[PointInTime, Depends(point_in_time)]


def state_headers(response: Response, aggregate: Aggregate, at: PointInTime) -> None:
    """ETag and the version and time the answer reflects; the moment asked for, if any."""
    response.headers["ETag"] = f'"{aggregate.version}"'
    response.headers["X-Aggregate-Version"] = str(aggregate.version)
    response.headers["X-Aggregate-Modified-At"] = aggregate.modified_on.isoformat()
    if at.as_of is not None:
        response.headers["X-As-Of"] = at.as_of.isoformat()


def reference_date(at: PointInTime, aggregate: Aggregate) -> datetime:
    """The moment date-dependent answers are computed for: the moment the state reflects.

    ``as_of`` if given; with ``version``, the time of that version's event (so a version
    answers as its replay step does); for the present, now.
    """
    if at.as_of is not None:
        return at.as_of
    if at.version is not None:
        return aggregate.modified_on
    return datetime.now(UTC)
