#!/usr/bin/env bash
# The network register of one municipality: three organisations (a centre of additional
# education, a school and an enterprise) and their licences, a network program and two
# standalone ones, a network agreement refused activation twice (a missing clause, then an
# unlicensed teaching party), fixed, signed and put in force, the programs published and read
# in the public catalogue, children enrolled (one of them in two programs), the territories'
# population and the coverage, an amendment (version 2 of the terms), and a suspended licence
# found by the control of teaching parties.
# This is the session of docs/network-guide.md, step by step.
#
#   ADMIN_TOKEN=iat_... BASE=http://127.0.0.1:8000 docs/examples/network.sh
#
# Every request but the public catalogue's carries a bearer token (Authorization: Bearer
# ...). Officials write only in their own municipality, and only where their agency takes
# part. Each run works in a municipality of its own, named after the run, so the script
# registers its officials (and an analyst) of that municipality itself, as an admin, through
# the admin API (POST /api/v1/admin/principals). It needs an admin's token:
#
#   ADMIN_TOKEN  `interagency demo` prints one (its "admin" line), or register an admin:
#                  interagency principals add --name "Администратор" --role admin
#                `principals add` prints the token once, on its "token" line (iat_...): keep
#                it, it cannot be shown again. Run it from the repository root (or use
#                .venv/bin/interagency) with the same settings as the server.
#
# The principals a run registers stay in the register (`interagency principals list` shows
# them, labelled "docs/examples/network.sh <run>"); the script never prints their tokens.
#
# Needs bash, curl 7.76+ (for --fail-with-body) and python3 (to read JSON answers and to make
# INNs). Every run registers organisations with new INNs in a municipality named after the
# run, so it can be run again on the same server, and its catalogue, coverage and control
# read only its own rows.
set -euo pipefail

BASE=${BASE:-http://127.0.0.1:8000}
API="$BASE/api/v1"

if [ -z "${ADMIN_TOKEN:-}" ]; then
  printf '%s\n' "ADMIN_TOKEN is not set: the bearer token of an admin, who registers this" \
    "run's officials. See the head of $0 for how to get it." >&2
  exit 2
fi
ADMIN=(-H "Authorization: Bearer $ADMIN_TOKEN")

# One tag per run: the municipality and the children's pseudonymous ids carry it.
RUN=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:6])')
MUNICIPALITY="Приозёрный муниципальный округ $RUN"

# INNs of legal entities: region 38, seven random digits, and the check digit (the weights
# of the Federal Tax Service, as in domain/organization.py). One per line.
inns() {
  python3 -c 'import random, sys
weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
for _ in range(int(sys.argv[1])):
    nine = "38" + "".join(random.choice("0123456789") for _ in range(7))
    print(nine + str(sum(w * int(d) for w, d in zip(weights, nine)) % 11 % 10))' "$1"
}
read -r -d '' INN_CENTRE INN_SCHOOL INN_PLANT < <(inns 3) || true

# post PATH JSON [curl options...]: one write; prints the answer; fails on an error status.
post() {
  local path=$1 body=$2
  shift 2
  curl -sS --fail-with-body -X POST "$API$path" -H 'Content-Type: application/json' "$@" \
    --data "$body"
}

