# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark collect_listeners() against `ss -ltnpx` with many extra listening sockets.

    python bench/bench_listeners.py [--sockets 2000] [--runs 5]

A child process opens N extra listening sockets (half TCP on 127.0.0.1, half unix under a
temporary directory), reports ready and holds them until the benchmark closes its stdin; it
is always terminated and its directory removed. Then, in the same run, it times (median of
``--runs``): collect_listeners() in this process, the same as a fresh Python process (what a
module run pays: interpreter start + import), and `ss -ltnpx` as a process; checks that both
found every extra socket with its pid; prints the ratio (goal <= 1.5x) and writes
bench/out/listeners.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "listeners.json"
GOAL = 1.5

CHILD = r"""
import os, resource, socket, sys
n, tmp = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
socks = []
for i in range(n):
    if i % 2 == 0:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(tmp, "s%05d.sock" % i))
    s.listen(16)
    socks.append(s)
sys.stdout.write("ready %d\n" % os.getpid())
sys.stdout.flush()
sys.stdin.read()
"""


def import_path() -> str:
    """A directory holding ansible_collections/badgateway/doctor -> this checkout."""
    base = Path(tempfile.mkdtemp(prefix="bgd-bench-coll-"))
    target = base / "ansible_collections" / "badgateway"
    target.mkdir(parents=True)
    (target / "doctor").symlink_to(REPO)
    return str(base)


def median_time(func, runs: int) -> tuple:
    times = []
    result = None
    for _run in range(runs):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ss = shutil.which("ss")
    if not ss:
        print("ss is not installed; nothing to compare against", file=sys.stderr)
        return 2
    coll = import_path()
    sys.path.insert(0, coll)
    from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners  # noqa: E402

    tmp = tempfile.mkdtemp(prefix="bgd-bench-sock-")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.sockets), tmp],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        if not line.startswith("ready"):
            print("the socket child failed to start: %r" % line, file=sys.stderr)
            return 1
        child_pid = int(line.split()[1])

        baseline = collect_listeners()
        med_fn, times_fn, facts = median_time(collect_listeners, args.runs)
        med_ss, times_ss, ss_out = median_time(
            lambda: subprocess.run([ss, "-ltnpx"], capture_output=True, text=True, check=True,
                                   env=dict(os.environ, LC_ALL="C")).stdout, args.runs)
        code = ("import sys; sys.path.insert(0, %r); "
                "from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners; "
                "collect_listeners()" % coll)
        med_proc, times_proc, _ignored = median_time(
            lambda: subprocess.run([sys.executable, "-c", code], check=True), args.runs)

        mine_tcp = [e for e in facts["tcp"] if any(p["pid"] == child_pid for p in e["processes"])]
        mine_unix = [e for e in facts["unix"] if e["path"].startswith(tmp)
                     and any(p["pid"] == child_pid for p in e["processes"])]
        ss_child = sum(1 for ln in ss_out.splitlines() if "pid=%d," % child_pid in ln)
        found = len(mine_tcp) + len(mine_unix)
        result = {
            "sockets_opened": args.sockets,
            "found_by_collect_listeners": found,
            "found_by_ss": ss_child,
            "total_listeners": len(facts["tcp"]) + len(facts["unix"]),
            "errors": facts["errors"],
            "runs": args.runs,
            "collect_listeners_in_process_s": {"median": med_fn, "all": times_fn},
            "collect_listeners_new_process_s": {"median": med_proc, "all": times_proc},
            "ss_ltnpx_s": {"median": med_ss, "all": times_ss},
            "ratio_in_process": med_fn / med_ss,
            "ratio_new_process": med_proc / med_ss,
            "goal_ratio": GOAL,
            "baseline_listeners_before_timing": len(baseline["tcp"]) + len(baseline["unix"]),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
            "when": time.time(),
        }
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(coll, ignore_errors=True)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print("extra listening sockets: %d opened, %d found by collect_listeners, %d by ss"
          % (args.sockets, found, ss_child))
    print("collect_listeners() in process : %.4f s (median of %d)" % (med_fn, args.runs))
    print("collect_listeners() new process: %.4f s" % med_proc)
    print("ss -ltnpx                      : %.4f s" % med_ss)
    print("ratio in process %.2fx, new process %.2fx (goal <= %.1fx) -> %s"
          % (result["ratio_in_process"], result["ratio_new_process"], GOAL,
             "OK" if result["ratio_in_process"] <= GOAL else "OVER GOAL"))
    print("wrote %s" % OUT)
    ok = found == args.sockets and result["ratio_in_process"] <= GOAL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
