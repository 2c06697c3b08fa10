# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the reports of a remediation run (the diagnosis with the remediation section) on the controller."""

from __future__ import annotations

import datetime
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import _plain
from ansible_collections.badgateway.doctor.plugins.action.remediation_verdict import evidence_of
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_report, reports


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("report_dir", "formats", "plan", "before", "after", "verdicts", "run_id", "source", "started"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            result.update(failed=True, msg=f"unsupported option(s): {', '.join(unknown)}")
            return result
        formats = args.get("formats", list(reports.FORMATS))
        if isinstance(formats, str):
            formats = [f.strip() for f in formats.split(",") if f.strip()]
        formats = [to_text(f) for f in formats]
        bad = [f for f in formats if f not in reports.FORMATS]
        if bad:
            result.update(failed=True, msg=f"unknown report format(s) {', '.join(bad)}; choose from {', '.join(reports.FORMATS)}")
            return result
        report_dir = to_text(args.get("report_dir") or "badgateway-report")
        if not os.path.isabs(report_dir):
            report_dir = os.path.join(os.getcwd(), report_dir)
        the_plan = _plain(args.get("plan")) or {"hosts": {}, "findings": []}
        before = _plain(args.get("before")) or {"hosts": {}}
        after = _plain(args.get("after")) or None
        check_mode = bool(self._task.check_mode) or bool(task_vars.get("ansible_check_mode"))
        names = list(dict.fromkeys(list(the_plan.get("hosts") or {}) + [to_text(h) for h in task_vars.get("ansible_play_hosts_all") or []]))
        evidence = {h: evidence_of(task_vars, h) for h in names}
        now = datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = {"run_id": to_text(args.get("run_id") or ""), "source": to_text(args.get("source") or "diagnosis"),
               "started_at": to_text(args.get("started") or ""), "finished_at": now}
        section = remediation_report.build_section(run, the_plan, before, after, _plain(args.get("verdicts")) or {}, evidence,
                                                   check_mode)
        diagnosis = after if (after and not check_mode) else before
        written = {}
        if formats:
            try:
                written = remediation_report.write_reports(diagnosis, section, report_dir, formats)
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the reports into {report_dir}: {exc}", remediation=section)
                return result
        result.update(remediation=section, reports=written, report_dir=report_dir,
                      summary=[h["summary"] for h in section["hosts"].values()],
                      statuses={n: h["status"] for n, h in section["hosts"].items()})
        return result
