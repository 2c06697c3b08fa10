# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the reports of a remediation run (the diagnosis with the remediation section) on the controller."""

from __future__ import annotations

import datetime

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.badgateway.doctor.plugins.action.remediation_verdict import evidence_of
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_report
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_action import (
    ActionFailed,
    RemediationAction,
    absolute_path,
    formats_option,
    plain,
)


class ActionModule(RemediationAction):
    _VALID_ARGS = frozenset(("report_dir", "formats", "plan", "before", "after", "verdicts", "run_id", "source", "started"))

    def work(self, args, task_vars):
        formats = formats_option(args.get("formats"))
        report_dir = absolute_path(args.get("report_dir"), "badgateway-report")
        the_plan = plain(args.get("plan")) or {"hosts": {}, "findings": []}
        before = plain(args.get("before")) or {"hosts": {}}
        after = plain(args.get("after")) or None
        check_mode = bool(self._task.check_mode) or bool(task_vars.get("ansible_check_mode"))
        names = list(dict.fromkeys(list(the_plan.get("hosts") or {}) + [to_text(h) for h in task_vars.get("ansible_play_hosts_all") or []]))
        evidence = {h: evidence_of(task_vars, h) for h in names}
        now = datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = {"run_id": to_text(args.get("run_id") or ""), "source": to_text(args.get("source") or "diagnosis"),
               "started_at": to_text(args.get("started") or ""), "finished_at": now}
        section = remediation_report.build_section(run, the_plan, before, after, plain(args.get("verdicts")) or {}, evidence, check_mode)
        written = {}
        if formats:
            try:
                written = remediation_report.write_reports(after if (after and not check_mode) else before, section, report_dir, formats)
            except OSError as exc:
                raise ActionFailed(f"cannot write the reports into {report_dir}: {exc}", remediation=section) from exc
        return {"remediation": section, "reports": written, "report_dir": report_dir,
                "summary": [h["summary"] for h in section["hosts"].values()],
                "statuses": {n: h["status"] for n, h in section["hosts"].items()}}
