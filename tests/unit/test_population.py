"""Scenarios over TerritoryPopulation: the yearly count of children aged 5-17."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import Mapper

from domain.errors import RuleViolationError, ValidationError
from domain.population import TerritoryPopulation, population_id
from tests.unit.conftest import META, event_names

MUNICIPALITY = "Городской округ N"


def opened(territory: str = "микрорайон Северный") -> TerritoryPopulation:
    return TerritoryPopulation.open(META, municipality=MUNICIPALITY, territory=territory)


def test_a_territorys_id_is_derived_from_its_trimmed_names() -> None:
    t = opened()
    assert t.id == population_id(MUNICIPALITY, "микрорайон Северный")
    assert t.id == population_id(f"  {MUNICIPALITY} ", "микрорайон Северный\n")
    assert t.id != population_id(MUNICIPALITY, "микрорайон Южный")
    assert t.id != population_id("Другой район", "микрорайон Северный")


def test_names_containing_separators_do_not_collide() -> None:
    assert population_id("a/b", "c") != population_id("a", "b/c")
    assert population_id('a", "b', "c") != population_id("a", 'b", "c')


def test_blank_names_are_invalid() -> None:
    with pytest.raises(ValidationError) as caught:
        population_id(" ", "T")
    assert caught.value.extra["field"] == "municipality"
    with pytest.raises(ValidationError):
        TerritoryPopulation.open(META, municipality=MUNICIPALITY, territory="")


def test_a_first_figure_for_a_year_is_recorded_with_its_source() -> None:
    t = opened()
    t.record(META, year=2027, children_5_17=4210, source="Росстат")
    opened_event, recorded = t.collect_events()
    assert isinstance(opened_event, TerritoryPopulation.TerritoryPopulationOpened)
    assert isinstance(recorded, TerritoryPopulation.PopulationRecorded)
    assert (recorded.year, recorded.children_5_17, recorded.source, recorded.previous) == (
        2027,
        4210,
        "Росстат",
        None,
    )
    assert (t.children_5_17, t.sources, t.corrections) == ({2027: 4210}, {2027: "Росстат"}, 0)


def test_re_recording_a_year_is_a_correction_that_keeps_the_previous_value() -> None:
    t = opened()
    t.record(META, year=2027, children_5_17=4210, source="Росстат")
    t.record(META, year=2028, children_5_17=4300, source="Росстат")
    t.collect_events()
    t.record(META, year=2027, children_5_17=4185, source="Росстат, уточнение")
    (event,) = t.collect_events()
    assert isinstance(event, TerritoryPopulation.PopulationRecorded)
    assert event.previous == 4210
    assert t.children_5_17 == {2027: 4185, 2028: 4300}
    assert t.corrections == 1


def test_the_same_figure_from_the_same_source_is_not_a_correction() -> None:
    t = opened()
    t.record(META, year=2027, children_5_17=4210, source="Росстат")
    version = t.version
    with pytest.raises(RuleViolationError) as caught:
        t.record(META, year=2027, children_5_17=4210, source=" Росстат ")
    assert caught.value.rule == "population_correction_changes"
    assert t.version == version
    # the same figure from another source is recorded (the source is what changed)
    t.record(META, year=2027, children_5_17=4210, source="Муниципальный реестр")
    assert t.sources[2027] == "Муниципальный реестр"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"year": 1999}, "year"),
        ({"year": 2101}, "year"),
        ({"children_5_17": -1}, "children_5_17"),
        ({"children_5_17": 10_000_001}, "children_5_17"),
        ({"children_5_17": True}, "children_5_17"),
        ({"source": "  "}, "source"),
    ],
)
def test_years_counts_and_sources_are_bounded(kwargs: dict[str, Any], field: str) -> None:
    t = opened()
    values: dict[str, Any] = {"year": 2027, "children_5_17": 100, "source": "Росстат"}
    values.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        t.record(META, **values)
    assert caught.value.extra["field"] == field
    assert t.children_5_17 == {}


def test_the_bounds_themselves_are_accepted() -> None:
    t = opened()
    t.record(META, year=2000, children_5_17=0, source="Росстат")
    t.record(META, year=2100, children_5_17=10_000_000, source="Росстат")
    assert t.children_5_17 == {2000: 0, 2100: 10_000_000}


def test_population_events_survive_storage(mapper: Mapper[Any]) -> None:
    t = opened()
    t.record(META, year=2027, children_5_17=4210, source="Росстат")
    t.record(META, year=2027, children_5_17=4211, source="Росстат")
    events = t.collect_events()
    assert event_names(events) == [
        "TerritoryPopulationOpened",
        "PopulationRecorded",
        "PopulationRecorded",
    ]
    for event in events:
        back = mapper.to_domain_event(mapper.to_stored_event(event))
        assert vars(back) == vars(event)
