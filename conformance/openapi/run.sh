#!/usr/bin/env bash
# Generated requests from the OpenAPI document (issue #13 §4): schemathesis reads
# /openapi.json of a freshly started `rivia serve` and sends what it generates from it,
# checking that no answer is a server error and that answers match the document.
#
# Usage: conformance/openapi/run.sh [PATH_TO_RIVIA_BINARY] [extra schemathesis args...]
#   RIVIA_DATABASE_URL   postgres://... to use PostgreSQL (unset = SQLite in a temp dir)
#   ST_MAX_EXAMPLES      examples per operation (default 25)
#   ST_MAX_TIME          seconds for the whole run (default 150)
#   ST_VENV              virtualenv (default <repo>/.venv-schemathesis), made if missing
#
# The requests run as the owner of instance `stinst` (its key in X-API-KEY), with the
# `{instance}` path parameter fixed to it so that generated requests reach the handlers
# instead of stopping at "Instance was not found.". Operations that would end the run's
# world (deleting or renaming the instance, resetting the owner's key) are left out.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${1:-$repo/target/debug/rivia}"
if [ $# -gt 0 ]; then shift; fi
VENV="${ST_VENV:-$repo/.venv-schemathesis}"
# Pinned: a new schemathesis may add checks; take them in on purpose.
ST_VERSION="4.32.5"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
    echo "openapi: installing schemathesis $ST_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip --disable-pip-version-check --no-input install --quiet "schemathesis==$ST_VERSION"
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/rivia-openapi.XXXXXX")"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$workdir"
}
trap cleanup EXIT

"$bin" serve --bind 127.0.0.1:0 --data-dir "$workdir/data" --poll-timeout 1 --anon-rate 0 \
    >"$workdir/stdout" 2>"$workdir/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 600); do
    url="$(grep -o 'http://[0-9.:]*' "$workdir/stdout" | head -1 || true)"
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; echo "openapi: rivia exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "openapi: rivia did not start" >&2; cat "$workdir/server.log" >&2; exit 1; }
echo "openapi: rivia at $url" >&2

# The world the requests act in: an owner, an instance, a class with a few fields.
key="$("$VENV/bin/python" - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(method, path, body, key=None):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **({"x-api-key": key} if key else {})})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
key = call("POST", "/v1.1/account/register/", {"email": "st@example.com", "password": "st-password"})["account_key"]
call("POST", "/v1.1/instances/", {"name": "stinst"}, key)
call("POST", "/v1.1/instances/stinst/classes/", {"name": "things", "schema": [
    {"name": "title", "type": "string", "filter_index": True, "order_index": True},
    {"name": "n", "type": "integer", "filter_index": True}, {"name": "tags", "type": "array", "filter_index": True},
    {"name": "ref", "type": "reference", "target": "self", "filter_index": True}]}, key)
call("POST", "/v1.1/instances/stinst/classes/things/objects/", {"title": "one", "n": 1}, key)
call("POST", "/v1.1/instances/stinst/channels/", {"name": "room", "custom_publish": True}, key)
print(key)
PY
)"

cat >"$workdir/schemathesis.toml" <<TOML
[parameters]
"path.instance" = "stinst"
"path.class" = "things"
TOML

status=0
"$VENV/bin/schemathesis" --config-file "$workdir/schemathesis.toml" run "$url/openapi.json" \
    --header "X-API-KEY: $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${ST_MAX_EXAMPLES:-25}" --max-time "${ST_MAX_TIME:-150}" \
    --exclude-operation-id-regex '^(delete_v1_1_instances__instance_|post_v1_1_instances__instance__rename|post_v1_1_account_reset_key)$' \
    --request-timeout 20 --workers "${ST_WORKERS:-1}" --seed "${ST_SEED:-$RANDOM}" "$@" || status=$?
if grep -q 'panicked' "$workdir/server.log"; then
    echo "openapi: the server log holds a panic:" >&2
    grep -B2 -A10 'panicked' "$workdir/server.log" >&2
    status=1
fi
exit "$status"
