"""The audit chain on PostgreSQL: the chain process, checkpoints, and tampering found by verify.

Every test here tampers with (or counts on) the whole events table, so each runs on a
throw-away database of its own, never on the session database other tests share. Rows are
changed the way an intruder with database access would: plain SQL on the events table.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.errors import ValidationError
from domain.values import EventMeta
from interagency import evidence
from interagency.services import Services
from interagency.settings import ConnectionParams
from interagency.signing import Signer, SigningKeyError, load_signing_key
from projections import chain
from projections.chain import ChainBrokenError, ChainProjector, ChainResetRefusedError
from tests.conftest import settings_for, wait_projected

META = EventMeta(actor_id="auditor-test", actor_role="official", actor_agency="education")


@pytest.fixture
def own(own: Callable[..., Services]) -> Callable[..., Services]:
    """Fresh databases (checkpoint every 5 events, no interval unless overridden)."""

    def make(**overrides: Any) -> Services:
        return own(**{"checkpoint_every": 5, "checkpoint_interval_seconds": 0, **overrides})

    return make


def write(services: Services, n: int) -> list[int]:
    """``n`` commands of one event each; their positions."""
    return [
        services.app.initiate_project(
            META,
            title=f"Project {i}",
            goal="Evidence",
            municipality="Chain town",
            lead_agency="education",
            agencies=["education", "culture"],
        ).position
        for i in range(n)
    ]


def sql_on(services: Services, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Runs SQL as an intruder would: outside the application, on its own connection."""
    table = services.app.pg_recorder.events_table_name
    with psycopg.connect(services.params.conninfo(), autocommit=True) as conn:
        cur = conn.execute(statement.replace("EVENTS", f'"{table}"'), params)
        return cur.fetchall() if cur.description else []


def burn_positions(services: Services, n: int) -> None:
    """Leaves a gap of ``n`` positions, as rolled-back inserts do."""
    for _ in range(n):
        sql_on(services, "SELECT nextval(pg_get_serial_sequence('EVENTS', 'notification_id'))")


def verify(services: Services, lo: int = 1, hi: int | None = None) -> evidence.ChainReport:
    return services.audit_chain.verify(lo, hi).report


def breaks(report: evidence.ChainReport) -> list[tuple[int | None, str]]:
    return [(b.position, b.kind) for b in report.breaks]


# -- the chain process ----------------------------------------------------------------------


def test_the_chain_holds_one_entry_per_stored_event_in_order_with_signed_checkpoints(
    own: Callable[..., Services],
) -> None:
    services = own()
    positions = write(services, 7)
    burn_positions(services, 2)
    positions += write(services, 5)

    chained = services.chain_projector.catch_up()

    assert chained == 12
    with services.datastore.transaction() as curs:
        entries = services.audit_chain.read_entries(curs, 1, 10_000)
        rows = services.audit_chain.read_events(curs, 1, None)
        checkpoints = services.audit_chain.read_checkpoints(curs, 1, 10_000)
    assert [e.position for e in entries] == positions
    assert positions[7] - positions[6] == 3, "the burnt positions are a gap in the log"
    # Recomputed from the raw rows, with the module alone: the same chain.
    prev = evidence.GENESIS
    for row, entry in zip(rows, entries, strict=True):
        assert entry == evidence.chain_entry(row, prev)
        prev = entry.entry_hash
    # Every 5th entry, and the head once caught up; each signature holds.
    assert [c.position for c in checkpoints] == [positions[4], positions[9], positions[11]]
    assert all(evidence.checkpoint_problem(c) is None for c in checkpoints)
    assert {c.key_id for c in checkpoints} == {
        evidence.key_id(services.chain_projector.signer.public_key())
    }
    report = verify(services)
    assert report.ok
    assert report.events_checked == report.entries_checked == 12
    assert report.checkpoints_checked == 3
    assert services.audit_chain.position() == positions[-1]


def test_the_worker_keeps_the_chain_at_the_head_like_any_projection(
    own: Callable[..., Services],
) -> None:
    services = own()
    worker = services.worker()
    worker.start()
    try:
        last = write(services, 3)[-1]
        wait_projected(services, last)
        assert services.audit_chain.position() == last
        assert services.audit_chain.latest_checkpoint() is not None
    finally:
        worker.stop()
    assert verify(services).ok


