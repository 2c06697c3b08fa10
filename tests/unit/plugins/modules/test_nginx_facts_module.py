# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx_facts module: options, return shape, check mode, tree."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_nginx
from ansible_collections.badgateway.doctor.plugins.modules import nginx_facts

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")
SITE = """\
upstream wsgi_app {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
}
server {
    listen 80 default_server;
    server_name _;
    location / {
        proxy_pass http://wsgi_app;
    }
    location /asgi/ {
        proxy_pass http://127.0.0.1:8001/;
    }
}
"""


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "lab").write_text(SITE)
    main = tmp_path / "nginx.conf"
    main.write_text("user www-data;\nevents {}\nhttp {\n    include sites/*;\n}\n")
    return str(main)


def test_returns_the_nginx_section(conf, run_module):
    result = run_module(nginx_facts, {"conf_path": conf, "test": False, "resolve": False})
    assert "failed" not in result
    assert result["changed"] is False
    assert "tree" not in result
    raw = result["ansible_facts"]["badgateway"]["nginx"]
    assert list(result["ansible_facts"]["badgateway"]) == ["nginx"]
    assert raw["routes"]["columns"][0] == "server" and len(raw["profiles"]) == 1     # as it travels: one profile
    nginx = expand_nginx(raw)
    assert nginx["conf_path"] == conf
    assert nginx["user"] == "www-data"
    routes = {r["location"]: r for r in nginx["routes"]}
    assert routes["/"]["endpoints"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]
    assert routes["/"]["upstream"] == "wsgi_app"
    assert routes["/asgi/"]["endpoints"][0]["port"] == 8001
    assert routes["/asgi/"]["id"] == "_:80 /asgi/"


def test_check_mode_gives_the_same_facts(conf, run_module):
    normal = run_module(nginx_facts, {"conf_path": conf, "test": False, "resolve": False})
    checked = run_module(nginx_facts, {"conf_path": conf, "test": False, "resolve": False, "_ansible_check_mode": True})
    assert "failed" not in checked and checked["changed"] is False
    a = normal["ansible_facts"]["badgateway"]["nginx"]
    b = checked["ansible_facts"]["badgateway"]["nginx"]
    assert a["routes"] == b["routes"] and a["files"] == b["files"]


def test_tree_is_a_return_value_not_a_fact(conf, run_module):
    result = run_module(nginx_facts, {"conf_path": conf, "test": False, "tree": True, "combine": True,
                                      "ignore": ["events"]})
    assert "failed" not in result
    assert "tree" not in result["ansible_facts"]["badgateway"]["nginx"]
    config = result["tree"]["config"]
    assert len(config) == 1
    assert [d["directive"] for d in config[0]["parsed"]] == ["user", "http"]
    assert config[0]["parsed"][1]["block"][0]["directive"] == "upstream"


def test_single_file_limits_the_facts(conf, run_module):
    result = run_module(nginx_facts, {"conf_path": conf, "test": False, "single_file": True, "tree": True})
    nginx = result["ansible_facts"]["badgateway"]["nginx"]
    assert nginx["files"] == [conf]
    assert nginx["routes"]["rows"] == "[]"
    assert len(result["tree"]["config"]) == 1


def test_host_problems_do_not_fail_the_module(tmp_path, run_module):
    result = run_module(nginx_facts, {"conf_path": str(tmp_path / "missing.conf"), "binary": str(tmp_path / "no-nginx")})
    assert "failed" not in result
    errors = result["ansible_facts"]["badgateway"]["nginx"]["errors"]
    assert {e["source"] for e in errors} == {"nginx_bin", "nginx_conf"}


def test_invalid_option_fails(run_module):
    result = run_module(nginx_facts, {"source": "guess"})
    assert result["failed"] is True
    assert "source" in result["msg"]


def _fake_nginx(tmp_path):
    """``-V`` and a passing ``-t`` (no real nginx here)."""
    script = tmp_path / "nginx"
    script.write_text('#!/bin/sh\ncase "$1" in\n  -V) echo "nginx version: nginx/1.22.1" >&2 ;;\n'
                      '  -t) echo "nginx: configuration file $3 test is successful" >&2 ;;\nesac\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("value, ran", [(True, True), ("yes", True), ("true", True), ("always", True), ("on", True),
                                        (False, False), ("no", False), ("False", False), ("never", False), (0, False)])
def test_test_option_takes_modes_and_the_old_booleans(conf, tmp_path, run_module, value, ran):
    result = run_module(nginx_facts, {"conf_path": conf, "test": value, "resolve": False, "binary": _fake_nginx(tmp_path)})
    assert "failed" not in result, result
    test = result["ansible_facts"]["badgateway"]["nginx"]["test"]
    if ran:
        assert test == {"ok": True, "rc": 0, "output": "nginx: configuration file %s test is successful" % conf, "skipped": False}
    else:
        assert test == {"ok": None, "rc": None, "output": "", "skipped": False}


