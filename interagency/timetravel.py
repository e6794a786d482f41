"""An aggregate's state at a past moment or version, and its history step by step.

``CommandPipeline._load(cls, id, version=..., as_of=...)`` comes here, so every ``get_*``
of the application answers past states the same way:

- ``version=N``: the state after the aggregate's N-th event (404 if N is beyond its last);
- ``as_of=T`` (timezone-aware): the state after its last event whose timestamp is at or
  before T (404 if it had no event yet then). The version is found in the events table
  itself (the timestamp inside each stored event), one indexed scan of the aggregate's own
  rows, without decoding them in Python; then the repository rebuilds that version, from
  the latest snapshot at or below it (``interagency.snapshots``) and the events since.

:func:`replay` is the auditor's step-through: each event with the state right after it,
rebuilt from the events alone (never from a snapshot).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from domain.base import DomainAggregate
from domain.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from interagency.pipeline import CommandPipeline, HistoryEntry

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class PointInTime:
    """Which past state a read asks for: a version, a moment, or (both None) the present."""

    version: int | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.version is not None and self.as_of is not None:
            raise ValidationError(
                "ask for a past state either as_of a moment or at a version, not both",
                field="as_of",
                rule="as_of_or_version",
            )
        if self.as_of is not None and self.as_of.utcoffset() is None:
            raise ValidationError(
                "as_of must carry its UTC offset (e.g. 2025-03-31T23:59:59+03:00): "
                "a time without one names no moment",
                field="as_of",
            )
        if self.version is not None and self.version < 1:
            raise ValidationError("version counts from 1 (the creating event)", field="version")

    @property
    def is_present(self) -> bool:
        return self.version is None and self.as_of is None


def load_at(
    app: CommandPipeline,
    cls: type[A],
    aggregate_id: UUID,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> A:
    """The aggregate of class ``cls`` at ``version`` or ``as_of`` (see the module doc)."""
    at = PointInTime(version, as_of)
    # The present state first: it says whether the id names a ``cls`` at all (a cheap,
    # cached read), so a wrong id is "no project", never "no version 3 of a project".
    current = app._load(cls, aggregate_id)
    label = app.label_of(cls)
    if at.as_of is not None:
        found, created = _version_at(app, aggregate_id, at.as_of)
        if found is None:
            raise NotFoundError(
                f"the {label} {aggregate_id} did not exist yet at {at.as_of.isoformat()}: "
                f"it was created at {created.isoformat() if created else 'a later moment'}",
                id=str(aggregate_id),
                reason="not_yet_created",
                created_at=None if created is None else created.isoformat(),
            )
        wanted = found
    else:
        assert at.version is not None
        wanted = at.version
        if wanted > current.version:
            raise NotFoundError(
                f"the {label} {aggregate_id} has no version {wanted}: "
                f"its last version is {current.version}",
                id=str(aggregate_id),
                reason="beyond_last_version",
                last_version=current.version,
            )
    if wanted == current.version:
        return current
    past: A = app.repository.get(aggregate_id, version=wanted)
    return past


def _version_at(
    app: CommandPipeline, aggregate_id: UUID, as_of: datetime
) -> tuple[int | None, datetime | None]:
    """The last version whose event time is at or before ``as_of``; and the creation time.

    Event times are read from the stored JSON (``timestamp`` as the library's
    ``datetime_iso`` transcoding writes it), so no event is decoded in Python.
    """
    rec = app.pg_recorder
    stmt = sql.SQL(
        "SELECT max(originator_version) FILTER (WHERE ts <= %s) AS at, "
        "min(ts) AS created FROM ("
        "SELECT originator_version, "
        "(convert_from(state, 'UTF8')::jsonb #>> '{{timestamp,_data_}}')::timestamptz AS ts "
        "FROM {}.{} WHERE originator_id = %s) AS e"
    ).format(sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name))
    with rec.datastore.transaction(commit=False) as curs:
        curs.execute(stmt, (as_of, aggregate_id))
        row = curs.fetchone()
    if row is None:  # pragma: no cover - an aggregate query always answers one row
        return None, None
    return row["at"], row["created"]


def position_of(app: CommandPipeline, aggregate_id: UUID, version: int) -> int:
    """The global position (notification id) of the aggregate's event at ``version``."""
    return app._position_of(aggregate_id, version)