def test_two_chain_processes_at_once_chain_every_event_exactly_once(
    own: Callable[..., Services],
) -> None:
    services = own(checkpoint_every=4)
    positions = write(services, 40)
    projectors = [
        ChainProjector(
            services.audit_chain,
            services.app.pg_recorder,
            services.app.mapper,
            Signer(services.settings),
            batch_size=3,
            checkpoint_every=4,
            checkpoint_interval=0,
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(2, timeout=10)

    def run(p: ChainProjector) -> int:
        barrier.wait()
        return p.catch_up()

    with ThreadPoolExecutor(max_workers=2) as pool:
        applied = list(pool.map(run, projectors))

    assert sum(applied) == 40
    with services.datastore.transaction() as curs:
        assert [e.position for e in services.audit_chain.read_entries(curs, 1, 10**6)] == positions
    assert verify(services).ok


def test_the_chain_is_never_reset_once_it_holds_evidence(own: Callable[..., Services]) -> None:
    services = own()
    # An empty chain loses nothing: a reset is allowed (a rebuild of everything does it).
    services.chain_projector.reset()
    write(services, 2)
    services.chain_projector.catch_up()

    with pytest.raises(ChainResetRefusedError, match="never rebuilt"):
        services.chain_projector.reset()
    with (
        pytest.raises(ChainResetRefusedError),
        services.datastore.transaction(commit=True) as curs,
    ):
        services.audit_chain.truncate(curs)
    assert services.audit_chain.position() > 0
    assert verify(services).entries_checked == 2


# -- tampering found by verify ---------------------------------------------------------------


def test_one_changed_byte_of_one_stored_event_is_found_at_its_position(
    own: Callable[..., Services],
) -> None:
    services = own()
    positions = write(services, 12)
    services.chain_projector.catch_up()
    victim = positions[6]

    # One byte of the state, changed in place: 0x01 flipped at offset 10.
    sql_on(
        services,
        "UPDATE EVENTS SET state = set_byte(state, 10, get_byte(state, 10) # 1) "
        "WHERE notification_id = %s",
        victim,
    )

    report = verify(services)
    assert breaks(report) == [(victim, "altered")]
    assert report.first_break is not None
    assert "state" in report.first_break.detail
    # A range that does not include it is still clean; one that does finds it.
    assert verify(services, 1, victim - 1).ok
    assert breaks(verify(services, victim, victim)) == [(victim, "altered")]


@pytest.mark.parametrize(
    "change",
    [
        "topic = topic || ' '",
        "originator_version = originator_version + 1000",
        "originator_id = gen_random_uuid()",
    ],
)
def test_a_changed_topic_version_or_originator_is_found_too(
    own: Callable[..., Services], change: str
) -> None:
    services = own()
    positions = write(services, 4)
    services.chain_projector.catch_up()

    statement = f"UPDATE EVENTS SET {change} WHERE notification_id = %s"  # noqa: S608 - fixed
    sql_on(services, statement, positions[2])

    assert breaks(verify(services)) == [(positions[2], "altered")]


def test_a_deleted_event_row_is_found_at_its_position(own: Callable[..., Services]) -> None:
    services = own()
    positions = write(services, 8)
    services.chain_projector.catch_up()

    sql_on(services, "DELETE FROM EVENTS WHERE notification_id = %s", positions[3])

    assert breaks(verify(services)) == [(positions[3], "deleted")]


def test_a_row_inserted_below_the_chain_head_is_found_at_its_position(
    own: Callable[..., Services],
) -> None:
    services = own()
    positions = write(services, 3)
    burn_positions(services, 1)  # a gap, as a rolled-back write leaves
    positions += write(services, 3)
    services.chain_projector.catch_up()
    gap = positions[2] + 1

    # An intruder fills the gap with a plausible event, copied from another one.
    sql_on(
        services,
        "INSERT INTO EVENTS (originator_id, originator_version, topic, state, notification_id) "
        "SELECT gen_random_uuid(), 1, topic, state, %s FROM EVENTS WHERE notification_id = %s",
        gap,
        positions[0],
    )

    report = verify(services)
    assert breaks(report) == [(gap, "inserted")]
    assert "inserted out of band" in report.breaks[0].detail


def test_a_row_appended_after_the_chain_head_is_only_pending_until_chained(
    own: Callable[..., Services],
) -> None:
    # What the chain cannot tell: an append at the end looks like a write. verify shows it
    # as not yet chained; once the chain process has chained it, it is part of the record.
    services = own()
    positions = write(services, 3)
    services.chain_projector.catch_up()
    appended = sql_on(
        services,
        "INSERT INTO EVENTS (originator_id, originator_version, topic, state) "
        "SELECT gen_random_uuid(), 1, topic, state FROM EVENTS WHERE notification_id = %s "
        "RETURNING notification_id",
        positions[0],
    )[0][0]

    before = verify(services)
    assert before.ok
    assert (before.unchained_count, before.first_unchained) == (1, appended)

    services.chain_projector.catch_up()
    after = verify(services)
    assert after.ok
    assert after.unchained_count == 0
    assert after.entries_checked == 4


def test_a_chain_rewritten_after_a_change_is_caught_by_the_next_signed_checkpoint(
    own: Callable[..., Services],
) -> None:
    services = own()
    positions = write(services, 10)
    services.chain_projector.catch_up()
    victim = positions[1]

    # The intruder changes an event and recomputes every chain entry from there on, but
    # cannot sign: the checkpoint at the 5th position still holds the old hash.
    sql_on(
        services,
        "UPDATE EVENTS SET state = set_byte(state, 3, get_byte(state, 3) # 1) "
        "WHERE notification_id = %s",
        victim,
    )
    with services.datastore.transaction(commit=True) as curs:
        rows = services.audit_chain.read_events(curs, 1, None)
        prev = evidence.GENESIS
        for row in rows:
            entry = evidence.chain_entry(row, prev)
            prev = entry.entry_hash
            curs.execute(
                "UPDATE audit_chain SET event_hash = %s, prev_hash = %s, entry_hash = %s "
                "WHERE position = %s",
                (entry.event_hash, entry.prev_hash, entry.entry_hash, entry.position),
            )

    report = verify(services)
    assert breaks(report)[0] == (positions[4], "checkpoint")
    assert "rewritten" in report.breaks[0].detail


def test_removed_chain_entries_at_the_end_are_found_and_stop_the_chain_process(
    own: Callable[..., Services],
) -> None:
    services = own(checkpoint_every=100)
    positions = write(services, 6)
    services.chain_projector.catch_up()  # signs the head: positions[-1]
    # The intruder removes the last two events and their chain entries.
    sql_on(services, "DELETE FROM EVENTS WHERE notification_id >= %s", positions[4])
    with services.datastore.transaction(commit=True) as curs:
        curs.execute("DELETE FROM audit_chain WHERE position >= %s", (positions[4],))

    report = verify(services)
    assert (positions[-1], "truncated") in breaks(report)
    assert (positions[-1], "checkpoint") in breaks(report)
    write(services, 1)
    with pytest.raises(ChainBrokenError, match="changed out of band"):
        services.chain_projector.run_batch()


# -- limits and keys ------------------------------------------------------------------------


def test_verify_refuses_a_range_longer_than_its_limit_and_pages_instead(
    own: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = own()
    positions = write(services, 5)
    services.chain_projector.catch_up()
    monkeypatch.setattr(chain, "MAX_SPAN", 3)

    with pytest.raises(ValidationError, match="at most 3 positions"):
        services.audit_chain.verify(1, 4)
    with pytest.raises(ValidationError, match="must not be before"):
        services.audit_chain.verify(4, 2)

    first = services.audit_chain.verify(positions[0], None)
    assert (first.from_position, first.to_position) == (positions[0], positions[2])
    assert first.next_from == positions[3]
    second = services.audit_chain.verify(first.next_from, None)
    assert second.report.ok
    assert second.next_from is None
    assert first.report.entries_checked + second.report.entries_checked == 5


def test_a_missing_key_is_generated_once_in_the_data_folder_and_kept(
    tmp_path: Path, pg: ConnectionParams
) -> None:
    settings = settings_for(pg, data_dir=tmp_path / "data", signing_key_file=None)

    first = load_signing_key(settings)
    again = load_signing_key(settings)

    path = tmp_path / "data" / "audit-signing-key.pem"
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = evidence.raw_public_key(first.public_key())
    assert raw == evidence.raw_public_key(again.public_key())
    assert Signer(settings).sign(1, bytes(32)).key_id == evidence.key_id(raw)


def test_a_configured_key_that_is_missing_or_not_ed25519_is_an_error(
    tmp_path: Path, pg: ConnectionParams
) -> None:
    missing = settings_for(pg, signing_key_file=tmp_path / "nope.pem")
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signing_key(missing)
    assert not (tmp_path / "nope.pem").exists(), "a configured key is never generated"

    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM"):
        load_signing_key(settings_for(pg, signing_key_file=tmp_path / "junk.pem"))
