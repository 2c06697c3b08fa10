#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_backup
short_description: Save files before a remediation changes them, record what it did, and restore it all
version_added: 0.2.0
description:
  - The backup store of one remediation run, kept on the target under O(backup_dir)/O(run_id)/ - a
    C(manifest.json) plus one copy per saved file (mode 0600, directories 0700).
  - O(state=save) saves the original state of each of O(paths) - a regular file's bytes with its mode, owner,
    POSIX ACLs, SELinux label and mtime; a symbolic link's target; a directory's mode and owner; or that the
    path does not exist. The first save of a path in a run wins, so saving again later in the same run keeps
    the original.
  - O(state=record) records an O(action) the run took (a unit started, restarted, reloaded, stopped or
    enabled, a daemon-reload, a group membership added, a container started or restarted), with the unit's
    (the container's) state before it.
  - O(state=restore) puts every saved path back - files byte-identical with mode and owner, paths that did not
    exist removed - and returns in RV(actions) what undoes the recorded actions (units to stop, start,
    restart or reload, group memberships to remove, whether systemd needs a daemon-reload and nginx a
    reload). With O(undo=true) it also carries them out. Restoring twice changes nothing the second time.
  - O(state=manifest) returns the manifest.
  - Refuses a O(backup_dir) inside nginx's, systemd's or PHP-FPM's configuration trees (and O(protected_dirs)),
    where a backup copy would itself be loaded as configuration.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  run_id:
    description:
      - The remediation run. 1-128 letters, digits, C(.), C(_) or C(-), starting with a letter or digit.
    type: str
    required: true
  backup_dir:
    description:
      - Directory that holds the runs. Created (mode 0700) when missing.
    type: path
    default: /var/lib/badgateway-doctor/backups
  state:
    description:
      - V(save) the original state of O(paths); V(record) an O(action); V(restore) the run; return the V(manifest).
    type: str
    choices: [save, record, restore, manifest]
    required: true
  paths:
    description:
      - With O(state=save), the absolute paths to save. Regular files (at most 16 MiB), symbolic links (not
        followed), directories (mode, owner and ACLs only, not their content) and paths that do not exist yet.
    type: list
    elements: path
  action:
    description:
      - With O(state=record), what the run did.
    type: dict
    suboptions:
      kind:
        description:
          - V(started), V(restarted), V(reloaded), V(stopped), V(enabled) (these need O(action.unit)), V(daemon_reload),
            or V(group_added) (needs O(action.user) and O(action.group)).
          - V(container_started), V(container_restarted) (need O(action.container)) - a container started or restarted
            through its engine (M(badgateway.doctor.container_control)); the undo stops it when it was not running before.
        type: str
        required: true
        choices: [started, restarted, reloaded, stopped, daemon_reload, group_added, enabled, container_started,
                  container_restarted]
      unit:
        description: The systemd unit.
        type: str
      user:
        description: The user that was added to O(action.group).
        type: str
      group:
        description: The group O(action.user) was added to.
        type: str
      container:
        description: The container (id or name) of a container action.
        type: str
      engine:
        description: The API socket of the container's engine (default - the engine that has the container).
        type: path
  undo:
    description:
      - With O(state=restore), also carry out RV(actions) - stop the containers the run started, daemon-reload, remove
        the group memberships, disable, stop, start, restart and reload the units, and reload nginx after C(nginx -t) passes - and mark the actions
        as undone in the manifest, so that a later restore does not repeat them.
    type: bool
    default: false
  protected_dirs:
    description:
      - More directories O(backup_dir) must not be inside, for example a custom nginx configuration prefix.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    details: Reports what would be saved, recorded or restored and writes nothing.
  diff_mode:
    support: partial
    details: O(state=restore) returns one diff per restored path (type, mode, owner and, for text files up to 64 KiB, the content).
  idempotent:
    details: A path is saved once per run and an action recorded once; a restore leaves paths already as saved alone.
notes:
  - Runs on the target with the Python standard library only. Needs root to restore files owned by other users.
  - Saved file copies may hold secrets; they are readable by root only. Contents are never returned, only in
    the restore diff (text files up to 64 KiB) when C(--diff) is asked for.
seealso:
  - module: badgateway.doctor.unit_ready
"""

EXAMPLES = r"""
- name: Save the drop-in before writing it (it may not exist yet; then a restore removes it)
  badgateway.doctor.remediation_backup:
    run_id: "{{ badgateway_run_id }}"
    state: save
    paths:
      - /etc/systemd/system/gunicorn.service.d
      - /etc/systemd/system/gunicorn.service.d/50-badgateway.conf

- name: Record the restart
  badgateway.doctor.remediation_backup:
    run_id: "{{ badgateway_run_id }}"
    state: record
    action:
      kind: restarted
      unit: gunicorn.service

- name: Put everything back and undo the restart (restart again with the original files)
  badgateway.doctor.remediation_backup:
    run_id: "{{ badgateway_run_id }}"
    state: restore
    undo: true
  register: restored

- name: Show the manifest of the run
  badgateway.doctor.remediation_backup:
    run_id: "{{ badgateway_run_id }}"
    state: manifest
"""

RETURN = r"""
run_id:
  description: The run.
  returned: always
  type: str
  sample: 20261204T101500Z-web1
manifest_path:
  description: Path of the run's manifest.
  returned: always
  type: str
  sample: /var/lib/badgateway-doctor/backups/20261204T101500Z-web1/manifest.json
saved:
  description: With O(state=save), the paths saved now (in check mode, that would be saved), each as recorded.
  returned: when O(state=save)
  type: list
  elements: dict
  sample: [{"path": "/etc/systemd/system/gunicorn.service.d/50-badgateway.conf", "existed": false, "type": null}]
already_saved:
  description: With O(state=save), the paths of O(paths) this run had saved before (their original is kept).
  returned: when O(state=save)
  type: list
  elements: dict
  sample: []
action:
  description: With O(state=record), the recorded action with the unit's state before it.
  returned: when O(state=record)
  type: dict
  sample: {"kind": "restarted", "unit": "gunicorn.service", "before": {"active_state": "active", "sub_state": "running",
           "unit_file_state": "enabled"}, "recorded": "2026-12-04T10:15:02.000000Z"}
restored:
  description: With O(state=restore), the paths put back or removed (would be, in check mode).
  returned: when O(state=restore)
  type: list
  elements: str
  sample: ["/etc/systemd/system/gunicorn.service.d/50-badgateway.conf"]
changes:
  description: With O(state=restore), per path what was done - V(content), V(metadata), V(link), V(created) or V(removed).
  returned: when O(state=restore)
  type: list
  elements: dict
  sample: [{"path": "/etc/systemd/system/gunicorn.service.d/50-badgateway.conf", "change": "removed"}]
actions:
  description: With O(state=restore), what undoes the run's recorded actions (actions undone by an earlier restore
    with O(undo=true) are left out).
  returned: when O(state=restore)
  type: dict
  contains:
    daemon_reload:
      description: systemd must re-read its units (a unit file was restored, or the run did a daemon-reload).
      type: bool
    groups_remove:
      description: Group memberships to remove, each C({user, group}).
      type: list
      elements: dict
    disable:
      description: Units the run enabled.
      type: list
      elements: str
    stop:
      description: Units the run started that were not running before.
      type: list
      elements: str
    start:
      description: Units the run stopped that were running before.
      type: list
      elements: str
    restart:
      description: Units the run restarted; restart them with the restored files.
      type: list
      elements: str
    reload:
      description: Units other than nginx the run reloaded.
      type: list
      elements: str
    nginx_reload:
      description: nginx must be reloaded (a file in its configuration tree was restored, or the run reloaded it).
      type: bool
    nginx_unit:
      description: The nginx unit to reload.
      type: str
    containers_stop:
      description:
        - Containers the run started (or restarted) that were not running before (known from their engine), each
          C({container, engine}).
        - Only present when the run started containers.
      type: list
      elements: dict
    containers_kept:
      description:
        - Containers the run started (or restarted) whose state before the run is unknown (their engine could not be
          asked then), each C({container, engine}); the undo leaves them running and says so in a C(container-keep) step.
        - Only present when there are such containers.
      type: list
      elements: dict
  sample: {"daemon_reload": true, "groups_remove": [], "disable": [], "stop": [], "start": [],
           "restart": ["gunicorn.service"], "reload": [], "nginx_reload": false, "nginx_unit": "nginx.service"}
