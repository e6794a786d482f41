"""Seeds a realistic municipality: projects spread over the four stages."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from domain.assignment import Leg
from domain.project import STAGES, ProjectOrganization, Stage, TargetIndicator
from domain.values import Agency, EventMeta, Role, TargetDimension
from domain.working_group import DecisionTarget, TargetKind
from interagency.application import InteragencyApplication
from interagency.cli_principals import add_with_token
from interagency.demo_network import NetworkSize, Org, inn_with_checksum, seed_network

MUNICIPALITY = "Северный муниципальный район"

PROJECTS: list[tuple[str, str, Agency, list[Agency]]] = [
    (
        "Инженерные каникулы",
        "Raise coverage of technical programs for children aged 10-14",
        Agency.EDUCATION,
        [Agency.EDUCATION, Agency.CULTURE],
    ),
    (
        "Театр и школа",
        "Joint theatre studios of schools and the House of Culture",
        Agency.CULTURE,
        [Agency.CULTURE, Agency.EDUCATION],
    ),
    (
        "Спорт рядом с домом",
        "Sport sections in school gyms after hours",
        Agency.SPORT,
        [Agency.SPORT, Agency.EDUCATION, Agency.YOUTH_POLICY],
    ),
    (
        "Краеведческий маршрут",
        "Tourism and local-history programs with the museum",
        Agency.CULTURE,
        [Agency.CULTURE, Agency.EDUCATION, Agency.SPORT],
    ),
    (
        "Доступная робототехника",
        "Network robotics program with the college and an enterprise",
        Agency.EDUCATION,
        [Agency.EDUCATION, Agency.SOCIAL_POLICY],
    ),
    (
        "Музыкальная школа — детям сёл",
        "Outreach of the music school to rural schools",
        Agency.CULTURE,
        [Agency.CULTURE, Agency.EDUCATION],
    ),
    (
        "Юные экологи",
        "Natural-science programs with the nature reserve",
        Agency.EDUCATION,
        [Agency.EDUCATION, Agency.YOUTH_POLICY],
    ),
    (
        "Шахматный всеобуч",
        "Chess in every primary school with the sport school",
        Agency.SPORT,
        [Agency.SPORT, Agency.EDUCATION],
    ),
]

DELIVERABLES: dict[Stage, list[tuple[str, str, bool]]] = {
    Stage.SOCIAL_TIES_PROGRAM: [
        ("Программа расширения социальных связей учреждений", "strategic_priorities", True),
        ("Анализ образовательной политики региона", "monitoring", True),
        ("Опрос родителей о запросах на дополнительное образование", "consumer_information", False),
    ],
    Stage.INTERACTION_MECHANISMS: [
        ("Положение о межведомственной рабочей группе", "working_groups", True),
        ("Регламент обмена информацией", "regulation", True),
        ("План повышения квалификации педагогов", "staff_development", False),
    ],
    Stage.REGULATORY_BASE: [
        ("Постановление о сетевой форме реализации программ", "regulation", True),
        ("Типовой договор о сетевой форме", "regulation", True),
        ("Порядок стимулирования за качественные результаты", "incentives", False),
    ],
    Stage.INTERAGENCY_PROJECTS: [
        ("Паспорт межведомственного проекта", "strategic_priorities", True),
        ("Отчёт о мониторинге охвата", "monitoring", True),
        ("Публикация программ в навигаторе", "consumer_information", False),
    ],
}


GROUP_MEMBERS: list[tuple[str, str, Agency, str, bool]] = [
    ("Иванова Мария Петровна", "Управление образования", Agency.EDUCATION, "chair", True),
    ("Петров Андрей Сергеевич", "Отдел культуры", Agency.CULTURE, "deputy", True),
    ("Смирнова Ольга Игоревна", "Управление образования", Agency.EDUCATION, "secretary", True),
    (
        "Кузнецов Илья Викторович",
        "Комитет по физической культуре и спорту",
        Agency.SPORT,
        "member",
        True,
    ),
    ("Орлова Анна Дмитриевна", "МБУК «Районный дом культуры»", Agency.CULTURE, "member", True),
    ("Волков Денис Олегович", "Отдел молодёжной политики", Agency.YOUTH_POLICY, "member", True),
    (
        "Егорова Светлана Юрьевна",
        "Муниципальный методический центр",
        Agency.EDUCATION,
        "member",
        False,
    ),
]


class _Group:
    """The municipal interagency working group whose signed decisions authorise gates."""

    def __init__(self, app: InteragencyApplication, rng: random.Random) -> None:
        self.app = app
        self.rng = rng
        self.meta = EventMeta(
            actor_id="secretary-smirnova",
            actor_role=Role.OFFICIAL.value,
            actor_agency=Agency.EDUCATION.value,
            correlation_id="demo-group",
        )
        self.id = app.establish_group(
            self.meta,
            kind="interagency",
            name="Межведомственная рабочая группа по развитию дополнительного образования",
            basis_act="Постановление администрации № 215 от 10.01.2027",
            municipality=MUNICIPALITY,
        ).aggregate_id
        self.members: list[tuple[UUID, bool]] = []
        for person, org, agency, position, voting in GROUP_MEMBERS:
            member_id = uuid4()
            app.appoint_member(
                self.meta,
                self.id,
                member_id=member_id,
                person=person,
                organization=org,
                agency=agency.value,
                position=position,
                voting=voting,
                appointed_on=date(2027, 1, 15),
            )
            self.members.append((member_id, voting))
        self.protocols = 0
        self.day = date(2027, 2, 1)

    def authorise_gate(self, project_id: UUID, title: str, stage: Stage) -> UUID:
        """One meeting: attendance, a vote, the decision naming the gate, a signed protocol."""
        app, rng = self.app, self.rng
        self.protocols += 1
        self.day += timedelta(days=rng.randint(7, 21))
        meeting_id = uuid4()
        agenda = [f"О выполнении этапа {stage.number} проекта «{title}»", "Разное"]
        app.schedule_meeting(
            self.meta, self.id, meeting_id=meeting_id, held_on=self.day, agenda=agenda
        )
        # The chair and the secretary always attend; most others do.
        present = [m for i, (m, _) in enumerate(self.members) if i in (0, 2) or rng.random() < 0.8]
        app.record_attendance(self.meta, self.id, meeting_id, present=present)
        voting = [m for m, v in self.members if v]
        needed = app.get_group(self.id).quorum.needed(len(voting))
        if len([m for m in voting if m in present]) < needed:
            # No quorum: nothing can be voted. The group meets again a week later, in full.
            self.day += timedelta(days=7)
            meeting_id = uuid4()
            app.schedule_meeting(
                self.meta, self.id, meeting_id=meeting_id, held_on=self.day, agenda=agenda
            )
            present = [m for m, _ in self.members]
            app.record_attendance(self.meta, self.id, meeting_id, present=present)
        voting_present = [m for m, voting in self.members if voting and m in present]
        votes = {m: ("for" if rng.random() < 0.85 else "abstain") for m in voting_present}
        motion_id = uuid4()
        app.vote_on_motion(
            self.meta,
            self.id,
            meeting_id,
            motion_id=motion_id,
            agenda_item="1",
            text=f"Признать этап {stage.number} выполненным и перейти к следующему",
            votes=votes,
        )
        decision_id = uuid4()
        protocol = f"{self.protocols}/2027"
        app.record_decision(
            self.meta,
            self.id,
            meeting_id,
            decision_id=decision_id,
            protocol_number=protocol,
            text=f"Этап {stage.number} проекта «{title}» выполнен; перейти к следующему этапу",
            motion_id=motion_id,
            mechanism="working_groups",
            targets=[DecisionTarget(TargetKind.PROJECT_GATE, project_id=project_id, stage=stage)],
        )
        if rng.random() < 0.6:
            app.assign_action_item(
                self.meta,
                self.id,
                item_id=uuid4(),
                description=f"Подготовить отчёт по этапу {stage.number} проекта «{title}»",
                owner=GROUP_MEMBERS[rng.randrange(len(GROUP_MEMBERS))][0],
                deadline=self.day + timedelta(days=rng.randint(10, 60)),
                decision_id=decision_id,
            )
        app.sign_protocol(self.meta, self.id, meeting_id, protocol_number=protocol)
        return decision_id

    def complete_some_action_items(self) -> None:
        group = self.app.get_group(self.id)
        for item in group.action_items.values():
            if self.rng.random() < 0.5:
                self.app.complete_action_item(
                    self.meta,
                    self.id,
                    item.id,
                    done_on=item.deadline - timedelta(days=self.rng.randint(0, 5)),
                )


class DemoAlreadySeededError(Exception):
    """The database already holds the demo's organisations (their INNs are unique)."""


