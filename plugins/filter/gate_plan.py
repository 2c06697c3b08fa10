# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate's plan for one host, from its nginx facts (documented in gate_plan.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import _plain
from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_nginx
from ansible_collections.badgateway.doctor.plugins.plugin_utils import gate


def gate_plan(nginx, site="", health_path="/", listen=None):
    """What the gate waits for and probes: ``{route, endpoints, targets, notes, direct_path, site, health_path}``."""
    if listen is not None and not isinstance(listen, (list, tuple)):
        raise AnsibleFilterError("gate_plan: listen must be a list of endpoints (unix:/path, host:port, [v6]:port)")
    return gate.plan(expand_nginx(_plain(nginx)) if nginx is not None else {}, str(site or ""), str(health_path or "/"),
                     [str(x) for x in listen or []])


class FilterModule:
    def filters(self):
        return {"gate_plan": gate_plan}
