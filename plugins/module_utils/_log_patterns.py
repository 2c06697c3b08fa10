# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Precompiled patterns that classify nginx / gunicorn / uvicorn / systemd / kernel log lines.

Pure functions, no I/O. ``classify_line(kind, text)`` returns ``(class, detail, targets)`` or
``None``; multi-line Python tracebacks are handled by :class:`TracebackTracker`.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- nginx

# connect() to unix:/run/x.sock failed (2: No such file or directory) while connecting to upstream
# connect() failed (111: Connection refused) while connecting to upstream
_NGX_CONNECT = re.compile(r"connect\(\) (?:to (?P<to>\S+) )?failed \((?P<errno>\d+): ")
_NGX_CONNECT_CLASS = {
    "111": "connect_refused",
    "2": "no_such_file",
    "13": "permission_denied",
    "11": "resource_unavailable",
    "110": "upstream_timeout",
    "104": "reset_by_peer",
}
_NGX_TIMED_OUT = re.compile(r"upstream timed out \(110: ")
_NGX_PREMATURE = re.compile(r"upstream prematurely closed")
_NGX_RESET = re.compile(r"(?:recv|readv|send|writev|write|read|SSL_read|SSL_write)\(\) failed \(104: ")
_NGX_NO_LIVE = re.compile(r"no live upstreams")
_NGX_TOO_BIG = re.compile(r"upstream sent too big header")
_NGX_EMERG = re.compile(r"\[emerg\]")
_NGX_UPSTREAM = re.compile(r'upstream: "(?P<up>[^"]*)"')
_NGX_UPSTREAM_NAME = re.compile(r"no live upstreams while connecting to upstream.*?upstream: \"(?P<up>[^\"]*)\"")

# Why nginx did not start (its own stderr in the unit's journal, or its error.log):
# "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"
# "nginx: [emerg] open() "/var/log/nginx/error.log" failed (13: Permission denied)"
# "nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/sites-enabled/app:12"
_NGX_START_LEVEL = re.compile(r"\[(?P<level>emerg|alert|crit)\] (?:\d+#\d+: )?(?P<msg>.*)$")
_NGX_START_SYSCALL = re.compile(
    r"(?P<call>\w+)\(\) (?:\"(?P<path>[^\"]*)\" |to (?P<addr>\S+) )?failed \((?P<errno>\d+): (?P<why>[^)]*)\)")
_NGX_START_CONF = re.compile(r" in (?P<file>/\S+?):(?P<line>\d+)\s*$")
_NGX_START_ERRNO = {"98": "address_in_use", "99": "address_unavailable", "13": "permission_denied",
                    "2": "missing_path", "30": "read_only", "28": "no_space", "24": "too_many_files"}

# --------------------------------------------------------------------------- gunicorn / uvicorn

_GUNI_TIMEOUT = re.compile(r"WORKER TIMEOUT \(pid:\s*(?P<pid>\d+)\)")
_GUNI_BOOT = re.compile(r"Worker failed to boot")
_GUNI_SIGKILL = re.compile(r"Worker \(pid:\s*(?P<pid>\d+)\) was sent SIGKILL! Perhaps out of memory\?")
# uvicorn: "[Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use"
_UVI_BIND = re.compile(r"\[Errno (?P<errno>\d+)\] error while attempting to bind on address (?P<addr>\(.*?\))(?:: (?P<why>.*))?$")
# gunicorn: "Connection in use: ('127.0.0.1', 8000)" / "Can't connect to ('127.0.0.1', 8000)" / "Invalid address"
_GUNI_BIND = re.compile(r"(?:Connection in use|Can't connect to): (?P<addr>.+?)\s*$")
_UVI_IMPORT = re.compile(r"Error loading ASGI app\.?\s*(?P<why>.*)$")
_UVI_IMPORT_MOD = re.compile(r'(?:module|Attribute) "(?P<name>[^"]+)"')

# --------------------------------------------------------------------------- systemd

