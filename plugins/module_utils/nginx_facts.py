# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``nginx`` section of the facts (see docs/FACTS.md): what nginx is configured to do.

``collect_nginx()`` finds the binary, asks it for its build settings (``nginx -V``) and its
verdict on the configuration (``nginx -t``), parses the configuration (from the files, or from
``nginx -T``), and returns every server, upstream group and route (a location that passes
requests on) with the effective values a 502 diagnosis needs: the resolved endpoints, timeouts,
buffer sizes, keep-alive settings, all with nginx's inheritance and defaults applied.  It also
looks at the running master and worker processes to tell whether the configuration on disk is
newer than what the workers run (edited, not reloaded).

Target side: Python standard library only.  Nothing here raises for bad host state; every
problem becomes an entry in ``errors`` and the rest is still returned.
"""
from __future__ import annotations

import gc
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import (
    NginxParseError,
    parse,
    split_nginx_T,
)

DEFAULT_CONF_PATH = "/etc/nginx/nginx.conf"
DEFAULT_PREFIX = "/usr/local/nginx"
BINARY_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx",
                     "/usr/bin/nginx", "/usr/local/openresty/nginx/sbin/nginx")
COMMAND_TIMEOUT = 30.0
# Tolerance for "file newer than the workers": process start times come in clock ticks and
# the boot time from /proc/uptime (10 ms); the /proc/stat btime fallback is whole seconds.
STALE_SLACK_PRECISE = 0.1
STALE_SLACK_BTIME = 1.0

_FAMILIES = {"proxy_pass": "proxy", "uwsgi_pass": "uwsgi", "fastcgi_pass": "fastcgi",
             "grpc_pass": "grpc", "scgi_pass": "scgi"}
_SUB_BLOCKS = ("if", "limit_except")
_INVALID = object()


def _err(source, path, message):
    return {"source": source, "path": path, "message": message}


# --------------------------------------------------------------------------- commands


def _c_env():
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    env["LANGUAGE"] = "C"
    return env


def run_command(argv, timeout=COMMAND_TIMEOUT):
    """Run ``argv`` with a C locale; return ``(rc, stdout, stderr)``.

    ``rc`` is None when the command could not be run or timed out; ``stderr`` then says why.
    """
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=_c_env(), timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, "", "%s did not finish within %g seconds" % (" ".join(argv), timeout)
    except OSError as exc:
        return None, "", "cannot run %s: %s" % (argv[0], exc.strerror or exc)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


class BackgroundCommand:
    """A command started now and collected later (``nginx -t`` runs while the parser works).

    ``result()`` returns ``(rc, stdout, stderr)`` like ``run_command``; the command is killed
    when it is still running ``timeout`` seconds after it was started.
    """

    def __init__(self, argv, timeout=COMMAND_TIMEOUT):
        self.argv = argv
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.proc = None
        self.failure = None
        try:
            # its own process group, so that a timeout kills whatever it started too
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=_c_env(), start_new_session=True)
        except OSError as exc:
            self.failure = "cannot run %s: %s" % (argv[0], exc.strerror or exc)

    def result(self):
        if self.proc is None:
            return None, "", self.failure
        try:
            out, err = self.proc.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.communicate()
            return None, "", "%s did not finish within %g seconds" % (" ".join(self.argv), self.timeout)
        return self.proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def cancel(self):
        """Stop the command and whatever it started (its process group) and reap it."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            try:
                self.proc.kill()
            except OSError:
                pass
        self.proc.communicate()


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


def parse_nginx_V(text):
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


def _lacks_privileges(output):
    """``nginx -t`` failed only because the caller is not root (permission denied)."""
    try:
        is_root = os.geteuid() == 0
    except AttributeError:
        is_root = True
    return not is_root and "Permission denied" in output


def _full_path(path, prefix):
    if not path or path.startswith("/"):
        return path
    return os.path.join(prefix or DEFAULT_PREFIX, path)


# --------------------------------------------------------------------------- processes


def _precise_boot_time(proc):
    """Boot time from /proc/uptime (10 ms resolution); ``(value, precise)``."""
    try:
        uptime = float(_proc.read_text(os.path.join(proc, "uptime")).split()[0])
        return time.time() - uptime, True
    except (OSError, ValueError, IndexError):
        return _proc.boot_time(proc), False


def _parse_stat_ppid(text):
    end = text.rfind(")")
    fields = text[end + 2:].split() if end >= 0 else []
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def scan_processes(proc="/proc"):
    """Find nginx master and worker processes.

    Returns ``(processes, precise, errors)``; ``processes`` is a list of
    ``{pid, ppid, role: master|worker, title, user, start_time}``.
    """
    errors = []
    boot, precise = _precise_boot_time(proc)
    try:
        ticks_per_second = float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        ticks_per_second = 100.0
    found = []
    for pid in _proc.list_pids(proc):
        base = os.path.join(proc, str(pid))
        try:
            with open(os.path.join(base, "cmdline"), "rb") as f:
                raw = f.read(4096)
        except OSError:
            continue
        title = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
        if title.startswith("nginx: master process"):
            role = "master"
        elif title.startswith("nginx: worker process"):
            if "is shutting down" in title:
                continue  # an old worker finishing its requests after a reload
            role = "worker"
        else:
            continue
        entry = {"pid": pid, "ppid": None, "role": role, "title": title, "user": None, "start_time": None}
        try:
            stat = _proc.read_text(os.path.join(base, "stat"))
            entry["ppid"] = _parse_stat_ppid(stat)
            ticks = _proc.parse_stat_starttime(stat)
            if ticks is not None and boot is not None:
                entry["start_time"] = boot + ticks / ticks_per_second
        except OSError:
            continue  # gone
        try:
            entry["user"] = _proc.user_name(_proc.parse_status_uid(_proc.read_text(os.path.join(base, "status"))))
        except OSError:
            errors.append(_err("proc", base, "cannot read the owner of nginx process %d" % pid))
        found.append(entry)
    return found, precise, errors


