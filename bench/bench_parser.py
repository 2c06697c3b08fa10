# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark plugins/module_utils/nginx_parser.py against crossplane 0.5.8, in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/bench_parser.py [--runs 5] [--servers 10000] [--files 100]

What it does:

1. Makes sure ``.bench-venv`` exists with crossplane 0.5.8 (``python3.11 -m venv`` and
   ``pip install crossplane==0.5.8``; crossplane is never installed into ``.venv``).
2. Generates a deterministic config with ``bench/gen_config.py`` into a temporary directory
   (10,000 ``server`` blocks with 3 locations each over 100 included files by default).
3. For each workload (the generated config; every main config of ``../shared/corpus/nginx``
   parsed with its includes) and each implementation, runs a fresh child process of the
   bench venv's interpreter ``--runs`` times (round-robin over the implementations). The parent measures the child's whole wall time
   and its peak resident memory (``ru_maxrss`` from ``os.wait4``); the child reports the time
   spent inside ``parse`` alone. Medians are reported.

Implementations: ``ours`` (nginx_parser.parse with defaults), ``crossplane`` (crossplane.parse
with its defaults, which also check directive contexts and argument counts) and
``crossplane-nocheck`` (``check_ctx=False, check_args=False``, closer to what ours does).

Prints a table and writes ``bench/out/parser.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH_VENV = os.path.join(REPO, ".bench-venv")
BENCH_PYTHON = os.path.join(BENCH_VENV, "bin", "python")
# the collection as Ansible imports it (`make collection-link` makes this tree)
COLLECTIONS = os.path.join(REPO, "tests", "output", "collections")
CORPUS = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus", "nginx"))
CROSSPLANE_VERSION = "0.5.8"

sys.path.insert(0, HERE)
from gen_config import generate  # noqa: E402  (bench/ is not a package)

# The child: parse every path listed in argv[3] (a JSON file) with implementation argv[1],
# print {"parse_seconds", "files", "statuses"} as JSON.
CHILD = r"""
import json, sys, time
impl, collections, listing = sys.argv[1], sys.argv[2], sys.argv[3]
with open(listing) as handle:
    paths = json.load(handle)
if impl == "ours":
    sys.path.insert(0, collections)
    from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse
    call = parse
else:
    import crossplane
    if impl == "crossplane":
        call = crossplane.parse
    else:
        call = lambda path: crossplane.parse(path, check_ctx=False, check_args=False)
statuses = {"ok": 0, "failed": 0, "exception": 0}
configs = 0
start = time.perf_counter()
for path in paths:
    try:
        payload = call(path)
    except Exception:
        statuses["exception"] += 1
        continue
    statuses[payload["status"]] += 1
    configs += len(payload["config"])
elapsed = time.perf_counter() - start
print(json.dumps({"parse_seconds": elapsed, "files": configs, "statuses": statuses}))
"""

IMPLEMENTATIONS = ("ours", "crossplane", "crossplane-nocheck")


def ensure_bench_venv():
    """Create ``.bench-venv`` with crossplane if it is missing; return its interpreter."""
    check = [BENCH_PYTHON, "-c", "import crossplane, sys; sys.exit(crossplane.__version__ != %r)" % CROSSPLANE_VERSION]
    if os.path.exists(BENCH_PYTHON) and subprocess.call(check, stderr=subprocess.DEVNULL) == 0:
        return BENCH_PYTHON
    print("creating %s with crossplane==%s ..." % (BENCH_VENV, CROSSPLANE_VERSION), flush=True)
    if not os.path.exists(BENCH_PYTHON):
        subprocess.check_call(["python3.11", "-m", "venv", BENCH_VENV])
    subprocess.check_call([BENCH_PYTHON, "-m", "pip", "install", "-q", "crossplane==%s" % CROSSPLANE_VERSION])
    subprocess.check_call(check)
    return BENCH_PYTHON


def corpus_main_configs():
    """Main configs and standalone snippets of the corpus (what the parser tests parse too)."""
    found = []
    for directory, _dirs, names in os.walk(CORPUS):
        for name in names:
            path = os.path.join(directory, name)
            in_site_dir = os.path.basename(directory) in ("sites-available", "sites-enabled", "conf.d")
            if name.endswith(".conf") or name == "nginx.conf" or in_site_dir:
                found.append(path)
    return sorted(found)


