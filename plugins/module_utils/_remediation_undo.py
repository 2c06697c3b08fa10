# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out an undo plan of a remediation run (target side, standard library only).

Order: containers the run started are stopped (through their engine's API; one whose state before the run is
unknown is left running, and the step says so), systemd re-reads the
restored unit files (daemon-reload), group memberships the run added are removed, units it enabled
are disabled, units it started are stopped (and leave a failed state they were not in before), units it stopped are
started, units it restarted are restarted (with the restored files), units it reloaded are
reloaded, and nginx is reloaded last - only after ``nginx -t`` passes on the restored files, and
after the group removals so that its new workers (initgroups at spawn) drop the group.
Every step is tried; the result lists each with ``ok`` and a message.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import _runner, systemd
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineError
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_control import ControlError, find, summary

UNIT_TIMEOUT = 120


def unit_before(unit, run=None):
    """``{active_state, sub_state, unit_file_state}`` of a unit now (None values when unknown)."""
    props, _why = systemd.show_unit(unit, ("ActiveState", "SubState", "UnitFileState"), run)
    return {"active_state": props.get("ActiveState") or None, "sub_state": props.get("SubState") or None,
            "unit_file_state": props.get("UnitFileState") or None}


def container_before(container, engine=None):
    """``{state, running, restart_count, restart_policy}`` of a container now (empty when it cannot be asked)."""
    try:
        _client, info = find(container, [engine] if engine else None)
        c = summary(info)
        return {"state": c["state"], "running": bool(c["running"]), "restart_count": c["restart_count"],
                "restart_policy": (c["restart_policy"] or {}).get("name")}
    except Exception:  # pylint: disable=broad-except  # unknown state: the undo then leaves the container running
        return {}


def _stop_container(steps, item, find_container=None):
    name = item.get("container")
    try:
        client, info = (find_container or find)(name, [item["engine"]] if item.get("engine") else None)
        client.stop(info.get("Id") or name)
    except (ControlError, EngineError) as exc:
        steps.append({"step": "container-stop", "target": name, "ok": False, "message": str(exc)[:300]})
        return
    except Exception as exc:  # pylint: disable=broad-except  # an undo must go on with its other steps
        steps.append({"step": "container-stop", "target": name, "ok": False,
                      "message": ("cannot stop the container: %r" % (exc,))[:300]})
        return
    steps.append({"step": "container-stop", "target": name, "ok": True, "message": ""})


def _step(steps, name, target, rc, out, err, ok_codes=(0,)):
    text = (err or out or "").strip().splitlines()
    message = text[-1][:300] if text else ""
    if rc is None:
        message = message or "the command could not be run"
    steps.append({"step": name, "target": target, "ok": rc in ok_codes, "message": message})


def _systemctl(steps, run, verb, unit):
    rc, out, err = run(["systemctl", verb, "--", unit], timeout=UNIT_TIMEOUT)
    _step(steps, verb, unit, rc, out, err)


def run_undo(plan, run=None, find_container=None):
    """Execute ``plan`` (see ``_remediation_restore.undo_plan``). Returns the list of steps."""
    run = run or _runner.call
    steps = []
    for item in plan.get("containers_stop") or []:
        _stop_container(steps, item, find_container)
    for item in plan.get("containers_kept") or []:
        steps.append({"step": "container-keep", "target": item.get("container"), "ok": True,
                      "message": "left running: whether it ran before the run is unknown (its engine could not be "
                                 "asked then), so the undo does not stop it"})
    if plan.get("daemon_reload"):
        rc, out, err = run(["systemctl", "daemon-reload"], timeout=UNIT_TIMEOUT)
        _step(steps, "daemon-reload", None, rc, out, err)
    for membership in plan.get("groups_remove") or []:
        user, group = membership.get("user"), membership.get("group")
        rc, out, err = run(["gpasswd", "-d", user, group], timeout=30)
        if rc is None:  # no gpasswd (busybox-like systems): Debian's deluser USER GROUP does the same
            rc, out, err = run(["deluser", user, group], timeout=30)
        # gpasswd exits 3 when the user is not a member (anymore): nothing to undo
        _step(steps, "group-remove", "%s:%s" % (user, group), rc, out, err, ok_codes=(0, 3))
    for unit in plan.get("disable") or []:
        _systemctl(steps, run, "disable", unit)
    for unit in plan.get("stop") or []:
        _systemctl(steps, run, "stop", unit)
    for unit in plan.get("reset_failed") or []:
        # only a unit the stop left failed: an inactive one may already be unloaded, and reset-failed then errs
        if run(["systemctl", "is-failed", "--quiet", "--", unit], timeout=30)[0] == 0:
            _systemctl(steps, run, "reset-failed", unit)
    for unit in plan.get("start") or []:
        _systemctl(steps, run, "start", unit)
    for unit in plan.get("restart") or []:
        run(["systemctl", "reset-failed", "--", unit], timeout=30)
        _systemctl(steps, run, "restart", unit)
    for unit in plan.get("reload") or []:
        _systemctl(steps, run, "reload", unit)
    if plan.get("nginx_reload"):
        unit = plan.get("nginx_unit") or "nginx.service"
        rc, out, err = run(["nginx", "-t", "-q"], timeout=60)
        if rc != 0:
            _step(steps, "nginx -t", unit, rc, out, err or "nginx -t failed")
            steps[-1]["message"] = "nginx -t fails on the restored files, nginx not reloaded: " + steps[-1]["message"]
        else:
            rc, out, err = run(["systemctl", "is-active", "--quiet", "--", unit], timeout=30)
            if rc == 0:
                _systemctl(steps, run, "reload", unit)
            else:
                steps.append({"step": "reload", "target": unit, "ok": True, "message": "not running; nothing to reload"})
    return steps
