# shellcheck shell=bash
# Sourced by conformance/run.sh and conformance/dashboard/run.sh: starts `rivia serve` on a
# free loopback port with a fresh data directory, waits (with a deadline) until it answers,
# and stops it and removes the directory when the calling script exits.
#
#   rivia_serve LABEL TMP_PREFIX BIN PY PROBE_PATH [NAME=VALUE...] [-- VAR_TO_UNSET...]
#     LABEL        prefix of the messages ("conformance")
#     TMP_PREFIX   name of the temporary directory ("rivia-conformance")
#     PY           a python3 (picks the port and polls)
#     PROBE_PATH   the path that must answer 200 ("v1.1/")
#     NAME=VALUE   extra server environment; after `--`, variables the server must not see
#   Sets: url, log, workdir, server_pid. Fails (exit 1, with the server log) if the server
#   exits or does not answer 200 within 60 s.
#   RIVIA_DATABASE_URL  postgres://... to use PostgreSQL (unset/empty = SQLite in workdir)

rivia_serve_cleanup() {
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

rivia_serve() {
    local label="$1" prefix="$2" bin="$3" py="$4" probe="$5"
    shift 5
    local -a server_env=(RIVIA_INSTANCE_RATE=0 RIVIA_ADMIN_RATE=0 RIVIA_ANON_RATE=0 RIVIA_POLL_RATE=0)
    local -a hidden=(-u RIVIA_BIND -u RIVIA_DATA_DIR)
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do server_env+=("$1"); shift; done
    if [ $# -gt 0 ]; then shift; fi
    local var
    for var in "$@"; do hidden+=(-u "$var"); done

    workdir="$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")"
    log="$workdir/server.log"
    server_pid=""
    trap rivia_serve_cleanup EXIT
    trap 'exit 130' INT TERM

    local port
    port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    url="http://127.0.0.1:$port/"

    if [ -n "${RIVIA_DATABASE_URL:-}" ]; then
        server_env+=(RIVIA_DATABASE_URL="$RIVIA_DATABASE_URL")
        echo "$label: using PostgreSQL" >&2
    else
        unset RIVIA_DATABASE_URL || true
        echo "$label: using SQLite in $workdir/data" >&2
    fi

    echo "$label: starting $bin serve --bind 127.0.0.1:$port" >&2
    env "${hidden[@]}" "${server_env[@]}" \
        "$bin" serve --bind "127.0.0.1:$port" --data-dir "$workdir/data" >"$log" 2>&1 &
    server_pid=$!

    if ! "$py" - "$url$probe" "$server_pid" "$label" <<'PY'
import os, sys, time, urllib.request, urllib.error
url, pid, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 60
last = "no attempt"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print("%s: server process exited before answering" % label, file=sys.stderr)
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
print("%s: server did not answer 200 on %s within 60 s (%s)" % (label, url, last), file=sys.stderr)
sys.exit(1)
PY
    then
        echo "----- server log ($log) -----" >&2
        cat "$log" >&2 || true
        echo "-----------------------------" >&2
        exit 1
    fi
    echo "$label: server up at $url" >&2
}
