"""The audit hash chain over the global event sequence, and its signed checkpoints.

A tracked process like the projections (it runs in the projection worker, its position in
``audit_chain_tracking``), but it never skips a position and never decodes an event: each
batch reads the next stored rows of the events table in order, with no topic filter,
exactly as stored (topic, state bytes, originator id and version), appends one entry per
row to ``audit_chain`` and moves its position, in one transaction. Writers serialise on
the events table (``LOCK TABLE ... IN EXCLUSIVE MODE`` in eventsourcing), so positions
commit in order: a batch that reads "everything after my position" can never pass over a
row that commits later with a lower position. Positions may have gaps (a rolled-back
insert burns a sequence value); a gap has no entry, and the chain links the entries on
either side of it, so a row inserted into a gap later is found.

Every ``checkpoint_every`` entries, and when caught up with an unsigned head older than
``checkpoint_interval_seconds``, the process signs a checkpoint (position, entry hash,
time, key id) with Ed25519 into ``audit_checkpoints``, in the same transaction as the
entries it covers. ``interagency/evidence.py`` has the encodings and the walk that
verifies; ``docs/auditors-guide.md`` explains what this proves and what it does not.

Never rebuilt
-------------
A projection can be thrown away and rebuilt from the events; the chain cannot. Rebuilding
it recomputes every hash from the events as they are now, which is exactly what
verification compares against: a rebuild would launder any tampering into a fresh,
self-consistent chain. So ``reset()`` refuses once the chain holds anything (it is
allowed on an empty chain, where it loses nothing), ``truncate()`` always refuses, and
``interagency projections rebuild`` (of everything) keeps the chain and only catches it up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from domain.errors import NotFoundError, RuleViolationError, ValidationError
from interagency import evidence
from interagency.evidence import ChainEntry, ChainReport, ChainWalk, Checkpoint, StoredEventRow
from interagency.signing import Signer
from projections.runtime import BatchResult, Cursor, ProjectionView, Projector

log = structlog.get_logger(__name__)

# Positions one verify request may span (gaps included). Verify reads and hashes about
# 35,000 stored events a second (measured on the demo's 22,889 events of ~500 bytes, two
# cores), so a full range takes about three seconds, read in chunks of ``CHUNK`` positions
# so memory stays small. Longer ranges: page with ``next_from``.
MAX_SPAN = 100_000
CHUNK = 5_000
# An export over HTTP is built in memory (about 1.2 kB of JSON per event): a smaller bound.
EXPORT_MAX_SPAN = 20_000


class ChainResetRefusedError(RuntimeError):
    """The chain holds evidence; recomputing it from the current events would launder it."""


class ChainBrokenError(RuntimeError):
    """The chain's own tables were changed under it: the process stops rather than guess."""


@dataclass(frozen=True)
class ChainVerification:
    """One verify request: the range walked, where the chain and the log stand, the walk."""

    from_position: int
    to_position: int
    chain_position: int
    event_head: int
    entering_hash: bytes
    report: ChainReport
    next_from: int | None


@dataclass(frozen=True)
class EvidenceRange:
    """What an export holds: the range's events and entries, entries up to a checkpoint."""

    events: list[StoredEventRow]
    entries: list[ChainEntry]
    link: list[ChainEntry]
    checkpoint: Checkpoint

    def document(self) -> dict[str, Any]:
        return evidence.export_document(self.events, self.entries, self.link, self.checkpoint)

    def canonical_bytes(self) -> bytes:
        return evidence.canonical_bytes(self.document())


def _event(row: Any) -> StoredEventRow:
    return StoredEventRow(
        position=int(row["notification_id"]),
        originator_id=row["originator_id"],
        originator_version=int(row["originator_version"]),
        topic=str(row["topic"]),
        state=bytes(row["state"]),
    )


def _entry(row: Any) -> ChainEntry:
    return ChainEntry(
        position=int(row["position"]),
        event_hash=bytes(row["event_hash"]),
        prev_hash=bytes(row["prev_hash"]),
        entry_hash=bytes(row["entry_hash"]),
    )


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        position=int(row["position"]),
        entry_hash=bytes(row["entry_hash"]),
        signed_at=str(row["signed_at"]),
        key_id=str(row["key_id"]),
        public_key=bytes(row["public_key"]),
        signature=bytes(row["signature"]),
    )


