#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: release_facts
short_description: Read a releases/<id> + current layout - the current, the previous and the running release
version_added: 0.1.0
description:
  - Reads the layout that ansistrano, C(community.general.deploy_helper) and Capistrano leave behind - a directory per
    release and a C(current) symlink - and returns the current release (what the link B(points to)), the releases in
    natural name order (V(v9) before V(v10)), the release history recorded by M(badgateway.doctor.release_switch), and the
    previous release - the newest release in that history that still exists and is not the current one, else the release
    before the current one in name order, or O(release) when given.
  - Compares the migration files of the current and the previous release (O(migration_globs)) and returns those only the
    current release has - a rollback over them would run old code against a newer schema.
  - With O(unit), also reads the unit's C(User=) (the previous release must be readable by it) and the working directory
    of the unit's running main process, which names the release that process really runs - after a deploy that only
    sent C(HUP), gunicorn keeps serving the old directory.
  - Layout problems that forbid a rollback (no current link, a dangling or foreign link, no previous release, a release the
    unit's user cannot read) are returned as sentences in RV(release.problems); the module itself does not fail on them.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
  - badgateway.doctor.releases
attributes:
  check_mode:
    details: The module only reads; it behaves the same in check mode.
  idempotent:
    details: The module never changes anything on the host.
options:
  release:
    description: The release to compare with (the rollback target). Default - the previous release, as described above.
    type: str
    default: ''
  migration_globs:
    description:
      - Shell patterns, relative to a release, of files that are database migrations (C(*) also matches C(/)).
      - The default matches Django's C(<app>/migrations/NNNN_name.py) at any depth; for Alembic use for example
        V(*/versions/*.py), for Rails V(db/migrate/*.rb).
    type: list
    elements: str
    default: ['*/migrations/*.py']
  migration_exclude:
    description: Patterns of files (and directories, as C(dir/*)) never counted as migrations nor walked into.
    type: list
    elements: str
    default: ['*/__init__.py', '.git/*', 'node_modules/*', 'venv/*', '.venv/*', '*/site-packages/*', '*/__pycache__/*']
  unit:
    description: The app's systemd unit - the previous release must be readable by its user; its main process names the running release.
    type: str
    default: ''
  user:
    description: Check that the previous release is readable by this user instead of the unit's C(User=).
    type: str
    default: ''
notes:
  - Symlinked directories inside a release are not followed when migrations are collected, and at most 200,000 entries are
    looked at per release.
seealso:
  - module: badgateway.doctor.release_switch
"""

EXAMPLES = r"""
- name: Which release runs, and which one a rollback would go to
  badgateway.doctor.release_facts:
    path: /srv/app
    unit: gunicorn.service
  register: layout

- name: Show it
  ansible.builtin.debug:
    msg: >-
      current {{ layout.release.current.id | default('-') }}, previous {{ layout.release.previous.id | default('-') }}
      ({{ layout.release.previous.source | default('-') }}), running {{ layout.release.running.release | default('-') }},
      new migrations {{ layout.release.migrations.added | default([]) }}

- name: An ansistrano layout with Alembic migrations
  badgateway.doctor.release_facts:
    path: /var/www/shop
    migration_globs: ['*/alembic/versions/*.py']
"""

RETURN = r"""
release:
  description: The layout.
  returned: always
  type: dict
  contains:
    root:
      description: The application root.
      type: str
      returned: always
      sample: /srv/app
    releases_path:
      description: The releases directory.
      type: str
      returned: always
      sample: /srv/app/releases
    current_link:
      description: The C(current) link.
      type: str
      returned: always
      sample: /srv/app/current
    history_file:
      description: The release history file.
      type: str
      returned: always
      sample: /srv/app/.badgateway-releases.json
    releases:
      description: Release ids in natural name order.
      type: list
      elements: str
      returned: always
      sample: [v1, v2, v3]
    current:
      description: The release C(current) points to - C(id), C(path), C(target) (the link text) - or null.
      type: dict
      returned: always
      sample: {"id": "v2", "path": "/srv/app/releases/v2", "target": "releases/v2"}
    previous:
      description: The rollback target - C(id), C(path), C(source) (V(history), V(name_order) or V(requested)) - or null.
      type: dict
      returned: always
      sample: {"id": "v1", "path": "/srv/app/releases/v1", "source": "history"}
    history:
      description: The recorded history, oldest first (C(release), C(event), C(at), C(from) for rollbacks).
      type: list
      elements: dict
      returned: always
      sample: [{"release": "v1", "event": "passed", "at": 1764650000.0}]
    migrations:
      description: C(globs), C(current), C(previous) and C(added) (files only the current release has), or null.
      type: dict
      returned: always
      sample: {"globs": ["*/migrations/*.py"], "current": ["app/migrations/0001_initial.py", "app/migrations/0002_order_status.py"],
               "previous": ["app/migrations/0001_initial.py"], "added": ["app/migrations/0002_order_status.py"]}
    running:
      description: With O(unit) - C(cwd) of the unit's main process and the C(release) it is in (null when not a release).
      type: dict
      returned: always
      sample: {"cwd": "/srv/app/releases/v2", "release": "v2"}
    rolled_back:
      description:
        - Nothing to roll back - the current release is O(release), or the newest history entry is a rollback to it (so a
          repeated rollback does not walk further back). RV(release.previous) is then null.
      type: bool
      returned: always
      sample: false
    unit:
      description: With O(unit) - C(name), C(user), C(main_pid), C(active_state), C(sub_state); otherwise null.
      type: dict
      returned: always
      sample: {"name": "gunicorn.service", "user": "app", "main_pid": 812, "active_state": "active", "sub_state": "running"}
    problems:
      description: Sentences that forbid a rollback (empty when a rollback to RV(release.previous) is possible).
      type: list
      elements: str
      returned: always
      sample: ["/srv/app/current points to releases/v9, which does not exist (a dangling link)"]
    notes:
      description: Sentences worth showing that do not forbid a rollback (for example an unreadable history).
      type: list
      elements: str
      returned: always
      sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _release_load, _releases


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _releases.LAYOUT_ARGS,
            release=dict(type="str", default=""),
            migration_globs=dict(type="list", elements="str", default=list(_releases.DEFAULT_MIGRATION_GLOBS)),
            migration_exclude=dict(type="list", elements="str", default=list(_releases.DEFAULT_MIGRATION_EXCLUDE)),
            unit=dict(type="str", default=""),
            user=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    unit = None
    user = p["user"] or None
    cwd = None
    errors = []
    if p["unit"]:
        props = _release_load.unit_props(p["unit"], errors)
        if props is not None:
            pid, cwd = _release_load.running_cwd(props)
            unit = {"name": p["unit"], "user": props.get("User") or "root", "main_pid": pid,
                    "active_state": props.get("ActiveState"), "sub_state": props.get("SubState")}
            user = user or unit["user"]
    layout = _releases.inspect(p["path"], p["releases_dir"], p["current_link"], p["history_file"], wanted=p["release"] or None,
                               globs=p["migration_globs"], exclude=p["migration_exclude"], user=user,
                               running_cwd=cwd if p["unit"] else None)
    layout["unit"] = unit
    layout["problems"].extend(e["message"] for e in errors)
    module.exit_json(changed=False, release=layout)


if __name__ == "__main__":
    main()
