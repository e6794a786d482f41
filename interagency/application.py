"""The write side: the only way to change state. Load, decide, save, in one ``save()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from domain.base import DomainAggregate, event_type_name
from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    IdempotencyKeyReusedError,
    NotFoundError,
    StaleVersionError,
)
from domain.project import InteragencyProject, ProjectOrganization, TargetIndicator
from domain.values import EventMeta
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


def postgres_env(
    params: ConnectionParams, settings: Settings, *, create_table: bool
) -> dict[str, str]:
    """The eventsourcing environment for one process's pool."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": params.host,
        "POSTGRES_PORT": str(params.port),
        "POSTGRES_DBNAME": params.dbname,
        "POSTGRES_USER": params.user,
        "POSTGRES_PASSWORD": params.password,
        "POSTGRES_POOL_SIZE": str(settings.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.pool_max_overflow),
        "POSTGRES_LOCK_TIMEOUT": str(settings.lock_timeout_seconds),
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y" if create_table else "n",
    }


class InteragencyApplication(Application[UUID]):
    """Commands of officials, each one atomic and optimistic.

    Every command takes an ``EventMeta`` (who and which request), the expected version
    from ``If-Match`` if any, and an idempotency context if the request had a key.
    """

    name = APP_NAME
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(EventMetaAsDict())
        transcoder.register(DateAsISO())

    @property
    def pg_recorder(self) -> PostgresApplicationRecorder:
        assert isinstance(self.recorder, PostgresApplicationRecorder)
        return self.recorder

    # -- projects -------------------------------------------------------------------

    def initiate_project(
        self,
        meta: EventMeta,
        *,
        title: str,
        goal: str,
        municipality: str,
        lead_agency: str,
        agencies: list[str],
        organizations: list[ProjectOrganization] | None = None,
        strategic_priorities: list[str] | None = None,
        targets: list[TargetIndicator] | None = None,
        project_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def create() -> InteragencyProject:
            return InteragencyProject.initiate(
                meta,
                project_id=project_id or uuid4(),
                title=title,
                goal=goal,
                municipality=municipality,
                lead_agency=lead_agency,
                agencies=agencies,
                organizations=organizations,
                strategic_priorities=strategic_priorities,
                targets=targets,
            )

        return self._create("initiate_project", meta, create, idempotency)

    def plan_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        stage: str,
        title: str,
        mechanism: str,
        mandatory: bool = True,
        due_date: date | None = None,
        deliverable_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        new_id = deliverable_id or uuid4()
        return self._update(
            "plan_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.plan_deliverable(
                meta,
                deliverable_id=new_id,
                stage=stage,
                title=title,
                mechanism=mechanism,
                mandatory=mandatory,
                due_date=due_date,
            ),
            expected_version,
            idempotency,
        )

    def submit_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        document_ref: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "submit_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.submit_deliverable(
                meta, deliverable_id=deliverable_id, document_ref=document_ref
            ),
            expected_version,
            idempotency,
        )

    def approve_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "approve_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.approve_deliverable(meta, deliverable_id=deliverable_id),
            expected_version,
            idempotency,
        )

    def reject_deliverable(
        self,
        meta: EventMeta,
        project_id: UUID,
        deliverable_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "reject_deliverable",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.reject_deliverable(meta, deliverable_id=deliverable_id, reason=reason),
            expected_version,
            idempotency,
        )

    def pass_gate(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "pass_gate",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.pass_gate(
                meta, reason=reason, decision_ref=decision_ref, basis_document=basis_document
            ),
            expected_version,
            idempotency,
        )

    def reject_gate(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        decision_ref: str | None = None,
        basis_document: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "reject_gate",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.reject_gate(
                meta, reason=reason, decision_ref=decision_ref, basis_document=basis_document
            ),
            expected_version,
            idempotency,
        )

    def suspend_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "suspend_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.suspend(meta, reason=reason),
            expected_version,
            idempotency,
        )

    def resume_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "resume_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.resume(meta, reason=reason),
            expected_version,
            idempotency,
        )

    def cancel_project(
        self,
        meta: EventMeta,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        return self._update(
            "cancel_project",
            meta,
            InteragencyProject,
            project_id,
            lambda p: p.cancel(meta, reason=reason),
            expected_version,
            idempotency,
        )

    # -- reads of the write model ---------------------------------------------------

    def get_project(self, project_id: UUID, version: int | None = None) -> InteragencyProject:
        return self._load(InteragencyProject, project_id, version)

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
        def decide() -> A:
            return create()

        return self._run(command, meta, None, None, decide, idempotency)

    def _update(
        self,
        command: str,
        meta: EventMeta,
        cls: type[A],
        aggregate_id: UUID,
        decide: Callable[[A], None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        def load_and_decide() -> A:
            agg = self._load(cls, aggregate_id)
            if expected_version is not None and agg.version != expected_version:
                raise StaleVersionError(
                    f"the {cls.__name__} is at version {agg.version}, not {expected_version}",
                    current_version=agg.version,
                )
            decide(agg)
            return agg

        return self._run(
            command, meta, aggregate_id, expected_version, load_and_decide, idempotency
        )

    def _run(
        self,
        command: str,
        meta: EventMeta,
        aggregate_id: UUID | None,
        expected_version: int | None,
        decide: Callable[[], A],
        idempotency: IdempotencyContext | None,
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
                agg = decide()
            except DomainError:
                # A request with the same key may have committed since the look-up above:
                # then its answer is this request's answer, not the refusal its write caused.
                replay = None if idempotency is None else self._replay(idempotency)
                if replay is None:
                    raise
                bound.info("command", outcome="replayed", version=replay.version)
                return replay
            to_save: list[Aggregate] = [agg]
            if idempotency is not None:
                to_save.append(
                    IdempotencyRecord.record(
                        meta,
                        idempotency,
                        command=command,
                        aggregate_id=agg.id,
                        aggregate_version=agg.version,
                    )
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

    def _load(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A:
        try:
            agg: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(
                f"no {_label(cls)} with id {aggregate_id}", id=str(aggregate_id)
            ) from None
        if not isinstance(agg, cls):
            raise NotFoundError(f"no {_label(cls)} with id {aggregate_id}", id=str(aggregate_id))
        return agg


def _label(cls: type[Any]) -> str:
    return {"InteragencyProject": "project"}.get(cls.__name__, cls.__name__)


def iter_event_fields(event: DomainAggregate.Event) -> Iterator[tuple[str, Any]]:
    """The event's own data: everything but the envelope and the meta."""
    skip = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
    for k, v in event.__dict__.items():
        if k not in skip:
            yield k, v


__all__ = ["CommandResult", "InteragencyApplication", "event_type_name", "postgres_env"]
