# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a remediation run changed on a host: its backup manifest, and a diff per changed file (original -> now)."""

from __future__ import annotations

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_action import ActionFailed, RemediationAction

BACKUP_MODULE = "badgateway.doctor.remediation_backup"


class ActionModule(RemediationAction):
    _requires_connection = True
    _VALID_ARGS = frozenset(("run_id", "backup_dir"))
    _preview = False

    def _update_module_args(self, module_name, module_args, task_vars, ignore_unknown_opts=False):
        super()._update_module_args(module_name, module_args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        if self._preview:
            # a restore in check and diff mode: changes nothing, returns each changed file's diff (now -> original)
            module_args["_ansible_check_mode"] = True
            module_args["_ansible_diff"] = True

    def work(self, args, task_vars):
        base = {"run_id": to_text(args.get("run_id") or "")}
        if args.get("backup_dir"):
            base["backup_dir"] = to_text(args["backup_dir"])
        listed = self._execute_module(module_name=BACKUP_MODULE, module_args=dict(base, state="manifest"), task_vars=task_vars)
        if listed.get("failed"):
            raise ActionFailed(listed.get("msg") or "listing the run's backups failed")
        manifest = listed.get("manifest") or {}
        files = []
        if manifest.get("files"):
            self._preview = True
            try:
                preview = self._execute_module(module_name=BACKUP_MODULE, module_args=dict(base, state="restore"), task_vars=task_vars)
            finally:
                self._preview = False
            if preview.get("failed"):
                raise ActionFailed(preview.get("msg") or "reading the run's changes failed", manifest=manifest)
            for change, diff in zip(preview.get("changes") or [], preview.get("diff") or []):
                diff = diff if isinstance(diff, dict) else {}
                files.append({"path": change.get("path"), "change": change.get("change"),
                              "before": diff.get("after"), "after": diff.get("before")})
        return {"manifest": manifest, "files": files, "actions": manifest.get("actions") or [],
                "changed_anything": bool(manifest.get("files") or manifest.get("actions"))}
