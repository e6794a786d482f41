#!/usr/bin/env bash
# One interagency working group from its establishment to a signed protocol, and the
# project gate that the protocol's decision authorises. Then the decisions register, the
# roster, the meetings, the overdue action items and the completion rate.
# This is the session of docs/working-groups-guide.md, step by step.
#
#   CHAIR_TOKEN=iat_... SECRETARY_TOKEN=iat_... BASE=http://127.0.0.1:8000 \
#     docs/examples/meeting.sh
#
# Every request carries an official's bearer token (Authorization: Bearer ...). Officials
# write only in their own municipality, and only where their agency takes part; the project
# and the group here are in "Северный муниципальный район". So the script needs two
# officials of it:
#
#   CHAIR_TOKEN      an education official. `interagency demo` prints one (its "official"
#                    line), or register one yourself:
#                      interagency principals add --name "Иванова М. П." --role official \
#                        --agency education --municipality "Северный муниципальный район"
#   SECRETARY_TOKEN  a culture official:
#                      interagency principals add --name "Петров А. И." --role official \
#                        --agency culture --municipality "Северный муниципальный район"
#
# `principals add` prints the new principal's token once, on its "token" line (iat_...):
# keep it, it cannot be shown again. Run it from the repository root (or use
# .venv/bin/interagency) with the same settings as the server, while the server runs.
#
# Needs bash, curl 7.76+ (for --fail-with-body) and python3 (to read JSON answers).
# Every run creates a new project and a new group, so it can be run again on the same server.
set -euo pipefail

BASE=${BASE:-http://127.0.0.1:8000}
API="$BASE/api/v1"

# need_token NAME HOW: stops the script, saying how to get the token, if $NAME is unset.
need_token() {
  if [ -z "${!1:-}" ]; then
    printf '%s is not set: the bearer token of %s.\nSee the head of %s for how to get it.\n' \
      "$1" "$2" "$0" >&2
    exit 2
  fi
}
need_token CHAIR_TOKEN 'an education official of "Северный муниципальный район"'
need_token SECRETARY_TOKEN 'a culture official of "Северный муниципальный район"'

# Who acts. The API records the principal of each token on every event it writes. Ivanova
# (education) chairs the group; Petrov (culture) is its secretary and keeps the protocol.
# An official writes to the group when their agency convenes it (the agency of whoever
# establishes it: education here) or has a member in it: so the secretary writes to it only
# once the culture members are appointed (step 4).
# Reads are made as the chair: officials read their own municipality.
CHAIR=(-H "Authorization: Bearer $CHAIR_TOKEN")
SECRETARY=(-H "Authorization: Bearer $SECRETARY_TOKEN")

# post PATH JSON [curl options...]: one write; prints the answer; fails on an error status.
post() {
  local path=$1 body=$2
  shift 2
  curl -sS --fail-with-body -X POST "$API$path" -H 'Content-Type: application/json' "$@" \
    --data "$body"
}

# get PATH [curl options...]: one read; prints the answer; fails on an error status.
get() {
  local path=$1
  shift
  curl -sS --fail-with-body "$API$path" "$@"
}

# field NAME: one top-level field of the JSON answer on stdin.
field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# pretty: the JSON answer on stdin, indented.
pretty() {
  python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin), ensure_ascii=False, indent=2))'
}

# refused STATUS COMMAND...: runs a request that must be refused with STATUS and prints the
# problem+json body, indented; fails (which stops the script) if the answer was anything else.
refused() {
  local expected=$1 out status
  shift
  if out=$("$@" 2>/dev/null); then
    echo "expected HTTP $expected, but the request succeeded: $out" >&2
    return 1
  fi
  pretty <<<"$out" 2>/dev/null || echo "$out"
  status=$(field status <<<"$out" 2>/dev/null || true)
  if [ "$status" != "$expected" ]; then
    echo "expected HTTP $expected, got: ${status:-no answer from $BASE}" >&2
    return 1
  fi
}

step() { printf '\n== %s\n' "$*"; }

step "0. The service is up, and both projections are caught up"
curl -sS --fail-with-body "$BASE/ready"
echo

step "1. A project whose stage 1 the group will close: one mandatory deliverable, approved"
R=$(post /projects '{
  "title": "Инженерные каникулы",
  "goal": "Raise coverage of technical programs for children aged 10-14",
  "municipality": "Северный муниципальный район",
  "lead_agency": "education",
  "agencies": ["education", "culture", "sport"]}' "${CHAIR[@]}")
echo "$R"
PROJECT=$(field id <<<"$R")
R=$(post "/projects/$PROJECT/deliverables" '{
  "stage": "social_ties_program",
  "title": "Программа расширения социальных связей учреждений",
  "mechanism": "strategic_priorities"}' "${CHAIR[@]}")
DELIVERABLE=$(field deliverable_id <<<"$R")
post "/projects/$PROJECT/deliverables/$DELIVERABLE/submit" '{"document_ref": "ДК-2026/014"}' \
  "${SECRETARY[@]}" >/dev/null
