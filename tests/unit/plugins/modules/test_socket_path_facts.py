# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""socket_path_facts run as Ansible runs it (in-process, arguments via patch_module_args)."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import socket_path_facts


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_socket_path_facts(capsys):
    out = run(socket_path_facts, {"paths": ["unix:/nonexistent-bgd/x.sock"], "user": "root",
                                  "units": [{"unit": "gunicorn.service", "runtime_directory": ["nonexistent-bgd"]}]}, capsys)
    sockets = out["ansible_facts"]["badgateway"]["sockets"]
    assert sockets["user"] == "root"
    entry = sockets["paths"][0]
    assert entry["path"] == "/nonexistent-bgd/x.sock"
    assert entry["blocker"] == {"path": "/nonexistent-bgd", "reason": "/nonexistent-bgd does not exist"}
    assert entry["runtime_directory_units"] == []
