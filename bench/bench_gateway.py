# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: gateway_facts on a lab host with a 10,000-server nginx config and a 1 GB error log.

    .venv/bin/python bench/bench_gateway.py [--servers 10000] [--log-mb 1024] [--runs 5]

Boots two lab hosts (lab name ``bgd-bench``): ``web1``, the big host, and ``web2``, a normal lab host.
On web1 it writes the generated configuration of ``bench/gen_config.py`` to ``/etc/nginx/bench/``,
starts a backend that serves every upstream of it (127.0.0.1:8000-8099 and the 10,000
``/run/uwsgi/appNNNNN.sock`` sockets, one process answering ``200`` to any request, as a hosting
provider's proxy host has them: every route healthy), runs nginx on that configuration, and writes a
1 GB nginx error log (old lines, then one hour of recent ones) to ``/var/log/nginx/bench-error.log``.
Then it measures on the host:

* module time: the time ``gateway_facts`` spends gathering (``collect_all`` with the options the
  module passes, every section on, ``nginx -t`` included), median of ``--runs``;
* the same with a 10 MB log, to show the log section's cost does not grow with the file;
* the whole ``ansible -m badgateway.doctor.gateway_facts`` round trip from the controller;
* the module process on the host as Ansible runs it (the AnsiballZ file of that round trip,
  kept with ``ANSIBLE_KEEP_REMOTE_FILES``, run again): gathering plus ``exit_json`` (Ansible's
  no_log scrub and JSON encoding of the result, which grow with the size of the facts).

and side by side, interleaved, median of ``--runs`` (issue 13):

* the size of the facts as the module returns them (schema 2, shared values listed once) and as
  they were before (every entry written out), and the time the compaction takes on the host;
* ``ansible -m badgateway.doctor.gateway_facts`` with its defaults on web1 and on web2;
* the diagnose playbook on web1 alone and on web2 alone (its defaults), and ``ansible -m ping`` on
  web2: the big host within 3x of the normal one, the normal one as fast as before (diagnose ≤
  2.5x ping);
* the controller's evaluation of web1's facts (rules and reports) in-process;

and then, the backend stopped (every route of web1 fails, as on a hosting provider's proxy after a
change that broke every site), the diagnose playbook on web1 again, median of ``--runs``.

Each run also reports the time per section (``timings``), the nginx section's own split
(parse, analyze, waiting for ``nginx -t``), the size of the facts as JSON and the number of
probes sent and skipped by the probe limits.

Goals: module time within 1 s (issue 4); facts ≤ 3 MB, ``ansible -m gateway_facts`` ≤ 4 s, diagnose
within 3x of a normal host's, normal hosts as fast as before (issue 13). Results go to
``bench/out/gateway.json``. The lab is torn down at the end, also on failure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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
from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_facts
opts = json.loads(sys.argv[1])
t0 = time.perf_counter()
facts = collect_all(
    nginx_options=dict(conf_path=opts["conf_path"], source="files", binary=None, resolve=True,
                       run_test=opts.get("run_test", "auto")),
    log_options=dict(nginx_error_logs=[opts["log"]], since=3600.0, max_bytes=8 * 1024 * 1024, kernel=True),
    probe_options=dict(timeout=3.0, path="/", host_header=None),
    socket_paths=[], socket_user=None, units=[])
elapsed = time.perf_counter() - t0
t1 = time.perf_counter()
wire = compact_facts(facts)
compact_seconds = time.perf_counter() - t1
nginx = facts.get("nginx") or {}
probes = facts.get("probes") or {}
print(json.dumps({"seconds": elapsed, "timings": facts.get("timings"), "nginx_timings": nginx.get("timings"),
                  "json_bytes": len(json.dumps(facts)), "wire_bytes": len(json.dumps(wire)),
                  "compact_seconds": compact_seconds, "probes_skipped": probes.get("skipped"),
                  "servers": len(nginx.get("servers") or []),
                  "routes": len(nginx.get("routes") or []), "files": len(nginx.get("files") or []),
                  "events": sum(e["count"] for e in (facts.get("logs") or {}).get("events") or []),
                  "probes": len(probes.get("results") or []),
                  "errors": [e["message"] for e in facts["errors"]][:5]}))
'''

BACKEND = r'''
"""Answers 200 to any request on 127.0.0.1:8000.. and /run/uwsgi/appNNNNN.sock (every upstream of the bench config)."""
import os, selectors, socket, sys
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
sel = selectors.DefaultSelector()

def listen(sock):
    sock.setblocking(False)
    sock.listen(128)
    sel.register(sock, selectors.EVENT_READ, accept)

def accept(sock):
    try:
        conn, _addr = sock.accept()
    except OSError:
        return
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, respond)

