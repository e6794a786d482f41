#!/usr/bin/env bash
# Municipal assignments for three institutions of two founders: drafted, approved, reported
# (a deviation beyond tolerance needs its reason), amended, and volume redistributed between
# them, within one founder and across founders. Then the execution dashboard (subsidy at
# risk), the register and the redistribution log.
# This is the session of docs/assignments-guide.md, step by step.
#
#   BASE=http://127.0.0.1:8000 docs/examples/assignments.sh
#
# Needs bash, curl 7.76+ (for --fail-with-body) and python3 (to read JSON answers).
# Every run drafts three new assignments, so it can be run again on the same server. The
# lists it reads are then longer: the dashboard's total includes the earlier runs' lines.
set -euo pipefail

BASE=${BASE:-http://127.0.0.1:8000}
API="$BASE/api/v1"

# Who acts. Until access control exists, the API takes the actor from these headers and
# records it on every event. Ivanova works for the education founder, Petrov for the culture
# founder; Sidorova is the deputy director of an education institution and reports for it.
EDUCATION=(-H 'X-Actor-Id: ivanova' -H 'X-Actor-Role: official' -H 'X-Actor-Agency: education')
CULTURE=(-H 'X-Actor-Id: petrov' -H 'X-Actor-Role: official' -H 'X-Actor-Agency: culture')
INSTITUTION=(-H 'X-Actor-Id: sidorova' -H 'X-Actor-Role: official' -H 'X-Actor-Agency: education')

MUNICIPALITY="Северный муниципальный район"
SERVICE="804200О.99.0.ББ52АЖ48000"

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

# draft INSTITUTION AGENCY FOUNDER ORGANIZATION_ID PLANNED ALLOWED COST [ACTOR...]: drafts
# an assignment for 2027 with one service line; prints the answer, sets ASSIGNMENT.
draft() {
  local r
  r=$(post /assignments "{
    \"organization_id\": \"$4\",
    \"institution\": \"$1\",
    \"agency\": \"$2\",
    \"founder\": \"$3\",
    \"municipality\": \"$MUNICIPALITY\",
    \"fiscal_year\": 2027,
    \"lines\": [{
      \"line_id\": \"1\",
      \"registry_number\": \"$SERVICE\",
      \"service_name\": \"Реализация дополнительных общеразвивающих программ\",
      \"direction\": \"technical\",
      \"unit\": \"person_hours\",
      \"planned\": $5,
      \"allowed_deviation_pct\": \"$6\",
      \"normative_cost\": \"$7\"}]}" "${@:8}")
  echo "$r"
  ASSIGNMENT=$(field id <<<"$r")
}

step "0. The service is up, and the projections are caught up"
curl -sS --fail-with-body "$BASE/ready"
echo

step "1. Draft three assignments for 2027: two of the education founder, one of culture"
draft "МБУ ДО «Центр детского творчества»" education "Управление образования" 3801000001 \
  '{"2027": "12000", "2028": "12500", "2029": "13000"}' 5 148.60 "${EDUCATION[@]}"
CDT=$ASSIGNMENT
draft "МБУ ДО «Станция юных техников»" education "Управление образования" 3801000002 \
  '{"2027": "8000", "2028": "8200"}' 5 152.40 "${EDUCATION[@]}"
SYUT=$ASSIGNMENT
draft "МБУК «Центр культурного развития»" culture "Управление культуры" 3801000003 \
  '{"2027": "6000"}' 10 139.80 "${CULTURE[@]}"
CKR=$ASSIGNMENT

step "2. Approve each assignment on its founder's order"
post "/assignments/$CDT/approve" \
  '{"basis_document": "Приказ Управления образования № 112 от 28.12.2026"}' "${EDUCATION[@]}"
echo
post "/assignments/$SYUT/approve" \
  '{"basis_document": "Приказ Управления образования № 112 от 28.12.2026"}' "${EDUCATION[@]}"
echo
post "/assignments/$CKR/approve" \
  '{"basis_document": "Приказ Управления культуры № 58 от 27.12.2026"}' "${CULTURE[@]}"
echo
get "/assignments/$CDT" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print(a["institution"], "-", a["status"], "- version", a["version"])
for line in a["lines"]:
    print(json.dumps({k: line[k] for k in ("line_id", "planned", "subsidy")}, ensure_ascii=False))'

step "3. The first half-year: 5100 person-hours of 6000 due is -15%, beyond 5% (409)"
refused 409 post "/assignments/$CDT/reports" '{"period": "h1", "actual": {"1": "5100"}}' \
  "${INSTITUTION[@]}"

step "4. The same report with its reason; the other two institutions are within tolerance"
R=$(post "/assignments/$CDT/reports" '{
  "period": "h1",
  "actual": {"1": "5100"},
  "reasons": {"1": "Карантин по гриппу с 6 по 26 февраля: занятия объединений приостановлены"}}' \
  "${INSTITUTION[@]}")
echo "$R"
REPORT=$(field created_id <<<"$R")
post "/assignments/$SYUT/reports" '{"period": "h1", "actual": {"1": "4150"}}' "${EDUCATION[@]}"
echo
post "/assignments/$CKR/reports" '{"period": "h1", "actual": {"1": "2950"}}' "${CULTURE[@]}"
echo

step "5. The founder accepts the report"
R=$(post "/assignments/$CDT/reports/$REPORT/accept" '{}' "${EDUCATION[@]}")
echo "$R"
POSITION=$(field position <<<"$R")
get "/assignments/$CDT" | python3 -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["reports"], ensure_ascii=False, indent=2))'

