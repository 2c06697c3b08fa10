# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediation_backup on a real lab host: save, change, restore byte-identical with mode and owner,
created paths removed, the recorded restart undone, backup directories in nginx's or systemd's trees refused.

Run:  BGD_LAB_NAME=bgd-sysroles BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_remediation_backup_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
HOST = "web1"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK")
DROPIN_DIR = "/etc/systemd/system/gunicorn.service.d"
DROPIN = DROPIN_DIR + "/50-badgateway.conf"
PATHS = ["/etc/default/app-env", DROPIN_DIR, DROPIN, "/etc/nginx/sites-available/lab", "/etc/nginx/sites-enabled/lab",
         "/run/gunicorn"]


def backup(lab, args, check=False, expect_ok=True):
    """Run badgateway.doctor.remediation_backup on web1 with JSON arguments; return its result."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [str(ANSIBLE), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor.remediation_backup",
           "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the module's output" % secret
    assert "Traceback" not in out, out[-3000:]
    result = json.loads(res.stdout[res.stdout.index("=> {") + 3:])
    assert (res.returncode == 0) == expect_ok, out[-3000:]
    return result


def snapshot(lab):
    """sha256, type, mode, owner, mtime and link target of every path (or 'absent')."""
    script = "; ".join(
        "if [ -e %(p)s ] || [ -L %(p)s ]; then stat -c '%%n %%F %%a %%U:%%G %%Y' %(p)s; "
        "[ -f %(p)s ] && [ ! -L %(p)s ] && sha256sum %(p)s; [ -L %(p)s ] && readlink %(p)s; else echo '%(p)s absent'; fi"
        % {"p": p} for p in PATHS)
    return lab.run(HOST, script + "; true").stdout


def test_save_change_restore_on_a_lab_host(lab):
    run_id = "lab-backup-1"
    lab.run(HOST, "rm -rf /var/lib/badgateway-doctor; rmdir %s 2>/dev/null; true" % DROPIN_DIR)
    before = snapshot(lab)
    env_before = lab.run(HOST, "systemctl show -p Environment --value gunicorn.service").stdout.split()
    assert DROPIN + " absent" in before and "/etc/nginx/sites-enabled/lab symbolic link" in before

    # check mode writes nothing
    res = backup(lab, {"run_id": run_id, "state": "save", "paths": PATHS}, check=True)
    assert res["changed"] and len(res["saved"]) == len(PATHS)
    assert lab.run(HOST, "test -e /var/lib/badgateway-doctor", check=False).returncode != 0

    res = backup(lab, {"run_id": run_id, "state": "save", "paths": PATHS})
    assert res["changed"] and [s["path"] for s in res["saved"]] == PATHS
    by_path = {s["path"]: s for s in res["saved"]}
    assert by_path["/etc/default/app-env"]["mode"] == "0640" and by_path["/etc/default/app-env"]["group"] == "app"
    assert by_path[DROPIN]["existed"] is False and by_path["/etc/nginx/sites-enabled/lab"]["type"] == "link"
    assert lab.run(HOST, "stat -c %a /var/lib/badgateway-doctor/backups/" + run_id).stdout.strip() == "700"
    backup(lab, {"run_id": run_id, "state": "record", "action": {"kind": "restarted", "unit": "gunicorn.service"}})
    backup(lab, {"run_id": run_id, "state": "record", "action": {"kind": "daemon_reload"}})

    # the run changes things: env file content/owner/mode, a new drop-in (+ its directory), the site and its link
    lab.run(HOST, """set -e
