#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_dropin
short_description: Write the systemd drop-in the remediation roles own, and confirm systemd runs with it
version_added: 0.2.0
description:
  - The engine behind the P(badgateway.doctor.app_unit#role) and P(badgateway.doctor.socket_permissions#role) roles. Writes one
    whole drop-in file, C(/etc/systemd/system/<unit>.d/<dropin>), never the vendor unit file.
  - O(settings) are checked against an allow-list (systemd itself accepts a misspelled setting with only a warning in
    the journal) and refused when they would widen access - a socket or directory mode with C(o+w), a umask that lets
    every user write.
  - O(exec_options) change the app server's options on the unit's B(live) C(ExecStart) command line, read exactly over
    D-Bus, with gunicorn's or uvicorn's own option names. The drop-in clears C(ExecStart=) first, then sets the new
    command line.
  - Settings an earlier run wrote to the same drop-in are kept unless they are set again.
  - Refuses, before writing anything, when a drop-in that systemd applies later (drop-ins are applied in file-name
    order across all unit directories) sets the same setting or C(ExecStart) - it would override this one.
  - O(state=verify), after a daemon-reload, compares what systemd now runs with (C(systemctl show), D-Bus) with what
    the drop-in says, and fails on any difference.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  unit:
    description: The unit, for example C(gunicorn.service) or C(app.socket).
    type: str
    required: true
  dropin:
    description:
      - File name of the drop-in. The default sorts after C(override.conf) (what C(systemctl edit) writes) and other
        usual names, so that it is applied last.
    type: str
    default: zz-badgateway.conf
  settings:
    description:
      - systemd settings to set. Service units - C(WorkingDirectory), C(User), C(Group), C(SupplementaryGroups),
        C(RuntimeDirectory), C(RuntimeDirectoryMode), C(RuntimeDirectoryPreserve), C(UMask), C(Restart), C(RestartSec),
        C(PrivateTmp), and C(After), C(Requires), C(Wants). Socket units - C(SocketUser), C(SocketGroup), C(SocketMode),
        C(DirectoryMode), and C(After), C(Requires), C(Wants).
      - Lists (C(After), C(Requires), C(Wants), C(SupplementaryGroups), C(RuntimeDirectory)) are added to the unit's own.
    type: dict
    default: {}
  exec_options:
    description:
      - App server options to set on the live C(ExecStart) - C(bind) (a string or a list; C(unix:/path), C(host:port),
        C([v6]:port)), C(timeout), C(keep_alive), C(workers), C(umask) (octal text such as C("007")), C(backlog).
      - gunicorn - C(--bind) (repeated), C(--timeout), C(--keep-alive), C(--workers), C(--umask) (always written with a
        leading zero - gunicorn reads C(22) as decimal), C(--backlog). uvicorn - C(--host)/C(--port) or C(--uds) (one
        bind), C(--timeout-keep-alive), C(--workers), C(--backlog); uvicorn has no worker timeout and no umask.
    type: dict
    default: {}
  state:
    description:
      - V(present) writes the drop-in. V(verify) checks, after a daemon-reload, that systemd runs with it.
    type: str
    choices: [present, verify]
    default: present
attributes:
  diff_mode:
    support: full
    details: The drop-in before and after, with secret values masked.
notes:
  - Runs on the target with the Python standard library only. Needs systemd as PID 1 and C(busctl) (part of systemd).
  - Does not daemon-reload or restart anything; the roles do, as explicit tasks, and save the file with
    M(badgateway.doctor.remediation_backup) first.
seealso:
  - module: badgateway.doctor.remediation_backup
  - module: badgateway.doctor.unit_ready
"""

EXAMPLES = r"""
- name: Give gunicorn a runtime directory that survives restarts and a 60 s worker timeout
  badgateway.doctor.unit_dropin:
    unit: gunicorn.service
    settings:
      RuntimeDirectory: gunicorn
      RuntimeDirectoryMode: "0750"
    exec_options:
      timeout: 60

- name: Confirm systemd runs with it (after a daemon-reload)
  badgateway.doctor.unit_dropin:
    unit: gunicorn.service
    settings:
      RuntimeDirectory: gunicorn
      RuntimeDirectoryMode: "0750"
    exec_options:
      timeout: 60
    state: verify
"""

RETURN = r"""
path:
  description: The drop-in file.
  returned: always
  type: str
  sample: /etc/systemd/system/gunicorn.service.d/zz-badgateway.conf
settings:
  description: The settings as written (canonical text).
  returned: always
  type: dict
  sample: {"RuntimeDirectoryMode": "0750"}
exec_start:
  description: With O(exec_options), the command line before and after (secret values masked).
  returned: when O(exec_options) is given
  type: dict
  sample: {"before": ["/srv/app/venv/bin/gunicorn", "--timeout", "5", "wsgi:application"],
           "after": ["/srv/app/venv/bin/gunicorn", "--timeout", "60", "wsgi:application"]}
listen:
  description: With C(exec_options.bind), the new binds as listener texts for M(badgateway.doctor.unit_ready).
  returned: always
  type: list
  elements: str
  sample: ["unix:/run/gunicorn/gunicorn.sock"]
mismatches:
  description: With O(state=verify), each setting whose live value differs - C(key), C(want), C(live).
  returned: when O(state=verify)
  type: list
  elements: dict
  sample: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv, mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_argv import (
    ArgvError, normalize_options, rewrite,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_dropin import (
    DropinError, check_unit, conflicts, dropin_path, normalize_settings, parse_own, read_exec_start, read_text,
    render, show_props, split_paths, verify,
)
from ansible_collections.badgateway.doctor.plugins.module_utils.systemd import systemd_running


def _listen(options):
    out = []
    for family, value in options.get("bind") or ():
        out.append("unix:" + value if family == "unix" else "[%s]:%d" % value if ":" in value[0] else "%s:%d" % value)
    return out


def _write(path, text):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    _safe_io.write_atomic(path, text, 0o644)


def _plan(module, unit, path):
    """(text, text for the diff (masked), settings, new argv or None, ExecStart report, new binds)"""
    p = module.params
    settings = normalize_settings(p["settings"], unit)
    options = normalize_options(p["exec_options"])
    props = show_props(unit, ["LoadState", "DropInPaths", "FragmentPath"])
    if props.get("LoadState") == "not-found":
        raise DropinError("Unit %s not found." % unit)
    argv = entry = None
    report = None
    if options:
        if unit.endswith(".socket"):
            raise DropinError("exec_options need a service unit; %s is a socket unit." % unit)
        entries = read_exec_start(unit)
        if len(entries) != 1:
            raise DropinError("%s has %d ExecStart command lines; only a unit with one can be changed." % (unit, len(entries)))
        entry = entries[0]
        argv = rewrite(entry["argv"], options)
        report = {"before": mask_argv(entry["argv"]), "after": mask_argv(argv)}
    found = conflicts(props.get("DropInPaths"), path, set(settings), argv is not None)
    if found:
        raise DropinError("%s would be overridden: %s; drop-ins are applied in file-name order. Choose a drop-in name that "
                          "sorts after %s, or fix that file by hand." % (
                              path, "; ".join("%s sets %s" % (c["path"], ", ".join(c["keys"])) for c in found),
                              os.path.basename(found[-1]["path"])))
    kept = parse_own(read_text(path) or "")
    text = render(settings, entry, argv, kept)
    shown = render(settings, entry, mask_argv(argv) if argv is not None else None, kept)
    return text, mask_text(shown), settings, argv, report, _listen(options)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            dropin=dict(type="str", default="zz-badgateway.conf"),
            settings=dict(type="dict", default={}),
            exec_options=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "verify"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    running, why = systemd_running()
    if not running:
        module.fail_json(msg="Cannot change %s: %s." % (p["unit"], why))
    try:
        unit = check_unit(p["unit"])
        path = dropin_path(unit, p["dropin"])
        if p["state"] == "verify":
            settings = normalize_settings(p["settings"], unit)
            options = normalize_options(p["exec_options"])
            props = show_props(unit, ["NeedDaemonReload", "DropInPaths"])
            result = {"changed": False, "path": path, "settings": settings, "listen": _listen(options)}
            argv = None
            if options:
                live = read_exec_start(unit)
                argv = rewrite(live[0]["argv"], options) if len(live) == 1 else []
            bad = verify(unit, settings, argv)
            if props.get("NeedDaemonReload") == "yes":
                bad.insert(0, {"key": "NeedDaemonReload", "want": "no", "live": "yes"})
            if (settings or argv is not None) and path not in split_paths(props.get("DropInPaths")):
                bad.insert(0, {"key": "DropInPaths", "want": path, "live": props.get("DropInPaths")})
            for item in bad:
                if item["key"] == "ExecStart":
                    item["want"] = mask_argv(item["want"])
                    item["live"] = [mask_argv(a) for a in item["live"]]
            result["mismatches"] = bad
            if bad:
                module.fail_json(msg="systemd does not run %s with %s: %s." % (unit, path, "; ".join(
                    "%s is %r, the drop-in says %r" % (b["key"], b["live"], b["want"]) for b in bad)), **result)
            module.exit_json(**result)
        text, shown, settings, _argv, report, listen = _plan(module, unit, path)
        current = read_text(path)
    except (DropinError, ArgvError) as exc:
        module.fail_json(msg=str(exc)[:1].upper() + str(exc)[1:])
    result = {"changed": current != text, "path": path, "settings": settings, "listen": listen}
    if report:
        result["exec_start"] = report
    if result["changed"]:
        if module._diff:
            before = mask_text(current) if current is not None else ""
            result["diff"] = {"before_header": path, "after_header": path, "before": before, "after": shown}
        if not module.check_mode:
            try:
                _write(path, text)
            except OSError as exc:
                module.fail_json(msg="Cannot write %s: %s." % (path, exc.strerror or exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
