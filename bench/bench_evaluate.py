# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the controller's evaluation of 1,000 hosts' recorded facts - time and peak memory, and how they grow.

    .venv/bin/python bench/bench_evaluate.py [--hosts 1000] [--steps 125,250,500,1000] [--runs 3] [--playbook]

The hosts are the lab's recordings (``tests/unit/fixtures/facts/lab/*.json``: every fault of the
catalog, recorded on lab hosts by ``make_fixtures.py``) replayed under new names: each single-host
recording becomes hosts ``h0001``, ``h0002``, ... with their own address, and the split-topology
recordings (a proxy whose nginx proxies to ``<app address>:8000`` on an app host) become pairs
whose addresses are rewritten to new, distinct ones - so every such proxy's route points at
another host of the evaluation (cross-host references: the rules must find the owner of each
address among all hosts). About 40 % of the hosts are in such pairs.

Measured in a fresh process per size (so peak memory is that evaluation's own):

* ``rules.evaluate()`` over all hosts (the rules, folding, request paths);
* the reports of the evaluate step (findings.json, junit.xml, report.html, report.md);
* the peak resident memory of the process (``ru_maxrss``), including the facts themselves.

With ``--playbook`` also, for each size, the whole ``badgateway.doctor.evaluate`` playbook over a
``jsonfile`` fact cache holding those hosts (written with Ansible's own cache plugin; reading it is
part of the time), wall time and the largest process's peak (``ansible-playbook`` itself includes
about 2-3 s of start-up).

Goal (issue 13): 1,000 hosts in ≤ 10 s and ≤ 1 GB peak, time growing linearly with the hosts.
Results go to ``bench/out/evaluate.json``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "tests" / "output" / "collections"
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "facts" / "lab"
sys.path.insert(0, str(COLLECTIONS))


def recordings():
    """(single-host recordings [facts], split recordings [(proxy facts, app facts, proxy addr, app addr)])."""
    single, split = [], []
    for path in sorted(glob.glob(str(FIXTURES / "*.json"))):
        data = json.loads(Path(path).read_text())
        hosts = data["hosts"]
        if data.get("topology") == "split":
            addrs = data.get("addresses") or {}
            proxy = next(h for h in hosts if h.startswith("proxy"))
            app = next(h for h in hosts if h.startswith("app"))
            split.append((json.dumps(hosts[proxy]), json.dumps(hosts[app]), addrs[proxy][0], addrs[app][0]))
        else:
            for facts in hosts.values():
                single.append(json.dumps(facts))
    return single, split


def address(i: int) -> str:
    return f"10.{100 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"


