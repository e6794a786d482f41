"""Value objects and input helpers shared by every aggregate."""

from __future__ import annotations

import pytest

from domain.errors import RuleViolationError, ValidationError
from domain.values import Agency, EventMeta, Mechanism, parse_code, require_text


def test_a_known_code_parses_to_its_enum_member() -> None:
    assert parse_code(Agency, "sport", "lead_agency") is Agency.SPORT
    assert parse_code(Mechanism, "working_groups", "mechanism") is Mechanism.WORKING_GROUPS


def test_an_unknown_code_is_invalid_input_naming_the_field_and_the_allowed_codes() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_code(Agency, "Sport", "agencies")
    assert caught.value.extra == {"field": "agencies"}
    assert caught.value.detail.startswith("agencies: unknown code 'Sport'")
    assert all(a.value in caught.value.detail for a in Agency)


def test_required_text_is_stripped() -> None:
    assert require_text("  Протокол №1 \n", "reason") == "Протокол №1"


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_blank_required_text_is_invalid_input_naming_the_field(blank: str) -> None:
    with pytest.raises(ValidationError) as caught:
        require_text(blank, "reason")
    assert caught.value.extra["field"] == "reason"


def test_required_text_may_reach_but_not_pass_its_maximum_length() -> None:
    assert require_text("я" * 10, "title", 10) == "я" * 10
    with pytest.raises(ValidationError) as caught:
        require_text("я" * 11, "title", 10)
    assert caught.value.extra["field"] == "title"


def test_because_keeps_who_and_which_request_and_replaces_the_why() -> None:
    # given a meta that already carries an earlier reason
    meta = EventMeta(
        actor_id="official-1",
        actor_role="official",
        actor_agency="culture",
        correlation_id="req-42",
        reason="earlier",
        basis_document="earlier doc",
        decision_ref="earlier decision",
    )
    # when
    why = meta.because("Решение комиссии", decision_ref="Протокол №3")
    # then
    assert why == EventMeta(
        actor_id="official-1",
        actor_role="official",
        actor_agency="culture",
        correlation_id="req-42",
        reason="Решение комиссии",
        basis_document=None,
        decision_ref="Протокол №3",
    )
    assert meta.reason == "earlier"  # the original is unchanged (frozen)


def test_a_rule_violation_names_its_rule_in_the_error_and_its_extra() -> None:
    error = RuleViolationError("gate_needs_basis", "needs a basis", stage="regulatory_base")
    assert error.rule == "gate_needs_basis"
    assert error.extra == {"rule": "gate_needs_basis", "stage": "regulatory_base"}
    assert str(error) == error.detail == "needs a basis"
