#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: listener_facts
short_description: Find every listening TCP and unix socket and the processes behind it
version_added: 0.1.0
description:
  - Lists every TCP socket in state LISTEN (IPv4, IPv6 and IPv4-mapped IPv6) and every listening unix
    stream socket (paths and abstract names) of the host, with the accept queue of each (current length
    and maximum) and the processes holding it - pid, name, command line, user and systemd unit.
  - Reads the kernel's socket tables over netlink C(NETLINK_SOCK_DIAG) (what C(ss) uses) and falls back to
    C(/proc/net/tcp), C(/proc/net/tcp6) and C(/proc/net/unix) when netlink is not available; owners come
    from C(/proc/PID/fd). No C(ss), C(netstat) or C(lsof) is needed.
  - Returns the C(listeners) section of the C(badgateway) facts; the action plugin merges it into the host's
    existing C(badgateway) fact, so it composes with the other fact modules.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  source:
    description:
      - Where to read the socket tables from. V(auto) uses netlink and falls back to C(/proc) per table;
        V(proc) uses only C(/proc/net) (the maximum of the accept queue is then unknown).
    type: str
    choices: [auto, proc]
    default: auto
  processes:
    description: Find the processes holding each socket (reads C(/proc/PID/fd) of every process).
    type: bool
    default: true
notes:
  - Runs on the target with the Python standard library only; Linux only.
  - Without root the file descriptors of other users' processes cannot be read; their sockets are listed
    with no processes and one entry in C(errors) says so.
  - Only the network namespace of the connection is seen (as with C(ss)).
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.socket_path_facts
"""

EXAMPLES = r"""
- name: Who listens where
  badgateway.doctor.listener_facts:

- name: Show the TCP listeners with their processes
  ansible.builtin.debug:
    msg: "{{ item.address }}:{{ item.port }} {{ item.processes | map(attribute='name') | list }}"
  loop: "{{ ansible_facts.badgateway.listeners.tcp }}"

- name: Fail when the gunicorn socket has a full accept queue
  ansible.builtin.assert:
    that: item.backlog.max is none or item.backlog.current < item.backlog.max
  loop: "{{ ansible_facts.badgateway.listeners.unix | selectattr('path', 'equalto', '/run/gunicorn/gunicorn.sock') }}"

- name: Only the sockets, without looking up processes
  badgateway.doctor.listener_facts:
    processes: false
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(listeners) section.
      returned: always
      type: dict
      contains:
        listeners:
          description: Listening sockets of the host.
          returned: always
          type: dict
          contains:
            tcp:
              description: TCP sockets in state LISTEN, sorted by family, port and address.
              returned: always
              type: list
              elements: dict
              contains:
                family:
                  description: V(inet) or V(inet6).
                  type: str
                  returned: always
                  sample: inet
                address:
                  description: Local address, IPv6 compressed; a wildcard is C(0.0.0.0) or C(::).
                  type: str
                  returned: always
                  sample: 127.0.0.1
                port:
                  description: Local port.
                  type: int
                  returned: always
                  sample: 8000
                v4mapped:
                  description: The address is an IPv4-mapped IPv6 address (C(::ffff:a.b.c.d)).
                  type: bool
                  returned: always
                  sample: false
                inode:
                  description: Socket inode.
                  type: int
                  returned: always
                  sample: 24816
                backlog:
                  description:
                    - Accept queue; C(current) connections waiting to be accepted, C(max) the backlog.
                    - C(max) is null when only C(/proc/net/tcp) could be read.
                  type: dict
                  returned: always
                  sample: {"current": 0, "max": 2048}
                processes:
                  description: Processes holding the socket (pid, name, cmdline, user, unit), sorted by pid.
                  type: list
                  elements: dict
                  returned: always
                  sample: [{"pid": 812, "name": "gunicorn", "cmdline": ["/srv/app/venv/bin/python3", "/srv/app/venv/bin/gunicorn"],
                            "user": "app", "unit": "gunicorn.service"}]
            unix:
              description: Listening unix stream sockets, sorted by path.
              returned: always
              type: list
              elements: dict
              contains:
                path:
                  description: Socket path; C(@name) for an abstract socket, empty when unnamed.
                  type: str
                  returned: always
                  sample: /run/gunicorn/gunicorn.sock
                abstract:
                  description: The socket is in the abstract namespace.
                  type: bool
                  returned: always
                  sample: false
                inode:
                  description: Socket inode.
                  type: int
                  returned: always
                  sample: 24817
                backlog:
                  description:
                    - Accept queue, C(current) pending connections and C(max) the backlog, from netlink C(UNIX_DIAG_RQLEN).
                    - Both are null when only C(/proc/net/unix) could be read.
                  type: dict
                  returned: always
                  sample: {"current": 0, "max": 2048}
                processes:
                  description: Processes holding the socket, as for C(tcp).
                  type: list
                  elements: dict
                  returned: always
                  sample: []
            errors:
              description: What could not be read, each with C(source), C(path) and C(message).
              returned: always
              type: list
              elements: dict
              sample: [{"source": "proc", "path": "/proc/PID/fd", "message": "cannot read the file descriptors of 42 processes"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="str", choices=["auto", "proc"], default="auto"),
            processes=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    listeners = collect_listeners(use_netlink=module.params["source"] == "auto",
                                  with_processes=module.params["processes"])
    module.exit_json(changed=False, ansible_facts={"badgateway": {"listeners": listeners}})


if __name__ == "__main__":
    main()
