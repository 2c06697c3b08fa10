# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan a remediation on the controller: findings in, each host's steps (and their tasks file) out."""

from __future__ import annotations

import json
import os
import stat

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import _plain
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation, reports
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_compare import signature_counts

MAX_FINDINGS_BYTES = 32 * 1024 * 1024


def read_findings(path):
    """A findings.json from the controller's disk, or raise PlanError naming the file and the problem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise remediation.PlanError(f"cannot read the findings file {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise remediation.PlanError(f"the findings file {path} is not a regular file")
        data = fh.read(MAX_FINDINGS_BYTES + 1)
    if len(data) > MAX_FINDINGS_BYTES:
        raise remediation.PlanError(f"the findings file {path} is larger than {MAX_FINDINGS_BYTES // 1048576} MiB")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise remediation.PlanError(f"the findings file {path} is not JSON: {exc}") from exc


def safe_name(host):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in host)[:200] or "_"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("diagnosis", "findings", "codes", "prefer", "steps_dir", "hosts"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            result.update(failed=True, msg=f"unsupported option(s): {', '.join(unknown)}")
            return result
        live = _plain(args.get("diagnosis"))
        findings_path = to_text(args.get("findings") or "")
        hosts = [to_text(h) for h in (args.get("hosts") or task_vars.get("ansible_play_hosts") or [])]
        steps_dir = to_text(args.get("steps_dir") or "")
        if not steps_dir:
            result.update(failed=True, msg="steps_dir is required (where the steps' tasks files are written)")
            return result
        try:
            source = live
            if findings_path:
                if not os.path.isabs(findings_path):
                    findings_path = os.path.join(os.getcwd(), findings_path)
                source = read_findings(findings_path)
            the_plan = remediation.plan(source, hosts, codes=_plain(args.get("codes")), prefer=to_text(args.get("prefer") or "nginx"),
                                        live=live)
        except remediation.PlanError as exc:
            result.update(failed=True, msg=f"badgateway.doctor remediation: {exc}")
            return result
        files = {}
        try:
            for host, hp in the_plan["hosts"].items():
                if hp["steps"]:
                    path = os.path.join(steps_dir, safe_name(host) + ".yml")
                    files[host] = reports.write_atomic(path, remediation.steps_tasks_yaml(host, hp["steps"], the_plan["findings"]))
        except (OSError, ValueError) as exc:
            result.update(failed=True, msg=f"cannot write the steps into {steps_dir}: {exc}")
            return result
        hostvars = task_vars.get("hostvars", {})
        signatures = {}
        for host in hosts:
            try:
                facts = _plain((hostvars[host].get("ansible_facts") or {}).get("badgateway"))
            except KeyError:
                facts = None
            signatures[host] = signature_counts(facts)
        replays = {h: [] for h in hosts}
        for rec in the_plan["findings"]:
            if rec["status"] == "planned" and rec["host"] in replays:
                for req in rec["replay"]:
                    replays[rec["host"]].append(dict(req, id=rec["id"], route=rec["route"], code=rec["code"]))
        result.update(plan=the_plan, files=files, replays=replays, signatures_before=signatures, before=live,
                      source=f"findings file {findings_path}" if findings_path else "diagnosis",
                      summary=remediation.plan_summary(the_plan),
                      steps={h: len(hp["steps"]) for h, hp in the_plan["hosts"].items()})
        return result
