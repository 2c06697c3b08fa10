# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The request path and its broken hop (plugins/plugin_utils/_request_path.py), as evaluate() stores it and the reports draw it."""
from __future__ import annotations

import pytest

from facts_fixtures import load_fixture, one_host

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog, reports, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._request_path import broken_hop


@pytest.mark.parametrize("name, hop", [("app_stopped", "app"), ("socket_dir_permission", "endpoint"),
                                       ("protocol_mismatch", "nginx"), ("oom_kill", "app"), ("healthy_lab", None)])
def test_broken_hop_is_the_root_findings_layer(name, hop):
    host = rules.evaluate(one_host(load_fixture(name)), now=0)["hosts"]["web1"]
    assert host["path"]["broken"] == hop
    assert [h["hop"] for h in host["path"]["hops"]] == list(catalog.HOPS)
    assert [h["hop"] for h in host["path"]["hops"] if h["state"] == "broken"] == ([hop] if hop else [])


def test_cross_host_path_follows_the_target_to_the_other_host():
    hosts = rules.evaluate(load_fixture("cross_host_loopback_bind"), now=0)["hosts"]
    path = hosts["web1"]["path"]
    assert path["broken"] == "listener"
    listener = next(h for h in path["hops"] if h["hop"] == "listener")
    assert listener["detail"] == "app1"


def test_hosts_without_facts_have_a_path_too():
    res = rules.evaluate({"dead": {"facts": None, "unreachable": True, "address": [], "msg": "no route"},
                          "failed": {"facts": None, "unreachable": False, "address": [], "msg": "MODULE FAILURE"}}, now=0)
    assert res["hosts"]["dead"]["path"]["broken"] == "nginx"
    assert res["hosts"]["failed"]["path"]["broken"] == "app"     # FACTS_INCOMPLETE is a system finding
    assert {h["state"] for h in res["hosts"]["failed"]["path"]["hops"] if h["hop"] != "app"} == {"unknown"}


def test_reports_draw_the_broken_hop_evaluate_decided():
    res = rules.evaluate(one_host(load_fixture("app_stopped")), now=0)
    path = res["hosts"]["web1"]["path"]
    path["broken"] = "listener"     # whatever evaluate() decided is what the report shows: no second opinion
    for h in path["hops"]:
        h["state"] = "broken" if h["hop"] == "listener" else "ok"
    page = reports.render_html(res)
    assert 'data-hop="listener" data-hop-state="broken"' in page
    assert 'data-hop="app" data-hop-state="ok"' in page


def test_broken_hop_ignores_info_roots():
    assert broken_hop([{"severity": "info", "layer": "app"}]) is None
    assert broken_hop([{"severity": "warning", "layer": "network"}]) == "listener"
    assert broken_hop([], unreachable=True) == "nginx"
