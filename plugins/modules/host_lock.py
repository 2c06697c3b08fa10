#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: host_lock
short_description: Hold a named lock on the host for the length of a run (one remediation per host at a time)
version_added: 0.2.0
description:
  - A lock file per O(name) under O(lock_dir) records which run (O(run_id)) holds it and since when.
    O(state=acquired) takes it, or fails saying which run holds it, since when and when that lock becomes stale.
    O(state=released) gives it back.
  - Acquiring again with the same O(run_id) keeps the lock and refreshes its time (a long run calls it again
    to show it is alive).
  - A lock not refreshed for O(stale_after) seconds is stale (its run crashed or lost the connection); the next
    run takes it over and returns the old one in RV(previous). O(force=true) takes or removes any lock.
  - The check of the holder and the write happen under an exclusive C(flock) of a guard file, so two runs
    started at the same moment never both get the lock.
  - Check mode is honest - it writes nothing, reports whether the lock would be taken, refreshed or released,
    and fails like a real run when another run holds the lock.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  name:
    description: Name of the lock (1-64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit).
    type: str
    default: remediate
  run_id:
    description:
      - The run that takes or gives back the lock (1-128 letters, digits, C(.), C(_) or C(-), starting with a
        letter or digit).
    type: str
    required: true
  state:
    description: V(acquired) takes (or refreshes) the lock, V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  stale_after:
    description:
      - Seconds after its last refresh after which another run's lock is stale and may be taken over.
        V(0) means a lock never becomes stale (only O(force=true) removes it).
    type: int
    default: 3600
  force:
    description:
      - With O(state=acquired), take the lock even when another run holds it. With O(state=released), remove the
        lock whichever run holds it. For an operator who knows the other run is gone.
    type: bool
    default: false
  description:
    description: A short text stored with the lock and shown to a run that finds it taken (who started the run, from where).
    type: str
    default: ''
  lock_dir:
    description:
      - Directory of the lock files, created (mode 0700) when missing. It must be a real directory (not a link)
        owned by the user the module runs as and not writable by group or others, or the module refuses it.
      - The default is under C(/run), so a reboot releases every lock.
    type: path
    default: /run/lock/badgateway-doctor
attributes:
  check_mode:
    details: Writes nothing; fails like a real run when another run holds the lock.
  idempotent:
    details: Acquiring a lock the run already holds only refreshes its time (not a change); releasing a lock not held changes nothing.
notes:
  - Runs on the target with the Python standard library only.
  - The C(badgateway.doctor.remediate) playbook takes the lock before it diagnoses a host and gives it back at the end,
    also when the run fails.
seealso:
  - module: badgateway.doctor.remediation_backup
"""

EXAMPLES = r"""
- name: Take the remediation lock of this host (fails when another run holds it)
  badgateway.doctor.host_lock:
    run_id: "{{ badgateway_run_id }}"
    description: "{{ lookup('ansible.builtin.env', 'USER') }} from {{ lookup('ansible.builtin.pipe', 'hostname') }}"

- name: Give it back
  badgateway.doctor.host_lock:
    run_id: "{{ badgateway_run_id }}"
    state: released

- name: An operator clears the lock of a run that is known to be gone
  badgateway.doctor.host_lock:
    run_id: manual-cleanup
    state: released
    force: true
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
  sample: /run/lock/badgateway-doctor/remediate.lock
lock:
  description: The lock as it is now (would be, in check mode); null when nobody holds it.
  returned: always
  type: dict
  sample: {"name": "remediate", "run_id": "20261204T101500Z-4711", "acquired": 1764843300.1, "refreshed": 1764843300.1,
           "description": "ops from bastion", "hostname": "web1"}
previous:
  description: The lock of another run that was taken over (stale, or O(force)) or removed; null otherwise.
  returned: always
  type: dict
  sample: null
stale:
  description: Whether the lock found (held by another run) was stale.
  returned: always
  type: bool
  sample: false
"""

import fcntl
import json
import os
import re
import socket
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_LOCK_BYTES = 65536
GUARD_WAIT = 10.0


class LockError(Exception):
    pass


def _iso(ts):
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(ts)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def check_dir(path):
    """Create ``path`` (0700) when missing; refuse a link, a non-directory, another owner or group/other write."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise LockError("Cannot create the lock directory %s: %s." % (path, exc.strerror or exc))
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise LockError("The lock directory %s is not a directory (a link or a file): refusing it." % path)
    if st.st_uid != os.geteuid():
        raise LockError("The lock directory %s belongs to uid %d, not to this user (uid %d): someone else could hold or fake "
                        "the lock; remove it or choose another lock_dir." % (path, st.st_uid, os.geteuid()))
    if st.st_mode & 0o022:
        raise LockError("The lock directory %s is writable by group or others (mode %04o): refusing it."
                        % (path, stat.S_IMODE(st.st_mode)))


