# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the fact modules: merge one section into the host's ``badgateway`` fact.

Ansible merges returned facts by top-level key only, so a module returning
``ansible_facts.badgateway.listeners`` would replace a ``badgateway`` dict that an earlier
``nginx_facts`` call set. Each fact module therefore has an action plugin of the same name,
built on :class:`FactsActionBase`, which runs the module on the target and merges the returned
sections into the existing ``badgateway`` fact (a later call replaces only its own sections).

Subclasses may fill module options from facts gathered earlier (for example the socket paths
that ``nginx_facts`` found) by overriding :meth:`FactsActionBase.default_args`.
"""
from __future__ import annotations

import time
import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import (
    FACT_KEYS,
    SCHEMA_VERSION,
    flatten_errors,
    unix_socket_paths,
)


def existing_facts(task_vars: dict) -> dict:
    """Return the host's current ``badgateway`` fact (a copy), or an empty dict."""
    facts = (task_vars or {}).get("ansible_facts") or {}
    current = facts.get("badgateway")
    if not isinstance(current, dict):
        current = (task_vars or {}).get("badgateway")
    return dict(current) if isinstance(current, dict) else {}


def merge_sections(current: dict, returned: dict) -> dict:
    """Replace the sections present in ``returned``; keep the others from ``current``."""
    merged = dict(current)
    for key, value in (returned or {}).items():
        if key in FACT_KEYS:
            merged[key] = value
    merged["version"] = SCHEMA_VERSION
    merged["collected_at"] = returned.get("collected_at") or time.time()
    merged["errors"] = flatten_errors(merged)
    return merged


class FactsActionBase(ActionBase):
    """Runs the module of the same name and merges its sections into ``badgateway``."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def default_args(self, args: dict, facts: dict) -> dict:
        """Hook: fill options the user left out from facts gathered earlier."""
        return args

    def run(self, tmp: t.Any = None, task_vars: dict | None = None) -> dict:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        facts = existing_facts(task_vars)
        module_args = self.default_args(dict(self._task.args), facts)
        module_result = self._execute_module(
            module_name=self._task.resolved_action or self._task.action,
            module_args=module_args,
            task_vars=task_vars,
        )
        result.update(module_result)
        returned = (module_result.get("ansible_facts") or {}).get("badgateway")
        if isinstance(returned, dict) and not module_result.get("failed"):
            result["ansible_facts"] = {"badgateway": merge_sections(facts, returned)}
        return result


def unix_paths_from_facts(facts: dict) -> list:
    """Every unix socket path that nginx routes and upstreams point at (order kept, no duplicates)."""
    return unix_socket_paths(facts.get("nginx"), None)
