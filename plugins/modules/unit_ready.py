#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_ready
short_description: Wait until a systemd unit is active and its listeners accept connections; fail fast when it cannot be
version_added: 0.2.0
description:
  - Waits, bounded by O(timeout), with a growing pause between looks (0.1 s, then 1.5 times longer, at most 2 s), until
    the systemd O(unit) is active B(and) every listener in O(listen) accepts a connection - as O(as_user) when given,
    with that user's uid, primary group and supplementary groups, as nginx's worker processes have them.
  - After everything answers it waits O(settle) seconds and checks again that the unit is still active with the same
    main process and restart count. An app server binds its socket before its workers import the app, and a worker
    that fails to boot takes the server down a moment later.
  - Fails at once, without waiting out the timeout, when the unit has failed and nothing restarts it, when it is
    inactive and nothing starts it (no start job queued, no active socket unit), or when it crash-loops - systemd
    restarted it automatically O(crash_restarts) times since the wait began. The message then carries the last error
    lines of the unit's journal, with secrets masked.
  - A unit whose active socket unit would start it on a connection (socket activation) is started by the first
    connection, and then waited for like any other.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  unit:
    description:
      - The unit to wait for. C(.service) is added when the name has no type suffix.
    type: str
    required: true
  listen:
    description:
      - Listeners that must accept a connection - C(unix:/run/app/app.sock) (or a bare C(/path)), C(host:port),
        C([v6]:port). A wildcard host (C(0.0.0.0), C(::), C(*)) is reached over loopback; a host name over each address
        it resolves to (one accepting is enough).
      - A unix socket is connected to without blocking, as nginx does, so a full accept queue counts as C(EAGAIN).
      - Empty - the unit only has to be active (and stay active for O(settle) seconds).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait at most.
    type: float
    default: 30
  as_user:
    description:
      - Connect to the listeners as this user (name or uid), for example nginx's worker user C(www-data), to prove
        that user can reach a unix socket. Needs root (C(become)). By default the connections are made as the user the
        module runs as, which proves nothing about another user's access.
    type: str
  connect_timeout:
    description: Seconds each TCP connection attempt may take.
    type: float
    default: 1.0
  settle:
    description: Seconds the unit must stay up (same main process, no restart) after everything first answered. V(0) to skip.
    type: float
    default: 1.0
  crash_restarts:
    description:
      - Automatic restarts by systemd during the wait that count as a crash loop (the wait fails at once). V(0) to never
        fail for restarts alone.
    type: int
    default: 2
  journal_lines:
    description: How many error lines of the unit's journal a failure returns (masked). V(0) for none.
    type: int
    default: 10
attributes:
  check_mode:
    details: In check mode the module looks once, without waiting, and reports the state without failing.
  idempotent:
    details: The module only reads and connects (a connection may start a socket-activated service, as any client would).
notes:
  - Runs on the target with the Python standard library only; needs systemd as PID 1.
seealso:
  - module: badgateway.doctor.remediation_backup
  - module: badgateway.doctor.upstream_probe
"""

EXAMPLES = r"""
- name: Wait until gunicorn is up and nginx's worker user can connect to its socket
  badgateway.doctor.unit_ready:
    unit: gunicorn.service
    listen:
      - unix:/run/gunicorn/gunicorn.sock
    as_user: www-data
    timeout: 30
  become: true

- name: Wait for the database the app needs at boot
  badgateway.doctor.unit_ready:
    unit: redis-server
    listen: ["127.0.0.1:6379"]
    timeout: 20
"""

RETURN = r"""
state:
  description:
    - V(ready); V(failed) (failed, nothing restarts it); V(crash_loop); V(inactive) (nothing starts it); V(not_found);
      V(timeout) (still not ready at the deadline); V(not_ready) (check mode, one look).
  returned: always
  type: str
  sample: ready
ready:
  description: The unit is active and every listener accepted a connection.
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
  sample: 1.42
attempts:
  description: How many times the unit was looked at.
  returned: always
  type: int
  sample: 4
unit:
  description: The unit waited for.
  returned: always
  type: str
  sample: gunicorn.service
status:
  description: The unit's state at the end.
  returned: always
  type: dict
  sample: {"active_state": "active", "sub_state": "running", "result": "success", "n_restarts": 0, "main_pid": 812,
           "exec_main_status": 0, "restart": "on-failure"}
listeners:
  description: The last connection attempt per listener - C(listen), C(ok), C(error) (errno name, null when accepted).
  returned: always
  type: list
  elements: dict
  sample: [{"listen": "unix:/run/gunicorn/gunicorn.sock", "ok": true, "error": null}]
journal:
  description: When not ready, the last error lines of the unit's journal (masked).
  returned: when the unit is not ready
  type: list
  elements: str
  sample: ["2026-12-02T05:33:11+0000 web1 gunicorn[1485]: [ERROR] Reason: Worker failed to boot."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity, run_as
from ansible_collections.badgateway.doctor.plugins.module_utils._unit_ready import (
    Waiter, check_listeners, journal_errors, parse_listen, unit_name,
)
from ansible_collections.badgateway.doctor.plugins.module_utils.systemd import systemd_running


def _checker(module, as_user, connect_timeout):
    """The listener check: in this process, or in a child process as ``as_user``."""
    if not as_user:
        return lambda listeners: check_listeners(listeners, connect_timeout)
    try:
        ident = identity(as_user)
    except ValueError as exc:
        module.fail_json(msg="as_user: %s." % exc)

    def check(listeners):
        value, error = run_as(ident, check_listeners, (listeners, connect_timeout),
                              timeout=connect_timeout * max(1, len(listeners)) + 10)
        if error:
            module.fail_json(msg="Cannot connect as %s: %s." % (as_user, error))
        return value
    return check


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            listen=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=30.0),
            as_user=dict(type="str"),
            connect_timeout=dict(type="float", default=1.0),
            settle=dict(type="float", default=1.0),
            crash_restarts=dict(type="int", default=2),
            journal_lines=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name in ("timeout", "connect_timeout"):
        if not 0 < p[name] <= 86400:
            module.fail_json(msg="Option %s must be more than 0 and at most 86400 seconds, got %s." % (name, p[name]))
    for name in ("settle", "crash_restarts", "journal_lines"):
        if p[name] < 0:
            module.fail_json(msg="Option %s must not be negative, got %s." % (name, p[name]))
    try:
        unit = unit_name(p["unit"])
        listeners = [parse_listen(item) for item in p["listen"]]
    except ValueError as exc:
        text = str(exc)
        module.fail_json(msg=text[:1].upper() + text[1:])
    running, why = systemd_running()
    if not running:
        module.fail_json(msg="Cannot wait for %s: %s." % (unit, why))
    waiter = Waiter(unit, listeners, timeout=p["timeout"], settle=p["settle"], crash_restarts=p["crash_restarts"],
                    check=_checker(module, p["as_user"], p["connect_timeout"]))
    try:
        result = waiter.wait(once=module.check_mode)
    except RuntimeError as exc:
        module.fail_json(msg=str(exc))
    msg = result.pop("msg")
    if not result["ready"]:
        result["journal"] = journal_errors(unit, p["journal_lines"])
        if not module.check_mode:
            lines = "\n".join(result["journal"])
            result["msg"] = msg + ("\nLast error lines of its journal:\n" + lines if lines else "")
            module.fail_json(**result)
    result["msg"] = msg
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
