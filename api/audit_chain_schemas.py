"""Answers of the tamper-evidence routes: verify and digest."""

from __future__ import annotations

from pydantic import BaseModel, Field

from interagency import evidence
from interagency.evidence import Break, Checkpoint
from projections.chain import MAX_SPAN, ChainVerification


class ChainBreakPublic(BaseModel):
    position: int | None = Field(description="Where the record and the chain disagree")
    kind: str = Field(
        description="altered, deleted, inserted, chain_link, chain_entry, checkpoint, truncated"
    )
    detail: str

    @classmethod
    def of(cls, b: Break) -> ChainBreakPublic:
        return cls(position=b.position, kind=b.kind, detail=b.detail)


class AuditVerifyPublic(BaseModel):
    ok: bool = Field(description="True when nothing in the range disagrees with the chain")
    from_position: int
    to_position: int
    chain_position: int = Field(description="The position the chain process has reached")
    event_head: int = Field(description="The last position of the event log")
    entering_hash: str = Field(description="Hash of the chain entry before the range (hex)")
    last_entry_hash: str | None = Field(description="Recomputed hash at the range's last entry")
    events_checked: int
    entries_checked: int
    checkpoints_checked: int = Field(description="Signed checkpoints in the range, verified")
    last_checkpoint: int | None
    key_ids: list[str] = Field(description="Keys that signed the checkpoints checked")
    first_break: ChainBreakPublic | None
    breaks: list[ChainBreakPublic] = Field(description="The first 100 breaks, in position order")
    more_breaks: bool
    unchained_events: int = Field(
        description="Events after the chain's position: not chained yet (the process lags), "
        "so not yet evidence"
    )
    first_unchained: int | None
    next_from: int | None = Field(description="Where the next range starts, if any remains")
    max_span: int = Field(description="Positions one request may span")

    @classmethod
    def of(cls, v: ChainVerification) -> AuditVerifyPublic:
        r = v.report
        return cls(
            ok=r.ok,
            from_position=v.from_position,
            to_position=v.to_position,
            chain_position=v.chain_position,
            event_head=v.event_head,
            entering_hash=v.entering_hash.hex(),
            last_entry_hash=None if r.last_entry_hash is None else r.last_entry_hash.hex(),
            events_checked=r.events_checked,
            entries_checked=r.entries_checked,
            checkpoints_checked=r.checkpoints_checked,
            last_checkpoint=r.last_checkpoint,
            key_ids=sorted(r.key_ids),
            first_break=None if r.first_break is None else ChainBreakPublic.of(r.first_break),
            breaks=[ChainBreakPublic.of(b) for b in r.breaks],
            more_breaks=r.more_breaks,
            unchained_events=r.unchained_count,
            first_unchained=r.first_unchained,
            next_from=v.next_from,
            max_span=MAX_SPAN,
        )


class AuditDigestPublic(BaseModel):
    """The latest signed checkpoint, with everything needed to check its signature."""

    position: int = Field(description="The chain entry the checkpoint vouches for")
    entry_hash: str = Field(description="That entry's hash (hex)")
    signed_at: str = Field(description="UTC time as signed, e.g. 2026-11-01T09:30:00.000000Z")
    key_id: str = Field(description="Hex of the first 16 bytes of SHA-256 of the raw public key")
    algorithm: str = "Ed25519"
    signature_base64: str
    public_key_base64: str = Field(description="The raw 32-byte Ed25519 public key")
    public_key_pem: str = Field(description="The same key as SubjectPublicKeyInfo PEM")
    signed_message_base64: str = Field(
        description="The exact bytes signed (see docs/auditors-guide.md for their layout)"
    )
    message_format: str = evidence.CHECKPOINT_DOMAIN.decode("ascii")

    @classmethod
    def of(cls, c: Checkpoint) -> AuditDigestPublic:
        return cls(
            position=c.position,
            entry_hash=c.entry_hash.hex(),
            signed_at=c.signed_at,
            key_id=c.key_id,
            signature_base64=evidence.b64(c.signature),
            public_key_base64=evidence.b64(c.public_key),
            public_key_pem=evidence.public_key_pem(c.public_key),
            signed_message_base64=evidence.b64(c.message()),
        )
