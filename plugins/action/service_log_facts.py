# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs service_log_facts; by default on nginx's error logs and the app servers' units."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import error_log_paths, unit_names
from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import FactsActionBase


class ActionModule(FactsActionBase):
    """Fills ``nginx_error_logs`` and ``units`` from earlier ``badgateway`` facts when not given."""

    def default_args(self, args, facts):
        nginx = facts.get("nginx") or {}
        apps = facts.get("apps") or {}
        if args.get("nginx_error_logs") is None:
            paths = error_log_paths(nginx)
            if paths:
                args["nginx_error_logs"] = paths
        if args.get("units") is None and apps.get("servers"):
            # the same list gateway_facts reads: app units, their socket units, nginx.service
            args["units"] = unit_names(apps)
        return args
