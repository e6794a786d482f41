"""Children aged 5-17 living in a territory, per year: the denominator of coverage (охват).

One aggregate per (municipality, territory), its id derived from the two names, so that the
first figure recorded for a territory opens it and later ones find it. Re-recording a year
is a correction: the event keeps the value it replaces.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import EventMeta, require_text

FIRST_YEAR = 2000
LAST_YEAR = 2100
MAX_CHILDREN = 10_000_000


def _names(municipality: str, territory: str) -> tuple[str, str]:
    return (
        require_text(municipality, "municipality", 200),
        require_text(territory, "territory", 200),
    )


def population_id(municipality: str, territory: str) -> UUID:
    """The territory's aggregate id: the same names (trimmed) always give the same id."""
    m, t = _names(municipality, territory)
    # JSON keeps the pair unambiguous whatever characters the names hold.
    key = json.dumps([m, t], ensure_ascii=False)
    return uuid5(NAMESPACE_URL, f"/interagency/population/{key}")


class TerritoryPopulation(DomainAggregate):
    """The yearly count of children aged 5-17 in one territory of a municipality."""

    class TerritoryPopulationOpened(DomainAggregate.Created):
        municipality: str
        territory: str

        def apply(self, aggregate: Any) -> None:
            t: TerritoryPopulation = aggregate
            t.municipality = self.municipality
            t.territory = self.territory
            t.children_5_17 = {}
            t.sources = {}
            t.corrections = 0

    class PopulationRecorded(DomainAggregate.Event):
        """The count for a year; ``previous`` is the value it corrects, if any."""

        year: int
        children_5_17: int
        source: str
        previous: int | None

        def apply(self, aggregate: Any) -> None:
            t: TerritoryPopulation = aggregate
            t.children_5_17[self.year] = self.children_5_17
            t.sources[self.year] = self.source
            if self.previous is not None:
                t.corrections += 1

    if TYPE_CHECKING:
        municipality: str
        territory: str
        children_5_17: dict[int, int]
        sources: dict[int, str]
        corrections: int

    @classmethod
    def open(cls, meta: EventMeta, *, municipality: str, territory: str) -> TerritoryPopulation:
        m, t = _names(municipality, territory)
        return cls._create(
            cls.TerritoryPopulationOpened,
            id=population_id(m, t),
            meta=meta,
            municipality=m,
            territory=t,
        )

    def record(self, meta: EventMeta, *, year: int, children_5_17: int, source: str) -> None:
        """Records (or corrects) the number of children aged 5-17 living here in ``year``."""
        if isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValidationError(f"year must be within {FIRST_YEAR}-{LAST_YEAR}", field="year")
        if isinstance(children_5_17, bool) or not 0 <= children_5_17 <= MAX_CHILDREN:
            raise ValidationError(
                f"children_5_17 must be a whole number within 0-{MAX_CHILDREN}",
                field="children_5_17",
            )
        src = require_text(source, "source", 300)
        previous = self.children_5_17.get(year)
        if previous == children_5_17 and self.sources.get(year) == src:
            raise RuleViolationError(
                "population_correction_changes",
                f"{children_5_17} children aged 5-17 from {src!r} is already the figure "
                f"for {year}; a correction changes the value or its source",
            )
        self.trigger_event(
            self.PopulationRecorded,
            meta=meta,
            year=year,
            children_5_17=children_5_17,
            source=src,
            previous=previous,
        )