# put PATH JSON [curl options...]: one write that replaces a whole resource (the terms).
put() {
  local path=$1 body=$2
  shift 2
  curl -sS --fail-with-body -X PUT "$API$path" -H 'Content-Type: application/json' "$@" \
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

# principal NAME ROLE [AGENCY]: registers a principal of the run's municipality, as the
# admin; prints its id, sets TOKEN to its bearer token (shown once, in this answer only).
principal() {
  local r agency=null
  if [ -n "${3:-}" ]; then agency="\"$3\""; fi
  r=$(post /admin/principals "{
    \"name\": \"$1\", \"role\": \"$2\", \"agency\": $agency,
    \"municipality\": \"$MUNICIPALITY\", \"label\": \"docs/examples/network.sh $RUN\"}" \
    "${ADMIN[@]}")
  echo "$2${3:+ $3} $1: principal $(field principal_id <<<"$r")"
  TOKEN=$(field token <<<"$r")
}

# register NAME INN KIND AGENCY FOUNDER ADDRESS [ACTOR...]: registers an organisation of the
# municipality; prints the answer, sets ORGANIZATION.
register() {
  local r
  r=$(post /organizations "{
    \"name\": \"$1\", \"inn\": \"$2\", \"kind\": \"$3\", \"agency\": \"$4\",
    \"founder\": \"$5\", \"municipality\": \"$MUNICIPALITY\", \"address\": \"$6\"}" \
    "${@:7}")
  echo "$r"
  ORGANIZATION=$(field id <<<"$r")
}

# enrol PROGRAM CHILD BIRTH_YEAR TERRITORY FUNDING: enrols a child from 1 September 2027;
# prints the answer, sets POSITION.
enrol() {
  local r
  r=$(post "/programs/$1/enrolments" "{
    \"child_id\": \"$2\", \"birth_year\": $3, \"territory\": \"$4\",
    \"funding_source\": \"$5\", \"start_date\": \"2027-09-01\", \"end_date\": \"2028-05-31\"}" \
    "${CENTRE[@]}")
  echo "$r"
  POSITION=$(field position <<<"$r")
}

step "0. The service is up, and the projections are caught up"
curl -sS --fail-with-body "$BASE/ready"
echo

step "0a. The admin registers the officials of the run's municipality, and an analyst"
# Who acts. The API records the principal of each token on every event it writes. Ivanova
# keeps the network register at the education department; Sidorova is the deputy director
# of the centre of additional education and enrols children; Orlov represents the plant (an
# organisation of agency "other": only an official of that agency registers it). Reads are
# made as Ivanova (officials read their own municipality), the summaries of step 21 as the
# analyst.
principal "Иванова М. П." official education
EDUCATION=(-H "Authorization: Bearer $TOKEN")
principal "Сидорова Е. В." official education
CENTRE=(-H "Authorization: Bearer $TOKEN")
principal "Орлов С. В." official other
PLANT_REP=(-H "Authorization: Bearer $TOKEN")
principal "Аналитик отдела мониторинга" analyst
ANALYST=(-H "Authorization: Bearer $TOKEN")

step "1. Register three organisations: a centre of additional education, a school, an enterprise"
register "МБУ ДО «Центр детского творчества»" "$INN_CENTRE" additional_education education \
  "Управление образования" "рп Приозёрный, ул. Центральная, 12" "${EDUCATION[@]}"
CENTRE_ID=$ORGANIZATION
register "МБОУ «Приозёрная СОШ № 2»" "$INN_SCHOOL" general_education education \
  "Управление образования" "рп Приозёрный, ул. Школьная, 5" "${EDUCATION[@]}"
SCHOOL=$ORGANIZATION
register "АО «Приозёрный машиностроительный завод»" "$INN_PLANT" enterprise other \
  "Акционеры общества" "рп Приозёрный, Промышленный проезд, 1" "${PLANT_REP[@]}"
PLANT=$ORGANIZATION

step "1a. An INN is checked (422 for a wrong check digit) and registered once (409)"
WRONG=${INN_PLANT:0:9}$(((${INN_PLANT:9:1} + 1) % 10))
refused 422 post /organizations "{
  \"name\": \"ООО «Опечатка»\", \"inn\": \"$WRONG\", \"kind\": \"enterprise\",
  \"agency\": \"other\", \"founder\": \"Учредитель\", \"municipality\": \"$MUNICIPALITY\",
  \"address\": \"рп Приозёрный\"}" "${PLANT_REP[@]}"
refused 409 post /organizations "{
  \"name\": \"Завод (повторно)\", \"inn\": \"$INN_PLANT\", \"kind\": \"enterprise\",
  \"agency\": \"other\", \"founder\": \"Акционеры общества\",
  \"municipality\": \"$MUNICIPALITY\", \"address\": \"рп Приозёрный\"}" "${PLANT_REP[@]}"

step "2. The centre's licence entry: additional education of children and adults"
post "/organizations/$CENTRE_ID/licences" '{
  "number": "Л035-01234-38/00112233",
  "sub_kinds": ["additional_education_children_adults"],
  "issued_on": "2015-06-10",
  "issuer": "Служба по контролю и надзору в сфере образования области"}' "${EDUCATION[@]}"
