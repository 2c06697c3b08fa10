# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can a user (the nginx worker user) reach a unix socket?  The ``sockets`` facts section.

For every path a ``namei -l``-like walk: each component's type, owner, group, mode and
POSIX ACL (decoded from the ``system.posix_acl_access`` xattr), and whether the user, with
all of its groups, may search each directory and write the socket.  The permission decision
is a pure function (``may_access``) over stat-like values, so it is tested without switching
users.  Standard library only.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import struct

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

ACL_XATTR = "system.posix_acl_access"
ACL_USER_OBJ = 0x01
ACL_USER = 0x02
ACL_GROUP_OBJ = 0x04
ACL_GROUP = 0x08
ACL_MASK = 0x10
ACL_OTHER = 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF
FALLBACK_USERS = ("www-data", "nginx", "nobody")
MAX_SYMLINKS = 40

_PERM_BITS = {"r": 4, "w": 2, "x": 1}
_VERB = {"x": "search", "w": "write", "r": "read"}


# ---------------------------------------------------------------- ACLs (pure)

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


# ---------------------------------------------------------------- users

def _uid_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError, TypeError):
        return str(uid)


def _gid_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError, TypeError):
        return str(gid)


def user_groups(name):
    """Return ``(uid, [gid, ...], [group name, ...])`` for user ``name``; primary group first.

    Raises KeyError for an unknown user.
    """
    pw = pwd.getpwnam(name)
    gids = [pw.pw_gid]
    for gr in grp.getgrall():
        if name in gr.gr_mem and gr.gr_gid not in gids:
            gids.append(gr.gr_gid)
    return pw.pw_uid, gids, [_gid_name(g) for g in gids]


def default_user():
    """First existing user of www-data, nginx, nobody (None if none exists)."""
    for name in FALLBACK_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


# ---------------------------------------------------------------- walk

