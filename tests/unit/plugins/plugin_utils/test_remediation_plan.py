# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation planning: root findings only, class selection, prefer, cross-host routing, order, validation."""
from __future__ import annotations

import copy

import pytest
import yaml

from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation as rem

KNOWN = frozenset({"APP_STOPPED", "DEPENDENCY_DOWN", "SOCKET_DIR_PERMISSION", "TARGET_MISMATCH_PORT", "WORKER_TIMEOUT",
                   "UPSTREAM_TIMEOUT", "APP_BOOT_IMPORT_ERROR", "NGINX_CONFIG_STALE", "CROSS_HOST_LOOPBACK_BIND",
                   "NO_LIVE_UPSTREAMS", "SOCKET_MISSING", "PRIVATE_TMP_SOCKET", "HEADER_TOO_BIG"})
AUTO = frozenset({"APP_STOPPED", "DEPENDENCY_DOWN", "SOCKET_DIR_PERMISSION", "TARGET_MISMATCH_PORT", "NGINX_CONFIG_STALE",
                  "CROSS_HOST_LOOPBACK_BIND", "SOCKET_MISSING", "PRIVATE_TMP_SOCKET", "HEADER_TOO_BIG"})
OPT = frozenset({"WORKER_TIMEOUT", "UPSTREAM_TIMEOUT"})
CLASSES = (KNOWN, AUTO, OPT)


def step(role, host=None, **variables):
    s = {"role": f"badgateway.doctor.{role}", "vars": variables}
    if host:
        s["host"] = host
    return s


def finding(code, host="web1", route="_:80 /", severity="critical", steps=(), alternative=(), consequences=(), evidence=()):
    first = steps[0] if steps and isinstance(steps[0], dict) else {}
    fix = {"summary": f"fix {code} by hand", "role": first.get("role"),
           "vars": first.get("vars"), "steps": list(steps)}
    if alternative:
        fix["alternative_steps"] = list(alternative)
    return {"code": code, "severity": severity, "layer": "app", "host": host, "route": route, "summary": f"{code} here",
            "evidence": list(evidence), "fix": fix, "consequences": list(consequences)}


def diag(**hosts):
    return {"schema_version": 1, "hosts": {h: {"status": "critical" if fs else "ok", "findings": fs} for h, fs in hosts.items()}}


def plan(d, hosts=("web1",), **kw):
    return rem.plan(d, list(hosts), classes=CLASSES, **kw)


def test_root_findings_only_and_consequences_are_not_fixed():
    cons = finding("SOCKET_MISSING", steps=[step("app_service", app_service_unit="x.service")])
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="gunicorn.service")], consequences=[cons])])
    p = plan(d)
    steps = p["hosts"]["web1"]["steps"]
    assert [s["vars"] for s in steps] == [{"app_service_unit": "gunicorn.service"}]
    assert [r["code"] for r in p["findings"]] == ["APP_STOPPED"]
    assert p["findings"][0]["status"] == "planned" and p["findings"][0]["changes_on"] == ["web1"]


def test_info_roots_are_not_acted_on():
    d = diag(web1=[finding("APP_STOPPED", severity="info", steps=[step("app_service", app_service_unit="idle.service")])])
    p = plan(d)
    assert p["hosts"]["web1"]["steps"] == [] and p["findings"] == []


def test_default_selection_skips_opt_in_and_says_how_to_opt_in():
    fix = step("app_unit", app_unit_name="g.service", app_unit_exec_options={"timeout": 65})
    d = diag(web1=[finding("WORKER_TIMEOUT", severity="warning", steps=[fix])])
    p = plan(d)
    assert p["hosts"]["web1"]["steps"] == []
    rec = p["findings"][0]
    assert rec["status"] == "skipped" and "badgateway_remediate_codes" in rec["reason"] and "WORKER_TIMEOUT" in rec["reason"]
    p = plan(d, codes=["worker_timeout"])
    assert p["hosts"]["web1"]["steps"][0]["vars"]["app_unit_exec_options"] == {"timeout": 65}
    p = plan(d, codes=["default", "WORKER_TIMEOUT"])
    assert p["codes"] == sorted(AUTO | {"WORKER_TIMEOUT"})
    assert plan(d, codes="all")["codes"] == sorted(AUTO | OPT)


