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

- name: Show the TCP listeners with their processes (the filter expands the tables into one dict per socket)
  ansible.builtin.debug:
    msg: "{{ item.address }}:{{ item.port }} {{ item.processes | map(attribute='name') | list }}"
  loop: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).listeners.tcp }}"

- name: Fail when the gunicorn socket has a full accept queue
  ansible.builtin.assert:
    that: item.backlog.max is none or item.backlog.current < item.backlog.max
  loop: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).listeners.unix | selectattr('path', 'equalto', '/run/gunicorn/gunicorn.sock') }}"

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
              description:
                - C(rows) is one JSON text of the list of rows (one list of values per row, in the order of C(columns)).
                - TCP sockets in state LISTEN, sorted by family, port and address, as a table - C(columns)
                  V([family, address, port, v4mapped, inode, backlog_current, backlog_max, processes]) and one row each.
                - C(family) V(inet) or V(inet6); C(address) IPv6 compressed, a wildcard is C(0.0.0.0) or C(::); C(v4mapped)
                  an IPv4-mapped IPv6 address (C(::ffff:a.b.c.d)).
                - C(backlog_current) connections waiting to be accepted, C(backlog_max) the backlog (V(null) when only
                  C(/proc/net/tcp) could be read).
                - C(processes) the processes holding the socket, as indexes into
                  RV(ansible_facts.badgateway.listeners.processes), sorted by pid.
                - The filter P(badgateway.doctor.expand_facts#filter) gives every socket as a dict (with C(backlog) as
                  C({current, max}) and its C(processes)).
              returned: always
              type: dict
              sample: {"columns": ["family", "address", "port", "v4mapped", "inode", "backlog_current", "backlog_max", "processes"],
                       "rows": "[[\"inet\",\"127.0.0.1\",8000,false,24816,0,2048,[0]]]"}
            unix:
              description:
                - C(rows) is one JSON text of the list of rows (one list of values per row, in the order of C(columns)).
                - Listening unix stream sockets, sorted by path, as a table - C(columns)
                  V([path, abstract, inode, backlog_current, backlog_max, processes]).
                - C(path) C(@name) for an abstract socket, empty when unnamed; C(backlog_current) / C(backlog_max) from
                  netlink C(UNIX_DIAG_RQLEN), V(null) when only C(/proc/net/unix) could be read; C(processes) as for C(tcp).
              returned: always
              type: dict
              sample: {"columns": ["path", "abstract", "inode", "backlog_current", "backlog_max", "processes"],
                       "rows": "[[\"/run/gunicorn/gunicorn.sock\",false,24817,0,2048,[0]]]"}
            processes:
              description: Every process holding a listening socket, once - C(pid), C(name), C(cmdline), C(user), C(unit).
              returned: always
              type: list
              elements: dict
              sample: [{"pid": 812, "name": "gunicorn", "cmdline": ["/srv/app/venv/bin/python3", "/srv/app/venv/bin/gunicorn"],
                        "user": "app", "unit": "gunicorn.service"}]
            errors:
              description: What could not be read, each with C(source), C(path) and C(message).
              returned: always
              type: list
              elements: dict
              sample: [{"source": "proc", "path": "/proc/PID/fd", "message": "cannot read the file descriptors of 42 processes"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_listeners
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
    module.exit_json(changed=False, ansible_facts={"badgateway": {"listeners": compact_listeners(listeners)}})


if __name__ == "__main__":
    main()
