#!/usr/bin/env python3
"""Rivia benchmarks: wrk on loopback against a release `rivia serve`, on SQLite and on
PostgreSQL, each figure next to a baseline measured in the same run (a handler of the same
binary returning a fixed JSON body of the same size).

Every figure is also set against a bare axum server (bench/baseline, no Rivia code, same allocator)
returning the same fixed body; it is built on first use.

Usage: bench/bench.py SUITE [--binary target/release/rivia] [--duration 10] [--backends sqlite,postgres]
       [--cases create,list] [--concurrency 1,16,64] [--rounds 3] [--bare target/release/axum-baseline]
       [--wrk-threads N]
Suites: users, objects (--objects N), dataendpoints (--objects N). The objects suite lists 100
objects as JSON and as HTML through the predefined objects_html_table template twice: "fresh
pages" cases ask for a different page every request (`direction=1&last_pk=N`, N rotating over
ROTATE values, each wrk thread from its own start), so every HTML request is rendered anew; "same
page" cases ask for one page again and again, which the response path answers from its memo of
rendered pages. Lines after the table give each HTML case's req/s as a share
of the JSON case of the same kind, per backend and concurrency. The dataendpoints suite reads
100 objects through a data endpoint's get/, with and without expand on a reference field, and
the same 100 objects through the direct list. --pair-rounds N runs each paired case and its
baseline back to back N times and prints each round's share (PAIRS). Needs wrk (apt-get install wrk) and,
for PostgreSQL, BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; a fresh database
is created per run).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

CONCURRENCY = (1, 16, 64)
# Pages the "fresh pages" cases rotate over: far more than the template memo keeps (256), and
# each wrk thread starts half a cycle from the other, so no request finds its page rendered.
ROTATE = 1800
# In a case's path, replaced by the rotating `last_pk` (0 for the size probe).
ROTATING = "{last_pk}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, backend, pg_base, extra_env=None):
        """`extra_env` adds variables to the server's environment (None as a value removes one)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="rivia-bench-")
        env = dict(os.environ, RIVIA_INSTANCE_RATE="0", RIVIA_ADMIN_RATE="0", RIVIA_ANON_RATE="0",
                   RIVIA_POLL_RATE="0", RIVIA_BENCH_BASELINE="true", RUST_LOG="warn")
        for k, v in (extra_env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.db = None
        if backend == "postgres":
            self.db = "rivia_bench_" + uuid.uuid4().hex[:8]
            subprocess.run(["psql", pg_base, "-qc", f"CREATE DATABASE {self.db}"], check=True)
            env["RIVIA_DATABASE_URL"] = pg_base.rsplit("/", 1)[0] + "/" + self.db
        self.pg_base = pg_base
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{self.port}", "--data-dir", self.dir],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/v1.1/", timeout=1).read()
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit(f"server did not start; log in {self.dir}/server.log")

    def settle(self):
        """After seeding: on PostgreSQL, ANALYZE, as autovacuum would within its next minute
        on a live database. Measured right after a bulk load, the planner still has the
        statistics of empty tables (the 100-user page then sorted every user of the
        instance: 1.5 ms of PostgreSQL time instead of 0.2)."""
        if self.db:
            subprocess.run(["psql", self.pg_base.rsplit("/", 1)[0] + "/" + self.db, "-qc", "ANALYZE"], check=True)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.db:
            subprocess.run(["psql", self.pg_base, "-qc", f"DROP DATABASE IF EXISTS {self.db}"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bare:
    """The bare axum baseline (bench/baseline): `/_bench/fixed/{bytes}/` like Rivia's."""

    def __init__(self, binary):
        if not os.path.exists(binary):
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            subprocess.run(["cargo", "build", "--release", "--manifest-path",
                            os.path.join(root, "bench/baseline/Cargo.toml"), "--target-dir",
                            os.path.join(root, "target")], check=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([binary, f"127.0.0.1:{self.port}"])
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/_bench/fixed/100/", timeout=1).read()
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("the bare axum baseline did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def call(server, method, path, key=None, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-API-KEY", key)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def sample_response(url, headers, post_body):
    """Status and body of one request like wrk's, to show why wrk saw errors."""
    data = json.dumps(post_body).encode() if post_body is not None else None
    req = urllib.request.Request(url, data=data, headers=dict(headers, **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return f"{resp.status} {resp.read()[:300]!r}"
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.read()[:300]!r}"


# wrk threads per run (--wrk-threads); 0: one per connection up to two, so on two cores the
# client is not what limits the bare baseline.
WRK_THREADS = 0


def wrk(url, concurrency, duration, headers, post_body=None, pid=None):
    """(req/s, p50 ms, p99 ms, server CPU µs per request)."""
    threads = min(concurrency, WRK_THREADS or 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{duration}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    script = None
    if post_body is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(post_body))}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
    elif ROTATING in url:
        # Every request its own page: the path's `{last_pk}` steps through ROTATE values.
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        before, after = url.split(ROTATING, 1)
        before = before[before.index("/", len("http://")):]  # the path, without scheme and host
        script.write(f'local threads, n = 0, 0\n'
                     f'function setup(thread) thread:set("start", threads * {ROTATE // 2}); threads = threads + 1 end\n'
                     f'function init(args) n = start end\n'
                     f'function request()\n'
                     f'  n = (n + 1) % {ROTATE}\n'
                     f'  return wrk.format(nil, {json.dumps(before)} .. n .. {json.dumps(after)})\n'
                     f'end\n')
        url = url.replace(ROTATING, "0")
    if script is not None:
        script.close()
        cmd += ["-s", script.name]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    if script is not None:
        os.unlink(script.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses from {url}:\n{out}\n"
                         f"one more request answers: {sample_response(url, headers, post_body)}")
    return rps, pct(50), pct(99), cpu * 1e6 / max(requests, 1)


def median_run(runs):
    """The (req/s, p50, p99, CPU µs/req) run with the median req/s."""
    return sorted(runs)[len(runs) // 2]


def seed_users(server):
    """The reference example (instance rivia: geralt in witchers, ciri, triss) and an
    instance of 1,000 users."""
    reg = call(server, "POST", "/v1.1/account/register/", body={"email": "bench@example.com", "password": "bench"})
    key = reg["account_key"]
    call(server, "POST", "/v1.1/instances/", key, {"name": "rivia"})
    for name in ("geralt", "ciri", "triss"):
        call(server, "POST", "/v1.1/instances/rivia/users/", key, {"username": name, "password": "pw"})
    call(server, "POST", "/v1.1/instances/rivia/groups/", key, {"label": "witchers"})
    call(server, "POST", "/v1.1/instances/rivia/users/1/groups/", key, {"group": 1})
    call(server, "POST", "/v1.1/instances/", key, {"name": "thousand"})
    call(server, "POST", "/v1.1/instances/thousand/groups/", key, {"label": "everyone"})

    def create(i):
        user = call(server, "POST", "/v1.1/instances/thousand/users/", key, {"username": f"user{i:04}", "password": "pw"})
        if i % 3 == 0:
            call(server, "POST", f"/v1.1/instances/thousand/users/{user['id']}/groups/", key, {"group": 1})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(1000)))
    return key, [
        ("GET /users/ (3 users)", "/v1.1/instances/rivia/users/"),
        ("GET /users/?page_size=100 (1,000 users)", "/v1.1/instances/thousand/users/?page_size=100"),
    ]


def seed_objects(server, count):
    """A class `items` (integer `score` filter- and order-indexed, string `title`) with
    `count` objects, a plain API key and a user, for reads as admin and creates as a user
    (the create path then runs the class gate and the owner/ACL rules)."""
    reg = call(server, "POST", "/v1.1/account/register/", body={"email": "bench@example.com", "password": "bench"})
    key = reg["account_key"]
    call(server, "POST", "/v1.1/instances/", key, {"name": "bench"})
    schema = [{"name": "score", "type": "integer", "filter_index": True, "order_index": True},
              {"name": "title", "type": "string"}]
    call(server, "POST", "/v1.1/instances/bench/classes/", key,
         {"name": "items", "schema": schema, "other_permissions": "create_objects"})
    api_key = call(server, "POST", "/v1.1/instances/bench/api_keys/", key, {"description": "bench"})["api_key"]
    user_key = call(server, "POST", "/v1.1/instances/bench/users/", key, {"username": "bench", "password": "pw"})["user_key"]
    path = "/v1.1/instances/bench/classes/items/objects/"

    def batch(start):
        # Scores spread over 0..9999 independently of creation order (7919 is prime to
        # 10,000, so every 10,000 consecutive objects take each score once).
        reqs = [{"method": "POST", "path": path,
                 "body": {"score": (start + i) * 7919 % 10000, "title": f"item {start + i}"}}
                for i in range(50)]
        call(server, "POST", "/v1.1/instances/bench/batch/", key, {"requests": reqs})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, count, 50)))
    query = urllib.parse.quote(json.dumps({"score": {"_gt": 5000}}))
    user = {"X-API-KEY": api_key, "X-USER-KEY": user_key}
    html = {"X-API-KEY": key, "X-TEMPLATE-RESPONSE": "objects_html_table"}
    return key, [
        ("get one object by id", path + "17/", None, None),
        ("list 100 objects", path + "?page_size=100", None, None),
        # The same page through the predefined HTML template (response templates, rest §7):
        # asked again unchanged, it is answered from the memo of rendered pages.
        ("list 100 objects as HTML (template, same page: memo)", path + "?page_size=100", None, html),
        # A different page every request (see ROTATE): every HTML page is rendered anew.
        ("list 100 objects, fresh pages", f"{path}?page_size=100&direction=1&last_pk={ROTATING}", None, None),
        ("list 100 objects as HTML (template, fresh pages)", f"{path}?page_size=100&direction=1&last_pk={ROTATING}",
         None, html),
        (f"filtered list + count, {count:,} objects", f"{path}?query={query}&page_size=100&include_count=true", None, None),
        ("create one object as a user (ACL)", path, {"score": 1, "title": "new"}, user),
    ]