def _title_option(title, flag):
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
            if _title_option(p["title"], "-c") == conf_path:
                return p
    return sorted(masters, key=lambda p: p["pid"])[0]


def stale_files(file_mtimes, workers_started, slack=0.0):
    """Files (``[(path, mtime)]``) modified after the oldest running worker started."""
    if workers_started is None:
        return []
    return [{"path": path, "mtime": mtime} for path, mtime in file_mtimes
            if mtime is not None and mtime > workers_started + slack]


TEST_MODES = ("auto", "always", "never")
TEST_SKIPPED_OUTPUT = ("not run: nginx is running and no configuration file changed since its workers started "
                       "(the running configuration is valid); set nginx_test: always to run it anyway")
# Directives naming files nginx reads when it loads the configuration (besides includes).
REFERENCED_FILE_DIRECTIVES = frozenset((
    "ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate",
    "ssl_dhparam", "ssl_crl", "ssl_password_file", "auth_basic_user_file", "load_module"))


def nginx_test_mode(run_test):
    """``run_test`` (True, False, "auto", "always", "never") as one of ``TEST_MODES``."""
    if run_test is True:
        return "always"
    if run_test is False or run_test is None:
        return "never"
    if isinstance(run_test, str) and run_test in TEST_MODES:
        return run_test
    raise ValueError("run_test must be True, False or one of %s, got %r" % (", ".join(TEST_MODES), run_test))


_OPTION_TRUE = ("yes", "on", "1", "true", "y", "t")
_OPTION_FALSE = ("no", "off", "0", "false", "n", "f")


def test_option_mode(value):
    """A module's ``test``/``nginx_test`` option value as one of ``TEST_MODES``, or None when invalid.

    Besides the modes, the booleans the option took before it had modes are accepted (as Ansible
    reads them: true/false, yes/no, on/off, 1/0, as booleans or strings): true means "always"
    and false "never".
    """
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "always" if value else "never"
    if isinstance(value, (int, float)) and value in (0, 1):
        return "always" if value == 1 else "never"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TEST_MODES:
            return text
        if text in _OPTION_TRUE:
            return "always"
        if text in _OPTION_FALSE:
            return "never"
    return None


def referenced_files(payload, conf_prefix):
    """Files the configuration makes nginx read at load time: certificates, keys, password files...

    Returns ``(paths, unknown)``: full paths (relative ones are resolved against ``conf_prefix``,
    the directory of the main configuration file, as nginx does) and ``unknown`` True when a
    value holds a variable (the file cannot be known here).  Inline ``data:``/``engine:`` values
    name no file.
    """
    paths = []
    unknown = False
    for config in (payload or {}).get("config") or []:
        stack = [config.get("parsed") or []]
        while stack:
            for stmt in stack.pop():
                block = stmt.get("block")
                if block:
                    stack.append(block)
                if stmt.get("directive") not in REFERENCED_FILE_DIRECTIVES:
                    continue
                args = stmt.get("args") or []
                if not args or not isinstance(args[0], str):
                    continue
                value = args[0]
                if stmt.get("directive") == "auth_basic_user_file" and value == "off":
                    continue
                if value.startswith(("data:", "engine:", "store:")):
                    continue
                if "$" in value:
                    unknown = True
                    continue
                paths.append(value if value.startswith("/") else os.path.join(conf_prefix, value))
    return paths, unknown


def _running_conf_matches(master, conf_path, compiled_conf_full, prefix):
    """Does the running master use the configuration file that was parsed?"""
    running = _title_option(master.get("title") or "", "-c")
    if running:
        return _full_path(running, prefix) == conf_path
    return compiled_conf_full is not None and compiled_conf_full == conf_path


def nginx_test_needed(facts, payload, parse_ok, running_conf_ok, slack):
    """Must ``nginx -t`` run in mode "auto"?  Returns ``(needed, reason)``.

    It need not when the running workers loaded exactly the files on disk: nginx runs this
    configuration, nothing it read (configuration files, the files its directives name, the
    binary, the directories of the files) changed after the workers started, and the parse
    was clean.  Any doubt (a file missing or unreadable, a variable in a file name) means: test.
    """
    started = facts.get("workers_started")
    if not facts.get("master_pid") or started is None:
        return True, "nginx is not running"
    if not running_conf_ok:
        return True, "the running master uses another configuration file"
    if not parse_ok or not facts.get("files"):
        return True, "the configuration did not parse cleanly"
    if facts.get("stale"):
        return True, "configuration files changed after the workers started"
    conf_prefix = os.path.dirname(facts.get("conf_path") or DEFAULT_CONF_PATH)
    paths, unknown = referenced_files(payload, conf_prefix)
    if unknown:
        return True, "a referenced file name holds a variable"
    others = set(paths)
    others.update(os.path.dirname(f) for f in facts["files"])
    if facts.get("binary"):
        others.add(facts["binary"])
    limit = started + slack
    for path in others:
        try:
            if os.stat(path).st_mtime > limit:
                return True, "%s changed after the workers started" % path
            if path in paths and not os.path.isdir(path):
                with open(path, "rb"):
                    pass
        except OSError:
            return True, "%s is missing or unreadable" % path
    return False, ""


