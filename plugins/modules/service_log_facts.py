#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service_log_facts
short_description: Classify recent nginx, app server, systemd and kernel log events that explain 502 errors
version_added: 0.1.0
description:
  - Reads the nginx error logs from the end, block by block, and stops at the first line older than the time
    window (or after O(max_bytes)), so the cost does not grow with the size of the file. Continues into the
    rotated C(.1) file when the window reaches past the start of the current one. Only regular files are read - a
    FIFO, a device or a directory given as a log is reported in C(errors) and never blocks.
  - Reads the journal of the given systemd units (C(journalctl -u UNIT -o json), C locale) and the kernel log
    (C(journalctl -k), else C(/var/log/kern.log), else C(dmesg)) for OOM kills.
  - Classifies lines with precompiled patterns - nginx upstream errors (111 refused, 2 no such file, 13 permission
    denied, 11 resource unavailable, 104 reset, 110 timed out, premature close, no live upstreams, too big header,
    emerg), gunicorn (WORKER TIMEOUT, worker failed to boot, SIGKILL, Python tracebacks by exception name), uvicorn
    (bind failures, ASGI import errors), systemd (failed result, spawn failures such as 203/EXEC, start limit) and
    kernel OOM kills - and returns per class and source the count, first and last time, targets, details and at
    most three samples with secrets masked.
  - Returns the C(logs) section of the C(badgateway) facts; the action plugin merges it into the host's
    existing C(badgateway) fact, so it composes with the other fact modules.
author:
  - badgateway.doctor maintainers (@badgateway)
extends_documentation_fragment:
  - badgateway.doctor.attributes
  - badgateway.doctor.options.logs
options:
  nginx_error_logs:
    description:
      - nginx error log files to read. Default C(/var/log/nginx/error.log).
      - An empty list reads no nginx log.
    type: list
    elements: path
  units:
    description:
      - systemd units whose journal is read.
      - When not given, the units of the app servers found earlier (C(badgateway.apps) facts, their socket units too) or,
        without such facts, those found on the host (by their C(ExecStart)), and C(nginx.service).
      - An empty list reads no unit journal.
    type: list
    elements: str
  files:
    description: Extra plain log files (for example gunicorn's C(--error-logfile)), classified like journal lines.
    type: list
    elements: path
    default: []
notes:
  - Runs on the target with the Python standard library only; Linux only.
  - nginx error log timestamps are local time; the window is applied in the target's local time zone.
  - Without journald (no journal files) or without C(journalctl) the unit journals are skipped and C(errors) says
    so; the files are still read. Without root only the journal the user may see is read.
  - Samples are cut at 500 characters; passwords, tokens, C(Authorization) headers, API keys and DSN credentials
    in them are replaced by C(********).
seealso:
  - module: badgateway.doctor.gateway_facts
  - module: badgateway.doctor.app_server_facts
"""

EXAMPLES = r"""
- name: Classify the last hour of logs
  badgateway.doctor.service_log_facts:

- name: Last 30 minutes of a custom error log and the gunicorn journal
  badgateway.doctor.service_log_facts:
    nginx_error_logs:
      - /var/log/nginx/myapp.error.log
    units:
      - gunicorn.service
    since: 30m

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ item.class }} x{{ item.count }} in {{ item.source }}: {{ item.targets }}"
  loop: "{{ ansible_facts.badgateway.logs.events }}"

- name: Fail when gunicorn workers timed out
  ansible.builtin.assert:
    that: ansible_facts.badgateway.logs.events | selectattr('class', 'equalto', 'worker_timeout') | list | length == 0