printf 'SECRET_KEY=changed\\n' > /etc/default/app-env; chown root:root /etc/default/app-env; chmod 0600 /etc/default/app-env
mkdir -p %s; printf '[Service]\\nEnvironment=BGD_TEST=1\\nRuntimeDirectoryMode=0750\\n' > %s
systemctl daemon-reload; systemctl restart gunicorn.service
cp /etc/nginx/sites-available/lab /etc/nginx/sites-available/lab2; echo '# edited' >> /etc/nginx/sites-available/lab
ln -sfn /etc/nginx/sites-available/lab2 /etc/nginx/sites-enabled/lab""" % (DROPIN_DIR, DROPIN))
    assert lab.run(HOST, "systemctl show -p Environment --value gunicorn.service").stdout.split() == env_before + [
        "BGD_TEST=1"]
    assert snapshot(lab) != before

    # again in the same run: the original is kept
    res = backup(lab, {"run_id": run_id, "state": "save", "paths": ["/etc/default/app-env"]})
    assert not res["changed"] and res["already_saved"][0]["mode"] == "0640"

    res = backup(lab, {"run_id": run_id, "state": "restore"}, check=True)
    assert res["changed"] and DROPIN in res["restored"]
    assert lab.run(HOST, "test -e " + DROPIN, check=False).returncode == 0

    res = backup(lab, {"run_id": run_id, "state": "restore", "undo": True})
    assert res["changed"], res
    assert {c["path"]: c["change"] for c in res["changes"]} == {
        "/etc/default/app-env": "content", DROPIN: "removed", DROPIN_DIR: "removed",
        "/etc/nginx/sites-available/lab": "content", "/etc/nginx/sites-enabled/lab": "link",
        "/run/gunicorn": "metadata"}
    assert res["actions"]["daemon_reload"] and res["actions"]["restart"] == ["gunicorn.service"]
    assert res["actions"]["nginx_reload"] is True
    assert [(s["step"], s["ok"]) for s in res["undone"]] == [("daemon-reload", True), ("restart", True), ("reload", True)]
    after = snapshot(lab)
    # /run/gunicorn is recreated by the restart with the unit's RuntimeDirectoryMode: compare everything else exactly
    strip = [line for line in before.splitlines() if not line.startswith("/run/gunicorn")]
    assert [line for line in after.splitlines() if not line.startswith("/run/gunicorn")] == strip
    assert "0755 app:www-data" in after or "755 app:www-data" in after
    assert lab.run(HOST, "systemctl show -p Environment --value gunicorn.service").stdout.split() == env_before
    assert lab.run(HOST, "systemctl is-active gunicorn.service").stdout.strip() == "active"
    assert set(lab.wait_routes(HOST).values()) == {200}
    lab.run(HOST, "rm -f /etc/nginx/sites-available/lab2")

    # a second restore has nothing left to do
    res = backup(lab, {"run_id": run_id, "state": "restore", "undo": True})
    assert not res["changed"] and res["restored"] == [] and res["undone"] == []
    manifest = backup(lab, {"run_id": run_id, "state": "manifest"})["manifest"]
    assert all(a.get("undone") for a in manifest["actions"]) and len(manifest["restores"]) == 1


@pytest.mark.parametrize("bad", ["/etc/nginx/bgd-backups", "/etc/systemd/system/bgd-backups", "/lib/systemd/bk"])
def test_backup_dir_in_config_trees_refused(lab, bad):
    res = backup(lab, {"run_id": "r", "backup_dir": bad, "state": "save", "paths": ["/etc/default/app-env"]},
                 expect_ok=False)
    assert "Refusing backup_dir %s: it is inside" % bad in res["msg"]
    assert lab.run(HOST, "test -e " + bad, check=False).returncode != 0


def test_undo_of_a_start_leaves_a_failed_unit_as_inactive_as_before(lab):
    """A unit that was inactive before the run, started by it and failed since (its start limit hit), is stopped by
    the undo and leaves the failed state too: ``systemctl is-active`` says ``inactive`` as before, not ``failed``."""
    unit = "bgd-crashy.service"
    path = "/etc/systemd/system/" + unit
    lab.run(HOST, "printf '[Service]\\nExecStart=/bin/false\\nRestart=always\\nRestartSec=100ms\\n' > %s && "
                  "systemctl daemon-reload" % path)
    try:
        assert lab.run(HOST, "systemctl is-active %s" % unit, check=False).stdout.strip() == "inactive"
        run_id = "lab-backup-crashy"
        backup(lab, {"run_id": run_id, "state": "record", "action": {"kind": "started", "unit": unit}})
        # it crash-loops until systemd gives up (start limit): failed for good, as a run's restore may find it
        lab.run(HOST, "systemctl start %s; for i in $(seq 60); do systemctl is-failed -q %s && break; sleep 0.5; done; "
                      "true" % (unit, unit))
        assert lab.run(HOST, "systemctl is-failed %s" % unit, check=False).stdout.strip() == "failed"
        res = backup(lab, {"run_id": run_id, "state": "restore", "undo": True})
        assert [(s["step"], s["ok"]) for s in res["undone"]][0] == ("stop", True)
        assert lab.run(HOST, "systemctl is-active %s" % unit, check=False).stdout.strip() == "inactive"
        assert sorted(lab.run(HOST, "systemctl show -p ActiveState -p Result %s" % unit).stdout.split()) == [
            "ActiveState=inactive", "Result=success"]
    finally:
        lab.run(HOST, "systemctl stop %s; systemctl reset-failed %s; rm -f %s; systemctl daemon-reload; true"
                % (unit, unit, path))
