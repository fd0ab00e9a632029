#!/usr/bin/env python3
"""Triggers through the API: object creates with and without a `post_create` trigger,
against a running Rivia (start one with `target/release/rivia serve --data-dir $(mktemp -d)`,
or with `--database-url postgres://…` for PostgreSQL).

1. Baseline: N creates (default 1,000) into a class without triggers, from C client
   threads (default 8); creates/s.
2. The same N creates into a class with a `post_create` trigger running a python3 script;
   creates/s, and the time from the last create's answer (its commit) until the last of the
   N trigger traces is written. Every trace is then read by id and must be `success`.

Trace ids count per instance in the order runs end, so the run that ends last has id N:
its appearance marks the end. Prints both throughputs, their ratio and the drain time.

    bench/triggers.py [--url http://127.0.0.1:8080/] [--creates 1000] [--concurrency 8]
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.request
import uuid


def call(url, method='GET', key=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header('Content-Type', 'application/json')
    if key:
        req.add_header('X-API-KEY', key)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b'null')


def creates(url, key, n, concurrency):
    """N creates from `concurrency` threads: (creates/s, time of the last answer)."""
    left, lock, last = [n], threading.Lock(), [0.0]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            call(url, 'POST', key, {'n': 1})
            with lock:
                last[0] = max(last[0], time.perf_counter())

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - start), last[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', default='http://127.0.0.1:8080/')
    ap.add_argument('--creates', type=int, default=1000)
    ap.add_argument('--concurrency', type=int, default=8)
    args = ap.parse_args()
    root = args.url.rstrip('/') + '/v1.1/'
    tag = uuid.uuid4().hex[:8]
    key = call(root + 'account/register/', 'POST', None,
               {'email': 'bench-%s@example.com' % tag, 'password': 'secret'})['account_key']
    name = 'trig-%s' % tag
    call(root + 'instances/', 'POST', key, {'name': name})
    base = root + 'instances/%s/' % name
    for cls in ('plain', 'watched'):
        call(base + 'classes/', 'POST', key,
             {'name': cls, 'schema': [{'name': 'n', 'type': 'integer'}]})
    script = call(base + 'snippets/scripts/', 'POST', key,
                  {'runtime_name': 'python3', 'source': "print(ARGS['id'])"})
    trigger = call(base + 'triggers/', 'POST', key,
                   {'signal': 'post_create', 'class': 'watched', 'script': script['id']})
    n = args.creates

    plain_rate, _ = creates(base + 'classes/plain/objects/', key, n, args.concurrency)
    watched_rate, last_commit = creates(base + 'classes/watched/objects/', key, n,
                                        args.concurrency)
    last_trace_url = base + 'triggers/%d/traces/%d/' % (trigger['id'], n)
    while True:
        try:
            call(last_trace_url, key=key)
            break
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        time.sleep(0.005)
    drained = time.perf_counter() - last_commit
    statuses = {}
    for i in range(1, n + 1):
        t = call(base + 'triggers/%d/traces/%d/' % (trigger['id'], i), key=key)
        statuses[t['status']] = statuses.get(t['status'], 0) + 1
    print('creates without trigger: %.0f/s' % plain_rate)
    print('creates with a post_create trigger: %.0f/s (%.2f of the baseline)'
          % (watched_rate, watched_rate / plain_rate))
    print('last commit -> last trace: %.2f s (%d runs, %.0f runs/s after the creates)'
          % (drained, n, n / max(drained, 1e-9)))
    print('trace statuses: %s' % statuses)
    assert statuses == {'success': n}, statuses


if __name__ == '__main__':
    main()
