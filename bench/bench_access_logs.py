# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: collect_access_logs on a 10 MB and a 1 GB access log with the same last hour.

    .venv/bin/python bench/bench_access_logs.py [--small-mb 10] [--big-mb 1024] [--runs 5] [--dir /var/tmp]

Generates both files (combined-format lines with upstream fields: most of them days old, the last
hour at the end, identical in both files), times ``collect_access_logs`` (median of --runs, page
cache warm, interleaved), prints both times and their ratio (goal: the 1 GB file within 20 % of the
10 MB one, because only the window is read), checks that both give the same counts, writes
bench/out/access_logs.json and deletes the files.
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
FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
          '"$http_user_agent" $upstream_status $upstream_addr $upstream_response_time $request_time')
RECENT_LINES = 20000
STATUSES = [200] * 40 + [302, 404, 502, 504, 503, 500]
URIS = ["/", "/api/v1/items/%d", "/asgi/events?id=%d", "/static/app.%d.js", "/login?next=/x&token=t%d"]


def _import():
    link = COLL / "ansible_collections" / "badgateway" / "doctor"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(str(ROOT), str(link))
    sys.path.insert(0, str(COLL))
    from ansible_collections.badgateway.doctor.plugins.module_utils import access_logs  # pylint: disable=import-outside-toplevel
    return access_logs


def _line(ts, i):
    status = STATUSES[i % len(STATUSES)]
    uri = URIS[i % len(URIS)] % i if "%d" in URIS[i % len(URIS)] else URIS[i % len(URIS)]
    up = "-" if status == 404 else ("%d" % status if status != 200 or i % 7 else "502, 200")
    addr = "unix:/run/gunicorn/gunicorn.sock" if not uri.startswith("/asgi/") else "127.0.0.1:8001"
    return ('203.0.113.%d - - [%s] "GET %s HTTP/1.1" %d %d "https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)" '
            '%s %s 0.%03d 0.%03d\n' % (i % 250, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts)), uri,
                                       status, 100 + i % 5000, up, addr, i % 1000, i % 1000))


def generate(path, size, now, recent):
    """Old lines (days back) up to ``size`` bytes, then ``recent``: a 10 MB day block repeated."""
    day = "".join(_line(now - 5 * 86400 + i, i) for i in range(40000)).encode()
    target_old = max(size - len(recent), 0)
    written = 0
    with open(path, "wb") as f:
        while written < target_old:
            chunk = day[:target_old - written]
            chunk = chunk[:chunk.rfind(b"\n") + 1]
            if not chunk:
                break
            f.write(chunk)
            written += len(chunk)
        f.write(recent)
        written += len(recent)
    return written


def facts_for(path):
    routes = [{"id": "_:80 /", "server_names": ["_"], "location": "/", "upstream": "wsgi_app"},
              {"id": "_:80 /asgi/", "server_names": ["_"], "location": "/asgi/", "upstream": None}]
    return {"routes": routes, "log_formats": {"up": {"format": FORMAT, "escape": "default"}},
            "access_logs": [{"path": path, "format": "up", "kind": "file", "routes": [0, 1]}]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small-mb", type=float, default=10)
    ap.add_argument("--big-mb", type=float, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "access_logs.json"))
    args = ap.parse_args()
    al = _import()
    now = time.time()
    recent = "".join(_line(now - 3590 + i * 3580.0 / RECENT_LINES, i) for i in range(RECENT_LINES)).encode()
    workdir = tempfile.mkdtemp(prefix="bgd-bench-access-", dir=args.dir)
    paths = {"small": os.path.join(workdir, "small-access.log"), "big": os.path.join(workdir, "big-access.log")}
    report = {"runs": args.runs, "recent_bytes": len(recent), "recent_lines": RECENT_LINES}
    try:
        for name, mb in (("small", args.small_mb), ("big", args.big_mb)):
            t0 = time.perf_counter()
            size = generate(paths[name], int(mb * 1024 * 1024), now, recent)
            with open(paths[name], "rb+") as f:
                os.fsync(f.fileno())
            report[name] = {"size": size, "generate_s": round(time.perf_counter() - t0, 2), "times_s": []}
        time.sleep(1)
        results = {}
        for name in ("small", "big"):   # warm-up: the window's blocks into the page cache
            al.collect_access_logs(facts_for(paths[name]), since=3600, now=now)
        for _run in range(args.runs):   # interleaved, so that both see the same machine state
            for name in ("small", "big"):
                t0 = time.perf_counter()
                results[name] = al.collect_access_logs(facts_for(paths[name]), since=3600, now=now)
                report[name]["times_s"].append(time.perf_counter() - t0)
        for name in ("small", "big"):
            res = results[name]
            med = statistics.median(report[name]["times_s"])
            counts = {r["route"]: r["counts"] for r in res["routes"]}
            report[name].update({"median_s": med, "read_bytes": res["logs"][0]["read_bytes"],
                                 "in_window": res["logs"][0]["in_window"], "counts": counts, "errors": res["errors"]})
            print("%-5s %8.1f MB  generated in %5.1f s  median of %d: %.4f s  read %d bytes  %d lines in the window  %s"
                  % (name, report[name]["size"] / 1048576.0, report[name]["generate_s"], args.runs, med,
                     report[name]["read_bytes"], report[name]["in_window"], counts))
    finally:
        for p in paths.values():
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(workdir)
    ratio = report["big"]["median_s"] / report["small"]["median_s"]
    same = report["big"]["counts"] == report["small"]["counts"] and report["big"]["in_window"] == RECENT_LINES
    report.update({"ratio": ratio, "goal": "ratio <= 1.20", "goal_met": ratio <= 1.2, "same_counts": same})
    print("ratio big/small: %.3f (goal <= 1.20: %s); same counts in both, every recent line counted: %s"
          % (ratio, "met" if ratio <= 1.2 else "NOT met", same))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", args.out)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