def seed_data_endpoints(server, count):
    """A class `tags` and a class `items` (integer `score`, string `title`, a reference `tag`
    to a tags object of its own, a reference `kind` to one of the first 10 tags), `count`
    items, and three data endpoints over items, 100 a page: `page`, `expanded`
    (`expand=tag`: 100 distinct objects to read and nest, the worst case) and `kinds`
    (`expand=kind`: 10 distinct, each nested 10 times). The direct list of the same 100
    items is the baseline of all three (rest §5)."""
    reg = call(server, "POST", "/v1.1/account/register/", body={"email": "bench@example.com", "password": "bench"})
    key = reg["account_key"]
    call(server, "POST", "/v1.1/instances/", key, {"name": "bench"})
    call(server, "POST", "/v1.1/instances/bench/classes/", key,
         {"name": "tags", "schema": [{"name": "label", "type": "string"}]})
    schema = [{"name": "score", "type": "integer", "filter_index": True, "order_index": True},
              {"name": "title", "type": "string"},
              {"name": "tag", "type": "reference", "target": "tags"},
              {"name": "kind", "type": "reference", "target": "tags"}]
    call(server, "POST", "/v1.1/instances/bench/classes/", key, {"name": "items", "schema": schema})
    path = "/v1.1/instances/bench/classes/items/objects/"

    def batch(start):
        tags = [{"method": "POST", "path": "/v1.1/instances/bench/classes/tags/objects/",
                 "body": {"label": f"tag {start + i}"}} for i in range(50)]
        made = call(server, "POST", "/v1.1/instances/bench/batch/", key, {"requests": tags})
        items = [{"method": "POST", "path": path,
                  "body": {"score": (start + i) * 7919 % 10000, "title": f"item {start + i}",
                           "tag": r["content"]["id"], "kind": first_tags[(start + i) % 10]}}
                 for i, r in enumerate(made)]
        call(server, "POST", "/v1.1/instances/bench/batch/", key, {"requests": items})

    first_tags = [call(server, "POST", "/v1.1/instances/bench/classes/tags/objects/", key,
                       {"label": f"kind {i}"})["id"] for i in range(10)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, count, 50)))
    endpoints = "/v1.1/instances/bench/endpoints/data/"
    call(server, "POST", endpoints, key, {"name": "page", "class": "items", "page_size": 100})
    call(server, "POST", endpoints, key, {"name": "expanded", "class": "items", "page_size": 100, "expand": "tag"})
    call(server, "POST", endpoints, key, {"name": "kinds", "class": "items", "page_size": 100, "expand": "kind"})
    return key, [
        ("list 100 objects (direct)", path + "?page_size=100"),
        ("data endpoint get/, 100 objects", endpoints + "page/get/"),
        ("data endpoint get/, 100 objects, expand=tag (100 distinct)", endpoints + "expanded/get/"),
        ("data endpoint get/, 100 objects, expand=kind (10 distinct)", endpoints + "kinds/get/"),
    ]


