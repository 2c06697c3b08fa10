#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_report
short_description: Write the reports of a remediation run - the diagnosis with a remediation section per host
version_added: 0.2.0
description:
  - Action plugin only (this file documents it). Runs on the controller, once for the play (C(run_once)).
  - Writes C(findings.json) (the diagnosis after the change - before it in check mode - with a C(remediation) key),
    C(junit.xml) (a C(remediation:<host>) test suite per host beside the diagnosis' suites), C(report.html) and
    C(report.md) (a remediation section before the diagnosis) into O(report_dir), atomically.
  - Per host - what was found and what was done with each finding, the steps, what changed (a diff per file, the units
    started or restarted), the probes as nginx's worker user before, after and after a restore, the failing requests
    sent again, the new diagnosis, the verdict and whether the host was restored. Texts from the hosts are masked.
  - Reads each host's evidence from the variables the C(badgateway.doctor.remediate) role registers.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  report_dir:
    description: Directory for the reports; created when missing. A relative path is taken from the working directory of C(ansible-playbook).
    type: path
    default: badgateway-report
  formats:
    description: The report files to write.
    type: list
    elements: str
    choices: [json, junit, html, md]
    default: [json, junit, html, md]
  plan:
    description: The C(plan) returned by M(badgateway.doctor.remediation_plan).
    type: dict
    required: true
  before:
    description: The diagnosis before the change.
    type: dict
    required: true
  after:
    description: The diagnosis after the change (left out in check mode).
    type: dict
  verdicts:
    description: C(verdicts) of M(badgateway.doctor.remediation_verdict).
    type: dict
    default: {}
  run_id:
    description: The run's id.
    type: str
    default: ''
  source:
    description: What the plan acted on.
    type: str
    default: diagnosis
  started:
    description: When the run started (UTC, ISO 8601).
    type: str
    default: ''
attributes:
  check_mode:
    details: The reports are written on the controller in check mode too (they say so).
seealso:
  - module: badgateway.doctor.remediation_plan
  - module: badgateway.doctor.remediation_verdict
"""

EXAMPLES = r"""
- name: Write the reports
  badgateway.doctor.remediation_report:
    report_dir: /tmp/badgateway-report
    plan: "{{ remediate_plan.plan }}"
    before: "{{ remediate_plan.before }}"
    after: "{{ remediate_after }}"
    verdicts: "{{ remediate_verdict.verdicts }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
remediation:
  description:
    - The remediation section as written to C(findings.json) - C(run_id), C(source), C(started_at), C(finished_at),
      C(check_mode), C(prefer), C(codes) and C(hosts).
    - Per host C(status) (V(fixed), V(restored), V(restore_failed), V(not_fixed), V(planned), V(nothing), V(manual),
      V(locked), V(failed)), C(summary), C(found), C(steps), C(changed), C(changes) (C(files) with C(diff), C(actions)),
      C(probes) (C(before), C(after), C(restored)), C(replays), C(after_status), C(after), C(verdict), C(restore),
      C(error), C(final_status), C(remaining).
  returned: success
  type: dict
reports:
  description: The files written, by format.
  returned: success
  type: dict
  sample: {"json": "/work/badgateway-report/findings.json"}
report_dir:
  description: The absolute report directory.
  returned: success
  type: str
summary:
  description: One line per host.
  returned: success
  type: list
  elements: str
  sample: ["web1: FIXED APP_STOPPED (1 file(s), 1 unit action(s)); new diagnosis: ok"]
statuses:
  description: C(status) per host.
  returned: success
  type: dict
  sample: {"web1": "fixed"}
"""