def parse_signed_at(signed_at: str) -> datetime:
    return datetime.strptime(signed_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class AuditChainView(ProjectionView):
    """``audit_chain`` (one entry per stored event) and ``audit_checkpoints``."""

    name = "audit_chain"
    tables = ("audit_chain", "audit_checkpoints")
    topics = ()  # every event: the chain has no filter

    def __init__(
        self,
        datastore: PostgresDatastore,
        application_name: str,
        recorder: PostgresApplicationRecorder,
    ) -> None:
        super().__init__(datastore, application_name)
        self.events_table = sql.Identifier(datastore.schema, recorder.events_table_name)

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS audit_chain (
                position bigint PRIMARY KEY,
                event_hash bytea NOT NULL CHECK (octet_length(event_hash) = 32),
                prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
                entry_hash bytea NOT NULL CHECK (octet_length(entry_hash) = 32)
            )""",
            """
            CREATE TABLE IF NOT EXISTS audit_checkpoints (
                position bigint PRIMARY KEY,
                entry_hash bytea NOT NULL CHECK (octet_length(entry_hash) = 32),
                signed_at text NOT NULL,
                key_id text NOT NULL,
                public_key bytea NOT NULL,
                signature bytea NOT NULL
            )""",
        ]

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        msg = "the audit chain hashes stored rows, never decoded events: use ChainProjector"
        raise TypeError(msg)

    def truncate(self, curs: Cursor) -> None:
        msg = "the audit chain is evidence: it is never truncated"
        raise ChainResetRefusedError(msg)

    # -- reads shared by the process, verify and export ------------------------------

    def read_events(
        self, curs: Cursor, lo: int, hi: int | None, limit: int | None = None
    ) -> list[StoredEventRow]:
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id >= %s"
        ).format(self.events_table)
        params: list[int] = [lo]
        if hi is not None:
            query += sql.SQL(" AND notification_id <= %s")
            params.append(hi)
        query += sql.SQL(" ORDER BY notification_id")
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params.append(limit)
        curs.execute(query, params)
        return [_event(r) for r in curs.fetchall()]

    def read_entries(
        self, curs: Cursor, lo: int, hi: int, limit: int | None = None
    ) -> list[ChainEntry]:
        query = "SELECT * FROM audit_chain WHERE position BETWEEN %s AND %s ORDER BY position"
        params: list[int] = [lo, hi]
        if limit is not None:
            query += " LIMIT %s"
            params.append(limit)
        curs.execute(query, params)
        return [_entry(r) for r in curs.fetchall()]

    def last_entry(self, curs: Cursor, below: int | None = None) -> ChainEntry | None:
        """The chain's last entry, or its last one before ``below``."""
        if below is None:
            curs.execute("SELECT * FROM audit_chain ORDER BY position DESC LIMIT 1")
        else:
            curs.execute(
                "SELECT * FROM audit_chain WHERE position < %s ORDER BY position DESC LIMIT 1",
                (below,),
            )
        row = curs.fetchone()
        return None if row is None else _entry(row)

    def read_checkpoints(self, curs: Cursor, lo: int, hi: int) -> list[Checkpoint]:
        curs.execute(
            "SELECT * FROM audit_checkpoints WHERE position BETWEEN %s AND %s ORDER BY position",
            (lo, hi),
        )
        return [_checkpoint(r) for r in curs.fetchall()]

    def last_checkpoint_in(self, curs: Cursor) -> Checkpoint | None:
        curs.execute("SELECT * FROM audit_checkpoints ORDER BY position DESC LIMIT 1")
        row = curs.fetchone()
        return None if row is None else _checkpoint(row)

    def tracked_position(self, curs: Cursor) -> int:
        curs.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(
                sql.Identifier(self.datastore.schema, self.tracking_table_name)
            ),
            (self.application_name,),
        )
        row = curs.fetchone()
        return 0 if row is None else int(row["notification_id"])

    def event_head(self, curs: Cursor) -> int:
        curs.execute(
            sql.SQL("SELECT max(notification_id) AS head FROM {}").format(self.events_table)
        )
        row = curs.fetchone()
        return int(row["head"]) if row is not None and row["head"] is not None else 0

    def _snapshot(self, curs: Cursor) -> None:
        # One snapshot for the whole read: the chain process may commit meanwhile.
        curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    # -- what the API and the CLI ask -------------------------------------------------

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.datastore.transaction(commit=False) as curs:
            return self.last_checkpoint_in(curs)

    def verify(self, from_position: int, to_position: int | None) -> ChainVerification:
        """Recomputes the chain over a range from the events table and compares.

        ``to_position`` defaults to the end of the log, at most ``MAX_SPAN`` positions on;
        a longer explicit range is refused (ValidationError).
        """
        if from_position < 1:
            raise ValidationError("from must be a position of 1 or more")
        if to_position is not None:
            _check_span(from_position, to_position)
        with self.datastore.transaction(commit=False) as curs:
            self._snapshot(curs)
            tracked = self.tracked_position(curs)
            head = self.event_head(curs)
            last = self.last_entry(curs)
            top = max(head, tracked, last.position if last else 0)
            to = (
                to_position
                if to_position is not None
                else max(from_position, min(top, from_position + MAX_SPAN - 1))
            )
            before = self.last_entry(curs, below=from_position)
            entering = before.entry_hash if before is not None else evidence.GENESIS
            walk = ChainWalk(entering, tracked, self.read_checkpoints(curs, from_position, to))
            for lo in range(from_position, to + 1, CHUNK):
                hi = min(to, lo + CHUNK - 1)
                evidence.merge_into(
                    walk, self.read_events(curs, lo, hi), self.read_entries(curs, lo, hi)
                )
            truncated = (
                tracked
                if from_position <= tracked <= to and (last is None or last.position < tracked)
                else None
            )
            report = walk.finish(truncated)
        return ChainVerification(
            from_position=from_position,
            to_position=to,
            chain_position=tracked,
            event_head=head,
            entering_hash=entering,
            report=report,
            next_from=to + 1 if to < top else None,
        )

    def evidence(
        self, from_position: int, to_position: int | None, *, max_span: int | None = None
    ) -> EvidenceRange:
        """A range's events and chain entries, with the entries up to the first checkpoint
        at or after the range's end (its signature then vouches for the whole range)."""
        if from_position < 1:
            raise ValidationError("from must be a position of 1 or more")
        with self.datastore.transaction(commit=False) as curs:
            self._snapshot(curs)
            tracked = self.tracked_position(curs)
            to = to_position if to_position is not None else tracked
            if to_position is None and max_span is not None:
                to = min(tracked, from_position + max_span - 1)
            if to < from_position:
                raise ValidationError(f"to ({to}) must not be before from ({from_position})")
            if max_span is not None:
                _check_span(from_position, to, max_span)
            if to > tracked:
                raise RuleViolationError(
                    "chain_covers_range",
                    f"position {to} is beyond the audit chain, which has reached {tracked}: "
                    "wait for the chain process to catch up, or end the range earlier",
                )
            entries = self.read_entries(curs, from_position, to)
            if not entries:
                raise NotFoundError(
                    f"the audit chain holds no entries between positions {from_position} and {to}"
                )
            events = self.read_events(curs, from_position, to)
            curs.execute(
                "SELECT * FROM audit_checkpoints WHERE position >= %s ORDER BY position LIMIT 1",
                (entries[-1].position,),
            )
            row = curs.fetchone()
            if row is None:
                raise RuleViolationError(
                    "checkpoint_covers_range",
                    f"no signed checkpoint covers position {entries[-1].position} yet: the "
                    "chain process signs one within INTERAGENCY_CHECKPOINT_INTERVAL seconds "
                    "(or export with the CLI, which signs one)",
                )
            checkpoint = _checkpoint(row)
            link = (
                self.read_entries(curs, entries[-1].position + 1, checkpoint.position)
                if checkpoint.position > entries[-1].position
                else []
            )
        return EvidenceRange(events, entries, link, checkpoint)


