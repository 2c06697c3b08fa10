# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import gateway

NGINX = {
    "user": "www-data",
    "error_logs": [{"path": "/var/log/nginx/error.log"}, {"path": "stderr"}],
    "routes": [
        {"endpoints": [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]},
        {"endpoints": [{"kind": "tcp", "host": "127.0.0.1", "port": 8001}]},
    ],
    "upstreams": {"g": {"servers": [{"endpoint": {"kind": "unix", "path": "/run/other.sock"}}]}},
}
APPS = {"servers": [
    {"unit": "gunicorn.service", "binds": [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"},
                                           {"kind": "unix", "path": "/tmp/app.sock"}],
     "unit_settings": {"private_tmp": True, "runtime_directory": ["gunicorn"]},
     "socket_unit": {"name": "gunicorn.socket"}},
    {"unit": None, "binds": []},
]}


def test_unix_socket_paths_nginx_first_then_apps_no_duplicates():
    assert gateway.unix_socket_paths(NGINX, APPS) == [
        "/run/gunicorn/gunicorn.sock", "/run/other.sock", "/tmp/app.sock"]
    assert gateway.unix_socket_paths(None, None) == []


def test_unix_socket_paths_compare_normalised_paths():
    nginx = {"routes": [{"endpoints": [{"kind": "unix", "path": "/run/app.sock"}]}]}
    apps = {"servers": [{"binds": [{"kind": "unix", "path": "//run/./app.sock"},
                                   {"kind": "unix", "path": "/run//other.sock"},
                                   {"kind": "unix", "path": "@abstract"},
                                   {"kind": "unix", "path": ""}, {"kind": "unix"}, {"kind": "fd", "fd": 3}]}]}
    assert gateway.unix_socket_paths(nginx, apps) == ["/run/app.sock", "/run/other.sock"]


def test_unit_names_include_socket_units_extras_and_nginx():
    assert gateway.unit_names(APPS, ["worker.service"]) == [
        "gunicorn.service", "gunicorn.socket", "worker.service", "nginx.service"]


def test_unit_path_settings():
    assert gateway.unit_path_settings(APPS) == [
        {"unit": "gunicorn.service", "private_tmp": True, "runtime_directory": ["gunicorn"]}]


def test_guard_turns_exceptions_into_one_error():
    def boom():
        raise KeyError("x")

    data = gateway._guard("apps", boom)
    assert list(data) == ["errors"]
    (err,) = data["errors"]
    assert err["source"] == "apps"
    assert "KeyError" in err["message"] and "test_gateway.py" in err["message"]


def test_guard_rejects_non_dict_and_adds_errors_key():
    assert gateway._guard("x", lambda: [1])["errors"][0]["message"].startswith(
        "gathering the x section failed unexpectedly: TypeError")
    assert gateway._guard("x", lambda: {"a": 1}) == {"a": 1, "errors": []}


def test_collect_all_with_no_sections_is_empty_but_valid():
    facts = gateway.collect_all(sections=["nothing-known"])
    assert facts["version"] == 2 and facts["errors"] == []
    assert not set(facts) & set(gateway.SECTIONS)


def _conf(tmp_path, servers):
    lines = ["http {", "upstream backend { server 127.0.0.1:9; }"]
    for n in range(servers):
        lines.append("server { listen 127.0.0.1:9; server_name s%d.example;"
                     " location / { proxy_pass http://backend; }"
                     " location /u { uwsgi_pass unix:%s/s%d.sock; } }" % (n, tmp_path, n))
    lines.append("}")
    path = tmp_path / "nginx.conf"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_collect_all_times_each_section_and_restores_gc(tmp_path):
    import gc
    conf = _conf(tmp_path, 3)
    assert gc.isenabled()
    facts = gateway.collect_all(sections=["nginx", "sockets", "probes"],
                                nginx_options=dict(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False),
                                probe_options=dict(timeout=0.5))
    assert gc.isenabled()
    assert set(facts["timings"]) == {"nginx", "listeners", "apps", "sockets", "probes", "total"}
    assert all(isinstance(v, float) and v >= 0 for v in facts["timings"].values())
    # nginx's sockets first (app servers running on this machine may add their own after them)
    assert [p["path"] for p in facts["sockets"]["paths"]][:3] == ["%s/s%d.sock" % (tmp_path, n) for n in range(3)]
    # 6 routes, under the default limits: every route probed directly and through nginx
    assert len(facts["probes"]["results"]) == 12 and facts["probes"]["skipped"] == 0


def test_collect_all_probe_limits(tmp_path):
    conf = _conf(tmp_path, 5)
    facts = gateway.collect_all(sections=["nginx", "probes"],
                                nginx_options=dict(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False),
                                probe_options=dict(timeout=0.5, route_limit=3, endpoint_limit=2))
    results = facts["probes"]["results"]
    # routes chosen: s0 / (the upstream), s0 /u, s1 /u (new sockets first); 2 distinct direct URLs at most
    assert sorted(set(r["route"] for r in results)) == ["s0.example:9 /", "s0.example:9 /u", "s1.example:9 /u"]
    assert len(set(r["url"] for r in results if r["via"] == "direct")) == 2
    assert len(results) + facts["probes"]["skipped"] == 20    # 10 routes x (direct + via nginx)


def test_collect_all_broken_collector_in_the_early_thread_is_that_sections_error(monkeypatch):
    def broken():
        raise ImportError("cannot import name 'collect_listeners'")
    monkeypatch.setattr(gateway, "_load_listeners", broken)
    facts = gateway.collect_all(sections=["system", "listeners"])
    assert facts["listeners"]["errors"][0]["message"].startswith(
        "gathering the listeners section failed unexpectedly: ImportError")
    assert "systemd" in facts["system"]      # the other early section is still there
    assert [e["section"] for e in facts["errors"]].count("listeners") == 1


def test_collect_all_without_threads_gathers_one_after_the_other(tmp_path, monkeypatch):
    def no_threads(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(gateway.threading.Thread, "start", no_threads)
    conf = _conf(tmp_path, 2)
    facts = gateway.collect_all(sections=list(gateway.SECTIONS),
                                nginx_options=dict(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False),
                                log_options=dict(nginx_error_logs=[], kernel=False), probe_options=dict(timeout=0.5))
    for section in gateway.SECTIONS:
        assert isinstance(facts[section], dict) and "errors" in facts[section], section
    assert len(facts["probes"]["results"]) == 8 and len(facts["nginx"]["routes"]) == 4
    assert not any("did not finish" in e["message"] for e in facts["errors"])


def test_error_log_paths_extra_first_files_only_no_duplicates():
    nginx = {"error_logs": [{"path": "/var/log/nginx/error.log"}, {"path": "stderr"},
                            {"path": "syslog:server=unix:/dev/log"}, {"path": "/var/log/nginx/site.log"}]}
    assert gateway.error_log_paths(nginx, ["/var/log/nginx/site.log"]) == [
        "/var/log/nginx/site.log", "/var/log/nginx/error.log"]
    assert gateway.error_log_paths(None) == []
