# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate every play host's badgateway facts on the controller and write the reports."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import masked

FAIL_ON = ("critical", "warning", "info", "none")
FAIL_RANK = {"critical": 0, "warning": 1, "info": 2}


def _plain(value):
    """Convert Ansible's lazy / tagged containers into plain Python data."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {to_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    return to_text(value)


def host_entry(name, hvars, gather_var):
    """The evaluate() input for one host from its hostvars."""
    hvars = hvars or {}
    gather = _plain(hvars.get(gather_var)) if gather_var in hvars else None
    facts = _plain((hvars.get("ansible_facts") or {}).get("badgateway"))
    address = []
    for key in ("ansible_host", "inventory_hostname"):
        if hvars.get(key):
            address.append(to_text(hvars.get(key)))
    for extra in _plain(hvars.get("badgateway_host_addresses") or []):
        address.append(to_text(extra))
    unreachable = False
    msg = ""
    if isinstance(gather, dict):
        unreachable = bool(gather.get("unreachable"))
        msg = to_text(gather.get("msg") or "")
        if gather.get("failed") and not unreachable and not isinstance(facts, dict):
            facts = None
        if isinstance(gather.get("ansible_facts"), dict) and isinstance(gather["ansible_facts"].get("badgateway"), dict):
            facts = gather["ansible_facts"]["badgateway"]
    elif not isinstance(facts, dict):
        unreachable = True
        msg = "no gather result: the host left the play before the diagnosis (unreachable or failed earlier)"
    if unreachable:
        facts = None
    return {"facts": facts if isinstance(facts, dict) else None, "unreachable": unreachable,
            "address": list(dict.fromkeys(address)), "msg": msg}


def gate(result, fail_on):
    """(failed, msg) for ``fail_on``."""
    if fail_on == "none":
        return False, "fail_on is none: the diagnosis never fails the play"
    worst = rules.worst_severity(result)
    hosts = result.get("hosts", {})
    hit = sorted(h for h, v in hosts.items() if any(
        FAIL_RANK.get(f.get("severity"), 9) <= FAIL_RANK[fail_on] for f in v.get("findings", [])))
    if hit:
        return True, (f"badgateway.doctor: {len(hit)} host(s) have findings at or above '{fail_on}' "
                      f"(worst: {worst}): {', '.join(hit)}")
    return False, f"badgateway.doctor: no finding at or above '{fail_on}' on {len(hosts)} host(s)"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    _VALID_ARGS = frozenset(("report_dir", "formats", "fail_on", "gather_var", "hosts", "save_facts"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            result.update(failed=True, msg=f"unsupported option(s): {', '.join(unknown)}")
            return result
        fail_on = to_text(args.get("fail_on") or "critical").lower()
        if fail_on not in FAIL_ON:
            result.update(failed=True, msg=f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
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
        gather_var = to_text(args.get("gather_var") or "badgateway_gather_result")

        hostvars = task_vars.get("hostvars", {})
        names = args.get("hosts") or task_vars.get("ansible_play_hosts_all") or task_vars.get("ansible_play_hosts") or []
        hosts = {}
        for name in names:
            name = to_text(name)
            try:
                hv = hostvars[name]
            except KeyError:
                hv = {}
            hosts[name] = host_entry(name, hv, gather_var)
        try:
            diagnosis = rules.evaluate(hosts)
        except Exception as exc:  # a rule bug must not hide the other hosts' results: say so clearly
            raise AnsibleError(f"badgateway.doctor rules failed: {exc}") from exc
        written = {}
        if formats:
            try:
                written = reports.write_reports(diagnosis, report_dir, formats)
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the reports into {report_dir}: {exc}", diagnosis=diagnosis)
                return result
        if boolean(args.get("save_facts", False), strict=False):
            try:
                for name, entry in hosts.items():
                    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
                    written[f"facts:{name}"] = reports.write_atomic(
                        os.path.join(report_dir, "facts", f"{safe}.json"),
                        json.dumps(masked({name: entry}), indent=1, sort_keys=True) + "\n")
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the facts into {report_dir}/facts: {exc}", diagnosis=diagnosis)
                return result
        failed, msg = gate(diagnosis, fail_on)
        result.update(
            diagnosis=diagnosis,
            summary=rules.summary_lines(diagnosis),
            reports=written,
            report_dir=report_dir,
            worst=rules.worst_severity(diagnosis),
            statuses={h: v["status"] for h, v in diagnosis["hosts"].items()},
            gate_failed=failed,
            failed=failed,
            msg=msg,
        )
        return result