_SD_FAILED = re.compile(r"(?P<unit>[\w@.:\\-]+\.(?:service|socket)): Failed with result '(?P<result>[\w-]+)'")
_SD_EXEC = re.compile(r"(?P<unit>[\w@.:\\-]+\.service)?:? ?Main process exited, code=(?P<code>\w+), status=(?P<status>2\d\d/[A-Z_]+)")
_SD_START_LIMIT = re.compile(r"(?:(?P<unit>[\w@.:\\-]+\.service): )?Start request repeated too quickly")

# --------------------------------------------------------------------------- kernel OOM

# "Out of memory: Killed process 1234 (gunicorn) total-vm:..." (kernel >= 4.19)
# "Killed process 1234 (gunicorn) total-vm:..." (older kernels, after the "Kill process" decision)
_OOM_KILLED = re.compile(r"(?:^|\] |: )Killed process (?P<pid>\d+) \((?P<proc>[^)]*)\)")
# "Memory cgroup out of memory: Kill process 1381 (x) score 1046 or sacrifice child" (older kernels)
# "Memory cgroup out of memory: Killed process 1381 (x) ..." (newer kernels)
_OOM_DECISION = re.compile(r"(?:Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): Kill(?:ed)? process (?P<pid>\d+) \((?P<proc>[^)]*)\)")
# "oom-kill:constraint=CONSTRAINT_NONE,...,task=gunicorn,pid=1234,uid=33"
_OOM_KILL_INFO = re.compile(r"oom-kill:.*?task=(?P<proc>[^,]*),pid=(?P<pid>\d+)")

# --------------------------------------------------------------------------- python tracebacks

TRACEBACK_START = re.compile(r"Traceback \(most recent call last\):\s*$")
_TB_FRAME = re.compile(r'^\s+File "')
# "ModuleNotFoundError: No module named 'x'", "django.core.exceptions.ImproperlyConfigured: ...",
# "psycopg2.OperationalError", "KeyError: 'SECRET_KEY'"
_TB_EXC = re.compile(r"^(?P<exc>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?::\s?(?P<msg>.*))?$")
_TB_CHAIN = re.compile(r"^(?:During handling of the above exception|The above exception was the direct cause)")


def _strip_syslog_prefix(text):
    """Strip a leading gunicorn/uvicorn prefix so that a traceback line can be recognised."""
    # gunicorn error log: "[2026-11-22 01:57:22 +0000] [123] [ERROR] ..." ; uvicorn "ERROR:    ..."
    m = _LEVEL_PREFIX.match(text)
    if m:
        return text[m.end():]
    return text


_LEVEL_PREFIX = re.compile(
    r"^(?:\[[^\]]*\] \[\d+\] \[[A-Z]+\] |(?:CRITICAL|ERROR|WARNING|INFO|DEBUG):\s+)"
)


def nginx_target(text):
    """The upstream named by an nginx error line; ``http://unix:/x.sock:/`` becomes ``unix:/x.sock:/``."""
    m = _NGX_UPSTREAM.search(text)
    if not m:
        return None
    up = m.group("up")
    scheme, sep, rest = up.partition("://")
    if not sep:
        return up
    if rest.startswith("unix:"):
        # "unix:/run/x.sock:/path?query" -> "unix:/run/x.sock:/" (the request URI is dropped)
        path, colon, uri = rest[5:].partition(":")
        return "unix:" + path + colon + ("/" if uri.startswith("/") else "")
    hostport, slash, _uri = rest.partition("/")
    return scheme + "://" + hostport + ("/" if slash else "")


