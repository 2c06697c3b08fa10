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
    assert facts["version"] == 1 and facts["errors"] == []
    assert not set(facts) & set(gateway.SECTIONS)