def _check_span(from_position: int, to_position: int, max_span: int | None = None) -> None:
    limit = MAX_SPAN if max_span is None else max_span
    if to_position < from_position:
        raise ValidationError(f"to ({to_position}) must not be before from ({from_position})")
    if to_position - from_position + 1 > limit:
        raise ValidationError(
            f"a range may span at most {limit:,} positions (asked for "
            f"{to_position - from_position + 1:,}): ask for the rest with from=next_from"
        )


class ChainProjector(Projector):
    """Appends chain entries in batches and signs checkpoints; see the module docstring."""

    def __init__(
        self,
        view: AuditChainView,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        signer: Signer,
        *,
        batch_size: int = 500,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 5.0,
    ) -> None:
        super().__init__(view, recorder, mapper, batch_size)
        self.chain = view
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._signed_up_to = -1  # the head this process last saw signed; skips idle work

    def _prev_hash(self, curs: Cursor, position: int) -> bytes:
        """The hash the next entry links to: the entry at the chain's position."""
        last = self.chain.last_entry(curs)
        if position == 0 and last is None:
            return evidence.GENESIS
        if last is None or last.position != position:
            at = "none" if last is None else str(last.position)
            msg = (
                f"the audit chain's process is at position {position} but its last entry is "
                f"at {at}: the chain's tables were changed out of band; it stops here (run "
                "GET /api/v1/audit/verify)"
            )
            raise ChainBrokenError(msg)
        return last.entry_hash

    def _since_checkpoint(self, curs: Cursor, latest: Checkpoint | None) -> int:
        curs.execute(
            "SELECT count(*) AS n FROM audit_chain WHERE position > %s",
            (0 if latest is None else latest.position,),
        )
        row = curs.fetchone()
        return int(row["n"]) if row is not None else 0

    def _interval_passed(self, latest: Checkpoint | None) -> bool:
        if latest is None:
            return True
        age = datetime.now(UTC) - parse_signed_at(latest.signed_at)
        return age.total_seconds() >= self.checkpoint_interval

    def _insert(
        self, curs: Cursor, entries: Sequence[ChainEntry], checkpoints: Sequence[Checkpoint]
    ) -> None:
        if entries:
            curs.executemany(
                "INSERT INTO audit_chain (position, event_hash, prev_hash, entry_hash) "
                "VALUES (%s, %s, %s, %s)",
                [(e.position, e.event_hash, e.prev_hash, e.entry_hash) for e in entries],
            )
        if checkpoints:
            curs.executemany(
                "INSERT INTO audit_checkpoints "
                "(position, entry_hash, signed_at, key_id, public_key, signature) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (c.position, c.entry_hash, c.signed_at, c.key_id, c.public_key, c.signature)
                    for c in checkpoints
                ],
            )

    # A parked event would be a gap in the evidence: a poison event stops the chain.
    can_park = False

    def run_batch(self, limit: int | None = None, stop: int | None = None) -> BatchResult:
        """One transaction: the next stored rows after the position, chained in order."""
        view = self.chain
        batch = limit or self.batch_size
        with view.datastore.transaction(commit=True) as curs:
            start = view.lock_position(curs)
            prev = self._prev_hash(curs, start)
            rows = view.read_events(curs, start + 1, stop, limit=batch)
            if not rows:
                return BatchResult(0, start)
            latest = view.last_checkpoint_in(curs)
            since = self._since_checkpoint(curs, latest)
            entries: list[ChainEntry] = []
            checkpoints: list[Checkpoint] = []
            for row in rows:
                entry = evidence.chain_entry(row, prev)
                entries.append(entry)
                prev = entry.entry_hash
                since += 1
                if since >= self.checkpoint_every:
                    checkpoints.append(self.signer.sign(entry.position, entry.entry_hash))
                    since = 0
            # The last batch of a catch-up signs the head in the same transaction (when the
            # last checkpoint is old enough), so the position and its checkpoint commit
            # together; ``checkpoint_head`` signs an idle head later otherwise.
            last = entries[-1]
            if (
                len(rows) < batch
                and since > 0
                and self._interval_passed(checkpoints[-1] if checkpoints else latest)
            ):
                checkpoints.append(self.signer.sign(last.position, last.entry_hash))
            self._insert(curs, entries, checkpoints)
            view.set_position(curs, last.position)
        if checkpoints:
            self._signed_up_to = checkpoints[-1].position
        return BatchResult(len(entries), last.position)

    def catch_up(
        self, on_progress: Callable[[int, int], None] | None = None, stop: int | None = None
    ) -> int:
        total = super().catch_up(on_progress, stop)
        self.checkpoint_head()
        return total

    def checkpoint_head(self, *, force: bool = False) -> Checkpoint | None:
        """Signs the chain's head if it is unsigned and the last checkpoint is old enough
        (or ``force``); None when nothing needed signing."""
        if not force and self.chain.position() == self._signed_up_to:
            return None
        with self.chain.datastore.transaction(commit=True) as curs:
            position = self.chain.lock_position(curs)
            if position == 0:
                return None
            last = self.chain.last_entry(curs)
            if last is None or last.position != position:
                self._prev_hash(curs, position)  # raises, naming the problem
                return None
            latest = self.chain.last_checkpoint_in(curs)
            if latest is not None and latest.position >= position:
                self._signed_up_to = latest.position
                return None
            if not force and not self._interval_passed(latest):
                return None
            checkpoint = self.signer.sign(position, last.entry_hash)
            self._insert(curs, [], [checkpoint])
        self._signed_up_to = checkpoint.position
        log.debug("audit_checkpoint_signed", position=position, key_id=checkpoint.key_id)
        return checkpoint

    def reset(self) -> None:
        """Allowed only on an empty chain (nothing to lose); refused otherwise."""
        with self.chain.datastore.transaction(commit=True) as curs:
            position = self.chain.lock_position(curs)
            curs.execute(
                "SELECT (SELECT count(*) FROM audit_chain) AS entries, "
                "(SELECT count(*) FROM audit_checkpoints) AS checkpoints"
            )
            row = curs.fetchone()
            assert row is not None
            if position > 0 or row["entries"] or row["checkpoints"]:
                msg = (
                    f"the audit chain holds {row['entries']:,} entries and "
                    f"{row['checkpoints']:,} signed checkpoints up to position {position}: it "
                    "is evidence, and rebuilding it from the current events would hide any "
                    "tampering; it is never rebuilt (verify it with GET /api/v1/audit/verify)"
                )
                raise ChainResetRefusedError(msg)