# --------------------------------------------------------------------------- config walk


class _Level:
    """The directives written directly at one block level (includes expanded).

    ``parent`` is the enclosing level (None at the top of a chain); ``lookup`` and
    ``lookup_array`` answer "which statement is in effect here" along the parent links.
    """

    __slots__ = ("kind", "items", "by_name", "parent")

    def __init__(self, kind, items, parent=None, by_name=None):
        self.kind = kind
        self.items = items          # [(stmt, file)]
        if by_name is None:
            by_name = {}
            for item in items:
                name = item[0].get("directive")
                if name in by_name:
                    by_name[name].append(item)
                else:
                    by_name[name] = [item]
        self.by_name = by_name
        self.parent = parent

    def get(self, name):
        return self.by_name.get(name) or []

    def lookup(self, name):
        """Innermost ``(stmt, file)`` of a simple directive from here outwards, or None."""
        level = self
        while level is not None:
            found = level.by_name.get(name)
            if found:
                return found[0]
            level = level.parent
        return None

    def lookup_array(self, name):
        """Array directives: the statements of the innermost level that has any."""
        level = self
        while level is not None:
            found = level.by_name.get(name)
            if found:
                return found
            level = level.parent
        return []


def _effective(chain, name):
    """Innermost ``(stmt, file)`` of a simple directive along ``chain`` (outer -> inner)."""
    for level in reversed(chain):
        found = level.get(name)
        if found:
            return found[0]
    return None


def _effective_array(chain, name):
    """Array directives such as ``proxy_set_header``: the innermost level that has any wins."""
    for level in reversed(chain):
        found = level.get(name)
        if found:
            return found
    return []


