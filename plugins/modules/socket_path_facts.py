#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: socket_path_facts
short_description: Check whether the nginx worker user can reach each unix socket path
version_added: 0.1.0
description:
  - Walks every component of each unix socket path like C(namei -l) (following symbolic links) and reports
    type, owner, group, mode and POSIX ACL of each, whether the user - with all of its groups - can search
    each directory and write the socket, and the first blocker in words, for example
    C(/run/gunicorn is 0700 root:root; www-data cannot search it).
  - Also says whether the socket lies under C(/tmp) (where C(PrivateTmp=yes) gives each unit its own copy) or
    C(/run), which of the given units have C(PrivateTmp=yes) or a C(RuntimeDirectory=) covering it, and
    whether a process listens on it.
  - Returns the C(sockets) section of the C(badgateway) facts; the action plugin merges it into the host's
    existing C(badgateway) fact.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  paths:
    description:
      - Unix socket paths to check. A C(unix:) prefix as nginx writes it is accepted.
      - When left out, the action plugin takes every unix endpoint of the host's C(badgateway.nginx) facts
        (gathered earlier by M(badgateway.doctor.nginx_facts) or M(badgateway.doctor.gateway_facts)).
    type: list
    elements: str
    default: []
  user:
    description:
      - The user whose access is checked, with its primary and supplementary groups.
      - When left out, the action plugin takes nginx's worker user from the C(badgateway.nginx) facts; without
        those the first existing user of C(www-data), C(nginx) and C(nobody) is used.
    type: str
  units:
    description:
      - systemd units to relate the paths to (usually the app servers' and nginx's, as in the C(apps) facts).
    type: list
    elements: dict
    default: []
    suboptions:
      unit:
        description: Unit name.
        type: str
        required: true
      private_tmp:
        description: The unit has C(PrivateTmp=yes).
        type: bool
        default: false
      runtime_directory:
        description: The unit's C(RuntimeDirectory=) entries (relative to C(/run)).
        type: list
        elements: str
        default: []
      paths:
        description: Limit the unit to these socket paths (by default it relates to every path).
        type: list
        elements: str
notes:
  - Runs on the target with the Python standard library only.
  - The decision is computed from modes and ACLs (as the kernel does); it does not switch users. Root always passes.
  - Without root, directories the connecting user cannot search hide what lies below them; that is reported in C(errors).
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.listener_facts
"""

EXAMPLES = r"""
- name: Check the sockets nginx points at, as nginx's worker user
  badgateway.doctor.socket_path_facts:

- name: Check one socket as www-data
  badgateway.doctor.socket_path_facts:
    paths:
      - /run/gunicorn/gunicorn.sock
    user: www-data

- name: Relate a socket in /tmp to units with PrivateTmp
  badgateway.doctor.socket_path_facts:
    paths: [/tmp/app.sock]
    units:
      - unit: gunicorn.service
        private_tmp: true
      - unit: nginx.service
        private_tmp: false

- name: Show the blockers
  ansible.builtin.debug:
    msg: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).sockets.paths | selectattr('blocker') | map(attribute='blocker.reason') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(sockets) section.
      returned: always
      type: dict
      contains:
        sockets:
          description: The permission walk of each socket path.
          returned: always
          type: dict
          contains:
            user:
              description: The user checked.
              type: str
              returned: always
              sample: www-data
            groups:
              description: That user's groups, primary first.
              type: list
              elements: str
              returned: always
              sample: [www-data]
            paths:
              description:
                - C(rows) is one JSON text of the list of rows (one list of values per row, in the order of C(columns)).
                - One row per path, in a table - C(columns) V([path, walk, listener]) - C(path) as given, C(walk) an index
                  into RV(ansible_facts.badgateway.sockets.walks), C(listener) whether a listening unix socket with this
                  path exists.
                - The filter P(badgateway.doctor.expand_facts#filter) gives every path as one dict with its walk's keys.
              type: dict
              returned: always
              sample: {"columns": ["path", "walk", "listener"], "rows": "[[\"/run/gunicorn/gunicorn.sock\",0,true]]"}
            walks:
              description:
                - The distinct walks, each once (paths in one directory in the same state share one).
                - C(exists) (after following symbolic links), C(is_socket), C(reachable) (the user can search every
                  directory and write the socket), C(blocker) (the first obstacle, C(path) and C(reason) in words; null
                  when reachable), C(in_tmp) (under C(/tmp) or C(/var/tmp)), C(in_run) (under C(/run) or C(/var/run)),
                  C(private_tmp_units) (given units with C(PrivateTmp=yes) that relate to a path under C(/tmp)),
                  C(runtime_directory_units) (given units whose C(RuntimeDirectory=) contains the socket's directory).
                - C(components) - each component from C(/), with C(path), C(type) (dir, socket, file, symlink, missing,
                  other), C(owner), C(group), C(mode), C(acl) (getfacl-style entries or null), C(searchable) (dirs) and
                  C(writable) (the last one). The last component leaves C(path) out when it is the row's path itself.
              type: list
              elements: dict
              returned: always
              sample: [{"exists": true, "is_socket": true, "reachable": true, "blocker": null, "in_tmp": false, "in_run": true,
                        "private_tmp_units": [], "runtime_directory_units": ["gunicorn.service"],
                        "components": [{"path": "/", "type": "dir", "owner": "root", "group": "root", "mode": "0755",
                                        "acl": null, "searchable": true, "writable": null},
                                       {"type": "socket", "owner": "app", "group": "www-data", "mode": "0770", "acl": null,
                                        "searchable": null, "writable": true}]}]
            errors:
              description: What could not be read, each with C(source), C(path) and C(message).
              type: list
              elements: dict
              returned: always
              sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_sockets
from ansible_collections.badgateway.doctor.plugins.module_utils.socket_paths import collect_socket_paths


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="str", default=[]),
            user=dict(type="str"),
            units=dict(type="list", elements="dict", default=[], options=dict(
                unit=dict(type="str", required=True),
                private_tmp=dict(type="bool", default=False),
                runtime_directory=dict(type="list", elements="str", default=[]),
                paths=dict(type="list", elements="str"),
            )),
        ),
        supports_check_mode=True,
    )
    sockets = collect_socket_paths(module.params["paths"], user=module.params["user"], units=module.params["units"])
    module.exit_json(changed=False, ansible_facts={"badgateway": {"sockets": compact_sockets(sockets)}})


if __name__ == "__main__":
    main()
