# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx's own state, what users got (access logs), and one finding per cause - on facts."""
from __future__ import annotations

import pytest

from facts_fixtures import expanded, load_fixture, one_host

from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._view import serving_state

WORKERS = 1767225600.0      # when the fixture's nginx workers and apps started


def healthy():
    facts = expanded(load_fixture("healthy_lab"))      # written out: the tests change entries; one_host sends them compact
    facts["nginx"]["workers_started"] = WORKERS
    facts["nginx"]["service"] = {"installed": True, "running": True, "managed_by": "systemd", "unit": "nginx.service",
                                 "enabled": True, "state": {"active_state": "active"}, "start_failure": None}
    return facts


def nginx_stopped(facts, enabled=True, failure=None, active="failed"):
    facts["nginx"].update(master_pid=None, worker_pids=[], workers_started=None)
    facts["nginx"]["service"].update(running=False, enabled=enabled, start_failure=failure,
                                     state={"active_state": active, "sub_state": active, "result": "exit-code",
                                            "unit_file_state": "enabled" if enabled else "disabled"})
    for p in facts["probes"]["results"]:
        if p["via"] == "nginx":
            p.update(ok=False, status=None, error="ECONNREFUSED")
    return facts


def evaluate(facts):
    return rules.evaluate(one_host(facts), now=WORKERS + 600)["hosts"]["web1"]


def codes(result, severities=("critical", "warning")):
    return [f["code"] for f in result["findings"] if f["severity"] in severities]


@pytest.mark.parametrize("service,master,state", [
    (None, 100, "serving"),
    ({"running": True}, None, "serving"),
    ({"installed": True, "enabled": True, "state": {"active_state": "inactive"}}, None, "down"),
    ({"installed": True, "enabled": False, "state": {"active_state": "failed"}}, None, "down"),
    ({"installed": True, "enabled": False, "state": {"active_state": "inactive"}}, None, "unused"),
    ({"installed": False, "enabled": None, "state": None}, None, "absent"),
    ("garbage", None, "serving"),
])
def test_serving_state(service, master, state):
    present = isinstance(service, dict) and service.get("installed") is not False
    assert serving_state({"service": service, "master_pid": master, "present": present}) == state


def test_port_taken_is_one_critical_with_who_holds_it():
    facts = nginx_stopped(healthy(), failure={
        "cause": "address_in_use", "target": "0.0.0.0:80", "at": WORKERS + 500,
        "message": "bind() to 0.0.0.0:80 failed (98: Address already in use)",
        "lines": ["nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"]})
    facts["listeners"]["tcp"].append({"address": "0.0.0.0", "port": 80, "family": "inet",
                                      "processes": [{"name": "python3", "pid": 434, "user": "root", "unit": "x.service"}]})
    result = evaluate(facts)
    assert codes(result) == ["NGINX_DOWN"], [(f["code"], f["summary"]) for f in result["findings"]]
    top = result["findings"][0]
    assert "its port is taken" in top["summary"] and "not 502" in top["summary"]
    assert any("held by python3 pid 434" in e for e in top["evidence"])
    assert "free 0.0.0.0:80" in top["fix"]["summary"]


def test_config_error_at_start_folds_the_invalid_config_and_another_cause_does_not():
    facts = nginx_stopped(healthy(), failure={"cause": "config_error", "target": "/etc/nginx/conf.d/x.conf:1",
                                              "message": 'unknown directive "x" in /etc/nginx/conf.d/x.conf:1', "lines": []})
    facts["nginx"]["test"] = {"ok": False, "rc": 1, "output": 'nginx: [emerg] unknown directive "x" in /etc/nginx/conf.d/x.conf:1',
                              "skipped": False}
    result = evaluate(facts)
    assert codes(result) == ["NGINX_DOWN"]
    assert [c["code"] for c in result["findings"][0]["consequences"]] == ["NGINX_CONFIG_INVALID"]
    facts["nginx"]["service"]["start_failure"] = {"cause": "permission_denied", "target": "/run/nginx.pid", "lines": []}
    result = evaluate(facts)
    assert codes(result) == ["NGINX_DOWN", "NGINX_CONFIG_INVALID"]


def test_an_app_only_host_raises_no_route_finding_from_its_files():
    facts = nginx_stopped(healthy(), enabled=False, active="inactive")
    for p in facts["probes"]["results"]:         # whatever its files point at is broken too
        p.update(ok=False, status=None, error="ECONNREFUSED")
    facts["nginx"]["test"] = {"ok": False, "rc": 1, "output": "nginx: [emerg] bad", "skipped": False}
    result = evaluate(facts)
    assert result["status"] == "ok" and codes(result) == []
    assert [f["code"] for f in result["findings"]] == ["NGINX_NOT_SERVING"]
    assert "2 routes" in result["findings"][0]["summary"]


def test_a_stopped_tcp_app_and_its_refused_probe_are_one_finding():
    facts = healthy()
    uvicorn = [s for s in facts["apps"]["servers"] if s["name"] == "uvicorn.service"][0]
    uvicorn["state"].update(active_state="inactive", sub_state="dead", main_pid=None)
    uvicorn["running"] = False
    facts["listeners"]["tcp"] = [t for t in facts["listeners"]["tcp"] if t.get("port") != 8001]
    for p in facts["probes"]["results"]:
        if p["route"] == "_:80 /asgi/":
            p.update(ok=False, status=502 if p["via"] == "nginx" else None,
                     error=None if p["via"] == "nginx" else "ECONNREFUSED")
    result = evaluate(facts)
    on_route = [f for f in result["findings"] if f["route"] == "_:80 /asgi/" and f["severity"] == "critical"]
    assert [f["code"] for f in on_route] == ["APP_STOPPED"], [(f["code"], f["summary"]) for f in result["findings"]]


