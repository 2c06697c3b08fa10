# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis rules on hand-built facts (tests/unit/fixtures/facts, see make_fixtures.py)."""
from __future__ import annotations

import copy
import glob
import os

import pytest

from facts_fixtures import FIXTURES, expanded, load_fixture, one_host

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints
from ansible_collections.badgateway.doctor.plugins.plugin_utils import _addresses, catalog, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._view import HostView

# fixture -> (first finding code, its route, codes that must be folded under it as consequences, host status)
EXPECT = {
    # derived from the container lab's recordings (fixtures/facts/make_container_fixtures.py)
    "container_oom_killed": ("CONTAINER_OOM_KILLED", "_:80 /ctr/", {"SOCKET_MISSING", "APP_STOPPED"}, "critical"),
    "app_stopped": ("APP_STOPPED", "_:80 /", {"SOCKET_MISSING"}, "critical"),
    "app_crash_loop": ("APP_CRASH_LOOP", "_:80 /", {"SOCKET_MISSING"}, "critical"),
    "app_boot_import_error": ("APP_BOOT_IMPORT_ERROR", "_:80 /", {"SOCKET_MISSING", "APP_CRASH_LOOP"}, "critical"),
    "app_env_file_missing": ("APP_ENV_FILE_MISSING", "_:80 /", {"SOCKET_MISSING", "APP_STOPPED"}, "critical"),
    "app_exec_missing": ("APP_EXEC_MISSING", "_:80 /", {"SOCKET_MISSING", "APP_CRASH_LOOP"}, "critical"),
    "app_workdir_missing": ("APP_WORKDIR_MISSING", "_:80 /", {"SOCKET_MISSING", "APP_CRASH_LOOP"}, "critical"),
    "dependency_down": ("DEPENDENCY_DOWN", "_:80 /", {"SOCKET_MISSING", "APP_CRASH_LOOP"}, "critical"),
    "socket_missing": ("SOCKET_MISSING", "_:80 /", set(), "critical"),
    "target_mismatch_port": ("TARGET_MISMATCH_PORT", "_:80 /asgi/", set(), "critical"),
    "target_mismatch_socket": ("TARGET_MISMATCH_SOCKET", "_:80 /", {"SOCKET_MISSING"}, "critical"),
    "ip_family_mismatch": ("IP_FAMILY_MISMATCH", "_:80 /asgi/", set(), "warning"),
    "socket_dir_permission": ("SOCKET_DIR_PERMISSION", "_:80 /", set(), "critical"),
    "socket_file_permission": ("SOCKET_FILE_PERMISSION", "_:80 /", set(), "critical"),
    "runtime_directory_missing": ("RUNTIME_DIRECTORY_MISSING", "_:80 /", {"SOCKET_MISSING", "APP_CRASH_LOOP"}, "critical"),
    "private_tmp_socket": ("PRIVATE_TMP_SOCKET", "_:80 /", {"SOCKET_MISSING"}, "critical"),
    "worker_timeout": ("WORKER_TIMEOUT", "_:80 /", {"PREMATURE_CLOSE"}, "warning"),
    "upstream_timeout": ("UPSTREAM_TIMEOUT", "_:80 /asgi/", set(), "critical"),
    "oom_kill": ("OOM_KILL", "_:80 /", {"PREMATURE_CLOSE"}, "warning"),
    "keepalive_race": ("KEEPALIVE_RACE", "_:80 /asgi/", {"PREMATURE_CLOSE"}, "warning"),
    "protocol_mismatch": ("PROTOCOL_MISMATCH", "_:80 /", {"PREMATURE_CLOSE"}, "critical"),
    "backlog_full": ("BACKLOG_FULL", "_:80 /", set(), "warning"),
    "header_too_big": ("HEADER_TOO_BIG", "_:80 /", set(), "critical"),
    "no_live_upstreams": ("NO_LIVE_UPSTREAMS", "_:80 /asgi/", set(), "warning"),
    "premature_close": ("PREMATURE_CLOSE", "_:80 /asgi/", set(), "warning"),
    "nginx_config_invalid": ("NGINX_CONFIG_INVALID", None, {"NGINX_CONFIG_STALE"}, "critical"),
    "nginx_config_stale": ("NGINX_CONFIG_STALE", None, set(), "warning"),
    "selinux_blocks_upstream": ("SELINUX_BLOCKS_UPSTREAM", "_:80 /asgi/", set(), "critical"),
    "php_fpm_socket_owner": ("PHP_FPM_SOCKET_OWNER", "_:80 ~ \\.php$", {"SOCKET_FILE_PERMISSION"}, "critical"),
    "container_loopback_bind": ("CONTAINER_LOOPBACK_BIND", "_:80 /asgi/", {"PREMATURE_CLOSE"}, "critical"),
    "facts_incomplete": ("FACTS_INCOMPLETE", None, set(), "warning"),
}


