#!/usr/bin/env bash
# Run the JavaScript-client conformance test: Syncano's own JavaScript library (npm
# `syncano` 1.0.30, pinned in package-lock.json) under Node's built-in test runner.
# Each test file starts its own `rivia serve` on a free loopback port (lib/server.js).
#
# Usage: conformance/js/run.sh [PATH_TO_RIVIA_BINARY] [extra node --test args...]
#   binary default: target/debug/rivia
#   RIVIA_DATABASE_URL  postgres://... to run the servers on PostgreSQL (unset = SQLite)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin="${1:-$repo/target/debug/rivia}"
if [ $# -gt 0 ]; then shift; fi
if [ ! -x "$bin" ]; then
    echo "conformance/js: $bin is not an executable (cargo build --bin rivia first)" >&2
    exit 2
fi
command -v node >/dev/null || { echo "conformance/js: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "conformance/js: npm is not installed" >&2; exit 2; }

RIVIA_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export RIVIA_BIN
cd "$here"
if ! node -e 'process.exit(require("syncano/package.json").version === "1.0.30" ? 0 : 1)' 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test --test-concurrency=1 "$@" test/
