# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_server_facts run as Ansible runs it (in-process)."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.modules import app_server_facts


def test_app_server_facts_shape(run_module):
    out = run_module(app_server_facts, {"_ansible_check_mode": True})
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