def classify_nginx(text):
    """Classify one nginx error.log entry. Returns (class, detail, targets) or None."""
    if "upstream" not in text and "[emerg]" not in text:
        return None
    if _NGX_EMERG.search(text):
        return "nginx_emerg", {"message": _after_level(text)[:200]}, []
    target = nginx_target(text)
    targets = [target] if target else []
    m = _NGX_CONNECT.search(text)
    if m:
        cls = _NGX_CONNECT_CLASS.get(m.group("errno"))
        if cls:
            detail = {"errno": int(m.group("errno"))}
            if m.group("to"):
                detail["connect_to"] = m.group("to")
            return cls, detail, targets
        return None
    if _NGX_TIMED_OUT.search(text):
        return "upstream_timeout", {"errno": 110, "phase": _phase(text)}, targets
    if _NGX_PREMATURE.search(text):
        return "premature_close", {"phase": _phase(text)}, targets
    if _NGX_RESET.search(text):
        return "reset_by_peer", {"errno": 104, "phase": _phase(text)}, targets
    if _NGX_NO_LIVE.search(text):
        return "no_live_upstreams", {}, targets
    if _NGX_TOO_BIG.search(text):
        return "too_big_header", {}, targets
    return None


_PHASE = re.compile(r" while ([a-z ]+?)(?: from upstream| to upstream)?,")


def _phase(text):
    m = _PHASE.search(text)
    return m.group(1) if m else None


_NGX_LEVEL = re.compile(r"^\S+ \S+ \[\w+\] \d+#\d+: (?:\*\d+ )?")


def _after_level(text):
    m = _NGX_LEVEL.match(text)
    return text[m.end():] if m else text


def classify_nginx_start(text):
    """Classify a line nginx wrote while it started (journal or error.log).

    Returns ``{"cause", "message", "target"}`` or None. ``cause``: ``address_in_use`` (bind() 98),
    ``address_unavailable`` (99), ``permission_denied`` (13: a log, pid or temp path, or a port
    below 1024), ``missing_path`` (2), ``config_error`` (a directive nginx refuses: the message ends
    with `` in FILE:LINE``, or ``configuration file ... test failed``), ``other`` (any other
    emerg/alert/crit line). ``target``: the path, address or ``file:line`` the message names."""
    if "[emerg]" not in text and "[alert]" not in text and "[crit]" not in text:
        if "test failed" in text and "configuration file" in text:
            return {"cause": "config_error", "message": _after_level(text).replace("nginx: ", "", 1), "target": None}
        return None
    m = _NGX_START_LEVEL.search(text)
    if not m:
        return None
    msg = m.group("msg").strip()
    sc = _NGX_START_SYSCALL.search(msg)
    if sc and sc.group("call") != "connect":
        cause = _NGX_START_ERRNO.get(sc.group("errno"), "other")
        return {"cause": cause, "message": msg, "target": sc.group("path") or sc.group("addr")}
    conf = _NGX_START_CONF.search(msg)
    if conf:
        return {"cause": "config_error", "message": msg, "target": "%s:%s" % (conf.group("file"), conf.group("line"))}
    if "still could not bind()" in msg:
        return {"cause": "address_in_use", "message": msg, "target": None}
    if "upstream" in msg and "connect()" in msg:
        return None    # a request-time error, not a start failure
    return {"cause": "other", "message": msg, "target": None}


def classify_app(text):
    """Classify one gunicorn / uvicorn / hypercorn line (not tracebacks). Returns (class, detail, targets) or None."""
    if "WORKER TIMEOUT" in text:
        m = _GUNI_TIMEOUT.search(text)
        return "worker_timeout", {"pid": int(m.group("pid")) if m else None}, []
    if "Worker failed to boot" in text:
        return "worker_boot_failed", {}, []
    if "SIGKILL" in text:
        m = _GUNI_SIGKILL.search(text)
        if m:
            return "worker_sigkill", {"pid": int(m.group("pid"))}, []
    if "bind" in text:
        m = _UVI_BIND.search(text)
        if m:
            return "bind_failed", {"errno": int(m.group("errno")), "address": m.group("addr"), "reason": m.group("why")}, []
    if "Connection in use" in text or "Can't connect to" in text:
        m = _GUNI_BIND.search(text)
        if m:
            return "bind_failed", {"errno": 98 if "in use" in text else None, "address": m.group("addr"), "reason": None}, []
    if "Error loading ASGI app" in text:
        m = _UVI_IMPORT.search(text)
        why = m.group("why") if m else ""
        mm = _UVI_IMPORT_MOD.search(why)
        return "import_error", {"name": mm.group("name") if mm else None, "reason": why[:200]}, []
    return None


