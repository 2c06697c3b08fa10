# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fix.steps: the remediation role and its variables each finding computes from the facts (plugins/plugin_utils/_fix_steps.py)."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from facts_fixtures import FIXTURES, REPO, every_fixture, expanded, hosts_of, load_fixture, one_host, wire

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import header_buffers, step

LAB = os.path.join(FIXTURES, "lab")


def lab(name):
    with open(os.path.join(LAB, f"{name}.json"), encoding="utf-8") as fh:
        return rules.evaluate(hosts_of(json.load(fh)), now=0)["hosts"]


def root(hosts, host=None):
    host = host or next(iter(hosts))
    return hosts[host]["findings"][0]


def steps_of(f, key="steps"):
    return [(s["role"].rsplit(".", 1)[-1], s["host"], s["vars"]) for s in f["fix"][key]]


def all_findings(findings):
    for f in findings:
        yield f
        yield from all_findings(f["consequences"])


# --------------------------------------------------------------------------- the lab's faults, recorded


def test_app_stopped_starts_the_unit_and_waits_for_its_socket():
    assert steps_of(root(lab("app_stopped"))) == [
        ("app_service", "web1", {"app_service_unit": "gunicorn.service", "app_service_action": "start",
                                 "app_service_listen": ["unix:/run/gunicorn/gunicorn.sock"]})]


def test_wrong_socket_path_points_the_upstream_server_at_the_apps_socket_or_the_app_at_nginxs():
    f = root(lab("wrong_socket_path"))
    assert steps_of(f) == [("nginx_proxy", "web1", {"nginx_proxy_edits": [
        {"file": "/etc/nginx/sites-enabled/lab", "line": 3, "directive": "server", "target": "unix:/run/gunicorn/gunicorn.sock"}]})]
    [(role, host, svars)] = steps_of(f, "alternative_steps")
    assert role == "app_unit" and svars["app_unit_exec_options"] == {"bind": "unix:/run/gunicorn/app.sock"}


def test_wrong_port_keeps_nginxs_host_and_takes_the_apps_port():
    f = root(lab("wrong_port"))
    [(_r, _h, svars)] = steps_of(f)
    assert svars["nginx_proxy_edits"] == [{"file": "/etc/nginx/sites-enabled/lab", "line": 24, "directive": "proxy_pass",
                                           "target": "127.0.0.1:8001"}]
    [(role, _h, alt)] = steps_of(f, "alternative_steps")
    assert role == "app_unit" and alt["app_unit_name"] == "uvicorn.service" and alt["app_unit_exec_options"] == {"bind": "127.0.0.1:8002"}


def test_ip_family_mismatch_uses_the_literal_address_the_app_listens_on():
    [(_r, _h, svars)] = steps_of(root(lab("ip_family_mismatch")))
    assert svars["nginx_proxy_edits"][0]["target"] == "127.0.0.1:8001"


@pytest.mark.parametrize("name", ["socket_dir_permission", "socket_file_mode"])
def test_socket_permission_names_the_socket_nginxs_user_and_the_unit(name):
    assert steps_of(root(lab(name))) == [("socket_permissions", "web1", {
        "socket_permissions_path": "/run/gunicorn/gunicorn.sock", "socket_permissions_user": "www-data",
        "socket_permissions_unit": "gunicorn.service"})]


def test_runtime_directory_missing_adds_runtime_directory():
    [(role, _h, svars)] = steps_of(root(lab("runtime_directory_missing")))
    assert role == "app_unit" and svars["app_unit_settings"] == {"RuntimeDirectory": "gunicorn", "RuntimeDirectoryMode": "0755"}


def test_private_tmp_socket_moves_the_socket_to_run_then_points_nginx_there():
    f = root(lab("private_tmp_socket"))
    (r1, _h1, app_vars), (r2, _h2, nginx_vars) = steps_of(f)
    assert (r1, r2) == ("app_unit", "nginx_proxy")          # request-path order: the app first, then nginx
    assert app_vars["app_unit_exec_options"] == {"bind": "unix:/run/gunicorn/gunicorn.sock"}
    assert "app_unit_settings" not in app_vars             # RuntimeDirectory=gunicorn is already there
    assert nginx_vars["nginx_proxy_edits"][0]["target"] == "unix:/run/gunicorn/gunicorn.sock"


