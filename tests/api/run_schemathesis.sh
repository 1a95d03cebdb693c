#!/usr/bin/env bash
# schemathesis against the live server: starts the app (gunicorn) on a throwaway database with the
# demo data, then fuzzes every operation of the served schema three times, as an anonymous caller
# and with a provider admin's and a vendor admin's Bearer token, checking that no input gives a
# server error and that every answer matches the schema (documented status code, body shape). Run by .ci/run (stage
# `schemathesis`) and `make schemathesis`.
#
# Environment:
#   DATABASE_URL            a PostgreSQL URL whose database name is thrown away and re-created
#                           (e.g. postgres://postgres@127.0.0.1:5432/marketplace_schemathesis);
#                           unset: a SQLite file in a temporary directory
#   SCHEMATHESIS_PORT       default 8765
#   SCHEMATHESIS_EXAMPLES   examples per operation and phase (default 25)
#   SCHEMATHESIS_SEED       default 20260101, so CI is reproducible; "random" for a new one
#   SCHEMATHESIS_REPORT_DIR default test-artifacts/schemathesis
#   SCHEMATHESIS_CALLERS    default "anonymous provider-admin vendor-admin": an anonymous caller,
#                           St. Mary's (a provider) admin client and Radiant AI's (a vendor);
#                           name fewer to save time; "provider-readonly" (St. Mary's read-only
#                           client) and "other-vendor-admin" (DoseWise) may be named too
#   SCHEMATHESIS_ARGS       more schemathesis arguments, e.g. "--include-path-regex trials"
#
# Nothing is excluded: every operation of the schema is called, also the site agent's (which
# answer 401 without an agent credential, as documented) and the writes (on demo data that is
# thrown away with the database). Path parameters mostly take the demo data's identifiers
# (tests/api/schemathesis_config.py), so requests reach real objects rather than 404s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
PORT="${SCHEMATHESIS_PORT:-8765}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-20260101}"
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-$ROOT/test-artifacts/schemathesis}"
CALLERS="${SCHEMATHESIS_CALLERS:-anonymous provider-admin vendor-admin}"
BASE="http://127.0.0.1:${PORT}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Local settings, everything written in $WORK. seed_demo needs DEBUG on (it refuses otherwise);
# the server runs with it off, as in production (with DEBUG on, Django answers an unknown URL
# with its HTML debug page instead of the API's JSON 404).
export DJANGO_SETTINGS_MODULE=config.settings.local
export MARKETPLACE_VAR_DIR="$WORK/var"
export MARKETPLACE_MEDIA_ROOT="$WORK/var/media"
# No worker: tasks are published to an in-process broker and dropped with the server.
export CELERY_BROKER_URL="memory://"
# The fuzzer sends thousands of requests a minute from one address: the rate limits would answer
# most of them with 429 (documented, but it would test little else). 429 is tested in the suite.
export MARKETPLACE_THROTTLE_PRINCIPAL_RATE="1000000/min"
export MARKETPLACE_THROTTLE_ADDRESS_RATE="1000000/min"
mkdir -p "$MARKETPLACE_VAR_DIR" "$REPORT_DIR"

if [ -n "${DATABASE_URL:-}" ]; then
    echo "schemathesis: re-creating the database of ${DATABASE_URL}"
    "$BIN/python" - <<'EOF'
import os
from urllib.parse import urlsplit

import psycopg

url = urlsplit(os.environ["DATABASE_URL"])
name = url.path.lstrip("/")
assert name and name.replace("_", "").isalnum(), f"unexpected database name {name!r}"
admin = url._replace(path="/postgres").geturl()
with psycopg.connect(admin, autocommit=True) as connection:
    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.execute(f'CREATE DATABASE "{name}"')
EOF
fi

echo "schemathesis: migrating and loading the demo data"
"$BIN/python" manage.py migrate --noinput >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; exit 1; }
DJANGO_DEBUG=1 "$BIN/python" manage.py seed_demo >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log"; exit 1; }
# The demo's identifiers as dictionaries for the path parameters (see the script).
"$BIN/python" tests/api/schemathesis_config.py "$WORK/schemathesis.toml"

