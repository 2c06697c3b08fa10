# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import re
import os
import xml.etree.ElementTree as ET

import pytest

from facts_fixtures import expanded, load_fixture, one_host

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog, reports, rules


def mixed_result():
    hosts = {}
    hosts.update(one_host(load_fixture("app_stopped"), "web1"))
    hosts.update(one_host(load_fixture("healthy_lab"), "web2", ("10.213.0.4",)))
    hosts["web3"] = {"facts": None, "unreachable": True, "address": ["10.213.0.9"], "msg": "ssh: connect to host: No route to host"}
    return rules.evaluate(hosts, now=1767229200.0)


def test_json_round_trip():
    res = mixed_result()
    assert json.loads(reports.render_json(res)) == json.loads(json.dumps(res))


def test_junit_structure():
    res = mixed_result()
    root = ET.fromstring(reports.render_junit(res))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"web1", "web2", "web3"}
    n = len(catalog.CODES)
    for s in suites.values():
        assert len(s.findall("testcase")) == n == int(s.get("tests"))
        for case in s.findall("testcase"):
            assert case.get("name") and case.get("classname") and case.get("time") is not None
    web1 = suites["web1"]
    failures = {c.get("name"): c.find("failure") for c in web1.findall("testcase") if c.find("failure") is not None}
    assert {"APP_STOPPED", "SOCKET_MISSING"} <= set(failures)
    assert int(web1.get("failures")) == len(failures)
    assert "ActiveState=inactive" in failures["APP_STOPPED"].text
    assert failures["APP_STOPPED"].get("type") == "critical"
    assert "consequence of APP_STOPPED" in failures["SOCKET_MISSING"].text
    assert suites["web2"].get("failures") == "0"
    web3 = suites["web3"]
    assert web3.get("errors") == "1" and int(web3.get("skipped")) == n - 1
    assert int(root.get("tests")) == 3 * n


def test_junit_element_order_matches_schema():
    # JUnit schema (junit-10.xsd): a testcase holds skipped|error|failure then system-out; suites hold testcases only here
    root = ET.fromstring(reports.render_junit(mixed_result()))
    for case in root.iter("testcase"):
        tags = [c.tag for c in case]
        assert tags in ([], ["failure"], ["error"], ["skipped"], ["system-out"])
    for suite in root.iter("testsuite"):
        for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname"):
            assert suite.get(attr) is not None


def test_html_is_self_contained_and_escaped():
    res = mixed_result()
    f = res["hosts"]["web1"]["findings"][0]
    f["summary"] = "<script>alert(1)</script> & \"quoted\""
    f["evidence"].append("<img src=x onerror=alert(2)>")
    page = reports.render_html(res)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    # no external assets: no <link>, no script, no src= / href= / url() pointing anywhere but an in-page anchor
    assert "<link" not in page and "url(" not in page
    assert re.findall(r'(?:src|href)="([^"#][^"]*)"', page) == []
    assert 'data-host="web1"' in page and 'data-host="web3"' in page
    assert page.count('data-hop-state="broken"') == 2   # web1 (app) and web3 (unreachable); web2 healthy
    assert 'id="broken-hop-web1"' in page


def test_html_marks_the_root_layer_hop():
    res = rules.evaluate(one_host(load_fixture("socket_dir_permission")), now=0)
    assert res["hosts"]["web1"]["path"]["broken"] == "endpoint"
    page = reports.render_html(res)
    assert 'data-hop="endpoint" data-hop-state="broken"' in page
    res = rules.evaluate(one_host(load_fixture("protocol_mismatch")), now=0)
    assert 'data-hop="nginx" data-hop-state="broken"' in reports.render_html(res)


def test_markdown():
    md = reports.render_md(mixed_result())
    assert "| web1 |" in md and "`APP_STOPPED`" in md and "| web2 | \u2705 ok |" in md
    assert "unreachable" in md
    for line in md.splitlines():
        if line.startswith("| web"):
            assert line.count(" | ") == 4   # pipes in text are escaped


