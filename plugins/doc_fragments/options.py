# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Generated from plugins/module_utils/_options.py by tests/unit/render_option_docs.py: do not edit.
from __future__ import annotations


class ModuleDocFragment:
    """Options several modules share, one description each (module_utils/_options.py)."""

    DOCUMENTATION = r"""
options: {}
"""

    # service_log_facts
    LOGS = r"""
options:
  since:
    description:
      - How far back to read the logs, as seconds or with a unit such as V(30m), V(1h) or V(2d).
      - At most 100 years; V(inf), V(nan) and negative values are refused.
    type: raw
    default: 1h
  max_bytes:
    description:
      - At most this many bytes are read from the end of each log file and of each unit's journal, so the cost does
        not grow with the size of the log.
      - Between 4096 and 268435456 (256 MiB), the same limits for every module that reads logs.
    type: int
    default: 8388608
  samples:
    description:
      - How many sample lines (secrets masked, at most 500 characters each) to keep per event, 0 to 3.
    type: int
    default: 3
  kernel:
    description:
      - Look for OOM kills in the kernel log (the journal, else C(/var/log/kern.log), else C(dmesg)).
    type: bool
    default: true
"""

    # upstream_probe
    PROBES = r"""
options:
  timeout:
    description:
      - Seconds each probe may take; longer counts as C(ETIMEDOUT).
      - Between 0.001 and 300; V(inf) and V(nan) are refused.
    type: float
    default: 3.0
  path:
    description:
      - The path requested by the probes. By default C(/) for upstreams, and the location's prefix (when it is a plain
        prefix) through nginx.
      - Must start with C(/); spaces and control characters (CR, LF ...) are refused - the probes send exactly one
        read-only request.
    type: str
  host_header:
    description:
      - The Host header of the probes. By default the server's first name (C(localhost) when there is none).
      - Spaces and control characters (CR, LF ...) are refused.
    type: str
  limit:
    description:
      - At most this many routes are probed (directly and through nginx). With more routes than that, the routes whose
        upstream or endpoints no earlier chosen route has are chosen first, then the others, each in
        configuration order, so the same configuration gives the same choice.
      - The number of probes left out is returned as C(skipped). V(0) means no limit; at most 1000000.
    type: int
    default: 64
  endpoint_limit:
    description:
      - At most this many distinct URLs are probed directly (each upstream address counts once however many routes use
        it). V(0) means no limit; at most 1000000.
    type: int
    default: 256
  workers:
    description:
      - At most this many probes are in flight at once, 1 to 256.
    type: int
    default: 16
  as_user:
    description:
      - Send the probes as this user (a name or uid), from a child process with the user's uid, primary group and
        supplementary groups - the identity nginx's worker processes have after C(initgroups). A unix-socket
        probe as nginx's worker user (for example V(www-data)) then proves whether nginx itself can connect,
        C(EACCES) when a directory on the way or the socket denies it.
      - Needs root (C(become)) unless it is the user the module already runs as.
      - By default the probes run as the user the module runs as.
    type: str
  as_group:
    description:
      - With O(as_user), the primary group to take instead of the user's own, as nginx's C(user www-data web;) does.
        The user's supplementary groups are added as C(initgroups) does.
    type: str
"""

    # gateway_facts
    GATEWAY = r"""
options:
  since:
    description:
      - How far back to read the logs, as seconds or with a unit such as V(30m), V(1h) or V(2d).
      - At most 100 years; V(inf), V(nan) and negative values are refused.
    type: raw
    default: 1h
  max_log_bytes:
    description:
      - At most this many bytes are read from the end of each log file and of each unit's journal, so the cost does
        not grow with the size of the log.
      - Between 4096 and 268435456 (256 MiB), the same limits for every module that reads logs.
    type: int
    default: 8388608
  kernel_log:
    description:
      - Look for OOM kills in the kernel log (the journal, else C(/var/log/kern.log), else C(dmesg)).
    type: bool
    default: true
  probe_timeout:
    description:
      - Seconds each probe may take; longer counts as C(ETIMEDOUT).
      - Between 0.001 and 300; V(inf) and V(nan) are refused.
    type: float
    default: 3.0
  probe_path:
    description:
      - The path requested by the probes when a route does not give a better one.
      - Must start with C(/); spaces and control characters (CR, LF ...) are refused - the probes send exactly one
        read-only request.
    type: str
    default: /
  probe_host_header:
    description:
      - The Host header of the probes. By default the server's first name (C(localhost) when there is none).
      - Spaces and control characters (CR, LF ...) are refused.
    type: str
  probe_limit:
    description:
      - At most this many routes are probed (directly and through nginx). With more routes than that, the routes whose
        upstream or endpoints no earlier chosen route has are chosen first, then the others, each in
        configuration order, so the same configuration gives the same choice.
      - The number of probes left out is returned as C(skipped). V(0) means no limit; at most 1000000.
    type: int
    default: 64
  probe_endpoint_limit:
    description:
      - At most this many distinct URLs are probed directly (each upstream address counts once however many routes use
        it). V(0) means no limit; at most 1000000.
    type: int
    default: 256
  probe_as_user:
    description:
      - Send the probes as this user (a name or uid), from a child process with the user's uid, primary group and
        supplementary groups - the identity nginx's worker processes have after C(initgroups). A unix-socket
        probe as nginx's worker user (for example V(www-data)) then proves whether nginx itself can connect,
        C(EACCES) when a directory on the way or the socket denies it.
      - Needs root (C(become)) unless it is the user the module already runs as.
      - By default the probes run as the user the module runs as.
    type: str
  probe_as_group:
    description:
      - With O(probe_as_user), the primary group to take instead of the user's own, as nginx's C(user www-data web;)
        does. The user's supplementary groups are added as C(initgroups) does.
    type: str
"""
