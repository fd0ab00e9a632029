#!/usr/bin/env bash
# Run the dashboard's browser test: headless Chromium (Debian's `chromium`, driven through
# Debian's `chromedriver` by Selenium) against a freshly started `rivia serve`.
#
# Usage: conformance/dashboard/run.sh [PATH_TO_RIVIA_BINARY] [extra pytest args...]
#   binary default: target/release/rivia, else target/debug/rivia
#   RIVIA_DATABASE_URL   postgres://... to use PostgreSQL (unset/empty = SQLite in a temp dir)
#   VENV                 virtualenv to use/create (default <repo>/.venv-dashboard)
#   DASHBOARD_ARTIFACTS  where a failing step leaves its screenshot, page and console log
#                        (default conformance/dashboard/artifacts)
#   DASHBOARD_SKIP_SETUP=1   do not run setup_venv.sh first
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export VENV="${VENV:-$repo/.venv-dashboard}"
export DASHBOARD_ARTIFACTS="${DASHBOARD_ARTIFACTS:-$here/artifacts}"

bin="${1:-}"
if [ $# -gt 0 ]; then shift; fi
if [ -z "$bin" ]; then
    for candidate in "$repo/target/release/rivia" "$repo/target/debug/rivia"; do
        if [ -x "$candidate" ]; then bin="$candidate"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "dashboard test: no rivia binary (give its path, or cargo build first)" >&2
    exit 2
fi
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "dashboard test: $tool is not installed (apt-get install chromium chromium-driver)" >&2; exit 2; }
done

if [ "${DASHBOARD_SKIP_SETUP:-0}" != "1" ]; then
    "$here/setup_venv.sh"
fi
py="$VENV/bin/python"

# shellcheck source=../serve.sh
. "$here/../serve.sh"
rivia_serve "dashboard test" rivia-dashboard "$bin" "$py" _/ -- RIVIA_DASHBOARD

status=0
RIVIA_URL="$url" RIVIA_SERVER_LOG="$log" \
    "$py" -m pytest -p no:cacheprovider -v -rfEs "$here/test_dashboard.py" "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "----- server log (last 100 lines) -----" >&2
    tail -n 100 "$log" >&2 || true
    echo "dashboard test: screenshots and pages of failed steps are in $DASHBOARD_ARTIFACTS" >&2
fi
exit "$status"
