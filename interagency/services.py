"""Builds the application, the projection views and their projectors for one process."""

from __future__ import annotations

from types import TracebackType

import structlog
from eventsourcing.postgres import PostgresDatastore

from interagency.application import APP_NAME, InteragencyApplication, postgres_env
from interagency.settings import ConnectionParams, Settings
from interagency.signing import Signer
from projections.assignments import AssignmentsView
from projections.audit import AuditView
from projections.chain import AuditChainView, ChainProjector, ChainResetRefusedError
from projections.coverage import CoverageView
from projections.groups import GroupsView
from projections.network import NetworkView
from projections.ops import (
    Progress,
    ProjectionStatus,
    RebuildResult,
    rebuild_blue_green,
    statuses,
)
from projections.projects import ProjectsView
from projections.runtime import ProjectionView, ProjectionWorker, Projector

log = structlog.get_logger(__name__)


class Services:
    """One pool per process, shared by the write application and the read views."""

    def __init__(
        self, settings: Settings, params: ConnectionParams, *, create_tables: bool = False
    ) -> None:
        self.settings = settings
        self.params = params
        self.app = InteragencyApplication(
            env=postgres_env(params, settings, create_table=create_tables)
        )
        self.datastore: PostgresDatastore = self.app.pg_recorder.datastore
        self.projects = ProjectsView(self.datastore, APP_NAME)
        self.groups = GroupsView(self.datastore, APP_NAME)
        self.assignments = AssignmentsView(self.datastore, APP_NAME)
        self.network = NetworkView(self.datastore, APP_NAME)
        self.coverage = CoverageView(self.datastore, APP_NAME)
        self.audit = AuditView(self.datastore, APP_NAME)
        # The tamper-evidence chain: tracked like a view, but never rebuilt (its module says).
        self.audit_chain = AuditChainView(self.datastore, APP_NAME, self.app.pg_recorder)
        self.views: list[ProjectionView] = [
            self.projects,
            self.groups,
            self.assignments,
            self.network,
            self.coverage,
            self.audit,
            self.audit_chain,
        ]
        if create_tables:
            for view in self.views:
                view.create_table()
        self.chain_projector = ChainProjector(
            self.audit_chain,
            self.app.pg_recorder,
            self.app.mapper,
            Signer(settings),
            batch_size=settings.projection_batch_size,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_interval=settings.checkpoint_interval_seconds,
        )
        self.projectors: list[Projector] = [
            Projector(v, self.app.pg_recorder, self.app.mapper, settings.projection_batch_size)
            for v in self.views
            if v is not self.audit_chain
        ]
        self.projectors.append(self.chain_projector)

    def view(self, name: str) -> ProjectionView:
        for v in self.views:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.views)
        msg = f"unknown projection {name!r}; known: {known}"
        raise KeyError(msg)

    def projector(self, name: str) -> Projector:
        view = self.view(name)
        return next(p for p in self.projectors if p.view is view)

    def statuses(self) -> list[ProjectionStatus]:
        """Each projection's position, lag, worker and last error."""
        return statuses(self.views, self.app.pg_recorder, self.app.mapper)

    def rebuild(
        self, name: str, on_progress: Progress | None = None, batch_size: int | None = None
    ) -> RebuildResult:
        """Rebuilds one projection blue/green while the live tables keep serving.

        The audit chain is evidence and is never rebuilt (``ChainResetRefusedError``).
        """
        view = self.view(name)
        if view is self.audit_chain:
            raise ChainResetRefusedError(
                "the audit chain is evidence: it is verified, never rebuilt "
                "('interagency audit verify')"
            )
        # A fresh instance: its per-batch state is the rebuild's own, not the worker's.
        fresh = type(view)(self.datastore, APP_NAME)
        return rebuild_blue_green(
            fresh,
            self.app.pg_recorder,
            self.app.mapper,
            self.params.conninfo(),
            # Rebuilds catch up from zero: large batches (many events per transaction).
            batch_size=batch_size or max(self.settings.projection_batch_size, 2000),
            on_progress=on_progress,
        )

    def worker(self) -> ProjectionWorker:
        return ProjectionWorker(
            self.projectors,
            conninfo=self.params.conninfo(),
            channel=self.app.pg_recorder.channel_name,
            on_poison=self.settings.projection_on_poison,
            poison_retry_seconds=self.settings.projection_poison_retry_seconds,
        )

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def migrate(settings: Settings, params: ConnectionParams) -> None:
    """Creates every table once, from one process, before any worker starts."""
    with Services(settings, params, create_tables=True) as services:
        log.info(
            "tables_ready",
            events_table=services.app.pg_recorder.events_table_name,
            projections=[v.name for v in services.views],
        )