def classify_systemd(text):
    """Classify one systemd (PID 1) message about a unit. Returns (class, detail, targets) or None."""
    if "Failed with result" in text:
        m = _SD_FAILED.search(text)
        if m:
            return "unit_failed", {"result": m.group("result")}, [m.group("unit")]
    if "Main process exited" in text:
        m = _SD_EXEC.search(text)
        if m:
            return "exec_failed", {"status": m.group("status")}, [m.group("unit")] if m.group("unit") else []
        return None
    if "Start request repeated too quickly" in text:
        m = _SD_START_LIMIT.search(text)
        return "start_limit_hit", {}, [m.group("unit")] if m and m.group("unit") else []
    return None


def classify_kernel(text):
    """Classify one kernel message. Only the line that names the killed task counts as an OOM kill.

    Returns ("oom_kill", {"process", "pid", "cgroup": bool}, [process]) or None. Callers de-duplicate
    on pid because one kill shows up in up to three lines (decision, oom-kill: info, Killed process).
    """
    if "ill" not in text:
        return None
    for rx, memcg in ((_OOM_DECISION, None), (_OOM_KILL_INFO, None), (_OOM_KILLED, None)):
        m = rx.search(text)
        if m:
            detail = {"process": m.group("proc"), "pid": int(m.group("pid"))}
            if memcg is None:
                detail["cgroup"] = "Memory cgroup" in text or "CONSTRAINT_MEMCG" in text
            return "oom_kill", detail, [m.group("proc")]
    return None


def classify_line(kind, text):
    """Classify one line of the given source kind (nginx_error, journal, kernel, file)."""
    if kind == "nginx_error":
        return classify_nginx(text)
    if kind == "kernel":
        return classify_kernel(text)
    # journal and plain files: app servers, systemd, nginx (nginx.service journal) and kernel lines
    return (classify_app(text) or classify_systemd(text) or
            (classify_nginx(text) if "upstream" in text or "[emerg]" in text else None) or
            (classify_kernel(text) if "Killed process" in text or "oom-kill:" in text else None))


class TracebackTracker:
    """Follows Python tracebacks over consecutive lines and reports the final exception.

    ``feed(text, ts, raw)`` returns a list (usually empty) of finished tracebacks, each a tuple
    ``(exception_name, exception_line, last_frame_line, ts, raw)``. For chained tracebacks
    ("During handling of the above exception ...") only the last exception is reported.
    Call ``flush()`` at the end of the stream.
    """

    def __init__(self):
        self.in_tb = False
        self.pending = None
        self.last_frame = None

    def flush(self):
        out = [self.pending] if self.pending else []
        self.pending = None
        return out

    def feed(self, text, ts=None, raw=None):
        body = _strip_syslog_prefix(text.rstrip("\r\n"))
        out = []
        if TRACEBACK_START.search(body):
            out = self.flush()
            self.in_tb = True
            self.last_frame = None
            return out
        if not body.strip():
            return out
        if not self.in_tb:
            if self.pending is not None:
                if _TB_CHAIN.match(body):
                    self.pending = None  # the next traceback supersedes it
                    return out
                return self.flush()
            return out
        if body[:1] in (" ", "\t", "^", "|", "+"):
            if _TB_FRAME.match(body):
                self.last_frame = body.strip()
            return out
        self.in_tb = False
        m = _TB_EXC.match(body)
        if m:
            exc = m.group("exc")
            self.pending = (exc.rsplit(".", 1)[-1], body.strip(), self.last_frame, ts, raw if raw is not None else text)
        return out