def test_explicit_codes_exclude_the_others():
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="g.service")])])
    p = plan(d, codes=["SOCKET_DIR_PERMISSION"])
    assert p["hosts"]["web1"]["steps"] == [] and p["findings"][0]["status"] == "skipped"


def test_unknown_code_and_bad_prefer_are_clear_errors():
    with pytest.raises(rem.PlanError, match="unknown finding code.*NOPE"):
        plan(diag(web1=[]), codes=["NOPE"])
    with pytest.raises(rem.PlanError, match="prefer must be one of nginx, app"):
        plan(diag(web1=[]), prefer="both")
    with pytest.raises(rem.PlanError, match="must be a list"):
        plan(diag(web1=[]), codes={"a": 1})


def test_not_automatable_is_manual_with_what_to_do():
    d = diag(web1=[finding("APP_BOOT_IMPORT_ERROR")])
    p = plan(d, codes=["all", "APP_BOOT_IMPORT_ERROR"])
    rec = p["findings"][0]
    assert rec["status"] == "manual" and rec["reason"] == "not safe to fix automatically"
    assert rec["fix_summary"] == "fix APP_BOOT_IMPORT_ERROR by hand"
    assert p["hosts"]["web1"]["manual"] == [0] and p["hosts"]["web1"]["steps"] == []
    # automatable class but no steps for this case
    p = plan(diag(web1=[finding("APP_STOPPED")]))
    assert p["findings"][0]["status"] == "manual" and "no automatic fix" in p["findings"][0]["reason"]


def test_prefer_picks_steps_or_alternative_steps():
    nginx_side = step("nginx_proxy", nginx_proxy_edits=[{"file": "/etc/nginx/sites-enabled/app", "line": 9, "directive": "proxy_pass",
                                                         "args": ["http://127.0.0.1:8001/"]}])
    app_side = step("app_unit", app_unit_name="uvicorn.service", app_unit_exec_options={"bind": "127.0.0.1:8002"})
    d = diag(web1=[finding("TARGET_MISMATCH_PORT", route="_:80 /asgi/", steps=[nginx_side], alternative=[app_side])])
    p = plan(d)
    assert p["hosts"]["web1"]["steps"][0]["role"] == "badgateway.doctor.nginx_proxy" and p["findings"][0]["side"] == "nginx"
    p = plan(d, prefer="app")
    assert p["hosts"]["web1"]["steps"][0]["role"] == "badgateway.doctor.app_unit" and p["findings"][0]["side"] == "app"
    # no alternative: prefer=app still uses the steps
    d2 = diag(web1=[finding("TARGET_MISMATCH_PORT", steps=[nginx_side])])
    assert plan(d2, prefer="app")["hosts"]["web1"]["steps"][0]["role"] == "badgateway.doctor.nginx_proxy"


def test_cross_host_steps_go_to_the_host_that_needs_the_change():
    fix = step("app_unit", host="app1", app_unit_name="gunicorn.service", app_unit_exec_options={"bind": "0.0.0.0:8000"})
    d = diag(proxy1=[finding("CROSS_HOST_LOOPBACK_BIND", host="proxy1", steps=[fix])], app1=[])
    p = plan(d, hosts=("proxy1", "app1"))
    assert p["hosts"]["proxy1"]["steps"] == []
    assert p["hosts"]["app1"]["steps"][0]["vars"]["app_unit_exec_options"] == {"bind": "0.0.0.0:8000"}
    assert p["findings"][0]["changes_on"] == ["app1"] and p["findings"][0]["host"] == "proxy1"
    # the host that needs the change is not in the play: by hand, saying which host
    p = plan(d, hosts=("proxy1",))
    assert p["findings"][0]["status"] == "manual" and "app1" in p["findings"][0]["reason"]
    assert p["hosts"]["proxy1"]["manual"] == [0]


