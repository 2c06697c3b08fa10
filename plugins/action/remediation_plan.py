# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan a remediation on the controller: findings in, each host's steps (and their tasks file) out."""

from __future__ import annotations

import json
import os
import stat

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation, reports
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_action import (
    ActionFailed,
    RemediationAction,
    absolute_path,
    host_facts,
    plain,
)
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


class ActionModule(RemediationAction):
    _VALID_ARGS = frozenset(("diagnosis", "findings", "codes", "prefer", "steps_dir", "hosts"))

    def work(self, args, task_vars):
        live = plain(args.get("diagnosis"))
        hosts = [to_text(h) for h in (args.get("hosts") or task_vars.get("ansible_play_hosts") or [])]
        if not args.get("steps_dir"):
            raise ActionFailed("steps_dir is required (where the steps' tasks files are written)")
        steps_dir = absolute_path(args.get("steps_dir"), "")
        findings_path = absolute_path(args.get("findings"), "") if args.get("findings") else ""
        try:
            source = read_findings(findings_path) if findings_path else live
            the_plan = remediation.plan(source, hosts, codes=plain(args.get("codes")), prefer=to_text(args.get("prefer") or "nginx"),
                                        live=live)
        except remediation.PlanError as exc:
            raise ActionFailed(f"badgateway.doctor remediation: {exc}") from exc
        files = {}
        try:
            for host, hp in the_plan["hosts"].items():
                if hp["steps"]:
                    path = os.path.join(steps_dir, safe_name(host) + ".yml")
                    files[host] = reports.write_atomic(path, remediation.steps_tasks_yaml(host, hp["steps"], the_plan["findings"]))
        except (OSError, ValueError) as exc:
            raise ActionFailed(f"cannot write the steps into {steps_dir}: {exc}") from exc
        replays = {h: [] for h in hosts}
        for rec in the_plan["findings"]:
            if rec["status"] == "planned" and rec["host"] in replays:
                for req in rec["replay"]:
                    replays[rec["host"]].append(dict(req, id=rec["id"], route=rec["route"], code=rec["code"]))
        return {"plan": the_plan, "files": files, "replays": replays, "before": live,
                "signatures_before": {h: signature_counts(host_facts(task_vars, h)) for h in hosts},
                "source": f"findings file {findings_path}" if findings_path else "diagnosis",
                "summary": remediation.plan_summary(the_plan), "steps": {h: len(hp["steps"]) for h, hp in the_plan["hosts"].items()}}
