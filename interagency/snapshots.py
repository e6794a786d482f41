"""Snapshots of long histories: an exact encoding, written after the save, never required.

Why not the library's ``Snapshot`` as is
----------------------------------------
eventsourcing's ``Snapshot`` stores ``vars(aggregate)`` through the application's JSON
transcoder. Our aggregates hold dataclasses, sets, enums, tuples and dicts keyed by UUIDs,
enums or ints: JSON refuses the UUID keys, and silently turns tuples into lists, enum
members into plain strings and int keys into strings. A snapshot that decodes to a
*different* state would make every later read wrong without a sound.

``ExactSnapshot`` therefore encodes the state itself into a tagged JSON tree (every
container and every non-JSON value is an object with one key naming its type) and checks,
when it is taken, that the tree decodes back to a state equal to the aggregate's. A state it
cannot encode exactly (an object that is neither a dataclass nor an enum of the ``domain``
package) is refused: that aggregate is simply not snapshotted.

When snapshots are taken, and why losing one is harmless
--------------------------------------------------------
``SnapshottingPipeline.save`` takes one after a save whose events reach a multiple of the
aggregate class's interval (``SNAPSHOT_EVERY``), rebuilt from the store at that version
(the previous snapshot plus the events since), in its own transaction after the command
committed. It is an optimisation: if it fails (a concurrent writer of the same snapshot, a
missing table, anything) the failure is logged and the command's answer is unchanged; reads
then replay from the previous snapshot or from the first event.

Stale snapshots
---------------
A snapshot caches the state the *current code* derives from the events. Each one records a
fingerprint of the ``domain`` package's source; a snapshot whose fingerprint differs from the
running code's is ignored (reads replay the events instead), so a change to an aggregate's
``apply`` never serves a state the new code would not derive. Snapshots are not evidence:
the hash chain covers the events table only, and the replay endpoint never uses snapshots.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, cast
from uuid import UUID

import structlog
from eventsourcing.application import ProjectorFunction, project_aggregate
from eventsourcing.domain import Aggregate, DomainEventProtocol, Snapshot
from eventsourcing.persistence import EventStore, PersistenceError, Recording
from eventsourcing.utils import get_topic, resolve_topic

import domain
from domain.program import Program
from domain.working_group import WorkingGroup
from interagency.pipeline import CommandPipeline

log = structlog.get_logger("interagency.snapshots")

# Bumped when the tree encoding below changes: old snapshots then become stale.
ENCODING_VERSION = "1"


class SnapshotNotExactError(Exception):
    """The aggregate's state cannot be encoded so that it decodes to an equal state."""


def _code_fingerprint() -> str:
    """A digest of the domain package's source: the code that derives state from events."""
    digest = hashlib.sha256(f"encoding {ENCODING_VERSION}\n".encode())
    package = Path(domain.__file__).parent
    sources = sorted(package.glob("*.py"))
    if sources:
        for path in sources:
            digest.update(path.name.encode() + b"\n" + path.read_bytes() + b"\n")
    else:  # pragma: no cover - installed without sources: the release is the best we know
        digest.update(metadata.version("interagency").encode())
    return digest.hexdigest()[:32]


CODE_FINGERPRINT = _code_fingerprint()

# -- the exact tree encoding ----------------------------------------------------------


def _domain_class(topic: str, kind: str) -> type[Any]:
    """Resolves a stored class topic, allowing only enums and dataclasses of ``domain``."""
    if not topic.startswith("domain.") and not topic.startswith("domain:"):
        msg = f"snapshot names {kind} {topic!r} outside the domain package"
        raise SnapshotNotExactError(msg)
    cls = resolve_topic(topic)
    ok = isinstance(cls, type) and (
        issubclass(cls, Enum) if kind == "enum" else dataclasses.is_dataclass(cls)
    )
    if not ok:
        msg = f"snapshot names {topic!r}, which is not a domain {kind}"
        raise SnapshotNotExactError(msg)
    resolved: type[Any] = cls
    return resolved


