# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can a user (the nginx worker user) reach a unix socket?  The ``sockets`` facts section.

For every path a ``namei -l``-like walk: each component's type, owner, group, mode and
POSIX ACL (decoded from the ``system.posix_acl_access`` xattr), and whether the user, with
all of its groups, may search each directory and write the socket.  The walk and the
permission decision are ``_access`` (``walk``, ``may_access``: the one "may this user reach
this path" of the collection); this module adds what a socket needs and the systemd side
(PrivateTmp, RuntimeDirectory, listeners).  Standard library only.
"""

from __future__ import annotations

import os
import pwd

from ansible_collections.badgateway.doctor.plugins.module_utils import _access
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

FALLBACK_USERS = ("www-data", "nginx", "nobody")


# ---------------------------------------------------------------- users

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

def walk_path(path, uid, gids, user, lstat=os.lstat, readlink=os.readlink, read_acl=_access.read_acl,
              user_name=None, group_name=None):
    """Walk ``path`` like ``namei -l`` (``_access.walk``) and decide what a socket needs at its
    end: the user may write it and it is a socket.

    Returns a ``SocketPath``-shaped dict without the unit/listener keys, plus a list of error
    entries.
    """
    result, errors, last = _access.walk(path, uid, gids, user, lstat=lstat, readlink=readlink, read_acl=read_acl,
                                        user_name=user_name, group_name=group_name)
    result["is_socket"] = False
    result["reachable"] = False
    if last is None:
        return result, errors
    here, st = last["comp"]["path"], last["st"]
    if last["type"] == "dir":
        if result["blocker"] is None:
            result["blocker"] = {"path": here, "reason": "%s is a directory, not a socket" % here}
        return result, errors
    last["comp"]["writable"] = _access.may_access(st.st_mode, st.st_uid, st.st_gid, uid, gids, "w", last["acl"])
    result["is_socket"] = last["type"] == "socket"
    if result["blocker"] is None:
        if not result["is_socket"]:
            result["blocker"] = {"path": here, "reason": "%s is a %s, not a socket" % (here, last["type"])}
        elif not last["comp"]["writable"]:
            result["blocker"] = {"path": here, "reason": "%s; %s cannot write it" % (last["desc"], user)}
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
        ident = _access.identity(user)  # the groups initgroups gives, primary first
        uid, gids, gnames = ident.uid, ident.gids, ident.groups
    except ValueError:
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
    cache = _access.Cache()
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


__all__ = ["collect_socket_paths", "walk_path", "unit_relations", "default_user"]
