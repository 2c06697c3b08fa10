#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_facts
short_description: Describe the Docker / Podman containers of a host as the 502 diagnosis needs them
version_added: 0.2.0
description:
  - Asks every Docker-compatible engine of the host over its Engine API unix socket - Docker's
    C(/var/run/docker.sock), rootful Podman's C(/run/podman/podman.sock) (C(podman system service) /
    C(podman.socket)), rootless Podman's C(/run/user/UID/podman/podman.sock), or the sockets given - with
    the Python standard library only (no C(docker) or C(podman) command, no SDK on the target), and
    only C(GET) requests.
  - For every container - state, exit code, whether it was OOM-killed, restart count and policy, health
    status with the last health check's output, published ports (host address:port to container port),
    networks with addresses and aliases, bind mounts (what the host side is now, the unix sockets in it,
    whether the container still sees the same directory), Compose project and service, the names of its
    environment variables, and the last log lines of a container that is not serving (stopped,
    restarting, unhealthy, restarted or OOM-killed).
  - For every running container, the TCP and unix listeners of its network namespace, read through its
    process in C(/proc/PID/net/{tcp,tcp6,unix}) - so "the app listens on 127.0.0.1 inside the container"
    is a fact. Unix socket paths are mapped to the host through the bind mounts.
  - Returns the C(containers) section of the C(badgateway) facts; the action plugin merges it into the
    host's existing C(badgateway) fact, so it composes with the other fact modules.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  sockets:
    description:
      - Engine API sockets to ask.
      - By default C(/var/run/docker.sock), C(/run/podman/podman.sock) and C(/run/user/*/podman/podman.sock),
        those that exist (de-duplicated by real path).
    type: list
    elements: path
    default: []
  log_lines:
    description: How many of the last log lines of a container that is not serving are returned (masked). V(0) reads no logs.
    type: int
    default: 20
  max_containers:
    description: At most this many containers per engine are described; the rest are counted in C(engines).
    type: int
    default: 100
  timeout:
    description: Seconds one request to an engine may take in total.
    type: float
    default: 5.0
notes:
  - Runs on the target with the Python standard library only; Linux only.
  - Reading the engine's socket and other processes' C(/proc/PID/net) needs root (or membership of the
    engine's group for the socket); what cannot be read is an entry in C(errors) and the rest is returned.
  - No engine socket, a socket that refuses the connection or an engine error is an entry in C(errors);
    it never fails the task.
  - Environment variable values never leave the host (names only); command lines, health check output
    and log lines are masked.
  - A rootless Podman socket (C(/run/user/UID/...)) belongs to an unprivileged user, so its answers are claims. It is
    asked only when the socket and every directory from C(/run/user/UID) down to it are owned by that UID and
    writable by no one else; its engine is marked C(rootless=true) with its C(uid), and its containers carry
    C(engine_uid) / C(engine_user). A container's claimed pid is read in C(/proc) (listeners, nginx) only when
    C(/proc/PID) is owned by that UID or one of its subordinate uids (C(/etc/subuid)); a claimed bind mount source
    is inspected only when that UID owns it. What is refused is an entry in C(errors). The diagnosis counts a rootless
    container's published port as a host listener only when the host's listener facts show a process of that user
    holding the port.
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.listener_facts
"""

EXAMPLES = r"""
- name: Describe the containers of the host
  badgateway.doctor.container_facts:

- name: Ask only Podman's API service, with a longer timeout
  badgateway.doctor.container_facts:
    sockets: [/run/podman/podman.sock]
    timeout: 10

- name: List containers that are not running
  ansible.builtin.debug:
    msg: "{{ item.name }} is {{ item.state }} (exit {{ item.exit_code }})"
  loop: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).containers.containers | rejectattr('running') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(containers) section.
      returned: always
      type: dict
      contains:
        containers:
          description: The host's container engines and their containers.
          returned: always
          type: dict
          contains:
            engines:
              description: One entry per engine socket asked.
              type: list
              elements: dict
              returned: always
              sample: [{"socket": "/run/podman/podman.sock", "reachable": true, "kind": "podman", "version": "4.3.1",
                        "api_version": "1.41", "containers": 1, "truncated": false, "rootless": false, "uid": null}]
            containers:
              description:
                - One row per container, sorted by name, as a table - C(columns) (V(id), V(short_id), V(name), V(engine),
                  V(image), V(command), V(state), ...) and C(rows), one JSON text of the list of rows, one list of values per
                  container in the order of C(columns) (a later version may add columns; read them by name). The filter
                  P(badgateway.doctor.expand_facts#filter) gives every container as a dict.
                - C(engine) is an index into RV(ansible_facts.badgateway.containers.engines) (the engine's socket);
                  C(short_id) is null when it is the first 12 characters of C(id).
                - C(state) is the engine's (V(running), V(exited), V(restarting), V(paused), V(created), V(dead);
                  Podman's V(stopped) is reported as V(exited)).
                - C(ports) - C({container_port, protocol, host_ip, host_port}); C(host_port) is null for a port that
                  is only exposed. C(mounts) - C({type, name, source, destination, rw, source_kind, sockets, replaced}), where
                  C(source_kind) is what the host side is now (V(missing), V(directory), V(socket), ...), C(replaced)
                  is true when the container no longer sees the host side's directory (deleted and recreated).
                - C(listeners) - C({tcp, unix, shares_host_network, error}) of a running container, null otherwise.
                  C(nginx) - the nginx running in the container, its C(routes) a table too, null otherwise.
                  C(logs) - C({lines, error}) for a container that is not serving, null otherwise.
                - C(engine_uid) / C(engine_user) - the user of a rootless engine (see the notes), null for a rootful one.
                - docs/FACTS.md (section containers) describes every key.
              type: dict
              returned: always
              sample:
                columns: [id, short_id, name, engine, image, command, state, running, restarting, paused, exit_code,
                          oom_killed, error, started_at, finished_at, pid, restart_count, restart_policy, health, compose,
                          network_mode, networks, ports, mounts, env_keys, listeners, nginx, logs, engine_uid, engine_user]
                rows: >-
                  [["6c057617b05c9a5310e67f232f38716b693d81a48ed8f0312e88849d05a3ff6b",null,"shop_web_1",0,"localhost/bgd-app:lab",
                  ["/srv/app/venv/bin/gunicorn","--bind","0.0.0.0:8000","wsgi:application"],"running",true,false,
                  false,0,false,null,1796192009.607,null,561,0,{"name":"unless-stopped","max_retries":0},{"status":"healthy",
                  "failing_streak":0,"last":{"exit_code":0,"output":"","start":1796192145.243,"end":1796192145.38}},
                  {"project":"shop","service":"web","working_dir":"/srv/compose/shop","config_files":"compose.yaml",
                  "number":"1","oneoff":"False"},"bridge",[{"name":"shop_default","ip":"10.89.0.3","prefix_len":24,
                  "ipv6":null,"gateway":"10.89.0.1","aliases":["web","6c057617b05c"]}],[{"container_port":8000,
                  "protocol":"tcp","host_ip":"127.0.0.1","host_port":8080}],[{"type":"bind","name":null,"source":"/srv/compose/shop/run",
                  "destination":"/run/app","rw":true,"source_kind":"directory","sockets":[],"replaced":false}],
                  ["PATH","SECRET_KEY","DATABASE_URL"],{"tcp":[{"family":"inet","address":"0.0.0.0","port":8000}],
                  "unix":[],"shares_host_network":false,"error":null},null,null,null,null]]
            errors:
              description: What could not be read, each with C(source), C(path) and C(message).
              returned: always
              type: list
              elements: dict
              sample: [{"source": "engine", "path": "/var/run/docker.sock",
                        "message": "connection refused by /var/run/docker.sock: the engine (its API service) is not running"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_containers
from ansible_collections.badgateway.doctor.plugins.module_utils.containers import collect_containers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sockets=dict(type="list", elements="path", default=[]),
            log_lines=dict(type="int", default=20),
            max_containers=dict(type="int", default=100),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["log_lines"] < 0 or p["log_lines"] > 1000:
        module.fail_json(msg="Option log_lines must be between 0 and 1000, got %d." % p["log_lines"])
    if p["max_containers"] < 1:
        module.fail_json(msg="Option max_containers must be positive, got %d." % p["max_containers"])
    if not 0 < p["timeout"] <= 300:
        module.fail_json(msg="Option timeout must be between 0 and 300 seconds, got %s." % p["timeout"])
    section = collect_containers(sockets=p["sockets"] or None, log_lines=p["log_lines"],
                                 max_containers=p["max_containers"], timeout=p["timeout"], require_engine=True)
    module.exit_json(changed=False, ansible_facts={"badgateway": {"containers": compact_containers(section)}})


if __name__ == "__main__":
    main()
