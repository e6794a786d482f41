"""Seeds a realistic municipality: projects spread over the four stages."""

from __future__ import annotations

import random
from datetime import date, timedelta
from uuid import UUID

from domain.project import STAGES, ProjectOrganization, Stage, TargetIndicator
from domain.values import Agency, EventMeta, OrganizationKind, Role, TargetDimension
from interagency.application import InteragencyApplication

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


def seed(app: InteragencyApplication, projects: int = 8, rng_seed: int = 42) -> str:
    """Runs real commands through the application, so every event has its meta."""
    rng = random.Random(rng_seed)  # noqa: S311 - demo data, not security
    made: list[tuple[UUID, str]] = []
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
                ProjectOrganization(
                    "МБОУ СОШ № 5", OrganizationKind.GENERAL_EDUCATION, Agency.EDUCATION
                ),
                ProjectOrganization(
                    "МБУК «Районный дом культуры»", OrganizationKind.CULTURE, Agency.CULTURE
                ),
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
                app.pass_gate(
                    official,
                    pid,
                    reason=f"Этап {stage.number} выполнен",
                    decision_ref=f"МРГ протокол № {10 + i}-{stage.number}",
                    basis_document=f"Распоряжение № {100 + 10 * i + stage.number}",
                )
        if i == 5:
            app.suspend_project(official, pid, reason="Перераспределение бюджетных ассигнований")
        if i == 7:
            app.cancel_project(official, pid, reason="Проект объединён с «Инженерными каникулами»")
        made.append((pid, title))
    lines = [f"seeded {len(made)} projects in {MUNICIPALITY}:"]
    lines += [f"  {pid}  {title}" for pid, title in made]
    return "\n".join(lines)
