"""Exact snapshots: every aggregate's state encodes and decodes to an equal state.

No database: the snapshot goes through the application's own mapper (its JSON transcoder
and transcodings), exactly as the snapshot store writes and reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import Mapper
from hypothesis import given
from hypothesis import strategies as st

from domain.agreement import AgreementStatus
from domain.assignment import ReportStatus, ServiceLine
from domain.base import DomainAggregate
from domain.organization import Licence, LicenceStatus, Organization, inn_with_check_digits
from domain.project import Stage, StageState, StageStatus
from domain.values import Agency
from domain.working_group import QuorumRule
from interagency.snapshots import (
    CODE_FINGERPRINT,
    ExactSnapshot,
    SnapshotNotExactError,
    freeze,
    thaw,
)
from tests.unit import program_builders
from tests.unit.conftest import META, completed_project, decide, meeting, staffed, vote
from tests.unit.test_agreement import amended
from tests.unit.test_assignment import approved as approved_assignment


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out: equal only if types match too."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(typed(v)) for v in value))
    if hasattr(value, "__dataclass_fields__"):
        return (type(value).__qualname__, typed(vars(value)))
    return (type(value).__qualname__, value)


def public_state(aggregate: Any) -> dict[str, Any]:
    """The aggregate's state but for the library's own id, version and pending events."""
    private = {"_id", "_version", "_pending_events"}
    return {k: v for k, v in vars(aggregate).items() if k not in private}


def round_trip(value: Any) -> Any:
    """freeze, then through JSON text (as stored), then thaw."""
    return thaw(json.loads(json.dumps(freeze(value))))


# -- the tree encoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {uuid4(): "a UUID key", uuid4(): {Stage.REGULATORY_BASE: 3}},
        {1: "an int key", 2: "stays an int"},
        {Stage.SOCIAL_TIES_PROGRAM: StageState(Stage.SOCIAL_TIES_PROGRAM, StageStatus.ACTIVE)},
        ("a", "tuple", ("nested",)),
        ["a", "list", ["nested"]],
        {uuid4(), uuid4()},
        frozenset({Agency.CULTURE, Agency.SPORT}),
        Decimal("1234.5600"),
        date(2027, 3, 1),
        datetime(2027, 3, 1, 10, 30, 15, 123456, tzinfo=UTC),
        datetime(2027, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=3))),
        QuorumRule(2, 3, strict=False),
        Licence(
            uuid4(),
            "L-1",
            (),
            date(2020, 1, 15),
            "Ministry",
            LicenceStatus.ACTIVE,
            date(2020, 1, 15),
        ),
        {"_type_": "looks like a transcoding", "_data_": "but is plain data"},
        {"dict": "a key named like a tag", "v": [None, True, 0, 1.5, ""]},
    ],
)
def test_a_state_value_decodes_to_an_equal_value_of_the_same_types(value: Any) -> None:
    back = round_trip(value)
    assert back == value
    assert typed(back) == typed(value)


def test_a_frozen_dataclass_is_restored_without_running_its_validation() -> None:
    # __post_init__ of QuorumRule refuses this; a stored state is restored as it was.
    rule = object.__new__(QuorumRule)
    for k, v in {"numerator": 3, "denominator": 2, "strict": True}.items():
        object.__setattr__(rule, k, v)
    assert round_trip(rule) == rule


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
    | st.sampled_from(list(Stage) + list(Agency) + list(ReportStatus) + list(AgreementStatus)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
        | st.dictionaries(
            st.uuids() | st.integers() | st.sampled_from(list(Stage)), children, max_size=4
        )
        | st.sets(st.uuids() | st.integers() | st.text(max_size=4), max_size=4)
        | st.frozensets(st.sampled_from(list(Agency)), max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_any_nesting_of_state_values_round_trips_exactly(value: Any) -> None:
    back = round_trip(value)
    assert back == value
    assert typed(back) == typed(value)


class Colour(Enum):
    RED = "red"


@dataclass
class Outsider:
    name: str


@pytest.mark.parametrize(
    "value",
    [Colour.RED, Outsider("not a domain class"), object(), b"bytes", bytearray(b"x")],
    ids=["foreign enum", "foreign dataclass", "object", "bytes", "bytearray"],
)
def test_a_value_outside_the_domain_is_refused_not_approximated(value: Any) -> None:
    if isinstance(value, Enum):
        # An enum is encoded by topic; decoding names a class outside the domain: refused.
        with pytest.raises(SnapshotNotExactError, match="outside the domain"):
            round_trip(value)
        return
    with pytest.raises(SnapshotNotExactError, match="cannot encode"):
        freeze(value)


@pytest.mark.parametrize(
    "tree",
    [
        {"enum": ["os:environ", "PATH"]},
        {"dataclass": ["builtins:object", {}]},
        {"dataclass": ["domain.project:Stage", {}]},
        {"enum": ["domain.project:StageState", "x"]},
        {"pickle": "..."},
        {"uuid": "not-a-uuid", "extra": 1},
    ],
)
def test_a_tree_naming_anything_but_domain_enums_and_dataclasses_is_refused(
    tree: dict[str, Any],
) -> None:
    with pytest.raises((SnapshotNotExactError, ValueError)):
        thaw(tree)


# -- whole aggregates through the application's mapper -----------------------------------


def an_organization() -> Organization:
    o = Organization.register(
        META,
        organization_id=uuid4(),
        name="Centre of creativity",
        inn=inn_with_check_digits("770123456"),
        kind="additional_education",
        agency="education",
        founder="Education office",
        municipality="Town",
        address="Main street 1",
    )
    lid = uuid4()
    o.register_licence(
        META,
        licence_id=lid,
        number="L-1",
        sub_kinds=["additional_education_children_adults", "preschool"],
        issued_on=date(2020, 1, 15),
        issuer="Ministry",
    )
    o.suspend_licence(META, licence_id=lid, effective_on=date(2026, 1, 1))
    o.rename(META, name="Centre of arts")
    return o


def a_decided_group() -> Aggregate:
    g, _ = staffed()
    m = meeting(g)
    decide(g, m, vote(g, m))
    return g


def a_busy_program() -> Aggregate:
    p = program_builders.published_program()
    for _ in range(3):
        program_builders.enrol(p)
    return p


def an_assignment_with_lines() -> Aggregate:
    a = approved_assignment()
    assert all(isinstance(line, ServiceLine) for line in a.lines.values())
    return a


AGGREGATES = {
    "project": completed_project,
    "working group": a_decided_group,
    "assignment": an_assignment_with_lines,
    "organisation": an_organization,
    "agreement": amended,
    "program": a_busy_program,
}


@pytest.mark.parametrize("build", AGGREGATES.values(), ids=AGGREGATES.keys())
def test_every_kind_of_aggregate_comes_back_from_its_stored_snapshot_equal(
    build: Any, mapper: Mapper[Any]
) -> None:
    aggregate = build()
    aggregate.collect_events()
    snapshot = ExactSnapshot.take(aggregate)
    stored = mapper.to_stored_event(snapshot)
    loaded = mapper.to_domain_event(stored)
    assert isinstance(loaded, ExactSnapshot)
    assert loaded.is_current
    back = loaded.mutate(None)
    assert type(back) is type(aggregate)
    assert (back.id, back.version) == (aggregate.id, aggregate.version)
    assert vars(back) == vars(aggregate)
    # Types and the order of every dict (lists on the GET follow it) are kept too.
    assert typed(public_state(back)) == typed(public_state(aggregate))


@pytest.mark.parametrize("build", AGGREGATES.values(), ids=AGGREGATES.keys())
def test_the_library_snapshot_would_not_have_come_back_equal(
    build: Any, mapper: Mapper[Any]
) -> None:
    """Why ExactSnapshot exists: the stock Snapshot refuses or bends these states."""
    aggregate = build()
    aggregate.collect_events()
    try:
        stored = mapper.to_stored_event(Snapshot.take(aggregate))
        back = mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    except Exception:
        return
    assert typed(public_state(back)) != typed(public_state(aggregate))


def test_a_snapshot_records_the_code_that_derived_it() -> None:
    snapshot = ExactSnapshot.take(an_organization())
    assert snapshot.state["code"] == CODE_FINGERPRINT
    other = ExactSnapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state={**snapshot.state, "code": "another build"},
    )
    assert not other.is_current


def test_a_state_that_would_not_decode_equal_is_not_snapshotted() -> None:
    o = an_organization()
    o.__dict__["scratch"] = Outsider("held outside the domain")
    with pytest.raises(SnapshotNotExactError):
        ExactSnapshot.take(o)


def test_an_aggregate_with_pending_events_is_snapshotted_without_them() -> None:
    o = an_organization()
    assert o.pending_events
    back = ExactSnapshot.take(o).mutate(None)
    assert back.pending_events == []
    assert isinstance(back, DomainAggregate)
