# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a given user may do on this host (standard library only).

nginx's worker processes, an app server's workers, a user an operator names: each runs with a
uid, a primary gid and the supplementary groups ``initgroups`` gave it. This module answers
questions *as that user*.

Public API (stable):

``identity(user, group=None) -> Identity``
    ``name, uid, gid, gids, groups`` for a user name (or numeric uid); ``group`` overrides the
    primary group (nginx's ``user www-data web;``). ``gids`` are what ``initgroups(name, gid)``
    gives: the primary group first, then every group listing the user. Raises ``ValueError``
    with a sentence for an unknown user or group.
``run_as(ident, func, args=(), timeout=30)`` -> ``(value, error)``
    Calls ``func(*args)`` in a child process that took ``ident``'s uid, gid and supplementary
    groups (``initgroups``, ``setgid``, ``setuid`` - the order nginx's workers use). ``value``
    must be JSON-serialisable. ``error`` is a sentence (and ``value`` None) when the switch is
    impossible (not root), the child failed or it did not finish within ``timeout``.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import select
import signal
import time
import warnings


class Identity:
    """A user as the kernel sees its processes: uid, primary gid, all gids."""

    __slots__ = ("name", "uid", "gid", "gids", "groups")

    def __init__(self, name, uid, gid, gids, groups):
        self.name = name
        self.uid = uid
        self.gid = gid
        self.gids = gids
        self.groups = groups

    def __repr__(self):
        return "Identity(%s uid=%d gid=%d groups=%s)" % (self.name, self.uid, self.gid, ",".join(self.groups))


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)


def _lookup_user(user):
    try:
        if isinstance(user, int) or (isinstance(user, str) and user.isdigit()):
            return pwd.getpwuid(int(user))
        return pwd.getpwnam(user)
    except (KeyError, OverflowError, TypeError, ValueError):
        raise ValueError("there is no user %s on this host" % (user,)) from None


def _lookup_group(group):
    try:
        if isinstance(group, int) or (isinstance(group, str) and group.isdigit()):
            return int(group)
        return grp.getgrnam(group).gr_gid
    except (KeyError, OverflowError, TypeError, ValueError):
        raise ValueError("there is no group %s on this host" % (group,)) from None


def _grouplist(name, gid):
    try:
        gids = os.getgrouplist(name, gid)
    except (OSError, AttributeError):
        gids = [g.gr_gid for g in grp.getgrall() if name in g.gr_mem]
    out = [gid]
    for g in gids:
        if g not in out:
            out.append(g)
    return out


def identity(user, group=None):
    """The :class:`Identity` of ``user`` (name or uid) with primary group ``group`` (default: its own)."""
    pw = _lookup_user(user)
    gid = pw.pw_gid if group in (None, "") else _lookup_group(group)
    gids = _grouplist(pw.pw_name, gid)
    return Identity(pw.pw_name, pw.pw_uid, gid, gids, [_group_name(g) for g in gids])


# ---------------------------------------------------------------- running as a user

def _child(ident, func, args, wfd):
    """In the forked child: become ``ident``, run, write the JSON answer, never return."""
    code = 0
    try:
        try:
            os.initgroups(ident.name, ident.gid)
            os.setgid(ident.gid)
            os.setuid(ident.uid)
            if os.getuid() != ident.uid or os.geteuid() != ident.uid:
                raise OSError("the uid did not change")
            payload = {"value": func(*args)}
        except BaseException as exc:  # pylint: disable=broad-except  # reported to the parent
            payload = {"error": "%s: %s" % (type(exc).__name__, exc)}
        data = json.dumps(payload).encode("utf-8")
        while data:
            data = data[os.write(wfd, data):]
    except BaseException:  # pylint: disable=broad-except
        code = 1
    finally:
        os._exit(code)  # pylint: disable=protected-access  # never run the parent's cleanup here


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def run_as(ident, func, args=(), timeout=30.0):
    """Call ``func(*args)`` as ``ident`` in a child process; return ``(value, error)``."""
    euid = os.geteuid()
    if euid != 0:
        if euid == ident.uid:
            try:
                return func(*args), None
            except Exception as exc:  # pylint: disable=broad-except
                return None, "%s: %s" % (type(exc).__name__, exc)
        return None, ("acting as user %s needs root (this runs as uid %d); use become: true"
                      % (ident.name, euid))
    rfd, wfd = os.pipe()
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() in a threaded process; the child only runs
            # func (no lock of another thread is needed) and a watchdog kills it if it hangs
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        os.close(rfd)
        os.close(wfd)
        return None, "cannot start a process as user %s: %s" % (ident.name, exc.strerror or exc)
    if pid == 0:
        os.close(rfd)
        _child(ident, func, args, wfd)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _w, _x = select.select([rfd], [], [], min(remaining, 1.0))
            if not ready:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
        if timed_out:
            _kill(pid)
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    if timed_out:
        return None, "the process running as user %s did not finish within %g seconds" % (ident.name, timeout)
    try:
        payload = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        return None, "the process running as user %s gave no answer" % ident.name
    if "error" in payload:
        return None, "as user %s: %s" % (ident.name, payload["error"])
    return payload.get("value"), None