def check_step(s):
    assert set(s) == {"role", "host", "vars"} and s["host"]
    short = s["role"].replace("badgateway.doctor.", "", 1)
    assert s["role"] == f"badgateway.doctor.{short}" and short in catalog.ROLES
    assert s["vars"] and all(k.startswith(short + "_") for k in s["vars"])


def check_shape(f):
    assert f["code"] in catalog.CODES
    assert f["severity"] in catalog.SEVERITIES
    assert f["layer"] in catalog.LAYERS
    assert isinstance(f["summary"], str) and f["summary"] and "\n" not in f["summary"]
    assert f["route"] is None or isinstance(f["route"], str)
    assert isinstance(f["evidence"], list) and all(isinstance(e, str) for e in f["evidence"])
    fix = f["fix"]
    assert set(fix) == {"summary", "role", "vars", "steps", "alternative_steps"} and fix["summary"]
    for s in fix["steps"] + fix["alternative_steps"]:
        check_step(s)
    first = fix["steps"][0] if fix["steps"] else {}
    assert (fix["role"], fix["vars"]) == (first.get("role"), first.get("vars"))    # role / vars mirror steps[0]
    assert not any(k.startswith("_") for k in f)
    for c in f["consequences"]:
        check_shape(c)
        assert c["consequences"] == []


def run(name):
    return rules.evaluate(one_host(load_fixture(name)), now=0)


def test_every_class_fixture_is_expected():
    on_disk = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(FIXTURES, "*.json"))}
    singles = on_disk - {"healthy_lab"} - {n for n in on_disk if n.startswith("cross_host")}
    assert singles == set(EXPECT)


def test_healthy_lab_has_no_finding_at_warning_or_above():
    res = run("healthy_lab")
    host = res["hosts"]["web1"]
    assert host["status"] == "ok"
    assert [f for f in host["findings"] if f["severity"] in ("critical", "warning")] == []
    assert host["path"]["broken"] is None
    assert [h["hop"] for h in host["path"]["hops"]] == ["client", "nginx", "endpoint", "listener", "app"]


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_rule_names_root_cause_first(name):
    code, route, folded, status = EXPECT[name]
    res = run(name)
    host = res["hosts"]["web1"]
    for f in host["findings"]:
        check_shape(f)
    first = host["findings"][0]
    assert first["code"] == code, [f["code"] for f in host["findings"]]
    assert first["route"] == route
    assert first["host"] == "web1"
    assert folded <= {c["code"] for c in first["consequences"]}
    assert host["status"] == status
    # the symptom codes folded under the root are not repeated as roots
    assert not folded & {f["code"] for f in host["findings"][1:]}
    assert first["evidence"], "a finding without evidence"


def test_summary_says_what_users_see():
    for name in ("app_stopped", "socket_dir_permission", "target_mismatch_port"):
        assert "502" in run(name)["hosts"]["web1"]["findings"][0]["summary"]
    assert "504" in run("upstream_timeout")["hosts"]["web1"]["findings"][0]["summary"]
    assert "intermittent" in run("worker_timeout")["hosts"]["web1"]["findings"][0]["summary"]