def test_write_reports_atomic(tmp_path):
    res = mixed_result()
    written = reports.write_reports(res, str(tmp_path / "out"), ["json", "junit", "html", "md"])
    assert sorted(os.path.basename(p) for p in written.values()) == ["findings.json", "junit.xml", "report.html", "report.md"]
    assert sorted(os.listdir(tmp_path / "out")) == ["findings.json", "junit.xml", "report.html", "report.md"]
    assert json.loads((tmp_path / "out" / "findings.json").read_text())["hosts"]["web1"]["status"] == "critical"


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "findings.json"
    target.write_text("OLD")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(reports.os, "rename", boom)  # the one atomic writer (_safe_io) renames over the file
    with pytest.raises(OSError):
        reports.write_atomic(str(target), "NEW")
    assert target.read_text() == "OLD"
    assert os.listdir(tmp_path) == ["findings.json"]


def test_unknown_format_rejected(tmp_path):
    with pytest.raises(ValueError):
        reports.write_reports(mixed_result(), str(tmp_path), ["pdf"])


def test_many_consequences_are_capped_in_human_reports():
    import copy
    facts = expanded(load_fixture("app_stopped"))
    base = facts["nginx"]["routes"][0]
    for i in range(60):
        r = copy.deepcopy(base)
        r["id"] = f"s{i}:80 /"
        facts["nginx"]["routes"].append(r)
    res = rules.evaluate(one_host(facts), now=0)
    root = res["hosts"]["web1"]["findings"][0]
    assert root["code"] == "APP_STOPPED" and len(root["consequences"]) == 61      # all kept in findings.json
    page = reports.render_html(res)
    assert page.count('data-code="SOCKET_MISSING"') == reports.MAX_CONSEQUENCES
    assert "41 more consequences" in page
    assert "more (all in findings.json)" in reports.render_md(res)
    assert len(root["evidence"]) <= 25                                            # evidence is capped too


def test_many_root_findings_are_capped_in_human_reports(tmp_path):
    # a proxy whose every site proxies to a socket of its own that nothing binds: a root finding per site
    import copy
    facts = expanded(load_fixture("target_mismatch_socket"))
    base = next(r for r in facts["nginx"]["routes"] if r["endpoints"][0]["kind"] == "unix")
    for i in range(120):
        r = copy.deepcopy(base)
        r.update(id=f"s{i:03d}:80 /", endpoints=[{"kind": "unix", "path": f"/run/gunicorn/s{i:03d}.sock"}])
        facts["nginx"]["routes"].append(r)
    res = rules.evaluate(one_host(facts), now=0)
    roots = res["hosts"]["web1"]["findings"]
    assert len(roots) > 120                                                       # all kept in findings.json
    written = reports.write_reports(res, str(tmp_path))
    page, md = (open(written[k], encoding="utf-8").read() for k in ("html", "md"))
    shown = re.findall(r'<div class="finding [a-z]+" data-code="[A-Z_]+">', page)
    first = roots[:reports.MAX_ROOTS_HTML]
    assert len(shown) == sum(1 + min(len(f["consequences"]), reports.MAX_CONSEQUENCES) for f in first)
    more = len(roots) - reports.MAX_ROOTS_HTML
    assert f"and {more} more root findings on this host (TARGET_MISMATCH_SOCKET \u00d7 " in page
    assert len(re.findall(r"^- \*\*", md, re.M)) == reports.MAX_ROOTS_MD
    assert f"- ... and {len(roots) - reports.MAX_ROOTS_MD} more root findings on this host" in md
    assert len(json.loads(open(written["json"], encoding="utf-8").read())["hosts"]["web1"]["findings"]) == len(roots)


def test_every_report_shows_the_fix_steps():
    res = rules.evaluate(one_host(load_fixture("target_mismatch_port")), now=0)
    step = "step 1: badgateway.doctor.nginx_proxy on web1"
    alternative = "alternative 1: badgateway.doctor.app_unit on web1"
    for render in (reports.render_html, reports.render_md, reports.render_junit):
        out = render(res)
        assert step in out and alternative in out, render.__name__
    assert "127.0.0.1:8001" in reports.render_md(res)      # the target the edit sets