echo "schemathesis: starting gunicorn on ${BASE}"
# The production settings of gunicorn (config/gunicorn.conf.py), except that request lines of any
# length reach the application: gunicorn answers one over 4094 bytes with its own HTML 400 (as a
# proxy would), and the fuzzer's long query strings are meant to test the application's answer.
DJANGO_DEBUG=0 "$BIN/gunicorn" -c config/gunicorn.conf.py config.wsgi:application --bind "127.0.0.1:${PORT}" \
    --workers 2 --timeout 60 --limit-request-line 0 --error-logfile - >"$REPORT_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 60); do
    if curl -sf "${BASE}/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$REPORT_DIR/server.log"; exit 1; fi
    sleep 1
done
curl -sf "${BASE}/healthz" >/dev/null

token_of() {  # token_of ORGANIZATION [ROLE]: a token of its demo client (README, "Using the API")
    local role="${2:-admin}"
    curl -sf -X POST "${BASE}/o/token/" -d grant_type=client_credentials \
        -d client_id="demo-$1-${role}" -d client_secret="demo-secret-$1-${role}" |
        "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

SEED_ARGS=()
if [ "$SEED" != "random" ]; then SEED_ARGS=(--seed "$SEED"); fi
run() {  # run NAME [extra schemathesis arguments...]
    local name="$1"; shift
    echo "schemathesis: run ${name}"
    # From $WORK: schemathesis keeps a cache of failures (.schemathesis/) in its directory.
    (cd "$WORK" && "$BIN/schemathesis" --config-file "$WORK/schemathesis.toml" run "${BASE}/api/schema/?format=json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$EXAMPLES" "${SEED_ARGS[@]}" \
        --workers 2 --request-timeout 30 --generation-database none --no-color \
        --report junit --report-junit-path "$REPORT_DIR/${name}.xml" \
        ${SCHEMATHESIS_ARGS:-} "$@") 2>&1 | sed -u -E 's/^=+ (.+) =+$/schemathesis: \1/'
    # ^ its closing "==== 3 warnings in 96s ====" has pytest's shape but counts no test: CI's
    #   tools read such a line as the run's test count. The counts are in the JUnit reports.
}
# schemathesis' own generator can crash on Python 3.11 when several workers compile at once
# ("SystemError: AST constructor recursion depth mismatch", a runtime error of the tool, not an
# answer of the API). A failed run is repeated once with the same seed: a real API failure fails
# again, a crash of the tool does not.
run_twice() {
    run "$@" && return 0
    echo "schemathesis: run $1 failed; repeating it once with the same seed"
    run "$@"
}
status=0
for caller in $CALLERS; do
    case "$caller" in
        anonymous) run_twice anonymous || status=1 ;;
        provider-admin)
            token=$(token_of st-marys)  # set -e: no token, no run
            run_twice provider-admin -H "Authorization: Bearer ${token}" || status=1 ;;
        vendor-admin)
            token=$(token_of radiant-ai)
            run_twice vendor-admin -H "Authorization: Bearer ${token}" || status=1 ;;
        provider-readonly)
            token=$(token_of st-marys read-only)
            run_twice provider-readonly -H "Authorization: Bearer ${token}" || status=1 ;;
        other-vendor-admin)  # the demo identifiers belong to St. Mary's and Radiant AI: 404s
            token=$(token_of dosewise)
            run_twice other-vendor-admin -H "Authorization: Bearer ${token}" || status=1 ;;
        *) echo "schemathesis: unknown caller ${caller}"; status=1 ;;
    esac
done
if grep -q "Internal Server Error\|Traceback" "$REPORT_DIR/server.log"; then
    echo "schemathesis: the server logged errors (see $REPORT_DIR/server.log)"
    grep -n -A30 "Traceback" "$REPORT_DIR/server.log" | head -120
    status=1
fi
exit "$status"
