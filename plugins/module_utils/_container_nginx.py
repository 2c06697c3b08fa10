# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx running inside a container: its master process and its routes, read through ``/proc/<pid>/root``.

The host's nginx facts describe the nginx of the host. An nginx that runs in a container (Compose's
``nginx`` service in front of the app, the official image) reads its configuration from the
container's own filesystem and connects from the container's own network namespace: ``127.0.0.1``
there is the container's loopback, not the host's. This module finds such masters (a process whose
command line is ``nginx: master process ...`` below a container's init) and parses the configuration
they load, as the container sees it:

* the main file is the master's ``-c`` argument, else ``/etc/nginx/nginx.conf`` (Debian's and the
  official image's ``--conf-path``); every regular file under its directory is read (bounded in
  number and size) through ``/proc/<master>/root`` with symbolic links resolved inside the
  container's root (an absolute link target is the container's path, not the host's; every component is
  opened with ``O_NOFOLLOW`` relative to the directory before it, so a link swapped in by the container after
  it was looked at is refused, never followed to the host; a walk stops at the caps of files, bytes, entries
  looked at and time, and never covers the container's whole ``/``), and the
  parser (``nginx_parser``) runs on that ``{path: bytes}`` map, so ``include`` works as in the
  container; a file outside that directory that an ``include`` names is read too (one more pass);
* host names are not resolved (the container has its own resolver: Compose service names).

Public API: ``process_tree(proc)`` -> ``(ppid of every pid, nginx master pids)``, ``masters_below(pid, tree)``,
``container_nginx(master_pid, proc)`` -> the ``nginx`` entry of a container (never raises),
``read_in_root(root, path)`` / ``stat_in_root(root, path)`` / ``resolve_in_root(root, path)``: a container path
resolved inside its root.
"""
from __future__ import annotations

import os
import posixpath
import stat
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import is_master
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import UnsafeFile, read_bytes
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse

DEFAULT_CONF = "/etc/nginx/nginx.conf"
MAX_FILES = 300
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_LINKS = 40
MAX_ENTRIES = 5000          # files looked at by the walk of a configuration directory, read or not
MAX_WALK_SECONDS = 10.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_ROUTES = 200
ROUTE_KEYS = ("id", "server_names", "location", "directive", "protocol", "target", "upstream", "dynamic", "endpoints",
              "file", "line")


def process_tree(proc="/proc"):
    """``(parents, masters)``: ppid of every process, and the pids of nginx master processes (read with
    ``_proc``'s reader and parsers: regular files only, capped)."""
    parents, masters = {}, []
    for pid in _proc.list_pids(proc):
        base = os.path.join(proc, str(pid))
        try:
            text = _proc.read_text(os.path.join(base, "stat"))
        except OSError:
            continue
        ppid = _proc.parse_stat_ppid(text)
        if ppid is None:
            continue
        parents[pid] = ppid
        if "nginx" in text[:text.rindex(")")]:
            try:
                argv = _proc.parse_cmdline(_proc.read_bytes(os.path.join(base, "cmdline")))
            except OSError:
                continue
            if is_master(argv):
                masters.append(pid)
    return parents, sorted(masters)


def masters_below(pid, tree):
    """The nginx masters of ``tree`` (see :func:`process_tree`) that are ``pid`` or run below it."""
    parents, masters = tree
    out = []
    for m in masters:
        cur, hops = m, 0
        while cur and hops < 64:
            if cur == pid:
                out.append(m)
                break
            cur = parents.get(cur)
            hops += 1
    return out


def _conf_path(master, proc):
    try:
        words = " ".join(_proc.parse_cmdline(_proc.read_bytes(os.path.join(proc, str(master), "cmdline")))).split()
    except OSError:
        return DEFAULT_CONF
    for i, word in enumerate(words):
        if word == "-c" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("-c") and len(word) > 2:
            return word[2:]
    return DEFAULT_CONF


def _walk(root, path):
    """``(fd of the directory holding the last component, its name, the resolved container path)`` of the container
    path ``path`` under ``root`` (``/proc/<pid>/root``), or None when a component is missing or the links loop.

    Symbolic links are followed as the container would (an absolute target is inside the container), one component
    at a time: each directory is opened with ``O_NOFOLLOW`` relative to the one before (``dir_fd``), so a link
    swapped in after it was looked at is refused instead of followed to the host. The caller closes the fd."""
    try:
        fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]   # /proc/<pid>/root: followed on purpose
    except OSError:
        return None
    parts = [p for p in posixpath.normpath("/" + str(path)).split("/") if p]
    done = []
    hops = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                    done.pop()
                continue
            st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_LINKS:
                    return None
                target = os.readlink(part, dir_fd=fds[-1])
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            if not parts:
                return fds.pop(), part, "/" + "/".join(done + [part])
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
            done.append(part)
        return fds.pop(), ".", "/" + "/".join(done)
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)


def resolve_in_root(root, path):
    """The host path of the container path ``path`` under ``root`` (links resolved inside the container's root, see
    :func:`_walk`); None when a component is missing or the links loop. For messages: open with :func:`read_in_root`."""
    walked = _walk(root, path)
    if walked is None:
        return None
    os.close(walked[0])
    return root + walked[2] if walked[2] != "/" else root + "/"


