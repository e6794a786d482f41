"""The command pipeline every write goes through: load, decide, one ``save()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.assignment import MunicipalAssignment
from domain.base import DomainAggregate, event_type_name
from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RuleViolationError,
    StaleVersionError,
)
from domain.organization import Organization
from domain.project import InteragencyProject, Stage
from domain.values import EventMeta
from domain.working_group import (
    Decision,
    DecisionIndex,
    TargetKind,
    WorkingGroup,
    check_decision_authorises,
)
from interagency import access, timetravel
from interagency.idempotency import IdempotencyContext, IdempotencyRecord
from interagency.settings import ConnectionParams, Settings

log = structlog.get_logger("interagency.commands")

A = TypeVar("A", bound=Aggregate)

APP_NAME = "interagency"


class EventMetaAsDict(Transcoding):
    type = EventMeta
    name = "event_meta"

    def encode(self, obj: EventMeta) -> dict[str, Any]:
        return {k: v for k, v in obj.__dict__.items() if v is not None}

    def decode(self, data: dict[str, Any]) -> EventMeta:
        return EventMeta(**data)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class CommandResult:
    """What a write answers: the aggregate, its new version, its position in the log."""

    aggregate_id: UUID
    version: int
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    position: int
    version: int
    event: DomainAggregate.Event


# Milliseconds one statement of a read-only transaction may run (0: no limit). The API
# sets it for each request (api/middleware.py): a slow query cannot hold a pooled
# connection forever. The worker and the command line leave it unset: their long reads
# (rebuilds, exports) are theirs to make.
READ_STATEMENT_TIMEOUT_MS: ContextVar[int] = ContextVar("read_statement_timeout_ms", default=0)


class BoundedReadsDatastore(PostgresDatastore):
    """A datastore whose read-only transactions honour ``READ_STATEMENT_TIMEOUT_MS``.

    Every read of the projections and of the event store (``transaction(commit=False)``)
    then starts with ``SET LOCAL statement_timeout``: it lasts that transaction only, so
    writes (whose lock waits ``lock_timeout`` bounds) and other users of the pooled
    connection are untouched. A cancelled statement raises ``OperationalError`` whose
    cause is ``psycopg.errors.QueryCanceled``; the API answers it 503.
    """

    @contextmanager
    def transaction(self, *, commit: bool = False) -> Iterator[Cursor[DictRow]]:
        with super().transaction(commit=commit) as curs:
            timeout_ms = READ_STATEMENT_TIMEOUT_MS.get()
            if timeout_ms > 0 and not commit:
                curs.execute(
                    sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms))
                )
            yield curs


class InteragencyPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with reads that can be bounded in time."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # The base factory builds its datastore itself (with an unopened pool); this
        # subclass adds behaviour only, no state, so the instance takes its class.
        self.datastore.__class__ = BoundedReadsDatastore


def postgres_env(
    params: ConnectionParams, settings: Settings, *, create_table: bool
) -> dict[str, str]:
    """The eventsourcing environment for one process's pool."""
    return {
        "PERSISTENCE_MODULE": f"{__name__}:InteragencyPostgresFactory",
        "POSTGRES_HOST": params.host,
        "POSTGRES_PORT": str(params.port),
        "POSTGRES_DBNAME": params.dbname,
        "POSTGRES_USER": params.user,
        "POSTGRES_PASSWORD": params.password,
        "POSTGRES_POOL_SIZE": str(settings.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.pool_max_overflow),
        "POSTGRES_LOCK_TIMEOUT": str(settings.lock_timeout_seconds),
        # Without it a request waits 30 s per retry for a connection while the database is
        # down: minutes before its 503.
        "POSTGRES_CONNECT_TIMEOUT": str(settings.connect_timeout_seconds),
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y" if create_table else "n",
    }


