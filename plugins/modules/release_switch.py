#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: release_switch
short_description: Point the current link of a releases/<id> layout at another release, atomically, after it proved it loads
version_added: 0.1.0
description:
  - Switches O(current_link) to the release O(release) the way C(mv -T) does - a new symlink beside the old one, then
    C(rename(2)) over it - so every reader sees either the old or the new release, never no link. A relative link stays
    relative, an absolute one absolute.
  - With O(unit), first checks that the release B(loads) as that unit would load it - the unit's C(ExecStart) rewritten
    for the release and run as a transient unit with the unit's user, groups, working directory, environment files and
    umask (gunicorn - C(--check-config), which imports the application; uvicorn, hypercorn, daphne - an import of
    C(module:attribute) with the release's interpreter; anything else - O(load_check_command)). A release that does not
    load is refused with its output, and nothing changes.
  - Records the switch in the release history (C(event) V(rollback), C(from) the old release) that
    M(badgateway.doctor.release_facts) reads. With O(record=passed) it switches nothing and only records that the current
    release passed the deploy gate (once - a repeated run changes nothing).
  - Does not restart anything - the role C(badgateway.doctor.release_rollback) restarts the unit and checks that its main
    process runs the release (gunicorn keeps the old working directory on C(HUP)).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
  - badgateway.doctor.releases
attributes:
  check_mode:
    details: In check mode the load check still runs (it changes no file), the link and the history are left alone.
  diff_mode:
    support: full
    details: The link before and after, as C(current -> releases/<id>).
options:
  release:
    description: The id of the release to switch to (a directory in O(releases_dir)).
    type: str
    required: true
  expect_current:
    description:
      - Refuse (change nothing) unless O(current_link) still points to this release - another deploy may have switched it
        since the decision was made.
    type: str
    default: ''
  unit:
    description: The app's systemd unit, whose settings the load check uses. Empty - no load check.
    type: str
    default: ''
  load_check:
    description: With O(unit), check that the release loads before switching.
    type: bool
    default: true
  load_check_command:
    description:
      - A load check command (argv) for app servers without a known one. Paths under the current link or the current release
        are rewritten for O(release); it runs as the unit would (see above) and must exit 0.
    type: list
    elements: str
    default: []
  load_check_timeout:
    description: Seconds the load check may take.
    type: int
    default: 60
  record:
    description:
      - V(rollback) - switch and record C(rollback) in the history. V(passed) - switch nothing; record that the current
        release (which must be O(release)) passed the gate. V(none) - switch, record nothing.
    type: str
    choices: [rollback, passed, none]
    default: rollback
seealso:
  - module: badgateway.doctor.release_facts
"""

EXAMPLES = r"""
- name: Roll /srv/app back to v1 once v1 has shown that it loads as gunicorn.service would load it
  badgateway.doctor.release_switch:
    path: /srv/app
    release: v1
    expect_current: v2
    unit: gunicorn.service

- name: Record that the current release passed the deploy gate
  badgateway.doctor.release_switch:
    path: /srv/app
    release: "{{ layout.release.current.id }}"
    record: passed
"""

RETURN = r"""
before:
  description: The link before - C(id) and C(target) (the link text).
  returned: always
  type: dict
  sample: {"id": "v2", "target": "releases/v2"}
after:
  description: The link after (in check mode - what it would be).
  returned: always
  type: dict
  sample: {"id": "v1", "target": "releases/v1"}
switched:
  description: The link was (in check mode - would be) switched.
  returned: always
  type: bool
  sample: true
load_check:
  description:
    - The load check - C(ok), C(method), C(argv), C(rc), C(output) (the last 4000 characters, secrets masked), C(error) -
      or null when none ran.
  returned: always
  type: dict
  sample: {"ok": true, "method": "gunicorn --check-config", "rc": 0, "output": "",
           "argv": ["/srv/app/releases/v1/venv/bin/gunicorn", "wsgi:application", "--check-config"], "error": null}
history:
  description: The history entry written (in check mode - that would be written), or null.
  returned: always
  type: dict
  sample: {"release": "v1", "event": "rollback", "from": "v2", "at": 1764650000.0}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _release_load, _releases


def _load_check(module, release_path, cur, cur_link):
    p = module.params
    errors = []
    props = _release_load.unit_props(p["unit"], errors)
    if props is None:
        module.fail_json(msg="cannot check that the release loads: %s; nothing changed" % errors[0]["message"])
    prefixes = [cur_link, cur["path"], os.path.realpath(cur["path"])]
    argv, workdir, kind, method, note = _release_load.plan(props, release_path, prefixes, p["load_check_command"] or None)
    if argv is None:
        module.fail_json(msg="cannot check that %s loads: %s (or set load_check: false); nothing changed" % (release_path, note))
    res = _release_load.run_check(props, argv, workdir, timeout=p["load_check_timeout"])
    res.update(method=method, kind=kind, workdir=workdir)
    return res


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _releases.LAYOUT_ARGS,
            release=dict(type="str", required=True),
            expect_current=dict(type="str", default=""),
            unit=dict(type="str", default=""),
            load_check=dict(type="bool", default=True),
            load_check_command=dict(type="list", elements="str", default=[]),
            load_check_timeout=dict(type="int", default=60),
            record=dict(type="str", default="rollback", choices=["rollback", "passed", "none"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root, rel_path, cur_link, hist_path = _releases.paths(p["path"], p["releases_dir"], p["current_link"], p["history_file"])
    release = p["release"]
    if not _releases.valid_id(release):
        module.fail_json(msg="%r is not a release id (a directory name in %s); nothing changed" % (release, rel_path))
    problems = []
    cur = _releases.read_current(cur_link, rel_path, problems)
    if cur is None:
        module.fail_json(msg="%s; nothing changed" % problems[0])
    if p["expect_current"] and cur["id"] != p["expect_current"]:
        module.fail_json(msg="%s now points to %s, not %s: the current release changed since the decision; nothing changed"
                         % (cur_link, cur["target"], p["expect_current"]))
    release_path = os.path.join(rel_path, release)
    if not os.path.isdir(release_path) or os.path.islink(release_path):
        module.fail_json(msg="the release %s does not exist (not a directory in %s); nothing changed" % (release, rel_path))
    before = {"id": cur["id"], "target": cur["target"]}
    result = dict(changed=False, before=before, after=dict(before), switched=False, load_check=None, history=None)
    now = round(time.time(), 3)

    if p["record"] == "passed":
        if cur["id"] != release:
            module.fail_json(msg="record=passed is for the current release (%s), not %s; nothing changed" % (cur["id"], release))
        history = _releases.read_history(hist_path, [])
        last = history[-1] if history else {}
        if last.get("release") == release and last.get("event") == "passed":
            module.exit_json(**result)
        result["history"] = {"release": release, "event": "passed", "at": now}
        result["changed"] = True
        if not module.check_mode:
            _append(module, hist_path, result["history"])
        module.exit_json(**result)

    if cur["id"] == release:
        module.exit_json(**result)
    if p["unit"] and p["load_check"]:
        result["load_check"] = _load_check(module, release_path, cur, cur_link)
        if not result["load_check"]["ok"]:
            lc = result["load_check"]
            lines = [ln.strip() for ln in (lc["output"] or "").splitlines() if ln.strip()]
            reason = lc.get("error") or (lines[-1] if lines else "no output")
            module.fail_json(msg="the release %s does not load (%s exited %s): %s; nothing changed" % (
                release, lc["method"], lc["rc"], reason), **result)
    target = _releases.link_target_for(cur_link, cur["target"], rel_path, release)
    result.update(changed=True, switched=True, after={"id": release, "target": target})
    if p["record"] != "none":
        result["history"] = {"release": release, "event": "rollback", "from": cur["id"], "at": now}
    if module._diff:
        name = os.path.basename(cur_link)
        result["diff"] = {"before": "%s -> %s\n" % (name, cur["target"]), "after": "%s -> %s\n" % (name, target),
                          "before_header": cur_link, "after_header": cur_link}
    if module.check_mode:
        module.exit_json(**result)
    try:
        _releases.switch_link(cur_link, target)
    except OSError as exc:
        module.fail_json(msg="cannot switch %s to %s: %s; the link was not changed" % (cur_link, target, exc.strerror or exc), **result)
    if os.readlink(cur_link) != target:
        module.fail_json(msg="%s does not point to %s after the switch" % (cur_link, target), **result)
    if result["history"]:
        _append(module, hist_path, result["history"], result)
    module.exit_json(**result)


def _append(module, hist_path, entry, result=None):
    try:
        _releases.append_history(hist_path, entry)
    except OSError as exc:
        done = "; the switch itself is done (-> %s)" % result["after"]["target"] if result and result["switched"] else ""
        module.fail_json(msg="cannot record the release history in %s: %s%s" % (hist_path, exc.strerror or exc, done), **(result or {}))


if __name__ == "__main__":
    main()
