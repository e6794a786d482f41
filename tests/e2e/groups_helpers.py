"""Working groups over HTTP: request bodies, a driver for one group, whole meetings.

A "staffed" group has five members from four agencies: a chair (education), a secretary
(culture), two voting members (sport, education) and a non-voting member (health). With
the default quorum (more than half of the 4 voting members) 3 must be present.

Every write is sent by an education official of the group's municipality (the test's
unless the group was established in another): the official who establishes a group
convenes it for their agency, so that official may write to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import API, AuthHeaders, expect_ok, official_headers

FIRST_STAGE = "social_ties_program"
SECOND_STAGE = "interaction_mechanisms"

# label -> (agency, position, voting)
STAFF: dict[str, tuple[str, str, bool]] = {
    "chair": ("education", "chair", True),
    "secretary": ("culture", "secretary", True),
    "sport": ("sport", "member", True),
    "teacher": ("education", "member", True),
    "doctor": ("health", "member", False),
}
# Who comes to an ordinary meeting: 3 of the 4 voting members, and the non-voting one.
ATTENDING = ("chair", "secretary", "sport", "doctor")
VOTERS = ("chair", "secretary", "sport")


def group_body(municipality: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "interagency",
        "name": f"Interagency working group {uuid.uuid4().hex[:6]}",
        "basis_act": "Resolution of the administration No. 215 of 2027-01-10",
        "municipality": municipality,
        "quorum": {"numerator": 1, "denominator": 2, "strict": True},
        "majority_rule": "simple",
    }
    body.update(overrides)
    return body


def member_body(label: str, agency: str, position: str, voting: bool) -> dict[str, Any]:
    return {
        "person": f"Person {label}",
        "organization": f"Office of {agency}",
        "agency": agency,
        "position": position,
        "voting": voting,
        "appointed_on": "2027-01-15",
    }


def gate_target(project_id: str, stage: str = FIRST_STAGE) -> dict[str, Any]:
    return {"kind": "project_gate", "project_id": project_id, "stage": stage}


def approval_target(project_id: str, deliverable_id: str) -> dict[str, Any]:
    return {
        "kind": "deliverable_approval",
        "project_id": project_id,
        "deliverable_id": deliverable_id,
    }


def gate_citing(decision_id: str) -> dict[str, Any]:
    """A gate pass whose only basis is the cited decision."""
    return {"reason": "The working group decided the stage is done", "decision_id": decision_id}


@dataclass
class Minutes:
    """What one meeting produced."""

    meeting_id: str
    motion: dict[str, Any]
    decision_id: str
    last: dict[str, Any]


@dataclass
class Group:
    """Drives one group over HTTP; every write must be accepted with the given status.

    Writes are sent by an official of ``municipality`` (None: the test's municipality);
    keyword ``headers`` go to :func:`official_headers` (another agency, If-Match, ...).
    """

    client: TestClient
    id: str
    members: dict[str, str] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    municipality: str | None = None

    @property
    def url(self) -> str:
        return f"{API}/working-groups/{self.id}"

    def writer(self, **headers: Any) -> AuthHeaders:
        """The headers of a write to this group (its municipality's education official)."""
        headers.setdefault("municipality", self.municipality)
        return official_headers(**headers)

    def post(
        self, path: str, body: dict[str, Any], status: int = 200, **headers: str
    ) -> dict[str, Any]:
        response = self.client.post(f"{self.url}/{path}", json=body, headers=self.writer(**headers))
        answer = expect_ok(response, status)
        assert response.headers["ETag"] == f'"{answer["version"]}"'
        assert response.headers["X-Event-Position"] == str(answer["position"])
        self.last = answer
        return answer

    def raw(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        """A write whose answer the test inspects itself (refusals)."""
        return self.client.post(f"{self.url}/{path}", json=body, headers=self.writer(**headers))

    def get(self) -> dict[str, Any]:
        return expect_ok(self.client.get(self.url))

    def version(self) -> int:
        version: int = self.get()["version"]
        return version

    # -- commands ------------------------------------------------------------------------

    def appoint(
        self, label: str, agency: str, position: str = "member", voting: bool = True
    ) -> str:
        answer = self.post("members", member_body(label, agency, position, voting), 201)
        self.members[label] = answer["created_id"]
        return str(answer["created_id"])

    def staff(self) -> Group:
        for label, (agency, position, voting) in STAFF.items():
            self.appoint(label, agency, position, voting)
        return self

    def meeting(self, held_on: str = "2027-02-03", agenda: list[str] | None = None) -> str:
        body = {"held_on": held_on, "agenda": agenda or ["Stage 1 results", "Any other business"]}
        return str(self.post("meetings", body, 201)["created_id"])

    def attend(self, meeting_id: str, labels: tuple[str, ...] = ATTENDING) -> dict[str, Any]:
        present = [self.members[label] for label in labels]
        return self.post(f"meetings/{meeting_id}/attendance", {"present": present})

    def motion_body(
        self, votes: dict[str, str], agenda_item: str = "1", text: str | None = None
    ) -> dict[str, Any]:
        return {
            "agenda_item": agenda_item,
            "text": text or "Recognise stage 1 as done and move to stage 2",
            "votes": {self.members[label]: choice for label, choice in votes.items()},
        }

    def vote(
        self,
        meeting_id: str,
        votes: dict[str, str] | None = None,
        agenda_item: str = "1",
        text: str | None = None,
    ) -> dict[str, Any]:
        votes = votes if votes is not None else dict.fromkeys(VOTERS, "for")
        return self.post(
            f"meetings/{meeting_id}/motions", self.motion_body(votes, agenda_item, text), 201
        )

    def decide(
        self,
        meeting_id: str,
        motion_id: str,
        targets: list[dict[str, Any]],
        *,
        protocol: str = "1",
        text: str = "Stage 1 is done; the project moves to stage 2",
        mechanism: str = "working_groups",
        corrects: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "protocol_number": protocol,
            "text": text,
            "motion_id": motion_id,
            "mechanism": mechanism,
            "targets": targets,
        }
        if corrects is not None:
            body["corrects"] = corrects
        return str(self.post(f"meetings/{meeting_id}/decisions", body, 201)["created_id"])

    def sign(self, meeting_id: str, protocol: str = "1") -> dict[str, Any]:
        return self.post(f"meetings/{meeting_id}/sign", {"protocol_number": protocol})

    def hold_meeting(
        self,
        targets: list[dict[str, Any]],
        *,
        adopted: bool = True,
        signed: bool = True,
        held_on: str = "2027-02-03",
        protocol: str = "1",
        text: str = "Stage 1 is done; the project moves to stage 2",
        mechanism: str = "working_groups",
        corrects: str | None = None,
        motion_text: str | None = None,
    ) -> Minutes:
        """Schedules a meeting, takes attendance, votes, records the decision, signs."""
        meeting_id = self.meeting(held_on)
        self.attend(meeting_id)
        votes = (
            dict.fromkeys(VOTERS, "for")
            if adopted
            else {"chair": "for", "secretary": "against", "sport": "against"}
        )
        motion = self.vote(meeting_id, votes, text=motion_text)
        assert motion["adopted"] is adopted
        decision_id = self.decide(
            meeting_id,
            motion["motion_id"],
            targets,
            protocol=protocol,
            text=text,
            mechanism=mechanism,
            corrects=corrects,
        )
        if signed:
            self.sign(meeting_id, protocol)
        return Minutes(meeting_id, motion, decision_id, self.last)


def establish(client: TestClient, municipality: str, **overrides: Any) -> Group:
    """Establishes a group of ``municipality``, by an education official of it."""
    response = client.post(
        f"{API}/working-groups",
        json=group_body(municipality, **overrides),
        headers=official_headers(municipality=municipality),
    )
    answer = expect_ok(response, 201)
    return Group(client, answer["id"], last=answer, municipality=municipality)


def staffed(client: TestClient, municipality: str, **overrides: Any) -> Group:
    """An interagency group of the municipality with the five standard members."""
    return establish(client, municipality, **overrides).staff()


@contextmanager
def nothing_written(services: Services) -> Iterator[None]:
    """The event log's head does not move while the block runs.

    Headers mint their token when first sent, and minting writes events: mint the tokens a
    block sends (``headers.actor_id``) before it starts.
    """
    before = services.app.head_position()
    yield
    assert services.app.head_position() == before, "a refused request wrote an event"
