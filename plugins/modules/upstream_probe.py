#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: upstream_probe
short_description: Send one read-only HTTP request to each upstream and through nginx
version_added: 0.1.0
description:
  - Sends one C(GET) request (HTTP/1.0, with a C(Connection) header of C(close)) over a unix socket or TCP to each target and
    records the status, the latency and, when it fails, the error by name - C(ECONNREFUSED), C(ENOENT),
    C(EACCES), C(ETIMEDOUT) for a timeout, C(ECONNRESET), C(EHOSTUNREACH), C(EAGAIN) when the accept queue
    of a unix socket is full (connecting without blocking, as nginx does), or C(EPROTO) when the reply
    is not HTTP (for example a uwsgi socket).
  - By default the targets come from the routes of the host's C(badgateway.nginx) facts - for each route one
    request straight to every upstream endpoint (C(direct)) and one through nginx's own listen address
    (C(nginx)), so a 502 from nginx can be set beside what the upstream answers itself.
  - A route whose pass directive sits in an C(if) or C(limit_except) block (C(conditional) in the nginx facts) is
    probed directly only - a plain request through nginx does not meet its condition and would be handled by
    the location's other directives.
  - Returns C(probes) and the C(probes) section of the C(badgateway) facts.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
  - badgateway.doctor.options.probes