def _components(path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return parts


def _read_acl(path):
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


class _Cached:
    """Memoised ``lstat``, ACL and owner name look-ups for the paths of one collection run.

    Thousands of socket paths usually share their parent directories (``/``, ``/run``,
    ``/run/app``); each of those is inspected once per run instead of once per socket.
    """

    def __init__(self, lstat=None, read_acl=None):
        self._lstat = lstat or os.lstat
        self._read_acl = read_acl or _read_acl
        self._stats = {}
        self._acls = {}
        self._users = {}
        self._groups = {}

    def lstat(self, path):
        try:
            found = self._stats[path]
        except KeyError:
            try:
                found = self._stats[path] = (self._lstat(path), None)
            except OSError as exc:
                found = self._stats[path] = (None, exc)
        if found[1] is not None:
            raise found[1]
        return found[0]

    def read_acl(self, path):
        try:
            return self._acls[path]
        except KeyError:
            acl = self._acls[path] = self._read_acl(path)
            return acl

    def user_name(self, uid):
        try:
            return self._users[uid]
        except KeyError:
            name = self._users[uid] = _uid_name(uid)
            return name

    def group_name(self, gid):
        try:
            return self._groups[gid]
        except KeyError:
            name = self._groups[gid] = _gid_name(gid)
            return name


def walk_path(path, uid, gids, user, lstat=os.lstat, readlink=os.readlink, read_acl=_read_acl,
              user_name=None, group_name=None):
    """Walk ``path`` component by component like ``namei -l``, following symlinks.

    Returns a ``SocketPath``-shaped dict without the unit/listener keys, plus a list of
    error entries.  The I/O functions are parameters so tests can feed a synthetic tree
    (and so that a run over many paths can pass cached ones, see ``_Cached``).
    """
    user_name = user_name or _uid_name
    group_name = group_name or _gid_name
    errors = []
    result = {"path": path, "exists": False, "is_socket": False, "components": [],
              "reachable": False, "blocker": None}
    comps = result["components"]
    if not path.startswith("/"):
        result["blocker"] = {"path": path, "reason": "%s is not an absolute path" % path}
        return result, errors
    pending = _components(path)
    current = "/"
    links = 0
    first = True
    while first or pending:
        if first:
            name = None
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
            return result, errors
        except OSError as exc:
            reason = "%s cannot be inspected: %s" % (here, exc.strerror or exc)
            comps.append({"path": here, "type": "other", "owner": None, "group": None, "mode": None,
                          "acl": None, "searchable": None, "writable": None})
            errors.append(error("socket_path", here, reason))
            if result["blocker"] is None:
                result["blocker"] = {"path": here, "reason": reason}
            return result, errors
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
                return result, errors
            try:
                target = readlink(here)
            except OSError as exc:
                result["blocker"] = {"path": here, "reason": "%s cannot be read: %s" % (here, exc.strerror or exc)}
                return result, errors
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
                if result["blocker"] is None:
                    result["blocker"] = {"path": here, "reason": "%s is a directory, not a socket" % here}
            continue
        # a non-directory: must be the last component
        if not last:
            if result["blocker"] is None:
                result["blocker"] = {"path": here, "reason": "%s is a %s, not a directory" % (here, ftype)}
            return result, errors
        result["exists"] = True
        comp["writable"] = may_access(st.st_mode, st.st_uid, st.st_gid, uid, gids, "w", acl)
        result["is_socket"] = ftype == "socket"
        if result["blocker"] is None:
            if not result["is_socket"]:
                result["blocker"] = {"path": here, "reason": "%s is a %s, not a socket" % (here, ftype)}
            elif not comp["writable"]:
                result["blocker"] = {"path": here, "reason": "%s; %s cannot write it" % (desc, user)}
        current = here
    result["reachable"] = result["blocker"] is None and result["is_socket"]
    return result, errors


def _under(path, prefixes):
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return True
    return False


def _resolved(path):
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def _real_path(path, walked):
    """``os.path.realpath(path)`` without asking the file system again when the walk saw no
    symlink and no component it could not inspect (then only ``.`` and ``..`` matter)."""
    if path.startswith("/") and not path.startswith("//"):
        for comp in walked.get("components") or ():
            if comp.get("type") in ("symlink", "other"):
                break
        else:
            return os.path.normpath(path)
    return _resolved(path)


def _unit_applies(unit, path, real):
    paths = unit.get("paths")
    if not paths:
        return True
    return path in paths or real in paths


def unit_relations(path, units, real=None):
    """Return ``(private_tmp_units, runtime_directory_units)`` for a socket path (pure).

    ``units``: list of ``{unit, private_tmp, runtime_directory: [...], paths: [...]}``; the
    optional ``paths`` limits a unit to those socket paths (else it applies to all).
    """
    real = real or path
    candidates = {path, real}
    in_tmp = any(_under(p, ("/tmp", "/var/tmp")) for p in candidates)
    private, runtime = [], []
    for unit in units or ():
        if not isinstance(unit, dict) or not unit.get("unit") or not _unit_applies(unit, path, real):
            continue
        if in_tmp and unit.get("private_tmp"):
            private.append(unit["unit"])
        for rd in unit.get("runtime_directory") or ():
            rd = str(rd).strip("/")
            if not rd:
                continue
            base = "/run/" + rd
            dirs = {os.path.dirname(p) for p in candidates}
            if any(_under(d, (base, "/var" + base)) for d in dirs):
                runtime.append(unit["unit"])
                break
    return sorted(set(private)), sorted(set(runtime))


def collect_socket_paths(paths, user=None, units=None, listeners=None):
    """Return the ``sockets`` section for unix socket ``paths`` checked as ``user``.

    ``user``: the nginx worker user; default the first of www-data, nginx, nobody that exists.
    ``units``: see ``unit_relations``.  ``listeners``: the ``listeners`` section or an iterable
    of listening socket paths; when None the listening unix sockets are read from the kernel.
    Never raises.
    """
    errors = []
    result = {"user": user, "groups": [], "paths": [], "errors": errors}
    try:
        _collect(result, paths, user, units, listeners)
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback on the target
        errors.append(error("socket_path", None, "unexpected error while checking socket paths: %r" % (exc,)))
    return result


def _collect(result, paths, user, units, listeners):
    errors = result["errors"]
    if not user:
        user = default_user()
        if user is None:
            errors.append(error("passwd", None, "none of the users %s exists; checked as nobody (uid 65534)"
                                % ", ".join(FALLBACK_USERS)))
            user = "nobody"
    result["user"] = user
    try:
        uid, gids, gnames = user_groups(user)
    except KeyError:
        errors.append(error("passwd", None, "user %s does not exist on this host; checked with no groups" % user))
        uid, gids, gnames = 65534, [], []
    result["groups"] = gnames
    if listeners is None:
        from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import listening_unix_paths
        listening = listening_unix_paths()
    elif isinstance(listeners, dict):
        listening = {e.get("path") for e in listeners.get("unix", ()) if isinstance(e, dict)}
    else:
        listening = set(listeners)
    seen = set()
    cache = _Cached()
    for path in paths or ():
        if not isinstance(path, str) or not path or path in seen:
            continue
        seen.add(path)
        if path.startswith("unix:"):
            path = path[5:]
        entry, errs = walk_path(path, uid, gids, user, lstat=cache.lstat, read_acl=cache.read_acl,
                                user_name=cache.user_name, group_name=cache.group_name)
        errors.extend(errs)
        real = _real_path(path, entry)
        entry["in_tmp"] = _under(path, ("/tmp", "/var/tmp")) or _under(real, ("/tmp", "/var/tmp"))
        entry["in_run"] = _under(path, ("/run", "/var/run")) or _under(real, ("/run",))
        entry["private_tmp_units"], entry["runtime_directory_units"] = unit_relations(path, units, real)
        entry["listener"] = path in listening or real in listening
        result["paths"].append(entry)


__all__ = ["collect_socket_paths", "walk_path", "may_access", "decode_acl", "acl_to_text", "user_groups",
           "unit_relations", "default_user"]
