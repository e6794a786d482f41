"""The network register: organisations and licences, programs, agreements, the catalogue.

Rows hold the current picture; the in-force version of an agreement is known from its
events (the terms of every version travel on AgreementDrafted / AgreementDraftRevised /
AgreementAmendmentProposed; AgreementActivated / AgreementAmended say which is in force).
Names of organisations are joined at query time, so a renaming shows everywhere at once.
No child is identified here: programs keep only counts of enrolments.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import sql

from domain import agreement
from domain.agreement import NetworkAgreement
from domain.organization import LicenceSubKind, Organization
from domain.program import Program
from projections.runtime import Cursor, ProjectionView

O = Organization  # noqa: E741 - one letter per aggregate, like the other views
P = Program
A = NetworkAgreement

ADDITIONAL_EDUCATION = LicenceSubKind.ADDITIONAL_EDUCATION_CHILDREN_ADULTS.value
# Base and participant organisations teach: they need the licence (resource ones do not).
TEACHING_ROLES = sorted(r.value for r in agreement.TEACHING_ROLES)

_ORGANIZATION = (
    O.OrganizationRegistered,
    O.OrganizationRenamed,
    O.OrganizationReorganized,
    O.LicenceRegistered,
    O.LicenceSuspended,
    O.LicenceReinstated,
    O.LicenceTerminated,
)
_PROGRAM = (
    P.ProgramDrafted,
    P.ProgramApprovedByParty,
    P.ProgramApproved,
    P.ProgramPublished,
    P.ProgramArchived,
    P.ProgramCapacityChanged,
    P.ChildEnrolled,
    P.EnrolmentEnded,
)
_AGREEMENT = (
    A.AgreementDrafted,
    A.AgreementDraftRevised,
    A.AgreementSigned,
    A.AgreementActivated,
    A.AgreementAmendmentProposed,
    A.AgreementAmended,
    A.AgreementTerminated,
    A.AgreementExpired,
)


@dataclass
class _BatchState:
    """What a batch defers to its end (set-based statements instead of one per event)."""

    organizations: set[UUID] = field(default_factory=set)
    agreements: set[UUID] = field(default_factory=set)
    # Per program: (change of active enrolments, change of enrolments ever made).
    enrolments: dict[UUID, list[int]] = field(default_factory=dict)
    # Per aggregate: its last version and timestamp, by table.
    last: dict[str, dict[UUID, tuple[int, datetime]]] = field(
        default_factory=lambda: {"net_organizations": {}, "net_programs": {}, "net_agreements": {}}
    )


@dataclass(frozen=True)
class ProgramFilter:
    direction: str | None = None
    agency: str | None = None
    form: str | None = None
    status: str | None = None
    kind: str | None = None
    municipality: str | None = None
    provider_id: UUID | None = None


@dataclass(frozen=True)
class CatalogueFilter:
    direction: str | None = None
    age: int | None = None
    municipality: str | None = None
    agency: str | None = None
    form: str | None = None
    has_free_places: bool | None = None


class NetworkView(ProjectionView):
    """Organisations, licences, programs and agreements of the municipal network."""

    name = "network"
    tables = (
        "net_organizations",
        "net_licences",
        "net_programs",
        "net_agreements",
        "net_agreement_versions",
        "net_agreement_parties",
        "net_agreement_programs",
        "net_agreement_contributions",
    )
    topics = tuple(get_topic(c) for c in (*_ORGANIZATION, *_PROGRAM, *_AGREEMENT))

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        super().__init__(datastore, application_name)
        # Batch state per thread: two projectors may drive one view at once.
        self._local = threading.local()

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS net_organizations (
                organization_id uuid PRIMARY KEY,
                name text NOT NULL,
                inn text NOT NULL,
                kind text NOT NULL,
                agency text NOT NULL,
                founder text NOT NULL,
                municipality text NOT NULL,
                address text NOT NULL,
                reorganization_form text,
                reorganized_on date,
                licences int NOT NULL DEFAULT 0,
                additional_education_licence text NOT NULL DEFAULT 'none',
                has_active_additional_education_licence boolean NOT NULL DEFAULT false,
                version int NOT NULL,
                registered_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )""",
            (
                "CREATE INDEX IF NOT EXISTS net_organizations_list_idx "
                "ON net_organizations (municipality, name, organization_id)"
            ),
            """
            CREATE TABLE IF NOT EXISTS net_licences (
                organization_id uuid NOT NULL,
                licence_id uuid NOT NULL,
                number text NOT NULL,
                sub_kinds text[] NOT NULL,
                additional_education boolean NOT NULL,
                issued_on date NOT NULL,
                issuer text NOT NULL,
                status text NOT NULL,
                status_since date NOT NULL,
                PRIMARY KEY (organization_id, licence_id)
            )""",
            """
            CREATE TABLE IF NOT EXISTS net_programs (
                program_id uuid PRIMARY KEY,
                title text NOT NULL,
                description text NOT NULL,
                provider_id uuid NOT NULL,
                partner_ids uuid[] NOT NULL,
                agency text NOT NULL,
                municipality text NOT NULL,
                kind text NOT NULL,
                direction text NOT NULL,
                min_age int NOT NULL,
                max_age int NOT NULL,
                hours int NOT NULL,
                capacity int NOT NULL,
                form text NOT NULL,
                status text NOT NULL,
                approvals int NOT NULL DEFAULT 0,
                agreement_id uuid,
                active_enrolments int NOT NULL DEFAULT 0,
                enrolments_total int NOT NULL DEFAULT 0,
                version int NOT NULL,
                drafted_at timestamptz NOT NULL,
                published_at timestamptz,
                archived_at timestamptz,
                updated_at timestamptz NOT NULL
            )""",
            (
                "CREATE INDEX IF NOT EXISTS net_programs_catalogue_idx "
                "ON net_programs (status, municipality, direction)"
            ),
            """
            CREATE TABLE IF NOT EXISTS net_agreements (
                agreement_id uuid PRIMARY KEY,
                number text NOT NULL,
                title text NOT NULL,
                municipality text NOT NULL,
                status text NOT NULL,
                in_force boolean NOT NULL DEFAULT false,
                version_in_force int,
                latest_version int NOT NULL,
                model text,
                term_start date,
                term_end date,
                amendments int NOT NULL DEFAULT 0,
                activated_at timestamptz,
                terminated_on date,
                expired_on date,
                version int NOT NULL,
                drafted_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )""",
            (
                "CREATE INDEX IF NOT EXISTS net_agreements_term_idx "
                "ON net_agreements (in_force, term_end)"
            ),
            """
            CREATE TABLE IF NOT EXISTS net_agreement_versions (
                agreement_id uuid NOT NULL,
                version int NOT NULL,
                model text NOT NULL,
                term_start date NOT NULL,
                term_end date NOT NULL,
                clauses text[] NOT NULL,
                signed_by uuid[] NOT NULL DEFAULT '{}',
                PRIMARY KEY (agreement_id, version)
            )""",
            """
            CREATE TABLE IF NOT EXISTS net_agreement_parties (
                agreement_id uuid NOT NULL,
                version int NOT NULL,
                organization_id uuid NOT NULL,
                role text NOT NULL,
                PRIMARY KEY (agreement_id, version, organization_id, role)
            )""",
            (
                "CREATE INDEX IF NOT EXISTS net_agreement_parties_org_idx "
                "ON net_agreement_parties (organization_id)"
            ),
            """
            CREATE TABLE IF NOT EXISTS net_agreement_programs (
                agreement_id uuid NOT NULL,
                version int NOT NULL,
                program_id uuid NOT NULL,
                PRIMARY KEY (agreement_id, version, program_id)
            )""",
            """
            CREATE TABLE IF NOT EXISTS net_agreement_contributions (
                agreement_id uuid NOT NULL,
                version int NOT NULL,
                seq int NOT NULL,
                organization_id uuid NOT NULL,
                resource_type text NOT NULL,
                description text NOT NULL,
                volume numeric,
                unit text,
                period_from date,
                period_to date,
                PRIMARY KEY (agreement_id, version, seq)
            )""",
        ]

    # -- updates ------------------------------------------------------------------------

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        if isinstance(event, _ORGANIZATION):
            table = "net_organizations"
            self._organization(curs, event)
        elif isinstance(event, _PROGRAM):
            table = "net_programs"
            self._program(curs, event)
        elif isinstance(event, _AGREEMENT):
            table = "net_agreements"
            self._agreement(curs, event)
        else:
            return
        self._batch().last[table][event.originator_id] = (
            event.originator_version,
            event.timestamp,
        )

    def _organization(self, curs: Cursor, event: Any) -> None:
        oid: UUID = event.originator_id
        if isinstance(event, O.OrganizationRegistered):
            curs.execute(
                "INSERT INTO net_organizations (organization_id, name, inn, kind, agency, "
                "founder, municipality, address, version, registered_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    oid,
                    event.name,
                    event.inn,
                    event.kind,
                    event.agency,
                    event.founder,
                    event.municipality,
                    event.address,
                    event.originator_version,
                    event.timestamp,
                    event.timestamp,
                ),
            )
        elif isinstance(event, O.OrganizationRenamed):
            curs.execute(
                "UPDATE net_organizations SET name = %s WHERE organization_id = %s",
                (event.name, oid),
            )
        elif isinstance(event, O.OrganizationReorganized):
            curs.execute(
                "UPDATE net_organizations SET name = %s, kind = %s, agency = %s, founder = %s, "
                "address = %s, reorganization_form = %s, reorganized_on = %s "
                "WHERE organization_id = %s",
                (
                    event.name,
                    event.kind,
                    event.agency,
                    event.founder,
                    event.address,
                    event.form,
                    event.effective_on,
                    oid,
                ),
            )
        elif isinstance(event, O.LicenceRegistered):
            sub_kinds = [str(k) for k in event.sub_kinds]
            curs.execute(
                "INSERT INTO net_licences (organization_id, licence_id, number, sub_kinds, "
                "additional_education, issued_on, issuer, status, status_since) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s)",
                (
                    oid,
                    event.licence_id,
                    event.number,
                    sub_kinds,
                    ADDITIONAL_EDUCATION in sub_kinds,
                    event.issued_on,
                    event.issuer,
                    event.issued_on,
                ),
            )
            self._batch().organizations.add(oid)
        elif isinstance(event, O.LicenceSuspended | O.LicenceReinstated | O.LicenceTerminated):
            status = {
                O.LicenceSuspended: "suspended",
                O.LicenceReinstated: "active",
                O.LicenceTerminated: "terminated",
            }[type(event)]
            curs.execute(
                "UPDATE net_licences SET status = %s, status_since = %s "
                "WHERE organization_id = %s AND licence_id = %s",
                (status, event.effective_on, oid, event.licence_id),
            )
            self._batch().organizations.add(oid)

    def _program(self, curs: Cursor, event: Any) -> None:
        pid: UUID = event.originator_id
        ts = event.timestamp
        if isinstance(event, P.ProgramDrafted):
            curs.execute(
                "INSERT INTO net_programs (program_id, title, description, provider_id, "
                "partner_ids, agency, municipality, kind, direction, min_age, max_age, hours, "
                "capacity, form, status, version, drafted_at, updated_at) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'draft', %s, %s, %s)",
                (
                    pid,
                    event.title,
                    event.description,
                    event.provider_id,
                    list(event.partner_ids),
                    event.agency,
                    event.municipality,
                    event.kind,
                    event.direction,
                    event.min_age,
                    event.max_age,
                    event.hours,
                    event.capacity,
                    event.form,
                    event.originator_version,
                    ts,
                    ts,
                ),
            )
        elif isinstance(event, P.ProgramApprovedByParty):
            curs.execute(
                "UPDATE net_programs SET approvals = approvals + 1 WHERE program_id = %s", (pid,)
            )
        elif isinstance(event, P.ProgramApproved):
            curs.execute(
                "UPDATE net_programs SET status = 'approved' WHERE program_id = %s", (pid,)
            )
        elif isinstance(event, P.ProgramPublished):
            curs.execute(
                "UPDATE net_programs SET status = 'published', agreement_id = %s, "
                "published_at = %s WHERE program_id = %s",
                (event.agreement_id, ts, pid),
            )
        elif isinstance(event, P.ProgramArchived):
            curs.execute(
                "UPDATE net_programs SET status = 'archived', archived_at = %s "
                "WHERE program_id = %s",
                (ts, pid),
            )
        elif isinstance(event, P.ProgramCapacityChanged):
            curs.execute(
                "UPDATE net_programs SET capacity = %s WHERE program_id = %s",
                (event.capacity, pid),
            )
        elif isinstance(event, P.ChildEnrolled):
            delta = self._batch().enrolments.setdefault(pid, [0, 0])
            delta[0] += 1
            delta[1] += 1
        elif isinstance(event, P.EnrolmentEnded):
            self._batch().enrolments.setdefault(pid, [0, 0])[0] -= 1

    def _agreement(self, curs: Cursor, event: Any) -> None:
        aid: UUID = event.originator_id
        if isinstance(event, A.AgreementDrafted):
            curs.execute(
                "INSERT INTO net_agreements (agreement_id, number, title, municipality, status, "
                "latest_version, version, drafted_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'draft', 1, %s, %s, %s)",
                (
                    aid,
                    event.number,
                    event.title,
                    event.municipality,
                    event.originator_version,
                    event.timestamp,
                    event.timestamp,
                ),
            )
            self._terms(curs, aid, 1, event.terms)
        elif isinstance(event, A.AgreementDraftRevised):
            for table in (
                "net_agreement_versions",
                "net_agreement_parties",
                "net_agreement_programs",
                "net_agreement_contributions",
            ):
                curs.execute(
                    sql.SQL("DELETE FROM {} WHERE agreement_id = %s AND version = %s").format(
                        sql.Identifier(table)
                    ),
                    (aid, event.version),
                )
            self._terms(curs, aid, event.version, event.terms)
        elif isinstance(event, A.AgreementAmendmentProposed):
            self._terms(curs, aid, event.version, event.terms)
            curs.execute(
                "UPDATE net_agreements SET latest_version = greatest(latest_version, %s) "
                "WHERE agreement_id = %s",
                (event.version, aid),
            )
        elif isinstance(event, A.AgreementSigned):
            curs.execute(
                "UPDATE net_agreement_versions SET signed_by = array_append(signed_by, %s) "
                "WHERE agreement_id = %s AND version = %s AND NOT (%s = ANY(signed_by))",
                (event.party_id, aid, event.version, event.party_id),
            )
            # Signed by every party of that version, before it is in force: "signed".
            curs.execute(
                "UPDATE net_agreements a SET status = 'signed' "
                "WHERE a.agreement_id = %s AND a.status = 'draft' AND NOT EXISTS ("
                "SELECT 1 FROM net_agreement_parties p JOIN net_agreement_versions v "
                "USING (agreement_id, version) WHERE p.agreement_id = a.agreement_id "
                "AND p.version = %s AND NOT (p.organization_id = ANY(v.signed_by)))",
                (aid, event.version),
            )
        elif isinstance(event, A.AgreementActivated):
            curs.execute(
                "UPDATE net_agreements SET status = 'active', in_force = true, "
                "version_in_force = %s, activated_at = %s WHERE agreement_id = %s",
                (event.version, event.timestamp, aid),
            )
        elif isinstance(event, A.AgreementAmended):
            curs.execute(
                "UPDATE net_agreements SET status = 'amended', version_in_force = %s, "
                "amendments = amendments + 1 WHERE agreement_id = %s",
                (event.version, aid),
            )
        elif isinstance(event, A.AgreementTerminated):
            curs.execute(
                "UPDATE net_agreements SET status = 'terminated', in_force = false, "
                "terminated_on = %s WHERE agreement_id = %s",
                (event.terminated_on, aid),
            )
        elif isinstance(event, A.AgreementExpired):
            curs.execute(
                "UPDATE net_agreements SET status = 'expired', in_force = false, "
                "expired_on = %s WHERE agreement_id = %s",
                (event.expired_on, aid),
            )
        else:
            return
        self._batch().agreements.add(aid)

    def _terms(self, curs: Cursor, aid: UUID, version: int, terms: dict[str, Any]) -> None:
        """The rows of one version of an agreement's terms."""
        curs.execute(
            "INSERT INTO net_agreement_versions (agreement_id, version, model, term_start, "
            "term_end, clauses) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                aid,
                version,
                terms["model"],
                date.fromisoformat(terms["term_start"]),
                date.fromisoformat(terms["term_end"]),
                sorted(k for k, v in terms.get("clauses", {}).items() if v),
            ),
        )
        curs.executemany(
            "INSERT INTO net_agreement_parties (agreement_id, version, organization_id, role) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(aid, version, UUID(p["organization_id"]), p["role"]) for p in terms["parties"]],
        )
        curs.executemany(
            "INSERT INTO net_agreement_programs (agreement_id, version, program_id) "
            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            [(aid, version, UUID(p)) for p in terms.get("program_ids", [])],
        )
        curs.executemany(
            "INSERT INTO net_agreement_contributions (agreement_id, version, seq, "
            "organization_id, resource_type, description, volume, unit, period_from, "
            "period_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    aid,
                    version,
                    seq,
                    UUID(c["organization_id"]),
                    c["resource_type"],
                    c.get("description") or "",
                    _decimal(c.get("volume")),
                    c.get("unit"),
                    _date(c.get("period_from")),
                    _date(c.get("period_to")),
                )
                for seq, c in enumerate(terms.get("contributions", []), start=1)
            ],
        )

    # -- once per batch -------------------------------------------------------------------

    def _batch(self) -> _BatchState:
        state: _BatchState | None = getattr(self._local, "batch", None)
        if state is None:
            msg = "NetworkView.process() runs inside a batch: use a Projector"
            raise RuntimeError(msg)
        return state

    def begin_batch(self) -> None:
        self._local.batch = _BatchState()

    def end_batch(self, curs: Cursor) -> None:
        state = self._batch()
        self._local.batch = None
        if state.organizations:
            self._recount_licences(curs, sorted(state.organizations))
        if state.enrolments:
            ids = sorted(state.enrolments)
            curs.execute(
                "UPDATE net_programs p SET active_enrolments = p.active_enrolments + d.active, "
                "enrolments_total = p.enrolments_total + d.total "
                "FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS d(program_id, active, total) "
                "WHERE p.program_id = d.program_id",
                (
                    ids,
                    [state.enrolments[i][0] for i in ids],
                    [state.enrolments[i][1] for i in ids],
                ),
            )
        if state.agreements:
            # The model and the term shown: those of the version in force, else the latest.
            curs.execute(
                "UPDATE net_agreements a SET model = v.model, term_start = v.term_start, "
                "term_end = v.term_end FROM net_agreement_versions v "
                "WHERE a.agreement_id = ANY(%s) AND v.agreement_id = a.agreement_id "
                "AND v.version = coalesce(a.version_in_force, a.latest_version)",
                (sorted(state.agreements),),
            )
        for table, last in state.last.items():
            if not last:
                continue
            ids = list(last)
            key = {
                "net_organizations": "organization_id",
                "net_programs": "program_id",
                "net_agreements": "agreement_id",
            }[table]
            curs.execute(
                sql.SQL(
                    "UPDATE {t} x SET version = v.version, updated_at = v.ts "
                    "FROM unnest(%s::uuid[], %s::int[], %s::timestamptz[]) AS v(id, version, ts) "
                    "WHERE x.{k} = v.id"
                ).format(t=sql.Identifier(table), k=sql.Identifier(key)),
                (ids, [last[i][0] for i in ids], [last[i][1] for i in ids]),
            )

    def _recount_licences(self, curs: Cursor, organization_ids: list[UUID]) -> None:
        curs.execute(
            """
            UPDATE net_organizations o SET
                licences = c.licences,
                additional_education_licence = c.best,
                has_active_additional_education_licence = (c.best = 'active')
            FROM (
                SELECT o2.organization_id,
                    count(l.licence_id) AS licences,
                    CASE
                        WHEN bool_or(l.additional_education AND l.status = 'active')
                            THEN 'active'
                        WHEN bool_or(l.additional_education AND l.status = 'suspended')
                            THEN 'suspended'
                        WHEN bool_or(l.additional_education) THEN 'terminated'
                        ELSE 'none'
                    END AS best
                FROM net_organizations o2
                LEFT JOIN net_licences l USING (organization_id)
                WHERE o2.organization_id = ANY(%s)
                GROUP BY o2.organization_id
            ) c
            WHERE o.organization_id = c.organization_id
            """,
            (organization_ids,),
        )

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row, in an order that does not depend on insertion: several tables here
        need more than two columns to identify a row."""
        return {t: sorted(rows, key=repr) for t, rows in super().dump().items()}

    # -- queries: organisations -----------------------------------------------------------

    def organizations(
        self,
        *,
        municipality: str | None = None,
        agency: str | None = None,
        kind: str | None = None,
        licence_status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """The register: one row per organisation with the state of its licences."""
        where, params = _where(
            ("o.municipality = %s", municipality),
            ("o.agency = %s", agency),
            ("o.kind = %s", kind),
            ("o.additional_education_licence = %s", licence_status),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM net_organizations o") + where, params)
            total = _count(curs)
            curs.execute(
                sql.SQL("SELECT o.* FROM net_organizations o")
                + where
                + sql.SQL(" ORDER BY o.name, o.organization_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, total

    def licences(self, organization_id: UUID) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT * FROM net_licences WHERE organization_id = %s "
                "ORDER BY issued_on, licence_id",
                (organization_id,),
            )
            return [dict(r) for r in curs.fetchall()]

    def unlicensed_teaching_parties(
        self, on: date, municipality: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Base and participant organisations of agreements in force that have no active
        additional-education licence issued by ``on``: a page of them, and how many in all.

        Activation refuses such parties, so rows here mean a licence was suspended or
        terminated afterwards (or the organisation left the register).
        """
        where, params = _where(
            ("a.in_force",),
            ("p.role = ANY(%s)", TEACHING_ROLES),
            (
                (
                    "NOT EXISTS (SELECT 1 FROM net_licences l "
                    "WHERE l.organization_id = p.organization_id AND l.additional_education "
                    "AND l.status = 'active' AND l.issued_on <= %s)"
                ),
                on,
            ),
            ("a.municipality = %s", municipality),
        )
        joins = sql.SQL(
            """
            FROM net_agreements a
            JOIN net_agreement_parties p ON p.agreement_id = a.agreement_id
                AND p.version = a.version_in_force
            LEFT JOIN net_organizations o ON o.organization_id = p.organization_id
            """
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n ") + joins + where, params)
            total = _count(curs)
            curs.execute(
                sql.SQL(
                    """
                    SELECT a.agreement_id, a.number, a.title, a.municipality,
                        a.version_in_force, p.organization_id, p.role, o.name, o.inn,
                        coalesce(o.additional_education_licence, 'none')
                            AS additional_education_licence
                    """
                )
                + joins
                + where
                # The parties' key ends the order (an organisation may hold two roles):
                # pages neither repeat nor skip a row.
                + sql.SQL(
                    " ORDER BY a.number, a.agreement_id, o.name, p.organization_id, p.role "
                    "LIMIT %s OFFSET %s"
                ),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, total

    # -- queries: programs ------------------------------------------------------------------

    def programs(
        self, f: ProgramFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _where(
            ("p.direction = %s", f.direction),
            ("p.agency = %s", f.agency),
            ("p.form = %s", f.form),
            ("p.status = %s", f.status),
            ("p.kind = %s", f.kind),
            ("p.municipality = %s", f.municipality),
            ("(p.provider_id = %s OR %s = ANY(p.partner_ids))", f.provider_id, f.provider_id),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM net_programs p") + where, params)
            total = _count(curs)
            curs.execute(
                _PROGRAMS + where + sql.SQL(" ORDER BY p.title, p.program_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, total

    def program(self, program_id: UUID) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(_PROGRAMS + sql.SQL(" WHERE p.program_id = %s"), (program_id,))
            row = curs.fetchone()
        return None if row is None else dict(row)

    def programs_summary(
        self, *, municipality: str | None = None, status: str | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Programs, places and enrolments by direction, by agency and by form."""
        where, params = _where(("municipality = %s", municipality), ("status = %s", status))
        out: dict[str, list[dict[str, Any]]] = {}
        with self.datastore.transaction(commit=False) as curs:
            for dimension in ("direction", "agency", "form"):
                curs.execute(
                    sql.SQL(
                        "SELECT {d} AS key, count(*) AS programs, "
                        "count(*) FILTER (WHERE status = 'published') AS published, "
                        "coalesce(sum(capacity), 0) AS capacity, "
                        "coalesce(sum(active_enrolments), 0) AS active_enrolments, "
                        "coalesce(sum(greatest(capacity - active_enrolments, 0)) "
                        "FILTER (WHERE status = 'published'), 0) AS free_places "
                        "FROM net_programs"
                    ).format(d=sql.Identifier(dimension))
                    + where
                    + sql.SQL(" GROUP BY 1 ORDER BY 1"),
                    params,
                )
                out[dimension] = [
                    {k: int(v) if k != "key" else v for k, v in r.items()} for r in curs.fetchall()
                ]
        return out

    # -- queries: agreements ----------------------------------------------------------------

    def agreements(
        self,
        *,
        status: str | None = None,
        municipality: str | None = None,
        in_force: bool | None = None,
        organization_id: UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Agreements with the parties, programs and contributions of the version in
        force (of the latest version while none is)."""
        where, params = _where(
            ("a.status = %s", status),
            ("a.municipality = %s", municipality),
            ("a.in_force = %s", in_force),
            (
                (
                    "EXISTS (SELECT 1 FROM net_agreement_parties x WHERE "
                    "x.agreement_id = a.agreement_id AND x.organization_id = %s AND "
                    "x.version = coalesce(a.version_in_force, a.latest_version))"
                ),
                organization_id,
            ),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM net_agreements a") + where, params)
            total = _count(curs)
            curs.execute(
                sql.SQL(_AGREEMENTS)
                + where
                + sql.SQL(" ORDER BY a.number, a.agreement_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, total

    def agreement(self, agreement_id: UUID) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                sql.SQL(_AGREEMENTS) + sql.SQL(" WHERE a.agreement_id = %s"), (agreement_id,)
            )
            row = curs.fetchone()
        return None if row is None else dict(row)

    def expiring(
        self,
        on: date,
        within_days: int,
        municipality: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Agreements in force whose term ends by ``on`` + ``within_days`` (those whose term
        already ended but that nobody marked expired come first: they are overdue): a page
        of them, and how many in all."""
        where, params = _where(
            ("a.in_force",),
            ("a.term_end <= %s", on + timedelta(days=within_days)),
            ("a.municipality = %s", municipality),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM net_agreements a") + where, params)
            total = _count(curs)
            curs.execute(
                sql.SQL(_AGREEMENTS)
                + where
                + sql.SQL(" ORDER BY a.term_end, a.number, a.agreement_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        for r in rows:
            r["days_left"] = (r["term_end"] - on).days
        return rows, total

    def contributions_by_resource_type(
        self, municipality: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Resource contributions of the agreements in force, per resource type: how many,
        in how many agreements, by how many organisations, and volumes per unit. A page of
        resource types, and how many resource types have contributions in all."""
        where, params = _where(("a.in_force",), ("a.municipality = %s", municipality))
        base = (
            sql.SQL(
                "FROM net_agreements a JOIN net_agreement_contributions c "
                "ON c.agreement_id = a.agreement_id AND c.version = a.version_in_force"
            )
            + where
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(DISTINCT c.resource_type) AS n ") + base, params)
            total = _count(curs)
            curs.execute(
                sql.SQL(
                    "SELECT c.resource_type, count(*) AS contributions, "
                    "count(DISTINCT a.agreement_id) AS agreements, "
                    "count(DISTINCT c.organization_id) AS organizations "
                )
                + base
                + sql.SQL(" GROUP BY 1 ORDER BY 1 LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = {r["resource_type"]: dict(r) for r in curs.fetchall()}
            if rows:
                # The volumes of the page's resource types only.
                curs.execute(
                    sql.SQL(
                        "SELECT c.resource_type, c.unit, count(*) AS contributions, "
                        "sum(c.volume) AS volume "
                    )
                    + base
                    + sql.SQL(" AND c.volume IS NOT NULL AND c.resource_type = ANY(%s)")
                    + sql.SQL(" GROUP BY 1, 2 ORDER BY 1, 2"),
                    [*params, list(rows)],
                )
                for r in curs.fetchall():
                    rows[r["resource_type"]].setdefault("volumes", []).append(
                        {
                            "unit": r["unit"],
                            "contributions": r["contributions"],
                            "volume": r["volume"],
                        }
                    )
        for r in rows.values():
            r.setdefault("volumes", [])
        return list(rows.values()), total

    # -- queries: the public catalogue -------------------------------------------------------

    def catalogue(
        self, f: CatalogueFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Programs offered to families: published, and a network program only while the
        agreement in force lists it; with their providers and, for network programs, the
        agreement. Nothing about children is here."""
        where, params = _where(
            (_OFFERED,),
            ("p.direction = %s", f.direction),
            ("p.min_age <= %s AND p.max_age >= %s", f.age, f.age),
            ("p.municipality = %s", f.municipality),
            ("p.agency = %s", f.agency),
            ("p.form = %s", f.form),
            ("(p.capacity > p.active_enrolments) = %s", f.has_free_places),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM net_programs p") + where, params)
            total = _count(curs)
            curs.execute(
                _CATALOGUE + where + sql.SQL(" ORDER BY p.title, p.program_id LIMIT %s OFFSET %s"),
                [*params, limit, offset],
            )
            rows = [dict(r) for r in curs.fetchall()]
        return rows, total

    def catalogue_program(self, program_id: UUID) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                _CATALOGUE
                + sql.SQL(" WHERE ")
                + sql.SQL(_OFFERED)
                + sql.SQL(" AND p.program_id = %s"),
                (program_id,),
            )
            row = curs.fetchone()
        return None if row is None else dict(row)


# The teaching organisations of a program (provider first, then partners), with names.
_PROVIDERS = """
coalesce((SELECT jsonb_agg(jsonb_build_object(
        'organization_id', t.organization_id, 'name', o.name,
        'role', CASE WHEN t.n = 1 THEN 'provider' ELSE 'partner' END) ORDER BY t.n)
    FROM unnest(p.provider_id || p.partner_ids) WITH ORDINALITY AS t(organization_id, n)
    LEFT JOIN net_organizations o ON o.organization_id = t.organization_id), '[]')
"""

_PROGRAMS = sql.SQL(
    "SELECT p.*, greatest(p.capacity - p.active_enrolments, 0) AS free_places, "
    "{providers} AS providers FROM net_programs p"
).format(providers=sql.SQL(_PROVIDERS))

# Offered to families: published, and for a network program, listed by its agreement's
# version in force (a terminated or expired agreement, or an amendment that dropped the
# program, takes it out of the catalogue though the program itself stays published).
_OFFERED = (
    "p.status = 'published' AND (p.form <> 'network' OR EXISTS ("
    "SELECT 1 FROM net_agreements x JOIN net_agreement_programs xp "
    "ON xp.agreement_id = x.agreement_id AND xp.version = x.version_in_force "
    "WHERE x.agreement_id = p.agreement_id AND x.in_force AND xp.program_id = p.program_id))"
)

_CATALOGUE = sql.SQL(
    "SELECT p.program_id, p.title, p.description, p.kind, p.direction, p.form, p.agency, "
    "p.municipality, p.min_age, p.max_age, p.hours, p.capacity, "
    "greatest(p.capacity - p.active_enrolments, 0) AS free_places, "
    "{providers} AS providers, "
    "CASE WHEN a.agreement_id IS NULL THEN NULL ELSE jsonb_build_object("
    "'agreement_id', a.agreement_id, 'number', a.number, 'title', a.title, "
    "'term_start', a.term_start, 'term_end', a.term_end) END AS agreement "
    "FROM net_programs p LEFT JOIN net_agreements a ON a.agreement_id = p.agreement_id "
    "AND p.form = 'network'"
).format(providers=sql.SQL(_PROVIDERS))

# An agreement with the terms of its version in force (else of its latest version).
# Volumes travel as text inside the JSON, so they stay exact decimals.
_AGREEMENTS = """
SELECT a.*, coalesce(a.version_in_force, a.latest_version) AS terms_version,
    coalesce((SELECT jsonb_agg(jsonb_build_object(
            'organization_id', x.organization_id, 'name', o.name, 'role', x.role)
            ORDER BY x.role, o.name, x.organization_id)
        FROM net_agreement_parties x
        LEFT JOIN net_organizations o ON o.organization_id = x.organization_id
        WHERE x.agreement_id = a.agreement_id
            AND x.version = coalesce(a.version_in_force, a.latest_version)), '[]') AS parties,
    coalesce((SELECT jsonb_agg(jsonb_build_object(
            'program_id', x.program_id, 'title', p.title, 'status', p.status)
            ORDER BY p.title, x.program_id)
        FROM net_agreement_programs x
        LEFT JOIN net_programs p ON p.program_id = x.program_id
        WHERE x.agreement_id = a.agreement_id
            AND x.version = coalesce(a.version_in_force, a.latest_version)), '[]') AS programs,
    coalesce((SELECT jsonb_agg(jsonb_build_object(
            'organization_id', c.organization_id, 'name', o.name,
            'resource_type', c.resource_type, 'description', c.description,
            'volume', c.volume::text, 'unit', c.unit,
            'period_from', c.period_from, 'period_to', c.period_to) ORDER BY c.seq)
        FROM net_agreement_contributions c
        LEFT JOIN net_organizations o ON o.organization_id = c.organization_id
        WHERE c.agreement_id = a.agreement_id
            AND c.version = coalesce(a.version_in_force, a.latest_version)), '[]')
        AS contributions
FROM net_agreements a
"""


def _where(*conditions: tuple[Any, ...]) -> tuple[sql.Composable, list[Any]]:
    """`` WHERE a AND b`` from (predicate, *values): each value fills one placeholder, in
    order; a condition with a None value is left out (a filter not asked for)."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for predicate, *values in conditions:
        if any(v is None for v in values):
            continue
        parts.append(sql.SQL(predicate))
        params.extend(values)
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params


def _count(curs: Cursor) -> int:
    row = curs.fetchone()
    return 0 if row is None else int(row["n"])


def _decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))
