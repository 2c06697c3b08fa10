#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: socket_access_plan
short_description: Plan how nginx's worker user gets to a unix socket without widening access
version_added: 0.2.0
description:
  - The planner behind the P(badgateway.doctor.socket_permissions#role) role. Changes nothing.
  - Walks the socket's path as nginx's worker user - with the groups C(initgroups) gives it - and, for every directory
    it cannot search and for the socket when it cannot write it, picks the change that keeps access within a group, by
    how the socket is made - the socket unit's C(SocketGroup)/C(SocketMode) under socket activation, the unit's
    C(RuntimeDirectoryMode) for its runtime directory (or only a restart when the unit already creates it right),
    gunicorn's C(--umask), PHP-FPM's C(listen.group)/C(listen.mode) (C(listen.acl_users) when the pool uses ACLs),
    the worker user joining the owning group (nginx reloaded), or the app's C(Group=) when that group is a privileged
    one. Never C(o+w), never C(0666)/C(0777); ACL entries only with O(method=acl).
  - Fails with one sentence when there is no safe change (for example a socket in a root-owned directory).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  path:
    description: The unix socket nginx connects to (C(unix:/run/app/app.sock) or C(/run/app/app.sock)).
    type: str
    required: true
  user:
    description: "nginx's worker user. By default the user of the running C(nginx: worker process), else C(www-data), C(nginx), C(nobody)."
    type: str
  group:
    description: nginx's worker group (C(user www-data web;)). By default the running workers' group, else the user's own.
    type: str
  unit:
    description: The unit serving the socket (service or socket unit). By default found from the socket units and the listening process.
    type: str
  method:
    description:
      - V(auto) picks by how the socket is made. V(group), V(socket_unit), V(umask), V(php_fpm) restrict the plan to that
        kind of change (and fail when it is not enough); V(acl) uses ACL entries on persistent directories.
    type: str
    choices: [auto, group, socket_unit, umask, php_fpm, acl]
    default: auto
  php_fpm_pool:
    description: The PHP-FPM pool file. By default the one whose C(listen) is O(path).
    type: path
  dropin:
    description: File name of the drop-in the roles own (for RV(plan.save_paths)).
    type: str
    default: zz-badgateway.conf
notes:
  - Runs on the target with the Python standard library only; reads C(/proc), C(systemctl) and C(busctl).
seealso:
  - module: badgateway.doctor.socket_path_facts
  - module: badgateway.doctor.unit_dropin
"""

EXAMPLES = r"""
- name: What would make gunicorn's socket reachable for nginx?
  badgateway.doctor.socket_access_plan:
    path: /run/gunicorn/gunicorn.sock
  register: plan

- name: Show it
  ansible.builtin.debug:
    msg: "{{ plan.plan.explain }}"
"""

RETURN = r"""
plan:
  description: What to change.
  returned: always
  type: dict
  contains:
    path: {description: The socket., type: str, returned: always, sample: /run/gunicorn/gunicorn.sock}
    user: {description: nginx's worker user., type: str, returned: always, sample: www-data}
    user_group: {description: Its primary group., type: str, returned: always, sample: www-data}
    user_groups: {description: All its groups (initgroups)., type: list, elements: str, returned: always, sample: [www-data]}
    reachable: {description: It can reach the socket now., type: bool, returned: always, sample: false}
    blockers:
      description: Each directory it cannot search and the socket when it cannot write it (C(path), C(type), C(mode), C(owner), C(group)).
      type: list
      elements: dict
      returned: always
      sample: [{"path": "/run/gunicorn", "type": "dir", "mode": "0700", "owner": "root", "group": "root"}]
    service: {description: The service serving the socket., type: str, returned: always, sample: gunicorn.service}
    socket_unit: {description: Its socket unit under socket activation., type: str, returned: always, sample: null}
    kind: {description: "The app server kind (gunicorn, uvicorn, php-fpm ...).", type: str, returned: always, sample: gunicorn}
    method: {description: The method asked for., type: str, returned: always, sample: auto}
    changes: {description: Something must change., type: bool, returned: always, sample: true}
    groups_add:
      description: Group memberships to add (C(user), C(group)); nginx must then be reloaded.
      type: list
      elements: dict
      returned: always
      sample: []
    dropins:
      description: Drop-ins to write with M(badgateway.doctor.unit_dropin) (C(unit), C(settings), C(exec_options)).
      type: list
      elements: dict
      returned: always
      sample: [{"unit": "gunicorn.service", "settings": {}, "exec_options": {"umask": "007"}}]
    chmod: {description: "Directories to give group search (C(path), C(mode)).", type: list, elements: dict, returned: always, sample: []}
    acl: {description: "ACL entries to add (C(path), C(entry)).", type: list, elements: dict, returned: always, sample: []}
    php_fpm:
      description: The pool file and the settings to set in it (C(pool), C(settings)), or null.
      type: dict
      returned: always
      sample: null
    restart: {description: Services to restart., type: list, elements: str, returned: always, sample: [gunicorn.service]}
    socket_restart:
      description: Under socket activation, C(socket) and C(service) - stop the service, restart the socket, start the service.
      type: dict
      returned: always
      sample: null
    nginx_reload: {description: nginx must be reloaded (its workers get their groups when they start)., type: bool, returned: always, sample: false}
    save_paths: {description: Files and directories to save before changing them., type: list, elements: str, returned: always, sample: []}
    explain: {description: One sentence per change., type: list, elements: str, returned: always, sample: []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_dropin import DropinError
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_socket import METHODS, PlanError, collect, plan
from ansible_collections.badgateway.doctor.plugins.module_utils.systemd import systemd_running


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="str", required=True),
            user=dict(type="str"),
            group=dict(type="str"),
            unit=dict(type="str"),
            method=dict(type="str", choices=list(METHODS), default="auto"),
            php_fpm_pool=dict(type="path"),
            dropin=dict(type="str", default="zz-badgateway.conf"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    running, why = systemd_running()
    if not running:
        module.fail_json(msg="Cannot plan for %s: %s." % (p["path"], why))
    try:
        facts = collect(p["path"], p["user"], p["group"], p["unit"], p["php_fpm_pool"])
        result = plan(facts, p["method"]).as_dict(p["dropin"])
    except (PlanError, DropinError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, plan=result)


if __name__ == "__main__":
    main()
