"""The Organization aggregate: INN checksums, the licence register entries, reorganisation.

Pure domain: no database. The licence lifecycle is also driven by a hypothesis state machine
against a model of the rules; references of other aggregates to organisations are checked in
the application (tests/integration) and the API (tests/e2e).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper, StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError, RuleViolationError, ValidationError
from domain.organization import (
    EDUCATIONAL_KINDS,
    InnIndex,
    LicenceStatus,
    LicenceSubKind,
    NameChange,
    Organization,
    ReorganizationForm,
    inn_with_check_digits,
    validate_inn,
)
from domain.project import ProjectOrganization
from domain.values import Agency, OrganizationKind
from domain.working_group import WorkingGroup
from tests.unit.conftest import META, event_names

ISSUED = date(2022, 3, 15)
ADDITIONAL = LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS.value

# Published INNs of real organisations and an individual: their check digits are right.
KNOWN_VALID = [
    "7707083893",  # ПАО Сбербанк
    "7736050003",  # ПАО «Газпром»
    "7728168971",  # АО «Альфа-Банк»
    "500100732259",  # an individual (12 digits, two check digits)
]


def register(**overrides: Any) -> Organization:
    kwargs: dict[str, Any] = {
        "organization_id": uuid4(),
        "name": "МБУ ДО «Центр детского творчества»",
        "inn": "7707083893",
        "kind": "additional_education",
        "agency": "education",
        "founder": "Управление образования",
        "municipality": "Северный муниципальный район",
        "address": "рп Северный, ул. Центральная, 12",
    }
    kwargs.update(overrides)
    return Organization.register(META, **kwargs)


def licensed(
    sub_kinds: list[str] | None = None, issued_on: date = ISSUED
) -> tuple[Organization, UUID]:
    o = register()
    licence_id = uuid4()
    o.register_licence(
        META,
        licence_id=licence_id,
        number="Л035-01234-24/00123456",
        sub_kinds=sub_kinds or [ADDITIONAL],
        issued_on=issued_on,
        issuer="Министерство образования края",
    )
    o.collect_events()
    return o, licence_id


def snapshot(o: Organization) -> dict[str, Any]:
    return {
        "fields": (o.name, o.inn, o.kind, o.agency, o.founder, o.municipality, o.address),
        "licences": dict(o.licences),
        "names": list(o.names),
        "reorganizations": list(o.reorganizations),
        "version": o.version,
        "pending": tuple(o.pending_events),
    }


def assert_refused(
    o: Organization, command: Callable[[], object], error: type[DomainError], rule: str | None
) -> DomainError:
    """The command is refused with ``error`` (naming ``rule``) and changes nothing."""
    before = snapshot(o)
    with pytest.raises(error) as caught:
        command()
    assert snapshot(o) == before
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
        assert caught.value.extra["rule"] == rule
    return caught.value


# -- INN ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inn", KNOWN_VALID)
def test_known_valid_inns_pass_their_checksum(inn: str) -> None:
    assert validate_inn(inn) == inn
    assert validate_inn(f"  {inn} ") == inn


@pytest.mark.parametrize("inn", KNOWN_VALID)
def test_the_check_digits_of_known_inns_are_computed_from_their_prefix(inn: str) -> None:
    prefix = inn[:9] if len(inn) == 10 else inn[:10]
    assert inn_with_check_digits(prefix) == inn


@pytest.mark.parametrize(
    ("inn", "why"),
    [
        ("7707083894", "check digit"),  # Sberbank's, last digit changed
        ("500100732250", "check digit"),  # second check digit wrong
        ("500100732269", "check digit"),  # first check digit wrong
        ("770708389", "10 digits"),
        ("77070838931", "10 digits"),
        ("7707O83893", "10 digits"),  # a letter O
        ("７７０７０８３８９３", "10 digits"),  # full-width digits are digits, not ASCII
        ("", "10 digits"),
        ("0000000000", "region code"),
    ],
)
def test_malformed_inns_are_invalid_input_naming_the_field(inn: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_inn(inn)
    assert caught.value.extra["field"] == "inn"
    assert why in caught.value.detail


prefixes_9 = st.from_regex(r"\A(0[1-9]|[1-9][0-9])[0-9]{7}\Z")
prefixes_10 = st.from_regex(r"\A(0[1-9]|[1-9][0-9])[0-9]{8}\Z")


@given(prefixes_9, st.integers(1, 9))
def test_a_legal_entity_inn_is_valid_with_its_check_digit_and_with_no_other(
    prefix: str, shift: int
) -> None:
    inn = inn_with_check_digits(prefix)
    assert validate_inn(inn) == inn
    wrong = prefix + str((int(inn[-1]) + shift) % 10)
    with pytest.raises(ValidationError):
        validate_inn(wrong)


@given(prefixes_10, st.integers(0, 1), st.integers(1, 9))
def test_an_individual_inn_is_valid_only_with_both_check_digits_right(
    prefix: str, which: int, shift: int
) -> None:
    inn = inn_with_check_digits(prefix)
    assert len(inn) == 12
    assert validate_inn(inn) == inn
    digits = list(inn)
    position = 10 + which
    digits[position] = str((int(digits[position]) + shift) % 10)
    with pytest.raises(ValidationError):
        validate_inn("".join(digits))


@given(st.text(max_size=14))
def test_validate_inn_answers_a_valid_inn_or_invalid_input_and_nothing_else(text: str) -> None:
    try:
        inn = validate_inn(text)
    except ValidationError:
        return
    assert inn.isascii()
    assert inn.isdigit()
    assert len(inn) in (10, 12)


def test_the_inn_index_id_is_derived_from_the_inn_alone() -> None:
    a = InnIndex.index(META, inn="7707083893", organization_id=uuid4())
    b = InnIndex.index(META, inn=" 7707083893 ", organization_id=uuid4())
    c = InnIndex.index(META, inn="7736050003", organization_id=uuid4())
    assert a.id == b.id == InnIndex.id_for("7707083893")
    assert c.id != a.id
    with pytest.raises(ValidationError):
        InnIndex.index(META, inn="7707083894", organization_id=uuid4())


# -- registration and renaming ------------------------------------------------------------


def test_a_registered_organisation_has_its_fields_no_licences_and_its_first_name() -> None:
    o = register(name="  МБОУ СОШ № 5 ", kind="general_education", inn=" 7736050003")
    (event,) = o.collect_events()
    assert isinstance(event, Organization.OrganizationRegistered)
    assert event.meta == META
    assert (o.name, o.inn, o.kind, o.agency) == (
        "МБОУ СОШ № 5",
        "7736050003",
        OrganizationKind.GENERAL_EDUCATION,
        Agency.EDUCATION,
    )
    assert o.licences == {}
    assert [(n.name, n.via) for n in o.names] == [("МБОУ СОШ № 5", NameChange.REGISTERED)]
    assert o.is_educational
    assert not o.licensed_for_additional_education(date(2030, 1, 1))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"inn": "7707083894"}, "inn"),
        ({"kind": "school"}, "kind"),
        ({"agency": "police"}, "agency"),
        ({"name": "   "}, "name"),
        ({"address": ""}, "address"),
        ({"founder": "x" * 501}, "founder"),
    ],
)
def test_registration_refuses_invalid_input_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        register(**overrides)
    assert caught.value.extra["field"] == field


@pytest.mark.parametrize("kind", list(OrganizationKind))
def test_an_organisation_is_educational_exactly_for_the_four_educational_kinds(
    kind: OrganizationKind,
) -> None:
    expected = kind in {
        OrganizationKind.GENERAL_EDUCATION,
        OrganizationKind.ADDITIONAL_EDUCATION,
        OrganizationKind.PROFESSIONAL_EDUCATION,
        OrganizationKind.HIGHER_EDUCATION,
    }
    assert register(kind=kind.value).is_educational is expected
    assert (kind in EDUCATIONAL_KINDS) is expected


def test_a_rename_keeps_the_previous_name_in_the_history() -> None:
    o = register(name="МБОУ СОШ № 5")
    o.collect_events()
    o.rename(META.because("Приказ № 7"), name="МБОУ «Лицей № 5»")
    (event,) = o.collect_events()
    assert isinstance(event, Organization.OrganizationRenamed)
    assert (event.name, event.previous_name) == ("МБОУ «Лицей № 5»", "МБОУ СОШ № 5")
    assert event.meta.reason == "Приказ № 7"
    assert o.name == "МБОУ «Лицей № 5»"
    assert [(n.name, n.via) for n in o.names] == [
        ("МБОУ СОШ № 5", NameChange.REGISTERED),
        ("МБОУ «Лицей № 5»", NameChange.RENAMED),
    ]


def test_a_rename_to_the_same_name_is_refused_and_names_its_rule() -> None:
    o = register(name="МБОУ СОШ № 5")
    o.collect_events()
    error = assert_refused(
        o,
        lambda: o.rename(META, name=" МБОУ СОШ № 5 "),
        RuleViolationError,
        "rename_to_different_name",
    )
    assert "different name" in error.detail
    assert_refused(o, lambda: o.rename(META, name=""), ValidationError, None)


# -- reorganisation -----------------------------------------------------------------------


def test_a_reorganisation_changes_the_given_fields_and_keeps_id_inn_licences_history() -> None:
    o, _ = licensed()
    oid, inn, licences = o.id, o.inn, dict(o.licences)
    o.reorganize(
        META,
        form="transformation",
        effective_on=date(2027, 9, 1),
        name="МАУ ДО «Центр детского творчества»",
        founder="Комитет образования",
    )
    (event,) = o.collect_events()
    assert isinstance(event, Organization.OrganizationReorganized)
    # the event carries every new value, changed or not
    assert (event.form, event.effective_on, event.kind, event.agency) == (
        "transformation",
        date(2027, 9, 1),
        "additional_education",
        "education",
    )
    assert (event.name, event.founder, event.address) == (
        "МАУ ДО «Центр детского творчества»",
        "Комитет образования",
        "рп Северный, ул. Центральная, 12",
    )
    assert (o.id, o.inn, o.licences) == (oid, inn, licences)
    assert (o.name, o.founder, o.kind) == (
        "МАУ ДО «Центр детского творчества»",
        "Комитет образования",
        OrganizationKind.ADDITIONAL_EDUCATION,
    )
    assert [(n.name, n.since, n.via) for n in o.names][1:] == [
        ("МАУ ДО «Центр детского творчества»", date(2027, 9, 1), NameChange.REORGANIZED)
    ]
    assert [(r.form, r.effective_on) for r in o.reorganizations] == [
        (ReorganizationForm.TRANSFORMATION, date(2027, 9, 1))
    ]
    assert o.licensed_for_additional_education(date(2027, 9, 2))


def test_a_reorganisation_may_change_kind_and_agency_and_keep_the_name() -> None:
    o = register(kind="culture", agency="culture", name="МБУК «Дом культуры»")
    o.collect_events()
    o.reorganize(META, form="accession", effective_on=date(2027, 1, 1), kind="additional_education")
    assert (o.kind, o.agency, o.name) == (
        OrganizationKind.ADDITIONAL_EDUCATION,
        Agency.CULTURE,
        "МБУК «Дом культуры»",
    )
    assert o.is_educational
    assert len(o.names) == 1, "an unchanged name adds nothing to the history of names"


def test_reorganisations_are_recorded_in_date_order_and_forms_are_codes() -> None:
    o = register()
    o.reorganize(META, form="separation", effective_on=date(2027, 6, 1))
    o.collect_events()
    assert_refused(
        o,
        lambda: o.reorganize(META, form="merger", effective_on=date(2027, 5, 31)),
        RuleViolationError,
        "reorganizations_in_order",
    )
    error = assert_refused(
        o,
        lambda: o.reorganize(META, form="liquidation", effective_on=date(2027, 7, 1)),
        ValidationError,
        None,
    )
    assert error.extra["field"] == "form"
    assert_refused(
        o,
        lambda: o.reorganize(META, form="merger", effective_on=date(2027, 7, 1), kind="x"),
        ValidationError,
        None,
    )


# -- licences -----------------------------------------------------------------------------


def test_a_registered_licence_is_active_from_its_issue_date() -> None:
    o = register()
    o.collect_events()
    licence_id = uuid4()
    o.register_licence(
        META,
        licence_id=licence_id,
        number=" Л035-01234-24/00123456 ",
        sub_kinds=[ADDITIONAL, "preschool", ADDITIONAL],
        issued_on=ISSUED,
        issuer="Министерство образования края",
    )
    (event,) = o.collect_events()
    assert isinstance(event, Organization.LicenceRegistered)
    assert event.sub_kinds == [ADDITIONAL, "preschool"], "sub-kinds once each, in order"
    lic = o.licences[licence_id]
    assert (lic.number, lic.status, lic.status_since, lic.issued_on) == (
        "Л035-01234-24/00123456",
        LicenceStatus.ACTIVE,
        ISSUED,
        ISSUED,
    )
    assert lic.sub_kinds == (
        LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS,
        LicenceSubKind.PRESCHOOL,
    )


def test_a_licence_number_appears_once_in_an_organisation_even_once_terminated() -> None:
    o, licence_id = licensed()
    o.terminate_licence(META, licence_id=licence_id, effective_on=date(2023, 1, 1))
    o.collect_events()
    error = assert_refused(
        o,
        lambda: o.register_licence(
            META,
            licence_id=uuid4(),
            number="л035-01234-24/00123456",
            sub_kinds=[ADDITIONAL],
            issued_on=date(2024, 1, 1),
            issuer="Министерство",
        ),
        RuleViolationError,
        "licence_number_unique",
    )
    assert "Л035-01234-24/00123456" in error.detail


def test_a_licence_lists_at_least_one_known_sub_kind() -> None:
    o = register()
    o.collect_events()

    def with_sub_kinds(sub_kinds: list[str]) -> Callable[[], None]:
        return lambda: o.register_licence(
            META,
            licence_id=uuid4(),
            number="Л-1",
            sub_kinds=sub_kinds,
            issued_on=ISSUED,
            issuer="Министерство",
        )

    for sub_kinds in ([], ["music"]):
        error = assert_refused(o, with_sub_kinds(sub_kinds), ValidationError, None)
        assert error.extra["field"] == "sub_kinds"


def test_the_licence_lifecycle_suspend_reinstate_terminate() -> None:
    o, licence_id = licensed()
    on = date(2027, 1, 10)
    assert o.licensed_for_additional_education(on)
    o.suspend_licence(META, licence_id=licence_id, effective_on=date(2026, 11, 1))
    assert o.licences[licence_id].status is LicenceStatus.SUSPENDED
    assert o.licences[licence_id].status_since == date(2026, 11, 1)
    assert not o.licensed_for_additional_education(on)
    o.reinstate_licence(META, licence_id=licence_id, effective_on=date(2026, 12, 1))
    assert o.licensed_for_additional_education(on)
    o.terminate_licence(META, licence_id=licence_id, effective_on=date(2027, 1, 1))
    assert o.licences[licence_id].status is LicenceStatus.TERMINATED
    assert not o.licensed_for_additional_education(on)
    assert event_names(o.collect_events()) == [
        "LicenceSuspended",
        "LicenceReinstated",
        "LicenceTerminated",
    ]


@pytest.mark.parametrize(
    ("setup", "command", "rule"),
    [
        ([], "reinstate", "licence_suspended"),
        (["suspend"], "suspend", "licence_active"),
        (["terminate"], "terminate", "licence_terminated_final"),
        (["terminate"], "reinstate", "licence_terminated_final"),
        (["terminate"], "suspend", "licence_terminated_final"),
        (["suspend", "terminate"], "reinstate", "licence_terminated_final"),
    ],
)
def test_licence_transitions_outside_the_state_machine_are_refused_by_name(
    setup: list[str], command: str, rule: str
) -> None:
    o, licence_id = licensed()
    day = ISSUED
    for step in setup:
        day += timedelta(days=1)
        getattr(o, f"{step}_licence")(META, licence_id=licence_id, effective_on=day)
    o.collect_events()
    assert_refused(
        o,
        lambda: getattr(o, f"{command}_licence")(
            META, licence_id=licence_id, effective_on=day + timedelta(days=1)
        ),
        RuleViolationError,
        rule,
    )


def test_a_licence_change_never_takes_effect_before_the_current_status() -> None:
    o, licence_id = licensed()
    error = assert_refused(
        o,
        lambda: o.suspend_licence(
            META, licence_id=licence_id, effective_on=ISSUED - timedelta(days=1)
        ),
        RuleViolationError,
        "licence_dates_in_order",
    )
    assert str(ISSUED) in error.detail
    # the same day as the current status is fine
    o.suspend_licence(META, licence_id=licence_id, effective_on=ISSUED)


def test_an_unknown_licence_is_refused_by_name() -> None:
    o, _ = licensed()
    for command in (o.suspend_licence, o.reinstate_licence, o.terminate_licence):
        assert_refused(
            o,
            functools.partial(command, META, licence_id=uuid4(), effective_on=ISSUED),
            RuleViolationError,
            "licence_exists",
        )


@pytest.mark.parametrize(
    ("sub_kinds", "issued_on", "on", "expected"),
    [
        ([ADDITIONAL], ISSUED, ISSUED, True),
        ([ADDITIONAL], ISSUED, ISSUED - timedelta(days=1), False),
        (["primary_general", "basic_general"], ISSUED, date(2030, 1, 1), False),
        (["additional_professional"], ISSUED, date(2030, 1, 1), False),
        (["basic_general", ADDITIONAL], ISSUED, date(2030, 1, 1), True),
    ],
)
def test_licensed_for_additional_education_needs_that_sub_kind_issued_by_the_date(
    sub_kinds: list[str], issued_on: date, on: date, expected: bool
) -> None:
    o, _ = licensed(sub_kinds, issued_on)
    assert o.licensed_for_additional_education(on) is expected


def test_one_active_licence_suffices_when_another_is_terminated() -> None:
    o, first = licensed()
    second = uuid4()
    o.register_licence(
        META,
        licence_id=second,
        number="Л035-01234-24/00999999",
        sub_kinds=[ADDITIONAL],
        issued_on=date(2024, 1, 1),
        issuer="Министерство образования края",
    )
    o.terminate_licence(META, licence_id=first, effective_on=date(2024, 1, 1))
    assert o.licensed_for_additional_education(date(2024, 6, 1))
    assert not o.licensed_for_additional_education(date(2023, 6, 1))


# -- events through the application's transcodings ----------------------------------------


def test_an_organisation_replayed_from_its_events_is_the_same(mapper: Mapper[Any]) -> None:
    oid = uuid4()
    o = register(organization_id=oid)
    licence_id = uuid4()
    o.register_licence(
        META,
        licence_id=licence_id,
        number="Л-7",
        sub_kinds=[ADDITIONAL],
        issued_on=ISSUED,
        issuer="Министерство",
    )
    o.rename(META, name="Центр «Радуга»")
    o.reorganize(META, form="transformation", effective_on=date(2027, 1, 1), name="АНО «Радуга»")
    o.suspend_licence(META, licence_id=licence_id, effective_on=date(2027, 2, 1))
    o.reinstate_licence(META, licence_id=licence_id, effective_on=date(2027, 3, 1))
    o.terminate_licence(META, licence_id=licence_id, effective_on=date(2027, 4, 1))
    events = o.collect_events()
    stored = [mapper.to_stored_event(e) for e in events]
    decoded = [mapper.to_domain_event(s) for s in stored]
    # every event, dates and UUIDs included, reads back as it was written
    assert [vars(d) for d in decoded] == [vars(e) for e in events]
    rebuilt = functools.reduce(lambda a, e: e.mutate(a), decoded, None)
    assert isinstance(rebuilt, Organization)
    assert snapshot(rebuilt) == snapshot(o)
    assert rebuilt.licences[licence_id].status is LicenceStatus.TERMINATED


# -- references from other aggregates: stored events stay readable ------------------------

GROUP_ID = UUID("5b0c7a1e-2f3d-4e5a-8b6c-7d8e9f0a1b2c")
MEMBER_ID = UUID("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
# A MemberAppointed exactly as stored before members could name a registered organisation.
MEMBER_APPOINTED_V1 = (
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2027-01-15T09:00:00+00:00"},'
    '"meta":{"_type_":"event_meta","_data_":{"actor_id":"official-1","actor_role":"official"}},'
    '"member_id":{"_type_":"uuid_hex","_data_":"' + MEMBER_ID.hex + '"},'
    '"person":"Иванова Мария Петровна","organization":"Управление образования",'
    '"agency":"education","position":"chair","voting":true,'
    '"appointed_on":{"_type_":"date_iso","_data_":"2027-01-15"}}'
).encode()


def test_a_member_appointed_before_the_register_reads_as_naming_no_organisation(
    mapper: Mapper[Any],
) -> None:
    stored = StoredEvent(
        GROUP_ID, 2, "domain.working_group:WorkingGroup.MemberAppointed", MEMBER_APPOINTED_V1
    )
    event = mapper.to_domain_event(stored)
    assert isinstance(event, WorkingGroup.MemberAppointed)
    assert event.organization_id is None
    assert (event.member_id, event.organization, event.appointed_on) == (
        MEMBER_ID,
        "Управление образования",
        date(2027, 1, 15),
    )
    # written again, it is a v2 event
    state = json.loads(mapper.to_stored_event(event).state)
    assert (state["class_version"], state["organization_id"]) == (2, None)


def test_a_project_organisation_stored_without_an_id_reads_as_naming_none() -> None:
    old = {"name": "School No. 5", "kind": "general_education", "agency": "education"}
    org = ProjectOrganization.from_dict(copy.deepcopy(old))
    assert org.organization_id is None
    oid = uuid4()
    new = ProjectOrganization("School No. 5", OrganizationKind.GENERAL_EDUCATION, None, oid)
    assert ProjectOrganization.from_dict(new.as_dict()) == new
    assert new.as_dict()["organization_id"] == str(oid)


# -- the licence lifecycle against a model ------------------------------------------------

ALLOWED = {
    "suspend": {LicenceStatus.ACTIVE},
    "reinstate": {LicenceStatus.SUSPENDED},
    "terminate": {LicenceStatus.ACTIVE, LicenceStatus.SUSPENDED},
}
AFTER = {
    "suspend": LicenceStatus.SUSPENDED,
    "reinstate": LicenceStatus.ACTIVE,
    "terminate": LicenceStatus.TERMINATED,
}


class LicenceLifecycle(RuleBasedStateMachine):
    """Random licence commands, some on unknown licences or with dates out of order.

    A model of each licence (status, since) predicts whether a command is accepted; a
    refused command must change nothing, an accepted one exactly the model's licence.
    """

    @initialize()
    def start(self) -> None:
        self.o = register()
        self.o.collect_events()
        self.model: dict[UUID, tuple[LicenceStatus, date, str, bool]] = {}
        self.numbers: list[str] = []

    @rule(
        number=st.sampled_from(["Л-1", "Л-2", "л-2", "Л-3", "Л-4"]),
        days=st.integers(0, 3000),
        additional=st.booleans(),
    )
    def register_licence(self, number: str, days: int, additional: bool) -> None:
        licence_id = uuid4()
        issued_on = ISSUED + timedelta(days=days)
        sub_kinds = [ADDITIONAL] if additional else ["basic_general"]

        def command() -> None:
            self.o.register_licence(
                META,
                licence_id=licence_id,
                number=number,
                sub_kinds=sub_kinds,
                issued_on=issued_on,
                issuer="Министерство",
            )

        if number.casefold() in self.numbers:
            assert_refused(self.o, command, RuleViolationError, "licence_number_unique")
            return
        command()
        self.numbers.append(number.casefold())
        self.model[licence_id] = (LicenceStatus.ACTIVE, issued_on, number, additional)

    @rule(
        command=st.sampled_from(sorted(ALLOWED)),
        pick=st.integers(0, 100),
        days=st.integers(-30, 400),
    )
    def change(self, command: str, pick: int, days: int) -> None:
        ids = list(self.model)
        unknown = not ids or pick % 7 == 0
        licence_id = uuid4() if unknown else ids[pick % len(ids)]
        since = self.model[licence_id][1] if not unknown else ISSUED
        effective_on = since + timedelta(days=days)
        run = functools.partial(
            getattr(self.o, f"{command}_licence"),
            META,
            licence_id=licence_id,
            effective_on=effective_on,
        )
        if unknown:
            assert_refused(self.o, run, RuleViolationError, "licence_exists")
            return
        status, _, number, additional = self.model[licence_id]
        if status is LicenceStatus.TERMINATED:
            assert_refused(self.o, run, RuleViolationError, "licence_terminated_final")
        elif effective_on < since:
            assert_refused(self.o, run, RuleViolationError, "licence_dates_in_order")
        elif status not in ALLOWED[command]:
            expected = "licence_active" if command == "suspend" else "licence_suspended"
            assert_refused(self.o, run, RuleViolationError, expected)
        else:
            others = {k: v for k, v in self.o.licences.items() if k != licence_id}
            run()
            self.model[licence_id] = (AFTER[command], effective_on, number, additional)
            assert {k: v for k, v in self.o.licences.items() if k != licence_id} == others

    @invariant()
    def licences_match_the_model(self) -> None:
        assert {k: (v.status, v.status_since) for k, v in self.o.licences.items()} == {
            k: (status, since) for k, (status, since, _, _) in self.model.items()
        }

    @invariant()
    def licensed_for_additional_education_follows_the_active_licences(self) -> None:
        for on in (ISSUED, ISSUED + timedelta(days=1500), ISSUED + timedelta(days=4000)):
            expected = any(
                status is LicenceStatus.ACTIVE and additional and self.o.licences[k].issued_on <= on
                for k, (status, _, _, additional) in self.model.items()
            )
            assert self.o.licensed_for_additional_education(on) is expected

    @invariant()
    def numbers_are_unique_case_insensitively(self) -> None:
        numbers = [lic.number.casefold() for lic in self.o.licences.values()]
        assert len(numbers) == len(set(numbers))


LicenceLifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
test_licence_lifecycle = LicenceLifecycle.TestCase
