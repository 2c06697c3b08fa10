# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small shared helpers over ``/proc`` (target side, standard library only).

Public API (other fact gatherers may import these; keep them stable):

``error(source, path, message)``
    Build an error entry ``{source, path, message}`` as the facts contract wants.
``read_text(path, max_bytes=PROC_MAX_BYTES)``
    Read a (small) text file through the one safe reader (``_safe_io``: regular files only,
    capped); returns ``str`` or raises ``OSError`` (``_safe_io.UnsafeFile``).
``parse_status_uid(text)`` / ``parse_status_gids(text)`` / ``parse_status_field(text, name)``
    Real uid / ``(real gid, all gids)`` / any field from ``/proc/PID/status`` text.
``parse_cgroup_unit(text)``
    systemd unit (``*.service``, ``*.socket``, ``*.scope``) from ``/proc/PID/cgroup`` text.
``parse_cmdline(raw)``
    argv list from the raw bytes of ``/proc/PID/cmdline``.
``parse_stat_starttime(text)``
    start time in clock ticks after boot from ``/proc/PID/stat`` text.
``parse_stat_ppid(text)``
    parent pid from ``/proc/PID/stat`` text.
``boot_time(proc)``
    ``btime`` from ``/proc/stat`` (epoch seconds) or ``None``.
``precise_boot_time(proc)``
    ``(epoch seconds, precise)``: from ``/proc/uptime`` (10 ms) when readable, else ``btime``
    (whole seconds, ``precise`` False).
``user_name(uid)`` / ``group_name(gid)``
    user / group name for a uid / gid (cached), the number as string when unknown.
``list_pids(proc)``
    all numeric entries of ``/proc`` as ints, sorted.
``process_info(pid, proc, btime, cmdline=None)``
    ``{pid, ppid, name, cmdline, uid, user, unit, start_time}`` for one process, or ``None``
    when it vanished.  Values that cannot be read are ``None``.  ``cmdline`` is the raw argv:
    whatever returns it in facts masks it first (``_mask.mask_argv``).  An argv already read
    can be passed as ``cmdline``.