def test_request_path_order_and_a_findings_own_order_is_kept():
    nginx = step("nginx_proxy", nginx_proxy_edits=[{"file": "/etc/nginx/x", "line": 3, "set": {"proxy_buffer_size": "16k"}}])
    perms = step("socket_permissions", socket_permissions_path="/run/g/g.sock")
    dep = [step("app_service", app_service_unit="redis-server.service"),
           step("app_service", app_service_unit="gunicorn.service", app_service_action="restart")]
    unit_then_start = [step("app_unit", app_unit_name="u.service", app_unit_settings={"RuntimeDirectory": "u"}),
                       step("app_service", app_service_unit="u.service")]
    d = diag(web1=[finding("HEADER_TOO_BIG", steps=[nginx]), finding("SOCKET_DIR_PERMISSION", steps=[perms]),
                   finding("PRIVATE_TMP_SOCKET", route="_:80 /u/", steps=unit_then_start),
                   finding("DEPENDENCY_DOWN", steps=dep)])
    roles = [(s["role"].rsplit(".", 1)[-1], next(iter(s["vars"].values()))) for s in plan(d)["hosts"]["web1"]["steps"]]
    assert roles == [("app_service", "redis-server.service"), ("app_service", "gunicorn.service"),
                     ("app_unit", "u.service"), ("app_service", "u.service"),
                     ("socket_permissions", "/run/g/g.sock"), ("nginx_proxy", roles[-1][1])]


def test_identical_steps_run_once_for_every_finding_they_fix():
    s = step("app_service", host="app1", app_service_unit="gunicorn.service")
    d = diag(proxy1=[finding("CROSS_HOST_LOOPBACK_BIND", host="proxy1", steps=[s])],
             proxy2=[finding("CROSS_HOST_LOOPBACK_BIND", host="proxy2", steps=[copy.deepcopy(s)])], app1=[])
    p = plan(d, hosts=("proxy1", "proxy2", "app1"))
    steps = p["hosts"]["app1"]["steps"]
    assert len(steps) == 1 and steps[0]["findings"] == [0, 1]


@pytest.mark.parametrize("bad, why", [
    ({"role": "community.general.shell", "vars": {}}, "not a remediation role"),
    ({"role": "badgateway.doctor.diagnose", "vars": {}}, "not a remediation role"),
    ({"role": "badgateway.doctor.app_service", "vars": {"ansible_become_exe": "sh"}}, "is not one of role app_service's"),
    ({"role": "badgateway.doctor.app_service", "vars": {"nginx_proxy_edits": []}}, "is not one of role app_service's"),
    ({"role": "badgateway.doctor.app_service", "vars": "{{ lookup('pipe', 'id') }}"}, "are not an object"),
    ({"role": "badgateway.doctor.app_service", "vars": {"app_service_unit": {1: 2}}}, "not plain data"),
    ({"role": "badgateway.doctor.app_service", "vars": {"app_service_unit": "x" * 70000}}, "bytes"),
    ({"role": "badgateway.doctor.app_service", "host": "web 9", "vars": {}}, "not an inventory host name"),
    ({"role": "badgateway.doctor.app_service", "host": "web9", "vars": {}}, "not in this play"),
    ("app_service", "not an object"),
])
def test_hostile_steps_become_manual_entries(bad, why):
    d = diag(web1=[finding("APP_STOPPED", steps=[bad])])
    p = plan(d)
    rec = p["findings"][0]
    assert rec["status"] == "manual" and why in rec["reason"], rec
    assert p["hosts"]["web1"]["steps"] == []


def test_reserved_variables_are_dropped():
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="g.service", app_service_run_id="evil",
                                                      app_service_backup_dir="/etc/nginx")])])
    assert plan(d)["hosts"]["web1"]["steps"][0]["vars"] == {"app_service_unit": "g.service"}


@pytest.mark.parametrize("data", [None, [], "text", {"hosts": []}, {"nohosts": 1}])
def test_not_a_diagnosis(data):
    with pytest.raises(rem.PlanError):
        plan(data)


def test_garbage_inside_a_diagnosis_is_skipped_not_a_traceback():
    d = {"hosts": {"web1": {"findings": [None, 3, "x", {"code": None, "severity": "critical"},
                                         {"code": "APP_STOPPED", "severity": "critical", "fix": "nope"}]}, "web2": "oops"}}
    p = plan(d, hosts=("web1", "web2"))
    assert [r["status"] for r in p["findings"]] == ["manual", "manual"]
    assert p["hosts"]["web2"] == {"steps": [], "findings": [], "manual": []}


def test_findings_from_a_file_act_only_while_the_live_diagnosis_still_has_them():
    old = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="g.service")]),
                     finding("SOCKET_DIR_PERMISSION", steps=[step("socket_permissions", socket_permissions_path="/run/g/g.sock")])])
    live = diag(web1=[finding("DEPENDENCY_DOWN", steps=[step("app_service", app_service_unit="db.service")],
                              consequences=[finding("APP_STOPPED")])])
    p = plan(old, live=live)
    assert p["hosts"]["web1"]["steps"] == []
    assert [(r["code"], r["status"]) for r in p["findings"]] == [("APP_STOPPED", "gone"), ("SOCKET_DIR_PERMISSION", "gone")]
    assert "consequence" in p["findings"][0]["reason"] and "no longer found" in p["findings"][1]["reason"]


