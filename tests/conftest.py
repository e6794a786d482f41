"""Shared fixtures: a real PostgreSQL for the whole session, never a mock.

With ``POSTGRES_HOST`` (or ``DATABASE_URL``) in the environment, as in CI, the suite uses
that server; otherwise it starts the embedded one in a temporary folder. Either way it
creates a throw-away database and drops it at the end. Tests never change ``os.environ``:
they pass their own ``Settings``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from interagency.services import Services, migrate
from interagency.settings import ConnectionParams, Settings
from interagency.signing import write_new_key
from interagency.storage import EmbeddedPostgres, ensure_database
from projections.runtime import ProjectionWorker


def _server_settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectionParams]:
    """Connection to a PostgreSQL server's maintenance database."""
    base = _server_settings()
    if base.uses_embedded:
        embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), dbname="postgres")
        params = embedded.start()
        try:
            yield params
        finally:
            embedded.stop()
    else:
        # Connect to the maintenance database: the suite makes its own database below.
        ext = base.external_connection()
        yield ConnectionParams(ext.host, ext.port, "postgres", ext.user, ext.password)


@pytest.fixture(scope="session")
def pg(server: ConnectionParams) -> Iterator[ConnectionParams]:
    """A fresh database for this test session, dropped afterwards."""
    dbname = f"interagency_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    ensure_database(server, dbname)
    params = ConnectionParams(server.host, server.port, dbname, server.user, server.password)
    try:
        yield params
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


def generated_signing_key() -> Path:
    """One Ed25519 key generated for this test run, outside the working tree."""
    if not _SIGNING_KEY:
        folder = Path(tempfile.mkdtemp(prefix="interagency-test-key-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        write_new_key(folder / "signing-key.pem")
        _SIGNING_KEY.append(folder / "signing-key.pem")
    return _SIGNING_KEY[0]


_SIGNING_KEY: list[Path] = []


def settings_for(params: ConnectionParams, **overrides: object) -> Settings:
    """Settings that point at ``params``, whatever the environment says."""
    values: dict[str, object] = {
        "signing_key_file": generated_signing_key(),
        "postgres_host": params.host,
        "postgres_port": params.port,
        "postgres_dbname": params.dbname,
        "postgres_user": params.user,
        "postgres_password": params.password,
        "database_url": None,
        "data_dir": Path(".data-tests"),
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture(scope="session")
def settings(pg: ConnectionParams) -> Settings:
    return settings_for(pg)


@pytest.fixture(scope="session")
def services(settings: Settings, pg: ConnectionParams) -> Iterator[Services]:
    """The application and projection views, on the session database."""
    migrate(settings, pg)
    with Services(settings, pg) as s:
        yield s


@pytest.fixture(scope="session")
def worker(services: Services) -> Iterator[ProjectionWorker]:
    """A projection worker following the event log for the whole session."""
    w = services.worker()
    w.start()
    try:
        yield w
    finally:
        w.stop()


def wait_projected(services: Services, position: int, timeout: float = 10.0) -> None:
    """Waits on the tracking positions (never a sleep) until every projection reached it."""
    for view in services.views:
        assert view.wait_for(position, timeout), (
            f"projection {view.name!r} stuck at {view.position()}, wanted {position}"
        )
