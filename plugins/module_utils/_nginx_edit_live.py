# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the running nginx says about a configuration on disk: ``nginx -t``, the routes a reload
would break, and the reload itself (with proof that it took).

Standard library only (runs on the target).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import time

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._runner import run
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import open_regular
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import scan_processes, workers_of
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx
from ansible_collections.badgateway.doctor.plugins.module_utils.probes import collect_probes, plan_probes

MAX_OUTPUT = 8192
MAX_LOG_READ = 65536
# a direct probe that ends like this found nothing listening at the endpoint
NO_LISTENER = frozenset(("ECONNREFUSED", "ENOENT", "ENOTSOCK", "ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL"))
# what users get from nginx when the upstream is not there
GATEWAY_ERRORS = frozenset((502, 503, 504))
_LOCATION = re.compile(r" in (\S+?):(\d+)\s*$")


def _cap(text, limit=MAX_OUTPUT):
    return text if len(text) <= limit else text[:limit] + "\n[... %d more characters]" % (len(text) - limit)


def test_config(binary, conf_path, timeout=60):
    """``nginx -t`` on the whole configuration (the main file, as nginx loads it, includes and all).

    Returns ``{ok, rc, output, command, locations: [{file, line, message}]}``; ``ok`` False also
    when it could not run (``rc`` None, ``output`` says why).
    """
    argv = [binary, "-t", "-c", conf_path]
    rc, out, err, error = run(argv, timeout=timeout, max_bytes=MAX_OUTPUT * 8)
    output = mask_text("\n".join(part.strip() for part in (err, out, error) if part and part.strip()))
    locations = []
    for line in output.splitlines():
        match = _LOCATION.search(line)
        if match and ("[emerg]" in line or "[alert]" in line or "[crit]" in line or "[warn]" in line):
            locations.append({"file": match.group(1), "line": int(match.group(2)), "message": line.strip()})
    return {"ok": rc == 0, "rc": rc, "output": _cap(output), "command": " ".join(argv), "locations": locations}


def nginx_facts(conf_path=None, binary=None, resolve=False):
    """The collection's nginx facts of the files on disk (no ``nginx -t``: that is run on its own)."""
    return collect_nginx(conf_path=conf_path or None, binary=binary or None, resolve=resolve, run_test="never")


# --------------------------------------------------------------------------- routes

def broken_routes(facts, timeout=2.0, route_limit=64):
    """Routes of the configuration on disk that answer today but whose endpoints have no listener.

    Every route is probed twice, read-only: directly at each endpoint the files name (does
    anything listen there?) and through the running nginx (does the route answer today?). A
    route breaks when none of its endpoints has a listener and today's answer is not a gateway
    error - a reload would turn it into a 502. Routes with variables in the target are not judged.

    Returns ``{checked, broken: [{route, file, line, endpoints, today}], skipped, errors}``.
    """
    targets, skipped = plan_probes(facts, route_limit=route_limit)
    probes = collect_probes(targets, timeout=timeout)
    by_route = {}
    for result in probes.get("results") or ():
        by_route.setdefault(result.get("route"), []).append(result)
    broken = []
    checked = 0
    for route in facts.get("routes") or ():
        results = by_route.get(route.get("id"))
        if not results:
            continue
        checked += 1
        direct = [r for r in results if r.get("via") == "direct"]
        through = [r for r in results if r.get("via") == "nginx"]
        if route.get("dynamic") or not direct or not through:
            continue
        if not all(r.get("error") in NO_LISTENER for r in direct):
            continue
        today = through[0]
        if today.get("status") is None or today.get("status") in GATEWAY_ERRORS:
            continue
        broken.append({
            "route": route.get("id"),
            "file": route.get("file"),
            "line": route.get("line"),
            "target": route.get("target"),
            "endpoints": ["%s (%s)" % (r.get("url"), r.get("error")) for r in direct],
            "today": today.get("status"),
        })
    errors = [e.get("message") for e in (facts.get("errors") or []) + (probes.get("errors") or []) if isinstance(e, dict)]
    return {"checked": checked, "broken": broken, "skipped": skipped, "errors": errors}


