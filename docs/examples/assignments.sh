#!/usr/bin/env bash
# Municipal assignments for three institutions of two founders: drafted, approved, reported
# (a deviation beyond tolerance needs its reason), amended, and volume redistributed between
# them, within one founder and across founders. Then the execution dashboard (subsidy at
# risk), the register and the redistribution log.
# This is the session of docs/assignments-guide.md, step by step.
#
#   EDUCATION_TOKEN=iat_... CULTURE_TOKEN=iat_... BASE=http://127.0.0.1:8000 \
#     docs/examples/assignments.sh
#
# Every request carries an official's bearer token (Authorization: Bearer ...). Officials
# write only in their own municipality, and only where their agency takes part (for an
# assignment or an organisation: its agency); the institutions here are in "Северный
# муниципальный район". So the script needs officials of it:
#
#   EDUCATION_TOKEN    an education official. `interagency demo` prints one (its "official"
#                      line), or register one yourself:
#                        interagency principals add --name "Иванова М. П." --role official \
#                          --agency education --municipality "Северный муниципальный район"
#   CULTURE_TOKEN      a culture official:
#                        interagency principals add --name "Петров А. И." --role official \
#                          --agency culture --municipality "Северный муниципальный район"
#   INSTITUTION_TOKEN  optional: another education official, who sends the institution's
#                      report (without it, the EDUCATION_TOKEN official sends it):
#                        interagency principals add --name "Сидорова Е. В." --role official \
#                          --agency education --municipality "Северный муниципальный район"
#
# `principals add` prints the new principal's token once, on its "token" line (iat_...):
# keep it, it cannot be shown again. Run it from the repository root (or use
# .venv/bin/interagency) with the same settings as the server, while the server runs.
#
# Needs bash, curl 7.76+ (for --fail-with-body) and python3 (to read JSON answers and to make
# INNs). Every run registers three organisations with new INNs and drafts three new
# assignments, so it can be run again on the same server. The lists it reads are then longer:
# the dashboard's total includes the earlier runs' lines (and the demo's, if it was seeded).
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
need_token EDUCATION_TOKEN 'an education official of "Северный муниципальный район"'
need_token CULTURE_TOKEN 'a culture official of "Северный муниципальный район"'

# Who acts. The API records the principal of each token on every event it writes. Ivanova
# works for the education founder, Petrov for the culture founder; Sidorova is the deputy
# director of an education institution and reports for it. Reads are made as Ivanova:
# officials read their own municipality.
EDUCATION=(-H "Authorization: Bearer $EDUCATION_TOKEN")
CULTURE=(-H "Authorization: Bearer $CULTURE_TOKEN")
INSTITUTION=(-H "Authorization: Bearer ${INSTITUTION_TOKEN:-$EDUCATION_TOKEN}")

MUNICIPALITY="Северный муниципальный район"
SERVICE="804200О.99.0.ББ52АЖ48000"

# INNs of legal entities: region 38, seven random digits, and the check digit (the weights
# of the Federal Tax Service, as in domain/organization.py). One per line.
inns() {
  python3 -c 'import random, sys
weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
for _ in range(int(sys.argv[1])):
    nine = "38" + "".join(random.choice("0123456789") for _ in range(7))
    print(nine + str(sum(w * int(d) for w, d in zip(weights, nine)) % 11 % 10))' "$1"
}
read -r -d '' INN_CDT INN_SYUT INN_CKR < <(inns 3) || true

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

# register NAME INN KIND AGENCY FOUNDER ADDRESS [ACTOR...]: registers an organisation of the
# municipality in the network register; prints the answer, sets ORGANIZATION.
register() {
  local r
  r=$(post /organizations "{
    \"name\": \"$1\", \"inn\": \"$2\", \"kind\": \"$3\", \"agency\": \"$4\",
    \"founder\": \"$5\", \"municipality\": \"$MUNICIPALITY\", \"address\": \"$6\"}" \
    "${@:7}")
  echo "$r"
  ORGANIZATION=$(field id <<<"$r")
}

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

step "1. Register the three institutions in the network register; each founder its own"
register "МБУ ДО «Центр детского творчества»" "$INN_CDT" additional_education education \
  "Управление образования" "г. Северск, ул. Ленина, 14" "${EDUCATION[@]}"
CDT_ORG=$ORGANIZATION
register "МБУ ДО «Станция юных техников»" "$INN_SYUT" additional_education education \
  "Управление образования" "г. Северск, ул. Заводская, 3" "${EDUCATION[@]}"
SYUT_ORG=$ORGANIZATION
register "МБУК «Центр культурного развития»" "$INN_CKR" culture culture \
  "Управление культуры" "г. Северск, пр. Мира, 27" "${CULTURE[@]}"
CKR_ORG=$ORGANIZATION

step "1a. Draft three assignments for 2027: two of the education founder, one of culture"
draft "МБУ ДО «Центр детского творчества»" education "Управление образования" "$CDT_ORG" \
  '{"2027": "12000", "2028": "12500", "2029": "13000"}' 5 148.60 "${EDUCATION[@]}"
CDT=$ASSIGNMENT
draft "МБУ ДО «Станция юных техников»" education "Управление образования" "$SYUT_ORG" \
  '{"2027": "8000", "2028": "8200"}' 5 152.40 "${EDUCATION[@]}"
SYUT=$ASSIGNMENT
draft "МБУК «Центр культурного развития»" culture "Управление культуры" "$CKR_ORG" \
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
get "/assignments/$CDT" "${EDUCATION[@]}" | python3 -c '
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
get "/assignments/$CDT" "${EDUCATION[@]}" | python3 -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["reports"], ensure_ascii=False, indent=2))'

step "6. The execution dashboard: services beyond tolerance and the subsidy at risk"
get "/assignments/outside-tolerance?fiscal_year=2027&min_position=$POSITION" "${EDUCATION[@]}" |
  pretty

step "7. Amend the plan: the founder lowers 2027 by the 600 person-hours lost to quarantine"
post "/assignments/$CDT/amend" '{
  "changes": [{"line_id": "1", "year": 2027, "planned": "11400"}],
  "reason": "Снижение объёма из-за карантина в феврале 2027 года",
  "basis_document": "Приказ Управления образования № 61 от 15.07.2027"}' "${EDUCATION[@]}"
echo
get "/assignments/$CDT/history" "${EDUCATION[@]}" | python3 -c '
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
get "/assignments?fiscal_year=2027&min_position=$POSITION" "${EDUCATION[@]}" -G \
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
get "/redistributions?min_position=$POSITION" "${EDUCATION[@]}" | python3 -c '
import json, sys
ours = set(sys.argv[1:])
for r in json.load(sys.stdin)["items"]:
    if r["redistribution_id"] in ours:
        r.pop("recorded_at")
        print(json.dumps(r, ensure_ascii=False, indent=2))' "$FIRST" "$SECOND"
