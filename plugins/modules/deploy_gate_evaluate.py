#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_gate_evaluate
short_description: The deploy gate's verdict - its checks per host and the diagnosis - and its reports, on the controller
version_added: 0.1.0
description:
  - Action plugin only (this file documents it). Runs on the controller, once for the play; used by the
    C(badgateway.doctor.deploy_gate) role.
  - For every host of the play it reads the gate's results (O(host_var) - the C(unit_ready), C(upstream_probe) and
    C(release_facts) results and the plan) and turns them into the checks C(unit), C(listener), C(direct health),
    C(via-nginx health) and C(release); a host fails the gate on a failed check or on a finding of the O(diagnosis) at or
    above O(fail_on).
  - A second call with O(label=after rollback) and the first call's RV(gate) as O(previous) adds the pass after a
    rollback; the rollback's outcome per host is read from O(rollback_var).
  - Writes C(findings.json) (the whole gate result), C(junit.xml) (one test case per host and check, then one per finding
    code), C(report.md) and C(report.html) into O(report_dir).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  label:
    description: The pass - V(deploy), or V(after rollback).
    type: str
    choices: [deploy, after rollback]
    default: deploy
  diagnosis:
    description: The diagnosis of this pass (C(diagnosis) returned by M(badgateway.doctor.diagnose_evaluate)).
    type: dict
    default: {}
  previous:
    description: The RV(gate) of the deploy pass, when this is the pass after a rollback.
    type: dict
    default: {}
  host_var:
    description: The host variable holding a host's gate results.
    type: str
    default: deploy_gate_host_result
  rollback_var:
    description: The host variable holding a host's rollback outcome (set by C(badgateway.doctor.release_rollback)).
    type: str
    default: release_rollback_result
  fail_on:
    description: A finding of this severity or worse fails the host. V(none) - only the gate's checks do.
    type: str
    choices: [critical, warning, info, none]
    default: critical
  fail_after_rollback:
    description: A host whose release failed the gate stays failed after a successful rollback.
    type: bool
    default: true
  report_dir:
    description: Directory the reports are written into (created when missing).
    type: path
    default: badgateway-report
  formats:
    description: The report files to write.
    type: list
    elements: str
    choices: [json, junit, html, md]
    default: [json, junit, html, md]
attributes:
  check_mode:
    details: Changes nothing on the hosts; the reports are written on the controller in check mode too.
seealso:
  - module: badgateway.doctor.diagnose_evaluate
"""

EXAMPLES = r"""
- name: Decide the gate (see roles/deploy_gate/tasks/main.yml)
  badgateway.doctor.deploy_gate_evaluate:
    diagnosis: "{{ diagnose_diagnosis.diagnosis }}"
    report_dir: reports
  run_once: true
  delegate_to: localhost
  register: gate
"""

RETURN = r"""
gate:
  description: The gate result - C(passed), C(fail_on), C(hosts) (per host C(status) - V(passed), V(failed), V(rolled_back),
    V(rollback_refused), V(rollback_failed) - C(failed), C(reasons), C(rollback)) and C(passes) (per pass C(label),
    C(diagnosis), and per host C(checks), C(failed), C(reasons)).
  returned: always
  type: dict
  sample: {"passed": false, "fail_on": "critical", "hosts": {"web1": {"status": "failed", "failed": true,
           "reasons": ["unit: gunicorn.service is failed"], "rollback": null}}, "passes": []}
summary:
  description: One line per host, and where the reports are.
  returned: always
  type: list
  elements: str
  sample: ["web1: FAILED - unit: gunicorn.service crash-loops: ModuleNotFoundError: No module named 'shop'", "reports: /ci/reports"]
failed_hosts:
  description: The hosts that failed in this pass.
  returned: always
  type: list
  elements: str
  sample: [web1]
gate_failed:
  description: The gate failed (over all passes).
  returned: always
  type: bool
  sample: true
reports:
  description: The files written, by format.
  returned: always
  type: dict
  sample: {"junit": "/ci/reports/junit.xml"}
report_dir:
  description: The report directory (absolute).
  returned: always
  type: str
  sample: /ci/reports
"""
