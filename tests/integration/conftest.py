"""Integration fixtures beside the session database: throw-away databases of one's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from interagency.storage import ensure_database
from tests.conftest import settings_for


@pytest.fixture
def own(server: ConnectionParams) -> Iterator[Callable[..., Services]]:
    """Opens Services on fresh, migrated databases no worker follows; drops them afterwards.

    ``own(**overrides)`` takes settings overrides (``checkpoint_every=4``, ...).
    """
    made: list[tuple[str, Services]] = []

    def make(**overrides: Any) -> Services:
        dbname = f"interagency_own_{uuid.uuid4().hex[:12]}"
        ensure_database(server, dbname)
        params = ConnectionParams(server.host, server.port, dbname, server.user, server.password)
        settings = settings_for(params, **overrides)
        migrate(settings, params)
        services = Services(settings, params)
        made.append((dbname, services))
        return services

    try:
        yield make
    finally:
        for dbname, services in made:
            services.close()
            with psycopg.connect(server.conninfo(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
