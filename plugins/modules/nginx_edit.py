#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_edit
short_description: Change nginx's configuration at the file and line the facts name, test it whole, restore it on failure
version_added: 0.2.0
description:
  - Makes minimal in-place edits to nginx configuration files. Each edit names a O(edits[].file) and
    O(edits[].line) as C(badgateway.doctor.nginx_facts) reports them and says what that line holds; when it
    holds something else (the configuration changed since the diagnosis) nothing is changed and the module fails.
  - The edit is located by the tokens of the collection's own nginx parser, not by regular expressions. Only
    the arguments (or the name) of the directive change, or directives are added after the last directive of
    the block with its indentation; comments, quoting, indentation, line ends and every other byte stay as they
    were. The new text is parsed again and must hold exactly the intended directives before it is written.
  - Saves every file it will change first (C(badgateway.doctor.remediation_backup), run O(run_id) under
    O(backup_dir), which must be outside every directory nginx loads configuration from), writes in place
    atomically (owner, mode, ACLs and SELinux label kept), then runs C(nginx -t) on the B(whole) configuration - the main file with its
    includes, as nginx loads it, not a copy. When the test fails, every changed file is put back byte-identical
    (with its modification time) and the module fails with the test output and the file:line nginx names.
  - With O(check_routes=true) it also refuses (and restores) a configuration that would turn a route which
    answers today into a 502 - one whose endpoints in the files on disk have no listener.
  - With O(reload) it reloads nginx after a passing test and waits until the reload took - every worker new, no
    C([emerg]) in the error logs - and restores the files when nginx rejects it.
  - O(state=restored) puts O(paths) back from the run's backup and tests the configuration again.
  - Buffer settings are kept consistent - setting C(proxy_buffer_size) (or the uwsgi, fastcgi, scgi one) also
    sets the C(*_buffers) / C(*_busy_buffers_size) / temp file sizes that nginx's checks need after inheritance,
    never changing a value that was asked for.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes.host
