# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Precompiled patterns that classify nginx / gunicorn / uvicorn / systemd / kernel log lines.

Pure functions, no I/O. ``classify_line(kind, text)`` returns ``(class, detail, targets)`` or
``None``; multi-line Python tracebacks are handled by :class:`TracebackTracker`; the
timestamps at the start of a line by ``parse_nginx_ts`` / ``parse_generic_ts`` (also importable
from ``logs``).
"""

from __future__ import annotations

import calendar
import re
import time

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

# --------------------------------------------------------------------------- fatal at boot, from the servers' sources

# Every message an app server writes when it cannot start (taken from its own source: see
# tests/unit/plugins/module_utils/fixtures/app_servers/extract_boot_messages.py, whose test fails
# when a server gains a message this table does not classify).  One row: (server, event class,
# cause, a literal every matching line holds, regular expression searched in the line).  The
# cause is what the rules build on: ``boot`` (the app cannot be loaded or started: module,
# attribute, application object, lifespan), ``config`` (the server's own settings: options, user,
# paths, a bind that cannot be made), ``dependency`` (a service the app needs is down).
# Classes: ``import_error`` (the app cannot be loaded), ``lifespan_failed`` (an ASGI app's startup
# failed), ``worker_boot_failed`` (the server gave up starting), ``config_error``, ``bind_failed``.
BOOT_MESSAGES = (
    # gunicorn: util.import_app (AppImportError, printed by the worker) and HaltServer's reasons
    ("gunicorn", "import_error", "boot", "Failed to find attribute",
     r"Failed to find attribute '(?P<name>[^']*)' in '(?P<module>[^']*)'"),
    ("gunicorn", "import_error", "boot", "Failed to find application object", r"Failed to find application object: '(?P<name>[^']*)'"),
    ("gunicorn", "import_error", "boot", "Application object must be callable", r"Application object must be callable"),
    ("gunicorn", "import_error", "boot", "as an attribute name or function call",
     r"Failed to parse '(?P<name>[^']*)' as an attribute name or function call"),
    ("gunicorn", "import_error", "boot", "Function reference must be a simple name",
     r"Function reference must be a simple name: '(?P<name>[^']*)'"),
    ("gunicorn", "import_error", "boot", "Failed to parse arguments as literal values",
     r"Failed to parse arguments as literal values: '(?P<name>[^']*)'"),
    ("gunicorn", "import_error", "boot", "Failed to find application, did you mean",
     r"Failed to find application, did you mean '(?P<name>[^']*)'"),
    ("gunicorn", "import_error", "boot", "Error while loading the application", r"Error while loading the application"),
    ("gunicorn", "worker_boot_failed", "boot", "App failed to load", r"App failed to load"),
    ("gunicorn", "worker_boot_failed", "boot", "Worker failed to boot", r"Worker failed to boot"),
    # gunicorn: binding
    ("gunicorn", "bind_failed", "config", "Connection in use", r"Connection in use: (?P<name>.+?)\s*$"),
    ("gunicorn", "bind_failed", "config", "Can't connect to", r"Can't connect to (?P<name>.+?)\s*$"),
    ("gunicorn", "bind_failed", "config", "Invalid address", r"Invalid address: (?P<name>.+?)\s*$"),
    ("gunicorn", "bind_failed", "config", "connection to", r"connection to (?P<name>\S+) failed: "),
    ("gunicorn", "bind_failed", "config", "is not a valid port number", r"'(?P<name>[^']*)' is not a valid port number"),
    ("gunicorn", "bind_failed", "config", "is not a valid file descriptor", r"'(?P<name>[^']*)' is not a valid file descriptor"),
    ("gunicorn", "bind_failed", "config", "is not a socket", r"'(?P<name>[^']*)' is not a socket"),
    ("gunicorn", "bind_failed", "config", "Unable to create socket from", r"Unable to create socket from: '(?P<name>[^']*)'"),
    # gunicorn: configuration (Application.do_load_config prints "Error: <message>" and exits 1)
    ("gunicorn", "config_error", "config", "Failed to read config file", r"Failed to read config file: (?P<name>\S+)"),
    ("gunicorn", "config_error", "config", "Invalid value for", r"Invalid value for (?P<name>\S+?): "),
    ("gunicorn", "config_error", "config", "No application module specified", r"No application module specified"),
    ("gunicorn", "config_error", "config", "No such user", r"No such user: '(?P<name>[^']*)'"),
    ("gunicorn", "config_error", "config", "No such group", r"No such group: '(?P<name>[^']*)'"),
    ("gunicorn", "config_error", "config", "can't chdir to", r"can't chdir to '(?P<name>[^']*)'"),
    ("gunicorn", "config_error", "config", "Entry point", r"Entry point '(?P<name>[^']*)' not found"),
    ("gunicorn", "config_error", "config", "class uri", r"class uri '(?P<name>[^']*)' invalid or not found"),
    # every other configuration error: gunicorn prints the exception's message as "Error: <message>"
    # (Application.do_load_config, BaseApplication.run) - setting validators, missing files, users
    ("gunicorn", "config_error", "config", "Error: ", r"^(?:\S+ )?Error: (?P<reason>.+)$"),
    # uvicorn: importer.import_from_string, Config.load, LifespanOn
    ("uvicorn", "config_error", "config", "must be in format", r"Import string \"(?P<name>[^\"]*)\" must be in format"),
    ("uvicorn", "import_error", "boot", "Could not import module", r"Could not import module \"(?P<name>[^\"]*)\""),
    ("uvicorn", "import_error", "boot", "not found in module",
     r"Attribute \"(?P<name>[^\"]*)\" not found in module \"(?P<module>[^\"]*)\""),
    ("uvicorn", "import_error", "boot", "Error loading ASGI app", r"Error loading ASGI app(?: factory)?[.:]\s*(?P<reason>.*)$"),
    ("uvicorn", "lifespan_failed", "boot", "Application startup failed", r"Application startup failed"),
    ("uvicorn", "lifespan_failed", "boot", "Exception in 'lifespan' protocol", r"Exception in 'lifespan' protocol"),
    # hypercorn: utils.load_application, lifespan
    ("hypercorn", "import_error", "boot", "Cannot load application from",
     r"Cannot load application from '(?P<name>[^']*)', (?:module|application) not found"),
    ("hypercorn", "lifespan_failed", "boot", "Timeout whilst awaiting", r"Timeout whilst awaiting (?P<name>\w+)"),
    ("hypercorn", "lifespan_failed", "boot", "Lifespan failure in", r"Lifespan failure in (?P<name>\w+)"),
    ("hypercorn", "config_error", "config", "is not a valid verify mode", r"'(?P<name>[^']*)' is not a valid verify mode"),
    ("hypercorn", "config_error", "config", "No worker of class", r"No worker of class (?P<name>\S+) exists"),
    ("hypercorn", "config_error", "config", "Cannot reload without workers", r"Cannot reload without workers"),
    ("hypercorn", "config_error", "config", "Cannot pickle the config", r"Cannot pickle the config"),
    ("hypercorn", "config_error", "config", "Invalid mode, must be", r"Invalid mode, must be"),
    ("hypercorn", "config_error", "config", "Unexpected socket type", r"Unexpected socket type"),
    # daphne
    ("daphne", "bind_failed", "config", "Listen failure", r"Listen failure: (?P<reason>.*)$"),
    ("daphne", "config_error", "config", "No endpoints", r"No endpoints\. This server will not listen on anything"),
    # uWSGI
    ("uwsgi", "import_error", "boot", "unable to load app", r"unable to load app \S+ \(mountpoint='(?P<name>[^']*)'\)"),
    ("uwsgi", "worker_boot_failed", "boot", "no app loaded", r"\*\*\* no app loaded"),
    ("uwsgi", "import_error", "boot", "no python application found", r"no python application found"),
    ("uwsgi", "import_error", "boot", "python interpreter", r"unable to initialize the new python interpreter"),
    ("uwsgi", "import_error", "boot", "uwsgi ", r"could not initialize the uwsgi python module|could not get uwsgi module"),
    ("uwsgi", "bind_failed", "config", "another instance",
     r"another instance of uWSGI is running on the same address \((?P<name>[^)]*)\)|(?P<lock>\S+) is locked by another instance"),
    ("uwsgi", "bind_failed", "config", "socket",
     r"unable to (?:create (?:server|shared) socket on|use shared socket|find shared socket|find protocol)"
     r"|invalid(?:/empty uwsgi)? socket|socket option is missing"),
    ("uwsgi", "config_error", "config", "unable to ", r"^unable to (?:find|load|call|deliver|allocate|set start_response)"),
    ("uwsgi", "config_error", "config", "invalid", r"^(?:invalid[ /]|\S+: invalid address|uwsgi_opt_)"),
    ("uwsgi", "config_error", "config", "uWSGI", r"requires uWSGI caching|you cannot run this build of uWSGI"),
    ("uwsgi", "config_error", "config", "!!!", r"^(?:unavailable loop engine|\[security\] empty capabilities)"),
    ("uwsgi", "config_error", "config", "recursive logic", r"^recursive logic in options"),
    # uwsgi_error(): "<call>(): <strerror> [<file>.c line <n>]"
    ("uwsgi", "config_error", "config", "(): ", r"\w\(\)(?:/\w+\(\))?: (?P<reason>.+?) \[[\w/.-]+\.c line \d+\]"),
    ("uwsgi", "config_error", "config", "exited with non-zero code", r"command \"(?P<name>[^\"]*)\" exited with non-zero code"),
    ("uwsgi", "config_error", "config", "lost communication with the Emperor", r"lost communication with the Emperor"),
    ("uwsgi", "config_error", "config", "!!! unable to spawn", r"!!! unable to spawn"),
    # PHP-FPM: fpm_sockets.c, fpm_unix.c, fpm_conf.c, fpm_main.c
    ("php-fpm", "worker_boot_failed", "boot", "FPM initialization failed", r"FPM initialization failed"),
    ("php-fpm", "bind_failed", "config", "listen", r"unable to bind listening socket for address '(?P<name>[^']*)'"
                                                   r"|failed to listen to address '(?P<addr>[^']*)'"
                                                   r"|FPM instance seems to already listen on (?P<path>\S+)"
                                                   r"|failed to create new listening socket"),
    ("php-fpm", "config_error", "config", "[pool ", r"\[pool (?P<name>[^\]]*)\] (?:cannot |failed to |please specify|Unable to set)"),
    ("php-fpm", "config_error", "config", "the configuration", r"failed to post process the configuration"),
    ("php-fpm", "config_error", "config", "failed to ",
     r"failed to (?:open error_log|load configuration file|chown\(\) the socket|set rlimit_files)"),
    ("php-fpm", "config_error", "config", "No pool defined", r"No pool defined"),
    ("php-fpm", "config_error", "config", "can't resolve hostname", r"can't resolve hostname '(?P<name>[^']*)'"),
    ("php-fpm", "config_error", "config", "invalid port value", r"invalid port value '(?P<name>[^']*)'"),
)
_BOOT_RX = tuple((server, cls, cause, key, re.compile(rx)) for server, cls, cause, key, rx in BOOT_MESSAGES)
# Words a line must hold before the table is tried (cheap: most journal lines hold none of them).
_BOOT_HINT = re.compile(r"Fail|fail|rror|Invalid|invalid|not found|No |no |not |unable|Unable|Can|can|Connection|"
                        r"exist|must|Exception|Listen|another|socket|\(\): |\[pool |Timeout|Lifespan|exited|uWSGI|"
                        r"Emperor|!!!|Application|connection")

# Python exceptions an app dies with at boot, by cause: the rules decide with these.
EXCEPTION_CAUSES = (
    ("dependency", ("OperationalError", "ConnectionRefusedError", "InterfaceError", "ConnectionError",
                    "CannotConnectNowError", "ServerSelectionTimeoutError", "ConnectionResetError", "TimeoutError",
                    "gaierror")),
    ("config", ("ImproperlyConfigured", "ConfigError", "ValidationError", "KeyError")),
    ("boot", ("ModuleNotFoundError", "ImportError", "AppImportError", "NoAppError", "SyntaxError", "NameError",
              "AttributeError", "IndentationError", "TypeError", "ValueError")),
)
DEPENDENCY_WORDS = ("could not connect to server", "connection refused", "can't connect to", "is the server running",
                    "connection to server at")


def exception_cause(name, text=""):
    """``boot``, ``config`` or ``dependency`` for an exception's name (``psycopg2.OperationalError``
    counts as ``OperationalError``), or None; a generic error whose message says the connection was
    refused is a dependency's."""
    short = str(name or "").rsplit(".", 1)[-1]
    for cause, names in EXCEPTION_CAUSES:
        if short in names:
            return cause
    low = str(text or "").lower()
    if any(w in low for w in DEPENDENCY_WORDS):
        return "dependency"
    return None


