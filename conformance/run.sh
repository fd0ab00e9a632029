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

workdir="$(mktemp -d "${TMPDIR:-/tmp}/rivia-conformance.XXXXXX")"
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

port="$("$py" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
)"
url="http://127.0.0.1:$port/"

server_env=(
    RIVIA_INSTANCE_RATE=0 RIVIA_ADMIN_RATE=0 RIVIA_ANON_RATE=0 RIVIA_POLL_RATE=0
    # Test-only: schedules may run every second, so the schedule test need not wait 30 s.
    RIVIA_TEST_SCHEDULE_MIN_INTERVAL=1
)
if [ -n "${RIVIA_DATABASE_URL:-}" ]; then
    server_env+=(RIVIA_DATABASE_URL="$RIVIA_DATABASE_URL")
    echo "conformance: using PostgreSQL" >&2
else
    unset RIVIA_DATABASE_URL || true
    echo "conformance: using SQLite in $workdir/data" >&2
fi

echo "conformance: starting $bin serve --bind 127.0.0.1:$port" >&2
env -u RIVIA_BIND -u RIVIA_DATA_DIR "${server_env[@]}" \
    "$bin" serve --bind "127.0.0.1:$port" --data-dir "$workdir/data" >"$log" 2>&1 &
server_pid=$!

if ! "$py" - "$url" "$server_pid" <<'PY'
import os, sys, time, urllib.request, urllib.error
url, pid = sys.argv[1] + "v1.1/", int(sys.argv[2])
deadline = time.monotonic() + 60
last = "no attempt"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print("conformance: server process exited before answering", file=sys.stderr)
        sys.exit(1)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
            last = "status %d" % r.status
    except urllib.error.HTTPError as e:
        last = "status %d" % e.code
    except Exception as e:  # connection refused while starting
        last = repr(e)
    time.sleep(0.2)
print("conformance: server did not answer 200 on %s within 60 s (%s)" % (url, last), file=sys.stderr)
sys.exit(1)
PY
then
    echo "----- server log ($log) -----" >&2
    cat "$log" >&2 || true
    echo "-----------------------------" >&2
    exit 1
fi
echo "conformance: server up at $url" >&2

status=0
RIVIA_URL="$url" PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" -m pytest -p no:cacheprovider -v -rfE "$here/test_client.py" "$here/test_cli.py" "$@" || status=$?

if [ "$status" -ne 0 ]; then
    echo "----- server log (last 200 lines) -----" >&2
    tail -n 200 "$log" >&2 || true
    echo "---------------------------------------" >&2
fi
exit "$status"
