"""Commands on network agreements (273-FZ art. 15): parties, clauses, signatures, versions.

The application gathers the facts the domain needs from other aggregates (each party's
organisation kind, their licences, that the programs exist) and passes them in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.agreement import (
    NetworkAgreement,
    parse_terms,
    terms_party_ids,
    terms_program_ids,
    terms_teaching_party_ids,
)
from domain.errors import NotFoundError, RuleViolationError
from domain.program import Program
from domain.values import EventMeta, OrganizationKind
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class AgreementCommands(CommandPipeline):
    def draft_agreement(
        self,
        meta: EventMeta,
        *,
        number: str,
        title: str,
        municipality: str,
        terms: Mapping[str, Any],
        agreement_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Drafts version 1 of an agreement between registered organisations."""

        def create() -> NetworkAgreement:
            return NetworkAgreement.draft(
                meta,
                agreement_id=agreement_id or uuid4(),
                number=number,
                title=title,
                municipality=municipality,
                terms=terms,
                party_kinds=self._party_kinds(terms),
            )

        return self._create("draft_agreement", meta, create, idempotency)

    def revise_agreement_draft(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        terms: Mapping[str, Any],
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Replaces the terms of the version awaiting signatures, while nobody signed it."""

        def decide(a: NetworkAgreement) -> None:
            a.check_revisable()  # the agreement's state first, then the other aggregates
            a.revise_draft(meta, terms=terms, party_kinds=self._party_kinds(terms))

        return self._agreement(
            "revise_agreement_draft", meta, agreement_id, decide, expected_version, idempotency
        )

    def sign_agreement(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        party_id: UUID,
        signatory: str,
        signed_on: date,
        version: int | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """A party signs the version awaiting signatures (``version``: the one it read)."""

        def decide(a: NetworkAgreement) -> None:
            a.sign(
                meta, party_id=party_id, signatory=signatory, signed_on=signed_on, version=version
            )

        return self._agreement(
            "sign_agreement", meta, agreement_id, decide, expected_version, idempotency
        )

    def activate_agreement(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Puts the signed pending version in force (the first activates, a later amends).

        Each teaching party (base, participant) must hold an active licence for additional
        education of children and adults, issued on or before that version's term start.
        """

        def decide(a: NetworkAgreement) -> None:
            terms = a.pending_terms()
            licensed: set[UUID] = set()
            if terms is not None:
                term_start = date.fromisoformat(terms["term_start"])
                for party_id in terms_teaching_party_ids(terms):
                    org = self.require_organization(party_id, "terms.parties")
                    if org.licensed_for_additional_education(term_start):
                        licensed.add(party_id)
            a.activate(meta, licensed_parties=licensed)

        return self._agreement(
            "activate_agreement", meta, agreement_id, decide, expected_version, idempotency
        )

    def propose_amendment(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        terms: Mapping[str, Any],
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Proposes the next version of the terms of an agreement in force."""

        def decide(a: NetworkAgreement) -> None:
            a.check_amendable()  # the agreement's state first, then the other aggregates
            a.propose_amendment(
                meta, terms=terms, party_kinds=self._party_kinds(terms), reason=reason
            )

        return self._agreement(
            "propose_amendment", meta, agreement_id, decide, expected_version, idempotency
        )

    def terminate_agreement(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        reason: str,
        terminated_on: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(a: NetworkAgreement) -> None:
            a.terminate(meta, reason=reason, terminated_on=terminated_on)

        return self._agreement(
            "terminate_agreement", meta, agreement_id, decide, expected_version, idempotency
        )

    def expire_agreement(
        self,
        meta: EventMeta,
        agreement_id: UUID,
        *,
        today: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Records that the agreement's term ran out; ``today`` is the caller's local date."""

        def decide(a: NetworkAgreement) -> None:
            a.expire(meta, today=today)

        return self._agreement(
            "expire_agreement", meta, agreement_id, decide, expected_version, idempotency
        )

    # -- reads ------------------------------------------------------------------------

    def get_agreement(
        self, agreement_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> NetworkAgreement:
        return self._load(NetworkAgreement, agreement_id, version, as_of)

    # -- helpers ----------------------------------------------------------------------

    def _party_kinds(self, terms: Mapping[str, Any]) -> dict[UUID, OrganizationKind]:
        """Checks the terms, that every party is registered and every program exists;
        answers each party's organisation kind for the domain's rules."""
        parsed = parse_terms(terms)
        kinds = {
            party_id: self.require_organization(party_id, "terms.parties").kind
            for party_id in terms_party_ids(parsed)
        }
        for program_id in terms_program_ids(parsed):
            try:
                self._load(Program, program_id)
            except NotFoundError:
                raise RuleViolationError(
                    "agreement_program_exists",
                    f"terms.program_ids: there is no program {program_id}; an agreement "
                    "lists programs already drafted",
                    field="terms.program_ids",
                ) from None
        return kinds

    def _agreement(
        self,
        command: str,
        meta: EventMeta,
        agreement_id: UUID,
        decide: Callable[[NetworkAgreement], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        return self._update(
            command, meta, NetworkAgreement, agreement_id, decide, expected_version, idempotency
        )
