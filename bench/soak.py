#!/usr/bin/env python3
"""Soak (issue #13 §4): 64 keep-alive connections of mixed reads, writes and channel polls
against one `rivia serve` for a long time, reporting per interval the server's RSS, the
p50/p99 latency of each kind of request, and errors. What a demanding user expects: RSS
flat, p99 flat, zero errors. A benchmark, not a CI test.

    bench/soak.py --bin target/release/rivia [--minutes 10] [--connections 64]
                  [--interval 30] [--database-url postgres://...]
    bench/soak.py --url http://127.0.0.1:8080/ --pid <rivia pid> ...   (a server of yours)

Of the connections, 1 in 8 polls a channel (held until a message or the server's poll
timeout), 1 in 4 writes (creates an object, patches it, publishes on the channel every
tenth write), the rest read (an object list filtered and ordered, then one object).
Exits 1 if any request failed (a status other than the expected ones, or no answer).
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

INSTANCE = 'soak-inst'
OBJECTS = '/v1.1/instances/{}/classes/items/objects/'.format(INSTANCE)
CHANNEL = '/v1.1/instances/{}/channels/feed/'.format(INSTANCE)


class Conn:
    """One keep-alive connection; reconnects after the server closes it."""

    def __init__(self, host, port, key):
        self.host, self.port, self.key = host, port, key
        self.c = None

    def request(self, method, path, body=None, timeout=60):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                headers = {'X-API-KEY': self.key, 'Content-Type': 'application/json'}
                data = json.dumps(body) if body is not None else None
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                raw = r.read()
                if r.getheader('connection', '').lower() == 'close':
                    self.c.close()
                    self.c = None
                return r.status, raw
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                # A keep-alive connection closed by the server's idle timeout between two
                # requests is retried once; a second failure is an error.
                if attempt == 1:
                    raise


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}
        self.errors = []
        self.count = 0

    def record(self, kind, seconds):
        with self.lock:
            self.lat.setdefault(kind, []).append(seconds)
            self.count += 1

    def error(self, what):
        with self.lock:
            self.errors.append(what)

    def take(self):
        with self.lock:
            lat, errors, count = self.lat, self.errors, self.count
            self.lat, self.errors, self.count = {}, [], 0
            return lat, errors, count


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def timed(stats, kind, conn, method, path, body=None, ok=(200, 201, 204)):
    start = time.perf_counter()
    try:
        status, raw = conn.request(method, path, body)
    except Exception as e:  # noqa: BLE001 - any failure to get an answer is an error
        stats.error('{} {}: {}'.format(method, path, e))
        return None
    stats.record(kind, time.perf_counter() - start)
    if status not in ok:
        stats.error('{} {} -> {} {}'.format(method, path, status, raw[:200]))
        return None
    return json.loads(raw) if raw else None


def reader(conn, stats, stop, ids):
    rnd = random.Random()
    while not stop.is_set():
        n = rnd.randrange(1000)
        query = urllib.parse.quote(json.dumps({'n': {'_gte': n}}))
        timed(stats, 'read', conn, 'GET', '{}?query={}&order_by=-n&page_size=20'.format(OBJECTS, query))
        if ids:
            timed(stats, 'read', conn, 'GET', '{}{}/'.format(OBJECTS, rnd.choice(ids)))


def writer(conn, stats, stop, ids):
    rnd = random.Random()
    i = 0
    while not stop.is_set():
        i += 1
        obj = timed(stats, 'write', conn, 'POST', OBJECTS, {'n': rnd.randrange(1000), 'title': 'x' * rnd.randrange(120)})
        if obj:
            ids.append(obj['id'])
            timed(stats, 'write', conn, 'PATCH', '{}{}/'.format(OBJECTS, obj['id']), {'n': {'_increment': 1}})
        if i % 10 == 0:
            timed(stats, 'write', conn, 'POST', CHANNEL + 'publish/', {'payload': {'i': i}})


def poller(conn, stats, stop, _ids):
    last = None
    while not stop.is_set():
        path = CHANNEL + 'poll/' + ('?last_id={}'.format(last) if last else '')
        change = timed(stats, 'poll', conn, 'GET', path)
        if change and 'id' in change:
            last = change['id']


def rss_kib(pid):
    with open('/proc/{}/status'.format(pid)) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def setup(host, port):
    anon = Conn(host, port, '')
    status, raw = anon.request('POST', '/v1.1/account/register/',
                               {'email': 'soak-{}@example.com'.format(os.getpid()), 'password': 'soak-password'})
    assert status == 201, (status, raw)
    key = json.loads(raw)['account_key']
    c = Conn(host, port, key)
    for method, path, body in [
        ('POST', '/v1.1/instances/', {'name': INSTANCE}),
        ('POST', '/v1.1/instances/{}/classes/'.format(INSTANCE), {'name': 'items', 'schema': [
            {'name': 'n', 'type': 'integer', 'filter_index': True, 'order_index': True},
            {'name': 'title', 'type': 'string'}]}),
        ('POST', '/v1.1/instances/{}/channels/'.format(INSTANCE), {'name': 'feed', 'custom_publish': True}),
    ]:
        status, raw = c.request(method, path, body)
        assert status == 201, (path, status, raw)
    return key


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', help='start this rivia binary (a fresh data directory)')
    ap.add_argument('--database-url', help='with --bin: PostgreSQL instead of SQLite')
    ap.add_argument('--url', default='http://127.0.0.1:8080/')
    ap.add_argument('--pid', type=int, help='the server process, for its RSS (with --url)')
    ap.add_argument('--minutes', type=float, default=10)
    ap.add_argument('--connections', type=int, default=64)
    ap.add_argument('--interval', type=float, default=30)
    args = ap.parse_args()

    server = None
    if args.bin:
        data = tempfile.mkdtemp(prefix='rivia-soak-')
        env = dict(os.environ)
        if args.database_url:
            env['RIVIA_DATABASE_URL'] = args.database_url
        server = subprocess.Popen([args.bin, 'serve', '--bind', '127.0.0.1:0', '--data-dir', data,
                                   '--anon-rate', '0', '--poll-timeout', '20'],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        line = server.stdout.readline()
        url = next(w for w in line.split() if w.startswith('http://'))
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        pid = server.pid
    else:
        url, pid = args.url, args.pid
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname, parsed.port
    try:
        key = setup(host, port)
        stats, stop, ids = Stats(), threading.Event(), []
        threads = []
        for i in range(args.connections):
            role = poller if i % 8 == 0 else writer if i % 4 == 1 else reader
            t = threading.Thread(target=role, args=(Conn(host, port, key), stats, stop, ids), daemon=True)
            t.start()
            threads.append(t)
        print('{} connections for {} min against {} (pid {}); every {} s:'.format(
            args.connections, args.minutes, url, pid, args.interval))
        print('{:>6} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}'.format(
            't(s)', 'rss(MiB)', 'req/s', 'read p50', 'read p99', 'write p99', 'poll n', 'errors'))
        rows, total_errors, first_errors = [], 0, []
        start = time.time()
        end = start + args.minutes * 60
        while time.time() < end:
            time.sleep(min(args.interval, max(0.0, end - time.time())))
            lat, errors, count = stats.take()
            rss = rss_kib(pid) / 1024 if pid else 0.0
            row = (time.time() - start, rss, count / args.interval,
                   pct(lat.get('read', []), 50) * 1000, pct(lat.get('read', []), 99) * 1000,
                   pct(lat.get('write', []), 99) * 1000, len(lat.get('poll', [])), len(errors))
            rows.append(row)
            total_errors += len(errors)
            first_errors.extend(errors[:5 - len(first_errors)])
            print('{:6.0f} {:9.1f} {:8.0f} {:8.1f}ms {:8.1f}ms {:8.1f}ms {:9d} {:7d}'.format(*row), flush=True)
        stop.set()
        if rows:
            first, last = rows[0], rows[-1]
            print('RSS {:.1f} -> {:.1f} MiB; read p99 {:.1f} -> {:.1f} ms; write p99 {:.1f} -> {:.1f} ms; errors {}'.format(
                first[1], last[1], first[4], last[4], first[5], last[5], total_errors))
        for e in first_errors:
            print('error:', e)
        return 1 if total_errors else 0
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == '__main__':
    sys.exit(main())
