"""Seeds the network of a municipality: organisations, licences, programs, agreements,
enrolments and the territories' child population.

Every write is a real command of the application, so every event has its meta.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.values import Agency, EventMeta, OrganizationKind, Role
from interagency.application import InteragencyApplication

MUNICIPALITY = "Северный муниципальный район"
YEAR = 2027

# Territories of the district and their children aged 5-17 (about 26,000 in all).
TERRITORIES: list[tuple[str, int]] = [
    ("рп Северный", 9_800),
    ("с. Озёрное", 3_100),
    ("с. Берёзовка", 2_700),
    ("с. Кедровое", 2_400),
    ("п. Лесной", 2_300),
    ("с. Заречье", 2_100),
    ("с. Покровское", 1_900),
    ("п. Таёжный", 1_700),
]

# (kind, agency, share of 150, name stem, licensed for additional education?)
ORG_MIX: list[tuple[OrganizationKind, Agency, int, str, float]] = [
    (OrganizationKind.GENERAL_EDUCATION, Agency.EDUCATION, 60, "МБОУ СОШ", 0.7),
    (OrganizationKind.ADDITIONAL_EDUCATION, Agency.EDUCATION, 12, "МБУ ДО «Центр творчества»", 1),
    (
        OrganizationKind.ADDITIONAL_EDUCATION,
        Agency.CULTURE,
        8,
        "МБУ ДО «Детская школа искусств»",
        1,
    ),
    (OrganizationKind.ADDITIONAL_EDUCATION, Agency.SPORT, 5, "МБУ ДО «Спортивная школа»", 1),
    (OrganizationKind.CULTURE, Agency.CULTURE, 20, "МБУК «Дом культуры»", 0.3),
    (OrganizationKind.SPORT, Agency.SPORT, 15, "МАУ «Спортивный клуб»", 0.3),
    (OrganizationKind.PROFESSIONAL_EDUCATION, Agency.EDUCATION, 4, "ГБПОУ «Колледж»", 1),
    (OrganizationKind.HIGHER_EDUCATION, Agency.EDUCATION, 2, "Филиал университета", 1),
    (OrganizationKind.SCIENCE, Agency.OTHER, 2, "Научная станция", 0),
    (OrganizationKind.SOCIAL, Agency.SOCIAL_POLICY, 6, "МКУ «Центр социальной помощи»", 0),
    (OrganizationKind.ENTERPRISE, Agency.OTHER, 10, "ООО «Предприятие»", 0),
    (OrganizationKind.INNOVATION_INFRASTRUCTURE, Agency.EDUCATION, 3, "Технопарк", 0),
    (
        OrganizationKind.MUNICIPAL_EDUCATION_AUTHORITY,
        Agency.EDUCATION,
        1,
        "Управление образования",
        0,
    ),
    (OrganizationKind.OTHER, Agency.YOUTH_POLICY, 2, "Молодёжный центр", 0),
]

FOUNDERS: dict[Agency, str] = {
    Agency.EDUCATION: "Управление образования",
    Agency.CULTURE: "Отдел культуры",
    Agency.SPORT: "Комитет по физической культуре и спорту",
    Agency.SOCIAL_POLICY: "Управление социальной защиты",
    Agency.YOUTH_POLICY: "Отдел молодёжной политики",
    Agency.OTHER: "Учредитель",
}

PROGRAM_TITLES: dict[str, list[str]] = {
    "technical": ["Робототехника", "Юный инженер", "3D-моделирование", "Программирование"],
    "natural_science": ["Юные экологи", "Занимательная химия", "Мир растений"],
    "physical_culture_sport": ["Футбол", "Шахматы", "Лыжные гонки", "Волейбол", "Самбо"],
    "artistic": ["Хоровое пение", "Театральная студия", "Изостудия", "Народный танец"],
    "tourism_local_history": ["Юные краеведы", "Школьный музей", "Туристский клуб"],
    "social_humanitarian": ["Юные журналисты", "Волонтёры", "Английский клуб"],
}

CLAUSES = {
    "program_and_direction": "Дополнительная общеразвивающая программа, направленность",
    "students_status_and_admission": "Обучающиеся базовой организации; приём по заявлению",
    "duties_and_resources": "Базовая организация ведёт учёт; участник проводит занятия",
    "documents_issued": "Сертификат об обучении выдаёт базовая организация",
    "term_and_change": "На учебный год; изменяется дополнительным соглашением",
}


@dataclass
class Org:
    id: UUID
    kind: OrganizationKind
    agency: Agency
    name: str
    licensed: bool


@dataclass(frozen=True)
class NetworkSize:
    organizations: int = 150
    programs: int = 300
    agreements: int = 40
    enrolments: int = 20_000


MUNICIPAL_INSTITUTION_KINDS = (
    OrganizationKind.GENERAL_EDUCATION,
    OrganizationKind.ADDITIONAL_EDUCATION,
    OrganizationKind.CULTURE,
    OrganizationKind.SPORT,
)


@dataclass
class NetworkSeed:
    organizations: list[Org] = field(default_factory=list)
    programs: int = 0
    published: int = 0
    agreements: int = 0
    enrolments: int = 0
    children: int = 0

    def institutions(self) -> list[Org]:
        """Municipal institutions of education, culture and sport: they hold assignments."""
        return [
            o
            for o in self.organizations
            if o.kind in MUNICIPAL_INSTITUTION_KINDS
            and o.agency in (Agency.EDUCATION, Agency.CULTURE, Agency.SPORT)
        ]

    def participants_for(self, agencies: list[Agency], i: int) -> list[Org]:
        """One organisation of each agency of a project (the ``i``-th of that agency)."""
        out = []
        for agency in agencies:
            of_agency = [o for o in self.organizations if o.agency is agency]
            if of_agency:
                out.append(of_agency[i % len(of_agency)])
        return out

    def summary(self) -> str:
        return (
            f"seeded the network: {len(self.organizations)} organisations, "
            f"{self.programs} programs ({self.published} published), "
            f"{self.agreements} network agreements, {self.enrolments:,} enrolments of "
            f"{self.children:,} children, and the population of {len(TERRITORIES)} territories"
        )


def inn_with_checksum(rng: random.Random) -> str:
    """A valid 10-digit INN of a legal entity (region 24), random but well-formed."""
    digits = [2, 4] + [rng.randrange(10) for _ in range(7)]
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    digits.append(sum(w * d for w, d in zip(weights, digits, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


def _meta(actor: str, agency: Agency | str, correlation: str) -> EventMeta:
    return EventMeta(
        actor_id=actor,
        actor_role=Role.OFFICIAL.value,
        actor_agency=agency.value if isinstance(agency, Agency) else agency,
        correlation_id=correlation,
    )


def seed_network(
    app: InteragencyApplication,
    rng: random.Random,
    *,
    size: NetworkSize,
    progress: Callable[[str], None] | None = None,
) -> NetworkSeed:
    seed = NetworkSeed()
    say = progress or (lambda _msg: None)
    _seed_organizations(app, rng, size.organizations, seed)
    _seed_population(app)
    say(f"{len(seed.organizations)} organisations registered, with their licences")
    program_ids = _seed_programs(app, rng, size.programs, size.agreements, seed)
    say(f"{seed.programs} programs drafted, {seed.agreements} network agreements")
    _seed_enrolments(app, rng, program_ids, size.enrolments, seed)
    say(f"{seed.enrolments:,} enrolments recorded")
    return seed


def _seed_population(app: InteragencyApplication) -> None:
    meta = _meta("statistics-office", Agency.EDUCATION, "demo-population")
    for territory, children in TERRITORIES:
        for year, factor in ((YEAR - 1, 0.99), (YEAR, 1.0)):
            app.record_population(
                meta,
                municipality=MUNICIPALITY,
                territory=territory,
                year=year,
                children_5_17=round(children * factor),
                source="Росстат, оценка численности населения на 1 января",
            )


def _seed_organizations(
    app: InteragencyApplication, rng: random.Random, count: int, seed: NetworkSeed
) -> None:
    total = sum(share for _, _, share, _, _ in ORG_MIX)
    number = 0
    for kind, agency, share, stem, licensed_share in ORG_MIX:
        n = max(1, round(share * count / total))
        for i in range(n):
            if len(seed.organizations) >= count:
                return
            number += 1
            meta = _meta(f"registrar-{agency.value}", agency, f"demo-org-{number}")
            name = f"{stem} № {i + 1}" if n > 1 else stem
            territory = TERRITORIES[number % len(TERRITORIES)][0]
            oid = app.register_organization(
                meta,
                organization_id=uuid4(),
                name=name,
                inn=inn_with_checksum(rng),
                kind=kind.value,
                agency=agency.value,
                founder=FOUNDERS[agency],
                municipality=MUNICIPALITY,
                address=f"{territory}, ул. Центральная, {rng.randint(1, 80)}",
            ).aggregate_id
            licensed = rng.random() < licensed_share
            if licensed or kind in (
                OrganizationKind.GENERAL_EDUCATION,
                OrganizationKind.PROFESSIONAL_EDUCATION,
            ):
                sub_kinds = {
                    OrganizationKind.GENERAL_EDUCATION: [
                        "primary_general",
                        "basic_general",
                        "secondary_general",
                    ],
                    OrganizationKind.PROFESSIONAL_EDUCATION: ["secondary_professional"],
                    OrganizationKind.HIGHER_EDUCATION: ["higher", "additional_professional"],
                }.get(kind, [])
                if licensed:
                    sub_kinds = [*sub_kinds, "additional_education_children_adults"]
                app.register_licence(
                    meta,
                    oid,
                    licence_id=uuid4(),
                    number=f"Л035-01234-24/{number:05d}",
                    sub_kinds=sub_kinds,
                    issued_on=date(2021, 1, 1) + timedelta(days=rng.randint(0, 1500)),
                    issuer="Министерство образования края",
                )
            seed.organizations.append(Org(oid, kind, agency, name, licensed))


def _direction_for(org: Org, rng: random.Random) -> tuple[str, str]:
    """(kind, direction) of a program this organisation would run."""
    if org.agency is Agency.CULTURE:
        if org.kind is OrganizationKind.ADDITIONAL_EDUCATION and rng.random() < 0.4:
            return "pre_professional_arts", "artistic"
        return "general_developing", "artistic"
    if org.agency is Agency.SPORT:
        if org.kind is OrganizationKind.ADDITIONAL_EDUCATION and rng.random() < 0.5:
            return "sport_training", "physical_culture_sport"
        return "general_developing", "physical_culture_sport"
    return "general_developing", rng.choice(
        [
            "technical",
            "natural_science",
            "social_humanitarian",
            "tourism_local_history",
            "artistic",
            "physical_culture_sport",
        ]
    )


def _seed_programs(
    app: InteragencyApplication,
    rng: random.Random,
    count: int,
    agreements: int,
    seed: NetworkSeed,
) -> list[UUID]:
    teaching = [o for o in seed.organizations if o.licensed]
    schools = [o for o in teaching if o.kind is OrganizationKind.GENERAL_EDUCATION]
    partners = [
        o
        for o in teaching
        if o.kind is not OrganizationKind.GENERAL_EDUCATION
        and o.kind
        in (OrganizationKind.ADDITIONAL_EDUCATION, OrganizationKind.PROFESSIONAL_EDUCATION)
    ]
    resources = [
        o
        for o in seed.organizations
        if o.kind
        in (OrganizationKind.ENTERPRISE, OrganizationKind.CULTURE, OrganizationKind.SCIENCE)
    ]
    published: list[UUID] = []
    n_network = min(agreements, count, len(schools), len(partners) * 4) if partners else 0
    for i in range(count):
        network = i < n_network
        provider = schools[i % len(schools)] if network else teaching[i % len(teaching)]
        partner = partners[i % len(partners)] if network else None
        kind, direction = _direction_for(partner or provider, rng)
        if network:
            kind = "general_developing"
        meta = _meta(f"methodist-{provider.agency.value}", provider.agency, f"demo-program-{i}")
        min_age = rng.choice([5, 6, 7, 8, 10, 12])
        pid = app.draft_program(
            meta,
            program_id=uuid4(),
            title=f"{rng.choice(PROGRAM_TITLES[direction])} ({i + 1})",
            description="Дополнительная общеобразовательная программа",
            provider_id=provider.id,
            kind=kind,
            direction=direction,
            min_age=min_age,
            max_age=min(18, min_age + rng.choice([4, 6, 8, 10])),
            hours=rng.choice([72, 108, 144, 216]),
            capacity=rng.randrange(60, 130, 5),
            form="network" if network else "standalone",
            partner_ids=[partner.id] if partner else [],
        ).aggregate_id
        seed.programs += 1
        if i % 50 == 49:
            continue  # a few stay drafts
        for party in [provider] + ([partner] if partner else []):
            app.approve_program(
                _meta(f"director-{party.id.hex[:6]}", party.agency, f"demo-approve-{i}"),
                pid,
                party_id=party.id,
            )
        if network and partner is not None:
            agreement_id = _seed_agreement(
                app, rng, i, provider, partner, rng.choice(resources) if resources else None, pid
            )
            seed.agreements += 1
            if agreement_id is None:
                continue
            app.publish_program(meta, pid, agreement_id=agreement_id)
        else:
            if i % 40 == 39:
                continue  # approved, not yet published
            app.publish_program(meta, pid, agreement_id=None)
        seed.published += 1
        published.append(pid)
    return published


def _seed_agreement(
    app: InteragencyApplication,
    rng: random.Random,
    i: int,
    base: Org,
    participant: Org,
    resource: Org | None,
    program_id: UUID,
) -> UUID | None:
    """Draft, signatures of every party, activation; a few stay unsigned drafts."""
    start = date(YEAR - 1, 9, 1)
    # Some agreements end soon after "today" so that the expiring list is not empty.
    end = date(YEAR, 6, 30) if i % 5 else date(YEAR, 1, 31) + timedelta(days=i)
    parties: list[dict[str, Any]] = [
        {"organization_id": str(base.id), "role": "base"},
        {"organization_id": str(participant.id), "role": "participant"},
    ]
    contributions: list[dict[str, Any]] = [
        {
            "organization_id": str(participant.id),
            "resource_type": "personnel",
            "description": "Педагог дополнительного образования",
            "volume": "144",
            "unit": "час",
            "period_from": start.isoformat(),
            "period_to": end.isoformat(),
        },
        {
            "organization_id": str(base.id),
            "resource_type": "infrastructure",
            "description": "Учебный кабинет",
            "volume": "2",
            "unit": "помещение",
            "period_from": start.isoformat(),
            "period_to": end.isoformat(),
        },
    ]
    if resource is not None and rng.random() < 0.6:
        parties.append({"organization_id": str(resource.id), "role": "resource"})
        contributions.append(
            {
                "organization_id": str(resource.id),
                "resource_type": rng.choice(["material_technical", "intellectual"]),
                "description": "Оборудование и специалисты партнёра",
                "volume": "1",
                "unit": "комплект",
                "period_from": start.isoformat(),
                "period_to": end.isoformat(),
            }
        )
    terms = {
        "parties": parties,
        "model": "model_3"
        if resource and resource.kind is OrganizationKind.ENTERPRISE
        else "model_2",
        "program_ids": [str(program_id)],
        "contributions": contributions,
        "clauses": dict(CLAUSES),
        "term_start": start.isoformat(),
        "term_end": end.isoformat(),
    }
    meta = _meta(f"director-{base.id.hex[:6]}", base.agency, f"demo-agreement-{i}")
    aid = app.draft_agreement(
        meta,
        agreement_id=uuid4(),
        number=f"СД-{YEAR - 1}/{i + 1:03d}",
        title="Договор о сетевой форме реализации образовательной программы",
        municipality=MUNICIPALITY,
        terms=terms,
    ).aggregate_id
    if i % 13 == 12:
        return None  # still being negotiated
    for p in parties:
        app.sign_agreement(
            meta,
            aid,
            party_id=UUID(p["organization_id"]),
            signatory="Руководитель организации",
            signed_on=start - timedelta(days=10),
        )
    app.activate_agreement(meta, aid)
    return aid


def _seed_enrolments(
    app: InteragencyApplication,
    rng: random.Random,
    program_ids: list[UUID],
    count: int,
    seed: NetworkSeed,
) -> None:
    """Children enrol in one to three programs each; funding mostly municipal."""
    if not program_ids:
        return
    programs = {pid: app.get_program(pid) for pid in program_ids}
    free = {pid: p.capacity - p.active_enrolments for pid, p in programs.items()}
    weights = [t[1] for t in TERRITORIES]
    batches: dict[UUID, list[dict[str, Any]]] = {pid: [] for pid in program_ids}
    made = 0
    child_no = 0
    attempts = 0
    while made < count and attempts < count * 5:
        child_no += 1
        child_id = f"child-{child_no:06d}"
        birth_year = YEAR - rng.randint(5, 18)
        territory = rng.choices([t[0] for t in TERRITORIES], weights)[0]
        wanted = rng.choices([1, 2, 3], [0.72, 0.2, 0.08])[0]
        taken: set[UUID] = set()
        for _ in range(wanted * 3):
            attempts += 1
            if len(taken) >= wanted or made >= count:
                break
            pid = rng.choice(program_ids)
            p = programs[pid]
            start = date(YEAR - 1, 9, rng.randint(1, 30))
            age = start.year - birth_year
            if pid in taken or free[pid] <= 0 or not (p.min_age - 1 <= age <= p.max_age):
                continue
            taken.add(pid)
            free[pid] -= 1
            made += 1
            batches[pid].append(
                {
                    "enrolment_id": uuid4(),
                    "child_id": child_id,
                    "birth_year": birth_year,
                    "territory": territory,
                    "funding_source": rng.choices(
                        ["municipal_assignment", "certificate", "paid"], [0.6, 0.3, 0.1]
                    )[0],
                    "start_date": start,
                    "end_date": None,
                }
            )
        if taken:
            seed.children += 1
    meta = _meta("registrar-navigator", Agency.EDUCATION, "demo-enrolments")
    for pid, rows in batches.items():
        if rows:
            app.enrol_children(meta, pid, enrolments=rows)
    seed.enrolments = made
