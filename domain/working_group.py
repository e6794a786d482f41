"""The WorkingGroup aggregate: members, meetings, votes with quorum, signed protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.project import Stage
from domain.values import Agency, EventMeta, Mechanism, parse_code, require_text


class GroupKind(StrEnum):
    WORKING = "working"
    ADMINISTRATIVE = "administrative"
    INTERAGENCY = "interagency"


class Position(StrEnum):
    CHAIR = "chair"
    DEPUTY = "deputy"
    SECRETARY = "secretary"
    MEMBER = "member"


class VoteChoice(StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class MajorityRule(StrEnum):
    """How many votes for a motion needs, once quorum is present."""

    # More votes for than against (abstentions do not count).
    SIMPLE = "simple"
    # More than half of the voting members present.
    ABSOLUTE = "absolute"
    # At least two thirds of the voting members present.
    TWO_THIRDS = "two_thirds"


class GroupStatus(StrEnum):
    ACTIVE = "active"
    DISSOLVED = "dissolved"


class TargetKind(StrEnum):
    """What a decision may authorise."""

    PROJECT_GATE = "project_gate"
    DELIVERABLE_APPROVAL = "deliverable_approval"
    ASSIGNMENT_REDISTRIBUTION = "assignment_redistribution"


@dataclass(frozen=True)
class QuorumRule:
    """Share of current voting members who must be present: more than (or at least) n/d."""

    numerator: int = 1
    denominator: int = 2
    strict: bool = True

    def __post_init__(self) -> None:
        if not (0 < self.numerator <= self.denominator):
            raise ValidationError("quorum share must be a fraction in (0, 1]", field="quorum")
        if self.strict and self.numerator == self.denominator:
            raise ValidationError(
                "a quorum of more than all the voting members can never be met", field="quorum"
            )

    def needed(self, voting_members: int) -> int:
        """The smallest number present that makes quorum (integer arithmetic, no floats)."""
        product = voting_members * self.numerator
        if self.strict:
            return product // self.denominator + 1
        return -(-product // self.denominator)

    def describe(self) -> str:
        word = "more than" if self.strict else "at least"
        return f"{word} {self.numerator}/{self.denominator} of the voting members"


def majority_holds(rule: MajorityRule, votes_for: int, votes_against: int, present: int) -> bool:
    if rule is MajorityRule.SIMPLE:
        return votes_for > votes_against
    if rule is MajorityRule.ABSOLUTE:
        return 2 * votes_for > present
    # With nobody present, "two thirds of none" must not adopt a motion nobody voted for.
    return present > 0 and 3 * votes_for >= 2 * present


@dataclass
class Member:
    id: UUID
    person: str
    organization: str
    agency: Agency
    position: Position
    voting: bool
    appointed_on: date
    dismissed_on: date | None = None
    # The member's organisation in the network register, when it is named (checked on write).
    organization_id: UUID | None = None

    @property
    def current(self) -> bool:
        return self.dismissed_on is None


@dataclass
class Motion:
    id: UUID
    agenda_item: str
    text: str
    votes: dict[UUID, VoteChoice]
    voting_members: int
    present_voting: int
    quorum_needed: int
    adopted: bool


@dataclass(frozen=True)
class DecisionTarget:
    kind: TargetKind
    project_id: UUID | None = None
    stage: Stage | None = None
    deliverable_id: UUID | None = None
    redistribution_ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "project_id": None if self.project_id is None else str(self.project_id),
            "stage": None if self.stage is None else self.stage.value,
            "deliverable_id": None if self.deliverable_id is None else str(self.deliverable_id),
            "redistribution_ref": self.redistribution_ref,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionTarget:
        return cls(
            kind=TargetKind(d["kind"]),
            project_id=None if d.get("project_id") is None else UUID(d["project_id"]),
            stage=None if d.get("stage") is None else Stage(d["stage"]),
            deliverable_id=None if d.get("deliverable_id") is None else UUID(d["deliverable_id"]),
            redistribution_ref=d.get("redistribution_ref"),
        )


@dataclass
class Decision:
    id: UUID
    meeting_id: UUID
    protocol_number: str
    text: str
    motion_id: UUID
    agenda_item: str
    mechanism: Mechanism
    targets: list[DecisionTarget]
    corrects: UUID | None
    recorded_at: datetime
    adopted: bool
    superseded_by: UUID | None = None


@dataclass
class Meeting:
    id: UUID
    held_on: date
    agenda: dict[str, str]
    present: set[UUID] = field(default_factory=set)
    attendance_recorded: bool = False
    protocol_number: str | None = None
    signed_at: datetime | None = None
    signed_by: list[UUID] = field(default_factory=list)
    motions: dict[UUID, Motion] = field(default_factory=dict)
    decisions: list[UUID] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return self.signed_at is not None


@dataclass
class ActionItem:
    id: UUID
    description: str
    owner: str
    deadline: date
    decision_id: UUID | None
    done_on: date | None = None


class WorkingGroup(DomainAggregate):
    """A working, administrative or interagency group (рабочая / межведомственная группа)."""

    class GroupEstablished(DomainAggregate.Created):
        kind: str
        name: str
        basis_act: str
        municipality: str
        project_id: UUID | None
        quorum_numerator: int
        quorum_denominator: int
        quorum_strict: bool
        majority_rule: str

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.kind = GroupKind(self.kind)
            g.name = self.name
            g.basis_act = self.basis_act
            g.municipality = self.municipality
            g.project_id = self.project_id
            g.quorum = QuorumRule(
                self.quorum_numerator, self.quorum_denominator, self.quorum_strict
            )
            g.majority_rule = MajorityRule(self.majority_rule)
            # The agency of the official who established the group takes part in it from
            # the start, before any member is appointed (access rules rely on it).
            agency = self.meta.actor_agency
            g.convening_agency = Agency(agency) if agency in set(Agency) else None
            g.status = GroupStatus.ACTIVE
            g.members = {}
            g.meetings = {}
            g.decisions = {}
            g.action_items = {}

    class MemberAppointed(DomainAggregate.Event):
        member_id: UUID
        person: str
        organization: str
        agency: str
        position: str
        voting: bool
        appointed_on: date
        # v2: the organisation's entry in the network register, if named; checked on write.
        organization_id: UUID | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["organization_id"] = None

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.members[self.member_id] = Member(
                id=self.member_id,
                person=self.person,
                organization=self.organization,
                agency=Agency(self.agency),
                position=Position(self.position),
                voting=self.voting,
                appointed_on=self.appointed_on,
                organization_id=self.organization_id,
            )

    class MemberDismissed(DomainAggregate.Event):
        member_id: UUID
        dismissed_on: date

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.members[self.member_id].dismissed_on = self.dismissed_on

    class MeetingScheduled(DomainAggregate.Event):
        meeting_id: UUID
        held_on: date
        agenda: list[dict[str, str]]

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.meetings[self.meeting_id] = Meeting(
                id=self.meeting_id,
                held_on=self.held_on,
                agenda={a["item"]: a["title"] for a in self.agenda},
            )

    class AttendanceRecorded(DomainAggregate.Event):
        meeting_id: UUID
        present: list[UUID]

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            m = g.meetings[self.meeting_id]
            m.present = set(self.present)
            m.attendance_recorded = True

    class MotionVoted(DomainAggregate.Event):
        meeting_id: UUID
        motion_id: UUID
        agenda_item: str
        text: str
        votes: dict[str, str]
        voting_members: int
        present_voting: int
        quorum_needed: int
        votes_for: int
        votes_against: int
        abstentions: int
        adopted: bool

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.meetings[self.meeting_id].motions[self.motion_id] = Motion(
                id=self.motion_id,
                agenda_item=self.agenda_item,
                text=self.text,
                votes={UUID(k): VoteChoice(v) for k, v in self.votes.items()},
                voting_members=self.voting_members,
                present_voting=self.present_voting,
                quorum_needed=self.quorum_needed,
                adopted=self.adopted,
            )

    class DecisionRecorded(DomainAggregate.Event):
        """A protocol's decision on a voted motion; ``adopted`` follows the vote."""

        decision_id: UUID
        meeting_id: UUID
        protocol_number: str
        text: str
        motion_id: UUID
        agenda_item: str
        mechanism: str
        targets: list[dict[str, Any]]
        corrects: UUID | None
        adopted: bool

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            m = g.meetings[self.meeting_id]
            m.protocol_number = self.protocol_number
            m.decisions.append(self.decision_id)
            g.decisions[self.decision_id] = Decision(
                id=self.decision_id,
                meeting_id=self.meeting_id,
                protocol_number=self.protocol_number,
                text=self.text,
                motion_id=self.motion_id,
                agenda_item=self.agenda_item,
                mechanism=Mechanism(self.mechanism),
                targets=[DecisionTarget.from_dict(t) for t in self.targets],
                corrects=self.corrects,
                recorded_at=self.timestamp,
                adopted=self.adopted,
            )
            if self.corrects is not None and self.adopted:
                g.decisions[self.corrects].superseded_by = self.decision_id

    class ProtocolSigned(DomainAggregate.Event):
        meeting_id: UUID
        protocol_number: str
        signed_by: list[UUID]

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            m = g.meetings[self.meeting_id]
            m.protocol_number = self.protocol_number
            m.signed_at = self.timestamp
            m.signed_by = list(self.signed_by)

    class ActionItemAssigned(DomainAggregate.Event):
        item_id: UUID
        description: str
        owner: str
        deadline: date
        decision_id: UUID | None

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.action_items[self.item_id] = ActionItem(
                id=self.item_id,
                description=self.description,
                owner=self.owner,
                deadline=self.deadline,
                decision_id=self.decision_id,
            )

    class ActionItemCompleted(DomainAggregate.Event):
        item_id: UUID
        done_on: date

        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.action_items[self.item_id].done_on = self.done_on

    class GroupDissolved(DomainAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            g: WorkingGroup = aggregate
            g.status = GroupStatus.DISSOLVED

    if TYPE_CHECKING:
        kind: GroupKind
        name: str
        basis_act: str
        municipality: str
        project_id: UUID | None
        convening_agency: Agency | None
        quorum: QuorumRule
        majority_rule: MajorityRule
        status: GroupStatus
        members: dict[UUID, Member]
        meetings: dict[UUID, Meeting]
        decisions: dict[UUID, Decision]
        action_items: dict[UUID, ActionItem]

    # -- commands ---------------------------------------------------------------------

    @classmethod
    def establish(
        cls,
        meta: EventMeta,
        *,
        group_id: UUID,
        kind: str,
        name: str,
        basis_act: str,
        municipality: str,
        project_id: UUID | None = None,
        quorum: QuorumRule | None = None,
        majority_rule: str = MajorityRule.SIMPLE.value,
    ) -> WorkingGroup:
        q = quorum or QuorumRule()
        return cls._create(
            cls.GroupEstablished,
            id=group_id,
            meta=meta,
            kind=parse_code(GroupKind, kind, "kind").value,
            name=require_text(name, "name", 300),
            basis_act=require_text(basis_act, "basis_act", 300),
            municipality=require_text(municipality, "municipality", 200),
            project_id=project_id,
            quorum_numerator=q.numerator,
            quorum_denominator=q.denominator,
            quorum_strict=q.strict,
            majority_rule=parse_code(MajorityRule, majority_rule, "majority_rule").value,
        )

    def appoint_member(
        self,
        meta: EventMeta,
        *,
        member_id: UUID,
        person: str,
        organization: str,
        agency: str,
        position: str,
        voting: bool = True,
        appointed_on: date,
        organization_id: UUID | None = None,
    ) -> None:
        self._check_active()
        pos = parse_code(Position, position, "position")
        ag = parse_code(Agency, agency, "agency")
        if member_id in self.members:
            raise RuleViolationError("member_id_unique", f"member {member_id} already appointed")
        if pos in (Position.CHAIR, Position.SECRETARY):
            holder = next((m for m in self.current_members() if m.position is pos), None)
            if holder is not None:
                raise RuleViolationError(
                    f"one_{pos.value}",
                    f"the group already has a {pos.value}: {holder.person}; dismiss them first",
                )
        self.trigger_event(
            self.MemberAppointed,
            meta=meta,
            member_id=member_id,
            person=require_text(person, "person", 300),
            organization=require_text(organization, "organization", 300),
            agency=ag.value,
            position=pos.value,
            voting=bool(voting),
            appointed_on=appointed_on,
            organization_id=organization_id,
        )

    def dismiss_member(
        self, meta: EventMeta, *, member_id: UUID, dismissed_on: date, reason: str
    ) -> None:
        self._check_active()
        member = self._current_member(member_id)
        if dismissed_on < member.appointed_on:
            raise RuleViolationError(
                "dismissal_after_appointment",
                f"a member appointed on {member.appointed_on} cannot be dismissed "
                f"on {dismissed_on}",
            )
        self.trigger_event(
            self.MemberDismissed,
            meta=meta.because(require_text(reason, "reason")),
            member_id=member_id,
            dismissed_on=dismissed_on,
        )

    def schedule_meeting(
        self, meta: EventMeta, *, meeting_id: UUID, held_on: date, agenda: list[str]
    ) -> None:
        self._check_active()
        if not agenda:
            raise ValidationError("a meeting needs at least one agenda item", field="agenda")
        if meeting_id in self.meetings:
            raise RuleViolationError("meeting_id_unique", f"meeting {meeting_id} already exists")
        if self.kind is GroupKind.INTERAGENCY:
            agencies = self.member_agencies()
            if len(agencies) < 2:
                raise RuleViolationError(
                    "interagency_members_from_two_agencies",
                    "an interagency group needs current members from at least two agencies "
                    f"before it can hold a meeting; it has {sorted(a.value for a in agencies)}",
                )
        self.trigger_event(
            self.MeetingScheduled,
            meta=meta,
            meeting_id=meeting_id,
            held_on=held_on,
            agenda=[
                {"item": str(i + 1), "title": require_text(t, "agenda", 500)}
                for i, t in enumerate(agenda)
            ],
        )

    def record_attendance(self, meta: EventMeta, *, meeting_id: UUID, present: list[UUID]) -> None:
        self._check_active()
        meeting = self._open_meeting(meeting_id)
        current = {m.id for m in self.current_members()}
        strangers = [str(p) for p in present if p not in current]
        if strangers:
            raise RuleViolationError(
                "attendees_are_members",
                f"only current members can attend; not members: {', '.join(strangers)}",
            )
        if meeting.motions:
            raise RuleViolationError(
                "attendance_before_votes",
                "attendance cannot change after the meeting has voted",
            )
        self.trigger_event(
            self.AttendanceRecorded,
            meta=meta,
            meeting_id=meeting_id,
            present=list(dict.fromkeys(present)),
        )

    def vote_on_motion(
        self,
        meta: EventMeta,
        *,
        meeting_id: UUID,
        motion_id: UUID,
        agenda_item: str,
        text: str,
        votes: dict[UUID, str],
    ) -> bool:
        """Records the vote; returns whether the motion was adopted."""
        self._check_active()
        meeting = self._open_meeting(meeting_id)
        if not meeting.attendance_recorded:
            raise RuleViolationError(
                "attendance_recorded_before_vote", "record the meeting's attendance before voting"
            )
        if agenda_item not in meeting.agenda:
            raise RuleViolationError(
                "agenda_item_exists",
                f"the meeting has no agenda item {agenda_item!r}; items: {sorted(meeting.agenda)}",
            )
        if motion_id in meeting.motions:
            raise RuleViolationError("motion_id_unique", f"motion {motion_id} was already voted")
        voting_members = [m for m in self.current_members() if m.voting]
        present_voting = {m.id for m in voting_members if m.id in meeting.present}
        needed = self.quorum.needed(len(voting_members))
        if len(present_voting) < needed:
            raise RuleViolationError(
                "quorum",
                f"no quorum: {len(present_voting)} voting member(s) present, {needed} needed "
                f"({self.quorum.describe()}, {len(voting_members)} voting members)",
                quorum_needed=needed,
                quorum_present=len(present_voting),
                voting_members=len(voting_members),
            )
        choices = {mid: parse_code(VoteChoice, v, "votes") for mid, v in votes.items()}
        outsiders = [str(mid) for mid in choices if mid not in present_voting]
        if outsiders:
            raise RuleViolationError(
                "votes_from_present_voting_members",
                f"only voting members present may vote; not entitled: {', '.join(outsiders)}",
            )
        missing = [str(mid) for mid in present_voting if mid not in choices]
        if missing:
            raise RuleViolationError(
                "every_present_member_votes",
                "each voting member present votes for, against or abstains; "
                f"missing: {', '.join(sorted(missing))}",
            )
        n_for = sum(1 for c in choices.values() if c is VoteChoice.FOR)
        n_against = sum(1 for c in choices.values() if c is VoteChoice.AGAINST)
        adopted = majority_holds(self.majority_rule, n_for, n_against, len(present_voting))
        self.trigger_event(
            self.MotionVoted,
            meta=meta,
            meeting_id=meeting_id,
            motion_id=motion_id,
            agenda_item=agenda_item,
            text=require_text(text, "text", 4000),
            votes={str(k): v.value for k, v in choices.items()},
            voting_members=len(voting_members),
            present_voting=len(present_voting),
            quorum_needed=needed,
            votes_for=n_for,
            votes_against=n_against,
            abstentions=len(choices) - n_for - n_against,
            adopted=adopted,
        )
        return adopted

    def record_decision(
        self,
        meta: EventMeta,
        *,
        decision_id: UUID,
        meeting_id: UUID,
        protocol_number: str,
        text: str,
        motion_id: UUID,
        mechanism: str,
        targets: list[DecisionTarget] | None = None,
        corrects: UUID | None = None,
    ) -> None:
        self._check_active()
        meeting = self._open_meeting(meeting_id)
        protocol_number = require_text(protocol_number, "protocol_number", 100)
        self._check_protocol_number(meeting, protocol_number)
        motion = meeting.motions.get(motion_id)
        if motion is None:
            raise RuleViolationError(
                "decision_on_voted_motion", f"no motion {motion_id} was voted at this meeting"
            )
        if any(d.motion_id == motion_id for d in self.decisions.values()):
            raise RuleViolationError(
                "one_decision_per_motion", f"motion {motion_id} already has its decision"
            )
        if decision_id in self.decisions:
            raise RuleViolationError("decision_id_unique", f"decision {decision_id} exists")
        if corrects is not None:
            old = self.decisions.get(corrects)
            if old is None:
                raise RuleViolationError(
                    "correction_of_known_decision",
                    f"decision {corrects} to correct is not a decision of this group",
                )
            if old.superseded_by is not None:
                raise RuleViolationError(
                    "correction_of_decision_in_force",
                    f"decision {corrects} was already corrected by {old.superseded_by}",
                )
        self.trigger_event(
            self.DecisionRecorded,
            meta=meta,
            decision_id=decision_id,
            meeting_id=meeting_id,
            protocol_number=protocol_number,
            text=require_text(text, "text", 8000),
            motion_id=motion_id,
            agenda_item=motion.agenda_item,
            mechanism=parse_code(Mechanism, mechanism, "mechanism").value,
            targets=[t.as_dict() for t in targets or []],
            corrects=corrects,
            adopted=motion.adopted,
        )

    def sign_protocol(self, meta: EventMeta, *, meeting_id: UUID, protocol_number: str) -> None:
        self._check_active()
        meeting = self._open_meeting(meeting_id)
        protocol_number = require_text(protocol_number, "protocol_number", 100)
        if not meeting.attendance_recorded:
            raise RuleViolationError(
                "attendance_recorded_before_signing",
                "a protocol records attendance: record it before signing",
            )
        self._check_protocol_number(meeting, protocol_number)
        presiding = [
            m
            for m in self.current_members()
            if m.position in (Position.CHAIR, Position.DEPUTY) and m.id in meeting.present
        ]
        secretary = [
            m
            for m in self.current_members()
            if m.position is Position.SECRETARY and m.id in meeting.present
        ]
        if not presiding or not secretary:
            raise RuleViolationError(
                "protocol_signatories_present",
                "a protocol is signed by the one who presided (the chair, or a deputy) and by "
                "the secretary, and both must have attended the meeting",
            )
        # The chair presides when present; otherwise a deputy does.
        presiding.sort(key=lambda m: m.position is not Position.CHAIR)
        signers = [presiding[0].id, secretary[0].id]
        self.trigger_event(
            self.ProtocolSigned,
            meta=meta,
            meeting_id=meeting_id,
            protocol_number=protocol_number,
            signed_by=signers,
        )

    def assign_action_item(
        self,
        meta: EventMeta,
        *,
        item_id: UUID,
        description: str,
        owner: str,
        deadline: date,
        decision_id: UUID | None = None,
    ) -> None:
        self._check_active()
        if item_id in self.action_items:
            raise RuleViolationError("action_item_id_unique", f"action item {item_id} exists")
        if decision_id is not None and decision_id not in self.decisions:
            raise RuleViolationError(
                "action_item_decision_exists", f"no decision {decision_id} in this group"
            )
        self.trigger_event(
            self.ActionItemAssigned,
            meta=meta,
            item_id=item_id,
            description=require_text(description, "description", 2000),
            owner=require_text(owner, "owner", 300),
            deadline=deadline,
            decision_id=decision_id,
        )

    def complete_action_item(self, meta: EventMeta, *, item_id: UUID, done_on: date) -> None:
        self._check_active()
        item = self.action_items.get(item_id)
        if item is None:
            raise RuleViolationError("action_item_exists", f"no action item {item_id}")
        if item.done_on is not None:
            raise RuleViolationError(
                "action_item_open", f"action item {item_id} was completed on {item.done_on}"
            )
        self.trigger_event(self.ActionItemCompleted, meta=meta, item_id=item_id, done_on=done_on)

    def dissolve(self, meta: EventMeta, *, reason: str) -> None:
        self._check_active()
        self.trigger_event(self.GroupDissolved, meta=meta.because(require_text(reason, "reason")))

    # -- queries ----------------------------------------------------------------------

    def current_members(self) -> list[Member]:
        return [m for m in self.members.values() if m.current]

    def member_agencies(self) -> set[Agency]:
        return {m.agency for m in self.current_members()}

    def meeting_of(self, decision_id: UUID) -> Meeting:
        return self.meetings[self.decisions[decision_id].meeting_id]

    # -- rules ------------------------------------------------------------------------

    def _check_active(self) -> None:
        if self.status is not GroupStatus.ACTIVE:
            raise RuleViolationError("group_active", "the group is dissolved")

    def _current_member(self, member_id: UUID) -> Member:
        m = self.members.get(member_id)
        if m is None or not m.current:
            raise RuleViolationError("member_current", f"{member_id} is not a current member")
        return m

    def _check_protocol_number(self, meeting: Meeting, protocol_number: str) -> None:
        if meeting.protocol_number is not None and meeting.protocol_number != protocol_number:
            raise RuleViolationError(
                "one_protocol_per_meeting",
                f"this meeting's protocol is No. {meeting.protocol_number}, not {protocol_number}",
            )
        other = next(
            (
                m
                for m in self.meetings.values()
                if m.id != meeting.id and m.protocol_number == protocol_number
            ),
            None,
        )
        if other is not None:
            raise RuleViolationError(
                "protocol_number_unique",
                f"protocol No. {protocol_number} is already the protocol of the meeting of "
                f"{other.held_on}",
            )

    def _open_meeting(self, meeting_id: UUID) -> Meeting:
        m = self.meetings.get(meeting_id)
        if m is None:
            raise RuleViolationError("meeting_exists", f"no meeting {meeting_id} in this group")
        if m.signed:
            raise RuleViolationError(
                "protocol_signed_immutable",
                f"the protocol No. {m.protocol_number} of this meeting is signed and never "
                "changes; adopt a new decision that corrects the old one instead",
            )
        return m

    def covers(self, project_id: UUID | None, municipality: str) -> bool:
        """A group scoped to a project covers that project; an unscoped one, its municipality."""
        if self.project_id is not None:
            return project_id is not None and self.project_id == project_id
        return self.municipality == municipality


def check_decision_authorises(
    group: WorkingGroup | None,
    decision_id: UUID,
    *,
    project_id: UUID | None,
    municipality: str,
    kind: TargetKind,
    stage: Stage | None = None,
    deliverable_id: UUID | None = None,
) -> Decision:
    """The one check every command citing a decision goes through; names the rule broken.

    ``project_id`` is None for what belongs to no project (a redistribution of municipal
    assignments): then only a group of the municipality, not one scoped to a project,
    covers it.
    """
    decision = None if group is None else group.decisions.get(decision_id)
    if group is None or decision is None:
        raise RuleViolationError("decision_exists", f"no decision {decision_id}")
    if not decision.adopted:
        raise RuleViolationError(
            "decision_adopted", f"decision {decision_id} was not adopted: its motion failed"
        )
    if decision.superseded_by is not None:
        raise RuleViolationError(
            "decision_in_force",
            f"decision {decision_id} was corrected by decision {decision.superseded_by}; cite that",
        )
    meeting = group.meeting_of(decision_id)
    if not meeting.signed:
        raise RuleViolationError(
            "decision_protocol_signed",
            f"decision {decision_id} is in protocol No. {meeting.protocol_number}, "
            "which is not signed yet",
        )
    if not group.covers(project_id, municipality):
        raise RuleViolationError(
            "decision_group_covers_project",
            f"decision {decision_id} belongs to group {group.name!r}, whose scope does not "
            + (f"cover project {project_id}" if project_id else f"cover {municipality!r}"),
        )
    if decision.targets:
        matching = [
            t
            for t in decision.targets
            if t.kind is kind
            and (t.project_id is None or project_id is None or t.project_id == project_id)
            and (stage is None or t.stage is None or t.stage is stage)
            and (
                deliverable_id is None
                or t.deliverable_id is None
                or t.deliverable_id == deliverable_id
            )
        ]
        if not matching:
            raise RuleViolationError(
                "decision_targets_match",
                f"decision {decision_id} names what it authorises, and this "
                f"{kind.value.replace('_', ' ')} is not among it",
            )
    return decision


class DecisionIndex(DomainAggregate):
    """Finds a decision's group from the decision id alone.

    Its id is derived from the decision id and it is saved in the same ``save()`` as the
    decision, so an index entry exists exactly when its decision does.
    """

    class DecisionIndexed(DomainAggregate.Created):
        decision_id: UUID
        group_id: UUID

        def apply(self, aggregate: Any) -> None:
            ix: DecisionIndex = aggregate
            ix.decision_id = self.decision_id
            ix.group_id = self.group_id

    if TYPE_CHECKING:
        decision_id: UUID
        group_id: UUID

    @staticmethod
    def id_for(decision_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"/interagency/decisions/{decision_id}")

    @classmethod
    def index(cls, meta: EventMeta, *, decision_id: UUID, group_id: UUID) -> DecisionIndex:
        return cls._create(
            cls.DecisionIndexed,
            id=cls.id_for(decision_id),
            meta=meta,
            decision_id=decision_id,
            group_id=group_id,
        )
