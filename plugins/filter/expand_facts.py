# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The badgateway facts with every entry's values written out (documented in expand_facts.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_facts as _expand
from ansible_collections.badgateway.doctor.plugins.plugin_utils.fact_sources import plain


def expand_facts(facts):
    """``ansible_facts.badgateway`` (schema 2) with nginx servers / routes, socket paths and listeners as lists of dicts."""
    if not isinstance(facts, dict) and not hasattr(facts, "items"):
        raise AnsibleFilterError("expand_facts: the input must be the badgateway facts (a dict), not %s" % type(facts).__name__)
    return _expand(plain(facts))


class FilterModule:
    def filters(self):
        return {"expand_facts": expand_facts}
