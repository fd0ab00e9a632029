#!/usr/bin/env python3
"""Backup and restore throughput (issue #19), on SQLite and PostgreSQL, against a release
`rivia serve` (bench.py's `Server`: fresh data directory, fresh PostgreSQL database).

Seeds an instance `bench` with --objects objects (batch endpoint, 50 per request), --users
users and --files-mb MB of files (1 MB files uploaded by multipart into a `file` field of as
many objects), then per backend:

* backup through the API (`POST .../backups/full/`, polled until `success`) and through the
  CLI (`rivia backup create --out`, run beside the live server);
* restore through the API (`restores/` with `{"backup": id}` into a new empty instance) and
  through the CLI (`rivia backup restore` into a new instance);
* objects/s and MB/s (archive bytes) each way, and the peak RSS during each: the server's
  VmRSS sampled every 20 ms for the API (peak − before), the CLI process's own peak (wait4
  ru_maxrss);
* wrk -c16 on `GET .../objects/<id>/` with backups running back to back against without,
  alternating --rounds rounds; the ratio of the medians (target ≥ 70%).

Usage: bench/backup.py [--binary target/release/rivia] [--backends sqlite,postgres]
       [--objects 100000] [--users 1000] [--files-mb 100] [--duration 10] [--rounds 3]
Quick run: bench/backup.py --backends sqlite --objects 5000 --users 50 --files-mb 10 --rounds 1
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Server, call, median_run, wrk  # noqa: E402

INSTANCE = "bench"
CLASS_PATH = f"/v1.1/instances/{INSTANCE}/classes/items/objects/"


def multipart_upload(server, key, path, field, filename, content):
    """POST a multipart body with one file field; the created object."""
    boundary = "RiviaBackupBenchBoundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(server.url + path, data=body, method="POST")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    req.add_header("X-API-KEY", key)
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def seed(server, objects, users, files_mb):
    """The instance `bench`: class `items` (score, title, a file field), `objects` objects,
    `users` users, `files_mb` files of 1 MB (each on an object of its own)."""
    reg = call(server, "POST", "/v1.1/account/register/", body={"email": "bench@example.com", "password": "bench"})
    key = reg["account_key"]
    call(server, "POST", "/v1.1/instances/", key, {"name": INSTANCE})
    schema = [{"name": "score", "type": "integer", "filter_index": True, "order_index": True},
              {"name": "title", "type": "string"}, {"name": "doc", "type": "file"}]
    call(server, "POST", f"/v1.1/instances/{INSTANCE}/classes/", key, {"name": "items", "schema": schema})

    def batch(start):
        n = min(50, objects - start)
        reqs = [{"method": "POST", "path": CLASS_PATH,
                 "body": {"score": (start + i) * 7919 % 10000, "title": f"item {start + i}"}} for i in range(n)]
        call(server, "POST", f"/v1.1/instances/{INSTANCE}/batch/", key, {"requests": reqs})

    def user_batch(start):
        n = min(50, users - start)
        reqs = [{"method": "POST", "path": f"/v1.1/instances/{INSTANCE}/users/",
                 "body": {"username": f"user{start + i:05}", "password": "pw"}} for i in range(n)]
        call(server, "POST", f"/v1.1/instances/{INSTANCE}/batch/", key, {"requests": reqs})

    def upload(i):
        # Distinct content per file (the store names files by content hash).
        content = (i.to_bytes(4, "big") * 262144)[: 1 << 20]
        multipart_upload(server, key, CLASS_PATH, "doc", f"f{i}.bin", content)

    t0 = time.time()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, objects, 50)))
        list(pool.map(user_batch, range(0, users, 50)))
        list(pool.map(upload, range(files_mb)))
    server.settle()
    return key, time.time() - t0


class RssWatch(threading.Thread):
    """Peak VmRSS of a process, sampled every 20 ms until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.before = self.sample()

    def sample(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.join()
        self.peak = max(self.peak, self.sample())
        return self.before, self.peak


def wait_status(server, key, path, timeout=3600):
    """Polls a job until it leaves scheduled/running; its last JSON."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = call(server, "GET", path, key)
        if job["status"] not in ("scheduled", "running", "uploading"):
            return job
        time.sleep(0.05)
    raise SystemExit(f"{path} did not finish")


def api_backup(server, key):
    """(seconds, backup JSON) of one backup through the API."""
    t0 = time.time()
    job = call(server, "POST", f"/v1.1/instances/{INSTANCE}/backups/full/", key, {})
    job = wait_status(server, key, f"/v1.1/instances/{INSTANCE}/backups/full/{job['id']}/")
    if job["status"] != "success":
        raise SystemExit(f"backup failed: {job}")
    return time.time() - t0, job


def api_restore(server, key, backup_id, target):
    call(server, "POST", "/v1.1/instances/", key, {"name": target})
    t0 = time.time()
    job = call(server, "POST", f"/v1.1/instances/{target}/restores/", key, {"backup": backup_id})
    job = wait_status(server, key, f"/v1.1/instances/{target}/restores/{job['id']}/")
    if job["status"] != "success":
        raise SystemExit(f"restore failed: {job}")
    return time.time() - t0


def cli(args, server, *argv):
    """(seconds, peak RSS MiB) of a `rivia backup …` command against the server's store."""
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("RIVIA_DATABASE_URL", None)
    cmd = [args.binary, "backup", *argv, "--data-dir", server.dir]
    if server.db:
        cmd += ["--database-url", server.pg_base.rsplit("/", 1)[0] + "/" + server.db]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.time() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024


def objects_count(server, key, instance):
    """Objects of the class `items` of `instance`: exact (on PostgreSQL the API's
    `objects_count` is the planner's estimate above 1,000)."""
    if not server.db:
        return call(server, "GET", f"/v1.1/instances/{instance}/classes/items/", key)["objects_count"]
    url = server.pg_base.rsplit("/", 1)[0] + "/" + server.db
    sql = (f"SELECT c.id FROM classes c JOIN instances i ON i.id = c.instance_id "
           f"WHERE i.name = '{instance}' AND c.name = 'items'")
    class_id = subprocess.run(["psql", url, "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()
    count = subprocess.run(["psql", url, "-tAc", f"SELECT COUNT(*) FROM c{int(class_id)}"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return int(count)


class BackupLoop(threading.Thread):
    """Backups through the API, one after another (each deleted once done), until stopped."""

    def __init__(self, server, key):
        super().__init__(daemon=True)
        self.server, self.key, self.stop, self.done = server, key, threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            _, job = api_backup(self.server, self.key)
            self.done += 1
            call(self.server, "DELETE", f"/v1.1/instances/{INSTANCE}/backups/full/{job['id']}/", self.key)


def run_backend(args, backend, pg_base, rows):
    server = Server(args.binary, backend, pg_base)
    try:
        key, seed_s = seed(server, args.objects, args.users, args.files_mb)
        total = args.objects + args.files_mb
        print(f"<!-- {backend}: seeded {total:,} objects, {args.users:,} users, {args.files_mb} MB of files "
              f"in {seed_s:.0f} s -->", flush=True)
        archive = os.path.join(server.dir, "cli-backup.tar")

        watch = RssWatch(server.proc.pid)
        watch.start()
        secs, job = api_backup(server, key)
        before, peak = watch.finish()
        size_mb = job["size"] / 1e6
        rows.append((backend, "backup, API", secs, total, size_mb, f"server {before:.0f} → {peak:.0f}"))

        secs, cli_peak = cli(args, server, "create", "--instance", INSTANCE, "--out", archive)
        rows.append((backend, "backup, CLI", secs, total, os.path.getsize(archive) / 1e6, f"CLI {cli_peak:.0f}"))

        watch = RssWatch(server.proc.pid)
        watch.start()
        secs = api_restore(server, key, job["id"], "restored-api")
        before, peak = watch.finish()
        got = objects_count(server, key, "restored-api")
        if got != total:
            raise SystemExit(f"the API restore holds {got} objects, not {total}")
        rows.append((backend, "restore, API", secs, total, size_mb, f"server {before:.0f} → {peak:.0f}"))

        secs, cli_peak = cli(args, server, "restore", archive, "--instance", "restored-cli")
        got = objects_count(server, key, "restored-cli")
        if got != total:
            raise SystemExit(f"the CLI restore holds {got} objects, not {total}")
        rows.append((backend, "restore, CLI", secs, total, os.path.getsize(archive) / 1e6, f"CLI {cli_peak:.0f}"))
        os.unlink(archive)
        call(server, "DELETE", f"/v1.1/instances/{INSTANCE}/backups/full/{job['id']}/", key)

        # Reads during backups against reads without, alternating.
        url = server.url + CLASS_PATH + "17/"
        quiet, busy, backups = [], [], 0
        for _ in range(args.rounds):
            quiet.append(wrk(url, 16, args.duration, {"X-API-KEY": key}, None, server.proc.pid))
            loop = BackupLoop(server, key)
            loop.start()
            busy.append(wrk(url, 16, args.duration, {"X-API-KEY": key}, None, server.proc.pid))
            loop.stop.set()
            loop.join()
            backups += loop.done
        q, b = median_run(quiet), median_run(busy)
        return (backend, q, b, backups)
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/rivia")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--files-mb", type=int, default=100, help="files of 1 MB, one per extra object")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating without/with-backup wrk rounds")
    args = ap.parse_args()
    pg_base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"# backup/restore: {args.objects:,} objects + {args.files_mb} with a 1 MB file, {args.users:,} users; "
          f"{os.cpu_count()} cores, load average {' '.join(load)} at start")
    rows, reads = [], []
    for backend in args.backends.split(","):
        reads.append(run_backend(args, backend, pg_base, rows))
    print("| backend | operation | seconds | objects/s | archive MB | MB/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for backend, op, secs, n, mb, rss in rows:
        print(f"| {backend} | {op} | {secs:.2f} | {n / secs:,.0f} | {mb:.1f} | {mb / secs:.1f} | {rss} |")
    print()
    print(f"`GET .../objects/17/`, wrk -c16 -d{args.duration}s, median of {args.rounds} alternating rounds:")
    print("| backend | req/s without | p99 ms | req/s during backups | p99 ms | ratio | backups done |")
    print("|---|---|---|---|---|---|---|")
    for backend, q, b, n in reads:
        print(f"| {backend} | {q[0]:,.0f} | {q[2]:.2f} | {b[0]:,.0f} | {b[2]:.2f} | {b[0] / q[0]:.0%} | {n} |")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\nload average at the end: {' '.join(load)}")


if __name__ == "__main__":
    sys.exit(main())
