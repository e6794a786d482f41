#!/usr/bin/env bash
# One interagency project from initiation through the four stages to completion, then a
# second project that is suspended, resumed and cancelled, then the common errors.
# This is the session of docs/api-guide.md, step by step.
#
#   LEAD_TOKEN=iat_... PARTNER_TOKEN=iat_... BASE=http://127.0.0.1:8000 \
#     docs/examples/lifecycle.sh
#
# Every request carries an official's bearer token (Authorization: Bearer ...). Officials
# write only in their own municipality, and only where their agency takes part; the projects
# here are in "Северный муниципальный район". So the script needs two officials of it:
#
#   LEAD_TOKEN     an education official. `interagency demo` prints one (its "official"
#                  line), or register one yourself:
#                    interagency principals add --name "Иванова М. П." --role official \
#                      --agency education --municipality "Северный муниципальный район"
#   PARTNER_TOKEN  a culture official:
#                    interagency principals add --name "Петров А. И." --role official \
#                      --agency culture --municipality "Северный муниципальный район"
#
# `principals add` prints the new principal's token once, on its "token" line (iat_...):
# keep it, it cannot be shown again. Run it from the repository root (or use
# .venv/bin/interagency) with the same settings as the server, while the server runs.
#
# Needs bash, curl 7.76+ (for --fail-with-body) and python3 (to read JSON answers).
# Every run creates new projects, so it can be run again on the same server.
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
need_token LEAD_TOKEN 'an education official of "Северный муниципальный район"'
need_token PARTNER_TOKEN 'a culture official of "Северный муниципальный район"'

# Who acts. The API records the principal of each token on every event it writes. Ivanova
# (education) leads; Petrov (culture) is the partner. Reads are made as the lead: officials
# read their own municipality.
LEAD=(-H "Authorization: Bearer $LEAD_TOKEN")
PARTNER=(-H "Authorization: Bearer $PARTNER_TOKEN")

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

# refused STATUS COMMAND...: runs a request that must be refused with STATUS and prints the
# problem+json body; fails (which stops the script) if the answer was anything else.
refused() {
  local expected=$1 out status
  shift
  if out=$("$@" 2>/dev/null); then
    echo "expected HTTP $expected, but the request succeeded: $out" >&2
    return 1
  fi
  echo "$out"
  status=$(field status <<<"$out" 2>/dev/null || true)
  if [ "$status" != "$expected" ]; then
    echo "expected HTTP $expected, got: ${status:-no answer from $BASE}" >&2
    return 1
  fi
}

step() { printf '\n== %s\n' "$*"; }

RUN=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')

step "0. The service is up, and its projection is caught up"
curl -sS --fail-with-body "$BASE/ready"
echo

step "1. Initiate the project (stage 1 becomes active); an Idempotency-Key makes a retry safe"
INIT='{
  "title": "Инженерные каникулы",
  "goal": "Raise coverage of technical programs for children aged 10-14",
  "municipality": "Северный муниципальный район",
  "lead_agency": "education",
  "agencies": ["education", "culture", "sport"],
  "organizations": [
    {"name": "МБОУ СОШ № 5", "kind": "general_education", "agency": "education"},
    {"name": "МБУК «Районный дом культуры»", "kind": "culture", "agency": "culture"}
  ],
  "strategic_priorities": ["техническое творчество"],
  "targets": [
    {"dimension": "coverage", "name": "охват детей 5-17 лет", "target_value": 80,
     "unit": "%", "baseline": 71.5}
  ]
}'
R=$(post /projects "$INIT" "${LEAD[@]}" -H "Idempotency-Key: initiate-$RUN" \
  -H "X-Request-ID: lifecycle-$RUN-initiate")
echo "$R"
PROJECT=$(field id <<<"$R")

step "1a. The same request again with the same key: the same project, nothing new written"
R2=$(post /projects "$INIT" "${LEAD[@]}" -H "Idempotency-Key: initiate-$RUN")
echo "$R2"
[ "$(field id <<<"$R2")" = "$PROJECT" ]

step "2. Stage 1: plan two mandatory deliverables and one optional one"
R=$(post "/projects/$PROJECT/deliverables" '{
  "stage": "social_ties_program",
  "title": "Программа расширения социальных связей учреждений",
  "mechanism": "strategic_priorities", "mandatory": true, "due_date": "2027-03-01"}' \
  "${LEAD[@]}")
echo "$R"
PROGRAM=$(field deliverable_id <<<"$R")
R=$(post "/projects/$PROJECT/deliverables" '{
  "stage": "social_ties_program",
  "title": "Анализ образовательной политики региона",
  "mechanism": "monitoring", "mandatory": true, "due_date": "2027-03-15"}' \
  "${LEAD[@]}")
