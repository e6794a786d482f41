"""Time travel on PostgreSQL: as_of and version answer exactly the states observed then.

A scenario runs commands on a project, a working group, an assignment, an organisation, an
agreement and a program, interleaved. After each command it records the moment and the
state read back through the aggregate's GET conversion. Afterwards, each recorded moment
(``as_of``) and version (``version``) must rebuild exactly the recorded state; a moment
before creation and a version beyond the last are refused, saying which.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from api.routes.audit_replay import CONVERTERS
from api.routes.projects import progress_at
from domain.agreement import NetworkAgreement
from domain.assignment import MunicipalAssignment
from domain.base import DomainAggregate
from domain.errors import NotFoundError, ValidationError
from domain.organization import Organization
from domain.program import Program
from domain.project import InteragencyProject
from domain.working_group import WorkingGroup
from interagency.application import InteragencyApplication
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from interagency.snapshots import ExactSnapshot
from interagency.storage import ensure_database
from projections.runtime import ProjectionWorker
from tests.conftest import settings_for, wait_projected
from tests.integration.network_helpers import (
    META,
    add_licence,
    enrol,
    new_inn,
    register,
    terms,
)

YEAR = 2027
SERVICE = "804200О.99.0.ББ52АЖ48000"


@dataclass(frozen=True)
class Observed:
    cls: type[DomainAggregate]
    aggregate_id: UUID
    moment: datetime
    version: int
    state: dict[str, Any]


def public(agg: DomainAggregate, moment: datetime) -> dict[str, Any]:
    """The aggregate as its GET shows it (organisations: licensed on the moment's date)."""
    state: dict[str, Any] = CONVERTERS[type(agg)].convert(agg, moment).model_dump(mode="json")
    return state


class Scenario:
    """Runs commands and records, after each, the moment and the state read back."""

    def __init__(self, app: InteragencyApplication) -> None:
        self.app = app
        self.observed: list[Observed] = []
        self.town = f"Time travel {uuid4().hex[:8]}"

    def step(self, cls: type[DomainAggregate], command: Callable[[], Any]) -> UUID:
        result = command()
        moment = datetime.now(UTC)
        agg = self.app._load(cls, result.aggregate_id)
        self.observed.append(Observed(cls, agg.id, moment, agg.version, public(agg, moment)))
        return UUID(str(result.aggregate_id))

    def get(self, cls: type[DomainAggregate], aggregate_id: UUID, **at: Any) -> Any:
        getter = {
            InteragencyProject: self.app.get_project,
            WorkingGroup: self.app.get_group,
            Program: self.app.get_program,
        }.get(cls)
        if getter is not None:
            return getter(aggregate_id, **at)
        return self.app._load(cls, aggregate_id, **at)


def run_scenario(app: InteragencyApplication) -> Scenario:
    s = Scenario(app)
    # An organisation is registered and licensed; a partner too (for the agreement).
    org = s.step(
        Organization,
        lambda: app.register_organization(
            META,
            organization_id=uuid4(),
            name="Centre of creativity",
            inn=new_inn(),
            kind="additional_education",
            agency="education",
            founder="Education office",
            municipality=s.town,
            address="Main street 1",
        ),
    )
    licence = uuid4()
    s.step(
        Organization,
        lambda: app.register_licence(
            META,
            org,
            licence_id=licence,
            number="L-1",
            sub_kinds=["additional_education_children_adults"],
            issued_on=date(2020, 1, 15),
            issuer="Regional ministry",
        ),
    )
    partner = register(app, s.town, "Library", kind="culture", agency="culture", licensed=False)

    # A project is initiated; a working group is established for it.
    pid = s.step(
        InteragencyProject,
        lambda: app.initiate_project(
            META,
            title="School and library",
            goal="Reading clubs",
            municipality=s.town,
            lead_agency="education",
            agencies=["education", "culture"],
        ),
    )
    gid = s.step(
        WorkingGroup,
        lambda: app.establish_group(
            META,
            kind="interagency",
            name="Board",
            basis_act="Order No. 7",
            municipality=s.town,
            project_id=pid,
        ),
    )
    members = [uuid4() for _ in range(3)]
    for n, (mid, agency) in enumerate(zip(members, ["education", "culture", "sport"], strict=True)):
        s.step(
            WorkingGroup,
            lambda mid=mid, agency=agency, n=n: app.appoint_member(  # type: ignore[misc]
                META,
                gid,
                member_id=mid,
                person=f"Person {n}",
                organization=f"Office of {agency}",
                agency=agency,
                position="chair" if n == 0 else "member",
                voting=True,
                appointed_on=date(2027, 1, 15),
            ),
        )

    # The project plans, submits and approves a deliverable, interleaved with the others.
    did = uuid4()
    s.step(
        InteragencyProject,
        lambda: app.plan_deliverable(
            META,
            pid,
            stage="social_ties_program",
            title="Programme of social ties",
            mechanism="regulation",
            deliverable_id=did,
        ),
    )
    aid = s.step(
        MunicipalAssignment,
        lambda: app.draft_assignment(
            META,
            organization_id=org,
            institution="Centre of creativity",
            agency="education",
            founder="Education office",
            municipality=s.town,
            fiscal_year=YEAR,
            lines=[
                {
                    "registry_number": SERVICE,
                    "service_name": "Additional general developing programmes",
                    "unit": "person_hours",
                    "planned": {str(YEAR): "1000", str(YEAR + 1): "1000"},
                    "allowed_deviation_pct": "5",
                    "normative_cost": "150.00",
                }
            ],
        ),
    )
    s.step(
        InteragencyProject,
        lambda: app.submit_deliverable(META, pid, did, document_ref="doc-1"),
    )
    s.step(
        MunicipalAssignment,
        lambda: app.approve_assignment(META, aid, basis_document="Order No. 1"),
    )
    meeting = uuid4()
    s.step(
        WorkingGroup,
        lambda: app.schedule_meeting(
            META, gid, meeting_id=meeting, held_on=date(2027, 2, 3), agenda=["Gate 1"]
        ),
    )
    s.step(InteragencyProject, lambda: app.approve_deliverable(META, pid, did))
    s.step(WorkingGroup, lambda: app.record_attendance(META, gid, meeting, present=members))
    s.step(
        MunicipalAssignment,
        lambda: app.amend_assignment(
            META,
            aid,
            changes=[("1", YEAR, Decimal(1200))],
            reason="New groups",
            basis_document="Order No. 7",
        ),
    )
    s.step(
        InteragencyProject,
        lambda: app.pass_gate(META, pid, reason="stage 1 is done", decision_ref="order-1"),
    )
    s.step(
        MunicipalAssignment,
        lambda: app.report_execution(
            META, aid, report_id=uuid4(), period="q1", actual={"1": Decimal(299)}
        ),
    )

    # A program and a network agreement between the two organisations.
    prog = s.step(
        Program,
        lambda: app.draft_program(
            META,
            program_id=uuid4(),
            title="Robotics",
            description="Robots",
            provider_id=org,
            kind="general_developing",
            direction="technical",
            min_age=7,
            max_age=14,
            hours=72,
            capacity=20,
            form="standalone",
        ),
    )
    s.step(Program, lambda: app.approve_program(META, prog, party_id=org))
    s.step(Program, lambda: app.publish_program(META, prog))
    agreement = s.step(
        NetworkAgreement,
        lambda: app.draft_agreement(
            META,
            agreement_id=uuid4(),
            number="NA-1",
            title="Reading clubs",
            municipality=s.town,
            terms=terms([(org, "base"), (partner, "resource")], [prog]),
        ),
    )
    a = app.get_agreement(agreement)
    assert a.pending_version is not None
    for party in a.unsigned_parties(a.pending_version):
        s.step(
            NetworkAgreement,
            lambda party=party: app.sign_agreement(  # type: ignore[misc]
                META, agreement, party_id=party, signatory="Director", signed_on=date(2026, 8, 1)
            ),
        )
    s.step(NetworkAgreement, lambda: app.activate_agreement(META, agreement))
    s.step(Program, lambda: app.change_program_capacity(META, prog, capacity=25))
    enrolled = enrol(app, prog, "child-0001", 2016)
    s.observed.append(
        Observed(
            Program,
            prog,
            datetime.now(UTC),
            app.get_program(prog).version,
            public(app.get_program(prog), datetime.now(UTC)),
        )
    )
    s.step(Program, lambda: app.end_enrolment(META, prog, enrolled, end_date=date(2026, 12, 1)))
    s.step(
        Organization,
        lambda: app.suspend_licence(META, org, licence, effective_on=date(2027, 3, 1)),
    )
    s.step(Organization, lambda: app.rename_organization(META, org, name="Centre of arts"))
    s.step(InteragencyProject, lambda: app.suspend_project(META, pid, reason="Budget review"))
    return s


@pytest.fixture(scope="module")
def scenario(services: Services) -> Scenario:
    return run_scenario(services.app)


def test_as_of_each_recorded_moment_answers_exactly_the_state_observed_then(
    scenario: Scenario,
) -> None:
    assert len({o.cls for o in scenario.observed}) == 6
    for o in scenario.observed:
        agg = scenario.get(o.cls, o.aggregate_id, as_of=o.moment)
        assert agg.version == o.version, o
        assert public(agg, o.moment) == o.state, o


def test_version_n_answers_exactly_the_state_observed_at_that_version(
    scenario: Scenario,
) -> None:
    for o in scenario.observed:
        agg = scenario.get(o.cls, o.aggregate_id, version=o.version)
        assert agg.version == o.version
        assert public(agg, o.moment) == o.state, o


def test_a_moment_between_two_commands_answers_the_earlier_state(scenario: Scenario) -> None:
    by_aggregate: dict[UUID, list[Observed]] = {}
    for o in scenario.observed:
        by_aggregate.setdefault(o.aggregate_id, []).append(o)
    checked = 0
    for seen in by_aggregate.values():
        for earlier, later in itertools.pairwise(seen):
            # Just before the later command's first event: still the earlier state.
            first_after = scenario.app.history(later.aggregate_id)[earlier.version]
            moment = first_after.event.timestamp - timedelta(microseconds=1)
            agg = scenario.get(earlier.cls, earlier.aggregate_id, as_of=moment)
            assert agg.version == earlier.version
            assert public(agg, earlier.moment) == earlier.state
            checked += 1
    assert checked > 20


def test_as_of_an_event_time_includes_that_event(scenario: Scenario) -> None:
    o = scenario.observed[-1]
    entry = scenario.app.history(o.aggregate_id)[-1]
    agg = scenario.get(o.cls, o.aggregate_id, as_of=entry.event.timestamp)
    assert agg.version == entry.version


def test_as_of_any_time_zone_names_the_same_moment(scenario: Scenario) -> None:
    o = scenario.observed[len(scenario.observed) // 2]
    moscow = o.moment.astimezone(timezone(timedelta(hours=3)))
    agg = scenario.get(o.cls, o.aggregate_id, as_of=moscow)
    assert agg.version == o.version


def test_before_creation_is_not_found_and_says_so(scenario: Scenario) -> None:
    o = scenario.observed[0]
    created = scenario.app.history(o.aggregate_id)[0].event.timestamp
    with pytest.raises(NotFoundError) as refused:
        scenario.get(o.cls, o.aggregate_id, as_of=created - timedelta(microseconds=1))
    assert refused.value.extra["reason"] == "not_yet_created"
    assert "did not exist yet" in refused.value.detail
    assert refused.value.extra["created_at"] == created.isoformat()


def test_a_version_beyond_the_last_is_not_found_and_says_so(scenario: Scenario) -> None:
    o = scenario.observed[-1]
    last = scenario.app._load(o.cls, o.aggregate_id).version
    with pytest.raises(NotFoundError) as refused:
        scenario.get(o.cls, o.aggregate_id, version=last + 1)
    assert refused.value.extra == {
        "id": str(o.aggregate_id),
        "reason": "beyond_last_version",
        "last_version": last,
    }
    assert f"last version is {last}" in refused.value.detail


def test_another_kind_of_aggregate_or_an_unknown_id_is_not_found_at_any_moment(
    scenario: Scenario,
) -> None:
    project = next(o for o in scenario.observed if o.cls is InteragencyProject)
    for at in ({"version": 1}, {"as_of": datetime.now(UTC)}):
        with pytest.raises(NotFoundError, match="no working group"):
            scenario.app.get_group(project.aggregate_id, **at)
        with pytest.raises(NotFoundError, match="no project"):
            scenario.app.get_project(uuid4(), **at)


def test_both_as_of_and_version_or_a_naive_moment_are_refused(scenario: Scenario) -> None:
    o = scenario.observed[0]
    with pytest.raises(ValidationError, match="not both"):
        scenario.app.get_project(o.aggregate_id, version=1, as_of=datetime.now(UTC))
    with pytest.raises(ValidationError, match="UTC offset"):
        scenario.app.get_project(o.aggregate_id, as_of=datetime.now())  # noqa: DTZ005


def test_stage_progress_as_of_a_moment_is_counted_from_the_project_then(
    scenario: Scenario, services: Services, worker: ProjectionWorker
) -> None:
    app = scenario.app
    project = [o for o in scenario.observed if o.cls is InteragencyProject]
    pid = project[0].aggregate_id
    # After the deliverable was approved and before the gate: stage 1 at 100 %, active.
    approved = next(
        o
        for o in project
        if [d["state"] for d in o.state["stages"][0]["deliverables"]] == ["approved"]
        and o.state["stages"][0]["status"] == "active"
    )
    p = app.get_project(pid, as_of=approved.moment)
    progress = progress_at(p, approved.moment, app._position_of(pid, p.version))
    first = progress.stages[0]
    assert (first.status, first.percent_complete, first.mandatory_approved) == (
        "active",
        100.0,
        1,
    )
    assert first.duration_seconds == pytest.approx(
        (approved.moment - first.entered_at).total_seconds()  # type: ignore[operator]
    )
    # Now: the same counts as the projection, which holds the present.
    now = datetime.now(UTC)
    current = app.get_project(pid)
    wait_projected(services, app.head_position())
    rows = services.projects.stage_progress(pid)
    rebuilt = progress_at(current, now, app._position_of(pid, current.version))
    for row, stage in zip(rows, rebuilt.stages, strict=True):
        assert stage.status == row["status"]
        assert stage.completed_at == row["completed_at"]
        assert stage.entered_at == row["entered_at"]
        assert stage.percent_complete == float(row["percent_complete"])
        assert stage.deliverables["approved"] == row["deliverables_approved"]
        assert stage.mandatory_total == row["mandatory_total"]
        assert stage.gate_decision_ref == row["gate_decision_ref"]


# -- snapshots --------------------------------------------------------------------------


def replayed(app: InteragencyApplication, aggregate_id: UUID, version: int) -> Any:
    """The aggregate at ``version`` from its events alone, no snapshot."""
    state: Any = None
    for event in app.events.get(aggregate_id, lte=version):
        state = event.mutate(state)  # type: ignore[attr-defined]
    return state


def test_a_snapshot_of_each_kind_of_aggregate_rebuilds_the_replayed_state(
    scenario: Scenario,
) -> None:
    app = scenario.app
    assert app.snapshots is not None
    ids = {o.aggregate_id: o for o in scenario.observed}
    for aggregate_id, o in ids.items():
        last = app._load(o.cls, aggregate_id).version
        middle = max(1, last // 2)
        app.take_snapshot(aggregate_id, middle)
        assert middle in app.snapshot_versions(aggregate_id)
        for version in sorted({middle, last}):
            from_snapshot: Any = app.repository.get(aggregate_id, version=version)
            from_events = replayed(app, aggregate_id, version)
            assert vars(from_snapshot) == vars(from_events), (o.cls, version)
            moment = from_events.modified_on
            assert public(from_snapshot, moment) == public(from_events, moment)
    # And the recorded answers still hold with the snapshots in place.
    for o in scenario.observed:
        agg = scenario.get(o.cls, o.aggregate_id, as_of=o.moment)
        assert public(agg, o.moment) == o.state


def test_a_long_program_history_is_snapshotted_every_hundred_events(
    services: Services,
) -> None:
    app = services.app
    town = f"Snapshots {uuid4().hex[:8]}"
    provider = register(app, town, "Sports school")
    pid = uuid4()
    app.draft_program(
        META,
        program_id=pid,
        title="Football",
        description="Football for children",
        provider_id=provider,
        kind="general_developing",
        direction="physical_culture_sport",
        min_age=7,
        max_age=14,
        hours=72,
        capacity=150,
        form="standalone",
    )
    app.approve_program(META, pid, party_id=provider)
    app.publish_program(META, pid)
    version = app.get_program(pid).version
    moments: dict[int, datetime] = {}
    while version < 105:
        enrol(app, pid, f"child-{version:05d}", 2016)
        version += 1
        moments[version] = datetime.now(UTC)
    assert app.snapshot_versions(pid) == [100]
    snapshot = next(app.snapshots.get(pid))  # type: ignore[union-attr]
    assert isinstance(snapshot, ExactSnapshot)
    assert snapshot.is_current
    # Reads at and after the snapshot equal replays from the events alone.
    for v in (99, 100, 103, 105):
        assert vars(app.get_program(pid, version=v)) == vars(replayed(app, pid, v))
        assert app.get_program(pid, as_of=moments[v]).version == v
    assert app.get_program(pid).active_enrolments == 101


def test_a_snapshot_taken_by_other_code_is_ignored(services: Services) -> None:
    app = services.app
    town = f"Stale {uuid4().hex[:8]}"
    oid = register(app, town, "Museum", kind="culture", agency="culture", licensed=False)
    add_licence(app, oid)
    current = app.get_organization(oid)
    stale = ExactSnapshot.take(current)
    # The same state, but a wrong name, and written by "other code": never served.
    tree = stale.state["tree"]
    tree["dict"]["name"] = "Forged name"
    forged = ExactSnapshot(
        originator_id=oid,
        originator_version=current.version,
        timestamp=stale.timestamp,
        topic=stale.topic,
        state={"code": "other-code", "tree": tree},
    )
    assert app.snapshots is not None
    app.snapshots.put([forged])
    assert list(app.snapshots.get(oid)) == []
    assert app.get_organization(oid, version=current.version).name == "Museum"
    assert app.repository.get(oid, version=current.version).name == "Museum"


def test_a_failed_snapshot_never_fails_the_command(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = services.app

    def broken(*_: Any, **__: Any) -> None:
        msg = "snapshot store unavailable"
        raise RuntimeError(msg)

    monkeypatch.setattr(app, "take_snapshot", broken)
    monkeypatch.setattr(type(app), "SNAPSHOT_EVERY", {InteragencyProject: 1})
    result = app.initiate_project(
        META,
        title="Snapshot-proof",
        goal="Commands commit whatever happens to snapshots",
        municipality=f"Town {uuid4().hex[:6]}",
        lead_agency="education",
        agencies=["education", "culture"],
    )
    assert app.get_project(result.aggregate_id).version == 1


def test_migrate_creates_the_snapshots_table(services: Services) -> None:
    with services.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass('interagency_snapshots') IS NOT NULL AS made")
        row = curs.fetchone()
    assert row is not None
    assert row["made"]


@pytest.fixture
def database_without_snapshots(server: ConnectionParams) -> Iterator[ConnectionParams]:
    """A migrated database whose snapshots table was dropped (a lost optimisation)."""
    dbname = f"interagency_nosnap_{uuid4().hex[:12]}"
    ensure_database(server, dbname)
    params = ConnectionParams(server.host, server.port, dbname, server.user, server.password)
    migrate(settings_for(params), params)
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        conn.execute("DROP TABLE interagency_snapshots")
    try:
        yield params
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


def test_without_the_snapshots_table_commands_and_past_reads_still_work(
    database_without_snapshots: ConnectionParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = database_without_snapshots
    with Services(settings_for(params), params) as other:
        app = other.app
        monkeypatch.setattr(type(app), "SNAPSHOT_EVERY", {InteragencyProject: 1})
        pid = app.initiate_project(
            META,
            title="No snapshots here",
            goal="Reads replay the events",
            municipality="Town",
            lead_agency="education",
            agencies=["education", "culture"],
        ).aggregate_id
        app.suspend_project(META, pid, reason="Pause")
        assert app.snapshot_versions(pid) == []
        assert app.get_project(pid, version=1).status == "active"
        assert app.get_project(pid, as_of=datetime.now(UTC)).status == "suspended"
