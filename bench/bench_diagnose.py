# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the diagnose playbook's wall time against ``ansible -m ping``, on 1 and 8 lab hosts.

    .venv/bin/python bench/bench_diagnose.py [--runs 5] [--hosts 8]

Boots a lab of ``--hosts`` healthy hosts (lab name ``bgd-bdiag``) and measures, interleaved in
the same run (median of ``--runs``):

* ``ansible -m ansible.builtin.ping`` on one host;
* ``ansible-playbook badgateway.doctor.diagnose`` limited to that one host;
* the same playbook on all hosts with ``--forks`` equal to the number of hosts;
* ``ansible -m ping`` on all hosts with the same forks: how Ansible itself scales on this machine.

Goals (issue 5): 1-host diagnose ≤ 2.5 × ping; N-host diagnose ≤ 1.5 × the 1-host diagnose.
Results go to ``bench/out/diagnose.json``. The lab is torn down at the end, also on failure.

    .venv/bin/python bench/bench_diagnose.py --scale 1,2,4,8,16 [--runs 3]

Wall time against host count instead (issue 13): one lab of the largest count, then for each count
``N`` the diagnose playbook on the first ``N`` hosts with ``N`` forks, and ``ansible -m ping`` on the
same hosts as the reference of what Ansible itself costs there, interleaved, median of ``--runs``.
Results go to ``bench/out/diagnose_scale.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

BIN = REPO / ".venv" / "bin"


def timed(cmd: list, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:3])} ... failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-1000:]}")
    return elapsed


def scale(lab: Lab, counts: list, runs: int, env: dict) -> dict:
    """Wall time of the diagnose playbook (and of ping) against the number of hosts, on one lab."""
    inv = str(lab.inventory_path)
    samples = {n: {"diagnose": [], "ping": []} for n in counts}
    with tempfile.TemporaryDirectory() as tmp:
        diag = [str(BIN / "ansible-playbook"), "-i", inv, "badgateway.doctor.diagnose",
                "-e", f"badgateway_report_dir={tmp}/r", "-e", "badgateway_fail_on=none"]
        timed(diag + ["--forks", str(max(counts))], env)     # warm-up: caches, first SSH connections to every host
        for _run in range(runs):
            for n in counts:
                hosts = ",".join(lab.hosts[:n])
                samples[n]["ping"].append(timed([str(BIN / "ansible"), "-i", inv, hosts, "--forks", str(n),
                                                 "-m", "ansible.builtin.ping"], env))
                samples[n]["diagnose"].append(timed(diag + ["--limit", hosts, "--forks", str(n)], env))
    med = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    first = counts[0]
    result = {"counts": counts, "runs": runs, "median_seconds": med, "samples": samples,
              "diagnose_vs_first": {n: med[n]["diagnose"] / med[first]["diagnose"] for n in counts},
              "ping_vs_first": {n: med[n]["ping"] / med[first]["ping"] for n in counts},
              "load_average": os.getloadavg()}
    print(f"diagnose playbook: wall time against host count (forks = hosts, median of {runs}, same run):")
    print(f"  {'hosts':>5} {'diagnose':>9} {'x 1st':>6} {'per host':>9} {'ping':>7} {'x 1st':>6}")
    for n in counts:
        print(f"  {n:>5} {med[n]['diagnose']:>8.2f}s {result['diagnose_vs_first'][n]:>5.2f}x "
              f"{med[n]['diagnose'] / n:>8.2f}s {med[n]['ping']:>6.2f}s {result['ping_vs_first'][n]:>5.2f}x")
    print(f"  load average at the end: {result['load_average'][0]:.1f} (2 cores; the lab hosts share them with the controller)")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--scale", help="host counts, e.g. 1,2,4,8,16: wall time against host count")
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args()
    if args.scale:
        counts = sorted({int(x) for x in args.scale.split(",") if x})
        lab = Lab(os.environ.get("BGD_BENCH_LAB", "bgd-bdiag"))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests/output/collections"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        try:
            lab.up(hosts=max(counts))
            result = scale(lab, counts, args.runs, env)
        finally:
            if not args.keep:
                lab.down()
        out = REPO / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "diagnose_scale.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0

    lab = Lab(os.environ.get("BGD_BENCH_LAB", "bgd-bdiag"))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests/output/collections"), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    try:
        t0 = time.perf_counter()
        lab.up(hosts=args.hosts)
        up_seconds = time.perf_counter() - t0
        inv = str(lab.inventory_path)
        one = lab.hosts[0]
        with tempfile.TemporaryDirectory() as tmp:
            ping = [str(BIN / "ansible"), "-i", inv, one, "-m", "ansible.builtin.ping"]
            ping_all = [str(BIN / "ansible"), "-i", inv, "lab", "--forks", str(len(lab.hosts)), "-m", "ansible.builtin.ping"]
            diag = [str(BIN / "ansible-playbook"), "-i", inv, "badgateway.doctor.diagnose",
                    "-e", f"badgateway_report_dir={tmp}/r", "-e", "badgateway_fail_on=none"]
            diag_one = diag + ["--limit", one]
            diag_all = diag + ["--forks", str(len(lab.hosts))]
            timed(diag_one, env)  # warm-up: caches, first SSH connections
            samples = {"ping": [], "ping_n": [], "diagnose_1": [], "diagnose_n": []}
            for _run in range(args.runs):
                samples["ping"].append(timed(ping, env))
                samples["ping_n"].append(timed(ping_all, env))
                samples["diagnose_1"].append(timed(diag_one, env))
                samples["diagnose_n"].append(timed(diag_all, env))
        med = {k: statistics.median(v) for k, v in samples.items()}
        result = {
            "hosts": len(lab.hosts), "runs": args.runs, "lab_up_seconds": round(up_seconds, 1),
            "median_seconds": med, "samples": samples,
            "ratio_diagnose_1_vs_ping": med["diagnose_1"] / med["ping"],
            "ratio_diagnose_n_vs_1": med["diagnose_n"] / med["diagnose_1"],
            "ratio_ping_n_vs_1": med["ping_n"] / med["ping"],
            "goals": {"diagnose_1_vs_ping": 2.5, "diagnose_n_vs_1": 1.5},
        }
        out = REPO / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "diagnose.json").write_text(json.dumps(result, indent=2) + "\n")
        n = len(lab.hosts)
        print(f"diagnose playbook on the lab (median of {args.runs}, same run):")
        print(f"  ansible -m ping, 1 host              : {med['ping']:.2f} s")
        print(f"  diagnose, 1 host                     : {med['diagnose_1']:.2f} s  "
              f"-> {result['ratio_diagnose_1_vs_ping']:.2f}x ping (goal <= 2.5x)")
        print(f"  diagnose, {n} hosts, {n} forks          : {med['diagnose_n']:.2f} s  "
              f"-> {result['ratio_diagnose_n_vs_1']:.2f}x 1 host (goal <= 1.5x)")
        print(f"  reference: ansible -m ping, {n} hosts : {med['ping_n']:.2f} s  "
              f"-> {result['ratio_ping_n_vs_1']:.2f}x 1 host (what Ansible itself scales to on this machine)")
        return 0
    finally:
        if not args.keep:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
