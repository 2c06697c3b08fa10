# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rootless container engines: a socket in an unprivileged user's runtime directory, whose answers are claims.

Root asks a rootless Podman socket (``/run/user/UID/podman/podman.sock``) only when the user alone could have
put it there, and believes its containers' pids and bind-mount sources only when they are that user's.

Public API: ``rootless_uid(path)``, ``rootless_problem(path, uid)``, ``subuid_ranges(uid, path)``,
``Owner(uid, subuid)`` (``.uid``, ``.user``, ``.owns_uid(uid)``, ``.owns_pid(pid, proc)``), ``USER_RUN_DIR``, ``SUBUID``.
"""
from __future__ import annotations

import os
import pwd
import re
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import read_text

SUBUID = "/etc/subuid"
USER_RUN_DIR = "/run/user"    # the users' runtime directories (XDG_RUNTIME_DIR, made by systemd-logind)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def rootless_uid(path):
    """The uid of the user whose runtime directory (``/run/user/UID/``) holds the socket ``path``, else None."""
    for p in (str(path), os.path.realpath(str(path))):
        m = re.match(re.escape(USER_RUN_DIR.rstrip("/")) + r"/(\d+)/", p)
        if m:
            return int(m.group(1))
    return None


def rootless_problem(path, uid):
    """Why the socket ``path`` of the user ``uid`` is not asked (None when it may be): the socket and the
    directories from ``/run/user/UID`` down to it must be owned by that user and writable by nobody else, else
    another user could have put a socket there (and its answers, trusted by root, would be theirs)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return "cannot stat %s: %s" % (path, exc.strerror or exc)
    if not stat.S_ISSOCK(st.st_mode):
        return "%s is not a unix socket (a link or another file in a user's runtime directory is not followed)" % path
    if st.st_uid != uid:
        return "%s is owned by uid %d, not by uid %d whose runtime directory holds it: not asked" % (path, st.st_uid, uid)
    top = "%s/%d" % (USER_RUN_DIR.rstrip("/"), uid)
    directory = os.path.dirname(path)
    while True:
        try:
            dst = os.lstat(directory)
        except OSError as exc:
            return "cannot stat %s: %s" % (directory, exc.strerror or exc)
        if not stat.S_ISDIR(dst.st_mode) or dst.st_uid != uid or dst.st_mode & 0o022:
            return ("%s is not a directory owned by uid %d and writable by it alone: the socket %s in it is not asked"
                    % (directory, uid, path))
        if directory == top or len(directory) <= len(top):
            return None
        directory = os.path.dirname(directory)


def subuid_ranges(uid, path=SUBUID):
    """``[(first, count)]`` of the subordinate uids ``/etc/subuid`` gives the user ``uid`` (rootless containers' uids)."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        name = None
    try:
        text = read_text(path)
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        first, count = _int(parts[1]), _int(parts[2])
        if first is not None and count:
            out.append((first, count))
    return out


class Owner:
    """The unprivileged user behind a rootless engine: what of its containers' claims root may believe."""

    def __init__(self, uid, subuid=SUBUID):
        self.uid = uid
        try:
            self.user = pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            self.user = None
        self.ranges = subuid_ranges(uid, subuid)

    def owns_uid(self, uid):
        return uid == self.uid or any(first <= uid < first + count for first, count in self.ranges)

    def owns_pid(self, pid, proc):
        """The process ``pid`` runs as this user or one of its subordinate uids (a container it started)."""
        try:
            return self.owns_uid(os.stat(os.path.join(proc, str(pid))).st_uid)
        except OSError:
            return False
