#!/usr/bin/env bash
# Channel long-poll benchmark: held pollers + RSS, open/drop memory, publish→delivery
# latency. Runs on SQLite, and on PostgreSQL when RIVIA_BENCH_DATABASE_URL points at a
# server where a fresh database may be created (e.g. postgres://postgres@127.0.0.1:5432/postgres).
#   bench/channels.sh [--held 10000] [--pollers 1000] [--rounds 20]
set -euo pipefail
cd "$(dirname "$0")/.."
# Every held poll is a socket on both sides.
ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p rivia-server --bin rivia --example channels_bench
bench=target/release/examples/channels_bench
"$bench" --server target/release/rivia "$@"
if [[ -n "${RIVIA_BENCH_DATABASE_URL:-}" ]]; then
  db="rivia_bench_$$"
  psql "$RIVIA_BENCH_DATABASE_URL" -qc "CREATE DATABASE $db"
  url="${RIVIA_BENCH_DATABASE_URL%/*}/$db"
  "$bench" --server target/release/rivia --database-url "$url" "$@"
  psql "$RIVIA_BENCH_DATABASE_URL" -qc "DROP DATABASE $db WITH (FORCE)"
fi