def classify_boot(text, server=None):
    """A fatal-at-boot line of an app server (``BOOT_MESSAGES``): ``(class, detail, targets)`` with
    ``detail`` = ``{server, cause, name, reason}``, or None.  ``server`` limits the rows tried."""
    if not _BOOT_HINT.search(text):
        return None
    for row_server, cls, cause, key, rx in _BOOT_RX:
        if server is not None and row_server != server:
            continue
        if key not in text:
            continue
        m = rx.search(text)
        if not m:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v}
        name = groups.get("name") or groups.get("addr") or groups.get("path") or groups.get("lock")
        reason = groups.get("reason") or text[m.start():].strip()
        return cls, {"server": row_server, "cause": cause, "name": name, "reason": reason[:200]}, []
    return None


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
        return "worker_boot_failed", {"server": "gunicorn", "cause": "boot", "name": None,
                                      "reason": "Worker failed to boot."}, []
    if "SIGKILL" in text:
        m = _GUNI_SIGKILL.search(text)
        if m:
            return "worker_sigkill", {"pid": int(m.group("pid"))}, []
    if "bind" in text:
        m = _UVI_BIND.search(text)
        if m:
            return "bind_failed", {"errno": int(m.group("errno")), "address": m.group("addr"), "reason": m.group("why"),
                                   "server": "uvicorn", "cause": "config", "name": m.group("addr")}, []
    if "Connection in use" in text or "Can't connect to" in text:
        m = _GUNI_BIND.search(text)
        if m:
            return "bind_failed", {"errno": 98 if "in use" in text else None, "address": m.group("addr"), "reason": None,
                                   "server": "gunicorn", "cause": "config", "name": m.group("addr")}, []
    if "Error loading ASGI app" in text:
        m = _UVI_IMPORT.search(text)
        why = m.group("why") if m else ""
        mm = _UVI_IMPORT_MOD.search(why)
        cause = "config" if "must be in format" in why else "boot"
        return "import_error", {"name": mm.group("name") if mm else None, "reason": why[:200], "server": "uvicorn",
                                "cause": cause}, []
    return classify_boot(text)


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


