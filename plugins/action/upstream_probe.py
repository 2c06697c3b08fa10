# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs upstream_probe; by default on every route of the host's ``badgateway.nginx`` facts."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_nginx
from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import FactsActionBase


class ActionModule(FactsActionBase):
    """Passes the nginx routes gathered earlier when neither ``targets`` nor ``nginx`` is given."""

    def default_args(self, args, facts):
        if not args.get("targets") and not args.get("nginx"):
            routes = expand_nginx(facts.get("nginx") or {}).get("routes")
            if routes:
                args["nginx"] = {"routes": routes}
        return args
