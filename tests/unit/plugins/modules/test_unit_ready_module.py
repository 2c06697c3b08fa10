# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""unit_ready run as Ansible runs it (in-process): option checks and the paths that need no systemd."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.module_utils import _runner, _unit_ready
from ansible_collections.badgateway.doctor.plugins.modules import unit_ready


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            unit_ready.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, msg", [
    ({"unit": "app", "timeout": 0}, "Option timeout must be more than 0"),
    ({"unit": "app", "connect_timeout": -1}, "Option connect_timeout must be more than 0"),
    ({"unit": "app", "settle": -1}, "Option settle must not be negative"),
    ({"unit": "app", "listen": ["::1:80"]}, "Listener '::1:80' is not valid"),
    ({"unit": "app", "listen": ["127.0.0.1"]}, "has no port"),
    ({"unit": "../x"}, "is not a unit name"),
    ({"unit": "app", "as_user": "no-such-user-here"}, "as_user: there is no user no-such-user-here"),
])
def test_bad_options(args, msg, capsys, monkeypatch):
    monkeypatch.setattr(unit_ready, "systemd_running", lambda: (True, None))
    out = run(args, capsys)
    assert out["failed"] and msg in out["msg"]


def test_without_systemd(capsys, monkeypatch):
    monkeypatch.setattr(unit_ready, "systemd_running", lambda: (False, "systemd is not running as PID 1 on this host"))
    out = run({"unit": "gunicorn"}, capsys)
    assert out["failed"] and out["msg"] == "Cannot wait for gunicorn.service: systemd is not running as PID 1 on this host."


def test_crash_loop_fails_with_journal(capsys, monkeypatch):
    seq = [{"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": str(n), "LoadState": "loaded"}
           for n in (0, 1, 2)]

    def fake_run(argv, timeout=15):
        if argv[0] == "journalctl":
            return 0, "x gunicorn[1]: RuntimeError: SECRET_KEY=abc123 missing\n", ""
        block = seq.pop(0) if len(seq) > 1 else seq[0]
        return 0, "".join("%s=%s\n" % kv for kv in block.items()), ""

    monkeypatch.setattr(unit_ready, "systemd_running", lambda: (True, None))
    monkeypatch.setattr(_runner, "call", fake_run)
    monkeypatch.setattr(_unit_ready.time, "sleep", lambda s: None)
    out = run({"unit": "gunicorn"}, capsys)
    assert out["failed"] and out["state"] == "crash_loop"
    assert "abc123" not in json.dumps(out) and "RuntimeError: SECRET_KEY=" in out["msg"]