# --------------------------------------------------------------------------- timestamps

_NGX_TS = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
_ISO_TS = re.compile(r"\[?(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s?(Z|[+-]\d\d:?\d\d)?")
_SYSLOG_TS = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\b")
_MONTHS = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))}


class _LocalTime:
    """Local wall-clock -> epoch, cached per minute (mktime is slow)."""

    def __init__(self):
        self.cache = {}

    def epoch(self, y, mo, d, h, mi, s):
        key = (y, mo, d, h, mi)
        base = self.cache.get(key)
        if base is None:
            try:
                base = time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))
            except (OverflowError, ValueError):
                return None
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[key] = base
        return base + s


_LOCAL = _LocalTime()


def parse_nginx_ts(text):
    """``2026/11/22 01:57:22`` at the start of the line (local time) -> epoch, else None."""
    m = _NGX_TS.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 62):
        return None
    return _LOCAL.epoch(y, mo, d, h, mi, s)


def _parse_iso(m):
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 62):
        return None
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    tz = m.group(8)
    if tz:
        try:
            base = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
        except (OverflowError, ValueError):
            return None
        if tz != "Z":
            sign = -1 if tz[0] == "+" else 1
            tz = tz[1:].replace(":", "")
            base += sign * (int(tz[:2]) * 3600 + int(tz[2:4]) * 60)
        return base + frac
    base = _LOCAL.epoch(y, mo, d, h, mi, s)
    return None if base is None else base + frac


def parse_generic_ts(text, now=None):
    """Timestamp at the start of a line: nginx, ISO 8601 / gunicorn ``[2026-11-22 01:57:22 +0000]``, syslog."""
    ts = parse_nginx_ts(text)
    if ts is not None:
        return ts
    m = _ISO_TS.match(text)
    if m:
        return _parse_iso(m)
    m = _SYSLOG_TS.match(text)
    if m and m.group(1) in _MONTHS:
        now = time.time() if now is None else now
        year = time.localtime(now).tm_year
        mo, d, h, mi, s = _MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
        ts = _LOCAL.epoch(year, mo, d, h, mi, s)
        if ts is not None and ts > now + 86400:
            ts = _LOCAL.epoch(year - 1, mo, d, h, mi, s)
        return ts
    return None
