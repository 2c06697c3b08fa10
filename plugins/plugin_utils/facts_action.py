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

The merged fact also records what the rules need from the inventory (``inventory``: the host's
name, ``ansible_host`` and ``badgateway_host_addresses``, and when the controller gathered): a
fact cache keeps facts, not inventory variables, and an evaluation in another job (the
``evaluate`` playbook after sliced gathers) still has to tell which host owns an address.
"""
from __future__ import annotations

import time
import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_nginx

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


def inventory_record(name: t.Any, ansible_host: t.Any, extra_addresses: t.Any, now: float | None = None) -> dict:
    """``{hostname, addresses, gathered_at}``: the host's inventory name, its ``ansible_host`` and the
    addresses listed in ``badgateway_host_addresses`` (order kept, no duplicates, blanks left out),
    and the controller's time of the gather."""
    addresses = []
    extra = extra_addresses if isinstance(extra_addresses, (list, tuple)) else [extra_addresses]
    for value in [ansible_host] + list(extra):
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if text and text not in addresses:
            addresses.append(text)
    return {"hostname": str(name or ""), "addresses": addresses,
            "gathered_at": round(time.time() if now is None else now, 3)}


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
            merged = merge_sections(facts, returned)
            merged["inventory"] = self.inventory(task_vars)
            result["ansible_facts"] = {"badgateway": merged}
        return result

    def inventory(self, task_vars: dict) -> dict:
        """The host's :func:`inventory_record` (its variables templated as the play sees them)."""
        def value(name, default):
            raw = task_vars.get(name, default)
            try:
                return self._templar.template(raw)
            except Exception:  # pylint: disable=broad-except  # an address that cannot be templated is left out
                return default
        return inventory_record(task_vars.get("inventory_hostname"), value("ansible_host", ""),
                                value("badgateway_host_addresses", []))


def unix_paths_from_facts(facts: dict) -> list:
    """Every unix socket path that nginx routes and upstreams point at (order kept, no duplicates)."""
    return unix_socket_paths(expand_nginx(facts.get("nginx")), None)
