#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_changes
short_description: Show what a remediation run changed on a host - a diff per file, the unit actions
version_added: 0.2.0
description:
  - Action plugin only (this file documents it). Runs M(badgateway.doctor.remediation_backup) on the target twice -
    V(manifest) for the run's manifest, then a V(restore) in check and diff mode, which changes nothing and tells for each
    file the run saved how it differs from the original - and returns that as a diff from the original to now.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.remediation_action
options:
  run_id:
    description: The remediation run.
    type: str
    required: true
  backup_dir:
    description: The directory of the runs' backups (the default of M(badgateway.doctor.remediation_backup) when left out).
    type: path
attributes:
  check_mode:
    details: Only reads.
  diff_mode:
    details: The diffs are returned in RV(files), not as a task diff.
notes:
  - Contents are returned only for text files up to 64 KiB (as M(badgateway.doctor.remediation_backup) diffs them); they
    may hold secrets, so the reports mask them.
seealso:
  - module: badgateway.doctor.remediation_backup
"""

EXAMPLES = r"""
- name: What did this run change here?
  badgateway.doctor.remediation_changes:
    run_id: "{{ badgateway_run_id }}"
  register: changes
"""

RETURN = r"""
manifest:
  description: The run's manifest (C(files), C(actions), C(restores)) as M(badgateway.doctor.remediation_backup) returns it.
  returned: success
  type: dict
files:
  description:
    - Per changed path C(path), C(change) (what a restore would do - V(content), V(metadata), V(removed) ...), C(before) and
      C(after) text (null for other than small text files).
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/etc/nginx/sites-enabled/app", "change": "content", "before": "proxy_pass http://127.0.0.1:8002/;\n",
            "after": "proxy_pass http://127.0.0.1:8001/;\n"}]
actions:
  description: The unit and group actions the run recorded.
  returned: success
  type: list
  elements: dict
  sample: [{"kind": "restarted", "unit": "gunicorn.service"}]
changed_anything:
  description: Whether the run saved a file or recorded an action on the host.
  returned: success
  type: bool
"""