echo "$R"
ANALYSIS=$(field deliverable_id <<<"$R")
R=$(post "/projects/$PROJECT/deliverables" '{
  "stage": "social_ties_program",
  "title": "Опрос родителей о запросах на дополнительное образование",
  "mechanism": "consumer_information", "mandatory": false}' \
  "${LEAD[@]}")
echo "$R"

step "3. The partner submits the program; the lead rejects it with a reason"
post "/projects/$PROJECT/deliverables/$PROGRAM/submit" '{"document_ref": "ДК-2027/014"}' \
  "${PARTNER[@]}"
echo
post "/projects/$PROJECT/deliverables/$PROGRAM/reject" \
  '{"reason": "Не указан вклад отдела спорта"}' "${LEAD[@]}"
echo

step "4. The partner resubmits a corrected version; the lead approves it"
post "/projects/$PROJECT/deliverables/$PROGRAM/submit" '{"document_ref": "ДК-2027/014-2"}' \
  "${PARTNER[@]}"
echo
R=$(post "/projects/$PROJECT/deliverables/$PROGRAM/approve" \
  '{"reason": "Согласовано тремя ведомствами"}' "${LEAD[@]}")
echo "$R"
POSITION=$(field position <<<"$R")

step "5. The gate is refused: a mandatory deliverable is not approved yet (409)"
refused 409 post "/projects/$PROJECT/gate/pass" '{
  "reason": "Этап 1 выполнен",
  "decision_ref": "Протокол МРГ № 3, п. 2",
  "basis_document": "Распоряжение № 112 от 12.04.2027"}' "${LEAD[@]}"

step "6. Progress of stage 1, read from the projection once it has our last write"
get "/projects/$PROJECT/progress?min_position=$POSITION" "${LEAD[@]}" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["stages"]:
    print(s["number"], s["stage"], s["status"], s["percent_complete"],
          "mandatory %d/%d" % (s["mandatory_approved"], s["mandatory_total"]))'

step "7. Submit and approve the analysis; now the gate passes, with its decision and basis"
post "/projects/$PROJECT/deliverables/$ANALYSIS/submit" '{"document_ref": "АН-2027/02"}' \
  "${LEAD[@]}"
echo
R=$(post "/projects/$PROJECT/deliverables/$ANALYSIS/approve" '{}' "${PARTNER[@]}")
echo "$R"
VERSION=$(field version <<<"$R")
post "/projects/$PROJECT/gate/pass" '{
  "reason": "Этап 1 выполнен",
  "decision_ref": "Протокол МРГ № 3, п. 2",
  "basis_document": "Распоряжение № 112 от 12.04.2027"}' "${LEAD[@]}" -H "If-Match: \"$VERSION\""
echo

step "8. A write with a stale If-Match is refused (412): someone changed the project since"
refused 412 post "/projects/$PROJECT/deliverables" '{
  "stage": "interaction_mechanisms", "title": "Положение о рабочей группе",
  "mechanism": "working_groups"}' "${LEAD[@]}" -H "If-Match: \"$VERSION\""

# complete_stage STAGE TITLE MECHANISM PROTOCOL: plan, submit, approve one mandatory
# deliverable of the active stage, then pass its gate.
complete_stage() {
  local stage=$1 title=$2 mechanism=$3 protocol=$4 r deliverable
  r=$(post "/projects/$PROJECT/deliverables" \
    "{\"stage\": \"$stage\", \"title\": \"$title\", \"mechanism\": \"$mechanism\"}" "${LEAD[@]}")
  deliverable=$(field deliverable_id <<<"$r")
  post "/projects/$PROJECT/deliverables/$deliverable/submit" '{}' "${PARTNER[@]}" >/dev/null
  post "/projects/$PROJECT/deliverables/$deliverable/approve" '{}' "${LEAD[@]}" >/dev/null
  post "/projects/$PROJECT/gate/pass" \
    "{\"reason\": \"Этап выполнен\", \"decision_ref\": \"$protocol\"}" "${LEAD[@]}"
  echo
}

step "9. Stage 2: interaction mechanisms"
complete_stage interaction_mechanisms "Положение о межведомственной рабочей группе" \
  working_groups "Протокол МРГ № 5"

step "10. Stage 3: the working group first sends the gate back, then passes it"
post "/projects/$PROJECT/deliverables" '{
  "stage": "regulatory_base",
  "title": "Постановление о сетевой форме реализации программ",
  "mechanism": "regulation"}' "${LEAD[@]}" >/dev/null
post "/projects/$PROJECT/gate/reject" '{
  "reason": "Нет типового договора о сетевой форме",
  "decision_ref": "Протокол МРГ № 6"}' "${LEAD[@]}"