def test_config_not_reloaded_reloads():
    assert steps_of(root(lab("config_not_reloaded"))) == [("nginx_reload", "web1", {"nginx_reload_conf_path": "/etc/nginx/nginx.conf"})]


def test_header_too_big_sets_the_three_buffer_sizes_together():
    f = root(lab("header_too_big"))
    [(_r, _h, svars)] = steps_of(f)
    assert svars["nginx_proxy_edits"] == [{"file": "/etc/nginx/sites-enabled/lab", "line": 16, "directive": "proxy_pass", "set": {
        "proxy_buffer_size": "32k", "proxy_buffers": "8 32k", "proxy_busy_buffers_size": "64k"}}]
    assert "proxy_buffer_size to 32k" in f["fix"]["summary"]        # the summary says the values the step sets


def test_protocol_mismatch_turns_fastcgi_pass_into_proxy_pass():
    [(_r, _h, svars)] = steps_of(root(lab("protocol_mismatch")))
    assert svars["nginx_proxy_edits"] == [{"file": "/etc/nginx/sites-enabled/lab", "line": 17, "directive": "fastcgi_pass",
                                           "new_directive": "proxy_pass"}]


def test_cross_host_loopback_binds_the_app_on_the_other_host_beside_loopback():
    f = root(lab("cross_host_loopback"), "proxy1")
    assert f["code"] == "CROSS_HOST_LOOPBACK_BIND"
    [(role, host, svars)] = steps_of(f)
    assert (role, host) == ("app_unit", "app1")             # the host that needs the change
    assert svars["app_unit_exec_options"] == {"bind": ["127.0.0.1:8000", "10.213.142.12:8000"]}


def test_cross_host_not_listening_starts_the_app_on_the_other_host():
    hosts = rules.evaluate(load_fixture("cross_host_not_listening"), now=0)["hosts"]
    f = hosts["web1"]["findings"][0]
    assert f["code"] == "CROSS_HOST_NOT_LISTENING"
    assert steps_of(f) == [("app_service", "app1", {"app_service_unit": "gunicorn.service", "app_service_action": "start",
                                                    "app_service_listen": ["10.213.0.3:8000"]})]


def test_worker_timeout_raises_the_gunicorn_timeout_below_proxy_read_timeout():
    f = root(lab("worker_timeout"))
    [(role, _h, svars)] = steps_of(f)
    assert role == "app_unit" and svars["app_unit_exec_options"] == {"timeout": 54}    # proxy_read_timeout 60 s
    facts = expanded(load_fixture("worker_timeout"))
    for r in facts["nginx"]["routes"]:
        r["timeouts"]["read"] = 120.0
    f = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"][0]
    assert 30 < f["fix"]["steps"][0]["vars"]["app_unit_exec_options"]["timeout"] < 120


def test_worker_timeout_without_a_mismatch_has_no_step():
    facts = expanded(load_fixture("worker_timeout"))
    facts["apps"]["servers"][0]["timeout"] = 90.0       # the app already waits longer than nginx: raising it cannot help
    f = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"][0]
    assert f["code"] == "WORKER_TIMEOUT" and f["fix"]["steps"] == []


def test_upstream_timeout_raises_proxy_read_timeout_above_the_apps_own_timeout():
    f = root(lab("upstream_timeout_504"))
    [(_r, _h, svars)] = steps_of(f)
    [edit] = svars["nginx_proxy_edits"]
    assert edit["set"] == {"proxy_read_timeout": "33s"}      # gunicorn --timeout 30, nginx 2 s


def test_upstream_timeout_without_an_app_timeout_has_no_step():
    # uvicorn has no request timeout: nothing shows a mismatch, slowness alone is no reason to raise nginx's
    f = rules.evaluate(one_host(load_fixture("upstream_timeout")), now=0)["hosts"]["web1"]["findings"][0]
    assert f["code"] == "UPSTREAM_TIMEOUT" and f["fix"]["steps"] == []


