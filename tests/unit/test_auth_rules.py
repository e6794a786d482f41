"""The authorisation rules: pure functions of the principal and what is asked.

Every combination of role, agency and municipality is checked against a table written
out here independently of the code (exhaustive), then hypothesis checks the properties
the issue states (monotone in the agencies taking part, read-only roles never write, ...).
"""

from __future__ import annotations

import itertools
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.values import Agency, Role
from interagency.auth import (
    READS,
    AdminAction,
    AuthenticatedPrincipal,
    Decision,
    PermissionDeniedError,
    ReadKind,
    WriteScope,
    can_administer,
    can_read,
    can_write,
    read_municipality,
    require,
)

HERE, THERE = "Городской округ N", "Северный муниципальный район"
MUNICIPALITIES: list[str | None] = [None, HERE, THERE]
AGENCIES: list[Agency | None] = [None, *Agency]


def principal(
    role: Role, agency: Agency | None = None, municipality: str | None = None
) -> AuthenticatedPrincipal:
    return AuthenticatedPrincipal(
        subject=str(uuid4()),
        name="someone",
        role=role,
        agency=agency,
        municipality=municipality,
        via="token",
    )


EVERY_PRINCIPAL = [
    principal(r, a, m) for r, a, m in itertools.product(Role, AGENCIES, MUNICIPALITIES)
]
EVERY_AGENCY_SET = [
    frozenset(c) for n in range(len(Agency) + 1) for c in itertools.combinations(Agency, n)
]

# The issue's rules, written as a table: which role reads which kind (before municipality).
EXPECTED_READS: dict[Role, set[str]] = {
    Role.OFFICIAL: {"public", "aggregate", "projection", "analytics", "personal"},
    Role.AUDITOR: {"public", "aggregate", "projection", "analytics", "audit", "personal"},
    Role.ANALYST: {"public", "projection", "analytics"},
    Role.ADMIN: {"public", "projection", "audit"},
    Role.SYSTEM: {"public"},
}


def expected_write(p: AuthenticatedPrincipal, scope: WriteScope) -> bool:
    return (
        p.role is Role.OFFICIAL
        and p.municipality == scope.municipality
        and p.agency is not None
        and p.agency in scope.agencies
    )


def expected_read(p: AuthenticatedPrincipal, kind: ReadKind, municipality: str | None) -> bool:
    if kind is ReadKind.PUBLIC:
        return True
    if kind.value not in EXPECTED_READS[p.role]:
        return False
    return p.municipality is None or p.municipality == municipality


# -- exhaustive ------------------------------------------------------------------------


def test_every_write_decision_follows_the_table() -> None:
    checked = 0
    for p in EVERY_PRINCIPAL:
        for m, agencies in itertools.product((HERE, THERE), EVERY_AGENCY_SET):
            scope = WriteScope(m, agencies)
            decision = can_write(p, scope)
            assert decision.allowed is expected_write(p, scope), (p, scope, decision)
            assert decision.rule
            assert decision.reason
            checked += 1
    assert checked == len(EVERY_PRINCIPAL) * 2 * 2 ** len(Agency)


def test_every_read_decision_follows_the_table() -> None:
    for p, kind, m in itertools.product(EVERY_PRINCIPAL, ReadKind, MUNICIPALITIES):
        decision = can_read(p, kind, m)
        assert decision.allowed is expected_read(p, kind, m), (p, kind, m, decision)
        assert decision.rule
        assert decision.reason


def test_the_read_table_in_the_code_is_the_issues_table() -> None:
    assert {r: {k.value for k in kinds} for r, kinds in READS.items()} == EXPECTED_READS


def test_every_admin_action_is_for_admins_only() -> None:
    for p, action in itertools.product(EVERY_PRINCIPAL, AdminAction):
        assert can_administer(p, action).allowed is (p.role is Role.ADMIN)


# -- the issue's sentences, one by one ----------------------------------------------------


def test_an_official_writes_where_their_agency_takes_part_in_their_municipality() -> None:
    p = principal(Role.OFFICIAL, Agency.CULTURE, HERE)
    ok = can_write(p, WriteScope.of(HERE, ["education", "culture"]))
    assert ok.allowed
    assert ok.rule == "official_agency_takes_part"
    other_agency = can_write(p, WriteScope.of(HERE, ["education", "sport"]))
    assert (other_agency.allowed, other_agency.rule) == (False, "official_agency_takes_part")
    assert "culture" in other_agency.reason
    assert "education, sport" in other_agency.reason
    other_place = can_write(p, WriteScope.of(THERE, ["culture"]))
    assert (other_place.allowed, other_place.rule) == (False, "official_own_municipality")


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ANALYST])
def test_auditors_and_analysts_never_write(role: Role) -> None:
    d = can_write(principal(role, Agency.EDUCATION, None), WriteScope.of(HERE, list(Agency)))
    assert (d.allowed, d.rule) == (False, "read_only_role")


def test_admins_manage_principals_and_projections_but_write_no_register() -> None:
    admin = principal(Role.ADMIN)
    d = can_write(admin, WriteScope.of(HERE, list(Agency)))
    assert (d.allowed, d.rule) == (False, "admins_manage_principals_and_projections")
    assert can_administer(admin, AdminAction.MANAGE_PRINCIPALS)
    assert can_administer(admin, AdminAction.OPERATE_PROJECTIONS)
    refused = can_administer(principal(Role.AUDITOR), AdminAction.MANAGE_PRINCIPALS)
    assert not refused
    assert "auditor" in refused.reason


