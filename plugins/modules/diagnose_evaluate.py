#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: diagnose_evaluate
short_description: Turn every host's badgateway facts into findings and reports, on the controller
version_added: 0.1.0
description:
  - Action plugin only (this file documents it). Runs on the controller, once for the play.
  - For every host of the play (C(ansible_play_hosts_all)) it reads C(ansible_facts.badgateway)
    and the registered result of the gathering task (unreachable or failed hosts are reported as
    such, never as healthy), applies the diagnosis rules of the failure catalog, folds the
    findings that follow from a root cause under it, and writes C(findings.json), C(junit.xml),
    C(report.html) and C(report.md) into O(report_dir) atomically.
  - Returns one summary line per host and fails when a finding reaches O(fail_on).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  report_dir:
    description:
      - Directory the reports are written into; created when missing. A relative path is taken
        from the working directory of C(ansible-playbook).
    type: path
    default: badgateway-report
  formats:
    description: The report files to write. An empty list writes none.
    type: list
    elements: str
    choices: [json, junit, html, md]
    default: [json, junit, html, md]
  fail_on:
    description:
      - Fail when any host has a finding of this severity or worse. V(none) never fails.
      - An unreachable host is a V(critical) finding (C(HOST_UNREACHABLE)).
    type: str
    choices: [critical, warning, info, none]
    default: critical
  gather_var:
    description:
      - Name of the per-host variable holding the registered result of the C(gateway_facts) task
        (used to tell unreachable and failed hosts from healthy ones).
    type: str
    default: badgateway_gather_result
  save_facts:
    description:
      - Also write each host's gathered facts (the evaluation's input) to C(facts/<host>.json) in O(report_dir), to replay the
        diagnosis later or attach to a bug report. Facts never contain secret values.
    type: bool
    default: false
  hosts:
    description: Evaluate these hosts instead of C(ansible_play_hosts_all).
    type: list
    elements: str
attributes:
  check_mode:
    details: Nothing on the hosts is changed; the reports are written on the controller in check mode too.
notes:
  - Use with C(run_once=true); the diagnose role does this for you.
seealso:
  - module: badgateway.doctor.gateway_facts
"""

EXAMPLES = r"""
- name: Gather on every host
  badgateway.doctor.gateway_facts:
  register: badgateway_gather_result
  ignore_unreachable: true
  failed_when: false

- name: Diagnose all hosts once, write the reports, fail on warnings too
  badgateway.doctor.diagnose_evaluate:
    report_dir: /tmp/badgateway-report
    fail_on: warning
  run_once: true
  delegate_to: localhost
  register: badgateway_diagnosis
"""

RETURN = r"""
diagnosis:
  description: The evaluation, exactly as written to C(findings.json).
  returned: success
  type: dict
  contains:
    generated_at:
      description: When the evaluation ran (UTC, ISO 8601).
      type: str
      sample: "2026-01-01T01:00:00Z"
    schema_version:
      description: Version of this structure.
      type: int
      sample: 1
    hosts:
      description: Per inventory host, C(status) (V(ok), V(warning), V(critical), V(unreachable)), C(findings) (root first,
        each with C(code), C(severity), C(layer), C(host), C(route), C(summary), C(evidence), C(fix) and C(consequences);
        C(fix) is C(summary), C(steps) (the remediation roles to apply, in order, each with C(role), C(host) and C(vars)),
        C(alternative_steps) (the other side's fix of a mismatch), and C(role) / C(vars) of the first step)
        and C(path) (the request path hop by hop with the broken hop).
      type: dict
      sample: {"web1": {"status": "critical", "findings": [{"code": "APP_STOPPED", "severity": "critical", "layer": "app",
               "host": "web1", "route": "_:80 /", "summary": "gunicorn.service is inactive ...", "evidence": ["..."],
               "fix": {"summary": "start it ...", "role": "badgateway.doctor.app_service",
                       "vars": {"app_service_unit": "gunicorn.service", "app_service_action": "start"},
                       "steps": [{"role": "badgateway.doctor.app_service", "host": "web1",
                                  "vars": {"app_service_unit": "gunicorn.service", "app_service_action": "start"}}],
                       "alternative_steps": []}, "consequences": []}]}}
summary:
  description: "One line per host: C(web1: OK), or the status, the root finding's code, summary and fix."
  returned: success
  type: list
  elements: str
  sample: ["web1: CRITICAL APP_STOPPED \u2014 gunicorn.service is inactive ... \u2014 fix: start it ..."]
reports:
  description: The files written, by format (and C(facts:<host>) with O(save_facts)).
  returned: success
  type: dict
  sample: {"json": "/work/badgateway-report/findings.json", "html": "/work/badgateway-report/report.html"}
report_dir:
  description: The absolute report directory.
  returned: success
  type: str
  sample: /work/badgateway-report
worst:
  description: The worst severity over all hosts' findings, or null.
  returned: success
  type: str
  sample: critical
statuses:
  description: Status per host.
  returned: success
  type: dict
  sample: {"web1": "critical", "web2": "ok"}
gate_failed:
  description: Whether a finding reached O(fail_on) (the task then fails).
  returned: success
  type: bool
  sample: true
"""
