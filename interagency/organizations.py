"""Commands on the network register: organisations and their licence entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.errors import RuleViolationError
from domain.organization import InnIndex, Organization, validate_inn
from domain.values import EventMeta
from interagency.idempotency import IdempotencyContext
from interagency.pipeline import CommandPipeline, CommandResult


class OrganizationCommands(CommandPipeline):
    def register_organization(
        self,
        meta: EventMeta,
        *,
        name: str,
        inn: str,
        kind: str,
        agency: str,
        founder: str,
        municipality: str,
        address: str,
        organization_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Registers an organisation and its INN index entry in one ``save()``.

        Two concurrent registrations of one INN cannot both be stored: the second one's
        index entry conflicts (409).
        """
        oid = organization_id or uuid4()

        def decide() -> tuple[Organization, list[Aggregate]]:
            org = Organization.register(
                meta,
                organization_id=oid,
                name=name,
                inn=inn,
                kind=kind,
                agency=agency,
                founder=founder,
                municipality=municipality,
                address=address,
            )
            holder = self.find_organization_by_inn(org.inn)
            if holder is not None:
                raise RuleViolationError(
                    "inn_unique",
                    f"an INN belongs to one organisation of the register; INN {org.inn} is "
                    f"already registered to {holder.name!r} ({holder.id})",
                    organization_id=str(holder.id),
                )
            return org, [InnIndex.index(meta, inn=org.inn, organization_id=org.id)]

        return self._run("register_organization", meta, None, None, decide, idempotency)

    def rename_organization(
        self,
        meta: EventMeta,
        organization_id: UUID,
        *,
        name: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(o: Organization) -> None:
            o.rename(meta, name=name)

        return self._organization(
            "rename_organization", meta, organization_id, decide, expected_version, idempotency
        )

    def reorganize_organization(
        self,
        meta: EventMeta,
        organization_id: UUID,
        *,
        form: str,
        effective_on: date,
        name: str | None = None,
        kind: str | None = None,
        agency: str | None = None,
        founder: str | None = None,
        address: str | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(o: Organization) -> None:
            o.reorganize(
                meta,
                form=form,
                effective_on=effective_on,
                name=name,
                kind=kind,
                agency=agency,
                founder=founder,
                address=address,
            )

        return self._organization(
            "reorganize_organization", meta, organization_id, decide, expected_version, idempotency
        )

    def register_licence(
        self,
        meta: EventMeta,
        organization_id: UUID,
        *,
        number: str,
        sub_kinds: list[str],
        issued_on: date,
        issuer: str,
        licence_id: UUID | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        lid = licence_id or uuid4()

        def decide(o: Organization) -> None:
            o.register_licence(
                meta,
                licence_id=lid,
                number=number,
                sub_kinds=sub_kinds,
                issued_on=issued_on,
                issuer=issuer,
            )

        return self._organization(
            "register_licence", meta, organization_id, decide, expected_version, idempotency
        )

    def suspend_licence(
        self,
        meta: EventMeta,
        organization_id: UUID,
        licence_id: UUID,
        *,
        effective_on: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(o: Organization) -> None:
            o.suspend_licence(meta, licence_id=licence_id, effective_on=effective_on)

        return self._organization(
            "suspend_licence", meta, organization_id, decide, expected_version, idempotency
        )

    def reinstate_licence(
        self,
        meta: EventMeta,
        organization_id: UUID,
        licence_id: UUID,
        *,
        effective_on: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(o: Organization) -> None:
            o.reinstate_licence(meta, licence_id=licence_id, effective_on=effective_on)

        return self._organization(
            "reinstate_licence", meta, organization_id, decide, expected_version, idempotency
        )

    def terminate_licence(
        self,
        meta: EventMeta,
        organization_id: UUID,
        licence_id: UUID,
        *,
        effective_on: date,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        def decide(o: Organization) -> None:
            o.terminate_licence(meta, licence_id=licence_id, effective_on=effective_on)

        return self._organization(
            "terminate_licence", meta, organization_id, decide, expected_version, idempotency
        )

    # -- reads ------------------------------------------------------------------------

    def get_organization(
        self, organization_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> Organization:
        return self._load(Organization, organization_id, version, as_of)

    def find_organization_by_inn(self, inn: str) -> Organization | None:
        """The organisation registered under ``inn`` (validated first), if any."""
        try:
            index: InnIndex = self.repository.get(InnIndex.id_for(validate_inn(inn)))
        except AggregateNotFoundError:
            return None
        return self.get_organization(index.organization_id)

    # -- helpers ----------------------------------------------------------------------

    def _organization(
        self,
        command: str,
        meta: EventMeta,
        organization_id: UUID,
        decide: Callable[[Organization], None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        return self._update(
            command, meta, Organization, organization_id, decide, expected_version, idempotency
        )
