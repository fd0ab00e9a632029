#!/usr/bin/env bash
# Run the Python-client conformance test against a freshly started Rivia server.
#
# Usage: conformance/run.sh [PATH_TO_RIVIA_BINARY] [extra pytest args...]
#   binary default: target/release/rivia, else target/debug/rivia
#   RIVIA_DATABASE_URL  postgres://... to use PostgreSQL (unset/empty = SQLite in a temp dir)
#   VENV                virtualenv to use/create (default <repo>/.venv)
#   CONFORMANCE_SKIP_SETUP=1   do not run setup_venv.sh first
#
# Exits with pytest's status; fails loudly (and prints the server log) if the
# server does not answer GET /v1.1/ with 200 within 60 s.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export VENV="${VENV:-$repo/.venv}"

bin="${1:-}"
if [ $# -gt 0 ]; then shift; fi
if [ -z "$bin" ]; then
    if [ -x "$repo/target/release/rivia" ]; then
        bin="$repo/target/release/rivia"
    elif [ -x "$repo/target/debug/rivia" ]; then
        bin="$repo/target/debug/rivia"
    else
        echo "conformance: no rivia binary given and none in target/{release,debug}/" >&2
        exit 2
    fi
fi
if [ ! -x "$bin" ]; then
    echo "conformance: $bin is not an executable" >&2
    exit 2
fi

if [ "${CONFORMANCE_SKIP_SETUP:-0}" != "1" ]; then
    "$here/setup_venv.sh"
fi
py="$VENV/bin/python"

# shellcheck source=serve.sh
. "$here/serve.sh"
# Test-only: schedules may run every second, so the schedule test need not wait 30 s.
rivia_serve conformance rivia-conformance "$bin" "$py" v1.1/ RIVIA_TEST_SCHEDULE_MIN_INTERVAL=1

status=0
RIVIA_URL="$url" PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" -m pytest -p no:cacheprovider -v -rfE "$here/test_client.py" "$here/test_cli.py" "$@" || status=$?

if [ "$status" -ne 0 ]; then
    echo "----- server log (last 200 lines) -----" >&2
    tail -n 200 "$log" >&2 || true
    echo "---------------------------------------" >&2
fi
exit "$status"
