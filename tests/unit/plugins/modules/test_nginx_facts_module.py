# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx_facts module: options, return shape, check mode, tree."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import nginx_facts

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


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            nginx_facts.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out)


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "lab").write_text(SITE)
    main = tmp_path / "nginx.conf"
    main.write_text("user www-data;\nevents {}\nhttp {\n    include sites/*;\n}\n")
    return str(main)


def test_returns_the_nginx_section(conf, capsys):
    rc, result = run_module({"conf_path": conf, "test": False, "resolve": False}, capsys)
    assert rc == 0
    assert result["changed"] is False
    assert "failed" not in result
    assert "tree" not in result
    nginx = result["ansible_facts"]["badgateway"]["nginx"]
    assert list(result["ansible_facts"]["badgateway"]) == ["nginx"]
    assert nginx["conf_path"] == conf
    assert nginx["user"] == "www-data"
    routes = {r["location"]: r for r in nginx["routes"]}
    assert routes["/"]["endpoints"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]
    assert routes["/"]["upstream"] == "wsgi_app"
    assert routes["/asgi/"]["endpoints"][0]["port"] == 8001
    assert routes["/asgi/"]["id"] == "_:80 /asgi/"


def test_check_mode_gives_the_same_facts(conf, capsys):
    _rc, normal = run_module({"conf_path": conf, "test": False, "resolve": False}, capsys)
    rc, checked = run_module({"conf_path": conf, "test": False, "resolve": False, "_ansible_check_mode": True}, capsys)
    assert rc == 0 and checked["changed"] is False
    a = normal["ansible_facts"]["badgateway"]["nginx"]
    b = checked["ansible_facts"]["badgateway"]["nginx"]
    assert a["routes"] == b["routes"] and a["files"] == b["files"]


def test_tree_is_a_return_value_not_a_fact(conf, capsys):
    rc, result = run_module({"conf_path": conf, "test": False, "tree": True, "combine": True,
                             "ignore": ["events"]}, capsys)
    assert rc == 0
    assert "tree" not in result["ansible_facts"]["badgateway"]["nginx"]
    config = result["tree"]["config"]
    assert len(config) == 1
    assert [d["directive"] for d in config[0]["parsed"]] == ["user", "http"]
    assert config[0]["parsed"][1]["block"][0]["directive"] == "upstream"


def test_single_file_limits_the_facts(conf, capsys):
    _rc, result = run_module({"conf_path": conf, "test": False, "single_file": True, "tree": True}, capsys)
    nginx = result["ansible_facts"]["badgateway"]["nginx"]
    assert nginx["files"] == [conf]
    assert nginx["routes"] == []
    assert len(result["tree"]["config"]) == 1


def test_host_problems_do_not_fail_the_module(tmp_path, capsys):
    rc, result = run_module({"conf_path": str(tmp_path / "missing.conf"), "binary": str(tmp_path / "no-nginx")}, capsys)
    assert rc == 0 and "failed" not in result
    errors = result["ansible_facts"]["badgateway"]["nginx"]["errors"]
    assert {e["source"] for e in errors} == {"nginx_bin", "nginx_conf"}


def test_invalid_option_fails(capsys):
    rc, result = run_module({"source": "guess"}, capsys)
    assert rc == 1 and result["failed"] is True
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
def test_test_option_takes_modes_and_the_old_booleans(conf, tmp_path, capsys, value, ran):
    rc, result = run_module({"conf_path": conf, "test": value, "resolve": False, "binary": _fake_nginx(tmp_path)}, capsys)
    assert rc == 0 and "failed" not in result, result
    test = result["ansible_facts"]["badgateway"]["nginx"]["test"]
    if ran:
        assert test == {"ok": True, "rc": 0, "output": "nginx: configuration file %s test is successful" % conf, "skipped": False}
    else:
        assert test == {"ok": None, "rc": None, "output": "", "skipped": False}


def test_test_option_default_is_auto_and_runs_without_a_running_nginx(conf, tmp_path, capsys):
    # no nginx master in this test's /proc view matches the parsed file: auto runs the test
    rc, result = run_module({"conf_path": conf, "resolve": False, "binary": _fake_nginx(tmp_path)}, capsys)
    assert rc == 0
    assert result["ansible_facts"]["badgateway"]["nginx"]["test"]["ok"] is True


@pytest.mark.parametrize("value", ["sometimes", "maybe", 2, ["always"]])
def test_test_option_rejects_other_values(conf, capsys, value):
    rc, result = run_module({"conf_path": conf, "test": value}, capsys)
    assert rc == 1 and result["failed"] is True
    assert result["msg"].startswith("Option test must be one of auto, always, never") and repr(value) in result["msg"]
