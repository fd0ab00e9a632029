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

workdir="$(mktemp -d "${TMPDIR:-/tmp}/rivia-dashboard.XXXXXX")"
log="$workdir/server.log"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/"

server_env=(RIVIA_INSTANCE_RATE=0 RIVIA_ADMIN_RATE=0 RIVIA_ANON_RATE=0 RIVIA_POLL_RATE=0)
if [ -n "${RIVIA_DATABASE_URL:-}" ]; then
    server_env+=(RIVIA_DATABASE_URL="$RIVIA_DATABASE_URL")
    echo "dashboard test: using PostgreSQL" >&2
else
    unset RIVIA_DATABASE_URL || true
    echo "dashboard test: using SQLite in $workdir/data" >&2
fi
echo "dashboard test: starting $bin serve --bind 127.0.0.1:$port" >&2
env -u RIVIA_BIND -u RIVIA_DATA_DIR -u RIVIA_DASHBOARD "${server_env[@]}" \
    "$bin" serve --bind "127.0.0.1:$port" --data-dir "$workdir/data" >"$log" 2>&1 &
server_pid=$!

# Wait (with a deadline) for the dashboard's page to answer.
if ! "$py" - "$url" "$server_pid" <<'PY'
import os, sys, time, urllib.request
url, pid = sys.argv[1] + "_/", int(sys.argv[2])
deadline = time.monotonic() + 60
last = "no attempt"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("dashboard test: the server exited before answering")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
            last = "status %d" % r.status
    except Exception as e:
        last = repr(e)
    time.sleep(0.2)
sys.exit("dashboard test: %s did not answer 200 within 60 s (%s)" % (url, last))
PY
then
    echo "----- server log -----" >&2
    cat "$log" >&2 || true
    exit 1
fi

status=0
RIVIA_URL="$url" RIVIA_SERVER_LOG="$log" \
    "$py" -m pytest -p no:cacheprovider -v -rfEs "$here/test_dashboard.py" "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "----- server log (last 100 lines) -----" >&2
    tail -n 100 "$log" >&2 || true
    echo "dashboard test: screenshots and pages of failed steps are in $DASHBOARD_ARTIFACTS" >&2
fi
exit "$status"
