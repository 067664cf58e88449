#!/usr/bin/env bash
# Load the Dify-style database, serve the app list the Dify way (Flask + SQLAlchemy ORM +
# PostgreSQL under granian, pinned to one core), check its answers, then measure it with wrk
# pinned to the other core: page 1 and page 3 (of 4) as bench/api does, 64 connections and 1,
# on loopback only. Ends with a Markdown table shaped like bench/api's.
#
#   bench/dify_reference/run.sh
#
# Settings (environment): DATABASE (readmodel_bench_dify), PORT (8010), WORKERS (1),
# DURATION (10s per run), PAGES ("1 3"), CONNECTIONS ("64 1"), SERVER_CPU (1), CLIENT_CPU (0),
# WORKSPACES (100), APPS (100), SEED (0), PER_ROW (0; 1 fetches tags and authors per app).
# The database is kept for later runs; drop it with
#   uv run --group bench python -m bench.dify_reference.load --drop
set -euo pipefail

cd "$(dirname "$0")/../.."

DATABASE=${DATABASE:-readmodel_bench_dify}
PORT=${PORT:-8010}
WORKERS=${WORKERS:-1}
DURATION=${DURATION:-10s}
PAGES=${PAGES:-1 3}
CONNECTIONS=${CONNECTIONS:-64 1}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
WORKSPACES=${WORKSPACES:-100}
APPS=${APPS:-100}
SEED=${SEED:-0}
PER_ROW=${PER_ROW:-0}
URL="http://127.0.0.1:${PORT}"
HISTORY=(--workspaces "$WORKSPACES" --apps "$APPS" --seed "$SEED")

if ! command -v wrk >/dev/null; then
    echo "run.sh: wrk is not installed; install it with: apt-get install -y wrk" >&2
    exit 2
fi
if curl -s -o /dev/null --max-time 2 "$URL/"; then
    echo "run.sh: something already listens on $URL; set PORT to a free port" >&2
    exit 2
fi

WORK=$(mktemp -d)
SERVER_PID=""
stop() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap stop EXIT

echo "== loading $DATABASE (${WORKSPACES} workspaces x ${APPS} apps, seed ${SEED})"
uv run --group bench python -m bench.dify_reference.load --replace --database "$DATABASE" "${HISTORY[@]}" \
    >"$WORK/login"
WORKSPACE_ID=$(sed -n 's/^WORKSPACE_ID=//p' "$WORK/login")
TOKEN=$(sed -n 's/^TOKEN=//p' "$WORK/login")

echo "== serving on $URL (granian WSGI, $WORKERS worker(s), CPU $SERVER_CPU, per_row=$PER_ROW)"
BIN=$(uv run --group bench python -c 'import os, sys; print(os.path.dirname(sys.executable))')
DIFY_REFERENCE_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/${DATABASE}" \
DIFY_REFERENCE_PER_ROW="$PER_ROW" \
    taskset -c "$SERVER_CPU" "$BIN/granian" --interface wsgi --factory --no-ws \
    --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" --log-level warning \
    'bench.dify_reference.app:create_from_env' >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 60); do
    if curl -s -o /dev/null --max-time 1 "$URL/openapi/v1/apps"; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log" >&2
        echo "run.sh: the server exited" >&2
        exit 1
    fi
    sleep 0.5
done

echo "== checking answers against the read model's fold"
uv run --group bench python -m bench.dify_reference.check --url "$URL" "${HISTORY[@]}"

export TOKEN WORKSPACE_ID
SCRIPT=bench/dify_reference/list_apps.lua
# A short warm-up fills the connection pool and PostgreSQL's caches; its figures are dropped.
PAGE=1 taskset -c "$CLIENT_CPU" wrk -t1 -c8 -d2s -s "$SCRIPT" "$URL" >/dev/null

if [ "$PER_ROW" = 1 ]; then
    NAME="Dify-style SQL, tags and authors per row"
else
    NAME="Dify-style SQL"
fi
SUMMARY="$WORK/summary"
printf '| target | connections | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---|\n' >"$SUMMARY"
failed=0
for page in $PAGES; do
    for connections in $CONNECTIONS; do
        echo "== page $page, $connections connection(s), $DURATION"
        PAGE=$page taskset -c "$CLIENT_CPU" wrk -t1 -c"$connections" -d"$DURATION" --timeout 10s --latency \
            -s "$SCRIPT" "$URL" | tee "$WORK/wrk.out"
        if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
            failed=1
        fi
        awk -v target="$NAME: GET /apps (page $page)" -v conns="$connections" '
            function ms(text) {
                if (text ~ /us$/) return text * 0.001
                if (text ~ /ms$/) return text * 1.0
                return text * 1000.0
            }
            $1 == "50%" { p50 = ms($2) }
            $1 == "99%" { p99 = ms($2) }
            $1 == "Requests/sec:" { rps = $2 }
            /Non-2xx|Socket errors/ { errors = errors $0 }
            END { printf "| %s | %s | %.0f | %.3f | %.2f | %s |\n", target, conns, rps, p50, p99, errors }
        ' "$WORK/wrk.out" >>"$SUMMARY"
    done
done

echo "== summary (workspace $WORKSPACE_ID, limit 20; server CPU $SERVER_CPU, wrk CPU $CLIENT_CPU)"
cat "$SUMMARY"
if [ "$failed" -ne 0 ]; then
    echo "run.sh: some requests failed (see Non-2xx / Socket errors above)" >&2
    exit 1
fi
