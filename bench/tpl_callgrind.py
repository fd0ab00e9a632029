#!/usr/bin/env python3
"""Instructions per request of a 100-object page as JSON and as HTML through the predefined
`objects_html_table` template, fresh pages (no memo hits), counted by callgrind: a
deterministic figure where the shared machine makes wall-clock ones noisy.

Usage: bench/tpl_callgrind.py [--binary target/release/rivia] [--objects 400] [--requests 40]
       [--backend sqlite|postgres]
Runs the server under `valgrind --tool=callgrind`, seeds as bench.py's objects suite does, zeroes
the counters, sends the requests one by one and dumps; prints Ir per request for each case and
leaves the dumps (callgrind_annotate them) in the printed directory.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def total_ir(path):
    """The `summary:`/`totals:` Ir of a callgrind dump."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/rivia")
    ap.add_argument("--objects", type=int, default=400)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--backend", default="sqlite")
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="rivia-callgrind-")
    wrapper = os.path.join(out, "rivia")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out}/callgrind.%p "
                f"{os.path.abspath(args.binary)} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    pg_base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    server = bench.Server(wrapper, args.backend, pg_base)
    try:
        key, cases = bench.seed_objects(server, args.objects)
        server.settle()
        pid = str(server.proc.pid)
        for label, path, _body, headers in cases:
            if "fresh pages" not in label:
                continue
            headers = headers or {"X-API-KEY": key}
            # One request first so that one-time work (compiling the template) is not counted.
            urllib.request.urlopen(urllib.request.Request(server.url + path.replace(bench.ROTATING, "1"),
                                                          headers=headers)).read()
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            for i in range(args.requests):
                last_pk = 2 + i * (args.objects - 100) // args.requests
                req = urllib.request.Request(server.url + path.replace(bench.ROTATING, str(last_pk)), headers=headers)
                urllib.request.urlopen(req).read()
            before = set(glob.glob(f"{out}/callgrind.*.*"))
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
            dump = sorted(set(glob.glob(f"{out}/callgrind.*.*")) - before)[-1]
            print(f"{label}: {total_ir(dump) / args.requests:,.0f} Ir/request  ({dump})", flush=True)
    finally:
        server.stop()
    print(f"dumps in {out}")


if __name__ == "__main__":
    main()