def read_lock(path):
    """The lock record at ``path``, None when there is none. An unreadable record counts as held since its mtime."""
    try:
        data = _safe_io.read_bytes(path, MAX_LOCK_BYTES, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except _safe_io.TooLarge:
        data = b""
    except OSError as exc:
        raise LockError("Refusing the lock file: %s." % exc) from None
    try:
        mtime = os.lstat(path).st_mtime
    except OSError:
        mtime = time.time()
    try:
        rec = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        rec = None
    if not isinstance(rec, dict) or not isinstance(rec.get("run_id"), str):
        return {"run_id": "(unreadable lock file)", "acquired": mtime, "refreshed": mtime, "description": ""}
    for key in ("acquired", "refreshed"):
        if not isinstance(rec.get(key), (int, float)) or isinstance(rec.get(key), bool):
            rec[key] = mtime
    return rec


def write_lock(path, rec):
    _safe_io.write_atomic(path, json.dumps(rec, sort_keys=True) + "\n", 0o644)


class Guard:
    """An exclusive flock on ``<lock_dir>/.<name>.guard`` for the check-and-write."""

    def __init__(self, path, wait=GUARD_WAIT):
        self.path = path
        self.wait = wait
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise LockError("Another run kept %s locked for more than %d s." % (self.path, self.wait))
                time.sleep(0.05)

    def __exit__(self, *exc):
        os.close(self.fd)


def held_text(rec, now, stale_after):
    age = max(0.0, now - float(rec.get("refreshed") or 0))
    text = "run %s since %s (last refreshed %d s ago%s)" % (
        rec.get("run_id"), _iso(rec.get("acquired")), age,
        (", " + str(rec.get("description"))[:200]) if rec.get("description") else "")
    if stale_after > 0:
        text += "; it becomes stale at %s" % _iso(float(rec.get("refreshed") or 0) + stale_after)
    return text


def run(p, check_mode, now=None):
    """The module's work; returns the result dict (``failed`` set on a lock held by another run)."""
    now = time.time() if now is None else now
    if not _NAME.match(p["name"]):
        raise LockError("Option name=%r is not a lock name (1-64 letters, digits, '.', '_' or '-')." % p["name"][:80])
    if not _RUN_ID.match(p["run_id"]):
        raise LockError("Option run_id=%r is not a run id (1-128 letters, digits, '.', '_' or '-')." % p["run_id"][:140])
    if p["stale_after"] < 0:
        raise LockError("Option stale_after must be 0 (never stale) or positive, got %d." % p["stale_after"])
    check_dir(p["lock_dir"])
    path = os.path.join(p["lock_dir"], p["name"] + ".lock")
    result = {"changed": False, "path": path, "lock": None, "previous": None, "stale": False}
    with Guard(os.path.join(p["lock_dir"], "." + p["name"] + ".guard")):
        cur = read_lock(path)
        mine = cur is not None and cur.get("run_id") == p["run_id"]
        stale = (cur is not None and not mine and p["stale_after"] > 0
                 and now - float(cur.get("refreshed") or 0) > p["stale_after"])
        result["stale"] = bool(stale)
        if p["state"] == "released":
            if cur is None:
                result["msg"] = "The %s lock is not held." % p["name"]
            elif mine or p["force"]:
                if not mine:
                    result["previous"] = cur
                if not check_mode:
                    os.unlink(path)
                result.update(changed=True, msg="Released the %s lock%s." % (
                    p["name"], "" if mine else " of " + held_text(cur, now, p["stale_after"])))
            else:
                result.update(lock=cur, msg="The %s lock is held by %s, not by run %s: left as it is."
                              % (p["name"], held_text(cur, now, p["stale_after"]), p["run_id"]))
                result["warnings"] = [result["msg"]]
            return result
        if cur is not None and not mine and not stale and not p["force"]:
            holder = held_text(cur, now, p["stale_after"])
            result.update(failed=True, lock=cur, msg="The %s lock on %s is held by %s. Wait for that run, or if it is gone, "
                          "release it with state=released force=true." % (p["name"], socket.gethostname(), holder))
            return result
        rec = {"name": p["name"], "run_id": p["run_id"], "acquired": cur["acquired"] if mine else now, "refreshed": now,
               "description": p["description"][:200], "hostname": socket.gethostname()}
        if not check_mode:
            write_lock(path, rec)
        result["lock"] = rec
        if mine:
            result["msg"] = "Run %s already holds the %s lock; refreshed it." % (p["run_id"], p["name"])
        else:
            result["changed"] = True
            result["msg"] = "Acquired the %s lock for run %s." % (p["name"], p["run_id"])
            if cur is not None:
                result["previous"] = cur
                result["warnings"] = ["Took over the %s lock of %s (%s)." % (
                    p["name"], held_text(cur, now, p["stale_after"]), "stale" if stale else "force=true")]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="remediate"),
            run_id=dict(type="str", required=True),
            state=dict(type="str", default="acquired", choices=["acquired", "released"]),
            stale_after=dict(type="int", default=3600),
            force=dict(type="bool", default=False),
            description=dict(type="str", default=""),
            lock_dir=dict(type="path", default="/run/lock/badgateway-doctor"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except LockError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        where = getattr(exc, "filename", None) or "-"
        module.fail_json(msg="Lock %s in %s: %s (%s)." % (module.params["name"], module.params["lock_dir"], exc.strerror or exc, where))
    warnings = result.pop("warnings", [])
    for w in warnings:
        module.warn(w)
    if result.get("failed"):
        result.pop("failed")
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
