"""Tamper evidence over HTTP: /audit/verify, /audit/digest, /audit/export.

Each test runs the app on a database of its own (``fresh_database``): tampering with the
session database would break every other test's view of the log. Nothing follows these
databases; the tests run the chain process themselves (``chain_projector.catch_up()``).

Tokens minted by the session's credentials do not exist in such a database, so each app
registers its own auditor (who reads the audit endpoints) and an official of "Audit town"
(who writes the projects). Registering them writes events: the log does not start with the
tests' projects, and the expectations count those ``setup`` events too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient

from api.main import create_app
from domain.values import EventMeta
from interagency import evidence
from interagency.cli_principals import add_with_token
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from projections.chain import EXPORT_MAX_SPAN, MAX_SPAN
from tests.conftest import settings_for
from tests.e2e.conftest import ANONYMOUS, API, assert_problem, expect_ok, project_body

TOWN = "Audit town"
SETUP = EventMeta(actor_id="setup", actor_role="system")


@dataclass
class Own:
    """An app over a database of its own: its client reads as an auditor by default."""

    client: TestClient
    services: Services
    official: dict[str, str]  # headers of an education official of TOWN
    setup: int  # the events registering the principals wrote (positions 1..setup)


def bearer(services: Services, role: str, agency: str | None, municipality: str | None) -> str:
    """Registers a principal in that app's own database; the Authorization header's value."""
    issued = add_with_token(
        services.app,
        SETUP,
        name=f"{role}-{agency or 'none'}",
        role=role,
        agency=agency,
        municipality=municipality,
        label=None,
        expires_on=None,
        today=services.settings.today(),
    )
    assert issued.token is not None
    return f"Bearer {issued.token}"


@pytest.fixture
def own_app(
    fresh_database: Callable[[], ConnectionParams],
) -> Iterator[Callable[..., Own]]:
    """The API over a fresh database of its own (checkpoint every 4 events, no interval)."""
    opened: list[Own] = []

    def make(**overrides: Any) -> Own:
        params = fresh_database()
        values: dict[str, Any] = {"checkpoint_every": 4, "checkpoint_interval_seconds": 0}
        values.update(overrides)
        settings = settings_for(params, **values)
        migrate(settings, params)
        services = Services(settings, params)
        client = TestClient(create_app(settings, services))
        client.__enter__()
        client.headers["Authorization"] = bearer(services, "auditor", None, None)
        official = {"Authorization": bearer(services, "official", "education", TOWN)}
        own = Own(client, services, official, services.app.head_position())
        opened.append(own)
        return own

    try:
        yield make
    finally:
        for own in opened:
            own.client.__exit__(None, None, None)
            own.services.close()


def projects(own: Own, n: int) -> list[int]:
    """Initiates ``n`` projects over HTTP (by the official); their positions."""
    return [
        expect_ok(
            own.client.post(f"{API}/projects", json=project_body(TOWN), headers=own.official),
            201,
        )["position"]
        for _ in range(n)
    ]


def checkpoints_up_to(head: int, every: int = 4) -> list[int]:
    """Where one catch-up of a chain from position 1 signs: each ``every`` entries, the head."""
    return sorted({*range(every, head + 1, every), head})


def tamper(services: Services, statement: str, *params: Any) -> None:
    table = services.app.pg_recorder.events_table_name
    with psycopg.connect(services.params.conninfo(), autocommit=True) as conn:
        conn.execute(statement.replace("EVENTS", f'"{table}"'), params)


def test_verify_of_an_untouched_log_is_ok_and_checks_the_signed_checkpoints(
    own_app: Callable[..., Own],
) -> None:
    own = own_app()
    client, services = own.client, own.services
    positions = projects(own, 9)
    services.chain_projector.catch_up()
    assert positions[-1] == own.setup + 9

    body = expect_ok(client.get(f"{API}/audit/verify"))

    assert body["ok"] is True
    assert body["first_break"] is None
    assert body["breaks"] == []
    assert (body["from_position"], body["to_position"]) == (1, positions[-1])
    assert body["events_checked"] == body["entries_checked"] == own.setup + 9
    # every 4th entry and the head
    assert body["checkpoints_checked"] == len(checkpoints_up_to(positions[-1]))
    assert body["chain_position"] == body["event_head"] == positions[-1]
    assert body["entering_hash"] == "0" * 64
    assert body["unchained_events"] == 0
    assert body["next_from"] is None
    assert body["max_span"] == MAX_SPAN
    digest = expect_ok(client.get(f"{API}/audit/digest"))
    assert body["key_ids"] == [digest["key_id"]]
    assert body["last_entry_hash"] == digest["entry_hash"]


def test_a_changed_byte_a_deleted_row_and_an_inserted_row_are_each_reported_at_their_position(
    own_app: Callable[..., Own],
) -> None:
    own = own_app()
    client, services = own.client, own.services
    positions = projects(own, 6)
    tamper(services, "SELECT nextval(pg_get_serial_sequence('EVENTS', 'notification_id'))")
    positions += projects(own, 4)
    services.chain_projector.catch_up()
    gap = positions[5] + 1

    tamper(
        services,
        "UPDATE EVENTS SET state = set_byte(state, 20, get_byte(state, 20) # 4) "
        "WHERE notification_id = %s",
        positions[1],
    )
    tamper(services, "DELETE FROM EVENTS WHERE notification_id = %s", positions[4])
    tamper(
        services,
        "INSERT INTO EVENTS (originator_id, originator_version, topic, state, notification_id) "
        "SELECT gen_random_uuid(), 1, topic, state, %s FROM EVENTS WHERE notification_id = %s",
        gap,
        positions[0],
    )

    body = expect_ok(client.get(f"{API}/audit/verify"))

    assert body["ok"] is False
    assert body["first_break"]["position"] == positions[1]
    assert body["first_break"]["kind"] == "altered"
    assert [(b["position"], b["kind"]) for b in body["breaks"]] == [
        (positions[1], "altered"),
        (positions[4], "deleted"),
        (gap, "inserted"),
    ]
    # Narrower ranges isolate each one.
    later = expect_ok(client.get(f"{API}/audit/verify", params={"from": positions[2]}))
    assert later["first_break"]["position"] == positions[4]
    assert later["first_break"]["kind"] == "deleted"
    clean = expect_ok(
        client.get(f"{API}/audit/verify", params={"from": positions[7], "to": positions[-1]})
    )
    assert clean["ok"] is True


def test_verify_refuses_bad_and_oversized_ranges_with_a_problem(
    own_app: Callable[..., Own],
) -> None:
    own = own_app()
    client = own.client

    too_long = assert_problem(
        client.get(f"{API}/audit/verify", params={"from": 1, "to": MAX_SPAN + 1}), 422
    )
    assert f"at most {MAX_SPAN:,} positions" in too_long["detail"]
    backwards = assert_problem(client.get(f"{API}/audit/verify", params={"from": 5, "to": 2}), 422)
    assert "must not be before" in backwards["detail"]
    assert_problem(client.get(f"{API}/audit/verify", params={"from": 0}), 422)
    assert_problem(client.get(f"{API}/audit/verify", params={"to": "x"}), 422)
    # A log the chain has not reached yet (only the principals' events) verifies
    # trivially: nothing is chained, so nothing is judged.
    empty = expect_ok(client.get(f"{API}/audit/verify"))
    assert empty["ok"] is True
    assert empty["entries_checked"] == 0
    assert empty["unchained_events"] == own.setup
    # Verification is for auditors (and admins): no credential is 401, an official 403.
    anonymous = assert_problem(client.get(f"{API}/audit/verify", headers=ANONYMOUS), 401)
    assert anonymous["reason"] == "missing"
    assert_problem(client.get(f"{API}/audit/verify", headers=own.official), 403)


def test_the_digest_can_be_checked_by_anyone_with_hashlib_and_cryptography(
    own_app: Callable[..., Own],
) -> None:
    own = own_app()
    client, services = own.client, own.services
    assert_problem(client.get(f"{API}/audit/digest"), 404)
    positions = projects(own, 2)
    services.chain_projector.catch_up()

    d = expect_ok(client.get(f"{API}/audit/digest"))

    assert d["position"] == positions[-1]
    assert d["algorithm"] == "Ed25519"
    raw = base64.b64decode(d["public_key_base64"])

    # The message, rebuilt from the guide's layout, is the one signed.
    def lp(b: bytes) -> bytes:
        return struct.pack(">Q", len(b)) + b

    message = (
        lp(b"interagency/audit-chain/checkpoint/v1")
        + struct.pack(">Q", d["position"])
        + bytes.fromhex(d["entry_hash"])
        + lp(d["signed_at"].encode())
        + lp(d["key_id"].encode())
    )
    assert base64.b64decode(d["signed_message_base64"]) == message
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(d["signature_base64"]), message)
    pem_key = load_pem_public_key(d["public_key_pem"].encode())
    assert isinstance(pem_key, Ed25519PublicKey)
    assert evidence.raw_public_key(pem_key) == raw
    assert d["key_id"] == hashlib.sha256(raw).hexdigest()[:32]


def test_an_exported_range_verifies_offline_and_fails_once_a_byte_changes(
    own_app: Callable[..., Own],
) -> None:
    own = own_app()
    client, services = own.client, own.services
    positions = projects(own, 10)
    services.chain_projector.catch_up()
    # The range: four projects that end two entries before a checkpoint (every 4th entry),
    # so the evidence links the range's end to that checkpoint through two more entries.
    signed = next(i for i, p in enumerate(positions[5:-1], 5) if p % 4 == 0)
    start, end = signed - 5, signed - 2

    response = client.get(
        f"{API}/audit/export", params={"from": positions[start], "to": positions[end]}
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    data = response.content
    doc = json.loads(data)
    assert [e["position"] for e in doc["events"]] == positions[start : end + 1]
    assert [c["position"] for c in doc["chain"]] == positions[start : end + 1]
    # The first checkpoint at or after the range's end.
    assert doc["checkpoint"]["position"] == positions[signed]
    assert [c["position"] for c in doc["link"]] == positions[end + 1 : signed + 1]
    report = evidence.verify_evidence(data)
    assert report.ok, report.breaks

    state = bytearray(base64.b64decode(doc["events"][1]["state_base64"]))
    state[5] ^= 0x01
    doc["events"][1]["state_base64"] = base64.b64encode(bytes(state)).decode()
    changed = evidence.verify_evidence(evidence.canonical_bytes(doc))
    assert changed.first_break is not None
    altered = (positions[start + 1], "altered")
    assert (changed.first_break.position, changed.first_break.kind) == altered


def test_export_of_a_range_no_checkpoint_covers_yet_is_a_conflict(
    own_app: Callable[..., Own],
) -> None:
    own = own_app(checkpoint_every=1000, checkpoint_interval_seconds=3600)
    client, services = own.client, own.services
    first = projects(own, 2)
    services.chain_projector.catch_up()  # the first catch-up signs its head
    later = projects(own, 2)
    services.chain_projector.catch_up()  # within the interval: the new head is unsigned

    ok = client.get(f"{API}/audit/export", params={"to": first[-1]})
    assert ok.status_code == 200, ok.text
    problem = assert_problem(client.get(f"{API}/audit/export", params={"to": later[-1]}), 409)
    assert problem["rule"] == "checkpoint_covers_range"
    beyond = assert_problem(client.get(f"{API}/audit/export", params={"to": later[-1] + 50}), 409)
    assert beyond["rule"] == "chain_covers_range"
    nothing = client.get(f"{API}/audit/export", params={"from": later[-1] + 1, "to": later[-1]})
    assert_problem(nothing, 422)
    too_long = client.get(f"{API}/audit/export", params={"from": 1, "to": EXPORT_MAX_SPAN + 1})
    assert f"at most {EXPORT_MAX_SPAN:,} positions" in assert_problem(too_long, 422)["detail"]
