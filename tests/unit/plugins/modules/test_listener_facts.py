# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""listener_facts run as Ansible runs it (in-process, arguments via patch_module_args)."""
from __future__ import annotations

import json
import socket

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import listener_facts


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_listener_facts(capsys):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(3)
    port = srv.getsockname()[1]
    try:
        out = run(listener_facts, {"_ansible_check_mode": True}, capsys)
    finally:
        srv.close()
    assert out["changed"] is False and not out.get("failed")
    listeners = out["ansible_facts"]["badgateway"]["listeners"]
    assert set(listeners) == {"tcp", "unix", "errors"}
    mine = [e for e in listeners["tcp"] if e["port"] == port and e["address"] == "127.0.0.1"]
    assert len(mine) == 1 and mine[0]["processes"]


def test_listener_facts_proc_source(capsys):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(3)
    port = srv.getsockname()[1]
    try:
        out = run(listener_facts, {"source": "proc", "processes": False}, capsys)
    finally:
        srv.close()
    mine = [e for e in out["ansible_facts"]["badgateway"]["listeners"]["tcp"] if e["port"] == port]
    assert len(mine) == 1 and mine[0]["processes"] == [] and mine[0]["backlog"]["max"] is None
