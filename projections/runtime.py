"""Batched, exactly-once projection processing on PostgreSQL.

Each batch is one transaction that (1) locks the projection's tracking row, (2) reads
the position it holds, (3) applies the next events after it and (4) moves the position:
rows and position commit together. Two workers, or a worker and a rebuild, serialise
on that row lock, so an event is never applied twice nor skipped, and a worker killed
mid-batch leaves nothing behind but a rolled-back transaction.
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError as PersistenceInterfaceError
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.persistence import OperationalError as PersistenceOperationalError
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg import sql
from psycopg.rows import DictRow

log = structlog.get_logger(__name__)

Cursor = psycopg.Cursor[DictRow]

# Errors of the connection or of concurrency: the batch is retried, nothing is wrong with it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PersistenceOperationalError,
    PersistenceInterfaceError,
)

STATUS_TABLE = "projection_status"
DEAD_LETTER_TABLE = "projection_dead_letters"

# Shared by every projection: errors and stops, and events parked out of the way.
SHARED_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {STATUS_TABLE} (
        projection text PRIMARY KEY,
        state text NOT NULL DEFAULT 'running',
        error_count bigint NOT NULL DEFAULT 0,
        last_error text,
        error_position bigint,
        error_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    f"""
    CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE} (
        projection text NOT NULL,
        position bigint NOT NULL,
        topic text NOT NULL,
        error text NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, position)
    )""",
)


class PoisonEventError(Exception):
    """The projection raised on one event: it cannot move past it by retrying."""

    def __init__(self, projection: str, position: int, topic: str, error: BaseException) -> None:
        self.projection = projection
        self.position = position
        self.topic = topic
        self.error = f"{type(error).__name__}: {error}"
        super().__init__(
            f"projection {projection!r} cannot apply the event at position {position} "
            f"({topic.rsplit(':', 1)[-1]}): {self.error}"
        )


class BatchFailedError(Exception):
    """A batch failed after its events were applied (in ``end_batch``): no event is named."""


def lock_key(projection: str) -> int:
    """The advisory lock key of one projection's active worker (a signed 64-bit int)."""
    digest = hashlib.sha256(f"interagency.projection.{projection}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ProjectionView(PostgresTrackingRecorder, ABC):
    """The tables of one projection and its tracking row, in one PostgreSQL schema.

    Subclasses give ``name``, the DDL of their tables and ``process`` for each event.
    """

    name: str = ""
    tables: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        super().__init__(datastore, tracking_table_name=f"{self.name}_tracking")
        self.application_name = application_name
        for ddl in self.ddl():
            self.sql_create_statements.append(sql.SQL(ddl))  # type: ignore[arg-type]

    @abstractmethod
    def ddl(self) -> list[str]:
        """CREATE TABLE/INDEX IF NOT EXISTS statements of the projection's tables."""

    @abstractmethod
    def process(self, curs: Cursor, event: Any, position: int) -> None:
        """Applies one event to the rows, inside the batch's transaction."""

    def begin_batch(self) -> None:
        """Called before a batch's first event (views that defer work reset it here)."""

    def end_batch(self, curs: Cursor) -> None:
        """Called after a batch's last event, in its transaction, before the position moves.

        Views do here, once per batch and set-based, what does not need doing per event.
        """

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            for ddl in SHARED_DDL:
                curs.execute(sql.SQL(ddl))
            curs.execute(
                sql.SQL(
                    "INSERT INTO projection_status (projection) VALUES (%s) "
                    "ON CONFLICT (projection) DO NOTHING"
                ),
                (self.name,),
            )
            curs.execute(
                sql.SQL(
                    "INSERT INTO {}.{} (application_name, notification_id) VALUES (%s, 0) "
                    "ON CONFLICT (application_name) DO NOTHING"
                ).format(
                    sql.Identifier(self.datastore.schema), sql.Identifier(self.tracking_table_name)
                ),
                (self.application_name,),
            )

    def position(self) -> int:
        return self.max_tracking_id(self.application_name) or 0

    def lock_position(self, curs: Cursor) -> int:
        curs.execute(
            sql.SQL(
                "SELECT notification_id FROM {}.{} WHERE application_name = %s FOR UPDATE"
            ).format(
                sql.Identifier(self.datastore.schema), sql.Identifier(self.tracking_table_name)
            ),
            (self.application_name,),
        )
        row = curs.fetchone()
        if row is None:
            msg = f"projection {self.name!r} has no tracking row: run 'interagency migrate'"
            raise RuntimeError(msg)
        return int(row["notification_id"])

    def set_position(self, curs: Cursor, position: int) -> None:
        curs.execute(
            sql.SQL("UPDATE {}.{} SET notification_id = %s WHERE application_name = %s").format(
                sql.Identifier(self.datastore.schema), sql.Identifier(self.tracking_table_name)
            ),
            (position, self.application_name),
        )

    def record_error(self, error: str, position: int | None, *, stopped: bool) -> None:
        """Keeps the last error (and whether it stopped the projection) for status."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                sql.SQL(
                    "INSERT INTO projection_status AS s (projection, state, error_count, "
                    "last_error, error_position, error_at, updated_at) "
                    "VALUES (%s, %s, 1, %s, %s, now(), now()) "
                    "ON CONFLICT (projection) DO UPDATE SET state = excluded.state, "
                    "error_count = s.error_count + 1, last_error = excluded.last_error, "
                    "error_position = excluded.error_position, error_at = now(), "
                    "updated_at = now()"
                ),
                (self.name, "stopped" if stopped else "running", error, position),
            )

    def record_running(self) -> None:
        """Marks a stopped projection running again (its last error is kept)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                sql.SQL(
                    "UPDATE projection_status SET state = 'running', updated_at = now() "
                    "WHERE projection = %s AND state <> 'running'"
                ),
                (self.name,),
            )

    def truncate(self, curs: Cursor) -> None:
        curs.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(self.datastore.schema, t) for t in self.tables)
            )
        )

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, in a stable order (to compare with a rebuild).

        Each table's first two columns identify its rows.
        """
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.datastore.transaction(commit=False) as curs:
            for table in self.tables:
                curs.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
                )
                out[table] = [tuple(r.values()) for r in curs.fetchall()]
        return out

    def wait_for(self, position: int, timeout: float) -> bool:
        """Waits until this projection has processed ``position``; False on timeout."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            if self.position() >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)