echo
get "/organizations/$CENTRE_ID?on=2027-09-01" "${EDUCATION[@]}" | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["name"], "- educational:", o["is_educational"],
      "- licensed for additional education on 2027-09-01:",
      o["licensed_for_additional_education"])
for lic in o["licences"]:
    print("  licence", lic["number"], lic["sub_kinds"], lic["status"], "since", lic["status_since"])'

step "3. Draft three programs: a network one, a standalone one, and one that stays a draft"
R=$(post /programs "{
  \"title\": \"Робототехника: от конструктора к заводу\",
  \"description\": \"Конструирование и программирование роботов; модуль в школе, практикум в заводской лаборатории\",
  \"provider_id\": \"$CENTRE_ID\", \"partner_ids\": [\"$SCHOOL\"],
  \"kind\": \"general_developing\", \"direction\": \"technical\",
  \"min_age\": 10, \"max_age\": 14, \"hours\": 144, \"capacity\": 24, \"form\": \"network\"}" \
  "${EDUCATION[@]}")
echo "$R"
ROBOTICS=$(field id <<<"$R")
R=$(post /programs "{
  \"title\": \"Изостудия «Палитра»\",
  \"description\": \"Рисунок, живопись и композиция для младших школьников\",
  \"provider_id\": \"$CENTRE_ID\",
  \"kind\": \"general_developing\", \"direction\": \"artistic\",
  \"min_age\": 7, \"max_age\": 12, \"hours\": 72, \"capacity\": 15, \"form\": \"standalone\"}" \
  "${EDUCATION[@]}")
echo "$R"
ART=$(field id <<<"$R")
post /programs "{
  \"title\": \"Шахматы в школе\",
  \"description\": \"Начальный курс шахмат\",
  \"provider_id\": \"$SCHOOL\",
  \"kind\": \"general_developing\", \"direction\": \"physical_culture_sport\",
  \"min_age\": 7, \"max_age\": 10, \"hours\": 36, \"capacity\": 20, \"form\": \"standalone\"}" \
  "${EDUCATION[@]}"
echo

step "4. Every teaching party approves: the centre and the school for the network program"
post "/programs/$ROBOTICS/approvals" "{\"party_id\": \"$CENTRE_ID\"}" "${EDUCATION[@]}"
echo
get "/programs/$ROBOTICS" "${EDUCATION[@]}" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["status"], "- approved by", p["approved_by"], "- awaiting", p["awaiting_approval"])'
post "/programs/$ROBOTICS/approvals" \
  "{\"party_id\": \"$SCHOOL\", \"basis_document\": \"Протокол педсовета СОШ № 2 № 1 от 28.08.2027\"}" \
  "${EDUCATION[@]}"
echo
post "/programs/$ART/approvals" "{\"party_id\": \"$CENTRE_ID\"}" "${EDUCATION[@]}"
echo
get "/programs/$ROBOTICS" "${EDUCATION[@]}" | field status

step "5. A network program is published only under an agreement in force (409)"
refused 409 post "/programs/$ROBOTICS/publish" '{}' "${EDUCATION[@]}"