post "/projects/$PROJECT/deliverables/$DELIVERABLE/approve" '{}' "${CHAIR[@]}"
echo

step "2. Establish an interagency group for the municipality (default quorum and majority)"
R=$(post /working-groups '{
  "kind": "interagency",
  "name": "Межведомственная рабочая группа по дополнительному образованию детей",
  "basis_act": "Постановление администрации № 215 от 30.10.2026",
  "municipality": "Северный муниципальный район",
  "quorum": {"numerator": 1, "denominator": 2, "strict": true},
  "majority_rule": "simple"}' "${CHAIR[@]}")
echo "$R"
GROUP=$(field id <<<"$R")

# appoint PERSON ORGANIZATION AGENCY POSITION [VOTING]: prints the answer, sets MEMBER.
appoint() {
  local r
  r=$(post "/working-groups/$GROUP/members" "{
    \"person\": \"$1\", \"organization\": \"$2\", \"agency\": \"$3\",
    \"position\": \"$4\", \"voting\": ${5:-true}, \"appointed_on\": \"2026-11-02\"}" \
    "${CHAIR[@]}")
  echo "$r"
  MEMBER=$(field created_id <<<"$r")
}

step "3. Appoint the chair; a meeting is refused while only one agency is represented (409)"
appoint "Иванова Мария Петровна" "Управление образования" education chair
IVANOVA=$MEMBER
refused 409 post "/working-groups/$GROUP/meetings" \
  '{"held_on": "2026-11-18", "agenda": ["Итоги этапа 1"]}' "${CHAIR[@]}"

step "4. Appoint the secretary and members from culture, sport and health"
appoint "Петров Алексей Иванович" "Управление культуры" culture secretary
PETROV=$MEMBER
appoint "Сидоров Илья Сергеевич" "Комитет по физической культуре и спорту" sport member
SIDOROV=$MEMBER
appoint "Кузнецова Ольга Николаевна" "МБОУ СОШ № 5" education member
KUZNETSOVA=$MEMBER
appoint "Смирнова Анна Викторовна" "МБУК «Районный дом культуры»" culture member
appoint "Орлова Елена Павловна" "Детская поликлиника" health member false
ORLOVA=$MEMBER

step "5. Schedule a meeting with its agenda"
R=$(post "/working-groups/$GROUP/meetings" '{
  "held_on": "2026-11-18",
  "agenda": [
    "Итоги этапа 1: программа расширения социальных связей",
    "План работы группы на первый квартал"]}' "${SECRETARY[@]}")
echo "$R"
MEETING=$(field created_id <<<"$R")

step "6. Attendance: the chair, the secretary and the non-voting member are present"
post "/working-groups/$GROUP/meetings/$MEETING/attendance" \
  "{\"present\": [\"$IVANOVA\", \"$PETROV\", \"$ORLOVA\"]}" "${SECRETARY[@]}"
echo

MOTION_1="Признать этап 1 проекта «Инженерные каникулы» выполненным и перейти к этапу 2"

step "7. A vote without quorum is refused (409): 2 of 5 voting members present, 3 needed"
refused 409 post "/working-groups/$GROUP/meetings/$MEETING/motions" "{
  \"agenda_item\": \"1\", \"text\": \"$MOTION_1\",
  \"votes\": {\"$IVANOVA\": \"for\", \"$PETROV\": \"for\"}}" "${SECRETARY[@]}"

step "8. Two more members arrive: attendance recorded again, and the vote has its quorum"
post "/working-groups/$GROUP/meetings/$MEETING/attendance" "{\"present\": [
  \"$IVANOVA\", \"$PETROV\", \"$SIDOROV\", \"$KUZNETSOVA\", \"$ORLOVA\"]}" "${SECRETARY[@]}"
echo
R=$(post "/working-groups/$GROUP/meetings/$MEETING/motions" "{
  \"agenda_item\": \"1\", \"text\": \"$MOTION_1\",
  \"votes\": {\"$IVANOVA\": \"for\", \"$PETROV\": \"for\",
             \"$SIDOROV\": \"for\", \"$KUZNETSOVA\": \"abstain\"}}" "${SECRETARY[@]}")
pretty <<<"$R"
MOTION=$(field motion_id <<<"$R")
[ "$(field adopted <<<"$R")" = True ]

step "9. Record the protocol's decision, naming what it authorises: the gate of stage 1"
R=$(post "/working-groups/$GROUP/meetings/$MEETING/decisions" "{
  \"protocol_number\": \"МРГ-1/2026\",
  \"text\": \"Этап 1 проекта «Инженерные каникулы» признать выполненным; перейти к этапу 2\",
  \"motion_id\": \"$MOTION\",
  \"mechanism\": \"working_groups\",
  \"targets\": [{\"kind\": \"project_gate\", \"project_id\": \"$PROJECT\",
                 \"stage\": \"social_ties_program\"}]}" "${SECRETARY[@]}")
