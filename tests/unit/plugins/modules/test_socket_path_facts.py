# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""socket_path_facts run as Ansible runs it (in-process: the run_module fixture)."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_sockets
from ansible_collections.badgateway.doctor.plugins.modules import socket_path_facts


def test_socket_path_facts(run_module):
    out = run_module(socket_path_facts, {"paths": ["unix:/nonexistent-bgd/x.sock"], "user": "root",
                                         "units": [{"unit": "gunicorn.service", "runtime_directory": ["nonexistent-bgd"]}]})
    raw = out["ansible_facts"]["badgateway"]["sockets"]
    assert raw["paths"]["columns"] == ["path", "walk", "listener"] and len(raw["walks"]) == 1
    sockets = expand_sockets(raw)
    assert sockets["user"] == "root"
    entry = sockets["paths"][0]
    assert entry["path"] == "/nonexistent-bgd/x.sock"
    assert entry["blocker"] == {"path": "/nonexistent-bgd", "reason": "/nonexistent-bgd does not exist"}
    assert entry["runtime_directory_units"] == []