def run_child(python, impl, listing):
    """Run one child; return (wall seconds, peak RSS in KiB, child's JSON report)."""
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", CHILD, impl, COLLECTIONS, listing], stdout=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stdout.close()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s child failed with %s" % (impl, proc.returncode))
    return wall, usage.ru_maxrss, json.loads(out)


def bench_workload(python, name, paths, runs, workdir):
    """Benchmark every implementation on ``paths``; return a result dict per implementation."""
    listing = os.path.join(workdir, "%s.json" % name)
    with open(listing, "w") as handle:
        json.dump(paths, handle)
    samples = {impl: {"wall": [], "rss": [], "parse": [], "report": None} for impl in IMPLEMENTATIONS}
    # round-robin, so that a change in machine load hits every implementation alike
    for _run in range(runs):
        for impl in IMPLEMENTATIONS:
            wall, peak, report = run_child(python, impl, listing)
            sample = samples[impl]
            sample["wall"].append(wall)
            sample["rss"].append(peak)
            sample["parse"].append(report["parse_seconds"])
            sample["report"] = report
    results = {}
    for impl, sample in samples.items():
        results[impl] = {
            "wall_seconds_median": statistics.median(sample["wall"]),
            "wall_seconds_all": sample["wall"],
            "parse_seconds_median": statistics.median(sample["parse"]),
            "peak_rss_kib_median": statistics.median(sample["rss"]),
            "peak_rss_kib_max": max(sample["rss"]),
            "config_files_parsed": sample["report"]["files"],
            "statuses": sample["report"]["statuses"],
        }
    ours = results["ours"]
    for impl in IMPLEMENTATIONS[1:]:
        other = results[impl]
        other["speedup_wall_ours_vs_this"] = other["wall_seconds_median"] / ours["wall_seconds_median"]
        other["speedup_parse_ours_vs_this"] = other["parse_seconds_median"] / ours["parse_seconds_median"]
        other["rss_ratio_ours_to_this"] = ours["peak_rss_kib_median"] / other["peak_rss_kib_median"]
    return results


def print_table(workloads):
    """Print one line per workload and implementation."""
    header = "%-22s %-19s %9s %9s %10s %9s %9s" % ("workload", "implementation", "wall s", "parse s", "peak MiB",
                                                   "speed x", "mem ratio")
    print(header)
    print("-" * len(header))
    for name, data in workloads.items():
        for impl, row in data["results"].items():
            speed = row.get("speedup_wall_ours_vs_this")
            ratio = row.get("rss_ratio_ours_to_this")
            print("%-22s %-19s %9.3f %9.3f %10.1f %9s %9s" % (
                name, impl, row["wall_seconds_median"], row["parse_seconds_median"], row["peak_rss_kib_median"] / 1024.0,
                "%.2f" % speed if speed else "-", "%.2f" % ratio if ratio else "-"))
    print("speed x = this implementation's median wall time / ours (higher: ours faster);"
          " mem ratio = our peak RSS / this one's (below 1: ours smaller)")


def main():
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="nginx_parser vs crossplane benchmark")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--servers", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--out", default=os.path.join(HERE, "out", "parser.json"))
    args = parser.parse_args()

    python = ensure_bench_venv()
    workloads = {}
    with tempfile.TemporaryDirectory(prefix="bgd-bench-") as workdir:
        main_conf = generate(os.path.join(workdir, "conf"), args.servers, args.files)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(os.path.join(workdir, "conf")) for f in fs)
        workloads["generated"] = {
            "description": "%d servers x 3 locations over %d included files (%d bytes)" % (args.servers, args.files, size),
            "results": bench_workload(python, "generated", [main_conf], args.runs, workdir),
        }
        if os.path.isdir(CORPUS):
            paths = corpus_main_configs()
            workloads["corpus"] = {
                "description": "%d corpus configs, each parsed with its includes" % len(paths),
                "results": bench_workload(python, "corpus", paths, args.runs, workdir),
            }
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": subprocess.check_output([python, "-c", "import sys; print(sys.version.split()[0])"]).decode().strip(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
        "crossplane": CROSSPLANE_VERSION,
        "workloads": workloads,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
        handle.write("\n")
    for name, data in workloads.items():
        print("%s: %s" % (name, data["description"]))
    print_table(workloads)
    print("written %s" % os.path.relpath(args.out, REPO))
    generated = workloads["generated"]["results"]["crossplane"]
    return 0 if generated["speedup_wall_ours_vs_this"] >= 2 and generated["rss_ratio_ours_to_this"] <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
