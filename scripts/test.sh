#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: peers (apt, as root), npm dependencies, build, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
if [ -n "${CI:-}" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent typecheck
npm run --silent lint:layers
npm test
# The store, workflow and HTTP suites once more on PostgreSQL (a private cluster per test file, a fresh database
# per store: test/support/database.ts).
EMBERVOL_TEST_DATABASE=postgres npm test -- test/store test/workflow test/http
