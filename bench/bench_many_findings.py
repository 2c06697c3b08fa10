# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the controller's evaluation of one host whose every route fails, beside the same host healthy.

    .venv/bin/python bench/bench_many_findings.py [--sites 10000] [--runs 3]

A hosting provider's proxy after a change that broke every site at once (an app-server upgrade that
moved every socket) has tens of thousands of findings on one host. The host is built from the lab's
recordings (``tests/unit/fixtures/facts/lab``), written out, its site repeated ``--sites`` times (a
``server`` per site, each with the recording's two routes) and sent as the modules send them
(schema 2):

* **failing**: ``wrong_socket_path`` - each site's unix route proxies to a socket of its own that no
  app binds (the app listens on gunicorn's socket), so every site's unix route has a finding;
* **healthy** (the reference, same run): ``healthy`` - every site's routes reach the lab's apps.

Measured in a fresh process per run: ``rules.evaluate()`` (rules, folding, request paths) and
``reports.write_reports()`` (the four formats), and the peak resident memory. The ratio failing /
healthy is what a host's findings cost on top of its routes. Results go to
``bench/out/many_findings.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
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
CASES = {"failing": "wrong_socket_path", "healthy": "healthy"}


def build(case: str, sites: int) -> dict:
    """The evaluate() input: the recording's host with its site repeated ``sites`` times."""
    from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import (  # pylint: disable=import-outside-toplevel
        COMPACT_VERSION,
        compact_facts,
        expand_facts,
    )
    data = json.loads((FIXTURES / f"{CASES[case]}.json").read_text())
    facts = copy.deepcopy(expand_facts(data["hosts"]["web1"]))
    nginx = facts["nginx"]
    routes = []
    for i in range(sites):
        name = f"site{i:05d}.example"
        for r in nginx["routes"]:
            r = copy.deepcopy(r)
            r["id"] = f"{name}:80 {r.get('location')}"
            r["server_names"] = [name]
            eps = r.get("endpoints") or []
            if case == "failing" and any(ep.get("kind") == "unix" for ep in eps):
                # a socket of the site's own, that nothing binds (one upstream per site, as on such hosts)
                r["endpoints"] = [dict(ep, path=f"/run/gunicorn/{name}.sock") if ep.get("kind") == "unix" else ep
                                  for ep in eps]
                r["upstream"] = None
                r["target"] = f"http://unix:/run/gunicorn/{name}.sock"
            routes.append(r)
    nginx["routes"] = routes
    out = compact_facts(facts)
    out["version"] = COMPACT_VERSION
    return {"web1": {"facts": json.loads(json.dumps(out)), "unreachable": False, "address": ["10.213.0.2"], "msg": ""}}


def measure(case: str, sites: int, report_dir: str) -> dict:
    from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules  # pylint: disable=import-outside-toplevel
    hosts = build(case, sites)
    t0 = time.perf_counter()
    result = rules.evaluate(hosts)
    t1 = time.perf_counter()
    reports.write_reports(result, report_dir, list(reports.FORMATS))
    t2 = time.perf_counter()
    findings = result["hosts"]["web1"]["findings"]
    return {"case": case, "sites": sites, "routes": 2 * sites, "evaluate_seconds": t1 - t0, "reports_seconds": t2 - t1,
            "total_seconds": t2 - t0, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "root_findings": len(findings),
            "findings": len(findings) + sum(len(f.get("consequences") or []) for f in findings),
            "codes": sorted({f["code"] for f in findings})}


def run_child(case: str, sites: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, __file__, "--child", case, "--sites", str(sites), "--report-dir", tmp],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sites", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--report-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.sites, args.report_dir)))
        return 0
    runs = {case: [] for case in CASES}
    for _run in range(args.runs):           # interleaved: a load change hits both cases alike
        for case in CASES:
            runs[case].append(run_child(case, args.sites))
    results = {}
    for case, rs in runs.items():
        best = sorted(rs, key=lambda r: r["total_seconds"])[len(rs) // 2]
        best["all_total_seconds"] = [round(r["total_seconds"], 3) for r in rs]
        best["median_total_seconds"] = statistics.median(r["total_seconds"] for r in rs)
        results[case] = best
    fail, ok = results["failing"], results["healthy"]
    out = {"sites": args.sites, "runs": args.runs, "cases": results,
           "ratio_failing_vs_healthy": fail["median_total_seconds"] / ok["median_total_seconds"]}
    path = REPO / "bench" / "out"
    path.mkdir(parents=True, exist_ok=True)
    (path / "many_findings.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"one host, {args.sites} sites ({2 * args.sites} routes), rules and the four reports in-process "
          f"(median of {args.runs}, a fresh process each):")
    for case, r in results.items():
        print(f"  {case:>8}: {r['findings']:>6} findings ({r['root_findings']} roots)  evaluate {r['evaluate_seconds']:.2f} s"
              f"  reports {r['reports_seconds']:.2f} s  total {r['median_total_seconds']:.2f} s  peak {r['peak_rss_mb']:.0f} MB")
    print(f"  failing / healthy: {out['ratio_failing_vs_healthy']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
