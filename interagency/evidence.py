"""Tamper evidence, pure: the hash encodings, the chain walk, checkpoints, evidence files.

No database and no I/O here: the API's ``/audit/verify`` feeds this module the rows it
reads from PostgreSQL, and ``interagency audit verify FILE`` feeds it an exported file.
Both therefore judge the same way. ``docs/auditors-guide.md`` gives the same encodings
in prose, so an auditor can re-implement them without this code.

The encodings (every integer is 8 bytes, unsigned, big-endian; ``lp(x)`` is ``x``
prefixed by its length as such an integer)::

    event_hash = SHA-256( lp("interagency/audit-chain/event/v1")
                          || lp(topic as UTF-8) || lp(state bytes)
                          || lp(originator id as lowercase hyphenated UUID text, ASCII)
                          || u64(originator version) )
    entry_hash = SHA-256( lp("interagency/audit-chain/entry/v1")
                          || u64(position) || event_hash || prev_hash )
    signed message of a checkpoint
               = lp("interagency/audit-chain/checkpoint/v1") || u64(position)
                 || entry_hash || lp(signed_at, ASCII) || lp(key_id, ASCII)

``prev_hash`` of the first entry is 32 zero bytes. ``key_id`` is the lowercase hex of
the first 16 bytes of SHA-256 over the raw 32-byte Ed25519 public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HASH_SIZE = 32
GENESIS = bytes(HASH_SIZE)
EVENT_DOMAIN = b"interagency/audit-chain/event/v1"
ENTRY_DOMAIN = b"interagency/audit-chain/entry/v1"
CHECKPOINT_DOMAIN = b"interagency/audit-chain/checkpoint/v1"
EXPORT_FORMAT = "interagency-audit-evidence/v1"
ALGORITHM = "Ed25519"
MAX_BREAKS = 100


# -- encodings --------------------------------------------------------------------------


def u64(n: int) -> bytes:
    """An integer as 8 bytes, unsigned, big-endian."""
    return n.to_bytes(8, "big", signed=False)


def lp(data: bytes) -> bytes:
    """``data`` prefixed by its length (u64): no two field sequences encode alike."""
    return u64(len(data)) + data


@dataclass(frozen=True)
class StoredEventRow:
    """One row of the events table, exactly as stored (the state is not decoded)."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ChainEntry:
    position: int
    event_hash: bytes
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain's entry at ``position`` has hash ``entry_hash``."""

    position: int
    entry_hash: bytes
    signed_at: str
    key_id: str
    public_key: bytes
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.entry_hash, self.signed_at, self.key_id)


def event_hash(row: StoredEventRow) -> bytes:
    return hashlib.sha256(
        lp(EVENT_DOMAIN)
        + lp(row.topic.encode("utf-8"))
        + lp(row.state)
        + lp(str(row.originator_id).encode("ascii"))
        + u64(row.originator_version)
    ).digest()


def entry_hash(position: int, event_digest: bytes, prev_hash: bytes) -> bytes:
    return hashlib.sha256(lp(ENTRY_DOMAIN) + u64(position) + event_digest + prev_hash).digest()


def chain_entry(row: StoredEventRow, prev_hash: bytes) -> ChainEntry:
    """The entry the chain process appends for ``row`` after the entry hashed ``prev_hash``."""
    digest = event_hash(row)
    return ChainEntry(row.position, digest, prev_hash, entry_hash(row.position, digest, prev_hash))


def checkpoint_message(position: int, entry_digest: bytes, signed_at: str, key_id: str) -> bytes:
    return (
        lp(CHECKPOINT_DOMAIN)
        + u64(position)
        + entry_digest
        + lp(signed_at.encode("ascii"))
        + lp(key_id.encode("ascii"))
    )


# -- keys and signatures ----------------------------------------------------------------


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(raw)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def key_id(raw: bytes) -> str:
    """The fingerprint naming a public key: hex of the first 16 bytes of SHA-256 of it."""
    return hashlib.sha256(raw).hexdigest()[:32]


