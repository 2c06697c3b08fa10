#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: app_server_facts
short_description: Find the app servers behind nginx (gunicorn, uvicorn, uWSGI, hypercorn, daphne, PHP-FPM) and their units
version_added: 0.1.0
description:
  - Finds app servers as running processes (from C(/proc)) and as systemd service units whose C(ExecStart)
    runs one, including stopped and failed units. For each it returns the binds (unix sockets, host and port,
    inherited file descriptors), timeouts, keepalive, workers, worker class, backlog and the application
    (C(module:callable)), with the source of every setting (command line, environment - C(GUNICORN_CMD_ARGS),
    C(UVICORN_*), C(UWSGI_*), C(PORT), C(WEB_CONCURRENCY) - config file, or the server's default), read the
    way each server reads its own options and defaults.
  - Config files are read, never executed - gunicorn's with Python's C(ast) module, hypercorn's TOML, uWSGI's
    ini; only the settings named in the return values are returned as values, all other names in them as key
    names only.
  - Reads the units with one C(systemctl show) call for many units (drop-ins are merged by systemd itself) -
    user, working directory, environment files (existence, readability by the unit's user and KEY NAMES ONLY),
    the C(ExecStart) binary, C(RuntimeDirectory=), C(PrivateTmp=), restart policy, state, restarts and the
    exit status of the main process; the C(.socket) unit of socket-activated services; PHP-FPM pools.
  - Returns the C(apps) section of the C(badgateway) facts; the action plugin merges it into the host's
    existing C(badgateway) fact, so it composes with the other fact modules.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  units:
    description:
      - Extra systemd units to describe even when their C(ExecStart) does not name an app server
        (for example a unit that starts gunicorn through a wrapper script), or C(.socket) units.
    type: list
    elements: str
    default: []
notes:
  - Runs on the target with the Python standard library only; Linux only.
  - Without systemd as PID 1 (containers, chroots) the processes are still found; C(unit_settings) and
    C(state) are null and one entry in C(errors) says why.
  - Without root the environment (C(GUNICORN_CMD_ARGS)) and working directory of other users' processes and
    unreadable files cannot be inspected; one entry in C(errors) says so.
  - Environment variable values, config values other than the settings returned here and the values of
    C(--env)/C(-e) are never returned.
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.listener_facts
  - module: badgateway.doctor.service_log_facts
"""

EXAMPLES = r"""
- name: Find the app servers
  badgateway.doctor.app_server_facts:

- name: Show where each app server listens
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.kind }}): {{ item.binds }} running={{ item.running }}"
  loop: "{{ ansible_facts.badgateway.apps.servers }}"

- name: Fail when a gunicorn unit is not active
  ansible.builtin.assert:
    that: item.state is none or item.state.active_state == 'active'
    fail_msg: "{{ item.unit }} is {{ item.state.active_state }} ({{ item.state.result }})"
  loop: "{{ ansible_facts.badgateway.apps.servers | selectattr('kind', 'equalto', 'gunicorn') }}"