def freeze(value: Any) -> Any:
    """Encodes a state value as JSON that :func:`thaw` turns back into an equal value.

    Scalars that JSON keeps exactly (None, bool, int, float, str) and lists stay as they
    are; everything else becomes an object with a single key naming its type.
    """
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return value
    if t is list:
        return [freeze(v) for v in value]
    if isinstance(value, Enum):
        return {"enum": [get_topic(t), freeze(value.value)]}
    if t is dict:
        if all(type(k) is str for k in value):
            return {"dict": {k: freeze(v) for k, v in value.items()}}
        return {"map": [[freeze(k), freeze(v)] for k, v in value.items()]}
    if t is tuple:
        return {"tuple": [freeze(v) for v in value]}
    if t is set:
        return {"set": [freeze(v) for v in value]}
    if t is frozenset:
        return {"frozenset": [freeze(v) for v in value]}
    if t is UUID:
        return {"uuid": value.hex}
    if t is Decimal:
        return {"decimal": str(value)}
    if t is datetime:
        return {"datetime": value.isoformat()}
    if t is date:
        return {"date": value.isoformat()}
    if dataclasses.is_dataclass(value) and t.__module__.split(".")[0] == "domain":
        return {"dataclass": [get_topic(t), {k: freeze(v) for k, v in vars(value).items()}]}
    msg = f"cannot encode a {t.__module__}.{t.__qualname__} exactly in a snapshot"
    raise SnapshotNotExactError(msg)


def thaw(tree: Any) -> Any:
    """Decodes a tree made by :func:`freeze`."""
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [thaw(v) for v in tree]
    if not isinstance(tree, dict) or len(tree) != 1:
        msg = f"not a snapshot tree node: {tree!r:.80}"
        raise SnapshotNotExactError(msg)
    ((tag, data),) = tree.items()
    if tag == "dict":
        return {k: thaw(v) for k, v in data.items()}
    if tag == "map":
        return {thaw(k): thaw(v) for k, v in data}
    if tag == "tuple":
        return tuple(thaw(v) for v in data)
    if tag == "set":
        return {thaw(v) for v in data}
    if tag == "frozenset":
        return frozenset(thaw(v) for v in data)
    if tag == "uuid":
        return UUID(data)
    if tag == "decimal":
        return Decimal(data)
    if tag == "datetime":
        return datetime.fromisoformat(data)
    if tag == "date":
        return date.fromisoformat(data)
    if tag == "enum":
        topic, value = data
        return _domain_class(topic, "enum")(thaw(value))
    if tag == "dataclass":
        topic, fields = data
        cls = _domain_class(topic, "dataclass")
        # Not through __init__: a __post_init__ may validate or derive, and init=False
        # fields exist too. The fields are set as they were, frozen dataclasses included.
        obj = object.__new__(cls)
        for k, v in fields.items():
            object.__setattr__(obj, k, thaw(v))
        return obj
    msg = f"unknown snapshot tree tag {tag!r}"
    raise SnapshotNotExactError(msg)


class ExactSnapshot(Snapshot):
    """A snapshot whose state is a :func:`freeze` tree plus the code fingerprint."""

    @classmethod
    def take(cls, aggregate: Any) -> ExactSnapshot:
        if not isinstance(aggregate, Aggregate):
            msg = f"only aggregates are snapshotted, not {type(aggregate).__name__}"
            raise SnapshotNotExactError(msg)
        state = dict(vars(aggregate))
        for private in ("_id", "_version", "_pending_events"):
            state.pop(private, None)
        class_version = getattr(type(aggregate), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        tree = freeze(state)
        if thaw(tree) != state:
            msg = f"the state of {type(aggregate).__name__} does not decode to an equal state"
            raise SnapshotNotExactError(msg)
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(aggregate)),
            state={"code": CODE_FINGERPRINT, "tree": tree},
        )

    @property
    def is_current(self) -> bool:
        """Taken by code that derives state from events as the running code does."""
        return isinstance(self.state, dict) and self.state.get("code") == CODE_FINGERPRINT

    def mutate(self, _: Any) -> Any:
        cls = resolve_topic(self.topic)
        state: dict[str, Any] = thaw(self.state["tree"])
        from_version = state.pop("class_version", 1)
        while from_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        state["_id"] = self.originator_id
        state["_version"] = self.originator_version
        state["_pending_events"] = []
        aggregate = object.__new__(cls)
        object.__setattr__(aggregate, "__dict__", state)
        return aggregate