step "6. The execution dashboard: services beyond tolerance and the subsidy at risk"
get "/assignments/outside-tolerance?fiscal_year=2027&min_position=$POSITION" | pretty

step "7. Amend the plan: the founder lowers 2027 by the 600 person-hours lost to quarantine"
post "/assignments/$CDT/amend" '{
  "changes": [{"line_id": "1", "year": 2027, "planned": "11400"}],
  "reason": "Снижение объёма из-за карантина в феврале 2027 года",
  "basis_document": "Приказ Управления образования № 61 от 15.07.2027"}' "${EDUCATION[@]}"
echo
get "/assignments/$CDT/history" | python3 -c '
import json, sys
e = json.load(sys.stdin)["events"][-1]
print(json.dumps({k: e[k] for k in ("type", "version", "reason", "basis_document", "data")},
                 ensure_ascii=False, indent=2))'

step "8. Redistribute within one founder: 600 person-hours from the ЦДТ to the СЮТ"
R=$(post /redistributions "{
  \"registry_number\": \"$SERVICE\", \"unit\": \"person_hours\", \"year\": 2027,
  \"legs\": [{\"assignment_id\": \"$CDT\", \"delta\": \"-600\"},
             {\"assignment_id\": \"$SYUT\", \"delta\": \"600\"}],
  \"reason\": \"Станция юных техников перевыполняет план; очередь на робототехнику\"}" \
  "${EDUCATION[@]}")
echo "$R"
FIRST=$(field id <<<"$R")

step "9. Across founders, without the budget basis: refused (409)"
# CROSS: the body without its closing brace; step 10 adds the budget basis before it.
CROSS="{
  \"registry_number\": \"$SERVICE\", \"unit\": \"person_hours\", \"year\": 2027,
  \"legs\": [{\"assignment_id\": \"$CKR\", \"delta\": \"-400\"},
             {\"assignment_id\": \"$SYUT\", \"delta\": \"400\"}],
  \"reason\": \"Кружок робототехники переходит из ЦКР на Станцию юных техников\""
refused 409 post /redistributions "$CROSS}" "${EDUCATION[@]}"

step "10. Across founders, with the budget basis: accepted"
R=$(post /redistributions "$CROSS,
  \"budget_basis\": \"Постановление администрации № 812 от 20.08.2027 о перераспределении бюджетных ассигнований\"}" \
  "${EDUCATION[@]}")
echo "$R"
SECOND=$(field id <<<"$R")
POSITION=$(field position <<<"$R")

step "11. Legs that do not balance are refused (409): 350 would enter, 300 leave"
refused 409 post /redistributions "{
  \"registry_number\": \"$SERVICE\", \"unit\": \"person_hours\", \"year\": 2027,
  \"legs\": [{\"assignment_id\": \"$CDT\", \"delta\": \"-300\"},
             {\"assignment_id\": \"$SYUT\", \"delta\": \"350\"}]}" "${EDUCATION[@]}"

step "12. The register: planned at first and now, the last report, the subsidy"
get "/assignments?fiscal_year=2027&min_position=$POSITION" -G \
  --data-urlencode "municipality=$MUNICIPALITY" | python3 -c '
import json, sys
ours = set(sys.argv[1:])
print("%-34s %-8s %-7s %-7s %-7s %-7s %-7s %s" % (
    "institution", "status", "initial", "planned", "period", "due", "actual", "deviation %"))
for r in json.load(sys.stdin)["items"]:
    if r["assignment_id"] in ours:
        print("%-34s %-8s %-7s %-7s %-7s %-7s %-7s %s" % (
            r["institution"], r["status"], r["planned_initial"], r["planned"],
            r["report_period"], r["planned_due"], r["actual"], r["deviation_pct"]))
        print("%34s subsidy now %s roubles; planned for 2028: %s" % (
            "", r["subsidy"], r["planned_next"] or "-"))
' "$CDT" "$SYUT" "$CKR"

step "13. The redistribution log: from and to, volume, subsidy effect, basis"
get "/redistributions?min_position=$POSITION" | python3 -c '
import json, sys
ours = set(sys.argv[1:])
for r in json.load(sys.stdin)["items"]:
    if r["redistribution_id"] in ours:
        r.pop("recorded_at")
        print(json.dumps(r, ensure_ascii=False, indent=2))' "$FIRST" "$SECOND"
