"""Idempotency keys as aggregates: saved in the same ``save()`` as the command they guard.

The record's id is derived from the key, so a second write with the same key conflicts
in the event store itself: exactly-once needs no extra table and no extra transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.base import DomainAggregate
from domain.values import EventMeta


@dataclass(frozen=True)
class IdempotencyContext:
    key: str
    fingerprint: str

    @property
    def record_id(self) -> UUID:
        return IdempotencyRecord.id_for(self.key)

    def new_id(self, purpose: str) -> UUID:
        """An id for something the request creates, the same on every retry of it."""
        return uuid5(NAMESPACE_URL, f"/interagency/idempotency/{self.key}/{purpose}")


def new_id(idempotency: IdempotencyContext | None, purpose: str) -> UUID:
    """A fresh id, or the keyed request's own id for ``purpose`` (stable across retries)."""
    return uuid4() if idempotency is None else idempotency.new_id(purpose)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Identifies a request, so that a key reused for another request is caught."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    digest = hashlib.sha256(f"{method} {path}\n{canonical}".encode())
    return digest.hexdigest()


class IdempotencyRecord(DomainAggregate):
    """Remembers which aggregate version a keyed request produced."""

    class RequestRecorded(DomainAggregate.Created):
        key: str
        fingerprint: str
        command: str
        aggregate_id: UUID
        aggregate_version: int

        def apply(self, aggregate: Any) -> None:
            r: IdempotencyRecord = aggregate
            r.key = self.key
            r.fingerprint = self.fingerprint
            r.command = self.command
            r.aggregate_id = self.aggregate_id
            r.aggregate_version = self.aggregate_version

    if TYPE_CHECKING:
        key: str
        fingerprint: str
        command: str
        aggregate_id: UUID
        aggregate_version: int

    @staticmethod
    def id_for(key: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/interagency/idempotency/{key}")

    @classmethod
    def record(
        cls,
        meta: EventMeta,
        ctx: IdempotencyContext,
        *,
        command: str,
        aggregate_id: UUID,
        aggregate_version: int,
    ) -> IdempotencyRecord:
        return cls._create(
            cls.RequestRecorded,
            id=ctx.record_id,
            meta=meta,
            key=ctx.key,
            fingerprint=ctx.fingerprint,
            command=command,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
        )
