#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: peers (apt, as root), npm dependencies, build, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
if [ -L node_modules ]; then
  # A worktree sharing another checkout's node_modules: npm ci here would empty the shared directory for everyone.
  [ package-lock.json -nt node_modules/.package-lock.json ] && echo "scripts/test.sh: package-lock.json is newer than the shared node_modules; run npm ci in the checkout it links to" >&2
elif [ -n "${CI:-}" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent typecheck
npm run --silent lint:layers
npm test
# The store, workflow and HTTP suites once more on PostgreSQL (a private cluster per test file, a fresh database
# per store: test/support/database.ts).
EMBERVOL_TEST_DATABASE=postgres npm test -- test/store test/workflow test/http
