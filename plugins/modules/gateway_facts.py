#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gateway_facts
short_description: Gather every fact the 502 diagnosis needs in one round trip
version_added: 0.1.0
description:
  - Gathers, in one module invocation per host, what an engineer would collect by hand when NGINX
    answers 502 Bad Gateway in front of Gunicorn / Uvicorn - the parsed nginx configuration and
    every upstream target with its effective timeouts (as M(badgateway.doctor.nginx_facts)), who
    listens where (as M(badgateway.doctor.listener_facts)), the app servers and their systemd units
    (as M(badgateway.doctor.app_server_facts)), the permissions along every unix socket path as the
    nginx worker user sees them (as M(badgateway.doctor.socket_path_facts)), classified events from
    the nginx error logs, journald and the kernel (as M(badgateway.doctor.service_log_facts)), a direct
    request to every upstream and one through nginx, for up to O(probe_limit) routes
    (as M(badgateway.doctor.upstream_probe)), the containers of every Docker-compatible engine on the
    host (as M(badgateway.doctor.container_facts)), and
    basic system facts (systemd as PID 1, SELinux, memory).
  - Later sections use earlier ones - the socket walk covers every unix endpoint nginx points at and
    every unix socket an app server binds, as nginx's worker user; the log scan reads every error log
    the nginx configuration names and the journal of every app unit found.
  - Every section reports what it could not gather in its own C(errors) list and returns the rest, so a
    host without systemd, without nginx, without journalctl, or a non-root connection still yields
    partial facts. The module fails only for invalid options.
  - Secrets never enter the facts - environment files and gunicorn configuration files are reported by
    key names only, and anything that looks like a secret in a log sample is masked.
  - The facts are data; the rules that turn them into findings run on the controller
    (see the C(badgateway.doctor.diagnose) role).
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
  - badgateway.doctor.options.gateway
