# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of the nginx edit engine: in-place writes with byte-identical restores, and the line
map that lets a second run of the same edits find the directives it already changed.

Standard library only (runs on the target).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os

from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_backup import BackupError, current_state
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_restore import write_file

LINES_FILE = "nginx_edit-lines.json"
LINES_VERSION = 1


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Transaction(object):
    """Files written by one run, to put back exactly as they were when anything goes wrong.

    Writes go through the backup store's writer (``_remediation_restore.write_file``, which is
    ``_safe_io.write_atomic``): a hidden temporary file in the same directory (which no include
    glob loads) renamed over the file, with its owner, mode and ACL / SELinux extended
    attributes; a restore also puts back its modification time.
    """

    def __init__(self, read):
        self.read = read
        self.written = []   # (path, original bytes, original state)

    def write(self, path, old, new):
        state, data = current_state(path)
        if state.get("type") != "file":
            raise OSError(errno.EINVAL, "%s is not a regular file" % path)
        if data != old:
            raise OSError(errno.EAGAIN, "%s changed while it was being edited" % path)
        write_file(path, dict(state, mtime_ns=None), new)
        self.written.append((path, old, state))

    def restore(self):
        """Put every written file back byte-identical (content, mode, owner, attributes, mtime).
        Returns ``(restored paths, error sentences)``."""
        restored = []
        errors = []
        for path, old, state in reversed(self.written):
            try:
                write_file(path, state, old)
                if sha256(self.read(path)) != sha256(old):
                    errors.append("%s: the restored content differs from the original" % path)
                else:
                    restored.append(path)
            except (OSError, ValueError, BackupError) as exc:
                errors.append("cannot restore %s: %s" % (path, exc))
        self.written = []
        return restored, errors


# --------------------------------------------------------------------------- line map

def edit_key(edit):
    """A stable key for one edit request (its file, line and everything it asks)."""
    return sha256(json.dumps(edit, sort_keys=True, default=str).encode("utf-8"))


def load_lines(path, read):
    """The line map (``{files: {real path: {sha256, edits: {key: line}}}}``); empty when absent or unreadable."""
    try:
        data = json.loads(read(path).decode("utf-8"))
    except (OSError, ValueError):
        return {"version": LINES_VERSION, "files": {}}
    if not isinstance(data, dict) or data.get("version") != LINES_VERSION or not isinstance(data.get("files"), dict):
        return {"version": LINES_VERSION, "files": {}}
    return data


def moved_lines(state, edits, current):
    """``{edit index: line}`` for edits this engine already applied to a file that has not changed
    since (its hash is the one written then): the line the directive is on now.

    ``current``: ``{real path: bytes}`` of the files as they are now.
    """
    out = {}
    for index, edit in enumerate(edits):
        if not isinstance(edit, dict) or not isinstance(edit.get("file"), str):
            continue
        real = os.path.realpath(edit["file"])
        entry = state["files"].get(real)
        data = current.get(real)
        if not isinstance(entry, dict) or data is None or entry.get("sha256") != sha256(data):
            continue
        line = (entry.get("edits") or {}).get(edit_key(edit))
        if isinstance(line, int) and line > 0:
            out[index] = line
    return out


def update_lines(state, edits, plan, changed):
    """The line map after ``plan`` wrote ``changed`` (``{real path: (old, new)}``)."""
    files = dict(state["files"])
    by_file = {}
    for edit, result in zip(edits, plan.results):
        by_file.setdefault(os.path.realpath(edit["file"]), []).append((edit_key(edit), result["new_line"]))
    for real, (old, new) in changed.items():
        doc = plan.docs[real]
        entry = files.get(real)
        moved = {}
        if isinstance(entry, dict) and entry.get("sha256") == sha256(old):
            for key, line in (entry.get("edits") or {}).items():
                if isinstance(line, int) and line > 0:
                    moved[key] = doc.new_line(line)
        for key, line in by_file.get(real, ()):
            moved[key] = line
        files[real] = {"sha256": sha256(new), "edits": moved}
    return {"version": LINES_VERSION, "files": files}


def save_lines(path, state):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    data = json.dumps(state, sort_keys=True, indent=1).encode("utf-8")
    write_file(path, {"uid": os.geteuid(), "gid": os.getegid(), "mode": "0600"}, data)