SUITES = {"users": lambda server, _count: seed_users(server), "objects": seed_objects,
          "dataendpoints": seed_data_endpoints}

# Per suite, the cases measured as shares of another case (`--pair-rounds`): (case, baseline).
PAIRS = {
    "objects": [("list 100 objects as HTML (template, fresh pages)", "list 100 objects, fresh pages")],
    "dataendpoints": [("data endpoint get/, 100 objects", "list 100 objects (direct)"),
                      ("data endpoint get/, 100 objects, expand=tag (100 distinct)", "list 100 objects (direct)"),
                      ("data endpoint get/, 100 objects, expand=kind (10 distinct)", "list 100 objects (direct)")],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=sorted(SUITES))
    ap.add_argument("--binary", default="target/release/rivia")
    ap.add_argument("--bare", default="target/release/axum-baseline", help="the bare axum baseline binary")
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "10")))
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--objects", type=int, default=10000, help="objects to seed (objects suite)")
    ap.add_argument("--cases", default="", help="only cases whose label contains one of these comma-separated words")
    ap.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="comma-separated wrk -c values")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "1")),
                    help="alternating case/baseline runs per figure; the median run is reported")
    ap.add_argument("--pair-rounds", type=int, default=0,
                    help="also this many back-to-back rounds of each paired case and its baseline, with "
                         "each round's share (objects: the fresh-page HTML page against the JSON list; "
                         "dataendpoints: get/ and get/ with expand against the direct list)")
    ap.add_argument("--wrk-threads", type=int, default=0,
                    help="wrk -t for every run (default 0: min(c, 2)); 1 is the client setting of issue #14's "
                         "table, under which one wrk thread limits the bare baseline on two cores")
    args = ap.parse_args()
    global WRK_THREADS
    WRK_THREADS = args.wrk_threads
    pg_base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    threads = f"-t{args.wrk_threads}" if args.wrk_threads else "-t min(c, 2)"
    print(f"# bench {args.suite}: wrk {threads} -d{args.duration}s on loopback, median of {args.rounds} alternating "
          f"case/baseline round(s); server and wrk share {os.cpu_count()} cores")
    print("Columns: Rivia's figures; `in-binary` is Rivia's own `/_bench/fixed/{bytes}/`, `bare` a bare axum "
          "server returning the same body; ratios are req/s against each; CPU is the server's user+system "
          "µs per request.")
    print("| backend | request | c | req/s | p50 ms | p99 ms | CPU µs/req | in-binary req/s | ratio | "
          "bare req/s | bare p99 | bare CPU µs/req | ratio vs bare |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bare = Bare(args.bare)
    try:
        run_backends(args, pg_base, bare)
    finally:
        bare.stop()


def run_backends(args, pg_base, bare):
    shares = []
    for backend in args.backends.split(","):
        server = Server(args.binary, backend, pg_base)
        try:
            key, cases = SUITES[args.suite](server, args.objects)
            server.settle()
            wanted = [w for w in args.cases.split(",") if w]
            for case in cases:
                label, path, body, headers = (case + (None, None))[:4]
                if wanted and not any(w in label for w in wanted):
                    continue
                headers = headers or {"X-API-KEY": key}
                if body is None:
                    probe = server.url + path.replace(ROTATING, "0")
                    size = len(urllib.request.urlopen(urllib.request.Request(probe, headers=headers)).read())
                else:
                    size = len(json.dumps(call(server, "POST", path, body=body, headers=headers)))
                for c in map(int, args.concurrency.split(",")):
                    # Case and baseline alternate; with several rounds each figure is the
                    # round with the median req/s (the machine's noise hits both alike).
                    pid = server.proc.pid
                    runs = [(wrk(server.url + path, c, args.duration, headers, body, pid),
                             wrk(f"{server.url}/_bench/fixed/{size}/", c, args.duration, headers, None, pid),
                             wrk(f"{bare.url}/_bench/fixed/{size}/", c, args.duration, headers, None,
                                 bare.proc.pid))
                            for _ in range(args.rounds)]
                    rps, p50, p99, cpu = median_run([r[0] for r in runs])
                    shares.append((backend, label, c, rps))
                    brps, _, _, _ = median_run([r[1] for r in runs])
                    xrps, _, x99, xcpu = median_run([r[2] for r in runs])
                    print(f"| {backend} | {label} ({size} B) | {c} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {cpu:.1f} | "
                          f"{brps:,.0f} | {rps / brps:.2f} | {xrps:,.0f} | {x99:.2f} | {xcpu:.1f} | "
                          f"{rps / xrps:.2f} |", flush=True)
            print(f"<!-- {backend}: server RSS after the run {server.rss_mib():.0f} MiB -->", flush=True)
            if args.pair_rounds:
                pair_shares(args, backend, server, key, cases)
        finally:
            server.stop()
    print_template_shares(shares)


def pair_shares(args, backend, server, key, cases):
    """Each of the suite's paired cases (PAIRS) against its baseline case, back to back in
    each round: the machine's slow and fast spells (the bare baseline's req/s can halve for
    a minute) then hit both sides of a round alike. Prints each round's share and the median."""
    by_label = {c[0]: (c + (None, None))[:4] for c in cases}
    pid = server.proc.pid
    for label, base_label in PAIRS.get(args.suite, []):
        case, base = by_label.get(label), by_label.get(base_label)
        if not case or not base:
            continue
        for c in map(int, args.concurrency.split(",")):
            shares = []
            for _ in range(args.pair_rounds):
                base_rps = wrk(server.url + base[1], c, args.duration, base[3] or {"X-API-KEY": key}, None, pid)[0]
                case_rps = wrk(server.url + case[1], c, args.duration, case[3] or {"X-API-KEY": key}, None, pid)[0]
                shares.append((case_rps / base_rps, case_rps, base_rps))
            listed = ", ".join(f"{s:.0%} ({h:,.0f}/{j:,.0f})" for s, h, j in shares)
            median = sorted(shares)[len(shares) // 2][0]
            print(f"<!-- {backend}, c={c}: {label} against {base_label}, back to back, "
                  f"{args.pair_rounds} rounds: {listed}; median {median:.0%} -->", flush=True)


def print_template_shares(results):
    """Each templated case's req/s as a share of the JSON case of the same kind, where both ran."""
    pairs = [("list 100 objects as HTML (template, fresh pages)", "list 100 objects, fresh pages",
              "rendered anew (fresh pages)"),
             ("list 100 objects as HTML (template, same page: memo)", "list 100 objects",
              "same page again (memo hit)")]
    found = {(b, label, c): rps for b, label, c, rps in results}
    for html, plain, what in pairs:
        for backend, label, c, rps in results:
            if label == html and (backend, plain, c) in found:
                print(f"<!-- {backend}, c={c}: HTML through objects_html_table, {what}, at "
                      f"{rps / found[(backend, plain, c)]:.0%} of the JSON list's req/s "
                      f"({rps:,.0f} vs {found[(backend, plain, c)]:,.0f}) -->", flush=True)

if __name__ == "__main__":
    sys.exit(main())
