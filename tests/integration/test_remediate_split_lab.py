# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``badgateway.doctor.remediate`` across hosts: proxy1's 502 is caused on app1, and app1 is what changes."""
from __future__ import annotations

import json
import time

import pytest
from test_remediate_lab import GATHER_DELAY, assert_fixed, diagnose, heal, inject, record, remediate, snapshot


@pytest.fixture
def pristine_split(split_lab):
    """Both hosts healed before and after each case (two cases: cheap)."""
    heal(split_lab)
    try:
        yield split_lab
    finally:
        heal(split_lab)


@pytest.mark.parametrize("fault", ["cross_host_loopback", "cross_host_not_listening"])
def test_cross_host_fault_is_fixed_on_the_host_that_needs_the_change(pristine_split, tmp_path, fault):
    the_lab = pristine_split
    proxy = the_lab.hosts_by_role("proxy")[0]
    app = the_lab.hosts_by_role("app")[0]
    started = time.time()
    inject(the_lab, {app: fault})
    proxy_before = snapshot(the_lab, proxy)
    extra = []
    if fault == "cross_host_not_listening":
        # from a findings.json written earlier (an alert's diagnosis), as badgateway_findings
        found = diagnose(the_lab, tmp_path, since=time.time() - started + GATHER_DELAY)
        path = tmp_path / "alert-findings.json"
        path.write_text(json.dumps(found))
        extra = ["-e", f"badgateway_findings={path}"]
    res = remediate(the_lab, tmp_path, *extra, since=time.time() - started)
    if extra:
        assert res["report"]["remediation"]["source"] == f"findings file {path}"
    record(fault, res, {app: fault})
    assert_fixed(the_lab, tmp_path, res, {app: fault}, observe={app: proxy})
    hosts = res["report"]["remediation"]["hosts"]
    assert hosts[app]["changed"] and hosts[app]["fixes_for"][0]["host"] == proxy, hosts[app]
    assert not hosts[proxy]["steps"], "the proxy needed no change"
    assert snapshot(the_lab, proxy)["files"] == proxy_before["files"]
