"""The pure tamper-evidence module: encodings, the chain walk, evidence files.

The encodings are checked against an independent re-implementation written from the
auditors' guide (``docs/auditors-guide.md``), so the guide and the code cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from interagency import evidence
from interagency.evidence import GENESIS, ChainEntry, StoredEventRow

KEY = Ed25519PrivateKey.generate()


# -- the guide's recipe, written again without the module -------------------------------


def guide_lp(b: bytes) -> bytes:
    return struct.pack(">Q", len(b)) + b


def guide_event_hash(e: dict[str, Any]) -> bytes:
    return hashlib.sha256(
        guide_lp(b"interagency/audit-chain/event/v1")
        + guide_lp(e["topic"].encode())
        + guide_lp(base64.b64decode(e["state_base64"]))
        + guide_lp(e["originator_id"].encode())
        + struct.pack(">Q", e["originator_version"])
    ).digest()


def guide_entry_hash(position: int, event_hash: bytes, prev: bytes) -> bytes:
    return hashlib.sha256(
        guide_lp(b"interagency/audit-chain/entry/v1")
        + struct.pack(">Q", position)
        + event_hash
        + prev
    ).digest()


# -- builders -----------------------------------------------------------------------------


def row(position: int, state: bytes | None = None, version: int = 1) -> StoredEventRow:
    return StoredEventRow(
        position=position,
        originator_id=uuid4(),
        originator_version=version,
        topic="domain.project:InteragencyProject.Initiated",
        state=state if state is not None else json.dumps({"n": position}).encode(),
    )


def chain_of(rows: list[StoredEventRow], prev: bytes = GENESIS) -> list[ChainEntry]:
    out = []
    for r in rows:
        entry = evidence.chain_entry(r, prev)
        out.append(entry)
        prev = entry.entry_hash
    return out


def log(positions: list[int]) -> tuple[list[StoredEventRow], list[ChainEntry]]:
    rows = [row(p) for p in positions]
    return rows, chain_of(rows)


def exported(positions: list[int], link_after: int = 0) -> bytes:
    """An evidence file over ``positions``, with ``link_after`` entries up to its checkpoint."""
    link_positions = list(range(positions[-1] + 1, positions[-1] + 1 + link_after))
    rows, entries = log(positions + link_positions)
    in_range = len(positions)
    checkpoint = evidence.sign_checkpoint(KEY, entries[-1].position, entries[-1].entry_hash)
    doc = evidence.export_document(
        rows[:in_range], entries[:in_range], entries[in_range:], checkpoint
    )
    return evidence.canonical_bytes(doc)


# -- encodings ----------------------------------------------------------------------------


def test_hashes_follow_the_encoding_the_auditors_guide_gives() -> None:
    r = row(42, state='{"title":"Шахматы"}'.encode(), version=7)
    as_json = evidence.event_json(r)

    assert evidence.event_hash(r) == guide_event_hash(as_json)
    entry = evidence.chain_entry(r, GENESIS)
    assert entry.prev_hash == bytes(32)
    assert entry.entry_hash == guide_entry_hash(42, guide_event_hash(as_json), bytes(32))


def test_a_known_event_hashes_to_pinned_values() -> None:
    # Pinned (and given in the auditors' guide), so a change of encoding is a deliberate
    # act: every stored chain depends on it.
    r = StoredEventRow(
        position=1,
        originator_id=UUID("00000000-0000-4000-8000-000000000001"),
        originator_version=1,
        topic="t",
        state=b"{}",
    )
    digest = evidence.event_hash(r)
    assert digest.hex() == "7a732ab926e82daea3697a280a1b7ea824e106697cc77bdff99d78c227304cd8"
    assert evidence.entry_hash(1, digest, GENESIS).hex() == (
        "05abf206085d2fca1f770205d10dbb510657da3b444764733d0e5d85b68d010c"
    )


def test_every_field_of_a_stored_event_changes_its_hash() -> None:
    r = row(5)
    base = evidence.event_hash(r)
    for changed in (
        replace(r, topic=r.topic + "x"),
        replace(r, state=r.state[:-1] + bytes([r.state[-1] ^ 1])),
        replace(r, originator_id=uuid4()),
        replace(r, originator_version=2),
    ):
        assert evidence.event_hash(changed) != base
    # The position is not part of the event's hash but of the entry's.
    assert evidence.event_hash(replace(r, position=6)) == base
    assert evidence.entry_hash(5, base, GENESIS) != evidence.entry_hash(6, base, GENESIS)


def test_a_checkpoint_signature_verifies_with_its_public_key_alone() -> None:
    cp = evidence.sign_checkpoint(KEY, 9, bytes(range(32)))
    public = Ed25519PublicKey.from_public_bytes(cp.public_key)
    public.verify(cp.signature, cp.message())
    assert cp.key_id == hashlib.sha256(cp.public_key).hexdigest()[:32]
    assert evidence.checkpoint_problem(cp) is None
    assert evidence.checkpoint_problem(replace(cp, position=10)) is not None
    assert evidence.checkpoint_problem(replace(cp, signed_at="2000-01-01T00:00:00.000000Z"))
    other = evidence.sign_checkpoint(Ed25519PrivateKey.generate(), 9, bytes(range(32)))
    assert evidence.checkpoint_problem(replace(cp, public_key=other.public_key)) is not None
    assert "fingerprint" in (evidence.checkpoint_problem(replace(cp, key_id="0" * 32)) or "")


# -- the walk -----------------------------------------------------------------------------


def test_an_untouched_log_with_gaps_walks_clean() -> None:
    rows, entries = log([1, 2, 5, 6, 9])
    cp = evidence.sign_checkpoint(KEY, 6, entries[3].entry_hash)

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=9, checkpoints=[cp])

    assert report.ok
    assert report.events_checked == report.entries_checked == 5
    assert report.checkpoints_checked == 1
    assert report.last_entry_hash == entries[-1].entry_hash


def test_an_altered_event_is_found_at_its_position_and_nowhere_else() -> None:
    rows, entries = log([1, 2, 3, 4, 5])
    rows[2] = replace(rows[2], state=rows[2].state.replace(b"3", b"4"))

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=5)

    assert [(b.position, b.kind) for b in report.breaks] == [(3, "altered")]


def test_a_deleted_event_is_found_at_its_position() -> None:
    rows, entries = log([1, 2, 3, 4])
    del rows[1]

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=4)

    assert [(b.position, b.kind) for b in report.breaks] == [(2, "deleted")]


def test_an_event_inserted_into_a_gap_below_the_chain_is_found_unlike_one_after_it() -> None:
    rows, entries = log([1, 2, 4, 5])
    rows = sorted([*rows, row(3), row(6)], key=lambda r: r.position)

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=5)

    assert [(b.position, b.kind) for b in report.breaks] == [(3, "inserted")]
    # Position 6 is past the chain: not yet chained, so not judged.
    assert report.unchained_count == 1
    assert report.first_unchained == 6


def test_a_rewritten_chain_passes_the_links_but_not_the_signed_checkpoint() -> None:
    rows, entries = log([1, 2, 3, 4, 5, 6])
    cp = evidence.sign_checkpoint(KEY, 5, entries[4].entry_hash)
    # The attacker changes event 2 and recomputes every entry from there: no key, no new
    # signature.
    rows[1] = replace(rows[1], state=b'{"n": 99}')
    forged = entries[:1] + chain_of(rows[1:], entries[0].entry_hash)

    report = evidence.walk(rows, forged, GENESIS, chained_up_to=6, checkpoints=[cp])

    assert [(b.position, b.kind) for b in report.breaks] == [(5, "checkpoint")]
    assert "rewritten" in report.breaks[0].detail


def test_a_removed_chain_entry_breaks_the_next_link() -> None:
    rows, entries = log([1, 2, 3, 4])
    del rows[1], entries[1]

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=4)

    assert [(b.position, b.kind) for b in report.breaks] == [(3, "chain_link")]


def test_a_checkpoint_on_a_vanished_entry_and_a_truncated_tail_are_reported() -> None:
    rows, entries = log([1, 2, 3, 4])
    cp = evidence.sign_checkpoint(KEY, 4, entries[3].entry_hash)

    w = evidence.ChainWalk(GENESIS, chained_up_to=4, checkpoints=[cp])
    evidence.merge_into(w, rows[:3], entries[:3])
    report = w.finish(truncated_at=4)

    assert [(b.position, b.kind) for b in report.breaks] == [(4, "checkpoint"), (4, "truncated")]


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=2, max_value=30),
    victim=st.integers(min_value=0, max_value=29),
    action=st.sampled_from(["alter", "delete", "insert"]),
)
def test_any_single_tampering_is_reported_first_at_its_position(
    size: int, victim: int, action: str
) -> None:
    positions = [2 * i + 1 for i in range(size)]  # gaps at every even position
    rows, entries = log(positions)
    i = victim % size
    if action == "alter":
        rows[i] = replace(rows[i], originator_version=rows[i].originator_version + 1)
        where, kind = positions[i], "altered"
    elif action == "delete":
        del rows[i]
        where, kind = positions[i], "deleted"
    else:
        where, kind = positions[i] + 1, "inserted"
        if where > positions[-1]:
            where = positions[i] - 1 if positions[i] > 1 else 2
        rows = sorted([*rows, row(where)], key=lambda r: r.position)

    report = evidence.walk(rows, entries, GENESIS, chained_up_to=positions[-1])

    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (where, kind)
    assert len(report.breaks) == 1


# -- evidence files -----------------------------------------------------------------------


def test_an_exported_file_verifies_on_its_own() -> None:
    data = exported([3, 4, 7, 8], link_after=3)

    report = evidence.verify_evidence(data)

    assert report.ok, report.breaks
    assert (report.first_position, report.last_position) == (3, 8)
    assert report.events == 4
    assert report.checkpoint_position == 11
    assert "OK" in report.summary()


def test_a_file_signed_by_another_key_fails_when_the_key_is_pinned() -> None:
    data = exported([1, 2])
    kid = json.loads(data)["public_key"]["key_id"]

    assert evidence.verify_evidence(data, expect_key_id=kid).ok
    report = evidence.verify_evidence(data, expect_key_id="f" * 32)
    assert not report.ok
    assert "expected key" in report.breaks[0].detail


def edit(data: bytes, change: Any) -> bytes:
    doc = json.loads(data)
    change(doc)
    return evidence.canonical_bytes(doc)


def flip_state_byte(doc: dict[str, Any]) -> None:
    state = bytearray(base64.b64decode(doc["events"][1]["state_base64"]))
    state[0] ^= 0x01
    doc["events"][1]["state_base64"] = base64.b64encode(bytes(state)).decode()


def flip_hex(text: str) -> str:
    return ("1" if text[0] != "1" else "2") + text[1:]


@pytest.mark.parametrize(
    ("change", "position", "kind"),
    [
        (flip_state_byte, 4, "altered"),
        (lambda d: d["chain"][1].update(event_hash=flip_hex(d["chain"][1]["event_hash"])), 4,
         "altered"),
        (lambda d: d["chain"][2].update(prev_hash=flip_hex(d["chain"][2]["prev_hash"])), 7,
         "chain_link"),
        (lambda d: d["link"][0].update(entry_hash=flip_hex(d["link"][0]["entry_hash"])), 9,
         "chain_entry"),
        (lambda d: d["events"].pop(2), 7, "deleted"),
        (lambda d: d["checkpoint"].update(
            signature_base64=base64.b64encode(
                bytes([base64.b64decode(d["checkpoint"]["signature_base64"])[0] ^ 1])
                + base64.b64decode(d["checkpoint"]["signature_base64"])[1:]
            ).decode()
        ), 10, "checkpoint"),
        (lambda d: d["checkpoint"].update(signed_at="2030-01-01T00:00:00.000000Z"), 10,
         "checkpoint"),
    ],
    ids=["state", "event-hash", "prev-hash", "link-hash", "event-removed", "signature",
         "signed-at"],
)  # fmt: skip
def test_one_changed_value_in_an_exported_file_names_its_position(
    change: Any, position: int, kind: str
) -> None:
    data = exported([3, 4, 7, 8], link_after=2)

    report = evidence.verify_evidence(edit(data, change))

    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (position, kind)
    assert f"position {position}" in report.summary()


def test_every_single_byte_change_anywhere_in_an_exported_file_fails() -> None:
    data = exported([1, 2, 5], link_after=1)
    rng = random.Random(20261101)
    offsets = sorted({rng.randrange(len(data)) for _ in range(400)} | {0, len(data) - 1})

    survivors = []
    for offset in offsets:
        for delta in (0x01, 0x20):
            changed = bytearray(data)
            changed[offset] ^= delta
            if evidence.verify_evidence(bytes(changed)).ok:
                survivors.append((offset, delta, chr(data[offset])))

    assert survivors == []


def test_a_reformatted_or_extended_file_is_refused() -> None:
    data = exported([1, 2])
    doc = json.loads(data)

    assert not evidence.verify_evidence(json.dumps(doc).encode()).ok
    doc["note"] = "added"
    report = evidence.verify_evidence(evidence.canonical_bytes(doc))
    assert not report.ok
    assert "unknown ['note']" in report.breaks[0].detail
    assert not evidence.verify_evidence(b"not json").ok


# -- the guide's script -------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "auditors-guide.md"


def guide_script() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    marker = text.index("<!-- check_evidence.py")
    start = text.index("```python\n", marker) + len("```python\n")
    return text[start : text.index("```", start)]


def test_the_guides_own_script_accepts_an_export_and_names_a_tampered_position(
    tmp_path: Path,
) -> None:
    script = tmp_path / "check_evidence.py"
    script.write_text(guide_script(), encoding="utf-8")
    data = exported([2, 3, 6, 7], link_after=2)
    good = tmp_path / "good.json"
    good.write_bytes(data)
    bad = tmp_path / "bad.json"
    bad.write_bytes(edit(data, flip_state_byte))

    ok = subprocess.run(
        [sys.executable, str(script), str(good)], capture_output=True, text=True, check=False
    )
    broken = subprocess.run(
        [sys.executable, str(script), str(bad)], capture_output=True, text=True, check=False
    )

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: positions 2..7 lead to checkpoint 9")
    assert broken.returncode == 1
    assert "BROKEN at position 3" in broken.stderr
