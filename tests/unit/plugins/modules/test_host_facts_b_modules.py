# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_server_facts and service_log_facts run as Ansible runs them (in-process)."""
from __future__ import annotations

import json
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import app_server_facts, service_log_facts

PLANTED = "planted-DO-NOT-LEAK-5e1d"


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_app_server_facts_shape(capsys):
    out = run(app_server_facts, {"_ansible_check_mode": True}, capsys)
    assert out["changed"] is False and not out.get("failed")
    apps = out["ansible_facts"]["badgateway"]["apps"]
    assert set(apps) == {"servers", "errors"}
    keys = {"kind", "name", "unit", "pids", "running", "cmdline", "worker_class", "binds", "timeout", "graceful_timeout",
            "keepalive", "workers", "max_requests", "backlog", "app", "config_file", "settings_source", "socket_unit",
            "php_fpm_pool", "unit_settings", "state"}
    for srv in apps["servers"]:
        assert set(srv) == keys
    for err in apps["errors"]:
        assert set(err) == {"source", "path", "message"}


def _log(tmp_path):
    path = tmp_path / "error.log"
    now = time.time()
    path.write_text("".join(
        "%s [crit] 9#9: *%d connect() to unix:/run/gunicorn/gunicorn.sock failed (2: No such file or directory) while connecting "
        "to upstream, client: 10.0.0.1, server: _, request: \"GET /?token=%s HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\"\n"
        % (time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now - age)), i, PLANTED) for i, age in enumerate((7000, 1500, 60))))
    return path


def test_service_log_facts(tmp_path, capsys):
    path = _log(tmp_path)
    out = run(service_log_facts, {"nginx_error_logs": [str(path)], "units": [], "kernel": False, "since": "30m"}, capsys)
    logs = out["ansible_facts"]["badgateway"]["logs"]
    assert set(logs) == {"window", "sources", "events", "errors"}
    (ev,) = logs["events"]
    assert ev["class"] == "no_such_file" and ev["count"] == 2 and ev["targets"] == ["unix:/run/gunicorn/gunicorn.sock:/"]
    assert logs["window"]["since"] == pytest.approx(time.time() - 1800, abs=30)
    assert PLANTED not in json.dumps(out)
    out = run(service_log_facts, {"nginx_error_logs": [str(path)], "units": [], "kernel": False, "since": 7200, "samples": 1}, capsys)
    (ev,) = out["ansible_facts"]["badgateway"]["logs"]["events"]
    assert ev["count"] == 3 and len(ev["samples"]) == 1


@pytest.mark.parametrize("args,msg", [
    ({"since": "soon"}, "Invalid since"),
    ({"samples": 4}, "samples must be between 0 and 3"),
    ({"max_bytes": 10}, "max_bytes must be at least 4096"),
])
def test_service_log_facts_bad_options(args, msg, capsys):
    out = run(service_log_facts, dict(args, units=[], kernel=False, nginx_error_logs=[]), capsys)
    assert out["failed"] is True and msg in out["msg"]
