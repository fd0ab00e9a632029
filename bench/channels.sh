#!/usr/bin/env bash
# Channel long-poll benchmark, the figures of issue #5: RSS with 10,000 held long polls,
# RSS before/after opening and dropping 10,000 polls (3 cycles), publish→delivery latency
# p50/p99 with 1,000 pollers on one channel, and RSS after 1,000 registrations (Argon2id).
# Runs on SQLite, then on PostgreSQL at RIVIA_BENCH_DATABASE_URL (a server where a fresh
# database may be created; default postgres://postgres@127.0.0.1:5432/postgres, set it
# empty to skip).
#   bench/channels.sh [--held 10000] [--pollers 1000] [--rounds 20] [--registrations 1000]
# RIVIA_BENCH_ALLOCATOR=glibc builds the server with tuned glibc malloc instead of
# mimalloc, for comparison. RIVIA_BENCH_SERVER=path benchmarks an already built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every held poll is a socket on both sides.
ulimit -n "$(ulimit -Hn)"
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
allocator=()
if [[ "${RIVIA_BENCH_ALLOCATOR:-}" == glibc ]]; then allocator=(--no-default-features); fi
cargo build --release -q -p rivia-server --bin rivia --example channels_bench "${allocator[@]}"
# Private copies: another build may replace the target directory's files mid-run.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "${RIVIA_BENCH_SERVER:-$target/release/rivia}" "$tmp/rivia"
cp "$target/release/examples/channels_bench" "$tmp/channels_bench"
args=(--registrations 1000 "$@")
"$tmp/channels_bench" --server "$tmp/rivia" "${args[@]}"
pg="${RIVIA_BENCH_DATABASE_URL-postgres://postgres@127.0.0.1:5432/postgres}"
if [[ -n "$pg" ]]; then
  db="rivia_bench_$$"
  psql "$pg" -qc "CREATE DATABASE $db"
  url="${pg%/*}/$db"
  "$tmp/channels_bench" --server "$tmp/rivia" --database-url "$url" "${args[@]}" || true
  psql "$pg" -qc "DROP DATABASE $db WITH (FORCE)"
fi
