"""Scenarios over the Program aggregate: drafting, approvals, publication, enrolments.

Given a program built by commands, when a command runs, then the events it recorded and
the state they produced are as the domain says; a refused command names its rule and
changes nothing.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Mapper

from domain.assignment import Direction
from domain.errors import RuleViolationError, ValidationError
from domain.program import FundingSource, Program, ProgramForm, ProgramKind, ProgramStatus
from domain.values import Agency, EventMeta
from tests.unit.conftest import META, event_names
from tests.unit.program_builders import (
    PARTNER,
    PROVIDER,
    START,
    approved_program,
    assert_refused,
    draft_program,
    enrol,
    network_program,
    published_program,
    refused_draft,
)

OTHER = uuid4()

# -- drafting -------------------------------------------------------------------------


def test_a_drafted_program_is_a_draft_of_its_provider_with_no_enrolments() -> None:
    p = draft_program()
    (drafted,) = p.collect_events()
    assert isinstance(drafted, Program.ProgramDrafted)
    assert drafted.meta == META
    assert (p.status, p.kind, p.direction, p.form) == (
        ProgramStatus.DRAFT,
        ProgramKind.GENERAL_DEVELOPING,
        Direction.TECHNICAL,
        ProgramForm.STANDALONE,
    )
    assert (p.agency, p.municipality) == (Agency.EDUCATION, "Городской округ N")
    assert p.teaching_parties == [PROVIDER]
    assert p.pending_approvals == [PROVIDER]
    assert (p.capacity, p.places_left, p.active_enrolments, p.enrolments) == (30, 30, 0, {})


def test_a_network_program_is_taught_by_its_provider_and_partners() -> None:
    p = network_program()
    assert p.form is ProgramForm.NETWORK
    assert p.teaching_parties == [PROVIDER, PARTNER]


def test_a_general_developing_program_needs_one_of_the_six_directions() -> None:
    refused_draft(rule="direction_matches_kind", field="direction", direction=None)
    refused_draft(field="direction", direction="dancing")


@pytest.mark.parametrize(
    ("kind", "implied"),
    [
        ("pre_professional_arts", Direction.ARTISTIC),
        ("sport_training", Direction.PHYSICAL_CULTURE_SPORT),
    ],
)
def test_a_pre_professional_or_sport_program_has_the_direction_its_kind_implies(
    kind: str, implied: Direction
) -> None:
    # given no direction, it takes the implied one; the implied one is accepted too
    assert draft_program(kind=kind, direction=None).direction is implied
    assert draft_program(kind=kind, direction=implied.value).direction is implied
    # any other is refused
    error = refused_draft(rule="direction_matches_kind", kind=kind, direction="technical")
    assert implied.value in error.detail


@pytest.mark.parametrize(
    ("min_age", "max_age", "field"),
    [(2, 10, "min_age"), (3, 100, "max_age"), (12, 11, "min_age")],
)
def test_ages_lie_within_3_to_99_and_the_minimum_is_not_above_the_maximum(
    min_age: int, max_age: int, field: str
) -> None:
    refused_draft(field=field, min_age=min_age, max_age=max_age)


def test_the_age_bounds_and_a_one_year_range_are_accepted() -> None:
    p = draft_program(min_age=3, max_age=99)
    assert (p.min_age, p.max_age) == (3, 99)
    p = draft_program(min_age=7, max_age=7)
    assert (p.min_age, p.max_age) == (7, 7)


@pytest.mark.parametrize("field", ["hours", "capacity"])
@pytest.mark.parametrize("value", [0, -1, 100_001, True])
def test_hours_and_capacity_are_whole_numbers_from_1_to_100000(field: str, value: Any) -> None:
    refused_draft(field=field, **{field: value})


def test_hours_and_capacity_may_be_1_or_100000() -> None:
    p = draft_program(hours=1, capacity=100_000)
    assert (p.hours, p.capacity) == (1, 100_000)


@pytest.mark.parametrize(
    ("form", "partners"),
    [
        ("network", []),
        ("standalone", [PARTNER]),
        ("network", [PROVIDER]),
        ("network", [PARTNER, PARTNER]),
    ],
)
def test_the_network_form_needs_distinct_partners_and_the_standalone_none(
    form: str, partners: list[Any]
) -> None:
    refused_draft(
        rule="network_form_partners", field="partner_ids", form=form, partner_ids=partners
    )


def test_a_program_names_at_most_50_partners() -> None:
    refused_draft(field="partner_ids", form="network", partner_ids=[uuid4() for _ in range(51)])
    assert len(network_program(partner_ids=[uuid4() for _ in range(50)]).partner_ids) == 50


def test_blank_titles_and_unknown_codes_are_invalid() -> None:
    refused_draft(field="title", title="  ")
    refused_draft(field="kind", kind="summer_camp")
    refused_draft(field="form", form="hybrid")
    refused_draft(field="agency", agency="police")


# -- approvals ------------------------------------------------------------------------


def test_the_last_teaching_partys_approval_also_approves_the_program() -> None:
    p = network_program()
    p.collect_events()
    # when the provider approves, the program still awaits the partner
    p.approve(META, party_id=PROVIDER)
    assert event_names(p.collect_events()) == ["ProgramApprovedByParty"]
    assert (p.status, p.pending_approvals) == (ProgramStatus.DRAFT, [PARTNER])
    # when the partner approves, the same command records that the program is approved
    p.approve(META, party_id=PARTNER)
    events = p.collect_events()
    assert event_names(events) == ["ProgramApprovedByParty", "ProgramApproved"]
    assert all(e.meta == META for e in events)  # type: ignore[attr-defined]
    assert (p.status, p.pending_approvals, p.approvals) == (
        ProgramStatus.APPROVED,
        [],
        {PROVIDER, PARTNER},
    )


def test_only_a_teaching_party_approves_and_each_once() -> None:
    p = network_program()
    error = assert_refused(
        p, lambda: p.approve(META, party_id=OTHER), rule="approver_is_teaching_party"
    )
    assert str(OTHER) in error.detail
    p.approve(META, party_id=PARTNER)
    assert_refused(p, lambda: p.approve(META, party_id=PARTNER), rule="party_approves_once")


def test_an_approved_program_takes_no_more_approvals() -> None:
    p = approved_program()
    assert_refused(p, lambda: p.approve(META, party_id=PROVIDER), rule="party_approves_once")


# -- publication ----------------------------------------------------------------------


def test_a_program_is_published_only_once_approved() -> None:
    p = network_program()
    p.approve(META, party_id=PROVIDER)
    error = assert_refused(
        p,
        lambda: p.publish(META, agreement_id=uuid4()),
        rule="program_approved_before_publication",
    )
    assert str(PARTNER) in error.detail  # names who has yet to approve


def test_a_network_program_is_published_only_with_an_agreement() -> None:
    p = approved_program(form="network", partner_ids=[PARTNER])
    assert_refused(
        p, lambda: p.publish(META, agreement_id=None), rule="network_program_needs_active_agreement"
    )
    agreement_id = uuid4()
    p.publish(META, agreement_id=agreement_id)
    assert (p.status, p.agreement_id) == (ProgramStatus.PUBLISHED, agreement_id)
    assert event_names(p.collect_events())[-1] == "ProgramPublished"


def test_a_standalone_program_is_published_without_an_agreement_and_once() -> None:
    p = approved_program()
    assert_refused(
        p,
        lambda: p.publish(META, agreement_id=uuid4()),
        rule="standalone_program_without_agreement",
    )
    p.publish(META)
    assert (p.status, p.agreement_id) == (ProgramStatus.PUBLISHED, None)
    assert_refused(p, lambda: p.publish(META), rule="program_published_once")


# -- enrolments -----------------------------------------------------------------------


def test_a_child_is_enrolled_in_a_published_program_by_pseudonymous_id_and_birth_year() -> None:
    p = published_program()
    p.collect_events()
    enrolment_id = enrol(p, "nav-7f3a9c21", birth_year=2015, end_date=date(2028, 5, 31))
    (event,) = p.collect_events()
    assert isinstance(event, Program.ChildEnrolled)
    assert (event.child_id, event.birth_year, event.funding_source) == (
        "nav-7f3a9c21",
        2015,
        "certificate",
    )
    e = p.enrolments[enrolment_id]
    assert (e.active, e.funding_source, e.start_date, e.end_date) == (
        True,
        FundingSource.CERTIFICATE,
        START,
        date(2028, 5, 31),
    )
    assert (p.active_enrolments, p.places_left) == (1, 29)


@pytest.mark.parametrize("make", [draft_program, approved_program])
def test_children_enrol_only_in_a_published_program(make: Any) -> None:
    p = make()
    assert_refused(p, lambda: enrol(p), rule="enrol_in_published_program")


@pytest.mark.parametrize("child_id", ["abc", "Иванов Иван", "a" * 65, "child 123", "x@y.ru"])
def test_a_child_id_is_a_pseudonym_never_a_name(child_id: str) -> None:
    p = published_program()
    assert_refused(p, lambda: enrol(p, child_id), ValidationError, field="child_id")


def test_the_capacity_is_never_overrun() -> None:
    p = published_program(capacity=2)
    enrol(p)
    enrol(p)
    error = assert_refused(p, lambda: enrol(p), rule="program_capacity")
    assert error.extra["capacity"] == 2
    assert p.places_left == 0


def test_a_child_is_enrolled_once_while_active_and_again_after_the_enrolment_ended() -> None:
    p = published_program()
    first = enrol(p, "child-000001")
    assert_refused(p, lambda: enrol(p, "child-000001"), rule="child_enrolled_once")
    p.end_enrolment(META, enrolment_id=first, end_date=date(2027, 12, 20))
    enrol(p, "child-000001", start_date=date(2028, 1, 10))
    assert (len(p.enrolments), p.active_enrolments) == (2, 1)


def test_an_enrolment_id_is_used_once() -> None:
    p = published_program()
    enrolment_id = enrol(p)
    assert_refused(
        p,
        lambda: p.enrol(
            META,
            enrolment_id=enrolment_id,
            child_id="another-child",
            birth_year=2015,
            territory="T",
            funding_source="paid",
            start_date=START,
        ),
        rule="enrolment_id_unique",
    )


@pytest.mark.parametrize(
    ("birth_year", "accepted"),
    [
        # ages 10-14, start in 2027: the age reached in 2027 must be within 9-14
        (2018, True),  # turns 9 in 2027: reaches 10 during the school year
        (2019, False),  # turns 8
        (2013, True),  # turns 14
        (2012, False),  # turns 15
    ],
)
def test_a_childs_age_in_the_start_year_lies_within_the_programs_range(
    birth_year: int, accepted: bool
) -> None:
    p = published_program()
    if accepted:
        enrol(p, birth_year=birth_year)
        assert p.active_enrolments == 1
    else:
        error = assert_refused(
            p, lambda: enrol(p, birth_year=birth_year), rule="child_age_in_program_range"
        )
        assert str(birth_year) in error.detail
        assert "10-14" in error.detail


def test_an_enrolment_does_not_end_before_it_starts() -> None:
    p = published_program()
    assert_refused(
        p,
        lambda: enrol(p, end_date=date(2027, 8, 31)),
        ValidationError,
        rule="end_date_not_before_start",
        field="end_date",
    )
    # a one-day enrolment is fine
    enrol(p, end_date=START)


def test_dates_and_codes_of_an_enrolment_are_checked() -> None:
    p = published_program()
    assert_refused(
        p, lambda: enrol(p, start_date=date(227, 9, 1)), ValidationError, field="start_date"
    )
    assert_refused(
        p,
        lambda: p.enrol(
            META,
            enrolment_id=uuid4(),
            child_id="child-000002",
            birth_year=2015,
            territory="T",
            funding_source="voucher",
            start_date=START,
        ),
        ValidationError,
        field="funding_source",
    )


def test_ending_an_enrolment_frees_its_place() -> None:
    p = published_program(capacity=1)
    enrolment_id = enrol(p)
    p.collect_events()
    p.end_enrolment(META, enrolment_id=enrolment_id, end_date=date(2028, 5, 31))
    (event,) = p.collect_events()
    assert isinstance(event, Program.EnrolmentEnded)
    e = p.enrolments[enrolment_id]
    assert (e.active, e.end_date) == (False, date(2028, 5, 31))
    assert (p.active_enrolments, p.ended_enrolments, p.places_left) == (0, 1, 1)
    enrol(p)


def test_only_an_active_known_enrolment_is_ended_and_not_before_its_start() -> None:
    p = published_program()
    enrolment_id = enrol(p)
    assert_refused(
        p,
        lambda: p.end_enrolment(META, enrolment_id=uuid4(), end_date=START),
        rule="enrolment_exists",
    )
    assert_refused(
        p,
        lambda: p.end_enrolment(META, enrolment_id=enrolment_id, end_date=date(2027, 8, 1)),
        ValidationError,
        rule="end_date_not_before_start",
    )
    p.end_enrolment(META, enrolment_id=enrolment_id, end_date=START)
    assert_refused(
        p,
        lambda: p.end_enrolment(META, enrolment_id=enrolment_id, end_date=START),
        rule="enrolment_active",
    )


# -- capacity -------------------------------------------------------------------------


def test_the_capacity_changes_but_never_below_the_children_enrolled() -> None:
    p = published_program(capacity=5)
    for _ in range(3):
        enrol(p)
    p.collect_events()
    error = assert_refused(
        p, lambda: p.change_capacity(META, capacity=2), rule="capacity_not_below_enrolled"
    )
    assert error.extra["active_enrolments"] == 3
    p.change_capacity(META, capacity=3)
    (event,) = p.collect_events()
    assert isinstance(event, Program.ProgramCapacityChanged)
    assert (event.capacity, event.previous_capacity) == (3, 5)
    assert_refused(p, lambda: p.change_capacity(META, capacity=3), rule="capacity_changes")
    assert_refused(
        p, lambda: p.change_capacity(META, capacity=0), ValidationError, field="capacity"
    )


def test_a_drafts_capacity_changes_too() -> None:
    p = draft_program()
    p.change_capacity(META, capacity=100_000)
    assert p.capacity == 100_000


# -- archive --------------------------------------------------------------------------


def test_a_program_is_archived_only_once_no_child_studies_in_it() -> None:
    p = published_program()
    enrolment_id = enrol(p)
    error = assert_refused(p, lambda: p.archive(META), rule="archive_without_active_enrolments")
    assert error.extra["active_enrolments"] == 1
    p.end_enrolment(META, enrolment_id=enrolment_id, end_date=date(2028, 5, 31))
    p.archive(META)
    assert p.status is ProgramStatus.ARCHIVED


@pytest.mark.parametrize("make", [draft_program, approved_program, published_program])
def test_an_archived_program_changes_no_more(make: Any) -> None:
    p = make()
    p.archive(META)
    assert_refused(p, lambda: p.archive(META), rule="program_not_archived")
    assert_refused(p, lambda: p.approve(META, party_id=PROVIDER), rule="program_not_archived")
    assert_refused(p, lambda: p.publish(META), rule="program_not_archived")
    assert_refused(p, lambda: p.change_capacity(META, capacity=7), rule="program_not_archived")
    assert_refused(p, lambda: enrol(p), rule="enrol_in_published_program")


# -- stored events --------------------------------------------------------------------


def eventful_program() -> Program:
    """A network program through every event type, optional values given and not."""
    meta = EventMeta(actor_id="official-2", actor_role="official", reason="Приказ № 5")
    p = network_program(meta)
    p.approve(meta, party_id=PROVIDER)
    p.approve(meta, party_id=PARTNER)
    p.publish(meta, agreement_id=uuid4())
    p.change_capacity(meta, capacity=40)
    first = enrol(p, end_date=date(2028, 5, 31), meta=meta)
    enrol(p, meta=meta)
    p.end_enrolment(meta, enrolment_id=first, end_date=date(2027, 12, 1))
    return p


def test_every_program_event_survives_storage_and_replays_to_the_same_program(
    mapper: Mapper[Any],
) -> None:
    p = eventful_program()
    events = list(p.collect_events())
    assert set(event_names(events)) == {
        "ProgramDrafted",
        "ProgramApprovedByParty",
        "ProgramApproved",
        "ProgramPublished",
        "ProgramCapacityChanged",
        "ChildEnrolled",
        "EnrolmentEnded",
    }
    restored: list[Any] = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
    for original, back in zip(events, restored, strict=True):
        assert type(back) is type(original)
        assert vars(back) == vars(original)
    rebuilt: Any = functools.reduce(lambda a, e: e.mutate(a), restored, None)
    assert rebuilt == p
    assert rebuilt.enrolments == p.enrolments
    assert (rebuilt.active_enrolments, rebuilt.capacity, rebuilt.approvals) == (1, 40, p.approvals)


def test_a_standalone_publication_stores_no_agreement(mapper: Mapper[Any]) -> None:
    p = approved_program()
    p.publish(META)
    event = p.collect_events()[-1]
    back = mapper.to_domain_event(mapper.to_stored_event(event))
    assert isinstance(back, Program.ProgramPublished)
    assert back.agreement_id is None


def test_refusals_are_rule_violations_with_plain_messages() -> None:
    p = draft_program()
    with pytest.raises(RuleViolationError) as caught:
        p.publish(META)
    assert caught.value.rule == "program_approved_before_publication"
    assert "approved" in caught.value.detail
