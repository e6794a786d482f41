"""Coverage (охват): unique children aged 5-17 in additional education ÷ children aged 5-17.

Counted per year: a child counts in year Y when Y - birth year is within 5-17 and one of
their enrolments was active at some time in Y (started by 31 December, not ended before
1 January). Unique children, never enrolments: a child in three programs counts once.
The denominator is the population aged 5-17 recorded for Y in the territories in scope.
Children are known by their pseudonymous id only; nothing here names a child.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import sql

from domain.population import TerritoryPopulation
from domain.program import Program
from projections.runtime import Cursor, ProjectionView

P = Program
T = TerritoryPopulation

MIN_AGE = 5
MAX_AGE = 17
SLICES = ("agency", "direction", "funding_source")


@dataclass
class _BatchState:
    """Enrolments of the batch, written with one statement at its end."""

    enrolled: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    ended: dict[UUID, date] = field(default_factory=dict)


class CoverageView(ProjectionView):
    """Enrolments (with the program's agency, direction and municipality) and population."""

    name = "coverage"
    tables = ("cov_programs", "cov_enrolments", "cov_territories", "cov_population")
    topics = tuple(
        get_topic(c)
        for c in (
            P.ProgramDrafted,
            P.ChildEnrolled,
            P.EnrolmentEnded,
            T.TerritoryPopulationOpened,
            T.PopulationRecorded,
        )
    )

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        super().__init__(datastore, application_name)
        # Batch state per thread: two projectors may drive one view at once.
        self._local = threading.local()

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS cov_programs (
                program_id uuid PRIMARY KEY,
                municipality text NOT NULL,
                agency text NOT NULL,
                direction text NOT NULL,
                kind text NOT NULL,
                form text NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS cov_enrolments (
                enrolment_id uuid PRIMARY KEY,
                program_id uuid NOT NULL,
                child_id text NOT NULL,
                birth_year int NOT NULL,
                territory text NOT NULL,
                funding_source text NOT NULL,
                start_date date NOT NULL,
                end_date date,
                ended boolean NOT NULL DEFAULT false
            )""",
            (
                "CREATE INDEX IF NOT EXISTS cov_enrolments_period_idx "
                "ON cov_enrolments (start_date, end_date)"
            ),
            """
            CREATE TABLE IF NOT EXISTS cov_territories (
                territory_id uuid PRIMARY KEY,
                municipality text NOT NULL,
                territory text NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS cov_population (
                territory_id uuid NOT NULL,
                year int NOT NULL,
                municipality text NOT NULL,
                territory text NOT NULL,
                children_5_17 int NOT NULL,
                source text NOT NULL,
                corrections int NOT NULL DEFAULT 0,
                PRIMARY KEY (territory_id, year)
            )""",
        ]

    # -- updates ------------------------------------------------------------------------

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        if isinstance(event, P.ProgramDrafted):
            curs.execute(
                "INSERT INTO cov_programs (program_id, municipality, agency, direction, kind, "
                "form) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.municipality,
                    event.agency,
                    event.direction,
                    event.kind,
                    event.form,
                ),
            )
        elif isinstance(event, P.ChildEnrolled):
            self._batch().enrolled[event.enrolment_id] = {
                "program_id": event.originator_id,
                "child_id": event.child_id,
                "birth_year": event.birth_year,
                "territory": event.territory,
                "funding_source": event.funding_source,
                "start_date": event.start_date,
                "end_date": event.end_date,
                "ended": False,
            }
        elif isinstance(event, P.EnrolmentEnded):
            batch = self._batch()
            row = batch.enrolled.get(event.enrolment_id)
            if row is not None:
                row.update(end_date=event.end_date, ended=True)
            else:
                batch.ended[event.enrolment_id] = event.end_date
        elif isinstance(event, T.TerritoryPopulationOpened):
            curs.execute(
                "INSERT INTO cov_territories (territory_id, municipality, territory) "
                "VALUES (%s, %s, %s)",
                (event.originator_id, event.municipality, event.territory),
            )
        elif isinstance(event, T.PopulationRecorded):
            curs.execute(
                "INSERT INTO cov_population (territory_id, year, municipality, territory, "
                "children_5_17, source) SELECT territory_id, %s, municipality, territory, %s, %s "
                "FROM cov_territories WHERE territory_id = %s "
                "ON CONFLICT (territory_id, year) DO UPDATE SET "
                "children_5_17 = excluded.children_5_17, source = excluded.source, "
                "corrections = cov_population.corrections + 1",
                (event.year, event.children_5_17, event.source, event.originator_id),
            )

    def _batch(self) -> _BatchState:
        state: _BatchState | None = getattr(self._local, "batch", None)
        if state is None:
            msg = "CoverageView.process() runs inside a batch: use a Projector"
            raise RuntimeError(msg)
        return state

    def begin_batch(self) -> None:
        self._local.batch = _BatchState()

    def end_batch(self, curs: Cursor) -> None:
        state = self._batch()
        self._local.batch = None
        if state.enrolled:
            curs.executemany(
                "INSERT INTO cov_enrolments (enrolment_id, program_id, child_id, birth_year, "
                "territory, funding_source, start_date, end_date, ended) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        eid,
                        r["program_id"],
                        r["child_id"],
                        r["birth_year"],
                        r["territory"],
                        r["funding_source"],
                        r["start_date"],
                        r["end_date"],
                        r["ended"],
                    )
                    for eid, r in state.enrolled.items()
                ],
            )
        if state.ended:
            ids = list(state.ended)
            curs.execute(
                "UPDATE cov_enrolments e SET end_date = v.end_date, ended = true "
                "FROM unnest(%s::uuid[], %s::date[]) AS v(enrolment_id, end_date) "
                "WHERE e.enrolment_id = v.enrolment_id",
                (ids, [state.ended[i] for i in ids]),
            )

    # -- queries ------------------------------------------------------------------------

    def coverage(self, year: int, municipality: str | None = None) -> dict[str, Any]:
        """Coverage of ``year`` overall and by territory, agency, direction and funding
        source, with enrolments per child. Slices other than territory divide by the whole
        population in scope, so they do not add up to the total: a child in a technical
        and an artistic program counts in both directions, once in the total."""
        scope = sql.SQL("")
        params: dict[str, Any] = {
            "year": year,
            "first": date(year, 1, 1),
            "last": date(year, 12, 31),
            "min_age": MIN_AGE,
            "max_age": MAX_AGE,
            "municipality": municipality,
        }
        if municipality is not None:
            scope = sql.SQL(" AND p.municipality = %(municipality)s")
        enrolments = (
            sql.SQL(
                "SELECT e.*, p.municipality, p.agency, p.direction FROM cov_enrolments e "
                "JOIN cov_programs p USING (program_id) "
                "WHERE e.start_date <= %(last)s "
                "AND (e.end_date IS NULL OR e.end_date >= %(first)s) "
                "AND %(year)s - e.birth_year BETWEEN %(min_age)s AND %(max_age)s"
            )
            + scope
        )
        population = sql.SQL(
            "SELECT municipality, territory, children_5_17 FROM cov_population "
            "WHERE year = %(year)s"
        ) + (
            sql.SQL(" AND municipality = %(municipality)s")
            if municipality is not None
            else sql.SQL("")
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                sql.SQL(
                    "WITH e AS ({e}), pop AS ({p}) SELECT "
                    "(SELECT count(DISTINCT child_id) FROM e) AS children, "
                    "(SELECT count(*) FROM e) AS enrolments, "
                    "(SELECT coalesce(sum(children_5_17), 0) FROM pop) AS population, "
                    "(SELECT count(*) FROM pop) AS territories, "
                    "(SELECT count(DISTINCT child_id) FROM e WHERE NOT EXISTS (SELECT 1 FROM pop "
                    "WHERE pop.municipality = e.municipality AND pop.territory = e.territory)) "
                    "AS children_without_population"
                ).format(e=enrolments, p=population),
                params,
            )
            total = curs.fetchone()
            assert total is not None
            # A child's territory lies in the municipality of the program they attend.
            curs.execute(
                sql.SQL(
                    "WITH e AS ({e}), pop AS ({p}), c AS ("
                    "SELECT municipality, territory, count(DISTINCT child_id) AS children, "
                    "count(*) AS enrolments FROM e GROUP BY 1, 2) "
                    "SELECT coalesce(pop.municipality, c.municipality) AS municipality, "
                    "coalesce(pop.territory, c.territory) AS territory, "
                    "pop.children_5_17 AS population, coalesce(c.children, 0) AS children, "
                    "coalesce(c.enrolments, 0) AS enrolments "
                    "FROM pop FULL JOIN c ON c.municipality = pop.municipality "
                    "AND c.territory = pop.territory ORDER BY 1, 2"
                ).format(e=enrolments, p=population),
                params,
            )
            by_territory = [dict(r) for r in curs.fetchall()]
            slices: dict[str, list[dict[str, Any]]] = {}
            for column in SLICES:
                curs.execute(
                    sql.SQL(
                        "WITH e AS ({e}) SELECT {c} AS key, count(DISTINCT child_id) AS children, "
                        "count(*) AS enrolments FROM e GROUP BY 1 ORDER BY 1"
                    ).format(e=enrolments, c=sql.Identifier(column)),
                    params,
                )
                slices[column] = [dict(r) for r in curs.fetchall()]

        whole = int(total["population"])
        children = int(total["children"])
        for row in by_territory:
            row["coverage_pct"] = percent(row["children"], row["population"])
        for rows in slices.values():
            for row in rows:
                row["coverage_pct"] = percent(row["children"], whole)
                row["enrolments_per_child"] = ratio(row["enrolments"], row["children"])
        return {
            "year": year,
            "municipality": municipality,
            "population": whole,
            "territories": int(total["territories"]),
            "children": children,
            "children_without_population": int(total["children_without_population"]),
            "enrolments": int(total["enrolments"]),
            "coverage_pct": percent(children, whole),
            "enrolments_per_child": ratio(int(total["enrolments"]), children),
            "by_territory": by_territory,
            "by_agency": slices["agency"],
            "by_direction": slices["direction"],
            "by_funding_source": slices["funding_source"],
        }


def percent(part: int, whole: int | None) -> Decimal | None:
    """``part`` in percent of ``whole``, one decimal (half up); None without a whole."""
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def ratio(part: int, whole: int) -> Decimal | None:
    """``part`` per ``whole``, two decimals (half up); None when ``whole`` is zero."""
    if not whole:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