- name: Only nginx, no journal, no kernel, no samples
  badgateway.doctor.service_log_facts:
    units: []
    kernel: false
    samples: 0
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    badgateway:
      description: The C(badgateway) facts; this module sets its C(logs) section.
      returned: always
      type: dict
      contains:
        logs:
          description: Classified log events of the time window.
          returned: always
          type: dict
          contains:
            window:
              description: C(since) (epoch seconds of the window's start) and C(max_bytes).
              type: dict
              returned: always
              sample: {"since": 1795312642.0, "max_bytes": 8388608}
            sources:
              description:
                - What was read - C(kind) (V(nginx_error), V(journal), V(kernel), V(file)), C(name), C(path), C(read_bytes), C(ok).
              type: list
              elements: dict
              returned: always
              sample:
                - kind: nginx_error
                  name: nginx_error:/var/log/nginx/error.log
                  path: /var/log/nginx/error.log
                  read_bytes: 65536
                  ok: true
            events:
              description: One entry per class, source and (for some classes) detail value.
              type: list
              elements: dict
              returned: always
              contains:
                class:
                  description:
                    - nginx - V(connect_refused), V(no_such_file), V(permission_denied), V(resource_unavailable), V(premature_close),
                      V(reset_by_peer), V(upstream_timeout), V(no_live_upstreams), V(too_big_header), V(nginx_emerg);
                    - gunicorn - V(worker_timeout), V(worker_boot_failed), V(worker_sigkill), V(python_exception);
                      uvicorn - V(bind_failed), V(import_error);
                    - systemd - V(unit_failed), V(exec_failed), V(start_limit_hit); kernel - V(oom_kill).
                  type: str
                  returned: always
                  sample: no_such_file
                source:
                  description: C(nginx_error:<path>), C(journal:<unit>), C(file:<path>) or C(kernel).
                  type: str
                  returned: always
                  sample: nginx_error:/var/log/nginx/error.log
                count:
                  description: Number of occurrences in the window (an OOM kill is counted once per killed process).
                  type: int
                  returned: always
                  sample: 12
                first:
                  description: Epoch seconds of the first occurrence (null without timestamps).
                  type: float
                  returned: always
                  sample: 1795312700.0
                last:
                  description: Epoch seconds of the last occurrence.
                  type: float
                  returned: always
                  sample: 1795316200.0
                targets:
                  description: Upstreams named by nginx (C(unix:/run/x.sock:/), C(http://127.0.0.1:8000/)), or the unit / process concerned.
                  type: list
                  elements: str
                  returned: always
                  sample: ["unix:/run/gunicorn/gunicorn.sock:/"]
                detail:
                  description: >-
                    Class-specific details, for example C(errno) and C(connect_to) for nginx connect errors, C(exception) for
                    V(python_exception), C(status) (V(203/EXEC)) for V(exec_failed), C(result) for V(unit_failed),
                    C(process) and C(pid) for V(oom_kill), C(pid) for V(worker_timeout).
                  type: dict
                  returned: always
                  sample: {"errno": 2, "connect_to": ["unix:/run/gunicorn/gunicorn.sock"]}
                samples:
                  description: The most recent lines (at most O(samples), each at most 500 characters) with secrets masked.
                  type: list
                  elements: str
                  returned: always
                  sample:
                    - >-
                      2026/11/22 01:57:22 [crit] 812#812: *1 connect() to unix:/run/gunicorn/gunicorn.sock failed
                      (2: No such file or directory) while connecting to upstream
            errors:
              description: Problems met while collecting, each with C(source), C(path) and C(message); the rest is still returned.
              returned: always
              type: list
              elements: dict
              sample:
                - source: journalctl
                  path: null
                  message: No journal files under /run/log/journal or /var/log/journal; the journal of gunicorn.service was not read.
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.module_utils.logs import collect_logs
from ansible_collections.badgateway.doctor.plugins.module_utils.timeparse import parse_since


def main():
    spec = _options.argument_spec(_options.SERVICE_LOG_FACTS)
    spec.update(
        nginx_error_logs=dict(type="list", elements="path"),
        files=dict(type="list", elements="path", default=[]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = _options.validate(module, _options.SERVICE_LOG_FACTS)
    logs = collect_logs(nginx_error_logs=p["nginx_error_logs"], units=p["units"], since=parse_since(p["since"]),
                        max_bytes=p["max_bytes"], kernel=p["kernel"], samples=p["samples"], files=p["files"])
    module.exit_json(changed=False, ansible_facts={"badgateway": {"logs": logs}})


if __name__ == "__main__":
    main()
