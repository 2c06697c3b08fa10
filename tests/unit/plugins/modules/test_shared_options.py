# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options several modules share (module_utils/_options): same limits, same messages, one documentation."""
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.modules import gateway_facts, service_log_facts, upstream_probe

REPO = Path(__file__).resolve().parents[4]


def test_doc_fragment_is_rendered_from_the_options():
    path = REPO / "plugins" / "doc_fragments" / "options.py"
    assert path.read_text(encoding="utf-8") == _options.render_doc_fragment(), (
        "plugins/doc_fragments/options.py is out of date: run .venv/bin/python tests/unit/render_option_docs.py")


# (module, option name) per concept; the same bad value must give the same sentence (but for the name)
SAME = {
    "since": [(gateway_facts, "since", {}), (service_log_facts, "since", {"units": [], "kernel": False, "nginx_error_logs": []})],
    "log_bytes": [(gateway_facts, "max_log_bytes", {}),
                  (service_log_facts, "max_bytes", {"units": [], "kernel": False, "nginx_error_logs": []})],
    "probe_timeout": [(gateway_facts, "probe_timeout", {}), (upstream_probe, "timeout", {})],
    "probe_path": [(gateway_facts, "probe_path", {}), (upstream_probe, "path", {})],
    "probe_host_header": [(gateway_facts, "probe_host_header", {}), (upstream_probe, "host_header", {})],
    "probe_limit": [(gateway_facts, "probe_limit", {}), (upstream_probe, "limit", {})],
    "as_user": [(gateway_facts, "probe_as_user", {}), (upstream_probe, "as_user", {})],
}
BAD = {"since": ["inf", "nan", "1e308", "-1", "40000d"], "log_bytes": [0, 100, 4095, 2 ** 31],
       "probe_timeout": ["inf", "nan", 1e308, 0, -3, 301], "probe_path": ["x", "/a b", "/a\r\nHost: evil"],
       "probe_host_header": ["", "a b", "h\r\nX: 1"], "probe_limit": [-1, 10 ** 7], "as_user": ["no-such-user-bgd"]}


@pytest.mark.parametrize("concept", sorted(SAME))
def test_same_limits_and_messages_everywhere(run_module, concept):
    for value in BAD[concept]:
        messages = []
        for module, name, extra in SAME[concept]:
            out = run_module(module, dict(extra, sections=["system"], **{name: value}) if module is gateway_facts
                             else dict(extra, **{name: value}))
            assert out.get("failed"), (module.__name__, name, value, out)
            messages.append(out["msg"].replace("Option %s" % name, "Option X", 1))
        assert len(set(messages)) == 1, messages


def test_byte_caps_agree_now():
    """The last session left gateway_facts max_log_bytes at > 0 and service_log_facts max_bytes at >= 4096."""
    assert _options.GATEWAY_FACTS["max_log_bytes"] == _options.SERVICE_LOG_FACTS["max_bytes"] == "log_bytes"


@pytest.mark.parametrize("module, names", [(gateway_facts, _options.GATEWAY_FACTS), (service_log_facts, _options.SERVICE_LOG_FACTS),
                                           (upstream_probe, _options.UPSTREAM_PROBE)])
def test_valid_defaults_pass(module, names):
    params = {name: _options.CONCEPTS[concept][0].get("default") for name, concept in names.items()}
    assert _options.problems(params, names) == []


@pytest.mark.parametrize("module, user, group", [(gateway_facts, "probe_as_user", "probe_as_group"),
                                                 (upstream_probe, "as_user", "as_group")])
def test_the_acting_user_is_checked_alike(run_module, module, user, group):
    extra = {"sections": ["system"]} if module is gateway_facts else {}
    assert run_module(module, dict(extra, **{group: "nogroup"}))["msg"] == "Option %s needs %s." % (group, user)
    assert run_module(module, dict(extra, **{user: "nobody", group: "no-such-group-bgd"}))["msg"] == (
        "Option %s: there is no group no-such-group-bgd on this host." % user)