- name: Also describe a unit that starts gunicorn through a wrapper script
  badgateway.doctor.app_server_facts:
    units:
      - app.openprescribing.web.service
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(apps) section.
      returned: always
      type: dict
      contains:
        apps:
          description: App servers of the host.
          returned: always
          type: dict
          contains:
            servers:
              description: One entry per app server (a running master process and/or a service unit; one per PHP-FPM pool).
              returned: always
              type: list
              elements: dict
              contains:
                kind:
                  description:
                    - V(gunicorn), V(uvicorn), V(uwsgi), V(hypercorn), V(daphne) or V(php-fpm).
                    - Null for a unit given in O(units) that runs none of them.
                  type: str
                  returned: always
                  sample: gunicorn
                name:
                  description:
                    - The unit name, else C(<kind>:<pid>) of the master.
                    - PHP-FPM units with several pools get one entry per pool, named C(<unit>:<pool>).
                  type: str
                  returned: always
                  sample: gunicorn.service
                unit:
                  description: The systemd service unit, or null.
                  type: str
                  returned: always
                  sample: gunicorn.service
                pids:
                  description: Process ids, the master first, then its workers.
                  type: list
                  elements: int
                  returned: always
                  sample: [812, 830, 831]
                running:
                  description: A master process was found.
                  type: bool
                  returned: always
                  sample: true
                cmdline:
                  description:
                    - The master's command line, else the unit's C(ExecStart) argv.
                    - Values of C(--env)/C(-e) and secret-looking C(KEY=VALUE) arguments are masked.
                  type: list
                  elements: str
                  returned: always
                  sample: ["/srv/app/venv/bin/gunicorn", "--bind", "unix:/run/gunicorn/gunicorn.sock", "project.wsgi:application"]
                worker_class:
                  description: Worker class (gunicorn C(-k), hypercorn C(-k)); gunicorn's default is V(sync).
                  type: str
                  returned: always
                  sample: uvicorn.workers.UvicornWorker
                binds:
                  description:
                    - Where the server listens, as Endpoint dicts like the nginx routes' endpoints - C(kind=unix) with C(path),
                      or C(kind=tcp) with C(host), C(port), C(family), C(addresses) - plus C(kind=fd) with C(fd) for an inherited
                      file descriptor; every bind has a C(protocol) key (V(http), V(uwsgi), V(fastcgi) or V(scgi); gunicorn 24+
                      C(--protocol uwsgi) speaks uwsgi).
                    - For a socket-activated service these are the C(ListenStream=) of its C(.socket) unit.
                  type: list
                  elements: dict
                  returned: always
                  sample: [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock", "protocol": "http"}]
                timeout:
                  description:
                    - Worker timeout in seconds (gunicorn C(--timeout), default 30; uWSGI C(harakiri); daphne C(--http-timeout);
                      PHP-FPM C(request_terminate_timeout)).
                    - Null when the server has none.
                  type: float
                  returned: always
                  sample: 30.0
                graceful_timeout:
                  description: Graceful shutdown timeout in seconds (gunicorn default 30).
                  type: float
                  returned: always
                  sample: 30.0
                keepalive:
                  description:
                    - Seconds an idle keep-alive connection is kept open.
                    - gunicorn C(--keep-alive) (default 2), uvicorn C(--timeout-keep-alive) (default 5).
                  type: float
                  returned: always
                  sample: 2.0
                workers:
                  description: Number of worker processes (PHP-FPM C(pm.max_children)).
                  type: int
                  returned: always
                  sample: 3
                max_requests:
                  description: Requests after which a worker restarts (0 = never).
                  type: int
                  returned: always
                  sample: 0
                backlog:
                  description: Listen backlog the server asks for (gunicorn and uvicorn default 2048, hypercorn and uWSGI 100).
                  type: int
                  returned: always
                  sample: 2048
                app:
                  description: The application, C(module:callable).
                  type: str
                  returned: always
                  sample: project.wsgi:application
                config_file:
                  description:
                    - The server's config file (gunicorn C(-c) or C(./gunicorn.conf.py) in the working directory, hypercorn C(-c),
                      uWSGI C(--ini), the PHP-FPM main config) with C(path), C(exists) and C(keys) (all names assigned in it; values
                      only for the settings above). Null when there is none.
                    - For a config given as a Python module (C(python:module)) C(path) and C(exists) are null and C(module) names it.
                  type: dict
                  returned: always
                  sample: {"path": "/srv/app/gunicorn.conf.py", "exists": true, "keys": ["bind", "workers", "SECRET_KEY"]}
                settings_source:
                  description:
                    - Where each setting came from - V(cmdline), V(env) (C(GUNICORN_CMD_ARGS), C(UVICORN_*), C(UWSGI_*),
                      or the C(PORT) / C(WEB_CONCURRENCY) gunicorn and uvicorn take their defaults from), V(config) or V(default).
                    - V(socket_unit) for the binds of a socket-activated service (gunicorn takes every listener of its C(.socket)
                      unit; other servers' C(fd) binds are the listener systemd passed as that descriptor).
                  type: dict
                  returned: always
                  sample: {"bind": "cmdline", "timeout": "default", "workers": "config"}
                socket_unit:
                  description:
                    - The C(.socket) unit that triggers this service, or null.
                    - Keys C(name), C(listen_stream), C(socket_user), C(socket_group), C(socket_mode).
                  type: dict
                  returned: always
                  sample:
                    name: gunicorn.socket
                    listen_stream: ["/run/gunicorn.sock"]
                    socket_user: www-data
                    socket_group: www-data
                    socket_mode: "0660"
                php_fpm_pool:
                  description:
                    - For PHP-FPM, the pool - C(name), C(file), C(listen), C(owner), C(group), C(mode); else null.
                    - Owner and group default to the pool's user and group, mode to 0660, as in PHP-FPM.
                  type: dict
                  returned: always
                  sample:
                    name: www
                    file: /etc/php/8.2/fpm/pool.d/www.conf
                    listen: /run/php/php8.2-fpm.sock
                    owner: www-data
                    group: www-data
                    mode: "0660"
                unit_settings:
                  description:
                    - Settings of the service unit from C(systemctl show), drop-ins merged; null without a unit or without systemd.
                    - C(environment_files) lists C(path), C(optional) (the C(-) prefix), C(exists), C(readable_by_user) and C(keys) (names only, never values).
                    - C(exec_binary_ok) is false when the C(ExecStart) binary is missing or not executable (status 203/EXEC).
                  type: dict
                  returned: always
                  sample:
                    fragment_path: /etc/systemd/system/gunicorn.service
                    dropin_paths: []
                    user: app
                    group: www-data
                    working_directory: /srv/app
                    working_directory_exists: true
                    environment_files:
                      - path: /etc/gunicorn/app.env
                        optional: false
                        exists: true
                        readable_by_user: true
                        keys: [DJANGO_SECRET_KEY]
                    exec_start: ["/srv/app/venv/bin/gunicorn", "--bind", "unix:/run/gunicorn/gunicorn.sock", "wsgi:application"]
                    exec_binary: /srv/app/venv/bin/gunicorn
                    exec_binary_ok: true
                    runtime_directory: [gunicorn]
                    runtime_directory_mode: "0755"
                    private_tmp: false
                    umask: "0022"
                    restart: on-failure
                    memory_max: null
                    requires: []
                    after: [network.target]
                state:
                  description:
                    - Unit state from C(systemctl show) - C(active_state), C(sub_state), C(result), C(n_restarts), C(exec_main_status),
                      C(exec_main_code) (V(exited), V(killed), V(dumped)), C(active_enter) (epoch), C(main_pid), C(load_state).
                    - Null without a unit or without systemd.
                  type: dict
                  returned: always
                  sample:
                    active_state: failed
                    sub_state: failed
                    result: exit-code
                    n_restarts: 5
                    exec_main_status: 3
                    exec_main_code: exited
                    active_enter: null
                    main_pid: null
                    load_state: loaded
            errors:
              description: Problems met while collecting, each with C(source), C(path) and C(message); the rest is still returned.
              returned: always
              type: list
              elements: dict
              sample:
                - source: systemctl
                  path: null
                  message: "No unit settings or states: systemd is not running as PID 1 on this host."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils.apps import collect_apps


def main():
    module = AnsibleModule(
        argument_spec=dict(
            units=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    apps = collect_apps(extra_units=module.params["units"])
    module.exit_json(changed=False, ansible_facts={"badgateway": {"apps": apps}})


if __name__ == "__main__":
    main()
