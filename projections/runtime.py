"""Batched, exactly-once projection processing on PostgreSQL.

Each batch is one transaction that (1) locks the projection's tracking row, (2) reads
the position it holds, (3) applies the next events after it and (4) moves the position:
rows and position commit together. Two workers, or a worker and a rebuild, serialise
on that row lock, so an event is never applied twice nor skipped, and a worker killed
mid-batch leaves nothing behind but a rolled-back transaction.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg import sql
from psycopg.rows import DictRow

log = structlog.get_logger(__name__)

Cursor = psycopg.Cursor[DictRow]


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

    def run_batch(self) -> BatchResult:
        """One transaction: at most ``batch_size`` events, rows and position together."""
        view = self.view
        with view.datastore.transaction(commit=True) as curs:
            start = view.lock_position(curs)
            head = self.recorder.max_notification_id() or 0
            if head <= start:
                return BatchResult(0, start)
            notifications: Sequence[Notification] = self.recorder.select_notifications(
                start=start + 1,
                limit=self.batch_size,
                stop=head,
                topics=list(view.topics),
            )
            view.begin_batch()
            for n in notifications:
                view.process(curs, self.mapper.to_domain_event(n), n.id)
            view.end_batch(curs)
            # With a topic filter, the batch may end before the head; otherwise the
            # events up to the head that were read are all the matching ones.
            new_position = notifications[-1].id if len(notifications) == self.batch_size else head
            view.set_position(curs, new_position)
            return BatchResult(len(notifications), new_position)

    def catch_up(self, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Runs batches until the view is at the head; returns how many events it applied."""
        total = 0
        while True:
            result = self.run_batch()
            total += result.processed
            if on_progress is not None:
                on_progress(result.position, self.recorder.max_notification_id() or 0)
            if result.processed == 0 or result.position >= (
                self.recorder.max_notification_id() or 0
            ):
                return total

    def reset(self) -> None:
        """Empties the view's tables and sets its position to zero, in one transaction."""
        with self.view.datastore.transaction(commit=True) as curs:
            self.view.lock_position(curs)
            self.view.truncate(curs)
            self.view.set_position(curs, 0)


class ProjectionWorker:
    """Follows the event log with LISTEN/NOTIFY and keeps every projector caught up.

    Safe to stop at any moment: work is only ever committed batch by batch.
    """

    def __init__(
        self,
        projectors: Sequence[Projector],
        conninfo: str,
        channel: str,
        poll_interval: float = 1.0,
    ) -> None:
        self.projectors = list(projectors)
        self.conninfo = conninfo
        self.channel = channel
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.last_error: str | None = None
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
                with psycopg.connect(self.conninfo, autocommit=True) as listen_conn:
                    listen_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    backoff = 0.5
                    while not self.stopping.is_set():
                        self._catch_up_all()
                        # Wake on the next NOTIFY, or poll now and then regardless.
                        for _ in listen_conn.notifies(timeout=self.poll_interval, stop_after=1):
                            pass
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("projection_worker_error", error=self.last_error)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        log.info("projection_worker_stopped")

    def _catch_up_all(self) -> None:
        for projector in self.projectors:
            if self.stopping.is_set():
                return
            processed = projector.catch_up()
            if processed:
                log.debug("projection_caught_up", projection=projector.view.name, events=processed)