def read_in_root(root, path, max_bytes=MAX_FILE_BYTES):
    """The bytes of the regular file at the container path ``path`` (``_safe_io`` checks, the last component not
    followed: it was resolved by :func:`_walk`); FileNotFoundError when it does not resolve."""
    walked = _walk(root, path)
    if walked is None:
        raise FileNotFoundError(2, "no such file in the container", path)
    fd, name, _resolved = walked
    try:
        return read_bytes("/proc/self/fd/%d/%s" % (fd, name), max_bytes=max_bytes, follow_symlinks=False)
    except UnsafeFile as exc:
        exc.path = exc.filename = path      # the container's path, not the descriptor's
        raise
    finally:
        os.close(fd)


def stat_in_root(root, path):
    """``os.stat_result`` of the container path ``path`` (links resolved inside the root, the last one not followed)."""
    walked = _walk(root, path)
    if walked is None:
        raise FileNotFoundError(2, "no such file in the container", path)
    fd, name, _resolved = walked
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


class _Reader:
    """Reads container paths into ``files`` within the caps; records what it could not read."""

    def __init__(self, root):
        self.root = root
        self.files = {}
        self.total = 0
        self.problems = []
        self.stops = []             # why a walk stopped early (always reported)
        self.entries = 0
        self.started = time.monotonic()

    def full(self):
        return len(self.files) >= MAX_FILES or self.total >= MAX_TOTAL_BYTES

    def read(self, path):
        if path in self.files or self.full():
            return
        try:
            data = read_in_root(self.root, path, MAX_FILE_BYTES)
        except (UnsafeFile, OSError) as exc:
            if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
                return
            self.problems.append(str(exc) if isinstance(exc, UnsafeFile) else "%s: %s" % (path, exc.strerror or exc))
            return
        self.files[path] = data
        self.total += len(data)

    def _stop(self, directory):
        """Why the walk of ``directory`` stops here (a cap reached), or None."""
        if len(self.files) >= MAX_FILES:
            return "more than %d files under %s: the rest were not read" % (MAX_FILES, directory)
        if self.total >= MAX_TOTAL_BYTES:
            return "more than %d MiB of configuration under %s: the rest was not read" % (MAX_TOTAL_BYTES >> 20, directory)
        if self.entries > MAX_ENTRIES:
            return "more than %d entries under %s: the rest were not looked at" % (MAX_ENTRIES, directory)
        if time.monotonic() - self.started > MAX_WALK_SECONDS:
            return "reading the configuration under %s took more than %.0f s: the rest was not read" % (
                directory, MAX_WALK_SECONDS)
        return None

    def tree(self, directory):
        """Every regular file below ``directory`` (a container path), sorted, within the caps."""
        if not posixpath.normpath(directory or "/").strip("/"):
            self.stops.append("not reading every file of the container's / (an include of /*): only what is named")
            return
        walked = _walk(self.root, directory)
        if walked is None:
            return
        parent, name, _resolved = walked
        try:
            top = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            return
        finally:
            os.close(parent)
        try:
            for dirpath, dirnames, filenames, _dfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
                dirnames.sort()
                rel = dirpath[1:].lstrip("/")
                for fname in sorted(filenames):
                    self.entries += 1
                    why = self._stop(directory)
                    if why:
                        self.stops.append(why)
                        return
                    self.read(posixpath.join(directory, rel, fname))
                # links to directories (sites-enabled -> ../sites-available) are read when an include names them
        finally:
            os.close(top)


def _outside_includes(payload, directory):
    """Include patterns of the parsed files that name paths outside ``directory``."""
    out = []
    for cfg in (payload or {}).get("config") or []:
        stack = list(cfg.get("parsed") or [])
        while stack:
            d = stack.pop()
            if d.get("directive") == "include" and d.get("args"):
                pattern = d["args"][0]
                if pattern.startswith("/") and not pattern.startswith(directory.rstrip("/") + "/"):
                    out.append(pattern)
            stack.extend(d.get("block") or [])
    return out


def _read_pattern(reader, pattern):
    base = pattern
    while any(c in base for c in "*?["):
        base = posixpath.dirname(base)
    if base == pattern:
        reader.read(pattern)
    else:
        reader.tree(base)


def container_nginx(master, proc="/proc"):
    """The ``nginx`` entry of a container whose nginx master process is ``master``."""
    conf = _conf_path(master, proc)
    out = {"pid": master, "conf_path": conf, "files": 0, "routes": [], "truncated": False, "errors": []}
    root = os.path.join(proc, str(master), "root")
    reader = _Reader(root)
    directory = posixpath.dirname(conf) or "/"
    try:
        reader.read(conf)
        if conf not in reader.files:
            out["errors"].append("cannot read %s in the container (through %s)%s" % (
                conf, root, (": " + reader.problems[0]) if reader.problems else ""))
            return out
        reader.tree(directory)
        payload = parse(conf, files=reader.files, catch_errors=True)
        extra = _outside_includes(payload, directory)
        if extra:
            for pattern in extra:
                _read_pattern(reader, pattern)
            payload = parse(conf, files=reader.files, catch_errors=True)
        facts = analyze_config(payload, resolve=False)
    except Exception as exc:  # pylint: disable=broad-except  # hostile configuration: an error entry, never a traceback
        out["errors"].append("cannot parse %s in the container: %r" % (conf, exc))
        return out
    out["files"] = len(reader.files)
    for err in (payload or {}).get("errors") or []:
        out["errors"].append("%s:%s: %s" % (err.get("file"), err.get("line"), err.get("error")))
    out["errors"] += reader.problems[:5] + list(dict.fromkeys(reader.stops))[:5]
    routes = facts.get("routes") or []
    out["truncated"] = len(routes) > MAX_ROUTES
    out["routes"] = [dict({k: r.get(k) for k in ROUTE_KEYS}, target=mask_text(str(r.get("target") or "")))
                     for r in routes[:MAX_ROUTES]]
    return out