def respond(conn):
    try:
        if conn.recv(65536):
            conn.sendall(REPLY)
    except OSError:
        pass
    sel.unregister(conn)
    conn.close()

ports, servers = int(sys.argv[1]), int(sys.argv[2])
for port in range(8000, 8000 + ports):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:     # the lab's own uvicorn has 8001: it answers those routes
        s.close()
        continue
    listen(s)
os.makedirs("/run/uwsgi", exist_ok=True)
os.chmod("/run/uwsgi", 0o755)
for n in range(servers):
    path = "/run/uwsgi/app%05d.sock" % n
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    os.chmod(path, 0o666)
    listen(s)
open("/run/bgd-bench-backend.ready", "w").close()
while True:
    for key, _ev in sel.select():
        key.data(key.fileobj)
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
    for _run in range(runs):
        out = lab.run(host, "python3 /opt/bgd-bench/run.py '%s'" % json.dumps(opts), timeout=120).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    best = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
    best["all_seconds"] = [round(r["seconds"], 3) for r in results]
    best["median_seconds"] = statistics.median(r["seconds"] for r in results)
    return best


def timed(cmd: list, env: dict, keep: bool = False):
    """Seconds ``cmd`` took (its stdout too with ``keep``); a failure stops the benchmark with its output."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:6])} ... failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-1000:]}")
    return (elapsed, proc.stdout) if keep else elapsed


def side_by_side(lab: Lab, big: str, normal: str, runs: int, env: dict) -> dict:
    """Big host and normal host, interleaved: facts on the wire, ansible -m gateway_facts, the diagnose playbook."""
    inv = str(lab.inventory_path)
    ansible, playbook = str(REPO / ".venv/bin/ansible"), str(REPO / ".venv/bin/ansible-playbook")
    samples = {k: [] for k in ("gather_big", "gather_normal", "diagnose_big", "diagnose_normal", "ping_normal")}
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        diag = [playbook, "-i", inv, "badgateway.doctor.diagnose", "-e", "badgateway_fail_on=none"]
        for host in (big, normal):      # warm-up: SSH connections, caches
            timed(diag + ["--limit", host, "-e", f"badgateway_report_dir={tmp}/w"], env)
        for _run in range(runs):
            samples["ping_normal"].append(timed([ansible, "-i", inv, normal, "-m", "ansible.builtin.ping"], env))
            for host, key in ((big, "big"), (normal, "normal")):
                seconds, out = timed([ansible, "-i", inv, host, "-m", "badgateway.doctor.gateway_facts"], env, keep=True)
                samples["gather_" + key].append(seconds)
                outputs[key] = out
                samples["diagnose_" + key].append(timed(diag + ["--limit", host, "-e", f"badgateway_report_dir={tmp}/{key}"], env))
        verdicts = {key: json.loads(Path(tmp, key, "findings.json").read_text())["hosts"] for key in ("big", "normal")}
    med = {k: statistics.median(v) for k, v in samples.items()}
    wire = {}
    for key, out in outputs.items():
        result = json.loads(out[out.index("=>") + 2:])
        wire[key] = result["ansible_facts"]["badgateway"]
    evaluation = controller_evaluation(big, wire["big"])
    return {
        "samples": samples, "median_seconds": med,
        "facts_bytes": {k: len(json.dumps(v, separators=(",", ":"))) for k, v in wire.items()},
        "ratio_diagnose_big_vs_normal": med["diagnose_big"] / med["diagnose_normal"],
        "ratio_diagnose_normal_vs_ping": med["diagnose_normal"] / med["ping_normal"],
        "verdicts": {k: {h: {"status": v["status"], "findings": [f["code"] for f in v["findings"]]} for h, v in hv.items()}
                     for k, hv in verdicts.items()},
        "controller_evaluation": evaluation,
        "load_average": os.getloadavg(),
    }


def controller_evaluation(name: str, facts: dict) -> dict:
    """The rules and the reports on the big host's facts, in this process (what diagnose_evaluate runs)."""
    sys.path.insert(0, str(REPO / "tests/output/collections"))
    from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules  # pylint: disable=import-outside-toplevel
    import resource  # pylint: disable=import-outside-toplevel
    t0 = time.perf_counter()
    result = rules.evaluate({name: {"facts": facts, "unreachable": False, "address": [name], "msg": ""}})
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        reports.write_reports(result, tmp, list(reports.FORMATS))
    t2 = time.perf_counter()
    return {"evaluate_seconds": t1 - t0, "reports_seconds": t2 - t1,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def all_failing(lab: Lab, big: str, runs: int, env: dict) -> dict:
    """The backend stopped: every route of the big host fails, as on a hosting provider's proxy after a change that
    broke every site at once. The diagnose playbook on it, median of ``runs``, and what it found."""
    lab.run(big, "systemctl stop bgd-bench-backend.service", timeout=120)
    inv = str(lab.inventory_path)
    diag = [str(REPO / ".venv/bin/ansible-playbook"), "-i", inv, "badgateway.doctor.diagnose", "-e", "badgateway_fail_on=none",
            "--limit", big]
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        for _run in range(runs):
            samples.append(timed(diag + ["-e", f"badgateway_report_dir={tmp}/failing"], env))
        findings = json.loads(Path(tmp, "failing", "findings.json").read_text())["hosts"][big]["findings"]
    return {"samples": samples, "median_seconds": statistics.median(samples), "root_findings": len(findings),
            "findings": len(findings) + sum(len(f.get("consequences") or []) for f in findings),
            "codes": sorted({f["code"] for f in findings}), "load_average": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--servers", type=int, default=10000)
    ap.add_argument("--log-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args()

    lab = Lab(os.environ.get("BGD_BENCH_LAB", "bgd-bench"))
    try:
        lab.up(hosts=2)
        host, normal = lab.hosts[0], lab.hosts[1]
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
        (root / "opt/bgd-bench/backend.py").write_text(BACKEND)
        big = root / "var/log/nginx/bench-error.log"
        small = root / "var/log/nginx/bench-error-small.log"
        t0 = time.time()
        write_log(big, args.log_mb)
        write_log(small, 10)
        gen_seconds = time.time() - t0

        conf = "/etc/nginx/bench/nginx.conf"
        # As on a real host with this configuration: nginx runs it (loading it takes nginx itself
        # several seconds). The module's default nginx -t mode, auto, then skips repeating the test.
        groups = max(1, args.servers // 100)
        lab.run(host, "rm -f /run/bgd-bench-backend.ready; systemd-run --unit=bgd-bench-backend -p LimitNOFILE=65536 "
                      "/usr/bin/python3 /opt/bgd-bench/backend.py %d %d && "
                      "for i in $(seq 240); do [ -e /run/bgd-bench-backend.ready ] && break; sleep 0.5; done; "
                      "[ -e /run/bgd-bench-backend.ready ]" % (groups, args.servers), timeout=180)
        lab.run(host, "systemctl stop nginx.service && nginx -c %s && "
                      "for i in $(seq 120); do [ -s /run/nginx.pid ] && break; sleep 0.5; done" % conf, timeout=180)
        big_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error.log"}, args.runs)
        small_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error-small.log"}, args.runs)
        # the same without nginx -t: what the collection's own code costs (nginx -t on this config
        # is nginx's own work, several seconds, see the nginx split)
        untested_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error.log", "run_test": False},
                                  args.runs)
        always_run = median_run(lab, host, {"conf_path": conf, "log": "/var/log/nginx/bench-error.log", "run_test": "always"},
                                args.runs)
        test_alone = lab.run(host, "python3 -c 'import subprocess,time; t=time.perf_counter(); "
                                   "subprocess.run([\"nginx\", \"-t\", \"-q\", \"-c\", \"%s\"]); print(time.perf_counter()-t)'"
                             % conf, timeout=120).stdout

        inv = str(lab.inventory_path)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests/output/collections"))
        walls = []
        for _run in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([str(REPO / ".venv/bin/ansible"), "-i", inv, host, "-m", "badgateway.doctor.gateway_facts",
                            "-a", json.dumps({"conf_path": conf, "nginx_error_logs": ["/var/log/nginx/bench-error.log"]})],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t0)
        # The module process itself: run the AnsiballZ file of one more round trip again, on the host.
        subprocess.run([str(REPO / ".venv/bin/ansible"), "-i", inv, host, "-m", "badgateway.doctor.gateway_facts",
                        "-a", json.dumps({"conf_path": conf, "nginx_error_logs": ["/var/log/nginx/bench-error.log"]})],
                       check=True, env=dict(env, ANSIBLE_KEEP_REMOTE_FILES="1"), stdout=subprocess.DEVNULL)
        zips = lab.run(host, "ls -t /root/.ansible/tmp/*/AnsiballZ_gateway_facts.py").stdout.split()
        process = []
        if zips:
            for _run in range(args.runs):
                out = lab.run(host, "python3 -c 'import subprocess,sys,time; t=time.perf_counter(); "
                                    "subprocess.run([sys.executable, sys.argv[1]], stdout=subprocess.DEVNULL, check=True); "
                                    "print(time.perf_counter()-t)' %s" % zips[0], timeout=300).stdout
                process.append(float(out.strip().splitlines()[-1]))
            lab.run(host, "rm -rf /root/.ansible/tmp/ansible-tmp-*", check=False)
        result = {
            "servers": args.servers, "log_mb": args.log_mb, "log_generation_seconds": round(gen_seconds, 1),
            "module_time_1gb_log": big_run, "module_time_10mb_log": small_run,
            "module_time_without_nginx_test": untested_run,
            "module_time_nginx_test_always": always_run,
            "nginx_test_alone_seconds": float(test_alone.strip().splitlines()[-1]),
            "log_cost_ratio_1gb_vs_10mb": big_run["median_seconds"] / small_run["median_seconds"],
            "ansible_round_trip_seconds_median": statistics.median(walls),
            "module_process_seconds_median": statistics.median(process) if process else None,
            "module_process_seconds": [round(x, 3) for x in process],
            "goal_module_time_seconds": 1.0,
        }
        both = side_by_side(lab, host, normal, args.runs, env)
        result["side_by_side"] = both
        failing = all_failing(lab, host, args.runs, env)
        result["all_failing"] = failing
        result["goals_issue_13"] = {"facts_mb": 3.0, "ansible_gateway_facts_seconds": 4.0, "diagnose_big_vs_normal": 3.0,
                                    "diagnose_normal_vs_ping": 2.5}
        out = REPO / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "gateway.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"gateway_facts on a lab host, {args.servers} servers ({big_run['routes']} routes, {big_run['files']} files):")
        print("  (nginx runs the benchmark config; gateway_facts defaults: nginx -t mode auto)")
        print(f"  module time, 1 GB error log : {big_run['median_seconds']:.3f} s (median of {args.runs}: {big_run['all_seconds']})")
        print(f"  module time, 10 MB error log: {small_run['median_seconds']:.3f} s")
        print(f"  1 GB / 10 MB                : {result['log_cost_ratio_1gb_vs_10mb']:.2f}x")
        print(f"  without nginx -t            : {untested_run['median_seconds']:.3f} s (median of {args.runs}: "
              f"{untested_run['all_seconds']}); per section {untested_run['timings']}")
        print(f"  with nginx -t always        : {always_run['median_seconds']:.3f} s")
        print(f"  nginx -t alone on the host  : {result['nginx_test_alone_seconds']:.3f} s")
        print(f"  per section (s)             : {big_run['timings']}")
        print(f"  nginx split (s)             : {big_run['nginx_timings']}")
        print(f"  facts as JSON               : {big_run['wire_bytes'] / 1e6:.2f} MB as the module returns them (schema 2; "
              f"compaction {big_run['compact_seconds']:.3f} s), {big_run['json_bytes'] / 1e6:.1f} MB written out; "
              f"probes sent {big_run['probes']}, skipped {big_run['probes_skipped']}")
        if process:
            print(f"  module process on the host  : {result['module_process_seconds_median']:.3f} s "
                  f"(AnsiballZ incl. exit_json, median of {len(process)})")
        print(f"  ansible -m gateway_facts    : {result['ansible_round_trip_seconds_median']:.3f} s wall (controller, incl. SSH)")
        print(f"  goal: module time <= 1.0 s -> {'met' if big_run['median_seconds'] <= 1.0 else 'NOT met'}")
        if big_run["errors"]:
            print("  errors reported by the facts:", big_run["errors"])
        med = both["median_seconds"]
        print(f"side by side, {host} (this config, every route served) and {normal} (the lab's normal host), "
              f"interleaved, median of {args.runs}, load average {both['load_average'][0]:.1f}:")
        print(f"  facts as the module returns them : {both['facts_bytes']['big'] / 1e6:.2f} MB / "
              f"{both['facts_bytes']['normal'] / 1e3:.1f} kB  (goal <= 3 MB: "
              f"{'met' if both['facts_bytes']['big'] <= 3e6 else 'NOT met'})")
        print(f"  ansible -m gateway_facts         : {med['gather_big']:.2f} s / {med['gather_normal']:.2f} s  "
              f"(goal <= 4 s: {'met' if med['gather_big'] <= 4 else 'NOT met'})")
        print(f"  diagnose playbook                : {med['diagnose_big']:.2f} s / {med['diagnose_normal']:.2f} s -> "
              f"{both['ratio_diagnose_big_vs_normal']:.2f}x (goal <= 3x: "
              f"{'met' if both['ratio_diagnose_big_vs_normal'] <= 3 else 'NOT met'})")
        print(f"  ansible -m ping on {normal}         : {med['ping_normal']:.2f} s -> diagnose {normal} "
              f"{both['ratio_diagnose_normal_vs_ping']:.2f}x ping (before: 1.29x; goal <= 2.5x)")
        ev = both["controller_evaluation"]
        print(f"  controller: rules on {host}'s facts {ev['evaluate_seconds']:.2f} s, reports {ev['reports_seconds']:.2f} s, "
              f"peak {ev['peak_rss_mb']:.0f} MB")
        print(f"  verdicts: {both['verdicts']}")
        print(f"every backend stopped (each route of {host} fails), load average {failing['load_average'][0]:.1f}:")
        print(f"  diagnose playbook on {host}      : {failing['median_seconds']:.2f} s (median of {args.runs}: "
              f"{[round(x, 2) for x in failing['samples']]}) -> {failing['median_seconds'] / med['diagnose_normal']:.2f}x "
              f"the normal host; {failing['findings']} findings, {failing['root_findings']} roots {failing['codes']}")
        return 0
    finally:
        if not args.keep:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