undone:
  description: With O(undo=true), each step carried out, with C(step), C(target), C(ok) and C(message).
  returned: when O(state=restore) and O(undo=true)
  type: list
  elements: dict
  sample: [{"step": "daemon-reload", "target": null, "ok": true, "message": ""},
           {"step": "restart", "target": "gunicorn.service", "ok": true, "message": ""}]
errors:
  description: With O(state=restore), paths that could not be restored (the others were), each with C(path) and C(message).
  returned: when O(state=restore)
  type: list
  elements: dict
  sample: []
manifest:
  description: With O(state=manifest), the manifest - C(files) (each saved path's original state, without contents), C(actions),
    C(restores), C(created); empty lists when the run saved nothing.
  returned: when O(state=manifest)
  type: dict
  sample: {"run_id": "20261204T101500Z-web1", "created": "2026-12-04T10:15:00.000000Z", "files": [], "actions": [], "restores": []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_backup import (
    ACTION_KINDS, BackupError, Store, public_entry, record_action, save_paths,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_restore import (
    mark_restored, plan_is_empty, restore_files, undo_plan,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_undo import container_before, run_undo, unit_before


def _restore(module, store, result):
    manifest = store.load()
    changes, errors = restore_files(store, manifest, check_mode=module.check_mode)
    plan = undo_plan(manifest, [c["path"] for c in changes])
    result.update(restored=[c["path"] for c in changes], changes=[{"path": c["path"], "change": c["change"]} for c in changes],
                  actions=plan, errors=errors)
    if module._diff:
        result["diff"] = [c["diff"] for c in changes]
    undone = []
    if module.params["undo"] and not plan_is_empty(plan) and not module.check_mode:
        undone = run_undo(plan)
        result["undone"] = undone
    elif module.params["undo"]:
        result["undone"] = []
    undo_ok = all(step["ok"] for step in undone)
    if (changes or undone) and not module.check_mode:
        mark_restored(store, changes, undone=bool(undone) and undo_ok)
    result["changed"] = bool(changes) or bool(undone) or (module.check_mode and module.params["undo"] and not plan_is_empty(plan))
    failed = [s for s in undone if not s["ok"]]
    if errors or failed:
        parts = ["%s: %s" % (e["path"], e["message"]) for e in errors]
        parts += ["%s %s: %s" % (s["step"], s["target"] or "", s["message"]) for s in failed]
        module.fail_json(msg="The restore of run %s is incomplete: %s" % (store.run_id, "; ".join(parts)), **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            run_id=dict(type="str", required=True),
            backup_dir=dict(type="path", default="/var/lib/badgateway-doctor/backups"),
            state=dict(type="str", required=True, choices=["save", "record", "restore", "manifest"]),
            paths=dict(type="list", elements="path"),
            action=dict(type="dict", options=dict(
                kind=dict(type="str", required=True, choices=list(ACTION_KINDS)),
                unit=dict(type="str"),
                user=dict(type="str"),
                group=dict(type="str"),
                container=dict(type="str"),
                engine=dict(type="path"),
            )),
            undo=dict(type="bool", default=False),
            protected_dirs=dict(type="list", elements="path", default=[]),
        ),
        required_if=[("state", "save", ("paths",)), ("state", "record", ("action",))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        store = Store(p["backup_dir"], p["run_id"], p["protected_dirs"])
    except BackupError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "run_id": store.run_id, "manifest_path": store.manifest_path}
    try:
        if p["state"] == "save":
            if not p["paths"]:
                module.fail_json(msg="state=save needs paths: a non-empty list of absolute paths.", **result)
            saved, already = save_paths(store, p["paths"], check_mode=module.check_mode)
            result.update(saved=saved, already_saved=already, changed=bool(saved))
        elif p["state"] == "record":
            action = dict((k, v) for k, v in p["action"].items() if v is not None)
            if action.get("container"):
                before = container_before(action["container"], action.get("engine")) or None
            else:
                before = unit_before(action["unit"]) if action.get("unit") else None
            entry, new = record_action(store, action, before=before, check_mode=module.check_mode)
            result.update(action=entry, changed=new)
        elif p["state"] == "restore":
            _restore(module, store, result)
        else:
            manifest = store.load()
            manifest["files"] = [public_entry(f) for f in manifest["files"]]
            result["manifest"] = manifest
    except BackupError as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg="Backup run %s under %s: %s (%s)." % (p["run_id"], p["backup_dir"], exc.strerror or exc,
                                                                   getattr(exc, "filename", None) or "-"), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
