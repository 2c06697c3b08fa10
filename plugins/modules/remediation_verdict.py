#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_verdict
short_description: Decide per host whether a remediation made things better, or must be restored
version_added: 0.2.0
description:
  - Action plugin only (this file documents it). Runs on the controller, once for the play (C(run_once)).
  - A host the remediation changed is better only when every finding it was changed for is gone from the new diagnosis of
    the host that showed it, no warning or critical finding is new (on it, or on that host), the probes as nginx's worker
    user that answered before still answer and those of the fixed routes answer now, the requests nginx logged as
    failing answer when sent again, and nginx's error logs have no more upstream-error lines of any kind than before.
  - Reads each host's evidence from the variables the C(badgateway.doctor.remediate) role registers
    (C(remediate_probe_before), C(remediate_probe_after), C(remediate_replays), C(remediate_changes),
    C(remediate_apply_error)) and the hosts' C(badgateway) facts (the new diagnosis' logs).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  plan:
    description: The C(plan) returned by M(badgateway.doctor.remediation_plan).
    type: dict
    required: true
  before:
    description: The diagnosis before the change (C(before) of M(badgateway.doctor.remediation_plan)).
    type: dict
    required: true
  after:
    description: The diagnosis after the change.
    type: dict
    required: true
  signatures_before:
    description: C(signatures_before) of M(badgateway.doctor.remediation_plan).
    type: dict
    default: {}
attributes:
  check_mode:
    details: Only compares; changes nothing.
seealso:
  - module: badgateway.doctor.remediation_plan
  - module: badgateway.doctor.remediation_report
"""

EXAMPLES = r"""
- name: Compare before and after
  badgateway.doctor.remediation_verdict:
    plan: "{{ remediate_plan.plan }}"
    before: "{{ remediate_plan.before }}"
    after: "{{ diagnose_diagnosis.diagnosis }}"
    signatures_before: "{{ remediate_plan.signatures_before }}"
  run_once: true
  delegate_to: localhost
  register: verdict
"""

RETURN = r"""
verdicts:
  description: Per host C(better), C(restore) (the run changed the host and it is not better), C(reasons) and C(checked).
  returned: success
  type: dict
  sample: {"web1": {"better": false, "restore": true, "reasons": ["APP_STOPPED is still found on web1 (_:80 /): ..."],
           "checked": ["no new warning or critical finding on web1"]}}
restore:
  description: The hosts to restore.
  returned: success
  type: list
  elements: str
  sample: ["web1"]
signatures_after:
  description: Per host, upstream-error lines of each kind in nginx's error logs since the change.
  returned: success
  type: dict
  sample: {"web1": {}}
summary:
  description: One line per changed host.
  returned: success
  type: list
  elements: str
  sample: ["web1: better"]
"""
