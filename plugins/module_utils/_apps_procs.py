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


def _ppid(pid):
    try:
        st = read_text("/proc/%d/stat" % pid)
        return int(st[st.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def process_table(errors):
    """{pid: process info + ppid} of every process with a command line; processes of another pid
    namespace (containers) lose their unit: it belongs to that container's systemd, not ours."""
    procs = {}
    try:
        own_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        own_ns = None
    btime = _proc.boot_time()
    pids = _proc.list_pids()
    if not pids:
        errors.append(_proc.error("proc", "/proc", "Cannot read the process table: /proc lists no processes."))
    for pid in pids:
        try:
            info = _proc.process_info(pid, btime=btime)
        except Exception:  # pylint: disable=broad-except
            info = None
        if not info or not info.get("cmdline"):
            continue
        info["ppid"] = _ppid(pid)
        if own_ns and info.get("unit"):
            try:
                if os.readlink("/proc/%d/ns/pid" % pid) != own_ns:
                    info["unit"] = None
            except OSError:
                pass
        procs[pid] = info
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


def title(pid):
    """The command line of a process as one string (PHP-FPM workers set it to ``php-fpm: pool NAME``)."""
    try:
        return read_text("/proc/%d/cmdline" % pid).replace("\0", " ").strip()
    except OSError:
        return None
