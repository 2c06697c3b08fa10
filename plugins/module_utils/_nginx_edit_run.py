# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of the nginx edit engine (the module ``badgateway.doctor.nginx_edit``):

plan the edits -> back up every file to touch -> write in place -> ``nginx -t`` on the whole
configuration -> refuse a change that breaks a route which answers today -> (reload and prove
it took). Any failure after the first write puts every touched file back byte-identical.

Standard library only (runs on the target).
"""
from __future__ import annotations

import difflib
import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_edit_files as files
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_edit_live as live
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit import EditError
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_plan import Plan
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_values import page_size
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_backup import BackupError, check_backup_dir

DEFAULT_BACKUP_DIR = "/var/lib/badgateway-doctor/backups"
RELOAD_MODES = ("never", "stale", "always")
DIFF_CONTEXT = 3


class RunFailed(Exception):
    """The run failed; ``result`` holds what happened (restored files, test output, routes)."""

    def __init__(self, message, result):
        Exception.__init__(self, message)
        self.result = result


def config_dirs(facts, conf_path):
    """Every directory holding a file nginx loads (the main file's directory first)."""
    dirs = [os.path.dirname(conf_path)]
    for path in facts.get("files") or ():
        directory = os.path.dirname(path)
        if directory and directory not in dirs:
            dirs.append(directory)
    return dirs


def _text(data):
    return data.decode("utf-8", "replace")


def diff_entry(path, old, new, context=DIFF_CONTEXT):
    """The changed region of one file (with ``context`` lines around it) for Ansible's ``--diff``."""
    before = _text(old).splitlines(True)
    after = _text(new).splitlines(True)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    ops = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not ops:
        return None
    b_start = max(0, ops[0][1] - context)
    b_end = min(len(before), ops[-1][2] + context)
    a_start = max(0, ops[0][3] - context)
    a_end = min(len(after), ops[-1][4] + context)
    return {
        "before_header": "%s (lines %d-%d)" % (path, b_start + 1, b_end),
        "after_header": "%s (lines %d-%d)" % (path, a_start + 1, a_end),
        "before": "".join(before[b_start:b_end]),
        "after": "".join(after[a_start:a_end]),
    }


class Run(object):
    """One call of the module. ``read``: the safe reader (path -> bytes); ``backup``: saves paths
    before they change (``backup(paths) -> dict``); ``warn``: collects warnings."""

    def __init__(self, params, check_mode, read, backup, warn):
        self.p = params
        self.check_mode = check_mode
        self.read = read
        self.backup = backup
        self.warn = warn
        self.result = {"changed": False, "edits": [], "files": [], "diff": [], "test": None, "routes": None,
                       "reload": None, "restored": [], "conf_path": None, "backup": None}
        self.tx = files.Transaction(read)
        self.extra_protected = ()

    def fail(self, message):
        if self.tx.written:
            restored, errors = self.tx.restore()
            self.result["restored"] = restored
            if errors:
                message += "; RESTORE FAILED: %s" % "; ".join(errors)
            else:
                message += "; every changed file was restored byte-identical (%s)" % ", ".join(restored)
                self.result["changed"] = bool(self.result.get("reload") and self.result["reload"].get("ok"))
        raise RunFailed(message, self.result)

    def run(self):
        p = self.p
        if p["reload"] not in RELOAD_MODES:
            raise RunFailed("reload must be one of %s" % ", ".join(RELOAD_MODES), self.result)
        facts = live.nginx_facts(p.get("conf_path"), p.get("binary"))
        conf_path = self.result["conf_path"] = facts["conf_path"]
        binary = facts.get("binary")
        if binary is None and (p["test"] or p["check_routes"] or p["reload"] != "never"):
            raise RunFailed("no nginx binary found%s: cannot test or reload the configuration"
                            % (" at %s" % p["binary"] if p.get("binary") else ""), self.result)
        backup_dir = p.get("backup_dir") or DEFAULT_BACKUP_DIR
        self.extra_protected = config_dirs(facts, conf_path)
        try:
            check_backup_dir(backup_dir, self.extra_protected)
        except BackupError as exc:
            raise RunFailed(str(exc), self.result)
        changed = self.plan(conf_path, backup_dir)
        if self.check_mode:
            return self.check(facts, binary, conf_path, changed)
        if changed:
            self.result["backup"] = self.backup(sorted(changed))
            for path in sorted(changed):
                old, new = changed[path]
                try:
                    self.tx.write(path, old, new)
                except OSError as exc:
                    self.fail("cannot write %s: %s" % (path, exc.strerror or exc))
            self.result["changed"] = True
        if p["test"] or changed:
            test = self.result["test"] = live.test_config(binary, conf_path)
            if not test["ok"]:
                self.fail("nginx -t failed%s: %s" % (
                    " on the edited configuration" if changed else "",
                    "; ".join(loc["message"] for loc in test["locations"]) or test["output"] or "no output"))
        if p["check_routes"]:
            self.check_routes(conf_path, binary)
        if changed:
            self.save_lines(backup_dir, changed)
        if p["reload"] != "never":
            self.reload(conf_path, binary, bool(changed))
        return self.result

    def plan(self, conf_path, backup_dir):
        edits = self.p.get("edits") or []
        cache = {}

        def read(path):
            real = os.path.realpath(path)
            if real not in cache:
                cache[real] = self.read(real)
            return cache[real]

        current = {}
        for edit in edits:
            if isinstance(edit, dict) and isinstance(edit.get("file"), str) and os.path.isabs(edit["file"]):
                try:
                    current[os.path.realpath(edit["file"])] = read(edit["file"])
                except (OSError, ValueError) as exc:
                    raise RunFailed("cannot read %s: %s" % (edit["file"], exc), self.result)
        self.lines_path = os.path.join(backup_dir, files.LINES_FILE)
        self.lines = files.load_lines(self.lines_path, self.read)
        moved = files.moved_lines(self.lines, edits, current)
        try:
            self.planned = Plan(read, conf_path, page_size()).apply(edits, moved)
            changed = self.planned.changed_files()
        except EditError as exc:
            raise RunFailed(str(exc), self.result)
        except (OSError, ValueError) as exc:
            raise RunFailed("cannot read the configuration: %s" % exc, self.result)
        self.result["edits"] = self.planned.results
        self.result["files"] = sorted(changed)
        self.result["diff"] = [d for d in (diff_entry(path, *changed[path]) for path in sorted(changed)) if d]
        return changed

    def check(self, facts, binary, conf_path, changed):
        """Check mode: nothing is written; the test and the route check run on the files as they are
        only when no edit is pending (they would judge the old text)."""
        p = self.p
        self.result["changed"] = bool(changed)
        if not changed:
            if p["test"]:
                test = self.result["test"] = live.test_config(binary, conf_path)
                if not test["ok"]:
                    raise RunFailed("nginx -t failed: %s" % ("; ".join(loc["message"] for loc in test["locations"])
                                                             or test["output"] or "no output"), self.result)
            if p["check_routes"]:
                self.check_routes(conf_path, binary)
        if p["reload"] == "always" or (p["reload"] == "stale" and (changed or facts.get("stale"))):
            self.result["changed"] = True
            self.result["reload"] = {"ok": None, "message": "would reload nginx (check mode)"}
        return self.result

    def check_routes(self, conf_path, binary):
        facts = live.nginx_facts(conf_path, binary, resolve=True)
        routes = self.result["routes"] = live.broken_routes(facts, timeout=self.p.get("probe_timeout") or 2.0)
        if routes["broken"]:
            self.fail("refusing: the configuration on disk would turn working routes into 502s - %s"
                      % live.describe_broken(routes["broken"]))

    def save_lines(self, backup_dir, changed):
        try:
            files.save_lines(self.lines_path, files.update_lines(self.lines, self.p.get("edits") or [], self.planned,
                                                                 changed))
        except (OSError, ValueError) as exc:
            self.warn("cannot record the edited lines in %s (%s): running the same edits again will refuse them"
                      % (self.lines_path, exc))

    def reload(self, conf_path, binary, changed):
        facts = live.nginx_facts(conf_path, binary)
        if self.p["reload"] == "stale" and not changed and not facts.get("stale"):
            self.result["reload"] = {"ok": True, "method": None,
                                     "message": "not needed: nginx runs the configuration on disk (no file is newer "
                                                "than its workers)"}
            return
        if facts.get("master_pid") is None:
            self.result["reload"] = {"ok": None, "method": None, "message": "nginx is not running: not reloaded"}
            self.warn("nginx is not running: the configuration was not reloaded")
            return
        logs = [e.get("path") for e in facts.get("error_logs") or () if isinstance(e, dict) and e.get("path")]
        reload = self.result["reload"] = live.reload_nginx(facts["master_pid"], logs,
                                                           timeout=self.p.get("reload_timeout") or 10.0)
        if not reload["ok"]:
            self.fail("the reload did not take: %s" % reload["message"])
        self.result["changed"] = True
