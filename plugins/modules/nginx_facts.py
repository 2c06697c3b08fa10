#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_facts
short_description: Gather what nginx is configured to do with each request it passes on
version_added: 0.1.0
description:
  - Finds the nginx binary, reads its build settings (C(nginx -V)) and its verdict on the
    configuration (C(nginx -t)), parses the configuration (the files on disk, or the output of
    C(nginx -T)) and returns every server, C(upstream{}) group and route - every location that
    passes requests on with C(proxy_pass), C(uwsgi_pass), C(fastcgi_pass), C(grpc_pass) or
    C(scgi_pass) - with the endpoints the target resolves to (unix socket paths, host and port
    with the addresses the name resolves to) and the effective timeouts, buffer sizes and
    keep-alive settings after nginx's inheritance (http, server, location, nested location, C(if))
    and defaults.
  - Looks at the running master and worker processes - their pids, users and start times - and
    reports the configuration as stale when a parsed file was modified after the oldest running
    worker started (workers are started anew on every reload, so this means edited but not
    reloaded).
  - Read-only. Without nginx installed the module returns C(present=false) and does not fail. Problems such as an unreadable file, a name that does not
    resolve or an C(nginx -t) that cannot run are reported in C(errors) and the rest is returned.
    The module fails only for invalid options.
  - Returns C(ansible_facts.badgateway.nginx). The action plugin of the same name merges that
    section into the host's C(badgateway) fact, so it composes with the other fact modules.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