def test_test_option_default_is_auto_and_runs_without_a_running_nginx(conf, tmp_path, run_module):
    # no nginx master in this test's /proc view matches the parsed file: auto runs the test
    result = run_module(nginx_facts, {"conf_path": conf, "resolve": False, "binary": _fake_nginx(tmp_path)})
    assert "failed" not in result
    assert result["ansible_facts"]["badgateway"]["nginx"]["test"]["ok"] is True


@pytest.mark.parametrize("value", ["sometimes", "maybe", 2, ["always"]])
def test_test_option_rejects_other_values(conf, run_module, value):
    result = run_module(nginx_facts, {"conf_path": conf, "test": value})
    assert result["failed"] is True
    assert result["msg"].startswith("Option test must be one of auto, always, never") and repr(value) in result["msg"]


DEEP = 3000    # blocks: past Python's recursion limit, and past what JSON encoders nest


def _deep_conf(tmp_path):
    conf = tmp_path / "deep.conf"
    conf.write_text("http {\n server { listen 80;\n location /a { proxy_pass http://127.0.0.1:8001;\n"
                    + "location /n {\n" * DEEP + "}\n" * DEEP
                    + "}\n location /sibling { proxy_pass http://127.0.0.1:8003; }\n }\n"
                    " server { listen 81; location / { proxy_pass http://127.0.0.1:8004; } }\n}\n")
    return str(conf)


def _depth(stmts):
    """How many levels of statements (the top level is 1)."""
    depth, level = 0, [stmts]
    while level:
        depth += 1
        level = [s["block"] for stmts_ in level for s in stmts_ if s.get("block")]
    return depth


def test_tree_of_deeply_nested_blocks_is_cut_not_a_traceback(tmp_path, run_module):
    result = run_module(nginx_facts, {"conf_path": _deep_conf(tmp_path), "test": False, "resolve": False, "tree": True})
    assert "failed" not in result
    nginx = expand_nginx(result["ansible_facts"]["badgateway"]["nginx"])
    assert [r["id"] for r in nginx["routes"]] == ["_:80 /a", "_:80 /sibling", "_:81 /"]
    messages = [e["message"] for e in nginx["errors"]]
    assert any("nested deeper than 50 blocks" in m for m in messages)
    assert any("block location nested deeper than 50 levels: its content is left out of the tree" in m for m in messages)
    parsed = result["tree"]["config"][0]["parsed"]
    assert _depth(parsed) == 50
    assert [s["args"] for s in parsed[0]["block"][1]["block"]] == [["81"], ["/"]]


@pytest.mark.skipif(not os.path.exists(ANSIBLE), reason="ansible is not installed next to this Python")
def test_tree_of_deeply_nested_blocks_through_ansible(tmp_path):
    """The whole way a user runs it: module on the target, JSON back, the controller's result handling."""
    proc = subprocess.run([ANSIBLE, "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-m", "badgateway.doctor.nginx_facts",
                           "-a", "conf_path=%s tree=true test=never resolve=false" % _deep_conf(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr and "RecursionError" not in proc.stdout + proc.stderr
    assert '"/sibling"' in proc.stdout      # the locations (route ids are derived from them and the servers)


def test_tree_secrets_are_masked(tmp_path, run_module):
    conf = tmp_path / "nginx.conf"
    conf.write_text("""
        env SECRET_KEY=django-insecure-123;
        http {
            server {
                location / {
                    proxy_set_header Authorization "Bearer eyJhbGciOi.abc.def";
                    proxy_set_header X-Api-Key 0123456789abcdef;
                    proxy_set_header Host $host;
                    proxy_pass http://127.0.0.1:8000/?access_token=tok-42&page=1;
                }
                location /php {
                    fastcgi_param DB_PASSWORD hunter2;
                    fastcgi_param HTTP_AUTHORIZATION $http_authorization;
                    fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
                    fastcgi_pass unix:/run/php/php-fpm.sock;
                }
            }
        }
    """)
    result = run_module(nginx_facts, {"conf_path": str(conf), "test": False, "resolve": False, "tree": True})
    assert "failed" not in result
    text = json.dumps(result)
    for secret in ("django-insecure-123", "eyJhbGciOi", "0123456789abcdef", "tok-42", "hunter2"):
        assert secret not in text
    http = result["tree"]["config"][0]["parsed"][1]
    root, php = http["block"][0]["block"]
    assert root["block"][2]["args"] == ["Host", "$host"]
    assert root["block"][3]["args"] == ["http://127.0.0.1:8000/?access_token=********&page=1"]
    assert php["block"][1]["args"] == ["HTTP_AUTHORIZATION", "$http_authorization"]
    assert php["block"][2]["args"] == ["SCRIPT_FILENAME", "$document_root$fastcgi_script_name"]
    assert result["tree"]["config"][0]["parsed"][0]["args"] == ["SECRET_KEY=********"]
