# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediation_backup run as Ansible runs it (in-process, arguments via patch_module_args)."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_undo
from ansible_collections.badgateway.doctor.plugins.modules import remediation_backup


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            remediation_backup.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def base(tmp_path):
    return {"run_id": "r1", "backup_dir": str(tmp_path / "bk")}


def test_save_list_restore(base, tmp_path, capsys):
    f = tmp_path / "site"
    f.write_text("server {}\n")
    new = tmp_path / "new.conf"
    out = run(dict(base, state="save", paths=[str(f), str(new)]), capsys)
    assert out["changed"] and [s["path"] for s in out["saved"]] == [str(f), str(new)]
    out = run(dict(base, state="save", paths=[str(f)]), capsys)
    assert not out["changed"] and out["already_saved"][0]["path"] == str(f)
    f.write_text("server { broken\n")
    new.write_text("x\n")
    out = run(dict(base, state="manifest"), capsys)
    assert [e["path"] for e in out["manifest"]["files"]] == [str(f), str(new)]
    assert "blob" not in out["manifest"]["files"][0]
    out = run(dict(base, state="restore", _ansible_diff=True, _ansible_check_mode=True), capsys)
    assert out["changed"] and sorted(out["restored"]) == sorted([str(f), str(new)]) and new.exists()
    assert any("server { broken" in d["before"] and "server {}" in d["after"] for d in out["diff"])
    out = run(dict(base, state="restore"), capsys)
    assert out["changed"] and f.read_text() == "server {}\n" and not new.exists()
    assert out["actions"]["daemon_reload"] is False and "undone" not in out
    out = run(dict(base, state="restore"), capsys)
    assert not out["changed"] and out["restored"] == []


def test_restore_of_unknown_run_is_empty(base, tmp_path, capsys):
    out = run(dict(base, state="restore", undo=True), capsys)
    assert not out["changed"] and out["restored"] == [] and out["undone"] == []
    assert not (tmp_path / "bk").exists()


def test_refusals_are_clear(tmp_path, capsys):
    out = run({"run_id": "r1", "backup_dir": "/etc/nginx/bgd-backups", "state": "manifest"}, capsys)
    assert out["failed"] and "inside /etc/nginx" in out["msg"]
    out = run({"run_id": "../../etc", "backup_dir": str(tmp_path), "state": "manifest"}, capsys)
    assert out["failed"] and "run_id" in out["msg"]
    out = run({"run_id": "r1", "backup_dir": str(tmp_path), "state": "save"}, capsys)
    assert out["failed"] and "paths" in out["msg"]


def test_record_and_undo(base, tmp_path, capsys, monkeypatch):
    calls = []

    def fake(argv, timeout=30):
        calls.append(argv)
        if argv[:2] == ["systemctl", "show"]:
            return 0, "ActiveState=active\nSubState=running\nUnitFileState=enabled\n", ""
        return 0, "", ""

    monkeypatch.setattr(remediation_backup, "unit_before", lambda unit: _remediation_undo.unit_before(unit, run=fake))
    monkeypatch.setattr(remediation_backup, "run_undo", lambda plan: _remediation_undo.run_undo(plan, run=fake))
    out = run(dict(base, state="record", action={"kind": "restarted", "unit": "gunicorn.service"}), capsys)
    assert out["changed"] and out["action"]["before"]["active_state"] == "active"
    out = run(dict(base, state="record", action={"kind": "restarted", "unit": "gunicorn.service"}), capsys)
    assert not out["changed"]
    out = run(dict(base, state="record", action={"kind": "started"}), capsys)
    assert out["failed"] and "needs a unit" in out["msg"]
    calls.clear()
    out = run(dict(base, state="restore", undo=True, _ansible_check_mode=True), capsys)
    assert out["changed"] and out["actions"]["restart"] == ["gunicorn.service"] and calls == []
    out = run(dict(base, state="restore", undo=True), capsys)
    assert out["changed"] and [s["step"] for s in out["undone"]] == ["restart"]
    assert ["systemctl", "restart", "--", "gunicorn.service"] in calls
    out = run(dict(base, state="restore", undo=True), capsys)
    assert not out["changed"] and out["undone"] == []


def test_failed_undo_fails_the_task(base, capsys, monkeypatch):
    monkeypatch.setattr(remediation_backup, "unit_before", lambda unit: {"active_state": "active"})
    monkeypatch.setattr(remediation_backup, "run_undo",
                        lambda plan: [{"step": "restart", "target": "gunicorn.service", "ok": False, "message": "Job failed."}])
    run(dict(base, state="record", action={"kind": "restarted", "unit": "gunicorn.service"}), capsys)
    out = run(dict(base, state="restore", undo=True), capsys)
    assert out["failed"] and "restart gunicorn.service: Job failed." in out["msg"]
    # not marked undone: the next restore tries again
    out = run(dict(base, state="restore"), capsys)
    assert out["actions"]["restart"] == ["gunicorn.service"]
