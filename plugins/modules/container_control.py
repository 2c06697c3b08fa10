#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_control
short_description: Start or restart a Docker / Podman container through its engine and wait until it serves
version_added: 0.2.0
description:
  - Finds the container O(container) (name or id) on the host's Docker-compatible engines (Docker's
    C(/var/run/docker.sock), Podman's C(/run/podman/podman.sock), a rootless Podman's, or O(socket)) and, over the
    Engine API with the Python standard library only,
  - V(status) - only reads its state.
  - V(start) - starts it when it is not running (a paused container is unpaused); a running container is left alone,
    so the action is idempotent. The engine's own start call is used - the container keeps its configuration, Compose
    labels and restart policy; nothing is recreated.
  - V(restart) - restarts it even when it runs (reports a change on every run).
  - V(reload_nginx) - runs C(nginx -s reload) in the running container (C(docker exec)) - the nginx in it reads its
    configuration again and resolves the names of its upstreams again - what an nginx in front of a container that
    was started again (with a new address) needs. Fails when the command exits non-zero. Always reports a change
    (the module cannot tell whether the configuration nginx loads differs), also in check mode.
  - After V(start) or V(restart) the module waits, bounded by O(wait_timeout), until the container runs (not
    restarting), its health check passes when it has one, and every listener in O(listen) accepts a connection, then
    checks a second later that it is still the same process. A container that exits again, is restarted by its policy
    again and again, or turns unhealthy fails the module within seconds, with its last log lines (masked).
  - Refuses a container the engine is restarting by its restart policy (a crash loop - starting it changes nothing), a
    dead one or one being removed.
  - The remediation role C(badgateway.doctor.container_service) records each start with
    M(badgateway.doctor.remediation_backup) first, so that the run can be undone (the container stopped again).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  container:
    description: The container's name (as C(docker ps) shows it, for example C(shop_web_1)) or id (full or unique prefix).
    type: str
    required: true
  socket:
    description:
      - The engine's API socket. By default every engine socket that exists is asked (C(/var/run/docker.sock),
        C(/run/podman/podman.sock), C(/run/user/*/podman/podman.sock)); the container must be on exactly one.
    type: path
  action:
    description: V(status) reads, V(start) starts when not running, V(restart) always restarts, V(reload_nginx) reloads the
      nginx in it.
    type: str
    choices: [status, start, restart, reload_nginx]
    default: status
  listen:
    description:
      - Listeners that must accept a connection before the container counts as ready, as nginx reaches it -
        C(127.0.0.1:8080) (a published port), C(unix:/srv/app/run/app.sock) (a socket in a bind mount), C([::1]:8080).
      - Empty - the container only has to run (and be healthy when it has a health check).
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - Seconds to wait at most after a start or restart (also for a container that already runs, with V(start)). 0 does
        not wait. Between 0 and 3600.
      - A health check's first result comes after its interval (Docker's default 30 s); wait longer than that.
    type: int
    default: 60
  wait_health:
    description: Wait until the health check passes (containers that have one). V(false) - running and listening is enough.
    type: bool
    default: true
  stop_timeout:
    description: With V(restart), seconds the engine gives the container to stop before it kills it.
    type: int
    default: 10
  timeout:
    description:
      - Seconds one request to the engine may take in total (per request, not for the whole module run).
      - Some requests are given longer - V(restart) at least O(stop_timeout) + 30 s, a stop O(stop_timeout) + 15 s, the
        C(nginx -s reload) of V(reload_nginx) at least 30 s for its output plus up to 5 s for the engine to report its
        exit code - and the wait after a start is bounded by O(wait_timeout), not by this.
    type: float
    default: 10.0
attributes:
  check_mode:
    details: Reads the state and reports whether it would start, unpause or restart the container; sends no change and does not wait.
  idempotent:
    support: partial
    details: V(start) and V(status) are idempotent; V(restart) restarts on every run.
notes:
  - Needs root, or membership of the engine's group, to use the engine's socket.
  - Environment variable values never leave the host; log lines and health check output are masked.
seealso:
  - module: badgateway.doctor.container_facts
  - module: badgateway.doctor.remediation_backup
"""

EXAMPLES = r"""
- name: Start the app container and wait until nginx can reach it on its published port
  badgateway.doctor.container_control:
    container: shop_web_1
    action: start
    listen: ["127.0.0.1:8080"]

- name: Only look at it
  badgateway.doctor.container_control:
    container: shop_web_1
  register: web
"""

RETURN = r"""
engine:
  description: The socket of the engine that has the container.
  returned: when the container was found
  type: str
  sample: /run/podman/podman.sock
before:
  description: The container before the action - C(id), C(name), C(state), C(running), C(restarting), C(paused), C(exit_code),
    C(oom_killed), C(pid), C(restart_count), C(restart_policy), C(health), C(compose), C(ports).
  returned: when the container was found
  type: dict
  sample: {"name": "shop_web_1", "state": "exited", "exit_code": 0, "restart_policy": {"name": "unless-stopped", "max_retries": 0}}
container:
  description: The container after the action and the wait (same keys as RV(before)).
  returned: when the container was found
  type: dict
  sample: {"name": "shop_web_1", "state": "running", "health": {"status": "healthy", "failing_streak": 0}}
action_taken:
  description: V(started), V(unpaused), V(restarted), V(reloaded), or null when nothing was (or in check mode, would be)
    done.
  returned: always
  type: str
  sample: started
output:
  description: With V(reload_nginx), the last lines C(nginx -s reload) wrote (masked).
  returned: with O(action=reload_nginx)
  type: list
  elements: str
  sample: ["2026/12/02 08:05:11 [notice] 10#10: signal process started"]
ready:
  description: The wait - C(state) (V(ready), V(exited), V(crash_loop), V(unhealthy), V(timeout)), C(ready), C(elapsed),
    C(listeners) (C(listen), C(ok), C(error) per listener), C(msg) and the last C(logs) lines when not ready.
  returned: when the module waited
  type: dict
  sample: {"state": "ready", "ready": true, "elapsed": 3.2, "listeners": [{"listen": "127.0.0.1:8080", "ok": true, "error": null}]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineError
from ansible_collections.badgateway.doctor.plugins.module_utils.containers import masked_lines
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_control import (
    ControlError, Waiter, find, summary,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._unit_ready import ListenError, parse_listen

RELOAD = ["nginx", "-s", "reload"]
REFUSED = {
    "restarting": "the engine is restarting it by its restart policy ({policy}): it is crash-looping and starting it "
                  "changes nothing; read its logs",
    "dead": "it is dead (the engine could not stop or remove it cleanly); remove and recreate it",
    "removing": "it is being removed",
}


def _reload_nginx(module, client, ref, name, before, result):
    if state_not_running(before):
        module.fail_json(msg="Container %s is %s: there is no nginx running in it to reload." % (name, before["state"]), **result)
    result.update(action_taken="reloaded", changed=True)
    if module.check_mode:
        module.exit_json(**result)
    try:
        code, output = client.exec_run(ref, RELOAD)
    except EngineError as exc:
        module.fail_json(msg="Container %s: %s." % (name, exc), **result)
    result["output"] = [x[:300] for x in masked_lines(output)[-10:]]
    if code != 0:
        module.fail_json(msg="%s in container %s exited %d: %s; nothing was reloaded." % (
            " ".join(RELOAD), name, code, " | ".join(result["output"][-3:]) or "(no output)"), **result)
    module.exit_json(**result)


def state_not_running(c):
    return c["state"] != "running" or c["restarting"] or c["paused"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", required=True),
            socket=dict(type="path"),
            action=dict(type="str", choices=["status", "start", "restart", "reload_nginx"], default="status"),
            listen=dict(type="list", elements="str", default=[]),
            wait_timeout=dict(type="int", default=60),
            wait_health=dict(type="bool", default=True),
            stop_timeout=dict(type="int", default=10),
            timeout=dict(type="float", default=10.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not 0 <= p["wait_timeout"] <= 3600:
        module.fail_json(msg="Option wait_timeout must be between 0 and 3600 seconds, got %d." % p["wait_timeout"])
    if not 0 <= p["stop_timeout"] <= 600:
        module.fail_json(msg="Option stop_timeout must be between 0 and 600 seconds, got %d." % p["stop_timeout"])
    if not 0 < p["timeout"] <= 300:
        module.fail_json(msg="Option timeout must be between 0 and 300 seconds, got %s." % p["timeout"])
    try:
        listeners = [parse_listen(x) for x in p["listen"]]
    except ListenError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "action_taken": None}
    try:
        client, info = find(p["container"], [p["socket"]] if p["socket"] else None, timeout=p["timeout"])
    except ControlError as exc:
        module.fail_json(msg=str(exc), **result)
    before = summary(info)
    ref = before["id"] or p["container"]
    result.update(engine=client.socket_path, before=before, container=before)
    name = before["name"] or p["container"]
    state = before["state"]
    if p["action"] == "status":
        module.exit_json(**result)
    if p["action"] == "reload_nginx":
        _reload_nginx(module, client, ref, name, before, result)
    if state in REFUSED:
        reason = REFUSED[state].format(policy=before["restart_policy"]["name"])
        module.fail_json(msg="Container %s is not started: %s." % (name, reason), **result)
    if p["action"] == "restart":
        taken = "restarted"
    elif before["paused"] or state == "paused":
        taken = "unpaused"
    elif state != "running":
        taken = "started"
    else:
        taken = None
    result.update(action_taken=taken, changed=taken is not None)
    if module.check_mode:
        module.exit_json(**result)
    try:
        if taken == "restarted":
            client.restart(ref, p["stop_timeout"])
        elif taken == "unpaused":
            client.unpause(ref)
        elif taken == "started":
            client.start(ref)
        if p["wait_timeout"] > 0:
            ready = Waiter(client, ref, listeners, timeout=p["wait_timeout"], wait_health=p["wait_health"]).wait()
            result.update(ready=ready, container=ready["container"])
            if not ready["ready"]:
                module.fail_json(msg=ready["msg"], **result)
        else:
            result["container"] = summary(client.inspect(ref))
    except EngineError as exc:
        module.fail_json(msg="Container %s: %s." % (name, exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