# -- replay ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayPage:
    """A page of an aggregate's history; ``steps`` yields each event with the state after.

    The aggregate yielded with an entry is mutated by the next step: convert it at once.
    """

    aggregate_id: UUID
    aggregate_class: type[DomainAggregate]
    last_version: int
    from_version: int
    limit: int
    steps: Iterator[tuple[HistoryEntry, DomainAggregate]]

    @property
    def next_from_version(self) -> int | None:
        following = self.from_version + self.limit
        return following if following <= self.last_version else None


def replay(
    app: CommandPipeline,
    aggregate_id: UUID,
    *,
    from_version: int = 1,
    limit: int = 50,
    classes: tuple[type[DomainAggregate], ...] = (DomainAggregate,),
) -> ReplayPage:
    """Events ``from_version`` .. ``from_version + limit - 1``, each with the state after it.

    Rebuilt from the stored events alone, never from a snapshot: what the auditor sees
    follows from the events the hash chain covers. ``classes`` are the aggregate classes a
    caller can show; another aggregate's id answers 404 like an unknown one.
    """
    if from_version < 1 or limit < 1:
        raise ValidationError("from_version and limit count from 1", field="from_version")
    try:
        head: Any = app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        head = None
    if not isinstance(head, classes):
        kinds = ", ".join(sorted(app.label_of(c) for c in classes))
        raise NotFoundError(
            f"no aggregate with id {aggregate_id} that can be replayed (replay covers: {kinds})",
            id=str(aggregate_id),
        )
    if from_version > head.version:
        raise NotFoundError(
            f"the {app.label_of(type(head))} {aggregate_id} has no version {from_version}: "
            f"its last version is {head.version}",
            id=str(aggregate_id),
            reason="beyond_last_version",
            last_version=head.version,
        )
    return ReplayPage(
        aggregate_id=aggregate_id,
        aggregate_class=type(head),
        last_version=head.version,
        from_version=from_version,
        limit=limit,
        steps=_steps(app, aggregate_id, from_version, min(head.version, from_version + limit - 1)),
    )


def _steps(
    app: CommandPipeline, aggregate_id: UUID, first: int, last: int
) -> Iterator[tuple[HistoryEntry, DomainAggregate]]:
    state: Any = None
    if first > 1:
        for event in app.events.get(aggregate_id, lte=first - 1):
            state = event.mutate(state)  # type: ignore[attr-defined]
    for entry in entries(app, aggregate_id, gt=first - 1, lte=last):
        state = entry.event.mutate(state)
        yield entry, state


def entries(
    app: CommandPipeline,
    aggregate_id: UUID,
    *,
    gt: int = 0,
    lte: int | None = None,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """The aggregate's events with versions in (gt, lte], each with its global position;
    the first ``limit`` of them only if given (read from the table, no more)."""
    from interagency.pipeline import HistoryEntry

    rec = app.pg_recorder
    stmt = sql.SQL(
        "SELECT originator_id, originator_version, topic, state, notification_id "
        "FROM {}.{} WHERE originator_id = %s AND originator_version > %s "
        "AND (%s::int IS NULL OR originator_version <= %s::int) ORDER BY originator_version "
        "LIMIT %s"
    ).format(sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name))
    out = []
    with rec.datastore.transaction(commit=False) as curs:
        # LIMIT NULL is no limit.
        curs.execute(stmt, (aggregate_id, gt, lte, lte, limit))
        for row in curs.fetchall():
            stored = StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            event = app.mapper.to_domain_event(stored)
            assert isinstance(event, DomainAggregate.Event)
            out.append(HistoryEntry(row["notification_id"], row["originator_version"], event))
    return out