DEMO_PRINCIPALS: tuple[tuple[str, str, Agency | None, str | None], ...] = (
    (
        "Демо: специалист управления образования",
        Role.OFFICIAL.value,
        Agency.EDUCATION,
        MUNICIPALITY,
    ),
    ("Демо: аудитор", Role.AUDITOR.value, None, None),
    ("Демо: аналитик", Role.ANALYST.value, None, None),
    ("Демо: администратор", Role.ADMIN.value, None, None),
)


def demo_principals(app: InteragencyApplication, *, today: date) -> list[str]:
    """One principal per role, each with a token; answers ``role  token`` lines."""
    meta = EventMeta(actor_id="demo-seed", actor_role=Role.SYSTEM.value)
    lines = []
    for name, role, agency, municipality in DEMO_PRINCIPALS:
        issued = add_with_token(
            app,
            meta,
            name=name,
            role=role,
            agency=None if agency is None else agency.value,
            municipality=municipality,
            label="demo",
            expires_on=None,
            today=today,
        )
        lines.append(f"{role:<8}  {issued.token}")
    return lines


def seed(
    app: InteragencyApplication,
    projects: int = 8,
    rng_seed: int = 42,
    institutions: int = 120,
    network: NetworkSize | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Runs real commands through the application, so every event has its meta.

    The network comes first: projects, groups and assignments refer to its organisations.
    """
    rng = random.Random(rng_seed)  # noqa: S311 - demo data, not security
    # The first organisation's INN is the first draw of the same seed.
    probe = random.Random(rng_seed)  # noqa: S311
    if app.find_organization_by_inn(inn_with_checksum(probe)) is not None:
        msg = "this database already holds the demo; start from an empty data folder"
        raise DemoAlreadySeededError(msg)
    registry = seed_network(app, rng, size=network or NetworkSize(), progress=progress)
    made: list[tuple[UUID, str]] = []
    group = _Group(app, rng)
    for i in range(projects):
        title, goal, lead, agencies = PROJECTS[i % len(PROJECTS)]
        if i >= len(PROJECTS):
            title = f"{title} ({i // len(PROJECTS) + 1})"
        official = EventMeta(
            actor_id=f"official-{lead.value}-{1 + i % 3}",
            actor_role=Role.OFFICIAL.value,
            actor_agency=lead.value,
            correlation_id=f"demo-{i}",
        )
        pid = app.initiate_project(
            official,
            title=title,
            goal=goal,
            municipality=MUNICIPALITY,
            lead_agency=lead.value,
            agencies=[a.value for a in agencies],
            organizations=[
                ProjectOrganization(o.name, o.kind, o.agency, o.id)
                for o in registry.participants_for(agencies, i)
            ],
            strategic_priorities=["доступность", "охват", "качество"],
            targets=[
                TargetIndicator(
                    TargetDimension.COVERAGE,
                    "охват детей 5-17 лет",
                    80.0,
                    "%",
                    round(rng.uniform(62, 76), 1),
                ),
                TargetIndicator(
                    TargetDimension.ACCESS,
                    "программ в сетевой форме",
                    12.0,
                    "programs",
                    float(rng.randint(2, 6)),
                ),
            ],
        ).aggregate_id
        # Stages passed: 0..4, spread over the projects.
        target_gates = [0, 1, 2, 3, 4, 2, 1, 0][i % 8]
        due = date(2027, 2, 1)
        for stage in STAGES:
            ids = []
            for t, mech, mandatory in DELIVERABLES[stage]:
                due += timedelta(days=rng.randint(10, 40))
                ids.append(
                    (
                        app.plan_deliverable(
                            official,
                            pid,
                            stage=stage.value,
                            title=t,
                            mechanism=mech,
                            mandatory=mandatory,
                            due_date=due,
                        ),
                        mandatory,
                    )
                )
            if stage.number > target_gates + 1:
                continue
            project = app.get_project(pid)
            for d in project.deliverables_of(stage):
                app.submit_deliverable(official, pid, d.id, document_ref=f"doc-{d.id.hex[:8]}")
                if d.mandatory and rng.random() < 0.3:
                    app.reject_deliverable(
                        official, pid, d.id, reason="Не согласовано с отделом культуры"
                    )
                    app.submit_deliverable(official, pid, d.id)
                if stage.number <= target_gates or d.mandatory or rng.random() < 0.5:
                    app.approve_deliverable(official, pid, d.id)
            if stage.number <= target_gates:
                if rng.random() < 0.25:
                    app.reject_gate(official, pid, reason="Требуется доработка состава участников")
                decision_id = group.authorise_gate(pid, title, stage)
                app.pass_gate(
                    official,
                    pid,
                    reason=f"Этап {stage.number} выполнен",
                    decision_id=decision_id,
                    basis_document=f"Распоряжение № {100 + 10 * i + stage.number}",
                )
        if i == 5:
            app.suspend_project(official, pid, reason="Перераспределение бюджетных ассигнований")
        if i == 7:
            app.cancel_project(official, pid, reason="Проект объединён с «Инженерными каникулами»")
        made.append((pid, title))
    group.complete_some_action_items()
    lines = [
        (
            f"seeded {len(made)} projects in {MUNICIPALITY}, and working group {group.id} "
            f"with {group.protocols} signed protocols:"
        )
    ]
    lines += [f"  {pid}  {title}" for pid, title in made]
    lines.append(registry.summary())
    lines.append(seed_assignments(app, registry.institutions()[:institutions], rng))
    return "\n".join(lines)


FOUNDERS: dict[Agency, str] = {
    Agency.EDUCATION: "Управление образования",
    Agency.CULTURE: "Отдел культуры",
    Agency.SPORT: "Комитет по физической культуре и спорту",
}

DIRECTIONS: dict[Agency, list[str]] = {
    Agency.EDUCATION: [
        "technical",
        "natural_science",
        "social_humanitarian",
        "tourism_local_history",
    ],
    Agency.CULTURE: ["artistic"],
    Agency.SPORT: ["physical_culture_sport"],
}

# The service "implementation of additional general-developing programs" (the registry
# number is illustrative) in person-hours, and the normative cost per unit by agency.
GENERAL_DEVELOPING = "804200О.99.0.ББ52АЖ48000"
NORMATIVE_COST: dict[Agency, str] = {
    Agency.EDUCATION: "148.60",
    Agency.CULTURE: "171.20",
    Agency.SPORT: "139.90",
}


def seed_assignments(
    app: InteragencyApplication, institutions: list[Org], rng: random.Random, year: int = 2027
) -> str:
    """A realistic year: assignments of registered institutions, reports, redistributions."""
    made: list[tuple[UUID, Agency]] = []
    for i, org in enumerate(institutions):
        agency = org.agency
        founder = FOUNDERS[agency]
        meta = EventMeta(
            actor_id=f"founder-{agency.value}",
            actor_role=Role.OFFICIAL.value,
            actor_agency=agency.value,
            correlation_id=f"demo-assignment-{i}",
        )
        volume = rng.randrange(2_000, 40_000, 100)
        aid = app.draft_assignment(
            meta,
            organization_id=org.id,
            institution=org.name,
            agency=agency.value,
            founder=founder,
            municipality=MUNICIPALITY,
            fiscal_year=year,
            lines=[
                {
                    "registry_number": GENERAL_DEVELOPING,
                    "service_name": "Реализация дополнительных общеразвивающих программ",
                    "direction": rng.choice(DIRECTIONS[agency]),
                    "unit": "person_hours",
                    "planned": {
                        str(year): str(volume),
                        str(year + 1): str(volume),
                        str(year + 2): str(volume),
                    },
                    "allowed_deviation_pct": rng.choice(["5", "10"]),
                    "normative_cost": NORMATIVE_COST[agency],
                    "quality": [
                        {
                            "name": "Доля детей, ставших победителями и призёрами",
                            "unit": "%",
                            "planned": "15",
                            "allowed_deviation_pct": "10",
                        },
                    ],
                }
            ],
        ).aggregate_id
        app.approve_assignment(meta, aid, basis_document=f"Приказ учредителя № {i + 1}")
        # Execution so far: q1 and h1, most institutions within tolerance.
        for period, share in (("q1", 0.25), ("h1", 0.5)):
            factor = rng.choice([1.0, 1.0, 1.02, 0.98, 0.97, 0.85, 1.12])
            actual = Decimal(round(volume * share * factor))
            reasons = {}
            if abs(factor - 1) * 100 > 5:
                reasons = {"1": "Карантин" if factor < 1 else "Дополнительный набор групп"}
            report_id = uuid4()
            # Reasons are given for every deviation beyond 5 %, the strictest tolerance used.
            app.report_execution(
                meta,
                aid,
                report_id=report_id,
                period=period,
                actual={
                    "1": actual,
                    "1:Доля детей, ставших победителями и призёрами": Decimal(
                        rng.choice(["14", "15", "16"])
                    ),
                },
                reasons=reasons,
            )
            if rng.random() < 0.9:
                app.accept_report(meta, aid, report_id)
        made.append((aid, agency))
    # A few redistributions: within the education founder, and one across founders.
    moves = 0
    education = [a for a, ag in made if ag is Agency.EDUCATION]
    culture = [a for a, ag in made if ag is Agency.CULTURE]
    meta = EventMeta(
        actor_id="founder-education",
        actor_role=Role.OFFICIAL.value,
        actor_agency=Agency.EDUCATION.value,
        correlation_id="demo-redistribution",
    )
    for k in range(min(4, len(education) // 2)):
        app.redistribute(
            meta.because("Недовыполнение за I полугодие"),
            legs=[Leg(education[2 * k], Decimal(-500)), Leg(education[2 * k + 1], Decimal(500))],
            registry_number=GENERAL_DEVELOPING,
            unit="person_hours",
            year=year,
        )
        moves += 1
    if education and culture:
        app.redistribute(
            meta.because("Открытие художественных объединений в Доме культуры"),
            legs=[Leg(education[-1], Decimal(-300)), Leg(culture[0], Decimal(300))],
            registry_number=GENERAL_DEVELOPING,
            unit="person_hours",
            year=year,
            budget_basis="Решение о перераспределении бюджетных ассигнований № 45",
        )
        moves += 1
    return f"seeded {len(made)} municipal assignments for {year} and {moves} redistributions"
