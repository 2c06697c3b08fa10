# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``releases/<id>`` + ``current`` layout (ansistrano, community.general.deploy_helper, Capistrano).

Standard library only. Read side: which release ``current`` points to (read from the link, never
guessed from mtimes), the releases in natural name order, the release history this collection
records next to ``current``, the previous release (from that history, else the one before the
current in name order), the migration files each release carries, and whether a user (the unit's)
can read a release. Write side: switch ``current`` atomically (a new link beside it, then
``rename(2)`` over the old one) and append to the history.

Problems with the layout are sentences in ``problems`` (the caller refuses to act on them);
nothing here raises for bad host state.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils import _access, _safe_io

HISTORY_NAME = ".badgateway-releases.json"
HISTORY_MAX_BYTES = 1024 * 1024
HISTORY_KEEP = 200
MAX_RELEASES = 10000
MAX_WALK = 200000          # directory entries looked at per release when collecting migrations
DEFAULT_MIGRATION_GLOBS = ("*/migrations/*.py",)
DEFAULT_MIGRATION_EXCLUDE = ("*/__init__.py", ".git/*", "node_modules/*", "venv/*", ".venv/*", "*/site-packages/*",
                             "*/__pycache__/*")
# the options every releases module takes (documented in the badgateway.doctor.releases doc fragment)
LAYOUT_ARGS = dict(
    path=dict(type="path", required=True),
    releases_dir=dict(type="str", default="releases"),
    current_link=dict(type="str", default="current"),
    history_file=dict(type="path"),
)
_ID_RE = re.compile(r"^[^/\x00]{1,255}$")


def natural_key(name):
    """Sort key putting ``v9`` before ``v10`` and ``20240101T1200`` in time order."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part != ""]


def valid_id(release):
    return bool(isinstance(release, str) and _ID_RE.match(release) and release not in (".", ".."))


def paths(root, releases_dir="releases", current_link="current", history_file=None):
    """Absolute paths of the layout: (root, releases path, current link, history file)."""
    root = os.path.normpath(root)
    rel = releases_dir if os.path.isabs(releases_dir) else os.path.join(root, releases_dir)
    cur = current_link if os.path.isabs(current_link) else os.path.join(root, current_link)
    hist = history_file or os.path.join(root, HISTORY_NAME)
    if not os.path.isabs(hist):
        hist = os.path.join(root, hist)
    return root, os.path.normpath(rel), os.path.normpath(cur), os.path.normpath(hist)


def list_releases(releases_path, problems):
    """Release ids (directories, not following symlinks) in natural order."""
    try:
        with os.scandir(releases_path) as it:
            names = []
            for entry in it:
                if len(names) >= MAX_RELEASES:
                    problems.append("%s holds more than %d entries; only the first %d were read" % (releases_path, MAX_RELEASES, MAX_RELEASES))
                    break
                try:
                    if entry.is_dir(follow_symlinks=False) and valid_id(entry.name):
                        names.append(entry.name)
                except OSError:
                    continue
    except FileNotFoundError:
        problems.append("the releases directory %s does not exist" % releases_path)
        return []
    except NotADirectoryError:
        problems.append("the releases path %s is not a directory" % releases_path)
        return []
    except PermissionError:
        problems.append("the releases directory %s is not readable (permission denied)" % releases_path)
        return []
    except OSError as exc:
        problems.append("the releases directory %s cannot be read: %s" % (releases_path, exc.strerror or exc))
        return []
    return sorted(names, key=natural_key)


def read_current(current_link, releases_path, problems):
    """{id, path, target} of the release ``current`` points to, or None (with a problem sentence)."""
    try:
        st = os.lstat(current_link)
    except FileNotFoundError:
        problems.append("%s does not exist: there is no current release" % current_link)
        return None
    except OSError as exc:
        problems.append("%s cannot be inspected: %s" % (current_link, exc.strerror or exc))
        return None
    if not stat.S_ISLNK(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a symlink"
        problems.append("%s is %s, not a symlink to a release: this is not a releases/<id> + current layout" % (current_link, kind))
        return None
    try:
        target = os.readlink(current_link)
    except OSError as exc:
        problems.append("%s cannot be read: %s" % (current_link, exc.strerror or exc))
        return None
    resolved = os.path.normpath(os.path.join(os.path.dirname(current_link), target))
    parent, release = os.path.split(resolved)
    if os.path.realpath(parent) != os.path.realpath(releases_path) or not valid_id(release):
        problems.append("%s points to %s, which is not a release directory under %s" % (current_link, target, releases_path))
        return None
    info = {"id": release, "path": os.path.join(releases_path, release), "target": target}
    try:
        if not stat.S_ISDIR(os.stat(info["path"]).st_mode):
            problems.append("%s points to %s, which is not a directory" % (current_link, target))
            return None
    except FileNotFoundError:
        problems.append("%s points to %s, which does not exist (a dangling link)" % (current_link, target))
        return None
    except OSError as exc:
        problems.append("%s points to %s, which cannot be inspected: %s" % (current_link, target, exc.strerror or exc))
        return None
    return info


def read_history(history_path, problems):
    """The recorded history (oldest first): [{release, event, at, from?}]; [] when there is none."""
    try:
        text = _safe_io.read_text(history_path, max_bytes=HISTORY_MAX_BYTES)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append("the release history %s cannot be used (%s); falling back to name order" % (history_path, exc))
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        problems.append("the release history %s is not valid JSON (%s); falling back to name order" % (history_path, exc))
        return []
    entries = data.get("history") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        problems.append("the release history %s has no 'history' list; falling back to name order" % history_path)
        return []
    out = []
    for entry in entries[-HISTORY_KEEP:]:
        if isinstance(entry, dict) and valid_id(entry.get("release")):
            clean = {"release": entry["release"], "event": str(entry.get("event") or "")[:40],
                     "at": entry.get("at") if isinstance(entry.get("at"), (int, float)) else None}
            if valid_id(entry.get("from")):
                clean["from"] = entry["from"]
            out.append(clean)
    return out


def previous_release(current_id, releases, history, wanted=None):
    """(id, source) of the release to roll back to, or (None, reason sentence).

    ``wanted`` names it explicitly. Otherwise the newest history entry for a release that still
    exists and is not the current one (releases that passed the gate, and rollback targets; a
    release that was rolled back *from* is never a candidate), else the release before the current
    one in natural name order.
    """
    existing = set(releases)
    if wanted:
        if wanted == current_id:
            return None, "the requested release %s is already the current release" % wanted
        if wanted not in existing:
            return None, "the requested release %s does not exist (releases: %s)" % (wanted, ", ".join(releases[-10:]) or "none")
        return wanted, "requested"
    failed = {e.get("from") for e in history if e.get("event") == "rollback"}
    for entry in reversed(history):
        rel = entry["release"]
        if rel != current_id and rel in existing and (rel not in failed or entry.get("event") == "passed"):
            return rel, "history"
    if current_id in existing:
        idx = releases.index(current_id)
        if idx > 0:
            return releases[idx - 1], "name_order"
        return None, ("no previous release: %s is the oldest release (releases: %s) and the history names no other"
                      % (current_id, ", ".join(releases[:10])))
    return None, "no previous release: the current release is unknown"


def _excluded(rel, exclude):
    return any(fnmatch.fnmatchcase(rel, pat) for pat in exclude)


def migration_files(release_path, globs=DEFAULT_MIGRATION_GLOBS, exclude=DEFAULT_MIGRATION_EXCLUDE):
    """(sorted relative paths matching ``globs``, problem or None). Symlinked directories are not followed."""
    found = []
    seen = 0
    problem = None
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        here = os.path.join(release_path, rel_dir) if rel_dir else release_path
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError as exc:
            problem = "%s cannot be read: %s" % (here, exc.strerror or exc)
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_WALK:
                return sorted(found), "%s has more than %d entries; migrations beyond them were not compared" % (release_path, MAX_WALK)
            rel = entry.name if not rel_dir else rel_dir + "/" + entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if not _excluded(rel + "/x", exclude):
                    stack.append(rel)
            elif any(fnmatch.fnmatchcase(rel, g) for g in globs) and not _excluded(rel, exclude):
                found.append(rel)
    return sorted(found), problem


def release_of(path, releases_path):
    """The release id a path (a process's cwd) is in, or None."""
    if not path:
        return None
    real_rel = os.path.realpath(releases_path)
    for base in (releases_path, real_rel):
        prefix = base.rstrip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix):].split("/", 1)[0]
            return rel if valid_id(rel) else None
    return None