# terms CLAUSES CONTRIBUTIONS: one version of the agreement's terms; the parties, the model,
# the program and the term are the same in every version of this session.
terms() {
  echo "{
    \"parties\": [
      {\"organization_id\": \"$CENTRE_ID\", \"role\": \"base\"},
      {\"organization_id\": \"$SCHOOL\", \"role\": \"participant\"},
      {\"organization_id\": \"$PLANT\", \"role\": \"resource\"}],
    \"model\": \"model_2\",
    \"program_ids\": [\"$ROBOTICS\"],
    \"clauses\": {$1},
    \"contributions\": [$2],
    \"term_start\": \"2027-09-01\", \"term_end\": \"2028-06-30\"}"
}
FOUR_CLAUSES='
  "program_and_direction": "Дополнительная общеразвивающая программа «Робототехника: от конструктора к заводу», техническая направленность, 144 часа",
  "students_status_and_admission": "Обучающиеся зачисляются в базовую организацию по заявлению родителей через навигатор; в организациях-участниках сохраняют статус обучающихся базовой организации",
  "duties_and_resources": "Базовая организация ведёт модули 1 и 3; школа - модуль 2 в своём кабинете информатики; завод предоставляет лабораторию и оборудование",
  "term_and_change": "С 01.09.2027 по 30.06.2028; изменяется дополнительным соглашением, подписанным всеми сторонами; расторгается по соглашению сторон"'
DOCUMENTS='"documents_issued": "Сертификат об освоении программы выдаёт базовая организация"'
LAB='{"organization_id": "'$PLANT'", "resource_type": "infrastructure",
  "description": "Учебная лаборатория робототехники в заводском корпусе № 3",
  "volume": "144", "unit": "часов", "period_from": "2027-09-01", "period_to": "2028-05-31"}'
TEACHER='{"organization_id": "'$CENTRE_ID'", "resource_type": "personnel",
  "description": "Педагог дополнительного образования",
  "volume": "0.5", "unit": "ставки", "period_from": "2027-09-01", "period_to": "2028-05-31"}'
MENTORS='{"organization_id": "'$PLANT'", "resource_type": "personnel",
  "description": "Инженеры-наставники проектных команд",
  "volume": "36", "unit": "часов", "period_from": "2028-01-15", "period_to": "2028-05-31"}'

step "6. Draft the agreement (version 1): the clause on documents issued is missing"
R=$(post /agreements "{
  \"number\": \"СФ-7/2027\",
  \"title\": \"Договор о сетевой форме реализации программы «Робототехника: от конструктора к заводу»\",
  \"municipality\": \"$MUNICIPALITY\",
  \"terms\": $(terms "$FOUR_CLAUSES" "$LAB, $TEACHER")}" "${EDUCATION[@]}")
echo "$R"
AGREEMENT=$(field id <<<"$R")

step "7. Activation is refused: a statutory clause is missing (409)"
refused 409 post "/agreements/$AGREEMENT/activate" '{}' "${EDUCATION[@]}"

step "8. Revise the draft with all five clauses; every party signs"
put "/agreements/$AGREEMENT/terms" "$(terms "$FOUR_CLAUSES, $DOCUMENTS" "$LAB, $TEACHER")" \
  "${EDUCATION[@]}"
echo
post "/agreements/$AGREEMENT/signatures" "{\"party_id\": \"$CENTRE_ID\", \"version\": 1,
  \"signatory\": \"Директор МБУ ДО ЦДТ Кузнецова Е. А.\", \"signed_on\": \"2027-08-25\"}" \
  "${EDUCATION[@]}"
echo
post "/agreements/$AGREEMENT/signatures" "{\"party_id\": \"$SCHOOL\", \"version\": 1,
  \"signatory\": \"Директор МБОУ СОШ № 2 Белов И. П.\", \"signed_on\": \"2027-08-26\"}" \
  "${EDUCATION[@]}"
echo
post "/agreements/$AGREEMENT/signatures" "{\"party_id\": \"$PLANT\", \"version\": 1,
  \"signatory\": \"Генеральный директор АО «ПМЗ» Орлов С. В.\", \"signed_on\": \"2027-08-27\"}" \
  "${EDUCATION[@]}"
echo

step "9. A signed version never changes (409)"
refused 409 put "/agreements/$AGREEMENT/terms" \
  "$(terms "$FOUR_CLAUSES, $DOCUMENTS" "$LAB")" "${EDUCATION[@]}"

step "10. Activation is refused: the school teaches and has no additional-education licence (409)"
refused 409 post "/agreements/$AGREEMENT/activate" '{}' "${EDUCATION[@]}"

step "11. Enter the school's licence; now the agreement is put in force"
R=$(post "/organizations/$SCHOOL/licences" '{
  "number": "Л035-01234-38/00445566",
  "sub_kinds": ["primary_general", "basic_general", "secondary_general",
                "additional_education_children_adults"],
  "issued_on": "2016-02-03",
  "issuer": "Служба по контролю и надзору в сфере образования области"}' "${EDUCATION[@]}")
echo "$R"
SCHOOL_LICENCE=$(field licence_id <<<"$R")
post "/agreements/$AGREEMENT/activate" \
  '{"basis_document": "Приказ Управления образования № 240 от 30.08.2027"}' "${EDUCATION[@]}"
