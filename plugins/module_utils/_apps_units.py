# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd units of app servers: finding them (also stopped and failed ones), their settings
(``systemctl show``: drop-ins merged by systemd) and the ``.socket`` unit that triggers them.

Environment values are read for the few variables the specs need (``_apps_kinds.wanted_env``) and
never returned; environment files are returned as key names only.
"""

from __future__ import annotations

import os
import pwd
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils import _access
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_files import env_file_keys
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv

SHOW_DISCOVER = ("Id", "ExecStart", "MainPID", "TriggeredBy", "LoadState")


def unit_kind(props):
    """(kind, exec entry) of the first ``ExecStart`` that runs an app server, else (None, None)."""
    for ex in sd.parse_exec(props.get("ExecStart")):
        kind, _args = detect_kind(ex["argv"] or ([ex["path"]] if ex["path"] else []))
        if kind:
            return kind, ex
    return None, None


def candidate_units(errors):
    """Service units whose files mention an app server (read from disk: asking systemd to enumerate
    every unit costs PID 1 far more); ``systemctl show`` then confirms each by its ExecStart."""
    return sd.scan_unit_files(kinds.unit_words(), errors=errors)


def discover_app_units(errors):
    """Service units that run an app server (by ExecStart), including stopped and failed ones."""
    ok, why = sd.systemd_running()
    if not ok:
        errors.append(_proc.error("systemctl", None, "Units were not listed: %s." % why))
        return []
    names = candidate_units(errors)
    if not names:
        return []
    info = sd.show(names, SHOW_DISCOVER, errors)
    return [n for n, p in info.items() if unit_kind(p)[0]]


# --------------------------------------------------------------------------- who may read a file

def readable_by(path, user, group=None, supplementary=()):
    """May the unit's ``User=`` read ``path`` (searching every directory on the way)? None when unknown.

    The identity is the one systemd gives the service: ``Group=`` as the primary group, the
    groups ``initgroups(User, Group)`` adds and ``SupplementaryGroups=``; root without ``User=``.
    Mode bits and POSIX ACLs decide (``_access.check_path``). systemd reads EnvironmentFile= as
    root before dropping privileges, so this answers whether the app itself could read it
    (relevant for apps that load the file themselves)."""
    try:
        ident = _access.identity(user or "root", group, supplementary)
    except ValueError:
        return None
    return _access.check_path(path, want="r", ident=ident)[0]


# --------------------------------------------------------------------------- settings

def _home(user):
    try:
        return pwd.getpwnam(user or "root").pw_dir
    except KeyError:
        return None


def _exec_ok(path):
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def unit_settings(props, errors):
    """(unit_settings dict, ExecStart argv, wanted environment {name: value}) of a service unit.

    The argv and the environment are for reading the server's settings only; the dict is what the
    facts return (``exec_start`` through the one masker)."""
    execs = sd.parse_exec(props.get("ExecStart"))
    ex = execs[0] if execs else {"path": None, "argv": []}
    argv = ex.get("argv") or []
    user = props.get("User") or None
    group = props.get("Group") or None
    supplementary = sd.split_list(props.get("SupplementaryGroups"))
    wd = props.get("WorkingDirectory") or None
    wd_path = wd.lstrip("-!") if wd else None
    if wd_path == "~":
        wd_path = _home(user)
    want = kinds.wanted_env()
    env = {k: v for k, v in sd.parse_environment(props.get("Environment")).items() if k in want}
    env_files = []
    for ef in sd.parse_environment_files(props.get("EnvironmentFiles")):
        path = ef["path"]
        exists = os.path.exists(path)
        entry = {"path": path, "optional": ef["optional"], "exists": exists,
                 "readable_by_user": readable_by(path, user, group, supplementary) if exists else False, "keys": []}
        if exists:
            keys, wanted, problem = env_file_keys(path, want)
            entry["keys"] = keys
            env.update(wanted)       # systemd.exec(5): EnvironmentFile= overrides Environment=, later files earlier ones
            if problem:
                errors.append(_proc.error("env_file", path, "Cannot read EnvironmentFile: %s." % problem))
        env_files.append(entry)
    exec_bin = ex.get("path")
    settings = {
        "fragment_path": props.get("FragmentPath") or None,
        "dropin_paths": sd.split_list(" ".join(props.get("DropInPaths") or [])),
        "user": user,
        "group": group,
        "working_directory": wd_path,
        "working_directory_exists": os.path.isdir(wd_path) if wd_path else None,
        "environment_files": env_files,
        "exec_start": mask_argv(argv),
        "exec_binary": exec_bin,
        "exec_binary_ok": _exec_ok(exec_bin) if exec_bin else None,
        "runtime_directory": sd.split_list(props.get("RuntimeDirectory")),
        "runtime_directory_mode": sd.to_mode(props.get("RuntimeDirectoryMode")),
        "private_tmp": bool(sd.to_bool(props.get("PrivateTmp"))),
        "umask": sd.to_mode(props.get("UMask")),
        "restart": props.get("Restart") or None,
        "memory_max": sd.to_size(props.get("MemoryMax")),
        "requires": sd.split_list(props.get("Requires")),
        "after": sd.split_list(props.get("After")),
    }
    return settings, argv, env


def socket_unit(unit, props, socket_props):
    """The ``.socket`` unit that triggers ``unit`` (TriggeredBy=, else the same name), or None."""
    if not unit:
        return None
    names = sd.split_list((props or {}).get("TriggeredBy"))
    names.append(unit[:-len(".service")] + ".socket")
    for n in names:
        sp = socket_props.get(n)
        if sp:
            return {"name": n, "listen_stream": sd.parse_listen(sp.get("Listen")), "socket_user": sp.get("SocketUser") or None,
                    "socket_group": sp.get("SocketGroup") or None, "socket_mode": sd.to_mode(sp.get("SocketMode"))}
    return None


def socket_units_of(services, unit_props, extra_units):
    """The ``.socket`` units to ask systemd about for these services (and the extra ones asked for)."""
    sockets = []
    for n in services:
        p = unit_props.get(n) or {}
        for s in sd.split_list(p.get("TriggeredBy")):
            if s.endswith(".socket") and s not in sockets:
                sockets.append(s)
        s = n[:-len(".service")] + ".socket"
        if s not in sockets:
            sockets.append(s)
    for u in extra_units:
        if u.endswith(".socket") and u not in sockets:
            sockets.append(u)
    return sockets