def test_backlog_full_doubles_the_workers_and_restores_a_tiny_backlog():
    [(role, _h, svars)] = steps_of(root(lab("backlog_full")))
    assert role == "app_unit" and svars["app_unit_exec_options"] == {"workers": 2, "backlog": 2048}


def test_keepalive_race_sets_the_upstreams_keepalive_timeout_below_the_apps():
    f = rules.evaluate(one_host(load_fixture("keepalive_race")), now=0)["hosts"]["web1"]["findings"][0]
    [(_r, _h, svars)] = steps_of(f)
    [edit] = svars["nginx_proxy_edits"]
    assert edit["directive"] == "upstream" and edit["set"] == {"keepalive_timeout": "4s"}     # uvicorn keep-alive 5 s
    [(role, _h, alt)] = steps_of(f, "alternative_steps")
    assert role == "app_unit" and alt["app_unit_exec_options"] == {"keep_alive": 65}          # above nginx's 60 s


def test_socket_missing_restarts_the_running_app_that_owns_it():
    f = rules.evaluate(one_host(load_fixture("socket_missing")), now=0)["hosts"]["web1"]["findings"][0]
    assert f["code"] == "SOCKET_MISSING"
    assert steps_of(f) == [("app_service", "web1", {"app_service_unit": "gunicorn.service", "app_service_action": "restart",
                                                    "app_service_listen": ["unix:/run/gunicorn/gunicorn.sock"]})]


def _db_unit_stopped(listening):
    """db_down_at_boot as on a host whose app is ordered after redis-server.service (listening on 6379, or not)."""
    with open(os.path.join(LAB, "db_down_at_boot.json"), encoding="utf-8") as fh:
        hosts = hosts_of(json.load(fh))
    host = next(iter(hosts))
    facts = expanded(hosts[host]["facts"])
    hosts[host]["facts"] = facts
    app = next(a for a in facts["apps"]["servers"] if a["unit"] == "gunicorn.service")
    app["unit_settings"]["after"].append("redis-server.service")
    if listening:
        facts["listeners"]["tcp"].append({"family": "inet", "address": "127.0.0.1", "port": 6379, "processes": [
            {"name": "redis-server", "pid": 9, "user": "redis"}]})
    hosts[host]["facts"] = wire(facts)
    return rules.evaluate(hosts, now=0)["hosts"][host]


def test_dependency_down_starts_the_database_unit_then_the_app():
    f = _db_unit_stopped(listening=False)["findings"][0]
    assert f["code"] == "DEPENDENCY_DOWN"
    assert [(s["role"], s["vars"]["app_service_unit"], s["vars"]["app_service_action"]) for s in f["fix"]["steps"]] == [
        ("badgateway.doctor.app_service", "redis-server.service", "start"),
        ("badgateway.doctor.app_service", "gunicorn.service", "restart")]
    assert "redis-server.service: nothing listens on its port on this host" in f["evidence"]


def test_dependency_down_with_the_database_listening_is_not_guessed_at():
    f = _db_unit_stopped(listening=True)["findings"][0]
    assert f["code"] == "DEPENDENCY_DOWN" and f["fix"]["steps"] == []


# --------------------------------------------------------------------------- every finding


def _every_finding():
    """(fixture, finding, is it a root?) for every finding of every recorded fixture."""
    for where, hosts in every_fixture():
        for h in rules.evaluate(hosts, now=0)["hosts"].values():
            roots = [id(f) for f in h["findings"]]
            for f in all_findings(h["findings"]):
                yield where, f, id(f) in roots


EVERY = list(_every_finding())


def test_only_classes_the_catalog_can_fix_have_steps():
    for where, f, _root in EVERY:
        e = catalog.entry(f["code"])
        if f["fix"]["steps"] and f["code"] != "APP_CRASH_LOOP":     # the loop borrows its folded cause's fix
            assert e.automatable or e.opt_in, (where, f["code"])
        for s in f["fix"]["steps"] + f["fix"]["alternative_steps"]:
            assert s["role"].rsplit(".", 1)[-1] in catalog.ROLES


