# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run-scoped backup store of the remediation roles (target side, standard library only).

One run = one directory ``<backup_dir>/<run_id>/`` holding ``manifest.json`` and ``files/NNNN``
(the saved contents, mode 0600). The manifest lists every saved path (its original state: a
regular file with its bytes, mode, owner and ACL/SELinux extended attributes; a symbolic link and
its target; a directory's mode and owner; or "absent") and every action the run took (units
started / restarted / reloaded, daemon-reload, group memberships added, units enabled).

The first save of a path in a run wins: it is the original. ``restore_run`` puts every saved path
back as it was (files byte-identical with mode, owner, extended attributes and mtime; paths that
did not exist removed) and returns the actions that undo what the run did; the undo itself is in
``_remediation_undo``.

Backups are never written inside nginx's, systemd's or PHP-FPM's configuration trees: a backup
next to the original (``site.conf.bak``) is loaded by ``include sites-enabled/*;`` or
``pool.d/*.conf``, and a unit file copy is a unit.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
MAX_FILE_BYTES = 16 * 1024 * 1024
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

NGINX_TREES = ("/etc/nginx", "/usr/local/nginx/conf", "/usr/local/etc/nginx", "/etc/openresty",
               "/usr/local/openresty/nginx/conf", "/opt/nginx/conf")
SYSTEMD_TREES = ("/etc/systemd", "/run/systemd", "/lib/systemd", "/usr/lib/systemd", "/usr/local/lib/systemd")
PHP_FPM_TREES = ("/etc/php", "/etc/php-fpm.d", "/etc/php-fpm.conf", "/usr/local/etc/php-fpm.d")
SYSTEM_TREES = ("/proc", "/sys", "/dev")
# extended attributes saved and restored with a file (POSIX ACLs and the SELinux label)
XATTRS = ("system.posix_acl_access", "system.posix_acl_default", "security.selinux")
ACTION_KINDS = ("started", "restarted", "reloaded", "stopped", "daemon_reload", "group_added", "enabled",
                "container_started", "container_restarted")
# container actions name the container (id) and the engine's API socket instead of a unit
CONTAINER_KINDS = ("container_started", "container_restarted")


class BackupError(Exception):
    """A refusal or failure with a message that names the object and the cause."""


# ---------------------------------------------------------------- paths and validation

def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inside(path, root):
    """True when ``path`` is ``root`` or below it (both normalized, absolute)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _real(path):
    return os.path.realpath(path)


def protected_trees(extra=()):
    """``[(tree, why)]`` of the directories a backup must never be written into."""
    trees = [(t, "nginx's configuration tree") for t in NGINX_TREES]
    trees += [(t, "systemd's unit directories") for t in SYSTEMD_TREES]
    trees += [(t, "PHP-FPM's configuration (pool.d/*.conf is included)") for t in PHP_FPM_TREES]
    trees += [(t, "a kernel file system") for t in SYSTEM_TREES]
    trees += [(os.path.normpath(t), "a protected directory given in protected_dirs") for t in extra or () if t]
    return trees


def check_backup_dir(backup_dir, extra_protected=()):
    """Return the normalized absolute backup directory or raise BackupError."""
    if not backup_dir or not os.path.isabs(backup_dir):
        raise BackupError("backup_dir must be an absolute path, got %r." % (backup_dir,))
    norm = os.path.normpath(backup_dir)
    if norm == "/":
        raise BackupError("backup_dir must not be the root directory.")
    real = _real(norm)
    for tree, why in protected_trees(extra_protected):
        for candidate in (norm, real):
            if inside(candidate, tree) or inside(candidate, _real(tree)):
                raise BackupError("Refusing backup_dir %s: it is inside %s, %s; a backup there would be loaded as "
                                  "configuration. Use a directory such as /var/lib/badgateway-doctor/backups."
                                  % (backup_dir, tree, why))
    return norm


def check_run_id(run_id):
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise BackupError("run_id %r is not valid: use 1-128 letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit." % (run_id,))
    return run_id


def check_path(path, backup_dir):
    if not isinstance(path, str) or not path or not os.path.isabs(path) or "\0" in path:
        raise BackupError("Cannot save %r: paths must be absolute." % (path,))
    norm = os.path.normpath(path)
    if norm == "/":
        raise BackupError("Cannot save the root directory.")
    if inside(norm, backup_dir) or inside(_real(norm), _real(backup_dir)):
        raise BackupError("Cannot save %s: it is inside the backup directory %s." % (norm, backup_dir))
    return norm


def needs_daemon_reload(path):
    return any(inside(path, t) for t in SYSTEMD_TREES)


def in_nginx_tree(path):
    return any(inside(path, t) for t in NGINX_TREES)


# ---------------------------------------------------------------- reading the current state

def _name(getter, number):
    try:
        return getter(number)[0]
    except (KeyError, OverflowError):
        return str(number)


def _xattrs(target):
    """Tracked extended attributes of a path or an fd as ``{name: base64}``; {} where unsupported."""
    out = {}
    for name in XATTRS:
        try:
            value = os.getxattr(target, name, follow_symlinks=False) if isinstance(target, str) else os.getxattr(target, name)
        except OSError:
            continue  # ENODATA (not set), ENOTSUP (file system without xattrs), EPERM
        out[name] = base64.b64encode(value).decode("ascii")
    return out


def _meta(st):
    return {
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "mtime_ns": st.st_mtime_ns,
    }


def kind_of(st):
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    for test, what in ((stat.S_ISSOCK, "a socket"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(st.st_mode):
            return what
    return "of an unknown type"


def read_file(path, max_bytes=None, expect=None):
    """``(bytes, stat, xattrs)`` of a regular file, through the one safe reader; raise BackupError
    otherwise. ``expect`` (an ``lstat`` result): the file opened must be that one (not a symlink or
    another file swapped in since)."""
    max_bytes = max_bytes or MAX_FILE_BYTES
    try:
        fh = _safe_io.open_regular(path)
    except OSError as exc:
        raise BackupError("Cannot save %s: %s." % (path, getattr(exc, "reason", None) or exc.strerror or exc)) from None
    with fh:
        st = os.fstat(fh.fileno())
        if expect is not None and (st.st_dev, st.st_ino) != (expect.st_dev, expect.st_ino):
            raise BackupError("Cannot save %s: it changed while being saved." % path)
        if st.st_size > max_bytes:
            raise BackupError("Cannot save %s: it is larger than %d MiB (the cap)." % (path, max_bytes // 1048576))
        data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise BackupError("Cannot save %s: it grew beyond %d MiB while being read." % (path, max_bytes // 1048576))
        return data, st, _xattrs(fh.fileno())


def current_state(path):
    """The state of ``path`` as a manifest entry would record it (without the blob)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"path": path, "existed": False, "type": None}, None
    except OSError as exc:
        raise BackupError("Cannot inspect %s: %s." % (path, exc.strerror or exc)) from None
    kind = kind_of(st)
    entry = {"path": path, "existed": True, "type": kind}
    if kind == "file":
        data, st, xattrs = read_file(path, expect=st)
        entry.update(_meta(st))
        entry.update({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "xattrs": xattrs})
        return entry, data
    if kind == "link":
        entry.update(_meta(st))
        entry["target"] = os.readlink(path)
        return entry, None
    if kind == "directory":
        entry.update(_meta(st))
        entry["xattrs"] = _xattrs(path)
        return entry, None
    raise BackupError("Cannot save %s: it is %s; only regular files, symbolic links and directories can be saved."
                      % (path, kind))


# ---------------------------------------------------------------- the store

class Store:
    """One run's directory: ``<backup_dir>/<run_id>/``."""

    def __init__(self, backup_dir, run_id, extra_protected=()):
        self.backup_dir = check_backup_dir(backup_dir, extra_protected)
        self.run_id = check_run_id(run_id)
        self.run_dir = os.path.join(self.backup_dir, self.run_id)
        self.manifest_path = os.path.join(self.run_dir, MANIFEST)
        self._lock_fd = None

    # -- manifest
    def empty_manifest(self):
        return {"version": MANIFEST_VERSION, "run_id": self.run_id, "created": None, "files": [], "actions": [],
                "restores": []}

    def exists(self):
        return os.path.isfile(self.manifest_path)

    def load(self):
        if not self.exists():
            return self.empty_manifest()
        try:
            data = json.loads(_safe_io.read_bytes(self.manifest_path, MAX_FILE_BYTES).decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise BackupError("The manifest %s cannot be read: %s." % (self.manifest_path, exc)) from None
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise BackupError("The manifest %s is not a version %d manifest." % (self.manifest_path, MANIFEST_VERSION))
        for key in ("files", "actions", "restores"):
            if not isinstance(data.get(key), list):
                data[key] = []
        return data

    def write(self, manifest):
        self._ensure_dirs()
        _safe_io.write_atomic(self.manifest_path, json.dumps(manifest, indent=1, sort_keys=True), 0o600)

    def _ensure_dirs(self):
        for d in (self.backup_dir, self.run_dir, os.path.join(self.run_dir, "files")):
            try:
                os.makedirs(d, mode=0o700)
            except FileExistsError:
                if not os.path.isdir(d) or os.path.islink(d):
                    raise BackupError("%s exists and is not a directory." % d) from None

    # -- lock (two tasks of one run must not interleave their manifest writes)
    def __enter__(self):
        self._ensure_dirs()
        self._lock_fd = os.open(os.path.join(self.run_dir, ".lock"), os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        return False

    # -- blobs
    def blob_path(self, entry):
        name = entry.get("blob") or ""
        if not re.match(r"^files/[0-9]{4,}$", name):
            raise BackupError("The manifest entry for %s names no valid backup file." % entry.get("path"))
        return os.path.join(self.run_dir, name)

    def read_blob(self, entry):
        path = self.blob_path(entry)
        try:
            data = _safe_io.read_bytes(path, MAX_FILE_BYTES)
        except OSError as exc:
            raise BackupError("The backup of %s cannot be read: %s." % (entry["path"], exc)) from None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise BackupError("The backup of %s (%s) does not match its checksum; not restoring it." % (entry["path"], path))
        return data

    def new_blob(self, manifest, data):
        number = 1 + len([f for f in manifest["files"] if f.get("blob")])
        name = "files/%04d" % number
        while os.path.exists(os.path.join(self.run_dir, name)):
            number += 1
            name = "files/%04d" % number
        _safe_io.write_new(os.path.join(self.run_dir, name), data, 0o600)
        return name


# ---------------------------------------------------------------- save / record

def public_entry(entry):
    """A manifest entry as modules return it (no internal blob name, no mtime)."""
    return {k: v for k, v in entry.items() if k not in ("blob", "mtime_ns", "xattrs")}


def save_paths(store, paths, check_mode=False):
    """Save each path's original state once per run. Returns ``(saved, already_saved)`` lists of
    entries (public form). In check mode nothing is written; the entries say what would be saved."""
    norm = []
    for path in paths:
        p = check_path(path, store.backup_dir)
        if p not in norm:
            norm.append(p)
    manifest = store.load()
    known = {f["path"] for f in manifest["files"]}
    todo = [p for p in norm if p not in known]
    already = [public_entry(f) for f in manifest["files"] if f["path"] in norm]
    if check_mode or not todo:
        saved = []
        for p in todo:
            entry, _data = current_state(p)
            saved.append(public_entry(entry))
        return saved, already
    saved = []
    with store:
        manifest = store.load()  # again, under the lock
        known = {f["path"] for f in manifest["files"]}
        if manifest["created"] is None:
            manifest["created"] = now()
        for p in todo:
            if p in known:
                continue
            entry, data = current_state(p)
            if data is not None:
                entry["blob"] = store.new_blob(manifest, data)
            entry["saved"] = now()
            manifest["files"].append(entry)
            known.add(p)
            saved.append(public_entry(entry))
        store.write(manifest)
    return saved, already


def action_key(action):
    return (action.get("kind"), action.get("unit") or None, action.get("user") or None, action.get("group") or None,
            action.get("container") or None)


def normalize_action(action):
    if not isinstance(action, dict):
        raise BackupError("action must be a dict with a kind, got %r." % (action,))
    kind = action.get("kind")
    if kind not in ACTION_KINDS:
        raise BackupError("action kind %r is not one of %s." % (kind, ", ".join(ACTION_KINDS)))
    out = {"kind": kind}
    for key in ("unit", "user", "group", "container", "engine"):
        value = action.get(key)
        if value not in (None, ""):
            if not isinstance(value, str) or "\n" in value or "\0" in value:
                raise BackupError("action %s %r is not a valid name." % (key, value))
            out[key] = value
    if kind in ("started", "restarted", "reloaded", "stopped", "enabled") and "unit" not in out:
        raise BackupError("action %s needs a unit." % kind)
    if kind == "group_added" and not ("user" in out and "group" in out):
        raise BackupError("action group_added needs a user and a group.")
    if kind in CONTAINER_KINDS and "container" not in out:
        raise BackupError("action %s needs a container." % kind)
    if "engine" in out and not out["engine"].startswith("/"):
        raise BackupError("action engine %r is not an absolute socket path." % out["engine"])
    return out


def record_action(store, action, before=None, check_mode=False):
    """Record an action once per run. Returns ``(entry, new)``."""
    entry = normalize_action(action)
    manifest = store.load()
    for existing in manifest["actions"]:
        if action_key(existing) == action_key(entry):
            return existing, False
    if before:
        entry["before"] = before
    entry["recorded"] = now()
    if check_mode:
        return entry, True
    with store:
        manifest = store.load()
        for existing in manifest["actions"]:
            if action_key(existing) == action_key(entry):
                return existing, False
        if manifest["created"] is None:
            manifest["created"] = now()
        manifest["actions"].append(entry)
        store.write(manifest)
    return entry, True