def signing_time(now: datetime | None = None) -> str:
    """A checkpoint's time as signed: UTC, microseconds, e.g. 2026-11-01T09:30:00.000000Z."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign_checkpoint(
    key: Ed25519PrivateKey, position: int, entry_digest: bytes, signed_at: str | None = None
) -> Checkpoint:
    raw = raw_public_key(key.public_key())
    kid = key_id(raw)
    at = signed_at or signing_time()
    signature = key.sign(checkpoint_message(position, entry_digest, at, kid))
    return Checkpoint(position, entry_digest, at, kid, raw, signature)


def checkpoint_problem(checkpoint: Checkpoint) -> str | None:
    """Why a checkpoint's signature does not hold, or None when it does."""
    if key_id(checkpoint.public_key) != checkpoint.key_id:
        return (
            f"the checkpoint names key {checkpoint.key_id} but its public key's fingerprint is "
            f"{key_id(checkpoint.public_key)}"
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(checkpoint.public_key)
        public.verify(checkpoint.signature, checkpoint.message())
    except (InvalidSignature, ValueError):
        return f"the checkpoint's signature does not verify with key {checkpoint.key_id}"
    return None


# -- the chain walk ---------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """One place where the record and the chain disagree.

    ``kind``: ``altered`` (the event's hash differs from the chain's), ``deleted`` (a chain
    entry without its event row), ``inserted`` (an event row the chain passed without an
    entry), ``chain_link`` (an entry's previous hash is not the previous entry's hash: an
    entry was removed, inserted or rewritten), ``chain_entry`` (an entry's own hash does not
    match its fields), ``checkpoint`` (a signed checkpoint disagrees with the recomputed
    chain, or its signature fails), ``truncated`` (the chain process passed a position the
    chain no longer holds), ``malformed`` (an evidence file's structure).
    """

    position: int | None
    kind: str
    detail: str

    def describe(self) -> str:
        where = "" if self.position is None else f"position {self.position}: "
        return f"{where}{self.kind}: {self.detail}"


@dataclass
class ChainReport:
    """What a walk over a range found."""

    breaks: list[Break] = field(default_factory=list)
    more_breaks: bool = False
    events_checked: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    last_checkpoint: int | None = None
    key_ids: set[str] = field(default_factory=set)
    first_position: int | None = None
    last_position: int | None = None
    last_entry_hash: bytes | None = None
    unchained_count: int = 0
    first_unchained: int | None = None

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


class ChainWalk:
    """Walks positions in ascending order, recomputing the chain from the events.

    ``entering_hash`` is the hash of the entry before the range (``GENESIS`` at the start of
    the log); ``chained_up_to`` is the position the chain process has passed: an event at or
    below it without a chain entry was inserted behind the chain's back, one above it is
    merely not chained yet. After a break the walk carries on from the stored entry, so one
    tampered row is reported once, not at every later position.
    """

    def __init__(
        self,
        entering_hash: bytes,
        chained_up_to: int,
        checkpoints: Iterable[Checkpoint] = (),
        max_breaks: int = MAX_BREAKS,
    ) -> None:
        self.prev = entering_hash
        self.chained_up_to = chained_up_to
        self.checkpoints = {c.position: c for c in checkpoints}
        self.max_breaks = max_breaks
        self.report = ChainReport()
        self._last_position = 0

    def _break(self, position: int | None, kind: str, detail: str) -> None:
        if len(self.report.breaks) < self.max_breaks:
            self.report.breaks.append(Break(position, kind, detail))
        else:
            self.report.more_breaks = True

    def _see(self, position: int) -> None:
        if position <= self._last_position:
            msg = f"positions must ascend: {position} after {self._last_position}"
            raise ValueError(msg)
        self._last_position = position
        if self.report.first_position is None:
            self.report.first_position = position
        self.report.last_position = position

    def feed(self, position: int, event: StoredEventRow | None, entry: ChainEntry | None) -> None:
        """One position: its event row and its chain entry, either possibly missing."""
        self._see(position)
        if event is not None:
            self.report.events_checked += 1
        if entry is None:
            if event is None:
                return
            if position <= self.chained_up_to:
                self._break(
                    position,
                    "inserted",
                    f"an event row ({event.topic}, originator {event.originator_id} version "
                    f"{event.originator_version}) has no chain entry though the chain has "
                    f"passed this position (it is at {self.chained_up_to}): the row was "
                    "inserted out of band, or its chain entry was removed",
                )
            else:
                self.report.unchained_count += 1
                if self.report.first_unchained is None:
                    self.report.first_unchained = position
            return
        self._entry(position, entry, None if event is None else event_hash(event), event is None)

    def feed_link(self, entry: ChainEntry) -> None:
        """An entry whose event is not at hand (an export's entries up to its checkpoint)."""
        self._see(entry.position)
        self._entry(entry.position, entry, entry.event_hash, missing_event=False)

    def _entry(
        self, position: int, entry: ChainEntry, computed_event: bytes | None, missing_event: bool
    ) -> None:
        self.report.entries_checked += 1
        broken = False
        if entry.prev_hash != self.prev:
            self._break(
                position,
                "chain_link",
                "the entry's previous hash is not the hash of the entry before it: an entry "
                "before this position was removed, inserted or rewritten",
            )
            broken = True
        if missing_event:
            if not broken:
                self._break(
                    position,
                    "deleted",
                    "the chain holds an entry for this position but the event row is gone",
                )
            broken = True
            computed_event = entry.event_hash
        assert computed_event is not None
        if computed_event != entry.event_hash:
            if not broken:
                self._break(
                    position,
                    "altered",
                    "the stored event's hash is not the one the chain recorded: its topic, "
                    "state, originator id or version was changed",
                )
            broken = True
        computed = entry_hash(position, computed_event, self.prev)
        if not broken and computed != entry.entry_hash:
            self._break(
                position,
                "chain_entry",
                "the chain entry's hash does not match its position, event hash and "
                "previous hash: the entry was rewritten",
            )
            broken = True
        checkpoint = self.checkpoints.pop(position, None)
        if checkpoint is not None:
            self._checkpoint(checkpoint, computed, report=not broken)
        self.prev = entry.entry_hash if broken else computed
        self.report.last_entry_hash = self.prev

    def _checkpoint(self, checkpoint: Checkpoint, computed: bytes, *, report: bool) -> None:
        self.report.checkpoints_checked += 1
        self.report.last_checkpoint = checkpoint.position
        self.report.key_ids.add(checkpoint.key_id)
        problem = checkpoint_problem(checkpoint)
        if problem is None and checkpoint.entry_hash != computed:
            problem = (
                f"the checkpoint signed at {checkpoint.signed_at} says the chain's entry here "
                f"hashes to {checkpoint.entry_hash.hex()}, the events give {computed.hex()}: "
                "history up to this position was rewritten after it was signed"
            )
        if problem is not None and report:
            self._break(checkpoint.position, "checkpoint", problem)

    def finish(self, truncated_at: int | None = None) -> ChainReport:
        """Ends the walk; checkpoints never reached name positions the chain lost."""
        for position in sorted(self.checkpoints):
            self._break(
                position,
                "checkpoint",
                "a signed checkpoint names this position but the chain holds no entry for it: "
                "the entry (and maybe its event) was removed",
            )
        self.checkpoints.clear()
        if truncated_at is not None:
            self._break(
                truncated_at,
                "truncated",
                f"the chain process has passed position {truncated_at} but the chain ends "
                "before it: its last entries were removed",
            )
        self.report.breaks.sort(key=lambda b: (b.position is None, b.position or 0))
        return self.report


def walk(
    events: Sequence[StoredEventRow],
    entries: Sequence[ChainEntry],
    entering_hash: bytes,
    chained_up_to: int,
    checkpoints: Iterable[Checkpoint] = (),
) -> ChainReport:
    """Walks one in-memory range (see ``ChainWalk``)."""
    w = ChainWalk(entering_hash, chained_up_to, checkpoints)
    merge_into(w, events, entries)
    return w.finish()


def merge_into(
    w: ChainWalk, events: Sequence[StoredEventRow], entries: Sequence[ChainEntry]
) -> None:
    """Feeds two position-sorted sequences to a walk, position by position."""
    by_event = {e.position: e for e in events}
    by_entry = {c.position: c for c in entries}
    if len(by_event) != len(events) or len(by_entry) != len(entries):
        msg = "a position appears twice"
        raise ValueError(msg)
    for position in sorted(by_event.keys() | by_entry.keys()):
        w.feed(position, by_event.get(position), by_entry.get(position))


# -- evidence files ---------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def entry_json(entry: ChainEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "event_hash": entry.event_hash.hex(),
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
    }


def event_json(row: StoredEventRow) -> dict[str, Any]:
    return {
        "position": row.position,
        "originator_id": str(row.originator_id),
        "originator_version": row.originator_version,
        "topic": row.topic,
        "state_base64": b64(row.state),
    }


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "position": checkpoint.position,
        "entry_hash": checkpoint.entry_hash.hex(),
        "signed_at": checkpoint.signed_at,
        "key_id": checkpoint.key_id,
        "signature_base64": b64(checkpoint.signature),
    }


def public_key_json(raw: bytes) -> dict[str, Any]:
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(raw),
        "raw_base64": b64(raw),
        "pem": public_key_pem(raw),
    }