def build(count: int) -> dict:
    """The evaluate() input for ``count`` hosts, deterministic."""
    single, split = recordings()
    hosts = {}
    i = 0
    while len(hosts) < count:
        if i % 5 in (0, 1) and count - len(hosts) >= 2:        # 2 of every 5 slots: a proxy/app pair
            ptext, atext, paddr, aaddr = split[(i // 5) % len(split)]
            new_p, new_a = address(len(hosts) + 1), address(len(hosts) + 2)
            for text, new, name in ((ptext, new_p, f"h{len(hosts) + 1:04d}"), (atext, new_a, f"h{len(hosts) + 2:04d}")):
                text = text.replace(f'"{aaddr}', f'"{new_a}').replace(f'"{paddr}', f'"{new_p}')
                text = text.replace(f"{aaddr}:", f"{new_a}:").replace(f"//{paddr}", f"//{new_p}")
                hosts[name] = {"facts": json.loads(text), "unreachable": False, "address": [new, name], "msg": ""}
            i += 2
            continue
        name = f"h{len(hosts) + 1:04d}"
        hosts[name] = {"facts": json.loads(single[i % len(single)]), "unreachable": False,
                       "address": [address(len(hosts) + 1), name], "msg": ""}
        i += 1
    return hosts


def measure(count: int, report_dir: str) -> dict:
    """In this process: build, evaluate, write the reports; the timings and the peak memory."""
    from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules  # pylint: disable=import-outside-toplevel
    t0 = time.perf_counter()
    hosts = build(count)
    t1 = time.perf_counter()
    result = rules.evaluate(hosts)
    t2 = time.perf_counter()
    reports.write_reports(result, report_dir, list(reports.FORMATS))
    t3 = time.perf_counter()
    codes = {}
    cross = 0
    for h in result["hosts"].values():
        for f in h["findings"]:
            codes[f["code"]] = codes.get(f["code"], 0) + 1
            cross += f["code"].startswith("CROSS_HOST")
    return {"hosts": count, "build_seconds": t1 - t0, "evaluate_seconds": t2 - t1, "reports_seconds": t3 - t2,
            "total_seconds": t3 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "findings": sum(codes.values()), "cross_host_findings": cross, "codes": codes,
            "report_bytes": {n: os.path.getsize(os.path.join(report_dir, n)) for n in os.listdir(report_dir)}}


def run_child(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, __file__, "--child", str(count), "--report-dir", tmp], check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def playbook_run(count: int) -> dict:
    """The evaluate playbook over a jsonfile fact cache of ``count`` hosts (written with Ansible's own cache plugin)."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_CACHE_PLUGIN="jsonfile",
                   ANSIBLE_CACHE_PLUGIN_CONNECTION=cache, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False")
        writer = ("import json, sys\n"
                  "sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
                  "import bench_evaluate as B\n"
                  "from ansible.plugins.loader import cache_loader\n"
                  "cache = cache_loader.get('jsonfile')\n"
                  "cache.set_option('_prefix', '') if cache.get_option('_prefix') is None else None\n"
                  "for name, e in B.build(%d).items():\n"
                  "    facts = dict(e['facts'], inventory={'hostname': name, 'addresses': e['address'][:1], 'gathered_at': 1.0})\n"
                  "    cache.set(name, {'badgateway': facts})\n") % (str(COLLECTIONS), str(REPO / "bench"), count)
        subprocess.run([sys.executable, "-c", writer], env=env, check=True)
        cache_mb = sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache)) / 1e6
        # a wrapper process of its own: its children's peak is this run's only (ru_maxrss of the largest one)
        wrapper = ("import resource, subprocess, sys, time\n"
                   "t = time.perf_counter()\n"
                   "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
                   "wall = time.perf_counter() - t\n"
                   "sys.stderr.write(p.stdout[-3000:])\n"
                   "print(p.returncode, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        proc = subprocess.run([sys.executable, "-c", wrapper, str(REPO / ".venv" / "bin" / "ansible-playbook"),
                               "badgateway.doctor.evaluate", "-e", f"badgateway_report_dir={tmp}/r",
                               "-e", "badgateway_fail_on=none"], env=env, capture_output=True, text=True, check=True)
        rc, wall, peak = proc.stdout.split()
        wall, peak = float(wall), int(peak)
        if rc != "0":
            raise SystemExit(f"bench: the evaluate playbook failed:\n{proc.stderr}")
        evaluated = len(json.loads(Path(tmp, "r", "findings.json").read_text())["hosts"])
        return {"hosts": count, "evaluated": evaluated, "wall_seconds": wall, "cache_mb": cache_mb,
                "peak_rss_mb": peak / 1024, "peak_rss_note": "largest process of the run (ansible-playbook or a worker)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--steps", default="125,250,500,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--playbook", action="store_true", help="also run the evaluate playbook over a jsonfile cache")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--report-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.report_dir)))
        return 0

    steps = sorted({int(s) for s in args.steps.split(",") if s} | {args.hosts})
    results = {}
    for count in steps:
        runs = [run_child(count) for _run in range(args.runs)]
        best = sorted(runs, key=lambda r: r["total_seconds"])[len(runs) // 2]
        best["all_total_seconds"] = [round(r["total_seconds"], 3) for r in runs]
        best["median_total_seconds"] = statistics.median(r["total_seconds"] for r in runs)
        results[count] = best
    top = results[args.hosts]
    base = results[steps[0]]
    out = {"steps": results, "goal": {"hosts": 1000, "seconds": 10.0, "peak_mb": 1024},
           "growth_time_per_host": {c: r["median_total_seconds"] / c for c, r in results.items()},
           "ratio_largest_vs_smallest_per_host": (top["median_total_seconds"] / args.hosts) / (base["median_total_seconds"] / steps[0])}
    if args.playbook:
        out["playbook"] = {count: playbook_run(count) for count in steps}
    path = REPO / "bench" / "out"
    path.mkdir(parents=True, exist_ok=True)
    (path / "evaluate.json").write_text(json.dumps(out, indent=2) + "\n")

    print(f"evaluating recorded lab facts on the controller (median of {args.runs}, a fresh process each):")
    print(f"  {'hosts':>6} {'evaluate':>9} {'reports':>8} {'total':>8} {'per host':>9} {'peak RSS':>9}  findings (cross-host)")
    for count, r in results.items():
        print(f"  {count:>6} {r['evaluate_seconds']:>8.2f}s {r['reports_seconds']:>7.2f}s {r['median_total_seconds']:>7.2f}s "
              f"{1000 * r['median_total_seconds'] / count:>7.2f}ms {r['peak_rss_mb']:>7.0f}MB  {r['findings']} ({r['cross_host_findings']})")
    print(f"  time per host, {args.hosts} vs {steps[0]} hosts: {out['ratio_largest_vs_smallest_per_host']:.2f}x (1.0 = linear)")
    ok = top["median_total_seconds"] <= 10 and top["peak_rss_mb"] <= 1024
    print(f"  goal: {args.hosts} hosts <= 10 s and <= 1 GB -> {'met' if ok else 'NOT met'}")
    if args.playbook:
        print("  the evaluate playbook over a jsonfile fact cache (reading the cache, evaluating, writing the reports):")
        for count, pb in out["playbook"].items():
            print(f"  {count:>6} hosts, cache {pb['cache_mb']:>5.1f} MB: {pb['wall_seconds']:.2f} s wall "
                  f"({1000 * pb['wall_seconds'] / count:.2f} ms/host), peak {pb['peak_rss_mb']:.0f} MB, "
                  f"{pb['evaluated']} hosts evaluated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