def access(route, counts, first, last, last_ok=None, requests=10):
    answering = last_ok is not None and last_ok > last
    return {"log": "/var/log/nginx/access.log", "route": route, "route_index": 0, "upstream": None,
            "counts": dict({"502": 0, "503": 0, "504": 0, "5xx_other": 0}, **counts), "total_5xx": sum(counts.values()),
            "requests": requests, "last_ok": last_ok, "answering": answering, "retried": 0, "first": first, "last": last,
            "upstream_status": {"502": 1}, "upstream_addrs": ["unix:/run/gunicorn/gunicorn.sock"],
            "upstream_response_time": None, "request_time": None,
            "timeline": {"start": WORKERS, "bucket": 60, "counts": [0, 2, 0, 1]},
            "samples": ["502 /?token=********"]}


def with_access(facts, *aggs):
    facts["access"] = {"window": {}, "logs": [], "routes": list(aggs), "errors": []}
    return facts


def test_unexplained_current_502s_are_a_critical_never_ok():
    facts = with_access(healthy(), access("_:80 /", {"502": 3}, WORKERS + 100, WORKERS + 200))
    result = evaluate(facts)
    assert result["status"] == "critical"
    top = result["findings"][0]
    assert top["code"] == "FACTS_INCOMPLETE" and top["route"] == "_:80 /"
    assert "3 of 10 requests got 502 on route '_:80 /' since " in top["summary"]


@pytest.mark.parametrize("last_ok,first,last,severity", [
    (WORKERS + 300, WORKERS + 100, WORKERS + 200, "warning"),     # it answers again: intermittent or passed
    (WORKERS + 300, WORKERS + 1, WORKERS + 4, "info"),             # right after the start, answered since: not ready yet
    (None, WORKERS - 300, WORKERS - 200, "info"),                  # before the workers' start: history
])
def test_recovered_and_old_502s(last_ok, first, last, severity):
    result = evaluate(with_access(healthy(), access("_:80 /", {"502": 2}, first, last, last_ok)))
    assert [f["severity"] for f in result["findings"] if f["code"] == "FACTS_INCOMPLETE" and f["route"]] == [severity]


def test_502s_before_the_container_behind_the_route_started_are_history():
    facts = expanded(load_fixture("lab/healthy_containers")["hosts"]["ctr1"])    # written out; one_host sends it compact
    workers = facts["nginx"]["workers_started"]
    web = [c for c in facts["containers"]["containers"] if c["name"] == "shop_web_1"][0]
    web["started_at"] = workers + 500   # the container was started again after the 502s (by hand or its policy)
    result = evaluate(with_access(facts, access("_:80 /ctr/", {"502": 2}, workers + 100, workers + 200, workers + 600)))
    found = [f for f in result["findings"] if f["code"] == "FACTS_INCOMPLETE" and f["route"] == "_:80 /ctr/"]
    assert [f["severity"] for f in found] == ["info"] and "before the newest restart" in found[0]["summary"]
    web["started_at"] = workers - 500   # the container ran all along: the 502s are unexplained, and passed
    result = evaluate(with_access(facts, access("_:80 /ctr/", {"502": 2}, workers + 100, workers + 200, workers + 600)))
    assert [f["severity"] for f in result["findings"] if f["code"] == "FACTS_INCOMPLETE" and f["route"] == "_:80 /ctr/"] == [
        "warning"]


def test_502s_go_to_the_finding_that_explains_the_route():
    facts = healthy()
    gunicorn = [s for s in facts["apps"]["servers"] if s["name"] == "gunicorn.service"][0]
    gunicorn["state"].update(active_state="inactive", sub_state="dead", main_pid=None, active_enter=WORKERS + 10)
    gunicorn["running"] = False
    facts["listeners"]["unix"] = [u for u in facts["listeners"]["unix"] if "gunicorn" not in u.get("path", "")]
    for p in facts["probes"]["results"]:
        if p["route"] == "_:80 /":
            p.update(ok=False, status=502 if p["via"] == "nginx" else None, error=None if p["via"] == "nginx" else "ENOENT")
    result = evaluate(with_access(facts, access("_:80 /", {"502": 5, "504": 1}, WORKERS + 100, WORKERS + 200)))
    top = result["findings"][0]
    assert top["code"] in ("APP_STOPPED", "SOCKET_MISSING"), [(f["code"], f["summary"]) for f in result["findings"]]
    assert "6 of 10 requests got a 5xx on route '_:80 /' since" in top["summary"]
    assert any("5 \u00d7 502, 1 \u00d7 504" in e for e in top["evidence"])
    assert not [f for f in result["findings"] if f["code"] == "FACTS_INCOMPLETE" and f["route"]]


def test_the_report_shows_a_timeline_per_route_and_no_secret():
    facts = with_access(healthy(), access("_:80 /", {"502": 3}, WORKERS + 100, WORKERS + 200))
    facts["access"]["routes"][0]["samples"] = ["502 /?password=hunter2-DO-NOT-LEAK"]
    result = rules.evaluate(one_host(facts), now=WORKERS + 600)
    page = reports.render_html(result)
    assert '<svg class="timeline"' in page and "What users got" in page
    assert page.count("<rect") >= 2
    assert "hunter2" not in page and "hunter2" not in reports.render_json(result)


def test_no_access_findings_for_an_unused_nginx():
    facts = with_access(nginx_stopped(healthy(), enabled=False, active="inactive"),
                        access("_:80 /", {"502": 3}, WORKERS + 100, WORKERS + 200))
    result = evaluate(facts)
    assert codes(result) == [] and result["access"] == []