def describe_broken(broken):
    return "; ".join("route '%s' (%s:%s, %s) answers %s today but nothing listens at %s"
                     % (b["route"], b["file"], b["line"], b["target"], b["today"], ", ".join(b["endpoints"]))
                     for b in broken)


# --------------------------------------------------------------------------- reload

def _workers(processes, master_pid):
    return set(p["pid"] for p in workers_of(processes, {"pid": master_pid}))


def _log_offsets(paths):
    offsets = {}
    for path in paths:
        try:
            offsets[path] = os.stat(path).st_size
        except OSError:
            offsets[path] = None
    return offsets


def _new_log_lines(offsets):
    """Lines appended to each error log since ``offsets`` (a log that was rotated is read from its start)."""
    lines = []
    for path, offset in offsets.items():
        try:
            with open_regular(path) as handle:
                size = os.fstat(handle.fileno()).st_size
                start = offset if offset is not None and offset <= size else 0
                handle.seek(max(start, size - MAX_LOG_READ))
                text = handle.read(MAX_LOG_READ).decode("utf-8", "replace")
        except OSError:
            continue
        lines.extend(line for line in text.splitlines() if line.strip())
    return lines


def reload_nginx(master_pid, error_logs=(), timeout=10.0, proc="/proc", sleep=time.sleep):
    """Reload the nginx master ``master_pid`` (from the nginx facts) and wait until the reload took.

    The reload goes through systemd when the master runs in a systemd service (``systemctl
    reload``), else a SIGHUP to the master. It took when every worker of the master is new (the
    old ones were told to finish) and no ``[emerg]``/``[alert]`` line appeared in the error logs
    (nginx keeps the old workers and logs why when it rejects the new configuration).

    Returns ``{ok, method, unit, master_pid, old_workers, new_workers, elapsed, log, message}``.
    """
    result = {"ok": False, "method": None, "unit": None, "master_pid": master_pid, "old_workers": [], "new_workers": [],
              "elapsed": 0.0, "log": [], "message": ""}
    processes, _precise, _errors = scan_processes(proc)
    master = next((p for p in processes if p["role"] == "master" and p["pid"] == master_pid), None)
    if master_pid is None or master is None:
        result["message"] = "nginx is not running: nothing to reload (start it)"
        return result
    pid = master_pid
    old = _workers(processes, pid)
    result["old_workers"] = sorted(old)
    offsets = _log_offsets(error_logs)
    unit = master.get("unit")
    start = time.monotonic()
    if unit and unit.endswith(".service") and shutil.which("systemctl"):
        result["method"] = "systemctl reload %s" % unit
        result["unit"] = unit
        rc, out, err, error = run(["systemctl", "reload", unit], timeout=timeout)
        if rc != 0:
            result["message"] = "systemctl reload %s failed: %s" % (unit, (error or err or out or "").strip()[:500])
            return result
    else:
        result["method"] = "SIGHUP to the master (pid %d)" % pid
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            result["message"] = "cannot signal the nginx master %d: %s" % (pid, exc.strerror or exc)
            return result
    while True:
        lines = _new_log_lines(offsets)
        bad = [line for line in lines if "[emerg]" in line or "[alert]" in line]
        processes, _precise, _errors = scan_processes(proc)
        current = _workers(processes, pid)
        result["new_workers"] = sorted(current - old)
        result["elapsed"] = round(time.monotonic() - start, 3)
        if bad:
            result["log"] = [_cap(line, 500) for line in bad[-10:]]
            result["message"] = "nginx rejected the reload and keeps the old configuration: %s" % result["log"][-1]
            return result
        if not any(p["pid"] == pid for p in processes if p["role"] == "master"):
            result["message"] = "the nginx master %d is gone after the reload" % pid
            return result
        if current and not current & old:
            result["ok"] = True
            result["message"] = "reloaded: %d new workers" % len(current)
            return result
        if result["elapsed"] >= timeout:
            result["message"] = ("the reload did not take within %g s: workers %s still run the old configuration"
                                 % (timeout, sorted(current & old)))
            return result
        sleep(0.1)
