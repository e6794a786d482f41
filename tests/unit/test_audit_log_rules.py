"""The audit log's pure parts: aggregate types from topics, JSON of event data, redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from domain.project import Stage
from projections.audit import (
    REDACTED,
    aggregate_type_of,
    jsonable,
    known_aggregate_types,
    redact,
)


def test_aggregate_types_come_from_the_topics_short_and_stable() -> None:
    assert aggregate_type_of("domain.program:Program.ChildEnrolled") == "program"
    assert aggregate_type_of("domain.project:InteragencyProject.StageGatePassed") == "project"
    assert aggregate_type_of("domain.agreement:NetworkAgreement.AgreementSigned") == "agreement"
    assert aggregate_type_of("domain.assignment:MunicipalAssignment.X") == "assignment"
    assert aggregate_type_of("domain.working_group:WorkingGroup.MotionVoted") == "working_group"
    assert aggregate_type_of("interagency.idempotency:IdempotencyRecord.RequestRecorded") == (
        "idempotency_record"
    )
    # A class not named in the table gets its name in snake_case.
    assert aggregate_type_of("domain.principal:TokenIndex.TokenIndexed") == "token_index"


def test_every_aggregate_of_the_system_has_a_known_type() -> None:
    import interagency.application  # noqa: F401  (loads every aggregate class)

    assert {
        "project",
        "working_group",
        "assignment",
        "redistribution",
        "organization",
        "program",
        "agreement",
        "territory_population",
        "decision_index",
        "inn_index",
        "idempotency_record",
    } <= set(known_aggregate_types())


def test_event_data_becomes_plain_json() -> None:
    uid = UUID(int=7)
    value = {
        "id": uid,
        "on": date(2027, 2, 3),
        "at": datetime(2027, 2, 3, 10, 0, tzinfo=UTC),
        "amount": Decimal("100.50"),
        "stage": Stage.REGULATORY_BASE,
        "ids": [uid, (uid,)],
        "votes": {uid: "for"},
        "nothing": None,
        "flag": True,
        "count": 3,
        "nul": "a\x00b",
    }
    assert jsonable(value) == {
        "id": str(uid),
        "on": "2027-02-03",
        "at": "2027-02-03T10:00:00+00:00",
        "amount": "100.50",
        "stage": "regulatory_base",
        "ids": [str(uid), [str(uid)]],
        "votes": {str(uid): "for"},
        "nothing": None,
        "flag": True,
        "count": 3,
        "nul": "a\ufffdb",
    }


def test_a_childs_id_is_redacted_and_nothing_else() -> None:
    data = {"enrolment_id": "e-1", "child_id": "child-123456", "birth_year": 2015}
    assert redact("program", "ChildEnrolled", data) == {
        "enrolment_id": "e-1",
        "child_id": REDACTED,
        "birth_year": 2015,
    }
    assert redact("program", "EnrolmentEnded", data) == data
    assert redact("project", "ChildEnrolled", data) == data


def test_a_tokens_secret_hash_is_redacted() -> None:
    data = {"token_id": "ab" * 16, "secret_hash": "cd" * 32, "label": "laptop"}
    assert redact("principal", "TokenIssued", data) == {
        "token_id": "ab" * 16,
        "secret_hash": REDACTED,
        "label": "laptop",
    }