echo "$R"
DECISION=$(field created_id <<<"$R")

step "10. The gate cannot cite the decision yet: its protocol is not signed (409)"
refused 409 post "/projects/$PROJECT/gate/pass" \
  "{\"reason\": \"Этап 1 выполнен\", \"decision_id\": \"$DECISION\"}" "${CHAIR[@]}"

step "11. Assign two action items under the decision"
R=$(post "/working-groups/$GROUP/action-items" "{
  \"description\": \"Подготовить проект положения о сетевой форме реализации программ\",
  \"owner\": \"Кузнецова О. Н.\", \"deadline\": \"2026-11-30\",
  \"decision_id\": \"$DECISION\"}" "${SECRETARY[@]}")
echo "$R"
DRAFT_ITEM=$(field created_id <<<"$R")
R=$(post "/working-groups/$GROUP/action-items" "{
  \"description\": \"Согласовать расписание секций с комитетом по спорту\",
  \"owner\": \"Сидоров И. С.\", \"deadline\": \"2026-11-20\",
  \"decision_id\": \"$DECISION\"}" "${SECRETARY[@]}")
echo "$R"

step "12. Sign the protocol; from now on this meeting's record never changes"
post "/working-groups/$GROUP/meetings/$MEETING/sign" '{"protocol_number": "МРГ-1/2026"}' \
  "${CHAIR[@]}"
echo
get "/working-groups/$GROUP" "${CHAIR[@]}" | python3 -c '
import json, sys
group = json.load(sys.stdin)
names = {m["id"]: m["person"] for m in group["members"]}
meeting = next(m for m in group["meetings"] if m["id"] == sys.argv[1])
print("protocol No.", meeting["protocol_number"], "signed at", meeting["signed_at"])
print("signed by:", ", ".join(names[s] for s in meeting["signed_by"]))' "$MEETING"
refused 409 post "/working-groups/$GROUP/meetings/$MEETING/motions" "{
  \"agenda_item\": \"2\", \"text\": \"Утвердить план работы группы на первый квартал\",
  \"votes\": {\"$IVANOVA\": \"for\", \"$PETROV\": \"for\",
             \"$SIDOROV\": \"for\", \"$KUZNETSOVA\": \"for\"}}" "${SECRETARY[@]}"

step "13. Pass the project's gate, citing the decision"
R=$(post "/projects/$PROJECT/gate/pass" \
  "{\"reason\": \"Этап 1 выполнен\", \"decision_id\": \"$DECISION\"}" "${CHAIR[@]}")
echo "$R"
get "/projects/$PROJECT/history" "${CHAIR[@]}" | python3 -c '
import json, sys
gate = next(e for e in json.load(sys.stdin)["events"] if e["type"] == "StageGatePassed")
print(json.dumps({k: gate[k] for k in ("type", "version", "reason", "decision_ref", "data")},
                 ensure_ascii=False, indent=2))'

step "14. One action item is done; the other is not"
R=$(post "/working-groups/$GROUP/action-items/$DRAFT_ITEM/complete" '{"done_on": "2026-11-20"}' \
  "${SECRETARY[@]}")
echo "$R"
POSITION=$(field position <<<"$R")

step "15. The decisions register: the group's decisions, each with its vote"
get "/decisions?group_id=$GROUP&min_position=$POSITION" "${CHAIR[@]}" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["items"]:
    d.pop("recorded_at")
    print(json.dumps(d, ensure_ascii=False, indent=2))'

step "16. The roster: current members by agency and position"
get "/working-groups/$GROUP/roster?min_position=$POSITION" "${CHAIR[@]}" | python3 -c '
import json, sys
r = json.load(sys.stdin)
for m in r["members"]:
    print("%s…  %-10s %-10s %-6s %s"
          % (m["id"][:8], m["agency"], m["position"], m["voting"], m["person"]))
print("by agency:", r["by_agency"])
print("by position:", r["by_position"])'

step "17. Meetings: attendance rate and quorum"
get "/working-groups/$GROUP/meetings?min_position=$POSITION" "${CHAIR[@]}" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["meetings"]:
    m.pop("agenda")
    print(json.dumps(m, ensure_ascii=False, indent=2))'

step "18. Overdue action items on 2026-11-23, and the group's completion rate"
get "/action-items?group_id=$GROUP&status=overdue&today=2026-11-23&min_position=$POSITION" \
  "${CHAIR[@]}" |
  python3 -c '
import json, sys
r = json.load(sys.stdin)
print("overdue:", r["total"])
for a in r["items"]:
    print(a["deadline"], a["owner"], "-", a["description"])'
get "/action-items/stats?today=2026-11-23&min_position=$POSITION" "${CHAIR[@]}" | python3 -c '
import json, sys
group = sys.argv[1]
for g in json.load(sys.stdin)["groups"]:
    if g["group_id"] == group:
        print(json.dumps(g, ensure_ascii=False, indent=2))' "$GROUP"