def test_replay_requests_come_from_the_nginx_lines_of_the_finding():
    ev = ['nginx error.log (3 lines): 2026/01/01 upstream sent too big header while reading response header from upstream, '
          'client: 10.0.0.1, server: _, request: "GET /big-header HTTP/1.1", upstream: "http://unix:/run/g.sock:/big-header", '
          'host: "web1"',
          'request: "POST /login HTTP/1.1"', 'request: "GET /q?token=******** HTTP/1.1"', 'request: "GET /a b HTTP/1.1"']
    f = finding("HEADER_TOO_BIG", evidence=ev, consequences=[finding("NO_LIVE_UPSTREAMS", evidence=['request: "HEAD /h HTTP/1.0"'])])
    assert rem.replay_requests(f) == [{"method": "GET", "path": "/big-header", "host_header": "web1"},
                                      {"method": "HEAD", "path": "/h", "host_header": None}]
    many = finding("X", evidence=[f'request: "GET /{i} HTTP/1.1"' for i in range(10)])
    assert len(rem.replay_requests(many)) == rem.MAX_REPLAYS


def test_steps_tasks_file_tags_every_string_unsafe():
    evil = "{{ lookup('pipe', 'touch /tmp/pwned') }}"
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit=evil, app_service_listen=["unix:/run/a.sock", evil],
                                                      app_service_wait_timeout=30, app_service_enabled=True)])])
    p = plan(d)
    text = rem.steps_tasks_yaml("web1", p["hosts"]["web1"]["steps"], p["findings"])
    assert "!unsafe" in text
    tasks = yaml.safe_load(text.replace("!unsafe ", ""))
    assert tasks[0]["ansible.builtin.include_role"] == {"name": "badgateway.doctor.app_service"}
    assert tasks[0]["vars"] == {"app_service_unit": evil, "app_service_listen": ["unix:/run/a.sock", evil],
                                "app_service_wait_timeout": 30, "app_service_enabled": True,
                                "app_service_run_id": "{{ remediate_run }}", "app_service_backup_dir": "{{ remediate_backup_dir }}"}
    assert "APP_STOPPED" in tasks[0]["name"]
    # every string value from the diagnosis is tagged: only the run's own two variables are templates
    for line in text.splitlines():
        if line.startswith("  vars:"):
            assert line.count('"{{') - 2 == line.count('!unsafe "{{')
    assert yaml.safe_load(rem.steps_tasks_yaml("web1", [], [])) == []
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service")])])
    p = plan(d)
    no_vars = yaml.safe_load(rem.steps_tasks_yaml("web1", p["hosts"]["web1"]["steps"], p["findings"]))
    assert no_vars[0]["vars"] == {"app_service_run_id": "{{ remediate_run }}", "app_service_backup_dir": "{{ remediate_backup_dir }}"}


def test_ansible_loads_the_tasks_file_with_unsafe_values():
    from ansible.parsing.yaml.loader import AnsibleLoader
    evil = "{{ 7 * 6 }}"
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit=evil, app_service_listen={"a": [evil]})])])
    p = plan(d)
    data = yaml.load(rem.steps_tasks_yaml("web1", p["hosts"]["web1"]["steps"], p["findings"]), Loader=AnsibleLoader)  # noqa: S506
    v = data[0]["vars"]["app_service_unit"]
    assert str(v) == evil
    try:
        from ansible.template import is_trusted_as_template  # ansible-core >= 2.19
        assert not is_trusted_as_template(v) and not is_trusted_as_template(data[0]["vars"]["app_service_listen"]["a"][0])
    except ImportError:  # pragma: no cover - older ansible-core: the unsafe type
        assert type(v).__name__ == "AnsibleUnsafeText"


def test_plan_summary_lines():
    d = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="g.service")]),
                   finding("APP_BOOT_IMPORT_ERROR", route="_:80 /x/")], web2=[])
    lines = rem.plan_summary(plan(d, hosts=("web1", "web2")))
    assert lines[0].startswith("web1: apply app_service - for APP_STOPPED - by hand: APP_BOOT_IMPORT_ERROR")
    assert lines[1] == "web2: nothing to remediate"