options:
  state:
    description:
      - V(present) applies O(edits) (an empty list only tests, checks routes and reloads).
      - V(restored) puts O(paths) back as run O(run_id) saved them, then tests (and reloads per O(reload)).
    type: str
    choices: [present, restored]
    default: present
  edits:
    description:
      - The edits, applied together to the files as they are now (lines refer to the files before any of them).
      - Each has O(edits[].file), O(edits[].line) and either O(edits[].directive) with O(edits[].args),
        O(edits[].target) or O(edits[].new_directive) alone, or O(edits[].set).
    type: list
    elements: dict
    default: []
    suboptions:
      file:
        description: The configuration file (absolute path, as the facts give it; a symbolic link is followed).
        type: path
        required: true
      line:
        description: The line of the directive (its name's line).
        type: int
        required: true
      directive:
        description:
          - The directive that line holds. Required unless O(edits[].set) is given; with O(edits[].set) it
            picks the directive when the line holds several.
        type: str
      args:
        description: The new arguments of O(edits[].directive) (a string is split on blanks).
        type: raw
      new_directive:
        description:
          - The new name of O(edits[].directive), for example V(proxy_pass) for a C(uwsgi_pass) or
            C(fastcgi_pass) to an HTTP app server. Without O(edits[].args) the pass target is kept and
            written in the form the new directive needs (C(http://) for C(proxy_pass)).
        type: str
      old_args:
        description: The arguments the directive has now; the edit is refused when they differ.
        type: raw
      target:
        description:
          - For a pass directive (C(proxy_pass), C(uwsgi_pass), C(fastcgi_pass), C(scgi_pass), C(grpc_pass),
            C(memcached_pass)) or an upstream C(server) - the new address, V(unix:/path), V(host:port) or
            V([v6]:port) (an C(http://) prefix is accepted). The scheme, C(proxy_pass)'s URI and a
            C(server)'s parameters are kept.
        type: str
      set:
        description:
          - Directives to set in the block the directive at O(edits[].line) opens (or is in, when it opens none),
            as a dict of directive names and values. A string value is split on blanks, a list is one directive's
            arguments, a list of lists sets several directives of that name.
          - Directives of that name directly in that block are replaced (a surplus is removed); nested blocks
            and comments are not touched; missing ones are added after the block's last directive.
        type: dict
  paths:
    description: With O(state=restored), the files to put back from run O(run_id).
    type: list
    elements: path
    default: []
  conf_path:
    description:
      - The main nginx configuration file. By default the one the running master uses, else C(nginx -V)'s
        C(--conf-path), else C(/etc/nginx/nginx.conf).
    type: path
  binary:
    description: The nginx binary. By default it is looked up in E(PATH) and the usual places.
    type: path
  test:
    description:
      - Run C(nginx -t) on the whole configuration (always done after an edit that changed a file).
    type: bool
    default: true
  check_routes:
    description:
      - Probe every route of the configuration on disk directly at its endpoints and through the running nginx;
        refuse (and restore) when a route that answers today has no listener at its endpoints in the files.
    type: bool
    default: false
  probe_timeout:
    description: Seconds each route probe of O(check_routes) may take.
    type: float
    default: 2.0
  reload:
    description:
      - V(never) does not reload. V(stale) reloads when this call changed a file or a configuration file is newer
        than nginx's workers. V(always) reloads after a passing test.
    type: str
    choices: [never, stale, always]
    default: never
  reload_timeout:
    description: Seconds to wait until every nginx worker is new after the reload.
    type: float
    default: 10.0
  run_id:
    description:
      - The remediation run the backups belong to (C(badgateway.doctor.remediation_backup)). Empty - a new run
        named after the current time.
    type: str
    default: ''
  backup_dir:
    description: Directory holding the runs' backups; refused inside a directory nginx loads configuration from.
    type: path
    default: /var/lib/badgateway-doctor/backups
attributes:
  check_mode:
    details:
      - Nothing is written, saved or reloaded. The test and the route check run on the files as they are when no edit is
        pending.
  diff_mode:
    support: full
    details: One diff per changed file, the changed lines with three lines around them (secret-looking values masked).
  idempotent:
    details:
      - An edit that is already in place changes nothing. Directives the module moved by adding lines are found again
        through the line map it keeps in O(backup_dir) while the file is unchanged since.
notes:
  - Runs on the target with the Python standard library only; needs root (C(become=true)) for C(nginx -t) and to
    write the files.
  - A file with syntax errors, a token the engine cannot place or a value it cannot write safely is refused.
  - A file that changed between the plan and the write (another writer) is not overwritten; the run fails and restores
    what it wrote.
seealso:
  - module: badgateway.doctor.nginx_facts
  - module: badgateway.doctor.remediation_backup
  - name: nginx's configuration checks of proxy buffers
    description: ngx_http_proxy_merge_loc_conf, the source of the buffer rules this module follows.
    link: https://github.com/nginx/nginx/blob/master/src/http/modules/ngx_http_proxy_module.c
"""

EXAMPLES = r"""
- name: Point the upstream at the socket gunicorn really binds
  badgateway.doctor.nginx_edit:
    edits:
      - file: /etc/nginx/sites-enabled/app
        line: 2
        directive: server
        target: unix:/run/gunicorn/gunicorn.sock
    reload: stale
  become: true

- name: gunicorn speaks HTTP - turn the uwsgi_pass into a proxy_pass to the same socket
  badgateway.doctor.nginx_edit:
    edits:
      - {file: /etc/nginx/sites-enabled/app, line: 14, directive: uwsgi_pass, new_directive: proxy_pass}
  become: true

- name: Raise the header buffer (and whatever nginx -t needs with it) in the location of line 12
  badgateway.doctor.nginx_edit:
    edits:
      - file: /etc/nginx/sites-enabled/app
        line: 12
        directive: proxy_pass
        set: {proxy_buffer_size: 16k, proxy_read_timeout: 90s}
    run_id: "{{ badgateway_run_id }}"
  become: true

- name: Test, refuse a reload that breaks a working route, reload, prove it took
  badgateway.doctor.nginx_edit:
    check_routes: true
    reload: stale
  become: true
"""

RETURN = r"""
conf_path:
  description: The main configuration file tested.
  returned: always
  type: str
  sample: /etc/nginx/nginx.conf
edits:
  description: Per edit, what the file held and holds now, and the line the directive is on afterwards.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/nginx/sites-enabled/app", "line": 19, "new_line": 19, "changed": true,
            "before": "proxy_pass http://127.0.0.1:8002/", "after": "proxy_pass http://127.0.0.1:8001/"}]
files:
  description: The files changed (in check mode, that would change); real paths.
  returned: always
  type: list
  elements: str
test:
  description:
    - C(nginx -t) - C(ok), C(rc), C(output), C(command) and C(locations) (each C([emerg]) / C([warn]) line with its
      C(file), C(line) and C(message)). Null when it did not run.
  returned: always
  type: dict
  sample: {"ok": false, "rc": 1, "command": "/usr/sbin/nginx -t -c /etc/nginx/nginx.conf",
           "output": "nginx: [emerg] unknown directive \"proxy_pas\" in /etc/nginx/sites-enabled/app:19",
           "locations": [{"file": "/etc/nginx/sites-enabled/app", "line": 19, "message": "..."}]}
routes:
  description: With O(check_routes), C(checked) (routes probed), C(broken) (route, file, line, target, endpoints, today's status), C(skipped), C(errors).
  returned: when check_routes
  type: dict
reload:
  description: The reload - C(ok), C(method), C(unit), C(master_pid), C(old_workers), C(new_workers), C(elapsed) (s), C(log) (C([emerg]) lines), C(message).
  returned: when reload is not never
  type: dict
restored:
  description: Files put back byte-identical (after a failure, or with O(state=restored)).
  returned: always
  type: list
  elements: str
run_id:
  description: The backup run the saved files belong to.
  returned: always
  type: str
backup:
  description: What C(remediation_backup) saved - C(manifest), C(saved) (paths first saved now), C(already_saved).
  returned: when a file changed
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_edit_live as live
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_run import (
    DEFAULT_BACKUP_DIR, RELOAD_MODES, Run, RunFailed, config_dirs,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_backup import (
    BackupError, Store, record_action, save_paths,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_restore import restore_entry
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import read_bytes


def _store(p, extra_protected):
    return Store(p["backup_dir"], p["run_id"], extra_protected)


def _restore(module, p, result):
    """state=restored: the saved originals of ``paths`` back, then the test (and reload) of Run."""
    facts = live.nginx_facts(p["conf_path"], p["binary"])
    store = _store(p, config_dirs(facts, facts["conf_path"]))
    manifest = store.load()
    saved = dict((entry.get("path"), entry) for entry in manifest["files"])
    restored = []
    for path in p["paths"]:
        entry = saved.get(os.path.normpath(path)) or saved.get(os.path.realpath(path))
        if entry is None:
            module.fail_json(msg="%s was not saved in run %s (%s): nothing to restore it from"
                             % (path, store.run_id, store.manifest_path), **result)
        change = restore_entry(store, entry, check_mode=module.check_mode)
        if change:
            restored.append(entry["path"])
            if module._diff and change.get("diff"):
                result.setdefault("diff", []).append(change["diff"])
    result["restored"] = restored
    result["changed"] = bool(restored)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "restored"]),
            edits=dict(type="list", elements="dict", default=[], options=dict(
                file=dict(type="path", required=True),
                line=dict(type="int", required=True),
                directive=dict(type="str"),
                args=dict(type="raw"),
                new_directive=dict(type="str"),
                old_args=dict(type="raw"),
                target=dict(type="str"),
                set=dict(type="dict"),
            )),
            paths=dict(type="list", elements="path", default=[]),
            conf_path=dict(type="path"),
            binary=dict(type="path"),
            test=dict(type="bool", default=True),
            check_routes=dict(type="bool", default=False),
            probe_timeout=dict(type="float", default=2.0),
            reload=dict(type="str", default="never", choices=list(RELOAD_MODES)),
            reload_timeout=dict(type="float", default=10.0),
            run_id=dict(type="str", default=""),
            backup_dir=dict(type="path", default=DEFAULT_BACKUP_DIR),
        ),
        required_if=[("state", "restored", ("paths", "run_id"))],
        supports_check_mode=True,
    )
    p = dict(module.params)
    p["run_id"] = p["run_id"] or "nginx-edit-%s-%d" % (time.strftime("%Y%m%dT%H%M%S"), os.getpid())
    # the edits as given, without the keys the argument spec filled with None
    p["edits"] = [dict((k, v) for k, v in edit.items() if v is not None) for edit in p["edits"]]
    result = {"changed": False, "run_id": p["run_id"]}
    warnings = []

    def backup(paths):
        store = _store(p, runner.extra_protected)
        saved, already = save_paths(store, paths)
        return {"manifest": store.manifest_path, "saved": [e.get("path") for e in saved],
                "already_saved": [e.get("path") for e in already]}

    runner = Run(p, module.check_mode, read_bytes, backup, warnings.append)
    try:
        if p["state"] == "restored":
            _restore(module, p, result)
            p["edits"] = []
        out = runner.run()
        if p["state"] == "restored":
            out["restored"] = result["restored"]
            out["changed"] = out["changed"] or result["changed"]
        result.update(out)
        reload = result.get("reload") or {}
        if reload.get("ok") and reload.get("unit") and not module.check_mode:
            record_action(_store(p, runner.extra_protected), {"kind": "reloaded", "unit": reload["unit"]})
    except RunFailed as exc:
        result.update(exc.result)
        _finish(module, result, warnings, str(exc))
    except BackupError as exc:
        result.update(runner.result)
        _finish(module, result, warnings, "cannot back up the files before changing them: %s" % exc)
    except Exception as exc:  # pylint: disable=broad-except  # never leave a half-edited configuration behind
        try:
            runner.fail("unexpected %s: %s" % (type(exc).__name__, exc))
        except RunFailed as failed:
            result.update(failed.result)
            _finish(module, result, warnings, str(failed))
    _finish(module, result, warnings)


def _masked_edits(edits):
    """Edit results with directive texts masked (a changed header line may carry a token)."""
    out = []
    for edit in edits or ():
        edit = dict(edit)
        for key in ("before", "after"):
            if isinstance(edit.get(key), str):
                edit[key] = mask_text(edit[key])
        if isinstance(edit.get("changes"), list):
            edit["changes"] = [mask_text(c) for c in edit["changes"]]
        if isinstance(edit.get("set"), dict):
            edit["set"] = dict((k, [mask_text(v) for v in vals]) for k, vals in edit["set"].items())
        out.append(edit)
    return out


def _finish(module, result, warnings, failure=None):
    for warning in warnings:
        module.warn(mask_text(warning))
    result["edits"] = _masked_edits(result.get("edits"))
    diff = result.pop("diff", None) or []
    if module._diff and diff:
        result["diff"] = [dict(d, before=mask_text(d["before"]), after=mask_text(d["after"])) for d in diff]
    if failure:
        module.fail_json(msg=mask_text(failure), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