# --------------------------------------------------------------------------- write side

def link_target_for(current_link, current_target, releases_path, release):
    """The link text for ``release`` in the style of the existing link (relative stays relative)."""
    new_abs = os.path.join(releases_path, release)
    if current_target and os.path.isabs(current_target):
        return new_abs
    return os.path.relpath(new_abs, os.path.dirname(current_link))


def switch_link(current_link, target):
    """Point ``current_link`` at ``target`` atomically: a new symlink beside it, then rename over it."""
    _safe_io.replace_symlink(current_link, target)


def append_history(history_path, entry, problems=None):
    """Append ``entry`` to the history file (atomic replace, at most HISTORY_KEEP entries)."""
    history = read_history(history_path, problems if problems is not None else [])
    history.append(entry)
    text = json.dumps({"version": 1, "history": history[-HISTORY_KEEP:]}, indent=1, sort_keys=True) + "\n"
    _safe_io.write_atomic(history_path, text, 0o644)
    return history[-HISTORY_KEEP:]


# --------------------------------------------------------------------------- the whole picture

def inspect(root, releases_dir="releases", current_link="current", history_file=None, wanted=None,
            globs=DEFAULT_MIGRATION_GLOBS, exclude=DEFAULT_MIGRATION_EXCLUDE, user=None, running_cwd=None,
            migrations=True):
    """Everything a rollback decision needs, as plain data.

    ``problems``: sentences that forbid a rollback (no current release, no previous one, an
    unreadable release); ``notes``: sentences worth showing that do not (an unusable history).
    """
    root, rel_path, cur_link, hist_path = paths(root, releases_dir, current_link, history_file)
    problems, notes = [], []
    out = {"root": root, "releases_path": rel_path, "current_link": cur_link, "history_file": hist_path,
           "releases": [], "current": None, "previous": None, "history": [], "migrations": None,
           "running": None, "rolled_back": False, "problems": problems, "notes": notes}
    if not os.path.isdir(root):
        problems.append("%s is not a directory" % root)
        return out
    releases = out["releases"] = list_releases(rel_path, problems)
    current = out["current"] = read_current(cur_link, rel_path, problems)
    history = out["history"] = read_history(hist_path, notes)
    if running_cwd is not None:
        out["running"] = {"cwd": running_cwd, "release": release_of(running_cwd, rel_path)}
    if current is None:
        return out
    if releases and current["id"] not in releases:
        problems.append("%s points to %s, which is not listed in %s" % (cur_link, current["target"], rel_path))
    last = history[-1] if history else {}
    if wanted == current["id"] or (not wanted and last.get("event") == "rollback" and last.get("release") == current["id"]):
        # nothing to roll back: current is the release asked for / the target of the newest rollback
        out["rolled_back"] = True
        why = "requested" if wanted else "the newest rollback went from %s to it" % last.get("from")
        notes.append("%s is already the release to roll back to (%s)" % (current["id"], why))
        return out
    prev_id, source = previous_release(current["id"], releases, history, wanted)
    if prev_id is None:
        problems.append(source)
        return out
    prev = out["previous"] = {"id": prev_id, "path": os.path.join(rel_path, prev_id), "source": source}
    if user:
        allowed, reason = _access.check_path(prev["path"], user, want="rx")  # list and enter the release
        if not allowed:
            problems.append("the release %s is not readable by %s, the unit's user: %s" % (prev["path"], user, reason))
            return out
    try:
        os.listdir(prev["path"])
    except OSError as exc:
        problems.append("the release directory %s is not readable: %s" % (prev["path"], exc.strerror or exc))
        return out
    if migrations:
        cur_files, cur_problem = migration_files(current["path"], globs, exclude)
        prev_files, prev_problem = migration_files(prev["path"], globs, exclude)
        for problem in (cur_problem, prev_problem):
            if problem:
                problems.append("migrations cannot be compared: %s" % problem)
        prev_set = set(prev_files)
        out["migrations"] = {"globs": list(globs), "current": cur_files, "previous": prev_files,
                             "added": [f for f in cur_files if f not in prev_set]}
    return out
