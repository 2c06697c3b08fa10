# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a given user may do on this host (standard library only).

nginx's worker processes, an app server's workers, a user an operator names: each runs with a
uid, a primary gid and the supplementary groups ``initgroups`` gave it. This module answers
questions *as that user*.

Public API (stable):

``identity(user, group=None, supplementary=()) -> Identity``
    ``name, uid, gid, gids, groups`` for a user name (or numeric uid); ``group`` overrides the
    primary group (nginx's ``user www-data web;``, systemd's ``Group=``). ``gids`` are what
    ``initgroups(name, gid)`` gives: the primary group first, then every group listing the user,
    then the ``supplementary`` groups (systemd's ``SupplementaryGroups=``). Raises ``ValueError``
    with a sentence for an unknown user or group.
``user_entry(user)`` / ``group_id(group)``
    The ``pwd`` entry of a user / the gid of a group, by name or number; ``ValueError`` with a
    sentence when there is none.
``may_access(mode, owner_uid, owner_gid, uid, gids, want, acl=None)``
    The kernel's permission decision (owner, named users, groups, ACL mask, others; root
    passes), pure, over stat values and decoded ACL entries (``decode_acl`` / ``read_acl``).
``check_path(path, user=None, want="r", group=None)`` -> ``(allowed, reason)``
    May that user read / write / execute ``path`` (or several: ``"rx"`` lists and enters a
    directory), searching every directory on the way?
    The one answer to "may this user reach this path" (apps: EnvironmentFile, sockets: the walk).
``walk(path, uid, gids, user, ...)``
    The ``namei -l``-like walk behind both (components, first blocker, the final component).
