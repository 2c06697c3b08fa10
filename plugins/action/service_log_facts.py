# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs service_log_facts; by default on nginx's error logs and the app servers' units."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import error_log_paths
from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import FactsActionBase


class ActionModule(FactsActionBase):
    """Fills ``nginx_error_logs`` and ``units`` from earlier ``badgateway`` facts when not given."""

    def default_args(self, args, facts):
        nginx = facts.get("nginx") or {}
        apps = facts.get("apps") or {}
        if not args.get("nginx_error_logs"):
            paths = error_log_paths(nginx)
            if paths:
                args["nginx_error_logs"] = paths
        if not args.get("units"):
            units = [s["unit"] for s in apps.get("servers") or [] if s.get("unit")]
            if units:
                args["units"] = sorted(set(units)) + (["nginx.service"] if nginx.get("present") else [])
        return args
