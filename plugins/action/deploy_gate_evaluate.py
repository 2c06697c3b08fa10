# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate's verdict on the controller: its own checks per host plus the diagnosis, and the reports."""

from __future__ import annotations

import datetime
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import FAIL_ON, FAIL_RANK, _plain
from ansible_collections.badgateway.doctor.plugins.plugin_utils import gate, reports, reports_gate

LABELS = ("deploy", "after rollback")


def host_verdict(passes, host, fail_after_rollback):
    """How ``host`` ended over all passes: (status, failed, reasons, rollback)."""
    first = passes[0]["hosts"].get(host) or {}
    last_pass = next((p for p in reversed(passes) if host in p["hosts"]), passes[0])
    last = last_pass["hosts"][host]
    rollback = first.get("rollback")
    if rollback and rollback.get("ok") and last_pass is passes[0] and len(passes) == 1:
        # release_rollback alone: its one pass is the check after the rollback
        return ("passed" if not first.get("failed") else "rollback_failed"), bool(first.get("failed")), first.get("reasons", []), rollback
    if not first.get("failed"):
        return "passed", False, [], None
    if rollback and rollback.get("status") == "refused":
        return "rollback_refused", True, first.get("reasons", []), rollback
    if rollback and rollback.get("status") == "check_mode":
        return "failed", True, first.get("reasons", []) + [rollback.get("msg") or "check mode: would roll back"], rollback
    if rollback and rollback.get("ok") and last_pass is not passes[0] and not last.get("failed"):
        reasons = ["the deployed release failed the gate (%s); rolled back to %s, which passes" % (
            "; ".join(first.get("reasons", [])[:2]), rollback.get("to"))]
        return "rolled_back", bool(fail_after_rollback), reasons, rollback
    if rollback:
        reasons = list(first.get("reasons", [])) + (last.get("reasons", []) if last is not first else [])
        return "rollback_failed", True, reasons, rollback
    return "failed", True, first.get("reasons", []), None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        label=dict(type="str", choices=list(LABELS), default="deploy"),
        diagnosis=dict(type="dict", default={}),
        previous=dict(type="dict", default={}),
        host_var=dict(type="str", default="deploy_gate_host_result"),
        rollback_var=dict(type="str", default="release_rollback_result"),
        fail_on=dict(type="str", choices=list(FAIL_ON), default="critical"),
        fail_after_rollback=dict(type="bool", default=True),
        report_dir=dict(type="path", default="badgateway-report"),
        formats=dict(type="list", elements="str", choices=list(reports.FORMATS), default=list(reports.FORMATS)),
    )

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        _validated, args = self.validate_argument_spec(self.ARGUMENT_SPEC)
        fail_on, label, formats = args["fail_on"], args["label"], args["formats"]
        report_dir = args["report_dir"] if os.path.isabs(args["report_dir"]) else os.path.join(os.getcwd(), args["report_dir"])
        host_var, rollback_var = args["host_var"], args["rollback_var"]
        diagnosis = _plain(args["diagnosis"])
        previous = _plain(args["previous"])
        fail_after_rollback = args["fail_after_rollback"]

        hostvars = task_vars.get("hostvars", {})
        names = [to_text(n) for n in (task_vars.get("ansible_play_hosts_all") or task_vars.get("ansible_play_hosts") or [])]
        hosts = {}
        for name in names:
            data = _plain(_hostvar(hostvars, name, host_var))
            # a pass holds the hosts checked in it; the deploy pass also those that left the play before its checks
            if (data.get("pass") if isinstance(data, dict) else "deploy") != label:
                continue
            hosts[name] = self._host(name, data, diagnosis, fail_on)
        this_pass = {"label": label, "diagnosis": diagnosis, "hosts": hosts}
        passes = [p for p in (previous.get("passes") or []) if isinstance(p, dict)] + [this_pass]
        for name in passes[0]["hosts"]:
            rb = _plain(_hostvar(hostvars, name, rollback_var))
            if isinstance(rb, dict) and rb.get("status"):
                passes[0]["hosts"][name]["rollback"] = rb
        verdicts = {}
        for name in passes[0]["hosts"]:
            status, failed, reasons, rollback = host_verdict(passes, name, fail_after_rollback)
            verdicts[name] = {"status": status, "failed": failed, "reasons": reasons, "rollback": rollback}
        gate_result = {
            "generated_at": datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "fail_on": fail_on, "passed": not any(v["failed"] for v in verdicts.values()),
            "hosts": verdicts, "passes": passes,
        }
        written = {}
        if formats:
            try:
                written = reports_gate.write_reports(gate_result, report_dir, formats)
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the reports into {report_dir}: {exc}", gate=gate_result)
                return result
        failed_now = sorted(n for n, h in hosts.items() if h["failed"])
        summary = [f"{n}: {v['status'].upper().replace('_', ' ')}" + (f" - {'; '.join(v['reasons'][:2])}" if v["reasons"] else "")
                   for n, v in verdicts.items()]
        msg = (f"deploy gate passed on {len(verdicts)} host(s)" if gate_result["passed"] else
               "deploy gate failed: " + "; ".join(s for s, v in zip(summary, verdicts.values()) if v["failed"]))
        result.update(gate=gate_result, summary=summary + [f"reports: {report_dir}"], failed_hosts=failed_now,
                      gate_failed=not gate_result["passed"], reports=written, report_dir=report_dir, msg=msg)
        return result

    @staticmethod
    def _host(name, data, diagnosis, fail_on):
        data = data if isinstance(data, dict) else {}
        diag_host = (diagnosis.get("hosts") or {}).get(name) or {}
        plan = data.get("plan") or {}
        if not data:
            checks = [gate.make_check(c, None, "not checked: the host left the play before the gate's checks")
                      for c in gate.CHECKS]
        else:
            checks = gate.host_checks(data.get("unit"), data.get("ready"), data.get("probe"), _int(data.get("expect_status"), 200),
                                      data.get("layout"), data.get("user"), plan.get("notes") or (), data.get("unit_after"))
        failed, reasons = gate.verdict(checks, diag_host, FAIL_RANK.get(fail_on))
        if diag_host.get("status") == "unreachable":
            failed, reasons = True, [f"{name} is unreachable"] + reasons
        entry = {"checks": checks, "failed": failed, "reasons": reasons, "route": plan.get("route"),
                 "release": ((data.get("layout") or {}).get("release") or {}).get("current")}
        return entry


def _hostvar(hostvars, name, var):
    try:
        return hostvars[name].get(var)
    except (KeyError, AttributeError):
        return None


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