options:
  sections:
    description:
      - The sections to gather. Leave one out to save its cost or to avoid what it does (for example
        C(probes) sends HTTP requests to the upstreams and through nginx).
      - C(sockets) needs C(listeners) and C(apps) internally and gathers them even when they are not
        returned; C(logs) likewise needs C(apps) to know which units to read.
    type: list
    elements: str
    choices: [system, nginx, listeners, apps, sockets, logs, probes, containers]
    default: [system, nginx, listeners, apps, sockets, logs, probes, containers]
  conf_path:
    description:
      - The main nginx configuration file.
      - By default, what C(nginx -V) reports as C(--conf-path), else C(/etc/nginx/nginx.conf).
    type: path
  nginx_source:
    description:
      - V(files) parses the configuration files on disk; V(nginx_T) parses the output of C(nginx -T),
        which is exactly what the installed binary loads.
    type: str
    choices: [files, nginx_T]
    default: files
  nginx_binary:
    description: Path of the nginx binary. By default it is looked up in E(PATH) and C(/usr/sbin).
    type: path
  nginx_test:
    description:
      - When to run C(nginx -t) and report its result in C(nginx.test), as the O(badgateway.doctor.nginx_facts#module:test)
        option of M(badgateway.doctor.nginx_facts).
      - V(auto) (the default) skips it when nginx is running this configuration and no parsed configuration file, no
        file it names (certificates and keys, C(ssl_dhparam), C(ssl_crl), C(ssl_password_file),
        C(auth_basic_user_file), C(load_module)), no directory of a configuration file and not the binary changed
        after the workers started - the running workers loaded exactly these files, so the configuration is valid
        and C(nginx -t), which costs seconds on a large configuration, would only repeat that. It runs when nginx is
        not running, a file is stale, newer, missing or unreadable, or the configuration did not parse cleanly.
        A skipped test has C(nginx.test.skipped=true) and C(ok) V(null).
      - V(always) always runs it, V(never) never does.
      - The booleans this option took before still work - V(true) (or yes, on, 1) means V(always), V(false) (or no,
        off, 0) V(never).
    type: raw
    default: auto
  resolve:
    description: Resolve host names of upstream targets (such as C(localhost)) with the target's resolver.
    type: bool
    default: true
  socket_user:
    description: The user whose access to the unix socket paths is checked. Default is nginx's worker user.
    type: str
  socket_paths:
    description: Unix socket paths to check in addition to those found in the nginx configuration and app servers.
    type: list
    elements: path
    default: []
  units:
    description: Extra systemd units to look at as app servers and to read the journal of.
    type: list
    elements: str
    default: []
  nginx_error_logs:
    description: Extra nginx error log files to read in addition to those the configuration names.
    type: list
    elements: path
    default: []
  container_sockets:
    description:
      - Engine API sockets the C(containers) section asks (Docker's, Podman's, a rootless Podman's).
      - By default C(/var/run/docker.sock), C(/run/podman/podman.sock) and C(/run/user/*/podman/podman.sock),
        those that exist; a socket given here that is missing or unusable is an error.
    type: list
    elements: path
    default: []
notes:
  - Runs on the target with the Python standard library only.
  - As root every section is complete. Without root, processes of other users, their sockets and
    some log files cannot be read; those gaps are listed in C(errors).
seealso:
  - module: badgateway.doctor.nginx_facts
  - module: badgateway.doctor.listener_facts
  - module: badgateway.doctor.app_server_facts
  - module: badgateway.doctor.socket_path_facts
  - module: badgateway.doctor.service_log_facts
  - module: badgateway.doctor.upstream_probe
"""

EXAMPLES = r"""
- name: Gather everything the 502 diagnosis needs
  badgateway.doctor.gateway_facts:

- name: Only configuration, listeners and apps; no requests sent, no logs read
  badgateway.doctor.gateway_facts:
    sections: [nginx, listeners, apps, sockets]

- name: Probe every route of a large configuration, not only the first 64
  badgateway.doctor.gateway_facts:
    probe_limit: 0
    probe_endpoint_limit: 0

- name: Look further back in the logs and parse what the running binary loads
  badgateway.doctor.gateway_facts:
    since: 6h
    nginx_source: nginx_T

- name: Show where nginx sends each request (the facts list shared values once; the filter expands them)
  ansible.builtin.debug:
    msg: "{{ item.id }} -> {{ item.target }}"
  loop: "{{ (ansible_facts.badgateway | badgateway.doctor.expand_facts).nginx.routes }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description:
        - Everything gathered, by section. The keys of each section are documented in the module
          that gathers that section alone, and in C(docs/FACTS.md) of the collection.
        - Schema version 2 - what many entries share is listed once - C(nginx) servers and routes, C(sockets) paths,
          C(listeners) sockets and C(containers) are tables (C(columns), and C(rows) as one JSON text) that name shared
          settings profiles, endpoints, listen lists, socket walks, processes and engines by their index. The filter
          P(badgateway.doctor.expand_facts#filter) gives every entry with its values.
      returned: always
      type: dict
      contains:
        version:
          description: Version of the layout of these facts.
          type: int
          returned: always
          sample: 2
        collected_at:
          description: When the facts were gathered, in seconds since the epoch.
          type: float
          returned: always
          sample: 1795305600.12
        system:
          description: Systemd as PID 1, SELinux mode and booleans, memory, kernel, whether the connection is root.
          type: dict
          returned: when V(system) is in O(sections)
          sample: {"systemd": true, "selinux": {"present": false, "mode": null, "booleans": {}}, "is_root": true}
        nginx:
          description:
            - See M(badgateway.doctor.nginx_facts).
            - C(test) is C(nginx -t)'s result C({ok, rc, output, skipped}); C(skipped) is V(true) (and C(ok) V(null))
              when O(nginx_test=auto) did not run it because the running nginx already loaded exactly these files.
          type: dict
          returned: when V(nginx) is in O(sections)
          sample: {"present": true, "version": "1.22.1", "user": "www-data", "routes": {"columns": [], "rows": "[]"}, "errors": [],
                   "test": {"ok": null, "rc": null, "skipped": true,
                            "output": "not run: nginx is running and no configuration file changed since its workers started
                                       (the running configuration is valid); set nginx_test: always to run it anyway"}}
        listeners:
          description: See M(badgateway.doctor.listener_facts).
          type: dict
          returned: when V(listeners) is in O(sections)
          sample: {"tcp": {"columns": [], "rows": "[]"}, "unix": {"columns": [], "rows": "[]"}, "processes": [], "errors": []}
        apps:
          description: See M(badgateway.doctor.app_server_facts).
          type: dict
          returned: when V(apps) is in O(sections)
          sample: {"servers": [], "errors": []}
        sockets:
          description: See M(badgateway.doctor.socket_path_facts).
          type: dict
          returned: when V(sockets) is in O(sections)
          sample: {"user": "www-data", "paths": {"columns": [], "rows": "[]"}, "walks": [], "errors": []}
        logs:
          description: See M(badgateway.doctor.service_log_facts).
          type: dict
          returned: when V(logs) is in O(sections)
          sample: {"events": [], "sources": [], "errors": []}
        access:
          description:
            - What users got, from nginx's access logs over O(since) (read from the end, at most O(max_log_bytes)
              per log; gathered with V(logs)) - C(logs) (per file - lines read, in the window, not matching the
              C(log_format), counts by status class, first/last time, C(truncated)), and C(routes) (per access log
              and route - the route nginx picks for the request URI - counts of 502, 503, 504 and other 5xx,
              C(retried) (a failed upstream attempt the client did not see), first/last time, the upstream statuses,
              addresses and response times when the format logs them, a C(timeline) of 5xx per bucket, and up to 3
              samples with masked URIs).
          type: dict
          returned: when V(logs) is in O(sections)
          sample: {"window": {"since": 1763780000.0}, "logs": [], "routes": [{"route": "_:80 /", "counts": {"502": 12}}],
                   "errors": []}
        probes:
          description:
            - See M(badgateway.doctor.upstream_probe). Only the routes chosen within O(probe_limit) and
              O(probe_endpoint_limit) are probed; C(skipped) counts the probes left out.
          type: dict
          returned: when V(probes) is in O(sections)
          sample: {"results": [], "skipped": 0, "errors": []}
        containers:
          description:
            - See M(badgateway.doctor.container_facts). A host without a container engine has no C(engines)
              and no error.
          type: dict
          returned: when V(containers) is in O(sections)
          sample: {"engines": [], "containers": {"columns": [], "rows": "[]"}, "errors": []}
        timings:
          description:
            - Seconds each section took on the target (a section gathered only for another one, such as
              V(listeners) for V(sockets), is timed too), and C(total). V(system), V(listeners) and V(apps) are
              gathered in other threads while V(nginx) is, and V(logs) and V(probes) while V(sockets) is, so the
              sections can add up to more than C(total).
            - For performance work; not a fact about the host.
          type: dict
          returned: always
          sample: {"system": 0.003, "listeners": 0.01, "apps": 0.03, "nginx": 0.61, "sockets": 0.09, "logs": 0.02,
                   "probes": 0.05, "total": 0.78}
        errors:
          description:
            - Every section's errors in one list - what could not be gathered, and why.
          type: list
          elements: dict
          returned: always
          sample: [{"section": "logs", "source": "journalctl", "path": null, "message": "journalctl is not installed; the journal was not read."}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_facts
from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import SECTIONS, collect_all
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import test_option_mode
from ansible_collections.badgateway.doctor.plugins.module_utils.timeparse import parse_since


def main():
    spec = _options.argument_spec(_options.GATEWAY_FACTS)
    spec.update(
        sections=dict(type="list", elements="str", choices=list(SECTIONS), default=list(SECTIONS)),
        conf_path=dict(type="path"),
        nginx_source=dict(type="str", choices=["files", "nginx_T"], default="files"),
        nginx_binary=dict(type="path"),
        nginx_test=dict(type="raw", default="auto"),
        resolve=dict(type="bool", default=True),
        socket_user=dict(type="str"),
        socket_paths=dict(type="list", elements="path", default=[]),
        nginx_error_logs=dict(type="list", elements="path", default=[]),
        container_sockets=dict(type="list", elements="path", default=[]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = _options.validate(module, _options.GATEWAY_FACTS)
    since = parse_since(p["since"])
    nginx_test = test_option_mode(p["nginx_test"])
    if nginx_test is None:
        module.fail_json(msg="Option nginx_test must be one of auto, always, never (or a boolean: true means always, "
                             "false never), got %r." % (p["nginx_test"],))

    facts = collect_all(
        sections=p["sections"],
        nginx_options=dict(conf_path=p["conf_path"], source=p["nginx_source"], binary=p["nginx_binary"],
                           resolve=p["resolve"], run_test=nginx_test),
        socket_user=p["socket_user"],
        socket_paths=p["socket_paths"],
        log_options=dict(nginx_error_logs=p["nginx_error_logs"], since=since, max_bytes=p["max_log_bytes"],
                         kernel=p["kernel_log"]),
        probe_options=dict(timeout=p["probe_timeout"], path=p["probe_path"], host_header=p["probe_host_header"],
                           route_limit=p["probe_limit"], endpoint_limit=p["probe_endpoint_limit"],
                           as_user=p["probe_as_user"], as_group=p["probe_as_group"]),
        units=p["units"],
        container_options=dict(sockets=p["container_sockets"] or None),
    )
    module.exit_json(changed=False, ansible_facts={"badgateway": compact_facts(facts)})


if __name__ == "__main__":
    main()
