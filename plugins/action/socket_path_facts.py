# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs socket_path_facts; by default on nginx's unix endpoints, as nginx's worker user."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import (
    FactsActionBase,
    unix_paths_from_facts,
)


class ActionModule(FactsActionBase):
    """Fills ``paths`` and ``user`` from the host's ``badgateway.nginx`` facts when not given."""

    def default_args(self, args, facts):
        nginx = facts.get("nginx") or {}
        if not args.get("paths"):
            args["paths"] = unix_paths_from_facts(facts)
        if not args.get("user") and nginx.get("user"):
            args["user"] = nginx["user"]
        return args