def test_evidence_carries_log_counts_times_and_file_line():
    f = run("app_stopped")["hosts"]["web1"]["findings"][0]
    text = "\n".join(f["evidence"])
    assert "37x no_such_file" in text and "2026-01-01T00:50:00Z" in text
    assert "/etc/nginx/sites-enabled/app:9" in text
    assert "ActiveState=inactive" in text
    perm = run("socket_dir_permission")["hosts"]["web1"]["findings"][0]
    assert any("0700 app:app" in e for e in perm["evidence"])
    # the role that fixes it, with its variables computed from the facts
    assert perm["fix"]["role"] == "badgateway.doctor.socket_permissions"
    assert perm["fix"]["vars"] == {"socket_permissions_path": "/run/gunicorn/gunicorn.sock", "socket_permissions_user": "www-data",
                                   "socket_permissions_unit": "gunicorn.service"}
    assert perm["fix"]["summary"]


def test_folding_root_takes_highest_severity_and_orders_consequences():
    f = run("app_boot_import_error")["hosts"]["web1"]["findings"][0]
    sev_rank = {"critical": 0, "warning": 1, "info": 2}
    ranks = [sev_rank[c["severity"]] for c in f["consequences"]]
    assert ranks == sorted(ranks)
    assert f["severity"] == "critical"


def test_fold_unit_generic():
    a = {"code": "APP_STOPPED", "severity": "warning", "layer": "app", "route": None, "summary": "a", "consequences": [],
         "_subjects": {("endpoint", "unix:/x")}}
    b = {"code": "SOCKET_MISSING", "severity": "critical", "layer": "socket", "route": "r", "summary": "b", "consequences": [],
         "_subjects": {("endpoint", "unix:/x")}}
    c = {"code": "SOCKET_MISSING", "severity": "critical", "layer": "socket", "route": "r2", "summary": "c", "consequences": [],
         "_subjects": {("endpoint", "unix:/other")}}
    roots = rules.fold([b, a, c])
    assert [r["summary"] for r in roots] == ["c", "a"] or [r["summary"] for r in roots] == ["a", "c"]
    root_a = next(r for r in roots if r["summary"] == "a")
    assert [x["summary"] for x in root_a["consequences"]] == ["b"]
    assert root_a["severity"] == "critical"     # escalated by what it explains
    # a symptom never explains its cause, whatever the input order
    assert rules.fold([a, b])[0]["code"] == "APP_STOPPED"


def test_sort_by_severity_then_layer():
    mk = [{"code": c, "severity": s, "layer": l, "route": None, "summary": c, "consequences": [], "_subjects": {("x", c)}}
          for c, s, l in (("FACTS_INCOMPLETE", "warning", "system"), ("OOM_KILL", "critical", "system"),
                          ("HEADER_TOO_BIG", "critical", "proxy"), ("KEEPALIVE_RACE", "warning", "proxy"))]
    assert [f["code"] for f in rules.fold(mk)] == ["HEADER_TOO_BIG", "OOM_KILL", "KEEPALIVE_RACE", "FACTS_INCOMPLETE"]


def cross(name):
    return rules.evaluate(load_fixture(name), now=0)["hosts"]


def test_cross_host_ok():
    hosts = cross("cross_host_ok")
    assert hosts["web1"]["status"] == "ok" and hosts["app1"]["status"] == "ok"
    assert not [f for h in hosts.values() for f in h["findings"] if f["code"].startswith("CROSS_HOST")]


def test_cross_host_loopback_bind():
    hosts = cross("cross_host_loopback_bind")
    first = hosts["web1"]["findings"][0]
    assert first["code"] == "CROSS_HOST_LOOPBACK_BIND" and first["route"] == "_:80 /"
    assert "app1" in first["summary"] and "127.0.0.1:8000" in first["summary"]
    assert first["layer"] == "network"
    assert hosts["app1"]["status"] == "ok"


def test_cross_host_not_listening_and_remote_reference():
    hosts = cross("cross_host_not_listening")
    first = hosts["web1"]["findings"][0]
    assert first["code"] == "CROSS_HOST_NOT_LISTENING"
    assert "not running" in first["summary"]
    # the stopped app on app1 is critical because nginx on web1 uses it
    app1 = hosts["app1"]["findings"][0]
    assert app1["code"] == "APP_STOPPED" and app1["severity"] == "critical"
    assert "web1" in (app1["route"] or "")


