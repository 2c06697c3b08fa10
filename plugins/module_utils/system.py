# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host basics for the diagnosis: the ``system`` facts section (standard library only)."""

from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import PROC, error, read_text
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import error_for

SELINUX_FS = "/sys/fs/selinux"
SELINUX_BOOLEANS = ("httpd_can_network_connect", "httpd_can_network_relay", "httpd_can_network_connect_db")


def parse_meminfo(text):
    """Return ``{total, available}`` in bytes from ``/proc/meminfo`` text (None if absent)."""
    values = {}
    for line in text.splitlines():
        name, _sep, rest = line.partition(":")
        fields = rest.split()
        if not fields:
            continue
        try:
            number = int(fields[0])
        except ValueError:
            continue
        if len(fields) > 1 and fields[1].lower() == "kb":
            number *= 1024
        values[name.strip()] = number
    return {"total": values.get("MemTotal"), "available": values.get("MemAvailable")}


def parse_selinux_boolean(text):
    """``/sys/fs/selinux/booleans/NAME`` holds "current pending"; return current as bool."""
    fields = text.split()
    if not fields:
        return None
    return fields[0] == "1"


def _systemd(proc, errors, run_systemd):
    try:
        if read_text(os.path.join(proc, "1", "comm")).strip() == "systemd":
            return True
    except OSError as exc:
        errors.append(error("proc", os.path.join(proc, "1", "comm"),
                            "cannot read the name of PID 1: %s" % (exc.strerror or exc)))
    return os.path.isdir(run_systemd)


def _selinux(selinux_fs, errors):
    info = {"present": False, "mode": None, "booleans": {}}
    enforce = os.path.join(selinux_fs, "enforce")
    if not os.path.exists(enforce):
        if os.path.isfile("/etc/selinux/config"):
            info["mode"] = "disabled"
        return info
    info["present"] = True
    try:
        info["mode"] = "enforcing" if read_text(enforce).strip() == "1" else "permissive"
    except OSError as exc:
        errors.append(error_for("selinux", enforce, exc))
    for name in SELINUX_BOOLEANS:
        path = os.path.join(selinux_fs, "booleans", name)
        try:
            value = parse_selinux_boolean(read_text(path))
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(error("selinux", path, "cannot read SELinux boolean %s: %s" % (name, exc.strerror or exc)))
            continue
        if value is not None:
            info["booleans"][name] = value
    return info


def collect_system(proc=PROC, selinux_fs=SELINUX_FS, run_systemd="/run/systemd/system"):
    """Return the ``system`` section. Never raises."""
    errors = []
    result = {"systemd": False, "selinux": {"present": False, "mode": None, "booleans": {}},
              "memory": {"total": None, "available": None}, "kernel": None,
              "is_root": False, "errors": errors}
    try:
        result["is_root"] = os.geteuid() == 0
        uname = os.uname()
        result["kernel"] = uname.release
        result["systemd"] = _systemd(proc, errors, run_systemd)
        result["selinux"] = _selinux(selinux_fs, errors)
        meminfo = os.path.join(proc, "meminfo")
        try:
            result["memory"] = parse_meminfo(read_text(meminfo))
        except OSError as exc:
            errors.append(error_for("proc", meminfo, exc))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback on the target
        errors.append(error("system", None, "unexpected error while collecting system facts: %r" % (exc,)))
    return result