echo
get "/agreements/$AGREEMENT" "${EDUCATION[@]}" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print(a["number"], a["status"], "- version in force:", a["in_force_version"])
for v in a["versions"]:
    print("  version", v["number"], v["state"], "- signed by", len(v["signatures"]),
          "- missing clauses:", v["missing_clauses"])'

step "12. Publish the network program under the agreement, and the standalone one"
post "/programs/$ROBOTICS/publish" "{\"agreement_id\": \"$AGREEMENT\"}" "${EDUCATION[@]}"
echo
R=$(post "/programs/$ART/publish" '{}' "${EDUCATION[@]}")
echo "$R"
POSITION=$(field position <<<"$R")

step "13. The public catalogue, read with no credentials: published programs only"
curl -sS --fail-with-body "$API/catalogue/programs?min_position=$POSITION" -G \
  --data-urlencode "municipality=$MUNICIPALITY" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(c["total"], "programs offered")
for p in c["items"]:
    agreement = p["agreement"]["number"] if p["agreement"] else "-"
    print("- %s (%s, %s, ages %d-%d, %d free places), agreement %s" % (
        p["title"], p["direction"], p["form"], p["min_age"], p["max_age"],
        p["free_places"], agreement))
    for t in p["providers"]:
        print("    %-8s %s" % (t["role"], t["name"]))'
curl -sS --fail-with-body "$API/catalogue/programs/$ROBOTICS" | pretty
echo "A family looks for a child of 8:"
curl -sS --fail-with-body "$API/catalogue/programs?age=8&has_free_places=true" -G \
  --data-urlencode "municipality=$MUNICIPALITY" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    print("-", p["title"])'

step "14. Enrol four children; one of them (…-01) in both programs"
enrol "$ROBOTICS" "nav-$RUN-01" 2016 "д. Малиновка" certificate
enrol "$ART" "nav-$RUN-01" 2016 "д. Малиновка" municipal_assignment
enrol "$ROBOTICS" "nav-$RUN-02" 2014 "д. Малиновка" certificate
enrol "$ART" "nav-$RUN-03" 2019 "п. Лесной" municipal_assignment
enrol "$ROBOTICS" "nav-$RUN-04" 2015 "п. Лесной" paid

step "14a. The same child cannot be enrolled twice in one program (409)"
refused 409 post "/programs/$ROBOTICS/enrolments" "{
  \"child_id\": \"nav-$RUN-01\", \"birth_year\": 2016, \"territory\": \"д. Малиновка\",
  \"funding_source\": \"certificate\", \"start_date\": \"2027-09-01\"}" "${CENTRE[@]}"

step "15. Record the children aged 5-17 living in the two territories in 2027"
post /population "{
  \"municipality\": \"$MUNICIPALITY\", \"territory\": \"д. Малиновка\", \"year\": 2027,
  \"children_5_17\": 8, \"source\": \"Росстат, оценка на 1 января 2027 года\"}" \
  "${EDUCATION[@]}"
echo
R=$(post /population "{
  \"municipality\": \"$MUNICIPALITY\", \"territory\": \"п. Лесной\", \"year\": 2027,
  \"children_5_17\": 12, \"source\": \"Росстат, оценка на 1 января 2027 года\"}" \
  "${EDUCATION[@]}")
echo "$R"
POSITION=$(field position <<<"$R")

step "16. Coverage in 2027: 4 unique children of 20, though 5 enrolments"
get "/coverage?year=2027&min_position=$POSITION" "${EDUCATION[@]}" -G \
  --data-urlencode "municipality=$MUNICIPALITY" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print("population %d, children %d, enrolments %d, coverage %s %%, enrolments per child %s" % (
    c["population"], c["children"], c["enrolments"], c["coverage_pct"],
    c["enrolments_per_child"]))
for t in c["by_territory"]:
    print("  territory %-12s population %3d children %d enrolments %d coverage %s %%" % (
        t["territory"], t["population"], t["children"], t["enrolments"], t["coverage_pct"]))