options:
  targets:
    description:
      - Explicit probe targets. When given, O(nginx) is not used.
    type: list
    elements: dict
    default: []
    suboptions:
      url:
        description:
          - What to request, C(http://unix:/run/app.sock:/path), C(http://127.0.0.1:8000/path), C(http://[::1]:8000/)
            or C(https://...) (no certificate verification).
          - A port outside 1-65535, spaces and control characters (CR, LF ...) are refused.
        type: str
        required: true
      route:
        description: Route id to report the result under.
        type: str
      via:
        description: V(direct) for an upstream, V(nginx) for a request through nginx.
        type: str
        choices: [direct, nginx]
        default: direct
      endpoint:
        description: The Endpoint (as in the nginx facts) the URL stands for; returned as given.
        type: dict
      host_header:
        description: Host header for this target; spaces and control characters are refused.
        type: str
  nginx:
    description:
      - The C(badgateway.nginx) facts (at least C(routes), as the fact modules return them or as
        P(badgateway.doctor.expand_facts#filter) writes them out) to derive the targets from.
      - The action plugin passes the host's C(badgateway.nginx.routes) when neither O(targets) nor O(nginx) is given.
      - Routes, endpoints and listen entries that are not shaped like the nginx facts are skipped, each with an
        entry in C(errors).
    type: dict
  via:
    description: With O(nginx), which probes to send.
    type: list
    elements: str
    choices: [direct, nginx]
    default: [direct, nginx]
notes:
  - Runs on the target with the Python standard library only. The requests are plain GETs; nothing is changed.
  - A result is C(ok) when an HTTP reply with a status below 500 came back.
  - Identical requests are sent once; several are sent at the same time (O(workers)).
  - Run as root, a direct unix-socket probe is not subject to the socket's permissions; probe with O(as_user) set to
    nginx's worker user, and see M(badgateway.doctor.socket_path_facts) for which path component blocks it.
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.nginx_facts
"""

EXAMPLES = r"""
- name: Probe the upstreams and the routes through nginx (targets from the nginx facts, at most 64 routes)
  badgateway.doctor.upstream_probe:

- name: Probe every route of a large configuration, 32 requests at a time
  badgateway.doctor.upstream_probe:
    limit: 0
    endpoint_limit: 0
    workers: 32

- name: Probe one gunicorn socket
  badgateway.doctor.upstream_probe:
    targets:
      - url: http://unix:/run/gunicorn/gunicorn.sock:/healthz
        route: app
    timeout: 2

- name: Probe the gunicorn socket as nginx's worker user (EACCES when nginx could not connect either)
  badgateway.doctor.upstream_probe:
    targets:
      - url: http://unix:/run/gunicorn/gunicorn.sock:/
    as_user: www-data
  become: true

- name: Only through nginx, with an explicit Host header
  badgateway.doctor.upstream_probe:
    via: [nginx]
    host_header: shop.example.com
  register: probe

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ probe.probes.results | rejectattr('ok') | list }}"
"""

RETURN = r"""
probes:
  description: The probe results; the same as RV(ansible_facts.badgateway.probes).
  returned: always
  type: dict
  sample: {"results": [{"route": "_:80 /", "endpoint": {"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}, "via": "direct",
           "url": "http://unix:/run/gunicorn/gunicorn.sock:/", "ok": false, "status": null, "latency": 0.0003, "error": "ENOENT"}],
           "skipped": 0, "as_user": null, "errors": []}
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(probes) section.
      returned: always
      type: dict
      contains:
        probes:
          description: The probe results.
          returned: always
          type: dict
          contains:
            results:
              description: One entry per probe.
              returned: always
              type: list
              elements: dict
              contains:
                route:
                  description: Route id.
                  type: str
                  returned: always
                  sample: "_:80 /"
                endpoint:
                  description: The upstream Endpoint for direct probes, null through nginx.
                  type: dict
                  returned: always
                  sample: {"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}
                via:
                  description: V(direct) or V(nginx).
                  type: str
                  returned: always
                  sample: nginx
                url:
                  description: What was requested.
                  type: str
                  returned: always
                  sample: http://127.0.0.1/
                ok:
                  description: An HTTP reply with a status below 500 came back.
                  type: bool
                  returned: always
                  sample: false
                status:
                  description: HTTP status, null without a reply.
                  type: int
                  returned: always
                  sample: 502
                latency:
                  description: Seconds until the status line (or the failure).
                  type: float
                  returned: always
                  sample: 0.0042
                error:
                  description: errno name of the failure, null on a reply.
                  type: str
                  returned: always
                  sample: ECONNREFUSED
            skipped:
              description: Probes left out because of O(limit) and O(endpoint_limit) (V(0) with explicit O(targets)).
              type: int
              returned: always
              sample: 0
            as_user:
              description: The user the probes ran as (O(as_user)), null when they ran as the module's own user.
              type: str
              returned: always
              sample: www-data
            errors:
              description: Targets that could not be probed, each with C(source), C(path) and C(message).
              type: list
              elements: dict
              returned: always
              sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.module_utils.probes import collect_probes, parse_url, plan_probes


def _target_problem(index, target):
    """Why an explicit target cannot be probed (None when it can)."""
    try:
        parse_url(target["url"])
    except ValueError as exc:
        return "Option targets[%d].url: %s." % (index, exc)
    if target.get("host_header") is not None:
        reason = _options.check_host_header(target["host_header"])
        if reason:
            return "Option targets[%d].host_header %s, got %r." % (index, reason, target["host_header"])
    return None


def main():
    spec = _options.argument_spec(_options.UPSTREAM_PROBE)
    spec.update(
        targets=dict(type="list", elements="dict", default=[], options=dict(
            url=dict(type="str", required=True),
            route=dict(type="str"),
            via=dict(type="str", choices=["direct", "nginx"], default="direct"),
            endpoint=dict(type="dict"),
            host_header=dict(type="str"),
        )),
        nginx=dict(type="dict"),
        via=dict(type="list", elements="str", choices=["direct", "nginx"], default=["direct", "nginx"]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = _options.validate(module, _options.UPSTREAM_PROBE)
    for index, target in enumerate(p["targets"]):
        problem = _target_problem(index, target)
        if problem:
            module.fail_json(msg=problem)
    skipped = 0
    errors = []
    if p["targets"]:
        targets = p["targets"]
    else:
        targets, skipped = plan_probes(p["nginx"] or {}, via=p["via"], path=p["path"], host_header=p["host_header"],
                                       route_limit=p["limit"], endpoint_limit=p["endpoint_limit"], errors=errors)
    probes = collect_probes(targets, timeout=p["timeout"], path=p["path"] or "/", host_header=p["host_header"],
                            workers=p["workers"], skipped=skipped, as_user=p["as_user"], as_group=p["as_group"])
    probes["errors"][:0] = errors
    module.exit_json(changed=False, probes=probes, ansible_facts={"badgateway": {"probes": probes}})


if __name__ == "__main__":
    main()
