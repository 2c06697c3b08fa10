#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_plan
short_description: Plan a remediation from the diagnosis - root causes only, in request-path order, on the host that needs it
version_added: 0.2.0
description:
  - Action plugin only (this file documents it). Runs on the controller, once for the play (C(run_once)).
  - Takes the root findings (not their consequences) of severity warning or critical, keeps the classes chosen with
    O(codes), picks each finding's C(fix.steps) or, with O(prefer=app), its C(fix.alternative_steps), sends every step
    to the inventory host that needs the change and orders each host's steps along the request path (dependencies and
    app services, the app's unit, the socket, nginx's configuration, nginx's reload); a finding's own steps keep their order.
  - Everything else is listed with what to do by hand and why it was not automated (not safe to automate, opt-in class
    not chosen, no automatic fix for the case, the host needing the change is not in the play).
  - With O(findings), acts on a C(findings.json) instead of O(diagnosis), but only on findings that O(diagnosis) (made
    just now) still has as roots - a findings file never applies a fix the host no longer needs.
  - Fix steps are checked as untrusted input - the role must be a remediation role of this collection, every variable
    must carry that role's prefix, values must be plain data (at most 64 KiB) - and written into one tasks file per host
    in O(steps_dir), every string tagged C(!unsafe) so that nothing from the facts is ever templated.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  diagnosis:
    description: The diagnosis made just now (the C(diagnosis) returned by M(badgateway.doctor.diagnose_evaluate)).
    type: dict
    required: true
  findings:
    description: A C(findings.json) on the controller to act on instead of O(diagnosis). V('') acts on O(diagnosis).
    type: path
    default: ''
  codes:
    description:
      - The finding classes to fix. Empty - every class the catalog marks safe to automate.
      - Codes narrow it; opt-in classes (C(WORKER_TIMEOUT), C(UPSTREAM_TIMEOUT), C(BACKLOG_FULL)) are fixed only when
        listed; V(default) stands for the automatable classes, V(all) for those and the opt-in ones.
    type: list
    elements: str
    default: []
  prefer:
    description: For mismatches that can be fixed on either side, change V(nginx) (the app's bind is the source of truth) or the V(app).
    type: str
    choices: [nginx, app]
    default: nginx
  steps_dir:
    description: Directory on the controller for the tasks files (C(<host>.yml)), created when missing.
    type: path
    required: true
  hosts:
    description: The hosts that may be changed. By default the play's hosts that are still active (C(ansible_play_hosts)).
    type: list
    elements: str
attributes:
  check_mode:
    details: Nothing on the hosts is changed; the tasks files are written on the controller in check mode too.
notes:
  - The C(badgateway.doctor.remediate) role runs it with C(run_once) and C(delegate_to=localhost).
seealso:
  - module: badgateway.doctor.diagnose_evaluate
  - module: badgateway.doctor.remediation_verdict
"""

EXAMPLES = r"""
- name: Plan from the diagnosis of this play, app side preferred, with the gunicorn timeout class opted in
  badgateway.doctor.remediation_plan:
    diagnosis: "{{ diagnose_diagnosis.diagnosis }}"
    prefer: app
    codes: [default, WORKER_TIMEOUT]
    steps_dir: /tmp/badgateway-steps
  run_once: true
  delegate_to: localhost
  register: plan

- name: Apply this host's steps
  ansible.builtin.include_tasks: "{{ plan.files[inventory_hostname] }}"
  when: inventory_hostname in plan.files
"""

RETURN = r"""
plan:
  description:
    - C(findings) - one record per root finding (C(id), C(host), C(code), C(route), C(severity), C(summary), C(fix_summary),
      C(status) V(planned) / V(manual) / V(skipped) / V(gone), C(reason), C(steps), C(changes_on), C(replay), C(side)).
    - C(hosts) - per host C(steps) (C(role), C(host), C(vars), C(findings) ids), C(findings) and C(manual) (ids of the
      findings seen on that host); C(codes) - the classes chosen; C(prefer).
  returned: success
  type: dict
  sample: {"prefer": "nginx", "codes": ["APP_STOPPED"], "findings": [{"id": 0, "host": "web1", "code": "APP_STOPPED",
           "status": "planned", "changes_on": ["web1"]}], "hosts": {"web1": {"steps": [{"role": "badgateway.doctor.app_service",
           "host": "web1", "vars": {"app_service_unit": "gunicorn.service"}, "findings": [0]}], "findings": [0], "manual": []}}}
files:
  description: The tasks file of each host that has steps.
  returned: success
  type: dict
  sample: {"web1": "/work/badgateway-report/steps/web1.yml"}
replays:
  description: Per host, the requests nginx logged as failing for the planned findings (C(id), C(route), C(method), C(path), C(host_header)).
  returned: success
  type: dict
  sample: {"web1": [{"id": 0, "code": "HEADER_TOO_BIG", "route": "_:80 /", "method": "GET", "path": "/big-header", "host_header": "web1"}]}
signatures_before:
  description: Per host, the count of upstream-error lines of each kind in nginx's error logs (the diagnosis' window).
  returned: success
  type: dict
  sample: {"web1": {"no_such_file": 4}}
before:
  description: O(diagnosis), returned for the comparison after the change.
  returned: success
  type: dict
source:
  description: What the plan acted on - C(diagnosis) or C(findings file <path>).
  returned: success
  type: str
summary:
  description: One line per host - what will change, what is left to do by hand.
  returned: success
  type: list
  elements: str
  sample: ["web1: apply app_service - for APP_STOPPED"]
steps:
  description: Number of steps per host.
  returned: success
  type: dict
  sample: {"web1": 1}
"""