class _Collector:
    def __init__(self, payload, version, errors, resolve, getaddrinfo=None, prefix=None):
        self.payload = payload
        self.configs = payload.get("config") or []
        self.errors = errors
        self.resolve = resolve
        self.getaddrinfo = getaddrinfo
        self.prefix = prefix
        self.new_defaults = V.keepalive_by_default(version)
        self.page = V.page_size()
        self._resolved = {}
        self._upstream_names = {}
        self._targets = {}          # (directive, target) -> parse_pass_target result
        self._parsed = {}           # (id(stmt), parser) -> parsed value (stmts live as long as the payload)
        self._group_endpoints = {}  # upstream name -> its servers' endpoints (shared by its routes)
        self.maps = {}
        self.seen = set()           # every directive name of the levels built so far
        self._includes = {}         # included file indexes -> (items, by_name)

    # -- helpers -------------------------------------------------------------

    def expand(self, stmts, file, stack=()):
        """Statements of a block with ``include`` replaced by the included files' statements."""
        out = []
        append = out.append
        for stmt in stmts or ():
            directive = stmt.get("directive")
            if directive == "#":
                continue
            if directive == "include" and "includes" in stmt:
                for idx in stmt.get("includes") or []:
                    if idx in stack or not isinstance(idx, int) or idx >= len(self.configs):
                        continue  # an include cycle: the parser reports it
                    cfg = self.configs[idx]
                    out.extend(self.expand(cfg.get("parsed"), cfg.get("file"), stack + (idx,)))
                continue
            append((stmt, stmt.get("file", file)))
        return out

    def _included(self, stmt, file):
        """``(items, by_name)`` of what one ``include`` brings in, worked out once per set of
        files (``include uwsgi_params;`` in ten thousand locations is one expansion)."""
        key = tuple(stmt.get("includes") or ())
        try:
            return self._includes[key]
        except (KeyError, TypeError):
            pass
        items = self.expand((stmt,), file)
        names = {}
        for item in items:
            names.setdefault(item[0].get("directive"), []).append(item)
        try:
            self._includes[key] = (items, names)
        except TypeError:
            pass
        return items, names

    def level(self, kind, stmts, file, parent=None):
        """A ``_Level`` of a block's statements (includes expanded) under ``parent``."""
        items = []
        append = items.append
        by_name = {}
        for stmt in stmts or ():
            directive = stmt.get("directive")
            if directive == "#":
                continue
            if directive == "include" and "includes" in stmt:
                included, names = self._included(stmt, file)
                items.extend(included)
                for name, found in names.items():
                    if name in by_name:
                        by_name[name].extend(found)
                    else:
                        by_name[name] = list(found)
                continue
            item = (stmt, stmt.get("file", file))
            append(item)
            if directive in by_name:
                by_name[directive].append(item)
            else:
                by_name[directive] = [item]
        self.seen.update(by_name)
        return _Level(kind, items, parent, by_name)

    def conf_error(self, file, line, message):
        self.errors.append(_err("nginx_conf", file, "%s:%s: %s" % (file, line, message)))

    def value(self, chain, name, parser, default):
        """Effective value of a directive along ``chain`` (a linked chain, see ``_Level``).

        Each statement is parsed once; one that does not parse is reported once and
        ``default`` is used wherever it is in effect."""
        if name not in self.seen:
            return default     # written nowhere (in any block walked so far)
        found = chain[-1].lookup(name)
        if not found:
            return default
        stmt, file = found
        key = (id(stmt), parser)
        try:
            cached = self._parsed[key]
        except KeyError:
            cached = self._parsed[key] = self._parse_value(stmt, file, name, parser)
        return default if cached is _INVALID else cached

    def _parse_value(self, stmt, file, name, parser):
        args = stmt.get("args") or []
        try:
            if parser is V.parse_duration or parser is V.parse_size:
                if len(args) != 1:
                    raise ValueError("%s takes one argument" % name)
                return parser(args[0])
            return parser(args)
        except ValueError as exc:
            self.conf_error(file, stmt.get("line"), "%s: %s" % (name, exc))
            return _INVALID

    def endpoint_resolved(self, endpoint):
        """Fill in ``addresses`` of a tcp endpoint that names a host."""
        if endpoint is None or endpoint.get("kind") != "tcp" or endpoint.get("family") != "name":
            return endpoint
        if not self.resolve:
            return endpoint
        key = (endpoint["host"], endpoint["port"])
        if key not in self._resolved:
            try:
                self._resolved[key] = (E.resolve(endpoint["host"], endpoint["port"], self.getaddrinfo), None)
            except (OSError, UnicodeError) as exc:
                self._resolved[key] = ([], "cannot resolve %s (port %s): %s" % (endpoint["host"], endpoint["port"], exc))
                self.errors.append(_err("resolve", None, self._resolved[key][1]))
        endpoint = dict(endpoint)
        endpoint["addresses"] = [dict(a) for a in self._resolved[key][0]]
        return endpoint

    # -- blocks --------------------------------------------------------------

    def run(self):
        result = {"user": None, "group": None, "user_directive": None, "error_logs": [],
                  "servers": [], "upstreams": {}, "routes": [], "pid_path": None}
        if not self.configs:
            return result
        root = self.configs[0]
        main = self.level("main", root.get("parsed"), root.get("file"))
        user = main.get("user")
        if user:
            stmt, file = user[0]
            args = stmt.get("args") or []
            if args:
                result["user"] = args[0]
                result["group"] = args[1] if len(args) > 1 else args[0]
            result["user_directive"] = {"file": file, "line": stmt.get("line")}
        pid = main.get("pid")
        if pid and pid[0][0].get("args"):
            result["pid_path"] = pid[0][0]["args"][0]
        for stmt, file in main.get("error_log"):
            result["error_logs"].append(self.error_log(stmt, file, "main", []))
        http_blocks = main.get("http")
        for stmt, file in http_blocks:
            self.http(stmt, file, result)
        if not http_blocks and (main.get("server") or main.get("upstream")):
            # A snippet (a sites-enabled file given as conf_path): its top level is http's.
            self.http({"block": root.get("parsed")}, root.get("file"), result, snippet=main)
        return result

    def error_log(self, stmt, file, context, names):
        args = stmt.get("args") or []
        path = args[0] if args else None
        level = V.DEFAULT_ERROR_LOG_LEVEL
        for arg in args[1:]:
            if arg in V.ERROR_LOG_LEVELS:
                level = arg
        if path and not path.startswith("/") and path != "stderr" and ":" not in path.split("/")[0]:
            path = _full_path(path, self.prefix)
        return {"path": path, "level": level, "context": context, "server_names": list(names),
                "file": file, "line": stmt.get("line")}

    def http(self, stmt, file, result, snippet=None):
        http = snippet or self.level("http", stmt.get("block"), file)
        for s, f in ([] if snippet else http.get("error_log")):
            result["error_logs"].append(self.error_log(s, f, "http", []))
        for s, f in http.get("map"):
            args = s.get("args") or []
            if len(args) >= 2:
                values = []
                for entry, _f in self.expand(s.get("block"), f):
                    entry_args = entry.get("args") or []
                    if entry_args:
                        values.append(entry_args[0])
                self.maps[args[1]] = values
        for s, f in http.get("upstream"):
            self.upstream(s, f, result["upstreams"])
        ids = {}
        for s, f in http.get("server"):
            self.server(s, f, http, result, ids)

    def upstream(self, stmt, file, upstreams):
        args = stmt.get("args") or []
        if not args:
            return
        name = args[0]
        level = self.level("upstream", stmt.get("block"), file)
        servers = []
        for s, f in level.get("server"):
            sargs = s.get("args") or []
            if not sargs:
                continue
            params, problems = V.parse_server_params(sargs[1:])
            for problem in problems:
                self.conf_error(f, s.get("line"), "upstream %s server %s: %s" % (name, sargs[0], problem))
            try:
                endpoint = self.endpoint_resolved(V.parse_upstream_server_address(sargs[0]))
            except ValueError as exc:
                self.conf_error(f, s.get("line"), "upstream %s: %s" % (name, exc))
                endpoint = None
            servers.append({"address": sargs[0], "params": params, "endpoint": endpoint,
                            "file": f, "line": s.get("line")})
        keepalive = None
        found = level.get("keepalive")
        if found:
            s, f = found[0]
            kargs = s.get("args") or []
            if kargs and kargs[0].isdigit():
                keepalive = int(kargs[0])
            else:
                self.conf_error(f, s.get("line"), "invalid keepalive %r in upstream %s" % (" ".join(kargs), name))
        elif self.new_defaults:
            keepalive = V.KEEPALIVE_DEFAULT_CONNECTIONS
        requests = V.DEFAULT_UPSTREAM_KEEPALIVE_REQUESTS
        found = level.get("keepalive_requests")
        if found:
            s, f = found[0]
            rargs = s.get("args") or []
            if rargs and rargs[0].isdigit():
                requests = int(rargs[0])
            else:
                self.conf_error(f, s.get("line"), "invalid keepalive_requests in upstream %s" % name)
        if name in upstreams:
            self.conf_error(file, stmt.get("line"), "duplicate upstream %r" % name)
            return
        upstreams[name] = {
            "file": file,
            "line": stmt.get("line"),
            "servers": servers,
            "keepalive": keepalive,
            "keepalive_timeout": self.value([level], "keepalive_timeout", V.parse_duration,
                                            V.DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT),
            "keepalive_requests": requests,
        }

    def server(self, stmt, file, http, result, ids):
        level = self.level("server", stmt.get("block"), file, parent=http)
        names = []
        for s, _f in level.get("server_name"):
            names.extend(a for a in (s.get("args") or []) if a != "")
        listens = []
        for s, f in level.get("listen"):
            try:
                listens.append(V.parse_listen(s.get("args") or []))
            except ValueError as exc:
                self.conf_error(f, s.get("line"), "listen: %s" % exc)
        if not listens:
            listens.append(V.default_listen())
        result["servers"].append({"names": names, "listen": listens, "file": file, "line": stmt.get("line")})
        for s, f in level.get("error_log"):
            result["error_logs"].append(self.error_log(s, f, "server", names))
        first = listens[0]
        listen_key = ("unix:%s" % first["unix"]) if first.get("unix") else str(first.get("port"))
        server_key = "%s:%s" % (names[0] if names else "_", listen_key)
        for s, f in level.get("location"):
            self.location(s, f, [http, level], [], names, listens, server_key, result, ids)

    def location(self, stmt, file, chain, path, names, listens, server_key, result, ids):
        level = self.level("location", stmt.get("block"), file, parent=chain[-1])
        path = path + [" ".join(stmt.get("args") or [])]
        chain = chain + [level]
        route_chain, found = None, None
        by_name = level.by_name
        for directive in V.PASS_DIRECTIVES:
            hits = by_name.get(directive)
            if hits:
                route_chain, found = chain, (directive,) + hits[0]
                break
        if found is None and ("if" in by_name or "limit_except" in by_name):
            for sub, sfile in level.items:
                if sub.get("directive") not in _SUB_BLOCKS:
                    continue
                sub_level = self.level(sub.get("directive"), sub.get("block"), sfile, parent=level)
                for directive in V.PASS_DIRECTIVES:
                    hits = sub_level.get(directive)
                    if hits:
                        route_chain, found = chain + [sub_level], (directive,) + hits[0]
                        break
                if found:
                    break
        if found:
            location = " > ".join(path)
            route_id = "%s %s" % (server_key, location)
            n = ids.get(route_id, 0) + 1
            ids[route_id] = n
            if n > 1:
                route_id = "%s #%d" % (route_id, n)
            result["routes"].append(self.route(found, route_chain, route_id, names, listens, location, result))
        for s, f in by_name.get("location") or ():
            self.location(s, f, chain, path, names, listens, server_key, result, ids)

    # -- routes --------------------------------------------------------------

    def route(self, found, chain, route_id, names, listens, location, result):
        directive, stmt, file = found
        family = _FAMILIES[directive]
        args = stmt.get("args") or []
        target = args[0] if args else ""
        upstreams = result["upstreams"]
        if len(self._upstream_names) != len(upstreams):
            self._upstream_names = dict((n.lower(), n) for n in upstreams)
            self._targets = {}
            self._group_endpoints = {}
        # Many routes name the same target: take it apart (and resolve it) once. The route
        # dicts share these read-only lists and endpoint dicts instead of copying them.
        tkey = (directive, target)
        cached = self._targets.get(tkey)
        if cached is None:
            parsed = V.parse_pass_target(directive, target, self._upstream_names)
            endpoint = None
            if parsed["upstream"] is None and parsed["endpoint"] is not None:
                endpoint = self.endpoint_resolved(parsed["endpoint"])
            cached = self._targets[tkey] = (parsed, endpoint)
        parsed, endpoint = cached
        if parsed["problem"]:
            self.conf_error(file, stmt.get("line"), "%s: %s" % (directive, parsed["problem"]))
        endpoints = []
        group = upstreams.get(parsed["upstream"]) if parsed["upstream"] else None
        if group is not None:
            endpoints = self._group_endpoints.get(parsed["upstream"])
            if endpoints is None:
                endpoints = self._group_endpoints[parsed["upstream"]] = [
                    s["endpoint"] for s in group["servers"] if s.get("endpoint")]
        elif endpoint is not None:
            endpoints = [endpoint]

        timeouts = {
            "connect": self.value(chain, family + "_connect_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
            "read": self.value(chain, family + "_read_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
            "send": self.value(chain, family + "_send_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
        }
        buffer_size = self.value(chain, family + "_buffer_size", V.parse_size, self.page)
        if family == "grpc":
            buffers = None
            busy = None
        else:
            buffers = self.value(chain, family + "_buffers", self._buffers, {"number": 8, "size": self.page})
            busy = self.value(chain, family + "_busy_buffers_size", V.parse_size,
                              2 * max(buffer_size, buffers["size"]))

        http_version = None
        cleared = False
        if family == "proxy":
            http_version = self.value(chain, "proxy_http_version", self._one_arg,
                                      "1.1" if self.new_defaults else "1.0")
            cleared = self._connection_cleared(chain)
        keepalive = bool(group and group.get("keepalive"))
        if family == "proxy":
            in_use = keepalive and http_version == "1.1" and cleared
        elif family == "fastcgi":
            in_use = keepalive and self.value(chain, "fastcgi_keep_conn", self._one_arg, "off") == "on"
        elif family == "grpc":
            in_use = keepalive
        else:
            in_use = False  # uwsgi and scgi have no keep-alive
        return {
            "id": route_id,
            "server_names": names,
            "listen": listens,
            "location": location,
            "directive": directive,
            "protocol": parsed["protocol"],
            "target": target,
            "upstream": parsed["upstream"],
            "dynamic": parsed["dynamic"],
            "endpoints": endpoints,
            "timeouts": timeouts,
            "buffers": {"buffer_size": buffer_size, "buffers": buffers, "busy_buffers_size": busy},
            "http_version": http_version,
            "connection_header_cleared": cleared,
            "keepalive_in_use": bool(in_use),
            "client_max_body_size": self.value(chain, "client_max_body_size", V.parse_size,
                                               V.DEFAULT_CLIENT_MAX_BODY_SIZE),
            "file": file,
            "line": stmt.get("line"),
        }

    @staticmethod
    def _one_arg(args):
        if len(args) != 1:
            raise ValueError("takes one argument")
        return args[0]

    @staticmethod
    def _buffers(args):
        if len(args) != 2 or not args[0].isdigit():
            raise ValueError("takes a number and a size")
        return {"number": int(args[0]), "size": V.parse_size(args[1])}

    def _connection_cleared(self, chain):
        """Is the Connection header sent to the upstream empty (keep-alive possible)?"""
        value = None
        for stmt, _file in chain[-1].lookup_array("proxy_set_header"):
            args = stmt.get("args") or []
            if len(args) >= 2 and args[0].lower() == "connection":
                value = args[1]
        if value is None:
            # nginx < 1.29.7 sends "Connection: close" unless told otherwise.
            return self.new_defaults
        if value == "":
            return True
        if re.match(r"^\$\w+$", value) and value in self.maps:
            # proxy_set_header Connection $connection_upgrade; with a map that yields '' for
            # plain requests (the usual websocket recipe that keeps upstream keep-alive working).
            return "" in self.maps[value]
        return False


# --------------------------------------------------------------------------- main entry


def analyze_config(payload, version=None, resolve=True, getaddrinfo=None, prefix=None):
    """Servers, upstreams, routes, error logs and the ``user`` directive of a parser payload.

    ``version`` selects nginx's version-dependent defaults.  Returns a dict with the keys
    ``user``, ``group`` (None without a ``user`` directive), ``user_directive``, ``error_logs``,
    ``servers``, ``upstreams``, ``routes``, ``pid_path`` and ``errors``.
    """
    errors = []
    result = _Collector(payload or {}, version, errors, resolve, getaddrinfo, prefix).run()
    result["errors"] = errors
    return result


def payload_from_nginx_T(output, errors, **parse_options):
    """Parse ``nginx -T`` output; return ``(payload, files)`` (both None when it holds no file)."""
    try:
        files = split_nginx_T(output)
    except (NginxParseError, ValueError) as exc:
        errors.append(_err("nginx_bin", None, "cannot split the output of nginx -T: %s" % exc))
        return None, None
    if not files:
        errors.append(_err("nginx_bin", None, "the output of nginx -T holds no configuration file"))
        return None, None
    main_file = next(iter(files))
    return _safe_parse(main_file, errors, files=files, **parse_options), files


def _safe_parse(conf_path, errors, files=None, **options):
    try:
        return parse(conf_path, files=files, catch_errors=True, **options)
    except NginxParseError as exc:
        errors.append(_err("nginx_conf", getattr(exc, "file", None) or conf_path,
                           "cannot parse %s: %s" % (conf_path, exc)))
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        errors.append(_err("nginx_conf", conf_path, "cannot parse %s: %s" % (conf_path, exc)))
    return None


def _parse_options(tree_options):
    opts = dict(tree_options or {})
    ignore = opts.get("ignore") or ()
    return {
        "comments": bool(opts.get("comments", False)),
        "single_file": bool(opts.get("single_file", False)),
        "combine": bool(opts.get("combine", False)),
        "ignore": tuple(ignore),
    }


def collect_nginx(conf_path=None, source="files", binary=None, resolve=True, run_test="auto",
                  tree=False, tree_options=None, proc="/proc", getaddrinfo=None,
                  command_timeout=COMMAND_TIMEOUT):
    """Return the ``nginx`` facts section (see docs/FACTS.md).

    ``tree=True`` adds the key ``tree`` (the parser payload; ``tree_options`` are the
    crossplane-style ``comments``, ``single_file``, ``combine`` and ``ignore``) which callers
    must move out of the facts.  ``proc`` and ``getaddrinfo`` exist for tests.

    ``run_test``: "always" (or True) runs ``nginx -t``; "never" (or False) does not; "auto" starts
    it, but stops it and reports it as skipped when nginx runs this configuration and nothing it
    read changed since the workers started (see ``nginx_test_needed``).
    """
    mode = nginx_test_mode(run_test)
    errors = []
    facts = {
        "present": False,
        "binary": None,
        "version": None,
        "conf_path": conf_path or DEFAULT_CONF_PATH,
        "prefix": None,
        "compiled_user": None,
        "source": source if source in ("files", "nginx_T") else "files",
        "test": {"ok": None, "rc": None, "output": "", "skipped": False},
        "files": [],
        "user": "nobody",
        "group": None,
        "user_directive": None,
        "worker_users": [],
        "master_pid": None,
        "worker_pids": [],
        "master_started": None,
        "workers_started": None,
        "stale": False,
        "stale_files": [],
        "error_logs": [],
        "servers": [],
        "upstreams": {},
        "routes": [],
        "timings": {},
        "errors": errors,
    }
    # The parse payload of a large configuration is millions of small objects; the cyclic
    # garbage collector would scan them again and again (half the run time) for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _collect(facts, conf_path, source, binary, resolve, mode, tree, tree_options, proc,
                 getaddrinfo, command_timeout)
    except Exception as exc:  # pylint: disable=broad-except
        errors.append(_err("nginx_conf", None, "gathering nginx facts stopped early: %s: %s"
                           % (type(exc).__name__, exc)))
    finally:
        if gc_was_enabled:
            gc.enable()
    return facts


def _collect(facts, conf_path, source, binary, resolve, mode, tree, tree_options, proc,
             getaddrinfo, command_timeout):
    errors = facts["errors"]
    run_test = mode != "never"
    options = _parse_options(tree_options)
    conf_option = conf_path

    # -- binary and build settings -----------------------------------------------------
    found = find_binary(binary)
    if binary and not found:
        errors.append(_err("nginx_bin", binary, "nginx binary %s does not exist or is not executable" % binary))
    configure = {}
    if found:
        facts["present"] = True
        facts["binary"] = found
        rc, out, err = run_command([found, "-V"], timeout=command_timeout)
        if rc is None or rc != 0:
            errors.append(_err("nginx_bin", found, "%s -V failed: %s" % (found, (err or out).strip() or "rc %s" % rc)))
        info = parse_nginx_V(err + "\n" + out)
        facts["version"] = info["version"]
        configure = info["configure"]
    prefix = configure.get("prefix") if isinstance(configure.get("prefix"), str) else None
    facts["prefix"] = prefix
    compiled_user = configure.get("user") if isinstance(configure.get("user"), str) else None
    compiled_group = configure.get("group") if isinstance(configure.get("group"), str) else None
    facts["compiled_user"] = compiled_user

    # -- running processes (also tells which configuration the master runs) ------------
    processes, precise, perrors = scan_processes(proc)
    errors.extend(perrors)

    if not conf_path:
        compiled_conf = configure.get("conf-path") if isinstance(configure.get("conf-path"), str) else None
        if compiled_conf:
            conf_path = _full_path(compiled_conf, prefix)
        elif prefix:
            conf_path = _full_path("conf/nginx.conf", prefix)
        else:
            conf_path = DEFAULT_CONF_PATH
        masters = [p for p in processes if p["role"] == "master"]
        if len(masters) == 1:
            running_conf = _title_option(masters[0]["title"], "-c")
            if running_conf:
                conf_path = _full_path(running_conf, prefix)
    facts["conf_path"] = conf_path
    compiled_conf_full = _full_path(configure.get("conf-path"), prefix) if isinstance(configure.get("conf-path"), str) else None
    conf_args = [] if conf_path == compiled_conf_full else ["-c", conf_path]

    # -- nginx -t, in the background while the configuration is parsed -------------------
    test_cmd = None
    if found and run_test and source != "nginx_T":
        test_cmd = BackgroundCommand([found, "-t"] + conf_args, timeout=command_timeout)
    timings = facts["timings"]
    started = time.monotonic()

    # -- configuration -------------------------------------------------------------------
    payload = None
    parse_opts = {"comments": options["comments"], "single_file": options["single_file"],
                  "ignore": options["ignore"]}
    vfiles = None
    used_source = "files"
    test_done = False
    if source == "nginx_T":
        if not found:
            errors.append(_err("nginx_bin", None, "source nginx_T needs the nginx binary, which was not found; "
                                                  "parsing the files instead"))
        else:
            rc, out, err = run_command([found, "-T"] + conf_args, timeout=command_timeout)
            if run_test and rc is not None and not (rc != 0 and _lacks_privileges(err)):
                facts["test"] = {"ok": rc == 0, "rc": rc, "output": err.strip(), "skipped": False}
                test_done = True
            if rc == 0:
                payload, vfiles = payload_from_nginx_T(out, errors, **parse_opts)
                if payload is not None:
                    conf_path = next(iter(vfiles))
                    facts["conf_path"] = conf_path
                    used_source = "nginx_T"
                else:
                    vfiles = None
            else:
                errors.append(_err("nginx_bin", found, "%s -T failed (rc %s), parsing the files instead: %s"
                                   % (found, rc, (err or out).strip()[-500:])))
    facts["source"] = used_source

    # Without a binary, only a configuration the caller named explicitly is parsed.
    if payload is None and (found or conf_option):
        if os.path.exists(conf_path):
            payload = _safe_parse(conf_path, errors, **parse_opts)
        else:
            errors.append(_err("nginx_conf", conf_path, "nginx configuration %s does not exist" % conf_path))

    timings["parse"] = round(time.monotonic() - started, 4)
    walked = None
    parse_ok = payload is not None and not errors
    if payload is not None:
        parse_ok = parse_ok and not payload.get("errors")
        for e in payload.get("errors") or []:
            line = e.get("line")
            where = "%s:%s" % (e.get("file"), line) if line is not None else "%s" % e.get("file")
            text = "%s" % e.get("error")
            if where not in text:
                text = "%s: %s" % (where, text)
            errors.append(_err("nginx_conf", e.get("file"), text))
        facts["files"] = [c.get("file") for c in payload.get("config") or [] if c.get("file")]
        started = time.monotonic()
        walked = analyze_config(payload, facts["version"], resolve, getaddrinfo, prefix)
        timings["analyze"] = round(time.monotonic() - started, 4)
        walked_errors = walked.pop("errors")
        parse_ok = parse_ok and not walked_errors
        errors.extend(walked_errors)
        facts["error_logs"] = walked["error_logs"]
        facts["servers"] = walked["servers"]
        facts["upstreams"] = walked["upstreams"]
        facts["routes"] = walked["routes"]
        facts["user_directive"] = walked["user_directive"]

    # -- effective worker user -------------------------------------------------------------
    if walked and walked["user"]:
        facts["user"] = walked["user"]
        facts["group"] = walked["group"]
    elif compiled_user:
        facts["user"] = compiled_user
        facts["group"] = compiled_group or (compiled_user if compiled_user != "nobody" else None)
    else:
        facts["user"] = "nobody"
        facts["group"] = compiled_group

    # -- default error log when the main level names none ------------------------------------
    if found and payload is not None and not any(e["context"] == "main" for e in facts["error_logs"]):
        compiled_log = configure.get("error-log-path") if isinstance(configure.get("error-log-path"), str) else None
        default_log = compiled_log or "logs/error.log"
        facts["error_logs"].insert(0, {
            "path": default_log if default_log == "stderr" else _full_path(default_log, prefix),
            "level": V.DEFAULT_ERROR_LOG_LEVEL, "context": "main", "server_names": [],
            "file": None, "line": None,
        })

    # -- processes, staleness -------------------------------------------------------------
    pid_path = (walked or {}).get("pid_path") or (configure.get("pid-path") if isinstance(configure.get("pid-path"), str) else None)
    pid_from_file = None
    if pid_path:
        try:
            with open(_full_path(pid_path, prefix)) as f:
                pid_from_file = int(f.read().strip() or "0")
        except (OSError, ValueError):
            pid_from_file = None
    master = select_master(processes, pid_from_file, conf_path)
    running_conf_ok = bool(master) and _running_conf_matches(master, conf_path, compiled_conf_full, prefix)
    if master:
        workers = [p for p in processes if p["role"] == "worker" and p["ppid"] == master["pid"]]
        facts["master_pid"] = master["pid"]
        facts["master_started"] = master["start_time"]
    else:
        workers = [p for p in processes if p["role"] == "worker"]
    facts["worker_pids"] = sorted(p["pid"] for p in workers)
    facts["worker_users"] = sorted(set(p["user"] for p in workers if p["user"]))
    starts = [p["start_time"] for p in workers if p["start_time"] is not None]
    facts["workers_started"] = min(starts) if starts else None

    mtimes = []
    for path in facts["files"]:
        try:
            mtimes.append((path, os.stat(path).st_mtime))
        except OSError as exc:
            parse_ok = False
            if used_source == "files":
                errors.append(_err("nginx_conf", path, "cannot stat %s: %s" % (path, exc.strerror or exc)))
    slack = STALE_SLACK_PRECISE if precise else STALE_SLACK_BTIME
    facts["stale_files"] = stale_files(mtimes, facts["workers_started"], slack)
    facts["stale"] = bool(facts["stale_files"])

    # -- the result of nginx -t (it ran while the rest was gathered) --------------------------
    started = time.monotonic()
    skip = False
    if found and mode == "auto" and not test_done:
        skip = not nginx_test_needed(facts, payload, parse_ok, running_conf_ok, slack)[0]
    if skip:
        # The running workers loaded exactly these files: nginx -t would only repeat that.
        if test_cmd is not None:
            test_cmd.cancel()
        facts["test"] = {"ok": None, "rc": None, "output": TEST_SKIPPED_OUTPUT, "skipped": True}
    elif found and run_test and not test_done:
        if test_cmd is None:   # nginx -T failed: test the files instead
            test_cmd = BackgroundCommand([found, "-t"] + conf_args, timeout=command_timeout)
        rc, out, err = test_cmd.result()
        output = (err + out).strip()
        facts["test"] = {"ok": (rc == 0) if rc is not None else None, "rc": rc, "output": output, "skipped": False}
        if rc is None:
            errors.append(_err("nginx_bin", found, output))
        elif rc != 0 and _lacks_privileges(output):
            # Not a verdict on the configuration: this user cannot read what nginx needs.
            facts["test"]["ok"] = None
            errors.append(_err("nginx_bin", found, "nginx -t could not check the configuration without root "
                                                   "privileges (run with become): %s"
                               % [x for x in output.splitlines() if "Permission denied" in x][0]))

    timings["test_wait"] = round(time.monotonic() - started, 4)

    # -- the tree, on request -------------------------------------------------------------
    if tree:
        if options["combine"] and payload is not None:
            tree_payload = _safe_parse(conf_path, errors, files=vfiles, combine=True, **parse_opts)
        else:
            tree_payload = payload
        facts["tree"] = tree_payload