def test_cross_host_unchecked_when_not_in_inventory_or_unreachable():
    hosts = cross("cross_host_unchecked")
    f = hosts["web1"]["findings"][0]
    assert f["code"] == "CROSS_HOST_UNCHECKED" and f["severity"] == "info"
    assert hosts["web1"]["status"] == "ok"
    hosts = cross("cross_host_unreachable")
    assert hosts["app1"]["status"] == "unreachable"
    assert hosts["app1"]["findings"][0]["code"] == "HOST_UNREACHABLE"
    f = hosts["web1"]["findings"][0]
    assert f["code"] == "CROSS_HOST_UNCHECKED" and "unreachable" in f["summary"]


def test_unreachable_and_failed_hosts_are_never_ok():
    res = rules.evaluate({
        "dead": {"facts": None, "unreachable": True, "address": ["10.0.0.9"], "msg": "ssh: No route to host"},
        "broken": {"facts": None, "unreachable": False, "address": [], "msg": "MODULE FAILURE"},
    }, now=0)
    assert res["hosts"]["dead"]["status"] == "unreachable"
    assert res["hosts"]["dead"]["findings"][0]["code"] == "HOST_UNREACHABLE"
    assert "No route to host" in res["hosts"]["dead"]["findings"][0]["summary"]
    assert res["hosts"]["broken"]["status"] == "critical"
    assert res["hosts"]["broken"]["findings"][0]["code"] == "FACTS_INCOMPLETE"


def test_partial_facts_still_diagnose():
    facts = expanded(load_fixture("app_stopped"))
    del facts["probes"]
    del facts["logs"]
    facts["system"]["is_root"] = False
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    codes = [f["code"] for f in host["findings"]]
    assert codes[0] == "APP_STOPPED"
    fi = next(f for f in host["findings"] if f["code"] == "FACTS_INCOMPLETE")
    assert fi["severity"] == "warning" and "probes" in fi["summary"] and "root" in fi["summary"]


@pytest.mark.parametrize("junk", [None, [], "x", 3, {"routes": "nope"}])
def test_garbage_sections_do_not_crash(junk):
    facts = expanded(load_fixture("healthy_lab"))
    for sec in ("nginx", "listeners", "apps", "sockets", "logs", "probes", "system"):
        broken = copy.deepcopy(facts)
        broken[sec] = junk
        res = rules.evaluate(one_host(broken), now=0)
        assert res["hosts"]["web1"]["status"] in ("ok", "warning", "critical")


def test_decision_tree_probe_verdict():
    facts = load_fixture("healthy_lab")
    view = HostView("web1", facts)
    route = view.routes[0]
    assert view.probe_verdict(route) == "ok"
    facts["probes"]["results"][1].update(ok=False, status=502)
    assert HostView("web1", facts).probe_verdict(route) == "proxy"
    facts["probes"]["results"][0].update(ok=False, status=None, error="ECONNREFUSED")
    assert HostView("web1", facts).probe_verdict(route) == "app"


def test_route_by_id_is_the_first_route_with_that_id_and_nothing_for_junk():
    view = HostView("web1", load_fixture("healthy_lab"))
    first, second = view.routes[0], view.routes[1]
    assert view.route(second["id"]) is second and view.route(first["id"]) is first
    facts = load_fixture("healthy_lab")
    view = HostView("web1", facts)
    view.routes[1]["id"] = view.routes[0]["id"]     # hostile facts repeat an id: the first route wins, as a scan's
    assert view.route(view.routes[0]["id"]) is view.routes[0]
    for junk in (None, "", "no such route", ["x"], {"a": 1}, 3):
        assert view.route(junk) is None


def test_unexplained_proxy_side_failure_is_reported():
    facts = expanded(load_fixture("healthy_lab"))
    facts["probes"]["results"][1].update(ok=False, status=502)
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    assert host["status"] == "critical"
    f = host["findings"][0]
    assert f["route"] == "_:80 /" and "proxy side" in f["summary"]


