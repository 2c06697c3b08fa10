# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: collect_logs on a 10 MB and a 1 GB nginx error.log with the same last hour.

    .venv/bin/python bench/bench_logs.py [--small-mb 10] [--big-mb 1024] [--runs 5] [--dir /var/tmp]

Generates both files (realistic error.log lines: most of them days old, the last hour at the end,
identical in both files), times ``collect_logs`` (median of --runs, page cache warm), prints both
times and their ratio (goal: the 1 GB file within 20 % of the 10 MB one, because only the window
is read), writes bench/out/logs.json and deletes the files.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLL = ROOT / "tests" / "output" / "collections"


def _import_logs():
    """Import module_utils.logs through an ansible_collections tree (made on the fly if missing)."""
    link = COLL / "ansible_collections" / "badgateway" / "doctor"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(str(ROOT), str(link))
    sys.path.insert(0, str(COLL))
    from ansible_collections.badgateway.doctor.plugins.module_utils import logs  # pylint: disable=import-outside-toplevel
    return logs


OLD_TEMPLATES = [
    '{ts} [error] 812#812: *{n} open() "/var/www/html/favicon.ico" failed (2: No such file or directory), client: 203.0.113.{c}, '
    'server: example.org, request: "GET /favicon.ico HTTP/1.1", host: "example.org", referrer: "https://example.org/page/{n}"\n',
    '{ts} [error] 812#812: *{n} connect() failed (111: Connection refused) while connecting to upstream, client: 198.51.100.{c}, '
    'server: example.org, request: "GET /api/v1/items/{n} HTTP/1.1", upstream: "http://127.0.0.1:8000/api/v1/items/{n}", host: "example.org"\n',
    '{ts} [info] 813#813: *{n} client 192.0.2.{c} closed keepalive connection\n',
    '{ts} [warn] 813#813: *{n} an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/{c}/000000{n} '
    'while reading upstream, client: 203.0.113.{c}, server: example.org, request: "GET /export.csv HTTP/1.1", '
    'upstream: "http://unix:/run/gunicorn/gunicorn.sock:/export.csv", host: "example.org"\n',
]
RECENT_TEMPLATES = OLD_TEMPLATES + [
    '{ts} [crit] 812#812: *{n} connect() to unix:/run/gunicorn/gunicorn.sock failed (2: No such file or directory) while connecting '
    'to upstream, client: 203.0.113.{c}, server: example.org, request: "GET / HTTP/1.1", upstream: "http://unix:/run/gunicorn/gunicorn.sock:/", '
    'host: "example.org"\n',
    '{ts} [error] 812#812: *{n} upstream prematurely closed connection while reading response header from upstream, client: 203.0.113.{c}, '
    'server: example.org, request: "GET /slow HTTP/1.1", upstream: "http://unix:/run/gunicorn/gunicorn.sock:/slow", host: "example.org"\n',
]


def _ts(epoch):
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(epoch))


def _block(start, seconds_per_line, nlines, templates, n0=0):
    out = []
    for i in range(nlines):
        out.append(templates[i % len(templates)].format(ts=_ts(start + i * seconds_per_line), n=n0 + i, c=i % 250))
    return "".join(out).encode()


def generate(path, size, now, recent):
    """Old lines (from ~40 days back, one block per 'day' with its own dates) up to ``size`` bytes, then ``recent``."""
    day_lines = 4000
    target_old = max(size - len(recent), 0)
    first_day = now - 40 * 86400
    template_day = _block(0, 86400.0 / day_lines, day_lines, OLD_TEMPLATES)  # dates fixed below per chunk
    written = 0
    day = 0
    with open(path, "wb") as f:
        while written < target_old:
            start = first_day + (day % 39) * 86400  # stays older than 1 day before now
            # re-render the dates of the block cheaply: same lines, new date prefix per block
            chunk = _block(start, 86400.0 / day_lines, day_lines, OLD_TEMPLATES, day * day_lines) if day < 3 else \
                _redate(template_day, start)
            if written + len(chunk) > target_old:
                chunk = chunk[:target_old - written]
                chunk = chunk[:chunk.rfind(b"\n") + 1] or b""
                if not chunk:
                    break
            f.write(chunk)
            written += len(chunk)
            day += 1
        f.write(recent)
        written += len(recent)
    return written


def _redate(block, start):
    """Replace the 1970 date prefix of a template block by the day of ``start`` (times kept)."""
    epoch_day = time.strftime("%Y/%m/%d", time.localtime(0))
    day = time.strftime("%Y/%m/%d", time.localtime(start)).encode()
    return block.replace(epoch_day.encode(), day)


def time_it(logs, path, runs, now):
    times = []
    result = None
    for _run in range(runs):
        t0 = time.perf_counter()
        result = logs.collect_logs(nginx_error_logs=[path], units=[], kernel=False, since=3600, now=now)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small-mb", type=float, default=10)
    ap.add_argument("--big-mb", type=float, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "logs.json"))
    args = ap.parse_args()
    logs = _import_logs()

    now = time.time()
    recent = _block(now - 3590, 3580.0 / 6000, 6000, RECENT_TEMPLATES)  # 6000 lines in the last hour
    workdir = tempfile.mkdtemp(prefix="bgd-bench-logs-", dir=args.dir)
    small = os.path.join(workdir, "small-error.log")
    big = os.path.join(workdir, "big-error.log")
    report = {"runs": args.runs, "recent_bytes": len(recent), "recent_lines": 6000}
    try:
        sizes = {}
        for name, path, mb in (("small", small, args.small_mb), ("big", big, args.big_mb)):
            t0 = time.perf_counter()
            sizes[name] = generate(path, int(mb * 1024 * 1024), now, recent)
            with open(path, "rb+") as f:
                os.fsync(f.fileno())  # no writeback running while we time
            report[name] = {"size": sizes[name], "generate_s": round(time.perf_counter() - t0, 2), "times_s": []}
        time.sleep(1)
        paths = {"small": small, "big": big}
        results = {}
        for name in ("small", "big"):  # warm-up: the window's blocks into the page cache
            logs.collect_logs(nginx_error_logs=[paths[name]], units=[], kernel=False, since=3600, now=now)
        for _run in range(args.runs):  # interleaved, so that both see the same machine state
            for name in ("small", "big"):
                _med, all_times, res = time_it(logs, paths[name], 1, now)
                report[name]["times_s"].extend(all_times)
                results[name] = res
        for name in ("small", "big"):
            res = results[name]
            med = statistics.median(report[name]["times_s"])
            events = {e["class"]: e["count"] for e in res["events"]}
            report[name].update({"median_s": med, "read_bytes": res["sources"][0]["read_bytes"], "events": events,
                                 "errors": res["errors"]})
            print("%-5s %8.1f MB  generated in %5.1f s  collect_logs median of %d: %.4f s  read %d bytes  events %s"
                  % (name, sizes[name] / 1048576.0, report[name]["generate_s"], args.runs, med, res["sources"][0]["read_bytes"], events))
    finally:
        for p in (small, big):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(workdir)
    ratio = report["big"]["median_s"] / report["small"]["median_s"]
    same = report["big"]["events"] == report["small"]["events"]
    report.update({"ratio": ratio, "goal": "ratio <= 1.20", "goal_met": ratio <= 1.2, "same_events": same})
    print("ratio big/small: %.3f (goal <= 1.20: %s); same events in both: %s" % (ratio, "met" if ratio <= 1.2 else "NOT met", same))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", args.out)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
