"""Working groups: roster, meetings, the decisions register, action items."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg.types.json import Jsonb

from domain.working_group import QuorumRule, WorkingGroup
from projections.runtime import Cursor, ProjectionView

G = WorkingGroup


class GroupsView(ProjectionView):
    name = "groups"
    tables = (
        "wg_groups",
        "wg_members",
        "wg_meetings",
        "wg_motions",
        "wg_decisions",
        "wg_action_items",
    )
    topics = tuple(
        get_topic(c)
        for c in (
            G.GroupEstablished,
            G.MemberAppointed,
            G.MemberDismissed,
            G.MeetingScheduled,
            G.AttendanceRecorded,
            G.MotionVoted,
            G.DecisionRecorded,
            G.ProtocolSigned,
            G.ActionItemAssigned,
            G.ActionItemCompleted,
            G.GroupDissolved,
        )
    )

    def ddl(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS wg_groups (
                group_id uuid PRIMARY KEY,
                kind text NOT NULL,
                name text NOT NULL,
                basis_act text NOT NULL,
                municipality text NOT NULL,
                project_id uuid,
                quorum text NOT NULL,
                quorum_numerator int NOT NULL,
                quorum_denominator int NOT NULL,
                quorum_strict boolean NOT NULL,
                majority_rule text NOT NULL,
                status text NOT NULL,
                version int NOT NULL,
                established_at timestamptz NOT NULL,
                dissolved_at timestamptz
            )""",
            """
            CREATE TABLE IF NOT EXISTS wg_members (
                group_id uuid NOT NULL,
                member_id uuid NOT NULL,
                person text NOT NULL,
                organization text NOT NULL,
                agency text NOT NULL,
                position text NOT NULL,
                voting boolean NOT NULL,
                appointed_on date NOT NULL,
                dismissed_on date,
                PRIMARY KEY (group_id, member_id)
            )""",
            """
            CREATE TABLE IF NOT EXISTS wg_meetings (
                group_id uuid NOT NULL,
                meeting_id uuid NOT NULL,
                held_on date NOT NULL,
                agenda jsonb NOT NULL,
                members_total int,
                voting_members int,
                present int,
                present_voting int,
                quorum_needed int,
                quorum_met boolean,
                attendance_rate numeric(5, 1),
                protocol_number text,
                signed_at timestamptz,
                motions int NOT NULL DEFAULT 0,
                decisions int NOT NULL DEFAULT 0,
                PRIMARY KEY (group_id, meeting_id)
            )""",
            """
            CREATE TABLE IF NOT EXISTS wg_motions (
                motion_id uuid PRIMARY KEY,
                group_id uuid NOT NULL,
                meeting_id uuid NOT NULL,
                agenda_item text NOT NULL,
                text text NOT NULL,
                votes jsonb NOT NULL,
                votes_for int NOT NULL,
                votes_against int NOT NULL,
                abstentions int NOT NULL,
                voting_members int NOT NULL,
                present_voting int NOT NULL,
                quorum_needed int NOT NULL,
                adopted boolean NOT NULL
            )""",
            """
            CREATE TABLE IF NOT EXISTS wg_decisions (
                decision_id uuid PRIMARY KEY,
                group_id uuid NOT NULL,
                meeting_id uuid NOT NULL,
                protocol_number text NOT NULL,
                project_ids uuid[] NOT NULL,
                text text NOT NULL,
                agenda_item text NOT NULL,
                mechanism text NOT NULL,
                targets jsonb NOT NULL,
                motion_id uuid NOT NULL,
                motion_text text NOT NULL,
                votes jsonb NOT NULL,
                votes_for int NOT NULL,
                votes_against int NOT NULL,
                abstentions int NOT NULL,
                quorum_needed int NOT NULL,
                present_voting int NOT NULL,
                adopted boolean NOT NULL,
                corrects uuid,
                superseded_by uuid,
                signed boolean NOT NULL DEFAULT false,
                held_on date NOT NULL,
                recorded_at timestamptz NOT NULL,
                search tsvector
            )""",
            "CREATE INDEX IF NOT EXISTS wg_decisions_search_idx ON wg_decisions USING gin (search)",
            # Signing a protocol marks its meeting's decisions: without this, a scan of all.
            "CREATE INDEX IF NOT EXISTS wg_decisions_meeting ON wg_decisions(group_id, meeting_id)",
            """
            CREATE TABLE IF NOT EXISTS wg_action_items (
                item_id uuid PRIMARY KEY,
                group_id uuid NOT NULL,
                decision_id uuid,
                description text NOT NULL,
                owner text NOT NULL,
                deadline date NOT NULL,
                done_on date,
                assigned_at timestamptz NOT NULL
            )""",
        ]

    # -- updates ----------------------------------------------------------------------

    def process(self, curs: Cursor, event: Any, position: int) -> None:
        gid: UUID = event.originator_id
        ts = event.timestamp
        if isinstance(event, G.GroupEstablished):
            quorum = (
                f"{'>' if event.quorum_strict else '>='} "
                f"{event.quorum_numerator}/{event.quorum_denominator}"
            )
            curs.execute(
                "INSERT INTO wg_groups (group_id, kind, name, basis_act, municipality, "
                "project_id, quorum, quorum_numerator, quorum_denominator, quorum_strict, "
                "majority_rule, status, version, established_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'active', %s, %s)",
                (
                    gid,
                    event.kind,
                    event.name,
                    event.basis_act,
                    event.municipality,
                    event.project_id,
                    quorum,
                    event.quorum_numerator,
                    event.quorum_denominator,
                    event.quorum_strict,
                    event.majority_rule,
                    event.originator_version,
                    ts,
                ),
            )
            return
        if isinstance(event, G.MemberAppointed):
            curs.execute(
                "INSERT INTO wg_members (group_id, member_id, person, organization, agency, "
                "position, voting, appointed_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    gid,
                    event.member_id,
                    event.person,
                    event.organization,
                    event.agency,
                    event.position,
                    event.voting,
                    event.appointed_on,
                ),
            )
        elif isinstance(event, G.MemberDismissed):
            curs.execute(
                "UPDATE wg_members SET dismissed_on = %s WHERE group_id = %s AND member_id = %s",
                (event.dismissed_on, gid, event.member_id),
            )
        elif isinstance(event, G.MeetingScheduled):
            curs.execute(
                "INSERT INTO wg_meetings (group_id, meeting_id, held_on, agenda) "
                "VALUES (%s, %s, %s, %s)",
                (gid, event.meeting_id, event.held_on, Jsonb(event.agenda)),
            )
        elif isinstance(event, G.AttendanceRecorded):
            # Counts as of the meeting: the members current when attendance was recorded.
            curs.execute(
                """
                SELECT count(m.member_id) AS total,
                    count(*) FILTER (WHERE m.voting) AS voting,
                    count(*) FILTER (WHERE m.member_id = ANY(%(present)s)) AS present,
                    count(*) FILTER (WHERE m.voting AND m.member_id = ANY(%(present)s))
                        AS present_voting,
                    min(g.quorum_numerator) AS qn, min(g.quorum_denominator) AS qd,
                    bool_and(g.quorum_strict) AS qs
                FROM wg_groups g
                LEFT JOIN wg_members m ON m.group_id = g.group_id AND m.dismissed_on IS NULL
                WHERE g.group_id = %(g)s
                """,
                {"present": list(event.present), "g": gid},
            )
            c = curs.fetchone()
            assert c is not None
            needed = QuorumRule(c["qn"], c["qd"], c["qs"]).needed(c["voting"])
            curs.execute(
                """
                UPDATE wg_meetings SET members_total = %s, voting_members = %s, present = %s,
                    present_voting = %s, quorum_needed = %s, quorum_met = %s,
                    attendance_rate = %s
                WHERE group_id = %s AND meeting_id = %s
                """,
                (
                    c["total"],
                    c["voting"],
                    c["present"],
                    c["present_voting"],
                    needed,
                    c["present_voting"] >= needed,
                    0 if c["total"] == 0 else round(100.0 * c["present"] / c["total"], 1),
                    gid,
                    event.meeting_id,
                ),
            )
        elif isinstance(event, G.MotionVoted):
            curs.execute(
                "INSERT INTO wg_motions (motion_id, group_id, meeting_id, agenda_item, text, "
                "votes, votes_for, votes_against, abstentions, voting_members, present_voting, "
                "quorum_needed, adopted) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    event.motion_id,
                    gid,
                    event.meeting_id,
                    event.agenda_item,
                    event.text,
                    Jsonb(event.votes),
                    event.votes_for,
                    event.votes_against,
                    event.abstentions,
                    event.voting_members,
                    event.present_voting,
                    event.quorum_needed,
                    event.adopted,
                ),
            )
            curs.execute(
                "UPDATE wg_meetings SET motions = motions + 1 "
                "WHERE group_id = %s AND meeting_id = %s",
                (gid, event.meeting_id),
            )
        elif isinstance(event, G.DecisionRecorded):
            targeted = sorted({t["project_id"] for t in event.targets if t.get("project_id")})
            curs.execute(
                """
                INSERT INTO wg_decisions (decision_id, group_id, meeting_id, protocol_number,
                    project_ids, text, agenda_item, mechanism, targets, motion_id, motion_text,
                    votes, votes_for, votes_against, abstentions, quorum_needed,
                    present_voting, adopted, corrects, held_on, recorded_at, search)
                SELECT %(d)s, %(g)s, %(m)s, %(p)s,
                    ARRAY(SELECT DISTINCT x FROM unnest(%(targeted)s::uuid[]
                        || CASE WHEN gr.project_id IS NULL THEN ARRAY[]::uuid[]
                                ELSE ARRAY[gr.project_id] END) AS x ORDER BY x),
                    %(text)s, %(item)s, %(mech)s,
                    %(targets)s, mo.motion_id, mo.text, mo.votes, mo.votes_for,
                    mo.votes_against, mo.abstentions, mo.quorum_needed, mo.present_voting,
                    %(adopted)s, %(corrects)s, mt.held_on, %(ts)s,
                    to_tsvector('russian', %(text)s || ' ' || mo.text)
                FROM wg_motions mo
                JOIN wg_meetings mt ON mt.group_id = mo.group_id AND mt.meeting_id = mo.meeting_id
                JOIN wg_groups gr ON gr.group_id = mo.group_id
                WHERE mo.motion_id = %(motion)s
                """,
                {
                    "d": event.decision_id,
                    "g": gid,
                    "m": event.meeting_id,
                    "p": event.protocol_number,
                    "targeted": targeted,
                    "text": event.text,
                    "item": event.agenda_item,
                    "mech": event.mechanism,
                    "targets": Jsonb(event.targets),
                    "adopted": event.adopted,
                    "corrects": event.corrects,
                    "ts": ts,
                    "motion": event.motion_id,
                },
            )
            curs.execute(
                "UPDATE wg_meetings SET decisions = decisions + 1, protocol_number = %s "
                "WHERE group_id = %s AND meeting_id = %s",
                (event.protocol_number, gid, event.meeting_id),
            )
            if event.corrects is not None and event.adopted:
                curs.execute(
                    "UPDATE wg_decisions SET superseded_by = %s WHERE decision_id = %s",
                    (event.decision_id, event.corrects),
                )
        elif isinstance(event, G.ProtocolSigned):
            curs.execute(
                "UPDATE wg_meetings SET signed_at = %s, protocol_number = %s "
                "WHERE group_id = %s AND meeting_id = %s",
                (ts, event.protocol_number, gid, event.meeting_id),
            )
            curs.execute(
                "UPDATE wg_decisions SET signed = true WHERE group_id = %s AND meeting_id = %s",
                (gid, event.meeting_id),
            )
        elif isinstance(event, G.ActionItemAssigned):
            curs.execute(
                "INSERT INTO wg_action_items (item_id, group_id, decision_id, description, "
                "owner, deadline, assigned_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    event.item_id,
                    gid,
                    event.decision_id,
                    event.description,
                    event.owner,
                    event.deadline,
                    ts,
                ),
            )
        elif isinstance(event, G.ActionItemCompleted):
            curs.execute(
                "UPDATE wg_action_items SET done_on = %s WHERE item_id = %s",
                (event.done_on, event.item_id),
            )
        elif isinstance(event, G.GroupDissolved):
            curs.execute(
                "UPDATE wg_groups SET status = 'dissolved', dissolved_at = %s WHERE group_id = %s",
                (ts, gid),
            )
        else:
            return
        curs.execute(
            "UPDATE wg_groups SET version = %s WHERE group_id = %s",
            (event.originator_version, gid),
        )

    # -- queries ----------------------------------------------------------------------

    def list_groups(
        self, municipality: str | None, project_id: UUID | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[tuple[str, tuple[Any, ...]]] = []
        if municipality is not None:
            conditions.append(("municipality = %s", (municipality,)))
        if project_id is not None:
            conditions.append(("project_id = %s", (project_id,)))
        where, params = _where(conditions)
        return self._page(
            sql.SQL("SELECT * FROM wg_groups") + where,
            sql.SQL(" ORDER BY established_at, group_id"),
            params,
            limit,
            offset,
        )

    def get_group(self, group_id: UUID) -> dict[str, Any] | None:
        return self._one("SELECT * FROM wg_groups WHERE group_id = %s", (group_id,))

    def municipality_of(self, group_id: UUID) -> str | None:
        """The group's municipality (for read access checks); ``None`` if not projected."""
        row = self._one("SELECT municipality FROM wg_groups WHERE group_id = %s", (group_id,))
        return None if row is None else str(row["municipality"])

    def roster(self, group_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM wg_members WHERE group_id = %s AND dismissed_on IS NULL "
            "ORDER BY agency, CASE position WHEN 'chair' THEN 0 WHEN 'deputy' THEN 1 "
            "WHEN 'secretary' THEN 2 ELSE 3 END, person",
            (group_id,),
        )

    def meetings(self, group_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM wg_meetings WHERE group_id = %s ORDER BY held_on, meeting_id",
            (group_id,),
        )

    def decisions(
        self,
        *,
        group_id: UUID | None = None,
        project_id: UUID | None = None,
        mechanism: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        text: str | None = None,
        municipality: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[tuple[str, tuple[Any, ...]]] = []
        if municipality is not None:
            conditions.append(_in_municipality(municipality))
        if group_id is not None:
            conditions.append(("group_id = %s", (group_id,)))
        if project_id is not None:
            conditions.append(("%s = ANY(project_ids)", (project_id,)))
        if mechanism is not None:
            conditions.append(("mechanism = %s", (mechanism,)))
        if date_from is not None:
            conditions.append(("held_on >= %s", (date_from,)))
        if date_to is not None:
            conditions.append(("held_on <= %s", (date_to,)))
        if text:
            conditions.append(("search @@ plainto_tsquery('russian', %s)", (text,)))
        where, params = _where(conditions)
        return self._page(
            sql.SQL("SELECT * FROM wg_decisions") + where,
            sql.SQL(" ORDER BY held_on, recorded_at, decision_id"),
            params,
            limit,
            offset,
        )

    def get_decision(self, decision_id: UUID) -> dict[str, Any] | None:
        return self._one("SELECT * FROM wg_decisions WHERE decision_id = %s", (decision_id,))

    def action_items(
        self,
        *,
        group_id: UUID | None = None,
        status: str | None = None,
        today: date,
        municipality: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[tuple[str, tuple[Any, ...]]] = []
        if municipality is not None:
            conditions.append(_in_municipality(municipality))
        if group_id is not None:
            conditions.append(("group_id = %s", (group_id,)))
        if status == "open":
            conditions.append(("done_on IS NULL", ()))
        elif status == "done":
            conditions.append(("done_on IS NOT NULL", ()))
        elif status == "overdue":
            conditions.append(("done_on IS NULL AND deadline < %s", (today,)))
        where, params = _where(conditions)
        return self._page(
            sql.SQL("SELECT *, (done_on IS NULL AND deadline < %s) AS overdue FROM wg_action_items")
            + where,
            sql.SQL(" ORDER BY deadline, item_id"),
            [today, *params],
            limit,
            offset,
        )

    def action_item_stats(
        self, today: date, municipality: str | None = None
    ) -> list[dict[str, Any]]:
        """Per group: open, overdue, done, and the completion rate in percent."""
        return self._all(
            """
            SELECT g.group_id, g.name,
                count(a.item_id) AS total,
                count(a.item_id) FILTER (WHERE a.done_on IS NULL) AS open,
                count(a.item_id) FILTER (WHERE a.done_on IS NULL AND a.deadline < %s)
                    AS overdue,
                count(a.item_id) FILTER (WHERE a.done_on IS NOT NULL) AS done,
                CASE WHEN count(a.item_id) = 0 THEN NULL
                     ELSE round(100.0 * count(a.item_id) FILTER (WHERE a.done_on IS NOT NULL)
                                / count(a.item_id), 1) END AS completion_rate
            FROM wg_groups g LEFT JOIN wg_action_items a ON a.group_id = g.group_id
            WHERE %s::text IS NULL OR g.municipality = %s
            GROUP BY g.group_id, g.name ORDER BY g.name, g.group_id
            """,
            (today, municipality, municipality),
        )

    # -- plumbing ---------------------------------------------------------------------

    def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(query, params)
            return [dict(r) for r in curs.fetchall()]

    def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        rows = self._all(query, params)
        return rows[0] if rows else None

    def _page(
        self,
        select: sql.Composed,
        order: sql.SQL,
        params: list[Any],
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.SQL("SELECT count(*) AS n FROM ({}) q").format(select), params)
            total = curs.fetchone()
            curs.execute(select + order + sql.SQL(" LIMIT %s OFFSET %s"), [*params, limit, offset])
            rows = [dict(r) for r in curs.fetchall()]
        return rows, 0 if total is None else int(total["n"])


def _in_municipality(municipality: str) -> tuple[str, tuple[Any, ...]]:
    """Rows of groups of one municipality (decisions and action items carry the group)."""
    return ("group_id IN (SELECT group_id FROM wg_groups WHERE municipality = %s)", (municipality,))


def _where(conditions: list[tuple[str, tuple[Any, ...]]]) -> tuple[sql.Composable, list[Any]]:
    """AND of constant predicates, with their parameters in order."""
    if not conditions:
        return sql.SQL(""), []
    parts = [sql.SQL(c) for c, _ in conditions]
    params = [v for _, values in conditions for v in values]
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params