def test_auditors_read_everything_the_audit_endpoints_included() -> None:
    auditor = principal(Role.AUDITOR)
    for kind, m in itertools.product(ReadKind, MUNICIPALITIES):
        assert can_read(auditor, kind, m).allowed


def test_analysts_see_no_audit_internals_and_no_personal_data() -> None:
    analyst = principal(Role.ANALYST)
    assert can_read(analyst, ReadKind.PROJECTION)
    assert can_read(analyst, ReadKind.ANALYTICS, HERE)
    audit = can_read(analyst, ReadKind.AUDIT)
    assert (audit.allowed, audit.rule) == (False, "audit_for_auditors_and_admins")
    personal = can_read(analyst, ReadKind.PERSONAL, HERE)
    assert (personal.allowed, personal.rule) == (False, "personal_data_for_officials_and_auditors")


def test_officials_read_everything_of_their_municipality_but_the_audit_internals() -> None:
    p = principal(Role.OFFICIAL, Agency.SPORT, HERE)
    for kind in (ReadKind.AGGREGATE, ReadKind.PROJECTION, ReadKind.ANALYTICS, ReadKind.PERSONAL):
        assert can_read(p, kind, HERE), kind
        elsewhere = can_read(p, kind, THERE)
        assert (elsewhere.allowed, elsewhere.rule) == (False, "own_municipality")
        assert not can_read(p, kind, None)
    assert not can_read(p, ReadKind.AUDIT, HERE)


def test_the_public_catalogue_is_open_to_every_principal() -> None:
    for p, m in itertools.product(EVERY_PRINCIPAL, MUNICIPALITIES):
        assert can_read(p, ReadKind.PUBLIC, m).rule == "catalogue_public"


def test_the_system_role_is_no_caller() -> None:
    system = principal(Role.SYSTEM)
    assert not can_write(system, WriteScope.of(HERE, list(Agency)))
    assert not can_read(system, ReadKind.AGGREGATE, HERE)


def test_read_municipality_pins_a_limited_principal_to_its_own() -> None:
    official = principal(Role.OFFICIAL, Agency.EDUCATION, HERE)
    assert read_municipality(official, None) == HERE
    assert read_municipality(official, HERE) == HERE
    with pytest.raises(PermissionDeniedError) as caught:
        read_municipality(official, THERE)
    assert caught.value.rule == "own_municipality"
    analyst = principal(Role.ANALYST)
    assert read_municipality(analyst, None) is None
    assert read_municipality(analyst, THERE) == THERE


def test_require_raises_the_denials_rule_and_passes_an_allowance() -> None:
    require(Decision(True, "r", "fine"))
    with pytest.raises(PermissionDeniedError) as caught:
        require(can_write(principal(Role.ANALYST), WriteScope.of(HERE, ["education"])))
    assert caught.value.rule == "read_only_role"
    assert "never write" in caught.value.detail


def test_the_meta_of_a_principal_names_it_as_the_actor() -> None:
    p = principal(Role.OFFICIAL, Agency.CULTURE, HERE)
    meta = p.meta("req-42")
    assert (meta.actor_id, meta.actor_role, meta.actor_agency, meta.correlation_id) == (
        p.subject,
        "official",
        "culture",
        "req-42",
    )
    assert principal(Role.AUDITOR).meta(None).actor_agency is None


# -- properties ---------------------------------------------------------------------------

principals = st.builds(
    principal,
    st.sampled_from(list(Role)),
    st.sampled_from(AGENCIES),
    st.sampled_from(MUNICIPALITIES),
)
agency_sets = st.frozensets(st.sampled_from(list(Agency)))
scopes = st.builds(WriteScope, st.sampled_from([HERE, THERE]), agency_sets)


@given(principals, scopes, agency_sets)
def test_more_agencies_taking_part_never_take_a_permission_away(
    p: AuthenticatedPrincipal, scope: WriteScope, more: frozenset[Agency]
) -> None:
    wider = WriteScope(scope.municipality, scope.agencies | more)
    assert can_write(p, wider).allowed >= can_write(p, scope).allowed


@given(principals, scopes)
def test_a_write_allowed_is_an_officials_in_scope(
    p: AuthenticatedPrincipal, scope: WriteScope
) -> None:
    if can_write(p, scope):
        assert p.role is Role.OFFICIAL
        assert p.agency in scope.agencies
        assert p.municipality == scope.municipality


@given(principals, st.sampled_from(list(ReadKind)), st.sampled_from(MUNICIPALITIES))
def test_reading_the_own_municipality_is_never_harder_than_reading_across(
    p: AuthenticatedPrincipal, kind: ReadKind, m: str | None
) -> None:
    own = p.municipality if p.municipality is not None else m
    assert can_read(p, kind, own).allowed >= can_read(p, kind, m).allowed


@given(principals, st.sampled_from(MUNICIPALITIES))
def test_a_list_narrowed_by_read_municipality_is_readable_by_whoever_reads_projections(
    p: AuthenticatedPrincipal, requested: str | None
) -> None:
    try:
        effective = read_municipality(p, requested)
    except PermissionDeniedError:
        assert p.municipality is not None
        assert requested not in (None, p.municipality)
        return
    allowed = can_read(p, ReadKind.PROJECTION, effective).allowed
    assert allowed is (ReadKind.PROJECTION in READS[p.role])
