# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running nginx: its binary, its build settings, its processes, and staleness.

- :func:`find_binary` and :func:`parse_nginx_V` (``nginx -V``: version and ``configure`` options);
- :func:`scan_processes`, :func:`select_master` and :func:`workers_of`: the master and worker
  processes in ``/proc`` (the one process scan, ``_proc.scan``), which master runs the
  configuration that was parsed, and its workers;
- :func:`stale_files`: configuration files modified after the oldest running worker started
  (workers are started anew on every reload: edited, not reloaded).

Target side: Python standard library only.  Nothing here raises for bad host state.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc

DEFAULT_CONF_PATH = "/etc/nginx/nginx.conf"
DEFAULT_PREFIX = "/usr/local/nginx"
BINARY_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx",
                     "/usr/bin/nginx", "/usr/local/openresty/nginx/sbin/nginx")
# Tolerance for "file newer than the workers": process start times come in clock ticks and
# the boot time from /proc/uptime (10 ms); the /proc/stat btime fallback is whole seconds.
STALE_SLACK_PRECISE = 0.1
STALE_SLACK_BTIME = 1.0


def find_binary(binary=None):
    """Path of the nginx binary: ``binary`` if given, else PATH, else the usual places."""
    if binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in BINARY_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def parse_nginx_V(text):  # noqa: N802 (named after the nginx option)
    """Return ``{version, configure: {option: value}}`` from ``nginx -V`` output."""
    version = None
    configure = {}
    for line in text.splitlines():
        m = re.match(r"\s*nginx version:\s*[^/\s]+/(\S+)", line)
        if m:
            version = m.group(1)
            continue
        if line.startswith("configure arguments:"):
            args_text = line[len("configure arguments:"):]
            try:
                args = shlex.split(args_text)
            except ValueError:
                args = args_text.split()
            for arg in args:
                if not arg.startswith("--"):
                    continue
                name, sep, value = arg.partition("=")
                configure[name[2:]] = value if sep else True
    return {"version": version, "configure": configure}


def configure_value(configure, name):
    """A ``configure`` option given with a value (``--conf-path=...``, ``--user=...``), or None."""
    value = configure.get(name)
    return value if isinstance(value, str) and value else None


def full_path(path, prefix):
    """``path`` as nginx reads it: relative paths are under the prefix (``--prefix``)."""
    if not path or path.startswith("/"):
        return path
    return os.path.join(prefix or DEFAULT_PREFIX, path)


# --------------------------------------------------------------------------- processes


_TITLES = ("nginx: master process", "nginx: worker process")


def _title(argv):
    """A process title as one line (nginx writes it over its argv, padded with NULs)."""
    return " ".join(argv).strip()


def _is_nginx(argv):
    return _title(argv).startswith(_TITLES)


def is_master(argv):
    """Whether ``argv`` (a process's command line) is an nginx master's title."""
    return _title(argv).startswith(_TITLES[0])


def scan_processes(proc="/proc"):
    """Find nginx master and worker processes (the one process scan, ``_proc.scan``).

    Returns ``(processes, precise, errors)``; ``processes`` is a list of
    ``{pid, ppid, role: master|worker, title, user, unit, start_time}`` (``unit``: the systemd
    unit of its cgroup, or None); ``precise`` tells whether the start times are precise to 10 ms
    (else to the second). Old workers still finishing their requests after a reload are left out.
    """
    errors = []
    boot, precise = _proc.precise_boot_time(proc)
    found = []
    for info in _proc.scan(proc, boot, want=_is_nginx):
        title = _title(info["cmdline"])
        if is_master(info["cmdline"]):
            role = "master"
        elif "is shutting down" in title:
            continue  # an old worker finishing its requests after a reload
        else:
            role = "worker"
        if info["user"] is None:
            errors.append(_proc.error("proc", os.path.join(proc, str(info["pid"])),
                                      "cannot read the owner of nginx process %d" % info["pid"]))
        found.append({"pid": info["pid"], "ppid": info["ppid"], "role": role, "title": title, "user": info["user"],
                      "unit": info["unit"], "start_time": info["start_time"]})
    return found, precise, errors


def title_option(title, flag):
    """The value after ``flag`` (such as ``-c``) in a master's process title, or None."""
    parts = title.split()
    for i, part in enumerate(parts[:-1]):
        if part == flag:
            return parts[i + 1]
    return None


def select_master(processes, pid_from_file=None, conf_path=None):
    """Pick the master process this configuration belongs to (or None)."""
    masters = [p for p in processes if p["role"] == "master"]
    if not masters:
        return None
    if pid_from_file is not None:
        for p in masters:
            if p["pid"] == pid_from_file:
                return p
    if conf_path:
        for p in masters:
            if title_option(p["title"], "-c") == conf_path:
                return p
    return sorted(masters, key=lambda p: p["pid"])[0]


def workers_of(processes, master):
    """The worker processes of ``master`` (its children), or every worker when ``master`` is None."""
    return [p for p in processes
            if p["role"] == "worker" and (master is None or p.get("ppid") == master["pid"])]


def running_conf_matches(master, conf_path, compiled_conf_full, prefix):
    """Does the running master use the configuration file that was parsed?"""
    running = title_option(master.get("title") or "", "-c")
    if running:
        return full_path(running, prefix) == conf_path
    return compiled_conf_full is not None and compiled_conf_full == conf_path


def stale_files(file_mtimes, workers_started, slack=0.0):
    """Files (``[(path, mtime)]``) modified after the oldest running worker started."""
    if workers_started is None:
        return []
    return [{"path": path, "mtime": mtime} for path, mtime in file_mtimes
            if mtime is not None and mtime > workers_started + slack]