``scan(proc, btime, want=None)``
    The one process scan: ``process_info`` of every process whose argv ``want(argv)``
    accepts (default: every process with a command line; kernel threads have none), in pid
    order.  The command line is read first, so a narrow ``want`` (nginx's titles) reads little.
``socket_owners(inodes, proc)``
    map of socket inode -> sorted pids holding an fd ``socket:[inode]``, for the given inodes
    only (``None`` = all sockets), plus the number of processes whose fds were unreadable
    (other users' processes when not root).  Never raises.
"""

from __future__ import annotations

import grp
import os
import pwd
import time

PROC = "/proc"
PROC_MAX_BYTES = 64 * 1024 * 1024  # /proc/net/unix of a busy host is megabytes; a cmdline at most ARG_MAX
UNIT_SUFFIXES = (".service", ".socket", ".scope")

_USER_CACHE = {}
_GROUP_CACHE = {}


def error(source, path, message):
    """Return an error entry of the facts contract."""
    return {"source": source, "path": path, "message": message}


def read_text(path, max_bytes=PROC_MAX_BYTES):
    """Read a text file with the safe reader, decoding bytes that are not UTF-8 with replacement."""
    # imported here: _safe_io builds its error entries with error() above
    from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
    return _safe_io.read_text(path, max_bytes)


def read_bytes(path, max_bytes=PROC_MAX_BYTES):
    """Like :func:`read_text`, undecoded."""
    from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
    return _safe_io.read_bytes(path, max_bytes)


def parse_status_field(text, name):
    """Return the raw value (str) of field ``name`` in ``/proc/PID/status`` text, or None."""
    prefix = name + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def parse_status_uid(text):
    """Return the real uid from ``/proc/PID/status`` text, or None."""
    value = parse_status_field(text, "Uid")
    if not value:
        return None
    try:
        return int(value.split()[0])
    except ValueError:
        return None


def parse_status_gids(text):
    """Return ``(gid, gids)`` from ``/proc/PID/status`` text: the real gid (None when unreadable)
    and every group the process has (supplementary groups and the gid), sorted."""
    gid_text = (parse_status_field(text, "Gid") or "").split()
    gid = int(gid_text[0]) if gid_text and gid_text[0].isdigit() else None
    groups = {int(g) for g in (parse_status_field(text, "Groups") or "").split() if g.isdigit()}
    if gid is not None:
        groups.add(gid)
    return gid, sorted(groups)


def parse_cgroup_unit(text):
    """Return the systemd unit of a process from ``/proc/PID/cgroup`` text.

    Uses the unified line (``0::``) or the ``name=systemd`` line and takes the last path
    component that ends in ``.service``, ``.socket`` or ``.scope``.  None when there is none.
    """
    candidates = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if (hier == "0" and controllers == "") or "name=systemd" in controllers.split(","):
            candidates.insert(0, path)
        else:
            candidates.append(path)
    for path in candidates:
        for comp in reversed(path.strip().split("/")):
            if comp.endswith(UNIT_SUFFIXES):
                return comp
    return None


def parse_cmdline(raw):
    """Return argv (list of str) from raw ``/proc/PID/cmdline`` bytes."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return []
    if raw.endswith("\0"):
        raw = raw[:-1]
    return raw.split("\0")


def _stat_fields(text):
    """Fields 3.. of ``/proc/PID/stat`` (comm, field 2, may hold spaces and parentheses)."""
    end = text.rfind(")")
    return text[end + 2:].split() if end >= 0 else []


def parse_stat_ppid(text):
    """Return field 4 (ppid) of ``/proc/PID/stat`` text, or None."""
    try:
        return int(_stat_fields(text)[1])
    except (IndexError, ValueError):
        return None


def parse_stat_starttime(text):
    """Return field 22 (starttime, clock ticks after boot) of ``/proc/PID/stat`` text, or None."""
    # fields[0] is field 3 (state); starttime is field 22 -> index 19.
    try:
        return int(_stat_fields(text)[19])
    except (IndexError, ValueError):
        return None


def boot_time(proc=PROC):
    """Return the boot time (epoch seconds, float) from ``/proc/stat`` or None."""
    try:
        text = read_text(os.path.join(proc, "stat"))
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("btime "):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def precise_boot_time(proc=PROC):
    """``(boot time, precise)``: from ``/proc/uptime`` (10 ms), else ``btime`` (whole seconds)."""
    try:
        uptime = float(read_text(os.path.join(proc, "uptime")).split()[0])
        return time.time() - uptime, True
    except (OSError, ValueError, IndexError):
        return boot_time(proc), False


def _cached_name(cache, number, lookup):
    if number is None:
        return None
    name = cache.get(number)
    if name is None:
        try:
            name = lookup(number)
        except (KeyError, OverflowError, TypeError, ValueError):
            name = str(number)
        cache[number] = name
    return name


def user_name(uid):
    """Return the user name of ``uid`` (cached); the number as a string when unknown."""
    return _cached_name(_USER_CACHE, uid, lambda n: pwd.getpwuid(n).pw_name)


def group_name(gid):
    """Return the group name of ``gid`` (cached); the number as a string when unknown."""
    return _cached_name(_GROUP_CACHE, gid, lambda n: grp.getgrgid(n).gr_name)


def list_pids(proc=PROC):
    """Return all process ids under ``proc`` (sorted ints)."""
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def process_info(pid, proc=PROC, btime=None, cmdline=None):
    """Return a dict describing process ``pid`` or None when it no longer exists.

    Keys: pid, ppid, name (comm), cmdline (list, raw: mask before returning it as a fact), uid,
    user, unit, start_time (epoch float when ``btime`` is given, else None).  Fields that
    cannot be read are None.  ``cmdline``: the argv when the caller has read it already.
    """
    base = os.path.join(proc, str(pid))
    try:
        name = read_text(os.path.join(base, "comm")).rstrip("\n")
    except FileNotFoundError:
        return None
    except OSError:
        name = None
    if cmdline is None:
        cmdline = _read_parsed(base, "cmdline", parse_cmdline, read_bytes)
    uid = _read_parsed(base, "status", parse_status_uid)
    stat = _read_parsed(base, "stat", lambda text: text) or ""
    info = {"pid": pid, "ppid": parse_stat_ppid(stat), "name": name, "cmdline": cmdline, "uid": uid,
            "user": user_name(uid), "unit": _read_parsed(base, "cgroup", parse_cgroup_unit), "start_time": None}
    if btime is not None:
        ticks = parse_stat_starttime(stat)
        if ticks is not None:
            try:
                info["start_time"] = btime + ticks / float(os.sysconf("SC_CLK_TCK"))
            except (OSError, ValueError):
                pass
    return info


def _read_parsed(base, name, parse, reader=read_text):
    """``parse`` of the file ``name`` of a process directory, None when it cannot be read."""
    try:
        return parse(reader(os.path.join(base, name)))
    except OSError:
        return None


def scan(proc=PROC, btime=None, want=None):
    """Yield :func:`process_info` of every process whose argv ``want(argv)`` accepts (default:
    any non-empty argv), in pid order; processes that vanish meanwhile are left out."""
    for pid in list_pids(proc):
        try:
            argv = parse_cmdline(read_bytes(os.path.join(proc, str(pid), "cmdline")))
        except OSError:
            continue
        if not (want(argv) if want is not None else argv):
            continue
        info = process_info(pid, proc, btime, cmdline=argv)
        if info is not None:
            yield info


def socket_owners(inodes=None, proc=PROC):
    """Map socket inodes to the pids that hold them.

    ``inodes``: a set of ints to look for, or None for every socket.  Returns
    ``(owners, unreadable)`` where ``owners`` is ``{inode: [pid, ...]}`` (pids sorted) and
    ``unreadable`` the number of processes whose ``fd`` directory could not be read
    (permission denied: other users' processes when not root).  Never raises.
    """
    owners = {}
    unreadable = 0
    want = inodes
    readlink = os.readlink
    listdir = os.listdir
    for pid in list_pids(proc):
        fd_dir = "%s/%d/fd/" % (proc, pid)
        try:
            fds = listdir(fd_dir)
        except PermissionError:
            unreadable += 1
            continue
        except OSError:
            continue  # process exited
        for fd in fds:
            try:
                target = readlink(fd_dir + fd)
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            try:
                inode = int(target[8:-1])
            except ValueError:
                continue
            if want is not None and inode not in want:
                continue
            pids = owners.setdefault(inode, [])
            if not pids or pids[-1] != pid:
                pids.append(pid)
    return owners, unreadable
