# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App servers (gunicorn, uvicorn, uwsgi, hypercorn, daphne, php-fpm): the ``apps`` facts section.

Found as running processes (``/proc``) and as systemd units (also stopped / failed ones). For each:
binds, timeouts, workers, the gunicorn config file (read with ``ast``, never executed; only the
settings named in the facts contract are returned as values), the ``.socket`` unit, PHP-FPM pools,
the unit's settings (``systemctl show``: drop-ins merged by systemd) and its state.

Secret rule: environment variable values, config values other than the named settings and the
values of ``--env``/``-e`` never leave this module.
"""

from __future__ import annotations

import ast
import configparser
import glob
import grp
import ipaddress
import os
import pwd
import re
import shlex
import socket
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd

try:
    from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
except ImportError:  # pragma: no cover - the shared process helpers are part of the collection
    _proc = None

KINDS = ("gunicorn", "uvicorn", "uwsgi", "hypercorn", "daphne", "php-fpm")
_PY_NAMES = ("gunicorn", "uvicorn", "uwsgi", "hypercorn", "daphne")
MASK = "********"

# settings whose values the contract allows; everything else in a config file: key names only
GUNICORN_CONFIG_SETTINGS = {
    "bind": "bind", "workers": "workers", "worker_class": "worker_class", "timeout": "timeout",
    "graceful_timeout": "graceful_timeout", "keepalive": "keepalive", "max_requests": "max_requests",
    "backlog": "backlog", "wsgi_app": "app",
}

DEFAULTS = {
    "gunicorn": {"timeout": 30.0, "graceful_timeout": 30.0, "keepalive": 2.0, "workers": 1, "worker_class": "sync",
                 "max_requests": 0, "backlog": 2048},
    "uvicorn": {"keepalive": 5.0, "workers": 1, "backlog": 2048},
    "hypercorn": {"keepalive": 5.0, "graceful_timeout": 3.0, "workers": 1, "worker_class": "asyncio", "backlog": 100},
    "daphne": {},
    "uwsgi": {"backlog": 100},
    "php-fpm": {},
}

# option tables: option -> setting key ; options that take no value
_GUNICORN_OPTS = {
    "-b": "bind", "--bind": "bind", "-w": "workers", "--workers": "workers", "-k": "worker_class",
    "--worker-class": "worker_class", "-t": "timeout", "--timeout": "timeout", "--graceful-timeout": "graceful_timeout",
    "--keep-alive": "keepalive", "--max-requests": "max_requests", "--backlog": "backlog", "-c": "config",
    "--config": "config", "--chdir": "chdir", "-e": "env", "--env": "env",
}
_GUNICORN_FLAGS = {
    "-D", "--daemon", "--reload", "--preload", "--spew", "--check-config", "--print-config", "--capture-output",
    "--enable-stdio-inheritance", "--strip-header-spaces", "--no-sendfile", "--reuse-port", "--proxy-protocol",
    "--suppress-ragged-eofs", "--do-handshake-on-connect", "-R", "--help", "-h", "-v", "--version", "--log-syslog",
    "--initgroups", "--disable-redirect-access-to-syslog", "--sendfile", "--paste-global-conf", "--no-control-socket",
    "--permit-unconventional-http-method", "--permit-unconventional-http-version", "--casefold-http-method",
    "--header-map", "--tolerate-dangerous-framing",
}
_UVICORN_OPTS = {
    "--host": "host", "--port": "port", "--uds": "uds", "--fd": "fd", "--workers": "workers", "--backlog": "backlog",
    "--limit-max-requests": "max_requests", "--timeout-keep-alive": "keepalive",
    "--timeout-graceful-shutdown": "graceful_timeout", "--app-dir": "chdir", "--env-file": "env_file",
}
_UVICORN_FLAGS = {
    "--reload", "--factory", "--access-log", "--no-access-log", "--use-colors", "--no-use-colors", "--proxy-headers",
    "--no-proxy-headers", "--server-header", "--no-server-header", "--date-header", "--no-date-header", "--version",
    "--help",
}
_HYPERCORN_OPTS = {
    "-b": "bind", "--bind": "bind", "--insecure-bind": "bind", "-w": "workers", "--workers": "workers",
    "-k": "worker_class", "--worker-class": "worker_class", "--keep-alive": "keepalive",
    "--graceful-timeout": "graceful_timeout", "--backlog": "backlog", "-c": "config", "--config": "config",
    "--max-requests": "max_requests",
}
_HYPERCORN_FLAGS = {"--reload", "--debug", "--help", "-h", "--version", "--verify-mode"}
_DAPHNE_OPTS = {
    "-b": "host", "--bind": "host", "-p": "port", "--port": "port", "-u": "uds", "--unix-socket": "uds",
    "--fd": "fd", "-e": "endpoint", "--endpoint": "endpoint", "--http-timeout": "timeout",
}
_DAPHNE_FLAGS = {"--proxy-headers", "--no-server-name", "--help", "-h", "--version", "-s"}
_UWSGI_OPTS = {
    "-s": "socket", "--socket": "socket", "--uwsgi-socket": "socket", "--http-socket": "http_socket",
    "--http": "http", "--fastcgi-socket": "fastcgi_socket", "-p": "workers", "--processes": "workers",
    "--workers": "workers", "--harakiri": "timeout", "-l": "backlog", "--listen": "backlog",
    "--max-requests": "max_requests", "-w": "app", "--module": "app", "--wsgi-file": "app", "--ini": "ini",
    "--chdir": "chdir",
}
_OPTS = {"gunicorn": (_GUNICORN_OPTS, _GUNICORN_FLAGS), "uvicorn": (_UVICORN_OPTS, _UVICORN_FLAGS),
         "hypercorn": (_HYPERCORN_OPTS, _HYPERCORN_FLAGS), "daphne": (_DAPHNE_OPTS, _DAPHNE_FLAGS),
         "uwsgi": (_UWSGI_OPTS, set())}
_SECRET_OPTS = {"gunicorn": {"-e", "--env"}, "uwsgi": {"--env", "--set"}, "hypercorn": set(), "uvicorn": set(),
                "daphne": set()}
_LIST_KEYS = {"bind", "socket", "http_socket", "http", "fastcgi_socket", "endpoint"}
_APP_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(?:\(.*\))?$")
_SECRETISH = re.compile(r"(?i)(passw|secret|token|api[_-]?key|credential|private)")


def _err(errors, source, path, message):
    errors.append({"source": source, "path": path, "message": message})


# --------------------------------------------------------------------------- command lines

def _base(path):
    return os.path.basename(path or "")


def _norm_prog(name):
    """``gunicorn3`` -> gunicorn, ``uwsgi_python3`` -> uwsgi, ``php-fpm8.2`` -> php-fpm."""
    name = name.lower()
    if name.startswith("php-fpm") or name.startswith("php") and "fpm" in name:
        return "php-fpm"
    for k in _PY_NAMES:
        if name == k or (name.startswith(k) and not name[len(k):].isalpha()):
            return k
    return None


def detect_kind(argv, _depth=0):
    """Return (kind, args) for an app server command line (also through sh -c, env, python -m, poetry run ...)."""
    if not argv or _depth > 4:
        return None, []
    first = argv[0]
    if first.startswith("gunicorn: ") or first.startswith("[gunicorn") or first.startswith("gunicorn:"):
        return "gunicorn", []  # setproctitle'd master/worker
    if first.startswith("php-fpm: "):
        return "php-fpm", argv
    if first.startswith("uWSGI ") or first.startswith("uwsgi "):
        return "uwsgi", []
    prog = _base(first)
    kind = _norm_prog(prog)
    if kind:
        return kind, argv[1:]
    low = prog.lower()
    rest = argv[1:]
    if low == "env":
        while rest and (("=" in rest[0] and not rest[0].startswith("-")) or rest[0] in ("-i", "-", "-u", "-S")):
            rest = rest[2:] if rest[0] in ("-u",) else rest[1:]
        return detect_kind(rest, _depth + 1)
    if low in ("sh", "bash", "dash", "zsh") and "-c" in rest:
        idx = rest.index("-c")
        if idx + 1 < len(rest):
            try:
                inner = shlex.split(rest[idx + 1])
            except ValueError:
                inner = rest[idx + 1].split()
            while inner and inner[0] in ("exec", "nohup"):
                inner = inner[1:]
            while inner and "=" in inner[0] and not inner[0].startswith("-"):
                inner = inner[1:]
            return detect_kind(inner, _depth + 1)
        return None, []
    if low in ("poetry", "pipenv", "uv", "pdm", "hatch", "rye") and "run" in rest:
        return detect_kind(rest[rest.index("run") + 1:], _depth + 1)
    if low.startswith("python") or low in ("pypy", "pypy3"):
        i = 0
        while i < len(rest):
            a = rest[i]
            if a == "-m" and i + 1 < len(rest):
                mod = rest[i + 1].split(".")[0]
                k = _norm_prog(mod)
                return (k, rest[i + 2:]) if k in _PY_NAMES else (None, [])
            if a.startswith("-m") and len(a) > 2:
                k = _norm_prog(a[2:].split(".")[0])
                return (k, rest[i + 1:]) if k in _PY_NAMES else (None, [])
            if a in ("-X", "-W", "-Q"):
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            k = _norm_prog(_base(a))
            if k in _PY_NAMES:
                return k, rest[i + 1:]
            return None, []
    return None, []


def parse_args(kind, args):
    """Parse app server args -> (settings {key: value|list}, positionals [str])."""
    opts, flags = _OPTS.get(kind, ({}, set()))
    settings = {}
    positionals = []
    unknown_values = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a == "--":
            positionals.extend(args[i:])
            break
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            inline = bool(eq)            # --bind= gives an empty value, --bind takes the next argument
        elif a.startswith("-") and len(a) > 1:
            name = a[:2]
            if name in flags and len(a) == 2:
                continue
            val = a[2:]
            if val.startswith("="):
                val = val[1:]
            inline = bool(val)           # -b=X and -bX carry it; -b and -b= take the next argument
        else:
            positionals.append(a)
            continue
        if not inline:
            if name in flags or (name not in opts and (i >= n or args[i].startswith("-"))):
                continue
            if i >= n:
                continue
            val = args[i]
            i += 1
        key = opts.get(name)
        if key is None:
            unknown_values.append(val)
            continue
        if key in _LIST_KEYS or key == "env":
            settings.setdefault(key, []).append(val)
        else:
            settings[key] = val
    if not positionals:
        positionals = [v for v in unknown_values if _APP_RE.match(v)][:1]
    return settings, positionals


def mask_argv(kind, argv):
    """argv with the values of --env/-e (and KEY=VALUE args with secret-looking keys) masked."""
    secret_opts = _SECRET_OPTS.get(kind, set())
    out = []
    mask_next = False
    for a in argv or []:
        if mask_next:
            k, sep, _v = a.partition("=")
            out.append(k + "=" + MASK if sep else MASK)
            mask_next = False
            continue
        name, eq, val = a.partition("=")
        if a in secret_opts:
            out.append(a)
            mask_next = True
            continue
        if eq and name in secret_opts:
            k, sep, _v = val.partition("=")
            out.append(name + "=" + (k + "=" + MASK if sep else MASK))
            continue
        if len(a) > 2 and a[:2] in secret_opts and a[:2] != a and not a.startswith("--"):
            out.append(a[:2] + MASK)
            continue
        if eq and _SECRETISH.search(name):
            out.append(name + "=" + MASK)
            continue
        if "://" in a and "@" in a:
            a = re.sub(r"(://[^:/@\s]*:)[^@/\s]+@", r"\1" + MASK + "@", a)
        out.append(a)
    return out


# --------------------------------------------------------------------------- endpoints

def _ip_family(host):
    try:
        return "inet6" if ipaddress.ip_address(host).version == 6 else "inet"
    except ValueError:
        return None


def _resolve(host, port):
    result = []
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, getattr(socket, "AI_ADDRCONFIG", 0))
    except (OSError, UnicodeError):
        return result
    for info in infos:
        fam = "inet" if info[0] == socket.AF_INET else "inet6" if info[0] == getattr(socket, "AF_INET6", None) else None
        if fam:
            entry = {"family": fam, "address": info[4][0].split("%", 1)[0]}
            if entry not in result:
                result.append(entry)
    return result


def tcp_endpoint(host, port, protocol="http"):
    if host in ("", "*"):
        host = "0.0.0.0"
    fam = _ip_family(host)
    if fam:
        host = str(ipaddress.ip_address(host))
        addresses = [{"family": fam, "address": host}]
    else:
        addresses = _resolve(host, port)
    return {"kind": "tcp", "host": host, "port": port, "family": fam or "name", "addresses": addresses, "protocol": protocol}


def unix_endpoint(path, protocol="http"):
    while path.startswith("//"):
        path = path[1:]
    return {"kind": "unix", "path": path, "protocol": protocol}


def fd_endpoint(fd, protocol="http"):
    try:
        fd = int(fd)
    except (TypeError, ValueError):
        pass
    return {"kind": "fd", "fd": fd, "protocol": protocol}


def _to_port(text):
    try:
        port = int(text)
    except (TypeError, ValueError):
        return None
    return port if 0 <= port <= 65535 else None


def parse_host_port(text, default_port=8000, protocol="http"):
    """``host:port`` / ``[v6]:port`` / ``host`` / ``:port`` / ``port`` -> tcp Endpoint (None if invalid)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        port = _to_port(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") > 1:
        host, port = text, default_port  # bare IPv6
    elif ":" in text:
        host, _sep, p = text.rpartition(":")
        port = _to_port(p)
    elif text.isdigit():
        host, port = "0.0.0.0", _to_port(text)
    else:
        host, port = text, default_port
    if port is None:
        return None
    return tcp_endpoint(host, port, protocol)


def parse_gunicorn_bind(addr, protocol="http"):
    """A gunicorn/hypercorn bind: ``unix:/p``, ``fd://3``, ``host:port``, ``[::1]:8000``, ``host``."""
    if addr.startswith("unix:"):
        return unix_endpoint(addr[5:], protocol)
    if addr.startswith("fd://"):
        return fd_endpoint(addr[5:], protocol)
    return parse_host_port(addr, 8000, protocol)


def parse_twisted_endpoint(text):
    """daphne ``-e unix:/run/x.sock`` / ``tcp:port=8000:interface=127.0.0.1`` / ``fd:fileno=3``."""
    kind, _sep, rest = text.partition(":")
    params = {}
    positional = []
    for part in rest.split(":"):
        k, eq, v = part.partition("=")
        if eq:
            params[k] = v
        elif part:
            positional.append(part)
    if kind == "unix":
        path = params.get("address") or (positional[0] if positional else rest)
        return unix_endpoint(path)
    if kind in ("tcp", "tcp6", "ssl"):
        port = _to_port(params.get("port") or (positional[0] if positional else None))
        if port is None:
            return None
        return tcp_endpoint(params.get("interface", "::" if kind == "tcp6" else "0.0.0.0").replace("\\:", ":"), port)
    if kind == "fd":
        return fd_endpoint(params.get("fileno") or (positional[0] if positional else None))
    return None


# --------------------------------------------------------------------------- gunicorn config (ast, never executed)

def read_gunicorn_config(path):
    """Read module-level ``name = <literal>`` assignments of a gunicorn config with ast.

    Returns (values {setting: value|None}, keys [all assigned names], error|None). Values are
    returned only for the settings in GUNICORN_CONFIG_SETTINGS (None when not a literal); the code
    is never executed and other values are dropped.
    """
    try:
        with open(path, "rb") as f:
            source = f.read(1024 * 1024)
    except OSError as exc:
        return {}, [], "Cannot read gunicorn config %s: %s." % (path, exc.strerror or exc)
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        return {}, [], "Cannot parse gunicorn config %s: %s." % (path, getattr(exc, "msg", None) or exc)
    values = {}
    keys = []
    for node in tree.body:
        targets = []
        value = None
        if isinstance(node, ast.Assign):
            targets = node.targets
            value = node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
            value = node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
            value = None
        for t in targets:
            names = [t] if isinstance(t, ast.Name) else [e for e in getattr(t, "elts", []) if isinstance(e, ast.Name)]
            for nm in names:
                if nm.id not in keys:
                    keys.append(nm.id)
                if nm.id in GUNICORN_CONFIG_SETTINGS:
                    lit = None
                    if value is not None and isinstance(t, ast.Name):
                        try:
                            lit = ast.literal_eval(value)
                        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                            lit = None
                    values[nm.id] = _safe_literal(nm.id, lit)
    return values, keys, None


def _safe_literal(name, value):
    if name == "bind":
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    if name in ("worker_class", "wsgi_app"):
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


# --------------------------------------------------------------------------- env files / users

def _user_ids(user, group=None):
    """(uid, gids set) for a unit's User= / Group= (root when empty). None when unknown."""
    if not user:
        uid, gids = 0, {0}
    else:
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except (KeyError, ValueError):
            return None
        uid = pw.pw_uid
        gids = {pw.pw_gid}
        try:
            gids.update(g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem)
        except OSError:
            pass
    if group:
        try:
            gids.add(grp.getgrnam(group).gr_gid if not group.isdigit() else int(group))
        except (KeyError, ValueError):
            pass
    return uid, gids


def _may(st, ids, bit_user, bit_group, bit_other):
    uid, gids = ids
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & bit_user)
    if st.st_gid in gids:
        return bool(st.st_mode & bit_group)
    return bool(st.st_mode & bit_other)