``run_as(ident, func, args=(), timeout=30)`` -> ``(value, error)``
    Calls ``func(*args)`` in a child process that took ``ident``'s uid, gid and supplementary
    groups (``setgroups`` with ``ident.gids``: what ``initgroups`` sets, and any extra group;
    ``setgid``; ``setuid`` - the order nginx's workers use). ``value`` must be JSON-serialisable.
    ``error`` is a sentence (and ``value`` None) when the switch is impossible (not root), the
    child failed or it did not finish within ``timeout``.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import select
import signal
import stat
import struct
import time
import warnings

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import group_name as _gid_name
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import user_name as _uid_name

ACL_XATTR = "system.posix_acl_access"
ACL_USER_OBJ = 0x01
ACL_USER = 0x02
ACL_GROUP_OBJ = 0x04
ACL_GROUP = 0x08
ACL_MASK = 0x10
ACL_OTHER = 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF
MAX_SYMLINKS = 40

_PERM_BITS = {"r": 4, "w": 2, "x": 1}
_VERB = {"x": "search", "w": "write", "r": "read"}


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


def user_entry(user):
    """The ``pwd`` entry of ``user`` (a name or a uid); ValueError with a sentence when there is none."""
    try:
        if isinstance(user, int) or (isinstance(user, str) and user.isdigit()):
            return pwd.getpwuid(int(user))
        return pwd.getpwnam(user)
    except (KeyError, OverflowError, TypeError, ValueError):
        raise ValueError("there is no user %s on this host" % (user,)) from None


def group_id(group):
    """The gid of ``group`` (a name; a number is taken as it is); ValueError with a sentence for an unknown name."""
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


def identity(user, group=None, supplementary=()):
    """The :class:`Identity` of ``user`` (name or uid) with primary group ``group`` (default: its own)
    and, after the groups ``initgroups`` gives, the groups ``supplementary`` names (systemd's
    ``SupplementaryGroups=``)."""
    pw = user_entry(user)
    gid = pw.pw_gid if group in (None, "") else group_id(group)
    gids = _grouplist(pw.pw_name, gid)
    for extra in supplementary or ():
        extra_gid = group_id(extra)
        if extra_gid not in gids:
            gids.append(extra_gid)
    return Identity(pw.pw_name, pw.pw_uid, gid, gids, [_gid_name(g) for g in gids])


# ---------------------------------------------------------------- permissions (pure)

def decode_acl(blob):
    """Decode a ``system.posix_acl_access`` xattr value.

    Returns a list of ``(tag, id, perm)`` tuples (id None for the *_OBJ/MASK/OTHER entries)
    or None when the blob is not a version 2 ACL.
    """
    if len(blob) < 4 or struct.unpack_from("<I", blob)[0] != 2:
        return None
    entries = []
    for offset in range(4, len(blob) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", blob, offset)
        entries.append((tag, None if ident == ACL_UNDEFINED_ID or tag not in (ACL_USER, ACL_GROUP) else ident,
                        perm & 7))
    return entries


def _perm_text(perm):
    return "".join(c if perm & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))


def acl_to_text(entries, user_name=None, group_name=None):
    """Render decoded ACL entries like ``getfacl``: ``["user::rwx", "user:www-data:r-x", ...]``."""
    user_name = user_name or _uid_name
    group_name = group_name or _gid_name
    names = {ACL_USER_OBJ: "user", ACL_USER: "user", ACL_GROUP_OBJ: "group", ACL_GROUP: "group",
             ACL_MASK: "mask", ACL_OTHER: "other"}
    out = []
    for tag, ident, perm in entries:
        qualifier = ""
        if tag == ACL_USER:
            qualifier = user_name(ident)
        elif tag == ACL_GROUP:
            qualifier = group_name(ident)
        out.append("%s:%s:%s" % (names.get(tag, "tag%d" % tag), qualifier, _perm_text(perm)))
    return out


def may_access(mode, owner_uid, owner_gid, uid, gids, want, acl=None):
    """Decide whether user ``uid`` with groups ``gids`` has permission ``want`` ('r', 'w', 'x').

    ``mode`` is ``st_mode`` (or just the permission bits); ``acl`` the decoded ACL entries
    (``decode_acl``) or None.  Follows the kernel's POSIX ACL check: owner, named users
    (masked), owning and named groups (masked; any matching group granting is enough),
    others.  uid 0 always passes (root's DAC override for search and write on sockets).
    """
    bit = _PERM_BITS[want]
    if uid == 0:
        return True
    gids = set(gids)
    if not acl:
        if uid == owner_uid:
            return bool((mode >> 6) & bit)
        if owner_gid in gids:
            return bool((mode >> 3) & bit)
        return bool(mode & bit)
    mask = 7
    for tag, _ident, perm in acl:
        if tag == ACL_MASK:
            mask = perm
    # owner
    if uid == owner_uid:
        for tag, _ident, perm in acl:
            if tag == ACL_USER_OBJ:
                return bool(perm & bit)
        return bool((mode >> 6) & bit)
    for tag, ident, perm in acl:
        if tag == ACL_USER and ident == uid:
            return bool(perm & mask & bit)
    group_matched = False
    for tag, ident, perm in acl:
        if (tag == ACL_GROUP_OBJ and owner_gid in gids) or (tag == ACL_GROUP and ident in gids):
            group_matched = True
            if perm & mask & bit:
                return True
    if group_matched:
        return False
    for tag, _ident, perm in acl:
        if tag == ACL_OTHER:
            return bool(perm & bit)
    return bool(mode & bit)


# ---------------------------------------------------------------- walking a path

def _components(path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return parts


def read_acl(path):
    try:
        blob = os.getxattr(path, ACL_XATTR, follow_symlinks=False)
    except (OSError, AttributeError):
        return None
    return decode_acl(blob)


def _ftype(mode):
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _memo(store, key, func):
    """``func(key)``, computed once per ``store``; an ``OSError`` is remembered and raised again."""
    try:
        value, exc = store[key]
    except KeyError:
        try:
            value, exc = store.setdefault(key, (func(key), None))
        except OSError as err:
            value, exc = store.setdefault(key, (None, err))
    if exc is not None:
        raise exc
    return value


class Cache:
    """Memoised ``lstat`` and ACL look-ups for the paths of one collection run (names of owners
    are cached by ``_proc.user_name`` / ``group_name``).

    Thousands of socket paths usually share their parent directories (``/``, ``/run``,
    ``/run/app``); each of those is inspected once per run instead of once per socket.
    """

    user_name = staticmethod(_uid_name)
    group_name = staticmethod(_gid_name)

    def __init__(self, lstat=None, read_acl=None):
        self._lstat = lstat or os.lstat
        self._read_acl = read_acl or globals()['read_acl']
        self._stats = {}
        self._acls = {}

    def lstat(self, path):
        return _memo(self._stats, path, self._lstat)

    def read_acl(self, path):
        return _memo(self._acls, path, self._read_acl)


def walk(path, uid, gids, user, lstat=os.lstat, readlink=os.readlink, read_acl=read_acl,
         user_name=None, group_name=None):
    """Walk ``path`` component by component like ``namei -l``, following symlinks, as user
    ``uid`` with groups ``gids`` (``user`` is the name used in the sentences).

    Returns ``(result, errors, last)``: ``result`` is ``{path, exists, components, blocker}``
    (each component ``{path, type, owner, group, mode, acl, searchable, writable}``, the first
    blocker a ``{path, reason}`` or None), ``errors`` error entries, and ``last`` - the final
    component when the walk reached it: ``{comp, st, acl, type, desc}`` - for the caller to
    decide what it needs there (read a file, write a socket). The I/O functions are parameters
    so tests can feed a synthetic tree (and a run over many paths can pass a :class:`Cache`).
    """
    user_name = user_name or _uid_name
    group_name = group_name or _gid_name
    errors = []
    result = {"path": path, "exists": False, "components": [], "blocker": None}
    comps = result["components"]
    if not isinstance(path, str) or not path.startswith("/"):
        result["blocker"] = {"path": path, "reason": "%s is not an absolute path" % (path,)}
        return result, errors, None
    pending = _components(path)
    current = "/"
    links = 0
    first = True
    while first or pending:
        if first:
            here = "/"
        else:
            name = pending.pop(0)
            if name == "..":
                current = os.path.dirname(current.rstrip("/")) or "/"
                continue
            here = current.rstrip("/") + "/" + name
        first = False
        last = not pending
        try:
            st = lstat(here)
        except FileNotFoundError:
            comps.append({"path": here, "type": "missing", "owner": None, "group": None, "mode": None,
                          "acl": None, "searchable": None, "writable": None})
            if result["blocker"] is None:
                result["blocker"] = {"path": here, "reason": "%s does not exist" % here}
            return result, errors, None
        except OSError as exc:
            reason = "%s cannot be inspected: %s" % (here, exc.strerror or exc)
            comps.append({"path": here, "type": "other", "owner": None, "group": None, "mode": None,
                          "acl": None, "searchable": None, "writable": None})
            errors.append(error("socket_path", here, reason))
            if result["blocker"] is None:
                result["blocker"] = {"path": here, "reason": reason}
            return result, errors, None
        ftype = _ftype(st.st_mode)
        acl = read_acl(here) if ftype != "symlink" else None
        comp = {"path": here, "type": ftype, "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
                "mode": "%04o" % stat.S_IMODE(st.st_mode), "acl": acl_to_text(acl, user_name, group_name) if acl else None,
                "searchable": None, "writable": None}
        comps.append(comp)
        desc = "%s is %s %s:%s%s" % (here, comp["mode"], comp["owner"], comp["group"],
                                     " with ACL %s" % ",".join(comp["acl"]) if comp["acl"] else "")
        if ftype == "symlink":
            links += 1
            if links > MAX_SYMLINKS:
                result["blocker"] = {"path": here, "reason": "%s: too many levels of symbolic links" % here}
                return result, errors, None
            try:
                target = readlink(here)
            except OSError as exc:
                result["blocker"] = {"path": here, "reason": "%s cannot be read: %s" % (here, exc.strerror or exc)}
                return result, errors, None
            pending = _components(target) + pending
            if target.startswith("/"):
                current = "/"
                first = True  # list "/" again, as namei does for an absolute link
            continue
        if ftype == "dir":
            comp["searchable"] = may_access(st.st_mode, st.st_uid, st.st_gid, uid, gids, "x", acl)
            if not comp["searchable"] and result["blocker"] is None and not last:
                result["blocker"] = {"path": here, "reason": "%s; %s cannot search it" % (desc, user)}
            current = here
            if last:
                result["exists"] = True
                return result, errors, {"comp": comp, "st": st, "acl": acl, "type": ftype, "desc": desc}
            continue
        # a non-directory: must be the last component
        if not last:
            if result["blocker"] is None:
                result["blocker"] = {"path": here, "reason": "%s is a %s, not a directory" % (here, ftype)}
            return result, errors, None
        result["exists"] = True
        return result, errors, {"comp": comp, "st": st, "acl": acl, "type": ftype, "desc": desc}
    return result, errors, None


def check_path(path, user=None, want="r", group=None, ident=None):
    """May ``user`` (with ``group`` as primary group, and its supplementary groups) ``want``
    (``"r"``, ``"w"``, ``"x"``, or several of them: ``"rx"`` to list and enter a directory) the
    file ``path``, searching every directory on the way?

    Mode bits, owner, supplementary groups and POSIX ACLs decide, as the kernel does; root
    passes (``user`` None or ``""`` means root, as systemd's ``User=``). Returns
    ``(allowed, reason)``: ``(True, None)``; ``(False, "<what blocks and why>")``; or
    ``(None, "<why it cannot be told>")`` for an unknown user or a path that cannot be inspected.
    ``ident`` (an :class:`Identity`) can be passed instead of ``user``/``group``.
    """
    if ident is None:
        try:
            ident = identity(user or "root", group)
        except ValueError as exc:
            return None, str(exc)
    result, errors, last = walk(path, ident.uid, ident.gids, ident.name)
    if errors:
        return None, errors[0]["message"]
    if result["blocker"] is not None:
        return False, result["blocker"]["reason"]
    st, acl = last["st"], last["acl"]
    for perm in "xrw":
        if perm in want and not may_access(st.st_mode, st.st_uid, st.st_gid, ident.uid, ident.gids, perm, acl):
            verb = "list" if perm == "r" and last["type"] == "dir" else _VERB[perm]
            return False, "%s; %s cannot %s it" % (last["desc"], ident.name, verb)
    return True, None


# ---------------------------------------------------------------- running as a user

def _child(ident, func, args, wfd):
    """In the forked child: become ``ident``, run, write the JSON answer, never return."""
    code = 0
    try:
        try:
            os.setgroups(ident.gids)    # what initgroups(name, gid) sets, plus any supplementary groups
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