@dataclass(frozen=True)
class BatchResult:
    processed: int
    position: int


class Projector:
    """Catches a view up with the application's event log, in batches."""

    # Whether a poison event may be parked (the audit chain must not skip one).
    can_park = True

    def __init__(
        self,
        view: ProjectionView,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        batch_size: int = 500,
    ) -> None:
        self.view = view
        self.recorder = recorder
        self.mapper = mapper
        self.batch_size = batch_size

    def run_batch(self, limit: int | None = None, stop: int | None = None) -> BatchResult:
        """One transaction: at most ``limit`` events, rows and position together.

        An event the view raises on is a :class:`PoisonEventError` naming its position;
        connection and concurrency errors propagate as they are (retry the batch).
        """
        view = self.view
        limit = limit or self.batch_size
        with view.datastore.transaction(commit=True) as curs:
            start = view.lock_position(curs)
            head = self.recorder.max_notification_id() or 0
            if stop is not None:
                head = min(head, stop)
            if head <= start:
                return BatchResult(0, start)
            notifications: Sequence[Notification] = self.recorder.select_notifications(
                start=start + 1,
                limit=limit,
                stop=head,
                topics=list(view.topics),
            )
            view.begin_batch()
            for n in notifications:
                try:
                    view.process(curs, self.mapper.to_domain_event(n), n.id)
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:
                    raise PoisonEventError(view.name, n.id, n.topic, exc) from exc
            try:
                view.end_batch(curs)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if len(notifications) == 1:
                    n = notifications[0]
                    raise PoisonEventError(view.name, n.id, n.topic, exc) from exc
                raise BatchFailedError(f"{type(exc).__name__}: {exc}") from exc
            # With a topic filter, the batch may end before the head; otherwise the
            # events up to the head that were read are all the matching ones.
            new_position = notifications[-1].id if len(notifications) == limit else head
            view.set_position(curs, new_position)
            return BatchResult(len(notifications), new_position)

    def catch_up(
        self,
        on_progress: Callable[[int, int], None] | None = None,
        stop: int | None = None,
    ) -> int:
        """Runs batches until the view is at the head (or ``stop``); returns events applied.

        A batch that fails as a whole is retried one event at a time, so the event at
        fault is named (:class:`PoisonEventError`); everything before it is applied first.
        """
        total = 0
        single = 0
        while True:
            try:
                result = self.run_batch(limit=1 if single else None, stop=stop)
            except BatchFailedError:
                if single:
                    raise
                single = self.batch_size
                continue
            except PoisonEventError as poison:
                # Keep what comes before the poison event, then name it.
                if not single and poison.position - 1 > self.view.position():
                    total += self.catch_up(on_progress, stop=poison.position - 1)
                raise
            if single:
                single -= 1
            total += result.processed
            head = self.recorder.max_notification_id() or 0
            if stop is not None:
                head = min(head, stop)
            if on_progress is not None:
                on_progress(result.position, head)
            if result.processed == 0 or result.position >= head:
                return total

    def park(self, poison: PoisonEventError) -> None:
        """Moves a poison event to the dead-letter table so the projection goes on.

        Everything before it is applied first; then, in one transaction, the event is
        parked and the position moves past it. ``replay_dead_letters`` applies it later.
        """
        self.catch_up(stop=poison.position - 1)
        with self.view.datastore.transaction(commit=True) as curs:
            position = self.view.lock_position(curs)
            if position >= poison.position:
                return  # Another process parked or applied it meanwhile.
            curs.execute(
                sql.SQL(
                    "INSERT INTO projection_dead_letters (projection, position, topic, error) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                ),
                (self.view.name, poison.position, poison.topic, poison.error),
            )
            self.view.set_position(curs, poison.position)
        log.warning(
            "projection_event_parked",
            projection=self.view.name,
            position=poison.position,
            error=poison.error,
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.view.datastore.transaction(commit=False) as curs:
            curs.execute(
                sql.SQL(
                    "SELECT position, topic, error, parked_at FROM projection_dead_letters "
                    "WHERE projection = %s ORDER BY position"
                ),
                (self.view.name,),
            )
            return [dict(r) for r in curs.fetchall()]

    def replay_dead_letters(self) -> tuple[int, int]:
        """Applies parked events, oldest first, each in its own transaction.

        Answers (replayed, still failing); one that fails again stays parked, its error
        updated. They are applied after later events were: views must tolerate it.
        """
        replayed = failing = 0
        for letter in self.dead_letters():
            position = int(letter["position"])
            found = self.recorder.select_notifications(start=position, limit=1, stop=position)
            try:
                with self.view.datastore.transaction(commit=True) as curs:
                    self.view.lock_position(curs)
                    if found:
                        self.view.begin_batch()
                        self.view.process(curs, self.mapper.to_domain_event(found[0]), position)
                        self.view.end_batch(curs)
                    curs.execute(
                        sql.SQL(
                            "DELETE FROM projection_dead_letters "
                            "WHERE projection = %s AND position = %s"
                        ),
                        (self.view.name, position),
                    )
                replayed += 1
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                failing += 1
                with self.view.datastore.transaction(commit=True) as curs:
                    curs.execute(
                        sql.SQL(
                            "UPDATE projection_dead_letters SET error = %s "
                            "WHERE projection = %s AND position = %s"
                        ),
                        (f"{type(exc).__name__}: {exc}", self.view.name, position),
                    )
        return replayed, failing

    def reset(self) -> None:
        """Empties the view's tables and sets its position to zero, in one transaction."""
        with self.view.datastore.transaction(commit=True) as curs:
            self.view.lock_position(curs)
            self.view.truncate(curs)
            self.view.set_position(curs, 0)


class ProjectionWorker:
    """Follows the event log with LISTEN/NOTIFY and keeps its projections caught up.

    One active worker per projection across processes: a worker projects only what it
    holds the session advisory lock of (:func:`lock_key`); other workers stand by and
    take a projection over within ``poll_interval`` once its holder's connection dies.
    Safe to stop or kill at any moment: work is only ever committed batch by batch.

    A poison event (the view raises on it) stops that projection alone, with its error
    and position recorded for ``status``; it is retried every ``poison_retry_seconds``
    (a fix deployed meanwhile lets it through). With ``on_poison="park"`` the event goes
    to the dead-letter table instead and the projection goes on.
    """

    def __init__(
        self,
        projectors: Sequence[Projector],
        conninfo: str,
        channel: str,
        poll_interval: float = 1.0,
        on_poison: str = "stop",
        poison_retry_seconds: float = 60.0,
    ) -> None:
        self.projectors = list(projectors)
        self.conninfo = conninfo
        self.channel = channel
        self.poll_interval = poll_interval
        self.on_poison = on_poison
        self.poison_retry_seconds = poison_retry_seconds
        self.stopping = threading.Event()
        self.last_error: str | None = None
        self.owned: set[str] = set()
        # Stopped projections and when to try them again.
        self.stopped: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="projection-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        log.info("projection_worker_started", projections=[p.view.name for p in self.projectors])
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    backoff = 0.5
                    while not self.stopping.is_set():
                        self._acquire(conn)
                        self._catch_up_owned()
                        # Wake on the next NOTIFY, or poll now and then regardless.
                        for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                            pass
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("projection_worker_error", error=self.last_error)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                # The locks went with the connection.
                if self.owned:
                    log.info("projection_locks_released", projections=sorted(self.owned))
                self.owned.clear()
        log.info("projection_worker_stopped")

    def _acquire(self, conn: psycopg.Connection[Any]) -> None:
        for projector in self.projectors:
            name = projector.view.name
            if name in self.owned:
                continue
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),)).fetchone()
            if row is not None and row[0]:
                self.owned.add(name)
                log.info("projection_lock_acquired", projection=name)

    def _catch_up_owned(self) -> None:
        for projector in self.projectors:
            name = projector.view.name
            if self.stopping.is_set():
                return
            if name not in self.owned:
                continue
            retry_at = self.stopped.get(name)
            if retry_at is not None and time.monotonic() < retry_at:
                continue
            try:
                processed = projector.catch_up()
            except PoisonEventError as poison:
                self._poisoned(projector, poison)
                continue
            except BatchFailedError as exc:  # pragma: no cover - catch_up isolates it
                self.last_error = str(exc)
                continue
            if retry_at is not None:
                del self.stopped[name]
                projector.view.record_running()
                log.info("projection_resumed", projection=name)
            if processed:
                log.debug("projection_caught_up", projection=name, events=processed)

    def _poisoned(self, projector: Projector, poison: PoisonEventError) -> None:
        name = projector.view.name
        self.last_error = str(poison)
        if self.on_poison == "park" and projector.can_park:
            projector.view.record_error(poison.error, poison.position, stopped=False)
            projector.park(poison)
            return
        first = name not in self.stopped
        self.stopped[name] = time.monotonic() + self.poison_retry_seconds
        if first:
            projector.view.record_error(poison.error, poison.position, stopped=True)
            log.error(
                "projection_stopped",
                projection=name,
                position=poison.position,
                event_topic=poison.topic,
                error=poison.error,
                retry_in_seconds=self.poison_retry_seconds,
            )
