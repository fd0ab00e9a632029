#!/usr/bin/env python3
"""Scripts through the API: a hello-world python3 script, `run/` to `success`, and the same
script behind a script endpoint (webhook), against a running Rivia (start one with
`target/release/rivia serve --data-dir $(mktemp -d)`, or let `--serve BINARY` start one).

Each `run/` is timed from its POST until its trace reads `success` (polled every `--poll-ms`,
default 1 ms, at concurrency 1, and every `--poll-ms-c4`, default 5 ms, at concurrency 4: each
poll is a GET, so up to that much of each figure is the poll; at c=4, 1 ms polls from 4 threads
took ~25% of the runs/s on 2 cores, 29.5 vs 39.7 runs/s back to back, so the c=4 line measures
the server with a client that polls like a real one would); each
endpoint run is one synchronous request (`endpoints/scripts/{name}/run/`), whose answer is
the finished run. Both at concurrency 1 and 4; the same run also times the bare interpreter
starts (`python3 -c pass`, `python3 -S -c pass`, `node -e 0`). Prints p50/p99 latency and runs/s.

`--rss N` instead makes N runs (half `run/`, half endpoint, concurrency 4) and prints the
server's resident memory (VmRSS from /proc/<pid>/status) every N/10 runs: it should stay
flat once warm. It needs the server's pid: use `--serve` (or `--pid`).

    bench/scripts_run.py [--url http://127.0.0.1:8080/] [--runs 200]
    bench/scripts_run.py --serve target/release/rivia --rss 10000
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
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
            latency = time.perf_counter() - start
            assert t['status'] == 'success', t
            RUN_OVERHEADS.append(latency - t['duration'] / 1000.0)
            return latency
        time.sleep(POLL)


POLL = 0.001

# Per run: the latency minus the run's own `duration` (the sandboxed execution the server
# timed), i.e. what the HTTP path, the trace writes and the queue add (for run/ also the
# polling).
OVERHEADS = []
RUN_OVERHEADS = []


def endpoint_run(url, key):
    start = time.perf_counter()
    answer = call(url, 'POST', key, {})
    latency = time.perf_counter() - start
    assert answer['status'] == 'success', answer
    OVERHEADS.append(latency - answer['duration'] / 1000.0)
    return latency


def measure(base, key, runs, concurrency, run=one_run):
    latencies, lock = [], threading.Lock()
    per_thread = runs // concurrency

    def worker():
        for _ in range(per_thread):
            d = run(base, key)
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


def bare(runs, argv):
    # The interpreter the sandbox runs (a `python3` earlier in PATH may be a slow shim).
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, env={'PATH': '/usr/bin:/bin'})
        out.append(time.perf_counter() - start)
    return out


BARE = [('python3 -c pass', ['/usr/bin/python3', '-c', 'pass']),
        ('python3 -S -c pass', ['/usr/bin/python3', '-S', '-c', 'pass']),
        ('node -e 0', ['/usr/bin/node', '-e', '0'])]


def rss_kib(pid):
    with open('/proc/{}/status'.format(pid)) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('no VmRSS for pid {}'.format(pid))


def rss_soak(base, endpoint, key, pid, runs):
    """N runs (alternating run/ and endpoint), concurrency 4, RSS every N/10."""
    step = max(runs // 10, 4)
    done = 0
    print('runs      VmRSS (MiB)')
    print('{:>6}    {:.1f}'.format(0, rss_kib(pid) / 1024))
    samples = []
    while done < runs:
        half = step // 2
        measure(base, key, half - half % 4, 4)
        measure(endpoint, key, half - half % 4, 4, run=endpoint_run)
        done += step
        kib = rss_kib(pid)
        samples.append(kib)
        print('{:>6}    {:.1f}'.format(done, kib / 1024))
    warm, last = samples[0], samples[-1]
    print('growth after the first {} runs: {:+.1f} MiB ({:+.1f}%)'.format(
        step, (last - warm) / 1024, 100.0 * (last - warm) / warm))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve(binary):
    """Starts `binary serve` on a free loopback port with a fresh data directory."""
    port = free_port()
    data = tempfile.mkdtemp(prefix='rivia-bench-')
    env = dict(os.environ, RIVIA_INSTANCE_RATE='0', RIVIA_ADMIN_RATE='0', RIVIA_ANON_RATE='0')
    # SQLite unless RIVIA_BENCH_DATABASE_URL names a PostgreSQL database for the bench.
    env.pop('RIVIA_DATABASE_URL', None)
    if os.environ.get('RIVIA_BENCH_DATABASE_URL'):
        env['RIVIA_DATABASE_URL'] = os.environ['RIVIA_BENCH_DATABASE_URL']
    proc = subprocess.Popen([binary, 'serve', '--bind', '127.0.0.1:{}'.format(port),
                             '--data-dir', data], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = 'http://127.0.0.1:{}/'.format(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            call(url + 'v1.1/')
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError('server did not start')
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', default='http://127.0.0.1:8080/')
    ap.add_argument('--runs', type=int, default=200)
    ap.add_argument('--serve', metavar='BINARY', help='start this rivia binary for the run')
    ap.add_argument('--pid', type=int, help='pid of the server at --url (for --rss)')
    ap.add_argument('--rss', type=int, metavar='N', help='RSS soak over N runs instead')
    ap.add_argument('--poll-ms', type=float, default=1.0, help='run/ trace polling, c=1')
    ap.add_argument('--poll-ms-c4', type=float, default=5.0, help='run/ trace polling, c=4')
    args = ap.parse_args()
    global POLL
    POLL = args.poll_ms / 1000.0
    proc = None
    if args.serve:
        proc, args.url = serve(args.serve)
        args.pid = proc.pid
    try:
        bench(args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def bench(args):
    root = args.url.rstrip('/') + '/v1.1/'
    tag = uuid.uuid4().hex[:8]
    key = call(root + 'account/register/', 'POST', None,
               {'email': 'bench-{}@example.com'.format(tag), 'password': 'secret'})['account_key']
    name = 'bench-' + tag
    call(root + 'instances/', 'POST', key, {'name': name})
    script = call(root + 'instances/{}/snippets/scripts/'.format(name), 'POST', key,
                  {'runtime_name': 'python3', 'source': "print('hello world')"})
    base = root + 'instances/{}/snippets/scripts/{}/'.format(name, script['id'])
    call(root + 'instances/{}/endpoints/scripts/'.format(name), 'POST', key,
         {'name': 'hello', 'script': script['id']})
    endpoint = root + 'instances/{}/endpoints/scripts/hello/run/'.format(name)
    one_run(base, key)  # warm-up
    endpoint_run(endpoint, key)
    if args.rss:
        if not args.pid:
            raise SystemExit('--rss needs --serve or --pid')
        rss_soak(base, endpoint, key, args.pid, args.rss)
        return
    for label, argv in BARE:
        if not os.path.exists(argv[0]):
            continue
        b = bare(50, argv)
        print('bare {}: p50 {:.1f} ms, p99 {:.1f} ms'.format(
            label, statistics.median(b) * 1000, pct(b, 99) * 1000))
    for c, poll_ms in ((1, args.poll_ms), (4, args.poll_ms_c4)):
        POLL = poll_ms / 1000.0
        del RUN_OVERHEADS[:]
        lat, rate = measure(base, key, args.runs, c)
        print('run/ -> success (polled every {:g} ms), c={}: p50 {:.1f} ms, p99 {:.1f} ms, {:.1f} runs/s; '
              'latency minus the run\'s duration: p50 {:.1f} ms'.format(
                  poll_ms, c, statistics.median(lat) * 1000, pct(lat, 99) * 1000, rate,
                  statistics.median(RUN_OVERHEADS) * 1000))
        del OVERHEADS[:]
        lat, rate = measure(endpoint, key, args.runs, c, run=endpoint_run)
        print('endpoint run/ (synchronous), c={}: p50 {:.1f} ms, p99 {:.1f} ms, {:.1f} runs/s; '
              'latency minus the run\'s duration: p50 {:.1f} ms'.format(
                  c, statistics.median(lat) * 1000, pct(lat, 99) * 1000, rate,
                  statistics.median(OVERHEADS) * 1000))


if __name__ == '__main__':
    main()
