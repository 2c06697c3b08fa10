# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore a remediation run from its backup store (target side, standard library only).

``restore_run(store)`` puts every path the run saved back as it was, newest save first (a file
created inside a directory the run created is removed before the directory): regular files
byte-identical with mode, owner, tracked extended attributes and mtime (written to a temporary
file in the same directory and renamed over the path), symbolic links with their target and owner,
directories with their mode and owner; paths that did not exist are removed (a directory only when
empty). A path already as saved is left alone, so restoring twice changes nothing the second time.

``undo_plan(manifest, restored)`` turns the run's recorded actions (and where the restored files
live) into what must be done to undo the run; ``_remediation_undo`` carries it out.
"""

from __future__ import annotations

import base64
import os
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_backup import (
    BackupError, XATTRS, current_state, in_nginx_tree, kind_of, needs_daemon_reload, now,
)

DIFF_MAX_BYTES = 64 * 1024  # larger or binary files: the diff says their size only; text is masked


def _describe(entry):
    if not entry.get("existed"):
        return "absent"
    bits = [entry.get("type") or "?"]
    if entry.get("mode"):
        bits.append("mode %s" % entry["mode"])
    if entry.get("owner") is not None:
        bits.append("owner %s:%s" % (entry.get("owner"), entry.get("group")))
    if entry.get("type") == "link":
        bits.append("-> %s" % entry.get("target"))
    return ", ".join(bits)


def _text(data):
    if data is None:
        return ""
    if len(data) > DIFF_MAX_BYTES or b"\0" in data:
        return "(%d bytes, not shown)\n" % len(data)
    return mask_text(data.decode("utf-8", "replace"))


def _diff(path, cur, cur_data, saved, saved_data):
    before = "# %s\n" % _describe(cur)
    after = "# %s\n" % _describe(saved)
    if cur.get("type") == "file" or saved.get("type") == "file":
        before += _text(cur_data if cur.get("type") == "file" else None)
        after += _text(saved_data if saved.get("type") == "file" else None)
    return {"before_header": "%s (now)" % path, "after_header": "%s (restored)" % path,
            "before": before, "after": after}


def _current(path):
    """current_state that does not refuse odd file types: those come back as ``{type: 'a FIFO'}``."""
    try:
        return current_state(path)
    except BackupError:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise BackupError("Cannot inspect %s: %s." % (path, exc.strerror or exc)) from None
        return {"path": path, "existed": True, "type": "other", "kind": kind_of(st), "mode": "%04o" % stat.S_IMODE(st.st_mode),
                "uid": st.st_uid, "gid": st.st_gid}, None


def _same_meta(cur, saved):
    return (cur.get("mode") == saved.get("mode") and cur.get("uid") == saved.get("uid")
            and cur.get("gid") == saved.get("gid"))


def _set_xattrs(target, saved, follow=True):
    """Make the tracked extended attributes of ``target`` (fd or path) equal to the saved ones."""
    wanted = saved.get("xattrs") or {}
    for name in XATTRS:
        try:
            if name in wanted:
                os.setxattr(target, name, base64.b64decode(wanted[name]), follow_symlinks=follow) if isinstance(target, str) \
                    else os.setxattr(target, name, base64.b64decode(wanted[name]))
            else:
                os.removexattr(target, name, follow_symlinks=follow) if isinstance(target, str) else os.removexattr(target, name)
        except OSError:
            if name in wanted and name != "security.selinux":
                raise
            # absent already (ENODATA), or a label this process may not set: the content and mode still count


def _ensure_parent(path):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755)


def write_file(path, saved, data):
    """Put the saved file back over ``path`` atomically (``_safe_io.write_atomic``: a hidden file beside it,
    which no include glob loads, renamed over it) with its owner, mode, extended attributes and mtime."""
    _ensure_parent(path)

    def finish(fd):
        _set_xattrs(fd, saved)
        if saved.get("mtime_ns"):
            os.utime(fd, ns=(saved["mtime_ns"], saved["mtime_ns"]))

    _safe_io.write_atomic(path, data, int(saved["mode"], 8), owner=(saved["uid"], saved["gid"]), finish=finish)


def _write_link(path, saved):
    _ensure_parent(path)
    _safe_io.replace_symlink(path, saved["target"], owner=(saved["uid"], saved["gid"]), mtime_ns=saved.get("mtime_ns"))


def _fix_directory(path, saved, exists):
    if not exists:
        _ensure_parent(path)
        os.mkdir(path, 0o700)
    os.chown(path, saved["uid"], saved["gid"], follow_symlinks=False)
    os.chmod(path, int(saved["mode"], 8))
    _set_xattrs(path, saved, follow=False)


def _remove(path, cur):
    if cur.get("type") == "directory":
        try:
            os.rmdir(path)
        except OSError as exc:
            raise BackupError("%s did not exist before the run and is a directory that is not empty now (%s); left in "
                              "place." % (path, exc.strerror or exc)) from None
    elif cur.get("type") in ("file", "link"):
        os.unlink(path)
    else:
        raise BackupError("%s did not exist before the run and is now %s; left in place." % (path, cur.get("type")))


def restore_entry(store, saved, check_mode=False):
    """Put one path back. Returns None when it is already as saved, else ``{path, change, diff}``."""
    path = saved["path"]
    cur, cur_data = _current(path)
    if not saved.get("existed"):
        if not cur.get("existed"):
            return None
        if not check_mode:
            _remove(path, cur)
        return {"path": path, "change": "removed", "diff": _diff(path, cur, cur_data, saved, None)}
    kind = saved.get("type")
    cur_type = cur.get("type") if cur.get("existed") else None
    if cur_type == "other" or (cur_type == "directory") != (kind == "directory") and cur_type is not None:
        raise BackupError("%s was a %s when saved and is now %s; not replaced."
                          % (path, kind, "something else (%s)" % cur.get("kind") if cur_type == "other" else "a " + cur_type))
    if kind == "file":
        data = store.read_blob(saved)
        if cur.get("type") == "file" and cur.get("sha256") == saved.get("sha256") and _same_meta(cur, saved) \
                and (cur.get("xattrs") or {}) == (saved.get("xattrs") or {}):
            return None
        change = "content" if cur.get("sha256") != saved.get("sha256") else "metadata"
        if not cur.get("existed"):
            change = "created"
        if not check_mode:
            write_file(path, saved, data)
        return {"path": path, "change": change, "diff": _diff(path, cur, cur_data, saved, data)}
    if kind == "link":
        if cur.get("type") == "link" and cur.get("target") == saved.get("target") and cur.get("uid") == saved.get("uid") \
                and cur.get("gid") == saved.get("gid"):
            return None
        if not check_mode:
            _write_link(path, saved)
        return {"path": path, "change": "link" if cur.get("existed") else "created",
                "diff": _diff(path, cur, cur_data, saved, None)}
    if kind == "directory":
        if cur.get("existed") and _same_meta(cur, saved) and (cur.get("xattrs") or {}) == (saved.get("xattrs") or {}):
            return None
        if not check_mode:
            _fix_directory(path, saved, cur.get("existed"))
        return {"path": path, "change": "metadata" if cur.get("existed") else "created",
                "diff": _diff(path, cur, cur_data, saved, None)}
    raise BackupError("The manifest entry for %s has an unknown type %r." % (path, kind))


def restore_files(store, manifest, check_mode=False):
    """Restore every saved path, newest save first. Returns ``(changes, errors)``; a path that cannot be
    restored is an error entry and the others are still restored."""
    changes = []
    errors = []
    for saved in reversed(manifest.get("files") or []):
        try:
            change = restore_entry(store, saved, check_mode)
        except BackupError as exc:
            errors.append({"path": saved.get("path"), "message": str(exc)})
            continue
        except OSError as exc:
            errors.append({"path": saved.get("path"), "message": "Cannot restore %s: %s." % (saved.get("path"), exc.strerror or exc)})
            continue
        if change:
            changes.append(change)
    return changes, errors


def _is_nginx_unit(unit):
    return unit.split(".")[0] in ("nginx", "openresty", "angie", "tengine")


def _was_active(action):
    before = action.get("before") or {}
    state = before.get("active_state")
    return None if state is None else state in ("active", "activating", "reloading")


def _stop_again(plan, add, action, unit):
    """Stop a unit the run started; a unit that was merely inactive before (not failed) also leaves the
    failed state a crash loop after the start may have put it in, so that it is exactly as before."""
    add("stop", unit)
    if ((action.get("before") or {}).get("active_state") or "inactive") != "failed":
        add("reset_failed", unit)


def undo_plan(manifest, changed_paths):
    """What undoes the run: ``{daemon_reload, groups_remove, disable, stop, reset_failed, start, restart, reload,
    nginx_reload, nginx_unit, containers_stop}``. Actions already undone by an earlier restore are skipped.
    ``containers_stop`` (only when the run started containers): ``[{container, engine}]`` the run started (or
    restarted) that were not running before; a restart of a container that was running is not undone (no file of it
    changed)."""
    plan = {"daemon_reload": False, "groups_remove": [], "disable": [], "stop": [], "reset_failed": [], "start": [],
            "restart": [], "reload": [], "nginx_reload": False, "nginx_unit": "nginx.service"}

    def add(key, value):
        if value not in plan[key]:
            plan[key].append(value)

    for action in manifest.get("actions") or []:
        if action.get("undone"):
            continue
        kind, unit = action.get("kind"), action.get("unit")
        if kind == "daemon_reload":
            plan["daemon_reload"] = True
        elif kind == "group_added":
            add("groups_remove", {"user": action.get("user"), "group": action.get("group")})
        elif kind == "enabled":
            before = (action.get("before") or {}).get("unit_file_state")
            if before not in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated"):
                add("disable", unit)
        elif kind == "started":
            if _was_active(action) is not True:
                _stop_again(plan, add, action, unit)
        elif kind == "stopped":
            if _was_active(action) is not False:
                add("start", unit)
        elif kind == "restarted":
            if _was_active(action) is not False:
                add("restart", unit)
            else:
                _stop_again(plan, add, action, unit)
        elif kind in ("container_started", "container_restarted"):
            running = (action.get("before") or {}).get("running")
            if running is False:
                plan.setdefault("containers_stop", [])
                add("containers_stop", {"container": action.get("container"), "engine": action.get("engine")})
            elif running is None:
                # the engine could not be asked before the run: it may have been running; never stop it on a guess
                plan.setdefault("containers_kept", [])
                add("containers_kept", {"container": action.get("container"), "engine": action.get("engine")})
        elif kind == "reloaded":
            if _is_nginx_unit(unit):
                plan["nginx_reload"] = True
                plan["nginx_unit"] = unit
            else:
                add("reload", unit)
    for path in changed_paths:
        if needs_daemon_reload(path):
            plan["daemon_reload"] = True
        if in_nginx_tree(path):
            plan["nginx_reload"] = True
    # a unit both restarted and stopped by the undo: the stop wins (it was not running before)
    plan["restart"] = [u for u in plan["restart"] if u not in plan["stop"]]
    return plan


def plan_is_empty(plan):
    return not any(plan.get(k) for k in ("daemon_reload", "groups_remove", "disable", "stop", "start", "restart", "reload",
                                         "nginx_reload", "containers_stop", "containers_kept"))


def mark_restored(store, changes, undone):
    """Append a restore record to the manifest and flag the undone actions (under the store's lock)."""
    with store:
        manifest = store.load()
        manifest["restores"].append({"at": now(), "restored": [c["path"] for c in changes]})
        if undone:
            stamp = now()
            for action in manifest["actions"]:
                if not action.get("undone"):
                    action["undone"] = stamp
        store.write(manifest)
