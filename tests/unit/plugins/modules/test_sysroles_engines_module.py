# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""unit_dropin and socket_access_plan run as Ansible runs them: clear failures without systemd or with bad input,
the drop-in written (check mode, diff, idempotence) against a fake systemd."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_dropin, _runner
from ansible_collections.badgateway.doctor.plugins.modules import socket_access_plan, unit_dropin


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_without_systemd(capsys, monkeypatch):
    for module, args in ((unit_dropin, {"unit": "gunicorn.service"}), (socket_access_plan, {"path": "/run/x.sock"})):
        monkeypatch.setattr(module, "systemd_running", lambda: (False, "systemd is not running as PID 1 on this host"))
        out = run(module, args, capsys)
        assert out["failed"] and "systemd is not running as PID 1" in out["msg"]


@pytest.fixture
def fake_systemd(monkeypatch, tmp_path):
    argv = ["/srv/app/venv/bin/gunicorn", "--timeout", "5", "--env", "SECRET_KEY=s3cr3t", "wsgi:application"]

    def run_cmd(cmd, timeout=30):
        if cmd[0] == "systemctl":
            return 0, "LoadState=loaded\nDropInPaths=\nFragmentPath=/lib/systemd/system/gunicorn.service\n", ""
        if "get-property" in cmd:
            return 0, json.dumps({"data": [[argv[0], argv, False, 0, 0, 0, 0, 0, 0, 0]]}), ""
        return 0, "{}", ""

    monkeypatch.setattr(_runner, "call", run_cmd)
    monkeypatch.setattr(_remediation_dropin, "UNIT_DIR", str(tmp_path))
    monkeypatch.setattr(unit_dropin, "systemd_running", lambda: (True, None))
    return tmp_path


def test_dropin_check_diff_write_idempotent(fake_systemd, capsys):
    args = {"unit": "gunicorn.service", "settings": {"RuntimeDirectoryMode": "0750"}, "exec_options": {"timeout": 60}}
    out = run(unit_dropin, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    path = fake_systemd / "gunicorn.service.d" / "zz-badgateway.conf"
    assert out["changed"] and not path.exists()
    assert "+" not in out["diff"]["before"] and "--timeout 60" in out["diff"]["after"]
    assert "s3cr3t" not in json.dumps(out) and "SECRET_KEY" in out["diff"]["after"]
    out = run(unit_dropin, args, capsys)
    assert out["changed"] and path.exists() and oct(path.stat().st_mode)[-3:] == "644"
    text = path.read_text()
    assert "ExecStart=\nExecStart=/srv/app/venv/bin/gunicorn --timeout 60 --env SECRET_KEY=s3cr3t wsgi:application\n" in text
    out = run(unit_dropin, args, capsys)
    assert not out["changed"]


@pytest.mark.parametrize("args, msg", [
    ({"settings": {"RuntimeDirectoryMode": "0777"}}, "o+w"),
    ({"settings": {"ExecStartPre": "/bin/true"}}, "Unknown setting 'ExecStartPre'"),
    ({"exec_options": {"umask": "000"}}, "every user write"),
    ({"dropin": "../../evil.conf"}, "plain file name"),
])
def test_dropin_refusals(fake_systemd, capsys, args, msg):
    out = run(unit_dropin, dict({"unit": "gunicorn.service"}, **args), capsys)
    assert out["failed"] and msg in out["msg"]
    assert not (fake_systemd / "gunicorn.service.d").exists()