def test_every_root_of_an_automatable_lab_fault_has_steps():
    # the lab's faults whose class the catalog fixes by default: each root finding says how
    missing = []
    for where, f, is_root in EVERY:
        if is_root and where.startswith("lab/") and catalog.entry(f["code"]).automatable and f["severity"] == "critical" \
                and not f["fix"]["steps"]:
            if f["code"] != "DEPENDENCY_DOWN":     # db_down_at_boot: a database no unit on the host provides
                missing.append((where, f["code"]))
    assert missing == []


def test_role_and_vars_mirror_the_first_step():
    for where, f, _root in EVERY:
        first = f["fix"]["steps"][0] if f["fix"]["steps"] else {}
        assert (f["fix"]["role"], f["fix"]["vars"]) == (first.get("role"), first.get("vars")), where


# --------------------------------------------------------------------------- the builders


@pytest.mark.parametrize("buffer_size", [None, 1024, 4096, 8192, 16384, 65536, 1 << 20])
@pytest.mark.parametrize("number, size", [(8, 4096), (4, 8192), (2, 4096), (None, None), (16, 65536)])
def test_header_buffers_pass_nginx_checks(buffer_size, number, size):
    buffers = {"buffer_size": buffer_size, "buffers": {"number": number, "size": size}}
    new, (n, s), busy = header_buffers(buffers)
    assert new >= 32 * 1024 and new > (buffer_size or 0) and new >= 4 * (buffer_size or 0)
    # ngx_http_proxy_merge_loc_conf: busy >= max(buffer_size, one buffer) and busy < all buffers minus one
    assert busy >= max(new, s) and busy < (n - 1) * s and n >= 2


def test_a_value_the_masker_would_change_never_becomes_a_step():
    assert step("nginx_proxy", "web1", edits=[{"file": "/etc/nginx/x", "line": 1, "directive": "proxy_pass",
                                               "target": "http://b/?token=abc"}]) is None
    assert step("app_service", "web1", unit="gunicorn.service") is not None


def test_a_masked_target_in_the_facts_still_gets_an_edit_that_names_only_the_new_address():
    # the facts carry the route's target masked; the edit gives only the new host:port and nginx_proxy keeps the URI
    # from the file itself, so the secret is neither needed nor written
    facts = expanded(load_fixture("target_mismatch_port"))
    for r in facts["nginx"]["routes"]:
        r["target"] = r["target"] + "?api_key=********"
    f = rules.evaluate(one_host(facts), now=0)["hosts"]["web1"]["findings"][0]
    assert f["code"] == "TARGET_MISMATCH_PORT"
    assert f["fix"]["steps"][0]["vars"]["nginx_proxy_edits"][0]["target"] == "127.0.0.1:8001"
    assert "********" not in json.dumps(f["fix"])


# --------------------------------------------------------------------------- the roles the steps name


def _spec(role):
    path = os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")
    assert os.path.exists(path), f"roles/{role}/meta/argument_specs.yml is missing: the catalog names role {role}"
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", sorted({e.role for e in catalog.CATALOG.values() if e.role} | set(catalog.ROLES)))
def test_every_role_the_catalog_names_exists(role):
    assert _spec(role)


def _check_options(value, spec, where):
    """Every key of ``value`` is an option of ``spec``; nested dicts / list elements against their sub-options."""
    for key, sub in value.items():
        assert key in spec, f"{where}: {key} is not an option"
        opts = spec[key].get("options")
        if not opts:
            continue
        items = sub if isinstance(sub, list) else [sub]
        for item in items:
            if isinstance(item, dict):
                _check_options(item, opts, f"{where}.{key}")


def test_every_variable_a_step_sets_is_an_option_of_its_role():
    seen = set()
    for where, f, _root in EVERY:
        for s in f["fix"]["steps"] + f["fix"]["alternative_steps"]:
            role = s["role"].rsplit(".", 1)[-1]
            _check_options(s["vars"], _spec(role), f"{where} {f['code']} {role}")
            seen.add(role)
    assert seen == set(catalog.ROLES)      # every role is exercised by some recorded fixture