for name in ("by_direction", "by_funding_source", "by_agency"):
    for s in c[name]:
        print("  %-17s %-20s children %d enrolments %d coverage %s %%" % (
            name, s["key"], s["children"], s["enrolments"], s["coverage_pct"]))'

step "17. Amend the agreement: version 2 adds the plant's engineer-mentors"
R=$(post "/agreements/$AGREEMENT/amendments" "{
  \"terms\": $(terms "$FOUR_CLAUSES, $DOCUMENTS" "$LAB, $TEACHER, $MENTORS"),
  \"reason\": \"Завод выделяет инженеров-наставников для проектных команд\",
  \"basis_document\": \"Дополнительное соглашение № 1 от 10.01.2028\"}" "${EDUCATION[@]}")
echo "$R"
VERSION=$(field agreement_version <<<"$R")
for party in "$CENTRE_ID" "$SCHOOL" "$PLANT"; do
  post "/agreements/$AGREEMENT/signatures" "{\"party_id\": \"$party\", \"version\": $VERSION,
    \"signatory\": \"Руководитель организации\", \"signed_on\": \"2028-01-10\"}" "${EDUCATION[@]}"
  echo
done
R=$(post "/agreements/$AGREEMENT/activate" '{}' "${EDUCATION[@]}")
echo "$R"
POSITION=$(field position <<<"$R")
get "/agreements/$AGREEMENT" "${EDUCATION[@]}" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print(a["number"], a["status"], "- version in force:", a["in_force_version"])
for v in a["versions"]:
    print("  version %d %-10s based on %s, contributions:" % (v["number"], v["state"], v["based_on"]))
    for c in v["terms"]["contributions"]:
        print("    %-14s %s %s (%s)" % (c["resource_type"], c["volume"], c["unit"], c["description"]))'

step "18. The agreement's history: each version proposed, signed and put in force"
get "/agreements/$AGREEMENT/history" "${EDUCATION[@]}" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    data = e["data"]
    what = "version %s" % data["version"] if "version" in data else ""
    if e["type"] == "AgreementSigned":
        what += " by " + data["signatory"]
    who = "%-9s %s…" % (e["actor"]["agency"], e["actor"]["id"][:8])
    print("%2d %-27s %-19s %s" % (e["version"], e["type"], who, what))'

step "19. The control of teaching parties without a valid licence: none, as it should be"
get "/organizations/unlicensed-teaching-parties?on=2028-02-12&min_position=$POSITION" -G \
  --data-urlencode "municipality=$MUNICIPALITY" "${EDUCATION[@]}" | pretty

step "20. The school's licence is suspended; the control now finds the school"
R=$(post "/organizations/$SCHOOL/licences/$SCHOOL_LICENCE/suspend" '{
  "effective_on": "2028-02-12",
  "reason": "Предписание об устранении нарушений не исполнено в срок",
  "basis_document": "Распоряжение Службы по контролю № 184 от 12.02.2028"}' "${EDUCATION[@]}")
echo "$R"
POSITION=$(field position <<<"$R")
get "/organizations/unlicensed-teaching-parties?on=2028-02-12&min_position=$POSITION" -G \
  --data-urlencode "municipality=$MUNICIPALITY" "${EDUCATION[@]}" | pretty

step "21. For analysts: programs by direction and form, resources contributed by type"
get "/programs/summary?min_position=$POSITION" -G --data-urlencode "municipality=$MUNICIPALITY" \
  "${ANALYST[@]}" |
  python3 -c '
import json, sys
s = json.load(sys.stdin)
for name in ("by_direction", "by_form"):
    for g in s[name]:
        print("%-12s %-22s programs %d published %d capacity %3d enrolled %d free %d" % (
            name, g["key"], g["programs"], g["published"], g["capacity"],
            g["active_enrolments"], g["free_places"]))'
get "/agreements/contributions?min_position=$POSITION" "${ANALYST[@]}" -G \
  --data-urlencode "municipality=$MUNICIPALITY" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    volumes = ", ".join("%s %s" % (v["volume"], v["unit"]) for v in r["volumes"])
    print("%-14s contributions %d, agreements %d, organisations %d: %s" % (
        r["resource_type"], r["contributions"], r["agreements"], r["organizations"], volumes))'