echo
R=$(get "/projects/$PROJECT" "${LEAD[@]}")
REGULATION=$(python3 -c '
import json, sys
project = json.load(sys.stdin)
stage = next(s for s in project["stages"] if s["code"] == "regulatory_base")
print(stage["deliverables"][0]["id"])' <<<"$R")
post "/projects/$PROJECT/deliverables/$REGULATION/submit" '{}' "${LEAD[@]}" >/dev/null
post "/projects/$PROJECT/deliverables/$REGULATION/approve" '{}' "${PARTNER[@]}" >/dev/null
complete_stage regulatory_base "Типовой договор о сетевой форме" regulation "Протокол МРГ № 7"

step "11. Stage 4: the last gate completes the project"
R=$(complete_stage interagency_projects "Паспорт межведомственного проекта" \
  strategic_priorities "Протокол МРГ № 9")
echo "$R"
POSITION=$(field position <<<"$R")

step "12. Progress: four stages completed, 100 % each"
get "/projects/$PROJECT/progress?min_position=$POSITION" "${LEAD[@]}" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print("project", p["status"], "at position", p["position"])
for s in p["stages"]:
    print(s["number"], s["stage"], s["status"], s["percent_complete"], s["gate_decision_ref"])'

step "13. History: every event, who did it, why, and which request"
HISTORY=$(get "/projects/$PROJECT/history" "${LEAD[@]}")
python3 -c '
import json, sys
events = json.load(sys.stdin)["events"]
gate = next(e for e in events if e["type"] == "StageGatePassed")
print(json.dumps(gate, ensure_ascii=False, indent=2))' <<<"$HISTORY"
# The actor's id is the principal's id (a UUID): shown here by its agency and first digits.
python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    why = e["reason"] or ""
    if e["decision_ref"]:
        why += " [" + e["decision_ref"] + "]"
    who = "%-9s %s…" % (e["actor"]["agency"], e["actor"]["id"][:8])
    print("%2d %-20s %-19s %s" % (e["version"], e["type"], who, why))' <<<"$HISTORY"

step "14. A second project: suspend, a refused command, resume, cancel"
R=$(post /projects '{
  "title": "Шахматный всеобуч",
  "goal": "Chess in every primary school with the sport school",
  "municipality": "Северный муниципальный район",
  "lead_agency": "sport",
  "agencies": ["sport", "education"]}' "${LEAD[@]}")
echo "$R"
SECOND=$(field id <<<"$R")
post "/projects/$SECOND/suspend" '{"reason": "Перераспределение бюджетных ассигнований"}' \
  "${LEAD[@]}"
echo
refused 409 post "/projects/$SECOND/deliverables" '{
  "stage": "social_ties_program", "title": "Программа", "mechanism": "strategic_priorities"}' \
  "${LEAD[@]}"
post "/projects/$SECOND/resume" '{"reason": "Ассигнования восстановлены"}' "${LEAD[@]}"
echo
R=$(post "/projects/$SECOND/cancel" \
  '{"reason": "Проект объединён с «Инженерными каникулами»"}' "${LEAD[@]}")
echo "$R"
get "/projects/$SECOND/progress?min_position=$(field position <<<"$R")" "${LEAD[@]}" |
  python3 -c '
import json, sys
p = json.load(sys.stdin)
print("project", p["status"])
for s in p["stages"]:
    print(s["number"], s["stage"], s["status"])'

step "15. Errors are problem+json: no or a bad token (401), an agency that takes no part (403),
   an unknown project (404), invalid input (422)"
refused 401 post "/projects/$PROJECT/suspend" '{"reason": "x"}'
refused 401 post "/projects/$PROJECT/suspend" '{"reason": "x"}' \
  -H 'Authorization: Bearer iat_not_a_token'
# The second project is of sport and education: the culture partner may not write to it.
refused 403 post "/projects/$SECOND/deliverables" '{
  "stage": "social_ties_program", "title": "Программа", "mechanism": "monitoring"}' \
  "${PARTNER[@]}"
refused 404 get "/projects/00000000-0000-0000-0000-000000000000" "${LEAD[@]}"
refused 422 post "/projects/$SECOND/deliverables" '{
  "stage": "stage_five", "title": "Отчёт", "mechanism": "monitoring"}' "${LEAD[@]}"

step "16. A read that asks for a position the projection has not reached: 503 after a short wait"
refused 503 get "/projects/$PROJECT/progress?min_position=999999999" "${LEAD[@]}"

step "17. The first project is completed"
STATUS=$(get "/projects/$PROJECT" "${LEAD[@]}" | field status)
echo "project $PROJECT is $STATUS"
[ "$STATUS" = completed ]
