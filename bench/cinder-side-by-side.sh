#!/bin/bash
# Real Cinder and embervol side by side with the same client (issue 14 and 15): ../shared/cinder-reference's
# bench_attach.py (stdlib http.client, one TCP connection per request, microversion 3.0), phases seq (100 cycles on
# one volume) and conc (8 clients on 8 volumes, 25 cycles each), first with Keystone tokens (plus 32 clients on 32
# volumes, 4 cycles each, for issue 14's table), then noauth.
#
#   bash bench/cinder-side-by-side.sh            (as root: start.sh switches cinder-api between keystone and noauth)
#
# Needs the reference stack installed (RESET_DB=1 ./install.sh) and started (./start.sh, Keystone + MariaDB +
# file/tgt); this script does not stop it (whoever started it does: ./stop.sh). Order: Cinder keystone, embervol
# keystone, Cinder noauth, embervol noauth, so each pair runs within a couple of minutes of each other.
# embervol runs from this checkout: `embervol serve --target builtin` on SQLite, against the same Keystone
# (user cinder of project service, as keystone_catalog.sh creates it), on 127.0.0.1:18776.
# Results (bench_attach's JSON and Markdown) go to $RESULTS_DIR (default /tmp/cinder-reference).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# The issue's ../shared/cinder-reference, next to the main checkout; CINDER_REFERENCE=DIR from a worktree elsewhere.
REF=$(cd "${CINDER_REFERENCE:-$REPO/../shared/cinder-reference}" && pwd)
export RESULTS_DIR=${RESULTS_DIR:-/tmp/cinder-reference}
mkdir -p "$RESULTS_DIR"
PORT=${EMBERVOL_PORT:-18776}
PHASES=${PHASES:-verify,seq,conc}
NOAUTH_PROJECT=0123456789abcdef0123456789abcdef
EV_PID=

stop_embervol() { if [ -n "$EV_PID" ]; then kill "$EV_PID" 2>/dev/null || true; wait "$EV_PID" 2>/dev/null || true; EV_PID=; fi; }
trap stop_embervol EXIT

start_embervol() { # auth mode
  local dir; dir=$(mktemp -d /tmp/embervol-side-by-side-XXXXXX)
  local iscsi; iscsi=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  (cd "$REPO" && EMBERVOL_KEYSTONE_PASSWORD=cinder-secret exec node --import tsx src/cli/main.ts serve \
      --data-dir "$dir" --listen "127.0.0.1:$PORT" --iscsi-portal "127.0.0.1:$iscsi" --target builtin --auth "$1" \
      --keystone-auth-url http://127.0.0.1:5000/v3 --keystone-username cinder --keystone-project-name service \
      --log-level warn > "$RESULTS_DIR/embervol-$1.log" 2>&1) &
  EV_PID=$!
  for _ in $(seq 1 60); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0; sleep 0.5; done
  echo "embervol did not listen on :$PORT" >&2; exit 1
}

bench() { # label, bench_attach options...
  local label=$1; shift
  (cd "$REF" && source ./env.sh && python3 bench_attach.py --phases "$PHASES" --label "$label" --out "$RESULTS_DIR/$label.json" "$@")
}

cd "$REF"
AUTH=keystone ./start.sh
bench cinder-keystone --auth keystone
bench cinder-keystone-32 --auth keystone --phases conc --concurrency 32 --conc-cycles 4
start_embervol keystone
bench embervol-keystone --auth keystone --volume-endpoint "http://127.0.0.1:$PORT/v3"
bench embervol-keystone-32 --auth keystone --volume-endpoint "http://127.0.0.1:$PORT/v3" --phases conc --concurrency 32 --conc-cycles 4
stop_embervol

AUTH=noauth ./start.sh
bench cinder-noauth --auth noauth --endpoint "http://127.0.0.1:8776/v3/$NOAUTH_PROJECT"
start_embervol noauth
bench embervol-noauth --auth noauth --endpoint "http://127.0.0.1:$PORT/v3/$NOAUTH_PROJECT"
stop_embervol
AUTH=keystone ./start.sh
