#!/usr/bin/env python3
"""What per-request metrics cost: the same hot read against `rivia serve` without a metrics
listener (per-request metrics off), with `--metrics-bind` (on, scraped every second, 15x
Prometheus' default interval) and, as a third column, on with the default log filter (RUST_LOG
unset: every request opens its `request` span). The variants alternate round by round in one run;
each figure is the median round. CPU is the server's user+system µs per request, the figure the
issue's budget (metrics add at most 2%) is about; req/s moves with the machine's noise.

With `--before B` a fourth column runs binary B (a build from before request ids and metrics
existed) the same way, to show what the always-on parts (request ids, route tags) cost.

Usage: bench/metrics.py [--binary target/release/rivia] [--before B] [--duration 5] [--rounds 5]
       [--backends sqlite,postgres] [--concurrency 16] [--objects 1000]
"""
import argparse
import os
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Server, free_port, seed_objects, wrk  # noqa: E402

VARIANTS = (
    ("metrics off", {}),
    ("metrics on", {"RIVIA_METRICS_BIND": "metrics"}),
    ("metrics on + info logs", {"RIVIA_METRICS_BIND": "metrics", "RUST_LOG": None}),
)


class Scraper(threading.Thread):
    """GET /metrics once a second until stopped."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.stop, self.scrapes = url, threading.Event(), 0

    def run(self):
        while not self.stop.wait(1.0):
            urllib.request.urlopen(self.url, timeout=10).read()
            self.scrapes += 1


def start(binary, backend, pg_base, extra):
    env, metrics_url = dict(extra), None
    if env.get("RIVIA_METRICS_BIND") == "metrics":
        port = free_port()
        env["RIVIA_METRICS_BIND"] = f"127.0.0.1:{port}"
        metrics_url = f"http://127.0.0.1:{port}/metrics"
    return Server(binary, backend, pg_base, env), metrics_url


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/rivia")
    ap.add_argument("--before", help="a build without metrics, run as one more variant")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--objects", type=int, default=1000)
    args = ap.parse_args()
    pg_base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    print(f"# metrics cost: get one object by id, wrk -c{args.concurrency} -d{args.duration}s, "
          f"median of {args.rounds} alternating rounds; server and wrk share {os.cpu_count()} cores")
    print("| backend | variant | req/s | p99 ms | CPU µs/req | CPU vs off | scrapes |")
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        servers = []
        try:
            variants = [(label, args.binary, extra) for label, extra in VARIANTS]
            if args.before:
                variants.append(("before (--before)", args.before, {}))
            for label, binary, extra in variants:
                server, metrics_url = start(binary, backend, pg_base, extra)
                key, cases = seed_objects(server, args.objects)
                server.settle()
                servers.append((label, server, metrics_url, key, cases[0][1]))
            runs = {label: [] for label, *_ in servers}
            scrapes = {label: 0 for label, *_ in servers}
            for _ in range(args.rounds):
                for label, server, metrics_url, key, path in servers:
                    scraper = Scraper(metrics_url) if metrics_url else None
                    if scraper:
                        scraper.start()
                    runs[label].append(wrk(server.url + path, args.concurrency, args.duration,
                                           {"X-API-KEY": key}, None, server.proc.pid))
                    if scraper:
                        scraper.stop.set()
                        scraper.join()
                        scrapes[label] += scraper.scrapes
            off = median(r[3] for r in runs[VARIANTS[0][0]])
            for label, *_ in servers:
                rps, p99, cpu = (median(r[i] for r in runs[label]) for i in (0, 2, 3))
                print(f"| {backend} | {label} | {rps:,.0f} | {p99:.2f} | {cpu:.1f} | "
                      f"{(cpu / off - 1) * 100:+.1f}% | {scrapes[label]} |", flush=True)
        finally:
            for _, server, *_ in servers:
                server.stop()


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


if __name__ == "__main__":
    sys.exit(main())