def readable_by(path, user, group=None):
    """Can ``user`` read ``path`` (search every parent dir, read the file)? None when unknown.

    systemd reads EnvironmentFile= as root before dropping privileges, so this answers whether
    the app itself could read it (relevant for apps that load the file themselves)."""
    ids = _user_ids(user, group)
    if ids is None:
        return None
    if ids[0] == 0:
        return os.path.exists(path)
    parts = os.path.abspath(path).split("/")
    cur = "/"
    try:
        for comp in parts[1:-1]:
            cur = os.path.join(cur, comp)
            if not _may(os.stat(cur), ids, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
                return False
        return _may(os.stat(path), ids, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)
    except OSError:
        return None


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")


def env_file_keys(path, want=("GUNICORN_CMD_ARGS",)):
    """(keys [str], wanted {key: value}, error|None). Only the keys in ``want`` keep their value (internal use)."""
    keys = []
    wanted = {}
    try:
        with open(path, "rb") as f:
            text = f.read(1024 * 1024).decode("utf-8", "replace")
    except OSError as exc:
        return [], {}, exc.strerror or str(exc)
    for line in text.splitlines():
        m = _ENV_LINE.match(line)
        if not m:
            continue
        key = m.group(1)
        if key not in keys:
            keys.append(key)
        if key in want:
            raw = line[m.end():].strip()
            try:
                parts = shlex.split(raw)
                wanted[key] = parts[0] if len(parts) == 1 else " ".join(parts)
            except ValueError:
                wanted[key] = raw.strip("\"'")
    return keys, wanted, None


def read_proc_env_key(pid, key):
    """The value of one environment variable of a process (only that key is kept), or None."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    prefix = key.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode("utf-8", "replace")
    return None


# --------------------------------------------------------------------------- processes

def _process_table(errors):
    procs = {}
    try:
        own_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        own_ns = None
    btime = _proc.boot_time() if _proc else None
    pids = _proc.list_pids() if _proc else sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    for pid in pids:
        try:
            info = _proc.process_info(pid, btime=btime) if _proc else _mini_process_info(pid)
        except Exception:  # pylint: disable=broad-except
            info = None
        if not info or not info.get("cmdline"):
            continue
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
            info["ppid"] = int(st[st.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            info["ppid"] = None
        if own_ns and info.get("unit"):
            # a process of a container (another pid namespace) belongs to that container's systemd, not ours
            try:
                if os.readlink("/proc/%d/ns/pid" % pid) != own_ns:
                    info["unit"] = None
            except OSError:
                pass
        procs[pid] = info
    return procs


def _mini_process_info(pid):  # pragma: no cover - used only if _proc is missing
    base = "/proc/%d" % pid
    try:
        with open(base + "/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").decode("utf-8", "replace").split("\0")
    except OSError:
        return None
    return {"pid": pid, "name": None, "cmdline": argv, "uid": None, "user": None, "unit": None, "start_time": None}


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
        kind, args = kinds[pid]
        # walk up to the topmost ancestor of the same kind
        top = pid
        seen = set()
        while True:
            ppid = procs.get(top, {}).get("ppid")
            if ppid in kinds and kinds[ppid][0] == kind and ppid not in seen:
                seen.add(top)
                top = ppid
                continue
            # uvicorn --workers / multiprocessing children: python -c "from multiprocessing..." under a uvicorn master
            break
        g = groups.setdefault(top, {"kind": kinds[top][0], "pids": [top], "info": procs[top], "args": kinds[top][1]})
        if pid != top:
            g["pids"].append(pid)
    # multiprocessing spawn children (uvicorn --workers N) are not detected by cmdline: attach by parent
    for pid, info in procs.items():
        ppid = info.get("ppid")
        if ppid in groups and pid not in groups[ppid]["pids"] and "multiprocessing" in " ".join(info.get("cmdline") or []):
            groups[ppid]["pids"].append(pid)
    return groups


# --------------------------------------------------------------------------- settings

def _num(value, as_int=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return int(v) if as_int else v


def _apply_settings(server, kind, layers, binds_override=None):
    """layers: [(source, {key: raw})] lowest precedence first. Fills server settings + settings_source."""
    merged = {}
    source = {}
    for src, values in layers:
        for k, v in values.items():
            if v is None and src != "config":
                continue
            merged[k] = v
            source[k] = src
    defaults = DEFAULTS.get(kind, {})

    binds = []
    bind_src = None
    if kind in ("gunicorn", "hypercorn"):
        raw = merged.get("bind")
        if raw:
            for b in raw:
                ep = parse_gunicorn_bind(str(b))
                if ep:
                    binds.append(ep)
            bind_src = source.get("bind")
        elif "bind" in merged:  # non-literal in config
            bind_src = "config"
        else:
            binds = [tcp_endpoint("127.0.0.1", 8000)]
            bind_src = "default"
    elif kind == "uvicorn":
        if merged.get("uds"):
            binds = [unix_endpoint(merged["uds"])]
            bind_src = source["uds"]
        elif merged.get("fd"):
            binds = [fd_endpoint(merged["fd"])]
            bind_src = source["fd"]
        else:
            port = _to_port(merged.get("port", 8000))
            binds = [tcp_endpoint(merged.get("host", "127.0.0.1"), port if port is not None else 8000)]
            bind_src = source.get("host") or source.get("port") or "default"
    elif kind == "daphne":
        for e in merged.get("endpoint") or []:
            ep = parse_twisted_endpoint(e)
            if ep:
                binds.append(ep)
        if merged.get("uds"):
            binds.append(unix_endpoint(merged["uds"]))
        if merged.get("fd"):
            binds.append(fd_endpoint(merged["fd"]))
        if merged.get("host") or merged.get("port") or not binds:
            port = _to_port(merged.get("port", 8000))
            binds.append(tcp_endpoint(merged.get("host", "127.0.0.1"), port if port is not None else 8000))
        bind_src = "cmdline" if any(k in merged for k in ("endpoint", "uds", "fd", "host", "port")) else "default"
    elif kind == "uwsgi":
        for key, proto in (("socket", "uwsgi"), ("http_socket", "http"), ("http", "http"), ("fastcgi_socket", "fastcgi")):
            for b in merged.get(key) or []:
                b = str(b)
                ep = unix_endpoint(b, proto) if b.startswith("/") or b.startswith("@") else \
                    parse_gunicorn_bind(b, proto) if b.startswith("unix:") else parse_host_port(b, 0, proto)
                if ep:
                    binds.append(ep)
        bind_src = next((source[k] for k in ("socket", "http_socket", "http", "fastcgi_socket") if k in source), None)
    if binds_override is not None:
        binds, bind_src = binds_override
    server["binds"] = binds
    if bind_src:
        source["bind"] = bind_src
    for key in ("endpoint", "uds", "fd", "host", "port", "socket", "http_socket", "http", "fastcgi_socket", "env", "chdir",
                "config", "ini", "env_file"):
        source.pop(key, None)
    server["settings_source"] = source

    def pick(key, as_int=False):
        if key in merged:
            return _num(merged[key], as_int) if merged[key] is not None else None
        if key in defaults:
            source[key] = "default"
            return _num(defaults[key], as_int)
        return None

    server["timeout"] = pick("timeout")
    server["graceful_timeout"] = pick("graceful_timeout")
    server["keepalive"] = pick("keepalive")
    server["workers"] = pick("workers", True)
    server["max_requests"] = pick("max_requests", True)
    server["backlog"] = pick("backlog", True)
    wc = merged.get("worker_class")
    if wc is None and "worker_class" in defaults:
        wc = defaults["worker_class"]
        source["worker_class"] = "default"
    server["worker_class"] = _worker_class(wc) if isinstance(wc, str) else None
    app = merged.get("app")
    server["app"] = app if isinstance(app, str) else None


def _worker_class(value):
    aliases = {"sync": "sync", "eventlet": "eventlet", "gevent": "gevent", "tornado": "tornado", "gthread": "gthread"}
    return aliases.get(value, value)


def _parse_gunicorn_cmd_args(value):
    try:
        argv = shlex.split(value)
    except ValueError:
        argv = value.split()
    settings, positionals = parse_args("gunicorn", argv)
    if positionals:
        settings["app"] = positionals[0]
    return settings


def _uwsgi_ini(path, errors):
    """Read [uwsgi] socket/http/processes/harakiri/listen/module keys from an ini file (values of those keys only)."""
    cp = configparser.RawConfigParser(strict=False, delimiters=("=", ":"), interpolation=None)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            cp.read_file(f)
    except (OSError, configparser.Error) as exc:
        _err(errors, "app_config", path, "Cannot read uWSGI ini %s: %s." % (path, exc))
        return {}
    if not cp.has_section("uwsgi"):
        return {}
    out = {}
    keymap = {"socket": "socket", "uwsgi-socket": "socket", "http-socket": "http_socket", "http": "http",
              "fastcgi-socket": "fastcgi_socket", "processes": "workers", "workers": "workers", "harakiri": "timeout",
              "listen": "backlog", "max-requests": "max_requests", "module": "app", "wsgi-file": "app"}
    for k, v in cp.items("uwsgi"):
        key = keymap.get(k)
        if not key:
            continue
        v = v.strip().strip("\"'")
        if key in _LIST_KEYS:
            out.setdefault(key, []).append(v)
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- php-fpm

def php_fpm_pools(conf_path=None):
    """[{name, file, listen, owner, group, mode, user, pm_max_children, request_terminate_timeout}] of the pool files."""
    files = []
    if conf_path:
        d = os.path.dirname(conf_path)
        files = sorted(glob.glob(os.path.join(d, "pool.d", "*.conf")))
        try:
            with open(conf_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = re.match(r"^\s*include\s*=\s*(\S+)", line)
                    if m:
                        pattern = m.group(1)
                        if not pattern.startswith("/"):
                            pattern = os.path.join(d, pattern)
                        for p in sorted(glob.glob(pattern)):
                            if p not in files:
                                files.append(p)
        except OSError:
            pass
    if not files:
        files = sorted(glob.glob("/etc/php/*/fpm/pool.d/*.conf")) + sorted(glob.glob("/etc/php-fpm.d/*.conf"))
    pools = []
    for path in files:
        pools.extend(parse_fpm_pool_file(path))
    return pools


def parse_fpm_pool_file(path):
    pools = []
    cur = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return pools
    for line in lines:
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
        if not sep:
            continue
        key, value = key.strip(), value.strip().strip("\"'")
        field = {"listen": "listen", "listen.owner": "owner", "listen.group": "group", "listen.mode": "mode",
                 "user": "user", "group": "unix_group", "pm.max_children": "pm_max_children",
                 "request_terminate_timeout": "request_terminate_timeout"}.get(key)
        if field:
            cur[field] = value
    for p in pools:
        # php-fpm defaults: socket owned by the pool's user/group, mode 0660
        if p["owner"] is None:
            p["owner"] = p["user"]
        if p["group"] is None:
            p["group"] = p["unix_group"]
        if p["mode"] is None:
            p["mode"] = "0660"
    return pools


def _fpm_endpoint(listen):
    if not listen:
        return None
    if listen.startswith("/"):
        return unix_endpoint(listen, "fastcgi")
    return parse_host_port(listen, 9000, "fastcgi")


# --------------------------------------------------------------------------- units

SHOW_DISCOVER = ("Id", "ExecStart", "MainPID", "TriggeredBy", "LoadState")
# Words a unit file of an app server contains (its ExecStart); lower-case, as the programs are named.
UNIT_KEYWORDS = ("gunicorn", "uvicorn", "uwsgi", "hypercorn", "daphne", "php-fpm", "php-cgi", "fpm")


def _unit_kind(props):
    for ex in sd.parse_exec(props.get("ExecStart")):
        kind, _args = detect_kind(ex["argv"] or ([ex["path"]] if ex["path"] else []))
        if kind:
            return kind, ex
    return None, None


def discover_app_units(errors, procs=None):
    """Service units that run an app server (by ExecStart), including stopped and failed ones."""
    ok, why = sd.systemd_running()
    if not ok:
        _err(errors, "systemctl", None, "Units were not listed: %s." % why)
        return []
    # Candidates: units whose files mention an app server. systemd then confirms by ExecStart.
    names = sd.scan_unit_files(UNIT_KEYWORDS, errors=errors)
    if not names:
        return []
    info = sd.show(names, SHOW_DISCOVER, errors)
    units = [n for n, p in info.items() if _unit_kind(p)[0]]
    return units


def _unit_settings(props, errors):
    execs = sd.parse_exec(props.get("ExecStart"))
    ex = execs[0] if execs else {"path": None, "argv": []}
    user = props.get("User") or None
    group = props.get("Group") or None
    wd = props.get("WorkingDirectory") or None
    wd_path = wd.lstrip("-!") if wd else None
    if wd_path == "~":
        wd_path = _home(user)
    env_files = []
    env_wanted = {}
    for ef in sd.parse_environment_files(props.get("EnvironmentFiles")):
        path = ef["path"]
        exists = os.path.exists(path)
        entry = {"path": path, "optional": ef["optional"], "exists": exists,
                 "readable_by_user": readable_by(path, user, group) if exists else False, "keys": []}
        if exists:
            keys, wanted, problem = env_file_keys(path)
            entry["keys"] = keys
            env_wanted.update(wanted)
            if problem:
                _err(errors, "env_file", path, "Cannot read EnvironmentFile %s: %s." % (path, problem))
        env_files.append(entry)
    exec_bin = ex.get("path")
    exec_ok = None
    if exec_bin:
        try:
            st = os.stat(exec_bin)
            exec_ok = stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)
        except OSError:
            exec_ok = False
    settings = {
        "_argv": ex.get("argv") or [],
        "fragment_path": props.get("FragmentPath") or None,
        "dropin_paths": sd.split_list(" ".join(props.get("DropInPaths") or [])),
        "user": user,
        "group": group,
        "working_directory": wd_path,
        "working_directory_exists": os.path.isdir(wd_path) if wd_path else None,
        "environment_files": env_files,
        "exec_start": mask_argv(detect_kind(ex.get("argv") or [])[0], ex.get("argv") or []),
        "exec_binary": exec_bin,
        "exec_binary_ok": exec_ok,
        "runtime_directory": sd.split_list(props.get("RuntimeDirectory")),
        "runtime_directory_mode": sd.to_mode(props.get("RuntimeDirectoryMode")),
        "private_tmp": bool(sd.to_bool(props.get("PrivateTmp"))),
        "umask": sd.to_mode(props.get("UMask")),
        "restart": props.get("Restart") or None,
        "memory_max": sd.to_size(props.get("MemoryMax")),
        "requires": sd.split_list(props.get("Requires")),
        "after": sd.split_list(props.get("After")),
    }
    env = sd.parse_environment(props.get("Environment"))
    return settings, env, env_wanted


def _home(user):
    try:
        return pwd.getpwnam(user or "root").pw_dir
    except KeyError:
        return None


# --------------------------------------------------------------------------- main

def _new_server(kind, name, unit):
    return {
        "kind": kind, "name": name, "unit": unit, "pids": [], "running": False, "cmdline": None,
        "worker_class": None, "binds": [], "timeout": None, "graceful_timeout": None, "keepalive": None,
        "workers": None, "max_requests": None, "backlog": None, "app": None, "config_file": None,
        "settings_source": {}, "socket_unit": None, "php_fpm_pool": None, "unit_settings": None, "state": None,
    }


def _cwd(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None


def collect_apps(extra_units=None):
    """Collect the ``apps`` facts section. Never raises for host state problems."""
    errors = []
    servers = []
    try:
        _collect(servers, errors, list(extra_units or []))
    except Exception as exc:  # pylint: disable=broad-except
        _err(errors, "apps", None, "Unexpected failure while collecting app servers: %s: %s." % (type(exc).__name__, exc))
    return {"servers": servers, "errors": errors}


def _collect(servers, errors, extra_units):
    try:
        procs = _process_table(errors)
    except OSError as exc:
        procs = {}
        _err(errors, "proc", "/proc", "Cannot read the process table: %s." % exc)
    if os.geteuid() != 0:
        _err(errors, "proc", "/proc", "Not running as root: other users' process environments, working directories "
                                      "and unreadable files are not inspected.")
    groups = find_processes(procs)

    have_systemd, why = sd.systemd_running()
    unit_props = {}
    socket_props = {}
    if have_systemd:
        # Candidates: units whose files mention an app server (read from disk: asking systemd to
        # enumerate every unit costs PID 1 far more); systemd then confirms each by its ExecStart.
        names = sd.scan_unit_files(UNIT_KEYWORDS, errors=errors)
        for u in extra_units:
            if u.endswith(".service") and u not in names:
                names.append(u)
        # units of running app server processes (wrapper scripts in ExecStart)
        proc_units = {g["info"].get("unit") for g in groups.values() if (g["info"].get("unit") or "").endswith(".service")}
        for u in sorted(proc_units):
            if u not in names:
                names.append(u)
        disc = sd.show(names, SHOW_DISCOVER, errors)
        selected = [n for n, p in disc.items() if _unit_kind(p)[0] or n in proc_units or n in extra_units]
        unit_props = sd.show(selected, sd.SERVICE_PROPS, errors)
        sockets = []
        for n in selected:
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
        socket_props = {k: v for k, v in sd.show(sockets, sd.SOCKET_PROPS, errors).items()
                        if v.get("LoadState") == "loaded"}
    else:
        _err(errors, "systemctl", None, "No unit settings or states: %s." % why)

    by_unit = {}
    for master, g in sorted(groups.items()):
        unit = g["info"].get("unit")
        if unit and not unit.endswith(".service"):
            unit = None
        if unit and unit in by_unit:
            by_unit[unit]["pids"].extend(p for p in g["pids"] if p not in by_unit[unit]["pids"])
            continue
        srv = _new_server(g["kind"], unit or "%s:%d" % (g["kind"], master), unit)
        srv["pids"] = list(g["pids"])
        srv["running"] = True
        srv["_proc"] = g
        servers.append(srv)
        if unit:
            by_unit[unit] = srv
    for unit, props in unit_props.items():
        if unit in by_unit:
            continue
        if props.get("LoadState") == "not-found" and unit not in extra_units:
            continue
        kind, _ex = _unit_kind(props)
        srv = _new_server(kind or "gunicorn", unit, unit)
        if kind is None:
            srv["kind"] = None
        servers.append(srv)
        by_unit[unit] = srv

    final = []
    for srv in servers:
        try:
            final.extend(_describe(srv, unit_props, socket_props, errors, have_systemd))
        except Exception as exc:  # pylint: disable=broad-except
            srv.pop("_proc", None)
            _err(errors, "apps", None, "Could not describe %s: %s: %s." % (srv["name"], type(exc).__name__, exc))
            final.append(srv)
    servers[:] = final
    seen = set()
    unique = []
    for e in errors:
        key = (e["source"], e["path"], e["message"])
        if key not in seen:
            seen.add(key)
            unique.append(e)
    errors[:] = unique


def _describe(srv, unit_props, socket_props, errors, have_systemd):
    try:
        return _describe_inner(srv, unit_props, socket_props, errors, have_systemd)
    finally:
        for s in [srv]:
            if s.get("unit_settings"):
                s["unit_settings"].pop("_argv", None)


def _describe_inner(srv, unit_props, socket_props, errors, have_systemd):
    g = srv.pop("_proc", None)
    unit = srv["unit"]
    props = unit_props.get(unit) if unit else None
    env = {}
    env_wanted = {}
    if props:
        srv["unit_settings"], env, env_wanted = _unit_settings(props, errors)
        srv["state"] = sd.state_from_show(props)
        if props.get("LoadState") == "not-found":
            _err(errors, "systemctl", None, "Unit %s is not loaded (LoadState=not-found)." % unit)
    elif unit and have_systemd:
        _err(errors, "systemctl", None, "No systemctl show data for unit %s." % unit)

    # argv: the running master's cmdline, else the unit's ExecStart
    argv = None
    kind = srv["kind"]
    args = []
    if g is not None:
        argv = list(g["info"].get("cmdline") or [])
        args = g["args"]
        if kind == "gunicorn" and not args and srv["unit_settings"]:
            # setproctitle hides the args: use ExecStart
            k2, a2 = detect_kind(srv["unit_settings"]["_argv"])
            if k2 == kind:
                argv, args = srv["unit_settings"]["_argv"], a2
    elif srv["unit_settings"]:
        argv = srv["unit_settings"]["_argv"]
        k2, args = detect_kind(argv)
        kind = kind or k2
    srv["kind"] = kind
    srv["cmdline"] = mask_argv(kind, argv) if argv is not None else None

    if kind == "php-fpm":
        return _describe_fpm(srv, g, argv, errors)
    if kind is None:
        return [srv]

    settings, positionals = parse_args(kind, args)
    if positionals and kind in ("gunicorn", "uvicorn", "hypercorn", "daphne"):
        settings["app"] = positionals[0]
    layers = []
    workdir = None
    if srv["unit_settings"]:
        workdir = srv["unit_settings"]["working_directory"]
    if g is not None:
        workdir = _cwd(g["pids"][0]) or workdir
    if settings.get("chdir"):
        workdir = settings["chdir"] if os.path.isabs(settings["chdir"]) else os.path.join(workdir or "/", settings["chdir"])

    if kind == "gunicorn":
        cmd_env = None
        if g is not None:
            cmd_env = read_proc_env_key(g["pids"][0], "GUNICORN_CMD_ARGS")
        if cmd_env is None:
            cmd_env = env.get("GUNICORN_CMD_ARGS") or env_wanted.get("GUNICORN_CMD_ARGS")
        env_settings = _parse_gunicorn_cmd_args(cmd_env) if cmd_env else {}
        env_settings.pop("env", None)
        # config file: -c (cmdline) > -c in GUNICORN_CMD_ARGS > ./gunicorn.conf.py
        cfg = settings.get("config") or env_settings.get("config")
        explicit = bool(cfg)
        if cfg and cfg.startswith("python:"):
            srv["config_file"] = {"path": None, "exists": None, "keys": [], "module": cfg[len("python:"):]}
            cfg = None
        elif cfg and not os.path.isabs(cfg):
            cfg = os.path.join(workdir or "/", cfg)
        elif not cfg and workdir:
            cfg = os.path.join(workdir, "gunicorn.conf.py")
        if cfg:
            exists = os.path.isfile(cfg)
            if exists or explicit:
                values, keys, problem = read_gunicorn_config(cfg) if exists else ({}, [], None)
                if problem:
                    _err(errors, "app_config", cfg, problem)
                srv["config_file"] = {"path": cfg, "exists": exists, "keys": keys}
                layers.append(("config", {GUNICORN_CONFIG_SETTINGS[k]: v for k, v in values.items()}))
            if explicit and not exists:
                _err(errors, "app_config", cfg, "gunicorn config file %s does not exist." % cfg)
        layers.append(("env", {k: v for k, v in env_settings.items() if k != "config"}))
    elif kind == "hypercorn" and settings.get("config"):
        cfg = settings["config"]
        srv["config_file"] = {"path": cfg, "exists": os.path.isfile(cfg) if not cfg.startswith(("python:", "file:")) else None,
                              "keys": []}
    elif kind == "uwsgi" and settings.get("ini"):
        ini = settings["ini"]
        if not os.path.isabs(ini):
            ini = os.path.join(workdir or "/", ini)
        exists = os.path.isfile(ini)
        srv["config_file"] = {"path": ini, "exists": exists, "keys": []}
        if exists:
            layers.append(("config", _uwsgi_ini(ini, errors)))
    layers.append(("cmdline", {k: v for k, v in settings.items() if k not in ("config", "env", "ini")}))

    binds_override = None
    sock = _socket_unit(unit, props, socket_props)
    if sock:
        srv["socket_unit"] = sock
        if kind in ("gunicorn", "uvicorn", "hypercorn") and sock["listen_stream"]:
            # socket activation: the app server uses the inherited sockets, not --bind
            binds_override = ([unix_endpoint(a) if a.startswith("/") else parse_host_port(a, 0) for a in sock["listen_stream"]],
                              "socket_unit")
            binds_override = ([b for b in binds_override[0] if b], binds_override[1])
    _apply_settings(srv, kind, layers, binds_override)
    return [srv]


def _socket_unit(unit, props, socket_props):
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


_FPM_CONF = re.compile(r"\((/[^)]+)\)")


def _describe_fpm(srv, g, argv, errors):
    conf = None
    for a in argv or []:
        m = _FPM_CONF.search(a)
        if m:
            conf = m.group(1)
    if conf is None and argv:
        for opt in ("--fpm-config", "-y"):
            if opt in argv and argv.index(opt) + 1 < len(argv):
                conf = argv[argv.index(opt) + 1]
    srv["config_file"] = {"path": conf, "exists": os.path.isfile(conf), "keys": []} if conf else None
    pools = php_fpm_pools(conf)
    if not pools:
        _err(errors, "app_config", conf, "No PHP-FPM pool files found%s." % (" for %s" % conf if conf else ""))
        return [srv]
    out = []
    worker_pids = {}
    if g is not None:
        for pid in g["pids"][1:]:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    title = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            m = re.match(r"php-fpm: pool (\S+)", title)
            if m:
                worker_pids.setdefault(m.group(1), []).append(pid)
    for pool in pools:
        s = dict(srv)
        if len(pools) > 1:
            s["name"] = "%s:%s" % (srv["name"], pool["name"])
        ep = _fpm_endpoint(pool["listen"])
        s["binds"] = [ep] if ep else []
        s["pids"] = srv["pids"][:1] + worker_pids.get(pool["name"], []) if srv["pids"] else []
        s["php_fpm_pool"] = {"name": pool["name"], "file": pool["file"], "listen": pool["listen"], "owner": pool["owner"],
                             "group": pool["group"], "mode": pool["mode"]}
        s["workers"] = _num(pool["pm_max_children"], True)
        s["timeout"] = _num(pool["request_terminate_timeout"].rstrip("s")) if pool["request_terminate_timeout"] else None
        s["settings_source"] = {"bind": "config"}
        if s["workers"] is not None:
            s["settings_source"]["workers"] = "config"
        out.append(s)
    return out
