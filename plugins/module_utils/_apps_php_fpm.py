# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PHP-FPM: the main config, its pool files, and one server entry per pool."""

from __future__ import annotations

import glob
import os
import re

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_binds as binds
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_files import read_text
from ansible_collections.badgateway.doctor.plugins.module_utils.systemd import to_int

DEFAULT_POOL_GLOBS = ("/etc/php/*/fpm/pool.d/*.conf", "/etc/php-fpm.d/*.conf")
_CONF_IN_TITLE = re.compile(r"\((/[^)]+)\)")
_INCLUDE = re.compile(r"^\s*include\s*=\s*(\S+)")
_POOL_TITLE = re.compile(r"php-fpm: pool (\S+)")
_FIELDS = {"listen": "listen", "listen.owner": "owner", "listen.group": "group", "listen.mode": "mode",
           "user": "user", "group": "unix_group", "pm.max_children": "pm_max_children",
           "request_terminate_timeout": "request_terminate_timeout"}


def _read_lines(path, errors):
    try:
        return read_text(path).splitlines()
    except OSError as exc:
        if errors is not None:
            errors.append(_safe_io.error_for("app_config", path, exc))
        return None


def pool_files(conf_path, errors=None):
    """The pool files of a main config: ``pool.d/*.conf`` beside it and its ``include =`` globs; the
    distributions' pool directories when there is no main config."""
    files = []
    if conf_path:
        d = os.path.dirname(conf_path)
        files = sorted(glob.glob(os.path.join(d, "pool.d", "*.conf")))
        for line in _read_lines(conf_path, errors) or []:
            m = _INCLUDE.match(line)
            if m:
                pattern = m.group(1)
                if not pattern.startswith("/"):
                    pattern = os.path.join(d, pattern)
                for p in sorted(glob.glob(pattern)):
                    if p not in files:
                        files.append(p)
    if not files:
        for pattern in DEFAULT_POOL_GLOBS:
            files.extend(sorted(glob.glob(pattern)))
    return files


def php_fpm_pools(conf_path=None, errors=None):
    """[{name, file, listen, owner, group, mode, user, unix_group, pm_max_children, request_terminate_timeout}]."""
    pools = []
    for path in pool_files(conf_path, errors):
        pools.extend(parse_pool_file(path, errors))
    return pools


def parse_pool_file(path, errors=None):
    pools = []
    cur = None
    for line in _read_lines(path, errors) or []:
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = {"name": line[1:-1], "file": path, "listen": None, "owner": None, "group": None, "mode": None,
                   "user": None, "unix_group": None, "pm_max_children": None, "request_terminate_timeout": None}
            pools.append(cur)
            continue
        if cur is None:
            continue
        key, sep, value = line.partition("=")
        field = _FIELDS.get(key.strip()) if sep else None
        if field:
            cur[field] = value.strip().strip("\"'")
    for p in pools:
        # php-fpm's defaults: the socket is owned by the pool's user and group, mode 0660
        if p["owner"] is None:
            p["owner"] = p["user"]
        if p["group"] is None:
            p["group"] = p["unix_group"]
        if p["mode"] is None:
            p["mode"] = "0660"
    return pools


def listen_endpoint(listen):
    """A pool's ``listen``: a path, ``port``, ``ip:port`` or ``[v6]:port`` (FastCGI)."""
    if not listen:
        return None
    if listen.startswith("/"):
        return binds.unix(listen, "fastcgi")
    return binds.host_port_endpoint(listen, 9000, "fastcgi")


def config_path(argv, settings):
    """The main config: ``--fpm-config``/``-y``, else the path in the master's title."""
    if settings.get("config"):
        return settings["config"]
    conf = None
    for a in argv or []:
        m = _CONF_IN_TITLE.search(a)
        if m:
            conf = m.group(1)
    return conf


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")


def seconds(value):
    """``request_terminate_timeout``: seconds, or with a unit s / m / h / d (php-fpm.conf); 0 means none."""
    m = _DURATION.match((value or "").strip())
    return float(int(m.group(1)) * _UNITS[m.group(2)]) if m else None


def describe_pools(srv, conf, worker_titles, errors):
    """One server entry per pool of ``conf`` (``srv`` is the master / unit entry)."""
    srv["config_file"] = {"path": conf, "exists": os.path.exists(conf), "keys": []} if conf else None
    pools = php_fpm_pools(conf, errors)
    if not pools:
        errors.append(_proc.error("app_config", conf, "No PHP-FPM pool files found%s." % (" for %s" % conf if conf else "")))
        return [srv]
    worker_pids = {}
    for pid, title in worker_titles.items():
        m = _POOL_TITLE.match(title or "")
        if m:
            worker_pids.setdefault(m.group(1), []).append(pid)
    out = []
    for pool in pools:
        s = dict(srv)
        if len(pools) > 1:
            s["name"] = "%s:%s" % (srv["name"], pool["name"])
        ep = listen_endpoint(pool["listen"])
        s["binds"] = [ep] if ep else []
        s["pids"] = srv["pids"][:1] + worker_pids.get(pool["name"], []) if srv["pids"] else []
        s["php_fpm_pool"] = {k: pool[k] for k in ("name", "file", "listen", "owner", "group", "mode")}
        s["workers"] = to_int(pool["pm_max_children"])
        s["timeout"] = seconds(pool["request_terminate_timeout"])
        s["settings_source"] = {"bind": "config"}
        if s["workers"] is not None:
            s["settings_source"]["workers"] = "config"
        out.append(s)
    return out
