#!/usr/bin/env python3
"""Scripts through the API: a hello-world python3 script, `run/` to `success`, against a
running Rivia (start one with `target/release/rivia serve --data-dir $(mktemp -d)`).

Each run is timed from the POST of `run/` until its trace reads `success` (polled every
5 ms), at concurrency 1 and 4; the same run also times the bare interpreter start
(`python3 -c pass`). Prints p50/p99 latency and runs/s.

    bench/scripts_run.py [--url http://127.0.0.1:8080/] [--runs 200]
"""
import argparse
import json
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid


def call(url, method='GET', key=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header('Content-Type', 'application/json')
    if key:
        req.add_header('X-API-KEY', key)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b'null')


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def one_run(base, key):
    start = time.perf_counter()
    trace = call(base + 'run/', 'POST', key, {'payload': {}})
    url = base + 'traces/{}/'.format(trace['id'])
    while True:
        t = call(url, key=key)
        if t['status'] not in ('pending', 'processing'):
            assert t['status'] == 'success', t
            return time.perf_counter() - start
        time.sleep(0.005)


def measure(base, key, runs, concurrency):
    latencies, lock = [], threading.Lock()
    per_thread = runs // concurrency

    def worker():
        for _ in range(per_thread):
            d = one_run(base, key)
            with lock:
                latencies.append(d)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return latencies, len(latencies) / elapsed


def bare(runs):
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(['python3', '-c', 'pass'], check=True)
        out.append(time.perf_counter() - start)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', default='http://127.0.0.1:8080/')
    ap.add_argument('--runs', type=int, default=200)
    args = ap.parse_args()
    root = args.url.rstrip('/') + '/v1.1/'
    tag = uuid.uuid4().hex[:8]
    key = call(root + 'account/register/', 'POST', None,
               {'email': 'bench-{}@example.com'.format(tag), 'password': 'secret'})['account_key']
    name = 'bench-' + tag
    call(root + 'instances/', 'POST', key, {'name': name})
    script = call(root + 'instances/{}/snippets/scripts/'.format(name), 'POST', key,
                  {'runtime_name': 'python3', 'source': "print('hello world')"})
    base = root + 'instances/{}/snippets/scripts/{}/'.format(name, script['id'])
    one_run(base, key)  # warm-up
    b = bare(50)
    print('bare python3 -c pass: p50 {:.1f} ms, p99 {:.1f} ms'.format(
        statistics.median(b) * 1000, pct(b, 99) * 1000))
    for c in (1, 4):
        lat, rate = measure(base, key, args.runs, c)
        print('run/ -> success, c={}: p50 {:.1f} ms, p99 {:.1f} ms, {:.1f} runs/s'.format(
            c, statistics.median(lat) * 1000, pct(lat, 99) * 1000, rate))


if __name__ == '__main__':
    main()