def export_document(
    events: Sequence[StoredEventRow],
    entries: Sequence[ChainEntry],
    link: Sequence[ChainEntry],
    checkpoint: Checkpoint,
) -> dict[str, Any]:
    """The evidence for a range: its events, its chain, the entries up to a checkpoint."""
    return {
        "format": EXPORT_FORMAT,
        "events": [event_json(e) for e in events],
        "chain": [entry_json(c) for c in entries],
        "link": [entry_json(c) for c in link],
        "checkpoint": checkpoint_json(checkpoint),
        "public_key": public_key_json(checkpoint.public_key),
    }


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The one byte form of a document: sorted keys, two-space indent, ASCII, final newline."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True)
    return text.encode("ascii") + b"\n"


class MalformedEvidenceError(ValueError):
    def __init__(self, where: str, detail: str, position: int | None = None) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail
        self.position = position


def _object(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvidenceError(where, "must be an object")
    if set(value) != keys:
        missing = sorted(keys - set(value))
        extra = sorted(set(value) - keys)
        raise MalformedEvidenceError(where, f"members differ: missing {missing}, unknown {extra}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise MalformedEvidenceError(where, "must be a positive integer")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedEvidenceError(where, "must be a string")
    return value


def _hash(value: Any, where: str) -> bytes:
    text = _str(value, where)
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise MalformedEvidenceError(where, "must be lowercase hex") from None
    if len(data) != HASH_SIZE or data.hex() != text:
        raise MalformedEvidenceError(where, "must be 64 lowercase hex digits")
    return data


def _b64(value: Any, where: str) -> bytes:
    text = _str(value, where)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvidenceError(where, "must be base64") from None
    if b64(data) != text:
        raise MalformedEvidenceError(where, "must be canonical base64")
    return data


_ENTRY_KEYS = {"position", "event_hash", "prev_hash", "entry_hash"}
_EVENT_KEYS = {"position", "originator_id", "originator_version", "topic", "state_base64"}
_CHECKPOINT_KEYS = {"position", "entry_hash", "signed_at", "key_id", "signature_base64"}
_KEY_KEYS = {"algorithm", "key_id", "raw_base64", "pem"}
_DOC_KEYS = {"format", "events", "chain", "link", "checkpoint", "public_key"}


def _entries(value: Any, where: str) -> list[ChainEntry]:
    if not isinstance(value, list):
        raise MalformedEvidenceError(where, "must be a list")
    out = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        obj = _object(item, at, _ENTRY_KEYS)
        out.append(
            ChainEntry(
                position=_int(obj["position"], f"{at}.position"),
                event_hash=_hash(obj["event_hash"], f"{at}.event_hash"),
                prev_hash=_hash(obj["prev_hash"], f"{at}.prev_hash"),
                entry_hash=_hash(obj["entry_hash"], f"{at}.entry_hash"),
            )
        )
    return out


def _events(value: Any) -> list[StoredEventRow]:
    if not isinstance(value, list):
        raise MalformedEvidenceError("events", "must be a list")
    out = []
    for i, item in enumerate(value):
        at = f"events[{i}]"
        obj = _object(item, at, _EVENT_KEYS)
        position = _int(obj["position"], f"{at}.position")
        originator = _str(obj["originator_id"], f"{at}.originator_id")
        try:
            uuid = UUID(originator)
        except ValueError:
            raise MalformedEvidenceError(
                f"{at}.originator_id", "must be a UUID", position
            ) from None
        if str(uuid) != originator:
            raise MalformedEvidenceError(
                f"{at}.originator_id", "must be a lowercase hyphenated UUID", position
            )
        out.append(
            StoredEventRow(
                position=position,
                originator_id=uuid,
                originator_version=_int(obj["originator_version"], f"{at}.originator_version"),
                topic=_str(obj["topic"], f"{at}.topic"),
                state=_b64(obj["state_base64"], f"{at}.state_base64"),
            )
        )
    return out


@dataclass(frozen=True)
class EvidenceFile:
    events: list[StoredEventRow]
    entries: list[ChainEntry]
    link: list[ChainEntry]
    checkpoint: Checkpoint


def parse_evidence(data: bytes) -> EvidenceFile:
    """The contents of an evidence file; MalformedEvidenceError names what is wrong."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvidenceError("file", f"not JSON ({exc})") from None
    doc = _object(doc, "file", _DOC_KEYS)
    if doc["format"] != EXPORT_FORMAT:
        raise MalformedEvidenceError("format", f"must be {EXPORT_FORMAT!r}")
    key = _object(doc["public_key"], "public_key", _KEY_KEYS)
    if key["algorithm"] != ALGORITHM:
        raise MalformedEvidenceError("public_key.algorithm", f"must be {ALGORITHM!r}")
    raw = _b64(key["raw_base64"], "public_key.raw_base64")
    try:
        pem = public_key_pem(raw)
    except ValueError:
        raise MalformedEvidenceError("public_key.raw_base64", "not an Ed25519 key") from None
    if key["pem"] != pem:
        raise MalformedEvidenceError("public_key.pem", "is not the PEM form of raw_base64")
    if key["key_id"] != key_id(raw):
        raise MalformedEvidenceError("public_key.key_id", "is not the fingerprint of the key")
    cp = _object(doc["checkpoint"], "checkpoint", _CHECKPOINT_KEYS)
    signed_at = _str(cp["signed_at"], "checkpoint.signed_at")
    if not signed_at.isascii():
        raise MalformedEvidenceError("checkpoint.signed_at", "must be ASCII")
    kid = _str(cp["key_id"], "checkpoint.key_id")
    if not kid.isascii():
        raise MalformedEvidenceError("checkpoint.key_id", "must be ASCII")
    checkpoint = Checkpoint(
        position=_int(cp["position"], "checkpoint.position"),
        entry_hash=_hash(cp["entry_hash"], "checkpoint.entry_hash"),
        signed_at=signed_at,
        key_id=kid,
        public_key=raw,
        signature=_b64(cp["signature_base64"], "checkpoint.signature_base64"),
    )
    return EvidenceFile(
        events=_events(doc["events"]),
        entries=_entries(doc["chain"], "chain"),
        link=_entries(doc["link"], "link"),
        checkpoint=checkpoint,
    )


@dataclass
class EvidenceReport:
    ok: bool
    breaks: list[Break]
    first_position: int | None = None
    last_position: int | None = None
    events: int = 0
    entries: int = 0
    checkpoint_position: int | None = None
    signed_at: str | None = None
    key_id: str | None = None

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: {self.events} events at positions {self.first_position}.."
                f"{self.last_position} match their chain; the chain leads to the checkpoint "
                f"at position {self.checkpoint_position}, signed at {self.signed_at} by key "
                f"{self.key_id} (compare this key id with the one the service published)"
            )
        first = self.first_break
        assert first is not None
        return f"BROKEN at {first.describe()}"


def _structure_problems(ev: EvidenceFile) -> list[Break]:
    """Order and placement rules; the walk checks the hashes."""
    problems: list[Break] = []
    if not ev.entries:
        problems.append(Break(None, "malformed", "the file holds no chain entries"))
        return problems
    for name, positions in (
        ("events", [e.position for e in ev.events]),
        ("chain", [c.position for c in ev.entries]),
        ("link", [c.position for c in ev.link]),
    ):
        for a, b in itertools.pairwise(positions):
            if b <= a:
                problems.append(Break(b, "malformed", f"{name}: positions must ascend"))
                return problems
    range_end = max(ev.entries[-1].position, ev.events[-1].position if ev.events else 0)
    if ev.link and ev.link[0].position <= range_end:
        problems.append(
            Break(ev.link[0].position, "malformed", "link entries must follow the range")
        )
    last = ev.link[-1].position if ev.link else ev.entries[-1].position
    if ev.checkpoint.position != last:
        problems.append(
            Break(
                ev.checkpoint.position,
                "malformed",
                f"the checkpoint must be at the last chain entry of the file ({last})",
            )
        )
    return problems


def verify_evidence(data: bytes, expect_key_id: str | None = None) -> EvidenceReport:
    """Checks an evidence file on its own: hashes, links, the checkpoint and its signature."""
    try:
        ev = parse_evidence(data)
    except MalformedEvidenceError as exc:
        return EvidenceReport(False, [Break(exc.position, "malformed", str(exc))])
    report = EvidenceReport(
        ok=False,
        breaks=[],
        events=len(ev.events),
        entries=len(ev.entries),
        checkpoint_position=ev.checkpoint.position,
        signed_at=ev.checkpoint.signed_at,
        key_id=ev.checkpoint.key_id,
    )
    problems = _structure_problems(ev)
    if problems:
        report.breaks = problems
        return report
    w = ChainWalk(ev.entries[0].prev_hash, ev.checkpoint.position, [ev.checkpoint])
    merge_into(w, ev.events, ev.entries)
    report.first_position = w.report.first_position
    report.last_position = w.report.last_position
    for entry in ev.link:
        w.feed_link(entry)
    chain = w.finish()
    breaks = list(chain.breaks)
    if chain.checkpoints_checked != 1 and not breaks:
        breaks.append(Break(ev.checkpoint.position, "checkpoint", "the checkpoint was not reached"))
    if expect_key_id is not None and ev.checkpoint.key_id != expect_key_id:
        breaks.append(
            Break(
                ev.checkpoint.position,
                "checkpoint",
                f"signed by key {ev.checkpoint.key_id}, not by the expected key {expect_key_id}",
            )
        )
    if not breaks and canonical_bytes(json.loads(data)) != data:
        breaks.append(
            Break(
                None,
                "malformed",
                "the file is not in its canonical form (sorted keys, two-space indent, ASCII, "
                "one final newline): it was edited after export",
            )
        )
    report.breaks = breaks
    report.ok = not breaks
    return report
