# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate's plan (route selection as nginx does it), its checks, its verdict and its reports."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.badgateway.doctor.plugins.action.deploy_gate_evaluate import host_verdict
from ansible_collections.badgateway.doctor.plugins.plugin_utils import gate, reports_gate


def listen(raw="80", port=80, host="*", default=False, ssl=False, unix=None):
    return {"raw": raw, "host": host, "port": port, "unix": unix, "ssl": ssl, "default_server": default, "ipv6": False}


def route(rid, location, endpoints, names=("_",), listens=None, target="http://app", directive="proxy_pass"):
    return {"id": rid, "location": location, "endpoints": endpoints, "server_names": list(names),
            "listen": listens or [listen(default=True)], "target": target, "directive": directive, "protocol": "http",
            "dynamic": False, "upstream": None}


SOCK = {"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}
TCP = {"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet", "addresses": [{"family": "inet", "address": "127.0.0.1"}]}
LAB = {"present": True, "user": "www-data", "routes": [
    route("_:80 /", "/", [SOCK], target="http://wsgi_app"),
    route("_:80 /asgi/", "/asgi/", [TCP], target="http://127.0.0.1:8001/"),
]}


def test_plan_lab_health():
    p = gate.plan(LAB, "", "/health")
    assert p["route"] == "_:80 /" and p["endpoints"] == ["unix:/run/gunicorn/gunicorn.sock"]
    assert [(t["via"], t["url"]) for t in p["targets"]] == [
        ("direct", "http://unix:/run/gunicorn/gunicorn.sock:/health"), ("nginx", "http://127.0.0.1/health")]


def test_plan_proxy_pass_uri_is_rewritten_for_the_direct_probe():
    p = gate.plan(LAB, "", "/asgi/health")
    assert p["route"] == "_:80 /asgi/" and p["endpoints"] == ["127.0.0.1:8001"]
    assert p["direct_path"] == "/health"
    assert [t["url"] for t in p["targets"]] == ["http://127.0.0.1:8001/health", "http://127.0.0.1/asgi/health"]


def test_plan_picks_the_server_by_host_and_sends_it():
    nginx = {"routes": [route("_:80 /", "/", [SOCK], listens=[listen(default=True)]),
                        route("shop.example.com:80 /", "/", [TCP], names=["shop.example.com", "www.shop.example.com"]),
                        route("*.example.org:80 /", "/", [SOCK], names=["*.example.org"])]}
    p = gate.plan(nginx, "shop.example.com", "/healthz")
    assert p["route"] == "shop.example.com:80 /" and p["endpoints"] == ["127.0.0.1:8001"]
    assert all(t["host_header"] == "shop.example.com" for t in p["targets"])
    assert gate.plan(nginx, "api.example.org", "/")["route"] == "*.example.org:80 /"
    assert gate.plan(nginx, "unknown.test", "/")["route"] == "_:80 /"


@pytest.mark.parametrize("path, want", [("/api/v1/x", "^~ /api/"), ("/x.php", "~ \\.php$"), ("/exact", "= /exact"),
                                        ("/exact/no", "/"), ("/api", "/")])
def test_location_matching(path, want):
    routes = [route("r1", "/", [SOCK]), route("r2", "^~ /api/", [SOCK]), route("r3", "~ \\.php$", [SOCK]),
              route("r4", "= /exact", [SOCK])]
    assert gate.match_route(routes, path)["location"] == want


def test_plan_with_explicit_listen_and_without_nginx():
    p = gate.plan({"present": False}, "", "/health", ["127.0.0.1:8000", "unix:/run/app.sock"])
    assert p["endpoints"] == ["127.0.0.1:8000", "unix:/run/app.sock"]
    assert sorted(t["url"] for t in p["targets"]) == ["http://127.0.0.1:8000/health", "http://unix:/run/app.sock:/health"]
    assert p["notes"] == ["nginx is not installed on this host: no via-nginx check"]


def test_plan_no_route_for_the_path():
    p = gate.plan({"routes": [route("r", "= /only", [SOCK])]}, "", "/health")
    assert p["route"] is None and p["targets"] == [] and "no nginx location serves /health" in p["notes"][0]


# ----------------------------------------------------------------------------- checks

READY_OK = {"changed": False, "state": "ready", "ready": True, "elapsed": 0.4, "msg": "gunicorn.service is active",
            "status": {"active_state": "active", "sub_state": "running", "n_restarts": 0, "main_pid": 812},
            "listeners": [{"listen": "unix:/run/gunicorn/gunicorn.sock", "ok": True, "error": None}]}
READY_LOOP = {"failed": True, "state": "crash_loop", "ready": False, "elapsed": 2.1,
              "status": {"active_state": "activating", "sub_state": "auto-restart", "n_restarts": 2},
              "listeners": [{"listen": "unix:/run/gunicorn/gunicorn.sock", "ok": False, "error": "ENOENT"}],
              "journal": ["web1 gunicorn[1480]: ModuleNotFoundError: No module named 'shop_settings_v2'",
                          "web1 gunicorn[1485]: [ERROR] Reason: Worker failed to boot."],
              "msg": "gunicorn.service crash-loops: systemd restarted it 2 times in 2.1 s\nLast error lines of its journal:\n..."}
PROBE_OK = {"probes": {"results": [
    {"via": "direct", "url": "http://unix:/run/gunicorn/gunicorn.sock:/health", "status": 200, "latency": 0.003, "ok": True},
    {"via": "nginx", "url": "http://127.0.0.1:80/health", "status": 200, "latency": 0.004, "ok": True, "host_header": "shop"}]}}
PROBE_502 = {"failed": True, "probes": {"results": [
    {"via": "direct", "url": "http://unix:/run/gunicorn/gunicorn.sock:/health", "status": None, "error": "ENOENT", "ok": False},
    {"via": "nginx", "url": "http://127.0.0.1:80/health", "status": 502, "latency": 0.001, "ok": False}]}}


def by_name(checks):
    return {c["name"]: c for c in checks}


def test_checks_pass():
    c = by_name(gate.host_checks("gunicorn.service", READY_OK, PROBE_OK, 200, None, "www-data"))
    assert [c[n]["ok"] for n in ("unit", "listener", "health_direct", "health_nginx")] == [True, True, True, True]
    assert c["release"]["ok"] is None
    assert "as www-data" in c["health_direct"]["evidence"][0]
    assert "(Host: shop)" in c["health_nginx"]["evidence"][0]


def test_checks_crash_loop_names_the_journal_reason():
    c = by_name(gate.host_checks("gunicorn.service", READY_LOOP, PROBE_502, 200))
    assert c["unit"]["ok"] is False and "crash-loops" in c["unit"]["summary"]
    assert c["unit"]["summary"].endswith("ModuleNotFoundError: No module named 'shop_settings_v2'")
    assert c["unit"]["evidence"][-1].endswith("Worker failed to boot.")
    assert c["listener"]["ok"] is False and "ENOENT" in c["listener"]["summary"]
    assert c["health_direct"]["ok"] is False and "ENOENT" in c["health_direct"]["summary"]
    assert c["health_nginx"]["summary"] == "http://127.0.0.1:80/health answered HTTP 502, expected 200"


def test_checks_skipped_and_expected_status():
    c = by_name(gate.host_checks("", None, {"skipped": True, "skip_reason": "Conditional result was False"}, 200))
    assert c["unit"]["ok"] is None and c["health_direct"]["ok"] is None
    teapot = {"probes": {"results": [dict(PROBE_OK["probes"]["results"][0], status=418)]}}
    c = by_name(gate.host_checks("", None, teapot, 418))
    assert c["health_direct"]["ok"] is True and c["health_nginx"]["ok"] is False


def test_release_check_catches_a_unit_not_restarted():
    layout = {"release": {"current_link": "/srv/app/current", "current": {"id": "v2", "target": "releases/v2"},
                          "running": {"cwd": "/srv/app/releases/v1", "release": "v1"},
                          "unit": {"name": "gunicorn.service", "main_pid": 42}}}
    check = gate.release_check(layout)
    assert check["ok"] is False and "restart the unit" in check["summary"]
    layout["release"]["running"] = {"cwd": "/srv/app/releases/v2", "release": "v2"}
    assert gate.release_check(layout)["ok"] is True


def test_verdict_uses_fail_on():
    checks = gate.host_checks("", None, PROBE_OK, 200)
    diag = {"findings": [{"severity": "warning", "code": "KEEPALIVE_RACE", "summary": "x"}]}
    assert gate.verdict(checks, diag, 0) == (False, [])
    failed, reasons = gate.verdict(checks, diag, 1)
    assert failed and reasons == ["warning KEEPALIVE_RACE: x"]


# ----------------------------------------------------------------------------- verdict over passes, reports

def passes_rolled_back():
    boot = {"code": "APP_BOOT_IMPORT_ERROR", "severity": "critical", "layer": "app", "summary": "boot fails", "evidence": ["j"],
            "fix": {"summary": "fix it"}}
    rollback = {"ok": True, "status": "done", "from": "v2", "to": "v1", "msg": "roll back from v2 to v1"}
    first = {"label": "deploy", "diagnosis": {"generated_at": "t", "hosts": {"web1": {"status": "critical", "findings": [boot]}}},
             "hosts": {"web1": {"checks": gate.host_checks("gunicorn.service", READY_LOOP, PROBE_502, 200), "failed": True,
                                "reasons": ["unit: crash"], "rollback": rollback}}}
    second = {"label": "after rollback", "diagnosis": {"generated_at": "t", "hosts": {"web1": {"status": "ok", "findings": []}}},
              "hosts": {"web1": {"checks": gate.host_checks("gunicorn.service", READY_OK, PROBE_OK, 200), "failed": False, "reasons": []}}}
    return [first, second]


def test_host_verdict():
    passes = passes_rolled_back()
    status, failed, reasons, rb = host_verdict(passes, "web1", True)
    assert status == "rolled_back" and failed is True and "rolled back to v1" in reasons[0] and rb["to"] == "v1"
    assert host_verdict(passes, "web1", False)[1] is False
    passes[0]["hosts"]["web1"]["rollback"] = {"ok": False, "status": "refused", "msg": "refused"}
    assert host_verdict(passes[:1], "web1", True)[0] == "rollback_refused"
    passes[0]["hosts"]["web1"]["rollback"] = None
    assert host_verdict(passes[:1], "web1", True)[:2] == ("failed", True)


def test_reports_hold_both_passes():
    passes = passes_rolled_back()
    result = {"generated_at": "2026-12-02T00:00:00Z", "fail_on": "critical", "passed": False, "passes": passes,
              "hosts": {"web1": {"status": "rolled_back", "failed": True, "reasons": ["rolled back to v1"],
                                 "rollback": passes[0]["hosts"]["web1"]["rollback"]}}}
    junit = ET.fromstring(reports_gate.render_junit(result).split("\n", 1)[1])
    suites = junit.findall("testsuite")
    assert [s.get("name") for s in suites] == ["web1", "web1 (after rollback)"]
    names = [c.get("name") for c in suites[0].findall("testcase")]
    assert names[:6] == ["unit", "listener", "direct health", "via-nginx health", "release", "rollback"]
    assert "APP_BOOT_IMPORT_ERROR" in names
    unit = suites[0].find("testcase[@name='unit']/failure")
    assert "ModuleNotFoundError" in unit.get("message")
    assert suites[1].find("testcase[@name='unit']/failure") is None
    assert int(junit.get("tests")) == sum(int(s.get("tests")) for s in suites)
    assert int(junit.get("failures")) == sum(len(s.findall("testcase/failure")) for s in suites)
    md = reports_gate.render_md(result)
    assert md.startswith("## badgateway.doctor deploy gate: \u274c failed")
    assert "rolled back" in md and "`APP_BOOT_IMPORT_ERROR`" in md and "ModuleNotFoundError" in md
    page = reports_gate.render_html(result)
    assert page.count("<main>") == 1 and 'data-gate="failed"' in page and 'data-check="unit" data-state="failed"' in page
    assert "<script" not in page
    assert json.loads(reports_gate.render_json(result))["hosts"]["web1"]["status"] == "rolled_back"


def test_hostile_text_is_escaped():
    evil = "<script>alert(1)</script>|`x`"
    checks = [gate.make_check("unit", False, evil, [evil])]
    result = {"generated_at": "t", "fail_on": "critical", "passed": False,
              "passes": [{"label": "deploy", "diagnosis": {"hosts": {}}, "hosts": {"h<1>": {"checks": checks, "failed": True,
                                                                                            "reasons": [evil]}}}],
              "hosts": {"h<1>": {"status": "failed", "failed": True, "reasons": [evil], "rollback": None}}}
    assert "<script>" not in reports_gate.render_html(result)
    # in Markdown only inside code spans, which show it literally
    assert "<script>" not in re.sub(r"`[^`\n]*`", "", reports_gate.render_md(result))
    ET.fromstring(reports_gate.render_junit(result).split("\n", 1)[1])


def test_a_unit_that_looked_ready_but_restarts_while_probed_crash_loops():
    after = {"active_state": "activating", "sub_state": "auto-restart", "n_restarts": 3}
    c = by_name(gate.host_checks("gunicorn.service", READY_OK, PROBE_502, 200, after=after))
    assert c["unit"]["ok"] is False and "crash-loops" in c["unit"]["summary"] and "activating/auto-restart" in c["unit"]["summary"]
    steady = {"active_state": "active", "sub_state": "running", "n_restarts": 0}
    assert by_name(gate.host_checks("gunicorn.service", READY_OK, PROBE_OK, 200, after=steady))["unit"]["ok"] is True


def test_listener_never_bound_keeps_the_unit_check_green():
    ready = {"failed": True, "state": "timeout", "ready": False, "elapsed": 6.0, "msg": "gunicorn.service is not ready after 6 s",
             "status": {"active_state": "active", "sub_state": "running", "n_restarts": 0},
             "listeners": [{"listen": "unix:/run/gunicorn/gunicorn.sock", "ok": False, "error": "ENOENT"}]}
    c = by_name(gate.host_checks("gunicorn.service", ready, PROBE_502, 200))
    assert c["unit"]["ok"] is True and c["listener"]["ok"] is False
    assert c["listener"]["summary"] == ("unix:/run/gunicorn/gunicorn.sock does not accept connections (ENOENT) after 6.0 s; "
                                        "gunicorn.service is active/running")
