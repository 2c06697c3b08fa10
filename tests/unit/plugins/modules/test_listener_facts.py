# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""listener_facts run as Ansible runs it (in-process: the run_module fixture)."""
from __future__ import annotations

import json
import socket

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_listeners
from ansible_collections.badgateway.doctor.plugins.modules import listener_facts


def test_listener_facts(run_module):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(3)
    port = srv.getsockname()[1]
    try:
        out = run_module(listener_facts, {"_ansible_check_mode": True})
    finally:
        srv.close()
    assert out["changed"] is False and not out.get("failed")
    raw = out["ansible_facts"]["badgateway"]["listeners"]
    assert set(raw) == {"tcp", "unix", "processes", "errors"}     # as it travels: tables, each process once
    assert raw["tcp"]["columns"][:3] == ["family", "address", "port"]
    listeners = expand_listeners(raw)
    mine = [e for e in listeners["tcp"] if e["port"] == port and e["address"] == "127.0.0.1"]
    assert len(mine) == 1 and mine[0]["processes"]


def test_listener_facts_proc_source(run_module):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(3)
    port = srv.getsockname()[1]
    try:
        out = run_module(listener_facts, {"source": "proc", "processes": False})
    finally:
        srv.close()
    mine = [e for e in expand_listeners(out["ansible_facts"]["badgateway"]["listeners"])["tcp"] if e["port"] == port]
    assert len(mine) == 1 and mine[0]["processes"] == [] and mine[0]["backlog"]["max"] is None


def test_listener_facts_masks_secrets_in_command_lines(run_module):
    """A listener started with secrets on its command line (gunicorn -e SECRET_KEY=..., --password X)."""
    import subprocess
    import sys
    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); "
            "print(s.getsockname()[1], flush=True); time.sleep(30)")
    secrets = ["s3cr3t-django", "db-pw-4711", "hunter2", "tok-9f8e"]
    proc = subprocess.Popen([sys.executable, "-c", code, "-e", "SECRET_KEY=s3cr3t-django", "--env", "DB_PASSWORD=db-pw-4711",
                             "--password", "hunter2", "--api-token=tok-9f8e", "--workers", "2"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        out = run_module(listener_facts, {})
    finally:
        proc.kill()
        proc.wait()
    text = json.dumps(out)
    for secret in secrets:
        assert secret not in text
    mine = [e for e in expand_listeners(out["ansible_facts"]["badgateway"]["listeners"])["tcp"] if e["port"] == port]
    assert mine[0]["processes"][0]["cmdline"][3:] == ["-e", "SECRET_KEY=********", "--env", "DB_PASSWORD=********",
                                                      "--password", "********", "--api-token=********", "--workers", "2"]