options:
  conf_path:
    description:
      - The main nginx configuration file.
      - By default the file the running master was started with (C(-c)), else what C(nginx -V)
        reports as C(--conf-path), else C(/etc/nginx/nginx.conf).
      - Without an nginx binary on the host, the configuration is parsed only when this option is
        given. A file whose top level holds C(server) or C(upstream) blocks (such as a
        C(sites-enabled) file) is read as if it were included in C(http).
    type: path
  source:
    description:
      - V(files) parses the configuration files on disk.
      - V(nginx_T) parses the output of C(nginx -T), which is exactly what the installed binary
        loads. If C(nginx -T) fails (for example because the configuration is invalid), the files
        are parsed instead and C(source) in the result says V(files).
    type: str
    choices: [files, nginx_T]
    default: files
  binary:
    description:
      - Path of the nginx binary. By default it is looked up in E(PATH), then in C(/usr/sbin),
        C(/usr/local/sbin), C(/usr/local/nginx/sbin) and C(/usr/bin).
    type: path
  resolve:
    description:
      - Resolve host names of upstream targets (such as C(localhost) or C(app.internal)) with the
        target's resolver, as nginx does when it loads its configuration (C(getaddrinfo) with
        C(AI_ADDRCONFIG)).
      - With V(false), named endpoints have empty C(addresses); IP literals are always returned.
    type: bool
    default: true
  test:
    description:
      - When to run C(nginx -t) (with a C locale and a timeout) and return its result in C(test).
      - V(auto) (the default) starts it while the configuration is parsed, then stops it when it
        would only repeat what the running nginx already proved - nginx is running this
        configuration file and no parsed configuration file, no file named by
        C(ssl_certificate), C(ssl_certificate_key), C(ssl_trusted_certificate),
        C(ssl_client_certificate), C(ssl_dhparam), C(ssl_crl), C(ssl_password_file),
        C(auth_basic_user_file) or C(load_module), no directory holding a configuration file and
        not the nginx binary changed after the workers started (the comparison
        C(stale) uses). The workers loaded exactly these files, so the configuration is valid; on a
        large configuration C(nginx -t) costs seconds, far more than the rest of the facts. It still
        runs when nginx is not running, a file is stale, newer, missing or unreadable, a file name
        holds a variable, or the configuration did not parse cleanly. A skipped test is returned
        as C(test.skipped=true) with C(ok) V(null).
      - V(always) always runs it, V(never) never does.
      - The booleans this option took before it had modes still work - V(true) (or yes, on, 1)
        means V(always) and V(false) (or no, off, 0) means V(never).
      - With O(source=nginx_T) the result of C(nginx -T) is used instead of a second run (with
        V(auto) and V(always)).
    type: raw
    default: auto
  tree:
    description:
      - Also return the parsed configuration (a crossplane-compatible payload) as the return value
        C(tree). It is not stored in the facts.
      - Secrets in it are masked (credentials and secret-looking query parameters of URLs, the values
        of headers, parameters and environment variables with secret names), and blocks nested deeper
        than 50 levels are emptied (with an entry in C(errors)).
    type: bool
    default: false
  comments:
    description: Keep comments in C(tree) (as crossplane's C(--include-comments)).
    type: bool
    default: false
  single_file:
    description:
      - Do not follow C(include) directives (as crossplane's C(--single-file)). This also limits
        the facts to what the main file says.
    type: bool
    default: false
  combine:
    description: Return C(tree) as one config entry with includes replaced by their content (as crossplane's C(--combine)).
    type: bool
    default: false
  ignore:
    description:
      - Directive names to leave out of the parse, with their blocks (as crossplane's C(--ignore)).
        This also applies to the facts.
    type: list
    elements: str
    default: []
notes:
  - Runs on the target with the Python standard library only.
  - Run it as root (C(become=true)) for complete facts - C(nginx -t) needs to read the TLS keys and
    the configuration files may not be readable to others.
  - Defaults follow the nginx version found - from nginx 1.29.7 on, C(proxy_http_version) defaults to
    C(1.1), the C(Connection) header is no longer set to C(close) and C(upstream{}) groups keep
    32 idle connections by default. Without a binary the older defaults are assumed.
  - Buffer size defaults are one memory page of the target (C(getconf PAGESIZE)), as in nginx.
seealso:
  - module: badgateway.doctor.gateway_facts
  - name: crossplane
    description: The nginx configuration parser whose output format C(tree) follows.
    link: https://github.com/nginxinc/crossplane
"""

EXAMPLES = r"""
- name: Gather the nginx facts
  badgateway.doctor.nginx_facts:
  become: true

- name: Parse exactly what the running binary loads, do not resolve names
  badgateway.doctor.nginx_facts:
    source: nginx_T
    resolve: false
  become: true

- name: Show where each location sends its requests (the filter expands the shared values into every route)
  ansible.builtin.debug:
    msg: "{{ item.id }} -> {{ item.endpoints | map(attribute='path', default='') | list }} (read timeout {{ item.timeouts.read }}s)"
  loop: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).nginx.routes }}"

- name: Check the configuration with nginx -t even when nginx runs these very files
  badgateway.doctor.nginx_facts:
    test: always
  become: true

- name: Fail when nginx was edited but not reloaded
  ansible.builtin.assert:
    that: not ansible_facts.badgateway.nginx.stale
    fail_msg: "Reload nginx: {{ ansible_facts.badgateway.nginx.stale_files | map(attribute='path') | join(', ') }} changed after the workers started"

- name: Look at one site file only and get its parse tree
  badgateway.doctor.nginx_facts:
    conf_path: /etc/nginx/sites-available/app.conf
    test: never
    tree: true
  register: app_site

- name: Print the top-level directives of that file
  ansible.builtin.debug:
    msg: "{{ app_site.tree.config[0].parsed | map(attribute='directive') | list }}"
"""

RETURN = r"""
tree:
  description:
    - The parsed configuration in crossplane's payload format (C(status), C(errors), C(config) with one
      entry per file and its C(parsed) directives). Only with O(tree=true).
  type: dict
  returned: when O(tree=true) and a configuration was parsed
  sample: {"status": "ok", "errors": [], "config": [{"file": "/etc/nginx/nginx.conf", "status": "ok", "errors": [],
           "parsed": [{"directive": "user", "line": 1, "args": ["www-data"]}]}]}
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The facts of badgateway.doctor; this module sets the C(nginx) section only.
      returned: always
      type: dict
      contains:
        nginx:
          description: What nginx is configured to do, as described in the collection's C(docs/FACTS.md).
          returned: always
          type: dict
          contains:
            present:
              description: Whether an nginx binary was found. V(false) is not a failure.
              type: bool
              returned: always
              sample: true
            binary:
              description: Path of the nginx binary, or V(null).
              type: str
              returned: always
              sample: /usr/sbin/nginx
            version:
              description: The nginx version from C(nginx -V), or V(null).
              type: str
              returned: always
              sample: 1.22.1
            conf_path:
              description: The main configuration file that was parsed.
              type: str
              returned: always
              sample: /etc/nginx/nginx.conf
            prefix:
              description: C(--prefix) from C(nginx -V), or V(null) when the build does not set one.
              type: str
              returned: always
              sample: /usr/share/nginx
            compiled_user:
              description: C(--user) from C(nginx -V), or V(null) (nginx's own default is C(nobody)).
              type: str
              returned: always
              sample: null
            source:
              description: Where the configuration came from - V(files) or V(nginx_T).
              type: str
              returned: always
              sample: files
            test:
              description:
                - Result of C(nginx -t). C(ok) and C(rc) are V(null) when it was not run.
                - With O(test=auto) it is skipped when nginx is running and no file it loaded
                  changed since its workers started; C(skipped) is then V(true), C(ok) V(null) and
                  C(output) says why. The running configuration is valid then - not an unknown.
              type: dict
              returned: always
              sample: {"ok": true, "rc": 0, "skipped": false,
                       "output": "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n
                                  nginx: configuration file /etc/nginx/nginx.conf test is successful"}
              contains:
                ok:
                  description: V(true) when the test passed, V(false) when it failed, V(null) when not run, skipped
                    or when it failed only for lack of permission.
                  type: bool
                  sample: true
                rc:
                  description: Exit status of C(nginx -t) (V(null) when not run or skipped).
                  type: int
                  sample: 0
                output:
                  description: What C(nginx -t) printed, or why it was skipped.
                  type: str
                  sample: "nginx: configuration file /etc/nginx/nginx.conf test is successful"
                skipped:
                  description:
                    - V(true) when O(test=auto) stopped C(nginx -t) because the running nginx already
                      loaded exactly these files successfully (see O(test)); V(false) otherwise.
                  type: bool
                  sample: false
            files:
              description: The configuration files parsed, in parse order (the main file first).
              type: list
              elements: str
              returned: always
              sample: ["/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/nginx/sites-enabled/app"]
            user:
              description: The effective worker user - the C(user) directive, else the compiled default, else C(nobody).
              type: str
              returned: always
              sample: www-data
            group:
              description: The effective worker group, or V(null) when nginx decides it at build time and C(nginx -V) does not say.
              type: str
              returned: always
              sample: www-data
            user_directive:
              description: Where the C(user) directive is (C(file), C(line)), or V(null).
              type: dict
              returned: always
              sample: {"file": "/etc/nginx/nginx.conf", "line": 1}
            worker_users:
              description: The users the running worker processes run as.
              type: list
              elements: str
              returned: always
              sample: [www-data]
            master_pid:
              description: Pid of the running master process, or V(null).
              type: int
              returned: always
              sample: 812
            worker_pids:
              description: Pids of the running worker processes (old workers still shutting down after a reload are left out).
              type: list
              elements: int
              returned: always
              sample: [813, 814]
            master_started:
              description: Start time of the master (epoch seconds), or V(null).
              type: float
              returned: always
              sample: 1763776000.12
            workers_started:
              description: Start time of the oldest running worker (epoch seconds), or V(null).
              type: float
              returned: always
              sample: 1763779600.53
            stale:
              description: Whether a parsed configuration file was modified after the oldest running worker started (edited but not reloaded).
              type: bool
              returned: always
              sample: false
            stale_files:
              description: The files that make the configuration stale, with their modification time.
              type: list
              elements: dict
              returned: always
              sample: [{"path": "/etc/nginx/sites-enabled/app", "mtime": 1763780000.0}]
            service:
              description:
                - nginx as a service - C(installed), C(running) (a master process exists), C(managed_by) (V(systemd),
                  V(other), V(none)), C(unit), C(enabled) (its unit file state), C(state) (from C(systemctl show) -
                  C(load_state), C(unit_file_state), C(active_state), C(sub_state), C(result), C(n_restarts),
                  C(exec_main_status), C(main_pid), C(active_enter), C(inactive_enter), C(fragment_path)).
                - C(start_failure) - when nginx should run (enabled, failed, restarting) but no master runs - is why
                  the last start attempt failed, from the unit's journal - C(cause) (V(address_in_use),
                  V(address_unavailable), V(permission_denied), V(missing_path), V(config_error), V(other),
                  V(unknown)), C(message), C(target) (the path, address or C(file:line) named), C(at), C(lines).
                  Otherwise V(null).
              type: dict
              returned: always
              sample: {"installed": true, "running": false, "managed_by": "systemd", "unit": "nginx.service",
                       "enabled": true, "state": {"active_state": "failed", "result": "exit-code"},
                       "start_failure": {"cause": "address_in_use", "target": "0.0.0.0:80",
                                         "message": "bind() to 0.0.0.0:80 failed (98: Address already in use)"}}
            access_logs:
              description:
                - Every access log a route writes to - C(path), C(format) (the C(log_format) name, V(combined) when
                  none), C(kind) (V(file), V(syslog), V(dynamic) for a path with variables), C(condition) (C(if=)),
                  C(buffered), C(file), C(line) (V(null) for nginx's compiled default) and C(routes) (indexes into
                  C(routes)).
              type: list
              elements: dict
              returned: always
              sample: [{"path": "/var/log/nginx/access.log", "format": "combined", "kind": "file", "condition": null,
                        "buffered": false, "file": "/etc/nginx/nginx.conf", "line": 40, "routes": [0, 1]}]
            log_formats:
              description: The C(log_format) definitions by name - C(format) (the joined string), C(escape), C(file), C(line).
              type: dict
              returned: always
              sample: {"main": {"format": "$remote_addr [$time_local] \"$request\" $status", "escape": "default",
                                "file": "/etc/nginx/nginx.conf", "line": 20}}
            error_logs:
              description:
                - Every C(error_log) at the main, http and server level (C(path), C(level) - default C(error),
                  C(context), C(server_names), C(file), C(line)).
                - When the main level names none, nginx's compiled default is listed with C(file) and C(line) V(null).
              type: list
              elements: dict
              returned: always
              sample: [{"path": "/var/log/nginx/error.log", "level": "error", "context": "main", "server_names": [],
                        "file": "/etc/nginx/nginx.conf", "line": 7}]
            servers:
              description:
                - C(rows) is one JSON text of the list of rows (one list of values per row, in the order of C(columns)).
                - Every C(server) block of C(http), as a table - C(columns) V([names, listen, file, line]) and one row per
                  server. C(listen) is an index into RV(ansible_facts.badgateway.nginx.listens), C(file) an index into
                  RV(ansible_facts.badgateway.nginx.files).
                - The filter P(badgateway.doctor.expand_facts#filter) gives the servers as dicts
                  (C(names), C(listen) list, C(file), C(line)).
              type: dict
              returned: always
              sample: {"columns": ["names", "listen", "file", "line"], "rows": "[[[\"_\"],0,2,5]]"}
            listens:
              description:
                - The distinct C(listen) lists of the servers, each once - C(raw), C(host), C(port), C(unix), C(ssl),
                  C(default_server), C(ipv6); a server without C(listen) listens on C(*:80).
              type: list
              elements: list
              returned: always
              sample: [[{"raw": "80 default_server", "host": "*", "port": 80, "unix": null, "ssl": false,
                         "default_server": true, "ipv6": false}]]
            endpoints:
              description:
                - Every distinct endpoint of the routes and upstream servers, each once - C({kind=tcp, host, port, family,
                  addresses}), a unix socket as its text C(unix:/path).
              type: list
              elements: raw
              returned: always
              sample: ["unix:/run/gunicorn/gunicorn.sock",
                       {"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet",
                        "addresses": [{"family": "inet", "address": "127.0.0.1"}]}]
            profiles:
              description:
                - The distinct effective settings of the routes, each once - C(directive), C(protocol), C(dynamic),
                  C(conditional) and C(condition) (a pass directive in an C(if) or C(limit_except) block - nginx uses it
                  only when the condition holds), C(timeouts) (seconds), C(buffers) (bytes; C(buffers) and
                  C(busy_buffers_size) are V(null) for C(grpc_pass)), C(http_version) (V(null) except for C(proxy_pass)),
                  C(connection_header_cleared), C(keepalive_in_use) and C(client_max_body_size) (bytes, 0 means unlimited).
              type: list
              elements: dict
              returned: always
              sample: [{"directive": "proxy_pass", "protocol": "http", "dynamic": false, "conditional": false, "condition": null,
                        "timeouts": {"connect": 60.0, "read": 60.0, "send": 60.0},
                        "buffers": {"buffer_size": 4096, "buffers": {"number": 8, "size": 4096}, "busy_buffers_size": 8192},
                        "http_version": "1.0", "connection_header_cleared": false, "keepalive_in_use": false,
                        "client_max_body_size": 1048576}]
            locations:
              description: The distinct C(location) texts of the routes (nested ones joined with C( > )), each once.
              type: list
              elements: str
              returned: always
              sample: ["/", "/api/"]
            upstreams:
              description:
                - Every C(upstream{}) group by name - C(file) (an index into RV(ansible_facts.badgateway.nginx.files)),
                  C(line), C(servers) (C(address), C(params) with nginx's defaults for C(weight), C(max_fails),
                  C(fail_timeout), C(backup), C(down), C(max_conns), C(resolve), C(endpoint) - an index into
                  RV(ansible_facts.badgateway.nginx.endpoints) - C(file), C(line)), C(keepalive) (idle connections kept,
                  or V(null)), C(keepalive_timeout) (seconds) and C(keepalive_requests).
              type: dict
              returned: always
              sample: {"wsgi_app": {"file": 2, "line": 1, "keepalive": null, "keepalive_timeout": 60.0, "keepalive_requests": 1000,
                                    "servers": [{"address": "unix:/run/gunicorn/gunicorn.sock",
                                                 "params": {"weight": 1, "max_fails": 1, "fail_timeout": 10.0, "backup": false,
                                                            "down": false, "max_conns": 0, "resolve": false},
                                                 "endpoint": 0, "file": 2, "line": 2}]}}
            routes:
              description:
                - C(rows) is one JSON text of the list of rows (one list of values per row, in the order of C(columns)).
                - One row per pass directive of a location (nested and named ones included) - directly in it, or in
                  an C(if) or C(limit_except) block in it (a location with its own pass directive and one in an C(if)
                  block gives two routes) - in a table with C(columns)
                  V([server, location, profile, target, upstream, endpoints, file, line, id]).
                - C(server) is the row of its server in RV(ansible_facts.badgateway.nginx.servers) (its names and listen);
                  C(location) an index into RV(ansible_facts.badgateway.nginx.locations); C(profile) an index into
                  RV(ansible_facts.badgateway.nginx.profiles) (its effective settings); C(file) an index into
                  RV(ansible_facts.badgateway.nginx.files).
                - C(target) is the argument as written with secrets masked (user:password@, C(?token=)), or V(true) when
                  it is written as its one endpoint is (C(unix:/run/app.sock), C(127.0.0.1:8000)).
                - C(endpoints) are indexes into RV(ansible_facts.badgateway.nginx.endpoints), or V(null) for a target
                  naming an C(upstream{}) group (the group's servers' endpoints); a C(dynamic) target (with variables
                  in its address) may have none.
                - C(id) is V(null) when it is C(first_server_name:port location) (C(_) for a server without name); it is
                  written out when it differs (a C(#2) suffix when the same id occurs again).
                - The filter P(badgateway.doctor.expand_facts#filter) gives every route as one dict with all of these
                  values (C(id), C(server_names), C(listen), C(location), the profile's keys, C(target), C(upstream),
                  C(endpoints), C(file), C(line)).
              type: dict
              returned: always
              sample: {"columns": ["server", "location", "profile", "target", "upstream", "endpoints", "file", "line", "id"],
                       "rows": "[[0,0,0,\"http://wsgi_app\",\"wsgi_app\",null,2,12,null]]"}
            errors:
              description: What could not be gathered, and why (C(source), C(path), C(message)).
              type: list
              elements: dict
              returned: always
              sample: [{"source": "resolve", "path": null, "message": "cannot resolve app.internal (port 8000): [Errno -2] Name or service not known"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_nginx
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_test_policy import test_option_mode
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx, collect_nginx_and_tree


def main():
    module = AnsibleModule(
        argument_spec=dict(
            conf_path=dict(type="path"),
            source=dict(type="str", choices=["files", "nginx_T"], default="files"),
            binary=dict(type="path"),
            resolve=dict(type="bool", default=True),
            test=dict(type="raw", default="auto"),
            tree=dict(type="bool", default=False),
            comments=dict(type="bool", default=False),
            single_file=dict(type="bool", default=False),
            combine=dict(type="bool", default=False),
            ignore=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_test = test_option_mode(p["test"])
    if run_test is None:
        module.fail_json(msg="Option test must be one of auto, always, never (or a boolean: true means always, "
                             "false never), got %r." % (p["test"],))
    options = dict(conf_path=p["conf_path"], source=p["source"], binary=p["binary"], resolve=p["resolve"],
                   run_test=run_test)
    result = dict(changed=False)
    if p["tree"]:
        facts, tree = collect_nginx_and_tree(
            tree_options=dict(comments=p["comments"], single_file=p["single_file"], combine=p["combine"],
                              ignore=p["ignore"]),
            **options)
        if tree is not None:
            result["tree"] = tree
    else:
        facts = collect_nginx(**options)
    result["ansible_facts"] = {"badgateway": {"nginx": compact_nginx(facts)}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
