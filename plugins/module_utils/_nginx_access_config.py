# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx's access logging as the configuration sets it: ``log_format`` and ``access_log``.

Used by the configuration analysis (``_nginx_config``): the formats defined at the ``http``
level, and for every route the access logs in effect there (``access_log`` is an array
directive: the innermost level that has any wins; ``off`` there means none).  The reading of
the logs themselves is ``access_logs.py``.

Target side: Python standard library only.
"""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import full_path

# nginx's predefined format (ngx_http_log_module.c), used when access_log names none.
COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')
DEFAULT_FORMAT = "combined"
ESCAPES = ("default", "json", "none")
# The compiled default when no access_log directive is written anywhere (--http-log-path).
DEFAULT_PATH = "logs/access.log"


def log_format(stmt, file):
    """``(name, entry)`` of a ``log_format`` statement, or None when it names nothing."""
    args = list(stmt.get("args") or [])
    if not args:
        return None
    name = args.pop(0)
    escape = "default"
    if args and args[0].startswith("escape="):
        escape = args.pop(0)[len("escape="):]
    return name, {"format": "".join(args), "escape": escape if escape in ESCAPES else "default",
                  "file": file, "line": stmt.get("line")}


def access_log(stmt, file, full_path):
    """One ``access_log`` statement as ``{path, format, condition, buffered, kind, file, line}``,
    or None for ``access_log off``.  ``kind``: ``file``, ``syslog`` (not readable here) or
    ``dynamic`` (a path with variables, one file per value)."""
    args = list(stmt.get("args") or [])
    if not args or args[0] == "off":
        return None
    path = args[0]
    fmt = DEFAULT_FORMAT
    condition = None
    buffered = False
    for arg in args[1:]:
        if arg.startswith("if="):
            condition = arg[3:]
        elif arg.startswith(("buffer=", "flush=", "gzip")):
            buffered = True
        elif "=" not in arg:
            fmt = arg
    if path.startswith("syslog:"):
        kind = "syslog"
    elif "$" in path:
        kind = "dynamic"
    else:
        kind = "file"
        path = full_path(path)
    return {"path": path, "format": fmt, "condition": condition, "buffered": buffered, "kind": kind,
            "file": file, "line": stmt.get("line")}


def route_access_logs(stmts, full_path):
    """The access logs in effect at a level: ``stmts`` is ``lookup_array("access_log")``
    (``[(stmt, file)]``); an empty list there means nginx's compiled default."""
    if not stmts:
        return [{"path": None, "format": DEFAULT_FORMAT, "condition": None, "buffered": False,
                 "kind": "default", "file": None, "line": None}]
    out = []
    for stmt, file in stmts:
        entry = access_log(stmt, file, full_path)
        if entry is not None:
            out.append(entry)
    return out


def record(cache, level, route_index, found, prefix):
    """Record that the route ``route_index`` logs to the access logs in effect at ``level``: each
    ``(path, format)`` once in ``found`` (a dict), with the indexes of the routes that log there.
    ``cache`` (a dict kept for one analysis) holds the logs of each statement list seen."""
    stmts = level.lookup_array("access_log")
    key = id(stmts) if stmts else None
    logs = cache.get(key)
    if logs is None:
        logs = cache[key] = route_access_logs(stmts, lambda p: full_path(p, prefix))
    for entry in logs:
        slot = found.get((entry["path"], entry["format"]))
        if slot is None:
            slot = found[(entry["path"], entry["format"])] = dict(entry, routes=[])
        slot["routes"].append(route_index)