def test_stale_config_with_proxy_side_failure_is_critical():
    facts = expanded(load_fixture("nginx_config_stale"))
    facts["probes"]["results"][1].update(ok=False, status=502)
    f = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"][0]
    assert f["code"] == "NGINX_CONFIG_STALE" and f["severity"] == "critical"


def test_log_history_before_restart_is_not_current():
    facts = expanded(load_fixture("worker_timeout"))
    for ev in facts["logs"]["events"]:
        ev["first"] = ev["last"] = 1.0
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    assert "WORKER_TIMEOUT" not in [f["code"] for f in host["findings"]]


def test_keepalive_sync_worker_is_not_a_race():
    facts = expanded(load_fixture("keepalive_race"))
    for a in facts["apps"]["servers"]:
        if a["kind"] == "uvicorn":
            a["keepalive"] = 75.0
    codes = [f["code"] for f in rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"]]
    assert "KEEPALIVE_RACE" not in codes


def test_summary_lines():
    res = rules.evaluate({**one_host(load_fixture("app_stopped")),
                          **one_host(load_fixture("healthy_lab"), name="web2", address=("10.213.0.4",))}, now=0)
    lines = rules.summary_lines(res)
    assert lines[0].startswith("web1: CRITICAL APP_STOPPED \u2014 ") and "fix: " in lines[0]
    assert lines[1] == "web2: OK"
    assert rules.worst_severity(res) == "critical"


def _cycling_db_down(restart, n_restarts):
    facts = expanded(load_fixture("dependency_down"))
    g = facts["apps"]["servers"][0]
    g["unit_settings"]["restart"] = restart
    g["state"].update(active_state="activating", sub_state="auto-restart", result="exit-code", n_restarts=n_restarts)
    return facts


def test_endless_crash_loop_is_the_headline_with_the_cause_folded():
    host = rules.evaluate(one_host(_cycling_db_down("always", 3)), now=0)["hosts"]["web1"]
    first = host["findings"][0]
    assert first["code"] == "APP_CRASH_LOOP"
    assert "OperationalError" in first["summary"]
    assert "DEPENDENCY_DOWN" in {c["code"] for c in first["consequences"]}
    assert any("Restart=always" in e for e in first["evidence"])


def test_crash_loop_that_systemd_will_stop_is_reported_by_its_cause():
    host = rules.evaluate(one_host(_cycling_db_down("on-failure", 3)), now=0)["hosts"]["web1"]
    first = host["findings"][0]
    assert first["code"] == "DEPENDENCY_DOWN"
    assert "APP_CRASH_LOOP" in {c["code"] for c in first["consequences"]}


def test_oom_kernel_line_alone_is_only_info():
    facts = expanded(load_fixture("oom_kill"))
    facts["logs"]["events"] = [e for e in facts["logs"]["events"] if e["class"] == "oom_kill"]
    facts["logs"]["events"][0]["detail"]["pid"] = 99999       # not one of this host's pids
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    assert host["status"] == "ok"
    assert [f["code"] for f in host["findings"]] == ["OOM_KILL"] and host["findings"][0]["severity"] == "info"


def test_sigkill_after_worker_timeout_is_not_oom():
    facts = expanded(load_fixture("worker_timeout"))
    facts["logs"]["events"].append({"class": "worker_sigkill", "source": "journal:gunicorn.service", "count": 1, "first": 1767229000.0,
                                    "last": 1767229000.0, "targets": ["gunicorn.service"], "detail": {"pid": 201},
                                    "samples": ["[ERROR] Worker (pid:201) was sent SIGKILL! Perhaps out of memory?"]})
    codes = [f["code"] for f in rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"]]
    assert codes[0] == "WORKER_TIMEOUT" and "OOM_KILL" not in codes


def test_nginx_events_before_the_last_reload_are_history():
    facts = expanded(load_fixture("header_too_big"))
    facts["probes"]["results"][1].update(ok=True, status=200)
    facts["nginx"]["workers_started"] = facts["collected_at"] - 1.0     # reloaded after the events
    codes = [f["code"] for f in rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"]]
    assert "HEADER_TOO_BIG" not in codes


@pytest.mark.parametrize("restart", ["nginx", "app"])
def test_nginx_events_in_the_second_of_a_restart_count(restart):
    # error.log timestamps are whole seconds (rounded down): a line written 0.9 s after a reload or an app restart carries
    # a time up to 1 s before it; it belongs to the new run and must count (the lab's faults send traffic right after heal)
    facts = expanded(load_fixture("header_too_big"))
    restarted = 1767229194.95
    ev = facts["logs"]["events"][0]
    ev["first"] = ev["last"] = 1767229194.0     # a line stamped 1767229194: written in that second, after the restart
    if restart == "nginx":
        facts["nginx"]["workers_started"] = restarted
    else:
        facts["apps"]["servers"][0]["state"]["active_enter"] = restarted
    codes = [f["code"] for f in rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"]]
    assert codes[0] == "HEADER_TOO_BIG"
    ev["first"] = ev["last"] = 1767229192.0     # two seconds before: an earlier run
    codes = [f["code"] for f in rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"]]
    assert "HEADER_TOO_BIG" not in codes


def test_app_events_from_an_earlier_run_do_not_name_the_cause():
    # the env file vanished after a crash loop that was healed: the old OperationalError is history
    facts = expanded(load_fixture("app_env_file_missing"))
    g = facts["apps"]["servers"][0]
    g["state"]["active_enter"] = facts["collected_at"] - 60.0
    facts["logs"]["events"].append({"class": "python_exception", "source": "journal:gunicorn.service", "count": 4,
                                    "first": facts["collected_at"] - 300.0, "last": facts["collected_at"] - 120.0,
                                    "targets": ["gunicorn.service"], "detail": {"exception": "ConnectionRefusedError"},
                                    "samples": ["ConnectionRefusedError: [Errno 111] Connection refused"]})
    for ev in facts["logs"]["events"]:
        if ev["class"] == "unit_failed":
            ev["first"] = ev["last"] = facts["collected_at"] - 30.0
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    codes = [f["code"] for f in host["findings"]]
    assert codes[0] == "APP_ENV_FILE_MISSING" and "DEPENDENCY_DOWN" not in codes


def test_facts_errors_of_an_invalid_config_fold_under_it():
    facts = expanded(load_fixture("nginx_config_invalid"))
    err = {"section": "nginx", "source": "nginx_conf", "path": "/etc/nginx/sites-enabled/app", "message": "unknown directive"}
    facts["errors"].append(err)
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    assert [f["code"] for f in host["findings"]] == ["NGINX_CONFIG_INVALID"]
    assert "FACTS_INCOMPLETE" in {c["code"] for c in host["findings"][0]["consequences"]}


def test_endless_crash_loop_fix_names_the_cause():
    first = rules.evaluate(one_host(_cycling_db_down("always", 3)), now=0)["hosts"]["web1"]["findings"][0]
    assert first["fix"]["summary"].startswith("break the loop by fixing its cause (DEPENDENCY_DOWN)")


def test_a_socket_path_spelled_differently_is_the_same_socket():
    # nginx, the app server's --bind and /proc/net/unix may write /run//gunicorn/./gunicorn.sock: the one endpoint model
    # normalises the path, so nothing is reported missing
    facts = expanded(load_fixture("healthy_lab"))
    facts["apps"]["servers"][0]["binds"][0]["path"] = "/run//gunicorn/gunicorn.sock"
    facts["listeners"]["unix"][0]["path"] = "/run/gunicorn/./gunicorn.sock"
    facts["nginx"]["routes"][0]["endpoints"][0]["path"] = "/run/gunicorn//gunicorn.sock"
    host = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]
    assert host["status"] == "ok", [f["code"] for f in host["findings"]]
    assert next(h for h in host["path"]["hops"] if h["hop"] == "listener")["label"].startswith("gunicorn")


def test_the_rules_use_the_one_endpoint_model():
    assert _addresses.bind_matches is _endpoints.bind_matches
    assert (_addresses.ep_key, _addresses.ep_text, _addresses.ep_addresses) == (_endpoints.key, _endpoints.text, _endpoints.addresses)
