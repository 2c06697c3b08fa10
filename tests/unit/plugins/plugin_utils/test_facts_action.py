# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import compact_nginx
from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import (
    existing_facts,
    flatten_errors,
    merge_sections,
    unix_paths_from_facts,
)


def test_merge_replaces_only_returned_sections():
    current = {"nginx": {"present": True, "errors": []}, "listeners": {"tcp": [1], "errors": []}}
    returned = {"listeners": {"tcp": [2], "unix": [], "errors": [{"source": "proc", "path": None, "message": "x"}]}}
    merged = merge_sections(current, returned)
    assert merged["nginx"] == {"present": True, "errors": []}
    assert merged["listeners"]["tcp"] == [2]
    assert merged["errors"] == [{"section": "listeners", "source": "proc", "path": None, "message": "x"}]
    assert merged["version"] == 2
    # the input is not modified
    assert current["listeners"]["tcp"] == [1]


def test_merge_ignores_unknown_top_level_keys():
    merged = merge_sections({}, {"nginx": {"errors": []}, "bogus": 1})
    assert "bogus" not in merged
    assert "nginx" in merged


def test_existing_facts_from_ansible_facts_or_top_level():
    assert existing_facts({"ansible_facts": {"badgateway": {"nginx": {}}}}) == {"nginx": {}}
    assert existing_facts({"badgateway": {"apps": {}}}) == {"apps": {}}
    assert existing_facts({}) == {}
    assert existing_facts({"ansible_facts": {"badgateway": "garbage"}}) == {}


def test_flatten_errors_skips_malformed():
    facts = {"logs": {"errors": ["not a dict", {"source": "journalctl", "message": "m"}]}, "system": None}
    assert flatten_errors(facts) == [{"section": "logs", "source": "journalctl", "message": "m"}]


def test_unix_paths_from_routes_and_upstreams_dedup():
    facts = {"nginx": {
        "routes": [
            {"endpoints": [{"kind": "unix", "path": "/run/a.sock"}, {"kind": "tcp", "host": "x", "port": 1}]},
            {"endpoints": [{"kind": "unix", "path": "/run/a.sock"}]},
        ],
        "upstreams": {"g": {"servers": [{"endpoint": {"kind": "unix", "path": "/run/b.sock"}}]}},
    }}
    facts = {"nginx": compact_nginx(facts["nginx"])}      # as the fact modules return it
    assert unix_paths_from_facts(facts) == ["/run/a.sock", "/run/b.sock"]
