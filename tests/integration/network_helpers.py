"""Builders of a small municipal network through the application's own commands."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from domain.agreement import Clause
from domain.organization import inn_with_check_digits
from domain.values import EventMeta
from interagency.application import InteragencyApplication

META = EventMeta(
    actor_id="official-net", actor_role="official", actor_agency="education", correlation_id="t"
)
AE = "additional_education_children_adults"
CLAUSES = {c.value: f"Text of {c.value}" for c in Clause}
TERM = (date(2026, 9, 1), date(2027, 8, 31))


def new_inn() -> str:
    """A valid legal entity's INN no other test uses (the register keeps INNs unique).

    From uuid4, not ``random``: hypothesis seeds ``random`` the same for each example."""
    n = uuid4().int
    return inn_with_check_digits(f"{n % 90 + 10}{n // 100 % 10**7:07d}")


def register(
    app: InteragencyApplication,
    municipality: str,
    name: str,
    *,
    kind: str = "additional_education",
    agency: str = "education",
    licensed: bool = True,
) -> UUID:
    """An organisation, with an active additional-education licence unless told otherwise."""
    oid = uuid4()
    app.register_organization(
        META,
        organization_id=oid,
        name=name,
        inn=new_inn(),
        kind=kind,
        agency=agency,
        founder=f"Founder of {name}",
        municipality=municipality,
        address=f"{name} street 1",
    )
    if licensed:
        add_licence(app, oid)
    return oid


def add_licence(
    app: InteragencyApplication,
    oid: UUID,
    *,
    sub_kinds: list[str] | None = None,
    issued_on: date = date(2020, 1, 15),
) -> UUID:
    lid = uuid4()
    app.register_licence(
        META,
        oid,
        licence_id=lid,
        number=f"L-{lid.hex[:8]}",
        sub_kinds=sub_kinds or [AE],
        issued_on=issued_on,
        issuer="Regional education ministry",
    )
    return lid


def draft_program(
    app: InteragencyApplication,
    provider: UUID,
    *,
    title: str = "Robotics",
    kind: str = "general_developing",
    direction: str | None = "technical",
    partners: list[UUID] | None = None,
    min_age: int = 7,
    max_age: int = 14,
    capacity: int = 20,
) -> UUID:
    pid = uuid4()
    app.draft_program(
        META,
        program_id=pid,
        title=title,
        description=f"{title}: what children learn",
        provider_id=provider,
        kind=kind,
        direction=direction,
        min_age=min_age,
        max_age=max_age,
        hours=72,
        capacity=capacity,
        form="network" if partners else "standalone",
        partner_ids=partners,
    )
    return pid


def approve_all(app: InteragencyApplication, pid: UUID) -> None:
    for party in app.get_program(pid).teaching_parties:
        app.approve_program(META, pid, party_id=party)


def published_program(app: InteragencyApplication, provider: UUID, **kw: Any) -> UUID:
    """A standalone program, approved and published."""
    pid = draft_program(app, provider, **kw)
    approve_all(app, pid)
    app.publish_program(META, pid)
    return pid


def terms(
    parties: list[tuple[UUID, str]],
    programs: list[UUID],
    *,
    contributions: list[dict[str, Any]] | None = None,
    term: tuple[date, date] = TERM,
    model: str = "model_2",
) -> dict[str, Any]:
    return {
        "parties": [{"organization_id": str(o), "role": r} for o, r in parties],
        "model": model,
        "program_ids": [str(p) for p in programs],
        "contributions": contributions or [],
        "clauses": CLAUSES,
        "term_start": term[0].isoformat(),
        "term_end": term[1].isoformat(),
    }


def contribution(
    oid: UUID, resource_type: str, volume: str, unit: str, term: tuple[date, date] = TERM
) -> dict[str, Any]:
    return {
        "organization_id": str(oid),
        "resource_type": resource_type,
        "description": f"{resource_type} of {oid}",
        "volume": volume,
        "unit": unit,
        "period_from": term[0].isoformat(),
        "period_to": term[1].isoformat(),
    }


def sign_all(app: InteragencyApplication, aid: UUID) -> None:
    a = app.get_agreement(aid)
    assert a.pending_version is not None
    for party in a.unsigned_parties(a.pending_version):
        app.sign_agreement(
            META, aid, party_id=party, signatory="Director", signed_on=date(2026, 8, 1)
        )


def active_agreement(
    app: InteragencyApplication,
    municipality: str,
    agreement_terms: dict[str, Any],
    *,
    number: str | None = None,
) -> UUID:
    """Drafted, signed by every party and activated."""
    aid = uuid4()
    app.draft_agreement(
        META,
        agreement_id=aid,
        number=number or f"NA-{aid.hex[:6]}",
        title=f"Network agreement {aid.hex[:6]}",
        municipality=municipality,
        terms=agreement_terms,
    )
    sign_all(app, aid)
    app.activate_agreement(META, aid)
    return aid


def enrol(
    app: InteragencyApplication,
    pid: UUID,
    child: str,
    birth_year: int,
    *,
    territory: str = "Central",
    funding: str = "certificate",
    start: date = date(2026, 9, 1),
    end: date | None = None,
) -> UUID:
    eid = uuid4()
    app.enrol_child(
        META,
        pid,
        enrolment_id=eid,
        child_id=child,
        birth_year=birth_year,
        territory=territory,
        funding_source=funding,
        start_date=start,
        end_date=end,
    )
    return eid