class CurrentSnapshotStore(EventStore[UUID]):
    """The snapshot store the repository reads: only current, exact snapshots; never fails.

    A stale snapshot (other code, or not an ``ExactSnapshot``) is not served, and nor is
    anything when the table cannot be read: the repository then replays from the events.
    """

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        try:
            found = list(super().get(originator_id, gt=gt, lte=lte, desc=desc, limit=limit))
        except PersistenceError as exc:
            log.warning("snapshot_read_failed", aggregate_id=str(originator_id), error=str(exc))
            return iter(())
        current = [s for s in found if isinstance(s, ExactSnapshot) and s.is_current]
        if len(current) < len(found):
            log.info("snapshot_stale_ignored", aggregate_id=str(originator_id))
        return iter(current)


class SnapshottingPipeline(CommandPipeline):
    """Takes exact snapshots of long histories after a save; harmless if one is lost."""

    # Aggregate classes whose histories grow long, and every how many events a snapshot
    # is taken (PERFORMANCE.md: replay costs ~30 µs per event; snapshot past ~100 events).
    SNAPSHOT_EVERY: ClassVar[dict[type[Aggregate], int]] = {Program: 100, WorkingGroup: 100}

    # Creates the snapshot store (and, with CREATE_TABLE, its table in ``migrate``). The
    # library's own interval mechanism (``snapshotting_intervals``) is left empty on
    # purpose: it would take the library's inexact Snapshot and raise after the commit.
    is_snapshotting_enabled = True

    def construct_snapshot_store(self) -> EventStore[UUID]:
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return CurrentSnapshotStore(mapper=self.mapper, recorder=recorder)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        types = {o.id: type(o) for o in objs if isinstance(o, Aggregate)}
        for r in recordings:
            event = r.domain_event
            cls = types.get(event.originator_id)
            every = 0 if cls is None else self.SNAPSHOT_EVERY.get(cls, 0)
            if every and event.originator_version % every == 0:
                self._snapshot_quietly(event.originator_id, event.originator_version)
        return recordings

    def _snapshot_quietly(self, aggregate_id: UUID, version: int) -> None:
        try:
            self.take_snapshot(aggregate_id, version)
        except Exception as exc:  # an optimisation never fails a command that committed
            log.warning(
                "snapshot_not_taken",
                aggregate_id=str(aggregate_id),
                version=version,
                error=f"{type(exc).__name__}: {exc}",
            )
        else:
            log.info("snapshot_taken", aggregate_id=str(aggregate_id), version=version)

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
    ) -> None:
        """Takes an :class:`ExactSnapshot` of the stored state at ``version`` (default: last).

        Raises :class:`SnapshotNotExactError` if the state cannot be encoded exactly.
        """
        if self.snapshots is None:  # pragma: no cover - enabled on the class
            msg = "snapshots are not enabled"
            raise SnapshotNotExactError(msg)
        aggregate = self.repository.get(
            aggregate_id, version=version, projector_func=projector_func
        )
        self.snapshots.put([ExactSnapshot.take(aggregate)])

    def snapshot_versions(self, aggregate_id: UUID) -> list[int]:
        """The versions at which this aggregate has a current snapshot, in order."""
        if self.snapshots is None:  # pragma: no cover
            return []
        return [
            s.originator_version
            for s in cast(Iterator[ExactSnapshot], self.snapshots.get(aggregate_id))
        ]