class CommandPipeline(Application[UUID]):
    """The shared part of every command: atomic, optimistic, idempotent on request.

    Every command takes an ``EventMeta`` (who and which request), the expected version
    from ``If-Match`` if any, and an idempotency context if the request had a key.
    """

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(EventMetaAsDict())
        transcoder.register(DateAsISO())

    @property
    def pg_recorder(self) -> PostgresApplicationRecorder:
        assert isinstance(self.recorder, PostgresApplicationRecorder)
        return self.recorder

    # -- reads of the write model ---------------------------------------------------

    def history(self, aggregate_id: UUID) -> list[HistoryEntry]:
        """An aggregate's events in order, each with its position in the global log."""
        rec = self.pg_recorder
        stmt = sql.SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id "
            "FROM {}.{} WHERE originator_id = %s ORDER BY originator_version"
        ).format(sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name))
        entries = []
        with rec.datastore.transaction(commit=False) as curs:
            curs.execute(stmt, (aggregate_id,))
            for row in curs.fetchall():
                stored = StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, DomainAggregate.Event)
                entries.append(
                    HistoryEntry(row["notification_id"], row["originator_version"], domain_event)
                )
        if not entries:
            raise NotFoundError(f"no aggregate with id {aggregate_id}", id=str(aggregate_id))
        return entries

    def decision_authority(
        self,
        decision_id: UUID,
        *,
        project_id: UUID | None,
        municipality: str,
        kind: TargetKind,
        stage: Stage | None = None,
        deliverable_id: UUID | None = None,
    ) -> Decision:
        """The one check for any command that cites a working-group decision."""
        group: WorkingGroup | None = None
        try:
            index: DecisionIndex = self.repository.get(DecisionIndex.id_for(decision_id))
        except AggregateNotFoundError:
            pass
        else:
            group = self._load(WorkingGroup, index.group_id)
        return check_decision_authorises(
            group,
            decision_id,
            project_id=project_id,
            municipality=municipality,
            kind=kind,
            stage=stage,
            deliverable_id=deliverable_id,
        )

    def require_organization(
        self, organization_id: UUID, field: str = "organization_id"
    ) -> Organization:
        """The one check for any command that references an organisation of the register."""
        try:
            return self._load(Organization, organization_id)
        except NotFoundError:
            raise RuleViolationError(
                "organization_registered",
                f"{field}: an organisation is referenced only once it is registered; "
                f"there is no organisation {organization_id} in the register",
                field=field,
            ) from None

    @staticmethod
    def label_of(aggregate_class: type[Any]) -> str:
        """How messages name an aggregate class: "project", "working group", ..."""
        return _label(aggregate_class)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # -- the command pipeline -------------------------------------------------------

    def _create(
        self,
        command: str,
        meta: EventMeta,
        create: Callable[[], A],
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        def decide() -> tuple[A, list[Aggregate]]:
            return create(), []

        return self._run(command, meta, None, None, decide, idempotency)

    def _update(
        self,
        command: str,
        meta: EventMeta,
        cls: type[A],
        aggregate_id: UUID,
        decide: Callable[[A], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        """Loads ``cls``, checks the expected version, decides, saves.

        ``decide`` may return other aggregates it changed or created: they are saved in
        the same ``save()``, so the command is all or nothing.
        """

        def load_and_decide() -> tuple[A, list[Aggregate]]:
            agg = self._load(cls, aggregate_id)
            # Before anything is decided: a caller without the right learns nothing more.
            self._authorize_write(agg)
            if expected_version is not None and agg.version != expected_version:
                raise StaleVersionError(
                    f"the {cls.__name__} is at version {agg.version}, not {expected_version}",
                    current_version=agg.version,
                )
            extras = decide(agg)
            return agg, list(extras or [])

        return self._run(
            command,
            meta,
            aggregate_id,
            expected_version,
            load_and_decide,
            idempotency,
            authorized=True,
        )

    def _run(
        self,
        command: str,
        meta: EventMeta,
        aggregate_id: UUID | None,
        expected_version: int | None,
        decide: Callable[[], tuple[A, list[Aggregate]]],
        idempotency: IdempotencyContext | None,
        *,
        authorized: bool = False,
    ) -> CommandResult:
        bound = log.bind(
            command=command, aggregate_id=None if aggregate_id is None else str(aggregate_id)
        )
        started = time.perf_counter()
        if idempotency is not None:
            replay = self._replay(idempotency)
            if replay is not None:
                bound.info("command", outcome="replayed", version=replay.version)
                return replay
        try:
            try:
                agg, extras = decide()
                if not authorized:
                    # Creations (and commands that load by themselves): the scope is the
                    # decided aggregate's. ``_update`` checks on load, before deciding.
                    self._authorize_write(agg)
            except DomainError:
                # A request with the same key may have committed since the look-up above:
                # then its answer is this request's answer, not the refusal its write caused.
                replay = None if idempotency is None else self._replay(idempotency)
                if replay is None:
                    raise
                bound.info("command", outcome="replayed", version=replay.version)
                return replay
            to_save: list[Aggregate] = [*extras, agg]
            if idempotency is not None:
                to_save.insert(
                    0,
                    IdempotencyRecord.record(
                        meta,
                        idempotency,
                        command=command,
                        aggregate_id=agg.id,
                        aggregate_version=agg.version,
                    ),
                )
            try:
                recordings = self.save(*to_save)
            except IntegrityError:
                if idempotency is not None:
                    replay = self._replay(idempotency)
                    if replay is not None:
                        bound.info("command", outcome="replayed", version=replay.version)
                        return replay
                if expected_version is not None:
                    raise StaleVersionError(
                        "another write changed this aggregate since version "
                        f"{expected_version}; reload and retry",
                    ) from None
                raise ConcurrencyConflictError(
                    "another write reached this aggregate first; reload and retry",
                ) from None
        except Exception as exc:
            bound.info(
                "command",
                outcome="rejected",
                error=type(exc).__name__,
                rule=getattr(exc, "rule", None),
                detail=str(exc),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            raise
        # The main aggregate is saved last, so its last event holds the save's last position:
        # a reader waiting for it sees every aggregate the command changed, and a replay
        # (which looks that event up) answers the same position.
        position = max(
            r.notification.id for r in recordings if r.domain_event.originator_id == agg.id
        )
        bound.info(
            "command",
            outcome="accepted",
            aggregate_id=str(agg.id),
            version=agg.version,
            position=position,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return CommandResult(agg.id, agg.version, position)

    def _authorize_write(self, agg: Aggregate) -> None:
        """The one access check of every write (403 unless the caller may write here)."""
        access.authorize_write(
            agg,
            access.Loaders(
                organization=lambda oid: self._maybe(Organization, oid),
                project=lambda pid: self._maybe(InteragencyProject, pid),
                assignment=lambda aid: self._maybe(MunicipalAssignment, aid),
            ),
        )

    def _maybe(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            return self._load(cls, aggregate_id)
        except NotFoundError:
            return None

    def _replay(self, ctx: IdempotencyContext) -> CommandResult | None:
        try:
            record: IdempotencyRecord = self.repository.get(ctx.record_id)
        except AggregateNotFoundError:
            return None
        if record.fingerprint != ctx.fingerprint:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {ctx.key!r} was already used for a different request",
            )
        return CommandResult(
            record.aggregate_id,
            record.aggregate_version,
            self._position_of(record.aggregate_id, record.aggregate_version),
            replayed=True,
        )

    def _position_of(self, aggregate_id: UUID, version: int) -> int:
        rec = self.pg_recorder
        stmt = sql.SQL(
            "SELECT notification_id FROM {}.{} WHERE originator_id = %s AND originator_version = %s"
        ).format(sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name))
        with rec.datastore.transaction(commit=False) as curs:
            curs.execute(stmt, (aggregate_id, version))
            row = curs.fetchone()
        return 0 if row is None else int(row["notification_id"])

    def _load(
        self,
        cls: type[A],
        aggregate_id: UUID,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> A:
        """The aggregate now, or at a past ``version`` / moment ``as_of`` (404 if none)."""
        if version is not None or as_of is not None:
            return timetravel.load_at(self, cls, aggregate_id, version=version, as_of=as_of)
        try:
            agg: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(
                f"no {_label(cls)} with id {aggregate_id}", id=str(aggregate_id)
            ) from None
        if not isinstance(agg, cls):
            raise NotFoundError(f"no {_label(cls)} with id {aggregate_id}", id=str(aggregate_id))
        return agg


def _label(cls: type[Any]) -> str:
    return {
        "InteragencyProject": "project",
        "WorkingGroup": "working group",
        "MunicipalAssignment": "municipal assignment",
        "Redistribution": "redistribution",
        "Organization": "organisation",
        "Program": "program",
        "NetworkAgreement": "network agreement",
        "TerritoryPopulation": "territory population",
    }.get(cls.__name__, cls.__name__)


def iter_event_fields(event: DomainAggregate.Event) -> Iterator[tuple[str, Any]]:
    """The event's own data: everything but the envelope and the meta."""
    skip = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
    for k, v in event.__dict__.items():
        if k not in skip:
            yield k, v


__all__ = ["CommandPipeline", "CommandResult", "event_type_name", "postgres_env"]
