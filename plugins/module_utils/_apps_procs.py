# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running app servers: the process table (``_proc``), masters with their workers, and the few
things read from a master process (working directory, wanted environment variables)."""

from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_files import read_text

MAX_ENVIRON_BYTES = 1024 * 1024


def process_table(errors, proc=_proc.PROC):
    """{pid: ``_proc.process_info``} of every process with a command line (the one process scan,
    ``_proc.scan``); processes of another pid namespace (containers) lose their unit: it belongs
    to that container's systemd, not ours."""
    procs = {}
    try:
        own_ns = os.readlink(os.path.join(proc, "self", "ns", "pid"))
    except OSError:
        own_ns = None
    for info in _proc.scan(proc):
        pid = info["pid"]
        if own_ns and info.get("unit"):
            try:
                if os.readlink(os.path.join(proc, str(pid), "ns", "pid")) != own_ns:
                    info["unit"] = None
            except OSError:
                pass
        procs[pid] = info
    if not procs and not _proc.list_pids(proc):
        errors.append(_proc.error("proc", proc, "Cannot read the process table: %s lists no processes." % proc))
    return procs


def find_processes(procs):
    """Group app server processes: {master_pid: {kind, pids, info, args}} (workers under their master)."""
    kinds = {}
    for pid, info in procs.items():
        kind, args = detect_kind(info.get("cmdline") or [])
        if kind is None and (info.get("name") or "").startswith("php-fpm"):
            kind, args = "php-fpm", info.get("cmdline") or []
        if kind:
            kinds[pid] = (kind, args)
    groups = {}
    for pid in sorted(kinds):
        kind = kinds[pid][0]
        top = pid          # the topmost ancestor of the same kind
        seen = set()
        while True:
            ppid = procs.get(top, {}).get("ppid")
            if ppid in kinds and kinds[ppid][0] == kind and ppid not in seen:
                seen.add(top)
                top = ppid
                continue
            break
        g = groups.setdefault(top, {"kind": kinds[top][0], "pids": [top], "info": procs[top], "args": kinds[top][1]})
        if pid != top:
            g["pids"].append(pid)
    # multiprocessing spawn children (uvicorn --workers N) are not recognised by their command line: attach by parent
    for pid, info in procs.items():
        ppid = info.get("ppid")
        if ppid in groups and pid not in groups[ppid]["pids"] and "multiprocessing" in " ".join(info.get("cmdline") or []):
            groups[ppid]["pids"].append(pid)
    return groups


def cwd(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None


def environ(pid, want):
    """{name: value} of the environment variables in ``want`` of a process (only those are kept), or None."""
    try:
        data = read_text("/proc/%d/environ" % pid, MAX_ENVIRON_BYTES)
    except OSError:
        return None
    out = {}
    for item in data.split("\0"):
        name, eq, value = item.partition("=")
        if eq and name in want:
            out[name] = value
    return out


def title(info):
    """The command line of a process as one string (PHP-FPM workers set it to ``php-fpm: pool NAME``)."""
    return " ".join((info or {}).get("cmdline") or []).strip() or None
