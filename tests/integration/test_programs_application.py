"""Programs, enrolments and territories' population through the application, on PostgreSQL.

The organisations and agreements are made by their own commands (tests/integration/
network_helpers.py), so the checks across aggregates run as in production.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import date
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    NotFoundError,
    RuleViolationError,
    StaleVersionError,
)
from domain.program import ProgramStatus
from domain.values import Agency
from interagency.application import InteragencyApplication
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandResult
from interagency.services import Services
from tests.integration.network_helpers import (
    META,
    active_agreement,
    approve_all,
    draft_program,
    enrol,
    published_program,
    register,
    sign_all,
    terms,
)


def town() -> str:
    return f"Town {uuid.uuid4().hex[:8]}"


def network(app: InteragencyApplication) -> tuple[UUID, UUID, UUID]:
    """A provider (culture), a partner school, and their network program, approved."""
    place = town()
    provider = register(app, place, "ДШИ № 1", kind="additional_education", agency="culture")
    school = register(app, place, "СОШ № 5", kind="general_education")
    pid = draft_program(
        app, provider, kind="general_developing", direction="artistic", partners=[school]
    )
    approve_all(app, pid)
    return provider, school, pid


# -- drafting -------------------------------------------------------------------------


def test_a_program_takes_its_providers_agency_and_municipality(services: Services) -> None:
    app = services.app
    place = town()
    provider = register(app, place, "Спортшкола", kind="sport", agency="sport", licensed=False)
    pid = draft_program(app, provider, kind="sport_training", direction=None)
    p = app.get_program(pid)
    assert (p.agency, p.municipality, p.direction.value) == (
        Agency.SPORT,
        place,
        "physical_culture_sport",
    )
    assert p.status is ProgramStatus.DRAFT


@pytest.mark.parametrize("who", ["provider_id", "partner_ids"])
def test_a_program_names_only_registered_organisations(services: Services, who: str) -> None:
    app = services.app
    registered = register(app, town(), "ЦДО")
    stranger = uuid4()
    provider, partners = (
        (stranger, [registered]) if who == "provider_id" else (registered, [stranger])
    )
    head = app.head_position()
    with pytest.raises(RuleViolationError) as caught:
        draft_program(app, provider, partners=partners)
    assert caught.value.rule == "organization_registered"
    assert caught.value.extra["field"] == who
    assert str(stranger) in caught.value.detail
    assert app.head_position() == head


# -- publication ----------------------------------------------------------------------


def test_a_network_program_is_published_under_an_agreement_in_force_that_lists_it(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    agreement = active_agreement(
        app,
        app.get_program(pid).municipality,
        terms([(school, "base"), (provider, "participant")], [pid]),
    )
    result = app.publish_program(META, pid, agreement_id=agreement)
    p = app.get_program(pid)
    assert (p.status, p.agreement_id, p.version) == (
        ProgramStatus.PUBLISHED,
        agreement,
        result.version,
    )
    kinds = [type(e.event).__name__ for e in app.history(pid)]
    assert kinds == [
        "ProgramDrafted",
        "ProgramApprovedByParty",
        "ProgramApprovedByParty",
        "ProgramApproved",
        "ProgramPublished",
    ]
    # the last approval and ProgramApproved were one command: one correlation, consecutive
    approvals = app.history(pid)[2:4]
    assert approvals[1].position == approvals[0].position + 1


def test_a_network_program_is_published_only_if_its_teachers_teach_under_the_agreement(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    place = app.get_program(pid).municipality
    # The school teaches the program, but the agreement names it a resource organisation.
    agreement = active_agreement(
        app,
        place,
        terms(
            [
                (provider, "base"),
                (school, "resource"),
                (register(app, place, "СОШ № 9", kind="general_education"), "participant"),
            ],
            [pid],
        ),
    )
    before = app.get_program(pid).version
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=agreement)
    assert caught.value.rule == "program_parties_in_agreement"
    assert caught.value.extra["organizations"] == [str(school)]
    assert app.get_program(pid).version == before, "a refused command writes nothing"


def test_a_network_program_is_not_published_under_an_unknown_agreement(
    services: Services,
) -> None:
    app = services.app
    _, _, pid = network(app)
    head = app.head_position()
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=uuid4())
    assert caught.value.rule == "network_program_needs_active_agreement"
    assert app.head_position() == head


def test_a_network_program_is_not_published_under_an_agreement_not_yet_in_force(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    aid = uuid4()
    app.draft_agreement(
        META,
        agreement_id=aid,
        number=f"NA-{aid.hex[:6]}",
        title="Draft agreement",
        municipality=app.get_program(pid).municipality,
        terms=terms([(school, "base"), (provider, "participant")], [pid]),
    )
    sign_all(app, aid)  # signed, not activated
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=aid)
    assert caught.value.rule == "network_program_needs_active_agreement"
    assert "signed" in caught.value.detail
    assert app.get_program(pid).status is ProgramStatus.APPROVED


def test_a_network_program_is_not_published_under_an_agreement_that_does_not_list_it(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    other = draft_program(app, provider, partners=[school], title="Другая программа")
    agreement = active_agreement(
        app,
        app.get_program(pid).municipality,
        terms([(school, "base"), (provider, "participant")], [other]),
    )
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=agreement)
    assert caught.value.rule == "network_program_needs_active_agreement"
    assert "does not list" in caught.value.detail


def test_a_network_program_is_not_published_under_a_terminated_agreement(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    agreement = active_agreement(
        app,
        app.get_program(pid).municipality,
        terms([(school, "base"), (provider, "participant")], [pid]),
    )
    app.terminate_agreement(
        META, agreement, reason="Расторгнут по соглашению сторон", terminated_on=date(2027, 1, 1)
    )
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=agreement)
    assert caught.value.rule == "network_program_needs_active_agreement"
    assert "terminated" in caught.value.detail


def test_an_amended_agreement_counts_with_the_programs_of_its_version_in_force(
    services: Services,
) -> None:
    app = services.app
    provider, school, pid = network(app)
    other = draft_program(app, provider, partners=[school], title="Первая программа")
    approve_all(app, other)
    parties = [(school, "base"), (provider, "participant")]
    place = app.get_program(pid).municipality
    agreement = active_agreement(app, place, terms(parties, [other]))
    # when an amendment adds the program is only proposed, it is not yet in force
    app.propose_amendment(
        META, agreement, terms=terms(parties, [other, pid]), reason="Добавить программу"
    )
    with pytest.raises(RuleViolationError):
        app.publish_program(META, pid, agreement_id=agreement)
    # once the amendment takes effect, the program is published under it
    sign_all(app, agreement)
    app.activate_agreement(META, agreement)
    assert app.get_agreement(agreement).status.value == "amended"
    app.publish_program(META, pid, agreement_id=agreement)
    assert app.get_program(pid).status is ProgramStatus.PUBLISHED


def test_the_programs_own_rules_come_before_the_agreement(services: Services) -> None:
    app = services.app
    place = town()
    provider = register(app, place, "ЦДО")
    school = register(app, place, "СОШ", kind="general_education")
    pid = draft_program(app, provider, partners=[school])
    with pytest.raises(RuleViolationError) as caught:
        app.publish_program(META, pid, agreement_id=uuid4())
    assert caught.value.rule == "program_approved_before_publication"


# -- enrolments -----------------------------------------------------------------------


def test_enrolments_fill_the_program_and_ending_one_frees_a_place(services: Services) -> None:
    app = services.app
    provider = register(app, town(), "ЦДО")
    pid = published_program(app, provider, capacity=2)
    first = enrol(app, pid, "child-a00001", 2015)
    enrol(app, pid, "child-a00002", 2016)
    with pytest.raises(RuleViolationError) as caught:
        enrol(app, pid, "child-a00003", 2015)
    assert caught.value.rule == "program_capacity"
    with pytest.raises(RuleViolationError) as caught:
        app.archive_program(META, pid)
    assert caught.value.rule == "archive_without_active_enrolments"
    app.end_enrolment(META, pid, first, end_date=date(2027, 5, 31))
    enrol(app, pid, "child-a00003", 2015)
    p = app.get_program(pid)
    assert (p.active_enrolments, p.ended_enrolments, p.places_left) == (2, 1, 0)


def test_the_last_place_goes_to_one_of_two_concurrent_enrolments(services: Services) -> None:
    app = services.app
    provider = register(app, town(), "ЦДО")
    pid = published_program(app, provider, capacity=3)
    enrol(app, pid, "child-b00001", 2015)
    enrol(app, pid, "child-b00002", 2015)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            enrol(app, pid, f"child-race{n:02d}", 2015)
            outcome = "enrolled"
        except ConcurrencyConflictError:
            outcome = "conflict"
        except RuleViolationError as e:
            outcome = e.rule
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # exactly one took the last place; the others conflicted or found it full
    assert outcomes.count("enrolled") == 1, outcomes
    assert set(outcomes) <= {"enrolled", "conflict", "program_capacity"}
    p = app.get_program(pid)
    assert (p.active_enrolments, p.capacity) == (3, 3)


def test_an_idempotent_enrolment_is_written_once(services: Services) -> None:
    app = services.app
    provider = register(app, town(), "ЦДО")
    pid = published_program(app, provider)
    ctx = IdempotencyContext(key=f"enrol-{uuid4().hex}", fingerprint="same request")
    eid = uuid4()

    def once() -> CommandResult:
        return app.enrol_child(
            META,
            pid,
            enrolment_id=eid,
            child_id="child-c00001",
            birth_year=2015,
            territory="Central",
            funding_source="paid",
            start_date=date(2026, 9, 1),
            idempotency=ctx,
        )

    first = once()
    head = app.head_position()
    again = once()
    assert again == dataclasses.replace(first, replayed=True)
    assert app.head_position() == head
    assert app.get_program(pid).active_enrolments == 1


def test_a_stale_if_match_is_refused_for_a_program(services: Services) -> None:
    app = services.app
    provider = register(app, town(), "ЦДО")
    pid = draft_program(app, provider)
    with pytest.raises(StaleVersionError):
        app.change_program_capacity(META, pid, capacity=25, expected_version=7)
    app.change_program_capacity(META, pid, capacity=25, expected_version=1)
    assert app.get_program(pid).capacity == 25


def test_an_unknown_program_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.app.approve_program(META, uuid4(), party_id=uuid4())


# -- population -----------------------------------------------------------------------


def test_a_territorys_first_figure_opens_it_and_a_later_one_corrects_it(
    services: Services,
) -> None:
    app = services.app
    place = town()
    first = app.record_population(
        META, municipality=place, territory="Центр", year=2027, children_5_17=4210, source="Росстат"
    )
    assert first.version == 2  # opened and recorded in one save
    corrected = app.record_population(
        META,
        municipality=place,
        territory="Центр",
        year=2027,
        children_5_17=4185,
        source="Росстат, уточнение",
        expected_version=2,
    )
    assert corrected.aggregate_id == first.aggregate_id
    t = app.get_population(place, "Центр")
    assert (t.children_5_17, t.corrections) == ({2027: 4185}, 1)
    last = app.history(t.id)[-1].event
    assert (last.previous, last.children_5_17) == (4210, 4185)  # type: ignore[attr-defined]


def test_population_records_follow_if_match_and_refuse_a_repeat(services: Services) -> None:
    app = services.app
    place = town()
    with pytest.raises(StaleVersionError):
        app.record_population(
            META,
            municipality=place,
            territory="Центр",
            year=2027,
            children_5_17=10,
            source="Росстат",
            expected_version=3,
        )
    with pytest.raises(NotFoundError):
        app.get_population(place, "Центр")
    app.record_population(
        META, municipality=place, territory="Центр", year=2027, children_5_17=10, source="Росстат"
    )
    head = app.head_position()
    with pytest.raises(DomainError) as caught:
        app.record_population(
            META,
            municipality=place,
            territory="Центр",
            year=2027,
            children_5_17=10,
            source="Росстат",
        )
    assert caught.value.extra["rule"] == "population_correction_changes"
    assert app.head_position() == head


def test_children_enrolled_together_are_all_enrolled_or_none(services: Services) -> None:
    app = services.app
    provider = register(app, town(), "ЦДО")
    pid = published_program(app, provider, capacity=3)

    def row(child: str, birth_year: int = 2015) -> dict[str, object]:
        return {
            "enrolment_id": uuid4(),
            "child_id": child,
            "birth_year": birth_year,
            "territory": "Central",
            "funding_source": "municipal_assignment",
            "start_date": date(2026, 9, 1),
        }

    head = app.head_position()
    # one child of the list is too young: nobody is enrolled
    with pytest.raises(RuleViolationError) as caught:
        app.enrol_children(
            META, pid, enrolments=[row("child-d00001"), row("child-d00002", birth_year=2024)]
        )
    assert caught.value.rule == "child_age_in_program_range"
    assert app.head_position() == head
    assert app.get_program(pid).active_enrolments == 0
    # a list within the rules is enrolled in one save
    result = app.enrol_children(
        META, pid, enrolments=[row("child-d00001"), row("child-d00002"), row("child-d00003")]
    )
    assert result.version == app.get_program(pid).version
    assert app.get_program(pid).places_left == 0
