# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: gateway_facts on a lab host with a 10,000-server nginx config and a 1 GB error log.

    .venv/bin/python bench/bench_gateway.py [--servers 10000] [--log-mb 1024] [--runs 5]

Boots a lab host (lab name ``bgd-bench``), writes the generated configuration of
``bench/gen_config.py`` to ``/etc/nginx/bench/`` on it and a 1 GB nginx error log (old lines,
then one hour of recent ones) to ``/var/log/nginx/bench-error.log``, then measures on the host:

* module time: the time ``gateway_facts`` spends gathering (``collect_all`` with the options the
  module passes, every section on, ``nginx -t`` included), median of ``--runs``;
* the same with a 10 MB log, to show the log section's cost does not grow with the file;
* the whole ``ansible -m badgateway.doctor.gateway_facts`` round trip from the controller.

The goal (issue 4): module time within 1 s. Results go to ``bench/out/gateway.json``.
The lab is torn down at the end, also on failure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "bench"))

from lab import Lab  # noqa: E402  pylint: disable=wrong-import-position
import gen_config  # noqa: E402  pylint: disable=wrong-import-position

RUNNER = r'''
import json, sys, time
sys.path.insert(0, "/opt/bgd-bench")
from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import collect_all
opts = json.loads(sys.argv[1])
t0 = time.perf_counter()
facts = collect_all(
    nginx_options=dict(conf_path=opts["conf_path"], source="files", binary=None, resolve=True, run_test=True),
    log_options=dict(nginx_error_logs=[opts["log"]], since=3600.0, max_bytes=8 * 1024 * 1024, kernel=True),
    probe_options=dict(timeout=3.0, path="/", host_header=None),
    socket_paths=[], socket_user=None, units=[])
elapsed = time.perf_counter() - t0
nginx = facts.get("nginx") or {}
print(json.dumps({"seconds": elapsed, "servers": len(nginx.get("servers") or []),
                  "routes": len(nginx.get("routes") or []), "files": len(nginx.get("files") or []),
                  "events": sum(e["count"] for e in (facts.get("logs") or {}).get("events") or []),
                  "probes": len((facts.get("probes") or {}).get("results") or []),
                  "errors": [e["message"] for e in facts["errors"]][:5]}))
'''

LINE_OLD = ('2024/01/01 00:00:00 [error] 1234#1234: *{n} connect() to unix:/run/gunicorn/gunicorn.sock failed '
            '(111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: _, '
            'request: "GET / HTTP/1.1", upstream: "http://unix:/run/gunicorn/gunicorn.sock:/", host: "example.com"\n')


def write_log(path: Path, size_mb: int) -> None:
    """Old lines up to the size, then one hour of recent lines at the end (one a second)."""
    block = "".join(LINE_OLD.format(n=i) for i in range(4000)).encode()
    target = size_mb * 1024 * 1024
    with open(path, "wb") as fh:
        written = 0
        while written < target:
            fh.write(block)
            written += len(block)
        now = time.time()
        recent = []
        for i in range(3600):
            stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now - 3600 + i))
            recent.append(LINE_OLD.replace("2024/01/01 00:00:00", stamp).format(n=i))
        fh.write("".join(recent).encode())


def median_run(lab: Lab, host: str, opts: dict, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = lab.run(host, "python3 /opt/bgd-bench/run.py '%s'" % json.dumps(opts), timeout=120).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    best = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
    best["all_seconds"] = [round(r["seconds"], 3) for r in results]
    best["median_seconds"] = statistics.median(r["seconds"] for r in results)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", type=int, default=10000)
    ap.add_argument("--log-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args()

    lab = Lab(os.environ.get("BGD_BENCH_LAB", "bgd-bench"))
    try:
        lab.up(hosts=1)
        host = lab.hosts[0]
        root = lab.state_dir / host / "root"   # the host's (overlay) root, as the lab mounts it
        if not (root / "etc").is_dir():
            raise SystemExit("bench: cannot find the lab host's root directory")
        conf_dir = root / "etc/nginx/bench"
        shutil.rmtree(conf_dir, ignore_errors=True)
        gen_config.generate(str(conf_dir), servers=args.servers, files=100)
        # the generated main config uses paths relative to its own directory
        pkg = root / "opt/bgd-bench/ansible_collections/badgateway/doctor/plugins"
        shutil.rmtree(root / "opt/bgd-bench", ignore_errors=True)
        shutil.copytree(REPO / "plugins" / "module_utils", pkg / "module_utils")
        (root / "opt/bgd-bench/run.py").write_text(RUNNER)
        big = root / "var/log/nginx/bench-error.log"
        small = root / "var/log/nginx/bench-error-small.log"
        t0 = time.time()
        write_log(big, args.log_mb)
        write_log(small, 10)
        gen_seconds = time.time() - t0

        conf = "/etc/nginx/bench/nginx.conf"
        big_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error.log"}, args.runs)
        small_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error-small.log"}, args.runs)

        inv = str(lab.inventory_path)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests/output/collections"))
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([str(REPO / ".venv/bin/ansible"), "-i", inv, host, "-m", "badgateway.doctor.gateway_facts",
                            "-a", json.dumps({"conf_path": conf, "nginx_error_logs": ["/var/log/nginx/bench-error.log"]})],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t0)
        result = {
            "servers": args.servers, "log_mb": args.log_mb, "log_generation_seconds": round(gen_seconds, 1),
            "module_time_1gb_log": big_run, "module_time_10mb_log": small_run,
            "log_cost_ratio_1gb_vs_10mb": big_run["median_seconds"] / small_run["median_seconds"],
            "ansible_round_trip_seconds_median": statistics.median(walls),
            "goal_module_time_seconds": 1.0,
        }
        out = REPO / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "gateway.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"gateway_facts on a lab host, {args.servers} servers ({big_run['routes']} routes, {big_run['files']} files):")
        print(f"  module time, 1 GB error log : {big_run['median_seconds']:.3f} s (median of {args.runs}: {big_run['all_seconds']})")
        print(f"  module time, 10 MB error log: {small_run['median_seconds']:.3f} s")
        print(f"  1 GB / 10 MB                : {result['log_cost_ratio_1gb_vs_10mb']:.2f}x")
        print(f"  ansible -m gateway_facts    : {result['ansible_round_trip_seconds_median']:.3f} s wall (controller, incl. SSH)")
        print(f"  goal: module time <= 1.0 s -> {'met' if big_run['median_seconds'] <= 1.0 else 'NOT met'}")
        if big_run["errors"]:
            print("  errors reported by the facts:", big_run["errors"])
        return 0
    finally:
        if not args.keep:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
