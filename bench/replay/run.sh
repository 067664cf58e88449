#!/usr/bin/env bash
# Replay benchmark: rebuild the read model from a seeded store of about 1,000,000 events
# (1,000 workspaces) into a Redis started for the benchmark on a loopback port.
# Nothing is pinned: the replay's workers (one per core unless WORKERS says), PostgreSQL and
# Redis share the machine's cores. Prints the replay's JSON summary.
#
#   bench/replay/run.sh                 # 1000 workspaces x 330 apps (~1M events)
#   WORKSPACES=100 APPS=100 bench/replay/run.sh   # a quick run
#   WORKERS=1 bench/replay/run.sh       # the bulk phase in the replay's own process
#   FAMILIES=1 ... bench/replay/run.sh   # also what each key family costs (bench/memory_families.py)
#   REDIS_ARGS="--hash-max-listpack-value 2048" ... bench/replay/run.sh   # a Redis setting to compare
#
# Also prints the Redis memory the rebuild added (`used_memory` after less before) per
# `app.created` event of the store: the read model's bytes per app.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKSPACES=${WORKSPACES:-1000}
APPS=${APPS:-330}
DB=${DB:-readmodel_bench_replay_${WORKSPACES}x${APPS}}
PORT=${PORT:-6391}
export READMODEL_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/${DB}"
export READMODEL_REDIS_URL="redis://127.0.0.1:${PORT}/0"

if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='${DB}'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -qc "create database ${DB}"
  uv run readmodel migrate >/dev/null
  echo "seeding ${WORKSPACES} workspaces x ${APPS} apps into ${DB} (once; reused by later runs)" >&2
  uv run readmodel seed --workspaces "$WORKSPACES" --apps "$APPS" --seed 1 >&2
fi
STORED=$(psql -h 127.0.0.1 -U postgres -d "$DB" -tAc 'select count(*) from events')
echo "store: ${STORED} events" >&2

# REDIS_ARGS: more redis-server options, e.g. "--hash-max-listpack-value 2048" (see bench/README.md).
# shellcheck disable=SC2086
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes ${REDIS_ARGS:-} \
  --pidfile "/tmp/readmodel-bench-redis-${PORT}.pid" --logfile "/tmp/readmodel-bench-redis-${PORT}.log"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

used_memory() { redis-cli -p "$PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
BEFORE=$(used_memory)
SUMMARY=$(uv run readmodel replay --batch-size "${BATCH:-2000}" ${WORKERS:+--workers "$WORKERS"} --json)
echo "$SUMMARY"
AFTER=$(used_memory)
APPS_CREATED=$(psql -h 127.0.0.1 -U postgres -d "$DB" -tAc "select count(*) from events where type = 'app.created'")
echo "used_memory: ${BEFORE} before, ${AFTER} after: $(( (AFTER - BEFORE) / APPS_CREATED )) B per app created (${APPS_CREATED})" >&2
if [ -n "${FAMILIES:-}" ]; then
  uv run python bench/memory_families.py --redis "$READMODEL_REDIS_URL" --apps "$APPS_CREATED" >&2
fi
# A rebuild reads what is settled: a transaction left open anywhere on this PostgreSQL
# server (any database) holds back what counts as settled, and the figures would be for less.
REPLAYED=$(echo "$SUMMARY" | uv run python -c 'import json, sys; print(json.load(sys.stdin)["events"])')
if [ "$REPLAYED" -ne "$STORED" ]; then
  echo "run.sh: the replay rebuilt ${REPLAYED} of ${STORED} events (a transaction open elsewhere on the server?)" >&2
  exit 1
fi
